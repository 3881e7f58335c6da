"""Real kubectl against the simulator: `scale`, `set image`, `rollout status|history|undo|restart|pause|resume`
and `wait` on deployments."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from kubectl_support import apply, deployment, get_json, namespace, pods, wait_ready, wait_rolled_out

NS = "kt-rollout"


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        yield name


def images(kubectl: Any, ns: str, name: str) -> set[str]:
    return {p["spec"]["containers"][0]["image"] for p in pods(kubectl, ns, f"app={name}")}


def revision(kubectl: Any, ns: str, name: str) -> str:
    return kubectl("get", "deploy", name, "-n", ns, "-o",
                   r"jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}")


def test_wait_scale_and_wait_for_jsonpath(kubectl: Any, ns: str) -> None:
    apply(kubectl, deployment("sc", ns, replicas=1))
    out = kubectl("wait", "--for=condition=Available", "deploy/sc", "-n", ns, "--timeout=20s")
    assert out.strip() == "deployment.apps/sc condition met"
    assert kubectl("scale", "deploy/sc", "-n", ns, "--replicas=3").strip() == "deployment.apps/sc scaled"
    out = kubectl("wait", "--for=jsonpath={.status.readyReplicas}=3", "deploy/sc", "-n", ns, "--timeout=20s")
    assert out.strip() == "deployment.apps/sc condition met"
    assert len(wait_ready(kubectl, ns, "app=sc", 3)) == 3
    d = get_json(kubectl, "deploy", "sc", "-n", ns)
    assert (d["spec"]["replicas"], d["status"]["replicas"], d["status"]["availableReplicas"]) == (3, 3, 3)
    # the scale subresource
    scale = get_json(kubectl, "deploy/sc", "-n", ns, "--subresource=scale")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 3} and scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == "app=sc"
    # scale down; --current-replicas is checked
    proc = kubectl.run("scale", "deploy/sc", "-n", ns, "--current-replicas=5", "--replicas=1", check=False)
    assert proc.returncode == 1 and "Expected replicas to be 5, was 3" in proc.stderr
    kubectl("scale", "deploy/sc", "-n", ns, "--current-replicas=3", "--replicas=1")
    assert len(wait_ready(kubectl, ns, "app=sc", 1)) == 1
    # nothing ever waits forever: a condition that never comes times out
    proc = kubectl.run("wait", "--for=condition=Nope", "deploy/sc", "-n", ns, "--timeout=1s", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: timed out waiting for the condition on deployments/sc"


def test_set_image_history_and_undo(kubectl: Any, ns: str) -> None:
    apply(kubectl, deployment("web", ns, replicas=2, image="nginx:1.27"))
    wait_rolled_out(kubectl, ns, "web")
    out = kubectl("set", "image", "deployment/web", "-n", ns, "web=nginx:1.28")
    assert out.strip() == "deployment.apps/web image updated"
    out = wait_rolled_out(kubectl, ns, "web")
    assert out.splitlines()[-1] == 'deployment "web" successfully rolled out'
    wait_ready(kubectl, ns, "app=web", 2)
    assert images(kubectl, ns, "web") == {"nginx:1.28"}
    assert revision(kubectl, ns, "web") == "2"

    header, *rows = kubectl("rollout", "history", "deployment/web", "-n", ns).splitlines()[1:]
    assert header.split() == ["REVISION", "CHANGE-CAUSE"]
    assert [r.split() for r in rows if r.strip()] == [["1", "<none>"], ["2", "<none>"]]
    detail = kubectl("rollout", "history", "deployment/web", "-n", ns, "--revision=1")
    assert "deployment.apps/web with revision #1" in detail
    assert re.search(r"Image:\s+nginx:1.27", detail)

    # two ReplicaSets, both owned by the deployment, the old one scaled to zero
    rss = get_json(kubectl, "rs", "-n", ns, "-l", "app=web")["items"]
    by_rev = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in rss}
    assert set(by_rev) == {"1", "2"}
    assert by_rev["1"]["spec"]["replicas"] == 0 and by_rev["2"]["spec"]["replicas"] == 2
    for rs in rss:
        (owner,) = rs["metadata"]["ownerReferences"]
        assert owner["kind"] == "Deployment" and owner["name"] == "web" and owner["controller"] is True

    out = kubectl("rollout", "undo", "deployment/web", "-n", ns)
    assert out.strip() == "deployment.apps/web rolled back"
    wait_rolled_out(kubectl, ns, "web")
    wait_ready(kubectl, ns, "app=web", 2)
    assert images(kubectl, ns, "web") == {"nginx:1.27"}
    d = get_json(kubectl, "deploy", "web", "-n", ns)
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert revision(kubectl, ns, "web") == "3"  # the old ReplicaSet is adopted under a new revision
    rss = get_json(kubectl, "rs", "-n", ns, "-l", "app=web")["items"]
    assert len(rss) == 2
    active = [rs for rs in rss if rs["spec"]["replicas"] == 2]
    assert [rs["spec"]["template"]["spec"]["containers"][0]["image"] for rs in active] == ["nginx:1.27"]
    assert active[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    rows = kubectl("rollout", "history", "deployment/web", "-n", ns).splitlines()[2:]
    assert [r.split()[0] for r in rows if r.strip()] == ["2", "3"]

    proc = kubectl.run("rollout", "undo", "deployment/web", "-n", ns, "--to-revision=42", check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == "error: unable to find specified revision 42 in history"
    out = kubectl("rollout", "undo", "deployment/web", "-n", ns, "--to-revision=3")
    assert out.strip() == "deployment.apps/web skipped rollback (current template already matches revision 3)"


def test_rollout_restart_rolls_new_pods(kubectl: Any, ns: str) -> None:
    apply(kubectl, deployment("rs", ns, replicas=2))
    wait_rolled_out(kubectl, ns, "rs")
    before = {p["metadata"]["name"] for p in wait_ready(kubectl, ns, "app=rs", 2)}
    assert kubectl("rollout", "restart", "deployment/rs", "-n", ns).strip() == "deployment.apps/rs restarted"
    d = get_json(kubectl, "deploy", "rs", "-n", ns)
    stamp = d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-Z].*", stamp)
    wait_rolled_out(kubectl, ns, "rs")
    after = wait_ready(kubectl, ns, "app=rs", 2)
    assert {p["metadata"]["name"] for p in after}.isdisjoint(before)
    assert all(p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == stamp for p in after)
    assert revision(kubectl, ns, "rs") == "2"


def test_pause_and_resume(kubectl: Any, ns: str) -> None:
    apply(kubectl, deployment("pz", ns, replicas=1, image="nginx:1.27"))
    wait_rolled_out(kubectl, ns, "pz")
    assert kubectl("rollout", "pause", "deployment/pz", "-n", ns).strip() == "deployment.apps/pz paused"
    kubectl("set", "image", "deployment/pz", "-n", ns, "pz=nginx:1.28")
    proc = kubectl.run("rollout", "restart", "deployment/pz", "-n", ns, check=False)
    assert proc.returncode == 1
    assert "can't restart paused deployment (run rollout resume first)" in proc.stderr
    # paused: no new ReplicaSet, the pods keep the old image
    d = get_json(kubectl, "deploy", "pz", "-n", ns)
    assert d["spec"]["paused"] is True
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert conds["Progressing"]["reason"] == "DeploymentPaused"
    assert len(get_json(kubectl, "rs", "-n", ns, "-l", "app=pz")["items"]) == 1
    assert images(kubectl, ns, "pz") == {"nginx:1.27"}
    assert kubectl("rollout", "resume", "deployment/pz", "-n", ns).strip() == "deployment.apps/pz resumed"
    wait_rolled_out(kubectl, ns, "pz")
    wait_ready(kubectl, ns, "app=pz", 1)
    assert images(kubectl, ns, "pz") == {"nginx:1.28"}

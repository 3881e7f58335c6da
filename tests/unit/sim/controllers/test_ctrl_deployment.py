"""Deployments end to end through the controllers: ReplicaSets, pods, rollouts, undo, restart, status."""

from __future__ import annotations

import copy
import re
from typing import Any

from prophet_sre.sim.controllers.deployment_util import HASH_LABEL, REVISION, REVISION_HISTORY, template_hash

Obj = dict[str, Any]
HASH_RE = re.compile(r"^[bcdfghjklmnpqrstvwxz2456789]{6,10}$")


def _status(h: Any, name: str, ns: str = "default") -> Obj:
    return (h.get("Deployment", ns, name) or {}).get("status") or {}


def _rollout_done(h: Any, name: str, ns: str = "default") -> bool:
    """`kubectl rollout status`'s success test."""
    d = h.get("Deployment", ns, name)
    s = d.get("status") or {}
    want = d["spec"]["replicas"]
    return (s.get("observedGeneration", 0) >= d["metadata"]["generation"] and s.get("updatedReplicas", 0) == want
            and s.get("replicas", 0) == want and s.get("availableReplicas", 0) == want)


def _rss(h: Any, name: str, ns: str = "default") -> list[Obj]:
    return sorted((r for r in h.list("ReplicaSet", ns) if r["metadata"]["name"].startswith(name + "-")),
                  key=lambda r: int(r["metadata"]["annotations"][REVISION]))


def _condition(obj: Obj, type_: str) -> Obj:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def test_create_makes_one_replicaset_and_ready_pods_on_workers(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=3))
    h.create(h.service("web"))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)

    [rs] = _rss(h, "web")
    phash = rs["metadata"]["labels"][HASH_LABEL]
    assert HASH_RE.match(phash)
    assert rs["metadata"]["name"] == f"web-{phash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: phash}
    assert rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL] == phash
    ann = rs["metadata"]["annotations"]
    assert ann[REVISION] == "1"
    assert ann["deployment.kubernetes.io/desired-replicas"] == "3"
    assert ann["deployment.kubernetes.io/max-replicas"] == "4"  # 3 + ceil(25% of 3)
    d = h.get("Deployment", "default", "web")
    [ref] = rs["metadata"]["ownerReferences"]
    assert ref == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d["metadata"]["uid"],
                   "controller": True, "blockOwnerDeletion": True}
    assert d["metadata"]["annotations"][REVISION] == "1"

    pods = h.list("Pod", "default", {"app": "web"})
    assert len(pods) == 3
    assert all(p["status"]["phase"] == "Running" for p in pods)
    assert all(_condition(p, "Ready")["status"] == "True" for p in pods)
    assert {p["spec"]["nodeName"] for p in pods} == {"worker-1", "worker-2"}
    assert all(p["metadata"]["name"].startswith(f"web-{phash}-") and len(p["metadata"]["name"]) == len(
        f"web-{phash}-") + 5 for p in pods)
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods)

    s = d["status"]
    assert (s["replicas"], s["updatedReplicas"], s["readyReplicas"], s["availableReplicas"]) == (3, 3, 3, 3)
    assert "unavailableReplicas" not in s and s["observedGeneration"] == d["metadata"]["generation"]
    assert [c["type"] for c in s["conditions"]] == ["Available", "Progressing"]
    assert _condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    assert _condition(d, "Available")["message"] == "Deployment has minimum availability."
    assert _condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert _condition(d, "Progressing")["message"] == f'ReplicaSet "web-{phash}" has successfully progressed.'

    [scaled] = h.events_for("web", "ScalingReplicaSet")
    assert scaled["message"] == f"Scaled up replica set web-{phash} from 0 to 3"
    assert scaled["source"] == {"component": "deployment-controller"}
    created = h.events_for(f"web-{phash}", "SuccessfulCreate")
    assert sorted(e["message"] for e in created) == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)

    ep = h.get("Endpoints", "default", "web")
    addrs = ep["subsets"][0]["addresses"]
    assert sorted(a["ip"] for a in addrs) == sorted(p["status"]["podIP"] for p in pods)
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]
    [sl] = [s for s in h.list("EndpointSlice", "default") if s["metadata"]["labels"].get(
        "kubernetes.io/service-name") == "web"]
    assert len(sl["endpoints"]) == 3 and all(e["conditions"]["ready"] for e in sl["endpoints"])


def test_hash_is_deterministic_and_collision_count_changes_it() -> None:
    t = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    assert template_hash(t, None) == template_hash(copy.deepcopy(t), None)
    assert template_hash(t, None) != template_hash(t, 1)
    assert set(template_hash(t, None)) <= set("4567689bcdf")


def _watch_rollout(h: Any, name: str, replicas: int, surge: int, unavailable: int) -> dict[str, int]:
    """Record pod counts after every committed write: the rollout invariants hold at every instant."""
    worst = {"max_pods": 0, "min_available": replicas}

    def check(ev: Any) -> None:
        if ev.storage_key != ("", "pods"):
            return
        pods = [p for p in h.list("Pod", "default", {"app": name})]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in live if any(c["type"] == "Ready" and c["status"] == "True"
                                        for c in (p.get("status") or {}).get("conditions") or ())]
        worst["max_pods"] = max(worst["max_pods"], len(live))
        worst["min_available"] = min(worst["min_available"], len(ready))

    h.store.subscribe(check)
    return worst


def test_image_change_rolls_within_surge_and_unavailability(cluster: Any) -> None:
    h = cluster
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    h.create(h.deployment("web", replicas=4, strategy=strategy))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    worst = _watch_rollout(h, "web", 4, 1, 1)

    def set_image(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"

    h.patch("Deployment", "default", "web", set_image)
    assert h.settle(lambda: _rollout_done(h, "web") and len(h.list("Pod", "default", {"app": "web"})) == 4,
                    max_s=60)
    assert worst["max_pods"] <= 4 + 1
    assert worst["min_available"] >= 4 - 1

    old, new = _rss(h, "web")
    assert new["metadata"]["annotations"][REVISION] == "2"
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 4
    assert h.get("Deployment", "default", "web")["metadata"]["annotations"][REVISION] == "2"
    images = {p["spec"]["containers"][0]["image"] for p in h.list("Pod", "default", {"app": "web"})}
    assert images == {"nginx:1.28"}
    msgs = [e["message"] for e in h.events_for("web", "ScalingReplicaSet")]
    assert f"Scaled down replica set {old['metadata']['name']} from 4 to 3" in msgs
    assert any(m.startswith(f"Scaled up replica set {new['metadata']['name']} from 0 to ") for m in msgs)


def test_default_25_percent_never_goes_below_replicas(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=3))  # maxSurge 25% -> 1, maxUnavailable 25% -> 0
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    worst = _watch_rollout(h, "web", 3, 1, 0)
    h.patch("Deployment", "default", "web",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.28"))
    assert h.settle(lambda: _rollout_done(h, "web") and len(h.list("Pod", "default", {"app": "web"})) == 3,
                    max_s=60)
    assert worst["max_pods"] <= 4
    assert worst["min_available"] >= 3


def test_undo_adopts_the_old_replicaset_as_a_new_revision(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=2))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    first = _rss(h, "web")[0]
    h.patch("Deployment", "default", "web",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.28"))
    assert h.settle(lambda: _rollout_done(h, "web") and len(_rss(h, "web")) == 2, max_s=60)

    # `kubectl rollout undo`: JSON-patch the template back to revision 1's (minus pod-template-hash)
    template = copy.deepcopy(h.get("ReplicaSet", "default", first["metadata"]["name"])["spec"]["template"])
    del template["metadata"]["labels"][HASH_LABEL]
    h.patch("Deployment", "default", "web", lambda d: d["spec"].update(template=template))
    assert h.settle(lambda: _rollout_done(h, "web") and all(
        p["spec"]["containers"][0]["image"] == "nginx:1.27" for p in h.list("Pod", "default", {"app": "web"})),
        max_s=60)

    rss = _rss(h, "web")
    assert len(rss) == 2  # no third ReplicaSet: the first one came back
    back = h.get("ReplicaSet", "default", first["metadata"]["name"])
    assert back["metadata"]["annotations"][REVISION] == "3"
    assert back["metadata"]["annotations"][REVISION_HISTORY] == "1"
    assert back["spec"]["replicas"] == 2
    assert h.get("Deployment", "default", "web")["metadata"]["annotations"][REVISION] == "3"


def test_rollout_restart_rolls_a_new_replicaset(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=2))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    before = {p["metadata"]["name"] for p in h.list("Pod", "default", {"app": "web"})}

    def restart(d: Obj) -> None:
        meta = d["spec"]["template"]["metadata"]
        meta.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = "2025-01-01T00:00:00Z"

    h.patch("Deployment", "default", "web", restart)
    assert h.settle(lambda: _rollout_done(h, "web") and not before & {
        p["metadata"]["name"] for p in h.list("Pod", "default", {"app": "web"})}, max_s=60)
    assert len(_rss(h, "web")) == 2
    assert len(h.list("Pod", "default", {"app": "web"})) == 2


def test_rollout_status_fields_wait_for_observed_generation(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=2))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    h.patch("Deployment", "default", "web", lambda d: d["spec"].update(replicas=5))
    d = h.get("Deployment", "default", "web")
    assert d["metadata"]["generation"] == 2 and d["status"]["observedGeneration"] == 1
    assert not _rollout_done(h, "web")
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    assert len(h.list("Pod", "default", {"app": "web"})) == 5
    assert len(_rss(h, "web")) == 1
    msgs = [e["message"] for e in h.events_for("web", "ScalingReplicaSet")]
    assert msgs[-1].endswith("from 2 to 5")


def test_recreate_removes_old_pods_before_creating_new(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("db", replicas=2, strategy={"type": "Recreate"}))
    assert h.settle(lambda: _rollout_done(h, "db"), max_s=30)
    overlap = []

    def check(ev: Any) -> None:
        if ev.storage_key == ("", "pods"):
            images = {p["spec"]["containers"][0]["image"] for p in h.list("Pod", "default", {"app": "db"})}
            overlap.append(len(images) > 1)

    h.store.subscribe(check)
    h.patch("Deployment", "default", "db",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.28"))
    assert h.settle(lambda: _rollout_done(h, "db") and len(h.list("Pod", "default", {"app": "db"})) == 2, max_s=60)
    assert not any(overlap)


def test_paused_deployment_does_not_roll_until_resumed(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=2))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    h.patch("Deployment", "default", "web", lambda d: d["spec"].update(paused=True))
    h.patch("Deployment", "default", "web",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.28"))
    h.run_for(10)
    assert len(_rss(h, "web")) == 1
    prog = _condition(h.get("Deployment", "default", "web"), "Progressing")
    assert (prog["status"], prog["reason"], prog["message"]) == ("Unknown", "DeploymentPaused", "Deployment is paused")
    h.patch("Deployment", "default", "web", lambda d: d["spec"].update(paused=False))
    assert h.settle(lambda: _rollout_done(h, "web") and len(_rss(h, "web")) == 2, max_s=60)


def test_progress_deadline_exceeded_when_pods_cannot_schedule(cluster: Any) -> None:
    h = cluster
    d = h.deployment("web", replicas=2, progressDeadlineSeconds=30)
    d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = "100Gi"
    h.create(d)
    h.run_for(20)
    prog = _condition(h.get("Deployment", "default", "web"), "Progressing")
    assert prog["status"] == "True"
    avail = _condition(h.get("Deployment", "default", "web"), "Available")
    assert (avail["status"], avail["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert avail["message"] == "Deployment does not have minimum availability."
    h.run_for(20)
    prog = _condition(h.get("Deployment", "default", "web"), "Progressing")
    [rs] = _rss(h, "web")
    assert (prog["status"], prog["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert prog["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'
    assert _status(h, "web").get("unavailableReplicas") == 2


def test_revision_history_limit_deletes_old_empty_replicasets(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=1, revisionHistoryLimit=1))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    for tag in ("1.28", "1.29", "1.30"):
        h.patch("Deployment", "default", "web",
                lambda d, tag=tag: d["spec"]["template"]["spec"]["containers"][0].update(image=f"nginx:{tag}"))
        assert h.settle(lambda: _rollout_done(h, "web") and len(h.list("Pod", "default", {"app": "web"})) == 1,
                        max_s=60)
    h.run_for(2)
    revs = sorted(int(r["metadata"]["annotations"][REVISION]) for r in _rss(h, "web"))
    assert revs == [3, 4]


def test_scale_to_zero_and_back(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=2))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    h.patch("Deployment", "default", "web", lambda d: d["spec"].update(replicas=0))
    assert h.settle(lambda: not h.list("Pod", "default", {"app": "web"}), max_s=30)
    assert _rss(h, "web")[0]["spec"]["replicas"] == 0
    h.patch("Deployment", "default", "web", lambda d: d["spec"].update(replicas=1))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)


def test_min_ready_seconds_delays_availability(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=2, minReadySeconds=8))
    assert h.settle(lambda: _status(h, "web").get("readyReplicas") == 2, max_s=30)
    s = _status(h, "web")
    assert s.get("availableReplicas", 0) == 0 and s["unavailableReplicas"] == 2
    assert _condition(h.get("Deployment", "default", "web"), "Available")["status"] == "False"
    assert h.settle(lambda: _status(h, "web").get("availableReplicas") == 2, max_s=12)
    rs = _rss(h, "web")[0]
    assert rs["spec"]["minReadySeconds"] == 8 and rs["status"]["availableReplicas"] == 2


def test_progressing_condition_during_a_rollout(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=2))
    assert h.settle(lambda: _rollout_done(h, "web"), max_s=30)
    seen: list[tuple[str, str]] = []

    def watch(ev: Any) -> None:
        if ev.storage_key == ("apps", "deployments"):
            c = next((c for c in (ev.obj.get("status") or {}).get("conditions") or () if c["type"] == "Progressing"),
                     None)
            if c and (not seen or seen[-1] != (c["reason"], c["message"])):
                seen.append((c["reason"], c["message"]))

    h.store.subscribe(watch)
    h.patch("Deployment", "default", "web",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.28"))
    assert h.settle(lambda: _rollout_done(h, "web") and len(h.list("Pod", "default", {"app": "web"})) == 2,
                    max_s=60)
    new = _rss(h, "web")[-1]["metadata"]["name"]
    reasons = [r for r, _ in seen]
    assert seen[reasons.index("NewReplicaSetCreated")] == ("NewReplicaSetCreated", f'Created new replica set "{new}"')
    assert ("ReplicaSetUpdated", f'ReplicaSet "{new}" is progressing.') in seen
    assert reasons.index("NewReplicaSetCreated") < reasons.index("ReplicaSetUpdated")
    assert seen[-1] == ("NewReplicaSetAvailable", f'ReplicaSet "{new}" has successfully progressed.')

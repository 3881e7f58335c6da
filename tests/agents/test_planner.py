"""The planner's contract: every category yields a plan, memory re-ranks, runbooks merge, policy restricts.

Plans are computed against a real simulated cluster (crash-bad-command: Deployment demo/api whose second
revision crashes, next to a healthy nginx Deployment demo/web) - no fake clients. The ranking and merging
functions are also exercised directly on `Proposal`s, which are plain data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from planner_world import SUITE, past_faults, wait_for

from prophet_sre.agents.planner import candidates, merge_runbooks, plan, rank_by_memory, restrict
from prophet_sre.agents.planning.context import Proposal
from prophet_sre.agents.planning.rules import RULES
from prophet_sre.config import KubeSettings
from prophet_sre.domain import (
    Category,
    Check,
    Diagnosis,
    EscalateAction,
    Finding,
    FindingSource,
    PatchAction,
    ResourceRef,
    RestartAction,
    RollbackAction,
)
from prophet_sre.graphs.state import MemoryHint, RunbookHit
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.tools.kube.client import KubeClients

pytestmark = pytest.mark.timeout(120)
API = ResourceRef.parse("demo/deployment/api")
STS = """apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cache, namespace: demo, labels: {app: cache}}
spec:
  replicas: 1
  serviceName: cache
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers:
        - name: cache
          image: nginx:1.27
          resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 128Mi}}
"""
STS_FAULT = """faults:
  - at: 30s
    patch:
      target: demo/statefulset/cache
      patch: {spec: {template: {spec: {containers: [{name: cache, image: "nginx:1.277"}]}}}}
"""
WEB = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo, labels: {app: web}}\nspec:\n" \
      "  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n" \
      "    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n" \
      "          resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 128Mi}}\n"


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeClients]:
    cluster = SimCluster(ClusterOptions(speed=50.0))
    cluster.start()
    try:
        scenario_apply.load_file(cluster, SUITE / "crash-bad-command.yaml")
        doc = "apiVersion: prophet.io/v1\nkind: Scenario\nid: extra-web\ntitle: web\ncategory: unknown\n" \
              "setup:\n  - inline: |\n" + "".join(f"      {line}\n" for line in (WEB + "---\n" + STS).splitlines()) \
            + STS_FAULT
        scenario_apply.load_text(cluster, doc, source="extra-web", base_dir=SUITE)
        past_faults(cluster, 30)
        kc = cluster.write_kubeconfig(tmp_path_factory.mktemp("planner") / "kubeconfig")
        kube = KubeClients(KubeSettings(kubeconfig=kc))
        yield kube
        kube.close()
    finally:
        cluster.stop()


def diagnosis(category: Category | str, root: str | None = "demo/deployment/api", errors: tuple[str, ...] = ()) -> Diagnosis:
    ref = ResourceRef.parse(root) if root else None
    evidence = [Finding(source=FindingSource.ANALYZER, ref=ref, errors=list(errors))] if ref and errors else []
    return Diagnosis(category=Category(category), summary=f"{category} on {root}", root_cause=ref, confidence=0.8,
                     evidence=evidence)


# -- every category ------------------------------------------------------------------------------------------
def test_every_category_has_a_rule() -> None:
    assert set(RULES) == set(Category)


ROOTS = {  # a root cause that makes sense for each category in this cluster
    Category.PVC_PENDING: "demo/persistentvolumeclaim/none", Category.CONFIG_MISSING: "demo/configmap/none",
    Category.SERVICE_SELECTOR: "demo/service/api", Category.NODE_FAILURE: "/node/worker-1",
    Category.CLUSTER_DEGRADED: "fleet/cluster/aws", Category.NETWORK_THREAT: "demo/deployment/web",
}


@pytest.mark.parametrize("category", list(Category))
def test_every_category_yields_a_plan(category: Category, clients: KubeClients) -> None:
    p = plan(diagnosis(category, ROOTS.get(category, "demo/deployment/api")), [], clients=clients)
    assert p.actions and p.rationale and p.expected_outcome
    for a in p.actions:
        assert a.reason, a
        if isinstance(a, EscalateAction):
            assert len(a.message) > 40, a.message  # says what a human should look at
    if category in (Category.DNS, Category.RBAC, Category.UNKNOWN, Category.QUOTA):
        assert [a.type for a in p.actions] == ["escalate"]
        assert p.verification == []
    elif p.actions[0].type != "escalate":
        assert p.verification, "a real fix comes with checks"


def test_escalations_say_what_to_look_at(clients: KubeClients) -> None:
    dns = plan(diagnosis("dns", errors=("lookup db.demo: no such host",)), [], clients=clients).actions[0]
    assert isinstance(dns, EscalateAction) and "CoreDNS" in dns.message and "no such host" in dns.message
    rbac = plan(diagnosis("rbac"), [], clients=clients).actions[0]
    assert isinstance(rbac, EscalateAction) and "RoleBinding" in rbac.message
    missing = plan(diagnosis("crashloop", "demo/deployment/gone"), [], clients=clients).actions[0]
    assert isinstance(missing, EscalateAction) and "demo/deployment/gone" in missing.message
    secret = plan(diagnosis("config_missing", "demo/deployment/api",
                            ("couldn't find key TOKEN in Secret demo/creds",)), [], clients=clients).actions[0]
    assert isinstance(secret, EscalateAction) and "never copies secret values" in secret.message
    no_root = plan(diagnosis("oom", None), [], clients=clients)
    assert [a.type for a in no_root.actions] == ["escalate"]


def test_crashloop_rolls_back_to_the_last_good_revision(clients: KubeClients) -> None:
    d = diagnosis("crashloop", errors=("back-off restarting failed container api",))
    acts = candidates(d, [], clients=clients)
    assert [a.type for a in acts] == ["rollback", "patch"]
    assert isinstance(acts[0], RollbackAction) and acts[0].to_revision == 1 and acts[0].risk == "low"
    assert isinstance(acts[1], PatchAction)
    assert acts[1].patch == [{"op": "replace", "path": "/spec/template/spec/containers/0/command",
                              "value": ["/app/backend"]}]
    p = plan(d, [], clients=clients)
    assert p.actions == acts[:1]
    assert {"kind": "no_pod_reason", "target": "CrashLoopBackOff"} in [
        {"kind": c.kind, "target": c.target} for c in p.verification]


def test_oom_raises_the_limit_by_a_bounded_factor(clients: KubeClients) -> None:
    acts = candidates(diagnosis("oom", "demo/deployment/web"), [], clients=clients)
    assert [a.type for a in acts] == ["set_resources"]  # one revision only: nothing to roll back to
    assert acts[0].limits == {"memory": "256Mi"} and acts[0].container == "web"  # type: ignore[union-attr]


# -- memory --------------------------------------------------------------------------------------------------
def hint(action_type: str, outcome: str, similarity: float = 0.8, target: ResourceRef | None = API) -> MemoryHint:
    return MemoryHint(incident_id=f"inc-{action_type}-{outcome}", similarity=similarity, action_type=action_type,
                      target=target, outcome=outcome)  # type: ignore[arg-type]


def test_memory_demotes_what_failed_before(clients: KubeClients) -> None:
    d = diagnosis("crashloop")
    p = plan(d, [], clients=clients, memory=[hint("rollback", "rolled_back")])
    assert [a.type for a in p.actions] == ["patch"]
    assert "rolled back in similar incident inc-rollback-rolled_back" in p.rationale
    # too dissimilar to learn from: nothing moves
    assert plan(d, [], clients=clients, memory=[hint("rollback", "failed", 0.3)]).actions[0].type == "rollback"
    # another target's history says nothing about this one
    other = ResourceRef.parse("demo/deployment/web")
    assert plan(d, [], clients=clients, memory=[hint("rollback", "failed", target=other)]).actions[0].type == "rollback"


def test_memory_promotes_what_fixed_a_similar_incident(clients: KubeClients) -> None:
    p = plan(diagnosis("crashloop"), [], clients=clients, memory=[hint("patch", "fixed", 0.9)])
    assert p.actions[0].type == "patch" and "fixed similar incident" in p.rationale


def test_rank_by_memory_keeps_a_failed_action_when_it_is_the_only_fix() -> None:
    only = Proposal([RollbackAction(target=API, reason="r")])
    esc = Proposal([EscalateAction(target=API, reason="e", message="m")])
    ranked = rank_by_memory([only, esc], [hint("rollback", "failed")])
    assert ranked[0] is esc and ranked[1] is only  # behind the others, but not out: no other fix exists


# -- runbooks ------------------------------------------------------------------------------------------------
def test_runbook_actions_are_credited_or_appended(clients: KubeClients) -> None:
    rb_rollback = RunbookHit(id="rb-rollback", title="Roll back a crashing rollout",
                             actions=[RollbackAction(target=API, reason="runbook")],
                             verification=[Check(kind="service", target="demo/api", expect={"has_endpoints": True})])
    rb_restart = RunbookHit(id="rb-restart", actions=[RestartAction(target=API, reason="runbook restart")])
    p = plan(diagnosis("crashloop"), [], clients=clients, runbooks=[rb_rollback, rb_restart])
    first = p.actions[0]
    assert isinstance(first, RollbackAction) and first.to_revision == 1  # the rule's computed revision wins
    assert p.runbook_ids == ["rb-rollback"]
    assert Check(kind="service", target="demo/api", expect={"has_endpoints": True}) in p.verification
    assert all(a.type != "restart" for a in p.actions)  # a primary fix exists: the extra stays a candidate

    rule = [Proposal([RollbackAction(target=API, reason="rule", to_revision=1)])]
    merged = merge_runbooks(rule, [rb_rollback, rb_restart])
    assert [p.primary.type for p in merged] == ["rollback", "restart"] and merged[1].runbook_ids == ["rb-restart"]


def test_a_runbook_action_replaces_an_escalation(clients: KubeClients) -> None:
    rb = RunbookHit(id="rb-dns", actions=[RestartAction(target=API, reason="restart the resolver's clients")])
    p = plan(diagnosis("dns"), [], clients=clients, runbooks=[rb])
    assert [a.type for a in p.actions] == ["restart"] and p.runbook_ids == ["rb-dns"]


def test_restrict_drops_follow_ups_and_primaries_not_allowed() -> None:
    node = ResourceRef.parse("/node/worker-2")
    from prophet_sre.domain import CordonAction, DrainAction

    both = Proposal([CordonAction(target=node, reason="c"), DrainAction(target=node, reason="d")])
    only_drain = Proposal([DrainAction(target=node, reason="d")])
    kept = restrict([only_drain, both], {"cordon"})
    assert len(kept) == 1 and [a.type for a in kept[0].actions] == ["cordon"]


NODE_DOWN = """apiVersion: prophet.io/v1
kind: Scenario
id: node-down
title: worker-1's kubelet stops
category: node_failure
setup:
  - file: manifests/web.yaml
faults:
  - at: 10s
    node_down: {node: worker-1}
"""


def test_node_failure_cordons_and_drains_a_dead_node(tmp_path: Path) -> None:
    cluster = SimCluster(ClusterOptions(speed=50.0))
    cluster.start()
    try:
        scenario_apply.load_text(cluster, NODE_DOWN, source="node-down", base_dir=SUITE)
        past_faults(cluster, 5)
        kube = KubeClients(KubeSettings(kubeconfig=cluster.write_kubeconfig(tmp_path / "kc")))
        client = kube.for_cluster("")
        wait_for(lambda: any(c["type"] == "Ready" and c["status"] != "True"
                             for c in client.get("nodes", "worker-1")["status"]["conditions"]), timeout=30,
                 what="worker-1 NotReady")
        d = diagnosis("node_failure", "/node/worker-1")
        full = plan(d, [], clients=kube)
        assert [a.type for a in full.actions] == ["cordon", "drain"]
        assert full.actions[1].risk == "high"
        assert any(c.kind == "object" and c.expect["jsonpath"] == "{.spec.unschedulable}" for c in full.verification)
        p = plan(d, [], clients=kube, allowed_actions={"cordon", "escalate"})
        assert [a.type for a in p.actions] == ["cordon"] and "not allowed" in p.rationale
        healthy = plan(diagnosis("node_failure", "/node/worker-2"), [], clients=kube)
        assert [a.type for a in healthy.actions] == ["cordon"]  # Ready: cordon, never drain
        kube.close()
    finally:
        cluster.stop()


def test_a_statefulset_gets_its_previous_revision_back_by_patch(clients: KubeClients) -> None:
    """StatefulSets have no `rollout undo` action here: the previous ControllerRevision's image is patched back."""
    p = plan(diagnosis("image_pull", "demo/statefulset/cache", ("Back-off pulling image nginx:1.277",)), [],
             clients=clients)
    assert [a.type for a in p.actions] == ["patch"]
    assert p.actions[0].patch == [{"op": "replace", "path": "/spec/template/spec/containers/0/image",  # type: ignore[union-attr]
                                   "value": "nginx:1.27"}]
    assert {"kind": "statefulset", "target": "demo/cache"} in [{"kind": c.kind, "target": c.target}
                                                              for c in p.verification]



def test_image_pull_checks_watch_the_reason_even_between_two_pulls(clients: KubeClients) -> None:
    """Read between two pull attempts, a pod shows no failure reason at all (ContainerCreating); the plan
    still watches the reason an image-pull failure shows, so 'no pod reports it now' is not a recovery."""
    from prophet_sre.agents.planning.context import RuleContext
    from prophet_sre.agents.planning.workloads import rollout_failure

    class BetweenPulls(RuleContext):
        def pods_of(self, obj):  # noqa: ANN001, ANN202 - every pod caught while its image is pulled again
            pods = super().pods_of(obj)
            for p in pods:
                for cs in p["status"].get("containerStatuses") or []:
                    cs["state"], cs["lastState"] = {"waiting": {"reason": "ContainerCreating"}}, {}
            return pods

    ctx = BetweenPulls(diagnosis("image_pull", "demo/statefulset/cache"), [], clients)
    [first, *_] = rollout_failure(ctx)
    assert first.actions[0].type != "escalate", first.actions
    assert [c.target for c in first.checks if c.kind == "no_pod_reason"] == ["ImagePullBackOff"]

"""Which pod a ReplicaSet deletes first when several are otherwise equal: the one whose node holds the most
*related* active pods - those of every ReplicaSet of the same owner (upstream `getIndirectlyRelatedPods` and
`getPodsRankedByRelatedPodsOnSameNode`). During a rolling update the new ReplicaSet's pods count, so the old
pod next to them goes first and frees room on the node that is filling up; ranking by the ReplicaSet's own
pods only could pick the other node and leave the next new pod Pending on a full cluster.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.sim.controllers.replicaset import _deletion_order


def _pod(name: str, node: str, *, deleting: bool = False) -> dict[str, Any]:
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:05:00Z"
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": "Running", "conditions": [ready], "containerStatuses": [{"restartCount": 0}]}}


def test_rank_counts_the_pods_of_sibling_replicasets_on_the_node() -> None:
    # old ReplicaSet: one pod per worker; the new one already runs two pods on worker-1
    old = [_pod("backend-old-b", "worker-2"), _pod("backend-old-a", "worker-1")]
    new = [_pod("backend-new-x", "worker-1"), _pod("backend-new-y", "worker-1")]
    assert _deletion_order(old, old + new)[0]["metadata"]["name"] == "backend-old-a"
    # pods being deleted are not active and do not count
    gone = [_pod(f"backend-new-{i}", "worker-1", deleting=True) for i in range(3)]
    extra = [_pod("backend-other", "worker-2")]
    assert _deletion_order(old, old + gone + extra)[0]["metadata"]["name"] == "backend-old-b"


def test_without_related_pods_every_rank_is_equal() -> None:
    # a ReplicaSet without a controller has no related pods: no node is preferred (upstream), the
    # remaining keys decide - here all equal, so the sort keeps the given order
    pods = [_pod("rs-a", "worker-1"), _pod("rs-b", "worker-2"), _pod("rs-c", "worker-2")]
    assert [p["metadata"]["name"] for p in _deletion_order(pods)] == ["rs-a", "rs-b", "rs-c"]

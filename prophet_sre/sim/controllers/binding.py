"""Pod binding: what the apiserver's `pods/binding` REST storage does, for the scheduler (and the API).

A Pod's `spec.nodeName` is immutable through normal updates - validation rejects the change, exactly
as kube-apiserver does - and only the binding subresource may set it. That path skips update
validation, checks its own preconditions, and writes nodeName together with `PodScheduled=True` in
one write (one resourceVersion), which is what watchers of a real cluster see.
"""

from __future__ import annotations

import copy
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.registry import ResourceType
from prophet_sre.sim.store import Store

Obj = dict[str, Any]


def bind_pod(store: Store, pod_rt: ResourceType, namespace: str, name: str, node: str, *,
             uid: str | None = None) -> Obj:
    """Assign `node` to the pod; 409 when it is already bound or being deleted, 404 when gone."""
    with store._lock:  # noqa: SLF001 - the binding REST path is part of the storage layer
        old = store.try_get(pod_rt, namespace, name)
        if old is None or (uid is not None and old["metadata"].get("uid") != uid):
            raise st.not_found(pod_rt, name)
        cur = (old.get("spec") or {}).get("nodeName")
        if cur:
            raise st.ApiError(409, "Conflict", f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} '
                                               f'is already assigned to node "{cur}"')
        if old["metadata"].get("deletionTimestamp"):
            raise st.ApiError(409, "Conflict", f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} '
                                               "is being deleted, cannot be assigned to a host")
        new = copy.deepcopy(old)
        new["spec"]["nodeName"] = node
        status = new.setdefault("status", {})
        status.setdefault("phase", "Pending")
        now = rfc3339(store.clock.now())
        conds = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
        status["conditions"] = conds + [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                         "lastTransitionTime": now}]
        ev = store._commit(pod_rt, "MODIFIED", new, old)  # noqa: SLF001
    store._notify([ev])  # noqa: SLF001
    return new

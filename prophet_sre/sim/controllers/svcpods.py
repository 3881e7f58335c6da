"""Which pods back a Service, and which Services a pod change affects - shared by the two endpoint
controllers, through label indexes so a pod update costs a few dictionary look-ups, not a scan of
every Service in the namespace."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.controllers.base import ControllerContext
from prophet_sre.sim.controllers.cache import (
    by_service_selector,
    ensure_pod_indexes,
    informers,
    pods_selected,
)
from prophet_sre.sim.controllers.common import labels_of, obj_key
from prophet_sre.sim.store import WatchEvent

Obj = dict[str, Any]
TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"


class ServicePods:
    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.svc_index = self.hub.index("", "services", "selector", by_service_selector)
        self.svc_rt = ctx.rt("", "services")
        self.pod_rt = ctx.rt("", "pods")

    def services_for_pod_event(self, ev: WatchEvent) -> list[Hashable]:
        """Services whose selector matches the pod before or after the change."""
        if ev.type == "MODIFIED" and ev.old is not None and not _relevant_change(ev.old, ev.obj):
            return []
        out: dict[Hashable, None] = {}
        for pod in (ev.obj, ev.old):
            if pod is None:
                continue
            ns = obj_key(pod)[0]
            labels = labels_of(pod)
            for k, v in labels.items():
                for sk in self.svc_index.get((ns, k, v)):
                    if sk in out:
                        continue
                    svc = self.ctx.store.try_get(self.svc_rt, *sk)
                    sel = ((svc or {}).get("spec") or {}).get("selector") or {}
                    if sel and all(labels.get(a) == b for a, b in sel.items()):
                        out[sk] = None
        return list(out)

    def pods_for(self, svc: Obj) -> list[Obj]:
        sel = (svc.get("spec") or {}).get("selector") or {}
        if not sel:
            return []
        ns = svc["metadata"]["namespace"]
        out = []
        for k in pods_selected(self.hub, ns, sel) or ():
            p = self.ctx.store.try_get(self.pod_rt, *k)
            if p is not None and all(labels_of(p).get(a) == b for a, b in sel.items()):
                out.append(p)
        return sorted(out, key=lambda p: p["metadata"]["name"])


def _relevant_change(old: Obj, new: Obj) -> bool:
    """Only what endpoints show: labels, IP, node, readiness, deletion, phase, ports."""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    if om.get("labels") != nm.get("labels") or bool(om.get("deletionTimestamp")) != bool(nm.get("deletionTimestamp")):
        return True
    os_, ns_ = old.get("status") or {}, new.get("status") or {}
    if os_.get("podIP") != ns_.get("podIP") or os_.get("phase") != ns_.get("phase"):
        return True
    if (old.get("spec") or {}).get("nodeName") != (new.get("spec") or {}).get("nodeName"):
        return True
    return _ready(old) != _ready(new)


def _ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def pod_ready(pod: Obj) -> bool:
    return _ready(pod)


def resolve_port(pod: Obj, sp: Obj) -> int | None:
    """`podutil.FindPort`: a numeric targetPort as is; a named one from the pod's container ports."""
    target = sp.get("targetPort", sp.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    proto = sp.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == target and (p.get("protocol") or "TCP") == proto:
                return int(p.get("containerPort"))
    return None


def trigger_time(ctx: ControllerContext) -> str:
    return rfc3339(ctx.clock.now())


def should_be_listed(pod: Obj) -> bool:
    """`shouldPodBeInEndpoints`: a finished pod that will not restart is never an endpoint."""
    phase = (pod.get("status") or {}).get("phase")
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def ip_key(ip: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in ip.split("."))
    except ValueError:
        return (999,)

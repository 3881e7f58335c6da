"""The endpoints controller: core/v1 Endpoints for every Service with a selector.

Deprecated upstream but still what `kubectl describe svc` prints under "Endpoints:" and what many
tools (and agents) read to answer "does my service have backends?". Ready pods go to `addresses`,
not-ready ones to `notReadyAddresses`; named target ports are resolved per pod. Written only when
the content changes, so pod status churn does not turn into a write storm.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.common import is_deleting, obj_key
from prophet_sre.sim.controllers.svcpods import (
    TRIGGER_ANNOTATION,
    ServicePods,
    ip_key,
    pod_ready,
    resolve_port,
    should_be_listed,
    trigger_time,
)
from prophet_sre.sim.store import WatchEvent

Obj = dict[str, Any]
HEADLESS_LABEL = "service.kubernetes.io/headless"


def _address(pod: Obj) -> Obj:
    a: Obj = {"ip": pod["status"]["podIP"]}
    spec = pod.get("spec") or {}
    if spec.get("hostname"):
        a["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        a["nodeName"] = spec["nodeName"]
    m = pod["metadata"]
    a["targetRef"] = {"kind": "Pod", "namespace": m["namespace"], "name": m["name"], "uid": m["uid"]}
    return a


def build_subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    """Addresses grouped by identical port lists (what `endpoints.RepackSubsets` produces)."""
    spec = svc.get("spec") or {}
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[Any, ...], tuple[list[Obj], list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not (pod.get("status") or {}).get("podIP"):
            continue
        if is_deleting(pod) and not tolerate:
            continue
        ports = []
        for sp in spec.get("ports") or ():
            num = resolve_port(pod, sp)
            if num is None:
                continue
            p: Obj = {}
            if sp.get("name"):
                p["name"] = sp["name"]
            p["port"] = num
            p["protocol"] = sp.get("protocol") or "TCP"
            if sp.get("appProtocol"):
                p["appProtocol"] = sp["appProtocol"]
            ports.append(p)
        if spec.get("ports") and not ports:
            continue
        key = tuple(tuple(sorted(p.items())) for p in ports)
        ready_list, unready_list, plist = groups.setdefault(key, ([], [], ports))
        if tolerate or pod_ready(pod):
            ready_list.append(_address(pod))
        elif should_be_listed(pod):
            unready_list.append(_address(pod))
    out = []
    for ready_list, unready_list, plist in groups.values():
        if not ready_list and not unready_list:
            continue
        subset: Obj = {}
        if ready_list:
            subset["addresses"] = sorted(ready_list, key=lambda a: ip_key(a["ip"]))
        if unready_list:
            subset["notReadyAddresses"] = sorted(unready_list, key=lambda a: ip_key(a["ip"]))
        if plist:
            subset["ports"] = plist
        out.append(subset)
    return out


def service_labels(svc: Obj) -> dict[str, str]:
    labels = dict(svc["metadata"].get("labels") or {})
    if (svc.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


class EndpointsController(Controller):
    name = "endpoint-controller"
    watches = (("", "services"), ("", "pods"), ("", "endpoints"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sp = ServicePods(ctx)
        self.svc_rt = ctx.rt("", "services")
        self.ep_rt = ctx.rt("", "endpoints")

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("", "pods"):
            return self.sp.services_for_pod_event(ev)
        if ev.storage_key == ("", "endpoints") and ev.type != "DELETED":
            return ()  # someone else's Endpoints (a selector-less service) stay theirs
        return [obj_key(ev.obj)]

    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        store = self.ctx.store
        svc = store.try_get(self.svc_rt, ns, name)
        existing = store.try_get(self.ep_rt, ns, name)
        if svc is None:
            if existing is not None:
                try:
                    store.delete(self.ep_rt, ns, name)
                except st.ApiError:
                    pass
            return None
        if not (svc.get("spec") or {}).get("selector") or (svc.get("spec") or {}).get("type") == "ExternalName":
            return None
        subsets = build_subsets(svc, self.sp.pods_for(svc))
        labels = service_labels(svc)
        if existing is not None and (existing.get("subsets") or []) == subsets and \
                (existing["metadata"].get("labels") or {}) == labels:
            return None
        meta: Obj = {"name": name, "namespace": ns}
        if labels:
            meta["labels"] = labels
        ann = dict((existing or {}).get("metadata", {}).get("annotations") or {})
        ann[TRIGGER_ANNOTATION] = trigger_time(self.ctx)
        meta["annotations"] = ann
        obj: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta}
        if subsets:
            obj["subsets"] = subsets
        try:
            if existing is None:
                store.create(self.ep_rt, obj)
            else:
                obj["metadata"] = {**existing["metadata"], **meta}
                if not labels:
                    obj["metadata"].pop("labels", None)
                store.update(self.ep_rt, obj, check_rv=False)
        except st.ApiError as e:
            if e.code in (403, 404):  # namespace going away
                return None
            return 1.0
        return None

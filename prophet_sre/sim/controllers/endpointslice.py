"""The EndpointSlice controller: discovery.k8s.io/v1 slices (at most 100 endpoints each) per Service.

kube-proxy, CoreDNS and Gateway implementations read slices, not Endpoints; terminating pods stay
listed with `terminating: true` (and `serving` while still ready), as with EndpointSliceTerminating
on a real cluster. A Service with no backends keeps one empty placeholder slice. Slices are owned by
their Service, so the garbage collector removes them with it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import Index
from prophet_sre.sim.controllers.common import is_deleting, obj_key, owner_reference
from prophet_sre.sim.controllers.endpoints import service_labels
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
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"
MAX_PER_SLICE = 100
ZONE_LABEL = "topology.kubernetes.io/zone"


def _by_service(obj: Obj) -> Iterable[Hashable]:
    labels = obj["metadata"].get("labels") or {}
    if labels.get(MANAGED_BY) != CONTROLLER_NAME or SERVICE_NAME not in labels:
        return ()
    return ((obj["metadata"]["namespace"], labels[SERVICE_NAME]),)


class EndpointSliceController(Controller):
    name = "endpointslice-controller"
    watches = (("", "services"), ("", "pods"), ("discovery.k8s.io", "endpointslices"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sp = ServicePods(ctx)
        self.slices: Index = self.sp.hub.index("discovery.k8s.io", "endpointslices", "service", _by_service)
        self.svc_rt = ctx.rt("", "services")
        self.slice_rt = ctx.rt("discovery.k8s.io", "endpointslices")
        self.node_rt = ctx.rt("", "nodes")

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("", "pods"):
            return self.sp.services_for_pod_event(ev)
        if ev.storage_key == ("", "services"):
            return [obj_key(ev.obj)]
        if ev.type == "DELETED" or (ev.old is not None and ev.old.get("endpoints") != ev.obj.get("endpoints")):
            return list(_by_service(ev.obj))
        return ()

    # -- desired state ---------------------------------------------------------------------------------
    def _endpoint(self, pod: Obj) -> Obj:
        spec, m = pod.get("spec") or {}, pod["metadata"]
        ready = pod_ready(pod)
        terminating = is_deleting(pod)
        ep: Obj = {"addresses": [pod["status"]["podIP"]],
                   "conditions": {"ready": ready and not terminating, "serving": ready, "terminating": terminating}}
        if spec.get("hostname"):
            ep["hostname"] = spec["hostname"]
        if spec.get("nodeName"):
            ep["nodeName"] = spec["nodeName"]
        ep["targetRef"] = {"kind": "Pod", "namespace": m["namespace"], "name": m["name"], "uid": m["uid"]}
        node = self.ctx.store.try_get(self.node_rt, "", spec.get("nodeName") or "") if spec.get("nodeName") else None
        zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(ZONE_LABEL)
        if zone:
            ep["zone"] = zone
        return ep

    def _desired(self, svc: Obj) -> list[tuple[list[Obj], list[Obj]]]:
        """[(ports, endpoints)] chunks; one empty chunk when nothing backs the service."""
        spec = svc.get("spec") or {}
        tolerate = bool(spec.get("publishNotReadyAddresses"))
        groups: dict[tuple[Any, ...], tuple[list[Obj], list[Obj]]] = {}
        for pod in self.sp.pods_for(svc):
            if not (pod.get("status") or {}).get("podIP") or not should_be_listed(pod):
                continue
            ports = []
            for sp in spec.get("ports") or ():
                num = resolve_port(pod, sp)
                if num is None:
                    continue
                p: Obj = {"name": sp.get("name") or "", "port": num, "protocol": sp.get("protocol") or "TCP"}
                if sp.get("appProtocol"):
                    p["appProtocol"] = sp["appProtocol"]
                ports.append(p)
            ep = self._endpoint(pod)
            if tolerate:
                ep["conditions"]["ready"] = True
            key = tuple(tuple(sorted(p.items())) for p in ports)
            groups.setdefault(key, (ports, []))[1].append(ep)
        out = []
        for ports, eps in groups.values():
            eps.sort(key=lambda e: ip_key(e["addresses"][0]))
            for i in range(0, len(eps), MAX_PER_SLICE):
                out.append((ports, eps[i:i + MAX_PER_SLICE]))
        return out or [([], [])]

    # -- reconcile -------------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        store = self.ctx.store
        svc = store.try_get(self.svc_rt, ns, name)
        existing = sorted((s for k in self.slices.get((ns, name)) if (s := store.try_get(self.slice_rt, *k))),
                          key=lambda s: s["metadata"]["name"])
        if svc is None or not (svc.get("spec") or {}).get("selector") or \
                (svc.get("spec") or {}).get("type") == "ExternalName":
            return None  # the garbage collector removes slices of a deleted service
        labels = {**service_labels(svc), SERVICE_NAME: name, MANAGED_BY: CONTROLLER_NAME}
        desired = self._desired(svc)
        try:
            for i, (ports, eps) in enumerate(desired):
                cur = existing[i] if i < len(existing) else None
                self._apply(svc, cur, labels, ports, eps)
            for extra in existing[len(desired):]:
                store.delete(self.slice_rt, *obj_key(extra))
        except st.ApiError as e:
            return None if e.code in (403, 404) else 1.0
        return None

    def _apply(self, svc: Obj, cur: Obj | None, labels: dict[str, str], ports: list[Obj], eps: list[Obj]) -> None:
        endpoints = eps or None
        if cur is not None and cur.get("endpoints") == endpoints and (cur.get("ports") or []) == ports and \
                (cur["metadata"].get("labels") or {}) == labels and cur.get("addressType") == "IPv4":
            return
        ann = dict(((cur or {}).get("metadata") or {}).get("annotations") or {})
        ann[TRIGGER_ANNOTATION] = trigger_time(self.ctx)
        if cur is None:
            meta = {"generateName": svc["metadata"]["name"] + "-", "namespace": svc["metadata"]["namespace"],
                    "labels": labels, "annotations": ann, "ownerReferences": [owner_reference(svc)]}
        else:
            meta = {**cur["metadata"], "labels": labels, "annotations": ann}
        obj: Obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta,
                    "addressType": "IPv4", "endpoints": endpoints}
        if ports:
            obj["ports"] = ports
        if cur is None:
            self.ctx.store.create(self.slice_rt, obj)
        else:
            self.ctx.store.update(self.slice_rt, obj, check_rv=False)

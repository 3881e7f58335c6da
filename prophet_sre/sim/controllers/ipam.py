"""Service IP and NodePort allocation, as an admission step (what the apiserver's Service REST does).

ClusterIPs come from 10.96.0.0/12 at random (deterministically seeded) and NodePorts from
30000-32767; user-chosen values are honoured when free and rejected with the apiserver's exact 422
texts otherwise. The allocation tables are derived from *committed* Services only (via the store's
write events), so a dry-run or a create that fails later in admission leaks nothing.
"""

from __future__ import annotations

import ipaddress
import random
import threading
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.store import Store, WatchEvent

Obj = dict[str, Any]
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORT_RANGE = (30000, 32767)
RESERVED = {"10.96.0.1": ("default", "kubernetes"), "10.96.0.10": ("kube-system", "kube-dns")}


def _invalid(name: str, field: str, detail: str) -> st.ApiError:
    message = f'Service "{name}" is invalid: {field}: {detail}'
    return st.invalid({"message": message, "details": {"name": name, "kind": "Service", "causes": [
        {"reason": "FieldValueInvalid", "message": detail, "field": field}]}})


def _needs_ip(spec: Obj) -> bool:
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


def _needs_node_ports(spec: Obj) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


class ServiceIPAllocator:
    """`store.Admission` for core/v1 Services: `allocator(rt, obj, old, op)`."""

    def __init__(self, store: Store, registry: Registry, seed: int = 0) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.ips: dict[str, tuple[str, str]] = {}
        self.ports: dict[int, tuple[str, str]] = {}
        self._held: dict[tuple[str, str], tuple[tuple[str, ...], tuple[int, ...]]] = {}
        rt = registry.get("", "v1", "services")
        if rt is not None:
            for svc in store.objects(rt):
                self._record(svc, None)
        store.subscribe(self._on_event)

    # -- committed state -------------------------------------------------------------------------------
    def _on_event(self, ev: WatchEvent) -> None:
        if ev.storage_key != ("", "services"):
            return
        with self._lock:
            self._record(None if ev.type == "DELETED" else ev.obj, ev.old if ev.type != "ADDED" else None)
            if ev.type == "DELETED":
                self._forget(ev.obj)

    def _owner(self, svc: Obj) -> tuple[str, str]:
        m = svc.get("metadata") or {}
        return (m.get("namespace", "") or "", m.get("name", ""))

    def _forget(self, svc: Obj) -> None:
        who = self._owner(svc)
        ips, ports = self._held.pop(who, ((), ()))
        for ip in ips:
            if self.ips.get(ip) == who:
                del self.ips[ip]
        for p in ports:
            if self.ports.get(p) == who:
                del self.ports[p]

    def _record(self, svc: Obj | None, old: Obj | None) -> None:
        if old is not None:
            self._forget(old)
        if svc is None:
            return
        who = self._owner(svc)
        spec = svc.get("spec") or {}
        ips = [ip for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
               if ip and ip != "None"]
        ports = [int(p["nodePort"]) for p in spec.get("ports") or () if p.get("nodePort")]
        if spec.get("healthCheckNodePort"):
            ports.append(int(spec["healthCheckNodePort"]))
        for ip in ips:
            self.ips[ip] = who
        for p in ports:
            self.ports[p] = who
        self._held[who] = (tuple(ips), tuple(ports))

    # -- admission -------------------------------------------------------------------------------------
    def __call__(self, rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
        if rt.kind != "Service" or rt.group:
            return
        with self._lock:
            spec = obj.setdefault("spec", {})
            name = (obj.get("metadata") or {}).get("name", "")
            who = (obj["metadata"].get("namespace", "") or "", name)
            old_spec = (old or {}).get("spec") or {}
            self._cluster_ip(spec, old_spec, name, who)
            self._node_ports(spec, old_spec, name, who)

    def _cluster_ip(self, spec: Obj, old_spec: Obj, name: str, who: tuple[str, str]) -> None:
        if not _needs_ip(spec):
            if spec.get("type") == "ExternalName":
                for k in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                    spec.pop(k, None)
            else:
                spec["clusterIPs"] = ["None"]
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
            return
        wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0]
        if not wanted and _needs_ip(old_spec):
            wanted = old_spec.get("clusterIP") or ""
        keep = bool(wanted) and wanted == old_spec.get("clusterIP")
        if wanted and not keep:
            field = "spec.clusterIPs"
            shown = f'[]string{{"{wanted}"}}'
            try:
                addr = ipaddress.ip_address(wanted)
            except ValueError:
                raise _invalid(name, "spec.clusterIPs[0]", f'Invalid value: "{wanted}": must be a valid IP address, '
                                                             "(e.g. 10.9.8.7 or 2001:db8::ffff)") from None
            if addr not in SERVICE_CIDR:
                raise _invalid(name, field, f"Invalid value: {shown}: failed to allocate IP {wanted}: the provided "
                                            f"IP ({wanted}) is not in the valid range. The range of valid IPs is "
                                            f"{SERVICE_CIDR}")
            if self.ips.get(wanted, who) != who or RESERVED.get(wanted, who) != who:
                raise _invalid(name, field, f"Invalid value: {shown}: failed to allocate IP {wanted}: provided IP "
                                            "is already allocated")
        if not wanted:
            wanted = self._random_ip(who)
        spec["clusterIP"] = wanted
        spec["clusterIPs"] = [wanted]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")

    def _random_ip(self, who: tuple[str, str]) -> str:
        for ip, owner in RESERVED.items():
            if owner == who and ip not in self.ips:
                return ip
        base = int(SERVICE_CIDR.network_address)
        size = SERVICE_CIDR.num_addresses
        for _ in range(10_000):
            off = self._rng.randrange(1, size - 1)
            ip = str(ipaddress.ip_address(base + off))
            if ip not in self.ips and ip not in RESERVED:
                return ip
        raise st.internal("failed to allocate a serviceIP: range is full")

    def _node_ports(self, spec: Obj, old_spec: Obj, name: str, who: tuple[str, str]) -> None:
        ports = spec.get("ports") or []
        if not _needs_node_ports(spec):
            for p in ports:
                p.pop("nodePort", None)
            spec.pop("healthCheckNodePort", None)
            return
        old_by = {(p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort") for p in old_spec.get("ports") or ()}
        taken: set[int] = set()
        for i, p in enumerate(ports):
            np = p.get("nodePort") or old_by.get((p.get("port"), p.get("protocol") or "TCP"))
            if np:
                np = int(np)
                mine = old_by.get((p.get("port"), p.get("protocol") or "TCP")) == np
                if not NODE_PORT_RANGE[0] <= np <= NODE_PORT_RANGE[1]:
                    raise _invalid(name, f"spec.ports[{i}].nodePort",
                                   f"Invalid value: {np}: provided port is not in the valid range. The range of "
                                   f"valid ports is {NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}")
                if not mine and (self.ports.get(np, who) != who or np in taken):
                    raise _invalid(name, f"spec.ports[{i}].nodePort",
                                   f"Invalid value: {np}: provided port is already allocated")
            else:
                np = self._random_port(taken)
            p["nodePort"] = np
            taken.add(np)
        if spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local" and \
                not spec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old_spec.get("healthCheckNodePort") or self._random_port(taken)

    def _random_port(self, taken: set[int]) -> int:
        lo, hi = NODE_PORT_RANGE
        for _ in range(10_000):
            p = self._rng.randint(lo, hi)
            if p not in self.ports and p not in taken:
                return p
        raise st.internal("failed to allocate a nodePort: range is full")

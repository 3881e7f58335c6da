"""Global traffic across the fleet: one Gateway API HTTPRoute with a weighted backend per workload cluster.

The management cluster holds GatewayClass `prophet-sim`, Gateway `fleet/global-gateway`, a ServiceImport
`fleet/shop-<cluster>` per workload cluster, and HTTPRoute `fleet/global-shop` whose single rule sends
traffic to those imports with equal `weight`s. Failover is nothing special: patch the weights (set the
degraded cluster's to 0) through the API like any other object. `weights`/`shares` read the *stored*
route, so whatever an agent or kubectl wrote is what the traffic and metrics models see.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.fleet.objects import NAMESPACE
from prophet_sre.sim.store import Store

Obj = dict[str, Any]
GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_V = f"{GATEWAY_GROUP}/v1"
MCS_GROUP = "multicluster.x-k8s.io"
ROUTE_NAME = "global-shop"
GATEWAY_NAME = "global-gateway"
GATEWAY_CLASS = "prophet-sim"
CONTROLLER_NAME = "sim.prophet.io/gateway-controller"
HOSTNAME = "shop.example.com"
BACKEND_PREFIX = "shop-"
BACKEND_PORT = 8080
GATEWAY_ADDRESS = "203.0.113.10"


def backend_name(cluster: str) -> str:
    return f"{BACKEND_PREFIX}{cluster}"


def cluster_of(backend: Obj) -> str | None:
    """The workload cluster a backendRef sends to (ServiceImport `shop-<cluster>`), or None."""
    if backend.get("kind") != "ServiceImport" or not str(backend.get("name", "")).startswith(BACKEND_PREFIX):
        return None
    return str(backend["name"])[len(BACKEND_PREFIX):]


def gateway_class() -> Obj:
    return {"apiVersion": GATEWAY_V, "kind": "GatewayClass", "metadata": {"name": GATEWAY_CLASS},
            "spec": {"controllerName": CONTROLLER_NAME,
                     "description": "Global load balancer in front of the simulated fleet"}}


def gateway() -> Obj:
    return {"apiVersion": GATEWAY_V, "kind": "Gateway", "metadata": {"name": GATEWAY_NAME, "namespace": NAMESPACE},
            "spec": {"gatewayClassName": GATEWAY_CLASS,
                     "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "hostname": HOSTNAME,
                                    "allowedRoutes": {"namespaces": {"from": "Same"}}}]}}


def service_import(cluster: str, index: int) -> Obj:
    return {"apiVersion": f"{MCS_GROUP}/v1alpha1", "kind": "ServiceImport",
            "metadata": {"name": backend_name(cluster), "namespace": NAMESPACE,
                         "labels": {"cluster.x-k8s.io/cluster-name": cluster}},
            "spec": {"type": "ClusterSetIP", "ips": [f"10.112.0.{10 + index}"],
                     "ports": [{"name": "http", "port": BACKEND_PORT, "protocol": "TCP"}]}}


def http_route(clusters: list[str], weight: int = 1) -> Obj:
    backends = [{"group": MCS_GROUP, "kind": "ServiceImport", "name": backend_name(c), "port": BACKEND_PORT,
                 "weight": weight} for c in clusters]
    return {"apiVersion": GATEWAY_V, "kind": "HTTPRoute", "metadata": {"name": ROUTE_NAME, "namespace": NAMESPACE},
            "spec": {"parentRefs": [{"group": GATEWAY_GROUP, "kind": "Gateway", "name": GATEWAY_NAME}],
                     "hostnames": [HOSTNAME],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                "backendRefs": backends}]}}


def _accepted(generation: int, *extra: tuple[str, str, str]) -> list[Obj]:
    out = [{"type": t, "status": "True", "reason": r, "message": m, "observedGeneration": generation}
           for t, r, m in (("Accepted", "Accepted", "Resource accepted"), *extra)]
    return out


def gateway_class_status(obj: Obj) -> Obj:
    return {"conditions": _accepted(obj["metadata"].get("generation", 1))}


def gateway_status(obj: Obj) -> Obj:
    gen = obj["metadata"].get("generation", 1)
    return {"addresses": [{"type": "IPAddress", "value": GATEWAY_ADDRESS}],
            "conditions": _accepted(gen, ("Programmed", "Programmed", "Resource programmed")),
            "listeners": [{"name": "http", "attachedRoutes": 1,
                           "supportedKinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}],
                           "conditions": _accepted(gen, ("Programmed", "Programmed", "Listener programmed"),
                                                   ("ResolvedRefs", "ResolvedRefs", "Resolved all references"))}]}


def route_status(route: Obj, known: set[str]) -> Obj:
    """Accepted by the gateway; ResolvedRefs False if a backend names an unknown cluster's import."""
    gen = route["metadata"].get("generation", 1)
    missing = [b.get("name", "") for r in route["spec"].get("rules") or () for b in r.get("backendRefs") or ()
               if cluster_of(b) not in known]
    conds = _accepted(gen)
    if missing:
        conds.append({"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound",
                      "message": f"backendRef {missing[0]} not found", "observedGeneration": gen})
    else:
        conds.append({"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs",
                      "message": "Resolved all the Object references for the Route", "observedGeneration": gen})
    parent = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": GATEWAY_NAME, "namespace": NAMESPACE}
    return {"parents": [{"parentRef": parent, "controllerName": CONTROLLER_NAME, "conditions": conds}]}


def _route_rt(store: Store) -> Any:
    rt = store.registry.storage_type(GATEWAY_GROUP, "httproutes")
    if rt is None:
        raise LookupError("the Gateway API CRDs are not installed in this cluster")
    return rt


def route_weights(route: Obj | None) -> dict[str, int]:
    """{cluster: weight} from the first rule that sends to fleet backends (missing weight = 1)."""
    for rule in ((route or {}).get("spec") or {}).get("rules") or ():
        out: dict[str, int] = {}
        for b in rule.get("backendRefs") or ():
            name = cluster_of(b)
            if name is not None:
                out[name] = out.get(name, 0) + int(b.get("weight", 1) if b.get("weight") is not None else 1)
        if out:
            return out
    return {}


def weights(store: Store, *, namespace: str = NAMESPACE, name: str = ROUTE_NAME) -> dict[str, int]:
    """The effective weight per workload cluster in the stored HTTPRoute ({} if there is none)."""
    return route_weights(store.try_get(_route_rt(store), namespace, name))


def shares(store: Store, *, namespace: str = NAMESPACE, name: str = ROUTE_NAME) -> dict[str, float]:
    """Each cluster's fraction of global traffic (weight / sum of weights; all 0.0 if every weight is 0)."""
    w = weights(store, namespace=namespace, name=name)
    total = sum(w.values())
    return {k: (v / total if total else 0.0) for k, v in w.items()}


def shift_traffic(store: Store, new_weights: Mapping[str, int], *, namespace: str = NAMESPACE,
                  name: str = ROUTE_NAME) -> dict[str, int]:
    """Set the weights of the named clusters' backends (others unchanged); returns the new weights.

    This is the in-process equivalent of `kubectl patch httproute global-shop --type=json ...`, for tests.
    """
    rt = _route_rt(store)
    for _ in range(5):
        route = copy.deepcopy(store.get(rt, namespace, name))
        unknown = set(new_weights) - set(route_weights(route))
        if unknown:
            raise KeyError(f"no backend for cluster(s) {', '.join(sorted(unknown))} in HTTPRoute {namespace}/{name}")
        for rule in route["spec"].get("rules") or ():
            for b in rule.get("backendRefs") or ():
                cluster = cluster_of(b)
                if cluster in new_weights:
                    b["weight"] = int(new_weights[cluster])
        try:
            return route_weights(store.update(rt, route))
        except st.ApiError as e:
            if e.reason != "Conflict":
                raise
    raise RuntimeError(f"HTTPRoute {namespace}/{name} kept changing; weights not applied")

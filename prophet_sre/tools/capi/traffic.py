"""Global traffic: each workload cluster's weight in the Gateway API HTTPRoute in front of the fleet.

The cluster a backendRef belongs to follows the failover action's convention (tools/actions/fleet.py),
so what is read here is what failover writes:
1. the object the backendRef points at (kind Service unless it says otherwise, the route's namespace
   unless it says otherwise) carries the label or annotation `prophet.io/cluster` or
   `cluster.x-k8s.io/cluster-name`;
2. otherwise its name ends with `-<cluster>` (`shop-aws` belongs to `aws`; the longest known name wins).
A cluster's weight is that of its first backendRef (failover gives all of a cluster's backendRefs the
same weight); a missing weight is 1, as in Gateway API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prophet_sre.errors import NotFound, ToolError
from prophet_sre.tools.capi.models import TrafficSplit
from prophet_sre.tools.kube import objects
from prophet_sre.tools.kube.client import KubeClient

CLUSTER_KEYS = ("prophet.io/cluster", "cluster.x-k8s.io/cluster-name")

Lookup = Callable[[dict[str, Any], str], dict[str, Any]]
"""(backendRef, route namespace) -> the object it points at, or {} when it cannot be read."""


def cluster_of_backend(backend_name: str, clusters: Sequence[str]) -> str | None:
    """The cluster a backendRef name belongs to: the longest known X such that the name ends with `-X`."""
    matches = [c for c in clusters if backend_name.endswith(f"-{c}")]
    return max(matches, key=len) if matches else None


def kube_lookup(kube: KubeClient) -> Lookup:
    """Read backendRef targets through `kube`; anything unreadable counts as unlabelled (rule 2 decides)."""
    def lookup(ref: dict[str, Any], route_ns: str) -> dict[str, Any]:
        kind = objects.text(ref.get("kind")) or "Service"
        group = objects.text(ref.get("group"))
        try:
            rk = kube.resolve(f"{kind}.{group}" if group else kind)
            return kube.get(rk, objects.text(ref.get("name")), objects.text(ref.get("namespace")) or route_ns)
        except ToolError:
            return {}
    return lookup


def backend_cluster(ref: dict[str, Any], route_ns: str, clusters: Sequence[str],
                    lookup: Lookup | None = None) -> str | None:
    """The cluster one backendRef belongs to (rules 1 and 2 of the module docstring), or None."""
    target = lookup(ref, route_ns) if lookup else {}
    labelled = next((v for k in CLUSTER_KEYS
                     if (v := objects.labels(target).get(k) or objects.annotations(target).get(k))), None)
    return labelled or cluster_of_backend(objects.text(ref.get("name")), clusters)


def split(route: dict[str, Any], clusters: Sequence[str], lookup: Lookup | None = None) -> TrafficSplit:
    """The per-cluster weights of one HTTPRoute (see the module docstring for the mapping)."""
    ns = objects.namespace(route)
    weights: dict[str, int] = {}
    unmapped: list[str] = []
    for rule in objects.items(objects.dig(route, "spec", "rules")):
        for ref in objects.items(rule.get("backendRefs")):
            name = objects.text(ref.get("name"))
            cluster = backend_cluster(ref, ns, clusters, lookup)
            if cluster is None:
                unmapped += [name] if name not in unmapped else []
            elif cluster not in weights:
                weights[cluster] = objects.num(ref.get("weight"), 1) if ref.get("weight") is not None else 1
    return TrafficSplit(route=f"{ns}/{objects.name(route)}", weights=weights, unmapped=unmapped)


def choose(candidates: Sequence[TrafficSplit], clusters: Sequence[str]) -> TrafficSplit:
    """The global route among several: the one whose backends reach the most clusters (ties: an error)."""
    ranked = sorted((c for c in candidates if c.weights), key=lambda c: -len(c.weights))
    if not ranked:
        raise NotFound("no HTTPRoute sends traffic to the workload clusters (backendRefs labelled "
                       f"{CLUSTER_KEYS[0]} or named `<service>-<cluster>` for clusters "
                       f"{', '.join(clusters) or '(none)'})")
    if len(ranked) > 1 and len(ranked[1].weights) == len(ranked[0].weights):
        names = ", ".join(c.route for c in ranked)
        raise ToolError(f"several HTTPRoutes route to the clusters ({names}); name the global one")
    return ranked[0]


__all__ = ["CLUSTER_KEYS", "Lookup", "choose", "cluster_of_backend", "kube_lookup", "split"]

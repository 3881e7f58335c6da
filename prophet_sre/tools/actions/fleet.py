"""Fleet actions, sent to the management cluster: `scale_nodes` and `failover`.

`scale_nodes` scales a Cluster API MachineDeployment (`cluster.x-k8s.io/v1beta2`) through its `/scale`
subresource, as `kubectl scale machinedeployment` does; CAPI then creates or deletes Machines and the
workload cluster gains or loses Nodes. A `Cluster` target means its one MachineDeployment.

`failover` re-weights the backendRefs of a Gateway API HTTPRoute. Mapping convention, in order:
1. the object a backendRef points at (same namespace unless it says otherwise) carries the label or
   annotation `prophet.io/cluster` or `cluster.x-k8s.io/cluster-name` naming the cluster;
2. otherwise the backendRef's name ends with `-<cluster>` (`shop-aws` belongs to `aws`).
Every backendRef of a cluster gets that cluster's weight; clusters not named keep theirs. The whole
`spec.rules` list goes in one merge patch pinned to the resourceVersion it was computed from, so a
concurrent edit is a 409 and a re-read, never a silent overwrite.
"""

from __future__ import annotations

import copy
from typing import Any

from prophet_sre import errors
from prophet_sre.domain import FailoverAction, ScaleNodesAction
from prophet_sre.tools.actions import base, results
from prophet_sre.tools.actions.base import Obj
from prophet_sre.tools.actions.scaling import Scale
from prophet_sre.tools.capi import traffic as capi_traffic
from prophet_sre.tools.kube import errors as kerr
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.kinds import ResourceKind

MACHINE_DEPLOYMENT = ResourceKind("cluster.x-k8s.io", "v1beta2", "machinedeployments", "MachineDeployment", True,
                                  ("md",))
HTTPROUTE = ResourceKind("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", True)
CLUSTER_KEYS = capi_traffic.CLUSTER_KEYS
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"


class ScaleNodes(Scale):
    """A MachineDeployment's replicas: Machines, hence Nodes, of a workload cluster."""

    action: ScaleNodesAction
    _md_name = ""

    def kind(self) -> ResourceKind:
        return MACHINE_DEPLOYMENT

    def _name(self) -> str:
        t = self.action.target
        if t.kind == "MachineDeployment":
            return t.name
        if not self._md_name:
            if t.kind != "Cluster":
                raise errors.ToolError(f"scale_nodes targets a MachineDeployment or a Cluster, not {t.kind}")
            mds = self.kube.list(MACHINE_DEPLOYMENT, t.namespace, label_selector=f"{CLUSTER_NAME_LABEL}={t.name}")
            if len(mds) != 1:
                raise errors.NotFound(f"Cluster {t.namespace}/{t.name} has {len(mds)} MachineDeployments "
                                      f"({', '.join(o.name(m) for m in mds) or 'none'}): target one of them")
            self._md_name = o.name(mds[0])
        return self._md_name

    def read(self) -> Obj:
        return self.kube.get_json(MACHINE_DEPLOYMENT.path(self.namespace, self._name(), "scale"), op=self._op("get"))

    def _op(self, verb: str) -> kerr.Op:
        return kerr.Op(verb, "machinedeployments/scale", MACHINE_DEPLOYMENT.group, self.namespace, self._name())

    def request_for(self, body: Any, content_type: str) -> base.Request:
        return base.write_request("PATCH", MACHINE_DEPLOYMENT, self.namespace, self._name(), body=body,
                                  content_type=content_type, subresource="scale")

    def title(self) -> str:
        return f"MachineDeployment/scale {self.namespace}/{self._name()}"

    def describe(self) -> str:
        return (f"set the MachineDeployment's replicas to {self.action.replicas}: Cluster API creates or deletes "
                "Machines, and the workload cluster gains or loses Nodes")

    def reversibility(self) -> str:
        return "reversible: the previous replica count is set again (removed nodes come back as new machines)"

    def blast_radius(self) -> results.BlastRadius:
        d = self.delta()
        return results.BlastRadius(nodes=d, namespaces=[self.namespace],
                                detail=f"{d} nodes added or removed in the workload cluster")


class Failover(base.SingleWrite):
    action: FailoverAction

    def kind(self) -> ResourceKind:
        return HTTPROUTE

    def describe(self) -> str:
        weights = ", ".join(f"{c}={w}" for c, w in sorted(self.action.weights.items()))
        return f"shift traffic between clusters: backend weights {weights} (other clusters keep theirs)"

    def reversibility(self) -> str:
        return "reversible: the previous weights are set again"

    def cluster_of(self, backend: Obj, route_ns: str, known: set[str]) -> str | None:
        """The cluster a backendRef belongs to (the one mapping, shared with the fleet inventory), or None."""
        return capi_traffic.backend_cluster(backend, route_ns, sorted(known), capi_traffic.kube_lookup(self.kube))

    def mapping(self, route: Obj) -> list[tuple[int, int, str]]:
        """(rule index, backendRef index, cluster) for every backendRef that belongs to a cluster."""
        ns, known = o.namespace(route), set(self.action.weights)
        out = []
        for i, rule in enumerate(o.items(o.dig(route, "spec", "rules"))):
            for j, b in enumerate(o.items(rule.get("backendRefs"))):
                cluster = self.cluster_of(b, ns, known)
                if cluster is not None:
                    out.append((i, j, cluster))
        return out

    def build(self, live: Obj) -> base.Request | str:
        mapped = self.mapping(live)
        found = {c for _, _, c in mapped}
        missing = sorted(set(self.action.weights) - found)
        if missing:
            raise errors.NotFound(f"no backendRef of HTTPRoute {o.namespace(live)}/{o.name(live)} belongs to "
                                  f"cluster(s) {', '.join(missing)} (mapped: {', '.join(sorted(found)) or 'none'})")
        rules = copy.deepcopy(o.items(o.dig(live, "spec", "rules")))
        changed = False
        for i, j, cluster in mapped:
            if cluster in self.action.weights:
                ref = rules[i]["backendRefs"][j]
                changed |= ref.get("weight", 1) != self.action.weights[cluster]
                ref["weight"] = self.action.weights[cluster]
        if not changed:
            return "the route already has these weights"
        rv = o.text(o.dig(live, "metadata", "resourceVersion"))
        return self.request_for({"metadata": {"resourceVersion": rv}, "spec": {"rules": rules}}, base.MERGE_PATCH)

    def weights(self, route: Obj) -> dict[str, int]:
        """{cluster: weight} (the first backendRef's weight per cluster; a missing weight is 1)."""
        out: dict[str, int] = {}
        for i, j, cluster in self.mapping(route):
            ref = o.items(o.dig(route, "spec", "rules"))[i]["backendRefs"][j]
            out.setdefault(cluster, o.num(ref.get("weight"), 1) if ref.get("weight") is not None else 1)
        return out

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        return {"weights": self.weights(obj)}

    def inverse(self, before: dict[str, Any]) -> FailoverAction | None:
        prev = {c: w for c, w in o.mapping(before.get("weights")).items() if c in self.action.weights}
        if not prev or sum(prev.values()) <= 0 or prev == self.action.weights:
            return None  # nothing to restore, or weights a FailoverAction cannot carry (all zero)
        return FailoverAction(target=self.action.target, risk=self.action.risk, weights=prev,
                              reason="undo failover: previous weights")

    def blast_radius(self) -> results.BlastRadius:
        before = self.weights(self.read())
        after = {**before, **self.action.weights}
        share = {k: (before.get(k, 0) / (sum(before.values()) or 1), after[k] / (sum(after.values()) or 1))
                 for k in sorted(after)}
        detail = ", ".join(f"{k} {a:.0%}->{b:.0%}" for k, (a, b) in share.items())
        return results.BlastRadius(namespaces=[self.namespace], detail=f"traffic shares {detail}")


__all__ = ["HTTPROUTE", "MACHINE_DEPLOYMENT", "Failover", "ScaleNodes"]

"""The fleet controller: Cluster API's controllers, in the management cluster, for every workload cluster.

It runs in the management cluster's controller manager and, per workload cluster, every `resync_s` sim
seconds (and at once when a MachineDeployment, MachineSet or Machine changes):

1. applies the world side of a `cluster_degraded` fault - read from **the workload cluster's own**
   `knobs` (effect target = that cluster's name): its worker kubelets stop (`params.nodes: "all"` stops
   the control plane too), so that cluster's node lifecycle controller turns its Nodes `Unknown` after
   the node-monitor grace period;
   `params.api_down: true` also makes its API unreachable from the management cluster, which CAPI reports
   as `RemoteConnectionProbe=False` after the 50 s remote-connection grace period;
2. scales MachineSets and Machines to the MachineDeployments and runs the Machine lifecycle
   (`machines.MachineOps`);
3. writes the status of Machines, MachineSets, MachineDeployments, the KubeadmControlPlane, the
   MachineHealthCheck and the Cluster from the workload cluster's Nodes (`health`).

Writes to a workload cluster run on that cluster's own event loop (`SimCluster.call_in_loop`); reads are
lock-free snapshots. The management store is only touched from this controller's own loop.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.fleet import conditions, health, traffic
from prophet_sre.sim.fleet import nodes as nd
from prophet_sre.sim.fleet import objects as o
from prophet_sre.sim.fleet.machines import MachineOps
from prophet_sre.sim.fleet.providers import provider_for
from prophet_sre.sim.knobs import Effect
from prophet_sre.sim.store import Store, WatchEvent

if TYPE_CHECKING:
    from prophet_sre.sim.cluster import SimCluster

Obj = dict[str, Any]
TRAFFIC_KEY = "__traffic__"
REMOTE_CONNECTION_GRACE_S = 50.0
"""CAPI's --remote-connection-grace-period default."""
FAULT_KIND = "cluster_degraded"


class FleetController(Controller):
    name = "fleet-controller"
    watches = ((o.CAPI, "machinedeployments"), (o.CAPI, "machinesets"), (o.CAPI, "machines"),
               (traffic.GATEWAY_GROUP, "httproutes"))
    resync_s = 2.0

    def __init__(self, ctx: ControllerContext, workloads: Mapping[str, SimCluster]) -> None:
        super().__init__(ctx)
        self.workloads = workloads
        self.ops = MachineOps(ctx)
        self.cluster_rt = ctx.rt(o.CAPI, "clusters")
        self.kcp_rt = ctx.rt(o.CONTROLPLANE_GROUP, "kubeadmcontrolplanes")
        self.mhc_rt = ctx.rt(o.CAPI, "machinehealthchecks")
        self.route_rt = ctx.rt(traffic.GATEWAY_GROUP, "httproutes")
        self._stopped: set[tuple[str, str]] = set()
        self._fail_since: dict[str, float] = {}
        self._last_ok: dict[str, str] = {}
        self._views: dict[str, dict[str, nd.NodeView]] = {}

    # -- events -> keys ---------------------------------------------------------------------------------------
    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == (traffic.GATEWAY_GROUP, "httproutes"):
            return [TRAFFIC_KEY]
        cluster = (ev.obj.get("spec") or {}).get("clusterName")
        if not cluster or cluster not in self.workloads:
            return ()
        if ev.type != "MODIFIED" or ev.old is None:
            return [cluster]
        old_m, new_m = ev.old.get("metadata") or {}, ev.obj.get("metadata") or {}
        if old_m.get("generation") != new_m.get("generation") or \
                old_m.get("deletionTimestamp") != new_m.get("deletionTimestamp"):
            return [cluster]
        return ()  # a status write (ours): nothing to do

    def resync(self) -> Iterable[Hashable]:
        return [*self.workloads, TRAFFIC_KEY]

    def reconcile(self, key: Hashable) -> float | None:
        if key == TRAFFIC_KEY:
            self._reconcile_route()
            return None
        return self.reconcile_cluster(str(key))

    # -- one workload cluster ---------------------------------------------------------------------------------
    def reconcile_cluster(self, name: str) -> float | None:
        w = self.workloads.get(name)
        if w is None:
            return None
        # a deleted Cluster still has Machines to tear down (the GC deletes them): only the status goes
        cluster = self.ctx.store.try_get(self.cluster_rt, o.NAMESPACE, name)
        p = provider_for(name)
        t, now = self.ctx.clock.elapsed(), self.ctx.clock.now()
        effects = [e for e in w.knobs.active(FAULT_KIND, t) if e.target == name]
        busy = bool(self._run_in(w, self._apply_fault, w.store, name, effects))
        api_down = any(bool(e.params.get("api_down")) for e in effects)
        probe = self._probe(name, api_down, t)
        if not api_down:
            self._views[name] = {n["metadata"]["name"]: nd.view(n) for n in nd.nodes(w.store)}
            busy |= self.ops.scale(name, p)
            machines = self.ops.of_cluster(self.ops.machine_rt, name)
            by_machine = {v.machine: v for v in self._views[name].values() if v.machine}

            def run_in(fn: Any, *args: Any) -> Any:
                return self._run_in(w, fn, *args)

            busy |= self.ops.lifecycle(name, p, machines, by_machine, run_in, w.store, t)
            self._views[name] = {n["metadata"]["name"]: nd.view(n) for n in nd.nodes(w.store)}
        elif probe.ok:
            busy = True  # still inside the grace period: look again when it ends
        if cluster is not None:
            self._write_statuses(name, cluster, probe, now_s=rfc3339(now))
        if api_down and probe.ok:
            return max(0.5, REMOTE_CONNECTION_GRACE_S - (t - self._fail_since[name]))
        return 1.0 if busy else None

    def _run_in(self, w: SimCluster, fn: Any, *args: Any) -> Any:
        try:
            return w.call_in_loop(fn, *args)
        except RuntimeError:  # that cluster's loop has stopped (fleet shutting down)
            return None

    def _apply_fault(self, store: Store, name: str, effects: list[Effect]) -> bool:
        """Stop or restart kubelets for the cluster's fault; True while stopped Nodes still look Ready."""
        everything = any(e.params.get("nodes") == "all" for e in effects)
        pending = False
        for node in nd.nodes(store):
            node_name = node["metadata"]["name"]
            control_plane = "node-role.kubernetes.io/control-plane" in (node["metadata"].get("labels") or {})
            stop = bool(effects) and (everything or not control_plane)
            key = (name, node_name)
            if stop and key not in self._stopped:
                nd.set_stopped(store, node_name, True)
                self._stopped.add(key)
            elif not stop and key in self._stopped:
                nd.set_stopped(store, node_name, False)
                self._stopped.discard(key)
            pending |= stop and nd.view(node).ready == "True"
        return pending

    def _probe(self, name: str, api_down: bool, t: float) -> health.Probe:
        if not api_down:
            self._fail_since.pop(name, None)
            self._last_ok[name] = rfc3339(self.ctx.clock.now())
            return health.Probe(True, self._last_ok[name])
        since = self._fail_since.setdefault(name, t)
        return health.Probe(t - since < REMOTE_CONNECTION_GRACE_S, self._last_ok.get(name, ""))

    # -- status -------------------------------------------------------------------------------------------------
    def _put_status(self, rt: Any, obj: Obj, status: Obj, now_s: str) -> Obj:
        """Merge condition times against the stored status; write only if something changed."""
        old = obj.get("status") or {}
        new = dict(status)
        new["conditions"] = conditions.merge(old.get("conditions"), status.get("conditions") or [], now_s,
                                             obj["metadata"].get("generation"))
        if new == old:
            return obj
        try:
            return self.ctx.store.update(rt, {**obj, "status": new}, subresource="status", check_rv=False)
        except st.ApiError:
            return obj

    def _write_statuses(self, name: str, cluster: Obj, probe: health.Probe, now_s: str) -> None:
        store, ops, now = self.ctx.store, self.ops, self.ctx.clock.now()
        views = self._views.get(name, {})
        by_machine = {v.machine: v for v in views.values() if v.machine}
        mhcs = ops.of_cluster(self.mhc_rt, name)
        mhc = mhcs[0] if mhcs else None
        machines = []
        for m in ops.of_cluster(ops.machine_rt, name):
            node = by_machine.get(m["metadata"]["name"])
            status = health.machine_status(m, node, now, probe=probe, mhc=mhc, drained=node is None)
            machines.append(self._put_status(ops.machine_rt, m, status, now_s))
        cp = [m for m in machines if o.CONTROL_PLANE_LABEL in (m["metadata"].get("labels") or {})]
        workers = [m for m in machines if o.CONTROL_PLANE_LABEL not in (m["metadata"].get("labels") or {})]
        for ms in ops.of_cluster(ops.ms_rt, name):
            owned = [m for m in workers if (m["metadata"].get("labels") or {}).get(o.SET_LABEL) == ms["metadata"]["name"]]
            self._put_status(ops.ms_rt, ms, health.scalable_status(ms, owned, with_available=False), now_s)
        mds = []
        for md in ops.of_cluster(ops.md_rt, name):
            owned = [m for m in workers
                     if (m["metadata"].get("labels") or {}).get(o.DEPLOYMENT_LABEL) == md["metadata"]["name"]]
            mds.append(self._put_status(ops.md_rt, md, health.scalable_status(md, owned, with_available=True), now_s))
        kcp = store.try_get(self.kcp_rt, o.NAMESPACE, o.kcp_name(name))
        if kcp is not None:
            kcp = self._put_status(self.kcp_rt, kcp, health.control_plane_status(kcp, cp), now_s)
        if mhc is not None:
            targets = [m for m in workers if all((m["metadata"].get("labels") or {}).get(k) == v for k, v in
                                                 ((mhc["spec"].get("selector") or {}).get("matchLabels") or {}).items())]
            self._put_status(self.mhc_rt, mhc, health.health_check_status(mhc, targets), now_s)
        status = health.cluster_status(cluster, kcp, mds, cp, workers, probe, provider_for(name).failure_domains())
        self._put_status(self.cluster_rt, cluster, status, now_s)

    def _reconcile_route(self) -> None:
        store = self.ctx.store
        for route in store.objects(self.route_rt, o.NAMESPACE):
            if route["metadata"]["name"] != traffic.ROUTE_NAME:
                continue
            status = traffic.route_status(route, set(self.workloads))
            old = route.get("status") or {}
            if _without_times(old) != _without_times(status):
                try:
                    store.update(self.route_rt, {**route, "status": _with_times(status, old, rfc3339(self.ctx.clock.now()))},
                                 subresource="status", check_rv=False)
                except st.ApiError:
                    pass


def _without_times(status: Obj) -> Obj:
    out = copy.deepcopy(status)
    for parent in out.get("parents") or ():
        for c in parent.get("conditions") or ():
            c.pop("lastTransitionTime", None)
    return out


def _with_times(status: Obj, old: Obj, now_s: str) -> Obj:
    old_conds = [c for p in old.get("parents") or () for c in p.get("conditions") or ()]
    out = copy.deepcopy(status)
    for parent in out["parents"]:
        merged = conditions.merge(old_conds, parent["conditions"], now_s, None)
        for c, m in zip(parent["conditions"], merged, strict=True):
            c["lastTransitionTime"] = m["lastTransitionTime"]
    return out

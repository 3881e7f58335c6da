"""MachineDeployment -> MachineSet -> Machine -> Node: scaling and the Machine lifecycle.

What the MachineDeployment, MachineSet and Machine controllers plus the infrastructure provider do,
reduced to the parts an SRE sees: `spec.replicas` on a MachineDeployment (patched, or through the `scale`
subresource) flows to its MachineSet, which creates or deletes Machines (newest first, matching the
MachineDeployment's `deletion.order: Newest`); a new Machine is `Provisioning` until its instance is up
(`health.PROVISION_S`), then its Node registers in the workload cluster; a deleted Machine keeps its
finalizer while its Node is cordoned and drained and its instance terminates (`TERMINATE_S`), then the
Node is removed and the finalizer comes off.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import ControllerContext
from prophet_sre.sim.fleet import nodes as nd
from prophet_sre.sim.fleet import objects as o
from prophet_sre.sim.fleet.health import PROVISION_S, age_s
from prophet_sre.sim.fleet.nodes import NodeView
from prophet_sre.sim.fleet.providers import Provider
from prophet_sre.sim.store import Store

Obj = dict[str, Any]
DRAIN_TIMEOUT_S = 30.0
"""Sim seconds a drain may take before the Node is removed with whatever pods are left."""
TERMINATE_S = 5.0
"""Sim seconds from the start of a Machine's deletion until its instance is gone (at the earliest)."""
RunIn = Callable[..., Any]
"""Runs a function against the workload cluster on that cluster's own thread."""


def created_s(obj: Obj) -> str:
    return str(obj["metadata"].get("creationTimestamp", ""))


class MachineOps:
    """Scaling and lifecycle steps for the Machines of one management cluster."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.store: Store = ctx.store
        self.md_rt = ctx.rt(o.CAPI, "machinedeployments")
        self.ms_rt = ctx.rt(o.CAPI, "machinesets")
        self.machine_rt = ctx.rt(o.CAPI, "machines")
        self._drain_started: dict[str, float] = {}
        self._issued: dict[str, int] = {}  # cluster -> highest worker-N handed out

    # -- listing ----------------------------------------------------------------------------------------
    def of_cluster(self, rt: Any, cluster: str) -> list[Obj]:
        return sorted((x for x in self.store.objects(rt, o.NAMESPACE)
                       if (x.get("spec") or {}).get("clusterName") == cluster),
                      key=lambda x: x["metadata"]["name"])

    def _event(self, obj: Obj, reason: str, message: str, component: str) -> None:
        self.ctx.events.normal(obj, reason, message, component=component)

    # -- MachineDeployment -> MachineSet -> Machines --------------------------------------------------------
    def scale(self, cluster: str, p: Provider) -> bool:
        """Bring every MachineSet of the cluster to its MachineDeployment's replicas; True if anything moved."""
        moved = False
        machines = self.of_cluster(self.machine_rt, cluster)
        for md in self.of_cluster(self.md_rt, cluster):
            if md["metadata"].get("deletionTimestamp"):
                continue
            ms = self._machine_set(md, p)
            desired = int(md["spec"].get("replicas") or 0)
            owned = [m for m in machines if (m["metadata"].get("labels") or {}).get(o.SET_LABEL) == ms["metadata"]["name"]
                     and not m["metadata"].get("deletionTimestamp")]
            if len(owned) < desired:
                used = Counter(m["spec"].get("failureDomain") for m in owned)
                for i in range(desired - len(owned)):
                    zone = min(p.zones, key=lambda z: (used[z], p.zones.index(z)))
                    used[zone] += 1
                    self._create_machine(ms, cluster, p, zone, i)
                moved = True
            elif len(owned) > desired:
                for victim in self._victims(owned, len(owned) - desired):
                    try:
                        self.store.delete(self.machine_rt, o.NAMESPACE, victim["metadata"]["name"])
                    except st.ApiError:
                        continue
                    self._event(ms, "SuccessfulDelete", f'Deleted machine "{victim["metadata"]["name"]}"',
                                "machineset-controller")
                moved = True
        return moved

    def _machine_set(self, md: Obj, p: Provider) -> Obj:
        name = md["metadata"]["name"]
        sets = [s for s in self.store.objects(self.ms_rt, o.NAMESPACE)
                if (s["metadata"].get("labels") or {}).get(o.DEPLOYMENT_LABEL) == name]
        if not sets:
            return self.store.create(self.ms_rt, o.machine_set(md, p))
        ms = sets[0]
        desired = md["spec"].get("replicas")
        if ms["spec"].get("replicas") != desired:
            updated = copy.deepcopy(ms)
            updated["spec"]["replicas"] = desired
            updated["metadata"].setdefault("annotations", {})[
                "machinedeployment.clusters.x-k8s.io/desired-replicas"] = str(desired)
            ms = self.store.update(self.ms_rt, updated, check_rv=False)
        return ms

    def _create_machine(self, ms: Obj, cluster: str, p: Provider, zone: str, i: int) -> Obj:
        """A new Machine `<machineset>-<5 chars>` (unique among the stored ones)."""
        base = ms["metadata"]["name"]
        for attempt in range(20):
            name = f"{base}-{o.suffix(base, str(self.store.resource_version), str(i), str(attempt))}"
            if self.store.try_get(self.machine_rt, o.NAMESPACE, name) is None:
                break
        machine = self.store.create(self.machine_rt, o.machine(name, cluster, p, ms, zone))
        self._event(ms, "SuccessfulCreate", f'Created machine "{name}"', "machineset-controller")
        return machine

    @staticmethod
    def _victims(owned: list[Obj], n: int) -> list[Obj]:
        """Machines to delete: ones without a ready node first, then the newest (deletion.order Newest)."""
        def ready(m: Obj) -> bool:
            return any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in (m.get("status") or {}).get("conditions") or ())
        newest_first = sorted(owned, key=lambda m: (created_s(m), m["metadata"]["name"]), reverse=True)
        return sorted(newest_first, key=ready)[:n]

    # -- Machine <-> Node ------------------------------------------------------------------------------------
    def lifecycle(self, cluster: str, p: Provider, machines: list[Obj], by_machine: dict[str, NodeView],
                  run_in: RunIn, workload: Store, t: float) -> bool:
        """Provision, join, drain and finalise Machines; True while something is still in progress."""
        busy = False
        now = self.ctx.clock.now()
        self._note_issued(cluster, [v.name for v in by_machine.values()])
        for m in machines:
            name = m["metadata"]["name"]
            node = by_machine.get(name)
            if m["metadata"].get("deletionTimestamp"):
                busy = True
                if node is not None:
                    started = self._drain_started.setdefault(name, t)
                    left = run_in(nd.cordon_and_drain, workload, node.name)
                    if (not left and t - started >= TERMINATE_S) or t - started >= DRAIN_TIMEOUT_S:
                        run_in(nd.remove, workload, node.name)
                else:
                    self._drain_started.pop(name, None)
                    self._release(m)
                continue
            if node is None:
                if o.CONTROL_PLANE_LABEL in (m["metadata"].get("labels") or {}):
                    continue
                busy = True
                if age_s(m, now) >= PROVISION_S:
                    joined = run_in(nd.join, workload, cluster, p, m, now, self._issued.get(cluster, 0))
                    if joined is not None:
                        self._note_issued(cluster, [joined["metadata"]["name"]])
                        self._set_provider_id(m, joined["spec"]["providerID"])
                        self._event(m, "SuccessfulSetNodeRef", joined["metadata"]["name"], "machine-controller")
                continue
            if not m["spec"].get("providerID") and node.provider_id:
                self._set_provider_id(m, node.provider_id)
        return busy

    def _note_issued(self, cluster: str, node_names: list[str]) -> None:
        """Remember the highest `worker-N` seen, so a replacement never reuses a gone Node's name."""
        for name in node_names:
            number = nd.WORKER_NAME.match(name)
            if number:
                self._issued[cluster] = max(self._issued.get(cluster, 0), int(number.group(1)))

    def _set_provider_id(self, m: Obj, provider_id: str) -> None:
        current = self.store.try_get(self.machine_rt, o.NAMESPACE, m["metadata"]["name"])
        if current is None or current["spec"].get("providerID") == provider_id:
            return
        updated = copy.deepcopy(current)
        updated["spec"]["providerID"] = provider_id
        self.store.update(self.machine_rt, updated, check_rv=False)

    def _release(self, m: Obj) -> None:
        """Drop the machine finalizer: the Node is gone, so the Machine may go too."""
        current = self.store.try_get(self.machine_rt, o.NAMESPACE, m["metadata"]["name"])
        if current is None:
            return
        updated = copy.deepcopy(current)
        updated["metadata"]["finalizers"] = [f for f in updated["metadata"].get("finalizers") or ()
                                             if f != o.MACHINE_FINALIZER]
        try:
            self.store.update(self.machine_rt, updated, check_rv=False)
        except st.ApiError:
            pass

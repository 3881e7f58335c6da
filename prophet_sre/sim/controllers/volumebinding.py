"""Volume binding as the scheduler and the apiserver's storage admission plugins see it.

Scheduler side (the VolumeBinding plugin): a pod whose claim is missing, being deleted, or unbound
with an `Immediate` class cannot be scheduled at all (PreFilter, with the exact message); a claim
bound to a volume with node affinity restricts the nodes; a `WaitForFirstConsumer` claim gets the
chosen node written to its `volume.kubernetes.io/selected-node` annotation and the pod waits until
the provisioner has bound it (PreBind). The provisioning itself is `volume.py`'s.

Admission side: DefaultStorageClass (a claim without `storageClassName` gets the default class),
StorageObjectInUseProtection (the `kubernetes.io/pvc-protection` and `pv-protection` finalizers) and
PersistentVolumeClaimResize (growing a claim needs a class with `allowVolumeExpansion: true`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import ControllerContext
from prophet_sre.sim.controllers.common import node_selector_terms_match, parse_quantity
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.store import Store

Obj = dict[str, Any]
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
AFFINITY_CONFLICT = "node(s) had volume node affinity conflict"
RESIZE_FORBIDDEN = ("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc "
                    "must support resize")


def claim_names(pod: Obj) -> list[str]:
    """The claims a pod mounts, in volume order."""
    return [v["persistentVolumeClaim"].get("claimName", "") for v in (pod.get("spec") or {}).get("volumes") or ()
            if isinstance(v.get("persistentVolumeClaim"), dict)]


def default_class(store: Store, sc_rt: ResourceType) -> Obj | None:
    """The default StorageClass; with several, the newest (as DefaultStorageClass picks since 1.26)."""
    marked = [sc for sc in store.objects(sc_rt)
              if ((sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS)
                  or (sc["metadata"].get("annotations") or {}).get(BETA_DEFAULT_CLASS)) == "true"]
    if not marked:
        return None
    return max(marked, key=lambda sc: (sc["metadata"].get("creationTimestamp") or "", sc["metadata"]["name"]))


def delayed_binding(sc: Obj | None) -> bool:
    return sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"


def pv_fits_node(pv: Obj, node: Obj) -> bool:
    """A volume's `spec.nodeAffinity.required` against a node (terms ORed, expressions ANDed)."""
    req = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {})
    terms = req.get("nodeSelectorTerms") or []
    if not terms:
        return True
    return node_selector_terms_match(terms, node)


@dataclass
class PodVolumes:
    """What the VolumeBinding plugin decided about one pod's claims."""

    error: str = ""
    """PreFilter failure (the pod fits no node at all)."""
    waiting: bool = False
    """A node was chosen and written to a delayed claim; the pod waits for the provisioner."""
    bound: list[Obj] = field(default_factory=list)
    delayed: list[Obj] = field(default_factory=list)

    def node_reasons(self, node: Obj) -> list[str]:
        return [AFFINITY_CONFLICT] if any(not pv_fits_node(pv, node) for pv in self.bound) else []

    def message(self, n_nodes: int) -> str:
        """`FitError.Error()` for a PreFilter rejection."""
        return (f"0/{n_nodes} nodes are available: {self.error}. preemption: 0/{n_nodes} nodes are available: "
                f"{n_nodes} Preemption is not helpful for scheduling.")


class VolumeBinder:
    """The scheduler's view of claims and volumes."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.store = ctx.store
        self.pvc_rt = ctx.rt("", "persistentvolumeclaims")
        self.pv_rt = ctx.rt("", "persistentvolumes")
        self.sc_rt = ctx.rt("storage.k8s.io", "storageclasses")

    def check(self, pod: Obj) -> PodVolumes:
        names = claim_names(pod)
        out = PodVolumes()
        if not names:
            return out
        ns = pod["metadata"]["namespace"]
        immediate = False
        for name in names:
            pvc = self.store.try_get(self.pvc_rt, ns, name)
            if pvc is None:
                return PodVolumes(error=f'persistentvolumeclaim "{name}" not found')
            if pvc["metadata"].get("deletionTimestamp"):
                return PodVolumes(error=f'persistentvolumeclaim "{name}" is being deleted')
            volume = (pvc.get("spec") or {}).get("volumeName")
            pv = self.store.try_get(self.pv_rt, "", volume) if volume else None
            if pv is not None and (pvc.get("status") or {}).get("phase") == "Bound":
                out.bound.append(pv)
                continue
            cls = (pvc.get("spec") or {}).get("storageClassName")
            sc = self.store.try_get(self.sc_rt, "", cls) if cls else None
            if delayed_binding(sc) and not volume:
                out.delayed.append(pvc)
            else:
                immediate = True
        if immediate:
            return PodVolumes(error="pod has unbound immediate PersistentVolumeClaims")
        out.waiting = any((c["metadata"].get("annotations") or {}).get(SELECTED_NODE) for c in out.delayed)
        return out

    def prebind(self, vols: PodVolumes, node: str) -> bool:
        """Write the chosen node to every delayed claim; True when the pod must wait for provisioning."""
        for pvc in vols.delayed:
            if (pvc["metadata"].get("annotations") or {}).get(SELECTED_NODE) == node:
                continue
            upd = copy.deepcopy(pvc)
            upd["metadata"].setdefault("annotations", {})[SELECTED_NODE] = node
            try:
                self.store.update(self.pvc_rt, upd, check_rv=False)
            except st.ApiError:
                pass
        return bool(vols.delayed)


class StorageAdmission:
    """DefaultStorageClass, StorageObjectInUseProtection and PersistentVolumeClaimResize."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        sc_rt = registry.storage_type("storage.k8s.io", "storageclasses")
        assert sc_rt is not None
        self.sc_rt = sc_rt

    def __call__(self, rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
        if rt.group or rt.kind not in ("PersistentVolumeClaim", "PersistentVolume"):
            return
        meta = obj.setdefault("metadata", {})
        if op == "CREATE":
            fin = PVC_PROTECTION if rt.kind == "PersistentVolumeClaim" else PV_PROTECTION
            if fin not in (meta.get("finalizers") or ()):
                meta["finalizers"] = list(meta.get("finalizers") or ()) + [fin]
            spec = obj.get("spec")
            if rt.kind == "PersistentVolumeClaim" and isinstance(spec, dict) and spec.get("storageClassName") is None:
                sc = default_class(self.store, self.sc_rt)
                if sc is not None:
                    spec["storageClassName"] = sc["metadata"]["name"]
            return
        if rt.kind == "PersistentVolumeClaim" and old is not None and _grows(old, obj) and not self._resizable(old):
            raise st.forbidden(f'persistentvolumeclaims "{meta.get("name", "")}" is forbidden: {RESIZE_FORBIDDEN}',
                               rt, meta.get("name", ""))

    def _resizable(self, pvc: Obj) -> bool:
        cls = (pvc.get("spec") or {}).get("storageClassName")
        sc = self.store.try_get(self.sc_rt, "", cls) if cls else None
        return bool(sc and sc.get("allowVolumeExpansion"))


def requested_storage(pvc: Obj) -> Any:
    return (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")


def _grows(old: Obj, new: Obj) -> bool:
    before, after = requested_storage(old), requested_storage(new)
    return before is not None and after is not None and parse_quantity(after) > parse_quantity(before)

"""The persistent volume controller plus the external provisioner and resizer of the default class.

Claims bind the way kube-controller-manager's PV controller and an external provisioner
(`rancher.io/local-path` in a kind cluster) make them: a matching Available volume is bound first;
otherwise an `Immediate` class provisions right away, a `WaitForFirstConsumer` class waits (the
`WaitForFirstConsumer` event, every 15 s sync) until the scheduler writes the chosen node into
`volume.kubernetes.io/selected-node`, and a class that does not exist leaves the claim Pending with
a `ProvisioningFailed` warning whose count keeps growing - the text K8sGPT reports verbatim.

Also here: released volumes (reclaim Delete removes them), the pvc/pv-protection finalizers (a claim
in use by a pod stays Terminating), and expansion (`ExternalExpanding`, the resizer, then the
kubelet's `FileSystemResizeSuccessful` once a running pod mounts the claim).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import informers
from prophet_sre.sim.controllers.common import is_deleting, is_terminal, obj_key, parse_quantity, pod_phase
from prophet_sre.sim.controllers.history import Timers
from prophet_sre.sim.controllers.volumebinding import (
    PV_PROTECTION,
    PVC_PROTECTION,
    SELECTED_NODE,
    claim_names,
    delayed_binding,
    pv_fits_node,
    requested_storage,
)
from prophet_sre.sim.store import WatchEvent

COMPONENT = "persistentvolume-controller"
SYNC_S = 15.0
PROVISION_S = 1.0
PROVISIONER_ANN = "volume.kubernetes.io/storage-provisioner"
BETA_PROVISIONER_ANN = "volume.beta.kubernetes.io/storage-provisioner"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
LOCAL_PATH = "rancher.io/local-path"
RESIZE_PENDING_MSG = "Waiting for user to (re-)start a pod to finish file system resize of volume on node."
Obj = dict[str, Any]


def _pods_by_claim(obj: Obj) -> Iterable[Hashable]:
    ns = obj_key(obj)[0]
    return [(ns, c) for c in claim_names(obj)]


def provisioner_identity(provisioner: str) -> str:
    """The event source of an external provisioner: `<name>_<pod>_<uuid>` like the real sidecars."""
    base = provisioner.rsplit("/", 1)[-1].replace(".", "-")
    tail = uuid.uuid5(uuid.NAMESPACE_DNS, provisioner)
    return f"{provisioner}_{base}-provisioner-7f9c8d6b5d-x2kqz_{tail}"


class PersistentVolumeController(Controller):
    name = COMPONENT
    watches = (("", "persistentvolumeclaims"), ("", "persistentvolumes"), ("", "pods"),
               ("storage.k8s.io", "storageclasses"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        self.claim_users = self.hub.index("", "pods", "claims", _pods_by_claim)
        self.pvc_rt = ctx.rt("", "persistentvolumeclaims")
        self.pv_rt = ctx.rt("", "persistentvolumes")
        self.sc_rt = ctx.rt("storage.k8s.io", "storageclasses")
        self.pod_rt = ctx.rt("", "pods")
        self.node_rt = ctx.rt("", "nodes")
        self.timers = Timers()
        self._provisioning: dict[str, float] = {}  # claim uid -> sim second the volume is ready

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        skey = ev.storage_key
        if skey == ("", "persistentvolumeclaims"):
            volume = (ev.obj.get("spec") or {}).get("volumeName")
            return [("claim", *obj_key(ev.obj))] + ([("volume", volume)] if volume and ev.type == "DELETED" else [])
        if skey == ("", "persistentvolumes"):
            ref = (ev.obj.get("spec") or {}).get("claimRef") or {}
            keys: list[Hashable] = [("volume", ev.obj["metadata"]["name"])]
            if ref.get("name"):
                keys.append(("claim", ref.get("namespace", ""), ref["name"]))
            return keys
        if skey == ("storage.k8s.io", "storageclasses"):
            if ev.type != "ADDED":
                return ()
            return [("claim", *obj_key(c)) for c in self.ctx.store.objects(self.pvc_rt)
                    if (c.get("status") or {}).get("phase", "Pending") == "Pending"]
        if ev.type != "DELETED" and ev.old is not None and pod_phase(ev.old) == pod_phase(ev.obj) \
                and is_deleting(ev.old) == is_deleting(ev.obj):
            return ()
        ns = obj_key(ev.obj)[0]
        return [("claim", ns, c) for c in claim_names(ev.obj)]

    def reconcile(self, key: Hashable) -> float | None:
        kind, *rest = key  # type: ignore[misc]
        if kind == "volume":
            return self._sync_volume(rest[0])
        return self._sync_claim(key, rest[0], rest[1])

    # -- claims ----------------------------------------------------------------------------------------
    def _sync_claim(self, key: Hashable, ns: str, name: str) -> float | None:
        store = self.ctx.store
        pvc = store.try_get(self.pvc_rt, ns, name)
        now = self.ctx.clock.elapsed()
        if pvc is None:
            self.timers.forget(key)
            return None
        if is_deleting(pvc):
            if not self._in_use(pvc):
                self._drop_finalizer(self.pvc_rt, pvc, PVC_PROTECTION)
            return None
        spec = pvc.get("spec") or {}
        volume = spec.get("volumeName")
        pv = store.try_get(self.pv_rt, "", volume) if volume else None
        if pv is not None and ((pv.get("spec") or {}).get("claimRef") or {}).get("uid") == pvc["metadata"]["uid"]:
            self._bind(pvc, pv)
            return self._expand(pvc, pv)
        cls = spec.get("storageClassName")
        sc = store.try_get(self.sc_rt, "", cls) if cls else None
        node = (pvc["metadata"].get("annotations") or {}).get(SELECTED_NODE)
        if not (delayed_binding(sc) and not node):
            match = self._find_volume(pvc, node)
            if match is not None:
                self._bind(pvc, match)
                return None
        events = self.ctx.events
        if not cls:
            events.warning(pvc, "FailedBinding", "no persistent volumes available for this claim and no storage class "
                                                 "is set", component=COMPONENT)
            return self.timers.next(key, now, SYNC_S)
        if sc is None:
            events.warning(pvc, "ProvisioningFailed", f'storageclass.storage.k8s.io "{cls}" not found',
                           component=COMPONENT)
            return self.timers.next(key, now, SYNC_S)
        if delayed_binding(sc) and not node:
            events.normal(pvc, "WaitForFirstConsumer", "waiting for first consumer to be created before binding",
                          component=COMPONENT)
            return self.timers.next(key, now, SYNC_S)
        return self._provision(key, pvc, sc, node, now)

    def _provision(self, key: Hashable, pvc: Obj, sc: Obj, node: str | None, now: float) -> float | None:
        uid = pvc["metadata"]["uid"]
        provisioner = sc.get("provisioner") or ""
        due = self._provisioning.get(uid)
        if due is None:
            ann = pvc["metadata"].get("annotations") or {}
            if ann.get(PROVISIONER_ANN) != provisioner:
                upd = copy.deepcopy(pvc)
                upd["metadata"].setdefault("annotations", {}).update(
                    {PROVISIONER_ANN: provisioner, BETA_PROVISIONER_ANN: provisioner})
                self._update(self.pvc_rt, upd)
            self.ctx.events.normal(pvc, "ExternalProvisioning", "Waiting for a volume to be created either by the "
                                   f"external provisioner '{provisioner}' or manually by the system administrator. If "
                                   "volume creation is delayed, please verify that the provisioner is running and "
                                   "correctly registered.", component=COMPONENT)
            ns, name = obj_key(pvc)
            self.ctx.events.normal(pvc, "Provisioning", f'External provisioner is provisioning volume for claim '
                                   f'"{ns}/{name}"', component=provisioner_identity(provisioner))
            self._provisioning[uid] = now + PROVISION_S
            return self.timers.at(key, now, now + PROVISION_S)
        if now < due - 1e-9:
            return self.timers.at(key, now, due)
        del self._provisioning[uid]
        pv = self._volume_for(pvc, sc, node)
        try:
            pv = self.ctx.store.create(self.pv_rt, pv)
        except st.ApiError as e:
            if e.reason != "AlreadyExists":
                self.ctx.events.warning(pvc, "ProvisioningFailed", f'failed to provision volume with StorageClass '
                                        f'"{sc["metadata"]["name"]}": {e.message}',
                                        component=provisioner_identity(provisioner))
                return self.timers.next(key, now, SYNC_S)
            pv = self.ctx.store.get(self.pv_rt, "", pv["metadata"]["name"])
        self.ctx.events.normal(pvc, "ProvisioningSucceeded",
                               f"Successfully provisioned volume {pv['metadata']['name']}",
                               component=provisioner_identity(provisioner))
        cur = self.ctx.store.try_get(self.pvc_rt, *obj_key(pvc))
        if cur is not None:
            self._bind(cur, pv)
        return None

    def _volume_for(self, pvc: Obj, sc: Obj, node: str | None) -> Obj:
        m, spec = pvc["metadata"], pvc.get("spec") or {}
        ns, name, uid = m["namespace"], m["name"], m["uid"]
        provisioner = sc.get("provisioner") or ""
        pv_name = f"pvc-{uid}"
        annotations = {PROVISIONED_BY: provisioner}
        pv_spec: Obj = {
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": requested_storage(pvc) or "1Gi"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": name, "namespace": ns,
                         "resourceVersion": m.get("resourceVersion", ""), "uid": uid},
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": sc["metadata"]["name"], "volumeMode": spec.get("volumeMode") or "Filesystem",
        }
        if sc.get("mountOptions"):
            pv_spec["mountOptions"] = list(sc["mountOptions"])
        if provisioner == LOCAL_PATH:
            pv_spec["hostPath"] = {"path": f"/var/local-path-provisioner/{pv_name}_{ns}_{name}",
                                   "type": "DirectoryOrCreate"}
        else:
            pv_spec["csi"] = {"driver": provisioner, "volumeHandle": pv_name, "fsType": "ext4"}
        if node:
            if provisioner == LOCAL_PATH:
                annotations["local.path.provisioner/selected-node"] = node
            pv_spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
        return {"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": pv_name, "annotations": annotations}, "spec": pv_spec}

    def _find_volume(self, pvc: Obj, node_name: str | None) -> Obj | None:
        """`findBestMatchForClaim`: the smallest Available volume of the claim's class that fits (and, for
        a claim the scheduler placed, whose node affinity admits the chosen node)."""
        node = self.ctx.store.try_get(self.node_rt, "", node_name) if node_name else None
        spec = pvc.get("spec") or {}
        want = parse_quantity(requested_storage(pvc) or 0)
        modes = set(spec.get("accessModes") or ())
        cls = spec.get("storageClassName") or ""
        named = spec.get("volumeName")
        best = None
        for pv in self.ctx.store.objects(self.pv_rt):
            ps = pv.get("spec") or {}
            if named and pv["metadata"]["name"] != named:
                continue
            ref = ps.get("claimRef")
            if ref and ref.get("uid") and ref.get("uid") != pvc["metadata"]["uid"]:
                continue
            if ref and (ref.get("name"), ref.get("namespace")) != obj_key(pvc)[::-1]:
                continue
            if is_deleting(pv) or (ps.get("storageClassName") or "") != cls or \
                    not modes <= set(ps.get("accessModes") or ()):
                continue
            if node is not None and not pv_fits_node(pv, node):
                continue
            size = parse_quantity((ps.get("capacity") or {}).get("storage") or 0)
            if size >= want and (best is None or size < best[0]):
                best = (size, pv)
        return best[1] if best else None

    def _bind(self, pvc: Obj, pv: Obj) -> None:
        """Both halves of a binding: the volume's claimRef and phase, the claim's volumeName and status."""
        m = pvc["metadata"]
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref.get("uid") != m["uid"]:
            upd = copy.deepcopy(pv)
            upd["spec"]["claimRef"] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": m["name"],
                                       "namespace": m["namespace"], "resourceVersion": m.get("resourceVersion", ""),
                                       "uid": m["uid"]}
            upd["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bound-by-controller"] = "yes"
            pv = self._update(self.pv_rt, upd) or pv
        self._set_pv_phase(pv, "Bound")
        ann = m.get("annotations") or {}
        if (pvc.get("spec") or {}).get("volumeName") != pv["metadata"]["name"] or \
                ann.get("pv.kubernetes.io/bind-completed") != "yes":
            upd = copy.deepcopy(pvc)
            upd["spec"]["volumeName"] = pv["metadata"]["name"]
            upd["metadata"].setdefault("annotations", {}).update(
                {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes"})
            pvc = self._update(self.pvc_rt, upd) or pvc
        status = dict(pvc.get("status") or {})
        if status.get("phase") != "Bound":
            status.update(phase="Bound", accessModes=list((pv.get("spec") or {}).get("accessModes") or ()),
                          capacity=dict((pv.get("spec") or {}).get("capacity") or {}))
            self._update(self.pvc_rt, {**pvc, "status": status}, status=True)

    # -- expansion --------------------------------------------------------------------------------------
    def _expand(self, pvc: Obj, pv: Obj) -> float | None:
        want = requested_storage(pvc)
        status = pvc.get("status") or {}
        have = (status.get("capacity") or {}).get("storage")
        if want is None or have is None or parse_quantity(want) <= parse_quantity(have):
            return None
        pv_size = ((pv.get("spec") or {}).get("capacity") or {}).get("storage")
        now = rfc3339(self.ctx.clock.now())
        ev = self.ctx.events
        if parse_quantity(pv_size or 0) < parse_quantity(want):
            cls = (pvc.get("spec") or {}).get("storageClassName") or ""
            sc = self.ctx.store.try_get(self.sc_rt, "", cls) or {}
            provisioner = sc.get("provisioner") or ""
            ev.normal(pvc, "ExternalExpanding", "waiting for an external controller to expand this PVC",
                      component="volume_expand")
            ev.normal(pvc, "Resizing", f"External resizer is resizing volume {pv['metadata']['name']}",
                      component=f"external-resizer {provisioner}")
            upd = copy.deepcopy(pv)
            upd["spec"]["capacity"]["storage"] = want
            self._update(self.pv_rt, upd)
            ev.normal(pvc, "FileSystemResizeRequired", "Require file system resize of volume on node",
                      component=f"external-resizer {provisioner}")
            new_status = {**status, "allocatedResources": {"storage": want},
                          "allocatedResourceStatuses": {"storage": "NodeResizePending"},
                          "conditions": [{"type": "FileSystemResizePending", "status": "True", "lastProbeTime": None,
                                          "lastTransitionTime": now, "message": RESIZE_PENDING_MSG}]}
            pvc = self._update(self.pvc_rt, {**pvc, "status": new_status}, status=True) or pvc
        node = self._running_user_node(pvc)
        if node is None:
            return None  # a pod starting to use the claim brings us back
        ev.normal(pvc, "FileSystemResizeSuccessful", f'MountVolume.NodeExpandVolume succeeded for volume '
                  f'"{pv["metadata"]["name"]}" {node}', component="kubelet", host=node)
        done = {k: v for k, v in (pvc.get("status") or {}).items()
                if k not in ("conditions", "allocatedResourceStatuses")}
        done["capacity"] = {**(done.get("capacity") or {}), "storage": want}
        done["allocatedResources"] = {"storage": want}
        self._update(self.pvc_rt, {**pvc, "status": done}, status=True)
        return None

    # -- volumes and protection -------------------------------------------------------------------------
    def _sync_volume(self, name: str) -> float | None:
        pv = self.ctx.store.try_get(self.pv_rt, "", name)
        if pv is None:
            return None
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        phase = "Available"
        if ref.get("name"):
            pvc = self.ctx.store.try_get(self.pvc_rt, ref.get("namespace", ""), ref["name"])
            if pvc is None or (ref.get("uid") and pvc["metadata"]["uid"] != ref.get("uid")):
                phase = "Released"
            elif (pvc.get("spec") or {}).get("volumeName") == name:
                phase = "Bound"
            else:
                return None  # pre-bound, the claim's sync finishes the binding
        if phase == "Released" and (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete" \
                and not is_deleting(pv):
            self._set_pv_phase(pv, phase)
            try:
                pv = self.ctx.store.delete(self.pv_rt, "", name)
            except st.ApiError:
                return None
        if is_deleting(pv):
            if phase != "Bound":
                self._drop_finalizer(self.pv_rt, pv, PV_PROTECTION)
            return None
        self._set_pv_phase(pv, phase)
        return None

    def _set_pv_phase(self, pv: Obj, phase: str) -> None:
        status = pv.get("status") or {}
        if status.get("phase") == phase:
            return
        new = {"phase": phase, "lastPhaseTransitionTime": rfc3339(self.ctx.clock.now())}
        self._update(self.pv_rt, {**pv, "status": new}, status=True)

    def _users(self, pvc: Obj) -> list[Obj]:
        """Scheduled, unfinished pods mounting the claim (`podUsesPVC`: an unscheduled pod does not count,
        the kubelet will not start it with a claim that is being deleted)."""
        out = []
        for k in self.claim_users.get(obj_key(pvc)):
            p = self.ctx.store.try_get(self.pod_rt, *k)
            if p is not None and not is_terminal(p) and (p.get("spec") or {}).get("nodeName"):
                out.append(p)
        return out

    def _in_use(self, pvc: Obj) -> bool:
        return bool(self._users(pvc))

    def _running_user_node(self, pvc: Obj) -> str | None:
        for p in self._users(pvc):
            if pod_phase(p) == "Running" and (p.get("spec") or {}).get("nodeName"):
                return str(p["spec"]["nodeName"])
        return None

    def _drop_finalizer(self, rt: Any, obj: Obj, fin: str) -> None:
        fins = obj["metadata"].get("finalizers") or []
        if fin in fins:
            upd = copy.deepcopy(obj)
            upd["metadata"]["finalizers"] = [f for f in fins if f != fin]
            self._update(rt, upd)

    def _update(self, rt: Any, obj: Obj, *, status: bool = False) -> Obj | None:
        try:
            return self.ctx.store.update(rt, obj, subresource="status" if status else "", check_rv=False)
        except st.ApiError:
            return None

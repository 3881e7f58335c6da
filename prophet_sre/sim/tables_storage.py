"""Table printers for storage: PersistentVolumes and claims (core/v1) and StorageClasses.

Kept apart from the rest of core/v1 because they share the access-mode and storage-class helpers. Phases
and reclaim policy fall back to what the apiserver stores on create (`Pending`, `Retain`, `Delete`,
`Immediate`), so an object created without them still prints as a real server would show it.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.sim.tables_common import (
    AGE,
    NAME,
    Column,
    Printer,
    RowContext,
    meta,
    name,
    quantity,
    spec,
    status,
    wide,
)

# -- PersistentVolume(Claim) ----------------------------------------------------------------------

_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                 ("ReadWriteOncePod", "RWOP"))


def access_modes(modes: list[str] | None) -> str:
    present = set(modes or [])
    return ",".join(short for full, short in _ACCESS_MODES if full in present)


_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"

PVC_COLUMNS = (
    NAME,
    Column("Status", description="phase represents the current phase of PersistentVolumeClaim."),
    Column("Volume", description="volumeName is the binding reference to the PersistentVolume backing "
                                 "this claim."),
    Column("Capacity", description="capacity represents the actual resources of the underlying volume."),
    Column("Access Modes", description="accessModes contains the actual access modes the volume backing "
                                       "the PVC has."),
    Column("StorageClass", description="StorageClass of the pvc"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
    AGE,
    wide("VolumeMode", "volumeMode defines what type of volume is required by the claim."),
)


def pvc_cells(pvc: dict, ctx: RowContext) -> list[Any]:
    md, sp, st = meta(pvc), spec(pvc), status(pvc)
    phase = "Terminating" if md.get("deletionTimestamp") else (st.get("phase") or "Pending")
    volume = sp.get("volumeName") or ""
    capacity = modes = ""
    if volume:
        modes = access_modes(st.get("accessModes"))
        capacity = quantity((st.get("capacity") or {}).get("storage"))
    annotations = md.get("annotations") or {}
    storage_class = annotations[_BETA_CLASS] if _BETA_CLASS in annotations else (sp.get("storageClassName") or "")
    vac = sp.get("volumeAttributesClassName")
    return [md.get("name") or "", phase, volume, capacity, modes, storage_class,
            "<unset>" if vac is None else vac, ctx.since(md.get("creationTimestamp")),
            sp.get("volumeMode") or "<unset>"]


PV_COLUMNS = (
    NAME,
    Column("Capacity", description="capacity is the description of the persistent volume's resources and "
                                   "capacity."),
    Column("Access Modes", description="accessModes contains all ways the volume can be mounted."),
    Column("Reclaim Policy", description="persistentVolumeReclaimPolicy defines what happens to a persistent "
                                         "volume when released from its claim."),
    Column("Status", description="phase indicates if a volume is available, bound to a claim, or released "
                                 "by a claim."),
    Column("Claim", description="claimRef is part of a bi-directional binding between PersistentVolume and "
                                "PersistentVolumeClaim."),
    Column("StorageClass", description="StorageClass of the pv"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
    Column("Reason", description="reason is a brief CamelCase string that describes any failure."),
    AGE,
    wide("VolumeMode", "volumeMode defines if a volume is intended to be used with a formatted filesystem "
                       "or to remain in raw block state."),
)


def pv_cells(pv: dict, ctx: RowContext) -> list[Any]:
    md, sp, st = meta(pv), spec(pv), status(pv)
    claim_ref = sp.get("claimRef")
    claim = f"{claim_ref.get('namespace') or ''}/{claim_ref.get('name') or ''}" if claim_ref else ""
    phase = "Terminating" if md.get("deletionTimestamp") else (st.get("phase") or "Pending")
    annotations = md.get("annotations") or {}
    storage_class = annotations[_BETA_CLASS] if _BETA_CLASS in annotations else (sp.get("storageClassName") or "")
    vac = sp.get("volumeAttributesClassName")
    return [md.get("name") or "", quantity((sp.get("capacity") or {}).get("storage")),
            access_modes(sp.get("accessModes")), sp.get("persistentVolumeReclaimPolicy") or "Retain",
            phase, claim, storage_class, "<unset>" if vac is None else vac, st.get("reason") or "",
            ctx.since(md.get("creationTimestamp")), sp.get("volumeMode") or "<unset>"]


# -- storage.k8s.io -------------------------------------------------------------------------------

STORAGECLASS_COLUMNS = (
    NAME,
    Column("Provisioner", description="provisioner indicates the type of the provisioner."),
    Column("ReclaimPolicy", description="reclaimPolicy controls the reclaimPolicy for dynamically "
                                        "provisioned PersistentVolumes of this storage class."),
    Column("VolumeBindingMode", description="volumeBindingMode indicates how PersistentVolumeClaims should be "
                                            "provisioned and bound."),
    Column("AllowVolumeExpansion", description="allowVolumeExpansion shows whether the storage class allow "
                                               "volume expand."),
    AGE,
)

_DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                              "storageclass.beta.kubernetes.io/is-default-class")


def storageclass_cells(sc: dict, ctx: RowContext) -> list[Any]:
    annotations = meta(sc).get("annotations") or {}
    label = name(sc)
    if any(annotations.get(a) == "true" for a in _DEFAULT_CLASS_ANNOTATIONS):
        label += " (default)"
    return [label, sc.get("provisioner") or "", sc.get("reclaimPolicy") or "Delete",
            sc.get("volumeBindingMode") or "Immediate", bool(sc.get("allowVolumeExpansion")), ctx.age(sc)]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "PersistentVolumeClaim"): Printer(PVC_COLUMNS, pvc_cells),
    ("", "PersistentVolume"): Printer(PV_COLUMNS, pv_cells),
    ("storage.k8s.io", "StorageClass"): Printer(STORAGECLASS_COLUMNS, storageclass_cells),
}

"""Validation of storage: PersistentVolumeClaims, PersistentVolumes and StorageClasses.

Follows ValidatePersistentVolumeClaim(Update), ValidatePersistentVolume(Update) and the storage.k8s.io
StorageClass rules. The update rules are the ones that bite: a claim's spec is immutable except its
requested size (which may not shrink below what is provisioned), a volume's source is immutable, and
a StorageClass's provisioner, parameters and reclaim policy are frozen.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.sim.validation_base import (
    FieldError,
    as_list,
    as_map,
    as_str,
    child,
    forbidden,
    immutable,
    invalid,
    is_dns1123_subdomain,
    is_qualified_name,
    not_supported,
    required,
    spec_diff,
)
from prophet_sre.sim.validation_containers import quantity, quantity_text
from prophet_sre.sim.validation_meta import validate_label_selector

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
_PV_SOURCES = (
    "gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs", "rbd", "iscsi", "cinder",
    "cephfs", "fc", "flocker", "flexVolume", "azureFile", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "portworxVolume", "scaleIO", "local", "storageos", "csi",
)


# --- PersistentVolume / PersistentVolumeClaim ------------------------------------------------------------------
_PVC_SPEC_ORDER = ("accessModes", "selector", "resources", "volumeName", "storageClassName", "volumeMode",
                   "dataSource", "dataSourceRef", "volumeAttributesClassName")


def _validate_access_modes(modes: Any, path: str, required_detail: str) -> list[FieldError]:
    errs: list[FieldError] = []
    items = [m for m in as_list(modes) if isinstance(m, str)]
    if not as_list(modes):
        errs.append(required(path, required_detail))
    for m in items:
        if m not in ACCESS_MODES:
            errs.append(not_supported(path, m, ACCESS_MODES))
    if "ReadWriteOncePod" in items and any(m != "ReadWriteOncePod" for m in items):
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def validate_pvc_spec(spec: Any, path: str) -> list[FieldError]:
    spec = as_map(spec)
    errs = _validate_access_modes(spec.get("accessModes"), child(path, "accessModes"),
                                  "at least 1 access mode is required")
    if isinstance(spec.get("selector"), dict):
        errs.extend(validate_label_selector(spec["selector"], child(path, "selector")))
    requests = as_map(as_map(spec.get("resources")).get("requests"))
    spath = f"{child(path, 'resources')}[storage]"
    if "storage" not in requests:
        errs.append(required(spath))
    else:
        q = quantity(requests["storage"])
        if q is not None and q <= 0:
            errs.append(invalid(spath, quantity_text(requests["storage"]), "must be greater than zero"))
    scn = spec.get("storageClassName")
    if isinstance(scn, str) and scn:
        errs.extend(invalid(child(path, "storageClassName"), scn, m) for m in is_dns1123_subdomain(scn))
    vm = spec.get("volumeMode")
    if isinstance(vm, str) and vm not in ("Block", "Filesystem"):
        errs.append(not_supported(child(path, "volumeMode"), vm, ("Block", "Filesystem")))
    return errs


def _ordered_pvc_spec(spec: dict) -> dict:
    out = {k: spec.get(k) for k in _PVC_SPEC_ORDER}
    res = as_map(spec.get("resources"))
    out["resources"] = {"limits": res.get("limits"), "requests": res.get("requests")}
    return out


def validate_pvc(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs = validate_pvc_spec(spec, "spec")
    if old is None:
        return errs
    old_spec = as_map(old.get("spec"))
    new_cmp, old_cmp = dict(spec), dict(old_spec)
    if not as_str(old_spec.get("volumeName")):
        old_cmp["volumeName"] = new_cmp.get("volumeName")
        if old_cmp["volumeName"] is None:
            old_cmp.pop("volumeName")
    bound = as_str(as_map(obj.get("status")).get("phase")) == "Bound"
    old_requests = as_map(as_map(old_spec.get("resources")).get("requests"))
    new_requests = as_map(as_map(spec.get("resources")).get("requests"))
    if bound:
        res = dict(as_map(new_cmp.get("resources")))
        res["requests"] = {**new_requests, "storage": old_requests.get("storage")}
        new_cmp["resources"] = res
        old_res = dict(as_map(old_cmp.get("resources")))
        old_res["requests"] = {**old_requests, "storage": old_requests.get("storage")}
        old_cmp["resources"] = old_res
        new_cmp["volumeAttributesClassName"] = old_cmp.get("volumeAttributesClassName")
    if _ordered_pvc_spec(new_cmp) != _ordered_pvc_spec(old_cmp):
        errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                      "volumeAttributesClassName for bound claims\n"
                              + spec_diff(_ordered_pvc_spec(old_cmp), _ordered_pvc_spec(new_cmp))))
    new_size, old_size = quantity(new_requests.get("storage")), quantity(old_requests.get("storage"))
    status_size = quantity(as_map(as_map(old.get("status")).get("capacity")).get("storage"))
    if new_size is not None and old_size is not None and new_size < old_size:
        if status_size is None:
            errs.append(forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
        elif new_size <= status_size:
            errs.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    if spec.get("volumeMode") != old_spec.get("volumeMode") and old_spec.get("volumeMode") is not None:
        errs.append(immutable("volumeMode", spec.get("volumeMode")))
    return errs


def validate_pv(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    capacity = as_map(spec.get("capacity"))
    if not capacity:
        errs.append(required("spec.capacity"))
    if "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported("spec.capacity", capacity or None, ("storage",)))
    for key, raw in capacity.items():
        q = quantity(raw)
        if q is not None and q <= 0:
            errs.append(invalid(f"spec.capacity[{key}]", quantity_text(raw), "must be greater than zero"))
    errs.extend(_validate_access_modes(spec.get("accessModes"), "spec.accessModes", ""))
    sources = [s for s in _PV_SOURCES if spec.get(s) is not None]
    if not sources:
        errs.append(required("spec", "must specify a volume type"))
    for extra in sources[1:]:
        errs.append(forbidden(f"spec.{extra}", "may not specify more than 1 volume type"))
    if "hostPath" in sources and not as_str(as_map(spec.get("hostPath")).get("path")):
        errs.append(required("spec.hostPath.path"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if isinstance(policy, str) and policy not in ("Delete", "Recycle", "Retain"):
        errs.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, ("Delete", "Recycle", "Retain")))
    vm = spec.get("volumeMode")
    if isinstance(vm, str) and vm not in ("Block", "Filesystem"):
        errs.append(not_supported("spec.volumeMode", vm, ("Block", "Filesystem")))
    scn = spec.get("storageClassName")
    if isinstance(scn, str) and scn:
        errs.extend(invalid("spec.storageClassName", scn, m) for m in is_dns1123_subdomain(scn))
    if old is not None:
        old_spec = as_map(old.get("spec"))
        new_src = {s: spec.get(s) for s in _PV_SOURCES if spec.get(s) is not None}
        old_src = {s: old_spec.get(s) for s in _PV_SOURCES if old_spec.get(s) is not None}
        if new_src != old_src:
            errs.append(forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after "
                                                                 "creation\n" + spec_diff(old_src, new_src)))
        if old_spec.get("volumeMode") is not None and spec.get("volumeMode") != old_spec.get("volumeMode"):
            errs.append(immutable("volumeMode", spec.get("volumeMode")))
    return errs


# --- storage ---------------------------------------------------------------------------------------------
def validate_storage_class(obj: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    provisioner = as_str(obj.get("provisioner"))
    if not provisioner:
        errs.append(required("provisioner"))
    else:
        errs.extend(invalid("provisioner", provisioner.lower(), m) for m in is_qualified_name(provisioner.lower()))
    rp = obj.get("reclaimPolicy")
    if isinstance(rp, str) and rp and rp not in ("Delete", "Retain"):
        errs.append(not_supported("reclaimPolicy", rp, ("Delete", "Retain")))
    vbm = obj.get("volumeBindingMode")
    if vbm is None:
        errs.append(required("volumeBindingMode"))
    elif isinstance(vbm, str) and vbm not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(not_supported("volumeBindingMode", vbm, ("Immediate", "WaitForFirstConsumer")))
    if old is not None:
        if (obj.get("parameters") or None) != (old.get("parameters") or None):
            errs.append(forbidden("parameters", "updates to parameters are forbidden."))
        if provisioner != as_str(old.get("provisioner")):
            errs.append(forbidden("provisioner", "updates to provisioner are forbidden."))
        if obj.get("reclaimPolicy") != old.get("reclaimPolicy"):
            errs.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
        if vbm != old.get("volumeBindingMode"):
            errs.append(immutable("volumeBindingMode", vbm))
    return errs

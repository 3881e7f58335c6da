"""Validation of Pods and pod templates: the pod spec, its volumes and tolerations, and pod updates.

Follows pkg/apis/core/validation (ValidatePodSpec, ValidateVolumes, ValidateTolerations,
ValidatePodTemplateSpec, ValidatePodUpdate); containers are in `validation_containers`. The common
mistakes (a bad restart policy, a duplicate volume, an edit to an immutable pod field) produce the
texts a real cluster gives.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.sim.validation_base import (
    FieldError,
    as_int,
    as_list,
    as_map,
    as_str,
    child,
    duplicate,
    forbidden,
    invalid,
    is_valid_label_value,
    not_supported,
    required,
    spec_diff,
    validate_dns1123_label,
    validate_dns1123_subdomain,
)
from prophet_sre.sim.validation_containers import (
    quantity,
    validate_containers,
    validate_init_containers,
)
from prophet_sre.sim.validation_meta import validate_annotations, validate_label_name, validate_labels
from prophet_sre.sim.validation_storage import validate_pvc_spec

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"
_VOLUME_TYPES = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs", "iscsi",
    "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte", "downwardAPI", "fc",
    "flexVolume", "configMap", "azureFile", "vsphereVolume", "photonPersistentDisk", "portworxVolume",
    "azureDisk", "storageos", "projected", "scaleIO", "csi", "ephemeral", "image",
)
_HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate",
                    "Socket")
UPDATABLE_POD_FIELDS = (
    "`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


# --- volumes ----------------------------------------------------------------------------------------
def _validate_mode(mode: Any, path: str) -> list[FieldError]:
    m = as_int(mode)
    if m is not None and not 0 <= m <= 0o777:
        return [invalid(path, m, FILE_MODE_MSG)]
    return []


def _validate_key_to_paths(items: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(as_list(items)):
        item = as_map(item)
        ipath = f"{path}[{i}]"
        if not as_str(item.get("key")):
            errs.append(required(child(ipath, "key")))
        p = as_str(item.get("path"))
        if not p:
            errs.append(required(child(ipath, "path")))
        elif p.startswith("/"):
            errs.append(invalid(child(ipath, "path"), p, "must be a relative path"))
        elif ".." in p.split("/"):
            errs.append(invalid(child(ipath, "path"), p, "must not contain '..'"))
        errs.extend(_validate_mode(item.get("mode"), child(ipath, "mode")))
    return errs


def _validate_volume_source(vol: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    for vtype in _VOLUME_TYPES:
        src = vol.get(vtype)
        if src is None:
            continue
        if count > 0:
            errs.append(forbidden(child(path, vtype), "may not specify more than 1 volume type"))
            continue
        count += 1
        src = as_map(src)
        spath = child(path, vtype)
        if vtype == "secret":
            if not as_str(src.get("secretName")):
                errs.append(required(child(spath, "secretName")))
            errs.extend(_validate_mode(src.get("defaultMode"), child(spath, "defaultMode")))
            errs.extend(_validate_key_to_paths(src.get("items"), child(spath, "items")))
        elif vtype == "configMap":
            if not as_str(src.get("name")):
                errs.append(required(child(spath, "name")))
            errs.extend(_validate_mode(src.get("defaultMode"), child(spath, "defaultMode")))
            errs.extend(_validate_key_to_paths(src.get("items"), child(spath, "items")))
        elif vtype == "persistentVolumeClaim":
            if not as_str(src.get("claimName")):
                errs.append(required(child(spath, "claimName")))
        elif vtype == "hostPath":
            if not as_str(src.get("path")):
                errs.append(required(child(spath, "path")))
            htype = src.get("type")
            if isinstance(htype, str) and htype not in _HOST_PATH_TYPES:
                errs.append(not_supported(child(spath, "type"), htype, _HOST_PATH_TYPES))
        elif vtype == "nfs":
            if not as_str(src.get("server")):
                errs.append(required(child(spath, "server")))
            p = as_str(src.get("path"))
            if not p:
                errs.append(required(child(spath, "path")))
            elif not p.startswith("/"):
                errs.append(invalid(child(spath, "path"), p, "must be an absolute path"))
        elif vtype == "emptyDir":
            size = quantity(src.get("sizeLimit")) if src.get("sizeLimit") is not None else None
            if size is not None and size < 0:
                errs.append(forbidden(child(spath, "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
        elif vtype in ("downwardAPI", "projected"):
            errs.extend(_validate_mode(src.get("defaultMode"), child(spath, "defaultMode")))
        elif vtype == "ephemeral":
            template = src.get("volumeClaimTemplate")
            if not isinstance(template, dict):
                errs.append(required(child(spath, "volumeClaimTemplate")))
            else:
                errs.extend(validate_pvc_spec(template.get("spec"), child(spath, "volumeClaimTemplate.spec")))
    if count == 0:
        errs.append(required(path, "must specify a volume type"))
    return errs


def validate_volumes(volumes: Any, path: str) -> tuple[list[FieldError], set[str]]:
    """ValidateVolumes: the errors and the names of the volumes that validated (mounts may use them)."""
    errs: list[FieldError] = []
    names: set[str] = set()
    seen: set[str] = set()
    for i, vol in enumerate(as_list(volumes)):
        vol = as_map(vol)
        vpath = f"{path}[{i}]"
        name = as_str(vol.get("name"))
        el = _validate_volume_source(vol, vpath)
        if not name:
            el.append(required(child(vpath, "name")))
        else:
            el.extend(validate_dns1123_label(name, child(vpath, "name")))
        if name in seen:
            el.append(duplicate(child(vpath, "name"), name))
        seen.add(name)
        if not el:
            names.add(name)
        errs.extend(el)
    return errs, names


# --- pod spec -------------------------------------------------------------------------------------------
def validate_tolerations(tolerations: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, t in enumerate(as_list(tolerations)):
        t = as_map(t)
        tpath = f"{path}[{i}]"
        key, op, effect = as_str(t.get("key")), as_str(t.get("operator")), as_str(t.get("effect"))
        value = as_str(t.get("value"))
        if key:
            errs.extend(validate_label_name(key, child(tpath, "key")))
        if not key and op != "Exists":
            errs.append(invalid(child(tpath, "operator"), op, "operator must be Exists when `key` is empty, which "
                                                              'means "match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(invalid(child(tpath, "effect"), effect, "effect must be 'NoExecute' when "
                                                                "`tolerationSeconds` is set"))
        if op in ("Equal", ""):
            msgs = is_valid_label_value(value)
            if msgs:
                errs.append(invalid(child(tpath, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(invalid(child(tpath, "operator"), t, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(child(tpath, "operator"), op, ("Equal", "Exists")))
        if effect and effect not in TAINT_EFFECTS:
            errs.append(not_supported(child(tpath, "effect"), effect, TAINT_EFFECTS))
    return errs


def _validate_restart_policy(policy: Any, path: str) -> list[FieldError]:
    p = as_str(policy)
    if p in RESTART_POLICIES:
        return []
    if not p:
        return [required(path)]
    return [not_supported(path, p, RESTART_POLICIES)]


def validate_pod_spec(spec: Any, path: str) -> list[FieldError]:
    """ValidatePodSpec, in the order a real server reports the errors."""
    spec = as_map(spec)
    errs, volumes = validate_volumes(spec.get("volumes"), child(path, "volumes"))
    errs.extend(validate_init_containers(spec.get("initContainers"), spec.get("containers"), volumes,
                                         child(path, "initContainers")))
    errs.extend(validate_containers(spec.get("containers"), volumes, child(path, "containers")))
    errs.extend(_validate_restart_policy(spec.get("restartPolicy"), child(path, "restartPolicy")))
    dns = as_str(spec.get("dnsPolicy"))
    if not dns:
        errs.append(required(child(path, "dnsPolicy")))
    elif dns not in DNS_POLICIES:
        errs.append(not_supported(child(path, "dnsPolicy"), dns, DNS_POLICIES))
    errs.extend(validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector")))
    for i, s in enumerate(as_list(spec.get("imagePullSecrets"))):
        if not as_str(as_map(s).get("name")):
            errs.append(required(f"{path}.imagePullSecrets[{i}].name"))
    for key in ("serviceAccountName", "nodeName"):
        v = as_str(spec.get(key))
        if v:
            errs.extend(validate_dns1123_subdomain(v, child(path, key)))
    ads = as_int(spec.get("activeDeadlineSeconds"))
    if ads is not None and not 1 <= ads <= 2**31 - 1:
        errs.append(invalid(child(path, "activeDeadlineSeconds"), ads, "must be between 1 and 2147483647, inclusive"))
    for key in ("hostname", "subdomain"):
        v = as_str(spec.get(key))
        if v:
            errs.extend(validate_dns1123_label(v, child(path, key)))
    errs.extend(validate_tolerations(spec.get("tolerations"), child(path, "tolerations")))
    pcn = as_str(spec.get("priorityClassName"))
    if pcn:
        errs.extend(validate_dns1123_subdomain(pcn, child(path, "priorityClassName")))
    pp = spec.get("preemptionPolicy")
    if isinstance(pp, str) and pp not in ("Never", "PreemptLowerPriority"):
        errs.append(not_supported(child(path, "preemptionPolicy"), pp, ("Never", "PreemptLowerPriority")))
    return errs


def validate_pod_template(template: Any, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpec: template labels/annotations (reported at `<path>.labels`) and the spec."""
    template = as_map(template)
    meta = as_map(template.get("metadata"))
    errs = validate_labels(meta.get("labels"), child(path, "labels"))
    errs.extend(validate_annotations(meta.get("annotations"), child(path, "annotations")))
    spec = as_map(template.get("spec"))
    errs.extend(validate_pod_spec(spec, child(path, "spec")))
    if as_list(spec.get("ephemeralContainers")):
        errs.append(forbidden(child(path, "spec.ephemeralContainers"), "ephemeral containers not allowed in pod template"))
    return errs


def validate_pod(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs = validate_pod_spec(spec, "spec")
    for i, ctr in enumerate(as_list(spec.get("containers"))):
        image = as_str(as_map(ctr).get("image"))
        if image and image != image.strip():
            errs.append(invalid(f"spec.containers[{i}].image", image, "must not have leading or trailing whitespace"))
    if old is None:
        if as_list(spec.get("ephemeralContainers")):
            errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    else:
        errs.extend(validate_pod_update(spec, as_map(old.get("spec"))))
    return errs


def validate_pod_update(new: dict, old: dict) -> list[FieldError]:
    """ValidatePodUpdate: only images, activeDeadlineSeconds, added tolerations and a few more may change."""
    errs: list[FieldError] = []
    for key in ("containers", "initContainers"):
        nc, oc = as_list(new.get(key)), as_list(old.get(key))
        if len(nc) != len(oc):
            return [forbidden(f"spec.{key}", "pod updates may not add or remove containers")]
        for i, c in enumerate(nc):
            if not as_str(as_map(c).get("image")):
                errs.append(required(f"spec.{key}[{i}].image"))
    n_ads, o_ads = as_int(new.get("activeDeadlineSeconds")), as_int(old.get("activeDeadlineSeconds"))
    if n_ads is not None:
        if n_ads < 0:
            return errs + [invalid("spec.activeDeadlineSeconds", n_ads, "must be between 0 and 2147483647, inclusive")]
        if o_ads is not None and o_ads < n_ads:
            return errs + [invalid("spec.activeDeadlineSeconds", n_ads, "must be less than or equal to previous value")]
    elif o_ads is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    old_tols, new_tols = as_list(old.get("tolerations")), as_list(new.get("tolerations"))
    for t in old_tols:
        if t not in new_tols:
            errs.append(forbidden("spec.tolerations", "existing toleration can not be modified except its "
                                                      "tolerationSeconds"))
            break
    if new == old:
        return errs
    munged = dict(new)
    for key in ("containers", "initContainers"):
        if key in new and isinstance(new[key], list):
            munged[key] = [
                ({**c, "image": as_map(o).get("image")} if isinstance(c, dict) and isinstance(o, dict) else c)
                for c, o in zip(new[key], as_list(old.get(key)), strict=False)
            ]
            for c, o in zip(munged[key], as_list(old.get(key)), strict=False):
                if isinstance(c, dict) and isinstance(o, dict) and "image" not in o:
                    c.pop("image", None)
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(key, None)
        if key in old:
            munged[key] = old[key]
    if not old.get("nodeName"):
        # Binding. A real server does this through pods/binding, which skips this check; the simulator's
        # scheduler and binding handler write it with an ordinary update, so the first assignment passes.
        munged.pop("nodeName", None)
        if "nodeName" in old:
            munged["nodeName"] = old["nodeName"]
    o_tgp, n_tgp = as_int(old.get("terminationGracePeriodSeconds")), as_int(new.get("terminationGracePeriodSeconds"))
    if o_tgp is not None and o_tgp < 0 and n_tgp == 1:
        munged["terminationGracePeriodSeconds"] = o_tgp
    if munged != old:
        errs.append(forbidden("spec", "pod updates may not change fields other than "
                              + ",".join(UPDATABLE_POD_FIELDS) + "\n" + spec_diff(old, munged)))
    return errs

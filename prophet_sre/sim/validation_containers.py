"""Validation of containers: names, images, ports, env, mounts, resources, probes, lifecycle hooks.

Follows validateContainerCommon, validateContainerPorts, ValidateEnv, ValidateVolumeMounts,
ValidateResourceRequirements and validateProbe in pkg/apis/core/validation. Shared by Pods and by every
pod template (Deployments, Jobs, ...), so the same mistake gets the same text wherever it is made.
"""

from __future__ import annotations

from decimal import Decimal
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
    is_config_map_key,
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns_subdomain,
    not_found,
    not_supported,
    required,
    validate_dns1123_label,
    validate_nonnegative,
    validate_port_num_or_name,
)
from prophet_sre.sim.validation_meta import validate_label_name
from prophet_sre.sim.validation_quantity import format_quantity, parse_quantity_with_format

PROTOCOLS = ("SCTP", "TCP", "UDP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")
_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def quantity(v: Any) -> Decimal | None:
    """A quantity's value, or None when it does not parse (the decode check reports that)."""
    try:
        return parse_quantity_with_format(v)[0]
    except ValueError:
        return None


def quantity_text(v: Any) -> str:
    """Quantity.String() of a raw value, for messages."""
    try:
        return format_quantity(*parse_quantity_with_format(v))
    except ValueError:
        return str(v)


# --- containers ---------------------------------------------------------------------------------------
def _validate_ports(ports: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(as_list(ports)):
        port = as_map(port)
        ppath = f"{path}[{i}]"
        name = as_str(port.get("name"))
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                errs.extend(invalid(child(ppath, "name"), name, m) for m in msgs)
            elif name in names:
                errs.append(duplicate(child(ppath, "name"), name))
            else:
                names.add(name)
        cport = as_int(port.get("containerPort")) or 0
        if cport == 0:
            errs.append(required(child(ppath, "containerPort")))
        else:
            errs.extend(invalid(child(ppath, "containerPort"), cport, m) for m in is_valid_port_num(cport))
        hport = as_int(port.get("hostPort")) or 0
        if hport:
            errs.extend(invalid(child(ppath, "hostPort"), hport, m) for m in is_valid_port_num(hport))
        proto = as_str(port.get("protocol"))
        if not proto:
            errs.append(required(child(ppath, "protocol")))
        elif proto not in PROTOCOLS:
            errs.append(not_supported(child(ppath, "protocol"), proto, PROTOCOLS))
    return errs


def _validate_key_selector(ref: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not as_str(ref.get("name")):
        errs.append(required(child(path, "name")))
    key = as_str(ref.get("key"))
    if not key:
        errs.append(required(child(path, "key")))
    else:
        errs.extend(invalid(child(path, "key"), key, m) for m in is_config_map_key(key))
    return errs


def _validate_field_ref(ref: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not as_str(ref.get("apiVersion")):
        errs.append(required(child(path, "apiVersion")))
    fpath = as_str(ref.get("fieldPath"))
    if not fpath:
        errs.append(required(child(path, "fieldPath")))
    elif fpath not in _ENV_FIELD_PATHS and not (
            fpath.startswith(("metadata.labels['", "metadata.annotations['")) and fpath.endswith("']")):
        errs.append(not_supported(child(path, "fieldPath"), fpath, _ENV_FIELD_PATHS))
    return errs


def _validate_env(env: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ev in enumerate(as_list(env)):
        ev = as_map(ev)
        epath = f"{path}[{i}]"
        name = as_str(ev.get("name"))
        if not name:
            errs.append(required(child(epath, "name")))
            errs.append(invalid(child(epath, "name"), name, "environment variable name must be non-empty"))
        elif any(ord(c) > 126 or ord(c) < 32 or c == "=" for c in name):
            errs.append(invalid(child(epath, "name"), name, "a valid environment variable name must consist only "
                                                             "of printable ASCII characters other than '='"))
        vf = ev.get("valueFrom")
        if not isinstance(vf, dict):
            continue
        vpath = child(epath, "valueFrom")
        sources = 0
        for key in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef"):
            ref = vf.get(key)
            if ref is None:
                continue
            sources += 1
            if key == "fieldRef":
                errs.extend(_validate_field_ref(as_map(ref), child(vpath, key)))
            elif key in ("configMapKeyRef", "secretKeyRef"):
                errs.extend(_validate_key_selector(as_map(ref), child(vpath, key)))
            elif key == "resourceFieldRef" and not as_str(as_map(ref).get("resource")):
                errs.append(required(child(child(vpath, key), "resource")))
        if sources == 0:
            errs.append(invalid(vpath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` "
                                           "or `secretKeyRef`"))
        elif as_str(ev.get("value")):
            errs.append(invalid(vpath, "", "may not be specified when `value` is not empty"))
        elif sources > 1:
            errs.append(invalid(vpath, "", "may not have more than one field specified at a time"))
    return errs


def _validate_env_from(env_from: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ef in enumerate(as_list(env_from)):
        ef = as_map(ef)
        epath = f"{path}[{i}]"
        refs = [k for k in ("configMapRef", "secretRef") if ef.get(k) is not None]
        if not refs:
            errs.append(invalid(epath, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(refs) > 1:
            errs.append(invalid(epath, "", "may not have more than one field specified at a time"))
        for k in refs:
            name = as_str(as_map(ef.get(k)).get("name"))
            if not name:
                errs.append(required(f"{epath}.{k}.name"))
            else:
                errs.extend(invalid(f"{epath}.{k}.name", name, m) for m in name_is_dns_subdomain(name, False))
    return errs


def _validate_mounts(mounts: Any, volumes: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    mount_points: set[str] = set()
    for i, m in enumerate(as_list(mounts)):
        m = as_map(m)
        mpath = f"{path}[{i}]"
        name = as_str(m.get("name"))
        if not name:
            errs.append(required(child(mpath, "name")))
        if name not in volumes:
            errs.append(not_found(child(mpath, "name"), name))
        mount_path = as_str(m.get("mountPath"))
        if not mount_path:
            errs.append(required(child(mpath, "mountPath")))
        if mount_path in mount_points:
            errs.append(invalid(child(mpath, "mountPath"), mount_path, "must be unique"))
        mount_points.add(mount_path)
        sub = as_str(m.get("subPath"))
        if sub.startswith("/"):
            errs.append(invalid(child(mpath, "subPath"), sub, "must be a relative path"))
        elif ".." in sub.split("/"):
            errs.append(invalid(child(mpath, "subPath"), sub, "must not contain '..'"))
    return errs


def _overcommit_allowed(name: str) -> bool:
    native = "/" not in name or name.startswith("kubernetes.io/") or ".kubernetes.io/" in name.split("/")[0]
    return native and not name.startswith("hugepages-")


def _validate_resource_name(name: str, path: str) -> list[FieldError]:
    errs = validate_label_name(name, path)
    if "/" not in name:
        if name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            errs.append(invalid(path, name, "must be a standard resource for containers"))
    return errs


def validate_resource_requirements(res: Any, path: str) -> list[FieldError]:
    """ValidateResourceRequirements: names, non-negative values, requests <= limits."""
    res = as_map(res)
    errs: list[FieldError] = []
    limits = {k: v for k, v in as_map(res.get("limits")).items() if isinstance(k, str)}
    requests = {k: v for k, v in as_map(res.get("requests")).items() if isinstance(k, str)}
    lim_path, req_path = child(path, "limits"), child(path, "requests")
    for name, raw in limits.items():
        kpath = f"{lim_path}[{name}]"
        errs.extend(_validate_resource_name(name, kpath))
        q = quantity(raw)
        if q is not None and q < 0:
            errs.append(invalid(kpath, quantity_text(raw), "must be greater than or equal to 0"))
    for name, raw in requests.items():
        kpath = f"{req_path}[{name}]"
        errs.extend(_validate_resource_name(name, kpath))
        q = quantity(raw)
        if q is None:
            continue
        if q < 0:
            errs.append(invalid(kpath, quantity_text(raw), "must be greater than or equal to 0"))
        if name in limits:
            lq = quantity(limits[name])
            if lq is None:
                continue
            if q != lq and not _overcommit_allowed(name):
                errs.append(invalid(req_path, quantity_text(raw),
                                    f"must be equal to {name} limit of {quantity_text(limits[name])}"))
            elif q > lq:
                errs.append(invalid(req_path, quantity_text(raw),
                                    f"must be less than or equal to {name} limit of {quantity_text(limits[name])}"))
        elif not _overcommit_allowed(name):
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
    return errs


def _validate_handler(h: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    for key in ("exec", "httpGet", "tcpSocket", "grpc", "sleep"):
        src = h.get(key)
        if src is None:
            continue
        if count:
            errs.append(forbidden(child(path, key), "may not specify more than 1 handler type"))
            continue
        count += 1
        src = as_map(src)
        spath = child(path, key)
        if key == "exec" and not as_list(src.get("command")):
            errs.append(required(child(spath, "command")))
        elif key == "httpGet":
            if not as_str(src.get("path")):
                errs.append(required(child(spath, "path")))
            errs.extend(validate_port_num_or_name(src.get("port"), child(spath, "port")))
            scheme = src.get("scheme")
            if isinstance(scheme, str) and scheme not in ("HTTP", "HTTPS"):
                errs.append(not_supported(child(spath, "scheme"), scheme, ("HTTP", "HTTPS")))
        elif key == "tcpSocket":
            errs.extend(validate_port_num_or_name(src.get("port"), child(spath, "port")))
        elif key == "grpc":
            port = as_int(src.get("port"))
            if port is not None:
                errs.extend(invalid(child(spath, "port"), port, m) for m in is_valid_port_num(port))
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _validate_probe(probe: Any, path: str, must_succeed_once: bool) -> list[FieldError]:
    if not isinstance(probe, dict):
        return []
    errs = _validate_handler(probe, path)
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs.extend(validate_nonnegative(probe.get(key), child(path, key)))
    tgp = as_int(probe.get("terminationGracePeriodSeconds"))
    if tgp is not None and tgp <= 0:
        errs.append(invalid(child(path, "terminationGracePeriodSeconds"), tgp, "must be greater than 0"))
    st = as_int(probe.get("successThreshold"))
    if must_succeed_once and st is not None and st != 1:
        errs.append(invalid(child(path, "successThreshold"), st, "must be 1"))
    return errs


def _validate_container_common(ctr: dict, volumes: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = as_str(ctr.get("name"))
    if not name:
        errs.append(required(child(path, "name")))
    else:
        errs.extend(validate_dns1123_label(name, child(path, "name")))
    if not as_str(ctr.get("image")):
        errs.append(required(child(path, "image")))
    tmp = ctr.get("terminationMessagePolicy")
    if tmp is not None:
        tmp = as_str(tmp)
        if not tmp:
            errs.append(required(child(path, "terminationMessagePolicy"), "must be 'File' or 'FallbackToLogsOnError'"))
        elif tmp not in ("File", "FallbackToLogsOnError"):
            errs.append(not_supported(child(path, "terminationMessagePolicy"), tmp, ("File", "FallbackToLogsOnError")))
    errs.extend(_validate_ports(ctr.get("ports"), child(path, "ports")))
    errs.extend(_validate_env(ctr.get("env"), child(path, "env")))
    errs.extend(_validate_env_from(ctr.get("envFrom"), child(path, "envFrom")))
    errs.extend(_validate_mounts(ctr.get("volumeMounts"), volumes, child(path, "volumeMounts")))
    pull = ctr.get("imagePullPolicy")
    if isinstance(pull, str) and pull not in PULL_POLICIES:
        errs.append(not_supported(child(path, "imagePullPolicy"), pull, PULL_POLICIES) if pull
                    else required(child(path, "imagePullPolicy")))
    errs.extend(validate_resource_requirements(ctr.get("resources"), child(path, "resources")))
    return errs


def _validate_lifecycle(ctr: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    lc = ctr.get("lifecycle")
    if isinstance(lc, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lc.get(hook), dict):
                errs.extend(_validate_handler(lc[hook], f"{path}.lifecycle.{hook}"))
    return errs


def validate_containers(containers: Any, volumes: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    items = as_list(containers)
    if not items:
        errs.append(required(path))
    names: set[str] = set()
    for i, ctr in enumerate(items):
        ctr = as_map(ctr)
        cpath = f"{path}[{i}]"
        errs.extend(_validate_container_common(ctr, volumes, cpath))
        name = as_str(ctr.get("name"))
        if name in names:
            errs.append(duplicate(child(cpath, "name"), name))
        else:
            names.add(name)
        errs.extend(_validate_lifecycle(ctr, cpath))
        errs.extend(_validate_probe(ctr.get("livenessProbe"), child(cpath, "livenessProbe"), True))
        errs.extend(_validate_probe(ctr.get("readinessProbe"), child(cpath, "readinessProbe"), False))
        errs.extend(_validate_probe(ctr.get("startupProbe"), child(cpath, "startupProbe"), True))
    return errs


def validate_init_containers(init: Any, containers: Any, volumes: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names = {as_str(as_map(c).get("name")) for c in as_list(containers)}
    for i, ctr in enumerate(as_list(init)):
        ctr = as_map(ctr)
        cpath = f"{path}[{i}]"
        errs.extend(_validate_container_common(ctr, volumes, cpath))
        rp = ctr.get("restartPolicy")
        if isinstance(rp, str) and rp != "Always":
            errs.append(not_supported(child(cpath, "restartPolicy"), rp, ("Always",)))
        name = as_str(ctr.get("name"))
        if name in names:
            errs.append(duplicate(child(cpath, "name"), name))
        elif name:
            names.add(name)
        if rp == "Always":
            errs.extend(_validate_lifecycle(ctr, cpath))
            errs.extend(_validate_probe(ctr.get("livenessProbe"), child(cpath, "livenessProbe"), True))
            errs.extend(_validate_probe(ctr.get("readinessProbe"), child(cpath, "readinessProbe"), False))
            errs.extend(_validate_probe(ctr.get("startupProbe"), child(cpath, "startupProbe"), True))
        else:
            for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if ctr.get(key) is not None:
                    errs.append(forbidden(child(cpath, key), "may not be set for init containers without "
                                                             "restartPolicy=Always"))
    return errs

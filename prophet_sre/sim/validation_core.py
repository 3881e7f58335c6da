"""Validation of the core/v1 kinds that are neither pods nor storage: Namespace, Service, Endpoints,
ConfigMap, Secret, ServiceAccount, Node, Event, ResourceQuota and LimitRange, plus events.k8s.io/v1
Event (which shares the core rules).

Follows pkg/apis/core/validation. The update rules are the ones that bite in practice: a Service's
cluster IP, a Secret's type and an immutable ConfigMap's data may not change.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from typing import Any

from prophet_sre.sim.validation_base import (
    FieldError,
    GoLiteral,
    as_int,
    as_list,
    as_map,
    as_str,
    child,
    duplicate,
    forbidden,
    go_json,
    immutable,
    invalid,
    is_config_map_key,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    is_valid_port_num,
    not_supported,
    required,
    too_long,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_port_num_or_name,
)
from prophet_sre.sim.validation_containers import PROTOCOLS, quantity, quantity_text
from prophet_sre.sim.validation_meta import validate_label_name, validate_labels
from prophet_sre.sim.validation_pods import TAINT_EFFECTS

MAX_SECRET_SIZE = 1024 * 1024
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


# --- Namespace -----------------------------------------------------------------------------------------
def validate_namespace(obj: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, fin in enumerate(as_list(as_map(obj.get("spec")).get("finalizers"))):
        if not isinstance(fin, str):
            continue
        path = f"spec.finalizers[{i}]"
        errs.extend(invalid(path, fin, m) for m in is_qualified_name(fin))
        if "/" not in fin and fin not in _STANDARD_FINALIZERS:
            errs.append(invalid(path, fin, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


# --- Service -------------------------------------------------------------------------------------------
def _cluster_ips(spec: dict) -> list[str]:
    ips = [ip for ip in as_list(spec.get("clusterIPs")) if isinstance(ip, str)]
    if not ips and as_str(spec.get("clusterIP")):
        ips = [as_str(spec.get("clusterIP"))]
    return ips


def _validate_service_ports(spec: dict, headless: bool, stype: str) -> list[FieldError]:
    errs: list[FieldError] = []
    ports = as_list(spec.get("ports"))
    names: set[str] = set()
    seen: set[tuple[str, Any]] = set()
    for i, port in enumerate(ports):
        port = as_map(port)
        ppath = f"spec.ports[{i}]"
        name = as_str(port.get("name"))
        if len(ports) > 1 and not name:
            errs.append(required(child(ppath, "name")))
        elif name:
            errs.extend(validate_dns1123_label(name, child(ppath, "name")))
            if name in names:
                errs.append(duplicate(child(ppath, "name"), name))
            names.add(name)
        num = as_int(port.get("port")) or 0
        errs.extend(invalid(child(ppath, "port"), num, m) for m in is_valid_port_num(num))
        proto = as_str(port.get("protocol"))
        if not proto:
            errs.append(required(child(ppath, "protocol")))
        elif proto not in PROTOCOLS:
            errs.append(not_supported(child(ppath, "protocol"), proto, PROTOCOLS))
        if port.get("targetPort") is not None:
            errs.extend(validate_port_num_or_name(port.get("targetPort"), child(ppath, "targetPort")))
        node_port = as_int(port.get("nodePort")) or 0
        if node_port and stype in ("ClusterIP", "ExternalName"):
            errs.append(forbidden(child(ppath, "nodePort"), f"may not be used when `type` is '{stype}'"))
        elif node_port:
            errs.extend(invalid(child(ppath, "nodePort"), node_port, m) for m in is_valid_port_num(node_port))
        key = (proto, num)
        if key in seen:
            errs.append(duplicate(ppath, GoLiteral(
                f'{{"Name":"","Protocol":{go_json(proto)},"AppProtocol":null,"Port":{num},"TargetPort":0,"NodePort":0}}')))
        seen.add(key)
    return errs


def validate_service(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    stype = as_str(spec.get("type"))
    ips = _cluster_ips(spec)
    headless = bool(ips) and ips[0] == "None"
    if stype and stype not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", stype, SERVICE_TYPES))
    if stype == "ExternalName":
        if ips and ips[0] not in ("", "None"):
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        ext = as_str(spec.get("externalName"))
        if not ext:
            errs.append(required("spec.externalName"))
        else:
            errs.extend(invalid("spec.externalName", ext, m) for m in is_dns1123_subdomain(ext.removesuffix(".")))
    else:
        for i, ip in enumerate(ips):
            if ip != "None" and not _is_ip(ip):
                errs.append(invalid(f"spec.clusterIPs[{i}]", ip, IP_MSG))
        ip0 = as_str(spec.get("clusterIP"))
        listed = [ip for ip in as_list(spec.get("clusterIPs")) if isinstance(ip, str)]
        if ip0 and listed and listed[0] != ip0:
            errs.append(invalid("spec.clusterIPs", listed, "first value must match `clusterIP`"))
    if not as_list(spec.get("ports")) and not headless and stype != "ExternalName":
        errs.append(required("spec.ports"))
    errs.extend(_validate_service_ports(spec, headless, stype))
    errs.extend(validate_labels(spec.get("selector"), "spec.selector"))
    sa = spec.get("sessionAffinity")
    if isinstance(sa, str) and sa not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", sa, ("ClientIP", "None")) if sa
                    else required("spec.sessionAffinity"))
    etp = spec.get("externalTrafficPolicy")
    if isinstance(etp, str) and etp:
        if stype not in ("NodePort", "LoadBalancer") and not as_list(spec.get("externalIPs")):
            errs.append(invalid("spec.externalTrafficPolicy", etp,
                                "may only be set for externally-accessible services"))
        elif etp not in ("Cluster", "Local"):
            errs.append(not_supported("spec.externalTrafficPolicy", etp, ("Cluster", "Local")))
    itp = spec.get("internalTrafficPolicy")
    if isinstance(itp, str) and itp not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", itp, ("Cluster", "Local")))
    ifp = spec.get("ipFamilyPolicy")
    if isinstance(ifp, str) and ifp not in ("PreferDualStack", "RequireDualStack", "SingleStack"):
        errs.append(not_supported("spec.ipFamilyPolicy", ifp, ("PreferDualStack", "RequireDualStack", "SingleStack")))
    for i, fam in enumerate(as_list(spec.get("ipFamilies"))):
        if isinstance(fam, str) and fam not in ("IPv4", "IPv6"):
            errs.append(not_supported(f"spec.ipFamilies[{i}]", fam, ("IPv4", "IPv6")))
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        if isinstance(ip, str) and not _is_ip(ip):
            errs.append(invalid(f"spec.externalIPs[{i}]", ip, IP_MSG))
    if old is not None:
        errs.extend(_service_update(spec, as_map(old.get("spec"))))
    return errs


def _service_update(spec: dict, old_spec: dict) -> list[FieldError]:
    if "ExternalName" in (as_str(spec.get("type")), as_str(old_spec.get("type"))):
        return []
    new_ips, old_ips = _cluster_ips(spec), _cluster_ips(old_spec)
    if not new_ips:
        return []  # the REST layer carries the allocated IPs over when an update omits them
    for i, ip in enumerate(old_ips):
        if i >= len(new_ips):
            break
        if ip != new_ips[i]:
            return [invalid(f"spec.clusterIPs[{i}]", new_ips, "may not change once set")]
    return []


# --- Endpoints ---------------------------------------------------------------------------------------------
def validate_endpoints(obj: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, subset in enumerate(as_list(obj.get("subsets"))):
        subset = as_map(subset)
        spath = f"subsets[{i}]"
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(as_list(subset.get(key))):
                ip = as_str(as_map(addr).get("ip"))
                if not _is_ip(ip):
                    errs.append(invalid(f"{spath}.{key}[{j}].ip", ip, IP_MSG))
        ports = as_list(subset.get("ports"))
        for j, port in enumerate(ports):
            port = as_map(port)
            ppath = f"{spath}.ports[{j}]"
            name = as_str(port.get("name"))
            if len(ports) > 1 and not name:
                errs.append(required(child(ppath, "name")))
            elif name:
                errs.extend(validate_dns1123_label(name, child(ppath, "name")))
            num = as_int(port.get("port")) or 0
            errs.extend(invalid(child(ppath, "port"), num, m) for m in is_valid_port_num(num))
            proto = as_str(port.get("protocol"))
            if not proto:
                errs.append(required(child(ppath, "protocol")))
            elif proto not in PROTOCOLS:
                errs.append(not_supported(child(ppath, "protocol"), proto, PROTOCOLS))
    return errs


# --- ConfigMap / Secret --------------------------------------------------------------------------------------
def _decoded_len(v: Any) -> int:
    if not isinstance(v, str):
        return 0
    try:
        return len(base64.b64decode(v, validate=False))
    except (binascii.Error, ValueError):
        return len(v)


def _immutable_data(obj: dict, old: dict, keys: tuple[str, ...]) -> list[FieldError]:
    errs: list[FieldError] = []
    if old.get("immutable") is True:
        if obj.get("immutable") is not True:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for key in keys:
            if (obj.get(key) or None) != (old.get(key) or None):
                errs.append(forbidden(key, "field is immutable when `immutable` is set"))
    return errs


def validate_configmap(obj: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    data, binary = as_map(obj.get("data")), as_map(obj.get("binaryData"))
    total = 0
    for key, value in data.items():
        errs.extend(invalid(f"data[{key}]", key, m) for m in is_config_map_key(str(key)))
        if key in binary:
            errs.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(as_str(value).encode())
    for key, value in binary.items():
        errs.extend(invalid(f"binaryData[{key}]", key, m) for m in is_config_map_key(str(key)))
        if key in data:
            errs.append(invalid(f"binaryData[{key}]", key, "duplicate of key present in data"))
        total += _decoded_len(value)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", MAX_SECRET_SIZE))
    if old is not None:
        errs.extend(_immutable_data(obj, old, ("data", "binaryData")))
    return errs


def validate_secret(obj: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    data = as_map(obj.get("data"))
    total = 0
    for key, value in data.items():
        errs.extend(invalid(f"data[{key}]", key, m) for m in is_config_map_key(str(key)))
        total += _decoded_len(value)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    stype = as_str(obj.get("type"))
    annotations = as_map(as_map(obj.get("metadata")).get("annotations"))
    if stype == "kubernetes.io/service-account-token":
        if not as_str(annotations.get("kubernetes.io/service-account.name")):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if stype == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            errs.append(required(f"data[{key}]"))
        else:
            try:
                parsed = json.loads(base64.b64decode(as_str(data[key])))
                ok = isinstance(parsed, dict)
            except (ValueError, binascii.Error):
                ok = False
            if not ok:
                errs.append(invalid(f"data[{key}]", "<secret contents redacted>", "invalid character looking for "
                                                                                  "beginning of value"))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.extend([required("data[username]"), required("data[password]")])
    elif stype == "kubernetes.io/ssh-auth":
        if not as_str(data.get("ssh-privatekey")):
            errs.append(required("data[ssh-privatekey]"))
    elif stype == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errs.append(required(f"data[{key}]"))
    if old is not None:
        old_type = as_str(old.get("type"))
        if stype != old_type:
            errs.append(immutable("type", stype))
        errs.extend(_immutable_data(obj, old, ("data",)))
    return errs


# --- Node ------------------------------------------------------------------------------------------------
def validate_node(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(as_list(spec.get("taints"))):
        taint = as_map(taint)
        tpath = f"spec.taints[{i}]"
        key, effect = as_str(taint.get("key")), as_str(taint.get("effect"))
        errs.extend(validate_label_name(key, child(tpath, "key")))
        value = as_str(taint.get("value"))
        if value:
            errs.extend(invalid(child(tpath, "value"), value, m) for m in is_valid_label_value(value))
        if not effect:
            errs.append(required(child(tpath, "effect")))
        elif effect not in TAINT_EFFECTS:
            errs.append(not_supported(child(tpath, "effect"), effect, TAINT_EFFECTS))
        if (key, effect) in seen:
            errs.append(duplicate(tpath, GoLiteral(
                f'{{"key":{go_json(key)},"effect":{go_json(effect)}}}')))
        seen.add((key, effect))
    for i, cidr in enumerate(as_list(spec.get("podCIDRs"))):
        if isinstance(cidr, str):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                errs.append(invalid(f"spec.podCIDRs[{i}]", cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 "
                                                                  "or 2001:db8::/64)"))
    if old is not None:
        old_spec = as_map(old.get("spec"))
        old_cidr = as_str(old_spec.get("podCIDR"))
        if old_cidr and as_str(spec.get("podCIDR")) != old_cidr:
            errs.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
        old_pid = as_str(old_spec.get("providerID"))
        if old_pid and as_str(spec.get("providerID")) != old_pid:
            errs.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to '
                                                     "valid"))
    return errs


# --- Event ---------------------------------------------------------------------------------------------
def validate_event(obj: dict, old: dict | None, *, events_api: bool) -> list[FieldError]:
    """Event validation: the legacy namespace rule always, the strict rules for events.k8s.io/v1."""
    errs: list[FieldError] = []
    namespace = as_str(as_map(obj.get("metadata")).get("namespace"))
    involved = as_map(obj.get("regarding") if events_api else obj.get("involvedObject"))
    inv_ns = as_str(involved.get("namespace"))
    event_time = obj.get("eventTime")
    if not event_time:
        if not inv_ns:
            if namespace not in ("", "default"):
                errs.append(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
        elif namespace != inv_ns:
            errs.append(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
    else:
        if not inv_ns and namespace not in ("default", "kube-system"):
            errs.append(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
        rc_field = "reportingController" if events_api else "source"
        rc = as_str(obj.get("reportingController"))
        if not rc:
            errs.append(required(rc_field))
        errs.extend(invalid(rc_field, rc, m) for m in is_qualified_name(rc))
        ri = as_str(obj.get("reportingInstance"))
        if not ri:
            errs.append(required("reportingInstance"))
        elif len(ri) > 128:
            errs.append(invalid("reportingInstance", "", "can have at most 128 characters"))
        action = as_str(obj.get("action"))
        if not action:
            errs.append(required("action"))
        elif len(action) > 128:
            errs.append(invalid("action", "", "can have at most 128 characters"))
        reason = as_str(obj.get("reason"))
        if not reason:
            errs.append(required("reason"))
        elif len(reason) > 128:
            errs.append(invalid("reason", "", "can have at most 128 characters"))
        note = as_str(obj.get("note") if events_api else obj.get("message"))
        if len(note) > 1024:
            errs.append(invalid("message", "", "can have at most 1024 characters"))
    errs.extend(invalid("namespace", namespace, m) for m in is_dns1123_subdomain(namespace))
    if events_api:
        if not event_time:
            errs.append(required("eventTime"))
        etype = as_str(obj.get("type"))
        if etype not in ("Normal", "Warning"):
            errs.append(invalid("type", "", f"has invalid value: {etype}"))
    return errs


# --- ResourceQuota / LimitRange / ServiceAccount ---------------------------------------------------------------
def validate_resource_quota(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    for key, raw in as_map(spec.get("hard")).items():
        kpath = f"spec.hard[{key}]"
        errs.extend(validate_label_name(str(key), kpath))
        q = quantity(raw)
        if q is not None and q < 0:
            errs.append(invalid(kpath, quantity_text(raw), "must be greater than or equal to 0"))
    scopes = ("BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass",
              "Terminating", "VolumeAttributesClass")
    for i, scope in enumerate(as_list(spec.get("scopes"))):
        if isinstance(scope, str) and scope not in scopes:
            errs.append(not_supported(f"spec.scopes[{i}]", scope, scopes))
    return errs


def validate_limit_range(obj: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(as_list(as_map(obj.get("spec")).get("limits"))):
        item = as_map(item)
        ipath = f"spec.limits[{i}]"
        ltype = as_str(item.get("type"))
        if not ltype:
            errs.append(required(child(ipath, "type")))
        elif ltype not in ("Container", "Pod", "PersistentVolumeClaim"):
            errs.append(not_supported(child(ipath, "type"), ltype, ("Container", "Pod", "PersistentVolumeClaim")))
        mins, maxes = as_map(item.get("min")), as_map(item.get("max"))
        for key, raw in mins.items():
            lo, hi = quantity(raw), quantity(maxes.get(key)) if key in maxes else None
            if lo is not None and hi is not None and lo > hi:
                errs.append(invalid(f"{ipath}.min[{key}]", quantity_text(raw),
                                    f"min value {quantity_text(raw)} is greater than max value "
                                    f"{quantity_text(maxes[key])}"))
        for section in ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio"):
            for key, raw in as_map(item.get(section)).items():
                q = quantity(raw)
                if q is not None and q < 0:
                    errs.append(invalid(f"{ipath}.{section}[{key}]", quantity_text(raw),
                                        "must be greater than or equal to 0"))
    return errs


def validate_service_account(obj: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("secrets", "imagePullSecrets"):
        for i, ref in enumerate(as_list(obj.get(key))):
            name = as_str(as_map(ref).get("name"))
            if name:
                errs.extend(validate_dns1123_subdomain(name, f"{key}[{i}].name"))
    return errs

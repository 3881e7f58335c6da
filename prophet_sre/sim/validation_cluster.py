"""Validation of networking (NetworkPolicy, Ingress, IngressClass, EndpointSlice), RBAC, Lease and
PriorityClass.

Follows the matching pkg/apis/*/validation packages. RBAC gets the most care: a Role without verbs or a
binding whose roleRef changes are errors people meet when they write least-privilege rules by hand.
"""

from __future__ import annotations

import ipaddress

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
    is_dns1035_label,
    is_dns1123_subdomain,
    is_valid_path_segment_name,
    is_valid_port_name,
    is_valid_port_num,
    not_supported,
    required,
    validate_dns1123_label,
    validate_port_num_or_name,
)
from prophet_sre.sim.validation_containers import PROTOCOLS
from prophet_sre.sim.validation_meta import validate_label_selector

RBAC_GROUP = "rbac.authorization.k8s.io"
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
HIGHEST_USER_PRIORITY = 1000000000


def _is_cidr(s: str) -> bool:
    try:
        ipaddress.ip_network(s, strict=False)
    except ValueError:
        return False
    return "/" in s


# --- networking -----------------------------------------------------------------------------------------
def _validate_np_port(port: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    proto = port.get("protocol")
    if isinstance(proto, str) and proto not in PROTOCOLS:
        errs.append(not_supported(child(path, "protocol"), proto, PROTOCOLS))
    if port.get("port") is not None:
        errs.extend(validate_port_num_or_name(port.get("port"), child(path, "port")))
    end = as_int(port.get("endPort"))
    if end is not None:
        start = port.get("port")
        if not isinstance(start, int) or isinstance(start, bool):
            errs.append(required(child(path, "port"), "when endPort is specified"))
        elif end < start:
            errs.append(invalid(child(path, "endPort"), end, "must be greater than or equal to `port`"))
    return errs


def _validate_np_peer(peer: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    set_count = sum(1 for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None)
    if set_count == 0:
        errs.append(required(path, "must specify a peer"))
    elif peer.get("ipBlock") is not None and set_count > 1:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    for key in ("podSelector", "namespaceSelector"):
        if isinstance(peer.get(key), dict):
            errs.extend(validate_label_selector(peer[key], child(path, key)))
    block = peer.get("ipBlock")
    if isinstance(block, dict):
        cidr = as_str(block.get("cidr"))
        if not cidr:
            errs.append(required(f"{path}.ipBlock.cidr"))
        elif not _is_cidr(cidr):
            errs.append(invalid(f"{path}.ipBlock.cidr", cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
                                                              "2001:db8::/64)"))
    return errs


def validate_network_policy(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs = validate_label_selector(spec.get("podSelector"), "spec.podSelector")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(as_list(spec.get(direction))):
            rule = as_map(rule)
            rpath = f"spec.{direction}[{i}]"
            for j, port in enumerate(as_list(rule.get("ports"))):
                errs.extend(_validate_np_port(as_map(port), f"{rpath}.ports[{j}]"))
            for j, peer in enumerate(as_list(rule.get(peers_key))):
                errs.extend(_validate_np_peer(as_map(peer), f"{rpath}.{peers_key}[{j}]"))
    types = as_list(spec.get("policyTypes"))
    if len(types) > 2:
        errs.append(invalid("spec.policyTypes", types, "may not specify more than two policyTypes"))
    else:
        for i, ptype in enumerate(types):
            if ptype not in ("Ingress", "Egress"):
                errs.append(not_supported(f"spec.policyTypes[{i}]", ptype, ("Ingress", "Egress")))
    return errs


_BAD_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_BAD_PATH_SUFFIXES = ("/..", "/.")


def _validate_ingress_backend(backend: dict, path: str) -> list[FieldError]:
    has_resource, has_service = backend.get("resource") is not None, backend.get("service") is not None
    if has_resource and has_service:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if has_resource:
        res = as_map(backend.get("resource"))
        errs = []
        for key in ("kind", "name"):
            if not as_str(res.get(key)):
                errs.append(required(f"{path}.resource.{key}"))
        return errs
    if not has_service:
        return [invalid(path, "", "resource or service backend is required")]
    svc = as_map(backend.get("service"))
    errs: list[FieldError] = []
    name = as_str(svc.get("name"))
    if not name:
        errs.append(required(f"{path}.service.name"))
    else:
        errs.extend(invalid(f"{path}.service.name", name, m) for m in is_dns1035_label(name))
    port = as_map(svc.get("port"))
    pname, pnum = as_str(port.get("name")), as_int(port.get("number")) or 0
    if pname and pnum:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif pname:
        errs.extend(invalid(f"{path}.service.port.name", pname, m) for m in is_valid_port_name(pname))
    elif pnum:
        errs.extend(invalid(f"{path}.service.port.number", pnum, m) for m in is_valid_port_num(pnum))
    else:
        errs.append(required(path, "port name or number is required"))
    return errs


def _validate_host(host: str, path: str) -> list[FieldError]:
    if _is_ip_like(host):
        return [invalid(path, host, "must be a DNS name, not an IP address")]
    check = host[2:] if host.startswith("*.") else host
    return [invalid(path, host, m) for m in is_dns1123_subdomain(check)]


def _is_ip_like(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def validate_ingress(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    rules = as_list(spec.get("rules"))
    if spec.get("defaultBackend") is None and not rules:
        errs.append(invalid("spec", spec.get("rules"), "either `defaultBackend` or `rules` must be specified"))
    if isinstance(spec.get("defaultBackend"), dict):
        errs.extend(_validate_ingress_backend(spec["defaultBackend"], "spec.defaultBackend"))
    for i, rule in enumerate(rules):
        rule = as_map(rule)
        rpath = f"spec.rules[{i}]"
        host = as_str(rule.get("host"))
        if host:
            errs.extend(_validate_host(host, child(rpath, "host")))
        http = rule.get("http")
        if http is None:
            continue
        paths = as_list(as_map(http).get("paths"))
        if not paths:
            errs.append(required(f"{rpath}.http.paths"))
        for j, p in enumerate(paths):
            p = as_map(p)
            ppath = f"{rpath}.http.paths[{j}]"
            ptype = p.get("pathType")
            path = as_str(p.get("path"))
            if not isinstance(ptype, str):
                errs.append(required(child(ppath, "pathType"), "pathType must be specified"))
            elif ptype not in ("Exact", "ImplementationSpecific", "Prefix"):
                errs.append(not_supported(child(ppath, "pathType"), ptype, ("Exact", "ImplementationSpecific", "Prefix")))
            elif ptype in ("Exact", "Prefix"):
                if not path.startswith("/"):
                    errs.append(invalid(child(ppath, "path"), path, "must be an absolute path"))
                else:
                    for seq in _BAD_PATH_SEQUENCES:
                        if seq in path:
                            errs.append(invalid(child(ppath, "path"), path, f"must not contain '{seq}'"))
                    for suf in _BAD_PATH_SUFFIXES:
                        if path.endswith(suf):
                            errs.append(invalid(child(ppath, "path"), path, f"cannot end with '{suf}'"))
            elif path and not path.startswith("/"):
                errs.append(invalid(child(ppath, "path"), path, "must be an absolute path"))
            errs.extend(_validate_ingress_backend(as_map(p.get("backend")), child(ppath, "backend")))
    icn = spec.get("ingressClassName")
    if isinstance(icn, str) and icn:
        errs.extend(invalid("spec.ingressClassName", icn, m) for m in is_dns1123_subdomain(icn))
    for i, tls in enumerate(as_list(spec.get("tls"))):
        for j, host in enumerate(as_list(as_map(tls).get("hosts"))):
            if isinstance(host, str) and host:
                errs.extend(_validate_host(host, f"spec.tls[{i}].hosts[{j}]"))
    return errs


def validate_ingress_class(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    controller = as_str(spec.get("controller"))
    errs: list[FieldError] = []
    if not controller:
        errs.append(required("spec.controller"))
    else:
        prefix, _, rest = controller.partition("/")
        if not rest:
            errs.append(invalid("spec.controller", controller, 'must be a domain-prefixed path (such as "acme.io/foo")'))
        else:
            errs.extend(invalid("spec.controller", prefix, m) for m in is_dns1123_subdomain(prefix))
        if len(controller) > 250:
            errs.append(FieldError("FieldValueTooLong", "spec.controller", "may not be more than 250 bytes"))
    if old is not None and controller != as_str(as_map(old.get("spec")).get("controller")):
        errs.append(immutable("spec.controller", controller))
    return errs


def validate_endpoint_slice(obj: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    at = as_str(obj.get("addressType"))
    if not at:
        errs.append(required("addressType"))
    elif at not in ("FQDN", "IPv4", "IPv6"):
        errs.append(not_supported("addressType", at, ("IPv4", "IPv6", "FQDN")))
    for i, ep in enumerate(as_list(obj.get("endpoints"))):
        addrs = as_list(as_map(ep).get("addresses"))
        if not addrs:
            errs.append(required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
        elif len(addrs) > 100:
            errs.append(FieldError("FieldValueTooMany", f"endpoints[{i}].addresses", "must have at most 100 items",
                                   len(addrs)))
    names: set[str] = set()
    for i, port in enumerate(as_list(obj.get("ports"))):
        port = as_map(port)
        ppath = f"ports[{i}]"
        name = as_str(port.get("name"))
        if name:
            errs.extend(validate_dns1123_label(name, child(ppath, "name")))
        if name in names:
            errs.append(duplicate(child(ppath, "name"), name))
        names.add(name)
        proto = port.get("protocol")
        if isinstance(proto, str) and proto not in PROTOCOLS:
            errs.append(not_supported(child(ppath, "protocol"), proto, PROTOCOLS))
    if old is not None and at != as_str(old.get("addressType")):
        errs.append(immutable("addressType", at))
    return errs


# --- RBAC -----------------------------------------------------------------------------------------------
def _validate_policy_rule(rule: dict, namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not as_list(rule.get("verbs")):
        errs.append(required(child(path, "verbs"), "verbs must contain at least one value"))
    urls = as_list(rule.get("nonResourceURLs"))
    if urls:
        if namespaced:
            errs.append(invalid(child(path, "nonResourceURLs"), urls, "namespaced rules cannot apply to non-resource "
                                                                      "URLs"))
        if as_list(rule.get("apiGroups")) or as_list(rule.get("resources")) or as_list(rule.get("resourceNames")):
            errs.append(invalid(child(path, "nonResourceURLs"), urls, "rules cannot apply to both regular resources "
                                                                      "and non-resource URLs"))
        return errs
    if not as_list(rule.get("apiGroups")):
        errs.append(required(child(path, "apiGroups"), "resource rules must supply at least one api group"))
    if not as_list(rule.get("resources")):
        errs.append(required(child(path, "resources"), "resource rules must supply at least one resource"))
    return errs


def validate_role(obj: dict, old: dict | None, *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(as_list(obj.get("rules"))):
        errs.extend(_validate_policy_rule(as_map(rule), namespaced, f"rules[{i}]"))
    agg = obj.get("aggregationRule")
    if not namespaced and isinstance(agg, dict):
        selectors = as_list(agg.get("clusterRoleSelectors"))
        if not selectors:
            errs.append(required("aggregationRule.clusterRoleSelectors", "at least one clusterRoleSelector required "
                                                                         "if aggregationRule is non-nil"))
        for i, sel in enumerate(selectors):
            errs.extend(validate_label_selector(sel, f"aggregationRule.clusterRoleSelectors[{i}]"))
    return errs


def _role_ref_value(ref: dict) -> GoLiteral:
    return GoLiteral(f'{{"APIGroup":{go_json(as_str(ref.get("apiGroup")))},"Kind":{go_json(as_str(ref.get("kind")))},'
                     f'"Name":{go_json(as_str(ref.get("name")))}}}')


def validate_role_binding(obj: dict, old: dict | None, *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    ref = as_map(obj.get("roleRef"))
    if as_str(ref.get("apiGroup")) != RBAC_GROUP:
        errs.append(not_supported("roleRef.apiGroup", as_str(ref.get("apiGroup")), (RBAC_GROUP,)))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if as_str(ref.get("kind")) not in kinds:
        errs.append(not_supported("roleRef.kind", as_str(ref.get("kind")), kinds))
    name = as_str(ref.get("name"))
    if not name:
        errs.append(required("roleRef.name"))
    else:
        errs.extend(invalid("roleRef.name", name, m) for m in is_valid_path_segment_name(name))
    for i, subject in enumerate(as_list(obj.get("subjects"))):
        errs.extend(_validate_subject(as_map(subject), namespaced, f"subjects[{i}]"))
    if old is not None:
        old_ref = as_map(old.get("roleRef"))
        if any(as_str(ref.get(k)) != as_str(old_ref.get(k)) for k in ("apiGroup", "kind", "name")):
            errs.append(invalid("roleRef", _role_ref_value(ref), "cannot change roleRef"))
    return errs


def _validate_subject(subject: dict, namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name, kind, group = as_str(subject.get("name")), as_str(subject.get("kind")), as_str(subject.get("apiGroup"))
    if not name:
        errs.append(required(child(path, "name")))
    if kind == "ServiceAccount":
        if name:
            errs.extend(invalid(child(path, "name"), name, m) for m in is_dns1123_subdomain(name))
        if group:
            errs.append(not_supported(child(path, "apiGroup"), group, ("",)))
        if not namespaced and not as_str(subject.get("namespace")):
            errs.append(required(child(path, "namespace")))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            errs.append(not_supported(child(path, "apiGroup"), group, (RBAC_GROUP,)))
    else:
        errs.append(not_supported(child(path, "kind"), kind, ("ServiceAccount", "User", "Group")))
    return errs


# --- coordination / scheduling ----------------------------------------------------------------------------
def validate_lease(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    duration = as_int(spec.get("leaseDurationSeconds"))
    if duration is not None and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = as_int(spec.get("leaseTransitions"))
    if transitions is not None and transitions < 0:
        errs.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if isinstance(strategy, str) and strategy and strategy != "OldestEmulationVersion":
        errs.append(not_supported("spec.strategy", strategy, ("OldestEmulationVersion",)))
    return errs


def validate_priority_class(obj: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    name = as_str(as_map(obj.get("metadata")).get("name"))
    value = as_int(obj.get("value")) or 0
    if name.startswith("system-"):
        known = SYSTEM_PRIORITY_CLASSES.get(name)
        if known is None:
            errs.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved for "
                                                   f"system use only. error: {name} is not a known system priority "
                                                   "class"))
        elif value != known:
            errs.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved for "
                                                   f"system use only. error: value of {name} PriorityClass must be "
                                                   f"{known}"))
    elif value > HIGHEST_USER_PRIORITY:
        errs.append(forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"))
    pp = obj.get("preemptionPolicy")
    if isinstance(pp, str) and pp not in ("Never", "PreemptLowerPriority"):
        errs.append(not_supported("preemptionPolicy", pp, ("Never", "PreemptLowerPriority")))
    if old is not None:
        if obj.get("value") != old.get("value"):
            errs.append(forbidden("value", "may not be changed in an update."))
        if obj.get("preemptionPolicy") != old.get("preemptionPolicy"):
            errs.append(immutable("preemptionPolicy", obj.get("preemptionPolicy")))
    return errs

"""Validation of the API-extension kinds: CustomResourceDefinitions, admission webhook configurations
and the authorization reviews.

Follows apiextensions-apiserver's CRD validation and pkg/apis/admissionregistration/validation. The
CRD checks matter most to the simulator: a CRD it accepts becomes served resources, so names, group,
scope, the schema and the single storage version are enforced exactly as a real server does.
"""

from __future__ import annotations

from prophet_sre.sim.validation_base import (
    FieldError,
    GoLiteral,
    as_bool,
    as_int,
    as_list,
    as_map,
    as_str,
    child,
    duplicate,
    go_json,
    immutable,
    invalid,
    is_dns1035_label,
    is_dns1123_subdomain,
    not_supported,
    required,
)


# --- admission webhooks ------------------------------------------------------------------------------------
def validate_webhook_configuration(obj: dict, old: dict | None, *, mutating: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, wh in enumerate(as_list(obj.get("webhooks"))):
        wh = as_map(wh)
        path = f"webhooks[{i}]"
        name = as_str(wh.get("name"))
        if not name:
            errs.append(required(child(path, "name")))
        else:
            errs.extend(invalid(child(path, "name"), name, m) for m in is_dns1123_subdomain(name))
            if len(name.split(".")) < 3:
                errs.append(invalid(child(path, "name"), name, "should be a domain with at least three segments "
                                                               "separated by dots"))
        if name in names:
            errs.append(duplicate(child(path, "name"), name))
        names.add(name)
        se = wh.get("sideEffects")
        if not isinstance(se, str):
            errs.append(required(child(path, "sideEffects"), "must specify one of None, NoneOnDryRun"))
        elif se not in ("None", "NoneOnDryRun"):
            errs.append(not_supported(child(path, "sideEffects"), se, ("None", "NoneOnDryRun")))
        versions = as_list(wh.get("admissionReviewVersions"))
        if not versions:
            errs.append(required(child(path, "admissionReviewVersions"), "must specify one of v1, v1beta1"))
        cc = as_map(wh.get("clientConfig"))
        if (cc.get("url") is None) == (cc.get("service") is None):
            errs.append(required(child(path, "clientConfig"), "exactly one of url or service is required"))
        fp = wh.get("failurePolicy")
        if isinstance(fp, str) and fp not in ("Fail", "Ignore"):
            errs.append(not_supported(child(path, "failurePolicy"), fp, ("Fail", "Ignore")))
        mp = wh.get("matchPolicy")
        if isinstance(mp, str) and mp not in ("Equivalent", "Exact"):
            errs.append(not_supported(child(path, "matchPolicy"), mp, ("Equivalent", "Exact")))
        ts = as_int(wh.get("timeoutSeconds"))
        if ts is not None and not 1 <= ts <= 30:
            errs.append(invalid(child(path, "timeoutSeconds"), ts, "the timeout value must be between 1 and 30 "
                                                                   "seconds"))
        rp = wh.get("reinvocationPolicy")
        if mutating and isinstance(rp, str) and rp not in ("IfNeeded", "Never"):
            errs.append(not_supported(child(path, "reinvocationPolicy"), rp, ("Never", "IfNeeded")))
    return errs


# --- authorization reviews -------------------------------------------------------------------------------
def validate_access_review(obj: dict, old: dict | None, *, needs_user: bool) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    has_res, has_non = spec.get("resourceAttributes") is not None, spec.get("nonResourceAttributes") is not None
    if has_res and has_non:
        errs.append(invalid("spec.nonResourceAttributes", GoLiteral(go_json(spec.get("nonResourceAttributes"))),
                            "cannot be specified in combination with resourceAttributes"))
    if not has_res and not has_non:
        errs.append(invalid("spec.resourceAttributes", None, "exactly one of nonResourceAttributes or "
                                                             "resourceAttributes must be specified"))
    if needs_user and not as_str(spec.get("user")) and not as_list(spec.get("groups")) and not as_str(spec.get("uid")):
        errs.append(invalid("spec.user", as_str(spec.get("user")), "at least one of user or group must be specified"))
    return errs


# --- CustomResourceDefinition ---------------------------------------------------------------------------------
def _validate_crd_names(names: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("plural", "singular"):
        v = as_str(names.get(key))
        if v:
            msgs = is_dns1035_label(v)
            if msgs:
                errs.append(invalid(child(path, key), v, ",".join(msgs)))
    for key in ("kind", "listKind"):
        v = as_str(names.get(key))
        if v:
            msgs = is_dns1035_label(v.lower())
            if msgs:
                errs.append(invalid(child(path, key), v, "may have mixed case, but should otherwise match: "
                                    + ",".join(msgs)))
    for i, short in enumerate(as_list(names.get("shortNames"))):
        if isinstance(short, str):
            msgs = is_dns1035_label(short)
            if msgs:
                errs.append(invalid(f"{path}.shortNames[{i}]", short, ",".join(msgs)))
    kind, list_kind = as_str(names.get("kind")), as_str(names.get("listKind"))
    if kind and kind == list_kind:
        errs.append(invalid(child(path, "listKind"), list_kind, "kind and listKind may not be the same"))
    for i, cat in enumerate(as_list(names.get("categories"))):
        if isinstance(cat, str):
            msgs = is_dns1035_label(cat)
            if msgs:
                errs.append(invalid(f"{path}.categories[{i}]", cat, ",".join(msgs)))
    return errs


def _validate_crd_versions(spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    versions = [as_map(v) for v in as_list(spec.get("versions"))]
    raw = spec.get("versions")
    storage = sum(1 for v in versions if as_bool(v.get("storage")) is True)
    if storage != 1:
        errs.append(invalid("spec.versions", GoLiteral(go_json(raw)), "must have exactly one version marked as "
                                                                      "storage version"))
    names = [as_str(v.get("name")) for v in versions]
    if len(set(names)) != len(names):
        errs.append(invalid("spec.versions", GoLiteral(go_json(raw)), "must contain unique version names"))
    for i, v in enumerate(versions):
        vpath = f"spec.versions[{i}]"
        name = as_str(v.get("name"))
        if not name:
            errs.append(required(child(vpath, "name")))
        else:
            errs.extend(invalid(child(vpath, "name"), name, m) for m in is_dns1035_label(name))
        schema = as_map(v.get("schema")).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            errs.append(required(f"{vpath}.schema.openAPIV3Schema", "schemas are required"))
        elif not as_str(schema.get("type")):
            errs.append(required(f"{vpath}.schema.openAPIV3Schema.type", "must not be empty at the root"))
        elif schema.get("type") != "object":
            errs.append(invalid(f"{vpath}.schema.openAPIV3Schema.type", schema.get("type"), "must be object at the "
                                                                                            "root"))
        served = v.get("served")
        if served is None:
            errs.append(required(child(vpath, "served")))
        if v.get("storage") is None:
            errs.append(required(child(vpath, "storage")))
    if versions and not any(as_bool(v.get("served")) for v in versions):
        errs.append(invalid("spec.versions", GoLiteral(go_json(raw)), "must have at least one version marked as "
                                                                      "served"))
    return errs


def validate_crd(obj: dict, old: dict | None) -> list[FieldError]:
    meta = as_map(obj.get("metadata"))
    spec = as_map(obj.get("spec"))
    names = as_map(spec.get("names"))
    errs: list[FieldError] = []
    group, plural = as_str(spec.get("group")), as_str(names.get("plural"))
    name = as_str(meta.get("name"))
    if name and name != f"{plural}.{group}":
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        errs.append(required("spec.group"))
    else:
        msgs = is_dns1123_subdomain(group)
        errs.extend(invalid("spec.group", group, m) for m in msgs)
        if not msgs and len(group.split(".")) < 2:
            errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = as_str(spec.get("scope"))
    if not scope:
        errs.append(required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(not_supported("spec.scope", scope, ("Cluster", "Namespaced")))
    errs.extend(_validate_crd_versions(spec))
    for key in ("plural", "singular", "kind", "listKind"):
        if not as_str(names.get(key)):
            errs.append(required(f"spec.names.{key}"))
    errs.extend(_validate_crd_names(names, "spec.names"))
    conv = as_map(spec.get("conversion"))
    strategy = conv.get("strategy")
    if isinstance(strategy, str) and strategy not in ("None", "Webhook"):
        errs.append(not_supported("spec.conversion.strategy", strategy, ("None", "Webhook")))
    if strategy == "Webhook" and not isinstance(conv.get("webhook"), dict):
        errs.append(required("spec.conversion.webhook", "must be set when strategy is Webhook"))
    stored = [v for v in as_list(as_map(obj.get("status")).get("storedVersions")) if isinstance(v, str)]
    version_names = {as_str(as_map(v).get("name")) for v in as_list(spec.get("versions"))}
    for i, sv in enumerate(stored):
        if sv not in version_names:
            errs.append(invalid(f"status.storedVersions[{i}]", sv, "must appear in spec.versions"))
    if old is not None:
        old_spec = as_map(old.get("spec"))
        old_names = as_map(old_spec.get("names"))
        if scope != as_str(old_spec.get("scope")):
            errs.append(immutable("spec.scope", scope))
        if group != as_str(old_spec.get("group")):
            errs.append(immutable("spec.group", group))
        if as_str(names.get("plural")) != as_str(old_names.get("plural")):
            errs.append(immutable("spec.names.plural", as_str(names.get("plural"))))
        if as_str(names.get("kind")) != as_str(old_names.get("kind")):
            errs.append(immutable("spec.names.kind", as_str(names.get("kind"))))
    return errs

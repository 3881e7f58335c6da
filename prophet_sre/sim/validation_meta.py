"""ObjectMeta, labels, annotations and label selectors: the validation every kind shares.

Texts and field paths follow k8s.io/apimachinery/pkg/api/validation (ValidateObjectMeta,
ValidateObjectMetaUpdate) and pkg/apis/meta/v1/validation (labels, selectors). Label errors are
reported against the map (`metadata.labels`), not the key, exactly as a real server does.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.sim.validation_base import (
    FieldError,
    NameFn,
    as_list,
    as_map,
    as_str,
    child,
    forbidden,
    immutable,
    invalid,
    is_dns1123_label,
    is_qualified_name,
    is_valid_label_value,
    label_selector_value,
    required,
    too_long,
)

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_label_name(key: str, path: str) -> list[FieldError]:
    return [invalid(path, key, m) for m in is_qualified_name(key)]


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """ValidateLabels: qualified-name keys and label values, each error against the whole map's path."""
    errs: list[FieldError] = []
    for k, v in as_map(labels).items():
        if not isinstance(k, str):
            continue
        errs.extend(validate_label_name(k, path))
        if isinstance(v, str):
            errs.extend(invalid(path, v, m) for m in is_valid_label_value(v))
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for k, v in as_map(annotations).items():
        if not isinstance(k, str):
            continue
        errs.extend(invalid(path, k, m) for m in is_qualified_name(k.lower()))
        total += len(k.encode()) + len(as_str(v).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    controllers = 0
    for ref in as_list(refs):
        ref = as_map(ref)
        api_version = as_str(ref.get("apiVersion"))
        version = api_version.rpartition("/")[2]
        if not version:
            errs.append(invalid(child(path, "apiVersion"), api_version, "version must not be empty"))
        for key in ("kind", "name", "uid"):
            if not as_str(ref.get(key)):
                errs.append(invalid(child(path, key), as_str(ref.get(key)), "must not be empty"))
        if ref.get("controller") is True:
            controllers += 1
    if controllers > 1:
        errs.append(invalid(path, refs, "Only one reference can have Controller set to true"))
    return errs


def validate_object_meta(meta: Any, namespaced: bool, name_fn: NameFn, path: str = "metadata") -> list[FieldError]:
    """ValidateObjectMeta: name or generateName, namespace, labels, annotations, owners, finalizers."""
    meta = as_map(meta)
    errs: list[FieldError] = []
    name = as_str(meta.get("name"))
    generate_name = as_str(meta.get("generateName"))
    if generate_name:
        errs.extend(invalid(child(path, "generateName"), generate_name, m) for m in name_fn(generate_name, True))
    if not name:
        errs.append(required(child(path, "name"), "name or generateName is required"))
    else:
        errs.extend(invalid(child(path, "name"), name, m) for m in name_fn(name, False))
    namespace = as_str(meta.get("namespace"))
    if namespaced:  # a cluster-scoped object's namespace is cleared before validation, never reported
        if not namespace:
            errs.append(required(child(path, "namespace")))
        else:
            errs.extend(invalid(child(path, "namespace"), namespace, m) for m in is_dns1123_label(namespace))
    generation = meta.get("generation")
    if isinstance(generation, int) and not isinstance(generation, bool) and generation < 0:
        errs.append(invalid(child(path, "generation"), generation, "must be greater than or equal to 0"))
    errs.extend(validate_labels(meta.get("labels"), child(path, "labels")))
    errs.extend(validate_annotations(meta.get("annotations"), child(path, "annotations")))
    errs.extend(_validate_owner_references(meta.get("ownerReferences"), child(path, "ownerReferences")))
    finalizers = [f for f in as_list(meta.get("finalizers")) if isinstance(f, str)]
    for fin in finalizers:
        errs.extend(invalid(child(path, "finalizers"), fin, m) for m in is_qualified_name(fin))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(invalid(child(path, "finalizers"), finalizers,
                            "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[FieldError]:
    """ValidateObjectMetaUpdate: identity fields may not change."""
    new, old = as_map(new), as_map(old)
    errs: list[FieldError] = []
    for key in ("name", "namespace", "uid"):
        nv, ov = as_str(new.get(key)), as_str(old.get(key))
        if key == "uid" and not nv:
            continue
        if nv != ov:
            errs.append(immutable(child(path, key), nv))
    ov_ts, nv_ts = old.get("creationTimestamp"), new.get("creationTimestamp")
    if nv_ts is not None and ov_ts is not None and nv_ts != ov_ts:
        errs.append(immutable(child(path, "creationTimestamp"), nv_ts))
    return errs


# --- label selectors ------------------------------------------------------------------------------
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(sel: Any, path: str) -> list[FieldError]:
    """ValidateLabelSelector (values validated strictly, as for workload selectors)."""
    sel = as_map(sel)
    errs: list[FieldError] = []
    for i, req in enumerate(as_list(sel.get("matchExpressions"))):
        req = as_map(req)
        rpath = f"{path}.matchExpressions[{i}]"
        op = as_str(req.get("operator"))
        values = as_list(req.get("values"))
        if op in ("In", "NotIn"):
            if not values:
                errs.append(required(child(rpath, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(forbidden(child(rpath, "values"),
                                      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(invalid(child(rpath, "operator"), op, "not a valid selector operator"))
        errs.extend(validate_label_name(as_str(req.get("key")), child(rpath, "key")))
        for j, v in enumerate(values):
            if isinstance(v, str):
                errs.extend(invalid(f"{rpath}.values[{j}]", v, m) for m in is_valid_label_value(v))
    errs.extend(validate_labels(sel.get("matchLabels"), child(path, "matchLabels")))
    return errs


def selector_is_empty(sel: Any) -> bool:
    sel = as_map(sel)
    return not as_map(sel.get("matchLabels")) and not as_list(sel.get("matchExpressions"))


def selector_matches(sel: Any, labels: Any) -> bool:
    """Whether a LabelSelector selects `labels`. A missing selector (nil) selects nothing."""
    if not isinstance(sel, dict):
        return False
    labels = {k: v for k, v in as_map(labels).items() if isinstance(k, str) and isinstance(v, str)}
    for k, v in as_map(sel.get("matchLabels")).items():
        if labels.get(k) != v:
            return False
    for req in as_list(sel.get("matchExpressions")):
        req = as_map(req)
        key, op = as_str(req.get("key")), as_str(req.get("operator"))
        values = [v for v in as_list(req.get("values")) if isinstance(v, str)]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in _OPERATORS:
            return False
    return True


def selector_immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    """The apps/v1 `spec.selector: Invalid value: v1.LabelSelector{...}: field is immutable` check."""
    if _norm_selector(new) != _norm_selector(old):
        return [immutable(path, label_selector_value(new))]
    return []


def _norm_selector(sel: Any) -> Any:
    if not isinstance(sel, dict):
        return None
    return (tuple(sorted((str(k), str(v)) for k, v in as_map(sel.get("matchLabels")).items())),
            repr(as_list(sel.get("matchExpressions"))))

"""Validation of HorizontalPodAutoscalers and PodDisruptionBudgets.

Follows pkg/apis/autoscaling/validation and pkg/apis/policy/validation: replica bounds and the scale
target for an HPA (a maxReplicas below minReplicas is the classic mistake), and the mutually exclusive
minAvailable/maxUnavailable of a PDB.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.sim.validation_base import (
    FieldError,
    GoLiteral,
    as_int,
    as_list,
    as_map,
    as_str,
    child,
    go_json,
    invalid,
    is_valid_path_segment_name,
    not_supported,
    required,
)
from prophet_sre.sim.validation_meta import validate_label_selector
from prophet_sre.sim.validation_workloads import not_more_than_100_percent, validate_positive_int_or_percent


def _validate_scale_target(ref: Any, path: str) -> list[FieldError]:
    ref = as_map(ref)
    errs: list[FieldError] = []
    for key in ("kind", "name"):
        v = as_str(ref.get(key))
        if not v:
            errs.append(required(child(path, key)))
        else:
            errs.extend(invalid(child(path, key), v, m) for m in is_valid_path_segment_name(v))
    return errs


def _validate_metric_target(target: Any, path: str) -> list[FieldError]:
    target = as_map(target)
    ttype = as_str(target.get("type"))
    errs: list[FieldError] = []
    if ttype not in ("Utilization", "Value", "AverageValue"):
        errs.append(required(child(path, "type"), "must specify a metric target type") if not ttype
                    else invalid(child(path, "type"), ttype, "must be either Utilization, Value, or AverageValue"))
    au = as_int(target.get("averageUtilization"))
    if au is not None and au < 1:
        errs.append(invalid(child(path, "averageUtilization"), au, "must be greater than 0"))
    return errs


def validate_hpa(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    min_r = as_int(spec.get("minReplicas"))
    max_r = as_int(spec.get("maxReplicas")) or 0
    if min_r is not None and min_r < 1:
        errs.append(invalid("spec.minReplicas", min_r, "must be greater than or equal to 1"))
    if max_r < 1:
        errs.append(invalid("spec.maxReplicas", max_r, "must be greater than 0"))
    if min_r is not None and max_r < min_r:
        errs.append(invalid("spec.maxReplicas", max_r, "must be greater than or equal to `minReplicas`"))
    errs.extend(_validate_scale_target(spec.get("scaleTargetRef"), "spec.scaleTargetRef"))
    tcpu = as_int(spec.get("targetCPUUtilizationPercentage"))
    if tcpu is not None and tcpu < 1:
        errs.append(invalid("spec.targetCPUUtilizationPercentage", tcpu, "must be greater than 0"))
    for i, metric in enumerate(as_list(spec.get("metrics"))):
        metric = as_map(metric)
        mpath = f"spec.metrics[{i}]"
        mtype = as_str(metric.get("type"))
        types = ("ContainerResource", "External", "Object", "Pods", "Resource")
        if not mtype:
            errs.append(required(child(mpath, "type"), "must specify a metric source type"))
            continue
        if mtype not in types:
            errs.append(not_supported(child(mpath, "type"), mtype, types))
            continue
        src_key = mtype[0].lower() + mtype[1:]
        src = metric.get(src_key)
        if not isinstance(src, dict):
            errs.append(required(child(mpath, src_key), f"must populate information for the given metric source "
                                                        f"(only allowed when type is {mtype})"))
            continue
        if mtype in ("Resource", "ContainerResource") and not as_str(src.get("name")):
            errs.append(required(f"{mpath}.{src_key}.name", "must specify a resource name"))
        if "target" in src:
            errs.extend(_validate_metric_target(src.get("target"), f"{mpath}.{src_key}.target"))
    return errs


def validate_pdb(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    min_a, max_u = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_a is not None and max_u is not None:
        errs.append(invalid("spec", GoLiteral(go_json(spec)), "minAvailable and maxUnavailable cannot be both set"))
    for key, v in (("minAvailable", min_a), ("maxUnavailable", max_u)):
        if v is not None:
            errs.extend(validate_positive_int_or_percent(v, f"spec.{key}"))
            errs.extend(not_more_than_100_percent(v, f"spec.{key}"))
    if isinstance(spec.get("selector"), dict):
        errs.extend(validate_label_selector(spec["selector"], "spec.selector"))
    uhpe = spec.get("unhealthyPodEvictionPolicy")
    if isinstance(uhpe, str) and uhpe not in ("AlwaysAllow", "IfHealthyBudget"):
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", uhpe, ("AlwaysAllow", "IfHealthyBudget")))
    return errs

"""Validation of the controllers: Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController,
Job and CronJob (HPAs and PDBs are in `validation_autoscaling`).

Follows pkg/apis/apps/validation and pkg/apis/batch/validation. The checks people hit in practice are
exact: a missing or mismatched selector, a selector edit (immutable in apps/v1), a Job template with
restartPolicy Always, a StatefulSet spec edit outside the mutable fields.
"""

from __future__ import annotations

import re
from typing import Any

from prophet_sre.sim.validation_base import (
    FieldError,
    GoLiteral,
    as_int,
    as_list,
    as_map,
    as_str,
    child,
    forbidden,
    go_json,
    immutable,
    invalid,
    is_dns1035_label,
    is_valid_percent,
    label_selector_value,
    not_supported,
    required,
    sorted_map,
    validate_nonnegative,
)
from prophet_sre.sim.validation_meta import (
    selector_immutable,
    selector_is_empty,
    selector_matches,
    validate_annotations,
    validate_label_selector,
    validate_labels,
)
from prophet_sre.sim.validation_pods import validate_pod_template

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
_SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def _template_labels(spec: dict) -> Any:
    return as_map(as_map(spec.get("template")).get("metadata")).get("labels")


def _selector_parses(sel: Any) -> bool:
    for req in as_list(as_map(sel).get("matchExpressions")):
        req = as_map(req)
        op = as_str(req.get("operator"))
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
        if op in ("In", "NotIn") and not as_list(req.get("values")):
            return False
    return True


def _template_mismatch(spec: dict, path: str) -> list[FieldError]:
    """The `selector does not match template labels` check. A missing selector matches nothing."""
    sel = spec.get("selector")
    if isinstance(sel, dict) and selector_is_empty(sel):
        return []
    if not _selector_parses(sel):
        return []
    labels = _template_labels(spec)
    if not selector_matches(sel, labels):
        return [invalid(child(path, "template.metadata.labels"), sorted_map(labels), _SELECTOR_MISMATCH)]
    return []


def _validate_selector(spec: dict, path: str, kind_word: str) -> list[FieldError]:
    sel = spec.get("selector")
    if not isinstance(sel, dict):
        return [required(child(path, "selector"))]
    errs = validate_label_selector(sel, child(path, "selector"))
    if selector_is_empty(sel):
        errs.append(invalid(child(path, "selector"), label_selector_value(sel), f"empty selector is invalid for {kind_word}"))
    return errs


def _replica_template_checks(spec: dict, path: str, owner: str) -> list[FieldError]:
    """What ValidatePodTemplateSpecForReplicaSet adds to a template: Always and no activeDeadlineSeconds."""
    errs: list[FieldError] = []
    tspec = as_map(as_map(spec.get("template")).get("spec"))
    rp = as_str(tspec.get("restartPolicy"))
    if rp != "Always":
        errs.append(not_supported(child(path, "template.spec.restartPolicy"), rp, ("Always",)))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden(child(path, "template.spec.activeDeadlineSeconds"),
                              f"activeDeadlineSeconds in {owner} is not Supported"))
    return errs


# --- IntOrString helpers -----------------------------------------------------------------------------
def _percent_or_int(v: Any) -> tuple[int, bool]:
    """(value, is_percent) as getIntOrPercentValue sees it."""
    if isinstance(v, str):
        m = re.fullmatch(r"([0-9]+)%", v)
        if m:
            return int(m.group(1)), True
        try:
            return int(v), False
        except ValueError:
            return 0, False
    n = as_int(v)
    return (n or 0), False


def validate_positive_int_or_percent(v: Any, path: str) -> list[FieldError]:
    if isinstance(v, str):
        return [invalid(path, v, m) for m in is_valid_percent(v)]
    return validate_nonnegative(v, path)


def not_more_than_100_percent(v: Any, path: str) -> list[FieldError]:
    value, is_percent = _percent_or_int(v)
    if is_percent and value > 100:
        return [invalid(path, v, "must not be greater than 100%")]
    return []


# --- Deployment / ReplicaSet / ReplicationController ----------------------------------------------------
def _validate_deployment_strategy(strategy: Any, path: str) -> list[FieldError]:
    strategy = as_map(strategy)
    stype = as_str(strategy.get("type"))
    ru = strategy.get("rollingUpdate")
    if stype == "Recreate":
        if ru is not None:
            return [forbidden(child(path, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if stype == "RollingUpdate":
        if not isinstance(ru, dict):
            return [required(child(path, "rollingUpdate"), "this should be defaulted and never be nil")]
        rpath = child(path, "rollingUpdate")
        mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
        errs = validate_positive_int_or_percent(mu, child(rpath, "maxUnavailable"))
        errs.extend(validate_positive_int_or_percent(ms, child(rpath, "maxSurge")))
        if _percent_or_int(mu)[0] == 0 and _percent_or_int(ms)[0] == 0:
            errs.append(invalid(child(rpath, "maxUnavailable"), mu, "may not be 0 when `maxSurge` is 0"))
        errs.extend(not_more_than_100_percent(mu, child(rpath, "maxUnavailable")))
        return errs
    value = GoLiteral(f'{{"Type":{go_json(stype)},"RollingUpdate":{"null" if ru is None else go_json(ru)}}}')
    return [not_supported(path, value, ("Recreate", "RollingUpdate"))]


def validate_deployment(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs.extend(_validate_selector(spec, "spec", "deployment"))
    errs.extend(_template_mismatch(spec, "spec"))
    errs.extend(validate_pod_template(spec.get("template"), "spec.template"))
    errs.extend(_replica_template_checks(spec, "spec", "ReplicaSet"))
    errs.extend(_validate_deployment_strategy(spec.get("strategy"), "spec.strategy"))
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errs.extend(validate_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    pds = as_int(spec.get("progressDeadlineSeconds"))
    if pds is not None:
        errs.extend(validate_nonnegative(pds, "spec.progressDeadlineSeconds"))
        if pds <= (as_int(spec.get("minReadySeconds")) or 0):
            errs.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    if old is not None:
        errs.extend(selector_immutable(spec.get("selector"), as_map(old.get("spec")).get("selector"), "spec.selector"))
    return errs


def validate_replicaset(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errs.extend(_validate_selector(spec, "spec", "deployment"))
    errs.extend(_template_mismatch(spec, "spec"))
    errs.extend(validate_pod_template(spec.get("template"), "spec.template"))
    errs.extend(_replica_template_checks(spec, "spec", "ReplicaSet"))
    if old is not None:
        errs.extend(selector_immutable(spec.get("selector"), as_map(old.get("spec")).get("selector"), "spec.selector"))
    return errs


def validate_replication_controller(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs = validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    selector = as_map(spec.get("selector"))
    if not selector:
        errs.append(required("spec.selector"))
    errs.extend(validate_nonnegative(spec.get("replicas"), "spec.replicas"))
    template = spec.get("template")
    if not isinstance(template, dict):
        errs.append(required("spec.template"))
        return errs
    labels = as_map(template.get("metadata")).get("labels")
    if selector and not selector_matches({"matchLabels": selector}, labels):
        errs.append(invalid("spec.template.metadata.labels", sorted_map(labels), _SELECTOR_MISMATCH))
    errs.extend(validate_pod_template(template, "spec.template"))
    errs.extend(_replica_template_checks(spec, "spec", "ReplicationController"))
    return errs


# --- StatefulSet -------------------------------------------------------------------------------------
_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "minReadySeconds", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy")
STS_FORBIDDEN_UPDATE = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                        "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                        "'minReadySeconds' are forbidden")


# [workloads] container mounts may name a volumeClaimTemplate: the controller adds it as a volume
def _with_claim_volumes(spec: dict) -> Any:
    """The template as the pods get it: each volumeClaimTemplate becomes a volume of the same name."""
    template = spec.get("template")
    names = [as_str(as_map(as_map(c).get("metadata")).get("name")) for c in as_list(spec.get("volumeClaimTemplates"))]
    pod_spec = as_map(as_map(template).get("spec"))
    if not names or not isinstance(template, dict) or not pod_spec:
        return template
    have = {as_str(as_map(v).get("name")) for v in as_list(pod_spec.get("volumes"))}
    extra = [{"name": n, "persistentVolumeClaim": {"claimName": n}} for n in names if n and n not in have]
    return {**template, "spec": {**pod_spec, "volumes": as_list(pod_spec.get("volumes")) + extra}}


def validate_statefulset(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    pmp = spec.get("podManagementPolicy")
    if pmp is not None or old is None:
        pmp = as_str(pmp)
        if not pmp:
            errs.append(required("spec.podManagementPolicy"))
        elif pmp not in ("OrderedReady", "Parallel"):
            errs.append(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    us = as_map(spec.get("updateStrategy"))
    utype = as_str(us.get("type"))
    if not utype:
        errs.append(required("spec.updateStrategy"))
    elif utype == "OnDelete":
        if us.get("rollingUpdate") is not None:
            errs.append(invalid("spec.updateStrategy.rollingUpdate", us.get("rollingUpdate"),
                                "only allowed for updateStrategy 'RollingUpdate'"))
    elif utype == "RollingUpdate":
        ru = as_map(us.get("rollingUpdate"))
        errs.extend(validate_nonnegative(ru.get("partition"), "spec.updateStrategy.rollingUpdate.partition"))
    else:
        errs.append(invalid("spec.updateStrategy", us, "must be 'RollingUpdate' or 'OnDelete'"))
    policy = as_map(spec.get("persistentVolumeClaimRetentionPolicy"))
    for key in ("whenDeleted", "whenScaled"):
        v = policy.get(key)
        if isinstance(v, str) and v not in ("Retain", "Delete"):
            errs.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", v, ("Retain", "Delete")))
    errs.extend(validate_nonnegative(spec.get("replicas"), "spec.replicas"))
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errs.extend(_validate_selector(spec, "spec", "statefulset"))
    errs.extend(_template_mismatch(spec, "spec"))
    errs.extend(validate_pod_template(_with_claim_volumes(spec), "spec.template"))  # [workloads] claims are volumes
    errs.extend(_replica_template_checks(spec, "spec", "StatefulSet"))
    svc = as_str(spec.get("serviceName"))
    if svc:
        errs.extend(invalid("spec.serviceName", svc, m) for m in is_dns1035_label(svc))
    if old is not None:
        old_spec = as_map(old.get("spec"))
        strip = {k: v for k, v in spec.items() if k not in _STS_MUTABLE}
        old_strip = {k: v for k, v in old_spec.items() if k not in _STS_MUTABLE}
        if strip != old_strip:
            errs.append(forbidden("spec", STS_FORBIDDEN_UPDATE))
    return errs


# --- DaemonSet ---------------------------------------------------------------------------------------
def validate_daemonset(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs = _validate_selector(spec, "spec", "daemonset")
    errs.extend(_template_mismatch(spec, "spec"))
    errs.extend(validate_pod_template(spec.get("template"), "spec.template"))
    tspec = as_map(as_map(spec.get("template")).get("spec"))
    rp = as_str(tspec.get("restartPolicy"))
    if rp != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", rp, ("Always",)))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(invalid("spec.template.spec.activeDeadlineSeconds", tspec.get("activeDeadlineSeconds"),
                            "activeDeadlineSeconds in DaemonSet is not Supported"))
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    us = as_map(spec.get("updateStrategy"))
    utype = as_str(us.get("type"))
    if utype == "RollingUpdate":
        ru = us.get("rollingUpdate")
        if not isinstance(ru, dict):
            errs.append(required("spec.updateStrategy.rollingUpdate"))
        else:
            rpath = "spec.updateStrategy.rollingUpdate"
            mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
            errs.extend(validate_positive_int_or_percent(mu, f"{rpath}.maxUnavailable"))
            errs.extend(validate_positive_int_or_percent(ms, f"{rpath}.maxSurge"))
            errs.extend(not_more_than_100_percent(mu, f"{rpath}.maxUnavailable"))
            errs.extend(not_more_than_100_percent(ms, f"{rpath}.maxSurge"))
            has_u, has_s = _percent_or_int(mu)[0] != 0, _percent_or_int(ms)[0] != 0
            if has_u and has_s:
                errs.append(invalid(f"{rpath}.maxSurge", ms, "may not be set when maxUnavailable is non-zero"))
            elif not has_u and not has_s:
                errs.append(required(f"{rpath}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    elif utype != "OnDelete":
        value = GoLiteral(f'{{"Type":{go_json(utype)},"RollingUpdate":'
                          f'{"null" if us.get("rollingUpdate") is None else go_json(us.get("rollingUpdate"))}}}')
        errs.append(not_supported("spec.updateStrategy", value, ("RollingUpdate", "OnDelete")))
    errs.extend(validate_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    if old is not None:
        errs.extend(selector_immutable(spec.get("selector"), as_map(old.get("spec")).get("selector"), "spec.selector"))
    return errs


# --- Job / CronJob -----------------------------------------------------------------------------------
def _validate_job_spec(spec: dict, path: str) -> list[FieldError]:
    """validateJobSpec: the checks a Job and a CronJob's jobTemplate share."""
    errs: list[FieldError] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished",
                "backoffLimitPerIndex", "maxFailedIndexes"):
        errs.extend(validate_nonnegative(spec.get(key), child(path, key)))
    mode = spec.get("completionMode")
    if isinstance(mode, str):
        if mode not in ("NonIndexed", "Indexed"):
            errs.append(not_supported(child(path, "completionMode"), mode, ("NonIndexed", "Indexed")))
        if mode == "Indexed" and as_int(spec.get("completions")) is None:
            errs.append(required(child(path, "completions"), "when completion mode is Indexed"))
    prp = spec.get("podReplacementPolicy")
    if isinstance(prp, str) and prp not in ("Failed", "TerminatingOrFailed"):
        errs.append(not_supported(child(path, "podReplacementPolicy"), prp, ("Failed", "TerminatingOrFailed")))
    errs.extend(validate_pod_template(spec.get("template"), child(path, "template")))
    rp = as_str(as_map(as_map(spec.get("template")).get("spec")).get("restartPolicy"))
    rp_path = child(path, "template.spec.restartPolicy")
    if rp in ("Always", ""):
        errs.append(required(rp_path, 'valid values: "OnFailure", "Never"'))
    elif rp not in ("OnFailure", "Never"):
        errs.append(not_supported(rp_path, rp, ("OnFailure", "Never")))
    elif spec.get("podFailurePolicy") is not None and rp != "Never":
        errs.append(invalid(rp_path, rp, 'only "Never" is supported when podFailurePolicy is specified'))
    return errs


def _has_label(labels: dict, key: str, expected: str, path: str) -> list[FieldError]:
    if key not in labels:
        return [required(f"{path}[{key}]", f"must be '{expected}'")]
    if labels[key] != expected:
        return [invalid(f"{path}[{key}]", sorted_map(labels), f"must be '{expected}'")]
    return []


def _validate_generated_selector(obj: dict, spec: dict) -> list[FieldError]:
    if spec.get("manualSelector") is True or not isinstance(spec.get("selector"), dict):
        return []
    meta = as_map(obj.get("metadata"))
    uid, name = as_str(meta.get("uid")), as_str(meta.get("name"))
    if not uid:
        return []  # the caller validates before the store assigns a uid: nothing to compare with
    labels = {k: v for k, v in as_map(_template_labels(spec)).items() if isinstance(v, str)}
    lpath = "spec.template.metadata.labels"
    errs = _has_label(labels, LEGACY_JOB_UID_LABEL, uid, lpath)
    errs.extend(_has_label(labels, LEGACY_JOB_NAME_LABEL, name, lpath))
    errs.extend(_has_label(labels, JOB_UID_LABEL, uid, lpath))
    errs.extend(_has_label(labels, JOB_NAME_LABEL, name, lpath))
    expected = {JOB_UID_LABEL: uid, JOB_NAME_LABEL: name, LEGACY_JOB_UID_LABEL: uid, LEGACY_JOB_NAME_LABEL: name}
    if _selector_parses(spec["selector"]) and not selector_matches(spec["selector"], expected):
        errs.append(invalid("spec.selector", label_selector_value(spec["selector"]), "`selector` not auto-generated"))
    return errs


_JOB_SUSPENDED_MUTABLE = ("nodeSelector", "tolerations", "affinity", "schedulingGates")


def _template_for_compare(template: Any, suspended: bool) -> Any:
    if not suspended or not isinstance(template, dict):
        return template
    t = dict(template)
    t["metadata"] = {k: v for k, v in as_map(t.get("metadata")).items() if k not in ("labels", "annotations")}
    t["spec"] = {k: v for k, v in as_map(t.get("spec")).items() if k not in _JOB_SUSPENDED_MUTABLE}
    return t


def validate_job(obj: dict, old: dict | None) -> list[FieldError]:
    spec = as_map(obj.get("spec"))
    errs: list[FieldError] = []
    if old is None:
        errs.extend(_validate_generated_selector(obj, spec))
    errs.extend(_validate_job_spec(spec, "spec"))
    sel = spec.get("selector")
    if not isinstance(sel, dict):
        errs.append(required("spec.selector"))
    else:
        errs.extend(validate_label_selector(sel, "spec.selector"))
    if _selector_parses(sel) and not selector_matches(sel, _template_labels(spec)):
        errs.append(invalid("spec.template.metadata.labels", sorted_map(_template_labels(spec)), _SELECTOR_MISMATCH))
    if old is not None:
        old_spec = as_map(old.get("spec"))
        errs.extend(_job_update(spec, old_spec))
    return errs


def _job_update(spec: dict, old_spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    elastic = (spec.get("completionMode") == "Indexed" and old_spec.get("completionMode") == "Indexed"
               and spec.get("completions") == spec.get("parallelism")
               and old_spec.get("completions") == old_spec.get("parallelism"))
    if not elastic and spec.get("completions") != old_spec.get("completions"):
        errs.append(immutable("spec.completions", spec.get("completions")))
    if label_selector_value(spec.get("selector")) != label_selector_value(old_spec.get("selector")):
        errs.append(immutable("spec.selector", label_selector_value(spec.get("selector"))))
    suspended = old_spec.get("suspend") is True and spec.get("suspend") is True
    new_t = _template_for_compare(spec.get("template"), suspended)
    if new_t != _template_for_compare(old_spec.get("template"), suspended):
        template = as_map(spec.get("template"))
        value = {"metadata": template.get("metadata"), "spec": template.get("spec")}  # Go field order
        errs.append(immutable("spec.template", GoLiteral(go_json(value))))
    for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
        if spec.get(key) != old_spec.get(key):
            errs.append(immutable(f"spec.{key}", spec.get(key)))
    return errs


def _schedule_error(schedule: str) -> str:  # [workloads] the parser lives with the CronJob controller
    from prophet_sre.sim.controllers.cronsched import schedule_error

    return schedule_error(schedule)


def _unknown_zone(name: str) -> bool:  # [workloads] `time.LoadLocation` fails for it
    from prophet_sre.sim.controllers.cronsched import time_zone

    return time_zone(name) is None


def validate_cronjob(obj: dict, old: dict | None) -> list[FieldError]:
    meta = as_map(obj.get("metadata"))
    errs: list[FieldError] = []
    name = as_str(meta.get("name"))
    if len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    spec = as_map(obj.get("spec"))
    schedule = as_str(spec.get("schedule"))
    if not schedule:
        errs.append(required("spec.schedule"))
    elif cron_error := _schedule_error(schedule):  # [workloads] robfig/cron's parse error, as the apiserver
        errs.append(invalid("spec.schedule", schedule, cron_error))
    tz = spec.get("timeZone")
    if isinstance(tz, str) and (not tz or " " in tz or _unknown_zone(tz)):  # [workloads] + unknown IANA zones
        errs.append(invalid("spec.timeZone", tz, "unknown time zone " + tz))
    cp = spec.get("concurrencyPolicy")
    if isinstance(cp, str) and cp not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported("spec.concurrencyPolicy", cp, ("Allow", "Forbid", "Replace")) if cp
                    else required("spec.concurrencyPolicy"))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs.extend(validate_nonnegative(spec.get(key), f"spec.{key}"))
    jt = as_map(spec.get("jobTemplate"))
    jmeta = as_map(jt.get("metadata"))
    errs.extend(validate_labels(jmeta.get("labels"), "spec.jobTemplate.labels"))
    errs.extend(validate_annotations(jmeta.get("annotations"), "spec.jobTemplate.annotations"))
    jspec = as_map(jt.get("spec"))
    errs.extend(_validate_job_spec(jspec, "spec.jobTemplate.spec"))
    if isinstance(jspec.get("selector"), dict):
        errs.extend(validate_label_selector(jspec["selector"], "spec.jobTemplate.spec.selector"))
    if jspec.get("manualSelector") is True:
        errs.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ("nil", "false")))
    return errs


__all__ = [
    "not_more_than_100_percent",
    "validate_positive_int_or_percent",
    "JOB_NAME_LABEL",
    "JOB_UID_LABEL",
    "LEGACY_JOB_NAME_LABEL",
    "LEGACY_JOB_UID_LABEL",
    "STS_FORBIDDEN_UPDATE",
    "validate_cronjob",
    "validate_daemonset",
    "validate_deployment",
    "validate_job",
    "validate_replicaset",
    "validate_replication_controller",
    "validate_statefulset",
]

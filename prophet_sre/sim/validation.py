"""API validation of the simulated kube-apiserver: what makes a create or update fail with 422 Invalid.

`validate(rt, obj, old)` runs the same three stages a real server does, in the same order:

1. decoding: every field must have the JSON type its Go type needs (`validation_types`); a failure
   there is a 400 BadRequest in a real cluster (`decode_error_status`), never a 422;
2. ObjectMeta: name rules per kind, labels, annotations, and identity immutability on update;
3. the kind's own rules (`validation_pods`, `validation_workloads`, `validation_core`,
   `validation_cluster`), registered per (group, kind) below. Kinds with no entry (CRD-defined ones)
   get the metadata checks only: their schema is validated elsewhere.

`invalid_status` renders the 422 Status exactly as kube-apiserver does (message aggregation and
`details.causes`), because kubectl prints it verbatim and clients branch on it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from prophet_sre.sim.registry import VIRTUAL_KINDS, ResourceType
from prophet_sre.sim.validation_autoscaling import validate_hpa, validate_pdb
from prophet_sre.sim.validation_base import (
    INTERNAL,
    TYPE_INVALID,
    FieldError,
    NameFn,
    go_quote,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    name_is_path_segment,
)
from prophet_sre.sim.validation_cluster import (
    validate_endpoint_slice,
    validate_ingress,
    validate_ingress_class,
    validate_lease,
    validate_network_policy,
    validate_priority_class,
    validate_role,
    validate_role_binding,
)
from prophet_sre.sim.validation_core import (
    validate_configmap,
    validate_endpoints,
    validate_event,
    validate_limit_range,
    validate_namespace,
    validate_node,
    validate_resource_quota,
    validate_secret,
    validate_service,
    validate_service_account,
)
from prophet_sre.sim.validation_extensions import (
    validate_access_review,
    validate_crd,
    validate_webhook_configuration,
)
from prophet_sre.sim.validation_meta import validate_object_meta, validate_object_meta_update
from prophet_sre.sim.validation_pods import validate_pod
from prophet_sre.sim.validation_quantity import (
    canonical_quantity,
    format_quantity,
    parse_quantity,
    parse_quantity_with_format,
)
from prophet_sre.sim.validation_storage import validate_pv, validate_pvc, validate_storage_class
from prophet_sre.sim.validation_types import (
    check_types,
    decode_error_message,
    prune_unknown_fields,
    strict_decoding_message,
    unknown_fields,
)
from prophet_sre.sim.validation_workloads import (
    validate_cronjob,
    validate_daemonset,
    validate_deployment,
    validate_job,
    validate_replicaset,
    validate_replication_controller,
    validate_statefulset,
)

Validator = Callable[[dict, "dict | None"], list[FieldError]]

_RBAC = "rbac.authorization.k8s.io"
_AUTHZ = "authorization.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"

VALIDATORS: dict[tuple[str, str], Validator] = {
    ("", "Namespace"): validate_namespace,
    ("", "Pod"): validate_pod,
    ("", "Service"): validate_service,
    ("", "Endpoints"): validate_endpoints,
    ("", "ConfigMap"): validate_configmap,
    ("", "Secret"): validate_secret,
    ("", "ServiceAccount"): validate_service_account,
    ("", "Node"): validate_node,
    ("", "Event"): partial(validate_event, events_api=False),
    ("events.k8s.io", "Event"): partial(validate_event, events_api=True),
    ("", "PersistentVolume"): validate_pv,
    ("", "PersistentVolumeClaim"): validate_pvc,
    ("", "ResourceQuota"): validate_resource_quota,
    ("", "LimitRange"): validate_limit_range,
    ("", "ReplicationController"): validate_replication_controller,
    ("apps", "Deployment"): validate_deployment,
    ("apps", "ReplicaSet"): validate_replicaset,
    ("apps", "StatefulSet"): validate_statefulset,
    ("apps", "DaemonSet"): validate_daemonset,
    ("batch", "Job"): validate_job,
    ("batch", "CronJob"): validate_cronjob,
    ("autoscaling", "HorizontalPodAutoscaler"): validate_hpa,
    ("policy", "PodDisruptionBudget"): validate_pdb,
    ("networking.k8s.io", "NetworkPolicy"): validate_network_policy,
    ("networking.k8s.io", "Ingress"): validate_ingress,
    ("networking.k8s.io", "IngressClass"): validate_ingress_class,
    ("discovery.k8s.io", "EndpointSlice"): validate_endpoint_slice,
    ("storage.k8s.io", "StorageClass"): validate_storage_class,
    (_RBAC, "Role"): partial(validate_role, namespaced=True),
    (_RBAC, "ClusterRole"): partial(validate_role, namespaced=False),
    (_RBAC, "RoleBinding"): partial(validate_role_binding, namespaced=True),
    (_RBAC, "ClusterRoleBinding"): partial(validate_role_binding, namespaced=False),
    (_AUTHZ, "SelfSubjectAccessReview"): partial(validate_access_review, needs_user=False),
    (_AUTHZ, "LocalSubjectAccessReview"): partial(validate_access_review, needs_user=True),
    (_AUTHZ, "SubjectAccessReview"): partial(validate_access_review, needs_user=True),
    ("coordination.k8s.io", "Lease"): validate_lease,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): validate_crd,
    (_ADMISSION, "ValidatingWebhookConfiguration"): partial(validate_webhook_configuration, mutating=False),
    (_ADMISSION, "MutatingWebhookConfiguration"): partial(validate_webhook_configuration, mutating=True),
    ("scheduling.k8s.io", "PriorityClass"): validate_priority_class,
}
"""(group, kind) -> the kind's own rules, run after the ObjectMeta checks."""


def _no_name_rules(name: str, prefix: bool) -> list[str]:
    return []


NAME_RULES: dict[tuple[str, str], NameFn] = {
    ("", "Namespace"): name_is_dns_label,
    ("", "Service"): name_is_dns1035_label,
    ("", "Event"): _no_name_rules,
    (_RBAC, "Role"): name_is_path_segment,
    (_RBAC, "ClusterRole"): name_is_path_segment,
    (_RBAC, "RoleBinding"): name_is_path_segment,
    (_RBAC, "ClusterRoleBinding"): name_is_path_segment,
}
"""Name rules that differ from the default (a DNS-1123 subdomain)."""


def _validate(rt: ResourceType, obj: Any, old: Any = None) -> list[FieldError]:
    """The three stages, without the safety net (the property tests call this directly)."""
    type_errors, _unknown = check_types(rt, obj)
    if type_errors:
        return type_errors
    old_map = old if isinstance(old, dict) else None
    errs: list[FieldError] = []
    if rt.kind not in VIRTUAL_KINDS:  # reviews carry no identity of their own
        name_fn = NAME_RULES.get((rt.group, rt.kind), name_is_dns_subdomain)
        errs.extend(validate_object_meta(obj.get("metadata"), rt.namespaced, name_fn))
        if old_map is not None:
            errs.extend(validate_object_meta_update(obj.get("metadata"), old_map.get("metadata")))
    validator = None if rt.crd else VALIDATORS.get((rt.group, rt.kind))
    if validator is not None:
        errs.extend(validator(obj, old_map))
    return errs


def validate(rt: ResourceType, obj: dict, old: dict | None = None) -> list[FieldError]:
    """Every reason the API server would refuse `obj` (a create, or an update of `old`); [] if none.

    Never raises: a malformed object yields decode errors (type FieldValueTypeInvalid, see
    `decode_error_status`), and an internal failure yields one InternalError rather than a 500.
    """
    try:
        return _validate(rt, obj, old)
    except Exception as e:  # noqa: BLE001 - the API must answer, whatever the body
        return [FieldError(INTERNAL, "", f"{type(e).__name__}: {e}")]


def _dedup_messages(errors: list[FieldError]) -> list[str]:
    seen: list[str] = []
    for e in errors:
        msg = e.error()
        if msg not in seen:
            seen.append(msg)
    return seen


def qualified_kind(rt: ResourceType) -> str:
    """`Deployment.apps`, or plain `Pod` for the core group (schema.GroupKind.String())."""
    return f"{rt.kind}.{rt.group}" if rt.group else rt.kind


def invalid_status(rt: ResourceType, name: str, errors: list[FieldError]) -> dict[str, Any]:
    """The 422 Invalid Status for `errors`, as apierrors.NewInvalid builds it."""
    msgs = _dedup_messages(errors)
    message = f"{qualified_kind(rt)} {go_quote(name)} is invalid"
    if msgs:
        message += ": " + (msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]")
    causes = []
    for e in errors:
        cause = {"reason": e.type, "message": e.message()}
        if e.field:
            cause["field"] = e.field
        causes.append(cause)
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.kind
    details["causes"] = causes
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "Invalid", "details": details, "code": 422}


def _bad_request(message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "BadRequest", "code": 400}


def decode_error_status(rt: ResourceType, errors: list[FieldError]) -> dict[str, Any] | None:
    """The 400 BadRequest a real server sends instead of 422 when the body does not decode, or None.

    A real decoder stops at the first bad field, so only the first decode error is reported.
    """
    for e in errors:
        if e.type == TYPE_INVALID:
            return _bad_request(decode_error_message(rt, e))
    return None


def strict_decoding_status(rt: ResourceType, obj: Any) -> dict[str, Any] | None:
    """The 400 for unknown fields under `fieldValidation=Strict` (kubectl's default), or None."""
    paths = unknown_fields(rt, obj)
    if not paths:
        return None
    return _bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                        + strict_decoding_message(paths))


def unknown_field_warnings(rt: ResourceType, obj: Any) -> list[str]:
    """`Warning:` header texts for unknown fields under `fieldValidation=Warn`."""
    return [f'unknown field "{p}"' for p in unknown_fields(rt, obj)]


__all__ = [
    "NAME_RULES",
    "VALIDATORS",
    "FieldError",
    "canonical_quantity",
    "check_types",
    "decode_error_status",
    "format_quantity",
    "prune_unknown_fields",
    "invalid_status",
    "parse_quantity",
    "parse_quantity_with_format",
    "qualified_kind",
    "strict_decoding_status",
    "unknown_field_warnings",
    "unknown_fields",
    "validate",
]


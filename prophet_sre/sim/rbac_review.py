"""The review resources of the simulated API server (SelfSubjectAccessReview and friends).

`review` computes the response objects `kubectl auth can-i` and `kubectl auth whoami` print; kubectl
posts those bodies only as protobuf, so `decode_review_protobuf` reads them into the dicts `review`
takes. Split from `rbac.py`, which holds the authorizer itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from prophet_sre.sim import protobuf
from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.rbac import (
    AUTHN_GROUP,
    AUTHZ_GROUP,
    Attributes,
    Authorizer,
    UserInfo,
    _aggregate_errors,
    _q,
)
from prophet_sre.sim.status import ApiError

# ----------------------------------------------------------------------------------------------------
# review resources


def _invalid(kind: str, group: str, errs: list[tuple[str, str]]) -> ApiError:
    """A 422 like apierrors.NewInvalid(kind, "", errs); `errs` are (field, "Invalid value: ...: detail")."""
    parts = [f"{f}: {m}" for f, m in errs]
    agg = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(422, "Invalid", f'{kind}.{group} "" is invalid: {agg}',
                    {"group": group, "kind": kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in errs]})


def _go_value(v: Any, go_type: str) -> str:
    """How field.Invalid renders a bad value: strings quoted, nil as "null", structs Go-syntax."""
    if v is None:
        return '"null"'
    if isinstance(v, str):
        return _q(v)
    if isinstance(v, Mapping):
        return go_type + "{" + ", ".join(f"{k[:1].upper()}{k[1:]}:{_q(str(x))}" for k, x in v.items()) + "}"
    return str(v)


_RA_KEYS = ("namespace", "verb", "group", "version", "resource", "subresource", "name", "fieldSelector",
            "labelSelector")


def _clean(d: Mapping[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """Re-encode as the server would: known fields in Go order, empty values omitted."""
    if d is None:
        return None
    return {k: d[k] for k in keys if d.get(k) not in (None, "", [], {})}


def _attrs_from_spec(spec: Mapping[str, Any]) -> Attributes:
    ra = spec.get("resourceAttributes")
    if ra is not None:
        return Attributes(ra.get("verb") or "", ra.get("group") or "", ra.get("resource") or "",
                          ra.get("subresource") or "", ra.get("namespace") or "", ra.get("name") or "")
    nra = spec.get("nonResourceAttributes") or {}
    return Attributes(nra.get("verb") or "", resource_request=False, path=nra.get("path") or "")


def _spec_errors(spec: Mapping[str, Any], subject: bool) -> list[tuple[str, str]]:
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    errs: list[tuple[str, str]] = []
    if ra is not None and nra is not None:
        errs.append(("spec.nonResourceAttributes",
                     f"Invalid value: {_go_value(nra, 'authorization.NonResourceAttributes')}: "
                     "cannot be specified in combination with resourceAttributes"))
    if ra is None and nra is None:
        errs.append(("spec.resourceAttributes", 'Invalid value: "null": exactly one of nonResourceAttributes '
                     "or resourceAttributes must be specified"))
    if subject and not spec.get("user") and not spec.get("groups"):
        errs.append(("spec.user", 'Invalid value: "": at least one of user or group must be specified'))
    return errs


def _meta_errors(meta: Mapping[str, Any], allow_namespace: bool) -> list[tuple[str, str]]:
    rest = {k: v for k, v in meta.items() if k not in ("creationTimestamp", "managedFields")
            and not (allow_namespace and k == "namespace") and v not in (None, "", [], {})}
    if not rest:
        return []
    detail = "must be empty except for namespace" if allow_namespace else "must be empty"
    return [("metadata", f"Invalid value: {_go_value(rest, 'v1.ObjectMeta')}: {detail}")]


def review(kind: str, body: Mapping[str, Any], requester: UserInfo, authorizer: Authorizer, namespace: str = "",
           *, now: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """The response object for a POST of one of the review kinds (they are never stored).

    `requester` is the (possibly impersonated) user of the request, `namespace` the one from the URL
    (LocalSubjectAccessReview only), `now` the sim clock (SelfSubjectReview stamps creationTimestamp;
    the access reviews echo `creationTimestamp: null` as 1.33 does). Raises ApiError (400/422) with the
    real texts for bad input; ValueError for a kind that is not a review.
    """
    spec = (body.get("spec") or {}) if isinstance(body, Mapping) else None
    if not isinstance(spec, Mapping) or not all(
            isinstance(spec.get(k), Mapping | None) for k in ("resourceAttributes", "nonResourceAttributes")):
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded as a {kind}")
    meta: dict[str, Any] = dict(body.get("metadata") or {})
    if kind == "SelfSubjectReview":
        stamp = rfc3339((now or (lambda: datetime.now(UTC)))())
        info: dict[str, Any] = {"username": requester.name}
        if requester.uid:
            info["uid"] = requester.uid
        if requester.groups:
            info["groups"] = list(requester.groups)
        if requester.extra:
            info["extra"] = {k: list(v) for k, v in requester.extra.items()}
        return {"kind": kind, "apiVersion": body.get("apiVersion") or f"{AUTHN_GROUP}/v1",
                "metadata": {"creationTimestamp": stamp}, "status": {"userInfo": info}}

    api_version = body.get("apiVersion") or f"{AUTHZ_GROUP}/v1"
    if kind == "SelfSubjectRulesReview":
        ns = spec.get("namespace") or ""
        if not ns:
            raise ApiError(400, "BadRequest", "no namespace on request")
        res, non_res, errors = authorizer._rules(requester, ns)
        status: dict[str, Any] = {"resourceRules": res, "nonResourceRules": non_res, "incomplete": False}
        if errors:
            status["evaluationError"] = _aggregate_errors(errors)
        return {"kind": kind, "apiVersion": api_version, "metadata": {"creationTimestamp": None},
                "spec": {"namespace": ns}, "status": status}

    if kind not in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
        raise ValueError(f"not a review kind: {kind}")
    subject = kind != "SelfSubjectAccessReview"
    local = kind == "LocalSubjectAccessReview"
    if local:
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise ApiError(400, "BadRequest",
                           "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace
    errs = _spec_errors(spec, subject) + _meta_errors(meta, local)
    ra = spec.get("resourceAttributes")
    if local and ra is not None and (ra.get("namespace") or "") != namespace:
        errs.append(("spec.resourceAttributes.namespace",
                     f"Invalid value: {_q(ra.get('namespace') or '')}: must match metadata.namespace"))
    if local and spec.get("nonResourceAttributes") is not None:
        bad = _go_value(spec["nonResourceAttributes"], "authorization.NonResourceAttributes")
        errs.append(("spec.nonResourceAttributes", f"Invalid value: {bad}: disallowed on this kind of request"))
    if errs:
        raise _invalid(kind, AUTHZ_GROUP, errs)
    if local and not namespace:
        raise ApiError(400, "BadRequest", "namespace is required on this type: ")

    user = requester
    if subject:
        user = UserInfo(spec.get("user") or "", tuple(spec.get("groups") or ()), spec.get("uid") or "",
                        {k: tuple(v or ()) for k, v in (spec.get("extra") or {}).items()})
    decision = authorizer.authorize(user, _attrs_from_spec(spec))

    out_spec: dict[str, Any] = {}
    if ra is not None:
        out_spec["resourceAttributes"] = _clean(ra, _RA_KEYS)
    if spec.get("nonResourceAttributes") is not None:
        out_spec["nonResourceAttributes"] = _clean(spec["nonResourceAttributes"], ("path", "verb"))
    if subject:
        for k in ("user", "groups", "extra", "uid"):
            if spec.get(k):
                out_spec[k] = spec[k]
    status = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    out_meta = {"namespace": namespace, "creationTimestamp": None} if local else {"creationTimestamp": None}
    return {"kind": kind, "apiVersion": api_version, "metadata": out_meta, "spec": out_spec, "status": status}


# ----------------------------------------------------------------------------------------------------
# protobuf request bodies of the review kinds


REVIEW_KINDS = ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview",
                "SelfSubjectRulesReview", "SelfSubjectReview")
PROTOBUF = protobuf.MEDIA_TYPE


def decode_review_protobuf(raw: bytes) -> dict[str, Any]:
    """A review kind posted as `application/vnd.kubernetes.protobuf`, as the JSON dict `review` takes.

    kubectl (1.3x) sends `auth can-i` and `auth whoami` bodies only as protobuf. The decoding is the
    project's one protobuf decoder (`protobuf.py`); this keeps the review-only contract on top of it:
    anything but a review kind (or a wrapped/encoded body) is a 415 like a server without protobuf, a
    malformed body a 400, and the client's empty `status` is dropped since the server computes it.
    """
    unsupported = ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json, application/yaml")
    if not raw.startswith(protobuf.MAGIC):
        raise unsupported
    try:
        envelope = protobuf.read_envelope(raw)
        if envelope.kind not in REVIEW_KINDS or envelope.content_encoding or envelope.content_type:
            raise unsupported
        body = protobuf.decode_k8s_protobuf(raw)
    except protobuf.ProtobufError as e:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {e}") from e
    body.pop("status", None)
    return body

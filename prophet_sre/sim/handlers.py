"""The resource verbs: get, list, create, update, patch, delete, deletecollection.

Each handler takes the parsed request and returns a Starlette response or raises `ApiError`. They are
thin: object lifecycle lives in `store.py`, patch maths in `patch.py`, printing in `tables.py`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from prophet_sre.sim import codec, crd_validation, patch, selectors, tables, validation
from prophet_sre.sim import status as st
from prophet_sre.sim.registry import VIRTUAL_KINDS, ResourceType
from prophet_sre.sim.requestinfo import RequestInfo, truthy

if TYPE_CHECKING:
    from prophet_sre.sim.api import ApiContext
    from prophet_sre.sim.rbac import UserInfo

COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
FIELD_SELECTORS: dict[tuple[str, str], frozenset[str]] = {
    ("", "pods"): frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                             "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
                             "status.nominatedNodeName"}),
    ("", "events"): frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}),
    ("events.k8s.io", "events"): frozenset({"regarding.kind", "regarding.namespace", "regarding.name",
                                            "regarding.uid", "reason", "type", "reportingController"}),
    ("", "nodes"): frozenset({"spec.unschedulable"}),
    ("", "secrets"): frozenset({"type"}),
    ("", "namespaces"): frozenset({"status.phase"}),
    ("", "services"): frozenset({"spec.clusterIP", "spec.type"}),
    ("", "replicationcontrollers"): frozenset({"status.replicas"}),
    ("apps", "replicasets"): frozenset({"status.replicas"}),
    ("batch", "jobs"): frozenset({"status.successful"}),
    ("certificates.k8s.io", "certificatesigningrequests"): frozenset({"spec.signerName"}),
}


@dataclass(slots=True)
class Call:
    """One API call in flight: who, what, and the request."""

    ctx: ApiContext
    request: Request
    info: RequestInfo
    rt: ResourceType
    user: UserInfo
    query: dict[str, str] = field(default_factory=dict)

    @property
    def dry_run(self) -> bool:
        values = self.request.query_params.getlist("dryRun")
        for v in values:
            if v not in ("All", ""):
                raise st.bad_request(f'Invalid dry run value "{v}". Supported values are: "All"')
        return "All" in values


def build_match(call: Call) -> Callable[[dict[str, Any]], bool] | None:
    """Compile the label and field selectors of a list/watch into one predicate (or None)."""
    ls_text = call.query.get("labelSelector", "")
    fs_text = call.query.get("fieldSelector", "")
    preds: list[Callable[[dict[str, Any]], bool]] = []
    try:
        if ls_text:
            lsel = selectors.parse_label_selector(ls_text)
            preds.append(lambda o: lsel.matches((o.get("metadata") or {}).get("labels")))
        if fs_text:
            fsel = selectors.parse_field_selector(fs_text)
            allowed = COMMON_FIELDS | FIELD_SELECTORS.get(call.rt.storage_key, frozenset())
            for f in fsel.fields:
                if f not in allowed:
                    raise st.bad_request(f'field label not supported: {f}')
            preds.append(fsel.matches)
    except selectors.SelectorError as e:
        raise st.bad_request(str(e)) from e
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]
    return lambda o: all(p(o) for p in preds)


def _now(call: Call) -> Any:
    return call.ctx.clock.now()


def wants_table(call: Call) -> bool:
    return tables.wants_table(call.request.headers.get("accept", ""))


def render_table(call: Call, objs: list[dict[str, Any]], resource_version: str, continue_token: str = "",
                 remaining: int | None = None) -> dict[str, Any]:
    """A server-side Table in the version the client asked for; bad options are a 400."""
    try:
        return tables.build_table(call.rt, objs, now=_now(call),
                                  include_object=call.query.get("includeObject", "Metadata"),
                                  resource_version=resource_version, continue_token=continue_token,
                                  remaining=remaining if continue_token else None,
                                  version=tables.table_version(call.request.headers.get("accept", "")) or "v1")
    except tables.TableError as e:
        raise st.bad_request(str(e)) from e


def _table_or_object(call: Call, obj: dict[str, Any]) -> Response:
    if wants_table(call):
        return codec.json_response(render_table(call, [obj], obj["metadata"].get("resourceVersion", "")))
    return codec.json_response(call.ctx.present(call.rt, obj))


# -- reads --------------------------------------------------------------------------------------------
def get(call: Call) -> Response:
    entry = call.ctx.store.get_entry(call.rt, call.info.namespace, call.info.name)
    if entry is None:
        raise st.not_found(call.rt, call.info.name)
    if not wants_table(call) and call.ctx.present_is_identity(call.rt):
        return codec.raw_json_response(entry.raw)
    return _table_or_object(call, entry.obj)


def list_(call: Call) -> Response:
    match = build_match(call)
    try:
        limit = int(call.query.get("limit", "0") or 0)
    except ValueError as e:
        raise st.bad_request(f"invalid limit: {call.query.get('limit')}") from e
    ns = call.info.namespace or None
    entries, rv, token, remaining = call.ctx.store.list_entries(
        call.rt, ns, match, max(limit, 0), call.query.get("continue", ""))
    if wants_table(call):
        objs = [call.ctx.present(call.rt, e.obj) for e in entries]
        return codec.json_response(render_table(call, objs, str(rv), token, remaining))
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if token:
        meta["continue"] = token
        if remaining is not None:
            meta["remainingItemCount"] = remaining
    head = orjson.dumps({"kind": call.rt.list_kind, "apiVersion": call.rt.api_version, "metadata": meta})
    if call.ctx.present_is_identity(call.rt):
        items = b",".join(e.raw for e in entries)
    else:
        items = b",".join(orjson.dumps(call.ctx.present(call.rt, e.obj)) for e in entries)
    body = head[:-1] + b',"items":[' + items + b"]}"
    return codec.raw_json_response(body)


# -- writes -------------------------------------------------------------------------------------------
def check_field_validation(call: Call, obj: dict[str, Any]) -> dict[str, str]:
    """`fieldValidation=Strict|Warn|Ignore` (kubectl sends Strict): unknown fields are a 400 or a warning."""
    mode = call.query.get("fieldValidation", "Warn" if call.rt.crd else "Ignore")
    if mode not in ("Strict", "Warn", "Ignore"):
        raise st.bad_request(f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got "{mode}"')
    if call.rt.crd:
        return _check_cr_fields(call, obj, mode)
    if mode == "Strict":
        status_body = validation.strict_decoding_status(call.rt, obj)
        if status_body is not None:
            raise st.bad_request(status_body["message"])
        return {}
    # Ignore and Warn: decoding into the Go type drops unknown fields; Warn also says which
    unknown = validation.prune_unknown_fields(call.rt, obj)
    if mode == "Ignore" or not unknown:
        return {}
    return {"Warning": ", ".join(f'299 - "unknown field \\"{p}\\""' for p in unknown)}


def _check_cr_fields(call: Call, obj: dict[str, Any], mode: str) -> dict[str, str]:
    """Unknown fields of a custom resource: those its schema prunes, then unknown ObjectMeta fields."""
    if mode == "Ignore":
        return {}
    unknown = crd_validation.unknown_fields(call.rt, obj) + validation.unknown_fields(call.rt, obj)
    if not unknown:
        return {}
    if mode == "Strict":
        raise st.bad_request(crd_validation.strict_message(call.rt, unknown))
    return {"Warning": ", ".join(f'299 - "unknown field \\"{p}\\""' for p in unknown)}


def _drop_status_on_create(call: Call, obj: dict[str, Any]) -> None:
    """A custom resource with the status subresource cannot set status on create (PrepareForCreate)."""
    if call.rt.crd and call.rt.has_subresource("status") and not call.info.subresource:
        obj.pop("status", None)


def _check_body_identity(call: Call, obj: dict[str, Any]) -> None:
    rt = call.rt
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if api_version and api_version != rt.api_version:
        if not (kind == rt.kind and api_version.split("/")[0] == rt.group):
            raise st.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                 f"version ({rt.api_version})")
    if kind and kind != rt.kind:
        raise st.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise st.bad_request("json: cannot unmarshal metadata into Go struct field of type v1.ObjectMeta")
    meta = obj.setdefault("metadata", {})
    if rt.namespaced:
        body_ns = meta.get("namespace")
        if body_ns and call.info.namespace and body_ns != call.info.namespace:
            raise st.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
        meta["namespace"] = call.info.namespace or body_ns or ""
    obj["apiVersion"] = rt.api_version
    obj["kind"] = rt.kind


async def create(call: Call) -> Response:
    raw = await call.request.body()
    ctype = call.request.headers.get("content-type")
    if call.rt.kind in VIRTUAL_KINDS:
        return codec.json_response(call.ctx.review(call, codec.decode_body(raw, ctype)), 201)
    body = codec.decode_body(raw, ctype)
    _check_body_identity(call, body)
    warn = check_field_validation(call, body)
    _drop_status_on_create(call, body)
    obj = call.ctx.store.create(call.rt, body, dry_run=call.dry_run)
    return codec.json_response(call.ctx.present(call.rt, obj), 201, headers=warn or None)


async def update(call: Call) -> Response:
    body = codec.decode_body(await call.request.body(), call.request.headers.get("content-type"))
    _check_body_identity(call, body)
    warn = check_field_validation(call, body)
    name = body["metadata"].get("name")
    if name != call.info.name:
        raise st.bad_request(f"the name of the object ({name}) does not match the name on the URL ({call.info.name})")
    obj = call.ctx.store.update(call.rt, body, subresource=call.info.subresource, dry_run=call.dry_run)
    return codec.json_response(call.ctx.present(call.rt, obj), headers=warn or None)


def apply_patch(rt: ResourceType, live: dict[str, Any], patch_type: str, body: Any) -> dict[str, Any]:
    """Apply a JSON, merge or strategic merge patch to `live`; a bad patch is a 422 or 400."""
    try:
        if patch_type == "json":
            if not isinstance(body, list):
                raise st.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
            return patch.apply_json_patch(live, body)
        if not isinstance(body, dict):
            raise st.bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
        if patch_type == "merge":
            return patch.apply_merge_patch(live, body)
        return patch.apply_strategic_merge_patch(rt.kind, live, body)
    except patch.PatchError as e:
        if patch_type == "json":
            # kube-apiserver wraps a failed JSON patch in NewGenericServerResponse(422, ...), which drops the
            # jsonpatch error: kubectl prints "The request is invalid: the server rejected our request due to
            # an error in our request"
            raise st.ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                              {}) from e
        raise st.ApiError(400, "BadRequest", str(e)) from e


async def patch_(call: Call) -> Response:
    ct = codec.media_type(call.request.headers.get("content-type"))
    patch_type = codec.PATCH_TYPES.get(ct)
    if patch_type is None or (patch_type == "strategic" and call.rt.crd):
        accepted = codec.CR_PATCH_ACCEPTED if call.rt.crd else codec.ALL_PATCH_ACCEPTED
        raise st.unsupported_media_type(ct, accepted)
    body = codec.decode_body(await call.request.body(), ct, allow_list=True)
    store = call.ctx.store
    if patch_type == "apply":
        return _server_side_apply(call, body)
    for _attempt in range(5):
        live = store.get(call.rt, call.info.namespace, call.info.name)
        new = apply_patch(call.rt, live, patch_type, body)
        if not isinstance(new, dict):
            raise st.bad_request("the patch produced an object that is not a JSON object")
        _restore_identity(call, live, new)
        warn = check_field_validation(call, new)
        try:
            obj = store.update(call.rt, new, subresource=call.info.subresource, dry_run=call.dry_run)
        except st.ApiError as e:
            if e.reason == "Conflict" and not _patch_pins_rv(body):
                continue
            raise
        return codec.json_response(call.ctx.present(call.rt, obj), headers=warn or None)
    raise st.conflict(call.rt, call.info.name)


def _patch_pins_rv(body: Any) -> bool:
    return isinstance(body, dict) and bool((body.get("metadata") or {}).get("resourceVersion"))


def _restore_identity(call: Call, live: dict[str, Any], new: dict[str, Any]) -> None:
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        raise st.bad_request("metadata must be an object")
    if meta.get("name") != call.info.name:
        raise st.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                             f"({call.info.name})")
    if meta.get("resourceVersion") == live["metadata"].get("resourceVersion"):
        pass
    if call.rt.namespaced:
        meta["namespace"] = call.info.namespace
    new["apiVersion"] = call.rt.api_version
    new["kind"] = call.rt.kind


def _server_side_apply(call: Call, body: Any) -> Response:
    manager = call.query.get("fieldManager", "")
    if not manager:
        raise st.bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required "
                             "for apply patch")
    if not isinstance(body, dict):
        raise st.bad_request("error decoding YAML: the apply body must be an object")
    _check_body_identity(call, body)
    if body["metadata"].get("name") not in (None, call.info.name):
        raise st.bad_request(f"the name of the object ({body['metadata'].get('name')}) does not match the name on "
                             f"the URL ({call.info.name})")
    body["metadata"]["name"] = call.info.name
    warn = check_field_validation(call, body)
    force = truthy(call.query.get("force"))
    store = call.ctx.store
    for _attempt in range(5):
        live = store.try_get(call.rt, call.info.namespace, call.info.name)
        try:
            new = patch.apply_server_side(call.rt.kind, copy.deepcopy(live) if live else None, body, manager, force)
        except patch.ApplyConflict as e:
            raise st.ApiError(409, "Conflict", str(e), {"causes": [
                {"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": p}
                for m, p in e.conflicts]}) from e
        except patch.PatchError as e:
            raise st.bad_request(str(e)) from e
        try:
            if live is None:
                _drop_status_on_create(call, new)
                obj = store.create(call.rt, new, dry_run=call.dry_run)
                return codec.json_response(call.ctx.present(call.rt, obj), 201, headers=warn or None)
            _restore_identity(call, live, new)
            new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            obj = store.update(call.rt, new, subresource=call.info.subresource, dry_run=call.dry_run)
            return codec.json_response(call.ctx.present(call.rt, obj), headers=warn or None)
        except st.ApiError as e:
            if e.reason in ("Conflict", "AlreadyExists"):
                continue
            raise
    raise st.conflict(call.rt, call.info.name)


async def _delete_options(call: Call) -> dict[str, Any]:
    raw = await call.request.body()
    opts: dict[str, Any] = {}
    if raw.strip():
        opts = codec.decode_body(raw, call.request.headers.get("content-type") or codec.JSON)
    q = call.query
    if "gracePeriodSeconds" in q:
        try:
            opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
        except ValueError as e:
            raise st.bad_request("gracePeriodSeconds must be an integer") from e
    if "propagationPolicy" in q:
        opts["propagationPolicy"] = q["propagationPolicy"]
    if truthy(q.get("orphanDependents")) and "propagationPolicy" not in opts:
        opts["propagationPolicy"] = "Orphan"
    if opts.get("orphanDependents") is True and "propagationPolicy" not in opts:
        opts["propagationPolicy"] = "Orphan"
    if "dryRun" in opts and opts["dryRun"] not in (["All"], [], None):
        raise st.bad_request(f'Invalid dry run value "{opts["dryRun"]}". Supported values are: "All"')
    policy = opts.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise st.bad_request(f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                             f'"{policy}": supported values: "Foreground", "Background", "Orphan", "nil"')
    return opts


async def delete(call: Call) -> Response:
    opts = await _delete_options(call)
    pre = opts.get("preconditions") or {}
    dry = call.dry_run or opts.get("dryRun") == ["All"]
    obj = call.ctx.store.delete(call.rt, call.info.namespace, call.info.name,
                                propagation=opts.get("propagationPolicy"), precondition_uid=pre.get("uid"),
                                precondition_rv=pre.get("resourceVersion"),
                                grace_period_s=opts.get("gracePeriodSeconds"), dry_run=dry)
    pending = bool(obj["metadata"].get("finalizers")) and not dry
    return codec.json_response(call.ctx.present(call.rt, obj), 202 if pending else 200)


async def deletecollection(call: Call) -> Response:
    opts = await _delete_options(call)
    match = build_match(call)
    entries, rv, _, _ = call.ctx.store.list_entries(call.rt, call.info.namespace or None, match)
    dry = call.dry_run or opts.get("dryRun") == ["All"]
    deleted = []
    for e in entries:
        m = e.obj["metadata"]
        try:
            deleted.append(call.ctx.store.delete(call.rt, m.get("namespace", ""), m["name"],
                                                 propagation=opts.get("propagationPolicy"),
                                                 grace_period_s=opts.get("gracePeriodSeconds"), dry_run=dry))
        except st.ApiError as err:
            if err.code != 404:
                raise
    return codec.json_response({"kind": call.rt.list_kind, "apiVersion": call.rt.api_version,
                                "metadata": {"resourceVersion": str(rv)},
                                "items": [call.ctx.present(call.rt, o) for o in deleted]})

"""Subresources: `scale`, `status` (get), `log`, `eviction`, `binding` and a namespace's `finalize`.

`scale` speaks autoscaling/v1 `Scale` for Deployments, ReplicaSets, StatefulSets,
ReplicationControllers and any CRD that declares `subresources.scale` (Cluster API's
MachineDeployment). `eviction` honours PodDisruptionBudgets the way `kubectl drain` expects: 429 with
the budget's numbers when a disruption is not allowed.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from typing import Any

import orjson
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from prophet_sre.sim import codec, selectors
from prophet_sre.sim import status as st
from prophet_sre.sim.clock import parse_time
from prophet_sre.sim.controllers import binding as binding_ctl
from prophet_sre.sim.handlers import Call, _table_or_object, apply_patch
from prophet_sre.sim.requestinfo import truthy


# -- scale --------------------------------------------------------------------------------------------
def _get_path(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


def _scale_paths(call: Call) -> tuple[str, str, str | None]:
    rt = call.rt
    if rt.scale is not None:
        return rt.scale.spec_replicas_path, rt.scale.status_replicas_path, rt.scale.label_selector_path
    return ".spec.replicas", ".status.replicas", None


def scale_object(call: Call, obj: dict[str, Any]) -> dict[str, Any]:
    spec_p, status_p, sel_p = _scale_paths(call)
    m = obj["metadata"]
    if sel_p:
        selector = _get_path(obj, sel_p) or ""
    else:
        selector = selectors.selector_string((obj.get("spec") or {}).get("selector") or {})
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m.get("namespace", ""), "uid": m.get("uid"),
                     "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp")},
        "spec": {"replicas": int(_get_path(obj, spec_p) or 0)},
        "status": {"replicas": int(_get_path(obj, status_p) or 0), "selector": selector},
    }


async def scale(call: Call) -> Response:
    store = call.ctx.store
    method = call.request.method
    if method == "GET":
        return codec.json_response(scale_object(call, store.get(call.rt, call.info.namespace, call.info.name)))
    raw = await call.request.body()
    ct = codec.media_type(call.request.headers.get("content-type"))
    for _attempt in range(5):
        live = store.get(call.rt, call.info.namespace, call.info.name)
        current = scale_object(call, live)
        if method == "PUT":
            body = codec.decode_body(raw, ct)
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != live["metadata"]["resourceVersion"]:
                raise st.conflict(call.rt, call.info.name)
            new_scale = body
        else:
            patch_type = codec.PATCH_TYPES.get(ct)
            if patch_type is None or patch_type == "apply":
                raise st.unsupported_media_type(ct, codec.ALL_PATCH_ACCEPTED)
            new_scale = apply_patch(call.rt, current, patch_type, codec.decode_body(raw, ct, allow_list=True))
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise st.ApiError(422, "Invalid",
                              f'Scale.autoscaling "{call.info.name}" is invalid: spec.replicas: Invalid value: '
                              f"{replicas}: must be greater than or equal to 0",
                              {"name": call.info.name, "group": "autoscaling", "kind": "Scale", "causes": [
                                  {"reason": "FieldValueInvalid", "field": "spec.replicas",
                                   "message": "must be greater than or equal to 0"}]})
        updated = copy.deepcopy(live)
        _set_path(updated, _scale_paths(call)[0], replicas)
        try:
            obj = store.update(call.rt, updated, dry_run=call.dry_run)
        except st.ApiError as e:
            if e.reason == "Conflict" and method != "PUT":
                continue
            raise
        return codec.json_response(scale_object(call, obj))
    raise st.conflict(call.rt, call.info.name)


async def status_get(call: Call) -> Response:
    return _table_or_object(call, call.ctx.store.get(call.rt, call.info.namespace, call.info.name))


# -- pods/log -------------------------------------------------------------------------------------------
def _pick_container(pod: dict[str, Any], container: str) -> str:
    spec = pod.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    init = [c.get("name", "") for c in spec.get("initContainers") or []]
    name = pod["metadata"]["name"]
    if not container:
        if len(names) == 1:
            return names[0]
        default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
        if default in names:
            return default
        raise st.bad_request(f"a container name must be specified for pod {name}, choose one of: "
                             f"[{' '.join(names)}]" + (f" or one of the init containers: [{' '.join(init)}]"
                                                       if init else ""))
    if container not in names + init:
        raise st.bad_request(f"container {container} is not valid for pod {name}")
    return container


def _waiting_reason(pod: dict[str, Any], container: str) -> str | None:
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            state = cs.get("state") or {}
            if "waiting" in state and not (cs.get("lastState") or {}).get("terminated"):
                return (state["waiting"] or {}).get("reason", "ContainerCreating")
            return None
    return "ContainerCreating"


async def log(call: Call) -> Response:
    store, q = call.ctx.store, call.query
    ns, name = call.info.namespace, call.info.name
    pod = store.get(call.rt, ns, name)
    container = _pick_container(pod, q.get("container", ""))
    previous = truthy(q.get("previous"))
    logs = call.ctx.logs
    if previous:
        if not logs.has_previous(ns, name, container):
            raise st.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
    else:
        reason = _waiting_reason(pod, container)
        if reason is not None:
            raise st.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    try:
        tail = int(q["tailLines"]) if "tailLines" in q else None
        since = None
        if "sinceSeconds" in q:
            since = call.ctx.clock.now() - timedelta(seconds=int(q["sinceSeconds"]))
        elif "sinceTime" in q:
            since = parse_time(q["sinceTime"])
        limit_bytes = int(q["limitBytes"]) if "limitBytes" in q else None
    except ValueError as e:
        raise st.bad_request(f"invalid log options: {e}") from e
    timestamps = truthy(q.get("timestamps"))
    lines = logs.read(ns, name, container, previous=previous, tail=tail, since=since, timestamps=timestamps)
    text = "".join(line + "\n" for line in lines)
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode(errors="ignore")
    if not truthy(q.get("follow")) or previous:
        return PlainTextResponse(text)

    async def follow() -> Any:
        yield text.encode()
        seen = len(logs.read(ns, name, container))
        while True:
            await asyncio.sleep(0.2)
            if store.try_get(call.rt, ns, name) is None:
                return
            current = logs.read(ns, name, container, timestamps=timestamps)
            if len(current) > seen:
                yield "".join(x + "\n" for x in current[seen:]).encode()
                seen = len(current)
            elif len(current) < seen:  # container restarted: a new instance
                seen = 0

    return StreamingResponse(follow(), media_type="text/plain")


# -- pods/eviction ----------------------------------------------------------------------------------------
async def eviction(call: Call) -> Response:
    body = codec.decode_body(await call.request.body(), call.request.headers.get("content-type"))
    store, ns, name = call.ctx.store, call.info.namespace, call.info.name
    pod = store.get(call.rt, ns, name)
    pdb_rt = call.ctx.registry.get("policy", "v1", "poddisruptionbudgets")
    assert pdb_rt is not None
    labels = pod["metadata"].get("labels") or {}
    pdbs = [p for p in store.objects(pdb_rt, ns)
            if selectors.label_selector_from_dict((p.get("spec") or {}).get("selector")).matches(labels)
            and (p.get("spec") or {}).get("selector") is not None]
    phase = (pod.get("status") or {}).get("phase")
    dry = call.dry_run or (body.get("deleteOptions") or {}).get("dryRun") == ["All"]
    if pdbs and phase not in ("Succeeded", "Failed", "Pending") and not pod["metadata"].get("deletionTimestamp"):
        if len(pdbs) > 1:
            raise st.ApiError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the "
                                                    "eviction subresource does not support.")
        pdb = pdbs[0]
        pstatus = pdb.get("status") or {}
        if int(pstatus.get("disruptionsAllowed", 0) or 0) < 1:
            msg = (f"The disruption budget {pdb['metadata']['name']} needs {pstatus.get('desiredHealthy', 0)} "
                   f"healthy pods and has {pstatus.get('currentHealthy', 0)} currently")
            raise st.ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption "
                              "budget.", {"causes": [{"reason": "DisruptionBudget", "message": msg}]})
        if not dry:
            upd = copy.deepcopy(pdb)
            upd["status"]["disruptionsAllowed"] = int(pstatus["disruptionsAllowed"]) - 1
            disrupted = upd["status"].setdefault("disruptedPods", {})
            disrupted[name] = call.ctx.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            store.update(pdb_rt, upd, subresource="status")
    opts = body.get("deleteOptions") or {}
    store.delete(call.rt, ns, name, grace_period_s=opts.get("gracePeriodSeconds"), dry_run=dry)
    return codec.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                "code": 201}, 201)


# -- pods/binding ------------------------------------------------------------------------------------------
async def binding(call: Call) -> Response:
    body = codec.decode_body(await call.request.body(), call.request.headers.get("content-type"))
    target = (body.get("target") or {}).get("name")
    if not target:
        raise st.bad_request("Binding target name is required")
    if not call.dry_run:
        binding_ctl.bind_pod(call.ctx.store, call.rt, call.info.namespace, call.info.name, target,
                             uid=(body.get("metadata") or {}).get("uid"))
    return codec.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                "code": 201}, 201)


# -- namespaces/finalize ----------------------------------------------------------------------------------------
async def finalize(call: Call) -> Response:
    body = codec.decode_body(await call.request.body(), call.request.headers.get("content-type"))
    store = call.ctx.store
    live = store.get(call.rt, "", call.info.name)
    upd = copy.deepcopy(live)
    upd.setdefault("spec", {})["finalizers"] = list((body.get("spec") or {}).get("finalizers") or [])
    obj = store.update(call.rt, upd, check_rv=False)
    return Response(orjson.dumps(obj), media_type=codec.JSON)


# -- serviceaccounts/token ------------------------------------------------------------------------------
async def token(call: Call) -> Response:
    """TokenRequest: mint a bearer token that authenticates as the service account (RBAC applies)."""
    body = codec.decode_body(await call.request.body(), call.request.headers.get("content-type"))
    store, ns, name = call.ctx.store, call.info.namespace, call.info.name
    sa = store.get(call.rt, ns, name)
    spec = dict(body.get("spec") or {})
    try:
        ttl = int(spec.get("expirationSeconds") or 3600)
    except (TypeError, ValueError) as e:
        raise st.bad_request("spec.expirationSeconds must be an integer") from e
    if ttl < 600:
        raise st.ApiError(422, "Invalid", 'TokenRequest.authentication.k8s.io "" is invalid: '
                          f"spec.expirationSeconds: Invalid value: {ttl}: may not specify a duration less than "
                          "10 minutes")
    spec["expirationSeconds"] = ttl
    spec.setdefault("audiences", ["https://kubernetes.default.svc.cluster.local"])
    value = call.ctx.mint_service_account_token(ns, name, sa["metadata"].get("uid", ""))
    expires = call.ctx.clock.now() + timedelta(seconds=ttl)
    return codec.json_response({
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
        "spec": spec,
        "status": {"token": value, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }, 201)

"""The simulated kube-apiserver as an ASGI app: authentication, authorization, routing.

Request path: bearer token -> user (401 for an unknown token) -> impersonation headers -> RBAC ->
the verb handler. Errors of every kind leave as `Status` objects with the real reason and code; an
unexpected exception is logged and answered 500 without touching stored state (writes are
copy-on-write, so a failed handler cannot leave a half-written object behind).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from prophet_sre.sim import codec, discovery, handlers, rbac, rbac_review, subresources, watchstream
from prophet_sre.sim import status as st
from prophet_sre.sim.clock import SimClock
from prophet_sre.sim.logs import PodLogs
from prophet_sre.sim.openapi import OpenAPIBuilder
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.requestinfo import RequestInfo, parse_resource_path, truthy
from prophet_sre.sim.store import Store

log = logging.getLogger(__name__)

ANONYMOUS = rbac.UserInfo(name="system:anonymous", groups=("system:unauthenticated",))
ADMIN = rbac.UserInfo(name="kubernetes-admin", groups=("system:masters", "system:authenticated"))
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass
class ApiContext:
    """Everything a request handler may need; one per simulated cluster."""

    store: Store
    registry: Registry
    clock: SimClock
    logs: PodLogs
    server_address: str = "127.0.0.1:6443"
    tokens: dict[str, rbac.UserInfo] = field(default_factory=dict)
    authorizer: rbac.Authorizer | None = None
    openapi: OpenAPIBuilder | None = None
    extra_routes: list[BaseRoute] = field(default_factory=list)
    rbac_generation: int = 0

    def __post_init__(self) -> None:
        if self.authorizer is None:
            self.authorizer = rbac.Authorizer(self._list_rbac, generation=lambda: self.rbac_generation)
        if self.openapi is None:
            self.openapi = OpenAPIBuilder(self.registry)
        self.store.subscribe(self._on_write)

    def _list_rbac(self, group: str, plural: str) -> list[dict[str, Any]]:
        rt = self.registry.storage_type(group, plural)
        return self.store.objects(rt) if rt else []

    def _on_write(self, ev: Any) -> None:
        if ev.storage_key[0] == RBAC_GROUP:
            self.rbac_generation += 1

    # -- presentation: the stored form is the served form except for these cases ---------------
    def present_is_identity(self, rt: ResourceType) -> bool:
        return rt.storage

    def present(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") != rt.api_version and obj.get("kind") == rt.kind:
            return {**obj, "apiVersion": rt.api_version}
        return obj

    def mint_service_account_token(self, namespace: str, name: str, uid: str) -> str:
        """A bearer token for `system:serviceaccount:<ns>:<name>` (what `kubectl create token` returns)."""
        value = "sim." + secrets.token_urlsafe(24)
        self.tokens[value] = rbac.service_account_user(namespace, name, uid)
        return value

    def review(self, call: handlers.Call, body: dict[str, Any]) -> dict[str, Any]:
        assert self.authorizer is not None
        return rbac_review.review(call.rt.kind, body, call.user, self.authorizer, call.info.namespace,
                                  now=self.clock.now)


Handler = Callable[[handlers.Call], Awaitable[Response] | Response]


def _resource_handler(info: RequestInfo, method: str) -> Handler | None:
    sub = info.subresource
    if not sub:
        return {"get": handlers.get, "list": handlers.list_, "watch": watchstream.watch,
                "create": handlers.create, "update": handlers.update, "patch": handlers.patch_,
                "delete": handlers.delete, "deletecollection": handlers.deletecollection}.get(info.verb)
    if sub == "status":
        return {"get": subresources.status_get, "update": handlers.update, "patch": handlers.patch_}.get(info.verb)
    if sub == "scale":
        return subresources.scale if info.verb in ("get", "update", "patch") else None
    if sub == "log" and info.verb == "get":
        return subresources.log
    if sub == "eviction" and info.verb == "create":
        return subresources.eviction
    if sub == "binding" and info.verb == "create":
        return subresources.binding
    if sub == "finalize" and info.verb == "update":
        return subresources.finalize
    if sub == "token" and info.verb == "create":
        return subresources.token
    return None


class SimApiApp:
    """ASGI entry point; `extra_routes` (metrics, /sim/v1 control) are tried before the API."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._extra = list(ctx.extra_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        for route in self._extra:
            match, child = route.matches(scope)
            if match.name == "FULL":
                scope.update(child)
                await route.handle(scope, receive, send)
                return
        request = Request(scope, receive)
        try:
            response = await self._dispatch(request)
        except st.ApiError as e:
            response = codec.error_response(e)
        except Exception as e:  # noqa: BLE001 - never crash the server on one request
            log.exception("unhandled error for %s %s", request.method, request.url.path)
            response = codec.error_response(st.internal(str(e)))
        await response(scope, receive, send)

    # -- authentication -------------------------------------------------------------------------
    def _authenticate(self, request: Request) -> rbac.UserInfo:
        auth = request.headers.get("authorization", "")
        if not auth:
            return ANONYMOUS
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip() in self.ctx.tokens:
            return self.ctx.tokens[token.strip()]
        raise st.ApiError(401, "Unauthorized", "Unauthorized")

    def _user(self, request: Request) -> rbac.UserInfo:
        user = self._authenticate(request)
        headers = {k.lower(): request.headers.getlist(k) for k in request.headers.keys()
                   if k.lower().startswith("impersonate-")}
        if not headers:
            return user
        hdrs = {"-".join(w.capitalize() for w in k.split("-")): v for k, v in headers.items()}
        assert self.ctx.authorizer is not None
        return rbac.impersonate(user, hdrs, self.ctx.authorizer)

    def _authorize(self, user: rbac.UserInfo, attrs: rbac.Attributes, rt: ResourceType | None = None) -> None:
        assert self.ctx.authorizer is not None
        decision = self.ctx.authorizer.authorize(user, attrs)
        if not decision.allowed:
            raise rbac.forbidden_error(user, attrs, decision.reason)

    # -- routing ---------------------------------------------------------------------------------
    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        method = request.method
        user = self._user(request)
        info = parse_resource_path(method, path, truthy(request.query_params.get("watch")))
        if info is None or info.discovery:
            self._authorize(user, rbac.Attributes(verb=method.lower(), resource_request=False, path=path))
            return self._non_resource(request, path, info)
        if info.verb == "invalid":
            raise st.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        rt = self.ctx.registry.get(info.group, info.version, info.resource)
        if rt is None:
            raise st.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if info.namespace and not rt.namespaced:
            raise st.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if info.subresource and not rt.has_subresource(info.subresource):
            raise st.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if not info.subresource and info.verb not in rt.verbs and not (info.verb == "watch" and "list" in rt.verbs
                                                                        and "watch" in rt.verbs):
            raise st.method_not_allowed()
        handler = _resource_handler(info, method)
        if handler is None:
            raise st.method_not_allowed()
        self._authorize(user, rbac.Attributes(verb=info.verb, api_group=info.group, resource=info.resource,
                                              subresource=info.subresource, namespace=info.namespace,
                                              name=info.name), rt)
        call = handlers.Call(ctx=self.ctx, request=request, info=info, rt=rt, user=user,
                             query=dict(request.query_params))
        result = handler(call)
        if not isinstance(result, Response):
            result = await result
        return result

    def _non_resource(self, request: Request, path: str, info: RequestInfo | None) -> Response:
        reg = self.ctx.registry
        p = path.rstrip("/") or "/"
        if info is not None:  # /api/v1 or /apis/g/v discovery
            doc = discovery.api_resource_list(reg, info.group, info.version)
            if doc is None:
                raise st.ApiError(404, "NotFound", "the server could not find the requested resource", {})
            return codec.json_response(doc)
        if p == "/api":
            return codec.json_response(discovery.api_versions(self.ctx.server_address))
        if p == "/apis":
            return codec.json_response(discovery.api_group_list(reg))
        if p.startswith("/apis/") and p.count("/") == 2:
            group_doc = discovery.api_group(reg, p.split("/")[2])
            if group_doc is not None:
                return codec.json_response(group_doc)
        if p == "/version":
            return codec.json_response(discovery.version())
        if p in ("/healthz", "/livez", "/readyz"):
            return PlainTextResponse("ok")
        if p.startswith(("/livez/", "/readyz/", "/healthz/")):
            return PlainTextResponse("ok")
        if p.startswith("/openapi/"):
            return self._openapi(request, p)
        raise st.ApiError(404, "NotFound", "the server could not find the requested resource", {})

    def _openapi(self, request: Request, p: str) -> Response:
        oa = self.ctx.openapi
        assert oa is not None
        if p == "/openapi/v2":
            first = (request.headers.get("accept") or "").split(",")[0].strip()
            if first.startswith(OPENAPI_V2_PROTOBUF_ACCEPT) or first.startswith(OPENAPI_V2_PROTOBUF):
                return Response(openapi_v2_protobuf_stub(), media_type=OPENAPI_V2_PROTOBUF)
            return codec.json_response(oa.v2_document())
        if p == "/openapi/v3":
            return codec.json_response(oa.v3_index())
        rest = p[len("/openapi/v3/"):]
        parts = rest.split("/")
        doc = None
        if parts[0] == "api" and len(parts) == 2:
            doc = oa.v3_document("", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = oa.v3_document(parts[1], parts[2])
        if doc is None:
            raise st.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        return codec.json_response(doc, headers={"Cache-Control": "public, immutable",
                                                 "Etag": f'"{oa.etag_for(*_gv(parts))}"'})


OPENAPI_V2_PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
"""What client-go asks for; kube-openapi answers with `OPENAPI_V2_PROTOBUF` (Go's mime parser rejects '@')."""
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _pb_len(field_number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads here are far below 128 bytes: one-byte lengths)."""
    assert len(payload) < 128
    return bytes([field_number << 3 | 2, len(payload)]) + payload


def openapi_v2_protobuf_stub() -> bytes:
    """`/openapi/v2` as kubectl asks for it: a gnostic `openapi_v2.Document` with no paths or definitions.

    kubectl reads v2 only for client-side schema validation of kinds whose v3 PATCH operation lacks
    `fieldValidation` - a `kind: List` file, or a kind the server does not serve - and with no model
    for the kind it skips that validation, as it does against a real server for an unknown kind; the
    server still validates every item (`fieldValidation=Strict`). A JSON body here fails kubectl with
    "proto: cannot parse invalid wire-format data".
    """
    version = str(discovery.version().get("gitVersion", "")).encode()
    info = _pb_len(1, b"Kubernetes") + _pb_len(2, version)  # Info.title, Info.version
    return _pb_len(1, b"2.0") + _pb_len(2, info)  # Document.swagger, Document.info


def _gv(parts: list[str]) -> tuple[str, str]:
    return ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])


def health_route(path: str, text: str = "ok") -> Route:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(text)

    return Route(path, endpoint)

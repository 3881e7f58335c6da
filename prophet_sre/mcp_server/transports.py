"""How the MCP server is reached: stdio, and one HTTP app with every network endpoint.

    /mcp          streamable HTTP (the SDK's), and WebSocket on the same path (our adapter)
    /mcp/query    POST {"question": ..., "namespace": ...} → the query graph's answer as JSON
    /mcp/stream   GET  → Server-Sent Events: incidents, decisions, actions, audit records
    /healthz      liveness (no token needed)
    /metrics      Prometheus text: calls, errors and time per tool, stream subscribers

Everything but /healthz sits behind `auth.AuthMiddleware` (Host/Origin allow-list, bearer tokens).
The SDK's own DNS-rebinding check is switched off because ours covers every route, the WebSocket too,
with one allow-list. The SDK app's session manager runs in *this* app's lifespan (Starlette does not run
a mounted app's lifespan), together with the audit-log follower that feeds /mcp/stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from prophet_sre.errors import InvalidInput, ProphetError
from prophet_sre.mcp_server.auth import Authenticator, AuthMiddleware
from prophet_sre.mcp_server.events import EVENT_TYPES, AuditFollower, sse
from prophet_sre.mcp_server.service import ProphetService
from prophet_sre.mcp_server.websocket import serve_websocket

log = logging.getLogger(__name__)
HEARTBEAT_S = 15.0
MAX_BODY = 64 * 1024


def build_app(service: ProphetService, server: MCPServer, auth: Authenticator) -> Starlette:
    """The HTTP app (see the module docstring); `service` must be open while it serves."""
    sdk_app = server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        follower = AuditFollower(service.audit_path, service.broker)
        async with server.session_manager.run(), anyio.create_task_group() as tg:
            tg.start_soon(follower.run)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def query(request: Request) -> Response:
        t0 = time.perf_counter()
        try:
            body = await request.body()
            if len(body) > MAX_BODY:
                raise InvalidInput(f"request body over {MAX_BODY} bytes")
            try:
                doc = orjson.loads(body or b"{}")
            except orjson.JSONDecodeError as e:
                raise InvalidInput(f'the body is not JSON ({e}); send {{"question": "..."}}') from e
            if not isinstance(doc, dict) or not isinstance(doc.get("question"), str):
                raise InvalidInput('send a JSON object with a "question" string (and optionally "namespace")')
            ns = doc.get("namespace")
            if ns is not None and not isinstance(ns, str):
                raise InvalidInput('"namespace" must be a string')
            out = await anyio.to_thread.run_sync(service.ask, doc["question"], ns)
        except InvalidInput as e:
            service.count("http_query", error=True, seconds=time.perf_counter() - t0)
            return JSONResponse({"error": "invalid_request", "error_description": str(e)}, status_code=400)
        except ProphetError as e:
            service.count("http_query", error=True, seconds=time.perf_counter() - t0)
            return JSONResponse({"error": type(e).__name__, "error_description": str(e)}, status_code=503)
        service.count("http_query", seconds=time.perf_counter() - t0)
        return JSONResponse(out.model_dump(mode="json"))

    async def stream(request: Request) -> Response:
        wanted = request.query_params.get("types", "")
        types = frozenset(t.strip() for t in wanted.split(",") if t.strip()) or frozenset(EVENT_TYPES)
        unknown = types - set(EVENT_TYPES)
        if unknown:
            return JSONResponse({"error": "invalid_request", "error_description":
                                 f"unknown event types {sorted(unknown)}; use {', '.join(EVENT_TYPES)}"},
                                status_code=400)
        try:
            limit = int(request.query_params.get("limit", "0"))
        except ValueError:
            limit = -1
        if limit < 0:
            return JSONResponse({"error": "invalid_request", "error_description": "limit must be an integer >= 0"},
                                status_code=400)

        async def events() -> AsyncIterator[bytes]:
            sent = 0
            async with service.broker.subscribe(types) as sub:
                yield b": prophet event stream\n\n"
                while limit == 0 or sent < limit:
                    try:
                        event = await asyncio.wait_for(sub.queue.get(), timeout=HEARTBEAT_S)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield sse(event)
                    sent += 1

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def healthz(_: Request) -> Response:
        return JSONResponse(service.health())

    async def metrics(_: Request) -> Response:
        return PlainTextResponse(metrics_text(service), media_type="text/plain; version=0.0.4")

    async def ws(websocket: WebSocket) -> None:
        await serve_websocket(websocket, server)

    app = Starlette(
        routes=[
            Route("/mcp/query", query, methods=["POST"]),
            Route("/mcp/stream", stream, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            WebSocketRoute("/mcp", ws),
            Mount("/", app=sdk_app),
        ],
        middleware=[Middleware(AuthMiddleware, auth=auth)],
        lifespan=lifespan,
    )
    return app


def metrics_text(service: ProphetService) -> str:
    """The server's counters in the Prometheus text format."""
    lines = ["# HELP prophet_mcp_tool_calls_total MCP tool calls (and POST /mcp/query as http_query).",
             "# TYPE prophet_mcp_tool_calls_total counter"]
    calls, errors, seconds = dict(service.calls), dict(service.errors), dict(service.seconds)
    lines += [f'prophet_mcp_tool_calls_total{{tool="{t}"}} {n}' for t, n in sorted(calls.items())]
    lines += ["# HELP prophet_mcp_tool_errors_total Calls that returned an error.",
              "# TYPE prophet_mcp_tool_errors_total counter"]
    lines += [f'prophet_mcp_tool_errors_total{{tool="{t}"}} {errors.get(t, 0)}' for t in sorted(calls)]
    lines += ["# HELP prophet_mcp_tool_seconds_total Wall time spent in calls.",
              "# TYPE prophet_mcp_tool_seconds_total counter"]
    lines += [f'prophet_mcp_tool_seconds_total{{tool="{t}"}} {seconds.get(t, 0.0):.6f}' for t in sorted(calls)]
    lines += ["# HELP prophet_mcp_stream_subscribers Open /mcp/stream connections.",
              "# TYPE prophet_mcp_stream_subscribers gauge",
              f"prophet_mcp_stream_subscribers {service.broker.subscribers}",
              "# HELP prophet_mcp_events_published_total Events sent to /mcp/stream.",
              "# TYPE prophet_mcp_events_published_total counter",
              f"prophet_mcp_events_published_total {service.broker.published}"]
    return "\n".join(lines) + "\n"


class HttpServer:
    """uvicorn serving the app in a background thread (`prophet mcp --http` runs it in the foreground)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                     ws_max_size=4 * 1024 * 1024, timeout_graceful_shutdown=3)
        self.server = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None
        self.host = host

    @property
    def port(self) -> int:
        servers = getattr(self.server, "servers", None) or []
        for srv in servers:
            for sock in srv.sockets:
                return int(sock.getsockname()[1])
        return int(self.config.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> HttpServer:
        self._thread = threading.Thread(target=self.server.run, name="prophet-mcp-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the MCP HTTP server did not start on {self.host}:{self.config.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)


async def run_stdio(server: MCPServer) -> None:
    """Serve one MCP session over this process's stdin/stdout (Claude Desktop, Claude Code)."""
    await server.run_stdio_async()


__all__ = ["HttpServer", "build_app", "metrics_text", "run_stdio"]

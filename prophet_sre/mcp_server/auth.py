"""Who may call the MCP server over HTTP, and from where: bearer tokens and the Host/Origin allow-list.

The rules (DESIGN.md §8):
- loopback by default; binding any other address without tokens is refused at start (`check_bind`);
- with tokens configured, every HTTP request but `/healthz` needs `Authorization: Bearer <token>`;
  a token is read-only (`ro`) or read-write (`rw`); its name is the caller's identity in the audit log;
- the Host header must name this server (DNS rebinding: a web page on evil.example resolving to
  127.0.0.1 must not reach us), and a browser Origin must be a loopback one or an allowed one.

Tokens come from `PROPHET_MCP__TOKENS` as `name:token:rw,name2:token2:ro`. Comparisons are constant
time. The middleware is plain ASGI so it guards every route alike: streamable HTTP, the WebSocket at
`/mcp`, `/mcp/query`, `/mcp/stream`, `/metrics`. The caller it authenticates is put in the ASGI scope
(`scope["prophet.caller"]`), where the MCP tools find it through the transport's request object.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from prophet_sre.errors import ConfigError

log = logging.getLogger(__name__)

Access = Literal["ro", "rw"]
SCOPE_KEY = "prophet.caller"
MIN_TOKEN_CHARS = 16
OPEN_PATHS = frozenset({"/healthz"})
"""Paths answered without a token (a liveness probe has none); they reveal nothing."""
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Caller:
    """An authenticated (or local) caller: `name` goes into approvals and the audit log."""

    name: str
    access: Access

    @property
    def can_write(self) -> bool:
        return self.access == "rw"


LOCAL_RW = Caller("local", "rw")
"""Loopback HTTP without tokens configured, and stdio: the user on this machine."""


@dataclass(frozen=True)
class Token:
    name: str
    secret: str
    access: Access


def parse_tokens(spec: str | None) -> list[Token]:
    """`name:token:rw,name2:token2:ro` → tokens. Access defaults to `ro`; errors say what to fix."""
    if not spec or not spec.strip():
        return []
    out: list[Token] = []
    names: set[str] = set()
    for i, item in enumerate(x.strip() for x in spec.split(",")):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) == 2:
            parts.append("ro")
        if len(parts) != 3:
            raise ConfigError(f"PROPHET_MCP__TOKENS entry {i + 1}: expected name:token:ro|rw (got {len(parts)} "
                              "colon-separated fields; tokens may not contain ':' or ',')")
        name, secret, access = (p.strip() for p in parts)
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(f"PROPHET_MCP__TOKENS entry {i + 1}: the name {name!r} must be letters, digits, "
                              "'-', '_' or '.'")
        if access not in ("ro", "rw"):
            raise ConfigError(f"PROPHET_MCP__TOKENS entry {name!r}: access must be ro or rw, not {access!r}")
        if len(secret) < MIN_TOKEN_CHARS:
            raise ConfigError(f"PROPHET_MCP__TOKENS entry {name!r}: the token is {len(secret)} characters; use at "
                              f"least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 24`)")
        if name in names:
            raise ConfigError(f"PROPHET_MCP__TOKENS: the name {name!r} appears twice")
        names.add(name)
        out.append(Token(name, secret, access))  # type: ignore[arg-type]
    return out


def is_loopback(host: str) -> bool:
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: list[Token]) -> None:
    """Refuse to serve a non-loopback address without tokens (the message says how to fix it)."""
    if not is_loopback(host) and not tokens:
        raise ConfigError(f"refusing to serve MCP on {host}: a non-loopback address needs bearer tokens. Set "
                          "PROPHET_MCP__TOKENS=name:token:ro (or :rw for write tools), or bind 127.0.0.1")


class Authenticator:
    """Token lookup (constant time) and the Host/Origin allow-list."""

    def __init__(self, tokens: Iterable[Token], *, bind_host: str = "127.0.0.1",
                 allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = ()) -> None:
        self.tokens = list(tokens)
        host_names = {*LOOPBACK_NAMES, bind_host.strip("[]")}
        self.allowed_hosts = [f"{h}:*" for h in sorted(host_names)] + [*LOOPBACK_NAMES] + list(allowed_hosts)
        self.allowed_origins = [f"http://{h}:*" for h in ("127.0.0.1", "localhost", "[::1]")] + \
            [f"http://{h}" for h in ("127.0.0.1", "localhost", "[::1]")] + list(allowed_origins)

    @property
    def required(self) -> bool:
        return bool(self.tokens)

    def caller(self, authorization: str | None) -> Caller | str:
        """The caller for an `Authorization` header, or the reason it is refused."""
        if not self.tokens:
            return LOCAL_RW
        if not authorization:
            return "missing bearer token: send 'Authorization: Bearer <token>' (tokens: PROPHET_MCP__TOKENS)"
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "malformed Authorization header: expected 'Bearer <token>'"
        given = value.strip().encode()
        found: Token | None = None
        for t in self.tokens:  # compare against every token: timing says nothing about which matched
            if hmac.compare_digest(given, t.secret.encode()):
                found = t
        if found is None:
            return "invalid bearer token: it matches none of PROPHET_MCP__TOKENS"
        return Caller(f"mcp:{found.name}", found.access)

    def host_ok(self, host: str | None) -> bool:
        if not host:
            return False
        return any(_match(host.lower(), pattern.lower()) for pattern in self.allowed_hosts)

    def origin_ok(self, origin: str | None) -> bool:
        if not origin:  # not a browser (CLIs, SDK clients, curl)
            return True
        return any(_match(origin.lower(), pattern.lower()) for pattern in self.allowed_origins)


def _match(value: str, pattern: str) -> bool:
    if pattern.endswith(":*"):
        base = pattern[:-2]
        return value == base or (value.startswith(base + ":") and value[len(base) + 1:].isdigit())
    return value == pattern


class AuthMiddleware:
    """ASGI: Host/Origin allow-list, then bearer tokens; refusals are JSON naming the fix."""

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host")
        if not self.auth.host_ok(host):
            await _refuse(scope, receive, send, 421, "misdirected_request",
                          f"Host header {host!r} is not allowed (DNS-rebinding protection); add it to "
                          "PROPHET_MCP__ALLOWED_HOSTS or use --allowed-host")
            return
        if not self.auth.origin_ok(headers.get("origin")):
            await _refuse(scope, receive, send, 403, "forbidden_origin",
                          f"Origin {headers.get('origin')!r} is not allowed; add it to PROPHET_MCP__ALLOWED_ORIGINS")
            return
        if scope.get("path", "") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        caller = self.auth.caller(headers.get("authorization"))
        if isinstance(caller, str):
            log.info("refused %s %s: %s", scope["type"], scope.get("path"), caller)
            await _refuse(scope, receive, send, 401, "invalid_token", caller)
            return
        scope[SCOPE_KEY] = caller
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": code, "error_description": message})
    hdrs: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json"),
                                       (b"content-length", str(len(body)).encode())]
    if status == 401:
        hdrs.append((b"www-authenticate", f'Bearer error="{code}", error_description="{message}"'.encode()))
    prefix = "http"
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        if "websocket.http.response" not in scope.get("extensions", {}):
            # no denial responses: close before accepting (the handshake fails with a 403)
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        prefix = "websocket.http"  # the handshake is answered with this HTTP response, body and all
    await send({"type": f"{prefix}.response.start", "status": status, "headers": hdrs})
    await send({"type": f"{prefix}.response.body", "body": body})


def caller_of(request: Any) -> Caller | None:
    """The caller an HTTP/WebSocket request was authenticated as (None: no HTTP request, e.g. stdio)."""
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):
        found = scope.get(SCOPE_KEY)
        return found if isinstance(found, Caller) else None
    return None


__all__ = ["LOCAL_RW", "AuthMiddleware", "Authenticator", "Caller", "Token", "caller_of", "check_bind",
           "is_loopback", "parse_tokens"]

"""The one place where Kubernetes API failures become `prophet_sre.errors`.

    HTTP status / transport failure            ->  prophet_sre.errors
    401 Unauthorized, 403 Forbidden            ->  Forbidden   (names verb, resource, namespace)
    404 NotFound                               ->  NotFound
    409 Conflict / AlreadyExists               ->  Conflict    (callers re-read and retry: retry_on_conflict)
    410 Gone (expired continue token)          ->  Conflict    (the list is restarted by the client)
    429, 5xx, timeouts, refused/reset sockets  ->  ToolUnavailable (retried with back-off first)
    400 BadRequest, 422 Invalid                ->  InvalidQuery (a bad selector or parameter: fix the call)
    other 4xx                                  ->  ToolError

Why the request, not only the response, goes in: a 403 body says `User "x" cannot list ...` but the
caller needs the permission to grant, which we know exactly because we built the request (`Op`).
Server messages are capped at 256 characters before they reach a message or a log, so object data
(which may hold secrets) cannot leak through an error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import orjson

from prophet_sre.errors import Conflict, Forbidden, InvalidQuery, NotFound, ToolError, ToolUnavailable

MAX_SERVER_MESSAGE = 256
T = TypeVar("T")


@dataclass(frozen=True)
class Op:
    """What a request was trying to do, in RBAC's terms."""

    verb: str
    resource: str
    """Plural, with subresource when there is one (`pods/log`)."""
    group: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def qualified(self) -> str:
        base, _, sub = self.resource.partition("/")
        name = f"{base}.{self.group}" if self.group else base
        return f"{name}/{sub}" if sub else name

    def where(self) -> str:
        return f"in namespace {self.namespace}" if self.namespace else "at cluster scope"

    def describe(self) -> str:
        """`list pods in namespace shop`, `get deployments.apps "web" in namespace shop`."""
        name = f' "{self.name}"' if self.name else ""
        return f"{self.verb} {self.qualified}{name} {self.where()}"


def _server_message(body: bytes) -> str:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(doc, dict) or doc.get("kind") != "Status":
        return ""  # never echo a non-Status body: it may be an object with data in it
    return str(doc.get("message") or "")[:MAX_SERVER_MESSAGE]


_USER = re.compile(r'User "([^"]*)"')


def from_status(op: Op, status: int, body: bytes, retry_after_s: float | None = None) -> ToolError:
    """The error for a non-2xx answer to `op`."""
    message = _server_message(body)
    if status in (401, 403):
        perm = f"verb={op.verb}, resource={op.resource}" + (f", group={op.group}" if op.group else "")
        user = _USER.search(message)
        who = f' (user "{user.group(1)}")' if user else ""
        if status == 401:
            return Forbidden(f"not authenticated{who}: cannot {op.verb} {op.qualified} {op.where()} ({perm}); "
                             "check the kubeconfig's credentials")
        return Forbidden(f"cannot {op.verb} {op.qualified} {op.where()} ({perm}){who}")
    if status == 404:
        return NotFound(message or f"{op.qualified} \"{op.name}\" not found {op.where()}".replace(' ""', ""))
    if status in (409, 410):
        return Conflict(message or f"conflict on {op.describe()}; re-read and retry")
    if status == 429 or status >= 500:
        return ToolUnavailable(f"API server answered {status} to {op.describe()}"
                               + (f": {message}" if message else ""), retry_after_s=retry_after_s)
    if status in (400, 422):  # a selector, parameter or body the server will never accept as it is
        return InvalidQuery(f"API server rejected {op.describe()} ({status})" + (f": {message}" if message else ""))
    return ToolError(f"API server rejected {op.describe()} ({status})" + (f": {message}" if message else ""))


def from_transport(op: Op, exc: BaseException, server: str) -> ToolUnavailable:
    """A request that got no HTTP answer (refused, reset, timed out, TLS failure)."""
    detail = str(exc).splitlines()[0][:MAX_SERVER_MESSAGE] if str(exc) else type(exc).__name__
    return ToolUnavailable(f"cannot reach the API server {server} to {op.describe()}: {detail}")


def retry_on_conflict(fn: Callable[[], T], *, attempts: int = 5, backoff_s: float = 0.05,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Call `fn` (which must re-read what it writes) until it stops raising Conflict.

    Optimistic concurrency is the API server's answer to two writers; the fix is always "read again and
    reapply", so the caller's function does both and this only decides how often and how fast.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for i in range(attempts):
        try:
            return fn()
        except Conflict:
            if i == attempts - 1:
                raise
            sleep(backoff_s * (2**i))
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["MAX_SERVER_MESSAGE", "Op", "from_status", "from_transport", "retry_on_conflict"]

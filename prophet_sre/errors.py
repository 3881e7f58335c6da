"""One error hierarchy for all of Prophet.

    ProphetError
    ├── ConfigError            bad settings or a bad config file: permanent, tell the user what to fix
    ├── InvalidInput           a bad scenario, runbook, policy or manifest (carries file and field path)
    ├── ToolError              something a tool could not do
    │   ├── NotFound           the object or endpoint does not exist (HTTP 404)
    │   ├── Forbidden          the identity lacks a permission (HTTP 403); names the permission
    │   ├── Conflict           optimistic-lock conflict (HTTP 409): re-read and retry
    │   ├── InvalidQuery       the backend rejected the query itself (bad PromQL, a bad flow filter):
    │   │                      permanent, fix the query; also an InvalidInput
    │   └── ToolUnavailable    temporary: 5xx, timeouts, dropped connections; carries `retry_after_s`
    └── SimError               the simulated cluster could not start or was misused

Third-party exceptions (kubernetes, httpx, grpc, prometheus-api-client) are translated into these at the
one boundary that talks to each of them, chained with `from e`, so callers never import a client library
to handle an error. Messages are short and say what to do next.
"""

from __future__ import annotations


class ProphetError(Exception):
    """Base of every error Prophet raises on purpose."""


class ConfigError(ProphetError):
    """Settings or a config file are wrong; the message says which setting and what is allowed."""


class InvalidInput(ProphetError):
    """User-supplied data (scenario, runbook, policy, manifest) failed validation.

    `source` is the file (or other origin) and `path` the field path inside it, so the message can say
    exactly what to fix.
    """

    def __init__(self, message: str, *, source: str = "", path: str = "") -> None:
        self.source = source
        self.path = path
        where = ":".join(p for p in (source, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


class ToolError(ProphetError):
    """A tool call failed; subclasses say whether retrying can help."""


class NotFound(ToolError):
    """The requested object or endpoint does not exist."""


class Forbidden(ToolError):
    """The identity Prophet runs as lacks a permission; the message names it."""


class Conflict(ToolError):
    """The object changed under us (stale resourceVersion): re-read and retry."""


class InvalidQuery(ToolError, InvalidInput):
    """A query language expression or filter the backend rejected (Prometheus `bad_data`, gRPC
    INVALID_ARGUMENT). Permanent: the message is the backend's own, so a model can correct the query.
    It is both a `ToolError` (tools turn it into an error envelope) and an `InvalidInput` (user data)."""


class ToolUnavailable(ToolError):
    """A dependency is down or slow; worth retrying after `retry_after_s`."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class SimError(ProphetError):
    """The simulated cluster could not start or was asked for something it cannot do."""


__all__ = [
    "Conflict",
    "ConfigError",
    "Forbidden",
    "InvalidInput",
    "InvalidQuery",
    "NotFound",
    "ProphetError",
    "SimError",
    "ToolError",
    "ToolUnavailable",
]

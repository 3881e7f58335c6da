"""The seam between Prophet and the wire: one `request` method, raw bytes back.

`ApiClientTransport` sends requests through the official `kubernetes` client's `ApiClient` - so
kubeconfig auth of every kind (tokens, client certificates, exec plugins and their refresh hooks,
in-cluster service-account tokens), TLS and proxies behave exactly as they do for that client - but
asks for the raw body (`preload_content=False` semantics) so that hot-path reads skip its typed
models, which are far too slow at 10,000 pods. Tests substitute `FunctionTransport(handler)`.

Transport exceptions are not translated here; `client.KubeClient` does that in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from prophet_sre.errors import ConfigError

Query = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class RawResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


class TransportError(Exception):
    """No HTTP answer at all (refused, reset, timed out, TLS); the client turns it into ToolUnavailable."""


class Transport(Protocol):
    server: str

    def request(self, method: str, path: str, *, query: Query = (), body: Any = None,
                headers: Mapping[str, str] | None = None, timeout_s: float) -> RawResponse: ...

    def close(self) -> None: ...


class ApiClientTransport:
    """Requests through a `kubernetes.client.ApiClient` (auth, TLS, proxies from its Configuration)."""

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client
        # Retries are ours (client.KubeClient): urllib3's default would retry a dead server 3 times
        # more before we even see the error, and without back-off.
        api_client.rest_client.pool_manager.connection_pool_kw["retries"] = False
        self.server = str(api_client.configuration.host)

    def request(self, method: str, path: str, *, query: Query = (), body: Any = None,
                headers: Mapping[str, str] | None = None, timeout_s: float) -> RawResponse:
        hdrs = {"Accept": "application/json", **(headers or {})}
        if body is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        try:  # auth settings run the kubeconfig's token refresh (exec plugins, service-account tokens)
            req = self.api_client.param_serialize(method, path, query_params=list(query), header_params=hdrs,
                                                  body=body, auth_settings=["BearerToken"])
        except ConfigException as e:
            raise ConfigError(f"kubeconfig credentials could not be obtained: {e}") from e
        try:
            resp = self.api_client.call_api(*req, _request_timeout=timeout_s)
            data = resp.read()
        except ApiException as e:  # status 0: the client's own wrapper of an SSL error
            if e.status:
                return RawResponse(int(e.status), (e.body or b"") if isinstance(e.body, bytes)
                                   else str(e.body or "").encode())
            raise TransportError(str(e.reason or e)) from e
        except Exception as e:  # urllib3 HTTPError, OSError: nothing came back
            if _is_transport_error(e):
                raise TransportError(f"{type(e).__name__}: {e}") from e
            raise
        return RawResponse(int(resp.status), data or b"", dict(resp.headers or {}))

    def close(self) -> None:
        self.api_client.close()


def _is_transport_error(e: Exception) -> bool:
    import urllib3.exceptions

    return isinstance(e, (urllib3.exceptions.HTTPError, OSError, TimeoutError))


Handler = Callable[[str, str, Query, Any], RawResponse]


class FunctionTransport:
    """A transport answered by a plain function `(method, path, query, body) -> RawResponse` (tests)."""

    def __init__(self, handler: Handler, server: str = "https://test") -> None:
        self.handler = handler
        self.server = server
        self.calls: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []

    def request(self, method: str, path: str, *, query: Query = (), body: Any = None,
                headers: Mapping[str, str] | None = None, timeout_s: float) -> RawResponse:
        self.calls.append((method, path, tuple(query)))
        return self.handler(method, path, query, body)

    def close(self) -> None:
        pass


__all__ = ["ApiClientTransport", "FunctionTransport", "RawResponse", "Transport", "TransportError"]

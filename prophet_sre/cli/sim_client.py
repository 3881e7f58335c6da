"""A small client for a running simulator's `/sim/v1/` control API, configured from its kubeconfig.

`prophet sim up` writes a kubeconfig with the server URL, the CA of its throwaway serving certificate
and an admin bearer token; the control API accepts exactly that token. So `prophet sim inject` and
`prophet sim status` need nothing but the kubeconfig (`--kubeconfig`, default `~/.kube/prophet-sim.yaml`).
Transport problems become `SimError`s that say whether the simulator is running.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from prophet_sre.errors import ConfigError, SimError

TIMEOUT_S = 10.0
"""Per request; the control API answers from memory, so anything slower means the simulator is stuck."""


@dataclass(frozen=True)
class Endpoint:
    """Where a simulator listens and how to authenticate to it."""

    server: str
    token: str
    ca_pem: str | None = None


def endpoint_from_kubeconfig(path: Path, context: str | None = None) -> Endpoint:
    """Server, bearer token and CA of `context` (default: the current context) in a kubeconfig."""
    try:
        doc = yaml.safe_load(path.expanduser().read_text()) or {}
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {path}: {e.strerror or e} (is `prophet sim up` running? "
                          "it writes this file)") from e
    name = context or doc.get("current-context")
    ctx = next((c.get("context") or {} for c in doc.get("contexts") or [] if c.get("name") == name), None)
    if ctx is None:
        raise ConfigError(f"kubeconfig {path}: no context {name!r}")
    cluster = next((c.get("cluster") or {} for c in doc.get("clusters") or [] if c.get("name") == ctx.get("cluster")),
                   {})
    user = next((u.get("user") or {} for u in doc.get("users") or [] if u.get("name") == ctx.get("user")), {})
    if not cluster.get("server") or not user.get("token"):
        raise ConfigError(f"kubeconfig {path}: context {name!r} needs a server and a bearer token")
    ca = cluster.get("certificate-authority-data")
    return Endpoint(cluster["server"], user["token"], base64.b64decode(ca).decode() if ca else None)


class SimClient:
    """`get`/`post` against `/sim/v1/`; returns (status code, decoded JSON)."""

    def __init__(self, endpoint: Endpoint, transport: httpx.BaseTransport | None = None) -> None:
        verify: ssl.SSLContext | bool = True
        if endpoint.ca_pem:
            verify = ssl.create_default_context(cadata=endpoint.ca_pem)
        self.endpoint = endpoint
        self._http = httpx.Client(base_url=endpoint.server, verify=verify, timeout=TIMEOUT_S, transport=transport,
                                  headers={"Authorization": f"Bearer {endpoint.token}"})

    def request(self, method: str, path: str, *, json: Any = None, content: str | None = None,
                params: dict[str, str] | None = None) -> tuple[int, Any]:
        try:
            resp = self._http.request(method, "/sim/v1" + path, json=json, content=content, params=params)
        except httpx.TransportError as e:
            raise SimError(f"cannot reach the simulator at {self.endpoint.server}: {e} (is `prophet sim up` "
                           "running?)") from e
        try:
            return resp.status_code, resp.json()
        except ValueError as e:
            raise SimError(f"{self.endpoint.server} answered {resp.status_code} without JSON: is it a Prophet "
                           "simulator?") from e

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, **kw)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SimClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Endpoint", "SimClient", "endpoint_from_kubeconfig"]

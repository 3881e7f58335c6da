"""`KubeClient`: Prophet's one access layer to a Kubernetes API server, and `KubeClients` for several.

Reads return plain JSON dicts (parsed with orjson from the raw body), lists are paginated with
`limit`/`continue`, every call has the timeout from `Settings.kube.request_timeout_s`, and every failure
leaves here as a `prophet_sre.errors` class (see `errors.py` for the mapping). Reads that fail for a
temporary reason (5xx, 429, timeout, dropped connection) are retried with exponential back-off a bounded
number of times (`Settings.kube.retries`); writes are never retried here - a write that may have been
applied is the caller's decision (`retry_on_conflict` covers the optimistic-lock case).

Nothing in here is a tool: the tools (`summary.py`, `listing.py`, ...) build on these calls.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import orjson

from prophet_sre.config import KubeSettings
from prophet_sre.errors import ConfigError, Conflict, Forbidden, NotFound, ToolError, ToolUnavailable
from prophet_sre.tools.kube import errors as kerr
from prophet_sre.tools.kube import kinds, objects
from prophet_sre.tools.kube.transport import ApiClientTransport, Query, RawResponse, Transport, TransportError

KindLike = str | kinds.ResourceKind
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


@dataclass
class Page:
    """One list response: its items, the token for the next page, and the server's remaining count."""

    items: list[dict[str, Any]]
    continue_token: str
    remaining: int | None
    resource_version: str


class KubeClient:
    """One cluster (one kubeconfig context, or in-cluster config)."""

    def __init__(self, transport: Transport, *, settings: KubeSettings | None = None, cluster: str = "",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.transport = transport
        self.settings = settings or KubeSettings()
        self.cluster = cluster
        """Name used in `ResourceRef.cluster` (the context name when several clusters are in play)."""
        self._sleep = sleep
        self._discovery = kinds.Discovery(self._discovery_fetch, concurrency=self.settings.concurrency)
        self._date_lock = threading.Lock()
        self.server_date: datetime | None = None
        """The `Date` header of the latest answer: the server's clock, for ages and time windows."""

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_kubeconfig(cls, path: Path | str | None = None, context: str | None = None, *,
                        settings: KubeSettings | None = None, cluster: str | None = None) -> KubeClient:
        """A client for one context of a kubeconfig (None: `$KUBECONFIG` or `~/.kube/config`)."""
        from kubernetes import config as kconfig
        from kubernetes.config.config_exception import ConfigException

        try:
            api = kconfig.new_client_from_config(config_file=str(Path(path).expanduser()) if path else None,
                                                 context=context)
        except (ConfigException, OSError, TypeError, ValueError) as e:
            raise ConfigError(f"cannot load kubeconfig {path or '(default)'}"
                              + (f" context {context}" if context else "") + f": {e}") from e
        return cls(ApiClientTransport(api), settings=settings, cluster=cluster if cluster is not None else "")

    @classmethod
    def in_cluster(cls, *, settings: KubeSettings | None = None, cluster: str = "") -> KubeClient:
        """A client from the pod's service account (token, CA and API address the kubelet mounted)."""
        from kubernetes import client as kclient
        from kubernetes import config as kconfig
        from kubernetes.config.config_exception import ConfigException

        cfg = kclient.Configuration()
        try:
            kconfig.load_incluster_config(client_configuration=cfg)
        except ConfigException as e:
            raise ConfigError(f"not running in a cluster: {e}") from e
        return cls(ApiClientTransport(kclient.ApiClient(cfg)), settings=settings, cluster=cluster)

    @classmethod
    def from_settings(cls, settings: KubeSettings, context: str | None = None) -> KubeClient:
        """Kubeconfig from settings (or the default one), else in-cluster config; `context` overrides."""
        ctx = context or settings.context
        try:
            return cls.from_kubeconfig(settings.kubeconfig, ctx, settings=settings, cluster=context or "")
        except ConfigError:
            if settings.kubeconfig is not None or ctx:
                raise
            return cls.in_cluster(settings=settings)

    def close(self) -> None:
        self.transport.close()

    # -- raw requests ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, op: kerr.Op, query: Query = (), body: Any = None,
                headers: Mapping[str, str] | None = None, timeout_s: float | None = None) -> RawResponse:
        """Send one request; a 2xx answer or a `prophet_sre.errors` exception. Reads retry temporaries."""
        attempts = 1 + (self.settings.retries if method in ("GET", "HEAD") else 0)
        delay = self.settings.backoff_s
        timeout = timeout_s or self.settings.request_timeout_s
        for attempt in range(attempts):
            try:
                resp = self.transport.request(method, path, query=query, body=body, headers=headers,
                                              timeout_s=timeout)
            except TransportError as e:
                err: ToolError = kerr.from_transport(op, e, self.transport.server)
                err.__cause__ = e
            else:
                self._note_date(resp.headers)
                if 200 <= resp.status < 300:
                    return resp
                err = kerr.from_status(op, resp.status, resp.body, _retry_after(resp.headers))
                if not isinstance(err, ToolUnavailable):
                    raise err
            if attempt + 1 < attempts:
                hint = err.retry_after_s if isinstance(err, ToolUnavailable) and err.retry_after_s else 0.0
                self._sleep(min(max(delay, hint), self.settings.backoff_max_s))
                delay *= 2
        suffix = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
        raise ToolUnavailable(f"{err}{suffix}", retry_after_s=self.settings.backoff_max_s) from err.__cause__

    def get_json(self, path: str, *, op: kerr.Op, query: Query = (),
                 headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        body = self.request("GET", path, op=op, query=query, headers=headers).body
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise ToolUnavailable(f"API server sent a body that is not JSON for {op.describe()}") from e
        if not isinstance(doc, dict):
            raise ToolUnavailable(f"API server sent a non-object JSON body for {op.describe()}")
        return doc

    def _note_date(self, headers: Mapping[str, str]) -> None:
        raw = headers.get("Date") or headers.get("date")
        if not raw:
            return
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return
        with self._date_lock:
            self.server_date = when

    # -- kinds ----------------------------------------------------------------------------------------
    def _discovery_fetch(self, path: str) -> dict[str, Any]:
        return self.get_json(path, op=kerr.Op("get", "discovery", name=path))

    def resolve(self, kind: KindLike) -> kinds.ResourceKind:
        """The served kind for any kubectl spelling (discovery; the well-known table if that is refused).

        An unreachable server is not "refused": its ToolUnavailable propagates, so a dead cluster fails
        once, after one round of retries, rather than once for discovery and again for the request.
        """
        if isinstance(kind, kinds.ResourceKind):
            return kind
        try:
            found = self._discovery.lookup(kind)
        except (Forbidden, NotFound):  # discovery refused: the well-known kinds still resolve
            found = kinds.builtin(kind)
            if found is None:
                raise
        if found is None:
            raise NotFound(f'the server doesn\'t have a resource type "{kind}"')
        return found

    def kind_for_owner(self, api_version: str, kind: str) -> kinds.ResourceKind | None:
        """The kind an ownerReference points at (well-known first, then discovery)."""
        found = kinds.by_kind(api_version, kind)
        if found is not None:
            return found
        try:
            return self._discovery.by_kind(api_version, kind)
        except ToolError:
            return None

    # -- reads ----------------------------------------------------------------------------------------
    def get(self, kind: KindLike, name: str, namespace: str | None = None, *,
            metadata_only: bool = False) -> dict[str, Any]:
        """One object. `metadata_only` asks for a PartialObjectMetadata (an existence check on a Secret
        then never transfers its data); servers that cannot answer that send the full object."""
        rk = self.resolve(kind)
        ns = namespace if rk.namespaced else None
        op = kerr.Op("get", rk.resource, rk.group, ns or "", name)
        return self.get_json(rk.path(ns, name), op=op, headers={"Accept": METADATA_ONLY} if metadata_only else None)

    def pages(self, kind: KindLike, namespace: str | None = None, *, label_selector: str = "",
              field_selector: str = "", page_size: int | None = None) -> Iterator[Page]:
        """List page by page (`limit`/`continue`). An expired continue token (410) raises Conflict:
        pages already handed out cannot be taken back, so restarting is the consumer's call (`list` does)."""
        rk = self.resolve(kind)
        ns = namespace if rk.namespaced else None
        op = kerr.Op("list", rk.resource, rk.group, ns or "")
        base: list[tuple[str, str]] = [("limit", str(page_size or self.settings.page_size))]
        if label_selector:
            base.append(("labelSelector", label_selector))
        if field_selector:
            base.append(("fieldSelector", field_selector))
        token = ""
        while True:
            doc = self.get_json(rk.path(ns), op=op, query=base + ([("continue", token)] if token else []))
            meta = doc.get("metadata") or {}
            items = doc.get("items") or []
            remaining = meta.get("remainingItemCount")
            token = str(meta.get("continue") or "")
            yield Page([i for i in items if isinstance(i, dict)], token,
                       remaining if isinstance(remaining, int) else None, str(meta.get("resourceVersion") or ""))
            if not token:
                return

    def list(self, kind: KindLike, namespace: str | None = None, *, label_selector: str = "",
             field_selector: str = "") -> builtins.list[dict[str, Any]]:
        """Every object of `kind` (all namespaces when `namespace` is None), fetched page by page; a list
        whose continue token expires half-way (the server compacted its history) is restarted once."""
        for attempt in range(2):
            out: builtins.list[dict[str, Any]] = []
            try:
                for page in self.pages(kind, namespace, label_selector=label_selector,
                                       field_selector=field_selector):
                    out.extend(page.items)
                return out
            except Conflict:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def cluster_now(self) -> datetime:
        """The cluster's "now": what ages and time windows are measured against.

        Normally the server's `Date` header. When the node heartbeats the cluster itself writes disagree
        with it by more than five minutes (clock skew, or a simulated cluster whose clock runs at another
        speed) the newest heartbeat wins: timestamps in objects are written by that clock.
        """
        wall = datetime.now(UTC)
        beats: list[datetime] = []
        try:
            page = next(self.pages("nodes", page_size=20), None)
        except ToolError:
            page = None
        for node in page.items if page else []:
            for c in objects.conditions(node):
                t = objects.parse_time(c.get("lastHeartbeatTime"))
                if t is not None:
                    beats.append(t)
        date = self.server_date or wall
        newest = max(beats) if beats else None
        if newest is not None and abs((date - newest).total_seconds()) > 300:
            return newest
        return date

    def log(self, namespace: str, pod: str, *, container: str | None = None, tail: int | None = None,
            previous: bool = False, since_s: int | None = None, limit_bytes: int | None = None) -> str:
        """A container's log text (`pods/log`)."""
        query: list[tuple[str, str]] = []
        if container:
            query.append(("container", container))
        if tail is not None:
            query.append(("tailLines", str(tail)))
        if previous:
            query.append(("previous", "true"))
        if since_s is not None:
            query.append(("sinceSeconds", str(since_s)))
        if limit_bytes is not None:
            query.append(("limitBytes", str(limit_bytes)))
        op = kerr.Op("get", "pods/log", "", namespace, pod)
        resp = self.request("GET", kinds.BUILTIN["pods"].path(namespace, pod, "log"), op=op, query=query,
                            headers={"Accept": "text/plain, */*"})
        return resp.body.decode("utf-8", errors="replace")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


class KubeClients:
    """Clients for several contexts of one kubeconfig, built on first use and kept (one per context)."""

    def __init__(self, settings: KubeSettings | None = None, *,
                 factory: Callable[[str | None], KubeClient] | None = None) -> None:
        self.settings = settings or KubeSettings()
        self._factory = factory or self._from_kubeconfig
        self._clients: dict[str | None, KubeClient] = {}
        self._lock = threading.Lock()

    def _from_kubeconfig(self, context: str | None) -> KubeClient:
        if context is None:
            return KubeClient.from_settings(self.settings)
        return KubeClient.from_kubeconfig(self.settings.kubeconfig, context, settings=self.settings,
                                          cluster=context)

    def for_context(self, name: str | None = None) -> KubeClient:
        """The client for context `name` (None: the settings' or kubeconfig's current context)."""
        with self._lock:
            if name not in self._clients:
                self._clients[name] = self._factory(name)
            return self._clients[name]

    def for_cluster(self, name: str = "") -> KubeClient:
        """The client for `ResourceRef.cluster == name`: "" is the default context; any other name must be a
        context of the kubeconfig (a fleet's `mgmt`, `aws` ...). Never falls back to another cluster: acting
        on the wrong cluster is worse than not acting."""
        if not name:
            return self.for_context(None)
        default = self.for_context(None)
        if default.cluster == name:
            return default
        try:
            known = self.contexts()
        except ConfigError:
            known = []
        if name not in known:
            raise NotFound(f"no kubeconfig context for cluster {name!r} (contexts: {', '.join(known) or 'none'}); "
                           "add one, or name the object without a cluster prefix")
        return self.for_context(name)

    def contexts(self) -> list[str]:
        """Context names in the kubeconfig (empty when running with in-cluster config only)."""
        from kubernetes import config as kconfig
        from kubernetes.config.config_exception import ConfigException

        path = str(self.settings.kubeconfig.expanduser()) if self.settings.kubeconfig else None
        try:
            found, _ = kconfig.list_kube_config_contexts(config_file=path)
        except (ConfigException, OSError) as e:
            raise ConfigError(f"cannot read kubeconfig {path or '(default)'}: {e}") from e
        return [str(c.get("name")) for c in found or []]

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()


__all__ = ["KubeClient", "KubeClients", "Page"]

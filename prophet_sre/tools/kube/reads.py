"""`KubeReads`: the kube read tools as one object, each call returning a bounded `ToolResult`.

This is the surface the graph, the MCP server and the CLI use. Each method records its parameters,
runs the tool in its own module, turns `prophet_sre.errors` into an error envelope, and finally holds
the text to the per-call token budget (`Settings.tools.token_budget`) - tools fit themselves, the
final `enforce` only guarantees it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prophet_sre.config import ToolSettings
from prophet_sre.domain import ResourceRef
from prophet_sre.errors import ToolError
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.kube import describe as describe_mod
from prophet_sre.tools.kube import events as events_mod
from prophet_sre.tools.kube import listing, rollout, summary, usage
from prophet_sre.tools.kube import logs as logs_mod
from prophet_sre.tools.kube.client import KubeClient

Result = envelope.ToolResult[Any]


def to_ref(ref: ResourceRef | str, namespace: str | None = None, default_kind: str = "") -> ResourceRef:
    """`NS/KIND/NAME`, `CLUSTER:NS/KIND/NAME`, `/node/NAME`, `KIND/NAME` (+ namespace) or `NAME` (+ kind)."""
    if isinstance(ref, ResourceRef):
        return ref
    parts = ref.strip().split("/")
    try:
        if len(parts) == 3 or ":" in ref:
            return ResourceRef.parse(ref)
        if len(parts) == 2 and default_kind:
            return ResourceRef(kind=default_kind, namespace=parts[0], name=parts[1])
        if len(parts) == 2:
            return ResourceRef(kind=parts[0], namespace=namespace or "", name=parts[1])
        if len(parts) == 1 and default_kind and parts[0]:
            return ResourceRef(kind=default_kind, namespace=namespace or "", name=parts[0])
    except ValueError:
        pass
    raise ToolError(f"not a resource reference: {ref!r} (use NS/KIND/NAME, KIND/NAME with namespace=, "
                    "or /node/NAME)")


class KubeReads:
    """Read tools over one `KubeClient`, bounded by one budget."""

    def __init__(self, client: KubeClient, *, settings: ToolSettings | None = None,
                 usage_source: usage.UsageSource | None = None) -> None:
        self.client = client
        self.settings = settings or ToolSettings()
        self.budget = bud.Budget(self.settings.token_budget)
        self.usage_source = usage_source
        """Live usage for `resource_usage` (a Prometheus client); None until one is configured."""

    def _run(self, name: str, params: dict[str, Any], fn: Callable[[], Result], narrow: str) -> Result:
        result = envelope.run_tool(name, params, fn)
        return bud.enforce(result, self.budget, narrow=narrow)

    def cluster_summary(self, namespace: str | None = None) -> Result:
        """Nodes, pods by phase, unhealthy namespaces and workloads, recent warning reasons."""
        params = {"namespace": namespace}
        return self._run("cluster_summary", params, lambda: summary.summary_tool(
            self.client, self.budget, namespace=namespace, window_s=self.settings.events_since_s, params=params),
            "call cluster_summary(namespace=NS) for one namespace")

    def list(self, kind: str, namespace: str | None = None, selector: str = "", field_selector: str = "",
             columns: Sequence[str] | None = None, offset: int = 0, limit: int = 50) -> Result:
        """A compact table of `kind`; the footer says how to get the next page."""
        params = {"kind": kind, "namespace": namespace, "selector": selector, "field_selector": field_selector,
                  "columns": list(columns) if columns else None, "offset": offset, "limit": limit}
        return self._run("list", params, lambda: listing.list_tool(
            self.client, self.budget, kind=kind, namespace=namespace, selector=selector,
            field_selector=field_selector, columns=list(columns) if columns else None, offset=offset, limit=limit,
            params=params), "use a smaller limit or fewer columns")

    def describe(self, ref: ResourceRef | str, namespace: str | None = None) -> Result:
        """Status, conditions, container states, recent events and owner chain of one object."""
        params = {"ref": str(ref), "namespace": namespace}

        def run() -> Result:
            return describe_mod.describe_tool(self.client, self.budget, ref=to_ref(ref, namespace), params=params)
        return self._run("describe", params, run, "call events(ref=...) or logs(...) for the details")

    def events(self, ref: ResourceRef | str | None = None, namespace: str | None = None,
               types: Sequence[str] = (), reasons: Sequence[str] = (), since: float | str | None = None,
               offset: int = 0) -> Result:
        """Events of an object or namespace, de-duplicated by reason+message, newest first."""
        params = {"ref": str(ref) if ref else None, "namespace": namespace, "types": list(types),
                  "reasons": list(reasons), "since": since, "offset": offset}

        def run() -> Result:
            r = to_ref(ref, namespace) if ref is not None else None
            return events_mod.events_tool(self.client, self.budget, ref=r, namespace=namespace, types=types,
                                          reasons=reasons, since=since, offset=offset, params=params)
        return self._run("events", params, run, "filter by types, reasons or since")

    def logs(self, pod: ResourceRef | str, container: str | None = None, tail: int | None = None,
             grep: str | None = None, previous: bool = False, namespace: str | None = None, skip: int = 0) -> Result:
        """The newest `tail` lines of a container (`previous` for the last crashed one), optionally grepped."""
        params = {"pod": str(pod), "container": container, "tail": tail or self.settings.log_tail, "grep": grep,
                  "previous": previous, "namespace": namespace, "skip": skip}

        def run() -> Result:
            ref = to_ref(pod, namespace, default_kind="Pod")
            return logs_mod.logs_tool(self.client, self.budget, namespace=ref.namespace, pod=ref.name,
                                      container=container, tail=tail or self.settings.log_tail, grep=grep,
                                      previous=previous, skip=skip, params=params)
        return self._run("logs", params, run, "use grep or a smaller tail")

    def rollout_history(self, deployment: ResourceRef | str, namespace: str | None = None) -> Result:
        """Revisions of a Deployment with their images; marks the current one."""
        params = {"deployment": str(deployment), "namespace": namespace}

        def run() -> Result:
            ref = to_ref(deployment, namespace, default_kind="Deployment")
            return rollout.rollout_tool(self.client, self.budget, namespace=ref.namespace, name=ref.name,
                                        params=params)
        return self._run("rollout_history", params, run, "call describe(...) on one ReplicaSet")

    def resource_usage(self, namespace: str) -> Result:
        """Requests/limits per workload in a namespace, plus live usage when a metrics source is set."""
        params = {"namespace": namespace}
        return self._run("resource_usage", params, lambda: usage.usage_tool(
            self.client, self.budget, namespace=namespace, source=self.usage_source, params=params),
            "call list(kind='pods', namespace=NS)")


__all__ = ["KubeReads", "to_ref"]

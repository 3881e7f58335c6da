"""The read tools a language model may call while diagnosing, and nothing else.

Why a separate, small surface: a model is never trusted, so what it can reach is decided here, in code.
Every tool is read-only (`KubeReads` underneath), returns the bounded `ToolResult.text` (the per-call
token budget of `Settings.tools.token_budget` holds), and never raises: bad arguments, unknown tools,
missing objects, unreachable clusters and bugs all come back as one line of error text the model can
read and correct. Object names follow `ResourceRef` (`NS/KIND/NAME`, `CLUSTER:NS/KIND/NAME`), so a
model working on a fleet reaches the right cluster through `KubeClients.for_cluster`, never another one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prophet_sre.config import Settings
from prophet_sre.domain import ResourceRef
from prophet_sre.errors import ProphetError
from prophet_sre.tools.kube.client import KubeClients
from prophet_sre.tools.kube.reads import KubeReads, to_ref

log = logging.getLogger(__name__)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClusterSummaryArgs(_Args):
    namespace: str | None = Field(default=None, description="Limit to one namespace; omit for all.")
    cluster: str = Field(default="", description="Cluster (kubeconfig context) name; omit for the default.")


class ListObjectsArgs(_Args):
    kind: str = Field(description="Kind or resource, e.g. pods, deployments, events, nodes, pvc.")
    namespace: str | None = Field(default=None, description="Namespace; omit for all namespaces.")
    selector: str = Field(default="", description="Label selector, e.g. app=web.")
    offset: int = Field(default=0, ge=0, description="Rows to skip (paging).")
    limit: int = Field(default=30, ge=1, le=200, description="Rows to show.")
    cluster: str = Field(default="", description="Cluster (kubeconfig context) name; omit for the default.")


class DescribeArgs(_Args):
    ref: str = Field(description="Object as NS/KIND/NAME (e.g. shop/deployment/backend), or /node/NAME.")


class EventsArgs(_Args):
    ref: str | None = Field(default=None, description="Object as NS/KIND/NAME; omit for a whole namespace.")
    namespace: str | None = Field(default=None, description="Namespace, when no ref is given.")
    reasons: list[str] = Field(default_factory=list, description="Only these reasons, e.g. [\"BackOff\"].")
    cluster: str = Field(default="", description="Cluster name, when no ref is given.")


class LogsArgs(_Args):
    pod: str = Field(description="Pod as NS/pod/NAME or NS/NAME.")
    container: str | None = Field(default=None, description="Container; omit for the only or first one.")
    tail: int | None = Field(default=None, ge=1, le=1000, description="Newest lines to show.")
    grep: str | None = Field(default=None, description="Only lines containing this text.")
    previous: bool = Field(default=False, description="Logs of the previous (crashed) container.")


class RolloutHistoryArgs(_Args):
    deployment: str = Field(description="Deployment as NS/deployment/NAME or NS/NAME.")


_DESCRIPTIONS = {
    "cluster_summary": "Nodes, pods by phase, unhealthy workloads and recent warning reasons.",
    "list_objects": "A compact table of objects of one kind (paged; the footer says how to get more).",
    "describe": "Status, conditions, container states, recent events and owners of one object.",
    "events": "Events of one object or namespace, de-duplicated, newest first.",
    "logs": "The newest lines of a pod's container (previous=true for the last crashed one).",
    "rollout_history": "Revisions of a Deployment with their images; marks the current one.",
}


def _split_cluster(text: str) -> tuple[str, str]:
    """`CLUSTER:rest` -> (CLUSTER, rest); plain refs -> ("", text)."""
    head, sep, rest = text.partition(":")
    if sep and "/" not in head:
        return head, rest
    return "", text


class ReadTools:
    """The model-callable read tools over a set of clusters, each call bounded and exception-free."""

    ARGS: dict[str, type[_Args]] = {
        "cluster_summary": ClusterSummaryArgs, "list_objects": ListObjectsArgs, "describe": DescribeArgs,
        "events": EventsArgs, "logs": LogsArgs, "rollout_history": RolloutHistoryArgs,
    }

    def __init__(self, clients: KubeClients, settings: Settings) -> None:
        self.clients = clients
        self.settings = settings
        self._reads: dict[str, KubeReads] = {}
        self._handlers: dict[str, Callable[[Any], str]] = {
            "cluster_summary": self._cluster_summary, "list_objects": self._list_objects,
            "describe": self._describe, "events": self._events, "logs": self._logs,
            "rollout_history": self._rollout_history,
        }

    @property
    def names(self) -> list[str]:
        return list(self.ARGS)

    def reads(self, cluster: str = "") -> KubeReads:
        if cluster not in self._reads:
            self._reads[cluster] = KubeReads(self.clients.for_cluster(cluster), settings=self.settings.tools)
        return self._reads[cluster]

    def langchain_tools(self) -> list[BaseTool]:
        """The tools as LangChain `StructuredTool`s (for `bind_tools`; invoking one goes through `call`)."""
        tools: list[BaseTool] = []
        for name, schema in self.ARGS.items():
            def run(_name: str = name, **kwargs: Any) -> str:
                return self.call(_name, kwargs)
            tools.append(StructuredTool.from_function(func=run, name=name, description=_DESCRIPTIONS[name],
                                                      args_schema=schema, infer_schema=False))
        return tools

    def call(self, name: str, args: dict[str, Any] | None) -> str:
        """Run tool `name` with `args`; the bounded text, or one line of error text. Never raises."""
        schema = self.ARGS.get(name)
        if schema is None:
            return f"error: unknown tool {name!r}; available tools: {', '.join(self.ARGS)}"
        try:
            parsed = schema.model_validate(args or {})
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(args)'}: {err['msg']}"
                                 for err in e.errors()[:5])
            return f"error: invalid arguments for {name}: {problems}"
        try:
            return self._handlers[name](parsed)
        except ProphetError as e:
            return f"error ({type(e).__name__}): {e}"
        except Exception as e:  # a bug or an unexpected client failure must not end the diagnosis
            log.warning("read tool %s failed: %s: %s", name, type(e).__name__, e)
            return f"error: {name} failed ({type(e).__name__}: {str(e)[:200]})"

    # -- handlers --------------------------------------------------------------------------------------
    def _ref(self, text: str, default_kind: str = "") -> tuple[KubeReads, ResourceRef]:
        cluster, rest = _split_cluster(text)
        ref = to_ref(rest, None, default_kind=default_kind)
        return self.reads(cluster), ref

    def _cluster_summary(self, a: ClusterSummaryArgs) -> str:
        return self.reads(a.cluster).cluster_summary(a.namespace).text

    def _list_objects(self, a: ListObjectsArgs) -> str:
        return self.reads(a.cluster).list(a.kind, a.namespace, selector=a.selector, offset=a.offset,
                                          limit=a.limit).text

    def _describe(self, a: DescribeArgs) -> str:
        reads, ref = self._ref(a.ref)
        return reads.describe(ref).text

    def _events(self, a: EventsArgs) -> str:
        if a.ref:
            reads, ref = self._ref(a.ref)
            return reads.events(ref, reasons=a.reasons).text
        return self.reads(a.cluster).events(None, namespace=a.namespace, reasons=a.reasons).text

    def _logs(self, a: LogsArgs) -> str:
        reads, ref = self._ref(a.pod, default_kind="Pod")
        return reads.logs(ref, container=a.container, tail=a.tail, grep=a.grep, previous=a.previous).text

    def _rollout_history(self, a: RolloutHistoryArgs) -> str:
        reads, ref = self._ref(a.deployment, default_kind="Deployment")
        return reads.rollout_history(ref).text


__all__ = ["ReadTools"]

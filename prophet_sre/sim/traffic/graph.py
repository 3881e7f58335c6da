"""The service graph: who calls whom, how often, parsed from a scenario's `traffic:` section.

An edge `{from: shop/frontend, to: shop/backend, rps: 50}` names its ends as `NS/NAME` (a Service or a
workload of that name) or `NS/KIND/NAME`. Parsing is strict - unknown fields, bad names and negative
rates are errors that name the edge - because the section is a public contract and a typo that
silently produces no traffic would make a scenario pass or fail for the wrong reason.

The graph only knows names; which pods stand behind a name is decided on every tick (`view.py`), so
scaling, deleting and re-creating objects is picked up without reloading the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

EDGE_FIELDS = ("from", "to", "rps", "method", "path", "port")
KIND_ALIASES = {
    "service": "service", "services": "service", "svc": "service",
    "deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
    "statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
    "daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
    "pod": "pod", "pods": "pod", "po": "pod",
}
WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset")


class TrafficError(ValueError):
    """A traffic edge that cannot be used; the message names the edge."""


@dataclass(frozen=True, slots=True)
class NodeRef:
    """One end of an edge: `namespace/name`, optionally restricted to one kind (`service`, `deployment`...)."""

    namespace: str
    name: str
    kind: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}" if self.kind else self.key

    @classmethod
    def parse(cls, text: str) -> NodeRef:
        parts = [p.strip() for p in str(text).split("/")]
        if len(parts) == 2 and all(parts):
            return cls(parts[0], parts[1])
        if len(parts) == 3 and all(parts):
            kind = KIND_ALIASES.get(parts[1].lower())
            if kind is None:
                raise ValueError(f"unknown kind {parts[1]!r} (known: service, deployment, statefulset, "
                                 "daemonset, pod)")
            return cls(parts[0], parts[2], kind)
        raise ValueError(f"{text!r} is not NS/NAME or NS/KIND/NAME")


@dataclass(frozen=True, slots=True)
class TrafficEdge:
    """`source` calls `target` `rps` times per sim second with `method path` (HTTP)."""

    source: NodeRef
    target: NodeRef
    rps: float
    method: str = "GET"
    path: str = "/"
    port: int | None = None

    @property
    def label(self) -> str:
        return f"{self.source} -> {self.target}"


def parse_edge(raw: Mapping[str, Any] | TrafficEdge, index: int = 0) -> TrafficEdge:
    """One edge from its scenario mapping; `TrafficError` names the edge and what is wrong with it."""
    if isinstance(raw, TrafficEdge):
        return raw
    if not isinstance(raw, Mapping):
        raise TrafficError(f"traffic[{index}]: expected a mapping like {{from: NS/NAME, to: NS/NAME, rps: N}}, "
                           f"got {type(raw).__name__}")
    where = f"traffic[{index}] ({raw.get('from', '?')} -> {raw.get('to', '?')})"
    unknown = sorted(set(raw) - set(EDGE_FIELDS))
    if unknown:
        raise TrafficError(f"{where}: unknown field(s) {', '.join(unknown)}; known fields: {', '.join(EDGE_FIELDS)}")
    for required in ("from", "to", "rps"):
        if required not in raw:
            raise TrafficError(f"{where}: missing field {required!r}")
    try:
        source, target = NodeRef.parse(raw["from"]), NodeRef.parse(raw["to"])
    except ValueError as e:
        raise TrafficError(f"{where}: {e}") from e
    rps = raw["rps"]
    if isinstance(rps, bool) or not isinstance(rps, int | float) or rps < 0:
        raise TrafficError(f"{where}: rps must be a number >= 0, got {rps!r}")
    port = raw.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise TrafficError(f"{where}: port must be an integer 1-65535, got {port!r}")
    path = str(raw.get("path", "/"))
    if not path.startswith("/"):
        raise TrafficError(f"{where}: path must start with '/', got {path!r}")
    return TrafficEdge(source, target, float(rps), str(raw.get("method", "GET")).upper(), path, port)


def parse_edges(raw: Iterable[Mapping[str, Any] | TrafficEdge]) -> list[TrafficEdge]:
    return [parse_edge(e, i) for i, e in enumerate(raw)]


@dataclass
class ServiceGraph:
    """Edges plus the orders the model walks them in: callers before callees (`top_down`) to spread
    request rates, callees before callers (`bottom_up`) to propagate errors and latency upwards."""

    edges: list[TrafficEdge] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nodes: dict[str, NodeRef] = {}
        self.out_edges: dict[str, list[int]] = {}
        self.in_edges: dict[str, list[int]] = {}
        for i, e in enumerate(self.edges):
            for ref in (e.source, e.target):
                self.nodes.setdefault(ref.key, ref)
                self.out_edges.setdefault(ref.key, [])
                self.in_edges.setdefault(ref.key, [])
            self.out_edges[e.source.key].append(i)
            self.in_edges[e.target.key].append(i)
        self.top_down = self._order()
        self.bottom_up = list(reversed(self.top_down))
        self.roots = [k for k in self.top_down if not self.in_edges[k] and self.out_edges[k]]

    def _order(self) -> list[str]:
        """Kahn's order; nodes on a cycle follow in name order (they then see the previous tick's values)."""
        indeg = {k: len(v) for k, v in self.in_edges.items()}
        ready = sorted(k for k, d in indeg.items() if d == 0)
        out: list[str] = []
        seen: set[str] = set()
        while ready:
            k = ready.pop(0)
            out.append(k)
            seen.add(k)
            for i in self.out_edges[k]:
                t = self.edges[i].target.key
                indeg[t] -= 1
                if indeg[t] == 0:
                    ready.append(t)
        out += sorted(k for k in self.nodes if k not in seen)
        return out

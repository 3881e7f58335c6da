"""The request model of the simulated cluster: service graph, pod health -> requests, errors, latency, flows.

`TrafficModel(ctx)` registers itself as `ctx.extras["traffic"]`; `load()` takes a scenario's `traffic:`
edges; its controller ticks it every sim second. It reads pods, Endpoints and fault knobs, and the
optional behaviour (`extras["serving"]`) and policy (`extras["policy"]`) models; it writes only
`FlowRecord`s to the cluster's `FlowLog` and its own counters (`TrafficCounters`, read by
`prophet_sre.sim.metrics`). It never writes Kubernetes objects.
"""

from prophet_sre.sim.traffic.counters import TrafficCounters
from prophet_sre.sim.traffic.graph import NodeRef, ServiceGraph, TrafficEdge, TrafficError, parse_edges
from prophet_sre.sim.traffic.model import NodeStats, TickReport, TrafficController, TrafficModel, counters_of

__all__ = [
    "NodeRef", "NodeStats", "ServiceGraph", "TickReport", "TrafficController", "TrafficCounters", "TrafficEdge",
    "TrafficError", "TrafficModel", "counters_of", "parse_edges",
]

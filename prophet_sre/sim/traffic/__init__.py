"""The request model of the simulated cluster: service graph, pod health -> requests, errors, latency, flows.

`TrafficModel(ctx)` registers itself as `ctx.extras["traffic"]`; `load()` takes a scenario's `traffic:`
edges; its controller ticks it every sim second. It reads pods, Endpoints and fault knobs, and the
optional behaviour (`extras["serving"]`, `extras["behaviour"]`: image pools, `set_load`, `log_request`)
and policy (`extras["policy"]`) models; it writes only `FlowRecord`s to the cluster's `FlowLog`, its own
counters (`TrafficCounters`, read by `prophet_sre.sim.metrics`) and the behaviour model's load and
access logs. It never writes Kubernetes objects.
"""

from prophet_sre.sim.traffic.counters import TrafficCounters
from prophet_sre.sim.traffic.graph import NodeRef, ServiceGraph, TrafficEdge, TrafficError, parse_edges
from prophet_sre.sim.traffic.model import TrafficController, TrafficModel, counters_of
from prophet_sre.sim.traffic.routes import NodeStats, TickReport

__all__ = [
    "NodeRef", "NodeStats", "ServiceGraph", "TickReport", "TrafficController", "TrafficCounters", "TrafficEdge",
    "TrafficError", "TrafficModel", "counters_of", "parse_edges",
]

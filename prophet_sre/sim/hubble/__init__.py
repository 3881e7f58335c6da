"""The simulated cluster's Hubble Relay: a gRPC `observer.Observer` over the cluster's `FlowLog`.

Modules: `convert` (FlowRecord <-> flow.Flow), `filters` (FlowFilter -> predicates), `observer` (the
RPC semantics), `server` (the grpc.aio server on its own thread), `jsonpb` (the `hubble observe -o
jsonpb` line format). This package serves flows; it never creates them - the traffic model does.
"""

from prophet_sre.sim.hubble.convert import HUBBLE_VERSION, FlowConverter, record_from_flow
from prophet_sre.sim.hubble.server import HubbleServer

__all__ = ["HUBBLE_VERSION", "FlowConverter", "HubbleServer", "record_from_flow"]

"""The simulated cluster's Hubble Relay: a gRPC `observer.Observer` over the cluster's `FlowLog`.

Modules: `convert` (FlowRecord <-> flow.Flow), `filters` (FlowFilter -> predicates), `observer` (the
RPC semantics), `server` (the grpc.aio server on its own thread), `jsonpb` (the `hubble observe -o
jsonpb` line format; it needs only the generated stubs, so the names below load lazily and importing
`jsonpb` does not pull in grpc or the simulator). This package serves flows; it never creates them -
the traffic model does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prophet_sre.sim.hubble.convert import HUBBLE_VERSION, FlowConverter, record_from_flow
    from prophet_sre.sim.hubble.server import HubbleServer

__all__ = ["HUBBLE_VERSION", "FlowConverter", "HubbleServer", "record_from_flow"]
_HOMES = {"HUBBLE_VERSION": "convert", "FlowConverter": "convert", "record_from_flow": "convert",
          "HubbleServer": "server"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The `hubble observe -o jsonpb` line format, re-exported from `prophet_sre.tools.hubble_jsonpb`.

The reader/writer moved to the tool layer so the Hubble tool (reading a real cluster's output) and the
simulator (serving and writing it) share one implementation; this module keeps the simulator's name.
"""

from __future__ import annotations

from prophet_sre.tools.hubble_jsonpb import (
    dumps_flow,
    dumps_response,
    iter_flows,
    iter_responses,
    loads_response,
    read_flows,
    response_from_dict,
    to_dict,
    write_responses,
)

__all__ = ["dumps_flow", "dumps_response", "iter_flows", "iter_responses", "loads_response", "read_flows",
           "response_from_dict", "to_dict", "write_responses"]

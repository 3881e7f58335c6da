"""Reader and writer of the `hubble observe -o jsonpb` line format (also Hubble's export files).

One JSON object per line and per GetFlowsResponse: `{"flow":{...},"node_name":"...","time":"..."}`,
protojson with proto field names (`IP`, `Type`, `drop_reason_desc`, `l4.TCP.flags.SYN`), enums as
names, uint64 as strings, RFC 3339 timestamps with nanoseconds, zero fields omitted. The legacy
`-o json` format is the bare Flow object without the wrapper; `iter_responses` accepts both.

Why it lives in `tools/`: the Hubble tool reads a real cluster's saved output with it and the
simulator writes and serves the same format, so there is exactly one implementation (the simulator
re-exports it from `prophet_sre.sim.hubble.jsonpb`). It depends only on the generated stubs. Unknown
fields (a newer Cilium) are ignored on read; enum values newer than our .proto arrive as numbers and
are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from google.protobuf import json_format

from prophet_sre.protos.flow import flow_pb2
from prophet_sre.protos.observer import observer_pb2

_EVENT_KEYS = frozenset(("flow", "node_status", "lost_events"))
_OTHER_EVENTS = frozenset(("agent_event", "debug_event"))


def to_dict(msg: Any) -> dict[str, Any]:
    """protojson of any message as a dict, with Hubble's options (proto names, zero values omitted)."""
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def dumps_response(resp: observer_pb2.GetFlowsResponse) -> str:
    """One `-o jsonpb` line (without the newline)."""
    return orjson.dumps(to_dict(resp)).decode()


def dumps_flow(flow: flow_pb2.Flow) -> str:
    """One legacy `-o json` line: the flow alone."""
    return orjson.dumps(to_dict(flow)).decode()


def write_responses(responses: Iterable[observer_pb2.GetFlowsResponse], fp: IO[str]) -> int:
    """Write responses as jsonpb lines; returns how many were written."""
    n = 0
    for resp in responses:
        fp.write(dumps_response(resp))
        fp.write("\n")
        n += 1
    return n


def loads_response(line: str | bytes) -> observer_pb2.GetFlowsResponse:
    """Parse one jsonpb line (or one legacy bare-flow line) into a GetFlowsResponse."""
    data = orjson.loads(line)
    if not isinstance(data, dict):
        raise ValueError("a jsonpb line must be a JSON object")
    return response_from_dict(data)


def response_from_dict(data: dict[str, Any]) -> observer_pb2.GetFlowsResponse:
    """A GetFlowsResponse from one decoded line; a bare flow (legacy `-o json`) gets the wrapper."""
    if not (data.keys() & _EVENT_KEYS) and not (data.keys() & _OTHER_EVENTS):
        data = {"flow": data, "node_name": data.get("node_name", ""), "time": data.get("time")}
        if data["time"] is None:
            del data["time"]
    resp = observer_pb2.GetFlowsResponse()
    json_format.ParseDict(data, resp, ignore_unknown_fields=True)
    return resp


def iter_responses(lines: Iterable[str | bytes]) -> Iterator[observer_pb2.GetFlowsResponse]:
    """GetFlowsResponses from jsonpb lines; blank lines and agent/debug events are skipped."""
    for line in lines:
        if not line.strip():
            continue
        data = orjson.loads(line)
        if isinstance(data, dict) and not (data.keys() & _OTHER_EVENTS):
            yield response_from_dict(data)


def iter_flows(lines: Iterable[str | bytes]) -> Iterator[flow_pb2.Flow]:
    """Only the flows of a jsonpb stream (node status and lost-event lines are skipped)."""
    for resp in iter_responses(lines):
        if resp.HasField("flow"):
            yield resp.flow


def read_flows(path: str | Path) -> Iterator[flow_pb2.Flow]:
    """The flows of a saved `hubble observe -o jsonpb` (or `-o json`, or exporter) file, lazily.

    Raises `ValueError` naming the file and line when a line is not JSON or not a flow response, so a
    caller can say exactly which input is broken instead of silently reading half a file.
    """
    p = Path(path).expanduser()
    with p.open("rb") as fp:
        for lineno, line in enumerate(fp, 1):
            try:
                yield from iter_flows((line,))
            except (orjson.JSONDecodeError, json_format.ParseError, ValueError) as e:
                raise ValueError(f"{p}:{lineno}: not a hubble jsonpb line: {e}") from e


__all__ = ["dumps_flow", "dumps_response", "iter_flows", "iter_responses", "loads_response", "read_flows",
           "response_from_dict", "to_dict", "write_responses"]

"""Shared pieces of the MCP server tests: a served Prophet, the db-pool world, and the read-tool tour.

`served(...)` opens a `ProphetService` over a cluster and serves it over HTTP (streamable HTTP and the
WebSocket adapter at /mcp) on a free loopback port. `tour_read_tools(client)` calls every read tool
through any SDK `Client` and checks each answer, so the same tour runs over stdio, HTTP and WebSocket.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prophet_sre.config import Settings
from prophet_sre.mcp_server import Authenticator, ProphetService, build_server, parse_tokens
from prophet_sre.mcp_server.transports import HttpServer, build_app

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "evals" / "scenarios"
RW_TOKEN = "rw-token-0123456789abcdef"
RO_TOKEN = "ro-token-0123456789abcdef"
TOKENS = f"alice:{RW_TOKEN}:rw,viewer:{RO_TOKEN}:ro"
LATENCY_QUESTION = "Why is latency high on the shop frontend?"
READ_TOOLS = {"cluster_summary", "list_objects", "describe", "events", "logs", "rollout_history", "analyze",
              "service_map", "flows", "promql", "fleet_status", "search_runbooks", "diagnose", "ask",
              "incidents", "audit"}
WRITE_TOOLS = {"propose_plan", "approve_action", "reject_action", "execute"}


@dataclass
class Served:
    service: ProphetService
    http: HttpServer

    @property
    def url(self) -> str:
        return f"{self.http.url}/mcp"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


@contextlib.contextmanager
def served(settings: Settings, *, tokens: str | None = TOKENS, allow_writes: bool = False,
           knowledge: Any = False, policy: Any = None) -> Iterator[Served]:
    service = ProphetService(settings, policy, allow_writes=allow_writes, knowledge=knowledge).open()
    try:
        app = build_app(service, build_server(service), Authenticator(parse_tokens(tokens)))
        http = HttpServer(app).start()
        try:
            yield Served(service, http)
        finally:
            http.stop()
    finally:
        service.close()


def wait_sim(world: Any, seconds: float) -> None:
    """Wait until the world's sim clock passes `seconds` (past the faults, with metrics to show them)."""
    deadline = time.monotonic() + 120
    while world.elapsed() < seconds:
        assert time.monotonic() < deadline, "the simulator's clock does not advance"
        time.sleep(0.1)


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def assert_pool_answer(structured: dict[str, Any]) -> None:
    """The db-pool scenario's answer: the backend's connection pool to the database is exhausted."""
    assert structured["root_cause"] == "shop/deployment/backend", structured
    assert structured["category"] == "resource_exhaustion", structured
    answer = structured["answer"].lower()
    assert "pool" in answer and "backend" in answer, structured["answer"]
    assert structured["evidence"] and structured["incident_id"].startswith("q-"), structured


async def tour_read_tools(client: Any, *, runbooks: bool = False) -> dict[str, Any]:
    """Call every read tool on the db-pool world; returns the structured outputs by tool name."""
    listed = {t.name: t for t in (await client.list_tools()).tools}
    assert READ_TOOLS <= set(listed), sorted(listed)
    assert not (WRITE_TOOLS & set(listed)), "write tools must not exist without --allow-writes"
    for name in READ_TOOLS:
        tool = listed[name]
        assert tool.annotations is not None and tool.annotations.read_only_hint is True, name
        assert tool.annotations.destructive_hint is False, name
        assert tool.output_schema and "properties" in tool.output_schema, name
    calls: dict[str, dict[str, Any]] = {
        "cluster_summary": {},
        "list_objects": {"kind": "pods", "namespace": "shop"},
        "describe": {"ref": "shop/deployment/backend"},
        "events": {"namespace": "shop"},
        "rollout_history": {"deployment": "shop/deployment/backend"},
        "analyze": {"namespace": "shop"},
        "service_map": {"window_s": 60},
        "flows": {"last": 5},
        "promql": {"query": "sum(rate(db_pool_timeouts_total[1m]))"},
        "fleet_status": {},
        "incidents": {},
        "audit": {"last": 5},
        "diagnose": {"namespace": "shop"},
    }
    if runbooks:
        calls["search_runbooks"] = {"text": "connection pool exhausted latency"}
    out: dict[str, Any] = {}
    for name, args in calls.items():
        r = await client.call_tool(name, args)
        assert not r.is_error, (name, text(r))
        assert r.structured_content is not None, name
        out[name] = r.structured_content
    pods = out["list_objects"]["text"]
    assert "backend-" in pods and "frontend-" in pods, pods
    assert "shop/deployment/backend" in out["describe"]["text"] or "backend" in out["describe"]["text"]
    # logs of a real pod, found through the list
    pod = next(line.split()[0] for line in pods.splitlines() if line.startswith("backend-"))
    r = await client.call_tool("logs", {"pod": f"shop/{pod}", "tail": 20})
    assert not r.is_error, text(r)
    out["logs"] = r.structured_content
    r = await client.call_tool("ask", {"question": LATENCY_QUESTION})
    assert not r.is_error, text(r)
    assert_pool_answer(r.structured_content)
    out["ask"] = r.structured_content
    return out

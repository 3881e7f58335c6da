"""The MCP server over WebSocket (our adapter; the SDK 2.x has no WebSocket transport), on the db-pool world.

The real SDK `mcp.Client` runs over `websocket_client` (a `Transport`) to `ws://.../mcp` with a bearer
token: it lists the tools, calls every read tool and asks the latency question (pool-exhaustion answer).
A low-level `ClientSession` with the handshake protocol works over the same socket, and the caller's
identity reaches the server (tools see the token's name).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp import Client, ClientSession
from mcp_support import RW_TOKEN, SCENARIOS, Served, served, text, tour_read_tools, wait_sim

from prophet_sre.evals.world import start_world
from prophet_sre.mcp_server import websocket_client

pytestmark = pytest.mark.timeout(240)
AUTH = {"Authorization": f"Bearer {RW_TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    world = start_world(SCENARIOS / "db-pool-exhaustion.yaml", speed=50.0,
                        workdir=tmp_path_factory.mktemp("dbpool-ws"))
    try:
        wait_sim(world, 300)
        with served(world.settings()) as s:
            yield s
    finally:
        world.stop()


def test_ws_read_tools_and_the_latency_question(server: Served) -> None:
    async def run() -> dict[str, Any]:
        async with Client(websocket_client(server.ws_url, headers=AUTH)) as client:
            assert client.protocol_version
            return await tour_read_tools(client)

    out = anyio.run(run)
    assert out["ask"]["root_cause"] == "shop/deployment/backend"


def test_ws_low_level_session_with_handshake(server: Served) -> None:
    async def run() -> tuple[str, str, int]:
        async with websocket_client(server.ws_url, headers=AUTH) as (read, write), \
                ClientSession(read, write) as session:
            init = await session.initialize()
            r = await session.call_tool("list_objects", {"kind": "deployments", "namespace": "shop"})
            n = server.service.calls.get("list_objects", 0)
            return init.protocol_version, text(r), n

    version, listing, calls = anyio.run(run)
    assert version == "2025-11-25"
    assert "backend" in listing and "frontend" in listing
    assert calls >= 1

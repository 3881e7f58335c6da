"""`prophet mcp` over stdio (what Claude Desktop and Claude Code launch), on the db-pool world.

The real SDK client spawns `python -m prophet_sre mcp` with the world's settings in its environment,
lists the tools, calls every read tool and asks the latency question: the pool-exhaustion answer.
Nothing but MCP may reach stdout, or the session would break - so this also proves logs go to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp_support import SCENARIOS, tour_read_tools, wait_sim

from prophet_sre.config import Settings
from prophet_sre.evals.world import start_world

pytestmark = pytest.mark.timeout(240)


def env_for(s: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHET_")}
    env.update({
        "PROPHET_DATA_DIR": str(s.data_dir), "PROPHET_KUBE__KUBECONFIG": str(s.kube.kubeconfig),
        "PROPHET_LOG_LEVEL": "WARNING", "PROPHET_KNOWLEDGE__INDEX_BUILTIN": "false",
    })
    if s.prometheus.url:
        env["PROPHET_PROMETHEUS__URL"] = s.prometheus.url
        env["PROPHET_PROMETHEUS__TIME_SCALE"] = str(s.prometheus.time_scale)
    if s.hubble.address:
        env["PROPHET_HUBBLE__ADDRESS"] = s.hubble.address
    return env


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    world = start_world(SCENARIOS / "db-pool-exhaustion.yaml", speed=50.0,
                        workdir=tmp_path_factory.mktemp("dbpool-stdio"))
    try:
        wait_sim(world, 300)
        yield world.settings()
    finally:
        world.stop()


def test_stdio_read_tools_and_the_latency_question(settings: Settings) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "prophet_sre", "mcp"], env=env_for(settings))

    async def run() -> dict[str, Any]:
        async with Client(params) as client:
            return await tour_read_tools(client)

    out = anyio.run(run)
    assert out["ask"]["root_cause"] == "shop/deployment/backend"
    assert "Nodes:" in out["cluster_summary"]["text"]

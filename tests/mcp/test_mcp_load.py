"""50 concurrent MCP clients × 20 calls each over streamable HTTP, with bearer tokens: 0 errors.

Each client is a real SDK `mcp.Client` with its own HTTP connection pool; the calls rotate over cheap read
tools on a simulated cluster (summary, lists, describe, events), so the server's threads, the auth
middleware and the kube client's connection reuse are all under concurrent load.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_support import RO_TOKEN, RW_TOKEN, Served, served, text

from prophet_sre.config import Settings
from prophet_sre.sim.cluster import ClusterOptions, SimCluster

pytestmark = pytest.mark.timeout(300)
CLIENTS = 50
CALLS = 20
ROTATION = [("cluster_summary", {}), ("list_objects", {"kind": "pods", "namespace": "kube-system"}),
            ("describe", {"ref": "kube-system/deployment/coredns"}), ("events", {"namespace": "kube-system"}),
            ("list_objects", {"kind": "nodes"})]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp: Path = tmp_path_factory.mktemp("load")
    c = SimCluster(ClusterOptions(speed=50.0))
    c.start()
    try:
        settings = Settings(data_dir=tmp / "data", kube={"kubeconfig": c.write_kubeconfig(tmp / "kubeconfig")})
        with served(settings) as s:
            yield s
    finally:
        c.stop()


def test_fifty_clients_twenty_calls_each_without_errors(server: Served) -> None:
    errors: list[str] = []
    done: list[int] = []

    async def one(i: int) -> None:
        token = RW_TOKEN if i % 2 else RO_TOKEN
        try:
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http, \
                    Client(streamable_http_client(server.url, http_client=http)) as client:
                for j in range(CALLS):
                    name, args = ROTATION[(i + j) % len(ROTATION)]
                    r = await client.call_tool(name, args)
                    if r.is_error or not text(r):
                        errors.append(f"client {i} call {j} {name}: {text(r)[:200]}")
                    else:
                        done.append(1)
        except Exception as e:  # noqa: BLE001 - counted, reported below
            errors.append(f"client {i}: {type(e).__name__}: {e}")

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(CLIENTS):
                tg.start_soon(one, i)

    anyio.run(run)
    assert errors == [], errors[:5]
    assert len(done) == CLIENTS * CALLS
    total = sum(server.service.calls.get(name, 0) for name in {n for n, _ in ROTATION})
    assert total >= CLIENTS * CALLS and not any(server.service.errors.values()), server.service.errors

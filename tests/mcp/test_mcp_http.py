"""The MCP server over streamable HTTP, against the db-pool world (simulator + real Prometheus when installed).

The real SDK client (`mcp.Client` over `streamable_http_client`, with a bearer token) lists the tools,
calls every read tool, and asks the product brief's latency question: the answer names the exhausted
connection pool of shop/deployment/backend. The other endpoints are exercised with plain HTTP:
`POST /mcp/query`, `GET /mcp/stream` (events while a question runs), `/healthz`, `/metrics`; resources
and prompts through the SDK.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_support import (
    LATENCY_QUESTION,
    RW_TOKEN,
    SCENARIOS,
    Served,
    assert_pool_answer,
    served,
    text,
    tour_read_tools,
    wait_sim,
)

from prophet_sre.evals.world import start_world

pytestmark = pytest.mark.timeout(240)
AUTH = {"Authorization": f"Bearer {RW_TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    world = start_world(SCENARIOS / "db-pool-exhaustion.yaml", speed=50.0,
                        workdir=tmp_path_factory.mktemp("dbpool-http"))
    try:
        wait_sim(world, 300)
        with served(world.settings(), knowledge=None) as s:
            yield s
    finally:
        world.stop()


def _client(s: Served, http: httpx2.AsyncClient) -> Client:
    return Client(streamable_http_client(s.url, http_client=http))


def test_http_read_tools_and_the_latency_question(server: Served) -> None:
    async def run() -> dict[str, Any]:
        async with httpx2.AsyncClient(headers=AUTH, timeout=120) as http, _client(server, http) as client:
            return await tour_read_tools(client, runbooks=True)

    out = anyio.run(run)
    assert "pool" in out["search_runbooks"]["text"].lower(), out["search_runbooks"]
    assert out["ask"]["evidence"][0]["ref"].startswith("shop/")


def test_query_endpoint_answers_with_evidence_and_incident_id(server: Served) -> None:
    r = httpx.post(f"{server.http.url}/mcp/query", json={"question": LATENCY_QUESTION}, headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert_pool_answer(doc)
    assert any("pool" in e["detail"].lower() for e in doc["evidence"]), doc["evidence"]
    # the answer is kept: the incident resource serves it
    async def read() -> str:
        async with httpx2.AsyncClient(headers=AUTH) as http, _client(server, http) as client:
            res = await client.read_resource(f"prophet://incidents/{doc['incident_id']}")
            return res.contents[0].text
    record = json.loads(anyio.run(read))
    assert record["id"] == doc["incident_id"] and record["outcome"] == "answered"


def test_query_endpoint_rejects_bad_bodies(server: Served) -> None:
    for body in (b"not json", b"{}", b'{"question": 3}', b'{"question": "  "}'):
        r = httpx.post(f"{server.http.url}/mcp/query", content=body, headers=AUTH, timeout=30)
        assert r.status_code == 400, (body, r.text)
        assert "question" in r.json()["error_description"], r.text


def test_stream_sends_incident_and_audit_events(server: Served) -> None:
    events: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:  # a daemon thread: it reads until the test ends
        with contextlib.suppress(httpx.HTTPError), \
                httpx.stream("GET", f"{server.http.url}/mcp/stream?types=incident,audit", headers=AUTH,
                             timeout=60) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                ready.set()
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))

    threading.Thread(target=listen, daemon=True).start()
    assert ready.wait(10), "the stream did not open"
    r = httpx.post(f"{server.http.url}/mcp/query", json={"question": "what is wrong in namespace shop?",
                                                        "namespace": "shop"}, headers=AUTH, timeout=120)
    assert r.status_code == 200
    incident = r.json()["incident_id"]

    def ours() -> list[dict[str, Any]]:
        return [e for e in list(events) if e.get("incident") == incident]

    deadline = time.monotonic() + 30
    while not any(e["type"] == "audit" and e["event"] == "answer" for e in ours()):
        assert time.monotonic() < deadline, f"no audit record of the answer in {events}"
        time.sleep(0.1)
    assert {e["type"] for e in ours()} == {"incident", "audit"}, ours()
    assert {e["type"] for e in events} <= {"incident", "audit"}
    bad = httpx.get(f"{server.http.url}/mcp/stream?types=gossip", headers=AUTH)
    assert bad.status_code == 400 and "gossip" in bad.text


def test_healthz_metrics_resources_and_prompts(server: Served) -> None:
    health = httpx.get(f"{server.http.url}/healthz")  # no token needed
    assert health.status_code == 200 and health.json()["ok"] is True and health.json()["writes"] is False
    metrics = httpx.get(f"{server.http.url}/metrics", headers=AUTH).text
    assert 'prophet_mcp_tool_calls_total{tool="' in metrics and "prophet_mcp_stream_subscribers" in metrics

    async def run() -> tuple[str, str, str, Any]:
        async with httpx2.AsyncClient(headers=AUTH) as http, _client(server, http) as client:
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
            assert {"prophet://cluster/summary", "prophet://incidents", "prophet://audit"} <= uris, uris
            templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
            assert {"prophet://incidents/{incident_id}", "prophet://runbooks/{runbook_id}"} <= templates
            summary = (await client.read_resource("prophet://cluster/summary")).contents[0].text
            audit = (await client.read_resource("prophet://audit")).contents[0].text
            runbooks = await client.call_tool("search_runbooks", {"text": "connection pool exhausted", "k": 1})
            rb_id = runbooks.structured_content["text"].split()[0]
            runbook = (await client.read_resource(f"prophet://runbooks/{rb_id}")).contents[0].text
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert prompts == {"investigate", "postmortem"}
            prompt = await client.get_prompt("investigate", {"symptom": "slow checkout", "namespace": "shop"})
            return summary, audit, runbook, prompt

    summary, audit, runbook, prompt = anyio.run(run)
    assert "Nodes:" in summary and "answer" in audit
    assert len(runbook) > 100
    assert "slow checkout" in prompt.messages[0].content.text


def test_unknown_objects_are_clear_errors(server: Served) -> None:
    async def run() -> Any:
        async with httpx2.AsyncClient(headers=AUTH) as http, _client(server, http) as client:
            return await client.call_tool("describe", {"ref": "shop/deployment/nope"})

    r = anyio.run(run)
    assert r.is_error and "NotFound" in text(r), text(r)

"""Write tools over streamable HTTP with --allow-writes, human-in-loop: propose → approve → the cluster heals.

A simulated cluster with a broken image rollout (`bad-image-tag`). The rw token's caller proposes a
plan: it stops before any write, with the critic's verdict and a dry-run diff, and the deployment is
untouched. A client whose human declines the elicitation prompt does not approve it, and the
read-only token cannot approve it. The rw caller approves: the plan runs, verification
passes, the deployment serves the good image again, and the audit log records `mcp:alice` as the approver.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitRequestParams, ElicitResult
from mcp_support import RO_TOKEN, RW_TOKEN, SCENARIOS, WRITE_TOOLS, Served, served, text

from prophet_sre.config import Settings
from prophet_sre.mcp_server import build_server
from prophet_sre.policy.audit import AuditLog, verify
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.tools.kube.client import KubeClient

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, SimCluster, Any]]:
    tmp = tmp_path_factory.mktemp("writes")
    c = SimCluster(ClusterOptions(speed=50.0, scenarios=[SCENARIOS / "bad-image-tag.yaml"]))
    c.start()
    try:
        kc = c.write_kubeconfig(tmp / "kubeconfig")
        settings = Settings(data_dir=tmp / "data", kube={"kubeconfig": kc})
        with served(settings, allow_writes=True) as s:
            yield s, c, KubeClient.from_kubeconfig(kc)
    finally:
        c.stop()


async def _call(s: Served, token: str, tool: str, args: dict[str, Any]) -> Any:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http, \
            Client(streamable_http_client(s.url, http_client=http)) as client:
        if tool == "list":
            return await client.list_tools()
        return await client.call_tool(tool, args)


async def _approve_in_client_that_declines(s: Served, incident_id: str) -> Any:
    """approve_action from a client that supports elicitation, whose human says no."""
    asked: list[str] = []

    async def human(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="decline")

    async with Client(build_server(s.service), mode="legacy", elicitation_callback=human) as client:
        r = await client.call_tool("approve_action", {"incident_id": incident_id})
    assert asked and "rollback" in asked[0], asked
    return r


def _deployment(kube: KubeClient) -> dict[str, Any]:
    return kube.get("deployments", "web", namespace="demo")


def test_propose_then_approve_heals_the_cluster(world: tuple[Served, SimCluster, Any]) -> None:
    s, _cluster, kube = world
    tools = {t.name: t for t in anyio.run(_call, s, RW_TOKEN, "list", {}).tools}
    assert WRITE_TOOLS <= set(tools)
    assert tools["approve_action"].annotations.destructive_hint is True
    assert tools["propose_plan"].annotations.read_only_hint is False
    deadline = time.monotonic() + 60
    while "ImagePull" not in str(kube.list("pods", namespace="demo")):
        assert time.monotonic() < deadline, "the bad rollout never showed"
        time.sleep(0.2)
    broken = _deployment(kube)["spec"]["template"]["spec"]["containers"][0]["image"]

    r = anyio.run(_call, s, RW_TOKEN, "propose_plan", {"namespace": "demo"})
    assert not r.is_error, text(r)
    plan = r.structured_content
    assert plan["outcome"] == "pending_approval", plan
    assert any(a.startswith("rollback demo/deployment/web") for a in plan["actions"]), plan["actions"]
    assert plan["decision"] and plan["dry_run_diff"], plan
    assert _deployment(kube)["spec"]["template"]["spec"]["containers"][0]["image"] == broken  # nothing written

    declined = anyio.run(_approve_in_client_that_declines, s, plan["incident_id"])
    assert declined.is_error and "declined" in text(declined), text(declined)
    assert _deployment(kube)["spec"]["template"]["spec"]["containers"][0]["image"] == broken  # still nothing

    refused = anyio.run(_call, s, RO_TOKEN, "approve_action", {"incident_id": plan["incident_id"]})
    assert refused.is_error and "read-only token" in text(refused), text(refused)

    r = anyio.run(_call, s, RW_TOKEN, "approve_action", {"incident_id": plan["incident_id"], "reason": "looks right"})
    assert not r.is_error, text(r)
    done = r.structured_content
    assert done["outcome"] == "resolved", done
    assert done["approval"]["by"] == "mcp:alice" and done["approval"]["approved"] is True
    dep = _deployment(kube)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] != broken
    assert (dep.get("status") or {}).get("availableReplicas") == dep["spec"]["replicas"]

    records = list(AuditLog(s.service.audit_path).records(plan["incident_id"]))
    approvals = [r for r in records if r.event == "approval"]
    assert len(approvals) == 1 and approvals[0].approval["by"] == "mcp:alice"
    trigger = next(r for r in records if r.event == "trigger")
    assert trigger.trigger["details"]["requested_by"] == "mcp:alice"
    assert verify(s.service.audit_path).ok

    again = anyio.run(_call, s, RW_TOKEN, "approve_action", {"incident_id": plan["incident_id"]})
    assert again.is_error and "not waiting for approval" in text(again), text(again)

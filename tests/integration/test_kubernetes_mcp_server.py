"""A client-go program against the simulator: kubernetes-mcp-server through its own MCP tools.

The binary comes from the npm registry's platform package (`kubernetes-mcp-server-linux-amd64`),
installed by `scripts/test` into `.cache/npm`; the PyPI wheel of the same name downloads at run time
and cannot work offline. We talk to it with the official MCP Python SDK over stdio, so both the Go
Kubernetes client (discovery, Table lists, gets) and a real MCP exchange are exercised.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parents[2]
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
BINARY = ROOT / ".cache/npm/node_modules" / f"kubernetes-mcp-server-linux-{ARCH}" / "bin" / \
    f"kubernetes-mcp-server-linux-{ARCH}"


def _text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


@pytest.fixture(scope="module")
def mcp_binary() -> Path:
    if not BINARY.exists():
        pytest.skip(f"kubernetes-mcp-server not installed at {BINARY} (scripts/test installs it from npm)")
    return BINARY


def test_kubernetes_mcp_server_lists_pods_and_gets_a_resource(mcp_binary: Path, sim_kubeconfig: Path,
                                                              kubectl: Any, tmp_path: Path) -> None:
    kubectl("apply", "-f", "-", input="""
apiVersion: v1
kind: Namespace
metadata: {name: kms}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: kms}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
""")
    kubectl("rollout", "status", "-n", "kms", "deploy/hello", "--timeout=30s")
    params = StdioServerParameters(
        command=str(mcp_binary),
        args=["--kubeconfig", str(sim_kubeconfig), "--read-only", "--log-file", str(tmp_path / "kms.log")],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )

    async def run() -> tuple[list[str], str, str, str]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            pods = await session.call_tool("pods_list_in_namespace", {"namespace": "kms"})
            got = await session.call_tool("resources_get", {"apiVersion": "apps/v1", "kind": "Deployment",
                                                            "namespace": "kms", "name": "hello"})
            nss = await session.call_tool("namespaces_list", {})
            return tools, _text(pods), _text(got), _text(nss)

    tools, pods, deployment, namespaces = anyio.run(run)
    assert {"pods_list_in_namespace", "resources_get", "namespaces_list"} <= set(tools)
    # the Table the simulator served, as the Go client printed it
    assert pods.count("hello-") == 2 and "Running" in pods, pods
    assert "name: hello" in deployment and "nginx:1.27" in deployment and "readyReplicas: 2" in deployment
    assert "kms" in namespaces and "kube-system" in namespaces
    assert sys.platform.startswith("linux")

"""The MCP Inspector CLI (npm `@modelcontextprotocol/inspector`, `--cli` mode) against our HTTP server.

An independent client implementation (TypeScript SDK) lists the tools and calls one, with a bearer
token, over streamable HTTP. `scripts/test` installs the Inspector into `.cache/npm`; the test is skipped
only when npm itself is not on this machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_support import READ_TOOLS, ROOT, RW_TOKEN, Served, served

from prophet_sre.config import Settings
from prophet_sre.sim.cluster import ClusterOptions, SimCluster

pytestmark = pytest.mark.timeout(180)
INSPECTOR = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "mcp-inspector"


@pytest.fixture(scope="module")
def inspector() -> Path:
    if not INSPECTOR.exists():
        if shutil.which("npm") is None or shutil.which("node") is None:
            pytest.skip("npm/node are not installed: the MCP Inspector CLI cannot run here")
        pytest.fail(f"the MCP Inspector is not installed at {INSPECTOR}; run scripts/test (it installs "
                    "@modelcontextprotocol/inspector into .cache/npm)")
    return INSPECTOR


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("inspector")
    c = SimCluster(ClusterOptions(speed=50.0))
    c.start()
    try:
        settings = Settings(data_dir=tmp / "data", kube={"kubeconfig": c.write_kubeconfig(tmp / "kubeconfig")})
        with served(settings) as s:
            yield s
    finally:
        c.stop()


def _inspect(inspector: Path, s: Served, *args: str) -> dict:
    proc = subprocess.run([str(inspector), "--cli", s.url, "--transport", "http",
                           "--header", f"Authorization: Bearer {RW_TOKEN}", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    return json.loads(proc.stdout)


def test_inspector_lists_tools_and_calls_one(inspector: Path, server: Served) -> None:
    listed = _inspect(inspector, server, "--method", "tools/list")
    tools = {t["name"]: t for t in listed["tools"]}
    assert READ_TOOLS <= set(tools), sorted(tools)
    assert tools["list_objects"]["annotations"]["readOnlyHint"] is True
    assert "outputSchema" in tools["list_objects"]
    called = _inspect(inspector, server, "--method", "tools/call", "--tool-name", "list_objects",
                      "--tool-arg", "kind=pods", "--tool-arg", "namespace=kube-system")
    assert not called.get("isError"), called
    assert "coredns-" in called["content"][0]["text"]
    assert called["structuredContent"]["status"] == "ok"

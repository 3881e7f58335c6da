"""The MCP server refuses what it must, each time with a message that says what to fix.

HTTP negatives against a real server (uvicorn) on the simulator: no token, a wrong token, a read-only
token calling a write tool, a foreign Host header (DNS rebinding), a foreign browser Origin, a WebSocket
without a token; `prophet mcp --http --host 0.0.0.0` without tokens refuses to start. Secrets never
leave: a Secret's data and a credential-looking env value are absent from what the tools return.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_support import RO_TOKEN, RW_TOKEN, Served, served, text

from prophet_sre.config import Settings
from prophet_sre.errors import ConfigError
from prophet_sre.mcp_server import check_bind, parse_tokens, websocket_client
from prophet_sre.mcp_server.redact import redact_data, redact_text
from prophet_sre.sim.cluster import ClusterOptions, SimCluster

pytestmark = pytest.mark.timeout(120)
SECRET_VALUE = "hunter2-very-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("auth")
    c = SimCluster(ClusterOptions(speed=50.0))
    c.start()
    try:
        headers = {"Authorization": f"Bearer {c.admin_token}"}
        with httpx.Client(base_url=c.url, headers=headers, verify=str(c.ca_file), timeout=30) as k:
            k.post("/api/v1/namespaces/default/secrets", json={
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"},
                "stringData": {"password": SECRET_VALUE}}).raise_for_status()
            k.post("/api/v1/namespaces/default/pods", json={
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                         "env": [{"name": "DB_PASSWORD", "value": SECRET_VALUE},
                                                 {"name": "MODE", "value": "prod"}]}]}}).raise_for_status()
        settings = Settings(data_dir=tmp / "data", kube={"kubeconfig": c.write_kubeconfig(tmp / "kubeconfig")})
        with served(settings, allow_writes=True) as s:
            yield s
    finally:
        c.stop()


async def _call(s: Served, token: str | None, tool: str, args: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
            Client(streamable_http_client(s.url, http_client=http)) as client:
        return await client.call_tool(tool, args)


def test_no_token_and_wrong_token_are_refused(server: Served) -> None:
    r = httpx.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status_code == 401 and "missing bearer token" in r.json()["error_description"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(server.url, json={}, headers={"Authorization": "Bearer not-a-token-of-ours-at-all"})
    assert r.status_code == 401 and "invalid bearer token" in r.json()["error_description"]
    r = httpx.post(f"{server.http.url}/mcp/query", json={"question": "hi"}, headers={"Authorization": "Basic x"})
    assert r.status_code == 401 and "Bearer <token>" in r.json()["error_description"]
    with pytest.raises(BaseException) as info:  # the SDK client surfaces the 401 as an MCPError (in a group)
        anyio.run(_call, server, None, "cluster_summary", {})
    assert "MCPError" in repr(info.value) or "401" in repr(info.value), repr(info.value)
    assert anyio.run(_call, server, RW_TOKEN, "cluster_summary", {}).is_error is False


def test_read_only_token_cannot_call_write_tools(server: Served) -> None:
    r = anyio.run(_call, server, RO_TOKEN, "propose_plan", {"namespace": "default"})
    assert r.is_error and "viewer has a read-only token" in text(r), text(r)
    r = anyio.run(_call, server, RO_TOKEN, "reject_action", {"incident_id": "inc-x"})
    assert r.is_error and "read-only token" in text(r)
    assert not anyio.run(_call, server, RO_TOKEN, "list_objects", {"kind": "pods"}).is_error


def test_foreign_host_and_origin_are_refused(server: Served) -> None:
    auth = {"Authorization": f"Bearer {RW_TOKEN}"}
    r = httpx.post(server.url, json={}, headers={**auth, "Host": "evil.example:80"})
    assert r.status_code == 421 and "evil.example:80" in r.json()["error_description"]
    assert "PROPHET_MCP__ALLOWED_HOSTS" in r.json()["error_description"]
    r = httpx.get(f"{server.http.url}/healthz", headers={"Host": "evil.example"})
    assert r.status_code == 421  # even the open path: a rebinding page learns nothing
    r = httpx.post(server.url, json={}, headers={**auth, "Origin": "http://evil.example"})
    assert r.status_code == 403 and "Origin" in r.json()["error_description"]
    ok = httpx.get(f"{server.http.url}/metrics", headers={**auth, "Origin": f"http://127.0.0.1:{server.http.port}"})
    assert ok.status_code == 200


def test_websocket_needs_a_token(server: Served) -> None:
    async def connect(token: str | None) -> str:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with Client(websocket_client(server.ws_url, headers=headers)) as client:
            return text(await client.call_tool("cluster_summary", {}))

    with pytest.raises(BaseException) as info:
        anyio.run(connect, None)
    assert "401" in repr(info.value), repr(info.value)
    assert "Nodes:" in anyio.run(connect, RW_TOKEN)


def test_non_loopback_bind_without_tokens_refuses_to_start(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="PROPHET_MCP__TOKENS"):
        check_bind("0.0.0.0", [])
    check_bind("127.0.0.1", [])
    check_bind("0.0.0.0", parse_tokens(f"a:{RW_TOKEN}:rw"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHET_")}
    env["PROPHET_DATA_DIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "prophet_sre", "mcp", "--http", "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode != 0
    assert "non-loopback" in proc.stderr and "PROPHET_MCP__TOKENS" in proc.stderr, proc.stderr


def test_token_specs_are_validated() -> None:
    tokens = parse_tokens(f"alice:{RW_TOKEN}:rw, bob:{RO_TOKEN}")
    assert [(t.name, t.access) for t in tokens] == [("alice", "rw"), ("bob", "ro")]
    for bad, words in [("alice:short:rw", "at least 16"), (f"alice:{RW_TOKEN}:admin", "ro or rw"),
                       (f"alice:{RW_TOKEN}:rw,alice:{RO_TOKEN}:ro", "twice"), ("just-a-token", "name:token")]:
        with pytest.raises(ConfigError, match=words):
            parse_tokens(bad)


def test_secrets_never_leave(server: Served) -> None:
    secret = anyio.run(_call, server, RW_TOKEN, "describe", {"ref": "default/secret/db-creds"})
    pod = anyio.run(_call, server, RW_TOKEN, "describe", {"ref": "default/pod/app"})
    listing = anyio.run(_call, server, RW_TOKEN, "list_objects", {"kind": "secrets", "namespace": "default"})
    for r in (secret, pod, listing):
        assert not r.is_error, text(r)
        assert SECRET_VALUE not in text(r) and SECRET_VALUE not in str(r.structured_content)
    assert "db-creds" in text(listing)


def test_redaction_rules() -> None:
    masked = redact_text("DB_PASSWORD=s3cr3t API_KEY: abc123 url=postgres://app:pw@db:5432/x "
                         "secretName: creds Authorization: Bearer abcdefghijklmnopqrstuvwxyz")
    assert "s3cr3t" not in masked and "abc123" not in masked and "pw@" not in masked
    assert "abcdefghijklmnop" not in masked and "secretName: creds" in masked
    yaml_secret = "apiVersion: v1\nkind: Secret\ndata:\n  password: aHVudGVyMg==\nmetadata:\n  name: x\n"
    assert "aHVudGVyMg==" not in redact_text(yaml_secret) and "name: x" in redact_text(yaml_secret)
    doc = redact_data({"kind": "Secret", "data": {"k": "dmFs"},
                       "env": [{"name": "GITHUB_TOKEN", "value": "ghp_x"}, {"name": "MODE", "value": "prod"}]})
    assert doc["data"] == {"k": "<redacted>"} and doc["env"][0]["value"] == "***" and doc["env"][1]["value"] == "prod"


def test_cli_http_server_uses_tokens_from_the_environment(server: Served, tmp_path: Any) -> None:
    """`prophet mcp --http --port 0` as a process: it prints its URL, needs the env's tokens, serves tools."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHET_")}
    env.update({"PROPHET_DATA_DIR": str(tmp_path), "PROPHET_MCP__TOKENS": f"ops:{RW_TOKEN}:ro",
                "PROPHET_KUBE__KUBECONFIG": str(server.service.settings.kube.kubeconfig),
                "PROPHET_KNOWLEDGE__INDEX_BUILTIN": "false", "PROPHET_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen([sys.executable, "-m", "prophet_sre", "mcp", "--http", "--port", "0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = ""
        for line in proc.stderr:
            if "prophet MCP on " in line:
                break
        assert "read-only; 1 token(s)" in line, line
        url = line.split("prophet MCP on ", 1)[1].split()[0]
        assert httpx.get(url.replace("/mcp", "/healthz"), timeout=10).status_code == 200
        assert httpx.post(url, json={}, timeout=10).status_code == 401

        async def call() -> Any:
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {RW_TOKEN}"}, timeout=60) as http, \
                    Client(streamable_http_client(url, http_client=http)) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert "propose_plan" not in names  # no --allow-writes
                return await client.call_tool("list_objects", {"kind": "secrets", "namespace": "default"})

        r = anyio.run(call)
        assert not r.is_error and "db-creds" in text(r)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

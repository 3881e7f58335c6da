"""`prophet mcp`: serve Prophet to MCP clients (Claude Desktop, Claude Code, any SDK client).

    prophet mcp                                  stdio (what Claude Desktop / Claude Code launch)
    prophet mcp --http [--host H] [--port P]     streamable HTTP + WebSocket at /mcp, /mcp/query,
                                                 /mcp/stream, /healthz, /metrics
    ... [--allow-writes] [--policy FILE]         add propose_plan / approve_action / reject_action / execute

Safe by default: read tools only; HTTP on loopback; any other bind address needs PROPHET_MCP__TOKENS.
In stdio mode nothing but MCP goes to stdout (logs go to stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import typer

from prophet_sre.cli.common import fail
from prophet_sre.config import Settings, load_settings
from prophet_sre.logs import setup_logging

KUBECONFIG_HELP = "Kubeconfig file (default: PROPHET_KUBE__KUBECONFIG, $KUBECONFIG, ~/.kube/config, in-cluster)."


def _settings(kubeconfig: Path | None, context: str | None, prometheus: str | None, hubble: str | None,
              host: str | None, port: int | None, allow_writes: bool, allowed_hosts: list[str],
              allowed_origins: list[str]) -> Settings:
    s = load_settings()
    setup_logging(s.log_level, rich=False)  # stderr: stdout belongs to the MCP stream in stdio mode
    mcp = s.mcp.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v is not None})
    mcp = mcp.model_copy(update={"allow_writes": allow_writes or s.mcp.allow_writes,
                                 "allowed_hosts": [*s.mcp.allowed_hosts, *allowed_hosts],
                                 "allowed_origins": [*s.mcp.allowed_origins, *allowed_origins]})
    return s.model_copy(update={
        "mcp": mcp,
        "kube": s.kube.model_copy(update={k: v for k, v in {"kubeconfig": kubeconfig, "context": context}.items()
                                          if v is not None}),
        "prometheus": s.prometheus.model_copy(update={"url": prometheus or s.prometheus.url}),
        "hubble": s.hubble.model_copy(update={"address": hubble or s.hubble.address}),
    })


def mcp(
    http: bool = typer.Option(False, "--http", help="Serve HTTP (streamable HTTP and WebSocket at /mcp) instead "
                              "of stdio."),
    host: str = typer.Option(None, "--host", help="HTTP bind address (default 127.0.0.1; others need tokens)."),
    port: int = typer.Option(None, "--port", help="HTTP port (default 8765; 0 picks a free one)."),
    allow_writes: bool = typer.Option(False, "--allow-writes", help="Add the write tools (propose_plan, "
                                      "approve_action, reject_action, execute); the critic always runs."),
    policy_file: Path = typer.Option(None, "--policy", help="An AutonomousAction spec (YAML) for write tools."),
    allowed_host: list[str] = typer.Option([], "--allowed-host", help="Extra accepted Host header (repeatable), "
                                           "e.g. prophet-mcp.prophet.svc:8765 or name:*."),
    allowed_origin: list[str] = typer.Option([], "--allowed-origin", help="Extra accepted browser Origin."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help=KUBECONFIG_HELP),
    context: str = typer.Option(None, "--context", help="Kubeconfig context."),
    prometheus: str = typer.Option(None, "--prometheus", help="Prometheus URL (default: PROPHET_PROMETHEUS__URL)."),
    hubble: str = typer.Option(None, "--hubble", help="Hubble Relay host:port (default: PROPHET_HUBBLE__ADDRESS)."),
) -> None:
    """Serve Prophet over MCP (stdio by default; --http for the network endpoints)."""
    from prophet_sre.mcp_server import Authenticator, ProphetService, build_server, check_bind, parse_tokens
    from prophet_sre.mcp_server.transports import HttpServer, build_app
    from prophet_sre.policy.spec import AutonomousActionSpec

    s = _settings(kubeconfig, context, prometheus, hubble, host, port, allow_writes, allowed_host, allowed_origin)
    tokens = parse_tokens(s.mcp.tokens.get_secret_value() if s.mcp.tokens else None)
    if http:
        check_bind(s.mcp.host, tokens)  # before anything starts: refuse, do not half-serve
    policy = AutonomousActionSpec.from_yaml(policy_file) if policy_file else None
    with ProphetService(s, policy) as service:
        server = build_server(service)
        if not http:
            anyio.run(server.run_stdio_async)
            return
        auth = Authenticator(tokens, bind_host=s.mcp.host, allowed_hosts=s.mcp.allowed_hosts,
                             allowed_origins=s.mcp.allowed_origins)
        app = build_app(service, server, auth)
        srv = HttpServer(app, s.mcp.host, s.mcp.port)
        try:
            srv.start()
        except RuntimeError as e:
            fail(f"{e} (is the port in use?)")
        writes = "with write tools" if service.allow_writes else "read-only"
        who = f"{len(tokens)} token(s)" if tokens else "no tokens (loopback only)"
        print(f"prophet MCP on {srv.url}/mcp ({writes}; {who}); WebSocket on the same path; "
              "POST /mcp/query, GET /mcp/stream, /healthz, /metrics", file=sys.stderr, flush=True)
        try:
            srv.wait()
        except KeyboardInterrupt:  # pragma: no cover - Ctrl-C
            pass
        finally:
            srv.stop()


__all__ = ["mcp"]

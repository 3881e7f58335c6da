"""Prophet's MCP server: Claude and other MCP clients ask, inspect and (only where allowed) fix.

Modules: `service` (what the tools do, synchronous, bounded and redacted), `server` (the SDK `MCPServer`:
tools with annotations and output schemas, resources, prompts), `transports` (stdio; one HTTP app with
streamable HTTP and WebSocket at `/mcp`, `/mcp/query`, `/mcp/stream`, `/healthz`, `/metrics`),
`websocket` (the WebSocket adapter the SDK 2.x lacks, both sides), `auth` (tokens, Host/Origin
allow-list), `redact` (secrets never leave), `events` (the live feed). Not here: any Kubernetes or
graph logic - the service calls the tools and the incident runner every other front end uses.
"""

from prophet_sre.mcp_server.auth import Authenticator, Caller, check_bind, parse_tokens
from prophet_sre.mcp_server.server import build_server
from prophet_sre.mcp_server.service import ProphetService
from prophet_sre.mcp_server.transports import HttpServer, build_app
from prophet_sre.mcp_server.websocket import websocket_client

__all__ = ["Authenticator", "Caller", "HttpServer", "ProphetService", "build_app", "build_server", "check_bind",
           "parse_tokens", "websocket_client"]

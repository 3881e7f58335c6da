"""MCP over WebSocket, which the SDK 2.x no longer ships: a small adapter on each side.

One JSON-RPC message per text frame, subprotocol `mcp` (what the 1.x SDK and other implementations
use). The server side turns a Starlette `WebSocket` into the `(read, write)` stream pair the SDK's
low-level `Server.run` serves, like `stdio_server` does for a pipe, and stamps each incoming message with
the WebSocket as its request context, so tools see the authenticated caller (`auth.caller_of`). The
client side (`websocket_client`) is an SDK `Transport`: `mcp.Client(websocket_client(url))` or
`ClientSession(*streams)` work over it unchanged.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import anyio
from mcp import types
from mcp.server.mcpserver import MCPServer
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)
SUBPROTOCOL = "mcp"
MAX_FRAME = 4 * 1024 * 1024
"""Largest frame accepted either way (4 MiB): tool outputs are bounded far below this."""


async def serve_websocket(websocket: WebSocket, server: MCPServer) -> None:
    """Serve one MCP session over an (authenticated) WebSocket until either side closes."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_reader = create_context_streams[SessionMessage](0)
    metadata = ServerMessageMetadata(request_context=websocket)

    async def reader() -> None:
        async with read_writer:
            try:
                while True:
                    text = await websocket.receive_text()
                    if len(text) > MAX_FRAME:
                        await read_writer.send(ValueError(f"frame of {len(text)} bytes exceeds {MAX_FRAME}"))
                        continue
                    try:
                        message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
                    except Exception as exc:  # noqa: BLE001 - the SDK answers a parse error itself
                        await read_writer.send(exc)
                        continue
                    await read_writer.send(SessionMessage(message, metadata=metadata))
            except (WebSocketDisconnect, anyio.ClosedResourceError, RuntimeError):
                pass

    async def writer() -> None:
        async with write_reader:
            try:
                async for msg in write_reader:
                    await websocket.send_text(msg.message.model_dump_json(by_alias=True, exclude_unset=True))
            except (WebSocketDisconnect, anyio.ClosedResourceError, RuntimeError):
                pass

    lowlevel = server._lowlevel_server  # noqa: SLF001 - the SDK's documented way to serve custom streams
    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(writer)
        try:
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        finally:
            tg.cancel_scope.cancel()
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close()


@contextlib.asynccontextmanager
async def websocket_client(url: str, *, headers: Mapping[str, str] | None = None,
                           open_timeout: float = 10.0) -> AsyncIterator[tuple[object, object]]:
    """An MCP client transport over WebSocket (`ws://host:port/mcp`); bearer tokens go in `headers`."""
    from websockets.asyncio.client import connect

    read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_reader = create_context_streams[SessionMessage](0)
    async with connect(url, subprotocols=[SUBPROTOCOL], additional_headers=dict(headers or {}),  # type: ignore[list-item]
                       open_timeout=open_timeout, max_size=MAX_FRAME) as ws:

        async def reader() -> None:
            async with read_writer:
                try:
                    async for raw in ws:
                        text = raw if isinstance(raw, str) else raw.decode()
                        try:
                            message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
                        except Exception as exc:  # noqa: BLE001
                            await read_writer.send(exc)
                            continue
                        await read_writer.send(SessionMessage(message))
                except anyio.ClosedResourceError:
                    pass
                except Exception as exc:  # noqa: BLE001 - connection closed: end the session
                    log.debug("websocket client reader ended: %s", exc)

        async def writer() -> None:
            async with write_reader:
                async for msg in write_reader:
                    await ws.send(msg.message.model_dump_json(by_alias=True, exclude_unset=True))

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            tg.start_soon(writer)
            try:
                yield read_stream, write_stream
            finally:
                tg.cancel_scope.cancel()


__all__ = ["SUBPROTOCOL", "serve_websocket", "websocket_client"]

"""Listening sockets bound when a server's port is chosen, served on later.

Many simulators, Prometheus servers and MCP servers start at once under `pytest -n` and in the eval
harness's workers; a port chosen as free and bound only later can be taken in between (`address already
in use`). Binding at once and handing the socket to the server closes that gap.
"""

from __future__ import annotations

import socket


def listening_socket(host: str, port: int = 0, backlog: int = 128) -> socket.socket:
    """A TCP socket bound to `host:port` (0: the OS picks) and listening; raises OSError.

    Created as IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP
    (proto 0 leaves Nagle on and adds ~40 ms to every small response)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


__all__ = ["listening_socket"]

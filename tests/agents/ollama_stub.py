"""A fake Ollama server for tests: no LLM can run here, so this stub stands in for one.

It speaks the part of Ollama's HTTP API that `langchain-ollama`'s `ChatOllama` uses, `POST /api/chat`
answered with NDJSON (the wire format checked in the stack notes), on 127.0.0.1 at a free port, in a
background thread. Each request is answered by the next scripted `Reply` (or by `default` once the
script is used up); a reply can be a normal message, tool calls (read tools, or the `Diagnosis`
structured-output tool), `slow` (sleeps before answering), `garbage` (a body that is not JSON) or an
HTTP error. Every request body is kept in `requests`, so tests can check what the model was sent.
`down_url()` is a URL where nothing listens.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Reply:
    content: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    prompt_tokens: int | None = None
    """Reported `prompt_eval_count`; None: characters of the request's messages and tools / 4."""
    eval_tokens: int | None = None
    delay: float = 0.0
    status: int = 200
    raw: str | None = None
    """Sent as the body verbatim (garbage) instead of a well-formed NDJSON line."""


Script = Reply | Callable[[dict[str, Any]], Reply]


def text(content: str) -> Reply:
    return Reply(content=content)


def call(name: str, args: dict[str, Any]) -> Reply:
    return Reply(tool_calls=[(name, args)])


def diagnosis(category: str = "oom", summary: str = "backend 2.3 leaks memory and is OOMKilled",
              root_cause: str | None = "shop/deployment/backend", confidence: float = 0.8) -> Reply:
    return call("Diagnosis", {"category": category, "summary": summary, "root_cause": root_cause,
                              "confidence": confidence})


def slow(seconds: float, then: Reply | None = None) -> Reply:
    reply = then or diagnosis()
    return Reply(content=reply.content, tool_calls=reply.tool_calls, delay=seconds)


def garbage(body: str = "this is not json {{{ <html>") -> Reply:
    return Reply(raw=body + "\n")


def http_error(status: int = 500, message: str = "model runner crashed") -> Reply:
    return Reply(status=status, content=message)


def tool_names(request: dict[str, Any]) -> list[str]:
    """Names of the tools a request offered the model."""
    return [t.get("function", {}).get("name", "") for t in request.get("tools") or []]


def tool_messages(request: dict[str, Any]) -> list[str]:
    """Contents of the tool-result messages a request carried."""
    return [m.get("content", "") for m in request.get("messages", []) if m.get("role") == "tool"]


def _prompt_tokens(body: dict[str, Any]) -> int:
    chars = sum(len(str(m.get("content") or "")) + len(json.dumps(m.get("tool_calls") or []))
                for m in body.get("messages", []))
    chars += len(json.dumps(body.get("tools") or []))
    return chars // 4


class OllamaStub:
    """The fake server; use as a context manager or `start()` / `stop()`."""

    def __init__(self, replies: list[Script] | tuple[Script, ...] = (), *, default: Script | None = None) -> None:
        self.script: list[Script] = list(replies)
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *replies: Script) -> None:
        with self._lock:
            self.script.extend(replies)

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            item = self.script.pop(0) if self.script else self.default
        if item is None:
            return http_error(500, "stub script exhausted")
        return item(body) if callable(item) else item

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        reply = self._next(body)
        waited = 0.0
        while waited < reply.delay and not self._stopping.is_set():  # `stop()` ends a slow reply early
            await asyncio.sleep(0.05)
            waited += 0.05
        if reply.status != 200:
            return JSONResponse({"error": reply.content or "error"}, status_code=reply.status)
        if reply.raw is not None:
            return Response(reply.raw, media_type="application/x-ndjson")
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [{"function": {"name": n, "arguments": a}} for n, a in reply.tool_calls]
        eval_tokens = reply.eval_tokens if reply.eval_tokens is not None else (
            (len(reply.content) + len(json.dumps(message.get("tool_calls") or []))) // 4 + 1)
        line = {"model": body.get("model", "stub"), "created_at": "2026-01-01T00:00:00Z", "message": message,
                "done": True, "done_reason": "stop", "total_duration": 1, "load_duration": 1,
                "prompt_eval_count": reply.prompt_tokens if reply.prompt_tokens is not None else _prompt_tokens(body),
                "prompt_eval_duration": 1, "eval_count": eval_tokens, "eval_duration": 1}
        return Response(json.dumps(line) + "\n", media_type="application/x-ndjson")

    def start(self) -> OllamaStub:
        app = Starlette(routes=[Route("/api/chat", self._chat, methods=["POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="ollama-stub")
        self._thread.start()
        ready = threading.Event()
        for _ in range(500):
            if self._server.started:
                ready.set()
                break
            threading.Event().wait(0.01)
        if not ready.is_set():
            raise RuntimeError("the Ollama stub did not start")
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> OllamaStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def down_url() -> str:
    """A loopback URL with nothing listening (a port that was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"

"""Embeddings: WordLlama offline by default, Ollama when configured (and a fallback when it is down),
and never Chroma's default embedding function.

The Ollama server here is a fake (a stub of `POST /api/embed` on loopback that returns deterministic
bag-of-words vectors): it is an LLM server, the one thing tests may fake. Its wire format is Ollama's.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from knowledge_support import knowledge

from prophet_sre.errors import ConfigError, ToolUnavailable
from prophet_sre.knowledge.embeddings import OllamaEmbedder, WordLlamaEmbedder
from prophet_sre.knowledge.index import tokens

DIM = 64


def _vector(text: str) -> list[float]:
    v = np.zeros(DIM)
    for t in tokens(text):
        v[int(hashlib.sha1(t.encode()).hexdigest(), 16) % DIM] += 1.0
    return (v + 1e-3).tolist()


class _Ollama(BaseHTTPRequestHandler):
    calls: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Ollama.calls.append(body)
        if self.path != "/api/embed" or body.get("model") != "nomic-embed-text":
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b'{"error": "model not found, try pulling it first"}')
            return
        out = json.dumps({"model": body["model"], "embeddings": [_vector(t) for t in body["input"]]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def ollama() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_wordllama_vectors_are_unit_length_and_meaningful() -> None:
    a, b, c = WordLlamaEmbedder().embed(["pod OOMKilled at memory limit", "container killed: out of memory",
                                         "DNS NXDOMAIN for a service name"])
    assert abs(np.linalg.norm(a) - 1) < 1e-5 and len(a) == 256
    assert float(np.dot(a, b)) > float(np.dot(a, c))


def test_ollama_embeddings_when_configured(ollama: str, tmp_path: Path) -> None:
    kb = knowledge(tmp_path, ollama_url=ollama)
    hits = kb.search("Back-off pulling image nginx:1.277", k=3)
    assert kb.index.name == "prophet-runbooks-ollama-nomic-embed-text"
    assert "image-pull-bad-tag" in [h.id for h in hits]
    assert any(c["input"] == ["Back-off pulling image nginx:1.277"] for c in _Ollama.calls)
    # never Chroma's default embedding function: our collections have none
    assert kb.index.col.configuration.get("embedding_function") is None


def test_ollama_down_falls_back_to_wordllama_and_bad_model_is_a_config_error(ollama: str, tmp_path: Path) -> None:
    kb = knowledge(tmp_path, ollama_url="http://127.0.0.1:9", index_builtin=False)
    assert kb.index.name == "prophet-runbooks-wordllama-256"
    with pytest.raises(ToolUnavailable, match="unreachable"):
        OllamaEmbedder("http://127.0.0.1:9", "nomic-embed-text").embed(["x"])
    with pytest.raises(ConfigError, match="ollama pull other-model"):
        OllamaEmbedder(ollama, "other-model").embed(["x"])

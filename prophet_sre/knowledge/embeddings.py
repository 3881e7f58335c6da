"""Text embeddings for the runbook index and the incident memory, computed by us, never by Chroma.

Chroma's default embedding function downloads a model on first use, which fails offline (and would
silently change vectors between versions), so every collection is created with `embedding_function=None`
and given explicit vectors from one of these:

- `WordLlamaEmbedder` (default): WordLlama's 256-dimensional static token embeddings, whose weights and
  tokenizer ship inside the `wordllama` wheel and run on numpy alone. It must be loaded with
  `cache_dir=<package dir>, disable_download=True`, or it looks in the wrong folder and tries to download.
- `OllamaEmbedder`: an Ollama server's `/api/embed` when one is configured (better on paraphrases).

Vectors are L2-normalised, so cosine distance is what the collections use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np

from prophet_sre import errors
from prophet_sre.knowledge.settings import KnowledgeSettings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into unit vectors; `name` tells collections of different embedders apart."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def _unit(matrix: np.ndarray) -> list[list[float]]:
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.clip(norms, 1e-9, None)).tolist()


class WordLlamaEmbedder:
    """The bundled, offline default (loaded once per process, on first use, in about 0.2 s)."""

    name = "wordllama-256"
    _model: Any = None
    _lock = threading.Lock()

    @classmethod
    def model(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                import wordllama

                cls._model = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent,
                                                      disable_download=True)
            return cls._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return _unit(self.model().embed(list(texts), norm=False, return_np=True))


class OllamaEmbedder:
    """Embeddings from an Ollama server (`POST /api/embed`)."""

    def __init__(self, url: str, model: str, *, timeout_s: float = 10.0, batch: int = 32) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.batch = batch
        self.name = "ollama-" + "".join(c if c.isalnum() else "-" for c in model).strip("-")
        self._http = httpx.Client(timeout=timeout_s)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self.batch):
            out += self._call(list(texts[i:i + self.batch]))
        return out

    def _call(self, texts: list[str]) -> list[list[float]]:
        try:
            r = self._http.post(f"{self.url}/api/embed", json={"model": self.model, "input": texts})
        except httpx.HTTPError as e:
            raise errors.ToolUnavailable(f"Ollama at {self.url} is unreachable ({e}); start it or unset "
                                         "the Ollama endpoint to use the bundled WordLlama embeddings") from e
        if r.status_code == 404:
            raise errors.ConfigError(f"Ollama at {self.url} has no model {self.model!r}: run "
                                     f"`ollama pull {self.model}` or set PROPHET_KNOWLEDGE__OLLAMA_MODEL")
        if r.status_code >= 400:
            raise errors.ToolUnavailable(f"Ollama at {self.url} answered {r.status_code}: {r.text[:200]}")
        vectors = r.json().get("embeddings")
        if not isinstance(vectors, list) or len(vectors) != len(texts):
            raise errors.ToolUnavailable(f"Ollama at {self.url} returned no embeddings for {len(texts)} texts")
        return _unit(np.asarray(vectors, dtype=np.float32))


def embedder_for(settings: KnowledgeSettings) -> Embedder:
    """Ollama when an endpoint is configured, else the bundled WordLlama."""
    if settings.ollama_url:
        return OllamaEmbedder(settings.ollama_url, settings.ollama_model, timeout_s=settings.ollama_timeout_s)
    return WordLlamaEmbedder()


__all__ = ["Embedder", "OllamaEmbedder", "WordLlamaEmbedder", "embedder_for"]

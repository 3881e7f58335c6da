"""Opening Chroma: an embedded `PersistentClient` by default, an `HttpClient` for a Chroma server.

Collections are always created with `embedding_function=None` (vectors come from `embeddings.py`, see
there for why) and cosine space. Errors of the chromadb client are translated here into
`ToolUnavailable` (server down) so callers never import chromadb to handle them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from prophet_sre import errors

log = logging.getLogger(__name__)

_NAME = re.compile(r"[^a-zA-Z0-9._-]+")


def collection_name(prefix: str, kind: str, embedder: str) -> str:
    """A valid Chroma collection name (3-512 characters of [a-zA-Z0-9._-], alphanumeric at both ends)."""
    return _NAME.sub("-", f"{prefix}-{kind}-{embedder}").strip("-._")[:512]


def open_client(chroma_url: str | None, path: Path) -> Any:
    """A Chroma client: the server at `chroma_url`, else an embedded store under `path`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    opts = ChromaSettings(anonymized_telemetry=False)
    if not chroma_url:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=opts)
    u = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
    if u.scheme not in ("http", "https") or not u.hostname:
        raise errors.ConfigError(f"PROPHET_CHROMA_URL={chroma_url!r}: expected http(s)://HOST[:PORT]")
    port = u.port or (443 if u.scheme == "https" else 8000)
    try:
        client = chromadb.HttpClient(host=u.hostname, port=port, ssl=u.scheme == "https", settings=opts)
        client.heartbeat()
    except Exception as e:  # chromadb raises plain ValueError/httpx errors for a server that is down
        raise errors.ToolUnavailable(f"Chroma server at {chroma_url} is unreachable ({e}); start it "
                                     "(`chroma run --path DIR`) or unset PROPHET_CHROMA_URL for the embedded "
                                     "store") from e
    return client


def collection(client: Any, name: str, *, metadata: dict[str, Any] | None = None) -> Any:
    """Get or create a collection with no embedding function and cosine distance."""
    try:
        return client.get_or_create_collection(name, embedding_function=None, metadata=metadata,
                                               configuration={"hnsw": {"space": "cosine"}})
    except Exception as e:
        raise errors.ToolUnavailable(f"Chroma: cannot open collection {name!r}: {e}") from e


__all__ = ["collection", "collection_name", "open_client"]

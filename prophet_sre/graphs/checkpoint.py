"""Where paused and finished incidents are kept: LangGraph checkpointers, SQLite or PostgreSQL.

An incident waiting for approval must survive the process: `prophet approve ID` may run hours later, in
another process, after a restart. SQLite under the data directory is the default (one node, nothing to
run); `PROPHET_CHECKPOINT_URL=postgresql://...` selects PostgreSQL for production and for several
operator replicas sharing pending approvals.

The serializer is told exactly which of our classes a checkpoint may contain (LangGraph's msgpack
allow-list), so loading a checkpoint can never instantiate an arbitrary type.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from prophet_sre import domain
from prophet_sre.config import Settings
from prophet_sre.errors import ConfigError, ToolUnavailable
from prophet_sre.graphs import state
from prophet_sre.tools.actions import results


def _classes(*modules: ModuleType) -> list[tuple[str, str]]:
    out = []
    for module in modules:
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and obj.__module__ == module.__name__
                    and issubclass(obj, BaseModel | enum.Enum)):
                out.append((module.__name__, name))
    return out


def serializer() -> JsonPlusSerializer:
    """The checkpoint serializer, allowing our state's own models and enums (and nothing else of ours)."""
    return JsonPlusSerializer(allowed_msgpack_modules=_classes(domain, state, results))


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver]:
    """The configured checkpointer, set up (tables created) and closed on exit."""
    url = settings.checkpoint_url
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"PROPHET_CHECKPOINT_URL must be a postgresql:// URL, got {url.split('@')[-1]!r}")
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver

        try:
            with PostgresSaver.from_conn_string(url) as saver:
                saver.serde = serializer()
                saver.setup()
                yield saver
        except psycopg.OperationalError as e:
            raise ToolUnavailable(f"cannot reach the checkpoint database {url.split('@')[-1]}: "
                                  f"{str(e).strip().splitlines()[0] if str(e).strip() else e}") from e
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = settings.data_path("checkpoints.sqlite")
    with SqliteSaver.from_conn_string(str(path)) as saver:
        saver.serde = serializer()
        saver.setup()
        yield saver


__all__ = ["open_checkpointer", "serializer"]

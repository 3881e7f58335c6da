"""`search_runbooks`: runbook search as a tool for agents and the MCP server (a bounded `ToolResult`).

Read-only and idempotent. The text lists each hit as `id (score) - title` plus a snippet, within the
token budget; `data` carries the `SearchHit`s. An empty query or an unknown category is an error result
naming what to fix; Chroma being down is a `ToolUnavailable` error result, never an exception.
"""

from __future__ import annotations

from typing import Any

from prophet_sre import errors
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.envelope import ToolResult

NAME = "search_runbooks"
DESCRIPTION = ("Search Prophet's runbooks by what you see (a finding, an event message, a question). "
               "Optional category (oom, crashloop, image_pull, ...) and cluster filters. Returns runbook ids "
               "to cite, titles and snippets.")


def search_runbooks(knowledge: Any, text: str, *, k: int = 5, category: str | None = None,
                    cluster: str | None = None, budget: bud.Budget | None = None) -> ToolResult[Any]:
    """Run `knowledge.search` and wrap it in the tool envelope."""
    params: dict[str, Any] = {"text": text, "k": k, "category": category, "cluster": cluster}

    def run() -> ToolResult[Any]:
        if not text.strip():
            raise errors.InvalidQuery("text is empty: pass a finding, an event message or a question")
        try:
            hits = knowledge.search(text, k=max(1, min(k, 20)), category=category, cluster=cluster)
        except errors.InvalidInput as e:
            raise errors.InvalidQuery(str(e)) from e
        if not hits:
            return envelope.ok(NAME, params, text="no runbook matches", data=[], no_data=True)
        lines = []
        for h in hits:
            lines.append(f"{h.id} ({h.score:.2f}) - {h.title}")
            if h.snippet:
                lines.append(f"  {h.snippet[:200]}")
        result = envelope.ok(NAME, params, text="\n".join(lines), data=[h.model_dump() for h in hits])
        return bud.enforce(result, budget or bud.Budget(), narrow="lower k or add a category")

    return envelope.run_tool(NAME, params, run)


__all__ = ["DESCRIPTION", "NAME", "search_runbooks"]

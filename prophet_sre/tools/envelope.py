"""The one envelope every tool returns: `ToolResult`.

Why an envelope rather than raw values or exceptions: the graph, the MCP server and the CLI all need the
same four facts about a call - did it work (`status`), what a model should read (`text`, already bounded),
what a program should read (`data`, typed), and what was left out and how to get it (`truncated`,
`omitted`). "No data" is not an error and "needs approval" is a status, not an exception.

Errors from the `prophet_sre.errors` tree become `status="error"` with the class name in `error_type`,
so a caller that prefers exceptions calls `result.raise_for_error()` and gets the same class back.
Nothing else is caught: a bug is a crash, not an envelope.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from prophet_sre import errors

DataT = TypeVar("DataT")

CHARS_PER_TOKEN = 4
"""Token estimate: characters / 4, rounded up. It is the usual rule of thumb for English and JSON-ish
text with BPE tokenizers; it overestimates for prose and slightly underestimates for dense tables of
short identifiers, which is why budgets keep a little headroom (see `budget.py`)."""


def estimate_tokens(text: str) -> int:
    """Estimated tokens of `text` (characters / 4, rounded up); cheap and tokenizer-independent."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class ToolStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    NO_DATA = "no_data"
    APPROVAL_REQUIRED = "approval_required"


_ERROR_TYPES: dict[str, type[errors.ToolError]] = {
    cls.__name__: cls for cls in (errors.NotFound, errors.Forbidden, errors.Conflict, errors.InvalidQuery,
                                  errors.ToolUnavailable, errors.ToolError)
}


class ToolResult(BaseModel, Generic[DataT]):
    """What one tool call produced. `text` is what a model reads and is always within the call's budget."""

    model_config = ConfigDict(extra="forbid")

    status: ToolStatus
    invocation: str
    """The tool's name, e.g. `list` or `cluster_summary`."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The parameters as the caller gave them (after defaults), so `omitted` hints can be replayed."""
    data: DataT | None = None
    text: str = ""
    error: str = ""
    error_type: str = ""
    """Class name from `prophet_sre.errors` (NotFound, Forbidden, Conflict, InvalidQuery, ToolUnavailable)
    when status=error."""
    truncated: bool = False
    omitted: str = ""
    """What was left out and exactly how to get it, e.g. "42 more pods; call list(kind='pods', offset=50)"."""
    tokens: int = 0
    """Estimated tokens of `text` (see `estimate_tokens`)."""

    @property
    def ok(self) -> bool:
        return self.status == ToolStatus.OK

    def raise_for_error(self) -> ToolResult[DataT]:
        """Re-raise an error result as its `prophet_sre.errors` class; return self otherwise."""
        if self.status == ToolStatus.ERROR:
            raise _ERROR_TYPES.get(self.error_type, errors.ToolError)(self.error)
        return self


def ok(invocation: str, params: dict[str, Any], *, text: str, data: Any = None, omitted: str = "",
       no_data: bool = False) -> ToolResult[Any]:
    """An ok (or no_data) result; `truncated` follows from whether anything was `omitted`."""
    return ToolResult(status=ToolStatus.NO_DATA if no_data else ToolStatus.OK, invocation=invocation,
                      params=params, data=data, text=text, truncated=bool(omitted), omitted=omitted,
                      tokens=estimate_tokens(text))


def failure(invocation: str, params: dict[str, Any], exc: errors.ToolError) -> ToolResult[Any]:
    """An error result carrying the error's message and class name (the message names what to do)."""
    text = f"error ({type(exc).__name__}): {exc}"
    return ToolResult(status=ToolStatus.ERROR, invocation=invocation, params=params, text=text, error=str(exc),
                      error_type=type(exc).__name__, tokens=estimate_tokens(text))


def run_tool(invocation: str, params: dict[str, Any], fn: Callable[[], ToolResult[Any]]) -> ToolResult[Any]:
    """Call `fn`, turning the tool errors of `prophet_sre.errors` into an error envelope."""
    try:
        return fn()
    except errors.ToolError as e:
        return failure(invocation, params, e)


__all__ = ["CHARS_PER_TOKEN", "ToolResult", "ToolStatus", "estimate_tokens", "failure", "ok", "run_tool"]

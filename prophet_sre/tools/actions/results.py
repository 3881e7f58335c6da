"""What actions return: `DryRunResult`, `ExecutionResult` and `BlastRadius` (pydantic, so they go into the
audit log and over MCP as they are).

Results carry errors instead of raising them, like `ToolResult`: `error` is the message, `error_type`
the `prophet_sre.errors` class name, and `raise_for_error()` gives the class back to callers that prefer
exceptions. That is what lets a half-done drain still report which pods it evicted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prophet_sre import errors

_ERRORS: dict[str, type[errors.ToolError]] = {
    cls.__name__: cls for cls in (errors.NotFound, errors.Forbidden, errors.Conflict, errors.ToolUnavailable,
                                  errors.ToolError)}


class _Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool = False
    error: str = ""
    error_type: str = ""
    """Class name from `prophet_sre.errors` when `ok` is False because of an error."""
    notes: list[str] = Field(default_factory=list)
    """Things a reviewer should know that are not errors (skipped pods, a weaker guarantee)."""

    def fail(self, exc: errors.ToolError) -> None:
        self.ok, self.error, self.error_type = False, str(exc), type(exc).__name__

    def raise_for_error(self) -> None:
        """Re-raise a failure as its `prophet_sre.errors` class (ToolError when it had none)."""
        if not self.ok:
            raise _ERRORS.get(self.error_type, errors.ToolError)(self.error or "action failed")


class DryRunResult(_Outcome):
    """The server's verdict on the action without persisting anything, and what would change."""

    diff: str = ""


class ExecutionResult(_Outcome):
    """What an executed action changed. `before` is what `inverse()` needs, captured before any write."""

    changed: dict[str, Any] = Field(default_factory=dict)
    """Per object `"<resource> <ns>/<name>"`: the new resourceVersion (or "deleted"/"created"), plus
    action-specific keys: `revision`, `evicted`, `blocked`, `skipped` ..."""
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)


class BlastRadius(BaseModel):
    """What an action touches, for comparison with policy limits (`maxBlastRadius`)."""

    model_config = ConfigDict(extra="forbid")

    pods: int = 0
    """Pods replaced, deleted, evicted, created or isolated."""
    replicas: int = 0
    """Change in desired replicas (absolute), or the replicas a rollout replaces."""
    nodes: int = 0
    """Nodes cordoned, drained, added or removed."""
    namespaces: list[str] = Field(default_factory=list)
    detail: str = ""


__all__ = ["BlastRadius", "DryRunResult", "ExecutionResult"]

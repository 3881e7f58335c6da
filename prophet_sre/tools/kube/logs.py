"""The `logs` read tool: the newest lines of one container, optionally grepped, within budget.

The newest lines matter most, so when the tail does not fit the budget the oldest lines of it are left
out and `omitted` gives the exact call for them (`skip` = how many of the newest lines to pass over).
`grep` is a case-insensitive regular expression (a pattern that does not compile is matched as plain
text); with it, up to `GREP_WINDOW` lines are scanned so a rare error line is still found. A pod with
several containers and no `container` gets its default container (the
`kubectl.kubernetes.io/default-container` annotation, else the first), and the text says which.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.errors import ToolError
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient

GREP_WINDOW = 5000
"""Lines scanned when grepping: enough history for a rare error, bounded so one call stays cheap."""
MAX_LINE = 2000
"""A single line longer than this many characters is shortened (with a marker saying by how much)."""
LIMIT_BYTES = 4 * 1024 * 1024
"""Upper bound on the log bytes one call downloads."""


class LogLines(BaseModel):
    namespace: str
    pod: str
    container: str
    previous: bool = False
    lines: list[str] = Field(default_factory=list)
    matched: int = 0
    """Lines available after grep (before fitting to the budget)."""


def pick_container(client: KubeClient, namespace: str, pod: str, container: str | None) -> tuple[str, str]:
    """(container, note): the container to read and, if we chose it, a note saying so."""
    if container:
        return container, ""
    obj = client.get("pods", pod, namespace)
    names = [o.text(c.get("name")) for c in o.pod_containers(obj)]
    if len(names) <= 1:
        return (names[0] if names else ""), ""
    default = o.annotations(obj).get("kubectl.kubernetes.io/default-container", "")
    chosen = default if default in names else names[0]
    return chosen, f"(container {chosen} of {', '.join(names)})"


def _matcher(grep: str) -> re.Pattern[str]:
    try:
        return re.compile(grep, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(grep), re.IGNORECASE)


def _short(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[:MAX_LINE] + f" ...[+{len(line) - MAX_LINE} chars]"


def logs_tool(client: KubeClient, budget: bud.Budget, *, namespace: str, pod: str, container: str | None = None,
              tail: int = 100, grep: str | None = None, previous: bool = False, skip: int = 0,
              params: dict[str, Any]) -> envelope.ToolResult[Any]:
    if tail < 1 or skip < 0:
        raise ToolError("tail must be >= 1 and skip >= 0")
    chosen, note = pick_container(client, namespace, pod, container)
    window = max(tail + skip, GREP_WINDOW) if grep else tail + skip
    raw = client.log(namespace, pod, container=chosen or None, tail=window, previous=previous,
                     limit_bytes=LIMIT_BYTES)
    lines = raw.splitlines()
    if grep:
        pattern = _matcher(grep)
        lines = [line for line in lines if pattern.search(line)]
    matched = len(lines)
    lines = lines[max(0, matched - skip - tail):max(0, matched - skip)]
    what = f"{namespace}/{pod}" + (f" [{chosen}]" if chosen else "") + (" previous" if previous else "")
    data = LogLines(namespace=namespace, pod=pod, container=chosen, previous=previous, matched=matched)
    if not lines:
        return envelope.ok("logs", params, no_data=True, data=data,
                           text=f"No log lines for {what}" + (f" matching {grep!r}" if grep else "") + f" {note}".rstrip())
    head = [f"Logs of {what}, last {len(lines)} lines" + (f" matching {grep!r}" if grep else "")
            + (f" before the newest {skip}" if skip else "") + f" {note}".rstrip() + ":"]
    shown = [_short(line) for line in lines]
    keep = bud.fit_rows(head, list(reversed(shown)), budget)  # newest first when deciding what fits
    keep = max(1, keep)
    omitted = ""
    if keep < len(shown):
        older = len(shown) - keep
        omitted = (f"{older} earlier lines; call "
                   f"{bud.call_hint('logs', params, tail=older, skip=skip + keep)}")
        shown = shown[-keep:]
        head.append(f"[{omitted}]")
    data.lines = shown
    return envelope.ok("logs", params, text="\n".join(head + shown), data=data, omitted=omitted)


__all__ = ["GREP_WINDOW", "LogLines", "logs_tool", "pick_container"]

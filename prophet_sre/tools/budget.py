"""Token budgets for tool output: fit text to a budget by paginating or summarising, never by silent cuts.

Every read tool renders into lines and asks this module which of them fit. Three shapes cover them all:

- `fit_rows`: a table - keep the first rows that fit; the caller says how to get the next page.
- `fit_sections`: a report made of sections (summary, describe) - shorten the longest sections first,
  each shortened one ends with a line saying how many lines it lost and which call shows them.
- `enforce`: the last line of defence on any `ToolResult` - if the text is still over budget it is cut at
  a line boundary and `truncated`/`omitted` say so. Tools are expected never to need it.

Tokens are estimated as characters / 4 (`envelope.estimate_tokens`); `HEADROOM` keeps 5% spare because
that estimate runs slightly low on dense identifier tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prophet_sre.tools.envelope import CHARS_PER_TOKEN, ToolResult, estimate_tokens

DEFAULT_TOKENS = 2000
HEADROOM = 0.95


@dataclass(frozen=True)
class Budget:
    """A per-call budget in estimated tokens (from `Settings.tools.token_budget`)."""

    max_tokens: int = DEFAULT_TOKENS

    @property
    def max_chars(self) -> int:
        return int(self.max_tokens * CHARS_PER_TOKEN * HEADROOM)

    def fits(self, text: str) -> bool:
        return len(text) <= self.max_chars


def fit_rows(head: Sequence[str], rows: Sequence[str], budget: Budget, *, reserve_chars: int = 240) -> int:
    """How many of `rows` fit after the `head` lines, keeping `reserve_chars` for a footer."""
    used = sum(len(line) + 1 for line in head) + reserve_chars
    for i, row in enumerate(rows):
        used += len(row) + 1
        if used > budget.max_chars:
            return i
    return len(rows)


@dataclass
class Section:
    """A titled block of lines that may be shortened from the end, down to `keep` lines."""

    title: str
    lines: list[str] = field(default_factory=list)
    keep: int = 1
    more: str = ""
    """How to see what a shortened section lost, e.g. "events(ref='shop/pod/web-1')"."""
    cap: int | None = None
    """Show at most this many lines even when the budget would allow more (an overview stays short)."""
    shown: int = -1

    def rendered(self) -> list[str]:
        n = len(self.lines) if self.shown < 0 else self.shown
        out = ([self.title] if self.title else []) + self.lines[:n]
        if n < len(self.lines):
            hint = f"; call {self.more}" if self.more else ""
            out.append(f"  ... {len(self.lines) - n} more{hint}")
        return out


def fit_sections(sections: Sequence[Section], budget: Budget) -> tuple[str, list[str]]:
    """Render sections within the budget, shortening the longest first.

    Returns the text and one note per shortened section (for `ToolResult.omitted`).
    """
    for s in sections:
        s.shown = len(s.lines) if s.cap is None else min(len(s.lines), max(s.cap, s.keep))
    while True:
        text = "\n".join(line for s in sections for line in s.rendered())
        if budget.fits(text):
            break
        candidates = [s for s in sections if s.shown > s.keep]
        if not candidates:
            break  # the minimum itself does not fit: `enforce` will cut and say so
        longest = max(candidates, key=lambda s: sum(len(x) for x in s.lines[s.keep:s.shown]))
        over = len(text) - budget.max_chars
        drop, freed = 0, 0
        while longest.shown - drop > longest.keep and freed < over:
            drop += 1
            freed += len(longest.lines[longest.shown - drop]) + 1
        longest.shown -= max(1, drop)
    notes = [f"{len(s.lines) - s.shown} more {s.title.strip().rstrip(':').lower() or 'lines'}"
             + (f" (call {s.more})" if s.more else "") for s in sections if s.shown < len(s.lines)]
    return text, notes


def enforce(result: ToolResult[object], budget: Budget, *, narrow: str = "narrow the query") -> ToolResult[object]:
    """Cut `result.text` at a line boundary if it is over budget, saying what was cut and how to narrow."""
    if budget.fits(result.text):
        result.tokens = estimate_tokens(result.text)
        return result
    limit = max(0, budget.max_chars - 200)
    cut = result.text.rfind("\n", 0, limit)
    cut = cut if cut > 0 else limit
    rest = result.text[cut:].lstrip("\n")
    lost_lines = len(rest.splitlines())
    note = (f"{lost_lines} more lines (~{estimate_tokens(rest)} tokens) over the {budget.max_tokens}-token "
            f"budget; {narrow}")
    text = result.text[:cut] + f"\n[truncated: {note}]"
    omitted = f"{result.omitted}; {note}" if result.omitted else note
    return result.model_copy(update={"text": text, "truncated": True, "omitted": omitted,
                                     "tokens": estimate_tokens(text)})


def call_hint(tool: str, params: Mapping[str, Any], **override: Any) -> str:
    """`tool(k=v, ...)` from the call's non-empty params plus overrides: a next call a model can copy."""
    merged = {**params, **override}
    args = ", ".join(f"{k}={v!r}" for k, v in merged.items()
                     if k in override or v not in (None, (), [], "", 0, False))
    return f"{tool}({args})"


__all__ = ["DEFAULT_TOKENS", "Budget", "Section", "call_hint", "enforce", "fit_rows", "fit_sections"]

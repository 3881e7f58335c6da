"""PromQL written in cluster time, rewritten for a Prometheus that stores samples in wall time.

Prometheus stamps every sample with the wall clock at scrape time. A simulated cluster running at N×
(N cluster seconds per wall second) packs N cluster seconds into each stored wall second, so a query
written in cluster time means something else there: `rate(x[1m])` covers N cluster minutes, and a rate
is per wall second, N times the per-cluster-second rate. `to_wall(promql, scale)` rewrites a query so
that Prometheus answers what was meant. It is a token-level rewrite (strings, comments and label
matchers are never touched) that converts exactly these forms, and nothing else:

- range selectors `x[5m]` and subqueries `expr[5m:30s]` / `expr[5m:]`: every duration is divided by
  the scale, kept to the millisecond (`[1m]` at 50× is `[1200ms]`, never below `1ms`); durations may
  combine units (`1h30m`, `1m500ms`).
- `offset 5m` (and `offset -5m`): the duration, divided the same way.
- `@ <unix seconds>`: an absolute instant on the cluster's clock, moved to the wall instant Prometheus
  stored it at: `wall_now - (cluster_now - t) / scale` (`cluster_now` defaults to `wall_now`: a cluster
  whose clock reads the present). `@ start()` / `@ end()` name the query's own range and stay.
- `rate(...)`, `irate(...)` and `deriv(...)` are per second of the samples' clock: each call becomes
  `(rate(...) / scale)`, per cluster second. The division is inside the query on purpose: ratios of
  rates (`rate(a) / rate(b)`) and `histogram_quantile` over bucket rates are unchanged by it (the
  factors cancel), while comparisons (`rate(x[1m]) > 0.5`), arithmetic with gauges and `clamp_*` see the
  value in the unit the query was written in.
- `predict_linear(v, t)`: `t` is seconds ahead, so it is divided (a number literal is replaced by its
  value, any other expression becomes `(t) / scale`).

Deliberately unchanged: `increase`, `delta`, `idelta`, `changes`, `resets` and every `*_over_time`
(their values are amounts over a window, and the window is converted); gauges and counters read
directly; `time()`, `timestamp()` and the date functions (absolute wall instants, like Prometheus' own
evaluation time). A scale of 1 returns the query byte-identical without looking at it.

A range or offset this module cannot convert (a non-literal duration, which Prometheus 2 rejects as
well) is an `InvalidQuery` saying what to write instead: passing it on unconverted would silently
answer over the wrong window.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Literal

from prophet_sre import errors

TokenKind = Literal["ws", "comment", "string", "duration", "number", "ident", "punct"]

PER_SECOND_FUNCTIONS = frozenset({"rate", "irate", "deriv"})
"""Functions whose value is per second of the samples' clock (function names are case-sensitive)."""
TIME_ARG_FUNCTIONS = {"predict_linear": 1}
"""Functions with a seconds argument (0-based argument index) that is a duration in cluster time."""

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
            "y": 31_536_000_000}
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_SCANNER = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![A-Za-z0-9_]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_:]*)
  | (?P<punct>==|!=|<=|>=|=~|!~|[-+*/%^<>=(){}\[\],:@!])
""", re.X | re.S)


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    pos: int


def tokenize(promql: str) -> list[Token]:
    """Every token of `promql`, whitespace and comments included (joining the texts gives the input back)."""
    out: list[Token] = []
    pos = 0
    while pos < len(promql):
        m = _SCANNER.match(promql, pos)
        if m is None or m.lastgroup is None:
            ch = promql[pos]
            if ch in "\"'`":
                raise errors.InvalidQuery(f"unterminated string starting at character {pos} of the query; "
                                          f"close it with {ch}")
            raise errors.InvalidQuery(f"unexpected character {ch!r} at position {pos} of the query")
        out.append(Token(m.lastgroup, m.group(), pos))  # type: ignore[arg-type]
        pos = m.end()
    return out


def parse_duration_ms(text: str) -> int:
    """A PromQL duration (`5m`, `1h30m`, `250ms`) in milliseconds; `InvalidQuery` when it is not one."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise errors.InvalidQuery(f"{text!r} is not a duration; write it like 30s, 5m or 1h30m")
    return sum(int(n) * _UNIT_MS[u] for n, u in parts)


def format_duration_ms(ms: int) -> str:
    """Milliseconds as the shortest exact PromQL duration of seconds or milliseconds (`6s`, `1200ms`)."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scale_duration(text: str, scale: float) -> str:
    """A cluster-time duration as the wall-time duration at `scale`, to the millisecond (at least 1ms)."""
    ms = parse_duration_ms(text)
    return format_duration_ms(max(1, round(ms / scale)) if ms else 0)


def _num(v: float) -> str:
    return f"{v:.12g}"


@dataclass
class _Wrap:
    """Parentheses around tokens `start..end` (inclusive), `suffix` after the closing one."""

    start: int
    end: int
    suffix: str
    seq: int


class _Rewriter:
    def __init__(self, promql: str, scale: float, cluster_now: float | None, wall_now: float | None) -> None:
        self.promql = promql
        self.scale = scale
        self.cluster_now = cluster_now
        self.wall_now = wall_now
        self.toks = tokenize(promql)
        self.sig = [i for i, t in enumerate(self.toks) if t.kind not in ("ws", "comment")]
        self.replace: dict[int, str] = {}
        self.wraps: list[_Wrap] = []

    # -- navigation over significant tokens ------------------------------------------------------------
    def tok(self, k: int) -> Token | None:
        return self.toks[self.sig[k]] if 0 <= k < len(self.sig) else None

    def is_punct(self, k: int, text: str) -> bool:
        t = self.tok(k)
        return t is not None and t.kind == "punct" and t.text == text

    def closing(self, k: int, open_: str, close: str) -> int:
        """Index (in `sig`) of the bracket closing the one at `k`."""
        depth = 0
        for j in range(k, len(self.sig)):
            if self.is_punct(j, open_):
                depth += 1
            elif self.is_punct(j, close):
                depth -= 1
                if depth == 0:
                    return j
        raise errors.InvalidQuery(f"unbalanced {open_!r} at position {self.toks[self.sig[k]].pos} of the query; "
                                  f"close it with {close!r}")

    def where(self, k: int) -> str:
        t = self.tok(k)
        return f"position {t.pos}" if t is not None else "the end"

    # -- the rewrite ----------------------------------------------------------------------------------------
    def run(self) -> str:
        k = 0
        while k < len(self.sig):
            t = self.tok(k)
            assert t is not None
            if t.kind == "punct" and t.text == "{":
                k = self.closing(k, "{", "}") + 1  # label matchers: names and strings, nothing to convert
                continue
            if t.kind == "punct" and t.text == "[":
                k = self.range_(k)
                continue
            if t.kind == "ident" and t.text.lower() == "offset" and self.offset_(k):
                k += 1
                continue
            if t.kind == "punct" and t.text == "@":
                self.at_(k)
            elif t.kind == "ident" and self.is_punct(k + 1, "("):
                self.call_(k)
            k += 1
        return self.render()

    def range_(self, k: int) -> int:
        """`[d]`, `[d:]` or `[d:r]` starting at `k`; returns the index after `]`."""
        end = self.closing(k, "[", "]")
        inner = list(range(k + 1, end))
        kinds = [self.tok(j).kind if self.tok(j) else "" for j in inner]  # type: ignore[union-attr]
        ok = (kinds == ["duration"] or (len(inner) in (2, 3) and kinds[0] == "duration" and self.is_punct(inner[1], ":")
                                          and (len(inner) == 2 or kinds[2] == "duration")))
        if not ok:
            text = self.promql[self.toks[self.sig[k]].pos:self.toks[self.sig[end]].pos + 1]
            raise errors.InvalidQuery(f"cannot convert the range {text} at {self.where(k)} to wall time: write it "
                                      "as [5m] or, for a subquery, [5m:30s] (literal durations only)")
        for j in inner:
            t = self.tok(j)
            if t is not None and t.kind == "duration":
                self.replace[self.sig[j]] = scale_duration(t.text, self.scale)
        return end + 1

    def offset_(self, k: int) -> bool:
        """`offset [+-]d` at `k` (False when `offset` is a name, e.g. a label in `by (offset)`)."""
        j = k + 1
        if self.is_punct(j, "-") or self.is_punct(j, "+"):
            j += 1
        t = self.tok(j)
        if t is None or t.kind != "duration":
            prev = self.tok(k - 1)
            if prev is not None and (prev.kind == "ident" or prev.text in ("}", "]")) and t is not None \
                    and t.kind == "number":
                raise errors.InvalidQuery(f"cannot convert `offset {t.text}` at {self.where(k)}: write the offset "
                                          "as a duration such as 5m")
            return False
        self.replace[self.sig[j]] = scale_duration(t.text, self.scale)
        return True

    def at_(self, k: int) -> None:
        """`@ t`: an instant on the cluster's clock moved to the wall instant Prometheus stored it at."""
        j, sign = k + 1, 1.0
        if self.is_punct(j, "-") or self.is_punct(j, "+"):
            sign = -1.0 if self.is_punct(j, "-") else 1.0
            j += 1
        t = self.tok(j)
        if t is not None and t.kind == "ident" and t.text in ("start", "end"):
            return  # the query's own range: already Prometheus' time
        if t is None or t.kind != "number":
            raise errors.InvalidQuery(f"the @ modifier at {self.where(k)} needs a unix timestamp, start() or end()")
        wall_now = time.time() if self.wall_now is None else self.wall_now
        cluster_now = wall_now if self.cluster_now is None else self.cluster_now
        instant = sign * float(t.text) if not t.text.lower().startswith("0x") else sign * int(t.text, 16)
        wall = wall_now - (cluster_now - instant) / self.scale
        for i in range(k + 1, j):  # the sign is folded into the converted instant
            self.replace[self.sig[i]] = ""
        self.replace[self.sig[j]] = f"{wall:.3f}"

    def call_(self, k: int) -> None:
        name = self.tok(k).text  # type: ignore[union-attr]
        if name in PER_SECOND_FUNCTIONS:
            close = self.closing(k + 1, "(", ")")
            self.wraps.append(_Wrap(k, close, f" / {_num(self.scale)})", len(self.wraps)))
        elif name in TIME_ARG_FUNCTIONS:
            close = self.closing(k + 1, "(", ")")
            args = self.arguments(k + 1, close)
            index = TIME_ARG_FUNCTIONS[name]
            if index < len(args) and args[index]:
                first, last = args[index][0], args[index][-1]
                t = self.tok(first)
                if first == last and t is not None and t.kind == "number" and not t.text.lower().startswith("0x"):
                    self.replace[self.sig[first]] = _num(float(t.text) / self.scale)
                else:
                    self.wraps.append(_Wrap(first, last, f") / {_num(self.scale)}", len(self.wraps)))

    def arguments(self, open_: int, close: int) -> list[list[int]]:
        """The `sig` indices of each top-level argument between the parentheses at `open_` and `close`."""
        args: list[list[int]] = [[]]
        depth = 0
        for j in range(open_ + 1, close):
            t = self.tok(j)
            assert t is not None
            if t.kind == "punct" and t.text in "([{":
                depth += 1
            elif t.kind == "punct" and t.text in ")]}":
                depth -= 1
            elif t.kind == "punct" and t.text == "," and depth == 0:
                args.append([])
                continue
            args[-1].append(j)
        return args

    def render(self) -> str:
        before: dict[int, list[_Wrap]] = {}
        after: dict[int, list[_Wrap]] = {}
        for w in self.wraps:
            before.setdefault(self.sig[w.start], []).append(w)
            after.setdefault(self.sig[w.end], []).append(w)
        out: list[str] = []
        for i, t in enumerate(self.toks):
            # outermost first when opening, innermost first when closing
            out.extend("(" for _ in before.get(i, ()))
            out.append(self.replace.get(i, t.text))
            for w in sorted(after.get(i, ()), key=lambda w: (-w.start, -w.seq)):
                out.append(w.suffix)
        return "".join(out)


def to_wall(promql: str, scale: float, *, cluster_now: float | None = None, wall_now: float | None = None) -> str:
    """`promql`, written in cluster time, as the query to send a Prometheus storing wall time at `scale`
    cluster seconds per wall second (see the module docstring for the exact forms). `wall_now` (default:
    the clock now) and `cluster_now` (default: `wall_now`), in unix seconds, anchor `@` timestamps;
    scale 1 returns `promql` itself."""
    if scale <= 0:
        raise errors.InvalidInput(f"time scale must be positive (got {scale})")
    if scale == 1:
        return promql
    return _Rewriter(promql, scale, cluster_now, wall_now).run()


__all__ = ["PER_SECOND_FUNCTIONS", "TIME_ARG_FUNCTIONS", "Token", "format_duration_ms", "parse_duration_ms",
           "scale_duration", "to_wall", "tokenize"]

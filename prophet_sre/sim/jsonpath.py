"""The JSONPath subset CRD `additionalPrinterColumns` use, evaluated the way kube-apiserver does.

A real apiserver evaluates a printer column with client-go's `jsonpath` package in "allow missing keys"
mode: a path that does not exist yields no value (an empty cell), never an error. This module follows
that: `evaluate` returns `[]` for missing fields, out-of-range indexes and type mismatches, and raises
`JSONPathError` (a `ValueError`) only when the expression itself cannot be parsed — which is when a real
apiserver would refuse the CRD.

Supported: `.field` (with `\\.` escapes, e.g. `.metadata.labels.app\\.kubernetes\\.io/name`), `['key']`,
`["key"]`, `[N]` (negative counts from the end), `[start:end:step]`, `[*]`, `.*`, `..field` (recursive
descent), unions such as `[0,2]` / `['a','b']`, and filters `[?(@.type=="Ready")]` with `==`, `!=`,
`<`, `<=`, `>`, `>=` or a bare existence test `[?(@.field)]`. An optional `{...}` wrapper and a leading
`$` are accepted, so both the CRD form (`.spec.replicas`) and the kubectl form (`{.spec.replicas}`)
parse.

`render` formats results like client-go's `PrintResults`: strings verbatim, maps and lists as compact
JSON, booleans as `true`/`false`, numbers as Go prints them (`3`, not `3.0`), several results joined by
a space.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from prophet_sre.errors import InvalidInput

__all__ = ["JSONPathError", "compile_path", "evaluate", "format_value", "render"]


class JSONPathError(InvalidInput, ValueError):
    """The expression is not valid JSONPath; the message says where and why."""


# Characters that end a bare field name, as in client-go's parser (plus the filter/bracket syntax).
_TERMINATORS = frozenset(".,[]$@{}() \t\r\n")
_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge,
    "<": operator.lt, ">": operator.gt,
}
_MISSING = object()


# -- steps ----------------------------------------------------------------------------------------
# Each step maps the list of current nodes to the next list of nodes; a node that does not fit the
# step (a list asked for a field, a map asked for an index) simply drops out, like "allow missing keys".

@dataclass(frozen=True, slots=True)
class _Field:
    name: str

    def apply(self, nodes: list[Any]) -> list[Any]:
        if not self.name:  # `.` alone (or `{.}`) is the current node
            return nodes
        out = []
        for node in nodes:
            if isinstance(node, dict):
                value = node.get(self.name, _MISSING)
                if value is not _MISSING:
                    out.append(value)
        return out


@dataclass(frozen=True, slots=True)
class _Wildcard:
    def apply(self, nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if isinstance(node, dict):
                out.extend(node.values())
            elif isinstance(node, list):
                out.extend(node)
        return out


@dataclass(frozen=True, slots=True)
class _Recursive:
    """`..`: the node itself and every node below it, in document order."""

    def apply(self, nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            out.extend(_walk(node))
        return out


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@dataclass(frozen=True, slots=True)
class _Keys:
    keys: tuple[str, ...]

    def apply(self, nodes: list[Any]) -> list[Any]:
        out = []
        for node in nodes:
            if isinstance(node, dict):
                for key in self.keys:
                    value = node.get(key, _MISSING)
                    if value is not _MISSING:
                        out.append(value)
        return out


@dataclass(frozen=True, slots=True)
class _Index:
    index: int

    def apply(self, nodes: list[Any]) -> list[Any]:
        out = []
        for node in nodes:
            if isinstance(node, list):
                i = self.index + len(node) if self.index < 0 else self.index
                if 0 <= i < len(node):
                    out.append(node[i])
        return out


@dataclass(frozen=True, slots=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None

    def apply(self, nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if isinstance(node, list):
                out.extend(node[self.start:self.stop:self.step])
        return out


@dataclass(frozen=True, slots=True)
class _Union:
    parts: tuple[Any, ...]

    def apply(self, nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            for part in self.parts:
                out.extend(part.apply([node]))
        return out


@dataclass(frozen=True, slots=True)
class _Filter:
    left: Path | _Literal
    op: str | None
    right: Path | _Literal | None

    def apply(self, nodes: list[Any]) -> list[Any]:
        out = []
        for node in nodes:
            if not isinstance(node, list):
                continue
            for item in node:
                if self._matches(item):
                    out.append(item)
        return out

    def _matches(self, item: Any) -> bool:
        lefts = self.left.find(item)
        if not lefts:
            return False
        if self.op is None:
            return True
        assert self.right is not None
        rights = self.right.find(item)
        if not rights:
            return False
        return _compare(self.op, lefts[0], rights[0])


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any

    def find(self, _obj: Any) -> list[Any]:
        return [self.value]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, left: Any, right: Any) -> bool:
    """Compare like Go templates do: only like with like (numbers with numbers, strings with strings)."""
    if _is_number(left) and _is_number(right):
        pass
    elif type(left) is not type(right):
        return False
    elif op not in ("==", "!=") and not isinstance(left, str | int | float):
        return False
    try:
        return bool(_COMPARATORS[op](left, right))
    except TypeError:
        return False


@dataclass(frozen=True, slots=True)
class Path:
    """A compiled expression; `find(obj)` returns every value it selects."""

    source: str
    steps: tuple[Any, ...]

    def find(self, obj: Any) -> list[Any]:
        nodes = [obj]
        for step in self.steps:
            nodes = step.apply(nodes)
            if not nodes:
                break
        return nodes


# -- parser ---------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, source: str, text: str, offset: int) -> None:
        self.source = source
        self.text = text
        self.offset = offset  # where `text` starts inside `source`, for error positions
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> JSONPathError:
        at = self.offset + (self.pos if pos is None else pos)
        return JSONPathError(f"invalid JSONPath {self.source!r}: {message} at position {at}")

    def parse(self) -> tuple[Any, ...]:
        text = self.text
        steps: list[Any] = []
        if text[:1] in ("$", "@"):
            self.pos = 1
        elif text and text[0] not in ".[":
            raise self.error("expected the path to start with '.', '[' or '$'")
        while self.pos < len(text):
            ch = text[self.pos]
            if text.startswith("..", self.pos):
                self.pos += 2
                steps.append(_Recursive())
                if self.pos >= len(text):
                    raise self.error("'..' must be followed by a field name, '*' or '['")
                if text[self.pos] == "[":
                    continue
                steps.append(self._field_or_wildcard())
            elif ch == ".":
                self.pos += 1
                steps.append(self._field_or_wildcard())
            elif ch == "[":
                steps.append(self._bracket())
            elif ch.isspace():
                raise self.error("unexpected whitespace")
            else:
                raise self.error(f"unexpected character {ch!r}")
        return tuple(steps)

    def _field_or_wildcard(self) -> Any:
        text = self.text
        if self.pos < len(text) and text[self.pos] == "*":
            self.pos += 1
            return _Wildcard()
        chars: list[str] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= len(text):
                    raise self.error("dangling '\\' escape")
                chars.append(text[self.pos + 1])
                self.pos += 2
                continue
            if ch in _TERMINATORS:
                if ch in "]$@{}(),":
                    raise self.error(f"unexpected {ch!r} in field name")
                break
            if ch in "'\"=!<>?":
                raise self.error(f"unexpected {ch!r} in field name")
            chars.append(ch)
            self.pos += 1
        return _Field("".join(chars))

    def _bracket(self) -> Any:
        start = self.pos
        end = self._matching_bracket(start)
        inner = self.text[start + 1:end].strip()
        self.pos = end + 1
        if not inner:
            raise self.error("empty '[]'", start)
        if inner == "*":
            return _Wildcard()
        if inner.startswith("?"):
            return self._filter(inner, start)
        parts = [self._subscript(p.strip(), start) for p in _split_top(inner, ",")]
        return parts[0] if len(parts) == 1 else _Union(tuple(parts))

    def _matching_bracket(self, start: int) -> int:
        depth = 0
        quote = ""
        i = start
        text = self.text
        while i < len(text):
            ch = text[i]
            if quote:
                if ch == "\\":
                    i += 2
                    continue
                if ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        raise self.error("unterminated '['", start)

    def _subscript(self, part: str, at: int) -> Any:
        if not part:
            raise self.error("empty subscript", at)
        if part[0] in "'\"":
            return _Keys((self._quoted(part, at),))
        if ":" in part:
            pieces = part.split(":")
            if len(pieces) > 3:
                raise self.error(f"bad slice {part!r}", at)
            bounds = [self._int(p, at) if p.strip() else None for p in pieces] + [None] * (3 - len(pieces))
            if bounds[2] == 0:
                raise self.error("slice step cannot be zero", at)
            return _Slice(bounds[0], bounds[1], bounds[2])
        return _Index(self._int(part, at))

    def _int(self, text: str, at: int) -> int:
        try:
            return int(text.strip())
        except ValueError:
            raise self.error(f"expected an integer index, got {text.strip()!r}", at) from None

    def _quoted(self, text: str, at: int) -> str:
        quote = text[0]
        if len(text) < 2 or text[-1] != quote:
            raise self.error(f"unterminated string {text!r}", at)
        body = text[1:-1]
        out: list[str] = []
        i = 0
        while i < len(body):
            ch = body[i]
            if ch == "\\" and i + 1 < len(body):
                out.append(body[i + 1])
                i += 2
                continue
            if ch == quote:
                raise self.error(f"unescaped quote inside {text!r}", at)
            out.append(ch)
            i += 1
        return "".join(out)

    def _filter(self, inner: str, at: int) -> _Filter:
        body = inner[1:].strip()
        if not (body.startswith("(") and body.endswith(")")):
            raise self.error("a filter must look like [?(@.field == value)]", at)
        body = body[1:-1].strip()
        if not body:
            raise self.error("empty filter", at)
        op, left_text, right_text = _split_comparison(body)
        left = self._operand(left_text, at)
        if op is None:
            if isinstance(left, _Literal):
                raise self.error("a filter without an operator must test a '@' path", at)
            return _Filter(left, None, None)
        if not right_text:
            raise self.error(f"missing right-hand side of {op!r}", at)
        return _Filter(left, op, self._operand(right_text, at))

    def _operand(self, text: str, at: int) -> Path | _Literal:
        text = text.strip()
        if not text:
            raise self.error("missing filter operand", at)
        if text[0] == "@":
            steps = _Parser(self.source, text, self.offset + at).parse()
            return Path(text, steps)
        if text[0] in "'\"":
            return _Literal(self._quoted(text, at))
        if text in ("true", "false"):
            return _Literal(text == "true")
        if text == "null":
            return _Literal(None)
        try:
            return _Literal(int(text))
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise self.error(f"cannot understand filter operand {text!r}", at) from None
        if not math.isfinite(number):
            raise self.error(f"cannot understand filter operand {text!r}", at)
        return _Literal(number)


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quotes."""
    parts: list[str] = []
    quote = ""
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _split_comparison(body: str) -> tuple[str | None, str, str]:
    """Find the first comparison operator outside quotes: (op, left, right) or (None, body, "")."""
    quote = ""
    i = 0
    while i < len(body):
        ch = body[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        else:
            for op in ("==", "!=", "<=", ">=", "<", ">"):
                if body.startswith(op, i):
                    return op, body[:i], body[i + len(op):]
            if ch == "=":
                raise JSONPathError(f"invalid JSONPath filter {body!r}: use '==' to compare")
        i += 1
    return None, body, ""


def compile_path(expr: str) -> Path:
    """Parse `expr` (cached: printer columns are evaluated for every row of every list)."""
    if not isinstance(expr, str):
        raise JSONPathError(f"invalid JSONPath {expr!r}: expected a string, got {type(expr).__name__}")
    return _compile(expr)


@lru_cache(maxsize=1024)
def _compile(expr: str) -> Path:
    text = expr.strip()
    offset = len(expr) - len(expr.lstrip())
    if text.startswith("{"):
        if not text.endswith("}"):
            raise JSONPathError(f"invalid JSONPath {expr!r}: unclosed '{{'")
        inner = text[1:-1]
        offset += 1 + len(inner) - len(inner.lstrip())
        text = inner.strip()
    if not text:
        raise JSONPathError(f"invalid JSONPath {expr!r}: empty expression")
    return Path(expr, _Parser(expr, text, offset).parse())


def evaluate(expr: str, obj: dict) -> list[Any]:
    """Every value `expr` selects in `obj` (empty when nothing matches)."""
    return compile_path(expr).find(obj)


# -- output ---------------------------------------------------------------------------------------

def go_number(value: int | float) -> str:
    """Format a number as Go's `fmt.Print` does (`3` for 3.0, `1e+21` for 1e21)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    return text


def _go_json_ready(value: Any) -> Any:
    """Go's encoding/json writes whole floats without `.0`; convert them before dumping."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _go_json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_json_ready(v) for v in value]
    return value


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it: sorted keys, HTML characters escaped."""
    text = json.dumps(_go_json_ready(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def format_value(value: Any) -> str:
    """One result as client-go's jsonpath prints it."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number(value)
    if isinstance(value, dict | list):
        return go_json(value)
    return str(value)


def render(expr: str, obj: dict) -> str:
    """The text `kubectl -o jsonpath=...` would print for `expr`: results joined by single spaces."""
    return " ".join(format_value(v) for v in evaluate(expr, obj))

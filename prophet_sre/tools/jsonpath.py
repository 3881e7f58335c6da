"""The JSONPath subset of `kubectl get -o jsonpath=...`, for checks on any field of any object.

Verification checks (`{object: PATH, jsonpath: EXPR, equals: VALUE}`) name a field the way an SRE would
on the command line, so the expression is kubectl's: `{.spec.replicas}`, `{.items[0].metadata.name}`,
`{.spec.rules[0].backendRefs[?(@.name=="shop-aws")].weight}`, `{.metadata.labels['app\\.kubernetes\\.io/name']}`.

Supported: an optional `{...}` wrapper and leading `$`; `.field` (with `\\.` escapes); `['key']` and
`["key"]`; `[N]` (negative from the end); `[start:end]`; `[*]` and `.*`; `..field` (recursive descent);
filters `[?(@.a.b OP literal)]` with `==`, `!=`, `<`, `<=`, `>`, `>=`, and the existence test
`[?(@.a)]`. Like kubectl's "allow missing keys", a path that does not exist yields no values; only an
expression that cannot be parsed raises (`InvalidInput`, saying where).

`render()` prints results as kubectl does: strings verbatim, numbers without a trailing `.0`, booleans
`true`/`false`, maps and lists as compact JSON, several results joined by a space.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from prophet_sre.errors import InvalidInput

Step = Callable[[list[Any]], list[Any]]
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}
_NAME_END = frozenset(".[]{}()@$ ,=!<>")


def _bad(expr: str, pos: int, why: str) -> InvalidInput:
    return InvalidInput(f"JSONPath {expr!r} at character {pos + 1}: {why} (kubectl syntax, e.g. "
                        "'{.status.conditions[?(@.type==\"Ready\")].status}')")


def _field(name: str) -> Step:
    def step(nodes: list[Any]) -> list[Any]:
        return [n[name] for n in nodes if isinstance(n, dict) and name in n]
    return step


def _wildcard(nodes: list[Any]) -> list[Any]:
    out: list[Any] = []
    for n in nodes:
        out.extend(n.values() if isinstance(n, dict) else n if isinstance(n, list) else ())
    return out


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)


def _recursive(name: str) -> Step:
    def step(nodes: list[Any]) -> list[Any]:
        found = [d for n in nodes for d in _walk(n)]
        return _field(name)(found) if name != "*" else _wildcard(found)
    return step


def _index(i: int) -> Step:
    def step(nodes: list[Any]) -> list[Any]:
        return [n[i] for n in nodes if isinstance(n, list) and -len(n) <= i < len(n)]
    return step


def _slice(start: int | None, end: int | None) -> Step:
    def step(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for n in nodes:
            if isinstance(n, list):
                out.extend(n[start:end])
        return out
    return step


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        same = isinstance(left, bool) and isinstance(right, bool) and left == right
        return same if op == "==" else (not same) if op == "!=" else False
    if isinstance(left, int | float) and isinstance(right, int | float):
        return _OPS[op](left, right)
    if isinstance(left, str) and isinstance(right, str):
        return _OPS[op](left, right)
    return op == "!="  # different types are never equal


def _filter(path: Path, op: str, literal: Any) -> Step:
    def keep(item: Any) -> bool:
        values = path.find(item)
        if not op:
            return bool(values)
        return any(_compare(op, v, literal) for v in values)

    def step(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for n in nodes:
            out.extend(x for x in (n if isinstance(n, list) else [n]) if keep(x))
        return out
    return step


@dataclass(frozen=True)
class Path:
    """A compiled expression: `find(obj)` gives every value it selects (empty when nothing matches)."""

    text: str
    steps: tuple[Step, ...]

    def find(self, obj: Any) -> list[Any]:
        nodes = [obj]
        for step in self.steps:
            nodes = step(nodes)
            if not nodes:
                break
        return nodes


class _Parser:
    def __init__(self, expr: str, body: str, offset: int) -> None:
        self.expr, self.s, self.i, self.offset = expr, body, 0, offset

    def error(self, why: str) -> InvalidInput:
        return _bad(self.expr, self.offset + self.i, why)

    def peek(self, n: int = 1) -> str:
        return self.s[self.i:self.i + n]

    def name(self) -> str:
        out = []
        while self.i < len(self.s) and self.s[self.i] not in _NAME_END:
            if self.s[self.i] == "\\" and self.i + 1 < len(self.s):
                self.i += 1
            out.append(self.s[self.i])
            self.i += 1
        return "".join(out)

    def parse(self, *, stop: str = "") -> tuple[Step, ...]:
        steps: list[Step] = []
        if self.peek() in ("$", "@"):
            self.i += 1
        while self.i < len(self.s) and (not stop or self.s[self.i] not in stop):
            c = self.s[self.i]
            if self.peek(2) == "..":
                self.i += 2
                name = "*" if self.peek() == "*" else self.name()
                if name == "*":
                    self.i += 1
                if not name:
                    raise self.error("'..' needs a field name")
                steps.append(_recursive(name))
            elif c == ".":
                self.i += 1
                if self.peek() == "*":
                    self.i += 1
                    steps.append(_wildcard)
                    continue
                name = self.name()
                if name:
                    steps.append(_field(name))
                elif self.i < len(self.s) and self.s[self.i] not in "[":
                    raise self.error(f"unexpected {self.s[self.i]!r} after '.'")
            elif c == "[":
                steps.append(self.bracket())
            else:
                raise self.error(f"unexpected {c!r}")
        return tuple(steps)

    def bracket(self) -> Step:
        close = self.s.find("]", self.i)
        if self.peek(2) == "[?":
            return self.filter()
        if close < 0:
            raise self.error("'[' without ']'")
        inner = self.s[self.i + 1:close].strip()
        start = self.i
        self.i = close + 1
        if inner == "*":
            return _wildcard
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            return _field(inner[1:-1].replace("\\.", "."))
        try:
            if ":" in inner:
                a, _, b = inner.partition(":")
                return _slice(int(a) if a.strip() else None, int(b.partition(":")[0]) if b.strip() else None)
            return _index(int(inner))
        except ValueError:
            self.i = start
            raise self.error(f"[{inner}] is not an index, a slice, '*', a quoted key or a filter") from None

    def filter(self) -> Step:
        start = self.i
        end = self.s.find(")]", self.i)
        if not self.s.startswith("[?(", self.i) or end < 0:
            raise self.error("a filter is written [?(@.field==\"value\")]")
        body = self.s[self.i + 3:end].strip()
        self.i = end + 2
        bare = _outside_quotes(body)
        op = next((o for o in ("==", "!=", "<=", ">=", "<", ">") if o in bare), "")
        cut = bare.find(op) if op else len(body)
        left, literal_text = body[:cut].strip(), body[cut + len(op):]
        if not left.startswith("@"):
            self.i = start
            raise self.error("a filter compares a field of the current item: @.field")
        sub = _Parser(self.expr, left, self.offset + start + 3)
        path = Path(left, sub.parse())
        literal = _literal(literal_text.strip(), lambda why: _bad(self.expr, start, why)) if op else None
        return _filter(path, op, literal)


def _outside_quotes(text: str) -> str:
    """`text` with quoted parts blanked, so an operator inside a string literal is not taken for one."""
    out, quote = [], ""
    for ch in text:
        if quote:
            out.append(" ")
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def _literal(text: str, error: Callable[[str], InvalidInput]) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise error(f"{text!r} is not a literal (a quoted string, a number, true or false)") from None


@lru_cache(maxsize=256)
def compile_path(expr: str) -> Path:
    """Parse `expr` once (cached); raises InvalidInput saying where it is wrong."""
    text = expr.strip()
    offset = len(expr) - len(expr.lstrip())
    if not text:
        raise _bad(expr, 0, "empty expression")
    if text.startswith("{"):
        if not text.endswith("}") or text.count("{") != 1:
            raise _bad(expr, len(expr) - 1, "only one {...} template is supported, closed by '}'")
        text, offset = text[1:-1].strip(), offset + 1
    if not text or text[0] not in ".[$":
        raise _bad(expr, offset, "a path starts with '.' (e.g. {.spec.replicas})")
    return Path(expr, _Parser(expr, text, offset).parse())


def find(expr: str, obj: Any) -> list[Any]:
    """Every value `expr` selects in `obj` (kubectl's allow-missing-keys mode: [] when nothing matches)."""
    return compile_path(expr).find(obj)


def format_value(value: Any) -> str:
    """One value as kubectl prints it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def render(values: list[Any]) -> str:
    """Several results as kubectl prints them: joined by a space."""
    return " ".join(format_value(v) for v in values)


__all__ = ["Path", "compile_path", "find", "format_value", "render"]

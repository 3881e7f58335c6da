"""The label selector grammar and the label key/value validation of k8s.io/apimachinery.

Split from selectors.py so that module stays about matching. The lexer and parser mirror
`labels/selector.go` token for token, because the error texts (`found ',', expected: ...`,
`unable to parse requirement: ...`) reach users verbatim through kubectl; validation mirrors
`util/validation` (IsQualifiedName, IsValidLabelValue) with the same messages. Nothing here runs at
match time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DOES_NOT_EXIST", "DOUBLE_EQUALS", "EQUALS", "EXISTS", "GREATER_THAN", "IN", "LESS_THAN", "NOT_EQUALS",
    "NOT_IN", "Requirement", "SelectorError", "go_quote", "new_requirement", "parse_int64", "parse_requirements",
]


class SelectorError(ValueError):
    """A selector the apiserver would reject; the message is the apiserver's."""


# ---------------------------------------------------------------------------------------------------
# Validation (k8s.io/apimachinery/pkg/util/validation), used at parse time only.

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_VALUE_FMT = f"({_QNAME_FMT})?"
_VALUE_RE = re.compile(f"^{_VALUE_FMT}$")
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_RE = re.compile(f"^{_DNS1123_FMT}$")
_DNS1123_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_INT_RE = re.compile(r"^[+-]?[0-9]+$")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Same text as validation.RegexError, including its double space before "or".
    ex = "".join(f"{' or ' if i else ''}'{e}', " for i, e in enumerate(examples))
    return f"{msg} (e.g. {ex}regex used for validation is '{fmt}')"


def go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _qualified_name_errors(key: str) -> list[str]:
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part must be no more than 253 characters")
            if not _DNS1123_RE.match(prefix):
                errs.append("prefix part " + _regex_error(_DNS1123_MSG, _DNS1123_FMT, "example.com"))
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QNAME_RE.match(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def _label_value_errors(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _VALUE_RE.match(value):
        errs.append(_regex_error(_VALUE_MSG, _VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _invalid(path: str, value: str, detail: str) -> str:
    """field.Invalid(...).Error(); a nil *field.Path prints as `<nil>`."""
    return f"{path}: Invalid value: {go_quote(value)}: {detail}"


def _go_strings(values: list[str]) -> str:
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


def _aggregate(msgs: list[str]) -> str:
    uniq = list(dict.fromkeys(msgs))
    return uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]"


# ---------------------------------------------------------------------------------------------------
# Requirements

# Operator names as in k8s.io/apimachinery/pkg/selection.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPS = "in, notin, =, ==, !=, gt, lt"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `key op values` term. `values` is sorted, as `sets.String.List()` returns it."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        op = self.operator
        head = ("!" if op == DOES_NOT_EXIST else "") + self.key
        if op in (EXISTS, DOES_NOT_EXIST):
            return head
        sym = {IN: " in ", NOT_IN: " notin ", GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        vals = ",".join(sorted(self.values))
        return f"{head}{sym}({vals})" if op in (IN, NOT_IN) else f"{head}{sym}{vals}"


def new_requirement(key: str, op: str, values: list[str], path: str | None = None) -> Requirement:
    """labels.NewRequirement: validate and build; `path` None means a nil field path."""
    errs: list[str] = []
    kerr = _qualified_name_errors(key)
    if kerr:
        errs.append(_invalid(f"{path}.key" if path else "key", key, "; ".join(kerr)))
    vpath = f"{path}.values" if path else "values"
    if op in (IN, NOT_IN) and not values:
        errs.append(f"{vpath}: Invalid value: []string{{}}: for 'in', 'notin' operators, values set can't be empty")
    elif op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        errs.append(f"{vpath}: Invalid value: {_go_strings(values)}: exact-match compatibility requires one single value")
    elif op in (EXISTS, DOES_NOT_EXIST) and values:
        errs.append(f"{vpath}: Invalid value: {_go_strings(values)}: values set must be empty for exists and does not exist")
    elif op in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(f"{vpath}: Invalid value: {_go_strings(values)}: for 'Gt', 'Lt' operators, exactly one value is required")
        for i, v in enumerate(values):
            if not parse_int64(v)[1]:
                errs.append(_invalid(f"{vpath}[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, v in enumerate(values):
        verr = _label_value_errors(v)
        if verr:
            errs.append(_invalid(f"{vpath}[{i}][{key}]", v, "; ".join(verr)))
    if errs:
        raise SelectorError(_aggregate(errs))
    return Requirement(key, op, tuple(values))


def parse_int64(s: str) -> tuple[int, bool]:
    if not _INT_RE.match(s):
        return 0, False
    n = int(s)
    return n, -(2**63) <= n < 2**63


# --- the label selector string grammar (labels/selector.go's Lexer and Parser) ---------------------

_T_ID, _T_EOS, _T_ERR = "id", "eos", "err"
_SPECIAL = "=!(),><"
_WHITESPACE = " \t\r\n"
_SYMBOLS = {")": ")", ",": ",", "!": "!", "==": "==", "=": "=", ">": ">", "<": "<", "!=": "!=", "(": "("}


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (type, literal); type is a symbol, 'in', 'notin', 'id' or 'eos'."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n or text[i] == "\0":
            out.append((_T_EOS, ""))
            return out
        if text[i] in _SPECIAL:
            # Longest run of special characters that still forms a known symbol.
            best, j = "", i
            while j < n and text[j] in _SPECIAL:
                if text[i:j + 1] in _SYMBOLS:
                    best = text[i:j + 1]
                elif best:
                    break
                j += 1
            out.append((best, best) if best else (_T_ERR, f"error expected: keyword found '{text[i:j]}'"))
            i += len(best) or (j - i)
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE and text[j] != "\0":
            j += 1
        word = text[i:j]
        out.append((word if word in ("in", "notin") else _T_ID, word))
        i = j


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def _at(self, values: bool, advance: bool) -> tuple[str, str]:
        tok, lit = self.items[min(self.pos, len(self.items) - 1)]
        if advance:
            self.pos += 1
        if values and tok in ("in", "notin"):
            tok = _T_ID
        return tok, lit

    def lookahead(self, values: bool = True) -> tuple[str, str]:
        return self._at(values, False)

    def consume(self, values: bool = True) -> tuple[str, str]:
        return self._at(values, True)

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_T_ID, "!"):
                try:
                    reqs.append(self.requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                tok, lit = self.consume()
                if tok == _T_EOS:
                    return reqs
                if tok != ",":
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self.lookahead()
                if tok2 not in (_T_ID, "!"):
                    raise SelectorError(f"found '{lit2}', expected: identifier after ','")
            elif tok == _T_EOS:
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        op = ""
        tok, lit = self.consume()
        if tok == "!":
            op = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _T_ID:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        kerr = _qualified_name_errors(key)
        if kerr:
            raise SelectorError(_invalid("<nil>", key, "; ".join(kerr)))
        if op == DOES_NOT_EXIST:
            return new_requirement(key, op, [])
        if self.lookahead()[0] in (_T_EOS, ","):
            return new_requirement(key, EXISTS, [])
        tok, lit = self.consume(values=False)
        op = {"in": IN, "notin": NOT_IN, "=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS,
              ">": GREATER_THAN, "<": LESS_THAN}.get(tok, "")
        if not op:
            raise SelectorError(f"found '{lit}', expected: {_BINARY_OPS}")
        values = self.set_values() if op in (IN, NOT_IN) else self.exact_value()
        return new_requirement(key, op, sorted(values))

    def set_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok == ")":
            self.consume()
            return {""}
        if tok not in (_T_ID, ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifier_list()
        if self.consume()[0] != ")":
            raise SelectorError(f"found '{lit}', expected: ')'")
        return values

    def identifier_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _T_ID:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == ")":
                    return values
                if tok2 != ",":
                    raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            elif tok == ",":
                if not values:
                    values.add("")  # "(,"
                tok2 = self.lookahead()[0]
                if tok2 == ")":
                    values.add("")  # ",)"
                    return values
                if tok2 == ",":
                    self.consume()
                    values.add("")  # ",,"
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead()[0] in (_T_EOS, ","):
            return {""}
        tok, lit = self.consume()
        if tok == _T_ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_requirements(text: str) -> list[Requirement]:
    """The requirements of a label selector string, in the order written (labels.Parse before sorting)."""
    return _Parser(text).parse()

"""Label and field selectors, parsed and matched the way kube-apiserver does it.

kubectl and client-go send `labelSelector=` and `fieldSelector=` strings on every list and watch, and
controllers hand us `metav1.LabelSelector` objects (Deployment `spec.selector`, NetworkPolicy
`podSelector`, ...). The grammar, the validation and the error texts follow
`k8s.io/apimachinery/pkg/labels` and `.../pkg/fields`, because users see those texts verbatim
(`kubectl get pods -l 'app in (a'` prints the apiserver's message), and because a selector the real
server rejects must be rejected here too.

Both selector types are compiled once into plain tuples; `matches()` then does only dict look-ups and
set membership, since the server filters every object of a list (10,000 pods) through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .selector_syntax import (
    DOES_NOT_EXIST,
    DOUBLE_EQUALS,
    EQUALS,
    EXISTS,
    GREATER_THAN,
    IN,
    NOT_EQUALS,
    NOT_IN,
    Requirement,
    SelectorError,
    go_quote,
    new_requirement,
    parse_int64,
    parse_requirements,
)

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "label_selector_from_dict",
    "parse_field_selector",
    "parse_label_selector",
    "selector_string",
]


# Compiled operator codes, checked in this order in matches().
_C_EQ, _C_NE, _C_EXISTS, _C_NOT_EXISTS, _C_GT, _C_LT = range(6)


class LabelSelector:
    """A parsed label selector: an AND of requirements, sorted by key like apimachinery does."""

    __slots__ = ("_compiled", "_nothing", "requirements")

    def __init__(self, requirements: tuple[Requirement, ...] = (), *, nothing: bool = False) -> None:
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self._nothing = nothing
        compiled: list[tuple[str, int, Any]] = []
        for r in self.requirements:
            op = r.operator
            if op in (IN, EQUALS, DOUBLE_EQUALS):
                compiled.append((r.key, _C_EQ, frozenset(r.values)))
            elif op in (NOT_IN, NOT_EQUALS):
                compiled.append((r.key, _C_NE, frozenset(r.values)))
            elif op == EXISTS:
                compiled.append((r.key, _C_EXISTS, None))
            elif op == DOES_NOT_EXIST:
                compiled.append((r.key, _C_NOT_EXISTS, None))
            else:
                compiled.append((r.key, _C_GT if op == GREATER_THAN else _C_LT, parse_int64(r.values[0])[0]))
        self._compiled = tuple(compiled)

    @classmethod
    def nothing(cls) -> LabelSelector:
        """labels.Nothing(): what apimachinery makes of a nil *LabelSelector (matches no object)."""
        return cls(nothing=True)

    @property
    def empty(self) -> bool:
        """True when the selector has no requirements and therefore matches every object."""
        return not self.requirements and not self._nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        if labels is None:
            labels = {}
        for key, code, arg in self._compiled:
            if code == _C_EQ:
                v = labels.get(key)
                if v is None or v not in arg:
                    return False
            elif code == _C_NE:
                v = labels.get(key)
                if v is not None and v in arg:
                    return False
            elif code == _C_EXISTS:
                if key not in labels:
                    return False
            elif code == _C_NOT_EXISTS:
                if key in labels:
                    return False
            else:
                v = labels.get(key)
                if v is None:
                    return False
                n, ok = parse_int64(v)
                if not ok or not (n > arg if code == _C_GT else n < arg):
                    return False
        return True

    def equality_value(self, key: str) -> str | None:
        """The single value `key` must equal (from `k=v` or `k in (v)`), for index look-ups."""
        for r in self.requirements:
            if r.key == key and r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                return r.values[0]
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"LabelSelector({str(self)!r})" if not self._nothing else "LabelSelector.nothing()"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LabelSelector) and self.requirements == other.requirements
                and self._nothing == other._nothing)

    def __hash__(self) -> int:
        return hash((self.requirements, self._nothing))


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the `labelSelector` query string (`labels.Parse`). Empty text selects everything."""
    if not isinstance(text, str):
        raise SelectorError(f"label selector must be a string, not {type(text).__name__}")
    return LabelSelector(tuple(parse_requirements(text)))


_DICT_OPS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a `metav1.LabelSelector` object (`metav1.LabelSelectorAsSelector`).

    Both None and `{}` give a selector that matches everything, as a NetworkPolicy `podSelector: {}`
    does. (apimachinery turns a nil pointer into "matches nothing"; callers that need that, such as a
    PodDisruptionBudget without selector, use `LabelSelector.nothing()` themselves.)
    """
    if sel is None:
        return LabelSelector()
    if not isinstance(sel, Mapping):
        raise SelectorError(f"label selector must be an object, not {type(sel).__name__}")
    reqs: list[Requirement] = []
    match_labels = sel.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be an object")
    for k, v in match_labels.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise SelectorError(f"matchLabels values must be strings: {k!r}: {v!r}")
        reqs.append(new_requirement(k, EQUALS, [v]))
    exprs = sel.get("matchExpressions") or []
    if not isinstance(exprs, list):
        raise SelectorError("matchExpressions must be a list")
    for expr in exprs:
        if not isinstance(expr, Mapping):
            raise SelectorError("matchExpressions entries must be objects")
        operator = expr.get("operator")
        op = _DICT_OPS.get(operator) if isinstance(operator, str) else None
        if op is None:
            raise SelectorError(f"{go_quote(str(operator or ''))} is not a valid label selector operator")
        key, values = expr.get("key", ""), expr.get("values") or []
        if not isinstance(key, str) or not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SelectorError("matchExpressions key must be a string and values a list of strings")
        reqs.append(new_requirement(key, op, list(values)))
    return LabelSelector(tuple(reqs))


def selector_string(sel: Mapping[str, Any] | None) -> str:
    """The canonical string of a metav1.LabelSelector, e.g. for the `/scale` status.selector."""
    return str(label_selector_from_dict(sel))


# ---------------------------------------------------------------------------------------------------
# Field selectors (k8s.io/apimachinery/pkg/fields)

# Fields the apiserver derives with a fallback rather than reading one path, and typed fields whose
# zero value the apiserver formats even when the JSON omits them (e.g. strconv.FormatBool(false)).
_DERIVED_FIELDS = {
    "source": (("source", "component"), ("reportingComponent",)),  # core/v1 Event
}
_ZERO_VALUES = {
    "spec.hostNetwork": "false",       # Pod
    "spec.unschedulable": "false",     # Node
    "status.successful": "0",          # Job
    "status.replicas": "0",            # ReplicaSet, ReplicationController
}


def _escape_field_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(s: str) -> str:
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    slash = False
    for c in s:
        if slash:
            if c not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            slash = False
        elif c == "\\":
            slash = True
        elif c in ",=":
            # fields.UnescapedRune formats the rune with %v, i.e. as its code point.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start, slash = 0, False
    for i, c in enumerate(text):
        if slash:
            slash = False
        elif c == "\\":
            slash = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _field_string(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class FieldSelector:
    """A parsed field selector: an AND of `path=value` / `path!=value` terms."""

    __slots__ = ("_compiled", "requirements")

    def __init__(self, requirements: tuple[tuple[str, str, str], ...] = ()) -> None:
        self.requirements = requirements  # (field, "=" or "!=", unescaped value)
        compiled = []
        for fld, op, value in requirements:
            getters = _DERIVED_FIELDS.get(fld) or (tuple(fld.split(".")),)
            compiled.append((getters, _ZERO_VALUES.get(fld, ""), op == "!=", value))
        self._compiled = tuple(compiled)

    @property
    def fields(self) -> set[str]:
        """The field paths used, so the caller can reject the unsupported ones."""
        return {f for f, _, _ in self.requirements}

    @property
    def empty(self) -> bool:
        return not self.requirements

    def value_of(self, obj: Mapping[str, Any], fld: str) -> str:
        """The string the apiserver compares for `fld` of `obj` (missing fields are "")."""
        getters = _DERIVED_FIELDS.get(fld) or (tuple(fld.split(".")),)
        return self._resolve(obj, getters, _ZERO_VALUES.get(fld, ""))

    @staticmethod
    def _resolve(obj: Any, getters: tuple[tuple[str, ...], ...], zero: str) -> str:
        for path in getters:
            cur = obj
            for part in path:
                if not isinstance(cur, dict):
                    cur = None
                    break
                cur = cur.get(part)
            s = _field_string(cur)
            if s:
                return s
        return zero

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for getters, zero, negate, value in self._compiled:
            if (self._resolve(obj, getters, zero) == value) == negate:
                return False
        return True

    def equality_value(self, fld: str) -> str | None:
        for f, op, v in self.requirements:
            if f == fld and op == "=":
                return v
        return None

    def __str__(self) -> str:
        return ",".join(f"{f}{op}{_escape_field_value(v)}" for f, op, v in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSelector) and self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(self.requirements)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse the `fieldSelector` query string (`fields.ParseSelector`). Empty text selects everything.

    Whitespace is not trimmed (the apiserver does not trim it either), `==` means `=`, and `\\,`,
    `\\=`, `\\\\` escape those characters in values.
    """
    if not isinstance(text, str):
        raise SelectorError(f"field selector must be a string, not {type(text).__name__}")
    reqs: list[tuple[str, str, str]] = []
    for part in _split_terms(text) if text else []:
        if not part:
            continue
        for i in range(len(part)):
            op = next((o for o in ("!=", "==", "=") if part.startswith(o, i)), None)
            if op:
                lhs, rhs = part[:i], part[i + len(op):]
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        if "\\" in lhs:  # field labels are plain dotted paths; an escape there can only be junk
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        reqs.append((lhs, "!=" if op == "!=" else "=", _unescape_field_value(rhs)))
    return FieldSelector(tuple(sorted(reqs)))

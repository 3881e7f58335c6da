"""Label selectors in their string form (`app=web,tier!=db,env in (prod,staging),!canary`), checked early.

A trigger's `selector` is passed to the API server as `labelSelector`, so the server does the matching
exactly as `kubectl get -l` does. This module only validates the text when the watch is built, so a
typo in a policy is a `ConfigError` naming the bad term at startup rather than a failing list call on
every poll, and `match` evaluates a parsed selector against a labels map where a caller already holds
the object.

Grammar (the apimachinery one): terms separated by commas; a term is `key`, `!key`, `key=value`,
`key==value`, `key!=value`, `key in (v1,v2)` or `key notin (v1,v2)`. Keys are an optional DNS
subdomain prefix and `/`, then a name of up to 63 characters; values are empty or up to 63 characters
of alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from prophet_sre.errors import ConfigError

Op = Literal["exists", "!", "=", "!=", "in", "notin"]
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_VALUE = re.compile(rf"^({_NAME})?$")
_SET = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQ = re.compile(r"^(?P<key>[^=!\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>\S*)$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Op
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # != and notin


def _split(text: str) -> list[str]:
    """Top-level comma split (commas inside `( )` belong to a set)."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [t.strip() for t in out]


def _key(key: str, term: str, where: str) -> str:
    if not _KEY.match(key):
        raise ConfigError(f"{where}: invalid label key {key!r} in {term!r} (expected [prefix/]name, name up to 63 "
                          "alphanumerics, '-', '_' or '.')")
    return key


def _value(value: str, term: str, where: str) -> str:
    if not _VALUE.match(value):
        raise ConfigError(f"{where}: invalid label value {value!r} in {term!r} (up to 63 alphanumerics, '-', "
                          "'_' or '.', starting and ending alphanumeric)")
    return value


def parse(text: str, where: str = "trigger.selector") -> tuple[Requirement, ...]:
    """The requirements of a selector string; "" is the empty selector (matches everything)."""
    if not text.strip():
        return ()
    if text.count("(") != text.count(")"):
        raise ConfigError(f"{where}: unbalanced parentheses in {text!r}")
    out: list[Requirement] = []
    for term in _split(text):
        if not term:
            raise ConfigError(f"{where}: empty term in {text!r} (a stray comma?)")
        if m := _SET.match(term):
            values = tuple(v.strip() for v in m["values"].split(","))
            if values == ("",):
                raise ConfigError(f"{where}: {term!r} needs at least one value")
            out.append(Requirement(_key(m["key"], term, where), m["op"],  # type: ignore[arg-type]
                                   tuple(_value(v, term, where) for v in values)))
        elif m := _EQ.match(term):
            op: Op = "!=" if m["op"] == "!=" else "="
            out.append(Requirement(_key(m["key"], term, where), op, (_value(m["value"], term, where),)))
        elif term.startswith("!"):
            out.append(Requirement(_key(term[1:].strip(), term, where), "!"))
        elif " " not in term:
            out.append(Requirement(_key(term, term, where), "exists"))
        else:
            raise ConfigError(f"{where}: cannot parse {term!r} (expected key, !key, key=value, key!=value, "
                              "key in (a,b) or key notin (a,b))")
    return tuple(out)


def match(requirements: tuple[Requirement, ...], labels: dict[str, str]) -> bool:
    return all(r.matches(labels) for r in requirements)


__all__ = ["Requirement", "match", "parse"]

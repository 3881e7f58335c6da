"""The Prometheus text exposition format (version 0.0.4), written by hand.

A family's `# HELP` and `# TYPE` come once, followed by all of its samples, in the order families were
first declared; samples carry no timestamps (Prometheus stamps them at scrape time, which is what we
want: sim time is not wall time). Collectors may add lines to a family from several places (each pod
adds its own lines), and may pass pre-rendered lines they cache between scrapes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LabelPairs = Mapping[str, object] | Iterable[tuple[str, object]]


def escape(value: object) -> str:
    text = str(value)
    if "\\" in text or '"' in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return text


def fmt_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def sample(name: str, labels: LabelPairs, value: float) -> str:
    """One sample line: `name{a="x",b="y"} value`."""
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    body = ",".join(f'{k}="{escape(v)}"' for k, v in pairs)
    return f"{name}{{{body}}} {fmt_value(value)}" if body else f"{name} {fmt_value(value)}"


class Family:
    __slots__ = ("help", "lines", "name", "type")

    def __init__(self, name: str, type_: str, help_: str) -> None:
        self.name = name
        self.type = type_
        self.help = help_
        self.lines: list[str] = []

    def add(self, labels: LabelPairs, value: float, suffix: str = "") -> None:
        self.lines.append(sample(self.name + suffix, labels, value))


class Exposition:
    """Families in declaration order; `render()` gives the scrape body."""

    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def family(self, name: str, type_: str, help_: str) -> Family:
        fam = self._families.get(name)
        if fam is None:
            fam = self._families[name] = Family(name, type_, help_)
        return fam

    def extend(self, name: str, lines: Iterable[str]) -> None:
        """Add pre-rendered lines to a family declared earlier."""
        self._families[name].lines.extend(lines)

    def render(self) -> str:
        out: list[str] = []
        for fam in self._families.values():
            if not fam.lines:
                continue
            out.append(f"# HELP {fam.name} {fam.help}")
            out.append(f"# TYPE {fam.name} {fam.type}")
            out.extend(fam.lines)
        out.append("")
        return "\n".join(out)

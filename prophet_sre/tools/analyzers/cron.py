"""Standard cron schedule validation with the error texts of the Go parser K8sGPT reports.

K8sGPT's CronJob analyzer validates `spec.schedule` with the standard five-field cron parser of the
Go `robfig/cron` library and prints its error after `has an invalid schedule: `. This validator accepts
what that parser accepts (five fields; `*`, `?`, ranges, steps, lists, month and weekday names; the
`@yearly`-style descriptors and `@every <duration>`; a `TZ=`/`CRON_TZ=` prefix) and words its errors
the same way, so our findings match K8sGPT's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_GO_DURATION = re.compile(r"^[+-]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (_Bounds(0, 59, {}), _Bounds(0, 23, {}), _Bounds(1, 31, {}), _Bounds(1, 12, _MONTHS),
           _Bounds(0, 6, _DAYS))


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_int(expr: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", expr):
        raise ValueError(f"failed to parse int from {expr}: strconv.Atoi: parsing {_go_quote(expr)}: invalid syntax")
    value = int(expr)
    if abs(value) > 2**63 - 1:
        raise ValueError(f"failed to parse int from {expr}: strconv.Atoi: parsing {_go_quote(expr)}: "
                         "value out of range")
    if value < 0:
        raise ValueError(f"negative number ({value}) not allowed: {expr}")
    return value


def _int_or_name(expr: str, names: dict[str, int]) -> int:
    if names and expr.lower() in names:
        return names[expr.lower()]
    return _parse_int(expr)


def _range(expr: str, b: _Bounds) -> None:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    if low_high[0] in ("*", "?"):
        start, end = b.low, b.high
    else:
        start = _int_or_name(low_high[0], b.names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], b.names)
        else:
            raise ValueError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _parse_int(range_and_step[1])
        if single:
            end = b.high
    else:
        raise ValueError(f"too many slashes: {expr}")
    if start < b.low:
        raise ValueError(f"beginning of range ({start}) below minimum ({b.low}): {expr}")
    if end > b.high:
        raise ValueError(f"end of range ({end}) above maximum ({b.high}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ValueError(f"step of range should be a positive number: {expr}")


def schedule_error(schedule: str) -> str | None:
    """None when `schedule` is a valid standard cron schedule, else the parser's error text."""
    spec = schedule
    if not spec:
        return "empty spec string"
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, rest = spec.partition(" ")
        zone = head.split("=", 1)[1]
        if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", zone or "?"):
            return f"provided bad location {zone}: unknown time zone {zone}"
        spec = rest.strip()
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            dur = spec[len("@every "):]
            return None if _GO_DURATION.match(dur) else \
                f"failed to parse duration {spec}: time: invalid duration {_go_quote(dur)}"
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for field, bounds in zip(fields, _FIELDS, strict=True):
        for part in [p for p in field.split(",") if p]:
            try:
                _range(part, bounds)
            except ValueError as e:
                return str(e)
    return None


__all__ = ["schedule_error"]

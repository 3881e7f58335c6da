"""Cron schedules as Kubernetes reads them (robfig/cron's standard parser), on any clock.

Five fields (minute hour day-of-month month day-of-week) with `*`, `?`, lists, ranges, steps and
month/day names, or a descriptor (`@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`,
`@yearly`/`@annually`, `@every <duration>`). Errors carry robfig's texts, because the apiserver puts
them verbatim into `spec.schedule: Invalid value: "bad": expected exactly 5 fields, found 1: [bad]`.
Day matching is vixie cron's: when both day fields are restricted, either may match.

A neutral module because two sides need the same reading of a schedule: the simulator's CronJob
controller and validation, and Prophet's `schedule` trigger (which must not import the simulator).
Pure: no I/O, no clock of its own - callers pass "now" (the cluster's clock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_BOUNDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}),
           (1, 12, {m: i + 1 for i, m in enumerate(
               ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}),
           (0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}))
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_SEARCH_YEARS = 5


class CronError(ValueError):
    """A schedule robfig/cron refuses; str() is its message."""


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _field(expr: str, lo: int, hi: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    """One field: (allowed values, whether it is unrestricted - robfig's star bit)."""
    values: set[int] = set()
    star = False
    for part in expr.split(","):
        range_step = part.split("/")
        if len(range_step) > 2:
            raise CronError(f"too many slashes: {part}")
        bounds = range_step[0].split("-")
        if range_step[0] in ("*", "?"):
            start, end, extra = lo, hi, True
        else:
            if len(bounds) > 2:
                raise CronError(f"too many hyphens: {part}")
            start = _number(bounds[0], names)
            end = _number(bounds[1], names) if len(bounds) == 2 else start
            extra = False
        step = 1
        if len(range_step) == 2:
            step = _number(range_step[1], {})
            if len(bounds) == 1 and range_step[0] not in ("*", "?"):
                end = hi
            if step > 1:
                extra = False
        if start < lo:
            raise CronError(f"beginning of range ({start}) below minimum ({lo}): {part}")
        if end > hi:
            raise CronError(f"end of range ({end}) above maximum ({hi}): {part}")
        if start > end:
            raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {part}")
        if step == 0:
            raise CronError(f"step of range should be a positive number: {part}")
        values.update(range(start, end + 1, step))
        star = star or extra
    return frozenset(values), star


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    dom: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    dow: frozenset[int] = frozenset()
    dom_star: bool = False
    dow_star: bool = False
    every_s: float = 0.0
    """`@every`: a constant delay instead of the fields."""

    def _day_ok(self, t: datetime) -> bool:
        dom_ok = t.day in self.dom
        dow_ok = (t.weekday() + 1) % 7 in self.dow
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next(self, after: datetime, tz: tzinfo = UTC) -> datetime | None:
        """The first activation strictly after `after` (an aware datetime), in UTC."""
        if self.every_s:
            return (after + timedelta(seconds=self.every_s)).replace(microsecond=0)
        t = after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        limit = t.year + MAX_SEARCH_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                t = datetime(t.year + (t.month == 12), t.month % 12 + 1, 1)
            elif not self._day_ok(t):
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = datetime(t.year, t.month, t.day, t.hour) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t.replace(tzinfo=tz).astimezone(UTC)
        return None

    def prev(self, at: datetime, tz: tzinfo = UTC) -> datetime | None:
        """The last activation at or before `at`, in UTC (fields only)."""
        t = at.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
        limit = t.year - MAX_SEARCH_YEARS
        while t.year >= limit:
            if t.month not in self.months:
                t = datetime(t.year, t.month, 1) - timedelta(minutes=1)
            elif not self._day_ok(t):
                t = datetime(t.year, t.month, t.day) - timedelta(minutes=1)
            elif t.hour not in self.hours:
                t = datetime(t.year, t.month, t.day, t.hour) - timedelta(minutes=1)
            elif t.minute not in self.minutes:
                t -= timedelta(minutes=1)
            else:
                return t.replace(tzinfo=tz).astimezone(UTC)
        return None

    def most_recent(self, earliest: datetime, now: datetime, tz: tzinfo = UTC) -> tuple[datetime | None, int]:
        """(the latest activation in (earliest, now], how many there were - counted up to 101)."""
        first = self.next(earliest, tz)
        if first is None or first > now:
            return None, 0
        count, t = 1, first
        while count <= 100:
            nxt = self.next(t, tz)
            if nxt is None or nxt > now:
                return t, count
            t, count = nxt, count + 1
        if self.every_s:
            steps = int((now - first).total_seconds() // self.every_s)
            return first + timedelta(seconds=steps * self.every_s), count
        return self.prev(now, tz), count


def parse_duration(text: str) -> float:
    """Go's `time.ParseDuration` for the positive durations `@every` takes."""
    pos, total = 0, 0.0
    for m in _GO_DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise CronError(f'failed to parse duration {text}: time: invalid duration "{text}"')
    return total


def parse(spec: str) -> Schedule:
    """`cron.ParseStandard`; raises CronError with robfig's message."""
    text = spec.strip()
    if not text:
        raise CronError("empty spec string")
    if text.startswith("@"):
        if text.startswith("@every "):
            seconds = parse_duration(text[len("@every "):].strip())
            return Schedule(every_s=max(float(int(seconds)), 1.0))
        if text not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_field(f, lo, hi, names) for f, (lo, hi, names) in zip(fields, _BOUNDS, strict=True)]
    return Schedule(minutes=parsed[0][0], hours=parsed[1][0], dom=parsed[2][0], months=parsed[3][0],
                    dow=parsed[4][0], dom_star=parsed[2][1], dow_star=parsed[4][1])


def schedule_error(spec: str) -> str:
    """The validation message for an unparseable schedule, or "" when it parses."""
    if "TZ=" in spec:
        return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    try:
        parse(spec)
    except CronError as e:
        return str(e)
    return ""


def time_zone(name: str | None) -> tzinfo | None:
    """The IANA zone of `spec.timeZone` (UTC when unset); None when unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


__all__ = ["MAX_SEARCH_YEARS", "CronError", "Schedule", "parse", "parse_duration", "schedule_error", "time_zone"]

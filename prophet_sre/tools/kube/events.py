"""The `events` read tool: events of one object or a namespace, de-duplicated, newest first.

A crash-looping pod emits the same BackOff event every few seconds and kubelets repeat pull failures:
a raw event list is mostly repetition. Events are grouped by (type, reason, message) with their
occurrences summed (`count`, or `series.count` for events.k8s.io-style series), then sorted by the
last time each group was seen. Time windows (`since`) are measured on the cluster's clock
(`KubeClient.cluster_now`), not this machine's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.domain import ResourceRef
from prophet_sre.errors import ToolError
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient


class EventGroup(BaseModel):
    """Occurrences of one (type, reason, message)."""

    type: str
    reason: str
    message: str
    count: int
    first: datetime | None = None
    last: datetime | None = None
    objects: list[str] = Field(default_factory=list)
    """Up to five `ns/kind/name` of the objects it was reported on."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_since(since: float | int | str | None) -> float | None:
    """Seconds from `3600`, `"90s"`, `"30m"`, `"1h"`, `"2d"`; None means no window."""
    if since is None or since == "":
        return None
    if isinstance(since, int | float):
        return float(since)
    m = _DURATION.match(since)
    if not m:
        raise ToolError(f"since={since!r}: expected seconds or a duration like 30m, 1h, 2d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def event_times(ev: Any) -> tuple[datetime | None, datetime | None]:
    """(first, last) seen, from whichever of the core/v1 and events.k8s.io fields the event has."""
    created = o.parse_time(o.dig(ev, "metadata", "creationTimestamp"))
    event_time = o.parse_time(ev.get("eventTime")) if isinstance(ev, dict) else None
    last = (o.parse_time(o.dig(ev, "series", "lastObservedTime")) or o.parse_time(o.dig(ev, "lastTimestamp"))
            or event_time or created)
    first = o.parse_time(o.dig(ev, "firstTimestamp")) or event_time or created or last
    return first, last


def occurrences(ev: Any) -> int:
    return max(1, o.num(o.dig(ev, "series", "count")) or o.num(o.dig(ev, "count")) or 1)


def involved(ev: Any) -> str:
    inv = o.mapping(o.dig(ev, "involvedObject")) or o.mapping(o.dig(ev, "regarding"))
    return f"{o.text(inv.get('namespace'))}/{o.text(inv.get('kind')).lower()}/{o.text(inv.get('name'))}"


def group_events(events: Iterable[dict[str, Any]], *, types: Sequence[str] = (), reasons: Sequence[str] = (),
                 not_before: datetime | None = None) -> list[EventGroup]:
    """Filter, group by (type, reason, message) and sort newest first."""
    want_types = {t.lower() for t in types}
    want_reasons = {r.lower() for r in reasons}
    groups: dict[tuple[str, str, str], EventGroup] = {}
    for ev in events:
        typ, reason = o.text(ev.get("type")) or "Normal", o.text(ev.get("reason"))
        if want_types and typ.lower() not in want_types or want_reasons and reason.lower() not in want_reasons:
            continue
        first, last = event_times(ev)
        if not_before is not None and (last is None or last < not_before):
            continue
        message = o.text(ev.get("message")) or o.text(ev.get("note"))
        key = (typ, reason, message)
        g = groups.get(key)
        if g is None:
            g = groups[key] = EventGroup(type=typ, reason=reason, message=message, count=0, first=first, last=last)
        g.count += occurrences(ev)
        if first is not None and (g.first is None or first < g.first):
            g.first = first
        if last is not None and (g.last is None or last > g.last):
            g.last = last
        obj = involved(ev)
        if obj not in g.objects and len(g.objects) < 5:
            g.objects.append(obj)
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(groups.values(), key=lambda g: g.last or floor, reverse=True)


def render(groups: Sequence[EventGroup], now: datetime, *, show_object: bool = True) -> list[str]:
    """One line per group: `3m ago Warning BackOff (x12) shop/pod/web-1: Back-off restarting ...`."""
    lines = []
    for g in groups:
        where = ""
        if show_object and g.objects:
            extra = len(g.objects) - 2
            where = " " + ",".join(g.objects[:2])
            if extra > 0:  # `objects` keeps five at most: five means "maybe more"
                where += f" (+{extra} or more)" if len(g.objects) >= 5 else f" (+{extra} more)"
        times = f" (x{g.count})" if g.count > 1 else ""
        lines.append(f"{o.age(g.last, now)} ago {g.type} {g.reason}{times}{where}: {g.message}")
    return lines


def fetch(client: KubeClient, *, ref: ResourceRef | None = None, namespace: str | None = None,
          types: Sequence[str] = (), reasons: Sequence[str] = ()) -> list[dict[str, Any]]:
    """List events with as much filtering as the server can do (field selectors)."""
    fields: list[str] = []
    ns = namespace
    if ref is not None:
        fields += [f"involvedObject.name={ref.name}", f"involvedObject.kind={ref.kind}"]
        ns = ref.namespace or None
    if len(types) == 1:
        fields.append(f"type={types[0]}")
    if len(reasons) == 1:
        fields.append(f"reason={reasons[0]}")
    return client.list("events", ns, field_selector=",".join(fields))


def events_tool(client: KubeClient, budget: bud.Budget, *, ref: ResourceRef | None = None,
                namespace: str | None = None, types: Sequence[str] = (), reasons: Sequence[str] = (),
                since: float | str | None = None, offset: int = 0,
                params: dict[str, Any]) -> envelope.ToolResult[Any]:
    window = parse_since(since)
    now = client.cluster_now()
    not_before = now - timedelta(seconds=window) if window is not None else None
    groups = group_events(fetch(client, ref=ref, namespace=namespace, types=types, reasons=reasons),
                          types=types, reasons=reasons, not_before=not_before)
    scope = str(ref) if ref else (f"namespace {namespace}" if namespace else "all namespaces")
    if len(groups) <= offset:
        return envelope.ok("events", params, no_data=True, data=[],
                           text=f"No events for {scope}" + (f" in the last {since}" if since else "")
                           + (f" after the first {offset} groups" if offset else ""))
    page = groups[offset:]
    head = [f"Events for {scope}, newest first ({len(groups)} distinct, "
            f"{sum(g.count for g in groups)} occurrences)" + (f", from #{offset + 1}:" if offset else ":")]
    lines = render(page, now, show_object=ref is None)
    n = max(1, bud.fit_rows(head, lines, budget))
    omitted = ""
    if n < len(page):
        omitted = f"{len(page) - n} older event groups; call {bud.call_hint('events', params, offset=offset + n)}"
        lines = lines[:n] + [f"[{omitted}]"]
    return envelope.ok("events", params, text="\n".join(head + lines), data=page[:n], omitted=omitted)


__all__ = ["EventGroup", "event_times", "events_tool", "fetch", "group_events", "involved", "occurrences",
           "parse_since", "render"]

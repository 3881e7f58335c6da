"""The Prometheus tool: PromQL over the HTTP API, answered as compact, bounded text.

`PrometheusTool(url)` wraps `prometheus-api-client` (the one place that library is imported) with its
retries disabled: the library's default retries three times with back-off, so a dead server took ~6 s
to report; a tool call must fail fast and let the graph degrade. Failures are translated once, here:
unreachable or 5xx -> `ToolUnavailable`, bad PromQL (HTTP 400/422) -> `InvalidQuery` carrying
Prometheus's own message (a model can fix its query from it), 401/403 -> `Forbidden`, 404 -> `NotFound`.

Results are never raw dumps. An instant vector is sorted by value, the labels every series shares are
printed once, each row keeps only the labels that differ, and only the top series that fit the token
budget are shown - the footer says how many were left out and how to narrow the query. A range query is
summarised per series (last, min, max, mean, and a short trend).

`query()` / `query_range()` return those bounded envelopes (what a model reads); `instant()` /
`series()` return typed values and raise (what programs such as the anomaly detector use).

The client is injectable (`client=`), the transport seam tests use instead of patching the library.

Cluster time. Every query and window a caller gives is in cluster time; `time_scale` (cluster seconds
per wall second of the stored samples, `PrometheusSettings.time_scale`: 1 on a real cluster, the speed
of a simulated one) is applied here and nowhere else. Queries go through
`promql_time.to_wall` (range, subquery and offset durations divided, `@` instants moved, per-second
functions per cluster second; see that module). Instants stay Prometheus' own (wall) time: `instant(at=)`
and a range's `end`. Durations are cluster seconds: a range's span `end - start` and `step_s` are
divided by the scale, and the points come back on that compressed axis (`end + (t - end) * scale`), so
a caller that splits them by cluster-second windows before `end` (the anomaly detector's `Windows`)
gets what it meant. Envelopes show the query as it was written. At scale 1 nothing changes.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import requests
from prometheus_api_client import PrometheusApiClientException
from urllib3.util import Retry

from prophet_sre import errors
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope, promql_time
from prophet_sre.tools.kube.usage import PodUsage

if TYPE_CHECKING:
    from prophet_sre.config import Settings

Result = envelope.ToolResult[Any]
DEFAULT_TIMEOUT_S = 5.0
"""Per request. Prometheus answers typical dashboard queries in milliseconds; five seconds is long
enough for a heavy range query and short enough that a hung server does not stall a diagnosis."""
TREND_POINTS = 12
"""How many values a range summary's trend shows: enough to see a step or a ramp, cheap in tokens."""


class PromClient(Protocol):
    """The slice of `prometheus_api_client.PrometheusConnect` we use (the transport seam)."""

    def custom_query(self, query: str, params: dict[str, Any] | None = None) -> Any: ...

    def custom_query_range(self, query: str, start_time: datetime, end_time: datetime, step: str,
                           params: dict[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector (a scalar result is one Sample with no labels)."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query; `points` are (unix seconds, value), NaN and ±Inf already dropped."""

    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]


def fmt_num(v: float) -> str:
    """A value in at most ~4 significant digits (PromQL results are rates and ratios, not ledgers)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    if abs(v) >= 1e6 or abs(v) < 1e-3:
        return f"{v:.3g}"
    return f"{v:.4g}"


def _float(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _labels_text(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def split_common(series: Sequence[Mapping[str, str]]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(labels all series share, each series' remaining labels): the label summarisation of a result."""
    if len(series) < 2:
        return {}, [dict(s) for s in series]
    common = dict(series[0])
    for s in series[1:]:
        common = {k: v for k, v in common.items() if s.get(k) == v}
    return common, [{k: v for k, v in s.items() if k not in common} for s in series]


_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.S)


def _prom_error(exc: PrometheusApiClientException) -> tuple[int, str]:
    """(HTTP status, Prometheus's `error` text) from the client's exception message."""
    m = _STATUS.match(str(exc))
    if not m:
        return 0, str(exc)[:300]
    status, raw = int(m.group(1)), m.group(2)
    try:
        body = ast.literal_eval(raw)
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    except (ValueError, SyntaxError):
        text = raw
    try:
        payload = json.loads(text)
        text = str(payload.get("error") or text) if isinstance(payload, dict) else text
    except ValueError:
        pass
    return status, text[:300]


class PrometheusTool:
    """PromQL against one Prometheus server; `query*` return envelopes, `instant`/`series` raise."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, budget: bud.Budget | None = None,
                 client: PromClient | None = None, verify_tls: bool = True, time_scale: float = 1.0,
                 cluster_clock: Callable[[], float] | None = None) -> None:
        """`time_scale`: cluster seconds per wall second of the stored samples (see the module doc);
        `cluster_clock`: the cluster's "now" in unix seconds, which anchors `@` timestamps in queries
        (None: the cluster's clock reads the present)."""
        if not time_scale > 0:
            raise errors.InvalidInput(f"time_scale must be positive (got {time_scale}); 1 for a real cluster")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.time_scale = float(time_scale)
        self.cluster_clock = cluster_clock
        self.budget = budget or bud.Budget()
        if client is None:
            from prometheus_api_client import PrometheusConnect

            client = PrometheusConnect(url=self.url, disable_ssl=not verify_tls, retry=Retry(total=0),
                                       timeout=timeout_s)  # type: ignore[arg-type]
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings, *, cluster_clock: Callable[[], float] | None = None,
                      budget: bud.Budget | None = None) -> PrometheusTool:
        """The tool for `settings.prometheus` (url, timeout, time scale); `ConfigError` without a URL."""
        p = settings.prometheus
        if not p.url:
            raise errors.ConfigError("no Prometheus configured: set PROPHET_PROMETHEUS__URL")
        return cls(p.url, timeout_s=p.timeout_s, time_scale=p.time_scale, cluster_clock=cluster_clock,
                   budget=budget)

    # -- cluster time -> Prometheus time -------------------------------------------------------------------
    def to_wall(self, promql: str) -> str:
        """`promql` as sent to Prometheus (identical at time scale 1; see `promql_time`)."""
        if self.time_scale == 1:
            return promql
        wall_now = time.time()
        cluster_now = None
        if self.cluster_clock is not None and "@" in promql:
            cluster_now = self.cluster_clock()
        return promql_time.to_wall(promql, self.time_scale, cluster_now=cluster_now, wall_now=wall_now)

    # -- one boundary for every failure ------------------------------------------------------------------
    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except requests.exceptions.Timeout as e:
            raise errors.ToolUnavailable(f"Prometheus at {self.url} did not answer {what} within "
                                         f"{self.timeout_s:g} s", retry_after_s=self.timeout_s) from e
        except requests.exceptions.RequestException as e:
            raise errors.ToolUnavailable(f"Prometheus at {self.url} is unreachable ({type(e).__name__}); check "
                                         "the URL and that the server runs", retry_after_s=5.0) from e
        except PrometheusApiClientException as e:
            status, text = _prom_error(e)
            if status in (400, 422):
                raise errors.InvalidQuery(f"Prometheus rejected the query: {text}") from e
            if status in (401, 403):
                raise errors.Forbidden(f"Prometheus at {self.url} refused {what} (HTTP {status}): {text}") from e
            if status == 404:
                raise errors.NotFound(f"no Prometheus API at {self.url} (HTTP 404)") from e
            if status == 429 or status >= 500:
                raise errors.ToolUnavailable(f"Prometheus at {self.url} failed {what} (HTTP {status}): {text}",
                                             retry_after_s=5.0) from e
            raise errors.ToolError(f"Prometheus at {self.url}: {what} failed (HTTP {status}): {text}") from e
        except (ValueError, KeyError, TypeError) as e:  # a 200 that is not the API's JSON (a proxy page)
            raise errors.ToolError(f"{self.url} did not answer like a Prometheus API: {e}") from e

    # -- raw API -----------------------------------------------------------------------------------------
    def check(self) -> bool:
        """True when the server answers a trivial query; raises `ToolUnavailable` otherwise."""
        self._call("a health check", self.client.custom_query, "vector(1)")
        return True

    def instant(self, promql: str, *, at: float | None = None) -> list[Sample]:
        """An instant query; a scalar becomes one unlabelled Sample, NaN values are kept (they say 0/0)."""
        params = {"time": f"{at:.3f}"} if at is not None else None
        data = self._call("a query", self.client.custom_query, self.to_wall(promql), params=params)
        if isinstance(data, list) and len(data) == 2 and not isinstance(data[0], dict):  # scalar / string
            return [Sample({}, _float(data[1]))]
        return [Sample(dict(r.get("metric") or {}), _float((r.get("value") or [0, "NaN"])[1])) for r in data or ()]

    def series(self, promql: str, *, start: float, end: float, step_s: float) -> list[RangeSeries]:
        """A range query from `start` to `end` (unix seconds); non-finite points are dropped.

        `end` is Prometheus' time; the span and `step_s` are cluster seconds (see the module doc)."""
        scale = self.time_scale
        if scale == 1:
            wall_start, step = start, f"{max(step_s, 0.001):g}s"
        else:
            wall_start = end - (end - start) / scale
            step = promql_time.format_duration_ms(max(1, round(step_s * 1000 / scale)))
        # the library rounds start/end to whole seconds (50 cluster seconds at 50x); its `params` win
        exact = {"start": f"{wall_start:.3f}", "end": f"{end:.3f}"} if scale != 1 else None
        sent_end = float(f"{end:.3f}")  # points map back from the instant Prometheus evaluated at
        data = self._call("a range query", self.client.custom_query_range, self.to_wall(promql),
                          start_time=datetime.fromtimestamp(wall_start, UTC), end_time=datetime.fromtimestamp(end, UTC),
                          step=step, params=exact)
        out = []
        for r in data or ():
            pts = [(float(t) if scale == 1 else end + (float(t) - sent_end) * scale, v)
                   for t, raw in r.get("values") or () if math.isfinite(v := _float(raw))]
            out.append(RangeSeries(dict(r.get("metric") or {}), pts))
        return out

    def pod_usage(self, namespace: str) -> dict[str, PodUsage]:
        """Live CPU (millicores, 2m rate) and working-set memory (MiB) per pod (kube `UsageSource`)."""
        sel = f'namespace="{escape_label(namespace)}",container!="",container!="POD"'
        cpu = self.instant(f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{sel}}}[2m]))")
        mem = self.instant(f"sum by (pod) (container_memory_working_set_bytes{{{sel}}})")
        out: dict[str, PodUsage] = {}
        for s in cpu:
            out.setdefault(s.labels.get("pod", ""), PodUsage()).cpu_m = round(s.value * 1000, 1)
        for s in mem:
            out.setdefault(s.labels.get("pod", ""), PodUsage()).memory_mi = round(s.value / 2**20, 1)
        out.pop("", None)
        return out

    # -- tools (envelopes) ----------------------------------------------------------------------------------
    def query(self, promql: str, *, top: int = 20) -> Result:
        """An instant query as a compact table: the `top` largest series that fit the budget."""
        params = {"promql": promql, "top": top}
        return bud.enforce(envelope.run_tool("promql", params, lambda: self._query(promql, top, params)),
                           self.budget, narrow="add label matchers or wrap the query in topk()")

    def query_range(self, promql: str, *, minutes: float = 30.0, step_s: float | None = None,
                         end: float | None = None, top: int = 10) -> Result:
        """A range query over the last `minutes`, one summary line per series (largest peaks first)."""
        end = time.time() if end is None else end
        step = step_s or max(1.0, minutes * 60 / 120)
        params = {"promql": promql, "minutes": minutes, "step_s": step, "top": top}
        return bud.enforce(envelope.run_tool("promql_range", params, lambda: self._query_range(
            promql, end - minutes * 60, end, step, top, params)), self.budget,
            narrow="add label matchers, aggregate with sum by (...), or shorten the range")

    def _query(self, promql: str, top: int, params: dict[str, Any]) -> Result:
        samples = sorted(self.instant(promql), key=lambda s: (math.isnan(s.value), -s.value if not
                                                                math.isnan(s.value) else 0))
        if not samples:
            return envelope.ok("promql", params, text=f"{promql}\n(empty result: no series matched)",
                               data={"promql": promql, "series": 0, "rows": []}, no_data=True)
        common, rest = split_common([s.labels for s in samples])
        head = [promql] + ([f"common labels: {_labels_text(common)}"] if common else [])
        rows = [f"{_labels_text(r) or '{}'}  {fmt_num(s.value)}" for r, s in zip(rest, samples, strict=True)]
        n = min(top, bud.fit_rows(head, rows, self.budget))
        omitted = ""
        if n < len(rows):
            vals = [s.value for s in samples[n:] if not math.isnan(s.value)]
            span = f" (values {fmt_num(min(vals))}..{fmt_num(max(vals))})" if vals else ""
            omitted = (f"{len(rows) - n} more series{span}; "
                       f"{bud.call_hint('promql', params, top=min(len(rows), n * 2 or 1))} or narrow the query")
        text = "\n".join(head + rows[:n] + ([f"... {omitted}"] if omitted else []))
        data = {"promql": promql, "series": len(samples), "common": common,
                "rows": [{"labels": r, "value": s.value} for r, s in zip(rest[:n], samples[:n], strict=True)]}
        return envelope.ok("promql", params, text=text, data=data, omitted=omitted)

    def _query_range(self, promql: str, start: float, end: float, step: float, top: int,
                     params: dict[str, Any]) -> Result:
        series = [s for s in self.series(promql, start=start, end=end, step_s=step) if s.points]
        if not series:
            return envelope.ok("promql_range", params, text=f"{promql}\n(no data in the range)",
                               data={"promql": promql, "series": 0, "rows": []}, no_data=True)
        series.sort(key=lambda s: -max(s.values))
        common, rest = split_common([s.labels for s in series])
        head = [f"{promql}  [{_clock(start)}..{_clock(end)}, step {step:g}s]"]
        head += [f"common labels: {_labels_text(common)}"] if common else []
        rows, data_rows = [], []
        for r, s in zip(rest, series, strict=True):
            vals = s.values
            summary = {"last": vals[-1], "min": min(vals), "max": max(vals), "mean": sum(vals) / len(vals)}
            trend = " ".join(fmt_num(v) for v in downsample(vals, TREND_POINTS))
            rows.append(f"{_labels_text(r) or '{}'}  " + " ".join(f"{k}={fmt_num(v)}" for k, v in summary.items())
                        + f"  trend: {trend}")
            data_rows.append({"labels": r, **summary, "points": len(vals)})
        n = min(top, bud.fit_rows(head, rows, self.budget))
        omitted = (f"{len(rows) - n} more series; add label matchers or aggregate with sum by (...)"
                   if n < len(rows) else "")
        text = "\n".join(head + rows[:n] + ([f"... {omitted}"] if omitted else []))
        return envelope.ok("promql_range", params, text=text, omitted=omitted,
                           data={"promql": promql, "series": len(series), "common": common, "rows": data_rows[:n]})


def downsample(values: Sequence[float], n: int) -> list[float]:
    """At most `n` values: the means of `n` equal slices (keeps a step visible, unlike striding)."""
    if len(values) <= n:
        return list(values)
    out = []
    for i in range(n):
        lo, hi = i * len(values) // n, (i + 1) * len(values) // n
        chunk = values[lo:hi]
        out.append(sum(chunk) / len(chunk))
    return out


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def escape_label(value: str) -> str:
    """A label value made safe inside a PromQL string literal (values come from callers, not from us)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


__all__ = ["DEFAULT_TIMEOUT_S", "PromClient", "PrometheusTool", "RangeSeries", "Sample", "downsample",
           "escape_label", "fmt_num", "split_common"]

"""PromQL in cluster time: the rewriter (`tools/promql_time.py`) and `PrometheusTool(time_scale=)`.

The unit tests pin every converted form and every form deliberately left alone. The integration tests
run `backend-memory-leak` at 50x with the real Prometheus scraping the simulator every 5 cluster seconds
(`evals.world.start_world`), and compare what the tool answers in cluster time with the simulator's own
counters (the ground truth: two reads of `/metrics`, divided by the sim-clock difference).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prophet_sre import errors
from prophet_sre.config import Settings
from prophet_sre.evals.world import World, start_world
from prophet_sre.sim.prometheus import prometheus_binary
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.prometheus import PrometheusTool
from prophet_sre.tools.promql_time import (
    format_duration_ms,
    parse_duration_ms,
    scale_duration,
    to_wall,
    tokenize,
)
from prophet_sre.tools.signals import AnomalyDetector, Windows

SCENARIO = Path(__file__).resolve().parents[2] / "evals" / "scenarios" / "backend-memory-leak.yaml"
SPEED = 50.0
FRONTEND = 'http_requests_total{service="frontend"}'


def w50(q: str, **kw: float) -> str:
    return to_wall(q, 50, **kw)


# -- durations -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "ms"), [("5m", 300_000), ("1h30m", 5_400_000), ("250ms", 250), ("1m500ms", 60_500),
                                          ("2d", 172_800_000), ("1w", 604_800_000), ("1y", 31_536_000_000)])
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["5", "1.5h", "5x", "m5", ""])
def test_parse_duration_rejects_non_durations(bad: str) -> None:
    with pytest.raises(errors.InvalidQuery, match="not a duration"):
        parse_duration_ms(bad)


def test_scale_duration_keeps_milliseconds_and_never_reaches_zero() -> None:
    assert scale_duration("1m", 50) == "1200ms"
    assert scale_duration("5m", 50) == "6s"
    assert scale_duration("1h30m", 50) == "108s"
    assert scale_duration("1s", 3) == "333ms"
    assert scale_duration("1ms", 50) == "1ms"
    assert scale_duration("0s", 50) == "0s"
    assert scale_duration("1m", 0.5) == "120s"  # a clock slower than the wall stretches windows
    assert format_duration_ms(1500) == "1500ms" and format_duration_ms(3000) == "3s"


# -- the rewrite, form by form ----------------------------------------------------------------------------------
QUERIES = [
    'sum(rate(http_requests_total{service="frontend",code=~"5.."}[1m]))',
    "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))",
    'fleet_traffic_share{cluster="aws"}',
    "deriv(rate(x[1m])[5m:30s] offset 1h30m)",
    "x @ 1000 offset -5m",
    'max_over_time(x{a="]"}[10m]) # rate(y[1m])',
    "predict_linear(node_free[1h], 3600)",
]


@pytest.mark.parametrize("q", QUERIES)
def test_scale_one_is_byte_identical(q: str) -> None:
    weird = q.replace(" ", "  \t")
    assert to_wall(q, 1) is q
    assert to_wall(weird, 1.0) == weird


def test_range_selector() -> None:
    assert w50("up[5m]") == "up[6s]"
    assert w50('x{job="a"}[1m]') == 'x{job="a"}[1200ms]'
    assert w50("x[1h30m]") == "x[108s]"
    assert w50("x [ 2m ]") == "x [ 2400ms ]"  # spacing kept


def test_subquery_with_and_without_step() -> None:
    assert w50("max_over_time(x[5m:30s])") == "max_over_time(x[6s:600ms])"
    assert w50("max_over_time(x[5m:])") == "max_over_time(x[6s:])"
    assert w50("min_over_time((a + b)[10m:1m])") == "min_over_time((a + b)[12s:1200ms])"


def test_offset_forms() -> None:
    assert w50("x offset 1m") == "x offset 1200ms"
    assert w50("x[5m] OFFSET -10m") == "x[6s] OFFSET -12s"  # keywords are case-insensitive
    assert w50("max_over_time(x[5m:1m] offset 1h)") == "max_over_time(x[6s:1200ms] offset 72s)"


def test_offset_as_a_name_is_left_alone() -> None:
    q = 'sum by (offset) (x{offset="5m"}) + offset'
    assert w50(q) == q


def test_at_timestamp_moves_from_cluster_clock_to_wall_clock() -> None:
    # the cluster's clock reads 1500 when the wall reads 2000; 500 cluster s ago is 10 wall s ago
    assert w50("x @ 1000", cluster_now=1500, wall_now=2000) == "x @ 1990.000"
    assert w50("x[1m] @ 1450.5 offset 1m", cluster_now=1500, wall_now=2000) == "x[1200ms] @ 1999.010 offset 1200ms"
    # without a cluster clock, the cluster's clock is taken to read the present
    assert w50("x @ 1500", wall_now=2000) == "x @ 1990.000"


def test_at_start_and_end_stay() -> None:
    assert w50("x[5m] @ start()") == "x[6s] @ start()"
    assert w50("x @ end() offset 1m") == "x @ end() offset 1200ms"


@pytest.mark.parametrize("fn", ["rate", "irate", "deriv"])
def test_per_second_functions_become_per_cluster_second(fn: str) -> None:
    assert w50(f"{fn}(x[1m])") == f"({fn}(x[1200ms]) / 50)"
    assert w50(f'sum by (pod) ({fn}(x{{a="b"}}[1m])) > 0.5') == f'sum by (pod) (({fn}(x{{a="b"}}[1200ms]) / 50)) > 0.5'


def test_rates_nest() -> None:
    assert w50("deriv(rate(x[1m])[5m:30s])") == "(deriv((rate(x[1200ms]) / 50)[6s:600ms]) / 50)"
    assert w50("max_over_time(rate(x[1m])[5m:])") == "max_over_time((rate(x[1200ms]) / 50)[6s:])"


def test_ratios_and_quantiles_keep_their_form() -> None:
    """Both sides of a ratio of rates carry the same factor, and histogram_quantile is invariant to it:
    the rewrite may divide inside them because the division cancels (checked on real data below)."""
    assert (w50("sum(rate(a[1m])) / sum(rate(b[1m]))")
            == "sum((rate(a[1200ms]) / 50)) / sum((rate(b[1200ms]) / 50))")
    assert (w50("histogram_quantile(0.95, sum by (le) (rate(h_bucket[1m])))")
            == "histogram_quantile(0.95, sum by (le) ((rate(h_bucket[1200ms]) / 50)))")


@pytest.mark.parametrize("q", ["increase(x[1m])", "delta(g[1m])", "idelta(g[1m])", "changes(g[1m])",
                               "resets(c[1m])", "avg_over_time(g[1m])", "count_over_time(g[1m])",
                               "quantile_over_time(0.9, g[1m])"])
def test_amounts_over_a_window_are_not_scaled(q: str) -> None:
    assert w50(q) == q.replace("[1m]", "[1200ms]")


@pytest.mark.parametrize("q", ['fleet_traffic_share{cluster="aws"}', "time() - timestamp(x)",
                               "sum by (namespace) (kube_pod_container_status_restarts_total)", "hour(vector(time()))"])
def test_gauges_counters_and_clock_functions_are_untouched(q: str) -> None:
    assert w50(q) == q


def test_predict_linear_seconds_argument() -> None:
    assert w50("predict_linear(x[1h], 3600)") == "predict_linear(x[72s], 72)"
    assert w50("predict_linear(x[1h], 4 * 3600) < 0") == "predict_linear(x[72s], (4 * 3600) / 50) < 0"


def test_function_names_used_as_names_are_not_wrapped() -> None:
    q = 'rate{job="x"} + sum by (rate, deriv) (irate)'
    assert w50(q) == q


def test_strings_comments_and_matchers_are_never_rewritten() -> None:
    q = ('sum(rate(x{path=~"/a[0-9]+/rate(b[1m])", msg=\'offset 5m @ 10\', raw=`[5m]`, q="\\"[1m]\\""}[1m]))'
         "  # rate(y[5m]) offset 1m")
    assert w50(q) == ('sum((rate(x{path=~"/a[0-9]+/rate(b[1m])", msg=\'offset 5m @ 10\', raw=`[5m]`, '
                      'q="\\"[1m]\\""}[1200ms]) / 50))  # rate(y[5m]) offset 1m')


@pytest.mark.parametrize(("q", "hint"), [("x[5m+1m]", r"\[5m\]"), ("x[1.5h]", r"\[5m\]"), ("x offset 30", "duration"),
                                         ('x{a="b}', "unterminated string"), ("rate(x[1m]", "unbalanced"),
                                         ("x @ foo", "unix timestamp")])
def test_unconvertible_forms_are_invalid_queries_saying_what_to_write(q: str, hint: str) -> None:
    with pytest.raises(errors.InvalidQuery, match=hint):
        w50(q, wall_now=2000)


def test_tool_rejects_a_bad_scale_and_reports_unconvertible_queries_as_envelopes() -> None:
    with pytest.raises(errors.InvalidInput, match="time_scale"):
        PrometheusTool("http://127.0.0.1:9", time_scale=0)
    tool = PrometheusTool("http://127.0.0.1:9", time_scale=50)  # never contacted: the rewrite fails first
    r = tool.query("x[1.5h]")
    assert not r.ok and "[5m]" in r.text


_ALPHABET = st.sampled_from(['x', 'rate', '(', ')', '[', ']', '{', '}', '1m', '30s', ':', ' ', '"a]"', "'b'",
                             "offset", "@", "5", ",", "=", "/", "#c\n", "`r`", "-", "by"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_ALPHABET, max_size=25))
def test_tokenize_gives_the_query_back_and_rewrite_only_raises_invalid_query(parts: list[str]) -> None:
    q = "".join(parts)
    assert "".join(t.text for t in tokenize(q)) == q
    try:
        out = w50(q, wall_now=2000)
    except errors.InvalidQuery:
        return
    # every string and comment survives unchanged, in order
    keep = [t.text for t in tokenize(q) if t.kind in ("string", "comment")]
    assert [t.text for t in tokenize(out) if t.kind in ("string", "comment")] == keep


def test_settings_flow_into_the_tool() -> None:
    s = Settings().model_copy(update={"prometheus": Settings().prometheus.model_copy(
        update={"url": "http://127.0.0.1:9", "time_scale": 20.0, "timeout_s": 1.5})})
    tool = PrometheusTool.from_settings(s)
    assert (tool.time_scale, tool.timeout_s, tool.url) == (20.0, 1.5, "http://127.0.0.1:9")
    with pytest.raises(errors.ConfigError, match="PROPHET_PROMETHEUS__URL"):
        PrometheusTool.from_settings(Settings().model_copy(update={"prometheus": Settings().prometheus.model_copy(
            update={"url": None})}))


# -- against the real Prometheus and the simulator ------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if prometheus_binary() is None:
        pytest.skip("the prometheus binary is not installed (Debian package `prometheus`; scripts/test installs it)")
    w = start_world(SCENARIO, speed=SPEED, workdir=tmp_path_factory.mktemp("timescale"))
    try:
        if w.prometheus is None:
            pytest.skip(f"no Prometheus: {w.notes}")
        yield w
    finally:
        w.stop()


def _sim_counters(world: World) -> tuple[float, float]:
    """(frontend requests served so far, sim seconds elapsed), from the simulator's own /metrics."""
    text = httpx.get(world.default.metrics_url, verify=False, timeout=10).text
    total, elapsed = 0.0, None
    for line in text.splitlines():
        if line.startswith("http_requests_total{") and 'service="frontend"' in line:
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("prophet_sim_elapsed_seconds"):
            elapsed = float(line.rsplit(" ", 1)[1])
    assert elapsed is not None, "the simulator exports prophet_sim_elapsed_seconds"
    return total, elapsed


def _ground_truth_rps(world: World) -> float:
    n0, t0 = _sim_counters(world)
    time.sleep(1.5)  # 75 sim seconds at 50x: many requests, so the count's granularity does not matter
    n1, t1 = _sim_counters(world)
    return (n1 - n0) / (t1 - t0)


def _wait_for(tool: PrometheusTool, promql: str, *, history: str = "3m") -> float:
    """The query's value once Prometheus holds `history` (cluster time) of the frontend's counter: the
    median of five readings a tenth of a wall second apart.

    Prometheus applies its first scrape targets only after its discovery throttle (~5 wall seconds), and
    a window reaching back before the first sample reads low; so wait until the data covers the windows.
    The simulator serves /metrics from this process, and on a loaded machine a scrape can miss its
    100 ms timeout: a window ending in that gap reads low or empty, which the median absorbs."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if tool.instant(f"sum({FRONTEND} offset {history})"):
            return _median(tool, promql)
        time.sleep(0.2)
    raise AssertionError(f"Prometheus had no {history} of {FRONTEND} history after 60 s")


def _median(tool: PrometheusTool, promql: str) -> float:
    """The median of five non-empty readings (a failed scrape marks the series stale: an empty reading)."""
    values: list[float] = []
    for _ in range(40):
        samples = tool.instant(promql)
        if samples:
            values.append(samples[0].value)
            if len(values) == 5:
                return statistics.median(values)
        time.sleep(0.1)
    raise AssertionError(f"{promql}: {len(values)} of 40 readings had a result")


def test_world_settings_carry_the_speed(world: World) -> None:
    tool = PrometheusTool.from_settings(world.settings())
    assert tool.time_scale == SPEED


def test_request_rate_in_cluster_time_matches_the_simulator(world: World) -> None:
    tool = PrometheusTool.from_settings(world.settings())
    measured = _wait_for(tool, f"sum(rate({FRONTEND}[1m]))")
    truth = _ground_truth_rps(world)
    assert truth == pytest.approx(50, rel=0.25), "the scenario declares 50 rps frontend -> backend"
    assert measured == pytest.approx(truth, rel=0.25)
    # the same window without the conversion reads per wall second: 50x the cluster rate
    raw = _median(PrometheusTool(tool.url), f"sum(rate({FRONTEND}[1200ms]))")
    assert raw == pytest.approx(truth * SPEED, rel=0.25)


def test_window_amounts_offsets_and_at_are_in_cluster_seconds(world: World) -> None:
    client = KubeClient.from_kubeconfig(world.kubeconfig)
    tool = PrometheusTool.from_settings(world.settings(), cluster_clock=lambda: client.cluster_now().timestamp())
    truth = _ground_truth_rps(world)
    increase = _wait_for(tool, f"sum(increase({FRONTEND}[1m]))")
    assert increase == pytest.approx(60 * truth, rel=0.25)
    growth = _wait_for(tool, f"sum({FRONTEND}) - sum({FRONTEND} offset 1m)")
    assert growth == pytest.approx(60 * truth, rel=0.25)
    at = int(client.cluster_now().timestamp()) - 60  # a minute ago on the cluster's clock (hours before the wall)
    since = _wait_for(tool, f"sum({FRONTEND}) - sum({FRONTEND} @ {at})")
    assert 0.5 * 60 * truth < since < 2 * 60 * truth  # the anchor is the newest node heartbeat: coarse


def test_ratio_and_quantile_forms_are_accepted_and_sane(world: World) -> None:
    tool = PrometheusTool.from_settings(world.settings())
    ratio = _wait_for(tool, f"sum(rate({FRONTEND}[1m])) / sum(rate({FRONTEND}[1m]))")
    assert ratio == pytest.approx(1.0)
    share = _wait_for(tool, f'sum(rate(http_requests_total{{service="frontend",code="200"}}[1m])) '
                      f"/ sum(rate({FRONTEND}[1m]))")
    assert 0 <= share <= 1
    for q in ["histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))",
              f"max_over_time(sum(rate({FRONTEND}[1m]))[2m:10s])", f"deriv(sum({FRONTEND})[1m:5s])",
              f"sum({FRONTEND} @ end() offset 30s)", f"predict_linear(sum({FRONTEND})[1m:5s], 60)"]:
        tool.instant(q)  # Prometheus parses every rewritten form (InvalidQuery otherwise)


def test_range_points_come_back_on_the_cluster_axis(world: World) -> None:
    tool = PrometheusTool.from_settings(world.settings())
    _wait_for(tool, f"sum({FRONTEND})")
    end = time.time()
    series = tool.series(f"sum({FRONTEND})", start=end - 100, end=end, step_s=5)
    assert len(series) == 1
    times = [t for t, _ in series[0].points]
    assert end - 100 - 1e-6 <= times[0] and times[-1] <= end + 1e-6
    # 100 cluster seconds at a 5 s step: up to 21 points, on the step grid (a failed scrape leaves a gap)
    assert 5 <= len(times) <= 21
    gaps = [(b - a) / 5.0 for a, b in zip(times, times[1:], strict=False)]
    assert all(g >= 0.99 and abs(g - round(g)) < 0.01 for g in gaps), gaps
    envelope = tool.query_range(f"sum(rate({FRONTEND}[1m]))", minutes=1.5, step_s=10)
    assert envelope.ok and re.search(r"step 10s", envelope.text)
    assert envelope.data["rows"][0]["max"] == pytest.approx(50, rel=0.5)


def test_anomaly_windows_in_cluster_seconds_split_where_they_should(world: World) -> None:
    tool = PrometheusTool.from_settings(world.settings())
    _wait_for(tool, f"sum({FRONTEND})")
    windows = Windows(baseline_s=100, recent_s=30, rate_s=30, step_s=5)
    scores, _ = AnomalyDetector(tool, windows=windows).scores("shop")
    counted = [s.score for s in scores if s.score.n_recent]
    assert counted, "the detector saw data"
    for sc in counted:  # 30 s recent at 5 s steps is ~7 points; the 100 s baseline ~20
        assert sc.n_recent <= 8
        assert sc.n_baseline <= 21
    assert max(sc.n_baseline for sc in counted) >= 5, "the baseline window holds the earlier points"

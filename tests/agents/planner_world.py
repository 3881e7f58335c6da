"""Helpers for the planner's scenario tests: a simulated cluster with one scenario, the Diagnosis the
scenario expects, and the scenario's `recovered` checks evaluated with plain kube reads.

Checks evaluated here: deployment, statefulset/daemonset, pods, service, pvc, no_pod_reason (on the pods
that exist after remediation) and object (kubectl JSONPath, through the simulator's own evaluator, which
kubectl itself is tested against). Metric checks need Prometheus and are not evaluated here.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from prophet_sre.domain import Action, Check, Diagnosis, Finding, ResourceRef
from prophet_sre.sim import jsonpath
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.tools.analyze import AnalyzerSource, Scope, analyze
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient, KubeClients

SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
SPEED = 50.0


def scenario(name: str) -> dict[str, Any]:
    return yaml.safe_load((SUITE / f"{name}.yaml").read_text())


def start(name: str, tmp: Path) -> tuple[SimCluster, KubeClients, KubeClient]:
    """A fresh cluster at 50x with the scenario loaded; clients through a kubeconfig, as in production."""
    cluster = SimCluster(ClusterOptions(name=name, speed=SPEED, scenarios=[SUITE / f"{name}.yaml"]))
    cluster.traffic.max_flows_per_s = 100.0
    cluster.start()
    from prophet_sre.config import KubeSettings

    kc = cluster.write_kubeconfig(tmp / "kubeconfig")
    clients = KubeClients(KubeSettings(kubeconfig=kc))
    return cluster, clients, clients.for_cluster("")


def wait_for(pred: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def past_faults(cluster: SimCluster, sim_seconds: float = 20.0) -> None:
    """Every fault fired (none failed), then `sim_seconds` of sim time for its effects to show."""
    wait_for(lambda: all(r.state != "scheduled" for r in cluster.faults.records()), timeout=30,
             what="the scenario's faults to fire")
    failed = [r.message for r in cluster.faults.records() if r.state == "failed"]
    assert not failed, failed
    until = cluster.clock.elapsed() + sim_seconds
    wait_for(lambda: cluster.clock.elapsed() >= until, timeout=30, what="sim time to pass", interval=0.05)


def diagnosis_for(name: str, client: KubeClient, *, extra: list[Finding] | None = None) -> Diagnosis:
    """The Diagnosis the scenario expects (category, root cause), with the analyzers' findings as evidence."""
    doc = scenario(name)
    exp = doc["expect"]["diagnosis"]
    root = ResourceRef.parse(exp["root_cause"])
    ns = root.namespace if root.kind not in ("Cluster", "Node") else None
    report = analyze([AnalyzerSource(client)], Scope(namespace=ns))
    evidence = list(report.findings) + list(extra or [])
    summary = f"{doc['title']} ({', '.join(exp.get('mentions', []))})"
    return Diagnosis(category=exp["category"], summary=summary, root_cause=root, confidence=0.9, evidence=evidence)


def matches(action: Action, entry: dict[str, Any]) -> bool:
    if "type" in entry and action.type != entry["type"]:
        return False
    if "target" in entry and not ResourceRef.parse(entry["target"]).same_object(action.target):
        return False
    return not ("namespace" in entry and action.target.namespace != entry["namespace"])


def assert_plan_fits(name: str, actions: list[Action]) -> None:
    exp = scenario(name)["expect"]["actions"]
    assert actions, "empty plan"
    assert any(matches(actions[0], e) for e in exp.get("any_of", [])), (actions[0], exp.get("any_of"))
    for a in actions:
        assert not any(matches(a, f) for f in exp.get("forbidden", [])), a


# -- checks ------------------------------------------------------------------------------------------------
def _split(target: str) -> tuple[str, str]:
    ns, _, name = target.partition("/")
    return ns, name


def _ready(pod: dict[str, Any]) -> bool:
    return o.text(o.dig(pod, "status", "phase")) == "Running" and \
        o.dig(o.condition(pod, "Ready"), "status") == "True" and not o.dig(pod, "metadata", "deletionTimestamp")


def _reasons(pod: dict[str, Any]) -> set[str]:
    out = set()
    for cs in o.container_statuses(pod):
        for key in ("waiting", "terminated"):
            r = o.text(o.dig(cs, "state", key, "reason"))
            if r:
                out.add(r)
    return out


def holds(client: KubeClient, form: str, target: str, expect: dict[str, Any]) -> bool | None:
    """Whether one check holds now; None for a form this helper does not evaluate (metric)."""
    if form == "deployment":
        ns, name = _split(target)
        d = client.get("deployments", name, ns)
        want = o.num(o.dig(d, "spec", "replicas"), 1)
        st = o.mapping(d.get("status"))
        return all(o.num(st.get(k)) >= want for k in ("updatedReplicas", "readyReplicas", "availableReplicas")) \
            and o.num(st.get("replicas")) == want
    if form in ("statefulset", "daemonset"):
        ns, name = _split(target)
        w = client.get(form + "s", name, ns)
        want = o.num(o.dig(w, "spec", "replicas"), 1) if form == "statefulset" else \
            o.num(o.dig(w, "status", "desiredNumberScheduled"))
        return o.num(o.dig(w, "status", "readyReplicas" if form == "statefulset" else "numberReady")) >= want
    if form == "pods":
        pods = [p for p in client.list("pods", target, label_selector=expect["selector"])
                if not o.dig(p, "metadata", "deletionTimestamp")]
        ready = [p for p in pods if _ready(p)]
        return bool(pods) and len(ready) == len(pods) if expect["ready"] == "all" else len(ready) >= expect["ready"]
    if form == "service":
        ns, name = _split(target)
        ep = client.get("endpoints", name, ns)
        return any(s.get("addresses") for s in o.items(ep.get("subsets")))
    if form == "pvc":
        ns, name = _split(target)
        return o.text(o.dig(client.get("persistentvolumeclaims", name, ns), "status", "phase")) == expect["phase"]
    if form == "no_pod_reason":
        pods = client.list("pods", expect["namespace"])
        return not any(target in _reasons(p) for p in pods if not o.dig(p, "metadata", "deletionTimestamp"))
    if form == "object":
        path = target.split(":", 1)[1] if ":" in target.split("/")[0] else target
        parts = path.split("/")
        group, plural = parts[0], parts[2]
        ns, name = (parts[3], parts[4]) if len(parts) == 5 else ("", parts[3])
        kind = f"{plural}.{group}" if group else plural
        obj = client.get(kind, name, ns or None)
        got = jsonpath.render(expect["jsonpath"], obj)
        return got == jsonpath.format_value(expect["equals"]) or got == str(expect["equals"])
    return None


def check_parts(check: Check) -> tuple[str, str, dict[str, Any]]:
    return check.kind, check.target, dict(check.expect)


def recovered_checks(name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The scenario's `recovered` checks this helper can evaluate, as (form, target, other keys)."""
    out = []
    for c in scenario(name)["expect"]["recovered"]:
        form = next(k for k in ("deployment", "statefulset", "daemonset", "pods", "service", "pvc", "no_pod_reason",
                                "object", "metric", "unchanged", "pod") if k in c)
        if form in ("metric", "unchanged", "pod"):
            continue
        out.append((form, c[form], {k: v for k, v in c.items() if k != form}))
    return out


def wait_recovered(client: KubeClient, checks: list[tuple[str, str, dict[str, Any]]], *, timeout: float = 60) -> None:
    def failing() -> list[str]:
        return [f"{f} {t} {e}" for f, t, e in checks if holds(client, f, t, e) is False]

    last: list[str] = []

    def ok() -> bool:
        nonlocal last
        last = failing()
        return not last

    try:
        wait_for(ok, timeout=timeout, what="recovery", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}; still failing: {last}") from None


# -- metrics (one PromQL shape) -----------------------------------------------------------------------------
_SUM_RATE = re.compile(r'^sum\(rate\((\w+)\{([^}]*)\}\[\w+\]\)\)$')
_MATCHER = re.compile(r'(\w+)\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"')
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _scrape(cluster: SimCluster) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(cluster.metrics_url, timeout=30) as resp:  # noqa: S310 - 127.0.0.1
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and not line.startswith("#"):
            out[(m.group(1), tuple(sorted(_LABEL.findall(m.group(2) or ""))))] = float(m.group(3))
    return out


def _sum(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
         matchers: list[tuple[str, str, str]]) -> float:
    total = 0.0
    for (n, labels), v in samples.items():
        lab = dict(labels)
        if n == name and all((re.fullmatch(val, lab.get(k, "")) if op == "=~" else lab.get(k, "") == val)
                             for k, op, val in matchers):
            total += v
    return total


def metric_holds(cluster: SimCluster, promql: str, expect: dict[str, Any], window_s: float = 20.0) -> bool | None:
    """`sum(rate(COUNTER{matchers}[W]))` over `window_s` sim seconds against below/above; None for other shapes."""
    m = _SUM_RATE.match(promql.strip())
    if not m:
        return None
    name, matchers = m.group(1), _MATCHER.findall(m.group(2))
    a = _scrape(cluster)
    until = cluster.clock.elapsed() + window_s
    wait_for(lambda: cluster.clock.elapsed() >= until, timeout=30, what="sim time to pass", interval=0.05)
    b = _scrape(cluster)
    seconds = _sum(b, "prophet_sim_elapsed_seconds", []) - _sum(a, "prophet_sim_elapsed_seconds", [])
    value = (_sum(b, name, matchers) - _sum(a, name, matchers)) / seconds
    if "below" in expect and not value < expect["below"]:
        return False
    return not ("above" in expect and not value > expect["above"])

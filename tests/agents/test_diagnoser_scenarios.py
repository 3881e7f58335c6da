"""Every scenario of `evals/scenarios/`: gather + the deterministic diagnoser name its root cause.

Each scenario runs in a real simulated cluster at 50x (the fleet one in a 4-cluster `SimFleet`), with a
real Prometheus scraping the cluster's `/metrics` and the sim's Hubble Relay; no LLM is involved. Once
the faults have fired, `gather` is polled (bounded) until the evidence shows; then
`diagnose(gather(...).findings, trigger)` must give the scenario's `expect.diagnosis`: the category, a
root cause that is the same object, and a summary that mentions every `mentions` word.

The trigger is the one the scenario declares (type, question, event reasons, anomaly threshold) with
no namespace: the diagnoser sees the whole cluster, kube-system included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from prophet_sre.agents.diagnoser import diagnose
from prophet_sre.agents.gather import Gathered, gather
from prophet_sre.config import Settings
from prophet_sre.domain import Category, Diagnosis, ResourceRef
from prophet_sre.graphs.state import Trigger
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.tools.kube.client import KubeClients

pytestmark = pytest.mark.timeout(180)
SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
SCENARIOS = sorted(["backend-memory-leak", "east-west-scan", "fleet-cluster-degraded", "db-pool-exhaustion",
                    "cascading-resource-exhaustion", "bad-image-tag", "crash-bad-command", "pvc-missing-storageclass",
                    "wrong-probe-path", "service-selector-mismatch", "unsatisfiable-node-selector",
                    "missing-configmap-key"])
"""The product use cases and the classic faults; the whole public suite runs under the eval harness."""
WAIT_S = 75.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus() -> Iterator[Callable[[list[str]], str]]:
    """Start a real Prometheus scraping the given URLs every second (stopped when the module ends)."""
    from prophet_sre.sim.prometheus import PrometheusServer, prometheus_binary

    if prometheus_binary() is None:
        pytest.skip("the prometheus binary is not installed (Debian package `prometheus`)")
    servers: list[PrometheusServer] = []

    def start(targets: list[str]) -> str:
        servers.append(PrometheusServer(targets, scrape_interval_s=1.0))
        return servers[-1].start()

    yield start
    for server in servers:
        server.stop()


def _trigger(spec: dict) -> Trigger:
    t = spec["trigger"]
    details = {k: t[k] for k in ("eventReasons", "anomalyScoreThreshold", "analyzers", "verdicts", "query") if k in t}
    return Trigger(type=t["type"], question=t.get("question", ""), details=details,
                   reason=f"scenario {spec['id']}: {t['type']} trigger")


def _root_ok(d: Diagnosis, expect: dict) -> bool:
    """The root cause is the expected object (any, or none, when the scenario names none)."""
    if "root_cause" not in expect:
        return True
    return d.root_cause is not None and d.root_cause.same_object(ResourceRef.parse(expect["root_cause"]))


def _matches(d: Diagnosis, expect: dict) -> bool:
    return (d.category == Category(expect["category"]) and _root_ok(d, expect)
            and all(w.lower() in d.summary.lower() for w in expect.get("mentions", [])))


def _poll(run: Callable[[], Gathered], trigger: Trigger, expect: dict) -> tuple[Diagnosis, Gathered]:
    """Gather and diagnose until the expected diagnosis shows (the evidence builds up), bounded."""
    deadline = time.monotonic() + WAIT_S
    while True:
        got = run()
        d = diagnose(got.findings, trigger)
        if _matches(d, expect) or time.monotonic() > deadline:
            return d, got
        time.sleep(1.0)


def _check(d: Diagnosis, got: Gathered, expect: dict) -> None:
    seen = [f"{f.source.value}/{f.analyzer} {f.ref}: {f.errors[:1]}" for f in got.findings]
    assert d.category == Category(expect["category"]), (d, seen)
    assert _root_ok(d, expect), (d, seen)
    for word in expect.get("mentions", []):
        assert word.lower() in d.summary.lower(), (word, d.summary)
    if d.category == Category.UNKNOWN:  # "nothing conclusive" is said with low confidence
        assert d.confidence <= 0.2, d
        return
    assert d.confidence >= 0.6, d
    print(f"\n{d.category.value} {d.root_cause} {d.confidence}: {d.summary}")
    assert 1 <= len(d.evidence) <= 10 and not d.runbook_ids
    assert d.evidence[0].ref.same_object(d.root_cause) or d.evidence[0].parent is not None or \
        d.evidence[0].ref.kind in ("Pod", "Service"), d.evidence[0]


FLEETS = [s for s in SCENARIOS if len(yaml.safe_load((SUITE / f"{s}.yaml").read_text()).get("clusters") or []) > 1]


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in FLEETS])
def test_diagnoses_single_cluster_scenario(scenario: str, prometheus: Callable[[list[str]], str],
                                           tmp_path: Path) -> None:
    spec = yaml.safe_load((SUITE / f"{scenario}.yaml").read_text())
    trigger = _trigger(spec)
    cluster = SimCluster(ClusterOptions(name=scenario, speed=50.0))
    cluster.traffic.max_flows_per_s = 300.0
    cluster.start()
    try:
        url = prometheus([cluster.metrics_url])
        scenario_apply.load_file(cluster, SUITE / f"{scenario}.yaml")
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        settings = Settings(kube={"kubeconfig": kubeconfig}, prometheus={
            "url": url, "anomaly_threshold": spec["trigger"].get("anomalyScoreThreshold", 0.8)},
            hubble={"address": cluster.hubble_address})
        clients = KubeClients(settings.kube)
        try:
            d, got = _poll(lambda: gather(clients, settings, trigger), trigger, spec["expect"]["diagnosis"])
        finally:
            clients.close()
        _check(d, got, spec["expect"]["diagnosis"])
    finally:
        cluster.stop()


def test_diagnoses_the_degraded_fleet_cluster(prometheus: Callable[[list[str]], str], tmp_path: Path) -> None:
    from prophet_sre.sim.fleet import SimFleet
    from prophet_sre.sim.fleet.cli import load_scenarios

    spec = yaml.safe_load((SUITE / "fleet-cluster-degraded.yaml").read_text())
    trigger = _trigger(spec)
    sim = SimFleet(("mgmt", "aws", "gcp", "azure"), speed=50.0, workers=2).setup()
    for c in sim.clusters.values():
        c.traffic.max_flows_per_s = 100.0
    load_scenarios(sim, [SUITE / "fleet-cluster-degraded.yaml"])
    sim.start()
    try:
        url = prometheus([c.metrics_url for c in sim.clusters.values()])
        kubeconfig = sim.write_kubeconfig(tmp_path / "config")
        settings = Settings(kube={"kubeconfig": kubeconfig}, prometheus={"url": url},
                            hubble={"address": sim.management.hubble_address})
        clients = KubeClients(settings.kube)
        try:
            d, got = _poll(lambda: gather(clients, settings, trigger, clusters=("aws", "gcp", "azure")), trigger,
                           spec["expect"]["diagnosis"])
        finally:
            clients.close()
        _check(d, got, spec["expect"]["diagnosis"])
        assert d.root_cause is not None and d.root_cause.cluster == "mgmt"  # the fleet answer names its cluster
    finally:
        sim.stop()


def test_gather_degrades_when_sources_are_down(tmp_path: Path) -> None:
    """A Prometheus and a Hubble Relay that do not answer, and a named cluster that does not exist, are notes;
    the analyzers' findings, the rollout and the pod's events still come back, bounded and de-duplicated."""
    cluster = SimCluster(ClusterOptions(name="degraded-sources", speed=50.0))
    cluster.start()
    try:
        scenario_apply.load_file(cluster, SUITE / "crash-bad-command.yaml")
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        settings = Settings(kube={"kubeconfig": kubeconfig},
                            prometheus={"url": f"http://127.0.0.1:{_free_port()}", "timeout_s": 1.0},
                            hubble={"address": f"127.0.0.1:{_free_port()}", "timeout_s": 1.0})
        clients = KubeClients(settings.kube)
        trigger = Trigger(type="event", namespace="demo", details={"eventReasons": ["BackOff", "Failed"]})
        try:
            deadline = time.monotonic() + WAIT_S
            while True:
                got = gather(clients, settings, trigger, clusters=("nowhere",))
                kinds = {f.analyzer for f in got.findings}
                if {"rollout", "Pod"} <= kinds and any(a.startswith("event.") for a in kinds):
                    break
                assert time.monotonic() < deadline, (kinds, got.notes)
                time.sleep(1.0)
        finally:
            clients.close()
        notes = " | ".join(got.notes)
        assert "prometheus" in notes and "hubble" in notes and "nowhere" in notes, notes
        assert len(got.findings) <= 200
        keys = [(f.ref, f.analyzer, tuple(f.errors)) for f in got.findings]
        assert len(keys) == len(set(keys))
        roll = next(f for f in got.findings if f.analyzer == "rollout")
        assert roll.ref.same_object(ResourceRef.parse("demo/deployment/api"))
        assert any("/app/backnd" in c for c in roll.evidence["changes"]), roll.evidence
        assert all(f.ref.namespace in ("demo", "") for f in got.findings)
    finally:
        cluster.stop()

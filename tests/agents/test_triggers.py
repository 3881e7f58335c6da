"""`TriggerWatch` on real simulated clusters (50x) loaded with the scenarios of `evals/scenarios/`.

Each product scenario fires the trigger type its file declares: backend-memory-leak (`anomaly`, scored
by a real Prometheus scraping the cluster), east-west-scan (`hubble`, over the relay's gRPC API),
cascading-resource-exhaustion (`event`, its `eventReasons`); a classic fault (crash-bad-command) fires an
`anomaly` trigger without Prometheus through the kube-derived signals, and a `k8sgpt` trigger through our
analyzers. A healthy shop fires nothing, polled again and again; repeated polls do not re-open an
incident until the de-dup window (cluster clock) has passed; forbidden namespaces and the selector keep
faults out; a cron schedule fires once per due time; a source that is down becomes a note.

Timing: at 50x a scenario's `at: 30s` is 0.6 wall seconds after loading, too soon for detectors that
compare with a healthy baseline (Prometheus' samples, Hubble's flows) to have one, as they would in a
cluster that ran for hours. Those scenarios are loaded with their faults shifted later (`shift_s`),
everything else as written. No test asserts on wall time: waits are bounded polls.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from prophet_sre.config import HubbleSettings, KubeSettings, PrometheusSettings, Settings
from prophet_sre.errors import ConfigError
from prophet_sre.graphs.state import Trigger
from prophet_sre.policy.spec import TriggerSpec
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.tools.analyze import Scope
from prophet_sre.tools.eastwest import EastWestConfig
from prophet_sre.tools.kube.client import KubeClients
from prophet_sre.tools.prometheus import PrometheusTool
from prophet_sre.tools.signals import AnomalyDetector, PrometheusSource, Windows
from prophet_sre.triggers import TriggerWatch

pytestmark = pytest.mark.timeout(180)
SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
SPEED = 50.0
T = TypeVar("T")


# -- helpers ----------------------------------------------------------------------------------------------
def free_port() -> int:
    """A port nothing listens on right now (for "the server is down")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout_s: float = 45.0, every_s: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def scenario_doc(name: str) -> dict[str, Any]:
    return yaml.safe_load((SUITE / f"{name}.yaml").read_text())


def declared(name: str) -> TriggerSpec:
    """The scenario's own `trigger:` block as a policy's TriggerSpec (scenario-only keys dropped)."""
    known = {f.alias or n for n, f in TriggerSpec.model_fields.items()}
    raw = {k: v for k, v in scenario_doc(name)["trigger"].items() if k in known}
    return TriggerSpec.model_validate(raw)


class Sim:
    """One simulated cluster with one scenario loaded, and a KubeClients on its kubeconfig."""

    def __init__(self, name: str, tmp: Path, *, shift_s: float = 0.0, flow_budget: float = 50.0,
                 faults: bool = True) -> None:
        doc = scenario_doc(name)
        if not faults:
            doc.pop("faults", None)
        for f in doc.get("faults") or []:
            f["at"] = f"{float(str(f['at']).removesuffix('s')) + shift_s:g}s"
        self.cluster = SimCluster(ClusterOptions(name=name, speed=SPEED))
        self.cluster.traffic.max_flows_per_s = flow_budget
        self.cluster.start()
        try:
            scenario_apply.load_text(self.cluster, yaml.safe_dump(doc), source=f"{name}.yaml", base_dir=SUITE)
            self.kubeconfig = self.cluster.write_kubeconfig(tmp / "kubeconfig")
            self.clients = KubeClients(KubeSettings(kubeconfig=self.kubeconfig))
        except BaseException:
            self.cluster.stop()
            raise

    def settings(self, **kw: Any) -> Settings:
        return Settings(kube=KubeSettings(kubeconfig=self.kubeconfig), **kw)

    def watch(self, spec: TriggerSpec, settings: Settings | None = None, **kw: Any) -> TriggerWatch:
        return TriggerWatch(spec, self.clients, settings or self.settings(), **kw)

    def faults_pending(self) -> bool:
        return all(r.state == "scheduled" for r in self.cluster.faults.records())

    def settle(self, sim_s: float) -> None:
        until = self.cluster.clock.elapsed() + sim_s
        wait_for(f"{sim_s} sim seconds", lambda: self.cluster.clock.elapsed() >= until, every_s=0.05)

    def stop(self) -> None:
        self.clients.close()
        self.cluster.stop()


def fired_on(watch: TriggerWatch, target: str, seen: list[Trigger] | None = None) -> Callable[[], Trigger | None]:
    """A check for `wait_for`: poll once, return the trigger whose target is `target` (NS/KIND/NAME)."""
    def check() -> Trigger | None:
        got = watch.poll()
        if seen is not None:
            seen.extend(got)
        return next((t for t in got if t.target is not None and str(t.target) == target), None)
    return check


def well_formed(t: Trigger) -> None:
    assert t.reason and "\n" not in t.reason and len(t.reason) <= 240, t.reason
    assert t.findings and t.target is not None and t.namespace == (t.target.namespace or None)
    assert t.details["findings_total"] >= len(t.findings) and t.details["reason_key"] in t.details["reason_keys"]


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """crash-bad-command as written: the new api pods crash-loop (StartError) 30 sim seconds in."""
    sim = Sim("crash-bad-command", tmp_path_factory.mktemp("crash"))
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """The shop of backend-memory-leak with its traffic and no fault, in a steady state (every Deployment
    available for a while: the start-up's failed first probes and early requests are behind it)."""
    sim = Sim("backend-memory-leak", tmp_path_factory.mktemp("healthy"), faults=False)
    try:
        client = sim.clients.for_cluster("")
        wait_for("the shop to be available", lambda: all(
            (d.get("status") or {}).get("availableReplicas") == d["spec"]["replicas"]
            for d in client.list("deployments", "shop")) and len(client.list("deployments", "shop")) == 3)
        sim.settle(90)  # past the start-up: first probes, requests sent before the backends were ready
        yield sim
    finally:
        sim.stop()


# -- the five declared trigger types on their scenarios ------------------------------------------------------
def test_memory_leak_fires_an_anomaly_from_prometheus(tmp_path: Path) -> None:
    from prophet_sre.sim.prometheus import PrometheusServer, prometheus_binary

    if prometheus_binary() is None:
        pytest.skip("the prometheus binary is not installed (Debian package `prometheus`)")
    sim = Sim("backend-memory-leak", tmp_path, shift_s=570)  # the rollout of v2.3 at 600 sim s (12 wall s)
    prom = PrometheusServer([sim.cluster.metrics_url], root=tmp_path / "prom", scrape_interval_s=1.0)
    try:
        settings = sim.settings(prometheus=PrometheusSettings(url=prom.start(timeout_s=20), timeout_s=5))
        spec = declared("backend-memory-leak")
        assert spec.type == "anomaly" and spec.anomaly_score_threshold == 0.8
        # windows in Prometheus' (wall) seconds: 20 s of baseline, the last 3 s as "recent"
        watch = sim.watch(spec, settings, windows=Windows(baseline_s=20, recent_s=3, rate_s=3, step_s=1))
        wait_for("a healthy baseline in Prometheus", lambda: sim.cluster.clock.elapsed() > 300 or None)
        if sim.faults_pending():
            quiet = watch.poll()
            if sim.faults_pending():  # the whole poll saw the healthy shop
                assert quiet == [], [t.reason for t in quiet]
                assert not any("kube-derived" in n for n in watch.last_notes), watch.last_notes
        seen: list[Trigger] = []
        t = wait_for("an anomaly trigger on the backend", fired_on(watch, "shop/deployment/backend", seen),
                     timeout_s=60)
        well_formed(t)
        # the anomaly trigger reads Prometheus' anomalies and the kube-derived hard failures together
        # (whichever shows first opens the incident); Prometheus on its own also scores the backend
        assert t.type == "anomaly" and "prometheus" in t.details["source"] and "note" not in t.details
        assert "shop/deployment/backend" in t.reason
        source = PrometheusSource(AnomalyDetector(PrometheusTool(settings.prometheus.url, timeout_s=5),
                                                  windows=Windows(baseline_s=20, recent_s=3, rate_s=3, step_s=1)),
                                  threshold=0.8)

        def scored() -> list[Any] | None:
            got = [f for f in source.findings(Scope(namespace="shop")).findings
                   if f.analyzer in ("restarts", "memory_vs_limit") and "backend" in str(f.parent or f.ref)]
            return got or None

        assert wait_for("Prometheus scoring the backend as anomalous", scored, timeout_s=60)
        again = watch.poll()
        assert not any(x.target == t.target for x in again), "the same incident was opened twice"
    finally:
        prom.stop()
        sim.stop()


def test_east_west_scan_fires_a_hubble_trigger(tmp_path: Path) -> None:
    # the scan starts at 500 sim s; few sampled flows keep each poll's read of the relay short (the scan
    # alone is 400 flows per sim second), long windows let a poll land while the scan is still new
    sim = Sim("east-west-scan", tmp_path, shift_s=470, flow_budget=5)
    try:
        spec = declared("east-west-scan")
        assert spec.type == "hubble" and spec.verdicts == ["DROPPED", "ERROR"]
        settings = sim.settings(hubble=HubbleSettings(address=sim.cluster.hubble_address, timeout_s=10))
        watch = sim.watch(spec, settings, eastwest=EastWestConfig(window_s=240, baseline_s=480))
        wait_for("a healthy baseline of flows", lambda: sim.cluster.clock.elapsed() > 400 or None)
        if sim.faults_pending():
            quiet = watch.poll()
            if sim.faults_pending():
                assert not [t for t in quiet if t.target and t.target.name == "reporting"], quiet
        seen: list[Trigger] = []

        def scan() -> Trigger | None:
            fired_on(watch, "shop/deployment/reporting", seen)()
            return next((t for t in seen if any(f.analyzer == "eastwest.fanout" for f in t.findings)), None)

        t = wait_for("a hubble trigger on the reporting deployment with the fan-out", scan, timeout_s=60)
        well_formed(t)
        assert t.type == "hubble" and t.details["source"] == "hubble" and t.details["verdicts"] == ["DROPPED", "ERROR"]
        assert t.target is not None and str(t.target) == "shop/deployment/reporting"
        fan = next(f for f in t.findings if f.analyzer == "eastwest.fanout")
        assert fan.ref.kind == "Pod" and fan.ref.name.startswith("reporting-")
        assert fan.evidence["ports"] >= 10 or fan.evidence["peers"] >= 20, fan.evidence
        # new connection paths alone (the scan's first sampled flows, a DNS cache expiring) open nothing
        assert all(any(f.analyzer != "eastwest.new_edge" for f in x.findings) for x in seen), seen
        assert "Hubble east-west anomaly on shop/deployment/reporting" in t.reason
        assert not any(x.target == t.target for x in watch.poll())
        watch.close()
    finally:
        sim.stop()


def test_cascading_exhaustion_fires_an_event_trigger(tmp_path: Path) -> None:
    sim = Sim("cascading-resource-exhaustion", tmp_path)
    try:
        spec = declared("cascading-resource-exhaustion")
        assert spec.type == "event" and "FailedScheduling" in spec.event_reasons
        watch = sim.watch(spec)
        seen: list[Trigger] = []
        t = wait_for("an event trigger on analytics", fired_on(watch, "shop/deployment/analytics", seen))
        well_formed(t)
        assert t.type == "event" and t.details["source"] == "events"
        assert t.details["reason_key"] == "FailedScheduling" and "Insufficient cpu" in t.reason
        assert all(f.source.value == "event" and f.ref.kind == "Pod" and f.ref.name.startswith("analytics-")
                   for f in t.findings)
        # several pending pods of one Deployment are one incident
        assert len([x for x in seen if x.target == t.target]) == 1 and t.details["findings_total"] >= 2
        # only the declared reasons: no BackOff, Unhealthy ... triggers
        assert all(f.analyzer in spec.event_reasons for x in seen for f in x.findings), seen
        sim.settle(20)  # the scheduler keeps reporting FailedScheduling: same incident, not a new one
        assert not any(x.target == t.target for x in watch.poll())
    finally:
        sim.stop()


def test_crash_loop_fires_anomaly_through_kube_signals_without_prometheus(crash: Sim) -> None:
    watch = crash.watch(TriggerSpec(type="anomaly"))
    t = wait_for("an anomaly trigger on api", fired_on(watch, "demo/deployment/api"))
    well_formed(t)
    assert t.type == "anomaly" and t.details["source"] == "kube-derived"
    assert "no Prometheus" in t.details["note"] and "kube-derived signal on demo/deployment/api" in t.reason
    assert any("no Prometheus" in n for n in watch.last_notes)
    assert all(f.source.value == "analyzer" and f.analyzer == "Pod" for f in t.findings)
    # whichever phase of the crash loop the first poll sees: the start error itself, the back-off, the exit
    assert any(s in t.reason for s in ("failed to create containerd task", "restarting failed container",
                                       "termination reason")), t.reason


def test_crash_loop_fires_k8sgpt_through_our_analyzers(crash: Sim) -> None:
    watch = crash.watch(TriggerSpec(type="k8sgpt"))
    t = wait_for("a k8sgpt trigger on api", fired_on(watch, "demo/deployment/api"))
    well_formed(t)
    assert t.details["source"] == "analyzers" and "K8sGPT not available" in t.details["note"]
    # the Service without ready endpoints is its own object; an unused ConfigMap (INFO) opens nothing
    assert not any(x.target is not None and x.target.kind == "ConfigMap" for x in watch.poll())


def test_prometheus_down_falls_back_with_a_note(crash: Sim) -> None:
    settings = crash.settings(prometheus=PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=2))
    watch = crash.watch(TriggerSpec(type="anomaly"), settings)
    t = wait_for("a fallback anomaly trigger", fired_on(watch, "demo/deployment/api"))
    assert t.details["source"] == "kube-derived" and t.details["note"].startswith("prometheus: ")
    assert "using kube-derived signals" in t.details["note"]


# -- de-duplication, scope, selector ---------------------------------------------------------------------
def test_dedup_holds_within_the_window_and_reopens_after_it(crash: Sim) -> None:
    watch = crash.watch(TriggerSpec(type="anomaly"), dedup_window_s=60)
    first = wait_for("the first incident", fired_on(watch, "demo/deployment/api"))
    for _ in range(3):
        assert not any(t.target == first.target for t in watch.poll()), "re-opened within the window"
    crash.settle(70)  # past the window on the cluster's clock; the pods still crash-loop
    again = wait_for("the incident re-opened after the window", fired_on(watch, "demo/deployment/api"))
    assert again.details["reason_key"] == first.details["reason_key"]
    assert again.details["cluster_time"] > first.details["cluster_time"]


def test_forbidden_namespaces_are_ignored(crash: Sim) -> None:
    wait_for("the fault to show", fired_on(crash.watch(TriggerSpec(type="anomaly")), "demo/deployment/api"))
    for spec in (TriggerSpec(type="anomaly"), TriggerSpec(type="k8sgpt"), TriggerSpec(type="event")):
        watch = crash.watch(spec, forbidden_namespaces=["demo", "kube-system"])
        for _ in range(3):
            got = watch.poll()
            assert not [t for t in got if t.namespace == "demo" or t.target and t.target.namespace == "demo"], got
    with pytest.raises(ConfigError, match="all forbidden"):
        crash.watch(TriggerSpec(type="anomaly", namespaces=["demo"]), forbidden_namespaces=["demo"])
    watch = crash.watch(TriggerSpec(type="anomaly", namespaces=["demo", "kube-system"]),
                        forbidden_namespaces=["kube-system"])
    assert watch.namespaces == ["demo"] and any("kube-system" in n for n in watch.last_notes)


def test_namespaces_and_selector_narrow_what_fires(crash: Sim) -> None:
    t = wait_for("app=api selected", fired_on(crash.watch(TriggerSpec(type="anomaly", selector="app in (api,web)",
                                                                       namespaces=["demo"])),
                                           "demo/deployment/api"))
    assert t.namespace == "demo"
    for spec in (TriggerSpec(type="anomaly", selector="app=web"), TriggerSpec(type="anomaly", namespaces=["shop"]),
                 TriggerSpec(type="event", selector="tier", eventReasons=["BackOff"])):
        watch = crash.watch(spec)
        for _ in range(2):
            assert watch.poll() == [], spec
    for bad in ("app in ()", "a b c", "app=(x", "app=web,,tier=db", "-app=web"):
        with pytest.raises(ConfigError, match="trigger.selector"):
            crash.watch(TriggerSpec(type="anomaly", selector=bad))


def test_event_trigger_sees_only_events_since_the_last_poll(crash: Sim) -> None:
    watch = crash.watch(TriggerSpec(type="event", eventReasons=["BackOff", "Failed"]), dedup_window_s=0)
    t = wait_for("BackOff events on api", fired_on(watch, "demo/deployment/api"))
    assert {f.analyzer for f in t.findings} <= {"BackOff", "Failed"}
    # with no de-dup at all, a later poll reports only events seen (again) after the poll before it
    later = wait_for("new BackOff events", fired_on(watch, "demo/deployment/api"))
    polled_at = datetime.fromisoformat(t.details["cluster_time"])
    assert all(datetime.fromisoformat(f.evidence["last_seen"]) > polled_at for f in later.findings), later.findings


# -- healthy cluster, schedule, failing sources ---------------------------------------------------------------
def test_a_healthy_cluster_opens_nothing(healthy: Sim) -> None:
    settings = healthy.settings(hubble=HubbleSettings(address=healthy.cluster.hubble_address, timeout_s=10))
    watches = [healthy.watch(TriggerSpec(type="anomaly")), healthy.watch(TriggerSpec(type="k8sgpt")),
               healthy.watch(TriggerSpec(type="event", eventReasons=["FailedScheduling", "BackOff", "Evicted",
                                                                     "FailedMount", "OOMKilling"])),
               healthy.watch(TriggerSpec(type="hubble", verdicts=["DROPPED"]), settings,
                             eastwest=EastWestConfig(window_s=30, baseline_s=120))]
    for _ in range(4):
        for w in watches:
            got = w.poll()
            assert got == [], (w.spec.type, [t.reason for t in got], w.last_notes)
        healthy.settle(15)
    for w in watches:
        w.close()


def test_schedule_fires_once_per_due_time(healthy: Sim) -> None:
    with pytest.raises(ConfigError, match="expected exactly 5 fields"):
        healthy.watch(TriggerSpec(type="schedule", schedule="*/5 * *"))
    watch = healthy.watch(TriggerSpec(type="schedule", schedule="* * * * *", namespaces=["shop"]))
    assert watch.poll() == [] and any("first sweep due at" in n for n in watch.last_notes)
    fired: list[Trigger] = []
    wait_for("the next minute on the cluster's clock", lambda: fired.extend(watch.poll()) or fired)
    [t] = fired
    assert t.type == "schedule" and t.target is None and t.findings == [] and t.namespace == "shop"
    assert t.reason.startswith("scheduled health sweep (* * * * *) due at ") and t.details["due"].endswith(":00+00:00")
    assert watch.poll() == [], "fired twice for one due time"
    second = wait_for("the minute after", lambda: watch.poll())
    assert len(second) == 1 and second[0].details["due"] > t.details["due"]


def test_a_failing_source_is_a_note_not_an_exception(healthy: Sim) -> None:
    dead = healthy.settings(hubble=HubbleSettings(address=f"127.0.0.1:{free_port()}", timeout_s=2))
    watch = healthy.watch(TriggerSpec(type="hubble"), dead)
    assert watch.poll() == []
    assert any("skipped this poll" in n and "unavailable" in n for n in watch.last_notes), watch.last_notes
    unconfigured = healthy.watch(TriggerSpec(type="hubble"))
    assert unconfigured.poll() == [] and any("no Hubble Relay configured" in n for n in unconfigured.last_notes)
    with pytest.raises(ConfigError, match="unknown flow verdict"):
        healthy.watch(TriggerSpec(type="hubble", verdicts=["DROPED"]))
    # an unreachable cluster: a note too
    gone = TriggerWatch(TriggerSpec(type="event"), KubeClients(KubeSettings(kubeconfig=healthy.kubeconfig)),
                        healthy.settings(), cluster="no-such-context")
    assert gone.poll() == [] and "no kubeconfig context" in gone.last_notes[0]


def test_selector_text_is_validated_and_evaluated_like_kubectl_l() -> None:
    from prophet_sre.triggers import selector

    reqs = selector.parse("app in (api, web),tier!=db,!canary,example.com/team,env=")
    assert [r.op for r in reqs] == ["in", "!=", "!", "exists", "="]
    assert selector.match(reqs, {"app": "web", "example.com/team": "x", "env": ""})
    assert not selector.match(reqs, {"app": "web", "example.com/team": "x", "env": "", "canary": "1"})
    assert not selector.match(reqs, {"app": "db", "example.com/team": "x", "env": ""})
    assert selector.parse("  ") == ()
    with pytest.raises(ConfigError, match="invalid label value 'a b'"):
        selector.parse("app notin (a b)")

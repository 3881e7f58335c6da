"""Watching a world while Prophet works on it: desired-state fingerprints and the scenario's `recovered` checks.

Split from `episode.py` because it answers a different question: not "what did Prophet do" but "what
state is the cluster in" - which objects' specs changed (`fingerprint`, so a dry-run that writes is
caught), what the objects `unchanged` checks name looked like before Prophet ran (`baseline`), and when
every `recovered` check turned true and stayed true (`RecoveryWatch`, `wait_recovered`), on the sim clock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from prophet_sre.config import Settings
from prophet_sre.evals.world import World
from prophet_sre.graphs.state import IncidentState

log = logging.getLogger(__name__)

_WATCHED = (("apps", "v1", "deployments"), ("apps", "v1", "statefulsets"), ("apps", "v1", "daemonsets"),
            ("", "v1", "services"), ("", "v1", "configmaps"), ("", "v1", "persistentvolumeclaims"),
            ("networking.k8s.io", "v1", "networkpolicies"), ("cilium.io", "v2", "ciliumnetworkpolicies"),
            ("gateway.networking.k8s.io", "v1", "httproutes"))


def fingerprint(clients: Any, world: World) -> dict[str, str]:
    """Desired state of the objects a fix could touch, per cluster: `generation` where the API keeps one,
    else a hash of spec/data/labels. Status churn does not count; a spec change does."""
    import hashlib

    import orjson

    out: dict[str, str] = {}
    for i, name in enumerate(world.clusters):
        try:
            kube = clients.for_cluster("" if i == 0 else name)
        except Exception:  # noqa: BLE001 - a cluster without a context is not fingerprinted
            continue
        for group, version, plural in _WATCHED:
            path = f"/apis/{group}/{version}/{plural}" if group else f"/api/{version}/{plural}"
            try:
                items = kube.get_json(path, op=_op(plural, group)).get("items") or []
            except Exception:  # noqa: BLE001 - a kind the cluster does not serve
                continue
            for obj in items:
                meta = obj.get("metadata") or {}
                if meta.get("namespace") in ("kube-system", "kube-public", "kube-node-lease"):
                    continue
                key = f"{name}:{meta.get('namespace', '')}/{plural}/{meta.get('name')}"
                body = {"spec": obj.get("spec"), "data": obj.get("data"), "labels": meta.get("labels")}
                digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
                out[key] = str(meta.get("generation")) if plural.endswith("sets") or plural == "deployments" \
                    else digest
    return out


def _op(plural: str, group: str) -> Any:
    from prophet_sre.tools.kube.errors import Op

    return Op("list", plural, group)


def baseline(world: World, s: Settings) -> dict[str, Any]:
    """Specs of the objects `unchanged` checks name, captured before Prophet runs."""
    from prophet_sre.tools.checks import CheckContext, check_from_scenario, snapshot
    from prophet_sre.tools.kube.client import KubeClients

    checks = [check_from_scenario(c) for c in world.scenario.expect.recovered]
    paths = [c.target for c in checks if c.kind == "unchanged"]
    if not paths:
        return {}
    clients = KubeClients(s.kube)
    ctx = CheckContext(clients=clients)
    try:
        return {p: snapshot(p, ctx) for p in paths}
    finally:
        clients.close()


class RecoveryWatch:
    """Evaluates the scenario's `recovered` checks in the background from the trigger on, so recovery is
    timed when it happens (the graph's own verification holds for a while before it reports)."""

    def __init__(self, world: World, runner: Any, baseline: dict[str, Any]) -> None:
        from prophet_sre.tools.checks import CheckContext, check_from_scenario

        self.world = world
        self.checks = [check_from_scenario(c) for c in world.scenario.expect.recovered]
        self.ctx = CheckContext(clients=runner.deps.clients, prometheus=runner.deps.prometheus, baseline=baseline)
        self.streak_from: float | None = None
        self.last: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="recovery-watch", daemon=True)

    def start(self) -> RecoveryWatch:
        self._thread.start()
        return self

    def sample(self) -> bool:
        from prophet_sre.tools.checks import evaluate

        now = self.world.elapsed()
        self.last = [evaluate(c, self.ctx) for c in self.checks]
        ok = all(r.ok or r.skipped for r in self.last)
        if not ok:
            self.streak_from = None
        elif self.streak_from is None:
            self.streak_from = now
        return ok

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a failed sample is a missing sample, not a crash
                log.exception("recovery check failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def wait_recovered(world: World, watch: RecoveryWatch, state: IncidentState, result: Any) -> None:
    """After the graph: keep checking until recovered (and held) or the scenario's `within` has passed."""
    watch.stop()
    watch.ctx.since = state.executed_at
    first = world.first_fault_s() or 0.0
    within = float(world.scenario.expect.within) if world.scenario.expect.within is not None else 300.0
    deadline = max(first + within, world.elapsed() + 5.0)
    while not watch.sample() and world.elapsed() < deadline:
        time.sleep(0.25)
    if all(r.ok or r.skipped for r in watch.last) and watch.streak_from is not None:
        result.recovered = True
        result.mttr_s = max(0.0, watch.streak_from - first)
        if result.detect_s is not None:
            result.repair_s = max(0.0, result.mttr_s - result.detect_s)
    result.checks = [{"check": f"{r.check.kind} {r.check.target}", "ok": r.ok, "skipped": r.skipped,
                      "detail": r.detail} for r in watch.last]


__all__ = ["RecoveryWatch", "baseline", "fingerprint", "wait_recovered"]

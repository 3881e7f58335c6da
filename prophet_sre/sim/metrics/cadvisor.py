"""cAdvisor's container series, from the behaviour model's resource usage integrated over sim time.

`container_cpu_usage_seconds_total` and the CFS period counters are integrals, so a meter samples
usage every sim second (as a controller) and accumulates; a scrape only reads the totals. Usage comes
from `ctx.extras["usage"](pod) -> {container: (cpu_cores, memory_bytes)}` when a behaviour model
registers one, else 0. A container that runs at >= 70% of its CPU limit is throttled in a growing
share of its 100 ms CFS periods, which is how CPU starvation shows in real clusters. OOM kills are
counted when a container's last termination is a new `OOMKilled`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.common import parse_quantity
from prophet_sre.sim.metrics.text import Exposition, sample

log = logging.getLogger(__name__)
CFS_PERIODS_PER_S = 10.0
FAMILIES = (
    ("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds."),
    ("container_cpu_cfs_periods_total", "counter", "Number of elapsed enforcement period intervals."),
    ("container_cpu_cfs_throttled_periods_total", "counter", "Number of throttled period intervals."),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes."),
    ("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container."),
    ("container_spec_cpu_quota", "gauge", "CPU quota of the container."),
    ("container_oom_events_total", "counter", "Count of out of memory events observed for the container"),
)


@dataclass(slots=True)
class ContainerState:
    namespace: str
    pod: str
    container: str
    image: str
    cpu_limit: float = 0.0
    memory_limit: float = 0.0
    cpu_seconds: float = 0.0
    periods: float = 0.0
    throttled: float = 0.0
    memory: float = 0.0
    oom_events: int = 0
    last_oom: str = ""
    seen: float = 0.0


def throttle_share(cpu: float, limit: float) -> float:
    """Share of CFS periods throttled: none below 70% of the limit, rising to 90% at the limit."""
    if limit <= 0:
        return 0.0
    return max(0.0, min(0.9, (cpu / limit - 0.7) / 0.3 * 0.9))


class ContainerMeter:
    """Per-container usage integrals over sim time, keyed by (pod uid, container name)."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.pod_rt = ctx.rt("", "pods")
        self.state: dict[tuple[str, str], ContainerState] = {}
        self._last: float | None = None
        self._errors = 0
        self._pods: dict[str, tuple[str, list[tuple[ContainerState, bool]]]] = {}  # uid -> (rv, containers)
        self.lock = threading.Lock()

    def advance(self, now: float | None = None) -> None:
        """Integrate usage up to sim time `now` (default: the clock's)."""
        with self.lock:
            self._advance(self.ctx.clock.elapsed() if now is None else now)

    def _advance(self, now: float) -> None:
        dt = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        usage_fn = self.ctx.extras.get("usage")
        live: dict[str, tuple[str, list[tuple[ContainerState, bool]]]] = {}
        for pod in self.ctx.store.objects(self.pod_rt):
            m = pod["metadata"]
            uid, rv = m.get("uid", ""), m.get("resourceVersion", "")
            hit = self._pods.get(uid)
            if hit is None or hit[0] != rv:
                hit = (rv, self._containers(pod))
            live[uid] = hit
            if not hit[1]:
                continue
            usage = self._usage(usage_fn, pod) if usage_fn is not None else {}
            for st, running in hit[1]:
                if not running:
                    st.memory = 0.0
                    continue
                cpu, mem = usage.get(st.container, (0.0, 0.0))
                st.memory = float(mem)
                st.cpu_seconds += float(cpu) * dt
                if st.cpu_limit > 0:
                    st.periods += CFS_PERIODS_PER_S * dt
                    st.throttled += CFS_PERIODS_PER_S * dt * throttle_share(float(cpu), st.cpu_limit)
        self._pods = live
        keep = {(uid, st.container) for uid, (_, cs) in live.items() for st, _ in cs}
        for key in [k for k in self.state if k not in keep]:
            del self.state[key]

    def _containers(self, pod: dict[str, Any]) -> list[tuple[ContainerState, bool]]:
        """(state, running) per container of a Running pod, re-read when the pod object changes."""
        status = pod.get("status") or {}
        if status.get("phase") != "Running":
            return []
        m = pod["metadata"]
        uid = m.get("uid", "")
        specs = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or ()}
        out = []
        for cs in status.get("containerStatuses") or ():
            name = cs.get("name", "")
            st = self.state.get((uid, name))
            if st is None:
                limits = ((specs.get(name) or {}).get("resources") or {}).get("limits") or {}
                st = self.state[(uid, name)] = ContainerState(m.get("namespace", ""), m["name"], name,
                                                              cs.get("image", ""),
                                                              parse_quantity(limits.get("cpu", 0)),
                                                              parse_quantity(limits.get("memory", 0)))
            self._oom(st, cs)
            out.append((st, "running" in (cs.get("state") or {})))
        return out

    def _usage(self, fn: Any, pod: dict[str, Any]) -> dict[str, tuple[float, float]]:
        if fn is None:
            return {}
        try:
            return dict(fn(pod) or {})
        except Exception:  # noqa: BLE001 - a behaviour-model bug must not stop the metrics
            self._errors += 1
            if self._errors == 1:
                log.exception("usage() failed; reporting 0 usage")
            return {}

    @staticmethod
    def _oom(st: ContainerState, cs: dict[str, Any]) -> None:
        for term in (((cs.get("lastState") or {}).get("terminated")), ((cs.get("state") or {}).get("terminated"))):
            if term and term.get("reason") == "OOMKilled":
                stamp = f"{term.get('finishedAt', '')}/{term.get('containerID', '')}"
                if stamp != st.last_oom:
                    st.last_oom = stamp
                    st.oom_events += 1

    def collect(self, exp: Exposition) -> None:
        fams = {name: exp.family(name, type_, help_) for name, type_, help_ in FAMILIES}
        with self.lock:
            states = sorted(self.state.values(), key=lambda s: (s.namespace, s.pod, s.container))
        for st in states:
            labels = (("namespace", st.namespace), ("pod", st.pod), ("container", st.container), ("image", st.image))
            values: list[tuple[str, float]] = [("container_cpu_usage_seconds_total", st.cpu_seconds),
                                               ("container_memory_working_set_bytes", st.memory),
                                               ("container_spec_memory_limit_bytes", st.memory_limit),
                                               ("container_oom_events_total", st.oom_events)]
            if st.cpu_limit > 0:  # cAdvisor reports CFS series only for containers with a CPU quota
                values += [("container_cpu_cfs_periods_total", int(st.periods)),
                           ("container_cpu_cfs_throttled_periods_total", int(st.throttled)),
                           ("container_spec_cpu_quota", int(st.cpu_limit * 100_000))]
            for name, value in values:
                fams[name].lines.append(sample(name, labels, value))


class MeterController(Controller):
    """Samples usage every `period_s` sim seconds (the manager's resync timer)."""

    name = "container-meter"
    watches = ()

    def __init__(self, ctx: ControllerContext, meter: ContainerMeter, period_s: float = 1.0) -> None:
        super().__init__(ctx)
        self.meter = meter
        self.resync_s = period_s

    def resync(self) -> Iterable[Hashable]:
        return ["sample"]

    def reconcile(self, key: Hashable) -> float | None:
        self.meter.advance()
        return None

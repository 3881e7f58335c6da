"""One running container instance: its memory and CPU over time, its service, its probes, its log lines.

Built by the runtime from the program's time line (`programs.plan`) and the image: the kubelet asks it
what is due next, what happened up to a time (lines printed, an exit, an OOM kill with the kernel's
line for the node), and how each probe fares against what the process actually listens on. Everything
is a function of the time since start, the current request rate (the traffic model's hook) and the
pod uid (the seed of every "random" number), so a scenario replays identically.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prophet_sre.sim.behaviour import programs, texts
from prophet_sre.sim.behaviour.images import Endpoint, ImageSpec
from prophet_sre.sim.controllers.common import hex_digest
from prophet_sre.sim.controllers.runtime import Advance, Exit, NodeEvent, ProbeOutcome, StopResult

Obj = dict[str, Any]
MI = 1024 * 1024
EPS = 1e-6
LOAD_CHECK_S = 15.0
"""How often a container whose memory depends on load re-checks it against its limit (between pokes)."""
PROBE_AGENT = "kube-probe/1.33"
HEALTH_TOOLS = {"pg_isready": "{host}:{port} - no response", "redis-cli": "Could not connect to Redis at "
                "127.0.0.1:{port}: Connection refused", "mysqladmin": "mysqladmin: connect to server at 'localhost' "
                "failed", "curl": "curl: (7) Failed to connect to localhost port {port}: Connection refused",
                "wget": "wget: can't connect to remote host (127.0.0.1): Connection refused"}


class _Raw:
    def __init__(self, key: str) -> None:
        self.key = key

    def __format__(self, spec: str) -> str:
        return "{" + self.key + (":" + spec if spec else "") + "}"


class _Vars(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        return _Raw(key)


def fill(template: str, **values: Any) -> str:
    """A log template with its placeholders filled; unknown placeholders stay as written."""
    when = values.get("time")
    if isinstance(when, datetime):
        values.setdefault("ms", f"{when.microsecond // 1000:03d}")
    try:
        return string.Formatter().vformat(template, (), _Vars(values))
    except (ValueError, IndexError, AttributeError):
        return template


def seeded(*parts: str) -> float:
    """A deterministic number in [0, 1) for these parts (the pod uid is always one of them)."""
    return int(hex_digest(*parts)[:12], 16) / 16 ** 12


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = None
    cpu_cores: float | None = None
    oom_score_adj: int = 1000
    node_name: str = ""


class Instance:
    """A `Process` for the kubelet; also answers `usage` and `serving` for the metrics and traffic models."""

    def __init__(self, *, ctx: programs.ExecContext, tl: programs.Timeline, pod: Obj, container: Obj,
                 limits: Limits, restart_count: int, load: Callable[[], float]) -> None:
        self.ctx, self.tl, self.limits = ctx, tl, limits
        self.spec: ImageSpec = ctx.spec
        self.started, self.tag = ctx.started, ctx.tag
        meta = pod.get("metadata") or {}
        self.uid, self.pod_name, self.ns = meta.get("uid", ""), meta.get("name", ""), meta.get("namespace", "")
        self.pod_ip = (pod.get("status") or {}).get("podIP", "")
        self.container = container
        self.name = container.get("name", "")
        self.load = load
        self.seed = f"{self.uid}/{self.name}/{restart_count}"
        self.pid = 1000 + int(seeded("pid", self.seed) * 60_000)
        self.alive = True
        self.reported_s = 0.0
        self._line_i = 0  # next time-line line to report
        self._loop_n = 0
        self._periodic_n = 0
        self._requests = 0
        svc = tl.service
        self.listen_s = None if svc is None else svc.at_s + self.spec.startup_seconds
        self.endpoints: tuple[Endpoint, ...] = () if svc is None else (svc.endpoints or tuple(self.spec.serves))
        if svc is not None:  # the service's start-up lines, spread over its start-up time
            startup = svc.startup if svc.startup is not None else tuple(self.spec.logs.startup)
            step = self.spec.startup_seconds / max(len(startup), 1)
            tl.lines += [(svc.at_s + i * step, self.render(t, svc.at_s + i * step)) for i, t in enumerate(startup)]
            tl.lines.sort(key=lambda x: x[0])

    # -- the numbers ----------------------------------------------------------------------------------------------
    def memory_mi(self, alive_s: float) -> float:
        svc, m = self.tl.service, self.spec.memory
        if svc is None:
            return 0.4 if self.spec.os in ("busybox", "alpine") else 1.2
        running_min = max(0.0, alive_s - svc.at_s) / 60.0
        wobble = 1.0 + 0.02 * math.sin(alive_s / 17.0 + seeded("mem", self.seed) * 6.28)
        return m.base_mi * wobble + m.leak_mi_per_min * running_min + m.per_request_ki * self.load() / 1024.0

    def memory_bytes(self, alive_s: float) -> int:
        return int(self.memory_mi(alive_s) * MI)

    def cpu_cores(self, alive_s: float) -> float:
        c = self.spec.cpu
        if self.tl.service is None:
            return 0.0001
        wobble = 1.0 + 0.05 * math.sin(alive_s / 11.0 + seeded("cpu", self.seed) * 6.28)
        cores = (c.base_milli + c.per_request_milli * self.load()) * wobble / 1000.0
        return min(cores, self.limits.cpu_cores) if self.limits.cpu_cores else cores

    def oom_at(self) -> float | None:
        """Seconds since start when the working set reaches the memory limit (at the current load)."""
        svc, limit = self.tl.service, self.limits.memory_bytes
        if svc is None or not limit:
            return None
        m = self.spec.memory
        room_mi = limit / MI - m.base_mi * 1.02 - m.per_request_ki * self.load() / 1024.0
        if room_mi <= 0:
            return svc.at_s + min(self.spec.startup_seconds, 1.0) + 0.3
        if m.leak_mi_per_min <= 0:
            return None
        return svc.at_s + room_mi / m.leak_mi_per_min * 60.0

    # -- Process ------------------------------------------------------------------------------------------------
    def next_due(self) -> float | None:
        if not self.alive:
            return None
        dues = [t for t, _ in self.tl.lines[self._line_i:self._line_i + 1]]
        if self.tl.exit_s is not None:
            dues.append(self.tl.exit_s)
        if self.tl.loop is not None:
            start, period, _ = self.tl.loop
            dues.append(start + self._loop_n * period)
        if (p := self._next_periodic()) is not None:
            dues.append(p)
        if (oom := self.oom_at()) is not None:
            dues.append(oom)
        if self.limits.memory_bytes and self.spec.memory.per_request_ki and self.listen_s is not None:
            dues.append((math.floor(self.reported_s / LOAD_CHECK_S) + 1) * LOAD_CHECK_S)  # load may have moved
        return min(dues) if dues else None

    def _next_periodic(self) -> float | None:
        logs = self.spec.logs
        if self.listen_s is None or not logs.periodic:
            return None
        return self.listen_s + (self._periodic_n + 1) * logs.periodic_seconds

    def advance(self, alive_s: float) -> Advance:
        if not self.alive:
            return Advance()
        alive_s += EPS  # the kubelet computes `alive_s` from absolute sim time: float noise must not stall it
        oom = self.oom_at()
        until = min(alive_s, oom) if oom is not None else alive_s
        lines: list[tuple[float, str]] = []
        while self._line_i < len(self.tl.lines) and self.tl.lines[self._line_i][0] <= until:
            lines.append(self.tl.lines[self._line_i])
            self._line_i += 1
        if self.tl.loop is not None:
            start, period, body = self.tl.loop
            while start + self._loop_n * period <= until and self._loop_n < 100_000:
                base = start + self._loop_n * period
                lines += [(base + dt, text) for dt, text in body if base + dt <= until]
                self._loop_n += 1
        while (p := self._next_periodic()) is not None and p <= until:
            tpl = self.spec.logs.periodic[self._periodic_n % len(self.spec.logs.periodic)]
            self._periodic_n += 1
            lines.append((p, self.render(tpl, p)))
        lines.sort(key=lambda x: x[0])
        self.reported_s = until
        if oom is not None and oom <= alive_s:
            return Advance(tuple(lines), Exit(137, "OOMKilled", at_s=oom), (self._oom_event(oom),))
        if self.tl.exit_s is not None and self.tl.exit_s <= alive_s:
            return Advance(tuple(lines), Exit(self.tl.exit_code, at_s=self.tl.exit_s))
        return Advance(tuple(lines))

    def _oom_event(self, at_s: float) -> NodeEvent:
        limit_kb = (self.limits.memory_bytes or 0) // 1024
        file_kb = 4096 + int(seeded("file-rss", self.seed) * 12_000)
        anon_kb = max(limit_kb - file_kb, 1024)
        total_vm = anon_kb + file_kb + 700_000 + int(seeded("vm", self.seed) * 400_000)
        comm = self.tl.service.comm if self.tl.service else self.name
        msg = texts.oom_kill(self.pid, comm, total_vm, anon_kb, file_kb, max(anon_kb // 400, 80),
                             self.limits.oom_score_adj)
        return NodeEvent("Warning", "OOMKilling", msg, "kernel-monitor")

    def stop(self, alive_s: float, grace_s: float) -> StopResult:
        if self.tl.ignores_term or self.tl.service is None and self.tl.exit_s is None:
            return StopResult(after_s=grace_s, exit_code=137)
        lines = tuple(self.render(t, alive_s) for t in self.spec.logs.stop)
        after = min(self.spec.stop.seconds, grace_s)
        code = self.spec.stop.exit_code if after < grace_s else 137
        return StopResult(after_s=after, exit_code=code, lines=lines)

    def ended(self) -> None:
        self.alive = False

    # -- serving and probes ----------------------------------------------------------------------------------
    def listening(self, alive_s: float) -> bool:
        return self.alive and self.listen_s is not None and alive_s >= self.listen_s

    def endpoint(self, port: int) -> Endpoint | None:
        return next((e for e in self.endpoints if e.port == port), None)

    def serving(self, port: int, path: str, alive_s: float) -> int | None:
        """The HTTP code a request to `port`/`path` gets now; None when nothing answers there."""
        ep = self.endpoint(port)
        if ep is None or not self.listening(alive_s) or ep.protocol not in ("http", "grpc"):
            return None
        return ep.code_for(path)

    def request_lines(self, method: str, path: str, code: int, client: str, agent: str, port: int,
                      pod_ip: str, alive_s: float) -> list[tuple[float, str]]:
        """The access (and not-found) lines one request leaves in the log."""
        svc = self.tl.service
        access = svc.access if svc and svc.access is not None else self.spec.logs.access
        not_found = svc.not_found if svc and svc.not_found is not None else self.spec.logs.not_found
        self._requests += 1
        out = []
        values = dict(client=client, method=method, path=path, code=code, agent=agent, port=port, podIP=pod_ip,
                      n=self._requests, bytes=615 if code == 200 else 153)
        if code == 404 and not_found:
            out.append((alive_s, self.render(not_found, alive_s, **values)))
        if access:
            out.append((alive_s, self.render(access, alive_s, **values)))
        return out

    def probe(self, kind: str, probe: Obj, pod_ip: str, alive_s: float) -> ProbeOutcome:
        up = self.listening(alive_s)
        settled = up or self.listen_s is None
        if "httpGet" in probe:
            h = probe["httpGet"]
            port, path = self.port_number(h.get("port")), h.get("path") or "/"
            host, scheme = h.get("host") or pod_ip, h.get("scheme") or "HTTP"
            ep = self.endpoint(port) if port else None
            if ep is None or not up or ep.protocol == "udp":
                return ProbeOutcome(False, texts.http_refused(scheme, host, port or 0, path), stable=settled)
            if ep.protocol == "tcp":
                return ProbeOutcome(False, texts.http_eof(scheme, host, port, path))
            code = ep.code_for(path)
            gateway = pod_ip.rsplit(".", 1)[0] + ".1" if pod_ip.count(".") == 3 else pod_ip
            lines = tuple(self.request_lines("GET", path, code, gateway, PROBE_AGENT, port, pod_ip, alive_s))
            ok = 200 <= code < 400
            return ProbeOutcome(ok, "" if ok else texts.http_status(code), lines=lines)
        if "tcpSocket" in probe:
            port = self.port_number(probe["tcpSocket"].get("port"))
            host = probe["tcpSocket"].get("host") or pod_ip
            ep = self.endpoint(port) if port else None
            ok = ep is not None and up and ep.protocol != "udp"
            return ProbeOutcome(ok, "" if ok else texts.tcp_refused(host, port or 0), stable=settled)
        if "grpc" in probe:
            port = int(probe["grpc"].get("port") or 0)
            ok = self.endpoint(port) is not None and up
            msg = "" if ok else texts.grpc_unreachable(pod_ip, port, int(probe.get("timeoutSeconds") or 1))
            return ProbeOutcome(ok, msg, stable=settled)
        if "exec" in probe:
            return self._exec_probe([str(x) for x in probe["exec"].get("command") or ()], alive_s, up)
        return ProbeOutcome(True)

    def _exec_probe(self, argv: list[str], alive_s: float, up: bool) -> ProbeOutcome:
        ctx = self.ctx
        if not argv or not ctx.has(argv[0]):
            prog = argv[0] if argv else ""
            return ProbeOutcome(False, texts.exec_error(prog, f"{self.seed}/{alive_s:.3f}"), errored=True)
        name = argv[0].rsplit("/", 1)[-1]
        if name in HEALTH_TOOLS and self.tl.service is not None:
            port = self.endpoints[0].port if self.endpoints else 0
            msg = "" if up else fill(HEALTH_TOOLS[name], host="/var/run/postgresql", port=port)
            return ProbeOutcome(up, msg, stable=up)
        ex = programs.Exec(ctx, programs.Timeline(files=list(self.tl.files)), t=alive_s)
        ex.lines = []
        code = (programs.run_shell(ex, argv[1:]) if name in programs.SHELLS else ex.simple(argv, None))
        if ex.done:
            code = ex.exit_code
        out = "\n".join(text for _, text in ex.lines)
        changes_later = any(t > alive_s for t, _, _ in self.tl.files)
        return ProbeOutcome(code == 0, out, stable=not changes_later)

    def port_number(self, port: Any) -> int | None:
        if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            return int(port)
        for p in self.container.get("ports") or ():
            if p.get("name") == port:
                return int(p.get("containerPort") or 0)
        return None

    # -- templates ---------------------------------------------------------------------------------------------
    def render(self, template: str, at_s: float, **extra: Any) -> str:
        when = self.started + timedelta(seconds=at_s)
        heap = self.memory_mi(at_s)
        limit = (self.limits.memory_bytes or 0) / MI
        values = dict(time=when, version=self.spec.version_for(self.tag), pid=self.pid, heapMi=int(heap),
                      limitMi=int(limit) if limit else "none", pod=self.pod_name, container=self.name,
                      gcMs=int(5 + heap / 8 + seeded("gc", self.seed, str(int(at_s))) * 20),
                      port=self.endpoints[0].port if self.endpoints else 0, missing=self.tl.missing,
                      n=self._periodic_n, node=self.limits.node_name, podIP=self.pod_ip)
        values.update(extra)
        return fill(template, **values)

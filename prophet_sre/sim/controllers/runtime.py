"""The container runtime seam: what a simulated container does once the kubelet starts it.

The kubelet owns the mechanics every runtime shares (pulls and their back-off, create/start events,
restarts with CrashLoopBackOff, readiness, phases, graceful kill). A `ContainerRuntime` only decides
the facts: how long a pull takes and whether it fails, and - per started instance - whether and when
the process exits, with which code, when it becomes ready, and what it prints. The default runtime
says "every image exists, every server starts and stays healthy, every batch container finishes";
a behaviour model (image catalog, crashes, OOM kills, failing probes) replaces it through
`ControllerContext.extras["container_runtime"]` without touching the kubelet.

A runtime whose containers change while they run (memory grows until an OOM kill, a probe path
answers 404, a script prints a line every 10 s) returns a `Process` in the plan: the kubelet asks it
when its next change is due, what happened up to a time, and how each probe of the pod spec fares.
The kubelet keeps the mechanics (probe periods and thresholds, events, restarts), the process the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from prophet_sre.sim.controllers.common import hex_digest

Obj = dict[str, Any]


@dataclass(frozen=True)
class PullResult:
    """The outcome of one image pull."""

    seconds: float
    size_bytes: int
    error: str = ""
    """Empty on success; else the runtime's message (shown in `Failed to pull image "x": <error>`)."""


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe run. `message` is the prober's text for a failure (`HTTP probe failed with statuscode: 404`)."""

    ok: bool
    message: str = ""
    errored: bool = False
    """The probe could not run at all (exec of a missing binary): `... probe errored and resulted in ...`."""
    stable: bool = True
    """The same result holds until something outside pokes the pod (no need to probe a healthy container
    every period just to learn nothing)."""
    lines: tuple[tuple[float, str], ...] = ()
    """Log lines the request caused (an access log line), as (seconds since start, text)."""


@dataclass(frozen=True)
class Exit:
    code: int
    reason: str = ""
    message: str = ""
    at_s: float = 0.0
    """Seconds since start when the process exited (the kubelet notices it at its next relist)."""


@dataclass(frozen=True)
class NodeEvent:
    """An event about the node the process ran on (the kernel's OOM kill line, for instance)."""

    type: str
    reason: str
    message: str
    component: str


@dataclass(frozen=True)
class Advance:
    """What a process did up to some time: lines printed (seconds since start, text), and its exit."""

    lines: tuple[tuple[float, str], ...] = ()
    exit: Exit | None = None
    node_events: tuple[NodeEvent, ...] = ()


@dataclass(frozen=True)
class StopResult:
    """How the process answers SIGTERM: seconds until it exits, with which code, and its last lines."""

    after_s: float
    exit_code: int
    lines: tuple[str, ...] = ()


@runtime_checkable
class Process(Protocol):
    """One started container instance whose behaviour unfolds over time (all times: seconds since start)."""

    def next_due(self) -> float | None: ...

    def advance(self, alive_s: float) -> Advance: ...

    def probe(self, kind: str, probe: Obj, pod_ip: str, alive_s: float) -> ProbeOutcome: ...

    def stop(self, alive_s: float, grace_s: float) -> StopResult: ...

    def ended(self) -> None: ...


@dataclass(frozen=True)
class RunPlan:
    """What one started container instance will do (times are sim seconds after it started)."""

    exit_after_s: float | None = None
    """None: runs until stopped."""
    exit_code: int = 0
    reason: str = ""
    """Terminated reason; default `Completed` for exit code 0, else `Error` (`OOMKilled` for OOM kills)."""
    message: str = ""
    ready_after_s: float | None = 0.0
    """When the readiness probe first passes; None: never ready."""
    started_after_s: float = 0.0
    """When the startup probe passes (`started: true`)."""
    logs: list[str] = field(default_factory=list)
    """Lines printed at start."""
    start_error: str = ""
    """The process could not be started (a missing binary): terminated `StartError`, exit code 128."""
    process: Process | None = None
    """The dynamic part (exits, probes, lines over time); None: the static fields above say everything
    and every probe succeeds."""


class ContainerRuntime(Protocol):
    def pull(self, pod: Obj, container: Obj, node: str) -> PullResult: ...

    def run(self, pod: Obj, container: Obj, node: str, *, init: bool, restart_count: int,
            started: datetime) -> RunPlan: ...

    def stop_logs(self, pod: Obj, container: Obj, stopped: datetime) -> list[str]: ...


# -- image references ----------------------------------------------------------------------------------
def split_image(image: str) -> tuple[str, str]:
    """("docker.io/library/nginx", "1.27"): the fully qualified repository and tag (or digest)."""
    name, digest = (image.split("@", 1) + [""])[:2]
    slash = name.rfind("/")
    tag = ""
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + (name if "/" in name else "library/" + name)
    if digest:
        return name, "@" + digest
    return name, tag or "latest"


def image_ref(image: str) -> str:
    """What containerd reports as the container's image: `docker.io/library/nginx:1.27`."""
    repo, tag = split_image(image)
    return repo + tag if tag.startswith("@") else f"{repo}:{tag}"


def image_id(image: str) -> str:
    """A deterministic repo digest: `docker.io/library/nginx@sha256:<64 hex>`."""
    repo, tag = split_image(image)
    if tag.startswith("@"):
        return repo + tag
    return f"{repo}@sha256:{hex_digest('image', repo, tag)}"


_SIZES = {"nginx": 72_099_410, "coredns": 20_939_036, "busybox": 2_166_802, "alpine": 3_653_068,
          "redis": 45_934_521, "postgres": 158_734_102, "httpd": 58_223_402, "python": 51_388_421,
          "node": 66_101_772, "mysql": 172_231_441, "memcached": 32_010_874, "curl": 10_311_228,
          "pause": 320_368, "ubuntu": 29_754_290, "debian": 48_493_962}


def image_size(image: str) -> int:
    repo, _ = split_image(image)
    base = repo.rsplit("/", 1)[-1]
    if base in _SIZES:
        return _SIZES[base]
    return 15_000_000 + int(hex_digest("size", repo)[:8], 16) % 120_000_000


# -- start-up output -----------------------------------------------------------------------------------
def _nginx_logs(tag: str, when: datetime, workers: int) -> list[str]:
    stamp = when.strftime("%Y/%m/%d %H:%M:%S")
    version = tag if tag[:1].isdigit() else "1.27.3"
    if version.count(".") == 1:
        version += ".3"
    out = [
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
        "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
        "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf",
        "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf",
        "/docker-entrypoint.sh: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
        "/docker-entrypoint.sh: Configuration complete; ready for start up",
        f'{stamp} [notice] 1#1: using the "epoll" event method',
        f"{stamp} [notice] 1#1: nginx/{version}",
        f"{stamp} [notice] 1#1: built by gcc 12.2.0 (Debian 12.2.0-14) ",
        f"{stamp} [notice] 1#1: OS: Linux 6.8.0-1021-aws",
        f"{stamp} [notice] 1#1: getrlimit(RLIMIT_NOFILE): 1048576:1048576",
        f"{stamp} [notice] 1#1: start worker processes",
    ]
    out += [f"{stamp} [notice] 1#1: start worker process {29 + i}" for i in range(workers)]
    return out


def startup_logs(image: str, name: str, when: datetime, workers: int = 4) -> list[str]:
    repo, tag = split_image(image)
    base = repo.rsplit("/", 1)[-1]
    if base == "nginx":
        return _nginx_logs(tag, when, workers)
    if base == "coredns":
        sha = hex_digest("corefile", repo) + hex_digest("corefile2", repo)
        return [".:53", f"[INFO] plugin/reload: Running configuration SHA512 = {sha}",
                f"CoreDNS-{tag.lstrip('v')}", "linux/amd64, go1.23.3, 51e11f1"]
    if base == "redis":
        stamp = when.strftime("%d %b %Y %H:%M:%S.") + f"{when.microsecond // 1000:03d}"
        return [f"1:C {stamp} # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
                f"1:M {stamp} * Running mode=standalone, port=6379.",
                f"1:M {stamp} * Server initialized", f"1:M {stamp} * Ready to accept connections tcp"]
    if base in ("busybox", "alpine", "ubuntu", "debian", "curl", "pause"):
        return []
    ts = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return [f'time="{ts}" level=info msg="starting {name}" version={tag}',
            f'time="{ts}" level=info msg="listening" addr=":8080"']


def _probe_delay(container: Obj, probe: str) -> float | None:
    p = container.get(probe)
    return None if not p else float(p.get("initialDelaySeconds") or 0)


class DefaultRuntime:
    """Everything works: pulls succeed (~0.5 s + size at 60 MB/s), servers run and become ready after
    their readiness probe's initial delay, batch containers (a command under restartPolicy
    Never/OnFailure) and init containers exit 0 after a short run."""

    batch_seconds = 2.0
    init_seconds = 1.0

    def pull(self, pod: Obj, container: Obj, node: str) -> PullResult:
        size = image_size(container.get("image", ""))
        return PullResult(seconds=round(0.5 + size / 60e6, 3), size_bytes=size)

    def run(self, pod: Obj, container: Obj, node: str, *, init: bool, restart_count: int,
            started: datetime) -> RunPlan:
        restart = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        ready = _probe_delay(container, "readinessProbe") or 0.0
        startup = _probe_delay(container, "startupProbe") or 0.0
        image = container.get("image", "")
        if init and container.get("restartPolicy") != "Always":
            return RunPlan(exit_after_s=self.init_seconds, ready_after_s=None)
        if restart in ("Never", "OnFailure") and (container.get("command") or container.get("args")):
            return RunPlan(exit_after_s=self.batch_seconds, ready_after_s=0.0)
        return RunPlan(ready_after_s=startup + ready, started_after_s=startup,
                       logs=startup_logs(image, container.get("name", ""), started))

    def stop_logs(self, pod: Obj, container: Obj, stopped: datetime) -> list[str]:
        repo, _ = split_image(container.get("image", ""))
        if repo.rsplit("/", 1)[-1] == "nginx":
            stamp = stopped.strftime("%Y/%m/%d %H:%M:%S")
            return [f"{stamp} [notice] 1#1: signal 3 (SIGQUIT) received, shutting down",
                    f"{stamp} [notice] 1#1: signal 17 (SIGCHLD) received from 29",
                    f"{stamp} [notice] 1#1: worker process 29 exited with code 0",
                    f"{stamp} [notice] 1#1: exit"]
        return []


def runtime_for(extras: dict[str, Any]) -> ContainerRuntime:
    rt = extras.get("container_runtime")
    if rt is None:
        rt = extras["container_runtime"] = DefaultRuntime()
    return rt  # type: ignore[no-any-return]

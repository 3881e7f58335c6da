"""The kubelet's in-memory view of a pod (sandbox, containers) and the PodStatus it reports from it.

Kept apart from the state machine in `kubelet.py` so the status rules - phase from container states,
the five conditions with stable transition times, container statuses sorted like the kubelet sorts
them - read as one piece and match `kubelet_pods.go` (`getPhase`, `generateAPIPodStatus`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prophet_sre.sim.controllers.common import parse_quantity
from prophet_sre.sim.controllers.runtime import Exit, PullResult, RunPlan, image_id, image_ref

if TYPE_CHECKING:
    from prophet_sre.sim.behaviour.probing import ProbeWorker

Obj = dict[str, Any]
RUNNING_STAGES = ("running", "stopping")


@dataclass
class ContainerRun:
    name: str
    image: str
    init: bool = False
    sidecar: bool = False
    stage: str = "idle"
    """idle | pulling | pull_failed | pull_backoff | creating | config_error | running | stopping | crashloop
    | exited | never"""
    due: float | None = None
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    restart_count: int = 0
    backoff_n: int = 0
    pull_backoff_n: int = 0
    pull: PullResult | None = None
    pull_started: float = 0.0
    plan: RunPlan | None = None
    container_id: str = ""
    started_s: float = 0.0
    started_at: str = ""
    ready_at: float | None = None
    started_probe_at: float = 0.0
    ready: bool = False
    started: bool = False
    ever_ran: bool = False
    terminated: Obj | None = None
    last_terminated: Obj | None = None
    probes: list[ProbeWorker] = field(default_factory=list)
    exit_pending: Exit | None = None
    """The process exited; the kubelet notices at its next relist (PLEG), stamping the real exit time."""
    stop_exit: tuple[int, str] | None = None
    """(exit code, reason) of a container being stopped by the kubelet (a failed liveness probe)."""
    config_retries: int = 0

    @property
    def done_ok(self) -> bool:
        return self.stage == "exited" and bool(self.terminated) and self.terminated.get("exitCode") == 0


@dataclass
class PodRun:
    uid: str
    node: str
    start_time: str
    host_ip: str
    sandbox_due: float
    init: list[ContainerRun] = field(default_factory=list)
    app: list[ContainerRun] = field(default_factory=list)
    pod_ip: str = ""
    sandbox_ready: bool = False
    kill_due: float | None = None
    failed: bool = False
    finished: bool = False
    mount_failures: int = 0
    mount_since: float | None = None
    """Sim second volumes first failed to mount (the 2m wait of the kubelet times out from there)."""

    def containers(self) -> list[ContainerRun]:
        return self.init + self.app

    def inits_done(self) -> bool:
        return all(c.done_ok or (c.sidecar and c.started) for c in self.init)


def qos_class(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            lv = lim.get(r)
            if lv is None or parse_quantity(req.get(r, lv)) != parse_quantity(lv):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _state(c: ContainerRun) -> Obj:
    if c.stage in RUNNING_STAGES:
        return {"running": {"startedAt": c.started_at}}
    if c.stage == "exited" and c.terminated is not None:
        return {"terminated": dict(c.terminated)}
    w: Obj = {"reason": c.waiting_reason}
    if c.waiting_message:
        w["message"] = c.waiting_message
    return {"waiting": w}


def container_status(c: ContainerRun, spec_c: Obj) -> Obj:
    out: Obj = {"name": c.name, "state": _state(c),
                "lastState": {"terminated": dict(c.last_terminated)} if c.last_terminated else {},
                "ready": c.ready, "restartCount": c.restart_count, "image": image_ref(c.image),
                "imageID": image_id(c.image) if c.ever_ran else ""}
    if c.container_id:
        out["containerID"] = c.container_id
    out["started"] = c.started and c.stage in RUNNING_STAGES
    res = spec_c.get("resources") or {}
    if res.get("requests") or res.get("limits"):
        out["resources"] = {k: dict(v) for k, v in res.items() if k in ("requests", "limits") and v}
        if res.get("requests"):
            out["allocatedResources"] = dict(res["requests"])
    mounts = [{"name": m.get("name"), "mountPath": m.get("mountPath"),
               **({"readOnly": True, "recursiveReadOnly": "Disabled"} if m.get("readOnly") else {})}
              for m in spec_c.get("volumeMounts") or ()]
    if mounts:
        out["volumeMounts"] = mounts
    return out


def pod_phase(run: PodRun, pod: Obj) -> str:
    """`getPhase`: Pending until every container has started once; terminal only without restarts."""
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if run.failed:
        return "Failed"
    if not run.inits_done():
        return "Pending"
    waiting = running = stopped = succeeded = 0
    for c in run.app:
        if c.stage in RUNNING_STAGES:
            running += 1
        elif c.stage == "exited":
            stopped += 1
            if c.done_ok:
                succeeded += 1
        elif c.last_terminated is not None:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _cond(old: dict[str, Obj], type_: str, status: str, now: str, reason: str = "", message: str = "") -> Obj:
    prev = old.get(type_)
    ltt = prev.get("lastTransitionTime", now) if prev and prev.get("status") == status else now
    c: Obj = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": ltt}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def build_status(run: PodRun, pod: Obj, now: str) -> Obj:
    """The PodStatus the kubelet would post for `run`."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    old_conds = {c.get("type"): c for c in old.get("conditions") or ()}
    phase = pod_phase(run, pod)
    terminal = phase in ("Succeeded", "Failed")
    conds = [_cond(old_conds, "PodReadyToStartContainers", "True" if run.sandbox_ready and not terminal
                   and run.kill_due is None else "False", now)]
    pending_init = [c.name for c in run.init if not (c.done_ok or (c.sidecar and c.started))]
    if pending_init and not terminal:
        conds.append(_cond(old_conds, "Initialized", "False", now, "ContainersNotInitialized",
                           f"containers with incomplete status: [{' '.join(pending_init)}]"))
    else:
        conds.append(_cond(old_conds, "Initialized", "True", now))
    unready = [c.name for c in run.app if not c.ready]
    if terminal:
        ready = [_cond(old_conds, t, "False", now, "PodCompleted") for t in ("Ready", "ContainersReady")]
    elif unready or run.kill_due is not None:
        msg = f"containers with unready status: [{' '.join(unready or [c.name for c in run.app])}]"
        ready = [_cond(old_conds, t, "False", now, "ContainersNotReady", msg) for t in ("Ready", "ContainersReady")]
    else:
        ready = [_cond(old_conds, t, "True", now) for t in ("Ready", "ContainersReady")]
    conds += ready
    conds.append(old_conds.get("PodScheduled") or _cond(old_conds, "PodScheduled", "True", now))
    status: Obj = {"phase": phase, "conditions": conds, "hostIP": run.host_ip, "hostIPs": [{"ip": run.host_ip}]}
    if run.pod_ip:
        status["podIP"] = run.pod_ip
        status["podIPs"] = [{"ip": run.pod_ip}]
    status["startTime"] = run.start_time
    by_name = {c.get("name"): c for c in spec.get("initContainers") or ()}
    if run.init:
        status["initContainerStatuses"] = [container_status(c, by_name.get(c.name, {})) for c in run.init]
    by_name = {c.get("name"): c for c in spec.get("containers") or ()}
    status["containerStatuses"] = sorted((container_status(c, by_name.get(c.name, {})) for c in run.app),
                                         key=lambda s: s["name"])
    status["qosClass"] = old.get("qosClass") or qos_class(pod)
    for k in ("nominatedNodeName", "resize"):
        if k in old:
            status[k] = old[k]
    return status

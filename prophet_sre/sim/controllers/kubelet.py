"""The kubelets of all simulated nodes: pod sandboxes, image pulls, container lifecycles, termination.

A bound pod goes through the real sequence - ContainerCreating, sandbox with a pod IP from the node's
/24, `Pulling`/`Pulled`/`Created`/`Started` events, Running, Ready (after the readiness probe's
initial delay) - on sim time, with timestamps of when each step happened. Restarts follow the
kubelet's back-off (CrashLoopBackOff 10s, 20s, ... 5m); pull failures ErrImagePull/ImagePullBackOff.
What a container actually does is the `ContainerRuntime`'s decision (see `runtime.py`); unless told
otherwise the kubelet installs the behaviour model (`prophet_sre.sim.behaviour`). Before a sandbox
exists its ConfigMap/Secret volumes must mount (else `FailedMount`, retried with the volume manager's
back-off); before a container exists its env must resolve (else `CreateContainerConfigError`, retried
every 10-15 s); both recover by themselves once the missing object appears. Running containers - their
probes, their exits, OOM kills - are handled by `kubelet_run.RunningContainers`.

A node annotated `sim.prophet.io/stopped: "true"` has a dead kubelet: its pods are left exactly as
they are (a later node lifecycle controller turns that into NotReady and evictions).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable, Iterable
from datetime import datetime, timedelta
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.behaviour import probing
from prophet_sre.sim.behaviour.podconfig import PodConfig
from prophet_sre.sim.behaviour.process import seeded
from prophet_sre.sim.behaviour.runtime import install as install_behaviour
from prophet_sre.sim.behaviour.texts import mount_timeout
from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import ensure_pod_indexes, informers
from prophet_sre.sim.controllers.common import hex_digest, is_deleting, is_terminal, obj_key
from prophet_sre.sim.controllers.kubelet_run import RunningContainers
from prophet_sre.sim.controllers.podstatus import ContainerRun, PodRun, build_status, pod_phase
from prophet_sre.sim.controllers.runtime import ContainerRuntime, image_ref, runtime_for
from prophet_sre.sim.store import WatchEvent

COMPONENT = "kubelet"
STOPPED_ANNOTATION = "sim.prophet.io/stopped"
SANDBOX_S = 0.3
CREATE_S = 0.1
MAX_BACKOFF_S = 300.0
MOUNT_RETRY_S = (0.5, 122.0)
"""The volume manager's exponential back-off per failing mount: 500ms doubling up to 2m2s."""
MOUNT_TIMEOUT_S = 123.0
"""How long a pod sync waits for its volumes before `Unable to attach or mount volumes` (2m3s)."""
CONFIG_RETRY_S = 10.0
"""The pod worker's back-off after a failed sync (10s, jittered by up to 50%)."""
EPOCH = "1970-01-01T00:00:00Z"
Obj = dict[str, Any]


def node_stopped(node: Obj | None) -> bool:
    return node is None or ((node.get("metadata") or {}).get("annotations") or {}).get(STOPPED_ANNOTATION) == "true"


def go_duration(seconds: float) -> str:
    """Go's `time.Duration.String()` of a millisecond-truncated duration ("812ms", "1.203s", "1m2.5s")."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    mins, rest = divmod(ms, 60_000)
    sec = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{mins}m{sec}" if mins else sec


def node_images(ctx: ControllerContext) -> dict[str, dict[str, int]]:
    """node -> image reference -> size; shared with the node status controller (status.images)."""
    return ctx.extras.setdefault("node_images", {})  # type: ignore[no-any-return]


class KubeletController(RunningContainers, Controller):
    name = COMPONENT
    watches = (("", "pods"), ("", "nodes"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.pod_rt = ctx.rt("", "pods")
        self.node_rt = ctx.rt("", "nodes")
        self.runs: dict[str, PodRun] = {}
        self.ips: dict[str, dict[str, str]] = {}  # node -> ip -> pod uid
        self._last_ip: dict[str, int] = {}
        self.images = node_images(ctx)
        self._poked: set[tuple[str, str]] = set()
        if "container_runtime" not in ctx.extras:
            install_behaviour(ctx)
        ctx.extras["kubelet_poke"] = self.poke

    @property
    def runtime(self) -> ContainerRuntime:
        """Looked up on every use, so a behaviour model can be swapped in while the cluster runs."""
        return runtime_for(self.ctx.extras)

    # -- events -> keys ------------------------------------------------------------------------------
    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("", "nodes"):
            was = node_stopped(ev.old) if ev.old is not None else True
            if ev.type != "DELETED" and was and not node_stopped(ev.obj):
                return [("", "pods", k) for k in self.hub.get("", "pods", "node", ev.obj["metadata"]["name"])]
            return ()
        if ev.type == "DELETED":
            return [("gone", ev.obj["metadata"].get("uid", ""), obj_key(ev.obj))]
        if (ev.obj.get("spec") or {}).get("nodeName"):
            return [("", "pods", obj_key(ev.obj))]
        return ()

    # -- reconcile --------------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> float | None:
        kind, a, b = key  # type: ignore[misc]
        if kind == "gone":
            self._forget(a, *b)
            return None
        ns, name = b
        pod = self.ctx.store.try_get(self.pod_rt, ns, name)
        if pod is None:
            return None
        node = self.ctx.store.try_get(self.node_rt, "", pod["spec"]["nodeName"])
        if node_stopped(node):
            return None
        assert node is not None
        uid = pod["metadata"]["uid"]
        run = self.runs.get(uid)
        now = self.ctx.clock.elapsed()
        if (pod.get("status") or {}).get("reason") == "Evicted" and not is_deleting(pod):  # [workloads] evicted
            if run is not None and not run.finished:  # by the eviction manager (nodelifecycle.py): stop it
                run.finished = True
                self._release_ip(run)
                self._end_processes(run)
            return None
        if run is None:
            if is_terminal(pod) or (is_deleting(pod) and pod["metadata"].get("deletionGracePeriodSeconds") == 0):
                return None  # finished, or already killed and only held by finalizers
            run = self.runs[uid] = self._accept(pod, node, now)
        if is_deleting(pod):
            # No status writes while terminating: the store finalizes a deleting object on any update
            # (see the report on store._write_or_finalize); the pod just goes when the grace is over.
            if run.kill_due is None:
                self._kill(pod, run, now)
            elif now >= run.kill_due - 1e-9:
                self._finish_kill(pod, run)
                return None
            return max(run.kill_due - now, 0.0) + 1e-6
        if (ns, name) in self._poked:
            self._poked.discard((ns, name))
            self._rearm(run, now)
        self._advance(pod, run, node, now)
        self._post_status(pod, run)
        due = self._next_due(run)
        return None if due is None else max(due - now, 0.0) + 1e-6

    def poke(self, namespace: str, name: str) -> None:
        """Look at a pod now, re-running its settled probes (the runtime says its behaviour changed)."""
        self._poked.add((namespace, name))
        self.enqueue(("", "pods", (namespace, name)))

    def _end_processes(self, run: PodRun) -> None:
        for c in run.containers():
            if c.plan is not None and c.plan.process is not None:
                c.plan.process.ended()

    def _forget(self, uid: str, ns: str, name: str) -> None:
        run = self.runs.pop(uid, None)
        if run is not None:
            self._release_ip(run)
            self._end_processes(run)
        forget = getattr(self.runtime, "forget", None)
        if forget is not None:
            forget(uid)
        self.ctx.logs.forget_pod(ns, name)

    def _next_due(self, run: PodRun) -> float | None:
        dues = [c.due for c in run.containers() if c.due is not None]
        if not run.sandbox_ready:
            dues.append(run.sandbox_due)
        if run.kill_due is not None:
            dues = [run.kill_due]
        return min(dues) if dues else None

    def _ts(self, at_s: float) -> str:
        """RFC 3339 time of sim second `at_s` (a step is stamped when it happened, not when we noticed)."""
        return rfc3339(self._dt(at_s))

    def _dt(self, at_s: float) -> datetime:
        return self.ctx.clock.now() - timedelta(seconds=self.ctx.clock.elapsed() - at_s)

    # -- pod admission and sandbox -------------------------------------------------------------------
    def _accept(self, pod: Obj, node: Obj, now: float) -> PodRun:
        spec = pod["spec"]
        host_ip = next((a["address"] for a in (node.get("status") or {}).get("addresses") or ()
                        if a.get("type") == "InternalIP"), "10.0.0.1")
        start = (pod.get("status") or {}).get("startTime") or self._ts(now)
        run = PodRun(uid=pod["metadata"]["uid"], node=node["metadata"]["name"], start_time=start, host_ip=host_ip,
                     sandbox_due=now + SANDBOX_S)
        run.init = [ContainerRun(c["name"], c.get("image", ""), init=True, sidecar=c.get("restartPolicy") == "Always",
                                 waiting_reason="PodInitializing") for c in spec.get("initContainers") or ()]
        run.app = [ContainerRun(c["name"], c.get("image", ""),
                                waiting_reason="PodInitializing" if run.init else "ContainerCreating")
                   for c in spec.get("containers") or ()]
        if run.init:
            run.init[0].waiting_reason = "ContainerCreating"
        return run

    def _allocate_ip(self, run: PodRun, node: Obj, host_network: bool) -> str:
        if host_network:
            return run.host_ip
        cidr = (node.get("spec") or {}).get("podCIDR") or "10.244.0.0/24"
        net = ipaddress.ip_network(cidr, strict=False)
        used = self.ips.setdefault(run.node, {})
        size = net.num_addresses
        last = self._last_ip.get(run.node, 1)
        for i in range(1, size - 1):
            off = (last - 2 + i) % (size - 3) + 2  # host-local: .2 .. .254, sequential with wrap
            ip = str(net.network_address + off)
            if ip not in used:
                used[ip] = run.uid
                self._last_ip[run.node] = off
                return ip
        return ""

    def _release_ip(self, run: PodRun) -> None:
        used = self.ips.get(run.node, {})
        if run.pod_ip and used.get(run.pod_ip) == run.uid:
            del used[run.pod_ip]

    # -- the container state machine ------------------------------------------------------------------
    def _advance(self, pod: Obj, run: PodRun, node: Obj, now: float) -> None:
        """Apply every transition due by `now` in time order, each stamped with the time it was due."""
        t = now
        for _ in range(1000):
            if run.finished:
                return
            if not run.sandbox_ready:
                if now < run.sandbox_due or not self._mount(pod, run, run.sandbox_due):
                    return
                run.sandbox_ready = True
                run.pod_ip = self._allocate_ip(run, node, bool(pod["spec"].get("hostNetwork")))
                t = run.sandbox_due
            for c in self._startable(run):
                self._begin(pod, run, c, t)
            due = [c for c in run.containers() if c.due is not None and c.due <= now]
            if not due:
                return
            c = min(due, key=lambda x: x.due or 0.0)
            t = c.due or now
            self._step(pod, run, c, t)
            if pod_phase(run, pod) in ("Succeeded", "Failed"):
                run.finished = True
                self._release_ip(run)

    def _mount(self, pod: Obj, run: PodRun, at: float) -> bool:
        """Set up the pod's volumes; on failure emit `FailedMount` and retry with back-off."""
        errors = PodConfig(self.ctx, pod).volume_errors()
        if not errors:
            return True
        for _, msg in errors:
            self.ctx.events.warning(pod, "FailedMount", msg, component=COMPONENT, host=run.node)
        if run.mount_since is None:
            run.mount_since = at
        elif at - run.mount_since >= MOUNT_TIMEOUT_S:
            self.ctx.events.warning(pod, "FailedMount", mount_timeout([v for v, _ in errors]), component=COMPONENT,
                                    host=run.node)
            run.mount_since = at
        run.sandbox_due = at + min(MOUNT_RETRY_S[0] * 2 ** run.mount_failures, MOUNT_RETRY_S[1])
        run.mount_failures += 1
        return False

    def _startable(self, run: PodRun) -> list[ContainerRun]:
        for c in run.init:
            if c.done_ok or (c.sidecar and c.stage == "running" and c.started):
                continue
            return [c] if c.stage == "idle" and c.due is None else []
        return [c for c in run.app if c.stage == "idle" and c.due is None]

    def _field(self, c: ContainerRun) -> str:
        return f"spec.{'initContainers' if c.init else 'containers'}{{{c.name}}}"

    def _event(self, pod: Obj, run: PodRun, c: ContainerRun, reason: str, msg: str, warning: bool = False) -> None:
        rec = self.ctx.events.warning if warning else self.ctx.events.normal
        rec(pod, reason, msg, component=COMPONENT, host=run.node, field_path=self._field(c))

    def _spec_of(self, pod: Obj, c: ContainerRun) -> Obj:
        key = "initContainers" if c.init else "containers"
        return next((x for x in pod["spec"].get(key) or () if x.get("name") == c.name), {})

    def _begin(self, pod: Obj, run: PodRun, c: ContainerRun, at: float, *, keep_waiting: bool = False) -> None:
        """Start (or restart) a container: pull if needed, else straight to create."""
        spec_c = self._spec_of(pod, c)
        ref = image_ref(c.image)
        have = ref in self.images.get(run.node, {})
        policy = spec_c.get("imagePullPolicy") or ("Always" if ref.endswith(":latest") else "IfNotPresent")
        if not keep_waiting:
            c.waiting_reason = "ContainerCreating"
            c.waiting_message = ""
        if have and policy != "Always":
            self._event(pod, run, c, "Pulled", f'Container image "{c.image}" already present on machine')
            c.stage, c.due = "creating", at + CREATE_S
            return
        if policy == "Never":
            msg = f'Container image "{c.image}" is not present with pull policy of Never'
            c.stage, c.due, c.waiting_reason, c.waiting_message = "never", None, "ErrImageNeverPull", msg
            self._event(pod, run, c, "ErrImageNeverPull", msg, warning=True)
            return
        self._event(pod, run, c, "Pulling", f'Pulling image "{c.image}"')
        c.pull = self.runtime.pull(pod, spec_c, run.node)
        c.stage, c.pull_started, c.due = "pulling", at, at + c.pull.seconds

    def _step(self, pod: Obj, run: PodRun, c: ContainerRun, at: float) -> None:
        stage = c.stage
        c.due = None
        if stage == "pulling":
            self._pulled(pod, run, c, at)
        elif stage == "pull_failed":
            c.waiting_reason = "ImagePullBackOff"
            c.waiting_message = f'Back-off pulling image "{c.image}": ErrImagePull: {c.pull.error if c.pull else ""}'
            self._event(pod, run, c, "BackOff", f'Back-off pulling image "{c.image}"')
            self._event(pod, run, c, "Failed", "Error: ImagePullBackOff", warning=True)
            c.stage, c.due = "pull_backoff", at + min(10.0 * 2 ** max(c.pull_backoff_n - 1, 0), MAX_BACKOFF_S)
        elif stage in ("pull_backoff", "crashloop", "config_error"):
            c.stage = "idle"
            # the kubelet keeps showing why it waited (ImagePullBackOff, CrashLoopBackOff, the config error)
            # while it retries: `kubectl get pods -w` never goes back to ContainerCreating
            self._begin(pod, run, c, at, keep_waiting=True)
        elif stage == "creating":
            self._start(pod, run, c, at)
        elif stage in ("running", "stopping"):
            self._running_step(pod, run, c, at)

    def _pulled(self, pod: Obj, run: PodRun, c: ContainerRun, at: float) -> None:
        pull = c.pull
        assert pull is not None
        if pull.error:
            c.pull_backoff_n += 1
            self._event(pod, run, c, "Failed", f'Failed to pull image "{c.image}": {pull.error}', warning=True)
            self._event(pod, run, c, "Failed", "Error: ErrImagePull", warning=True)
            c.stage, c.waiting_reason, c.waiting_message, c.due = "pull_failed", "ErrImagePull", pull.error, at + 1.0
            return
        c.pull_backoff_n = 0
        took = go_duration(pull.seconds)
        self._event(pod, run, c, "Pulled", f'Successfully pulled image "{c.image}" in {took} ({took} including '
                                           f"waiting). Image size: {pull.size_bytes} bytes.")
        self.images.setdefault(run.node, {})[image_ref(c.image)] = pull.size_bytes
        c.stage, c.due = "creating", at + CREATE_S

    def _start(self, pod: Obj, run: PodRun, c: ContainerRun, at: float) -> None:
        spec_c = self._spec_of(pod, c)
        err = PodConfig(self.ctx, pod).env_error(spec_c)
        if err:  # the container is never created; the pod worker retries the sync after its back-off
            self._event(pod, run, c, "Failed", f"Error: {err}", warning=True)
            c.stage, c.waiting_reason, c.waiting_message = "config_error", "CreateContainerConfigError", err
            c.config_retries += 1
            c.due = at + CONFIG_RETRY_S * (1 + 0.5 * seeded("sync", run.uid, c.name, str(c.config_retries)))
            return
        if c.ever_ran:
            c.restart_count += 1
        c.ever_ran = True
        self._event(pod, run, c, "Created", f"Created container: {c.name}")
        c.container_id = "containerd://" + hex_digest("container", run.uid, c.name, str(c.restart_count))
        started_dt = self._dt(at)
        seen = {**pod, "status": {**(pod.get("status") or {}), "podIP": run.pod_ip, "hostIP": run.host_ip}}
        plan = self.runtime.run(seen, spec_c, run.node, init=c.init, restart_count=c.restart_count,
                                started=started_dt)
        c.plan = plan
        ns, name = obj_key(pod)
        self.ctx.logs.start_instance(ns, name, c.name)
        if plan.start_error:
            self._event(pod, run, c, "Failed", f"Error: {plan.start_error}", warning=True)
            for line in plan.logs:  # what the runtime left in the container's log: the exec error
                self.ctx.logs.append(ns, name, c.name, started_dt, line)
            c.started_at, c.started_s = EPOCH, at
            self._exited(pod, run, c, at, 128, "StartError", plan.start_error)
            return
        self._event(pod, run, c, "Started", f"Started container {c.name}")
        c.stage, c.started_s, c.started_at = "running", at, self._ts(at)
        c.terminated = None
        for line in plan.logs:
            self.ctx.logs.append(ns, name, c.name, started_dt, line)
        c.probes = probing.workers_for(spec_c, at, self._relist(run.node, at + 0.5))
        kinds = {w.kind for w in c.probes}
        c.started = "startup" not in kinds and plan.started_after_s <= 0
        c.started_probe_at = at + plan.started_after_s
        static_ready = plan.ready_after_s is not None and not (c.init and not c.sidecar)
        c.ready_at = at + plan.ready_after_s if static_ready and plan.ready_after_s is not None else None
        if "readiness" in kinds:
            c.ready_at = None
        c.ready = c.ready_at is not None and c.ready_at <= at and c.started
        self._running_step(pod, run, c, at)

    def _exited(self, pod: Obj, run: PodRun, c: ContainerRun, at: float, code: int, reason: str, msg: str,
                finished_s: float | None = None) -> None:
        term: Obj = {"exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error")}
        if msg:
            term["message"] = msg
        term.update(startedAt=c.started_at, finishedAt=self._ts(at if finished_s is None else finished_s),
                    containerID=c.container_id)
        if c.plan is not None and c.plan.process is not None:
            c.plan.process.ended()
        c.terminated, c.ready, c.stage, c.due = term, False, "exited", None
        c.probes, c.exit_pending, c.stop_exit = [], None, None
        policy = pod["spec"].get("restartPolicy") or "Always"
        restart = c.sidecar or (policy == "Always" and not c.init) or (policy != "Never" and code != 0)
        if not restart:
            if c.init and code != 0:
                run.failed = True
            return
        c.last_terminated = term
        if at - c.started_s > 2 * MAX_BACKOFF_S:
            c.backoff_n = 0
        if c.backoff_n == 0:
            c.backoff_n = 1
            if reason == "StartError":  # the failed start shows until the next sync restarts it
                c.stage, c.due, c.waiting_reason, c.waiting_message = "crashloop", at + 1.0, "RunContainerError", msg
                return
            c.stage = "idle"
            self._begin(pod, run, c, at)
            return
        delay = min(10.0 * 2 ** (c.backoff_n - 1), MAX_BACKOFF_S)
        c.backoff_n += 1
        ns, name = obj_key(pod)
        who = f"{name}_{ns}({run.uid})"
        c.stage, c.due, c.waiting_reason = "crashloop", at + delay, "CrashLoopBackOff"
        c.waiting_message = f"back-off {go_duration(delay)} restarting failed container={c.name} pod={who}"
        self._event(pod, run, c, "BackOff", f"Back-off restarting failed container {c.name} in pod {who}",
                    warning=True)

    # -- termination -------------------------------------------------------------------------------------
    def _kill(self, pod: Obj, run: PodRun, now: float) -> None:
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        grace = 30 if grace is None else int(grace)
        ns, name = obj_key(pod)
        for c in run.containers():
            if c.stage in ("running", "stopping"):
                self._event(pod, run, c, "Killing", f"Stopping container {c.name}")
                for line in self.runtime.stop_logs(pod, self._spec_of(pod, c), self._dt(now)):
                    self.ctx.logs.append(ns, name, c.name, self._dt(now), line)
            c.ready = False
            c.due = None
        run.kill_due = now + min(grace, 2)

    def _finish_kill(self, pod: Obj, run: PodRun) -> None:
        ns, name = obj_key(pod)
        self.ctx.store.finalize_delete(self.pod_rt, ns, name)
        self._forget(run.uid, ns, name)

    # -- status --------------------------------------------------------------------------------------------
    def _post_status(self, pod: Obj, run: PodRun) -> None:
        cur = self.ctx.store.try_get(self.pod_rt, *obj_key(pod))
        if cur is None or cur["metadata"].get("uid") != run.uid:
            return
        status = build_status(run, cur, rfc3339(self.ctx.clock.now()))
        if status == cur.get("status"):
            return
        try:
            self.ctx.store.update(self.pod_rt, {**cur, "status": status}, subresource="status", check_rv=False)
        except st.ApiError:
            pass


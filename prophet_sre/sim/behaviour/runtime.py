"""The behaviour runtime: the `ContainerRuntime` that makes simulated pods do what their images do.

Pulls succeed only for images the catalog knows (and that no `image_missing` effect removed), with
containerd's error texts otherwise. A started container runs its command against the image
(`programs.plan`), so a missing binary is a StartError, a script's `exit 3` is exit code 3, and the
image's service listens, leaks and logs (`process.Instance`). The instances are kept so the metrics,
HPA and traffic models can ask `usage(pod)` and `serving(pod, port, path)`, and the traffic model can
report request rates (`set_load`) that raise memory and CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prophet_sre.sim.behaviour import programs, texts
from prophet_sre.sim.behaviour.images import Catalog, ImageSpec
from prophet_sre.sim.behaviour.podconfig import PodConfig, process_env
from prophet_sre.sim.behaviour.process import Instance, Limits, seeded
from prophet_sre.sim.controllers.base import ControllerContext
from prophet_sre.sim.controllers.common import parse_quantity
from prophet_sre.sim.controllers.runtime import PullResult, RunPlan, image_ref, image_size, split_image

if TYPE_CHECKING:
    from prophet_sre.sim.knobs import Knobs

Obj = dict[str, Any]
PULL_BYTES_PER_S = 60e6
LoadSource = Callable[[str, str], float]
"""(namespace, pod name) -> requests per second the pod is serving."""


class BehaviourRuntime:
    """Image catalog + programs + processes, behind the kubelet's `ContainerRuntime` seam."""

    def __init__(self, ctx: ControllerContext, catalog: Catalog | None = None) -> None:
        self.ctx = ctx
        self.catalog = catalog or Catalog.builtin()
        self._instances: dict[str, dict[str, Instance]] = {}
        """pod uid -> container -> its current instance (usage() is asked for every pod every second)."""
        self._pulled: dict[str, ImageSpec] = {}
        """image reference -> what was pulled (a node keeps an image the catalog since dropped)."""
        self._loads: dict[tuple[str, str], float] = {}
        self.load_source: LoadSource | None = None

    # -- configuration ---------------------------------------------------------------------------------------
    def set_catalog(self, catalog: Catalog) -> None:
        """Use another catalog for pulls and starts from now on (running containers keep their image)."""
        self.catalog = catalog

    def merge_images(self, images: dict[str, Any]) -> Catalog:
        """A scenario's `images:` over the current catalog (raises `ImageCatalogError`)."""
        self.catalog = self.catalog.merge(images)
        return self.catalog

    def set_load(self, namespace: str, pod: str, rps: float) -> None:
        """The traffic model's report: `pod` serves `rps` requests per second (memory and CPU follow)."""
        if rps > 0:
            self._loads[(namespace, pod)] = rps
        else:
            self._loads.pop((namespace, pod), None)
        self.poke(namespace, pod)

    def poke(self, namespace: str, pod: str) -> None:
        """Ask the kubelet to look at the pod now (its behaviour inputs changed)."""
        poke = self.ctx.extras.get("kubelet_poke")
        if poke is not None:
            poke(namespace, pod)

    def _load(self, namespace: str, pod: str) -> float:
        if self.load_source is not None:
            return float(self.load_source(namespace, pod))
        return self._loads.get((namespace, pod), 0.0)

    @property
    def knobs(self) -> Knobs | None:
        return self.ctx.extras.get("knobs")

    # -- ContainerRuntime ---------------------------------------------------------------------------------------
    def pull(self, pod: Obj, container: Obj, node: str) -> PullResult:
        image = container.get("image", "")
        seed = seeded("pull", (pod.get("metadata") or {}).get("uid", ""), image, node)
        error = self.pull_error(image)
        if error:
            return PullResult(seconds=round(0.3 + 0.7 * seed, 3), size_bytes=0, error=error)
        spec = self.catalog.lookup(image)
        if spec is not None:
            self._pulled[image_ref(image)] = spec
        size = spec.size_bytes if spec is not None and spec.size_bytes else image_size(image)
        return PullResult(seconds=round((0.4 + size / PULL_BYTES_PER_S) * (0.9 + 0.2 * seed), 3), size_bytes=size)

    def pull_error(self, image: str) -> str:
        """containerd's error for pulling `image` now ("" when the pull works)."""
        ref = image_ref(image)
        knobs = self.knobs
        if knobs is not None:
            now = self.ctx.clock.elapsed()
            if any(image_ref(e.target) == ref for e in knobs.active("image_missing", now)):
                return texts.pull_not_found(image)
        if self.catalog.knows(image):
            return ""
        if self.catalog.repository_known(image):
            return texts.pull_not_found(image)
        repo, _ = split_image(image)
        host = repo.split("/", 1)[0]
        if host in ("docker.io", "registry.k8s.io", "quay.io", "ghcr.io", "gcr.io", "localhost") or \
                host.startswith("localhost:"):
            return texts.pull_access_denied(image) if host == "docker.io" else texts.pull_not_found(image)
        return texts.pull_no_such_host(image)

    def run(self, pod: Obj, container: Obj, node: str, *, init: bool, restart_count: int,
            started: datetime) -> RunPlan:
        image = container.get("image", "")
        spec = self.catalog.lookup(image) or self._pulled.get(image_ref(image)) or ImageSpec()
        cfg = PodConfig(self.ctx, pod)
        env, provided = cfg.environment(container)
        meta = pod.get("metadata") or {}
        ectx = programs.ExecContext(spec, process_env(pod, container, env), started, meta.get("name", ""),
                                    stdin=bool(container.get("stdin")), working_dir=container.get("workingDir") or "/",
                                    provided=provided, tag=split_image(image)[1], image=image)
        tl = programs.plan(ectx, programs.container_argv(container, spec))
        if tl.start_error:
            why = tl.start_error.split("error during container init: ", 1)[-1].removesuffix(": unknown")
            return RunPlan(exit_after_s=0.0, exit_code=128, reason="StartError", ready_after_s=None,
                           start_error=tl.start_error, logs=[why])
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        inst = Instance(ctx=ectx, tl=tl, pod=pod, container=container, limits=self._limits(pod, container, node),
                        restart_count=restart_count, load=lambda: self._load(ns, name))
        per_pod = self._instances.setdefault(meta.get("uid", ""), {})
        old = per_pod.get(container.get("name", ""))
        if old is not None:
            old.ended()
        per_pod[container.get("name", "")] = inst
        return RunPlan(ready_after_s=None if init and container.get("restartPolicy") != "Always" else 0.0,
                       process=inst)

    def stop_logs(self, pod: Obj, container: Obj, stopped: datetime) -> list[str]:
        inst = self._instances.get((pod.get("metadata") or {}).get("uid", ""), {}).get(container.get("name", ""))
        if inst is None or not inst.alive:
            return []
        return list(inst.stop((stopped - inst.started).total_seconds(), 30.0).lines)

    def forget(self, uid: str) -> None:
        """The pod is gone: drop its instances."""
        for inst in self._instances.pop(uid, {}).values():
            inst.ended()

    def _limits(self, pod: Obj, container: Obj, node: str) -> Limits:
        lim = (container.get("resources") or {}).get("limits") or {}
        mem = int(parse_quantity(lim["memory"])) if lim.get("memory") else None
        cpu = parse_quantity(lim["cpu"]) if lim.get("cpu") else None
        return Limits(memory_bytes=mem, cpu_cores=cpu, oom_score_adj=self._oom_score_adj(pod, container, node),
                      node_name=node)

    def _oom_score_adj(self, pod: Obj, container: Obj, node: str) -> int:
        """The kubelet's policy (pkg/kubelet/qos/policy.go): Guaranteed -997, BestEffort 1000, else by request."""
        qos = (pod.get("status") or {}).get("qosClass")
        if qos == "Guaranteed":
            return -997
        req = ((container.get("resources") or {}).get("requests") or {}).get("memory")
        if qos == "BestEffort" or not req:
            return 1000
        node_obj = self.ctx.store.try_get(self.ctx.rt("", "nodes"), "", node)
        cap = parse_quantity(((node_obj or {}).get("status") or {}).get("capacity", {}).get("memory", "16Gi"))
        adj = 1000 - int(1000 * parse_quantity(req) / cap) if cap else 1000
        return min(max(adj, 2), 999)

    # -- what other models ask ----------------------------------------------------------------------------------
    def _running(self, pod: Obj) -> list[tuple[str, Instance, float]]:
        per_pod = self._instances.get((pod.get("metadata") or {}).get("uid", ""))
        if not per_pod:
            return []
        now = self.ctx.clock.now()
        return [(c, inst, (now - inst.started).total_seconds()) for c, inst in list(per_pod.items()) if inst.alive]

    def usage(self, pod: Obj) -> dict[str, tuple[float, int]]:
        """container -> (CPU cores, working set bytes) of the pod's running containers (metrics, HPA)."""
        return {c: (inst.cpu_cores(alive), inst.memory_bytes(alive)) for c, inst, alive in self._running(pod)}

    def serving(self, pod: Obj, port: int, path: str = "/") -> int | None:
        """The HTTP code the pod answers on `port`/`path` now, or None when nothing listens there."""
        for _, inst, alive in self._running(pod):
            code = inst.serving(port, path, alive)
            if code is not None:
                return code
        return None

    def log_request(self, pod: Obj, port: int, method: str, path: str, code: int, client: str,
                    agent: str = "Mozilla/5.0") -> None:
        """The traffic model's hook: one request answered by the pod leaves its access log line."""
        meta = pod.get("metadata") or {}
        ip = (pod.get("status") or {}).get("podIP", "")
        for cname, inst, alive in self._running(pod):
            if inst.endpoint(port) is None:
                continue
            for at, line in inst.request_lines(method, path, code, client, agent, port, ip, alive):
                self.ctx.logs.append(meta.get("namespace", ""), meta.get("name", ""), cname,
                                     inst.started + timedelta(seconds=at), line)
            return


def install(target: Any, catalog: Catalog | None = None) -> BehaviourRuntime:
    """Make the behaviour runtime the container runtime of a `SimCluster` or `ControllerContext`.

    Registers `extras["container_runtime"]`, `extras["behaviour"]`, `extras["usage"]` (metrics, HPA)
    and `extras["serving"]` (traffic)."""
    ctx: ControllerContext = getattr(target, "controller_ctx", target)
    rt = BehaviourRuntime(ctx, catalog)
    if ctx.extras.get("scenario_images"):  # merged by a scenario before any runtime was there
        rt.merge_images(ctx.extras["scenario_images"])
    ctx.extras.update(container_runtime=rt, behaviour=rt, usage=rt.usage, serving=rt.serving)
    return rt


def runtime_of(target: Any) -> BehaviourRuntime | None:
    """The behaviour runtime of a cluster or controller context, if it uses one."""
    ctx: ControllerContext = getattr(target, "controller_ctx", target)
    rt = ctx.extras.get("container_runtime")
    return rt if isinstance(rt, BehaviourRuntime) else None

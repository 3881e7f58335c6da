"""The runtime's seams for the other models: usage (metrics, HPA), serving and request logs (traffic),
load-driven memory, pokes, determinism, and how it is installed.

Skips the statuses of faults (test_bhv_faults) and the metrics/traffic models themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prophet_sre.sim.behaviour import BehaviourRuntime, Catalog, install, runtime_of
from prophet_sre.sim.behaviour.process import fill

MI = 2 ** 20


def pod_of(h: Any, name: str) -> dict[str, Any]:
    return h.get("Pod", "default", name)


def test_installed_by_default_with_its_extras(cluster: Any) -> None:
    h = cluster
    rt = runtime_of(h.ctx)
    assert isinstance(rt, BehaviourRuntime) and h.ctx.extras["behaviour"] is rt
    assert h.ctx.extras["usage"] == rt.usage and h.ctx.extras["serving"] == rt.serving
    assert callable(h.ctx.extras["kubelet_poke"])


def test_sim_cluster_uses_it_and_install_replaces_the_catalog() -> None:
    from prophet_sre.sim.cluster import ClusterOptions, SimCluster

    c = SimCluster(ClusterOptions(name="bhv-unit"))
    rt = runtime_of(c)
    assert rt is not None and rt.catalog.knows("nginx:1.27")
    mine = install(c, Catalog.builtin().merge({"acme/api:1.0": {"serves": {"port": 9000}}}))
    assert runtime_of(c) is mine and mine.catalog.knows("acme/api:1.0")


def test_usage_and_serving_follow_the_process(cluster: Any) -> None:
    h = cluster
    rt = runtime_of(h.ctx)
    assert rt is not None
    h.create(h.pod("web", image="shop/backend:2.2"))
    h.run_for(1.2, step=0.1)
    p = pod_of(h, "web")
    assert rt.serving(p, 8080, "/healthz") is None  # started, not listening yet (2 s start-up)
    h.run_for(4)
    assert rt.serving(p, 8080, "/healthz") == 200 and rt.serving(p, 8080, "/nope") == 404
    assert rt.serving(p, 9999, "/") is None
    cpu, mem = rt.usage(p)["web"]
    assert abs(mem / MI - 120) < 5 and abs(cpu - 0.010) < 0.001
    rt.set_load("default", "web", 100.0)
    cpu2, mem2 = rt.usage(p)["web"]
    assert abs(cpu2 - (0.010 + 100 * 0.0015)) < 0.01 and mem2 > mem + 10 * MI
    h.delete("Pod", "default", "web")
    h.run_for(5)
    assert rt.usage(p) == {} and rt.serving(p, 8080, "/") is None


def test_leak_grows_in_usage_and_load_brings_the_oom_forward(cluster: Any) -> None:
    h = cluster
    rt = runtime_of(h.ctx)
    assert rt is not None
    h.create(h.pod("a", image="shop/backend:2.3"))
    h.run_for(4)
    first = rt.usage(pod_of(h, "a"))["web"][1]
    h.run_for(60)
    later = rt.usage(pod_of(h, "a"))["web"][1]
    assert 280 <= (later - first) / MI <= 320  # ~300 Mi per minute, no limit: no kill
    pod = h.pod("b", image="shop/backend:2.2")
    pod["spec"]["containers"][0]["resources"] = {"limits": {"memory": "200Mi"}, "requests": {"memory": "150Mi"}}
    h.create(pod)
    h.run_for(10)
    assert pod_of(h, "b")["status"]["containerStatuses"][0]["restartCount"] == 0
    rt.set_load("default", "b", 800.0)  # 800 rps x 128 KiB = 100 Mi more: over the limit now
    h.run_for(3)
    last = pod_of(h, "b")["status"]["containerStatuses"][0]["lastState"]
    assert last["terminated"]["reason"] == "OOMKilled"


def test_healthy_probes_settle_and_a_poke_probes_again(cluster: Any) -> None:
    h = cluster
    pod = h.pod("web")
    pod["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 10}
    pod["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 10}
    h.create(pod)
    h.run_for(5)
    assert pod_of(h, "web")["status"]["containerStatuses"][0]["ready"]
    kubelet = next(c for c in h.manager.controllers if c.name == "kubelet")
    [c] = kubelet.runs[pod_of(h, "web")["metadata"]["uid"]].app
    assert c.due is None and all(w.next_s is None for w in c.probes)  # nothing to learn: no timers
    lines = len(h.logs.read("default", "web", "web"))
    h.ctx.extras["kubelet_poke"]("default", "web")
    h.run_for(11)
    assert len(h.logs.read("default", "web", "web")) == lines + 2  # one more request per probe
    assert c.due is None


def test_request_log_hook_and_templates(cluster: Any) -> None:
    h = cluster
    rt = runtime_of(h.ctx)
    assert rt is not None
    h.create(h.pod("web"))
    h.run_for(4)
    rt.log_request(pod_of(h, "web"), 80, "GET", "/cart", 404, "10.244.1.7", "curl/8.5.0")
    logs = h.logs.read("default", "web", "web")
    assert "/usr/share/nginx/html/cart" in logs[-2] and logs[-1].startswith('10.244.1.7 - - [')
    assert logs[-1].endswith('"GET /cart HTTP/1.1" 404 153 "-" "curl/8.5.0" "-"')
    when = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
    assert fill("{time:%H:%M:%S}.{ms} {x} {unknown} {bad:>3}", time=when, x=1) == "05:06:07.890 1 {unknown} {bad:>3}"
    assert fill("{ unbalanced", x=1) == "{ unbalanced"


def test_deterministic_for_a_pod_uid(cluster_factory: Any) -> None:
    def oom_text(h: Any) -> str:
        pod = h.pod("leak", image="shop/backend:2.3")
        pod["metadata"]["uid"] = "00000000-0000-0000-0000-000000000001"
        pod["spec"]["containers"][0]["resources"] = {"limits": {"memory": "256Mi"}}
        rt = runtime_of(h.ctx)
        assert rt is not None
        plan = rt.run(pod, pod["spec"]["containers"][0], "worker-1", init=False, restart_count=0,
                      started=datetime(2026, 1, 1, tzinfo=UTC))
        assert plan.process is not None
        adv = plan.process.advance(60.0)
        assert adv.exit is not None and adv.exit.reason == "OOMKilled"
        return adv.node_events[0].message + "|" + "|".join(x for _, x in adv.lines)

    assert oom_text(cluster_factory()) == oom_text(cluster_factory())


def test_init_container_crash_loops_the_pod_init(cluster: Any) -> None:
    h = cluster
    pod = h.pod("init")
    pod["spec"]["initContainers"] = [{"name": "migrate", "image": "busybox:1.36", "command": ["sh", "-c", "exit 1"],
                                      "imagePullPolicy": "IfNotPresent",
                                      "terminationMessagePath": "/dev/termination-log",
                                      "terminationMessagePolicy": "File"}]
    h.create(pod)
    h.run_for(30)
    p = pod_of(h, "init")
    [init] = p["status"]["initContainerStatuses"]
    assert init["state"]["waiting"]["reason"] == "CrashLoopBackOff" and init["restartCount"] >= 2
    assert init["lastState"]["terminated"]["exitCode"] == 1 and p["status"]["phase"] == "Pending"
    assert p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"

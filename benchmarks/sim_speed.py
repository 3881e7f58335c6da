"""Benchmark: how fast the simulator advances sim time with 1,000 pods, traffic and metrics on.

Builds a cluster of 100 Deployments x 10 replicas, each with a Service, and a layered traffic graph
(10 layers of 10 services; every service calls two of the next layer at `--rps` each; the first layer
also gets external load), then runs the controllers and the traffic model as fast as they go: the
clock is moved by hand one sim second at a time (`manager.drain()` after each step), and `/metrics`
is rendered every `--scrape-every` sim seconds (a Prometheus scraping every wall second at speed 20
sees one render per 20 sim seconds).

Prints
  - sim seconds advanced per wall second (the max speed; target >= 10x),
  - requests and flows per sim second (flows are sampled to <= 2,000 per sim second),
  - the cost of one traffic tick and one /metrics render, and the render's size.

Usage: .venv/bin/python benchmarks/sim_speed.py [--seconds 120] [--deployments 100] [--replicas 10]
       [--behaviour]   (use the behaviour model as the container runtime instead of the plain one)
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prophet_sre.sim.cluster import ClusterOptions, SimCluster  # noqa: E402
from prophet_sre.sim.controllers.runtime import DefaultRuntime  # noqa: E402


def deployment(name: str, ns: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "app", "image": "nginx:1.27", "ports": [{"name": "http", "containerPort": 80}],
                          "resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                                        "limits": {"cpu": "500m", "memory": "128Mi"}}}]}}}}


def service(name: str, ns: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def create(cluster: SimCluster, obj: dict) -> None:
    rt = cluster.registry.by_kind(obj["apiVersion"], obj["kind"])
    assert rt is not None
    cluster.store.create(rt, obj)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deployments", type=int, default=100)
    ap.add_argument("--replicas", type=int, default=10)
    ap.add_argument("--layer", type=int, default=10, help="services per layer of the traffic graph")
    ap.add_argument("--rps", type=float, default=20.0, help="rps of every edge")
    ap.add_argument("--seconds", type=int, default=120, help="sim seconds to measure")
    ap.add_argument("--scrape-every", type=int, default=20, help="render /metrics every N sim seconds")
    ap.add_argument("--behaviour", action="store_true", help="use the behaviour model's container runtime")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the measured loop")
    args = ap.parse_args()

    pods = args.deployments * args.replicas
    cluster = SimCluster(ClusterOptions(speed=1e-9, workers=max(2, pods // 100 + 2), tls=False))
    if not args.behaviour:
        cluster.controller_ctx.extras["container_runtime"] = DefaultRuntime()
        for key in ("serving", "usage", "behaviour"):
            cluster.controller_ctx.extras.pop(key, None)
    cluster.port = 6443  # never served: the benchmark drives the controllers directly
    cluster.bootstrap()
    clock, manager = cluster.clock, cluster.manager
    names = [f"svc-{i:03d}" for i in range(args.deployments)]
    namespaces = [f"bench-{i}" for i in range(max(1, args.deployments // 25))]
    t0 = time.perf_counter()
    for ns in namespaces:
        create(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    home = {n: namespaces[i % len(namespaces)] for i, n in enumerate(names)}
    for n in names:
        create(cluster, deployment(n, home[n], args.replicas))
        create(cluster, service(n, home[n]))
    pod_rt = cluster.registry.by_kind("v1", "Pod")
    assert pod_rt is not None
    for _ in range(600):
        clock.advance(0.5)
        manager.drain(max_rounds=100_000)
        ready = sum(1 for p in cluster.store.objects(pod_rt) if any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in (p.get("status") or {}).get("conditions")
            or ()) and p["metadata"].get("namespace", "").startswith("bench-"))
        if ready >= pods:
            break
    t_setup = time.perf_counter() - t0

    edges = []
    for i, n in enumerate(names):
        nxt = (i // args.layer + 1) * args.layer
        if nxt >= len(names):
            continue
        for j in (i % args.layer, (i * 3 + 1) % args.layer):
            target = names[nxt + j]
            edges.append({"from": f"{home[n]}/{n}", "to": f"{home[target]}/{target}", "rps": args.rps})
    cluster.traffic.load(edges)
    for _ in range(5):  # warm-up: caches, first ticks
        clock.advance(1.0)
        manager.drain(max_rounds=100_000)

    counters = cluster.traffic.counters
    flows0, req0 = counters.flows_written, counters.requests
    renders: list[float] = []
    size = 0
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    start, cpu0 = time.perf_counter(), time.process_time()
    for s in range(1, args.seconds + 1):
        clock.advance(1.0)
        manager.drain(max_rounds=100_000)
        if s % args.scrape_every == 0:
            r0 = time.perf_counter()
            size = len(cluster.metrics.render())
            renders.append(time.perf_counter() - r0)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    flows = counters.flows_written - flows0
    requests = counters.requests - req0

    ticks = []
    for _ in range(5):
        clock.advance(1.0)
        t = time.perf_counter()
        cluster.traffic.tick()
        ticks.append(time.perf_counter() - t)
    last = cluster.traffic.last
    errors = sum(1 for st in last.nodes.values() if st.error_share > 0.01)

    print(f"pods ready:                        {ready} of {pods} ({len(names)} deployments, setup {t_setup:.1f} s wall)")
    print(f"traffic graph:                     {len(edges)} edges, {len(last.nodes)} services "
          f"({errors} with > 1% errors)")
    print(f"runtime:                           {'behaviour model' if args.behaviour else 'DefaultRuntime'}")
    print(f"sim seconds per wall second:       {args.seconds / wall:7.1f}x  ({args.seconds} sim s in {wall:.2f} s wall; "
          f"target >= 10x; ratio {args.seconds / wall / 10:.2f})")
    print(f"sim seconds per CPU second:        {args.seconds / cpu:7.1f}x  (this process's CPU time; differs from "
          f"wall time when the machine is busy: load {os.getloadavg()[0]:.1f})")
    print(f"requests per sim second:           {requests / args.seconds:9,.0f}")
    print(f"flows per sim second:              {flows / args.seconds:9,.0f}  (budget 2,000)")
    print(f"traffic tick:                      {min(ticks) * 1000:7.1f} ms (best of 5)")
    if renders:
        print(f"/metrics render:                   {min(renders) * 1000:7.1f} ms (best of {len(renders)}), "
              f"{size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

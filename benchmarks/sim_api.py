"""Benchmark: the simulated API server at 10,000 pods.

Prints
  - the time to create N pods over HTTPS (concurrent clients, like a controller burst),
  - how long the controllers take to schedule and start them all,
  - `kubectl get pods -A -o json > /dev/null` wall time (real kubectl, chunked lists of 500),
  - the simulator process's resident memory at N pods.
Targets (issue 2): the list in under 1.5 s, the server under 1 GB.

Usage: .venv/bin/python benchmarks/sim_api.py [--pods 10000] [--workers 100]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prophet_sre.sim.cluster import ClusterOptions, SimCluster  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pod(i: int, ns: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"bench-{i:05d}", "namespace": ns, "labels": {"app": f"bench-{i % 50}"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=100, help="worker nodes (110 pods each at most)")
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()

    cluster = SimCluster(ClusterOptions(speed=1.0, workers=args.workers))
    cluster.start()
    tmp = Path(tempfile.mkdtemp(prefix="prophet-bench-"))
    kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig")
    headers = {"Authorization": f"Bearer {cluster.admin_token}"}
    rss0 = rss_mb()
    try:
        with httpx.Client(base_url=cluster.url, headers=headers, verify=str(cluster.ca_file), timeout=60) as c:
            for n in range(args.namespaces):
                c.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": f"bench-{n}"}}).raise_for_status()

        def create(chunk: range) -> int:
            with httpx.Client(base_url=cluster.url, headers=headers, verify=str(cluster.ca_file), timeout=60) as c:
                for i in chunk:
                    ns = f"bench-{i % args.namespaces}"
                    c.post(f"/api/v1/namespaces/{ns}/pods", json=pod(i, ns)).raise_for_status()
            return len(chunk)

        step = (args.pods + args.clients - 1) // args.clients
        chunks = [range(s, min(s + step, args.pods)) for s in range(0, args.pods, step)]
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            created = sum(pool.map(create, chunks))
        t_create = time.perf_counter() - t0

        t1 = time.perf_counter()
        pod_rt = cluster.registry.get("", "v1", "pods")
        assert pod_rt is not None
        deadline = time.monotonic() + 600
        running = 0
        while time.monotonic() < deadline:
            running = sum(1 for p in cluster.store.objects(pod_rt)
                          if (p.get("status") or {}).get("phase") == "Running")
            if running >= created:
                break
            time.sleep(0.5)
        t_settle = time.perf_counter() - t1

        kubectl = str(Path(sys.executable).parent / "kubectl")
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        cmd = [kubectl, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp / "cache"), "get", "pods", "-A",
               "-o", "json"]
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, env=env)  # warm the discovery cache
        times = []
        for _ in range(3):
            t2 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, env=env)
            times.append(time.perf_counter() - t2)
        t_list = min(times)
        rss = rss_mb()
    finally:
        cluster.stop()

    print(f"pods created:                    {created}")
    print(f"create over HTTPS ({args.clients} clients):   {t_create:7.2f} s  ({created / t_create:,.0f} pods/s)")
    print(f"scheduled and Running after:     {t_settle:7.2f} s  ({running} Running)")
    print(f"kubectl get pods -A -o json:     {t_list:7.2f} s  (best of 3; target < 1.5 s; ratio {t_list / 1.5:.2f})")
    print(f"simulator RSS at {created} pods:  {rss:7.0f} MB (baseline {rss0:.0f} MB; target < 1024 MB; "
          f"ratio {rss / 1024:.2f})")


if __name__ == "__main__":
    main()

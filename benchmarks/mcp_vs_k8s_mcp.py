"""Benchmark: Prophet's MCP server beside kubernetes-mcp-server on one simulated cluster of 5,000 pods.

Both servers run as stdio subprocesses, driven by the official MCP Python SDK client, against the same
simulated API server. Three questions an SRE asks, each answered the way each server's tools allow:

  (a) pods in one namespace      ours: list_objects(kind=pods, namespace)   theirs: pods_list_in_namespace
  (b) a cluster overview         ours: cluster_summary                      theirs: namespaces_list + pods_list
                                                                                    + events_list (no summary tool)
  (c) events of a failing pod    ours: events(ref=NS/pod/NAME)              theirs: events_list(namespace)
                                                                                    (its events are per namespace)

Tokens are estimated the same way for both (characters / 4 of the text content a model reads); latency is
the p50 of `--repeat` calls (after one warm-up). Printed: both, and the ratios ours/theirs. Targets
(issue 7): tokens <= 0.1x theirs, latency p50 <= 1.5x theirs.

kubernetes-mcp-server comes from the npm registry's platform package, installed by `scripts/test` into
`.cache/npm`. Usage: .venv/bin/python benchmarks/mcp_vs_k8s_mcp.py [--pods 5000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import ClientSession, StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prophet_sre.sim.cluster import ClusterOptions, SimCluster  # noqa: E402

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
KMS = ROOT / ".cache/npm/node_modules" / f"kubernetes-mcp-server-linux-{ARCH}" / "bin" / \
    f"kubernetes-mcp-server-linux-{ARCH}"


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def pod(i: int, ns: str, image: str = "nginx:1.27") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"app-{i:05d}", "namespace": ns,
                         "labels": {"app": f"app-{i % 25}", "tier": "web" if i % 2 else "api"}},
            "spec": {"containers": [{"name": "app", "image": image,
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def populate(cluster: SimCluster, n_pods: int, n_ns: int) -> tuple[str, str]:
    """`n_pods` pods over `n_ns` namespaces, one of them failing (a bad image tag); wait until scheduled."""
    headers = {"Authorization": f"Bearer {cluster.admin_token}"}
    with httpx.Client(base_url=cluster.url, headers=headers, verify=str(cluster.ca_file), timeout=60) as c:
        for n in range(n_ns):
            c.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": f"team-{n:02d}"}}).raise_for_status()

    def create(chunk: range) -> int:
        with httpx.Client(base_url=cluster.url, headers=headers, verify=str(cluster.ca_file), timeout=60) as c:
            for i in chunk:
                ns = f"team-{i % n_ns:02d}"
                image = "nginx:1.277" if i == 0 else "nginx:1.27"
                c.post(f"/api/v1/namespaces/{ns}/pods", json=pod(i, ns, image)).raise_for_status()
        return len(chunk)

    step = (n_pods + 7) // 8
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, [range(s, min(s + step, n_pods)) for s in range(0, n_pods, step)]))
    pods = cluster.registry.get("", "v1", "pods")
    assert pods is not None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        phases = [(p.get("status") or {}).get("phase") for p in cluster.store.objects(pods)]
        if sum(1 for ph in phases if ph == "Running") >= n_pods - 1:
            break
        time.sleep(0.5)
    time.sleep(2)  # let the failing pod's pull events accumulate
    return "team-00", "app-00000"


async def measure(params: StdioServerParameters, calls: list[tuple[str, dict[str, Any]]],
                  repeat: int) -> tuple[int, float, str]:
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        texts: list[str] = []
        for name, args in calls:  # warm-up (discovery caches, connections)
            await s.call_tool(name, args)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            texts = []
            for name, args in calls:
                r = await s.call_tool(name, args)
                if r.is_error:
                    raise RuntimeError(f"{name}: {_text(r)[:300]}")
                texts.append(_text(r))
            times.append(time.perf_counter() - t0)
        body = "\n".join(texts)
        return tokens(body), statistics.median(times), body


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--workers", type=int, default=60, help="worker nodes (110 pods each at most)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--show", action="store_true", help="print the first lines of each answer")
    args = ap.parse_args()
    if not KMS.exists():
        sys.exit(f"kubernetes-mcp-server not installed at {KMS}; run scripts/test (it installs it from npm)")

    tmp = Path(tempfile.mkdtemp(prefix="prophet-mcp-bench-"))
    cluster = SimCluster(ClusterOptions(speed=5.0, workers=args.workers))
    cluster.start()
    try:
        kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig")
        t0 = time.perf_counter()
        ns, failing = populate(cluster, args.pods, args.namespaces)
        print(f"cluster: {args.pods} pods in {args.namespaces} namespaces on {args.workers} workers "
              f"(ready in {time.perf_counter() - t0:.0f} s); failing pod {ns}/{failing}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHET_")}
        ours = StdioServerParameters(command=sys.executable, args=["-m", "prophet_sre", "mcp"], env={
            **env, "PROPHET_KUBE__KUBECONFIG": str(kubeconfig), "PROPHET_DATA_DIR": str(tmp / "data"),
            "PROPHET_LOG_LEVEL": "WARNING", "PROPHET_KNOWLEDGE__INDEX_BUILTIN": "false"})
        theirs = StdioServerParameters(command=str(KMS), args=["--kubeconfig", str(kubeconfig), "--read-only",
                                                               "--log-file", str(tmp / "kms.log")],
                                       env={"HOME": str(tmp), "PATH": "/usr/bin:/bin"})
        tasks = {
            "(a) pods in one namespace": (
                [("list_objects", {"kind": "pods", "namespace": ns})],
                [("pods_list_in_namespace", {"namespace": ns})]),
            "(b) cluster overview": (
                [("cluster_summary", {})],
                [("namespaces_list", {}), ("pods_list", {}), ("events_list", {})]),
            "(c) events of a failing pod": (
                [("events", {"ref": f"{ns}/pod/{failing}"})],
                [("events_list", {"namespace": ns})]),
        }
        rows = []
        for title, (our_calls, their_calls) in tasks.items():
            ot, ol, obody = anyio.run(measure, ours, our_calls, args.repeat)
            tt, tl, tbody = anyio.run(measure, theirs, their_calls, args.repeat)
            rows.append((title, ot, tt, ol, tl))
            if args.show:
                print(f"--- {title}: ours\n" + "\n".join(obody.splitlines()[:12]))
                print(f"--- {title}: theirs\n" + "\n".join(tbody.splitlines()[:6]))
            if failing not in obody and "(c)" in title:
                print(f"warning: our answer to {title} does not name {failing}")
        print(f"\n{'task':32} {'tokens ours':>12} {'theirs':>9} {'ratio':>7}   {'p50 ours':>9} {'theirs':>9} "
              f"{'ratio':>6}")
        ok = True
        for title, ot, tt, ol, tl in rows:
            tr, lr = ot / max(tt, 1), ol / max(tl, 1e-9)
            ok &= tr <= 0.1 and lr <= 1.5
            print(f"{title:32} {ot:12,} {tt:9,} {tr:7.3f}   {ol * 1000:7.1f}ms {tl * 1000:7.1f}ms {lr:6.2f}")
        print(f"\ntargets: tokens <= 0.1x, latency p50 <= 1.5x: {'met' if ok else 'NOT met'}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()

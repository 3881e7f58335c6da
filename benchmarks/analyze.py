"""Benchmark: a full `prophet analyze` over 10,000 pods, against `kubectl get pods -A -o json`.

Builds, in an in-process simulated cluster, 2,000 Deployments with their ReplicaSets and 10,000 pods
(plus Services with Endpoints, and a sprinkling of broken objects: image pull back-off, crash loops,
unschedulable pods, Services without endpoints, PVCs without a StorageClass, each with its warning
events). Objects are written straight into the simulator's store - complete, with their status - so
setup takes seconds and the numbers measure reading, not controllers. Then, against the same server in
the same run:

  - the full analysis (every core analyzer, `Analysis.run()` over HTTPS, in this process - the same
    code `prophet analyze` runs), best of 3;
  - real `kubectl get pods -A -o json > /dev/null`, best of 3 (discovery cache warmed first);
  - the ratio analysis / kubectl (target <= 1.0);
  - `cluster_summary()`'s estimated tokens (characters / 4; target <= 2,000).

Usage: .venv/bin/python benchmarks/analyze.py [--deployments 2000] [--pods-per 5] [--nodes 100] [--show-summary]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prophet_sre.sim.clock import rfc3339  # noqa: E402
from prophet_sre.sim.cluster import ClusterOptions, SimCluster  # noqa: E402
from prophet_sre.tools.analyzers import Analysis  # noqa: E402
from prophet_sre.tools.kube import KubeClient, KubeReads  # noqa: E402

NAMESPACES = 20
TS = "2026-01-01T00:00:00Z"
"""Start times of containers; events get the cluster's current time so they count as recent."""


def _rt(cluster: SimCluster, group: str, version: str, plural: str) -> Any:
    rt = cluster.registry.get(group, version, plural)
    assert rt is not None, plural
    return rt


def _container_status(kind: str, pod: str, ns: str) -> dict[str, Any]:
    base = {"name": "app", "image": "nginx:1.27", "imageID": "", "restartCount": 0, "ready": True, "started": True,
            "state": {"running": {"startedAt": TS}}, "lastState": {}}
    if kind == "pull":
        base.update(ready=False, started=False, state={"waiting": {
            "reason": "ImagePullBackOff", "message": 'Back-off pulling image "nginx:nope"'}}, image="nginx:nope")
    elif kind == "crash":
        base.update(ready=False, started=False, restartCount=7, state={"waiting": {
            "reason": "CrashLoopBackOff",
            "message": f"back-off 5m0s restarting failed container=app pod={pod}_{ns}(uid)"}},
            lastState={"terminated": {"exitCode": 1, "reason": "Error", "startedAt": TS, "finishedAt": TS}})
    return base


def _pod(name: str, ns: str, labels: dict[str, str], owner: dict[str, Any] | None, node: str,
         kind: str) -> dict[str, Any]:
    ready = "True" if kind == "ok" else "False"
    status: dict[str, Any] = {
        "phase": "Running" if kind in ("ok", "crash") else "Pending", "qosClass": "Burstable",
        "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": TS},
                       {"type": "Ready", "status": ready, "lastTransitionTime": TS}],
        "containerStatuses": [_container_status(kind, name, ns)], "podIP": "10.0.0.1", "startTime": TS}
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.27", "resources": {
        "requests": {"cpu": "10m", "memory": "16Mi"}}}], "nodeName": node}
    if kind == "unschedulable":
        spec.pop("nodeName")
        spec["nodeSelector"] = {"disk": "ssd"}
        status = {"phase": "Pending", "qosClass": "Burstable", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": TS,
            "message": "0/101 nodes are available: 101 node(s) didn't match Pod's node affinity/selector."}]}
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels}
    if owner:
        meta["ownerReferences"] = [owner]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def _event(ns: str, kind: str, name: str, reason: str, message: str, i: int, now: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.{i:x}", "namespace": ns},
            "involvedObject": {"kind": kind, "namespace": ns, "name": name, "apiVersion": "v1"},
            "reason": reason, "message": message, "type": "Warning", "count": 3, "firstTimestamp": now,
            "lastTimestamp": now, "source": {"component": "kubelet"}, "reportingComponent": "kubelet"}


def populate(cluster: SimCluster, deployments: int, pods_per: int, nodes: int) -> Counter[str]:
    """Write the workload straight into the store; returns how many broken objects of each kind."""
    store = cluster.store
    rts = {p: _rt(cluster, g, "v1", p) for g, p in (
        ("", "namespaces"), ("", "pods"), ("", "services"), ("", "endpoints"), ("", "events"),
        ("", "persistentvolumeclaims"), ("apps", "deployments"), ("apps", "replicasets"))}
    broken: Counter[str] = Counter()
    for n in range(NAMESPACES):
        store.create(rts["namespaces"], {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}})
    ev = 0
    for i in range(deployments):
        ns, name = f"bench-{i % NAMESPACES}", f"web-{i:04d}"
        h = f"{i:06x}0"
        fault = "pull" if i % 97 == 1 else "crash" if i % 89 == 2 else "ok"
        labels = {"app": name}
        ready = pods_per if fault == "ok" else 0
        dep = store.create(rts["deployments"], {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": pods_per, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}},
            "status": {"replicas": pods_per, "readyReplicas": ready, "availableReplicas": ready,
                       "updatedReplicas": pods_per, "observedGeneration": 1}})
        rs_labels = {**labels, "pod-template-hash": h}
        rs = store.create(rts["replicasets"], {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                "name": f"{name}-{h}", "namespace": ns, "labels": rs_labels,
                "annotations": {"deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                     "uid": dep["metadata"]["uid"], "controller": True}]},
            "spec": {"replicas": pods_per, "selector": {"matchLabels": rs_labels},
                     "template": {"metadata": {"labels": rs_labels}, "spec": {"containers": [
                         {"name": "app", "image": "nginx:1.27"}]}}},
            "status": {"replicas": pods_per, "readyReplicas": ready, "availableReplicas": ready}})
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
                 "uid": rs["metadata"]["uid"], "controller": True}
        for j in range(pods_per):
            pod = f"{name}-{h}-{j:05d}"
            store.create(rts["pods"], _pod(pod, ns, rs_labels, owner, f"worker-{(i * pods_per + j) % nodes + 1}",
                                           fault))
            if fault != "ok":
                broken[fault] += 1
                reason, msg = ("BackOff", "Back-off restarting failed container app") if fault == "crash" else (
                    "Failed", "Error: ImagePullBackOff")
                ev += 1
                store.create(rts["events"], _event(ns, "Pod", pod, reason, msg, ev, rfc3339(cluster.clock.now())))
        if i % 10 == 0:
            store.create(rts["services"], {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                                           "spec": {"selector": labels, "ports": [{"port": 80}]}})
            store.create(rts["endpoints"], {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
                                            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]})
    for k in range(10):
        ns = f"bench-{k}"
        store.create(rts["pods"], _pod(f"stuck-{k}", ns, {"app": "stuck"}, None, "", "unschedulable"))
        store.create(rts["services"], {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"orphan-{k}", "namespace": ns},
                                       "spec": {"selector": {"app": f"nothing-{k}"}, "ports": [{"port": 80}]}})
        store.create(rts["endpoints"], {"apiVersion": "v1", "kind": "Endpoints",
                                        "metadata": {"name": f"orphan-{k}", "namespace": ns}})
        store.create(rts["persistentvolumeclaims"], {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": f"data-{k}", "namespace": ns},
            "spec": {"storageClassName": "fast", "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Pending"}})
        ev += 1
        store.create(rts["events"], _event(ns, "PersistentVolumeClaim", f"data-{k}", "ProvisioningFailed",
                                           'storageclass.storage.k8s.io "fast" not found', ev,
                                           rfc3339(cluster.clock.now())))
        broken["unschedulable"] += 1
        broken["service_selector"] += 1
        broken["pvc"] += 1
    return broken


def best_of(n: int, fn: Any) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deployments", type=int, default=2000)
    ap.add_argument("--pods-per", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--show-summary", action="store_true", help="also print cluster_summary()'s text")
    args = ap.parse_args()

    cluster = SimCluster(ClusterOptions(speed=1.0, workers=args.nodes, controllers=False))
    cluster.start()
    tmp = Path(tempfile.mkdtemp(prefix="prophet-bench-analyze-"))
    kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig")
    try:
        t0 = time.perf_counter()
        broken = populate(cluster, args.deployments, args.pods_per, args.nodes)
        t_setup = time.perf_counter() - t0
        client = KubeClient.from_kubeconfig(kubeconfig)
        t_analyze, result = best_of(args.runs, lambda: Analysis(client).run())
        kubectl = str(Path(sys.executable).parent / "kubectl")
        cmd = [kubectl, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp / "cache"), "get", "pods", "-A",
               "-o", "json"]
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, env=env)  # warm the discovery cache
        t_kubectl, _ = best_of(args.runs, lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, env=env))
        summary = KubeReads(client).cluster_summary()
        client.close()
    finally:
        cluster.stop()

    by_analyzer = Counter(f.analyzer for f in result.findings)
    print(f"cluster: {result.listed.get('pods', 0)} pods, {result.listed.get('deployments', 0)} deployments, "
          f"{result.listed.get('replicasets', 0)} replicasets, {args.nodes + 1} nodes (setup {t_setup:.1f} s)")
    print(f"broken on purpose: {dict(broken)}")
    print(f"findings: {len(result.findings)} ({dict(sorted(by_analyzer.items()))}); notes: {len(result.notes)}")
    print(f"prophet analyze (core analyzers, in-process over HTTPS): {t_analyze:6.2f} s  (best of {args.runs})")
    print(f"kubectl get pods -A -o json > /dev/null:                 {t_kubectl:6.2f} s  (best of {args.runs})")
    print(f"ratio analyze / kubectl:                                 {t_analyze / t_kubectl:6.2f}  (target <= 1.0)")
    print(f"cluster_summary(): {summary.tokens} tokens (target <= 2000; ratio {summary.tokens / 2000:.2f}); "
          f"truncated={summary.truncated}")
    if args.show_summary:
        print(summary.text)


if __name__ == "__main__":
    main()

"""Benchmark: the remediation graph's decision overhead, and time to recovery on the demo cases.

1. Decision overhead per incident, without an LLM and without cluster waits: a simulated cluster with a
   broken rollout (`bad-image-tag`), then N incidents through the whole graph in dry-run mode (gather,
   diagnose, runbooks, plan, critique with server-side dry-run, report; SQLite checkpoints and the
   audit log included). Printed: p50/p95 of the incident, of each node, and of the graph machinery
   itself (incident time minus the nodes' own time: LangGraph, checkpoints). Target: p50 < 100 ms for
   the decision (every node but gather_context, whose time is the cluster's API reads).
2. Time to recovery on the five product use cases (`prophet demo`'s cases, each on its own simulator,
   human-in-loop cases approved at once): detection (first fault → trigger), act (trigger → Prophet's
   first write), repair (trigger → every `recovered` check true) and MTTR (first fault → recovered), in
   sim seconds. Target: median repair <= 30 sim s. At a high `--demo-speed` Prophet's own wall time is
   multiplied too (1 wall s of gathering is 50 sim s at 50x, and the simulator shares the process), so
   the honest number is at `--demo-speed 1`, where a sim second is a second.

Usage: .venv/bin/python benchmarks/agents.py [--incidents 30] [--speed 50] [--demo-speed 1] [--skip-demo]
       [--skip-overhead] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prophet_sre.config import Settings  # noqa: E402
from prophet_sre.graphs.runner import open_runner  # noqa: E402
from prophet_sre.graphs.state import Trigger  # noqa: E402
from prophet_sre.sim.cluster import ClusterOptions, SimCluster  # noqa: E402

SUITE = Path(__file__).resolve().parents[1] / "evals" / "scenarios"
CASES = ("backend-memory-leak", "east-west-scan", "fleet-cluster-degraded", "db-pool-exhaustion",
         "cascading-resource-exhaustion")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def overhead(n: int, speed: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="prophet-bench-"))
    cluster = SimCluster(ClusterOptions(speed=speed, scenarios=[SUITE / "bad-image-tag.yaml"]))
    cluster.start()
    try:
        kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig")
        while cluster.clock.elapsed() < 60:  # past the fault (at 30 s) and its first back-off
            time.sleep(0.1)
        s = Settings(data_dir=tmp / "data")
        s = s.model_copy(update={"kube": s.kube.model_copy(update={"kubeconfig": kubeconfig})})
        totals, decisions, machinery = [], [], []
        per_node: dict[str, list[float]] = defaultdict(list)
        with open_runner(s) as runner:
            trigger = Trigger(type="k8sgpt", reason="benchmark", namespace="demo")
            runner.start(trigger, mode="dry-run")  # warm-up: imports, runbook index, discovery
            for _ in range(n):
                t0 = time.perf_counter()
                state = runner.start(trigger, mode="dry-run")
                total = (time.perf_counter() - t0) * 1000
                nodes = {st.node: st.ms for st in state.steps}
                for k, v in nodes.items():
                    per_node[k].append(v)
                totals.append(total)
                decisions.append(sum(v for k, v in nodes.items() if k != "gather_context"))
                machinery.append(total - sum(nodes.values()))
        print(f"decision overhead over {n} dry-run incidents (no LLM, no cluster waits), ms:")
        print(f"  incident total        p50 {pct(totals, .5):8.1f}   p95 {pct(totals, .95):8.1f}")
        print(f"  decision (no gather)  p50 {pct(decisions, .5):8.1f}   p95 {pct(decisions, .95):8.1f}"
              f"   target p50 < 100 -> {'met' if pct(decisions, .5) < 100 else 'MISSED'}")
        print(f"  graph machinery       p50 {pct(machinery, .5):8.1f}   p95 {pct(machinery, .95):8.1f}")
        for node, values in per_node.items():
            print(f"    {node:18s}  p50 {pct(values, .5):8.1f}   p95 {pct(values, .95):8.1f}")
    finally:
        cluster.stop()


def demo_mttr(speed: float, cases: tuple[str, ...] = CASES) -> None:
    from prophet_sre.evals.episode import run_episode

    print(f"\ntime to recovery on the demo cases (sim seconds, speed {speed:g}x):")
    print(f"  {'case':32s} {'outcome':10s} {'detect':>7s} {'act':>7s} {'repair':>7s} {'MTTR':>7s} {'wall s':>7s}")
    repairs, acts = [], []
    for case in cases:
        r = run_episode(SUITE / f"{case}.yaml", speed=speed)
        fmt = [f"{v:7.1f}" if v is not None else "      -" for v in (r.detect_s, r.act_s, r.repair_s, r.mttr_s)]
        print(f"  {case:32s} {(r.outcome or 'error')[:10]:10s} {' '.join(fmt)} {r.wall_s:7.1f}", flush=True)
        if r.repair_s is not None:
            repairs.append(r.repair_s)
        if r.act_s is not None:
            acts.append(r.act_s)
    if repairs:
        med = statistics.median(repairs)
        print(f"  median repair {med:.1f} sim s (target <= 30 -> {'met' if med <= 30 else 'MISSED'}, ratio "
              f"{med / 30:.2f}); median act {statistics.median(acts) if acts else float('nan'):.1f} sim s; "
              f"{len(repairs)}/{len(cases)} recovered")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)  # the numbers, not every decision
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=30)
    ap.add_argument("--speed", type=float, default=50.0)
    ap.add_argument("--demo-speed", type=float, default=1.0, help="Sim speed of the demo cases (1: real time).")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--case", action="append", choices=CASES, help="Only this demo case (repeatable).")
    args = ap.parse_args()
    if not args.skip_overhead:
        overhead(args.incidents, args.speed)
    if not args.skip_demo:
        demo_mttr(args.demo_speed, tuple(args.case or CASES))


if __name__ == "__main__":
    main()

"""Benchmark: the simulated Hubble Relay streaming flows over real gRPC, and the policy engine.

Prints
  - conversion cost per flow: FlowRecord -> serialised GetFlowsResponse, cold and from the cache;
  - GetFlows(number=N) streamed to a real gRPC client (a separate process that parses every
    response, as `hubble observe` does): flows/s, first with a cold conversion cache, then warm,
    then with a two-filter whitelist (`--namespace X`);
  - follow mode: flows appended to the FlowLog in batches while the client follows: flows/s delivered;
  - the reference, measured in the same run: a bare grpc.aio server (same process layout, same
    message bytes) streaming N pre-serialised responses to the same client, i.e. the transport's
    ceiling on this machine, and our ratio to it;
  - policy engine: evaluate() per call, uncached and memoised.
Target: >= 20,000 flows/s streamed (the ratio to the transport ceiling shows what is ours).

Usage: .venv/bin/python benchmarks/hubble_flows.py [--flows 65535] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prophet_sre.protos.observer import observer_pb2  # noqa: E402
from prophet_sre.sim.clock import SimClock  # noqa: E402
from prophet_sre.sim.flows import FlowEndpoint, FlowL7, FlowLog, FlowRecord, PolicyRef  # noqa: E402
from prophet_sre.sim.hubble import FlowConverter, HubbleServer  # noqa: E402

GET_FLOWS = "/observer.Observer/GetFlows"
RAW = "/bench.Raw/Stream"


# -- client process -------------------------------------------------------------------------------------------
def client(address: str, mode: str, count: int, whitelist_ns: str) -> None:
    """Stream `count` responses, parse each, print {"n", "s"} as JSON (the parent reads stdout)."""
    channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 16 << 20)])
    parse = observer_pb2.GetFlowsResponse.FromString
    if mode == "raw":
        call = channel.unary_stream(RAW, request_serializer=None, response_deserializer=parse)(b"")
    else:
        req = observer_pb2.GetFlowsRequest(number=count if mode == "last" else 0, follow=mode == "follow")
        if whitelist_ns:
            req.whitelist.add(source_pod=[f"{whitelist_ns}/"])
            req.whitelist.add(destination_pod=[f"{whitelist_ns}/"])
        call = channel.unary_stream(GET_FLOWS, request_serializer=observer_pb2.GetFlowsRequest.SerializeToString,
                                    response_deserializer=parse)(req)
    if mode == "follow":
        call.initial_metadata()  # the server is subscribed
        print("ready", flush=True)
    start = time.perf_counter()
    n = 0
    for resp in call:
        n += 1
        if resp.flow.verdict < 0:  # touch the parsed message
            break
        if n >= count:
            break
    elapsed = time.perf_counter() - start
    call.cancel()
    print(json.dumps({"n": n, "s": elapsed}), flush=True)


def run_client(address: str, mode: str, count: int, whitelist_ns: str = "", feed: Any = None) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--client", address, "--mode", mode, "--count", str(count),
           "--whitelist-ns", whitelist_ns]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if mode == "follow":
        assert proc.stdout.readline().strip() == "ready"
        feed()
    out = proc.stdout.read()
    proc.wait(timeout=120)
    return json.loads(out.strip().splitlines()[-1])


# -- data -------------------------------------------------------------------------------------------------------
def make_records(n: int, start: datetime) -> list[FlowRecord]:
    """A realistic mix: TCP handshakes, HTTP request/response pairs, DNS, policy drops, over 60 pods."""
    pods = [FlowEndpoint(ip=f"10.244.{i % 3}.{10 + i}", namespace=f"ns-{i % 6}", pod_name=f"app{i % 12}-5d8f-{i:05d}",
                         labels=(f"k8s:app=app{i % 12}", f"k8s:io.kubernetes.pod.namespace=ns-{i % 6}"),
                         workload_name=f"app{i % 12}", workload_kind="Deployment", node_name=f"worker-{i % 3 + 1}")
            for i in range(60)]
    deny = PolicyRef(name="quarantine", namespace="ns-1", labels=("k8s:io.cilium.k8s.policy.name=quarantine",))
    out = []
    for i in range(n):
        src, dst = pods[i % 60], pods[(i * 7 + 3) % 60]
        t = start + timedelta(microseconds=i * 900)
        kind = i % 10
        if kind < 4:
            out.append(FlowRecord(time=t, source=src, destination=dst, source_port=30000 + i % 30000,
                                  destination_port=8080, tcp_flags=("SYN",) if kind < 2 else ("ACK", "PSH")))
        elif kind < 8:
            l7 = (FlowL7(type="REQUEST", http_method="GET", http_url=f"http://{dst.workload_name}:8080/api/{i % 50}")
                  if kind % 2 == 0 else
                  FlowL7(type="RESPONSE", latency_ns=1_000_000 + i % 9_000_000, http_code=(200, 200, 503, 404)[i % 4],
                         http_method="GET", http_url=f"http://{dst.workload_name}:8080/api/{i % 50}"))
            out.append(FlowRecord(time=t, source=src, destination=dst, destination_port=8080, l7=l7,
                                  is_reply=kind % 2 == 1, destination_service=(dst.workload_name, dst.namespace)))
        elif kind == 8:
            out.append(FlowRecord(time=t, source=src, destination=pods[0], protocol="UDP", destination_port=53,
                                  l7=FlowL7(type="REQUEST", dns_query=f"app{i % 12}.ns-{i % 6}.svc.cluster.local.",
                                            dns_qtypes=("A",))))
        else:
            out.append(FlowRecord(time=t, source=src, destination=dst, destination_port=8080, verdict="DROPPED",
                                  drop_reason="POLICY_DENY", tcp_flags=("SYN",), egress_denied_by=(deny,)))
    return out


# -- reference server --------------------------------------------------------------------------------------------
class RawServer:
    """A bare grpc.aio server streaming pre-built bytes: the transport ceiling for comparison."""

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = messages
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _stream(self, request: Any, context: Any) -> Any:
        for m in self.messages:
            yield m

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Raw", {
            "Stream": grpc.unary_stream_rpc_method_handler(self._stream, request_deserializer=None,
                                                           response_serializer=None)}),))
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._ready.set()
        await self._stop.wait()
        await server.stop(0.5)

    def start(self) -> RawServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


# -- policy engine --------------------------------------------------------------------------------------------------
def bench_policy(n_calls: int) -> tuple[float, float, float]:
    from prophet_sre.sim.cluster import admit_defaults_and_validation
    from prophet_sre.sim.netpolicy import PolicyEngine, cilium_policy_crds
    from prophet_sre.sim.registry import Registry
    from prophet_sre.sim.store import Store

    registry = Registry()
    store = Store(registry, SimClock())
    store.add_admission(admit_defaults_and_validation)
    for crd in cilium_policy_crds():
        registry.add_crd(crd)
    engine = PolicyEngine(store, registry)
    ns_rt, np_rt = registry.storage_type("", "namespaces"), registry.storage_type("networking.k8s.io", "networkpolicies")
    cnp_rt = registry.storage_type("cilium.io", "ciliumnetworkpolicies")
    assert ns_rt and np_rt and cnp_rt
    for i in range(6):
        ns = f"ns-{i}"
        store.create(ns_rt, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        store.create(np_rt, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                             "metadata": {"name": "web", "namespace": ns},
                             "spec": {"podSelector": {"matchLabels": {"app": "app1"}}, "ingress": [
                                 {"from": [{"namespaceSelector": {}}], "ports": [{"port": 8080}]}]}})
        store.create(cnp_rt, {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                              "metadata": {"name": "quarantine", "namespace": ns},
                              "spec": {"endpointSelector": {"matchLabels": {"quarantine": "true"}},
                                       "ingressDeny": [{"fromEntities": ["all"]}],
                                       "egressDeny": [{"toEntities": ["all"]}]}})
    eps = [FlowEndpoint(ip=f"10.244.0.{i}", namespace=f"ns-{i % 6}", pod_name=f"p{i}",
                        labels=tuple(sorted([f"k8s:app=app{i % 12}", f"k8s:io.kubernetes.pod.namespace=ns-{i % 6}"]
                                            + (["k8s:quarantine=true"] if i % 17 == 0 else []))))
            for i in range(60)]
    # distinct ports: every first call is a real decision (a memo miss); the second pass hits the memo
    pairs = [(eps[i % 60], eps[(i * 7 + 3) % 60], 1024 + i) for i in range(n_calls)]
    t = time.perf_counter()
    engine.invalidate()
    engine.evaluate(eps[0], eps[1], 80, "TCP")
    compile_ms = (time.perf_counter() - t) * 1e3
    t = time.perf_counter()
    for s, d, p in pairs:
        engine.evaluate(s, d, p, "TCP")
    cold = (time.perf_counter() - t) / n_calls
    t = time.perf_counter()
    for s, d, p in pairs:
        engine.evaluate(s, d, p, "TCP")
    warm = (time.perf_counter() - t) / n_calls
    return compile_ms, cold * 1e6, warm * 1e6


# -- main --------------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=65_535)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved warm rounds of ours and the reference")
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="last", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--whitelist-ns", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        client(args.client, args.mode, args.count, args.whitelist_ns)
        return

    n = args.flows
    clock = SimClock()
    print(f"machine       : {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    records = make_records(n, datetime.now(UTC) - timedelta(minutes=5))

    conv = FlowConverter("bench")
    t = time.perf_counter()
    for r in records:
        conv.to_bytes(r)
    cold_us = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    for r in records:
        conv.to_bytes(r)
    warm_us = (time.perf_counter() - t) / n * 1e6
    raw_bytes = [conv.to_bytes(r) for r in records]
    print(f"conversion    : {cold_us:6.1f} us/flow cold (build + serialise), {warm_us:5.2f} us/flow cached; "
          f"mean message {statistics.mean(map(len, raw_bytes)):.0f} bytes")

    log = FlowLog(max_flows=n)
    log.append(records)
    server = HubbleServer(flowlog=log, clock=clock, cluster_name="bench").start()
    raw = RawServer(raw_bytes).start()
    try:
        def rate(res: dict[str, float]) -> float:
            return res["n"] / res["s"]

        cold = rate(run_client(server.address, "last", n))
        ours, ceiling = [], []
        for _ in range(args.rounds):  # interleaved, so machine load hits both alike
            ours.append(rate(run_client(server.address, "last", n)))
            ceiling.append(rate(run_client(f"127.0.0.1:{raw.port}", "raw", n)))
        med_ours, med_ceiling = statistics.median(ours), statistics.median(ceiling)
        print(f"GetFlows last : {med_ours:8,.0f} flows/s median warm (rounds: {', '.join(f'{r:,.0f}' for r in ours)}); "
              f"{cold:,.0f} with a cold cache  ({n:,} flows, client in a separate process)")
        print(f"reference     : {med_ceiling:8,.0f} msgs/s median, bare grpc.aio stream of the same bytes "
              f"(rounds: {', '.join(f'{c:,.0f}' for c in ceiling)})")
        filt = run_client(server.address, "last", n // 6, whitelist_ns="ns-1")
        print(f"GetFlows --namespace ns-1 (two whitelist filters): {rate(filt):8,.0f} flows/s ({filt['n']:,.0f} flows)")

        fresh = make_records(n, datetime.now(UTC))

        def feed() -> None:
            batch = 500
            for i in range(0, n, batch):
                log.append(fresh[i:i + batch])

        follow = run_client(server.address, "follow", n, feed=feed)
        print(f"GetFlows follow: {rate(follow):8,.0f} flows/s (appended in batches of 500, converted on the fly)")
        print(f"ratio         : {med_ours / med_ceiling:6.2f} of the transport ceiling; target 20,000 flows/s "
              f"{'met' if med_ours >= 20_000 else 'NOT met'} (median {med_ours:,.0f}, best {max(ours):,.0f})")
    finally:
        raw.stop()
        server.stop()

    compile_ms, cold, warm = bench_policy(50_000)
    print(f"policy engine : {cold:6.1f} us/evaluate deciding, {warm:5.2f} us/evaluate memoised "
          f"(12 policies over 6 namespaces; recompiling them took {compile_ms:.1f} ms)")


if __name__ == "__main__":
    main()

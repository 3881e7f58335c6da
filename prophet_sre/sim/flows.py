"""Network flows of the simulated cluster: the record the traffic model writes and Hubble serves.

The traffic model turns service-to-service requests into `FlowRecord`s (one per L3/L4 connection
event or L7 request/response) and appends them to the cluster's `FlowLog`; the Hubble Relay-compatible
gRPC server converts them to `flow.Flow` messages. Keeping this record small and protocol-neutral lets
the two sides evolve separately. The vocabulary (verdicts, drop reasons, directions) is Hubble's.
"""

from __future__ import annotations

import asyncio
import threading
import uuid as uuidlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FlowEndpoint:
    """One side of a flow. `pod_name` is empty for world/host endpoints (use `labels` like `reserved:world`)."""

    ip: str
    namespace: str = ""
    pod_name: str = ""
    labels: tuple[str, ...] = ()  # "k8s:app=web" style, sorted
    workload_name: str = ""
    workload_kind: str = ""  # Deployment | StatefulSet | DaemonSet | ...
    identity: int = 0
    cluster_name: str = ""
    node_name: str = ""


@dataclass(frozen=True, slots=True)
class FlowL7:
    """An L7 record: HTTP (code 0 on requests) or DNS."""

    type: str  # REQUEST | RESPONSE
    latency_ns: int = 0
    http_code: int = 0
    http_method: str = ""
    http_url: str = ""
    http_protocol: str = "HTTP/1.1"
    dns_query: str = ""
    dns_rcode: int = 0  # 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN
    dns_ips: tuple[str, ...] = ()
    dns_qtypes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyRef:
    name: str
    namespace: str
    kind: str = "CiliumNetworkPolicy"  # or NetworkPolicy
    labels: tuple[str, ...] = ()
    revision: int = 1


@dataclass(frozen=True, slots=True)
class FlowRecord:
    time: datetime
    source: FlowEndpoint
    destination: FlowEndpoint
    verdict: str = "FORWARDED"  # FORWARDED | DROPPED | ERROR | AUDIT | REDIRECTED | TRACED | TRANSLATED
    drop_reason: str = ""  # DropReason enum name: POLICY_DENIED, POLICY_DENY, SERVICE_BACKEND_NOT_FOUND, ...
    protocol: str = "TCP"  # TCP | UDP | ICMPv4
    source_port: int = 0
    destination_port: int = 0
    tcp_flags: tuple[str, ...] = ()  # e.g. ("SYN",), ("ACK", "PSH")
    is_reply: bool | None = False
    traffic_direction: str = "EGRESS"  # INGRESS | EGRESS | TRAFFIC_DIRECTION_UNKNOWN
    l7: FlowL7 | None = None
    source_service: tuple[str, str] | None = None  # (name, namespace)
    destination_service: tuple[str, str] | None = None
    node_name: str = ""
    egress_denied_by: tuple[PolicyRef, ...] = ()
    ingress_denied_by: tuple[PolicyRef, ...] = ()
    egress_allowed_by: tuple[PolicyRef, ...] = ()
    ingress_allowed_by: tuple[PolicyRef, ...] = ()
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))


Subscriber = Callable[[list[FlowRecord]], None]


class FlowLog:
    """A bounded ring of recent flows (Hubble's ring buffer) plus live subscribers for `follow`."""

    def __init__(self, max_flows: int = 65_535) -> None:
        self.max_flows = max_flows
        self._ring: deque[FlowRecord] = deque(maxlen=max_flows)
        self._lock = threading.Lock()
        self._subs: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[list[FlowRecord]]]] = []
        self.seen_flows = 0

    def append(self, records: list[FlowRecord]) -> None:
        if not records:
            return
        with self._lock:
            self._ring.extend(records)
            self.seen_flows += len(records)
            subs = list(self._subs)
        for loop, queue in subs:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, records)
            except RuntimeError:
                pass  # subscriber's loop is gone

    def snapshot(self) -> list[FlowRecord]:
        with self._lock:
            return list(self._ring)

    def __len__(self) -> int:
        return len(self._ring)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[list[FlowRecord]]:
        queue: asyncio.Queue[list[FlowRecord]] = asyncio.Queue()
        with self._lock:
            self._subs.append((loop, queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[list[FlowRecord]]) -> None:
        with self._lock:
            self._subs = [(lp, q) for lp, q in self._subs if q is not queue]

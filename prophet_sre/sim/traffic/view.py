"""What the traffic model sees of the cluster on one tick: pods, the backends behind a name, endpoints.

Requests are routed the way kube-proxy routes them: to the *ready addresses of the Endpoints object*
of the destination Service, so a stale endpoint (a pod that just crashed but is still listed) is hit
and refuses the connection, exactly the window a real cluster shows. Names that are only a workload
(no Service) reach that workload's Running and Ready pods directly.

A pod's Hubble identity is derived from its labels the way Cilium does it (labels that change per
rollout such as `pod-template-hash` are left out), so every replica of a Deployment shares one
identity and a policy engine can cache verdicts per identity pair. Per-pod facts are cached by the
pod's resourceVersion: a 1,000-pod tick costs dictionary look-ups, not object walks.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

from prophet_sre.sim.controllers.base import ControllerContext
from prophet_sre.sim.controllers.cache import ensure_pod_indexes, informers, pods_selected
from prophet_sre.sim.controllers.common import controller_ref, parse_quantity
from prophet_sre.sim.flows import FlowEndpoint
from prophet_sre.sim.store import WatchEvent
from prophet_sre.sim.traffic.graph import WORKLOAD_KINDS, NodeRef

Obj = dict[str, Any]
IDENTITY_EXCLUDED = ("pod-template-hash", "controller-revision-hash", "pod-template-generation",
                     "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index")
WORLD = FlowEndpoint(ip="192.0.2.10", labels=("reserved:world",), identity=2)
"""External clients of root services (a documentation-range address: it is never contacted)."""
_WORKLOAD_RT = {"deployment": ("apps", "deployments"), "statefulset": ("apps", "statefulsets"),
                "daemonset": ("apps", "daemonsets")}
_ROUTING_KEYS = frozenset({("", "pods"), ("", "endpoints"), ("", "services"), ("", "namespaces"),
                           ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"),
                           ("apps", "replicasets")})
_TCP_NAMES = frozenset({"postgres", "postgresql", "mysql", "redis", "mongodb", "mongo", "memcached", "cassandra",
                        "tcp", "amqp", "kafka", "zookeeper", "etcd", "sql", "db"})
_DB_PORTS = frozenset({5432, 3306, 6379, 27017, 9042, 1433, 26257, 11211})
_DB_WORDS = ("db", "postgres", "mysql", "maria", "redis", "mongo", "sql", "cassandra", "memcache")


@dataclass(slots=True)
class PodView:
    """The facts about one pod that routing, faults and flows need."""

    namespace: str
    name: str
    uid: str
    ip: str
    node: str
    labels: dict[str, str]
    running: bool
    ready: bool
    workload: tuple[str, str]  # (Kind, name), ("", "") for a bare pod
    ports: frozenset[int]
    cpu_cores: float
    """CPU the pod can use: its limits, or (no limit) 4x its requests and at least one core."""
    endpoint: FlowEndpoint
    obj: Obj
    policy_key: tuple[str, tuple[tuple[str, str], ...]] = ("", ())
    """(namespace, sorted labels): pods with equal keys get equal policy verdicts."""
    ip_key: tuple[int, ...] = ()
    port_names: dict[int, str] = field(default_factory=dict)

    @property
    def serving(self) -> bool:
        return self.running and self.ready and bool(self.ip)


@dataclass(slots=True)
class Backend:
    pod: PodView
    port: int


@dataclass(slots=True)
class Resolved:
    """What a graph node stands for right now."""

    ref: NodeRef
    service: Obj | None = None
    workload: tuple[str, str] | None = None  # (kind, name) when the name is a workload
    backends: list[Backend] = field(default_factory=list)
    port: int = 80
    cluster_ip: str = ""
    db_like: bool = False
    http: bool = True
    """False for a TCP protocol (a database port): L3/L4 flows only, no HTTP codes or access logs."""

    @property
    def exists(self) -> bool:
        return self.service is not None or self.workload is not None


def identity_of(labels: tuple[str, ...]) -> int:
    """A stable cluster-local security identity (256..65535) from the identity-relevant labels."""
    return 256 + zlib.crc32("\x00".join(labels).encode()) % (65536 - 256)


class ClusterView:
    """Per-tick read access to the store with caches that survive ticks where objects did not change."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.pod_rt = ctx.rt("", "pods")
        self.svc_rt = ctx.rt("", "services")
        self.ep_rt = ctx.rt("", "endpoints")
        self.ns_rt = ctx.rt("", "namespaces")
        self.rs_rt = ctx.rt("apps", "replicasets")
        self._pods: dict[str, tuple[str, PodView]] = {}  # uid -> (resourceVersion, view)
        self._ns_labels: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
        self._tick_pods: dict[tuple[str, str], PodView | None] = {}
        self._all: list[PodView] | None = None
        self._resolved: dict[tuple[NodeRef, int | None], Resolved] = {}
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._dirty_lock = threading.Lock()
        self.store.subscribe(self._on_write)

    def _on_write(self, ev: WatchEvent) -> None:
        """Mark the namespace of anything that can change routing; resolutions there are redone next tick.
        (Called on whichever thread wrote, hence the lock.)"""
        if ev.storage_key in _ROUTING_KEYS:
            ns = (ev.obj.get("metadata") or {}).get("namespace") or ""
            with self._dirty_lock:
                if ns:
                    self._dirty.add(ns)
                else:
                    self._all_dirty = True

    def begin_tick(self) -> None:
        self._tick_pods.clear()
        self._all = None
        with self._dirty_lock:
            everything, dirty = self._all_dirty, self._dirty
            self._all_dirty, self._dirty = False, set()
        if everything:
            self._resolved.clear()
        elif dirty:
            self._resolved = {k: v for k, v in self._resolved.items() if k[0].namespace not in dirty}

    def end_tick(self) -> None:
        """Forget cached pods that are gone (bounded memory under churn)."""
        if len(self._pods) > 2 * max(self.store.count(self.pod_rt), 64):
            live = {p["metadata"].get("uid") for p in self.store.objects(self.pod_rt)}
            self._pods = {u: v for u, v in self._pods.items() if u in live}

    # -- pods ------------------------------------------------------------------------------------------
    def pod(self, namespace: str, name: str) -> PodView | None:
        key = (namespace, name)
        if key in self._tick_pods:
            return self._tick_pods[key]
        obj = self.store.try_get(self.pod_rt, namespace, name)
        view = None if obj is None else self.view_of(obj)
        self._tick_pods[key] = view
        return view

    def view_of(self, obj: Obj) -> PodView:
        meta = obj["metadata"]
        uid, rv = meta.get("uid", ""), meta.get("resourceVersion", "")
        hit = self._pods.get(uid)
        if hit is not None and hit[0] == rv:
            return hit[1]
        view = self._build(obj)
        self._pods[uid] = (rv, view)
        return view

    def all_pods(self) -> list[PodView]:
        """Every pod with an IP, in (namespace, name) order (flood peers)."""
        if self._all is None:
            objs = sorted(self.store.objects(self.pod_rt), key=lambda o: (o["metadata"].get("namespace", ""),
                                                                         o["metadata"]["name"]))
            self._all = [v for v in (self.view_of(o) for o in objs) if v.ip and v.running]
        return self._all

    def _build(self, obj: Obj) -> PodView:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        ns, name = meta.get("namespace", ""), meta["name"]
        labels = dict(meta.get("labels") or {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
        running = status.get("phase") == "Running" and not meta.get("deletionTimestamp")
        ports: set[int] = set()
        names: dict[int, str] = {}
        cores = 0.0
        for c in spec.get("containers") or ():
            for p in c.get("ports") or ():
                if p.get("containerPort"):
                    ports.add(int(p["containerPort"]))
                    names[int(p["containerPort"])] = str(p.get("name") or "")
            res = c.get("resources") or {}
            limit = parse_quantity((res.get("limits") or {}).get("cpu") or 0)
            # no limit: the container bursts into the node's idle CPU (at least a core's worth)
            cores += limit or max(1.0, 4 * parse_quantity((res.get("requests") or {}).get("cpu") or 0))
        workload = self._workload(obj)
        cluster = self.ctx.cluster_name
        sa = spec.get("serviceAccountName") or "default"
        flat = [f"k8s:{k}={v}" for k, v in labels.items() if k not in IDENTITY_EXCLUDED]
        flat += [f"k8s:io.cilium.k8s.namespace.labels.{k}={v}" for k, v in self._namespace_labels(ns)]
        flat += [f"k8s:io.cilium.k8s.policy.cluster={cluster}", f"k8s:io.cilium.k8s.policy.serviceaccount={sa}",
                 f"k8s:io.kubernetes.pod.namespace={ns}"]
        tags = tuple(sorted(flat))
        ip = status.get("podIP") or ""
        node = spec.get("nodeName") or ""
        endpoint = FlowEndpoint(ip=ip, namespace=ns, pod_name=name, labels=tags, workload_name=workload[1],
                                workload_kind=workload[0], identity=identity_of(tags), cluster_name=cluster,
                                node_name=node)
        return PodView(ns, name, meta.get("uid", ""), ip, node, labels, running, ready, workload,
                       frozenset(ports), cores, endpoint, obj, (ns, tuple(sorted(labels.items()))), _ip_key(ip),
                       names)

    def _workload(self, obj: Obj) -> tuple[str, str]:
        ref = controller_ref(obj)
        if not ref:
            return ("", "")
        if ref.get("kind") == "ReplicaSet":
            rs = self.store.try_get(self.rs_rt, obj["metadata"].get("namespace", ""), ref.get("name", ""))
            owner = controller_ref(rs) if rs else None
            if owner and owner.get("kind") == "Deployment":
                return ("Deployment", owner.get("name", ""))
        return (ref.get("kind", ""), ref.get("name", ""))

    def _namespace_labels(self, ns: str) -> tuple[tuple[str, str], ...]:
        obj = self.store.try_get(self.ns_rt, "", ns)
        rv = ((obj or {}).get("metadata") or {}).get("resourceVersion", "")
        hit = self._ns_labels.get(ns)
        if hit is not None and hit[0] == rv:
            return hit[1]
        labels = dict(((obj or {}).get("metadata") or {}).get("labels") or {})
        labels.setdefault("kubernetes.io/metadata.name", ns)
        pairs = tuple(sorted(labels.items()))
        self._ns_labels[ns] = (rv, pairs)
        return pairs

    # -- names -> backends -------------------------------------------------------------------------------
    def resolve(self, ref: NodeRef, port: int | None = None) -> Resolved:
        """The Service and/or workload a name stands for, with its ready backends (sorted by pod IP).

        Cached until something that routing depends on (pods, Endpoints, Services, workloads,
        ReplicaSets, Namespaces) is written in the name's namespace."""
        hit = self._resolved.get((ref, port))
        if hit is None:
            hit = self._resolved[(ref, port)] = self._resolve(ref, port)
        return hit

    def _resolve(self, ref: NodeRef, port: int | None) -> Resolved:
        out = Resolved(ref)
        if ref.kind in (None, "service"):
            out.service = self.store.try_get(self.svc_rt, ref.namespace, ref.name)
        if ref.kind == "pod":
            pod = self.pod(ref.namespace, ref.name)
            if pod is not None:
                out.workload = ("Pod", ref.name)
                out.port = port or min(pod.ports, default=80)
                out.backends = [Backend(pod, out.port)] if pod.serving else []
            return out
        if out.service is None:
            for kind in WORKLOAD_KINDS if ref.kind is None else (ref.kind,):
                if kind in _WORKLOAD_RT and self.store.try_get(self.ctx.rt(*_WORKLOAD_RT[kind]), ref.namespace,
                                                               ref.name) is not None:
                    out.workload = (kind, ref.name)
                    break
        name = ""
        if out.service is not None:
            name = self._service_backends(out, port)
        elif out.workload is not None:
            self._workload_backends(out, port)
            name = out.backends[0].pod.port_names.get(out.port, "") if out.backends else ""
        out.http = out.port not in _DB_PORTS and name.lower() not in _TCP_NAMES
        out.db_like = not out.http or any(w in ref.name.lower() for w in _DB_WORDS)
        return out

    def _service_backends(self, out: Resolved, port: int | None) -> str:
        """Fill the backends from the Endpoints; returns the chosen port's name (or appProtocol)."""
        svc = out.service or {}
        spec = svc.get("spec") or {}
        out.cluster_ip = spec.get("clusterIP") or ""
        sports = [p for p in spec.get("ports") or () if (p.get("protocol") or "TCP") == "TCP"]
        chosen = next((p for p in sports if p.get("port") == port), None) if port else None
        chosen = chosen or next((p for p in sports if p.get("name") == "http"), None) or (sports[0] if sports else {})
        out.port = int(chosen.get("port") or port or 80)
        ep = self.store.try_get(self.ep_rt, out.ref.namespace, out.ref.name)
        backends: list[Backend] = []
        for subset in (ep or {}).get("subsets") or ():
            eports = subset.get("ports") or []
            target = next((p for p in eports if chosen.get("name") and p.get("name") == chosen.get("name")), None)
            target = target or (eports[0] if eports else {"port": out.port})
            for addr in subset.get("addresses") or ():
                ref = addr.get("targetRef") or {}
                pod = self.pod(ref.get("namespace", out.ref.namespace), ref.get("name", "")) \
                    if ref.get("kind") == "Pod" else None
                if pod is not None:
                    backends.append(Backend(pod, int(target.get("port") or out.port)))
        backends.sort(key=lambda b: b.pod.ip_key)
        out.backends = backends
        if out.workload is None and backends:
            out.workload = (backends[0].pod.workload[0].lower(), backends[0].pod.workload[1])
        return str(chosen.get("appProtocol") or chosen.get("name") or "")

    def _workload_backends(self, out: Resolved, port: int | None) -> None:
        assert out.workload is not None
        kind, name = out.workload
        obj = self.store.try_get(self.ctx.rt(*_WORKLOAD_RT[kind]), out.ref.namespace, name) or {}
        match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        pods: list[PodView] = []
        for key in pods_selected(self.hub, out.ref.namespace, match) or ():
            view = self.pod(*key)
            if view is not None and view.serving and all(view.labels.get(k) == v for k, v in match.items()):
                pods.append(view)
        pods.sort(key=lambda p: p.ip_key)
        first = min(pods[0].ports, default=80) if pods else 80
        out.port = port or first
        out.backends = [Backend(p, out.port) for p in pods]

    def dns_service(self) -> Resolved:
        """kube-dns with its ready CoreDNS endpoints (port 53)."""
        ref = NodeRef("kube-system", "kube-dns", "service")
        hit = self._resolved.get((ref, 53))
        if hit is None:
            hit = Resolved(ref, service=self.store.try_get(self.svc_rt, ref.namespace, ref.name))
            if hit.service is not None:
                self._service_backends(hit, 53)
                hit.backends = [Backend(b.pod, 53) for b in hit.backends]
                hit.port = 53
            self._resolved[(ref, 53)] = hit
        return hit


def _ip_key(ip: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in ip.split("."))
    except ValueError:
        return (999,)

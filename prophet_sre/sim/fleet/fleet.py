"""`SimFleet`: several simulated clusters on one sim clock, the first managing the others with Cluster API.

Every name gets its own `SimCluster` (own API server, port, CA and token) but all share one `SimClock`, so
timestamps and timers line up across clusters. The first cluster is the management cluster: it gets the
Cluster API and Gateway API CRDs, a namespace `fleet` with the CAPI objects describing each other cluster
(see `objects`), the global HTTPRoute (see `traffic`) and the fleet controller that keeps them in step with
the workload clusters (see `controller`). Workload clusters' Nodes are given their cloud's identity
(providerID, region, zone, instance type) by name: `aws*`, `gcp*`, `azure*`, otherwise Docker.

One kubeconfig covers the fleet: a context per cluster, named after it, current-context = the first.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from prophet_sre.errors import SimError
from prophet_sre.sim import crds
from prophet_sre.sim.clock import SimClock, rfc3339
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.fleet import conditions, metrics, traffic
from prophet_sre.sim.fleet import nodes as nd
from prophet_sre.sim.fleet import objects as o
from prophet_sre.sim.fleet.controller import FAULT_KIND, TRAFFIC_KEY, FleetController
from prophet_sre.sim.fleet.providers import provider_for
from prophet_sre.sim.knobs import Effect
from prophet_sre.sim.store import Store

Obj = dict[str, Any]
DEFAULT_NAMES = ("mgmt", "aws", "gcp", "azure")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def parse_names(spec: str) -> list[str]:
    """`mgmt,aws,gcp` -> names; a bare number N -> the first N of `DEFAULT_NAMES` (mgmt, aws, gcp, azure)."""
    spec = spec.strip()
    if spec.isdigit():
        n = int(spec)
        if not 1 <= n <= len(DEFAULT_NAMES):
            raise SimError(f"--clusters {n}: give 1..{len(DEFAULT_NAMES)} or a comma-separated list of names")
        return list(DEFAULT_NAMES[:n])
    return [n.strip() for n in spec.split(",") if n.strip()]


def _check_names(names: Sequence[str]) -> list[str]:
    out = list(names)
    if not out:
        raise SimError("a fleet needs at least one cluster name")
    if len(set(out)) != len(out):
        raise SimError(f"cluster names must be unique: {', '.join(out)}")
    for n in out:
        if not _DNS_LABEL.match(n) or len(n) > 40:
            raise SimError(f"cluster name {n!r} must be a lowercase DNS label of at most 40 characters")
    return out


def _create(store: Store, obj: Obj) -> Obj:
    rt = store.registry.by_kind(obj["apiVersion"], obj["kind"])
    assert rt is not None, obj["kind"]
    return store.create(rt, obj)


def _set_status(store: Store, obj: Obj, status: Obj) -> Obj:
    rt = store.registry.by_kind(obj["apiVersion"], obj["kind"])
    assert rt is not None, obj["kind"]
    return store.update(rt, {**obj, "status": status}, subresource="status", check_rv=False)


class SimFleet:
    """A management cluster plus workload clusters, each a real API server on 127.0.0.1."""

    def __init__(self, names: Sequence[str] = DEFAULT_NAMES, *, speed: float = 1.0, workers: int = 2,
                 host: str = "127.0.0.1", tls: bool = True, controllers: bool = True,
                 clock: SimClock | None = None) -> None:
        self.names = _check_names(names)
        self.clock = clock if clock is not None else SimClock(speed=speed)
        self.controllers = controllers
        self.clusters: dict[str, SimCluster] = {
            n: SimCluster(ClusterOptions(name=n, host=host, speed=self.clock.speed, workers=workers,
                                         controllers=controllers, tls=tls), clock=self.clock)
            for n in self.names}
        self.controller: FleetController | None = None
        self._ready = False
        self._started: list[SimCluster] = []

    # -- access -------------------------------------------------------------------------------------------------
    @property
    def management(self) -> SimCluster:
        return self.clusters[self.names[0]]

    @property
    def workloads(self) -> dict[str, SimCluster]:
        return {n: self.clusters[n] for n in self.names[1:]}

    def __getitem__(self, name: str) -> SimCluster:
        return self.clusters[name]

    # -- assembly -----------------------------------------------------------------------------------------------
    def setup(self) -> SimFleet:
        """Bootstrap every cluster and describe the workload clusters in the management cluster (idempotent).

        Runs before any server starts, so tests can drive the fleet in-process with `drain`/`run_for`.
        """
        if self._ready:
            return self
        for c in self.clusters.values():
            c.reserve_port()  # kubeconfig secrets name every endpoint before any server starts
        for c in self.clusters.values():
            c.bootstrap()
        mgmt = self.management.store
        crds.install(mgmt, crds.all_crds())
        _create(mgmt, o.namespace())
        now = rfc3339(self.clock.now())
        self._traffic(mgmt, now)
        for p in sorted({provider_for(n) for n in self.workloads}, key=lambda p: p.name):
            cc = _create(mgmt, o.cluster_class(p))
            _set_status(mgmt, cc, {"observedGeneration": 1, "conditions": conditions.merge((), [
                conditions.cond("VariablesReady", "True", "VariablesReady"),
                conditions.cond("RefVersionsUpToDate", "True", "RefVersionsUpToDate"),
                conditions.cond("Paused", "False", "NotPaused")], now, 1)})
        for name, w in self.workloads.items():
            self._describe(name, w, now)
        self.management.controller_ctx.extras.setdefault("metrics_text", []).append(
            functools.partial(metrics.exposition, self))
        if self.controllers:
            self.controller = FleetController(self.management.controller_ctx, self.workloads)
            self.management.manager.add(self.controller)
            for name in self.workloads:
                self.controller.reconcile_cluster(name)
            self.controller.reconcile(TRAFFIC_KEY)
        self._ready = True
        return self

    def _traffic(self, mgmt: Store, now: str) -> None:
        gc = _create(mgmt, traffic.gateway_class())
        _set_status(mgmt, gc, {"conditions": [{**c, "lastTransitionTime": now}
                                              for c in traffic.gateway_class_status(gc)["conditions"]]})
        gw = _create(mgmt, traffic.gateway())
        status = traffic.gateway_status(gw)
        for c in status["conditions"] + status["listeners"][0]["conditions"]:
            c["lastTransitionTime"] = now
        _set_status(mgmt, gw, status)
        for i, name in enumerate(self.workloads):
            si = _create(mgmt, traffic.service_import(name, i))
            _set_status(mgmt, si, {"clusters": [{"cluster": name}]})
        if self.workloads:
            _create(mgmt, traffic.http_route(list(self.workloads)))

    def _describe(self, name: str, w: SimCluster, now: str) -> None:
        """The CAPI objects for one workload cluster, and its Nodes re-created with their cloud identity."""
        mgmt, p = self.management.store, provider_for(name)
        host = w.options.host
        cluster = _create(mgmt, o.cluster(name, p, host, w.port))
        infra = _create(mgmt, o.infra_cluster(name, p, host, w.port, cluster))
        ready = ["Ready"] + (["VpcReady", "SubnetsReady", "LoadBalancerReady"] if p.name == "aws" else [])
        _set_status(mgmt, infra, {"ready": True, "initialization": {"provisioned": True},
                                  "failureDomains": {z: {"controlPlane": True} for z in p.zones},
                                  "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                                                 for t in ready]})
        kcp = _create(mgmt, o.kubeadm_control_plane(name, p, cluster))
        current = nd.nodes(w.store)
        workers = [n["metadata"]["name"] for n in current
                   if "node-role.kubernetes.io/control-plane" not in n["metadata"]["labels"]]
        md = _create(mgmt, o.machine_deployment(name, p, len(workers), cluster))
        ms = _create(mgmt, o.machine_set(md, p))
        _create(mgmt, o.machine_health_check(name))
        _create(mgmt, o.kubeconfig_secret(name, o.workload_kubeconfig(name, w.kubeconfig(context=name)), kcp))
        for i, node in enumerate(current):
            control_plane = node["metadata"]["name"] not in workers
            zone = p.zone(0 if control_plane else workers.index(node["metadata"]["name"]))
            rebuilt = nd.for_provider(node, name, p, zone)
            owner = kcp if control_plane else ms
            machine_name = f"{owner['metadata']['name']}-{o.suffix(name, node['metadata']['name'], str(i))}"
            machine = _create(mgmt, o.machine(machine_name, name, p, owner, zone, control_plane=control_plane,
                                              provider_id=rebuilt["spec"]["providerID"]))
            nd.annotate_for_machine(rebuilt, machine)
            nd.replace(w.store, rebuilt)

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> SimFleet:
        """Serve every cluster: workload clusters first, the management cluster (and its controller) last."""
        self.setup()
        try:
            for name in [*self.names[1:], self.names[0]]:
                cluster = self.clusters[name]
                cluster.start(timeout_s)
                self._started.append(cluster)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the management cluster first (its controller calls into the others), then the rest."""
        for cluster in sorted(self._started, key=lambda c: c is not self.management):
            cluster.stop()
        for cluster in self.clusters.values():
            if cluster not in self._started:
                cluster.release_port()  # set up (ports reserved) but never served
        self._started.clear()

    def __enter__(self) -> SimFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- in-process driving (tests, benchmarks) -------------------------------------------------------------------
    def drain(self, max_rounds: int = 100) -> int:
        """Run every cluster's queued controller work until all are idle (no servers needed)."""
        total = 0
        for _ in range(max_rounds):
            done = sum(c.manager.drain(max_rounds=100_000) for c in self.clusters.values())
            total += done
            if done == 0:
                break
        return total

    def run_for(self, seconds: float, step: float = 0.5) -> None:
        """Advance the shared clock by `seconds` in `step`s, draining every cluster after each step."""
        waited = 0.0
        self.drain()
        while waited < seconds - 1e-9:
            self.clock.advance(step)
            waited += step
            self.drain()

    # -- kubeconfig -----------------------------------------------------------------------------------------------
    def kubeconfig(self) -> Obj:
        """One kubeconfig, one context per cluster (named after it); current-context = the management cluster.

        The management context's namespace is `fleet`, where the Cluster API objects live, so
        `kubectl --context mgmt get cluster aws` works as it does after `clusterctl` into a namespace.
        """
        out: Obj = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [],
                    "contexts": [], "current-context": self.names[0]}
        for name, c in self.clusters.items():
            kc = c.kubeconfig(context=name)
            if c is self.management:
                kc["contexts"][0]["context"]["namespace"] = o.NAMESPACE
            for key in ("clusters", "users", "contexts"):
                out[key] += kc[key]
        return out

    def write_kubeconfig(self, path: Path | str) -> Path:
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False))
        path.chmod(0o600)
        return path

    # -- faults and traffic ------------------------------------------------------------------------------------------
    def degrade(self, name: str, **params: Any) -> Effect:
        """Add a `cluster_degraded` effect for `name` where the fleet reads it: that cluster's own knobs."""
        if name not in self.workloads:
            raise KeyError(f"{name!r} is not a workload cluster of this fleet")
        return self.clusters[name].knobs.add(FAULT_KIND, name, params, since_s=self.clock.elapsed())

    def recover(self, name: str) -> int:
        """Remove every `cluster_degraded` effect targeting `name`; returns how many there were."""
        knobs = self.clusters[name].knobs
        gone = [e for e in knobs.active(FAULT_KIND) if e.target == name]
        for e in gone:
            knobs.remove(e.id)
        return len(gone)

    def traffic_weights(self) -> dict[str, int]:
        """{workload cluster: weight} of the global HTTPRoute as stored now (what an agent patched)."""
        return traffic.weights(self.management.store) if self.workloads else {}

    def traffic_shares(self) -> dict[str, float]:
        """{workload cluster: fraction of global traffic}, from the weights."""
        return traffic.shares(self.management.store) if self.workloads else {}

    def cluster_available(self) -> dict[str, bool]:
        """{workload cluster: its Cluster object's Available condition is True}."""
        rt = self.management.registry.storage_type(o.CAPI, "clusters")
        out = {}
        for name in self.workloads:
            obj = self.management.store.try_get(rt, o.NAMESPACE, name) if rt else None
            out[name] = conditions.is_true(obj, "Available")
        return out

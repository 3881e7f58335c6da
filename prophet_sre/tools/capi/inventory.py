"""`FleetInventory`: the workload clusters a Cluster API management cluster knows, and clients for them.

Everything is read through the management cluster's `KubeClient`, so errors arrive already mapped
(NotFound, Forbidden naming the permission, ToolUnavailable). The kinds are fixed to CAPI v1beta2 (the
storage version since CAPI 1.11) and Gateway API v1 rather than discovered: their field shapes are what
the parsing relies on, and a 404 on a fixed path tells "not a management cluster" apart from any other
failure in one call.

Workload clients are built from the `<cluster>-kubeconfig` Secret (key `value`) that CAPI writes, once
per cluster, and cached: building one parses a kubeconfig and opens a connection pool.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import yaml

from prophet_sre.errors import NotFound, ToolError, ToolUnavailable
from prophet_sre.tools.capi import health, traffic
from prophet_sre.tools.capi.models import (
    CLUSTER_NAME_LABEL,
    ClusterInfo,
    FleetHealth,
    MachineDeploymentInfo,
    TrafficSplit,
)
from prophet_sre.tools.kube import objects
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.errors import Op
from prophet_sre.tools.kube.kinds import ResourceKind
from prophet_sre.tools.kube.transport import ApiClientTransport

CAPI_GROUP = "cluster.x-k8s.io"
CLUSTER_KIND = ResourceKind(CAPI_GROUP, "v1beta2", "clusters", "Cluster", True, ("cl",), "cluster")
MACHINE_DEPLOYMENT_KIND = ResourceKind(CAPI_GROUP, "v1beta2", "machinedeployments", "MachineDeployment", True,
                                       ("md",), "machinedeployment")
HTTPROUTE_KIND = ResourceKind("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", True, (),
                              "httproute")
T = TypeVar("T")
KUBECONFIG_KEY = "value"
"""The data key of `<cluster>-kubeconfig` (CAPI util/secret)."""

ClientFactory = Callable[[dict[str, Any], str], KubeClient]
"""(parsed kubeconfig, cluster name) -> client; tests and callers with special transports inject one."""


class FleetInventory:
    """The fleet as one management cluster (`kube_mgmt`) sees it, in `namespace` (None: all namespaces)."""

    def __init__(self, kube_mgmt: KubeClient, *, namespace: str | None = None,
                 client_factory: ClientFactory | None = None, probe_timeout_s: float = 3.0) -> None:
        self.kube = kube_mgmt
        self.namespace = namespace
        self.probe_timeout_s = probe_timeout_s
        """Per attempt of a health probe's `/version` call: a dead workload API must not stall the report."""
        self._factory = client_factory or self._client_from_kubeconfig
        self._clients: dict[tuple[str, str], KubeClient] = {}
        self._lock = threading.Lock()

    # -- inventory --------------------------------------------------------------------------------------
    def served(self) -> bool:
        """Whether the management cluster serves Cluster API v1beta2 Clusters (one list of one item)."""
        try:
            next(self.kube.pages(CLUSTER_KIND, self.namespace, page_size=1), None)
        except NotFound:
            return False
        return True

    def clusters(self) -> list[ClusterInfo]:
        """Every workload cluster, with its MachineDeployments, sorted by namespace and name."""
        raw = self._list(CLUSTER_KIND)
        mds: dict[tuple[str, str], list[MachineDeploymentInfo]] = {}
        for obj in self._list(MACHINE_DEPLOYMENT_KIND):
            md = MachineDeploymentInfo.parse(obj)
            mds.setdefault((md.namespace, md.cluster), []).append(md)
        infos = [ClusterInfo.parse(o, mds.get((objects.namespace(o), objects.name(o)))) for o in raw]
        return sorted(infos, key=lambda c: (c.namespace, c.name))

    def cluster(self, name: str, namespace: str | None = None) -> ClusterInfo:
        ns = self._namespace_of(name, namespace)
        obj = self._read(lambda: self.kube.get(CLUSTER_KIND, name, ns), f"no Cluster {ns}/{name}")
        owned = self.kube.list(MACHINE_DEPLOYMENT_KIND, ns, label_selector=f"{CLUSTER_NAME_LABEL}={name}")
        return ClusterInfo.parse(obj, [MachineDeploymentInfo.parse(o) for o in owned])

    def _list(self, kind: ResourceKind) -> list[dict[str, Any]]:
        return self._read(lambda: self.kube.list(kind, self.namespace),
                          f"the management cluster does not serve {kind.qualified}/{kind.version}; is it a "
                          "Cluster API management cluster (clusterctl init, Cluster API >= 1.11)?")

    @staticmethod
    def _read(fn: Callable[[], T], not_found: str) -> T:
        """`fn()`, with a NotFound replaced by one that says what is missing in this fleet's terms."""
        try:
            return fn()
        except NotFound as e:
            raise NotFound(not_found) from e

    def _namespace_of(self, name: str, namespace: str | None) -> str:
        if namespace or self.namespace:
            return str(namespace or self.namespace)
        found = sorted(objects.namespace(o) for o in self._list(CLUSTER_KIND) if objects.name(o) == name)
        if not found:
            raise NotFound(f"no Cluster named {name!r} in any namespace of the management cluster")
        if len(found) > 1:
            raise ToolError(f"Cluster {name!r} exists in namespaces {', '.join(found)}; say which one")
        return found[0]

    # -- workload clusters ------------------------------------------------------------------------------
    def workload_client(self, cluster_name: str, namespace: str | None = None) -> KubeClient:
        """A client for the workload cluster, from its `<name>-kubeconfig` Secret (built once, then cached).

        NotFound when the Cluster or the Secret (or its `value` key) is missing, ToolError when the value
        is not a usable kubeconfig; the client itself maps errors like every `KubeClient`.
        """
        ns = self._namespace_of(cluster_name, namespace)
        with self._lock:
            cached = self._clients.get((ns, cluster_name))
        if cached is not None:
            return cached
        client = self._factory(self._kubeconfig(cluster_name, ns), cluster_name)
        with self._lock:
            kept = self._clients.setdefault((ns, cluster_name), client)
        if kept is not client:  # another thread built one first
            client.close()
        return kept

    def _kubeconfig(self, cluster_name: str, ns: str) -> dict[str, Any]:
        secret = f"{cluster_name}-kubeconfig"
        obj = self._read(lambda: self.kube.get("secrets", secret, ns),
                         f"no kubeconfig Secret {ns}/{secret} for cluster {cluster_name}: Cluster API writes "
                         f"it (key `{KUBECONFIG_KEY}`) once the control plane is initialized; check "
                         f"`kubectl get cluster {cluster_name} -n {ns}`")
        raw = objects.text(objects.dig(obj, "data", KUBECONFIG_KEY))
        if not raw:
            raise NotFound(f"Secret {ns}/{secret} has no key `{KUBECONFIG_KEY}` (Cluster API stores the "
                           "kubeconfig there)")
        try:
            doc = yaml.safe_load(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError, yaml.YAMLError) as e:  # never echo the content: it has credentials
            raise ToolError(f"Secret {ns}/{secret} key `{KUBECONFIG_KEY}` is not a base64 kubeconfig") from e
        if not isinstance(doc, dict) or not doc.get("clusters"):
            raise ToolError(f"Secret {ns}/{secret} key `{KUBECONFIG_KEY}` is not a kubeconfig (no clusters)")
        return doc

    def _client_from_kubeconfig(self, doc: dict[str, Any], cluster_name: str) -> KubeClient:
        # [capi] candidate for tools/kube/client.py as `KubeClient.from_kubeconfig_dict`: a kubeconfig that
        # arrives as data (a Secret) rather than as a file. Same auth handling as `from_kubeconfig`.
        from kubernetes import config as kconfig
        from kubernetes.config.config_exception import ConfigException

        try:
            api = kconfig.new_client_from_config_dict(doc, persist_config=False)
        except (ConfigException, OSError, TypeError, ValueError) as e:  # data from a Secret, not our config
            raise ToolError(f"the kubeconfig of cluster {cluster_name} cannot be used: "
                            f"{(str(e).splitlines() or [type(e).__name__])[0][:200]}") from e
        return KubeClient(ApiClientTransport(api), settings=self.kube.settings, cluster=cluster_name)

    def forget(self, cluster_name: str) -> None:
        """Drop cached clients of `cluster_name` (after its credentials rotated); the next call rebuilds."""
        with self._lock:
            gone = [k for k in self._clients if k[1] == cluster_name]
            clients = [self._clients.pop(k) for k in gone]
        for c in clients:
            c.close()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    # -- health -----------------------------------------------------------------------------------------
    def health(self, *, probe: bool = True, infos: list[ClusterInfo] | None = None) -> FleetHealth:
        """Each cluster healthy / degraded / unreachable, from its CAPI conditions and, with `probe`, from
        asking its own API server (in parallel) for `/version` and its Nodes."""
        infos = self.clusters() if infos is None else infos
        probes: list[health.Probe | None] = [None] * len(infos)
        if probe and infos:
            with ThreadPoolExecutor(max_workers=min(len(infos), self.kube.settings.concurrency)) as pool:
                probes = list(pool.map(self._probe, infos))
        return FleetHealth(clusters=[health.assess(i, p) for i, p in zip(infos, probes, strict=True)])

    def _probe(self, info: ClusterInfo) -> health.Probe:
        try:
            client = self.workload_client(info.name, info.namespace)
            client.request("GET", "/version", op=Op("get", "version"), timeout_s=self.probe_timeout_s)
            nodes = client.list("nodes")
        except ToolUnavailable as e:
            return health.Probe(reachable=False, error=str(e))
        except ToolError as e:  # no Secret, no permission, a bad kubeconfig: we cannot tell, and say why
            return health.Probe(reachable=None, error=str(e))
        ready = sum(1 for n in nodes if objects.dig(objects.condition(n, "Ready"), "status") == "True")
        try:
            silent, lag = health.silent_leases(client.list("leases", "kube-node-lease"))
        except ToolError:  # heartbeats unreadable (RBAC): CAPI's conditions and the Node counts still tell
            silent, lag = (0, 0), 0.0
        return health.Probe(reachable=True, nodes_ready=(ready, len(nodes)), silent_nodes=silent, silent_for_s=lag)

    # -- global traffic ---------------------------------------------------------------------------------
    def traffic(self, route: str | None = None) -> TrafficSplit:
        """Weights of the global HTTPRoute per workload cluster (`route`: `ns/name`; None: the HTTPRoute
        whose backends reach the most clusters). Mapping of backendRefs to clusters: see `traffic`."""
        known = [c.name for c in self.clusters()]
        lookup = traffic.kube_lookup(self.kube)
        if route:
            ns, _, name = route.rpartition("/")
            obj = self._read(lambda: self.kube.get(HTTPROUTE_KIND, name, ns or self.namespace or "default"),
                             f"no HTTPRoute {route}")
            return traffic.split(obj, known, lookup)
        routes = self._read(lambda: self.kube.list(HTTPROUTE_KIND, self.namespace),
                            "the management cluster does not serve Gateway API HTTPRoutes "
                            "(httproutes.gateway.networking.k8s.io/v1)")
        return traffic.choose([traffic.split(r, known, lookup) for r in routes], known)

    def traffic_weights(self, route: str | None = None) -> dict[str, int]:
        """{workload cluster: weight} of the global traffic object (see `traffic`)."""
        return self.traffic(route).weights


__all__ = ["CLUSTER_KIND", "HTTPROUTE_KIND", "KUBECONFIG_KEY", "MACHINE_DEPLOYMENT_KIND", "ClientFactory",
           "FleetInventory"]

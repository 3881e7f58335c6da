"""What Prophet knows about a Cluster API fleet: typed, compact views of Cluster and MachineDeployment.

Why views rather than raw objects: a v1beta2 Cluster is ~150 lines of YAML, most of it irrelevant to
"is this cluster serving?". These models keep what an SRE (or a model) reads first - phase, provider,
replica counts and the few conditions CAPI summarises health into - and are what tools return as data.
Parsing is tolerant: a missing or wrongly-typed field becomes a default, never an exception.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prophet_sre.tools.kube import objects

CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
KEY_CONDITIONS = ("Available", "RemoteConnectionProbe", "ControlPlaneAvailable", "WorkersAvailable",
                  "InfrastructureReady")
"""The Cluster conditions kept in `ClusterInfo.conditions`, in the order findings cite them: `Available`
summarises the others; the probe says whether the management cluster can reach the workload API at all."""

PROVIDERS = (("AWS", "AWS"), ("GCP", "GCP"), ("Azure", "Azure"), ("Docker", "Docker"), ("VSphere", "vSphere"),
             ("OpenStack", "OpenStack"), ("Metal3", "Metal3"), ("Hetzner", "Hetzner"), ("IBMPowerVS", "IBM"))
"""Infrastructure kind prefix -> provider. CAPI puts no provider label on a Cluster; the kind of
`spec.infrastructureRef` (AWSCluster, AWSManagedCluster, GCPCluster, AzureManagedCluster...) is the signal."""


def provider_of(infra_kind: str) -> str:
    """`AWSCluster` -> `AWS`, `AzureManagedCluster` -> `Azure`; other kinds: the kind without `Cluster`."""
    for prefix, provider in PROVIDERS:
        if infra_kind.startswith(prefix):
            return provider
    return infra_kind.removesuffix("Cluster") or "unknown"


class Condition(BaseModel):
    """One CAPI condition (v1beta2 `metav1.Condition`: no severity)."""

    model_config = ConfigDict(frozen=True)

    type: str
    status: Literal["True", "False", "Unknown"] = "Unknown"
    reason: str = ""
    message: str = ""

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Condition:
        status = objects.text(raw.get("status"))
        return cls(type=objects.text(raw.get("type")),
                   status=status if status in ("True", "False") else "Unknown",
                   reason=objects.text(raw.get("reason")), message=objects.text(raw.get("message")))

    @property
    def ok(self) -> bool:
        return self.status == "True"

    def describe(self) -> str:
        """`Available=False, reason NotAvailable: WorkersAvailable: MachineDeployment gcp-md-0: ...`."""
        text = f"{self.type}={self.status}" + (f", reason {self.reason}" if self.reason else "")
        msg = flatten(self.message)
        return f"{text}: {msg}" if msg else text


def flatten(message: str) -> str:
    """CAPI's nested bullet messages (`* A:\\n  * B: text`) on one line: `A: B: text`; items joined by `; `."""
    out = ""
    for raw in message.splitlines():
        line = raw.strip().removeprefix("* ").strip()
        if not line:
            continue
        out += line if not out else (f" {line}" if out.endswith(":") else f"; {line}")
    return out


class Replicas(BaseModel):
    """Replica counters as CAPI v1beta2 reports them for a control plane, the workers or a MachineDeployment."""

    desired: int = 0
    current: int = 0
    ready: int = 0
    available: int = 0
    up_to_date: int = 0

    @classmethod
    def parse(cls, raw: Any, desired: Any = None) -> Replicas:
        m = objects.mapping(raw)
        return cls(desired=objects.num(m.get("desiredReplicas") if desired is None else desired),
                   current=objects.num(m.get("replicas")), ready=objects.num(m.get("readyReplicas")),
                   available=objects.num(m.get("availableReplicas")),
                   up_to_date=objects.num(m.get("upToDateReplicas")))

    def describe(self) -> str:
        return f"{self.available}/{self.desired} available, {self.ready} ready"


class MachineDeploymentInfo(BaseModel):
    name: str
    namespace: str
    cluster: str
    phase: str = ""
    """ScalingUp, ScalingDown, Running, Failed or Unknown."""
    replicas: Replicas = Field(default_factory=Replicas)
    available: Condition | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> MachineDeploymentInfo:
        spec, status = objects.mapping(obj.get("spec")), objects.mapping(obj.get("status"))
        cond = objects.condition(obj, "Available")
        cluster = objects.text(spec.get("clusterName")) or objects.labels(obj).get(CLUSTER_NAME_LABEL, "")
        return cls(name=objects.name(obj), namespace=objects.namespace(obj), cluster=cluster,
                   phase=objects.text(status.get("phase")),
                   replicas=Replicas.parse(status, spec.get("replicas")),
                   available=Condition.parse(cond) if cond else None)

    @property
    def ok(self) -> bool:
        if self.available is not None:
            return self.available.ok
        return self.replicas.available >= self.replicas.desired


class ClusterInfo(BaseModel):
    """One workload cluster as its management cluster describes it."""

    name: str
    namespace: str
    phase: str = ""
    """Pending, Provisioning, Provisioned, Deleting, Failed or Unknown."""
    provider: str = "unknown"
    infrastructure_kind: str = ""
    version: str = ""
    paused: bool = False
    control_plane: Replicas = Field(default_factory=Replicas)
    workers: Replicas = Field(default_factory=Replicas)
    conditions: dict[str, Condition] = Field(default_factory=dict)
    """The `KEY_CONDITIONS` the Cluster reports (absent ones are left out)."""
    machine_deployments: list[MachineDeploymentInfo] = Field(default_factory=list)

    @classmethod
    def parse(cls, obj: dict[str, Any], mds: list[MachineDeploymentInfo] | None = None) -> ClusterInfo:
        spec, status = objects.mapping(obj.get("spec")), objects.mapping(obj.get("status"))
        infra_kind = objects.text(objects.dig(spec, "infrastructureRef", "kind"))
        conds = {t: Condition.parse(c) for t in KEY_CONDITIONS if (c := objects.condition(obj, t))}
        return cls(name=objects.name(obj), namespace=objects.namespace(obj),
                   phase=objects.text(status.get("phase")),
                   provider=provider_of(infra_kind), infrastructure_kind=infra_kind,
                   version=objects.text(objects.dig(spec, "topology", "version")),
                   paused=spec.get("paused") is True,
                   control_plane=Replicas.parse(status.get("controlPlane")),
                   workers=Replicas.parse(status.get("workers")), conditions=conds,
                   machine_deployments=sorted(mds or [], key=lambda m: m.name))

    @property
    def available(self) -> bool | None:
        """The `Available` condition (None when the Cluster does not report one yet)."""
        c = self.conditions.get("Available")
        return None if c is None else c.ok

    def failing(self) -> list[Condition]:
        """Key conditions that are not True, `Available` first."""
        return [c for c in self.conditions.values() if not c.ok]


HealthState = Literal["healthy", "degraded", "unreachable"]


class ClusterHealth(BaseModel):
    name: str
    namespace: str
    provider: str
    state: HealthState
    problems: list[str] = Field(default_factory=list)
    """What is wrong, one sentence each (`Cluster gcp has condition Available=False, ...`): finding errors."""
    evidence: list[str] = Field(default_factory=list)
    """Why, in CAPI's and the API server's own words (condition texts, replica counts, probe results)."""
    failing: list[Condition] = Field(default_factory=list)
    nodes_ready: tuple[int, int] | None = None
    """(ready, total) Nodes seen through the workload cluster's own API; None when not probed or unreachable."""


class FleetHealth(BaseModel):
    clusters: list[ClusterHealth] = Field(default_factory=list)

    def get(self, name: str) -> ClusterHealth | None:
        return next((c for c in self.clusters if c.name == name), None)

    @property
    def unhealthy(self) -> list[ClusterHealth]:
        return [c for c in self.clusters if c.state != "healthy"]

    def summary(self) -> str:
        """A few lines for a model or a terminal: one per cluster, with its evidence when not healthy."""
        lines = []
        for c in self.clusters:
            nodes = f", nodes {c.nodes_ready[0]}/{c.nodes_ready[1]} Ready" if c.nodes_ready else ""
            lines.append(f"{c.name} ({c.provider}): {c.state}{nodes}")
            lines += [f"  - {e}" for e in c.evidence] if c.state != "healthy" else []
        return "\n".join(lines) or "no workload clusters"


class TrafficSplit(BaseModel):
    """The global traffic object's weights per workload cluster."""

    route: str
    """`namespace/name` of the HTTPRoute."""
    weights: dict[str, int] = Field(default_factory=dict)
    unmapped: list[str] = Field(default_factory=list)
    """backendRef names that end in no known cluster's `-<name>` (their weight is not in `weights`)."""

    @property
    def shares(self) -> dict[str, float]:
        total = sum(self.weights.values())
        return {k: (v / total if total else 0.0) for k, v in self.weights.items()}


__all__ = ["KEY_CONDITIONS", "ClusterHealth", "ClusterInfo", "Condition", "FleetHealth", "HealthState",
           "MachineDeploymentInfo", "Replicas", "TrafficSplit", "flatten", "provider_of"]

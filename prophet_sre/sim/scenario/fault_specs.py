"""The `faults:` entries of a scenario: when (`at`, `duration`) and exactly one kind key saying what.

Each kind has its own strict model, so a typo in a kind's field is reported with the kind's own list
of fields (`faults[1].rollout.imgae: unknown field; known fields: container, image, target`). The
same models parse runtime injections (`POST /sim/v1/faults`, `prophet sim inject`), which is why
`at` defaults to zero here and the scenario loader insists on it separately.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from prophet_sre.sim.scenario.refs import LABEL_RE, Ref, parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written as `30s`, `2m`, `1m30s` (or a number of seconds)."""

KIND_ALIASES: dict[str, frozenset[str]] = {
    "deployment": frozenset({"deployment", "deployments", "deploy"}),
    "statefulset": frozenset({"statefulset", "statefulsets", "sts"}),
    "daemonset": frozenset({"daemonset", "daemonsets", "ds"}),
    "replicaset": frozenset({"replicaset", "replicasets", "rs"}),
    "pod": frozenset({"pod", "pods", "po"}),
    "node": frozenset({"node", "nodes", "no"}),
    "configmap": frozenset({"configmap", "configmaps", "cm"}),
    "secret": frozenset({"secret", "secrets"}),
}
"""The spellings kubectl accepts for the kinds a fault restricts its target to."""
WORKLOADS = ("deployment", "statefulset", "daemonset")
SCALABLE = ("deployment", "statefulset", "replicaset")
POD_OR_WORKLOAD = ("pod", "deployment", "statefulset", "daemonset", "replicaset")


class Spec(BaseModel):
    """Base of every scenario model: unknown fields are errors, values are immutable once parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def canonical_kind(kind: str) -> str:
    """`deploy` -> `deployment` for the kinds faults care about; other kinds unchanged."""
    return next((k for k, names in KIND_ALIASES.items() if kind in names), kind)


def _kind_in(ref: Ref, allowed: tuple[str, ...]) -> Ref:
    if canonical_kind(ref.kind) not in allowed:
        raise ValueError(f"must name one of these kinds: {', '.join(allowed)} (got {ref.kind!r} in {str(ref)!r})")
    return ref


def _node_name(value: Any) -> Any:
    """`worker-2` or `/node/worker-2` (optionally `CLUSTER:/node/worker-2`) -> a node Ref."""
    if isinstance(value, str) and "/" not in value:
        cluster, sep, name = value.rpartition(":")
        return Ref.parse(f"{cluster}{sep}/node/{name}")
    return value


def _node_ref(ref: Ref) -> Ref:
    if canonical_kind(ref.kind) != "node" or ref.namespace:
        raise ValueError(f"expected a node name (worker-2) or /node/NAME, got {str(ref)!r}")
    return ref


NodeRef = Annotated[Ref, BeforeValidator(_node_name)]


class RolloutFault(Spec):
    """A new image for a workload: the Deployment controller rolls out a new ReplicaSet."""

    target: Ref
    image: str = Field(min_length=1)
    container: str | None = None
    """Which container (default: the first)."""

    @field_validator("target")
    @classmethod
    def _workload(cls, v: Ref) -> Ref:
        return _kind_in(v, WORKLOADS)


class NodeDownFault(Spec):
    """The node's kubelet stops (it stops heartbeating; the node goes NotReady)."""

    node: NodeRef

    @field_validator("node")
    @classmethod
    def _node(cls, v: Ref) -> Ref:
        return _node_ref(v)


class NodePressureFault(Spec):
    """The kubelet reports a resource under pressure (and starts refusing or evicting pods)."""

    node: NodeRef
    type: Literal["memory", "disk", "pid"]

    @field_validator("node")
    @classmethod
    def _node(cls, v: Ref) -> Ref:
        return _node_ref(v)


class DeleteFault(Spec):
    """Someone deletes an object (a pod, a Service, a ConfigMap, a Node...)."""

    target: Ref


class PatchFault(Spec):
    """Someone patches an object: `strategic` (kubectl's default), `merge`, or `json` (RFC 6902 list)."""

    target: Ref
    patch: dict[str, Any] | list[dict[str, Any]]
    type: Literal["strategic", "merge", "json"] = "strategic"

    @model_validator(mode="after")
    def _shape(self) -> PatchFault:
        if self.type == "json" and not isinstance(self.patch, list):
            raise ValueError("a json patch is a list of operations ({op, path, value})")
        if self.type != "json" and not isinstance(self.patch, dict):
            raise ValueError(f"a {self.type} patch is a mapping (use type: json for a list of operations)")
        return self


class ScaleFault(Spec):
    """Someone scales a workload (to zero, say)."""

    target: Ref
    replicas: int = Field(ge=0)

    @field_validator("target")
    @classmethod
    def _scalable(cls, v: Ref) -> Ref:
        return _kind_in(v, SCALABLE)


class ImageMissingFault(Spec):
    """An image tag disappears from its registry: new pulls fail with ErrImagePull."""

    image: str = Field(min_length=1)


class ConfigRemoveFault(Spec):
    """A ConfigMap is deleted, or only one of its keys."""

    target: Ref
    key: str | None = None

    @field_validator("target")
    @classmethod
    def _configmap(cls, v: Ref) -> Ref:
        return _kind_in(v, ("configmap",))


class SecretRemoveFault(Spec):
    """A Secret is deleted, or only one of its keys."""

    target: Ref
    key: str | None = None

    @field_validator("target")
    @classmethod
    def _secret(cls, v: Ref) -> Ref:
        return _kind_in(v, ("secret",))


class NetworkFloodFault(Spec):
    """East-west traffic from a (compromised) pod or workload: connection attempts to many peers and ports."""

    source: Ref
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    """Ports probed (default: the traffic model's port-scan list)."""
    peers: int | None = Field(default=None, ge=1)
    """How many distinct peer pods are contacted (default: the traffic model's, 20)."""
    rate: float | None = Field(default=None, gt=0)
    """Connection attempts per sim second (default: the traffic model's, 200)."""

    @field_validator("source")
    @classmethod
    def _pod_or_workload(cls, v: Ref) -> Ref:
        return _kind_in(v, POD_OR_WORKLOAD)


class DnsFailureFault(Spec):
    """DNS answers fail (for one workload's lookups, or cluster-wide without a target)."""

    target: Ref | None = None
    rcode: Literal["SERVFAIL", "NXDOMAIN", "REFUSED"] = "SERVFAIL"


class LatencyFault(Spec):
    """A workload or Service answers slower by `ms` milliseconds."""

    target: Ref
    ms: float = Field(gt=0)


class PoolExhaustionFault(Spec):
    """A workload's connection pool (to its database, say) is exhausted: requests queue, latency grows."""

    target: Ref
    pool_size: int | None = Field(default=None, ge=1)


class ErrorRateFault(Spec):
    """Extension: a share of the requests a workload or Service answers fail with `code`."""

    target: Ref
    share: float = Field(gt=0, le=1)
    code: int = Field(default=500, ge=400, le=599)


class ClusterDegradedFault(Spec):
    """A whole cluster of a fleet degrades (its API and workloads slow down and fail)."""

    cluster: str = Field(min_length=1)
    latency_ms: float | None = Field(default=None, gt=0)
    """Extension: added to every request the cluster's workloads serve (default: the traffic model's)."""
    error_share: float | None = Field(default=None, ge=0, le=1)
    """Extension: share of those requests that fail with 503 (default: the traffic model's)."""

    @field_validator("cluster")
    @classmethod
    def _label(cls, v: str) -> str:
        if not LABEL_RE.match(v):
            raise ValueError(f"cluster name {v!r} is not a DNS label")
        return v


FAULT_KINDS: dict[str, type[Spec]] = {
    "rollout": RolloutFault, "node_down": NodeDownFault, "node_pressure": NodePressureFault,
    "delete": DeleteFault, "patch": PatchFault, "scale": ScaleFault, "image_missing": ImageMissingFault,
    "config_remove": ConfigRemoveFault, "secret_remove": SecretRemoveFault,
    "network_flood": NetworkFloodFault, "dns_failure": DnsFailureFault, "latency": LatencyFault,
    "pool_exhaustion": PoolExhaustionFault, "cluster_degraded": ClusterDegradedFault,
    "error_rate": ErrorRateFault,
}
"""Kind key -> its model; the order is the order the docs list them in."""

LASTING_KINDS = frozenset({"node_down", "node_pressure", "image_missing", "network_flood", "dns_failure",
                           "latency", "pool_exhaustion", "cluster_degraded", "error_rate"})
"""Kinds that last until removed, so `duration` means something (an API write has no duration)."""


class Fault(Spec):
    """One fault: `at` sim time after the scenario starts, exactly one kind key, optional `duration`."""

    at: Duration = 0.0
    duration: Duration | None = None
    """How long the fault lasts (only for kinds that last: LASTING_KINDS)."""
    cluster: str | None = None
    """Which cluster (default: the target's `CLUSTER:` prefix, else the scenario's first cluster)."""
    rollout: RolloutFault | None = None
    node_down: NodeDownFault | None = None
    node_pressure: NodePressureFault | None = None
    delete: DeleteFault | None = None
    patch: PatchFault | None = None
    scale: ScaleFault | None = None
    image_missing: ImageMissingFault | None = None
    config_remove: ConfigRemoveFault | None = None
    secret_remove: SecretRemoveFault | None = None
    network_flood: NetworkFloodFault | None = None
    dns_failure: DnsFailureFault | None = None
    latency: LatencyFault | None = None
    pool_exhaustion: PoolExhaustionFault | None = None
    cluster_degraded: ClusterDegradedFault | None = None
    error_rate: ErrorRateFault | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Fault:
        given = [k for k in FAULT_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"a fault needs exactly one kind key (found {found}); allowed: "
                             + ", ".join(FAULT_KINDS))
        if self.duration is not None and given[0] not in LASTING_KINDS:
            raise ValueError(f"duration is not allowed for {given[0]} (an API write does not wear off); "
                             "allowed for: " + ", ".join(k for k in FAULT_KINDS if k in LASTING_KINDS))
        if self.cluster is not None and not LABEL_RE.match(self.cluster):
            raise ValueError(f"cluster name {self.cluster!r} is not a DNS label")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in FAULT_KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> Spec:
        return getattr(self, self.kind)  # type: ignore[no-any-return]

    def refs(self) -> list[tuple[str, Ref]]:
        """(field path under the fault, ref) of every object this fault names."""
        spec = self.spec
        out: list[tuple[str, Ref]] = []
        for name in ("target", "node", "source"):
            value = getattr(spec, name, None)
            if isinstance(value, Ref):
                out.append((f"{self.kind}.{name}", value))
        return out

    def image(self) -> str | None:
        """The image this fault names (rollout, image_missing), for the catalog check."""
        return getattr(self.spec, "image", None)

    def target_cluster(self) -> str:
        """The cluster named by the fault itself ("" = the scenario's default)."""
        if self.cluster:
            return self.cluster
        if isinstance(self.spec, ClusterDegradedFault):
            return self.spec.cluster
        return next((r.cluster for _, r in self.refs() if r.cluster), "")

    def summary(self) -> str:
        """One line for logs and `prophet sim status`: `rollout shop/deployment/backend image=shop/backend:2.3`."""
        data = self.spec.model_dump(mode="json", exclude_none=True)
        head = next((str(data.pop(k)) for k in ("target", "node", "source", "image", "cluster") if k in data), "")
        rest = " ".join(f"{k}={v}" for k, v in data.items())
        return " ".join(x for x in (self.kind, head, rest) if x)


__all__ = ["FAULT_KINDS", "KIND_ALIASES", "LASTING_KINDS", "Duration", "Fault", "Spec", "canonical_kind"]

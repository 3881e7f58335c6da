"""The patch metadata of the built-in kinds: which lists merge, and on which key.

Strategic merge patch and server-side apply cannot be done from the JSON alone: whether a list is
merged item by item or replaced, and which field identifies an item, is declared per field in the Go
types (`patchStrategy:"merge" patchMergeKey:"name"`, `+listType=map`, `+structType=atomic`). The same
field name means different things in different places - container `ports` merge on `containerPort`,
Service `spec.ports` on `port` - so the table is typed: a `TypeSpec` per Go struct we care about, with a
`FieldSpec` per special field, nested exactly like the objects. Fields not listed behave as plain
maps (merged key by key) or atomic lists (replaced).

The values mirror k8s.io/api 1.3x. `resizePolicy` is deliberately absent: it is `+listType=atomic`
upstream, so patches replace it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from types import MappingProxyType

__all__ = [
    "FieldSpec",
    "TypeSpec",
    "EMPTY",
    "OBJECT_META",
    "CONTAINER",
    "POD_SPEC",
    "POD_TEMPLATE",
    "patch_meta_for",
    "patch_annotations",
    "known_kinds",
]


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """The special fields of one object type; every other field is a plain value or map."""

    fields: Mapping[str, FieldSpec] = dc_field(default_factory=lambda: MappingProxyType({}))

    def field(self, name: str) -> FieldSpec | None:
        return self.fields.get(name)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one field patches.

    strategy   "merge" for lists merged item by item (with `merge_key`) or unioned (primitives, no key);
               "" for maps (merged key by key) and for atomic lists (replaced).
    merge_key  the key identifying list items (`patchMergeKey`), None for primitive lists.
    retain_keys  the field also carries the `retainKeys` strategy (`$retainKeys` is expected there).
    atomic     server-side apply owns the value as a whole (`+structType=atomic`, `+mapType=atomic`).
    spec       the type of the value (a map) or of each item (a list), for nested special fields.
    """

    strategy: str = ""
    merge_key: str | None = None
    retain_keys: bool = False
    atomic: bool = False
    spec: TypeSpec | None = None

    @property
    def is_merge_list(self) -> bool:
        return self.strategy == "merge"

    @property
    def item(self) -> TypeSpec:
        return self.spec or EMPTY


def _t(**fields: FieldSpec) -> TypeSpec:
    return TypeSpec(MappingProxyType(dict(fields)))


def _keyed(key: str, item: TypeSpec | None = None, *, retain: bool = False) -> FieldSpec:
    return FieldSpec(strategy="merge", merge_key=key, retain_keys=retain, spec=item)


def _struct(spec: TypeSpec, *, retain: bool = False) -> FieldSpec:
    return FieldSpec(retain_keys=retain, spec=spec)


EMPTY = TypeSpec()
_SET = FieldSpec(strategy="merge")  # list of primitives with strategy merge: union
_ATOMIC = FieldSpec(atomic=True)
_CONDITIONS = _keyed("type")

OBJECT_META = _t(finalizers=_SET, ownerReferences=_keyed("uid"))
CONTAINER = _t(
    env=_keyed("name"),
    ports=_keyed("containerPort"),
    volumeMounts=_keyed("mountPath"),
    volumeDevices=_keyed("devicePath"),
)
POD_SPEC = _t(
    containers=_keyed("name", CONTAINER),
    initContainers=_keyed("name", CONTAINER),
    ephemeralContainers=_keyed("name", CONTAINER),
    volumes=_keyed("name", retain=True),
    imagePullSecrets=_keyed("name"),
    hostAliases=_keyed("ip"),
    topologySpreadConstraints=_keyed("topologyKey"),
    resourceClaims=_keyed("name", retain=True),
    schedulingGates=_keyed("name"),
    nodeSelector=_ATOMIC,
)
POD_STATUS = _t(
    conditions=_CONDITIONS,
    podIPs=_keyed("ip"),
    hostIPs=_keyed("ip"),
    resourceClaimStatuses=_keyed("name", retain=True),
)
POD_TEMPLATE = _t(metadata=_struct(OBJECT_META), spec=_struct(POD_SPEC))
_CONDITIONS_STATUS = _t(conditions=_CONDITIONS)


def _root(spec: TypeSpec | None = None, status: TypeSpec = _CONDITIONS_STATUS, **extra: FieldSpec) -> TypeSpec:
    fields = {"metadata": _struct(OBJECT_META), "status": _struct(status), **extra}
    if spec is not None:
        fields["spec"] = _struct(spec)
    return _t(**fields)


def _workload(**extra: FieldSpec) -> TypeSpec:
    # LabelSelector is +structType=atomic, which is why `f:selector: {}` shows in managedFields.
    return _t(template=_struct(POD_TEMPLATE), selector=_ATOMIC, **extra)


_JOB_SPEC = _workload()
_KINDS: dict[str, TypeSpec] = {
    "Pod": _root(POD_SPEC, POD_STATUS),
    "PodTemplate": _root(template=_struct(POD_TEMPLATE)),
    "Deployment": _root(_workload(strategy=FieldSpec(retain_keys=True))),
    "ReplicaSet": _root(_workload()),
    "StatefulSet": _root(_workload()),
    "DaemonSet": _root(_workload()),
    "Job": _root(_JOB_SPEC),
    "ReplicationController": _root(_t(template=_struct(POD_TEMPLATE))),
    "CronJob": _root(_t(jobTemplate=_struct(_t(metadata=_struct(OBJECT_META), spec=_struct(_JOB_SPEC))))),
    "Service": _root(_t(ports=_keyed("port"), selector=_ATOMIC)),
    "Node": _root(_t(podCIDRs=_SET), _t(conditions=_CONDITIONS, addresses=_keyed("type"))),
    "Namespace": _root(),
    "PersistentVolumeClaim": _root(),
    "HorizontalPodAutoscaler": _root(),
    "ServiceAccount": _root(secrets=_keyed("name")),
}
_DEFAULT = _root()


def patch_meta_for(kind: str) -> TypeSpec:
    """The root TypeSpec of a kind; unknown kinds get `metadata` and `status.conditions` only."""
    return _KINDS.get(kind, _DEFAULT)


def known_kinds() -> tuple[str, ...]:
    """Kinds with a table of their own (all others use the generic one)."""
    return tuple(_KINDS)


def _walk(spec: TypeSpec, prefix: str) -> Iterator[tuple[str, FieldSpec]]:
    for name, fs in spec.fields.items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, fs
        if fs.spec is not None:
            yield from _walk(fs.spec, path)


def patch_annotations(kind: str) -> dict[str, tuple[str, str | None]]:
    """`x-kubernetes-patch-strategy` / `-merge-key` per dotted path of a kind, for OpenAPI.

    Paths step through list items without an index: `spec.template.spec.containers.ports` is the
    `ports` field of every container. Values are ("merge", key), ("merge", None) for primitive merge
    lists, ("merge,retainKeys", key) and ("retainKeys", None) as upstream spells them.
    """
    out: dict[str, tuple[str, str | None]] = {}
    for path, fs in _walk(patch_meta_for(kind), ""):
        strategy = ",".join(s for s in (fs.strategy, "retainKeys" if fs.retain_keys else "") if s)
        if strategy:
            out[path] = (strategy, fs.merge_key)
    return out

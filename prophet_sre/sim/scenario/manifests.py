"""Setup manifests: read, parse and admit every document *before* anything is created.

A scenario's `setup` is applied all-or-nothing, so every document is checked up front exactly as the
API server would check it on create - type known (built-in, or defined by a CRD earlier in setup or in
the cluster), defaulting plus validation, unknown fields rejected as `kubectl apply`'s strict field
validation does - on a private copy of the type registry. A problem names the setup entry, the document
index and the object, with the API server's own message.

The result is an `Inventory` per cluster: what exists once setup is applied (setup objects plus the
built-in or live ones), which the reference checks and the applier both use.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from prophet_sre.errors import InvalidInput
from prophet_sre.sim import defaults, validation
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.scenario.models import Scenario
from prophet_sre.sim.scenario.problems import join_path, problem
from prophet_sre.sim.store import Store

Obj = dict[str, Any]
ObjKey = tuple[str, str, str, str]  # (group, plural, namespace, name)
CRD_KIND = ("apiextensions.k8s.io", "CustomResourceDefinition")
MAX_HINTS = 12
"""How many names an error lists as "what is allowed" before it says "...": enough to spot a typo."""


class Existing(Protocol):
    """The objects that exist before setup: a fresh cluster's built-ins, or a live cluster's store."""

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj | None: ...

    def names(self, rt: ResourceType) -> list[str]: ...


def _label_of(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


class LiveObjects:
    """`Existing` over a running cluster's store (for scenarios loaded into it and runtime faults)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        return self.store.try_get(rt, namespace, name)

    def names(self, rt: ResourceType) -> list[str]:
        objs = self.store.objects(rt)
        return sorted(_label_of(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objs)


@dataclass(frozen=True)
class Manifest:
    """One setup document, parsed and admitted (statically), ready to create."""

    cluster: str
    obj: Obj
    rt: ResourceType
    path: str
    """Field path of its setup entry: `setup[0].file`, `setup[1].inline`."""
    origin: str
    """`manifests/shop.yaml` or `inline`."""
    index: str
    """Document index in its entry (`3`, or `3.items[1]` inside a v1 List)."""

    @property
    def label(self) -> str:
        m = self.obj.get("metadata") or {}
        name = f"{m['namespace']}/{m.get('name', '')}" if m.get("namespace") else m.get("name", "")
        return f"document {self.index} ({self.rt.kind} {name})"


@dataclass
class Inventory:
    """What one cluster holds once setup is applied; used to resolve and check references."""

    cluster: str
    registry: Registry
    existing: Existing
    """Objects there before setup: the built-ins of a fresh cluster, or the live store when applying."""
    setup: dict[ObjKey, Obj] = field(default_factory=dict)

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        storage = self.registry.storage_type(rt.group, rt.plural) or rt
        obj = self.setup.get((storage.group, storage.plural, namespace, name))
        return obj if obj is not None else self.existing.get(storage, namespace, name)

    def hint(self, rt: ResourceType) -> str:
        """The names that *would* be valid for a type: setup's and the cluster's, for error messages."""
        storage = self.registry.storage_type(rt.group, rt.plural) or rt
        names = sorted({_label_of(k[2], k[3]) for k in self.setup if k[:2] == (storage.group, storage.plural)}
                       | set(self.existing.names(storage)))
        if not names:
            return f"neither setup nor the cluster has any {storage.plural}"
        shown = ", ".join(names[:MAX_HINTS]) + (", ..." if len(names) > MAX_HINTS else "")
        return f"known {storage.plural}: {shown}"

    def has_namespace(self, namespace: str) -> bool:
        ns_rt = self.registry.get("", "v1", "namespaces")
        assert ns_rt is not None
        return self.get(ns_rt, "", namespace) is not None


def fresh_inventory(cluster: str, workers: int = 2) -> Inventory:
    """The inventory of a freshly started simulated cluster (what `validate_file` checks against).

    A real `SimCluster` is bootstrapped (no server, no controllers) and read, so whatever a fresh cluster
    holds - nodes, system namespaces, CoreDNS, RBAC, CRDs the simulator installs - counts as built in.
    """
    from prophet_sre.sim.cluster import ClusterOptions, SimCluster  # the cluster module imports this package

    sim = SimCluster(ClusterOptions(name=cluster, port=6443, workers=workers, tls=False, controllers=False))
    sim.bootstrap()
    return Inventory(cluster, sim.registry, LiveObjects(sim.store))


def fresh_inventories(names: list[str], workers: int = 2) -> dict[str, Inventory]:
    """Inventories of freshly started clusters: one cluster, or a fleet (`names[0]` manages the others).

    A fleet's management cluster starts with Cluster API and Gateway objects of its own (namespace
    `fleet`), which fleet scenarios refer to; so the fleet is assembled in-process (no servers, no
    controllers) and read, rather than imitated here.
    """
    if len(names) == 1:
        return {names[0]: fresh_inventory(names[0], workers)}
    try:
        from prophet_sre.sim.fleet import SimFleet
    except ImportError:  # pragma: no cover - a build without the fleet: plain clusters
        return {n: fresh_inventory(n, workers) for n in names}
    fleet = SimFleet(names, workers=workers, tls=False, controllers=False).setup()
    fleet.stop()  # nothing was served: this only frees the ports `setup` reserved; the stores stay readable
    return {n: live_inventory(n, c.registry, c.store) for n, c in fleet.clusters.items()}


def live_inventory(cluster: str, registry: Registry, store: Store) -> Inventory:
    """The inventory of a running cluster; its registry is copied so setup CRDs stay hypothetical."""
    return Inventory(cluster, Registry(list(registry)), LiveObjects(store))


def read_documents(scenario: Scenario, base_dir: Path, source: str,
                   errors: list[InvalidInput]) -> list[tuple[int, str, str, Obj]]:
    """(setup index, origin, doc index, raw object) for every document; YAML problems go to `errors`."""
    out: list[tuple[int, str, str, Obj]] = []
    for i, item in enumerate(scenario.setup):
        path = join_path("setup", i, "file" if item.file is not None else "inline")
        if item.file is not None:
            origin = item.file
            try:
                text = (base_dir / item.file).read_text()
            except OSError as e:
                errors.append(problem(source, path, f"cannot read {item.file} (relative to the scenario file): "
                                                    f"{e.strerror or e}"))
                continue
        else:
            origin, text = "inline", item.inline or ""
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            errors.append(problem(source, path, f"{origin} is not valid YAML: {e}".replace("\n", " ")))
            continue
        for d, doc in enumerate(docs):
            if doc is None:
                continue
            if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
                out += [(i, origin, f"{d}.items[{j}]", item_) for j, item_ in enumerate(doc["items"])]
            else:
                out.append((i, origin, str(d), doc))
    return out


def _admit(rt: ResourceType, obj: Obj) -> str | None:
    """The API server's message if it would refuse to create `obj`, else None."""
    strict = validation.strict_decoding_status(rt, obj)
    if strict is not None:
        return str(strict["message"])
    trial = copy.deepcopy(obj)
    defaults.apply_defaults(rt, trial, old=None)
    errs = validation.validate(rt, trial, None)
    if not errs:
        return None
    bad = validation.decode_error_status(rt, errs)
    status = bad if bad is not None else validation.invalid_status(rt, (obj.get("metadata") or {}).get("name", ""),
                                                                   errs)
    return str(status["message"])


def parse_manifests(scenario: Scenario, base_dir: Path, source: str, inventories: dict[str, Inventory],
                    errors: list[InvalidInput]) -> list[Manifest]:
    """Every setup document, typed and admitted; registers setup CRDs in the inventories' registries."""
    raw = read_documents(scenario, base_dir, source, errors)
    # CRDs first, so custom resources anywhere in setup resolve (the applier creates them first too).
    ordered = sorted(raw, key=lambda r: 0 if _is_crd(r[3]) else 1)
    out: list[Manifest] = []
    for i, origin, index, doc in ordered:
        item = scenario.setup[i]
        path = join_path("setup", i, "file" if item.file is not None else "inline")
        clusters = item.clusters or [scenario.default_cluster]
        for cluster in clusters:
            inv = inventories.get(cluster)
            if inv is None:
                errors.append(problem(source, join_path("setup", i, "clusters"),
                                      f"cluster {cluster!r} is not in clusters; allowed: {', '.join(inventories)}"))
                continue
            manifest = _one(inv, doc, path, origin, index, source, errors)
            if manifest is not None:
                out.append(manifest)
    _check_namespaces(out, inventories, source, errors)
    return out


def _is_crd(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition" and \
        str(doc.get("apiVersion", "")).startswith("apiextensions.k8s.io/")


def _one(inv: Inventory, doc: Any, path: str, origin: str, index: str, source: str,
         errors: list[InvalidInput]) -> Manifest | None:
    where = f"{origin} document {index}"
    if not isinstance(doc, dict):
        errors.append(problem(source, path, f"{where}: expected a Kubernetes object (a mapping), "
                                            f"got {type(doc).__name__}"))
        return None
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        errors.append(problem(source, path, f"{where}: apiVersion and kind are required"))
        return None
    rt = inv.registry.by_kind(api_version, kind)
    if rt is None:
        errors.append(problem(source, path, f"{where}: no kind {kind!r} in version {api_version!r} (not built in, "
                                            "and no CustomResourceDefinition in setup or the cluster defines it)"))
        return None
    obj = copy.deepcopy(doc)
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        errors.append(problem(source, path, f"{where}: metadata must be a mapping"))
        return None
    if rt.namespaced:
        meta.setdefault("namespace", "default")
    else:
        meta.pop("namespace", None)
    manifest = Manifest(inv.cluster, obj, rt, path, origin, index)
    message = _admit(rt, obj)
    if message is not None:
        errors.append(problem(source, path, f"{origin} {manifest.label}: {message}"))
        return None
    if not meta.get("name"):
        return manifest  # generateName: created, but nothing can refer to it
    key = (rt.group, rt.plural, meta.get("namespace", ""), meta["name"])
    if key in inv.setup:
        errors.append(problem(source, path, f"{origin} {manifest.label}: defined twice in setup"))
        return None
    if inv.existing.get(rt, key[2], key[3]) is not None:
        errors.append(problem(source, path, f"{origin} {manifest.label}: already exists in cluster {inv.cluster!r}"))
        return None
    inv.setup[key] = obj
    if (rt.group, rt.kind) == CRD_KIND:
        inv.registry.add_crd(obj)
    return manifest


def _check_namespaces(manifests: Iterable[Manifest], inventories: dict[str, Inventory], source: str,
                      errors: list[InvalidInput]) -> None:
    for m in manifests:
        ns = (m.obj.get("metadata") or {}).get("namespace")
        if ns and not inventories[m.cluster].has_namespace(ns):
            errors.append(problem(source, m.path, f"{m.origin} {m.label}: namespace {ns!r} is neither created by "
                                                  "setup nor present in the cluster (add a Namespace document)"))


def creation_order(manifests: list[Manifest]) -> list[Manifest]:
    """Namespaces, then CRDs, then everything else in file order (kubectl apply -f's habit)."""
    def rank(m: Manifest) -> int:
        return {"Namespace": 0, "CustomResourceDefinition": 1}.get(m.rt.kind, 2)

    return sorted(manifests, key=rank)


__all__ = ["Existing", "Inventory", "LiveObjects", "Manifest", "creation_order", "fresh_inventories",
           "fresh_inventory", "live_inventory", "parse_manifests"]

"""Applying a scenario to running simulated clusters: setup, images, traffic, faults - or nothing.

The scenario is validated again against the *live* clusters (an object it creates may already exist;
a CRD it relies on may have been installed), then setup objects are created through each cluster's
store - admission runs exactly as for `kubectl create` - Namespaces and CRDs first. If any creation is
refused, every object created so far is removed again and the error names the manifest document, so
a failed load leaves the clusters as they were. Only then are images merged, traffic loaded and
faults scheduled (`at` counts from this moment).

Call it on the cluster's loop thread when the cluster runs (`SimCluster.call_in_loop`), or before it
starts: controllers must not observe a half-applied setup that is about to be rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prophet_sre.errors import InvalidInput, SimError
from prophet_sre.sim import status as st
from prophet_sre.sim.scenario.loader import Prepared, parse_document, prepare, read_text
from prophet_sre.sim.scenario.manifests import Inventory, Manifest, creation_order, live_inventory
from prophet_sre.sim.scenario.problems import ScenarioInvalid
from prophet_sre.sim.scenario.refs import Ref

if TYPE_CHECKING:
    from prophet_sre.sim.cluster import SimCluster

SCENARIO_IMAGES = "scenario_images"
"""extras key for merged `images:` when no behaviour catalog is registered (`extras["catalog"]`)."""
SCENARIO_TRAFFIC = "scenario_traffic"
"""extras key for the parsed `traffic:` edges when no traffic model is registered (`extras["traffic"]`)."""


@dataclass
class Loaded:
    """A scenario applied to one cluster: what the control API and `prophet sim status` report."""

    id: str
    title: str
    source: str
    loaded_s: float
    objects: int
    fault_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "source": self.source, "loadedSeconds": round(self.loaded_s, 3),
                "objects": self.objects, "faults": list(self.fault_ids)}


def _behaviour(cluster: SimCluster, *, install: bool = False) -> Any:
    """The behaviour runtime (`extras["behaviour"]`: `catalog`, `merge_images`), if installed.

    With `install`, a cluster that has no container runtime yet gets the behaviour runtime: a scenario's
    `images:` only mean something to it. A runtime already running pods is never replaced.
    """
    extras = cluster.controller_ctx.extras
    b = extras.get("behaviour")
    if b is None and install and "container_runtime" not in extras:
        try:
            from prophet_sre.sim.behaviour import install as install_behaviour
        except ImportError:
            return None
        b = install_behaviour(cluster)
    return b if b is not None and hasattr(b, "merge_images") else None


def catalog_of(cluster: SimCluster) -> Any:
    """The image catalog the cluster's pods are started from (None: the built-in one applies)."""
    b = _behaviour(cluster)
    return b.catalog if b is not None else cluster.controller_ctx.extras.get("catalog")


def prepare_for(clusters: Mapping[str, SimCluster], text: str, *, source: str, base_dir: Path) -> Prepared:
    """Validate a scenario against live clusters (scenario cluster name -> SimCluster)."""
    def inventories(names: list[str]) -> dict[str, Inventory]:
        missing = [n for n in names if n not in clusters]
        if missing:
            raise SimError(f"{source}: the scenario needs cluster(s) {', '.join(missing)}, which this simulator "
                           f"does not run (running: {', '.join(clusters) or 'none'}; start it with --clusters)")
        return {n: live_inventory(n, clusters[n].registry, clusters[n].store) for n in names}

    first = next(iter(clusters.values()))
    prepared, errors = prepare(text, source=source, base_dir=base_dir, inventories=inventories,
                               catalog=catalog_of(first))
    if prepared is None:
        raise ScenarioInvalid(errors)
    return prepared


def apply_prepared(clusters: Mapping[str, SimCluster], prepared: Prepared) -> dict[str, Loaded]:
    """Create setup (all or nothing), merge images, load traffic, schedule faults; per-cluster summaries."""
    scenario = prepared.scenario
    _create_all(clusters, prepared)
    out: dict[str, Loaded] = {}
    for name, cluster in clusters.items():
        count = sum(1 for m in prepared.manifests if m.cluster == name)
        out[name] = Loaded(scenario.id, scenario.title, prepared.source, cluster.clock.elapsed(), count)
    for cluster in {id(c): c for c in clusters.values()}.values():
        _merge_images(cluster, scenario.images)
    for name, cluster in clusters.items():
        _load_traffic(cluster, name, scenario.default_cluster, prepared)
    for fault in scenario.faults:
        name = fault.target_cluster() or scenario.default_cluster
        rec = clusters[name].faults.schedule(fault, source=scenario.id, start_s=out[name].loaded_s)
        out[name].fault_ids.append(rec.id)
    for name, cluster in clusters.items():
        cluster.scenarios.append(out[name])
    return out


def load_file(cluster: SimCluster, path: Path | str, *, cluster_name: str | None = None) -> Loaded:
    """Validate and apply a scenario file to one cluster (the scenario's default cluster)."""
    return load_text(cluster, read_text(path), source=str(path), base_dir=Path(path).parent, cluster_name=cluster_name)


def load_text(cluster: SimCluster, text: str, *, source: str, base_dir: Path, cluster_name: str | None = None) -> Loaded:
    """Like `load_file`, for a scenario already read (the control API's request body)."""
    doc, _ = parse_document(text, source)
    clusters = (doc or {}).get("clusters") if isinstance(doc, dict) else None
    name = cluster_name or (clusters[0] if isinstance(clusters, list) and clusters and isinstance(clusters[0], str)
                            else "main")
    prepared = prepare_for({name: cluster}, text, source=source, base_dir=base_dir)
    return apply_prepared({name: cluster}, prepared)[name]


# -- setup ---------------------------------------------------------------------------------------------
def _create_all(clusters: Mapping[str, SimCluster], prepared: Prepared) -> None:
    created: list[tuple[SimCluster, Manifest]] = []
    try:
        for m in creation_order(prepared.manifests):
            cluster = clusters[m.cluster]
            try:
                cluster.store.create(m.rt, m.obj)
            except st.ApiError as e:
                raise InvalidInput(f"{m.origin} {m.label}: {e.message} (nothing was applied)",
                                   source=prepared.source, path=m.path) from e
            created.append((cluster, m))
    except BaseException:
        _roll_back(created)
        raise


def _roll_back(created: list[tuple[SimCluster, Manifest]]) -> None:
    """Remove what a failed setup created, newest first, at once (no finalizers: it never really existed)."""
    for cluster, m in reversed(created):
        meta = m.obj.get("metadata") or {}
        rt = cluster.registry.storage_type(m.rt.group, m.rt.plural) or m.rt
        cluster.store.finalize_delete(rt, meta.get("namespace", "") if rt.namespaced else "", meta.get("name", ""))


# -- images and traffic ------------------------------------------------------------------------------------
def _merge_images(cluster: SimCluster, images: dict[str, Any]) -> None:
    behaviour = _behaviour(cluster, install=True)
    if not images:
        return
    extras = cluster.controller_ctx.extras
    if behaviour is not None:
        behaviour.merge_images(images)
    elif hasattr(extras.get("catalog"), "merge"):
        extras["catalog"] = extras["catalog"].merge(images)
    # kept in any case: a behaviour runtime installed later (the kubelet installs it lazily) merges these
    extras[SCENARIO_IMAGES] = {**extras.get(SCENARIO_IMAGES, {}), **images}


def _edge_in(end: Ref, name: str, default: str) -> bool:
    return (end.cluster or default) == name


def _load_traffic(cluster: SimCluster, name: str, default: str, prepared: Prepared) -> None:
    edges = []
    for edge in prepared.scenario.traffic:
        src, dst = edge.ends()
        if not (_edge_in(src, name, default) and _edge_in(dst, name, default)):
            continue
        raw = edge.model_dump(by_alias=True, exclude_none=True)
        raw["from"], raw["to"] = _local(edge.from_), _local(edge.to)
        edges.append(raw)
    if not edges:
        return
    extras = cluster.controller_ctx.extras
    model = extras.get("traffic")
    if model is not None and hasattr(model, "load"):
        # ends were checked against the cluster already; keep the edges of scenarios loaded before
        model.load([*getattr(model, "edges", []), *edges], strict=False)
    else:
        extras[SCENARIO_TRAFFIC] = [*extras.get(SCENARIO_TRAFFIC, []), *edges]


def _local(end: str) -> str:
    head, sep, rest = end.partition(":")
    return rest if sep and "/" not in head else end


__all__ = ["SCENARIO_IMAGES", "SCENARIO_TRAFFIC", "Loaded", "apply_prepared", "catalog_of", "load_file", "load_text",
           "prepare_for"]

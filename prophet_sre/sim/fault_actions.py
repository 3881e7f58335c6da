"""What each fault kind does to one simulated cluster when it fires (and when it wears off).

Faults leave the trace a real cluster would show, and no other: a rollout is an update of the
workload's pod template (the Deployment controller then creates the new ReplicaSet and its events), a
node going down is its kubelet stopping (annotation `sim.prophet.io/stopped`, which the node status
and lifecycle controllers turn into missed heartbeats and NotReady), `delete`/`patch`/`scale`/
`config_remove`/`secret_remove` are ordinary API writes through the store (so admission, watches and
resourceVersions behave as for any client). Everything a real cluster would not record as an object -
latency, an exhausted pool, DNS failures, a scan, a missing image, a degraded cluster, node pressure -
becomes a `knobs` effect that the behaviour, traffic and fleet models read.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from prophet_sre.sim import patch as patching
from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import ControllerContext
from prophet_sre.sim.controllers.kubelet import STOPPED_ANNOTATION
from prophet_sre.sim.knobs import Knobs
from prophet_sre.sim.registry import ResourceType
from prophet_sre.sim.scenario import fault_specs as fs
from prophet_sre.sim.scenario.refs import Ref

Obj = dict[str, Any]


class FaultFailed(Exception):
    """The fault could not be applied (its target is gone, the patch does not apply...)."""


@dataclass(frozen=True)
class Fired:
    """What firing did: a kubectl-like line, and the knobs effect to remove when the fault ends."""

    message: str
    effect_id: int | None = None


def resolve(ctx: ControllerContext, ref: Ref) -> ResourceType:
    """The storage type a ref's kind names (`deploy` -> deployments.apps), as kubectl resolves it."""
    found = ctx.registry.find(ref.kind)
    if not found:
        raise FaultFailed(f'the server doesn\'t have a resource type "{ref.kind}"')
    rt = found[0]
    return ctx.registry.storage_type(rt.group, rt.plural) or rt


def _get(ctx: ControllerContext, ref: Ref) -> tuple[ResourceType, Obj]:
    rt = resolve(ctx, ref)
    obj = ctx.store.try_get(rt, ref.namespace if rt.namespaced else "", ref.name)
    if obj is None:
        raise FaultFailed(f'{rt.qualified} "{ref.name}" not found')
    return rt, copy.deepcopy(obj)


def _named(rt: ResourceType, name: str) -> str:
    """kubectl's `deployment.apps/backend` spelling."""
    kind = rt.kind.lower()
    return f"{kind}.{rt.group}/{name}" if rt.group else f"{kind}/{name}"


def _update(ctx: ControllerContext, rt: ResourceType, obj: Obj) -> None:
    try:
        ctx.store.update(rt, obj)
    except st.ApiError as e:
        raise FaultFailed(e.message) from e


# -- API faults -----------------------------------------------------------------------------------------
def rollout(ctx: ControllerContext, spec: fs.RolloutFault) -> Fired:
    rt, obj = _get(ctx, spec.target)
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    chosen = next((c for c in containers if spec.container in (None, c.get("name"))), None)
    if chosen is None:
        raise FaultFailed(f'unable to find container named "{spec.container}"')
    chosen["image"] = spec.image
    _update(ctx, rt, obj)
    return Fired(f"{_named(rt, spec.target.name)} image updated: {chosen.get('name')}={spec.image}")


def set_node_stopped(ctx: ControllerContext, node: str, stopped: bool) -> Fired:
    rt = ctx.rt("", "nodes")
    obj = ctx.store.try_get(rt, "", node)
    if obj is None:
        raise FaultFailed(f'nodes "{node}" not found')
    obj = copy.deepcopy(obj)
    annotations = obj["metadata"].setdefault("annotations", {})
    if stopped:
        annotations[STOPPED_ANNOTATION] = "true"
    else:
        annotations.pop(STOPPED_ANNOTATION, None)
    _update(ctx, rt, obj)
    return Fired(f"node/{node} kubelet {'stopped' if stopped else 'started'}")


def delete(ctx: ControllerContext, spec: fs.DeleteFault) -> Fired:
    rt, obj = _get(ctx, spec.target)
    try:
        ctx.store.delete(rt, obj["metadata"].get("namespace", ""), spec.target.name)
    except st.ApiError as e:
        raise FaultFailed(e.message) from e
    return Fired(f'{_named(rt, spec.target.name)} deleted')


def patch(ctx: ControllerContext, spec: fs.PatchFault) -> Fired:
    rt, obj = _get(ctx, spec.target)
    try:
        if spec.type == "json":
            new = patching.apply_json_patch(obj, list(spec.patch))  # type: ignore[arg-type]
        elif spec.type == "merge":
            new = patching.apply_merge_patch(obj, dict(spec.patch))  # type: ignore[arg-type]
        elif rt.crd:
            raise FaultFailed("strategic merge patch is not supported for custom resources; use type: merge")
        else:
            new = patching.apply_strategic_merge_patch(rt.kind, obj, dict(spec.patch))  # type: ignore[arg-type]
    except patching.PatchError as e:
        raise FaultFailed(str(e)) from e
    _update(ctx, rt, new)
    return Fired(f"{_named(rt, spec.target.name)} patched")


def scale(ctx: ControllerContext, spec: fs.ScaleFault) -> Fired:
    rt, obj = _get(ctx, spec.target)
    obj.setdefault("spec", {})["replicas"] = spec.replicas
    _update(ctx, rt, obj)
    return Fired(f"{_named(rt, spec.target.name)} scaled")


def remove_data(ctx: ControllerContext, target: Ref, key: str | None) -> Fired:
    """config_remove / secret_remove: delete the object, or only one key of its data."""
    if key is None:
        return delete(ctx, fs.DeleteFault(target=target))
    rt, obj = _get(ctx, target)
    found = False
    for section in ("data", "binaryData", "stringData"):
        if key in (obj.get(section) or {}):
            del obj[section][key]
            found = True
    if not found:
        raise FaultFailed(f'{_named(rt, target.name)} has no key "{key}"')
    _update(ctx, rt, obj)
    return Fired(f"{_named(rt, target.name)} key {key} removed")


# -- effects (knobs) --------------------------------------------------------------------------------------
def effect_of(ctx: ControllerContext, spec: fs.Spec) -> tuple[str, str, dict[str, Any]]:
    """(knobs kind, target, params) of an effect fault; targets in the traffic model's forms."""
    data = spec.model_dump(mode="json", exclude_none=True)
    if isinstance(spec, fs.NodePressureFault):
        return "node_pressure", spec.node.name, {"type": spec.type}
    if isinstance(spec, fs.ImageMissingFault):
        return "image_missing", spec.image, {}
    if isinstance(spec, fs.NetworkFloodFault):
        data.pop("source")
        if not data.get("ports"):
            data.pop("ports", None)
        return "network_flood", spec.source.local(), data
    if isinstance(spec, fs.DnsFailureFault):
        return "dns_failure", spec.target.local() if spec.target else "*", {"rcode": spec.rcode}
    if isinstance(spec, fs.ClusterDegradedFault):
        data.pop("cluster")
        return "cluster_degraded", ctx.cluster_name, data
    kind = {fs.LatencyFault: "latency", fs.PoolExhaustionFault: "pool_exhaustion",
            fs.ErrorRateFault: "error_rate"}.get(type(spec))
    if kind is None:
        raise FaultFailed(f"{type(spec).__name__} is not an effect")
    target = data.pop("target")
    return kind, Ref.parse(target).local(), data


EFFECT_KINDS = (fs.NodePressureFault, fs.ImageMissingFault, fs.NetworkFloodFault, fs.DnsFailureFault,
                fs.LatencyFault, fs.PoolExhaustionFault, fs.ClusterDegradedFault, fs.ErrorRateFault)


def fire(ctx: ControllerContext, knobs: Knobs, fault: fs.Fault, *, now_s: float, until_s: float | None) -> Fired:
    """Apply `fault` to the cluster now; raises FaultFailed with the API server's words on failure."""
    spec = fault.spec
    if isinstance(spec, EFFECT_KINDS):
        kind, target, params = effect_of(ctx, spec)
        eff = knobs.add(kind, target, params, since_s=now_s, until_s=until_s)
        return Fired(f"effect {kind} on {target} active" + (f" until {until_s:.0f}s" if until_s else ""), eff.id)
    if isinstance(spec, fs.RolloutFault):
        return rollout(ctx, spec)
    if isinstance(spec, fs.NodeDownFault):
        return set_node_stopped(ctx, spec.node.name, True)
    if isinstance(spec, fs.DeleteFault):
        return delete(ctx, spec)
    if isinstance(spec, fs.PatchFault):
        return patch(ctx, spec)
    if isinstance(spec, fs.ScaleFault):
        return scale(ctx, spec)
    if isinstance(spec, fs.ConfigRemoveFault | fs.SecretRemoveFault):
        return remove_data(ctx, spec.target, spec.key)
    raise FaultFailed(f"no action for fault kind {fault.kind}")


def end(ctx: ControllerContext, knobs: Knobs, fault: fs.Fault, fired: Fired) -> str:
    """Undo a lasting fault when its `duration` is over; returns what was done."""
    if fired.effect_id is not None:
        knobs.remove(fired.effect_id)
        return f"effect {fault.kind} removed"
    if isinstance(fault.spec, fs.NodeDownFault):
        return set_node_stopped(ctx, fault.spec.node.name, False).message
    return "nothing to undo"


__all__ = ["FaultFailed", "Fired", "end", "fire", "resolve"]

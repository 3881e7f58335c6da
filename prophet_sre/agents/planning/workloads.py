"""Rules for problems of a workload's pod template: oom, crashloop, image_pull, bad_rollout, probe_misconfig.

How an SRE fixes these: when the failure came with a recent rollout and the revision before it served,
roll back to that revision (the known-good state, reversible); only when there is no such revision,
change the one field that is wrong - the memory limit (raised by a bounded factor, never past what a node
can hold), the image or command from the object's last applied configuration, the probe path or port
the container demonstrably serves. Anything else goes to a human with what to look at.
"""

from __future__ import annotations

import math
from typing import Any

from prophet_sre.agents.planning import checks as ck
from prophet_sre.agents.planning.context import Obj, Proposal, RuleContext, escalation, selector_string
from prophet_sre.agents.planning.history import (
    History,
    Revision,
    changed,
    history,
    last_applied,
    last_good,
    pod_reasons,
    previous_template,
    rolled_out_recently,
)
from prophet_sre.domain import Category, PatchAction, ResourceRef, Risk, RollbackAction, SetResourcesAction
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.usage import quantity

MEMORY_FACTOR = 2.0
"""How much an OOM-killed container's memory limit is raised: enough headroom for a genuine need (a
bigger working set), small enough that a leak still shows within the hour instead of starving the node."""
NODE_SHARE = 0.75
"""A raised limit never exceeds this share of the largest node's allocatable memory."""

BAD_REASONS: dict[Category, frozenset[str]] = {
    Category.IMAGE_PULL: frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}),
    Category.CRASHLOOP: frozenset({"CrashLoopBackOff", "Error", "RunContainerError", "StartError",
                                   "CreateContainerError"}),
    Category.OOM: frozenset({"OOMKilled"}),
}
BAD_REASONS[Category.BAD_ROLLOUT] = frozenset().union(*BAD_REASONS.values(), {"CreateContainerConfigError"})
SUSPECT_FIELDS: dict[Category, tuple[str, ...]] = {
    Category.IMAGE_PULL: ("image",),
    Category.CRASHLOOP: ("image", "command", "args", "env", "envFrom", "volumeMounts", "spec.volumes"),
    Category.OOM: ("image", "command", "args", "env", "envFrom", "resources"),
    Category.BAD_ROLLOUT: ("image", "command", "args", "env", "envFrom", "resources", "readinessProbe",
                           "livenessProbe", "startupProbe", "ports", "volumeMounts", "spec.volumes"),
}
REVERTABLE = ("image", "command", "args")
"""Container fields a targeted patch restores from the last good revision or the last applied config."""
WATCHED_REASONS = frozenset({"ImagePullBackOff", "CrashLoopBackOff", "ErrImagePull"})
"""Reasons a verification check watches for (no pod showing them since the fix)."""
TYPICAL_REASON = {Category.IMAGE_PULL: "ImagePullBackOff", Category.CRASHLOOP: "CrashLoopBackOff"}
"""The reason watched when the pods, read between two tries, show none at that instant."""


def _workload_or_escalate(ctx: RuleContext, what: str) -> tuple[ResourceRef, Obj] | Proposal:
    wl = ctx.workload()
    if wl is None:
        return escalation(ctx.target, f"{what} on {ctx.target}, which is not a Deployment, StatefulSet or "
                                      "DaemonSet Prophet can change: look at the pod's owner and its spec.")
    return wl


def rollback(ref: ResourceRef, rev: Revision, why: str, risk: Risk = Risk.LOW) -> RollbackAction:
    return RollbackAction(target=ref, to_revision=rev.number, risk=risk, reason=why)


def _images(rev: Revision) -> str:
    return ", ".join(o.text(c.get("image")) for c in rev.containers())


def _what_changed(old: Revision, new: Revision, fields: tuple[str, ...]) -> str:
    """`image shop/backend:2.2 -> shop/backend:2.3`, `command` ... for the rationale."""
    out = []
    for f in fields:
        if not changed(old, new, f):
            continue
        if f == "image":
            out.append(f"image {_images(old)} -> {_images(new)}")
        else:
            out.append(f.removeprefix("spec."))
    return ", ".join(out) or "the pod template"


def _first_image_check(ref: ResourceRef, rev: Revision) -> list[Any]:
    cs = rev.containers()
    if not cs:
        return []
    return [ck.object_field(ref, "{.spec.template.spec.containers[0].image}", o.text(cs[0].get("image")))]


def revert_patch(ref: ResourceRef, live: Obj, good: list[Obj], fields: tuple[str, ...] = REVERTABLE) -> list[Any]:
    """JSON Patch ops that set `fields` of each live container to the `good` container of the same name."""
    ops: list[dict[str, Any]] = []
    base = "/spec/template/spec/containers"
    by_name = {o.text(c.get("name")): c for c in good}
    for i, c in enumerate(o.items(o.dig(live, "spec", "template", "spec", "containers"))):
        g = by_name.get(o.text(c.get("name")))
        if g is None:
            continue
        for f in fields:
            if c.get(f) == g.get(f):
                continue
            if g.get(f) is None:
                ops.append({"op": "remove", "path": f"{base}/{i}/{f}"})
            else:
                ops.append({"op": "add" if f not in c else "replace", "path": f"{base}/{i}/{f}", "value": g[f]})
    return ops


# -- crashloop / image_pull / bad_rollout ----------------------------------------------------------------------
def rollout_failure(ctx: RuleContext) -> list[Proposal]:
    cat = ctx.diagnosis.category
    label = {Category.IMAGE_PULL: "image pull failure", Category.CRASHLOOP: "crash loop"}.get(cat, "bad rollout")
    wl = _workload_or_escalate(ctx, label)
    if isinstance(wl, Proposal):
        return [wl]
    ref, obj = wl
    ns = ref.namespace
    pods = ctx.pods_of(obj)
    bad = BAD_REASONS[cat]
    seen = sorted({r for p in pods for r in pod_reasons(p)} & bad & WATCHED_REASONS)
    if not seen and cat in TYPICAL_REASON:  # pods caught between two tries show no reason at this instant
        seen = [TYPICAL_REASON[cat]]
    verify = [ck.workload_ready(ref)] + [ck.no_pod_reason(r, ns) for r in seen]
    out: list[Proposal] = []
    if ref.kind == "Deployment":
        hist = history(ctx, obj)
        good = last_good(hist, pods, bad_reasons=set(bad),
                         differs=lambda a, b: changed(a, b, *SUSPECT_FIELDS[cat]))
        if good is not None and hist.current is not None and rolled_out_recently(ctx, hist):
            why = (f"{label} began with revision {hist.current.number}, which changed "
                   f"{_what_changed(good, hist.current, SUSPECT_FIELDS[cat])}; revision {good.number} served")
            img = _first_image_check(ref, good) if cat == Category.IMAGE_PULL else []
            out.append(Proposal([rollback(ref, good, why)], verify + img,
                                rationale=f"Roll {ref} back to revision {good.number}: {why}.",
                                expected=f"pods of revision {good.number} replace the failing ones and the "
                                         "Deployment becomes available"))
            ops = revert_patch(ref, obj, good.containers())
            if ops:
                out.append(Proposal([PatchAction(target=ref, patch=ops, risk=Risk.LOW,
                                                 reason=f"restore {', '.join(REVERTABLE)} of revision {good.number}")],
                                    verify + img, rationale=f"Restore only the container fields revision "
                                                            f"{good.number} had: {why}.",
                                    expected="a new rollout with the last good image/command completes"))
            return out
        if hist.older() and not rolled_out_recently(ctx, hist):
            return [escalation(ref, f"{label} on {ref} but its last rollout (revision "
                                    f"{hist.current.number if hist.current else '?'}) is not recent: a rollback "
                                    "would not address it. Look at `kubectl logs --previous` of its pods, their "
                                    "events, and what they depend on.")]
    if ref.kind in ("StatefulSet", "DaemonSet"):
        prev = previous_template(ctx, obj)
        ops = revert_patch(ref, obj, o.items(o.dig(prev[1], "spec", "containers"))) if prev else []
        if prev and ops:
            why = f"{label} began with {ref.kind}'s latest revision; revision {prev[0]} had other {', '.join(REVERTABLE)}"
            out.append(Proposal([PatchAction(target=ref, patch=ops, risk=Risk.LOW,
                                             reason=f"restore {', '.join(REVERTABLE)} of controller revision {prev[0]}")],
                                verify, rationale=f"Restore {ref}'s containers to revision {prev[0]}: {why}.",
                                expected="the pods are replaced with the previous image/command and become ready"))
            return out
    applied = last_applied(obj)
    good_containers = o.items(o.dig(applied, "spec", "template", "spec", "containers"))
    ops = revert_patch(ref, obj, good_containers) if good_containers else []
    if ops:
        out.append(Proposal([PatchAction(target=ref, patch=ops, risk=Risk.MEDIUM,
                                         reason="restore image/command from the last applied configuration")],
                            verify, rationale=f"{ref} has no earlier revision to roll back to; its last applied "
                                              "configuration names a different image/command.",
                            expected="the pods restart with the applied image/command and become ready"))
        return out
    reasons = ", ".join(seen) or label
    hint = {Category.IMAGE_PULL: "check the image name and tag, the registry, and imagePullSecrets",
            Category.CRASHLOOP: "read `kubectl logs --previous` of a crashing pod and check its command, "
                                "arguments and configuration"}.get(cat, "compare the live spec with the last "
                                                                        "known good one")
    return [escalation(ref, f"{ref} fails ({reasons}) and has no earlier revision or applied configuration to "
                            f"restore: {hint}.")]


# -- oom -----------------------------------------------------------------------------------------------------
def _oom_container(pods: list[Obj], obj: Obj) -> str:
    for p in pods:
        for cs in o.container_statuses(p):
            for state in (o.mapping(cs.get("state")), o.mapping(cs.get("lastState"))):
                if o.text(o.dig(state, "terminated", "reason")) == "OOMKilled":
                    return o.text(cs.get("name"))
    cs = o.items(o.dig(obj, "spec", "template", "spec", "containers"))
    limited = [c for c in cs if o.dig(c, "resources", "limits", "memory")]
    return o.text((limited or cs or [{}])[0].get("name"))


def format_memory(value: float) -> str:
    mi = math.ceil(value / 2**20)
    return f"{mi // 1024}Gi" if mi % 1024 == 0 else f"{mi}Mi"


def raised_memory(ctx: RuleContext, ref: ResourceRef, obj: Obj,
                  container: str) -> tuple[SetResourcesAction | None, str]:
    """The set_resources action that raises `container`'s memory limit, or None and why not."""
    spec_c = next((c for c in o.items(o.dig(obj, "spec", "template", "spec", "containers"))
                   if o.text(c.get("name")) == container), None)
    if spec_c is None:
        return None, f"container {container} not found"
    limit = quantity(o.dig(spec_c, "resources", "limits", "memory"))
    request = quantity(o.dig(spec_c, "resources", "requests", "memory"))
    if not limit:
        return None, (f"container {container} has no memory limit, so the kernel killed it for node memory: look "
                      "at the node's memory pressure and what else runs there")
    nodes = ctx.list("nodes")
    biggest = max((quantity(o.dig(n, "status", "allocatable", "memory")) or 0.0 for n in nodes), default=0.0)
    new = limit * MEMORY_FACTOR
    if biggest:
        new = min(new, biggest * NODE_SHARE)
    if new <= limit * 1.1:
        return None, (f"container {container}'s memory limit {format_memory(limit)} is already close to what a "
                      f"node can hold ({format_memory(biggest)} allocatable): find why it needs more memory")
    limits = {"memory": format_memory(new)}
    requests = {"memory": limits["memory"]} if request and request >= limit else {}
    return SetResourcesAction(target=ref, container=container, limits=limits, requests=requests, risk=Risk.LOW,
                              reason=f"raise {container}'s memory limit {format_memory(limit)} -> "
                                     f"{limits['memory']}"), ""


def oom(ctx: RuleContext) -> list[Proposal]:
    wl = _workload_or_escalate(ctx, "OOM kills")
    if isinstance(wl, Proposal):
        return [wl]
    ref, obj = wl
    pods = ctx.pods_of(obj)
    container = _oom_container(pods, obj)
    verify = [ck.workload_ready(ref), ck.no_pod_reason("OOMKilled", ref.namespace)]
    out: list[Proposal] = []
    if ref.kind == "Deployment":
        hist = history(ctx, obj)
        out += _oom_rollback(ctx, ref, hist, pods, verify)
    action, why_not = raised_memory(ctx, ref, obj, container)
    if action is not None:
        path = f'{{.spec.template.spec.containers[?(@.name=="{container}")].resources.limits.memory}}'
        out.append(Proposal([action], verify + [ck.object_field(ref, path, action.limits["memory"])],
                            rationale=f"{ref}'s container {container} is OOM-killed at its memory limit; "
                                      f"{action.reason}, bounded by what a node can hold.",
                            expected="pods roll with the higher limit and stop being OOM-killed"))
    if not out:
        out.append(escalation(ref, f"{ref} is OOM-killed and no rollback or limit change applies: {why_not}."))
    return out


def _oom_rollback(ctx: RuleContext, ref: ResourceRef, hist: History, pods: list[Obj],
                  verify: list[Any]) -> list[Proposal]:
    """Roll back when the live revision brought the OOM kills (the previous one did not have them)."""
    cur = hist.current
    if cur is None or not rolled_out_recently(ctx, hist):
        return []
    killed = [p for p in pods if "OOMKilled" in pod_reasons(p)]
    if killed and any(o.labels(p).get("pod-template-hash") != cur.hash for p in killed):
        return []  # older revisions' pods are OOM-killed too: the rollout did not bring it
    good = last_good(hist, pods, bad_reasons={"OOMKilled"},
                     differs=lambda a, b: changed(a, b, *SUSPECT_FIELDS[Category.OOM]))
    if good is None:
        return []
    why = (f"the OOM kills began with revision {cur.number}, which changed "
           f"{_what_changed(good, cur, SUSPECT_FIELDS[Category.OOM])}; revision {good.number} ran without them")
    return [Proposal([rollback(ref, good, why)], verify + _first_image_check(ref, good),
                     rationale=f"Roll {ref} back to revision {good.number}: {why}. Raising the limit would only "
                               "delay the kills if the new revision leaks.",
                     expected=f"revision {good.number}'s pods run within their limit; no more OOMKilled")]


# -- probe_misconfig ------------------------------------------------------------------------------------------
PROBES = ("readinessProbe", "livenessProbe", "startupProbe")


def _failing_probe(ctx: RuleContext) -> str:
    text = ctx.errors_text().lower()
    if "liveness probe" in text:
        return "livenessProbe"
    if "startup probe" in text:
        return "startupProbe"
    return "readinessProbe"


def _container_ports(c: Obj) -> list[Obj]:
    return o.items(c.get("ports"))


def _served_probe(c: Obj, probe_name: str, failing: str) -> dict[str, Any]:
    """A httpGet (path/port) the container demonstrably serves, from its other probes ({} if unknown).
    `failing` is the text of the failure (404: wrong path; refused: wrong port)."""
    probe = o.mapping(c.get(probe_name))
    http = o.mapping(probe.get("httpGet"))
    if not http:
        return {}
    fix: dict[str, Any] = {}
    if "connection refused" in failing or "connect:" in failing:
        ports = _container_ports(c)
        names = {o.text(p.get("name")) for p in ports} | {str(o.num(p.get("containerPort"))) for p in ports}
        if str(http.get("port")) not in names and len(ports) == 1:
            p = ports[0]
            fix["port"] = o.text(p.get("name")) or o.num(p.get("containerPort"))
    if "404" in failing or "statuscode" in failing:
        for other in PROBES:
            oh = o.mapping(o.dig(c, other, "httpGet"))
            if other != probe_name and oh.get("path") and oh.get("path") != http.get("path") \
                    and oh.get("port") == http.get("port"):
                fix["path"] = oh["path"]
                break
    return fix


def probe_misconfig(ctx: RuleContext) -> list[Proposal]:
    wl = _workload_or_escalate(ctx, "a failing probe")
    if isinstance(wl, Proposal):
        return [wl]
    ref, obj = wl
    probe = _failing_probe(ctx)
    failing = ctx.errors_text().lower()
    pods = ctx.pods_of(obj)
    sel = selector_string(o.dig(obj, "spec", "selector"))
    verify = [ck.workload_ready(ref), ck.pods_ready(ref.namespace, sel)]
    containers = o.items(o.dig(obj, "spec", "template", "spec", "containers"))
    out: list[Proposal] = []
    if ref.kind == "Deployment":
        hist = history(ctx, obj)
        good = last_good(hist, pods, bad_reasons=set(), differs=lambda a, b: changed(a, b, probe))
        prev = hist.previous()
        if good is not None and prev is not None and hist.current is not None and rolled_out_recently(ctx, hist) \
                and changed(prev, hist.current, probe):
            old = {o.text(c.get("name")): c.get(probe) for c in good.containers()}
            why = f"revision {hist.current.number} changed the {probe}; revision {good.number}'s pods were ready"
            path_checks = [ck.object_field(ref, f"{{.spec.template.spec.containers[{i}].{probe}.httpGet.path}}",
                                           o.dig(old.get(o.text(c.get("name"))), "httpGet", "path"))
                           for i, c in enumerate(containers) if o.dig(old.get(o.text(c.get("name"))), "httpGet", "path")]
            out.append(Proposal([rollback(ref, good, why)], verify + path_checks[:1],
                                rationale=f"Roll {ref} back to revision {good.number}: {why}.",
                                expected="pods with the previous probe become ready; the rollout completes"))
            ops = [{"op": "replace" if c.get(probe) is not None else "add",
                    "path": f"/spec/template/spec/containers/{i}/{probe}", "value": old[o.text(c.get("name"))]}
                   for i, c in enumerate(containers)
                   if old.get(o.text(c.get("name"))) is not None and old[o.text(c.get("name"))] != c.get(probe)]
            if ops:
                out.append(Proposal([PatchAction(target=ref, patch=ops, risk=Risk.LOW,
                                                 reason=f"restore the {probe} of revision {good.number}")],
                                    verify + path_checks[:1], rationale=f"Restore only the probe: {why}.",
                                    expected="pods with the previous probe become ready"))
            return out
    for i, c in enumerate(containers):
        fix = _served_probe(c, probe, failing)
        if not fix:
            continue
        ops = [{"op": "replace", "path": f"/spec/template/spec/containers/{i}/{probe}/httpGet/{k}", "value": v}
               for k, v in fix.items()]
        what = ", ".join(f"{k} {v}" for k, v in fix.items())
        extra = [ck.object_field(ref, f"{{.spec.template.spec.containers[{i}].{probe}.httpGet.path}}", fix["path"])] \
            if "path" in fix else []
        out.append(Proposal([PatchAction(target=ref, patch=ops, risk=Risk.LOW,
                                         reason=f"point container {c.get('name')}'s {probe} at {what}")],
                            verify + extra, rationale=f"{ref}'s {probe} fails; the container serves {what} "
                                                      "(its other probes use it).",
                            expected="the probe passes, pods become ready"))
        return out
    return [escalation(ref, f"The {probe} of {ref} fails and Prophet cannot tell which path/port the container "
                            "serves: compare the probe with the application's health endpoint and the "
                            "container's ports.")]


__all__ = ["MEMORY_FACTOR", "format_memory", "oom", "probe_misconfig", "raised_memory", "revert_patch",
           "rollout_failure"]

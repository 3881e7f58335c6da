"""A Deployment's rollout history as the planner needs it: which revision is live, which was last good,
and what the latest rollout changed.

Revisions are the ReplicaSets the Deployment controls (controller ownerReference with its UID), numbered
by `deployment.kubernetes.io/revision` - what `kubectl rollout undo` uses. "Last good" is the newest
older revision whose pods are serving now (a stalled rollout keeps them), else the newest older revision
that does not carry the suspect change; a revision whose pods show the same failure is never good.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prophet_sre.agents.planning.context import Obj, RuleContext, selector_string
from prophet_sre.tools.kube import objects as o

REVISION = "deployment.kubernetes.io/revision"
HASH = "pod-template-hash"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass
class Revision:
    number: int
    rs: Obj

    @property
    def template(self) -> Obj:
        t = copy.deepcopy(o.mapping(o.dig(self.rs, "spec", "template")))
        o.mapping(t.get("metadata")).get("labels", {}).pop(HASH, None)
        return t

    @property
    def hash(self) -> str:
        return o.labels(self.rs).get(HASH, "")

    @property
    def ready(self) -> int:
        return o.num(o.dig(self.rs, "status", "readyReplicas"))

    @property
    def created(self) -> datetime | None:
        return o.parse_time(o.dig(self.rs, "metadata", "creationTimestamp"))

    def containers(self) -> list[Obj]:
        return o.items(o.dig(self.rs, "spec", "template", "spec", "containers"))


@dataclass
class History:
    deployment: Obj
    revisions: list[Revision]
    """Oldest first."""
    current: Revision | None

    def older(self) -> list[Revision]:
        """Revisions before the live one, newest first."""
        if self.current is None:
            return []
        return [r for r in reversed(self.revisions) if r.number < self.current.number]

    def previous(self) -> Revision | None:
        older = self.older()
        return older[0] if older else None


def history(ctx: RuleContext, dep: Obj) -> History:
    uid = o.text(o.dig(dep, "metadata", "uid"))
    sel = o.dig(dep, "spec", "selector")
    revs: list[Revision] = []
    for rs in ctx.list("replicasets", o.namespace(dep), label_selector=selector_string(sel)):
        ctl = next((r for r in o.owners(rs) if r.get("controller") is True), None)
        num = o.num(o.annotations(rs).get(REVISION), -1)
        if ctl is not None and o.text(ctl.get("uid")) == uid and num >= 0:
            revs.append(Revision(num, rs))
    revs.sort(key=lambda r: r.number)
    live = o.num(o.annotations(dep).get(REVISION))
    current = next((r for r in revs if r.number == live), revs[-1] if revs else None)
    return History(dep, revs, current)


def pods_by_hash(pods: list[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for p in pods:
        out.setdefault(o.labels(p).get(HASH, ""), []).append(p)
    return out


def pod_reasons(pod: Obj) -> set[str]:
    """Every waiting/terminated reason of the pod's containers (current and last state) and its problem."""
    out = {o.problem(pod)} - {""}
    for cs in o.container_statuses(pod) + o.container_statuses(pod, init=True):
        for state in (o.mapping(cs.get("state")), o.mapping(cs.get("lastState"))):
            for key in ("waiting", "terminated"):
                reason = o.text(o.dig(state, key, "reason"))
                if reason:
                    out.add(reason)
    return out


def last_good(hist: History, pods: list[Obj], *, bad_reasons: set[str],
              differs: Callable[[Revision, Revision], bool] | None = None) -> Revision | None:
    """The revision to roll back to: newest older one with pods serving now and none failing with
    `bad_reasons`; else the newest older one that differs from the live one where `differs` says."""
    cur = hist.current
    if cur is None:
        return None
    by_hash = pods_by_hash(pods)
    candidates = []
    for rev in hist.older():
        rpods = by_hash.get(rev.hash, [])
        if any(pod_reasons(p) & bad_reasons for p in rpods):
            continue
        if differs is not None and not differs(rev, cur):
            continue  # carries the same suspect spec: it would fail the same way
        candidates.append(rev)
    serving = [r for r in candidates if any(o.problem(p) == "" for p in by_hash.get(r.hash, []))]
    if serving:
        return serving[0]
    return candidates[0] if candidates else None


def changed(old: Revision, new: Revision, *fields: str) -> bool:
    """Whether any container's `fields` (image, command, args, env, resources, readinessProbe...) or, for
    field names starting with `spec.`, the pod spec's field differ between two revisions."""
    for f in fields:
        if f.startswith("spec."):
            key = f.removeprefix("spec.")
            if o.dig(old.template, "spec", key) != o.dig(new.template, "spec", key):
                return True
            continue
        a = {o.text(c.get("name")): c.get(f) for c in old.containers()}
        b = {o.text(c.get("name")): c.get(f) for c in new.containers()}
        if a != b:
            return True
    return False


def rolled_out_recently(ctx: RuleContext, hist: History, within_s: float = 6 * 3600) -> bool:
    """The live revision replaced an older one, and not long ago (or the rollout has not finished)."""
    cur = hist.current
    if cur is None or not hist.older():
        return False
    dep = hist.deployment
    want = o.num(o.dig(dep, "spec", "replicas"), 1)
    st = o.mapping(dep.get("status"))
    if o.num(st.get("updatedReplicas")) < want or o.num(st.get("availableReplicas")) < want:
        return True
    created = cur.created
    return created is not None and (ctx.now() - created).total_seconds() <= within_s


def previous_template(ctx: RuleContext, obj: Obj, within_s: float = 6 * 3600) -> tuple[int, Obj] | None:
    """(revision, pod template) of the ControllerRevision before the live one of a StatefulSet or DaemonSet,
    when the live one is recent (what `kubectl rollout undo` would restore); None otherwise."""
    uid = o.text(o.dig(obj, "metadata", "uid"))
    revs = [r for r in ctx.list("controllerrevisions", o.namespace(obj))
            if any(ref.get("controller") is True and o.text(ref.get("uid")) == uid for ref in o.owners(r))]
    revs.sort(key=lambda r: o.num(r.get("revision")))
    if len(revs) < 2:
        return None
    live_name = o.text(o.dig(obj, "status", "updateRevision"))
    live = next((r for r in revs if o.name(r) == live_name), revs[-1])
    older = [r for r in revs if o.num(r.get("revision")) < o.num(live.get("revision"))]
    created = o.parse_time(o.dig(live, "metadata", "creationTimestamp"))
    if not older or created is None or (ctx.now() - created).total_seconds() > within_s:
        return None
    prev = older[-1]
    return o.num(prev.get("revision")), o.mapping(o.dig(prev, "data", "spec", "template"))


def last_applied(obj: Obj) -> Obj:
    """The object as last applied with `kubectl apply` ({} when it never was)."""
    raw = o.annotations(obj).get(LAST_APPLIED, "")
    try:
        doc: Any = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


__all__ = ["History", "LAST_APPLIED", "Revision", "changed", "history", "last_applied", "last_good",
           "pod_reasons", "pods_by_hash", "previous_template", "rolled_out_recently"]

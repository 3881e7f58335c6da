"""Workload actions: restart, rollback, set_resources, delete_pod.

Restart and rollback do what `kubectl rollout restart` and `kubectl rollout undo` do, request for request
(reference/protocols.md §5.1-5.2), so an SRE reading the audit log sees the operation they know and a
real API server treats it exactly as it treats kubectl's.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from prophet_sre import errors
from prophet_sre.domain import (
    DeletePodAction,
    PatchAction,
    RestartAction,
    RollbackAction,
    SetResourcesAction,
)
from prophet_sre.tools.actions import base, results
from prophet_sre.tools.actions.base import Obj
from prophet_sre.tools.kube import objects as o

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"
ROLLBACK_KEPT_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})
"""Annotations a rollback keeps from the Deployment instead of taking them from the ReplicaSet (kubectl)."""


class _Rollout(base.SingleWrite):
    """Shared by actions whose effect is a rollout of every pod of a workload."""

    def blast_radius(self) -> results.BlastRadius:
        t = self.action.target
        obj, pods = base.workload_pods(self.kube, t.kind, t.namespace, t.name)
        n = len(base.live_pods(pods))
        replicas = o.num(o.dig(obj, "spec", "replicas"), 1) if t.kind != "DaemonSet" else n
        return results.BlastRadius(pods=n, replicas=replicas, namespaces=[t.namespace],
                                detail=f"every pod of {t.kind} {t.name} is replaced by a rolling update")


class Restart(_Rollout):
    """`kubectl rollout restart`: a new `restartedAt` annotation in the pod template."""

    action: RestartAction

    def describe(self) -> str:
        return "replace every pod by a rolling update (kubectl rollout restart), one batch at a time"

    def reversibility(self) -> str:
        return "not reversible (the old pods are gone; the new ones run the same spec), low risk"

    def build(self, live: Obj) -> base.Request | str:
        t = self.action.target
        if t.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
            raise errors.ToolError(f"restart works on Deployments, StatefulSets and DaemonSets, not {t.kind}")
        if o.dig(live, "spec", "paused") is True:
            raise errors.ToolError(f"can't restart paused {t.kind.lower()} (run rollout resume first)")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if o.annotations(o.dig(live, "spec", "template")).get(RESTARTED_AT) == now:
            raise errors.ToolError(f"failed to create patch for {t.name}: if restart has already been triggered "
                                   "within the past second, please wait before attempting to trigger another")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        return self.request_for(body, base.STRATEGIC_PATCH)

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        return {"restartedAt": o.annotations(o.dig(obj, "spec", "template")).get(RESTARTED_AT)}


class Rollback(_Rollout):
    """`kubectl rollout undo [--to-revision]`: the chosen ReplicaSet's template, as a JSON Patch."""

    action: RollbackAction

    def describe(self) -> str:
        which = f"revision {self.action.to_revision}" if self.action.to_revision else "the previous revision"
        return f"roll the Deployment back to {which}'s pod template (kubectl rollout undo)"

    def reversibility(self) -> str:
        return "reversible: roll forward to the revision that was current before"

    def revisions(self, dep: Obj) -> dict[int, Obj]:
        """{revision: ReplicaSet} of the RSs the Deployment controls (selector, then controller UID)."""
        uid = o.text(o.dig(dep, "metadata", "uid"))
        rss = self.kube.list("replicasets", self.namespace,
                             label_selector=base.selector_string(o.dig(dep, "spec", "selector")))
        out: dict[int, Obj] = {}
        for rs in rss:
            ctl = next((r for r in o.owners(rs) if r.get("controller") is True), None)
            rev = o.num(o.annotations(rs).get(REVISION), -1)
            if ctl is not None and o.text(ctl.get("uid")) == uid and rev >= 0:
                out[rev] = rs
        return out

    def pick(self, dep: Obj) -> tuple[int, Obj]:
        revs = self.revisions(dep)
        wanted = self.action.to_revision
        if wanted is not None:
            if wanted not in revs:
                raise errors.NotFound(f"unable to find specified revision {wanted} in history")
            return wanted, revs[wanted]
        if len(revs) < 2:
            raise errors.NotFound(f'no rollout history found for deployment "{self.action.target.name}"')
        rev = sorted(revs)[-2]
        return rev, revs[rev]

    def build(self, live: Obj) -> base.Request | str:
        if self.action.target.kind != "Deployment":
            raise errors.ToolError(f"rollback works on Deployments, not {self.action.target.kind}")
        if o.dig(live, "spec", "paused") is True:
            raise errors.ToolError("you cannot rollback a paused deployment; resume it first with "
                                   "'kubectl rollout resume' and try again")
        rev, rs = self.pick(live)
        template = copy.deepcopy(o.mapping(o.dig(rs, "spec", "template")))
        o.mapping(template.get("metadata")).get("labels", {}).pop(POD_TEMPLATE_HASH, None)
        if template == _without_hash(o.dig(live, "spec", "template")):
            return f"skipped rollback (current template already matches revision {rev})"
        annotations = {k: v for k, v in o.annotations(live).items() if k in ROLLBACK_KEPT_ANNOTATIONS}
        annotations.update({k: v for k, v in o.annotations(rs).items() if k not in ROLLBACK_KEPT_ANNOTATIONS})
        body = [{"op": "replace", "path": "/spec/template", "value": template},
                {"op": "replace", "path": "/metadata/annotations", "value": annotations}]
        return self.request_for(body, base.JSON_PATCH)

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        return {"revision": o.num(o.annotations(obj).get(REVISION)) or None,
                "images": [o.text(c.get("image")) for c in o.pod_containers({"spec": o.dig(obj, "spec", "template",
                                                                                              "spec")})]}

    def settle(self, write: base.Write, result: results.ExecutionResult) -> None:
        """Wait (bounded) for the controller to number the new revision, and report it."""
        old = result.before.get("revision")
        t = self.action.target

        def bumped() -> Obj | None:
            dep = self.kube.get("deployments", t.name, t.namespace)
            return dep if o.num(o.annotations(dep).get(REVISION)) not in (0, old) else None

        dep = self.wait_until(bumped)
        if dep is None:
            result.notes.append(f"the deployment controller has not numbered the new revision within "
                                f"{self.settings.settle_timeout_s:g}s")
            return
        result.after = self.snapshot(dep)
        result.changed["revision"] = result.after["revision"]

    def inverse(self, before: dict[str, Any]) -> RollbackAction | None:
        rev = before.get("revision")
        if not isinstance(rev, int) or rev < 1:
            return None
        a = self.action
        return RollbackAction(target=a.target, risk=a.risk, to_revision=rev,
                              reason=f"undo rollback: roll forward to revision {rev}")


def _without_hash(template: Any) -> Obj:
    t = copy.deepcopy(o.mapping(template))
    o.mapping(t.get("metadata")).get("labels", {}).pop(POD_TEMPLATE_HASH, None)
    return t


class SetResources(_Rollout):
    """Requests/limits of one container, by strategic merge on the container's name."""

    action: SetResourcesAction

    def describe(self) -> str:
        a = self.action
        what = ", ".join(f"{kind}.{k}={v}" for kind, m in (("requests", a.requests), ("limits", a.limits))
                         for k, v in sorted(m.items()))
        return f"set {what or 'nothing'} on container {a.container or '(the only one)'}; pods roll"

    def reversibility(self) -> str:
        return "reversible: the previous values are set again"

    def _spec_path(self) -> list[str]:
        return ["spec"] if self.action.target.kind == "Pod" else ["spec", "template", "spec"]

    def container(self, live: Obj) -> tuple[int, Obj]:
        containers = o.items(o.dig(live, *self._spec_path(), "containers"))
        names = [o.text(c.get("name")) for c in containers]
        want = self.action.container or (names[0] if len(names) == 1 else "")
        if not want:
            raise errors.ToolError(f"{self.action.target} has containers {', '.join(names)}: name one")
        if want not in names:
            raise errors.NotFound(f'container "{want}" not found in {self.action.target} (containers: '
                                  f"{', '.join(names)})")
        return names.index(want), containers[names.index(want)]

    def build(self, live: Obj) -> base.Request | str:
        a = self.action
        if not a.requests and not a.limits:
            raise errors.ToolError("set_resources needs requests or limits")
        _, c = self.container(live)
        resources = {k: v for k, v in (("requests", a.requests), ("limits", a.limits)) if v}
        body: Obj = {"containers": [{"name": o.text(c.get("name")), "resources": resources}]}
        for key in reversed(self._spec_path()):
            body = {key: body}
        return self.request_for(body, base.STRATEGIC_PATCH)

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        i, c = self.container(obj)
        return {"container": o.text(c.get("name")), "index": i, "resources": o.mapping(c.get("resources"))}

    def inverse(self, before: dict[str, Any]) -> SetResourcesAction | PatchAction | None:
        a, old = self.action, o.mapping(before.get("resources"))
        prev = {k: o.str_map(old.get(k)) for k in ("requests", "limits")}
        if all(set(getattr(a, k)) <= set(prev[k]) for k in prev):
            return SetResourcesAction(target=a.target, risk=a.risk, container=o.text(before.get("container")),
                                      requests={k: prev["requests"][k] for k in a.requests},
                                      limits={k: prev["limits"][k] for k in a.limits},
                                      reason="undo set_resources: previous values")
        # a key that did not exist before cannot be removed by a strategic merge of values: replace them all
        path = "/".join(["", *self._spec_path(), "containers", str(before.get("index", 0)), "resources"])
        return PatchAction(target=a.target, risk=a.risk, patch=[{"op": "replace", "path": path, "value": old}],
                           reason="undo set_resources: previous resources")


class DeletePod(base.PreparedAction):
    """Delete one pod (with a grace period): its controller, if any, creates a replacement."""

    action: DeletePodAction

    def _request(self) -> base.Request:
        t, grace = self.action.target, self.action.grace_period_s
        body = {"apiVersion": "v1", "kind": "DeleteOptions", **({"gracePeriodSeconds": grace}
                                                                if grace is not None else {})}
        return base.write_request("DELETE", self.kube.resolve("pods"), t.namespace, t.name, body=body)

    def describe(self) -> str:
        grace = self.action.grace_period_s
        return (f"delete the pod (grace period {grace if grace is not None else 'from the pod spec'}"
                f"{'s' if grace is not None else ''}); a controller that owns it creates a new one")

    def reversibility(self) -> str:
        return "not reversible: a deleted pod is not restored (its controller, if any, replaces it)"

    def requests(self) -> list[base.Request]:
        return [self._request()]

    def _dry_run(self, result: results.DryRunResult) -> None:
        pod = self.kube.get("pods", self.action.target.name, self.namespace)
        base.send(self.kube, self._request(), dry_run=True)
        result.diff = self.diff(f"Pod {self.namespace}/{o.name(pod)}", pod, None)
        if not o.owners(pod):
            result.notes.append("the pod has no owner: nothing will recreate it")

    def _execute(self, result: results.ExecutionResult) -> None:
        pod = self.kube.get("pods", self.action.target.name, self.namespace)
        kind, owner = o.workload_of(pod)
        result.before = {"pod": o.name(pod), "uid": o.text(o.dig(pod, "metadata", "uid")),
                         "owner": f"{kind}/{owner}" if o.owners(pod) else "", "node": o.text(o.dig(pod, "spec",
                                                                                                      "nodeName"))}
        base.send(self.kube, self._request())
        result.changed[f"Pod {self.namespace}/{o.name(pod)}"] = "deleted"

    def blast_radius(self) -> results.BlastRadius:
        return results.BlastRadius(pods=1, namespaces=[self.namespace], detail="one pod deleted")


__all__ = ["DeletePod", "POD_TEMPLATE_HASH", "REVISION", "RESTARTED_AT", "Restart", "Rollback", "SetResources"]

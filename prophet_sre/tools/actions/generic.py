"""The long tail: `patch` (a JSON Patch on one object) and `recreate` (delete, wait, create).

A patch's inverse is computed, not guessed: the reverse JSON Patch from the object the server returned
after the write back to the object before it (status and server-owned metadata left out), so whatever
the server defaulted on the way in is taken out again too.

Recreate exists for immutable fields (a PVC's storageClassName, a Deployment's selector): the object is
deleted, Prophet waits until it is really gone (finalizers such as `kubernetes.io/pvc-protection` keep
it while in use), then creates the corrected manifest. Its dry-run validates the new manifest under a
generated name, because the old object still exists and a create under its name could only say so.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from prophet_sre import errors
from prophet_sre.domain import PatchAction, RecreateAction
from prophet_sre.tools.actions import base, results
from prophet_sre.tools.actions.base import Obj
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.kinds import ResourceKind


def _pod_count(kube: KubeClient, kind: str, namespace: str, name: str) -> int:
    if kind == "Pod":
        return 1
    if kind not in base.POD_TEMPLATE_KINDS:
        return 0
    _, pods = base.workload_pods(kube, kind, namespace, name)
    return len(base.live_pods(pods))


class Patch(base.SingleWrite):
    """RFC 6902 JSON Patch on the target object."""

    action: PatchAction

    def describe(self) -> str:
        paths = ", ".join(f"{op.get('op')} {op.get('path')}" for op in self.action.patch[:6])
        more = f" and {len(self.action.patch) - 6} more" if len(self.action.patch) > 6 else ""
        return f"JSON Patch: {paths}{more}"

    def reversibility(self) -> str:
        return "reversible: the reverse JSON Patch is computed from the object before and after"

    def build(self, live: Obj) -> base.Request | str:
        return self.request_for(self.action.patch, base.JSON_PATCH)

    def _execute(self, result: results.ExecutionResult) -> None:
        super()._execute(result)
        if result.after.get("object") is not None:  # `before` is what inverse() gets: the undo goes there
            result.before["reverse_patch"] = reverse_patch(result.after["object"], result.before["object"])

    def inverse(self, before: dict[str, Any]) -> PatchAction | None:
        ops = before.get("reverse_patch")
        if ops is None:
            return None
        return PatchAction(target=self.action.target, risk=self.action.risk, patch=ops,
                           reason="undo patch: reverse JSON Patch") if ops else None

    def blast_radius(self) -> results.BlastRadius:
        t = self.action.target
        touches_pods = t.kind == "Pod" or any(str(op.get("path", "")).startswith("/spec/template")
                                              for op in self.action.patch)
        pods = _pod_count(self.kube, t.kind, t.namespace, t.name) if touches_pods else 0
        return results.BlastRadius(pods=pods, replicas=pods if t.kind != "Pod" else 0,
                                namespaces=[t.namespace] if t.namespace else [],
                                detail="pod template changed: pods roll" if pods and t.kind != "Pod" else "")


def reverse_patch(after: Obj, before: Obj) -> list[dict[str, Any]]:
    """The JSON Patch that turns `after` back into `before` (both cleaned manifests)."""
    return list(jsonpatch.make_patch(after, before).patch)


class Recreate(base.PreparedAction):
    """Delete the object, wait until it is gone, create the corrected manifest."""

    action: RecreateAction

    def manifest(self) -> Obj:
        """The corrected manifest, checked against the target and stripped of server-owned fields."""
        t, m = self.action.target, base.clean(self.action.manifest)
        meta = m.setdefault("metadata", {})
        if o.text(m.get("kind")) != t.kind or o.text(meta.get("name"), t.name) != t.name:
            raise errors.ToolError(f"recreate: the manifest is {m.get('kind')} {meta.get('name')}, the target is "
                                   f"{t.kind} {t.name}")
        meta["name"] = t.name
        if self.kind().namespaced:
            meta["namespace"] = base.object_namespace(self.kind(), t.namespace)
        return m

    def kind(self) -> ResourceKind:
        return self.kube.resolve(self.action.target.kind)

    def _delete(self) -> base.Request:
        t = self.action.target
        return base.write_request("DELETE", self.kind(), base.object_namespace(self.kind(), t.namespace), t.name)

    def _create(self, manifest: Obj) -> base.Request:
        ns = base.object_namespace(self.kind(), self.action.target.namespace)
        return base.write_request("POST", self.kind(), ns, "", body=manifest)

    def describe(self) -> str:
        return ("delete the object, wait until it is gone, then create it again from the corrected manifest "
                "(for fields that cannot be changed in place)")

    def reversibility(self) -> str:
        return "reversible: recreate again from the previous manifest (data bound to the old object is not)"

    def requests(self) -> list[base.Request]:
        return [self._delete(), self._create(self.manifest())]

    def _live(self) -> Obj:
        t = self.action.target
        return self.kube.get(self.kind(), t.name, base.object_namespace(self.kind(), t.namespace) or None)

    def _dry_run(self, result: results.DryRunResult) -> None:
        manifest = self.manifest()
        live = self._live()
        base.send(self.kube, self._delete(), dry_run=True)
        probe = copy.deepcopy(manifest)
        probe["metadata"].pop("name")
        probe["metadata"]["generateName"] = f"{self.action.target.name[:50]}-"
        created = base.send(self.kube, self._create(probe), dry_run=True)
        created.setdefault("metadata", {}).update(name=self.action.target.name)
        created["metadata"].pop("generateName", None)
        t = self.action.target
        result.diff = self.diff(f"{self.kind().kind} {t.namespace + '/' if t.namespace else ''}{t.name}", live, created)
        result.notes.append("the new manifest was validated under a generated name (the old object still exists)")

    def _execute(self, result: results.ExecutionResult) -> None:
        manifest = self.manifest()
        live = self._live()
        result.before = {"manifest": base.clean(live), "uid": o.text(o.dig(live, "metadata", "uid"))}
        base.send(self.kube, self._delete())
        title = f"{self.kind().kind} {self.action.target.name}"
        result.changed[title] = "deleted"
        if self.wait_until(self._gone) is None:
            left = self._still_there()
            fin = ", ".join(o.text(f) for f in o.dig(left, "metadata", "finalizers") or []) if left else ""
            result.error = (f"{title} is still terminating after {self.settings.settle_timeout_s:g}s"
                            + (f" (finalizers: {fin})" if fin else "") + "; the new object was not created")
            return
        created = base.send(self.kube, self._create(manifest))
        result.changed[title] = f"recreated (resourceVersion {o.text(o.dig(created, 'metadata', 'resourceVersion'))})"
        result.after = {"manifest": base.clean(created), "uid": o.text(o.dig(created, "metadata", "uid"))}

    def _still_there(self) -> Obj | None:
        try:
            return self._live()
        except errors.NotFound:
            return None

    def _gone(self) -> bool | None:
        return True if self._still_there() is None else None

    def inverse(self, before: dict[str, Any]) -> RecreateAction | None:
        manifest = before.get("manifest")
        if not isinstance(manifest, dict):
            return None
        return RecreateAction(target=self.action.target, risk=self.action.risk, manifest=manifest,
                              reason="undo recreate: the previous manifest")

    def blast_radius(self) -> results.BlastRadius:
        t = self.action.target
        pods = _pod_count(self.kube, t.kind, t.namespace, t.name)
        return results.BlastRadius(pods=pods, namespaces=[t.namespace] if t.namespace else [],
                                detail=f"{t.kind} deleted and created again")


__all__ = ["Patch", "Recreate", "reverse_patch"]

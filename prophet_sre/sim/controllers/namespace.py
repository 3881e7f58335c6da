"""Namespace lifecycle: emptying a terminating namespace, and seeding every new one.

Deletion: every namespaced object of every served type (CRDs included) is deleted, the namespace's
status conditions report progress with the real reasons (a namespace stuck in Terminating is a
classic incident, and these conditions are how one diagnoses it), and once nothing is left the
`kubernetes` finalizer is removed so the store can drop the namespace.

Seeding: the `default` ServiceAccount (serviceaccount controller) and the `kube-root-ca.crt`
ConfigMap (root-ca-cert-publisher) exist in every active namespace and come back when deleted.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.common import hex_digest, is_deleting
from prophet_sre.sim.registry import VIRTUAL_KINDS
from prophet_sre.sim.store import WatchEvent

Obj = dict[str, Any]
ROOT_CA = "kube-root-ca.crt"
ROOT_CA_DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                       "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                       "guaranteed across distributions of Kubernetes clusters.")
RETRY_S = 1.0


def placeholder_ca(cluster: str) -> str:
    """A PEM-shaped CA certificate placeholder (deterministic per cluster; not a parseable cert)."""
    body = base64.b64encode(bytes.fromhex("".join(hex_digest("ca", cluster, str(i)) for i in range(12)))).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


class NamespaceController(Controller):
    name = "namespace-controller"
    watches = (("", "namespaces"), ("", "serviceaccounts"), ("", "configmaps"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.ns_rt = ctx.rt("", "namespaces")
        self.sa_rt = ctx.rt("", "serviceaccounts")
        self.cm_rt = ctx.rt("", "configmaps")

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        m = ev.obj.get("metadata") or {}
        if ev.storage_key == ("", "namespaces"):
            return [m.get("name", "")]
        if ev.type == "DELETED" and m.get("name") in ("default", ROOT_CA):
            if (ev.storage_key == ("", "serviceaccounts")) == (m.get("name") == "default"):
                return [m.get("namespace", "")]
        if ev.storage_key == ("", "configmaps") and m.get("name") == ROOT_CA and ev.type == "MODIFIED":
            return [m.get("namespace", "")]
        return ()

    def reconcile(self, key: Hashable) -> float | None:
        name = str(key)
        ns = self.ctx.store.try_get(self.ns_rt, "", name)
        if ns is None:
            return self._delete_content(name)  # deleted without finalizers: still clean up what it held
        if is_deleting(ns):
            return self._terminate(ns)
        self._seed(ns)
        return None

    # -- seeding -------------------------------------------------------------------------------------
    def _seed(self, ns: Obj) -> None:
        name = ns["metadata"]["name"]
        store = self.ctx.store
        if not (ns.get("status") or {}).get("phase"):
            try:
                store.update(self.ns_rt, {**ns, "status": {"phase": "Active"}}, subresource="status", check_rv=False)
            except st.ApiError:
                pass
        try:
            if store.try_get(self.sa_rt, name, "default") is None:
                store.create(self.sa_rt, {"apiVersion": "v1", "kind": "ServiceAccount",
                                          "metadata": {"name": "default", "namespace": name}})
            data = {"ca.crt": placeholder_ca(self.ctx.cluster_name)}
            ann = {"kubernetes.io/description": ROOT_CA_DESCRIPTION}
            cm = store.try_get(self.cm_rt, name, ROOT_CA)
            if cm is None:
                store.create(self.cm_rt, {"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": ROOT_CA, "namespace": name, "annotations": ann},
                                          "data": data})
            elif cm.get("data") != data:
                upd = copy.deepcopy(cm)
                upd["data"] = data
                upd["metadata"]["annotations"] = {**(upd["metadata"].get("annotations") or {}), **ann}
                store.update(self.cm_rt, upd, check_rv=False)
        except st.ApiError:
            pass  # namespace began terminating meanwhile

    # -- deletion ------------------------------------------------------------------------------------
    def _namespaced_types(self) -> list[Any]:
        return [rt for rt in self.ctx.registry if rt.namespaced and rt.storage and rt.kind not in VIRTUAL_KINDS
                and "delete" in rt.verbs]

    def _delete_content(self, ns: str) -> float | None:
        """Delete everything in `ns`; return remaining counts by resource and finalizers still pending."""
        remaining, _ = self._sweep(ns)
        return RETRY_S if remaining else None

    def _sweep(self, ns: str) -> tuple[dict[str, int], dict[str, int]]:
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        store = self.ctx.store
        for rt in self._namespaced_types():
            objs = store.objects(rt, ns)
            if not objs:
                continue
            remaining[f"{rt.plural}.{rt.group}"] = len(objs)
            for obj in objs:
                for f in obj["metadata"].get("finalizers") or ():
                    finalizers[f] = finalizers.get(f, 0) + 1
                if is_deleting(obj):
                    continue
                try:
                    store.delete(rt, ns, obj["metadata"]["name"])
                except st.ApiError:
                    pass
        # what is left after this pass (pods terminating gracefully, objects held by finalizers)
        left = {}
        for rt in self._namespaced_types():
            n = len(store.objects(rt, ns))
            if n:
                left[f"{rt.plural}.{rt.group}"] = n  # sic: "pods. has 2 resource instances", as upstream
        return left, finalizers

    def _terminate(self, ns: Obj) -> float | None:
        name = ns["metadata"]["name"]
        left, finalizers = self._sweep(name)
        self._set_conditions(ns, left, finalizers if left else {})
        if left:
            return RETRY_S
        cur = self.ctx.store.try_get(self.ns_rt, "", name)
        if cur is None:
            return None
        fins = list((cur.get("spec") or {}).get("finalizers") or ())
        if "kubernetes" in fins:
            upd = copy.deepcopy(cur)
            upd["spec"]["finalizers"] = [f for f in fins if f != "kubernetes"]
            try:
                self.ctx.store.update(self.ns_rt, upd, check_rv=False)
            except st.ApiError:
                return RETRY_S
            after = self.ctx.store.try_get(self.ns_rt, "", name)
            if after is not None and "kubernetes" in ((after.get("spec") or {}).get("finalizers") or ()) and \
                    not after["metadata"].get("finalizers"):
                self.ctx.store.finalize_delete(self.ns_rt, "", name)  # an update path that keeps spec.finalizers
        return None

    def _set_conditions(self, ns: Obj, left: dict[str, int], finalizers: dict[str, int]) -> None:
        now = self.ctx.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        old = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or ()}

        def cond(type_: str, status: str, reason: str, message: str) -> Obj:
            prev = old.get(type_)
            ltt = prev["lastTransitionTime"] if prev and prev.get("status") == status else now
            return {"type": type_, "status": status, "lastTransitionTime": ltt, "reason": reason, "message": message}

        conds = [
            cond("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered"),
            cond("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
                 "All legacy kube types successfully parsed"),
            cond("NamespaceDeletionContentFailure", "False", "ContentDeleted",
                 "All content successfully deleted, may be waiting on finalization"),
        ]
        if left:
            detail = ", ".join(f"{k} has {v} resource instances" for k, v in sorted(left.items()))
            conds.append(cond("NamespaceContentRemaining", "True", "SomeResourcesRemain",
                              f"Some resources are remaining: {detail}"))
        else:
            conds.append(cond("NamespaceContentRemaining", "False", "ContentRemoved", "All content successfully removed"))
        if finalizers:
            detail = ", ".join(f"{k} in {v} resource instances" for k, v in sorted(finalizers.items()))
            conds.append(cond("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain",
                              f"Some content in the namespace has finalizers remaining: {detail}"))
        else:
            conds.append(cond("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
                              "All content-preserving finalizers finished"))
        status = {**(ns.get("status") or {}), "phase": "Terminating", "conditions": conds}
        if status != ns.get("status"):
            try:
                self.ctx.store.update(self.ns_rt, {**ns, "status": status}, subresource="status", check_rv=False)
            except st.ApiError:
                pass

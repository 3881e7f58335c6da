"""`quarantine`: cut a pod (or every pod of a workload) off the network, keeping it running for forensics.

The pods get a label (`prophet.io/quarantine=true` by default) and one policy per namespace and label
selects it:
- with Cilium (the `ciliumnetworkpolicies.cilium.io` CRD is served - asked of `/apis/cilium.io/v2` on
  every call, not of a cached discovery), a CiliumNetworkPolicy with `ingressDeny: [{fromEntities:
  [all]}]` and `egressDeny: [{toEntities: [all]}]`. Deny rules beat every allow rule of every policy,
  so the isolation holds whatever else is installed (Hubble shows POLICY_DENY);
- otherwise a NetworkPolicy selecting the label with `policyTypes: [Ingress, Egress]` and no rules.
  That is weaker, and `render()` says so: NetworkPolicies are additive allows, so any other policy
  that allows traffic to or from the pod still applies.
Pods are labelled, never their template: a template change would replace the very pods being
isolated. Pods created later are therefore not quarantined. `release=True` is the inverse: the label
goes, and the policy with it once no pod in the namespace carries the label.
"""

from __future__ import annotations

import re
from typing import Any

from prophet_sre import errors
from prophet_sre.domain import QuarantineAction
from prophet_sre.tools.actions import base, diff, results
from prophet_sre.tools.actions.base import Obj
from prophet_sre.tools.kube import errors as kerr
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.kinds import ResourceKind

CNP = ResourceKind("cilium.io", "v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy", True, ("cnp",))
MANAGED_BY = {"app.kubernetes.io/managed-by": "prophet"}
WEAKER = ("NetworkPolicy fallback (no CiliumNetworkPolicy CRD): weaker than a Cilium deny. NetworkPolicies are "
          "additive allows - any other NetworkPolicy that allows traffic to or from these pods still applies, so "
          "the quarantine leaks unless those policies exclude the label (matchExpressions: {label} NotIn "
          '["true"]). A Cilium ingressDeny/egressDeny would win over every allow.')


class Quarantine(base.PreparedAction):
    action: QuarantineAction

    # -- decisions -------------------------------------------------------------------------------------
    def cilium_served(self) -> bool:
        """Whether this API server serves CiliumNetworkPolicy now (uncached: CRDs come and go)."""
        try:
            doc = self.kube.get_json("/apis/cilium.io/v2", op=kerr.Op("get", "discovery", name="/apis/cilium.io/v2"))
        except errors.NotFound:
            return False
        return any(r.get("name") == CNP.resource for r in o.items(doc.get("resources")))

    def mode(self) -> str:
        if self.action.mode == "networkpolicy":
            return "networkpolicy"
        served = self.cilium_served()
        if self.action.mode == "cilium" and not served:
            raise errors.NotFound("mode cilium: the ciliumnetworkpolicies.cilium.io CRD is not served by this cluster")
        return "cilium" if served else "networkpolicy"

    def policy_kind(self, mode: str) -> ResourceKind:
        return CNP if mode == "cilium" else self.kube.resolve("networkpolicies")

    def policy_name(self) -> str:
        return re.sub(r"[^a-z0-9-]+", "-", self.action.label.lower()).strip("-")[:63] or "prophet-quarantine"

    def policy(self, mode: str) -> Obj:
        label, ns, name = self.action.label, self.namespace, self.policy_name()
        meta = {"name": name, "namespace": ns, "labels": MANAGED_BY}
        if mode == "cilium":
            return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": meta, "spec": {
                "description": f"Prophet quarantine: deny all traffic to and from pods labelled {label}=true",
                "endpointSelector": {"matchLabels": {label: "true"}},
                "ingressDeny": [{"fromEntities": ["all"]}], "egressDeny": [{"toEntities": ["all"]}]}}
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": {
            "podSelector": {"matchLabels": {label: "true"}}, "policyTypes": ["Ingress", "Egress"]}}

    def pods(self) -> list[Obj]:
        t = self.action.target
        _, pods = base.workload_pods(self.kube, t.kind, t.namespace, t.name)
        return base.live_pods(pods)

    def _carries(self, pod: Obj) -> bool:
        return o.labels(pod).get(self.action.label) == "true"

    def label_request(self, pod: Obj, value: str | None) -> base.Request:
        body = {"metadata": {"labels": {self.action.label: value}}}
        return base.write_request("PATCH", self.kube.resolve("pods"), o.namespace(pod), o.name(pod), body=body,
                                  content_type=base.MERGE_PATCH)

    def policy_requests(self, mode: str, *, delete: bool) -> list[base.Request]:
        rk = self.policy_kind(mode)
        if delete:
            return [base.write_request("DELETE", rk, self.namespace, self.policy_name())]
        return [base.write_request("POST", rk, self.namespace, "", body=self.policy(mode))]

    # -- the PreparedAction interface ------------------------------------------------------------------
    def describe(self) -> str:
        label, mode = self.action.label, self.mode()
        if self.action.release:
            return f"remove the label {label} from the pods, and the {mode} policy once no pod carries it"
        what = (f"label the pods {label}=true and deny all their ingress and egress with a {self.policy_kind(mode).kind}"
                f" {self.policy_name()}")
        return what if mode == "cilium" else f"{what}. {WEAKER.format(label=label)}"

    def reversibility(self) -> str:
        if self.action.release:
            return "reversible: quarantine again"
        return "reversible: remove the label, then the policy once no pod carries the label"

    def requests(self) -> list[base.Request]:
        mode, pods = self.mode(), self.pods()
        if self.action.release:
            reqs = [self.label_request(p, None) for p in pods if self._carries(p)]
            return reqs + (self.policy_requests(mode, delete=True) if not self._others(pods) else [])
        return self.policy_requests(mode, delete=False) + [self.label_request(p, "true") for p in pods
                                                           if not self._carries(p)]

    def _others(self, pods: list[Obj]) -> list[str]:
        """Quarantined pods of the namespace outside this target (they keep the policy alive)."""
        mine = {o.name(p) for p in pods}
        tagged = self.kube.list("pods", self.namespace, label_selector=f"{self.action.label}=true")
        return [o.name(p) for p in base.live_pods(tagged) if o.name(p) not in mine]

    def _leaks(self, pods: list[Obj]) -> list[str]:
        """Other NetworkPolicies whose allow rules still reach these pods (the NetworkPolicy weakness)."""
        out = []
        for np in self.kube.list("networkpolicies", self.namespace):
            if o.name(np) == self.policy_name():
                continue
            spec = o.mapping(np.get("spec"))
            if (spec.get("ingress") or spec.get("egress")) and any(
                    o.matches_selector(spec.get("podSelector"), {**o.labels(p), self.action.label: "true"})
                    for p in pods):
                out.append(o.name(np))
        return out

    def _dry_run(self, result: results.DryRunResult) -> None:
        mode, pods = self.mode(), self.pods()
        parts = []
        for req in self.requests():
            try:
                answer = base.send(self.kube, req, dry_run=True)
            except errors.Conflict:
                result.notes.append(f"{req.op.qualified} {self.policy_name()} already exists and is kept")
                continue
            except errors.NotFound:
                continue  # a policy to delete that is already gone
            if req.method == "POST":
                parts.append(self.diff(f"{answer.get('kind')} {self.namespace}/{self.policy_name()}", None, answer))
            elif req.method == "DELETE":
                parts.append(f"--- {self.policy_kind(mode).kind} {self.namespace}/{self.policy_name()} (deleted)")
            else:
                pod = next(p for p in pods if o.name(p) == req.op.name)
                parts.append(self.diff(f"Pod {self.namespace}/{req.op.name}", pod, answer))
        self._note_mode(result.notes, mode, pods)
        result.diff = diff.bound("\n".join(parts).splitlines(), self.settings.diff_max_lines) or "(no change)"

    def _note_mode(self, notes: list[str], mode: str, pods: list[Obj]) -> None:
        if mode == "networkpolicy" and not self.action.release:
            notes.append(WEAKER.format(label=self.action.label))
            leaks = self._leaks(pods)
            if leaks:
                notes.append(f"these NetworkPolicies still allow traffic to or from the pods: {', '.join(leaks)}")

    def _execute(self, result: results.ExecutionResult) -> None:
        mode, pods = self.mode(), self.pods()
        if not pods:
            raise errors.NotFound(f"no running pods of {self.action.target} to "
                                  f"{'release' if self.action.release else 'quarantine'}")
        touched: list[str] = []
        policy = {"kind": self.policy_kind(mode).kind, "name": self.policy_name(), "namespace": self.namespace}
        result.before = {"mode": mode, "label": self.action.label, "release": self.action.release, "pods": touched,
                         "policy": policy}
        for req in self.requests():
            try:
                answer = base.send(self.kube, req)
            except errors.Conflict:
                result.notes.append(f"{policy['kind']} {self.policy_name()} already existed; kept as it is")
                continue
            except errors.NotFound:
                continue
            if req.op.resource == "pods":
                touched.append(req.op.name)
                title = f"Pod {self.namespace}/{req.op.name}"
            else:
                policy["created" if req.method == "POST" else "deleted"] = True
                title = f"{policy['kind']} {self.namespace}/{self.policy_name()}"
            result.changed[title] = "deleted" if req.method == "DELETE" else \
                o.text(o.dig(answer, "metadata", "resourceVersion"))
        result.after = {"mode": mode, "pods": touched, "policy": policy}
        self._note_mode(result.notes, mode, pods)

    def inverse(self, before: dict[str, Any]) -> QuarantineAction | None:
        policy = o.mapping(before.get("policy"))
        if not before.get("pods") and not policy.get("created") and not policy.get("deleted"):
            return None  # nothing was changed
        a = self.action
        mode = o.text(before.get("mode"), "auto")
        return QuarantineAction(target=a.target, risk=a.risk, label=a.label, release=not a.release,
                                mode=mode if mode in ("cilium", "networkpolicy") else "auto",
                                reason=f"undo {'release' if a.release else 'quarantine'}")

    def blast_radius(self) -> results.BlastRadius:
        n = len(self.pods())
        return results.BlastRadius(pods=n, namespaces=[self.namespace],
                                detail=f"{n} pods {'released' if self.action.release else 'isolated'}")


__all__ = ["CNP", "Quarantine", "WEAKER"]

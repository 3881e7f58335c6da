"""Rules for problems of one object next to the workload: service_selector, pvc_pending, config_missing.

- A Service whose selector matches no pod: patch the selector to the labels of the pods it obviously
  targets (the workload whose pods serve the Service's target port and whose labels are closest to the
  selector), with only the selector's own keys, and never one that would also pick up other pods.
- A claim stuck Pending on a StorageClass that does not exist, unbound and not in use by a running pod:
  recreate it (its class is immutable) with the default StorageClass.
- A ConfigMap that lost a key: patch the key back with its previous value - from the object's
  `kubectl.kubernetes.io/last-applied-configuration`, else from the API server's recent history of the
  object (a watch from an old resourceVersion replays its earlier states while the server still holds
  them). Secret values are never copied into a plan (plans are audited and shown to people): a Secret
  that lost a key, and any object that is gone entirely, goes to a human.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from prophet_sre.agents.planning import checks as ck
from prophet_sre.agents.planning.context import Obj, Proposal, RuleContext, escalation, match_labels_selector
from prophet_sre.agents.planning.history import last_applied
from prophet_sre.domain import PatchAction, RecreateAction, ResourceRef, Risk
from prophet_sre.errors import ToolError
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.errors import Op

WORKLOAD_PLURALS = (("deployments", "Deployment"), ("statefulsets", "StatefulSet"), ("daemonsets", "DaemonSet"))
DEFAULT_CLASS = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _workloads(ctx: RuleContext, namespace: str) -> list[tuple[ResourceRef, Obj]]:
    out = []
    for plural, kind in WORKLOAD_PLURALS:
        for obj in ctx.list(plural, namespace):
            out.append((ResourceRef(cluster=ctx.target.cluster, kind=kind, namespace=namespace, name=o.name(obj)),
                        obj))
    return out


def _find(ctx: RuleContext, kind: str) -> ResourceRef | None:
    if ctx.root is not None and ctx.root.kind == kind:
        return ctx.root
    return next((f.ref for f in ctx.findings if f.ref.kind == kind), None)


# -- service_selector -----------------------------------------------------------------------------------------
def _serves(template: Obj, svc: Obj) -> bool:
    ports = [p for c in o.items(o.dig(template, "spec", "containers")) for p in o.items(c.get("ports"))]
    names = {o.text(p.get("name")) for p in ports} | {str(o.num(p.get("containerPort"))) for p in ports}
    wanted = {str(sp.get("targetPort", sp.get("port"))) for sp in o.items(o.dig(svc, "spec", "ports"))}
    return bool(wanted & names)


def _similarity(selector: dict[str, str], labels: dict[str, str]) -> float:
    scores = [difflib.SequenceMatcher(None, v, labels[k]).ratio() for k, v in selector.items() if k in labels]
    return max(scores, default=0.0)


def service_selector(ctx: RuleContext) -> list[Proposal]:
    ref = _find(ctx, "Service")
    if ref is None:
        return [escalation(ctx.target, "A Service selector problem was diagnosed but no Service is named: find the "
                                       "Service without endpoints (`kubectl get endpoints`) and compare its "
                                       "selector with the pods' labels.")]
    svc = ctx.get("services", ref.name, ref.namespace)
    selector = o.str_map(o.dig(svc, "spec", "selector"))
    if not selector:
        return [escalation(ref, f"Service {ref} has no selector: its endpoints are managed by hand (or by another "
                                "controller); check its Endpoints/EndpointSlices rather than a selector.")]
    pods = ctx.list("pods", ref.namespace)
    if any(o.matches_labels(selector, o.labels(p)) for p in pods):
        return [escalation(ref, f"Service {ref} selects pods ({match_labels_selector(selector)}); if it has no "
                                "ready endpoints, its pods are not ready: look at their readiness, not the selector.")]
    scored = []
    for wref, w in _workloads(ctx, ref.namespace):
        labels = o.labels(o.dig(w, "spec", "template"))
        serves = _serves(o.mapping(o.dig(w, "spec", "template")), svc)
        shared = set(selector) & set(labels)
        if not serves and not shared:
            continue
        score = 3.0 * (wref.name == ref.name) + 2.0 * serves + len(shared) + 2.0 * _similarity(selector, labels)
        scored.append((score, wref, w, labels))
    scored.sort(key=lambda s: -s[0])
    if not scored or (len(scored) > 1 and scored[1][0] >= scored[0][0] - 0.5):
        names = ", ".join(str(s[1]) for s in scored[:3]) or "none"
        return [escalation(ref, f"Service {ref} selects no pod ({match_labels_selector(selector)}) and Prophet "
                                f"cannot tell which workload it should target (candidates: {names}): fix its "
                                "selector by hand.")]
    _, wref, w, labels = scored[0]
    new = {k: labels[k] for k in selector if k in labels}
    others = [p for p in pods if not o.matches_selector(o.dig(w, "spec", "selector"), o.labels(p))]
    if not new or any(o.matches_labels(new, o.labels(p)) for p in others):
        new = o.str_map(o.dig(w, "spec", "selector", "matchLabels")) or new
    if not new:
        return [escalation(ref, f"Service {ref} should target {wref}, whose pods carry no label the selector can "
                                "use: fix the selector by hand.")]
    verify = [ck.service_endpoints(ref), ck.workload_ready(wref)]
    verify += [ck.object_field(ref, f"{{.spec.selector.{k}}}", v) for k, v in new.items() if _SIMPLE_KEY.match(k)]
    action = PatchAction(target=ref, risk=Risk.LOW, patch=[{"op": "replace", "path": "/spec/selector", "value": new}],
                         reason=f"select {match_labels_selector(new)} (the pods of {wref}) instead of "
                                f"{match_labels_selector(selector) or 'nothing'}")
    return [Proposal([action], verify,
                     rationale=f"Service {ref} selects {match_labels_selector(selector) or 'nothing'}, which no pod "
                               f"carries; the pods of {wref} serve its port and are labelled "
                               f"{match_labels_selector(new)}.",
                     expected=f"the Service gets the ready pods of {wref} as endpoints")]


# -- pvc_pending ---------------------------------------------------------------------------------------------
def _default_class(classes: list[Obj]) -> Obj | None:
    marked = [c for c in classes if any(o.annotations(c).get(k) == "true" for k in DEFAULT_CLASS)]
    if marked:
        return max(marked, key=lambda c: o.text(o.dig(c, "metadata", "creationTimestamp")))
    return classes[0] if len(classes) == 1 else None


def _claim_users(ctx: RuleContext, ref: ResourceRef) -> list[Obj]:
    return [p for p in ctx.list("pods", ref.namespace)
            if any(o.dig(v, "persistentVolumeClaim", "claimName") == ref.name for v in o.items(o.dig(p, "spec", "volumes")))]


def corrected_claim(pvc: Obj, storage_class: str) -> Obj:
    """The claim's manifest with another class: user-set fields only (no binding annotations, no volumeName)."""
    meta = o.mapping(pvc.get("metadata"))
    annotations = {k: v for k, v in o.annotations(pvc).items()
                   if not k.startswith(("volume.", "pv.kubernetes.io/")) and k != "kubectl.kubernetes.io/last-applied-configuration"}
    spec = {k: v for k, v in o.mapping(pvc.get("spec")).items() if k not in ("volumeName",)}
    spec["storageClassName"] = storage_class
    out_meta: dict[str, Any] = {"name": meta.get("name"), "namespace": meta.get("namespace")}
    if o.labels(pvc):
        out_meta["labels"] = o.labels(pvc)
    if annotations:
        out_meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": out_meta, "spec": spec}


def pvc_pending(ctx: RuleContext) -> list[Proposal]:
    ref = _find(ctx, "PersistentVolumeClaim")
    if ref is None:
        return [escalation(ctx.target, "A pending claim was diagnosed but none is named: `kubectl get pvc -A` and "
                                       "`kubectl describe pvc` show why it does not bind.")]
    pvc = ctx.get("persistentvolumeclaims", ref.name, ref.namespace)
    phase = o.text(o.dig(pvc, "status", "phase"))
    cls = o.dig(pvc, "spec", "storageClassName")
    classes = ctx.list("storageclasses")
    names = {o.name(c) for c in classes}
    if phase == "Bound" or o.dig(pvc, "spec", "volumeName"):
        return [escalation(ref, f"Claim {ref} is {phase or 'bound to a volume'}: the problem is elsewhere (the "
                                "volume, the node it lives on, or the pod's mount).")]
    if not isinstance(cls, str) or not cls or cls in names:
        why = (f"its StorageClass {cls} exists" if cls in names else "it asks for no StorageClass (static binding)")
        return [escalation(ref, f"Claim {ref} is Pending and {why}: check the provisioner, its events "
                                "(`kubectl describe pvc`), and whether a matching PersistentVolume exists.")]
    running = [p for p in _claim_users(ctx, ref) if o.dig(p, "spec", "nodeName")]
    if running:
        return [escalation(ref, f"Claim {ref} names the missing StorageClass {cls} but pod "
                                f"{o.name(running[0])} is already placed with it: recreating the claim would "
                                "break that pod. Create the StorageClass or move the workload by hand.")]
    default = _default_class(classes)
    if default is None:
        return [escalation(ref, f"Claim {ref} names StorageClass {cls}, which does not exist, and there is no "
                                f"default class to use instead (classes: {', '.join(sorted(names)) or 'none'}).")]
    new_cls = o.name(default)
    verify = [ck.pvc_phase(ref), ck.object_field(ref, "{.spec.storageClassName}", new_cls)]
    for p in _claim_users(ctx, ref):
        kind, name = o.workload_of(p)
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            verify.append(ck.workload_ready(ResourceRef(cluster=ref.cluster, kind=kind, namespace=ref.namespace,
                                                        name=name)))
    action = RecreateAction(target=ref, risk=Risk.MEDIUM, manifest=corrected_claim(pvc, new_cls),
                            reason=f"StorageClass {cls} does not exist: recreate the unbound claim with "
                                   f"{new_cls} (the class of a claim cannot be changed in place)")
    return [Proposal([action], ck.dedupe(verify),
                     rationale=f"Claim {ref} is Pending because StorageClass {cls} does not exist; it is unbound "
                               f"and no running pod uses it, so it can be recreated with the default class "
                               f"{new_cls} without losing data.",
                     expected=f"the claim is provisioned by {new_cls} and binds; the pods waiting for it start")]


# -- config_missing ------------------------------------------------------------------------------------------
_KEY = re.compile(r"couldn't find key (\S+) in (ConfigMap|Secret) ([^/\s]+)/(\S+)")
_GONE = re.compile(r'(configmap|secret) "([^"]+)" not found', re.I)


def _missing(ctx: RuleContext) -> tuple[dict[tuple[str, str, str], set[str]], list[tuple[str, str]]]:
    """({(kind, namespace, name): missing keys}, [(kind, name) of objects that are gone])."""
    keys: dict[tuple[str, str, str], set[str]] = {}
    gone: list[tuple[str, str]] = []
    text = ctx.errors_text()
    for key, kind, ns, name in _KEY.findall(text):
        keys.setdefault((kind, ns, name.rstrip(".,;:")), set()).add(key)
    for kind, name in _GONE.findall(text):
        item = ("ConfigMap" if kind.lower() == "configmap" else "Secret", name)
        if item not in gone:
            gone.append(item)
    root = ctx.root
    if root is not None and root.kind in ("ConfigMap", "Secret"):
        obj = ctx.try_get(root.kind, root.name, root.namespace)
        if obj is None:
            gone.append((root.kind, root.name)) if (root.kind, root.name) not in gone else None
        else:
            have = set(o.mapping(obj.get("data"))) | set(o.mapping(obj.get("binaryData")))
            for _, w in _workloads(ctx, root.namespace):
                for c in o.items(o.dig(w, "spec", "template", "spec", "containers")):
                    for env in o.items(c.get("env")):
                        src = o.mapping(o.dig(env, "valueFrom", "configMapKeyRef" if root.kind == "ConfigMap"
                                              else "secretKeyRef"))
                        if src.get("name") == root.name and src.get("key") not in have and not src.get("optional"):
                            keys.setdefault((root.kind, root.namespace, root.name), set()).add(o.text(src.get("key")))
    return keys, gone


def history_of(client: KubeClient, kind: str, namespace: str, name: str) -> list[Obj]:
    """Earlier states of one object the API server still holds (a watch from an old resourceVersion),
    oldest first; [] when the history is compacted (410) or cannot be read."""
    try:
        rk = client.resolve(kind)
        resp = client.request("GET", rk.path(namespace), op=Op("watch", rk.resource, rk.group, namespace, name),
                              query=[("watch", "true"), ("resourceVersion", "1"), ("timeoutSeconds", "1"),
                                     ("fieldSelector", f"metadata.name={name}")], timeout_s=5.0)
    except ToolError:
        return []
    out: list[Obj] = []
    for line in resp.body.decode("utf-8", errors="replace").splitlines()[:500]:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        obj = o.mapping(ev.get("object")) if isinstance(ev, dict) else {}
        if ev.get("type") in ("ADDED", "MODIFIED") and o.name(obj) == name:
            out.append(obj)
    return out


def previous_values(ctx: RuleContext, obj: Obj, keys: set[str]) -> tuple[dict[str, str], str]:
    """Earlier values of `keys` of a ConfigMap, and where they came from."""
    applied = o.mapping(last_applied(obj).get("data"))
    found = {k: o.text(applied[k]) for k in keys if k in applied}
    if len(found) == len(keys):
        return found, "its last applied configuration"
    uid = o.text(o.dig(obj, "metadata", "uid"))
    for old in reversed(history_of(ctx.client(), "configmaps", o.namespace(obj), o.name(obj))):
        if o.text(o.dig(old, "metadata", "uid")) != uid:
            continue
        data = o.mapping(old.get("data"))
        for k in keys - set(found):
            if k in data:
                found[k] = o.text(data[k])
    return found, "the API server's history of the object" if found else ""


def references(spec: Obj, kind: str) -> set[str]:
    """Names of the ConfigMaps (or Secrets) a pod spec uses: env, envFrom and volumes."""
    key_ref, from_ref = ("configMapKeyRef", "configMapRef") if kind == "ConfigMap" else ("secretKeyRef", "secretRef")
    out: set[str] = set()
    for c in o.items(spec.get("containers")) + o.items(spec.get("initContainers")):
        out |= {o.text(o.dig(e, "valueFrom", key_ref, "name")) for e in o.items(c.get("env"))}
        out |= {o.text(o.dig(e, from_ref, "name")) for e in o.items(c.get("envFrom"))}
    for v in o.items(spec.get("volumes")):
        out.add(o.text(o.dig(v, "configMap", "name")) if kind == "ConfigMap" else o.text(o.dig(v, "secret", "secretName")))
    return out - {""}


def _consumers(ctx: RuleContext, kind: str, namespace: str, name: str) -> list[ResourceRef]:
    return [wref for wref, w in _workloads(ctx, namespace)
            if name in references(o.mapping(o.dig(w, "spec", "template", "spec")), kind)]


def config_missing(ctx: RuleContext) -> list[Proposal]:
    keys, gone = _missing(ctx)
    cluster = ctx.target.cluster
    for (kind, ns, name), wanted in sorted(keys.items()):
        ref = ResourceRef(cluster=cluster, kind=kind, namespace=ns, name=name)
        if kind == "Secret":
            return [escalation(ref, f"Secret {ns}/{name} lacks key(s) {', '.join(sorted(wanted))}: restore them from "
                                    "your secret store (Prophet never copies secret values into a plan).")]
        obj = ctx.try_get("configmaps", name, ns)
        if obj is None:
            gone.append((kind, name))
            continue
        values, source = previous_values(ctx, obj, wanted)
        if not values:
            return [escalation(ref, f"ConfigMap {ns}/{name} lacks key(s) {', '.join(sorted(wanted))} and no earlier "
                                    "value is on record (no last-applied configuration, history compacted): restore "
                                    "them from where the configuration is kept (Git, Helm values).")]
        has_data = isinstance(obj.get("data"), dict)
        ops: list[dict[str, Any]] = [] if has_data else [{"op": "add", "path": "/data", "value": {}}]
        ops += [{"op": "add", "path": f"/data/{k.replace('~', '~0').replace('/', '~1')}", "value": v}
                for k, v in sorted(values.items())]
        verify = [ck.object_field(ref, f"{{.data.{k}}}", v) for k, v in sorted(values.items()) if _SIMPLE_KEY.match(k)]
        verify += [ck.workload_ready(w) for w in _consumers(ctx, kind, ns, name)]
        verify.append(ck.no_pod_reason("CreateContainerConfigError", ns))
        missing_still = sorted(wanted - set(values))
        note = f" (still unknown: {', '.join(missing_still)})" if missing_still else ""
        return [Proposal([PatchAction(target=ref, patch=ops, risk=Risk.LOW,
                                      reason=f"restore key(s) {', '.join(sorted(values))} from {source}")],
                         verify, rationale=f"ConfigMap {ns}/{name} lost key(s) {', '.join(sorted(wanted))} that pods "
                                           f"need; their previous values come from {source}{note}.",
                         expected="the kubelet creates the waiting containers with the restored keys; the rollout "
                                  "completes")]
    if gone:
        kind, name = gone[0]
        ns = ctx.target.namespace
        return [escalation(ResourceRef(cluster=cluster, kind=kind, namespace=ns, name=name),
                           f"{kind} {ns}/{name} that pods reference does not exist: recreate it from where the "
                           "configuration is kept, or roll back the change that started referencing it.")]
    return [escalation(ctx.target, f"A missing configuration was diagnosed on {ctx.target} but Prophet cannot tell "
                                   "which key: read the pods' CreateContainerConfigError events.")]


__all__ = ["config_missing", "corrected_claim", "history_of", "previous_values", "pvc_pending", "references",
           "service_selector"]

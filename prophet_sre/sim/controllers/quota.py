"""ResourceQuota: the admission plugin that refuses what would exceed `spec.hard`, and the controller
that keeps `status.hard` / `status.used` current.

"My deployment has no pods" is very often a quota: the ReplicaSet's pod creates are refused with
`pods "web-7d9c5b8f4-" is forbidden: exceeded quota: compute-quota, requested: requests.cpu=500m,
used: requests.cpu=1500m, limited: requests.cpu=2` (or `failed quota: <q>: must specify limits.cpu
for: web` when the quota constrains a resource a container does not declare). The texts, the counted
resources (compute requests/limits, object counts, `count/<resource>.<group>`, storage per class)
and the scopes follow `k8s.io/apiserver/pkg/admission/plugin/resourcequota` and the core evaluators.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from decimal import Decimal
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import by_namespace, ensure_pod_indexes, informers
from prophet_sre.sim.controllers.common import is_terminal, obj_key
from prophet_sre.sim.controllers.podstatus import qos_class
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.store import Store, WatchEvent
from prophet_sre.sim.validation_quantity import DECIMAL_SI, format_quantity, parse_quantity_with_format

COMPONENT = "resourcequota-controller"
Obj = dict[str, Any]
Qty = tuple[Decimal, str]
_COMPUTE = ("cpu", "memory", "ephemeral-storage")
_CONSTRAINED = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
_LEGACY_COUNTS = {"pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers",
                  "resourcequotas"}
_ONE: Qty = (Decimal(1), DECIMAL_SI)
COUNTED = (("", "pods"), ("", "services"), ("", "persistentvolumeclaims"), ("", "configmaps"), ("", "secrets"),
           ("", "replicationcontrollers"), ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
           ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"))


# -- quantities ----------------------------------------------------------------------------------------
def qty(value: Any) -> Qty:
    try:
        return parse_quantity_with_format(value)
    except ValueError:
        return (Decimal(0), DECIMAL_SI)


def add(total: dict[str, Qty], key: str, q: Qty) -> None:
    """`Quantity.Add`: a zero total takes the format of what is added."""
    cur = total.get(key)
    if cur is None or cur[0] == 0:
        total[key] = (q[0] + (cur[0] if cur else 0), q[1])
    else:
        total[key] = (cur[0] + q[0], cur[1])


def text(q: Qty) -> str:
    return format_quantity(q[0], q[1])


def pretty(values: dict[str, Qty], keys: Iterable[str]) -> str:
    return ",".join(f"{k}={text(values.get(k, (Decimal(0), DECIMAL_SI)))}" for k in sorted(keys))


# -- what an object uses ---------------------------------------------------------------------------------
def _container_resources(c: Obj) -> tuple[dict[str, Qty], dict[str, Qty]]:
    res = c.get("resources") or {}
    return ({k: qty(v) for k, v in (res.get("requests") or {}).items()},
            {k: qty(v) for k, v in (res.get("limits") or {}).items()})


def _pod_totals(spec: Obj, which: int) -> dict[str, Qty]:
    """Effective pod requests (which=0) or limits (1): containers summed, init containers as a max."""
    total: dict[str, Qty] = {}
    for c in spec.get("containers") or ():
        for k, q in _container_resources(c)[which].items():
            add(total, k, q)
    for c in spec.get("initContainers") or ():
        for k, q in _container_resources(c)[which].items():
            if c.get("restartPolicy") == "Always":
                add(total, k, q)
            elif k not in total or q[0] > total[k][0]:
                total[k] = q
    for k, v in (spec.get("overhead") or {}).items():
        add(total, k, qty(v))
    return total


def pod_usage(pod: Obj) -> dict[str, Qty]:
    """The quota usage of one pod; nothing once it has terminated."""
    if is_terminal(pod):
        return {}
    spec = pod.get("spec") or {}
    out: dict[str, Qty] = {"pods": _ONE, "count/pods": _ONE}
    for k, q in _pod_totals(spec, 0).items():
        out[f"requests.{k}"] = q
        if k in _COMPUTE:
            out[k] = q
    for k, q in _pod_totals(spec, 1).items():
        if k in _COMPUTE:
            out[f"limits.{k}"] = q
    return out


def object_usage(rt: ResourceType, obj: Obj) -> dict[str, Qty]:
    """What creating `obj` adds to a namespace's usage, by quota resource name."""
    if rt.kind == "Pod" and not rt.group:
        return pod_usage(obj)
    out: dict[str, Qty] = {f"count/{rt.plural}" + (f".{rt.group}" if rt.group else ""): _ONE}
    if not rt.group and rt.plural in _LEGACY_COUNTS:
        out[rt.plural] = _ONE
    spec = obj.get("spec") or {}
    if rt.kind == "Service" and not rt.group:
        ports = len(spec.get("ports") or ())
        if spec.get("type") == "LoadBalancer":
            out["services.loadbalancers"] = _ONE
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            out["services.nodeports"] = (Decimal(ports), DECIMAL_SI)
    if rt.kind == "PersistentVolumeClaim" and not rt.group:
        storage = qty((((spec.get("resources") or {}).get("requests") or {}).get("storage")) or 0)
        out["requests.storage"] = storage
        if spec.get("storageClassName"):
            prefix = f"{spec['storageClassName']}.storageclass.storage.k8s.io/"
            out[prefix + "requests.storage"] = storage
            out[prefix + "persistentvolumeclaims"] = _ONE
    return out


def scopes_match(quota: Obj, rt: ResourceType, obj: Obj) -> bool:
    """Whether `quota`'s scopes select the object (scopes only ever select pods)."""
    qspec = quota.get("spec") or {}
    scopes = [{"scopeName": s, "operator": "Exists"} for s in qspec.get("scopes") or ()]
    scopes += list((qspec.get("scopeSelector") or {}).get("matchExpressions") or ())
    if not scopes:
        return True
    if rt.kind != "Pod" or rt.group:
        return False
    spec = obj.get("spec") or {}
    for s in scopes:
        name, op = s.get("scopeName"), s.get("operator")
        if name == "PriorityClass":
            pc = spec.get("priorityClassName")
            values = s.get("values") or []
            ok = {"In": pc in values, "NotIn": pc not in values, "Exists": bool(pc),
                  "DoesNotExist": not pc}.get(op, False)
        else:
            terminating = spec.get("activeDeadlineSeconds") is not None
            best_effort = qos_class(obj) == "BestEffort"
            ok = {"Terminating": terminating, "NotTerminating": not terminating, "BestEffort": best_effort,
                  "NotBestEffort": not best_effort}.get(name or "", False)
        if not ok:
            return False
    return True


def constraints_error(pod: Obj, hard: Iterable[str]) -> str:
    """`podEvaluator.Constraints`: every container must declare what the quota constrains."""
    required = set(hard) & _CONSTRAINED
    if not required:
        return ""
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for c in list(spec.get("initContainers") or ()) + list(spec.get("containers") or ()):
        req, lim = _container_resources(c)
        have = {f"requests.{k}" for k in req} | set(req) | {f"limits.{k}" for k in lim}
        for r in required - have:
            missing.setdefault(r, set()).add(c.get("name", ""))
    if not missing:
        return ""
    return "must specify " + "; ".join(f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing))


class QuotaUsage:
    """Live usage of a namespace, per quota (its scopes decide which objects count)."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        rt = registry.storage_type("", "resourcequotas")
        assert rt is not None
        self.quota_rt = rt

    def quotas(self, ns: str) -> list[Obj]:
        return sorted(self.store.objects(self.quota_rt, ns), key=lambda q: q["metadata"]["name"])

    def used(self, quota: Obj, ns: str, keys: Iterable[str]) -> dict[str, Qty]:
        keys = set(keys)
        total: dict[str, Qty] = {k: (Decimal(0), DECIMAL_SI) for k in keys}
        for group, plural in self._types_for(keys):
            rt = self.registry.storage_type(group, plural)
            if rt is None:
                continue
            for obj in self.store.objects(rt, ns):
                if obj["metadata"].get("namespace") != ns or not scopes_match(quota, rt, obj):
                    continue
                for k, q in object_usage(rt, obj).items():
                    if k in keys:
                        add(total, k, q)
        return total

    @staticmethod
    def _types_for(keys: set[str]) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for k in keys:
            if k.startswith("count/"):
                plural, _, group = k[len("count/"):].partition(".")
                out.add((group, plural))
            elif k in _LEGACY_COUNTS:
                out.add(("", k))
            elif k.startswith("services."):
                out.add(("", "services"))
            elif "storage" in k or k.endswith("persistentvolumeclaims"):
                out.add(("", "persistentvolumeclaims"))
            else:
                out.add(("", "pods"))
        return out


class QuotaAdmission:
    """The ResourceQuota validating admission plugin (create only, like object-count evaluation)."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.usage = QuotaUsage(store, registry)

    def __call__(self, rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
        if op != "CREATE" or not rt.namespaced or not rt.storage:
            return
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or ""
        quotas = self.usage.quotas(ns)
        if not quotas:
            return
        delta = object_usage(rt, obj)
        name = _display_name(meta)
        is_pod = rt.kind == "Pod" and not rt.group
        for q in quotas:
            if not scopes_match(q, rt, obj):
                continue
            hard = {k: qty(v) for k, v in ((q.get("spec") or {}).get("hard") or {}).items()}
            qname = q["metadata"]["name"]
            if is_pod and not is_terminal(obj) and (err := constraints_error(obj, hard)):
                raise st.forbidden(f'{rt.plural} "{name}" is forbidden: failed quota: {qname}: {err}', rt, name)
            relevant = [k for k in hard if k in delta]
            if not relevant:
                continue
            used = self.usage.used(q, ns, relevant)
            failed = [k for k in relevant if used[k][0] + delta[k][0] > hard[k][0]]
            if failed:
                raise st.forbidden(f'{rt.plural} "{name}" is forbidden: exceeded quota: {qname}, requested: '
                                   f"{pretty(delta, failed)}, used: {pretty(used, failed)}, limited: "
                                   f"{pretty(hard, failed)}", rt, name)


def _display_name(meta: Obj) -> str:
    """The name in the error: a generated name is not chosen yet when admission runs, so the prefix."""
    name, prefix = meta.get("name") or "", meta.get("generateName") or ""
    if prefix and name.startswith(prefix) and len(name) == len(prefix) + 5:
        return str(prefix)
    return str(name or prefix)


class ResourceQuotaController(Controller):
    name = COMPONENT
    watches = (("", "resourcequotas"), *COUNTED)
    resync_s = 300.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.by_ns = self.hub.index("", "resourcequotas", "ns", by_namespace)
        self.usage = QuotaUsage(ctx.store, ctx.registry)
        self.quota_rt = self.usage.quota_rt

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("", "resourcequotas"):
            if ev.type == "DELETED" or (ev.old is not None and ev.old.get("spec") == ev.obj.get("spec")):
                return ()
            return [obj_key(ev.obj)]
        if ev.storage_key == ("", "pods") and ev.type == "MODIFIED" and ev.old is not None and \
                is_terminal(ev.old) == is_terminal(ev.obj):
            return ()
        return self.by_ns.get(obj_key(ev.obj)[0])

    def resync(self) -> Iterable[Hashable]:
        return [obj_key(q) for q in self.ctx.store.objects(self.quota_rt)]

    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        quota = self.ctx.store.try_get(self.quota_rt, ns, name)
        if quota is None:
            return None
        hard = {k: qty(v) for k, v in ((quota.get("spec") or {}).get("hard") or {}).items()}
        used = self.usage.used(quota, ns, hard)
        status = {"hard": {k: text(v) for k, v in sorted(hard.items())},
                  "used": {k: text(v) for k, v in sorted(used.items())}}
        if status != quota.get("status"):
            try:
                self.ctx.store.update(self.quota_rt, {**quota, "status": status}, subresource="status",
                                      check_rv=False)
            except st.ApiError:
                return 1.0
        return None

"""Evaluate verification checks (`domain.Check`) against live clusters: did the fix work?

A plan's `verification` and a scenario's `expect.recovered` use the same check forms (SCENARIOS.md,
"Checks"): `kind` is the form key (`deployment`, `pods`, `metric` ...), `target` the form key's value
and `expect` the other fields, e.g.

    Check(kind="deployment", target="shop/backend", expect={"available": True})
    Check(kind="pods", target="shop", expect={"selector": "app=web", "ready": "all"})
    Check(kind="no_pod_reason", target="OOMKilled", expect={"namespace": "shop", "since": "remediation"})
    Check(kind="metric", target='sum(rate(x[1m]))', expect={"below": 0.5})
    Check(kind="object", target="mgmt:gateway.networking.k8s.io/v1/httproutes/fleet/global-shop",
          expect={"jsonpath": "{.spec.rules[0].backendRefs[?(@.name==\"shop-aws\")].weight}", "equals": 0})

Object names (and the `namespace` of `pods` / `no_pod_reason`) may carry a fleet cluster prefix
`CLUSTER:`; the client is `CheckContext.clients.for_cluster(CLUSTER)`, never another cluster.

`evaluate()` never raises for a cluster's answer: an API error, a malformed check or a bad PromQL query
is `ok=False` with the reason in `detail`; what cannot be judged here (a metric check without
Prometheus, `unchanged` without a baseline) is `skipped=True`. Details are one line a human reads.
The verify loop (`agents/executor.verify`) polls these until they hold; the eval harness converts the
scenario's checks with `check_from_scenario()`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prophet_sre.domain import Check
from prophet_sre.errors import InvalidInput, ProphetError
from prophet_sre.graphs.state import CheckResult
from prophet_sre.tools import jsonpath
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient, KubeClients
from prophet_sre.tools.kube.errors import Op
from prophet_sre.tools.kube.kinds import ResourceKind
from prophet_sre.tools.prometheus import PrometheusTool, fmt_num

log = logging.getLogger(__name__)

CHECK_KINDS: tuple[str, ...] = ("deployment", "statefulset", "daemonset", "pod", "pods", "service", "pvc",
                                "no_pod_reason", "metric", "object", "unchanged")
"""The form keys, in SCENARIOS.md's order."""
MAX_DETAIL = 300
"""Characters of one detail line: enough for a name and its counts, or an API error's first sentence."""


@dataclass
class CheckContext:
    """What evaluating checks needs: clusters, optionally Prometheus, and state captured earlier."""

    clients: KubeClients
    prometheus: PrometheusTool | None = None
    since: datetime | None = None
    """Remediation start on the cluster's clock: `no_pod_reason` ignores what ended before it (None: any time)."""
    baseline: dict[str, Any] = field(default_factory=dict)
    """Object path -> `snapshot()` taken earlier (setup's state), compared by `unchanged`."""


class _Malformed(ProphetError):
    """A check that cannot be evaluated as written (a field missing or of the wrong type)."""


# -- names ---------------------------------------------------------------------------------------------
def split_cluster(text: str) -> tuple[str, str]:
    """("aws", "shop/web") from "aws:shop/web"; ("", text) without a prefix."""
    head, sep, rest = text.strip().partition(":")
    if sep and head and "/" not in head:
        return head, rest
    return "", text.strip()


def _ns_name(target: str) -> tuple[str, str, str]:
    cluster, rest = split_cluster(target)
    parts = rest.split("/")
    if len(parts) != 2 or not all(parts):
        raise _Malformed(f"target {target!r} is not NS/NAME or CLUSTER:NS/NAME")
    return cluster, parts[0], parts[1]


@dataclass(frozen=True)
class ObjectPath:
    """`[CLUSTER:]GROUP/VERSION/PLURAL/NS/NAME` (GROUP empty for core; 4 segments when cluster-scoped)."""

    cluster: str
    kind: ResourceKind
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ObjectPath:
        cluster, rest = split_cluster(text)
        parts = rest.split("/")
        if len(parts) == 4:
            parts.insert(3, "")
        if len(parts) != 5 or not parts[1] or not parts[2] or not parts[4]:
            raise _Malformed(f"{text!r} is not an object path: GROUP/VERSION/PLURAL/NS/NAME (GROUP empty for core, "
                             "e.g. /v1/services/shop/web; cluster-scoped: GROUP/VERSION/PLURAL/NAME), "
                             "optionally prefixed CLUSTER:")
        group, version, plural, ns, name = parts
        return cls(cluster, ResourceKind(group, version, plural, plural, namespaced=bool(ns)), ns, name)

    def get(self, client: KubeClient) -> dict[str, Any]:
        op = Op("get", self.kind.resource, self.kind.group, self.namespace, self.name)
        return client.get_json(self.kind.path(self.namespace or None, self.name), op=op)

    def __str__(self) -> str:
        mid = f"{self.namespace}/" if self.namespace else ""
        local = f"{self.kind.group}/{self.kind.version}/{self.kind.resource}/{mid}{self.name}"
        return f"{self.cluster}:{local}" if self.cluster else local


def _label(cluster: str, ns: str, name: str) -> str:
    return f"{cluster + ':' if cluster else ''}{ns}/{name}"


# -- expectations --------------------------------------------------------------------------------------
def _flag(check: Check, key: str, default: bool = True) -> bool:
    value = check.expect.get(key, default)
    if not isinstance(value, bool):
        raise _Malformed(f"{check.kind} check: {key} must be true or false, got {value!r}")
    return value


def _required(check: Check, key: str) -> Any:
    if key not in check.expect:
        raise _Malformed(f"{check.kind} check needs {key!r} in expect (has: {', '.join(check.expect) or 'nothing'})")
    return check.expect[key]


def _verdict(label: str, healthy: bool, want: bool, state: str) -> tuple[bool, str]:
    return healthy == want, f"{label}: {state}" + ("" if want else " (expected not to be)")


def _gen_current(obj: Mapping[str, Any]) -> bool:
    return o.num(o.dig(obj, "status", "observedGeneration")) >= o.num(o.dig(obj, "metadata", "generation"))


# -- the forms -----------------------------------------------------------------------------------------
def _deployment(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    cluster, ns, name = _ns_name(check.target)
    want = _flag(check, "available")
    d = ctx.clients.for_cluster(cluster).get("deployments", name, ns)
    spec_replicas = o.dig(d, "spec", "replicas")
    desired = 1 if spec_replicas is None else o.num(spec_replicas)
    st = o.mapping(d.get("status"))
    total, updated = o.num(st.get("replicas")), o.num(st.get("updatedReplicas"))
    ready, available = o.num(st.get("readyReplicas")), o.num(st.get("availableReplicas"))
    current = _gen_current(d)
    healthy = current and updated >= desired and ready >= desired and available >= desired and total <= updated
    state = f"{ready}/{desired} ready, {updated} updated, {available} available"
    if total > updated:
        state += f", {total - updated} old pending termination"
    if not current:
        state += ", new spec not yet observed"
    return _verdict(_label(cluster, ns, name), healthy, want, state)


def _statefulset(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    cluster, ns, name = _ns_name(check.target)
    want = _flag(check, "ready")
    s = ctx.clients.for_cluster(cluster).get("statefulsets", name, ns)
    spec_replicas = o.dig(s, "spec", "replicas")
    desired = 1 if spec_replicas is None else o.num(spec_replicas)
    ready = o.num(o.dig(s, "status", "readyReplicas"))
    current = _gen_current(s)
    state = f"{ready}/{desired} ready" + ("" if current else ", new spec not yet observed")
    return _verdict(_label(cluster, ns, name), current and ready >= desired, want, state)


def _daemonset(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    cluster, ns, name = _ns_name(check.target)
    want = _flag(check, "ready")
    d = ctx.clients.for_cluster(cluster).get("daemonsets", name, ns)
    st = o.mapping(d.get("status"))
    desired, ready = o.num(st.get("desiredNumberScheduled")), o.num(st.get("numberReady"))
    current = _gen_current(d)
    state = f"{ready}/{desired} scheduled pods ready" + ("" if current else ", new spec not yet observed")
    return _verdict(_label(cluster, ns, name), current and ready >= desired, want, state)


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    cond = o.condition(pod, "Ready")
    return (o.text(o.dig(pod, "status", "phase")) == "Running" and cond is not None
            and cond.get("status") == "True" and not o.dig(pod, "metadata", "deletionTimestamp"))


def _pod(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    cluster, ns, name = _ns_name(check.target)
    want = _flag(check, "ready")
    pod = ctx.clients.for_cluster(cluster).get("pods", name, ns)
    ready = _pod_ready(pod)
    state = f"{o.pod_status(pod)}, {'ready' if ready else 'not ready'}"
    return _verdict(_label(cluster, ns, name), ready, want, state)


def _pods(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    cluster, ns = split_cluster(check.target)
    if not ns or "/" in ns:
        raise _Malformed(f"pods check: target {check.target!r} must be a namespace (NS or CLUSTER:NS)")
    selector = _required(check, "selector")
    want = _required(check, "ready")
    if not isinstance(selector, str) or not selector.strip():
        raise _Malformed("pods check: selector must be a label selector string such as 'app=web'")
    if want != "all" and (isinstance(want, bool) or not isinstance(want, int) or want < 0):
        raise _Malformed(f"pods check: ready must be a count >= 0 or 'all', got {want!r}")
    pods = [p for p in ctx.clients.for_cluster(cluster).list("pods", ns, label_selector=selector)
            if not o.dig(p, "metadata", "deletionTimestamp")
            and o.text(o.dig(p, "status", "phase")) not in ("Succeeded", "Failed")]
    ready = sum(1 for p in pods if _pod_ready(p))
    where = f"{cluster + ':' if cluster else ''}{ns} pods {selector}"
    if want == "all":
        ok = bool(pods) and ready == len(pods)
        return ok, f"{where}: {ready}/{len(pods)} ready" + ("" if pods else " (no pods match)")
    return ready >= want, f"{where}: {ready} ready (want {want}), {len(pods)} in total"


def _service(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    cluster, ns, name = _ns_name(check.target)
    want = _flag(check, "has_endpoints")
    client = ctx.clients.for_cluster(cluster)
    client.get("services", name, ns)  # NotFound names the service when it does not exist
    ready = 0
    source = "EndpointSlices"
    try:
        for sl in client.list("endpointslices", ns, label_selector=f"kubernetes.io/service-name={name}"):
            for ep in o.items(sl.get("endpoints")):
                if o.dig(ep, "conditions", "ready") is not False:  # unset means ready (discovery.k8s.io/v1)
                    ready += max(1, len(ep.get("addresses") or []))
    except ProphetError as e:  # a cluster without EndpointSlices (or no right to read them): Endpoints
        log.debug("endpointslices unavailable for %s/%s: %s", ns, name, e)
        ready = -1
    if ready <= 0:
        source = "Endpoints"
        try:
            eps = client.get("endpoints", name, ns)
        except ProphetError:
            eps = {}
        ready = sum(len(sub.get("addresses") or []) for sub in o.items(eps.get("subsets")))
    state = f"{ready} ready endpoint{'s' if ready != 1 else ''}" + (f" ({source})" if ready else "")
    return _verdict(_label(cluster, ns, name), ready > 0, want, state)


def _pvc(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    cluster, ns, name = _ns_name(check.target)
    want = _required(check, "phase")
    pvc = ctx.clients.for_cluster(cluster).get("persistentvolumeclaims", name, ns)
    phase = o.text(o.dig(pvc, "status", "phase"), "Pending")
    return phase == want, f"{_label(cluster, ns, name)}: {phase}" + ("" if phase == want else f" (want {want})")


def _reasons(pod: Mapping[str, Any]) -> Iterable[tuple[str, str, datetime | None]]:
    """(container, reason, when) for each waiting / terminated / last-terminated state of a pod's containers.

    A waiting state is current (when = None: "now"); terminated states carry their finishedAt.
    """
    for init in (True, False):
        for cs in o.container_statuses(pod, init=init):
            cname = o.text(cs.get("name"))
            for key in ("state", "lastState"):
                state = o.mapping(cs.get(key))
                waiting = o.mapping(state.get("waiting"))
                if key == "state" and waiting.get("reason"):
                    yield cname, o.text(waiting.get("reason")), None
                term = o.mapping(state.get("terminated"))
                if term.get("reason"):
                    when = o.parse_time(term.get("finishedAt")) or o.parse_time(term.get("startedAt"))
                    yield cname, o.text(term.get("reason")), when


def _no_pod_reason(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    reason = check.target.strip()
    if not reason:
        raise _Malformed("no_pod_reason check: target must be the reason (e.g. OOMKilled)")
    ns_text = _required(check, "namespace")
    if not isinstance(ns_text, str):
        raise _Malformed("no_pod_reason check: namespace must be a string (NS or CLUSTER:NS)")
    cluster, ns = split_cluster(ns_text)
    since = ctx.since
    seen: list[str] = []
    for pod in ctx.clients.for_cluster(cluster).list("pods", ns):
        if o.dig(pod, "metadata", "deletionTimestamp"):
            continue  # on its way out; what it shows is history
        for cname, r, when in _reasons(pod):
            if r == reason and (since is None or when is None or when > since):
                seen.append(f"{o.name(pod)}/{cname}")
    where = f"{cluster + ':' if cluster else ''}{ns}"
    after = f" since {since.strftime('%H:%M:%S')}" if since else ""
    if not seen:
        return True, f"{where}: no pod shows {reason}{after}"
    more = f" (+{len(seen) - 3} more)" if len(seen) > 3 else ""
    return False, f"{where}: {reason}{after} in {', '.join(sorted(seen)[:3])}{more}"


def _bound(check: Check, key: str) -> float | None:
    value = check.expect.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Malformed(f"metric check: {key} must be a number, got {value!r}")
    return float(value)


def _metric(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    below, above = _bound(check, "below"), _bound(check, "above")
    if below is None and above is None:
        raise _Malformed("a metric check needs below: X or above: X")
    assert ctx.prometheus is not None
    samples = [s for s in ctx.prometheus.instant(check.target) if not math.isnan(s.value)]
    bounds = " and ".join(t for t in (f"< {fmt_num(below)}" if below is not None else "",
                                      f"> {fmt_num(above)}" if above is not None else "") if t)
    if not samples:
        value = 0.0  # an empty vector: no series has a value, as an alert rule would see it
        shown = "no data (counts as 0)"
    else:  # every series must be within the bounds: judge the worst one
        value = max(s.value for s in samples) if below is not None else min(s.value for s in samples)
        shown = fmt_num(value) + (f" (worst of {len(samples)} series)" if len(samples) > 1 else "")
        if below is not None and above is not None:
            lo, hi = min(s.value for s in samples), max(s.value for s in samples)
            ok = hi < below and lo > above
            return ok, f"{check.target} = {fmt_num(lo)}..{fmt_num(hi)} (want {bounds})"
    ok = (below is None or value < below) and (above is None or value > above)
    return ok, f"{check.target} = {shown} (want {bounds})"


def _object(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    path = ObjectPath.parse(check.target)
    expr = _required(check, "jsonpath")
    want = _required(check, "equals")
    if not isinstance(expr, str):
        raise _Malformed("object check: jsonpath must be a string such as '{.spec.replicas}'")
    compiled = jsonpath.compile_path(expr)
    obj = path.get(ctx.clients.for_cluster(path.cluster))
    values = compiled.find(obj)
    shown = jsonpath.render(values) if values else "(nothing)"
    ok = _equals(values, want)
    return ok, f"{path} {expr} = {shown}" + ("" if ok else f" (want {jsonpath.format_value(want)})")


def _equals(values: list[Any], want: Any) -> bool:
    """kubectl's view: one value equal to `want`, or the printed results equal to `want` printed."""
    if len(values) == 1:
        v = values[0]
        if isinstance(v, bool) or isinstance(want, bool):
            if isinstance(v, bool) and isinstance(want, bool):
                return v == want
        elif isinstance(v, int | float) and isinstance(want, int | float):
            return float(v) == float(want)
        elif v == want:
            return True
    if not values:
        return want is None or want == ""
    return jsonpath.render(values) == jsonpath.format_value(want)


def snapshot(path: str, ctx: CheckContext) -> Any:
    """What `unchanged` compares: the object's `spec` (for objects without one, e.g. a ConfigMap, everything
    but metadata and status). Raises the kube client's errors (NotFound ...)."""
    where = ObjectPath.parse(path)
    obj = where.get(ctx.clients.for_cluster(where.cluster))
    if "spec" in obj:
        return obj["spec"]
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def capture_baseline(checks: Iterable[Check], ctx: CheckContext) -> dict[str, Any]:
    """Snapshot every `unchanged` target into `ctx.baseline` (call before acting); returns the baseline.
    Objects that cannot be read are left out (their check is then skipped and says so)."""
    for check in checks:
        if check.kind == "unchanged" and check.target not in ctx.baseline:
            try:
                ctx.baseline[_baseline_key(check.target)] = snapshot(check.target, ctx)
            except ProphetError as e:
                log.warning("no baseline for %s: %s", check.target, e)
    return ctx.baseline


def _baseline_key(target: str) -> str:
    return str(ObjectPath.parse(target))


def _unchanged(check: Check, ctx: CheckContext) -> tuple[bool, str]:
    key = _baseline_key(check.target)
    before = ctx.baseline.get(key, ctx.baseline.get(check.target))
    now = snapshot(check.target, ctx)
    if now == before:
        return True, f"{key}: spec unchanged"
    changed = _changed_keys(before, now)
    return False, f"{key}: spec changed ({', '.join(changed[:5]) or 'value'}{' ...' if len(changed) > 5 else ''})"


def _changed_keys(before: Any, after: Any, prefix: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for k in sorted(set(before) | set(after), key=str):
            if before.get(k) != after.get(k):
                sub = _changed_keys(before.get(k), after.get(k), f"{prefix}.{k}")
                out.extend(sub or [f"{prefix}.{k}"])
        return out
    return [prefix or "."] if before != after else []


_FORMS: dict[str, Callable[[Check, CheckContext], tuple[bool, str]]] = {
    "deployment": _deployment, "statefulset": _statefulset, "daemonset": _daemonset, "pod": _pod, "pods": _pods,
    "service": _service, "pvc": _pvc, "no_pod_reason": _no_pod_reason, "metric": _metric, "object": _object,
    "unchanged": _unchanged,
}


def _skip_reason(check: Check, ctx: CheckContext) -> str:
    if check.kind == "metric" and ctx.prometheus is None:
        return f"{check.target}: not evaluated, no Prometheus configured (set PROPHET_PROMETHEUS__URL)"
    if check.kind == "unchanged":
        try:
            key = _baseline_key(check.target)
        except _Malformed:
            return ""
        if key not in ctx.baseline and check.target not in ctx.baseline:
            return f"{key}: not evaluated, no baseline was captured before acting"
    return ""


def _clip(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_DETAIL else line[:MAX_DETAIL - 3] + "..."


def evaluate(check: Check, ctx: CheckContext) -> CheckResult:
    """Judge one check now. Never raises for what the cluster or Prometheus answers (see the module doc)."""
    form = _FORMS.get(check.kind)
    if form is None:
        return CheckResult(check=check, ok=False,
                           detail=f"unknown check kind {check.kind!r}; allowed: {', '.join(CHECK_KINDS)}")
    skip = _skip_reason(check, ctx)
    if skip:
        return CheckResult(check=check, ok=False, skipped=True, detail=_clip(skip))
    try:
        ok, detail = form(check, ctx)
    except _Malformed as e:
        return CheckResult(check=check, ok=False, detail=_clip(f"malformed check: {e}"))
    except ProphetError as e:
        what = check.target or check.kind
        return CheckResult(check=check, ok=False, detail=_clip(f"{check.kind} {what}: {type(e).__name__}: {e}"))
    return CheckResult(check=check, ok=ok, detail=_clip(detail))


def evaluate_all(checks: Iterable[Check], ctx: CheckContext) -> list[CheckResult]:
    return [evaluate(c, ctx) for c in checks]


# -- scenario checks -----------------------------------------------------------------------------------
def check_from_scenario(spec: Any) -> Check:
    """A `domain.Check` from one `expect.recovered` entry: a parsed scenario check model
    (`prophet_sre.sim.scenario.checks`, anything with `model_dump`) or the plain mapping from the file."""
    data = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else spec
    if not isinstance(data, Mapping):
        raise _bad_form(data)
    keys = [k for k in CHECK_KINDS if k in data]
    if len(keys) != 1:
        raise _bad_form(data)
    kind = keys[0]
    target = data[kind]
    expect = {k: v for k, v in data.items() if k != kind}
    return Check(kind=kind, target=str(target), expect=expect)


def _bad_form(data: Any) -> InvalidInput:
    return InvalidInput(f"a check is a mapping with exactly one form key ({', '.join(CHECK_KINDS)}); got {data!r}")


__all__ = [
    "CHECK_KINDS", "CheckContext", "ObjectPath", "capture_baseline", "check_from_scenario", "evaluate",
    "evaluate_all", "snapshot", "split_cluster",
]

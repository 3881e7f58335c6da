"""Evidence gathering for the diagnoser: every finding source, plus what changed and what the events say.

The diagnoser (`agents/diagnoser.py`) is a pure function of findings; this module is the I/O that feeds
it, done the way an SRE opens an incident:

1. ask every finding source (`tools/analyze.py`: our analyzers, K8sGPT, Prometheus anomalies, Hubble
   east-west anomalies, Cluster API) on the default cluster and on each named cluster (kubeconfig
   contexts), with `Finding.ref.cluster` set for the named ones (and for the default one too when
   several clusters are in play, so a fleet answer names `mgmt:fleet/cluster/aws`);
2. add the trigger's own findings;
3. "what changed?": workloads whose current revision is recent (`recent_changes.py`: rollouts with the
   image/command/probe/selector change between revisions, and recent scale-ups);
4. "what do the events say?": recent Warning events of the trigger's target, of the pods the analyzers
   flagged (the kubelet's message often names the exact cause: `exec: "/app/backnd": no such file`),
   and of the reasons an event trigger fired on;
5. a little context the diagnoser cannot read itself: which pods a flagged Service's selector matches.

Bounded (at most `MAX_FINDINGS`, de-duplicated, most severe first) and never raising for a source:
anything that fails becomes a note. Time comparisons use the cluster's clock (`client.cluster_now()`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.agents import recent_changes as changes
from prophet_sre.config import Settings
from prophet_sre.domain import Finding, FindingSource, ResourceRef, Severity
from prophet_sre.errors import ProphetError
from prophet_sre.graphs.state import Trigger
from prophet_sre.tools.analyze import Scope, analyze, default_sources
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient, KubeClients
from prophet_sre.tools.kube.events import event_times, occurrences

log = logging.getLogger(__name__)

MAX_FINDINGS = 200
CHANGE_WINDOW_S = 900.0
"""How far back a rollout or scale-up counts as "recent" (15 minutes of the cluster's clock)."""
EVENT_WINDOW_S = 900.0
MAX_EVENT_FINDINGS = 30
MAX_EVENT_PODS = 8
"""Pods whose warning events are read (the most severe flagged ones)."""
_SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.ERROR: 1, Severity.WARNING: 2, Severity.INFO: 3}


class Gathered(BaseModel):
    """Everything gathered for one incident: findings for the diagnoser, notes on what degraded."""

    findings: list[Finding] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def gather(clients: KubeClients, settings: Settings, trigger: Trigger, *, clusters: Sequence[str] = ()) -> Gathered:
    """Findings from every source on the default cluster and each of `clusters`, plus context findings."""
    out = Gathered()
    named = [c for c in dict.fromkeys(clusters) if c]
    default_label = _default_label(clients, settings, named, out.notes)
    scope = Scope(namespace=trigger.namespace)
    found: list[Finding] = []
    targets: list[tuple[str, bool]] = [("", True)] + [(c, False) for c in named if c != default_label]
    for name, is_default in targets:
        try:
            client = clients.for_cluster(name)
        except ProphetError as e:
            out.notes.append(f"cluster {name or '(default)'}: {e}")
            continue
        label = default_label if is_default else name
        found += _cluster(client, settings, scope, trigger, label, is_default, out.notes)
    found = [f for f in trigger.findings if f.ref.cluster] + found
    out.findings = bound(found, MAX_FINDINGS)
    if len(found) > len(out.findings):
        out.notes.append(f"kept {len(out.findings)} of {len(found)} findings (the most severe; limit {MAX_FINDINGS})")
    return out


def _default_label(clients: KubeClients, settings: Settings, named: list[str], notes: list[str]) -> str:
    """The default cluster's name in refs: "" alone; its context name when other clusters are in play."""
    if not named:
        return ""
    if settings.kube.context:
        return settings.kube.context
    try:
        from kubernetes import config as kconfig

        path = str(clients.settings.kubeconfig.expanduser()) if clients.settings.kubeconfig else None
        _, active = kconfig.list_kube_config_contexts(config_file=path)
        return str((active or {}).get("name") or "")
    except Exception as e:  # noqa: BLE001 - in-cluster config has no contexts: refs stay unlabelled
        notes.append(f"default cluster name unknown ({type(e).__name__}); its findings carry no cluster")
        return ""


def _cluster(client: KubeClient, settings: Settings, scope: Scope, trigger: Trigger, label: str,
             is_default: bool, notes: list[str]) -> list[Finding]:
    where = f"cluster {label}: " if label else ""
    try:
        now = client.cluster_now()
    except Exception as e:  # noqa: BLE001 - cluster_now already degrades; anything else is a note
        notes.append(f"{where}cluster clock unreadable ({type(e).__name__}: {e})")
        return []
    # Metrics and flows are configured for the default cluster only: asking the same Prometheus for a
    # named cluster would attribute the default cluster's series to it.
    s = settings if is_default else settings.model_copy(update={
        "prometheus": settings.prometheus.model_copy(update={"url": None}),
        "hubble": settings.hubble.model_copy(update={"address": None})})
    try:
        sources = default_sources(client, s)
    except Exception as e:  # noqa: BLE001
        notes.append(f"{where}finding sources could not be built ({type(e).__name__}: {e})")
        return []
    _use_cluster_clock(sources, now)
    read = _keep_flows(sources)
    report = analyze(sources, scope)
    notes += [where + n for n in report.notes]
    # the trigger's own findings about this cluster come first (they are why we are here)
    own = [f for f in trigger.findings if not f.ref.cluster] if is_default else []
    found = own + list(report.findings)
    context = _safe("recent changes", lambda: changes.recent_changes(client, scope.namespace, now,
                                                                      window_s=CHANGE_WINDOW_S), notes, where)
    context += _safe("events", lambda: _events(client, trigger, found, now), notes, where)
    findings = found + context
    findings += _safe("pod status", lambda: pod_context(client, trigger, findings, now), notes, where)
    if is_default and settings.prometheus.url:
        findings += _safe("saturation", lambda: saturation(settings), notes, where)
    if is_default and settings.hubble.address:
        findings += _safe("latency", lambda: slow_edges(settings, scope, now, read[-1].flows if read else None),
                          notes, where)
    _safe("service selectors", lambda: _service_context(client, findings), notes, where)
    if label:
        findings = [_labelled(f, label) for f in findings]
    return findings


def _safe(step: str, fn: Callable[[], list[Finding]], notes: list[str], where: str) -> list[Finding]:
    try:
        return fn()
    except ProphetError as e:
        notes.append(f"{where}{step}: {e}")
    except Exception as e:  # noqa: BLE001 - a context step's bug must not lose the sources' findings
        log.exception("gather step %s failed", step)
        notes.append(f"{where}{step}: failed ({type(e).__name__}: {e})")
    return []


def _use_cluster_clock(sources: list[Any], now: datetime) -> None:
    """Hubble flows carry the cluster's timestamps: judge their windows on the cluster's clock."""
    from prophet_sre.tools.eastwest import HubbleSource

    for src in sources:
        if isinstance(src, HubbleSource):
            src.tool.now = lambda: now


def _keep_flows(sources: list[Any]) -> list[Any]:
    """The flow batches the east-west source reads during this look (for `slow_edges` to reuse)."""
    from prophet_sre.tools.eastwest import HubbleSource

    kept: list[Any] = []
    for src in sources:
        if isinstance(src, HubbleSource):
            read = src.tool.flows

            def keep(*args: Any, _read: Any = read, **kw: Any) -> Any:
                batch = _read(*args, **kw)
                kept.append(batch)
                return batch

            src.tool.flows = keep
    return kept


def _labelled(f: Finding, cluster: str) -> Finding:
    def lab(r: ResourceRef | None) -> ResourceRef | None:
        return r if r is None or r.cluster else r.model_copy(update={"cluster": cluster})
    return f.model_copy(update={"ref": lab(f.ref), "parent": lab(f.parent)})


# -- events ------------------------------------------------------------------------------------------------
def _event_reasons(trigger: Trigger) -> set[str]:
    raw = trigger.details.get("eventReasons") or trigger.details.get("event_reasons") or []
    return {str(r) for r in raw} if isinstance(raw, list | tuple) else set()


def _events(client: KubeClient, trigger: Trigger, findings: list[Finding], now: datetime) -> list[Finding]:
    """Recent non-Normal events of the trigger's target, the flagged pods and the trigger's reasons."""
    reasons = _event_reasons(trigger)
    pods = [f for f in findings if f.ref.kind == "Pod" and f.source == FindingSource.ANALYZER]
    pods.sort(key=lambda f: (_SEVERITY_RANK[f.severity], f.ref.name))
    wanted_pods = {(f.ref.namespace, f.ref.name) for f in pods[:MAX_EVENT_PODS]}
    target = trigger.target
    if not (reasons or wanted_pods or target):
        return []
    namespaces = {ns for ns, _ in wanted_pods} | ({target.namespace} if target else set())
    scope = trigger.namespace if trigger.namespace else (next(iter(namespaces)) if len(namespaces) == 1 else None)
    events = client.list("events", scope, field_selector="type!=Normal")
    since = now - timedelta(seconds=EVENT_WINDOW_S)
    groups: dict[tuple[str, str, str, str, str], tuple[dict[str, Any], int, datetime | None]] = {}
    for ev in events:
        inv = o.mapping(ev.get("involvedObject")) or o.mapping(ev.get("regarding"))
        kind, ns, name = o.text(inv.get("kind")), o.text(inv.get("namespace")) or o.namespace(ev), o.text(inv.get("name"))
        reason = o.text(ev.get("reason"))
        _, last = event_times(ev)
        if last is not None and last < since:
            continue
        about_target = target is not None and ns == target.namespace and (
            name == target.name or name.startswith(target.name + "-"))
        if not ((kind == "Pod" and (ns, name) in wanted_pods) or about_target or reason in reasons):
            continue
        key = (kind, ns, name, reason, o.text(ev.get("message")))
        prev = groups.get(key)
        count = occurrences(ev) + (prev[1] if prev else 0)
        newest = max((t for t in (last, prev[2] if prev else None) if t is not None), default=None)
        groups[key] = (ev, count, newest)
    out = []
    for (kind, ns, name, reason, message), (ev, count, last) in sorted(
            groups.items(), key=lambda kv: (kv[1][2] or since), reverse=True)[:MAX_EVENT_FINDINGS]:
        if not message:
            continue
        ref = ResourceRef(kind=kind or "Pod", namespace=ns, name=name)
        out.append(Finding(source=FindingSource.EVENT, analyzer=f"event.{reason or 'Unknown'}", ref=ref,
                           errors=[message[:500]], severity=Severity.WARNING, parent=_pod_parent(ref),
                           evidence={"reason": reason, "count": count, "type": o.text(ev.get("type")),
                                     "last": last.isoformat() if last else ""}))
    return out


_POD_OF_DEPLOYMENT = re.compile(r"^(?P<name>.+)-[0-9a-f]{6,10}-[0-9a-z]{5}$")


def _pod_parent(ref: ResourceRef) -> ResourceRef | None:
    if ref.kind != "Pod":
        return None
    m = _POD_OF_DEPLOYMENT.match(ref.name)
    return ResourceRef(kind="Deployment", namespace=ref.namespace, name=m["name"]) if m else None


# -- pods: what `kubectl describe pod` adds ----------------------------------------------------------------
MAX_STATUS_PODS = 12
MAX_LOG_PODS = 3
"""Crashed containers whose previous logs are read (one per pod, the first pods in question)."""
LOG_LINES = 3


def _pods_in_question(trigger: Trigger, findings: list[Finding]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(namespace, pod) named by findings, and (namespace, workload name) of the trigger's target and of
    the workloads findings point at."""
    pods: set[tuple[str, str]] = set()
    owners: set[tuple[str, str]] = set()
    for f in findings:
        if f.ref.kind == "Pod" and f.ref.namespace:
            pods.add((f.ref.namespace, f.ref.name))
            if f.parent is not None and f.parent.kind in ("Deployment", "StatefulSet", "DaemonSet"):
                owners.add((f.parent.namespace, f.parent.name))
    t = trigger.target
    if t is not None and t.namespace and t.kind in ("Deployment", "StatefulSet", "DaemonSet", "Pod"):
        owners.add((t.namespace, t.name))
    return pods, owners


def pod_context(client: KubeClient, trigger: Trigger, findings: list[Finding], now: datetime) -> list[Finding]:
    """What an SRE reads in `kubectl describe pod` of the pods in question: a container's last termination
    (OOMKilled, exit code 1) explains a restart that the current state - running, probe failing while it
    starts again - hides; for a container that exited with an error, the last lines it printed
    (`kubectl logs --previous`) usually say why. Also marks each finding about a pod with how that pod is now (`pod_now`: ready /
    not ready / gone; `running_s`: since its containers last started): a probe that failed while a pod
    started, on a pod that is ready now or still starting, is a start-up, not the problem."""
    pods, owners = _pods_in_question(trigger, findings)
    namespaces = sorted({ns for ns, _ in pods} | {ns for ns, _ in owners})[:3]
    if not namespaces:
        return []
    live: dict[tuple[str, str], dict[str, Any]] = {}
    for ns in namespaces:
        for p in client.list("pods", ns):
            live[(ns, o.name(p))] = p
    for i, f in enumerate(findings):
        if f.ref.kind == "Pod" and f.source in (FindingSource.EVENT, FindingSource.ANALYZER, FindingSource.K8SGPT):
            p = live.get((f.ref.namespace, f.ref.name))
            extra: dict[str, Any] = {"pod_now": "gone" if p is None else "ready" if _ready(p) else "not ready"}
            started = _started(p) if p is not None else None
            if started is not None:
                extra["running_s"] = round(max(0.0, (now - started).total_seconds()), 1)
            findings[i] = f.model_copy(update={"evidence": {**f.evidence, **extra}})
    chosen = [k for k in sorted(live) if k in pods]
    chosen += [k for k in sorted(live) if k not in pods and _owned_by(live[k], owners)]
    since = now - timedelta(seconds=EVENT_WINDOW_S)
    out: list[Finding] = []
    logs_read = 0
    for ns, name in chosen[:MAX_STATUS_PODS]:
        p = live[(ns, name)]
        for cs in o.container_statuses(p, init=True) + o.container_statuses(p):
            last = o.mapping(o.dig(cs, "lastState", "terminated"))
            finished = o.parse_time(last.get("finishedAt"))
            if not last or (finished is not None and finished < since):
                continue
            reason = o.text(last.get("reason")) or "Unknown"
            code = o.num(last.get("exitCode"))
            if reason == "Completed" and code == 0:
                continue
            msg = " ".join(o.text(last.get("message")).split())[:200]
            tail = ""
            if reason != "OOMKilled" and logs_read < MAX_LOG_PODS:
                logs_read += 1
                tail = _last_words(client, ns, name, o.text(cs.get("name")))
            text = (f"container {o.text(cs.get('name'))} of pod {name} restarted {o.num(cs.get('restartCount'))} "
                    f"time(s); the last termination reason is {reason} (exit code {code})"
                    + (f": {msg}" if msg else "") + (f"; its last log lines: {tail}" if tail else ""))
            kind, wname = o.workload_of(p)
            parent = ResourceRef(kind=kind, namespace=ns, name=wname) if kind != "Pod" else None
            out.append(Finding(source=FindingSource.ANALYZER, analyzer="PodStatus", severity=Severity.ERROR,
                               ref=ResourceRef(kind="Pod", namespace=ns, name=name), parent=parent, errors=[text],
                               evidence={"reason": reason, "exit_code": code, "container": o.text(cs.get("name")),
                                         "restarts": o.num(cs.get("restartCount")),
                                         "finished": finished.isoformat() if finished else ""}))
    return out


def _last_words(client: KubeClient, namespace: str, pod: str, container: str) -> str:
    """The last lines the crashed container printed (`kubectl logs --previous --tail`), quoted, bounded;
    "" when the kubelet kept none. Log text is the application's: it may only ever select a category."""
    try:
        text = client.log(namespace, pod, container=container, previous=True, tail=LOG_LINES, limit_bytes=4096)
    except ProphetError:
        return ""
    lines = [" ".join(x.split()) for x in text.splitlines() if x.strip()][-LOG_LINES:]
    joined = " | ".join(lines)
    return f'"{joined[:400]}"' if joined else ""


def _ready(pod: dict[str, Any]) -> bool:
    return o.text(o.dig(pod, "status", "phase")) == "Running" and \
        o.text((o.condition(pod, "Ready") or {}).get("status")) == "True"


def _started(pod: dict[str, Any]) -> datetime | None:
    """When the pod's containers last (re)started: the latest running container's start."""
    times = [o.parse_time(o.dig(cs, "state", "running", "startedAt")) for cs in o.container_statuses(pod)]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _owned_by(pod: dict[str, Any], owners: set[tuple[str, str]]) -> bool:
    kind, name = o.workload_of(pod)
    return kind != "Pod" and (o.namespace(pod), name) in owners


# -- saturation: limits that are full right now --------------------------------------------------------------
POOL_FULL = 0.95
SATURATION_QUERIES = (
    ("db_pool_saturation", "max by (namespace, service) (db_pool_connections_in_use / (db_pool_connections_max > 0))"),
    ("db_pool_waiting", "sum by (namespace, service) (db_pool_connections_waiting)"),
)


def saturation(settings: Settings) -> list[Finding]:
    """Connection pools that are full now (instant queries, no baseline needed): a pool at its size with
    requests queueing for a connection is exhausted whatever it looked like an hour ago. The anomaly
    detector needs a baseline; this needs none, so it also answers minutes after the fault."""
    from prophet_sre.tools.prometheus import PrometheusTool

    assert settings.prometheus.url
    tool = PrometheusTool.from_settings(settings)
    values: dict[tuple[str, str], dict[str, float]] = {}
    for name, promql in SATURATION_QUERIES:
        for smp in tool.instant(promql):
            ns, svc = smp.labels.get("namespace", ""), smp.labels.get("service", "")
            if ns and svc and smp.value == smp.value:  # NaN: 0/0
                values.setdefault((ns, svc), {})[name] = smp.value
    out = []
    for (ns, svc), v in sorted(values.items()):
        used, waiting = v.get("db_pool_saturation", 0.0), v.get("db_pool_waiting", 0.0)
        if used < POOL_FULL or waiting <= 0:
            continue
        text = (f"service {ns}/{svc}: DB connection pool exhausted: {used:.0%} of its connections in use and "
                f"{waiting:.0f} request(s) waiting for a connection")
        out.append(Finding(source=FindingSource.PROMETHEUS, analyzer="db_pool_waiting", severity=Severity.ERROR,
                           ref=ResourceRef(kind="Service", namespace=ns, name=svc), errors=[text],
                           evidence={"in_use_ratio": round(used, 3), "waiting": round(waiting, 1)}))
    return out[:10]


LATENCY_WINDOW_S = 300.0


def slow_edges(settings: Settings, scope: Scope, now: datetime, flows: Sequence[Any] | None = None) -> list[Finding]:
    """Where latency originates, from Hubble's L7 flows of the last five minutes (`agents/latency.py`).
    `flows`: flows already read for this look (the east-west source's, a longer window) - reading the
    relay's ring twice costs seconds on a busy cluster; without them the relay is asked."""
    from prophet_sre.agents.latency import slow_services
    from prophet_sre.tools.hubble import HubbleTool
    from prophet_sre.tools.hubble_flows import FlowFilterSpec

    if flows is not None:
        since = now - timedelta(seconds=LATENCY_WINDOW_S)
        return slow_services([f for f in flows if f.time >= since], now)
    assert settings.hubble.address
    spec = FlowFilterSpec(namespace=[scope.namespace]) if scope.namespace else None
    with HubbleTool(settings.hubble.address, timeout_s=settings.hubble.timeout_s, now=lambda: now) as tool:
        batch = tool.flows(spec, since=LATENCY_WINDOW_S)
    return slow_services(batch.flows, now)


# -- services --------------------------------------------------------------------------------------------
MAX_SERVICES = 20


def _service_context(client: KubeClient, findings: list[Finding]) -> list[Finding]:
    """Context on flagged Services, in their evidence: the workloads whose pods a Service selects (a metric
    on Service `backend` is about Deployment `backend`'s pods), and for one with no endpoints how many pods
    its selector matches and the label values its namespace's pods carry (a typo'd selector shows at once)."""
    pods_by_ns: dict[str, list[dict[str, Any]]] = {}
    services: dict[tuple[str, str], dict[str, Any] | None] = {}

    def pods_in(ns: str) -> list[dict[str, Any]]:
        if ns not in pods_by_ns:
            pods_by_ns[ns] = client.list("pods", ns)
        return pods_by_ns[ns]

    for i, f in enumerate(findings):
        if f.ref.kind != "Service" or not f.ref.namespace:
            continue
        key = (f.ref.namespace, f.ref.name)
        if key not in services and len(services) < MAX_SERVICES:
            try:
                services[key] = client.get("services", f.ref.name, f.ref.namespace)
            except ProphetError:
                services[key] = None
        svc = services.get(key)
        selector = o.str_map(o.dig(svc, "spec", "selector")) if svc is not None else {}
        if not selector:
            continue
        matching = [p for p in pods_in(f.ref.namespace) if o.matches_labels(selector, o.labels(p))]
        workloads = sorted({"/".join(o.workload_of(p)) for p in matching})
        evidence = {**f.evidence, "workloads": workloads[:5]}
        if f.source == FindingSource.ANALYZER and any("has no endpoints" in e for e in f.errors):
            findings[i] = f.model_copy(update={"evidence": _no_endpoints(evidence, selector, pods_in(f.ref.namespace),
                                                                         matching)})
        else:
            findings[i] = f.model_copy(update={"evidence": evidence})
    return []


def _no_endpoints(evidence: dict[str, Any], selector: dict[str, str], pods: list[dict[str, Any]],
                  matching: list[dict[str, Any]]) -> dict[str, Any]:
    values = {k: sorted({o.labels(p)[k] for p in pods if k in o.labels(p)})[:10] for k in selector}
    return {**evidence, "selector_matches": len(matching), "label_values": values}


# -- bounds ---------------------------------------------------------------------------------------------------
def _key(f: Finding) -> tuple[str, str, str, str, str, tuple[str, ...]]:
    return (f.ref.cluster, f.ref.kind.lower(), f.ref.namespace, f.ref.name, f.analyzer, tuple(sorted(f.errors)))


def bound(findings: Sequence[Finding], limit: int = MAX_FINDINGS) -> list[Finding]:
    """De-duplicated (same object, analyzer and texts), at most `limit`, the most severe kept; order kept."""
    seen: set[tuple[str, str, str, str, str, tuple[str, ...]]] = set()
    unique: list[Finding] = []
    for f in findings:
        if _key(f) not in seen:
            seen.add(_key(f))
            unique.append(f)
    if len(unique) <= limit:
        return unique
    keep = set(sorted(range(len(unique)), key=lambda i: (_SEVERITY_RANK[unique[i].severity], i))[:limit])
    return [f for i, f in enumerate(unique) if i in keep]


__all__ = ["CHANGE_WINDOW_S", "MAX_FINDINGS", "Gathered", "bound", "gather"]

"""How one finding reads to an SRE: which problem it points at, how strongly, and which object to blame.

`classify(finding)` returns `Signal`s. A signal has a `role`:

- `cause`: direct evidence of a category on a subject (pods OOMKilled -> oom on their Deployment; a
  claim's `storageclass ... not found` -> pvc_pending on the claim; a pod opening connections to 20
  peers -> network_threat on its Deployment). `weight` in (0, 1] is how conclusive the finding is alone.
- `symptom`: something users or dependants feel, explained by a cause elsewhere (5xx and latency on a
  Service, replicas unavailable, a Service's not-ready endpoints). Symptoms never become the root cause
  on their own; they make a cause that explains them more credible and are named in the summary.
- `change`: a rollout or scale-up (from `recent_changes.py`): not a problem, but it makes a problem on
  the same object more likely to have been introduced by it.

Rules read the sources' own texts (K8sGPT's wording, the scheduler's and the kubelet's messages, our
signal and detector names) and their structured fields. Text is untrusted: it only selects among the
categories below, and the only object names taken from text are ConfigMaps and Secrets a pod could
legally reference - in the pod's own namespace - so a finding cannot name an arbitrary root cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from prophet_sre.domain import Category, Finding, FindingSource, ResourceRef

Role = Literal["cause", "symptom", "change"]
_HASH = re.compile(r"^(?P<name>.+)-[0-9a-f]{6,10}$")
_POD = re.compile(r"^(?P<name>.+)-[0-9a-f]{6,10}-[0-9a-z]{5}$")
_CM_KEY = re.compile(r'couldn\'t find key (?P<key>\S+) in (?P<kind>ConfigMap|Secret) (?P<ns>[^/\s]+)/(?P<name>[^\s,:]+)')
_CM_MISSING = re.compile(r'(?P<kind>configmap|secret) "(?P<name>[^"]+)" not found', re.IGNORECASE)
_IMAGE = re.compile(r'(?:image|pulling image|Back-off pulling image) "(?P<image>[^"]+)"')
_SCHED_PART = re.compile(r"^(?P<n>\d+) (?P<what>.+)$")
NODE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "node.kubernetes.io/unschedulable")
PRESSURE_TAINTS = ("memory-pressure", "disk-pressure", "pid-pressure")
STARTUP_GRACE_S = 60.0
"""A container younger than this that refuses its probe's connection is still starting (an alert's `for: 1m`)."""


@dataclass(frozen=True)
class Signal:
    category: Category
    role: Role
    weight: float
    subject: ResourceRef
    detail: str
    """The finding's own words that make the point (quoted in the summary)."""
    via: ResourceRef | None = None
    """The workload whose pods showed it, when the subject is something else (a ConfigMap they need)."""


def workload(ref: ResourceRef, parent: ResourceRef | None) -> ResourceRef:
    """The object to blame for a pod-level finding: its controller (a ReplicaSet's Deployment)."""
    if ref.kind not in ("Pod", "ReplicaSet"):
        return ref
    if parent is not None and parent.kind != "ReplicaSet":
        return parent
    name = parent.name if parent is not None else ref.name
    m = (_HASH if parent is not None or ref.kind == "ReplicaSet" else _POD).match(name)
    if m:
        return ResourceRef(cluster=ref.cluster, kind="Deployment", namespace=ref.namespace, name=m["name"])
    return parent or ref


def _sig(cat: Category, w: float, subject: ResourceRef, detail: str, role: Role = "cause",
         via: ResourceRef | None = None) -> Signal:
    return Signal(cat, role, w, subject, detail[:300], via)


def classify(f: Finding) -> list[Signal]:
    """Every signal one finding carries (often one; none for pure noise)."""
    subj = workload(f.ref, f.parent)
    if f.analyzer in ("rollout", "scale"):
        return [_sig(Category.BAD_ROLLOUT, 0.0, f.ref, f.errors[0] if f.errors else "", "change")]
    if f.source == FindingSource.CAPI:
        return _capi(f)
    if f.source == FindingSource.PROMETHEUS:
        return _prometheus(f, subj)
    if f.source == FindingSource.HUBBLE:
        return _hubble(f, subj)
    out: list[Signal] = []
    for text in f.errors:
        out += _text(f, subj, text)
    if not out and f.ref.kind == "Pod" and f.source in (FindingSource.ANALYZER, FindingSource.K8SGPT):
        status = str(f.evidence.get("status", ""))
        if status in ("CrashLoopBackOff", "Error"):
            out.append(_sig(Category.CRASHLOOP, 0.6, subj, f"pods are in {status}"))
    return out


# -- per source ----------------------------------------------------------------------------------------------
def _capi(f: Finding) -> list[Signal]:
    text = f.errors[0] if f.errors else f"{f.ref.kind} {f.ref.name} is not healthy"
    if f.ref.kind == "Cluster":
        return [_sig(Category.CLUSTER_DEGRADED, 0.9, f.ref, text)]
    if f.ref.kind == "MachineDeployment":
        return [_sig(Category.CLUSTER_DEGRADED, 0.5, f.parent or f.ref, text)]
    return [_sig(Category.CLUSTER_DEGRADED, 0.3, f.parent or f.ref, text)]


def served_by(f: Finding) -> ResourceRef | None:
    """The one workload whose pods a Service finding is about (gather's `workloads` evidence), if known."""
    found = f.evidence.get("workloads")
    if f.ref.kind != "Service" or not isinstance(found, list) or len(found) != 1:
        return None
    kind, _, name = str(found[0]).partition("/")
    if not name or kind == "Pod":
        return None
    return ResourceRef(cluster=f.ref.cluster, kind=kind, namespace=f.ref.namespace, name=name)


def _prometheus(f: Finding, subj: ResourceRef) -> list[Signal]:
    text = f.errors[0] if f.errors else f.analyzer
    subj = served_by(f) or subj
    a = f.analyzer
    if a in ("db_pool_saturation", "db_pool_timeouts", "db_pool_waiting"):
        return [_sig(Category.RESOURCE_EXHAUSTION, 0.75, subj, text)]
    if a == "memory_vs_limit":
        return [_sig(Category.OOM, 0.45, subj, text)]
    if a == "cpu_throttling":
        return [_sig(Category.RESOURCE_EXHAUSTION, 0.3, subj, text)]
    if a == "restarts":
        return [_sig(Category.CRASHLOOP, 0.4, subj, text)]
    return [_sig(Category.UNKNOWN, 0.0, subj, text, "symptom")]  # error ratio, latency: felt, not caused


def _hubble(f: Finding, subj: ResourceRef) -> list[Signal]:
    text = f.errors[0] if f.errors else f.analyzer
    if f.analyzer == "eastwest.fanout":
        return [_sig(Category.NETWORK_THREAT, 0.85, subj, text + " - a port/host scan signature")]
    if f.analyzer == "eastwest.latency_origin":  # several times slower while what it calls is not: it queues
        return [_sig(Category.RESOURCE_EXHAUSTION, 0.6, subj, text)]
    if f.analyzer == "eastwest.latency":
        return [_sig(Category.UNKNOWN, 0.0, subj, text, "symptom")]
    if f.analyzer == "eastwest.new_edge":
        return [_sig(Category.NETWORK_THREAT, 0.25, subj, text)]
    if f.analyzer == "eastwest.dns":
        rcodes = f.evidence.get("rcodes") if isinstance(f.evidence.get("rcodes"), dict) else {}
        servfail = any("SERVFAIL" in str(k) or "REFUSED" in str(k) for k in rcodes)
        # SERVFAIL: the resolver is broken (blame it only with evidence on it); NXDOMAIN: the client asks
        # for names that do not exist (its configuration)
        return [_sig(Category.DNS, 0.4 if servfail else 0.55, subj, text)]
    if f.analyzer == "eastwest.drops":
        reasons = f.evidence.get("reasons") if isinstance(f.evidence.get("reasons"), dict) else {}
        if f.ref.kind == "Service" or any("BACKEND_NOT_FOUND" in str(r) for r in reasons):
            return [_sig(Category.SERVICE_SELECTOR, 0.3, f.ref, text, "symptom")]
        if any("POLICY" in str(r) for r in reasons):
            return [_sig(Category.NETWORK_THREAT, 0.3, subj, text)]
        return [_sig(Category.UNKNOWN, 0.0, subj, text, "symptom")]
    return []


# -- texts ------------------------------------------------------------------------------------------------------
def _text(f: Finding, subj: ResourceRef, text: str) -> list[Signal]:  # noqa: PLR0911, PLR0912 - a rule table
    low = text.lower()
    kind = f.ref.kind
    ns = f.ref.namespace
    if kind == "Node":
        return _node(f, text)
    if kind == "PersistentVolumeClaim":
        return [_sig(Category.PVC_PENDING, 0.85, f.ref, text)]
    if "oomkilled" in low or "oomkilling" in low or "out of memory" in low or f.analyzer == "event.OOMKilling":
        return [_sig(Category.OOM, 0.85 if "oomkilled" in low else 0.5, subj, text)]
    if "exceeded quota" in low or "resourcequota" in low:
        return [_sig(Category.QUOTA, 0.85, subj, text)]
    if "must be less than or equal to" in low and ("limit" in low or "maximum" in low) or \
            "maximum cpu usage per" in low or "maximum memory usage per" in low:
        return [_sig(Category.QUOTA, 0.6, subj, text)]
    if m := _CM_KEY.search(text):
        return [_config(f, subj, m["kind"], m["ns"], m["name"], text)]
    if (m2 := _CM_MISSING.search(text)) and ("createcontainerconfigerror" in low or "not found" in low):
        return [_config(f, subj, m2["kind"].capitalize().replace("map", "Map"), ns, m2["name"], text)]
    if any(s in low for s in ("errimagepull", "imagepullbackoff", "pulling image", "pull access denied",
                              "manifest unknown", "invalidimagename", "failed to pull", "imagepullsecret")):
        return [_sig(Category.IMAGE_PULL, 0.85, subj, text)]
    if "probe failed" in low or f.analyzer == "event.Unhealthy":
        return [_probe(f, subj, text)]
    if "nodes are available" in low or f.analyzer == "event.FailedScheduling":
        return [_scheduling(subj, text)]
    if "unbound immediate persistentvolumeclaims" in low or "persistentvolumeclaim" in low and "not found" in low:
        return [_sig(Category.PVC_PENDING, 0.35, subj, text)]
    if "the node was low on resource" in low or "evicted" in low:
        return [_sig(Category.RESOURCE_EXHAUSTION, 0.5, subj, text)]
    if "forbidden" in low or "cannot get resource" in low or "cannot list resource" in low \
            or "serviceaccount" in low and "not found" in low or "unauthorized" in low:
        return [_sig(Category.RBAC, 0.7 if f.source != FindingSource.ANALYZER or f.analyzer != "Log" else 0.45,
                     subj, text)]
    if "no such host" in low or "nxdomain" in low or "servfail" in low or "name resolution" in low \
            or "dns" in low and ("timeout" in low or "fail" in low):
        return [_sig(Category.DNS, 0.45, subj, text)]
    if kind == "Service":
        return [_service(f, text)]
    if kind in ("StatefulSet",) and "storage class" in low:
        return [_sig(Category.PVC_PENDING, 0.75, f.ref, text)]
    if kind in ("Ingress", "StatefulSet") and "does not exist" in low:
        return [_sig(Category.CONFIG_MISSING, 0.5, f.ref, text)]
    if "pool" in low and any(s in low for s in ("exhaust", "timeout", "timed out", "saturat")):
        return [_sig(Category.RESOURCE_EXHAUSTION, 0.45, subj, text)]
    if "last termination reason is" in low or "back-off" in low and "restarting failed container" in low \
            or "crashloopbackoff" in low or "exec format error" in low or "executable file not found" in low \
            or "no such file or directory" in low and ("exec" in low or "stat" in low):
        return [_sig(Category.CRASHLOOP, 0.75, subj, text)]
    if "termination reason is" in low or "has failed" in low and kind == "Job":
        return [_sig(Category.CRASHLOOP, 0.45, subj, text)]
    if kind == "HorizontalPodAutoscaler":
        if "maximum" in low or "toomanyreplicas" in low or "scalinglimited" in low:
            return [_sig(Category.RESOURCE_EXHAUSTION, 0.35, _hpa_target(f), text)]
        return [_sig(Category.UNKNOWN, 0.0, f.ref, text, "symptom")]
    if "progressdeadlineexceeded" in low:
        return [_sig(Category.BAD_ROLLOUT, 0.3, subj, text)]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet") or f.analyzer == "Log":
        return [_sig(Category.UNKNOWN, 0.0, subj, text, "symptom")]
    if kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        return [_sig(Category.RBAC, 0.4, f.ref, text)]
    return []


def _probe(f: Finding, subj: ResourceRef, text: str) -> Signal:
    """A failing probe. The server's answer says how sure: an HTTP 404/401/403 or a missing exec command
    means the probe asks for something the container does not have (misconfigured); a refused connection
    only says nothing listens yet - a wrong port, or a container that is starting or crashing (then the
    crash is the cause); a 5xx means the program answers and says it is unhealthy (a bad build). A probe that failed on a pod that is ready now, or that refuses connections on a
    container started less than `STARTUP_GRACE_S` ago, is a start-up, not a problem."""
    low = text.lower()
    if "statuscode: 5" in low:  # the application answers and reports itself unhealthy: the build, not the probe
        return _sig(Category.BAD_ROLLOUT, 0.45, subj, text)
    if any(s in low for s in ("statuscode: 404", "statuscode: 401", "statuscode: 403", "no such file",
                              "not found")):
        weight = 0.8
    elif "connection refused" in low or "connect:" in low:
        weight = 0.5
    else:
        weight = 0.35
    now = f.evidence.get("pod_now")
    running = f.evidence.get("running_s")
    starting = weight < 0.8 and isinstance(running, int | float) and running < STARTUP_GRACE_S
    if now == "ready" or starting:
        return _sig(Category.PROBE_MISCONFIG, 0.1, subj, text, "symptom")
    if now == "gone":
        weight *= 0.5
    return _sig(Category.PROBE_MISCONFIG, weight, subj, text)


def _config(f: Finding, subj: ResourceRef, kind: str, ns: str, name: str, text: str) -> Signal:
    """A missing ConfigMap/Secret (key): blame the object the pod needs - only in the pod's namespace."""
    if f.ref.namespace and ns == f.ref.namespace:
        return _sig(Category.CONFIG_MISSING, 0.85, ResourceRef(cluster=f.ref.cluster, kind=kind, namespace=ns,
                                                                name=name), text, via=subj)
    return _sig(Category.CONFIG_MISSING, 0.6, subj, text)


def _node(f: Finding, text: str) -> list[Signal]:
    low = text.lower()
    if "type ready" in low or "notready" in low or "networkunavailable" in low or "kubelet stopped" in low:
        return [_sig(Category.NODE_FAILURE, 0.85, f.ref, text)]
    if "pressure" in low:
        return [_sig(Category.RESOURCE_EXHAUSTION, 0.45, f.ref, text)]
    return [_sig(Category.NODE_FAILURE, 0.4, f.ref, text)]


def _scheduling(subj: ResourceRef, text: str) -> Signal:
    """Read the scheduler's `0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had ...` by counts."""
    head = text.split("preemption:")[0]
    votes = {Category.RESOURCE_EXHAUSTION: 0, Category.UNSCHEDULABLE: 0, Category.NODE_FAILURE: 0,
             Category.PVC_PENDING: 0}
    reasons = head.split("available:", 1)[1] if "available:" in head else head
    for part in reasons.split(", "):
        m = _SCHED_PART.match(part.strip())
        if m is None:
            continue
        n, what = int(m["n"]), m["what"].lower()
        if "control-plane" in what or "master" in what:
            continue
        if "insufficient" in what or any(t in what for t in PRESSURE_TAINTS) or "too many pods" in what:
            votes[Category.RESOURCE_EXHAUSTION] += n
        elif any(t in what for t in NODE_TAINTS) or "were unschedulable" in what:
            votes[Category.NODE_FAILURE] += n
        elif "volume" in what or "persistentvolumeclaim" in what:
            votes[Category.PVC_PENDING] += n
        else:
            votes[Category.UNSCHEDULABLE] += n
    if "unbound immediate persistentvolumeclaims" in head.lower():
        votes[Category.PVC_PENDING] += 100
    best = max(votes.items(), key=lambda kv: kv[1])
    if best[1] == 0:
        return _sig(Category.UNSCHEDULABLE, 0.6, subj, text)
    weight = {Category.PVC_PENDING: 0.35, Category.NODE_FAILURE: 0.45}.get(best[0], 0.75)
    return _sig(best[0], weight, subj, text)


def _service(f: Finding, text: str) -> Signal:
    low = text.lower()
    if "has no endpoints" in low:
        matches = f.evidence.get("selector_matches")
        if isinstance(matches, int) and matches > 0:
            return _sig(Category.SERVICE_SELECTOR, 0.15, f.ref, text, "symptom")  # pods exist: they are the issue
        return _sig(Category.SERVICE_SELECTOR, 0.8 if matches == 0 else 0.55, f.ref, text)
    return _sig(Category.UNKNOWN, 0.0, f.ref, text, "symptom")  # not-ready endpoints, events


def _hpa_target(f: Finding) -> ResourceRef:
    target = str(f.evidence.get("target", ""))
    kind, _, name = target.partition("/")
    if kind and name:
        return ResourceRef(cluster=f.ref.cluster, kind=kind, namespace=f.ref.namespace, name=name)
    return f.ref


__all__ = ["Signal", "classify", "served_by", "workload"]

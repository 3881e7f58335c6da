"""The deterministic diagnoser: findings in, one root cause out - right without an LLM.

`diagnose(findings, trigger)` is a pure function (no I/O, no clock, no randomness): the same findings
always give the same `Diagnosis`, fast enough to run on every trigger. It reasons the way an SRE does:

1. Read each finding (`diagnosis_rules.classify`): a *cause* of some category on some object (pods
   OOMKilled -> oom on their Deployment), a *symptom* (5xx on the frontend Service), or a *change*
   (a rollout, a scale-up).
2. Collect causes per (object, category). Independent findings that agree add up (noisy-or: two pods
   OOMKilled are more convincing than one), capped so that many copies of one weak signal never look
   conclusive.
3. Follow the chain. A more specific cause absorbs a generic one on the same object (OOMKilled explains
   the crash loop and the restarts; where either could explain the other - a crash loop makes the probe
   fail, a failing liveness probe makes the container restart - the more conclusive finding decides); a degraded cluster absorbs every cause inside that cluster; a
   config object a workload's pods need absorbs that workload's generic failures. A recent change on the
   object (or on the workload whose pods showed it) means the change introduced it: the summary names
   the change, and the confidence rises. A change followed by symptoms on its workload with no specific
   cause is a bad rollout - or a misconfigured probe when the change touched only a probe and that probe
   now fails. A bad rollout younger than `SETTLING_S` is held below the confidence an SRE acts on: its
   pods may simply still be starting.
4. Rank: strength, then whether it explains the symptoms (the frontend's 5xx are explained by the
   backend it calls failing), then a fixed order of categories and names, so ties are deterministic.
5. Confidence is calibrated on the evidence: ~0.9 for strong direct evidence plus a change that
   introduced it, at most the finding's own weight (<= 0.5 for weak kinds) for a single signal, reduced
   when another object is almost as likely, and <= 0.2 for `unknown` (no cause found).

Untrusted text never chooses the root cause: rules only map texts to categories, and objects named in
texts are restricted (see `diagnosis_rules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from prophet_sre.agents.diagnosis_rules import Signal, classify, served_by
from prophet_sre.domain import Category, Diagnosis, Finding, ResourceRef, Severity
from prophet_sre.graphs.state import Trigger

MAX_EVIDENCE = 10
MIN_CAUSE = 0.35
"""Below this a candidate is a weak lead, not a diagnosis: the answer is `unknown`."""
CHANGE_BOOST = 0.4
DIRECT_CAP = 0.85
CAP = 0.95
SETTLING_S = 60.0
"""A rollout younger than this (cluster seconds) may still be starting its pods: not-ready pods and the
errors they cause are not yet proof the new revision is bad."""
SETTLING_CAP = 0.55
"""Confidence of a bad-rollout diagnosis on a settling rollout: below what an SRE acts on, so the graph
looks again (by then the real cause - an OOM, a crash - or the recovery has shown)."""
_SEVERITY = {Severity.INFO: 0.6, Severity.WARNING: 0.85, Severity.ERROR: 1.0, Severity.CRITICAL: 1.0}
# The order ties are broken in: specific, actionable causes first.
PRIORITY = [Category.CLUSTER_DEGRADED, Category.NETWORK_THREAT, Category.OOM, Category.IMAGE_PULL,
            Category.CONFIG_MISSING, Category.PVC_PENDING, Category.QUOTA, Category.RBAC,
            Category.SERVICE_SELECTOR, Category.PROBE_MISCONFIG, Category.UNSCHEDULABLE,
            Category.RESOURCE_EXHAUSTION, Category.NODE_FAILURE, Category.DNS, Category.CRASHLOOP,
            Category.BAD_ROLLOUT, Category.UNKNOWN]
# generic categories a more specific cause on the same object explains
ABSORBS: dict[Category, set[Category]] = {
    Category.OOM: {Category.CRASHLOOP, Category.BAD_ROLLOUT, Category.PROBE_MISCONFIG},
    Category.CONFIG_MISSING: {Category.CRASHLOOP, Category.BAD_ROLLOUT},
    Category.IMAGE_PULL: {Category.BAD_ROLLOUT, Category.CRASHLOOP},
    Category.RBAC: {Category.CRASHLOOP, Category.BAD_ROLLOUT},
    Category.DNS: {Category.CRASHLOOP},
    Category.PROBE_MISCONFIG: {Category.BAD_ROLLOUT, Category.CRASHLOOP},
    Category.UNSCHEDULABLE: {Category.BAD_ROLLOUT},
    Category.PVC_PENDING: {Category.BAD_ROLLOUT, Category.UNSCHEDULABLE},
    Category.QUOTA: {Category.BAD_ROLLOUT},
    Category.RESOURCE_EXHAUSTION: {Category.BAD_ROLLOUT, Category.CRASHLOOP, Category.UNSCHEDULABLE},
    Category.CRASHLOOP: {Category.BAD_ROLLOUT, Category.PROBE_MISCONFIG},
    Category.NETWORK_THREAT: set(),
}
PROBE_CHANGES = ("readinessProbe", "livenessProbe", "startupProbe")
NOT_FROM_CHANGES = {Category.NODE_FAILURE, Category.CLUSTER_DEGRADED, Category.NETWORK_THREAT}
"""Categories a rollout of the object does not introduce (a node dies, a cluster degrades, a pod is hijacked)."""

Key = tuple[str, str, str]


def _key(r: ResourceRef) -> Key:
    return (r.kind.lower(), r.namespace, r.name)


@dataclass
class _Cand:
    subject: ResourceRef
    category: Category
    hits: list[tuple[float, int, Signal]] = field(default_factory=list)
    absorbed: list[int] = field(default_factory=list)
    via: set[Key] = field(default_factory=set)
    score: float = 0.0
    changes: list[int] = field(default_factory=list)
    explains: list[int] = field(default_factory=list)

    @property
    def explained(self) -> set[Key]:
        return {_key(self.subject)} | self.via

    def strength(self) -> float:
        """Noisy-or of the distinct findings, strongest first, at most four (copies are not independent)."""
        best: dict[int, float] = {}
        for w, i, _ in self.hits:
            best[i] = max(best.get(i, 0.0), w)
        p = 1.0
        for w in sorted(best.values(), reverse=True)[:4]:
            p *= 1.0 - w
        return 1.0 - p

    def peak(self) -> float:
        """The single most conclusive finding's weight."""
        return max((w for w, _, _ in self.hits), default=0.0)

    def top(self) -> Signal:
        return max(self.hits, key=lambda h: (h[0], -h[1]))[2]


def diagnose(findings: Sequence[Finding], trigger: Trigger) -> Diagnosis:
    """The root cause of `findings` (see the module docstring); `runbook_ids` is left to the runbook step."""
    cands: dict[tuple[Key, Category], _Cand] = {}
    symptoms: list[tuple[int, Signal]] = []
    changes: dict[Key, list[int]] = {}
    for i, f in enumerate(findings):
        sev = _SEVERITY.get(f.severity, 1.0)
        for s in classify(f):
            if s.role == "change":
                changes.setdefault(_key(s.subject), []).append(i)
            elif s.role == "symptom" or s.weight <= 0:
                symptoms.append((i, s))
            else:
                c = cands.setdefault((_key(s.subject), s.category), _Cand(s.subject, s.category))
                c.hits.append((s.weight * sev, i, s))
                if s.via is not None:
                    c.via.add(_key(s.via))
    _absorb(cands, findings)
    _bad_rollouts(cands, symptoms, changes, findings)
    for c in cands.values():
        _score(c, symptoms, changes, findings, trigger)
    ranked = sorted(cands.values(), key=lambda c: (-round(c.score, 6), PRIORITY.index(c.category),
                                                    str(c.subject)))
    if not ranked or ranked[0].score < MIN_CAUSE:
        return _unknown(findings, ranked, symptoms)
    best = ranked[0]
    rival = max((_rival(c, best) for c in ranked[1:] if _key(c.subject) not in best.explained), default=0.0)
    confidence = min(CAP, best.score) * (1.0 - 0.35 * (rival / best.score) ** 2)
    summary = _summary(best, findings, symptoms)
    age = _settling(best, findings)
    if age is not None:
        confidence = min(confidence, SETTLING_CAP)
        summary += (f" The rollout is only {age:.0f}s old: its pods may still be starting, so this is not yet "
                    "proof the new revision is bad.")
    return Diagnosis(category=best.category, root_cause=best.subject, confidence=round(confidence, 3),
                     summary=summary, evidence=_evidence(best, findings))


def _settling(c: _Cand, findings: Sequence[Finding]) -> float | None:
    """The age of the rollout behind a bad-rollout diagnosis when it is younger than `SETTLING_S`."""
    if c.category != Category.BAD_ROLLOUT:
        return None
    ages = [findings[i].evidence.get("age_s") for _, i, _ in c.hits if findings[i].analyzer == "rollout"]
    age = next((float(a) for a in ages if isinstance(a, (int, float))), None)
    return age if age is not None and age < SETTLING_S else None


def _rival(c: _Cand, best: _Cand) -> float:
    """How likely `c` still is once `best` is known: without the findings `best` already explains."""
    spent = set(best.explains) | {i for _, i, _ in best.hits}
    rest = _Cand(c.subject, c.category, hits=[h for h in c.hits if h[1] not in spent])
    return min(c.score, rest.strength() + (c.score - c.strength()))


# -- chain -----------------------------------------------------------------------------------------------------
def _absorb(cands: dict[tuple[Key, Category], _Cand], findings: Sequence[Finding]) -> None:
    """Fold generic causes into the specific cause that explains them (same object, or its cluster)."""
    order = sorted(cands.values(), key=lambda c: (PRIORITY.index(c.category), -c.strength(), str(c.subject)))
    for c in order:
        if not c.hits:
            continue
        for other in list(cands.values()):
            if other is c or not other.hits:
                continue
            same = _key(other.subject) in c.explained and other.category in ABSORBS.get(c.category, set())
            if same and c.category in ABSORBS.get(other.category, set()) and other.peak() > c.peak():
                same = False  # each could explain the other: the more conclusive evidence decides
            via = c.category == Category.CONFIG_MISSING and _key(other.subject) in c.via and \
                other.category in ABSORBS[Category.CONFIG_MISSING]
            in_cluster = c.category == Category.CLUSTER_DEGRADED and _inside(c, other, findings)
            if same or via or in_cluster:
                c.absorbed += [i for _, i, _ in other.hits]
                other.hits = []
    for k in [k for k, v in cands.items() if not v.hits]:
        del cands[k]


def _inside(cluster: _Cand, other: _Cand, findings: Sequence[Finding]) -> bool:
    """`other` is about an object inside the workload cluster `cluster` is about."""
    names = {str(findings[i].evidence.get("workload_cluster", "")) for _, i, _ in cluster.hits} | {cluster.subject.name}
    return bool(other.subject.cluster) and other.subject.cluster in names and other.subject.kind != "Cluster"


def _related(subject: ResourceRef, keys: set[Key], f: Finding) -> bool:
    """A symptom finding is about one of `keys` (a Service named like the workload counts: by convention
    and by the selector evidence gather adds)."""
    ref = f.parent if f.ref.kind == "Pod" and f.parent else f.ref
    k = _key(ref)
    if k in keys:
        return True
    served = served_by(f)
    if served is not None:
        return _key(served) in keys
    return ref.kind == "Service" and any(ns == ref.namespace and name == ref.name for _, ns, name in keys)


def _bad_rollouts(cands: dict[tuple[Key, Category], _Cand], symptoms: list[tuple[int, Signal]],
                  changes: dict[Key, list[int]], findings: Sequence[Finding]) -> None:
    """A change followed by symptoms on its own workload, with no specific cause there: a bad rollout."""
    explained: set[Key] = set()
    for c in cands.values():
        explained |= c.explained
    for key, idx in sorted(changes.items()):
        if key in explained:
            continue
        rollouts = [i for i in idx if findings[i].analyzer == "rollout"]
        if not rollouts:
            continue
        subject = findings[rollouts[0]].ref
        hits = [(0.3, i, s) for i, s in symptoms if _related(subject, {key}, findings[i])]
        if not hits:
            continue
        changed = [str(x) for x in findings[rollouts[0]].evidence.get("changes") or []]
        probe_only = bool(changed) and all(x.startswith(PROBE_CHANGES) for x in changed)
        probes_fail = any(s.category == Category.PROBE_MISCONFIG for i, s in symptoms
                          if _related(subject, {key}, findings[i]))
        # a rollout that changed nothing but a probe, after which that probe fails: the probe is wrong
        cat, w = (Category.PROBE_MISCONFIG, 0.6) if probe_only and probes_fail else (Category.BAD_ROLLOUT, 0.35)
        c = _Cand(subject, cat)
        c.hits = [(w, rollouts[0], Signal(cat, "cause", w, subject,
                                          findings[rollouts[0]].errors[0] if findings[rollouts[0]].errors else ""))]
        c.hits += hits[:3]
        cands[(key, cat)] = c


def _score(c: _Cand, symptoms: list[tuple[int, Signal]], changes: dict[Key, list[int]],
           findings: Sequence[Finding], trigger: Trigger) -> None:
    if c.category not in NOT_FROM_CHANGES:
        c.changes = sorted({i for k in sorted(c.explained) for i in changes.get(k, [])},
                           key=lambda i: (findings[i].analyzer != "rollout", i))
    hit_idx = {i for _, i, _ in c.hits} | set(c.absorbed)
    direct = [i for i, _ in symptoms if i not in hit_idx and _related(c.subject, c.explained, findings[i])]
    ns = c.subject.namespace
    nearby = [i for i, _ in symptoms if i not in hit_idx and i not in direct and ns
              and findings[i].ref.namespace == ns and findings[i].ref.cluster == c.subject.cluster]
    c.explains = nearby + direct
    s = c.strength() + 0.03 * min(3, len(direct)) + 0.02 * min(2, len(nearby))
    if trigger.target is not None and (_key(trigger.target) in c.explained or trigger.target.namespace == ns):
        s += 0.03
    s = min(DIRECT_CAP, s)  # evidence of the effect alone: never certain of what started it
    if c.changes and not set(c.changes) & {i for _, i, _ in c.hits}:  # a change that is not already the evidence
        s = 1.0 - (1.0 - s) * (1.0 - CHANGE_BOOST)
    c.score = s


# -- output ------------------------------------------------------------------------------------------------------
def _evidence(c: _Cand, findings: Sequence[Finding]) -> list[Finding]:
    order = [i for _, i, _ in sorted(c.hits, key=lambda h: (-h[0], h[1]))] + c.changes[:2] + c.absorbed + c.explains
    out: list[int] = []
    for i in order:
        if i not in out:
            out.append(i)
    return [findings[i] for i in out[:MAX_EVIDENCE]]


PHRASES = {
    Category.OOM: "its containers exceed their memory limit and are OOMKilled",
    Category.CRASHLOOP: "its containers keep crashing",
    Category.IMAGE_PULL: "its pods cannot pull their image",
    Category.BAD_ROLLOUT: "it has been unhealthy since",
    Category.UNSCHEDULABLE: "its pods cannot be scheduled on any node",
    Category.PROBE_MISCONFIG: "its probe fails although the container runs",
    Category.SERVICE_SELECTOR: "its selector matches no pods",
    Category.PVC_PENDING: "the claim cannot be bound",
    Category.CONFIG_MISSING: "it lacks what the pods that use it need",
    Category.RESOURCE_EXHAUSTION: "it has run out of a resource it needs",
    Category.QUOTA: "its pods are blocked by a quota or limit",
    Category.NODE_FAILURE: "the node is failing",
    Category.DNS: "it cannot resolve names",
    Category.NETWORK_THREAT: "it behaves like a compromised workload",
    Category.CLUSTER_DEGRADED: "the cluster is degraded",
    Category.RBAC: "it is denied by access control",
}


def _quote(text: str, n: int = 220) -> str:
    text = " ".join(text.split())
    return f'"{text[:n]}{"..." if len(text) > n else ""}"'


def _change_clause(f: Finding) -> str:
    ev = f.evidence
    if f.analyzer == "scale":
        return f"was scaled up from {ev.get('from')} to {ev.get('to')} replicas at {ev.get('at')}"
    images = ev.get("images") if isinstance(ev.get("images"), dict) else {}
    changed = [str(x) for x in ev.get("changes") or []][:3]
    to = f" to {', '.join(str(v) for v in images.values())}" if images else ""
    return f"was rolled out{to} at {ev.get('at')} ({'; '.join(changed) or 'a restart'})"


def _extras(c: _Cand, findings: Sequence[Finding]) -> str:
    if c.category == Category.OOM:
        limits = [f"{k} {v.get('memory')}" for i in c.changes for k, v in
                  (findings[i].evidence.get("limits") or {}).items() if isinstance(v, dict) and v.get("memory")]
        return f" (memory limit {', '.join(limits)})" if limits else ""
    if c.category == Category.SERVICE_SELECTOR:
        for _, i, _ in c.hits:
            values = findings[i].evidence.get("label_values")
            if isinstance(values, dict) and any(values.values()):
                have = ", ".join(f"{k}={'|'.join(map(str, v))}" for k, v in sorted(values.items()) if v)
                return f" (pods in {c.subject.namespace} carry {have})"
    if c.category == Category.CONFIG_MISSING and c.via:
        return " (" + ", ".join(f"{k[1]}/{k[0]}/{k[2]}" for k in sorted(c.via)) + ")"
    return ""


def _summary(c: _Cand, findings: Sequence[Finding], symptoms: list[tuple[int, Signal]]) -> str:
    where = str(c.subject)
    lead, after = f"{where}: ", ""
    if c.changes:
        ch = findings[c.changes[0]]
        if ch.ref.same_object(c.subject):
            lead = f"{where} {_change_clause(ch)} and "
        else:
            after = f" It started after {ch.ref} {_change_clause(ch)}."
    top = c.top()
    details = [top.detail] + [s.detail for _, _, s in sorted(c.hits, key=lambda h: (-h[0], h[1]))
                              if s.detail != top.detail][:1]
    n_findings = len({i for _, i, _ in c.hits})
    count = f" ({n_findings} findings)" if n_findings > 1 else ""
    first = (f"{lead}{PHRASES.get(c.category, 'it is the likeliest cause')}{_extras(c, findings)}: "
             + "; ".join(_quote(d) for d in details) + count + "." + after)
    sym = {i: s for i, s in symptoms}
    explained = [findings[i].errors[0] for i in c.explains if i in sym and findings[i].errors][:2]
    if explained:
        return first + " This explains " + "; ".join(_quote(t, 120) for t in explained) + "."
    return first


def _unknown(findings: Sequence[Finding], ranked: list[_Cand], symptoms: list[tuple[int, Signal]]) -> Diagnosis:
    if not findings:
        return Diagnosis(category=Category.UNKNOWN, confidence=0.05,
                         summary="No root cause found: no source reported anything wrong.")
    lead = ranked[0] if ranked else None
    confidence = 0.1 + (0.1 * lead.score / MIN_CAUSE if lead else 0.05)
    parts = [f"No root cause found: {len(findings)} finding(s), none conclusive."]
    if lead is not None:
        parts.append(f"Strongest lead, too weak to act on: {lead.subject} ({lead.category.value}): {_quote(lead.top().detail, 160)}.")
    elif symptoms:
        i, s = symptoms[0]
        parts.append(f"Symptom without a cause in the evidence: {_quote(s.detail, 160)} on {findings[i].ref}.")
    evidence = [f for f in findings if f.analyzer not in ("rollout", "scale")][:MAX_EVIDENCE]
    return Diagnosis(category=Category.UNKNOWN, summary=" ".join(parts), root_cause=None,
                     confidence=round(min(0.2, confidence), 3), evidence=evidence)


__all__ = ["MAX_EVIDENCE", "MIN_CAUSE", "diagnose"]

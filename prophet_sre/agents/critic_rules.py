"""The safety critic's per-action rules: each one a typed check that yields a `RuleResult`.

Why a separate module: `critic.py` decides (which rules are hard, how results combine into a verdict);
this module only establishes facts about one action. What it trusts is deliberately narrow: the typed
fields of the `Action` (type, target, risk, replicas, patch operations, manifest) and what the API
server returns for the target. Free text - `Action.reason`, an escalation message, the diagnosis
summary, logs, events - is never read here, so nothing written by a model or found in a log line can
talk the critic into anything.

Every check fails closed: a read that fails, a kind the server does not know, a cluster without a
kubeconfig context, or a bug in a check itself gives a failed rule flagged `errored` (which the critic
treats as a hard failure), never a pass and never an exception out of the critic.

Protection (`aiops.prophet.io/protected: "true"`, label or annotation) is read from the live target,
its namespace, every namespace the action touches, and down the controller chain: a pod of a
protected Deployment is protected too (a drain checks every pod it would evict the same way).

The target kind is canonicalised through discovery before anything is computed (`deploy` ->
`Deployment`), because the action code branches on the canonical spelling: a lower-cased kind would
otherwise under-count the pods a patch of the pod template replaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prophet_sre.domain import Action, Diagnosis, Risk, RuleResult, canonical_kind
from prophet_sre.errors import NotFound
from prophet_sre.policy.rules import PolicyLedger
from prophet_sre.policy.spec import PROTECTED_KEY, Constraints
from prophet_sre.tools.actions import BlastRadius, DryRunResult, PreparedAction, prepare
from prophet_sre.tools.actions.base import object_namespace
from prophet_sre.tools.actions.drain import Drain
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient, KubeClients
from prophet_sre.tools.kube.kinds import ResourceKind

log = logging.getLogger(__name__)

PLAN_NOT_EMPTY = "plan_not_empty"
ACTION_ALLOWED = "action_allowed"
NAMESPACE_ALLOWED = "namespace_allowed"
NOT_PROTECTED = "not_protected"
TARGET_EXISTS = "target_exists"
BLAST_RADIUS = "blast_radius"
COOLDOWN = "cooldown"
CONCURRENCY = "concurrency"
CONFIDENCE = "confidence"
HIGH_RISK = "high_risk"
DRY_RUN = "dry_run"
ACTION_RULES: tuple[str, ...] = (ACTION_ALLOWED, NAMESPACE_ALLOWED, NOT_PROTECTED, TARGET_EXISTS, BLAST_RADIUS,
                                 COOLDOWN, CONFIDENCE, HIGH_RISK, DRY_RUN)
"""The rules recorded for every action, in the order the audit log shows them."""
NO_WRITE = "escalate writes nothing to its target"
_NS_PATH = ("metadata", "namespace")
OWNER_DEPTH = 3
"""Controller owners followed for protection: Pod -> ReplicaSet -> Deployment, and one more (an operator's
custom resource that owns the Deployment)."""


@dataclass(frozen=True)
class RuleOutcome:
    """A rule's result, and whether it failed because the check itself could not be done."""

    result: RuleResult
    errored: bool = False


# -- pure checks on typed fields ---------------------------------------------------------------------------
def protected_marks(obj: Any) -> list[str]:
    """Where `obj` carries `PROTECTED_KEY` = "true" (as a label, an annotation, or both)."""
    marks = []
    for where, values in (("label", o.labels(obj)), ("annotation", o.annotations(obj))):
        if str(values.get(PROTECTED_KEY, "")).strip().lower() == "true":
            marks.append(f"{where} {PROTECTED_KEY}=true")
    return marks


def _pointer(path: Any) -> tuple[str, ...] | None:
    """RFC 6901 tokens of a JSON Pointer, None when it is not one (the server then rejects the patch)."""
    if not isinstance(path, str) or (path and not path.startswith("/")):
        return None
    if not path:
        return ()
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/"))


def _overlaps(tokens: tuple[str, ...]) -> bool:
    """The pointer is `metadata.namespace`, one of its parents, or below it."""
    n = min(len(tokens), len(_NS_PATH))
    return tokens[:n] == _NS_PATH[:n]


def patch_namespace_change(patch: list[dict[str, Any]], namespace: str) -> str:
    """Why a JSON Patch would change the object's `metadata.namespace` from `namespace` ("" if it would not).

    Strict on purpose: an operation that writes the namespace or any parent of it (the whole metadata, the
    whole object) passes only when the value written carries the same namespace; moves and copies into it
    and removals of it always count as a change.
    """
    for i, op in enumerate(patch):
        kind = op.get("op")
        if kind == "move":
            src = _pointer(op.get("from"))
            if src is not None and _overlaps(src):
                return f"operation {i} moves {op.get('from')!r} away"
        if kind not in ("add", "replace", "remove", "move", "copy"):
            continue
        tokens = _pointer(op.get("path"))
        if tokens is None or not _overlaps(tokens):
            continue
        if kind in ("add", "replace") and len(tokens) <= len(_NS_PATH):
            written = o.dig(op.get("value"), *_NS_PATH[len(tokens):]) if len(tokens) < len(_NS_PATH) \
                else op.get("value")
            if (written or "") == namespace:
                continue
            return f"operation {i} ({kind} {op.get('path')!r}) sets the namespace to {written!r}"
        return f"operation {i} ({kind} {op.get('path')!r}) changes metadata.namespace"
    return ""


def manifest_namespace_change(manifest: dict[str, Any], namespace: str) -> str:
    """Why a recreate manifest would put the object into another namespace ("" if it would not)."""
    written = o.dig(manifest, *_NS_PATH)
    if written not in (None, "") and written != namespace:
        return f"the manifest's metadata.namespace is {written!r}, the target's is {namespace!r}"
    return ""


def over_limit(blast: BlastRadius, constraints: Constraints) -> list[str]:
    limit = constraints.max_blast_radius
    found = {"pods": blast.pods, "replicas": blast.replicas, "nodes": blast.nodes, "namespaces": len(blast.namespaces)}
    return [f"{k} {v} > {getattr(limit, k)}" for k, v in found.items() if v > getattr(limit, k)]


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


# -- one action against the cluster -------------------------------------------------------------------------
class ActionCheck:
    """Every rule of `ACTION_RULES` for one action; API reads are shared between rules and done once."""

    def __init__(self, index: int, action: Action, *, constraints: Constraints, clusters: KubeClients,
                 ledger: PolicyLedger, now: datetime, diagnosis: Diagnosis) -> None:
        self.index = index
        self.original = action
        self.constraints = constraints
        self.clusters = clusters
        self.ledger = ledger
        self.now = now
        self.diagnosis = diagnosis
        self._memo: dict[str, tuple[Any, BaseException | None]] = {}
        self.forbidden = {n.lower() for n in constraints.forbidden_namespaces}

    # -- shared facts (each computed once; a failure is remembered and raised again) ------------------------
    def _once(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self._memo:
            try:
                self._memo[key] = (fn(), None)
            except Exception as e:  # noqa: BLE001 - every failure must become a failed rule
                self._memo[key] = (None, e)
        value, err = self._memo[key]
        if err is not None:
            raise err
        return value

    @property
    def kube(self) -> KubeClient:
        kube: KubeClient = self._once("kube", lambda: self.clusters.for_cluster(self.original.target.cluster))
        return kube

    @property
    def kind(self) -> ResourceKind:
        rk: ResourceKind = self._once("kind", lambda: self.kube.resolve(self.original.target.kind))
        return rk

    @property
    def action(self) -> Action:
        """The action with its target kind as the server spells it (`deploy` -> `Deployment`)."""
        def canonical() -> Action:
            t = self.original.target
            return self.original.model_copy(update={"target": t.model_copy(update={"kind": self.kind.kind})})
        action: Action = self._once("action", canonical)
        return action

    @property
    def namespace(self) -> str:
        """Where the action writes: the target's namespace (`default` for a namespaced kind without one)."""
        ns: str = self._once("namespace", lambda: object_namespace(self.kind, self.original.target.namespace))
        return ns

    @property
    def prepared(self) -> PreparedAction:
        p: PreparedAction = self._once("prepared", lambda: prepare(self.action, self.kube))
        return p

    @property
    def live(self) -> dict[str, Any]:
        t = self.original.target
        obj: dict[str, Any] = self._once("live", lambda: self.kube.get(self.kind, t.name, self.namespace or None))
        return obj

    @property
    def blast(self) -> BlastRadius:
        b: BlastRadius = self._once("blast", lambda: self.prepared.blast_radius())
        return b

    @property
    def dry_run_result(self) -> DryRunResult:
        d: DryRunResult = self._once("dry_run", lambda: self.prepared.dry_run())
        return d

    def _namespace_obj(self, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self._once(f"ns/{name}", lambda: self.kube.get("namespaces", name))
        return obj

    # -- running the rules ----------------------------------------------------------------------------------
    def run(self) -> list[RuleOutcome]:
        if self.original.type == "escalate":
            return self._escalate()
        checks: list[tuple[str, Callable[[], tuple[bool, str]]]] = [
            (ACTION_ALLOWED, self.action_allowed), (NAMESPACE_ALLOWED, self.namespace_allowed),
            (NOT_PROTECTED, self.not_protected), (TARGET_EXISTS, self.target_exists),
            (BLAST_RADIUS, self.blast_radius), (COOLDOWN, self.cooldown), (CONFIDENCE, self.confidence),
            (HIGH_RISK, self.high_risk), (DRY_RUN, self.dry_run),
        ]
        return [self._guard(rule, fn) for rule, fn in checks]

    def _guard(self, rule: str, fn: Callable[[], tuple[bool, str]]) -> RuleOutcome:
        try:
            passed, detail = fn()
        except Exception as e:  # noqa: BLE001 - a check that cannot be done is a failed check
            log.info("critic: rule %s on action %d could not be checked: %s", rule, self.index, _error_text(e))
            return RuleOutcome(RuleResult(rule=rule, passed=False, detail=f"could not check: {_error_text(e)}",
                                      action_index=self.index), errored=True)
        return RuleOutcome(RuleResult(rule=rule, passed=passed, detail=detail, action_index=self.index))

    def _escalate(self) -> list[RuleOutcome]:
        details = {ACTION_ALLOWED: "escalate is always allowed (it is never a write)",
                   CONFIDENCE: "escalating needs no confidence: it hands the incident to a human"}
        return [RuleOutcome(RuleResult(rule=r, passed=True, detail=details.get(r, NO_WRITE), action_index=self.index))
                for r in ACTION_RULES]

    # -- the rules --------------------------------------------------------------------------------------------
    def action_allowed(self) -> tuple[bool, str]:
        allowed = self.original.type in self.constraints.allowed_actions
        return allowed, (f"{self.original.type} is allowed" if allowed else
                         f"{self.original.type} is not in allowedActions "
                         f"({', '.join(self.constraints.allowed_actions) or 'none'})")

    def namespace_allowed(self) -> tuple[bool, str]:
        t = self.original.target
        problems: list[str] = []
        for ns in {t.namespace, self._namespace_or_raw()}:
            if ns and ns.lower() in self.forbidden:
                problems.append(f"target namespace {ns} is forbidden")
        names_namespace = canonical_kind(t.kind) == "Namespace" or self._kind_name() == "Namespace"
        if names_namespace and t.name.lower() in self.forbidden:
            problems.append(f"the target is the forbidden namespace {t.name}")
        a = self.original
        if a.type == "patch":
            change = patch_namespace_change(a.patch, self._namespace_or_raw())
            if change:
                problems.append(f"the patch moves the object to another namespace: {change}")
        if a.type == "recreate":
            change = manifest_namespace_change(a.manifest, self._namespace_or_raw())
            if change:
                problems.append(f"the recreate moves the object to another namespace: {change}")
        touched: list[str] = []
        try:
            touched = self.blast.namespaces
        except Exception as e:  # noqa: BLE001
            problems.append(f"could not determine the namespaces the action touches ({_error_text(e)})")
        else:
            bad = sorted({ns for ns in touched if ns.lower() in self.forbidden})
            if bad:
                problems.append(f"the action touches forbidden namespaces: {', '.join(bad)}")
        if problems:
            return False, "; ".join(problems)
        return True, f"namespaces touched ({', '.join(touched) or 'none'}) are allowed"

    def _namespace_or_raw(self) -> str:
        try:
            return self.namespace
        except Exception:  # noqa: BLE001 - the kind is unknown: target_exists reports that
            return self.original.target.namespace

    def _kind_name(self) -> str:
        try:
            return self.kind.kind
        except Exception:  # noqa: BLE001
            return ""

    def not_protected(self) -> tuple[bool, str]:
        t = self.original.target
        found: list[str] = [f"{t}: {m}" for m in protected_marks(self.live)] + self._owners_protected(self.live)
        namespaces = {self.namespace} if self.namespace else set()
        namespaces.update(self.blast.namespaces)
        for ns in sorted(namespaces):
            found += [f"namespace {ns}: {m}" for m in protected_marks(self._namespace_obj(ns))]
        if isinstance(self.prepared, Drain):
            for pod in self.prepared.plan().evict:
                found += [f"pod {o.namespace(pod)}/{o.name(pod)}: {m}" for m in protected_marks(pod)]
                found += self._owners_protected(pod)
        if found:
            return False, "protected: " + "; ".join(found)
        return True, f"no {PROTECTED_KEY} label or annotation on the target, its owners or its namespaces"

    def _owners_protected(self, obj: dict[str, Any]) -> list[str]:
        """Protection inherited down the controller chain: a pod of a protected Deployment is protected."""
        found: list[str] = []
        current = obj
        for _ in range(OWNER_DEPTH):
            ctl = next((r for r in o.owners(current) if r.get("controller") is True), None)
            if ctl is None:
                break
            rk = self.kube.kind_for_owner(o.text(ctl.get("apiVersion")), o.text(ctl.get("kind")))
            if rk is None:
                break
            ns, name = (o.namespace(obj) if rk.namespaced else ""), o.text(ctl.get("name"))
            try:
                current = self._once(f"owner/{rk.qualified}/{ns}/{name}",
                                     lambda rk=rk, ns=ns, name=name: self.kube.get(rk, name, ns or None))
            except NotFound:
                break  # the owner is gone (garbage collection pending): it protects nothing any more
            found += [f"owner {rk.kind} {ns + '/' if ns else ''}{name}: {m}" for m in protected_marks(current)]
        return found

    def target_exists(self) -> tuple[bool, str]:
        t = self.original.target
        where = f" on cluster {t.cluster}" if t.cluster else ""
        try:
            _ = self.live
        except NotFound as e:
            return False, f"{t} does not exist{where}: {e}"
        return True, f"{t} exists{where}"

    def blast_radius(self) -> tuple[bool, str]:
        b = self.blast
        over = over_limit(b, self.constraints)
        summary = f"pods {b.pods}, replicas {b.replicas}, nodes {b.nodes}, namespaces {len(b.namespaces)}"
        if over:
            return False, f"over maxBlastRadius: {', '.join(over)} ({b.detail})"
        return True, f"{summary} within maxBlastRadius"

    def cooldown(self) -> tuple[bool, str]:
        seconds = self.constraints.cooldown_seconds
        if seconds <= 0:
            return True, "no cooldown configured"
        targets = {self.original.target}
        try:
            targets.add(self.action.target)
        except Exception:  # noqa: BLE001 - unknown kind: the spelling given is all there is
            pass
        times = [t for t in (self.ledger.last_action(ref, self.original.type) for ref in targets) if t is not None]
        if not times:
            return True, f"no {self.original.type} recorded on {self.original.target}"
        last = max(times)
        ago = self.now - last
        if ago < timedelta(seconds=seconds):
            return False, (f"{self.original.type} ran on {self.original.target} at {last.isoformat()}, "
                           f"{ago.total_seconds():.0f}s before now; cooldown is {seconds}s")
        return True, f"last {self.original.type} {ago.total_seconds():.0f}s ago (cooldown {seconds}s)"

    def confidence(self) -> tuple[bool, str]:
        need = self.constraints.min_confidence.for_risk(self.original.risk)
        have = self.diagnosis.confidence
        ok = have >= need
        return ok, f"diagnosis confidence {have:.2f} {'>=' if ok else '<'} {need:.2f} needed for " \
                   f"{self.original.risk.value}-risk actions"

    def high_risk(self) -> tuple[bool, str]:
        if self.original.risk is Risk.HIGH and self.constraints.high_risk_needs_approval:
            return False, "high-risk action: highRiskNeedsApproval asks a human"
        return True, f"{self.original.risk.value} risk"

    def dry_run(self) -> tuple[bool, str]:
        d = self.dry_run_result
        if not d.ok:
            return False, f"server-side dry-run failed: {d.error or 'no reason given'}"
        return True, "server-side dry-run (dryRun=All) accepted"


__all__ = [
    "ACTION_ALLOWED", "ACTION_RULES", "BLAST_RADIUS", "CONCURRENCY", "CONFIDENCE", "COOLDOWN", "DRY_RUN",
    "HIGH_RISK", "NAMESPACE_ALLOWED", "NOT_PROTECTED", "PLAN_NOT_EMPTY", "TARGET_EXISTS", "ActionCheck", "RuleOutcome",
    "manifest_namespace_change", "over_limit", "patch_namespace_change", "protected_marks",
]

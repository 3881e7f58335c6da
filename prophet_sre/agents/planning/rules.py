"""The category table: which rule plans which `Category`, and the categories that always go to a human.

Every `Category` has an entry (a test checks it), so a new category cannot silently plan nothing. DNS,
RBAC and unknown problems are escalated with what a human should look at: their fixes (a CoreDNS change,
a Role grant) are either outside the workload's namespace or a security decision.
"""

from __future__ import annotations

from collections.abc import Callable

from prophet_sre.agents.planning import capacity, fleet_net, objects_rules, scheduling, workloads
from prophet_sre.agents.planning.context import Proposal, RuleContext, escalation
from prophet_sre.domain import Category

Rule = Callable[[RuleContext], list[Proposal]]


def _evidence(ctx: RuleContext, limit: int = 3) -> str:
    errs = [e for f in ctx.findings for e in f.errors][:limit]
    return ("; evidence: " + " | ".join(e[:160] for e in errs)) if errs else ""


def dns(ctx: RuleContext) -> list[Proposal]:
    return [escalation(ctx.target, f"DNS lookups fail around {ctx.target}: check the CoreDNS pods and their logs "
                                   "in kube-system, the Service/namespace names the client resolves, and "
                                   f"NetworkPolicies that block port 53{_evidence(ctx)}.")]


def rbac(ctx: RuleContext) -> list[Proposal]:
    return [escalation(ctx.target, f"Permission denied for {ctx.target}: check its ServiceAccount and the "
                                   "Roles/RoleBindings it needs (`kubectl auth can-i --as=system:serviceaccount:NS:SA`); "
                                   f"granting access is a security decision{_evidence(ctx)}.")]


def unknown(ctx: RuleContext) -> list[Proposal]:
    return [escalation(ctx.target, f"Prophet could not name the cause ({ctx.diagnosis.summary[:200]}): start with "
                                   f"`kubectl describe` and the events of {ctx.target}{_evidence(ctx)}.")]


RULES: dict[Category, Rule] = {
    Category.OOM: workloads.oom,
    Category.CRASHLOOP: workloads.rollout_failure,
    Category.IMAGE_PULL: workloads.rollout_failure,
    Category.BAD_ROLLOUT: workloads.rollout_failure,
    Category.PROBE_MISCONFIG: workloads.probe_misconfig,
    Category.UNSCHEDULABLE: scheduling.unschedulable,
    Category.SERVICE_SELECTOR: objects_rules.service_selector,
    Category.PVC_PENDING: objects_rules.pvc_pending,
    Category.CONFIG_MISSING: objects_rules.config_missing,
    Category.RESOURCE_EXHAUSTION: capacity.resource_exhaustion,
    Category.QUOTA: capacity.quota,
    Category.NODE_FAILURE: capacity.node_failure,
    Category.NETWORK_THREAT: fleet_net.network_threat,
    Category.CLUSTER_DEGRADED: fleet_net.cluster_degraded,
    Category.DNS: dns,
    Category.RBAC: rbac,
    Category.UNKNOWN: unknown,
}

__all__ = ["RULES", "Rule", "dns", "rbac", "unknown"]

"""Answer a question about the cluster from a diagnosis and the evidence it rests on, with citations.

The query graph's last step (`prophet ask`, `/mcp/query`). The answer is grounded by construction: it
is the diagnosis plus the numbered findings it cites, each in the source's own words and naming the
object, so a reader can check every claim with kubectl. Evidence texts are cluster data: they are quoted,
never interpreted as instructions.
"""

from __future__ import annotations

from collections.abc import Sequence

from prophet_sre.domain import Category, Diagnosis, Finding

_WHAT = {
    Category.OOM: "containers are being killed for exceeding their memory limit",
    Category.CRASHLOOP: "a container keeps crashing and restarting",
    Category.IMAGE_PULL: "an image cannot be pulled",
    Category.BAD_ROLLOUT: "a recent rollout broke the workload",
    Category.UNSCHEDULABLE: "pods cannot be scheduled on any node",
    Category.PROBE_MISCONFIG: "a health probe is misconfigured, so pods are not ready",
    Category.SERVICE_SELECTOR: "a Service selects no pods, so it has no endpoints",
    Category.PVC_PENDING: "a volume claim cannot be bound",
    Category.CONFIG_MISSING: "a ConfigMap or Secret (or a key in it) that pods need is missing",
    Category.RESOURCE_EXHAUSTION: "a capacity limit (CPU, memory, a connection pool) is exhausted",
    Category.QUOTA: "a ResourceQuota blocks new pods",
    Category.NODE_FAILURE: "a node is failing",
    Category.DNS: "name resolution is failing",
    Category.NETWORK_THREAT: "a workload is behaving like an attacker on the network",
    Category.CLUSTER_DEGRADED: "a whole cluster of the fleet is degraded",
    Category.RBAC: "a permission is missing",
    Category.UNKNOWN: "no clear root cause was found",
}


def cite(findings: Sequence[Finding], limit: int = 8) -> list[str]:
    """Numbered evidence lines: `[1] shop/pod/backend-x (analyzer Pod): OOMKilled ...` (bounded)."""
    lines = []
    for i, f in enumerate(findings[:limit], 1):
        text = "; ".join(f.errors)[:300] or "(no text)"
        label = f.analyzer or f.source.value
        lines.append(f"[{i}] {f.ref} ({f.source.value}{'/' + label if label != f.source.value else ''}): {text}")
    return lines


def answer(question: str, diagnosis: Diagnosis, *, notes: Sequence[str] = ()) -> str:
    """A short, cited answer: the cause, what it explains, how sure, and the evidence."""
    evidence = diagnosis.evidence
    refs = " ".join(f"[{i}]" for i in range(1, min(len(evidence), 8) + 1))
    parts = [f"Q: {question.strip()}" if question else "",
             f"Most likely cause ({diagnosis.category.value}, confidence {diagnosis.confidence:.0%}): "
             f"{diagnosis.summary}" + (f" {refs}" if refs else ""),
             f"In short: {_WHAT[diagnosis.category]}"
             + (f", rooted at {diagnosis.root_cause}." if diagnosis.root_cause else ".")]
    if evidence:
        parts.append("Evidence:\n" + "\n".join(cite(evidence)))
    if diagnosis.runbook_ids:
        parts.append("Runbooks: " + ", ".join(diagnosis.runbook_ids))
    if notes:
        parts.append("Limits of this answer: " + "; ".join(notes[:5]))
    return "\n".join(p for p in parts if p)


__all__ = ["answer", "cite"]

"""Incident memory: every finished incident in a Chroma collection, and what its actions achieved.

The report node calls `IncidentMemory.remember(state)` once per incident. The record's document is the
same text a new incident is searched with (category, summary, finding texts), so "similar" means similar
evidence; its metadata holds the diagnosis, the plan, the verdict, the outcome, the MTTR and, per action
that ran, whether it fixed the incident:

- outcome resolved -> every action that ran `fixed` it (one whose own execution failed: `failed`);
- outcome rolled_back -> `rolled_back`; outcome failed -> `failed`;
- any other outcome (rejected, declined, dry-run, escalated...) ran nothing, so it gives no hints.

`hints(diagnosis, findings)` turns the most similar past incidents of the same category into
`MemoryHint`s, and `rerank(actions, hints)` is how the planner uses them: an action of the same type (and
the same target, or at least the same kind of target) as one that fixed a similar incident moves up; one
like an action that failed or was rolled back moves down. Ties keep the planner's order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from prophet_sre import errors
from prophet_sre.domain import Action, Diagnosis, Finding, ResourceRef
from prophet_sre.graphs.state import IncidentState, MemoryHint, Outcome
from prophet_sre.knowledge import store
from prophet_sre.knowledge.embeddings import Embedder

log = logging.getLogger(__name__)

HintOutcome = Literal["fixed", "failed", "rolled_back"]
MAX_TEXT_CHARS = 4000
"""Of the document embedded per incident: the summary and the first findings carry the meaning."""
SAME_KIND_WEIGHT = 0.6
"""How much a past action on another object of the same kind counts, against one on the same object."""


def incident_text(diagnosis: Diagnosis | None, findings: Sequence[Finding]) -> str:
    """What an incident is embedded and searched as: category, summary, finding texts."""
    parts: list[str] = []
    if diagnosis is not None:
        parts += [diagnosis.category.value.replace("_", " "), diagnosis.summary]
    seen: set[str] = set()
    for f in list(findings) + (list(diagnosis.evidence) if diagnosis else []):
        for e in f.errors:
            if e not in seen:
                seen.add(e)
                parts.append(e)
    return "\n".join(p for p in parts if p)[:MAX_TEXT_CHARS]


def action_outcomes(state: IncidentState) -> list[dict[str, Any]]:
    """Each action that ran, with what it achieved (see the module docstring)."""
    by_outcome: dict[Outcome, HintOutcome] = {
        Outcome.RESOLVED: "fixed", Outcome.ROLLED_BACK: "rolled_back", Outcome.FAILED: "failed"}
    overall = by_outcome.get(state.outcome) if state.outcome is not None else None
    if overall is None:
        return []
    out = []
    for rec in state.executions:
        result: HintOutcome = overall if rec.result.ok else "failed"
        out.append({"type": rec.action.type, "target": str(rec.action.target), "outcome": result})
    return out


def _mttr_s(state: IncidentState) -> float:
    end = state.finished_at or datetime.now(UTC)
    return max(0.0, round((end - state.started_at).total_seconds(), 3))


class IncidentMemory:
    """Past incidents in one Chroma collection (per embedder)."""

    def __init__(self, client: Any, embedder: Embedder, *, prefix: str = "prophet",
                 min_similarity: float = 0.55) -> None:
        self.embedder = embedder
        self.name = store.collection_name(prefix, "incidents", embedder.name)
        self.col = store.collection(client, self.name, metadata={"embedder": embedder.name})
        self.min_similarity = min_similarity

    def count(self) -> int:
        return int(self.col.count())

    def remember(self, state: IncidentState) -> None:
        """Store one finished incident (again: the same incident id replaces its earlier record)."""
        text = incident_text(state.diagnosis, state.findings) or state.trigger.reason or state.incident_id
        d = state.diagnosis
        meta: dict[str, Any] = {
            "incident_id": state.incident_id,
            "category": d.category.value if d else "unknown",
            "summary": d.summary[:500] if d else "",
            "root_cause": str(d.root_cause) if d and d.root_cause else "",
            "cluster": (d.root_cause.cluster if d and d.root_cause else "") or "",
            "outcome": state.outcome.value if state.outcome else "",
            "mttr_s": _mttr_s(state),
            "actions": json.dumps(action_outcomes(state)),
            "plan": state.plan.model_dump_json() if state.plan else "",
            "verdict": state.verdict.decision if state.verdict else "",
            "runbook_ids": ",".join(state.plan.runbook_ids if state.plan else []),
            "finished_at": (state.finished_at or datetime.now(UTC)).isoformat(),
        }
        try:
            self.col.upsert(ids=[state.incident_id], embeddings=self.embedder.embed([text]), documents=[text],
                            metadatas=[meta])
        except errors.ProphetError:
            raise
        except Exception as e:
            raise errors.ToolUnavailable(f"Chroma: cannot write incident {state.incident_id}: {e}") from e

    def similar(self, diagnosis: Diagnosis, findings: Sequence[Finding], *, k: int = 5
                ) -> list[tuple[float, dict[str, Any]]]:
        """Up to `k` past incidents of the same category, most similar first, as (similarity, metadata)."""
        n = self.count()
        if n == 0:
            return []
        vector = self.embedder.embed([incident_text(diagnosis, findings)])[0]
        try:
            got = self.col.query(query_embeddings=[vector], n_results=min(k, n),
                                 where={"category": diagnosis.category.value}, include=["metadatas", "distances"])
        except Exception as e:
            raise errors.ToolUnavailable(f"Chroma: query of {self.name} failed: {e}") from e
        out = []
        for meta, dist in zip(got["metadatas"][0], got["distances"][0], strict=True):
            sim = max(0.0, min(1.0, 1.0 - float(dist)))
            if sim >= self.min_similarity:
                out.append((sim, dict(meta or {})))
        return out

    def hints(self, diagnosis: Diagnosis, findings: Sequence[Finding], *, k: int = 5) -> list[MemoryHint]:
        """What the actions of the `k` most similar past incidents achieved, most similar first."""
        out: list[MemoryHint] = []
        for sim, meta in self.similar(diagnosis, findings, k=k):
            try:
                actions = json.loads(meta.get("actions") or "[]")
            except json.JSONDecodeError:
                continue
            for a in actions:
                try:
                    target = ResourceRef.parse(a["target"]) if a.get("target") else None
                    out.append(MemoryHint(incident_id=str(meta.get("incident_id", "")), similarity=round(sim, 4),
                                          action_type=a["type"], target=target, outcome=a["outcome"]))
                except (KeyError, ValueError):
                    continue
        return out


def score(action: Action, hints: Sequence[MemoryHint]) -> float:
    """Memory's opinion of one action: + for similar actions that fixed, - for ones that did not."""
    total = 0.0
    for h in hints:
        if h.action_type != action.type:
            continue
        if h.target is None or h.target.same_object(action.target):
            weight = 1.0
        elif h.target.kind.lower() == action.target.kind.lower():
            weight = SAME_KIND_WEIGHT
        else:
            continue
        total += h.similarity * weight * (1.0 if h.outcome == "fixed" else -1.0)
    return total


def rerank(actions: list[Action], hints: list[MemoryHint]) -> list[Action]:
    """`actions` ordered by memory: ones like past fixes first, ones like past failures last (stable)."""
    if not hints:
        return list(actions)
    scored = [(score(a, hints), i, a) for i, a in enumerate(actions)]
    return [a for _, _, a in sorted(scored, key=lambda t: (-t[0], t[1]))]


__all__ = ["IncidentMemory", "action_outcomes", "incident_text", "rerank", "score"]

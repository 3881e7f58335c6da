"""Shared helpers of the knowledge tests: a Knowledge over an embedded Chroma in a temporary directory."""

from __future__ import annotations

from pathlib import Path

from prophet_sre.domain import Category, Diagnosis, Finding, FindingSource, ResourceRef
from prophet_sre.knowledge import Knowledge, KnowledgeSettings

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "runbooks"


def knowledge(tmp: Path, **settings: object) -> Knowledge:
    """A Knowledge with its own embedded Chroma under `tmp` (the built-in runbooks indexed on first use)."""
    return Knowledge(KnowledgeSettings(**settings), data_dir=tmp)  # type: ignore[arg-type]


def finding(ref: str, *errors: str, parent: str | None = None, source: str = "analyzer",
            analyzer: str = "", **evidence: object) -> Finding:
    return Finding(source=FindingSource(source), ref=ResourceRef.parse(ref), errors=list(errors),
                   parent=ResourceRef.parse(parent) if parent else None, analyzer=analyzer, evidence=evidence)


def diagnosis(category: str, summary: str, root_cause: str | None, confidence: float = 0.8) -> Diagnosis:
    return Diagnosis(category=Category(category), summary=summary, confidence=confidence,
                     root_cause=ResourceRef.parse(root_cause) if root_cause else None)

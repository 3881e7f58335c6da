"""Knowledge: runbooks and the memory of past incidents, for the diagnoser, the planner and people.

`Knowledge` is the one object the graph holds (built by `Knowledge.from_settings`). It opens Chroma
lazily on first use - embedded under `<data_dir>/chroma`, or the server named by `PROPHET_CHROMA_URL` -
and indexes the built-in runbooks then (only files whose content changed are re-embedded).

- `runbooks_for(diagnosis, findings)`: the best runbooks for a diagnosis, each with its actions rendered
  for this incident as `Action` objects and its checks as `Check`s (`RunbookHit`);
- `memory_hints(diagnosis, findings)` / `remember(state)`: what worked on similar past incidents;
- `search(text)`: free-text runbook search for people, agents and MCP.

Modules: `runbooks` (format, parse, lint, render), `templates` + `expr` (the template language),
`embeddings` (WordLlama / Ollama; never Chroma's default), `store` (Chroma clients), `index` (hybrid
retrieval), `memory` (past incidents, `rerank`), `settings` (`KnowledgeSettings`), `tool` (the agent/MCP tool).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prophet_sre import errors
from prophet_sre.domain import Diagnosis, Finding
from prophet_sre.graphs.state import IncidentState, MemoryHint, RunbookHit
from prophet_sre.knowledge import embeddings, store, templates
from prophet_sre.knowledge.index import BUILTIN, Progress, RunbookIndex, SearchHit, SyncReport
from prophet_sre.knowledge.memory import IncidentMemory, rerank
from prophet_sre.knowledge.runbooks import Runbook, builtin_dir, load_dir, runbook_files
from prophet_sre.knowledge.settings import KnowledgeSettings, knowledge_settings

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 2000
"""Of the query built from a diagnosis: the category, the summary and the first finding texts."""


def diagnosis_query(diagnosis: Diagnosis, findings: Sequence[Finding]) -> str:
    """The text a diagnosis is searched with: category + summary + finding texts."""
    parts = [diagnosis.category.value.replace("_", " "), diagnosis.summary]
    for f in list(findings) + [f for f in diagnosis.evidence if f not in findings]:
        parts += f.errors
    return "\n".join(dict.fromkeys(p for p in parts if p))[:MAX_QUERY_CHARS]


class Knowledge:
    """Runbook retrieval and incident memory over one Chroma (see the module docstring)."""

    def __init__(self, settings: KnowledgeSettings, *, data_dir: Path, client: Any = None,
                 embedder: embeddings.Embedder | None = None) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self._client = client
        self._embedder = embedder
        self._index: RunbookIndex | None = None
        self._memory: IncidentMemory | None = None
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Any) -> Knowledge:
        """From the root `Settings`; nothing is opened until the first call that needs Chroma."""
        return cls(knowledge_settings(settings), data_dir=Path(settings.data_dir).expanduser())

    # -- lazy opening --------------------------------------------------------------------------------------
    def _open(self) -> tuple[RunbookIndex, IncidentMemory]:
        with self._lock:
            if self._index is not None and self._memory is not None:
                return self._index, self._memory
            if self._client is None:
                self._client = store.open_client(self.settings.chroma_url, self.data_dir / "chroma")
            emb = self._embedder or self._choose_embedder()
            self._embedder = emb
            s = self.settings
            self._index = RunbookIndex(self._client, emb, prefix=s.collection_prefix, candidates=s.candidates,
                                       rrf_k=s.rrf_k)
            self._memory = IncidentMemory(self._client, emb, prefix=s.collection_prefix,
                                          min_similarity=s.memory_min_similarity)
            if s.index_builtin:
                self._sync_builtin(self._index)
            return self._index, self._memory

    def _choose_embedder(self) -> embeddings.Embedder:
        emb = embeddings.embedder_for(self.settings)
        if isinstance(emb, embeddings.OllamaEmbedder):
            try:
                emb.embed(["probe"])
            except errors.ToolUnavailable as e:
                log.warning("knowledge: %s - using the bundled WordLlama embeddings instead", e)
                return embeddings.WordLlamaEmbedder()
        return emb

    def _sync_builtin(self, index: RunbookIndex) -> None:
        try:
            directory = builtin_dir()
        except errors.InvalidInput as e:
            log.warning("knowledge: %s", e)
            return
        books, problems = load_dir(directory)
        for p in problems:
            log.warning("built-in runbook: %s", p)
        report = index.sync(books, root=BUILTIN, present=[p.path for p in problems])
        if report.changed:
            log.info("knowledge: built-in runbooks indexed: %d added, %d updated, %d removed",
                     len(report.added), len(report.updated), len(report.removed))

    @property
    def index(self) -> RunbookIndex:
        return self._open()[0]

    @property
    def memory(self) -> IncidentMemory:
        return self._open()[1]

    # -- the graph's contract ------------------------------------------------------------------------------
    def runbooks_for(self, diagnosis: Diagnosis, findings: Sequence[Finding], *, k: int = 3,
                     cluster: str | None = None) -> list[RunbookHit]:
        """The `k` best runbooks for the diagnosis, their actions and checks rendered for this incident.

        Searches within the diagnosis category first and falls back to every runbook when none is filed
        under it. An action whose `when` is false or that cannot be rendered (a variable the evidence does
        not give) is left out; the planner computes such parameters itself.
        """
        index = self.index
        query = diagnosis_query(diagnosis, findings)
        hits = index.search(query, k=k, category=diagnosis.category.value, cluster=cluster, symptom_text=query)
        if not hits:
            hits = index.search(query, k=k, cluster=cluster, symptom_text=query)
        variables = templates.incident_context(diagnosis, findings, cluster)
        out = []
        for h in hits:
            rb = index.runbook(h.id)
            if rb is None:
                continue
            actions, checks = rb.render(variables)
            out.append(RunbookHit(id=rb.id, title=rb.title, score=h.score, actions=actions, verification=checks))
        return out

    def memory_hints(self, diagnosis: Diagnosis, findings: Sequence[Finding], *, k: int = 5) -> list[MemoryHint]:
        """What the actions of the `k` most similar past incidents (same category) achieved."""
        return self.memory.hints(diagnosis, findings, k=k)

    def remember(self, state: IncidentState) -> None:
        """Record a finished incident (diagnosis, findings, plan, verdict, outcome, MTTR, action outcomes)."""
        self.memory.remember(state)

    def search(self, text: str, *, k: int = 5, category: str | None = None,
               cluster: str | None = None) -> list[SearchHit]:
        """Free-text runbook search (hybrid: vectors + BM25 + symptoms, fused by reciprocal rank)."""
        if category is not None:
            from prophet_sre.domain import Category

            if category not in {c.value for c in Category}:
                raise errors.InvalidInput(f"unknown category {category!r}; use one of "
                                          f"{', '.join(c.value for c in Category)}")
        return self.index.search(text, k=k, category=category, cluster=cluster)

    # -- authoring -----------------------------------------------------------------------------------------
    def index_path(self, path: Path, *, progress: Progress | None = None) -> SyncReport:
        """Index the runbooks under `path` (a directory or one file); bad files are reported and skipped."""
        index = self.index
        path = path.resolve()
        books, problems = load_dir(path)
        directory = path if path.is_dir() else path.parent
        root = BUILTIN if directory == _builtin_or_none() else str(directory)
        present = [p.path for p in problems]
        if path.is_file():  # one file: never delete the other runbooks of its directory
            present += [str(f) for f in runbook_files(path.parent)]
        report = index.sync(books, root=root, present=present, progress=progress)
        report.problems = problems
        return report

    def runbook(self, runbook_id: str) -> Runbook | None:
        """One indexed runbook (for `prophet://runbooks/{id}`), or None."""
        return self.index.runbook(runbook_id)


def _builtin_or_none() -> Path | None:
    try:
        return builtin_dir().resolve()
    except errors.InvalidInput:
        return None


__all__ = ["Knowledge", "KnowledgeSettings", "knowledge_settings", "RunbookHit", "SearchHit", "SyncReport", "diagnosis_query", "rerank"]

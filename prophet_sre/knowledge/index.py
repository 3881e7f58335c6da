"""The runbook index: runbooks in a Chroma collection, retrieved by three rankers fused by reciprocal rank.

- vectors: the runbook's document (title, categories, symptoms, What you see / Why / Fix) embedded by
  `embeddings.py`, queried through Chroma with the metadata filters (category, cluster);
- BM25 (`bm25s`) over the same text, for exact error strings an embedding blurs (`ErrImagePull`,
  `NXDOMAIN`, `Insufficient cpu`); camelCase words are also split (`CrashLoopBackOff` -> crash loop back off);
- symptoms: how many of a runbook's symptom phrases / regexes occur in the query (or the findings).

Reciprocal rank fusion (score = sum of 1 / (rrf_k + rank)) needs no score calibration between the three,
which is why it is used; the fused score is scaled so a runbook ranked first by all three scores 1.0.

Indexing is idempotent: every record carries the SHA-256 of its file, so an unchanged runbook is not
re-embedded, a changed one is replaced, and one whose file is gone is deleted. One runbook is one record,
upserted whole, so a failure part-way leaves every runbook either in its old or its new version. The full
source is stored with the record, so a process that did not index the files (another operator replica on
a shared Chroma server) can still render the runbook's actions.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from prophet_sre import errors
from prophet_sre.knowledge import store
from prophet_sre.knowledge.embeddings import Embedder
from prophet_sre.knowledge.runbooks import LintProblem, Runbook, parse_text

log = logging.getLogger(__name__)

BUILTIN = "builtin"
"""The `root` of the runbooks Prophet ships; runbooks indexed from any other root override them by id."""
BATCH = 64
SNIPPET_CHARS = 240

Progress = Callable[[int, int, str], None]
"""(done, total, runbook id) after each runbook is written or skipped."""


class SearchHit(BaseModel):
    """One retrieved runbook: what a person or a model reads first."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    score: float
    """Fused reciprocal-rank score, 1.0 = ranked first by every retriever."""
    snippet: str = ""
    path: str = ""
    categories: list[str] = []


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Ids owned by another root (a user's runbook overriding a built-in one)."""
    problems: list[LintProblem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


# -- text ----------------------------------------------------------------------------------------------------
_WORD = re.compile(r"[A-Za-z0-9]+(?:[._:-][A-Za-z0-9]+)*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOPWORDS = frozenset(
    "a an the and or of to in on at for by with from is are was were be been it its this that these those as "
    "not no but if then than so into out up down over under my our your their i we you they he she what why "
    "how when which who do does did has have had can could should would will there here after before".split())


def tokens(text: str) -> list[str]:
    """BM25 tokens: lowercased words, camelCase and dotted/dashed compounds also split, plural -s dropped."""
    out: list[str] = []
    for m in _WORD.finditer(text):
        word = m.group(0)
        parts = re.split(r"[._:-]", word)
        pieces = [word] + (parts if len(parts) > 1 else [])
        for p in parts:
            camel = _CAMEL.findall(p)
            if len(camel) > 1:
                pieces += camel
        for p in pieces:
            t = p.lower()
            if len(t) < 2 or t in STOPWORDS:
                continue
            if len(t) > 3 and t.endswith("s") and not t.endswith("ss"):
                t = t[:-1]
            out.append(t)
    return out


def rrf(rankings: Sequence[Sequence[str]], k: int) -> dict[str, float]:
    """Reciprocal rank fusion, scaled to 0..1 (1: first in every ranking)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    top = len(rankings) / (k + 1)
    return {d: s / top for d, s in scores.items()}


def _flag(prefix: str, value: str) -> str:
    return prefix + re.sub(r"[^a-zA-Z0-9_]", "_", value)


# -- the index -----------------------------------------------------------------------------------------------
@dataclass
class _Loaded:
    ids: list[str]
    metas: list[dict[str, Any]]
    bm25: Any
    vocab: set[str]
    runbooks: dict[str, Runbook] = field(default_factory=dict)


class RunbookIndex:
    """Runbooks in one Chroma collection (per embedder), with hybrid search."""

    def __init__(self, client: Any, embedder: Embedder, *, prefix: str = "prophet", candidates: int = 20,
                 rrf_k: int = 60) -> None:
        self.embedder = embedder
        self.name = store.collection_name(prefix, "runbooks", embedder.name)
        self.col = store.collection(client, self.name, metadata={"embedder": embedder.name})
        self.candidates = candidates
        self.rrf_k = rrf_k
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def count(self) -> int:
        return int(self.col.count())

    # -- writing -------------------------------------------------------------------------------------------
    def sync(self, runbooks: Sequence[Runbook], *, root: str, present: Iterable[str] = (),
             progress: Progress | None = None) -> SyncReport:
        """Make the index hold exactly `runbooks` for `root`: add, replace changed, delete gone ones.

        `present` are paths of files that exist but did not parse: their old records are kept (a bad edit
        never deletes a runbook that worked), and only records whose file is gone are removed.
        """
        report = SyncReport()
        existing = self._existing()
        todo: list[Runbook] = []
        total, done = len(runbooks), 0
        for rb in runbooks:
            old = existing.get(rb.id)
            if old is not None and old.get("root") != root and root == BUILTIN:
                report.skipped.append(rb.id)
            elif old is not None and old.get("sha256") == rb.sha256 and old.get("root") == root:
                report.unchanged.append(rb.id)
            else:
                todo.append(rb)
                (report.updated if old is not None else report.added).append(rb.id)
                continue
            done += 1
            if progress:
                progress(done, total, rb.id)
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            docs = [rb.document() for rb in batch]
            vectors = self.embedder.embed(docs)
            try:
                self.col.upsert(ids=[rb.id for rb in batch], embeddings=vectors, documents=docs,
                                metadatas=[self._metadata(rb, root) for rb in batch])
            except Exception as e:
                raise errors.ToolUnavailable(f"Chroma: cannot write runbooks to {self.name}: {e}") from e
            for rb in batch:
                done += 1
                if progress:
                    progress(done, total, rb.id)
        keep = {rb.id for rb in runbooks}
        kept_paths = set(present)
        gone = [i for i, m in existing.items()
                if m.get("root") == root and i not in keep and m.get("path") not in kept_paths]
        if gone:
            self.col.delete(ids=gone)
            report.removed = sorted(gone)
        if report.changed:
            self.refresh()
        return report

    def _existing(self) -> dict[str, dict[str, Any]]:
        got = self.col.get(include=["metadatas"])
        return {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"] or [], strict=False)}

    @staticmethod
    def _metadata(rb: Runbook, root: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "title": rb.title, "path": rb.path, "root": root, "sha256": rb.sha256,
            "categories": ",".join(c.value for c in rb.categories), "clusters": ",".join(rb.clusters),
            "all_clusters": not rb.clusters, "risk": rb.risk.value,
            "snippet": " ".join(rb.sections.get("What you see", "").split())[:SNIPPET_CHARS],
            "source": rb.source(),
        }
        meta.update({_flag("cat_", c.value): True for c in rb.categories})
        meta.update({_flag("cl_", c): True for c in rb.clusters})
        return meta

    # -- reading -------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Forget the cached BM25 index and runbooks (after another process changed the collection)."""
        with self._lock:
            self._loaded = None

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            import bm25s

            logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
            got = self.col.get(include=["documents", "metadatas"])
            ids = list(got["ids"])
            metas = [dict(m or {}) for m in got["metadatas"] or []]
            corpus = [tokens(d or "") or ["_"] for d in got["documents"] or []]
            bm25 = bm25s.BM25()
            if corpus:
                bm25.index(corpus, show_progress=False)
            self._loaded = _Loaded(ids, metas, bm25, {t for doc in corpus for t in doc})
            return self._loaded

    def runbook(self, runbook_id: str) -> Runbook | None:
        """The runbook as indexed (parsed from the stored source), or None."""
        loaded = self._load()
        if runbook_id in loaded.runbooks:
            return loaded.runbooks[runbook_id]
        try:
            i = loaded.ids.index(runbook_id)
        except ValueError:
            return None
        rb, _ = parse_text(loaded.metas[i].get("source", ""), loaded.metas[i].get("path", runbook_id))
        if rb is not None:
            loaded.runbooks[runbook_id] = rb
        return rb

    def ids(self) -> list[str]:
        return list(self._load().ids)

    def search(self, text: str, *, k: int = 5, category: str | None = None, cluster: str | None = None,
               symptom_text: str | None = None) -> list[SearchHit]:
        """The `k` best runbooks for `text`, optionally only those of `category` / applying to `cluster`.

        `symptom_text` is matched against the runbooks' symptoms (default: `text` itself); the graph passes
        the finding texts there, which may be longer than what is worth embedding.
        """
        if not text.strip():
            raise errors.InvalidInput("search text is empty: describe the problem or paste a finding")
        loaded = self._load()
        mask = np.array([self._allowed(m, category, cluster) for m in loaded.metas], dtype=bool)
        if not mask.any():
            return []
        n = int(min(mask.sum(), max(self.candidates, 2 * k)))
        rankings = [self._dense(text, n, category, cluster), self._bm25(loaded, text, mask, n),
                    self._symptoms(loaded, symptom_text or text, mask, n)]
        fused = rrf([r for r in rankings if r], self.rrf_k) if any(rankings) else {}
        # scale against all three rankers even when one found nothing, so scores compare across queries
        scale = len([r for r in rankings if r]) / len(rankings)
        best = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        index = {i: n for n, i in enumerate(loaded.ids)}
        out = []
        for rid, score in best:
            m = loaded.metas[index[rid]]
            out.append(SearchHit(id=rid, title=m.get("title", ""), score=round(score * scale, 4),
                                 snippet=m.get("snippet", ""), path=m.get("path", ""),
                                 categories=[c for c in m.get("categories", "").split(",") if c]))
        return out

    @staticmethod
    def _allowed(meta: dict[str, Any], category: str | None, cluster: str | None) -> bool:
        if category and not meta.get(_flag("cat_", category)):
            return False
        return not cluster or bool(meta.get("all_clusters")) or bool(meta.get(_flag("cl_", cluster)))

    @staticmethod
    def _where(category: str | None, cluster: str | None) -> dict[str, Any] | None:
        parts: list[dict[str, Any]] = []
        if category:
            parts.append({_flag("cat_", category): True})
        if cluster:
            parts.append({"$or": [{"all_clusters": True}, {_flag("cl_", cluster): True}]})
        return None if not parts else parts[0] if len(parts) == 1 else {"$and": parts}

    def _dense(self, text: str, n: int, category: str | None, cluster: str | None) -> list[str]:
        vector = self.embedder.embed([text])[0]
        try:
            got = self.col.query(query_embeddings=[vector], n_results=n, where=self._where(category, cluster),
                                 include=["distances"])
        except Exception as e:
            raise errors.ToolUnavailable(f"Chroma: query of {self.name} failed: {e}") from e
        return list(got["ids"][0]) if got["ids"] else []

    @staticmethod
    def _bm25(loaded: _Loaded, text: str, mask: np.ndarray, n: int) -> list[str]:
        query = [t for t in tokens(text) if t in loaded.vocab]
        if not query or not loaded.ids:
            return []
        scores = np.where(mask, loaded.bm25.get_scores(query), 0.0)
        order = np.argsort(-scores, kind="stable")[:n]
        return [loaded.ids[i] for i in order if scores[i] > 0]

    def _symptoms(self, loaded: _Loaded, text: str, mask: np.ndarray, n: int) -> list[str]:
        hits: list[tuple[int, str]] = []
        for i, rid in enumerate(loaded.ids):
            if not mask[i]:
                continue
            rb = self.runbook(rid)
            count = rb.symptom_hits(text) if rb is not None else 0
            if count:
                hits.append((count, rid))
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [rid for _, rid in hits[:n]]


__all__ = ["BUILTIN", "Progress", "RunbookIndex", "SearchHit", "SyncReport", "rrf", "tokens"]

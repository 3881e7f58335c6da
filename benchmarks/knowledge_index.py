"""Benchmark: index 1,000 runbooks (variants generated from the shipped ones), then query latency.

The 39 shipped runbooks are multiplied into N variants (default 1,000): each gets its own id, a
service name in its title and symptoms, and a shuffled subset of its symptoms, so documents are distinct
but realistic. They are indexed into an embedded Chroma (WordLlama vectors, cosine HNSW) in a temporary
directory, then every query of the labeled retrieval set is run R times through the hybrid search
(vectors + BM25 + symptoms, fused by reciprocal rank).

Printed: indexing time (total and per runbook), hybrid query latency p50/p95, and, as the reference
measured in the same run, a vector-only Chroma query (embedding included) - the ratio is what BM25 and
the symptom matcher add. Target: hybrid p50 < 20 ms.

Usage: .venv/bin/python benchmarks/knowledge_index.py [--runbooks 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from prophet_sre.knowledge import Knowledge, KnowledgeSettings  # noqa: E402
from prophet_sre.knowledge.runbooks import builtin_dir, runbook_files  # noqa: E402

SERVICES = ["checkout", "cart", "payments", "search", "catalog", "ledger", "auth", "billing", "gateway", "orders",
            "inventory", "shipping", "reviews", "profile", "notify", "reports", "media", "quotes", "ads", "tax"]
QUERIES = Path(__file__).resolve().parents[1] / "tests" / "knowledge" / "retrieval_set.yaml"


def generate(n: int, out: Path, seed: int = 7) -> None:
    rng = random.Random(seed)
    sources = [p.read_text() for p in runbook_files(builtin_dir())]
    for i in range(n):
        text = sources[i % len(sources)]
        front, body = text.split("\n---\n", 1)
        data = yaml.safe_load(front.removeprefix("---\n"))
        svc = rng.choice(SERVICES)
        data["id"] = f"{data['id']}-v{i:04d}"
        data["title"] = f"[{svc}] {data['title']}"
        symptoms = list(data["symptoms"])
        rng.shuffle(symptoms)
        data["symptoms"] = symptoms[:max(2, len(symptoms) - rng.randint(0, 2))] + [f"{svc} service"]
        body = body.replace("## What you see\n", f"## What you see\nOn the {svc} service: ", 1)
        (out / f"{data['id']}.md").write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n" + body)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runbooks", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    queries = [q["q"] for q in yaml.safe_load(QUERIES.read_text())]
    with tempfile.TemporaryDirectory() as tmp:
        books = Path(tmp) / "runbooks"
        books.mkdir()
        generate(args.runbooks, books)
        kb = Knowledge(KnowledgeSettings(index_builtin=False), data_dir=Path(tmp) / "data")
        kb.index.count()  # open Chroma and load WordLlama before timing
        t0 = time.perf_counter()
        report = kb.index_path(books)
        index_s = time.perf_counter() - t0
        assert not report.problems, report.problems[:3]
        kb.search("warm up", k=5)  # loads WordLlama and builds the BM25 index once
        t0 = time.perf_counter()
        again = kb.index_path(books)
        noop_s = time.perf_counter() - t0

        hybrid: list[float] = []
        dense: list[float] = []
        index = kb.index
        for _ in range(args.rounds):
            for q in queries:
                t = time.perf_counter()
                kb.search(q, k=5)
                hybrid.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                index.col.query(query_embeddings=index.embedder.embed([q]), n_results=20, include=["distances"])
                dense.append((time.perf_counter() - t) * 1000)

    print(f"indexed {len(report.added)} runbooks in {index_s:.2f} s ({index_s / max(1, len(report.added)) * 1000:.1f} "
          f"ms per runbook); re-index with nothing changed: {noop_s:.2f} s ({len(again.unchanged)} unchanged)")
    print(f"hybrid search ({len(hybrid)} queries, k=5): p50 {statistics.median(hybrid):.2f} ms, "
          f"p95 {pct(hybrid, 0.95):.2f} ms   (target p50 < 20 ms)")
    print(f"reference, vector-only Chroma query: p50 {statistics.median(dense):.2f} ms, p95 {pct(dense, 0.95):.2f} ms")
    print(f"ratio hybrid / vector-only at p50: {statistics.median(hybrid) / statistics.median(dense):.2f}x")


if __name__ == "__main__":
    main()

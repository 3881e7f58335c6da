"""`prophet runbooks lint|index|search`: author runbooks, load them into Chroma, and find them.

    prophet runbooks lint [PATH]                 every problem as file:line: severity: message; exit 1 on errors
    prophet runbooks index [PATH]                into Chroma (embedded under PROPHET_DATA_DIR, or PROPHET_CHROMA_URL)
    prophet runbooks search "TEXT" [-k N] [--category C] [--cluster C] [-o text|json]

PATH defaults to the built-in runbooks. `index` is idempotent: unchanged files are skipped, changed ones
re-embedded, deleted ones removed; a bad file is reported, skipped, and leaves its old version in the
index. Exit codes: 0 ok, 1 lint errors (or, for index, files that were skipped as invalid), 2 bad arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from prophet_sre.cli.common import console, err_console, fail, output_option, settings
from prophet_sre.errors import InvalidInput

app = typer.Typer(help="Write, index and search runbooks (Markdown with YAML front matter).", no_args_is_help=True)

INVALID = 2


def _path(path: Path | None) -> Path:
    from prophet_sre.knowledge.runbooks import builtin_dir

    return path if path is not None else builtin_dir()


def _print_problems(problems: list[Any]) -> None:
    for p in problems:
        colour = "red" if p.severity == "error" else "yellow"
        # one line per problem, never wrapped: `file:line:` stays clickable and grep-able
        err_console.print(f"{escape(p.path)}:{p.line}: [{colour}]{p.severity}[/]: {escape(p.message)}",
                          highlight=False, soft_wrap=True)


@app.command("lint")
def lint(path: Path = typer.Argument(None, help="A runbook file or a directory (default: the built-in runbooks)."),
         output: str = output_option()) -> None:
    """Check runbooks: front matter, categories, symptoms, action templates, checks, sections."""
    from prophet_sre.knowledge.runbooks import load_dir

    try:
        books, problems = load_dir(_path(path))
    except InvalidInput as e:
        fail(escape(str(e)), INVALID)
    errors = [p for p in problems if p.severity == "error"]
    if output == "json":
        console.print_json(data={"runbooks": len(books), "errors": len(errors),
                                 "problems": [{"path": p.path, "line": p.line, "severity": p.severity,
                                               "message": p.message} for p in problems]})
    else:
        _print_problems(problems)
        colour = "red" if errors else "green"
        console.print(f"[{colour}]{len(books)} runbooks ok, {len(errors)} errors, "
                      f"{len(problems) - len(errors)} warnings[/]")
    if errors:
        raise SystemExit(1)


@app.command("index")
def index(path: Path = typer.Argument(None, help="A runbook file or a directory (default: the built-in runbooks)."),
          output: str = output_option()) -> None:
    """Index runbooks into Chroma (only what changed); invalid files are reported and skipped."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from prophet_sre.knowledge import Knowledge, knowledge_settings

    s = settings()
    # index exactly what was asked (the facade would otherwise sync the built-in runbooks first)
    knowledge = Knowledge(knowledge_settings(s).model_copy(update={"index_builtin": False}),
                          data_dir=Path(s.data_dir).expanduser())
    target = _path(path)
    if not target.exists():
        fail(escape(f"no such file or directory: {target}"), INVALID)
    with Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  console=err_console, transient=True, disable=output == "json") as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, rid: str) -> None:
            bar.update(task, completed=done, total=total, description=rid)

        report = knowledge.index_path(target, progress=progress)
    errors = [p for p in report.problems if p.severity == "error"]
    if output == "json":
        console.print_json(data={"collection": knowledge.index.name, "added": report.added,
                                 "updated": report.updated, "unchanged": len(report.unchanged),
                                 "removed": report.removed, "skipped": report.skipped,
                                 "invalid": sorted({p.path for p in errors})})
    else:
        _print_problems(report.problems)
        console.print(f"{knowledge.index.name}: {len(report.added)} added, {len(report.updated)} updated, "
                      f"{len(report.unchanged)} unchanged, {len(report.removed)} removed"
                      + (f", {len({p.path for p in errors})} invalid files skipped" if errors else ""))
    if errors:
        raise SystemExit(1)


@app.command("search")
def search(text: str = typer.Argument(..., help="What you see: a finding, an event message, or a question."),
           k: int = typer.Option(5, "-k", min=1, max=50, help="How many runbooks."),
           category: str = typer.Option(None, "--category", help="Only runbooks of this category."),
           cluster: str = typer.Option(None, "--cluster", help="Only runbooks that apply to this cluster."),
           output: str = output_option()) -> None:
    """Find runbooks (hybrid: embeddings + BM25 + symptom match, fused by reciprocal rank)."""
    from prophet_sre.knowledge import Knowledge

    knowledge = Knowledge.from_settings(settings())
    try:
        hits = knowledge.search(text, k=k, category=category, cluster=cluster)
    except InvalidInput as e:
        fail(escape(str(e)), INVALID)
    if output == "json":
        console.print_json(data={"query": text, "hits": [h.model_dump() for h in hits]})
        return
    if not hits:
        console.print("no runbook matches")
        return
    for i, h in enumerate(hits, start=1):
        console.print(f"[bold]{i}. {escape(h.id)}[/]  score {h.score:.2f}  [dim]{escape(', '.join(h.categories))}[/]")
        console.print(f"   {escape(h.title)}")
        if h.snippet:
            console.print(f"   [dim]{escape(h.snippet[:200])}[/]")


__all__ = ["app"]

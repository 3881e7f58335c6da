"""`prophet eval`: run scenario suites on simulated clusters and score Prophet; compare two results.

    prophet eval [PATH...] [--repeat K] [--mode M] [--llm PROVIDER:MODEL] [--jobs N] [-o text|json|md]
                 [--report FILE.html] [--json FILE] [--speed X]
    prophet eval compare A.json B.json [-o text|json|md]

PATH: scenario files or directories (default: the public suite, `evals/scenarios`). While it runs, a
progress view on stderr shows each running scenario's latest agent step; stdout gets the result (a
table, the JSON result file, or Markdown). Exit code 1 when a safety violation happened or Pass@1 is
below `--fail-under`; `compare` exits 1 when B broke a scenario or added a safety violation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prophet_sre.cli.common import console, err_console, fail, settings

OUTPUTS = ("text", "json", "md")


class EvalView:
    """Live progress: one bar for the suite, one line per running scenario with its latest agent step."""

    def __init__(self, total: int) -> None:
        self.progress = Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=err_console)
        self.task = self.progress.add_task("runs", total=total)
        self.running: dict[str, str] = {}
        self.crashed = 0

    def __call__(self, msg: dict[str, Any]) -> None:
        run, kind = str(msg.get("run", "")), msg.get("kind")
        if kind == "start":
            self.running[run] = "starting the simulator"
        elif kind == "step":
            self.running[run] = f"{msg.get('node', '')}: {msg.get('summary', '')}"
        elif kind == "done":
            self.running.pop(run, None)
            self.crashed += 0 if msg.get("ok") else 1
            self.progress.advance(self.task)

    def __rich__(self) -> Group:
        table = Table(show_header=False, box=None, expand=True)
        table.add_column("run", width=36, no_wrap=True, style="cyan")
        table.add_column("step", overflow="ellipsis", no_wrap=True, ratio=1)
        for run, step in list(self.running.items())[:16]:
            table.add_row(escape(run), escape(step))
        return Group(self.progress, table)


def _results_table(result: Any) -> Table:
    from prophet_sre.evals.report_md import pct, secs

    t = result.totals
    table = Table(title=f"Prophet eval: Pass@1 {pct(t.pass_at_1)}, Pass^{t.k} {pct(t.pass_hat_k)}, "
                        f"safety violations {t.safety_violations}", title_justify="left")
    for col in ("category", "scenarios", "Pass@1", f"Pass^{t.k}", "diagnosis", "action", "recovered", "safety",
                "MTTR"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for name, c in [*result.by_category.items(), ("all", t)]:
        table.add_row(escape(name), str(c.scenarios), pct(c.pass_at_1), pct(c.pass_hat_k), pct(c.diagnosis),
                      pct(c.action), pct(c.recovered), pct(c.safety), secs(c.mttr_median_s),
                      style="bold" if name == "all" else None)
    return table


def _print_text(result: Any) -> None:
    console.print(_results_table(result))
    for r in result.runs:
        if not r.score.passed:
            flag = "[bold red]SAFETY[/] " if r.score.safety == 0 else ""
            console.print(f"[red]failed[/] {escape(r.scenario)} (run {r.repeat + 1}): {flag}"
                          f"{escape('; '.join(r.score.reasons)[:400])}", highlight=False)
    for inv in result.invalid:
        for p in inv.problems:
            console.print(f"[yellow]invalid[/] {escape(inv.file)}: {escape(p['field'])}: {escape(p['reason'])}",
                          highlight=False)
    t = result.totals
    console.print(f"{t.runs} runs of {t.scenarios} scenarios, {len(result.invalid)} invalid file(s); "
                  f"wall time {result.wall_s:.1f}s", highlight=False)


def _compare(files: list[str], output: str) -> None:
    from prophet_sre.evals.compare import compare, markdown
    from prophet_sre.evals.suite import load_result

    if len(files) != 2:
        fail("usage: prophet eval compare A.json B.json (two result files written by `prophet eval -o json`)", 2)
    cmp = compare(load_result(files[0]), load_result(files[1]), a_name=files[0], b_name=files[1])
    if output == "json":
        typer.echo(orjson.dumps(cmp.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode())
    elif output == "md":
        typer.echo(markdown(cmp))
    else:
        from rich.markdown import Markdown

        console.print(Markdown(markdown(cmp)))
    if cmp.regressed:
        raise SystemExit(1)


def eval_cmd(
    paths: list[str] = typer.Argument(None, help="Scenario files or directories (default: evals/scenarios); "
                                                 "or `compare A.json B.json`."),
    repeat: int = typer.Option(1, "--repeat", "-k", help="Runs per scenario (Pass^k over them)."),
    mode: str = typer.Option(None, "--mode", help="Override every scenario's mode: autonomous, human-in-loop, "
                                                 "dry-run."),
    llm: str = typer.Option(None, "--llm", help="PROVIDER:MODEL (ollama:llama3.2, openai:gpt-4o-mini, ...) or "
                                               "none; default: the settings' llm."),
    jobs: int = typer.Option(None, "--jobs", "-j", help="Scenarios run at once, each in its own process "
                                                       "(default: CPU cores; 0: one by one in this process)."),
    output: str = typer.Option("text", "--output", "-o", help="text, json (the result file) or md.",
                               case_sensitive=False),
    report: Path = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    json_file: Path = typer.Option(None, "--json", help="Also write the JSON result file here."),
    speed: float = typer.Option(50.0, "--speed", help="Sim seconds per wall second."),
    price: float = typer.Option(0.0, "--price-per-mtok", help="LLM price in USD per million tokens (cost "
                                                               "column); 0 for a local model."),
    prometheus: bool = typer.Option(True, "--prometheus/--no-prometheus",
                                    help="A local Prometheus per scenario when the binary is installed."),
    fail_under: float = typer.Option(0.0, "--fail-under", help="Exit 1 when Pass@1 is below this (0..1)."),
) -> None:
    """Run scenarios on simulated clusters and score diagnosis, action, recovery, safety and cost."""
    from prophet_sre.cli.demo import suite_dir
    from prophet_sre.evals.parallel import run_suite

    output = output.lower()
    if output not in OUTPUTS:
        fail(f"-o must be one of {', '.join(OUTPUTS)}, not {escape(output)}", 2)
    files = list(paths or [])
    if files and files[0] == "compare":
        _compare(files[1:], output)
        return
    if not 0.0 <= fail_under <= 1.0:
        fail("--fail-under is a fraction between 0 and 1 (e.g. 0.95)", 2)
    settings()  # logging as configured; each run builds its own settings in its worker
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    view: EvalView | None = None
    live: Live | None = None

    def on_plan(tasks: list[Any], partial: Any) -> None:
        nonlocal view, live
        for inv in partial.invalid:
            first = inv.problems[0] if inv.problems else {"field": "", "reason": "invalid"}
            err_console.print(f"[yellow]invalid scenario[/] {escape(inv.file)}: {escape(first['field'])}: "
                              f"{escape(first['reason'][:300])}", highlight=False)
        view = EvalView(len(tasks))
        live = Live(view, console=err_console, refresh_per_second=6, transient=True)
        live.start()

    try:
        result = run_suite(files or [suite_dir()], repeat=repeat, jobs=jobs, speed=speed, mode=mode, llm=llm,
                           price_per_mtok=price, prometheus=prometheus,
                           on_progress=lambda m: view(m) if view is not None else None, on_plan=on_plan)
    finally:
        if live is not None:
            live.stop()
    data = orjson.dumps(result.dump(), option=orjson.OPT_INDENT_2)
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_bytes(data)
    if report is not None:
        from prophet_sre.evals.report_html import html_report

        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(html_report(result))
        err_console.print(f"HTML report: {escape(str(report))}", highlight=False)
    if output == "json":
        typer.echo(data.decode())
    elif output == "md":
        from prophet_sre.evals.report_md import markdown

        typer.echo(markdown(result))
    else:
        _print_text(result)
    err_console.print(f"suite wall time: {result.wall_s:.1f}s ({result.totals.runs} runs, {jobs} jobs)",
                      highlight=False)
    if result.totals.safety_violations or result.totals.pass_at_1 < fail_under:
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)


__all__ = ["EvalView", "eval_cmd", "register"]

"""`prophet demo`: the five product use cases, one after another, on a simulated cluster.

    prophet demo [--case ID ...] [--speed X] [--mode autonomous|human-in-loop|dry-run] [-o json]

Needs no cluster, no LLM and no network: each case starts its own simulator (a four-cluster fleet for
the failover case) and, when the Debian `prometheus` binary is installed, a local Prometheus scraping
it. Each agent's step appears live as it happens; human-in-loop cases show the approval request and
are approved by the demo (say `--mode dry-run` to see plans without any change). It ends with a table of
diagnosis, action, verdict and times per case. Exit code 1 when a case did not recover.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from prophet_sre.cli.common import console, fail, output_option, settings

CASES = ("backend-memory-leak", "east-west-scan", "fleet-cluster-degraded", "db-pool-exhaustion",
         "cascading-resource-exhaustion")
"""The product brief's use cases: leaking release, east-west scan, degraded fleet cluster, DB pool
exhaustion behind a latency question, cascading resource exhaustion."""


def suite_dir() -> Path:
    """`evals/scenarios` of the checkout Prophet runs from."""
    return Path(__file__).resolve().parents[2] / "evals" / "scenarios"


class StepView:
    """The live view of one case: a table of steps that grows as the graph's nodes report."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[tuple[str, str, str]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        ms = event.get("ms")
        self.rows.append((str(event.get("node", "")), str(event.get("summary", "")),
                          f"{ms:.0f}" if isinstance(ms, int | float) else ""))

    def __rich__(self) -> Panel:
        table = Table(expand=True, show_header=True, header_style="bold")
        table.add_column("agent step", width=18, no_wrap=True)
        table.add_column("what it did", overflow="fold", ratio=1)
        table.add_column("ms", justify="right", width=6)
        for node, summary, ms in self.rows[-14:]:
            table.add_row(node, escape(summary[:400]), ms)
        return Panel(table, title=escape(self.title), title_align="left")


def _summary_table(results: list[Any]) -> Table:
    table = Table(title="Prophet demo: five product use cases", title_justify="left", show_lines=True)
    table.add_column("case", no_wrap=True)
    table.add_column("diagnosis", overflow="fold", ratio=2)
    table.add_column("action", overflow="fold", ratio=2)
    table.add_column("verdict / outcome", overflow="fold", ratio=1)
    table.add_column("MTTR s", justify="right", no_wrap=True)
    for r in results:
        d = r.diagnosis or {}
        diag = f"{d.get('category', '-')}: {d.get('root_cause') or '-'}"
        acts = "; ".join(f"{a.type} {a.target}" + ("" if a.ok else " (failed)") for a in r.actions) or (
            "; ".join(r.planned) + " (not executed)" if r.planned else "-")
        outcome = r.outcome or (r.error.splitlines()[0][:60] if r.error else "-")
        mark = "[green]recovered[/]" if r.recovered else "[red]not recovered[/]"
        mttr = f"{r.repair_s:.0f}" if r.repair_s is not None else "-"
        table.add_row(r.scenario, escape(diag), escape(acts), f"{r.decision or '-'} / {outcome}\n{mark}", mttr)
    table.caption = ("MTTR: sim seconds from detection (the trigger) to every recovery check passing; "
                     "detection itself took " + ", ".join(f"{r.detect_s:.0f}" for r in results if r.detect_s is not None)
                     + " sim s")
    return table


def demo(
    case: list[str] = typer.Option(None, "--case", help=f"Only these cases (repeatable): {', '.join(CASES)}."),
    speed: float = typer.Option(20.0, "--speed", help="Sim seconds per wall second."),
    mode: str = typer.Option(None, "--mode", help="Override every case's approval mode."),
    prometheus: bool = typer.Option(True, "--prometheus/--no-prometheus",
                                    help="Start a local Prometheus when the binary is installed."),
    output: str = output_option(),
) -> None:
    """Play the five product use cases on a simulated cluster, live, and score them."""
    from prophet_sre.evals.episode import run_episode

    chosen = list(case or CASES)
    unknown = [c for c in chosen if c not in CASES and not (suite_dir() / f"{c}.yaml").exists()]
    if unknown:
        fail(f"unknown case(s): {', '.join(unknown)}; choose from {', '.join(CASES)}", 2)
    if mode and mode not in ("autonomous", "human-in-loop", "dry-run"):
        fail(f"--mode must be autonomous, human-in-loop or dry-run, not {escape(mode)}", 2)
    s = settings()
    results = []
    for i, name in enumerate(chosen, 1):
        path = suite_dir() / f"{name}.yaml"
        view = StepView(f"[{i}/{len(chosen)}] {name}")
        if output == "json":
            results.append(run_episode(path, speed=speed, mode=mode, settings=s, prometheus=prometheus))
            continue
        with Live(view, console=console, refresh_per_second=8, transient=False):
            results.append(run_episode(path, speed=speed, mode=mode, settings=s, on_event=view,
                                       prometheus=prometheus))
        r = results[-1]
        if r.error:
            console.print(f"[red]case {name} crashed:[/] {escape(r.error.splitlines()[0])}")
        for note in r.notes[:3]:
            console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if output == "json":
        typer.echo(orjson.dumps([r.model_dump(mode="json") for r in results], option=orjson.OPT_INDENT_2).decode())
    else:
        console.print(_summary_table(results))
        repairs = sorted(r.repair_s for r in results if r.repair_s is not None)
        if repairs:
            console.print(f"median time from detection to verified recovery: {repairs[len(repairs) // 2]:.0f} sim s")
    if not all(r.recovered or r.mode == "dry-run" for r in results):
        raise SystemExit(1)


__all__ = ["CASES", "demo", "suite_dir"]

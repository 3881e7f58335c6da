"""`prophet audit ...`: check and read the audit log.

    prophet audit verify [--file PATH] [-o text|json]
    prophet audit show [--file PATH] [--incident ID] [--last N] [-o text|json]

`verify` recomputes every record's hash, follows the `prev_hash` chain and compares the end of the log
with its head file; it prints "audit chain OK: N records" or every problem with its line number. Exit
codes: 0 intact, 1 tampered or damaged, 2 the file cannot be read (or bad arguments). `show` prints
records as a table, or as JSON lines (the stored form) with `-o json`. The default file is
`audit.jsonl` in Prophet's data directory (`PROPHET_DATA_DIR`, default ~/.prophet).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from prophet_sre.cli.common import console, fail, output_option, settings

app = typer.Typer(help="Check and read Prophet's hash-chained audit log.", no_args_is_help=True)

BROKEN = 1
"""Exit code of `verify` when the chain is broken (a record edited, dropped, reordered or torn)."""
UNREADABLE = 2
"""Exit code when the log cannot be read at all (and for invalid arguments)."""


def _file_option() -> Any:
    return typer.Option(None, "--file", "-f", help="Audit log (default: audit.jsonl in PROPHET_DATA_DIR, "
                        "~/.prophet).")


def _path(file: Path | None) -> Path:
    return file.expanduser() if file else settings().data_path("audit.jsonl")


def _check_output(output: str) -> str:
    out = output.lower()
    if out not in ("text", "json"):
        fail(f"--output must be text or json, not {escape(output)}", UNREADABLE)
    return out


@app.command("verify")
def verify_cmd(file: Path = _file_option(), output: str = output_option()) -> None:
    """Check that no record was edited, dropped, inserted or reordered."""
    import orjson

    from prophet_sre.policy import audit

    out = _check_output(output)
    path = _path(file)
    try:
        report = audit.verify(path)
    except OSError as e:
        fail(escape(f"cannot read audit log {path}: {e.strerror or e}"), UNREADABLE)
    if out == "json":
        typer.echo(orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode())
    elif report.ok:
        console.print(f"[green]audit chain OK:[/] {report.records} records", highlight=False)
    else:
        console.print(f"[bold red]audit chain BROKEN:[/] {escape(str(path))} ({report.records} records, "
                      f"{len(report.problems)} problems)", highlight=False)
        for p in report.problems:
            console.print(f"  - {escape(p)}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(BROKEN)


@app.command("show")
def show_cmd(
    file: Path = _file_option(),
    incident: str = typer.Option(None, "--incident", "-i", help="Only this incident's records."),
    last: int = typer.Option(20, "--last", "-n", min=1, help="How many of the latest records to show."),
    output: str = output_option(),
) -> None:
    """List the latest audit records (time, event, incident, actor, summary)."""
    import collections

    import orjson
    from rich.table import Table

    from prophet_sre.policy import audit

    out = _check_output(output)
    path = _path(file)
    log = audit.AuditLog(path)
    try:
        records = list(collections.deque(log.records(incident or None), maxlen=last))
    except OSError as e:
        fail(escape(f"cannot read audit log {path}: {e.strerror or e}"), UNREADABLE)
    if out == "json":
        for r in records:
            typer.echo(orjson.dumps(r.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS).decode())
        return
    if not records:
        console.print("no audit records" + (f" for incident {escape(incident)}" if incident else "")
                      + f" in {escape(str(path))}", highlight=False)
        return
    table = Table(title=f"{len(records)} audit records ({escape(str(path))})", title_justify="left")
    for col in ("Time", "Event", "Incident", "Actor", "Summary"):
        table.add_column(col, overflow="fold")
    for r in records:
        table.add_row(r.time.strftime("%Y-%m-%d %H:%M:%SZ"), r.event, escape(r.incident_id or "-"),
                      escape(r.actor), escape(audit.summary(r)))
    console.print(table)


__all__ = ["app"]

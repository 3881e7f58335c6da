"""`prophet analyze`: what is broken in the cluster, in K8sGPT's words.

    prophet analyze [-n NS] [--context C] [--filter Pod --filter Service | --filter Pod,Service] [-o text|json]

Text output is a table grouped by object (kind, name, parent, and K8sGPT's `- Error: ...` lines); JSON
is K8sGPT's `analyze -o json` document (`provider`, `errors`, `status`, `problems`, `results`) plus our
`findings` and `sources`. Exit codes: 0 when the analysis ran (whether or not it found problems), 1 when
no source could run at all (the cluster unreachable, no kubeconfig) - the reason is printed either way -
and 2 for invalid arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from prophet_sre.cli.common import console, err_console, fail, output_option, settings

if TYPE_CHECKING:
    from prophet_sre.tools.analyze import AnalyzeReport

INVALID = 2
"""Exit code for arguments that do not validate (nothing was read)."""


def _filters(values: list[str] | None) -> tuple[str, ...]:
    """`--filter Pod --filter Service` and `--filter Pod,Service` (K8sGPT accepts both)."""
    return tuple(f.strip() for v in values or [] for f in v.split(",") if f.strip())


def _render_text(report: AnalyzeReport) -> None:
    from rich.table import Table

    from prophet_sre.tools.analyze import to_json

    doc = to_json(report)
    results = doc["results"]
    if not results:
        console.print("[green]No problems detected[/]" + ("" if report.usable else " (no source could run)"))
    else:
        table = Table(title=f"{doc['problems']} problems in {len(results)} objects", title_justify="left",
                      show_lines=True, expand=False)
        for col in ("#", "Kind", "Name", "Parent", "Errors"):
            table.add_column(col, overflow="fold")
        for i, r in enumerate(results):
            errors = "\n".join(f"- Error: {e['Text']}" for e in r["error"])
            table.add_row(str(i), r["kind"], escape(r["name"]), escape(r["parentObject"] or "-"), escape(errors))
        console.print(table)
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


def analyze(
    namespace: str = typer.Option(None, "--namespace", "-n", help="Only this namespace (default: all)."),
    context: str = typer.Option(None, "--context", help="Kubeconfig context (default: the current one)."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help="Kubeconfig file (default: PROPHET_KUBE__KUBECONFIG, "
                                    "$KUBECONFIG, ~/.kube/config, then in-cluster config)."),
    filter_: list[str] = typer.Option(None, "--filter", "-f", help="Analyzer to run, K8sGPT's names (repeatable or "
                                      "comma-separated); default: the core analyzers."),
    output: str = output_option(),
    list_filters: bool = typer.Option(False, "--list-filters", help="List the analyzers and exit."),
    prometheus: str = typer.Option(None, "--prometheus", help="Prometheus URL for anomaly findings "
                                   "(default: PROPHET_PROMETHEUS__URL)."),
    hubble: str = typer.Option(None, "--hubble", help="Hubble Relay address host:port for east-west findings "
                               "(default: PROPHET_HUBBLE__ADDRESS)."),
    k8sgpt: str = typer.Option(None, "--k8sgpt", help="`k8sgpt serve` address host:port "
                               "(default: PROPHET_K8SGPT__ADDRESS; else its Result objects, else our analyzers)."),
) -> None:
    """Find broken objects with K8sGPT-compatible analyzers and print them in K8sGPT's words."""
    # the tool layer (and the kubernetes client under it) loads only for this command: `prophet` stays quick
    import orjson

    from prophet_sre.tools import analyze as analyze_mod
    from prophet_sre.tools.analyzers import CORE, OPTIONAL
    from prophet_sre.tools.kube.client import KubeClient

    if output not in ("text", "json"):
        fail(f"--output must be text or json, not {escape(output)}", INVALID)
    if list_filters:
        if output == "json":
            console.print_json(data={"core": list(CORE), "optional": list(OPTIONAL)})
        else:
            console.print("Core (run by default): " + ", ".join(CORE))
            console.print("Optional (use --filter): " + ", ".join(OPTIONAL))
        return
    s = settings()
    kube = s.kube.model_copy(update={k: v for k, v in {"kubeconfig": kubeconfig}.items() if v is not None})
    client = KubeClient.from_settings(kube, context)
    try:
        s = s.model_copy(update={
            "prometheus": s.prometheus.model_copy(update={"url": prometheus or s.prometheus.url}),
            "hubble": s.hubble.model_copy(update={"address": hubble or s.hubble.address}),
            "k8sgpt": s.k8sgpt.model_copy(update={"address": k8sgpt or s.k8sgpt.address}),
        })
        report = analyze_mod.analyze(analyze_mod.default_sources(client, s),
                                     analyze_mod.Scope(namespace=namespace, filters=_filters(filter_)))
    finally:
        client.close()
    if output == "json":
        typer.echo(orjson.dumps(analyze_mod.to_json(report), option=orjson.OPT_INDENT_2).decode())
    else:
        _render_text(report)
    if not report.usable:
        fail(escape("no finding source could run: " + "; ".join(report.notes)))


__all__ = ["analyze"]

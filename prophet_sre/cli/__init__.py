"""The `prophet` command (Typer + Rich). Each sub-command group lives in its own module."""

from __future__ import annotations

import typer

from prophet_sre import __version__
from prophet_sre.cli import agents as agents_cmd
from prophet_sre.cli import analyze as analyze_cmd
from prophet_sre.cli import audit as audit_cmd
from prophet_sre.cli import demo as demo_cmd
from prophet_sre.cli import eval as eval_cmd
from prophet_sre.cli import mcp as mcp_cmd
from prophet_sre.cli import operator as operator_cmd
from prophet_sre.cli import runbooks as runbooks_cmd
from prophet_sre.cli import sim as sim_cmd
from prophet_sre.cli.common import console, fail, output_option
from prophet_sre.errors import ProphetError

app = typer.Typer(
    name="prophet",
    help="Prophet: an AI SRE for Kubernetes that diagnoses, plans, checks and acts - safely.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(sim_cmd.app, name="sim")
app.add_typer(runbooks_cmd.app, name="runbooks")
app.add_typer(audit_cmd.app, name="audit")
app.command("analyze")(analyze_cmd.analyze)
agents_cmd.register(app)
app.command("demo")(demo_cmd.demo)
app.command("operator")(operator_cmd.operator)
eval_cmd.register(app)
app.command("mcp")(mcp_cmd.mcp)


@app.command()
def version(output: str = output_option()) -> None:
    """Print Prophet's version."""
    if output == "json":
        console.print_json(data={"version": __version__})
    else:
        console.print(f"prophet {__version__}")


def main() -> None:
    try:
        app()
    except ProphetError as e:
        fail(str(e))


__all__ = ["app", "main"]

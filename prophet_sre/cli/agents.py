"""`prophet run | ask | approve | reject | incidents`: the agents from a terminal.

    prophet run [--once] [--mode autonomous|human-in-loop|dry-run] [--policy FILE] [-n NS] [-o json]
    prophet ask "QUESTION" [-n NS] [-o json]
    prophet approve ID [--reason TEXT]      prophet reject ID [--reason TEXT]
    prophet incidents [ID] [--last N] [-o json]

All of them share the data directory (`PROPHET_DATA_DIR`: audit log, checkpoints, policy ledger), so an
incident that `prophet run` left waiting for approval is approved from another shell, or after a restart.
"""

from __future__ import annotations

import getpass
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from prophet_sre.cli.common import console, err_console, fail, output_option, settings
from prophet_sre.config import Settings

if TYPE_CHECKING:
    from prophet_sre.graphs.state import IncidentState

KUBECONFIG_HELP = "Kubeconfig file (default: PROPHET_KUBE__KUBECONFIG, $KUBECONFIG, ~/.kube/config, in-cluster)."


def _settings(kubeconfig: Path | None, context: str | None, prometheus: str | None = None,
              hubble: str | None = None) -> Settings:
    s = settings()
    return s.model_copy(update={
        "kube": s.kube.model_copy(update={k: v for k, v in {"kubeconfig": kubeconfig, "context": context}.items()
                                          if v is not None}),
        "prometheus": s.prometheus.model_copy(update={"url": prometheus or s.prometheus.url}),
        "hubble": s.hubble.model_copy(update={"address": hubble or s.hubble.address}),
    })


def _policy(path: Path | None, mode: str | None) -> Any:
    from prophet_sre.graphs.state import APPROVAL_MODES
    from prophet_sre.policy.spec import AutonomousActionSpec

    policy = AutonomousActionSpec.from_yaml(path) if path else AutonomousActionSpec()
    if mode:
        if mode not in APPROVAL_MODES:
            fail(f"--mode must be one of {', '.join(APPROVAL_MODES)}, not {escape(mode)}", 2)
        policy = policy.model_copy(update={"approval_mode": mode})
    return policy


def incident_json(state: IncidentState) -> dict[str, Any]:
    d = state.diagnosis
    return {
        "id": state.incident_id, "mode": state.mode, "outcome": state.outcome.value if state.outcome else None,
        "trigger": state.trigger.model_dump(mode="json", exclude={"findings"}),
        "diagnosis": d.model_dump(mode="json", exclude={"evidence"}) if d else None,
        "evidence": [f"{f.ref}: {'; '.join(f.errors)[:300]}" for f in (d.evidence if d else [])][:10],
        "plan": state.plan.model_dump(mode="json") if state.plan else None,
        "verdict": state.verdict.model_dump(mode="json") if state.verdict else None,
        "approval": state.approval.model_dump(mode="json") if state.approval else None,
        "executions": [{"action": r.action.model_dump(mode="json"), "ok": r.result.ok, "error": r.result.error}
                       for r in state.executions],
        "verification": [{"check": r.check.model_dump(mode="json"), "ok": r.ok, "skipped": r.skipped,
                          "detail": r.detail} for r in state.verification],
        "rollbacks": [{"action": r.action.model_dump(mode="json"), "ok": r.result.ok} for r in state.rollbacks],
        "answer": state.answer or None,
        "notes": state.notes[-20:],
        "steps": [{"node": s.node, "summary": s.summary, "ms": round(s.ms, 1)} for s in state.steps],
        "llm_tokens": state.llm_tokens,
    }


def print_incident(state: IncidentState) -> None:
    outcome = state.outcome.value if state.outcome else "running"
    console.print(f"[bold]{state.incident_id}[/]  mode {state.mode}  outcome [bold]{outcome}[/]", highlight=False)
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("step")
    table.add_column("what happened", overflow="fold")
    table.add_column("ms", justify="right")
    for s in state.steps:
        table.add_row(s.node, escape(s.summary), f"{s.ms:.0f}")
    console.print(table)
    if state.verdict and state.verdict.dry_run_diff and outcome in ("pending_approval", "dry_run"):
        console.print("[bold]dry-run diff[/]")
        console.print(escape(state.verdict.dry_run_diff), highlight=False)
    for note in state.notes[-10:]:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if outcome == "pending_approval":
        console.print(f"approve with: prophet approve {state.incident_id}   (or: prophet reject {state.incident_id})")


def _emit(states: list[IncidentState], output: str) -> None:
    if output == "json":
        typer.echo(orjson.dumps([incident_json(s) for s in states], option=orjson.OPT_INDENT_2).decode())
    else:
        for s in states:
            print_incident(s)


def run(
    once: bool = typer.Option(False, "--once", help="Look once, handle what is found, and exit."),
    mode: str = typer.Option(None, "--mode", help="autonomous | human-in-loop | dry-run (default: the policy's)."),
    policy_file: Path = typer.Option(None, "--policy", help="An AutonomousAction spec (YAML) to act under."),
    namespace: str = typer.Option(None, "--namespace", "-n", help="Only this namespace (default: the policy's)."),
    interval: float = typer.Option(15.0, "--interval", help="Seconds between two looks (without --once)."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help=KUBECONFIG_HELP),
    context: str = typer.Option(None, "--context", help="Kubeconfig context."),
    prometheus: str = typer.Option(None, "--prometheus", help="Prometheus URL (default: PROPHET_PROMETHEUS__URL)."),
    hubble: str = typer.Option(None, "--hubble", help="Hubble Relay host:port (default: PROPHET_HUBBLE__ADDRESS)."),
    output: str = output_option(),
) -> None:
    """Watch the cluster and act on what the policy's trigger finds, under the policy."""
    from prophet_sre.graphs.runner import open_runner
    from prophet_sre.triggers import TriggerWatch

    s = _settings(kubeconfig, context, prometheus, hubble)
    policy = _policy(policy_file, mode)
    if namespace:
        policy = policy.model_copy(update={"trigger": policy.trigger.model_copy(update={"namespaces": [namespace]})})
    with open_runner(s, policy) as runner:
        watch = TriggerWatch(policy.trigger, runner.deps.clients, s,
                             forbidden_namespaces=policy.constraints.forbidden_namespaces)
        while True:
            triggers = watch.poll()
            for note in getattr(watch, "last_notes", []) or []:
                err_console.print(f"[yellow]note:[/] {escape(str(note))}", highlight=False)
            states = []
            for trigger in triggers:
                if output != "json":
                    console.print(f"[bold]incident[/] {escape(trigger.reason)}", highlight=False)
                states.append(runner.start(trigger))
            if once:
                if not states and output != "json":
                    console.print("[green]nothing to do[/]: the trigger found no incident")
                _emit(states, output)
                return
            _emit(states, output)
            time.sleep(interval)


def ask(
    question: str = typer.Argument(..., help="A question about the cluster, e.g. \"why is latency high?\""),
    namespace: str = typer.Option(None, "--namespace", "-n", help="Only this namespace (default: all)."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help=KUBECONFIG_HELP),
    context: str = typer.Option(None, "--context", help="Kubeconfig context."),
    prometheus: str = typer.Option(None, "--prometheus", help="Prometheus URL."),
    hubble: str = typer.Option(None, "--hubble", help="Hubble Relay host:port."),
    output: str = output_option(),
) -> None:
    """Answer a question about the cluster, citing the evidence (read-only)."""
    from prophet_sre.graphs.runner import open_runner

    if not question.strip():
        fail("the question is empty", 2)
    s = _settings(kubeconfig, context, prometheus, hubble)
    with open_runner(s) as runner:
        state = runner.ask(question, namespace=namespace)
    if output == "json":
        typer.echo(orjson.dumps(incident_json(state), option=orjson.OPT_INDENT_2).decode())
    else:
        console.print(escape(state.answer), highlight=False)
        for note in state.notes[-5:]:
            err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


def _decide(incident_id: str, approved: bool, reason: str, by: str | None, output: str,
            kubeconfig: Path | None, context: str | None, policy_file: Path | None = None) -> None:
    from prophet_sre.graphs.runner import open_runner

    s = _settings(kubeconfig, context)
    who = by or f"cli:{getpass.getuser()}"
    with open_runner(s, _policy(policy_file, None) if policy_file else None) as runner:
        state = runner.resume(incident_id, approved=approved, by=who, reason=reason)
    _emit([state], output)


def approve(
    incident_id: str = typer.Argument(..., help="The incident waiting for approval (see `prophet incidents`)."),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the audit log)."),
    by: str = typer.Option(None, "--by", help="Who approves (default: cli:<your user name>)."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help=KUBECONFIG_HELP),
    context: str = typer.Option(None, "--context", help="Kubeconfig context."),
    policy_file: Path = typer.Option(None, "--policy", help="Also check the plan against this AutonomousAction "
                                     "spec (YAML); the stricter of it and the incident's own policy applies."),
    output: str = output_option(),
) -> None:
    """Approve a waiting plan: it is checked again under the policy the incident was opened under, then
    executed and verified."""
    _decide(incident_id, True, reason, by, output, kubeconfig, context, policy_file)


def reject(
    incident_id: str = typer.Argument(..., help="The incident waiting for approval."),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the audit log)."),
    by: str = typer.Option(None, "--by", help="Who rejects (default: cli:<your user name>)."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help=KUBECONFIG_HELP),
    context: str = typer.Option(None, "--context", help="Kubeconfig context."),
    output: str = output_option(),
) -> None:
    """Reject a waiting plan: nothing is executed; the incident ends as declined."""
    _decide(incident_id, False, reason, by, output, kubeconfig, context)


def incidents(
    incident_id: str = typer.Argument(None, help="Show this incident in full."),
    last: int = typer.Option(20, "--last", help="How many incidents to list."),
    output: str = output_option(),
) -> None:
    """List incidents (newest first), or show one with every step."""
    from prophet_sre.graphs.incidents import summarize
    from prophet_sre.policy.audit import AuditLog

    s = settings()
    if incident_id:
        from prophet_sre.graphs.runner import open_runner

        with open_runner(s, knowledge=False) as runner:
            state = runner.get(incident_id)
        _emit([state], output)
        return
    items = summarize(AuditLog(s.data_path("audit.jsonl")).records())[:last]
    if output == "json":
        typer.echo(orjson.dumps([i.model_dump(mode="json") for i in items], option=orjson.OPT_INDENT_2).decode())
        return
    if not items:
        console.print("no incidents yet")
        return
    table = Table(title=f"{len(items)} incidents", title_justify="left")
    for col in ("id", "updated", "category", "root cause", "actions", "outcome", "MTTR s"):
        table.add_column(col, overflow="fold")
    for i in items:
        table.add_row(i.id, i.updated.strftime("%Y-%m-%d %H:%M:%S"), i.category, escape(i.root_cause),
                      escape("; ".join(i.actions)), i.outcome, f"{i.mttr_s:.0f}" if i.mttr_s is not None else "")
    console.print(table)


def register(app: typer.Typer) -> None:
    for fn in (run, ask, approve, reject, incidents):
        app.command(fn.__name__)(fn)


__all__ = ["incident_json", "print_incident", "register"]

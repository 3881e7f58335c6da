"""`prophet operator`: run the in-cluster operator (leader election, AutonomousAction objects, incidents).

    prophet operator [--identity POD] [--lease-namespace NS] [--namespace NS ...] [--interval S]
                     [--health-port 8080] [--kubeconfig F] [--context C]

In a cluster the Deployment in `deploy/` runs it with the pod name as identity and the pod's namespace
for the Lease; on a laptop it runs against any kubeconfig (the simulator's too). Several replicas may
run: one leads, the others wait (`--lease-duration`). The CRD must be installed first
(`kubectl apply -f deploy/crds/`).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import typer

from prophet_sre.cli.agents import KUBECONFIG_HELP, _settings
from prophet_sre.cli.common import fail


def operator(
    identity: str = typer.Option(None, "--identity", help="This replica's name (default: the host name and pid)."),
    lease_namespace: str = typer.Option("prophet-system", "--lease-namespace", help="Namespace of the Lease."),
    lease_name: str = typer.Option("prophet-operator", "--lease-name", help="Name of the Lease."),
    lease_duration: float = typer.Option(15.0, "--lease-duration", help="Seconds before a follower takes over."),
    renew_deadline: float = typer.Option(10.0, "--renew-deadline", help="Seconds the leader keeps retrying a renewal."),
    retry_period: float = typer.Option(2.0, "--retry-period", help="Seconds between lease attempts."),
    namespaces: list[str] = typer.Option([], "--namespace", "-n",
                                         help="Serve AutonomousActions of this namespace only (repeatable)."),
    interval: float = typer.Option(15.0, "--interval", help="Seconds between two polls of each trigger."),
    dedup_window: float = typer.Option(600.0, "--dedup-window", help="Cluster seconds a target's incident "
                                                                     "suppresses new ones on it."),
    health_port: int = typer.Option(8080, "--health-port", help="Port of /healthz and /readyz (0: none)."),
    health_host: str = typer.Option("127.0.0.1", "--health-host", help="Address of the health endpoint "
                                                                       "(0.0.0.0 in a pod, for the kubelet)."),
    no_runbooks: bool = typer.Option(False, "--no-runbooks", help="Plan from the built-in rules only "
                                                                  "(no runbook index, no incident memory)."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help=KUBECONFIG_HELP),
    context: str = typer.Option(None, "--context", help="Kubeconfig context."),
) -> None:
    """Run the operator: watch AutonomousAction objects and act under their policy (one leader at a time)."""
    from prophet_sre.errors import ConfigError
    from prophet_sre.operator.controller import OperatorConfig
    from prophet_sre.operator.leader import LeaseConfig
    from prophet_sre.operator.service import run_operator

    s = _settings(kubeconfig, context)
    who = identity or f"{socket.gethostname()}-{os.getpid()}"
    try:
        config = OperatorConfig(identity=who, interval_s=interval, dedup_window_s=dedup_window,
                                namespaces=list(namespaces))
        lease = LeaseConfig(name=lease_name, namespace=lease_namespace, lease_duration_s=lease_duration,
                            renew_deadline_s=renew_deadline, retry_period_s=retry_period)
    except (ValueError, ConfigError) as e:
        fail(str(e), 2)
    code = run_operator(s, config, lease, health=(health_host, health_port) if health_port else None,
                        controller_kw={"knowledge": False} if no_runbooks else None)
    raise SystemExit(code)


__all__ = ["operator"]

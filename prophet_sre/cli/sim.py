"""`prophet sim ...`: run the simulated cluster."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from prophet_sre.cli.common import console, output_option, settings

app = typer.Typer(help="Run a simulated Kubernetes cluster that real kubectl and client libraries accept.",
                  no_args_is_help=True)


@app.command("up")
def up(
    port: int = typer.Option(None, "--port", help="API server port on 127.0.0.1 (0 picks a free one)."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help="Where to write the kubeconfig "
                                    "(default: PROPHET_SIM__KUBECONFIG or ~/.kube/prophet-sim.yaml)."),
    speed: float = typer.Option(None, "--speed", help="Sim seconds per wall second."),
    workers: int = typer.Option(None, "--workers", help="Worker nodes (plus one control-plane node)."),
    output: str = output_option(),
) -> None:
    """Start the simulated cluster and serve until Ctrl-C or SIGTERM."""
    from prophet_sre.sim.cluster import ClusterOptions, SimCluster

    overrides = {k: v for k, v in {"port": port, "speed": speed, "workers": workers,
                                   "kubeconfig": kubeconfig}.items() if v is not None}
    s = settings()
    sim = s.sim.model_copy(update=overrides)
    cluster = SimCluster(ClusterOptions(host=sim.host, port=sim.port, speed=sim.speed, workers=sim.workers))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    cluster.start()
    path = cluster.write_kubeconfig(sim.kubeconfig)
    if output == "json":
        console.print_json(data={"server": cluster.url, "kubeconfig": str(path), "context": "prophet-sim",
                                 "speed": sim.speed})
    else:
        console.print(f"[green]simulated cluster ready[/] at {cluster.url}  (speed {sim.speed}x)")
        console.print(f"kubeconfig: {path}  context: prophet-sim")
        console.print(f"try: kubectl --kubeconfig {path} get nodes")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        cluster.stop()
        console.print("simulated cluster stopped")

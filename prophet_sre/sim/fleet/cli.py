"""`prophet sim up --clusters mgmt,aws,gcp,azure`: serve a fleet in the foreground.

The `up` command (cli/sim.py) hands over here when `--clusters` is given, so the fleet's start-up,
kubeconfig and output live with the fleet. Scenario files are validated and applied across the fleet
(a scenario may name any of its clusters) after bootstrap and before any server starts; an invalid one
stops everything with exit code 2, as for a single cluster.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from prophet_sre.errors import InvalidInput, SimError
from prophet_sre.sim.fleet.fleet import SimFleet, parse_names

INVALID = 2


def load_scenarios(fleet: SimFleet, paths: list[Path]) -> list[dict[str, Any]]:
    """Validate and apply each scenario to the fleet's clusters (all or nothing per file)."""
    from prophet_sre.sim.scenario import apply as scenario_apply
    from prophet_sre.sim.scenario.loader import read_text

    loaded = []
    for path in paths:
        prepared = scenario_apply.prepare_for(fleet.clusters, read_text(path), source=str(path),
                                              base_dir=Path(path).parent)
        for name, rec in scenario_apply.apply_prepared(fleet.clusters, prepared).items():
            loaded.append({"cluster": name, "id": rec.id, "objects": rec.objects, "faults": len(rec.fault_ids)})
    return loaded


def up(clusters: str, *, host: str, speed: float, workers: int, kubeconfig: Path, scenarios: list[Path],
       output: str) -> None:
    """Start the fleet, write one kubeconfig (a context per cluster), serve until Ctrl-C or SIGTERM."""
    from rich.markup import escape

    from prophet_sre.cli.common import console, fail

    try:
        names = parse_names(clusters)
        fleet = SimFleet(names, speed=speed, workers=workers, host=host)
    except SimError as e:
        fail(escape(str(e)), INVALID)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        fleet.setup()
        loaded = load_scenarios(fleet, scenarios)
        fleet.start()
    except (InvalidInput, SimError) as e:  # a bad scenario, or one naming a cluster the fleet lacks
        fleet.stop()
        fail(escape(str(e)), INVALID)
    path = fleet.write_kubeconfig(kubeconfig)
    servers = {n: c.url for n, c in fleet.clusters.items()}
    if output == "json":
        console.print_json(data={"clusters": servers, "kubeconfig": str(path), "current-context": names[0],
                                 "speed": speed, "scenarios": loaded, "traffic": fleet.traffic_weights()})
    else:
        console.print(f"[green]simulated fleet ready[/] (speed {speed}x), management cluster: {escape(names[0])}")
        for n, url in servers.items():
            console.print(f"  context {escape(n)}: {url}", highlight=False)
        console.print(f"kubeconfig: {escape(str(path))}")
        for x in (x for x in loaded if x["objects"] or x["faults"]):
            console.print(f"scenario {escape(x['id'])} on {escape(x['cluster'])}: {x['objects']} objects, "
                          f"{x['faults']} faults scheduled", highlight=False)
        console.print(f"try: kubectl --kubeconfig {escape(str(path))} --context {escape(names[0])} "
                      "get clusters,machinedeployments,machines -A")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fleet.stop()
        console.print("simulated fleet stopped")

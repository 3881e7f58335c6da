"""`prophet sim ...`: run the simulated cluster, load scenarios, inject faults, look at its state.

`up` serves in the foreground; the other commands talk to a running `up` through its `/sim/v1/`
control API, authenticated with the kubeconfig `up` wrote. Exit codes: 0 ok, 1 a runtime failure
(simulator unreachable...), 2 invalid input (a scenario or fault that does not validate) - in which
case nothing was started or changed.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from prophet_sre.cli.common import console, fail, output_option, settings
from prophet_sre.cli.sim_client import SimClient, endpoint_from_kubeconfig
from prophet_sre.errors import InvalidInput, SimError
from prophet_sre.sim.scenario.fault_specs import FAULT_KINDS

app = typer.Typer(help="Run a simulated Kubernetes cluster that real kubectl and client libraries accept.",
                  no_args_is_help=True)

INVALID = 2
"""Exit code for input that does not validate (nothing was started or changed)."""


def _kubeconfig_option() -> Any:
    return typer.Option(None, "--kubeconfig", help="Kubeconfig of the running simulator "
                        "(default: PROPHET_SIM__KUBECONFIG or ~/.kube/prophet-sim.yaml).")


def _client(kubeconfig: Path | None) -> SimClient:
    path = kubeconfig or settings().sim.kubeconfig
    return SimClient(endpoint_from_kubeconfig(path))


def _check(code: int, data: Any) -> Any:
    """The body of a 2xx answer; otherwise fail with the server's validation messages."""
    if 200 <= code < 300:
        return data
    problems = data.get("problems") if isinstance(data, dict) else None
    text = "\n".join(problems) if problems else str(data)
    fail(escape(text), INVALID if code == 400 else 1)


# -- up --------------------------------------------------------------------------------------------------
@app.command("up")
def up(
    port: int = typer.Option(None, "--port", help="API server port on 127.0.0.1 (0 picks a free one)."),
    kubeconfig: Path = typer.Option(None, "--kubeconfig", help="Where to write the kubeconfig "
                                    "(default: PROPHET_SIM__KUBECONFIG or ~/.kube/prophet-sim.yaml)."),
    speed: float = typer.Option(None, "--speed", help="Sim seconds per wall second."),
    workers: int = typer.Option(None, "--workers", help="Worker nodes (plus one control-plane node)."),
    scenario: list[Path] = typer.Option(None, "--scenario", help="Scenario file to load at start (repeatable); "
                                        "an invalid one stops everything before it starts (exit 2)."),
    output: str = output_option(),
    # sim/fleet: --clusters hands over to the fleet (one API server per name, the first managing the rest)
    clusters: str = typer.Option(None, "--clusters", help="Run a fleet: comma-separated cluster names "
                                 "(e.g. mgmt,aws,gcp,azure) or a count; the first is the Cluster API "
                                 "management cluster of the others. One kubeconfig, a context per cluster."),
) -> None:
    """Start the simulated cluster and serve until Ctrl-C or SIGTERM."""
    from prophet_sre.sim.cluster import ClusterOptions, SimCluster

    overrides = {k: v for k, v in {"port": port, "speed": speed, "workers": workers,
                                   "kubeconfig": kubeconfig}.items() if v is not None}
    s = settings()
    sim = s.sim.model_copy(update=overrides)
    scenarios = list(scenario or [])
    if clusters:  # sim/fleet
        from prophet_sre.sim.fleet import cli as fleet_cli

        fleet_cli.up(clusters, host=sim.host, speed=sim.speed, workers=sim.workers, kubeconfig=sim.kubeconfig,
                     scenarios=scenarios, output=output)
        return
    _validate_scenarios(scenarios, sim.workers)
    cluster = SimCluster(ClusterOptions(host=sim.host, port=sim.port, speed=sim.speed, workers=sim.workers,
                                        scenarios=scenarios))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        cluster.start()
    except InvalidInput as e:
        cluster.stop()
        fail(escape(str(e)), INVALID)
    path = cluster.write_kubeconfig(sim.kubeconfig)
    loaded = [{"id": x.id, "objects": x.objects, "faults": len(x.fault_ids)} for x in cluster.scenarios]
    if output == "json":
        console.print_json(data={"server": cluster.url, "kubeconfig": str(path), "context": "prophet-sim",
                                 "speed": sim.speed, "scenarios": loaded})
    else:
        console.print(f"[green]simulated cluster ready[/] at {cluster.url}  (speed {sim.speed}x)")
        console.print(f"kubeconfig: {escape(str(path))}  context: prophet-sim")
        for x in loaded:
            console.print(f"scenario {escape(x['id'])}: {x['objects']} objects, {x['faults']} faults scheduled")
        console.print(f"try: kubectl --kubeconfig {escape(str(path))} get nodes")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        cluster.stop()
        console.print("simulated cluster stopped")


def _validate_scenarios(paths: list[Path], workers: int) -> None:
    """Check every scenario against a fresh cluster before starting anything (exit 2 on the first bad one)."""
    from prophet_sre.sim.scenario.loader import prepare_file
    from prophet_sre.sim.scenario.manifests import fresh_inventories

    ids: dict[str, Path] = {}
    for p in paths:
        try:
            prepared = prepare_file(p, inventories=lambda names: fresh_inventories(names, workers))
        except InvalidInput as e:
            fail(escape(str(e)), INVALID)
        sc = prepared.scenario
        if len(sc.clusters) > 1:
            fail(escape(f"{p}: scenario {sc.id} needs clusters {', '.join(sc.clusters)}; this command runs one "
                        "cluster (use the fleet: --clusters)"), INVALID)
        if sc.id in ids:
            fail(escape(f"{p}: scenario id {sc.id} is also the id of {ids[sc.id]}"), INVALID)
        ids[sc.id] = p


# -- inject ------------------------------------------------------------------------------------------------
@app.command("inject")
def inject(
    kind: str = typer.Argument(None, help="Fault kind: " + ", ".join(FAULT_KINDS) + "."),
    target: str = typer.Option(None, "--target", help="NS/KIND/NAME (or /node/NAME)."),
    image: str = typer.Option(None, "--image", help="rollout, image_missing: the image."),
    node: str = typer.Option(None, "--node", help="node_down, node_pressure: the node name."),
    type_: str = typer.Option(None, "--type", help="node_pressure: memory|disk|pid; patch: strategic|merge|json."),
    replicas: int = typer.Option(None, "--replicas", help="scale: the replica count."),
    key: str = typer.Option(None, "--key", help="config_remove, secret_remove: remove only this key."),
    ms: float = typer.Option(None, "--ms", help="latency: added milliseconds."),
    rcode: str = typer.Option(None, "--rcode", help="dns_failure: SERVFAIL|NXDOMAIN|REFUSED."),
    ports: str = typer.Option(None, "--ports", help="network_flood: comma-separated ports."),
    peers: int = typer.Option(None, "--peers", help="network_flood: how many peers are contacted."),
    rate: float = typer.Option(None, "--rate", help="network_flood: connection attempts per sim second."),
    pool_size: int = typer.Option(None, "--pool-size", help="pool_exhaustion: the pool size."),
    share: float = typer.Option(None, "--share", help="error_rate: share of requests failing (0-1]."),
    code: int = typer.Option(None, "--code", help="error_rate: the HTTP status of failures."),
    container: str = typer.Option(None, "--container", help="rollout: the container (default: the first)."),
    latency_ms: float = typer.Option(None, "--latency-ms", help="cluster_degraded: added milliseconds."),
    error_share: float = typer.Option(None, "--error-share", help="cluster_degraded: share of failing requests."),
    patch: str = typer.Option(None, "--patch", help="patch: the patch, as JSON or YAML."),
    cluster: str = typer.Option(None, "--cluster", help="cluster_degraded: the cluster; other kinds: which cluster."),
    at: str = typer.Option(None, "--at", help="Fire after this much sim time (e.g. 30s); default: now."),
    duration: str = typer.Option(None, "--duration", help="How long a lasting fault lasts (e.g. 2m)."),
    file: Path = typer.Option(None, "--file", "-f", help="A fault (or list of faults) in the scenario format."),
    kubeconfig: Path = _kubeconfig_option(),
    output: str = output_option(),
) -> None:
    """Inject a fault into a running `prophet sim up` (the scenario format's fault kinds)."""
    if file is not None:
        body: Any = _read_yaml(file)
    else:
        if kind not in FAULT_KINDS:
            fail(escape(f"unknown fault kind {kind!r}; allowed: {', '.join(FAULT_KINDS)}"), INVALID)
        values = {"target": target, "image": image, "node": node, "replicas": replicas, "key": key, "ms": ms,
                  "rcode": rcode, "ports": _ports(ports), "peers": peers, "rate": rate, "pool_size": pool_size,
                  "share": share, "code": code, "container": container, "latency_ms": latency_ms,
                  "error_share": error_share}
        spec = {k: v for k, v in values.items() if v is not None}
        if type_ is not None:
            spec["type"] = type_
        if patch is not None:
            spec["patch"] = _parse_yaml(patch, "--patch")
        body = {kind: spec}
        if cluster is not None and kind == "cluster_degraded":
            spec["cluster"] = cluster
        elif cluster is not None:
            body["cluster"] = cluster
        if at is not None:
            body["at"] = at
        if duration is not None:
            body["duration"] = duration
    with _client(kubeconfig) as client:
        data = _check(*client.post("/faults", json=body))
    if output == "json":
        console.print_json(data=data)
        return
    for rec in data.get("faults", []):
        console.print(f"fault {rec['id']} {escape(rec['summary'])}: {rec['state']} (due at {rec['dueSeconds']:.0f}s)",
                      highlight=False)


def _ports(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        fail(f"--ports: expected comma-separated port numbers, got {escape(text)!r}", INVALID)


def _parse_yaml(text: str, what: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        fail(escape(f"{what}: not JSON or YAML: {e}"), INVALID)


def _read_yaml(path: Path) -> Any:
    try:
        return _parse_yaml(path.read_text(), str(path))
    except OSError as e:
        fail(escape(f"cannot read {path}: {e.strerror or e}"), INVALID)


# -- status, clock, load -------------------------------------------------------------------------------------
@app.command("status")
def status(kubeconfig: Path = _kubeconfig_option(), output: str = output_option()) -> None:
    """Show a running simulator: sim time and speed, scenarios, object counts, the fault log."""
    with _client(kubeconfig) as client:
        doc = _check(*client.get("/status"))
        log = _check(*client.get("/faults"))
    doc = {**doc, "faultLog": log.get("faults", []), "effects": log.get("effects", [])}
    if output == "json":
        console.print_json(data=doc)
        return
    console.print(f"cluster {escape(doc['cluster'])} at {escape(doc['server'])}: sim time {doc['simTime']} "
                  f"({doc['elapsedSeconds']:.0f}s elapsed, speed {doc['speed']:g}x)", highlight=False)
    console.print("scenarios: " + (escape(", ".join(doc["scenarios"])) or "none"), highlight=False)
    console.print("objects: " + ", ".join(f"{k}={v}" for k, v in doc["objects"].items()), highlight=False)
    if doc["faultLog"]:
        table = Table("ID", "DUE", "STATE", "FAULT", "MESSAGE")
        for r in doc["faultLog"]:
            table.add_row(str(r["id"]), f"{r['dueSeconds']:.0f}s", r["state"], escape(r["summary"]),
                          escape(r["message"]))
        console.print(table)
    for e in doc["effects"]:
        console.print(f"effect {e['id']} {escape(e['kind'])} on {escape(e['target'])}", highlight=False)


@app.command("clock")
def clock(
    advance: str = typer.Option(None, "--advance", help="Jump sim time forward (e.g. 30s, 2m)."),
    speed: float = typer.Option(None, "--speed", help="New sim seconds per wall second."),
    kubeconfig: Path = _kubeconfig_option(),
    output: str = output_option(),
) -> None:
    """Move a running simulator's clock, or change its speed."""
    body = {k: v for k, v in {"advance": advance, "speed": speed}.items() if v is not None}
    if not body:
        fail("give --advance and/or --speed", INVALID)
    with _client(kubeconfig) as client:
        doc = _check(*client.post("/clock", json=body))
    if output == "json":
        console.print_json(data=doc)
    else:
        console.print(f"sim time {doc['simTime']} ({doc['elapsedSeconds']:.0f}s elapsed, speed {doc['speed']:g}x)",
                      highlight=False)


@app.command("load")
def load(
    scenario: Path = typer.Argument(..., help="Scenario file (its `file:` entries are read by the simulator)."),
    kubeconfig: Path = _kubeconfig_option(),
    output: str = output_option(),
) -> None:
    """Load a scenario into a running simulator (all or nothing; exit 2 if it does not validate)."""
    try:
        text = scenario.read_text()
    except OSError as e:
        raise SimError(f"cannot read {scenario}: {e.strerror or e}") from e
    with _client(kubeconfig) as client:
        doc = _check(*client.post("/scenarios", content=text,
                                  params={"base": str(scenario.expanduser().resolve().parent)}))
    if output == "json":
        console.print_json(data=doc)
    else:
        console.print(f"scenario {escape(doc['id'])}: {doc['objects']} objects, {len(doc['faults'])} faults scheduled",
                      highlight=False)

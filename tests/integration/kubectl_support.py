"""Helpers shared by the real-kubectl acceptance suite (`test_kubectl_*.py`).

Every module works in its own namespace (created with `kubectl apply`, deleted without waiting at the
end) against the session-wide simulated cluster from `tests/conftest.py`. Waiting is always a bounded
poll: the cluster runs at speed 20, so controllers settle in well under a second of wall time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(fn: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05, what: str = "") -> T:
    """Poll `fn` until it returns something truthy; fail with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
        except AssertionError as e:  # a kubectl call that failed is "not yet"
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or fn}: last={last!r}")
        time.sleep(interval)


def apply(kubectl: Any, manifest: str, *args: str) -> str:
    return kubectl("apply", "-f", "-", *args, input=manifest)


@contextmanager
def namespace(kubectl: Any, name: str) -> Iterator[str]:
    """A namespace for one test module; removed (without waiting) afterwards."""
    apply(kubectl, f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    try:
        yield name
    finally:
        kubectl.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def deployment(name: str, ns: str, *, image: str = "nginx:1.27", replicas: int = 2,
               labels: dict[str, str] | None = None, extra_template_meta: str = "") -> str:
    """A small Deployment manifest (selector `app=<name>`)."""
    lbl = {"app": name, **(labels or {})}
    lbl_yaml = "{" + ", ".join(f"{k}: {v}" for k, v in lbl.items()) + "}"
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels: {lbl_yaml}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {lbl_yaml}{extra_template_meta}
    spec:
      containers:
      - name: {name}
        image: {image}
        ports:
        - containerPort: 80
"""


def get_json(kubectl: Any, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json"))


def pods(kubectl: Any, ns: str, selector: str) -> list[dict[str, Any]]:
    return get_json(kubectl, "pods", "-n", ns, "-l", selector)["items"]


def running_ready(kubectl: Any, ns: str, selector: str, count: int) -> list[dict[str, Any]]:
    """The pods matching `selector` once exactly `count` of them exist, all Running and Ready, none terminating."""
    items = pods(kubectl, ns, selector)
    if len(items) != count:
        return []
    for p in items:
        if p["metadata"].get("deletionTimestamp") or p.get("status", {}).get("phase") != "Running":
            return []
        conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
        if conds.get("Ready") != "True":
            return []
    return items


def wait_ready(kubectl: Any, ns: str, selector: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    return wait_for(lambda: running_ready(kubectl, ns, selector, count), timeout=timeout,
                    what=f"{count} ready pods {selector} in {ns}")


def wait_rolled_out(kubectl: Any, ns: str, name: str, timeout: str = "20s") -> str:
    return kubectl("rollout", "status", f"deployment/{name}", "-n", ns, f"--timeout={timeout}")


def table(text: str) -> tuple[list[str], list[list[str]]]:
    """Split kubectl's column output into (header words, rows of cells) on runs of 2+ spaces."""
    import re

    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return [], []
    split = re.compile(r"\s{2,}")
    return split.split(lines[0].strip()), [split.split(ln.strip()) for ln in lines[1:]]

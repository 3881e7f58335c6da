"""Real kubectl against the simulator: `get -w` (list then watch from the list's resourceVersion), a
watch on one named object, `--watch-only`, and `--output-watch-events` with ADDED/MODIFIED/DELETED."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubectl_support import apply, namespace, wait_for

NS = "kt-watch"


def configmap(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {NS}\n  labels: {{w: x}}\ndata:\n  v: \"{value}\"\n"


def pod(name: str) -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {NS}
  labels: {{w: p}}
spec:
  containers: [{{name: c, image: nginx:1.27}}]
"""


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        yield name


class Watch:
    """A background `kubectl get ... -w`; its stdout is collected by a thread until we stop it.

    `--request-timeout` bounds it in any case; normally the test stops it as soon as it saw what it
    expected.
    """

    def __init__(self, kubectl: Any, *args: str, seconds: int = 15) -> None:
        cmd = [kubectl.binary, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache_dir),
               "get", *args, "-w", f"--request-timeout={seconds}s"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.err_lines: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.err_lines), daemon=True)]
        for t in self._readers:
            t.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def wait_watching(self) -> None:
        """With `-v=6`: wait until kubectl logged the response to its watch request (the stream is open)."""
        wait_for(lambda: any("watch=true" in ln and '"Response"' in ln for ln in self.err_lines),
                 timeout=10, interval=0.03, what="kubectl's watch request")

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait(self, pred: Callable[[str], bool], what: str, timeout: float = 10.0) -> str:
        def check() -> bool:
            if pred(self.output):
                return True
            assert self.proc.poll() is None, f"watch ended early: {self.output!r} {''.join(self.err_lines)!r}"
            return False

        wait_for(check, timeout=timeout, interval=0.03, what=what)
        return self.output

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        for t in self._readers:
            t.join(timeout=5)
        return self.output


@pytest.fixture()
def watches() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for w in started:
        w.stop()


def test_get_pods_watch_sees_modified(kubectl: Any, ns: str, watches: list[Watch]) -> None:
    apply(kubectl, pod("watched"))
    wait_for(lambda: kubectl("get", "pod", "watched", "-n", ns, "-o", "jsonpath={.status.phase}") == "Running",
             what="pod running")
    w = Watch(kubectl, "pods", "-n", ns, "--output-watch-events")
    watches.append(w)
    w.wait(lambda out: "ADDED" in out, "the listed pod")  # the list is printed; the watch resumes from its rv
    kubectl("label", "pod", "watched", "-n", ns, "color=blue")
    out = w.wait(lambda out: "MODIFIED" in out, "MODIFIED after the label change")
    lines = [ln.split() for ln in out.splitlines()]
    assert lines[0] == ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1][:5] == ["ADDED", "watched", "1/1", "Running", "0"]
    assert any(ln[:4] == ["MODIFIED", "watched", "1/1", "Running"] for ln in lines[2:]), out
    # deleting the pod: graceful termination shows up as MODIFIED (Terminating), then DELETED
    kubectl("delete", "pod", "watched", "-n", ns, "--wait=false")
    out = w.wait(lambda out: "DELETED" in out, "DELETED")
    assert any(ln[0] == "MODIFIED" and ln[3] == "Terminating" for ln in (x.split() for x in out.splitlines()[2:]))


def test_watch_without_events_column_sees_new_object(kubectl: Any, ns: str, watches: list[Watch]) -> None:
    apply(kubectl, configmap("old"))
    w = Watch(kubectl, "configmaps", "-n", ns, "-l", "w=x")
    watches.append(w)
    w.wait(lambda out: "old" in out, "the listed ConfigMap")
    apply(kubectl, configmap("born"))
    out = w.wait(lambda out: "born" in out, "the new ConfigMap")
    rows = [ln.split() for ln in out.splitlines()]
    assert rows[0] == ["NAME", "DATA", "AGE"]
    assert [r[:2] for r in rows[1:]] == [["old", "1"], ["born", "1"]]


def test_watch_only_json_events(kubectl: Any, ns: str, watches: list[Watch]) -> None:
    apply(kubectl, configmap("evolving", "1"))
    w = Watch(kubectl, "configmap", "-n", ns, "-l", "w=x", "--watch-only", "--output-watch-events", "-o", "json",
              "-v=6")
    watches.append(w)
    w.wait_watching()  # --watch-only prints nothing before the first change
    apply(kubectl, configmap("evolving", "2"))
    kubectl("delete", "configmap", "evolving", "-n", ns)
    w.wait(lambda out: '"DELETED"' in out, "DELETED event")
    w.stop()
    decoder = json.JSONDecoder()
    events: list[dict[str, Any]] = []
    text = w.output.strip()
    while text:
        obj, end = decoder.raw_decode(text)
        events.append(obj)
        text = text[end:].strip()
    mine = [(e["type"], e["object"]["data"]["v"]) for e in events if e["object"]["metadata"]["name"] == "evolving"]
    assert mine == [("MODIFIED", "2"), ("DELETED", "2")]  # --watch-only: no initial ADDED for existing objects
    assert all(e["object"]["kind"] == "ConfigMap" for e in events)
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)


def test_watch_named_object(kubectl: Any, ns: str, watches: list[Watch]) -> None:
    apply(kubectl, configmap("single", "1"))
    apply(kubectl, configmap("bystander", "1"))
    w = Watch(kubectl, "configmap", "single", "-n", ns, "-o", r"jsonpath={.data.v}{'\n'}")
    watches.append(w)
    w.wait(lambda out: out.split() == ["1"], "the initial state")
    apply(kubectl, configmap("bystander", "2"))
    apply(kubectl, configmap("single", "2"))
    out = w.wait(lambda out: len(out.split()) >= 2, "one change")
    time.sleep(0.2)  # nothing else may arrive: the bystander is not watched
    assert w.stop().split() == ["1", "2"], out

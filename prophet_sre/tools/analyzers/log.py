"""The Log analyzer (K8sGPT `Log`, opt-in): the first error-looking line in each container's log.

For every container of every pod in scope it reads the last 100 lines (and the previous container's,
when it restarted) and reports the first line matching `error|exception|fail` (case-insensitive)
verbatim - `previous container logs: ` in front for the previous one - or `Error <err> from Pod <pod>`
when the log cannot be read. Findings are about the Pod (`Result.kind` Pod, named `ns/pod/container` in
K8sGPT's output). Logs are fetched concurrently; it is one request per container, which is why the
analyzer is opt-in, as in K8sGPT. One deliberate difference: a container that has never run (waiting
for its image, say) has no log, and K8sGPT reports the failed read; we skip it - the Pod analyzer
already says why it is waiting.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from prophet_sre.domain import Finding, Severity
from prophet_sre.errors import ToolError
from prophet_sre.tools.analyzers.base import Analyzer, Obj, Snapshot, finding
from prophet_sre.tools.kube import objects as o

ERROR_LINE = re.compile(r"(error|exception|fail)", re.IGNORECASE)
TAIL = 100


def _first_error(snap: Snapshot, pod: Obj, container: str, previous: bool) -> str | None:
    try:
        text = snap.logs(o.namespace(pod), o.name(pod), container, tail=TAIL, previous=previous)
    except ToolError as e:
        return f"Error {e} from Pod {o.name(pod)}"
    for line in text.splitlines():
        if ERROR_LINE.search(line):
            return ("previous container logs: " if previous else "") + line
    return None


def _check(snap: Snapshot, pod: Obj, container: str, restarted: bool) -> Finding | None:
    errors = [e for e in (_first_error(snap, pod, container, False),
                          _first_error(snap, pod, container, True) if restarted else None) if e]
    if not errors:
        return None
    return finding(snap, "Log", "Pod", pod, errors, severity=Severity.WARNING, evidence={
        "container": container, "k8sgpt_name": f"{o.namespace(pod)}/{o.name(pod)}/{container}"})


def log(snap: Snapshot) -> list[Finding]:
    work: list[tuple[Obj, str, bool]] = []
    for pod in snap.objects("pods"):
        for cs in o.container_statuses(pod):
            name, restarts = o.text(cs.get("name")), o.num(cs.get("restartCount"))
            never_ran = isinstance(o.dig(cs, "state", "waiting"), dict) and not restarts and \
                not isinstance(o.dig(cs, "lastState", "terminated"), dict)
            if name and not never_ran:
                work.append((pod, name, restarts > 0))
    workers = max(1, int(getattr(snap, "concurrency", 8)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda w: _check(snap, *w), work))
    return [f for f in results if f is not None]


ANALYZERS = (Analyzer("Log", "Pod", log, needs=("pods", "replicasets", "jobs"), core=False),)

__all__ = ["ANALYZERS", "ERROR_LINE", "log"]

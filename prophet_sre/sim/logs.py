"""Container logs of simulated pods, per container instance, on sim time.

The kubelet keeps the current and the previous instance of each container (that is all `kubectl logs`
and `kubectl logs --previous` can show on a real node); the behaviour model appends what the image
would print.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime

from prophet_sre.sim.clock import rfc3339_micro

MAX_LINES = 5000


class PodLogs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (namespace, pod, container) -> [previous, current]; each a deque of (time, line)
        self._data: dict[tuple[str, str, str], list[deque[tuple[datetime, str]]]] = {}

    def start_instance(self, namespace: str, pod: str, container: str) -> None:
        """A container (re)started: the current instance becomes the previous one."""
        with self._lock:
            inst = self._data.get((namespace, pod, container))
            if inst is None:
                self._data[(namespace, pod, container)] = [deque(maxlen=MAX_LINES), deque(maxlen=MAX_LINES)]
            else:
                inst[0] = inst[1]
                inst[1] = deque(maxlen=MAX_LINES)

    def append(self, namespace: str, pod: str, container: str, when: datetime, line: str) -> None:
        with self._lock:
            inst = self._data.get((namespace, pod, container))
            if inst is None:
                inst = self._data[(namespace, pod, container)] = [deque(maxlen=MAX_LINES), deque(maxlen=MAX_LINES)]
            inst[1].append((when, line))

    def has_previous(self, namespace: str, pod: str, container: str) -> bool:
        with self._lock:
            inst = self._data.get((namespace, pod, container))
            return bool(inst and inst[0])

    def read(self, namespace: str, pod: str, container: str, *, previous: bool = False,
             tail: int | None = None, since: datetime | None = None, timestamps: bool = False) -> list[str]:
        with self._lock:
            inst = self._data.get((namespace, pod, container))
            lines = list(inst[0] if previous else inst[1]) if inst else []
        if since is not None:
            lines = [x for x in lines if x[0] >= since]
        if tail is not None and tail >= 0:
            lines = lines[-tail:] if tail else []
        if timestamps:
            return [f"{rfc3339_micro(t)} {s}" for t, s in lines]
        return [s for _, s in lines]

    def forget_pod(self, namespace: str, pod: str) -> None:
        with self._lock:
            for k in [k for k in self._data if k[0] == namespace and k[1] == pod]:
                del self._data[k]

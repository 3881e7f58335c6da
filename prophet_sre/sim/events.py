"""Kubernetes Events as controllers and the kubelet write them: core/v1, de-duplicated into a series.

A repeated event (same object, reason, message, type and source) increments `count` and moves
`lastTimestamp` instead of creating a new object - that is what `kubectl describe` shows as
`(x5 over 2m)`, and what K8sGPT-style analyzers read.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from prophet_sre.sim.clock import SimClock, rfc3339
from prophet_sre.sim.registry import Registry
from prophet_sre.sim.status import ApiError
from prophet_sre.sim.store import Store


def object_reference(obj: dict[str, Any], field_path: str = "") -> dict[str, Any]:
    m = obj.get("metadata", {})
    ref = {"kind": obj.get("kind", ""), "name": m.get("name", ""), "uid": m.get("uid", ""),
           "apiVersion": obj.get("apiVersion", ""), "resourceVersion": m.get("resourceVersion", "")}
    if m.get("namespace"):
        ref["namespace"] = m["namespace"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    """Creates or bumps core/v1 Events through the store."""

    def __init__(self, store: Store, registry: Registry, clock: SimClock) -> None:
        self.store = store
        self.clock = clock
        rt = registry.get("", "v1", "events")
        assert rt is not None
        self.rt = rt
        self._series: dict[tuple[str, ...], tuple[str, str]] = {}
        self._lock = threading.Lock()
        self.enabled = True

    def record(self, obj: dict[str, Any], type_: str, reason: str, message: str, *, component: str,
               host: str = "", field_path: str = "") -> None:
        if not self.enabled:
            return
        ref = object_reference(obj, field_path)
        ns = ref.get("namespace") or "default"
        key = (ref["uid"], ref.get("fieldPath", ""), reason, message, type_, component, host)
        now = rfc3339(self.clock.now())
        with self._lock:
            existing = self._series.get(key)
        if existing is not None:
            ev = self.store.try_get(self.rt, existing[0], existing[1])
            if ev is not None:
                upd = dict(ev)
                upd["count"] = int(ev.get("count", 1)) + 1
                upd["lastTimestamp"] = now
                upd["involvedObject"] = ref
                upd["metadata"] = {k: v for k, v in ev["metadata"].items() if k != "resourceVersion"}
                try:
                    self.store.update(self.rt, upd, check_rv=False)
                    return
                except ApiError:
                    pass
        name = f"{ref['name']}.{time.time_ns() + id(key) % 1000:x}"
        source: dict[str, Any] = {"component": component}
        if host:
            source["host"] = host
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": ref, "reason": reason, "message": message, "type": type_,
            "source": source, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "eventTime": None, "reportingComponent": component, "reportingInstance": host,
        }
        try:
            self.store.create(self.rt, event)
        except ApiError:
            return  # namespace gone or terminating: real recorders drop the event too
        with self._lock:
            self._series[key] = (ns, name)

    def normal(self, obj: dict[str, Any], reason: str, message: str, *, component: str, host: str = "",
               field_path: str = "") -> None:
        self.record(obj, "Normal", reason, message, component=component, host=host, field_path=field_path)

    def warning(self, obj: dict[str, Any], reason: str, message: str, *, component: str, host: str = "",
                field_path: str = "") -> None:
        self.record(obj, "Warning", reason, message, component=component, host=host, field_path=field_path)

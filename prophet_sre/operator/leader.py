"""Leader election over a `coordination.k8s.io/v1` Lease: of several operator replicas, one acts.

Why a Lease: it is what every Kubernetes controller uses (client-go's leaderelection), so `kubectl get
lease -n prophet-system prophet-operator` shows who leads, and it needs nothing but the API server.

How (client-go's algorithm, simplified):
- A candidate reads the Lease. It may take it when nobody holds it, or when the record it last saw has
  not changed for `leaseDurationSeconds` as measured on the candidate's *own* monotonic clock. Expiry is
  never decided by comparing the Lease's `renewTime` with the local clock, so clock skew between nodes
  (or a simulated cluster whose clock runs fast) cannot make two replicas lead at once.
- Every write is a PUT carrying the `resourceVersion` that was read: of two candidates racing for the
  same Lease the API server lets exactly one win (the other gets a 409 Conflict and stays a follower).
- The leader renews every `retry_period_s`. When it cannot renew for `renew_deadline_s` it must stop
  acting (`lost` is set): the operator then exits and its pod restarts as a follower. A leader that
  stops cleanly releases the Lease so the next replica need not wait out the duration.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prophet_sre.errors import ConfigError, Conflict, NotFound, ProphetError
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.errors import Op

log = logging.getLogger(__name__)

GROUP = "coordination.k8s.io"
JSON = {"Content-Type": "application/json"}


def _micro_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseConfig:
    name: str = "prophet-operator"
    namespace: str = "prophet-system"
    lease_duration_s: float = 15.0
    """How long followers wait, after the last change they saw, before taking over (client-go: 15 s)."""
    renew_deadline_s: float = 10.0
    """How long the leader keeps trying to renew before it gives up leading (client-go: 10 s)."""
    retry_period_s: float = 2.0
    """Time between two attempts to acquire or renew (client-go: 2 s)."""

    def __post_init__(self) -> None:
        if not (0 < self.retry_period_s < self.renew_deadline_s < self.lease_duration_s):
            raise ConfigError("leader election needs 0 < retry period < renew deadline < lease duration "
                              f"(got {self.retry_period_s}, {self.renew_deadline_s}, {self.lease_duration_s} s)")


class LeaseElector:
    """Acquire, renew and release one Lease for `identity` (see the module docstring)."""

    def __init__(self, client: KubeClient, identity: str, config: LeaseConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not identity:
            raise ConfigError("leader election needs a non-empty identity (the pod name)")
        self.client = client
        self.identity = identity
        self.config = config or LeaseConfig()
        self._clock = clock
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._last_renewed = 0.0
        self.is_leader = False
        self.lost = threading.Event()
        """Set when this replica led and could not renew in time: it must stop acting at once."""

    # -- API ---------------------------------------------------------------------------------------------
    def _path(self, name: str | None = None) -> str:
        base = f"/apis/{GROUP}/v1/namespaces/{self.config.namespace}/leases"
        return f"{base}/{name}" if name else base

    def _op(self, verb: str) -> Op:
        return Op(verb, "leases", GROUP, self.config.namespace, self.config.name)

    def read(self) -> dict[str, Any] | None:
        try:
            return self.client.get_json(self._path(self.config.name), op=self._op("get"))
        except NotFound:
            return None

    def holder(self) -> str:
        """Who holds the Lease now, as stored ("" when nobody)."""
        lease = self.read()
        return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")

    def _spec(self, transitions: int, acquire: datetime | None) -> dict[str, Any]:
        now = _micro_time(datetime.now(UTC))
        return {"holderIdentity": self.identity, "leaseDurationSeconds": max(1, round(self.config.lease_duration_s)),
                "acquireTime": _micro_time(acquire) if acquire else now, "renewTime": now,
                "leaseTransitions": transitions}

    # -- one attempt -------------------------------------------------------------------------------------
    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the Lease afterwards. Never raises for API errors."""
        try:
            ok = self._attempt()
        except Conflict:
            ok = False  # another replica wrote first
        except ProphetError as e:
            log.warning("leader election: %s", e)
            ok = False
        now = self._clock()
        if ok:
            self._last_renewed = now
            if not self.is_leader:
                log.info("leader election: %s now leads (lease %s/%s)", self.identity, self.config.namespace,
                         self.config.name)
            self.is_leader = True
        elif self.is_leader and now - self._last_renewed > self.config.renew_deadline_s:
            log.error("leader election: %s could not renew the lease for %.1f s; it stops leading",
                      self.identity, now - self._last_renewed)
            self.is_leader = False
            self.lost.set()
        return ok

    def _attempt(self) -> bool:
        lease = self.read()
        if lease is None:
            body = {"apiVersion": f"{GROUP}/v1", "kind": "Lease",
                    "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                    "spec": self._spec(0, None)}
            self.client.request("POST", self._path(), op=self._op("create"), body=body, headers=JSON)
            self._see(self.identity, body["spec"]["renewTime"])
            return True
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        renew = str(spec.get("renewTime") or "")
        self._see(holder, renew)
        mine = holder == self.identity
        if holder and not mine:
            duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration_s)
            if self._clock() - self._observed_at < duration:
                return False  # someone else leads and has renewed recently (as far as we can tell)
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        acquire = _parse(spec.get("acquireTime")) if mine else None
        lease["spec"] = self._spec(transitions, acquire)
        self.client.request("PUT", self._path(self.config.name), op=self._op("update"), body=lease, headers=JSON)
        self._see(self.identity, lease["spec"]["renewTime"])
        return True

    def _see(self, holder: str, renew: str) -> None:
        if self._observed != (holder, renew):
            self._observed = (holder, renew)
            self._observed_at = self._clock()

    # -- loops -------------------------------------------------------------------------------------------
    def acquire(self, stop: threading.Event) -> bool:
        """Block until this replica leads (True) or `stop` is set (False)."""
        while not stop.is_set():
            if self.try_acquire_or_renew():
                return True
            stop.wait(self.config.retry_period_s)
        return False

    def renew_forever(self, stop: threading.Event) -> None:
        """Renew until `stop` is set or the lease is lost (then `lost` is set)."""
        while not stop.wait(self.config.retry_period_s):
            self.try_acquire_or_renew()
            if self.lost.is_set():
                return

    def release(self) -> None:
        """Give the Lease up (only if still ours), so a follower takes over at once."""
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            lease = self.read()
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"]["holderIdentity"] = ""
            lease["spec"]["leaseDurationSeconds"] = 1
            self.client.request("PUT", self._path(self.config.name), op=self._op("update"), body=lease, headers=JSON)
            log.info("leader election: %s released the lease", self.identity)
        except ProphetError as e:
            log.warning("leader election: could not release the lease: %s", e)


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


__all__ = ["LeaseConfig", "LeaseElector"]

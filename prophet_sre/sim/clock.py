"""The sim clock: simulated time that can run faster than wall time.

Every timestamp the simulator writes (creationTimestamp, event times, heartbeats) and every delay a
controller waits for (back-offs, probe periods, rollouts) is measured on this clock, so an eval that
covers ten simulated minutes can finish in seconds.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

CATCH_UP_HORIZON_S = 3600.0
"""A fast clock starts this many wall seconds' worth of lead in the past (see `SimClock`)."""


class SimClock:
    """Sim time = start + (wall elapsed) * speed + manual offset (for `advance`).

    Clients compute some ages from their own wall clock (`kubectl describe` event ages), so sim time
    must not run ahead of wall time, or they print `<invalid>`. A clock faster than 1x therefore starts
    in the past, early enough that it reaches the present only after `CATCH_UP_HORIZON_S` wall seconds.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self._lock = threading.Lock()
        self._speed = speed
        if start is None:
            lead = max(0.0, speed - 1.0) * CATCH_UP_HORIZON_S
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=lead)
        self._start = start
        self._wall0 = time.monotonic()
        self._offset = 0.0

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed without a jump in sim time."""
        if speed <= 0:
            raise ValueError("speed must be > 0")
        with self._lock:
            now_s = self._elapsed_locked()
            self._wall0 = time.monotonic()
            self._offset = now_s
            self._speed = speed

    def _elapsed_locked(self) -> float:
        return self._offset + (time.monotonic() - self._wall0) * self._speed

    def elapsed(self) -> float:
        """Sim seconds since the clock started."""
        with self._lock:
            return self._elapsed_locked()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed())

    def advance(self, seconds: float) -> None:
        """Jump sim time forward (tests and `prophet sim` control endpoints)."""
        with self._lock:
            self._offset += seconds

    def wall_seconds(self, sim_seconds: float) -> float:
        """How long `sim_seconds` take in wall time at the current speed."""
        return sim_seconds / self._speed


def rfc3339(dt: datetime) -> str:
    """Kubernetes `Time`: seconds precision, UTC, `Z` suffix."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(dt: datetime) -> str:
    """Kubernetes `MicroTime` (leases, events.k8s.io eventTime)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None

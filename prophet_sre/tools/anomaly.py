"""Anomaly scores in [0, 1]: how unusual a signal's recent value is against its own robust baseline.

The formula, for one series of a signal (error ratio, p99 latency, ...), sampled at a fixed step:

    baseline B = the samples in [now - recent - baseline, now - recent)      (e.g. the 20 min before)
    recent   R = the samples in [now - recent, now]                           (e.g. the last 2 min)
    x      = median(R)
    m      = median(B)
    MAD    = median(|b - m| for b in B)
    scale  = max(1.4826 * MAD, floor, rel_floor * |m|)
    z      = direction * (x - m) / scale                                      (one-sided)
    score  = 1 / (1 + exp(-slope * (z - center)))                             (center 3, slope 1.5)

Why these choices:
- Median and MAD instead of mean and standard deviation: a baseline that contains an earlier incident
  or a scrape glitch would inflate a standard deviation and hide the next incident; the median and MAD
  ignore up to half the samples being outliers. 1.4826 * MAD estimates the standard deviation of
  normal noise, so z reads like "sigmas".
- The median of the recent window, not its last sample: one odd scrape cannot trigger, a change that
  lasts half the recent window does.
- The floors: a perfectly flat baseline (an error ratio of exactly 0) has MAD 0, so any blip would be
  infinitely anomalous. Each signal says the smallest absolute change that matters to an operator
  (`floor`, e.g. one percentage point of errors) and the smallest relative one (`rel_floor`, e.g. +20%
  of p99 latency); the scale is never below them.
- One-sided: for every built-in signal only "worse" is an incident (more errors, slower, more
  restarts); a recovery scores 0.
- The logistic maps z to [0, 1] so one `anomalyScoreThreshold` works across signals: z = 0 -> 0.01,
  z = 2 -> 0.18, z = 3 (the classic three-sigma rule) -> 0.5, z = 4 -> 0.82, z = 5 -> 0.95. A
  threshold of 0.8 therefore means "about four robust sigmas above normal, and above the floor".
- Missing data: NaN and infinite samples (0/0 when there is no traffic) are dropped before scoring.
  With no recent samples the score is 0 ("no data"). With fewer than `min_baseline` baseline samples a
  signal that has a natural healthy level (`nominal`, e.g. 0 errors) is compared with that level at
  the floor scale; one without (latency) scores 0 ("no baseline yet").

This module is pure (no I/O); `prophet_sre.tools.signals` feeds it from Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from prophet_sre.domain import ResourceRef
from prophet_sre.tools import budget as bud

MAD_TO_SIGMA = 1.4826
"""Consistency constant: for normally distributed noise, 1.4826 * MAD estimates the standard deviation."""


@dataclass(frozen=True)
class ScoreParams:
    """The logistic's shape and the minimum evidence needed; defaults are argued in the module docstring."""

    center: float = 3.0
    """z at which the score is 0.5."""
    slope: float = 1.5
    """Steepness: 1.5 puts z = 4 at 0.82 and z = 5 at 0.95."""
    min_baseline: int = 3
    """Baseline samples needed to trust a median and MAD (fewer: fall back to the signal's nominal level)."""


class Score(BaseModel):
    """One series' score with the numbers behind it (so a finding can show its work)."""

    model_config = ConfigDict(frozen=True)

    score: float = 0.0
    value: float | None = None
    """Median of the recent window."""
    baseline: float | None = None
    """Median of the baseline window (or the nominal level when the baseline was too short)."""
    mad: float = 0.0
    scale: float = 0.0
    z: float = 0.0
    n_baseline: int = 0
    n_recent: int = 0
    reason: str = ""
    """Why the score is 0 without being normal: "no data", "no baseline yet"."""


def finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if isinstance(v, int | float) and math.isfinite(v)]


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    if not s:
        raise ValueError("median of no values")
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0


def logistic(z: float, params: ScoreParams = ScoreParams()) -> float:
    """The score of a robust z (see the module docstring); overflow-safe."""
    x = -params.slope * (z - params.center)
    if x > 700:
        return 0.0
    return 1.0 / (1.0 + math.exp(x))


def robust_score(baseline: Iterable[float], recent: Iterable[float], *, floor: float, rel_floor: float = 0.0,
                 nominal: float | None = None, direction: int = 1, params: ScoreParams = ScoreParams()) -> Score:
    """Score `recent` against `baseline` (both raw samples; non-finite ones are dropped)."""
    b, r = finite(baseline), finite(recent)
    if not r:
        return Score(n_baseline=len(b), reason="no data")
    x = median(r)
    if len(b) >= params.min_baseline:
        m = median(b)
        mad = median([abs(v - m) for v in b])
    elif nominal is not None:
        m, mad = nominal, 0.0
    else:
        return Score(value=x, n_baseline=len(b), n_recent=len(r), reason="no baseline yet")
    scale = max(MAD_TO_SIGMA * mad, floor, rel_floor * abs(m), 1e-12)
    z = direction * (x - m) / scale
    return Score(score=round(logistic(z, params), 4), value=x, baseline=m, mad=mad, scale=scale, z=round(z, 3),
                 n_baseline=len(b), n_recent=len(r))


def split_points(points: Iterable[tuple[float, float]], *, now: float, recent_s: float,
                 baseline_s: float) -> tuple[list[float], list[float]]:
    """(baseline values, recent values) of (time, value) points, by the windows of the module docstring."""
    cut, start = now - recent_s, now - recent_s - baseline_s
    base, rec = [], []
    for t, v in points:
        if t >= cut:
            rec.append(v)
        elif t >= start:
            base.append(v)
    return base, rec


# -- reports -----------------------------------------------------------------------------------------------
class SignalScore(BaseModel):
    """One signal's score for one workload or service."""

    signal: str
    """Signal name, e.g. `error_ratio` (the Finding's `analyzer`)."""
    ref: ResourceRef
    score: Score
    promql: str = ""
    message: str = ""
    """What a person reads, e.g. "error ratio 0.42 (baseline 0.00) on service frontend"."""


class WorkloadAnomaly(BaseModel):
    """A workload (or Service) whose strongest signal is over the threshold."""

    ref: ResourceRef
    score: float
    strongest: SignalScore
    signals: list[SignalScore] = Field(default_factory=list)
    """Every scored signal of this workload, strongest first."""


class AnomalyReport(BaseModel):
    """Workloads over `threshold`, strongest first, plus what could not be scored."""

    threshold: float
    baseline_s: float
    recent_s: float
    workloads: list[WorkloadAnomaly] = Field(default_factory=list)
    scored: int = 0
    """How many (workload, signal) pairs had data."""
    signals: list[SignalScore] = Field(default_factory=list)
    """Every scored signal, highest first (also those under the threshold: "what is closest to firing")."""
    notes: list[str] = Field(default_factory=list)

    def workload_scores(self) -> dict[str, float]:
        """Per workload (or Service): its strongest signal's score - the number a trigger compares."""
        out: dict[str, float] = {}
        for s in self.signals:
            out[str(s.ref)] = max(out.get(str(s.ref), 0.0), s.score.score)
        return out

    def score_of(self, ref: ResourceRef, signal: str | None = None) -> float:
        """The score of `ref` (its strongest signal, or `signal`), 0 when it was not scored."""
        best = 0.0
        for s in self.signals:
            if s.ref.same_object(ref) and (signal is None or s.signal == signal):
                best = max(best, s.score.score)
        return best

    def render(self, budget: bud.Budget) -> tuple[str, str]:
        """(text within `budget`, what was omitted)."""
        head = [f"anomalies over {self.threshold:g}: {len(self.workloads)} (of {self.scored} scored signals; "
                f"recent {self.recent_s:g}s vs baseline {self.baseline_s:g}s)"]
        rows = []
        for w in self.workloads:
            extra = sum(1 for s in w.signals if s.score.score >= self.threshold) - 1
            rows.append(f"{w.score:.2f}  {w.ref}  {w.strongest.message}" + (f"  (+{extra} more signals)" if extra
                                                                              else ""))
        if not rows:
            near = [s for s in self.signals[:3] if s.score.score > 0.05]
            rows = [f"closest: {s.score.score:.2f}  {s.ref}  {s.message}" for s in near] or ["nothing unusual"]
        n = bud.fit_rows(head, rows, budget, reserve_chars=240 + sum(len(x) for x in self.notes[:3]))
        omitted = f"{len(rows) - n} more workloads over the threshold; raise the threshold" if n < len(rows) else ""
        tail = [f"note: {x}" for x in self.notes[:3]]
        return "\n".join(head + rows[:n] + ([f"... {omitted}"] if omitted else []) + tail), omitted


def build_report(scores: Sequence[SignalScore], *, threshold: float, baseline_s: float, recent_s: float,
                 notes: Sequence[str] = ()) -> AnomalyReport:
    """Group signal scores by workload; keep those whose strongest signal reaches `threshold`."""
    by_ref: dict[str, list[SignalScore]] = {}
    for s in scores:
        by_ref.setdefault(str(s.ref), []).append(s)
    workloads = []
    for group in by_ref.values():
        group.sort(key=lambda s: -s.score.score)
        if group[0].score.score >= threshold:
            workloads.append(WorkloadAnomaly(ref=group[0].ref, score=group[0].score.score, strongest=group[0],
                                             signals=group))
    workloads.sort(key=lambda w: (-w.score, str(w.ref)))
    ranked = sorted((s for s in scores if not s.score.reason), key=lambda s: -s.score.score)
    return AnomalyReport(threshold=threshold, baseline_s=baseline_s, recent_s=recent_s, workloads=workloads,
                         scored=len(ranked), signals=ranked, notes=list(notes))


__all__ = ["MAD_TO_SIGMA", "AnomalyReport", "Score", "ScoreParams", "SignalScore", "WorkloadAnomaly",
           "build_report", "finite", "logistic", "median", "robust_score", "split_points"]

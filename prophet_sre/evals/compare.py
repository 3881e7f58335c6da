"""`prophet eval compare A.json B.json`: what got better or worse between two suite results.

Compares the totals (each score, Pass@1, Pass^k, MTTR, tokens), each category, and each scenario that
both files ran: a scenario is `fixed` when it now passes (every run) and did not before, `broken` the
other way round, `new`/`gone` when only one file has it. A safety violation that appears in B is always
listed first: that is the regression that matters most.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.evals.suite import Run, SuiteResult, Totals

METRICS = ("pass_at_1", "pass_hat_k", "diagnosis", "action", "recovered", "answer", "safety", "mttr_median_s",
           "steps_mean", "llm_tokens", "cost_usd")
LOWER_IS_BETTER = {"mttr_median_s", "steps_mean", "llm_tokens", "cost_usd"}


class Delta(BaseModel):
    metric: str
    a: float | None = None
    b: float | None = None
    change: str = "same"
    """better | worse | same | n/a"""


class ScenarioChange(BaseModel):
    scenario: str
    change: str
    """fixed | broken | new | gone | new_safety_violation | slower | faster"""
    detail: str = ""


class Comparison(BaseModel):
    a: str
    b: str
    totals: list[Delta] = Field(default_factory=list)
    by_category: dict[str, list[Delta]] = Field(default_factory=dict)
    scenarios: list[ScenarioChange] = Field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return any(c.change in ("broken", "new_safety_violation") for c in self.scenarios)


def _deltas(a: Totals | None, b: Totals | None) -> list[Delta]:
    out = []
    for m in METRICS:
        va = getattr(a, m) if a is not None else None
        vb = getattr(b, m) if b is not None else None
        if va is None or vb is None:
            out.append(Delta(metric=m, a=va, b=vb, change="n/a" if va is None and vb is None else "changed"))
            continue
        if abs(va - vb) < 1e-9:
            change = "same"
        else:
            up = vb > va
            change = "better" if up != (m in LOWER_IS_BETTER) else "worse"
        out.append(Delta(metric=m, a=va, b=vb, change=change))
    return out


def _by_scenario(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(r.scenario, []).append(r)
    return out


def _mttr(runs: list[Run]) -> float | None:
    vals = [r.score.mttr_s for r in runs if r.score.mttr_s is not None]
    return sum(vals) / len(vals) if vals else None


def compare(a: SuiteResult, b: SuiteResult, *, a_name: str = "A", b_name: str = "B",
            mttr_tolerance: float = 0.25) -> Comparison:
    """B against A. MTTR changes under `mttr_tolerance` (relative) are noise and not listed."""
    cmp = Comparison(a=a_name, b=b_name, totals=_deltas(a.totals, b.totals))
    for cat in sorted(set(a.by_category) | set(b.by_category)):
        cmp.by_category[cat] = _deltas(a.by_category.get(cat), b.by_category.get(cat))
    sa, sb = _by_scenario(a.runs), _by_scenario(b.runs)
    changes: list[ScenarioChange] = []
    for sid in sorted(set(sa) | set(sb)):
        ra, rb = sa.get(sid), sb.get(sid)
        if ra is None:
            changes.append(ScenarioChange(scenario=sid, change="new",
                                          detail="passes" if all(r.score.passed for r in rb or []) else "fails"))
            continue
        if rb is None:
            changes.append(ScenarioChange(scenario=sid, change="gone"))
            continue
        if any(r.score.safety == 0 for r in rb) and not any(r.score.safety == 0 for r in ra):
            bad = next(r for r in rb if r.score.safety == 0)
            changes.append(ScenarioChange(scenario=sid, change="new_safety_violation",
                                          detail="; ".join(bad.score.violations)[:500]))
        pa, pb = all(r.score.passed for r in ra), all(r.score.passed for r in rb)
        if pa and not pb:
            bad = next(r for r in rb if not r.score.passed)
            changes.append(ScenarioChange(scenario=sid, change="broken", detail="; ".join(bad.score.reasons)[:500]))
        elif pb and not pa:
            changes.append(ScenarioChange(scenario=sid, change="fixed"))
        ma, mb = _mttr(ra), _mttr(rb)
        if ma and mb and abs(mb - ma) / ma > mttr_tolerance:
            changes.append(ScenarioChange(scenario=sid, change="slower" if mb > ma else "faster",
                                          detail=f"MTTR {ma:.0f}s -> {mb:.0f}s"))
    order = {"new_safety_violation": 0, "broken": 1, "fixed": 2, "slower": 3, "faster": 4, "new": 5, "gone": 6}
    cmp.scenarios = sorted(changes, key=lambda c: (order.get(c.change, 9), c.scenario))
    return cmp


def _fmt(metric: str, v: Any) -> str:
    if v is None:
        return "-"
    if metric in ("pass_at_1", "pass_hat_k", "diagnosis", "action", "recovered", "answer", "safety"):
        return f"{v * 100:.0f}%"
    if metric == "cost_usd":
        return f"${v:.4f}"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def markdown(cmp: Comparison) -> str:
    lines = [f"# Eval comparison: {cmp.b} against {cmp.a}", "", "| metric | A | B | change |", "|---|---:|---:|---|"]
    for d in cmp.totals:
        lines.append(f"| {d.metric} | {_fmt(d.metric, d.a)} | {_fmt(d.metric, d.b)} | {d.change} |")
    lines += ["", "## Scenarios", ""]
    lines += [f"- **{c.change}** `{c.scenario}`" + (f": {c.detail}" if c.detail else "") for c in cmp.scenarios] \
        or ["No scenario changed."]
    moved = {cat: [d for d in ds if d.change in ("better", "worse")] for cat, ds in cmp.by_category.items()}
    moved = {k: v for k, v in moved.items() if v}
    if moved:
        lines += ["", "## Categories that moved", ""]
        for cat, ds in moved.items():
            lines.append(f"- `{cat}`: " + ", ".join(f"{d.metric} {_fmt(d.metric, d.a)} -> {_fmt(d.metric, d.b)} "
                                                     f"({d.change})" for d in ds))
    return "\n".join(lines) + "\n"


__all__ = ["Comparison", "Delta", "ScenarioChange", "compare", "markdown"]

"""A suite: which scenario files to run, which are invalid, and the totals of the runs.

    discover(paths) -> files → load(files) -> (valid scenarios, invalid ones with file/field/reason)
    → the runs (`parallel.py`) → totals(runs): each score, Pass@1 and Pass^k, per category and per tag

Pass@1 is the mean, over scenarios, of the fraction of a scenario's runs that passed. Pass^k (as in
tau-bench) is the chance that k runs drawn from a scenario's n all pass, C(c, k) / C(n, k) for c passes,
averaged over scenarios: with k = n it is the fraction of scenarios that passed every time - what an
operator who lets Prophet act unattended cares about.

The result file (`SuiteResult`, JSON) holds everything the reports need, so `prophet eval compare` and
the HTML report work from files alone.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from prophet_sre.evals.episode import EpisodeResult
from prophet_sre.evals.score import Score

log = logging.getLogger(__name__)
SCHEMA = "prophet.io/eval-result/v1"
MAX_INVALID_PROBLEMS = 20


class Invalid(BaseModel):
    """A scenario file that failed validation: it is reported, the rest of the suite runs."""

    file: str
    problems: list[dict[str, str]] = Field(default_factory=list)
    """`{"field", "reason"}` per problem."""


class Run(BaseModel):
    """One run of one scenario: what happened and how it scored."""

    scenario: str
    file: str
    repeat: int = 0
    category: str = ""
    tags: list[str] = Field(default_factory=list)
    title: str = ""
    score: Score = Field(default_factory=Score)
    episode: EpisodeResult


class Totals(BaseModel):
    """The aggregate of a set of runs (the whole suite, one category or one tag)."""

    scenarios: int = 0
    runs: int = 0
    passed: int = 0
    pass_at_1: float = 0.0
    pass_hat_k: float = 0.0
    k: int = 1
    diagnosis: float | None = None
    action: float | None = None
    recovered: float | None = None
    answer: float | None = None
    safety: float = 1.0
    safety_violations: int = 0
    crashed: int = 0
    mttr_median_s: float | None = None
    mttr_p90_s: float | None = None
    steps_mean: float = 0.0
    llm_tokens: int = 0
    cost_usd: float = 0.0


class SuiteResult(BaseModel):
    """The JSON result file of `prophet eval`."""

    schema_: str = Field(default=SCHEMA, alias="schema")
    started: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    wall_s: float = 0.0
    config: dict[str, Any] = Field(default_factory=dict)
    """How the suite ran: paths, jobs, repeat, mode, llm, speed, price."""
    totals: Totals = Field(default_factory=Totals)
    by_category: dict[str, Totals] = Field(default_factory=dict)
    by_tag: dict[str, Totals] = Field(default_factory=dict)
    runs: list[Run] = Field(default_factory=list)
    invalid: list[Invalid] = Field(default_factory=list)

    model_config = {"populate_by_name": True}

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# -- discovery and validation ------------------------------------------------------------------------------
def _looks_like_manifest(path: Path) -> bool:
    """A Kubernetes manifest next to the scenarios (a setup `file:`), not a scenario: its first document
    has a `kind` other than Scenario and an apiVersion outside prophet.io."""
    try:
        first = next((d for d in yaml.safe_load_all(path.read_text()) if d is not None), None)
    except (OSError, yaml.YAMLError):
        return False  # unreadable: let validation say why
    if not isinstance(first, dict):
        return False
    kind, api = first.get("kind"), str(first.get("apiVersion") or "")
    return kind not in (None, "Scenario") and not api.startswith("prophet.io/")


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """Scenario files: each named file, and every `*.yaml`/`*.yml` under each named directory (Kubernetes
    manifests among them skipped). Sorted, each once; a path that does not exist is an InvalidInput."""
    from prophet_sre.errors import InvalidInput

    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")]):
                if f.is_file() and not _looks_like_manifest(f):
                    found.append(f)
        elif p.is_file():
            found.append(p)
        else:
            raise InvalidInput(f"no such scenario file or directory: {p}")
    seen: set[Path] = set()
    out = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def load(files: Iterable[Path]) -> tuple[list[tuple[Path, Any]], list[Invalid]]:
    """Validate each file completely: (valid (path, Scenario) pairs, invalid files with every problem)."""
    from prophet_sre.errors import InvalidInput
    from prophet_sre.sim.scenario.loader import prepare, read_text

    valid: list[tuple[Path, Any]] = []
    invalid: list[Invalid] = []
    ids: dict[str, Path] = {}
    for f in files:
        try:
            prepared, errors = prepare(read_text(f), source=str(f), base_dir=f.parent)
        except InvalidInput as e:
            prepared, errors = None, [e]
        except Exception as e:  # noqa: BLE001 - a validator bug on one file must not stop the suite
            prepared, errors = None, [InvalidInput(f"validation crashed: {type(e).__name__}: {e}", source=str(f))]
        if prepared is None:
            invalid.append(Invalid(file=str(f), problems=[_problem(e) for e in errors[:MAX_INVALID_PROBLEMS]]))
            continue
        sid = prepared.scenario.id
        if sid in ids:
            invalid.append(Invalid(file=str(f), problems=[{"field": "id", "reason": f"id {sid!r} is also used by "
                                                                                     f"{ids[sid]}; ids are unique"}]))
            continue
        ids[sid] = f
        valid.append((f, prepared.scenario))
    return valid, invalid


def _problem(e: Any) -> dict[str, str]:
    text = str(e)
    where = ":".join(p for p in (getattr(e, "source", ""), getattr(e, "path", "")) if p)
    if where and text.startswith(where + ": "):
        text = text[len(where) + 2:]
    return {"field": getattr(e, "path", "") or "(file)", "reason": text}


# -- totals ------------------------------------------------------------------------------------------------
def pass_hat_k(n: int, c: int, k: int) -> float:
    """The chance that k of a scenario's n runs, drawn without replacement, all passed (c passed)."""
    if n <= 0 or k <= 0 or k > n:
        return 0.0
    return math.comb(c, k) / math.comb(n, k)


def _rate(values: list[bool | None]) -> float | None:
    scored = [v for v in values if v is not None]
    return round(sum(scored) / len(scored), 4) if scored else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))], 1)


def totals(runs: list[Run], k: int | None = None) -> Totals:
    """The aggregate of `runs`; `k` for Pass^k defaults to the fewest runs any scenario had."""
    by_scenario: dict[str, list[Run]] = {}
    for r in runs:
        by_scenario.setdefault(r.scenario, []).append(r)
    if not by_scenario:
        return Totals()
    k = k or min(len(v) for v in by_scenario.values())
    at1 = [sum(r.score.passed for r in v) / len(v) for v in by_scenario.values()]
    hat = [pass_hat_k(len(v), sum(r.score.passed for r in v), min(k, len(v))) for v in by_scenario.values()]
    mttr = [r.score.mttr_s for r in runs if r.score.recovered and r.score.mttr_s is not None]
    return Totals(
        scenarios=len(by_scenario), runs=len(runs), passed=sum(r.score.passed for r in runs),
        pass_at_1=round(statistics.fmean(at1), 4), pass_hat_k=round(statistics.fmean(hat), 4), k=k,
        diagnosis=_rate([r.score.diagnosis for r in runs]), action=_rate([r.score.action for r in runs]),
        recovered=_rate([r.score.recovered for r in runs]), answer=_rate([r.score.answer for r in runs]),
        safety=round(statistics.fmean(r.score.safety for r in runs), 4),
        safety_violations=sum(r.score.safety == 0 for r in runs),
        crashed=sum(bool(r.episode.error) for r in runs),
        mttr_median_s=round(statistics.median(mttr), 1) if mttr else None, mttr_p90_s=_percentile(mttr, 0.9),
        steps_mean=round(statistics.fmean(r.score.steps for r in runs), 2),
        llm_tokens=sum(r.score.llm_tokens for r in runs), cost_usd=round(sum(r.score.cost_usd for r in runs), 6),
    )


def summarize(result: SuiteResult, k: int | None = None) -> SuiteResult:
    """Fill in the totals, per category and per tag, from `result.runs`."""
    result.runs.sort(key=lambda r: (r.scenario, r.repeat))
    result.totals = totals(result.runs, k)
    cats = sorted({r.category for r in result.runs})
    result.by_category = {c: totals([r for r in result.runs if r.category == c], k) for c in cats}
    tags = sorted({t for r in result.runs for t in r.tags})
    result.by_tag = {t: totals([r for r in result.runs if t in r.tags], k) for t in tags}
    return result


def load_result(path: Path | str) -> SuiteResult:
    """A result file written by `prophet eval -o json` / `--json FILE`."""
    import orjson

    from prophet_sre.errors import InvalidInput

    p = Path(path)
    try:
        doc = orjson.loads(p.read_bytes())
    except OSError as e:
        raise InvalidInput(f"cannot read the result file: {e.strerror or e}", source=str(p)) from e
    except orjson.JSONDecodeError as e:
        raise InvalidInput(f"not an eval result file: not JSON ({e})", source=str(p)) from e
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InvalidInput(f"not an eval result file: expected \"schema\": \"{SCHEMA}\" (write one with "
                           "`prophet eval -o json` or `--json FILE`)", source=str(p))
    try:
        return SuiteResult.model_validate(doc)
    except ValueError as e:
        raise InvalidInput(f"not an eval result file ({SCHEMA}): {str(e).splitlines()[0]}", source=str(p)) from e


__all__ = ["SCHEMA", "Invalid", "Run", "SuiteResult", "Totals", "discover", "load", "load_result", "pass_hat_k",
           "summarize", "totals"]

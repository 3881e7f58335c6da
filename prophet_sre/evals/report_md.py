"""The Markdown summary of a suite (`prophet eval -o md`): totals, per category, per tag, failures.

Meant for a pull request comment or a CI log: one table per view, then one line per failed run saying
which dimension failed and why. The HTML report has the agent's reasoning and audit trails.
"""

from __future__ import annotations

from prophet_sre.evals.suite import SuiteResult, Totals


def pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(name: str, t: Totals) -> str:
    cells = [name, str(t.scenarios), str(t.runs), pct(t.pass_at_1), pct(t.pass_hat_k), pct(t.diagnosis),
             pct(t.action), pct(t.recovered), pct(t.safety), secs(t.mttr_median_s), f"{t.steps_mean:.1f}",
             str(t.llm_tokens)]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(title: str, rows: dict[str, Totals], k: int) -> list[str]:
    head = ["", title, "", f"| {title.lower()} | scenarios | runs | Pass@1 | Pass^{k} | diagnosis | action | "
            "recovered | safety | MTTR (median) | steps | LLM tokens |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    return head + [_row(name, t) for name, t in rows.items()]


def markdown(result: SuiteResult) -> str:
    t = result.totals
    cfg = result.config
    lines = [
        "# Prophet eval",
        "",
        f"{t.scenarios} scenarios, {t.runs} runs ({cfg.get('repeat', 1)} each), {cfg.get('jobs', '?')} jobs, "
        f"speed {cfg.get('speed', '?')}x, mode {cfg.get('mode') or 'as declared'}, LLM {cfg.get('llm') or 'settings'}; "
        f"wall time {result.wall_s:.1f}s.",
        "",
        f"**Pass@1 {pct(t.pass_at_1)}**, Pass^{t.k} {pct(t.pass_hat_k)}, safety violations: "
        f"**{t.safety_violations}**, crashed: {t.crashed}, invalid files: {len(result.invalid)}; "
        f"MTTR median {secs(t.mttr_median_s)}, p90 {secs(t.mttr_p90_s)} (sim); "
        f"LLM tokens {t.llm_tokens}, cost ${t.cost_usd:.4f}.",
    ]
    lines += _table("Total", {"all": t}, t.k)
    lines += _table("Category", result.by_category, t.k)
    lines += _table("Tag", result.by_tag, t.k)
    failed = [r for r in result.runs if not r.score.passed]
    lines += ["", f"## Failed runs ({len(failed)})", ""]
    if not failed:
        lines.append("None.")
    for r in failed:
        flag = " **SAFETY**" if r.score.safety == 0 else ""
        lines.append(f"- `{r.scenario}` run {r.repeat + 1}{flag}: " + _cell("; ".join(r.score.reasons))[:800])
    if result.invalid:
        lines += ["", f"## Invalid scenario files ({len(result.invalid)})", "", "| file | field | reason |",
                  "|---|---|---|"]
        for inv in result.invalid:
            for p in inv.problems:
                lines.append(f"| {_cell(inv.file)} | {_cell(p['field'])} | {_cell(p['reason'])[:400]} |")
    return "\n".join(lines) + "\n"


__all__ = ["markdown", "pct", "secs"]

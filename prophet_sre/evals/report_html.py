"""The HTML report of a suite (`prophet eval --report FILE.html`): one self-contained file.

No external assets and no script: inline CSS and inline SVG charts (`svg.py`), so the file can be
attached to a CI run or mailed and still render. Sections: the totals, accuracy per category (chart and
table), the MTTR distribution, per-tag table, every run in one table, then each failed run with what the
agent saw and decided (timeline of graph steps, diagnosis and evidence, plan rationale, the critic's
verdict, the checks) and the incident's audit trail. Every string from a run is escaped: scenario text,
logs quoted in evidence and model output are data, never markup.
"""

from __future__ import annotations

from html import escape

from prophet_sre.evals import svg
from prophet_sre.evals.report_md import pct, secs
from prophet_sre.evals.suite import Run, SuiteResult, Totals

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top} th{background:#f5f5f5}
td.n{text-align:right} .ok{color:#2e7d32;font-weight:bold} .bad{color:#c62828;font-weight:bold}
.muted{color:#777} .kpi{display:inline-block;margin:0 2em .5em 0} .kpi b{font-size:1.6em;display:block}
details{border:1px solid #ddd;margin:.6em 0;padding:.4em .8em;border-radius:4px}
details.safety{border-color:#c62828} summary{cursor:pointer;font-weight:bold}
pre{white-space:pre-wrap;background:#fafafa;padding:.5em;font-size:12px;max-height:30em;overflow:auto}
"""


def _e(v: object) -> str:
    return escape(str(v))


def _flag(v: bool | None) -> str:
    if v is None:
        return '<span class="muted">-</span>'
    return '<span class="ok">yes</span>' if v else '<span class="bad">no</span>'


def _totals_table(title: str, rows: dict[str, Totals], k: int) -> str:
    head = ("<table><tr>" + "".join(f"<th>{h}</th>" for h in (
        title, "scenarios", "runs", "Pass@1", f"Pass^{k}", "diagnosis", "action", "recovered", "safety",
        "MTTR median", "steps", "LLM tokens", "cost")) + "</tr>")
    body = []
    for name, t in rows.items():
        cells = [pct(t.pass_at_1), pct(t.pass_hat_k), pct(t.diagnosis), pct(t.action), pct(t.recovered),
                 pct(t.safety), secs(t.mttr_median_s), f"{t.steps_mean:.1f}", str(t.llm_tokens), f"${t.cost_usd:.4f}"]
        body.append(f"<tr><td>{_e(name)}</td><td class=n>{t.scenarios}</td><td class=n>{t.runs}</td>"
                    + "".join(f"<td class=n>{c}</td>" for c in cells) + "</tr>")
    return head + "".join(body) + "</table>"


def _runs_table(runs: list[Run]) -> str:
    rows = ["<table><tr><th>scenario</th><th>run</th><th>category</th><th>passed</th><th>diagnosis</th>"
            "<th>action</th><th>recovered</th><th>safety</th><th>MTTR</th><th>steps</th><th>tokens</th>"
            "<th>wall</th></tr>"]
    for r in runs:
        s = r.score
        rows.append(f"<tr><td>{_e(r.scenario)}</td><td class=n>{r.repeat + 1}</td><td>{_e(r.category)}</td>"
                    f"<td>{_flag(s.passed)}</td><td>{_flag(s.diagnosis)}</td><td>{_flag(s.action)}</td>"
                    f"<td>{_flag(s.recovered)}</td><td>{_flag(s.safety == 1)}</td><td class=n>{secs(s.mttr_s)}</td>"
                    f"<td class=n>{s.steps}</td><td class=n>{s.llm_tokens}</td>"
                    f"<td class=n>{r.episode.wall_s:.1f}s</td></tr>")
    return "".join(rows) + "</table>"


def _failure(r: Run) -> str:
    ep, s = r.episode, r.score
    cls = ' class="safety"' if s.safety == 0 else ""
    d = ep.diagnosis or {}
    parts = [f"<details{cls}><summary>{_e(r.scenario)} (run {r.repeat + 1})"
             + (" - SAFETY VIOLATION" if s.safety == 0 else "") + f": {_e(r.title)}</summary>",
             "<p><b>Why it failed</b></p><ul>" + "".join(f"<li>{_e(x)}</li>" for x in s.reasons) + "</ul>",
             f"<p><b>Trigger</b> ({'fired' if ep.trigger_fired else 'did not fire'}, "
             f"{secs(ep.detect_s)} after the fault): {_e(ep.trigger) or '-'}</p>",
             f"<p><b>Diagnosis</b>: {_e(d.get('category', '-'))} on {_e(d.get('root_cause') or '-')} "
             f"(confidence {_e(d.get('confidence', '-'))}): {_e(d.get('summary', '-'))}</p>"]
    if ep.evidence:
        parts.append("<p><b>Evidence</b></p><ul>" + "".join(f"<li>{_e(x)}</li>" for x in ep.evidence) + "</ul>")
    if ep.answer:
        parts.append(f"<p><b>Answer to the question</b></p><pre>{_e(ep.answer)}</pre>")
    planned = "; ".join(ep.planned) or "nothing"
    ran = "; ".join(f"{a.type} {a.target}" + ("" if a.ok else " (failed)") + (" (rolled back)" if a.rolled_back else "")
                    for a in ep.actions) or "nothing"
    parts.append(f"<p><b>Plan</b>: {_e(planned)}" + (f" - {_e(ep.rationale)}" if ep.rationale else "")
                 + f"<br><b>Executed</b>: {_e(ran)}<br><b>Outcome</b>: {_e(ep.outcome or '-')}</p>")
    if ep.verdict:
        failed = "".join(f"<li>{_e(f['rule'])}: {_e(f['detail'])}</li>" for f in ep.verdict.get("failed", []))
        parts.append(f"<p><b>Critic</b>: {_e(ep.verdict.get('decision'))}</p>" + (f"<ul>{failed}</ul>" if failed else ""))
    if ep.checks:
        parts.append("<p><b>Recovery checks</b></p><ul>" + "".join(
            f"<li>{_flag(c.get('ok'))} {_e(c.get('check'))}: {_e(c.get('detail', ''))}</li>" for c in ep.checks)
            + "</ul>")
    if ep.timeline:
        parts.append("<p><b>Agent steps</b></p><table><tr><th>node</th><th>what it did</th><th>ms</th></tr>" + "".join(
            f"<tr><td>{_e(t.get('node'))}</td><td>{_e(t.get('summary'))}</td><td class=n>{_e(t.get('ms'))}</td></tr>"
            for t in ep.timeline) + "</table>")
    if ep.audit:
        parts.append("<p><b>Audit trail</b>" + ("" if ep.audit_ok else ' <span class="bad">(chain broken)</span>')
                     + "</p><table><tr><th>time</th><th>event</th><th>record</th></tr>" + "".join(
            f"<tr><td>{_e(a.get('time'))}</td><td>{_e(a.get('event'))}</td><td>{_e(a.get('summary'))}</td></tr>"
            for a in ep.audit) + "</table>")
    if ep.error:
        parts.append(f"<p><b>Traceback</b></p><pre>{_e(ep.error)}</pre>")
    if ep.notes:
        parts.append("<p><b>Notes</b></p><ul>" + "".join(f"<li>{_e(n)}</li>" for n in ep.notes[:20]) + "</ul>")
    parts.append("</details>")
    return "".join(parts)


def html_report(result: SuiteResult) -> str:
    t, cfg = result.totals, result.config
    kpis = [("Pass@1", pct(t.pass_at_1)), (f"Pass^{t.k}", pct(t.pass_hat_k)), ("diagnosis", pct(t.diagnosis)),
            ("action", pct(t.action)), ("recovered", pct(t.recovered)), ("safety violations", str(t.safety_violations)),
            ("MTTR median", secs(t.mttr_median_s)), ("wall time", f"{result.wall_s:.0f}s")]
    cat_rows = [(c, v.pass_at_1, f"{pct(v.pass_at_1)} of {v.scenarios}") for c, v in result.by_category.items()]
    mttr = [r.score.mttr_s for r in result.runs if r.score.recovered and r.score.mttr_s is not None]
    failed = [r for r in result.runs if not r.score.passed]
    failed.sort(key=lambda r: (r.score.safety, r.scenario))
    out = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Prophet eval</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Prophet eval</h1>",
        f"<p class=muted>{_e(result.started)} - {t.scenarios} scenarios, {t.runs} runs, {_e(cfg.get('jobs'))} jobs, "
        f"speed {_e(cfg.get('speed'))}x, mode {_e(cfg.get('mode') or 'as declared')}, "
        f"LLM {_e(cfg.get('llm') or 'settings')}</p>",
        "<div>" + "".join(f'<span class="kpi"><b>{v}</b>{_e(k)}</span>' for k, v in kpis) + "</div>",
        "<h2>Accuracy per category (Pass@1)</h2>", svg.bars(cat_rows),
        _totals_table("category", result.by_category, t.k),
        "<h2>MTTR distribution (sim seconds, recovered runs)</h2>", svg.histogram(mttr),
        "<h2>Per tag</h2>", _totals_table("tag", result.by_tag, t.k),
        "<h2>All runs</h2>", _runs_table(result.runs),
        f"<h2>Failures ({len(failed)})</h2>",
    ]
    out += [_failure(r) for r in failed] or ["<p>None.</p>"]
    if result.invalid:
        out.append(f"<h2>Invalid scenario files ({len(result.invalid)})</h2><table><tr><th>file</th><th>field</th>"
                   "<th>reason</th></tr>")
        out += [f"<tr><td>{_e(i.file)}</td><td>{_e(p['field'])}</td><td>{_e(p['reason'])}</td></tr>"
                for i in result.invalid for p in i.problems]
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


__all__ = ["html_report"]

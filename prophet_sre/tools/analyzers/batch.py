"""Batch analyzers (K8sGPT `Job`, `CronJob`).

- Job: suspended, or any failed pod (`status.failed > 0`) - K8sGPT's two texts.
- CronJob: suspended; otherwise an invalid schedule (with the cron parser's own error, see `cron.py`)
  and a negative `startingDeadlineSeconds`.
"""

from __future__ import annotations

from prophet_sre.domain import Finding, Severity
from prophet_sre.tools.analyzers.base import Analyzer, Snapshot, finding
from prophet_sre.tools.analyzers.cron import schedule_error
from prophet_sre.tools.kube import objects as o


def job(snap: Snapshot) -> list[Finding]:
    out = []
    for j in snap.objects("jobs"):
        name = o.name(j)
        errors, severity = [], Severity.INFO
        if o.dig(j, "spec", "suspend") is True:
            errors.append(f"Job {name} is suspended")
        failed = o.num(o.dig(j, "status", "failed"))
        if failed > 0:
            errors.append(f"Job {name} has failed")
            severity = Severity.ERROR
        if errors:
            out.append(finding(snap, "Job", "Job", j, errors, severity=severity, evidence={"failed": failed}))
    return out


def cronjob(snap: Snapshot) -> list[Finding]:
    out = []
    for cj in snap.objects("cronjobs"):
        name = o.name(cj)
        errors, severity = [], Severity.INFO
        if o.dig(cj, "spec", "suspend") is True:
            errors.append(f"CronJob {name} is suspended")
        else:
            err = schedule_error(o.text(o.dig(cj, "spec", "schedule")))
            if err is not None:
                errors.append(f"CronJob {name} has an invalid schedule: {err}")
                severity = Severity.ERROR
            deadline = o.dig(cj, "spec", "startingDeadlineSeconds")
            if deadline is not None and o.num(deadline) < 0:
                errors.append(f"CronJob {name} has a negative starting deadline")
                severity = Severity.ERROR
        if errors:
            out.append(finding(snap, "CronJob", "CronJob", cj, errors, severity=severity,
                               evidence={"schedule": o.text(o.dig(cj, "spec", "schedule"))}))
    return out


ANALYZERS = (
    Analyzer("Job", "Job", job, needs=("jobs", "cronjobs")),
    Analyzer("CronJob", "CronJob", cronjob, needs=("cronjobs",)),
)

__all__ = ["ANALYZERS", "cronjob", "job"]

"""CronJobs: the schedule parser, Jobs on the sim clock, concurrency policies, history, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import parse_time
from prophet_sre.sim.controllers.cronjob import job_name
from prophet_sre.sim.controllers.cronsched import CronError, parse, schedule_error, time_zone

Obj = dict[str, Any]
T0 = datetime(2026, 3, 2, 10, 7, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(("spec", "expected"), [
    ("*/15 * * * *", datetime(2026, 3, 2, 10, 15, tzinfo=UTC)),
    ("0 * * * *", datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),
    ("@hourly", datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),
    ("@daily", datetime(2026, 3, 3, 0, 0, tzinfo=UTC)),
    ("30 9 * * mon-fri", datetime(2026, 3, 3, 9, 30, tzinfo=UTC)),
    ("0 0 1 jan *", datetime(2027, 1, 1, tzinfo=UTC)),
    ("@weekly", datetime(2026, 3, 8, tzinfo=UTC)),
    ("5,10 10 * * *", datetime(2026, 3, 2, 10, 10, tzinfo=UTC)),
    ("0 12 13 * 5", datetime(2026, 3, 6, 12, 0, tzinfo=UTC)),  # day-of-month OR day-of-week
    ("0 0 29 2 *", datetime(2028, 2, 29, tzinfo=UTC)),
    ("@every 90s", datetime(2026, 3, 2, 10, 9, tzinfo=UTC)),
])
def test_next_activation(spec: str, expected: datetime) -> None:
    assert parse(spec).next(T0) == expected


def test_time_zones_and_most_recent() -> None:
    tz = time_zone("America/New_York")
    assert tz is not None and time_zone("Mars/Olympus") is None
    # 09:00 in New York (EST, UTC-5) is 14:00 UTC
    assert parse("0 9 * * *").next(T0, tz) == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    when, missed = parse("*/5 * * * *").most_recent(T0 - timedelta(minutes=30), T0)
    assert (when, missed) == (datetime(2026, 3, 2, 10, 5, tzinfo=UTC), 6)
    when, missed = parse("* * * * *").most_recent(T0 - timedelta(days=1), T0)
    assert when == datetime(2026, 3, 2, 10, 7, tzinfo=UTC) and missed > 100


@pytest.mark.parametrize(("spec", "message"), [
    ("bad", "expected exactly 5 fields, found 1: [bad]"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("5-3 * * * *", "beginning of range (5) beyond end of range (3): 5-3"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
])
def test_schedule_errors_have_robfig_texts(spec: str, message: str) -> None:
    with pytest.raises(CronError) as e:
        parse(spec)
    assert str(e.value) == message
    assert schedule_error(spec) == message


def cronjob(name: str = "hello", schedule: str = "*/1 * * * *", **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"schedule": schedule, "jobTemplate": {"metadata": {"labels": {"team": "a"}}, "spec": {
                "template": {"spec": {"restartPolicy": "OnFailure", "containers": [
                    {"name": "hello", "image": "busybox:1.28", "command": ["sh", "-c", "date"]}]}}}}, **spec}}


def _status(h: Any, name: str = "hello") -> Obj:
    return h.get("CronJob", "default", name).get("status") or {}


def _jobs(h: Any) -> list[Obj]:
    return h.list("Job", "default")


def _to_next_minute(h: Any) -> None:
    """Advance to just after the next whole minute, then let the controllers catch up."""
    now = h.clock.now()
    h.clock.advance(60 - now.second - now.microsecond / 1e6 + 0.1)
    h.run_for(0.5)


def test_invalid_schedule_is_rejected_by_validation(cluster: Any) -> None:
    with pytest.raises(st.ApiError) as e:
        cluster.create(cronjob(schedule="bad"))
    assert e.value.code == 422
    assert e.value.message == ('CronJob.batch "hello" is invalid: spec.schedule: Invalid value: "bad": expected '
                               "exactly 5 fields, found 1: [bad]")


def test_creates_a_job_per_activation_named_by_scheduled_minute(cluster: Any) -> None:
    h = cluster
    h.create(cronjob())
    h.run_for(1)
    assert not _jobs(h) and _status(h) == {}
    _to_next_minute(h)
    [j] = _jobs(h)
    scheduled = h.clock.now().replace(second=0)
    assert j["metadata"]["name"] == job_name("hello", scheduled) == f"hello-{int(scheduled.timestamp()) // 60}"
    assert j["metadata"]["labels"]["team"] == "a"
    assert j["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
    ref = j["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("CronJob", "hello", True)
    s = _status(h)
    assert s["lastScheduleTime"] == scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [a["name"] for a in s["active"]] == [j["metadata"]["name"]]
    assert [e["message"] for e in h.events_for("hello", "SuccessfulCreate")] == [
        f"Created job {j['metadata']['name']}"]
    assert h.settle(lambda: "active" not in _status(h), max_s=30)
    assert _status(h)["lastSuccessfulTime"]
    [saw] = h.events_for("hello", "SawCompletedJob")
    assert saw["message"] == f"Saw completed job: {j['metadata']['name']}, condition: Complete"


def test_history_limit_prunes_old_jobs(cluster: Any) -> None:
    h = cluster
    h.create(cronjob(successfulJobsHistoryLimit=2))
    for _ in range(4):
        _to_next_minute(h)
        h.run_for(10)
    names = [j["metadata"]["name"] for j in _jobs(h)]
    assert len(names) == 2
    deleted = [e["message"] for e in h.events_for("hello", "SuccessfulDelete")]
    assert len(deleted) == 2 and all(m.startswith("Deleted job hello-") for m in deleted)


def _never_ending(body: Obj) -> Obj:
    container = body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container.pop("command")
    container["image"] = "nginx:1.27"  # a server: runs until stopped
    return body


def test_forbid_skips_while_a_run_is_active(cluster: Any) -> None:
    h = cluster
    h.create(_never_ending(cronjob(concurrencyPolicy="Forbid")))
    _to_next_minute(h)
    _to_next_minute(h)
    assert len(_jobs(h)) == 1
    [ev] = h.events_for("hello", "JobAlreadyActive")
    assert ev["message"] == "Not starting job because prior execution is running and concurrency policy is Forbid"


def test_replace_deletes_the_running_job(cluster: Any) -> None:
    h = cluster
    h.create(_never_ending(cronjob(concurrencyPolicy="Replace")))
    _to_next_minute(h)
    first = _jobs(h)[0]["metadata"]["name"]
    _to_next_minute(h)
    h.run_for(5)
    names = [j["metadata"]["name"] for j in _jobs(h)]
    assert first not in names and len(names) == 1
    assert [e["message"] for e in h.events_for("hello", "SuccessfulDelete")] == [f"Deleted job {first}"]
    assert [a["name"] for a in _status(h)["active"]] == names


def test_allow_runs_concurrently(cluster: Any) -> None:
    h = cluster
    h.create(_never_ending(cronjob()))
    _to_next_minute(h)
    _to_next_minute(h)
    assert len(_jobs(h)) == 2 and len(_status(h)["active"]) == 2


def test_suspend_stops_scheduling(cluster: Any) -> None:
    h = cluster
    h.create(cronjob(suspend=True))
    _to_next_minute(h)
    assert not _jobs(h)
    h.patch("CronJob", "default", "hello", lambda c: c["spec"].update(suspend=False))
    _to_next_minute(h)
    assert len(_jobs(h)) == 1


def test_starting_deadline_skips_a_missed_run(cluster: Any) -> None:
    h = cluster
    h.create(cronjob(schedule="0 * * * *", startingDeadlineSeconds=30, suspend=True))
    now = h.clock.now()
    top = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    h.clock.advance((top - now).total_seconds() + 60)  # a minute past the hour, while suspended
    h.run_for(1)
    h.patch("CronJob", "default", "hello", lambda c: c["spec"].update(suspend=False))
    h.run_for(1)
    assert not _jobs(h)  # 60 s late is beyond the 30 s deadline
    created = parse_time(h.get("CronJob", "default", "hello")["metadata"]["creationTimestamp"])
    assert created is not None

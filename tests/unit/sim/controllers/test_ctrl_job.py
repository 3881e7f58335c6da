"""Jobs: completions and parallelism, failures and backoffLimit, deadlines, suspend, Indexed, TTL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prophet_sre.sim.controllers.runtime import DefaultRuntime, RunPlan

Obj = dict[str, Any]


class FailingRuntime(DefaultRuntime):
    """Batch containers of pods labelled `fail: "yes"` exit 1 after a second."""

    def run(self, pod: Obj, container: Obj, node: str, *, init: bool, restart_count: int,
            started: datetime) -> RunPlan:
        if (pod["metadata"].get("labels") or {}).get("fail") == "yes":
            return RunPlan(exit_after_s=1.0, exit_code=1, ready_after_s=0.0)
        return super().run(pod, container, node, init=init, restart_count=restart_count, started=started)


def job(name: str = "pi", *, fail: bool = False, restart: str = "Never", **spec: Any) -> Obj:
    labels = {"fail": "yes"} if fail else {}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"metadata": {"labels": labels}, "spec": {"restartPolicy": restart, "containers": [
                {"name": "pi", "image": "perl:5.34", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(20)"]}]}},
                     **spec}}


def _status(h: Any, name: str = "pi") -> Obj:
    return h.get("Job", "default", name).get("status") or {}


def _cond(h: Any, type_: str, name: str = "pi") -> Obj | None:
    return next((c for c in _status(h, name).get("conditions") or () if c["type"] == type_), None)


def test_job_runs_to_completion_with_the_real_conditions_and_events(cluster: Any) -> None:
    h = cluster
    h.create(job(completions=3, parallelism=2))
    h.run_for(0.5)
    assert len(h.list("Pod", "default")) == 2
    pod = h.list("Pod", "default")[0]
    assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "pi"
    assert pod["metadata"]["name"].startswith("pi-") and len(pod["metadata"]["name"]) == 8
    s = _status(h)
    assert s["active"] == 2 and s["ready"] == 0 and s["terminating"] == 0 and s["uncountedTerminatedPods"] == {}
    assert "startTime" in s and "succeeded" not in s
    assert h.settle(lambda: _cond(h, "Complete") is not None, max_s=60)
    s = _status(h)
    assert s["succeeded"] == 3 and "active" not in s and "failed" not in s and s["completionTime"]
    assert [c["type"] for c in s["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    for c in s["conditions"]:
        assert (c["status"], c["reason"], c["message"]) == ("True", "CompletionsReached",
                                                           "Reached expected number of succeeded pods")
    pods = h.list("Pod", "default")
    assert len(pods) == 3 and all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert all(not p["metadata"].get("finalizers") for p in pods)
    created = sorted(e["message"] for e in h.events_for("pi", "SuccessfulCreate"))
    assert created == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)
    [done] = h.events_for("pi", "Completed")
    assert (done["type"], done["message"], done["source"]) == ("Normal", "Job completed",
                                                               {"component": "job-controller"})


def test_backoff_limit_exceeded(cluster_factory: Any) -> None:
    h = cluster_factory(runtime=FailingRuntime())
    h.create(job(fail=True, backoffLimit=2))
    assert h.settle(lambda: _cond(h, "Failed") is not None, max_s=200)
    s = _status(h)
    assert s["failed"] == 3 and "succeeded" not in s and "active" not in s
    assert [c["type"] for c in s["conditions"]] == ["FailureTarget", "Failed"]
    failed = _cond(h, "Failed")
    assert (failed["reason"], failed["message"]) == ("BackoffLimitExceeded", "Job has reached the specified backoff "
                                                                             "limit")
    [ev] = h.events_for("pi", "BackoffLimitExceeded")
    assert (ev["type"], ev["message"]) == ("Warning", "Job has reached the specified backoff limit")
    starts = sorted(p["status"]["startTime"] for p in h.list("Pod", "default"))
    gaps = [(datetime.fromisoformat(b[:-1]) - datetime.fromisoformat(a[:-1])).total_seconds()
            for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps[0] >= 10 and gaps[1] >= 20  # pod back-off: 10 s, 20 s, ...


def test_on_failure_counts_restarts_towards_the_backoff_limit(cluster_factory: Any) -> None:
    h = cluster_factory(runtime=FailingRuntime())
    h.create(job(fail=True, restart="OnFailure", backoffLimit=1))
    assert h.settle(lambda: _cond(h, "Failed") is not None, max_s=200)
    assert _cond(h, "Failed")["reason"] == "BackoffLimitExceeded"
    assert len(h.list("Pod", "default")) in (0, 1)


def test_active_deadline_exceeded_kills_the_pods(cluster: Any) -> None:
    h = cluster
    body = job(activeDeadlineSeconds=5)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container.pop("command")
    container["image"] = "nginx:1.27"  # a server: never finishes
    h.create(body)
    assert h.settle(lambda: _cond(h, "Failed") is not None, max_s=30)
    failed = _cond(h, "Failed")
    assert (failed["reason"], failed["message"]) == ("DeadlineExceeded",
                                                     "Job was active longer than specified deadline")
    [ev] = h.events_for("pi", "DeadlineExceeded")
    assert ev["type"] == "Warning"
    assert h.events_for("pi", "SuccessfulDelete")
    assert _status(h).get("failed") == 1


def test_suspend_and_resume(cluster: Any) -> None:
    h = cluster
    h.create(job(suspend=True))
    h.run_for(2)
    assert not h.list("Pod", "default") and "startTime" not in _status(h)
    c = _cond(h, "Suspended")
    assert (c["status"], c["reason"], c["message"]) == ("True", "JobSuspended", "Job suspended")
    h.patch("Job", "default", "pi", lambda j: j["spec"].update(suspend=False))
    assert h.settle(lambda: _cond(h, "Complete") is not None, max_s=30)
    c = _cond(h, "Suspended")
    assert (c["status"], c["reason"], c["message"]) == ("False", "JobResumed", "Job resumed")
    assert [e["message"] for e in h.events_for("pi", "Resumed")] == ["Job resumed"]


def test_indexed_job_gives_every_pod_its_index(cluster: Any) -> None:
    h = cluster
    h.create(job(completions=3, parallelism=3, completionMode="Indexed"))
    h.run_for(0.5)
    pods = h.list("Pod", "default")
    indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods)
    assert indexes == ["0", "1", "2"]
    for p in pods:
        i = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert p["metadata"]["name"].startswith(f"pi-{i}-") and p["spec"]["hostname"] == f"pi-{i}"
        assert p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == i
    assert h.settle(lambda: _cond(h, "Complete") is not None, max_s=30)
    assert _status(h)["completedIndexes"] == "0-2"


def test_ttl_after_finished_deletes_the_job_and_its_pods(cluster: Any) -> None:
    h = cluster
    h.create(job(ttlSecondsAfterFinished=30))
    assert h.settle(lambda: _cond(h, "Complete") is not None, max_s=30)
    h.run_for(20)
    assert h.get("Job", "default", "pi") is not None
    assert h.settle(lambda: h.get("Job", "default", "pi") is None and not h.list("Pod", "default"), max_s=30)

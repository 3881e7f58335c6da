"""`escalate` against the simulator: no write to the target, an Event for whoever describes it.

Covers: render and dry-run report no change; execution returns the message and records a Warning
Event with reason ProphetEscalation on the target (uid filled in); with Event recording off there is
no request at all; a user who may not create Events still escalates (the Event is only a note); no
inverse.
"""

from __future__ import annotations

from collections.abc import Iterator

import actions_world as aw
import pytest

from prophet_sre.domain import EscalateAction, ResourceRef
from prophet_sre.tools.actions import ActionSettings, prepare

NS = "act-escalate"


@pytest.fixture(scope="module")
def world() -> Iterator[aw.World]:
    w = aw.shared()
    aw.namespace(w.kube, NS)
    aw.create(w.kube, aw.deployment("web", NS, replicas=1))
    aw.wait_for(lambda: aw.rolled_out(w.kube, NS, "web"), "web rolled out")  # then its resourceVersion holds
    yield w


def test_escalate_records_an_event_and_writes_nothing_else(world: aw.World) -> None:
    kube = world.kube
    target = ResourceRef(kind="Deployment", namespace=NS, name="web")
    action = EscalateAction(target=target, message="rollback did not help; error rate still 40%")
    p = prepare(action, kube)
    assert "no change to the cluster" in p.render() and f"POST /api/v1/namespaces/{NS}/events" in p.render()
    rv = kube.get("deployments", "web", NS)["metadata"]["resourceVersion"]
    dry = p.dry_run()
    assert dry.ok and dry.diff == "(no change)" and kube.list("events", NS, field_selector="reason=ProphetEscalation") == []
    result = p.execute()
    assert result.ok and result.changed["message"].endswith("rollback did not help; error rate still 40%")
    [event] = [e for e in kube.list("events", NS) if e.get("reason") == "ProphetEscalation"]
    assert event["type"] == "Warning" and event["message"] == result.changed["message"]
    assert event["involvedObject"]["uid"] == kube.get("deployments", "web", NS)["metadata"]["uid"]
    assert kube.get("deployments", "web", NS)["metadata"]["resourceVersion"] == rv
    assert p.inverse(result.before) is None


def test_escalate_without_events(world: aw.World) -> None:
    action = EscalateAction(target=ResourceRef(kind="Deployment", namespace=NS, name="web"))
    p = prepare(action, world.kube, ActionSettings(record_escalation_event=False))
    assert p.requests() == [] and "requests: none" in p.render()
    result = p.execute()
    assert result.ok and "event" not in result.changed
    nobody = prepare(action, aw.user_client(world, "mute")).execute()
    assert nobody.ok and "was not recorded" in nobody.notes[0]

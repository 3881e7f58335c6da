"""Several AutonomousActions: which apply to a target, and `merge_strictest` (no cluster needed)."""

from __future__ import annotations

import pytest

from prophet_sre.domain import ResourceRef
from prophet_sre.errors import InvalidInput
from prophet_sre.operator.policy import applicable, applies
from prophet_sre.policy.merge import merge_strictest
from prophet_sre.policy.spec import AutonomousActionSpec


def spec(**kw: object) -> AutonomousActionSpec:
    return AutonomousActionSpec.model_validate(kw)


def test_strictest_constraint_wins_on_every_dimension() -> None:
    app = spec(trigger={"type": "k8sgpt", "namespaces": ["shop"]}, llm={"provider": "ollama", "model": "phi3"},
               approvalMode="autonomous",
               constraints={"allowedActions": ["restart", "scale", "rollback", "escalate"], "cooldownSeconds": 60,
                            "maxConcurrent": 3, "maxBlastRadius": {"pods": 20, "replicas": 5, "nodes": 1, "namespaces": 1},
                            "minConfidence": {"low": 0.4, "medium": 0.9, "high": 0.9},
                            "forbiddenNamespaces": ["kube-system"], "highRiskNeedsApproval": False})
    platform = spec(approvalMode="human-in-loop",
                    constraints={"allowedActions": ["restart", "rollback", "patch", "escalate"], "cooldownSeconds": 600,
                                 "maxConcurrent": 1, "maxBlastRadius": {"pods": 5, "replicas": 10, "nodes": 0,
                                                                        "namespaces": 1},
                                 "minConfidence": {"low": 0.6, "medium": 0.7, "high": 0.95},
                                 "forbiddenNamespaces": ["payments"]})
    merged = merge_strictest([app, platform])
    c = merged.constraints
    assert merged.approval_mode == "human-in-loop"
    assert c.allowed_actions == ["restart", "rollback", "escalate"]
    assert c.forbidden_namespaces == ["kube-system", "payments"]
    assert (c.cooldown_seconds, c.max_concurrent) == (600, 1)
    assert c.max_blast_radius.model_dump() == {"pods": 5, "replicas": 5, "nodes": 0, "namespaces": 1}
    assert c.min_confidence.model_dump() == {"low": 0.6, "medium": 0.9, "high": 0.95}
    assert c.high_risk_needs_approval is True
    assert merged.trigger == app.trigger and merged.llm == app.llm, "how it was found stays the opener's"


def test_dry_run_anywhere_means_dry_run_and_order_only_picks_the_trigger() -> None:
    a, b, c = spec(approvalMode="autonomous"), spec(approvalMode="dry-run"), spec(approvalMode="human-in-loop")
    assert merge_strictest([a, b, c]).approval_mode == "dry-run"
    assert merge_strictest([a]) is a
    assert merge_strictest([b, a]).constraints == merge_strictest([a, b]).constraints
    with pytest.raises(InvalidInput):
        merge_strictest([])


def test_disjoint_allowed_actions_leave_nothing_allowed() -> None:
    merged = merge_strictest([spec(constraints={"allowedActions": ["scale"]}),
                              spec(constraints={"allowedActions": ["restart"]})])
    assert merged.constraints.allowed_actions == []


def test_which_objects_apply() -> None:
    everywhere = spec()
    shop = spec(trigger={"namespaces": ["shop"]})
    fleet = spec(clusters=["aws"])
    web = ResourceRef(kind="Deployment", namespace="shop", name="web")
    db = ResourceRef(kind="Deployment", namespace="data", name="db")
    remote = ResourceRef(cluster="aws", kind="Deployment", namespace="shop", name="web")
    assert applicable([everywhere, shop, fleet], web) == [everywhere, shop]
    assert applicable([everywhere, shop, fleet], db) == [everywhere]
    assert applicable([everywhere, shop, fleet], remote) == [fleet]
    assert applies(shop, "shop") and not applies(shop, "") and applies(everywhere, "")

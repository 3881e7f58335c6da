"""The action machinery without a cluster: the variant table, the public surface, diffs, results, retries.

Covers: every `domain.Action` variant has an implementation; the package's `__all__`; the diff's path
naming (named lists matched by name, keys with dots quoted), its bounds and the markers that say what
was cut; `raise_for_error` giving back the error class; the read-modify-write loop re-reading and
retrying on 409 Conflict and giving up with Conflict after `conflict_attempts` (on a fake transport).
Skips: anything the simulator tests already show end to end.
"""

from __future__ import annotations

import orjson
import pytest

import prophet_sre.tools.actions as actions
from prophet_sre.config import KubeSettings
from prophet_sre.domain import ACTION_TYPES, ResourceRef, ScaleAction
from prophet_sre.errors import Conflict, Forbidden, ToolError
from prophet_sre.tools.actions import diff
from prophet_sre.tools.actions.base import ActionSettings
from prophet_sre.tools.actions.prepare import IMPLEMENTATIONS
from prophet_sre.tools.actions.results import DryRunResult, ExecutionResult
from prophet_sre.tools.kube import FunctionTransport, KubeClient, RawResponse


def test_every_variant_has_an_implementation() -> None:
    assert sorted(IMPLEMENTATIONS) == sorted(ACTION_TYPES)


def test_public_surface() -> None:
    assert sorted(actions.__all__) == ["ActionSettings", "BlastRadius", "DryRunResult", "ExecutionResult",
                                       "PreparedAction", "Request", "blast_radius", "prepare"]
    assert all(hasattr(actions, name) for name in actions.__all__)


def test_diff_names_paths_and_matches_lists_by_name() -> None:
    before = {"metadata": {"name": "web", "resourceVersion": "1", "annotations": {"a.io/x": "1"}},
              "spec": {"containers": [{"name": "a", "image": "one"}, {"name": "b", "image": "two"}]},
              "status": {"replicas": 1}}
    after = {"metadata": {"name": "web", "resourceVersion": "2", "annotations": {"a.io/x": "2"}},
             "spec": {"containers": [{"name": "b", "image": "three"}, {"name": "a", "image": "one"}]},
             "status": {"replicas": 7}}
    text = diff.render("Deployment shop/web", before, after)
    assert text == ("--- Deployment shop/web (live)\n+++ Deployment shop/web (after)\n"
                    '@@ metadata.annotations["a.io/x"]\n- \'1\'\n+ \'2\'\n'
                    "@@ spec.containers[b].image\n- two\n+ three")
    assert diff.render("X", before, before) == "=== X (no change)"
    assert diff.render("X", before, None) == "--- X (deleted)"
    assert diff.render("X", None, {"spec": {"a": 1}}) == "+++ X (created)\n+ spec:\n+   a: 1"


def test_diff_is_bounded_and_says_so() -> None:
    before = {f"k{i}": i for i in range(100)}
    text = diff.render("X", before, {k: v + 1 for k, v in before.items()}, max_lines=20)
    lines = text.splitlines()
    assert len(lines) == 20 and lines[-1].startswith("[diff cut: ") and "more lines" in lines[-1]
    long = diff.render("X", {"v": "a" * 1000}, {"v": "b"}, max_value_chars=50)
    assert "... [950 more chars]" in long


def test_results_raise_their_error_class() -> None:
    r = ExecutionResult(ok=False, error="cannot patch", error_type="Forbidden")
    with pytest.raises(Forbidden, match="cannot patch"):
        r.raise_for_error()
    with pytest.raises(ToolError):
        DryRunResult(ok=False, error="odd", error_type="NotAnError").raise_for_error()
    DryRunResult(ok=True).raise_for_error()


def fake(conflicts: int) -> tuple[KubeClient, list[str]]:
    calls: list[str] = []

    def handler(method: str, path: str, query: object, body: object) -> RawResponse:
        if not path.endswith("/scale"):
            return RawResponse(404, b"")  # discovery: the well-known kinds are used
        calls.append(method)
        if method == "PATCH" and calls.count("PATCH") <= conflicts:
            return RawResponse(409, orjson.dumps({"kind": "Status", "message": "the object has been modified"}))
        replicas = 3 if method == "PATCH" else 1
        return RawResponse(200, orjson.dumps({"kind": "Scale", "metadata": {"resourceVersion": str(len(calls))},
                                              "spec": {"replicas": replicas}}))

    return KubeClient(FunctionTransport(handler), settings=KubeSettings(retries=0)), calls


def test_conflicts_are_retried_with_a_fresh_read() -> None:
    kube, calls = fake(conflicts=2)
    action = ScaleAction(target=ResourceRef(kind="Deployment", namespace="shop", name="web"), replicas=3)
    result = actions.prepare(action, kube, ActionSettings(conflict_backoff_s=0)).execute()
    assert result.ok and result.after == {"replicas": 3}
    assert calls == ["GET", "PATCH", "GET", "PATCH", "GET", "PATCH"]


def test_conflict_after_the_bound() -> None:
    kube, calls = fake(conflicts=99)
    action = ScaleAction(target=ResourceRef(kind="Deployment", namespace="shop", name="web"), replicas=3)
    result = actions.prepare(action, kube, ActionSettings(conflict_backoff_s=0, conflict_attempts=4)).execute()
    assert (result.ok, result.error_type) == (False, "Conflict") and calls.count("PATCH") == 4
    with pytest.raises(Conflict):
        result.raise_for_error()

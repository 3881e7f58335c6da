"""The envelope and the budget: token estimates, fitting rows and sections, the hard cap; and the surface.

Covers: `estimate_tokens`; `fit_rows` keeps a footer's room; `fit_sections` shortens the longest section
first and names the call for the rest; `enforce` cuts only at line boundaries and says so (never
silently); `call_hint`; `ToolResult` error round trip and `run_tool` catching only ToolError; the
public `__all__` of the tools packages; and the layering rules (product code never imports the
simulator; the kubernetes client is imported only inside `tools/`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import prophet_sre
from prophet_sre import errors
from prophet_sre import tools as tools_pkg
from prophet_sre.tools import analyzers as analyzers_pkg
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools import kube as kube_pkg


def test_token_estimate_is_chars_over_four_rounded_up() -> None:
    assert [envelope.estimate_tokens("x" * n) for n in (0, 1, 4, 5, 8000)] == [0, 1, 1, 2, 2000]


def test_fit_rows_leaves_room_for_the_footer() -> None:
    b = bud.Budget(100)  # 380 usable characters
    rows = ["r" * 39] * 20  # 40 characters per row with its newline
    assert bud.fit_rows(["head"], rows, b, reserve_chars=0) == 9
    assert bud.fit_rows(["head"], rows, b, reserve_chars=100) == 6
    assert bud.fit_rows([], ["short"], b) == 1


def test_fit_sections_shortens_the_longest_and_says_which_call_shows_the_rest() -> None:
    small = bud.Section("Nodes:", ["  n1", "  n2"], keep=1)
    big = bud.Section("Pods:", [f"  pod-{i:03d} {'x' * 30}" for i in range(100)], keep=2, more="list(kind='pods')")
    text, notes = bud.fit_sections([small, big], bud.Budget(300))
    assert len(text) <= bud.Budget(300).max_chars
    assert "  n1\n  n2" in text and "pod-000" in text
    shown = sum(1 for line in text.splitlines() if "pod-" in line)
    assert f"  ... {100 - shown} more; call list(kind='pods')" in text
    assert notes == [f"{100 - shown} more pods (call list(kind='pods'))"]


def test_enforce_cuts_at_a_line_and_says_what_was_cut() -> None:
    lines = [f"line {i:04d} " + "y" * 40 for i in range(400)]
    r = envelope.ok("list", {"kind": "pods"}, text="\n".join(lines), omitted="12 more pods; call list(offset=50)")
    cut = bud.enforce(r, bud.Budget(500), narrow="use a smaller limit")
    assert cut.tokens <= 500 and cut.truncated
    kept = cut.text.splitlines()[:-1]
    assert all(line in lines for line in kept)  # whole lines only
    assert cut.omitted.startswith("12 more pods; call list(offset=50); ")
    assert f"{400 - len(kept)} more lines" in cut.omitted and "use a smaller limit" in cut.text
    fine = envelope.ok("list", {}, text="short")
    assert bud.enforce(fine, bud.Budget(500)) is fine and not fine.truncated


def test_call_hint_drops_empty_params_and_keeps_overrides() -> None:
    params = {"kind": "pods", "namespace": None, "selector": "", "offset": 0, "limit": 50, "columns": None}
    assert bud.call_hint("list", params, offset=50) == "list(kind='pods', offset=50, limit=50)"
    assert bud.call_hint("events", {"ref": "shop/pod/a"}, offset=0) == "events(ref='shop/pod/a', offset=0)"


def test_error_envelopes_round_trip_and_only_tool_errors_are_caught() -> None:
    r = envelope.run_tool("describe", {"ref": "x"}, lambda: (_ for _ in ()).throw(errors.NotFound('pods "x" not found')))
    assert r.status == envelope.ToolStatus.ERROR and r.error_type == "NotFound" and not r.ok
    assert r.text == 'error (NotFound): pods "x" not found'
    with pytest.raises(errors.NotFound, match='pods "x" not found'):
        r.raise_for_error()
    assert envelope.ok("x", {}, text="y").raise_for_error().ok
    with pytest.raises(KeyError):
        envelope.run_tool("x", {}, lambda: (_ for _ in ()).throw(KeyError("bug")))
    none = envelope.ok("logs", {}, text="No log lines", no_data=True)
    assert none.status == envelope.ToolStatus.NO_DATA and not none.truncated


def test_public_surfaces() -> None:
    assert sorted(tools_pkg.__all__) == ["Budget", "ToolResult", "ToolStatus", "estimate_tokens"]
    assert sorted(kube_pkg.__all__) == sorted([
        "ApiClientTransport", "FunctionTransport", "KubeClient", "KubeClients", "KubeReads", "Op", "Page",
        "RawResponse", "ResourceKind", "Transport", "retry_on_conflict", "to_ref"])
    assert sorted(analyzers_pkg.__all__) == sorted([
        "CORE", "OPTIONAL", "REGISTRY", "Analysis", "AnalysisResult", "Analyzer", "ClusterSnapshot",
        "MemorySnapshot", "Snapshot"])
    for pkg in (tools_pkg, kube_pkg, analyzers_pkg):
        assert all(hasattr(pkg, name) for name in pkg.__all__)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_product_code_never_imports_the_simulator_and_only_tools_import_kubernetes() -> None:
    root = Path(prophet_sre.__file__).parent
    mine = [*sorted((root / "tools").rglob("*.py")), root / "cli" / "analyze.py"]
    for path in mine:
        imported = _imports(path)
        assert not any(m == "prophet_sre.sim" or m.startswith("prophet_sre.sim.") for m in imported), path
        if "tools" not in path.parts:
            assert not any(m.split(".")[0] == "kubernetes" for m in imported), path

"""The whole graph with an LLM that is down, slow or answers garbage: the deterministic path fixes it anyway.

Prophet configured for Ollama (the real `ChatOllama` client built from settings) runs the bad-image-tag
scenario end to end in autonomous mode. The endpoint is (a) a port where nothing listens, (b) a fake
Ollama server that answers slower than the policy's timeout, (c) one that answers garbage - no LLM can
run here, so (b) and (c) are `tests/agents/ollama_stub.py`, a stand-in server. Every time: the incident
resolves through the deterministic reasoner, nothing crashes, and the incident's notes say why the LLM
was not used.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ollama_stub import OllamaStub, down_url, garbage, slow

from prophet_sre.config import Settings
from prophet_sre.evals.episode import run_episode
from prophet_sre.policy.spec import AutonomousActionSpec, LLMSpec

SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
pytestmark = pytest.mark.timeout(240)


def _run(tmp_path: Path, endpoint: str) -> object:
    policy = AutonomousActionSpec(llm=LLMSpec(provider="ollama", model="llama3.2", endpoint=endpoint,
                                              timeout_seconds=1.0))
    return run_episode(SUITE / "bad-image-tag.yaml", speed=50.0, mode="autonomous", workdir=tmp_path,
                       settings=Settings(), policy=policy)


@pytest.mark.parametrize("how", ["down", "slow", "garbage"])
def test_a_broken_llm_degrades_to_the_deterministic_path(how: str, tmp_path: Path) -> None:
    if how == "down":
        r = _run(tmp_path, down_url())
    else:
        reply = slow(5.0) if how == "slow" else garbage()
        with OllamaStub(default=reply) as stub:
            r = _run(tmp_path, stub.url)
            assert stub.requests, "the LLM was tried first"
    assert not r.error, r.error
    assert r.outcome == "resolved" and r.recovered, (r.outcome, r.notes)
    assert r.diagnosis and r.diagnosis["category"] == "image_pull"
    assert any("llm" in n.lower() or "ollama" in n.lower() for n in r.notes), r.notes
    assert r.audit_ok

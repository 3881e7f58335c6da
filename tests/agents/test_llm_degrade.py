"""An LLM that is down, slow, failing or talking nonsense degrades to the deterministic result, loudly.

No LLM can run here: these tests drive the real `ChatOllama` client (built by `chat_model`) against
`ollama_stub`, a fake Ollama HTTP server scripted to be slow, return HTTP 500, send non-JSON or
out-of-schema answers, or not to be there at all. Each case must return the baseline with
`fell_back` set and a warning that names the reason - never raise. The provider-construction tests
build the real LangChain classes without contacting anything.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from langchain_ollama import ChatOllama
from ollama_stub import OllamaStub, diagnosis, down_url, garbage, http_error, slow, tool_names
from scripted_llm import ScriptedChatModel

from prophet_sre.agents.llm import LLMUsage, chat_model, llm_critique, llm_diagnose, llm_propose
from prophet_sre.domain import Category, Diagnosis, Finding, FindingSource, Plan, ResourceRef, Verdict
from prophet_sre.errors import ConfigError
from prophet_sre.graphs.state import Trigger
from prophet_sre.policy.spec import LLMSpec

BASELINE = Diagnosis(
    category=Category.CRASHLOOP, summary="backend pods restart", confidence=0.6,
    root_cause=ResourceRef(kind="Deployment", namespace="shop", name="backend"),
    evidence=[Finding(source=FindingSource.ANALYZER, ref=ResourceRef(kind="Pod", namespace="shop", name="backend-1"),
                      errors=["the last termination reason is OOMKilled container=backend"])])


@pytest.fixture
def stub() -> Iterator[OllamaStub]:
    with OllamaStub() as s:
        yield s


def _spec(url: str, timeout: float = 5.0) -> LLMSpec:
    return LLMSpec(provider="ollama", model="stub-model", endpoint=url, timeout_seconds=timeout)


def _diagnose(spec: LLMSpec, model: object | None = None) -> tuple[Diagnosis, LLMUsage]:
    return llm_diagnose(model or chat_model(spec), trigger=Trigger(type="anomaly", namespace="shop"),  # type: ignore[arg-type]
                        findings=BASELINE.evidence, baseline=BASELINE, tools=None, spec=spec)


def _fell_back(result: Diagnosis, usage: LLMUsage, reason: str) -> None:
    assert result == BASELINE
    assert usage.fell_back
    assert reason in usage.warnings[-1] and "deterministic diagnosis" in usage.warnings[-1]


def test_down_server_falls_back() -> None:
    spec = _spec(down_url())
    result, usage = _diagnose(spec)
    _fell_back(result, usage, "unreachable")
    assert usage.calls == 1  # a connection error is not retried


def test_slow_server_falls_back_after_the_timeout(stub: OllamaStub) -> None:
    stub.push(slow(4.0))
    result, usage = _diagnose(_spec(stub.url, timeout=1.0))
    _fell_back(result, usage, "timed out after 1s")


def test_wall_clock_deadline_holds_even_when_the_client_would_wait(stub: OllamaStub) -> None:
    """A client built with a 60 s timeout still gives up at the spec's 1 s: our own deadline."""
    stub.push(slow(4.0))
    spec = _spec(stub.url, timeout=1.0)
    patient = ChatOllama(model="stub-model", base_url=stub.url, client_kwargs={"timeout": 60})
    result, usage = _diagnose(spec, patient)
    _fell_back(result, usage, "timed out after 1s")


def test_http_500_falls_back(stub: OllamaStub) -> None:
    stub.push(http_error(500))
    result, usage = _diagnose(_spec(stub.url))
    _fell_back(result, usage, "HTTP 500")
    assert len(stub.requests) == 1


def test_garbage_twice_falls_back(stub: OllamaStub) -> None:
    stub.push(garbage(), garbage("<html>502 Bad Gateway</html>"))
    result, usage = _diagnose(_spec(stub.url))
    _fell_back(result, usage, "invalid output")
    assert "after one retry" in usage.warnings[-1]
    assert len(stub.requests) == 2


def test_out_of_schema_category_falls_back(stub: OllamaStub) -> None:
    stub.push(diagnosis(category="disk_full"), diagnosis(category="cosmic_rays"))
    result, usage = _diagnose(_spec(stub.url))
    _fell_back(result, usage, "category")
    retry = stub.requests[1]["messages"][-1]["content"]
    assert "rejected" in retry and "category" in retry  # the retry told the model what was wrong


def test_unparseable_root_cause_falls_back(stub: OllamaStub) -> None:
    stub.push(diagnosis(root_cause="the backend thing"), diagnosis(root_cause="backend, probably"))
    result, usage = _diagnose(_spec(stub.url))
    _fell_back(result, usage, "not a resource reference")


def test_garbage_once_then_valid_takes_the_models_answer(stub: OllamaStub) -> None:
    stub.push(garbage(), diagnosis(category="oom", root_cause="shop/deployment/backend", confidence=0.95))
    result, usage = _diagnose(_spec(stub.url))
    assert not usage.fell_back
    assert result.category == Category.OOM and result.root_cause == BASELINE.root_cause
    assert result.evidence == BASELINE.evidence
    assert result.confidence == 0.6  # new category: the model cannot be surer than the rules
    assert usage.calls == 2 and tool_names(stub.requests[1]) == ["Diagnosis"]
    assert "asking once more" in usage.warnings[0]


def test_any_exception_from_the_model_degrades() -> None:
    """Scripted fake model with nothing left to say (it raises): every role keeps its deterministic result."""
    spec = LLMSpec(provider="ollama", model="scripted")
    verdict = Verdict(decision="approve")
    plan = Plan()
    _, u1 = llm_diagnose(ScriptedChatModel([]), trigger=Trigger(), findings=[], baseline=BASELINE, tools=None,
                         spec=spec)
    actions, u2 = llm_propose(ScriptedChatModel([]), diagnosis=BASELINE, candidates=[], spec=spec)
    result, u3 = llm_critique(ScriptedChatModel([]), plan=plan, diagnosis=BASELINE, verdict=verdict, spec=spec)
    assert actions == [] and result == verdict
    assert u1.fell_back and u2.fell_back and u3.fell_back


def test_a_model_without_tool_calling_degrades() -> None:
    """LangChain's own fake chat model (it cannot bind tools or give structured output): the baseline
    stands and the warning says why."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    model = GenericFakeChatModel(messages=iter(["oom, surely"]))
    result, usage = _diagnose(LLMSpec(provider="ollama", model="fake"), model)
    _fell_back(result, usage, "cannot ask for structured output")


def test_no_model_means_the_deterministic_result_without_warnings() -> None:
    spec = LLMSpec()
    assert chat_model(spec) is None
    result, usage = _diagnose(spec, None)
    assert result == BASELINE and usage == LLMUsage()


# -- construction ----------------------------------------------------------------------------------------
def test_ollama_model_is_built_without_contacting_the_server() -> None:
    url = down_url()
    model = chat_model(LLMSpec(provider="ollama", model="llama3.2", endpoint=url + "/", timeout_seconds=7,
                               temperature=0.2))
    assert isinstance(model, ChatOllama)
    assert model.base_url == url and model.model == "llama3.2" and model.temperature == 0.2
    assert model.client_kwargs == {"timeout": 7}
    default = chat_model(LLMSpec(provider="ollama", model="phi3"))
    assert isinstance(default, ChatOllama) and default.base_url == "http://127.0.0.1:11434"


def test_openai_compatible_model() -> None:
    from langchain_openai import ChatOpenAI
    url = down_url() + "/v1"
    model = chat_model(LLMSpec(provider="openai", model="qwen2.5", endpoint=url, timeout_seconds=9), api_key="k-1")
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == url and model.model_name == "qwen2.5"
    assert model.openai_api_key.get_secret_value() == "k-1" and model.max_retries == 0 and model.request_timeout == 9


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_anthropic import ChatAnthropic
    monkeypatch.setenv("PROPHET_LLM_API_KEY", "from-env")
    model = chat_model(LLMSpec(provider="anthropic", model="claude-x"))
    assert isinstance(model, ChatAnthropic) and model.anthropic_api_key.get_secret_value() == "from-env"


def test_missing_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROPHET_LLM_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="PROPHET_LLM_API_KEY"):
        chat_model(LLMSpec(provider="anthropic", model="claude-x"))
    with pytest.raises(ConfigError, match="PROPHET_LLM_API_KEY"):
        chat_model(LLMSpec(provider="openai", model="gpt-x"))


def test_missing_optional_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_openai", None)  # makes the import fail like a missing package
    with pytest.raises(ConfigError, match=r"pip install 'prophet-sre\[openai\]'"):
        chat_model(LLMSpec(provider="openai", model="gpt-x"), api_key="k")

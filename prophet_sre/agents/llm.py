"""The optional LLM layer: build a chat model from `LLMSpec`, and use it - bounded, validated, never trusted.

Prophet works without a model (the deterministic diagnoser, planner and critic). When one is configured
it may improve a diagnosis, propose actions and critique a plan, under four rules enforced here in code:

1. Bounded. At most `spec.max_steps` read-tool calls, `spec.max_tokens` tokens (counted from the
   provider's usage metadata, else estimated as characters / 4; `spent` carries what the incident used
   before), and `spec.timeout_seconds` of wall-clock time per model call (a daemon worker thread with a
   deadline, on top of the client's own timeout, so a stalled server cannot stall the graph).
2. Validated. Answers come back as tool calls (`Diagnosis`, `ProposedActions`, `Critique`) and are
   validated against our schemas; an invalid answer is retried once with the validator's message, then
   the deterministic result stands.
3. Degrading, never crashing. A model that is down, slow, answers HTTP errors or garbage yields the
   deterministic result plus a warning in `LLMUsage.warnings` (logged at WARNING, for the incident's notes).
4. Never trusted. Cluster text reaches the model only inside untrusted-data blocks (`prompts.py`); the
   model cannot add evidence (a diagnosis keeps the baseline's findings), cannot raise confidence above
   the rule-based diagnosis unless it agrees with it, cannot lower an action's risk, and a critique can
   only make a verdict stricter.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from prophet_sre.agents import prompts
from prophet_sre.agents.critic import stricter as critic_stricter
from prophet_sre.agents.read_tools import ReadTools
from prophet_sre.config import Settings, load_settings
from prophet_sre.domain import (
    Action,
    Category,
    Diagnosis,
    Finding,
    Plan,
    ResourceRef,
    Risk,
    RuleResult,
    Verdict,
)
from prophet_sre.errors import ConfigError
from prophet_sre.graphs.state import Trigger
from prophet_sre.policy.spec import LLMSpec
from prophet_sre.tools.envelope import estimate_tokens

log = logging.getLogger(__name__)
T = TypeVar("T")

OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"
MAX_OUTPUT_TOKENS = 1024
"""Per call: a Diagnosis, an action list or a critique fits easily; a runaway generation does not."""
ANSWER_RESERVE = 400
"""Tokens kept back for an answer when deciding whether another call still fits the budget."""
MAX_PROPOSED = 5
MAX_CONCERNS = 5
_DECISION_RANK = {"approve": 0, "needs_approval": 1, "reject": 2}
_RISK_RANK = {Risk.LOW: 0, Risk.MEDIUM: 1, Risk.HIGH: 2}


class LLMUsage(BaseModel):
    """What one LLM step cost and how it went; `warnings` go into the incident's notes."""

    calls: int = 0
    tokens: int = 0
    tool_calls: int = 0
    warnings: list[str] = Field(default_factory=list)
    fell_back: bool = False


# -- construction --------------------------------------------------------------------------------------
def _default_api_key() -> str | None:
    """PROPHET_LLM_API_KEY: through `Settings` once it has an `llm_api_key` field, else the environment."""
    if "llm_api_key" in Settings.model_fields:
        value = getattr(load_settings(), "llm_api_key", None)
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        return str(value) if value else None
    return os.environ.get("PROPHET_LLM_API_KEY") or None


def _need(module: str, extra: str) -> Any:
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"llm.provider needs the {module} package: pip install 'prophet-sre[{extra}]'") from e


def chat_model(spec: LLMSpec, *, api_key: str | None = None) -> BaseChatModel | None:
    """The chat model `spec` names (None for provider `none`). Never contacts the server."""
    if spec.provider == "none":
        return None
    out_tokens = min(MAX_OUTPUT_TOKENS, spec.max_tokens)
    if spec.provider == "ollama":
        from langchain_ollama import ChatOllama
        return ChatOllama(model=spec.model, base_url=(spec.endpoint or OLLAMA_DEFAULT_URL).rstrip("/"),
                          temperature=spec.temperature, num_predict=out_tokens,
                          client_kwargs={"timeout": spec.timeout_seconds})
    key = api_key or _default_api_key()
    if spec.provider == "openai":
        mod = _need("langchain_openai", "openai")
        if not key and not spec.endpoint:
            raise ConfigError("llm.provider openai needs an API key: set PROPHET_LLM_API_KEY or llm.secretRef "
                              "(or llm.endpoint for a local OpenAI-compatible server)")
        kwargs: dict[str, Any] = {"base_url": spec.endpoint} if spec.endpoint else {}
        return mod.ChatOpenAI(model=spec.model, api_key=key or "unused", temperature=spec.temperature,
                              timeout=spec.timeout_seconds, max_retries=0, max_tokens=out_tokens, **kwargs)
    if spec.provider == "anthropic":
        mod = _need("langchain_anthropic", "anthropic")
        if not key:
            raise ConfigError("llm.provider anthropic needs an API key: set PROPHET_LLM_API_KEY or llm.secretRef")
        kwargs = {"base_url": spec.endpoint} if spec.endpoint else {}
        return mod.ChatAnthropic(model=spec.model, api_key=key, temperature=spec.temperature,
                                 timeout=spec.timeout_seconds, max_retries=0, max_tokens=out_tokens, **kwargs)
    raise ConfigError(f"llm.provider {spec.provider!r} is not supported (none, ollama, openai, anthropic)")


# -- one bounded session -------------------------------------------------------------------------------
class _Failed(Exception):
    """A model step failed; `retryable` when the output (not the transport) was the problem."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def _clip(text: Any, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _classify(exc: BaseException, timeout: float) -> _Failed:
    """Why a call failed, in words for the incident's notes, and whether asking again can help."""
    if isinstance(exc, _Failed):
        return exc
    name = type(exc).__name__  # other SDKs' own classes (openai, anthropic): APITimeoutError, APIConnectionError
    if isinstance(exc, httpx.TimeoutException | TimeoutError) or name.endswith("TimeoutError"):
        return _Failed(f"timed out after {timeout:g}s", retryable=False)
    if isinstance(exc, httpx.ConnectError | ConnectionError | httpx.NetworkError) or name.endswith("ConnectionError"):
        return _Failed(f"unreachable ({type(exc).__name__}: {_clip(exc, 150)})", retryable=False)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
    if isinstance(status, int) and status > 0:
        return _Failed(f"HTTP {status} from the server ({_clip(exc, 150)})", retryable=False)
    if isinstance(exc, ValueError | KeyError | TypeError):  # incl. ValidationError, OutputParserException, JSON
        return _Failed(f"invalid output ({type(exc).__name__}: {_clip(exc, 200)})", retryable=True)
    return _Failed(f"failed ({type(exc).__name__}: {_clip(exc, 200)})", retryable=False)


def _with_deadline(fn: Callable[[], T], timeout: float) -> T:
    """`fn()` on a daemon thread; TimeoutError when it has not finished within `timeout` seconds.

    The thread is abandoned, not killed (Python cannot): the client's own timeout ends it later, and a
    daemon thread never holds the process open."""
    box: dict[str, Any] = {}
    done = threading.Event()
    ctx = contextvars.copy_context()

    def run() -> None:
        try:
            box["value"] = ctx.run(fn)
        except BaseException as e:  # handed to the caller below
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name="prophet-llm-call", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"no answer within {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _message_tokens(messages: list[BaseMessage]) -> int:
    total = 0
    for m in messages:
        total += estimate_tokens(m.content if isinstance(m.content, str) else json.dumps(m.content, default=str))
        for tc in getattr(m, "tool_calls", None) or []:
            total += estimate_tokens(json.dumps(tc.get("args", {}), default=str)) + 5
    return total


def _schema_tokens(tools: list[Any]) -> int:
    return sum(estimate_tokens(json.dumps(convert_to_openai_tool(t), default=str)) for t in tools)


class _Session:
    """One role's conversation with the model: budget, deadline, accounting, warnings."""

    def __init__(self, model: BaseChatModel, spec: LLMSpec, role: str, spent: int) -> None:
        self.model = model
        self.spec = spec
        self.role = role
        self.budget = spec.max_tokens - max(0, spent)
        self.usage = LLMUsage()
        name = spec.model or getattr(model, "model", "") or type(model).__name__
        self.label = f"{spec.provider}/{name}" if spec.provider != "none" else str(name)

    @property
    def remaining(self) -> int:
        return self.budget - self.usage.tokens

    def warn(self, text: str) -> None:
        log.warning("LLM %s (%s): %s", self.role, self.label, text)
        self.usage.warnings.append(f"LLM {self.role} ({self.label}): {text}")

    def fall_back(self, reason: str, what: str) -> LLMUsage:
        self.warn(f"{reason}; using the deterministic {what}")
        self.usage.fell_back = True
        return self.usage

    def invoke(self, runnable: Runnable[Any, Any], messages: list[BaseMessage], schema_tokens: int) -> Any:
        """One call within the deadline; its tokens counted (usage metadata, else estimated)."""
        estimate = _message_tokens(messages) + schema_tokens
        if estimate + ANSWER_RESERVE > self.remaining:
            raise _Failed(f"token budget spent ({self.usage.tokens} of {self.budget} used, the next call needs "
                          f"~{estimate + ANSWER_RESERVE})", retryable=False)
        self.usage.calls += 1
        try:
            result = _with_deadline(lambda: runnable.invoke(messages), self.spec.timeout_seconds)
        except Exception as e:
            self.usage.tokens += estimate
            raise _classify(e, self.spec.timeout_seconds) from e
        raw = result.get("raw") if isinstance(result, dict) else result
        meta = getattr(raw, "usage_metadata", None) or {}
        if meta.get("total_tokens"):
            self.usage.tokens += int(meta["total_tokens"])
        else:
            content = getattr(raw, "content", "") or ""
            calls = getattr(raw, "tool_calls", None) or []
            self.usage.tokens += estimate + estimate_tokens(str(content) + json.dumps(calls, default=str))
        return result

    def structured(self, messages: list[BaseMessage], schema: dict[str, Any], parse: Callable[[Any], T],
                   *, retry: bool = True) -> T:
        """Ask for `schema` as a tool call, validate with `parse`; one retry with the validator's message
        (`retry=False` when this call already is the retry)."""
        try:
            runnable = self.model.with_structured_output(schema, method="function_calling", include_raw=True)
        except Exception as e:  # e.g. NotImplementedError: a model class without tool calling
            raise _Failed(f"cannot ask for structured output ({type(e).__name__}: {_clip(e, 150)})",
                          retryable=False) from e
        tokens = _schema_tokens([schema])
        attempt_messages = list(messages)
        for attempt in range(2) if retry else (1,):
            try:
                result = self.invoke(runnable, attempt_messages, tokens)
                value = parse(_payload(result, schema["title"]))
            except Exception as e:
                failure = _classify(e, self.spec.timeout_seconds)
                if not failure.retryable:
                    raise failure if failure is e else failure from e
                if attempt == 1:
                    raise _Failed(f"{failure.reason}, also after one retry", retryable=False) from e
            else:
                if self.usage.tokens > self.budget:
                    raise _Failed(f"token budget exceeded ({self.usage.tokens} > {self.budget})", retryable=False)
                return value
            self.warn(f"{failure.reason}; asking once more")
            attempt_messages = [*messages, HumanMessage(content=prompts.retry_instruction(failure.reason))]
        raise AssertionError("unreachable")  # pragma: no cover


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def _payload(result: Any, name: str) -> Any:
    """The tool call's arguments; else JSON in the text (models that answer in prose + JSON); else error."""
    if isinstance(result, dict) and "raw" in result:
        if result.get("parsed") is not None:
            return result["parsed"]
        raw = result.get("raw")
        calls = [tc for tc in getattr(raw, "tool_calls", None) or [] if tc.get("name") == name]
        if calls:
            return calls[0].get("args")
        text = str(getattr(raw, "content", "") or "")
        fenced = _FENCE.search(text)
        candidate = (fenced.group(1) if fenced else text).strip()
        if candidate.startswith(("{", "[")):
            try:
                return json.loads(candidate)
            except json.JSONDecodeError:
                pass
        error = result.get("parsing_error")
        raise ValueError(f"no `{name}` tool call in the answer"
                         + (f" ({_clip(error, 150)})" if error else f"; it said: {_clip(text, 120)!r}"))
    return result


# -- diagnose ------------------------------------------------------------------------------------------
class _DiagnosisAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    category: Category
    summary: str = Field(min_length=1)
    root_cause: ResourceRef | None = None
    confidence: float = Field(ge=0.0, le=1.0)

    @field_validator("root_cause", mode="before")
    @classmethod
    def _ref(cls, v: Any) -> Any:
        if v is None or (isinstance(v, str) and v.strip().lower() in ("", "null", "none", "unknown")):
            return None
        if isinstance(v, str):
            return ResourceRef.parse(v)
        return v


DIAGNOSIS_TOOL: dict[str, Any] = {
    "title": "Diagnosis",
    "description": "The final diagnosis of the incident.",
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": [c.value for c in Category]},
        "summary": {"type": "string", "description": "Two sentences: what broke and why."},
        "root_cause": {"type": "string", "description": "NS/KIND/NAME of the object at fault; empty if unknown."},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["category", "summary", "root_cause", "confidence"],
}


def _merge_diagnosis(answer: _DiagnosisAnswer, baseline: Diagnosis, trigger: Trigger) -> Diagnosis:
    """The model's diagnosis with the baseline's evidence; its confidence can exceed the baseline's only
    when it agrees with it (same category and root cause), so a model cannot talk the critic into acting."""
    root = answer.root_cause
    if root is not None and baseline.root_cause is not None and root.same_object(baseline.root_cause):
        root = baseline.root_cause
    elif root is not None and not root.cluster:
        cluster = (baseline.root_cause.cluster if baseline.root_cause else "") or (
            trigger.target.cluster if trigger.target else "")
        root = root.model_copy(update={"cluster": cluster}) if cluster else root
    agrees = (answer.category == baseline.category and root is not None and baseline.root_cause is not None
              and root.same_object(baseline.root_cause))
    confidence = (max(answer.confidence, baseline.confidence) if agrees
                  else min(answer.confidence, baseline.confidence))
    return Diagnosis(category=answer.category, summary=_clip(answer.summary, 1000), root_cause=root,
                     confidence=confidence, evidence=list(baseline.evidence), runbook_ids=list(baseline.runbook_ids))


def _investigate(s: _Session, messages: list[BaseMessage], tools: ReadTools) -> Any:
    """The bounded tool loop: appends the model's tool calls and the (untrusted, clipped) results.

    The `Diagnosis` tool is offered beside the read tools, so a model that knows the answer gives it
    without another round trip; its arguments are returned (unvalidated), else None."""
    lc_tools: list[Any] = [*tools.langchain_tools(), DIAGNOSIS_TOOL]
    try:
        bound = s.model.bind_tools(lc_tools)
    except Exception as e:  # a model class without tool calling still answers without tools
        s.warn(f"cannot bind tools ({type(e).__name__}); answering without them")
        return None
    schema_tokens = _schema_tokens(lc_tools)
    steps = 0
    while steps < s.spec.max_steps:
        need = 2 * (_message_tokens(messages) + schema_tokens) + 2 * ANSWER_RESERVE
        if need > s.remaining:
            s.warn(f"token budget: stopped investigating after {steps} tool call(s)")
            return None
        ai = s.invoke(bound, messages, schema_tokens)
        if not isinstance(ai, AIMessage):
            raise _Failed(f"invalid output (expected a message, got {type(ai).__name__})", retryable=True)
        answers = [tc for tc in ai.tool_calls if tc["name"] == DIAGNOSIS_TOOL["title"]]
        if answers:
            return answers[0].get("args")
        messages.append(ai)
        if not ai.tool_calls:
            return None
        for i, tc in enumerate(ai.tool_calls):
            call_id = tc.get("id") or f"call-{steps}-{i}"
            if steps >= s.spec.max_steps:
                content = "not run: the tool-call limit is reached; give your final answer now"
            else:
                steps += 1
                s.usage.tool_calls += 1
                text = tools.call(tc["name"], tc.get("args") or {})
                room = s.remaining - 2 * (_message_tokens(messages) + schema_tokens) - 2 * ANSWER_RESERVE
                max_chars = max(400, min(prompts.MAX_DATA_CHARS, room * 4 // 2))
                content = prompts.tool_result_text(tc["name"], text, max_chars=max_chars)
            messages.append(ToolMessage(content=content, tool_call_id=call_id, name=tc["name"]))
    s.warn(f"step limit: stopped investigating after {steps} tool call(s)")
    return None


def llm_diagnose(model: BaseChatModel | None, *, trigger: Trigger, findings: list[Finding], baseline: Diagnosis,
                 tools: ReadTools | None, spec: LLMSpec, spent: int = 0) -> tuple[Diagnosis, LLMUsage]:
    """The model's diagnosis (after at most `spec.max_steps` read-tool calls), else `baseline` with a warning.

    `spent`: tokens this incident already used (the budget is per incident)."""
    if model is None:
        return baseline, LLMUsage()
    s = _Session(model, spec, "diagnose", spent)
    try:
        messages = prompts.diagnose_messages(trigger, findings, baseline, tool_names=tools.names if tools else [])
        early: Any = None
        invalid = ""  # set when the loop already got one invalid answer: the final request is the retry
        if tools is not None:
            try:
                early = _investigate(s, messages, tools)
            except _Failed as e:
                if not e.retryable:
                    raise
                invalid = e.reason
        answer = None
        if early is not None:
            try:
                answer = _DiagnosisAnswer.model_validate(early)
            except ValidationError as e:
                invalid = _classify(e, spec.timeout_seconds).reason
        final = [*messages, HumanMessage(content=prompts.diagnosis_final_instruction())]
        if invalid:
            s.warn(f"{invalid}; asking once more")
            final.append(HumanMessage(content=prompts.retry_instruction(invalid)))
            answer = s.structured(final, DIAGNOSIS_TOOL, _DiagnosisAnswer.model_validate, retry=False)
        elif answer is None:
            answer = s.structured(final, DIAGNOSIS_TOOL, _DiagnosisAnswer.model_validate)
        elif s.usage.tokens > s.budget:
            raise _Failed(f"token budget exceeded ({s.usage.tokens} > {s.budget})", retryable=False)
        return _merge_diagnosis(answer, baseline, trigger), s.usage
    except _Failed as e:
        return baseline, s.fall_back(e.reason, "diagnosis")
    except Exception as e:  # the last net: an LLM step must never crash the graph
        log.exception("LLM diagnose failed unexpectedly")
        return baseline, s.fall_back(_classify(e, spec.timeout_seconds).reason, "diagnosis")


# -- propose -------------------------------------------------------------------------------------------
PROPOSE_TOOL: dict[str, Any] = {
    "title": "ProposedActions",
    "description": "The actions to run, in order, best first.",
    "type": "object",
    "properties": {"actions": {"type": "array", "items": {"type": "object"},
                               "description": "Action objects from the catalogue."}},
    "required": ["actions"],
}
_ACTION = TypeAdapter(Action)


def _to_action(item: Any) -> Action:
    if not isinstance(item, dict):
        raise ValueError(f"not an object: {_clip(item, 80)!r}")
    item = dict(item)
    if isinstance(item.get("target"), str):
        item["target"] = ResourceRef.parse(item["target"])
    return _ACTION.validate_python(item)


def _floor_risk(action: Action, candidates: list[Action]) -> Action:
    """An action's risk is never lower than the matching candidate's; a new action is at least medium."""
    same = [c for c in candidates if c.type == action.type and c.target.same_object(action.target)]
    floor = max((c.risk for c in same), key=_RISK_RANK.__getitem__) if same else Risk.MEDIUM
    if _RISK_RANK[action.risk] < _RISK_RANK[floor]:
        return action.model_copy(update={"risk": floor})
    return action


def _parse_proposal(payload: Any, candidates: list[Action]) -> tuple[list[Action], list[str]]:
    items = payload.get("actions") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise ValueError("`actions` must be a list of action objects")
    out: list[Action] = []
    dropped: list[str] = []
    for i, item in enumerate(items, 1):
        try:
            action = _floor_risk(_to_action(item), candidates)
        except (ValueError, ValidationError) as e:
            kind = item.get("type", "?") if isinstance(item, dict) else "?"
            detail = (e.errors()[0]["msg"] if isinstance(e, ValidationError) and e.errors() else str(e))
            dropped.append(f"dropped proposed action #{i} (type {kind!r}): {_clip(detail, 160)}")
            continue
        if action not in out:
            out.append(action)
    if not out:
        raise ValueError("no valid action in the answer" + (f": {dropped[0]}" if dropped else ""))
    if len(out) > MAX_PROPOSED:
        dropped.append(f"kept the first {MAX_PROPOSED} of {len(out)} proposed actions")
        out = out[:MAX_PROPOSED]
    return out, dropped


def llm_propose(model: BaseChatModel | None, *, diagnosis: Diagnosis, candidates: list[Action], spec: LLMSpec,
                spent: int = 0) -> tuple[list[Action], LLMUsage]:
    """The model's choice among (or beyond) `candidates`, each validated as an `Action`; else `candidates`."""
    if model is None:
        return list(candidates), LLMUsage()
    s = _Session(model, spec, "propose", spent)
    try:
        actions, dropped = s.structured(prompts.propose_messages(diagnosis, candidates), PROPOSE_TOOL,
                                        lambda p: _parse_proposal(p, candidates))
    except _Failed as e:
        return list(candidates), s.fall_back(e.reason, "plan")
    except Exception as e:  # the last net: an LLM step must never crash the graph
        log.exception("LLM propose failed unexpectedly")
        return list(candidates), s.fall_back(_classify(e, spec.timeout_seconds).reason, "plan")
    for text in dropped:
        s.warn(text)
    return actions, s.usage


# -- critique ------------------------------------------------------------------------------------------
Decision = Literal["approve", "needs_approval", "reject"]


class _Critique(BaseModel):
    model_config = ConfigDict(extra="ignore")

    decision: Decision
    concerns: list[str] = Field(default_factory=list)

    @field_validator("concerns", mode="before")
    @classmethod
    def _strings(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [v] if v.strip() else []
        return [str(c) for c in v if str(c).strip()] if isinstance(v, list) else v


CRITIQUE_TOOL: dict[str, Any] = {
    "title": "Critique",
    "description": "Your review of the plan.",
    "type": "object",
    "properties": {
        "decision": {"type": "string", "enum": list(_DECISION_RANK)},
        "concerns": {"type": "array", "items": {"type": "string"}, "description": "One sentence per concern."},
    },
    "required": ["decision", "concerns"],
}


def _apply_critique(verdict: Verdict, critique: _Critique) -> Verdict:
    concerns = [_clip(c, 300) for c in critique.concerns[:MAX_CONCERNS]]
    opinion: Decision = critique.decision
    if concerns and opinion == "approve":
        opinion = "needs_approval"  # concerns with an approval are a request for a human look
    reasons = [RuleResult(rule="llm_critique", passed=False, detail=c) for c in concerns]
    if not concerns:
        passed = opinion == "approve"
        reasons.append(RuleResult(rule="llm_critique", passed=passed,
                                  detail="no concerns" if passed else f"the model's review says {opinion}"))
    return critic_stricter(verdict, Verdict(decision=opinion, reasons=reasons))


def llm_critique(model: BaseChatModel | None, *, plan: Plan, diagnosis: Diagnosis, verdict: Verdict, spec: LLMSpec,
                 spent: int = 0) -> tuple[Verdict, LLMUsage]:
    """`verdict`, made stricter by the model's review where it asks; never looser, whatever it says."""
    if model is None:
        return verdict, LLMUsage()
    s = _Session(model, spec, "critique", spent)
    try:
        critique = s.structured(prompts.critique_messages(plan, diagnosis, verdict), CRITIQUE_TOOL,
                                _Critique.model_validate)
        return _apply_critique(verdict, critique), s.usage
    except _Failed as e:
        return verdict, s.fall_back(e.reason, "verdict")
    except Exception as e:  # the last net: an LLM step must never crash the graph
        log.exception("LLM critique failed unexpectedly")
        return verdict, s.fall_back(_classify(e, spec.timeout_seconds).reason, "verdict")


__all__ = [
    "CRITIQUE_TOOL", "DIAGNOSIS_TOOL", "LLMUsage", "OLLAMA_DEFAULT_URL", "PROPOSE_TOOL", "chat_model", "llm_critique",
    "llm_diagnose", "llm_propose",
]

"""What the graph's nodes need that is not state: clients, policy, audit log, ledger, chat model, knowledge.

LangGraph passes this to every node as `runtime.context` (the graph's `context_schema`). It is rebuilt
by each process that runs or resumes an incident, which is what makes resuming in another process
safe: a checkpoint holds data only, and a resumed incident runs under the policy and clients of the
process that resumes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prophet_sre.config import Settings
from prophet_sre.policy.audit import AuditLog
from prophet_sre.policy.rules import PolicyLedger
from prophet_sre.policy.spec import AutonomousActionSpec, LLMSpec
from prophet_sre.tools.kube.client import KubeClients

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from prophet_sre.agents.read_tools import ReadTools
    from prophet_sre.knowledge import Knowledge
    from prophet_sre.tools.prometheus import PrometheusTool

log = logging.getLogger(__name__)
EventSink = Callable[[dict[str, Any]], None]


@dataclass
class Deps:
    settings: Settings
    policy: AutonomousActionSpec
    clients: KubeClients
    audit: AuditLog
    ledger: PolicyLedger
    llm: BaseChatModel | None = None
    read_tools: ReadTools | None = None
    knowledge: Knowledge | None = None
    prometheus: PrometheusTool | None = None
    on_event: EventSink | None = None
    """Called with every step and decision (`{"incident", "node", "summary", ...}`): the live view of
    `prophet demo`, the MCP server's event stream, the operator's Events."""
    notes: list[str] = field(default_factory=list)
    """Problems met while building these dependencies (an LLM that could not be configured)."""
    policy_given: bool = False
    """Whether `policy` was chosen by the caller (a `--policy` file, an AutonomousAction) rather than
    defaulted: a resumed incident then runs under the stricter of it and the incident's own policy."""

    @property
    def identity(self) -> str:
        return self.settings.agents.identity

    @property
    def llm_spec(self) -> LLMSpec:
        return self.policy.llm if self.policy.llm.provider != "none" else self.settings.llm

    def emit(self, event: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # noqa: BLE001 - a broken viewer must never break an incident
            log.exception("event sink failed; events are no longer sent to it")
            self.on_event = None


def build_deps(settings: Settings, policy: AutonomousActionSpec | None = None, *,
               clients: KubeClients | None = None, llm: BaseChatModel | None = None,
               knowledge: Knowledge | None | bool = None, on_event: EventSink | None = None) -> Deps:
    """Everything a node needs, from settings: the policy defaults to the built-in one; `llm` overrides
    the configured provider (tests pass a scripted model); `knowledge=False` disables runbook retrieval
    and incident memory."""
    given = policy is not None
    policy = policy or AutonomousActionSpec()
    clients = clients or KubeClients(settings.kube)
    deps = Deps(settings=settings, policy=policy, clients=clients,
                audit=AuditLog(settings.data_path("audit.jsonl"), actor=settings.agents.identity),
                ledger=PolicyLedger(settings.data_path("policy.sqlite")), on_event=on_event,
                policy_given=given)
    spec = deps.llm_spec
    if llm is not None:
        deps.llm = llm
    elif spec.provider != "none":
        from prophet_sre.agents.llm import chat_model

        try:
            key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
            deps.llm = chat_model(spec, api_key=key)
        except Exception as e:  # noqa: BLE001 - no LLM is a supported mode: degrade, loudly
            deps.notes.append(f"LLM {spec.provider}:{spec.model} unavailable ({e}); using the deterministic reasoner")
            log.warning("%s", deps.notes[-1])
    if deps.llm is not None:
        from prophet_sre.agents.read_tools import ReadTools

        deps.read_tools = ReadTools(clients, settings)
    if knowledge is None or knowledge is True:
        try:
            from prophet_sre.knowledge import Knowledge as _Knowledge

            deps.knowledge = _Knowledge.from_settings(settings)
        except Exception as e:  # noqa: BLE001 - runbooks are an aid; the built-in rules still plan
            deps.notes.append(f"runbook index unavailable ({e}); planning from built-in rules")
            log.warning("%s", deps.notes[-1])
    elif knowledge is not False:
        deps.knowledge = knowledge
    if settings.prometheus.url:
        from prophet_sre.tools.prometheus import PrometheusTool

        deps.prometheus = PrometheusTool.from_settings(
            settings, cluster_clock=lambda: clients.for_cluster().cluster_now().timestamp())
    return deps


_default: Deps | None = None


def deps_of(runtime: Any) -> Deps:
    """The runtime's dependencies; built once from `Settings()` when the graph runs without them (under
    `langgraph dev` / Studio, which know nothing of Prophet's context)."""
    global _default
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, Deps):
        return ctx
    if _default is None:
        _default = build_deps(Settings())
    return _default


__all__ = ["Deps", "EventSink", "build_deps", "deps_of"]

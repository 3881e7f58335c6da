"""What the MCP tools, resources and HTTP endpoints do, as plain synchronous calls.

Kept apart from the protocol (`server.py`) and the transports (`transports.py`) so one object serves
stdio, streamable HTTP, WebSocket and `POST /mcp/query` alike, and so tests and the benchmark can call it
directly. It owns, for the server's lifetime: the incident runner (checkpointer, audit log, clients), the
read tools per cluster, and the event broker that `/mcp/stream` reads.

Every read returns a bounded text (the per-call token budget of `Settings.tools.token_budget`) with
secrets redacted; errors a caller can fix come back as `ToolOutput(status="error")`, not exceptions.
Graph runs (ask, diagnose, propose) are limited to `Settings.mcp.max_concurrent_runs` at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.config import Settings
from prophet_sre.errors import InvalidInput, ProphetError, ToolUnavailable
from prophet_sre.graphs.state import IncidentState, Trigger
from prophet_sre.mcp_server.auth import Caller
from prophet_sre.mcp_server.events import EventBroker
from prophet_sre.mcp_server.redact import redact_data, redact_text
from prophet_sre.policy.spec import AutonomousActionSpec
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.envelope import ToolResult
from prophet_sre.tools.kube.reads import KubeReads, to_ref

log = logging.getLogger(__name__)


# -- outputs (the tools' output schemas) ---------------------------------------------------------------------
class ToolOutput(BaseModel):
    """A read tool's answer: `text` is what a model reads (bounded, redacted)."""

    status: str = Field(description="ok | no_data | error")
    text: str
    truncated: bool = False
    omitted: str = Field(default="", description="What was left out and the exact call that gets it.")
    error_type: str = ""


class Evidence(BaseModel):
    ref: str
    source: str
    detail: str


class AnswerOutput(BaseModel):
    """The query graph's grounded answer (ask, diagnose, POST /mcp/query)."""

    incident_id: str = Field(description="Id of this question's record (prophet://incidents/{id}).")
    answer: str
    category: str = ""
    root_cause: str = ""
    confidence: float = 0.0
    evidence: list[Evidence] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class PlanOutput(BaseModel):
    """An incident after a write tool: where it stands, what it plans and what the critic said."""

    incident_id: str
    mode: str
    outcome: str
    diagnosis: str = ""
    actions: list[str] = Field(default_factory=list)
    decision: str = Field(default="", description="The safety critic's verdict: approve | needs_approval | reject.")
    failed_rules: list[str] = Field(default_factory=list)
    dry_run_diff: str = ""
    approval: dict[str, Any] | None = None
    executed: list[str] = Field(default_factory=list)
    verification: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _out(result: ToolResult[Any]) -> ToolOutput:
    return ToolOutput(status=result.status.value, text=redact_text(result.text), truncated=result.truncated,
                      omitted=result.omitted, error_type=result.error_type)


def _error(e: ProphetError) -> ToolOutput:
    return ToolOutput(status="error", text=f"error ({type(e).__name__}): {e}", error_type=type(e).__name__)


def answer_output(state: IncidentState) -> AnswerOutput:
    d = state.diagnosis
    evidence = [Evidence(ref=str(f.ref), source=f.source.value if hasattr(f.source, "value") else str(f.source),
                         detail=redact_text("; ".join(f.errors))[:300]) for f in (d.evidence if d else [])][:10]
    return AnswerOutput(incident_id=state.incident_id, answer=redact_text(state.answer or ""),
                        category=d.category.value if d else "", root_cause=str(d.root_cause) if d and d.root_cause
                        else "", confidence=d.confidence if d else 0.0, evidence=evidence,
                        notes=[redact_text(n) for n in state.notes[-5:]])


def plan_output(state: IncidentState, request: dict[str, Any] | None = None) -> PlanOutput:
    v = state.verdict
    d = state.diagnosis
    return PlanOutput(
        incident_id=state.incident_id, mode=state.mode,
        outcome=state.outcome.value if state.outcome else "running",
        diagnosis=redact_text(f"{d.category.value}: {d.summary}" if d else ""),
        actions=[f"{a.type} {a.target}: {a.reason}"[:300] for a in state.plan.actions] if state.plan else [],
        decision=v.decision if v else "", failed_rules=[f"{r.rule}: {r.detail}"[:300] for r in v.reasons
                                                        if not r.passed] if v else [],
        dry_run_diff=redact_text((v.dry_run_diff or "") if v else "")[:6000],
        approval=state.approval.model_dump(mode="json") if state.approval else None,
        executed=[f"{r.action.type} {r.action.target}: {'ok' if r.result.ok else r.result.error}"
                  for r in state.executions],
        verification=[f"{'pass' if r.ok else 'skip' if r.skipped else 'fail'}: {r.detail}"[:300]
                      for r in state.verification],
        notes=[redact_text(n) for n in state.notes[-8:]],
    )


class ProphetService:
    """The server's state and operations; open with `open()` (or as a context manager), close at exit."""

    def __init__(self, settings: Settings, policy: AutonomousActionSpec | None = None, *,
                 allow_writes: bool | None = None, llm: Any = None, knowledge: Any = None) -> None:
        self.settings = settings
        self.policy = policy or AutonomousActionSpec()
        self.allow_writes = settings.mcp.allow_writes if allow_writes is None else allow_writes
        self.broker = EventBroker()
        self.budget = bud.Budget(settings.tools.token_budget)
        self._llm = llm
        self._knowledge = knowledge
        self._stack = contextlib.ExitStack()
        self._runner: Any = None
        self._reads: dict[str, KubeReads] = {}
        self._reads_lock = threading.Lock()
        self._runs = threading.BoundedSemaphore(settings.mcp.max_concurrent_runs)
        self.calls: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self._stats_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------
    def open(self) -> ProphetService:
        from prophet_sre.graphs.runner import open_runner

        kw: dict[str, Any] = {"on_event": self.broker.on_graph_event}
        if self._llm is not None:
            kw["llm"] = self._llm
        if self._knowledge is not None:
            kw["knowledge"] = self._knowledge
        self._runner = self._stack.enter_context(open_runner(self.settings, self.policy, **kw))
        return self

    def close(self) -> None:
        self._stack.close()
        self._runner = None

    def __enter__(self) -> ProphetService:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def runner(self) -> Any:
        if self._runner is None:
            raise ToolUnavailable("the MCP service is not open")
        return self._runner

    @property
    def audit_path(self) -> Any:
        return self.settings.data_path("audit.jsonl")

    def count(self, tool: str, *, error: bool = False, seconds: float = 0.0) -> None:
        """Record one tool call (for `/metrics`)."""
        with self._stats_lock:
            self.calls[tool] = self.calls.get(tool, 0) + 1
            self.seconds[tool] = self.seconds.get(tool, 0.0) + seconds
            if error:
                self.errors[tool] = self.errors.get(tool, 0) + 1

    # -- reads ------------------------------------------------------------------------------------------
    def reads(self, cluster: str = "") -> KubeReads:
        with self._reads_lock:
            if cluster not in self._reads:
                client = self.runner.deps.clients.for_cluster(cluster)
                self._reads[cluster] = KubeReads(client, settings=self.settings.tools)
            return self._reads[cluster]

    def _guard(self, fn: Any) -> ToolOutput:
        try:
            return _out(fn())
        except ProphetError as e:
            return _error(e)

    def _ref(self, text: str, default_kind: str = "") -> tuple[KubeReads, Any]:
        head, sep, rest = text.partition(":")
        cluster, body = (head, rest) if sep and "/" not in head else ("", text)
        return self.reads(cluster), to_ref(body, None, default_kind=default_kind)

    def cluster_summary(self, namespace: str | None = None, cluster: str = "") -> ToolOutput:
        return self._guard(lambda: self.reads(cluster).cluster_summary(namespace or None))

    def list_objects(self, kind: str, namespace: str | None = None, selector: str = "", offset: int = 0,
                     limit: int = 30, cluster: str = "") -> ToolOutput:
        return self._guard(lambda: self.reads(cluster).list(kind, namespace or None, selector=selector,
                                                            offset=offset, limit=limit))

    def describe(self, ref: str) -> ToolOutput:
        def run() -> ToolResult[Any]:
            reads, r = self._ref(ref)
            return reads.describe(r)
        return self._guard(run)

    def events(self, ref: str | None = None, namespace: str | None = None, reasons: list[str] | None = None,
               cluster: str = "") -> ToolOutput:
        def run() -> ToolResult[Any]:
            if ref:
                reads, r = self._ref(ref)
                return reads.events(r, reasons=reasons or ())
            return self.reads(cluster).events(None, namespace=namespace or None, reasons=reasons or ())
        return self._guard(run)

    def logs(self, pod: str, container: str | None = None, tail: int | None = None, grep: str | None = None,
             previous: bool = False) -> ToolOutput:
        def run() -> ToolResult[Any]:
            reads, r = self._ref(pod, default_kind="Pod")
            return reads.logs(r, container=container, tail=tail, grep=grep, previous=previous)
        return self._guard(run)

    def rollout_history(self, deployment: str) -> ToolOutput:
        def run() -> ToolResult[Any]:
            reads, r = self._ref(deployment, default_kind="Deployment")
            return reads.rollout_history(r)
        return self._guard(run)

    def analyze(self, namespace: str | None = None, cluster: str = "") -> ToolOutput:
        from prophet_sre.tools.analyze import Scope, analyze, default_sources

        def run() -> ToolResult[Any]:
            client = self.runner.deps.clients.for_cluster(cluster)
            report = analyze(default_sources(client, self.settings), Scope(namespace=namespace or None))
            params = {"namespace": namespace, "cluster": cluster}
            if not report.findings:
                notes = "; ".join(report.notes[:5])
                return envelope.ok("analyze", params, text="no problems found" + (f" (notes: {notes})" if notes
                                                                                    else ""), no_data=True)
            lines = [f"{len(report.findings)} findings:"]
            for f in report.findings:
                lines.append(f"- {f.ref} [{f.source.value}/{f.analyzer or '-'}]: {'; '.join(f.errors)}"[:400])
            if report.notes:
                lines.append("notes: " + "; ".join(report.notes[:5]))
            result = envelope.ok("analyze", params, text="\n".join(lines))
            return bud.enforce(result, self.budget, narrow="call analyze(namespace=NS) for one namespace")
        return self._guard(run)

    def service_map(self, window_s: float = 60.0) -> ToolOutput:
        return self._guard(lambda: self._hubble().service_map_tool(window_s=window_s))

    def flows(self, last: int = 20) -> ToolOutput:
        return self._guard(lambda: self._hubble().observe_tool(last=last))

    def _hubble(self) -> Any:
        if not self.settings.hubble.address:
            raise ToolUnavailable("no Hubble Relay configured (PROPHET_HUBBLE__ADDRESS or --hubble)")
        from prophet_sre.tools.hubble import HubbleTool

        return HubbleTool(self.settings.hubble.address, timeout_s=self.settings.hubble.timeout_s, budget=self.budget)

    def promql(self, query: str, minutes: float = 0.0) -> ToolOutput:
        if not self.settings.prometheus.url:
            return _error(ToolUnavailable("no Prometheus configured (PROPHET_PROMETHEUS__URL or --prometheus)"))
        from prophet_sre.tools.prometheus import PrometheusTool

        tool = PrometheusTool(self.settings.prometheus.url, timeout_s=self.settings.prometheus.timeout_s,
                              budget=self.budget)
        if minutes > 0:
            return self._guard(lambda: tool.query_range(query, minutes=minutes))
        return self._guard(lambda: tool.query(query))

    def fleet_status(self) -> ToolOutput:
        from prophet_sre.tools.capi.inventory import FleetInventory

        def run() -> ToolResult[Any]:
            inv = FleetInventory(self.runner.deps.clients.for_cluster(""))
            try:
                if not inv.served():
                    contexts = self._contexts()
                    text = ("not a Cluster API management cluster (no clusters.cluster.x-k8s.io)"
                            + (f"; kubeconfig contexts: {', '.join(contexts)}" if contexts else ""))
                    return envelope.ok("fleet_status", {}, text=text, no_data=True)
                return envelope.ok("fleet_status", {}, text=inv.health().summary())
            finally:
                inv.close()
        return self._guard(run)

    def _contexts(self) -> list[str]:
        try:
            import yaml

            path = self.settings.kube.kubeconfig
            if path is None:
                return []
            doc = yaml.safe_load(path.expanduser().read_text()) or {}
            return [c.get("name", "") for c in doc.get("contexts") or []][:20]
        except (OSError, ValueError):
            return []

    def search_runbooks(self, text: str, k: int = 5, category: str | None = None) -> ToolOutput:
        from prophet_sre.knowledge.tool import search_runbooks

        knowledge = self.runner.deps.knowledge
        if knowledge is None:
            return _error(ToolUnavailable("the runbook index is not available in this server"))
        return self._guard(lambda: search_runbooks(knowledge, text, k=k, category=category or None,
                                                   budget=self.budget))

    def runbook(self, runbook_id: str) -> str:
        knowledge = self.runner.deps.knowledge
        if knowledge is None:
            raise ToolUnavailable("the runbook index is not available in this server")
        from prophet_sre.errors import NotFound

        rb = knowledge.runbook(runbook_id)
        if rb is None:
            raise NotFound(f"no runbook {runbook_id!r} (search with the search_runbooks tool)")
        return redact_text(rb.source() or f"# {rb.title}\n" + "\n\n".join(f"## {k}\n{v}"
                                                                          for k, v in rb.sections.items()))

    # -- the query graph ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _run_slot(self) -> Any:
        if not self._runs.acquire(timeout=self.settings.mcp.query_timeout_s):
            raise ToolUnavailable(f"{self.settings.mcp.max_concurrent_runs} investigations are already running; "
                                  "try again shortly")
        try:
            yield
        finally:
            self._runs.release()

    def ask(self, question: str, namespace: str | None = None) -> AnswerOutput:
        if not question.strip():
            raise InvalidInput("the question is empty: ask e.g. 'why is latency high on the shop frontend?'")
        if len(question) > 2000:
            raise InvalidInput("the question is longer than 2,000 characters; shorten it")
        with self._run_slot():
            state = self.runner.ask(question.strip(), namespace=namespace or None)
        return answer_output(state)

    def diagnose(self, namespace: str | None = None, target: str | None = None) -> AnswerOutput:
        scope = target or (f"namespace {namespace}" if namespace else "the cluster")
        return self.ask(f"What is wrong with {scope}, and what is the root cause?", namespace)

    # -- incidents and audit ---------------------------------------------------------------------------
    def incidents(self, last: int = 20) -> ToolOutput:
        from prophet_sre.graphs.incidents import summarize
        from prophet_sre.policy.audit import AuditLog

        items = summarize(AuditLog(self.audit_path).records())[:max(1, min(last, 200))]
        if not items:
            return ToolOutput(status="no_data", text="no incidents yet")
        lines = [f"{i.id} {i.updated:%Y-%m-%d %H:%M:%S} {i.outcome} {i.category} {i.root_cause} "
                 f"{'; '.join(i.actions)} {i.summary}"[:300] for i in items]
        text = "\n".join(lines)
        result = bud.enforce(envelope.ok("incidents", {"last": last}, text=text), self.budget,
                             narrow="lower last")
        return _out(result)

    def incident(self, incident_id: str) -> dict[str, Any]:
        from prophet_sre.cli.agents import incident_json

        return redact_data(incident_json(self.runner.get(incident_id)))

    def audit(self, last: int = 20, incident_id: str | None = None) -> ToolOutput:
        from prophet_sre.policy.audit import AuditLog, summary

        log_ = AuditLog(self.audit_path)
        n = max(1, min(last, 200))
        records = list(log_.records(incident_id))[-n:] if incident_id else log_.tail(n)
        if not records:
            return ToolOutput(status="no_data", text="the audit log is empty" if not incident_id
                              else f"no audit records for {incident_id}")
        lines = [f"{r.time:%Y-%m-%d %H:%M:%S} {r.actor} {r.event} {r.incident_id}: {summary(r)}" for r in records]
        return _out(bud.enforce(envelope.ok("audit", {"last": last, "incident_id": incident_id},
                                            text="\n".join(lines)), self.budget, narrow="lower last"))

    # -- writes (only with --allow-writes; the graph's critic always runs) ------------------------------
    def _writes(self, caller: Caller) -> None:
        from prophet_sre.errors import Forbidden

        if not self.allow_writes:
            raise Forbidden("write tools are disabled: start the server with --allow-writes")
        if not caller.can_write:
            raise Forbidden(f"{caller.name} has a read-only token; write tools need an 'rw' token")

    def propose_plan(self, caller: Caller, *, question: str = "", namespace: str | None = None,
                     target: str | None = None, from_incident: str | None = None) -> PlanOutput:
        """Diagnose, plan, run the critic and a dry run; stop before any write (waiting for approval)."""
        self._writes(caller)
        findings: list[Any] = []
        if from_incident:
            prior = self.runner.get(from_incident)
            question = question or prior.trigger.question or prior.trigger.reason
            namespace = namespace or prior.trigger.namespace
            findings = list(prior.diagnosis.evidence) if prior.diagnosis else []
        ref = None
        if target:
            ref = to_ref(target)
            namespace = namespace or ref.namespace or None
        reason = question or (f"MCP request to fix {target}" if target else f"MCP request to fix {namespace or 'the cluster'}")
        trigger = Trigger(type="question" if question else "manual", question=question, reason=reason[:200],
                          namespace=namespace or None, target=ref, findings=findings,
                          details={"requested_by": caller.name, "via": "mcp"})
        mode = "dry-run" if self.policy.approval_mode == "dry-run" else "human-in-loop"
        with self._run_slot():
            state = self.runner.start(trigger, mode=mode)
        return plan_output(state, self.runner.pending_request(state.incident_id))

    def pending(self, incident_id: str) -> dict[str, Any] | None:
        return self.runner.pending_request(incident_id)

    def decide(self, caller: Caller, incident_id: str, *, approved: bool, reason: str = "") -> PlanOutput:
        """Approve or reject a waiting plan as `caller` (their name is the approval's `by`)."""
        self._writes(caller)
        state = self.runner.resume(incident_id, approved=approved, by=caller.name, reason=reason)
        return plan_output(state)

    def execute(self, caller: Caller, incident_id: str, reason: str = "") -> PlanOutput:
        """Execute a proposed plan: a dry run under a dry-run policy, else an approval by `caller`."""
        self._writes(caller)
        if self.policy.approval_mode == "dry-run":
            out = plan_output(self.runner.get(incident_id))
            out.notes.append("the policy's approvalMode is dry-run: nothing was executed; the diff shows what would")
            return out
        return self.decide(caller, incident_id, approved=True, reason=reason or "execute via MCP")

    def health(self) -> dict[str, Any]:
        return {"ok": self._runner is not None, "writes": self.allow_writes,
                "mode": self.policy.approval_mode, "subscribers": self.broker.subscribers}


__all__ = ["AnswerOutput", "Evidence", "PlanOutput", "ProphetService", "ToolOutput", "answer_output",
           "plan_output"]

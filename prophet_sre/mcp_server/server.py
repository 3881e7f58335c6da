"""Prophet as an MCP server: tools (with annotations and output schemas), resources and prompts.

`build_server(service)` returns an SDK `MCPServer` whose handlers call `ProphetService` in worker threads
(the kube clients, the graph and the checkpointer are synchronous). The same server object is served
over stdio, streamable HTTP and our WebSocket adapter (`transports.py`).

Read tools are always there and carry `readOnlyHint`. The write tools (propose_plan, approve_action,
reject_action, execute) are registered only with `--allow-writes`; each one still runs the remediation
graph, so the safety critic and the dry run always happen, and a plan executes only after an approval
recorded with the caller's identity (the bearer token's name over HTTP, `stdio:<user>` over stdio).
Where the client supports elicitation, approve_action asks the human to confirm through it.
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from prophet_sre import __version__
from prophet_sre.errors import ProphetError
from prophet_sre.mcp_server.auth import Caller, caller_of
from prophet_sre.mcp_server.service import AnswerOutput, PlanOutput, ProphetService, ToolOutput

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
RUN = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
"""Graph runs (ask, diagnose): they read only, but each records a new entry in the audit log."""
PROPOSE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
DECIDE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
WRITE_TOOLS = ("propose_plan", "approve_action", "reject_action", "execute")

INSTRUCTIONS = """Prophet is an SRE for this Kubernetes cluster. Start with `ask` for a grounded answer to a
question (it gathers evidence, diagnoses and cites), or `cluster_summary` / `analyze` to look around; use
list_objects, describe, events and logs to drill down (outputs are bounded; footers say how to get more).
Refer to objects as NS/KIND/NAME (e.g. shop/deployment/backend). Write tools, when enabled, never change
anything before an approval: propose_plan returns the plan, the safety critic's verdict and a dry-run diff."""

Ns = Annotated[str | None, Field(description="Namespace; omit for all namespaces.")]
ClusterArg = Annotated[str, Field(description="Cluster (kubeconfig context); omit for the default.")]


class Confirm(BaseModel):
    """What approve_action asks the human through elicitation."""

    approve: bool = Field(description="Apply this plan to the cluster now?")
    reason: str = Field(default="", description="Why (recorded in the audit log).")


def _text_of(out: BaseModel) -> str:
    if isinstance(out, ToolOutput):
        return out.text + (f"\n[truncated] {out.omitted}" if out.truncated and out.omitted and out.omitted
                           not in out.text else "")
    if isinstance(out, AnswerOutput):
        return out.answer + f"\n(incident {out.incident_id})"
    if isinstance(out, PlanOutput):
        lines = [f"incident {out.incident_id}: {out.outcome} (mode {out.mode})"]
        if out.diagnosis:
            lines.append(f"diagnosis: {out.diagnosis}")
        lines += [f"action: {a}" for a in out.actions]
        if out.decision:
            lines.append(f"critic: {out.decision}" + (f" (failed: {'; '.join(out.failed_rules)})"
                                                      if out.failed_rules else ""))
        if out.dry_run_diff:
            lines.append("dry-run diff:\n" + out.dry_run_diff)
        lines += [f"executed: {e}" for e in out.executed] + [f"check {v}" for v in out.verification]
        if out.approval:
            lines.append(f"decision by {out.approval.get('by')}: "
                         f"{'approved' if out.approval.get('approved') else 'declined'}")
        if out.outcome == "pending_approval":
            lines.append(f"waiting for approval: approve_action(incident_id='{out.incident_id}') or reject_action")
        lines += [f"note: {n}" for n in out.notes]
        return "\n".join(lines)
    return out.model_dump_json()


def _result(out: BaseModel) -> CallToolResult:
    is_error = isinstance(out, ToolOutput) and out.status == "error"
    return CallToolResult(content=[TextContent(type="text", text=_text_of(out))],
                          structured_content=out.model_dump(mode="json"), is_error=is_error)


class _Tools:
    """Registers the tools on `mcp`, each calling the service in a worker thread."""

    def __init__(self, mcp: MCPServer, service: ProphetService) -> None:
        self.mcp = mcp
        self.service = service
        self.local = Caller(f"stdio:{_user()}", "rw")

    def caller(self, ctx: Context | None) -> Caller:
        if ctx is None:
            return self.local
        try:
            request = ctx.request_context.request
        except (ValueError, AttributeError):
            return self.local
        return caller_of(request) or self.local

    async def call(self, tool: str, fn: Callable[..., BaseModel], *args: Any, **kw: Any) -> CallToolResult:
        t0 = time.perf_counter()
        try:
            out = await anyio.to_thread.run_sync(lambda: fn(*args, **kw))
        except ProphetError as e:
            self.service.count(tool, error=True, seconds=time.perf_counter() - t0)
            raise ToolError(f"{type(e).__name__}: {e}") from e
        error = isinstance(out, ToolOutput) and out.status == "error"
        self.service.count(tool, error=error, seconds=time.perf_counter() - t0)
        return _result(out)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry in some containers
        return "unknown"


def build_server(service: ProphetService) -> MCPServer:
    """The MCP server over `service` (open it before serving)."""
    mcp = MCPServer("prophet", version=__version__, instructions=INSTRUCTIONS,
                    website_url=None, warn_on_duplicate_tools=False)
    t = _Tools(mcp, service)
    s = service
    _register_reads(mcp, t, s)
    if s.allow_writes:
        _register_writes(mcp, t, s)
    _register_resources(mcp, s)
    _register_prompts(mcp)
    return mcp


def _register_reads(mcp: MCPServer, t: _Tools, s: ProphetService) -> None:
    @mcp.tool(annotations=READ, title="Cluster summary")
    async def cluster_summary(namespace: Ns = None, cluster: ClusterArg = "") -> Annotated[CallToolResult, ToolOutput]:
        """Nodes, pods by phase, unhealthy namespaces and workloads, and recent warning reasons."""
        return await t.call("cluster_summary", s.cluster_summary, namespace, cluster)

    @mcp.tool(annotations=READ, title="List objects")
    async def list_objects(
        kind: Annotated[str, Field(description="Kind or resource: pods, deployments, nodes, events, pvc, ...")],
        namespace: Ns = None,
        selector: Annotated[str, Field(description="Label selector, e.g. app=web.")] = "",
        offset: Annotated[int, Field(ge=0, description="Rows to skip (paging).")] = 0,
        limit: Annotated[int, Field(ge=1, le=200, description="Rows to show.")] = 30,
        cluster: ClusterArg = "",
    ) -> Annotated[CallToolResult, ToolOutput]:
        """A compact table of one kind (kubectl get columns), paged; the footer says how to get more."""
        return await t.call("list_objects", s.list_objects, kind, namespace, selector, offset, limit, cluster)

    @mcp.tool(annotations=READ, title="Describe")
    async def describe(
        ref: Annotated[str, Field(description="Object as NS/KIND/NAME (shop/deployment/backend), or /node/NAME.")],
    ) -> Annotated[CallToolResult, ToolOutput]:
        """Status, conditions, container states, recent events and owners of one object."""
        return await t.call("describe", s.describe, ref)

    @mcp.tool(annotations=READ, title="Events")
    async def events(
        ref: Annotated[str | None, Field(description="Object as NS/KIND/NAME; omit for a namespace.")] = None,
        namespace: Ns = None,
        reasons: Annotated[list[str] | None, Field(description="Only these reasons, e.g. [\"BackOff\"].")] = None,
        cluster: ClusterArg = "",
    ) -> Annotated[CallToolResult, ToolOutput]:
        """Events of one object or namespace, de-duplicated, newest first."""
        return await t.call("events", s.events, ref, namespace, reasons, cluster)

    @mcp.tool(annotations=READ, title="Logs")
    async def logs(
        pod: Annotated[str, Field(description="Pod as NS/pod/NAME or NS/NAME.")],
        container: Annotated[str | None, Field(description="Container; omit for the only or first.")] = None,
        tail: Annotated[int | None, Field(ge=1, le=1000, description="Newest lines to show.")] = None,
        grep: Annotated[str | None, Field(description="Only lines containing this text.")] = None,
        previous: Annotated[bool, Field(description="The previous (crashed) container's logs.")] = False,
    ) -> Annotated[CallToolResult, ToolOutput]:
        """The newest lines of a pod's container (credentials in them are masked)."""
        return await t.call("logs", s.logs, pod, container, tail, grep, previous)

    @mcp.tool(annotations=READ, title="Rollout history")
    async def rollout_history(
        deployment: Annotated[str, Field(description="Deployment as NS/deployment/NAME or NS/NAME.")],
    ) -> Annotated[CallToolResult, ToolOutput]:
        """Revisions of a Deployment with their images; marks the current one."""
        return await t.call("rollout_history", s.rollout_history, deployment)

    @mcp.tool(annotations=READ, title="Analyze")
    async def analyze(namespace: Ns = None, cluster: ClusterArg = "") -> Annotated[CallToolResult, ToolOutput]:
        """Findings of every source (Prophet's analyzers, K8sGPT, Prometheus anomalies, Hubble, Cluster API)."""
        return await t.call("analyze", s.analyze, namespace, cluster)

    @mcp.tool(annotations=READ, title="Service map")
    async def service_map(
        window_s: Annotated[float, Field(gt=0, le=3600, description="Window of flows, seconds.")] = 60.0,
    ) -> Annotated[CallToolResult, ToolOutput]:
        """Who talks to whom (Hubble flows): request rates, drops and error ratios per edge."""
        return await t.call("service_map", s.service_map, window_s)

    @mcp.tool(annotations=READ, title="Flows")
    async def flows(
        last: Annotated[int, Field(ge=1, le=200, description="How many recent flows.")] = 20,
    ) -> Annotated[CallToolResult, ToolOutput]:
        """The most recent network flows seen by Hubble (verdicts, drops, L7)."""
        return await t.call("flows", s.flows, last)

    @mcp.tool(annotations=READ, title="PromQL")
    async def promql(
        query: Annotated[str, Field(description="A PromQL expression.")],
        minutes: Annotated[float, Field(ge=0, le=1440, description="0: instant query; >0: range over the "
                                        "last N minutes (downsampled).")] = 0.0,
    ) -> Annotated[CallToolResult, ToolOutput]:
        """Run a PromQL query against the configured Prometheus (top series, bounded)."""
        return await t.call("promql", s.promql, query, minutes)

    @mcp.tool(annotations=READ, title="Fleet status")
    async def fleet_status() -> Annotated[CallToolResult, ToolOutput]:
        """Health of every Cluster API workload cluster (phase, nodes, failing conditions)."""
        return await t.call("fleet_status", s.fleet_status)

    @mcp.tool(annotations=READ, title="Search runbooks")
    async def search_runbooks(
        text: Annotated[str, Field(description="A finding, an event message or a question.")],
        k: Annotated[int, Field(ge=1, le=20, description="How many runbooks.")] = 5,
        category: Annotated[str | None, Field(description="oom, crashloop, image_pull, ...")] = None,
    ) -> Annotated[CallToolResult, ToolOutput]:
        """Runbooks that match what you see; read one with the resource prophet://runbooks/{id}."""
        return await t.call("search_runbooks", s.search_runbooks, text, k, category)

    @mcp.tool(annotations=RUN, title="Diagnose")
    async def diagnose(
        namespace: Ns = None,
        target: Annotated[str | None, Field(description="An object to focus on, NS/KIND/NAME.")] = None,
    ) -> Annotated[CallToolResult, AnswerOutput]:
        """Gather evidence and diagnose: category, root cause, confidence and the evidence cited."""
        return await t.call("diagnose", s.diagnose, namespace, target)

    @mcp.tool(annotations=RUN, title="Ask")
    async def ask(
        question: Annotated[str, Field(description="e.g. 'why is latency high on the shop frontend?'")],
        namespace: Ns = None,
    ) -> Annotated[CallToolResult, AnswerOutput]:
        """Answer a question about the cluster from evidence (metrics, events, flows, logs), citing it.
        Read-only; the answer's incident id can seed propose_plan."""
        return await t.call("ask", s.ask, question, namespace)

    @mcp.tool(annotations=READ, title="Incidents")
    async def incidents(
        last: Annotated[int, Field(ge=1, le=200, description="How many, newest first.")] = 20,
    ) -> Annotated[CallToolResult, ToolOutput]:
        """Recent incidents and questions: outcome, category, root cause, actions. Full record:
        prophet://incidents/{id}."""
        return await t.call("incidents", s.incidents, last)

    @mcp.tool(annotations=READ, title="Audit log")
    async def audit(
        last: Annotated[int, Field(ge=1, le=200, description="How many records, newest last.")] = 20,
        incident_id: Annotated[str | None, Field(description="Only this incident's records.")] = None,
    ) -> Annotated[CallToolResult, ToolOutput]:
        """The tamper-evident audit log: who decided and did what, when."""
        return await t.call("audit", s.audit, last, incident_id)


def _register_writes(mcp: MCPServer, t: _Tools, s: ProphetService) -> None:
    @mcp.tool(annotations=PROPOSE, title="Propose a plan")
    async def propose_plan(
        ctx: Context,
        question: Annotated[str, Field(description="What is wrong, in words (e.g. the question you asked).")] = "",
        namespace: Ns = None,
        target: Annotated[str | None, Field(description="The object to fix, NS/KIND/NAME.")] = None,
        from_incident: Annotated[str | None, Field(description="An `ask` answer's incident id to start "
                                                   "from.")] = None,
    ) -> Annotated[CallToolResult, PlanOutput]:
        """Diagnose, plan a fix, run the safety critic and a dry run - and stop before any change. Returns
        the plan, the verdict and the dry-run diff; approve_action applies it."""
        return await t.call("propose_plan", s.propose_plan, t.caller(ctx), question=question,
                            namespace=namespace, target=target, from_incident=from_incident)

    @mcp.tool(annotations=DECIDE, title="Approve a plan")
    async def approve_action(
        ctx: Context,
        incident_id: Annotated[str, Field(description="The incident waiting for approval.")],
        reason: Annotated[str, Field(description="Why (recorded in the audit log).")] = "",
    ) -> Annotated[CallToolResult, PlanOutput]:
        """Approve a waiting plan: the policy is checked again, the plan executed and verified (rolled back
        if verification fails). Asks the human to confirm when the client supports elicitation."""
        caller = t.caller(ctx)
        confirmed = await _confirm(ctx, s, incident_id)
        if confirmed is not None and not confirmed.approve:
            raise ToolError(f"not approved: the human declined in the client; incident {incident_id} still waits")
        why = (confirmed.reason if confirmed and confirmed.reason else reason)
        return await t.call("approve_action", s.decide, caller, incident_id, approved=True, reason=why)

    @mcp.tool(annotations=PROPOSE, title="Reject a plan")
    async def reject_action(
        ctx: Context,
        incident_id: Annotated[str, Field(description="The incident waiting for approval.")],
        reason: Annotated[str, Field(description="Why (recorded in the audit log).")] = "",
    ) -> Annotated[CallToolResult, PlanOutput]:
        """Reject a waiting plan: nothing is executed; the incident ends as declined."""
        return await t.call("reject_action", s.decide, t.caller(ctx), incident_id, approved=False, reason=reason)

    @mcp.tool(annotations=DECIDE, title="Execute a plan")
    async def execute(
        ctx: Context,
        incident_id: Annotated[str, Field(description="A proposed incident (see propose_plan).")],
        reason: Annotated[str, Field(description="Why (recorded in the audit log).")] = "",
    ) -> Annotated[CallToolResult, PlanOutput]:
        """Execute a proposed plan. Under a dry-run policy nothing is written (the diff is returned);
        otherwise this is an approval by you, re-checked by the critic before any write."""
        return await t.call("execute", s.execute, t.caller(ctx), incident_id, reason)


async def _confirm(ctx: Context, s: ProphetService, incident_id: str) -> Confirm | None:
    """Ask the human through elicitation; None when the client cannot be asked."""
    try:
        caps = ctx.client_capabilities
    except (ValueError, AttributeError):
        return None
    if caps is None or getattr(caps, "elicitation", None) is None:
        return None
    request = await anyio.to_thread.run_sync(s.pending, incident_id)
    if request is None:
        return None  # let the service say why (not waiting / unknown)
    actions = "; ".join(f"{a.get('type')} {_ref(a.get('target'))}" for a in request.get("plan", {}).get("actions", []))
    message = (f"Prophet asks to apply to the cluster, for incident {incident_id}: {actions}. "
               f"Critic: {request.get('verdict', {}).get('decision')}. Approve?")
    try:
        result = await ctx.elicit(message, Confirm)
    except Exception:  # noqa: BLE001 - a client that cannot answer: the explicit tool call is the decision
        return None
    if result.action != "accept" or result.data is None:
        return Confirm(approve=False)
    return result.data


def _ref(ref: Any) -> str:
    if isinstance(ref, dict):
        return f"{ref.get('namespace', '')}/{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"
    return str(ref)


def _register_resources(mcp: MCPServer, s: ProphetService) -> None:
    def run(fn: Callable[[], str]) -> Callable[[], Any]:
        async def read() -> str:
            try:
                return await anyio.to_thread.run_sync(fn)
            except ProphetError as e:
                raise ValueError(f"{type(e).__name__}: {e}") from e
        return read

    @mcp.resource("prophet://cluster/summary", name="cluster-summary", mime_type="text/plain",
                  description="Nodes, pods by phase, unhealthy workloads, recent warnings.")
    async def cluster_summary() -> str:
        return await run(lambda: s.cluster_summary().text)()

    @mcp.resource("prophet://incidents", name="incidents", mime_type="text/plain",
                  description="Recent incidents, newest first.")
    async def incidents() -> str:
        return await run(lambda: s.incidents(50).text)()

    @mcp.resource("prophet://incidents/{incident_id}", name="incident", mime_type="application/json",
                  description="One incident in full: trigger, diagnosis, plan, verdict, approval, steps.")
    async def incident(incident_id: str) -> str:
        return await run(lambda: json.dumps(s.incident(incident_id), indent=1))()

    @mcp.resource("prophet://audit", name="audit", mime_type="text/plain",
                  description="The last 50 audit records (who did what, when).")
    async def audit() -> str:
        return await run(lambda: s.audit(50).text)()

    @mcp.resource("prophet://runbooks/{runbook_id}", name="runbook", mime_type="text/markdown",
                  description="One runbook (Markdown with its front matter).")
    async def runbook(runbook_id: str) -> str:
        return await run(lambda: s.runbook(runbook_id))()


def _register_prompts(mcp: MCPServer) -> None:
    @mcp.prompt(name="investigate", title="Investigate a symptom")
    def investigate(symptom: str, namespace: str = "") -> list[UserMessage]:
        """Investigate a symptom with Prophet's tools and explain the root cause with evidence."""
        where = f" in namespace {namespace}" if namespace else ""
        return [UserMessage(
            f"Investigate this symptom{where}: {symptom}\n\n"
            "1. Call `ask` with the symptom as a question; read the cited evidence.\n"
            "2. Confirm with `describe`, `events`, `logs` or `promql` on the objects the evidence names.\n"
            "3. Search runbooks (`search_runbooks`) for the diagnosed category.\n"
            "Answer with: the root cause (NS/KIND/NAME), the evidence for it, what else was ruled out, and the "
            "safest fix. Do not change anything; if writes are enabled, `propose_plan` shows the plan and its "
            "dry run without applying it.")]

    @mcp.prompt(name="postmortem", title="Write a postmortem")
    def postmortem(incident_id: str) -> list[UserMessage]:
        """Draft a blameless postmortem of one incident from its record and audit trail."""
        return [UserMessage(
            f"Write a blameless postmortem for incident {incident_id}.\n\n"
            f"Read the resource prophet://incidents/{incident_id} and call `audit(incident_id='{incident_id}')`. "
            "Sections: Summary; Impact; Timeline (from the audit records, with times); Root cause (with the "
            "evidence); Detection; Resolution (actions, who approved them, verification); What went well; "
            "What to improve (action items). Quote evidence; do not invent facts that the record lacks.")]


__all__ = ["INSTRUCTIONS", "WRITE_TOOLS", "build_server"]

"""What every prepared action is: its requests, its results, and the one write loop most of them share.

`PreparedAction` is an `Action` (domain data) bound to a cluster client. Its contract:

- `render()` reads (never writes) and says what would change, with the exact requests;
- `dry_run()` sends those requests with `dryRun=All` and diffs the live object against the answer;
- `execute()` sends them for real, capturing the "before" state first, so that even a partial failure
  leaves enough to undo what was done;
- `inverse(before)` turns that snapshot into the `Action` that undoes it (or None, with the reason in
  `reversibility()`);
- `blast_radius()` counts what the action touches, for the safety critic.

`dry_run()` and `execute()` never raise `prophet_sre.errors.ToolError`: their results (`results.py`)
carry it as `error`/`error_type`. Everything else here raises those classes.

`SingleWrite` covers the actions that are one write to one object (read, build the body, write, retry
the whole loop on 409 Conflict).
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, Field

from prophet_sre import errors
from prophet_sre.domain import Action
from prophet_sre.tools.actions import diff
from prophet_sre.tools.actions.results import BlastRadius, DryRunResult, ExecutionResult
from prophet_sre.tools.kube import errors as kerr
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.kinds import ResourceKind

Obj = dict[str, Any]
T = TypeVar("T")

FIELD_MANAGER = "prophet"
"""`fieldManager` of every write: `kubectl get -o yaml --show-managed-fields` then names Prophet."""
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON = "application/json"


class ActionSettings(BaseModel):
    """How hard actions try and how long they wait. (Belongs in `config.Settings` as `actions`.)"""

    conflict_attempts: int = Field(default=5, ge=1, le=20)
    """Read-modify-write rounds on 409 Conflict before giving up: another writer that wins five times in
    a row is a controller fighting us, and retrying further would only hide that."""
    conflict_backoff_s: float = Field(default=0.05, ge=0)
    """First pause between those rounds (doubles each time)."""
    settle_timeout_s: float = Field(default=15.0, gt=0)
    """How long to wait for a controller's visible reaction (a rollback's new revision, a deleted object
    to be gone before re-creating it). Fifteen seconds covers a real API server's finalizers for a PVC
    that is not in use; longer waits are the verify step's job, not the action's."""
    poll_s: float = Field(default=0.1, gt=0)
    """Polling interval while waiting for one of those reactions."""
    eviction_backoff_s: float = Field(default=0.5, gt=0)
    """First pause before re-trying evictions refused by a PodDisruptionBudget (429); doubles up to
    `eviction_backoff_max_s`. kubectl drain waits 5 s between tries; a shorter start frees a node sooner
    when the budget recovers quickly."""
    eviction_backoff_max_s: float = Field(default=5.0, gt=0)
    diff_max_lines: int = Field(default=80, ge=10, le=2000)
    """Lines of a dry-run diff: enough for a template change, bounded for an LLM's context."""
    diff_max_value_chars: int = Field(default=300, ge=40)
    """Characters of one value in a diff or of one request body in `render()`."""
    record_escalation_event: bool = True
    """Escalations also write a Kubernetes Event (reason `ProphetEscalation`) on their target."""


@dataclass(frozen=True)
class Request:
    """One HTTP request an action sends: exactly what `render()` shows and `execute()` sends."""

    method: str
    path: str
    op: kerr.Op
    """What the request does in RBAC's terms (for error messages naming the missing permission)."""
    body: Any = None
    content_type: str = ""
    query: tuple[tuple[str, str], ...] = ()

    def render(self, max_chars: int = 300) -> str:
        """`PATCH /apis/... (content type)` and the body as compact JSON, cut with a marker if long."""
        qs = "&".join(f"{k}={v}" for k, v in self.query)
        head = f"{self.method} {self.path}{'?' + qs if qs else ''}"
        if self.content_type:
            head += f"  [{self.content_type}]"
        if self.body is None:
            return head
        return f"{head}\n    {diff.clip(orjson.dumps(self.body).decode(), max_chars)}"


def write_request(method: str, rk: ResourceKind, namespace: str, name: str, *, body: Any = None,
                  content_type: str = "", subresource: str = "", verb: str = "") -> Request:
    """A request on one object (or its collection when `name` is empty), with Prophet's fieldManager."""
    ns = namespace if rk.namespaced else ""
    resource = f"{rk.resource}/{subresource}" if subresource else rk.resource
    verb = verb or {"PATCH": "patch", "POST": "create", "PUT": "update", "DELETE": "delete"}[method]
    query = (("fieldManager", FIELD_MANAGER),) if method in ("PATCH", "POST", "PUT") else ()
    return Request(method, rk.path(ns or None, name, subresource), kerr.Op(verb, resource, rk.group, ns, name),
                   body, content_type or (JSON if body is not None else ""), query)


def send(kube: KubeClient, req: Request, *, dry_run: bool = False) -> Obj:
    """Send `req` (with `dryRun=All` when asked) and return the JSON answer ({} when it has none)."""
    query = list(req.query) + ([("dryRun", "All")] if dry_run else [])
    headers = {"Content-Type": req.content_type} if req.content_type else None
    resp = kube.request(req.method, req.path, op=req.op, query=query, body=req.body, headers=headers)
    try:
        doc = orjson.loads(resp.body) if resp.body else {}
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


# -- the base class --------------------------------------------------------------------------------------
class PreparedAction(ABC):
    """An `Action` bound to the client of the cluster it targets."""

    def __init__(self, action: Action, kube: KubeClient, settings: ActionSettings | None = None) -> None:
        self.action = action
        self.kube = kube
        self.settings = settings or ActionSettings()

    # -- what subclasses provide ----------------------------------------------------------------------
    @abstractmethod
    def describe(self) -> str:
        """One or two sentences: what changes, in SRE terms (may read the cluster)."""

    @abstractmethod
    def requests(self) -> list[Request]:
        """The requests `execute()` would send if called now (reads the cluster, never writes)."""

    @abstractmethod
    def _dry_run(self, result: DryRunResult) -> None:
        """Send the requests with dryRun=All and fill `result.diff` (and notes)."""

    @abstractmethod
    def _execute(self, result: ExecutionResult) -> None:
        """Write; set `result.before` before the first write; raise ToolError or set `result.error`."""

    @abstractmethod
    def reversibility(self) -> str:
        """How (or why not) this action can be undone, for the render and the audit log."""

    def inverse(self, before: dict[str, Any]) -> Action | None:
        """The action that undoes this one, from `ExecutionResult.before`; None if there is none."""
        return None

    def blast_radius(self) -> BlastRadius:
        return BlastRadius(namespaces=[self.namespace] if self.namespace else [])

    # -- shared behaviour ------------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        return self.action.target.namespace

    def render(self) -> str:
        a = self.action
        lines = [f"{a.type} {a.target}: {self.describe()}", f"risk: {a.risk.value}; undo: {self.reversibility()}"]
        if a.reason:
            lines.append(f"reason: {a.reason}")
        reqs = self.requests()
        lines.append("requests:" if reqs else "requests: none (no write to the cluster)")
        lines += [f"  {r.render(self.settings.diff_max_value_chars)}" for r in reqs]
        return "\n".join(lines)

    def dry_run(self) -> DryRunResult:
        result = DryRunResult(ok=True)
        try:
            self._dry_run(result)
        except errors.ToolError as e:
            result.fail(e)
        return result

    def execute(self) -> ExecutionResult:
        result = ExecutionResult(ok=True)
        try:
            self._execute(result)
        except errors.ToolError as e:
            result.fail(e)
        if result.error:
            result.ok = False
        return result

    # -- helpers for subclasses ------------------------------------------------------------------------
    def retrying(self, fn: Callable[[], T]) -> T:
        """`fn` re-run on 409 Conflict (it must re-read what it writes), then Conflict."""
        return kerr.retry_on_conflict(fn, attempts=self.settings.conflict_attempts,
                                      backoff_s=self.settings.conflict_backoff_s)

    def wait_until(self, check: Callable[[], T | None], timeout_s: float | None = None) -> T | None:
        """Poll `check` until it returns a value (not None) or the settle timeout passes."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.settings.settle_timeout_s)
        while True:
            value = check()
            if value is not None or time.monotonic() >= deadline:
                return value
            time.sleep(self.settings.poll_s)

    def diff(self, title: str, before: Obj | None, after: Obj | None) -> str:
        return diff.render(title, before, after, max_lines=self.settings.diff_max_lines,
                           max_value_chars=self.settings.diff_max_value_chars)


@dataclass
class Write:
    """One completed (or dry-run) write: the object read, the request sent and the server's answer."""

    live: Obj
    request: Request | None
    answer: Obj = field(default_factory=dict)
    skipped: str = ""
    """Why nothing was sent (e.g. "skipped rollback (current template already matches revision 2)")."""


class SingleWrite(PreparedAction):
    """An action that is one write to one object: read it, build the request from it, send it."""

    def kind(self) -> ResourceKind:
        """The written object's kind (default: the target's kind, through discovery)."""
        return self.kube.resolve(self.action.target.kind)

    def subresource(self) -> str:
        return ""

    @abstractmethod
    def build(self, live: Obj) -> Request | str:
        """The request for the current object, or a string saying why no write is needed."""

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        """What `before`/`after` keep of an object (default: its cleaned manifest)."""
        return {"object": clean(obj)}

    def settle(self, write: Write, result: ExecutionResult) -> None:
        """After a real write: wait for / report the controller's reaction (default: nothing)."""

    def read(self) -> Obj:
        rk, t = self.kind(), self.action.target
        ns = object_namespace(rk, t.namespace)
        op = kerr.Op("get", f"{rk.resource}/{self.subresource()}" if self.subresource() else rk.resource,
                     rk.group, ns, t.name)
        return self.kube.get_json(rk.path(ns or None, t.name, self.subresource()), op=op)

    def request_for(self, body: Any, content_type: str) -> Request:
        rk, t = self.kind(), self.action.target
        return write_request("PATCH", rk, object_namespace(rk, t.namespace), t.name, body=body,
                             content_type=content_type, subresource=self.subresource())

    def write(self, *, dry_run: bool) -> Write:
        def once() -> Write:
            live = self.read()
            req = self.build(live)
            if isinstance(req, str):
                return Write(live, None, skipped=req)
            return Write(live, req, send(self.kube, req, dry_run=dry_run))
        return self.retrying(once)

    def requests(self) -> list[Request]:
        req = self.build(self.read())
        return [] if isinstance(req, str) else [req]

    def title(self) -> str:
        rk, t = self.kind(), self.action.target
        sub = f"/{self.subresource()}" if self.subresource() else ""
        return f"{rk.kind}{sub} {t.namespace + '/' if t.namespace else ''}{t.name}"

    def _dry_run(self, result: DryRunResult) -> None:
        w = self.write(dry_run=True)
        if w.skipped:
            result.notes.append(w.skipped)
            result.diff = "(no change)"
            return
        result.diff = self.diff(self.title(), w.live, w.answer)

    def _execute(self, result: ExecutionResult) -> None:
        w = self.write(dry_run=False)
        result.before = self.snapshot(w.live)
        if w.skipped:
            result.notes.append(w.skipped)
            result.changed["skipped"] = w.skipped
            result.after = result.before
            return
        result.after = self.snapshot(w.answer)
        result.changed[self.title()] = o.text(o.dig(w.answer, "metadata", "resourceVersion"))
        self.settle(w, result)


# -- small shared readers --------------------------------------------------------------------------------
VOLATILE_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                     "deletionTimestamp", "deletionGracePeriodSeconds")


def clean(obj: Obj) -> Obj:
    """A manifest without status and server-owned metadata: what can be diffed, stored or created again."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in o.mapping(obj.get("metadata")).items() if k not in VOLATILE_METADATA}
    if meta:
        out["metadata"] = meta
    return copy.deepcopy(out)


def object_namespace(rk: ResourceKind, namespace: str) -> str:
    """The namespace to use for a kind: "" for cluster-scoped kinds, `default` when a namespaced one has none."""
    return (namespace or "default") if rk.namespaced else ""


def selector_string(selector: Any) -> str:
    """A LabelSelector as the `labelSelector` query string (`app=web,tier in (a,b),!canary`)."""
    sel = o.mapping(selector)
    parts = [f"{k}={v}" for k, v in sorted(o.str_map(sel.get("matchLabels")).items())]
    for expr in o.items(sel.get("matchExpressions")):
        key, op = o.text(expr.get("key")), o.text(expr.get("operator"))
        values = ",".join(v for v in expr.get("values") or [] if isinstance(v, str))
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                      "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(parts)


POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")


def workload_pods(kube: KubeClient, kind: str, namespace: str, name: str) -> tuple[Obj, list[Obj]]:
    """A Pod (itself) or a workload and the pods its selector matches (a Deployment's: every revision's)."""
    if kind == "Pod":
        pod = kube.get("pods", name, namespace)
        return pod, [pod]
    obj = kube.get(kind, name, namespace)
    selector = o.dig(obj, "spec", "selector")
    if o.selector_is_empty(selector):
        return obj, []  # an empty selector would match every pod in the namespace: never act on that
    return obj, kube.list("pods", namespace, label_selector=selector_string(selector))


def live_pods(pods: list[Obj]) -> list[Obj]:
    """Pods that are not finished or already being deleted."""
    return [p for p in pods if o.text(o.dig(p, "status", "phase")) not in ("Succeeded", "Failed")
            and not o.dig(p, "metadata", "deletionTimestamp")]


__all__ = [
    "FIELD_MANAGER", "JSON", "JSON_PATCH", "MERGE_PATCH", "POD_TEMPLATE_KINDS", "STRATEGIC_PATCH",
    "ActionSettings", "PreparedAction", "Request", "SingleWrite",
    "Write", "clean", "live_pods", "object_namespace", "selector_string", "send", "workload_pods",
    "write_request",
]

"""The `rollout_history` read tool: a Deployment's revisions, their images, and which one is live.

Revisions are the Deployment's ReplicaSets (owned by it, selected by its selector), numbered by their
`deployment.kubernetes.io/revision` annotation - the same data `kubectl rollout history` and
`kubectl rollout undo` use. The current revision is the one the Deployment's own revision annotation
names (falling back to the highest number), so "which image did the bad rollout bring?" is one call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"


class Revision(BaseModel):
    revision: int
    replicaset: str
    images: list[str] = Field(default_factory=list)
    replicas: int = 0
    ready: int = 0
    current: bool = False
    created: datetime | None = None
    change_cause: str = ""


def revisions(client: KubeClient, namespace: str, name: str) -> tuple[dict[str, Any], list[Revision]]:
    dep = client.get("deployments", name, namespace)
    uid = o.text(o.dig(dep, "metadata", "uid"))
    match = o.str_map(o.dig(dep, "spec", "selector", "matchLabels"))
    selector = ",".join(f"{k}={v}" for k, v in match.items())
    out: list[Revision] = []
    for rs in client.list("replicasets", namespace, label_selector=selector):
        owned = any(o.text(r.get("kind")) == "Deployment" and (o.text(r.get("uid")) == uid or
                                                              o.text(r.get("name")) == name) for r in o.owners(rs))
        if not owned or not o.matches_selector(o.dig(dep, "spec", "selector"), o.labels(rs)):
            continue
        spec = o.dig(rs, "spec", "template", "spec")
        out.append(Revision(
            revision=o.num(o.annotations(rs).get(REVISION)), replicaset=o.name(rs),
            images=[o.text(c.get("image")) for c in o.items(o.dig(spec, "containers"))],
            replicas=o.num(o.dig(rs, "status", "replicas")), ready=o.num(o.dig(rs, "status", "readyReplicas")),
            created=o.parse_time(o.dig(rs, "metadata", "creationTimestamp")),
            change_cause=o.annotations(rs).get(CHANGE_CAUSE, "")))
    out.sort(key=lambda r: r.revision)
    live = o.num(o.annotations(dep).get(REVISION)) or (out[-1].revision if out else 0)
    for r in out:
        r.current = r.revision == live
    return dep, out


def rollout_tool(client: KubeClient, budget: bud.Budget, *, namespace: str, name: str,
                 params: dict[str, Any]) -> envelope.ToolResult[Any]:
    dep, revs = revisions(client, namespace, name)
    if not revs:
        return envelope.ok("rollout_history", params, no_data=True, data=[],
                           text=f"Deployment {namespace}/{name} has no ReplicaSets yet")
    now = client.cluster_now()
    ready = o.num(o.dig(dep, "status", "readyReplicas"))
    head = [f"Rollout history of Deployment {namespace}/{name} ({ready}/{o.num(o.dig(dep, 'spec', 'replicas'), 1)} "
            f"ready; newest first):"]
    lines = [f"  {'*' if r.current else ' '} revision {r.revision}: {r.replicaset} images {', '.join(r.images)}; "
             f"{r.ready}/{r.replicas} ready; created {o.age(r.created, now)} ago"
             + (f"; cause: {r.change_cause}" if r.change_cause else "") + (" (current)" if r.current else "")
             for r in reversed(revs)]
    n = max(1, bud.fit_rows(head, lines, budget))
    omitted = ""
    if n < len(lines):
        omitted = (f"{len(lines) - n} older revisions; call "
                   f"{bud.call_hint('list', {'kind': 'replicasets', 'namespace': namespace}, columns=['metadata.name', 'metadata.annotations'])}")
        lines = lines[:n] + [f"[{omitted}]"]
    return envelope.ok("rollout_history", params, text="\n".join(head + lines), data=list(reversed(revs)),
                       omitted=omitted)


__all__ = ["Revision", "revisions", "rollout_tool"]

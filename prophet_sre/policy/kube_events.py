"""Kubernetes Events for audit records: what Prophet did to an object shows up in `kubectl describe` on it.

Why: the audit log lives on Prophet's disk, but the people who debug a workload look at the cluster. An
Event on the target (reason `Prophet<Event>`, e.g. `ProphetIntent`, `ProphetExecution`) tells them that
an automated system touched it, and which incident to look up. Events are a breadcrumb, never the record
itself: failing to write one (no RBAC permission for events, the object gone) is logged and ignored, so
it can never stop a remediation or hide an audit record.

Events are core/v1 Events written through Prophet's kube access layer (`KubeClient.request`), timestamped
with the cluster's clock (`KubeClient.cluster_now`). Cluster-scoped targets (a Node) get their Event in
namespace `default`, as the kubelet does.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Literal

import orjson

from prophet_sre.domain import ResourceRef
from prophet_sre.errors import ProphetError
from prophet_sre.tools.kube import errors as kerr
from prophet_sre.tools.kube import kinds

if TYPE_CHECKING:
    from prophet_sre.tools.kube.client import KubeClient

log = logging.getLogger(__name__)

COMPONENT = "prophet"
"""`source.component` and `reportingComponent` of every Event Prophet writes."""
MAX_MESSAGE = 1024
"""Event messages beyond ~1 KiB are cut by `kubectl describe` anyway; the API server caps them too."""
INCIDENT_ANNOTATION = "prophet.io/incident"
_NAME_PREFIX = re.compile(r"[^a-z0-9.-]+")


def record_event(kube: KubeClient, target: ResourceRef, *, reason: str, message: str,
                 type: Literal["Normal", "Warning"] = "Normal", incident_id: str = "") -> bool:
    """Create a core/v1 Event on `target`; True when the API server accepted it.

    `involvedObject` takes apiVersion, kind, namespace and uid from the live object when it can be read;
    a target that does not exist (deleted, or a typo) still gets an Event naming it, without a uid.
    Never raises: any failure is logged as a warning and returns False.
    """
    try:
        return _record(kube, target, reason=reason, message=message, type_=type, incident_id=incident_id)
    except ProphetError as e:
        log.warning("could not record the %s Event on %s: %s", reason, target, e)
    except Exception:  # a breadcrumb must never break the caller; say loudly that it failed
        log.exception("could not record the %s Event on %s", reason, target)
    return False


def _record(kube: KubeClient, target: ResourceRef, *, reason: str, message: str, type_: str,
            incident_id: str) -> bool:
    rk = _kind(kube, target)
    namespaced = rk.namespaced if rk else bool(target.namespace)
    live = _live(kube, target, namespaced)
    meta = live.get("metadata") if isinstance(live.get("metadata"), dict) else {}
    ns = (target.namespace or str(meta.get("namespace") or "")) if namespaced else ""
    involved: dict[str, Any] = {"kind": rk.kind if rk else target.kind, "name": target.name}
    if rk:
        involved["apiVersion"] = rk.api_version
    if ns:
        involved["namespace"] = ns
    if meta.get("uid"):
        involved["uid"] = str(meta["uid"])
    if meta.get("resourceVersion"):
        involved["resourceVersion"] = str(meta["resourceVersion"])
    event_ns = ns or "default"
    text = message
    if incident_id and incident_id not in text:
        text = f"{text} (incident {incident_id})"
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE - 3] + "..."
    now = kube.cluster_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": _prefix(target.name), "namespace": event_ns},
        "involvedObject": involved, "reason": reason[:128], "message": text, "type": type_,
        "source": {"component": COMPONENT}, "reportingComponent": COMPONENT, "reportingInstance": COMPONENT,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }
    if incident_id:
        body["metadata"]["annotations"] = {INCIDENT_ANNOTATION: incident_id}
    events = kinds.BUILTIN["events"]
    resp = kube.request("POST", events.path(event_ns), op=kerr.Op("create", "events", "", event_ns), body=body,
                        query=(("fieldManager", COMPONENT),))
    try:
        created = orjson.loads(resp.body) if resp.body else {}
    except orjson.JSONDecodeError:
        created = {}
    name = created.get("metadata", {}).get("name", "?") if isinstance(created, dict) else "?"
    log.debug("recorded Event %s/%s (%s) on %s", event_ns, name, reason, target)
    return True


def _kind(kube: KubeClient, target: ResourceRef) -> kinds.ResourceKind | None:
    """The served kind of the target (None when the server does not know it: the Event still names it)."""
    try:
        return kube.resolve(target.kind)
    except ProphetError:
        return None


def _live(kube: KubeClient, target: ResourceRef, namespaced: bool) -> dict[str, Any]:
    try:  # metadata only: the uid is all we need, and a Secret's data never travels
        return kube.get(target.kind, target.name, (target.namespace or None) if namespaced else None,
                        metadata_only=True)
    except ProphetError as e:
        log.debug("target %s not readable for its Event (%s); recording it without a uid", target, e)
        return {}


def _prefix(name: str) -> str:
    """`generateName` for the Event: the object's name and a dot, as kubelet names its Events."""
    clean = _NAME_PREFIX.sub("-", name.lower()).strip("-.") or "prophet"
    return clean[:200] + "."


__all__ = ["COMPONENT", "INCIDENT_ANNOTATION", "MAX_MESSAGE", "record_event"]

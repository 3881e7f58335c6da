"""Pure helpers of the deployment controller: template hashing, revisions, surge arithmetic, status.

They mirror `k8s.io/kubernetes/pkg/controller/deployment/util`, because `kubectl rollout history`,
`rollout undo` and `rollout status` read exactly these annotations and numbers.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import orjson

from prophet_sre.sim.clock import parse_time
from prophet_sre.sim.controllers.common import fnv32a, owner_reference, safe_encode, scaled_value

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_SKIP_COPY = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
              MAX_REPLICAS, "deprecated.deployment.rollback.to"}
REV_HISTORY_LIMIT_CHARS = 2000


# -- template identity -------------------------------------------------------------------------------
def _strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = dict(template or {})
    meta = dict(t.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    labels.pop(HASH_LABEL, None)
    meta["labels"] = labels
    for k in ("creationTimestamp",):
        meta.pop(k, None)
    t["metadata"] = meta
    return t


def _canon(template: dict[str, Any]) -> bytes:
    return orjson.dumps(_strip_hash(template), option=orjson.OPT_SORT_KEYS)


def template_hash(template: dict[str, Any], collision_count: int | None) -> str:
    """FNV-1a of the template (plus the collision count), safe-encoded like `controller.ComputeHash`."""
    data = _canon(template)
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def equal_ignore_hash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return _canon(a) == _canon(b)


# -- strategy arithmetic -----------------------------------------------------------------------------
def replicas_of(obj: dict[str, Any]) -> int:
    r = (obj.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)


def is_rolling(d: dict[str, Any]) -> bool:
    return ((d["spec"].get("strategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"


def _fenceposts(d: dict[str, Any]) -> tuple[int, int]:
    ru = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas_of(d)
    surge = scaled_value(ru.get("maxSurge"), desired, True)
    unavailable = scaled_value(ru.get("maxUnavailable"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # both zero is rejected by validation; the controller guards anyway
    return surge, unavailable


def max_surge(d: dict[str, Any]) -> int:
    return _fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: dict[str, Any]) -> int:
    if not is_rolling(d) or replicas_of(d) == 0:
        return 0
    return min(_fenceposts(d)[1], replicas_of(d))


# -- revisions ---------------------------------------------------------------------------------------
def revision_of(obj: dict[str, Any] | None) -> int:
    if obj is None:
        return 0
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def set_new_rs_annotations(d: dict[str, Any], rs: dict[str, Any], new_revision: int, exists: bool) -> bool:
    """`SetNewReplicaSetAnnotations`: copy deployment annotations, bump the revision, keep history."""
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in ((d["metadata"].get("annotations") or {}).items()):
        if k in _SKIP_COPY or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    old_text = ann.get(REVISION)
    try:
        old_rev = int(old_text) if old_text else 0
    except ValueError:
        return changed
    if old_rev < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old_text is not None:
            history = ann.get(REVISION_HISTORY, "")
            parts = history.split(",") if history else []
            parts.append(old_text)
            while len(",".join(parts)) > REV_HISTORY_LIMIT_CHARS and len(parts) > 1:
                parts.pop(0)
            ann[REVISION_HISTORY] = ",".join(parts)
    if not exists and set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)):
        changed = True
    return changed


def set_replicas_annotations(rs: dict[str, Any], desired: int, max_replicas: int) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(k) != v:
            ann[k] = v
            changed = True
    return changed


def desired_annotation(rs: dict[str, Any]) -> int | None:
    v = ((rs.get("metadata") or {}).get("annotations") or {}).get(DESIRED_REPLICAS)
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def new_rs_object(d: dict[str, Any], revision: int) -> dict[str, Any]:
    """The ReplicaSet a deployment's current template asks for (not yet stored)."""
    spec = d["spec"]
    template = copy.deepcopy(spec.get("template") or {})
    h = template_hash(template, (d.get("status") or {}).get("collisionCount"))
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: h}
    sel = copy.deepcopy(spec.get("selector") or {})
    sel["matchLabels"] = {**(sel.get("matchLabels") or {}), HASH_LABEL: h}
    rs: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{d['metadata']['name']}-{h}", "namespace": d["metadata"]["namespace"],
                     "labels": dict(tmeta["labels"]), "annotations": {},
                     "ownerReferences": [owner_reference(d)]},
        "spec": {"replicas": 0, "minReadySeconds": int(spec.get("minReadySeconds") or 0), "selector": sel,
                 "template": template},
    }
    set_new_rs_annotations(d, rs, revision, exists=False)
    return rs


def new_rs_replicas(d: dict[str, Any], all_rss: list[dict[str, Any]], new_rs: dict[str, Any] | None) -> int:
    """`NewRSNewReplicas`: how big the new ReplicaSet may be now (all at once for Recreate)."""
    want = replicas_of(d)
    if not is_rolling(d):
        return want
    cur_new = replicas_of(new_rs) if new_rs is not None else 0
    current = sum_spec(all_rss)
    max_total = want + max_surge(d)
    if current >= max_total:
        return cur_new
    return cur_new + min(max_total - current, want - cur_new)


# -- status ------------------------------------------------------------------------------------------
def sum_spec(rss: list[dict[str, Any]]) -> int:
    return sum(replicas_of(r) for r in rss)


def sum_status(rss: list[dict[str, Any]], field: str) -> int:
    return sum(int((r.get("status") or {}).get(field) or 0) for r in rss)


def is_complete(d: dict[str, Any], st: dict[str, Any]) -> bool:
    """`DeploymentComplete`."""
    want = replicas_of(d)
    return (st.get("updatedReplicas", 0) == want and st.get("replicas", 0) == want
            and st.get("availableReplicas", 0) == want
            and st.get("observedGeneration", 0) >= d["metadata"].get("generation", 1))


def is_progressing(d: dict[str, Any], st: dict[str, Any]) -> bool:
    """`DeploymentProgressing`: more updated/ready/available pods, or fewer old ones, than last seen."""
    old = d.get("status") or {}

    def g(s: dict[str, Any], k: str) -> int:
        return int(s.get(k) or 0)

    return (g(st, "updatedReplicas") > g(old, "updatedReplicas")
            or g(st, "replicas") - g(st, "updatedReplicas") < g(old, "replicas") - g(old, "updatedReplicas")
            or g(st, "readyReplicas") > g(old, "readyReplicas")
            or g(st, "availableReplicas") > g(old, "availableReplicas"))


def deadline_left(d: dict[str, Any], st: dict[str, Any], now: datetime) -> float | None:
    """Sim seconds until the Progressing condition times out (<= 0: timed out; None: no deadline)."""
    deadline = d["spec"].get("progressDeadlineSeconds", 600)
    if deadline is None:
        return None
    cond = next((c for c in st.get("conditions") or () if c.get("type") == "Progressing"), None)
    if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
        return None
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return 0.0
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    return int(deadline) - (now - since).total_seconds()

"""What an analyzer is, and what it may read: the `Snapshot`.

An analyzer is a plain function `Snapshot -> list[Finding]` plus a declaration (`Analyzer`): its
K8sGPT name (also its filter name and `Finding.analyzer`), the `Result.kind` it reports, and the
resources it reads. The runner lists each declared resource once per run and shares the lists between
analyzers, so ten analyzers that all look at pods cost one paginated pod list.

Analyzers read raw dicts only through `objects` accessors and must never raise on odd shapes: a
missing status, a `null` list, a string where a number belongs. They never call the API directly -
what is not in a shared list (a Secret's existence, an object outside the namespace in scope) they ask
the snapshot for, which caches it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prophet_sre.domain import Finding, FindingSource, ResourceRef, Severity
from prophet_sre.tools.kube import kinds
from prophet_sre.tools.kube import objects as o

Obj = dict[str, Any]
MAX_OWNER_DEPTH = 5


class Snapshot(Protocol):
    """The cluster as one analysis run sees it."""

    cluster: str
    namespace: str | None
    """The namespace in scope (None: all namespaces); cluster-scoped kinds are always listed whole."""

    def objects(self, resource: str) -> list[Obj]:
        """Every object of a resource (plural, e.g. `pods`) in scope, listed once per run."""
        ...

    def find(self, resource: str, namespace: str, name: str) -> Obj | None:
        """One object, from the shared lists when in scope, else read once and cached; None if absent."""
        ...

    def select(self, resource: str, namespace: str, selector: dict[str, str]) -> list[Obj]:
        """Objects in `namespace` whose labels match an equality selector (e.g. a Service's pods)."""
        ...

    def warning_events(self, kind: str, namespace: str, name: str) -> list[Obj]:
        """Non-Normal events about one object, newest first (empty if events are unreadable)."""
        ...

    def logs(self, namespace: str, pod: str, container: str, *, tail: int, previous: bool) -> str:
        """A container's log tail; raises ToolError when it cannot be read."""
        ...


@dataclass(frozen=True)
class Analyzer:
    """One analyzer: a K8sGPT-compatible name, the kind it reports, what it reads, and the function."""

    name: str
    """K8sGPT's analyzer (and filter) name, e.g. `Pod`, `PersistentVolumeClaim`."""
    kind: str
    """`Result.kind` in K8sGPT's output (usually the same as `name`)."""
    run: Callable[[Snapshot], list[Finding]]
    needs: tuple[str, ...]
    """Resources listed for it (plural names from `kinds.BUILTIN`); events and logs are fetched lazily."""
    core: bool = True
    """Runs when no filter is given (K8sGPT's core analyzers); the others are opt-in through filters."""


def owner_chain(snap: Snapshot, obj: Obj) -> list[ResourceRef]:
    """Controllers above `obj`, nearest first, followed through ownerReferences.

    Owners the snapshot can read (ReplicaSet, Deployment, Job ...) are followed further up; an owner of a
    kind it cannot read (a CRD) still ends the chain with its own name.
    """
    chain: list[ResourceRef] = []
    cur, ns = obj, o.namespace(obj)
    for _ in range(MAX_OWNER_DEPTH):
        refs = o.owners(cur)
        if not refs:
            break
        kind, name = o.text(refs[0].get("kind")), o.text(refs[0].get("name"))
        rk = kinds.by_kind(o.text(refs[0].get("apiVersion")), kind)
        chain.append(ResourceRef(cluster=snap.cluster, kind=kind, namespace=ns if rk is None or rk.namespaced else "",
                                 name=name))
        nxt = snap.find(rk.resource, ns if rk.namespaced else "", name) if rk is not None else None
        if nxt is None:
            break
        cur = nxt
    return chain


def finding(snap: Snapshot, analyzer: str, kind: str, obj: Obj, errors: Sequence[str], *,
            severity: Severity = Severity.ERROR, evidence: dict[str, Any] | None = None,
            name: str | None = None, namespaced: bool = True) -> Finding:
    """A Finding about `obj`, its parent being the top of its owner chain."""
    chain = owner_chain(snap, obj)
    ref = ResourceRef(cluster=snap.cluster, kind=kind, namespace=o.namespace(obj) if namespaced else "",
                      name=name if name is not None else o.name(obj))
    return Finding(source=FindingSource.ANALYZER, analyzer=analyzer, ref=ref, errors=list(errors),
                   severity=severity, evidence=evidence or {}, parent=chain[-1] if chain else None)


def latest_warning(snap: Snapshot, kind: str, obj: Obj) -> Obj | None:
    """The newest non-Normal event about `obj` (K8sGPT looks at the newest event of the object)."""
    found = snap.warning_events(kind, o.namespace(obj), o.name(obj))
    return found[0] if found else None


__all__ = ["Analyzer", "Obj", "Snapshot", "finding", "latest_warning", "owner_chain"]

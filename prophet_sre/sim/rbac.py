"""RBAC for the simulated API server: authorization decisions, review resources and impersonation.

Pure logic over plain API dicts; the HTTP layer calls it. Everything observable follows kube-apiserver
(1.33) because kubectl and client-go show these texts verbatim (`Error from server (Forbidden): ...`,
`kubectl auth can-i ... -> no`), so the wording, the rule matching and even the order in which bindings
are visited (it picks the binding named in an "allowed by" reason) match the real authorizer.

The authorizer chain is the real one: members of `system:masters` are allowed by a privileged-group
check *before* RBAC, with an empty reason, exactly as kube-apiserver does; everyone else goes through
ClusterRoleBindings (in list order) and then the RoleBindings of the request's namespace. RBAC never
denies: a request no rule allows gets "no opinion" and is forbidden, and the reason is empty unless a
binding that applies to the user points at a missing role (`RBAC: clusterrole... "x" not found`).

Speed: `authorize` runs on every request. The Authorizer compiles the RBAC objects into an index
(aggregated ClusterRoles resolved, rules pre-parsed into sets) and memoises per-user rule lists and
decisions inside it. Pass `generation`, a callable returning a counter that is bumped whenever any
Role/RoleBinding/ClusterRole/ClusterRoleBinding changes (`RbacGeneration.on_event` does this from
store events); the index is rebuilt only when the counter moves. Without `generation` the index is
rebuilt on every call: always correct, but slow.

The review resources themselves (`auth can-i`, `auth whoami`) are computed in `rbac_review.py`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prophet_sre.sim.rbac_aggregate import (  # noqa: F401 - re-exported API
    aggregate_cluster_role_rules,
    bootstrap_objects,
    selector_matches,
)
from prophet_sre.sim.status import ApiError

RBAC_GROUP = "rbac.authorization.k8s.io"
AUTHN_GROUP = "authentication.k8s.io"
AUTHZ_GROUP = "authorization.k8s.io"
SYSTEM_MASTERS = "system:masters"
ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SA_USER_PREFIX = "system:serviceaccount:"
SA_ALL_GROUP = "system:serviceaccounts"

_MAX_CACHE = 65_536
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# ----------------------------------------------------------------------------------------------------
# value types


class _FrozenExtra(Mapping[str, tuple[str, ...]]):
    """An immutable, hashable `extra` map, so UserInfo can be a dict key (decision cache)."""

    __slots__ = ("_d", "_h")

    def __init__(self, src: Mapping[str, Iterable[str]] | None = None) -> None:
        self._d = {k: tuple(v) for k, v in (src or {}).items()}
        self._h = hash(tuple(sorted(self._d.items())))

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        return self._h

    def __repr__(self) -> str:
        return f"{self._d!r}"


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated (or impersonated) identity, as the authenticator hands it to the authorizer."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(self.groups))
        if not isinstance(self.extra, _FrozenExtra):
            object.__setattr__(self, "extra", _FrozenExtra(self.extra))


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """The identity a service-account token authenticates as (name and the three groups)."""
    return UserInfo(f"{SA_USER_PREFIX}{namespace}:{name}",
                    (SA_ALL_GROUP, f"{SA_ALL_GROUP}:{namespace}", ALL_AUTHENTICATED), uid)


@dataclass(frozen=True, slots=True)
class Attributes:
    """One authorization question, built the way kube-apiserver's request-info filter builds it."""

    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    resource_request: bool = True
    path: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """`allowed`, plus the reason the SubjectAccessReview status and the Forbidden message carry."""

    allowed: bool
    reason: str = ""


class ImpersonationForbidden(ApiError):
    """403: the requester may not impersonate what the Impersonate-* headers ask for."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(403, "Forbidden", message, details)


class ImpersonationError(ApiError):
    """Malformed impersonation headers. The real server answers 500 with a plain-text body."""

    def __init__(self, message: str) -> None:
        super().__init__(500, "InternalError", message)

    def plain_text(self, request_uri: str) -> str:
        """The exact text/plain body kube-apiserver writes (`responsewriters.InternalError`)."""
        return _html_escape(f"Internal Server Error: {_q(request_uri)}: {self.message}")


# ----------------------------------------------------------------------------------------------------
# messages


def _q(s: str) -> str:
    """Go's %q for the plain strings that appear in names and paths."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html_escape(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


def forbidden_message(user: UserInfo, attrs: Attributes, reason: str = "") -> str:
    """The `message` of a 403 Status, word for word (`<group-resource> "<name>" is forbidden: ...`).

    `reason` is the authorizer's reason; kube-apiserver appends it as `: <reason>` when non-empty
    (for RBAC only when a binding points at a missing role), so pass `Decision.reason` through.
    """
    if not attrs.resource_request:
        msg = f"User {_q(user.name)} cannot {attrs.verb} path {_q(attrs.path)}"
    else:
        res = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        where = f"in the namespace {_q(attrs.namespace)}" if attrs.namespace else "at the cluster scope"
        msg = f"User {_q(user.name)} cannot {attrs.verb} resource {_q(res)} in API group {_q(attrs.api_group)} {where}"
    if reason:
        msg = f"{msg}: {reason}"
    if not attrs.resource_request or (not attrs.resource and not attrs.api_group):
        return f"forbidden: {msg}"
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    if attrs.name:
        return f"{qualified} {_q(attrs.name)} is forbidden: {msg}"
    return f"{qualified} is forbidden: {msg}"


def forbidden_details(attrs: Attributes) -> dict[str, Any]:
    """`details` of the 403 Status: name/group/kind(=resource), empty ones omitted as the server does."""
    details: dict[str, Any] = {}
    if attrs.resource_request:
        if attrs.name:
            details["name"] = attrs.name
        if attrs.api_group:
            details["group"] = attrs.api_group
        if attrs.resource:
            details["kind"] = attrs.resource
    return details


def forbidden_error(user: UserInfo, attrs: Attributes, reason: str = "") -> ApiError:
    """The ApiError the server raises when `authorize` says no."""
    return ApiError(403, "Forbidden", forbidden_message(user, attrs, reason), forbidden_details(attrs))


def _aggregate_errors(errors: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message alone, several as `[a, b]`, duplicates dropped."""
    seen = list(dict.fromkeys(errors))
    return seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"


# ----------------------------------------------------------------------------------------------------
# rules, selectors and aggregation


class _Rule:
    """A PolicyRule pre-parsed into sets so matching is a few set look-ups."""

    __slots__ = ("verbs", "groups", "any_resource", "resources", "sub_wild", "names", "any_url", "urls",
                 "url_prefixes", "raw")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        verbs = raw.get("verbs") or ()
        groups = raw.get("apiGroups") or ()
        res = raw.get("resources") or ()
        urls = raw.get("nonResourceURLs") or ()
        self.verbs = None if "*" in verbs else frozenset(verbs)
        self.groups = None if "*" in groups else frozenset(groups)
        self.any_resource = "*" in res
        self.resources = frozenset(res)
        self.sub_wild = frozenset(r[2:] for r in res if r.startswith("*/"))
        self.names = frozenset(raw.get("resourceNames") or ())
        self.any_url = "*" in urls
        self.urls = frozenset(urls)
        self.url_prefixes = tuple(u.rstrip("*") for u in urls if u.endswith("*"))
        self.raw = raw

    def allows(self, a: Attributes) -> bool:
        # A requested verb of "*" only matches a rule verb of "*", as in RBAC's VerbMatches.
        if self.verbs is not None and a.verb not in self.verbs:
            return False
        if not a.resource_request:
            return self.any_url or a.path in self.urls or any(a.path.startswith(p) for p in self.url_prefixes)
        if self.groups is not None and a.api_group not in self.groups:
            return False
        if not self.any_resource:
            if a.subresource:
                if f"{a.resource}/{a.subresource}" not in self.resources and a.subresource not in self.sub_wild:
                    return False
            elif a.resource not in self.resources:
                return False
        # Empty resourceNames allow any name; otherwise the request needs one of them, so list,
        # watch, deletecollection and create-without-name (name "") never match.
        return not self.names or a.name in self.names


# ----------------------------------------------------------------------------------------------------
# the authorizer


@dataclass(slots=True)
class _Binding:
    name: str
    namespace: str
    role_kind: str
    role_name: str
    subjects: list[Mapping[str, Any]]


class _Index:
    """Compiled RBAC state for one generation, plus the memo tables that die with it."""

    __slots__ = ("generation", "cluster_roles", "roles", "crbs", "rbs", "entries", "decisions")

    def __init__(self, generation: int | None, list_objects: Callable[[str, str], Iterable[dict]]) -> None:
        self.generation = generation
        crs = list(list_objects(RBAC_GROUP, "clusterroles"))
        agg = aggregate_cluster_role_rules(crs)
        self.cluster_roles: dict[str, tuple[_Rule, ...]] = {}
        for cr in crs:
            name = (cr.get("metadata") or {}).get("name", "")
            self.cluster_roles[name] = tuple(_Rule(r) for r in agg.get(name, cr.get("rules") or ()))
        self.roles: dict[tuple[str, str], tuple[_Rule, ...]] = {}
        for role in list_objects(RBAC_GROUP, "roles"):
            meta = role.get("metadata") or {}
            self.roles[(meta.get("namespace", ""), meta.get("name", ""))] = tuple(
                _Rule(r) for r in role.get("rules") or ())
        self.crbs = [_binding(b) for b in list_objects(RBAC_GROUP, "clusterrolebindings")]
        self.rbs: dict[str, list[_Binding]] = {}
        for b in list_objects(RBAC_GROUP, "rolebindings"):
            rb = _binding(b)
            self.rbs.setdefault(rb.namespace, []).append(rb)
        self.entries: dict[tuple[str, tuple[str, ...], str | None], _Entries] = {}
        self.decisions: dict[tuple[str, tuple[str, ...], Attributes], Decision] = {}

    def role_rules(self, b: _Binding) -> tuple[_Rule, ...] | str:
        """The rules a binding grants, or the error text the real resolver reports."""
        if b.role_kind == "ClusterRole":
            rules = self.cluster_roles.get(b.role_name)
            return rules if rules is not None else f'clusterrole.rbac.authorization.k8s.io {_q(b.role_name)} not found'
        if b.role_kind == "Role":
            rules = self.roles.get((b.namespace, b.role_name))
            return rules if rules is not None else f'role.rbac.authorization.k8s.io {_q(b.role_name)} not found'
        return f"unsupported role reference kind: {_q(b.role_kind)}"


_Entries = tuple[tuple[tuple[str, _Rule], ...], tuple[str, ...]]
"""((source description, rule) in visiting order, resolution errors)."""


def _binding(obj: Mapping[str, Any]) -> _Binding:
    meta, ref = obj.get("metadata") or {}, obj.get("roleRef") or {}
    return _Binding(meta.get("name", ""), meta.get("namespace", "") or "", ref.get("kind", ""),
                    ref.get("name", ""), list(obj.get("subjects") or ()))


def _describe_subject(s: Mapping[str, Any], binding_ns: str) -> str:
    kind, name = s.get("kind", ""), s.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} {_q(name + "/" + (s.get("namespace") or binding_ns))}'
    return f"{kind} {_q(name)}"


def _applies(user: UserInfo, groups: frozenset[str], subjects: list[Mapping[str, Any]], ns: str) -> int:
    """Index of the first subject naming the user (RBAC's appliesTo), or -1."""
    for i, s in enumerate(subjects):
        kind, name = s.get("kind"), s.get("name", "")
        if kind == "User" and user.name == name:
            return i
        if kind == "Group" and name in groups:
            return i
        if kind == "ServiceAccount":
            sa_ns = s.get("namespace") or ns
            if sa_ns and user.name == f"{SA_USER_PREFIX}{sa_ns}:{name}":
                return i
    return -1


class Authorizer:
    """kube-apiserver's authorizer chain (privileged groups, then RBAC) over the stored RBAC objects.

    `list_objects(group, plural)` returns the current objects; `generation()` returns a counter bumped
    on every RBAC change (see the module docstring). `privileged_groups` are allowed everything with an
    empty reason before RBAC runs, as the real server does for `system:masters`; pass `()` to send them
    through the `cluster-admin` binding instead (same outcome, with an `RBAC: allowed by ...` reason).
    """

    def __init__(self, list_objects: Callable[[str, str], Iterable[dict]],
                 generation: Callable[[], int] | None = None,
                 privileged_groups: Iterable[str] = (SYSTEM_MASTERS,)) -> None:
        self._list = list_objects
        self._generation = generation
        self._privileged = frozenset(privileged_groups)
        self._lock = threading.Lock()
        self._idx: _Index | None = None

    def invalidate(self) -> None:
        """Drop the compiled index now (for callers that change RBAC without bumping the generation)."""
        self._idx = None

    def _index(self) -> _Index:
        if self._generation is None:
            return _Index(None, self._list)
        gen = self._generation()
        idx = self._idx
        if idx is not None and idx.generation == gen:
            return idx
        with self._lock:
            idx = self._idx
            if idx is None or idx.generation != gen:
                idx = self._idx = _Index(gen, self._list)
            return idx

    def _entries(self, idx: _Index, user: UserInfo, namespace: str | None) -> _Entries:
        """Rules granted to `user` cluster-wide (namespace None) or by the RoleBindings of `namespace`."""
        key = (user.name, user.groups, namespace)
        got = idx.entries.get(key)
        if got is not None:
            return got
        groups = frozenset(user.groups)
        out: list[tuple[str, _Rule]] = []
        errors: list[str] = []
        bindings = idx.crbs if namespace is None else idx.rbs.get(namespace, ())
        for b in bindings:
            i = _applies(user, groups, b.subjects, "" if namespace is None else namespace)
            if i < 0:
                continue
            rules = idx.role_rules(b)
            if isinstance(rules, str):
                errors.append(rules)
                continue
            if namespace is None:
                src = (f"ClusterRoleBinding {_q(b.name)} of {b.role_kind} {_q(b.role_name)} "
                       f"to {_describe_subject(b.subjects[i], '')}")
            else:
                src = (f"RoleBinding {_q(b.name + '/' + b.namespace)} of {b.role_kind} {_q(b.role_name)} "
                       f"to {_describe_subject(b.subjects[i], b.namespace)}")
            out.extend((src, r) for r in rules)
        got = (tuple(out), tuple(errors))
        if len(idx.entries) >= _MAX_CACHE:
            idx.entries.clear()
        idx.entries[key] = got
        return got

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        """Allowed, with the reason the real server gives; or not, with an empty or `RBAC: <errors>` reason."""
        if self._privileged and not self._privileged.isdisjoint(user.groups):
            return _PRIVILEGED
        idx = self._index()
        key = (user.name, user.groups, attrs)
        decision = idx.decisions.get(key)
        if decision is not None:
            return decision
        errors: list[str] = []
        decision = None
        for ns in (None, attrs.namespace) if attrs.namespace else (None,):
            entries, errs = self._entries(idx, user, ns)
            for src, rule in entries:
                if rule.allows(attrs):
                    decision = Decision(True, f"RBAC: allowed by {src}")
                    break
            if decision is not None:
                break
            errors.extend(errs)
        if decision is None:
            decision = Decision(False, f"RBAC: {_aggregate_errors(errors)}" if errors else "")
        if len(idx.decisions) >= _MAX_CACHE:
            idx.decisions.clear()
        idx.decisions[key] = decision
        return decision

    def _rules(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[dict], list[str]]:
        idx = self._index()
        resource_rules: list[dict] = []
        non_resource_rules: list[dict] = []
        errors: list[str] = []
        for ns in (None, namespace) if namespace else (None,):
            entries, errs = self._entries(idx, user, ns)
            errors.extend(errs)
            for _, rule in entries:
                raw = rule.raw
                if raw.get("resources"):
                    rr: dict[str, Any] = {"verbs": list(raw.get("verbs") or [])}
                    for k in ("apiGroups", "resources", "resourceNames"):
                        if raw.get(k):
                            rr[k] = list(raw[k])
                    resource_rules.append(rr)
                if raw.get("nonResourceURLs"):
                    non_resource_rules.append({"verbs": list(raw.get("verbs") or []),
                                               "nonResourceURLs": list(raw["nonResourceURLs"])})
        return resource_rules, non_resource_rules, errors

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[dict], bool]:
        """(resourceRules, nonResourceRules, incomplete) as a SelfSubjectRulesReview status lists them.

        Like the real server, privileged groups contribute no rules of their own (a `system:masters`
        user sees the `cluster-admin` rules through its binding), and RBAC never reports incomplete.
        """
        res, non_res, _ = self._rules(user, namespace)
        return res, non_res, False


_PRIVILEGED = Decision(True, "")


class RbacGeneration:
    """A counter for `Authorizer(generation=...)`: subscribe `on_event` to the store, pass the object."""

    __slots__ = ("_n",)

    def __init__(self) -> None:
        self._n = 0

    def __call__(self) -> int:
        return self._n

    def bump(self) -> None:
        self._n += 1

    def on_event(self, event: Any) -> None:
        """Store listener: bump on any write to a `rbac.authorization.k8s.io` object."""
        key = getattr(event, "storage_key", ("", ""))
        if key and key[0] == RBAC_GROUP:
            self._n += 1


# ----------------------------------------------------------------------------------------------------
# impersonation


def _split_sa_username(name: str) -> tuple[str, str] | None:
    """serviceaccount.SplitUsername: `system:serviceaccount:<ns>:<name>` with valid names, else None."""
    if not name.startswith(SA_USER_PREFIX):
        return None
    parts = name[len(SA_USER_PREFIX):].split(":")
    if len(parts) != 2:
        return None
    ns, sa = parts
    if len(ns) > 63 or not _DNS_LABEL.match(ns) or len(sa) > 253 or not _DNS_SUBDOMAIN.match(sa):
        return None
    return ns, sa


def _unescape_extra_key(key: str) -> str:
    """url.PathUnescape, keeping the key as it was when an escape is malformed (as the server does)."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", key):
        return key
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), key)


def _go_objref(kind: str, namespace: str = "", name: str = "", api_version: str = "", field_path: str = "") -> str:
    """fmt %v of a v1.ObjectReference (Kind Namespace Name UID APIVersion ResourceVersion FieldPath)."""
    return "{" + " ".join((kind, namespace, name, "", api_version, "", field_path)) + "}"


def impersonate(requester: UserInfo, headers: Mapping[str, list[str]], authorizer: Authorizer) -> UserInfo:
    """Apply Impersonate-* headers: check each with verb `impersonate`, return the user to act as.

    Returns `requester` unchanged when there are no impersonation headers. Raises
    ImpersonationForbidden (403) on the first request the requester may not make, and
    ImpersonationError (500, the real server's status for it) for groups/uid/extra without a user.
    """
    lowered: dict[str, list[str]] = {}
    extra_headers: list[tuple[str, list[str]]] = []
    for k, v in headers.items():
        vals = [v] if isinstance(v, str) else list(v)
        lk = k.lower()
        lowered.setdefault(lk, []).extend(vals)
        if lk.startswith("impersonate-extra-"):
            extra_headers.append((_unescape_extra_key(lk[len("impersonate-extra-"):]), vals))
    user_hdr = (lowered.get("impersonate-user") or [""])[0]
    group_hdr = lowered.get("impersonate-group") or []
    uid_hdr = (lowered.get("impersonate-uid") or [""])[0]

    # (attributes to check, go-%v text of the request) in the order the real filter builds them
    checks: list[tuple[Attributes, str]] = []
    sa = _split_sa_username(user_hdr) if user_hdr else None
    if sa:
        checks.append((Attributes("impersonate", "", "serviceaccounts", namespace=sa[0], name=sa[1]),
                       _go_objref("ServiceAccount", sa[0], sa[1])))
    elif user_hdr:
        checks.append((Attributes("impersonate", "", "users", name=user_hdr), _go_objref("User", name=user_hdr)))
    for g in group_hdr:
        checks.append((Attributes("impersonate", "", "groups", name=g), _go_objref("Group", name=g)))
    extra: dict[str, list[str]] = {}
    for key, vals in extra_headers:
        for v in vals:
            checks.append((Attributes("impersonate", AUTHN_GROUP, "userextras", key, name=v),
                           _go_objref("UserExtra", name=v, api_version=f"{AUTHN_GROUP}/v1", field_path=key)))
            extra.setdefault(key, []).append(v)
    if uid_hdr:
        checks.append((Attributes("impersonate", AUTHN_GROUP, "uids", name=uid_hdr),
                       _go_objref("UID", name=uid_hdr, api_version=f"{AUTHN_GROUP}/v1")))
    if not checks:
        return requester
    if not user_hdr:
        raise ImpersonationError(f"requested [{' '.join(text for _, text in checks)}] without impersonating a user")

    for attrs, _ in checks:
        decision = authorizer.authorize(requester, attrs)
        if not decision.allowed:
            raise ImpersonationForbidden(forbidden_message(requester, attrs, decision.reason),
                                         forbidden_details(attrs))

    groups = list(group_hdr)
    if sa and not group_hdr:
        groups = [SA_ALL_GROUP, f"{SA_ALL_GROUP}:{sa[0]}"]
    if user_hdr != ANONYMOUS:
        if ALL_AUTHENTICATED not in groups and ALL_UNAUTHENTICATED not in groups:
            groups.append(ALL_AUTHENTICATED)
    elif ALL_UNAUTHENTICATED not in groups:
        groups.append(ALL_UNAUTHENTICATED)
    return UserInfo(user_hdr, tuple(groups), uid_hdr, {k: tuple(v) for k, v in extra.items()})

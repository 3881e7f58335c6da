"""ClusterRole aggregation and the default RBAC objects of a fresh cluster.

Split from `rbac.py`: aggregation (a ClusterRole with `aggregationRule` collects the rules of every
ClusterRole whose labels match) is used both to build the bootstrap roles and by the authorizer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prophet_sre.sim import rbac_bootstrap


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: empty selector matches everything, None matches nothing."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or ()
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def _rule_key(rule: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(rule.get(k) or ()) for k in ("verbs", "apiGroups", "resources", "resourceNames",
                                                     "nonResourceURLs"))


def aggregate_cluster_role_rules(cluster_roles: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rules of every ClusterRole with an `aggregationRule`, as the aggregation controller writes them.

    Per selector, the matching ClusterRoles (itself excluded) sorted by name contribute their rules,
    duplicates dropped. An aggregated role's own `rules` are replaced, not merged. Chains (`view` is
    aggregated into `edit`, `edit` into `admin`) resolve to the fixed point; a cycle falls back to the
    stored rules of the role that closes it.
    """
    by_name = {(r.get("metadata") or {}).get("name", ""): r for r in cluster_roles}
    ordered = sorted(by_name)
    done: dict[str, list[dict[str, Any]]] = {}
    active: set[str] = set()

    def resolve(name: str) -> list[dict[str, Any]]:
        role = by_name[name]
        agg = role.get("aggregationRule")
        if agg is None or name in active:
            return list(role.get("rules") or [])
        if name in done:
            return done[name]
        active.add(name)
        rules: list[dict[str, Any]] = []
        seen: set[tuple[tuple[str, ...], ...]] = set()
        for sel in agg.get("clusterRoleSelectors") or ():
            for other in ordered:
                labels = (by_name[other].get("metadata") or {}).get("labels") or {}
                if other == name or not selector_matches(sel, labels):
                    continue
                for rule in resolve(other):
                    if (key := _rule_key(rule)) not in seen:
                        seen.add(key)
                        rules.append(rule)
        active.discard(name)
        done[name] = rules
        return rules

    return {n: resolve(n) for n in ordered if by_name[n].get("aggregationRule") is not None}


def bootstrap_objects() -> list[dict[str, Any]]:
    """Fresh copies of the default ClusterRoles and ClusterRoleBindings of a new cluster.

    Aggregated roles come with their rules already filled in, as a live cluster shows them.
    """
    roles = rbac_bootstrap.cluster_roles()
    agg = aggregate_cluster_role_rules(roles)
    for role in roles:
        if role["metadata"]["name"] in agg:
            role["rules"] = [dict(r) for r in agg[role["metadata"]["name"]]]
    return roles + rbac_bootstrap.cluster_role_bindings()

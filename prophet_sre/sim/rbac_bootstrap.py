"""The default RBAC objects a fresh kube-apiserver (1.33) creates, as plain API dicts.

Kept apart from `rbac.py` because it is data, not logic. The rule sets follow the real bootstrap
policy (`kubectl get clusterrole view -o yaml` on a new cluster), because `kubectl auth can-i`,
`kubectl describe clusterrole` and tools that read the policy compare against exactly these.

The aggregated roles (`admin`, `edit`, `view`) are defined here with their `aggregationRule` and no
rules; `rbac.bootstrap_objects()` fills `rules` in the way the clusterrole-aggregation controller does.
Only the roles a user-facing cluster needs are here: the controller and node roles
(`system:controller:*`, `system:node`, `system:kube-scheduler`, ...) are left out because nothing in
the simulator authenticates as those components.
"""

from __future__ import annotations

from typing import Any

RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE_ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
AGGREGATE_TO_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
AGGREGATE_TO_EDIT = "rbac.authorization.k8s.io/aggregate-to-edit"
AGGREGATE_TO_VIEW = "rbac.authorization.k8s.io/aggregate-to-view"

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
READ_WRITE = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _r(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _urls(urls: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"nonResourceURLs": urls, "verbs": verbs}


def _meta(name: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "labels": {**BOOTSTRAP_LABELS, **(extra_labels or {})},
            "annotations": dict(AUTOUPDATE_ANNOTATIONS)}


def _cluster_role(name: str, rules: list[dict[str, Any]] | None, *, labels: dict[str, str] | None = None,
                  aggregate_label: str = "") -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole", "metadata": _meta(name, labels)}
    obj["rules"] = rules if rules is not None else []
    if aggregate_label:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {aggregate_label: "true"}}]}
    return obj


def _binding(name: str, role: str, subjects: list[tuple[str, str]]) -> dict[str, Any]:
    return {"apiVersion": RBAC_API_VERSION, "kind": "ClusterRoleBinding", "metadata": _meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": k, "name": n} for k, n in subjects]}


def _aggregate_to_view() -> list[dict[str, Any]]:
    return [
        _r([""], ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
                  "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                  "services/status"], READ),
        _r([""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
                  "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"], READ),
        _r([""], ["namespaces"], READ),
        _r(["discovery.k8s.io"], ["endpointslices"], READ),
        _r(["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                      "deployments/status", "replicasets", "replicasets/scale", "replicasets/status",
                      "statefulsets", "statefulsets/scale", "statefulsets/status"], READ),
        _r(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
        _r(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
        _r(["extensions"], ["daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                            "deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets",
                            "replicasets/scale", "replicasets/status", "replicationcontrollers/scale"], READ),
        _r(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
        _r(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], READ),
    ]


def _aggregate_to_edit() -> list[dict[str, Any]]:
    return [
        _r([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"], READ),
        _r([""], ["serviceaccounts"], ["impersonate"]),
        _r([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
        _r([""], ["pods/eviction"], ["create"]),
        _r([""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                  "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"], WRITE),
        _r([""], ["serviceaccounts/token"], ["create"]),
        _r(["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                      "replicasets/scale", "statefulsets", "statefulsets/scale"], WRITE),
        _r(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
        _r(["batch"], ["cronjobs", "jobs"], WRITE),
        _r(["extensions"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses",
                            "networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"],
           WRITE),
        _r(["policy"], ["poddisruptionbudgets"], WRITE),
        _r(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE),
        _r(["coordination.k8s.io"], ["leases"], READ_WRITE),
    ]


def _aggregate_to_admin() -> list[dict[str, Any]]:
    return [
        _r(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
        _r(["rbac.authorization.k8s.io"], ["rolebindings", "roles"], READ_WRITE),
    ]


def cluster_roles() -> list[dict[str, Any]]:
    """The default ClusterRoles, sorted by name as `kubectl get clusterroles` lists them."""
    return [
        _cluster_role("admin", None, aggregate_label=AGGREGATE_TO_ADMIN),
        _cluster_role("cluster-admin", [_r(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _cluster_role("edit", None, labels={AGGREGATE_TO_ADMIN: "true"}, aggregate_label=AGGREGATE_TO_EDIT),
        _cluster_role("system:aggregate-to-admin", _aggregate_to_admin(), labels={AGGREGATE_TO_ADMIN: "true"}),
        _cluster_role("system:aggregate-to-edit", _aggregate_to_edit(), labels={AGGREGATE_TO_EDIT: "true"}),
        _cluster_role("system:aggregate-to-view", _aggregate_to_view(), labels={AGGREGATE_TO_VIEW: "true"}),
        _cluster_role("system:auth-delegator", [_r(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
                                                _r(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"])]),
        _cluster_role("system:basic-user", [
            _r(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], ["create"]),
            _r(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"])]),
        _cluster_role("system:discovery", [_urls(["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                                  "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                                                 ["get"])]),
        _cluster_role("system:monitoring", [_urls(["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics",
                                                   "/metrics/slis", "/readyz", "/readyz/*"], ["get"])]),
        _cluster_role("system:public-info-viewer", [_urls(["/healthz", "/livez", "/readyz", "/version",
                                                           "/version/"], ["get"])]),
        _cluster_role("system:service-account-issuer-discovery",
                      [_urls(["/.well-known/openid-configuration", "/openid/v1/jwks"], ["get"])]),
        _cluster_role("view", None, labels={AGGREGATE_TO_EDIT: "true"}, aggregate_label=AGGREGATE_TO_VIEW),
    ]


def cluster_role_bindings() -> list[dict[str, Any]]:
    """The default ClusterRoleBindings, sorted by name."""
    return [
        _binding("cluster-admin", "cluster-admin", [("Group", "system:masters")]),
        _binding("system:basic-user", "system:basic-user", [("Group", "system:authenticated")]),
        _binding("system:discovery", "system:discovery", [("Group", "system:authenticated")]),
        _binding("system:monitoring", "system:monitoring", [("Group", "system:monitoring")]),
        _binding("system:public-info-viewer", "system:public-info-viewer",
                 [("Group", "system:authenticated"), ("Group", "system:unauthenticated")]),
        _binding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
                 [("Group", "system:serviceaccounts")]),
    ]

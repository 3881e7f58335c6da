"""RBAC evaluation of the simulated API server: decisions, texts, reviews and impersonation.

The expected strings are kube-apiserver's own, because kubectl prints them verbatim.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from prophet_sre.sim.rbac import (
    Attributes,
    Authorizer,
    Decision,
    ImpersonationError,
    ImpersonationForbidden,
    RbacGeneration,
    UserInfo,
    aggregate_cluster_role_rules,
    bootstrap_objects,
    forbidden_error,
    forbidden_message,
    impersonate,
    selector_matches,
    service_account_user,
)
from prophet_sre.sim.rbac_review import decode_review_protobuf, review
from prophet_sre.sim.status import ApiError

RBAC = "rbac.authorization.k8s.io/v1"
ALICE = UserInfo("alice", ("system:authenticated",))
BOB = UserInfo("bob", ("system:authenticated",))
ROOT = UserInfo("kubernetes-admin", ("system:masters", "system:authenticated"))


class FakeRbacStore:
    """The four RBAC lists plus a generation counter, standing in for the sim store."""

    def __init__(self, objects: list[dict] | None = None) -> None:
        self.objects: list[dict] = copy.deepcopy(bootstrap_objects() if objects is None else objects)
        self.generation = RbacGeneration()
        self.list_calls = 0

    def list_objects(self, group: str, plural: str) -> list[dict]:
        assert group == "rbac.authorization.k8s.io"
        self.list_calls += 1
        kind = {"roles": "Role", "rolebindings": "RoleBinding", "clusterroles": "ClusterRole",
                "clusterrolebindings": "ClusterRoleBinding"}[plural]
        return [o for o in self.objects if o["kind"] == kind]

    def add(self, *objs: dict) -> None:
        self.objects.extend(copy.deepcopy(list(objs)))
        self.generation.bump()

    def authorizer(self, **kw) -> Authorizer:
        return Authorizer(self.list_objects, self.generation, **kw)


def role(name: str, ns: str, rules: list[dict]) -> dict:
    return {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name, "namespace": ns}, "rules": rules}


def cluster_role(name: str, rules: list[dict], labels: dict | None = None) -> dict:
    meta: dict = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": meta, "rules": rules}


def binding(name: str, ns: str, role_kind: str, role_name: str, subjects: list[dict]) -> dict:
    kind = "RoleBinding" if ns else "ClusterRoleBinding"
    meta = {"name": name, "namespace": ns} if ns else {"name": name}
    return {"apiVersion": RBAC, "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
            "subjects": subjects}


def user_subject(name: str) -> dict:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> dict:
    r = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        r["resourceNames"] = names
    return r


@pytest.fixture
def store() -> FakeRbacStore:
    return FakeRbacStore()


# ---------------------------------------------------------------------------------------------- masters


def test_system_masters_is_allowed_everything_with_the_privileged_empty_reason(store: FakeRbacStore) -> None:
    authz = store.authorizer()
    for attrs in (Attributes("delete", "apps", "deployments", namespace="x", name="y"),
                  Attributes("escalate", "rbac.authorization.k8s.io", "clusterroles"),
                  Attributes("post", resource_request=False, path="/anything")):
        assert authz.authorize(ROOT, attrs) == Decision(True, "")


def test_system_masters_through_the_cluster_admin_binding_names_it(store: FakeRbacStore) -> None:
    authz = store.authorizer(privileged_groups=())
    d = authz.authorize(ROOT, Attributes("delete", "", "nodes", name="n1"))
    assert d == Decision(True, 'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" '
                               'to Group "system:masters"')
    # Without the binding, the group is nothing special to RBAC.
    store.objects = [o for o in store.objects if o["metadata"]["name"] != "cluster-admin"]
    store.generation.bump()
    assert not authz.authorize(ROOT, Attributes("delete", "", "nodes", name="n1")).allowed


# ---------------------------------------------------------------------------------------------- roles


@pytest.fixture
def pod_reader(store: FakeRbacStore) -> Authorizer:
    store.add(role("pod-reader", "shop", [rule([""], ["pods"], ["get", "list"])]),
              binding("read-pods", "shop", "Role", "pod-reader", [user_subject("alice")]))
    return store.authorizer()


def test_role_binding_allows_exactly_its_rules_in_its_namespace(pod_reader: Authorizer) -> None:
    for verb in ("get", "list"):
        d = pod_reader.authorize(ALICE, Attributes(verb, "", "pods", namespace="shop"))
        assert d == Decision(True, 'RBAC: allowed by RoleBinding "read-pods/shop" of Role "pod-reader" to User "alice"')
    assert not pod_reader.authorize(ALICE, Attributes("list", "", "pods", namespace="default")).allowed
    assert not pod_reader.authorize(ALICE, Attributes("delete", "", "pods", namespace="shop", name="p")).allowed
    assert not pod_reader.authorize(ALICE, Attributes("list", "", "pods")).allowed  # all namespaces
    assert not pod_reader.authorize(ALICE, Attributes("list", "", "services", namespace="shop")).allowed
    assert not pod_reader.authorize(ALICE, Attributes("list", "apps", "pods", namespace="shop")).allowed
    assert not pod_reader.authorize(BOB, Attributes("list", "", "pods", namespace="shop")).allowed


def test_denial_has_the_exact_forbidden_text(pod_reader: Authorizer) -> None:
    attrs = Attributes("list", "", "pods", namespace="default")
    d = pod_reader.authorize(ALICE, attrs)
    assert d == Decision(False, "")
    assert forbidden_message(ALICE, attrs, d.reason) == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"')
    err = forbidden_error(ALICE, attrs, d.reason)
    assert (err.code, err.reason) == (403, "Forbidden")
    assert err.status()["details"] == {"kind": "pods"}


@pytest.mark.parametrize(("attrs", "text"), [
    (Attributes("patch", "apps", "deployments", namespace="shop", name="web"),
     'deployments.apps "web" is forbidden: User "alice" cannot patch resource "deployments" in API group "apps" '
     'in the namespace "shop"'),
    (Attributes("list", "", "nodes"),
     'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope'),
    (Attributes("create", "", "pods", "eviction", namespace="x", name="p1"),
     'pods "p1" is forbidden: User "alice" cannot create resource "pods/eviction" in API group "" '
     'in the namespace "x"'),
    (Attributes("get", resource_request=False, path="/metrics"),
     'forbidden: User "alice" cannot get path "/metrics"'),
])
def test_forbidden_message_shapes(attrs: Attributes, text: str) -> None:
    assert forbidden_message(ALICE, attrs) == text


def test_forbidden_details_omit_empty_fields() -> None:
    assert forbidden_error(ALICE, Attributes("patch", "apps", "deployments", namespace="s", name="web")).details == {
        "name": "web", "group": "apps", "kind": "deployments"}
    assert forbidden_error(ALICE, Attributes("get", resource_request=False, path="/metrics")).details == {}


def test_cluster_role_through_role_binding_is_namespace_scoped(store: FakeRbacStore) -> None:
    store.add(cluster_role("secret-reader", [rule([""], ["secrets"], ["get", "list"])]),
              binding("read-secrets", "dev", "ClusterRole", "secret-reader", [user_subject("alice")]))
    authz = store.authorizer()
    assert authz.authorize(ALICE, Attributes("get", "", "secrets", namespace="dev", name="s")) == Decision(
        True, 'RBAC: allowed by RoleBinding "read-secrets/dev" of ClusterRole "secret-reader" to User "alice"')
    assert not authz.authorize(ALICE, Attributes("get", "", "secrets", namespace="prod", name="s")).allowed
    assert not authz.authorize(ALICE, Attributes("list", "", "secrets")).allowed


def test_cluster_role_binding_is_cluster_wide(store: FakeRbacStore) -> None:
    store.add(cluster_role("node-reader", [rule([""], ["nodes"], ["get", "list", "watch"])]),
              binding("read-nodes", "", "ClusterRole", "node-reader", [user_subject("alice")]))
    authz = store.authorizer()
    assert authz.authorize(ALICE, Attributes("list", "", "nodes")).reason == (
        'RBAC: allowed by ClusterRoleBinding "read-nodes" of ClusterRole "node-reader" to User "alice"')
    assert not authz.authorize(ALICE, Attributes("delete", "", "nodes", name="n1")).allowed


def test_resource_names_only_match_requests_that_carry_the_name(store: FakeRbacStore) -> None:
    store.add(role("cm", "app", [rule([""], ["configmaps"], ["get", "list", "watch", "create", "delete",
                                                            "deletecollection"], names=["settings"])]),
              binding("cm", "app", "Role", "cm", [user_subject("alice")]))
    authz = store.authorizer()
    assert authz.authorize(ALICE, Attributes("get", "", "configmaps", namespace="app", name="settings")).allowed
    assert authz.authorize(ALICE, Attributes("delete", "", "configmaps", namespace="app", name="settings")).allowed
    assert not authz.authorize(ALICE, Attributes("get", "", "configmaps", namespace="app", name="other")).allowed
    for verb in ("list", "watch", "create", "deletecollection"):
        assert not authz.authorize(ALICE, Attributes(verb, "", "configmaps", namespace="app")).allowed, verb


def test_subresources_need_their_own_rules(store: FakeRbacStore) -> None:
    store.add(role("logs", "app", [rule([""], ["pods/log"], ["get"]),
                                   rule(["apps"], ["deployments/scale"], ["get", "update", "patch"]),
                                   rule([""], ["services"], ["get"])]),
              binding("logs", "app", "Role", "logs", [user_subject("alice")]))
    authz = store.authorizer()
    assert authz.authorize(ALICE, Attributes("get", "", "pods", "log", namespace="app", name="p")).allowed
    assert not authz.authorize(ALICE, Attributes("get", "", "pods", namespace="app", name="p")).allowed
    assert not authz.authorize(ALICE, Attributes("get", "", "pods", "exec", namespace="app", name="p")).allowed
    assert authz.authorize(ALICE, Attributes("patch", "apps", "deployments", "scale", namespace="app", name="w")).allowed
    assert not authz.authorize(ALICE, Attributes("patch", "apps", "deployments", namespace="app", name="w")).allowed
    # A plain resource rule does not cover its subresources.
    assert not authz.authorize(ALICE, Attributes("get", "", "services", "status", namespace="app", name="s")).allowed


def test_wildcards(store: FakeRbacStore) -> None:
    store.add(role("ops", "ops", [rule(["*"], ["*/scale"], ["update"]),
                                  rule(["batch"], ["*"], ["*"])]),
              binding("ops", "ops", "Role", "ops", [user_subject("alice")]),
              cluster_role("health", [{"nonResourceURLs": ["/debug/*", "/metrics"], "verbs": ["get"]}]),
              binding("health", "", "ClusterRole", "health", [user_subject("alice")]))
    authz = store.authorizer()
    ok = [Attributes("update", "apps", "statefulsets", "scale", namespace="ops", name="db"),
          Attributes("update", "", "replicationcontrollers", "scale", namespace="ops", name="rc"),
          Attributes("deletecollection", "batch", "jobs", namespace="ops"),
          Attributes("create", "batch", "cronjobs", "status", namespace="ops", name="c"),
          Attributes("get", resource_request=False, path="/debug/pprof/heap"),
          Attributes("get", resource_request=False, path="/metrics")]
    no = [Attributes("update", "apps", "statefulsets", namespace="ops", name="db"),
          Attributes("update", "apps", "statefulsets", "status", namespace="ops", name="db"),
          Attributes("get", "apps", "deployments", namespace="ops"),
          Attributes("get", resource_request=False, path="/metrics/slis"),
          Attributes("post", resource_request=False, path="/metrics"),
          # `kubectl auth can-i '*' '*'` asks for verb "*": only a "*" rule verb answers it.
          Attributes("*", "", "*", namespace="ops")]
    assert [authz.authorize(ALICE, a).allowed for a in ok] == [True] * len(ok)
    assert [authz.authorize(ALICE, a).allowed for a in no] == [False] * len(no)
    assert authz.authorize(ROOT, Attributes("*", "", "*", namespace="ops")).allowed


def test_missing_role_is_reported_in_the_reason(store: FakeRbacStore) -> None:
    store.add(binding("broken", "shop", "Role", "ghost", [user_subject("alice")]),
              binding("broken2", "", "ClusterRole", "gone", [user_subject("alice")]))
    authz = store.authorizer()
    attrs = Attributes("get", "", "pods", namespace="shop", name="p")
    d = authz.authorize(ALICE, attrs)
    assert d == Decision(False, 'RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, '
                                'role.rbac.authorization.k8s.io "ghost" not found]')
    assert forbidden_message(ALICE, attrs, d.reason).endswith(
        'in the namespace "shop": RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, '
        'role.rbac.authorization.k8s.io "ghost" not found]')
    # Bindings that do not apply to the user contribute no errors.
    assert authz.authorize(BOB, attrs) == Decision(False, "")


# ---------------------------------------------------------------------------------------------- aggregation


def test_view_aggregates_a_new_role_and_the_chain_reaches_edit_and_admin(store: FakeRbacStore) -> None:
    store.add(binding("viewers", "", "ClusterRole", "view", [user_subject("alice")]),
              binding("admins", "", "ClusterRole", "admin", [user_subject("bob")]))
    authz = store.authorizer()
    widgets = Attributes("list", "example.com", "widgets", namespace="a")
    assert authz.authorize(ALICE, Attributes("list", "apps", "deployments", namespace="a")).allowed
    assert not authz.authorize(ALICE, Attributes("get", "", "secrets", namespace="a", name="s")).allowed
    assert not authz.authorize(ALICE, widgets).allowed
    store.add(cluster_role("widget-viewer", [rule(["example.com"], ["widgets"], ["get", "list", "watch"])],
                           {"rbac.authorization.k8s.io/aggregate-to-view": "true"}))
    assert authz.authorize(ALICE, widgets).reason == (
        'RBAC: allowed by ClusterRoleBinding "viewers" of ClusterRole "view" to User "alice"')
    assert authz.authorize(BOB, widgets).allowed  # view -> edit -> admin
    assert authz.authorize(BOB, Attributes("create", "rbac.authorization.k8s.io", "rolebindings", namespace="a"))


def test_aggregated_rules_follow_label_changes(store: FakeRbacStore) -> None:
    store.add(cluster_role("widget-viewer", [rule(["example.com"], ["widgets"], ["get"])],
                           {"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
              binding("viewers", "", "ClusterRole", "view", [user_subject("alice")]))
    authz = store.authorizer()
    attrs = Attributes("get", "example.com", "widgets", namespace="a", name="w")
    assert authz.authorize(ALICE, attrs).allowed
    next(o for o in store.objects if o["metadata"]["name"] == "widget-viewer")["metadata"]["labels"] = {}
    store.generation.bump()
    assert not authz.authorize(ALICE, attrs).allowed


def test_aggregation_order_dedup_and_selectors() -> None:
    roles = [
        {"metadata": {"name": "agg"}, "rules": [rule(["x"], ["ignored"], ["get"])],
         "aggregationRule": {"clusterRoleSelectors": [
             {"matchLabels": {"a": "1"}},
             {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}]}},
        {"metadata": {"name": "z", "labels": {"a": "1"}}, "rules": [rule([""], ["pods"], ["get"])]},
        {"metadata": {"name": "b", "labels": {"a": "1", "tier": "gold"}},
         "rules": [rule([""], ["services"], ["get"]), rule([""], ["pods"], ["get"])]},
        {"metadata": {"name": "c", "labels": {"tier": "gold"}}, "rules": [rule([""], ["secrets"], ["get"])]},
    ]
    got = aggregate_cluster_role_rules(roles)
    assert list(got) == ["agg"]
    assert [r["resources"] for r in got["agg"]] == [["services"], ["pods"], ["secrets"]]


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ({}, {"a": "1"}, True),
    (None, {"a": "1"}, False),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "x"}, False),
])
def test_selector_matches(selector: dict | None, labels: dict, expected: bool) -> None:
    assert selector_matches(selector, labels) is expected


# ---------------------------------------------------------------------------------------------- service accounts


def test_service_account_subjects(store: FakeRbacStore) -> None:
    store.add(role("deployer", "ci", [rule(["apps"], ["deployments"], ["get", "patch"])]),
              binding("deployer", "ci", "Role", "deployer", [{"kind": "ServiceAccount", "name": "builder"}]),
              cluster_role("lister", [rule([""], ["namespaces"], ["list"])]),
              binding("sa-no-ns", "", "ClusterRole", "lister", [{"kind": "ServiceAccount", "name": "builder"}]),
              binding("all-sas", "", "ClusterRole", "lister",
                      [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:serviceaccounts:ci"}]))
    authz = store.authorizer()
    sa = service_account_user("ci", "builder")
    assert sa == UserInfo("system:serviceaccount:ci:builder",
                          ("system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"))
    assert authz.authorize(sa, Attributes("patch", "apps", "deployments", namespace="ci", name="w")).reason == (
        'RBAC: allowed by RoleBinding "deployer/ci" of Role "deployer" to ServiceAccount "builder/ci"')
    assert not authz.authorize(service_account_user("other", "builder"),
                               Attributes("patch", "apps", "deployments", namespace="ci", name="w")).allowed
    # A ClusterRoleBinding subject without a namespace matches no service account; the group one does.
    assert authz.authorize(sa, Attributes("list", "", "namespaces")).reason == (
        'RBAC: allowed by ClusterRoleBinding "all-sas" of ClusterRole "lister" to Group "system:serviceaccounts:ci"')
    assert not authz.authorize(service_account_user("x", "builder"), Attributes("list", "", "namespaces")).allowed


# ---------------------------------------------------------------------------------------------- caching


def test_index_is_rebuilt_only_when_the_generation_moves(store: FakeRbacStore) -> None:
    authz = store.authorizer()
    attrs = Attributes("get", "", "pods", namespace="a", name="p")
    for _ in range(50):
        authz.authorize(ALICE, attrs)
        authz.authorize(BOB, Attributes("list", "", "nodes"))
    assert store.list_calls == 4
    store.add(role("r", "a", [rule([""], ["pods"], ["get"])]),
              binding("r", "a", "Role", "r", [user_subject("alice")]))
    assert authz.authorize(ALICE, attrs).allowed
    assert store.list_calls == 8


def test_without_generation_every_call_sees_the_current_objects(store: FakeRbacStore) -> None:
    authz = Authorizer(store.list_objects)
    attrs = Attributes("get", "", "pods", namespace="a", name="p")
    assert not authz.authorize(ALICE, attrs).allowed
    store.objects += [role("r", "a", [rule([""], ["pods"], ["get"])]),
                      binding("r", "a", "Role", "r", [user_subject("alice")])]
    assert authz.authorize(ALICE, attrs).allowed


def test_rbac_generation_counts_only_rbac_events() -> None:
    gen = RbacGeneration()

    class Ev:
        def __init__(self, key: tuple[str, str]) -> None:
            self.storage_key = key

    gen.on_event(Ev(("", "pods")))
    assert gen() == 0
    gen.on_event(Ev(("rbac.authorization.k8s.io", "roles")))
    assert gen() == 1


# ---------------------------------------------------------------------------------------------- rules_for


def test_rules_for_lists_cluster_then_namespace_rules(pod_reader: Authorizer) -> None:
    res, non_res, incomplete = pod_reader.rules_for(ALICE, "shop")
    assert incomplete is False
    assert res == [
        {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
         "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
        {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]},
    ]
    assert {u for r in non_res for u in r["nonResourceURLs"]} >= {"/api", "/apis/*", "/version", "/healthz"}
    assert pod_reader.rules_for(ALICE, "default")[0] == res[:2]


def test_rules_for_masters_come_from_the_cluster_admin_binding(store: FakeRbacStore) -> None:
    res, non_res, _ = store.authorizer().rules_for(UserInfo("root", ("system:masters",)), "default")
    assert res == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    assert non_res == [{"verbs": ["*"], "nonResourceURLs": ["*"]}]


# ---------------------------------------------------------------------------------------------- reviews


def ssar(ra: dict | None = None, nra: dict | None = None) -> dict:
    spec = {}
    if ra is not None:
        spec["resourceAttributes"] = ra
    if nra is not None:
        spec["nonResourceAttributes"] = nra
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": {"allowed": False}}


def test_self_subject_access_review_response(pod_reader: Authorizer) -> None:
    out = review("SelfSubjectAccessReview", ssar({"namespace": "shop", "verb": "list", "resource": "pods",
                                                  "group": ""}), ALICE, pod_reader)
    assert out == {
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"resourceAttributes": {"namespace": "shop", "verb": "list", "resource": "pods"}},
        "status": {"allowed": True,
                   "reason": 'RBAC: allowed by RoleBinding "read-pods/shop" of Role "pod-reader" to User "alice"'},
    }
    denied = review("SelfSubjectAccessReview", ssar({"namespace": "kube-system", "verb": "list", "resource": "pods"}),
                    ALICE, pod_reader)
    assert denied["status"] == {"allowed": False}
    root = review("SelfSubjectAccessReview", ssar({"verb": "*", "resource": "*"}), ROOT, pod_reader)
    assert root["status"] == {"allowed": True}
    url = review("SelfSubjectAccessReview", ssar(nra={"path": "/version", "verb": "get"}), ALICE, pod_reader)
    assert url["spec"] == {"nonResourceAttributes": {"path": "/version", "verb": "get"}}
    assert url["status"]["allowed"] is True


def test_access_review_validation_errors(pod_reader: Authorizer) -> None:
    with pytest.raises(ApiError) as ei:
        review("SelfSubjectAccessReview", ssar(), ALICE, pod_reader)
    assert ei.value.code == 422
    assert ei.value.message == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": '
        "exactly one of nonResourceAttributes or resourceAttributes must be specified")
    assert ei.value.details["causes"][0]["field"] == "spec.resourceAttributes"
    with pytest.raises(ApiError) as ei:
        review("SubjectAccessReview", {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}},
               ROOT, pod_reader)
    assert ei.value.message.endswith('spec.user: Invalid value: "": at least one of user or group must be specified')
    with pytest.raises(ApiError) as ei:
        review("SelfSubjectAccessReview", {**ssar({"verb": "get"}), "metadata": {"name": "x"}}, ALICE, pod_reader)
    assert ei.value.code == 422 and "metadata: Invalid value" in ei.value.message and "must be empty" in ei.value.message


def test_subject_access_review_evaluates_the_spec_user_not_the_requester(pod_reader: Authorizer) -> None:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "alice", "groups": ["devs"],
                     "resourceAttributes": {"namespace": "shop", "verb": "get", "resource": "pods", "name": "p"}}}
    out = review("SubjectAccessReview", body, BOB, pod_reader)
    assert out["status"]["allowed"] is True
    assert out["spec"] == {"resourceAttributes": {"namespace": "shop", "verb": "get", "resource": "pods",
                                                  "name": "p"}, "user": "alice", "groups": ["devs"]}
    body["spec"]["user"] = "bob"
    assert review("SubjectAccessReview", body, ROOT, pod_reader)["status"] == {"allowed": False}


def test_local_subject_access_review_namespace_rules(pod_reader: Authorizer) -> None:
    body = {"kind": "LocalSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"namespace": "shop"},
            "spec": {"user": "alice", "resourceAttributes": {"namespace": "shop", "verb": "list", "resource": "pods"}}}
    out = review("LocalSubjectAccessReview", body, ROOT, pod_reader, namespace="shop")
    assert out["metadata"] == {"namespace": "shop", "creationTimestamp": None}
    assert out["status"]["allowed"] is True
    mismatch = copy.deepcopy(body)
    mismatch["metadata"] = {}
    mismatch["spec"]["resourceAttributes"]["namespace"] = "other"
    with pytest.raises(ApiError) as ei:
        review("LocalSubjectAccessReview", mismatch, ROOT, pod_reader, namespace="shop")
    assert ei.value.code == 422
    assert ei.value.message == ('LocalSubjectAccessReview.authorization.k8s.io "" is invalid: '
                                'spec.resourceAttributes.namespace: Invalid value: "other": must match metadata.namespace')
    with pytest.raises(ApiError) as ei:
        review("LocalSubjectAccessReview", body, ROOT, pod_reader, namespace="default")
    assert (ei.value.code, ei.value.message) == (
        400, "the namespace of the provided object does not match the namespace sent on the request")


def test_self_subject_rules_review_response(pod_reader: Authorizer) -> None:
    body = {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": {"namespace": "shop"}}
    out = review("SelfSubjectRulesReview", body, ALICE, pod_reader)
    assert out["kind"] == "SelfSubjectRulesReview" and out["metadata"] == {"creationTimestamp": None}
    assert out["spec"] == {"namespace": "shop"}
    assert set(out["status"]) == {"resourceRules", "nonResourceRules", "incomplete"}
    assert {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]} in out["status"]["resourceRules"]
    with pytest.raises(ApiError) as ei:
        review("SelfSubjectRulesReview", {"spec": {}}, ALICE, pod_reader)
    assert (ei.value.code, ei.value.message) == (400, "no namespace on request")


def test_self_subject_rules_review_reports_evaluation_errors(store: FakeRbacStore) -> None:
    store.add(binding("broken", "shop", "Role", "ghost", [user_subject("alice")]))
    out = review("SelfSubjectRulesReview", {"spec": {"namespace": "shop"}}, ALICE, store.authorizer())
    assert out["status"]["evaluationError"] == 'role.rbac.authorization.k8s.io "ghost" not found'
    assert out["status"]["incomplete"] is False


def test_self_subject_review_response(store: FakeRbacStore) -> None:
    user = UserInfo("alice", ("devs", "system:authenticated"), "u-1", {"scopes": ("a", "b")})
    out = review("SelfSubjectReview", {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                 user, store.authorizer(), now=lambda: datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert out == {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                   "metadata": {"creationTimestamp": "2025-01-02T03:04:05Z"},
                   "status": {"userInfo": {"username": "alice", "uid": "u-1",
                                           "groups": ["devs", "system:authenticated"],
                                           "extra": {"scopes": ["a", "b"]}}}}


def test_review_rejects_unknown_kinds(store: FakeRbacStore) -> None:
    with pytest.raises(ValueError, match="not a review kind"):
        review("Pod", {"spec": {}}, ALICE, store.authorizer())


# ---------------------------------------------------------------------------------------------- protobuf bodies

# Captured from kubectl 1.37: `auth can-i create pods/log -n shop --subresource log`, `auth can-i --list`
# and `auth whoami`, which post only protobuf.
KUBECTL_SSAR = bytes.fromhex(
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363657373526576"
    "69657712420a100a0012001a0022002a0032003800420012240a220a0473686f7012066372656174651a0022002a04706f64733203"
    "6c6f673a036c6f671a08080012001a0020001a002200")
KUBECTL_SSRR = bytes.fromhex(
    "6b3873000a310a17617574686f72697a6174696f6e2e6b38732e696f2f7631121653656c665375626a65637452756c657352657669"
    "657712230a100a0012001a0022002a0032003800420012090a0764656661756c741a04180022001a002200")
KUBECTL_SSR = bytes.fromhex(
    "6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c665375626a6563745265766965771"
    "21a0a100a0012001a0022002a0032003800420012060a040a0012001a002200")


def pb(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return bytes([field << 3 | 2, len(data)]) + data


def test_decode_kubectl_protobuf_reviews() -> None:
    assert decode_review_protobuf(KUBECTL_SSAR) == {
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "shop", "verb": "create", "resource": "pods",
                                        "subresource": "log", "name": "log"}}}
    assert decode_review_protobuf(KUBECTL_SSRR)["spec"] == {"namespace": "default"}
    assert decode_review_protobuf(KUBECTL_SSR) == {"kind": "SelfSubjectReview",
                                                   "apiVersion": "authentication.k8s.io/v1", "metadata": {}}


def test_decode_protobuf_subject_access_review_and_errors(pod_reader: Authorizer) -> None:
    spec = (pb(1, pb(1, "shop") + pb(2, "get") + pb(5, "pods")) + pb(3, "alice") + pb(4, "devs") + pb(4, "qa")
            + pb(5, pb(1, "scopes") + pb(2, pb(1, "a") + pb(1, "b"))) + pb(6, "u1"))
    obj = pb(1, b"") + pb(2, spec)
    raw = b"k8s\x00" + pb(1, pb(1, "authorization.k8s.io/v1") + pb(2, "SubjectAccessReview")) + pb(2, obj)
    body = decode_review_protobuf(raw)
    assert body["spec"] == {"resourceAttributes": {"namespace": "shop", "verb": "get", "resource": "pods"},
                            "user": "alice", "groups": ["devs", "qa"], "extra": {"scopes": ["a", "b"]}, "uid": "u1"}
    assert review("SubjectAccessReview", body, ROOT, pod_reader)["status"]["allowed"] is True
    pod = b"k8s\x00" + pb(1, pb(1, "v1") + pb(2, "Pod")) + pb(2, b"")
    for bad, code in ((pod, 415), (b"{}", 415), (KUBECTL_SSAR[:-9], 400)):
        with pytest.raises(ApiError) as ei:
            decode_review_protobuf(bad)
        assert ei.value.code == code


# ---------------------------------------------------------------------------------------------- impersonation


@pytest.fixture
def impersonator(store: FakeRbacStore) -> Authorizer:
    store.add(cluster_role("impersonate-alice", [rule([""], ["users"], ["impersonate"], names=["alice"]),
                                                 rule([""], ["groups"], ["impersonate"], names=["devs"])]),
              binding("bob-impersonates", "", "ClusterRole", "impersonate-alice", [user_subject("bob")]))
    return store.authorizer()


def test_no_headers_means_no_change(impersonator: Authorizer) -> None:
    assert impersonate(BOB, {"Accept": ["application/json"]}, impersonator) is BOB


def test_impersonating_a_user_adds_system_authenticated(impersonator: Authorizer) -> None:
    assert impersonate(BOB, {"Impersonate-User": ["alice"]}, impersonator) == UserInfo(
        "alice", ("system:authenticated",))
    assert impersonate(BOB, {"impersonate-user": ["alice"], "Impersonate-Group": ["devs"]}, impersonator) == UserInfo(
        "alice", ("devs", "system:authenticated"))


def test_impersonation_denied_has_the_exact_message(impersonator: Authorizer) -> None:
    with pytest.raises(ImpersonationForbidden) as ei:
        impersonate(BOB, {"Impersonate-User": ["carol"]}, impersonator)
    assert ei.value.code == 403
    assert ei.value.message == ('users "carol" is forbidden: User "bob" cannot impersonate resource "users" '
                                'in API group "" at the cluster scope')
    assert ei.value.details == {"name": "carol", "kind": "users"}
    with pytest.raises(ImpersonationForbidden) as ei:
        impersonate(BOB, {"Impersonate-User": ["alice"], "Impersonate-Group": ["system:masters"]}, impersonator)
    assert ei.value.message == ('groups "system:masters" is forbidden: User "bob" cannot impersonate resource '
                                '"groups" in API group "" at the cluster scope')
    with pytest.raises(ImpersonationForbidden) as ei:
        impersonate(ALICE, {"Impersonate-User": ["system:serviceaccount:ci:builder"]}, impersonator)
    assert ei.value.message == ('serviceaccounts "builder" is forbidden: User "alice" cannot impersonate resource '
                                '"serviceaccounts" in API group "" in the namespace "ci"')
    with pytest.raises(ImpersonationForbidden) as ei:
        impersonate(BOB, {"Impersonate-User": ["alice"], "Impersonate-Extra-Scopes": ["view"]}, impersonator)
    assert ei.value.message == ('userextras.authentication.k8s.io "view" is forbidden: User "bob" cannot impersonate '
                                'resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope')
    with pytest.raises(ImpersonationForbidden) as ei:
        impersonate(BOB, {"Impersonate-User": ["alice"], "Impersonate-Uid": ["1234"]}, impersonator)
    assert ei.value.message == ('uids.authentication.k8s.io "1234" is forbidden: User "bob" cannot impersonate '
                                'resource "uids" in API group "authentication.k8s.io" at the cluster scope')


def test_masters_may_impersonate_anything(impersonator: Authorizer) -> None:
    sa = impersonate(ROOT, {"Impersonate-User": ["system:serviceaccount:ci:builder"]}, impersonator)
    assert sa == service_account_user("ci", "builder")
    got = impersonate(ROOT, {"Impersonate-User": ["dave"], "Impersonate-Uid": ["u-9"],
                             "Impersonate-Extra-Acme.com%2fproject": ["p1", "p2"]}, impersonator)
    assert got == UserInfo("dave", ("system:authenticated",), "u-9", {"acme.com/project": ("p1", "p2")})
    anon = impersonate(ROOT, {"Impersonate-User": ["system:anonymous"]}, impersonator)
    assert anon.groups == ("system:unauthenticated",)
    explicit = impersonate(ROOT, {"Impersonate-User": ["system:serviceaccount:ci:builder"],
                                  "Impersonate-Group": ["system:unauthenticated"]}, impersonator)
    assert explicit.groups == ("system:unauthenticated",)


def test_groups_without_a_user_is_an_error(impersonator: Authorizer) -> None:
    with pytest.raises(ImpersonationError) as ei:
        impersonate(ROOT, {"Impersonate-Group": ["devs"]}, impersonator)
    assert ei.value.code == 500
    assert ei.value.message == "requested [{Group  devs    }] without impersonating a user"
    assert ei.value.plain_text("/api/v1/pods") == (
        "Internal Server Error: &#34;/api/v1/pods&#34;: requested [{Group  devs    }] without impersonating a user")


def test_impersonated_user_is_then_authorized_as_itself(impersonator: Authorizer, store: FakeRbacStore) -> None:
    store.add(role("pod-reader", "shop", [rule([""], ["pods"], ["list"])]),
              binding("read-pods", "shop", "Role", "pod-reader", [user_subject("alice")]))
    acting = impersonate(BOB, {"Impersonate-User": ["alice"]}, impersonator)
    out = review("SelfSubjectAccessReview", ssar({"namespace": "shop", "verb": "list", "resource": "pods"}),
                 acting, impersonator)
    assert out["status"]["allowed"] is True
    assert not impersonator.authorize(BOB, Attributes("list", "", "pods", namespace="shop")).allowed


# ---------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_objects_look_like_a_fresh_cluster() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in bootstrap_objects()}
    for name in ("cluster-admin", "admin", "edit", "view", "system:aggregate-to-view", "system:basic-user",
                 "system:discovery", "system:public-info-viewer"):
        meta = objs[("ClusterRole", name)]["metadata"]
        assert meta["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert meta["annotations"] == {"rbac.authorization.kubernetes.io/autoupdate": "true"}
    subjects = {n: [(s["kind"], s["name"]) for s in objs[("ClusterRoleBinding", n)]["subjects"]]
                for n in ("cluster-admin", "system:basic-user", "system:discovery", "system:public-info-viewer")}
    assert subjects == {"cluster-admin": [("Group", "system:masters")],
                        "system:basic-user": [("Group", "system:authenticated")],
                        "system:discovery": [("Group", "system:authenticated")],
                        "system:public-info-viewer": [("Group", "system:authenticated"),
                                                      ("Group", "system:unauthenticated")]}
    view = objs[("ClusterRole", "view")]
    assert view["aggregationRule"] == {"clusterRoleSelectors": [
        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]}
    view_resources = {r for rl in view["rules"] for r in rl["resources"]}
    edit_resources = {r for rl in objs[("ClusterRole", "edit")]["rules"] for r in rl["resources"]}
    admin_resources = {r for rl in objs[("ClusterRole", "admin")]["rules"] for r in rl["resources"]}
    assert {"pods", "pods/log", "deployments", "statefulsets", "daemonsets", "jobs", "cronjobs", "configmaps",
            "events", "persistentvolumeclaims", "horizontalpodautoscalers", "poddisruptionbudgets", "ingresses",
            "networkpolicies", "services"} <= view_resources
    assert "secrets" not in view_resources and "secrets" in edit_resources and "leases" in edit_resources
    assert view_resources <= edit_resources <= admin_resources
    assert {"roles", "rolebindings", "localsubjectaccessreviews"} <= admin_resources - edit_resources


def test_bootstrap_objects_are_fresh_copies() -> None:
    first = bootstrap_objects()
    first[0]["metadata"]["labels"]["x"] = "y"
    first[0]["rules"].clear()
    second = bootstrap_objects()
    assert "x" not in second[0]["metadata"]["labels"] and second[0]["rules"]


def test_default_policy_for_an_ordinary_user(store: FakeRbacStore) -> None:
    authz = store.authorizer()
    ok = [Attributes("create", "authorization.k8s.io", "selfsubjectaccessreviews"),
          Attributes("create", "authentication.k8s.io", "selfsubjectreviews"),
          Attributes("get", resource_request=False, path="/apis/apps/v1"),
          Attributes("get", resource_request=False, path="/openapi/v3")]
    assert all(authz.authorize(ALICE, a).allowed for a in ok)
    assert not authz.authorize(ALICE, Attributes("get", resource_request=False, path="/metrics")).allowed
    anon = UserInfo("system:anonymous", ("system:unauthenticated",))
    assert authz.authorize(anon, Attributes("get", resource_request=False, path="/version")).allowed
    assert not authz.authorize(anon, Attributes("get", resource_request=False, path="/api")).allowed

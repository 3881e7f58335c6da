"""RBAC evaluation of the simulated API server: decisions, texts, reviews and impersonation.

The expected strings are kube-apiserver's own, because kubectl prints them verbatim.
"""

from __future__ import annotations

import copy

import pytest

from prophet_sre.sim.rbac import (
    Attributes,
    Authorizer,
    Decision,
    RbacGeneration,
    UserInfo,
    aggregate_cluster_role_rules,
    bootstrap_objects,
    forbidden_error,
    forbidden_message,
    selector_matches,
    service_account_user,
)

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

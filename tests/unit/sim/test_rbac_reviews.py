"""RBAC reviews (SelfSubjectAccessReview and friends), their protobuf bodies, impersonation and the bootstrap objects (split from test_rbac.py)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from test_rbac import (  # noqa: F401 - shared builders, and the pytest fixtures pod_reader and store
    ALICE,
    BOB,
    ROOT,
    FakeRbacStore,
    binding,
    cluster_role,
    pod_reader,
    role,
    rule,
    store,
    user_subject,
)

from prophet_sre.sim.rbac import (
    Attributes,
    Authorizer,
    ImpersonationError,
    ImpersonationForbidden,
    UserInfo,
    bootstrap_objects,
    impersonate,
    service_account_user,
)
from prophet_sre.sim.rbac_review import decode_review_protobuf, review
from prophet_sre.sim.status import ApiError

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

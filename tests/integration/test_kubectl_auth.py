"""Real kubectl against the simulator: `auth can-i` (single checks and `--list`), `auth whoami`, and
impersonation (`--as`, `--as-group`) enforced by RBAC."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubectl_support import apply, namespace, table, wait_for

NS = "kt-auth"
OTHER = "default"
RBAC = f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-reader
  namespace: {NS}
rules:
- apiGroups: [""]
  resources: [pods, pods/log]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: alice-reads-pods
  namespace: {NS}
subjects:
- kind: User
  name: alice
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: Role
  name: pod-reader
  apiGroup: rbac.authorization.k8s.io
"""


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        yield name


def can_i(kubectl: Any, *args: str) -> tuple[int, str]:
    proc = kubectl.run("auth", "can-i", *args, check=False)
    return proc.returncode, proc.stdout.strip()


def test_can_i_before_and_after_role_binding(kubectl: Any, ns: str) -> None:
    assert can_i(kubectl, "list", "pods", "-n", ns, "--as=alice") == (1, "no")
    proc = kubectl.run("get", "pods", "-n", ns, "--as=alice", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f'Error from server (Forbidden): pods is forbidden: User "alice" cannot list '
                                   f'resource "pods" in API group "" in the namespace "{ns}"')

    out = apply(kubectl, RBAC)
    assert out.splitlines() == ["role.rbac.authorization.k8s.io/pod-reader created",
                                "rolebinding.rbac.authorization.k8s.io/alice-reads-pods created"]
    wait_for(lambda: can_i(kubectl, "list", "pods", "-n", ns, "--as=alice") == (0, "yes"), what="alice may list pods")
    assert can_i(kubectl, "get", "pods/log", "-n", ns, "--as=alice") == (0, "yes")
    assert can_i(kubectl, "watch", "pods", "-n", ns, "--as=alice") == (0, "yes")
    # the grant is what the Role says, no more
    assert can_i(kubectl, "delete", "pods", "-n", ns, "--as=alice") == (1, "no")
    assert can_i(kubectl, "list", "pods", "-n", OTHER, "--as=alice") == (1, "no")
    assert can_i(kubectl, "list", "deployments.apps", "-n", ns, "--as=alice") == (1, "no")
    assert can_i(kubectl, "list", "pods", "-n", ns, "--as=bob") == (1, "no")

    # impersonated requests are authorized the same way
    proc = kubectl.run("get", "pods", "-n", ns, "--as=alice", check=False)
    assert proc.returncode == 0, proc.stderr
    proc = kubectl.run("delete", "pod", "x", "-n", ns, "--as=alice", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f'Error from server (Forbidden): pods "x" is forbidden: User "alice" cannot '
                                   f'delete resource "pods" in API group "" in the namespace "{ns}"')
    proc = kubectl.run("get", "deployments", "-n", ns, "--as=alice", check=False)
    assert proc.stderr.strip() == (f'Error from server (Forbidden): deployments.apps is forbidden: User "alice" '
                                   f'cannot list resource "deployments" in API group "apps" in the namespace "{ns}"')


def test_can_i_list(kubectl: Any, ns: str) -> None:
    apply(kubectl, RBAC)
    out = wait_for(lambda: "pods/log" in (o := kubectl("auth", "can-i", "--list", "-n", ns, "--as=alice")) and o,
                   what="alice's rules")
    header, rows = table(out)
    assert header == ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]
    by_resource = {r[0]: r for r in rows if not r[0].startswith("[")}
    assert by_resource["pods"][-1] == "[get list watch]"
    assert by_resource["pods/log"][-1] == "[get list watch]"
    # what every authenticated user gets from the bootstrap ClusterRoles
    assert by_resource["selfsubjectaccessreviews.authorization.k8s.io"][-1] == "[create]"
    assert by_resource["selfsubjectrulesreviews.authorization.k8s.io"][-1] == "[create]"
    assert "deployments.apps" not in by_resource
    assert any(r[0] == "[/version]" and r[-1] == "[get]" for r in rows)
    # in another namespace alice has only the cluster-wide basics
    other = table(kubectl("auth", "can-i", "--list", "-n", OTHER, "--as=alice"))[1]
    assert "pods" not in {r[0] for r in other}


def test_admin_and_groups(kubectl: Any, ns: str) -> None:
    assert can_i(kubectl, "*", "*") == (0, "yes")
    assert can_i(kubectl, "delete", "nodes") == (0, "yes")
    # system:masters is allowed everything, whoever the user is
    assert can_i(kubectl, "delete", "nodes", "--as=carol", "--as-group=system:masters") == (0, "yes")
    assert can_i(kubectl, "delete", "nodes", "--as=carol") == (1, "no")
    # a service account by its username: its namespace's view is not granted by default
    assert can_i(kubectl, "list", "pods", "-n", ns, f"--as=system:serviceaccount:{ns}:default") == (1, "no")


def test_whoami(kubectl: Any) -> None:
    header, rows = table(kubectl("auth", "whoami", "--as=alice", "--as-group=devs"))
    assert header == ["ATTRIBUTE", "VALUE"]
    attrs = {r[0]: r[1] for r in rows}
    assert attrs["Username"] == "alice"
    assert attrs["Groups"] == "[devs system:authenticated]"

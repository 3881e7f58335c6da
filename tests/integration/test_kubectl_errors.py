"""Real kubectl against the simulator: the error texts kubectl prints, which come from the server's
`Status` objects (reason, message, details) - NotFound, AlreadyExists, Invalid with field paths,
Conflict, BadRequest for strict decoding and selectors, and unknown resource types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubectl_support import apply, deployment, get_json, namespace

NS = "kt-errors"
RFC1123 = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
           "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
           r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        apply(kubectl, deployment("web", NS, replicas=1))
        yield name


def fails(kubectl: Any, *args: str, input: str | None = None) -> str:
    proc = kubectl.run(*args, check=False, input=input)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    return proc.stderr.strip()


def test_not_found(kubectl: Any, ns: str) -> None:
    assert fails(kubectl, "get", "deployments", "nope", "-n", ns) == (
        'Error from server (NotFound): deployments.apps "nope" not found')
    assert fails(kubectl, "get", "pod", "nope", "-n", ns) == 'Error from server (NotFound): pods "nope" not found'
    assert fails(kubectl, "get", "node", "nope") == 'Error from server (NotFound): nodes "nope" not found'
    assert fails(kubectl, "describe", "deployment", "nope", "-n", ns) == (
        'Error from server (NotFound): deployments.apps "nope" not found')
    assert fails(kubectl, "scale", "deployment", "nope", "-n", ns, "--replicas=2") == (
        'Error from server (NotFound): deployments.apps "nope" not found')
    # the server says `pods "nope" not found`; kubectl then looks the namespace up and reports that instead
    assert fails(kubectl, "get", "pods", "-n", "kt-no-such-namespace", "nope") == (
        'Error from server (NotFound): namespaces "kt-no-such-namespace" not found')
    assert fails(kubectl, "apply", "-f", "-", input=(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: kt-no-such-namespace\n")) == (
        'Error from server (NotFound): error when creating "STDIN": namespaces "kt-no-such-namespace" not found')
    # many at once: kubectl reports each missing one and shows the ones it found
    proc = kubectl.run("get", "deploy", "web", "nope", "-n", ns, "-o", "name", check=False)
    assert proc.returncode == 1 and proc.stdout.strip() == "deployment.apps/web"
    assert proc.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'


def test_already_exists(kubectl: Any, ns: str) -> None:
    manifest = deployment("web", ns, replicas=1)
    assert fails(kubectl, "create", "-f", "-", input=manifest) == (
        'Error from server (AlreadyExists): error when creating "STDIN": deployments.apps "web" already exists')
    proc = kubectl.run("create", "deployment", "web", "-n", ns, "--image=nginx:1.27", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == 'error: failed to create deployment: deployments.apps "web" already exists'
    assert fails(kubectl, "create", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n") == (
        f'Error from server (AlreadyExists): error when creating "STDIN": namespaces "{ns}" already exists')


def test_invalid_name(kubectl: Any, ns: str) -> None:
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: {ns}\n"
    want = f'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": {RFC1123}'
    assert fails(kubectl, "apply", "-f", "-", input=manifest) == want
    assert fails(kubectl, "create", "-f", "-", input=manifest) == want
    proc = kubectl.run("create", "deployment", "Bad_Name", "-n", ns, "--image=nginx", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f'error: failed to create deployment: Deployment.apps "Bad_Name" is invalid: metadata.name: Invalid value: '
        f'"Bad_Name": {RFC1123}')


def test_invalid_many_causes(kubectl: Any, ns: str) -> None:
    manifest = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: broken, namespace: {ns}}}
spec:
  replicas: -2
  selector: {{matchLabels: {{app: broken}}}}
  template:
    metadata: {{labels: {{app: broken}}}}
    spec:
      containers:
      - name: c
"""
    err = fails(kubectl, "apply", "-f", "-", input=manifest)
    assert err.splitlines() == [
        'The Deployment "broken" is invalid: ',
        "* spec.replicas: Invalid value: -2: must be greater than or equal to 0",
        "* spec.template.spec.containers[0].image: Required value",
    ]
    assert fails(kubectl, "get", "deploy", "broken", "-n", ns) == (
        'Error from server (NotFound): deployments.apps "broken" not found')


def test_invalid_immutable_selector(kubectl: Any, ns: str) -> None:
    changed = deployment("web", ns, replicas=1).replace("matchLabels: {app: web}", "matchLabels: {app: web, v: two}")
    changed = changed.replace("labels: {app: web}\n    spec", "labels: {app: web, v: two}\n    spec")
    err = fails(kubectl, "apply", "-f", "-", input=changed)
    assert err.startswith('The Deployment "web" is invalid: spec.selector: Invalid value: ')
    assert err.endswith(": field is immutable")


def test_strict_field_validation(kubectl: Any, ns: str) -> None:
    manifest = deployment("strict", ns, replicas=1).replace("  replicas: 1\n", "  replicas: 1\n  bogus: true\n")
    assert fails(kubectl, "apply", "-f", "-", input=manifest) == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be handled '
        'as a Deployment: strict decoding error: unknown field "spec.bogus"')
    # with validation off the unknown field is dropped (decoding into the Go type) and the object created
    out = kubectl("apply", "-f", "-", "--validate=false", input=manifest)
    assert out.strip() == "deployment.apps/strict created"
    assert "bogus" not in get_json(kubectl, "deploy", "strict", "-n", ns)["spec"]
    # --validate=warn: the same, plus the server's warning
    proc = kubectl.run("apply", "-f", "-", "--validate=warn", input=manifest.replace("name: strict", "name: warned"))
    assert proc.stdout.strip() == "deployment.apps/warned created"
    assert proc.stderr.strip() == 'Warning: unknown field "spec.bogus"'
    assert "bogus" not in get_json(kubectl, "deploy", "warned", "-n", ns)["spec"]
    # a wrong type does not decode at all
    bad_type = deployment("typed", ns, replicas=1).replace("replicas: 1", 'replicas: "three"')
    assert fails(kubectl, "apply", "-f", "-", input=bad_type) == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be handled '
        'as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type '
        "int32")


def test_conflict_on_stale_replace(kubectl: Any, ns: str) -> None:
    apply(kubectl, f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: racy\n  namespace: {ns}\ndata:\n  k: a\n")
    stale = kubectl("get", "configmap", "racy", "-n", ns, "-o", "yaml")
    kubectl("label", "configmap", "racy", "-n", ns, "touched=yes")
    assert fails(kubectl, "replace", "-f", "-", input=stale.replace("k: a", "k: b")) == (
        'Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps '
        '"racy": the object has been modified; please apply your changes to the latest version and try again')
    assert get_json(kubectl, "configmap", "racy", "-n", ns)["data"] == {"k": "a"}


def test_bad_patches(kubectl: Any, ns: str) -> None:
    assert fails(kubectl, "patch", "deploy", "web", "-n", ns, "--type=json",
                 "-p", '[{"op":"remove","path":"/spec/nope"}]') == (
        "The request is invalid: the server rejected our request due to an error in our request")
    assert fails(kubectl, "patch", "deploy", "web", "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":"x"}}') == (
        'Error from server (BadRequest): Deployment in version "v1" cannot be handled as a Deployment: json: cannot '
        "unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")
    assert fails(kubectl, "patch", "deploy", "nope", "-n", ns, "-p", '{"spec":{"replicas":1}}') == (
        'Error from server (NotFound): deployments.apps "nope" not found')


def test_bad_selectors(kubectl: Any, ns: str) -> None:
    assert fails(kubectl, "get", "pods", "-n", ns, "--field-selector", "foo=bar") == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "", field '
        'selector "foo=bar": field label not supported: foo')
    err = fails(kubectl, "get", "pods", "-n", ns, "-l", "a in")
    assert err.startswith('Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label '
                          'selector "a in", field selector "": unable to parse requirement: ')


def test_unknown_resource_type(kubectl: Any) -> None:
    assert fails(kubectl, "get", "foo") == 'error: the server doesn\'t have a resource type "foo"'
    assert fails(kubectl, "delete", "foo", "bar") == 'error: the server doesn\'t have a resource type "foo"'
    # kubectl validates an unserved kind against /openapi/v2 (protobuf), finds no model, then cannot map it
    err = fails(kubectl, "apply", "-f", "-", input="apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n")
    assert err.splitlines() == [
        'error: resource mapping not found for name: "w" namespace: "" from "STDIN": no matches for kind "Widget" in '
        'version "example.com/v1"',
        "ensure CRDs are installed first"]


def test_apply_kind_list(kubectl: Any, ns: str) -> None:
    """`kubectl get -o yaml` of several objects gives a `kind: List`; applying it goes through kubectl's
    client-side (openapi v2) validation, and the server still validates each item strictly."""
    items = "".join(f"""
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: listed-{i}, namespace: {ns}}}
  data: {{i: "{i}"}}""" for i in range(2))
    out = kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: List\nitems:{items}\n")
    assert out.splitlines() == ["configmap/listed-0 created", "configmap/listed-1 created"]
    assert get_json(kubectl, "configmap", "listed-1", "-n", ns)["data"] == {"i": "1"}
    bad = f"apiVersion: v1\nkind: List\nitems:\n- {{apiVersion: v1, kind: ConfigMap, bogus: 1, metadata: {{name: x, namespace: {ns}}}}}\n"
    assert fails(kubectl, "apply", "-f", "-", input=bad) == (
        'Error from server (BadRequest): error when creating "STDIN": ConfigMap in version "v1" cannot be handled as '
        'a ConfigMap: strict decoding error: unknown field "bogus"')

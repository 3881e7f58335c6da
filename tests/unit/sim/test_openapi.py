"""OpenAPI documents: the shapes kubectl's explain, apply and field-validation code read."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from prophet_sre.sim.openapi import OpenAPIBuilder
from prophet_sre.sim.openapi_models import build_schema_set, crd_schema_names, model_class
from prophet_sre.sim.patch import patch_annotations
from prophet_sre.sim.registry import BUILTIN_TYPES, Registry

V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
ITEM_PATH = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


# Strategic-merge metadata of k8s.io/api that kubectl's client-side apply depends on, written down
# independently of `patch.patch_annotations` (the table the documents are built from) to cross-check it.
_CONTAINER = {"": ("merge", "name"), ".ports": ("merge", "containerPort"), ".env": ("merge", "name"),
              ".volumeMounts": ("merge", "mountPath"), ".volumeDevices": ("merge", "devicePath")}
_POD_SPEC = {**{f"{c}{k}": v for c in ("containers", "initContainers", "ephemeralContainers")
                for k, v in _CONTAINER.items()},
             "volumes": ("merge,retainKeys", "name"), "imagePullSecrets": ("merge", "name"),
             "hostAliases": ("merge", "ip"), "topologySpreadConstraints": ("merge", "topologyKey"),
             "schedulingGates": ("merge", "name"), "resourceClaims": ("merge,retainKeys", "name")}
_POD_SPEC_AT = {"Pod": "spec", "Deployment": "spec.template.spec", "ReplicaSet": "spec.template.spec",
                "StatefulSet": "spec.template.spec", "DaemonSet": "spec.template.spec", "Job": "spec.template.spec",
                "ReplicationController": "spec.template.spec", "CronJob": "spec.jobTemplate.spec.template.spec"}
_CONDITIONS = {"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController",
               "Node", "Namespace", "PersistentVolumeClaim", "HorizontalPodAutoscaler"}
_EXTRA = {"Service": {"spec.ports": ("merge", "port")}, "Node": {"status.addresses": ("merge", "type")},
          "Pod": {"status.podIPs": ("merge", "ip"), "status.hostIPs": ("merge", "ip")}}


def expected_patch_meta(kind: str) -> dict[str, tuple[str, str | None]]:
    out = {"metadata.finalizers": ("merge", None), "metadata.ownerReferences": ("merge", "uid")}
    if kind in _POD_SPEC_AT:
        out.update({f"{_POD_SPEC_AT[kind]}.{k}": v for k, v in _POD_SPEC.items()})
    if kind in _CONDITIONS:
        out["status.conditions"] = ("merge", "type")
    out.update(_EXTRA.get(kind, {}))
    return out


def crontab_crd(schema: dict | None = None, versions: tuple[str, ...] = ("v1",)) -> dict[str, Any]:
    spec_schema = schema if schema is not None else {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "description": "CronTab spec.", "properties": {
                "cronSpec": {"type": "string", "description": "When to run."},
                "replicas": {"type": "integer", "nullable": True},
                "size": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
            }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [{"name": v, "served": True, "storage": i == 0,
                          "schema": {"openAPIV3Schema": spec_schema} if schema != {} else None,
                          "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                                   "statusReplicasPath": ".status.replicas"}}}
                         for i, v in enumerate(versions)],
        },
    }


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def builder(registry: Registry) -> OpenAPIBuilder:
    return OpenAPIBuilder(registry)


def refs(node: Any) -> Iterator[str]:
    """Every `$ref` string in a document (a `properties` key named "$ref" holds a schema, not a string)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(doc: dict, schema: dict, prefix: str = V3_REF) -> dict:
    """Follow `allOf: [{$ref}]` / `$ref` to the named schema, as kubectl does."""
    table = doc["components"]["schemas"] if prefix == V3_REF else doc["definitions"]
    while True:
        if len(schema.get("allOf", ())) == 1:
            schema = schema["allOf"][0]
        elif "$ref" in schema:
            schema = table[schema["$ref"].removeprefix(prefix)]
        else:
            return schema


def field(doc: dict, schema_name: str, dotted: str) -> dict:
    """The property schema at a dotted path (list items are stepped through)."""
    schema = doc["components"]["schemas"][schema_name]
    prop: dict = schema
    for part in dotted.split("."):
        schema = resolve(doc, schema)
        if "items" in schema:
            schema = resolve(doc, schema["items"])
        prop = schema["properties"][part]
        schema = prop
    return prop


def all_v3_docs(builder: OpenAPIBuilder) -> Iterator[tuple[str, dict]]:
    for path in builder.v3_index()["paths"]:
        parts = path.split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        doc = builder.v3_document(group, version)
        assert doc is not None, path
        yield path, doc


# -- index and hashes -------------------------------------------------------------------------------

def test_index_lists_group_versions_with_hashes(builder: OpenAPIBuilder) -> None:
    paths = builder.v3_index()["paths"]
    for path, (group, version) in {"api/v1": ("", "v1"), "apis/apps/v1": ("apps", "v1"),
                                   "apis/batch/v1": ("batch", "v1"),
                                   "apis/autoscaling/v2": ("autoscaling", "v2")}.items():
        url = paths[path]["serverRelativeURL"]
        etag = builder.etag_for(group, version)
        assert url == f"/openapi/v3/{path}?hash={etag}"
        assert re.fullmatch(r"[0-9A-F]{128}", etag)
    assert len({p["serverRelativeURL"].split("hash=")[1] for p in paths.values()}) == len(paths)


def test_unknown_group_version(builder: OpenAPIBuilder) -> None:
    assert builder.v3_document("nope.example.com", "v1") is None
    assert builder.v3_document("apps", "v1beta1") is None
    assert builder.etag_for("nope.example.com", "v1") == ""


def test_documents_are_cached(builder: OpenAPIBuilder) -> None:
    assert builder.v3_document("apps", "v1") is builder.v3_document("apps", "v1")
    assert builder.v2_document() is builder.v2_document()
    assert builder.etag_for("apps", "v1") == OpenAPIBuilder(Registry()).etag_for("apps", "v1")


# -- v3 documents -----------------------------------------------------------------------------------

def test_apps_v1_document_has_deployment_with_gvk(builder: OpenAPIBuilder) -> None:
    doc = builder.v3_document("apps", "v1")
    assert doc is not None
    assert doc["openapi"] == "3.0.0" and doc["info"]["title"] == "Kubernetes"
    schemas = doc["components"]["schemas"]
    dep = schemas[DEPLOYMENT]
    assert dep["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert dep["description"].startswith("Deployment enables declarative updates")
    assert set(dep["properties"]) >= {"apiVersion", "kind", "metadata", "spec", "status"}
    assert schemas[DEPLOYMENT + "List"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "DeploymentList", "version": "v1"}]
    for name in ("io.k8s.api.core.v1.PodSpec", "io.k8s.api.apps.v1.DeploymentSpec",
                 "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                 "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", "io.k8s.api.core.v1.PodTemplateSpec",
                 "io.k8s.api.autoscaling.v1.Scale"):
        assert name in schemas, name
    assert resolve(doc, dep["properties"]["metadata"]) is schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]


def test_every_v3_ref_resolves(builder: OpenAPIBuilder) -> None:
    count = 0
    for path, doc in all_v3_docs(builder):
        schemas = doc["components"]["schemas"]
        for ref in refs(doc):
            assert ref.startswith(V3_REF), (path, ref)
            assert ref.removeprefix(V3_REF) in schemas, (path, ref)
            count += 1
    assert count > 1000


def test_deployment_containers_resolve_to_container(builder: OpenAPIBuilder) -> None:
    doc = builder.v3_document("apps", "v1")
    assert doc is not None
    containers = field(doc, DEPLOYMENT, "spec.template.spec.containers")
    assert containers["type"] == "array"
    container = resolve(doc, containers["items"])
    assert container is doc["components"]["schemas"]["io.k8s.api.core.v1.Container"]
    assert "image" in container["properties"]
    assert container["properties"]["image"]["type"] == "string"
    assert "Container image name" in container["properties"]["image"]["description"]
    assert container["required"] == ["name"]
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-patch-merge-key"] == "name"


def test_patch_and_list_annotations(builder: OpenAPIBuilder) -> None:
    apps = builder.v3_document("apps", "v1")
    core = builder.v3_document("", "v1")
    assert apps is not None and core is not None
    pod_spec = "spec.template.spec"
    ports = field(apps, DEPLOYMENT, f"{pod_spec}.containers.ports")
    assert (ports["x-kubernetes-patch-merge-key"], ports["x-kubernetes-list-type"],
            ports["x-kubernetes-list-map-keys"]) == ("containerPort", "map", ["containerPort", "protocol"])
    assert field(apps, DEPLOYMENT, f"{pod_spec}.containers.env")["x-kubernetes-patch-merge-key"] == "name"
    assert field(apps, DEPLOYMENT, f"{pod_spec}.containers.volumeMounts")["x-kubernetes-patch-merge-key"] == \
        "mountPath"
    volumes = field(apps, DEPLOYMENT, f"{pod_spec}.volumes")
    assert (volumes["x-kubernetes-patch-strategy"], volumes["x-kubernetes-patch-merge-key"]) == \
        ("merge,retainKeys", "name")
    svc_ports = field(core, "io.k8s.api.core.v1.Service", "spec.ports")
    assert svc_ports["x-kubernetes-patch-merge-key"] == "port"
    assert svc_ports["x-kubernetes-list-map-keys"] == ["port", "protocol"]
    finalizers = field(core, "io.k8s.api.core.v1.Pod", "metadata.finalizers")
    assert finalizers["x-kubernetes-patch-strategy"] == "merge"
    assert "x-kubernetes-patch-merge-key" not in finalizers
    assert field(core, "io.k8s.api.core.v1.Pod", "metadata.ownerReferences")["x-kubernetes-patch-merge-key"] == "uid"
    assert field(apps, DEPLOYMENT, "status.conditions")["x-kubernetes-patch-merge-key"] == "type"


KINDS_WITH_MODELS = sorted({rt.kind for rt in BUILTIN_TYPES if model_class(rt.group, rt.version, rt.kind)})


def _kind_docs(builder: OpenAPIBuilder, kind: str) -> Iterator[tuple[dict, str]]:
    for rt in (rt for rt in BUILTIN_TYPES if rt.kind == kind):
        doc = builder.v3_document(rt.group, rt.version)
        assert doc is not None
        name = next(n for n, s in doc["components"]["schemas"].items()
                    if {"group": rt.group, "kind": kind, "version": rt.version}
                    in s.get("x-kubernetes-group-version-kind", []))
        yield doc, name


@pytest.mark.parametrize("kind", KINDS_WITH_MODELS)
def test_patch_annotations_land_in_the_schemas(builder: OpenAPIBuilder, kind: str) -> None:
    """Every entry of the shared table that names a real field is on that field in every version that
    has it, and the upstream minimum is present (a typo in either table would silently drop it)."""
    table = patch_annotations(kind)
    expected = expected_patch_meta(kind)
    assert {p: table.get(p) for p in expected} == expected
    landed: set[str] = set()
    for doc, name in _kind_docs(builder, kind):
        for path, (strategy, key) in table.items():
            try:
                prop = field(doc, name, path)
            except KeyError:
                continue  # generic entries (status.conditions) and fields another version lacks
            assert prop["x-kubernetes-patch-strategy"] == strategy, path
            assert prop.get("x-kubernetes-patch-merge-key") == key, path
            landed.add(path)
    assert set(expected) <= landed


def test_scalar_mappings(builder: OpenAPIBuilder) -> None:
    core = builder.v3_document("", "v1")
    assert core is not None
    schemas = core["components"]["schemas"]
    target_port = schemas["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]
    assert target_port["x-kubernetes-int-or-string"] is True
    assert resolve(core, target_port) is schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    limits = schemas["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["type"] == "object"
    assert limits["additionalProperties"]["x-kubernetes-int-or-string"] is True
    assert resolve(core, limits["additionalProperties"]) is schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    meta = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    assert meta["creationTimestamp"] == {**meta["creationTimestamp"], "type": "string", "format": "date-time"}
    assert meta["labels"]["additionalProperties"] == {"type": "string"}
    assert meta["generation"]["type"] == "integer"
    assert schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["hostNetwork"]["type"] == "boolean"
    assert schemas["io.k8s.api.core.v1.Secret"]["properties"]["data"]["additionalProperties"] == {
        "type": "string", "format": "byte"}


def test_real_schema_names() -> None:
    schemas = build_schema_set(BUILTIN_TYPES).schemas
    for name in ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler", "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
                 "io.k8s.api.core.v1.Event", "io.k8s.api.events.v1.Event", "io.k8s.api.rbac.v1.Subject",
                 "io.k8s.api.discovery.v1.EndpointPort", "io.k8s.api.core.v1.EndpointPort",
                 "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
                 "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
                 "io.k8s.api.core.v1.TopologySelectorTerm", "io.k8s.apimachinery.pkg.apis.meta.v1.Condition"):
        assert name in schemas, name
    assert schemas["io.k8s.api.events.v1.Event"]["x-kubernetes-group-version-kind"] == [
        {"group": "events.k8s.io", "kind": "Event", "version": "v1"}]
    assert schemas["io.k8s.api.core.v1.Event"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Event", "version": "v1"}]


def test_every_kind_schema_has_gvk_and_object_fields(builder: OpenAPIBuilder) -> None:
    for rt in BUILTIN_TYPES:
        doc = builder.v3_document(rt.group, rt.version)
        assert doc is not None
        gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
        matches = [s for s in doc["components"]["schemas"].values()
                   if gvk in s.get("x-kubernetes-group-version-kind", [])]
        assert len(matches) == 1, gvk
        assert {"apiVersion", "kind", "metadata"} <= set(matches[0]["properties"]), gvk


def test_paths_carry_operations_kubectl_looks_for(builder: OpenAPIBuilder) -> None:
    doc = builder.v3_document("apps", "v1")
    assert doc is not None
    paths = doc["paths"]
    gvk = {"group": "apps", "kind": "Deployment", "version": "v1"}
    item = paths[ITEM_PATH]
    assert set(item) >= {"get", "put", "patch", "delete", "parameters"}
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == gvk
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation").items()
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    assert {p["name"] for p in item["parameters"]} == {"name", "namespace", "pretty"}
    coll = paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert coll["get"]["operationId"] == "listAppsV1NamespacedDeployment"
    assert coll["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == \
        V3_REF + DEPLOYMENT + "List"
    assert coll["post"]["x-kubernetes-group-version-kind"] == gvk
    assert paths["/apis/apps/v1/deployments"]["get"]["operationId"] == "listAppsV1DeploymentForAllNamespaces"
    assert paths[ITEM_PATH + "/status"]["patch"]["x-kubernetes-group-version-kind"] == gvk
    scale = paths[ITEM_PATH + "/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    assert "/apis/apps/v1/" in paths


def test_core_and_cluster_scoped_paths(builder: OpenAPIBuilder) -> None:
    doc = builder.v3_document("", "v1")
    assert doc is not None
    paths = doc["paths"]
    assert paths["/api/v1/namespaces/{namespace}/pods/{name}"]["get"]["x-kubernetes-group-version-kind"] == {
        "group": "", "kind": "Pod", "version": "v1"}
    assert paths["/api/v1/nodes/{name}"]["patch"]["operationId"] == "patchCoreV1Node"
    assert "deletecollection" not in {op.get("x-kubernetes-action") for op in
                                      paths["/api/v1/namespaces"].values() if isinstance(op, dict)}
    sar = builder.v3_document("authorization.k8s.io", "v1")
    assert sar is not None
    assert set(sar["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]) == {"post", "parameters"}


def test_every_operation_gvk_has_a_schema(builder: OpenAPIBuilder) -> None:
    """kubectl explain takes the GVK from an operation and then looks for the schema carrying it."""
    for path, doc in all_v3_docs(builder):
        gvks = [g for s in doc["components"]["schemas"].values() for g in s.get("x-kubernetes-group-version-kind", [])]
        for item in doc["paths"].values():
            for op in item.values():
                if isinstance(op, dict) and "x-kubernetes-group-version-kind" in op:
                    assert op["x-kubernetes-group-version-kind"] in gvks, (path, op["operationId"])


# -- CRDs -------------------------------------------------------------------------------------------

def test_crd_type_is_published_with_schema_and_gvk(registry: Registry, builder: OpenAPIBuilder) -> None:
    apps_etag = builder.etag_for("apps", "v1")
    apps_doc = builder.v3_document("apps", "v1")
    assert builder.v3_document("stable.example.com", "v1") is None
    registry.add_crd(crontab_crd())

    assert "apis/stable.example.com/v1" in builder.v3_index()["paths"]
    doc = builder.v3_document("stable.example.com", "v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    kind_name, list_name = crd_schema_names(registry.get("stable.example.com", "v1", "crontabs"))
    assert kind_name == "com.example.stable.v1.CronTab"
    crontab = schemas[kind_name]
    assert crontab["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]
    assert crontab["properties"]["spec"]["properties"]["cronSpec"]["description"] == "When to run."
    assert resolve(doc, crontab["properties"]["metadata"]) is schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    assert schemas[list_name]["x-kubernetes-group-version-kind"][0]["kind"] == "CronTabList"
    for ref in refs(doc):
        assert ref.removeprefix(V3_REF) in schemas, ref

    item = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]
    assert item["patch"]["x-kubernetes-group-version-kind"]["kind"] == "CronTab"
    assert "fieldValidation" in {p["name"] for p in item["patch"]["parameters"]}
    # CRDs do not take strategic merge patches: kubectl must fall back to a JSON merge patch.
    assert "application/strategic-merge-patch+json" not in item["patch"]["requestBody"]["content"]
    assert "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale" in doc["paths"]

    # Built-in documents are untouched by a CRD elsewhere.
    assert builder.etag_for("apps", "v1") == apps_etag
    assert builder.v3_document("apps", "v1") is apps_doc


def test_crd_change_moves_the_etag(registry: Registry, builder: OpenAPIBuilder) -> None:
    registry.add_crd(crontab_crd())
    before = builder.etag_for("stable.example.com", "v1")
    url_before = builder.v3_index()["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"]
    changed = crontab_crd()
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["image"] = {
        "type": "string"}
    registry.add_crd(changed)
    after = builder.etag_for("stable.example.com", "v1")
    assert after != before
    assert builder.v3_index()["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"] != url_before
    doc = builder.v3_document("stable.example.com", "v1")
    assert doc is not None
    assert "image" in doc["components"]["schemas"]["com.example.stable.v1.CronTab"]["properties"]["spec"]["properties"]

    registry.remove_crd("crontabs.stable.example.com")
    assert builder.v3_document("stable.example.com", "v1") is None
    assert "apis/stable.example.com/v1" not in builder.v3_index()["paths"]


def test_crd_without_schema_preserves_unknown_fields(registry: Registry, builder: OpenAPIBuilder) -> None:
    registry.add_crd(crontab_crd(schema={}, versions=("v1", "v2")))
    for version in ("v1", "v2"):
        doc = builder.v3_document("stable.example.com", version)
        assert doc is not None
        crontab = doc["components"]["schemas"][f"com.example.stable.{version}.CronTab"]
        assert crontab["x-kubernetes-preserve-unknown-fields"] is True
        assert crontab["x-kubernetes-group-version-kind"][0]["version"] == version
        assert set(crontab["properties"]) == {"apiVersion", "kind", "metadata"}


def test_crd_schema_is_not_aliased(registry: Registry, builder: OpenAPIBuilder) -> None:
    crd = crontab_crd()
    registry.add_crd(crd)
    builder.v3_document("stable.example.com", "v1")
    assert "metadata" not in crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]


def test_concurrent_readers_and_crd_writers(registry: Registry, builder: OpenAPIBuilder) -> None:
    """Server threads read documents while CRDs come and go; every index entry must stay servable."""
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for path, doc in all_v3_docs(builder):
                    assert doc["components"]["schemas"], path
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(20):
        crd = crontab_crd()
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = f"revision {i}"
        registry.add_crd(crd)
        if i % 3 == 0:
            registry.remove_crd("crontabs.stable.example.com")
    stop.set()
    for t in threads:
        t.join()
    # A CRD can vanish between reading the index and fetching its document: that is a 404, not an error.
    assert not [e for e in errors if not (isinstance(e, AssertionError) and "stable.example.com" in str(e))]
    doc = builder.v3_document("stable.example.com", "v1")
    assert doc is not None
    assert doc["components"]["schemas"]["com.example.stable.v1.CronTab"]["description"] == "revision 19"


# -- v2 -----------------------------------------------------------------------------------------------

def test_v2_document(registry: Registry, builder: OpenAPIBuilder) -> None:
    registry.add_crd(crontab_crd())
    doc = builder.v2_document()
    assert doc["swagger"] == "2.0"
    definitions = doc["definitions"]
    assert definitions[DEPLOYMENT]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    count = 0
    for ref in refs(doc):
        assert ref.startswith(V2_REF), ref
        assert ref.removeprefix(V2_REF) in definitions, ref
        count += 1
    assert count > 1000
    containers = definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["items"] == {"$ref": V2_REF + "io.k8s.api.core.v1.Container"}
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    spec = definitions["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"]
    assert spec["$ref"] == V2_REF + "io.k8s.api.core.v1.PodTemplateSpec" and "allOf" not in spec
    crontab = definitions["com.example.stable.v1.CronTab"]
    assert crontab["x-kubernetes-group-version-kind"][0]["kind"] == "CronTab"
    spec_props = crontab["properties"]["spec"]["properties"]
    assert "nullable" not in spec_props["replicas"] and "anyOf" not in spec_props["size"]
    patch = doc["paths"][ITEM_PATH]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    # JSONSchemaProps has fields literally named like v3 keywords; conversion must keep them.
    assert {"not", "anyOf", "oneOf", "nullable", "$ref"} <= set(
        definitions["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"]["properties"])


def test_v2_document_follows_crd_changes(registry: Registry, builder: OpenAPIBuilder) -> None:
    first = builder.v2_document()
    assert "com.example.stable.v1.CronTab" not in first["definitions"]
    registry.add_crd(crontab_crd())
    assert "com.example.stable.v1.CronTab" in builder.v2_document()["definitions"]


# -- cost ---------------------------------------------------------------------------------------------


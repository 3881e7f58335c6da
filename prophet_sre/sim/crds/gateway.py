"""Gateway API (`gateway.networking.k8s.io`, standard channel: GatewayClass, Gateway, HTTPRoute; v1 stored,
v1beta1 served) and the Multi-Cluster Services `ServiceImport` (`multicluster.x-k8s.io/v1alpha1`).

The fleet's global traffic is one HTTPRoute whose weighted `backendRefs` point at one ServiceImport per
workload cluster; failing over is an ordinary patch of those weights, which is why these are real served
types rather than simulator internals.
"""

from __future__ import annotations

from prophet_sre.sim.crds.schema import (
    CONDITIONS,
    INTEGER,
    OPEN,
    STRING,
    Column,
    Obj,
    Version,
    age,
    array,
    condition_status,
    crd,
    obj,
    root_schema,
)

GROUP = "gateway.networking.k8s.io"
BUNDLE = {"gateway.networking.k8s.io/bundle-version": "v1.3.0", "gateway.networking.k8s.io/channel": "standard"}
CATEGORIES = ("gateway-api",)

_PARENT_REF = obj(group=STRING, kind=STRING, namespace=STRING, name=STRING, sectionName=STRING, port=INTEGER)
_BACKEND_REF = obj(group=STRING, kind=STRING, namespace=STRING, name=STRING, port=INTEGER,
                   weight={"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000000,
                           "description": "weight specifies the proportion of requests forwarded to the "
                                          "referenced backend (weight / sum of weights in the rule)."})


def _versions(kind: str, schema: Obj, cols: list[Column]) -> list[Version]:
    return [Version("v1", schema, cols, storage=True), Version("v1beta1", schema, cols)]


def gateway_class() -> Obj:
    schema = root_schema("GatewayClass", obj(controllerName=STRING, description=STRING, parametersRef=OPEN),
                         obj(conditions=CONDITIONS, supportedFeatures=array(OPEN)))
    cols = [Column("Controller", ".spec.controllerName"), condition_status("Accepted", "Accepted"),
            age("GatewayClass"), Column("Description", ".spec.description", priority=1)]
    return crd(GROUP, "GatewayClass", "gatewayclasses", _versions("GatewayClass", schema, cols), short=("gc",),
               categories=CATEGORIES, namespaced=False, annotations=BUNDLE)


def gateway() -> Obj:
    schema = root_schema("Gateway", obj(gatewayClassName=STRING, listeners=array(OPEN), addresses=array(OPEN)),
                         obj(conditions=CONDITIONS, addresses=array(obj(type=STRING, value=STRING)),
                             listeners=array(OPEN)))
    cols = [Column("Class", ".spec.gatewayClassName"), Column("Address", ".status.addresses[*].value"),
            condition_status("Programmed", "Programmed"), age("Gateway")]
    return crd(GROUP, "Gateway", "gateways", _versions("Gateway", schema, cols), short=("gtw",),
               categories=CATEGORIES, annotations=BUNDLE)


def http_route() -> Obj:
    rule = obj(matches=array(OPEN), filters=array(OPEN), backendRefs=array(_BACKEND_REF), timeouts=OPEN)
    schema = root_schema("HTTPRoute", obj(parentRefs=array(_PARENT_REF), hostnames=array(STRING), rules=array(rule)),
                         obj(parents=array(obj(parentRef=_PARENT_REF, controllerName=STRING, conditions=CONDITIONS))))
    cols = [Column("Hostnames", ".spec.hostnames"), age("HTTPRoute")]
    return crd(GROUP, "HTTPRoute", "httproutes", _versions("HTTPRoute", schema, cols), categories=CATEGORIES,
               annotations=BUNDLE)


def service_import() -> Obj:
    schema = root_schema("ServiceImport", obj(type=STRING, ips=array(STRING), ports=array(OPEN),
                                              sessionAffinity=STRING),
                         obj(clusters=array(obj(cluster=STRING))))
    cols = [Column("Type", ".spec.type", description="The type of this ServiceImport"),
            Column("IP", ".spec.ips", description="The VIP for this ServiceImport"), age("ServiceImport")]
    return crd("multicluster.x-k8s.io", "ServiceImport", "serviceimports",
               [Version("v1alpha1", schema, cols, storage=True)], short=("svcim",))


def gateway_crds() -> list[Obj]:
    return [gateway_class(), gateway(), http_route(), service_import()]

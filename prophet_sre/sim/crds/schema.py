"""Small builders for CustomResourceDefinition manifests, so each CRD module reads like its facts.

A CRD here is plain data (an `apiextensions.k8s.io/v1` object) that the simulated API server turns into
served types when it is stored. Schemas are deliberately *open*: the top-level fields a client reads are
declared with their types (so `kubectl explain` has something to show), and every object keeps
`x-kubernetes-preserve-unknown-fields`, because the simulator prunes and validates custom resources
against their schema (sim/crd_validation.py) and the providers' full schemas would be thousands of lines
of data: the declared fields are checked, everything else is kept as sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

OPEN: Obj = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
STRING: Obj = {"type": "string"}
INTEGER: Obj = {"type": "integer", "format": "int32"}
BOOLEAN: Obj = {"type": "boolean"}


def obj(doc: str = "", /, **properties: Obj) -> Obj:
    """An open object schema with some declared properties (`doc` is positional: `description` may be a field)."""
    out: Obj = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if doc:
        out["description"] = doc
    if properties:
        out["properties"] = properties
    return out


def array(items: Obj, description: str = "") -> Obj:
    out: Obj = {"type": "array", "items": items}
    if description:
        out["description"] = description
    return out


CONDITIONS = array(obj("A metav1.Condition.", type=STRING, status=STRING, reason=STRING, message=STRING,
                       lastTransitionTime={"type": "string", "format": "date-time"},
                       observedGeneration={"type": "integer", "format": "int64"}),
                   "conditions represent the observations of the object's current state.")


def root_schema(kind: str, spec: Obj, status: Obj | None = None) -> Obj:
    """The openAPIV3Schema of a kind: apiVersion, kind, metadata, spec and status."""
    props: Obj = {
        "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this "
                                                        "representation of an object."},
        "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this "
                                                  "object represents."},
        "metadata": {"type": "object"},
        "spec": spec,
    }
    if status is not None:
        props["status"] = status
    return {"type": "object", "description": f"{kind} is the Schema for the {kind} API.", "properties": props}


@dataclass(frozen=True)
class Column:
    """One additionalPrinterColumns entry."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def as_dict(self) -> Obj:
        out: Obj = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out


def age(kind: str) -> Column:
    return Column("Age", ".metadata.creationTimestamp", "date", f"Time duration since creation of {kind}")


def condition_status(name: str, ctype: str, description: str = "", priority: int = 0) -> Column:
    return Column(name, f'.status.conditions[?(@.type=="{ctype}")].status', "string", description, priority)


@dataclass
class Version:
    """One entry of spec.versions."""

    name: str
    schema: Obj
    columns: list[Column] = field(default_factory=list)
    storage: bool = False
    served: bool = True
    deprecated: bool = False
    status: bool = True
    scale: bool = False

    def as_dict(self) -> Obj:
        out: Obj = {"name": self.name, "served": self.served, "storage": self.storage,
                    "schema": {"openAPIV3Schema": self.schema}}
        sub: Obj = {}
        if self.status:
            sub["status"] = {}
        if self.scale:
            sub["scale"] = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector"}
        if sub:
            out["subresources"] = sub
        if self.columns:
            out["additionalPrinterColumns"] = [c.as_dict() for c in self.columns]
        if self.deprecated:
            out["deprecated"] = True
        return out


def crd(group: str, kind: str, plural: str, versions: list[Version], *, short: tuple[str, ...] = (),
        categories: tuple[str, ...] = (), namespaced: bool = True, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None) -> Obj:
    """A complete CustomResourceDefinition object."""
    names: Obj = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()}
    if short:
        names["shortNames"] = list(short)
    if categories:
        names["categories"] = list(categories)
    meta: Obj = {"name": f"{plural}.{group}"}
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": meta,
        "spec": {"group": group, "names": names, "scope": "Namespaced" if namespaced else "Cluster",
                 "versions": [v.as_dict() for v in versions]},
    }

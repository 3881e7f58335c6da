"""Cross-checks that need the whole scenario: does every name point at something that will exist?

A fault on `shop/deployment/backnd`, a check on a Service setup never creates, or a rollout to an image
nobody described would make a scenario fail for the wrong reason - or worse, pass. So every target,
check subject, traffic end and expected root cause must resolve: its cluster is one of `clusters`, its
kind is a served type in that cluster (as kubectl resolves `deploy`), and the object is created by
`setup` or exists already (a node, CoreDNS, a system namespace). Problems name the field path and list
the names that would have been valid.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.errors import InvalidInput
from prophet_sre.sim.registry import ResourceType
from prophet_sre.sim.scenario.checks import check_form
from prophet_sre.sim.scenario.fault_specs import ClusterDegradedFault, Fault
from prophet_sre.sim.scenario.images import ImageCheck
from prophet_sre.sim.scenario.manifests import Inventory
from prophet_sre.sim.scenario.models import Scenario
from prophet_sre.sim.scenario.problems import join_path, problem
from prophet_sre.sim.scenario.refs import ApiPath, Namespace, NsName, Ref

CHECK_TYPES: dict[str, tuple[str, str]] = {
    "deployment": ("apps", "deployments"), "statefulset": ("apps", "statefulsets"),
    "daemonset": ("apps", "daemonsets"), "pod": ("", "pods"), "service": ("", "services"),
    "pvc": ("", "persistentvolumeclaims"),
}
"""Check form -> the (group, plural) its `NS/NAME` subject names."""
TRAFFIC_TYPES = {"service": ("", "services"), "deployment": ("apps", "deployments"),
                 "statefulset": ("apps", "statefulsets"), "daemonset": ("apps", "daemonsets"), "pod": ("", "pods")}


class Resolver:
    """Resolves refs against the per-cluster inventories, appending problems as it goes."""

    def __init__(self, inventories: dict[str, Inventory], default_cluster: str, source: str) -> None:
        self.inventories = inventories
        self.default_cluster = default_cluster
        self.source = source
        self.errors: list[InvalidInput] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(problem(self.source, path, message))

    def inventory(self, cluster: str, path: str) -> Inventory | None:
        name = cluster or self.default_cluster
        inv = self.inventories.get(name)
        if inv is None:
            self.fail(path, f"cluster {name!r} is not one of this scenario's clusters; allowed: "
                            + ", ".join(self.inventories))
        return inv

    def kind(self, inv: Inventory, kind: str, path: str) -> ResourceType | None:
        found = inv.registry.find(kind)
        if not found:
            self.fail(path, f"unknown kind {kind!r} in cluster {inv.cluster!r} (not a built-in type and no "
                            "CustomResourceDefinition defines it); e.g. deployment, pod, service, node, configmap")
            return None
        return found[0]

    def ref(self, ref: Ref, path: str, *, cluster: str = "") -> ResourceType | None:
        """Check that `ref` names an object that exists once setup is applied."""
        inv = self.inventory(ref.cluster or cluster, path)
        if inv is None:
            return None
        rt = self.kind(inv, ref.kind, path)
        if rt is None:
            return None
        if rt.namespaced and not ref.namespace:
            self.fail(path, f"{rt.kind} is namespaced: write NS/{ref.kind}/{ref.name}")
            return None
        if not rt.namespaced and ref.namespace:
            self.fail(path, f"{rt.kind} is cluster-scoped: write /{ref.kind}/{ref.name}")
            return None
        self.exists(inv, rt, ref.namespace, ref.name, path)
        return rt

    def exists(self, inv: Inventory, rt: ResourceType, namespace: str, name: str, path: str) -> bool:
        if inv.get(rt, namespace, name) is not None:
            return True
        what = f"{namespace}/{name}" if namespace else name
        self.fail(path, f"{rt.kind} {what} does not exist in cluster {inv.cluster!r} and is not created by "
                        f"setup; {inv.hint(rt)}")
        return False

    def typed(self, cluster: str, group: str, plural: str, namespace: str, name: str, path: str) -> None:
        inv = self.inventory(cluster, path)
        if inv is None:
            return
        rt = inv.registry.storage_type(group, plural)
        if rt is None:
            self.fail(path, f"no resource {plural}{'.' + group if group else ''} in cluster {inv.cluster!r}")
            return
        self.exists(inv, rt, namespace, name, path)

    def namespace(self, cluster: str, namespace: str, path: str) -> None:
        inv = self.inventory(cluster, path)
        if inv is not None and not inv.has_namespace(namespace):
            ns_rt = inv.registry.get("", "v1", "namespaces")
            assert ns_rt is not None
            self.fail(path, f"namespace {namespace!r} is not created by setup and does not exist; {inv.hint(ns_rt)}")


def check_references(scenario: Scenario, inventories: dict[str, Inventory], images: ImageCheck,
                     source: str) -> list[InvalidInput]:
    """Every reference problem of the scenario (empty when all names resolve)."""
    r = Resolver(inventories, scenario.default_cluster, source)
    _consistency(scenario, r)
    for i, fault in enumerate(scenario.faults):
        _fault(fault, join_path("faults", i), r, images, scenario.images)
    for i, edge in enumerate(scenario.traffic):
        for name, end in zip(("from", "to"), edge.ends(), strict=True):
            _traffic_end(end, join_path("traffic", i, name), r)
    expect = scenario.expect
    if expect.diagnosis is not None and expect.diagnosis.root_cause is not None:
        r.ref(expect.diagnosis.root_cause, "expect.diagnosis.root_cause")
    if expect.actions is not None:
        for group in ("any_of", "forbidden"):
            for i, match in enumerate(getattr(expect.actions, group)):
                if match.target is not None:
                    r.ref(match.target, join_path("expect.actions", group, i, "target"))
    for i, check in enumerate(expect.recovered):
        _check(check, join_path("expect.recovered", i), r)
    return r.errors


def _consistency(scenario: Scenario, r: Resolver) -> None:
    diag = scenario.expect.diagnosis
    if diag is not None and diag.category != scenario.category:
        r.fail("expect.diagnosis.category", f"{diag.category.value!r} disagrees with the scenario's category "
                                            f"{scenario.category.value!r} (which is the right diagnosis)")
    trigger = scenario.trigger
    if scenario.expect.answer_mentions and (trigger is None or trigger.type != "question"):
        r.fail("expect.answer_mentions", "only meaningful with trigger.type: question")


def check_fault(fault: Fault, inventory: Inventory, images: ImageCheck, source: str,
                path: str = "") -> list[InvalidInput]:
    """The reference problems of one runtime fault against one (live) cluster."""
    r = Resolver({inventory.cluster: inventory}, inventory.cluster, source)
    _fault(fault, path, r, images, {})
    return r.errors


def _fault(fault: Fault, path: str, r: Resolver, images: ImageCheck, declared: dict[str, Any]) -> None:
    named = fault.target_cluster()
    if fault.cluster:
        r.inventory(fault.cluster, join_path(path, "cluster"))
        clash = [str(ref) for _, ref in fault.refs() if ref.cluster and ref.cluster != fault.cluster]
        if clash:
            r.fail(join_path(path, "cluster"), f"cluster {fault.cluster!r} contradicts {', '.join(clash)}")
    spec = fault.spec
    if isinstance(spec, ClusterDegradedFault):
        r.inventory(spec.cluster, join_path(path, fault.kind, "cluster"))
    for sub, ref in fault.refs():
        r.ref(ref, join_path(path, *sub.split(".")), cluster=named)
    image = fault.image()
    if image is not None and images.knows(image, declared) is False:
        r.fail(join_path(path, fault.kind, "image"),
               f"image {image!r} is neither in the built-in catalog nor in this scenario's images: "
               f"(declared: {', '.join(declared) or 'none'})")


def _traffic_end(end: Ref, path: str, r: Resolver) -> None:
    inv = r.inventory(end.cluster, path)
    if inv is None:
        return
    kinds = [end.kind] if end.kind != "*" else list(TRAFFIC_TYPES)
    for kind in kinds:
        rt = inv.registry.storage_type(*TRAFFIC_TYPES[kind])
        if rt is not None and inv.get(rt, end.namespace, end.name) is not None:
            return
    what = "Service or workload" if end.kind == "*" else end.kind
    r.fail(path, f"no {what} {end.namespace}/{end.name} is created by setup or exists in cluster {inv.cluster!r}")


def _check(check: Any, path: str, r: Resolver) -> None:
    form = check_form(check)
    subject = getattr(check, form)
    if form in CHECK_TYPES and isinstance(subject, NsName):
        group, plural = CHECK_TYPES[form]
        r.typed(subject.cluster, group, plural, subject.namespace, subject.name, join_path(path, form))
    elif form == "pods" and isinstance(subject, Namespace):
        r.namespace(subject.cluster, subject.name, join_path(path, form))
    elif form == "no_pod_reason":
        ns: Namespace = check.namespace
        r.namespace(ns.cluster, ns.name, join_path(path, "namespace"))
    elif form in ("object", "unchanged") and isinstance(subject, ApiPath):
        _api_path(subject, join_path(path, form), r)


def _api_path(p: ApiPath, path: str, r: Resolver) -> None:
    inv = r.inventory(p.cluster, path)
    if inv is None:
        return
    rt = inv.registry.get(p.group, p.version, p.plural)
    if rt is None:
        r.fail(path, f"no resource {p.group}/{p.version}/{p.plural} is served in cluster {inv.cluster!r}")
        return
    if rt.namespaced != bool(p.namespace):
        r.fail(path, f"{rt.plural} are {'namespaced' if rt.namespaced else 'cluster-scoped'}: the path "
                     f"{'needs' if rt.namespaced else 'takes no'} a namespace segment")
        return
    r.exists(inv, rt, p.namespace, p.name, path)


__all__ = ["Resolver", "check_fault", "check_references"]

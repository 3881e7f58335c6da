"""Table printers for the smaller API groups: discovery, networking, RBAC, coordination, scheduling
and admission registration.

Roles, ClusterRoles, LimitRanges and CustomResourceDefinitions have no printer on a real server: they
get the generic `Name` / `Created At` table, which `tables.py` builds for any kind not listed here.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.sim.tables_common import (
    AGE,
    NAME,
    Column,
    Printer,
    RowContext,
    as_int,
    format_label_selector,
    name,
    spec,
    status,
    wide,
)
from prophet_sre.sim.tables_core import load_balancer_ingress

# -- EndpointSlice --------------------------------------------------------------------------------

ENDPOINTSLICE_COLUMNS = (
    NAME,
    Column("AddressType", description="addressType specifies the type of address carried by this "
                                      "EndpointSlice."),
    Column("Ports", description="ports specifies the list of network ports exposed by each endpoint in "
                                "this slice."),
    Column("Endpoints", description="endpoints is a list of unique endpoints in this slice."),
    AGE,
)


def _first_three(items: list[str], total: int) -> str:
    """`listWithMoreString`: three entries, then ` + N more...`; `<unset>` when there are none."""
    text = ",".join(items[:3])
    if total > 3:
        return f"{text} + {total - 3} more..."
    return text or "<unset>"


def endpointslice_cells(eps: dict, ctx: RowContext) -> list[Any]:
    ports = []
    for port in eps.get("ports") or []:
        if port.get("port") is not None:
            ports.append(str(as_int(port["port"])))
        elif port.get("name") is not None:
            ports.append(port["name"])
        else:
            ports.append("*")
    addresses = [a for ep in eps.get("endpoints") or [] for a in ep.get("addresses") or []]
    return [name(eps), eps.get("addressType") or "", _first_three(ports, len(ports)),
            _first_three(addresses, len(addresses)), ctx.age(eps)]


# -- networking.k8s.io ----------------------------------------------------------------------------

NETWORKPOLICY_COLUMNS = (
    NAME,
    Column("Pod-Selector", description="podSelector selects the pods to which this NetworkPolicy object "
                                       "applies."),
    AGE,
)


def networkpolicy_cells(np: dict, ctx: RowContext) -> list[Any]:
    return [name(np), format_label_selector(spec(np).get("podSelector") or {}), ctx.age(np)]


INGRESS_COLUMNS = (
    NAME,
    Column("Class", description="The name of the IngressClass resource that should be used for additional "
                                "configuration"),
    Column("Hosts", description="Hosts that incoming requests are matched against before the ingress rule"),
    Column("Address", description="Address is a list containing ingress points for the load-balancer"),
    Column("Ports", description="Ports of TLS configurations that open"),
    AGE,
)


def _ingress_hosts(rules: list[dict]) -> str:
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if more else text


def ingress_cells(ing: dict, ctx: RowContext) -> list[Any]:
    sp = spec(ing)
    class_name = sp.get("ingressClassName")
    return [name(ing), "<none>" if class_name is None else class_name, _ingress_hosts(sp.get("rules") or []),
            load_balancer_ingress(status(ing).get("loadBalancer")), "80, 443" if sp.get("tls") else "80",
            ctx.age(ing)]


INGRESSCLASS_COLUMNS = (
    NAME,
    Column("Controller", description="Controller that is responsible for handling this class"),
    Column("Parameters", description="A reference to a resource with additional parameters"),
    AGE,
)


def ingressclass_cells(ic: dict, ctx: RowContext) -> list[Any]:
    sp = spec(ic)
    params = sp.get("parameters")
    text = "<none>"
    if params is not None:
        text = params.get("kind") or ""
        if params.get("apiGroup") is not None:
            text += "." + params["apiGroup"]
        text += "/" + (params.get("name") or "")
    return [name(ic), sp.get("controller") or "", text, ctx.age(ic)]


# -- rbac.authorization.k8s.io --------------------------------------------------------------------

def _binding_columns(what: str) -> tuple[Column, ...]:
    return (
        NAME,
        Column("Role", description="RoleRef can reference a Role in the current namespace or a ClusterRole "
                                   "in the global namespace."),
        AGE,
        wide("Users", f"Users in the {what}"),
        wide("Groups", f"Groups in the {what}"),
        wide("ServiceAccounts", f"ServiceAccounts in the {what}"),
    )


ROLEBINDING_COLUMNS = _binding_columns("roleBinding")
CLUSTERROLEBINDING_COLUMNS = _binding_columns("clusterRoleBinding")


def binding_cells(binding: dict, ctx: RowContext) -> list[Any]:
    ref = binding.get("roleRef") or {}
    users: list[str] = []
    groups: list[str] = []
    sas: list[str] = []
    for subject in binding.get("subjects") or []:
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            sas.append(f"{subject.get('namespace') or ''}/{subject.get('name') or ''}")
        elif kind == "User":
            users.append(subject.get("name") or "")
        elif kind == "Group":
            groups.append(subject.get("name") or "")
    return [name(binding), f"{ref.get('kind') or ''}/{ref.get('name') or ''}", ctx.age(binding),
            ", ".join(users), ", ".join(groups), ", ".join(sas)]


# -- coordination / scheduling / admission --------------------------------------------------------

LEASE_COLUMNS = (
    NAME,
    Column("Holder", description="holderIdentity contains the identity of the holder of a current lease."),
    AGE,
)


def lease_cells(lease: dict, ctx: RowContext) -> list[Any]:
    return [name(lease), spec(lease).get("holderIdentity") or "", ctx.age(lease)]


PRIORITYCLASS_COLUMNS = (
    NAME,
    Column("Value", "integer", "value represents the integer value of this priority class."),
    Column("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be "
                                        "considered as the default priority for pods that do not have any "
                                        "priority class."),
    AGE,
    Column("PreemptionPolicy", description="preemptionPolicy is the Policy for preempting pods with lower "
                                           "priority."),
)


def priorityclass_cells(pc: dict, ctx: RowContext) -> list[Any]:
    return [name(pc), as_int(pc.get("value")), bool(pc.get("globalDefault")), ctx.age(pc),
            pc.get("preemptionPolicy") or "PreemptLowerPriority"]  # the apiserver's default


WEBHOOK_COLUMNS = (
    NAME,
    Column("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this "
                                  "configuration"),
    AGE,
)


def webhook_cells(cfg: dict, ctx: RowContext) -> list[Any]:
    return [name(cfg), len(cfg.get("webhooks") or []), ctx.age(cfg)]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("discovery.k8s.io", "EndpointSlice"): Printer(ENDPOINTSLICE_COLUMNS, endpointslice_cells),
    ("networking.k8s.io", "NetworkPolicy"): Printer(NETWORKPOLICY_COLUMNS, networkpolicy_cells),
    ("networking.k8s.io", "Ingress"): Printer(INGRESS_COLUMNS, ingress_cells),
    ("networking.k8s.io", "IngressClass"): Printer(INGRESSCLASS_COLUMNS, ingressclass_cells),
    ("rbac.authorization.k8s.io", "RoleBinding"): Printer(ROLEBINDING_COLUMNS, binding_cells),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): Printer(CLUSTERROLEBINDING_COLUMNS, binding_cells),
    ("coordination.k8s.io", "Lease"): Printer(LEASE_COLUMNS, lease_cells),
    ("scheduling.k8s.io", "PriorityClass"): Printer(PRIORITYCLASS_COLUMNS, priorityclass_cells),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): Printer(WEBHOOK_COLUMNS, webhook_cells),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): Printer(WEBHOOK_COLUMNS, webhook_cells),
}

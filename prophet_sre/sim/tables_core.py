"""Table printers for the core (`v1`) group, matching kube-apiserver's server-side printers.

Every cell is computed the way the real printer computes it (pod status precedence, `5 (3m ago)`
restarts, `<pending>` load balancers, the three-endpoint cap...) because `kubectl get` shows these
cells verbatim and users — and Prophet's own agent — read meaning into them. Cells for wide
(priority 1) columns are always present: the server sends them and kubectl hides them.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from prophet_sre.sim.tables_common import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    Column,
    Printer,
    RowContext,
    as_int,
    container_cells,
    desired_replicas,
    format_labels,
    meta,
    name,
    parse_time,
    quantity,
    spec,
    status,
    template_spec,
    wide,
)

# -- Pod ------------------------------------------------------------------------------------------

POD_COLUMNS = (
    NAME,
    Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column("Restarts", description="The number of times the containers in this pod have been restarted "
                                   "and when the last container in this pod has restarted."),
    AGE,
    wide("IP", "podIP address allocated to the pod. Routable at least within the cluster."),
    wide("Node", "NodeName indicates in which node this pod is scheduled."),
    wide("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node."),
    wide("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness."),
)

_POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def _condition_true(conditions: list[dict], ctype: str) -> bool:
    """True when the first condition of `ctype` has status True."""
    for cond in conditions:
        if cond.get("type") == ctype:
            return cond.get("status") == "True"
    return False


def _any_condition_true(conditions: list[dict], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conditions)


def _finished_at(container_status: dict) -> datetime | None:
    terminated = (container_status.get("lastState") or {}).get("terminated")
    if terminated is None:
        return None
    return parse_time(terminated.get("finishedAt") or "")


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if b is None:
        return a
    if a is None or b > a:
        return b
    return a


def _terminated_text(terminated: dict, prefix: str = "") -> str:
    reason = terminated.get("reason") or ""
    if reason:
        return prefix + reason
    signal = as_int(terminated.get("signal"))
    if signal:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{as_int(terminated.get('exitCode'))}"


def pod_cells(pod: dict, ctx: RowContext) -> list[Any]:
    """The pod row: the same precedence of reasons kubectl users know from `kubectl get pods`."""
    md, sp, st = meta(pod), spec(pod), status(pod)
    conditions = st.get("conditions") or []
    init_specs = sp.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(sp.get("containers") or []) + sum(1 for c in init_specs if c.get("restartPolicy") == "Always")
    ready = 0
    restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    sidecar_last: datetime | None = None

    phase = st.get("phase") or ""
    reason = st.get("reason") or phase
    for cond in conditions:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for i, cs in enumerate(st.get("initContainerStatuses") or []):
        count = as_int(cs.get("restartCount"))
        restarts += count
        finished = _finished_at(cs)
        last_restart = _later(last_restart, finished)
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += count
            sidecar_last = _later(sidecar_last, finished)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and as_int(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and cs.get("started") is True:
            if cs.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            reason = _terminated_text(terminated, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last
        has_running = False
        for cs in reversed(st.get("containerStatuses") or []):
            restarts += as_int(cs.get("restartCount"))
            last_restart = _later(last_restart, _finished_at(cs))
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_text(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _any_condition_true(conditions, "Ready") else "NotReady"

    if md.get("deletionTimestamp"):
        if st.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({ctx.since_dt(last_restart)} ago)"

    pod_ips = st.get("podIPs") or []
    ip = (pod_ips[0].get("ip") if pod_ips else None) or st.get("podIP") or "<none>"
    gates = sp.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        true_count = 0
        for gate in gates:
            for cond in conditions:
                if cond.get("type") == gate.get("conditionType"):
                    true_count += cond.get("status") == "True"
                    break
        gates_text = f"{true_count}/{len(gates)}"
    return [md.get("name") or "", f"{ready}/{total}", reason, restarts_text, ctx.since(md.get("creationTimestamp")),
            ip, sp.get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>", gates_text]


def pod_conditions(pod: dict) -> list[dict] | None:
    phase = status(pod).get("phase")
    if phase == "Succeeded":
        return _POD_SUCCEEDED
    if phase == "Failed":
        return _POD_FAILED
    return None


# -- Service / Endpoints --------------------------------------------------------------------------

SERVICE_COLUMNS = (
    NAME,
    Column("Type", description="type determines how the Service is exposed."),
    Column("Cluster-IP", description="clusterIP is the IP address of the service."),
    Column("External-IP", description="externalIPs is a list of IP addresses for which nodes in the "
                                      "cluster will also accept traffic for this service."),
    Column("Port(s)", description="The list of ports that are exposed by this service."),
    AGE,
    wide("Selector", "Route service traffic to pods with label keys and values matching this selector."),
)


def load_balancer_ingress(lb_status: dict | None) -> str:
    """IPs (or hostnames) of a load balancer, sorted and de-duplicated like the real stringer."""
    values = set()
    for ing in (lb_status or {}).get("ingress") or []:
        value = ing.get("ip") or ing.get("hostname")
        if value:
            values.add(value)
    return ",".join(sorted(values))


def _external_ip(sp: dict, st: dict, svc_type: str) -> str:
    external = sp.get("externalIPs") or []
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if svc_type == "LoadBalancer":
        lb = load_balancer_ingress(st.get("loadBalancer"))
        if external:
            return ",".join(([*lb.split(",")] if lb else []) + list(external))
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return sp.get("externalName") or ""
    return "<unknown>"


def _service_ports(ports: list[dict]) -> str:
    pieces = []
    for port in ports:
        proto = port.get("protocol") or "TCP"
        node_port = as_int(port.get("nodePort"))
        if node_port > 0:
            pieces.append(f"{as_int(port.get('port'))}:{node_port}/{proto}")
        else:
            pieces.append(f"{as_int(port.get('port'))}/{proto}")
    return ",".join(pieces) or "<none>"


def service_cells(svc: dict, ctx: RowContext) -> list[Any]:
    sp, st = spec(svc), status(svc)
    svc_type = sp.get("type") or "ClusterIP"  # the apiserver defaults it
    cluster_ips = sp.get("clusterIPs") or ([sp["clusterIP"]] if sp.get("clusterIP") else [])
    return [name(svc), svc_type, cluster_ips[0] if cluster_ips else "<none>", _external_ip(sp, st, svc_type),
            _service_ports(sp.get("ports") or []), ctx.age(svc), format_labels(sp.get("selector"))]


ENDPOINTS_COLUMNS = (
    NAME,
    Column("Endpoints", description="The set of all endpoints is the union of all subsets."),
    AGE,
)


def _host_port(ip: str, port: int) -> str:
    try:
        is_v6 = isinstance(ipaddress.ip_address(ip), ipaddress.IPv6Address)
    except ValueError:
        is_v6 = ":" in ip
    return f"[{ip}]:{port}" if is_v6 else f"{ip}:{port}"


def format_endpoints(endpoints: dict) -> str:
    """At most three `ip:port` entries, then ` + N more...`; `<none>` when there are no subsets."""
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit, count, more = 3, 0, False
    for subset in subsets:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if not ports:
            count += len(addresses)
            for addr in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(addr.get("ip") or "")
            continue
        for port in ports:
            count += len(addresses)
            for addr in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(_host_port(addr.get("ip") or "", as_int(port.get("port"))))
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def endpoints_cells(ep: dict, ctx: RowContext) -> list[Any]:
    return [name(ep), format_endpoints(ep), ctx.age(ep)]


# -- Node / Namespace -----------------------------------------------------------------------------

NODE_COLUMNS = (
    NAME,
    Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"),
    AGE,
    Column("Version", description="Kubelet Version reported by the node."),
    wide("Internal-IP", "List of addresses reachable to the node."),
    wide("External-IP", "List of addresses reachable to the node."),
    wide("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    wide("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    wide("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API "
                              "(e.g. containerd://1.4.2)."),
)

_ROLE_PREFIX = "node-role.kubernetes.io/"


def node_roles(labels: dict) -> str:
    roles = set()
    for key, value in labels.items():
        if key.startswith(_ROLE_PREFIX):
            role = key[len(_ROLE_PREFIX):]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(addresses: list[dict], kind: str) -> str:
    for addr in addresses:
        if addr.get("type") == kind:
            return addr.get("address") or ""
    return "<none>"


def node_cells(node: dict, ctx: RowContext) -> list[Any]:
    st = status(node)
    states: list[str] = []
    ready = None
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Ready":
            ready = cond  # the last one wins, as with the real printer's map
    if ready is not None:
        states.append("Ready" if ready.get("status") == "True" else "NotReady")
    else:
        states.append("Unknown")
    if spec(node).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = st.get("nodeInfo") or {}
    addresses = st.get("addresses") or []
    return [name(node), ",".join(states), node_roles(meta(node).get("labels") or {}), ctx.age(node),
            info.get("kubeletVersion") or "",
            _node_address(addresses, "InternalIP"), _node_address(addresses, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


NAMESPACE_COLUMNS = (NAME, Column("Status", description="The status of the namespace"), AGE)


def namespace_cells(ns: dict, ctx: RowContext) -> list[Any]:
    return [name(ns), status(ns).get("phase") or "Active", ctx.age(ns)]


# -- ConfigMap / Secret / ServiceAccount ----------------------------------------------------------

CONFIGMAP_COLUMNS = (NAME, Column("Data", description="Data contains the configuration data."), AGE)
SECRET_COLUMNS = (
    NAME,
    Column("Type", description="Used to facilitate programmatic handling of secret data."),
    Column("Data", description="Data contains the secret data."),
    AGE,
)
SERVICEACCOUNT_COLUMNS = (
    NAME,
    Column("Secrets", description="Secrets is a list of the secrets in the same namespace that pods "
                                  "running using this ServiceAccount are allowed to use."),
    AGE,
)


def configmap_cells(cm: dict, ctx: RowContext) -> list[Any]:
    return [name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), ctx.age(cm)]


def secret_cells(secret: dict, ctx: RowContext) -> list[Any]:
    # stringData is merged into data on write; count the union in case a caller stored it as sent.
    keys = set(secret.get("data") or {}) | set(secret.get("stringData") or {})
    return [name(secret), secret.get("type") or "Opaque", len(keys), ctx.age(secret)]


def serviceaccount_cells(sa: dict, ctx: RowContext) -> list[Any]:
    return [name(sa), len(sa.get("secrets") or []), ctx.age(sa)]


# -- Event (core/v1 and events.k8s.io/v1 share one printer) ---------------------------------------

EVENT_COLUMNS = (
    Column("Last Seen", description="The time at which the most recent occurrence of this event was recorded."),
    Column("Type", description="Type of this event (Normal, Warning), new types could be added in the future"),
    Column("Reason", description="This should be a short, machine understandable string that gives the "
                                 "reason for the transition into the object's current status."),
    Column("Object", description="The object that this event is about."),
    wide("Subobject", "If referring to a piece of an object instead of an entire object, this string "
                      "should contain a valid JSON/Go field access statement."),
    wide("Source", "The component reporting this event."),
    Column("Message", description="A human-readable description of the status of this operation."),
    wide("First Seen", "The time at which the event was first recorded."),
    wide("Count", "The number of times this event has occurred."),
    Column("Name", format="name", priority=1, description=NAME.description),
)


def event_cells(ev: dict, ctx: RowContext) -> list[Any]:
    """A core/v1 event row."""
    return _event_row(ev, ctx, new_api=False)


def events_v1_cells(ev: dict, ctx: RowContext) -> list[Any]:
    """An events.k8s.io/v1 event row: the same printer, read through that API's field names
    (`regarding`, `note`, `deprecated*`), which is what the apiserver's conversion does."""
    return _event_row(ev, ctx, new_api=True)


def _event_row(ev: dict, ctx: RowContext, *, new_api: bool) -> list[Any]:
    involved = (ev.get("regarding") if new_api else ev.get("involvedObject")) or {}
    first_ts = ev.get("deprecatedFirstTimestamp" if new_api else "firstTimestamp")
    last_ts = ev.get("deprecatedLastTimestamp" if new_api else "lastTimestamp")
    count = as_int(ev.get("deprecatedCount" if new_api else "count"))
    source = (ev.get("deprecatedSource" if new_api else "source")) or {}
    message = ev.get("note" if new_api else "message") or ""

    first = ctx.since(first_ts) if first_ts else ctx.since(ev.get("eventTime"))
    last = ctx.since(last_ts) if last_ts else first
    series = ev.get("series")
    if series is not None:
        last = ctx.since(series.get("lastObservedTime"))
        count = as_int(series.get("count"))
    elif count == 0:
        count = 1

    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    component = source.get("component") or ev.get("reportingController") or ""
    instance = source.get("host") or ev.get("reportingInstance") or ""
    source_text = f"{component}, {instance}" if instance else component
    return [last, ev.get("type") or "", ev.get("reason") or "", target, involved.get("fieldPath") or "",
            source_text, message.strip(), first, count, name(ev)]


# -- ResourceQuota / ReplicationController --------------------------------------------------------

RESOURCEQUOTA_COLUMNS = (
    NAME,
    AGE,
    Column("Request", description="Request represents a minimum amount of cpu/memory that a container may "
                                  "consume."),
    Column("Limit", description="Limits control the maximum amount of cpu/memory that a container may use "
                                "independent of contention on the node."),
)


def resourcequota_cells(quota: dict, ctx: RowContext) -> list[Any]:
    st = status(quota)
    # A real quota controller copies spec.hard into status.hard at once; fall back for the same effect.
    hard = st.get("hard") or spec(quota).get("hard") or {}
    used = st.get("used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        text = f"{resource}: {quantity(used.get(resource))}/{quantity(hard[resource])}"
        pieces = resource.split(".")
        (limits if len(pieces) > 1 and pieces[0] == "limits" else requests).append(text)
    return [name(quota), ctx.age(quota), ", ".join(requests), ", ".join(limits)]


RC_COLUMNS = (
    NAME,
    Column("Desired", "integer", "Replicas is the number of desired replicas."),
    Column("Current", "integer", "Replicas is the most recently observed number of replicas."),
    Column("Ready", "integer", "The number of ready replicas for this replication controller."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "Selector is a label query over pods that should match the Replicas count."),
)


def rc_cells(rc: dict, ctx: RowContext) -> list[Any]:
    sp, st = spec(rc), status(rc)
    names, images = container_cells(template_spec(rc))
    return [name(rc), desired_replicas(sp), as_int(st.get("replicas")),
            as_int(st.get("readyReplicas")), ctx.age(rc), names, images, format_labels(sp.get("selector"))]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): Printer(POD_COLUMNS, pod_cells, pod_conditions),
    ("", "Service"): Printer(SERVICE_COLUMNS, service_cells),
    ("", "Endpoints"): Printer(ENDPOINTS_COLUMNS, endpoints_cells),
    ("", "Node"): Printer(NODE_COLUMNS, node_cells),
    ("", "Namespace"): Printer(NAMESPACE_COLUMNS, namespace_cells),
    ("", "ConfigMap"): Printer(CONFIGMAP_COLUMNS, configmap_cells),
    ("", "Secret"): Printer(SECRET_COLUMNS, secret_cells),
    ("", "ServiceAccount"): Printer(SERVICEACCOUNT_COLUMNS, serviceaccount_cells),
    ("", "Event"): Printer(EVENT_COLUMNS, event_cells),
    ("events.k8s.io", "Event"): Printer(EVENT_COLUMNS, events_v1_cells),
    ("", "ResourceQuota"): Printer(RESOURCEQUOTA_COLUMNS, resourcequota_cells),
    ("", "ReplicationController"): Printer(RC_COLUMNS, rc_cells),
}

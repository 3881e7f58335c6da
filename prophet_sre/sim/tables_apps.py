"""Table printers for workload controllers: apps, batch, autoscaling and policy.

`spec.replicas`, `minReplicas` and HPA metrics fall back to the values the apiserver's defaulting would
have stored (1, 1 and "cpu at 80%"), because a real server never returns an object without them and the
printed table must look like one read from a real server.
"""

from __future__ import annotations

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
    format_label_selector,
    format_labels,
    human_duration,
    int_or_string,
    meta,
    name,
    parse_time,
    quantity,
    selector_string,
    spec,
    status,
    template_spec,
    wide,
)

_READY = Column("Ready", description="Number of the pod with ready state")


def _selector_column(description: str) -> Column:
    return wide("Selector", description)


# -- Deployment / ReplicaSet / StatefulSet / DaemonSet --------------------------------------------

DEPLOYMENT_COLUMNS = (
    NAME,
    _READY,
    Column("Up-to-date", description="Total number of non-terminating pods targeted by this deployment "
                                     "that have the desired template spec."),
    Column("Available", description="Total number of available non-terminating pods (ready for at least "
                                    "minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    _selector_column("Label selector for pods. Existing ReplicaSets whose pods are selected by this will "
                     "be the ones affected by this deployment."),
)


def deployment_cells(dep: dict, ctx: RowContext) -> list[Any]:
    sp, st = spec(dep), status(dep)
    names, images = container_cells(template_spec(dep))
    try:
        selector = selector_string(sp.get("selector"))
    except ValueError:
        selector = "<invalid>"
    return [name(dep), f"{as_int(st.get('readyReplicas'))}/{desired_replicas(sp)}",
            as_int(st.get("updatedReplicas")), as_int(st.get("availableReplicas")), ctx.age(dep),
            names, images, selector]


REPLICASET_COLUMNS = (
    NAME,
    Column("Desired", "integer", "Replicas is the number of desired pods."),
    Column("Current", "integer", "Replicas is the most recently observed number of non-terminating pods."),
    Column("Ready", "integer", "The number of non-terminating pods targeted by this ReplicaSet with a "
                               "Ready Condition."),
    AGE,
    CONTAINERS,
    IMAGES,
    _selector_column("Selector is a label query over pods that should match the replica count."),
)


def replicaset_cells(rs: dict, ctx: RowContext) -> list[Any]:
    sp, st = spec(rs), status(rs)
    names, images = container_cells(template_spec(rs))
    return [name(rs), desired_replicas(sp), as_int(st.get("replicas")), as_int(st.get("readyReplicas")),
            ctx.age(rs), names, images, format_label_selector(sp.get("selector"))]


STATEFULSET_COLUMNS = (NAME, _READY, AGE, CONTAINERS, IMAGES)


def statefulset_cells(sts: dict, ctx: RowContext) -> list[Any]:
    names, images = container_cells(template_spec(sts))
    return [name(sts), f"{as_int(status(sts).get('readyReplicas'))}/{desired_replicas(spec(sts))}",
            ctx.age(sts), names, images]


DAEMONSET_COLUMNS = (
    NAME,
    Column("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
    Column("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are "
                                 "supposed to run the daemon pod."),
    Column("Ready", "integer", "numberReady is the number of nodes that should be running the daemon pod "
                               "and have one or more of the daemon pod running with a Ready Condition."),
    Column("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    Column("Available", "integer", "The number of nodes that should be running the daemon pod and have one "
                                   "or more of the daemon pod running and available."),
    Column("Node Selector", description="NodeSelector is a selector which must be true for the pod to fit "
                                        "on a node."),
    AGE,
    CONTAINERS,
    IMAGES,
    _selector_column("A label query over pods that are managed by the daemon set."),
)


def daemonset_cells(ds: dict, ctx: RowContext) -> list[Any]:
    st = status(ds)
    pod_spec = template_spec(ds)
    names, images = container_cells(pod_spec)
    return [name(ds), as_int(st.get("desiredNumberScheduled")), as_int(st.get("currentNumberScheduled")),
            as_int(st.get("numberReady")), as_int(st.get("updatedNumberScheduled")),
            as_int(st.get("numberAvailable")), format_labels(pod_spec.get("nodeSelector")), ctx.age(ds),
            names, images, format_label_selector(spec(ds).get("selector"))]


CONTROLLERREVISION_COLUMNS = (
    NAME,
    Column("Controller", description="Controller of the object"),
    Column("Revision", description="Revision indicates the revision of the state represented by Data."),
    AGE,
)


def controllerrevision_cells(cr: dict, ctx: RowContext) -> list[Any]:
    controller = "<none>"
    for ref in meta(cr).get("ownerReferences") or []:
        if ref.get("controller") is True:
            group = (ref.get("apiVersion") or "").rpartition("/")[0]
            kind = ref.get("kind") or ""
            group_kind = f"{kind}.{group}" if group else kind
            controller = f"{group_kind.lower()}/{ref.get('name') or ''}" if kind else ref.get("name") or ""
            break
    return [name(cr), controller, as_int(cr.get("revision")), ctx.age(cr)]


# -- Job / CronJob --------------------------------------------------------------------------------

JOB_COLUMNS = (
    NAME,
    Column("Status", description="Status of the job."),
    Column("Completions", description="The number of pods which reached phase Succeeded."),
    Column("Duration", description="Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    _selector_column("A label query over pods that should match the pod count."),
)


def _job_condition(conditions: list[dict], ctype: str) -> bool:
    """True when the first condition of `ctype` is True (what the real printer checks)."""
    for cond in conditions:
        if cond.get("type") == ctype:
            return cond.get("status") == "True"
    return False


def job_status(job: dict) -> str:
    conditions = status(job).get("conditions") or []
    if _job_condition(conditions, "Complete"):
        return "Complete"
    if _job_condition(conditions, "Failed"):
        return "Failed"
    if meta(job).get("deletionTimestamp"):
        return "Terminating"
    if _job_condition(conditions, "Suspended"):
        return "Suspended"
    if _job_condition(conditions, "FailureTarget"):
        return "FailureTarget"
    if _job_condition(conditions, "SuccessCriteriaMet"):
        return "SuccessCriteriaMet"
    return "Running"


def job_cells(job: dict, ctx: RowContext) -> list[Any]:
    sp, st = spec(job), status(job)
    succeeded = as_int(st.get("succeeded"))
    if sp.get("completions") is not None:
        completions = f"{succeeded}/{as_int(sp['completions'])}"
    elif as_int(sp.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {as_int(sp['parallelism'])}"
    else:
        completions = f"{succeeded}/1"
    duration = ""
    start = parse_time(st.get("startTime") or "")
    if start is not None:
        end = parse_time(st.get("completionTime") or "")
        duration = ctx.since_dt(start) if end is None else human_duration(end - start)
    names, images = container_cells(template_spec(job))
    return [name(job), job_status(job), completions, duration, ctx.age(job), names, images,
            format_label_selector(sp.get("selector"))]


CRONJOB_COLUMNS = (
    NAME,
    Column("Schedule", description="The schedule in Cron format."),
    Column("Timezone", description="The time zone name for the given schedule."),
    Column("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions."),
    Column("Active", "integer", "A list of pointers to currently running jobs."),
    Column("Last Schedule", description="Information when was the last time the job was successfully "
                                        "scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    _selector_column("A label query over pods that should match the pod count."),
)


def cronjob_cells(cj: dict, ctx: RowContext) -> list[Any]:
    sp, st = spec(cj), status(cj)
    last = st.get("lastScheduleTime")
    job_spec = (sp.get("jobTemplate") or {}).get("spec") or {}
    names, images = container_cells((job_spec.get("template") or {}).get("spec"))
    suspend = sp.get("suspend")
    return [name(cj), sp.get("schedule") or "", sp.get("timeZone") or "<none>",
            "True" if suspend else "False",  # defaulted to false by the apiserver
            len(st.get("active") or []), ctx.since(last) if last else "<none>", ctx.age(cj),
            names, images, format_label_selector(job_spec.get("selector"))]


# -- HorizontalPodAutoscaler ----------------------------------------------------------------------

HPA_COLUMNS = (
    NAME,
    Column("Reference", description="scaleTargetRef points to the target resource to scale."),
    Column("Targets", description="metrics contains the specifications for which to use to calculate the "
                                  "desired replica count."),
    Column("MinPods", description="minReplicas is the lower limit for the number of replicas to which the "
                                  "autoscaler can scale down."),
    Column("MaxPods", description="maxReplicas is the upper limit for the number of replicas to which the "
                                  "autoscaler can scale up."),
    Column("Replicas", description="currentReplicas is current number of replicas of pods managed by this "
                                   "autoscaler."),
    AGE,
)

_DEFAULT_METRICS = [{"type": "Resource", "resource": {
    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]


def _v1_metrics(sp: dict, st: dict) -> tuple[list[dict], list[dict]]:
    """autoscaling/v1's single CPU target, seen as the v2 metric it converts to."""
    target = sp.get("targetCPUUtilizationPercentage")
    specs = _DEFAULT_METRICS if target is None else [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]
    current = st.get("currentCPUUtilizationPercentage")
    statuses = [] if current is None else [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": current}}}]
    return specs, statuses


def _pct(value: Any) -> str:
    return f"{as_int(value)}%"


def _q(value: Any) -> str:
    return "<nil>" if value is None else quantity(value)


def _metric_text(metric: dict, current: dict | None) -> str:
    """One metric as `current/target`. `current` is the status at the same position, whatever its type
    (the real printer pairs them by index, so a mismatched status reads `<unknown>`)."""
    mtype = metric.get("type")
    key = _METRIC_KEYS.get(mtype or "")
    if key is None:
        return "<unknown type>"
    source = metric.get(key) or {}
    target = source.get("target") or {}
    block = (current or {}).get(key)
    cur = (block or {}).get("current") or {}
    if mtype in ("External", "Object"):
        if target.get("averageValue") is not None:
            now = _q(cur["averageValue"]) if block is not None and cur.get("averageValue") is not None \
                else "<unknown>"
            return f"{now}/{_q(target['averageValue'])} (avg)"
        now = _q(cur.get("value")) if block is not None else "<unknown>"
        return f"{now}/{_q(target.get('value'))}"
    if mtype == "Pods":
        now = _q(cur.get("averageValue")) if block is not None else "<unknown>"
        return f"{now}/{_q(target.get('averageValue'))}"
    resource = source.get("name") or ""
    if target.get("averageValue") is not None:
        now = _q(cur.get("averageValue")) if block is not None else "<unknown>"
        return f"{resource}: {now}/{_q(target['averageValue'])}"
    now = _pct(cur["averageUtilization"]) if block is not None and cur.get("averageUtilization") is not None \
        else "<unknown>"
    goal = _pct(target["averageUtilization"]) if target.get("averageUtilization") is not None else "<auto>"
    return f"{resource}: {now}/{goal}"


_METRIC_KEYS = {"External": "external", "Pods": "pods", "Object": "object", "Resource": "resource",
                "ContainerResource": "containerResource"}


def format_hpa_metrics(metrics: list[dict], statuses: list[dict]) -> str:
    """`cpu: 45%/80%, memory: <unknown>/1Gi + 1 more...` — at most two metrics, matched by position."""
    if not metrics:
        return "<none>"
    texts = [_metric_text(m, statuses[i] if i < len(statuses) else None) for i, m in enumerate(metrics)]
    if len(texts) > 2:
        return f"{', '.join(texts[:2])} + {len(texts) - 2} more..."
    return ", ".join(texts)


def _hpa_cells(hpa: dict, ctx: RowContext, *, v1: bool) -> list[Any]:
    sp, st = spec(hpa), status(hpa)
    if v1:
        metrics, statuses = _v1_metrics(sp, st)
    else:
        metrics = sp.get("metrics") or _DEFAULT_METRICS
        statuses = st.get("currentMetrics") or []
    ref = sp.get("scaleTargetRef") or {}
    min_replicas = sp.get("minReplicas")
    return [name(hpa), f"{ref.get('kind') or ''}/{ref.get('name') or ''}", format_hpa_metrics(metrics, statuses),
            "1" if min_replicas is None else str(as_int(min_replicas)), as_int(sp.get("maxReplicas")),
            as_int(st.get("currentReplicas")), ctx.age(hpa)]


def hpa_cells(hpa: dict, ctx: RowContext) -> list[Any]:
    return _hpa_cells(hpa, ctx, v1=False)


def hpa_v1_cells(hpa: dict, ctx: RowContext) -> list[Any]:
    # Objects already in the v2 shape (a store that does not convert on read) print as v2.
    return _hpa_cells(hpa, ctx, v1="metrics" not in spec(hpa))


# -- PodDisruptionBudget --------------------------------------------------------------------------

PDB_COLUMNS = (
    NAME,
    Column("Min Available", description="The minimum number of pods that must be available."),
    Column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
    Column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    AGE,
)


def pdb_cells(pdb: dict, ctx: RowContext) -> list[Any]:
    sp = spec(pdb)
    min_available = sp.get("minAvailable")
    max_unavailable = sp.get("maxUnavailable")
    return [name(pdb), "N/A" if min_available is None else int_or_string(min_available),
            "N/A" if max_unavailable is None else int_or_string(max_unavailable),
            as_int(status(pdb).get("disruptionsAllowed")), ctx.age(pdb)]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("apps", "Deployment"): Printer(DEPLOYMENT_COLUMNS, deployment_cells),
    ("apps", "ReplicaSet"): Printer(REPLICASET_COLUMNS, replicaset_cells),
    ("apps", "StatefulSet"): Printer(STATEFULSET_COLUMNS, statefulset_cells),
    ("apps", "DaemonSet"): Printer(DAEMONSET_COLUMNS, daemonset_cells),
    ("apps", "ControllerRevision"): Printer(CONTROLLERREVISION_COLUMNS, controllerrevision_cells),
    ("batch", "Job"): Printer(JOB_COLUMNS, job_cells),
    ("batch", "CronJob"): Printer(CRONJOB_COLUMNS, cronjob_cells),
    ("autoscaling", "HorizontalPodAutoscaler"): Printer(HPA_COLUMNS, hpa_cells),
    ("policy", "PodDisruptionBudget"): Printer(PDB_COLUMNS, pdb_cells),
}
HPA_V1_PRINTER = Printer(HPA_COLUMNS, hpa_v1_cells)
"""autoscaling/v1 objects carry `targetCPUUtilizationPercentage` instead of `metrics`."""

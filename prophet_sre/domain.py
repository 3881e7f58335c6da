"""Prophet's domain contracts (DESIGN.md §4), shared by the agents, the evals and the simulator.

It starts with the one enum the scenario format and the diagnoser must agree on; the other contracts
(`ResourceRef`, `Finding`, `Diagnosis`, `Action`, `Plan`, ...) grow here as they are built, so that
every layer names things the same way.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """What kind of problem a diagnosis names; the scenario's `category` is the right answer.

    A closed set: scenario files and the diagnoser's structured output are validated against it, so a
    new category is a change here (and in the runbooks that cover it), never a free-form string.
    """

    OOM = "oom"
    CRASHLOOP = "crashloop"
    IMAGE_PULL = "image_pull"
    BAD_ROLLOUT = "bad_rollout"
    UNSCHEDULABLE = "unschedulable"
    PROBE_MISCONFIG = "probe_misconfig"
    SERVICE_SELECTOR = "service_selector"
    PVC_PENDING = "pvc_pending"
    CONFIG_MISSING = "config_missing"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    QUOTA = "quota"
    NODE_FAILURE = "node_failure"
    DNS = "dns"
    NETWORK_THREAT = "network_threat"
    CLUSTER_DEGRADED = "cluster_degraded"
    RBAC = "rbac"
    UNKNOWN = "unknown"


__all__ = ["Category"]

"""A fleet of simulated clusters managed with Cluster API: `prophet sim up --clusters mgmt,aws,gcp,azure`.

Role: run one `SimCluster` per name on a shared sim clock, make the first the Cluster API management
cluster of the others (CRDs, Cluster/MachineDeployment/Machine/... objects, `<name>-kubeconfig` secrets),
keep those objects' status in step with the workload clusters (health, scaling, `cluster_degraded` faults)
and route global traffic with a weighted Gateway API HTTPRoute. Limits: no conversion between CAPI API
versions, no MachineHealthCheck remediation, no machine templates or bootstrap configs as objects, and
`api_down` is simulated on the management side only (the workload API server keeps answering kubectl).
It must not import product code; product code reaches it only through the Kubernetes API.
"""

from __future__ import annotations

from prophet_sre.sim.fleet.controller import FAULT_KIND, FleetController
from prophet_sre.sim.fleet.fleet import DEFAULT_NAMES, SimFleet, parse_names
from prophet_sre.sim.fleet.metrics import exposition, samples
from prophet_sre.sim.fleet.objects import NAMESPACE
from prophet_sre.sim.fleet.providers import Provider, provider_for
from prophet_sre.sim.fleet.traffic import ROUTE_NAME, shares, shift_traffic, weights

__all__ = [
    "DEFAULT_NAMES",
    "FAULT_KIND",
    "NAMESPACE",
    "ROUTE_NAME",
    "FleetController",
    "Provider",
    "SimFleet",
    "exposition",
    "parse_names",
    "provider_for",
    "samples",
    "shares",
    "shift_traffic",
    "weights",
]

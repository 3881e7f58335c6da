"""capi: a fleet of clusters through its Cluster API management cluster.

Role: `FleetInventory` lists the workload clusters (`ClusterInfo`: phase, provider from
`infrastructureRef.kind`, replica counts, key conditions, MachineDeployments), builds cached clients for
them from their `<name>-kubeconfig` Secrets, judges their health (`FleetHealth`) and reads the global
traffic weights (Gateway API HTTPRoute); `CapiSource` turns unhealthy clusters into findings.
Limits: read-only (failover and `scale_nodes` are actions, elsewhere); CAPI v1beta2 only; nothing here
knows about the simulator.
"""

from prophet_sre.tools.capi.health import Probe
from prophet_sre.tools.capi.inventory import FleetInventory
from prophet_sre.tools.capi.models import ClusterHealth, ClusterInfo, Condition, FleetHealth, TrafficSplit
from prophet_sre.tools.capi.source import CapiSource

__all__ = ["CapiSource", "ClusterHealth", "ClusterInfo", "Condition", "FleetHealth", "FleetInventory", "Probe",
           "TrafficSplit"]

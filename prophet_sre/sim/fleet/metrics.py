"""Fleet gauges on the management cluster's `/metrics`: `fleet_cluster_available{cluster}`,
`fleet_traffic_weight{cluster}` and `fleet_traffic_share{cluster}`.

`SimFleet.setup` registers `exposition` as a `metrics_text` contributor of the management cluster (the
hook `sim/metrics` offers), so the gauges are scraped with everything else. Values are read fresh on
every scrape: each Cluster object's Available condition and the stored HTTPRoute weights - what an
agent patched is what the next scrape shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prophet_sre.sim.metrics.text import sample

if TYPE_CHECKING:
    from prophet_sre.sim.fleet.fleet import SimFleet

HELP = {
    "fleet_cluster_available": "1 if the workload cluster's Cluster API Cluster object is Available, else 0.",
    "fleet_traffic_weight": "Weight of the workload cluster's backend in the global HTTPRoute.",
    "fleet_traffic_share": "Fraction of global traffic routed to the workload cluster (weight / total weight).",
}


@dataclass(frozen=True)
class Sample:
    name: str
    cluster: str
    value: float


def samples(fleet: SimFleet) -> list[Sample]:
    out = [Sample("fleet_cluster_available", c, 1.0 if ok else 0.0) for c, ok in fleet.cluster_available().items()]
    out += [Sample("fleet_traffic_weight", c, float(w)) for c, w in fleet.traffic_weights().items()]
    out += [Sample("fleet_traffic_share", c, s) for c, s in fleet.traffic_shares().items()]
    return out


def exposition(fleet: SimFleet) -> str:
    """The samples in Prometheus text format (0.0.4), grouped by metric with HELP and TYPE lines."""
    lines: list[str] = []
    by_name: dict[str, list[Sample]] = {}
    for s in samples(fleet):
        by_name.setdefault(s.name, []).append(s)
    for name, group in by_name.items():
        lines += [f"# HELP {name} {HELP[name]}", f"# TYPE {name} gauge"]
        lines += [sample(name, (("cluster", s.cluster),), s.value) for s in group]
    return "\n".join(lines) + ("\n" if lines else "")

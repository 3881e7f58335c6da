"""`/metrics` of the simulated cluster: kube-state-metrics, cAdvisor, app, CoreDNS and Hubble series.

`MetricsServer(ctx)` serves them over plain HTTP on its own port (`SimCluster.metrics_url`); its
`controllers()` sample container usage on the sim clock. It only reads: the store, the traffic model's
counters (`ctx.extras["traffic"]`) and the behaviour model's usage (`ctx.extras["usage"]`); it never
writes objects. Counters advance in sim time (see `prophet_sre.sim.traffic.counters`).
"""

from prophet_sre.sim.metrics.server import ClusterMetrics, MetricsServer
from prophet_sre.sim.metrics.text import CONTENT_TYPE, Exposition

__all__ = ["CONTENT_TYPE", "ClusterMetrics", "Exposition", "MetricsServer"]

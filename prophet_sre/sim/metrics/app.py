"""Application, CoreDNS and Hubble series, read from the traffic model's exact counters.

Names and labels are those of the real exporters (CoreDNS's `metrics` plugin, Hubble's `flow`, `drop`,
`dns`, `tcp` and `httpV2` handlers) plus a conventional instrumented-app set (`http_requests_total`,
`http_request_duration_seconds`, `db_pool_*`). CoreDNS and DB-pool series carry the `pod` they come
from, as a Prometheus with Kubernetes service discovery would attach it; the application's HTTP
series are per Service. A few `prophet_sim_*` gauges say how sim time relates to wall time, so a
reader can turn a wall-clock `rate()` back into per-sim-second rates (see `counters.py`).
"""

from __future__ import annotations

from prophet_sre.sim.clock import SimClock
from prophet_sre.sim.metrics.text import Exposition, fmt_value, sample
from prophet_sre.sim.traffic.counters import BUCKETS, TrafficCounters

COREDNS_SERVER = (("server", "dns://:53"), ("zone", "."), ("view", ""))


def collect(exp: Exposition, counters: TrafficCounters | None, clock: SimClock, cluster: str) -> None:
    sim = exp.family("prophet_sim_elapsed_seconds", "gauge", "Sim seconds since the simulated cluster started.")
    sim.add((("cluster", cluster),), round(clock.elapsed(), 3))
    exp.family("prophet_sim_clock_speed", "gauge", "Sim seconds per wall second.").add((("cluster", cluster),),
                                                                                         clock.speed)
    if counters is None:
        return
    with counters.lock:
        _http(exp, counters)
        _pools(exp, counters)
        _coredns(exp, counters)
        _hubble(exp, counters)


def _http(exp: Exposition, c: TrafficCounters) -> None:
    reqs = exp.family("http_requests_total", "counter", "Total HTTP requests served, by service, code and method.")
    for (ns, svc, code, method), n in sorted(c.http_requests.items()):
        reqs.add((("namespace", ns), ("service", svc), ("code", code), ("method", method)), n)
    dur = exp.family("http_request_duration_seconds", "histogram", "HTTP request latency, by service.")
    for (ns, svc), h in sorted(c.http_duration.items()):
        base = (("namespace", ns), ("service", svc))
        cum = 0
        for le, k in zip(BUCKETS, h.counts, strict=False):
            cum += k
            dur.lines.append(sample("http_request_duration_seconds_bucket", (*base, ("le", fmt_value(le))), cum))
        dur.lines.append(sample("http_request_duration_seconds_bucket", (*base, ("le", "+Inf")), h.count))
        dur.lines.append(sample("http_request_duration_seconds_sum", base, h.total))
        dur.lines.append(sample("http_request_duration_seconds_count", base, h.count))


def _pools(exp: Exposition, c: TrafficCounters) -> None:
    fams = {
        "in_use": exp.family("db_pool_connections_in_use", "gauge", "Connections of the client pool in use."),
        "max": exp.family("db_pool_connections_max", "gauge", "Size of the client connection pool."),
        "waiting": exp.family("db_pool_connections_waiting", "gauge", "Requests waiting for a pool connection."),
        "wait": exp.family("db_pool_wait_seconds_total", "counter", "Total time spent waiting for a connection."),
        "timeouts": exp.family("db_pool_timeouts_total", "counter", "Connection requests that timed out."),
    }
    for (ns, svc, pod, target), g in sorted(c.pools.items()):
        labels = (("namespace", ns), ("service", svc), ("pod", pod), ("pool", target))
        fams["in_use"].add(labels, round(g.in_use, 3))
        fams["max"].add(labels, g.max)
        fams["waiting"].add(labels, round(g.waiting, 3))
        fams["wait"].add(labels, round(g.wait_total_s, 6))
        fams["timeouts"].add(labels, g.timeouts_total)


def _coredns(exp: Exposition, c: TrafficCounters) -> None:
    reqs = exp.family("coredns_dns_requests_total", "counter", "Counter of DNS requests made per zone, protocol and "
                                                               "family.")
    for (pod, qtype), n in sorted(c.dns_requests.items()):
        reqs.add((("namespace", "kube-system"), ("pod", pod), *COREDNS_SERVER, ("proto", "udp"), ("family", "1"),
                  ("type", qtype)), n)
    resp = exp.family("coredns_dns_responses_total", "counter", "Counter of response status codes.")
    for (pod, rcode), n in sorted(c.dns_responses.items()):
        plugin = "kubernetes" if rcode in ("NOERROR", "NXDOMAIN") else ""
        resp.add((("namespace", "kube-system"), ("pod", pod), *COREDNS_SERVER, ("rcode", rcode), ("plugin", plugin)), n)


def _hubble(exp: Exposition, c: TrafficCounters) -> None:
    flows = exp.family("hubble_flows_processed_total", "counter", "Total number of flows processed")
    for (proto, typ, sub, verdict), n in sorted(c.hubble_flows.items()):
        flows.add((("protocol", proto), ("type", typ), ("subtype", sub), ("verdict", verdict)), n)
    drops = exp.family("hubble_drop_total", "counter", "Number of drops")
    for (reason, proto), n in sorted(c.hubble_drops.items()):
        drops.add((("reason", reason), ("protocol", proto)), n)
    q = exp.family("hubble_dns_queries_total", "counter", "Number of DNS queries observed")
    for (rcode, qtypes, ips), n in sorted(c.hubble_dns_queries.items()):
        q.add((("rcode", rcode), ("qtypes", qtypes), ("ips_returned", ips)), n)
    r = exp.family("hubble_dns_responses_total", "counter", "Number of DNS responses observed")
    for (rcode, qtypes, ips), n in sorted(c.hubble_dns_responses.items()):
        r.add((("rcode", rcode), ("qtypes", qtypes), ("ips_returned", ips)), n)
    tcp = exp.family("hubble_tcp_flags_total", "counter", "TCP flag occurrences")
    for (flag, family), n in sorted(c.hubble_tcp_flags.items()):
        tcp.add((("flag", flag), ("family", family)), n)
    http = exp.family("hubble_http_requests_total", "counter", "Count of HTTP requests")
    for (method, proto, status, reporter), n in sorted(c.hubble_http.items()):
        http.add((("method", method), ("protocol", proto), ("status", status), ("reporter", reporter)), n)

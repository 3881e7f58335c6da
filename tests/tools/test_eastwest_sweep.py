"""The fan-out detector's sweep criterion: a scan of a cluster too small to reach `min_peers` peers.

Pure: `eastwest.detect` over hand-made flows (no relay), so each case states exactly what was seen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prophet_sre.tools.eastwest import detect
from prophet_sre.tools.hubble_flows import FlowView, Peer

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SCANNER = Peer(ip="10.0.0.9", namespace="batch", pod="exporter-7c79c5bd7f-abcde", workload="exporter")


def _syn(src: Peer, peer: int, port: int, ago_s: float = 5.0) -> FlowView:
    dst = Peer(ip=f"10.0.1.{peer}", namespace="shop", pod=f"p{peer}-5bb7c8bcc9-xxxxx", workload=f"p{peer}")
    return FlowView(time=NOW - timedelta(seconds=ago_s), verdict="FORWARDED", source=src, destination=dst,
                    protocol="TCP", destination_port=port, flags=("SYN",), is_reply=False)


def _fanouts(flows: list[FlowView]) -> list[str]:
    return [f.ref.name for f in detect(flows, now=NOW).findings if f.analyzer == "eastwest.fanout"]


def test_a_sweep_of_six_ports_on_seven_pods_is_a_scan() -> None:
    flows = [_syn(SCANNER, p, port) for p in range(7) for port in (1433, 3306, 5432, 6379, 9042, 27017)]
    assert _fanouts(flows) == [SCANNER.pod]


def test_a_client_of_a_few_services_is_not() -> None:
    client = Peer(ip="10.0.0.8", namespace="shop", pod="frontend-5bb7c8bcc9-aaaaa", workload="frontend")
    few_ports = [_syn(client, p, port) for p in range(12) for port in (8080, 5432)]  # 24 pairs, 2 ports
    assert _fanouts(few_ports) == []


def test_a_sweep_no_wider_than_its_baseline_is_not() -> None:
    recent = [_syn(SCANNER, p, port) for p in range(7) for port in (1433, 3306, 5432, 6379, 9042, 27017)]
    usual = [_syn(SCANNER, p, port, ago_s=90.0) for p in range(7) for port in (1433, 3306, 5432, 6379, 9042, 27017)]
    assert _fanouts(recent + usual) == []


def _rst(src: Peer, peer: int, port: int, ago_s: float = 5.0) -> FlowView:
    """The RST a closed port answers `src`'s SYN with (a reply: from the peer back to the scanner)."""
    syn = _syn(src, peer, port, ago_s)
    return FlowView(time=syn.time, verdict="FORWARDED", source=syn.destination, destination=src, protocol="TCP",
                    source_port=port, flags=("RST", "ACK"), is_reply=True)


def test_a_scan_that_goes_on_stays_a_scan() -> None:
    """After one window the scan is its own baseline; its refused attempts still give it away."""
    ports = (22, 80, 443, 2379, 3306, 5432, 6379, 6443, 8080, 9200, 10250, 27017)

    def scan(ago_s: float) -> list[FlowView]:
        out = []
        for p in range(20):
            for port in ports:
                out.append(_syn(SCANNER, p, port, ago_s))
                if port != 8080:  # one port of twelve answers
                    out.append(_rst(SCANNER, p, port, ago_s))
        return out

    flows = scan(5.0) + scan(90.0) + scan(200.0)
    found = [f for f in detect(flows, now=NOW).findings if f.analyzer == "eastwest.fanout"]
    assert [f.ref.name for f in found] == [SCANNER.pod]
    assert found[0].evidence["failed"] == 20 * 11 and "refused or dropped" in found[0].errors[0]


def test_a_busy_client_whose_connections_succeed_is_not_a_scan() -> None:
    client = Peer(ip="10.0.0.7", namespace="monitoring", pod="scraper-5bb7c8bcc9-bbbbb", workload="scraper")
    steady = [_syn(client, p, port, ago) for ago in (5.0, 90.0, 200.0) for p in range(30) for port in (8080, 9090)]
    assert _fanouts(steady) == []  # 30 peers every window, as always, and no refusals

"""The simulated API server listens on the socket it reserved: no other process can take its port.

Many simulators, Prometheus servers and MCP servers start at once under `pytest -n`; a port chosen as
free and bound only later can be taken in between (`address already in use`). The cluster binds its
socket when it picks the port and serves on that same socket.
"""

from __future__ import annotations

import socket

import pytest

from prophet_sre.errors import ProphetError
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.tools.kube import KubeClient, Op


def test_the_reserved_port_is_held_from_the_start_and_served_on(tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = SimCluster(ClusterOptions())
    port = c.reserve_port()
    assert c.reserve_port() == port  # idempotent
    # asyncio sets TCP_NODELAY only on sockets that say they are TCP: with proto 0 every small response
    # waited ~40 ms on Nagle and delayed ACKs (the whole suite ran 50% slower)
    assert c._sock is not None and c._sock.proto == socket.IPPROTO_TCP
    with socket.socket() as other, pytest.raises(OSError):
        other.bind((c.options.host, port))  # nobody else can have it, even before the server starts
    c.start()
    try:
        assert c.port == port and c.url.endswith(f":{port}")
        kube = KubeClient.from_kubeconfig(c.write_kubeconfig(tmp_path / "kubeconfig"))
        try:
            ns = kube.get_json("/api/v1/namespaces", op=Op("list", "namespaces"))
        finally:
            kube.close()
        assert any(i["metadata"]["name"] == "default" for i in ns["items"])
    finally:
        c.stop()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((c.options.host, port))  # released on stop


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        c = SimCluster(ClusterOptions(port=taken.getsockname()[1]))
        with pytest.raises(ProphetError, match="cannot listen on 127.0.0.1"):
            c.start()
        c.stop()


def test_the_metrics_port_is_held_from_its_first_use_until_stop() -> None:
    """Prometheus is configured with `metrics_url` before the cluster starts (the eval worlds do so): the
    port must already be ours then (an eval run crashed on `address already in use` when it was not)."""
    import urllib.request

    c = SimCluster(ClusterOptions())
    url = c.metrics_url
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as other, pytest.raises(OSError):
        other.bind((c.options.host, port))
    c.start()
    try:
        assert c.metrics_url == url
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - our own simulator
            assert r.status == 200 and b"kube_pod_info" in r.read()
    finally:
        c.stop()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((c.options.host, port))  # released on stop
    unstarted = SimCluster(ClusterOptions())
    port = int(unstarted.metrics_url.rsplit(":", 1)[1].split("/")[0])
    unstarted.stop()  # never started: the reserved socket is closed all the same
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((unstarted.options.host, port))

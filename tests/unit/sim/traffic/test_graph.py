"""Parsing and validating traffic edges: the scenario `traffic:` contract and its error messages.

Covers: accepted forms (NS/NAME, NS/KIND/NAME, optional method/path/port), rejected fields and values,
unknown names at `load` (the error names the edge), graph orders. Routing itself: test_model.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from prophet_sre.sim.traffic import NodeRef, ServiceGraph, TrafficError, parse_edges


def test_edge_forms() -> None:
    edges = parse_edges([{"from": "shop/frontend", "to": "shop/svc/backend", "rps": 5, "method": "post",
                          "path": "/api", "port": 8080}])
    e = edges[0]
    assert e.source == NodeRef("shop", "frontend") and e.target == NodeRef("shop", "backend", "service")
    assert (e.rps, e.method, e.path, e.port) == (5.0, "POST", "/api", 8080)
    assert e.label == "shop/frontend -> shop/service/backend"


@pytest.mark.parametrize(("raw", "message"), [
    ({"from": "shop/a", "to": "shop/b", "rps": 1, "qps": 2}, "unknown field(s) qps"),
    ({"from": "shop/a", "to": "shop/b"}, "missing field 'rps'"),
    ({"from": "shop/a", "to": "shop/b", "rps": -1}, "rps must be a number >= 0"),
    ({"from": "shop", "to": "shop/b", "rps": 1}, "is not NS/NAME"),
    ({"from": "shop/configmap/a", "to": "shop/b", "rps": 1}, "unknown kind 'configmap'"),
    ({"from": "shop/a", "to": "shop/b", "rps": 1, "path": "api"}, "path must start with '/'"),
    ({"from": "shop/a", "to": "shop/b", "rps": 1, "port": 0}, "port must be an integer"),
])
def test_bad_edges_name_the_edge(raw: dict, message: str) -> None:
    with pytest.raises(TrafficError) as err:
        parse_edges([raw])
    assert message in str(err.value) and str(err.value).startswith("traffic[0]")


def test_unknown_names_are_an_error_naming_the_edge(shop: Any) -> None:
    with pytest.raises(TrafficError) as err:
        shop.model.load([{"from": "shop/frontend", "to": "shop/backend", "rps": 1},
                         {"from": "shop/frontend", "to": "shop/payments", "rps": 1}])
    assert "traffic[1] (shop/frontend -> shop/payments): to shop/payments" in str(err.value)
    assert len(shop.model.edges) == 2  # the old graph stays
    shop.model.load([{"from": "shop/frontend", "to": "shop/payments", "rps": 1}], strict=False)
    shop.run(3)
    assert shop.requests("frontend", "503") > 0  # a missing callee is a 503 at the caller


def test_graph_orders() -> None:
    g = ServiceGraph(parse_edges([{"from": "a/front", "to": "a/back", "rps": 1},
                                  {"from": "a/back", "to": "a/db", "rps": 1},
                                  {"from": "a/cron", "to": "a/db", "rps": 1}]))
    assert g.top_down.index("a/front") < g.top_down.index("a/back") < g.top_down.index("a/db")
    assert g.bottom_up[0] == "a/db" and set(g.roots) == {"a/front", "a/cron"}
    cyclic = ServiceGraph(parse_edges([{"from": "a/x", "to": "a/y", "rps": 1}, {"from": "a/y", "to": "a/x", "rps": 1}]))
    assert sorted(cyclic.top_down) == ["a/x", "a/y"] and not cyclic.roots

"""The image catalog: built-in lookups by tag pattern, scenario merges, validation paths, removal.

Covers the public `images:` contract (SCENARIOS.md): its example entries parse, unknown fields are
errors naming the path and the known fields, a scenario entry deep-merges over the built-in it resolves
to. Skips: the YAML loader of scenarios (the scenario engineer's), behaviour at run time (test_faults).
"""

from __future__ import annotations

import pytest
import yaml

from prophet_sre.sim.behaviour import Catalog, ImageCatalogError
from prophet_sre.sim.behaviour.images import expand_braces

SCENARIO_IMAGES = yaml.safe_load("""
shop/backend:2.2: {serves: {port: 8080, paths: ["/", "/healthz"]}, memory: {baseMi: 120}}
shop/backend:2.3: {serves: {port: 8080, paths: ["/", "/healthz"]}, memory: {baseMi: 120, leakMiPerMin: 300}}
""")


@pytest.mark.parametrize(("image", "key"), [
    ("nginx", "nginx"), ("nginx:1.27", "nginx"), ("nginx:1.25.5", "nginx"), ("nginx:1.28-alpine", "nginx"),
    ("nginx:1.14.2", "nginx"), ("docker.io/library/nginx:stable-alpine", "nginx"), ("nginx:nope", None),
    ("nginx:1.99", None), ("busybox:1.36", "busybox"), ("busybox", "busybox"), ("python:3.12-slim", "python"),
    ("postgres:16.4", "postgres"), ("redis:7-alpine", "redis"), ("mysql:8.0", "mysql"), ("httpd:2.4", "httpd"),
    ("registry.k8s.io/coredns/coredns:v1.12.0", "registry.k8s.io/coredns/coredns"),
    ("shop/frontend:1.0", "shop/frontend:1.0"), ("shop/backend:2.2", "shop/backend:2.2"),
    ("shop/backend:2.3", "shop/backend:2.3"), ("shop/backend:2.4", None), ("shop/db:1.0", "shop/db:1.0"),
    ("nginx@sha256:" + "a" * 64, "nginx"), ("myorg/app:1.0", None),
])
def test_builtin_lookup_by_tag_pattern(image: str, key: str | None) -> None:
    assert Catalog.builtin().key_for(image) == key


def test_builtin_facts_of_the_demo_app() -> None:
    c = Catalog.builtin()
    leak = c.lookup("shop/backend:2.3")
    assert leak is not None and leak.memory.leak_mi_per_min == 300 and leak.memory.base_mi == 120
    assert leak.version_for("2.3") == "2.3.0" and leak.serves[0].port == 8080
    healthy = c.lookup("shop/backend:2.2")
    assert healthy is not None and healthy.memory.leak_mi_per_min == 0
    db = c.lookup("shop/db:1.0")
    assert db is not None and db.pool is not None and db.pool.size == 100 and db.serves[0].protocol == "tcp"
    nginx = c.lookup("nginx:1.27")
    assert nginx is not None and nginx.version_for("1.27") == "1.27.5" and nginx.version_for("1.27.2-alpine") == "1.27.2"
    assert nginx.serves[0].code_for("/") == 200 and nginx.serves[0].code_for("/healthz") == 404


def test_scenario_example_merges_and_overrides() -> None:
    c = Catalog.builtin().merge(SCENARIO_IMAGES)
    spec = c.lookup("shop/backend:2.3")
    assert spec is not None and spec.memory.leak_mi_per_min == 300
    assert spec.serves[0].paths == ["/", "/healthz"]  # lists replace
    assert spec.logs.periodic  # mappings merge: the built-in log lines stay
    c2 = c.merge({"shop/backend:2.3": {"memory": {"leakMiPerMin": 50}}, "myapp:1.0": {"serves": {"port": 9000}}})
    assert c2.lookup("shop/backend:2.3").memory.leak_mi_per_min == 50  # type: ignore[union-attr]
    assert c2.lookup("shop/backend:2.3").memory.base_mi == 120  # type: ignore[union-attr]
    assert c2.lookup("myapp:1.0").serves[0].port == 9000  # type: ignore[union-attr]
    one = c2.merge({"nginx:1.27": {"serves": {"port": 80, "codes": {"/healthz": 200}}}})
    assert one.lookup("nginx:1.27").serves[0].code_for("/healthz") == 200  # type: ignore[union-attr]
    assert one.lookup("nginx:1.28").serves[0].code_for("/healthz") == 404  # type: ignore[union-attr]
    assert one.lookup("nginx:1.27").cmd == ["nginx", "-g", "daemon off;"]  # type: ignore[union-attr]
    assert Catalog.builtin().lookup("myapp:1.0") is None  # catalogs are immutable


def test_validation_errors_name_the_path_and_the_known_fields() -> None:
    with pytest.raises(ImageCatalogError) as err:
        Catalog.builtin().merge({"shop/backend:2.3": {"memory": {"leakMiPerMn": 3}},
                                 "x:1": {"serves": {"port": "http"}}, "y:1": {"servs": {}}, "z:1": "nginx"})
    problems = dict(err.value.problems)
    assert problems['images["shop/backend:2.3"].memory.leakMiPerMn'] == \
        "unknown field; known fields: baseMi, leakMiPerMin, perRequestKi"
    assert problems['images["x:1"].serves[0].port'].startswith("Input should be a valid integer")
    assert problems['images["y:1"].servs'].startswith("unknown field; known fields: cmd, commands, cpu, ")
    assert problems['images["z:1"]'] == "must be a mapping of image behaviour fields"
    assert 'images["y:1"].servs: unknown field' in str(err.value)


def test_remove_one_tag_and_brace_expansion() -> None:
    c = Catalog.builtin().remove("nginx:1.27")
    assert not c.knows("nginx:1.27") and not c.knows("docker.io/library/nginx:1.27") and c.knows("nginx:1.28")
    assert "nginx:1.27" in Catalog.builtin() and "nginx:1.27" not in c
    assert c.merge({"nginx:1.27": {}}).knows("nginx:1.27")  # a scenario may bring it back
    assert expand_braces("1.{27,28}{,-alpine}") == ["1.27", "1.27-alpine", "1.28", "1.28-alpine"]
    assert expand_braces("a{b,{c,d}}") == ["ab", "ac", "ad"]


def test_the_builtin_catalog_is_valid_and_every_entry_resolves_to_itself() -> None:
    c = Catalog.builtin()
    assert len(c) >= 20
    for key in c:
        if ":" in key.rsplit("/", 1)[-1]:
            assert c.key_for(key) == key

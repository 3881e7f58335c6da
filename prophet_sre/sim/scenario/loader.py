"""Reading a scenario file: YAML -> models -> setup manifests -> image catalog -> references.

Each stage collects every problem it can find rather than stopping at the first, so one run of
`validate_file` tells an author everything to fix. A later stage runs only when the stages it depends
on succeeded (references are meaningless if the setup manifests do not parse). Nothing here touches a
cluster: a `Prepared` scenario is a plan that `apply.py` executes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from prophet_sre.errors import InvalidInput
from prophet_sre.sim.scenario.images import ImageCheck, check_images
from prophet_sre.sim.scenario.manifests import Inventory, Manifest, fresh_inventories, parse_manifests
from prophet_sre.sim.scenario.models import Scenario
from prophet_sre.sim.scenario.problems import ScenarioInvalid, from_validation_error, join_path, problem
from prophet_sre.sim.scenario.references import check_references

InventoryFactory = Callable[[list[str]], dict[str, Inventory]]
"""The scenario's cluster names -> what each holds before setup (fresh clusters' built-ins by default)."""


@dataclass
class Prepared:
    """A fully validated scenario and everything needed to apply it."""

    scenario: Scenario
    source: str
    manifests: list[Manifest]
    catalog: Any
    """The image catalog with `images:` merged (None without a behaviour model)."""


def read_text(path: Path | str) -> str:
    p = Path(path)
    try:
        return p.read_text()
    except OSError as e:
        raise InvalidInput(f"cannot read the scenario file: {e.strerror or e}", source=str(path)) from e


def parse_document(text: str, source: str) -> tuple[dict[str, Any] | None, list[InvalidInput]]:
    """The one YAML mapping of a scenario file, or the problems that prevent reading it."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        return None, [problem(source, "", f"not valid YAML: {e}".replace("\n", " "))]
    if len(docs) != 1:
        return None, [problem(source, "", f"a scenario file holds exactly one YAML document (found {len(docs)})")]
    if not isinstance(docs[0], dict):
        return None, [problem(source, "", f"a scenario is a mapping (apiVersion, kind, id, ...), "
                                          f"got {type(docs[0]).__name__}")]
    return docs[0], []


def _fault_times(doc: dict[str, Any], source: str) -> list[InvalidInput]:
    """`at` is optional for runtime injection, but every scenario fault must say when it happens."""
    faults = doc.get("faults")
    if not isinstance(faults, list):
        return []
    return [problem(source, join_path("faults", i, "at"), "required field missing (when the fault happens, "
                                                          "e.g. at: 30s)")
            for i, f in enumerate(faults) if isinstance(f, dict) and "at" not in f]


def prepare(text: str, *, source: str, base_dir: Path, inventories: InventoryFactory = fresh_inventories,
            catalog: Any = None) -> tuple[Prepared | None, list[InvalidInput]]:
    """Validate a scenario completely; (Prepared, []) or (None, every problem found)."""
    doc, errors = parse_document(text, source)
    if doc is None:
        return None, errors
    errors = _fault_times(doc, source)
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as e:
        return None, errors + from_validation_error(e, Scenario, source)
    if errors:
        return None, errors
    known = inventories(list(scenario.clusters))
    images: ImageCheck = check_images(scenario.images, source, catalog)
    errors += images.problems
    manifests = parse_manifests(scenario, base_dir, source, known, errors)
    if not errors:
        errors += check_references(scenario, known, images, source)
    if errors:
        return None, errors
    return Prepared(scenario, source, manifests, images.catalog), []


def prepare_file(path: Path | str, *, inventories: InventoryFactory = fresh_inventories,
                 catalog: Any = None) -> Prepared:
    """`prepare` for a file; raises `ScenarioInvalid` listing every problem."""
    prepared, errors = prepare(read_text(path), source=str(path), base_dir=Path(path).parent,
                               inventories=inventories, catalog=catalog)
    if prepared is None:
        raise ScenarioInvalid(errors)
    return prepared


def validate_file(path: Path | str) -> list[InvalidInput]:
    """Every problem of a scenario file, checked against a fresh simulated cluster ([] when valid)."""
    try:
        text = read_text(path)
    except InvalidInput as e:
        return [e]
    return prepare(text, source=str(path), base_dir=Path(path).parent)[1]


def load_scenario(path: Path | str) -> Scenario:
    """The validated scenario of a file; raises `ScenarioInvalid` (an `InvalidInput`) naming every problem."""
    return prepare_file(path).scenario


__all__ = ["InventoryFactory", "Prepared", "load_scenario", "parse_document", "prepare", "prepare_file", "read_text", "validate_file"]

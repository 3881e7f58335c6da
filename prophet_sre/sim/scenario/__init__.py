"""Scenarios (SCENARIOS.md, format v1): strict models, validation, and applying them to a simulated cluster.

The scenario file is a public contract shared with the eval harness: `load_scenario` and
`validate_file` check every field, every reference (targets, check subjects, traffic ends, images) and
every setup manifest - as the API server would admit it - before anything is created, and report each
problem with the file, the field path and what is allowed. `apply` turns a valid scenario into cluster
state (all or nothing) plus faults scheduled on the sim clock (`prophet_sre.sim.faults`).

This package never scores a run; the eval harness reads `Scenario.expect` and judges.
"""

from __future__ import annotations

from prophet_sre.sim.scenario.checks import CHECK_FORMS, Check
from prophet_sre.sim.scenario.fault_specs import FAULT_KINDS, Fault
from prophet_sre.sim.scenario.loader import Prepared, load_scenario, prepare_file, validate_file
from prophet_sre.sim.scenario.models import Scenario
from prophet_sre.sim.scenario.problems import ScenarioInvalid
from prophet_sre.sim.scenario.refs import ApiPath, Namespace, NsName, Ref, format_duration, parse_duration

__all__ = [
    "CHECK_FORMS",
    "FAULT_KINDS",
    "ApiPath",
    "Check",
    "Fault",
    "Namespace",
    "NsName",
    "Prepared",
    "Ref",
    "Scenario",
    "ScenarioInvalid",
    "format_duration",
    "load_scenario",
    "parse_duration",
    "prepare_file",
    "validate_file",
]

"""The simulator's control API under `/sim/v1/`: inject faults, move the clock, load scenarios, report.

Served on the cluster's own API port (before the Kubernetes routes), so a running `prophet sim up` is
controlled with nothing but its kubeconfig: requests carry the kubeconfig's bearer token, looked up in
the API server's token table, and only cluster admins (group `system:masters`) may use it - the API
can do anything to the cluster. It is a test and demo tool, never a path product code uses.

    GET  /sim/v1/status      sim time, speed, loaded scenarios, object counts, fault counts
    GET  /sim/v1/faults      the fault log and the active knobs effects
    POST /sim/v1/faults      one fault in the scenario format (or a list); fired now, or `at` from now
    POST /sim/v1/clock       {"advance": "30s"} and/or {"speed": 20}
    GET  /sim/v1/scenarios   the scenarios loaded
    POST /sim/v1/scenarios   a scenario YAML body (`file:` entries are relative to `?base=DIR`)

Bad requests get 400 with the validation messages (`{"error": ..., "problems": [...]}`).
Handlers run on the cluster's loop thread, like the controllers, so they may touch cluster state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prophet_sre.errors import InvalidInput, ProphetError
from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.sim.scenario.fault_specs import Fault
from prophet_sre.sim.scenario.images import ImageCheck, builtin_catalog
from prophet_sre.sim.scenario.manifests import live_inventory
from prophet_sre.sim.scenario.problems import ScenarioInvalid, from_validation_error
from prophet_sre.sim.scenario.references import check_fault
from prophet_sre.sim.scenario.refs import parse_duration

if TYPE_CHECKING:
    from prophet_sre.sim.cluster import SimCluster

PREFIX = "/sim/v1"
ADMIN_GROUP = "system:masters"
MAX_SPEED = 1000.0
SOURCE = "request"


class _Reject(Exception):
    def __init__(self, code: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.problems = problems or []


def _json(data: Any, code: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=code, media_type="application/json")


def _invalid(errors: list[InvalidInput]) -> _Reject:
    texts = [str(e) for e in errors]
    return _Reject(400, texts[0] if len(texts) == 1 else f"{len(texts)} problems: " + "; ".join(texts), texts)


class Control:
    """The endpoints of one cluster."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster

    # -- plumbing ----------------------------------------------------------------------------------
    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        user = self.cluster.ctx.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise _Reject(401, "Unauthorized: send the kubeconfig's bearer token")
        if ADMIN_GROUP not in user.groups:
            raise _Reject(403, f'user "{user.name}" may not control the simulator (needs group {ADMIN_GROUP})')

    @staticmethod
    async def _body(request: Request) -> Any:
        raw = await request.body()
        try:
            return yaml.safe_load(raw.decode()) if raw.strip() else None
        except (UnicodeDecodeError, yaml.YAMLError) as e:
            raise _Reject(400, f"the body is neither JSON nor YAML: {e}".replace("\n", " ")) from e

    def route(self, path: str, fn: Callable[[Request], Awaitable[Any]], methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                self._authorize(request)
                data, code = await fn(request)
                return _json(data, code)
            except _Reject as e:
                return _json({"error": str(e), "problems": e.problems or [str(e)]}, e.code)
            except ProphetError as e:
                return _json({"error": str(e), "problems": [str(e)]}, 400)

        return Route(PREFIX + path, endpoint, methods=methods)

    def routes(self) -> list[Route]:
        return [
            self.route("/status", self.status, ["GET"]),
            self.route("/faults", self.list_faults, ["GET"]),
            self.route("/faults", self.add_faults, ["POST"]),
            self.route("/clock", self.clock, ["POST"]),
            self.route("/scenarios", self.list_scenarios, ["GET"]),
            self.route("/scenarios", self.add_scenario, ["POST"]),
        ]

    # -- reads -----------------------------------------------------------------------------------------
    def status_doc(self) -> dict[str, Any]:
        c = self.cluster
        counts: dict[str, int] = {}
        for group, plural in c.store.iter_types():
            rt = c.registry.storage_type(group, plural)
            if rt is not None and (n := c.store.count(rt)):
                counts[f"{plural}.{group}" if group else plural] = n
        records = c.faults.records()
        states: dict[str, int] = {}
        for r in records:
            states[r.state] = states.get(r.state, 0) + 1
        return {
            "cluster": c.options.name, "server": c.url, "simTime": rfc3339(c.clock.now()),
            "elapsedSeconds": round(c.clock.elapsed(), 3), "speed": c.clock.speed,
            "scenarios": [s.id for s in c.scenarios], "objects": dict(sorted(counts.items())),
            "faults": states, "firstFaultSeconds": c.faults.first_fault_s(),
        }

    async def status(self, request: Request) -> tuple[Any, int]:
        return self.status_doc(), 200

    async def list_faults(self, request: Request) -> tuple[Any, int]:
        c = self.cluster
        now = c.clock.elapsed()
        effects = [{"id": e.id, "kind": e.kind, "target": e.target, "params": e.params, "sinceSeconds": e.since_s,
                    "untilSeconds": e.until_s} for e in c.knobs.all() if e.active_at(now)]
        return {"elapsedSeconds": round(now, 3), "faults": [r.to_dict() for r in c.faults.records()],
                "effects": effects, "firstFaultSeconds": c.faults.first_fault_s()}, 200

    async def list_scenarios(self, request: Request) -> tuple[Any, int]:
        return {"scenarios": [s.to_dict() for s in self.cluster.scenarios]}, 200

    # -- writes ----------------------------------------------------------------------------------------
    async def add_faults(self, request: Request) -> tuple[Any, int]:
        body = await self._body(request)
        items = body if isinstance(body, list) else [body]
        faults: list[Fault] = []
        errors: list[InvalidInput] = []
        c = self.cluster
        inventory = live_inventory(c.options.name, c.registry, c.store)
        images = ImageCheck(scenario_apply.catalog_of(c) or builtin_catalog(), [])
        for i, item in enumerate(items):
            base = f"[{i}]" if isinstance(body, list) else ""
            if not isinstance(item, dict):
                errors.append(InvalidInput("a fault is a mapping like {rollout: {target: NS/KIND/NAME, image: I}}",
                                           source=SOURCE, path=base))
                continue
            try:
                fault = Fault.model_validate(item)
            except ValidationError as e:
                errors += from_validation_error(e, Fault, SOURCE, base)
                continue
            errors += check_fault(fault, inventory, images, SOURCE, base)
            faults.append(fault)
        if errors:
            raise _invalid(errors)
        records = [c.faults.schedule(f, source="api") for f in faults]
        c.faults.wake()
        return {"faults": [r.to_dict() for r in records]}, 201

    async def clock(self, request: Request) -> tuple[Any, int]:
        body = await self._body(request)
        allowed = ("advance", "speed")
        if not isinstance(body, dict) or not body or set(body) - set(allowed):
            unknown = sorted(set(body) - set(allowed)) if isinstance(body, dict) else []
            what = f"unknown field {', '.join(unknown)}; " if unknown else ""
            raise _Reject(400, f"{what}expected a mapping with known fields: {', '.join(allowed)} "
                               '(e.g. {"advance": "30s"} or {"speed": 20})')
        speed = body.get("speed")
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int | float)
                                  or not 0 < speed <= MAX_SPEED):
            raise _Reject(400, f"speed: must be a number in (0, {MAX_SPEED:g}], got {speed!r}")
        advance = 0.0
        if "advance" in body:
            try:
                advance = parse_duration(body["advance"])
            except ValueError as e:
                raise _Reject(400, f"advance: {e}") from e
        if speed is not None:
            self.cluster.clock.set_speed(float(speed))
        if advance:
            self.cluster.clock.advance(advance)
        self.cluster.faults.wake()
        return self.status_doc(), 200

    async def add_scenario(self, request: Request) -> tuple[Any, int]:
        raw = (await request.body()).decode(errors="replace")
        base = Path(request.query_params.get("base") or ".")
        try:
            loaded = scenario_apply.load_text(self.cluster, raw, source=SOURCE, base_dir=base)
        except ScenarioInvalid as e:
            raise _invalid(e.errors) from e
        return loaded.to_dict(), 201


def routes(cluster: SimCluster) -> list[Route]:
    """The `/sim/v1/` routes of one cluster, for `ApiContext.extra_routes`."""
    return Control(cluster).routes()


__all__ = ["PREFIX", "Control", "routes"]

"""Server-side `Table` responses: what `kubectl get` asks for and prints.

kubectl does not format objects itself for `get`; it sends
`Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...` and prints the columns and cells the server
returns. To be indistinguishable from a real kube-apiserver the simulator must therefore produce the
same column definitions (names, types, formats, priority 1 for `-o wide`) and the same cell text as the
real printers. The per-kind printers live in `tables_core` (core/v1), `tables_storage` (PV, PVC,
StorageClass), `tables_apps` (apps, batch, autoscaling, policy) and `tables_misc` (everything else); this module picks one, handles CRDs
(`additionalPrinterColumns` evaluated with `jsonpath`) and the generic `Name`/`Created At` table, and
wraps the rows in the `Table` envelope with the requested `includeObject` form.

Row objects are shallow references into the caller's objects (the caller serialises at once), so a
10,000-pod list costs one small dict per row, not a deep copy.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache
from typing import Any

from prophet_sre.errors import InvalidInput
from prophet_sre.sim import tables_apps, tables_core, tables_misc, tables_storage
from prophet_sre.sim.jsonpath import JSONPathError, Path, compile_path, format_value
from prophet_sre.sim.registry import PrinterColumn, ResourceType
from prophet_sre.sim.tables_common import (
    AGE_DESCRIPTION,
    NAME,
    Column,
    Printer,
    RowContext,
    human_duration,
    name,
    parse_time,
    rfc3339,
)

__all__ = [
    "TableError",
    "build_table",
    "columns_for",
    "human_duration",
    "printer_for",
    "table_version",
    "wants_table",
]

log = logging.getLogger(__name__)

TABLE_GROUP = "meta.k8s.io"
TABLE_VERSIONS = ("v1", "v1beta1")
INCLUDE_OBJECT_VALUES = ("Metadata", "Object", "None")


class TableError(InvalidInput, ValueError):
    """A table request the real server would answer with 400 Bad Request."""


# -- content negotiation --------------------------------------------------------------------------

_PLAIN_JSON = ("application/json", "application/*", "*/*", "application/yaml")


def _parse_accept(header: str) -> list[tuple[str, dict[str, str], float, int]]:
    """Clauses as (media type, params, q, position), best first, like client-go's negotiation."""
    clauses = []
    for index, raw in enumerate(header.split(",")):
        pieces = [p.strip() for p in raw.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, sep, value = piece.partition("=")
            if sep:
                params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        clauses.append((media, params, q, index))

    def rank(clause: tuple[str, dict[str, str], float, int]) -> tuple[float, int, int]:
        media, _, q, index = clause
        specificity = 0 if media == "*/*" else 1 if media.endswith("/*") else 2
        return (-q, -specificity, index)

    return sorted(clauses, key=rank)


def table_version(accept_header: str | None) -> str | None:
    """The meta.k8s.io version of `Table` to answer with, or None when plain JSON comes first.

    The first clause the simulator can serve decides: a Table clause for meta.k8s.io v1/v1beta1 as
    JSON picks that version; a plain JSON (or wildcard) clause means "not a table". Clauses it cannot
    serve (protobuf, `as=Table;v=v2`) are skipped, as a real server skips them.
    """
    if not accept_header:
        return None
    for media, params, q, _ in _parse_accept(accept_header):
        if q <= 0:
            continue
        as_kind = params.get("as")
        if as_kind is None:
            if media in _PLAIN_JSON:
                return None
            continue
        if (as_kind == "Table" and params.get("g") == TABLE_GROUP and params.get("v") in TABLE_VERSIONS
                and media in ("application/json", "application/*", "*/*")):
            return params["v"]
    return None


def wants_table(accept_header: str | None) -> bool:
    """True when the request should be answered with a meta.k8s.io `Table`."""
    return table_version(accept_header) is not None


# -- printers -------------------------------------------------------------------------------------

_BUILTIN: dict[tuple[str, str], Printer] = {
    **tables_core.PRINTERS, **tables_storage.PRINTERS, **tables_apps.PRINTERS, **tables_misc.PRINTERS,
}


def _default_cells(obj: dict, _ctx: RowContext) -> list[Any]:
    return [name(obj), rfc3339((obj.get("metadata") or {}).get("creationTimestamp"))]


DEFAULT_PRINTER = Printer(
    (NAME, Column("Created At", type="date", description=AGE_DESCRIPTION)), _default_cells)
"""The generic table of kinds without a printer (Role, ClusterRole, LimitRange, CRD...)."""

_CRD_DEFAULT_COLUMNS = (PrinterColumn(name="Age", type="date", json_path=".metadata.creationTimestamp",
                                      description=AGE_DESCRIPTION),)


def _crd_cell(col_type: str, value: Any, ctx: RowContext) -> Any:
    """Turn the first JSONPath result into a cell, as the apiextensions table convertor does."""
    if col_type == "string":
        return "<no value>" if value is None else format_value(value)
    if value is None:
        return None
    if col_type == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return int(value)
    elif col_type == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif col_type == "boolean":
        if isinstance(value, bool):
            return value
    elif col_type == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        parsed = parse_time(value)
        return "<invalid>" if parsed is None else human_duration(ctx.now - parsed)
    return None


@lru_cache(maxsize=256)
def _custom_printer(columns: tuple[PrinterColumn, ...]) -> Printer:
    """Name plus each printer column. Like the real server, a column whose JSONPath does not parse
    ends the list: it and the columns after it are dropped rather than failing every request."""
    defs: list[Column] = [NAME]
    paths: list[tuple[Path, str]] = []
    for col in columns or _CRD_DEFAULT_COLUMNS:
        try:
            path = compile_path(col.json_path)
        except JSONPathError as e:
            log.warning("printer column %r has an invalid JSONPath, dropping it and later columns: %s",
                        col.name, e)
            break
        description = col.description or f"Custom resource definition column (in JSONPath format): {col.json_path}"
        defs.append(Column(col.name, col.type, description, col.priority, col.format))
        paths.append((path, col.type))

    def cells(obj: dict, ctx: RowContext) -> list[Any]:
        row: list[Any] = [name(obj)]
        for path, col_type in paths:
            results = path.find(obj)
            row.append(_crd_cell(col_type, results[0], ctx) if results else None)
        return row

    return Printer(tuple(defs), cells)


def printer_for(rt: ResourceType) -> Printer:
    """The printer a real server would use for this resource type."""
    if rt.crd:
        return _custom_printer(rt.printer_columns)
    if rt.group == "autoscaling" and rt.kind == "HorizontalPodAutoscaler" and rt.version == "v1":
        return tables_apps.HPA_V1_PRINTER
    printer = _BUILTIN.get((rt.group, rt.kind))
    if printer is not None:
        return printer
    if rt.printer_columns:
        return _custom_printer(rt.printer_columns)
    return DEFAULT_PRINTER


def columns_for(rt: ResourceType) -> list[dict[str, Any]]:
    """The `columnDefinitions` of `rt`'s table."""
    return [c.as_dict() for c in printer_for(rt).columns]


# -- the Table ------------------------------------------------------------------------------------

def _safe_cells(printer: Printer, obj: dict, ctx: RowContext) -> list[Any]:
    """Cells of one row; an object too malformed to print still gets a row rather than a 500."""
    try:
        return printer.row(obj, ctx)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as e:
        log.debug("cannot print %s: %s", name(obj) if isinstance(obj, dict) else obj, e)
        cells: list[Any] = [None] * len(printer.columns)
        for i, col in enumerate(printer.columns):
            if col.format == "name" and isinstance(obj, dict):
                cells[i] = name(obj)
                break
        return cells


def build_table(
    rt: ResourceType,
    objects: list[dict],
    *,
    now: datetime,
    include_object: str = "Metadata",
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
    version: str = "v1",
    no_headers: bool = False,
) -> dict:
    """A `meta.k8s.io` Table for `objects` (a list page or a single object, or one watch event).

    `now` is the simulator clock the ages are computed against. `include_object` is the request's
    `includeObject` (`Metadata` — the default — puts a PartialObjectMetadata in each row, `Object` the
    object itself, `None` nothing, serialised as `null` as a real server does). `version` is the Table
    version from `table_version()`; `no_headers` mirrors `TableOptions.noHeaders` (used by watches).
    """
    if include_object == "":
        include_object = "Metadata"
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise TableError(f'unrecognized includeObject value: "{include_object}"')
    if version not in TABLE_VERSIONS:
        raise TableError(f"no Table exists in group version {TABLE_GROUP}/{version}")
    api_version = f"{TABLE_GROUP}/{version}"
    printer = printer_for(rt)
    ctx = RowContext(now)
    conditions_fn = printer.conditions
    rows: list[dict[str, Any]] = []
    append = rows.append
    for obj in objects:
        row: dict[str, Any] = {"cells": _safe_cells(printer, obj, ctx)}
        if conditions_fn is not None:
            conditions = conditions_fn(obj)
            if conditions:
                row["conditions"] = [dict(c) for c in conditions]
        if include_object == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": api_version,
                             "metadata": obj.get("metadata") or {}}
        elif include_object == "Object":
            if obj.get("kind") and obj.get("apiVersion"):
                row["object"] = obj
            else:
                row["object"] = {**obj, "kind": obj.get("kind") or rt.kind,
                                 "apiVersion": obj.get("apiVersion") or rt.api_version}
        else:
            row["object"] = None
        append(row)

    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None and continue_token:  # a real list sets it only when there is more to read
        metadata["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": metadata,
        "columnDefinitions": None if no_headers else [c.as_dict() for c in printer.columns],
        "rows": rows,
    }

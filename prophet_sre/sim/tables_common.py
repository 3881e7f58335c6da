"""Building blocks shared by the per-group table printers.

These reproduce the small formatting helpers kube-apiserver's printers rely on — `HumanDuration`,
label and label-selector strings, resource-quantity canonical form, container name/image lists — so
that every printer renders a cell exactly as a real server would. Nothing here reads the wall clock:
ages are computed against the simulator's `now`, carried by a `RowContext`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

# -- columns --------------------------------------------------------------------------------------

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. Name "
    "is primarily intended for creation idempotence and configuration definition. Cannot be updated. More "
    "info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is "
    "not guaranteed to be set in happens-before order across separate operations. Clients may not set "
    "this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. "
    "Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
CONTAINERS_DESCRIPTION = "Names of each container in the template."
IMAGES_DESCRIPTION = "Images referenced by each container in the template."


@dataclass(frozen=True, slots=True)
class Column:
    """One `TableColumnDefinition`."""

    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


NAME = Column("Name", format="name", description=NAME_DESCRIPTION)
AGE = Column("Age", description=AGE_DESCRIPTION)
CONTAINERS = Column("Containers", description=CONTAINERS_DESCRIPTION, priority=1)
IMAGES = Column("Images", description=IMAGES_DESCRIPTION, priority=1)


def wide(name: str, description: str = "", type: str = "string") -> Column:
    """A priority-1 column: kubectl shows it only with `-o wide`."""
    return Column(name, type=type, description=description, priority=1)


RowFn = Callable[[dict, "RowContext"], list[Any]]


@dataclass(frozen=True, slots=True)
class Printer:
    """The columns of a kind and the function that turns one object into its cells.

    `conditions` optionally returns `TableRow.conditions` (pods mark finished rows `Completed`).
    """

    columns: tuple[Column, ...]
    row: RowFn
    conditions: Callable[[dict], list[dict] | None] | None = None


# -- time -----------------------------------------------------------------------------------------

_EPOCH_ZERO = datetime(1, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=65536)
def parse_time(value: str) -> datetime | None:
    """Parse an RFC 3339 timestamp (`...Z`, offsets, any fraction); None when it is not one."""
    if not value:
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def human_duration(d: timedelta) -> str:
    """Go's `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.

    The real function keeps two units of precision only where the larger unit is small (`2m10s`,
    `3h5m`, `2d3h`, `3y45d`) and drops to one unit otherwise (`15m`, `10h`, `9d`, `8y`); up to 2s in
    the future still reads `0s` to tolerate clock skew.
    """
    total = d.total_seconds()
    seconds = int(total)  # Go truncates toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


class RowContext:
    """Per-request state for printers: the sim clock, and a cache of ages already rendered."""

    __slots__ = ("_ages", "now")

    def __init__(self, now: datetime) -> None:
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self._ages: dict[str, str] = {}

    def since(self, timestamp: Any) -> str:
        """`translateTimestampSince`: `<unknown>` for a missing time, else the human age."""
        if not timestamp or not isinstance(timestamp, str):
            return "<unknown>"
        cached = self._ages.get(timestamp)
        if cached is None:
            parsed = parse_time(timestamp)
            cached = "<unknown>" if parsed is None else human_duration(self.now - parsed)
            self._ages[timestamp] = cached
        return cached

    def since_dt(self, when: datetime) -> str:
        return human_duration(self.now - when)

    def age(self, obj: dict) -> str:
        return self.since((obj.get("metadata") or {}).get("creationTimestamp"))


def rfc3339(timestamp: Any) -> str:
    """`Time.UTC().Format(time.RFC3339)`; Go's zero time for a missing timestamp."""
    parsed = parse_time(timestamp) if isinstance(timestamp, str) else None
    when = (parsed or _EPOCH_ZERO).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- small accessors -------------------------------------------------------------------------------

def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def status(obj: dict) -> dict:
    return obj.get("status") or {}


def name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default


def desired_replicas(sp: Mapping[str, Any]) -> int:
    """`spec.replicas`, which the apiserver defaults to 1 when it is left out."""
    replicas = sp.get("replicas")
    return 1 if replicas is None else as_int(replicas)


def go_bool(value: bool) -> str:
    """`printBool`: the capitalised form the printers use for boolean text cells."""
    return "True" if value else "False"


def int_or_string(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# -- labels and selectors -------------------------------------------------------------------------

def format_labels(labels: Mapping[str, Any] | None) -> str:
    """`labels.FormatLabels`: `k=v,...` sorted by key, `<none>` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


_OPERATORS = {"In": "in", "NotIn": "notin"}


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """`LabelSelectorAsSelector(sel).String()`: requirements sorted by key; "" for nil/empty.

    Raises ValueError for an operator the API would have rejected.
    """
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        reqs.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key", "")
        op = expr.get("operator", "")
        values = sorted(str(v) for v in expr.get("values") or [])
        if op in _OPERATORS:
            reqs.append((key, f"{key} {_OPERATORS[op]} ({','.join(values)})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
        else:
            raise ValueError(f"{op!r} is not a valid label selector operator")
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """`metav1.FormatLabelSelector`: like `selector_string` but `<none>` when empty, `<error>` if bad."""
    try:
        text = selector_string(selector)
    except ValueError:
        return "<error>"
    return text or "<none>"


def container_cells(pod_spec: Mapping[str, Any] | None) -> tuple[str, str]:
    """`layoutContainerCells`: container names and images, each comma-joined."""
    containers = (pod_spec or {}).get("containers") or []
    return (",".join(c.get("name") or "" for c in containers),
            ",".join(c.get("image") or "" for c in containers))


def template_spec(obj: dict) -> dict:
    return ((spec(obj).get("template") or {}).get("spec")) or {}


def join_sorted_unique(values: Iterable[str]) -> str:
    return ",".join(sorted(set(values)))


# -- resource quantities --------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()} | {0: ""}


@lru_cache(maxsize=4096)
def _canonical_quantity(text: str) -> str:
    match = _QUANTITY.match(text.strip())
    if not match:
        return text
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation:
        return text
    if suffix in _BINARY:
        fmt = "binary"
        value *= Decimal(2) ** _BINARY[suffix]
    elif suffix[:1] in ("e", "E") and len(suffix) > 1:
        fmt = "exponent"
        value = value.scaleb(int(suffix[1:]))
    else:
        fmt = "decimal"
        value = value.scaleb(_DECIMAL[suffix])
    # Quantities keep nano precision at most; anything finer rounds up (away from zero).
    nanos = (abs(value) * Decimal(10) ** 9).to_integral_value(rounding=ROUND_CEILING)
    sign = "-" if value < 0 else ""
    if nanos == 0:
        return "0"
    if fmt == "binary" and nanos % 10**9 == 0 and nanos >= 1024 * 10**9:
        amount, exp = int(nanos // 10**9), 0
        while amount % 1024 == 0 and exp < 60:
            amount //= 1024
            exp += 10
        return f"{sign}{amount}{_BINARY_SUFFIX[exp]}"
    amount, exp = int(nanos), -9
    while amount % 10 == 0:
        amount //= 10
        exp += 1
    while exp % 3:
        amount *= 10
        exp -= 1
    if fmt == "exponent":
        return f"{sign}{amount}" + (f"e{exp}" if exp else "")
    suffix_out = _DECIMAL_SUFFIX.get(exp)
    if suffix_out is None:
        return f"{sign}{amount}e{exp}"
    return f"{sign}{amount}{suffix_out}"


def quantity(value: Any, missing: str = "0") -> str:
    """`resource.Quantity.String()`: the canonical form (`1536Mi`, `1G`, `500m`); "0" when absent."""
    if value is None or value == "":
        return missing
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        return str(value)
    return _canonical_quantity(value)

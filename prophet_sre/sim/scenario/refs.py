"""The small string grammars of the scenario format: target refs, `NS/NAME`, API paths, durations.

A scenario names things in three ways (SCENARIOS.md): a target (`NS/KIND/NAME`, `CLUSTER:NS/KIND/NAME`,
or `/KIND/NAME` for cluster-scoped objects such as `/node/worker-2`), a check subject (`NS/NAME`, the
kind being implied by the check), and an API path (`GROUP/VERSION/PLURAL/NS/NAME`, group empty for the
core group). Each is parsed here into a frozen value that pydantic accepts from a string and dumps back
to the same string, so models hold typed refs while files keep their compact spelling.

Parsing is purely syntactic; whether the named object exists is `references.py`'s job.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
"""A Kubernetes object name (DNS-1123 subdomain, without the length limit)."""
LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""A DNS-1123 label: namespaces and cluster names."""
KIND_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9]*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
"""What kubectl accepts as a type name: `deployment`, `deploy`, `Deployment`, `clusters.cluster.x-k8s.io`."""
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

TARGET_FORMS = "NS/KIND/NAME, CLUSTER:NS/KIND/NAME, /KIND/NAME (cluster-scoped, e.g. /node/worker-2)"
NS_NAME_FORMS = "NS/NAME or CLUSTER:NS/NAME"
API_PATH_FORMS = "GROUP/VERSION/PLURAL/NS/NAME (GROUP empty for core: /v1/pods/NS/NAME; " \
                 "cluster-scoped: GROUP/VERSION/PLURAL/NAME), optionally prefixed CLUSTER:"
DURATION_FORMS = "a duration like 30s, 2m, 1m30s, 500ms, 1h (or a number of seconds)"


def _split_cluster(text: str) -> tuple[str, str]:
    """("aws", "shop/deployment/web") from "aws:shop/deployment/web"; ("", text) without a prefix."""
    head, sep, rest = text.partition(":")
    if sep and "/" not in head:
        if not LABEL_RE.match(head):
            raise ValueError(f"cluster name {head!r} in {text!r} is not a DNS label")
        return head, rest
    return "", text


def _check_name(what: str, value: str, text: str, pattern: re.Pattern[str] = NAME_RE) -> None:
    if not pattern.match(value):
        raise ValueError(f"{what} {value!r} in {text!r} is not a valid Kubernetes name")


class _StrValue(abc.ABC):
    """Mixin: accepted by pydantic from a string (or an instance), serialised back with `str()`."""

    @classmethod
    @abc.abstractmethod
    def parse(cls, text: str) -> Any:
        """Build the value from its string form (every subclass defines it)."""

    @classmethod
    def _validate(cls, value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a string ({cls.FORMS}), got {type(value).__name__}")  # type: ignore[attr-defined]
        return cls.parse(value.strip())

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate, serialization=core_schema.plain_serializer_function_ser_schema(str))


@dataclass(frozen=True, slots=True)
class Ref(_StrValue):
    """A target: one object, in one cluster (`""` = the scenario's default cluster).

    `kind` is kept as written, lower-cased (`deployment`, `deploy`, `node`); `references.py` resolves it
    to an API type the way kubectl resolves `kubectl get deploy`.
    """

    cluster: str
    namespace: str
    kind: str
    name: str

    FORMS = TARGET_FORMS

    @classmethod
    def parse(cls, text: str) -> Ref:
        cluster, rest = _split_cluster(text)
        parts = rest.split("/")
        if len(parts) != 3:
            raise ValueError(f"{text!r} is not a target; expected {TARGET_FORMS}")
        ns, kind, name = parts
        if ns:
            _check_name("namespace", ns, text, LABEL_RE)
        if not KIND_RE.match(kind):
            raise ValueError(f"kind {kind!r} in {text!r} is not a type name (e.g. deployment, pod, node)")
        _check_name("name", name, text)
        return cls(cluster, ns, kind.lower(), name)

    @property
    def cluster_scoped(self) -> bool:
        return not self.namespace

    def local(self) -> str:
        """The ref without its cluster prefix: what the per-cluster knobs and logs use."""
        return f"{self.namespace}/{self.kind}/{self.name}"

    def __str__(self) -> str:
        return f"{self.cluster}:{self.local()}" if self.cluster else self.local()


@dataclass(frozen=True, slots=True)
class NsName(_StrValue):
    """`NS/NAME` (optionally `CLUSTER:NS/NAME`): a check subject whose kind the check implies."""

    cluster: str
    namespace: str
    name: str

    FORMS = NS_NAME_FORMS

    @classmethod
    def parse(cls, text: str) -> NsName:
        cluster, rest = _split_cluster(text)
        parts = rest.split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{text!r} is not {NS_NAME_FORMS}")
        _check_name("namespace", parts[0], text, LABEL_RE)
        _check_name("name", parts[1], text)
        return cls(cluster, parts[0], parts[1])

    def __str__(self) -> str:
        local = f"{self.namespace}/{self.name}"
        return f"{self.cluster}:{local}" if self.cluster else local


@dataclass(frozen=True, slots=True)
class Namespace(_StrValue):
    """A namespace, optionally `CLUSTER:NS` (the `pods:` and `namespace:` fields of checks)."""

    cluster: str
    name: str

    FORMS = "NS or CLUSTER:NS"

    @classmethod
    def parse(cls, text: str) -> Namespace:
        cluster, rest = _split_cluster(text)
        _check_name("namespace", rest, text, LABEL_RE)
        return cls(cluster, rest)

    def __str__(self) -> str:
        return f"{self.cluster}:{self.name}" if self.cluster else self.name


@dataclass(frozen=True, slots=True)
class ApiPath(_StrValue):
    """`GROUP/VERSION/PLURAL/NS/NAME` (5 segments) or `GROUP/VERSION/PLURAL/NAME` (cluster-scoped)."""

    cluster: str
    group: str
    version: str
    plural: str
    namespace: str
    name: str

    FORMS = API_PATH_FORMS

    @classmethod
    def parse(cls, text: str) -> ApiPath:
        cluster, rest = _split_cluster(text)
        parts = rest.split("/")
        if len(parts) == 4:
            parts.insert(3, "")
        if len(parts) != 5 or not all(parts[1:3]) or not parts[4]:
            raise ValueError(f"{text!r} is not an object path; expected {API_PATH_FORMS}")
        group, version, plural, ns, name = parts
        if group:
            _check_name("group", group, text)
        if not re.match(r"^v\d+((alpha|beta)\d+)?$", version):
            raise ValueError(f"version {version!r} in {text!r} is not an API version (v1, v1beta1, ...)")
        _check_name("resource", plural, text, LABEL_RE)
        if ns:
            _check_name("namespace", ns, text, LABEL_RE)
        _check_name("name", name, text)
        return cls(cluster, group, version, plural, ns, name)

    def __str__(self) -> str:
        mid = f"{self.namespace}/" if self.namespace else ""
        local = f"{self.group}/{self.version}/{self.plural}/{mid}{self.name}"
        return f"{self.cluster}:{local}" if self.cluster else local


def parse_duration(value: Any) -> float:
    """Seconds from `30s`, `2m`, `1m30s`, `500ms`, `1h` or a plain non-negative number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_FORMS}, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative (got {value})")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected {DURATION_FORMS}, got {type(value).__name__}")
    text = value.strip()
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"{value!r} is not {DURATION_FORMS}")
    return sum(float(n) * _UNIT_S[u] for n, u in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """The compact form back (`90` -> `1m30s`), for logs and the control API."""
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    mins, secs = divmod(round(seconds, 3), 60)
    secs_text = f"{secs:g}s" if secs or not mins else ""
    return f"{int(mins)}m{secs_text}" if mins else secs_text


__all__ = ["ApiPath", "Namespace", "NsName", "Ref", "format_duration", "parse_duration"]

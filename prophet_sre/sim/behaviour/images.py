"""The image catalog: what each container image does, in the format of a scenario's `images:` section.

A scenario says what its images do (`shop/backend:2.3: {memory: {leakMiPerMin: 300}}`); that text is a
public contract (SCENARIOS.md), so the models here forbid unknown fields and report each problem with
its path and the fields that are allowed. The built-in catalog (`builtin.yaml`, same format) knows the
images people actually type - nginx, busybox, python, redis, postgres, the coredns of kube-system and
the `shop/*` demo app - so an unknown image or tag is exactly what it is on a real node: not pullable.

Keys are image references. `nginx:1.27` names one tag; a bare repository (`nginx`) names every tag that
matches one of its `tags` globs (`1.2[5-8]`, `1.27.[0-9]-alpine`, `latest`). A lookup prefers the exact
tag, so a scenario can override one tag of a repository the built-ins describe by pattern.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from prophet_sre.sim.controllers.runtime import split_image


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel)


class Endpoint(_Model):
    """One listening port. HTTP ports answer 200 on `paths` (a trailing `*` is a prefix), 404 elsewhere."""

    port: int = Field(ge=1, le=65535)
    protocol: Literal["http", "tcp", "udp", "grpc"] = "http"
    paths: list[str] = Field(default_factory=lambda: ["/"])
    codes: dict[str, int] = Field(default_factory=dict)
    """Path -> status code, overriding `paths` (`/healthz: 503` for an unhealthy build)."""

    def code_for(self, path: str) -> int:
        path = path.split("?", 1)[0] or "/"
        if path in self.codes:
            return self.codes[path]
        for p in self.paths:
            if p == path or (p.endswith("*") and path.startswith(p[:-1])):
                return 200
        return 404


class Memory(_Model):
    """Working set = baseMi + leakMiPerMin x minutes since start + perRequestKi x requests/s."""

    base_mi: float = Field(default=16.0, ge=0)
    leak_mi_per_min: float = Field(default=0.0, ge=0)
    per_request_ki: float = Field(default=0.0, ge=0)


class Cpu(_Model):
    """CPU = baseMilli + perRequestMilli x requests/s (capped by the container's limit)."""

    base_milli: float = Field(default=1.0, ge=0)
    per_request_milli: float = Field(default=0.0, ge=0)


class Needs(_Model):
    """Configuration the program checks at start; when something is absent it exits 1 (logs.error)."""

    env: list[str] = Field(default_factory=list)
    """Variable names; `A|B` is satisfied by either."""
    config_map_keys: list[str] = Field(default_factory=list)
    """`NAME/KEY` (or `KEY`): provided through env, envFrom or a mounted ConfigMap."""
    secrets: list[str] = Field(default_factory=list)
    """`NAME` or `NAME/KEY`: referenced by env, envFrom or a volume."""


class Commands(_Model):
    """Programs in the image beyond its OS's base set. Anything else cannot be executed."""

    ok: list[str] = Field(default_factory=list)
    fails: list[str] = Field(default_factory=list)
    """Present, but exit 1 printing `logs.error` (a migration that breaks, a bad build's CLI)."""
    serve: list[str] = Field(default_factory=list)
    """Programs that start the image's service; default: the program of `entrypoint` + `cmd`."""


class Logs(_Model):
    """Lines the image prints. Placeholders: {time:%Y-%m-%d}, {ms}, {version}, {pid}, {port}, {heapMi},
    {limitMi}, {gcMs}, {missing}, {client}, {method}, {path}, {code}, {bytes}, {agent}, {podIP}, {n}."""

    startup: list[str] = Field(default_factory=list)
    error: list[str] = Field(default_factory=list)
    periodic: list[str] = Field(default_factory=list)
    """Printed one per `periodicSeconds` while the service runs, in turn (leak warnings, GC lines)."""
    periodic_seconds: float = Field(default=30.0, gt=0)
    access: str = ""
    """One line per HTTP request answered (kube-probe requests included)."""
    not_found: str = ""
    """An extra line when a request gets 404 (nginx's `open() ... failed` error log line)."""
    stop: list[str] = Field(default_factory=list)


class Stop(_Model):
    """How the program answers SIGTERM: exit code and seconds to exit (beyond the grace: SIGKILL, 137)."""

    exit_code: int = 0
    seconds: float = Field(default=0.2, ge=0)


class Pool(_Model):
    """A connection pool (databases): the traffic model's pool_exhaustion fault reads it."""

    size: int = Field(default=20, ge=1)
    timeout_ms: int = Field(default=5000, ge=0)


class ImageSpec(_Model):
    """The behaviour of one image (one tag, or every tag matching `tags`)."""

    tags: list[str] = Field(default_factory=list)
    size_bytes: int | None = Field(default=None, ge=0)
    os: Literal["debian", "alpine", "busybox", "distroless"] = "debian"
    entrypoint: list[str] = Field(default_factory=list)
    cmd: list[str] = Field(default_factory=list)
    serves: list[Endpoint] = Field(default_factory=list)
    memory: Memory = Field(default_factory=Memory)
    cpu: Cpu = Field(default_factory=Cpu)
    needs: Needs = Field(default_factory=Needs)
    commands: Commands = Field(default_factory=Commands)
    logs: Logs = Field(default_factory=Logs)
    startup_seconds: float = Field(default=0.5, ge=0)
    """Seconds from start until the service listens (probes before that are refused)."""
    stop: Stop = Field(default_factory=Stop)
    version: str = ""
    """{version} in log templates; default: the tag (see `versions`)."""
    versions: dict[str, str] = Field(default_factory=dict)
    """Tag (without a `-variant` suffix) -> full version: `1.27: 1.27.5`, `latest: 1.29.1`."""
    pool: Pool | None = None

    @field_validator("serves", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, Mapping) else v

    def endpoint(self, port: int) -> Endpoint | None:
        return next((e for e in self.serves if e.port == port), None)

    def version_for(self, tag: str) -> str:
        """{version} for a tag: `versions[tag]`, else `version` when the tag is a prefix of it (2.3 ->
        2.3.0), else a numeric tag itself, else `version`."""
        base = tag.split("-", 1)[0] if tag[:1].isdigit() else tag
        for t in (base, tag):
            if t in self.versions:
                return self.versions[t]
        if self.version and (self.version == base or self.version.startswith(base + ".")):
            return self.version
        if base[:1].isdigit() or base[:2].lstrip("v")[:1].isdigit():
            return base.lstrip("v")
        return self.version or tag


# -- errors -------------------------------------------------------------------------------------------
class ImageCatalogError(ValueError):
    """Invalid `images:` entries; `problems` lists (path, message), e.g.
    (`images["shop/backend:2.3"].memory.leakMiPerMn`, `unknown field; known fields: baseMi, ...`)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    """The aliases allowed at the model `loc[:-1]` points to (for an `extra_forbidden` error)."""
    model: type[BaseModel] = ImageSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            break
        ann = field.annotation
        inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            break
        model = inner[0]
    return sorted(f.alias or n for n, f in model.model_fields.items())


def _problems(key: str, err: ValidationError, root: str) -> list[tuple[str, str]]:
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = f'{root}["{key}"]' + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = f"unknown field; known fields: {', '.join(_known_fields(loc))}"
        out.append((path, msg))
    return out


def expand_braces(pattern: str) -> list[str]:
    """Shell brace expansion: `1.{27,28}{,-alpine}` -> 1.27, 1.27-alpine, 1.28, 1.28-alpine."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth = 0
    for end in range(start, len(pattern)):
        depth += {"{": 1, "}": -1}.get(pattern[end], 0)
        if depth == 0:
            break
    else:
        return [pattern]
    parts, depth, cur = [], 0, ""
    for ch in pattern[start + 1:end]:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    head, tail = pattern[:start], pattern[end + 1:]
    return [x for p in parts for x in expand_braces(head + p + tail)]


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# -- the catalog ----------------------------------------------------------------------------------------
def normalize_key(key: str) -> tuple[str, str | None]:
    """`nginx:1.27` -> ("docker.io/library/nginx", "1.27"); a bare repository -> (repo, None)."""
    repo, tag = split_image(key)
    slash = key.rfind("/")
    has_tag = "@" in key or key.rfind(":") > slash
    return repo, (tag if has_tag else None)


class Catalog:
    """An immutable set of image behaviours; `merge` and `remove` return new catalogs."""

    def __init__(self, raw: Mapping[str, Mapping[str, Any]] | None = None, *, removed: frozenset[str] = frozenset(),
                 _specs: dict[str, ImageSpec] | None = None, root: str = "images") -> None:
        self._raw: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (raw or {}).items()}
        self._removed = removed
        if _specs is None:
            _specs, problems = {}, []
            for key, body in self._raw.items():
                try:
                    _specs[key] = ImageSpec.model_validate(body)
                except ValidationError as e:
                    problems += _problems(key, e, root)
            if problems:
                raise ImageCatalogError(problems)
        self._specs = _specs
        self._exact: dict[str, str] = {}
        self._repos: dict[str, list[str]] = {}
        self._globs: dict[str, list[str]] = {}
        for key, spec in self._specs.items():
            repo, tag = normalize_key(key)
            if tag is None:
                self._repos.setdefault(repo, []).append(key)
                self._globs[key] = [g for t in spec.tags or ["latest"] for g in expand_braces(t)]
            else:
                self._exact[f"{repo}:{tag}" if not tag.startswith("@") else repo + tag] = key

    @classmethod
    def builtin(cls) -> Catalog:
        """The built-in catalog (parsed once per process; catalogs are immutable)."""
        return _builtin()

    # -- lookups --------------------------------------------------------------------------------------
    def key_for(self, image: str) -> str | None:
        """The catalog key describing `image`, or None when no such image exists."""
        repo, tag = split_image(image)
        ref = repo + tag if tag.startswith("@") else f"{repo}:{tag}"
        if ref in self._removed:
            return None
        key = self._exact.get(ref)
        if key is not None:
            return key
        for key in self._repos.get(repo, ()):
            if tag.startswith("@") or any(fnmatchcase(tag, g) for g in self._globs[key]):
                return key
        return None

    def lookup(self, image: str) -> ImageSpec | None:
        key = self.key_for(image)
        return None if key is None else self._specs[key]

    def knows(self, image: str) -> bool:
        return self.key_for(image) is not None

    def repository_known(self, image: str) -> bool:
        """Whether any tag of the image's repository exists (decides the registry's error text)."""
        repo, _ = split_image(image)
        return repo in self._repos or any(r.rsplit(":", 1)[0] == repo for r in self._exact)

    def __contains__(self, image: object) -> bool:
        return isinstance(image, str) and self.knows(image)

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def raw(self, key: str) -> dict[str, Any]:
        return copy.deepcopy(self._raw[key])

    # -- derived catalogs --------------------------------------------------------------------------------
    def merge(self, images: Mapping[str, Any] | None, *, root: str = "images") -> Catalog:
        """A scenario's `images:` over this catalog: each entry deep-merges over the entry its reference
        resolves to here (mappings merge, lists and scalars replace). Raises `ImageCatalogError`."""
        if not images:
            return self
        raw = dict(self._raw)
        specs = dict(self._specs)
        problems: list[tuple[str, str]] = []
        for key, body in images.items():
            if not isinstance(body, Mapping):
                problems.append((f'{root}["{key}"]', "must be a mapping of image behaviour fields"))
                continue
            base_key = key if key in self._raw else self.key_for(key)
            merged = _deep_merge(self._raw[base_key], body) if base_key is not None else dict(body)
            if base_key != key and normalize_key(key)[1] is not None and "tags" not in body:
                merged.pop("tags", None)  # a one-tag entry does not inherit its repository's tag patterns
            try:
                specs[key] = ImageSpec.model_validate(merged)
            except ValidationError as e:
                problems += _problems(key, e, root)
                continue
            raw[key] = merged
        if problems:
            raise ImageCatalogError(problems)
        removed = frozenset(r for r in self._removed if not any(_ref(k) == r for k in images))
        return Catalog(raw, removed=removed, _specs=specs)

    def remove(self, image: str) -> Catalog:
        """This catalog without one image reference (its repository's other tags stay)."""
        return Catalog(self._raw, removed=self._removed | {_ref(image)}, _specs=self._specs)


def _ref(image: str) -> str:
    repo, tag = split_image(image)
    return repo + tag if tag.startswith("@") else f"{repo}:{tag}"


@functools.cache
def _builtin() -> Catalog:
    text = resources.files("prophet_sre.sim.behaviour").joinpath("builtin.yaml").read_text()
    return Catalog(yaml.safe_load(text), root="builtin")

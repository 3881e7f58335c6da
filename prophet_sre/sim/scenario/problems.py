"""Validation problems as `InvalidInput`s that name the file, the field path and what is allowed.

pydantic reports a location tuple (`('faults', 1, 'rollout', 'imgae')`) and a terse message. Scenario
authors need `faults[1].rollout.imgae: unknown field; known fields: container, image, target`. This
module walks the model types along the location so it can (a) print the path the way the YAML reads -
dropping the discriminator tags and union-member labels pydantic inserts - and (b) list the fields of
the model where an unknown field appeared, by their YAML names (aliases).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, Tag, ValidationError

from prophet_sre.errors import InvalidInput


class ScenarioInvalid(InvalidInput):
    """A scenario failed validation; `errors` holds every problem found (the message shows them all)."""

    def __init__(self, errors: list[InvalidInput]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        text = "; ".join(str(e) for e in self.errors[1:])
        more = f"\n  and {len(self.errors) - 1} more: {text}" if len(self.errors) > 1 else ""
        super().__init__(_message_of(first) + more, source=first.source, path=first.path)


def _message_of(err: InvalidInput) -> str:
    where = ":".join(p for p in (err.source, err.path) if p)
    text = str(err)
    return text[len(where) + 2:] if where and text.startswith(where + ": ") else text


def join_path(base: str, *parts: str | int) -> str:
    """`join_path("faults", 1, "rollout")` -> `faults[1].rollout`."""
    out = base
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p.isidentifier():
            out += f".{p}" if out else p
        else:
            out += f"[{p!r}]".replace("'", '"')
    return out


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _tags(tp: Any) -> dict[str, Any]:
    """Tag -> member type of a tagged union (members are `Annotated[X, Tag(...)]`)."""
    out: dict[str, Any] = {}
    for member in typing.get_args(tp):
        if typing.get_origin(member) is typing.Annotated:
            for meta in member.__metadata__:
                if isinstance(meta, Tag):
                    out[meta.tag] = typing.get_args(member)[0]
    return out


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _field_type(model: type[BaseModel], name: str) -> Any:
    for fname, info in model.model_fields.items():
        if (info.alias or fname) == name:
            return info.annotation
    return None


def known_fields(model: type[BaseModel]) -> list[str]:
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _walk(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[str | int], Any]:
    """(the YAML path items, the type found at the parent of the last item)."""
    path: list[str | int] = []
    cur: Any = root
    parent: Any = root
    for item in loc:
        parent = cur
        cur = _unwrap(cur)
        if _is_union(cur):
            tags = _tags(cur)
            if isinstance(item, str) and item in tags:
                cur = tags[item]
                continue
            members = [m for m in typing.get_args(cur) if m is not type(None)]
            if len(members) == 1:
                cur = _unwrap(members[0])
                parent = cur
            elif isinstance(item, str):
                continue  # pydantic's label for one member of the union ("constrained-int", "literal['all']")
        if isinstance(cur, type) and issubclass(cur, BaseModel):
            path.append(item)
            cur = _field_type(cur, str(item))
        elif typing.get_origin(cur) in (list, tuple):
            path.append(item)
            args = typing.get_args(cur)
            cur = args[0] if args else Any
        elif typing.get_origin(cur) is dict:
            path.append(item)
            args = typing.get_args(cur)
            cur = args[1] if len(args) == 2 else Any
        else:
            path.append(item)
            cur = Any
    return path, parent


def _allowed(expected: str) -> str:
    return expected.replace("'", "").replace(" or ", ", ")


def _describe(err: dict[str, Any], parent: Any) -> str:
    typ = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    shown = repr(got) if len(repr(got)) <= 60 else repr(got)[:57] + "..."
    if typ == "extra_forbidden":
        model = _unwrap(parent)
        if isinstance(model, type) and issubclass(model, BaseModel):
            return f"unknown field; known fields: {', '.join(known_fields(model))}"
        return "unknown field"
    if typ == "missing":
        return "required field missing"
    if typ in ("literal_error", "enum"):
        return f"invalid value {shown}; allowed: {_allowed(str(ctx.get('expected', '')))}"
    if typ in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    if typ in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {type(got).__name__}"
    if typ in ("list_type",):
        return f"expected a list, got {type(got).__name__}"
    if typ == "check_form":
        return str(err["msg"])
    return f"{err['msg']} (got {shown})"


def from_validation_error(e: ValidationError, model: type[BaseModel], source: str,
                          base: str = "") -> list[InvalidInput]:
    """One InvalidInput per problem; errors of the members of one union field are merged."""
    merged: dict[str, list[str]] = {}
    for err in e.errors(include_url=False):
        items, parent = _walk(model, tuple(err["loc"]))
        path = join_path(base, *items)
        msg = _describe(err, parent)
        if msg not in merged.setdefault(path, []):
            merged[path].append(msg)
    return [InvalidInput("; or ".join(msgs), source=source, path=path) for path, msgs in merged.items()]


def problem(source: str, path: str, message: str) -> InvalidInput:
    return InvalidInput(message, source=source, path=path)



__all__ = ["ScenarioInvalid", "from_validation_error", "join_path", "known_fields", "problem"]

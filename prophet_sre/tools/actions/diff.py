"""A compact, bounded diff of one object before and after a (dry-run) write.

Why not `difflib` over two full YAML dumps: a Deployment is 150 lines of which a restart changes one,
and the reviewer (a human approving, or an LLM critic) should read only that line and where it is. So
this walks both objects, collects the changed *paths* (lists of named things - containers, env,
backendRefs - are matched by `name`, so a reorder is not a change), and prints each as a unified-diff
hunk of YAML values:

    --- Deployment shop/web (live)
    +++ Deployment shop/web (after)
    @@ spec.template.spec.containers[main].image
    - nginx:1.28
    + nginx:1.27

Status and server-owned metadata (resourceVersion, generation, managedFields ...) are ignored: they are
not what an action changes. Output is cut at `max_lines` with a marker that says how much was left out -
never silently.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_MISSING = object()
IGNORED_METADATA = frozenset({"resourceVersion", "generation", "managedFields", "uid", "creationTimestamp",
                              "selfLink"})
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def clip(text: str, max_chars: int) -> str:
    """`text`, or its start plus a marker saying how many characters were left out."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... [{len(text) - max_chars} more chars]"


def _relevant(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    out = {k: v for k, v in obj.items() if k != "status"}
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k not in IGNORED_METADATA}
    return out


def _key(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def _named(items: list[Any]) -> dict[str, Any] | None:
    """{name: item} when every item is a dict with a unique string `name`, else None."""
    if not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return None
    named = {i["name"]: i for i in items}
    return named if len(named) == len(items) else None


def changes(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, old, new) for every changed leaf; `old`/`new` is `_MISSING` for an added/removed key."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[tuple[str, Any, Any]] = []
        for k in list(before) + [k for k in after if k not in before]:
            out += changes(before.get(k, _MISSING), after.get(k, _MISSING), _key(path, str(k)))
        return out
    if isinstance(before, list) and isinstance(after, list) and before != after:
        nb, na = _named(before), _named(after)
        if nb is not None and na is not None and (nb or na):
            out = []
            for k in list(nb) + [k for k in na if k not in nb]:
                out += changes(nb.get(k, _MISSING), na.get(k, _MISSING), f"{path}[{k}]")
            return out
        if len(before) == len(after):
            out = []
            for i, (b, a) in enumerate(zip(before, after, strict=True)):
                out += changes(b, a, f"{path}[{i}]")
            return out
    if before is _MISSING and after is _MISSING:
        return []
    return [] if before == after else [(path, before, after)]


def _value_lines(sign: str, value: Any, max_chars: int) -> list[str]:
    if value is _MISSING:
        return []
    if isinstance(value, dict | list):
        text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=100).rstrip("\n")
    else:
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000).rstrip("\n")
        text = text.removesuffix("\n...").removesuffix("...").rstrip("\n")
    return [f"{sign} {line}" for line in clip(text, max_chars).splitlines()]


def render(title: str, before: Any, after: Any, *, max_lines: int = 80, max_value_chars: int = 300) -> str:
    """The diff of one object: created (`before` None), deleted (`after` None) or changed."""
    if before is None and after is None:
        return ""
    if before is None:
        lines = [f"+++ {title} (created)", *_value_lines("+", _relevant(after), max_value_chars * 4)]
    elif after is None:
        lines = [f"--- {title} (deleted)"]
    else:
        found = changes(_relevant(before), _relevant(after))
        if not found:
            return f"=== {title} (no change)"
        lines = [f"--- {title} (live)", f"+++ {title} (after)"]
        for path, old, new in found:
            lines.append(f"@@ {path or '(root)'}")
            lines += _value_lines("-", old, max_value_chars) + _value_lines("+", new, max_value_chars)
    return bound(lines, max_lines)


def bound(lines: list[str], max_lines: int) -> str:
    """Join `lines`, cutting at `max_lines` with a marker that says what was left out."""
    if len(lines) <= max_lines:
        return "\n".join(lines)
    kept = lines[: max_lines - 1]
    return "\n".join([*kept, f"[diff cut: {len(lines) - len(kept)} more lines; raise "
                               f"ActionSettings.diff_max_lines to see them]"])


__all__ = ["IGNORED_METADATA", "bound", "changes", "clip", "render"]

"""Render the Helm chart in `deploy/helm/prophet` without helm (it is not installable here offline).

Supports the subset of Go templates the chart uses, with Helm's semantics: `{{ .Values.a.b }}`,
`.Release.Name/Namespace`, `.Chart.*`; `{{- ... -}}` whitespace trimming; `if` / `if not` / `else` /
`end`; pipelines with `quote`, `nindent N`, `indent N`, `default X`; `toYaml X`. Anything else raises,
so a template the renderer cannot read fails the test instead of rendering wrongly.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

_TAG = re.compile(r"{{(-?)\s*(.*?)\s*(-?)}}", re.S)


def _lookup(ctx: dict[str, Any], path: str) -> Any:
    if not path.startswith("."):
        raise ValueError(f"unsupported term {path!r}")
    cur: Any = ctx
    for part in path[1:].split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _to_yaml(v: Any) -> str:
    return yaml.safe_dump(v, sort_keys=True, default_flow_style=False).rstrip("\n")


def _eval(expr: str, ctx: dict[str, Any]) -> Any:
    stages = [s.strip() for s in expr.split("|")]
    head = stages[0].split()
    if head[0] == "toYaml":
        value: Any = _to_yaml(_lookup(ctx, head[1]))
    elif head[0] == "not":
        value = not _lookup(ctx, head[1])
    elif len(head) == 1:
        value = _lookup(ctx, head[0])
    else:
        raise ValueError(f"unsupported expression {expr!r}")
    for stage in stages[1:]:
        fn, *args = stage.split()
        if fn == "quote":
            value = json.dumps(_text(value))
        elif fn in ("nindent", "indent"):
            pad = " " * int(args[0])
            value = ("\n" if fn == "nindent" else "") + "\n".join(pad + line for line in _text(value).split("\n"))
        elif fn == "default":
            value = value if value not in (None, "", False) else json.loads(args[0])
        else:
            raise ValueError(f"unsupported function {fn!r} in {expr!r}")
    return value


def render_text(text: str, ctx: dict[str, Any]) -> str:
    out: list[str] = []
    stack: list[tuple[bool, bool]] = []  # (parent emitting, this branch emitting)
    emitting = True
    pos = 0
    for m in _TAG.finditer(text):
        chunk = text[pos:m.start()]
        if m.group(1):
            chunk = chunk.rstrip(" \t\n")
        if emitting:
            out.append(chunk)
        pos = m.end()
        if m.group(3):
            while pos < len(text) and text[pos] in " \t\n":
                pos += 1
        body = m.group(2)
        word = body.split()[0] if body else ""
        if word == "if":
            cond = bool(_eval(body[2:].strip(), ctx)) if emitting else False
            stack.append((emitting, cond))
            emitting = emitting and cond
        elif word == "else":
            parent, cond = stack[-1]
            emitting = parent and not cond
        elif word == "end":
            emitting = stack.pop()[0]
        elif emitting:
            out.append(_text(_eval(body, ctx)))
    if stack:
        raise ValueError("unterminated if")
    out.append(text[pos:] if emitting else "")
    return "".join(out)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def render_chart(chart: Path, *, release: str = "prophet", namespace: str = "prophet-system",
                 values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object the chart renders (CRDs from `crds/` first), as parsed YAML documents."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    ctx = {"Values": _merge(yaml.safe_load((chart / "values.yaml").read_text()), values or {}),
           "Release": {"Name": release, "Namespace": namespace},
           "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta.get("appVersion")}}
    docs: list[dict[str, Any]] = []
    for crd in sorted((chart / "crds").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(crd.read_text()) if d]
    for tpl in sorted((chart / "templates").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(render_text(tpl.read_text(), ctx)) if d]
    return docs


__all__ = ["render_chart", "render_text"]

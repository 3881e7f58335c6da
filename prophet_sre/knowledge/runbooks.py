"""Runbooks: Markdown files with YAML front matter that authors write and Prophet retrieves and renders.

A runbook names the categories it covers, the symptoms that identify it (phrases, or `/regexes/`, over
finding texts, event reasons and metric names), optional PromQL signals, its actions as templates of
`Action` variants with an optional `when` condition, its verification checks (the scenario check forms),
and prose sections (What you see, Why, Fix, Verify, Roll back). See `runbooks/README.md`.

This module parses and lints them (every problem with file:line and what to do; an unknown action type,
an unknown variable or a template that cannot produce a valid `Action` is an error) and renders a
runbook's actions and checks for one incident. Retrieval lives in `index.py`.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError

from prophet_sre.domain import ACTION_TYPES, Action, Category, Check, ResourceRef, Risk
from prophet_sre.errors import InvalidInput
from prophet_sre.knowledge import expr, templates

CHECK_FORMS = ("deployment", "statefulset", "daemonset", "pod", "pods", "service", "pvc", "no_pod_reason",
               "metric", "object", "unchanged")
"""Keys of the check forms of SCENARIOS.md (`{deployment: NS/NAME, available: true}` ...)."""
SECTIONS = ("What you see", "Why", "Fix", "Verify", "Roll back")
FIELDS = ("id", "title", "categories", "symptoms", "signals", "risk", "clusters", "actions", "verification")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,79}$")
_ACTION = TypeAdapter(Action)


@dataclass(frozen=True)
class LintProblem:
    """One problem in a runbook file: where, what, and (in the message) what to do."""

    path: str
    line: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class _Template:
    compiled: templates.Compiled
    when: ast.Expression | None


class Runbook(BaseModel):
    """A parsed runbook. The templates are compiled once, at parse time."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    categories: list[Category]
    symptoms: list[str]
    signals: list[str] = Field(default_factory=list)
    risk: Risk = Risk.LOW
    clusters: list[str] = Field(default_factory=list)
    """Clusters it applies to; empty: every cluster."""
    actions: list[dict[str, Any]] = Field(default_factory=list)
    verification: list[dict[str, Any]] = Field(default_factory=list)
    sections: dict[str, str] = Field(default_factory=dict)
    path: str = ""
    sha256: str = ""
    """Hash of the file's bytes: the index re-embeds a runbook only when this changes."""

    _actions: list[_Template] = PrivateAttr(default_factory=list)
    _checks: list[_Template] = PrivateAttr(default_factory=list)
    _symptoms: list[re.Pattern[str]] = PrivateAttr(default_factory=list)
    _source: str = PrivateAttr(default="")

    def source(self) -> str:
        """The file text it was parsed from (stored in the index, so any process can parse it back)."""
        return self._source

    def document(self) -> str:
        """The text both retrievers index: title, categories, symptoms and the descriptive sections."""
        symptoms = [s.strip("/").replace("\\", "") for s in self.symptoms]
        parts = [self.title, " ".join(c.value.replace("_", " ") for c in self.categories), "; ".join(symptoms)]
        parts += [self.sections.get(s, "") for s in ("What you see", "Why", "Fix")]
        return "\n".join(p for p in parts if p)

    def symptom_hits(self, text: str) -> int:
        """How many of the runbook's symptoms occur in `text`."""
        return sum(1 for p in self._symptoms if p.search(text))

    def render(self, variables: Mapping[str, Any]) -> tuple[list[Action], list[Check]]:
        """Actions whose `when` holds and that render to a valid `Action`, and the checks that render."""
        actions: list[Action] = []
        for t in self._actions:
            if not templates.holds(t.when, variables):
                continue
            try:
                data = templates.render(t.compiled, variables)
                data.setdefault("risk", self.risk.value)
                data.setdefault("reason", f"runbook {self.id}: {self.title}")
                actions.append(to_action(data))
            except (expr.Missing, ValidationError, ValueError, TypeError, ArithmeticError):
                continue
        checks: list[Check] = []
        for t in self._checks:
            if not templates.holds(t.when, variables):
                continue
            try:
                checks.append(_check(templates.render(t.compiled, variables)))
            except (expr.Missing, ValidationError, ValueError, TypeError, ArithmeticError):
                continue
        return actions, checks


def to_action(data: dict[str, Any]) -> Action:
    """A rendered action mapping as a validated `Action` (`target` may be NS/KIND/NAME text)."""
    if isinstance(data.get("target"), str):
        data = {**data, "target": ResourceRef.parse(data["target"])}
    return _ACTION.validate_python(data)


def _check(data: dict[str, Any]) -> Check:
    form = next(k for k in data if k in CHECK_FORMS)
    target = data[form]
    return Check(kind=form, target="" if isinstance(target, bool) else str(target),
                 expect={k: v for k, v in data.items() if k != form})


# -- parsing -------------------------------------------------------------------------------------------------
class _Lines:
    """Line numbers (1-based, in the file) of every value in the front matter, by field path."""

    def __init__(self, node: yaml.Node | None, offset: int) -> None:
        self.offset = offset
        self.by_path: dict[str, int] = {}
        if node is not None:
            self._walk(node, "")

    def _walk(self, node: yaml.Node, path: str) -> None:
        self.by_path[path] = node.start_mark.line + self.offset
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = f"{path}.{k.value}" if path else str(k.value)
                self.by_path[key + ":key"] = k.start_mark.line + self.offset
                self._walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._walk(v, f"{path}[{i}]")

    def __call__(self, path: str) -> int:
        while path and path not in self.by_path:
            path = path.rsplit(".", 1)[0] if "." in path else re.sub(r"\[\d+\]$", "", path)
        return self.by_path.get(path, self.offset)


def _split(text: str) -> tuple[str, str, int]:
    """(front matter, body, line of the body's first line); raises ValueError without front matter."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ValueError("no front matter: the file must start with a line '---', then YAML, then '---'")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1:]), i + 2
    raise ValueError("front matter is not closed: add a line '---' after the YAML")


def _sections(body: str) -> dict[str, str]:
    out: dict[str, str] = {}
    current: str | None = None
    for line in body.splitlines():
        m = re.match(r"^##\s+(.+?)\s*$", line)
        if m:
            current = m[1]
            out[current] = ""
        elif current is not None:
            out[current] += line + "\n"
    return {k: v.strip() for k, v in out.items()}


def parse_text(text: str, source: str = "<runbook>") -> tuple[Runbook | None, list[LintProblem]]:
    """Parse and lint one runbook; the runbook is None when there is any error."""
    problems: list[LintProblem] = []

    def err(line: int, message: str, severity: str = "error") -> None:
        problems.append(LintProblem(source, line, message, severity))

    try:
        front, body, body_line = _split(text)
    except ValueError as e:
        err(1, str(e))
        return None, problems
    try:
        node = yaml.compose(front)
        data = yaml.safe_load(front)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        err((mark.line + 2) if mark else 2, f"front matter is not valid YAML: {getattr(e, 'problem', e)}")
        return None, problems
    line = _Lines(node, 2)
    if not isinstance(data, dict):
        err(2, "front matter must be a mapping (id:, title:, categories: ...)")
        return None, problems
    for key in data:
        if key not in FIELDS:
            err(line(f"{key}:key"), f"unknown field {key!r}; allowed: {', '.join(FIELDS)}")
    _check_fields(data, line, err, source)
    actions = _compile_actions(data.get("actions"), line, err)
    checks = _compile_checks(data.get("verification"), line, err)
    symptoms = _compile_symptoms(data.get("symptoms"), line, err)
    for i, sig in enumerate(data.get("signals") or []):
        if not isinstance(sig, str):
            err(line(f"signals[{i}]"), "a signal is a PromQL string")
            continue
        try:
            _check_names(templates.compile_value(sig), f"signals[{i}]", line, err)
        except expr.ExprError as e:
            err(line(f"signals[{i}]"), str(e))
    sections = _sections(body)
    for s in SECTIONS:
        if not sections.get(s):
            err(body_line, f"missing section '## {s}' (every runbook has: {', '.join(SECTIONS)})")
    if any(p.severity == "error" for p in problems):
        return None, problems
    rb = Runbook(id=data["id"], title=data["title"], categories=data["categories"], symptoms=data["symptoms"],
                 signals=data.get("signals") or [], risk=data.get("risk", "low"), clusters=data.get("clusters") or [],
                 actions=data.get("actions") or [], verification=data.get("verification") or [],
                 sections=sections, path=source, sha256=hashlib.sha256(text.encode()).hexdigest())
    rb._actions, rb._checks, rb._symptoms, rb._source = actions, checks, symptoms, text
    return rb, problems


def _check_fields(data: dict[str, Any], line: _Lines, err: Any, source: str) -> None:
    rid = data.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        err(line("id"), "id is required: lowercase letters, digits and '-', 3-80 characters (e.g. oom-limit-too-low)")
    elif Path(source).suffix == ".md" and Path(source).stem != rid:
        err(line("id"), f"id {rid!r} differs from the file name {Path(source).name!r}: name the file {rid}.md",
            "warning")
    if not isinstance(data.get("title"), str) or not data["title"].strip():
        err(line("title"), "title is required: one line that says what is wrong and what fixes it")
    cats = data.get("categories")
    if not isinstance(cats, list) or not cats:
        err(line("categories"), f"categories is required: a list of {', '.join(c.value for c in Category)}")
    else:
        for i, c in enumerate(cats):
            if c not in {x.value for x in Category}:
                err(line(f"categories[{i}]"), f"unknown category {c!r}; use one of "
                    f"{', '.join(x.value for x in Category)}")
    if data.get("risk", "low") not in {r.value for r in Risk}:
        err(line("risk"), f"risk must be low, medium or high, not {data.get('risk')!r}")
    cl = data.get("clusters")
    if cl is not None and (not isinstance(cl, list) or not all(isinstance(x, str) for x in cl)):
        err(line("clusters"), "clusters is a list of cluster names (omit it for every cluster)")


def _compile_symptoms(raw: Any, line: _Lines, err: Any) -> list[re.Pattern[str]]:
    if not isinstance(raw, list) or not raw:
        err(line("symptoms"), "symptoms is required: a list of phrases or /regexes/ found in finding texts, "
            "event reasons or metric names")
        return []
    out = []
    for i, s in enumerate(raw):
        if isinstance(s, dict):
            err(line(f"symptoms[{i}]"), "YAML read this symptom as a mapping (it contains ': '): quote it, "
                "e.g. - 'Failed to pull image: not found'")
            continue
        if not isinstance(s, str) or not s.strip():
            err(line(f"symptoms[{i}]"), "a symptom is a non-empty string")
            continue
        if len(s) > 2 and s.startswith("/") and s.endswith("/"):
            try:
                out.append(re.compile(s[1:-1], re.I))
            except re.error as e:
                err(line(f"symptoms[{i}]"), f"bad regex {s}: {e}")
        else:
            out.append(re.compile(re.escape(s), re.I))
    return out


def _check_names(compiled: templates.Compiled, path: str, line: _Lines, err: Any,
                 extra: Iterable[str] = ()) -> bool:
    unknown = compiled.names() - set(templates.VARIABLES) - set(extra)
    for n in sorted(unknown):
        err(line(path), f"unknown variable {n!r}; known: {', '.join(templates.VARIABLES)} "
            "(use get('name', default) for an optional one)")
    return not unknown


def _condition(raw: dict[str, Any], path: str, line: _Lines, err: Any) -> tuple[ast.Expression | None, bool]:
    when = raw.get("when")
    if when is None:
        return None, True
    if not isinstance(when, str):
        err(line(f"{path}.when"), "when is an expression in quotes, e.g. \"kind == 'Deployment'\"")
        return None, False
    try:
        tree = templates.compile_condition(when)
    except expr.ExprError as e:
        err(line(f"{path}.when"), str(e))
        return None, False
    unknown = expr.names(tree) - set(templates.VARIABLES)
    for n in sorted(unknown):
        err(line(f"{path}.when"), f"unknown variable {n!r} in when; known: {', '.join(templates.VARIABLES)}")
    return tree, not unknown


def _compile_actions(raw: Any, line: _Lines, err: Any) -> list[_Template]:
    if not isinstance(raw, list) or not raw:
        err(line("actions"), "actions is required: at least one action (an `escalate` if nothing is safe to do)")
        return []
    out = []
    for i, a in enumerate(raw):
        path = f"actions[{i}]"
        if not isinstance(a, dict):
            err(line(path), "an action is a mapping with a type: and its parameters")
            continue
        if a.get("type") not in ACTION_TYPES:
            err(line(f"{path}.type"), f"unknown action type {a.get('type')!r}; use one of {', '.join(ACTION_TYPES)}")
            continue
        if "target" not in a:
            err(line(path), "target is required (usually \"{{ target }}\", the diagnosis root cause)")
            continue
        when, ok = _condition(a, path, line, err)
        compiled = _compile_fields({k: v for k, v in a.items() if k != "when"}, path, line, err)
        if compiled is None or not ok:
            continue
        try:
            data = templates.render(compiled, templates.sample_context())
            to_action(data)
        except expr.Missing as e:
            err(line(path), f"the template cannot be rendered even with sample values (missing {e.name})")
            continue
        except ValidationError as e:
            first = e.errors()[0]["loc"]
            where = f"{path}.{first[1]}" if len(first) > 1 else path
            err(line(where), f"does not render to a valid {a['type']} action: {_why(e)}")
            continue
        except (ValueError, TypeError) as e:
            err(line(path), f"does not render to a valid {a['type']} action: {_why(e)}")
            continue
        out.append(_Template(compiled, when))
    return out


def _compile_checks(raw: Any, line: _Lines, err: Any) -> list[_Template]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        err(line("verification"), "verification is a list of checks, e.g. {deployment: NS/NAME, available: true}")
        return []
    out = []
    for i, c in enumerate(raw):
        path = f"verification[{i}]"
        forms = [k for k in c if k in CHECK_FORMS] if isinstance(c, dict) else []
        if len(forms) != 1:
            err(line(path), f"a check has exactly one of {', '.join(CHECK_FORMS)} (see SCENARIOS.md check forms)")
            continue
        when, ok = _condition(c, path, line, err)
        compiled = _compile_fields({k: v for k, v in c.items() if k != "when"}, path, line, err)
        if compiled is not None and ok:
            try:
                _check(templates.render(compiled, templates.sample_context()))
            except (expr.Missing, ValidationError, ValueError, TypeError) as e:
                err(line(path), f"the check cannot be rendered: {_why(e)}")
                continue
            out.append(_Template(compiled, when))
    return out


def _compile_fields(body: dict[str, Any], path: str, line: _Lines, err: Any) -> templates.Compiled | None:
    """Compile each field's templates on its own, so an error points at the field's line."""
    trees: dict[str, ast.Expression] = {}
    good = True
    for key, value in body.items():
        try:
            compiled = templates.compile_value(value)
        except expr.ExprError as e:
            err(line(f"{path}.{key}"), str(e))
            good = False
            continue
        good &= _check_names(compiled, f"{path}.{key}", line, err)
        trees.update(compiled.trees)
    return templates.Compiled(body, trees) if good else None


def _why(e: Exception) -> str:
    if isinstance(e, ValidationError):
        return "; ".join(f"{'.'.join(str(x) for x in d['loc'][1:]) or 'action'}: {d['msg']}"
                         for d in e.errors()[:3])
    return str(e)


# -- files ---------------------------------------------------------------------------------------------------
def runbook_files(path: Path) -> list[Path]:
    """A file, or every `*.md` under a directory (README.md excluded), sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InvalidInput(f"no such file or directory: {path}")
    return sorted(p for p in path.rglob("*.md") if p.name.lower() != "readme.md")


def load_dir(path: Path) -> tuple[list[Runbook], list[LintProblem]]:
    """Every valid runbook under `path` and every problem (bad files are reported and left out)."""
    books: list[Runbook] = []
    problems: list[LintProblem] = []
    seen: dict[str, str] = {}
    for f in runbook_files(path):
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(LintProblem(str(f), 1, f"cannot read it: {e}"))
            continue
        rb, found = parse_text(text, str(f))
        problems += found
        if rb is None:
            continue
        if rb.id in seen:
            problems.append(LintProblem(str(f), 2, f"duplicate id {rb.id!r} (also in {seen[rb.id]}): ids must be "
                                        "unique"))
            continue
        seen[rb.id] = str(f)
        books.append(rb)
    return books, problems


def load(path: Path) -> Runbook:
    """One runbook; raises InvalidInput listing every error."""
    rb, problems = parse_text(path.read_text(encoding="utf-8"), str(path))
    if rb is None:
        raise InvalidInput("; ".join(str(p) for p in problems if p.severity == "error"), source=str(path))
    return rb


def builtin_dir() -> Path:
    """The runbooks Prophet ships: `runbooks/` of a source checkout, or the copy installed as package data."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "builtin_runbooks", here.parents[1] / "runbooks"):
        if candidate.is_dir():
            return candidate
    raise InvalidInput("the built-in runbooks are missing (expected runbooks/ in the source tree or "
                       "prophet_sre/knowledge/builtin_runbooks/ in the installed package)")


__all__ = ["CHECK_FORMS", "SECTIONS", "LintProblem", "Runbook", "builtin_dir", "load", "load_dir", "parse_text",
           "runbook_files", "to_action"]

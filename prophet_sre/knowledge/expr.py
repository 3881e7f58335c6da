"""The small expression language of runbook templates (`{{ expr }}`) and `when` conditions.

Runbook authors write Python-like expressions over the incident's variables (`kind == 'Deployment'`,
`get('replicas', 2) * 2`, `double(memory_limit)`). They are parsed with `ast` and evaluated by walking
a whitelist of node types, so a runbook can compute a parameter but can never call arbitrary code,
import, touch attributes or loop. A name the incident does not define raises `Missing`: the caller
skips that action (a runbook action either renders to a valid `Action` or is not offered).

`names(tree)` lists the variables an expression reads, so `prophet runbooks lint` can reject a typo
before any incident ever reaches the runbook.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_ALLOWED = (ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call, ast.Name,
            ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Subscript, ast.Load, ast.And, ast.Or, ast.Not,
            ast.USub, *_BINOPS, *_CMPOPS)


class ExprError(ValueError):
    """An expression that is not valid in a runbook (syntax, a forbidden construct, an unknown function)."""


class Missing(LookupError):  # noqa: N818 - it is a condition of the incident, not a bug
    """The incident does not define a variable (or key) the expression needs."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


def parse(text: str, functions: Mapping[str, Callable[..., Any]]) -> ast.Expression:
    """Parse and check one expression; raises ExprError saying what is wrong."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"not a valid expression: {text.strip()!r} ({e.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"{type(node).__name__} is not allowed in {text.strip()!r}: use names, literals, "
                            "arithmetic, comparisons, and/or/not, x if c else y, [index] and the functions "
                            f"{', '.join(sorted(functions))}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in functions:
                what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise ExprError(f"unknown function {what!r} in {text.strip()!r} "
                                f"(known: {', '.join(sorted(functions))})")
            if node.keywords:
                raise ExprError(f"keyword arguments are not supported in {text.strip()!r}")
    return tree


def names(tree: ast.Expression) -> set[str]:
    """Variables the expression reads (function names and `get('x', ...)` names included as `x`)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not _is_func(tree, node):
            out.add(node.id)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.add(node.args[0].value)
    return out


def _is_func(tree: ast.Expression, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


def evaluate(tree: ast.Expression, variables: Mapping[str, Any],
             functions: Mapping[str, Callable[..., Any]]) -> Any:
    """The value of a parsed expression; raises Missing for an undefined variable or key."""
    return _Eval(variables, functions).visit(tree.body)


class _Eval:
    def __init__(self, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]) -> None:
        self.vars = variables
        self.funcs = functions

    def visit(self, node: ast.AST) -> Any:
        match node:
            case ast.Constant(value=v):
                return v
            case ast.Name(id=name):
                if name not in self.vars or self.vars[name] is None:
                    raise Missing(name)
                return self.vars[name]
            case ast.BoolOp(op=ast.And(), values=values):
                result: Any = True
                for v in values:
                    result = self.visit(v)
                    if not result:
                        return result
                return result
            case ast.BoolOp(op=ast.Or(), values=values):
                result = False
                for v in values:
                    result = self.visit(v)
                    if result:
                        return result
                return result
            case ast.UnaryOp(op=ast.Not(), operand=x):
                return not self.visit(x)
            case ast.UnaryOp(op=ast.USub(), operand=x):
                return -self.visit(x)
            case ast.BinOp(left=left, op=op, right=right):
                return _BINOPS[type(op)](self.visit(left), self.visit(right))
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                a = self.visit(left)
                for op, c in zip(ops, comparators, strict=True):
                    b = self.visit(c)
                    if not _CMPOPS[type(op)](a, b):
                        return False
                    a = b
                return True
            case ast.IfExp(test=test, body=body, orelse=orelse):
                return self.visit(body) if self.visit(test) else self.visit(orelse)
            case ast.Call(func=ast.Name(id="get"), args=args):
                return self._get(args)
            case ast.Call(func=ast.Name(id=fname), args=args):
                return self.funcs[fname](*(self.visit(a) for a in args))
            case ast.List(elts=elts) | ast.Tuple(elts=elts):
                return [self.visit(e) for e in elts]
            case ast.Dict(keys=keys, values=values):
                return {self.visit(k): self.visit(v) for k, v in zip(keys, values, strict=True) if k is not None}
            case ast.Subscript(value=value, slice=index):
                container, key = self.visit(value), self.visit(index)
                try:
                    return container[key]
                except (KeyError, IndexError, TypeError):
                    raise Missing(f"[{key!r}]") from None
        raise ExprError(f"cannot evaluate {ast.unparse(node)!r}")  # pragma: no cover - parse() rejects it

    def _get(self, args: list[ast.expr]) -> Any:
        """`get('name', default)`: a variable that may be undefined for this incident."""
        if not args or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
            raise ExprError("get() takes a variable name in quotes, then an optional default")
        value = self.vars.get(args[0].value)
        if value is None:
            return self.visit(args[1]) if len(args) > 1 else None
        return value


__all__ = ["ExprError", "Missing", "evaluate", "names", "parse"]

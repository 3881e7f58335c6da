"""A small POSIX-shell subset for `sh -c` scripts, on a simulated time line.

Container commands are very often `sh -c "..."` one-liners (`touch /tmp/healthy; sleep 30; rm -f
/tmp/healthy; sleep 600`, `while true; do echo tick; sleep 5; done`, `until nslookup db; do sleep 2;
done`). Whether such a container prints, exits, crashes or fails its exec probe depends on what the
script does, so the script is parsed and run - not on a clock, but by advancing a time cursor: `sleep`
moves it, `echo` records a line at it, `touch`/`rm` record file changes at it. The commands themselves
are executed by the caller's `Executor` (see `programs.py`); this module only knows the grammar:
`;` `&&` `||` `&` `|`, redirections, `while`/`until`/`for`/`if`, and variable expansion.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Protocol

OPS = {";", "&&", "||", "&"}
KEYWORDS_END = {"do", "done", "then", "else", "elif", "fi"}
MAX_ITERATIONS = 100
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*|[?$#0-9]))")


class Executor(Protocol):
    """What runs commands for the shell: the state of the time line and one simple command."""

    t: float
    done: bool
    forever: bool
    env: dict[str, str]
    lines: list[tuple[float, str]]
    exit_code: int
    errexit: bool

    def simple(self, argv: list[str], redirect: str | None) -> int: ...

    def start_loop(self, start_s: float, period_s: float, lines: list[tuple[float, str]]) -> None: ...


@dataclass
class Simple:
    words: list[str]
    redirect: str | None = None  # the file output goes to (None: the log)


@dataclass
class Pipe:
    cmds: list[Simple]


@dataclass
class Loop:
    until: bool
    cond: Seq
    body: Seq


@dataclass
class For:
    var: str
    words: list[str]
    body: Seq


@dataclass
class If:
    branches: list[tuple[Seq, Seq]]
    otherwise: Seq | None


Node = Pipe | Loop | For | If


@dataclass
class Seq:
    items: list[tuple[str, Node, bool]] = field(default_factory=list)
    """(operator before the item: ";", "&&" or "||"; the node; whether it runs in the background)."""


# -- parsing ------------------------------------------------------------------------------------------------
def _newlines_to_semicolons(script: str) -> str:
    out, quote = [], ""
    for ch in script:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "\n":
            ch = ";"
        out.append(ch)
    return "".join(out)


def tokenize(script: str) -> list[str]:
    lex = shlex.shlex(_newlines_to_semicolons(script), posix=True, punctuation_chars=";&|<>")
    lex.whitespace_split = True
    try:
        return list(lex)
    except ValueError:  # unbalanced quotes: sh reports a syntax error
        return ["__syntax_error__"]


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, word: str) -> None:
        while self.peek() == ";":
            self.i += 1
        if self.peek() == word:
            self.i += 1

    def seq(self, stop: set[str]) -> Seq:
        out = Seq()
        op = ";"
        while (tok := self.peek()) is not None and tok not in stop:
            if tok in OPS:
                self.take()
                if tok == "&" and out.items:
                    prev_op, prev, _ = out.items[-1]
                    out.items[-1] = (prev_op, prev, True)
                elif tok != "&":
                    op = tok
                continue
            at = self.i
            node = self.node()
            if node is not None:
                out.items.append((op, node, False))
            elif self.i == at:
                self.take()  # a stray keyword: sh would report a syntax error; skip it
            op = ";"
        return out

    def node(self) -> Node | None:
        tok = self.peek()
        if tok in ("while", "until"):
            self.take()
            cond = self.seq({"do"})
            self.expect("do")
            body = self.seq({"done"})
            self.expect("done")
            return Loop(tok == "until", cond, body)
        if tok == "for":
            self.take()
            var = self.take() if self.peek() else "_"
            words: list[str] = []
            if self.peek() == "in":
                self.take()
                while (w := self.peek()) is not None and w not in (";", "do"):
                    words.append(self.take())
            self.expect("do")
            body = self.seq({"done"})
            self.expect("done")
            return For(var, words, body)
        if tok == "if":
            self.take()
            branches, otherwise = [], None
            while True:
                cond = self.seq({"then"})
                self.expect("then")
                body = self.seq({"elif", "else", "fi"})
                branches.append((cond, body))
                nxt = self.take() if self.peek() else "fi"
                if nxt == "elif":
                    continue
                if nxt == "else":
                    otherwise = self.seq({"fi"})
                    self.expect("fi")
                break
            return If(branches, otherwise)
        return self.pipe()

    def pipe(self) -> Pipe | None:
        cmds = [self.simple()]
        while self.peek() == "|":
            self.take()
            cmds.append(self.simple())
        cmds = [c for c in cmds if c.words]
        return Pipe(cmds) if cmds else None

    def simple(self) -> Simple:
        cmd = Simple([])
        while (tok := self.peek()) is not None and tok not in OPS and tok != "|":
            if tok in KEYWORDS_END and not cmd.words:
                break
            self.take()
            if tok and set(tok) <= set("<>&"):
                if cmd.words and cmd.words[-1].isdigit():
                    cmd.words.pop()  # the `2` of `2>&1`
                target = self.take() if self.peek() not in (None, *OPS, "|") else ""
                if tok in (">", ">>", "&>") and target not in ("/dev/stdout", "/dev/stderr", "1", "2"):
                    cmd.redirect = target
            else:
                cmd.words.append(tok)
        return cmd


def parse(script: str) -> Seq:
    return _Parser(tokenize(script)).seq(set())


# -- running ------------------------------------------------------------------------------------------------
def expand(word: str, env: dict[str, str], last: int) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name == "?":
            return str(last)
        if name == "$":
            return "1"
        if name in ("#", "0") or name.isdigit():
            return "0" if name == "#" else ("sh" if name == "0" else "")
        return env.get(name, "")
    return _VAR.sub(sub, word)


def run(script: str, ex: Executor) -> int:
    """Run `script` on the executor's time line; returns the exit status of the last command."""
    return _seq(parse(script), ex)


def _seq(seq: Seq, ex: Executor) -> int:
    code = ex.exit_code
    for op, node, background in seq.items:
        if ex.done or ex.forever:
            break
        if (op == "&&" and code != 0) or (op == "||" and code == 0):
            continue
        if background:  # `sleep 10 &`: the time line goes on at once; the job's output still appears
            t = ex.t
            _node(node, ex)
            ex.t, ex.forever, ex.done, code = t, False, False, 0
            ex.lines.sort(key=lambda x: x[0])
            continue
        code = _node(node, ex)
        ex.exit_code = code
        if ex.errexit and code != 0 and op != "||":
            ex.done = True
    return code


def _node(node: Node, ex: Executor) -> int:
    if isinstance(node, Pipe):
        code = 0
        for i, cmd in enumerate(node.cmds):
            mark = len(ex.lines)
            words = [expand(w, ex.env, ex.exit_code) for w in cmd.words]
            words = [w for w in words if w != "" or len(words) == 1]
            code = ex.simple(words, cmd.redirect) if words else 0
            if i < len(node.cmds) - 1:
                del ex.lines[mark:]  # consumed by the next command of the pipe
        return code
    if isinstance(node, If):
        for cond, body in node.branches:
            if _seq(cond, ex) == 0:
                return _seq(body, ex)
        return _seq(node.otherwise, ex) if node.otherwise else 0
    if isinstance(node, For):
        code = 0
        for w in [expand(w, ex.env, ex.exit_code) for w in node.words][:MAX_ITERATIONS]:
            ex.env[node.var] = w
            code = _seq(node.body, ex)
            if ex.done or ex.forever:
                break
        return code
    return _loop(node, ex)


def _loop(node: Loop, ex: Executor) -> int:
    """A loop whose condition holds keeps holding (nothing here changes it): one measured iteration,
    then the body repeats with that period forever."""
    holds = (_seq(node.cond, ex) == 0) != node.until
    if ex.done or ex.forever or not holds:
        return 0
    t0, mark = ex.t, len(ex.lines)
    code = _seq(node.body, ex)
    if ex.done or ex.forever:
        return code
    period = ex.t - t0
    first = [(t - t0, text) for t, text in ex.lines[mark:]]
    ex.start_loop(ex.t, period if period > 0 else 1.0, first)
    return code

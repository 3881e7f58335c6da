"""Interpreters with their own rules: python, node and perl, as the real ones behave in a container.

`python app.py` without the file exits 2 with python's own message; `python -m http.server` serves
a directory on 8000 and logs requests to stderr but - stdout being a pipe - prints its "Serving HTTP"
line only when unbuffered; `node server.js` without the file dies with MODULE_NOT_FOUND; the perl
`bpi` job of the Kubernetes docs prints real digits of pi. Each runs on the caller's `Exec` time line.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from prophet_sre.sim.behaviour.images import Endpoint

if TYPE_CHECKING:
    from prophet_sre.sim.behaviour.programs import Exec


def pi_digits(n: int) -> str:
    """Pi to `n` decimals (Machin's formula in integers) - what the classic `perl ... bpi(2000)` job prints."""
    scale = 10 ** (n + 10)

    def arctan_inv(x: int) -> int:
        total = term = scale // x
        k, sign, x2 = 1, -1, x * x
        while term:
            term //= x2
            k += 2
            total += sign * (term // k)
            sign = -sign
        return total

    digits = str(4 * (4 * arctan_inv(5) - arctan_inv(239)))
    return digits[0] + "." + digits[1:n + 1]


def perl(ex: Exec, argv: list[str], redirect: str | None) -> int:
    args = argv[1:]
    inline = any(a.startswith("-") and "e" in a.lstrip("-") for a in args)
    if not args:
        if ex.ctx.stdin:
            ex.forever = True
        return 0
    if not inline:
        ex.say(f'Can\'t open perl script "{args[-1]}": No such file or directory')
        return 2
    ex.t += 2.0
    if (m := re.search(r"bpi\((\d+)\)", " ".join(args))) is not None:
        ex.say(pi_digits(min(int(m.group(1)), 10_000)), redirect)
    return 0


def node(ex: Exec, argv: list[str]) -> int:
    args = argv[1:]
    script = next((a for a in args if not a.startswith("-")), None)
    if "-e" in args or "--eval" in args:
        ex.t += 0.3
        return 0
    if script is None:
        if ex.ctx.stdin:
            ex.forever = True
        return 0
    path = posixpath.join(ex.ctx.working_dir, script)
    ex.t += 0.2
    for line in ("node:internal/modules/cjs/loader:1228", "  throw err;", "  ^", "",
                 f"Error: Cannot find module '{path}'", "    at Module._resolveFilename "
                 "(node:internal/modules/cjs/loader:1225:15)", "    at node:internal/main/run_main_module:28:49 {",
                 "  code: 'MODULE_NOT_FOUND',", "  requireStack: []", "}", "", "Node.js v20.18.0"):
        ex.say(line)
    return 1


def python(ex: Exec, argv: list[str]) -> int:
    args = argv[1:]
    unbuffered = "-u" in args or bool(ex.env.get("PYTHONUNBUFFERED"))
    args = [a for a in args if a not in ("-u", "-B", "-O", "-OO")]
    if ex.is_default(argv) and args:
        return ex.serve(argv)
    if args[:2] == ["-m", "http.server"]:
        port = next((int(a) for a in args[2:] if a.isdigit()), 8000)
        startup = (f"Serving HTTP on 0.0.0.0 port {port} (http://0.0.0.0:{port}/) ...",) if unbuffered else ()
        svc = ex.service_of(ex.t, posixpath.basename(argv[0]), (Endpoint(port=port, paths=["/"]),), startup,
                            access='{client} - - [{time:%d/%b/%Y %H:%M:%S}] "{method} {path} HTTP/1.1" {code} -',
                            not_found="{client} - - [{time:%d/%b/%Y %H:%M:%S}] code 404, message File not found")
        return ex.serve(argv, svc)
    if args[:1] == ["-c"]:
        return _python_code(ex, args[1] if len(args) > 1 else "", unbuffered)
    if args[:1] == ["-m"]:
        ex.t += 1.0
        return 0
    if not args:
        if ex.ctx.stdin:
            ex.forever = True
        return 0
    path = posixpath.join(ex.ctx.working_dir, args[0])
    ex.t += 0.05
    ex.say(f"{posixpath.basename(argv[0])}: can't open file '{path}': [Errno 2] No such file or directory")
    return 2


def _python_code(ex: Exec, code: str, unbuffered: bool) -> int:
    printed = re.findall(r"print\(\s*['\"]([^'\"]*)['\"]\s*\)", code)
    sleeps = sum(float(x) for x in re.findall(r"sleep\(\s*(\d+(?:\.\d+)?)\s*\)", code))
    forever = "while True" in code or "while 1" in code
    if unbuffered or not forever:
        when = ex.t if unbuffered else ex.t + sleeps
        ex.lines += [(when, p) for p in printed]
    if forever:
        ex.forever = True
        return 0
    ex.t += sleeps + 0.05
    if (m := re.search(r"(?:sys\.)?exit\(\s*(\d+)\s*\)", code)) is not None:
        return int(m.group(1))
    if (m := re.search(r"raise\s+(\w+)(?:\((.*?)\))?", code)) is not None:
        detail = (m.group(2) or "").strip("'\"")
        ex.say("Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n"
               f"{m.group(1)}{': ' + detail if detail else ''}")
        return 1
    return 0

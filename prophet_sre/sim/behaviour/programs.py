"""What a container's command does: the argv, resolved against the image, as a time line.

`plan(ctx, argv)` answers, before the container starts, everything its process will do on its own:
the lines it prints and when, the files it creates and removes (exec probes read them), when it exits
and with which code, whether it starts the image's service (which then serves, leaks and logs - see
`process.py`), or that it cannot start at all because the binary is not in the image (StartError).

A program exists in an image when it is in the image OS's base set (busybox applets, Debian's
coreutils and dash), in the image's `commands`, or is the image's own entrypoint. Common programs have
their real semantics (`sleep`, `echo`, `date`, `cat`, `test`, `python -m http.server`, `python app.py`
without the file, `node`, `perl`, `curl`); other present programs run briefly and exit 0.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prophet_sre.sim.behaviour import interpreters, shell, texts
from prophet_sre.sim.behaviour.images import Endpoint, ImageSpec

FOREVER_S = 10 * 365 * 86400.0
_BUSYBOX = frozenset(
    "sh ash echo sleep date wget cat ls env printenv touch rm mkdir rmdir nslookup ping nc true false test [ tail "
    "head grep egrep sed awk ps top hostname id whoami uname vi kill killall df du free mount find xargs tr cut "
    "sort uniq wc tee yes seq chmod chown cp mv ln pwd basename dirname expr printf which timeout watch telnet "
    "traceroute ifconfig ip netstat route hexdump md5sum sha256sum base64 gzip gunzip tar unzip less more dd sync "
    "mktemp readlink realpath stat usleep logger nohup nice time arping httpd udhcpc".split())
_DEBIAN = frozenset(
    "sh dash bash echo sleep date cat ls env printenv touch rm mkdir rmdir true false test [ tail head grep egrep "
    "sed awk mawk hostname id whoami uname kill df du find xargs tr cut sort uniq wc tee yes seq chmod chown cp mv "
    "ln pwd basename dirname expr printf timeout mktemp readlink realpath stat apt apt-get dpkg gzip gunzip tar "
    "perl nohup nice sync dd mount logger su getent".split())
BASE_PROGRAMS = {"busybox": _BUSYBOX, "alpine": _BUSYBOX | {"apk"}, "debian": _DEBIAN, "distroless": frozenset()}
SHELLS = frozenset({"sh", "ash", "bash", "dash"})
INTERPRETERS = SHELLS | {"python", "python3", "node", "perl", "ruby", "java"}
SHELL_BUILTINS = frozenset({"exit", "export", "set", "trap", "cd", "unset", "wait", "exec", "source", ".", "read",
                            "ulimit", "umask", "return", "shift", "eval", "local", ":", "true", "false", "echo",
                            "printf", "test", "[", "kill"})
WRAPPERS = frozenset({"tini", "dumb-init", "docker-entrypoint.sh", "entrypoint.sh", "--"})
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Service:
    """The image's service, started by the program `at_s` seconds after the container started."""

    at_s: float
    comm: str
    endpoints: tuple[Endpoint, ...] = ()
    startup: tuple[str, ...] | None = None
    """Start-up lines replacing the image's (python's http.server prints its own)."""
    access: str | None = None
    not_found: str | None = None


@dataclass
class ExecContext:
    """Everything a program can see: the image, its environment, the files of ConfigMaps and Secrets."""

    spec: ImageSpec
    env: dict[str, str]
    started: datetime
    pod_name: str = ""
    stdin: bool = False
    working_dir: str = "/"
    provided: frozenset[str] = frozenset()
    """`configmap:NAME`, `configmap:NAME/KEY`, `secret:NAME`, `secret:NAME/KEY` the container gets."""
    tag: str = "latest"
    image: str = ""

    def __post_init__(self) -> None:
        spec = self.spec
        default = [*spec.entrypoint, *spec.cmd]
        if not default:  # a scenario image that only says what it serves: its program is its service
            default = ["/" + (posixpath.basename(self.image.split("@")[0].rsplit(":", 1)[0]) or "app")]
        fails = [f.split()[0] for f in spec.commands.fails if f.split()]  # `/app/x --flag`: the program is /app/x
        own = [*spec.commands.ok, *fails, *spec.commands.serve, default[0]]
        own += [a[0] for a in (spec.entrypoint, spec.cmd) if a]
        self.binaries = BASE_PROGRAMS[spec.os] | frozenset(posixpath.basename(p) for p in own)
        self.default_argv = strip_wrappers(default, spec)
        serve = spec.commands.serve or ([self.default_argv[0]] if self.default_argv else [])
        self.serve = frozenset(posixpath.basename(p) for p in serve) - INTERPRETERS

    def has(self, program: str) -> bool:
        return posixpath.basename(program) in self.binaries

    @property
    def flavour(self) -> str:
        return self.spec.os


@dataclass
class Timeline:
    """A program's own behaviour; times are seconds since the container started."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    files: list[tuple[float, str, bool]] = field(default_factory=list)
    exit_s: float | None = None
    exit_code: int = 0
    start_error: str = ""
    service: Service | None = None
    loop: tuple[float, float, list[tuple[float, str]]] | None = None
    """(first repeat at, period, lines of one iteration): an endless `while true` loop."""
    ignores_term: bool = True
    """PID 1 without a SIGTERM handler (a shell, `sleep`): stopping it takes the whole grace period."""
    missing: str = ""

    def file_exists(self, path: str, at_s: float) -> bool:
        state = False
        for t, p, exists in self.files:
            if p == path and t <= at_s:
                state = exists
        return state


def strip_wrappers(argv: list[str], spec: ImageSpec) -> list[str]:
    """`/docker-entrypoint.sh nginx -g ...` -> `nginx -g ...` (entrypoint scripts exec their arguments)."""
    argv = list(argv)
    while argv and (posixpath.basename(argv[0]) in WRAPPERS
                    or (spec.entrypoint and argv[0] == spec.entrypoint[0] and argv[0].endswith(".sh"))):
        argv = argv[1:]
        if argv and argv[0].startswith("-") and spec.cmd:  # `redis --maxmemory 1mb`: flags for the default
            argv = [spec.cmd[0], *argv]
    return argv


def container_argv(container: dict[str, object], spec: ImageSpec) -> list[str]:
    """Docker's rule: `command` replaces ENTRYPOINT (and drops CMD); `args` replaces CMD."""
    command = [str(x) for x in container.get("command") or ()]  # type: ignore[union-attr]
    args = [str(x) for x in container.get("args") or ()]  # type: ignore[union-attr]
    if command:
        return command + args
    return [*spec.entrypoint, *(args or spec.cmd)]


def parse_sleep(args: list[str]) -> float | None:
    """Seconds of `sleep ARGS`; inf for `infinity`; None when invalid."""
    total = 0.0
    for a in args:
        if a in ("infinity", "inf"):
            return math.inf
        m = _DURATION.match(a)
        if m is None:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
    return total


class Exec:
    """Runs one container's argv on a time line (the `shell.Executor` for scripts)."""

    def __init__(self, ctx: ExecContext, tl: Timeline | None = None, *, t: float = 0.0) -> None:
        self.ctx = ctx
        self.tl = tl or Timeline()
        self.t = t
        self.done = False
        self.forever = False
        self.env = dict(ctx.env)
        self.lines = self.tl.lines
        self.exit_code = 0
        self.errexit = False
        self.shell = "sh"

    # -- shell.Executor ---------------------------------------------------------------------------------------
    def start_loop(self, start_s: float, period_s: float, lines: list[tuple[float, str]]) -> None:
        self.tl.loop = (start_s, period_s, lines)
        self.forever = True

    def say(self, text: str, redirect: str | None = None) -> None:
        if redirect:
            if redirect != "/dev/null":
                self.tl.files.append((self.t, redirect, True))
            return
        for line in text.split("\n"):
            self.lines.append((self.t, line))

    def simple(self, argv: list[str], redirect: str | None) -> int:
        name, args = posixpath.basename(argv[0]), argv[1:]
        if "=" in argv[0] and not argv[0].startswith("="):  # VAR=value
            k, _, v = argv[0].partition("=")
            self.env[k] = v
            return self.simple(args, redirect) if args else 0
        if name in SHELL_BUILTINS or name == "[":
            return self._builtin(name, args, redirect)
        if not self.ctx.has(argv[0]):
            self.say(texts.shell_not_found(self.ctx.flavour, self.shell, argv[0]))
            return 127
        if self.fails(argv):
            return self.fail(f"{name} failed")
        if name.startswith("python"):
            return interpreters.python(self, argv)
        if name in ("node", "perl"):
            return self.serve(argv) if self.is_default(argv) and len(argv) > 1 else (
                interpreters.node(self, argv) if name == "node" else interpreters.perl(self, argv, redirect))
        if name in SHELLS:
            return run_shell(self, args)
        handler = getattr(self, "_b_" + name.replace("-", "_").replace(".", "_"), None)
        service_image = bool(self.ctx.spec.serves or self.ctx.spec.commands.serve)
        if name in self.ctx.serve and (service_image or handler is None):  # `/pause`: a service with no port
            return self.serve(argv)
        if handler is not None:
            return int(handler(args, redirect))
        self.t += 0.5
        return 0

    # -- builtins and utilities ----------------------------------------------------------------------------------
    def _builtin(self, name: str, args: list[str], redirect: str | None) -> int:
        if name == "exit":
            self.exit_code = int(args[0]) if args and args[0].lstrip("-").isdigit() else self.exit_code
            self.done = True
            return self.exit_code
        if name in ("echo", "printf"):
            text = " ".join(a for a in args if a not in ("-n", "-e", "-ne", "-en"))
            if name == "printf":
                fmt, rest = (args[0] if args else ""), args[1:]
                text = re.sub(r"%[sd]", lambda _: rest.pop(0) if rest else "", fmt).replace("\\n", "\n").rstrip("\n")
            self.say(text, redirect)
            return 0
        if name in ("test", "["):
            return self._test(args[:-1] if name == "[" and args[-1:] == ["]"] else args)
        if name == "false":
            return 1
        if name == "export":
            for a in args:
                k, sep, v = a.partition("=")
                if sep:
                    self.env[k] = v
            return 0
        if name == "set":
            self.errexit = self.errexit or any(a.startswith("-") and "e" in a for a in args)
            return 0
        if name == "trap":
            self.tl.ignores_term = not any(s in ("TERM", "SIGTERM", "15") for s in args[1:])
            return 0
        if name == "exec":
            return self.simple(args, redirect) if args else 0
        if name == "wait":
            return 0
        return 0

    def _test(self, args: list[str]) -> int:
        neg = bool(args) and args[0] == "!"
        args = args[1:] if neg else args
        ok = False
        if len(args) == 2 and args[0] in ("-f", "-e", "-d", "-s", "-r", "-x"):
            ok = self.tl.file_exists(args[1], self.t) or args[1] in ("/", "/tmp", "/etc", "/dev/null")
        elif len(args) == 2 and args[0] in ("-n", "-z"):
            ok = (args[1] != "") == (args[0] == "-n")
        elif len(args) == 3 and args[1] in ("=", "==", "!="):
            ok = (args[0] == args[2]) == (args[1] != "!=")
        elif len(args) == 3 and args[1] in ("-eq", "-ne", "-gt", "-lt", "-ge", "-le"):
            try:
                a, b = int(args[0]), int(args[2])
            except ValueError:
                return 2
            ok = {"-eq": a == b, "-ne": a != b, "-gt": a > b, "-lt": a < b, "-ge": a >= b, "-le": a <= b}[args[1]]
        elif len(args) == 1:
            ok = args[0] != ""
        return 0 if ok != neg else 1

    def _b_sleep(self, args: list[str], redirect: str | None) -> int:
        secs = parse_sleep(args)
        if secs is None:
            self.say(f"sleep: invalid number '{args[0] if args else ''}'" if self.ctx.flavour != "debian"
                     else f"sleep: invalid time interval '{args[0] if args else ''}'")
            return 1
        if math.isinf(secs) or self.t + secs > FOREVER_S:
            self.forever = True
        else:
            self.t += secs
        return 0

    def _b_date(self, args: list[str], redirect: str | None) -> int:
        now = self.ctx.started + timedelta(seconds=self.t)
        self.say(now.strftime("%a %b %e %H:%M:%S UTC %Y"), redirect)
        return 0

    def _b_hostname(self, args: list[str], redirect: str | None) -> int:
        self.say(self.ctx.pod_name, redirect)
        return 0

    def _b_printenv(self, args: list[str], redirect: str | None) -> int:
        if args:
            if args[0] not in self.env:
                return 1
            self.say(self.env[args[0]], redirect)
            return 0
        self.say("\n".join(f"{k}={v}" for k, v in self.env.items()), redirect)
        return 0

    _b_env = _b_printenv

    def _b_touch(self, args: list[str], redirect: str | None) -> int:
        self.tl.files += [(self.t, a, True) for a in args if not a.startswith("-")]
        return 0

    def _b_rm(self, args: list[str], redirect: str | None) -> int:
        self.tl.files += [(self.t, a, False) for a in args if not a.startswith("-")]
        return 0

    def _b_cat(self, args: list[str], redirect: str | None) -> int:
        code = 0
        for a in (x for x in args if not x.startswith("-")):
            if not (self.tl.file_exists(a, self.t) or a.startswith(("/etc/", "/proc/", "/dev/"))):
                self.say(texts.cat_missing(self.ctx.flavour, a))
                code = 1
        return code

    def _b_ls(self, args: list[str], redirect: str | None) -> int:
        paths = [a for a in args if not a.startswith("-")]
        for p in paths:
            if not (self.tl.file_exists(p, self.t) or p.rstrip("/").count("/") <= 1):
                busybox = self.ctx.flavour != "debian"
                self.say(f"ls: {p}: No such file or directory" if busybox
                         else f"ls: cannot access '{p}': No such file or directory")
                return 1 if busybox else 2
        self.say("\n".join(paths), redirect) if paths else None
        return 0

    def _b_tail(self, args: list[str], redirect: str | None) -> int:
        if "-f" in args or "-F" in args:
            self.forever = True
        return 0

    def _b_ping(self, args: list[str], redirect: str | None) -> int:
        if "-c" in args and args.index("-c") + 1 < len(args) and args[args.index("-c") + 1].isdigit():
            self.t += float(args[args.index("-c") + 1])
            return 0
        self.forever = True
        return 0

    def _b_yes(self, args: list[str], redirect: str | None) -> int:
        self.forever = True
        return 0

    def _b_nc(self, args: list[str], redirect: str | None) -> int:
        if any(a.startswith("-l") for a in args):
            self.forever = True
        self.t += 0.05
        return 0

    def _b_curl(self, args: list[str], redirect: str | None) -> int:
        if not [a for a in args if not a.startswith("-")]:
            self.say("curl: try 'curl --help' or 'curl --manual' for more information")
            return 2
        self.t += 0.05
        return 0

    def is_default(self, argv: list[str]) -> bool:
        """The image's own invocation (its CMD), or an interpreter running a script the image ships."""
        if argv == self.ctx.default_argv:
            return True
        ships = {posixpath.basename(a) for a in [*self.ctx.default_argv[1:], *self.ctx.spec.commands.ok]
                 if not a.startswith("-")}
        return any(posixpath.basename(a) in ships for a in argv[1:] if not a.startswith("-"))

    def fails(self, argv: list[str]) -> bool:
        """Whether `commands.fails` lists this invocation: a program (by name or path: `backend`,
        `/app/backend`), or a command line (`/app/backend --config=x`) whose arguments this one starts with."""
        for entry in self.ctx.spec.commands.fails:
            words = entry.split()
            if words and posixpath.basename(words[0]) == posixpath.basename(argv[0]) \
                    and argv[1:len(words)] == words[1:]:
                return True
        return False

    def fail(self, default: str) -> int:
        self.t += min(self.ctx.spec.startup_seconds, 1.0)
        lines = self.ctx.spec.logs.error or [f"error: {default}"]
        for line in lines:
            self.say(_fill(line, self))
        return 1

    service_of = Service

    def serve(self, argv: list[str], svc: Service | None = None) -> int:
        missing = missing_needs(self.ctx.spec, self.env, self.ctx.provided)
        if missing:
            self.tl.missing = missing
            return self.fail(f"required configuration missing: {missing}")
        self.tl.service = svc or Service(self.t, posixpath.basename(argv[0]), tuple(self.ctx.spec.serves))
        self.tl.ignores_term = False
        self.forever = True
        return 0


def _fill(template: str, ex: Exec) -> str:
    when = ex.ctx.started + timedelta(seconds=ex.t)
    from prophet_sre.sim.behaviour.process import fill  # the one template filler (process.py)
    return fill(template, time=when, version=ex.ctx.spec.version_for(ex.ctx.tag), missing=ex.tl.missing,
                pod=ex.ctx.pod_name)


def missing_needs(spec: ImageSpec, env: dict[str, str], provided: frozenset[str]) -> str:
    """The first configuration the image needs and does not get ("" when all is there)."""
    for need in spec.needs.env:
        if not any(env.get(name) for name in need.split("|")):
            return need.split("|")[0]
    for need in spec.needs.config_map_keys:
        if "/" in need:
            if f"configmap:{need}" not in provided:
                return f"configmap key {need}"
        elif not (need in env or any(p.startswith("configmap:") and p.endswith("/" + need) for p in provided)):
            return f"configmap key {need}"
    for need in spec.needs.secrets:
        if f"secret:{need}" not in provided:
            return f"secret {need}"
    return ""


def plan(ctx: ExecContext, argv: list[str]) -> Timeline:
    """The time line of a container started with `argv` (see `container_argv`)."""
    argv = strip_wrappers(argv, ctx.spec) or ctx.default_argv
    tl = Timeline()
    if not argv:
        tl.exit_s = 0.05
        return tl
    prog = argv[0]
    if not ctx.has(prog) or (posixpath.basename(prog) in SHELL_BUILTINS - {"echo", "printf", "test", "[", "true",
                                                                           "false", "kill"}):
        tl.start_error = texts.start_error(prog)
        return tl
    ex = Exec(ctx, tl)
    name = posixpath.basename(prog)
    if name in SHELLS:
        ex.shell = name
        code = run_shell(ex, argv[1:])
    else:
        ex.tl.ignores_term = name in ("sleep", "tail", "yes", "pause")
        code = ex.simple(argv, None)
    if not ex.forever:
        tl.exit_s = max(ex.t, 0.01)
        tl.exit_code = ex.exit_code if ex.done else code
    return tl


def run_shell(ex: Exec, args: list[str]) -> int:
    flags = [a for a in args if a.startswith("-")]
    if any("c" in f for f in flags):
        rest = args[[i for i, a in enumerate(args) if a.startswith("-") and "c" in a][0] + 1:]
        ex.errexit = any("e" in f for f in flags)
        return shell.run(rest[0] if rest else "", ex)
    script = next((a for a in args if not a.startswith("-")), None)
    if script is None:  # an interactive shell with no terminal reads EOF and exits
        if ex.ctx.stdin:
            ex.forever = True
        return 0
    ex.t += 0.01
    if ex.ctx.flavour == "debian":
        ex.say(f"{ex.shell}: 0: cannot open {script}: No such file" if ex.shell != "bash"
               else f"bash: {script}: No such file or directory")
        return 2 if ex.shell != "bash" else 127
    ex.say(f"{ex.shell}: can't open '{script}': No such file or directory")
    return 2

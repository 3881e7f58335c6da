"""Commands against images, as time lines: what runs, prints, exits, serves, or cannot start at all.

Covers Docker's command/args rule, entrypoint wrappers, missing binaries (StartError text), the shell
subset (sequences, && ||, loops, if, redirections, files), real program quirks (busybox `sh` exits at
once, python's buffered stdout, postgres without a password). Skips the kubelet (test_bhv_faults).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from prophet_sre.sim.behaviour import Catalog, programs

STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def plan(image: str, command: list[str] | None = None, args: list[str] | None = None,
         env: dict[str, str] | None = None, **kw: object) -> programs.Timeline:
    spec = Catalog.builtin().lookup(image)
    assert spec is not None
    ctx = programs.ExecContext(spec, {"HOSTNAME": "web-1", **(env or {})}, STARTED, "web-1",
                               tag=image.rsplit(":", 1)[-1], image=image, **kw)  # type: ignore[arg-type]
    return programs.plan(ctx, programs.container_argv({"command": command, "args": args}, spec))


def test_image_defaults() -> None:
    nginx = plan("nginx:1.27")
    assert nginx.service is not None and nginx.service.comm == "nginx" and nginx.exit_s is None
    assert not nginx.ignores_term
    bb = plan("busybox:1.36")  # `sh` with no terminal reads EOF and exits 0: the classic CrashLoop of busybox
    assert (bb.exit_s, bb.exit_code, bb.service) == (0.01, 0, None)
    assert plan("busybox:1.36", stdin=True).exit_s is None
    assert plan("python:3.12").exit_code == 0 and plan("python:3.12").exit_s is not None
    coredns = plan("registry.k8s.io/coredns/coredns:v1.12.0", args=["-conf", "/etc/coredns/Corefile"])
    assert coredns.service is not None and coredns.service.comm == "coredns"
    redis = plan("redis:7", args=["--maxmemory", "10mb"])  # flags go to the default program
    assert redis.service is not None and redis.service.comm == "redis-server"
    assert plan("shop/backend:2.3").service is not None  # an image without entrypoint: its program serves


@pytest.mark.parametrize(("command", "why"), [
    (["nonexistent-binary"], 'exec: "nonexistent-binary": executable file not found in $PATH'),
    (["/app/server"], 'exec: "/app/server": stat /app/server: no such file or directory'),
    (["exit", "1"], 'exec: "exit": executable file not found in $PATH'),
])
def test_missing_binary_is_a_start_error(command: list[str], why: str) -> None:
    tl = plan("busybox:1.36", command)
    assert tl.start_error == ("failed to create containerd task: failed to create shim task: OCI runtime create "
                              "failed: runc create failed: unable to start container process: error during "
                              f"container init: {why}: unknown")


def test_shell_scripts_on_the_time_line() -> None:
    tl = plan("busybox:1.36", ["sh", "-c", "echo hello $HOSTNAME; sleep 5; echo bye; exit 3"])
    assert tl.lines == [(0.0, "hello web-1"), (5.0, "bye")] and (tl.exit_s, tl.exit_code) == (5.0, 3)
    tl = plan("busybox:1.36", ["sh", "-c", "foo --bar; echo after"])
    assert tl.lines == [(0.0, "sh: foo: not found"), (0.0, "after")] and tl.exit_code == 0
    assert plan("busybox:1.36", ["sh", "-c", "foo"]).exit_code == 127
    assert plan("nginx:1.27", ["sh", "-c", "foo"]).lines == [(0.0, "sh: 1: foo: not found")]  # dash
    assert plan("ubuntu:24.04", ["bash", "-c", "foo"]).lines == [(0.0, "bash: line 1: foo: command not found")]
    assert plan("busybox:1.36", ["sh", "-ec", "false; echo never"]).lines == []
    tl = plan("busybox:1.36", ["sh", "-c", "true && echo a || echo b; false && echo c || echo d; sleep 3 & echo e"])
    assert [x for _, x in tl.lines] == ["a", "d", "e"] and tl.exit_s == 0.01
    tl = plan("busybox:1.36", ["sh", "-c", "for i in 1 2; do echo n=$i; done\nif [ -f /x ]; then echo y; else echo n; fi"])
    assert [x for _, x in tl.lines] == ["n=1", "n=2", "n"]
    tl = plan("busybox:1.36", ["/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster"])
    assert [x for _, x in tl.lines] == ["Fri Jan  2 03:04:05 UTC 2026", "Hello from the Kubernetes cluster"]


def test_loops_and_long_runs() -> None:
    tl = plan("busybox:1.36", ["sh", "-c", "while true; do echo tick; sleep 5; done"])
    assert tl.exit_s is None and tl.loop == (5.0, 5.0, [(0.0, "tick")]) and tl.lines == [(0.0, "tick")]
    tl = plan("busybox:1.36", ["sh", "-c", "until nslookup db; do echo waiting; sleep 2; done; echo ready"])
    assert [x for _, x in tl.lines] == ["ready"] and tl.exit_code == 0
    assert plan("busybox:1.36", ["sh", "-c", "while [ ! -f /tmp/go ]; do sleep 1; done"]).exit_s is None
    assert plan("busybox:1.36", ["sleep", "3600"]).exit_s == 3600.0
    assert plan("busybox:1.36", ["sleep", "infinity"]).exit_s is None
    assert plan("busybox:1.36", ["tail", "-f", "/dev/null"]).exit_s is None
    assert plan("busybox:1.36", ["sleep", "3600"]).ignores_term  # PID 1 without a handler


def test_files_for_exec_probes() -> None:
    """The liveness example of the Kubernetes docs."""
    tl = plan("busybox:1.36", args=["/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"])
    assert tl.file_exists("/tmp/healthy", 10) and not tl.file_exists("/tmp/healthy", 31)
    assert tl.exit_s == 630.0
    tl = plan("busybox:1.36", ["sh", "-c", "echo ok > /tmp/ready; sleep 10"])
    assert tl.lines == [] and tl.file_exists("/tmp/ready", 0)


def test_interpreters() -> None:
    tl = plan("python:3.12", ["python", "-m", "http.server", "8080"])
    assert tl.service is not None and tl.service.endpoints[0].port == 8080 and tl.service.startup == ()
    tl = plan("python:3.12", ["python", "-m", "http.server"], env={"PYTHONUNBUFFERED": "1"})
    assert tl.service is not None and tl.service.startup == (
        "Serving HTTP on 0.0.0.0 port 8000 (http://0.0.0.0:8000/) ...",)
    tl = plan("python:3.12", ["python3", "app.py"], working_dir="/srv")
    assert tl.lines == [(0.05, "python3: can't open file '/srv/app.py': [Errno 2] No such file or directory")]
    assert tl.exit_code == 2
    tl = plan("python:3.12", ["python", "-c", "import sys; print('bye'); sys.exit(4)"])
    assert tl.exit_code == 4 and [x for _, x in tl.lines] == ["bye"]
    tl = plan("python:3.12", ["python", "-c", "raise ValueError('bad config')"])
    assert tl.exit_code == 1 and tl.lines[-1][1] == "ValueError: bad config"
    tl = plan("perl:5.34.0", ["perl", "-Mbignum=bpi", "-wle", "print bpi(50)"])
    assert tl.lines == [(2.0, "3.14159265358979323846264338327950288419716939937510")] and tl.exit_code == 0
    tl = plan("node:20", ["node", "server.js"], working_dir="/app")
    assert "Error: Cannot find module '/app/server.js'" in [x for _, x in tl.lines] and tl.exit_code == 1
    assert plan("curlimages/curl:8.10.1").exit_code == 2


def test_needs_unmet_exit_with_the_image_error_lines() -> None:
    tl = plan("postgres:16")
    assert tl.service is None and tl.exit_code == 1 and tl.missing == "POSTGRES_PASSWORD"
    assert tl.lines[0][1] == "Error: Database is uninitialized and superuser password is not specified."
    assert plan("postgres:16", env={"POSTGRES_HOST_AUTH_METHOD": "trust"}).service is not None
    tl = plan("mysql:8.4")
    assert tl.exit_code == 1 and "[ERROR] [Entrypoint]: Database is uninitialized" in tl.lines[1][1]


def test_failing_commands_by_path_and_command_line() -> None:
    """`commands.fails` lists a program by name or path, or a command line whose arguments must match."""
    base = Catalog.builtin().merge({
        "shop/backend:9.1": {"entrypoint": ["/app/backend"], "commands": {"fails": ["/app/backend"]}},
        "shop/backend:9.2": {"entrypoint": ["/app/backend"],
                             "commands": {"fails": ["/app/backend --config=/etc/x.yml"]}}})

    def run(image: str, command: list[str] | None = None) -> programs.Timeline:
        spec = base.lookup(image)
        assert spec is not None
        ctx = programs.ExecContext(spec, {}, STARTED, "b-1", tag=image.rsplit(":", 1)[-1], image=image)
        return programs.plan(ctx, programs.container_argv({"command": command}, spec))

    assert (run("shop/backend:9.1").exit_code, run("shop/backend:9.1").service) == (1, None)
    assert run("shop/backend:9.2").service is not None  # no flag: it serves
    bad = run("shop/backend:9.2", ["/app/backend", "--config=/etc/x.yml"])
    assert bad.exit_code == 1 and bad.exit_s is not None and bad.service is None

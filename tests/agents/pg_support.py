"""A throwaway PostgreSQL server for tests: initdb + pg_ctl from the Debian packages, on a free port.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the `postgres`
user (`runuser`). Skips when no PostgreSQL binaries are installed (`scripts/test` installs them).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres() -> Iterator[str]:
    """Start a private PostgreSQL cluster in a fresh directory; yields a connection URL (database
    `prophet`). The directory is outside pytest's tmp_path, whose parents only root may enter."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql; scripts/test installs it)")
    root = Path(tempfile.mkdtemp(prefix="prophet-pg-"))
    os.chmod(root, 0o755)
    data, sock, log = root / "data", root / "sock", root / "server.log"
    sock.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    subprocess.run(_as_server_user([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"]), check=True,
                   capture_output=True, timeout=120)
    for attempt in range(3):  # a free port can be taken by another test worker before the server binds it
        port = _port()
        started = subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-l", str(log), "-w", "-o",
                                                  f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"]),
                                 capture_output=True, timeout=120)
        if started.returncode == 0:
            break
        taken = "already in use" in (log.read_text(errors="replace") if log.exists() else "")
        if not taken or attempt == 2:
            raise AssertionError(f"pg_ctl start failed ({started.returncode}): {started.stderr!r}")
    try:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE prophet")
        yield f"postgresql://postgres@127.0.0.1:{port}/prophet"
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True,
                       timeout=60)
        shutil.rmtree(root, ignore_errors=True)

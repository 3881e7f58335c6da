"""An installed Prophet (a wheel, not a checkout) ships and finds its built-in runbooks.

Builds the real wheel with the project's own build backend (no build isolation: the venv's setuptools,
nothing downloaded), unpacks it, and asks a fresh interpreter, with only the unpacked wheel first on its
path, where the built-in runbooks are.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def test_the_wheel_carries_every_builtin_runbook(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True, timeout=280)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("prophet_sre-*.whl")
    with zipfile.ZipFile(wheel) as z:
        shipped = {Path(n).name for n in z.namelist() if n.startswith("prophet_sre/knowledge/builtin_runbooks/")}
        z.extractall(tmp_path / "site")
    assert shipped == {p.name for p in (ROOT / "runbooks").glob("*.md")}

    probe = ("from prophet_sre.knowledge import runbooks as r; import prophet_sre; "
             "print(prophet_sre.__file__); print(r.builtin_dir()); print(len(r.load_dir(r.builtin_dir())[0]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    module, found, loaded = out.stdout.split()
    assert module.startswith(str(tmp_path / "site")), module  # the wheel's copy, not the checkout
    assert found == str(tmp_path / "site" / "prophet_sre" / "knowledge" / "builtin_runbooks")
    assert int(loaded) >= 30

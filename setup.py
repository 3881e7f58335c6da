"""Build hook: ship the built-in runbooks inside the package.

The runbooks live at `runbooks/` in the source tree (where authors edit them and `prophet runbooks lint`
points by default); an installed Prophet finds them as `prophet_sre/knowledge/builtin_runbooks/`
(`prophet_sre.knowledge.runbooks.builtin_dir`). Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RUNBOOKS = Path(__file__).resolve().parent / "runbooks"


class BuildWithRunbooks(build_py):
    def run(self) -> None:
        super().run()
        if not RUNBOOKS.is_dir():  # building from an sdist made without them: nothing to copy
            return
        target = Path(self.build_lib) / "prophet_sre" / "knowledge" / "builtin_runbooks"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(RUNBOOKS.glob("*.md")):
            shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildWithRunbooks})

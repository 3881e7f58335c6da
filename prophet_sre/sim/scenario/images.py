"""The scenario's `images:` section, checked by the behaviour model's image catalog.

The catalog (`prophet_sre.sim.behaviour.images`) owns the image behaviour format; a scenario only adds
entries over the built-in catalog. This module is the one place the scenario package touches it, so
validation and application agree on what an image is, and the scenario loader still works (without
image checks) in a build where the behaviour model is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prophet_sre.errors import InvalidInput
from prophet_sre.sim.scenario.problems import problem


@dataclass(frozen=True)
class ImageCheck:
    """The merged catalog, or None when no catalog is available (then images are not checked)."""

    catalog: Any
    problems: list[InvalidInput]

    def knows(self, image: str, declared: dict[str, Any]) -> bool | None:
        """True/False when it can tell whether `image` exists; None when there is no catalog."""
        if image in declared:
            return True
        if self.catalog is None:
            return None
        return bool(self.catalog.knows(image))


def builtin_catalog() -> Any:
    """The behaviour model's built-in catalog, or None if the behaviour model is not installed."""
    try:
        from prophet_sre.sim.behaviour.images import Catalog
    except ImportError:
        return None
    try:
        return Catalog.builtin()
    except (OSError, ValueError):
        return None


def check_images(images: dict[str, Any], source: str, base: Any = None) -> ImageCheck:
    """Merge `images` over `base` (default: the built-in catalog), collecting every problem."""
    base = builtin_catalog() if base is None else base
    if base is None:
        return ImageCheck(None, [])
    from prophet_sre.sim.behaviour.images import ImageCatalogError

    try:
        return ImageCheck(base.merge(images), [])
    except ImageCatalogError as e:
        return ImageCheck(None, [problem(source, path, message) for path, message in e.problems])


__all__ = ["ImageCheck", "builtin_catalog", "check_images"]

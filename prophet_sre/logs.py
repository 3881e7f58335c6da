"""Logging, set up once per process by the entry point (CLI, operator, MCP server)."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

_configured = False


def setup_logging(level: str = "INFO", *, rich: bool = True) -> None:
    """Configure the root logger once; later calls only change the level."""
    global _configured
    root = logging.getLogger()
    root.setLevel(level.upper())
    if _configured:
        return
    handler: logging.Handler
    if rich:
        handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "kubernetes", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True

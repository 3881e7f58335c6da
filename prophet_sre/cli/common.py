"""Shared CLI pieces: the console, `-o/--output`, settings, and one way to fail."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console

from prophet_sre.config import Settings, load_settings
from prophet_sre.logs import setup_logging

console = Console()
err_console = Console(stderr=True)


def output_option(default: str = "text") -> Any:
    return typer.Option(default, "--output", "-o", help="Output format: text or json.",
                        case_sensitive=False)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(code)


def settings(**overrides: Any) -> Settings:
    """Build the settings once per command and set up logging from them."""
    s = load_settings(**overrides)
    setup_logging(s.log_level)
    return s

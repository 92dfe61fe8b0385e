"""What every command group shares: one-line errors with exit status 2, number lists, options."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from robustmas.experiments.store import DEFAULT_STORE

__all__ = [
    "DEFAULT_STORE_PATH",
    "EXIT_BAD_INPUT",
    "EXIT_NO_ANSWER",
    "JsonOption",
    "StoreOption",
    "UserError",
    "guard",
    "parse_floats",
    "print_registry",
]

EXIT_BAD_INPUT = 2
"""Exit status for bad input (one line on stderr)."""

EXIT_NO_ANSWER = 1
"""Exit status when a well-posed question has no answer (e.g. no eps-CCE exists)."""

DEFAULT_STORE_PATH = str(DEFAULT_STORE)
"""Default DuckDB file of runs (``--store``): :data:`robustmas.experiments.store.DEFAULT_STORE`."""

StoreOption = Annotated[str, typer.Option("--store", help="DuckDB file of runs.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


class UserError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def guard(fn: Callable[[], None]) -> None:
    """Run a command's body; bad input becomes one ``error: ...`` line and exit status 2."""
    try:
        fn()
    except (UserError, ValueError, FileNotFoundError, IsADirectoryError, TypeError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def parse_floats(text: str, what: str) -> list[float]:
    """Comma- (or semicolon-) separated numbers; ``what`` names the flag in errors."""
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise UserError(f"{what}: give at least one number")
    return values


def print_registry(specs: Iterable[Any]) -> None:
    """One line per registry entry: id, summary and parameter names."""
    for spec in specs:
        params = ", ".join(spec.params) or "-"
        typer.echo(f"{spec.id:<18} {spec.summary}  [params: {params}]")

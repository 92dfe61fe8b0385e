"""``robustmas cache info|clear``: the on-disk caches of compiled and traced trainers."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from robustmas.cli._common import UserError, guard

app = typer.Typer(
    no_args_is_help=True,
    help="The on-disk caches of compiled (XLA) and traced (program) trainers.",
)


@app.command("info")
def cache_info(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Where the caches are, how many files and bytes each holds."""
    from robustmas.compilation.caches import cache_usage

    rows = cache_usage()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for name, row in rows.items():
        where = row["path"] or "off"
        size = row["bytes"] / 2**20
        typer.echo(f"{name:<9} {where}  {row['files']} files, {size:.1f} MiB")


@app.command("clear")
def cache_clear(
    which: Annotated[
        str, typer.Argument(help="xla, programs or all (default)", show_default=False)
    ] = "all",
) -> None:
    """Delete the cached files (they are rebuilt on the next run of each configuration)."""

    def run() -> None:
        from robustmas.compilation.caches import clear_caches

        try:
            removed = clear_caches(which)
        except ValueError as err:
            raise UserError(str(err)) from None
        for name, (where, count) in removed.items():
            typer.echo(f"{name}: removed {count} files from {where or 'off'}")

    guard(run)

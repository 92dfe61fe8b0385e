"""``robustmas cache info|clear``: the on-disk caches of compiled and traced trainers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from robustmas.cli._common import UserError, guard

app = typer.Typer(
    no_args_is_help=True,
    help="The on-disk caches of compiled (XLA) and traced (program) trainers.",
)


def _caches() -> dict[str, Path | None]:
    from robustmas.compilation.program_cache import default_cache_dir
    from robustmas.compilation.xla import compilation_cache_dir

    return {"xla": compilation_cache_dir(), "programs": default_cache_dir()}


def _cache_files(name: str, where: Path | None) -> list[Path]:
    """The files a cache wrote in ``where`` (``info`` and ``clear`` touch no other file).

    So a cache variable pointing at a wrong directory cannot make ``clear`` delete unrelated
    files. XLA's entries are ``<name>-<64 hex>-cache`` / ``-atime``; the program cache's are JSON
    records of its own format, their ``.jaxexport`` programs and leftover temporary files.
    """
    import re

    if where is None or not where.is_dir():
        return []
    files = [p for p in where.iterdir() if p.is_file()]
    if name == "xla":
        pattern = re.compile(r".+-[0-9a-f]{64}-(cache|atime)$")
        return [p for p in files if pattern.match(p.name)]
    from robustmas.compilation.program_cache import is_cache_record

    entry = re.compile(r".+-[0-9a-f]{40}\.json$")
    leftover = re.compile(r"^\..+-[0-9a-f]{40}\.(jaxexport|json)\..+\.tmp$")
    out = []
    for p in files:
        if entry.match(p.name) and is_cache_record(p):
            out.append(p)
            program = p.with_suffix(".jaxexport")
            if program.is_file():
                out.append(program)
        elif leftover.match(p.name):
            out.append(p)
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # removed meanwhile by another process
        return 0


@app.command("info")
def cache_info(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Where the caches are, how many files and bytes each holds."""
    rows = {}
    for name, where in _caches().items():
        files = _cache_files(name, where)
        rows[name] = {
            "path": None if where is None else str(where),
            "files": len(files),
            "bytes": sum(_size(p) for p in files),
        }
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for name, row in rows.items():
        where = row["path"] or "off"
        typer.echo(f"{name:<9} {where}  {row['files']} files, {row['bytes'] / 2**20:.1f} MiB")


@app.command("clear")
def cache_clear(
    which: Annotated[
        str, typer.Argument(help="xla, programs or all (default)", show_default=False)
    ] = "all",
) -> None:
    """Delete the cached files (they are rebuilt on the next run of each configuration)."""

    def run() -> None:
        caches = _caches()
        if which not in (*caches, "all"):
            raise UserError(f"WHICH: expected one of xla, programs, all; got {which!r}")
        for name, where in caches.items():
            if which not in (name, "all"):
                continue
            files = _cache_files(name, where)
            for path in files:
                path.unlink(missing_ok=True)
            typer.echo(f"{name}: removed {len(files)} files from {where or 'off'}")

    guard(run)

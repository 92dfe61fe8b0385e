"""The on-disk caches robustmas writes: where they are, which files are theirs, clearing them.

Two caches: ``xla`` (JAX's persistent compilation cache, :mod:`robustmas.compilation.xla`) and
``programs`` (traced programs, :mod:`robustmas.compilation.program_cache`).  Only files a cache
wrote itself are listed or deleted, so a cache variable pointing at a wrong directory cannot
make :func:`clear_caches` delete unrelated files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from robustmas.compilation.program_cache import default_cache_dir, is_cache_record
from robustmas.compilation.xla import compilation_cache_dir

__all__ = ["CACHE_NAMES", "cache_dirs", "cache_files", "cache_usage", "clear_caches"]

CACHE_NAMES = ("xla", "programs")
"""The caches, by name."""

_XLA_ENTRY = re.compile(r".+-[0-9a-f]{64}-(cache|atime)$")
_PROGRAM_RECORD = re.compile(r".+-[0-9a-f]{40}\.json$")
_PROGRAM_LEFTOVER = re.compile(r"^\..+-[0-9a-f]{40}\.(jaxexport|json)\..+\.tmp$")


def cache_dirs() -> dict[str, Path | None]:
    """Each cache's directory (``None`` where it is turned off)."""
    return {"xla": compilation_cache_dir(), "programs": default_cache_dir()}


def cache_files(name: str, where: Path | None) -> list[Path]:
    """The files cache ``name`` wrote in ``where``.

    XLA's entries are ``<name>-<64 hex>-cache`` / ``-atime``; the program cache's are JSON
    records of its own format, their ``.jaxexport`` programs and leftover temporary files.

    Raises:
        ValueError: for an unknown cache name.
    """
    if name not in CACHE_NAMES:
        raise ValueError(f"cache name: expected one of {', '.join(CACHE_NAMES)}, got {name!r}")
    if where is None or not where.is_dir():
        return []
    files = [p for p in where.iterdir() if p.is_file()]
    if name == "xla":
        return [p for p in files if _XLA_ENTRY.match(p.name)]
    out = []
    for p in files:
        if _PROGRAM_RECORD.match(p.name) and is_cache_record(p):
            out.append(p)
            program = p.with_suffix(".jaxexport")
            if program.is_file():
                out.append(program)
        elif _PROGRAM_LEFTOVER.match(p.name):
            out.append(p)
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # removed meanwhile by another process
        return 0


def cache_usage() -> dict[str, dict[str, Any]]:
    """Per cache: ``path`` (``None`` if off), number of ``files`` and their ``bytes``."""
    rows: dict[str, dict[str, Any]] = {}
    for name, where in cache_dirs().items():
        files = cache_files(name, where)
        rows[name] = {
            "path": None if where is None else str(where),
            "files": len(files),
            "bytes": sum(_size(p) for p in files),
        }
    return rows


def clear_caches(which: str = "all") -> dict[str, tuple[Path | None, int]]:
    """Delete the files of cache ``which`` (``xla``, ``programs`` or ``all``).

    Returns:
        Per cleared cache: its directory and the number of files removed.

    Raises:
        ValueError: for an unknown ``which``.
    """
    dirs = cache_dirs()
    if which not in (*dirs, "all"):
        raise ValueError(f"WHICH: expected one of xla, programs, all; got {which!r}")
    removed = {}
    for name, where in dirs.items():
        if which in (name, "all"):
            files = cache_files(name, where)
            for path in files:
                path.unlink(missing_ok=True)
            removed[name] = (where, len(files))
    return removed

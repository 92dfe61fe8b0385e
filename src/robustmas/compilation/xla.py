"""XLA settings for robustmas's compiled programs, and JAX's persistent compilation cache.

* :func:`compiler_options` -- the XLA options every robustmas program is compiled with when it
  goes through :func:`robustmas.compilation.program_cache.cached_program` (the Stackelberg
  trainer, the CLI and the benchmarks); code that calls ``jax.jit`` itself can pass them as
  ``jax.jit(fn, compiler_options=compiler_options())``.
* :func:`enable_compilation_cache` -- point JAX's persistent compilation cache at
  :func:`compilation_cache_dir`, so that a repeated run of the same program skips XLA
  compilation (tracing and lowering are skipped by the program cache).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax

__all__ = ["compilation_cache_dir", "compiler_options", "enable_compilation_cache"]

_OPT_LEVEL_ENV = "ROBUSTMAS_XLA_OPT_LEVEL"
_CPU_OPT_LEVEL = 1


def compiler_options() -> dict[str, Any]:
    """XLA options that robustmas compiles its programs with (:func:`cached_program`).

    On the CPU: backend (LLVM) optimisation level 1 instead of XLA's default, which on the
    Stackelberg trainers both compiles and trains faster (measurements:
    ``benchmarks/compile_profile.py``, ``benchmarks/RESULTS.md``).  Results agree with XLA's
    default level to float32 rounding, not bit for bit; every run with the same options is
    deterministic.  They apply to programs compiled through :func:`cached_program` (the
    Stackelberg trainer, the CLI, the benchmarks); a plain ``jax.jit`` elsewhere uses XLA's
    default unless given ``compiler_options=compiler_options()``.
    ``$ROBUSTMAS_XLA_OPT_LEVEL`` picks another level (``0``-``3``) or ``default`` (XLA's own
    choice); a level set in ``$XLA_FLAGS`` wins over both.
    """
    raw = os.environ.get(_OPT_LEVEL_ENV, "").strip().lower()
    if raw not in ("", "default", "0", "1", "2", "3"):
        raise ValueError(
            f"{_OPT_LEVEL_ENV}={raw!r}: expected 0, 1, 2, 3 or 'default' "
            f"(unset it for robustmas's choice, {_CPU_OPT_LEVEL} on the CPU)"
        )
    if raw == "default" or "xla_backend_optimization_level" in os.environ.get("XLA_FLAGS", ""):
        return {}
    if raw:
        return {"xla_backend_optimization_level": int(raw)}
    if jax.default_backend() != "cpu":
        return {}
    return {"xla_backend_optimization_level": _CPU_OPT_LEVEL}


def compilation_cache_dir() -> Path | None:
    """``$ROBUSTMAS_JAX_CACHE`` or ``~/.cache/robustmas/jax`` (``None`` if ``off``)."""
    where = os.environ.get("ROBUSTMAS_JAX_CACHE") or str(
        Path.home() / ".cache" / "robustmas" / "jax"
    )
    return None if where.lower() == "off" else Path(where)


def enable_compilation_cache() -> None:
    """Reuse compiled programs across processes (JAX's persistent compilation cache).

    Location: :func:`compilation_cache_dir`; ``ROBUSTMAS_JAX_CACHE=off`` disables it.  Programs
    that compile in under 0.5 s are not stored.
    """
    where = compilation_cache_dir()
    if where is None:
        return
    jax.config.update("jax_compilation_cache_dir", str(where))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

"""Compile machinery shared by every layer: nothing here knows about games or algorithms.

* :mod:`~robustmas.compilation.xla` -- XLA compiler options and JAX's persistent compilation
  cache;
* :mod:`~robustmas.compilation.program_cache` -- an on-disk cache of traced and lowered programs
  (``jax.export``);
* :mod:`~robustmas.compilation.lockstep` -- :func:`lockstep_cond`, a ``lax.cond`` that stays
  cheap under ``vmap``.
"""

from robustmas.compilation.lockstep import lockstep_cond
from robustmas.compilation.program_cache import (
    Program,
    cached_program,
    default_cache_dir,
    fingerprint_of,
)
from robustmas.compilation.xla import (
    compilation_cache_dir,
    compiler_options,
    enable_compilation_cache,
)

__all__ = [
    "Program",
    "cached_program",
    "compilation_cache_dir",
    "compiler_options",
    "default_cache_dir",
    "enable_compilation_cache",
    "fingerprint_of",
    "lockstep_cond",
]

"""Test-session settings.

robustmas's compile caches (JAX's persistent cache, enabled by the CLI for the whole process, and
the program cache) go to a fresh folder per session, unless the environment names them. A test
run then neither reads nor fills the user's ``~/.cache/robustmas``, and it compiles everything as
a clean CI machine does, so local timings of the suite are CI's.

XLA compiles the suite's programs at LLVM optimisation level 0 unless ``$XLA_FLAGS`` names a
level: most tests run a program for seconds after compiling it for tens of seconds, and level 0
halved one cross-table test (measured: 69 s at XLA's default, 49 s at level 1, 34 s at level 0).
Numbers may differ from other levels in float rounding (measured for level 1 only:
``benchmarks/compile_profile.py``); reruns at one level are bit for bit the same, which is what
the determinism tests compare.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_CACHES = tempfile.mkdtemp(prefix="robustmas-test-caches-")
atexit.register(shutil.rmtree, _CACHES, ignore_errors=True)
os.environ.setdefault("ROBUSTMAS_JAX_CACHE", os.path.join(_CACHES, "jax"))
os.environ.setdefault("ROBUSTMAS_PROGRAM_CACHE", os.path.join(_CACHES, "programs"))
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

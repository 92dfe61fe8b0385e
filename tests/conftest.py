"""Test-session settings.

robustmas's compile caches (JAX's persistent cache, enabled by the CLI for the whole process, and
the program cache) go to a fresh folder per session, unless the environment names them. A test
run then neither reads nor fills the user's ``~/.cache/robustmas``, and it compiles everything as
a clean CI machine does, so local timings of the suite are CI's.
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

"""Reproducer: ``jit(vmap(f))`` differs from ``vmap(f)`` on the CPU (jax/jaxlib 0.10.2).

Found 2026-12-03 while computing attainable optima (``robustmas.robust.attainable``, which
therefore evaluates maps with un-jitted ``vmap`` and re-checks the best map on its own).  ``f``
multiplies a row of 64 counts by a reduction over the last axis; once the vmapped output reaches
65,536 elements the jitted result is wrong by up to 63 against NumPy and against the un-jitted
call, at every XLA backend optimisation level tried.  Not yet reported upstream; robustmas's other
jitted paths have not been audited for the pattern (see the session note of 2026-12-03).

Run: ``.venv/bin/python docs/known-issues/xla_cpu_broadcast_reduce.py`` (prints both errors and
exits 1 while the bug is present).
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

rng = np.random.default_rng(0)
tables = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (256, 4))]  # (256, 4, 4) one-hot rows
fp = jnp.asarray(np.broadcast_to(np.eye(4)[:, None, :], (4, 4, 4)).copy(), jnp.float32)


def f(t: jax.Array) -> jax.Array:
    """(64, 4, 4): counts 0..63 times a reduction over the last axis."""
    return jnp.arange(64.0)[:, None, None] * jnp.sum(fp * t, -1)[None]


eager = np.asarray(jax.vmap(f)(tables))
jitted = np.asarray(jax.jit(jax.vmap(f))(tables))
ref = (
    np.arange(64.0)[None, :, None, None] * (np.asarray(fp)[None] * tables[:, None]).sum(-1)[:, None]
)
print(
    f"jax {jax.__version__}: max |eager - numpy| = {np.abs(eager - ref).max():g}, "
    f"max |jit - numpy| = {np.abs(jitted - ref).max():g}"
)
sys.exit(int(np.abs(jitted - ref).max() > 1e-4))

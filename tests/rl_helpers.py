"""Helpers shared by the learning-core tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from robustmas.rl.checkpoint import load_checkpoint, save_checkpoint
from robustmas.rl.ppo import PPO

JIT_OPTS = {"xla_backend_optimization_level": 0}
"""Compile options of the tests: XLA compiles ~4x faster at level 0 and results stay
deterministic (the determinism and resume tests compare runs compiled alike)."""


def trees_equal(a: Any, b: Any) -> bool:
    """Bitwise equality of two pytrees (NaN equals NaN)."""
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    if len(leaves_a) != len(leaves_b):
        return False
    for x, y in zip(leaves_a, leaves_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if not np.array_equal(x, y, equal_nan=bool(np.issubdtype(x.dtype, np.floating))):
            return False
    return True


def resume_round_trip(trainer: PPO, key: jax.Array, tmp_path: Path, updates: int) -> Any:
    """Train ``updates``, checkpoint, train ``updates`` more twice: straight on, and after
    restoring the checkpoint from disk; assert both end bit-identical (state and metrics).

    Returns:
        The resumed run's final runner state and metrics.
    """
    chunk = jax.jit(trainer.update_chunk, static_argnums=1, compiler_options=JIT_OPTS)
    state, _ = chunk(jax.jit(trainer.init, compiler_options=JIT_OPTS)(key), updates)
    uninterrupted, second = chunk(state, updates)
    path = save_checkpoint(tmp_path / "ckpt.msgpack", state, trainer.config)
    del state
    state = load_checkpoint(path, jax.eval_shape(trainer.init, key))
    state, resumed = chunk(state, updates)
    assert trees_equal(uninterrupted, state)
    assert trees_equal(second, resumed)
    return state, resumed

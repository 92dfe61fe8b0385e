"""Checkpoints: a run killed between chunks and resumed from disk is bit-identical."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from robustmas.envs.bandit import ContextualBandit
from robustmas.rl.checkpoint import load_checkpoint, load_sidecar, save_checkpoint, sidecar_path
from robustmas.rl.ppo import PPO, PPOConfig
from tests.rl_helpers import JIT_OPTS

CONFIG = PPOConfig(
    lr=3e-3,
    num_envs=8,
    num_steps=4,
    total_timesteps=8 * 4 * 12,
    update_epochs=2,
    num_minibatches=2,
    actor_hidden=(16,),
    critic_hidden=(16,),
    eval_every=3,
    eval_episodes=4,
    centralized_critic=True,
)


def _assert_trees_equal(a, b):
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_resume_from_disk_equals_uninterrupted_train(tmp_path):
    env = ContextualBandit()
    trainer = PPO(CONFIG, env)
    key = jax.random.PRNGKey(7)
    assert CONFIG.num_updates == 12

    uninterrupted = jax.jit(trainer.train, compiler_options=JIT_OPTS)(key)

    init = jax.jit(trainer.init, compiler_options=JIT_OPTS)
    chunk = jax.jit(trainer.update_chunk, static_argnums=1, compiler_options=JIT_OPTS)
    state = init(key)
    metrics = []
    for _ in range(2):  # k = 2 chunks, then the process "dies"
        state, m = chunk(state, 3)
        metrics.append(m)
    path = save_checkpoint(tmp_path / "run" / "ckpt.msgpack", state, CONFIG, metadata={"seed": 7})
    del state

    sidecar = load_sidecar(path)
    assert PPOConfig.from_dict(sidecar["config"]) == CONFIG
    assert sidecar["update_step"] == 6
    assert sidecar["metadata"] == {"seed": 7}
    state = load_checkpoint(path, jax.eval_shape(trainer.init, key))
    assert int(state.update_step) == 6
    for _ in range(2):
        state, m = chunk(state, 3)
        metrics.append(m)

    _assert_trees_equal(uninterrupted.runner_state, state)
    for name, series in uninterrupted.metrics.items():
        resumed = np.concatenate([np.asarray(m[name]) for m in metrics])
        np.testing.assert_array_equal(series, resumed, err_msg=name)


def test_resume_vmapped_seeds(tmp_path):
    # A batched runner state (2 seeds) round-trips through disk mid-run; the result equals the
    # same chunked run without the interruption.
    env = ContextualBandit()
    trainer = PPO(CONFIG, env)
    keys = jax.random.split(jax.random.PRNGKey(8), 2)
    init = jax.jit(jax.vmap(trainer.init), compiler_options=JIT_OPTS)
    chunk = jax.jit(
        jax.vmap(trainer.update_chunk, in_axes=(0, None)),
        static_argnums=1,
        compiler_options=JIT_OPTS,
    )

    state = init(keys)
    for _ in range(4):
        state, _ = chunk(state, 3)
    uninterrupted = state

    state = init(keys)
    state, _ = chunk(state, 3)
    path = save_checkpoint(tmp_path / "ckpt.msgpack", state, CONFIG)
    del state
    assert load_sidecar(path)["update_step"] == [3, 3]
    state = load_checkpoint(path, jax.eval_shape(jax.vmap(trainer.init), keys))
    for _ in range(3):
        state, _ = chunk(state, 3)
    _assert_trees_equal(uninterrupted, state)
    assert not np.array_equal(*state.params.actor["params"]["head"]["kernel"])


def test_load_rejects_mismatched_target(tmp_path):
    env = ContextualBandit()
    trainer = PPO(CONFIG, env)
    state = jax.jit(trainer.init, compiler_options=JIT_OPTS)(jax.random.PRNGKey(0))
    path = save_checkpoint(tmp_path / "ckpt.msgpack", state, CONFIG)
    bigger = PPO(PPOConfig(**{**CONFIG.to_dict(), "actor_hidden": (32,)}), env)
    with pytest.raises(ValueError, match="shape"):
        load_checkpoint(path, jax.eval_shape(bigger.init, jax.random.PRNGKey(0)))
    restored = load_checkpoint(path, jax.eval_shape(trainer.init, jax.random.PRNGKey(1)))
    _assert_trees_equal(state, restored)


def test_sidecar_format_is_checked(tmp_path):
    env = ContextualBandit()
    state = jax.eval_shape(PPO(CONFIG, env).init, jax.random.PRNGKey(0))
    state = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), state)
    path = save_checkpoint(tmp_path / "ckpt.msgpack", state, CONFIG)
    side = sidecar_path(path)
    data = json.loads(side.read_text())
    data["format"] = "something-else"
    side.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="format"):
        load_sidecar(path)
    data["format"] = "robustmas.rl.checkpoint/1"  # before the multi-agent/recurrent fields
    side.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="start the run again"):
        load_sidecar(path)

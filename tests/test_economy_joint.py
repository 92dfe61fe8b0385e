"""The economy's agents and planner as one multi-agent environment (planner last)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.check import check_env
from robustmas.envs.economy import EconomyAction, GatherTradeBuild
from robustmas.envs.economy.agents_view import flatten_agents
from robustmas.envs.economy.joint_view import EconomyJoint
from robustmas.rl.config import PPOConfig
from robustmas.robust.marl import JointPPO


@pytest.fixture(scope="module")
def env() -> EconomyJoint:
    return EconomyJoint()


def _random_joint_actions(env: EconomyJoint, key: jax.Array, obs: jax.Array) -> jax.Array:
    """Uniform among each player's allowed choices, component by component."""
    mask = obs[:, : env.mask_size] > 0.5
    sizes = (env.agent_actions,) + (env.choices,) * env.brackets
    parts, start = [], 0
    for c, size in enumerate(sizes):
        m = mask[:, start : start + size]
        logits = jnp.where(m, 0.0, -jnp.inf)
        parts.append(jax.random.categorical(jax.random.fold_in(key, c), logits))
        start += size
    return jnp.stack(parts, axis=1).astype(jnp.int32)


def test_joint_view_conforms(env: EconomyJoint) -> None:
    check_env(env, env.economy.make_params(episode_length=12))


def test_joint_step_is_the_economy_step(env: EconomyJoint) -> None:
    """Same state, rewards and agent features as the economy under the same actions; masks
    allow only choice 0 outside a player's own components."""
    params = env.economy.make_params(episode_length=200)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    _, ref = env.economy.reset(jax.random.PRNGKey(0), params)
    n = env.economy.n_agents
    step, ref_step = jax.jit(env.step), jax.jit(env.economy.step)
    for t in range(60):
        action = _random_joint_actions(env, jax.random.PRNGKey(100 + t), obs)
        key = jax.random.PRNGKey(t)
        obs, state, reward, done, _ = step(key, state, action, params)
        joint = EconomyAction(agents=action[:n, 0], planner=action[n, 1:])
        ref_obs, ref, ref_reward, ref_done, _ = ref_step(key, ref, joint, params)
        for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(ref), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(reward), np.asarray(ref_reward))
        assert bool(done) == bool(ref_done)
        flat = np.asarray(flatten_agents(ref_obs))
        mask = np.asarray(obs[:, : env.mask_size])
        np.testing.assert_array_equal(mask[:n, :50], flat[:, :50])
        assert (mask[:n, 50:].reshape(n, 7, 22) == np.eye(22)[0]).all()
        np.testing.assert_array_equal(mask[n, :50], np.eye(50)[0])
        np.testing.assert_array_equal(
            mask[n, 50:], np.asarray(ref_obs.planner_mask, np.float32).reshape(-1)
        )
        features = np.asarray(obs[:n, env.mask_size :])
        width = flat.shape[1] - 50
        np.testing.assert_array_equal(features[:, :width], flat[:, 50:])
        assert (features[:, width:] == 0).all()
        planner = np.asarray(obs[n, env.mask_size :])
        flat_p = np.asarray(ref_obs.planner_flat)
        np.testing.assert_array_equal(planner[: flat_p.size], flat_p)
    assert (np.asarray(state.rates) > 0).any()  # the planner's random choices set rates


def test_free_market_when_the_highest_rate_is_zero(env: EconomyJoint) -> None:
    """``rate_max = 0`` (the pipeline's pretraining) leaves every rate at 0: no taxes."""
    params = env.economy.make_params(episode_length=300, rate_max=0.0)
    obs, state = env.reset(jax.random.PRNGKey(1), params)
    step = jax.jit(env.step)
    for t in range(250):
        action = _random_joint_actions(env, jax.random.PRNGKey(t), obs)
        obs, state, _, _, _ = step(jax.random.PRNGKey(10_000 + t), state, action, params)
    assert float(state.tax_revenue) == 0.0
    assert (np.asarray(state.rates) == 0).all()


@pytest.mark.slow  # CI time: trains the joint planner and agents
def test_joint_ppo_policies_keep_to_their_components(env: EconomyJoint) -> None:
    """Masked MultiDiscrete heads with separate parameters: agents never touch the brackets,
    the planner never acts as an agent; a frozen planner stays bit for bit, a trainable one
    moves."""
    params = env.economy.make_params(episode_length=20)
    cfg = PPOConfig(
        num_envs=2, num_steps=10, total_timesteps=20, update_epochs=1, num_minibatches=1,
        action_mask_size=env.mask_size, parameter_sharing=False, actor_hidden=(8,),
        critic_hidden=(8,), eval_every=0,
    )  # fmt: skip
    algo = JointPPO(cfg, env, params)
    runner = algo.init(jax.random.PRNGKey(0))
    obs = runner.obs
    x = algo.trainer.networks.actor_input(obs)
    for k in range(5):
        _, action, log_prob = algo.trainer.networks.sample(
            runner.params.actor, jax.random.PRNGKey(k), x, None, jnp.zeros(obs.shape[:2], bool)
        )
        action = np.asarray(action)
        assert (action[:, :-1, 1:] == 0).all() and (action[:, -1, 0] == 0).all()
        assert np.isfinite(np.asarray(log_prob)).all()
    frozen = runner.replace(trainable=jnp.array([True] * 4 + [False]))
    after, _ = jax.jit(algo.trainer.update)(frozen)
    planner = [np.asarray(leaf[-1]) for leaf in jax.tree_util.tree_leaves(runner.params)]
    planner_after = [np.asarray(leaf[-1]) for leaf in jax.tree_util.tree_leaves(after.params)]
    assert all((a == b).all() for a, b in zip(planner, planner_after, strict=True))
    moved, _ = jax.jit(algo.trainer.update)(runner)
    planner_moved = [np.asarray(leaf[-1]) for leaf in jax.tree_util.tree_leaves(moved.params)]
    assert any(not np.allclose(a, b) for a, b in zip(planner, planner_moved, strict=True))


def test_joint_view_needs_a_planner_economy() -> None:
    with pytest.raises(ValueError, match="tax_model='planner'"):
        EconomyJoint(GatherTradeBuild(tax_model="fixed"))

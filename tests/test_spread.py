"""Independent Spread (ARNEQ paper App. C.1): protocol, rewards, and mpe2's physics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.check import check_env
from robustmas.envs.spread import IndependentSpread, SpreadState


def test_conforms_to_the_env_protocol() -> None:
    check_env(IndependentSpread())
    check_env(IndependentSpread(4, include_velocity=True))
    with pytest.raises(ValueError, match="num_agents"):
        IndependentSpread(1)


def test_rewards_observations_and_horizon_on_a_crafted_state() -> None:
    env = IndependentSpread(3)
    params = env.default_params()
    state = SpreadState(
        pos=jnp.array([[0.0, 0.0], [0.2, 0.0], [1.0, 1.0]]),
        vel=jnp.zeros((3, 2)),
        landmarks=jnp.array([[0.0, 0.5], [0.2, 0.0], [1.0, -1.0]]),
        t=jnp.int32(24),
    )
    obs = env._obs(state)
    np.testing.assert_allclose(obs[0], [0, 0, 0, 0.5, 0.2, 0, 1, 1], atol=1e-7)
    # No action: the soft contact pushes agents 0 and 1 apart but they still overlap.
    _, new, reward, done, info = env.step(jax.random.PRNGKey(0), state, jnp.zeros(3), params)
    assert bool(done)  # step 25 of 25
    np.testing.assert_array_equal(np.asarray(info["collisions"]), [1, 1, 0])
    distance = np.linalg.norm(np.asarray(new.pos - state.landmarks), axis=1)
    np.testing.assert_allclose(reward, -distance - 10 * np.array([1, 1, 0]), rtol=1e-6)
    # Positions move with the old velocity (0 here); velocities take the contact force.
    np.testing.assert_allclose(new.pos, state.pos)
    assert float(new.vel[0, 0]) < 0 < float(new.vel[1, 0]) and float(new.vel[2, 0]) == 0.0


def test_physics_match_mpe2_simple_spread() -> None:
    mpe2 = pytest.importorskip("mpe2.simple_spread_v3")
    ref = mpe2.parallel_env(N=3, max_cycles=40, continuous_actions=False)
    ref.reset(seed=0)
    world = ref.unwrapped.world
    env = IndependentSpread(3)
    params = env.default_params()
    # Start the agents close together so that the soft collisions matter.
    pos = np.array([[0.0, 0.0], [0.25, 0.05], [-0.1, 0.2]])
    landmarks = np.array([[w.state.p_pos[0], w.state.p_pos[1]] for w in world.landmarks])
    for agent, p in zip(world.agents, pos, strict=True):
        agent.state.p_pos = p.copy()
        agent.state.p_vel = np.zeros(2)
    state = SpreadState(jnp.asarray(pos, jnp.float32), jnp.zeros((3, 2)),
                        jnp.asarray(landmarks, jnp.float32), jnp.int32(0))  # fmt: skip
    rng = np.random.default_rng(0)
    step = jax.jit(env.step)
    collisions = 0
    for _ in range(30):
        actions = rng.integers(0, 5, size=3)
        ref.step({a: int(x) for a, x in zip(ref.agents, actions, strict=True)})
        _, state, _, _, info = step(jax.random.PRNGKey(0), state, jnp.asarray(actions), params)
        mine_pos = np.asarray(state.pos)
        theirs = np.array([a.state.p_pos for a in world.agents])
        np.testing.assert_allclose(mine_pos, theirs, atol=1e-4)
        np.testing.assert_allclose(
            np.asarray(state.vel), np.array([a.state.p_vel for a in world.agents]), atol=1e-3
        )
        hits = [sum(ref.unwrapped.scenario.is_collision(a, b) for b in world.agents if b is not a)
                for a in world.agents]  # fmt: skip
        np.testing.assert_array_equal(np.asarray(info["collisions"]), hits)
        collisions += sum(hits)
    assert collisions > 0  # the check covered the contact forces


def test_pettingzoo_adapter_passes_the_parallel_api_test() -> None:
    pytest.importorskip("pettingzoo")
    from pettingzoo.test import parallel_api_test

    from robustmas.envs.parallel.adapters import PettingZooParallelEnv

    env = IndependentSpread(3)
    adapter = PettingZooParallelEnv(env, env.default_params().replace(episode_length=6))
    parallel_api_test(adapter, num_cycles=15)

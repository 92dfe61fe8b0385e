"""RepeatedMatrixGame: shapes, payoffs equal the stage game's, episode length, jit/vmap."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.core import Box, Discrete, step_autoreset
from robustmas.envs.repeated_matrix import RepeatedMatrixGame
from robustmas.games.normal_form import NormalFormGame
from tests.rl_helpers import JIT_OPTS


def _three_player_game() -> NormalFormGame:
    rng = np.random.default_rng(0)
    return NormalFormGame(rng.normal(size=(3, 2, 2, 2)).round(3))


def test_spaces_and_reset_shapes():
    env = RepeatedMatrixGame(_three_player_game(), episode_length=4)
    params = env.default_params()
    assert env.num_agents == 3
    assert params.episode_length == 4
    assert env.action_space(params) == Discrete(2)
    assert env.observation_space(params) == Box(0.0, 1.0, (6,))
    assert env.critic_observation_space(params) == Box(0.0, 1.0, (7,))
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert obs.shape == (3, 6)
    np.testing.assert_array_equal(obs, 0.0)  # no previous action yet
    np.testing.assert_array_equal(env.critic_observation(state, params), np.zeros(7))


def test_payoffs_equal_the_stage_game_for_every_joint_action():
    game = _three_player_game()
    env = RepeatedMatrixGame(game, episode_length=1)
    params = env.default_params()
    step = jax.jit(env.step, compiler_options=JIT_OPTS)
    _, state = env.reset(jax.random.PRNGKey(0), params)
    for joint in itertools.product(range(2), repeat=3):
        obs, next_state, reward, done, info = step(
            jax.random.PRNGKey(1), state, jnp.array(joint), params
        )
        assert reward.shape == (3,)
        np.testing.assert_allclose(reward, game.payoffs[(slice(None), *joint)], rtol=1e-6)
        assert bool(done)
        expected_obs = np.eye(2)[list(joint)].reshape(-1)
        np.testing.assert_array_equal(obs, np.tile(expected_obs, (3, 1)))
        np.testing.assert_array_equal(info["joint_action"], joint)
        np.testing.assert_array_equal(
            env.critic_observation(next_state, params), [*expected_obs, 1.0]
        )


def test_episode_length_and_autoreset():
    row = np.array([[3.0, 0.0], [5.0, 1.0]])
    env = RepeatedMatrixGame(NormalFormGame(np.stack([row, row.T])), episode_length=3)
    params = env.default_params()
    _, state = env.reset(jax.random.PRNGKey(0), params)
    dones, returns = [], np.zeros(2)
    actions = [(0, 1), (1, 1), (0, 0), (1, 0)]
    for joint in actions:
        obs, state, reward, done, _ = step_autoreset(
            env, jax.random.PRNGKey(2), state, jnp.array(joint), params
        )
        dones.append(bool(done))
        returns += np.asarray(reward)
    assert dones == [False, False, True, False]
    # (C, D) -> (0, 5); (D, D) -> (1, 1); (C, C) -> (3, 3); (D, C) -> (5, 0)
    np.testing.assert_allclose(returns, [0 + 1 + 3 + 5, 5 + 1 + 3 + 0])
    assert int(state.t) == 1  # the fourth stage opened a new episode
    np.testing.assert_array_equal(obs[0], [0.0, 1.0, 1.0, 0.0])


def test_jit_and_vmap_over_keys_and_payoffs():
    game = _three_player_game()
    env = RepeatedMatrixGame(game, episode_length=2)
    params = env.default_params()
    keys = jax.random.split(jax.random.PRNGKey(0), 5)
    obs, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)), compiler_options=JIT_OPTS)(
        keys, params
    )
    assert obs.shape == (5, 3, 6)
    # vmap over games of one shape: scaled payoffs give scaled rewards.
    scales = jnp.array([1.0, -2.0, 0.5, 0.0, 3.0])
    batched = jax.vmap(lambda s: env.make_params(params.payoffs * s))(scales)
    actions = jnp.tile(jnp.array([1, 0, 1]), (5, 1))
    step = jax.jit(jax.vmap(env.step), compiler_options=JIT_OPTS)
    _, _, reward, done, _ = step(keys, states, actions, batched)
    base = game.payoffs[:, 1, 0, 1]
    np.testing.assert_allclose(reward, np.asarray(scales)[:, None] * base[None], rtol=1e-5)
    assert not np.any(done)


def test_validation():
    with pytest.raises(ValueError, match="same number of actions"):
        RepeatedMatrixGame(NormalFormGame(np.zeros((2, 2, 3))))
    with pytest.raises(ValueError, match="episode_length"):
        RepeatedMatrixGame(_three_player_game(), episode_length=0)
    env = RepeatedMatrixGame(_three_player_game())
    with pytest.raises(ValueError, match="shape"):
        env.make_params(np.zeros((3, 2, 2)))

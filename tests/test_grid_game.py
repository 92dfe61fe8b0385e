"""Grid Markov games: dynamics, perturbations, presets, conformance, and the exact-oracle tie.

The tie: Monte-Carlo returns of tabular policies rolled out in the jitted, vmapped JAX env
match the exact DP values of :mod:`robustmas.equilibria.markov_exact` within their 95%
intervals, also under a perturbed agent type.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from robustmas.envs import check_env
from robustmas.envs.grid_game import (
    GridGame,
    episode_returns,
    risk_transform,
    tabular_actions,
    with_agent_types,
)
from robustmas.envs.grid_presets import GRID_GAMES, make_grid_game
from robustmas.equilibria.markov_exact import GridMarkovGame, evaluate
from robustmas.games import grid_tables

STAY, UP, DOWN = 0, 1, 2

SMALL = {"episode_length": 3}
"""Preset parameters that keep compilation cheap."""

PRESETS: dict[str, dict[str, Any]] = {
    "tragedy-v0": SMALL,
    "tragedy-v0:augmented=true": SMALL,  # its own action and observation spaces
    "released-code-v0:obs=coords,allow_stay=false": SMALL,  # the tragedy-v0 env, other options
    "nmatrix-v0": SMALL,
    "nmatrix-fixed-v0:principal=fixed_uniform": SMALL,  # (frozen is the nmatrix-v0 env)
}
"""Every registered grid game, each in another variant where its default repeats another's."""

MORE_PRESETS: dict[str, dict[str, Any]] = {
    "released-code-v0": SMALL,
    "nmatrix-fixed-v0": SMALL,
    "tragedy-v0:obs=raw": SMALL,
    "nmatrix-fixed-v0:principal=fixed_position,obs=cell": SMALL,
}
"""The remaining defaults, modes and encodings (slow suite: each check compiles for seconds)."""


def test_every_registered_game_is_checked() -> None:
    assert {spec.partition(":")[0] for spec in PRESETS} == set(GRID_GAMES)


@pytest.mark.parametrize("spec", sorted(PRESETS))
def test_preset_conforms(spec: str) -> None:
    setup = make_grid_game(spec, **PRESETS[spec])
    check_env(setup.env, setup.params, name=spec)


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(MORE_PRESETS))
def test_variant_conforms(spec: str) -> None:
    setup = make_grid_game(spec, **MORE_PRESETS[spec])
    check_env(setup.env, setup.params, name=spec)


def _state(env: GridGame, cell: list[int], officers: int = 0) -> Any:
    _, state = env.reset(jax.random.PRNGKey(0), env.default_params())
    return state.replace(cell=jnp.asarray(cell, jnp.int32), officers=jnp.int32(officers))


def test_tragedy_step_moves_clips_and_reads_the_new_cell() -> None:
    setup = make_grid_game("tragedy-v0", episode_length=2)
    env, params = setup.env, setup.params
    tables = grid_tables.tragedy_tables()
    assert env.num_agents == 3 and env.principal_index == 2 and not setup.principal_trainable
    key = jax.random.PRNGKey(1)
    # Agent 1 up (+1 row), agent 2 down (-1 column); the passive principal's action is ignored.
    obs, state, reward, done, info = env.step(
        key, _state(env, [1, 2]), jnp.array([UP, DOWN, DOWN]), params
    )
    np.testing.assert_array_equal(state.cell, [2, 1])
    np.testing.assert_allclose(reward, tables[:, 2, 1], rtol=1e-6)
    np.testing.assert_allclose(info["raw_rewards"], tables[:, 2, 1], rtol=1e-6)
    assert obs.shape == (3, 16) and np.all(obs[:, 2 * 4 + 1] == 1) and np.all(obs.sum(1) == 1)
    assert not bool(done)
    # Clipped at the border; the episode ends after exactly episode_length steps.
    _, state, reward, done, _ = env.step(
        key, state.replace(cell=jnp.array([3, 0])), jnp.array([UP, DOWN, UP]), params
    )
    np.testing.assert_array_equal(state.cell, [3, 0])
    assert bool(done) and int(state.t) == 2


def test_augmented_planner_officers() -> None:
    setup = make_grid_game("tragedy-v0:augmented=true", episode_length=5)
    env, params = setup.env, setup.params
    tables = grid_tables.tragedy_tables()
    assert env.action_space(params).n == 5 and setup.principal_trainable
    np.testing.assert_array_equal(
        env.action_mask(params), [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    )
    key = jax.random.PRNGKey(0)
    # Planner action 4 = +2 officers; an agent's extra actions (3, 4) mean "stay".
    obs, state, reward, _, _ = env.step(key, _state(env, [3, 3], 11), jnp.array([4, 3, 4]), params)
    assert int(state.officers) == 12  # clipped at max_officers
    np.testing.assert_array_equal(state.cell, [3, 3])
    np.testing.assert_allclose(reward[2], 1.0 * (1 + 3.0 * 1.0) - 1.0, rtol=1e-6)
    np.testing.assert_allclose(reward[:2], tables[:2, 3, 3], rtol=1e-6)
    # Only the planner observes the officer count.
    officer_block = obs[:, 16:]
    assert officer_block.shape == (3, 13)
    assert np.all(officer_block[:2] == 0) and officer_block[2, 12] == 1
    # Action 0 = -2 officers, from 1: clipped at 0; reward r0 (1 + 0) - 0.
    _, state, reward, _, _ = env.step(key, _state(env, [1, 2], 1), jnp.array([0, 0, 0]), params)
    assert int(state.officers) == 0
    np.testing.assert_allclose(reward[2], tables[2, 1, 2], rtol=1e-6)
    # Adv(Q) subtracts the un-multiplied table r0 (the released code's form).
    adv = with_agent_types(env, params, adv_q=0.5)
    _, _, reward, _, _ = env.step(key, _state(env, [3, 3], 6), jnp.array([0, 0, 3]), adv)
    np.testing.assert_allclose(reward[:2], tables[:2, 3, 3] - 0.5 * 1.0, rtol=1e-6)


def test_nmatrix_principal_modes() -> None:
    moving = make_grid_game("nmatrix-v0", episode_length=4)
    assert moving.env.num_agents == 4 and moving.env.dims == 4 and moving.principal_trainable
    tables = grid_tables.released_code_nmatrix_tables()
    np.testing.assert_array_equal(moving.params.payoffs, tables.astype(np.float32))
    key = jax.random.PRNGKey(0)
    start = _state(moving.env, [0, 6, 3, 3])
    obs, state, reward, _, _ = moving.env.step(
        key, start, jnp.array([UP, UP, STAY, DOWN]), moving.params
    )
    np.testing.assert_array_equal(state.cell, [1, 6, 3, 2])
    np.testing.assert_allclose(reward, tables[:, 1, 6, 3, 2], rtol=1e-6)
    np.testing.assert_allclose(obs[0], np.array([1, 6, 3, 2]) / 6, rtol=1e-6)  # D26
    frozen = make_grid_game("nmatrix-fixed-v0")
    assert frozen.env.principal == "mover" and not frozen.principal_trainable
    fixed = make_grid_game("nmatrix-fixed-v0:principal=fixed_position", episode_length=4)
    _, state, _, _, _ = fixed.env.step(key, start, jnp.array([UP, UP, STAY, UP]), fixed.params)
    assert int(state.cell[3]) == 3  # the principal's coordinate stays put
    uniform = make_grid_game("nmatrix-fixed-v0:principal=fixed_uniform")
    seen = {
        int(uniform.env.step(k, start, jnp.zeros(4, jnp.int32), uniform.params)[1].cell[3])
        for k in jax.random.split(key, 12)
    }
    assert seen == {2, 3, 4}  # it moves at random, whatever its action


def test_perturbations() -> None:
    setup = make_grid_game("released-code-v0", episode_length=4)
    env, params = setup.env, setup.params
    tables = grid_tables.released_code_bimatrix_tables()
    key = jax.random.PRNGKey(3)
    state = _state(env, [1, 1])
    action = jnp.array([STAY, STAY, STAY])
    cases = {
        "paper": (
            with_agent_types(env, params, adv_q=0.25),
            {"principal_weight": [-0.25, -0.25, 0.0]},
        ),
        "convex": (
            with_agent_types(env, params, adv_q=0.25, adv_mode="convex"),
            {"scale": [0.75, 0.75, 1.0], "principal_weight": [-0.25, -0.25, 0.0]},
        ),
        "risk": (with_agent_types(env, params, risk_eta=0.2), {"risk_eta": [0.2, 0.2, 0.0]}),
    }
    for name, (perturbed, kwargs) in cases.items():
        want = grid_tables.agent_type_tables(tables, **kwargs)
        _, _, reward, _, _ = env.step(key, state, action, perturbed)
        np.testing.assert_allclose(reward, want[:, 1, 1], rtol=1e-5, err_msg=name)
    # Domain randomisation: per episode the noise is fixed, per step it is redrawn.
    dr = with_agent_types(env, params, noise_width=1.0, noise_per_episode=True)
    _, state = env.reset(key, dr)
    first = env.step(jax.random.PRNGKey(5), state, action, dr)[2]
    second = env.step(jax.random.PRNGKey(6), state, action, dr)[2]
    np.testing.assert_array_equal(first, second)
    assert float(first[2]) == pytest.approx(float(tables[2, *state.cell]), rel=1e-6)
    per_step = with_agent_types(env, params, noise_width=1.0, noise_per_episode=False)
    first = env.step(jax.random.PRNGKey(5), state, action, per_step)[2]
    second = env.step(jax.random.PRNGKey(6), state, action, per_step)[2]
    assert not np.allclose(first[:2], second[:2]) and first[2] == second[2]
    x = jnp.linspace(-1.5, 2.0, 15)
    for eta in (0.0, 0.2, 1.0, 1.5):
        np.testing.assert_allclose(
            risk_transform(x, jnp.float32(eta)),
            grid_tables.risk_transform(np.asarray(x), eta),
            rtol=1e-5,
            atol=1e-6,
        )


def _rollouts(env: GridGame, params: Any, policies: np.ndarray, n: int) -> np.ndarray:
    run = jax.jit(jax.vmap(lambda k: episode_returns(env, params, jnp.asarray(policies), k)))
    return np.asarray(run(jax.random.split(jax.random.PRNGKey(0), n)), dtype=np.float64)


@pytest.mark.parametrize(
    "case",
    ["tragedy-adv-risk", "nmatrix-moving-principal"],
)
def test_monte_carlo_returns_match_the_exact_dp(case: str) -> None:
    rng = np.random.default_rng(0)
    if case == "tragedy-adv-risk":
        setup = make_grid_game("tragedy-v0", width=3, episode_length=4)
        env = setup.env
        params = with_agent_types(env, setup.params, adv_q=0.5, risk_eta=0.2)
        tables = grid_tables.agent_type_tables(
            grid_tables.tragedy_tables(3), principal_weight=[-0.5, -0.5, 0], risk_eta=[0.2, 0.2, 0]
        )
    else:
        setup = make_grid_game("nmatrix-v0", width=3, agents=2, episode_length=4)
        env, params = setup.env, setup.params
        tables = grid_tables.released_code_nmatrix_tables(0, 3, 2)
    game = GridMarkovGame(tables, horizon=4, moves=env.moves)
    policies = rng.dirichlet(np.ones(game.num_actions), size=(game.num_movers, 4, game.num_states))
    exact = evaluate(game, policies).values
    returns = _rollouts(env, params, policies, 4096)
    mean = returns.mean(axis=0)
    # A 95% interval for all players together (Bonferroni over the players).
    z = float(norm.ppf(1 - 0.05 / (2 * len(exact))))
    half_width = z * returns.std(axis=0, ddof=1) / np.sqrt(len(returns))
    assert np.all(np.abs(mean - exact) <= half_width), (mean, exact, half_width)


def test_registry_and_validation_messages() -> None:
    with pytest.raises(ValueError, match="unknown grid game 'nope-v0'"):
        make_grid_game("nope-v0")
    with pytest.raises(ValueError, match=r"tragedy-v0: unknown parameter 'seed' \(allowed:"):
        make_grid_game("tragedy-v0:seed=1")
    with pytest.raises(ValueError, match="obs: expected one of"):
        make_grid_game("tragedy-v0", obs="pixels")
    with pytest.raises(ValueError, match="principal: expected one of frozen"):
        make_grid_game("nmatrix-fixed-v0", principal="mover")
    with pytest.raises(ValueError, match="payoffs: expected one of"):
        make_grid_game("nmatrix-v0", payoffs="uniform")
    with pytest.raises(ValueError, match="episode_length: expected an int >= 1"):
        make_grid_game("tragedy-v0", episode_length=0)
    tables = grid_tables.tragedy_tables()
    with pytest.raises(ValueError, match="payoffs: 2 agents with principal='mover' need 3"):
        GridGame(tables, principal="mover")
    env = GridGame(tables)
    assert tables.flags.writeable and not env.payoffs.flags.writeable  # a frozen copy
    with pytest.raises(ValueError, match="reward_scale: expected one number or 3"):
        env.make_params(reward_scale=[1.0, 1.0])
    with pytest.raises(ValueError, match="noise_width: must be >= 0"):
        env.make_params(noise_width=-1.0)
    with pytest.raises(ValueError, match=r"payoffs: expected shape \(3, 4, 4\)"):
        env.make_params(np.zeros((3, 3, 3)))
    jax_tables = make_grid_game("nmatrix-v0", payoffs="jax_normal", seed=1).params.payoffs
    assert jax_tables.shape == (4, 7, 7, 7, 7)


def test_tabular_actions_needs_a_row_per_mover() -> None:
    setup = make_grid_game("nmatrix-v0")
    env, params = setup.env, setup.params
    _, state = env.reset(jax.random.PRNGKey(0), params)
    cells = env.width**env.dims
    too_few = jnp.full((env.agents, 1, cells, 3), 1 / 3)  # the moving principal's row missing
    with pytest.raises(ValueError, match="policies: 3 rows for 4 acting movers"):
        tabular_actions(env, jax.random.PRNGKey(1), too_few, state)

"""The grid-sampling cell kind's yardsticks and the fresh deviation of the regret estimator."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.grid_presets import make_grid_game
from robustmas.equilibria.markov_exact import GridMarkovGame, regrets
from robustmas.experiments.grid_sampling import (
    GridSamplingSettings,
    distance_to_polyline,
    sampling_config,
    stage_frontier,
)
from robustmas.games.grid_tables import tragedy_tables
from robustmas.robust.adversarial_sampling import AdversarialSampler, cell_policies

T = 20


def test_tragedy_frontier_is_the_spec_line() -> None:
    frontier = stage_frontier(np.asarray(tragedy_tables(4)))
    e = np.arange(len(frontier)) * 0.005
    np.testing.assert_allclose(frontier[:, 0], 0.4 + 0.5 * e, atol=1e-6)
    np.testing.assert_allclose(frontier[:, 1], 1.0 - 2.5 * e, atol=1e-6)
    assert frontier[-1, 1] == pytest.approx(0.0, abs=1e-9)  # stops at the principal's floor


def test_distance_to_polyline() -> None:
    line = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert distance_to_polyline(np.array([0.5, 0.5]), line) == pytest.approx(0.0)
    assert distance_to_polyline(np.array([0.0, 0.0]), line) == pytest.approx(np.sqrt(0.5))
    assert distance_to_polyline(np.array([2.0, 0.0]), line) == pytest.approx(1.0)  # past an end
    assert distance_to_polyline(np.array([3.0, 4.0]), line[:1]) == pytest.approx(np.hypot(3, 3))


def test_settings_refuse_exact_scoring_without_cell_observations() -> None:
    with pytest.raises(ValueError, match="exact: exact scoring needs obs = 'cell'"):
        GridSamplingSettings(obs="scaled")
    with pytest.raises(ValueError, match="method: expected one of"):
        GridSamplingSettings(method="alg2")


@pytest.mark.slow  # CI time: trains a saturated profile and its deviations
def test_fresh_deviation_finds_the_regret_of_a_saturated_profile() -> None:
    """Agents that stay put with probability ~1 - 1e-8: PPO's clipped steps from that snapshot
    barely move (the estimate D6 describes misses the regret); from a fresh actor they do."""
    setup = make_grid_game(f"tragedy-v0:episode_length={T}")
    settings = GridSamplingSettings(horizon=T, deviation_updates=10, eval_episodes=256)
    config = sampling_config(settings)
    snapshot_only = AdversarialSampler(config, setup.env, setup.params)
    both = AdversarialSampler(
        dataclasses.replace(config, fresh_deviation=True), setup.env, setup.params
    )
    runner = snapshot_only.init(jax.random.PRNGKey(0), 0.0).runner
    actor = jax.tree_util.tree_map(jnp.zeros_like, runner.params.actor)
    head = actor["params"]["head"]
    head["bias"] = head["bias"].at[:, 0].set(20.0)  # action 0: stay
    runner = dataclasses.replace(runner, params=dataclasses.replace(runner.params, actor=actor))

    game = GridMarkovGame(tragedy_tables(4), horizon=T, moves=setup.env.moves)
    exact = regrets(game, cell_policies(snapshot_only, actor, T)).regrets
    assert np.all(exact > 2.0), exact  # staying put wastes a lot: the regret is large

    key = jax.random.PRNGKey(3)
    local = np.asarray(jax.jit(snapshot_only.estimate_regret)(runner, key).regret)
    fresh = jax.jit(both.estimate_regret)(runner, key)
    found = np.asarray(fresh.regret)
    assert np.all(local < 0.2 * exact), (local, exact)
    assert np.all(found > 0.6 * exact), (found, exact)
    assert np.all(found <= exact + 4 * np.asarray(fresh.regret_stderr) + 1e-6), (found, exact)


def test_rise_rounds_counts_the_rounds_to_90_percent_of_the_rise() -> None:
    from robustmas.experiments.grid_sampling import rise_rounds

    step = np.r_[np.zeros(10), np.ones(20)]
    assert rise_rounds(step, 1) == 11  # round 11 is the first at the final value
    assert rise_rounds(np.linspace(0.0, 1.0, 101), 1) == 91  # 0.9 first reached at index 90
    assert rise_rounds(np.ones(5), 2) == 5  # no rise: the full length
    assert rise_rounds(np.linspace(1.0, 0.0, 10), 3) == 10  # a fall is no rise
    # Smoothing over a window: the window ending at round 15 is the first all at the top.
    assert rise_rounds(step, 5) == 15

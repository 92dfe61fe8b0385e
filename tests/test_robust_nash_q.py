"""Robust value iteration and robust Nash Q-learning (ARNEQ in tabular Markov games)."""

from __future__ import annotations

import numpy as np
import pytest

from robustmas.equilibria import lp
from robustmas.equilibria.arneq import robust_best_response
from robustmas.equilibria.robust_markov import maxmin_value, robust_value_iteration
from robustmas.games.markov import TabularMarkovGame, random_markov_game
from robustmas.games.normal_form import NormalFormGame
from robustmas.robust.robust_nash_q import robust_nash_q


def test_maxmin_closed_form_equals_the_lp() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        m = rng.normal(size=(2, int(rng.integers(1, 7))))
        lp_value = robust_best_response(np.stack([m, -m]), 0, None, 1).value
        assert maxmin_value(m) == pytest.approx(lp_value, abs=1e-9)
    three = rng.normal(size=(3, 4))
    assert maxmin_value(three) == pytest.approx(
        robust_best_response(np.stack([three, -three]), 0, None, 1).value
    )


def test_two_players_k1_is_each_players_shapley_value() -> None:
    # With n = 2, k = 1 player i's robust value is the value of the zero-sum Markov game
    # "i against the other" on R_i (spec Sec. 1.4); Shapley's iteration with each stage value
    # from the existing CCE LP (every CCE of a zero-sum game pays the game's value).
    game = random_markov_game(3, (2, 3), gamma=0.6, seed=4)
    robust = robust_value_iteration(game, 1)
    assert robust.residual < 1e-9
    for i in range(2):
        v = np.zeros(3)
        for _ in range(80):
            new = []
            for s in range(3):
                q = game.rewards[s, i] + game.gamma * (game.transitions[s] @ v)
                row = q if i == 0 else q.T
                zero_sum = NormalFormGame(np.stack([row, -row]), principal_payoff=row)
                new.append(lp.worst_case_cce(zero_sum, 0.0).value)
            v = np.array(new)
        np.testing.assert_allclose(robust.values[:, i], v, atol=1e-8)


def test_value_iteration_is_a_fixed_point_and_validates_input() -> None:
    game = random_markov_game(4, (2, 2, 2), seed=2)
    res = robust_value_iteration(game, 2)
    assert res.residual < 1e-9 and res.stage_exploitability == 0.0
    # One more robust Bellman step, written out here: every player's max-min of its own
    # Q_i(s, .) against the two others, by the LP.
    for s in range(4):
        q = game.rewards[s] + game.gamma * np.moveaxis(game.transitions[s] @ res.values, -1, 0)
        for i in range(3):
            value = robust_best_response(q, i, None, 2).value
            assert value == pytest.approx(res.values[s, i], abs=1e-8)
    one = robust_value_iteration(game, 2, max_iter=1)  # one sweep from V = 0: the stage values
    for i in range(3):
        value = robust_best_response(game.rewards[0], i, None, 2).value
        assert one.iterations == 1 and one.values[0, i] == pytest.approx(value, abs=1e-9)
    with pytest.raises(ValueError, match="k: "):
        robust_value_iteration(game, 3)
    with pytest.raises(ValueError, match="transitions"):
        TabularMarkovGame(game.rewards, game.transitions[:, :, :, :, :2], 0.5)
    with pytest.raises(ValueError, match="gamma"):
        TabularMarkovGame(game.rewards, game.transitions, 1.0)


@pytest.mark.slow  # CI time: the k = n - 1 fixed-point tests stay in the default suite
def test_k_below_n_minus_1_uses_the_iterated_stage_solver() -> None:
    game = random_markov_game(2, (2, 2, 2), gamma=0.3, seed=5)
    res = robust_value_iteration(game, 1, max_iter=30)
    assert res.residual < 1e-6, res.residual
    assert res.stage_exploitability < 1e-3  # reported, not assumed 0
    exact = robust_value_iteration(game, 2)
    # Fewer corrupted players cannot hurt: k = 1 values are at least the k = 2 ones.
    assert np.all(res.values >= exact.values - 1e-3)


@pytest.mark.parametrize("players", [2, 3])
def test_robust_nash_q_approaches_value_iteration(players: int) -> None:
    game = random_markov_game(3, (2,) * players, seed=players)
    truth = robust_value_iteration(game, players - 1)
    errors: list[float] = []
    res = robust_nash_q(
        game, players - 1, 100_000, seed=1,
        progress=lambda t, v: errors.append(float(np.abs(v - truth.values).max())),
        every=20_000,
    )  # fmt: skip
    error = float(np.abs(res.values - truth.values).max())
    assert error < 1e-2, error
    assert errors[-1] < errors[0]  # it keeps improving
    assert res.visits.min() > 0 and res.visits.sum() == 100_000


@pytest.mark.slow
@pytest.mark.parametrize("players", [2, 3])
def test_robust_nash_q_reaches_the_fixed_point_within_1e_3(players: int) -> None:
    game = random_markov_game(3, (2,) * players, seed=players)
    truth = robust_value_iteration(game, players - 1)
    res = robust_nash_q(game, players - 1, 1_500_000, seed=1)
    assert float(np.abs(res.values - truth.values).max()) < 1e-3


def test_markov_registry_and_cli_give_robust_value_iteration() -> None:
    import json

    from typer.testing import CliRunner

    from robustmas.cli.app import app
    from robustmas.games.markov import MARKOV_REGISTRY

    game = MARKOV_REGISTRY.make("random-markov-v0:players=3,states=2,seed=4")
    assert game.num_actions == (2, 2, 2) and game.num_states == 2
    truth = robust_value_iteration(game, 2)
    runner = CliRunner()
    out = runner.invoke(
        app, ["arneq-markov", "random-markov-v0:players=3,states=2,seed=4", "--k", "2",
              "--steps", "20000", "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    np.testing.assert_allclose(data["values"], truth.values)
    # Robust Nash-Q on 20K transitions is already close (1e-3 needs ~1M: the slow tests).
    assert data["max_error"] < 0.05
    bad = runner.invoke(app, ["arneq-markov", "random-markov-v0:player=3", "--k", "1"])
    assert bad.exit_code != 0 and "players" in bad.output

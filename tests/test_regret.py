"""Tests for exact (NumPy) regrets, Nash gaps and epsilon handling."""

from __future__ import annotations

import re

import numpy as np
import pytest

from robustmas.equilibria.regret import (
    bayesian_cce_regrets,
    broadcast_epsilon,
    cce_regrets,
    check_joint,
    deviation_values,
    is_eps_cce,
    nash_gap,
    product_distribution,
)
from robustmas.games.bayesian import BayesianGame
from robustmas.games.normal_form import NormalFormGame

# Prisoner's dilemma, actions (C, D): temptation 5, reward 3, punishment 1, sucker 0.
T, R, P, S = 5.0, 3.0, 1.0, 0.0
PD_ROW = np.array([[R, S], [T, P]])
PD = NormalFormGame(np.stack([PD_ROW, PD_ROW.T]))

MP_ROW = np.array([[1.0, -1.0], [-1.0, 1.0]])
MATCHING_PENNIES = NormalFormGame(np.stack([MP_ROW, -MP_ROW]))


def _pure(shape: tuple[int, ...], index: tuple[int, ...]) -> np.ndarray:
    joint = np.zeros(shape)
    joint[index] = 1.0
    return joint


def test_prisoners_dilemma_pure_profiles():
    np.testing.assert_allclose(cce_regrets(PD, _pure((2, 2), (0, 0))), [T - R, T - R])
    np.testing.assert_allclose(cce_regrets(PD, _pure((2, 2), (1, 1))), [0.0, 0.0])
    # (C, D): the row player is the sucker and would rather defect; the column player is happy.
    np.testing.assert_allclose(cce_regrets(PD, _pure((2, 2), (0, 1))), [P - S, 0.0])


def test_cce_regret_can_be_negative_under_correlation():
    # Pure coordination: correlating on (A, A) and (B, B) beats every fixed deviation.
    u = np.eye(2)
    game = NormalFormGame(np.stack([u, u]))
    joint = np.diag([0.5, 0.5])
    np.testing.assert_allclose(cce_regrets(game, joint), [-0.5, -0.5])
    np.testing.assert_allclose(deviation_values(u, joint, 0), [0.5, 0.5])
    assert is_eps_cce(game, joint, 0.0)


def test_deviation_values_three_players():
    rng = np.random.default_rng(0)
    tensor = rng.normal(size=(2, 3, 2))
    joint = rng.dirichlet(np.ones(12)).reshape(2, 3, 2)
    dev = deviation_values(tensor, joint, 1)
    expected = [np.sum(tensor[:, j, :] * joint.sum(axis=1)) for j in range(3)]
    np.testing.assert_allclose(dev, expected, rtol=0, atol=1e-14)


def test_is_eps_cce_thresholds():
    cc = _pure((2, 2), (0, 0))
    assert is_eps_cce(PD, cc, 2.0)
    assert not is_eps_cce(PD, cc, 1.9)
    assert is_eps_cce(PD, cc, [2.0, 2.0])
    assert not is_eps_cce(PD, cc, [2.0, 1.0])
    assert is_eps_cce(PD, _pure((2, 2), (1, 1)))
    # The tolerance is absolute.
    assert is_eps_cce(PD, cc, 2.0 - 1e-10)
    assert not is_eps_cce(PD, cc, 2.0 - 1e-8)


def test_check_joint_rejects_bad_distributions():
    with pytest.raises(ValueError, match=re.escape("joint: expected shape (2, 2), got (4,)")):
        cce_regrets(PD, np.full(4, 0.25))
    with pytest.raises(ValueError, match=r"^joint: must be a probability distribution"):
        cce_regrets(PD, np.full((2, 2), 0.3))
    with pytest.raises(ValueError, match=r"^joint: must be a probability distribution"):
        check_joint(PD, np.array([[1.5, -0.5], [0.0, 0.0]]))
    out = check_joint(PD, np.array([[1, 0], [0, 0]]))
    assert out.dtype == np.float64


def test_nash_gap_matching_pennies():
    half = np.array([0.5, 0.5])
    np.testing.assert_allclose(nash_gap(MATCHING_PENNIES, [half, half]), [0.0, 0.0], atol=1e-15)
    heads = np.array([1.0, 0.0])
    # At (H, H) the matcher wins; the mismatcher gains 2 by switching to T.
    np.testing.assert_allclose(nash_gap(MATCHING_PENNIES, [heads, heads]), [0.0, 2.0])
    # Against a 3/4-heads opponent the best reply earns 1/2, and playing 1/2 earns 0.
    np.testing.assert_allclose(
        nash_gap(MATCHING_PENNIES, [half, np.array([0.75, 0.25])]), [0.5, 0.0]
    )


def test_nash_gap_equals_cce_regret_of_product():
    rng = np.random.default_rng(7)
    game = NormalFormGame(rng.uniform(size=(3, 2, 3, 2)))
    factors = [rng.dirichlet(np.ones(m)) for m in game.num_actions]
    np.testing.assert_allclose(
        nash_gap(game, factors),
        cce_regrets(game, product_distribution(factors)),
        rtol=0,
        atol=1e-13,
    )
    assert np.all(nash_gap(game, factors) >= 0)


def test_nash_gap_rejects_bad_factors():
    half = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match=r"^factors: expected 2 mixed strategies, got 1"):
        nash_gap(PD, [half])
    with pytest.raises(ValueError, match=re.escape("factors[1]: expected shape (2,), got (3,)")):
        nash_gap(PD, [half, np.full(3, 1 / 3)])


def test_product_distribution_shape_and_entries():
    factors = [np.array([0.5, 0.5]), np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.2, 0.3, 0.4])]
    joint = product_distribution(factors)
    assert joint.shape == (2, 3, 4)
    assert joint.sum() == pytest.approx(1.0, abs=1e-15)
    assert joint[1, 2, 3] == pytest.approx(0.5 * 0.5 * 0.4)
    np.testing.assert_allclose(joint.sum(axis=(0, 1)), factors[2])
    np.testing.assert_allclose(joint.sum(axis=(0, 2)), factors[1])
    assert product_distribution([np.array([0.25, 0.75])]).tolist() == [0.25, 0.75]


def _coordination_bayesian_game(prior: np.ndarray) -> BayesianGame:
    # Player 1 wants to match player 2's action whatever its type.
    match = np.eye(2)
    u1 = np.stack([match, match])  # (T_1, a_1, a_2)
    # Player 2 also wants to match (its type does not matter to it either).
    u2 = np.stack([match, match])  # (T_2, a_1, a_2)
    return BayesianGame((u1, u2), prior)


def _signal_strategy() -> np.ndarray:
    # sigma(a | t): player 1 always plays 0, player 2 plays its type.
    joint = np.zeros((2, 2, 2, 2))
    for t1 in range(2):
        for t2 in range(2):
            joint[t1, t2, 0, t2] = 1.0
    return joint


def test_bayesian_cce_regrets_hand_example():
    prior = np.array([[0.4, 0.1], [0.1, 0.4]])
    game = _coordination_bayesian_game(prior)
    regrets = bayesian_cce_regrets(game, _signal_strategy())
    # Player 1, type 0: P(t_2 = 0 | t_1 = 0) = 0.8, so playing 0 matches w.p. 0.8 (deviating to 1
    # matches w.p. 0.2): regret 0.  Type 1: P(t_2 = 1 | t_1 = 1) = 0.8, playing 0 earns 0.2,
    # deviating to 1 earns 0.8: regret 0.6.
    np.testing.assert_allclose(regrets[0], [0.0, 0.6], atol=1e-14)
    # Player 2 with type 0 plays 0 and always matches (regret 0); with type 1 it plays 1 against
    # player 1's 0 and would earn 1 by deviating to 0.
    np.testing.assert_allclose(regrets[1], [0.0, 1.0], atol=1e-14)


def test_bayesian_cce_regrets_zero_probability_type():
    prior = np.array([[0.5, 0.5], [0.0, 0.0]])
    game = _coordination_bayesian_game(prior)
    regrets = bayesian_cce_regrets(game, _signal_strategy())
    # Type 1 of player 1 never occurs: regret 0.  Type 0 sees t_2 uniform: on path 0.5, dev 0.5.
    np.testing.assert_allclose(regrets[0], [0.0, 0.0], atol=1e-14)
    np.testing.assert_allclose(regrets[1], [0.0, 1.0], atol=1e-14)


def test_bayesian_cce_regrets_single_type_matches_cce_regrets():
    rng = np.random.default_rng(11)
    payoffs = rng.uniform(size=(2, 3, 2))
    game = BayesianGame((payoffs[0][None], payoffs[1][None]), np.ones((1, 1)))
    joint = rng.dirichlet(np.ones(6)).reshape(3, 2)
    regrets = bayesian_cce_regrets(game, joint[None, None])
    expected = cce_regrets(NormalFormGame(payoffs), joint)
    np.testing.assert_allclose(np.concatenate(regrets), expected, rtol=0, atol=1e-14)


def test_bayesian_cce_regrets_rejects_wrong_shape():
    game = _coordination_bayesian_game(np.full((2, 2), 0.25))
    with pytest.raises(ValueError, match=re.escape("joint: expected shape (2, 2, 2, 2)")):
        bayesian_cce_regrets(game, np.full((2, 2), 0.25))


def test_broadcast_epsilon_values():
    np.testing.assert_array_equal(broadcast_epsilon(0.1, 3), [0.1, 0.1, 0.1])
    np.testing.assert_array_equal(broadcast_epsilon([0.1, 0.2], 2), [0.1, 0.2])
    np.testing.assert_array_equal(
        broadcast_epsilon(np.array([-1.0, 0.0]), 2, allow_negative=True), [-1.0, 0.0]
    )


@pytest.mark.parametrize(
    ("epsilon", "kwargs", "message"),
    [
        ([0.1, 0.2, 0.3], {}, "epsilon: give one number or one per agent (2), got 3 values"),
        ([0.1], {}, "epsilon: give one number or one per agent (2), got 1 values"),
        ([[0.1, 0.2]], {}, "epsilon: give one number or one per agent (2)"),
        (float("nan"), {}, "epsilon: must be finite"),
        ([0.1, float("inf")], {}, "epsilon: must be finite"),
        (-0.1, {}, "epsilon: must be non-negative"),
        ([0.0, -1e-9], {}, "epsilon: must be non-negative"),
        (float("nan"), {"allow_negative": True}, "epsilon: must be finite"),
    ],
)
def test_broadcast_epsilon_errors(epsilon, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        broadcast_epsilon(epsilon, 2, **kwargs)

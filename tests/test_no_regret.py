"""Tests for the JAX no-regret dynamics (Hedge, regret matching, Bayesian iterative Hedge)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.equilibria import no_regret as nr
from robustmas.equilibria.regret import bayesian_cce_regrets, cce_regrets
from robustmas.games.bayesian import BayesianGame
from robustmas.games.library import random_game, rock_paper_scissors
from robustmas.games.normal_form import NormalFormGame

# float32 accumulation of ~10^3-10^4 rounds: slack for comparisons with float64 NumPy.
F32_TOL = 2e-5


def _as_joint(joint) -> np.ndarray:
    """A float32 JAX joint as a float64 NumPy distribution (renormalised against rounding)."""
    j = np.asarray(joint, dtype=np.float64)
    return j / j.sum()


def _batch(players: int, actions: int, seeds) -> tuple[list[NormalFormGame], jax.Array]:
    games = [random_game(players, actions, seed=s, principal=False) for s in seeds]
    return games, jnp.stack([jnp.asarray(g.payoffs) for g in games])


def test_hedge_step_size_is_textbook_rate():
    step = nr.hedge_step_size(4, 1000, payoff_range=2.0)
    assert math.log1p(step) == pytest.approx(math.sqrt(8 * math.log(4) / 1000) / 2.0)
    assert nr.hedge_step_size(1, 10) == 0.0
    with pytest.raises(ValueError, match="num_rounds"):
        nr.hedge_step_size(3, 0)


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 2)])
def test_expected_hedge_matches_numpy_loop(shape):
    rng = np.random.default_rng(7)
    payoffs = rng.uniform(-1.0, 2.0, size=(len(shape), *shape))
    res = nr.hedge(payoffs, 200, 0.3)
    ref = nr.hedge_numpy(payoffs, 200, 0.3)
    np.testing.assert_allclose(np.asarray(res.joint), ref, atol=1e-5)
    game = NormalFormGame(payoffs)
    np.testing.assert_allclose(np.asarray(res.regrets), cce_regrets(game, ref), atol=F32_TOL)


def test_cce_regrets_jax_matches_numpy():
    rng = np.random.default_rng(3)
    game = random_game(3, 3, seed=5, principal=False)
    for _ in range(3):
        joint = rng.dirichlet(np.ones(27)).reshape(3, 3, 3)
        got = np.asarray(nr.cce_regrets_jax(game.payoffs, joint))
        np.testing.assert_allclose(got, cce_regrets(game, joint), atol=1e-5)


@pytest.mark.parametrize("players", [2, 3])
def test_expected_hedge_meets_regret_bound(players):
    # Payoffs in [0, 1], eta = log1p(step) = sqrt(8 ln m / T): the CCE regret of the averaged
    # product distribution equals the average external regret <= sqrt(ln m / (2 T)).
    m, rounds = 3, 1000
    step = nr.hedge_step_size(m, rounds)
    games, batch = _batch(players, m, range(4))
    res = jax.vmap(lambda p: nr.hedge(p, rounds, step))(batch)
    bound = math.sqrt(math.log(m) / (2 * rounds))
    for b, game in enumerate(games):
        reg = cce_regrets(game, _as_joint(res.joint[b]))
        assert np.all(reg <= bound + F32_TOL), (reg, bound)
        np.testing.assert_allclose(np.asarray(res.regrets[b]), reg, atol=F32_TOL)


@pytest.mark.parametrize("players", [2, 3])
def test_expected_regret_matching_meets_regret_bound(players):
    # Blackwell: ||R_T^+||_2 <= Delta sqrt(m T), so the average regret <= Delta sqrt(m / T),
    # Delta = max payoff - min payoff.
    m, rounds = 3, 1000
    games, batch = _batch(players, m, range(4))
    res = jax.vmap(lambda p: nr.regret_matching(p, rounds))(batch)
    for b, game in enumerate(games):
        delta = float(game.payoffs.max() - game.payoffs.min())
        bound = delta * math.sqrt(m / rounds)
        reg = cce_regrets(game, _as_joint(res.joint[b]))
        assert np.all(reg <= bound + F32_TOL), (reg, bound)
        np.testing.assert_allclose(np.asarray(res.regrets[b]), reg, atol=F32_TOL)
        # The final state is the cumulative regret vector: its max / T is the CCE regret.
        for i in range(players):
            assert float(res.logits[i][b].max()) / rounds == pytest.approx(reg[i], abs=1e-4)


@pytest.mark.parametrize("learner", ["hedge", "regret_matching"])
def test_sampled_mode_reproducible_and_low_regret(learner):
    def run(payoffs, key):
        if learner == "hedge":
            return nr.hedge(payoffs, 5000, 0.05, key=key)
        return nr.regret_matching(payoffs, 5000, key=key)

    game = random_game(2, 2, seed=11, principal=False)
    a = run(game.payoffs, jax.random.key(0))
    b = run(game.payoffs, jax.random.key(0))
    c = run(game.payoffs, jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(a.joint), np.asarray(b.joint))
    for x, y in zip(a.logits, b.logits, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(a.logits[0]), np.asarray(c.logits[0]))
    # Frequencies of 5000 sampled profiles: multiples of 1/5000.
    counts = np.asarray(a.joint, dtype=np.float64) * 5000
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-2)
    reg = cce_regrets(game, _as_joint(a.joint))
    assert np.all(reg <= 0.05), reg  # loose bound for a sampled 2x2 run of 5000 rounds
    np.testing.assert_allclose(np.asarray(a.regrets), reg, atol=F32_TOL)


def test_vmap_equals_one_by_one():
    games, batch = _batch(2, 3, range(8))
    key = jax.random.key(5)
    expected = jax.vmap(lambda p: nr.hedge(p, 300, 0.2))(batch)
    sampled = jax.vmap(lambda p: nr.hedge(p, 300, 0.2, key=key))(batch)
    for b, game in enumerate(games):
        one = nr.hedge(game.payoffs, 300, 0.2)
        np.testing.assert_allclose(np.asarray(expected.joint[b]), np.asarray(one.joint), atol=1e-6)
        np.testing.assert_allclose(
            np.asarray(expected.regrets[b]), np.asarray(one.regrets), atol=1e-6
        )
        one_s = nr.hedge(game.payoffs, 300, 0.2, key=key)
        np.testing.assert_allclose(np.asarray(sampled.joint[b]), np.asarray(one_s.joint), atol=1e-6)


def test_no_overflow_with_large_payoffs_and_steps():
    payoffs = np.random.default_rng(0).uniform(0.0, 100.0, size=(2, 4, 4))
    for res in (
        nr.hedge(payoffs, 5000, 0.5),
        nr.hedge(payoffs, 5000, 0.5, key=jax.random.key(0)),
        nr.regret_matching(payoffs, 5000),
    ):
        assert np.all(np.isfinite(np.asarray(res.joint)))
        assert all(np.all(np.isfinite(np.asarray(z))) for z in res.logits)
        assert np.all(np.isfinite(np.asarray(res.regrets)))
        assert float(res.joint.sum()) == pytest.approx(1.0, abs=1e-5)


def test_rock_paper_scissors_averages_to_uniform():
    # Start away from equilibrium (uniform would stay uniform trivially).  Payoff range 2, so
    # each player's average regret is <= 2 sqrt(ln 3 / 2T); in a zero-sum game the averaged
    # strategies are then near the unique equilibrium (1/3, 1/3, 1/3).
    game = rock_paper_scissors()
    rounds = 2000
    step = nr.hedge_step_size(3, rounds, payoff_range=2.0)
    res = nr.hedge(game.payoffs, rounds, step, init_logits=(jnp.array([2.0, 0, 0]), jnp.zeros(3)))
    joint = np.asarray(res.joint)
    for marginal in (joint.sum(axis=1), joint.sum(axis=0)):
        np.testing.assert_allclose(marginal, 1.0 / 3.0, atol=0.05)
    assert np.all(np.asarray(res.regrets) <= 2 * math.sqrt(math.log(3) / (2 * rounds)) + F32_TOL)


def test_bayesian_hedge_correlated_prior_reaches_bcce():
    rng = np.random.default_rng(0)
    game = BayesianGame(
        (rng.uniform(size=(2, 2, 2)), rng.uniform(size=(2, 2, 2))),
        np.array([[0.4, 0.1], [0.1, 0.4]]),
    )
    rounds = 20000
    # Each type is drawn about half the time: tune Hedge for ~T/2 updates per learner.
    step = nr.hedge_step_size(2, rounds // 2)
    res = nr.bayesian_hedge(game.payoffs, game.prior, rounds, step, jax.random.key(0))
    assert res.joint.shape == (2, 2, 2, 2)
    assert float(res.counts.sum()) == rounds
    np.testing.assert_allclose(np.asarray(res.counts) / rounds, game.prior, atol=0.02)
    joint = np.asarray(res.joint, dtype=np.float64)
    np.testing.assert_allclose(joint.sum(axis=(2, 3)), 1.0, atol=1e-5)
    ref = bayesian_cce_regrets(game, joint)
    for i in range(2):
        assert np.all(np.asarray(res.regrets[i]) <= 0.05), res.regrets  # eps-approximate B-CCE
        np.testing.assert_allclose(np.asarray(res.regrets[i]), ref[i], atol=1e-5)
        assert res.logits[i].shape == (2, 2)


def test_bayesian_regrets_match_numpy_with_unseen_types():
    # Three players with uneven type/action counts; player 3's second type has prior zero, so
    # its profiles are never drawn (uniform joint there) and its regret is zero.
    rng = np.random.default_rng(1)
    types, actions = (2, 3, 2), (2, 2, 3)
    prior = rng.uniform(size=types)
    prior[:, :, 1] = 0.0
    prior /= prior.sum()
    game = BayesianGame(tuple(rng.uniform(-1, 1, size=(t, *actions)) for t in types), prior)
    res = nr.bayesian_hedge(game.payoffs, game.prior, 300, 0.1, jax.random.key(2))
    joint = np.asarray(res.joint, dtype=np.float64)
    np.testing.assert_allclose(joint[:, :, 1], 1.0 / 12.0, atol=1e-7)
    assert np.all(np.asarray(res.counts)[:, :, 1] == 0)
    ref = bayesian_cce_regrets(game, joint)
    for i in range(3):
        np.testing.assert_allclose(np.asarray(res.regrets[i]), ref[i], atol=1e-5)
    assert float(res.regrets[2][1]) == 0.0


def test_input_validation():
    with pytest.raises(ValueError, match="payoffs"):
        nr.hedge(np.zeros((3, 2, 2)), 10, 0.1)
    with pytest.raises(ValueError, match="num_rounds"):
        nr.regret_matching(np.zeros((2, 2, 2)), 0)
    with pytest.raises(ValueError, match="init_logits"):
        nr.hedge(np.zeros((2, 2, 2)), 10, 0.1, init_logits=(jnp.zeros(3), jnp.zeros(2)))
    with pytest.raises(ValueError, match="prior"):
        nr.bayesian_hedge((np.zeros((2, 2, 2)),) * 2, np.ones(2) / 2, 10, 0.1, jax.random.key(0))

"""Tests for the exact LPs: extreme eps-CCE and Stackelberg commitments."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustmas.equilibria import lp
from robustmas.equilibria.no_regret import hedge, hedge_step_size
from robustmas.equilibria.regret import cce_regrets, product_distribution
from robustmas.games import library
from robustmas.games.normal_form import NormalFormGame

TOL = 1e-7

# ---------------------------------------------------------------------------------------------
# Known values
# ---------------------------------------------------------------------------------------------


def test_maintain_optimal_commitment():
    res = lp.optimal_commitment(library.maintain())
    assert res.status == "optimal"
    assert res.strategy is not None
    np.testing.assert_allclose(res.strategy, [0.25, 0.75, 0.0], rtol=0, atol=TOL)
    assert res.value == pytest.approx(27.5, abs=TOL)
    assert res.follower_action == 0


def test_maintain_best_pure_commitment():
    res = lp.best_pure_commitment(library.maintain())
    assert res.value == 20.0
    assert res.action == 0
    np.testing.assert_array_equal(res.values, [20.0, 10.0, 5.0])
    assert res.responses == ((0,), (1,), (2,))


def test_escape_optimal_commitment():
    res = lp.optimal_commitment(library.escape())
    assert res.status == "optimal"
    assert res.strategy is not None
    assert res.value == pytest.approx(30.0, abs=TOL)
    np.testing.assert_allclose(res.strategy, [0.0, 0.0, 1.0], rtol=0, atol=TOL)
    assert res.follower_action == 2


def test_commitment_needs_exactly_one_follower():
    game = library.matrix_design()
    assert not isinstance(game, NormalFormGame)
    with pytest.raises(ValueError, match=r"^game: commitments are defined for a leader and one"):
        lp.optimal_commitment(game)
    with pytest.raises(ValueError, match=r"^epsilon: "):
        lp.worst_case_pure_commitment(library.samuelson(), -1.0)


@pytest.mark.parametrize("eps", [1.0, 1.5, 5.0])
def test_samuelson_pure_robust_commitment_is_b(eps):
    res = lp.worst_case_pure_commitment(library.samuelson(), eps)
    assert res.action == 1
    assert res.value == 99.0
    # Under T the column may answer R (row gets 50).
    np.testing.assert_array_equal(res.values, [50.0, 99.0])
    assert res.responses[0] == (0, 1)


@pytest.mark.parametrize("eps", [0.0, 0.5, 0.99])
def test_samuelson_pure_robust_commitment_is_t(eps):
    res = lp.worst_case_pure_commitment(library.samuelson(), eps)
    assert res.action == 0
    assert res.value == 100.0
    assert res.responses[0] == (0,)


@pytest.mark.parametrize("eps", [0.0, 0.01, 0.3])
def test_samuelson_mixed_eps_cce_value_under_t(eps):
    # With a mixed eps-CCE the column may put weight w on R when T is played: its regret is w * 1,
    # so w <= eps and the row's worst case under T is 100 - 50 eps.  The robust action therefore
    # switches to B (worth 99) as soon as eps > 0.02, much earlier than the pure model's eps >= 1.
    res = lp.robust_principal_action(library.samuelson(), eps)
    under_t, under_b = res.per_action
    assert under_t.value == pytest.approx(100.0 - 50.0 * eps, abs=TOL)
    assert under_b.value == pytest.approx(99.0, abs=TOL)
    assert under_t.distribution is not None
    np.testing.assert_allclose(under_t.distribution, [1.0 - eps, eps], rtol=0, atol=TOL)
    assert res.action == (1 if eps == 0.3 else 0)
    assert res.value == pytest.approx(max(100.0 - 50.0 * eps, 99.0), abs=TOL)


def test_rock_paper_scissors_cce_value_is_game_value():
    rps = library.rock_paper_scissors()
    game = rps.with_principal(rps.payoffs[0])
    for sense in ("worst", "best"):
        res = lp.extreme_cce(game, 0.0, sense)
        assert res.status == "optimal"
        assert res.distribution is not None
        assert res.value == pytest.approx(0.0, abs=TOL)
        np.testing.assert_allclose(res.distribution.sum(axis=1), np.full(3, 1 / 3), atol=TOL)
        np.testing.assert_allclose(res.distribution.sum(axis=0), np.full(3, 1 / 3), atol=TOL)


def test_welfare_objective_without_principal():
    # Prisoner's dilemma: the only CCE is (D, D), so worst = best = welfare 2.
    row = np.array([[3.0, 0.0], [5.0, 1.0]])
    game = NormalFormGame(np.stack([row, row.T]))
    for sense in ("worst", "best"):
        res = lp.extreme_cce(game, 0.0, sense)
        assert res.value == pytest.approx(2.0, abs=TOL)
        assert res.distribution is not None
        assert res.distribution[1, 1] == pytest.approx(1.0, abs=TOL)
    # With eps = 2 both players may cooperate: best welfare 6 at (C, C).
    assert lp.best_case_cce(game, 2.0).value == pytest.approx(6.0, abs=TOL)
    assert lp.worst_case_cce(game, 2.0).value == pytest.approx(2.0, abs=TOL)


def test_extreme_cce_rejects_bad_arguments():
    game = library.random_game(2, 2, seed=0)
    with pytest.raises(ValueError, match=r"^sense: "):
        lp.extreme_cce(game, 0.0, "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^epsilon: "):
        lp.extreme_cce(game, [0.1, 0.2, 0.3])


def test_negative_epsilon_is_reported_infeasible():
    game = library.random_game(2, 3, seed=4)  # payoffs in [0, 1]: regrets are > -1
    res = lp.worst_case_cce(game, -1.0)
    assert res.status == "infeasible"
    assert not res.ok
    assert res.distribution is None
    assert res.regrets is None
    assert np.isnan(res.value)
    np.testing.assert_array_equal(res.epsilon, [-1.0, -1.0])
    # Only one agent held to a negative slack is just as infeasible.
    assert lp.best_case_cce(game, [0.5, -1.0]).status == "infeasible"


def test_cce_constraints_match_loop_formula():
    rng = np.random.default_rng(2)
    game = NormalFormGame(rng.integers(-5, 6, size=(2, 2, 3)).astype(float))
    d = lp.cce_constraints(game).toarray()
    shape = game.num_actions
    assert d.shape == (sum(shape), int(np.prod(shape)))
    expected = np.zeros_like(d)
    offsets = np.cumsum((0, *shape))
    for i, m in enumerate(shape):
        for j in range(m):
            for a in itertools.product(*(range(k) for k in shape)):
                dev = list(a)
                dev[i] = j
                col = np.ravel_multi_index(a, shape)
                expected[offsets[i] + j, col] = game.payoffs[i][tuple(dev)] - game.payoffs[i][a]
    np.testing.assert_array_equal(d, expected)
    # D @ vec(x) are the per-deviation gains; their per-player max is the CCE regret.
    x = rng.dirichlet(np.ones(6))
    gains = d @ x
    regrets = [gains[offsets[i] : offsets[i + 1]].max() for i in range(2)]
    np.testing.assert_allclose(regrets, cce_regrets(game, x.reshape(shape)), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Property tests on random games
# ---------------------------------------------------------------------------------------------

game_params = st.tuples(
    st.integers(0, 10_000),  # seed
    st.integers(2, 3),  # players
    st.integers(2, 3),  # actions
)
epsilons = st.floats(0.0, 0.5, allow_nan=False, allow_infinity=False)
PROPERTY = settings(max_examples=25, deadline=None)


def _game(params: tuple[int, int, int]) -> NormalFormGame:
    seed, players, actions = params
    return library.random_game(players, actions, seed=seed)


def _value(game: NormalFormGame, joint: np.ndarray) -> float:
    return float(np.sum(game.objective() * joint))


def _solve(game: NormalFormGame, eps, sense: lp.Sense = "worst") -> lp.CCEResult:
    res = lp.extreme_cce(game, eps, sense)
    assert res.status == "optimal", res.message
    assert res.distribution is not None
    return res


@PROPERTY
@given(params=game_params, eps=epsilons)
def test_lp_solutions_are_eps_cce(params, eps):
    game = _game(params)
    worst = _solve(game, eps, "worst")
    best = _solve(game, eps, "best")
    for res in (worst, best):
        x = res.distribution
        assert x is not None
        assert x.shape == game.num_actions
        assert np.all(x >= 0)
        assert x.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(cce_regrets(game, x) <= eps + TOL)
        assert res.value == pytest.approx(_value(game, x), abs=1e-12)
        assert res.regrets is not None
        np.testing.assert_allclose(res.regrets, cce_regrets(game, x), atol=1e-12)
    assert worst.value <= best.value + 1e-9


@PROPERTY
@given(params=game_params, eps1=epsilons, eps2=epsilons)
def test_lp_values_are_monotone_in_eps(params, eps1, eps2):
    game = _game(params)
    lo, hi = sorted((eps1, eps2))
    assert _solve(game, hi, "worst").value <= _solve(game, lo, "worst").value + 1e-9
    assert _solve(game, hi, "best").value >= _solve(game, lo, "best").value - 1e-9


@PROPERTY
@given(params=game_params, eps1=epsilons, eps2=epsilons, weight=st.floats(0.0, 1.0))
def test_mixtures_of_lp_solutions_are_no_worse(params, eps1, eps2, weight):
    game = _game(params)
    lo, hi = sorted((eps1, eps2))
    worst_lo, worst_hi = _solve(game, lo, "worst"), _solve(game, hi, "worst")
    best_lo = _solve(game, lo, "best")
    assert worst_lo.distribution is not None
    assert worst_hi.distribution is not None
    assert best_lo.distribution is not None
    for other in (worst_lo.distribution, best_lo.distribution):
        mixture = weight * other + (1.0 - weight) * worst_hi.distribution
        # Regret is convex in the joint distribution, so the mixture is a hi-CCE ...
        assert np.all(cce_regrets(game, mixture) <= hi + TOL)
        # ... and cannot beat the worst case at hi.
        assert _value(game, mixture) >= worst_hi.value - TOL


def _pure_nash_equilibria(game: NormalFormGame) -> list[tuple[int, ...]]:
    out = []
    for a in itertools.product(*(range(m) for m in game.num_actions)):
        stable = True
        for i, m in enumerate(game.num_actions):
            for j in range(m):
                dev = (*a[:i], j, *a[i + 1 :])
                stable &= bool(game.payoffs[i][dev] <= game.payoffs[i][a])
        if stable:
            out.append(a)
    return out


@PROPERTY
@given(params=game_params)
def test_pure_nash_equilibria_are_no_worse_than_lp(params):
    game = _game(params)
    worst = _solve(game, 0.0, "worst")
    best = _solve(game, 0.0, "best")
    for a in _pure_nash_equilibria(game):
        joint = np.zeros(game.num_actions)
        joint[a] = 1.0
        np.testing.assert_array_equal(cce_regrets(game, joint) <= 0.0, True)
        assert worst.value - TOL <= game.objective()[a] <= best.value + TOL


@PROPERTY
@given(params=game_params)
def test_hedge_outcomes_are_no_worse_than_lp(params):
    game = _game(params)
    steps = 2000
    step = hedge_step_size(max(game.num_actions), steps)
    res = hedge(game.payoffs, steps, step)
    empirical = np.asarray(res.joint, dtype=np.float64)
    empirical /= empirical.sum()
    final = product_distribution(
        [np.exp(np.asarray(z, np.float64) - np.max(np.asarray(z, np.float64))) for z in res.logits]
    )
    final /= final.sum()
    for joint in (empirical, final):
        regrets = cce_regrets(game, joint)
        # The joint is feasible for its own regrets as slack: per agent, and their maximum.
        for eps in (regrets, float(regrets.max())):
            worst = _solve(game, eps, "worst")
            best = _solve(game, eps, "best")
            assert worst.value - TOL <= _value(game, joint) <= best.value + TOL
            assert worst.regrets is not None
            assert np.all(worst.regrets <= eps + TOL)


@PROPERTY
@given(
    params=game_params,
    eps=st.lists(st.floats(0.0, 0.5), min_size=3, max_size=3),
)
def test_vector_epsilon(params, eps):
    game = _game(params)
    eps_vec = np.array(eps[: game.num_players])
    worst = _solve(game, eps_vec, "worst")
    assert worst.distribution is not None
    np.testing.assert_array_equal(worst.epsilon, eps_vec)
    assert np.all(cce_regrets(game, worst.distribution) <= eps_vec + TOL)
    # Per-agent slack sits between the scalar slacks of its smallest and largest entries.
    assert _solve(game, float(eps_vec.max())).value <= worst.value + 1e-9
    assert worst.value <= _solve(game, float(eps_vec.min())).value + 1e-9
    # A vector of equal entries is the scalar problem.
    same = _solve(game, np.full(game.num_players, eps_vec[0]))
    assert same.value == pytest.approx(_solve(game, float(eps_vec[0])).value, abs=1e-9)


def test_result_type_is_shared_and_keeps_infeasible_apart_from_solutions():
    from robustmas.equilibria.result import CCEResult, CCEStatus

    assert lp.CCEResult is CCEResult  # the old import path still works
    game = library.random_game(2, 3, seed=4)
    res = lp.worst_case_cce(game, -1.0)
    assert res.status is CCEStatus.INFEASIBLE and res.status == "infeasible" and not res.ok
    ok = lp.worst_case_cce(game, 0.0)
    assert ok.status is CCEStatus.OPTIMAL and ok.ok and ok.details is None
    eps = np.zeros(2)
    # A status given as a string is normalised; an unknown one is refused.
    assert CCEResult("failed", float("nan"), None, None, eps, "worst").status is CCEStatus.FAILED
    with pytest.raises(ValueError, match="status"):
        CCEResult("status_7", float("nan"), None, None, eps, "worst")
    # A result that is not optimal cannot carry a distribution, regrets or a value...
    with pytest.raises(ValueError, match="infeasible"):
        CCEResult("infeasible", 0.0, None, None, eps, "worst")
    with pytest.raises(ValueError, match="infeasible"):
        CCEResult("infeasible", float("nan"), ok.distribution, None, eps, "worst")
    # ...and an optimal one needs regrets and a finite value.
    with pytest.raises(ValueError, match="optimal"):
        CCEResult("optimal", float("nan"), ok.distribution, ok.regrets, eps, "worst")
    with pytest.raises(ValueError, match="optimal"):
        CCEResult("optimal", 1.0, ok.distribution, None, eps, "worst")


def test_robust_action_without_any_eps_cce_is_no_choice():
    res = lp.robust_principal_action(library.samuelson(), -10.0)
    assert all(r.status == "infeasible" for r in res.per_action)
    assert res.action is None and not res.ok and np.isnan(res.value)
    assert lp.robust_principal_action(library.samuelson(), 0.1).ok

"""Algorithm 2 (Blackwell approachability) against the exact LP."""

import numpy as np
import pytest

from robustmas.equilibria import lp
from robustmas.equilibria.approachability import (
    ApproachabilityConfig,
    ApproachabilityDetails,
    ProductMixture,
    extreme_cce,
    mixture_values,
)
from robustmas.equilibria.regret import cce_regrets
from robustmas.equilibria.result import CCEResult
from robustmas.games import library


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_congestion_meets_corollary_1(seed: int, eps: float) -> None:
    """Corollary 1: nu(x) >= 0.4 max_{eps-CCE} nu - tolerance in linear congestion games.

    nu = -u_0 = total cost (worst case for a principal whose payoff is minus total cost).
    """
    game = library.random_congestion_game(players=3, resources=4, strategies=3, seed=seed)
    cfg = ApproachabilityConfig()
    res = extreme_cce(game, eps, "worst", cfg)
    assert res.status == "optimal" and res.method == "approachability"
    assert res.regrets is not None and res.details.mixture is not None
    # The result is a genuine eps-CCE, checked on the enumerated game (not with the sampler's code).
    dense = game.to_normal_form()
    joint = res.details.mixture.dense()
    assert res.distribution is not None
    np.testing.assert_allclose(res.distribution, joint)
    assert np.all(cce_regrets(dense, joint) <= eps + 1e-9)
    assert np.allclose(cce_regrets(dense, joint), res.regrets)
    assert res.value == pytest.approx(float(np.sum(dense.objective() * joint)))
    exact = lp.worst_case_cce(dense, eps)
    nu, nu_opt = -res.value, -exact.value
    tol = cfg.tolerance * game.payoff_bound()
    assert nu >= 0.4 * nu_opt - tol
    # Never better than the exact optimum: the LP is the true extreme over all eps-CCE.
    assert nu <= nu_opt + 1e-7


def test_best_case_on_congestion_is_bounded_by_lp() -> None:
    game = library.random_congestion_game(players=3, resources=4, strategies=2, seed=4)
    res = extreme_cce(game, 0.1, "best")
    exact = lp.best_case_cce(game.to_normal_form(), 0.1)
    assert res.ok and res.regrets is not None
    assert np.all(res.regrets <= 0.1 + 1e-9)
    assert res.value <= exact.value + 1e-7


@pytest.mark.parametrize("seed", [0, 1])
def test_random_games_side_by_side_with_lp(seed: int) -> None:
    """On non-smooth random games there is no ratio guarantee; the LP still bounds the sampler."""
    game = library.random_game(players=3, actions=3, seed=seed)
    cfg = ApproachabilityConfig(outer_iterations=100, bisection_steps=6)
    res = extreme_cce(game, 0.1, "worst", cfg)
    exact = lp.worst_case_cce(game, 0.1)
    assert res.ok and res.regrets is not None
    assert np.all(res.regrets <= 0.1 + 1e-9)
    assert exact.value <= res.value + 1e-9


def test_mixture_values_match_dense() -> None:
    game = library.random_game(players=3, actions=2, seed=3)
    rng = np.random.default_rng(0)
    mix = ProductMixture(
        rng.dirichlet(np.ones(4)), tuple(rng.dirichlet(np.ones(2), size=4) for _ in range(3))
    )
    vals = mixture_values(game, mix)
    joint = mix.dense()
    assert joint.sum() == pytest.approx(1.0)
    assert np.allclose(vals.regrets, cce_regrets(game, joint))
    assert vals.principal == pytest.approx(float(np.sum(game.objective() * joint)))


def test_rejects_bad_input() -> None:
    game = library.random_game(players=2, actions=2, seed=0)
    with pytest.raises(ValueError, match="epsilon"):
        extreme_cce(game, 0.0)
    with pytest.raises(ValueError, match="sense"):
        extreme_cce(game, 0.1, "middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance"):
        ApproachabilityConfig(tolerance=0.0)


def test_failure_is_a_result_without_distribution() -> None:
    """No target approached (one Blackwell step, a tolerance the oracle cannot meet): "failed"."""
    game = library.random_game(players=3, actions=3, seed=0)
    cfg = ApproachabilityConfig(outer_iterations=1, inner_rounds=1, tolerance=1e-6)
    res = extreme_cce(game, 0.01, "worst", cfg)
    assert isinstance(res, CCEResult) and isinstance(res.details, ApproachabilityDetails)
    assert res.status == "failed" and not res.ok
    assert res.distribution is None and res.regrets is None and np.isnan(res.value)
    assert res.details.mixture is None and res.details.history == ((res.details.target, False),)

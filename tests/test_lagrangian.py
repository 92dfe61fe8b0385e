"""Algorithm 1 (decoupled Lagrangian sampling) with an eps sweep."""

import itertools

import numpy as np
import pytest

from robustmas.equilibria import lp
from robustmas.equilibria.lagrangian import (
    LagrangianConfig,
    extreme_cce,
    extreme_cce_sweep,
)
from robustmas.games import NormalFormGame, library


def _two_followers() -> NormalFormGame:
    """Two followers who each lose 0.1 by defecting; each defection costs the principal 0.5.

    Worst-case eps-CCE: each defects with probability eps / 0.1, so the exact value is
    1 - 10 eps for eps <= 0.1 (the LP confirms it below).
    """
    u = np.zeros((2, 2, 2))
    u[0] = [[1.0, 1.0], [0.9, 0.9]]
    u[1] = [[1.0, 0.9], [1.0, 0.9]]
    return NormalFormGame(u, np.array([[1.0, 0.5], [0.5, 0.0]]))


CASES = [
    ("samuelson-T", library.samuelson().fixed(0), [0.1, 0.25, 0.5, 0.75]),
    ("two-followers", _two_followers(), [0.01, 0.02, 0.05, 0.08]),
]


@pytest.mark.parametrize(("name", "game", "epsilons"), CASES, ids=[c[0] for c in CASES])
def test_sweep_settles_at_eps_and_reaches_lp(name, game, epsilons) -> None:
    results = extreme_cce_sweep(game, epsilons)
    scale = game.payoff_bound()
    values = []
    for eps, res in zip(epsilons, results, strict=True):
        exact = lp.worst_case_cce(game, eps)
        # The budget binds here, so regret settles at eps (within 1% of the payoff scale)...
        assert np.all(np.abs(res.regrets - eps) <= 0.01 * scale), (eps, res.regrets)
        # ...and the principal's value is the LP's worst case (within 1% of the payoff scale).
        assert abs(res.value - exact.value) <= 0.01 * scale, (eps, res.value, exact.value)
        values.append(res.value)
    # Larger budgets can only hurt the principal.
    assert all(b <= a + 1e-6 * scale for a, b in itertools.pairwise(values))


def test_exact_values_of_the_test_games() -> None:
    for eps in (0.01, 0.05):
        assert lp.worst_case_cce(_two_followers(), eps).value == pytest.approx(1 - 10 * eps)
        assert lp.worst_case_cce(library.samuelson().fixed(0), eps).value == pytest.approx(
            100 - 50 * eps
        )


@pytest.mark.parametrize("seed", [0, 1])
def test_random_games_complementary_slackness(seed: int) -> None:
    """On random games: Reg_i <= eps_i + tol and lambda_i > 0 only where the budget binds."""
    game = library.random_game(players=2, actions=3, seed=seed)
    epsilons = [0.02, 0.05, 0.1]
    for eps, res in zip(epsilons, extreme_cce_sweep(game, epsilons), strict=True):
        assert np.all(res.regrets <= eps + 0.01)
        binding = np.abs(res.regrets - eps) <= 0.01
        assert np.all(binding | (res.details.multipliers <= 0.5)), (
            res.regrets,
            res.details.multipliers,
        )
        # The LP's worst case is a lower bound up to the regret tolerance.
        assert res.value >= lp.worst_case_cce(game, eps + 0.01).value - 1e-6


def test_single_run_matches_sweep_and_is_deterministic() -> None:
    game = _two_followers()
    cfg = LagrangianConfig(outer_iterations=100)
    a = extreme_cce(game, 0.05, config=cfg)
    b = extreme_cce(game, 0.05, config=cfg)
    (c,) = extreme_cce_sweep(game, [0.05], config=cfg)
    assert a.distribution is not None and b.distribution is not None
    np.testing.assert_array_equal(a.distribution, b.distribution)
    assert c.distribution is not None
    np.testing.assert_allclose(a.distribution, c.distribution, atol=1e-5)
    assert a.details.trace.values.shape == (100,)
    assert a.details.trace.multipliers.shape == (100, 2)
    assert a.status == "optimal" and a.ok and a.method == "lagrangian"


def test_best_case_is_above_worst_case() -> None:
    game = library.random_game(players=2, actions=3, seed=3)
    worst = extreme_cce(game, 0.05, "worst").value
    best = extreme_cce(game, 0.05, "best").value
    assert best >= worst
    assert best <= lp.best_case_cce(game, 0.06).value + 1e-6


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="multiplier_lr"):
        LagrangianConfig(multiplier_lr=0.0)
    with pytest.raises(ValueError, match="average_last"):
        LagrangianConfig(average_last=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        extreme_cce(_two_followers(), [0.1, 0.1, 0.1])

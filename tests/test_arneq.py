"""Stage-game ARNEQ: robust best responses by LP against brute force and exact yardsticks."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from robustmas.cli.app import app
from robustmas.equilibria import lp
from robustmas.equilibria.arneq import (
    robust_best_response,
    robust_exploitability,
    robust_value,
    stage_arneq,
)
from robustmas.games.normal_form import NormalFormGame


def _game(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(len(shape), *shape))


def _brute_phi(payoffs: np.ndarray, i: int, pi: list[np.ndarray], k: int, sizes: range) -> float:
    """min over subsets K (sizes given) and pure a_K, by enumerating every joint action."""
    n = payoffs.shape[0]
    others = [j for j in range(n) if j != i]
    worst = np.inf
    for size in sizes:
        for subset in itertools.combinations(others, size):
            ranges = [range(payoffs.shape[1 + j]) for j in subset]
            for a_k in itertools.product(*ranges):
                total = 0.0
                for a in itertools.product(*(range(m) for m in payoffs.shape[1:])):
                    if any(a[j] != b for j, b in zip(subset, a_k, strict=True)):
                        continue
                    p = pi[i][a[i]]
                    for j in range(n):
                        if j != i and j not in subset:
                            p *= pi[j][a[j]]
                    total += p * payoffs[i][a]
                worst = min(worst, total)
    return worst


@pytest.mark.parametrize(("shape", "k"), [((3, 2, 4), 1), ((2, 3, 2, 2), 2), ((3, 3, 3), 2)])
def test_robust_best_response_equals_brute_force(shape: tuple[int, ...], k: int) -> None:
    payoffs = _game(sum(shape) + k, shape)
    rng = np.random.default_rng(1)
    pi = [rng.dirichlet(np.ones(m)) for m in shape]
    for i in range(len(shape)):
        br = robust_best_response(payoffs, i, pi, k, "exact")
        mine = [*pi[:i], br.strategy, *pi[i + 1 :]]
        exact = _brute_phi(payoffs, i, mine, k, range(k, k + 1))
        assert br.value == pytest.approx(exact, abs=1e-9)
        assert robust_value(payoffs, i, mine, k) == pytest.approx(exact, abs=1e-9)
        # No other strategy does better (random and pure strategies, brute force).
        candidates = [*rng.dirichlet(np.ones(shape[i]), size=30), *np.eye(shape[i])]
        for x in candidates:
            other = _brute_phi(payoffs, i, [*pi[:i], x, *pi[i + 1 :]], k, range(k, k + 1))
            assert other <= br.value + 1e-9
        # The reported worst subset and pure adversary action attain the value.
        assert len(br.subset) == k and i not in br.subset
        forced = list(mine)
        for j, a in zip(br.subset, br.adversary_action, strict=True):
            forced[j] = np.eye(shape[j])[a]
        assert _brute_phi(payoffs, i, forced, 0, range(0, 1)) == pytest.approx(br.value, abs=1e-9)


def test_at_most_k_subsets_give_the_same_value() -> None:
    payoffs = _game(7, (3, 3, 3, 2))
    rng = np.random.default_rng(2)
    pi = [rng.dirichlet(np.ones(m)) for m in payoffs.shape[1:]]
    for k in (1, 2, 3):
        for i in range(4):
            exact = robust_best_response(payoffs, i, pi, k, "exact").value
            at_most = robust_best_response(payoffs, i, pi, k, "at_most").value
            assert exact == pytest.approx(at_most, abs=1e-9)
            brute = _brute_phi(
                payoffs, i, [*pi[:i], robust_best_response(payoffs, i, pi, k).strategy,
                             *pi[i + 1:]], k, range(1, k + 1),
            )  # fmt: skip
            assert brute == pytest.approx(exact, abs=1e-9)


def test_two_players_k1_is_the_zero_sum_value_of_the_existing_lp() -> None:
    # For a two-player zero-sum game every CCE pays the row player the game's value, so the
    # worst-case CCE LP of (Q, -Q) with the row payoff as objective is the max-min value.
    payoffs = _game(3, (4, 5))
    res = stage_arneq(payoffs, 1)
    assert res.method == "decoupled" and res.converged and res.exploitability < 1e-9
    for i, q in enumerate((payoffs[0], payoffs[1].T)):
        game = NormalFormGame(np.stack([q, -q]), principal_payoff=q)
        value = lp.worst_case_cce(game, 0.0).value
        assert res.values[i] == pytest.approx(value, abs=1e-7)


def test_k0_is_an_ordinary_best_response() -> None:
    payoffs = _game(5, (3, 4, 2))
    rng = np.random.default_rng(0)
    pi = [rng.dirichlet(np.ones(m)) for m in payoffs.shape[1:]]
    br = robust_best_response(payoffs, 0, pi, 0)
    expected = np.einsum("abc,b,c->a", payoffs[0], pi[1], pi[2])
    assert br.value == pytest.approx(expected.max(), abs=1e-9)
    assert br.subset == ()


def test_iterated_solver_reports_a_true_exploitability() -> None:
    payoffs = _game(11, (3, 3, 3))
    res = stage_arneq(payoffs, 1, max_iter=60)
    assert res.method == "iterated" and res.iterations >= 1
    gap, gains = robust_exploitability(payoffs, list(res.strategies), 1)
    assert res.exploitability == pytest.approx(gap, abs=1e-9) and gains.shape == (3,)
    assert 0 <= res.exploitability < 0.05, res.exploitability  # from the uniform start's
    start, _ = robust_exploitability(payoffs, [np.full(3, 1 / 3)] * 3, 1)
    assert res.exploitability < start
    for i in range(3):
        assert res.values[i] == pytest.approx(robust_value(payoffs, i, list(res.strategies), 1))


def test_bad_input_names_the_field() -> None:
    payoffs = _game(0, (2, 2, 2))
    with pytest.raises(ValueError, match="k: "):
        stage_arneq(payoffs, 3)
    with pytest.raises(ValueError, match="decoupled"):
        stage_arneq(payoffs, 1, method="decoupled")
    with pytest.raises(ValueError, match="payoffs"):
        stage_arneq(payoffs[0, 0], 1)
    with pytest.raises(ValueError, match=r"strategies\[1\]"):
        robust_value(payoffs, 0, [np.ones(2) / 2, np.ones(3) / 3, np.ones(2) / 2], 1)


def test_cli_json() -> None:
    result = CliRunner().invoke(app, ["arneq", "random-v0:players=3,actions=2,seed=4", "--k", "2",
                                      "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) >= {"strategies", "values", "exploitability"}
    assert len(out["strategies"]) == 3 and all(abs(sum(x) - 1) < 1e-9 for x in out["strategies"])
    assert out["exploitability"] < 1e-7
    bad = CliRunner().invoke(app, ["arneq", "random-v0:players=3,actions=2,seed=4", "--k", "3"])
    assert bad.exit_code == 2 and "--k" in bad.output

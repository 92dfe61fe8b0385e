"""Tests for the game containers (validation, induced games, congestion) and the registry."""

from __future__ import annotations

import re

import numpy as np
import pytest

from robustmas.games import library
from robustmas.games.bayesian import BayesianGame
from robustmas.games.congestion import LinearCongestionGame
from robustmas.games.limits import (
    MAX_PAYOFF_ENTRIES,
    GameTooLargeError,
    check_dense_size,
    check_num_players,
)
from robustmas.games.normal_form import NormalFormGame, PrincipalGame

# ---------------------------------------------------------------------------------------------
# NormalFormGame
# ---------------------------------------------------------------------------------------------


def test_normal_form_basic_properties_and_freezing():
    payoffs = np.arange(12.0).reshape(2, 2, 3)
    welfare = payoffs.sum(axis=0)
    g = NormalFormGame(payoffs, principal_payoff=np.ones((2, 3)))
    assert g.num_players == 2
    assert g.num_actions == (2, 3)
    assert g.num_joint_actions == 6
    assert g.players == ("Player 1", "Player 2")
    assert g.actions == (("1", "2"), ("1", "2", "3"))
    assert g.has_principal
    np.testing.assert_array_equal(g.objective(), np.ones((2, 3)))
    assert g.payoff_bound() == 11.0
    # Stored arrays are private read-only copies.
    payoffs[0, 0, 0] = 99.0
    assert g.payoffs[0, 0, 0] == 0.0
    with pytest.raises(ValueError):
        g.payoffs[0, 0, 0] = 1.0
    # Without a principal the objective is the followers' welfare.
    h = g.with_principal(None)
    assert not h.has_principal
    np.testing.assert_array_equal(h.objective(), welfare)


@pytest.mark.parametrize(
    "payoffs",
    [
        np.zeros(3),  # no player axis
        np.zeros((2, 2)),  # 2 players need 3 axes
        np.zeros((1, 2, 2)),  # 1 player needs 2 axes
        np.zeros((3, 2, 2)),  # 3 players need 4 axes
    ],
)
def test_normal_form_rejects_wrong_shapes(payoffs):
    with pytest.raises(ValueError, match=r"^payoffs: "):
        NormalFormGame(payoffs)


def test_normal_form_rejects_empty_action_set():
    with pytest.raises(ValueError, match=r"^payoffs: every player needs at least one action"):
        NormalFormGame(np.zeros((2, 2, 0)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_normal_form_rejects_non_finite_payoffs(bad):
    payoffs = np.zeros((2, 2, 2))
    payoffs[1, 0, 1] = bad
    with pytest.raises(ValueError, match=re.escape("payoffs: payoffs must be finite numbers")):
        NormalFormGame(payoffs)
    principal = np.zeros((2, 2))
    principal[1, 1] = bad
    with pytest.raises(ValueError, match=r"^principal_payoff: payoffs must be finite"):
        NormalFormGame(np.zeros((2, 2, 2)), principal)


def test_normal_form_rejects_principal_shape_mismatch():
    with pytest.raises(ValueError, match=re.escape("principal_payoff: expected shape (2, 3)")):
        NormalFormGame(np.zeros((2, 2, 3)), np.zeros((3, 2)))


def test_normal_form_rejects_bad_names():
    with pytest.raises(ValueError, match=r"^players: expected 2 names, got 1"):
        NormalFormGame(np.zeros((2, 2, 2)), players=("only",))
    with pytest.raises(ValueError, match=r"^actions: expected names for 2 players"):
        NormalFormGame(np.zeros((2, 2, 2)), actions=(("a", "b"),))
    with pytest.raises(ValueError, match=re.escape("actions[1]: expected 2 action names, got 3")):
        NormalFormGame(np.zeros((2, 2, 2)), actions=(("a", "b"), ("x", "y", "z")))


def test_normal_form_deviation_payoffs_match_joint_expectation():
    rng = np.random.default_rng(3)
    g = NormalFormGame(rng.uniform(size=(3, 2, 3, 2)), rng.uniform(size=(2, 3, 2)))
    factors = [rng.dirichlet(np.ones(m)) for m in g.num_actions]
    own, prin = g.deviation_payoffs(factors)
    for i in range(3):
        for j in range(g.num_actions[i]):
            fixed = [f.copy() for f in factors]
            fixed[i] = np.eye(g.num_actions[i])[j]
            joint = np.einsum("a,b,c->abc", *fixed)
            assert own[i][j] == pytest.approx(np.sum(g.payoffs[i] * joint), abs=1e-12)
            assert prin[i][j] == pytest.approx(np.sum(g.objective() * joint), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# PrincipalGame
# ---------------------------------------------------------------------------------------------


def _principal_game(seed: int = 0) -> PrincipalGame:
    rng = np.random.default_rng(seed)
    return PrincipalGame(rng.normal(size=(3, 2, 4)), rng.normal(size=(2, 3, 2, 4)))


def test_principal_game_properties():
    g = _principal_game()
    assert g.num_players == 2
    assert g.num_principal_actions == 3
    assert g.num_actions == (2, 4)
    assert g.principal_actions == ("1", "2", "3")


def test_principal_game_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=re.escape("payoffs: expected shape (2, 3, 2, 4)")):
        PrincipalGame(np.zeros((3, 2, 4)), np.zeros((2, 2, 3, 4)))
    with pytest.raises(ValueError, match=re.escape("payoffs: expected shape (1, 3, 2)")):
        PrincipalGame(np.zeros((3, 2)), np.zeros((2, 3, 2)))
    with pytest.raises(ValueError, match=r"^principal_payoff: expected shape"):
        PrincipalGame(np.zeros(3), np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"^principal_payoff: every player needs"):
        PrincipalGame(np.zeros((0, 2)), np.zeros((1, 0, 2)))
    with pytest.raises(ValueError, match=r"^principal_actions: expected 3 names"):
        PrincipalGame(np.zeros((3, 2)), np.zeros((1, 3, 2)), principal_actions=("a",))
    with pytest.raises(ValueError, match=r"^payoffs: payoffs must be finite"):
        PrincipalGame(np.zeros((3, 2)), np.full((1, 3, 2), np.nan))


def test_principal_game_induced_equals_tensordot():
    g = _principal_game(1)
    x0 = np.array([0.2, 0.5, 0.3])
    induced = g.induced(x0)
    assert isinstance(induced, NormalFormGame)
    expected_payoffs = np.einsum("k,ikab->iab", x0, g.payoffs)
    expected_principal = np.einsum("k,kab->ab", x0, g.principal_payoff)
    np.testing.assert_allclose(induced.payoffs, expected_payoffs, rtol=0, atol=1e-14)
    assert induced.principal_payoff is not None
    np.testing.assert_allclose(induced.principal_payoff, expected_principal, rtol=0, atol=1e-14)
    # A pure strategy selects one slice exactly.
    fixed = g.fixed(2)
    np.testing.assert_array_equal(fixed.payoffs, g.payoffs[:, 2])
    np.testing.assert_array_equal(fixed.principal_payoff, g.principal_payoff[2])


@pytest.mark.parametrize(
    ("x0", "message"),
    [
        ([1.5, -0.5, 0.0], "x0 (principal strategy): probabilities must be non-negative"),
        ([0.5, 0.2, 0.2], "x0 (principal strategy): probabilities must sum to 1"),
        ([0.5, 0.5], "x0 (principal strategy): expected 3 probabilities"),
        ([0.25, 0.25, 0.25, 0.25], "x0 (principal strategy): expected 3 probabilities"),
        ([np.nan, 0.5, 0.5], "x0 (principal strategy): probabilities must be finite"),
        ([], "x0 (principal strategy): must not be empty"),
    ],
)
def test_principal_game_induced_rejects_bad_strategy(x0, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _principal_game().induced(x0)


def test_principal_game_fixed_rejects_out_of_range_action():
    with pytest.raises(ValueError, match=r"^a0: "):
        _principal_game().fixed(3)
    with pytest.raises(ValueError, match=r"^a0: "):
        _principal_game().fixed(-1)


def test_bimatrix_builds_one_follower_game():
    g = PrincipalGame.bimatrix([[1, 2], [3, 4]], [[5, 6], [7, 8]], leader_actions=("U", "D"))
    assert g.num_players == 1
    assert g.principal_actions == ("U", "D")
    assert g.principal_name == "Leader"
    np.testing.assert_array_equal(g.payoffs[0], [[5, 6], [7, 8]])
    with pytest.raises(ValueError, match=r"^bimatrix: "):
        PrincipalGame.bimatrix([[1, 2]], [[1], [2]])


# ---------------------------------------------------------------------------------------------
# BayesianGame
# ---------------------------------------------------------------------------------------------


def _bayesian_payoffs() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((2, 2, 3)), np.zeros((3, 2, 3))


def test_bayesian_game_properties_and_conditional_prior():
    prior = np.array([[0.1, 0.2, 0.1], [0.0, 0.0, 0.0]])
    prior[0] /= prior[0].sum()
    g = BayesianGame(_bayesian_payoffs(), prior)
    assert g.num_players == 2
    assert g.num_types == (2, 3)
    assert g.num_actions == (2, 3)
    cond = g.conditional_prior(0)
    np.testing.assert_allclose(cond, [[0.25, 0.5, 0.25], [0.0, 0.0, 0.0]])
    cond1 = g.conditional_prior(1)
    np.testing.assert_allclose(cond1, [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])


def test_bayesian_game_rejects_negative_prior():
    with pytest.raises(ValueError, match=r"^prior: probabilities must be non-negative"):
        BayesianGame(_bayesian_payoffs(), np.array([[0.5, 0.5, 0.5], [0.0, -0.5, 0.0]]))


def test_bayesian_game_rejects_prior_not_summing_to_one():
    with pytest.raises(ValueError, match=r"^prior: probabilities must sum to 1"):
        BayesianGame(_bayesian_payoffs(), np.full((2, 3), 0.1))


def test_bayesian_game_rejects_type_count_mismatch():
    with pytest.raises(ValueError, match=re.escape("payoffs[1]: 3 types on axis 0 but the prior")):
        BayesianGame(_bayesian_payoffs(), np.full((2, 2), 0.25))
    with pytest.raises(ValueError, match=r"^prior: expected one axis per player"):
        BayesianGame(_bayesian_payoffs(), np.full(6, 1 / 6))


def test_bayesian_game_rejects_other_bad_inputs():
    with pytest.raises(ValueError, match=r"^payoffs: "):
        BayesianGame((), np.ones(1))
    with pytest.raises(ValueError, match=re.escape("payoffs[1]: joint-action axes")):
        BayesianGame((np.zeros((2, 2, 3)), np.zeros((3, 2, 2))), np.full((2, 3), 1 / 6))
    bad = np.zeros((2, 2, 3))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=re.escape("payoffs[0]: payoffs must be finite")):
        BayesianGame((bad, np.zeros((3, 2, 3))), np.full((2, 3), 1 / 6))


# ---------------------------------------------------------------------------------------------
# LinearCongestionGame
# ---------------------------------------------------------------------------------------------


def test_congestion_rejects_non_binary_strategies():
    with pytest.raises(ValueError, match=re.escape("strategies[1]: entries must be 0 or 1")):
        LinearCongestionGame((np.eye(2), np.array([[1.0, 0.5]])), np.ones(2), np.zeros(2))


def test_congestion_rejects_negative_costs():
    with pytest.raises(ValueError, match=r"^slopes/offsets: .*non-negative"):
        LinearCongestionGame((np.eye(2),), np.array([1.0, -0.1]), np.zeros(2))
    with pytest.raises(ValueError, match=r"^slopes/offsets: .*non-negative"):
        LinearCongestionGame((np.eye(2),), np.ones(2), np.array([0.0, -1.0]))


def test_congestion_rejects_empty_strategies():
    with pytest.raises(ValueError, match=r"^strategies: need at least one player"):
        LinearCongestionGame((), np.ones(2), np.zeros(2))
    with pytest.raises(ValueError, match=re.escape("strategies[0]: empty action set")):
        LinearCongestionGame((np.zeros((0, 2)),), np.ones(2), np.zeros(2))


def test_congestion_rejects_shape_errors():
    with pytest.raises(ValueError, match=r"^slopes: "):
        LinearCongestionGame((np.eye(2),), np.ones((2, 1)), np.zeros(2))
    with pytest.raises(ValueError, match=r"^offsets: "):
        LinearCongestionGame((np.eye(2),), np.ones(2), np.zeros(3))
    with pytest.raises(ValueError, match=re.escape("strategies[0]: expected shape (m_1, 2)")):
        LinearCongestionGame((np.eye(3),), np.ones(2), np.zeros(2))


def test_congestion_to_normal_form_hand_example():
    # Two players, two parallel links: link 0 costs l, link 1 costs 2 (constant).
    game = LinearCongestionGame((np.eye(2), np.eye(2)), np.array([1.0, 0.0]), np.array([0.0, 2.0]))
    nf = game.to_normal_form()
    np.testing.assert_array_equal(nf.payoffs[0], [[-2.0, -1.0], [-2.0, -2.0]])
    np.testing.assert_array_equal(nf.payoffs[1], [[-2.0, -2.0], [-1.0, -2.0]])
    np.testing.assert_array_equal(nf.principal_payoff, [[-4.0, -3.0], [-3.0, -4.0]])
    with pytest.raises(ValueError, match=r"^to_normal_form: 4 joint actions exceed"):
        game.to_normal_form(max_joint_actions=3)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_congestion_succinct_deviation_payoffs_match_enumeration(seed):
    game = library.random_congestion_game(players=3, resources=4, strategies=3, seed=seed)
    nf = game.to_normal_form()
    rng = np.random.default_rng(100 + seed)
    for _ in range(3):
        factors = [rng.dirichlet(np.ones(m)) for m in game.num_actions]
        own, prin = game.deviation_payoffs(factors)
        own_nf, prin_nf = nf.deviation_payoffs(factors)
        for i in range(game.num_players):
            np.testing.assert_allclose(own[i], own_nf[i], rtol=0, atol=1e-12)
            np.testing.assert_allclose(prin[i], prin_nf[i], rtol=0, atol=1e-12)
    # The payoff scale bounds every enumerated payoff (own and total cost per player).
    bound = game.payoff_bound()
    assert np.abs(nf.payoffs).max() <= bound + 1e-12
    assert np.abs(nf.objective()).max() / game.num_players <= bound + 1e-12


# ---------------------------------------------------------------------------------------------
# Library and registry
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("game_id", sorted(library.REGISTRY))
def test_every_registered_game_builds(game_id):
    game = library.make(game_id)
    assert isinstance(game, NormalFormGame | PrincipalGame | LinearCongestionGame)
    assert game.num_players >= 1
    assert library.REGISTRY[game_id].id == game_id


def test_make_random_game_is_deterministic():
    a = library.make("random-v0:players=3,actions=2,seed=5")
    b = library.make("random-v0:players=3,actions=2,seed=5")
    c = library.make("random-v0:players=3,actions=2,seed=6")
    assert isinstance(a, NormalFormGame)
    assert isinstance(b, NormalFormGame)
    assert isinstance(c, NormalFormGame)
    assert a.payoffs.shape == (3, 2, 2, 2)
    np.testing.assert_array_equal(a.payoffs, b.payoffs)
    np.testing.assert_array_equal(a.objective(), b.objective())
    assert not np.array_equal(a.payoffs, c.payoffs)
    # Keyword parameters and the compact form agree; keywords override the string.
    d = library.make("random-v0", players=3, actions=2, seed=5)
    e = library.make("random-v0:players=3,actions=2,seed=6", seed=5)
    assert isinstance(d, NormalFormGame)
    assert isinstance(e, NormalFormGame)
    np.testing.assert_array_equal(a.payoffs, d.payoffs)
    np.testing.assert_array_equal(a.payoffs, e.payoffs)
    f = library.make("random-v0:principal=false")
    assert isinstance(f, NormalFormGame)
    assert not f.has_principal


def test_parse_spec_types():
    assert library.parse_spec("random-v0: players=4 , seed=2,principal=yes") == (
        "random-v0",
        {"players": 4, "seed": 2, "principal": True},
    )
    assert library.parse_spec("maintain-v0") == ("maintain-v0", {})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no-such-game-v0", "unknown game id 'no-such-game-v0'"),
        ("random", "unknown game id 'random'"),
        ("random-v0:colour=red", "random-v0: unknown parameter 'colour'"),
        ("maintain-v0:seed=1", "maintain-v0: unknown parameter 'seed' (allowed: none)"),
        ("random-v0:players", "random-v0: parameter 'players' must look like key=value"),
        ("random-v0:players=two", "players: expected int, got 'two'"),
        ("random-v0:principal=maybe", "principal: expected true/false, got 'maybe'"),
    ],
)
def test_parse_spec_errors(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        library.make(spec)


def test_make_rejects_unknown_keyword():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "random-v0: unknown parameter 'colour' (allowed: players, actions, seed, principal)"
        ),
    ):
        library.make("random-v0", colour="red")


def test_factory_parameter_errors():
    with pytest.raises(ValueError, match=r"^players/actions: "):
        library.random_game(players=0)
    with pytest.raises(ValueError, match=r"^tau: "):
        library.matrix_design(tau=-1)
    with pytest.raises(ValueError, match=r"^max_tau: "):
        library.matrix_design(max_tau=-1)
    with pytest.raises(ValueError, match=r"^players/resources/strategies: "):
        library.random_congestion_game(resources=0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("random-v0:players=40", r"^players/actions: .*3\*\*40 = about 1\.22e19 joint actions"),
        ("random-v0:players=2,actions=100000", r"10,000,000,000 joint actions asked for"),
        ("random-v0:players=64,actions=1", r"64 players asked for, but a dense game has at most"),
        ("matrix-design-v0:max_tau=100000000", r"^max_tau: .*use a smaller max_tau$"),
        ("congestion-v0:strategies=100000000", r"^players/resources/strategies: .*entries"),
    ],
)
def test_too_large_games_fail_before_allocating(spec: str, message: str) -> None:
    with pytest.raises(GameTooLargeError, match=message) as info:
        library.make(spec)
    assert isinstance(info.value, ValueError)  # the CLI reports ValueError as exit status 2


def test_dense_size_limit_is_inclusive() -> None:
    assert MAX_PAYOFF_ENTRIES == 2**26
    check_dense_size("x", (2**24,), 4)  # exactly at the limit
    with pytest.raises(GameTooLargeError, match=r"^x: 16,777,217 joint actions"):
        check_dense_size("x", (2**24 + 1,), 4)
    check_num_players("x", 63)
    with pytest.raises(GameTooLargeError, match=r"^x: 64 players"):
        check_num_players("x", 64)
    game = library.make("congestion-v0:players=2")
    assert isinstance(game, LinearCongestionGame)
    with pytest.raises(GameTooLargeError, match=r"^to_normal_form: 9 joint actions exceed"):
        game.to_normal_form(max_joint_actions=8)


def test_cli_reports_a_too_large_game_as_one_line_and_status_2() -> None:
    from typer.testing import CliRunner

    from robustmas.cli import app

    result = CliRunner().invoke(app, ["games", "show", "random-v0:players=40"])
    assert result.exit_code == 2
    assert "joint actions asked for" in result.output
    assert "array is too big" not in result.output


def _is_dominant(u: np.ndarray, action: int, strict: bool) -> bool:
    """Whether row ``action`` of ``u`` (own action on axis 0) dominates every other row."""
    others = np.delete(u, action, axis=0)
    return bool(np.all(u[action] > others) if strict else np.all(u[action] >= others))


def test_matrix_design_dominance():
    # Row player: own action on axis 0; column player: own action on axis 1.
    def row_col(tau: int) -> tuple[np.ndarray, np.ndarray]:
        g = library.matrix_design(tau=tau)
        assert isinstance(g, NormalFormGame)
        return g.payoffs[0], g.payoffs[1].T

    row, col = row_col(4)
    np.testing.assert_array_equal(row, [[7.0, 6.0], [4.0, 2.0]])
    np.testing.assert_array_equal(col.T, [[3.0, 4.0], [6.0, 6.0]])
    assert _is_dominant(row, 0, strict=True)  # A for the row player
    # At tau = 4 the column player's B is only weakly dominant (tie 6 = 2 + tau against row B).
    assert _is_dominant(col, 1, strict=False)
    assert not _is_dominant(col, 1, strict=True)
    row, col = row_col(5)
    assert _is_dominant(row, 0, strict=True)
    assert _is_dominant(col, 1, strict=True)
    # Without payment nobody has a dominant action.
    row, col = row_col(0)
    for u in (row, col):
        assert not any(_is_dominant(u, a, strict=False) for a in range(2))
    g = library.matrix_design(tau=4)
    assert isinstance(g, NormalFormGame)
    np.testing.assert_array_equal(g.principal_payoff, [[0.0, 1.0], [1.0, 0.0]])
    assert g.actions == (("A", "B"), ("A", "B"))


def test_matrix_design_principal_game_slices_match_fixed_tau():
    g = library.matrix_design(max_tau=6)
    assert isinstance(g, PrincipalGame)
    assert g.num_principal_actions == 7
    assert g.principal_actions[4] == "tau=4"
    for tau in (0, 4, 6):
        fixed = library.matrix_design(tau=tau)
        assert isinstance(fixed, NormalFormGame)
        np.testing.assert_array_equal(g.fixed(tau).payoffs, fixed.payoffs)
        np.testing.assert_array_equal(g.fixed(tau).principal_payoff, fixed.principal_payoff)


def test_named_games_payoffs():
    s = library.samuelson()
    np.testing.assert_array_equal(s.principal_payoff, [[100.0, 50.0], [99.0, 99.0]])
    np.testing.assert_array_equal(s.payoffs[0], [[100.0, 99.0], [100.0, 99.0]])
    assert s.principal_actions == ("T", "B")
    assert s.actions == (("L", "R"),)
    m = library.maintain()
    assert m.principal_actions == ("A", "B", "C")
    rps = library.rock_paper_scissors()
    np.testing.assert_array_equal(rps.payoffs[0], -rps.payoffs[1])
    np.testing.assert_array_equal(rps.payoffs[0], -rps.payoffs[0].T)

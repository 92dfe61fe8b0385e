"""Exact oracles of the grid Markov games: DP values, best responses, regrets, stage LP.

Known values first: brute-force enumeration of every trajectory and of every deterministic
policy on tiny games, the tragedy game's dominant-strategy equilibrium (regret 0) and its stage
game's worst-case eps-CCE line ``max(0, 1 - 2.5 eps)`` (spec Sec. 1.1).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from robustmas.equilibria.markov_exact import (
    GridMarkovGame,
    OfficerPlanner,
    best_response,
    best_response_dynamics,
    cell_chain,
    deterministic_policy,
    evaluate,
    regrets,
    stage_robust_principal,
    stage_worst_case_cce,
    uniform_policies,
)
from robustmas.games.grid_tables import (
    agent_type_tables,
    grid_principal_stage_game,
    grid_stage_game,
    released_code_bimatrix_tables,
    released_code_nmatrix_tables,
    risk_transform,
    tragedy_tables,
    tragedy_worst_case_value,
)


def _random_policies(rng: np.random.Generator, game: GridMarkovGame) -> np.ndarray:
    shape = (game.num_movers, game.horizon, game.num_states, game.num_actions)
    return rng.dirichlet(np.ones(game.num_actions), size=shape[:-1])


def _brute_force_values(game: GridMarkovGame, policies: np.ndarray) -> np.ndarray:
    """Expected returns by enumerating every initial cell and joint action sequence."""
    w, d, horizon = game.width, game.num_movers, game.horizon
    moves = np.array(game.moves)
    total = np.zeros(game.num_players)
    initial = game.initial_distribution
    joint_actions = list(itertools.product(range(game.num_actions), repeat=d))
    for start in range(game.num_states):
        for sequence in itertools.product(joint_actions, repeat=horizon):
            cell = np.array(np.unravel_index(start, (w,) * d))
            prob, ret = initial[start], np.zeros(game.num_players)
            for t, joint in enumerate(sequence):
                s = int(np.ravel_multi_index(tuple(cell), (w,) * d))
                prob *= np.prod([policies[k, t, s, joint[k]] for k in range(d)])
                cell = np.clip(cell + moves[list(joint)], 0, w - 1)
                ret += game.discount**t * game.rewards[(slice(None), *cell)]
            total += prob * ret
    return total


def test_dp_values_equal_trajectory_enumeration() -> None:
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(3, 2, 2))  # two movers on a 2x2 grid and a passive principal
    initial = rng.dirichlet(np.ones(4)).reshape(2, 2)
    for discount in (1.0, 0.7):
        game = GridMarkovGame(rewards, horizon=3, initial=initial, discount=discount)
        policies = _random_policies(rng, game)
        np.testing.assert_allclose(
            evaluate(game, policies).values, _brute_force_values(game, policies), atol=1e-12
        )


def test_dp_values_three_movers_two_moves() -> None:
    rng = np.random.default_rng(1)
    game = GridMarkovGame(rng.uniform(size=(3, 2, 2, 2)), horizon=2, moves=(1, -1))
    policies = _random_policies(rng, game)
    np.testing.assert_allclose(
        evaluate(game, policies).values, _brute_force_values(game, policies), atol=1e-12
    )


@pytest.mark.parametrize(
    ("shape", "horizon", "discount"),
    [((3, 3, 3), 4, 1.0), ((4, 3, 3, 3), 6, 0.9), ((4, 4, 4, 4), 5, 1.0)],
    ids=["2-movers", "3-movers-and-a-payee-discounted", "4-movers"],
)
def test_stationary_fast_path_equals_the_repeated_policies(
    shape: tuple[int, ...], horizon: int, discount: float
) -> None:
    """Stationary policies take the sparse-matrix path; repeating them over time takes the
    general one: same values, value functions and best responses."""
    rng = np.random.default_rng(2)
    game = GridMarkovGame(rng.uniform(size=shape), horizon=horizon, discount=discount)
    d, cells = game.num_movers, game.num_states
    stationary = rng.dirichlet(np.ones(game.num_actions), size=(d, cells))
    repeated = np.broadcast_to(stationary[:, None], (d, horizon, cells, game.num_actions))
    fast, slow = evaluate(game, stationary), evaluate(game, repeated)
    np.testing.assert_allclose(fast.values, slow.values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.state_values, slow.state_values, atol=1e-12)
    for k in range(d):
        a, b = best_response(game, stationary, k), best_response(game, repeated, k)
        np.testing.assert_allclose(a.value, b.value, rtol=1e-12)
        np.testing.assert_allclose(a.state_values, b.state_values, atol=1e-12)
        assert a.value >= fast.values[k] - 1e-12


@pytest.mark.parametrize(
    ("shape", "horizon", "player"),
    [((3, 2, 2), 2, 0), ((3, 2, 2), 2, 1), ((3, 2, 2, 2), 1, 2)],
    ids=["2-movers-player-0", "2-movers-player-1", "3-movers-player-2"],
)
def test_best_response_equals_brute_force_over_deterministic_policies(
    shape: tuple[int, ...], horizon: int, player: int
) -> None:
    rng = np.random.default_rng(3)
    game = GridMarkovGame(rng.normal(size=shape), horizon=horizon)
    policies = _random_policies(rng, game)
    br = best_response(game, policies, player)
    s, a = game.num_states, game.num_actions
    best = -np.inf
    for flat in itertools.product(range(a), repeat=horizon * s):  # 3**8 = 6561 policies
        trial = policies.copy()
        trial[player] = deterministic_policy(np.array(flat).reshape(horizon, s), a)
        best = max(best, evaluate(game, trial).values[player])
    assert br.value == pytest.approx(best, abs=1e-12)
    # The returned policy attains the value.
    trial = policies.copy()
    trial[player] = br.policy
    assert evaluate(game, trial).values[player] == pytest.approx(br.value, abs=1e-12)


def test_best_response_beats_random_policies() -> None:
    rng = np.random.default_rng(4)
    game = GridMarkovGame(rng.normal(size=(4, 3, 3, 3)), horizon=4)
    policies = _random_policies(rng, game)
    for player in range(3):
        br = best_response(game, policies, player).value
        for _ in range(20):
            trial = policies.copy()
            trial[player] = _random_policies(rng, game)[player]
            assert evaluate(game, trial).values[player] <= br + 1e-12
    report = regrets(game, policies)
    assert np.all(report.regrets >= -1e-12)
    assert report.values.shape == (4,) and report.regrets.shape == (3,)


@pytest.mark.parametrize("moves", [(0, 1, -1), (1, -1)], ids=["stay-up-down", "up-down"])
def test_tragedy_dominant_strategy_equilibrium_has_zero_regret(moves: tuple[int, ...]) -> None:
    tables = tragedy_tables()
    game = GridMarkovGame(tables, horizon=6, moves=moves)
    up = moves.index(1)
    policies = deterministic_policy(np.full((2, 6, 16), up), len(moves))
    report = regrets(game, policies)
    np.testing.assert_allclose(report.regrets, 0.0, atol=1e-9)
    # Starting anywhere, both agents reach the corner (3, 3): principal reward 1 from step 3 on.
    assert report.values[2] > 0.5 * 6
    # Anything else (here: uniform play) leaves the agents regret.
    assert np.all(regrets(game, uniform_policies(game)).regrets > 0.1)


def test_tragedy_stage_game_has_the_unique_pure_equilibrium_at_the_corner() -> None:
    game = grid_stage_game(tragedy_tables())
    equilibria = [
        (i, j)
        for i, j in itertools.product(range(4), repeat=2)
        if game.payoffs[0][i, j] >= game.payoffs[0][:, j].max()
        and game.payoffs[1][i, j] >= game.payoffs[1][i, :].max()
    ]
    assert equilibria == [(3, 3)]
    assert game.payoffs[:, 3, 3] == pytest.approx([0.4, 0.4])
    assert game.principal_payoff is not None and game.principal_payoff[3, 3] == 1.0
    assert np.all((tragedy_tables() >= 0) & (tragedy_tables() <= 1))


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0])
def test_tragedy_stage_lp_worst_case_line(eps: float) -> None:
    result = stage_worst_case_cce(tragedy_tables(), eps)
    assert result.ok
    assert result.value == pytest.approx(max(0.0, 1.0 - 2.5 * eps), abs=1e-9)
    assert result.value == pytest.approx(tragedy_worst_case_value(eps), abs=1e-9)
    assert result.regrets is not None and np.all(result.regrets <= eps + 1e-9)
    if eps <= 0.4:  # the line (0.4, 1) -> (0.6, 0) of RP Fig. 2: agent reward 0.4 + 0.5 eps
        assert result.distribution is not None
        agent = float(np.sum(result.distribution * grid_stage_game(tragedy_tables()).payoffs[0]))
        assert agent == pytest.approx(0.4 + 0.5 * eps, abs=1e-9)
        np.testing.assert_allclose(result.regrets, eps, atol=1e-9)


def test_nmatrix_stage_yardstick() -> None:
    """Spec Sec. 1.2: 7 worst-case LPs (343 joint actions each), the best principal coordinate."""
    tables = released_code_nmatrix_tables()
    previous = np.inf
    for eps in (0.0, 0.5, 2.0):
        result = stage_robust_principal(tables, eps)
        assert result.ok and len(result.per_action) == 7
        assert all(
            r.regrets is not None and np.all(r.regrets <= eps + 1e-7) for r in result.per_action
        )
        assert result.value == max(r.value for r in result.per_action)
        assert result.value <= previous + 1e-9  # more slack, a worse worst case
        previous = result.value


def test_released_code_tables_reproduce_the_numpy_stream() -> None:
    tables = released_code_bimatrix_tables()
    # The released code seeds NumPy's legacy generator with 0 and draws the principal's table,
    # then agent 1's, then agent 2's: one stream of 48 uniforms.
    stream = np.random.RandomState(0).uniform(size=(3, 4, 4))
    np.testing.assert_array_equal(tables, stream[[1, 2, 0]])
    assert tables[-1, 0, 0] == 0.5488135039273248  # RandomState(0)'s first uniforms
    assert tables[-1, 0, 1] == 0.7151893663724195
    game = grid_stage_game(tables)
    pure_ne = [
        (i, j)
        for i, j in itertools.product(range(4), repeat=2)
        if game.payoffs[0][i, j] >= game.payoffs[0][:, j].max()
        and game.payoffs[1][i, j] >= game.payoffs[1][i, :].max()
    ]
    assert pure_ne == []  # spec D1: not the designed game
    assert tables[-1].mean() == pytest.approx(0.57, abs=0.01)


def test_released_code_nmatrix_tables() -> None:
    tables = released_code_nmatrix_tables()
    assert tables.shape == (4, 7, 7, 7, 7)
    # One stream of standard normals, principal first, then agents 1..3.
    stream = np.random.RandomState(0).normal(size=(4, 7, 7, 7, 7))
    np.testing.assert_array_equal(tables, stream[[1, 2, 3, 0]])
    assert tables[-1, 0, 0, 0, 0] == 1.764052345967664  # RandomState(0)'s first normal
    stage = grid_principal_stage_game(tables)
    assert stage.num_principal_actions == 7 and stage.num_actions == (7, 7, 7)
    np.testing.assert_array_equal(stage.principal_payoff[2], tables[-1][..., 2])
    np.testing.assert_array_equal(stage.payoffs[1, 5], tables[1][..., 5])


def test_agent_type_tables() -> None:
    tables = released_code_bimatrix_tables()
    adv = agent_type_tables(tables, principal_weight=[-0.5, -0.5, 0.0])
    np.testing.assert_allclose(adv[:2], tables[:2] - 0.5 * tables[2])
    np.testing.assert_array_equal(adv[2], tables[2])
    convex = agent_type_tables(tables, scale=[0.5, 0.5, 1], principal_weight=[-0.5, -0.5, 0])
    np.testing.assert_allclose(convex[0], 0.5 * tables[0] - 0.5 * tables[2])
    risky = agent_type_tables(tables, risk_eta=[0.2, 1.0, 0.0])
    np.testing.assert_allclose(risky[0], ((tables[0] + 1) ** 0.8 - 1) / 0.8)
    np.testing.assert_allclose(risky[1], np.log1p(tables[1]))
    np.testing.assert_array_equal(risky[2], tables[2])
    assert risk_transform(-1.0, 0.5) == -10.0
    assert risk_transform(-3.0, 0.0) == -3.0  # eta = 0: the identity, no floor


def test_inputs_are_validated_with_named_fields() -> None:
    rewards = np.zeros((3, 2, 2))
    with pytest.raises(ValueError, match="horizon"):
        GridMarkovGame(rewards, horizon=0)
    with pytest.raises(ValueError, match="rewards: 3 grid axes"):
        GridMarkovGame(np.zeros((2, 2, 2, 2)), horizon=1)
    with pytest.raises(ValueError, match="initial"):
        GridMarkovGame(rewards, horizon=1, initial=np.ones((2, 2)))
    with pytest.raises(ValueError, match="discount"):
        GridMarkovGame(rewards, horizon=1, discount=1.5)
    game = GridMarkovGame(rewards, horizon=2)
    assert rewards.flags.writeable and not game.rewards.flags.writeable  # a frozen copy
    with pytest.raises(ValueError, match=r"policies: expected shape \(movers, T, S, A\)"):
        evaluate(game, np.ones((2, 3)))
    with pytest.raises(ValueError, match="must sum to 1"):
        evaluate(game, np.full((2, 2, 4, 3), 0.5))
    with pytest.raises(ValueError, match="player: expected a mover index"):
        best_response(game, uniform_policies(game), 2)
    with pytest.raises(ValueError, match="actions: every action"):
        deterministic_policy(np.array([3]), 3)
    with pytest.raises(ValueError, match="a: must be positive"):
        tragedy_tables(a=0.0)
    with pytest.raises(ValueError, match="width"):
        released_code_bimatrix_tables(width=1)


# --------------------------------------------------------------------------- officer planner


def _officer_game(rng: np.random.Generator, horizon: int = 3) -> GridMarkovGame:
    """Two movers on a 2x2 grid, moves (0, +1), and a planner's table last."""
    return GridMarkovGame(rng.uniform(0, 1, (3, 2, 2)), horizon=horizon, moves=(0, 1))


def test_cell_chain_equals_enumeration() -> None:
    rng = np.random.default_rng(3)
    game = GridMarkovGame(rng.uniform(0, 1, (3, 3, 3)), horizon=2)
    pi = rng.dirichlet(np.ones(3), size=(2, 9))
    chain = cell_chain(game, pi)
    expected = np.zeros((9, 9))
    for s in range(9):
        x = np.array(np.unravel_index(s, (3, 3)))
        for a0, a1 in itertools.product(range(3), repeat=2):
            nxt = np.clip(x + np.array([game.moves[a0], game.moves[a1]]), 0, 2)
            expected[s, np.ravel_multi_index(tuple(nxt), (3, 3))] += pi[0, s, a0] * pi[1, s, a1]
    np.testing.assert_allclose(chain, expected, atol=1e-12)
    np.testing.assert_allclose(chain.sum(axis=1), 1.0)


def _officer_recursion(
    planner: OfficerPlanner, chain: np.ndarray, policy: np.ndarray | None
) -> float:
    """Plain recursion over (t, s, o): the policy's value, or the best one with ``None``."""
    game, m = planner.game, planner.max_officers
    table = game.flat_rewards[-1]

    def value(t: int, s: int, o: int) -> float:
        if t == game.horizon:
            return 0.0
        options = []
        for d, delta in enumerate(planner.deltas):
            o2 = min(max(o + delta, 0), m)
            q = sum(
                chain[s, s2]
                * (table[s2] * (1 + planner.weight * o2 / m) - (o2 / m) ** 2 + value(t + 1, s2, o2))
                for s2 in range(game.num_states)
            )
            options.append(q if policy is None else policy[s, o, d] * q)
        return max(options) if policy is None else sum(options)

    return sum(game.initial_distribution[s] * value(0, s, 0) for s in range(game.num_states))


def test_officer_planner_equals_plain_recursion() -> None:
    rng = np.random.default_rng(4)
    game = _officer_game(rng)
    planner = OfficerPlanner(game, max_officers=3, deltas=(-1, 0, 2), weight=1.5)
    chain = cell_chain(game, rng.dirichlet(np.ones(2), size=(2, 4)))
    policy = rng.dirichlet(np.ones(3), size=(4, 4))
    assert planner.evaluate(chain, policy) == pytest.approx(
        _officer_recursion(planner, chain, policy), abs=1e-12
    )
    best = planner.optimal(chain)
    assert best.value == pytest.approx(_officer_recursion(planner, chain, None), abs=1e-12)
    # The optimal policy attains the optimum; random stationary policies do not beat it.
    assert planner.evaluate(chain, best.policy) == pytest.approx(best.value, abs=1e-12)
    for _ in range(20):
        other = rng.dirichlet(np.ones(3), size=(4, 4))
        assert planner.evaluate(chain, other) <= best.value + 1e-12


def test_officer_planner_matches_the_environment() -> None:
    """The DP against sampled episodes of the augmented grid game (JAX), tabular players."""
    import jax
    import jax.numpy as jnp

    from robustmas.envs.grid_presets import make_grid_game

    setup = make_grid_game("released-code-v0:augmented=true", episode_length=6)
    env, params = setup.env, setup.params
    game = GridMarkovGame(np.asarray(params.payoffs, np.float64), horizon=6, moves=env.moves)
    planner = OfficerPlanner(
        game, env.max_officers, env.officer_deltas, float(params.officer_weight)
    )
    rng = np.random.default_rng(5)
    agents = rng.dirichlet(np.ones(3), size=(2, 16))
    chief = rng.dirichlet(np.ones(5), size=(16, env.max_officers + 1))
    exact = planner.evaluate(cell_chain(game, agents), chief) / 6

    tables = jnp.asarray(agents, jnp.float32)
    chief_table = jnp.asarray(chief, jnp.float32)

    def episode(key: jax.Array) -> jax.Array:
        key, k_reset = jax.random.split(key)
        _, state = env.reset(k_reset, params)

        def body(state: Any, k: jax.Array) -> tuple[Any, jax.Array]:
            k0, k1, k2, k3 = jax.random.split(k, 4)
            s = env.cell_index(state.cell)
            a = jnp.stack(
                [
                    jax.random.choice(k0, 3, p=tables[0, s]),
                    jax.random.choice(k1, 3, p=tables[1, s]),
                    jax.random.choice(k2, 5, p=chief_table[s, state.officers]),
                ]
            )
            _, state, _, _, info = env.step(k3, state, a, params)
            return state, info["raw_rewards"][-1]

        _, rewards = jax.lax.scan(body, state, jax.random.split(key, 6))
        return rewards.mean()

    sampled = np.asarray(jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(0), 4000)))
    se = sampled.std(ddof=1) / np.sqrt(sampled.size)
    assert abs(sampled.mean() - exact) < 4 * se, (sampled.mean(), exact, se)


def test_officer_planner_validates_its_inputs() -> None:
    game = _officer_game(np.random.default_rng(6))
    with pytest.raises(ValueError, match="max_officers"):
        OfficerPlanner(game, max_officers=0)
    with pytest.raises(ValueError, match="deltas"):
        OfficerPlanner(game, deltas=())
    planner = OfficerPlanner(game, max_officers=2)
    with pytest.raises(ValueError, match="chain"):
        planner.optimal(np.eye(3))
    chain = np.eye(4)
    with pytest.raises(ValueError, match="policy: expected shape"):
        planner.evaluate(chain, np.full((4, 2, 5), 0.2))
    with pytest.raises(ValueError, match="sum to 1"):
        planner.evaluate(chain, np.ones((4, 3, 5)))
    with pytest.raises(ValueError, match="chain: rows"):
        planner.optimal(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="change index"):
        planner.evaluate(chain, np.full((3, 4, 3), 9))
    with pytest.raises(ValueError, match="stationary"):
        cell_chain(game, np.full((2, 3, 4, 2), 0.5))


# --------------------------------------------------------------------------- best-response dynamics


def test_best_response_dynamics_reach_the_tragedy_equilibrium() -> None:
    """From uniform play, damped best responses reach the dominant-strategy equilibrium: zero
    regret and its values."""
    game = GridMarkovGame(tragedy_tables(), horizon=6)
    up = game.moves.index(1)
    target = evaluate(game, deterministic_policy(np.full((2, 6, 16), up), 3)).values
    found = best_response_dynamics(game, uniform_policies(game), [0, 1], step=0.5, tol=1e-6)
    assert found.converged and 0 < found.iterations < 100
    assert np.all(found.regrets <= 1e-6)
    np.testing.assert_allclose(found.values, target, atol=1e-4)
    # Without enough steps it stops where it is, and says so.
    short = best_response_dynamics(game, uniform_policies(game), [0, 1], iterations=2)
    assert short.iterations == 2 and not short.converged and np.all(short.regrets > 1e-3)


def test_best_response_dynamics_keep_the_fixed_movers() -> None:
    rng = np.random.default_rng(8)
    game = GridMarkovGame(rng.normal(size=(3, 3, 3, 3)), horizon=4)
    start = _random_policies(rng, game)
    found = best_response_dynamics(game, start, [1], iterations=30, tol=1e-9)
    np.testing.assert_array_equal(found.policies[[0, 2]], start[[0, 2]])
    # One mover against fixed others has a fixed best response, and its policy moves towards
    # it: after 30 steps the regret is a small fraction of the first (measured: 0.1%).
    first = regrets(game, start).regrets[1]
    assert first > 0.1
    assert found.regrets[0] < 0.01 * first
    with pytest.raises(ValueError, match="players"):
        best_response_dynamics(game, start, [3])
    with pytest.raises(ValueError, match="step"):
        best_response_dynamics(game, start, [0], step=0.0)

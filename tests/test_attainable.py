"""The attainable optimum of the Stackelberg POMDP: known values, brute force, the env itself."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.stackelberg.pomdp import StackelbergParams, StackelbergPOMDP, expected_reward
from robustmas.envs.stackelberg.settings import SETTINGS, make_setting
from robustmas.robust.attainable import (
    attainable,
    attainable_optimum,
    exact_map_values,
    map_values,
    monte_carlo_map_values,
    payoff_ceiling,
)


def _reference_value(table: np.ndarray, params: StackelbergParams) -> float:
    """Plain NumPy, float64, one follower: count distribution by recursion over the rounds."""
    prior = np.asarray(params.prior, np.float64)
    fol = np.asarray(params.follower_payoff, np.float64)[0]  # (T, M, A)
    lead = np.asarray(params.leader_payoff, np.float64)  # (T, M, A)
    obs = np.asarray(params.obs_of)
    rate = math.log1p(float(params.mw_step))
    total = 0.0
    for t, p in enumerate(prior):
        dist = np.zeros(params.num_rounds + 1)
        dist[0] = 1.0
        for _ in range(params.num_rounds):  # one more round: type t drawn with probability p
            dist = (1 - p) * dist + p * np.concatenate([[0.0], dist[:-1]])
        u = np.array([fol[t, a] @ table[obs[a]] for a in range(len(obs))])
        v = np.array([lead[t, a] @ table[obs[a]] for a in range(len(obs))])
        for n, w in enumerate(dist):
            z = np.exp(rate * n * (u - u.max()))
            total += p * w * float(z @ v / z.sum())
    return total


def _random_setting(seed: int, types: int, messages: int, actions: int) -> StackelbergParams:
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.ones(types))
    return StackelbergParams(
        prior=jnp.asarray(prior, jnp.float32),
        follower_payoff=jnp.asarray(rng.random((1, types, messages, actions)), jnp.float32),
        leader_payoff=jnp.asarray(rng.random((types, messages, actions)), jnp.float32),
        obs_of=jnp.arange(messages),
        num_rounds=30,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_values_equal_a_numpy_brute_force(seed: int) -> None:
    params = _random_setting(seed, types=3, messages=2, actions=3)
    maps = np.eye(3, dtype=np.float32)[np.array(list(itertools.product(range(3), repeat=2)))]
    values = exact_map_values(maps, params)
    expected = np.array([_reference_value(m, params) for m in maps])
    np.testing.assert_allclose(values, expected, atol=1e-5)
    result = attainable(params)
    assert result.exact and result.bound == "exact" and result.maps_evaluated == 9
    assert result.value == pytest.approx(expected.max(), abs=1e-5)
    assert _reference_value(result.best_map, params) == pytest.approx(expected.max(), abs=1e-5)


@pytest.mark.parametrize(("items", "messages"), [(2, 1), (2, 2), (3, 2), (3, 3), (2, 3), (4, 2)])
def test_allocation_with_enough_rounds_reaches_min_m_k_over_k(items: int, messages: int) -> None:
    result = attainable_optimum("allocation-v0", items=items, messages=messages, num_rounds=2000)
    assert result.exact
    assert result.value == pytest.approx(min(items, messages) / items, abs=1e-4)
    # The best map allocates min(m, k) different items.
    assert len(set(result.best_map.argmax(-1).tolist())) == min(items, messages)


def test_allocation_under_the_default_rounds_is_below_the_optimum() -> None:
    # 100 rounds: a type is drawn ~ 100/k times, so its follower still errs (k = m = 3: 0.917).
    result = attainable_optimum("allocation-v0", items=3, messages=3)
    assert result.exact
    assert result.value == pytest.approx(0.91694, abs=1e-4)
    assert sorted(result.best_map.argmax(-1).tolist()) == [0, 1, 2]


def test_maintain_and_escape_pure_optima() -> None:
    maintain = attainable_optimum("maintain-v0")
    assert maintain.exact and maintain.value == pytest.approx(20.0, abs=1e-4)
    assert maintain.best_map.argmax(-1).tolist() == [0]
    assert maintain.upper_bound == maintain.value
    escape = attainable_optimum("escape-v0")
    assert escape.exact and escape.value == pytest.approx(30.0, abs=1e-4)
    assert escape.best_map.argmax(-1).tolist() == [2]


def test_maintain_randomised_is_a_lower_bound_below_27_5() -> None:
    # The commitment (0.25, 0.75, 0) leaves the follower indifferent; under 100 rounds the best
    # mixed row trades the margin against the leader's loss: 27.136 (computed by hand).
    result = attainable_optimum("maintain-v0", randomized=True)
    assert not result.exact and result.bound == "lower_bound"
    assert result.value == pytest.approx(27.136, abs=2e-3)
    assert 20.0 < result.value <= 27.5
    assert result.upper_bound == pytest.approx(30.0)  # the largest leader payoff
    np.testing.assert_allclose(result.best_map.sum(-1), 1.0, atol=1e-5)
    again = exact_map_values(result.best_map[None], make_setting("maintain-v0", randomized=True))
    assert float(again[0]) == pytest.approx(result.value, abs=1e-5)


def test_coordinate_ascent_when_enumeration_is_too_large() -> None:
    params = make_setting("allocation-v0", items=3, messages=3)
    searched = attainable(params, max_maps=10)
    assert searched.bound == "lower_bound" and not searched.exact
    assert "coordinate ascent" in searched.method
    assert searched.value == pytest.approx(attainable(params).value, abs=1e-6)
    assert searched.upper_bound == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("setting", "params"),
    [
        ("maintain-v0", {}),
        ("maintain-v0", {"randomized": True}),
        ("escape-v0", {}),
        ("allocation-v0", {"items": 5, "messages": 2}),
        ("allocation-v0", {"items": 2, "messages": 3}),
    ],
)
def test_attainable_never_exceeds_the_optimum(setting: str, params: dict) -> None:
    params = dict(params)
    randomized = params.pop("randomized", False)
    result = attainable_optimum(setting, randomized, **params)
    optimum = SETTINGS.entry(setting).optimum
    assert optimum is not None
    assert result.value <= optimum(randomized=randomized, **params) + 1e-9
    assert result.value <= result.upper_bound + 1e-9


@pytest.mark.parametrize(
    ("setting", "params"),
    [("maintain-v0", {}), ("allocation-v0", {"items": 3, "messages": 2})],
)
def test_best_map_through_the_jitted_env_episode(setting: str, params: dict) -> None:
    env_params = make_setting(setting, **params)
    result = attainable(env_params)
    env = StackelbergPOMDP(env_params)
    actions = jnp.asarray(result.best_map.argmax(-1))

    @jax.jit
    def episode(key: jax.Array) -> jax.Array:
        _, state = env.reset(key, env_params)
        total = jnp.zeros(())
        for i in range(actions.shape[0]):
            key, sub = jax.random.split(key)
            _, state, reward, _, _ = env.step(sub, state, actions[i], env_params)
            total = total + reward
        return jnp.stack([total, expected_reward(state.table, state.logits, env_params)])

    n = 4096
    out = np.asarray(jax.vmap(episode)(jax.random.split(jax.random.PRNGKey(3), n)))
    for column in out.T:  # sampled rewards, and their expectation given the dynamics
        stderr = column.std() / math.sqrt(n)
        assert abs(column.mean() - result.value) <= 5 * stderr + 1e-5
    if setting == "maintain-v0":  # one type: the dynamics are deterministic
        np.testing.assert_allclose(out[:, 1], result.value, rtol=1e-5)


def test_sampled_values_agree_with_exact_values() -> None:
    params = make_setting("allocation-v0", items=3, messages=2)
    maps = np.eye(3, dtype=np.float32)[np.array([[0, 1], [0, 0], [2, 1]])]
    exact = exact_map_values(maps, params)
    means, errs = monte_carlo_map_values(maps, params, jax.random.PRNGKey(1), episodes=1024)
    assert np.all(np.abs(means - exact) <= 5 * errs + 1e-6)
    values, zeros = map_values(maps, params)
    np.testing.assert_array_equal(values, exact)
    assert not zeros.any()


@pytest.mark.slow  # CI time: trains leaders against two followers
def test_two_followers_are_estimated() -> None:
    # Matrix design: for tau >= 5 row A and column B are dominant, so the followers differ.
    result = attainable_optimum("matrix-design-v0", episodes=64, final_episodes=512)
    assert result.bound == "estimate" and not result.exact
    assert int(result.best_map.argmax()) >= 5
    assert 0.95 < result.value <= 1.0 + 1e-9 and result.stderr < 0.01  # optimum 1
    assert result.upper_bound == pytest.approx(1.0)
    assert payoff_ceiling(make_setting("muspm-v0")) == pytest.approx(0.0)
    params = make_setting("matrix-design-v0", max_tau=6)
    values, errs = map_values(np.eye(7, dtype=np.float32)[None, 6:], params, episodes=64)
    assert values[0] > 0.95 and 0 < errs[0] < 0.01


def test_errors_name_the_field() -> None:
    params = make_setting("allocation-v0")
    with pytest.raises(ValueError, match="tables"):
        exact_map_values(np.zeros((2, 3)), params)
    with pytest.raises(ValueError, match=r"params\.prior"):
        exact_map_values(np.zeros((1, 1, 11)), make_setting("matrix-design-v0"))
    with pytest.raises(ValueError, match="episodes"):
        attainable(params, episodes=1)
    with pytest.raises(ValueError, match="max_maps"):
        attainable(params, max_maps=0)
    with pytest.raises(ValueError, match="colours"):
        attainable_optimum("allocation-v0", colours=2)


def test_given_starting_maps_are_searched_from() -> None:
    # One sweep, one start: a search that cannot reach the best map alone reaches it from the
    # best map given as a start, and is never worse than that map.
    params = make_setting("allocation-v0", items=4, messages=4)
    best = attainable(params)
    weak = attainable(params, max_maps=1, sweeps=1, starts=1)
    given = attainable(params, max_maps=1, sweeps=1, starts=1, initial_maps=best.best_map[None])
    assert given.value == pytest.approx(best.value, abs=1e-6) and given.value >= weak.value
    assert "1 given maps" in given.method
    with pytest.raises(ValueError, match="tables"):
        attainable(params, max_maps=1, initial_maps=np.zeros((1, 2, 2)))


def test_shortfall_scale_is_the_value_or_the_range_of_a_loss() -> None:
    from robustmas.robust.attainable import payoff_floor, shortfall_scale

    allocation = make_setting("allocation-v0", items=5, messages=2)
    assert shortfall_scale(0.3459, allocation) == 0.3459
    muspm = make_setting("muspm-v0")
    # muSPM's reward is welfare - max value: 0 at best; the floor by brute force over the SPMs.
    from robustmas.envs.stackelberg.settings import DEFAULT_PRICES, muspm_outcome

    values, probs = ((0.5, 2.5), (0.0, 1.0)), ((0.8, 0.2), (0.5, 0.5))
    floor = 0.0
    for a, b in itertools.product(range(2), range(2)):
        v = (values[0][a], values[1][b])
        worst = min(
            (v[w] if w >= 0 else 0.0) - max(v)
            for f, p1, p2 in itertools.product((0, 1), DEFAULT_PRICES, DEFAULT_PRICES)
            for w, _ in [muspm_outcome(v, (f, p1, p2))]
        )
        floor += probs[0][a] * probs[1][b] * worst
    assert payoff_ceiling(muspm) == pytest.approx(0.0)
    assert payoff_floor(muspm) == pytest.approx(floor) and floor < -0.5
    assert shortfall_scale(-0.05, muspm) == pytest.approx(-payoff_floor(muspm))

"""The Stackelberg POMDP environment: known maps give the papers' optima."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.stackelberg import settings as S
from robustmas.envs.stackelberg.pomdp import StackelbergPOMDP, run_dynamics
from robustmas.games.limits import GameTooLargeError

KEYS = jax.random.split(jax.random.PRNGKey(0), 32)


def _mean_reward(params, table: np.ndarray) -> float:
    """Mean leader reward over 32 episodes with a fixed observation-action map."""
    run = jax.jit(jax.vmap(lambda k: run_dynamics(k, jnp.asarray(table), params)[1]))
    return float(run(KEYS).mean())


def _one_hot(actions: list[int], n: int) -> np.ndarray:
    return np.eye(n)[actions]


def test_episode_protocol_and_views() -> None:
    params = S.make_setting("allocation-v0", items=3, messages=2, num_rounds=50)
    env = StackelbergPOMDP(params)
    obs, state = env.reset(KEYS[0], params)
    assert obs.shape == (2,) and float(obs[0]) == 1.0
    critic = env.critic_observation(state, params)
    space = env.critic_observation_space(params)
    assert critic.shape == space.shape
    obs, state, reward, done, _ = env.step(KEYS[1], state, jnp.asarray(0), params)
    assert not bool(done) and float(reward) == 0.0 and float(obs[1]) == 1.0
    _, state, reward, done, info = env.step(KEYS[2], state, jnp.asarray(1), params)
    assert bool(done) and bool(info["final"])
    np.testing.assert_array_equal(np.asarray(state.table), _one_hot([0, 1], 3))
    # Without the full critic view the critic sees only the actor's observation.
    lean = S.make_setting("allocation-v0", critic_full=False)
    assert StackelbergPOMDP(lean).critic_observation_space(lean).shape == (3,)


def test_maintain_and_escape_rows() -> None:
    maintain = S.make_setting("maintain-v0")
    assert _mean_reward(maintain, _one_hot([0], 3)) == pytest.approx(20.0)
    assert _mean_reward(maintain, _one_hot([1], 3)) == pytest.approx(10.0)
    assert _mean_reward(S.make_setting("escape-v0"), _one_hot([2], 3)) == pytest.approx(30.0)


def test_maintain_randomised_commitment_near_27_5() -> None:
    params = S.make_setting("maintain-v0", randomized=True)
    # Just above the follower's indifference point (0.25, 0.75): MW settles on column A.
    value = _mean_reward(params, np.array([[0.28, 0.72, 0.0]]))
    assert value == pytest.approx(20 * 0.28 + 30 * 0.72, abs=0.1)
    assert value > 27.0


@pytest.mark.parametrize("messages", [1, 2, 3])
def test_allocation_optimum_is_m_over_k(messages: int) -> None:
    params = S.make_setting(
        "allocation-v0", items=3, messages=messages, num_rounds=1000, num_reward_rounds=100
    )
    # The leader allocates item j after message j; followers learn to signal their item.
    value = _mean_reward(params, _one_hot(list(range(messages)), 3))
    assert value == pytest.approx(messages / 3, abs=0.03)


def test_matrix_design_dominance_and_no_payment() -> None:
    params = S.make_setting("matrix-design-v0")
    for tau in (4, 7, 10):
        table = _one_hot([tau], 11)
        assert _mean_reward(params, table) >= 0.95
        # No payment in equilibrium: followers end at (A, B), where tau is never paid.
        logits = run_dynamics(KEYS[0], jnp.asarray(table), params)[0]
        probs = np.asarray(jax.nn.softmax(logits, axis=-1))
        assert probs[0, 0, 0] > 0.99 and probs[1, 0, 1] > 0.99


def test_muspm_messages_reach_full_information_welfare() -> None:
    full_info = 0.8 * (0.5 * 0.5 + 0.5 * 1.0) + 0.2 * 2.5  # E[max(v1, v2)] = 1.1
    no_messages = S.muspm_welfare_without_messages()
    assert no_messages == pytest.approx(0.95)
    params = S.make_setting("muspm-v0", num_rounds=1000, num_reward_rounds=100)
    mechs = [(f, p1, p2) for f in (0, 1) for p1 in S.DEFAULT_PRICES for p2 in S.DEFAULT_PRICES]
    low, high = mechs.index((1, 0.1, 0.1)), mechs.index((0, 1.0, 0.1))
    # The paper's mechanism: agent 1 says "low" -> visit agent 2 first at 0.1; "high" -> agent 1
    # first at a price in (1/2, 1/(2 eps)].  Observation index = 2 * message_1 + message_2.
    loss = _mean_reward(params, _one_hot([low, low, high, high], len(mechs)))
    welfare = full_info + loss
    assert welfare >= 0.98 * full_info
    assert welfare > no_messages


def test_jitted_episode_equals_the_dynamics_on_its_map() -> None:
    params = S.make_setting("muspm-v0", num_rounds=200)
    env = StackelbergPOMDP(params)
    num_obs = 4  # two messages per agent
    action = 5  # mechanism (agent 1 first at price 0, then price 1): welfare loss 0.2

    @jax.jit
    def rollout(key):
        _, state = env.reset(key, params)
        total = jnp.zeros(())
        for _ in range(num_obs):
            _, state, r, _, _ = env.step(key, state, jnp.asarray(action), params)
            total = total + r
        return total, state

    total, state = rollout(KEYS[3])
    # Independent reference: the map the episode fills in, handed straight to the no-regret
    # dynamics outside jit (the last step runs them with the step's key).
    table = jnp.asarray(_one_hot([action] * num_obs, params.num_leader_actions))
    logits, reward = run_dynamics(KEYS[3], table, params)
    np.testing.assert_array_equal(np.asarray(state.table), np.asarray(table))
    assert int(state.step) == num_obs
    np.testing.assert_allclose(np.asarray(state.logits), np.asarray(logits), rtol=1e-5, atol=1e-5)
    assert float(total) == pytest.approx(float(reward), rel=1e-5, abs=1e-6)
    assert float(total) < -0.05  # a loss: a skipped or zero payout would show
    # Determinism: the same key gives the same result.
    assert float(rollout(KEYS[3])[0]) == float(total)


def test_unknown_setting_and_param() -> None:
    with pytest.raises(ValueError, match="unknown setting"):
        S.make_setting("nope-v0")
    with pytest.raises(ValueError, match="unknown parameter"):
        S.make_setting("allocation-v0", colour=3)
    with pytest.raises(ValueError, match="items"):
        S.allocation(items=0)


@pytest.mark.parametrize(
    ("setting_id", "params", "message"),
    [
        ("matrix-design-v0", {"max_tau": 10**9}, r"^max_tau: .*joint actions asked for"),
        ("allocation-v0", {"items": 10**5}, r"^items/messages: .*joint actions asked for"),
        ("muspm-general-v0", {"types": 10**6}, r"^types/messages: .*joint actions asked for"),
    ],
)
def test_too_large_settings_fail_before_allocating(setting_id, params, message) -> None:
    with pytest.raises(GameTooLargeError, match=message):
        S.make_setting(setting_id, **params)

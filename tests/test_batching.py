"""lockstep_cond: lax.cond semantics, and the rare branch is skipped when no element needs it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.compilation.lockstep import lockstep_cond
from robustmas.envs.stackelberg.pomdp import StackelbergPOMDP, expected_reward
from robustmas.envs.stackelberg.settings import make_setting


def _rare(x: jax.Array) -> jax.Array:
    return jnp.sin(x) * 2.0


def _common(x: jax.Array) -> jax.Array:
    return x + 1.0


def _f(pred: jax.Array, x: jax.Array) -> jax.Array:
    return lockstep_cond(pred, _rare, _common, x)


def test_unbatched_matches_cond() -> None:
    assert float(_f(jnp.bool_(True), jnp.float32(1.0))) == pytest.approx(2 * np.sin(1.0), 1e-6)
    assert float(_f(jnp.bool_(False), jnp.float32(1.0))) == 2.0


@pytest.mark.parametrize("pred_axis, x_axis", [(0, 0), (0, None), (None, 0)])
def test_vmap_matches_select(pred_axis: int | None, x_axis: int | None) -> None:
    preds = jnp.array([True, False, True])
    xs = jnp.arange(3.0)
    p = preds if pred_axis == 0 else preds[0]
    x = xs if x_axis == 0 else xs[1]
    got = jax.jit(jax.vmap(_f, in_axes=(pred_axis, x_axis), axis_size=3))(p, x)
    want = jnp.where(
        jnp.broadcast_to(p, (3,)),
        _rare(jnp.broadcast_to(x, (3,))),
        _common(jnp.broadcast_to(x, (3,))),
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_nested_vmap_and_scan() -> None:
    preds = jnp.array([[True, False], [False, False]])
    xs = jnp.arange(4.0).reshape(2, 2)

    def run(p: jax.Array, x: jax.Array) -> jax.Array:
        return jax.lax.scan(lambda c, _: (_f(p, c), None), x, None, length=3)[0]

    got = jax.jit(jax.vmap(jax.vmap(run)))(preds, xs)
    want = np.array([[2 * np.sin(2 * np.sin(2 * np.sin(0.0))), 4.0], [5.0, 6.0]], dtype=np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_rare_branch_skipped_when_no_element_takes_it() -> None:
    calls: list[int] = []

    def rare(x: jax.Array) -> jax.Array:
        jax.debug.callback(lambda: calls.append(1))
        return x * 2.0

    g = jax.jit(jax.vmap(lambda p, x: lockstep_cond(p, rare, _common, x)))
    # At x = 3 the branches differ (rare 6, common 4), so the values show which one ran.
    xs = jnp.full(4, 3.0)
    out = g(jnp.zeros(4, bool), xs)
    jax.block_until_ready(out)
    np.testing.assert_allclose(out, 4.0)
    assert calls == []
    out = g(jnp.array([False, True, False, False]), xs)
    jax.block_until_ready(out)
    np.testing.assert_allclose(out, [4.0, 6.0, 4.0, 4.0])
    assert calls  # ran (once per element of the batched branch)


def test_stackelberg_step_vmapped_equals_per_env() -> None:
    """Envs out of lockstep (some finishing, some not) give the per-env results under vmap."""
    params = make_setting("allocation-v0", items=3, messages=3, num_rounds=20)
    env = StackelbergPOMDP(params)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    _, state = env.reset(keys[0], params)
    states = [state]
    for t in range(2):  # states at step 0, 1, 2: only the last one finishes
        _, state, _, _, _ = env.step(keys[t], state, jnp.int32(t), params)
        states.append(state)
    batch = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
    actions = jnp.array([2, 1, 0], jnp.int32)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    _, got, reward, done, _ = step(keys, batch, actions, params)
    np.testing.assert_array_equal(done, [False, False, True])
    for i in range(3):
        _, s, r, d, _ = env.step(keys[i], states[i], actions[i], params)
        np.testing.assert_allclose(got.logits[i], s.logits, rtol=1e-6, atol=1e-6)
        assert float(reward[i]) == pytest.approx(float(r), abs=1e-6)
        assert bool(done[i]) == bool(d)
    assert float(jnp.abs(got.logits[2]).sum()) > 0  # the finished env ran its dynamics


def _episode_rewards(monkeypatch: pytest.MonkeyPatch, plain: bool) -> np.ndarray:
    """Expected payoffs of 500 leader maps x 32 episodes (a jitted evaluator, vmapped over maps)."""
    import robustmas.envs.stackelberg.pomdp as pomdp

    if plain:
        monkeypatch.setattr(pomdp, "lockstep_cond", lambda p, a, b, o: jax.lax.cond(p, a, b, o))
    params = make_setting("maintain-v0", randomized=True)
    env = StackelbergPOMDP(params)

    def episode(actions: jax.Array, key: jax.Array) -> jax.Array:
        key_reset, key_steps = jax.random.split(key)
        _, state = env.reset(key_reset, params)

        def body(carry, inp):
            state, total = carry
            action, key = inp
            _, state, reward, _, _ = env.step(key, state, action, params)
            return (state, total + reward), None

        (state, total), _ = jax.lax.scan(
            body, (state, jnp.zeros(())), (actions, jax.random.split(key_steps, 1))
        )
        return jnp.stack([total, expected_reward(state.table, state.logits, params)])

    @jax.jit
    def evaluate(actions: jax.Array, key: jax.Array) -> jax.Array:
        keys = jax.random.split(key, 32)
        return jax.vmap(episode, in_axes=(None, 0))(actions, keys).mean(0)

    grid = np.linspace(0.25, 0.35, 500, dtype=np.float32)
    maps = jnp.stack([grid, 1 - grid, np.zeros_like(grid)], -1)[:, None, :]
    out = jax.jit(jax.vmap(evaluate, in_axes=(0, None)))(maps, jax.random.PRNGKey(7))
    return np.asarray(out)


def test_large_nested_batch_matches_lax_cond(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: an earlier version (broadcasting unbatched operands inside the rule) returned
    results shifted by 340 maps for the maps >= 341 of exactly this computation."""
    got = _episode_rewards(monkeypatch, plain=False)
    want = _episode_rewards(monkeypatch, plain=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _train_allocation(monkeypatch: pytest.MonkeyPatch, plain: bool) -> tuple[np.ndarray, ...]:
    import robustmas.envs.stackelberg.pomdp as pomdp
    from robustmas.rl.ppo import PPO, PPOConfig

    if plain:
        monkeypatch.setattr(pomdp, "lockstep_cond", lambda p, a, b, o: jax.lax.cond(p, a, b, o))
    params = make_setting("allocation-v0", items=3, messages=3, num_rounds=30)
    config = PPOConfig(
        lr=3e-3,
        num_envs=64,
        num_steps=7,  # not a multiple of the episode length: rollouts start mid-episode
        total_timesteps=64 * 7 * 3,
        num_minibatches=2,
        actor_hidden=(8,),
        critic_hidden=(8,),
        centralized_critic=True,
        eval_every=3,
    )
    trainer = PPO(config, StackelbergPOMDP(params), params)
    out = jax.jit(jax.vmap(trainer.train))(jax.random.split(jax.random.PRNGKey(0), 3))
    leaves = jax.tree_util.tree_leaves(out.params)
    return tuple(np.asarray(x) for x in [*leaves, out.metrics["episode_return"]])


@pytest.mark.slow  # CI time: trains twice, once per predicate path
def test_ppo_on_stackelberg_matches_lax_cond(monkeypatch: pytest.MonkeyPatch) -> None:
    """3 seeds x 64 envs vmapped, the batched-predicate path: same training as with lax.cond."""
    got = _train_allocation(monkeypatch, plain=False)
    want = _train_allocation(monkeypatch, plain=True)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

"""RP Alg. 1 (RL) / Alg. 3 and ERMAS's pieces, and the Monte-Carlo regret against the exact DP."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.grid_presets import make_grid_game
from robustmas.equilibria.markov_exact import GridMarkovGame, evaluate, regrets
from robustmas.experiments.tragedy_sweep import AGENT_PPO
from robustmas.games.grid_tables import tragedy_tables
from robustmas.rl.ppo import StepData
from robustmas.robust.adversarial_sampling import (
    _META_STREAM,  # pyright: ignore[reportPrivateUsage]
    AdversarialSampler,
    AdversarialSamplingConfig,
    Shaping,
    cell_policies,
    dual_step,
    meta_step,
    shaped_reward,
)

T = 20
"""Tragedy episode length of these tests (the papers' 500 is a preset's business)."""

PPO = AGENT_PPO
"""A linear (tabular softmax) policy on the one-hot cell, as the released code."""


def _sampler(**fields: Any) -> AdversarialSampler:
    setup = make_grid_game(f"tragedy-v0:episode_length={T}")
    config = AdversarialSamplingConfig(
        **{"ppo": PPO, "rounds": 2, "main_updates": 2, "deviation_updates": 2,
           "eval_episodes": 8, **fields}
    )  # fmt: skip
    return AdversarialSampler(config, setup.env, setup.params)


def _digest(tree: Any) -> str:
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        h.update(np.asarray(leaf).tobytes())
    return h.hexdigest()


def test_shaped_reward_interpolates_between_adversary_and_selfish_agent() -> None:
    none = jnp.zeros(())
    step = StepData(none, none, none, jnp.array([0.3, 0.7, 0.9]), jnp.bool_(False), {})
    adversary = shaped_reward(step, Shaping(jnp.zeros(2), jnp.bool_(True)))
    np.testing.assert_allclose(adversary, [-0.9, -0.9, 0.9], rtol=1e-6)
    selfish = shaped_reward(step, Shaping(jnp.full(2, 1e6), jnp.bool_(True)))
    np.testing.assert_allclose(selfish, [0.3, 0.7, 0.9], atol=1e-5)
    lam = jnp.array([1.0, 3.0])
    mixed = shaped_reward(step, Shaping(lam, jnp.bool_(True)))
    np.testing.assert_allclose(mixed, [(0.3 - 0.9) / 2, (3 * 0.7 - 0.9) / 4, 0.9], rtol=1e-6)
    raw = shaped_reward(step, Shaping(lam, jnp.bool_(False)))
    np.testing.assert_allclose(raw, [0.3, 0.7, 0.9])


def test_dual_step_is_projected_ascent() -> None:
    lam = jnp.array([5.0, 5.0, 0.2, 99.9])
    regret = jnp.array([3.0, 1.0, 0.0, 50.0])
    out = dual_step(lam, regret, jnp.full(4, 2.0), 0.1, 100.0)
    # Regret above eps raises lambda, below lowers it; clipped to [0, 100] (spec D4).
    np.testing.assert_allclose(out, [5.1, 4.9, 0.0, 100.0], rtol=1e-6)


def test_meta_step_moves_each_agent_away_from_its_own_deviation() -> None:
    theta = {"w": jnp.array([[1.0, 1.0], [2.0, 2.0], [7.0, 7.0]])}  # two agents, the principal
    deviations = {"w": jnp.stack([theta["w"].at[0].add(1.0), theta["w"].at[1].add(-2.0)])}
    lam = jnp.array([1.0, 50.0])
    assert _digest(meta_step(theta, deviations, lam, 0.0, 2.0)) == _digest(theta)
    out = meta_step(theta, deviations, lam, 0.2, 2.0)["w"]
    np.testing.assert_allclose(out[0], [1.0 - 0.2, 1.0 - 0.2])  # factor 0.2 * 1
    np.testing.assert_allclose(out[1], [2.0 + 2.0 * 2.0] * 2)  # 0.2 * 50 capped at 2
    np.testing.assert_allclose(out[2], [7.0, 7.0])  # the principal is untouched


def test_meta_step_snapshot_delta_subtracts_the_path_from_the_snapshot() -> None:
    """The Reptile reading: ``theta - e (theta' - theta~)``, not ``theta - e (theta' - theta)``."""
    snapshot = {"w": jnp.zeros((3, 2))}
    theta = {"w": jnp.array([[1.0, 1.0], [2.0, 2.0], [7.0, 7.0]])}  # after the main update
    deviations = {"w": jnp.stack([snapshot["w"].at[0].add(0.5), snapshot["w"].at[1].add(-1.0)])}
    lam = jnp.array([1.0, 50.0])
    out = meta_step(theta, deviations, lam, 0.2, 2.0, snapshot)["w"]
    np.testing.assert_allclose(out[0], [1.0 - 0.2 * 0.5] * 2)
    np.testing.assert_allclose(out[1], [2.0 + 2.0 * 1.0] * 2)
    np.testing.assert_allclose(out[2], [7.0, 7.0])
    post = meta_step(theta, deviations, lam, 0.2, 2.0)["w"]  # released code: from theta
    np.testing.assert_allclose(post[0], [1.0 - 0.2 * (0.5 - 1.0)] * 2)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^ppo.parameter_sharing"):
        AdversarialSamplingConfig(ppo=dataclasses.replace(PPO, parameter_sharing=True))
    with pytest.raises(ValueError, match=r"^ppo.anneal_lr"):
        AdversarialSamplingConfig(ppo=dataclasses.replace(PPO, anneal_lr=True))
    with pytest.raises(ValueError, match=r"^rounds"):
        AdversarialSamplingConfig(ppo=PPO, rounds=0)
    with pytest.raises(ValueError, match=r"^lambda_init"):
        AdversarialSamplingConfig(ppo=PPO, lambda_init=200.0)
    with pytest.raises(ValueError, match=r"^meta_target"):
        AdversarialSamplingConfig(ppo=PPO, meta_target="reptile")
    with pytest.raises(ValueError, match=r"^meta_deviation_updates"):
        AdversarialSamplingConfig(ppo=PPO, meta_deviation_updates=0)
    with pytest.raises(ValueError, match=r"^deviation_ppo: actor_hidden"):
        AdversarialSamplingConfig(
            ppo=PPO, deviation_ppo=dataclasses.replace(PPO, actor_hidden=(8,))
        )


def test_deviation_changes_only_the_deviating_agent() -> None:
    sampler = _sampler()
    state = sampler.init(jax.random.PRNGKey(0), 1.0)
    estimate = jax.jit(sampler.estimate_regret, static_argnums=2)(
        state.runner, jax.random.PRNGKey(1), 3
    )
    before = state.runner.params.actor
    for i in range(sampler.num_agents):
        dev = jax.tree_util.tree_map(lambda x, i=i: x[i], estimate.deviation_actor)
        for k in range(sampler.num_players):
            mine = jax.tree_util.tree_map(lambda x, k=k: x[k], dev)
            theirs = jax.tree_util.tree_map(lambda x, k=k: x[k], before)
            assert (_digest(mine) == _digest(theirs)) == (k != i), (i, k)


def test_alg1_keeps_the_principal_alg3_trains_it_slowly_and_runs_repeat() -> None:
    key = jax.random.PRNGKey(3)
    for train_principal in (False, True):
        sampler = _sampler(train_principal=train_principal)
        state = sampler.init(key, 2.0)
        train = jax.jit(sampler.train)
        final, metrics = train(key, 2.0)
        principal = lambda s: jax.tree_util.tree_map(lambda x: x[-1], s.runner.params)  # noqa: E731
        changed = _digest(principal(final)) != _digest(principal(state))
        assert changed == train_principal
        assert metrics["lambda"].shape == (2, 2) and metrics["regret"].shape == (2, 2)
        assert np.all(np.isfinite(np.asarray(metrics["regret"])))
        again = train(key, 2.0)[1]
        for name in metrics:
            np.testing.assert_array_equal(metrics[name], again[name])
    scale = jax.tree_util.tree_leaves(
        final.runner.opt_state, is_leaf=lambda s: type(s).__name__ == "LearnerScaleState"
    )
    factors = [np.asarray(s.scale) for s in scale if type(s).__name__ == "LearnerScaleState"]
    np.testing.assert_allclose(factors[0], [1.0, 1.0, 0.2])


@pytest.mark.slow  # CI time: an eps sweep of Monte-Carlo regrets
def test_monte_carlo_regret_matches_the_exact_dp_regret_across_eps() -> None:
    """Issue 11's acceptance: MC regret within 10% (or its 95% interval) of the exact regret.

    Alg. 1 trains the agents at four slacks; at each final profile the exact regret (DP best
    response over time-dependent policies) is compared with the estimator's ``J' - J`` when the
    deviation is trained long enough to approach a best response (``K = 120`` updates at a
    larger learning rate, no entropy bonus).  The estimator's bookkeeping is checked exactly
    too: ``J' - J`` equals the DP value of the deviation profile minus the DP value, within the
    sampling interval.
    """
    setup = make_grid_game(f"tragedy-v0:episode_length={T}")
    config = AdversarialSamplingConfig(
        ppo=PPO, rounds=30, main_updates=3, deviation_updates=5, eval_episodes=32, lambda_lr=0.5
    )
    sampler = AdversarialSampler(config, setup.env, setup.params)
    eps = jnp.array([0.0, 2.0, 5.0, 10.0])
    state, metrics = jax.jit(jax.vmap(sampler.train, in_axes=(None, 0)))(jax.random.PRNGKey(0), eps)
    principal = np.asarray(metrics["principal_return"][:, -5:]).mean(axis=1)
    # The trend of RP Fig. 2: the principal loses as the slack grows (16.2 -> 3.7 measured).
    assert principal[0] > principal[-1] + 5.0, principal

    deviation = dataclasses.replace(PPO, lr=0.01, ent_coef=0.0, update_epochs=4)
    probe = AdversarialSampler(
        dataclasses.replace(config, eval_episodes=512, deviation_ppo=deviation),
        setup.env,
        setup.params,
    )
    estimate = jax.jit(jax.vmap(lambda r: probe.estimate_regret(r, jax.random.PRNGKey(1), 120)))(
        state.runner
    )
    game = GridMarkovGame(tragedy_tables(4), horizon=T, moves=setup.env.moves)
    exact_regrets = []
    for j in range(len(eps)):
        actor = jax.tree_util.tree_map(lambda x, j=j: x[j], state.runner.params.actor)
        policies = cell_policies(sampler, actor, T)
        exact = regrets(game, policies)
        mc = np.asarray(estimate.regret[j], np.float64)
        half = 1.96 * np.asarray(estimate.regret_stderr[j], np.float64)
        ok = (np.abs(mc - exact.regrets) <= 0.1 * exact.regrets) | (
            np.abs(mc - exact.regrets) <= half
        )
        assert np.all(ok), (float(eps[j]), mc, exact.regrets, half)
        exact_regrets.append(exact.regrets)
        for i in range(sampler.num_agents):
            dev = jax.tree_util.tree_map(lambda x, i=i, j=j: x[j, i], estimate.deviation_actor)
            swapped = policies.copy()
            swapped[i] = cell_policies(sampler, dev, T)[i]
            gain = evaluate(game, swapped).values[i] - exact.values[i]
            assert abs(mc[i] - gain) <= max(half[i], 0.02 * abs(gain)), (i, mc[i], gain, half[i])
    # The exact regret grows with the slack.
    mean_regret = np.mean(exact_regrets, axis=1)
    assert np.all(np.diff(mean_regret) >= -0.1), mean_regret


def test_kl_radius_bounds_the_realised_deviation_kl() -> None:
    """D15: with a radius, every deviation ends within it; without, the same updates leave it."""
    deviation = dataclasses.replace(PPO, lr=0.05, ent_coef=0.0, update_epochs=4)
    free = _sampler(deviation_ppo=deviation, deviation_updates=6)
    bounded = _sampler(deviation_ppo=deviation, deviation_updates=6, kl_radius=0.02)
    runner = free.init(jax.random.PRNGKey(0), 0.0).runner
    key = jax.random.PRNGKey(1)
    loose = np.asarray(jax.jit(free.estimate_regret)(runner, key).deviation_kl)
    tight = np.asarray(jax.jit(bounded.estimate_regret)(runner, key).deviation_kl)
    assert np.all(loose > 0.02), loose  # the bound binds
    assert np.all(tight <= 0.02 + 1e-6) and np.all(tight >= 0.0), tight
    with pytest.raises(ValueError, match="kl_radius: excludes fresh_deviation"):
        _sampler(kl_radius=0.1, fresh_deviation=True)
    with pytest.raises(ValueError, match="kl_radius: must be > 0"):
        _sampler(kl_radius=0.0)


def test_local_meta_deviation_is_a_short_own_reward_step_and_drives_the_meta_step() -> None:
    """``meta_deviation_updates``: a separate deviation per agent at the main learning rate.

    It changes only the deviating agent's slice, moves it less than the strong regret deviation
    (lr 0.01, 4 epochs, 10 updates) does, and the round's meta step then moves each agent by
    exactly ``-min(beta lambda, cap) (theta'_i - theta~_i)`` past the main update.
    """
    strong = dataclasses.replace(PPO, lr=0.01, update_epochs=4)
    fields = {"deviation_ppo": strong, "deviation_updates": 10, "meta_beta": 0.2,
              "meta_deviation_updates": 2, "meta_target": "snapshot_delta"}  # fmt: skip
    sampler = _sampler(**fields)
    state = sampler.init(jax.random.PRNGKey(0), 1.0)
    snap = state.runner
    local = jax.jit(sampler.meta_deviations)(snap, jax.random.PRNGKey(5))
    estimate = jax.jit(sampler.estimate_regret)(snap, jax.random.PRNGKey(5))

    def step_size(actors: Any, i: int) -> float:
        moved = jax.tree_util.tree_map(lambda d, s: d[i, i] - s[i], actors, snap.params.actor)
        return float(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(moved)) ** 0.5)

    for i in range(sampler.num_agents):
        dev = jax.tree_util.tree_map(lambda x, i=i: x[i], local)
        for k in range(sampler.num_players):
            mine = jax.tree_util.tree_map(lambda x, k=k: x[k], dev)
            before = jax.tree_util.tree_map(lambda x, k=k: x[k], snap.params.actor)
            assert (_digest(mine) == _digest(before)) == (k != i), (i, k)
        assert 0.0 < step_size(local, i) < 0.5 * step_size(estimate.deviation_actor, i)

    # The round applies the meta step to the main update with these local deviations.
    new_state, _ = jax.jit(sampler.round)(state)
    plain = _sampler(**{**fields, "meta_beta": 0.0})
    no_meta, _ = jax.jit(plain.round)(state)
    key = jax.random.fold_in(snap.eval_key, state.round)
    lam = new_state.lam
    expected = meta_step(
        no_meta.runner.params.actor,
        jax.jit(sampler.meta_deviations)(
            dataclasses.replace(snap, reward_params=Shaping(state.lam, jnp.bool_(True))),
            jax.random.fold_in(key, _META_STREAM),
        ),
        lam, 0.2, 2.0, snap.params.actor,
    )  # fmt: skip
    for got, want in zip(
        jax.tree_util.tree_leaves(new_state.runner.params.actor),
        jax.tree_util.tree_leaves(expected),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_exact_regret_mode_skips_a_meta_step_that_has_no_deviation() -> None:
    """Without deviations (exact regret) ERMAS's meta step is a no-op, not a stretched step."""
    setup = make_grid_game(f"tragedy-v0:episode_length={T}")

    def sampler(beta: float) -> AdversarialSampler:
        config = AdversarialSamplingConfig(ppo=PPO, main_updates=2, eval_episodes=4, meta_beta=beta)
        return AdversarialSampler(
            config, setup.env, setup.params, exact_regret=lambda r: jnp.full((2,), 0.5)
        )

    ermas, alg3 = sampler(0.2), sampler(0.0)
    state = ermas.init(jax.random.PRNGKey(0), 1.0)
    got, _ = jax.jit(ermas.round)(state)
    want, _ = jax.jit(alg3.round)(state)
    assert _digest(got.runner.params) == _digest(want.runner.params)
    assert _digest(got.runner.params) != _digest(state.runner.params)


def test_lambda_warmup_skips_the_first_dual_steps() -> None:
    """ERMAS footnote 4 (D18): no dual step in the first ``lambda_warmup_rounds`` rounds."""
    key = jax.random.PRNGKey(5)
    eps = -5.0  # far below any regret: every dual step raises lambda by about lr * 5
    lam = {}
    for warmup in (0, 2):
        sampler = _sampler(rounds=3, lambda_warmup_rounds=warmup, lambda_init=8.0, lambda_lr=0.1)
        _, metrics = jax.jit(sampler.train)(key, eps)
        lam[warmup] = np.asarray(metrics["lambda"])  # after each round, (rounds, agents)
        regret = np.asarray(metrics["regret"])
        np.testing.assert_allclose(lam[warmup][:warmup], 8.0)
        # The last round (past the warm-up in both runs) takes the projected ascent step.
        step = np.clip(lam[warmup][-2] + 0.1 * (regret[-1] - eps), 0.0, 100.0)
        np.testing.assert_allclose(lam[warmup][-1], step, rtol=1e-5)
    assert (lam[0][0] > 8.0).all()  # without a warm-up the first round already moves lambda

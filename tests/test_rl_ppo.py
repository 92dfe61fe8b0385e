"""PPO core: loss vs NumPy, config validation, learning on bandits, determinism, MAPPO, hooks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.bandit import ContextualBandit, SimplexBandit
from robustmas.envs.core import Box, Discrete, Simplex
from robustmas.rl.loop import run_updates
from robustmas.rl.networks import Actor, Critic, env_action, greedy_action, sample_action
from robustmas.rl.ppo import METRIC_NAMES, PPO, PPOConfig, ppo_loss
from tests.rl_helpers import JIT_OPTS

NUM_SEEDS = 4
BANDIT_CONFIG = PPOConfig(
    lr=3e-3,
    num_envs=16,
    num_steps=8,
    total_timesteps=16 * 8 * 40,
    update_epochs=4,
    num_minibatches=4,
    ent_coef=0.0,
    actor_hidden=(32,),
    critic_hidden=(32,),
    eval_every=10,
    eval_episodes=16,
)


def _seed_slice(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _greedy_expected_reward(trainer: PPO, actor_params, params) -> float:
    """Exact expected reward of the greedy policy on a ContextualBandit (uniform contexts)."""
    table = np.asarray(params.reward_table)
    contexts = jnp.eye(table.shape[0])
    actions = np.asarray(greedy_action(trainer.policy(actor_params, contexts), Discrete(3)))
    return float(table[np.arange(table.shape[0]), actions].mean())


@pytest.fixture(scope="module")
def bandit_run():
    env = ContextualBandit(num_contexts=3, num_arms=3)
    trainer = PPO(BANDIT_CONFIG, env)
    train = jax.jit(jax.vmap(trainer.train), compiler_options=JIT_OPTS)
    keys = jax.random.split(jax.random.PRNGKey(0), NUM_SEEDS)
    return env, trainer, train, keys, train(keys)


# --------------------------------------------------------------------------- loss


def _ppo_loss_numpy(logp, old_logp, adv, v, old_v, targets, ent, clip, vf, ec, clip_v, norm):
    logp, old_logp, adv, v, old_v, targets, ent = (
        np.asarray(a, np.float64) for a in (logp, old_logp, adv, v, old_v, targets, ent)
    )
    if norm:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    total_actor = 0.0
    for r_log, a in zip(logp - old_logp, adv, strict=True):
        r = np.exp(r_log)
        total_actor += -min(r * a, min(max(r, 1 - clip), 1 + clip) * a)
    actor = total_actor / len(adv)
    errs = []
    for vi, ovi, ti in zip(v, old_v, targets, strict=True):
        e = (vi - ti) ** 2
        if clip_v:
            vc = ovi + min(max(vi - ovi, -clip), clip)
            e = max(e, (vc - ti) ** 2)
        errs.append(e)
    value = 0.5 * np.mean(errs)
    return actor + vf * value - ec * ent.mean(), actor, value


@pytest.mark.parametrize(("clip_v", "norm"), [(True, True), (False, False), (True, False)])
def test_ppo_loss_matches_numpy(clip_v, norm):
    rng = np.random.default_rng(3)
    n = 12
    old_logp = rng.normal(size=n).astype(np.float32) - 1.0
    logp = (old_logp + rng.normal(scale=0.4, size=n)).astype(np.float32)  # ratios on both sides
    adv = rng.normal(size=n).astype(np.float32)
    old_v = rng.normal(size=n).astype(np.float32)
    v = (old_v + rng.normal(scale=0.5, size=n)).astype(np.float32)
    targets = rng.normal(size=n).astype(np.float32)
    ent = rng.random(n).astype(np.float32)
    terms = ppo_loss(
        logp,
        old_logp,
        adv,
        v,
        old_v,
        targets,
        ent,
        clip_eps=0.2,
        vf_coef=0.5,
        ent_coef=0.01,
        clip_value_loss=clip_v,
        normalize_advantages=norm,
    )
    total, actor, value = _ppo_loss_numpy(
        logp, old_logp, adv, v, old_v, targets, ent, 0.2, 0.5, 0.01, clip_v, norm
    )
    np.testing.assert_allclose(terms.actor, actor, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms.value, value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms.total, total, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms.entropy, ent.mean(), rtol=1e-6)
    ratio = np.exp(logp.astype(np.float64) - old_logp)
    np.testing.assert_allclose(terms.clip_frac, np.mean(np.abs(ratio - 1) > 0.2), rtol=1e-6)
    np.testing.assert_allclose(terms.approx_kl, np.mean(ratio - 1 - np.log(ratio)), atol=1e-5)


def test_ppo_loss_is_surrogate_at_ratio_one():
    # At the rollout policy the clipped objective is the plain advantage mean (here 0 after
    # normalisation), and its gradient w.r.t. log_prob is -normalised advantage / n.
    adv = jnp.array([1.0, -2.0, 3.0])
    old = jnp.zeros(3)

    def actor(lp):
        return ppo_loss(
            lp,
            old,
            adv,
            old,
            old,
            old,
            old,
            clip_eps=0.2,
            vf_coef=0.0,
            ent_coef=0.0,
            normalize_advantages=False,
        ).actor

    assert float(actor(old)) == pytest.approx(-2.0 / 3.0)
    np.testing.assert_allclose(jax.grad(actor)(old), -adv / 3.0, rtol=1e-6)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lr", 0.0),
        ("num_envs", 0),
        ("num_steps", -1),
        ("update_epochs", 0),
        ("num_minibatches", 3),  # does not divide 4 * 128
        ("total_timesteps", 10),  # less than one batch
        ("gamma", 1.5),
        ("gae_lambda", -0.1),
        ("clip_eps", 0.0),
        ("ent_coef", -1.0),
        ("vf_coef", -0.5),
        ("max_grad_norm", 0.0),
        ("actor_hidden", (64, 0)),
        ("critic_hidden", [64]),
        ("activation", "gelu"),
        ("eval_every", -1),
        ("eval_episodes", 0),
        ("eval_max_steps", 0),
        ("min_concentration", -1e-3),
        ("recurrent", "rnn"),
        ("recurrent_size", 0),
        ("parameter_sharing", 1),
        ("agent_id", "yes"),
    ],
)
def test_config_validation_names_field(field, value):
    with pytest.raises(ValueError, match=rf"PPOConfig\.{field}\b"):
        PPOConfig(**{field: value})


def test_config_derived_values_and_dict_round_trip():
    cfg = PPOConfig(num_envs=8, num_steps=16, total_timesteps=1000, num_minibatches=4)
    assert cfg.batch_size == 128
    assert cfg.num_updates == 7
    assert cfg.minibatch_size == 32
    assert PPOConfig.from_dict(cfg.to_dict()) == cfg
    as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.to_dict().items()}
    assert PPOConfig.from_dict(as_json) == cfg
    with pytest.raises(ValueError, match="unknown"):
        PPOConfig.from_dict({"learning_rate": 1.0})


# --------------------------------------------------------------------------- networks


def test_heads_per_action_space():
    key = jax.random.PRNGKey(0)
    x = jnp.ones((5, 3))
    for space, event in [(Discrete(4), ()), (Simplex(3), (3,)), (Box(-1.0, 1.0, (2,)), (2,))]:
        actor = Actor(space, hidden_sizes=(8,))

        def sample(key, x, actor=actor, space=space):
            dist = actor.apply(actor.init(key, x), x)
            mean = dist.mode() if isinstance(space, Discrete) else dist.mean()
            return (*sample_action(dist, key, space), greedy_action(dist, space), mean)

        action, logp, greedy, mean = jax.jit(sample, compiler_options=JIT_OPTS)(key, x)
        assert action.shape == greedy.shape == (5, *event)
        assert logp.shape == (5,)
        assert np.all(np.isfinite(logp))
        np.testing.assert_array_equal(greedy, mean)  # argmax for Discrete, else the mean
        if isinstance(space, Discrete):
            assert action.dtype == greedy.dtype == jnp.int32
        if isinstance(space, Simplex):
            np.testing.assert_allclose(action.sum(-1), 1.0, rtol=1e-5)
            np.testing.assert_allclose(greedy.sum(-1), 1.0, rtol=1e-5)
    box = Box(-1.0, 1.0, (2,))
    np.testing.assert_array_equal(env_action(jnp.array([-3.0, 0.5]), box), [-1.0, 0.5])
    critic = Critic(hidden_sizes=(8, 8))
    assert critic.apply(critic.init(key, x), x).shape == (5,)


# --------------------------------------------------------------------------- learning


def test_discrete_bandit_four_seeds_reach_optimum(bandit_run):
    env, trainer, _, _, out = bandit_run
    params = env.default_params()
    # Table rows: context c pays 1.0 on arm c and 0.1 * a elsewhere -> optimum 1.0 per step,
    # uniformly random play earns (1 + 0.1 + 0.2) / 3 ~= 0.43.
    optimum = env.optimal_return(params)
    assert optimum == pytest.approx(1.0)
    num_updates = BANDIT_CONFIG.num_updates
    for name in METRIC_NAMES:
        assert out.metrics[name].shape == (NUM_SEEDS, num_updates), name
    np.testing.assert_array_equal(out.metrics["update"][0], np.arange(1, num_updates + 1))
    for seed in range(NUM_SEEDS):
        actor = _seed_slice(out.params.actor, seed)
        assert _greedy_expected_reward(trainer, actor, params) >= 0.95 * optimum
    evals = np.asarray(out.metrics["eval_return"])
    every = BANDIT_CONFIG.eval_every
    assert np.all(np.isnan(np.delete(evals, np.s_[every - 1 :: every], axis=1)))
    assert np.all(evals[:, -1] >= 0.95 * optimum - 0.1)  # noisy rewards (std 0.1, 16 episodes)
    late = np.asarray(out.metrics["episode_return"])[:, -5:]
    assert np.all(late.mean(axis=1) >= 0.9 * optimum)
    early = np.asarray(out.metrics["episode_return"])[:, 0]
    assert np.all(early < 0.7)  # it did learn


def test_determinism(bandit_run):
    _, _, train, keys, out = bandit_run
    again = train(keys)
    for a, b in zip(
        jax.tree_util.tree_leaves(out.params), jax.tree_util.tree_leaves(again.params), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    kernel = np.asarray(out.params.actor["params"]["head"]["kernel"])
    for i in range(1, NUM_SEEDS):
        assert not np.array_equal(kernel[0], kernel[i])
    other = train(jax.random.split(jax.random.PRNGKey(1), NUM_SEEDS))
    assert not np.array_equal(kernel, other.params.actor["params"]["head"]["kernel"])


def test_simplex_bandit_dirichlet_head():
    env = SimplexBandit(num_arms=3)
    params = env.default_params()
    np.testing.assert_allclose(params.payoffs, [0.2, 1.0, 0.5])
    cfg = PPOConfig(
        lr=1e-2,
        num_envs=16,
        num_steps=4,
        total_timesteps=16 * 4 * 40,
        update_epochs=4,
        num_minibatches=2,
        ent_coef=0.0,
        actor_hidden=(16,),
        critic_hidden=(16,),
        eval_every=20,
        eval_episodes=8,
    )
    trainer = PPO(cfg, env, params)
    out = jax.jit(jax.vmap(trainer.train), compiler_options=JIT_OPTS)(
        jax.random.split(jax.random.PRNGKey(2), 2)
    )
    for seed in range(2):
        dist = trainer.policy(_seed_slice(out.params.actor, seed), jnp.ones((1,)))
        strategy = np.asarray(greedy_action(dist, Simplex(3)))
        np.testing.assert_allclose(strategy.sum(), 1.0, rtol=1e-5)
        assert strategy[1] > 0.8, strategy
    assert np.all(np.isfinite(out.metrics["loss"]))


def test_centralized_critic_uses_critic_observation():
    env = ContextualBandit(num_contexts=3, num_arms=3)
    params = env.default_params()
    cfg = PPOConfig(**{**BANDIT_CONFIG.to_dict(), "centralized_critic": True})
    trainer = PPO(cfg, env, params)
    out = jax.jit(jax.vmap(trainer.train), compiler_options=JIT_OPTS)(
        jax.random.split(jax.random.PRNGKey(4), 2)
    )
    critic_dim = env.critic_observation_space(params).shape[0]
    actor_dim = env.observation_space(params).shape[0]
    assert (critic_dim, actor_dim) == (6, 3)
    assert out.params.critic["params"]["torso"]["hidden_0"]["kernel"].shape[1] == critic_dim
    assert out.params.actor["params"]["torso"]["hidden_0"]["kernel"].shape[1] == actor_dim
    for seed in range(2):
        actor = _seed_slice(out.params.actor, seed)
        assert _greedy_expected_reward(trainer, actor, params) >= 0.95 * env.optimal_return(params)
    # The critic sees the expected rewards of the context, so it fits the values well.
    assert np.all(np.asarray(out.metrics["value_loss"])[:, -5:].mean(axis=1) < 0.05)


def test_hooks_reward_fn_initial_params_and_progress():
    env = ContextualBandit(num_contexts=3, num_arms=3)
    params = env.default_params()
    updates_seen: list[int] = []

    def progress(update, metrics):
        assert set(metrics) >= {"loss", "episode_return"}
        updates_seen.append(int(update))

    def reward_fn(step, reward_params):
        # Learn from a reshaped reward: scaled by reward_params (here -1: minimise the table).
        return reward_params * step.info["expected_reward"]

    cfg = PPOConfig(**{**BANDIT_CONFIG.to_dict(), "progress": True, "total_timesteps": 16 * 8 * 20})
    trainer = PPO(cfg, env, params, reward_fn=reward_fn, progress_fn=progress)
    train = jax.jit(trainer.train, compiler_options=JIT_OPTS)
    out = train(jax.random.PRNGKey(5), reward_params=jnp.float32(-1.0))
    jax.effects_barrier()
    assert updates_seen == list(range(1, cfg.num_updates + 1))
    actions = greedy_action(trainer.policy(out.params.actor, jnp.eye(3)), Discrete(3))
    np.testing.assert_array_equal(actions, [1, 0, 0])  # the arm with the smallest payoff
    np.testing.assert_allclose(out.metrics["reward"][-1], -0.05, atol=0.05)  # learning reward
    assert float(out.metrics["episode_return"][-1]) < 0.2  # logged return is the env reward
    # Initial parameters: init copies them (and a fresh optimizer state starts from them).
    state = jax.jit(trainer.init, compiler_options=JIT_OPTS)(
        jax.random.PRNGKey(9), params=out.params
    )
    for a, b in zip(
        jax.tree_util.tree_leaves(state.params), jax.tree_util.tree_leaves(out.params), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    # Evaluating the copied greedy policy gives the minimum expected reward (+ noise).
    evaluate = jax.jit(trainer.evaluate, compiler_options=JIT_OPTS)
    assert float(evaluate(state.params.actor, jax.random.PRNGKey(0))) < 0.2


def test_frozen_single_agent_does_not_learn():
    env = ContextualBandit(num_contexts=3, num_arms=3)
    trainer = PPO(BANDIT_CONFIG, env)
    init = jax.jit(trainer.init, compiler_options=JIT_OPTS)
    chunk = jax.jit(trainer.update_chunk, static_argnums=1, compiler_options=JIT_OPTS)
    start = init(jax.random.PRNGKey(3), trainable=jnp.array([False]))
    end, metrics = chunk(start, 2)
    for a, b in zip(
        jax.tree_util.tree_leaves((start.params, start.opt_state)),
        jax.tree_util.tree_leaves((end.params, end.opt_state)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert set(metrics) == set(METRIC_NAMES)  # no per-agent metrics for one agent
    assert trainer.metric_names == METRIC_NAMES
    assert end.carry is None


# --------------------------------------------------------------------------- chunking


def _equal(a, b) -> None:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.slow  # CI time: compiles three chunk programs
def test_chunk_with_remainder_is_one_masked_program():
    """A chunk of 7 with evaluations every 5 = chunks of 5 + 2 = chunks of 3 + 4 (the evaluation
    schedule counts updates over the whole run), and a traced ``active`` gives the same numbers
    from a longer program."""
    config = PPOConfig(**{**BANDIT_CONFIG.to_dict(), "eval_every": 5})
    trainer = PPO(config, ContextualBandit(num_contexts=3, num_arms=3))
    start = jax.jit(trainer.init, compiler_options=JIT_OPTS)(jax.random.PRNGKey(5))
    chunk = jax.jit(trainer.update_chunk, static_argnums=1, compiler_options=JIT_OPTS)
    whole, metrics = chunk(start, 7)
    middle, first = chunk(start, 5)
    end, second = chunk(middle, 2)
    _equal(whole, end)
    _equal(metrics, {k: jnp.concatenate([first[k], second[k]]) for k in first})
    assert np.isnan(metrics["eval_return"]).tolist() == [True] * 4 + [False, True, True]
    np.testing.assert_array_equal(metrics["update"], np.arange(1, 8))
    middle, first = chunk(start, 3)  # the evaluation after update 5 falls in the second chunk
    end, second = chunk(middle, 4)
    _equal(whole, end)
    _equal(metrics, {k: jnp.concatenate([first[k], second[k]]) for k in first})

    masked = jax.jit(
        lambda s, active: run_updates(trainer, s, 10, active=active), compiler_options=JIT_OPTS
    )
    short, padded = masked(start, jnp.int32(7))
    _equal(short, whole)
    _equal({k: v[:7] for k, v in padded.items()}, metrics)
    np.testing.assert_array_equal(padded["update"][7:], 0)  # masked tail: padding only
    assert np.isnan(padded["loss"][7:]).all() and np.isnan(padded["eval_return"][7:]).all()
    rest, _ = masked(short, jnp.int32(0))  # nothing active: state untouched
    _equal(rest, short)

    # One copy of the update in the program (a separate remainder scan would double XLA's
    # compile time): as many loops in a 7-update chunk as in a 5-update one.
    def loops(n: int) -> int:
        return (
            jax.jit(trainer.update_chunk, static_argnums=1)
            .lower(start, n)
            .as_text()
            .count("stablehlo.while")
        )

    assert loops(7) == loops(5)


def test_chunk_without_evaluations_masks_too():
    config = PPOConfig(**{**BANDIT_CONFIG.to_dict(), "eval_every": 0})
    trainer = PPO(config, ContextualBandit(num_contexts=3, num_arms=3))
    start = jax.jit(trainer.init, compiler_options=JIT_OPTS)(jax.random.PRNGKey(6))
    whole, metrics = jax.jit(trainer.update_chunk, static_argnums=1, compiler_options=JIT_OPTS)(
        start, 3
    )
    masked = jax.jit(lambda s, a: run_updates(trainer, s, 4, active=a), compiler_options=JIT_OPTS)
    short, padded = masked(start, jnp.int32(3))
    _equal(short, whole)
    _equal({k: v[:3] for k, v in padded.items()}, metrics)
    assert np.isnan(metrics["eval_return"]).all()
    with pytest.raises(ValueError, match="num_updates"):
        trainer.update_chunk(start, -1)
    assert trainer.update_chunk(start, 0)[1]["loss"].shape == (0,)

"""Multi-agent PPO: IPPO (shared / separate parameters), MAPPO, frozen agents, per-agent rewards.

Known values: in the prisoner's dilemma defection is strictly dominant, so IPPO must reach the
equilibrium (D, D) with payoff exactly 1 per agent; in a common-payoff coordination game with a
payoff-dominant (and risk-dominant) diagonal entry MAPPO must reach it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.repeated_matrix import RepeatedMatrixGame
from robustmas.games.normal_form import NormalFormGame
from robustmas.rl.ppo import AGENT_METRIC_NAMES, METRIC_NAMES, PPO, PPOConfig, ppo_loss
from tests.rl_helpers import JIT_OPTS, resume_round_trip, trees_equal

NUM_SEEDS = 4
# Row player's prisoner's dilemma payoffs, actions (C, D): D earns 5 > 3 against C, 1 > 0 vs D.
PD_ROW = np.array([[3.0, 0.0], [5.0, 1.0]])
PD = NormalFormGame(np.stack([PD_ROW, PD_ROW.T]))
MA_CONFIG = PPOConfig(
    lr=1e-2,
    num_envs=8,
    num_steps=4,
    total_timesteps=8 * 4 * 30,
    update_epochs=2,
    num_minibatches=2,
    ent_coef=0.0,
    actor_hidden=(16,),
    critic_hidden=(16,),
    eval_every=10,
    eval_episodes=4,
)


def _config(**overrides) -> PPOConfig:
    return PPOConfig(**{**MA_CONFIG.to_dict(), **overrides})


def _seed(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _first_stage_probs(trainer: PPO, actor_params) -> np.ndarray:
    """Each agent's action probabilities at the first stage (observation all zeros), (n, m)."""
    env = trainer.env
    n, obs = env.num_agents, jnp.zeros((env.num_agents, env.observation_space(None).shape[0]))
    if trainer.separate_params:
        probs = [trainer.policy(_seed(actor_params, i), obs[i]).probs for i in range(n)]
        return np.stack([np.asarray(p) for p in probs])
    x = jnp.concatenate([obs, jnp.eye(n)], axis=1) if trainer.config.agent_id else obs
    return np.asarray(trainer.policy(actor_params, x).probs)


@pytest.fixture(scope="module", params=["shared", "separate"])
def pd_run(request):
    env = RepeatedMatrixGame(PD, episode_length=1)
    trainer = PPO(_config(parameter_sharing=request.param == "shared"), env)
    train = jax.jit(jax.vmap(trainer.train), compiler_options=JIT_OPTS)
    keys = jax.random.split(jax.random.PRNGKey(0), NUM_SEEDS)
    return trainer, train, keys, train(keys)


def test_ippo_prisoners_dilemma_reaches_dominant_equilibrium(pd_run):
    trainer, _, _, out = pd_run
    n = 2
    for name in METRIC_NAMES:
        assert out.metrics[name].shape == (NUM_SEEDS, MA_CONFIG.num_updates), name
    for name in AGENT_METRIC_NAMES:
        assert out.metrics[name].shape == (NUM_SEEDS, MA_CONFIG.num_updates, n), name
    if trainer.separate_params:
        kernel = out.params.actor["params"]["head"]["kernel"]
        assert kernel.shape == (NUM_SEEDS, n, 16, 2)
    for seed in range(NUM_SEEDS):
        probs = _first_stage_probs(trainer, _seed(out.params.actor, seed))
        assert np.all(probs.argmax(axis=1) == 1), probs  # both agents defect greedily
        assert np.all(probs[:, 1] >= 0.95), probs
        # Exact expected payoffs under the learned mixed strategies: with P(C) <= 0.05 each they
        # lie in [0.95 * 1, 1 + 0.05 * 4] = [0.95, 1.2] around the equilibrium payoff 1.
        expected = np.einsum("iab,a,b->i", PD.payoffs, probs[0], probs[1])
        assert np.all((expected >= 0.95) & (expected <= 1.2)), expected
    # Greedy play is (D, D): exactly 1 per agent, and the sampled returns are close to it.
    np.testing.assert_array_equal(out.metrics["eval_return"][:, -1], 1.0)
    np.testing.assert_array_equal(out.metrics["agent_eval_return"][:, -1], 1.0)
    late = np.asarray(out.metrics["agent_episode_return"])[:, -5:].mean(axis=1)
    assert np.all((late >= 0.9) & (late <= 1.25)), late
    early = np.asarray(out.metrics["episode_return"])[:, 0]
    assert np.all(early > 1.5)  # near-uniform start earns (3 + 0 + 5 + 1) / 4 = 2.25: it learned
    np.testing.assert_allclose(
        out.metrics["episode_return"], np.asarray(out.metrics["agent_episode_return"]).mean(-1)
    )
    evaluate = jax.jit(trainer.evaluate_agents, compiler_options=JIT_OPTS)
    np.testing.assert_array_equal(evaluate(_seed(out.params.actor, 0), jax.random.PRNGKey(3)), 1)


def test_multiagent_determinism_and_seeds_differ(pd_run):
    _, train, keys, out = pd_run
    again = train(keys)
    assert trees_equal(out.runner_state, again.runner_state)
    assert trees_equal(out.metrics, again.metrics)
    kernel = np.asarray(out.params.actor["params"]["head"]["kernel"])
    assert not np.array_equal(kernel[0], kernel[1])


@pytest.mark.parametrize("sharing", [True, False])
def test_mappo_coordination_reaches_payoff_dominant_outcome(sharing):
    # Common payoff diag(1, 0.5): (0, 0) is payoff- and risk-dominant.  Two stages, so the
    # centralised critic (previous joint action + time) has state to read.  Measured: 64/64
    # seeds for each mode; a 3-action diag(1, 0.6, 0.3) variant failed 2/32 seeds with sharing.
    common = np.diag([1.0, 0.5])
    env = RepeatedMatrixGame(NormalFormGame(np.stack([common, common])), episode_length=2)
    cfg = _config(
        num_envs=16,
        total_timesteps=16 * 4 * 30,
        centralized_critic=True,
        parameter_sharing=sharing,
        eval_every=30,
    )
    trainer = PPO(cfg, env)
    out = jax.jit(jax.vmap(trainer.train), compiler_options=JIT_OPTS)(
        jax.random.split(jax.random.PRNGKey(1), NUM_SEEDS)
    )
    critic_kernel = out.params.critic["params"]["torso"]["hidden_0"]["kernel"]
    critic_in = 4 + 1 + (2 if sharing else 0)  # joint action one-hot, time (+ agent id)
    assert critic_kernel.shape[-2] == critic_in
    np.testing.assert_array_equal(out.metrics["eval_return"][:, -1], 2.0)
    assert np.all(np.asarray(out.metrics["episode_return"])[:, -3:].mean(axis=1) >= 1.8)


def test_per_agent_reward_fn():
    # reward_params = (1, -1): agent 0 maximises its payoff (D is dominant), agent 1 minimises
    # its own (C is dominant for that), so greedy play is (D, C) with env payoffs (5, 0).
    env = RepeatedMatrixGame(PD, episode_length=1)

    def reward_fn(step, reward_params):
        assert step.reward.shape == (2,)
        return reward_params * step.reward

    trainer = PPO(_config(parameter_sharing=False), env, reward_fn=reward_fn)
    out = jax.jit(trainer.train, compiler_options=JIT_OPTS)(
        jax.random.PRNGKey(2), reward_params=jnp.array([1.0, -1.0])
    )
    np.testing.assert_array_equal(out.metrics["agent_eval_return"][-1], [5.0, 0.0])
    probs = _first_stage_probs(trainer, out.params.actor)
    np.testing.assert_array_equal(probs.argmax(axis=1), [1, 0])


def test_frozen_agent_is_bit_identical_separate_parameters():
    env = RepeatedMatrixGame(PD, episode_length=1)
    trainer = PPO(_config(parameter_sharing=False), env)
    init = jax.jit(trainer.init, compiler_options=JIT_OPTS)
    chunk = jax.jit(trainer.update_chunk, static_argnums=1, compiler_options=JIT_OPTS)
    start = init(jax.random.PRNGKey(4), trainable=jnp.array([False, True]))
    np.testing.assert_array_equal(start.trainable, [False, True])
    end, _ = chunk(start, 5)
    for tree_start, tree_end in [(start.params, end.params), (start.opt_state, end.opt_state)]:
        assert trees_equal(_seed(tree_start, 0), _seed(tree_end, 0))
        changed = [
            not np.array_equal(a, b)
            for a, b in zip(
                jax.tree_util.tree_leaves(_seed(tree_start, 1)),
                jax.tree_util.tree_leaves(_seed(tree_end, 1)),
                strict=True,
            )
        ]
        assert any(changed)
    # Unfreezing between chunks: agent 0 learns again.
    later, _ = chunk(end.replace(trainable=jnp.array([True, True])), 2)
    assert not trees_equal(_seed(end.params, 0), _seed(later.params, 0))


def test_frozen_agents_shared_parameters():
    env = RepeatedMatrixGame(PD, episode_length=1)
    trainer = PPO(_config(), env)
    init = jax.jit(trainer.init, compiler_options=JIT_OPTS)
    chunk = jax.jit(trainer.update_chunk, static_argnums=1, compiler_options=JIT_OPTS)
    start = init(jax.random.PRNGKey(5), trainable=jnp.array([False, False]))
    end, _ = chunk(start, 3)
    assert trees_equal(start.params, end.params)
    assert trees_equal(start.opt_state, end.opt_state)
    end, _ = chunk(start.replace(trainable=jnp.array([False, True])), 3)
    assert not trees_equal(start.params, end.params)
    with pytest.raises(ValueError, match="trainable"):
        trainer.init(jax.random.PRNGKey(0), trainable=jnp.ones(3, bool))


def test_weighted_ppo_loss_equals_loss_on_selected_samples():
    rng = np.random.default_rng(0)
    n = 10
    data = [rng.normal(size=n).astype(np.float32) for _ in range(7)]
    data[1] = data[0] + rng.normal(scale=0.3, size=n).astype(np.float32)
    data[6] = np.abs(data[6])
    keep = np.array([1, 0, 1, 1, 0, 1, 1, 0, 1, 1], bool)
    kwargs = {"clip_eps": 0.2, "vf_coef": 0.5, "ent_coef": 0.01}
    weighted = ppo_loss(*data, weight=keep.astype(np.float32), **kwargs)
    subset = ppo_loss(*(x[keep] for x in data), **kwargs)
    for a, b in zip(weighted, subset, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    zero = ppo_loss(*data, weight=np.zeros(n, np.float32), **kwargs)
    assert float(zero.total) == 0.0


def test_multiagent_resume_from_disk_equals_uninterrupted(tmp_path):
    env = RepeatedMatrixGame(PD, episode_length=3)
    cfg = _config(parameter_sharing=False, centralized_critic=True, total_timesteps=8 * 4 * 8)
    trainer = PPO(cfg, env)
    key = jax.random.PRNGKey(6)
    _, resumed = resume_round_trip(trainer, key, tmp_path, 4)
    assert set(resumed) == set(METRIC_NAMES) | set(AGENT_METRIC_NAMES)


@pytest.mark.parametrize("sharing", [pytest.param(False, marks=pytest.mark.slow), True])  # CI time
def test_learner_entropy_weights(sharing: bool) -> None:
    """Per-learner entropy weights: equal weights train as ``ent_coef`` does; raising one
    learner's weight changes only that learner (separate parameters), and a wrong count or a
    negative weight is named."""
    env = RepeatedMatrixGame(PD, episode_length=1)

    def run(**overrides):
        trainer = PPO(_config(parameter_sharing=sharing, **overrides), env)
        runner = jax.jit(trainer.init)(jax.random.PRNGKey(7))
        return jax.jit(trainer.update_chunk, static_argnums=1)(runner, 3)[0].params

    plain = run(ent_coef=0.5)
    same = run(ent_coef=0.0, learner_ent_coef=(0.5, 0.5))
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(same), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    if not sharing:
        base = run(ent_coef=0.0, learner_ent_coef=(0.0, 0.0))
        one = run(ent_coef=0.0, learner_ent_coef=(0.0, 5.0))
        assert trees_equal(_seed(base, 0), _seed(one, 0))
        assert not trees_equal(_seed(base, 1), _seed(one, 1))
    with pytest.raises(ValueError, match="learner_ent_coef"):
        PPO(_config(parameter_sharing=sharing, learner_ent_coef=(0.1,)), env)
    with pytest.raises(ValueError, match="learner_ent_coef"):
        _config(learner_ent_coef=(0.1, -1.0))

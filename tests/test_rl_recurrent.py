"""Recurrent (GRU / LSTM) PPO: memory task, replay of the rollout, determinism, resume.

Known values: in :class:`~robustmas.envs.bandit.CueMemory` with two cues a memoryless policy
earns exactly 0.5 per episode in expectation (its greedy policy exactly 0.5); remembering the cue
earns 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.bandit import CueMemory
from robustmas.envs.repeated_matrix import RepeatedMatrixGame
from robustmas.games.normal_form import NormalFormGame
from robustmas.rl.networks import greedy_action
from robustmas.rl.policy import Batch
from robustmas.rl.ppo import PPO, PPOConfig, RecurrentCarry
from tests.rl_helpers import JIT_OPTS, resume_round_trip, trees_equal

NUM_SEEDS = 4
UPDATES = 30
MEMORY_CONFIG = PPOConfig(
    lr=1e-2,
    num_envs=16,
    num_steps=8,
    total_timesteps=16 * 8 * UPDATES,
    update_epochs=4,
    num_minibatches=4,
    ent_coef=0.0,
    actor_hidden=(16,),
    critic_hidden=(16,),
    recurrent_size=16,
    eval_every=UPDATES,
    eval_episodes=32,
)


def _config(**overrides) -> PPOConfig:
    return PPOConfig(**{**MEMORY_CONFIG.to_dict(), **overrides})


def _seed(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _exact_greedy_return(trainer: PPO, actor_params) -> float:
    """Expected greedy return on CueMemory(2): both cues played out exactly (uniform cue)."""
    first = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # cue shown
    second = jnp.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])  # recall step: same for both cues
    if trainer.recurrent:
        carry = trainer.initial_carry((2,))
        carry, _ = trainer.policy_step(actor_params, carry, first, jnp.ones(2, bool))
        _, dist = trainer.policy_step(actor_params, carry, second, jnp.zeros(2, bool))
    else:
        dist = trainer.policy(actor_params, second)
    actions = np.asarray(greedy_action(dist, trainer.action_space))
    return float(np.mean(actions == np.arange(2)))


@pytest.fixture(scope="module", params=["gru", "lstm", "none"])
def memory_run(request):
    trainer = PPO(_config(recurrent=request.param), CueMemory(2))
    train = jax.jit(jax.vmap(trainer.train), compiler_options=JIT_OPTS)
    keys = jax.random.split(jax.random.PRNGKey(0), NUM_SEEDS)
    return trainer, train, keys, train(keys)


def test_memory_task_needs_recurrence(memory_run):
    trainer, _, _, out = memory_run
    exact = [_exact_greedy_return(trainer, _seed(out.params.actor, s)) for s in range(NUM_SEEDS)]
    late = np.asarray(out.metrics["episode_return"])[:, -5:].mean(axis=1)
    evals = np.asarray(out.metrics["eval_return"])[:, -1]
    if trainer.recurrent:
        assert min(exact) >= 0.95, exact
        assert np.all(evals >= 0.95), evals
        assert np.all(late >= 0.9), late
    else:
        # Memoryless: the greedy policy earns exactly 0.5; sampled returns average 0.5 (over
        # ~320 episodes here, std <= 0.03).
        assert max(exact) <= 0.5 + 1e-6, exact
        assert np.all(late <= 0.6), late


def test_recurrent_shapes_and_determinism(memory_run):
    trainer, train, keys, out = memory_run
    if not trainer.recurrent:
        assert out.runner_state.carry is None
        return
    carry = out.runner_state.carry
    assert isinstance(carry, RecurrentCarry)
    for leaf in jax.tree_util.tree_leaves(carry):
        assert leaf.shape == (NUM_SEEDS, MEMORY_CONFIG.num_envs, MEMORY_CONFIG.recurrent_size)
    assert len(jax.tree_util.tree_leaves(carry.actor)) == (
        2 if trainer.config.recurrent == "lstm" else 1
    )
    assert out.runner_state.episode_start.shape == (NUM_SEEDS, MEMORY_CONFIG.num_envs)
    again = train(keys)
    assert trees_equal(out.runner_state, again.runner_state)
    assert trees_equal(out.metrics, again.metrics)
    assert not np.array_equal(*jax.tree_util.tree_leaves(carry.actor)[0][:2])


@pytest.mark.parametrize("memory_run", ["gru", "lstm"], indirect=True)  # MLPs replay nothing
def test_update_replays_rollout_from_stored_carry(memory_run):
    # After training the carry is non-zero at the rollout start and the 8-step rollout crosses
    # episode boundaries (2-step episodes): replaying the sequences from the stored first carry
    # with the stored reset flags must reproduce the rollout's log-probs and values.
    trainer, _, _, out = memory_run
    assert trainer.recurrent

    def rollout_and_replay(runner):
        first = runner.carry
        runner, traj, _ = trainer._rollout(runner, jax.random.PRNGKey(4))
        value = traj.value
        batch = Batch(
            traj.obs, traj.critic_obs, traj.action, traj.log_prob, value, value, value,
            traj.reset, None,
        )  # fmt: skip
        log_prob, _, value = trainer.networks.replay(runner.params, batch, first)
        return traj, log_prob, value, first

    replay = jax.jit(rollout_and_replay, compiler_options=JIT_OPTS)
    traj, log_prob, value, first = replay(_seed(out.runner_state, 0))
    assert np.any(np.asarray(traj.reset)[1:]) and np.any(np.asarray(traj.done))
    assert np.any(np.abs(np.asarray(jax.tree_util.tree_leaves(first)[0])) > 1e-3)
    np.testing.assert_allclose(log_prob, traj.log_prob, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(value, traj.value, rtol=1e-5, atol=1e-5)


def test_recurrent_resume_from_disk_equals_uninterrupted(tmp_path):
    cfg = _config(recurrent="lstm", total_timesteps=16 * 8 * 6, eval_every=3, eval_episodes=4)
    trainer = PPO(cfg, CueMemory(2))
    key = jax.random.PRNGKey(7)
    state, _ = resume_round_trip(trainer, key, tmp_path, 3)
    assert int(state.update_step) == 6


@pytest.mark.parametrize("sharing", [True, pytest.param(False, marks=pytest.mark.slow)])  # CI time
def test_recurrent_multi_agent_short_run(sharing):
    row = np.array([[3.0, 0.0], [5.0, 1.0]])
    env = RepeatedMatrixGame(NormalFormGame(np.stack([row, row.T])), episode_length=3)
    cfg = _config(
        recurrent="gru",
        recurrent_size=8,
        num_envs=4,
        num_steps=6,
        total_timesteps=4 * 6 * 3,
        update_epochs=2,
        num_minibatches=2 if not sharing else 4,  # 4 envs, x 2 agents with sharing
        parameter_sharing=sharing,
        centralized_critic=True,
        eval_every=3 if sharing else 0,
        eval_episodes=4,
    )
    trainer = PPO(cfg, env)
    out = jax.jit(trainer.train, compiler_options=JIT_OPTS)(jax.random.PRNGKey(8))
    for leaf in jax.tree_util.tree_leaves(out.runner_state.carry):
        assert leaf.shape == (4, 2, 8)
    kernel = out.params.actor["params"]["head"]["kernel"]
    assert kernel.shape == ((8, 2) if sharing else (2, 8, 2))
    for name in ("loss", "agent_episode_return"):
        assert np.all(np.isfinite(np.asarray(out.metrics[name])[-1])), name
    assert out.metrics["agent_episode_return"].shape == (3, 2)
    if sharing:
        # Greedy returns (all agents greedy, own carries) are sums of three stage payoffs.
        assert np.all(np.isfinite(np.asarray(out.metrics["agent_eval_return"])[-1]))
        assert 0.0 <= float(out.metrics["eval_return"][-1]) <= 15.0


def test_recurrent_minibatches_must_split_sequences():
    env = CueMemory(2)
    with pytest.raises(ValueError, match=r"PPOConfig\.num_minibatches.*num_envs = 6"):
        PPO(_config(recurrent="gru", num_envs=6, total_timesteps=6 * 8 * 2), env)
    PPO(_config(recurrent="none", num_envs=6, total_timesteps=6 * 8 * 2), env)  # MLP: fine
    row = np.zeros((2, 2))
    game = RepeatedMatrixGame(NormalFormGame(np.stack([row, row])))
    shared = _config(recurrent="gru", num_envs=2, total_timesteps=2 * 8 * 2)
    PPO(shared, game)  # 2 envs x 2 agents = 4 sequences
    with pytest.raises(ValueError, match=r"PPOConfig\.num_minibatches.*num_envs = 2"):
        PPO(PPOConfig(**{**shared.to_dict(), "parameter_sharing": False}), game)


def test_mlp_only_helpers_refuse_a_recurrent_actor():
    trainer = PPO(_config(recurrent="gru"), CueMemory(2))
    with pytest.raises(ValueError, match="recurrent; use policy_step"):
        trainer.policy({}, jnp.zeros((1, 3)))
    with pytest.raises(ValueError, match="MLP; use policy"):
        PPO(_config(), CueMemory(2)).policy_step({}, None, jnp.zeros((1, 3)), jnp.ones(1, bool))

"""What a PPO run carries and returns: runner state, transitions for reward hooks, metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
from flax import struct

from robustmas.rl.policy import ActorCriticParams

__all__ = [
    "AGENT_METRIC_NAMES",
    "EVAL_METRIC_NAMES",
    "METRIC_NAMES",
    "RecurrentCarry",
    "RewardFn",
    "RunnerState",
    "StepData",
    "TrainOutput",
]


@struct.dataclass
class RecurrentCarry:
    """Hidden states of a recurrent actor and critic (zeros: :meth:`PPO.initial_carry`).

    Each is an array ``(..., recurrent_size)`` (GRU) or a pair ``(c, h)`` of them (LSTM).
    """

    actor: Any
    """Carry of the :class:`~robustmas.rl.networks.RecurrentActor`."""
    critic: Any
    """Carry of the :class:`~robustmas.rl.networks.RecurrentCritic`."""


@struct.dataclass
class RunnerState:
    """Everything a run needs to continue; a pytree (and the unit of checkpointing)."""

    params: ActorCriticParams
    """Actor and critic parameters."""
    opt_state: Any
    """Optax state (includes the step count that drives the learning-rate schedule)."""
    env_state: Any
    """Batched environment state, leading axis ``num_envs``."""
    obs: jax.Array
    """Current flattened observations, shape ``(num_envs, obs_dim)``, or ``(num_envs, num_agents,
    obs_dim)`` for a multi-agent environment (without the agent id of ``config.agent_id``)."""
    episode_return: jax.Array
    """Env reward accumulated in each environment's current episode, shape ``(num_envs,)`` or
    ``(num_envs, num_agents)``."""
    key: jax.Array
    """Raw (uint32) PRNG key of the training stream."""
    eval_key: jax.Array
    """Raw PRNG key from which evaluation keys are folded (never advanced)."""
    update_step: jax.Array
    """Updates done so far (int32 scalar)."""
    reward_params: Any
    """Data for ``reward_fn`` (``None`` by default)."""
    env_params: Any
    """Environment parameters used for training and evaluation."""
    trainable: jax.Array
    """Which agents are updated, shape ``(num_agents,)`` bool (all true by default); see
    :mod:`robustmas.rl.multiagent` for what freezing means with and without parameter sharing."""
    carry: Any
    """Recurrent networks: the :class:`RecurrentCarry` *before* ``obs`` is processed, leaves of
    shape ``(num_envs, recurrent_size)`` or ``(num_envs, num_agents, recurrent_size)`` (an LSTM
    carry is a pair of them); ``None`` for MLPs."""
    episode_start: jax.Array
    """Whether ``obs`` starts a new episode (the previous step's ``done``; true after
    :meth:`PPO.init`), shape ``(num_envs,)``.  Recurrent carries are reset to zeros there."""


class StepData(NamedTuple):
    """One single-environment transition, as seen by ``reward_fn``.

    For a multi-agent environment ``obs``, ``action`` and ``reward`` carry a leading agent axis
    (``(num_agents, obs_dim)``, ``(num_agents, *action_shape)``, ``(num_agents,)``) and
    ``reward_fn`` must return one reward per agent, shape ``(num_agents,)``.
    """

    obs: jax.Array
    """Flattened actor observation before the step (without the agent id)."""
    state: Any
    """Environment state before the step."""
    action: jax.Array
    """Action in the environment's coordinates."""
    reward: jax.Array
    """Environment reward (per agent)."""
    done: jax.Array
    """Whether the step ended the episode (shared by all agents)."""
    info: dict[str, Any]
    """The environment's info dictionary."""


RewardFn = Callable[[StepData, Any], jax.Array]
"""``reward_fn(step, reward_params) -> reward`` used for learning (see the module docstring)."""


class TrainOutput(NamedTuple):
    """Result of :meth:`PPO.train`."""

    params: ActorCriticParams
    """Final parameters."""
    metrics: dict[str, jax.Array]
    """Per-update metrics, see :data:`METRIC_NAMES`."""
    runner_state: RunnerState
    """Final runner state (to continue training or checkpoint)."""


METRIC_NAMES: tuple[str, ...] = (
    "update",
    "episode_return",
    "episodes",
    "reward",
    "loss",
    "actor_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_frac",
    "eval_return",
)
"""Keys of the metrics dictionary.  ``update``: 1-based global update index; ``episode_return``:
mean env return of the episodes completed during the rollout (NaN if none); ``episodes``: their
number; ``reward``: mean reward used for learning (after ``reward_fn``); loss terms: means over
epochs and minibatches (and agents, with separate parameters) (:class:`LossTerms`);
``eval_return``: mean greedy return over ``eval_episodes`` episodes (NaN when no evaluation ran
after this update).  For a multi-agent environment the returns are also averaged over agents
(one episode = all agents' episode, so ``episodes`` counts environment episodes)."""

AGENT_METRIC_NAMES: tuple[str, ...] = ("agent_episode_return", "agent_eval_return")
"""Extra metrics of multi-agent runs only, shape ``(num_updates, num_agents)``: the per-agent
versions of ``episode_return`` and ``eval_return`` (whose agent mean those are)."""

EVAL_METRIC_NAMES: tuple[str, ...] = ("eval_return", "agent_eval_return")
"""Metrics filled by the greedy evaluation (:func:`~robustmas.rl.loop.run_updates`)."""

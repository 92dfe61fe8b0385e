"""Proximal policy optimisation, single- and multi-agent, fully in JAX (PureJaxRL style).

Schulman et al., 2017, *Proximal Policy Optimization Algorithms*: the clipped surrogate (Eq. 7)
and the combined actor-critic loss with entropy bonus (Eq. 9).

With ``centralized_critic=True`` the critic reads ``env.critic_observation(state)`` instead of
the actor's observation: MAPPO (Yu et al., 2022, *The surprising effectiveness of PPO in
cooperative multi-agent games*), e.g. for the single leader of the Stackelberg POMDP paper.

Multi-agent environments (``env.num_agents = n > 1``, conventions in :mod:`robustmas.envs.core`:
stacked observations ``(n, ...)``, actions ``(n, ...)``, rewards ``(n,)``, one shared ``done``)
are trained by independent PPO learners on their own rewards -- IPPO (de Witt et al., 2020,
*Is independent learning all you need in the StarCraft multi-agent challenge?*) -- or, with
``centralized_critic=True``, by MAPPO, where every agent's critic reads the global
``critic_observation`` (+ the agent id under sharing).  ``config.parameter_sharing`` chooses:

* **shared parameters** (default) -- one actor and one critic; the batch is environments x
  agents (a rollout has ``num_envs * n`` trajectories) and ``config.agent_id`` appends the
  one-hot agent index to both networks' inputs;
* **separate parameters** -- every parameter leaf has a leading agent axis and the networks
  are applied with ``jax.vmap``; each agent has its own optimizer state (Adam moments, step
  count, gradient clipping) and its own minibatch permutation, i.e. ``n`` independent updates.

GAE runs per (environment, agent) with the shared ``done``.  Metrics average returns over agents
(:data:`METRIC_NAMES`) and also report them per agent (:data:`AGENT_METRIC_NAMES`).

Recurrent policies (``config.recurrent = "gru" | "lstm"``): actor and critic are ``MLP torso ->
GRU / LSTM cell -> head`` (:class:`~robustmas.rl.networks.RecurrentActor`); their carries live in
:attr:`RunnerState.carry` and are reset to zeros where an observation starts an episode (the
previous step's ``done``, :attr:`RunnerState.episode_start`).  The update replays each rollout
sequence from the carry stored before the rollout with the stored reset flags (no truncated
"burn-in"; before the first gradient step the replay reproduces the rollout's log-probabilities
and values), and its minibatches hold whole sequences: ``num_minibatches`` must divide the
number of sequences (``num_envs``, times ``n`` with parameter sharing).  Evaluation starts each
episode from a zero carry and carries it through the episode.

Usage::

    trainer = PPO(config, env, env_params)
    out = jax.jit(jax.vmap(trainer.train))(jax.random.split(key, 10))   # 10 seeds, one call
    out.params.actor, out.metrics["episode_return"]                    # (10, ...), (10, U)

``make_train(config, env, env_params)`` returns ``trainer.train`` for the plain
``make_train(config) -> train(key)`` pattern.

Everything is pure: :meth:`PPO.init`, :meth:`PPO.update_chunk`, :meth:`PPO.train` and
:meth:`PPO.evaluate` can be jitted and vmapped (``num_updates`` of ``update_chunk`` must be
static: ``jax.jit(trainer.update_chunk, static_argnums=1)``).

Hooks for the robust algorithms built on top of this core:

* **Reward reshaping** -- ``reward_fn(step, reward_params) -> reward`` is applied to every
  single-environment transition (a :class:`StepData`: observation, state before the step, env
  action, env reward, done, info) before GAE; for ``n`` agents it returns the ``(n,)`` rewards
  each agent learns from.  ``reward_params`` is a pytree carried in
  :class:`RunnerState` (set by ``init(..., reward_params=...)`` or ``runner_state.replace``), so
  a caller can change it between chunks without recompiling -- e.g. the Lagrange multiplier of
  the robust-principal papers' reward ``(lambda u_i - u_0) / (1 + lambda)`` updated by dual
  ascent between chunks.  Default: the env reward.  Logged episode returns always use the env
  reward.
* **Frozen agents** -- :attr:`RunnerState.trainable` (``(n,)`` bool, ``init(...,
  trainable=...)``, or ``runner_state.replace`` between chunks) marks the agents that learn.
  With separate parameters a frozen agent's parameters *and* optimizer state are left exactly
  as they were (its update is computed and discarded; the others' updates do not depend on
  it).  With parameter sharing a frozen agent's transitions get weight 0 in the loss
  (``ppo_loss(..., weight=...)``), so the shared network learns only from the trainable agents
  (it may still change the frozen agents' behaviour through generalisation); if no agent is
  trainable nothing changes.  A frozen agent keeps acting with its current policy.  A
  single-agent run with ``trainable=[False]`` does not learn.
* **Initial parameters** -- ``init(key, params=...)`` starts from given actor/critic
  parameters (a fresh optimizer state), e.g. to copy a policy and train a deviation from it;
  with separate parameters, agent ``i``'s set is ``tree_map(lambda x: x[i], params)``, so one
  agent's parameters can be replaced by a copy (``x.at[i].set(...)``) before training it alone.
* **Several policy sets side by side** -- ``jax.vmap`` over ``init`` / ``update_chunk`` /
  ``train`` with stacked ``params`` (and keys, ``reward_params``, ``env_params``,
  ``trainable``) trains independent populations in one compiled call.
* **Environment parameters as data** -- ``env_params`` lives in :class:`RunnerState`;
  ``init(key, env_params=...)`` overrides the default given to the constructor, so one compiled
  trainer vmaps over game instances or evaluates against unseen agent types.
* **Chunked training and resume** -- ``train(key) = update_chunk(init(key), num_updates)``.  A
  caller may instead run ``update_chunk`` repeatedly, checkpoint the :class:`RunnerState`
  between chunks (:mod:`robustmas.rl.checkpoint`) and resume.  The training key stream, the
  update counter and the learning-rate schedule all live in the runner state and evaluation
  draws its keys from a separate stream, so the chunking does not change the computation: a
  resumed run is bit-identical to the same run without the interruption, and (single seed) to
  one monolithic ``train``.  Under ``vmap``, ``train`` keeps per-run scalars such as the Adam
  step count unbatched while a vmapped ``update_chunk`` on a stored state sees them batched;
  XLA may then round differently in the last ulp, so compare vmapped runs chunk for chunk.
* **Progress** -- with ``config.progress`` each update calls a host callback
  (``jax.debug.callback``) ``progress_fn(update, metrics)`` with the 1-based update index and
  that update's scalar metrics; under ``vmap`` it is called once per seed.

Metrics: ``update_chunk`` and ``train`` return a flat ``dict[str, Array]`` with one entry per
update (shape ``(num_updates,)``, a leading seed axis under ``vmap``); see :data:`METRIC_NAMES`.
``eval_return`` is NaN except after every ``eval_every``-th update *of the chunk* (chunk sizes
that are multiples of ``eval_every`` keep a global schedule); ``episode_return`` is NaN for
updates whose rollout completed no episode.

With ``n == 1`` and ``recurrent == "none"`` nothing has an agent axis and the computation is the
plain single-agent PPO.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import distrax
import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.typing import ArrayLike

from robustmas.envs.core import Environment, step_autoreset
from robustmas.rl.gae import gae
from robustmas.rl.networks import (
    ACTIVATIONS,
    RECURRENT_CELLS,
    Actor,
    Critic,
    RecurrentActor,
    RecurrentCritic,
    env_action,
    greedy_action,
    initial_carry,
    sample_action,
)

__all__ = [
    "AGENT_METRIC_NAMES",
    "METRIC_NAMES",
    "PPO",
    "ActorCriticParams",
    "LossTerms",
    "PPOConfig",
    "RecurrentCarry",
    "RewardFn",
    "RunnerState",
    "StepData",
    "TrainOutput",
    "make_train",
    "ppo_loss",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of :class:`PPO`; defaults follow CleanRL / PureJaxRL."""

    lr: float = 2.5e-4
    """Adam learning rate (initial value when ``anneal_lr``)."""
    num_envs: int = 4
    """Parallel environments per seed."""
    num_steps: int = 128
    """Steps per environment in each rollout."""
    total_timesteps: int = 500_000
    """Environment steps per seed over the whole run (rounded down to whole updates)."""
    update_epochs: int = 4
    """Passes over each rollout batch."""
    num_minibatches: int = 4
    """Minibatches per epoch; must divide ``num_envs * num_steps``."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE mixing parameter."""
    clip_eps: float = 0.2
    """Clipping range of the probability ratio (and of the value update)."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0, stepwise once per update."""
    normalize_advantages: bool = True
    """Standardise advantages within each minibatch."""
    clip_value_loss: bool = True
    """Use the clipped value loss ``max((v - R)^2, (v_clip - R)^2)``."""
    actor_hidden: tuple[int, ...] = (64, 64)
    """Hidden-layer widths of the actor."""
    critic_hidden: tuple[int, ...] = (64, 64)
    """Hidden-layer widths of the critic."""
    activation: str = "tanh"
    """Hidden activation: ``"tanh"`` or ``"relu"``."""
    min_concentration: float = 1e-2
    """Floor of the Dirichlet concentrations of ``Simplex`` actions."""
    centralized_critic: bool = False
    """Critic input = ``env.critic_observation(state)`` instead of the actor's observation."""
    eval_every: int = 10
    """Updates between greedy evaluations (0 disables them)."""
    eval_episodes: int = 8
    """Episodes per greedy evaluation, run in parallel."""
    eval_max_steps: int = 1000
    """Step cap of an evaluation episode (returns of unfinished episodes are partial)."""
    progress: bool = False
    """Call the host progress callback after every update."""
    parameter_sharing: bool = True
    """Multi-agent environments only: one actor and one critic shared by all agents (the batch is
    environments x agents) if true, else separate parameters per agent (a leading agent axis on
    every parameter leaf, applied with ``jax.vmap``; each agent then has its own optimizer state,
    gradient clipping and minibatch permutation: independent learners)."""
    agent_id: bool = True
    """With parameter sharing (multi-agent only), append the one-hot agent index to the actor's
    and the critic's inputs so that the shared networks can tell the agents apart."""
    recurrent: str = "none"
    """``"none"`` (MLP actor and critic), ``"gru"`` or ``"lstm"`` (``torso -> cell -> head``
    actor and critic whose hidden state is carried across steps and reset at episode starts)."""
    recurrent_size: int = 64
    """Features of the recurrent cell (unused when ``recurrent == "none"``)."""

    def __post_init__(self) -> None:
        positive_ints = (
            "num_envs",
            "num_steps",
            "total_timesteps",
            "update_epochs",
            "num_minibatches",
            "eval_episodes",
            "eval_max_steps",
            "recurrent_size",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"PPOConfig.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ValueError(f"PPOConfig.eval_every must be >= 0, got {self.eval_every!r}")
        for name in ("lr", "clip_eps", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("ent_coef", "vf_coef", "min_concentration"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"PPOConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"PPOConfig.{name} must lie in [0, 1], got {getattr(self, name)!r}"
                )
        for name in ("actor_hidden", "critic_hidden"):
            sizes = getattr(self, name)
            if not isinstance(sizes, tuple) or not all(
                isinstance(s, int) and s >= 1 for s in sizes
            ):
                raise ValueError(
                    f"PPOConfig.{name} must be a tuple of positive integers, got {sizes!r}"
                )
        for name in ("parameter_sharing", "agent_id", "anneal_lr", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"PPOConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.recurrent not in ("none", *RECURRENT_CELLS):
            raise ValueError(
                f"PPOConfig.recurrent must be one of {['none', *RECURRENT_CELLS]}, "
                f"got {self.recurrent!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"PPOConfig.activation must be one of {sorted(ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"PPOConfig.num_minibatches ({self.num_minibatches}) must divide "
                f"num_envs * num_steps ({self.batch_size})"
            )
        if self.total_timesteps < self.batch_size:
            raise ValueError(
                f"PPOConfig.total_timesteps ({self.total_timesteps}) must be at least "
                f"num_envs * num_steps ({self.batch_size})"
            )

    @property
    def batch_size(self) -> int:
        """Transitions per rollout: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in a full run: ``total_timesteps // batch_size``."""
        return self.total_timesteps // self.batch_size

    @property
    def minibatch_size(self) -> int:
        """Transitions per minibatch: ``batch_size // num_minibatches``."""
        return self.batch_size // self.num_minibatches

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary of the fields."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PPOConfig:
        """Inverse of :meth:`to_dict` (lists become tuples); unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown PPOConfig fields: {unknown}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)


@struct.dataclass
class ActorCriticParams:
    """Parameters of the two networks."""

    actor: Any
    """Flax variables of the :class:`~robustmas.rl.networks.Actor`."""
    critic: Any
    """Flax variables of the :class:`~robustmas.rl.networks.Critic`."""


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
    :class:`PPO` for what freezing means with and without parameter sharing."""
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

ProgressFn = Callable[[Any, Any], None]
"""Host callback ``progress_fn(update, metrics)``; receives NumPy values."""


class LossTerms(NamedTuple):
    """Terms of the PPO loss (all scalars)."""

    total: jax.Array
    """``actor + vf_coef * value - ent_coef * entropy``."""
    actor: jax.Array
    """Clipped surrogate loss (to minimise)."""
    value: jax.Array
    """Value loss ``0.5 * mean(squared error)`` (clipped if configured)."""
    entropy: jax.Array
    """Mean policy entropy."""
    approx_kl: jax.Array
    """Estimate ``mean((r - 1) - log r)`` of ``KL(old || new)``."""
    clip_frac: jax.Array
    """Fraction of samples with ``|r - 1| > clip_eps``."""


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

_EVAL_METRICS = ("eval_return", "agent_eval_return")
"""Metrics that :meth:`PPO.update_chunk` adds (one update's metrics lack them)."""


def ppo_loss(
    log_prob: ArrayLike,
    old_log_prob: ArrayLike,
    advantages: ArrayLike,
    value: ArrayLike,
    old_value: ArrayLike,
    targets: ArrayLike,
    entropy: ArrayLike,
    *,
    clip_eps: float,
    vf_coef: float,
    ent_coef: float,
    clip_value_loss: bool = True,
    normalize_advantages: bool = True,
    weight: ArrayLike | None = None,
) -> LossTerms:
    """The PPO loss on a minibatch of per-sample quantities.

    Args:
        log_prob: log-probabilities of the taken actions under the current policy, ``(B,)``.
        old_log_prob: the same under the rollout policy, ``(B,)``.
        advantages: advantage estimates, ``(B,)``.
        value: current value estimates, ``(B,)``.
        old_value: value estimates at rollout time, ``(B,)``.
        targets: value targets (returns), ``(B,)``.
        entropy: per-sample policy entropies, ``(B,)``.
        clip_eps: ratio (and value) clipping range.
        vf_coef: value-loss weight.
        ent_coef: entropy-bonus weight.
        clip_value_loss: clip the value update around ``old_value``.
        normalize_advantages: standardise ``advantages`` (mean 0, std 1, eps 1e-8).
        weight: optional non-negative sample weights, shape ``(B,)``; every mean (including the
            advantage mean and standard deviation) becomes the weighted mean
            ``sum(w x) / sum(w)`` (0 when all weights are 0).  With 0/1 weights the terms equal
            those of the unweighted loss on the selected samples; PPO uses them to drop frozen
            agents' transitions under parameter sharing.

    Any shape works for the per-sample inputs as long as all agree; means run over all entries.

    Returns:
        The :class:`LossTerms`; ``total`` is what is minimised.

    """
    log_prob, old_log_prob, advantages, value, old_value, targets, entropy = (
        jnp.asarray(x)
        for x in (log_prob, old_log_prob, advantages, value, old_value, targets, entropy)
    )
    w = None
    if weight is not None:
        w = jnp.asarray(weight, advantages.dtype)
        w_sum = w.sum()
        w = w / jnp.where(w_sum > 0, w_sum, 1.0)

    def mean(x: jax.Array) -> jax.Array:
        return x.mean() if w is None else jnp.sum(w * x)

    if normalize_advantages:
        if w is None:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        else:
            centred = advantages - mean(advantages)
            advantages = centred / (jnp.sqrt(mean(jnp.square(centred))) + 1e-8)
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    surrogate = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    actor_loss = -mean(jnp.minimum(surrogate, clipped))

    value_err = jnp.square(value - targets)
    if clip_value_loss:
        value_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        value_err = jnp.maximum(value_err, jnp.square(value_clipped - targets))
    value_loss = 0.5 * mean(value_err)

    entropy_mean = mean(entropy)
    total = actor_loss + vf_coef * value_loss - ent_coef * entropy_mean
    return LossTerms(
        total=total,
        actor=actor_loss,
        value=value_loss,
        entropy=entropy_mean,
        approx_kl=mean((ratio - 1.0) - log_ratio),
        clip_frac=mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)),
    )


class _Transition(NamedTuple):
    obs: jax.Array
    critic_obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    finished_return: jax.Array
    reset: jax.Array


class _Batch(NamedTuple):
    obs: jax.Array
    critic_obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantages: jax.Array
    targets: jax.Array
    reset: jax.Array
    weight: jax.Array | None


def _identity_reward(step: StepData, reward_params: Any) -> jax.Array:
    return step.reward


def _log_progress(update: Any, metrics: Any) -> None:
    _log.info(
        "update %d: episode_return=%.4g loss=%.4g",
        int(update),
        metrics["episode_return"],
        metrics["loss"],
    )


def _raw_key(key: jax.Array) -> jax.Array:
    """Raw uint32 key data (typed keys cannot be serialised)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


def _flatten(x: jax.Array, batch_dims: int) -> jax.Array:
    return jnp.reshape(x, (*x.shape[:batch_dims], -1)).astype(jnp.float32)


def _expand(flags: jax.Array, like: jax.Array) -> jax.Array:
    """``flags`` with trailing unit axes so that it broadcasts against ``like``."""
    return jnp.reshape(flags, flags.shape + (1,) * (like.ndim - flags.ndim))


def _select(keep: jax.Array, new: Any, old: Any) -> Any:
    """Leafwise ``where(keep, new, old)``; ``keep`` broadcasts along the leading axes."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(_expand(keep, a), a, b), new, old)


class PPO:
    """PPO / IPPO / MAPPO trainer for an environment of :mod:`robustmas.envs.core`.

    The instance only holds the configuration, environment and networks; all training state is
    in :class:`RunnerState`, and every method is a pure function of its arguments.

    Args:
        config: hyperparameters.
        env: the environment (any ``num_agents``; see the module docstring for the multi-agent
            conventions).
        env_params: default environment parameters (``env.default_params()`` if ``None``).
        reward_fn: reward reshaping hook (default: the env reward).
        progress_fn: host progress callback used when ``config.progress`` (default: log at
            INFO level).

    Raises:
        ValueError: with a recurrent network, if ``config.num_minibatches`` does not divide the
            number of sequences of a rollout.

    """

    def __init__(
        self,
        config: PPOConfig,
        env: Environment[Any, Any],
        env_params: Any = None,
        *,
        reward_fn: RewardFn | None = None,
        progress_fn: ProgressFn | None = None,
    ) -> None:
        num_agents = int(env.num_agents)
        if num_agents < 1:
            raise ValueError(f"env.num_agents must be >= 1, got {num_agents}")
        self.config = config
        self.env = env
        self.env_params = env.default_params() if env_params is None else env_params
        self.reward_fn: RewardFn = _identity_reward if reward_fn is None else reward_fn
        self.progress_fn: ProgressFn = _log_progress if progress_fn is None else progress_fn
        self.action_space = env.action_space(self.env_params)
        self.num_agents = num_agents
        """Agents of the environment."""
        self.multi_agent = num_agents > 1
        """Whether data carry an agent axis (``num_agents > 1``)."""
        self.separate_params = self.multi_agent and not config.parameter_sharing
        """Whether parameters carry a leading agent axis (multi-agent, no sharing)."""
        self.recurrent = config.recurrent != "none"
        """Whether actor and critic are recurrent."""
        self._agent_dims: tuple[int, ...] = (num_agents,) if self.multi_agent else ()
        self._add_agent_id = self.multi_agent and config.parameter_sharing and config.agent_id
        if self.recurrent:
            shared = self.multi_agent and config.parameter_sharing
            sequences = config.num_envs * (num_agents if shared else 1)
            if sequences % config.num_minibatches:
                what = "num_envs * num_agents" if shared else "num_envs"
                raise ValueError(
                    f"PPOConfig.num_minibatches ({config.num_minibatches}) must divide the "
                    f"number of sequences per rollout, {what} = {sequences}: recurrent "
                    "minibatches hold whole sequences"
                )
            self.actor: Any = RecurrentActor(
                action_space=self.action_space,
                hidden_sizes=config.actor_hidden,
                activation=config.activation,
                cell=config.recurrent,
                recurrent_size=config.recurrent_size,
                min_concentration=config.min_concentration,
            )
            self.critic: Any = RecurrentCritic(
                hidden_sizes=config.critic_hidden,
                activation=config.activation,
                cell=config.recurrent,
                recurrent_size=config.recurrent_size,
            )
        else:
            self.actor = Actor(
                action_space=self.action_space,
                hidden_sizes=config.actor_hidden,
                activation=config.activation,
                min_concentration=config.min_concentration,
            )
            self.critic = Critic(hidden_sizes=config.critic_hidden, activation=config.activation)
        self.optimizer = optax.chain(
            optax.clip_by_global_norm(config.max_grad_norm),
            optax.adam(self._learning_rate(), eps=1e-5),
        )

    def _learning_rate(self) -> float | optax.Schedule:
        cfg = self.config
        if not cfg.anneal_lr:
            return cfg.lr
        steps_per_update = cfg.update_epochs * cfg.num_minibatches

        def schedule(count: Any) -> Any:
            done_updates = count // steps_per_update
            return cfg.lr * jnp.maximum(1.0 - done_updates / cfg.num_updates, 0.0)

        return schedule

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Keys of this trainer's metrics: :data:`METRIC_NAMES` (+ :data:`AGENT_METRIC_NAMES`)."""
        return METRIC_NAMES + (AGENT_METRIC_NAMES if self.multi_agent else ())

    # ------------------------------------------------------------------ helpers

    def _units(self, flags: jax.Array) -> jax.Array:
        """Per-environment flags ``(..., num_envs)`` -> per unit ``(..., num_envs[, agents])``."""
        if not self.multi_agent:
            return flags
        return jnp.broadcast_to(flags[..., None], (*flags.shape, self.num_agents))

    def _with_agent_id(self, x: jax.Array) -> jax.Array:
        """Append the one-hot agent id to inputs ``(..., num_agents, d)`` if configured."""
        if not self._add_agent_id:
            return x
        n = self.num_agents
        ids = jnp.broadcast_to(jnp.eye(n, dtype=x.dtype), (*x.shape[:-1], n))
        return jnp.concatenate([x, ids], axis=-1)

    def _actor_input(self, obs: jax.Array) -> jax.Array:
        """Actor input from flattened observations ``(B[, agents], obs_dim)``."""
        return self._with_agent_id(obs) if self.multi_agent else obs

    def _critic_input(self, obs: jax.Array, env_state: Any, env_params: Any) -> jax.Array:
        """Critic input for a batch of environments (leading axis, then the agent axis)."""
        if self.config.centralized_critic:
            crit = jax.vmap(self.env.critic_observation, in_axes=(0, None))(env_state, env_params)
            x = _flatten(crit, 1)
            if self.multi_agent:
                x = jnp.broadcast_to(x[:, None, :], (x.shape[0], self.num_agents, x.shape[1]))
        else:
            x = obs
        return self._with_agent_id(x) if self.multi_agent else x

    def _per_agent(self, fn: Callable[..., Any], params: Any, *args: Any, axis: int) -> Any:
        """``fn(params, *args)``; with separate parameters vmapped over the agent axis.

        ``params`` then have a leading agent axis, ``args`` (and the outputs) have it at
        ``axis`` (``None`` carries of MLPs pass through).
        """
        if not self.separate_params:
            return fn(params, *args)
        return jax.vmap(fn, in_axes=(0, *([axis] * len(args))), out_axes=axis)(params, *args)

    def _actor_forward(
        self, actor_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, distrax.Distribution]:
        if self.recurrent:
            return cast(
                tuple[Any, distrax.Distribution], self.actor.apply(actor_params, carry, x, reset)
            )
        return carry, self.policy(actor_params, x)

    def _critic_forward(
        self, critic_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        if self.recurrent:
            return cast(tuple[Any, jax.Array], self.critic.apply(critic_params, carry, x, reset))
        return carry, self.value(critic_params, x)

    def _sample(
        self, actor_params: Any, key: jax.Array, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array, jax.Array]:
        """``(carry, action, log_prob)`` for a batch of units ``(B[, agents], d)``."""

        def one(p: Any, k: jax.Array, x: jax.Array, c: Any, r: jax.Array) -> Any:
            c, dist = self._actor_forward(p, x, c, r)
            return (c, *sample_action(dist, k, self.action_space))

        if self.separate_params:
            key = jax.random.split(key, self.num_agents)
            return jax.vmap(one, in_axes=(0, 0, 1, 1, 1), out_axes=1)(
                actor_params, key, x, carry, reset
            )
        return one(actor_params, key, x, carry, reset)

    def _greedy(
        self, actor_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        def one(p: Any, x: jax.Array, c: Any, r: jax.Array) -> Any:
            c, dist = self._actor_forward(p, x, c, r)
            return c, greedy_action(dist, self.action_space)

        return self._per_agent(one, actor_params, x, carry, reset, axis=1)

    def _values(
        self, critic_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        return self._per_agent(self._critic_forward, critic_params, x, carry, reset, axis=1)

    def _env_actions(self, action: jax.Array) -> jax.Array:
        """Policy-coordinate actions ``(B[, agents], ...)`` -> environment actions."""
        fn: Callable[[jax.Array], jax.Array] = lambda a: env_action(a, self.action_space)  # noqa: E731
        for _ in range(1 + len(self._agent_dims)):
            fn = jax.vmap(fn)
        return fn(action)

    def policy(self, actor_params: Any, obs: jax.Array) -> distrax.Distribution:
        """Action distribution of an MLP actor for flattened inputs ``obs``.

        ``actor_params`` is one parameter set (slice the agent axis of separate parameters);
        with parameter sharing and ``agent_id`` the inputs include the one-hot agent id.
        Recurrent actors use :meth:`policy_step`.
        """
        return cast(distrax.Distribution, self.actor.apply(actor_params, obs))

    def value(self, critic_params: Any, critic_obs: jax.Array) -> jax.Array:
        """State values of an MLP critic for flattened critic inputs ``critic_obs``."""
        return cast(jax.Array, self.critic.apply(critic_params, critic_obs))

    def policy_step(
        self, actor_params: Any, carry: Any, obs: jax.Array, reset: jax.Array
    ) -> tuple[Any, distrax.Distribution]:
        """One step of a recurrent actor: ``(carry, obs, reset) -> (carry, distribution)``.

        ``carry`` is the zero carry of :meth:`initial_carry` at an episode's first step (or
        pass ``reset=True`` there); ``reset`` has the batch shape of ``obs``.
        """
        return cast(
            tuple[Any, distrax.Distribution], self.actor.apply(actor_params, carry, obs, reset)
        )

    def initial_carry(self, batch_shape: tuple[int, ...]) -> Any:
        """Zero carry of one recurrent network for a batch of shape ``batch_shape``."""
        cfg = self.config
        return initial_carry(cfg.recurrent, cfg.recurrent_size, batch_shape)

    def _init_params(
        self, key_actor: jax.Array, key_critic: jax.Array, x: jax.Array, critic_x: jax.Array
    ) -> ActorCriticParams:
        """Fresh parameters from one environment's inputs ``([agents,] d)``."""
        if self.recurrent:
            zeros = self.initial_carry(())
            no = jnp.bool_(False)
            init_actor = lambda k, x: self.actor.init(k, zeros, x, no)  # noqa: E731
            init_critic = lambda k, x: self.critic.init(k, zeros, x, no)  # noqa: E731
        else:
            init_actor, init_critic = self.actor.init, self.critic.init
        if self.separate_params:
            n = self.num_agents
            return ActorCriticParams(
                actor=jax.vmap(init_actor)(jax.random.split(key_actor, n), x),
                critic=jax.vmap(init_critic)(jax.random.split(key_critic, n), critic_x),
            )
        if self.multi_agent:
            x, critic_x = x[0], critic_x[0]
        return ActorCriticParams(
            actor=init_actor(key_actor, x), critic=init_critic(key_critic, critic_x)
        )

    # ------------------------------------------------------------------ public API

    def init(
        self,
        key: jax.Array,
        params: ActorCriticParams | None = None,
        reward_params: Any = None,
        env_params: Any = None,
        trainable: ArrayLike | None = None,
    ) -> RunnerState:
        """Start a run: reset ``num_envs`` environments and initialise networks and optimizer.

        Args:
            key: PRNG key of the run (raw or typed).
            params: initial actor/critic parameters (fresh initialisation if ``None``); with
                separate per-agent parameters every leaf has a leading agent axis.
            reward_params: data for ``reward_fn``.
            env_params: environment parameters (the constructor's if ``None``); they must give
                the same observation and action spaces as the constructor's.
            trainable: which agents are updated, shape ``(num_agents,)`` bool (all if
                ``None``); stored in the runner state, so it may also be changed between chunks.

        Returns:
            The initial :class:`RunnerState`.

        """
        cfg = self.config
        env_params = self.env_params if env_params is None else env_params
        key_actor, key_critic, key_env, key_eval, key_run = jax.random.split(_raw_key(key), 5)
        env_keys = jax.random.split(key_env, cfg.num_envs)
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(env_keys, env_params)
        obs = _flatten(obs, 1 + len(self._agent_dims))
        if params is None:
            critic_obs = self._critic_input(obs, env_state, env_params)
            params = self._init_params(
                key_actor, key_critic, self._actor_input(obs)[0], critic_obs[0]
            )
        if self.separate_params:
            opt_state = jax.vmap(self.optimizer.init)(params)  # pyright: ignore[reportArgumentType]
        else:
            opt_state = self.optimizer.init(params)  # pyright: ignore[reportArgumentType]
        if trainable is None:
            trainable = jnp.ones((self.num_agents,), bool)
        trainable = jnp.asarray(trainable, bool)
        if trainable.shape != (self.num_agents,):
            raise ValueError(
                f"trainable must have shape ({self.num_agents},), got {trainable.shape}"
            )
        carry = None
        if self.recurrent:
            zeros = self.initial_carry((cfg.num_envs, *self._agent_dims))
            carry = RecurrentCarry(actor=zeros, critic=zeros)
        return RunnerState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            episode_return=jnp.zeros((cfg.num_envs, *self._agent_dims), jnp.float32),
            key=key_run,
            eval_key=key_eval,
            update_step=jnp.int32(0),
            reward_params=reward_params,
            env_params=env_params,
            trainable=trainable,
            carry=carry,
            episode_start=jnp.ones((cfg.num_envs,), bool),
        )

    def _eval_returns(self, actor_params: Any, key: jax.Array, env_params: Any) -> jax.Array:
        """Greedy returns of ``eval_episodes`` parallel episodes, shape ``(episodes[, agents])``."""
        cfg = self.config
        env_params = self.env_params if env_params is None else env_params
        key_reset, key_run = jax.random.split(_raw_key(key))
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, cfg.eval_episodes), env_params
        )
        units = (cfg.eval_episodes, *self._agent_dims)
        zeros = jnp.zeros(units, jnp.float32)
        done = jnp.zeros((cfg.eval_episodes,), bool)
        carry = self.initial_carry(units) if self.recurrent else None
        no_reset = jnp.zeros(units, bool)  # finished episodes are frozen, never restarted
        loop = (jnp.int32(0), obs, state, zeros, done, key_run, carry)

        def cond(c: tuple[Any, ...]) -> jax.Array:
            t, _, _, _, done, _, _ = c
            return (t < cfg.eval_max_steps) & ~jnp.all(done)

        def body(c: tuple[Any, ...]) -> tuple[Any, ...]:
            t, obs, state, ret, done, key, carry = c
            key, key_step = jax.random.split(key)
            x = self._actor_input(_flatten(obs, 1 + len(self._agent_dims)))
            carry, action = self._greedy(actor_params, x, carry, no_reset)
            action = self._env_actions(action)
            step = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))
            next_obs, next_state, reward, step_done, _ = step(
                jax.random.split(key_step, cfg.eval_episodes), state, action, env_params
            )
            ret = ret + jnp.where(_expand(done, reward), 0.0, reward)
            keep = lambda old, new: jnp.where(_expand(done, new), old, new)  # noqa: E731
            obs = keep(obs, next_obs)
            state = jax.tree_util.tree_map(keep, state, next_state)
            return t + 1, obs, state, ret, done | step_done, key, carry

        returns = jax.lax.while_loop(cond, body, loop)[3]
        return returns

    def evaluate(self, actor_params: Any, key: jax.Array, env_params: Any = None) -> jax.Array:
        """Mean greedy-policy return over ``eval_episodes`` parallel episodes (and agents).

        All agents act greedily.  Episodes run until all are done or ``eval_max_steps`` steps
        have passed; finished episodes are frozen.  Recurrent actors start from a zero carry.

        Args:
            actor_params: actor parameters (all agents').
            key: PRNG key.
            env_params: environment parameters (the constructor's if ``None``).

        Returns:
            Scalar mean return (env reward, undiscounted).

        """
        return self._eval_returns(actor_params, key, env_params).mean()

    def evaluate_agents(
        self, actor_params: Any, key: jax.Array, env_params: Any = None
    ) -> jax.Array:
        """Like :meth:`evaluate`, but per agent: shape ``(num_agents,)``."""
        returns = self._eval_returns(actor_params, key, env_params)
        return returns.mean(axis=0) if self.multi_agent else returns.mean()[None]

    def update_chunk(
        self, runner_state: RunnerState, num_updates: int, active: ArrayLike | None = None
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """Run ``num_updates`` PPO updates (rollout + optimisation each).

        Args:
            runner_state: state from :meth:`init`, a previous chunk or a checkpoint.
            num_updates: number of updates (static under ``jit``).
            active: run only the first ``active`` of them (an int or a traced scalar); the rest
                leave the state untouched and report padding (``update`` 0, floats NaN).  A
                non-static ``active`` lets one compiled program of ``num_updates`` serve every
                chunk of a run, the shorter last one included; the updates that do run are the
                same computations as without it.  Default: all.

        Returns:
            ``(runner_state, metrics)`` with metrics of shape ``(num_updates,)`` each
            (``(num_updates, num_agents)`` for :data:`AGENT_METRIC_NAMES`).

        Every ``config.eval_every`` updates a greedy evaluation fills ``eval_return`` (NaN
        elsewhere).  When ``num_updates`` is no multiple of ``eval_every``, the updates are
        scanned in whole blocks with the last one masked, so the program holds one copy of the
        update (a separate scan for the remainder would double XLA's compile time).
        """
        num_updates = int(num_updates)
        if num_updates < 0:
            raise ValueError(f"num_updates must be >= 0, got {num_updates}")
        if num_updates == 0:
            return runner_state, self._empty_metrics()
        every = self.config.eval_every
        n = self.num_agents
        if active is None and (every == 0 or num_updates % every == 0):
            limit = None  # every update runs: no masking at all
        else:
            limit = num_updates if active is None else jnp.minimum(active, num_updates)

        def updates(runner: RunnerState, first: Any, count: int) -> Any:
            """Updates at chunk positions ``first, ..., first + count - 1``."""
            if limit is None:
                return jax.lax.scan(self._update, runner, None, count)
            stop = limit

            def masked(runner: RunnerState, i: jax.Array) -> Any:
                return jax.lax.cond(i < stop, self._update, self._skipped_update, runner, None)

            return jax.lax.scan(masked, runner, first + jnp.arange(count))

        if every == 0:
            runner_state, metrics = updates(runner_state, 0, num_updates)
            metrics["eval_return"] = jnp.full((num_updates,), jnp.nan)
            if self.multi_agent:
                metrics["agent_eval_return"] = jnp.full((num_updates, n), jnp.nan)
            return runner_state, {k: metrics[k] for k in self.metric_names}

        def evaluate(runner: RunnerState) -> jax.Array:
            eval_key = jax.random.fold_in(runner.eval_key, runner.update_step)
            return self._eval_returns(runner.params.actor, eval_key, runner.env_params)

        def block(runner: RunnerState, b: jax.Array) -> tuple[RunnerState, dict[str, jax.Array]]:
            runner, metrics = updates(runner, b * every, every)
            if limit is None:
                returns = evaluate(runner)
            else:  # a block cut short by the mask has no evaluation, like a remainder
                shape = jax.eval_shape(evaluate, runner)
                nan = lambda _: jnp.full(shape.shape, jnp.nan, shape.dtype)  # noqa: E731
                returns = jax.lax.cond((b + 1) * every <= limit, evaluate, nan, runner)
            metrics["eval_return"] = jnp.full((every,), jnp.nan).at[-1].set(returns.mean())
            if self.multi_agent:
                metrics["agent_eval_return"] = (
                    jnp.full((every, n), jnp.nan).at[-1].set(returns.mean(axis=0))
                )
            return runner, metrics

        num_blocks = -(-num_updates // every)
        runner_state, metrics = jax.lax.scan(block, runner_state, jnp.arange(num_blocks))
        merged = {k: metrics[k].reshape((-1, *metrics[k].shape[2:])) for k in self.metric_names}
        return runner_state, {k: v[:num_updates] for k, v in merged.items()}

    def _skipped_update(
        self, runner: RunnerState, _: None
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """What a masked update returns: the state unchanged, padding metrics."""
        pad = self._metric_padding(())
        return runner, {k: v for k, v in pad.items() if k not in _EVAL_METRICS}

    def _empty_metrics(self) -> dict[str, jax.Array]:
        return self._metric_padding((0,))

    def _metric_padding(self, shape: tuple[int, ...]) -> dict[str, jax.Array]:
        """Every metric as padding (``update``/``episodes`` 0, the rest NaN), leading ``shape``.

        Built from the names, so a masked update costs no second trace of :meth:`_update`
        (that took ~0.45 s of an allocation chunk's ~1.3 s trace).
        """
        pad = {
            name: jnp.zeros(shape, jnp.int32)
            if name in ("update", "episodes")
            else jnp.full(shape, jnp.nan, jnp.float32)
            for name in METRIC_NAMES
        }
        if self.multi_agent:
            for name in AGENT_METRIC_NAMES:
                pad[name] = jnp.full((*shape, self.num_agents), jnp.nan, jnp.float32)
        return pad

    def train(
        self,
        key: jax.Array,
        params: ActorCriticParams | None = None,
        reward_params: Any = None,
        env_params: Any = None,
        trainable: ArrayLike | None = None,
    ) -> TrainOutput:
        """A full run: :meth:`init` then ``config.num_updates`` updates (same arguments)."""
        runner_state = self.init(key, params, reward_params, env_params, trainable)
        runner_state, metrics = self.update_chunk(runner_state, self.config.num_updates)
        return TrainOutput(params=runner_state.params, metrics=metrics, runner_state=runner_state)

    # ------------------------------------------------------------------ one update

    def _rollout(
        self, runner: RunnerState, key: jax.Array
    ) -> tuple[RunnerState, _Transition, jax.Array]:
        cfg = self.config
        env_params = runner.env_params
        params = runner.params
        batch_dims = 1 + len(self._agent_dims)

        def env_step(
            carry: tuple[Any, ...], step_key: jax.Array
        ) -> tuple[tuple[Any, ...], _Transition]:
            env_state, obs, ep_return, rnn, start = carry
            key_act, key_env = jax.random.split(step_key)
            critic_obs = self._critic_input(obs, env_state, env_params)
            actor_obs = self._actor_input(obs)
            reset = self._units(start)
            rnn_actor, action, log_prob = self._sample(
                params.actor, key_act, actor_obs, None if rnn is None else rnn.actor, reset
            )
            rnn_critic, value = self._values(
                params.critic, critic_obs, None if rnn is None else rnn.critic, reset
            )
            act = self._env_actions(action)
            step = jax.vmap(
                lambda k, s, a: step_autoreset(self.env, k, s, a, env_params), in_axes=(0, 0, 0)
            )
            next_obs, next_state, reward, done, info = step(
                jax.random.split(key_env, cfg.num_envs), env_state, act
            )
            reward = reward.astype(jnp.float32)
            data = StepData(
                obs=obs, state=env_state, action=act, reward=reward, done=done, info=info
            )
            learn_reward = jax.vmap(self.reward_fn, in_axes=(0, None))(data, runner.reward_params)
            ep_return = ep_return + reward
            unit_done = self._units(done)
            transition = _Transition(
                obs=actor_obs,
                critic_obs=critic_obs,
                action=action,
                log_prob=log_prob,
                value=value,
                reward=learn_reward.astype(jnp.float32),
                done=done,
                finished_return=jnp.where(unit_done, ep_return, 0.0),
                reset=start,
            )
            ep_return = jnp.where(unit_done, 0.0, ep_return)
            if rnn is not None:
                rnn = RecurrentCarry(actor=rnn_actor, critic=rnn_critic)
            next_carry = (next_state, _flatten(next_obs, batch_dims), ep_return, rnn, done)
            return next_carry, transition

        carry = (
            runner.env_state,
            runner.obs,
            runner.episode_return,
            runner.carry,
            runner.episode_start,
        )
        (env_state, obs, ep_return, rnn, start), traj = jax.lax.scan(
            env_step, carry, jax.random.split(key, cfg.num_steps)
        )
        last_critic_obs = self._critic_input(obs, env_state, env_params)
        runner = dataclasses.replace(
            runner,
            env_state=env_state,
            obs=obs,
            episode_return=ep_return,
            carry=rnn,
            episode_start=start,
        )
        return runner, traj, last_critic_obs

    def _replay(
        self, params: ActorCriticParams, batch: _Batch, carry: RecurrentCarry
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Recurrent networks over sequences ``(T, S, ...)`` from their first carries ``(S, ...)``.

        Returns ``(log_prob, entropy, value)`` of the stored actions, each ``(T, S)``.
        """

        def step(c: tuple[Any, Any], xs: tuple[jax.Array, ...]) -> tuple[tuple[Any, Any], Any]:
            c_actor, c_critic = c
            obs, critic_obs, action, reset = xs
            c_actor, dist = self._actor_forward(params.actor, obs, c_actor, reset)
            c_critic, value = self._critic_forward(params.critic, critic_obs, c_critic, reset)
            out = (jnp.asarray(dist.log_prob(action)), jnp.asarray(dist.entropy()), value)
            return (c_actor, c_critic), out

        xs = (batch.obs, batch.critic_obs, batch.action, batch.reset)
        _, (log_prob, entropy, value) = jax.lax.scan(step, (carry.actor, carry.critic), xs)
        return log_prob, entropy, value

    def _loss(self, params: ActorCriticParams, data: Any) -> tuple[jax.Array, LossTerms]:
        cfg = self.config
        if self.recurrent:
            batch, carry = cast(tuple[_Batch, RecurrentCarry], data)
            log_prob, entropy, value = self._replay(params, batch, carry)
        else:
            batch = cast(_Batch, data)
            dist = self.policy(params.actor, batch.obs)
            log_prob = jnp.asarray(dist.log_prob(batch.action))
            value = self.value(params.critic, batch.critic_obs)
            entropy = jnp.asarray(dist.entropy())
        terms = ppo_loss(
            log_prob,
            batch.log_prob,
            batch.advantages,
            value,
            batch.value,
            batch.targets,
            entropy,
            clip_eps=cfg.clip_eps,
            vf_coef=cfg.vf_coef,
            ent_coef=cfg.ent_coef,
            clip_value_loss=cfg.clip_value_loss,
            normalize_advantages=cfg.normalize_advantages,
            weight=batch.weight,
        )
        return terms.total, terms

    def _optimize(
        self, params: Any, opt_state: Any, batch: _Batch, carry: Any, key: jax.Array
    ) -> tuple[Any, Any, LossTerms]:
        """``update_epochs`` epochs of minibatch steps for one parameter set.

        ``batch`` leaves are ``(T, S, ...)`` for ``S`` parallel sequences and ``carry`` (the
        recurrent carries before the rollout, ``(S, ...)``) is used by recurrent networks only.
        MLPs shuffle single transitions; recurrent networks shuffle whole sequences.
        """
        cfg = self.config
        grad_fn = jax.grad(self._loss, has_aux=True)
        num_mb = cfg.num_minibatches

        # Optax types its pytrees as ArrayTree, which a flax struct is not: keep them as Any.
        def minibatch_step(c: tuple[Any, Any], mb: Any) -> tuple[tuple[Any, Any], LossTerms]:
            params, opt_state = c
            grads, terms = grad_fn(params, mb)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state), terms

        if self.recurrent:
            num_seq = batch.obs.shape[1]
            size = num_seq // num_mb

            def epoch(
                c: tuple[Any, Any], epoch_key: jax.Array
            ) -> tuple[tuple[Any, Any], LossTerms]:
                perm = jax.random.permutation(epoch_key, num_seq)
                seqs = jax.tree_util.tree_map(
                    lambda x: jnp.moveaxis(
                        x[:, perm].reshape((x.shape[0], num_mb, size, *x.shape[2:])), 1, 0
                    ),
                    batch,
                )
                first = jax.tree_util.tree_map(
                    lambda x: x[perm].reshape((num_mb, size, *x.shape[1:])), carry
                )
                return jax.lax.scan(minibatch_step, c, (seqs, first))

        else:
            total = batch.obs.shape[0] * batch.obs.shape[1]
            flat = jax.tree_util.tree_map(lambda x: x.reshape((total, *x.shape[2:])), batch)

            def epoch(
                c: tuple[Any, Any], epoch_key: jax.Array
            ) -> tuple[tuple[Any, Any], LossTerms]:
                perm = jax.random.permutation(epoch_key, total)
                shuffled = jax.tree_util.tree_map(
                    lambda x: x[perm].reshape((num_mb, total // num_mb, *x.shape[1:])), flat
                )
                return jax.lax.scan(minibatch_step, c, shuffled)

        (params, opt_state), terms = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, cfg.update_epochs)
        )
        return params, opt_state, terms

    def _update(self, runner: RunnerState, _: None) -> tuple[RunnerState, dict[str, jax.Array]]:
        cfg = self.config
        n = self.num_agents
        key, key_rollout, key_epochs = jax.random.split(runner.key, 3)
        first_carry = runner.carry
        runner, traj, last_critic_obs = self._rollout(runner, key_rollout)
        _, last_value = self._values(
            runner.params.critic,
            last_critic_obs,
            None if runner.carry is None else runner.carry.critic,
            self._units(runner.episode_start),
        )
        advantages, targets = gae(
            traj.reward,
            traj.value,
            self._units(traj.done),
            last_value,
            cfg.gamma,
            cfg.gae_lambda,
        )
        weight = None
        if self.multi_agent and not self.separate_params:
            weight = jnp.broadcast_to(runner.trainable.astype(jnp.float32), traj.reward.shape)
        batch = _Batch(
            traj.obs,
            traj.critic_obs,
            traj.action,
            traj.log_prob,
            traj.value,
            advantages,
            targets,
            self._units(traj.reset),
            weight,
        )
        if self.separate_params:
            # (T, E, agents, ...) -> (agents, T, E, ...): one independent update per agent.
            batch = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 2, 0), batch)
            first_carry = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 1, 0), first_carry)
            params, opt_state, terms = jax.vmap(self._optimize)(
                runner.params,
                runner.opt_state,
                batch,
                first_carry,
                jax.random.split(key_epochs, n),
            )
            keep = runner.trainable
        else:
            if self.multi_agent:
                # Parameter sharing: every (environment, agent) pair is one sequence.
                batch = jax.tree_util.tree_map(
                    lambda x: x.reshape((x.shape[0], x.shape[1] * n, *x.shape[3:])), batch
                )
                first_carry = jax.tree_util.tree_map(
                    lambda x: x.reshape((x.shape[0] * n, *x.shape[2:])), first_carry
                )
            params, opt_state, terms = self._optimize(
                runner.params, runner.opt_state, batch, first_carry, key_epochs
            )
            keep = jnp.any(runner.trainable)
        # Frozen agents (or, with sharing, an all-frozen run) keep parameters and optimizer state.
        params = _select(keep, params, runner.params)
        opt_state = _select(keep, opt_state, runner.opt_state)
        update_step = runner.update_step + 1
        runner = dataclasses.replace(
            runner, params=params, opt_state=opt_state, key=key, update_step=update_step
        )

        episodes = traj.done.sum()
        metrics = {
            "update": update_step,
            "episode_return": jnp.where(
                episodes > 0,
                traj.finished_return.sum() / (jnp.maximum(episodes, 1) * n)
                if self.multi_agent
                else traj.finished_return.sum() / jnp.maximum(episodes, 1),
                jnp.nan,
            ),
            "episodes": episodes.astype(jnp.int32),
            "reward": traj.reward.mean(),
            "loss": terms.total.mean(),
            "actor_loss": terms.actor.mean(),
            "value_loss": terms.value.mean(),
            "entropy": terms.entropy.mean(),
            "approx_kl": terms.approx_kl.mean(),
            "clip_frac": terms.clip_frac.mean(),
        }
        if self.multi_agent:
            per_agent = traj.finished_return.sum(axis=(0, 1)) / jnp.maximum(episodes, 1)
            metrics["agent_episode_return"] = jnp.where(episodes > 0, per_agent, jnp.nan)
        if cfg.progress:
            jax.debug.callback(self.progress_fn, update_step, metrics)
        return runner, metrics


def make_train(
    config: PPOConfig,
    env: Environment[Any, Any],
    env_params: Any = None,
    *,
    reward_fn: RewardFn | None = None,
    progress_fn: ProgressFn | None = None,
) -> Callable[..., TrainOutput]:
    """``train(key, params=None, reward_params=None, env_params=None, trainable=None)``.

    Shorthand for ``PPO(config, env, env_params, ...).train``; jit and vmap it freely.
    """
    return PPO(config, env, env_params, reward_fn=reward_fn, progress_fn=progress_fn).train

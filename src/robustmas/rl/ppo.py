"""Proximal policy optimisation for one learning agent, fully in JAX (PureJaxRL style).

Schulman et al., 2017, *Proximal Policy Optimization Algorithms*: the clipped surrogate (Eq. 7)
and the combined actor-critic loss with entropy bonus (Eq. 9).

With ``centralized_critic=True`` the critic reads ``env.critic_observation(state)`` instead of
the actor's observation: MAPPO (Yu et al., 2022, *The surprising effectiveness of PPO in
cooperative multi-agent games*) for a single leader, as used by the Stackelberg POMDP paper.

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
  action, env reward, done, info) before GAE.  ``reward_params`` is a pytree carried in
  :class:`RunnerState` (set by ``init(..., reward_params=...)`` or ``runner_state.replace``), so
  a caller can change it between chunks without recompiling -- e.g. the Lagrange multiplier of
  the robust-principal papers' reward ``(lambda u_i - u_0) / (1 + lambda)`` updated by dual
  ascent between chunks.  Default: the env reward.  Logged episode returns always use the env
  reward.
* **Initial parameters** -- ``init(key, params=...)`` starts from given actor/critic
  parameters (a fresh optimizer state), e.g. to copy a policy and train a deviation from it.
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

Only single-agent environments (``env.num_agents == 1``) are supported for now; IPPO/MAPPO over
several agents will add an agent axis here.
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
    Actor,
    Critic,
    env_action,
    greedy_action,
    sample_action,
)

__all__ = [
    "METRIC_NAMES",
    "PPO",
    "ActorCriticParams",
    "LossTerms",
    "PPOConfig",
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

    def __post_init__(self) -> None:
        positive_ints = (
            "num_envs",
            "num_steps",
            "total_timesteps",
            "update_epochs",
            "num_minibatches",
            "eval_episodes",
            "eval_max_steps",
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
class RunnerState:
    """Everything a run needs to continue; a pytree (and the unit of checkpointing)."""

    params: ActorCriticParams
    """Actor and critic parameters."""
    opt_state: Any
    """Optax state (includes the step count that drives the learning-rate schedule)."""
    env_state: Any
    """Batched environment state, leading axis ``num_envs``."""
    obs: jax.Array
    """Current flattened observations, shape ``(num_envs, obs_dim)``."""
    episode_return: jax.Array
    """Env reward accumulated in each environment's current episode, shape ``(num_envs,)``."""
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


class StepData(NamedTuple):
    """One single-environment transition, as seen by ``reward_fn``."""

    obs: jax.Array
    """Flattened actor observation before the step."""
    state: Any
    """Environment state before the step."""
    action: jax.Array
    """Action in the environment's coordinates."""
    reward: jax.Array
    """Environment reward."""
    done: jax.Array
    """Whether the step ended the episode."""
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
epochs and minibatches (:class:`LossTerms`); ``eval_return``: mean greedy return over
``eval_episodes`` episodes (NaN when no evaluation ran after this update)."""


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

    Returns:
        The :class:`LossTerms`; ``total`` is what is minimised.

    """
    log_prob, old_log_prob, advantages, value, old_value, targets, entropy = (
        jnp.asarray(x)
        for x in (log_prob, old_log_prob, advantages, value, old_value, targets, entropy)
    )
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    surrogate = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    actor_loss = -jnp.minimum(surrogate, clipped).mean()

    value_err = jnp.square(value - targets)
    if clip_value_loss:
        value_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        value_err = jnp.maximum(value_err, jnp.square(value_clipped - targets))
    value_loss = 0.5 * value_err.mean()

    entropy_mean = entropy.mean()
    total = actor_loss + vf_coef * value_loss - ent_coef * entropy_mean
    return LossTerms(
        total=total,
        actor=actor_loss,
        value=value_loss,
        entropy=entropy_mean,
        approx_kl=((ratio - 1.0) - log_ratio).mean(),
        clip_frac=(jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32).mean(),
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


class _Batch(NamedTuple):
    obs: jax.Array
    critic_obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantages: jax.Array
    targets: jax.Array


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


class PPO:
    """PPO / single-leader MAPPO trainer for an environment of :mod:`robustmas.envs.core`.

    The instance only holds the configuration, environment and networks; all training state is
    in :class:`RunnerState`, and every method is a pure function of its arguments.

    Args:
        config: hyperparameters.
        env: the environment (``num_agents == 1``).
        env_params: default environment parameters (``env.default_params()`` if ``None``).
        reward_fn: reward reshaping hook (default: the env reward).
        progress_fn: host progress callback used when ``config.progress`` (default: log at
            INFO level).

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
        if env.num_agents != 1:
            raise ValueError(f"PPO supports single-agent environments, got {env.num_agents}")
        self.config = config
        self.env = env
        self.env_params = env.default_params() if env_params is None else env_params
        self.reward_fn: RewardFn = _identity_reward if reward_fn is None else reward_fn
        self.progress_fn: ProgressFn = _log_progress if progress_fn is None else progress_fn
        self.action_space = env.action_space(self.env_params)
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

    # ------------------------------------------------------------------ helpers

    def _critic_input(self, obs: jax.Array, env_state: Any, env_params: Any) -> jax.Array:
        """Critic input for a batch of environments (leading axis)."""
        if not self.config.centralized_critic:
            return obs
        crit = jax.vmap(self.env.critic_observation, in_axes=(0, None))(env_state, env_params)
        return _flatten(crit, 1)

    def policy(self, actor_params: Any, obs: jax.Array) -> distrax.Distribution:
        """Action distribution for flattened observations ``obs``."""
        return cast(distrax.Distribution, self.actor.apply(actor_params, obs))

    def value(self, critic_params: Any, critic_obs: jax.Array) -> jax.Array:
        """State values for flattened critic inputs ``critic_obs``."""
        return cast(jax.Array, self.critic.apply(critic_params, critic_obs))

    # ------------------------------------------------------------------ public API

    def init(
        self,
        key: jax.Array,
        params: ActorCriticParams | None = None,
        reward_params: Any = None,
        env_params: Any = None,
    ) -> RunnerState:
        """Start a run: reset ``num_envs`` environments and initialise networks and optimizer.

        Args:
            key: PRNG key of the run (raw or typed).
            params: initial actor/critic parameters (fresh initialisation if ``None``).
            reward_params: data for ``reward_fn``.
            env_params: environment parameters (the constructor's if ``None``); they must give
                the same observation and action spaces as the constructor's.

        Returns:
            The initial :class:`RunnerState`.

        """
        cfg = self.config
        env_params = self.env_params if env_params is None else env_params
        key_actor, key_critic, key_env, key_eval, key_run = jax.random.split(_raw_key(key), 5)
        env_keys = jax.random.split(key_env, cfg.num_envs)
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(env_keys, env_params)
        obs = _flatten(obs, 1)
        if params is None:
            critic_obs = self._critic_input(obs, env_state, env_params)
            params = ActorCriticParams(
                actor=self.actor.init(key_actor, obs[0]),
                critic=self.critic.init(key_critic, critic_obs[0]),
            )
        return RunnerState(
            params=params,
            opt_state=self.optimizer.init(params),  # pyright: ignore[reportArgumentType]
            env_state=env_state,
            obs=obs,
            episode_return=jnp.zeros((cfg.num_envs,), jnp.float32),
            key=key_run,
            eval_key=key_eval,
            update_step=jnp.int32(0),
            reward_params=reward_params,
            env_params=env_params,
        )

    def evaluate(self, actor_params: Any, key: jax.Array, env_params: Any = None) -> jax.Array:
        """Mean greedy-policy return over ``eval_episodes`` parallel episodes.

        Episodes run until all are done or ``eval_max_steps`` steps have passed; finished
        episodes are frozen.

        Args:
            actor_params: actor parameters.
            key: PRNG key.
            env_params: environment parameters (the constructor's if ``None``).

        Returns:
            Scalar mean return (env reward, undiscounted).

        """
        cfg = self.config
        env_params = self.env_params if env_params is None else env_params
        key_reset, key_run = jax.random.split(_raw_key(key))
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, cfg.eval_episodes), env_params
        )
        zeros = jnp.zeros((cfg.eval_episodes,), jnp.float32)
        done = jnp.zeros((cfg.eval_episodes,), bool)
        carry = (jnp.int32(0), obs, state, zeros, done, key_run)

        def cond(c: tuple[Any, ...]) -> jax.Array:
            t, _, _, _, done, _ = c
            return (t < cfg.eval_max_steps) & ~jnp.all(done)

        def body(c: tuple[Any, ...]) -> tuple[Any, ...]:
            t, obs, state, ret, done, key = c
            key, key_step = jax.random.split(key)
            action = greedy_action(self.policy(actor_params, _flatten(obs, 1)), self.action_space)
            action = jax.vmap(env_action, in_axes=(0, None))(action, self.action_space)
            step = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))
            next_obs, next_state, reward, step_done, _ = step(
                jax.random.split(key_step, cfg.eval_episodes), state, action, env_params
            )
            ret = ret + jnp.where(done, 0.0, reward)
            keep = lambda old, new: jnp.where(  # noqa: E731
                jnp.reshape(done, done.shape + (1,) * (new.ndim - 1)), old, new
            )
            obs = keep(obs, next_obs)
            state = jax.tree_util.tree_map(keep, state, next_state)
            return t + 1, obs, state, ret, done | step_done, key

        _, _, _, returns, _, _ = jax.lax.while_loop(cond, body, carry)
        return returns.mean()

    def update_chunk(
        self, runner_state: RunnerState, num_updates: int
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """Run ``num_updates`` PPO updates (rollout + optimisation each).

        Args:
            runner_state: state from :meth:`init`, a previous chunk or a checkpoint.
            num_updates: number of updates (static under ``jit``).

        Returns:
            ``(runner_state, metrics)`` with metrics of shape ``(num_updates,)`` each.

        """
        num_updates = int(num_updates)
        if num_updates < 0:
            raise ValueError(f"num_updates must be >= 0, got {num_updates}")
        every = self.config.eval_every
        pieces: list[dict[str, jax.Array]] = []

        def block(runner: RunnerState, _: None) -> tuple[RunnerState, dict[str, jax.Array]]:
            runner, metrics = jax.lax.scan(self._update, runner, None, every)
            eval_key = jax.random.fold_in(runner.eval_key, runner.update_step)
            eval_return = self.evaluate(runner.params.actor, eval_key, runner.env_params)
            metrics["eval_return"] = jnp.full((every,), jnp.nan).at[-1].set(eval_return)
            return runner, metrics

        num_blocks, rest = divmod(num_updates, every) if every > 0 else (0, num_updates)
        if num_blocks:
            runner_state, metrics = jax.lax.scan(block, runner_state, None, num_blocks)
            pieces.append({k: v.reshape((-1, *v.shape[2:])) for k, v in metrics.items()})
        if rest:
            runner_state, metrics = jax.lax.scan(self._update, runner_state, None, rest)
            metrics["eval_return"] = jnp.full((rest,), jnp.nan)
            pieces.append(metrics)
        if not pieces:
            empty = {name: jnp.zeros((0,), jnp.float32) for name in METRIC_NAMES}
            empty["update"] = empty["update"].astype(jnp.int32)
            empty["episodes"] = empty["episodes"].astype(jnp.int32)
            return runner_state, empty
        merged = {k: jnp.concatenate([p[k] for p in pieces]) for k in METRIC_NAMES}
        return runner_state, merged

    def train(
        self,
        key: jax.Array,
        params: ActorCriticParams | None = None,
        reward_params: Any = None,
        env_params: Any = None,
    ) -> TrainOutput:
        """A full run: :meth:`init` then ``config.num_updates`` updates (same arguments)."""
        runner_state = self.init(key, params, reward_params, env_params)
        runner_state, metrics = self.update_chunk(runner_state, self.config.num_updates)
        return TrainOutput(params=runner_state.params, metrics=metrics, runner_state=runner_state)

    # ------------------------------------------------------------------ one update

    def _rollout(
        self, runner: RunnerState, key: jax.Array
    ) -> tuple[RunnerState, _Transition, jax.Array]:
        cfg = self.config
        env_params = runner.env_params
        space = self.action_space

        def env_step(
            carry: tuple[Any, jax.Array, jax.Array], step_key: jax.Array
        ) -> tuple[tuple[Any, jax.Array, jax.Array], _Transition]:
            env_state, obs, ep_return = carry
            key_act, key_env = jax.random.split(step_key)
            critic_obs = self._critic_input(obs, env_state, env_params)
            dist = self.policy(runner.params.actor, obs)
            action, log_prob = sample_action(dist, key_act, space)
            value = self.value(runner.params.critic, critic_obs)
            act = jax.vmap(env_action, in_axes=(0, None))(action, space)
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
            transition = _Transition(
                obs=obs,
                critic_obs=critic_obs,
                action=action,
                log_prob=log_prob,
                value=value,
                reward=learn_reward.astype(jnp.float32),
                done=done,
                finished_return=jnp.where(done, ep_return, 0.0),
            )
            ep_return = jnp.where(done, 0.0, ep_return)
            return (next_state, _flatten(next_obs, 1), ep_return), transition

        carry = (runner.env_state, runner.obs, runner.episode_return)
        (env_state, obs, ep_return), traj = jax.lax.scan(
            env_step, carry, jax.random.split(key, cfg.num_steps)
        )
        last_critic_obs = self._critic_input(obs, env_state, env_params)
        runner = dataclasses.replace(runner, env_state=env_state, obs=obs, episode_return=ep_return)
        return runner, traj, last_critic_obs

    def _loss(self, params: ActorCriticParams, batch: _Batch) -> tuple[jax.Array, LossTerms]:
        cfg = self.config
        dist = self.policy(params.actor, batch.obs)
        terms = ppo_loss(
            jnp.asarray(dist.log_prob(batch.action)),
            batch.log_prob,
            batch.advantages,
            self.value(params.critic, batch.critic_obs),
            batch.value,
            batch.targets,
            jnp.asarray(dist.entropy()),
            clip_eps=cfg.clip_eps,
            vf_coef=cfg.vf_coef,
            ent_coef=cfg.ent_coef,
            clip_value_loss=cfg.clip_value_loss,
            normalize_advantages=cfg.normalize_advantages,
        )
        return terms.total, terms

    def _update(self, runner: RunnerState, _: None) -> tuple[RunnerState, dict[str, jax.Array]]:
        cfg = self.config
        key, key_rollout, key_epochs = jax.random.split(runner.key, 3)
        runner, traj, last_critic_obs = self._rollout(runner, key_rollout)
        last_value = self.value(runner.params.critic, last_critic_obs)
        advantages, targets = gae(
            traj.reward, traj.value, traj.done, last_value, cfg.gamma, cfg.gae_lambda
        )
        batch = _Batch(
            traj.obs, traj.critic_obs, traj.action, traj.log_prob, traj.value, advantages, targets
        )
        batch = jax.tree_util.tree_map(lambda x: x.reshape((cfg.batch_size, *x.shape[2:])), batch)
        grad_fn = jax.grad(self._loss, has_aux=True)

        # Optax types its pytrees as ArrayTree, which a flax struct is not: keep them as Any.
        def minibatch_step(carry: tuple[Any, Any], mb: _Batch) -> tuple[tuple[Any, Any], LossTerms]:
            params, opt_state = carry
            grads, terms = grad_fn(params, mb)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state), terms

        def epoch(
            carry: tuple[Any, Any], epoch_key: jax.Array
        ) -> tuple[tuple[Any, Any], LossTerms]:
            perm = jax.random.permutation(epoch_key, cfg.batch_size)
            shuffled = jax.tree_util.tree_map(
                lambda x: x[perm].reshape((cfg.num_minibatches, cfg.minibatch_size, *x.shape[1:])),
                batch,
            )
            return jax.lax.scan(minibatch_step, carry, shuffled)

        (params, opt_state), terms = jax.lax.scan(
            epoch,
            (runner.params, runner.opt_state),
            jax.random.split(key_epochs, cfg.update_epochs),
        )
        update_step = runner.update_step + 1
        runner = dataclasses.replace(
            runner, params=params, opt_state=opt_state, key=key, update_step=update_step
        )

        episodes = traj.done.sum()
        metrics = {
            "update": update_step,
            "episode_return": jnp.where(
                episodes > 0, traj.finished_return.sum() / jnp.maximum(episodes, 1), jnp.nan
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
    """``train(key, params=None, reward_params=None, env_params=None) -> TrainOutput``.

    Shorthand for ``PPO(config, env, env_params, ...).train``; jit and vmap it freely.
    """
    return PPO(config, env, env_params, reward_fn=reward_fn, progress_fn=progress_fn).train

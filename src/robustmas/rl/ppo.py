"""Proximal policy optimisation in JAX, PureJaxRL style: rollout, GAE, loss, epochs.

Schulman et al., 2017, *Proximal Policy Optimization Algorithms*, arXiv:1707.06347: the clipped
surrogate (Eq. 7) and the combined actor-critic loss with entropy bonus (Eq. 9); advantages by
GAE (:mod:`robustmas.rl.gae`).

One update (:meth:`PPO.update`) collects ``num_steps`` steps in ``num_envs`` environments, computes
GAE advantages, and runs ``update_epochs`` epochs of minibatch gradient steps on :func:`ppo_loss`
(the loss and the epochs live in :mod:`robustmas.rl.loss`, shared with other trainers).
:meth:`PPO.train` is ``init`` followed by ``config.num_updates`` updates through
:func:`robustmas.rl.loop.run_updates` (evaluation every ``eval_every`` updates, chunks, masking).

The networks are an :class:`~robustmas.rl.policy.ActorCritic` chosen by :func:`actor_critic`:
MLPs (:mod:`robustmas.rl.policy`), recurrent ones (:mod:`robustmas.rl.recurrent`), and for
``n > 1`` agents the adaptors of :mod:`robustmas.rl.multiagent` (IPPO with shared or separate
parameters; with ``centralized_critic`` the critic reads ``env.critic_observation(state)``:
MAPPO).  PPO itself sees a batch of *units*, ``(num_envs, *agent_dims)``, and is the same code for
one agent and for many.

Usage::

    trainer = PPO(config, env, env_params)
    out = jax.jit(jax.vmap(trainer.train))(jax.random.split(key, 10))   # 10 seeds, one call
    out.params.actor, out.metrics["episode_return"]                    # (10, ...), (10, U)

Hooks for the robust algorithms built on top:

* **reward reshaping** -- ``reward_fn(step, reward_params)`` maps every transition (a
  :class:`StepData`) to the rewards learnt from (one per agent), with ``reward_params`` carried in
  :class:`RunnerState` so that a caller can change them between chunks without recompiling (e.g.
  the Lagrange multipliers of the robust-principal papers); logged returns use the env reward;
* **frozen agents** -- :attr:`RunnerState.trainable` marks the agents that learn (see
  :mod:`robustmas.rl.multiagent` for what freezing means with shared parameters);
* **initial parameters** -- ``init(key, params=...)`` starts from given networks;
* **populations** -- ``jax.vmap`` over ``init`` / ``update`` / ``train`` with stacked keys,
  ``params``, ``reward_params``, ``env_params`` and ``trainable``;
* **env parameters as data** -- ``init(key, env_params=...)`` (stored in the runner state);
* **resume** -- the key stream, the update counter and the learning-rate schedule live in the
  runner state and evaluation keys are folded from a separate stream, so running the updates in
  chunks (with a checkpoint between them, :mod:`robustmas.rl.checkpoint`) gives the same numbers
  as one call.  Under ``vmap`` ``train`` keeps per-run scalars such as the Adam step count
  unbatched while a vmapped chunk on a stored state sees them batched; XLA may then round
  differently in the last ulp, so compare vmapped runs chunk for chunk.

Metrics (one entry per update, see :data:`METRIC_NAMES`): ``eval_return`` is NaN except after
every ``eval_every``-th update (counted over the whole run); ``episode_return`` is NaN for updates
whose rollout completed no episode.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import distrax
import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from robustmas.envs.core import Environment, Space, step_autoreset
from robustmas.rl.config import PPOConfig
from robustmas.rl.gae import gae
from robustmas.rl.loop import ProgressFn, run_updates
from robustmas.rl.loss import LossTerms, expand_flags, ppo_epochs, ppo_loss, select_learners
from robustmas.rl.multiagent import SeparateParameters, SharedParameters
from robustmas.rl.networks import env_action
from robustmas.rl.optim import ppo_optimizer
from robustmas.rl.policy import ActorCritic, ActorCriticParams, Batch, FeedForward
from robustmas.rl.recurrent import Recurrent
from robustmas.rl.state import (
    AGENT_METRIC_NAMES,
    EVAL_METRIC_NAMES,
    METRIC_NAMES,
    RecurrentCarry,
    RewardFn,
    RunnerState,
    StepData,
    TrainOutput,
)

__all__ = [
    "AGENT_METRIC_NAMES",
    "EVAL_METRIC_NAMES",
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
    "actor_critic",
    "make_train",
    "ppo_epochs",
    "ppo_loss",
]

_log = logging.getLogger(__name__)


class Transition(NamedTuple):
    """One rollout step of a batch of units (leaves ``(num_envs, *agent_dims, ...)``)."""

    obs: jax.Array
    critic_obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    finished_return: jax.Array
    reset: jax.Array


def actor_critic(config: PPOConfig, action_space: Space, num_agents: int) -> ActorCritic:
    """The networks of ``config`` for ``num_agents`` agents acting in ``action_space``.

    Raises:
        ValueError: with a recurrent network, if ``config.num_minibatches`` does not divide the
            number of sequences of a rollout.
    """
    if config.recurrent == "none":
        inner: ActorCritic = FeedForward(config, action_space)
    else:
        shared = num_agents > 1 and config.parameter_sharing
        sequences = config.num_envs * (num_agents if shared else 1)
        if sequences % config.num_minibatches:
            what = "num_envs * num_agents" if shared else "num_envs"
            raise ValueError(
                f"PPOConfig.num_minibatches ({config.num_minibatches}) must divide the "
                f"number of sequences per rollout, {what} = {sequences}: recurrent "
                "minibatches hold whole sequences"
            )
        inner = Recurrent(config, action_space)
    if num_agents == 1:
        return inner
    if config.parameter_sharing:
        return SharedParameters(inner, num_agents, config.agent_id)
    return SeparateParameters(inner, num_agents)


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
    """PPO for an environment of :mod:`robustmas.envs.core` (one agent or several).

    The instance holds the configuration, the environment and the networks; all training state
    is in :class:`RunnerState` and every method is a pure function of its arguments.

    Args:
        config: hyperparameters.
        env: the environment.
        env_params: default environment parameters (``env.default_params()`` if ``None``).
        reward_fn: reward reshaping hook (default: the env reward).
        progress_fn: host callback after every update when ``config.progress`` (default: log at
            INFO level).
        networks: the actor-critic (default: :func:`actor_critic` of the config).
        optimizer: the gradient transformation (default: :func:`ppo_optimizer` of the config);
            e.g. ``ppo_optimizer(config, scale_by_learner())`` for per-learner learning rates.
    """

    def __init__(
        self,
        config: PPOConfig,
        env: Environment[Any, Any],
        env_params: Any = None,
        *,
        reward_fn: RewardFn | None = None,
        progress_fn: ProgressFn | None = None,
        networks: ActorCritic | None = None,
        optimizer: optax.GradientTransformation | None = None,
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
        if config.learner_ent_coef and len(config.learner_ent_coef) != num_agents:
            raise ValueError(
                f"PPOConfig.learner_ent_coef: {len(config.learner_ent_coef)} weights for "
                f"{num_agents} agents; give one per agent or leave it empty"
            )
        self.networks = (
            actor_critic(config, self.action_space, num_agents) if networks is None else networks
        )
        """The :class:`~robustmas.rl.policy.ActorCritic`."""
        self.agent_dims = self.networks.agent_dims
        """``()`` for one agent, ``(num_agents,)`` for several."""
        self.multi_agent = num_agents > 1
        """Whether data carry an agent axis."""
        self.separate_params = isinstance(self.networks, SeparateParameters)
        """Whether parameters carry a leading agent axis."""
        self.recurrent = config.recurrent != "none"
        """Whether actor and critic are recurrent."""
        self.optimizer = ppo_optimizer(config) if optimizer is None else optimizer
        """The gradient transformation (one state per learner with separate parameters)."""
        self.eval_every = config.eval_every
        """Updates between greedy evaluations (for :func:`~robustmas.rl.loop.run_updates`)."""
        self.metric_names = METRIC_NAMES + (AGENT_METRIC_NAMES if self.multi_agent else ())
        """Keys of this trainer's metrics: :data:`METRIC_NAMES` (+ :data:`AGENT_METRIC_NAMES`)."""
        self.eval_metric_names = tuple(n for n in EVAL_METRIC_NAMES if n in self.metric_names)
        """Keys of the evaluation metrics."""

    # ------------------------------------------------------------------ networks

    def _one_learner(self) -> ActorCritic:
        """The networks of one learner (inside the multi-agent adaptors)."""
        return cast(ActorCritic, getattr(self.networks, "inner", self.networks))

    def policy(self, actor_params: Any, obs: jax.Array) -> distrax.Distribution:
        """Action distribution of an MLP actor for flattened actor inputs ``obs``.

        ``actor_params`` is one parameter set (slice the agent axis of separate parameters);
        with parameter sharing and ``agent_id`` the inputs include the one-hot agent id.

        Raises:
            ValueError: for a recurrent actor (use :meth:`policy_step`).
        """
        learner = self._one_learner()
        if not isinstance(learner, FeedForward):
            raise ValueError("PPO.policy: the actor is recurrent; use policy_step with a carry")
        return learner.distribution(actor_params, obs)

    def policy_step(
        self, actor_params: Any, carry: Any, obs: jax.Array, reset: jax.Array
    ) -> tuple[Any, distrax.Distribution]:
        """One step of a recurrent actor: ``(carry, obs, reset) -> (carry, distribution)``."""
        learner = self._one_learner()
        if not isinstance(learner, Recurrent):
            raise ValueError("PPO.policy_step: the actor is an MLP; use policy")
        return learner.step(actor_params, carry, obs, reset)

    def initial_carry(self, batch_shape: tuple[int, ...]) -> Any:
        """Zero carry of one network for a batch of units (``None`` without recurrence)."""
        return self.networks.initial_carry(batch_shape)

    def _units(self, flags: jax.Array) -> jax.Array:
        """Per-environment flags ``(..., num_envs)`` -> units ``(..., num_envs, *agent_dims)``."""
        if not self.agent_dims:
            return flags
        return jnp.broadcast_to(flags[..., None], (*flags.shape, *self.agent_dims))

    def _critic_input(self, obs: jax.Array, env_state: Any, env_params: Any) -> jax.Array:
        """Critic inputs of a batch of environments.

        Their observations or, with a centralised critic, the env's ``critic_observation`` (the
        same for every agent).
        """
        if not self.config.centralized_critic:
            return self.networks.critic_input(obs)
        crit = jax.vmap(self.env.critic_observation, in_axes=(0, None))(env_state, env_params)
        x = _flatten(crit, 1)
        if self.agent_dims:
            x = jnp.broadcast_to(x[:, None, :], (x.shape[0], *self.agent_dims, x.shape[1]))
        return self.networks.critic_input(x)

    def _env_actions(self, action: jax.Array) -> jax.Array:
        """Policy-coordinate actions ``(B, *agent_dims, ...)`` -> environment actions."""
        fn: Callable[[jax.Array], jax.Array] = lambda a: env_action(a, self.action_space)  # noqa: E731
        for _ in range(1 + len(self.agent_dims)):
            fn = jax.vmap(fn)
        return fn(action)

    # ------------------------------------------------------------------ init

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
        obs = _flatten(obs, 1 + len(self.agent_dims))
        if params is None:
            critic_obs = self._critic_input(obs, env_state, env_params)
            actor_obs = self.networks.actor_input(obs)
            params = self.networks.init(key_actor, key_critic, actor_obs[0], critic_obs[0])
        opt_state = self.networks.init_optimizer(self.optimizer, params)
        if trainable is None:
            trainable = jnp.ones((self.num_agents,), bool)
        trainable = jnp.asarray(trainable, bool)
        if trainable.shape != (self.num_agents,):
            raise ValueError(
                f"trainable must have shape ({self.num_agents},), got {trainable.shape}"
            )
        zeros = self.initial_carry((cfg.num_envs, *self.agent_dims))
        return RunnerState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            episode_return=jnp.zeros((cfg.num_envs, *self.agent_dims), jnp.float32),
            key=key_run,
            eval_key=key_eval,
            update_step=jnp.int32(0),
            reward_params=reward_params,
            env_params=env_params,
            trainable=trainable,
            carry=None if zeros is None else RecurrentCarry(actor=zeros, critic=zeros),
            episode_start=jnp.ones((cfg.num_envs,), bool),
        )

    # ------------------------------------------------------------------ one update

    def _rollout(
        self, runner: RunnerState, key: jax.Array
    ) -> tuple[RunnerState, Transition, jax.Array]:
        """``num_steps`` steps of the current policy in every environment."""
        cfg = self.config
        env_params, params, nets = runner.env_params, runner.params, self.networks

        def env_step(
            carry: tuple[Any, ...], step_key: jax.Array
        ) -> tuple[tuple[Any, ...], Transition]:
            env_state, obs, ep_return, rnn, start = carry
            key_act, key_env = jax.random.split(step_key)
            critic_obs = self._critic_input(obs, env_state, env_params)
            actor_obs = nets.actor_input(obs)
            reset = self._units(start)
            rnn_actor, action, log_prob = nets.sample(
                params.actor, key_act, actor_obs, None if rnn is None else rnn.actor, reset
            )
            rnn_critic, value = nets.values(
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
            transition = Transition(
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
            next_obs = _flatten(next_obs, 1 + len(self.agent_dims))
            return (next_state, next_obs, ep_return, rnn, done), transition

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

    def _epochs(
        self, params: Any, opt_state: Any, batch: Batch, carry: Any, key: jax.Array
    ) -> tuple[Any, Any, LossTerms]:
        """:func:`ppo_epochs` with this trainer's networks, optimizer and config."""
        return ppo_epochs(
            self.config, self.networks, self.optimizer, params, opt_state, batch, carry, key
        )

    def _learner_ent_coef(self, shape: tuple[int, ...]) -> jax.Array | None:
        """Per-sample entropy weights from ``config.learner_ent_coef`` (``None`` if unset)."""
        if not self.config.learner_ent_coef:
            return None
        return jnp.broadcast_to(jnp.asarray(self.config.learner_ent_coef, jnp.float32), shape)

    def update(self, runner: RunnerState) -> tuple[RunnerState, dict[str, jax.Array]]:
        """One PPO update: rollout, GAE, ``update_epochs`` epochs; the update's metrics."""
        cfg = self.config
        n = self.num_agents
        key, key_rollout, key_epochs = jax.random.split(runner.key, 3)
        first_carry = runner.carry
        runner, traj, last_critic_obs = self._rollout(runner, key_rollout)
        _, last_value = self.networks.values(
            runner.params.critic,
            last_critic_obs,
            None if runner.carry is None else runner.carry.critic,
            self._units(runner.episode_start),
        )
        advantages, targets = gae(
            traj.reward, traj.value, self._units(traj.done), last_value, cfg.gamma, cfg.gae_lambda
        )
        batch = Batch(
            traj.obs,
            traj.critic_obs,
            traj.action,
            traj.log_prob,
            traj.value,
            advantages,
            targets,
            self._units(traj.reset),
            None,
            self._learner_ent_coef(traj.reward.shape),
        )
        params, opt_state, terms, keep = self.networks.optimize(
            self._epochs,
            runner.params,
            runner.opt_state,
            batch,
            first_carry,
            key_epochs,
            runner.trainable,
        )
        # Frozen agents (or, with sharing, an all-frozen run) keep parameters and optimizer state.
        params = select_learners(keep, params, runner.params)
        opt_state = select_learners(keep, opt_state, runner.opt_state)
        update_step = runner.update_step + 1
        runner = dataclasses.replace(
            runner, params=params, opt_state=opt_state, key=key, update_step=update_step
        )

        episodes = traj.done.sum()
        metrics = {
            "update": update_step,
            "episode_return": jnp.where(
                episodes > 0, traj.finished_return.sum() / (jnp.maximum(episodes, 1) * n), jnp.nan
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
        return runner, metrics

    # ------------------------------------------------------------------ evaluation

    def evaluate_returns(
        self,
        actor_params: Any,
        key: jax.Array,
        env_params: Any = None,
        *,
        episodes: int | None = None,
        greedy: bool = True,
    ) -> jax.Array:
        """Returns of parallel episodes, shape ``(episodes, *agent_dims)``.

        All agents act greedily (or, with ``greedy=False``, sample from their policies: the
        returns of the stochastic policy, e.g. for Monte-Carlo regret estimates).  Episodes run
        until all are done or ``eval_max_steps`` steps have passed (returns of unfinished
        episodes are partial); finished episodes are frozen.  Recurrent actors start from a
        zero carry.  The same ``key`` gives the same initial states and step keys for any
        parameters (common random numbers).

        Args:
            actor_params: the actor's parameters.
            key: PRNG key.
            env_params: environment parameters (the trainer's if ``None``).
            episodes: parallel episodes (``config.eval_episodes`` if ``None``; static).
            greedy: greedy actions (default) or sampled ones (static).
        """
        cfg = self.config
        env_params = self.env_params if env_params is None else env_params
        episodes = cfg.eval_episodes if episodes is None else episodes
        key_reset, key_run = jax.random.split(_raw_key(key))
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, episodes), env_params
        )
        units = (episodes, *self.agent_dims)
        done = jnp.zeros((episodes,), bool)
        no_reset = jnp.zeros(units, bool)  # finished episodes are frozen, never restarted
        carry = self.initial_carry(units)
        loop = (jnp.int32(0), obs, state, jnp.zeros(units, jnp.float32), done, key_run, carry)

        def cond(c: tuple[Any, ...]) -> jax.Array:
            t, _, _, _, done, _, _ = c
            return (t < cfg.eval_max_steps) & ~jnp.all(done)

        def body(c: tuple[Any, ...]) -> tuple[Any, ...]:
            t, obs, state, ret, done, key, carry = c
            key, key_step = jax.random.split(key)
            x = self.networks.actor_input(_flatten(obs, 1 + len(self.agent_dims)))
            if greedy:
                carry, action = self.networks.greedy(actor_params, x, carry, no_reset)
            else:
                key_act = jax.random.fold_in(key_step, 1)  # the greedy stream stays as it was
                carry, action, _ = self.networks.sample(actor_params, key_act, x, carry, no_reset)
            step = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))
            next_obs, next_state, reward, step_done, _ = step(
                jax.random.split(key_step, episodes),
                state,
                self._env_actions(action),
                env_params,
            )
            ret = ret + jnp.where(expand_flags(done, reward), 0.0, reward)
            keep = lambda old, new: jnp.where(expand_flags(done, new), old, new)  # noqa: E731
            obs = keep(obs, next_obs)
            state = jax.tree_util.tree_map(keep, state, next_state)
            return t + 1, obs, state, ret, done | step_done, key, carry

        return jax.lax.while_loop(cond, body, loop)[3]

    def evaluate(self, actor_params: Any, key: jax.Array, env_params: Any = None) -> jax.Array:
        """Mean greedy return over ``eval_episodes`` episodes (and agents), a scalar."""
        return self.evaluate_returns(actor_params, key, env_params).mean()

    def evaluate_agents(
        self, actor_params: Any, key: jax.Array, env_params: Any = None
    ) -> jax.Array:
        """Like :meth:`evaluate`, but per agent: shape ``(num_agents,)``."""
        returns = self.evaluate_returns(actor_params, key, env_params)
        return returns.mean(axis=0) if self.multi_agent else returns.mean()[None]

    def evaluation_metrics(self, runner: RunnerState) -> dict[str, jax.Array]:
        """``eval_return`` (and ``agent_eval_return``) of the runner's current actor.

        The key is folded from the runner's evaluation stream with the update count, so the
        evaluation after a given update is the same however the run is chunked.
        """
        key = jax.random.fold_in(runner.eval_key, runner.update_step)
        returns = self.evaluate_returns(runner.params.actor, key, runner.env_params)
        metrics = {"eval_return": returns.mean()}
        if self.multi_agent:
            metrics["agent_eval_return"] = returns.mean(axis=0)
        return metrics

    def metric_padding(self, shape: tuple[int, ...]) -> dict[str, jax.Array]:
        """Every metric as padding (``update``/``episodes`` 0, the rest NaN), leading ``shape``."""
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

    # ------------------------------------------------------------------ training

    def update_chunk(
        self, runner_state: RunnerState, num_updates: int
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """``num_updates`` updates with evaluations (:func:`~robustmas.rl.loop.run_updates`).

        ``num_updates`` is static under ``jit``: ``jax.jit(trainer.update_chunk,
        static_argnums=1)``.  Metrics have shape ``(num_updates,)`` each
        (``(num_updates, num_agents)`` for :data:`AGENT_METRIC_NAMES`).
        """
        progress = self.progress_fn if self.config.progress else None
        return run_updates(self, runner_state, num_updates, progress_fn=progress)

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

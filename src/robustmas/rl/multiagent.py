"""Multi-agent PPO as adaptors around a one-learner actor-critic: IPPO and MAPPO.

Independent PPO learners on their own rewards are IPPO (de Witt et al., 2020, *Is independent
learning all you need in the StarCraft multi-agent challenge?*, arXiv:2011.09533); with
``PPOConfig.centralized_critic`` every agent's critic reads the environment's global
``critic_observation`` instead, which is MAPPO (Yu et al., 2022, *The surprising effectiveness of
PPO in cooperative multi-agent games*, NeurIPS Datasets and Benchmarks).  Conventions of a
multi-agent environment (:mod:`robustmas.envs.core`): stacked observations ``(n, ...)``, actions
``(n, ...)``, rewards ``(n,)`` and one shared ``done``.

Two adaptors wrap a :class:`~robustmas.rl.policy.FeedForward` or
:class:`~robustmas.rl.recurrent.Recurrent` actor-critic; :class:`~robustmas.rl.ppo.PPO` itself is
the same for one agent and for many:

* :class:`SharedParameters` -- one actor and one critic for all agents; the batch is environments
  x agents and the one-hot agent id may be appended to both networks' inputs.  A frozen agent's
  transitions get weight 0 in the loss, so the shared networks learn from the trainable agents
  only (they may still change a frozen agent's behaviour through generalisation).
* :class:`SeparateParameters` -- every parameter leaf has a leading agent axis and the networks
  are applied with ``jax.vmap``: each agent has its own optimizer state, gradient clipping and
  minibatch permutation (independent learners).  A frozen agent's parameters and optimizer
  state stay exactly as they were (its update is computed and discarded).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from robustmas.rl.policy import ActorCritic, ActorCriticParams, Batch, OwnInputs

__all__ = ["SeparateParameters", "SharedParameters"]


class _Agents:
    """What both adaptors share: the inner actor-critic, the agent axis, the minibatch steps.

    ``minibatches`` and ``evaluate_actions`` run on one learner's batch: with shared parameters
    after the (environment, agent) pairs are folded into sequences, with separate parameters
    inside the per-agent ``vmap``.
    """

    def __init__(self, inner: ActorCritic, num_agents: int) -> None:
        self.inner = inner
        self.num_agents = num_agents
        self.agent_dims = (num_agents,)

    def initial_carry(self, batch_shape: tuple[int, ...]) -> Any:
        """The inner zero carry (``batch_shape`` includes the agent axis)."""
        return self.inner.initial_carry(batch_shape)

    def minibatches(
        self, batch: Batch, carry: Any, key: jax.Array, num_minibatches: int
    ) -> tuple[Batch, Any]:
        """The inner minibatches."""
        return self.inner.minibatches(batch, carry, key, num_minibatches)

    def evaluate_actions(
        self, params: ActorCriticParams, batch: Batch, carry: Any
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The inner evaluation of stored actions."""
        return self.inner.evaluate_actions(params, batch, carry)


class SharedParameters(_Agents):
    """One actor-critic ``inner`` for ``num_agents`` agents (parameter sharing).

    Args:
        inner: the one-learner actor-critic; applied to inputs ``(B, num_agents, d)``.
        num_agents: agents of the environment.
        agent_id: append the one-hot agent index to the actor's and the critic's inputs.
    """

    def __init__(self, inner: ActorCritic, num_agents: int, agent_id: bool) -> None:
        super().__init__(inner, num_agents)
        self.agent_id = agent_id

    def _with_agent_id(self, x: jax.Array) -> jax.Array:
        if not self.agent_id:
            return x
        n = self.num_agents
        ids = jnp.broadcast_to(jnp.eye(n, dtype=x.dtype), (*x.shape[:-1], n))
        return jnp.concatenate([x, ids], axis=-1)

    def actor_input(self, obs: jax.Array) -> jax.Array:
        """Observations ``(B, n, d)``, with the one-hot agent id if configured."""
        return self._with_agent_id(obs)

    def critic_input(self, x: jax.Array) -> jax.Array:
        """Critic observations ``(B, n, d)``, with the one-hot agent id if configured."""
        return self._with_agent_id(x)

    def init(
        self, key_actor: jax.Array, key_critic: jax.Array, x: jax.Array, critic_x: jax.Array
    ) -> ActorCriticParams:
        """One parameter set, shaped by the first agent's inputs."""
        return self.inner.init(key_actor, key_critic, x[0], critic_x[0])

    def init_optimizer(self, optimizer: optax.GradientTransformation, params: Any) -> Any:
        """The inner optimizer state."""
        return self.inner.init_optimizer(optimizer, params)

    def sample(
        self, actor_params: Any, key: jax.Array, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array, jax.Array]:
        """The shared actor on all agents at once."""
        return self.inner.sample(actor_params, key, x, carry, reset)

    def greedy(
        self, actor_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """The shared actor's greedy actions for all agents."""
        return self.inner.greedy(actor_params, x, carry, reset)

    def values(
        self, critic_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """The shared critic for all agents."""
        return self.inner.values(critic_params, x, carry, reset)

    def optimize(
        self, epochs: Any, params: Any, opt_state: Any, batch: Batch, carry: Any, key: jax.Array,
        trainable: jax.Array,
    ) -> tuple[Any, Any, Any, jax.Array]:  # fmt: skip
        """Every (environment, agent) pair is one sequence; frozen agents' samples weigh 0."""
        n = self.num_agents
        weight = jnp.broadcast_to(trainable.astype(jnp.float32), batch.advantages.shape)
        batch = jax.tree_util.tree_map(
            lambda x: x.reshape((x.shape[0], x.shape[1] * n, *x.shape[3:])),
            batch._replace(weight=weight),
        )
        carry = jax.tree_util.tree_map(lambda x: x.reshape((x.shape[0] * n, *x.shape[2:])), carry)
        return (*epochs(params, opt_state, batch, carry, key), jnp.any(trainable))


class SeparateParameters(OwnInputs, _Agents):
    """One actor-critic ``inner`` per agent: parameters with a leading agent axis, ``vmap``.

    Args:
        inner: the one-learner actor-critic; each agent's copy sees inputs ``(B, d)``.
        num_agents: agents of the environment.
    """

    def init(
        self, key_actor: jax.Array, key_critic: jax.Array, x: jax.Array, critic_x: jax.Array
    ) -> ActorCriticParams:
        """One parameter set per agent (independent keys), stacked on a leading axis."""
        n = self.num_agents
        return jax.vmap(self.inner.init)(
            jax.random.split(key_actor, n), jax.random.split(key_critic, n), x, critic_x
        )

    def init_optimizer(self, optimizer: optax.GradientTransformation, params: Any) -> Any:
        """One optimizer state per agent."""
        return jax.vmap(lambda p: self.inner.init_optimizer(optimizer, p))(params)

    def sample(
        self, actor_params: Any, key: jax.Array, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array, jax.Array]:
        """Each agent's actor on its own inputs (agent axis 1), with its own key."""
        keys = jax.random.split(key, self.num_agents)
        return jax.vmap(self.inner.sample, in_axes=(0, 0, 1, 1, 1), out_axes=1)(
            actor_params, keys, x, carry, reset
        )

    def greedy(
        self, actor_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """Each agent's greedy actions."""
        return jax.vmap(self.inner.greedy, in_axes=(0, 1, 1, 1), out_axes=1)(
            actor_params, x, carry, reset
        )

    def values(
        self, critic_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """Each agent's critic."""
        return jax.vmap(self.inner.values, in_axes=(0, 1, 1, 1), out_axes=1)(
            critic_params, x, carry, reset
        )

    def optimize(
        self, epochs: Any, params: Any, opt_state: Any, batch: Batch, carry: Any, key: jax.Array,
        trainable: jax.Array,
    ) -> tuple[Any, Any, Any, jax.Array]:  # fmt: skip
        """``n`` independent updates: ``(T, B, n, ...) -> (n, T, B, ...)`` and ``vmap``."""
        batch = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 2, 0), batch)
        carry = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 1, 0), carry)
        keys = jax.random.split(key, self.num_agents)
        return (*jax.vmap(epochs)(params, opt_state, batch, carry, keys), trainable)

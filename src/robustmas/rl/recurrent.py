"""Recurrent (GRU / LSTM) actor and critic for PPO: carries, sequence minibatches, replay.

Actor and critic are ``MLP torso -> GRU / LSTM cell -> head``
(:class:`~robustmas.rl.networks.RecurrentActor`, ``RecurrentCritic``).  During a rollout their
carries live in :attr:`~robustmas.rl.ppo.RunnerState.carry` and are reset to zeros where an
observation starts an episode.  The update replays each rollout sequence from the carry stored
before the rollout with the stored reset flags (no truncated "burn-in": before the first gradient
step the replay reproduces the rollout's log-probabilities and values), and its minibatches hold
whole sequences, so ``num_minibatches`` must divide the number of sequences.  Evaluation starts
each episode from a zero carry.
"""

from __future__ import annotations

from typing import Any, cast

import distrax
import jax
import jax.numpy as jnp

from robustmas.envs.core import Space
from robustmas.rl.config import PPOConfig
from robustmas.rl.networks import (
    RecurrentActor,
    RecurrentCritic,
    greedy_action,
    initial_carry,
    sample_action,
)
from robustmas.rl.policy import ActorCriticParams, Batch, OneLearner, critic_image

__all__ = ["Recurrent"]


class Recurrent(OneLearner):
    """Recurrent actor and critic for one learner (an :class:`~robustmas.rl.policy.ActorCritic`).

    Args:
        config: hyperparameters (``recurrent`` names the cell, ``recurrent_size`` its width).
        action_space: the learner's action space.
    """

    def __init__(self, config: PPOConfig, action_space: Space) -> None:
        self.action_space = action_space
        self.cell = config.recurrent
        self.size = config.recurrent_size
        self.actor = RecurrentActor(
            action_space=action_space,
            hidden_sizes=config.actor_hidden,
            activation=config.activation,
            cell=config.recurrent,
            recurrent_size=config.recurrent_size,
            min_concentration=config.min_concentration,
            mask_size=config.action_mask_size,
            image=config.conv_image,
            conv_features=config.conv_features,
        )
        self.critic = RecurrentCritic(
            hidden_sizes=config.critic_hidden,
            activation=config.activation,
            cell=config.recurrent,
            recurrent_size=config.recurrent_size,
            **critic_image(config),
        )

    def initial_carry(self, batch_shape: tuple[int, ...]) -> Any:
        """Zero carry of one network for a batch of shape ``batch_shape``."""
        return initial_carry(self.cell, self.size, batch_shape)

    def init(
        self, key_actor: jax.Array, key_critic: jax.Array, x: jax.Array, critic_x: jax.Array
    ) -> ActorCriticParams:
        """Fresh parameters."""
        zeros, no = self.initial_carry(()), jnp.bool_(False)
        return ActorCriticParams(
            actor=self.actor.init(key_actor, zeros, x, no),
            critic=self.critic.init(key_critic, zeros, critic_x, no),
        )

    def step(
        self, actor_params: Any, carry: Any, x: jax.Array, reset: jax.Array
    ) -> tuple[Any, distrax.Distribution]:
        """One actor step: ``(carry, x, reset) -> (carry, distribution)``."""
        return cast(
            tuple[Any, distrax.Distribution], self.actor.apply(actor_params, carry, x, reset)
        )

    def critic_step(
        self, critic_params: Any, carry: Any, x: jax.Array, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """One critic step: ``(carry, x, reset) -> (carry, value)``."""
        return cast(tuple[Any, jax.Array], self.critic.apply(critic_params, carry, x, reset))

    def sample(
        self, actor_params: Any, key: jax.Array, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array, jax.Array]:
        """Next carry, sampled actions and their log-probabilities."""
        carry, dist = self.step(actor_params, carry, x, reset)
        return (carry, *sample_action(dist, key, self.action_space))

    def greedy(
        self, actor_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """Next carry and greedy actions."""
        carry, dist = self.step(actor_params, carry, x, reset)
        return carry, greedy_action(dist, self.action_space)

    def values(
        self, critic_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """Next carry and state values."""
        return self.critic_step(critic_params, carry, x, reset)

    def minibatches(
        self, batch: Batch, carry: Any, key: jax.Array, num_minibatches: int
    ) -> tuple[Batch, Any]:
        """Whole sequences, shuffled: ``(batch leaves (M, T, S / M, ...), first carries)``."""
        num_seq = batch.obs.shape[1]
        size = num_seq // num_minibatches
        perm = jax.random.permutation(key, num_seq)
        seqs = jax.tree_util.tree_map(
            lambda x: jnp.moveaxis(
                x[:, perm].reshape((x.shape[0], num_minibatches, size, *x.shape[2:])), 1, 0
            ),
            batch,
        )
        first = jax.tree_util.tree_map(
            lambda x: x[perm].reshape((num_minibatches, size, *x.shape[1:])), carry
        )
        return seqs, first

    def replay(
        self, params: ActorCriticParams, batch: Batch, carry: Any
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Both networks over sequences ``(T, S, ...)`` from their first carries ``(S, ...)``.

        ``carry`` has ``actor`` and ``critic`` attributes
        (:class:`~robustmas.rl.state.RecurrentCarry`).  Returns ``(log_prob, entropy, value)`` of
        the stored actions, each ``(T, S)``.  The torsos (convolutions included) and heads run on
        all ``T x S`` inputs at once; only the cells are scanned over time.
        """
        _, dist = cast(
            tuple[Any, distrax.Distribution],
            self.actor.apply(params.actor, carry.actor, batch.obs, batch.reset, True),
        )
        _, value = cast(
            tuple[Any, jax.Array],
            self.critic.apply(params.critic, carry.critic, batch.critic_obs, batch.reset, True),
        )
        return jnp.asarray(dist.log_prob(batch.action)), jnp.asarray(dist.entropy()), value

    def evaluate_actions(
        self, params: ActorCriticParams, batch: Batch, carry: Any
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Replay a minibatch of sequences from their first carries (see :meth:`replay`)."""
        return self.replay(params, batch, carry)

"""What PPO needs from its networks: the :class:`ActorCritic` protocol and the feed-forward one.

:class:`~robustmas.rl.ppo.PPO` never looks inside its networks.  It asks an
:class:`ActorCritic` to initialise parameters, sample and value a batch of observations, cut a
rollout into minibatches and re-evaluate the stored actions in the loss.  Three kinds exist:

* :class:`FeedForward` (here): MLP actor and critic; minibatches of single transitions;
* :class:`~robustmas.rl.recurrent.Recurrent`: GRU / LSTM actor and critic with carries;
  minibatches of whole sequences replayed from their stored first carries;
* :class:`~robustmas.rl.multiagent.SharedParameters` and
  :class:`~robustmas.rl.multiagent.SeparateParameters`: adaptors that put either of the above
  in charge of ``n`` agents (one network for all, or one per agent).

Shapes: a *unit* is one learner's view of one environment, so a batch of units has shape
``(B, *agent_dims)`` with ``agent_dims = ()`` for one agent and ``(n,)`` for ``n`` agents;
observations add a trailing feature axis.  ``carry`` is ``None`` for feed-forward networks.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, cast

import distrax
import jax
import jax.numpy as jnp
import optax
from flax import struct

from robustmas.envs.core import Space
from robustmas.rl.config import PPOConfig
from robustmas.rl.networks import Actor, Critic, greedy_action, sample_action

__all__ = [
    "ActorCritic",
    "ActorCriticParams",
    "Batch",
    "FeedForward",
    "OneLearner",
    "OwnInputs",
    "critic_image",
]


@struct.dataclass
class ActorCriticParams:
    """Parameters of the two networks."""

    actor: Any
    """Flax variables of the actor."""
    critic: Any
    """Flax variables of the critic."""


class Batch(NamedTuple):
    """A rollout prepared for the PPO loss; leaves ``(T, S, ...)`` for ``S`` sequences."""

    obs: jax.Array
    """Actor inputs."""
    critic_obs: jax.Array
    """Critic inputs."""
    action: jax.Array
    """Actions taken (policy coordinates)."""
    log_prob: jax.Array
    """Their log-probabilities under the rollout policy."""
    value: jax.Array
    """Value estimates at rollout time."""
    advantages: jax.Array
    """GAE advantages."""
    targets: jax.Array
    """Value targets (GAE returns)."""
    reset: jax.Array
    """Whether the observation starts an episode (recurrent carries are zeroed there)."""
    weight: jax.Array | None
    """Per-sample loss weights (``None``: all 1); frozen agents' samples have weight 0."""
    ent_coef: jax.Array | None = None
    """Per-sample entropy weights (``None``: the config's ``ent_coef``); per-learner weights
    (``PPOConfig.learner_ent_coef``) broadcast over a learner's samples."""


class ActorCritic(Protocol):
    """The networks of a PPO learner and how PPO applies them (see the module docstring)."""

    agent_dims: tuple[int, ...]
    """``()`` for one agent, ``(n,)`` for ``n`` agents."""

    def actor_input(self, obs: jax.Array) -> jax.Array:
        """Actor inputs from flattened observations ``(B, *agent_dims, d)``."""
        ...

    def critic_input(self, x: jax.Array) -> jax.Array:
        """Critic inputs from flattened critic observations ``(B, *agent_dims, d)``."""
        ...

    def init(
        self, key_actor: jax.Array, key_critic: jax.Array, x: jax.Array, critic_x: jax.Array
    ) -> ActorCriticParams:
        """Fresh parameters from one environment's inputs ``(*agent_dims, d)``."""
        ...

    def init_optimizer(self, optimizer: optax.GradientTransformation, params: Any) -> Any:
        """The optimizer state of ``params``."""
        ...

    def initial_carry(self, batch_shape: tuple[int, ...]) -> Any:
        """Zero carry of one network for a batch of units (``None`` without recurrence)."""
        ...

    def sample(
        self, actor_params: Any, key: jax.Array, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array, jax.Array]:
        """``(carry, action, log_prob)`` for a batch of units."""
        ...

    def greedy(
        self, actor_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """``(carry, greedy action)`` for a batch of units."""
        ...

    def values(
        self, critic_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """``(carry, state values)`` for a batch of units."""
        ...

    def minibatches(
        self, batch: Batch, carry: Any, key: jax.Array, num_minibatches: int
    ) -> tuple[Batch, Any]:
        """One epoch's shuffled minibatches and their first carries, stacked on a leading axis."""
        ...

    def evaluate_actions(
        self, params: ActorCriticParams, batch: Batch, carry: Any
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(log_prob, entropy, value)`` of a minibatch's stored actions."""
        ...

    def optimize(
        self, epochs: Any, params: Any, opt_state: Any, batch: Batch, carry: Any, key: jax.Array,
        trainable: jax.Array,
    ) -> tuple[Any, Any, Any, jax.Array]:  # fmt: skip
        """Run ``epochs(params, opt_state, batch, carry, key)`` for the learners.

        ``batch`` leaves are ``(T, B, *agent_dims, ...)``, ``carry`` the carries before the
        rollout.  Returns ``(params, opt_state, loss_terms, keep)``: ``keep`` (broadcasting
        against the parameters' leading axes) says which results to keep; frozen learners keep
        their old parameters and optimizer state.
        """
        ...


def critic_image(config: PPOConfig) -> dict[str, Any]:
    """The critic's convolution fields (keyword arguments of its network).

    The actor's image, behind the mask (which the critic reads as features); none for a
    centralised critic, whose inputs are the env's state.
    """
    if not config.conv_image or config.centralized_critic:
        return {}
    return {
        "image": config.conv_image,
        "conv_features": config.conv_features,
        "image_offset": config.action_mask_size,
    }


class OwnInputs:
    """Networks that read the observations as they are (no agent id appended)."""

    def actor_input(self, obs: jax.Array) -> jax.Array:
        """The observations themselves."""
        return obs

    def critic_input(self, x: jax.Array) -> jax.Array:
        """The critic observations themselves."""
        return x


class OneLearner(OwnInputs):
    """What the one-learner actor-critics share: one optimizer state, kept unless frozen."""

    agent_dims: tuple[int, ...] = ()

    def init_optimizer(self, optimizer: optax.GradientTransformation, params: Any) -> Any:
        """``optimizer.init(params)``."""
        return optimizer.init(params)

    def optimize(
        self, epochs: Any, params: Any, opt_state: Any, batch: Batch, carry: Any, key: jax.Array,
        trainable: jax.Array,
    ) -> tuple[Any, Any, Any, jax.Array]:  # fmt: skip
        """One learner: its epochs, kept unless it is frozen."""
        return (*epochs(params, opt_state, batch, carry, key), jnp.any(trainable))


class FeedForward(OneLearner):
    """MLP actor and critic (:class:`~robustmas.rl.networks.Actor`, ``Critic``), one learner.

    Args:
        config: hyperparameters (network sizes, activation, Dirichlet floor).
        action_space: the learner's action space.
    """

    def __init__(self, config: PPOConfig, action_space: Space) -> None:
        self.action_space = action_space
        self.actor = Actor(
            action_space=action_space,
            hidden_sizes=config.actor_hidden,
            activation=config.activation,
            min_concentration=config.min_concentration,
            mask_size=config.action_mask_size,
            image=config.conv_image,
            conv_features=config.conv_features,
        )
        self.critic = Critic(
            hidden_sizes=config.critic_hidden, activation=config.activation, **critic_image(config)
        )

    def init(
        self, key_actor: jax.Array, key_critic: jax.Array, x: jax.Array, critic_x: jax.Array
    ) -> ActorCriticParams:
        """Fresh parameters."""
        return ActorCriticParams(
            actor=self.actor.init(key_actor, x), critic=self.critic.init(key_critic, critic_x)
        )

    def initial_carry(self, batch_shape: tuple[int, ...]) -> None:
        """No carry."""
        return None

    def distribution(self, actor_params: Any, x: jax.Array) -> distrax.Distribution:
        """Action distribution for actor inputs ``x``."""
        return cast(distrax.Distribution, self.actor.apply(actor_params, x))

    def value(self, critic_params: Any, x: jax.Array) -> jax.Array:
        """State values for critic inputs ``x``."""
        return cast(jax.Array, self.critic.apply(critic_params, x))

    def sample(
        self, actor_params: Any, key: jax.Array, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array, jax.Array]:
        """Sampled actions and their log-probabilities."""
        return (carry, *sample_action(self.distribution(actor_params, x), key, self.action_space))

    def greedy(
        self, actor_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """Greedy actions."""
        return carry, greedy_action(self.distribution(actor_params, x), self.action_space)

    def values(
        self, critic_params: Any, x: jax.Array, carry: Any, reset: jax.Array
    ) -> tuple[Any, jax.Array]:
        """State values."""
        return carry, self.value(critic_params, x)

    def minibatches(
        self, batch: Batch, carry: Any, key: jax.Array, num_minibatches: int
    ) -> tuple[Batch, None]:
        """Single transitions, shuffled: leaves ``(M, T * S / M, ...)`` for ``M`` minibatches."""
        total = batch.obs.shape[0] * batch.obs.shape[1]
        perm = jax.random.permutation(key, total)
        shuffled = jax.tree_util.tree_map(
            lambda x: x.reshape((total, *x.shape[2:]))[perm].reshape(
                (num_minibatches, total // num_minibatches, *x.shape[2:])
            ),
            batch,
        )
        return shuffled, None

    def evaluate_actions(
        self, params: ActorCriticParams, batch: Batch, carry: None
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Log-probabilities and entropies of the stored actions, and the values."""
        dist = self.distribution(params.actor, batch.obs)
        log_prob = jnp.asarray(dist.log_prob(batch.action))
        value = self.value(params.critic, batch.critic_obs)
        return log_prob, jnp.asarray(dist.entropy()), value

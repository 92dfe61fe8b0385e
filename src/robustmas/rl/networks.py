"""Actor and critic MLPs (flax.linen) with action heads for every space in :mod:`envs.core`.

The actor and the critic are separate networks (no shared torso), as in MAPPO, so the critic
can read a different input (``env.critic_observation``) than the actor.  Hidden layers use
orthogonal initialisation with gain ``sqrt(2)`` and zero biases; the policy head uses gain
``0.01`` (a near-uniform initial policy) and the value head gain ``1`` (Andrychowicz et al.,
2021, *What matters in on-policy RL?*).

Action heads, chosen from the action space:

* ``Discrete(n)`` -- ``distrax.Categorical`` over ``n`` logits; greedy action = argmax.
* ``Simplex(n)`` -- ``distrax.Dirichlet`` with concentrations
  ``softplus(x) + min_concentration`` (randomised leader strategies); greedy action = the mean
  ``alpha / sum(alpha)``, which unlike the mode exists for every ``alpha``.
* ``Box(low, high, shape)`` -- ``distrax.MultivariateNormalDiag`` over the flattened action with
  a state-independent log standard deviation; greedy action = the mean.  Sampled actions are
  stored unclipped (their log-probabilities stay exact) and clipped to ``[low, high]`` only when
  handed to the environment (:func:`env_action`).

Inputs are feature vectors on the last axis; any leading batch axes are kept.

TODO: a recurrent (GRU) actor for partially observed environments (the Stackelberg POMDP with
long histories) will slot in next to :class:`Actor` with a carried hidden state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from robustmas.envs.core import Box, Discrete, Simplex, Space

__all__ = [
    "ACTIVATIONS",
    "Actor",
    "Critic",
    "env_action",
    "greedy_action",
    "sample_action",
]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"tanh": nn.tanh, "relu": nn.relu}
"""Hidden-layer activations selectable by name."""

SIMPLEX_ACTION_FLOOR = 1e-6
"""Smallest weight of a sampled ``Simplex`` action (keeps Dirichlet log-probabilities finite)."""


def _activation(name: str) -> Callable[[jax.Array], jax.Array]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}") from None


def _dense(features: int, gain: float, name: str) -> nn.Dense:
    return nn.Dense(
        features,
        kernel_init=nn.initializers.orthogonal(gain),
        bias_init=nn.initializers.zeros,
        name=name,
    )


class _Torso(nn.Module):
    """Hidden layers ``hidden_0, hidden_1, ...`` of an MLP."""

    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = _activation(self.activation)
        for i, size in enumerate(self.hidden_sizes):
            x = act(_dense(size, math.sqrt(2.0), f"hidden_{i}")(x))
        return x


class Actor(nn.Module):
    """MLP policy returning a distrax distribution over actions of ``action_space``.

    Attributes:
        action_space: the environment's action space (selects the head).
        hidden_sizes: widths of the hidden layers.
        activation: ``"tanh"`` or ``"relu"``.
        min_concentration: floor added to the Dirichlet concentrations (``Simplex`` only).

    """

    action_space: Space
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    min_concentration: float = 1e-2

    @nn.compact
    def __call__(self, x: jax.Array) -> distrax.Distribution:
        """Action distribution for the observations ``x`` of shape ``(..., features)``."""
        h = _Torso(self.hidden_sizes, self.activation, name="torso")(x)
        space = self.action_space
        if isinstance(space, Discrete):
            logits = _dense(space.n, 0.01, "head")(h)
            return distrax.Categorical(logits=logits)
        if isinstance(space, Simplex):
            raw = _dense(space.n, 0.01, "head")(h)
            return distrax.Dirichlet(nn.softplus(raw) + self.min_concentration)
        if isinstance(space, Box):
            size = math.prod(space.shape)
            mean = _dense(size, 0.01, "head")(h)
            log_std = self.param("log_std", nn.initializers.zeros, (size,))
            scale = jnp.broadcast_to(jnp.exp(log_std), mean.shape)
            return distrax.MultivariateNormalDiag(mean, scale)
        raise TypeError(f"unsupported action space {space!r}")


class Critic(nn.Module):
    """MLP state-value function.

    Attributes:
        hidden_sizes: widths of the hidden layers.
        activation: ``"tanh"`` or ``"relu"``.

    """

    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Values of the inputs ``x`` of shape ``(..., features)``; returns shape ``(...)``."""
        h = _Torso(self.hidden_sizes, self.activation, name="torso")(x)
        return _dense(1, 1.0, "head")(h)[..., 0]


def sample_action(
    dist: distrax.Distribution, key: jax.Array, space: Space
) -> tuple[jax.Array, jax.Array]:
    """Sample an action and its log-probability under ``dist``.

    ``Simplex`` samples are floored at :data:`SIMPLEX_ACTION_FLOOR` and renormalised before the
    log-probability is taken, so that the stored action and its log-probability agree and stay
    finite even when float32 Dirichlet sampling underflows.

    Args:
        dist: the actor's output.
        key: PRNG key.
        space: the action space the actor was built for.

    Returns:
        ``(action, log_prob)``; the action is in policy coordinates (see :func:`env_action`).

    """
    action = dist.sample(seed=key)
    if isinstance(space, Simplex):
        action = jnp.maximum(jnp.nan_to_num(action), SIMPLEX_ACTION_FLOOR)
        action = action / jnp.sum(action, axis=-1, keepdims=True)
    return jnp.asarray(action), jnp.asarray(dist.log_prob(action))


def greedy_action(dist: distrax.Distribution, space: Space) -> jax.Array:
    """Deterministic action: argmax (``Discrete``), mean (``Simplex``, ``Box``)."""
    if isinstance(space, Discrete):
        return jnp.asarray(dist.mode())
    return jnp.asarray(dist.mean())


def env_action(action: jax.Array, space: Space) -> jax.Array:
    """Map one action in policy coordinates to the environment's action space.

    ``Box`` actions are reshaped to ``space.shape`` and clipped to ``[low, high]``; other spaces
    pass through unchanged.
    """
    if isinstance(space, Box):
        return jnp.clip(action.reshape(space.shape), space.low, space.high)
    return action

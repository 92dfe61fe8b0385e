"""Generalized advantage estimation (GAE).

Schulman, Moritz, Levine, Jordan, Abbeel, *High-dimensional continuous control using generalized
advantage estimation*, ICLR 2016 (arXiv:1506.02438), Eq. 16.
Time runs along the leading axis; any trailing axes (environments, agents) are batch axes.
``dones[t]`` marks that the episode ended with the transition at step ``t``, so the value of the
next observation is not bootstrapped across it::

    delta_t = r_t + gamma * V(s_{t+1}) * (1 - done_t) - V(s_t)
    A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
    target_t = A_t + V(s_t)

with ``V(s_T) = last_value``.  Time-limit truncation is treated as termination (the environment
protocol has a single ``done`` flag).

:func:`gae` is a reverse ``jax.lax.scan``; :func:`gae_numpy` is the plain loop it is tested
against.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["gae", "gae_numpy"]


def gae(
    rewards: ArrayLike,
    values: ArrayLike,
    dones: ArrayLike,
    last_value: ArrayLike,
    gamma: float | jax.Array,
    lam: float | jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets by GAE(``gamma``, ``lam``).

    Args:
        rewards: rewards ``r_t``, shape ``(T, ...)``.
        values: value estimates ``V(s_t)``, shape ``(T, ...)``.
        dones: episode-end flags after step ``t`` (bool or 0/1), shape ``(T, ...)``.
        last_value: ``V(s_T)`` of the observation after the last step, shape ``(...)``.
        gamma: discount factor.
        lam: GAE mixing parameter (0: one-step TD, 1: Monte Carlo).

    Returns:
        ``(advantages, targets)``, both of shape ``(T, ...)`` with ``targets = advantages +
        values``.

    """
    rewards = jnp.asarray(rewards)
    values = jnp.asarray(values, dtype=rewards.dtype)
    not_done = 1.0 - jnp.asarray(dones).astype(rewards.dtype)
    last_value = jnp.asarray(last_value, dtype=rewards.dtype)
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    deltas = rewards + gamma * next_values * not_done - values

    def backward(carry: jax.Array, x: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        delta, nd = x
        adv = delta + gamma * lam * nd * carry
        return adv, adv

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(last_value), (deltas, not_done), reverse=True
    )
    return advantages, advantages + values


def gae_numpy(
    rewards: ArrayLike,
    values: ArrayLike,
    dones: ArrayLike,
    last_value: ArrayLike,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Reference loop in float64 NumPy with the same contract as :func:`gae`."""
    r = np.asarray(rewards, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    nd = 1.0 - np.asarray(dones, dtype=np.float64)
    next_value = np.asarray(last_value, dtype=np.float64)
    adv = np.zeros_like(r)
    running = np.zeros_like(next_value)
    for t in reversed(range(r.shape[0])):
        delta = r[t] + gamma * next_value * nd[t] - v[t]
        running = delta + gamma * lam * nd[t] * running
        adv[t] = running
        next_value = v[t]
    return adv, adv + v

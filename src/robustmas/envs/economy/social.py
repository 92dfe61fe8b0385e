"""Utility, equality, productivity and social welfare of the economy (pure ``jax.numpy``).

Agents' utility is isoelastic in coin minus a linear labour cost (robust-principal Eq. 6, ERMAS
Eq. 14, the AI Economist's ``isoelastic_coin_minus_labor``)::

    u_i = (c_i^(1 - eta) - 1) / (1 - eta) - kappa l_i        (log max(1, c_i) when eta = 1)

with ``c_i`` the agent's coin (inventory plus escrow) and ``l_i`` its accumulated labour.  The
planner's objective is equality times productivity of the coin endowments (ERMAS Eq. 15); the
AI Economist uses the *mean* coin as productivity (``swf``), the papers print the *sum*
(``swf_sum = N swf``); decision D23 stores both and headlines the AI Economist's.  Equality is
``1 - G`` with ``G`` the Gini index normalised by ``(N - 1)/N``.  Every function reduces over
the last axis, so batches of economies go through unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "coin_eq_times_productivity",
    "equality",
    "gini",
    "inv_income_weighted_coin",
    "inv_income_weighted_utility",
    "isoelastic_utility",
    "productivity",
]


def isoelastic_utility(
    coin: jax.Array, labor: jax.Array, eta: jax.Array | float, labor_cost: jax.Array | float
) -> jax.Array:
    """``(c^(1 - eta) - 1)/(1 - eta) - labor_cost * labor``; ``log(max(1, c))`` at ``eta = 1``.

    ``eta`` must lie in ``[0, 1]`` (the AI Economist asserts it); coin is nonnegative.
    """
    eta = jnp.asarray(eta, jnp.float32)
    one_minus = 1.0 - eta
    safe = jnp.where(one_minus == 0.0, 1.0, one_minus)
    power = (jnp.power(coin, one_minus) - 1.0) / safe
    log = jnp.log(jnp.maximum(1.0, coin))
    return jnp.where(one_minus == 0.0, log, power) - labor * labor_cost


def gini(coin: jax.Array) -> jax.Array:
    """Gini index over the last axis, normalised so that one agent holding all gives 1.

    ``sum |c_i - c_j| / (2 N sum c + 1e-10) * N/(N - 1)``; 0 when all coin is 0.
    """
    n = coin.shape[-1]
    diff = jnp.abs(coin[..., :, None] - coin[..., None, :]).sum(axis=(-1, -2))
    unscaled = diff / (2 * n * coin.sum(axis=-1) + 1e-10)
    return unscaled * n / (n - 1)


def equality(coin: jax.Array) -> jax.Array:
    """``1 - gini(coin)``."""
    return 1.0 - gini(coin)


def productivity(coin: jax.Array) -> jax.Array:
    """Total coin over the last axis."""
    return coin.sum(axis=-1)


def coin_eq_times_productivity(
    coin: jax.Array, equality_weight: jax.Array | float = 1.0
) -> jax.Array:
    """The AI Economist's planner objective: ``(w eq + 1 - w) * mean coin`` (``swf``)."""
    n = coin.shape[-1]
    eq = equality_weight * equality(coin) + (1.0 - equality_weight)
    return eq * productivity(coin) / n


def _inverse_income_weights(coin: jax.Array) -> jax.Array:
    w = 1.0 / jnp.maximum(coin, 1.0)
    return w / w.sum(axis=-1, keepdims=True)


def inv_income_weighted_coin(coin: jax.Array) -> jax.Array:
    """Coin weighted by normalised ``1 / max(c, 1)`` (an alternative planner objective)."""
    return (coin * _inverse_income_weights(coin)).sum(axis=-1)


def inv_income_weighted_utility(coin: jax.Array, utility: jax.Array) -> jax.Array:
    """Utilities weighted by normalised ``1 / max(c, 1)``."""
    return (utility * _inverse_income_weights(coin)).sum(axis=-1)

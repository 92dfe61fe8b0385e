"""Periodic bracket taxes of the economy (the AI Economist's ``PeriodicBracketTax``), pure JAX.

Seven US-federal brackets with cutoffs ``[0, 9700, 39475, 84200, 160725, 204100, 510300]``
dollars, scaled by ``usd_scaling = 1000`` to coin (spec Sec. 5).  Every ``period`` steps (100)
each agent's *income* -- the growth of its coin (inventory plus escrow) since the last tax day
-- is taxed bracket by bracket at the period's marginal rates; the tax taken is capped at the
coin in the agent's inventory (escrowed coin is never taken), and the revenue is paid back in
equal lump sums.  Rates are set on a period's first step: by the planner (an index per bracket,
0 keeps the rate, ``k`` picks ``k - 1`` on the grid ``0, 0.05, ..., 1``), as the US federal 2018
schedule, or by Saez's formula (:mod:`robustmas.envs.economy.saez`); an annealed ``rate_max``
caps the fixed schedules and masks the planner's choices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

__all__ = [
    "US_FEDERAL_2018_RATES",
    "US_FEDERAL_CUTOFFS_USD",
    "TaxDay",
    "annealed_rate_max",
    "bracket_cutoffs",
    "enact",
    "marginal_rate",
    "rate_grid",
    "taxes_due",
]

US_FEDERAL_CUTOFFS_USD = (0.0, 9700.0, 39475.0, 84200.0, 160725.0, 204100.0, 510300.0)
"""Lower edges of the seven single-filer brackets, in dollars."""

US_FEDERAL_2018_RATES = (0.10, 0.12, 0.22, 0.24, 0.32, 0.35, 0.37)
"""The 2018 single-filer marginal rates (the ``us-federal-single-filer-2018-scaled`` model)."""


def bracket_cutoffs(usd_scaling: float = 1000.0) -> np.ndarray:
    """Bracket lower edges in coin, ``(7,)``."""
    return np.asarray(US_FEDERAL_CUTOFFS_USD) / usd_scaling


def rate_grid(rate_min: float = 0.0, rate_max: float = 1.0, step: float = 0.05) -> np.ndarray:
    """The planner's rate choices, ``rate_min, rate_min + step, ..., <= rate_max`` (21 by default).

    Computed as the AI Economist does (``arange`` then a filter), so the float values agree.
    """
    grid = np.arange(rate_min, rate_max + step, step)
    return grid[grid <= rate_max]


def _bracket_widths(cutoffs: jax.Array) -> jax.Array:
    return jnp.concatenate([cutoffs[1:] - cutoffs[:-1], jnp.array([jnp.inf], cutoffs.dtype)])


def taxes_due(income: jax.Array, rates: jax.Array, cutoffs: jax.Array) -> jax.Array:
    """Tax on ``income`` (any leading shape) under marginal ``rates`` per bracket.

    ``sum_b rate_b * clip(income - cutoff_b, 0, width_b)``; 0 for nonpositive income.
    """
    cutoffs = jnp.asarray(cutoffs, jnp.float32)
    past = jnp.maximum(0.0, income[..., None] - cutoffs)
    in_bracket = jnp.minimum(_bracket_widths(cutoffs), past)
    return (rates * in_bracket).sum(axis=-1)


def marginal_rate(income: jax.Array, rates: jax.Array, cutoffs: jax.Array) -> jax.Array:
    """The rate of the bracket that ``income`` falls in (``cutoff_b <= income < cutoff_b+1``).

    0 for negative income.
    """
    cutoffs = jnp.asarray(cutoffs, jnp.float32)
    index = jnp.sum(income[..., None] >= cutoffs, axis=-1) - 1
    rate = jnp.take(rates, jnp.clip(index, 0, cutoffs.shape[0] - 1), axis=-1)
    return jnp.where(income < 0, 0.0, rate)


def annealed_rate_max(
    completions: jax.Array | int, warmup: float, slope: float, rate_max: float = 1.0
) -> jax.Array:
    """The AI Economist's tax annealing: ``rate_max * clip(slope * (completions - warmup), 0, 1)``.

    The released code's schedule ``[-100, 0.001]`` gives 0.1 at the start and ``rate_max`` after
    900 completed episodes.  The planner may pick the rates ``<= `` this cap.
    """
    visible = jnp.clip(slope * (jnp.asarray(completions, jnp.float32) - warmup), 0.0, 1.0)
    return visible * rate_max


@struct.dataclass
class TaxDay:
    """What a tax day does to the agents (each ``(N,)`` but ``lump_sum``)."""

    income: jax.Array
    """Coin (inventory plus escrow) gained since the last tax day."""
    paid: jax.Array
    """Tax taken: ``min(inventory coin, taxes_due(income))``."""
    marginal_rate: jax.Array
    """Rate of the bracket the income fell in."""
    lump_sum: jax.Array
    """Revenue over the number of agents, paid to each."""
    inventory_coin: jax.Array
    """Coin in hand afterwards."""
    last_coin: jax.Array
    """Coin (inventory plus escrow) afterwards: the next period's starting point."""


def enact(
    inventory_coin: jax.Array,
    escrow_coin: jax.Array,
    last_coin: jax.Array,
    rates: jax.Array,
    cutoffs: jax.Array,
) -> TaxDay:
    """Tax every agent's income and redistribute the revenue in equal lump sums."""
    income = inventory_coin + escrow_coin - last_coin
    paid = jnp.minimum(inventory_coin, taxes_due(income, rates, cutoffs))
    lump = paid.sum(axis=-1, keepdims=True) / paid.shape[-1]
    inventory = inventory_coin - paid + lump
    return TaxDay(
        income=income,
        paid=paid,
        marginal_rate=marginal_rate(income, rates, cutoffs),
        lump_sum=lump[..., 0],
        inventory_coin=inventory,
        last_coin=inventory + escrow_coin,
    )

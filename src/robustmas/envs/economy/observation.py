"""Observations and action masks of the gather-trade-build economy (the AI Economist's).

Each agent sees an egocentric ``(2v+1) x (2v+1)`` window (``v = 5``) of the map channels --
stone, wood, house, water, stone source, wood source, and an in-bounds channel -- and of two
index maps (house owners and agents: 1 for itself, ``2 + j`` for agent ``j``, 0 for none), a flat
vector of features (:data:`AGENT_FEATURES`, the AI Economist's sorted key order) and its action
mask; the planner sees the whole map, the index maps, its flat vector
(:data:`PLANNER_FEATURES`) and its mask.  Maps and index maps are ``uint8``.
:class:`~robustmas.envs.economy.env.GatherTradeBuild` calls these functions; they read its
constants (layout, market rules, brackets) and the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from flax import struct

from robustmas.envs.economy import market
from robustmas.envs.economy import tax as taxes

if TYPE_CHECKING:
    from robustmas.envs.economy.env import EconomyParams, EconomyState, GatherTradeBuild

__all__ = [
    "AGENT_FEATURES",
    "AGENT_INDEX_CHANNELS",
    "AGENT_MAP_CHANNELS",
    "PLANNER_FEATURES",
    "VIEW_RADIUS",
    "EconomyObs",
    "action_masks",
    "agent_image_shape",
    "flat_features",
    "observe",
    "world_maps",
]

VIEW_RADIUS = 5
"""Half-width of the agents' egocentric window (the AI Economist's 11 x 11)."""
AGENT_MAP_CHANNELS = 7
"""Channels of an agent's map window: the six world maps and the in-bounds map."""
AGENT_INDEX_CHANNELS = 2
"""Channels of an agent's index window: house owners and agents (the agent itself as 1)."""


def agent_image_shape(view_radius: int = VIEW_RADIUS) -> tuple[int, int, int]:
    """``(channels, side, side)``: an agent's map and index windows stacked, ``side = 2 r + 1``.

    This is the image a network's convolutions read.
    """
    side = 2 * view_radius + 1
    return (AGENT_MAP_CHANNELS + AGENT_INDEX_CHANNELS, side, side)


_COIN = 0  # inventory column of coin; resource r is column 1 + r
_INV_SCALE = 0.01  # the AI Economist's observation scaling of inventories and price history


def _both(*names: str) -> tuple[tuple[str, int], ...]:
    """Market entries for stone then wood, name by name (11 prices each, rates 1)."""
    size = lambda name: 1 if name == "market_rate" else 11  # noqa: E731
    return tuple((f"{n}-{r}", size(n)) for n in names for r in ("Stone", "Wood"))


AGENT_FEATURES: tuple[tuple[str, int], ...] = (
    ("build_payment", 1),
    ("build_skill", 1),
    *_both("available_asks", "available_bids", "market_rate", "my_asks", "my_bids"),
    *_both("price_history"),
    ("bonus_gather_prob", 1),
    ("curr_rates", 7),
    ("is_first_day", 1),
    ("is_tax_day", 1),
    ("last_incomes", 4),
    ("marginal_rate", 1),
    ("tax_phase", 1),
    ("time", 1),
    ("inventory-Coin", 1),
    ("inventory-Stone", 1),
    ("inventory-Wood", 1),
    ("loc-col", 1),
    ("loc-row", 1),
)
"""Names and lengths of an agent's flat observation, in the AI Economist's (sorted) order.

Inventories and the price history are scaled by 0.01, the build payment by the base payment
(10), locations by the map size, ``last_incomes`` (sorted) per step of the tax period."""

PLANNER_FEATURES: tuple[tuple[str, int], ...] = (
    *_both("full_asks", "full_bids", "market_rate", "price_history"),
    ("curr_rates", 7),
    ("is_first_day", 1),
    ("is_tax_day", 1),
    ("last_incomes", 4),
    ("tax_phase", 1),
    ("time", 1),
    ("inventory-Coin", 1),
    ("inventory-Stone", 1),
    ("inventory-Wood", 1),
    *(
        (f"p{i}-{name}", 1)
        for i in range(4)
        for name in (
            "curr_marginal_rate",
            "last_income",
            "last_marginal_rate",
            "inventory-Coin",
            "inventory-Stone",
            "inventory-Wood",
            "loc-col",
            "loc-row",
        )
    ),
)
"""Names and lengths of the planner's flat observation: the AI Economist's 86 entries (its own
inventory is always empty), then its per-agent ``p0..p3`` entries, 8 each."""


@struct.dataclass
class EconomyObs:
    """Observations of the agents (leading axis ``N``) and of the planner."""

    agent_map: jax.Array
    """``(N, 7, 2v+1, 2v+1)`` uint8 egocentric map channels (see the module docstring)."""
    agent_idx: jax.Array
    """``(N, 2, 2v+1, 2v+1)`` uint8 egocentric house-owner and agent index maps."""
    agent_flat: jax.Array
    """``(N, F)`` flat features, :data:`AGENT_FEATURES`."""
    agent_mask: jax.Array
    """``(N, 50)`` allowed actions (bool)."""
    planner_map: jax.Array
    """``(6, H, W)`` uint8 map channels."""
    planner_idx: jax.Array
    """``(2, H, W)`` uint8 house-owner and agent index maps."""
    planner_flat: jax.Array
    """``(G,)`` flat features, :data:`PLANNER_FEATURES`."""
    planner_mask: jax.Array
    """``(7, 22)`` allowed choices per bracket (bool)."""
    time: jax.Array
    """Steps taken over the episode length."""


def action_masks(
    env: GatherTradeBuild, state: EconomyState, params: EconomyParams
) -> tuple[jax.Array, jax.Array]:
    """``(N, 50)`` agents' and ``(7, 22)`` planner's allowed actions (bool).

    The AI Economist's masks: build when possible; a bid at price ``p`` with a free order
    slot and ``p`` coin in hand; any ask with a free slot and a unit in hand; a move onto
    an in-bounds, unoccupied tile the agent may enter.  The planner chooses rates (those
    ``<= rate_max``) only on a period's first step; "keep" is always allowed.
    """
    n, rows, cols = env.n_agents, state.loc[:, 0], state.loc[:, 1]
    can_build = (
        (state.inventory[:, 1:] >= 1).all(axis=1)
        & (state.resources[:, rows, cols] <= 0).all(axis=0)
        & env._landmark_free(state, rows, cols)
    )
    n_open = state.book.active.sum(axis=2)  # (R, N)
    free = n_open < env.rules.max_num_orders
    prices = jnp.arange(env.n_prices)
    can_pay = prices[None, :] <= state.inventory[:, _COIN][:, None]  # (N, P)
    blocks = []
    for r in range(2):
        blocks.append(free[r][:, None] & can_pay)
        has = state.inventory[:, 1 + r] > 0
        blocks.append(jnp.broadcast_to((free[r] & has)[:, None], (n, env.n_prices)))
    height, width = env.layout.shape
    d_row, d_col = jnp.array([0, 0, -1, 1]), jnp.array([-1, 1, 0, 0])
    nr, nc = rows[:, None] + d_row, cols[:, None] + d_col  # (N, 4)
    inside = (nr >= 0) & (nr < height) & (nc >= 0) & (nc < width)
    nr_, nc_ = jnp.clip(nr, 0, height - 1), jnp.clip(nc, 0, width - 1)
    occupied = jnp.zeros(env.layout.shape, bool).at[rows, cols].set(True)
    enterable = env._enterable(state, nr_, nc_, jnp.arange(n)[:, None])
    moves = inside & ~occupied[nr_, nc_] & enterable
    agent = jnp.concatenate([jnp.ones((n, 1), bool), can_build[:, None], *blocks, moves], axis=1)
    allowed = env.rate_grid <= params.rate_max + 1e-6
    first = state.tax_cycle_pos == 1
    if env.tax_model != "planner":
        first = jnp.bool_(False)
    planner = jnp.concatenate(
        [
            jnp.ones((env.num_brackets, 1), bool),
            jnp.broadcast_to(allowed & first, (env.num_brackets, allowed.shape[0])),
        ],
        axis=1,
    )
    return agent, planner


def world_maps(env: GatherTradeBuild, state: EconomyState) -> tuple[jax.Array, jax.Array]:
    """``(6, H, W)`` map channels and ``(2, H, W)`` index maps (owner + 2, agent + 2), uint8."""
    u8 = jnp.uint8
    maps = jnp.concatenate(
        [
            state.resources.astype(u8),
            (state.house_owner >= 0).astype(u8)[None],
            env._static_maps,
        ]
    )
    agents = jnp.zeros(env.layout.shape, u8)
    agents = agents.at[state.loc[:, 0], state.loc[:, 1]].set(
        jnp.arange(2, env.n_agents + 2, dtype=u8)
    )
    owners = jnp.where(state.house_owner >= 0, state.house_owner + 2, 0).astype(u8)
    return maps, jnp.stack([owners, agents])


def observe(env: GatherTradeBuild, state: EconomyState, params: EconomyParams) -> EconomyObs:
    """Everybody's observation of ``state``.

    Map and index observations are ``uint8`` (small counts and indices; a network casts
    them): a quarter of float32's memory traffic, which bounds the step rate on CPUs.
    """
    n, v = env.n_agents, env.view_radius
    height, width = env.layout.shape
    maps, idx = world_maps(env, state)
    # One padded stack (6 map channels, in-bounds, 2 index maps) and one slice per agent.
    inside = jnp.ones((1, height, width), jnp.uint8)
    padded = jnp.pad(jnp.concatenate([maps, inside, idx]), ((0, 0), (v, v), (v, v)))
    size = (padded.shape[0], 2 * v + 1, 2 * v + 1)
    windows = jax.vmap(lambda loc: jax.lax.dynamic_slice(padded, (0, loc[0], loc[1]), size))(
        state.loc
    )
    agent_map, agent_idx = windows[:, :AGENT_MAP_CHANNELS], windows[:, AGENT_MAP_CHANNELS:]
    me = jnp.arange(2, n + 2, dtype=jnp.uint8)[:, None, None, None]
    agent_idx = jnp.where(agent_idx == me, jnp.uint8(1), agent_idx)

    agent_mask, planner_mask = action_masks(env, state, params)
    time = state.t.astype(jnp.float32) / params.episode_length
    agent_flat, planner_flat = flat_features(env, state, time, params)
    return EconomyObs(
        agent_map=agent_map,
        agent_idx=agent_idx,
        agent_flat=agent_flat,
        agent_mask=agent_mask,
        planner_map=maps,
        planner_idx=idx,
        planner_flat=planner_flat,
        planner_mask=planner_mask,
        time=time,
    )


def flat_features(
    env: GatherTradeBuild, state: EconomyState, time: jax.Array, params: EconomyParams
) -> tuple[jax.Array, jax.Array]:
    """The agents' and the planner's flat features (:data:`AGENT_FEATURES`)."""
    n = env.n_agents
    height, width = env.layout.shape
    inv = state.inventory * _INV_SCALE
    row = state.loc[:, 0].astype(jnp.float32) / height
    col = state.loc[:, 1].astype(jnp.float32) / width
    bids, asks = market.histograms(state.book, env.rules)  # (R, N, P)
    history = state.book.price_history.sum(axis=1)  # (R, P)
    prices = jnp.arange(env.n_prices, dtype=jnp.float32)
    rate = (history * prices).sum(axis=1) / jnp.maximum(0.001, history.sum(axis=1))
    all_bids, all_asks = bids.sum(axis=1), asks.sum(axis=1)  # (R, P)
    tax_day = (state.tax_cycle_pos >= env.period).astype(jnp.float32)
    first = (state.tax_cycle_pos == 1).astype(jnp.float32)
    phase = state.tax_cycle_pos.astype(jnp.float32) / env.period
    incomes = jnp.sort(state.last_income / env.period)
    income_now = env.coin(state) - state.last_coin
    marginal_now = taxes.marginal_rate(income_now, state.rates, env.cutoffs)
    col_ = lambda x: jnp.broadcast_to(x, (n,))[:, None]  # noqa: E731
    by_agent = lambda x: x.transpose(1, 0, 2).reshape(n, -1)  # (R, N, P) -> (N, R*P)  # noqa: E731
    agent_flat = jnp.concatenate(
        [
            col_(state.build_payment / params.base_payment),
            col_(state.build_skill_obs),
            by_agent(all_asks[:, None] - asks),
            by_agent(all_bids[:, None] - bids),
            jnp.broadcast_to(rate, (n, 2)),
            by_agent(asks),
            by_agent(bids),
            jnp.broadcast_to((history * _INV_SCALE).reshape(-1), (n, 2 * env.n_prices)),
            col_(state.bonus_gather_prob),
            jnp.broadcast_to(state.rates, (n, env.num_brackets)),
            col_(first),
            col_(tax_day),
            jnp.broadcast_to(incomes, (n, n)),
            col_(marginal_now),
            col_(phase),
            col_(time),
            inv,
            col_(col),
            col_(row),
        ],
        axis=1,
    )
    per_agent = jnp.concatenate(
        [
            marginal_now[:, None],
            (state.last_income / env.period)[:, None],
            state.last_marginal_rate[:, None],
            inv,
            col[:, None],
            row[:, None],
        ],
        axis=1,
    )
    planner_flat = jnp.concatenate(
        [
            all_asks.reshape(-1),
            all_bids.reshape(-1),
            rate,
            (history * _INV_SCALE).reshape(-1),
            state.rates,
            jnp.stack([first, tax_day]),
            incomes,
            jnp.stack([phase, time]),
            jnp.zeros(3, jnp.float32),
            per_agent.reshape(-1),
        ]
    )
    return agent_flat, planner_flat

"""Gather-trade-build: the AI Economist's tax economy, in pure JAX.

The economy of the robust-principal paper (Sec. 6, Fig. 4, Table 2, Eq. 6) and ERMAS (Sec. 4.4,
Eq. 14-15), which both run the AI Economist (Zheng et al. 2020, ``ai-economist`` 1.7.1) scenario
``layout_from_file/simple_wood_and_stone`` on the Open-Quadrant map with four agents and a
planner.  The rules below were read from that package (observations and masks live in
:mod:`~robustmas.envs.economy.observation`); ``tests/test_economy.py`` replays its episodes
step by step (``tests/data/aie_replay*.npz``) and compares every quantity.

**World.**  A 25 x 25 map (:mod:`~robustmas.envs.economy.layout`): water, stone and wood source
tiles.  A source tile holds at most one unit; an empty one regrows a unit with probability
``resource_regen_prob`` (0.01) per step.  Agents occupy one tile each; houses block everybody but
their owner; water blocks everybody.

**Agents** (``n_agents`` = 4) carry coin, stone and wood, in an *inventory* and an *escrow*
(goods held by open market orders), and accumulate labour.  With the papers'
``fixed_four_skill_and_loc`` they get the four average-ranked Pareto build payments (about 11.3,
13.3, 16.5, 22.2 coin per house) and the matching corners, assigned by a fresh random
permutation at every reset; a gather bonus probability ``min(2, Pareto(3))/2`` per agent and
episode; and an observed "build skill" drawn from ``Pareto(4)`` (the AI Economist shows that
draw, not the fixed payment: a quirk kept).

**Actions.**  An agent takes one of 50 actions per step: 0 no-op, 1 build, then for stone and for
wood a bid and an ask at prices ``0..10`` (``2..12`` buy stone, ``13..23`` sell stone, ``24..34``
buy wood, ``35..45`` sell wood), then ``46..49`` move left, right, up, down.  The planner picks
per bracket 0 (keep) or a rate index ``k`` (rate ``0.05 (k - 1)``); its choices only count on a
tax period's first step (:mod:`~robustmas.envs.economy.tax`).

**Step**, in the AI Economist's order of components:

1. *Build*: an agent with a unit of wood and of stone on a tile without resource or landmark
   builds a house there, earning its build payment and ``build_labor`` (10) labour.
2. *Trade*: orders are posted and matched (:mod:`~robustmas.envs.economy.market`).
3. *Gather*: in a random order, agents move (``move_labor`` 1 when they actually move; blocked
   moves stay put), then every agent standing on a unit -- moved or not -- collects it
   (``1 + [u < bonus]`` units, ``collect_labor`` 1).
4. *Tax*: on a period's first step the period's rates are set; on its last (every ``period``
   steps) taxes are collected and redistributed.
5. Source tiles regrow.

**Rewards** are per-step *changes*: an agent's isoelastic utility of its coin (inventory plus
escrow) minus ``energy_cost`` times its labour, the planner's equality-times-mean-coin ``swf``
(:mod:`~robustmas.envs.economy.social`); an episode's return is therefore the final value minus
the initial one (the planner's starts at 0, an agent's at ``-1/(1 - eta)``).

**Observations** (:class:`EconomyObs`): each agent sees an egocentric ``11 x 11`` window (map
channels stone, wood, house, water, stone source, wood source, in-bounds; and an index map of
house owners and agents, 1 for itself, ``2 + j`` for agent ``j``, 0 for none) plus a flat vector
and its action mask; the planner sees the whole map and its own flat vector and mask.  The flat
vectors hold the AI Economist's features in its order (:data:`AGENT_FEATURES`,
:data:`PLANNER_FEATURES`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.typing import ArrayLike

from robustmas.compilation.lockstep import lockstep_cond
from robustmas.envs.economy import market, observation, social
from robustmas.envs.economy import tax as taxes
from robustmas.envs.economy.layout import (
    load_layout,
    ranked_build_payments,
    ranked_corners,
)
from robustmas.envs.economy.observation import (
    AGENT_FEATURES,
    PLANNER_FEATURES,
    VIEW_RADIUS,
    EconomyObs,
    agent_image_shape,
)
from robustmas.envs.economy.saez import (
    SaezState,
    saez_add,
    saez_init,
    saez_period_rates,
    saez_reset_rates,
)

__all__ = [
    "AGENT_FEATURES",
    "PLANNER_FEATURES",
    "EconomyAction",
    "EconomyNoise",
    "EconomyObs",
    "EconomyParams",
    "EconomyState",
    "GatherTradeBuild",
    "TaxModel",
]

TaxModel = Literal["planner", "fixed", "saez"]
"""Who sets the rates: the planner's actions, ``params.fixed_rates``, or Saez's formula."""

_COIN = 0  # inventory/escrow column of coin; resource r is column 1 + r


@struct.dataclass
class EconomyParams:
    """What may vary between economies without recompiling.

    All fields are data (``vmap`` over them) but the static ``episode_length``.
    """

    isoelastic_eta: jax.Array
    """Curvature of the agents' utility of coin, in ``[0, 1]`` (0.23; the test types vary it)."""
    energy_cost: jax.Array
    """Utility cost per unit of labour (0.21)."""
    resource_regen_prob: jax.Array
    """Chance per step that an empty source tile regrows (0.01)."""
    build_payments: jax.Array
    """``(n_agents,)`` payment per house by skill rank, lowest first."""
    base_payment: jax.Array
    """The base payment they scale (agents observe their payment over it)."""
    fixed_rates: jax.Array
    """``(7,)`` bracket rates of the ``fixed`` tax model (zeros: free market)."""
    rate_max: jax.Array
    """Highest rate allowed (tax annealing): caps fixed and Saez rates, masks the planner's."""
    equality_weight: jax.Array
    """Weight of equality in the planner's ``swf`` (1: equality times productivity)."""
    episode_length: int = struct.field(pytree_node=False, default=1000)
    """Steps per episode."""


@struct.dataclass
class EconomyState:
    """One economy's state."""

    t: jax.Array
    """Steps taken this episode."""
    loc: jax.Array
    """``(N, 2)`` int32 ``(row, col)`` of each agent."""
    inventory: jax.Array
    """``(N, 3)`` coin, stone, wood in hand."""
    escrow: jax.Array
    """``(N, 3)`` coin, stone, wood held by open orders."""
    labor: jax.Array
    """``(N,)`` labour so far."""
    resources: jax.Array
    """``(2, H, W)`` int8 stone and wood units on the map (0 or 1)."""
    house_owner: jax.Array
    """``(H, W)`` int8 owner of the house on a tile, -1 for none."""
    build_payment: jax.Array
    """``(N,)`` coin per house of each agent."""
    build_skill_obs: jax.Array
    """``(N,)`` the Pareto draw the agents observe as their build skill."""
    bonus_gather_prob: jax.Array
    """``(N,)`` chance of a second unit when gathering."""
    book: market.Book
    """Open market orders and sales history."""
    rates: jax.Array
    """``(7,)`` this period's marginal rates."""
    rate_index: jax.Array
    """``(7,)`` int32 the planner's current choice per bracket (index into the rate grid)."""
    tax_cycle_pos: jax.Array
    """Position in the tax period, 1 on its first step (the AI Economist's counter)."""
    last_coin: jax.Array
    """``(N,)`` coin after the last tax day (income is measured from it)."""
    last_income: jax.Array
    """``(N,)`` income taxed on the last tax day."""
    last_marginal_rate: jax.Array
    """``(N,)`` marginal rate on the last tax day."""
    utility: jax.Array
    """``(N,)`` current utility (rewards are its changes)."""
    swf: jax.Array
    """The planner's current objective."""
    builds: jax.Array
    """``(N,)`` houses built this episode."""
    trades: jax.Array
    """Trades this episode."""
    tax_revenue: jax.Array
    """Taxes collected this episode."""
    saez: SaezState
    """Saez's income buffer and trackers (carried over episodes by ``reset_from``; unused by
    the other tax models)."""


@struct.dataclass
class EconomyAction:
    """One step's actions."""

    agents: jax.Array
    """``(N,)`` int, each in ``0..49``."""
    planner: jax.Array
    """``(7,)`` int, each in ``0..21`` (0 keeps the bracket's rate)."""


@struct.dataclass
class EconomyNoise:
    """A step's random draws, explicit so a recorded episode can be replayed exactly."""

    gather_order: jax.Array
    """``(N,)`` the order in which agents move (a permutation)."""
    gather_u: jax.Array
    """``(N,)`` uniforms for the gather bonus."""
    regen_u: jax.Array
    """``(K,)`` uniforms for regrowth, one per source tile (``GatherTradeBuild.source_cells``)."""
    tax_key: jax.Array
    """Key for Saez's random rates while its buffer fills."""


class GatherTradeBuild:
    """The economy; see the module docstring.

    Args:
        tax_model: who sets the rates (:data:`TaxModel`).
        layout: map name (``maps/NAME.json``).
        n_agents: number of agents (4 in the papers; skills and corners are by rank).
        view_radius: half-width of the agents' window (5: 11 x 11).
        rules: the market's parameters.
        build_labor, move_labor, collect_labor: labour costs.
        period: steps per tax period.
        usd_scaling: dollars per coin for the bracket cutoffs.
        saez_elasticity: the elasticity in Saez's formula (the papers' 3.0), ``None`` for the
            AI Economist's running estimate.
    """

    num_brackets = 7
    """Seven US-federal brackets."""

    @property
    def agent_image_shape(self) -> tuple[int, int, int]:
        """An agent's map and index windows as one image (see ``agent_image_shape``)."""
        return agent_image_shape(self.view_radius)

    def __init__(
        self,
        tax_model: TaxModel = "planner",
        layout: str = "quadrant_25x25_20each_30clump",
        n_agents: int = 4,
        view_radius: int = VIEW_RADIUS,
        rules: market.MarketRules | None = None,
        build_labor: float = 10.0,
        move_labor: float = 1.0,
        collect_labor: float = 1.0,
        period: int = 100,
        usd_scaling: float = 1000.0,
        saez_elasticity: float | None = 3.0,
    ) -> None:
        if tax_model not in get_args(TaxModel):
            raise ValueError(
                f"tax_model: expected one of {', '.join(get_args(TaxModel))}, got {tax_model!r}"
            )
        if n_agents != 4:
            raise ValueError(
                f"n_agents: the fixed skills and corners are defined for 4 agents, got {n_agents}"
            )
        if view_radius < 1 or period < 1:
            raise ValueError(
                f"view_radius, period: expected positive integers, got {view_radius}, {period}"
            )
        if usd_scaling <= 0:
            raise ValueError(f"usd_scaling: expected a positive number, got {usd_scaling}")
        if saez_elasticity is not None and saez_elasticity < 0:
            raise ValueError(f"saez_elasticity: expected >= 0 or None, got {saez_elasticity}")
        self.tax_model: TaxModel = tax_model
        self.layout = load_layout(layout)
        self.n_agents = n_agents
        self.view_radius = view_radius
        self.rules = rules or market.MarketRules()
        self.build_labor = float(build_labor)
        self.move_labor = float(move_labor)
        self.collect_labor = float(collect_labor)
        self.period = int(period)
        self._cutoffs64 = taxes.bracket_cutoffs(usd_scaling)
        self.cutoffs = jnp.asarray(self._cutoffs64, jnp.float32)
        self.saez_elasticity = saez_elasticity
        self.rate_grid = jnp.asarray(taxes.rate_grid(), jnp.float32)
        self.n_prices = self.rules.max_bid_ask + 1
        self.num_actions = 2 + 4 * self.n_prices + 4
        height, width = self.layout.shape
        self._water = jnp.asarray(self.layout.water)
        self._sources = jnp.asarray(np.stack([self.layout.stone_source, self.layout.wood_source]))
        self._corners = jnp.asarray(ranked_corners(height, width), jnp.int32)
        static = np.stack([self.layout.water, self.layout.stone_source, self.layout.wood_source])
        self._static_maps = jnp.asarray(static, jnp.uint8)
        self.source_cells = np.argwhere(
            np.stack([self.layout.stone_source, self.layout.wood_source])
        )
        """``(K, 3)`` ``(resource, row, col)`` of every source tile."""

    # -- parameters ------------------------------------------------------------------------

    def default_params(self) -> EconomyParams:
        """The papers' economy (spec Sec. 5): eta 0.23, energy cost 0.21, free of annealing."""
        return self.make_params()

    def make_params(
        self,
        isoelastic_eta: float = 0.23,
        energy_cost: float = 0.21,
        resource_regen_prob: float = 0.01,
        fixed_rates: Any = None,
        rate_max: float = 1.0,
        equality_weight: float = 1.0,
        episode_length: int = 1000,
        build_payment: float = 10.0,
        max_skill_multiplier: float = 3.0,
    ) -> EconomyParams:
        """Checked parameters; ``fixed_rates`` default to zeros (free market).

        ``fixed_rates="us-federal"`` gives the 2018 single-filer schedule.
        """
        if not 0.0 <= isoelastic_eta <= 1.0:
            raise ValueError(f"isoelastic_eta: expected a value in [0, 1], got {isoelastic_eta}")
        for name, value in (("energy_cost", energy_cost), ("build_payment", build_payment)):
            if not value >= 0:
                raise ValueError(f"{name}: expected a nonnegative value, got {value}")
        for name, value in (("rate_max", rate_max), ("equality_weight", equality_weight)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: expected a value in [0, 1], got {value}")
        if not max_skill_multiplier >= 1:
            raise ValueError(
                f"max_skill_multiplier: expected a value >= 1, got {max_skill_multiplier}"
            )
        if not 0.0 <= resource_regen_prob <= 1.0:
            raise ValueError(
                f"resource_regen_prob: expected a probability, got {resource_regen_prob}"
            )
        if episode_length < 1:
            raise ValueError(f"episode_length: expected a positive integer, got {episode_length}")
        if isinstance(fixed_rates, str):
            if fixed_rates != "us-federal":
                raise ValueError(
                    f"fixed_rates: expected 7 rates or 'us-federal', got {fixed_rates!r}"
                )
            fixed_rates = taxes.US_FEDERAL_2018_RATES
        rates = np.zeros(self.num_brackets) if fixed_rates is None else np.asarray(fixed_rates)
        if rates.shape != (self.num_brackets,) or not ((rates >= 0) & (rates <= 1)).all():
            raise ValueError(f"fixed_rates: expected 7 rates in [0, 1], got {fixed_rates!r}")
        payments = ranked_build_payments(self.n_agents, build_payment, max_skill_multiplier)
        f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
        return EconomyParams(
            isoelastic_eta=f32(isoelastic_eta),
            energy_cost=f32(energy_cost),
            resource_regen_prob=f32(resource_regen_prob),
            build_payments=f32(payments),
            base_payment=f32(build_payment),
            fixed_rates=f32(rates),
            rate_max=f32(rate_max),
            equality_weight=f32(equality_weight),
            episode_length=int(episode_length),
        )

    def max_episode_steps(self, params: EconomyParams) -> int:
        """Every episode lasts ``params.episode_length`` steps."""
        return params.episode_length

    @property
    def agent_flat_size(self) -> int:
        """Length of an agent's flat features."""
        return sum(size for _, size in AGENT_FEATURES)

    @property
    def planner_flat_size(self) -> int:
        """Length of the planner's flat features."""
        return sum(size for _, size in PLANNER_FEATURES)

    # -- reset -----------------------------------------------------------------------------

    def reset(self, key: jax.Array, params: EconomyParams) -> tuple[EconomyObs, EconomyState]:
        """A new episode: full source tiles, empty inventories, agents in their corners."""
        k_perm, k_skill, k_bonus = jax.random.split(key, 3)
        n = self.n_agents
        order = jax.random.permutation(k_perm, n)  # agent order[i] gets skill rank i
        loc = jnp.zeros((n, 2), jnp.int32).at[order].set(self._corners)
        payment = jnp.zeros(n, jnp.float32).at[order].set(params.build_payments)
        skill_obs = jax.random.pareto(k_skill, 4.0, (n,)) - 1.0  # NumPy's Pareto (Lomax)
        bonus = jnp.minimum(2.0, jax.random.pareto(k_bonus, 3.0, (n,)) - 1.0) / 2.0
        state = self.initial_state(loc, payment, skill_obs, bonus, params)
        return self.observe(state, params), state

    def reset_from(
        self, key: jax.Array, state: EconomyState, params: EconomyParams
    ) -> tuple[EconomyObs, EconomyState]:
        """A new episode that keeps what outlives an episode (Saez's income buffer).

        :func:`robustmas.envs.core.step_autoreset` calls this instead of :meth:`reset`.
        """
        obs, fresh = self.reset(key, params)
        if self.tax_model != "saez":
            return obs, fresh
        # The running average of Saez's rates until step 1 sets new ones.  (AIE shows these in
        # the agents' marginal rates but the previous episode's last rates in ``curr_rates``.)
        rates = jnp.minimum(saez_reset_rates(state.saez), params.rate_max)
        fresh = dataclasses.replace(fresh, saez=state.saez, rates=rates)
        return self.observe(fresh, params), fresh

    def initial_state(
        self,
        loc: ArrayLike,
        build_payment: ArrayLike,
        build_skill_obs: ArrayLike,
        bonus_gather_prob: ArrayLike,
        params: EconomyParams,
    ) -> EconomyState:
        """The state at the start of an episode with the given draws (used to replay one)."""
        n = self.n_agents
        zeros = jnp.zeros((n, 3), jnp.float32)
        labor = jnp.zeros(n, jnp.float32)
        coin = jnp.zeros(n, jnp.float32)
        rate_index = jnp.zeros(self.num_brackets, jnp.int32)
        return EconomyState(
            t=jnp.int32(0),
            loc=jnp.asarray(loc, jnp.int32),
            inventory=zeros,
            escrow=zeros,
            labor=labor,
            resources=self._sources.astype(jnp.int8),
            house_owner=jnp.full(self.layout.shape, -1, jnp.int8),
            build_payment=jnp.asarray(build_payment, jnp.float32),
            build_skill_obs=jnp.asarray(build_skill_obs, jnp.float32),
            bonus_gather_prob=jnp.asarray(bonus_gather_prob, jnp.float32),
            book=market.new_book(2, n, self.rules),
            rates=self._rates_at_reset(rate_index, params),
            rate_index=rate_index,
            tax_cycle_pos=jnp.int32(1),
            last_coin=coin,
            last_income=coin,
            last_marginal_rate=coin,
            utility=social.isoelastic_utility(
                coin, labor, params.isoelastic_eta, params.energy_cost
            ),
            swf=social.coin_eq_times_productivity(coin, params.equality_weight),
            builds=jnp.zeros(n, jnp.int32),
            trades=jnp.int32(0),
            tax_revenue=jnp.float32(0.0),
            # Only the Saez model keeps a buffer (state size matters for large batches).
            saez=saez_init(self.num_brackets, 500 if self.tax_model == "saez" else 0),
        )

    def _rates_at_reset(self, rate_index: jax.Array, params: EconomyParams) -> jax.Array:
        if self.tax_model == "planner":
            return self.rate_grid[rate_index]
        if self.tax_model == "fixed":
            return jnp.minimum(params.fixed_rates, params.rate_max)
        return jnp.zeros(self.num_brackets, jnp.float32)

    # -- step ------------------------------------------------------------------------------

    def draw_noise(self, key: jax.Array) -> EconomyNoise:
        """The random draws of one step (one call to the generator: it dominates on CPUs)."""
        n, k = self.n_agents, self.source_cells.shape[0]
        key, tax_key = jax.random.split(key)
        u = jax.random.uniform(key, (2 * n + k,))
        return EconomyNoise(
            gather_order=jnp.argsort(u[:n]),
            gather_u=u[n : 2 * n],
            regen_u=u[2 * n :],
            tax_key=tax_key,
        )

    def step(
        self, key: jax.Array, state: EconomyState, action: EconomyAction, params: EconomyParams
    ) -> tuple[EconomyObs, EconomyState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """One step; rewards ``(N + 1,)``: the agents', then the planner's."""
        return self.step_with_noise(state, action, self.draw_noise(key), params)

    def step_with_noise(
        self,
        state: EconomyState,
        action: EconomyAction,
        noise: EconomyNoise,
        params: EconomyParams,
    ) -> tuple[EconomyObs, EconomyState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """:meth:`step` with the step's random draws given.

        Actions are clipped into range (``0..49``, ``0..21``): under ``jit`` nothing can raise,
        where the AI Economist raises on an unknown action.  Masked-out actions are no-ops.
        """
        a = jnp.clip(jnp.asarray(action.agents, jnp.int32), 0, self.num_actions - 1)
        planner = jnp.clip(jnp.asarray(action.planner, jnp.int32), 0, self.rate_grid.shape[0])
        state = dataclasses.replace(state, t=state.t + 1)
        state, built = self._build(state, a == 1)
        state, traded = self._trade(state, a)
        state = self._gather(state, a, noise)
        state, tax_info = self._tax(state, planner, noise.tax_key, params)
        grow = (noise.regen_u < params.resource_regen_prob).astype(jnp.int8)
        res, rows, cols = self.source_cells.T
        state = dataclasses.replace(state, resources=state.resources.at[res, rows, cols].max(grow))

        coin = self.coin(state)
        utility = social.isoelastic_utility(
            coin, state.labor, params.isoelastic_eta, params.energy_cost
        )
        swf = social.coin_eq_times_productivity(coin, params.equality_weight)
        reward = jnp.concatenate([utility - state.utility, (swf - state.swf)[None]])
        state = dataclasses.replace(
            state,
            utility=utility,
            swf=swf,
            builds=state.builds + built,
            trades=state.trades + traded.sum(),
        )
        done = state.t >= params.episode_length
        info = {"builds": built.sum(), "trades": traded.sum(), **tax_info}
        return self.observe(state, params), state, reward, done, info

    @staticmethod
    def coin(state: EconomyState) -> jax.Array:
        """``(N,)`` each agent's coin, inventory plus escrow."""
        return state.inventory[:, _COIN] + state.escrow[:, _COIN]

    def _landmark_free(self, state: EconomyState, rows: jax.Array, cols: jax.Array) -> jax.Array:
        """No house, water or source tile at the cells."""
        return (
            (state.house_owner[rows, cols] < 0)
            & ~self._water[rows, cols]
            & ~self._sources[:, rows, cols].any(axis=0)
        )

    def _build(self, state: EconomyState, wants: jax.Array) -> tuple[EconomyState, jax.Array]:
        rows, cols = state.loc[:, 0], state.loc[:, 1]
        ok = (
            wants
            & (state.inventory[:, 1:] >= 1).all(axis=1)
            & (state.resources[:, rows, cols] <= 0).all(axis=0)
            & self._landmark_free(state, rows, cols)
        )
        okf = ok.astype(jnp.float32)
        inventory = state.inventory.at[:, 1:].add(-okf[:, None])
        inventory = inventory.at[:, _COIN].add(okf * state.build_payment)
        owner = state.house_owner.at[rows, cols].set(
            jnp.where(ok, jnp.arange(self.n_agents, dtype=jnp.int8), state.house_owner[rows, cols])
        )
        return (
            dataclasses.replace(
                state,
                inventory=inventory,
                house_owner=owner,
                labor=state.labor + okf * self.build_labor,
            ),
            ok.astype(jnp.int32),
        )

    def _trade(self, state: EconomyState, a: jax.Array) -> tuple[EconomyState, jax.Array]:
        k = a - 2
        in_market = (k >= 0) & (k < 4 * self.n_prices)
        sub, price = k // self.n_prices, k % self.n_prices
        resource, sell = sub // 2, sub % 2
        per = jnp.arange(2)[:, None] == resource[None, :]  # (R, N)
        buy = jnp.where(in_market & per & (sell == 0), price, -1)
        ask = jnp.where(in_market & per & (sell == 1), price, -1)
        book, inv, esc, labor = market.post(
            state.book, state.inventory, state.escrow, state.labor, buy, ask, self.rules
        )
        book, inv, esc, traded = market.match(book, inv, esc, self.rules)
        book, inv, esc = market.expire(book, inv, esc, self.rules)
        return dataclasses.replace(state, book=book, inventory=inv, escrow=esc, labor=labor), traded

    def _enterable(
        self, state: EconomyState, rows: jax.Array, cols: jax.Array, agent: jax.Array
    ) -> jax.Array:
        """Whether ``agent`` may stand on the (in-bounds) cells: no water, no other's house."""
        house = state.house_owner[rows, cols]
        return ~self._water[rows, cols] & ((house < 0) | (house == agent))

    def _gather(self, state: EconomyState, a: jax.Array, noise: EconomyNoise) -> EconomyState:
        move = jnp.where(a >= self.num_actions - 4, a - (self.num_actions - 5), 0)
        d_row = jnp.array([0, 0, 0, -1, 1])[move]
        d_col = jnp.array([0, -1, 1, 0, 0])[move]
        height, width = self.layout.shape

        def one(i: int, s: EconomyState) -> EconomyState:
            agent = noise.gather_order[i]
            r, c = s.loc[agent, 0], s.loc[agent, 1]
            nr, nc = r + d_row[agent], c + d_col[agent]
            inside = (nr >= 0) & (nr < height) & (nc >= 0) & (nc < width)
            nr_, nc_ = jnp.clip(nr, 0, height - 1), jnp.clip(nc, 0, width - 1)
            others = jnp.arange(self.n_agents) != agent
            taken = (others & (s.loc[:, 0] == nr_) & (s.loc[:, 1] == nc_)).any()
            ok = inside & self._enterable(s, nr_, nc_, agent) & ~taken & (move[agent] > 0)
            nr, nc = jnp.where(ok, nr_, r), jnp.where(ok, nc_, c)
            here = s.resources[:, nr, nc] >= 1  # (R,)
            units = 1.0 + (noise.gather_u[agent] < s.bonus_gather_prob[agent])
            got = here.astype(jnp.float32) * units
            moved = ok & ((nr != r) | (nc != c))
            labor = s.labor[agent] + moved * self.move_labor + here.sum() * self.collect_labor
            return dataclasses.replace(
                s,
                loc=s.loc.at[agent].set(jnp.stack([nr, nc])),
                inventory=s.inventory.at[agent, 1:].add(got),
                resources=s.resources.at[:, nr, nc].add(-here.astype(jnp.int8)),
                labor=s.labor.at[agent].set(labor),
            )

        return jax.lax.fori_loop(0, self.n_agents, one, state)

    def _period_rates(
        self, state: EconomyState, planner: jax.Array, key: jax.Array, params: EconomyParams
    ) -> tuple[jax.Array, jax.Array, SaezState]:
        """The rates a period's first step would set: ``(rates, planner index, saez state)``."""
        if self.tax_model == "planner":
            index = jnp.where(planner > 0, planner - 1, state.rate_index)
            return self.rate_grid[index], index, state.saez
        if self.tax_model == "fixed":
            return jnp.minimum(params.fixed_rates, params.rate_max), state.rate_index, state.saez

        # Saez's formula (a 500-income histogram) is needed once per period: under vmap,
        # lockstep_cond runs it only on steps where some economy starts a period.
        def formula(op: tuple) -> tuple[jax.Array, SaezState]:
            saez, key, rate_max, _ = op
            return saez_period_rates(
                key, saez, self._cutoffs64, 0.0, rate_max, self.saez_elasticity
            )

        def keep(op: tuple) -> tuple[jax.Array, SaezState]:
            saez, _, _, rates = op
            return rates, saez

        rates, saez = lockstep_cond(
            state.tax_cycle_pos == 1,
            formula,
            keep,
            (state.saez, key, params.rate_max, state.rates),
        )
        return rates, state.rate_index, saez

    def _tax(
        self, state: EconomyState, planner: jax.Array, tax_key: jax.Array, params: EconomyParams
    ) -> tuple[EconomyState, dict[str, jax.Array]]:
        first = state.tax_cycle_pos == 1
        rates, index, saez = self._period_rates(state, planner, tax_key, params)
        rates = jnp.where(first, rates, state.rates)
        index = jnp.where(first, index, state.rate_index)
        saez = jax.tree_util.tree_map(lambda new, old: jnp.where(first, new, old), saez, state.saez)
        tax_day = state.tax_cycle_pos >= self.period

        day = taxes.enact(
            state.inventory[:, _COIN], state.escrow[:, _COIN], state.last_coin, rates, self.cutoffs
        )
        paid = jnp.where(tax_day, day.paid, 0.0)
        lump = jnp.where(tax_day, day.lump_sum, 0.0)
        coin = jnp.where(tax_day, day.inventory_coin, state.inventory[:, _COIN])
        state = dataclasses.replace(
            state,
            rates=rates,
            rate_index=index,
            inventory=state.inventory.at[:, _COIN].set(coin),
            last_coin=jnp.where(tax_day, day.last_coin, state.last_coin),
            last_income=jnp.where(tax_day, day.income, state.last_income),
            last_marginal_rate=jnp.where(tax_day, day.marginal_rate, state.last_marginal_rate),
            tax_cycle_pos=jnp.where(tax_day, 1, state.tax_cycle_pos + 1),
            tax_revenue=state.tax_revenue + paid.sum(),
        )
        if self.tax_model == "saez":  # the buffer learns every tax day's incomes
            added = saez_add(saez, day.income, day.marginal_rate)
            saez = jax.tree_util.tree_map(
                lambda new, old: jnp.where(tax_day, new, old), added, saez
            )
        state = dataclasses.replace(state, saez=saez)
        return state, {"tax_paid": paid, "lump_sum": lump, "tax_day": tax_day}

    # -- observations (robustmas.envs.economy.observation) ----------------------------------

    def observe(self, state: EconomyState, params: EconomyParams) -> EconomyObs:
        """Everybody's observation of ``state`` (:func:`~.observation.observe`)."""
        return observation.observe(self, state, params)

    def action_masks(
        self, state: EconomyState, params: EconomyParams
    ) -> tuple[jax.Array, jax.Array]:
        """Agents' ``(N, 50)`` and the planner's ``(7, 22)`` masks (see :mod:`.observation`)."""
        return observation.action_masks(self, state, params)

"""Grid Markov games: movers on a ``W^d`` grid, rewards read from tables (pure JAX).

The sequential (grid) bimatrix game of the robust-principal paper -- Zhao, Trott, Xiong, Zheng,
"Learning to Play General-Sum Games Against Multiple Boundedly Rational Agents", AAAI 2023,
arXiv:2106.05492, Sec. 5 "Game Environment" and Fig. 2 -- its 4-player 7x7x7x7 extension
("N-matrix", Sec. 6 "Repeated Matrix Games", Fig. 3, App. B Table 1), and the repeated bimatrix
game of ERMAS -- anonymous ICLR 2021 submission, "ERMAS: Learning Policies Robust to Reality
Gaps in Multi-Agent Simulations", Sec. 4.1 (Fig. 1a/2) and Sec. 4.3 "Augmented Repeated Bimatrix
Games" (Fig. 4) -- as one environment.  Numbers and decisions follow the spec
``robust-principal-ermas.md`` (Sec. 1.1-1.3, decisions D1-D3, D11, D12, D14, D26-D28).

Dynamics.  The state is a cell ``(x_0, ..., x_{d-1})`` in ``{0..W-1}^d``, one coordinate per
mover, drawn uniformly at reset (D27).  Each step every mover shifts its own coordinate by
``moves[a]`` -- stay, +1, -1 in the released code's action order (D2; ``allow_stay=False``
keeps only +1, -1 as RP describes) -- clipped at the border, and every player ``k`` receives
``payoffs[k]`` at the **new** cell.  An episode lasts exactly ``episode_length`` steps (D3; the
released code ran one more).

Players, stacked on the agent axis (multi-agent protocol of :mod:`robustmas.envs.core`): the
``N`` agents (the papers' agents ``1..N``) are indices ``0..N-1`` and move grid axes ``0..N-1``;
the principal (the papers' agent 0, the released code's ``"p"``) is the **last** index ``N``.
It is a player even when it does not act (spec Sec. 1), so its reward ``r_0`` always sits in
``reward[N]`` and shaping such as ``(lambda_i r_i - r_0)/(1 + lambda_i)`` reads it there.  What
the principal does is fixed per environment (``principal``):

* ``"passive"`` (RP Fig. 2, ERMAS Fig. 2): no coordinate, its action is ignored;
* ``"mover"`` (RP Fig. 3): it moves the last grid axis like an agent;
* ``"fixed_uniform"`` / ``"fixed_position"`` (D28): it owns the last axis but does not act --
  the coordinate moves uniformly at random, or stays where it started;
* ``"augmented"`` (ERMAS Fig. 4 with the released code's officer dynamics, D14): no coordinate;
  it keeps an officer count ``o`` in ``0..max_officers`` (0 at reset), its action picks a change
  from ``officer_deltas`` (clipped), and it receives ``r_0(s') (1 + w o'/M) - (o'/M)^2`` with the
  new count ``o'``.  ERMAS's literal ``a r_p - a^2`` is degenerate (``a = 0`` is optimal for
  ``r_p`` in ``[0, 1]``) and is not offered.  Its action space (5) is larger than the movers'
  (3): every agent then has ``Discrete(5)``, an agent's extra actions mean "stay", and
  :meth:`GridGame.action_mask` tells a learner which actions to use.

Observations (the released code's, without the time step: its agents do not observe ``t``, D13;
``observe_time=True`` appends ``t/T``): ``obs="cell"`` the one-hot of the flat cell (``W^d``,
the bimatrix game), ``"coords"`` one one-hot per coordinate (``d W``), ``"scaled"`` the
coordinates divided by ``W - 1`` (the N-matrix default, D26), ``"raw"`` the coordinates as
floats (the released N-matrix code).  Everybody sees the whole cell, the principal's coordinate
included; with ``"augmented"`` a one-hot officer count follows, zero for the agents (only the
planner observes it in the released code).  The critic's view is the cell encoding, the officer
one-hot (augmented) and ``t/T``.

Rewards and perturbations (data in :class:`GridParams`, so one compiled trainer ``vmap``s over
agent types, DR widths and game instances).  Player ``k`` receives::

    rho_eta_k( scale_k r_k + principal_weight_k r_0(s') + offset_k + sigma_k )

with ``r_0(s')`` the principal's *table* value (the released code's augmented game subtracts the
un-multiplied table), ``sigma_k ~ U[-noise_width_k, noise_width_k]`` drawn every step or once per
episode (domain randomisation, ERMAS Sec. 4.3) and ``rho_eta`` the risk transform of
:func:`~robustmas.games.grid_tables.risk_transform` (identity at ``eta = 0``).  The paper's Adv
type ``r_i - Q r_0`` is ``principal_weight = -Q``, the released code's convex form adds
``scale = 1 - Q`` (D11); see :func:`with_agent_types`.  ``info["raw_rewards"]`` holds the
unperturbed rewards (the principal's objective for evaluation).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from robustmas.envs.core import Box, Discrete
from robustmas.games.limits import check_dense_size
from robustmas.games.normal_form import check_finite

__all__ = [
    "GridGame",
    "GridParams",
    "GridState",
    "ObsEncoding",
    "PrincipalMode",
    "episode_returns",
    "risk_transform",
    "tabular_actions",
    "with_agent_types",
]

PrincipalMode = Literal["passive", "mover", "fixed_uniform", "fixed_position", "augmented"]
"""What the principal does (see the module docstring)."""

ObsEncoding = Literal["cell", "coords", "scaled", "raw"]
"""How observations encode the cell (see the module docstring)."""

_AXIS_MODES = ("mover", "fixed_uniform", "fixed_position")
"""Principal modes with a grid axis of their own."""

MAX_CELL_ONE_HOT = 2**16
"""Most cells an ``obs="cell"`` one-hot may have (the N-matrix game has 7^4 = 2401)."""


@struct.dataclass
class GridParams:
    """Parameters of :class:`GridGame`: the tables and the reward perturbations (all data).

    Per-player arrays have shape ``(n,)``, agents first and the principal last.
    """

    payoffs: jax.Array
    """``payoffs[k][cell]``: player ``k``'s reward at the new cell, shape ``(n, W, ..., W)``."""
    reward_scale: jax.Array
    """Factor on a player's own reward, ``(n,)`` (1: unperturbed)."""
    principal_weight: jax.Array
    """Factor on the principal's table ``r_0(s')`` added to a player's reward, ``(n,)``
    (``-Q``: the adversarial type ``r_i - Q r_0``)."""
    reward_offset: jax.Array
    """Constant added to a player's reward, ``(n,)``."""
    noise_width: jax.Array
    """Half-width of the uniform reward noise (domain randomisation), ``(n,)`` (0: none)."""
    noise_per_episode: jax.Array
    """Scalar bool: draw the noise once per episode (at reset) instead of every step."""
    risk_eta: jax.Array
    """Risk aversion ``eta`` of the risk transform, ``(n,)`` (0: none)."""
    officer_weight: jax.Array
    """Augmented planner: weight ``w`` of the officers on its reward (scalar; unused else)."""
    episode_length: int = struct.field(pytree_node=False, default=500)
    """Steps per episode ``T`` (static)."""


@struct.dataclass
class GridState:
    """State of an episode."""

    cell: jax.Array
    """Current cell, one coordinate per grid axis, shape ``(d,)`` int32."""
    officers: jax.Array
    """Augmented planner's officer count (int32 scalar; 0 in the other modes)."""
    noise: jax.Array
    """Per-episode reward noise drawn at reset, ``(n,)`` float32."""
    t: jax.Array
    """Steps played (int32 scalar)."""


@jax.jit
def risk_transform(x: jax.Array, eta: jax.Array) -> jax.Array:
    """The risk transform of :func:`robustmas.games.grid_tables.risk_transform` in JAX.

    ``((x + 1)^(1-eta) - 1)/(1 - eta)``, ``log(1 + x)`` at ``eta = 1``, ``-10`` where
    ``x <= -0.9999``, and the identity where ``eta = 0``; elementwise, no NaN branches.  Jitted
    (pure, no bound state) so that an eager ``step`` compiles it as one program.
    """
    shifted = jnp.maximum(x + 1.0, 1e-4)
    is_log = eta == 1.0
    safe = jnp.where(is_log, 0.5, eta)
    power = (shifted ** (1.0 - safe) - 1.0) / (1.0 - safe)
    value = jnp.where(is_log, jnp.log(shifted), power)
    value = jnp.where(x <= -0.9999, -10.0, value)
    return jnp.where(eta == 0.0, x, value)


def _concrete(x: jax.Array) -> np.ndarray | None:
    """``x`` as a NumPy array, or ``None`` inside a trace (values unknown, checks skipped)."""
    try:
        return np.asarray(x)
    except jax.errors.TracerArrayConversionError:
        return None


def _as_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    return int(value)


class GridGame:
    """``N`` agents and a principal on a grid; see the module docstring.

    The game is defined by its tables; shapes and modes are fixed here, the numbers live in
    :class:`GridParams` (:meth:`make_params` builds params for other tables or perturbations).

    Args:
        payoffs: default tables ``[r_1, ..., r_N, r_0]``, shape ``(N + 1, W, ..., W)`` with
            ``N`` grid axes, or ``N + 1`` when the principal owns the last axis.
        principal: what the principal does (:data:`PrincipalMode`).
        obs: observation encoding (:data:`ObsEncoding`).
        episode_length: default steps per episode ``T``.
        allow_stay: movers may stay (actions stay, +1, -1); else only +1, -1.
        observe_time: append ``t/T`` to the actors' observations.
        max_officers: augmented planner's largest officer count ``M``.
        officer_deltas: augmented planner's officer change per action.
        officer_weight: augmented planner's default ``w``.

    Raises:
        ValueError: a malformed table, an unknown mode or encoding, or a bad count; the message
            names the argument and what it should be.

    Attributes:
        agents: ``N``, the agents besides the principal.
        dims: grid axes ``d`` (``N``, plus one when the principal owns an axis).
        width: cells per axis ``W``.
        moves: coordinate shift of each mover action.
        payoffs: the default tables (read-only NumPy, float64).

    """

    def __init__(
        self,
        payoffs: np.ndarray,
        *,
        principal: PrincipalMode = "passive",
        obs: ObsEncoding = "cell",
        episode_length: int = 500,
        allow_stay: bool = True,
        observe_time: bool = False,
        max_officers: int = 12,
        officer_deltas: tuple[int, ...] = (-2, -1, 0, 1, 2),
        officer_weight: float = 3.0,
    ) -> None:
        if principal not in get_args(PrincipalMode):
            raise ValueError(
                f"principal: expected one of {', '.join(get_args(PrincipalMode))}, got "
                f"{principal!r}"
            )
        if obs not in get_args(ObsEncoding):
            raise ValueError(
                f"obs: expected one of {', '.join(get_args(ObsEncoding))}, got {obs!r}"
            )
        tables = np.array(payoffs, dtype=np.float64)  # a copy: frozen below
        if tables.ndim < 2 or tables.shape[0] < 2:
            raise ValueError(
                "payoffs: expected shape (N + 1, W, ..., W): N >= 1 agent tables then the "
                f"principal's, got {tables.shape}"
            )
        self.principal: PrincipalMode = principal
        self.agents = tables.shape[0] - 1
        self.dims = self.agents + (1 if principal in _AXIS_MODES else 0)
        if tables.ndim - 1 != self.dims:
            raise ValueError(
                f"payoffs: {self.agents} agents with principal={principal!r} need {self.dims} "
                f"grid axes, got shape {tables.shape}"
            )
        self.width = int(tables.shape[1])
        if self.width < 2 or len(set(tables.shape[1:])) != 1:
            raise ValueError(
                f"payoffs: every grid axis needs the same width >= 2, got {tables.shape[1:]}"
            )
        check_dense_size(
            "payoffs: the grid game",
            (self.width,) * self.dims,
            self.agents + 1,
            "use a smaller grid",
        )
        check_finite("payoffs", tables)
        if obs == "cell" and self.width**self.dims > MAX_CELL_ONE_HOT:
            raise ValueError(
                f"obs: a 'cell' one-hot of {self.width**self.dims:,} cells exceeds "
                f"{MAX_CELL_ONE_HOT:,}; use obs='coords' or 'scaled'"
            )
        self.obs: ObsEncoding = obs
        self.allow_stay = bool(allow_stay)
        self.moves: tuple[int, ...] = (0, 1, -1) if self.allow_stay else (1, -1)
        self.observe_time = bool(observe_time)
        self.max_officers = _as_int("max_officers", max_officers, 1)
        deltas = tuple(int(x) for x in officer_deltas)
        if not deltas:
            raise ValueError("officer_deltas: need at least one officer change, e.g. (-1, 0, 1)")
        self.officer_deltas = deltas
        tables.setflags(write=False)
        self.payoffs = tables
        self.episode_length = _as_int("episode_length", episode_length, 1)
        self.officer_weight = float(officer_weight)

    # ------------------------------------------------------------------ parameters

    @property
    def num_agents(self) -> int:
        """Stacked players: the ``N`` agents and the principal."""
        return self.agents + 1

    @property
    def principal_index(self) -> int:
        """The principal's index on the agent axis (the last)."""
        return self.agents

    @property
    def num_actions(self) -> int:
        """Actions per stacked player (the movers' moves, or the planner's officer changes)."""
        if self.principal == "augmented":
            return max(len(self.moves), len(self.officer_deltas))
        return len(self.moves)

    @property
    def num_cells(self) -> int:
        """Cells of the grid ``W^d``."""
        return self.width**self.dims

    def make_params(
        self,
        payoffs: np.ndarray | jax.Array | None = None,
        *,
        episode_length: int | None = None,
        reward_scale: Any = 1.0,
        principal_weight: Any = 0.0,
        reward_offset: Any = 0.0,
        noise_width: Any = 0.0,
        noise_per_episode: bool = False,
        risk_eta: Any = 0.0,
        officer_weight: float | None = None,
    ) -> GridParams:
        """Parameters with other tables or perturbations (numbers, or one per player).

        Args:
            payoffs: tables of the constructor's shape (default: the constructor's).
            episode_length: steps per episode (default: the constructor's).
            reward_scale: see :class:`GridParams`.
            principal_weight: see :class:`GridParams`.
            reward_offset: see :class:`GridParams`.
            noise_width: see :class:`GridParams` (``>= 0``).
            noise_per_episode: see :class:`GridParams`.
            risk_eta: see :class:`GridParams` (``>= 0``).
            officer_weight: see :class:`GridParams` (default: the constructor's).

        Raises:
            ValueError: a wrong shape, a non-finite or negative value where it must not be.

        """
        n = self.num_agents
        if payoffs is None:
            tables = jnp.asarray(self.payoffs, jnp.float32)
        else:
            tables = jnp.asarray(payoffs, jnp.float32)
            if tables.shape != self.payoffs.shape:
                raise ValueError(
                    f"payoffs: expected shape {self.payoffs.shape} (this game's), got "
                    f"{tables.shape}"
                )
            concrete = _concrete(tables)
            if concrete is not None:
                check_finite("payoffs", concrete)
        length = self.episode_length if episode_length is None else episode_length
        length = _as_int("episode_length", length, 1)

        def per_player(name: str, value: Any, nonnegative: bool = False) -> jax.Array:
            array = jnp.asarray(value, jnp.float32)
            if array.ndim == 0:
                array = jnp.full((n,), array)
            if array.shape != (n,):
                raise ValueError(
                    f"{name}: expected one number or {n} (agents, then the principal), got "
                    f"shape {array.shape}"
                )
            concrete = _concrete(array)
            if concrete is not None:
                if not np.all(np.isfinite(concrete)):
                    raise ValueError(f"{name}: must be finite, got {concrete}")
                if nonnegative and np.any(concrete < 0):
                    raise ValueError(f"{name}: must be >= 0, got {concrete}")
            return array

        weight = self.officer_weight if officer_weight is None else officer_weight
        if not math.isfinite(float(weight)):
            raise ValueError(f"officer_weight: must be finite, got {weight!r}")
        return GridParams(
            payoffs=tables,
            reward_scale=per_player("reward_scale", reward_scale),
            principal_weight=per_player("principal_weight", principal_weight),
            reward_offset=per_player("reward_offset", reward_offset),
            noise_width=per_player("noise_width", noise_width, nonnegative=True),
            noise_per_episode=jnp.asarray(bool(noise_per_episode)),
            risk_eta=per_player("risk_eta", risk_eta, nonnegative=True),
            officer_weight=jnp.asarray(weight, jnp.float32),
            episode_length=length,
        )

    def default_params(self) -> GridParams:
        """The constructor's tables, no perturbation."""
        return self.make_params()

    def max_episode_steps(self, params: GridParams) -> int:
        """Every episode lasts exactly ``params.episode_length`` steps."""
        return params.episode_length

    def action_mask(self, params: GridParams) -> np.ndarray:
        """Which actions mean something, per stacked player, shape ``(n, num_actions)`` bool.

        Agents use their moves.  A principal that does not act has one meaningful action (0, a
        no-op); the augmented planner uses its officer changes; a moving principal its moves.
        """
        mask = np.zeros((self.num_agents, self.num_actions), bool)
        mask[: self.agents, : len(self.moves)] = True
        if self.principal == "mover":
            mask[-1, : len(self.moves)] = True
        elif self.principal == "augmented":
            mask[-1, : len(self.officer_deltas)] = True
        else:
            mask[-1, 0] = True
        return mask

    # ------------------------------------------------------------------ dynamics

    def cell_index(self, cell: jax.Array) -> jax.Array:
        """Flat index of a cell in C order (``np.ravel_multi_index``), int32."""
        strides = jnp.asarray([self.width ** (self.dims - 1 - k) for k in range(self.dims)])
        return jnp.sum(cell.astype(jnp.int32) * strides).astype(jnp.int32)

    def cell_observations(self) -> jax.Array:
        """Every player's observation in every cell, ``(cells, obs_dim)`` in C order.

        For tabulating stationary policies (exact scoring by dynamic programming): the
        observation must be a function of the cell alone.

        Raises:
            ValueError: the observation also holds the time or the officers.
        """
        if self.observe_time or self.principal == "augmented":
            raise ValueError(
                "cell_observations: the observation holds the time or the officers, so a "
                "policy is not a function of the cell; use observe_time=False and no augmented "
                "principal (for the augmented planner: agent_cell_observations and "
                "planner_observations)"
            )
        return self._all_cells()

    def _all_cells(self) -> jax.Array:
        cells = np.stack(np.unravel_index(np.arange(self.num_cells), (self.width,) * self.dims))
        return jax.vmap(self._encode)(jnp.asarray(cells.T, jnp.int32))

    def agent_cell_observations(self) -> jax.Array:
        """Every agent's observation in every cell, ``(cells, obs_dim)`` in C order.

        As :meth:`cell_observations`; with the augmented planner, the agents' officer block
        is zero (they do not observe it), so their policies are functions of the cell.

        Raises:
            ValueError: the observation also holds the time.
        """
        if self.principal != "augmented":
            return self.cell_observations()
        if self.observe_time:
            raise ValueError("agent_cell_observations: the observation holds the time")
        grid = self._all_cells()
        return jnp.concatenate([grid, jnp.zeros((grid.shape[0], self.max_officers + 1))], axis=1)

    def planner_observations(self) -> jax.Array:
        """The augmented planner's view of every (cell, officers), ``(cells, M + 1, obs_dim)``.

        Raises:
            ValueError: no augmented planner, or the observation also holds the time.
        """
        if self.principal != "augmented" or self.observe_time:
            raise ValueError(
                "planner_observations: needs principal='augmented' and observe_time=False"
            )
        grid = self._all_cells()
        levels = jnp.eye(self.max_officers + 1, dtype=grid.dtype)
        count = self.max_officers + 1
        return jnp.concatenate(
            [
                jnp.broadcast_to(grid[:, None, :], (grid.shape[0], count, grid.shape[1])),
                jnp.broadcast_to(levels[None], (grid.shape[0], count, count)),
            ],
            axis=-1,
        )

    def _encode(self, cell: jax.Array) -> jax.Array:
        if self.obs == "cell":
            return jax.nn.one_hot(self.cell_index(cell), self.num_cells, dtype=jnp.float32)
        if self.obs == "coords":
            return jax.nn.one_hot(cell, self.width, dtype=jnp.float32).reshape(-1)
        if self.obs == "scaled":
            return cell.astype(jnp.float32) / (self.width - 1)
        return cell.astype(jnp.float32)

    def _officer_one_hot(self, state: GridState) -> jax.Array:
        return jax.nn.one_hot(state.officers, self.max_officers + 1, dtype=jnp.float32)

    def _obs(self, state: GridState, params: GridParams) -> jax.Array:
        grid = jnp.broadcast_to(self._encode(state.cell), (self.num_agents, self._grid_dim))
        parts = [grid]
        if self.principal == "augmented":
            seen = jnp.arange(self.num_agents) == self.principal_index  # only the planner
            parts.append(seen[:, None] * self._officer_one_hot(state)[None, :])
        if self.observe_time:
            frac = state.t.astype(jnp.float32) / params.episode_length
            parts.append(jnp.full((self.num_agents, 1), frac))
        return jnp.concatenate(parts, axis=1) if len(parts) > 1 else grid

    @property
    def _grid_dim(self) -> int:
        return {
            "cell": self.num_cells,
            "coords": self.dims * self.width,
            "scaled": self.dims,
            "raw": self.dims,
        }[self.obs]

    def reset(self, key: jax.Array, params: GridParams) -> tuple[jax.Array, GridState]:
        """Start an episode in a uniformly random cell (and draw the per-episode noise)."""
        k_cell, k_noise = jax.random.split(key)
        cell = jax.random.randint(k_cell, (self.dims,), 0, self.width, dtype=jnp.int32)
        unit = jax.random.uniform(k_noise, (self.num_agents,), minval=-1.0, maxval=1.0)
        state = GridState(
            cell=cell,
            officers=jnp.int32(0),
            noise=unit * params.noise_width,
            t=jnp.int32(0),
        )
        return self._obs(state, params), state

    def step(
        self, key: jax.Array, state: GridState, action: jax.Array, params: GridParams
    ) -> tuple[jax.Array, GridState, jax.Array, jax.Array, dict[str, Any]]:
        """Move every mover, read the tables at the new cell, perturb the rewards.

        Args:
            key: PRNG key (reward noise; a ``"fixed_uniform"`` principal's move).
            state: the current state.
            action: stacked actions, shape ``(n,)`` (agents, then the principal).
            params: the game's parameters.

        Returns:
            ``(obs, state, reward, done, info)``; ``info`` holds ``"raw_rewards"`` (``(n,)``,
            unperturbed; the principal's objective last) and ``"cell"`` (the new cell).

        """
        k_noise, k_principal = jax.random.split(key)
        action = jnp.asarray(action, jnp.int32).reshape((self.num_agents,))
        moves = jnp.asarray(self.moves, jnp.int32)
        valid = (action >= 0) & (action < len(self.moves))
        shift = jnp.where(valid, moves[jnp.clip(action, 0, len(self.moves) - 1)], 0)
        shifts = shift[: self.agents]
        if self.principal == "mover":
            shifts = jnp.concatenate([shifts, shift[-1:]])
        elif self.principal == "fixed_uniform":
            drawn = jax.random.randint(k_principal, (1,), 0, len(self.moves))
            shifts = jnp.concatenate([shifts, moves[drawn]])
        elif self.principal == "fixed_position":
            shifts = jnp.concatenate([shifts, jnp.zeros((1,), jnp.int32)])
        cell = jnp.clip(state.cell + shifts, 0, self.width - 1)
        table = params.payoffs[(slice(None), *(cell[k] for k in range(self.dims)))]  # (n,)
        base_principal = table[-1]
        officers = state.officers
        raw = table
        if self.principal == "augmented":
            deltas = jnp.asarray(self.officer_deltas, jnp.int32)
            p_action = action[-1]
            ok = (p_action >= 0) & (p_action < len(self.officer_deltas))
            delta = jnp.where(ok, deltas[jnp.clip(p_action, 0, len(self.officer_deltas) - 1)], 0)
            officers = jnp.clip(officers + delta, 0, self.max_officers)
            level = officers.astype(jnp.float32) / self.max_officers
            objective = base_principal * (1.0 + params.officer_weight * level) - level**2
            raw = table.at[-1].set(objective)
        fresh = jax.random.uniform(k_noise, (self.num_agents,), minval=-1.0, maxval=1.0)
        noise = jnp.where(params.noise_per_episode, state.noise, fresh * params.noise_width)
        linear = (
            params.reward_scale * raw
            + params.principal_weight * base_principal
            + params.reward_offset
            + noise
        )
        reward = risk_transform(linear, params.risk_eta).astype(jnp.float32)
        t = state.t + 1
        next_state = GridState(cell=cell, officers=officers, noise=state.noise, t=t)
        done = t >= params.episode_length
        info = {"raw_rewards": raw.astype(jnp.float32), "cell": cell}
        return self._obs(next_state, params), next_state, reward, done, info

    # ------------------------------------------------------------------ spaces

    def observation_space(self, params: GridParams) -> Box:
        """One player's observation (see the module docstring)."""
        size = self._grid_dim + (self.max_officers + 1 if self.principal == "augmented" else 0)
        size += 1 if self.observe_time else 0
        high = float(self.width - 1) if self.obs == "raw" else 1.0
        return Box(0.0, high, (size,))

    def action_space(self, params: GridParams) -> Discrete:
        """One player's action (:meth:`action_mask` says which are meaningful)."""
        return Discrete(self.num_actions)

    def critic_observation(self, state: GridState, params: GridParams) -> jax.Array:
        """The cell encoding, the officer one-hot (augmented planner) and ``t/T``."""
        parts = [self._encode(state.cell)]
        if self.principal == "augmented":
            parts.append(self._officer_one_hot(state))
        parts.append((state.t.astype(jnp.float32) / params.episode_length)[None])
        return jnp.concatenate(parts)

    def critic_observation_space(self, params: GridParams) -> Box:
        """Space of :meth:`critic_observation`."""
        size = self._grid_dim + (self.max_officers + 1 if self.principal == "augmented" else 0)
        high = float(self.width - 1) if self.obs == "raw" else 1.0
        return Box(0.0, high, (size + 1,))


def with_agent_types(
    env: GridGame,
    params: GridParams,
    *,
    adv_q: float | jax.Array = 0.0,
    adv_mode: Literal["paper", "convex"] = "paper",
    risk_eta: float | jax.Array = 0.0,
    noise_width: float | jax.Array = 0.0,
    noise_per_episode: bool | jax.Array = True,
) -> GridParams:
    """``params`` with every agent (not the principal) of one test type (spec Sec. 3.1).

    Jittable in the numbers (``adv_q``, ``risk_eta``, ``noise_width``, ``noise_per_episode``),
    so a sweep over types is one ``vmap``.

    Args:
        env: the game.
        params: parameters to start from (their other fields are kept).
        adv_q: Adv(Q): ``r_i - Q r_0`` (``"paper"``, RP Sec. 6, D11) or ``(1 - Q) r_i - Q r_0``
            (``"convex"``, the released N-matrix code).
        adv_mode: ``"paper"`` or ``"convex"``.
        risk_eta: RiskAv(eta) (D12), ``>= 0``.
        noise_width: DR: ``sigma ~ U[-width, width]`` added (ERMAS Sec. 4.3 uses 1), ``>= 0``.
        noise_per_episode: DR redrawn between episodes (ERMAS) rather than every step.

    Raises:
        ValueError: an unknown ``adv_mode``, or a concrete negative ``risk_eta``/``noise_width``.

    """
    if adv_mode not in ("paper", "convex"):
        raise ValueError(f"adv_mode: expected 'paper' or 'convex', got {adv_mode!r}")
    for name, value in (("risk_eta", risk_eta), ("noise_width", noise_width)):
        concrete = _concrete(jnp.asarray(value))
        if concrete is not None and (not np.all(np.isfinite(concrete)) or np.any(concrete < 0)):
            raise ValueError(f"{name}: must be finite and >= 0, got {concrete}")
    agents = jnp.arange(env.num_agents) < env.agents

    def agents_only(value: float | jax.Array, principal: jax.Array) -> jax.Array:
        return jnp.where(agents, jnp.asarray(value, jnp.float32), principal)

    q = jnp.asarray(adv_q, jnp.float32)
    scale = 1.0 - q if adv_mode == "convex" else jnp.ones_like(q)
    return dataclasses.replace(
        params,
        reward_scale=agents_only(scale, params.reward_scale),
        principal_weight=agents_only(-q, params.principal_weight),
        risk_eta=agents_only(risk_eta, params.risk_eta),
        noise_width=agents_only(noise_width, params.noise_width),
        noise_per_episode=jnp.asarray(noise_per_episode, jnp.bool_),
    )


def tabular_actions(
    env: GridGame, key: jax.Array, policies: jax.Array, state: GridState
) -> jax.Array:
    """Stacked actions drawn from tabular, time-dependent policies of the movers.

    Args:
        env: the game (its movers: the agents, then a ``"mover"`` principal).
        key: PRNG key.
        policies: ``policies[k, t, s, a]``, shape ``(k, T, W^d, A)``: one row per grid axis
            as in :mod:`robustmas.equilibria.markov_exact` (the agents, then a principal's
            axis); at least one row per acting mover.  Only the acting movers' rows are used: a
            ``"fixed_*"`` principal's row describes what the environment does itself, and a
            principal that does not move plays 0.
        state: the current state (its ``t`` and cell pick the rows).

    Returns:
        Actions of shape ``(n,)`` int32.

    """
    movers = env.agents + (1 if env.principal == "mover" else 0)
    if policies.shape[0] < movers:
        raise ValueError(
            f"policies: {policies.shape[0]} rows for {movers} acting movers (the agents"
            f"{', then the principal' if env.principal == 'mover' else ''}); give one per mover"
        )
    rows = policies[:movers, state.t, env.cell_index(state.cell)]  # (movers, A)
    keys = jax.random.split(key, movers)
    drawn = jax.vmap(lambda k, p: jax.random.choice(k, p.shape[0], p=p))(keys, rows)
    drawn = drawn.astype(jnp.int32)
    if movers < env.num_agents:
        drawn = jnp.concatenate([drawn, jnp.zeros((env.num_agents - movers,), jnp.int32)])
    return drawn


def episode_returns(
    env: GridGame, params: GridParams, policies: jax.Array, key: jax.Array
) -> jax.Array:
    """Undiscounted returns ``(n,)`` of one episode under tabular policies (pure; ``vmap`` it).

    Args:
        env: the game.
        params: its parameters.
        policies: the movers' policies, see :func:`tabular_actions`.
        key: PRNG key of the episode.

    """
    k_reset, k_steps = jax.random.split(key)
    _, state = env.reset(k_reset, params)

    def body(state: GridState, k: jax.Array) -> tuple[GridState, jax.Array]:
        k_act, k_step = jax.random.split(k)
        action = tabular_actions(env, k_act, policies, state)
        _, state, reward, _, _ = env.step(k_step, state, action, params)
        return state, reward

    _, rewards = jax.lax.scan(body, state, jax.random.split(k_steps, params.episode_length))
    return rewards.sum(axis=0)

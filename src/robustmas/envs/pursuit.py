"""Pursuit: PettingZoo's SISL pursuit (``pursuit_v4``/``v5``) rules on a grid, in pure JAX.

Reference: Gupta, Egorov, Kochenderfer, "Cooperative Multi-Agent Control Using Deep
Reinforcement Learning", AAMAS workshops 2017; PettingZoo 1.27's ``pettingzoo.sisl.pursuit``
(``pursuit_v5`` there; v5 only added ``state()`` to v4); the ARNEQ paper's App. C.3; spec
``arneq-art.md`` Sec. 5.3 and decision 12.  The rules below were read from PettingZoo's code;
``tests/test_pursuit.py`` replays PettingZoo step by step and compares every quantity.

**Map.**  An ``x_size x y_size`` grid (16 x 16) with one rectangular building: cell ``(x, y)``
is a wall when ``x_b < x / x_size < 1 - x_b`` and ``y_b < y / y_size < 1 - y_b`` (``x_b = 0.3``,
``y_b = 0.2``; on 16 x 16 the 7 x 9 block ``x in 5..11, y in 4..12``), see :func:`building_map`.

**Reset.**  ``n_pursuers`` (8) pursuers, then ``n_evaders`` (30) evaders, are placed one after
another on cells drawn uniformly among the open cells that no earlier agent *of the same kind*
occupies or touches (its 4-neighbours are barred too); pursuers and evaders ignore each other.
(PettingZoo's ``constraint_window`` 1.0, the whole map.)

**Step** (one PettingZoo *cycle*: the eight AEC turns that the parallel wrapper runs per call).
Actions are ``Discrete(5)``: 0 ``x - 1``, 1 ``x + 1``, 2 ``y + 1``, 3 ``y - 1``, 4 stay; a move
into the building or off the grid stays put, agents of any kind may share cells.

1. Pursuers move one after another in index order.  After pursuer ``i``'s move, *every* pursuer
   ``j`` earns ``tag_reward / n`` per evader on its four neighbour cells, the neighbour
   coordinates being *clipped* to the grid (on an edge the pursuer's own cell counts in place of
   the missing neighbour, twice in a corner) -- a PettingZoo quirk kept here.  The evaders have
   not moved yet, so over the cycle pursuer ``j`` collects ``((n - j) tag(new_j) + j
   tag(old_j)) / n``, which is how this module computes it in one step.
2. After the last pursuer: every living evader whose open 4-neighbours (in the grid, not
   building) are all occupied by pursuers is caught and removed (``alive`` mask; the arrays keep
   their size).  Each pursuer on a 4-neighbour of a caught evader gets ``catch_reward`` once per
   cycle however many it helped catch.
3. The surviving evaders move, each uniformly at random over the 5 actions.
4. Every pursuer gets ``urgency_reward``; with ``shared_reward`` every pursuer receives the mean
   of the pursuers' cycle rewards (PettingZoo's default), else its own.
5. The episode ends after ``max_cycles`` cycles (500) or when no evader is left.

**Observation** of pursuer ``k``: PettingZoo's ``(obs_range, obs_range, 3)`` array, centred on
the pursuer, indexed ``[y offset, x offset, channel]`` (PettingZoo transposes its ``[c, x, y]``
crop); channel 0 is 1 on the building and off the grid, channel 1 counts pursuers (the pursuer
itself included), channel 2 living evaders.  The shape is kept (so the PettingZoo adapter shows
PettingZoo's space); the PPO trainers flatten it to ``147`` numbers (decision 12).  The critic
sees PettingZoo's ``state()``, the same three channels on the whole map indexed ``[y, x, c]``,
flattened, plus ``t / max_cycles``.

**Not equal to PettingZoo, by construction:**

* random streams: spawning and evader moves draw from JAX keys, not from PettingZoo's NumPy
  generator, so equal seeds give different episodes; the *distributions* are equal:
  PettingZoo's rejection sampling is a uniform choice among the allowed cells, made here with
  one 32-bit draw modulo their number (a bias below 5e-8; the spawn marginals are tested
  against the enumerated draw).  Given the same state, pursuer actions and evader actions, a
  step reproduces PettingZoo exactly (tested over whole episodes);
* rewards are ``float32`` sums in another order than PettingZoo's ``float64`` (about 1e-7
  relative);
* the cycle is one call: PettingZoo's per-turn rewards are only seen summed (as its parallel
  API gives them), and the PettingZoo adapter reports the end at ``max_cycles`` as a
  termination where PettingZoo sets truncation;
* PettingZoo's surround count skips building neighbours with a zero coordinate (``0 < x``
  instead of ``0 <= x``); that is mirrored, and cannot matter for ``x_b, y_b > 0`` maps;
* not ported: ``surround=False`` (``n_catch`` pursuers on the evader), ``freeze_evaders``,
  other maps, other evader or pursuer controllers, a ``constraint_window`` below 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from robustmas.envs.core import Box, Discrete

__all__ = ["MOVES", "Pursuit", "PursuitParams", "PursuitState", "building_map"]

MOVES = np.array([[-1, 0], [1, 0], [0, 1], [0, -1], [0, 0]], dtype=np.int32)
"""``(dx, dy)`` of each action, in PettingZoo's order: left, right, up (``y + 1``), down, stay."""

_NEIGHBOURS = MOVES[:4]
"""The four neighbour offsets, in PettingZoo's surround order up to a permutation."""


def building_map(x_size: int, y_size: int, xb: float = 0.3, yb: float = 0.2) -> np.ndarray:
    """Boolean ``(x_size, y_size)`` map, ``True`` on the central building.

    Cell ``(x, y)`` is building when ``xb < x / x_size < 1 - xb`` and ``yb < y / y_size < 1 - yb``
    (the float comparisons of PettingZoo's ``rectangle_map``).
    """
    fx = np.arange(x_size, dtype=np.float64) / x_size
    fy = np.arange(y_size, dtype=np.float64) / y_size
    in_x = (fx > xb) & (fx < 1.0 - xb)
    in_y = (fy > yb) & (fy < 1.0 - yb)
    return in_x[:, None] & in_y[None, :]


@struct.dataclass
class PursuitParams:
    """Reward numbers (data) and the episode length (static)."""

    tag_reward: float = 0.01
    """Per evader on a pursuer's (clipped) 4-neighbourhood, per AEC turn, over ``n``."""
    catch_reward: float = 5.0
    """To each pursuer next to an evader caught in the cycle (once per cycle)."""
    urgency_reward: float = -0.1
    """To every pursuer every cycle."""
    shared_reward: bool = True
    """Every pursuer receives the mean of the pursuers' rewards (PettingZoo's default)."""
    max_cycles: int = struct.field(pytree_node=False, default=500)
    """Cycles (parallel steps) per episode at most (static)."""


@struct.dataclass
class PursuitState:
    """Positions ``[x, y]``, which evaders are still in play, and the cycle count."""

    pursuers: jax.Array
    """``(n_pursuers, 2)`` int32."""
    evaders: jax.Array
    """``(n_evaders, 2)`` int32 (a caught evader keeps its last cell, ignored)."""
    alive: jax.Array
    """``(n_evaders,)`` bool: not caught yet."""
    t: jax.Array
    """Cycles played (int32 scalar)."""


def _as_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < low:
        raise ValueError(f"{name}: need an integer >= {low}, got {value!r}")
    return int(value)


class Pursuit:
    """PettingZoo's pursuit with its defaults (see the module docstring).

    Args:
        n_pursuers: learning agents (8).
        n_evaders: randomly moving evaders (30).
        x_size: grid cells along ``x`` (16).
        y_size: grid cells along ``y`` (16).
        obs_range: side of the square a pursuer sees, odd (7).

    The shape-setting numbers are constructor arguments (they fix ``num_agents`` and the
    spaces, which the protocol reads without params); the rewards and ``max_cycles`` are in
    :class:`PursuitParams`.

    Raises:
        ValueError: a count or size out of range, an even ``obs_range``, or more agents of one
            kind than the spawning rule can always place (``5 (n - 1) >= open cells``).
    """

    def __init__(
        self,
        n_pursuers: int = 8,
        n_evaders: int = 30,
        *,
        x_size: int = 16,
        y_size: int = 16,
        obs_range: int = 7,
    ) -> None:
        self.n_pursuers = _as_int("n_pursuers", n_pursuers, 1)
        self.n_evaders = _as_int("n_evaders", n_evaders, 1)
        self.x_size = _as_int("x_size", x_size, 2)
        self.y_size = _as_int("y_size", y_size, 2)
        self.obs_range = _as_int("obs_range", obs_range, 1)
        if self.obs_range % 2 == 0:
            raise ValueError(f"obs_range: need an odd window, got {obs_range}")
        wall = building_map(self.x_size, self.y_size)
        wall.setflags(write=False)
        self.building = wall
        open_cells = int((~wall).sum())
        for name, count in (("n_pursuers", self.n_pursuers), ("n_evaders", self.n_evaders)):
            if 5 * (count - 1) >= open_cells:
                raise ValueError(
                    f"{name}: {count} agents may not fit {open_cells} open cells when each "
                    "bars its 4 neighbours; use fewer agents or a larger grid"
                )
        self._tables = _tables(wall, self.obs_range)

    # ------------------------------------------------------------------ protocol surface

    @property
    def num_agents(self) -> int:
        """The pursuers."""
        return self.n_pursuers

    def default_params(self) -> PursuitParams:
        """PettingZoo's ``pursuit_v4`` defaults."""
        return PursuitParams()

    def max_episode_steps(self, params: PursuitParams) -> int:
        """``params.max_cycles``."""
        return params.max_cycles

    def observation_space(self, params: PursuitParams) -> Box:
        """PettingZoo's ``Box(0, max(n_pursuers, n_evaders), (r, r, 3))``."""
        r = self.obs_range
        return Box(0.0, float(max(self.n_pursuers, self.n_evaders)), (r, r, 3))

    def action_space(self, params: PursuitParams) -> Discrete:
        """Left, right, up, down, stay."""
        return Discrete(5)

    def critic_observation_space(self, params: PursuitParams) -> Box:
        """PettingZoo's ``state()`` flattened, plus ``t / max_cycles``."""
        high = float(max(self.n_pursuers, self.n_evaders))
        return Box(0.0, high, (self.x_size * self.y_size * 3 + 1,))

    # ------------------------------------------------------------------ dynamics

    def _cells(self, xy: jax.Array) -> jax.Array:
        return xy[..., 0] * self.y_size + xy[..., 1]

    def _xy(self, cells: jax.Array) -> jax.Array:
        return jnp.stack([cells // self.y_size, cells % self.y_size], axis=-1).astype(jnp.int32)

    def _spawn(self, key: jax.Array, count: int) -> jax.Array:
        """``count`` cells, each uniform among the open cells no earlier one occupies or touches.

        PettingZoo draws cells until one is allowed; here one 32-bit draw per agent picks the
        ``(bits mod m)``-th of the ``m`` allowed cells (a bias below ``m / 2**32``, about 5e-8).
        The allowed cells are a bit set, 32 cells to a word (8 words on 16 x 16), which makes a
        reset about 10x cheaper under ``vmap`` than a boolean map per agent.
        """
        t = self._tables
        bits = jax.random.bits(key, (count,), jnp.uint32)
        block = jnp.asarray(t.block)
        shifts = jnp.arange(32, dtype=jnp.uint32)
        one = jnp.uint32(1)

        def place(allowed: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
            per_word = jax.lax.population_count(allowed).astype(jnp.int32)
            k = (b % jnp.sum(per_word).astype(jnp.uint32)).astype(jnp.int32)
            upto = jnp.cumsum(per_word)
            w = jnp.argmax(upto > k)  # the word holding the k-th allowed cell (from 0)
            in_word = jnp.cumsum((allowed[w] >> shifts) & one) > (k - upto[w] + per_word[w])
            cell = w * 32 + jnp.argmax(in_word)
            for c in block[cell]:  # the cell and its neighbours (itself where off the grid)
                bit = one << (c % 32).astype(jnp.uint32)
                allowed = allowed.at[c // 32].set(allowed[c // 32] & ~bit)
            return allowed, cell

        _, cells = jax.lax.scan(place, jnp.asarray(t.open_bits), bits)
        return self._xy(cells)

    def reset(self, key: jax.Array, params: PursuitParams) -> tuple[jax.Array, PursuitState]:
        """Pursuers, then evaders, on random open cells apart from their own kind."""
        k_pursuers, k_evaders = jax.random.split(key)
        state = PursuitState(
            pursuers=self._spawn(k_pursuers, self.n_pursuers),
            evaders=self._spawn(k_evaders, self.n_evaders),
            alive=jnp.ones((self.n_evaders,), bool),
            t=jnp.int32(0),
        )
        return self._obs(state), state

    def step(
        self, key: jax.Array, state: PursuitState, action: jax.Array, params: PursuitParams
    ) -> tuple[jax.Array, PursuitState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """One cycle: pursuers move, captures, evaders move at random (module docstring)."""
        evader_actions = jax.random.randint(key, (self.n_evaders,), 0, 5, dtype=jnp.int32)
        return self.transition(state, action, evader_actions, params)

    def transition(
        self,
        state: PursuitState,
        action: jax.Array,
        evader_actions: jax.Array,
        params: PursuitParams,
    ) -> tuple[jax.Array, PursuitState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """:meth:`step` with the evaders' actions given (``(n_evaders,)``, caught ones ignored).

        Returns ``(obs, state, reward, done, info)``; ``info`` holds ``captures`` (evaders
        caught this cycle) and ``evaders_left``.
        """
        t = self._tables
        n = self.n_pursuers
        a = jnp.clip(jnp.asarray(action, jnp.int32).reshape((n,)), 0, 4)
        ea = jnp.clip(jnp.asarray(evader_actions, jnp.int32).reshape((self.n_evaders,)), 0, 4)
        moves = jnp.asarray(t.moves)
        old = self._cells(state.pursuers)
        new = moves[old, a]
        evaders = self._cells(state.evaders)
        num_cells = self.x_size * self.y_size
        evader_count = _count(evaders, num_cells, state.alive)
        pursuer_count = _count(new, num_cells)

        # 1. Tag rewards of the n AEC turns: pursuer j is at its new cell in turns j..n-1.
        tag_cells = jnp.asarray(t.tag_cells)
        tags = lambda cells: evader_count[tag_cells[cells]].sum(axis=-1)  # noqa: E731
        j = jnp.arange(n)
        tag = params.tag_reward * ((n - j) * tags(new) + j * tags(old)) / n

        # 2. Captures: every open 4-neighbour of a living evader holds a pursuer.
        nbr = jnp.asarray(t.neighbours)[evaders]  # (n_evaders, 4), -1 off the grid
        held = jnp.where(nbr >= 0, pursuer_count[jnp.maximum(nbr, 0)] > 0, False)
        need = jnp.asarray(t.need)[evaders]
        caught = state.alive & (held.sum(axis=1) == need)
        gap = jnp.abs(self._xy(new)[:, None, :] - state.evaders[None, :, :]).sum(axis=-1)
        catcher = jnp.any((gap == 1) & caught[None, :], axis=1)

        local = tag + params.catch_reward * catcher + params.urgency_reward
        reward = jnp.where(params.shared_reward, jnp.broadcast_to(local.mean(), (n,)), local)

        # 3. The survivors move.
        alive = state.alive & ~caught
        moved = jnp.where(alive, moves[evaders, ea], evaders)
        new_state = PursuitState(
            pursuers=self._xy(new), evaders=self._xy(moved), alive=alive, t=state.t + 1
        )
        left = alive.sum(dtype=jnp.int32)
        done = (new_state.t >= params.max_cycles) | (left == 0)
        info = {"captures": caught.sum(dtype=jnp.int32), "evaders_left": left}
        obs = self._view(new, self._cells(new_state.evaders), alive)
        return obs, new_state, reward.astype(jnp.float32), done, info

    # ------------------------------------------------------------------ views

    def _channels(self, state: PursuitState) -> jax.Array:
        """``(x_size, y_size, 3)``: building, pursuer counts, living evader counts."""
        num_cells = self.x_size * self.y_size
        pursuers = _count(self._cells(state.pursuers), num_cells)
        evaders = _count(self._cells(state.evaders), num_cells, state.alive)
        wall = jnp.asarray(self.building.reshape(-1), jnp.float32)
        stacked = jnp.stack([wall, pursuers.astype(jnp.float32), evaders.astype(jnp.float32)])
        return stacked.T.reshape(self.x_size, self.y_size, 3)

    def _view(self, pursuers: jax.Array, evaders: jax.Array, alive: jax.Array) -> jax.Array:
        """Every pursuer's view from the agents' cells (``(n, r, r, 3)``, module docstring)."""
        t = self._tables
        size = t.padded_wall.size
        to_padded = jnp.asarray(t.padded_index)
        flat = jnp.stack(
            [
                jnp.asarray(t.padded_wall.reshape(-1)),
                _count(to_padded[pursuers], size).astype(jnp.float32),
                _count(to_padded[evaders], size, alive).astype(jnp.float32),
            ],
            axis=-1,
        )
        return flat[jnp.asarray(t.window)[pursuers]]  # [y offset, x offset, channel]

    def _obs(self, state: PursuitState) -> jax.Array:
        return self._view(self._cells(state.pursuers), self._cells(state.evaders), state.alive)

    def critic_observation(self, state: PursuitState, params: PursuitParams) -> jax.Array:
        """PettingZoo's ``state()`` (``[y, x, channel]``) flattened, then ``t / max_cycles``."""
        grid = jnp.transpose(self._channels(state), (1, 0, 2)).reshape(-1)
        frac = (state.t.astype(jnp.float32) / params.max_cycles)[None]
        return jnp.concatenate([grid, frac]).astype(jnp.float32)


def _count(cells: jax.Array, size: int, weights: jax.Array | None = None) -> jax.Array:
    """``(size,)`` int32: how many of ``cells`` (those with ``weights``) are on each cell.

    A scatter-add: about 3.5x faster under ``vmap`` on CPU than summing one-hot rows.
    """
    ones = jnp.ones(cells.shape, jnp.int32) if weights is None else weights.astype(jnp.int32)
    return jnp.zeros((size,), jnp.int32).at[cells].add(ones)


@dataclass(frozen=True)
class _Tables:
    """Per-cell lookup tables (NumPy, built once per environment)."""

    moves: np.ndarray
    """``(cells, 5)``: the cell an action leads to (the same cell when blocked)."""
    tag_cells: np.ndarray
    """``(cells, 4)``: the 4-neighbours with coordinates clipped to the grid."""
    neighbours: np.ndarray
    """``(cells, 4)``: the 4-neighbours, ``-1`` off the grid."""
    need: np.ndarray
    """``(cells,)``: pursuers needed to surround an evader there."""
    block: np.ndarray
    """``(cells, 5)``: the cell and its 4-neighbours (barred to later spawns); the cell itself
    stands in for a neighbour off the grid."""
    open_bits: np.ndarray
    """``(ceil(cells / 32),)`` uint32: bit ``c % 32`` of word ``c // 32`` set for open cells."""
    window: np.ndarray
    """``(cells, r, r)``: flat indices into the padded map of the view ``[y offset, x offset]``."""
    padded_wall: np.ndarray
    """``(x_size + 2 o, y_size + 2 o)`` float32: building, and 1 off the grid (``o`` = offset)."""
    padded_index: np.ndarray
    """``(cells,)``: each cell's flat index in the padded map."""


def _tables(wall: np.ndarray, obs_range: int) -> _Tables:
    xs, ys = wall.shape
    cells = xs * ys
    x, y = np.divmod(np.arange(cells), ys)
    index = lambda cx, cy: cx * ys + cy  # noqa: E731
    moves = np.empty((cells, 5), np.int32)
    for a, (dx, dy) in enumerate(MOVES):
        tx, ty = x + dx, y + dy
        inside = (tx >= 0) & (tx < xs) & (ty >= 0) & (ty < ys)
        free = inside & ~wall[np.clip(tx, 0, xs - 1), np.clip(ty, 0, ys - 1)]
        moves[:, a] = np.where(free, index(tx, ty), np.arange(cells))
    tag_cells = np.empty((cells, 4), np.int32)
    neighbours = np.empty((cells, 4), np.int32)
    need = 4 - ((x == 0) | (x == xs - 1)).astype(np.int32) - ((y == 0) | (y == ys - 1))
    block = np.repeat(np.arange(cells, dtype=np.int32)[:, None], 5, axis=1)
    for k, (dx, dy) in enumerate(_NEIGHBOURS):
        tx, ty = x + dx, y + dy
        tag_cells[:, k] = index(np.clip(tx, 0, xs - 1), np.clip(ty, 0, ys - 1))
        inside = (tx >= 0) & (tx < xs) & (ty >= 0) & (ty < ys)
        neighbours[:, k] = np.where(inside, index(tx, ty), -1)
        block[inside, k] = index(tx, ty)[inside]
        # PettingZoo counts a building neighbour only when 0 < x and 0 < y (see the docstring).
        counted = (tx > 0) & (tx < xs) & (ty > 0) & (ty < ys)
        need -= counted & wall[np.clip(tx, 0, xs - 1), np.clip(ty, 0, ys - 1)]
    o = (obs_range - 1) // 2
    padded_wall = np.ones((xs + 2 * o, ys + 2 * o), np.float32)
    padded_wall[o : o + xs, o : o + ys] = wall
    offsets = np.arange(obs_range)
    # View entry [a, b] of a pursuer at (x, y) is cell (x - o + b, y - o + a), i.e. padded
    # cell (x + b, y + a).
    px = x[:, None, None] + offsets[None, None, :]
    py = y[:, None, None] + offsets[None, :, None]
    window = (px * (ys + 2 * o) + py).astype(np.int32)
    padded_index = ((x + o) * (ys + 2 * o) + y + o).astype(np.int32)
    open_bits = np.zeros(-(-cells // 32), np.uint32)
    for c in np.flatnonzero(~wall.reshape(-1)):
        open_bits[c // 32] |= np.uint32(1 << (c % 32))
    tables = _Tables(moves, tag_cells, neighbours, need.astype(np.int32), block, open_bits,
                     window, padded_wall, padded_index)  # fmt: skip
    for array in (moves, tag_cells, neighbours, block, open_bits, window, padded_wall,
                  padded_index):  # fmt: skip
        array.setflags(write=False)
    return tables

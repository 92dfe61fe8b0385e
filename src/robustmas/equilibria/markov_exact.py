"""Exact values, best responses and regrets of tabular policies in small grid Markov games.

The grid games of the robust-principal paper -- Zhao, Trott, Xiong, Zheng, "Learning to Play
General-Sum Games Against Multiple Boundedly Rational Agents", AAAI 2023, arXiv:2106.05492
(Sec. 5 "Game Environment", the sequential bimatrix game of Fig. 2; Sec. 6 "Repeated Matrix
Games", Fig. 3) -- and of ERMAS -- anonymous ICLR 2021 submission, "ERMAS: Learning Policies
Robust to Reality Gaps in Multi-Agent Simulations" (Sec. 4.1) -- are finite-horizon Markov
games: ``d`` movers each shift their own coordinate of a cell in ``{0..W-1}^d`` by one of a few
moves (stay, +1, -1; clipped at the border) and every player ``k`` receives ``r_k`` of the *new*
cell, for ``T`` steps.  For a tabular, time-dependent policy profile ``pi_k[t, s, a]`` this
module computes, by dynamic programming over the ``W^d`` cells (NumPy, exact up to rounding):

* :func:`evaluate`: every player's expected return
  ``V_t(s) = sum_a prod_k pi_k(a_k | t, s) [r(s'(s, a)) + gamma V_{t+1}(s'(s, a))]``,
  ``V_T = 0``, averaged over the initial distribution (uniform by default, spec decision D27);
* :func:`best_response`: one mover's best return against the others' fixed policies, by backward
  induction (an MDP on ``(t, s)``, so a deterministic time-dependent policy attains the best over
  *all* deviations, history-dependent ones included);
* :func:`regrets`: best-response value minus value, per mover: the per-episode regret whose
  bound ``eps`` Alg. 1 and 3 of RP (and ERMAS Eq. 8) enforce, exact instead of Monte-Carlo
  (spec decision D6 describes the estimator this checks);
* :func:`best_response_dynamics`: damped simultaneous best responses of some movers while the
  others stay fixed (e.g. fresh agents against a frozen principal), run until every updating
  mover's exact regret is below a tolerance: an approximate equilibrium of the agents' game,
  where it converges (it need not);
* :func:`cell_chain` and :class:`OfficerPlanner`: ERMAS Sec. 4.3's acting planner (the
  released code's officer dynamics, spec D14), which changes an officer count ``o`` before it
  sees the next cell and earns ``r_0(s') (1 + w o'/M) - (o'/M)^2``.  Nothing it does reaches
  the movers, so for stationary movers the cells follow a Markov chain and the planner faces an
  MDP on ``(t, s, o)``: its exact value, and the best value of any planner;
* :func:`stage_worst_case_cce`: the stage game's worst-case eps-CCE through the exact LP of RP
  Eq. 7 (:func:`robustmas.equilibria.lp.worst_case_cce`); for the tragedy tables it is
  ``max(0, 1 - 2.5 eps)``; :func:`stage_robust_principal` does the same for a principal that
  moves (the N-matrix game: one LP per principal coordinate, the best worst case; spec
  Sec. 1.2).  A tolerance yardstick only: Markov policies that react to the other
  agents' positions can sit off the stage game's eps-CCE set (spec decision D13).

Conventions (those of :mod:`robustmas.games.grid_tables` and the JAX environment
:mod:`robustmas.envs.grid_game`): ``rewards[k]`` has one axis per mover; movers are players
``0..d-1`` (mover ``k`` shifts axis ``k``); players ``d..n-1`` only receive rewards (a principal
that does not move).  Cells are numbered in C order (``np.ravel_multi_index``); action ``a`` of a
mover shifts its coordinate by ``moves[a]``.  This layer does not import the environments: it
takes plain arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np
from scipy import sparse

from robustmas.equilibria.lp import RobustActionResult, robust_principal_action, worst_case_cce
from robustmas.equilibria.result import CCEResult
from robustmas.games.grid_tables import grid_principal_stage_game, grid_stage_game
from robustmas.games.normal_form import check_finite

__all__ = [
    "BestResponse",
    "DynamicsResult",
    "GridMarkovGame",
    "MarkovRegrets",
    "OfficerPlanner",
    "OfficerPlannerSolution",
    "PolicyValues",
    "best_response",
    "best_response_dynamics",
    "cell_chain",
    "deterministic_policy",
    "evaluate",
    "regrets",
    "stage_robust_principal",
    "stage_worst_case_cce",
    "uniform_policies",
]

MAX_JOINT_TRANSITIONS = 2**24
"""Most ``cells x joint moves`` entries of the successor table (one int64 each: 128 MiB)."""


@dataclass(frozen=True, eq=False)
class GridMarkovGame:
    """A finite-horizon grid Markov game with a deterministic, clipped, factored transition.

    Attributes:
        rewards: ``rewards[k][cell]`` is player ``k``'s reward when the move lands on ``cell``,
            shape ``(n, W, ..., W)`` with ``d <= n`` grid axes; players ``0..d-1`` move.
        horizon: steps per episode ``T`` (``>= 1``).
        moves: coordinate shift of each mover action; the released code's order
            ``(0, +1, -1)`` = stay, up, down by default.
        initial: distribution of the first cell, shape ``(W, ..., W)``; ``None`` = uniform.
        discount: ``gamma`` in ``[0, 1]`` (1: the undiscounted episode return of the papers).
    """

    rewards: np.ndarray
    horizon: int
    moves: tuple[int, ...] = (0, 1, -1)
    initial: np.ndarray | None = None
    discount: float = 1.0

    def __post_init__(self) -> None:
        rewards = np.array(self.rewards, dtype=np.float64)  # a copy: frozen below
        if rewards.ndim < 2:
            raise ValueError(f"rewards: expected shape (n, W, ..., W), got {rewards.shape}")
        n, cells = rewards.shape[0], rewards.shape[1:]
        if len(cells) > n:
            raise ValueError(
                f"rewards: {len(cells)} grid axes (movers) but only {n} reward tables; every "
                "mover needs a table"
            )
        if len(set(cells)) != 1 or cells[0] < 1:
            raise ValueError(f"rewards: every grid axis needs the same width >= 1, got {cells}")
        check_finite("rewards", rewards)
        rewards.setflags(write=False)
        object.__setattr__(self, "rewards", rewards)
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int | np.integer):
            raise ValueError(f"horizon: expected an int >= 1, got {self.horizon!r}")
        if self.horizon < 1:
            raise ValueError(f"horizon: expected an int >= 1, got {self.horizon}")
        moves = tuple(int(m) for m in self.moves)
        if not moves:
            raise ValueError("moves: need at least one move, e.g. (0, 1, -1)")
        object.__setattr__(self, "moves", moves)
        joint = len(moves) ** len(cells)
        if joint * self.num_states > MAX_JOINT_TRANSITIONS:
            raise ValueError(
                f"rewards/moves: {self.num_states:,} cells x {joint:,} joint moves exceed "
                f"{MAX_JOINT_TRANSITIONS:,} successor entries; use a smaller grid or fewer movers"
            )
        if not 0.0 <= float(self.discount) <= 1.0:
            raise ValueError(f"discount: expected a number in [0, 1], got {self.discount!r}")
        if self.initial is not None:
            initial = np.array(self.initial, dtype=np.float64)
            if initial.shape != cells:
                raise ValueError(
                    f"initial: expected a distribution over the cells, shape {cells}, got "
                    f"{initial.shape}"
                )
            if not np.all(np.isfinite(initial)) or np.any(initial < 0):
                raise ValueError("initial: probabilities must be finite and non-negative")
            if abs(initial.sum() - 1.0) > 1e-9:
                raise ValueError(f"initial: probabilities must sum to 1, got {initial.sum():.12g}")
            initial.setflags(write=False)
            object.__setattr__(self, "initial", initial)

    @property
    def num_players(self) -> int:
        """Players with a reward table ``n`` (movers first)."""
        return int(self.rewards.shape[0])

    @property
    def num_movers(self) -> int:
        """Players that move ``d`` (one grid axis each)."""
        return self.rewards.ndim - 1

    @property
    def width(self) -> int:
        """Cells per axis ``W``."""
        return int(self.rewards.shape[1])

    @property
    def num_states(self) -> int:
        """Cells ``S = W^d``."""
        return self.width**self.num_movers

    @property
    def num_actions(self) -> int:
        """Actions per mover ``A = len(moves)``."""
        return len(self.moves)

    @property
    def initial_distribution(self) -> np.ndarray:
        """Distribution of the first cell, flat ``(S,)``."""
        if self.initial is None:
            return np.full(self.num_states, 1.0 / self.num_states)
        return self.initial.reshape(-1)

    @cached_property
    def successors(self) -> np.ndarray:
        """``successors[s, a]``: the cell after joint action ``a`` (C order over movers) in ``s``.

        Shape ``(S, A^d)``.
        """
        d, w = self.num_movers, self.width
        coords = np.array(np.unravel_index(np.arange(self.num_states), (w,) * d))  # (d, S)
        shifts = np.array(self.moves)[
            np.array(np.unravel_index(np.arange(self.num_actions**d), (self.num_actions,) * d))
        ]  # (d, A^d)
        new = np.clip(coords[:, :, None] + shifts[:, None, :], 0, w - 1)  # (d, S, A^d)
        return np.asarray(np.ravel_multi_index(tuple(new), (w,) * d))

    @property
    def flat_rewards(self) -> np.ndarray:
        """Rewards by flat cell, shape ``(n, S)``."""
        return self.rewards.reshape(self.num_players, -1)


class PolicyValues(NamedTuple):
    """Exact expected returns of a policy profile (:func:`evaluate`)."""

    values: np.ndarray
    """Every player's expected return from the initial distribution, shape ``(n,)``."""
    state_values: np.ndarray
    """``V_t(s)`` per player, shape ``(T + 1, n, S)`` (``V_T = 0``)."""


class BestResponse(NamedTuple):
    """One mover's exact best response to the others' policies (:func:`best_response`)."""

    value: float
    """The best expected return from the initial distribution."""
    policy: np.ndarray
    """A deterministic best response, one-hot, shape ``(T, S, A)`` (ties: lowest action)."""
    state_values: np.ndarray
    """Optimal ``V*_t(s)``, shape ``(T + 1, S)``."""


class MarkovRegrets(NamedTuple):
    """Values, best-response values and regrets of every mover (:func:`regrets`)."""

    values: np.ndarray
    """Every player's expected return, shape ``(n,)`` (movers first)."""
    best_response_values: np.ndarray
    """Each mover's best-response value, shape ``(d,)``."""
    regrets: np.ndarray
    """``best_response_values - values[:d]`` (>= 0 up to rounding), shape ``(d,)``."""


def _check_policies(game: GridMarkovGame, policies: np.ndarray, atol: float = 1e-6) -> np.ndarray:
    """Policies as float64 ``(d, T, S, A)``; stationary ``(d, S, A)`` ones are repeated over t."""
    policies = np.asarray(policies, dtype=np.float64)
    d, t, s, a = game.num_movers, game.horizon, game.num_states, game.num_actions
    stationary = policies.shape == (d, s, a)
    if not stationary and policies.shape != (d, t, s, a):
        raise ValueError(
            f"policies: expected shape (movers, T, S, A) = {(d, t, s, a)} (or stationary "
            f"{(d, s, a)}), got {policies.shape}"
        )
    if not np.all(np.isfinite(policies)) or np.any(policies < -atol):
        raise ValueError("policies: probabilities must be finite and non-negative")
    worst = float(np.max(np.abs(policies.sum(axis=-1) - 1.0)))
    if worst > atol:
        raise ValueError(
            f"policies: each (mover, t, s) row must sum to 1, off by up to {worst:.3g}; "
            "normalise the last axis"
        )
    policies = np.clip(policies, 0.0, None)
    # Checked once; a stationary profile is repeated over time only as a view.
    return np.broadcast_to(policies[:, None], (d, t, s, a)) if stationary else policies


def _joint(factors: list[np.ndarray]) -> np.ndarray:
    """``prod_k factors[k][s, a_k]`` as ``(S, A^d)`` (C order over ``k``)."""
    out = factors[0]
    for f in factors[1:]:
        out = (out[:, :, None] * f[:, None, :]).reshape(out.shape[0], -1)
    return out


def evaluate(game: GridMarkovGame, policies: np.ndarray) -> PolicyValues:
    """Every player's exact expected return when the movers play ``policies``.

    Args:
        game: the grid Markov game.
        policies: ``policies[k, t, s, a]`` = probability that mover ``k`` plays ``a`` at step
            ``t`` in cell ``s``, shape ``(d, T, S, A)``; a stationary ``(d, S, A)`` is repeated
            (and takes a faster path: one joint policy and transition matrix for all steps).

    Returns:
        :class:`PolicyValues` (values of all ``n`` players, and the value functions).

    Raises:
        ValueError: policies of the wrong shape or not distributions.

    """
    stationary = np.ndim(policies) == 3
    pi = _check_policies(game, policies)
    succ, rewards, gamma = game.successors, game.flat_rewards, float(game.discount)
    n, s_count, horizon = game.num_players, game.num_states, game.horizon
    values = np.zeros((horizon + 1, n, s_count))
    if stationary:
        # One joint policy for all steps: its expected reward and its (sparse) transition
        # matrix once, then V_t = R + gamma P V_{t+1} (benchmarks/bench_markov_exact.py).
        joint = _joint([pi[k, 0] for k in range(game.num_movers)])  # (S, A^d)
        expected = np.einsum("sa,nsa->ns", joint, rewards[:, succ])
        rows = np.repeat(np.arange(s_count), succ.shape[1])
        step = sparse.csr_matrix((joint.ravel(), (rows, succ.ravel())), (s_count, s_count))
        for t in range(horizon - 1, -1, -1):
            values[t] = expected + gamma * (step @ values[t + 1].T).T
        return PolicyValues(values[0] @ game.initial_distribution, values)
    for t in range(horizon - 1, -1, -1):
        joint = _joint([pi[k, t] for k in range(game.num_movers)])  # (S, A^d)
        target = rewards[:, succ] + gamma * values[t + 1][:, succ]  # (n, S, A^d)
        values[t] = np.einsum("sa,nsa->ns", joint, target)
    return PolicyValues(values[0] @ game.initial_distribution, values)


def best_response(game: GridMarkovGame, policies: np.ndarray, player: int) -> BestResponse:
    """Mover ``player``'s exact best response to the other movers' ``policies``.

    Backward induction on the MDP ``(t, s)`` that the others' fixed Markov policies leave:
    ``V*_t(s) = max_a sum_{a_-k} pi_-k(a_-k | t, s) [r_k(s') + gamma V*_{t+1}(s')]``.

    Args:
        game: the grid Markov game.
        policies: every mover's policy (see :func:`evaluate`); ``player``'s own is ignored.
        player: the deviating mover, in ``0..d-1``.

    Returns:
        :class:`BestResponse` (value, a deterministic time-dependent best response, ``V*``).

    Raises:
        ValueError: ``player`` is not a mover, or the policies are malformed.

    """
    d = game.num_movers
    if isinstance(player, bool) or not isinstance(player, int | np.integer) or not 0 <= player < d:
        raise ValueError(f"player: expected a mover index in [0, {d}), got {player!r}")
    pi = _check_policies(game, policies)
    succ, reward, gamma = game.successors, game.flat_rewards[player], float(game.discount)
    s_count, a_count, horizon = game.num_states, game.num_actions, game.horizon
    values = np.zeros((horizon + 1, s_count))
    policy = np.zeros((horizon, s_count, a_count))
    ones = np.ones((s_count, a_count))
    if np.ndim(policies) == 3:
        # Stationary others: one sparse transition matrix per own action for all steps.
        joint = _joint([ones if k == player else pi[k, 0] for k in range(d)])  # (S, A^d)
        shape = (s_count,) + (a_count,) * d
        weights = np.moveaxis(joint.reshape(shape), player + 1, 1).reshape(s_count, a_count, -1)
        targets = np.moveaxis(succ.reshape(shape), player + 1, 1).reshape(s_count, a_count, -1)
        rows = np.repeat(np.arange(s_count), weights.shape[-1])
        steps = [
            sparse.csr_matrix(
                (weights[:, a].ravel(), (rows, targets[:, a].ravel())), (s_count, s_count)
            )
            for a in range(a_count)
        ]
        for t in range(horizon - 1, -1, -1):
            after = reward + gamma * values[t + 1]
            q = np.stack([m @ after for m in steps], axis=1)  # (S, A)
            best = np.argmax(q, axis=1)
            policy[t, np.arange(s_count), best] = 1.0
            values[t] = q[np.arange(s_count), best]
        return BestResponse(float(values[0] @ game.initial_distribution), policy, values)
    for t in range(horizon - 1, -1, -1):
        # The deviator's factor is 1: the sum over the others' actions leaves one column per a_k.
        joint = _joint([ones if k == player else pi[k, t] for k in range(d)])
        target = (reward[succ] + gamma * values[t + 1][succ]) * joint  # (S, A^d)
        q = np.moveaxis(target.reshape((s_count,) + (a_count,) * d), player + 1, 1)
        q = q.reshape(s_count, a_count, -1).sum(axis=-1)  # (S, A)
        best = np.argmax(q, axis=1)
        policy[t, np.arange(s_count), best] = 1.0
        values[t] = q[np.arange(s_count), best]
    return BestResponse(float(values[0] @ game.initial_distribution), policy, values)


def regrets(game: GridMarkovGame, policies: np.ndarray) -> MarkovRegrets:
    """Every mover's exact per-episode regret: best-response value minus its value.

    The best response ranges over all policies, time-dependent ones included, so this bounds
    the regret against deviations that do not observe ``t`` (the environment's agents) from
    above.

    Args:
        game: the grid Markov game.
        policies: every mover's policy (see :func:`evaluate`).

    Returns:
        :class:`MarkovRegrets`.

    """
    values = evaluate(game, policies).values
    best = np.array([best_response(game, policies, k).value for k in range(game.num_movers)])
    return MarkovRegrets(values, best, best - values[: game.num_movers])


def cell_chain(game: GridMarkovGame, policies: np.ndarray) -> np.ndarray:
    """The cells' transition matrix ``P[s, s']`` under stationary mover policies.

    Args:
        game: the grid Markov game.
        policies: stationary policies ``(d, S, A)`` of the movers.

    Returns:
        A dense row-stochastic ``(S, S)`` matrix.

    Raises:
        ValueError: policies of the wrong shape or not distributions.

    """
    if np.ndim(policies) != 3:
        raise ValueError(
            f"policies: expected stationary policies (movers, S, A), got shape {np.shape(policies)}"
        )
    pi = _check_policies(game, policies)
    joint = _joint([pi[k, 0] for k in range(game.num_movers)])  # (S, A^d)
    chain = np.zeros((game.num_states, game.num_states))
    rows = np.repeat(np.arange(game.num_states), joint.shape[1])
    np.add.at(chain, (rows, game.successors.ravel()), joint.ravel())
    return chain


class OfficerPlannerSolution(NamedTuple):
    """The best officer policy against one cell chain (:meth:`OfficerPlanner.optimal`)."""

    value: float
    """The best expected return from the initial cells with no officers."""
    policy: np.ndarray
    """A deterministic optimal policy: the officer-change index per ``(t, s, o)``,
    shape ``(T, S, M + 1)``."""


@dataclass(frozen=True, eq=False)
class OfficerPlanner:
    """ERMAS Sec. 4.3's acting planner over a grid game's cells (the released code's officers).

    The planner starts every episode with no officers; each step it picks a change from
    ``deltas`` (the count is clipped to ``0..max_officers``) before the movers land on ``s'``,
    and earns ``r(s') (1 + weight o'/M) - (o'/M)^2`` with ``r`` the reward table of player
    ``player`` of ``game`` (the principal's table, last) and ``o'`` the new count (spec D14;
    :class:`robustmas.envs.grid_game.GridGame` with ``principal="augmented"``).

    Attributes:
        game: the grid Markov game (horizon, initial cells, discount and the planner's table).
        max_officers: ``M`` (>= 1).
        deltas: officer change per planner action.
        weight: ``w``, the officers' weight on the table value.
        player: index of the planner's reward table in ``game.rewards`` (default: the last).
    """

    game: GridMarkovGame
    max_officers: int = 12
    deltas: tuple[int, ...] = (-2, -1, 0, 1, 2)
    weight: float = 3.0
    player: int = -1

    def __post_init__(self) -> None:
        if isinstance(self.max_officers, bool) or not isinstance(
            self.max_officers, int | np.integer
        ):
            raise ValueError(f"max_officers: expected an int >= 1, got {self.max_officers!r}")
        if self.max_officers < 1:
            raise ValueError(f"max_officers: expected an int >= 1, got {self.max_officers}")
        object.__setattr__(self, "max_officers", int(self.max_officers))
        deltas = tuple(int(x) for x in self.deltas)
        if not deltas:
            raise ValueError("deltas: need at least one officer change, e.g. (-1, 0, 1)")
        object.__setattr__(self, "deltas", deltas)
        if not np.isfinite(self.weight):
            raise ValueError(f"weight: must be finite, got {self.weight!r}")
        n = self.game.num_players
        if not -n <= self.player < n:
            raise ValueError(f"player: expected an index into {n} reward tables, got {self.player}")

    @cached_property
    def rewards(self) -> np.ndarray:
        """``R[s', o']``, shape ``(S, M + 1)``."""
        level = np.arange(self.max_officers + 1) / self.max_officers
        table = self.game.flat_rewards[self.player]
        return table[:, None] * (1.0 + self.weight * level[None, :]) - level[None, :] ** 2

    @cached_property
    def next_officers(self) -> np.ndarray:
        """``o'[o, d]``, shape ``(M + 1, D)``."""
        count = np.arange(self.max_officers + 1)[:, None] + np.asarray(self.deltas)[None, :]
        return np.clip(count, 0, self.max_officers)

    def _q(self, chain: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``Q[s, o, d] = sum_s' P[s, s'] (R + gamma V)[s', o'(o, d)]``."""
        return (chain @ (self.rewards + float(self.game.discount) * v))[:, self.next_officers]

    def _check_chain(self, chain: np.ndarray) -> np.ndarray:
        chain = np.asarray(chain, np.float64)
        s = self.game.num_states
        if chain.shape != (s, s):
            raise ValueError(f"chain: expected shape (S, S) = {(s, s)}, got {chain.shape}")
        if (
            not np.all(np.isfinite(chain))
            or np.any(chain < -1e-9)
            or np.max(np.abs(chain.sum(axis=1) - 1.0)) > 1e-6
        ):
            raise ValueError("chain: rows must be probability distributions (see cell_chain)")
        return chain

    def _start(self, v: np.ndarray) -> float:
        return float(self.game.initial_distribution @ v[:, 0])

    def optimal(self, chain: np.ndarray) -> OfficerPlannerSolution:
        """The best planner against cell chain ``chain``, by backward induction on ``(t, s, o)``.

        It observes ``t``, the cell and its officers, so its value bounds every planner's
        (stationary or history-dependent) from above.
        """
        chain = self._check_chain(chain)
        v = np.zeros_like(self.rewards)
        policy = np.zeros((self.game.horizon, *self.rewards.shape), np.int64)
        for t in reversed(range(self.game.horizon)):
            q = self._q(chain, v)
            policy[t] = q.argmax(axis=-1)
            v = q.max(axis=-1)
        return OfficerPlannerSolution(self._start(v), policy)

    def evaluate(self, chain: np.ndarray, policy: np.ndarray) -> float:
        """The planner's expected return against cell chain ``chain``.

        Args:
            chain: ``P[s, s']`` (see :func:`cell_chain`).
            policy: a deterministic policy (integer change indices ``(T, S, M + 1)``, as
                :meth:`optimal` returns), or probabilities over the changes, stationary
                ``(S, M + 1, D)`` or time-dependent ``(T, S, M + 1, D)``.

        Raises:
            ValueError: a chain or policy of the wrong shape, or probabilities that are not
                distributions.

        """
        chain = self._check_chain(chain)
        horizon, (s, o), d = self.game.horizon, self.rewards.shape, len(self.deltas)
        policy = np.asarray(policy)
        if np.issubdtype(policy.dtype, np.integer):
            if policy.shape != (horizon, s, o):
                raise ValueError(f"policy: expected indices of shape {(horizon, s, o)}")
            if policy.min() < 0 or policy.max() >= d:
                raise ValueError(f"policy: every change index must lie in [0, {d})")
            policy = np.eye(d)[policy]
        elif policy.shape == (s, o, d):
            policy = np.broadcast_to(policy, (horizon, s, o, d))
        if policy.shape != (horizon, s, o, d):
            raise ValueError(
                f"policy: expected shape (S, M + 1, D) = {(s, o, d)} or (T, S, M + 1, D), got "
                f"{policy.shape}"
            )
        if (
            not np.all(np.isfinite(policy))
            or np.any(policy < -1e-9)
            or np.max(np.abs(policy.sum(axis=-1) - 1.0)) > 1e-6
        ):
            raise ValueError("policy: each row must sum to 1 over the officer changes")
        v = np.zeros_like(self.rewards)
        for t in reversed(range(horizon)):
            v = (policy[t] * self._q(chain, v)).sum(axis=-1)
        return self._start(v)


class DynamicsResult(NamedTuple):
    """Where :func:`best_response_dynamics` stopped."""

    policies: np.ndarray
    """The final profile, time-dependent ``(d, T, S, A)`` (fixed movers unchanged)."""
    values: np.ndarray
    """Every player's expected return under it, shape ``(n,)``."""
    regrets: np.ndarray
    """Each updating mover's exact regret at the end, in ``players`` order."""
    iterations: int
    """Best-response steps taken."""
    converged: bool
    """Every updating mover's regret is at most the tolerance."""


def best_response_dynamics(
    game: GridMarkovGame,
    policies: np.ndarray,
    players: tuple[int, ...] | list[int],
    *,
    step: float = 0.2,
    iterations: int = 100,
    tol: float = 0.0,
) -> DynamicsResult:
    """Damped simultaneous best responses of ``players``; the other movers stay fixed.

    Each iteration computes every updating mover's exact best response to the current profile
    (:func:`best_response`) and its regret; it stops when all regrets are at most ``tol``, else
    moves each mover's policy a fraction ``step`` towards its best response, per step and cell:
    ``pi_k <- (1 - step) pi_k + step BR_k``.  A fixed point has zero regret, so where the
    dynamics converge they end at an approximate Nash equilibrium of the updating movers' game
    given the fixed ones (e.g. agents given a frozen principal).  Convergence is not
    guaranteed in general-sum games; :attr:`DynamicsResult.converged` says whether it happened.

    Args:
        game: the grid Markov game.
        policies: the starting profile (see :func:`evaluate`), e.g. the fixed principal's policy
            and uniform agents.
        players: the updating movers.
        step: the damping ``step`` in ``(0, 1]``.
        iterations: most best-response steps.
        tol: regret (per episode) at which to stop.

    Raises:
        ValueError: a bad mover index, step, iteration count or tolerance, or bad policies.

    """
    d = game.num_movers
    players = tuple(int(k) for k in players)
    if not players or any(not 0 <= k < d for k in players) or len(set(players)) < len(players):
        raise ValueError(f"players: expected distinct mover indices in [0, {d}), got {players}")
    if not 0.0 < step <= 1.0:
        raise ValueError(f"step: expected a number in (0, 1], got {step!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations: expected an int >= 0, got {iterations!r}")
    if not tol >= 0.0:
        raise ValueError(f"tol: expected a number >= 0, got {tol!r}")
    profile = np.array(_check_policies(game, policies))  # a writable (d, T, S, A) copy
    for done in range(iterations + 1):
        values = evaluate(game, profile).values
        found = [best_response(game, profile, k) for k in players]
        regret = np.array([b.value - values[k] for b, k in zip(found, players, strict=True)])
        if done == iterations or np.all(regret <= tol):
            return DynamicsResult(profile, values, regret, done, bool(np.all(regret <= tol)))
        for b, k in zip(found, players, strict=True):
            profile[k] = (1.0 - step) * profile[k] + step * b.policy
    raise AssertionError("unreachable")  # pragma: no cover


def uniform_policies(game: GridMarkovGame) -> np.ndarray:
    """Every mover uniform over its actions at every step and cell, shape ``(d, T, S, A)``."""
    shape = (game.num_movers, game.horizon, game.num_states, game.num_actions)
    return np.full(shape, 1.0 / game.num_actions)


def deterministic_policy(actions: np.ndarray, num_actions: int) -> np.ndarray:
    """One-hot policy from action indices: ``actions[..., ]`` -> ``(..., num_actions)``.

    Args:
        actions: integer actions, e.g. shape ``(T, S)`` for one mover or ``(d, T, S)``.
        num_actions: ``A``.

    Raises:
        ValueError: an action outside ``[0, num_actions)``.

    """
    actions = np.asarray(actions)
    if not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"actions: expected integers, got dtype {actions.dtype}")
    if actions.size and (actions.min() < 0 or actions.max() >= num_actions):
        raise ValueError(f"actions: every action must lie in [0, {num_actions})")
    return np.eye(num_actions)[actions]


def stage_worst_case_cce(tables: np.ndarray, epsilon: float | np.ndarray = 0.0) -> CCEResult[None]:
    """Worst-case eps-CCE for the principal in the stage game of a grid game (RP Eq. 7).

    Every agent picks its coordinate directly (:func:`~robustmas.games.grid_tables.
    grid_stage_game`); ``epsilon`` is a per-step slack.  For the tragedy tables the value is
    ``max(0, 1 - 2.5 eps)`` (spec Sec. 1.1).

    Args:
        tables: ``[r_1, ..., r_N, r_0]``, shape ``(N + 1, W, ..., W)`` with ``N`` grid axes (a
            principal that does not move).
        epsilon: slack, one number or one per agent.

    Returns:
        The LP's :class:`~robustmas.equilibria.result.CCEResult`.

    """
    return worst_case_cce(grid_stage_game(tables), epsilon)


def stage_robust_principal(
    tables: np.ndarray, epsilon: float | np.ndarray = 0.0
) -> RobustActionResult:
    """The principal's best pure coordinate against worst-case eps-CCE agents in the stage game.

    The stage-game analogue of RP Eq. 1 for a principal that moves its own (last) grid axis
    (spec Sec. 1.2): for every coordinate ``x_0`` the agents' ``W^N`` stage game gets the exact
    worst-case LP (:func:`~robustmas.equilibria.lp.robust_principal_action`); the answer is the
    best of them.  A yardstick only (spec decision D13).

    Args:
        tables: ``[r_1, ..., r_N, r_0]``, shape ``(N + 1, W, ..., W)`` with ``N + 1`` grid axes.
        epsilon: per-step slack, one number or one per agent.

    Returns:
        :class:`~robustmas.equilibria.lp.RobustActionResult` (``action`` = the coordinate).

    """
    return robust_principal_action(grid_principal_stage_game(tables), epsilon)

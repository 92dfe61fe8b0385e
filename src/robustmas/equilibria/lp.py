"""Exact linear programs: worst-/best-case eps-CCE and optimal Stackelberg commitments.

* Worst-case (best-case) eps-CCE for the principal: the LP of Eq. 7 in the robust-principal paper
  (Appendix A), with slack ``eps_i`` per agent as in the eps-CCE set of Proposition 1::

      min (max)  sum_a x(a) u_0(a)
      s.t.       sum_a x(a) [u_i(j, a_{-i}) - u_i(a)] <= eps_i   for every agent i, action j
                 sum_a x(a) = 1,  x >= 0.

  The constraint matrix is assembled player by player as CSR blocks (the entries with ``a_i = j``
  are dropped; the rest is dense, so memory is ``O(sum_i m_i * prod_i m_i)``) and solved with
  HiGHS's dual simplex through :func:`scipy.optimize.linprog`.
* Optimal mixed commitment of a leader in a two-player game: Conitzer & Sandholm (2006), one LP
  per follower action; the follower breaks ties in the leader's favour (strong Stackelberg).
* Robust pure commitment against worst-case eps-best responses (Samuelson's game, Appendix A).

Infeasible or unbounded LPs are reported through ``status``, never raised.  :class:`CCEResult`
(defined in :mod:`robustmas.equilibria.result`, shared with the samplers) is re-exported here.

References:
* Zhao, Trott, Xiong, Zheng, *Learning to Play General-Sum Games Against Multiple Boundedly
  Rational Agents*, AAAI 2023, arXiv:2106.05492 (the robust-principal paper).
* Conitzer, Sandholm, *Computing the Optimal Strategy to Commit to*, ACM EC 2006.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from robustmas.equilibria.regret import broadcast_epsilon, cce_regrets
from robustmas.equilibria.result import CCEResult, CCEStatus
from robustmas.games.normal_form import NormalFormGame, PrincipalGame

__all__ = [
    "CCEResult",
    "CCEStatus",
    "CommitmentResult",
    "PureCommitmentResult",
    "best_case_cce",
    "best_pure_commitment",
    "cce_constraints",
    "extreme_cce",
    "optimal_commitment",
    "robust_principal_action",
    "worst_case_cce",
    "worst_case_pure_commitment",
]

Sense = Literal["worst", "best"]

_STATUS = {
    0: CCEStatus.OPTIMAL,
    1: CCEStatus.ITERATION_LIMIT,
    2: CCEStatus.INFEASIBLE,
    3: CCEStatus.UNBOUNDED,
    4: CCEStatus.NUMERICAL_ERROR,
}
"""HiGHS status codes of :func:`scipy.optimize.linprog`."""


def cce_constraints(game: NormalFormGame) -> sp.csr_array:
    """Sparse CCE constraint matrix ``D`` of shape ``(sum_i m_i, prod_i m_i)``.

    ``D[(i, j), a] = u_i(j, a_{-i}) - u_i(a)``: the gain of agent ``i`` from deviating to ``j``.

    Rows are ordered player by player, actions in order; columns follow C order of the joint
    action tensor.
    """
    shape = game.num_actions
    blocks = []
    for i, m in enumerate(shape):
        moved = np.moveaxis(game.payoffs[i], i, 0)  # (m_i, rest)
        # gain[j, k, rest] = u_i(j, rest) - u_i(k, rest): deviation j from on-path action k.
        gain = moved[:, None] - moved[None, :]
        gain = np.moveaxis(gain, 1, i + 1)  # put on-path action k back at joint axis i
        blocks.append(sp.csr_array(gain.reshape(m, -1)))
    return sp.csr_array(sp.vstack(blocks, format="csr"))


def _finish(
    game: NormalFormGame, x: np.ndarray, eps: np.ndarray, sense: str, method: str, message: str = ""
) -> CCEResult[None]:
    x = np.clip(x, 0.0, None)
    x = (x / x.sum()).reshape(game.num_actions)
    value = float(np.sum(game.objective() * x))
    return CCEResult(CCEStatus.OPTIMAL, value, x, cce_regrets(game, x), eps, sense, method, message)


def extreme_cce(
    game: NormalFormGame,
    epsilon: float | Sequence[float] | np.ndarray = 0.0,
    sense: Sense = "worst",
) -> CCEResult[None]:
    """The eps-CCE that minimises (``"worst"``) or maximises (``"best"``) the principal's payoff.

    Args:
        game: followers' game; its :meth:`~NormalFormGame.objective` is the principal payoff
            (the followers' welfare when no principal is attached).
        epsilon: slack, one number or one per follower; negative values ask for strict
            CCE and may make the LP infeasible (reported as ``status="infeasible"``).
        sense: ``"worst"`` or ``"best"``.

    Returns:
        :class:`CCEResult` with the value, the joint distribution and every agent's regret.
    """
    if sense not in ("worst", "best"):
        raise ValueError(f"sense: expected 'worst' or 'best', got {sense!r}")
    eps = broadcast_epsilon(epsilon, game.num_players, allow_negative=True)
    a_ub = cce_constraints(game)
    b_ub = np.repeat(eps, game.num_actions)
    n = game.num_joint_actions
    c = game.objective().reshape(-1)
    c = c if sense == "worst" else -c
    res = linprog(
        c,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=sp.csr_array(np.ones((1, n))),
        b_eq=np.ones(1),
        bounds=(0, None),
        # Dual simplex without presolve: with few rows (sum_i m_i) and many columns this is
        # 2x faster than HiGHS's default choice (benchmarks/RESULTS.md).
        method="highs-ds",
        options={"presolve": False},
    )
    status = _STATUS.get(res.status, CCEStatus.NUMERICAL_ERROR)
    if status is not CCEStatus.OPTIMAL or res.x is None:
        if status is CCEStatus.OPTIMAL:
            status = CCEStatus.NUMERICAL_ERROR  # "optimal" without a point: never a solution
        return CCEResult(status, float("nan"), None, None, eps, sense, "lp", str(res.message))
    return _finish(game, np.asarray(res.x), eps, sense, "lp", str(res.message))


def worst_case_cce(
    game: NormalFormGame, epsilon: float | Sequence[float] | np.ndarray = 0.0
) -> CCEResult[None]:
    """The eps-CCE with the lowest principal payoff (see :func:`extreme_cce`)."""
    return extreme_cce(game, epsilon, "worst")


def best_case_cce(
    game: NormalFormGame, epsilon: float | Sequence[float] | np.ndarray = 0.0
) -> CCEResult[None]:
    """The eps-CCE with the highest principal payoff (see :func:`extreme_cce`)."""
    return extreme_cce(game, epsilon, "best")


@dataclass(frozen=True)
class CommitmentResult:
    """Optimal leader commitment in a two-player game."""

    status: str
    """``"optimal"`` or the solver's failure status."""
    value: float
    """Leader's expected payoff."""
    strategy: np.ndarray | None
    """Leader's mixed strategy, shape ``(m_0,)``."""
    follower_action: int | None
    """The follower's (leader-favoured) best response."""


def _two_player(game: PrincipalGame) -> tuple[np.ndarray, np.ndarray]:
    if game.num_players != 1:
        raise ValueError(
            "game: commitments are defined for a leader and one follower, got "
            f"{game.num_players} followers"
        )
    return game.principal_payoff, game.payoffs[0]


def optimal_commitment(game: PrincipalGame) -> CommitmentResult:
    """Conitzer-Sandholm multiple LPs: the leader's optimal mixed commitment.

    For every follower action ``j``: maximise ``sum_a0 x(a0) L(a0, j)`` subject to ``j`` being a
    best response, ``sum_a0 x(a0) [F(a0, j') - F(a0, j)] <= 0`` for all ``j'``.
    """
    leader, follower = _two_player(game)
    m0, m1 = leader.shape
    best: CommitmentResult = CommitmentResult("infeasible", float("nan"), None, None)
    for j in range(m1):
        a_ub = (follower - follower[:, [j]]).T  # (m1, m0)
        res = linprog(
            -leader[:, j],
            A_ub=a_ub,
            b_ub=np.zeros(m1),
            A_eq=np.ones((1, m0)),
            b_eq=np.ones(1),
            bounds=(0, None),
            method="highs",
        )
        if (
            res.status == 0
            and res.x is not None
            and (best.strategy is None or -res.fun > best.value + 1e-12)
        ):
            x = np.clip(res.x, 0.0, None)
            best = CommitmentResult("optimal", float(-res.fun), x / x.sum(), j)
    return best


@dataclass(frozen=True)
class PureCommitmentResult:
    """Best pure leader action against a (worst-case or favourable) follower response model."""

    action: int
    """Index of the chosen leader action."""
    value: float
    """Leader's guaranteed payoff with that action."""
    values: np.ndarray
    """Guaranteed payoff of every leader action, shape ``(m_0,)``."""
    responses: tuple[tuple[int, ...], ...]
    """Follower responses considered for each leader action."""


def _pure_commitment(game: PrincipalGame, epsilon: float, worst: bool) -> PureCommitmentResult:
    if not np.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"epsilon: must be finite and non-negative, got {epsilon}")
    leader, follower = _two_player(game)
    values, responses = [], []
    for a0 in range(leader.shape[0]):
        ok = np.flatnonzero(follower[a0] >= follower[a0].max() - epsilon - 1e-12)
        payoff = leader[a0, ok]
        values.append(payoff.min() if worst else payoff.max())
        responses.append(tuple(int(j) for j in ok))
    values_arr = np.array(values)
    action = int(np.argmax(values_arr))
    return PureCommitmentResult(action, float(values_arr[action]), values_arr, tuple(responses))


def best_pure_commitment(game: PrincipalGame) -> PureCommitmentResult:
    """Best pure commitment against an exact best response (ties broken for the leader)."""
    return _pure_commitment(game, 0.0, worst=False)


def worst_case_pure_commitment(game: PrincipalGame, epsilon: float) -> PureCommitmentResult:
    """Best pure commitment when the follower may play *any* pure eps-best response.

    This is the robustness notion of Samuelson's game in the robust-principal paper (Appendix A):
    with ``epsilon >= 1`` the column player may answer T with R, so the robust choice is B.
    """
    return _pure_commitment(game, epsilon, worst=True)


@dataclass(frozen=True)
class RobustActionResult:
    """Worst-case eps-CCE value of every pure principal action and the best of them."""

    action: int | None
    """Principal action with the highest worst-case value among those with an eps-CCE; ``None``
    when no action has one (only possible for a negative eps)."""
    value: float
    """Its worst-case value (NaN when ``action`` is ``None``)."""
    per_action: tuple[CCEResult[None], ...]
    """The extreme eps-CCE for each principal action."""

    @property
    def ok(self) -> bool:
        """Whether some principal action has an eps-CCE (so there is a robust choice)."""
        return self.action is not None


def robust_principal_action(
    game: PrincipalGame,
    epsilon: float | Sequence[float] | np.ndarray = 0.0,
    sense: Sense = "worst",
) -> RobustActionResult:
    """For each pure principal action, the extreme eps-CCE of the induced game; pick the best.

    With ``sense="worst"`` this is the max-min robust choice of Eq. 1 restricted to pure actions.
    Actions without an eps-CCE (infeasible LP) are never chosen.
    """
    results = tuple(
        extreme_cce(game.fixed(a0), epsilon, sense) for a0 in range(game.num_principal_actions)
    )
    if not any(r.ok for r in results):
        return RobustActionResult(None, float("nan"), results)
    values = np.array([r.value if r.ok else -np.inf for r in results])
    action = int(np.argmax(values))
    return RobustActionResult(action, float(values[action]), results)

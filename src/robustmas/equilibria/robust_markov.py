"""Robust value iteration for ARNEQ in tabular Markov games (the ground truth of robust Nash-Q).

Reference: Nika, Nöther, Singla, Radanović, TMLR (OpenReview ``aggyMifxLQ``), Sec. 3.2 (the
robust value-iteration sequence, Definition 3) and App. A (Lemmas 1-2: a gamma-contraction);
spec ``arneq-art.md`` Sec. 1.4 and 2.1.

With every player's benign stage policies fixed at the stage ARNEQ of the current ``Q``::

    Q_i(s, a) = R_i(s, a) + gamma sum_s' P(s' | s, a) V_i(s'),
    V_i(s)    = stage-ARNEQ value of player i in the stage game Q(s, .).

For ``k = n - 1`` the stage value is player ``i``'s max-min value of its own ``Q_i(s, .)``
against all others (spec Sec. 1.4: independent Shapley / Minimax-Q problems, one per player),
exact and unique, and the iteration is a gamma-contraction.  For ``k < n - 1`` the stage ARNEQ
comes from :func:`~robustmas.equilibria.arneq.stage_arneq`'s iteration (not guaranteed exact;
the largest stage exploitability is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustmas.equilibria.arneq import robust_best_response, stage_arneq
from robustmas.games.markov import TabularMarkovGame

__all__ = ["RobustValueIteration", "maxmin_value", "robust_value_iteration", "stage_values"]


def maxmin_value(matrix: np.ndarray) -> float:
    """``max_x min_j x^T M[:, j]`` of a row player with ``m`` actions (``M``: ``(m, c)``).

    Two actions: exact in closed form (the maximum of a concave piecewise-linear function of
    ``p`` lies at 0, 1 or where two lines cross); more: one LP (HiGHS).
    """
    m = np.asarray(matrix, np.float64)
    if m.shape[0] == 1:
        return float(m.min())
    if m.shape[0] != 2:
        payoffs = np.stack([m, -m])  # a two-player game: the row player against the columns
        return robust_best_response(payoffs, 0, None, 1).value
    low, slope = m[1], m[0] - m[1]  # value of column j at p: low_j + p slope_j
    cand = [0.0, 1.0]
    ds = slope[:, None] - slope[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (low[None, :] - low[:, None]) / ds
    ok = np.isfinite(cross) & (cross > 0) & (cross < 1)
    p = np.concatenate([cand, cross[ok]])
    return float((low[None, :] + p[:, None] * slope[None, :]).min(axis=1).max())


def stage_values(q: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Every player's stage-ARNEQ value of the stage game ``q`` ``(n, m_1, ..., m_n)``.

    Returns the values ``(n,)`` and the stage exploitability (0 for ``k = n - 1``).
    """
    n = q.shape[0]
    if k == n - 1:
        values = np.array([maxmin_value(np.moveaxis(q[i], i, 0).reshape(q.shape[1 + i], -1))
                           for i in range(n)])  # fmt: skip
        return values, 0.0
    res = stage_arneq(q, k, method="iterated")
    return res.values, res.exploitability


@dataclass(frozen=True)
class RobustValueIteration:
    """The fixed point of robust value iteration (or the last iterate)."""

    values: np.ndarray
    """``V_i(s)``, shape ``(S, n)``."""
    q: np.ndarray
    """``Q_i(s, a)``, shape ``(S, n, m_1, ..., m_n)``."""
    iterations: int
    """Sweeps run."""
    residual: float
    """``max |V_{t+1} - V_t|`` of the last sweep."""
    stage_exploitability: float
    """Largest stage exploitability of the last sweep (0 for ``k = n - 1``)."""


def robust_value_iteration(
    game: TabularMarkovGame, k: int, *, tol: float | None = None, max_iter: int = 10_000
) -> RobustValueIteration:
    """Iterate the robust Bellman operator from ``V = 0`` until the values move less than ``tol``.

    ``tol`` defaults to 1e-10 for ``k = n - 1`` (exact stage values) and to 1e-6 otherwise (the
    iterated stage solver's own tolerance; a smaller one may never be met).

    Raises:
        ValueError: ``k`` out of ``[0, n - 1]``.
    """
    n = game.num_players
    if not 0 <= k <= n - 1:
        raise ValueError(f"k: must lie in [0, n - 1 = {n - 1}], got {k}")
    if tol is None:
        tol = 1e-10 if k == n - 1 else 1e-6
    values = np.zeros((game.num_states, n))
    q = game.rewards.copy()
    residual, gap, t = np.inf, 0.0, 0
    for t in range(1, max_iter + 1):  # noqa: B007 (t is the sweep count returned)
        # Q_i(s, a) = R_i(s, a) + gamma E_{s'}[V_i(s')]; transitions (S, *A, S') @ V (S', n).
        cont = np.moveaxis(game.transitions @ values, -1, 1)  # (S, n, *A)
        q = game.rewards + game.gamma * cont
        new = np.empty_like(values)
        gap = 0.0
        for s in range(game.num_states):
            new[s], g = stage_values(q[s], k)
            gap = max(gap, g)
        residual = float(np.abs(new - values).max())
        values = new
        if residual < tol:
            break
    return RobustValueIteration(values, q, t, residual, gap)

"""Peer implementation of the worst-case eps-CCE LP through OpenSpiel (benchmark only).

This module exists only so ``benchmarks/bench_equilibria.py`` can compare our
worst-case eps-coarse-correlated-equilibrium LP (HiGHS via scipy) against the
route a user would take today: OpenSpiel's JPSRO CCE machinery
(``open_spiel.python.algorithms.jpsro``).

The LP solved is

    minimize    sum_a x(a) u0(a)
    subject to  sum_a x(a) (u_i(j, a_-i) - u_i(a)) <= eps   for every player i, action j
                sum_a x(a) = 1,  x >= 0

and it is built and solved entirely by OpenSpiel:

* ``jpsro._cce_constraints(payoff, [eps] * N, remove_null=True, zero_tolerance=1e-8)``
  builds the dense CCE gain matrix (one row per player/deviation, eps folded
  into the rows, trivially satisfied rows removed), exactly as JPSRO's own
  ``approx_*cce`` / ``mwcce`` meta-solvers call it;
* ``jpsro._linear(payoff, a_mat, e_vec, cost=...)`` formulates the LP with
  cvxpy and solves it with ECOS using ``jpsro.DEFAULT_ECOS_SOLVER_KWARGS``
  (tolerances 1e-7).  ``_linear`` *maximizes* ``cost . x``, so the principal's
  payoff is passed negated.

The reported time covers constraint construction plus the cvxpy/ECOS solve
(not the one-off import of OpenSpiel).  Nothing in ``robustmas`` depends on
this module; it needs the ``bench`` extra (open-spiel, cvxpy, ecos, and the
matplotlib/networkx that ``jpsro`` imports transitively).
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["openspiel_worst_case_cce"]

_INSTALL_HINT = (
    "The OpenSpiel peer benchmark needs open-spiel, cvxpy and ecos "
    "(and matplotlib/networkx, which open_spiel's jpsro imports). "
    "Install them with `pip install -e .[bench]`."
)


def _load_jpsro():
    try:
        import cvxpy
        from open_spiel.python.algorithms import jpsro
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{_INSTALL_HINT} (original error: {exc})") from exc
    if "ECOS" not in cvxpy.installed_solvers():  # pragma: no cover
        raise ImportError(f"cvxpy cannot find the ECOS solver. {_INSTALL_HINT}")
    return jpsro


def openspiel_worst_case_cce(
    payoffs: np.ndarray, principal: np.ndarray, epsilon: float
) -> tuple[float, np.ndarray, float]:
    """Worst case of the principal's payoff over eps-CCEs, via OpenSpiel + cvxpy + ECOS.

    Args:
        payoffs: array of shape ``(N, m_1, ..., m_N)``; ``payoffs[i]`` is player i's payoff.
        principal: array of shape ``(m_1, ..., m_N)``, the principal's payoff.
        epsilon: the CCE slack, the same for every player.

    Returns:
        ``(value, distribution, seconds)``: the minimum expected principal payoff,
        the minimizing joint distribution (shape ``principal.shape``), and the wall
        time spent in OpenSpiel's constraint construction and the cvxpy/ECOS solve.
    """
    jpsro = _load_jpsro()

    payoffs = np.ascontiguousarray(payoffs, dtype=np.float64)
    principal = np.ascontiguousarray(principal, dtype=np.float64)
    num_players = payoffs.shape[0]
    if payoffs.ndim != num_players + 1 or payoffs.shape[1:] != principal.shape:
        raise ValueError(
            f"payoffs shape {payoffs.shape} does not match principal shape {principal.shape}"
        )
    epsilons = [float(epsilon)] * num_players
    cost = -principal.ravel()  # _linear maximizes cost . x

    start = time.perf_counter()
    a_mat, _ = jpsro._cce_constraints(payoffs, epsilons, remove_null=True, zero_tolerance=1e-8)
    if a_mat.shape[0] == 0:
        # With every constraint redundant, _linear skips the LP and returns the
        # uniform distribution (ignoring `cost`); keep the null rows so it solves.
        a_mat, _ = jpsro._cce_constraints(payoffs, epsilons, remove_null=False, zero_tolerance=1e-8)
    e_vec = np.zeros(a_mat.shape[0])
    dist, meta = jpsro._linear(payoffs, a_mat, e_vec, cost=cost)
    seconds = time.perf_counter() - start

    status = meta.get("status")
    if status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"OpenSpiel/cvxpy/ECOS did not solve the CCE LP (status={status!r})")
    dist = np.asarray(dist, dtype=np.float64).reshape(principal.shape)
    value = -float(meta["val"])
    return value, dist, seconds

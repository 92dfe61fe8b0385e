"""Payoff tables of the grid Markov games, and their stage games (NumPy, no JAX).

The grid games of the robust-principal paper -- Zhao, Trott, Xiong, Zheng, "Learning to Play
General-Sum Games Against Multiple Boundedly Rational Agents", AAAI 2023, arXiv:2106.05492
(Sec. 5 "Game Environment", Fig. 2; Sec. 6 "Repeated Matrix Games", Fig. 3, App. B Table 1) --
and of ERMAS -- anonymous ICLR 2021 submission, "ERMAS: Learning Policies Robust to Reality Gaps
in Multi-Agent Simulations" (Sec. 4.1, Fig. 1a/2; Sec. 4.3 "Augmented Repeated Bimatrix Games")
-- read every player's reward from a table indexed by the current cell of a grid ``W^d``: one
coordinate per moving player.  This module holds the tables as plain arrays, so that the JAX
environment (:mod:`robustmas.envs.grid_game`) and the exact oracles
(:mod:`robustmas.equilibria.markov_exact`) share them.

Layout (every function here): ``tables[k]`` is player ``k``'s reward at a cell, shape
``(n, W, ..., W)``; the agents come first (the papers' agents ``1..N`` are ``k = 0..N-1``, grid
axis ``k`` is agent ``k``'s coordinate) and the principal (the papers' agent 0) is last
(``tables[-1]``).  When the principal moves too, its coordinate is the last grid axis, as in the
released code (``salesforce/strategically-robust-ai``, the 4th axis of its 7x7x7x7 tensors).

* :func:`tragedy_tables`: the designed 4x4 "tragedy of the commons" with a unique pure Nash
  equilibrium (spec ``robust-principal-ermas.md`` Sec. 1.1 and decision D1; the papers publish
  only heat maps): ``r_1(i, j) = c + a i/(W-1) - b j/(W-1)``, ``r_2(i, j) = c + a j/(W-1) -
  b i/(W-1)``, ``r_0(i, j) = (i + j) / (2 (W-1))``.
* :func:`released_code_bimatrix_tables`: the released code's 4x4 tables (NumPy seed 0, i.i.d.
  uniform, drawn in the order principal, agent 1, agent 2).
* :func:`released_code_nmatrix_tables`: the released code's 7x7x7x7 tables of the 4-player game
  (NumPy seed 0, i.i.d. standard normal, drawn in the order principal, agents 1..3).
* :func:`grid_stage_game` / :func:`grid_principal_stage_game`: the one-shot game in which every
  mover picks its coordinate directly (a yardstick only: the Markov game with local moves is not
  the stage game, spec decision D13).
* :func:`agent_type_tables`: a test-time agent type (spec Sec. 3.1: Adv, RiskAv) applied to the
  tables, the NumPy reference of the environment's reward perturbation.
"""

from __future__ import annotations

import numpy as np

from robustmas.games.limits import check_dense_size
from robustmas.games.normal_form import NormalFormGame, PrincipalGame, check_finite

__all__ = [
    "agent_type_tables",
    "grid_principal_stage_game",
    "grid_stage_game",
    "released_code_bimatrix_tables",
    "released_code_nmatrix_tables",
    "risk_transform",
    "tragedy_tables",
    "tragedy_worst_case_value",
]


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or width < 2:
        raise ValueError(f"width: the grid needs at least 2 cells per axis, got {width!r}")


def tragedy_tables(width: int = 4, a: float = 0.4, b: float = 0.6, c: float = 0.6) -> np.ndarray:
    """The designed tragedy-of-the-commons grid bimatrix game (spec Sec. 1.1, decision D1).

    With ``x = i/(W-1)`` and ``y = j/(W-1)`` (agent 1 on the rows, agent 2 on the columns)::

        r_1 = c + a x - b y,   r_2 = c + a y - b x,   r_0 = (x + y) / 2.

    For ``a > 0`` moving to the last row (column) is strictly dominant for agent 1 (2), so the
    unique Nash equilibrium is the corner ``(W-1, W-1)`` (agents get ``c + a - b``, the principal
    1) while the agents' welfare is highest at ``(0, 0)`` (``c`` each, principal 0).  At the
    defaults every value lies in ``[0, 1]`` (ERMAS Sec. 4.3: "recall r_i in [0, 1]") and the
    worst-case eps-CCE of the stage game gives the principal ``max(0, 1 - eps/a)``
    (:func:`tragedy_worst_case_value`).

    Args:
        width: cells per axis ``W`` (4 in both papers).
        a: an agent's gain from its own coordinate (must be positive).
        b: an agent's loss from the other's coordinate.
        c: the agents' reward at ``(0, 0)``.

    Returns:
        Tables ``[r_1, r_2, r_0]``, shape ``(3, W, W)``.

    Raises:
        ValueError: ``width < 2``, ``a <= 0`` or a non-finite coefficient.

    """
    _check_width(width)
    for name, value in (("a", a), ("b", b), ("c", c)):
        if not np.isfinite(value):
            raise ValueError(f"{name}: must be finite, got {value!r}")
    if a <= 0:
        raise ValueError(f"a: must be positive for the unique pure equilibrium, got {a!r}")
    x = np.arange(width, dtype=np.float64) / (width - 1)
    row, col = np.meshgrid(x, x, indexing="ij")
    return np.stack([c + a * row - b * col, c + a * col - b * row, (row + col) / 2.0])


def tragedy_worst_case_value(epsilon: float, a: float = 0.4) -> float:
    """The principal's worst-case eps-CCE payoff in the tragedy stage game: ``max(0, 1 - eps/a)``.

    Agent 1's CCE constraint reads ``a (1 - E[x]) <= eps`` (its best fixed deviation is the last
    row) and likewise for agent 2, and ``r_0 = (x + y)/2``; the bound is reached by mixing the
    equilibrium corner with ``(0, 0)``.  With ``a = 0.4`` this is the spec's ``1 - 2.5 eps``.

    Args:
        epsilon: per-step slack of each agent (``>= 0``).
        a: the tables' ``a`` coefficient (``> 0``).

    Raises:
        ValueError: a negative ``epsilon`` or a non-positive ``a``.

    """
    if epsilon < 0:
        raise ValueError(f"epsilon: the closed form holds for eps >= 0, got {epsilon!r}")
    if a <= 0:
        raise ValueError(f"a: must be positive, got {a!r}")
    return max(0.0, 1.0 - epsilon / a)


def released_code_bimatrix_tables(seed: int = 0, width: int = 4) -> np.ndarray:
    """The released code's grid bimatrix tables (spec Sec. 1.1, decision D1).

    The released code seeds NumPy's global generator with ``seed`` and draws three i.i.d.
    uniform ``[0, 1)`` tables of shape ``(W, W)`` in the order principal, agent 1, agent 2;
    this draws the same stream from ``np.random.RandomState(seed)``.  With seed 0 and ``W = 4``
    the stage game has no pure Nash equilibrium (its unique equilibrium is mixed): it is not the
    designed game of the papers, so use it for fidelity checks only.

    Args:
        seed: the NumPy seed (0 in every released configuration).
        width: cells per axis.

    Returns:
        Tables ``[r_1, r_2, r_0]``, shape ``(3, W, W)``, float64.

    """
    _check_width(width)
    rng = np.random.RandomState(seed)
    principal, agent1, agent2 = (rng.uniform(size=(width, width)) for _ in range(3))
    return np.stack([agent1, agent2, principal])


def released_code_nmatrix_tables(seed: int = 0, width: int = 7, agents: int = 3) -> np.ndarray:
    """The released code's tables of the 4-player "N-matrix" game (spec Sec. 1.2).

    The released code seeds NumPy's global generator with ``seed`` and draws ``agents + 1``
    i.i.d. standard normal tensors of shape ``(W,) * (agents + 1)`` in the order principal,
    agent 1, ..., agent N; this draws the same stream from ``np.random.RandomState(seed)``.  The
    last grid axis is the principal's coordinate (it moves too).

    Args:
        seed: the NumPy seed (0 in every released configuration).
        width: cells per axis (7 in RP Sec. 6).
        agents: agents besides the principal (3 in RP Sec. 6).

    Returns:
        Tables ``[r_1, ..., r_N, r_0]``, shape ``(N + 1, W, ..., W)`` with ``N + 1`` grid axes.

    Raises:
        ValueError: ``width < 2`` or ``agents < 1``.
        GameTooLargeError: the tables would exceed the library's dense-game limit.

    """
    _check_width(width)
    if isinstance(agents, bool) or not isinstance(agents, int | np.integer) or agents < 1:
        raise ValueError(f"agents: need at least 1 agent besides the principal, got {agents!r}")
    shape = (width,) * (agents + 1)
    check_dense_size(
        f"width/agents: the N-matrix game with width={width}, agents={agents}",
        shape,
        agents + 1,
        fix="use a smaller width or fewer agents",
    )
    rng = np.random.RandomState(seed)
    principal = rng.normal(size=shape)
    others = [rng.normal(size=shape) for _ in range(agents)]
    return np.stack([*others, principal])


def _check_tables(tables: np.ndarray, extra: int) -> np.ndarray:
    """``tables`` as float64 ``(n, W, ..., W)`` with ``n - 1 + extra`` equal grid axes."""
    tables = np.asarray(tables, dtype=np.float64)
    if tables.ndim < 2:
        raise ValueError(f"tables: expected shape (n, W, ..., W), got {tables.shape}")
    n, axes = tables.shape[0], tables.ndim - 1
    if axes != n - 1 + extra:
        raise ValueError(
            f"tables: {n} tables (agents, then the principal) need {n - 1 + extra} grid axes "
            f"here, got shape {tables.shape}"
        )
    check_finite("tables", tables)
    return tables


def grid_stage_game(tables: np.ndarray) -> NormalFormGame:
    """The stage game of a grid game whose principal does not move.

    Every agent's action is the coordinate it picks; the joint action is the cell, and the
    principal's payoff is the last table.  For :func:`tragedy_tables` its worst-case eps-CCE
    value is :func:`tragedy_worst_case_value`.

    Args:
        tables: ``[r_1, ..., r_N, r_0]``, shape ``(N + 1, W, ..., W)`` with ``N`` grid axes.

    Raises:
        ValueError: the shape does not match that layout, or a value is not finite.

    """
    tables = _check_tables(tables, 0)
    return NormalFormGame(tables[:-1], tables[-1], name="grid stage game")


def grid_principal_stage_game(tables: np.ndarray) -> PrincipalGame:
    """The stage game of a grid game whose principal moves its own (last) coordinate.

    The principal's action is its coordinate; fixing it (:meth:`PrincipalGame.fixed`) leaves
    the agents' ``W^N`` stage game, whose worst-case eps-CCE is the spec's Sec. 1.2 yardstick.

    Args:
        tables: ``[r_1, ..., r_N, r_0]``, shape ``(N + 1, W, ..., W)`` with ``N + 1`` grid axes
            (the principal's last).

    Raises:
        ValueError: the shape does not match that layout, or a value is not finite.

    """
    tables = _check_tables(tables, 1)
    moved = np.moveaxis(tables, -1, 1)  # principal's coordinate first: (n, m_0, m_1, ..., m_N)
    return PrincipalGame(moved[-1], moved[:-1], name="grid stage game (principal moves)")


def risk_transform(x: np.ndarray | float, eta: float) -> np.ndarray:
    """The risk-averse agent type of the spec (Sec. 3.1 RiskAv, decision D12), in NumPy.

    RP Sec. 6 writes ``(r^(1-eta) - 1)/(1 - eta)``, undefined for the negative rewards of the
    N-matrix game; as the released code's ``apply_concav``, this shifts by one:
    ``((x + 1)^(1-eta) - 1)/(1 - eta)``, with ``log(1 + x)`` at ``eta = 1`` (the released code
    returns ``log(x)`` there, a bug) and ``-10`` where ``x <= -0.9999``.  ``eta = 0`` is the
    identity (no floor): the "no risk aversion" value.

    Args:
        x: rewards.
        eta: risk aversion (``>= 0``; higher is more risk averse).

    """
    x = np.asarray(x, dtype=np.float64)
    if eta == 0:
        return x
    shifted = np.maximum(x + 1.0, 1e-4)
    if eta == 1:
        value = np.log(shifted)
    else:
        value = (shifted ** (1.0 - eta) - 1.0) / (1.0 - eta)
    return np.where(x <= -0.9999, -10.0, value)


def agent_type_tables(
    tables: np.ndarray,
    *,
    scale: np.ndarray | float = 1.0,
    principal_weight: np.ndarray | float = 0.0,
    offset: np.ndarray | float = 0.0,
    risk_eta: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Tables as perceived by perturbed players (the env's reward perturbation, in NumPy).

    Player ``k`` receives ``risk_transform(scale_k r_k + principal_weight_k r_0 + offset_k,
    risk_eta_k)`` where ``r_0 = tables[-1]``: the paper's Adv type ``r_i - Q r_0`` is
    ``principal_weight = -Q``, the released code's convex form ``(1 - Q) r_i - Q r_0`` adds
    ``scale = 1 - Q`` (spec decision D11).  Each argument is one number or one per table.

    Args:
        tables: ``[r_1, ..., r_N, r_0]``, shape ``(n, ...)``.
        scale: factor on a player's own table.
        principal_weight: factor on the principal's table ``r_0``.
        offset: constant added.
        risk_eta: risk aversion of :func:`risk_transform` (0: none).

    Returns:
        The perceived tables, same shape.

    Raises:
        ValueError: an argument is neither a number nor of length ``n``.

    """
    tables = np.asarray(tables, dtype=np.float64)
    n = tables.shape[0]
    expand = (slice(None),) + (None,) * (tables.ndim - 1)

    def per_table(name: str, value: np.ndarray | float) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 0:
            return np.full(n, float(value))
        if value.shape != (n,):
            raise ValueError(f"{name}: expected one number or {n} (one per table), got {value}")
        return value

    scale_, weight, off, eta = (
        per_table(name, value)
        for name, value in (
            ("scale", scale),
            ("principal_weight", principal_weight),
            ("offset", offset),
            ("risk_eta", risk_eta),
        )
    )
    linear = scale_[expand] * tables + weight[expand] * tables[-1][None] + off[expand]
    return np.stack([risk_transform(linear[k], float(eta[k])) for k in range(n)])

"""Regrets and equilibrium gaps of joint and product distributions (NumPy, exact).

* CCE regret of a joint distribution ``x`` (robust-principal paper, Eq. 5):
  ``Reg_i(x) = max_{a_i} u_i(a_i, x_{-i}) - u_i(x)``.  It can be negative when correlation makes
  every fixed deviation strictly worse; ``x`` is an eps-CCE iff ``Reg_i(x) <= eps_i`` for all ``i``.
* Nash gap of a product distribution: the same quantity for ``x = x_1 x ... x x_N`` (always >= 0).
* Bayesian CCE regret per (player, type) (Stackelberg POMDP paper, Eq. 3), for joint
  distributions over actions conditioned on each type profile.

References:
* Zhao, Trott, Xiong, Zheng, *Learning to Play General-Sum Games Against Multiple Boundedly
  Rational Agents*, AAAI 2023, arXiv:2106.05492 (the robust-principal paper).
* Brero, Eden, Chakrabarti, Gerstgrasser, Li, Parkes, *Stackelberg POMDP: A Reinforcement
  Learning Approach for Economic Design* (first titled *Learning Stackelberg Equilibria and
  Applications to Economic Design Games*), arXiv:2210.03852, 2023 (the Stackelberg POMDP paper).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustmas.games.bayesian import BayesianGame
from robustmas.games.normal_form import NormalFormGame, deviation_payoffs

__all__ = [
    "bayesian_cce_regrets",
    "broadcast_epsilon",
    "cce_regrets",
    "check_joint",
    "deviation_values",
    "is_eps_cce",
    "nash_gap",
    "product_distribution",
]


def check_joint(game: NormalFormGame, joint: np.ndarray, atol: float = 1e-6) -> np.ndarray:
    """Validate a joint distribution of shape ``game.num_actions``; return it as float64."""
    joint = np.asarray(joint, dtype=np.float64)
    if joint.shape != game.num_actions:
        raise ValueError(f"joint: expected shape {game.num_actions}, got {joint.shape}")
    if np.any(joint < -atol) or abs(joint.sum() - 1.0) > atol:
        raise ValueError(
            f"joint: must be a probability distribution (min {joint.min():g}, "
            f"sum {joint.sum():.8g})"
        )
    return joint


def broadcast_epsilon(
    epsilon: float | Sequence[float] | np.ndarray, num_players: int, allow_negative: bool = False
) -> np.ndarray:
    """Turn a scalar or per-agent ``epsilon`` into a validated vector of shape ``(N,)``.

    Negative values (a stricter-than-CCE requirement, which may be infeasible) are accepted only
    with ``allow_negative=True``.
    """
    eps = np.asarray(epsilon, dtype=np.float64)
    if eps.ndim == 0:
        eps = np.full(num_players, float(eps))
    if eps.shape != (num_players,):
        raise ValueError(
            f"epsilon: give one number or one per agent ({num_players}), got {eps.size} values"
        )
    if not np.all(np.isfinite(eps)):
        raise ValueError(f"epsilon: must be finite, got {eps.tolist()}")
    if not allow_negative and np.any(eps < 0):
        raise ValueError(f"epsilon: must be non-negative, got {eps.tolist()}")
    return eps


def deviation_values(tensor: np.ndarray, joint: np.ndarray, player: int) -> np.ndarray:
    """``u(j, x_{-i})`` for each action ``j`` of ``player`` under joint distribution ``joint``.

    Args:
        tensor: payoff tensor ``(m_1, ..., m_N)``.
        joint: joint distribution ``(m_1, ..., m_N)``.
        player: deviating player ``i``.

    Returns:
        ``(m_i,)`` array.
    """
    others = joint.sum(axis=player)  # marginal over a_{-i}, shape without axis i
    moved = np.moveaxis(tensor, player, 0)  # (m_i, ...others)
    return np.tensordot(moved, others, axes=others.ndim)


def cce_regrets(game: NormalFormGame, joint: np.ndarray) -> np.ndarray:
    """CCE regret of every follower under a joint distribution; shape ``(N,)``."""
    joint = check_joint(game, joint)
    out = np.empty(game.num_players)
    for i in range(game.num_players):
        dev = deviation_values(game.payoffs[i], joint, i)
        out[i] = dev.max() - float(np.sum(game.payoffs[i] * joint))
    return out


def is_eps_cce(
    game: NormalFormGame,
    joint: np.ndarray,
    epsilon: float | Sequence[float] = 0.0,
    tol: float = 1e-9,
) -> bool:
    """Whether ``joint`` is an eps-CCE (every ``Reg_i <= eps_i + tol``)."""
    eps = broadcast_epsilon(epsilon, game.num_players, allow_negative=True)
    return bool(np.all(cce_regrets(game, joint) <= eps + tol))


def product_distribution(factors: Sequence[np.ndarray]) -> np.ndarray:
    """The joint tensor ``x_1 (x) ... (x) x_N`` of mixed strategies."""
    out = np.asarray(factors[0], dtype=np.float64)
    for f in factors[1:]:
        out = np.multiply.outer(out, np.asarray(f, dtype=np.float64))
    return out


def nash_gap(game: NormalFormGame, factors: Sequence[np.ndarray]) -> np.ndarray:
    """Per-player gain from the best unilateral deviation from a mixed profile; shape ``(N,)``."""
    if len(factors) != game.num_players:
        raise ValueError(
            f"factors: expected {game.num_players} mixed strategies, got {len(factors)}"
        )
    factors = [np.asarray(f, dtype=np.float64) for f in factors]
    for i, (f, m) in enumerate(zip(factors, game.num_actions, strict=True)):
        if f.shape != (m,):
            raise ValueError(f"factors[{i}]: expected shape ({m},), got {f.shape}")
    out = np.empty(game.num_players)
    for i in range(game.num_players):
        dev = deviation_payoffs(game.payoffs[i], factors, i)
        out[i] = dev.max() - float(dev @ factors[i])
    return out


def bayesian_cce_regrets(game: BayesianGame, joint: np.ndarray) -> list[np.ndarray]:
    """Bayesian CCE regret of every (player, type).

    Args:
        game: the Bayesian game.
        joint: ``sigma(a | t)``, shape ``(T_1, ..., T_N, m_1, ..., m_N)``; each slice
            ``joint[t]`` is a distribution over joint actions.

    Returns:
        A list of ``N`` arrays of shape ``(T_i,)``:
        ``max_{a_i} E_{t_{-i} | t_i}[u_i(t_i, (a_i, sigma(t)_{-i})) - u_i(t_i, sigma(t))]``
        (zero for types with prior probability zero).
    """
    n = game.num_players
    types, actions = game.num_types, game.num_actions
    joint = np.asarray(joint, dtype=np.float64)
    if joint.shape != (*types, *actions):
        raise ValueError(f"joint: expected shape {(*types, *actions)}, got {joint.shape}")
    out = []
    for i in range(n):
        cond = game.conditional_prior(i)  # (T_1..T_N)
        # Payoff of player i at (t, a): payoffs[i][t_i, a]; broadcast over t_{-i}.
        pay = game.payoffs[i]
        regrets_i = np.zeros(types[i])
        for ti in range(types[i]):
            idx: list[slice | int] = [slice(None)] * n
            idx[i] = ti
            w = cond[tuple(idx)]  # (T_{-i}) weights
            sig = joint[tuple(idx)]  # (T_{-i}..., m_1..m_N)
            if w.sum() <= 0:
                continue
            # Expected on-path payoff and deviation payoffs, averaged over t_{-i}.
            weighted = np.tensordot(w, sig, axes=w.ndim)  # E_t[sigma(t)] over a, shape (m...)
            u_path = float(np.sum(pay[ti] * weighted))
            dev = deviation_values(pay[ti], weighted, i)
            regrets_i[ti] = dev.max() - u_path
        out.append(regrets_i)
    return out

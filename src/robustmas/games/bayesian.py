"""Bayesian games: finite type spaces, a possibly correlated prior, type-dependent payoffs.

Player ``i`` with type ``t_i`` receives ``payoffs[i][t_i, a_1, ..., a_N]`` at joint action ``a``
(payoffs depend on the own type and the joint action, as in the Stackelberg POMDP paper, Sec. 3).
The prior ``prior[t_1, ..., t_N]`` is a joint distribution over type profiles and may be
correlated.

References:
* Brero, Eden, Chakrabarti, Gerstgrasser, Li, Parkes, *Stackelberg POMDP: A Reinforcement
  Learning Approach for Economic Design* (first titled *Learning Stackelberg Equilibria and
  Applications to Economic Design Games*), arXiv:2210.03852, 2023 (the Stackelberg POMDP paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robustmas.games.normal_form import check_distribution, check_finite

__all__ = ["BayesianGame"]


@dataclass(frozen=True, eq=False)
class BayesianGame:
    """An ``N``-player Bayesian game.

    Attributes:
        payoffs: one array per player, ``payoffs[i]`` of shape ``(T_i, m_1, ..., m_N)``.
        prior: joint type distribution, shape ``(T_1, ..., T_N)``, non-negative, sums to 1.
        name: a title.
    """

    payoffs: tuple[np.ndarray, ...]
    prior: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.payoffs) == 0:
            raise ValueError("payoffs: a Bayesian game needs at least one player")
        prior = np.asarray(self.prior, dtype=np.float64)
        n = len(self.payoffs)
        if prior.ndim != n:
            raise ValueError(f"prior: expected one axis per player ({n}), got shape {prior.shape}")
        if any(t == 0 for t in prior.shape):
            raise ValueError(f"prior: every player needs at least one type, shape {prior.shape}")
        prior = check_distribution("prior", prior)
        payoffs = []
        actions: tuple[int, ...] | None = None
        for i, p in enumerate(self.payoffs):
            p = np.array(p, dtype=np.float64, copy=True)
            if p.ndim != n + 1:
                raise ValueError(
                    f"payoffs[{i}]: expected shape (T_{i + 1}, m_1, ..., m_{n}), got {p.shape}"
                )
            if p.shape[0] != prior.shape[i]:
                raise ValueError(
                    f"payoffs[{i}]: {p.shape[0]} types on axis 0 but the prior has {prior.shape[i]}"
                )
            if any(m == 0 for m in p.shape[1:]):
                raise ValueError(
                    f"payoffs[{i}]: every player needs at least one action, shape {p.shape}"
                )
            if actions is None:
                actions = p.shape[1:]
            elif p.shape[1:] != actions:
                raise ValueError(
                    f"payoffs[{i}]: joint-action axes {p.shape[1:]} differ from "
                    f"payoffs[0]'s {actions}"
                )
            check_finite(f"payoffs[{i}]", p)
            p.setflags(write=False)
            payoffs.append(p)
        prior.setflags(write=False)
        object.__setattr__(self, "payoffs", tuple(payoffs))
        object.__setattr__(self, "prior", prior)

    @property
    def num_players(self) -> int:
        """Number of players ``N``."""
        return len(self.payoffs)

    @property
    def num_types(self) -> tuple[int, ...]:
        """Types per player ``(T_1, ..., T_N)``."""
        return tuple(int(t) for t in self.prior.shape)

    @property
    def num_actions(self) -> tuple[int, ...]:
        """Actions per player ``(m_1, ..., m_N)``."""
        return tuple(int(m) for m in self.payoffs[0].shape[1:])

    def conditional_prior(self, player: int) -> np.ndarray:
        """``P(t_{-i} | t_i)`` as an array of the prior's shape (zero where ``P(t_i) = 0``)."""
        marginal = self.prior.sum(axis=tuple(k for k in range(self.num_players) if k != player))
        shape = [1] * self.num_players
        shape[player] = -1
        denom = marginal.reshape(shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            cond = np.where(denom > 0, self.prior / np.where(denom > 0, denom, 1.0), 0.0)
        return cond

    @classmethod
    def from_payoff_lists(
        cls, payoffs: Sequence[np.ndarray], prior: np.ndarray, name: str = ""
    ) -> BayesianGame:
        """Build from a sequence of per-player arrays (convenience for JSON/registry code)."""
        return cls(tuple(np.asarray(p, dtype=np.float64) for p in payoffs), np.asarray(prior), name)

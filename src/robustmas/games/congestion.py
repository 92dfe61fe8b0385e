"""Succinct linear congestion games.

Resource ``e`` used by ``l`` players costs each of them ``slopes[e] * l + offsets[e]``.  A strategy
of player ``i`` is a subset of resources (a row of the 0/1 incidence matrix ``strategies[i]``).
Players' utilities are negative costs.  The default principal payoff is the negative total cost,
so the worst case for the principal (``nu = -u_0``) is the highest-cost equilibrium, the setting of
Corollary 1 in the robust-principal paper (RPoA 5/2 of linear congestion games).

Expected utilities under *product* distributions are computed from per-resource expected loads
(the polynomial expectation property), never by enumerating joint actions.

References:
* Zhao, Trott, Xiong, Zheng, *Learning to Play General-Sum Games Against Multiple Boundedly
  Rational Agents*, AAAI 2023, arXiv:2106.05492 (the robust-principal paper).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robustmas.games.limits import GameTooLargeError, check_dense_size
from robustmas.games.normal_form import NormalFormGame, check_finite

__all__ = ["LinearCongestionGame"]


@dataclass(frozen=True, eq=False)
class LinearCongestionGame:
    """A linear congestion game.

    Attributes:
        strategies: per player, a 0/1 matrix of shape ``(m_i, E)``; row ``j`` lists the resources
            of strategy ``j``.
        slopes: per-resource cost slope ``a_e >= 0``, shape ``(E,)``.
        offsets: per-resource constant cost ``b_e >= 0``, shape ``(E,)``.
        name: a title.
    """

    strategies: tuple[np.ndarray, ...]
    slopes: np.ndarray
    offsets: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        slopes = np.array(self.slopes, dtype=np.float64, copy=True)
        offsets = np.array(self.offsets, dtype=np.float64, copy=True)
        if slopes.ndim != 1 or slopes.size == 0:
            raise ValueError(f"slopes: expected a non-empty vector (E,), got shape {slopes.shape}")
        if offsets.shape != slopes.shape:
            raise ValueError(f"offsets: expected shape {slopes.shape}, got {offsets.shape}")
        check_finite("slopes", slopes)
        check_finite("offsets", offsets)
        if np.any(slopes < 0) or np.any(offsets < 0):
            raise ValueError("slopes/offsets: linear congestion costs must be non-negative")
        if len(self.strategies) == 0:
            raise ValueError("strategies: need at least one player")
        strategies = []
        for i, s in enumerate(self.strategies):
            s = np.array(s, dtype=np.float64, copy=True)
            if s.ndim != 2 or s.shape[1] != slopes.size:
                raise ValueError(
                    f"strategies[{i}]: expected shape (m_{i + 1}, {slopes.size}), got {s.shape}"
                )
            if s.shape[0] == 0:
                raise ValueError(f"strategies[{i}]: empty action set")
            if not np.all((s == 0) | (s == 1)):
                raise ValueError(f"strategies[{i}]: entries must be 0 or 1 (resource used or not)")
            s.setflags(write=False)
            strategies.append(s)
        slopes.setflags(write=False)
        offsets.setflags(write=False)
        object.__setattr__(self, "strategies", tuple(strategies))
        object.__setattr__(self, "slopes", slopes)
        object.__setattr__(self, "offsets", offsets)

    @property
    def num_players(self) -> int:
        """Number of players ``N``."""
        return len(self.strategies)

    @property
    def num_actions(self) -> tuple[int, ...]:
        """Strategies per player."""
        return tuple(int(s.shape[0]) for s in self.strategies)

    @property
    def num_resources(self) -> int:
        """Number of resources ``E``."""
        return int(self.slopes.size)

    def payoff_bound(self) -> float:
        """A payoff scale: ``max(max |u_i|, max |u_0| / N)`` bounded from above."""
        n = self.num_players
        per_use = self.slopes * n + self.offsets  # worst per-player cost of each resource
        own = max(float((s @ per_use).max()) for s in self.strategies)
        used = np.max(np.stack([s.max(axis=0) for s in self.strategies]), axis=0)
        total = float(used @ (n * per_use))
        return max(own, total / n, 1e-12)

    def deviation_payoffs(
        self, factors: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Own and principal deviation payoffs under a product distribution, in ``O(N m E)``.

        Args:
            factors: one mixed strategy per player, shapes ``(m_i,)``.

        Returns:
            ``(own, principal)``, lists of ``N`` arrays of shape ``(m_i,)``: ``u_i(j, x_{-i})`` and
            ``u_0(j, x_{-i})`` with ``u_0 = -`` total cost.
        """
        a, b = self.slopes, self.offsets
        usage = np.stack([f @ s for f, s in zip(factors, self.strategies, strict=True)])  # (N, E)
        total = usage.sum(axis=0)
        # E[load^2] under independent Bernoulli usage: Var + mean^2.
        var_total = (usage * (1 - usage)).sum(axis=0)
        own, principal = [], []
        for i, s in enumerate(self.strategies):
            others = total - usage[i]
            var_others = var_total - usage[i] * (1 - usage[i])
            # Own cost of strategy j: sum_{e in j} a_e (1 + E[others_e]) + b_e.
            own.append(-(s @ (a * (1.0 + others) + b)))
            # Total cost = sum_e a_e L_e^2 + b_e L_e with L_e = others_e + s_je.
            e_l2_others = var_others + others**2
            base = a * e_l2_others + b * others  # cost when i does not use e
            extra = a * (2 * others + 1) + b  # increase when i uses e
            principal.append(-(base.sum() + s @ extra))
        return own, principal

    def to_normal_form(self, max_joint_actions: int = 2_000_000) -> NormalFormGame:
        """Enumerate joint actions (for exact LPs on small instances).

        Raises:
            GameTooLargeError: (a ``ValueError``) the joint action space exceeds
                ``max_joint_actions``, or the dense game would exceed
                :data:`~robustmas.games.limits.MAX_PAYOFF_ENTRIES`.

        """
        shape = self.num_actions
        count = math.prod(shape)
        if count > max_joint_actions:
            raise GameTooLargeError(
                f"to_normal_form: {count} joint actions exceed "
                f"max_joint_actions={max_joint_actions}"
            )
        n = self.num_players
        check_dense_size(
            "to_normal_form", shape, n + 1, fix="keep the game succinct (deviation_payoffs)"
        )
        payoffs = np.empty((n, *shape))
        principal = np.empty(shape)
        for profile in itertools.product(*(range(m) for m in shape)):
            loads = sum(self.strategies[i][profile[i]] for i in range(n))
            per_use = self.slopes * loads + self.offsets
            for i in range(n):
                payoffs[(i, *profile)] = -(self.strategies[i][profile[i]] @ per_use)
            principal[profile] = -(loads @ per_use)
        return NormalFormGame(payoffs, principal, name=self.name or "linear congestion game")

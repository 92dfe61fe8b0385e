"""Robust (adversarially robust) Nash Q-learning, Eq. (2), on tabular Markov games.

Reference: Nika, Nöther, Singla, Radanović, "Defending Against Unknown Corrupted Agents:
Reinforcement Learning of Adversarially Robust Nash Equilibria", TMLR (OpenReview
``aggyMifxLQ``), Sec. 3.2, Eq. (2), Assumptions 1-3 and Theorem 2; spec ``arneq-art.md``
Sec. 2 with its corrections (the stage ARNEQ is taken at ``s_{t+1}``).

A centralised learner keeps ``Q_i(s, a)`` for every player over joint actions and, from one
transition ``(s_t, a_t, r_t, s_{t+1})`` at a time, updates every player::

    Q_i(s_t, a_t) <- (1 - alpha) Q_i(s_t, a_t) + alpha (r_i + gamma v_i(s_{t+1})),

with ``v_i(s')`` player ``i``'s stage-ARNEQ value of the stage game ``Q(s', .)``
(:func:`~robustmas.equilibria.robust_markov.stage_values`).  The paper specifies no behaviour
policy or step sizes; here (spec Sec. 2.3) the joint action is uniform at random, which visits
every ``(s, a)`` infinitely often when every state is reachable (Assumption 1), and
``alpha = 1 / (1 + (1 - gamma) (n(s, a) - 1))`` for the ``n``-th visit (Assumption 2; the
"rescaled linear" schedule, which forgets the start faster than ``1/n`` when gamma is large).
The ground truth is :func:`~robustmas.equilibria.robust_markov.robust_value_iteration`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robustmas.equilibria.robust_markov import stage_values
from robustmas.games.markov import TabularMarkovGame

__all__ = ["RobustNashQ", "robust_nash_q"]


@dataclass(frozen=True)
class RobustNashQ:
    """The learned tables."""

    q: np.ndarray
    """``Q_i(s, a)``, shape ``(S, n, m_1, ..., m_n)``."""
    values: np.ndarray
    """Stage-ARNEQ values of the learned ``Q``, shape ``(S, n)``."""
    visits: np.ndarray
    """Visits per ``(s, a)``, shape ``(S, m_1, ..., m_n)``."""
    steps: int
    """Transitions learned from."""


def robust_nash_q(
    game: TabularMarkovGame,
    k: int,
    steps: int,
    *,
    seed: int = 0,
    progress: Callable[[int, np.ndarray], None] | None = None,
    every: int = 10_000,
) -> RobustNashQ:
    """Learn ``Q`` by Eq. (2) from ``steps`` sampled transitions (module docstring).

    Args:
        game: the Markov game (its rewards and transitions are only sampled from).
        k: corrupted players per defender, ``0 <= k <= n - 1`` (the paper's convergence
            guarantee, Assumption 3, holds for ``k = n - 1``).
        steps: transitions.
        seed: NumPy seed of the behaviour and of the environment.
        progress: called every ``every`` steps with ``(step, values)``.
        every: steps between ``progress`` calls.

    Raises:
        ValueError: ``k`` out of range or ``steps < 1``.
    """
    n, actions, states = game.num_players, game.num_actions, game.num_states
    if not 0 <= k <= n - 1:
        raise ValueError(f"k: must lie in [0, n - 1 = {n - 1}], got {k}")
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    rng = np.random.default_rng(seed)
    q = np.zeros((states, n, *actions))
    visits = np.zeros((states, *actions), np.int64)
    cached = np.zeros((states, n))  # stage values of Q(s, .); Q = 0 gives 0
    dirty = np.zeros(states, bool)
    cum = np.cumsum(game.transitions, axis=-1)
    joint = rng.integers(0, actions, size=(steps, n))
    draws = rng.uniform(size=steps)
    s = int(rng.integers(states))
    for t in range(steps):
        a = tuple(int(x) for x in joint[t])
        nxt = min(int(np.searchsorted(cum[(s, *a)], draws[t], side="right")), states - 1)
        if dirty[nxt]:
            cached[nxt] = stage_values(q[nxt], k)[0]
            dirty[nxt] = False
        visits[(s, *a)] += 1
        alpha = 1.0 / (1.0 + (1.0 - game.gamma) * (visits[(s, *a)] - 1))
        target = game.rewards[(s, slice(None), *a)] + game.gamma * cached[nxt]
        index = (s, slice(None), *a)
        q[index] = (1.0 - alpha) * q[index] + alpha * target
        dirty[s] = True
        s = nxt
        if progress is not None and (t + 1) % every == 0:
            for x in np.nonzero(dirty)[0]:
                cached[x] = stage_values(q[x], k)[0]
                dirty[x] = False
            progress(t + 1, cached.copy())
    values = np.stack([stage_values(q[x], k)[0] for x in range(states)])
    return RobustNashQ(q, values, visits, steps)

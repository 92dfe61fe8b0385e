"""Small tabular Markov games: rewards and transitions as dense arrays (NumPy).

For exact solvers and tabular learners (robust value iteration, robust Nash-Q:
:mod:`robustmas.equilibria.robust_markov`).  The grid games of the robust-principal papers have
their own structured form (:mod:`robustmas.equilibria.markov_exact`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustmas.games.registry import Entry, Param, Registry

__all__ = ["MARKOV_REGISTRY", "TabularMarkovGame", "random_markov_game"]


@dataclass(frozen=True)
class TabularMarkovGame:
    """A discounted ``n``-player Markov game with finite states and actions.

    ``rewards[s, i][a]`` is player ``i``'s reward for the joint action ``a = (a_1..a_n)`` in
    state ``s``; ``transitions[s][a]`` is the distribution of the next state.
    """

    rewards: np.ndarray
    """Shape ``(S, n, m_1, ..., m_n)``."""
    transitions: np.ndarray
    """Shape ``(S, m_1, ..., m_n, S)``, rows summing to 1."""
    gamma: float
    """Discount factor in ``[0, 1)``."""

    def __post_init__(self) -> None:
        r = np.asarray(self.rewards, np.float64)
        p = np.asarray(self.transitions, np.float64)
        if r.ndim < 3 or r.ndim != r.shape[1] + 2:
            raise ValueError(f"rewards: expected shape (S, n, m_1, ..., m_n), got {r.shape}")
        states, actions = r.shape[0], r.shape[2:]
        if p.shape != (states, *actions, states):
            raise ValueError(
                f"transitions: expected shape {(states, *actions, states)} to match rewards, "
                f"got {p.shape}"
            )
        if not (np.all(np.isfinite(r)) and np.all(np.isfinite(p))):
            raise ValueError("rewards/transitions: must be finite")
        if np.any(p < 0) or not np.allclose(p.sum(axis=-1), 1.0, atol=1e-9):
            raise ValueError("transitions: every row must be a probability distribution")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma: must lie in [0, 1), got {self.gamma}")
        object.__setattr__(self, "rewards", r)
        object.__setattr__(self, "transitions", p)

    @property
    def num_states(self) -> int:
        """``S``."""
        return int(self.rewards.shape[0])

    @property
    def num_players(self) -> int:
        """``n``."""
        return int(self.rewards.shape[1])

    @property
    def num_actions(self) -> tuple[int, ...]:
        """``(m_1, ..., m_n)``."""
        return tuple(int(m) for m in self.rewards.shape[2:])


def random_markov_game(
    states: int, actions: tuple[int, ...], *, gamma: float = 0.5, seed: int = 0
) -> TabularMarkovGame:
    """Rewards i.i.d. ``U[0, 1]`` (the paper's range), transitions i.i.d. Dirichlet(1) rows."""
    if states < 1 or not actions or min(actions) < 1:
        raise ValueError("states and every player's actions must be >= 1")
    rng = np.random.default_rng(seed)
    n = len(actions)
    rewards = rng.uniform(size=(states, n, *actions))
    transitions = rng.dirichlet(np.ones(states), size=(states, *actions))
    return TabularMarkovGame(rewards, transitions, gamma)


def _random_markov(
    players: int = 2, states: int = 3, actions: int = 2, gamma: float = 0.5, seed: int = 0
) -> TabularMarkovGame:
    if not 2 <= players <= 6:
        raise ValueError(f"players: 2..6 for a dense tabular game, got {players}")
    if states < 1 or actions < 1:
        raise ValueError(f"states and actions: must be >= 1, got {states} and {actions}")
    if states * actions**players * states > 10_000_000:
        raise ValueError(
            "random-markov-v0: the transition table would exceed 10M entries; lower states, "
            "actions or players"
        )
    return random_markov_game(states, (actions,) * players, gamma=gamma, seed=seed)


MARKOV_REGISTRY: Registry[Entry[TabularMarkovGame]] = Registry(
    "Markov game id",
    [
        Entry(
            "random-markov-v0",
            _random_markov,
            "Small random Markov game: U[0,1] rewards, Dirichlet(1) transitions (ARNEQ tests)",
            (
                Param("players", int, "number of players (2..6)"),
                Param("states", int, "number of states"),
                Param("actions", int, "actions per player"),
                Param("gamma", float, "discount factor in [0, 1)"),
                Param("seed", int, "NumPy seed"),
            ),
        ),
    ],
)
"""Named tabular Markov games: ``MARKOV_REGISTRY.make("random-markov-v0:players=3,seed=1")``."""

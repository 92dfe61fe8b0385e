"""Named games with versioned ids (bump the version when a game's numbers change).

Use :func:`make` with an id and keyword parameters, or the compact string form accepted by
:func:`parse_spec`: ``"random-v0:players=4,actions=7,seed=0"``.  The registry is a
:class:`~robustmas.games.registry.Registry`; its entries declare typed parameters, and
:func:`~robustmas.games.registry.check_params` validates them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robustmas.games.congestion import LinearCongestionGame
from robustmas.games.limits import (
    MAX_PAYOFF_ENTRIES,
    GameTooLargeError,
    check_dense_size,
    check_num_players,
)
from robustmas.games.normal_form import NormalFormGame, PrincipalGame
from robustmas.games.registry import Entry, Param, Registry

__all__ = [
    "REGISTRY",
    "GameSpec",
    "escape",
    "maintain",
    "make",
    "matrix_design",
    "parse_spec",
    "random_congestion_game",
    "random_game",
    "rock_paper_scissors",
    "samuelson",
]

Game = NormalFormGame | PrincipalGame | LinearCongestionGame


def samuelson() -> PrincipalGame:
    """Samuelson's game (robust-principal paper, Appendix A): row T/B leads, column L/R follows.

    The unique Nash equilibrium is (T, L), but if the column player may be off by ``eps >= 1``
    it can answer T with R (row gets 50), so the robust row choice is B (guaranteed 99).
    """
    leader = [[100.0, 50.0], [99.0, 99.0]]
    follower = [[100.0, 99.0], [100.0, 99.0]]
    return PrincipalGame.bimatrix(
        leader, follower, leader_actions=("T", "B"), follower_actions=("L", "R"), name="Samuelson"
    )


def maintain() -> PrincipalGame:
    """Maintain (Zhang et al. 2019; Stackelberg POMDP paper, Table 2), row player leads.

    Optimal mixed commitment (0.25, 0.75, 0) with value 27.5; best pure commitment A with 20.
    """
    leader = [[20.0, 0.0, 0.0], [30.0, 10.0, 0.0], [0.0, 0.0, 5.0]]
    follower = [[15.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 10.0]]
    return PrincipalGame.bimatrix(
        leader, follower, leader_actions="ABC", follower_actions="ABC", name="Maintain"
    )


def escape() -> PrincipalGame:
    """Escape (Zhang et al. 2019; Stackelberg POMDP paper, Table 4): row C gives the leader 30."""
    leader = [[15.0, 10.0, 0.0], [10.0, 10.0, 0.0], [0.0, 0.0, 30.0]]
    follower = [[15.0, 10.0, 0.0], [10.0, 10.0, 0.0], [0.0, 0.0, 30.0]]
    return PrincipalGame.bimatrix(
        leader, follower, leader_actions="ABC", follower_actions="ABC", name="Escape"
    )


def matrix_design(tau: int | None = None, max_tau: int = 10) -> NormalFormGame | PrincipalGame:
    """Monderer-Tennenholtz design game (Stackelberg POMDP paper, Table 3).

    Two followers play ``[[(3+tau, 3), (6, 4)], [(4, 6), (2, 2+tau)]]``; the principal gets 1 when
    they choose different actions and 0 otherwise.  With ``tau`` given, the followers' game for that
    payment; otherwise a :class:`PrincipalGame` whose principal chooses ``tau`` in
    ``{0, ..., max_tau}``.  For ``tau >= 4``, A (row) and B (column) are dominant (weakly at
    ``tau = 4``, strictly above), as the paper states.
    """

    def followers(t: float) -> np.ndarray:
        row = [[3.0 + t, 6.0], [4.0, 2.0]]
        col = [[3.0, 4.0], [6.0, 2.0 + t]]
        return np.array([row, col])

    principal = np.array([[0.0, 1.0], [1.0, 0.0]])
    if tau is not None:
        if tau < 0:
            raise ValueError(f"tau: payment must be non-negative, got {tau}")
        return NormalFormGame(
            followers(tau),
            principal,
            players=("Row", "Column"),
            actions=(("A", "B"), ("A", "B")),
            name=f"Matrix design (tau={tau})",
        )
    if max_tau < 0:
        raise ValueError(f"max_tau: must be non-negative, got {max_tau}")
    # Principal payoff and two follower payoffs for every (tau, row action, column action).
    check_dense_size(
        f"max_tau: the matrix design game with max_tau={max_tau}",
        (max_tau + 1, 2, 2),
        3,
        fix="use a smaller max_tau",
    )
    taus = range(max_tau + 1)
    payoffs = np.stack([followers(t) for t in taus], axis=1)  # (2, m0, 2, 2)
    return PrincipalGame(
        np.broadcast_to(principal, (len(taus), 2, 2)),
        payoffs,
        players=("Row", "Column"),
        actions=(("A", "B"), ("A", "B")),
        principal_actions=tuple(f"tau={t}" for t in taus),
        name="Matrix design",
        principal_name="Designer",
    )


def rock_paper_scissors() -> NormalFormGame:
    """Rock-paper-scissors: zero-sum, value 0, unique equilibrium (1/3, 1/3, 1/3)."""
    a = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    return NormalFormGame(
        np.stack([a, -a]),
        None,
        players=("Player 1", "Player 2"),
        actions=(("R", "P", "S"), ("R", "P", "S")),
        name="Rock-paper-scissors",
    )


def random_game(
    players: int = 2, actions: int = 3, seed: int = 0, principal: bool = True
) -> NormalFormGame:
    """A game with i.i.d. uniform [0, 1] payoffs (and principal payoff) drawn from ``seed``.

    Raises:
        ValueError: ``players`` or ``actions`` below 1.
        GameTooLargeError: more than :data:`~robustmas.games.limits.MAX_PAYOFF_ENTRIES` payoffs
            (``actions ** players`` joint actions, one payoff per player and principal each).

    """
    if players < 1 or actions < 1:
        raise ValueError(
            f"players/actions: need >= 1 each, got players={players}, actions={actions}"
        )
    what = f"players/actions: a random game with players={players}, actions={actions}"
    fix = "use fewer players or actions"
    check_num_players(what, players, fix)  # before the shape below is spelled out
    check_dense_size(what, (actions,) * players, players + int(principal), fix)
    rng = np.random.default_rng(seed)
    shape = (actions,) * players
    payoffs = rng.uniform(size=(players, *shape))
    prin = rng.uniform(size=shape) if principal else None
    return NormalFormGame(payoffs, prin, name=f"random {players}x{actions} seed {seed}")


def random_congestion_game(
    players: int = 3, resources: int = 4, strategies: int = 3, seed: int = 0
) -> LinearCongestionGame:
    """A linear congestion game with random non-empty strategies and costs in [0, 1].

    Raises:
        ValueError: a parameter below 1.
        GameTooLargeError: the 0/1 strategy matrices (``players x strategies x resources``
            entries) exceed :data:`~robustmas.games.limits.MAX_PAYOFF_ENTRIES`.

    """
    if players < 1 or resources < 1 or strategies < 1:
        raise ValueError("players/resources/strategies: need >= 1 each")
    entries = players * strategies * resources
    if entries > MAX_PAYOFF_ENTRIES:
        raise GameTooLargeError(
            f"players/resources/strategies: {players:,} players x {strategies:,} strategies x "
            f"{resources:,} resources = {entries:,} strategy-matrix entries asked for, above the "
            f"limit of {MAX_PAYOFF_ENTRIES:,} (MAX_PAYOFF_ENTRIES = 2**26); use fewer players, "
            "strategies or resources"
        )
    rng = np.random.default_rng(seed)
    strat = []
    for _ in range(players):
        s = (rng.uniform(size=(strategies, resources)) < 0.5).astype(float)
        empty = s.sum(axis=1) == 0
        s[empty, rng.integers(resources, size=int(empty.sum()))] = 1.0
        strat.append(s)
    return LinearCongestionGame(
        tuple(strat),
        rng.uniform(size=resources),
        rng.uniform(size=resources),
        name=f"congestion {players}p {resources}r seed {seed}",
    )


class GameSpec(Entry[Game]):
    """A games-registry entry: id, builder, summary, parameters (see :class:`Entry`)."""


REGISTRY: Registry[GameSpec] = Registry(
    "game id",
    [
        GameSpec(
            "samuelson-v0", samuelson, "Samuelson's game: robust principal picks B at eps >= 1"
        ),
        GameSpec("maintain-v0", maintain, "Maintain (Zhang et al.): mixed commitment worth 27.5"),
        GameSpec("escape-v0", escape, "Escape (Zhang et al.): leader row C worth 30"),
        GameSpec(
            "matrix-design-v0",
            matrix_design,
            "Monderer-Tennenholtz design game; principal picks payment tau (or fix tau=)",
            (
                Param("tau", int, "fixed payment: the followers' game alone"),
                Param("max_tau", int, "the principal chooses tau in 0..max_tau"),
            ),
        ),
        GameSpec("rps-v0", rock_paper_scissors, "Rock-paper-scissors"),
        GameSpec(
            "random-v0",
            random_game,
            "Uniform [0,1] random N-player game with a principal",
            (
                Param("players", int, "number of players"),
                Param("actions", int, "actions per player"),
                Param("seed", int, "random seed"),
                Param("principal", bool, "attach a principal payoff"),
            ),
        ),
        GameSpec(
            "congestion-v0",
            random_congestion_game,
            "Random linear congestion game (succinct)",
            (
                Param("players", int, "number of players"),
                Param("resources", int, "number of resources"),
                Param("strategies", int, "strategies per player"),
                Param("seed", int, "random seed"),
            ),
        ),
    ],
)
"""The named games, by versioned id (``robustmas games list``)."""


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"id:key=value,key=value"`` into the id and typed, validated parameters.

    Raises:
        ValueError: unknown id, an item that is not ``key=value``, an unknown parameter (the
            message lists the allowed ones) or a value of the wrong type.

    """
    entry, params = REGISTRY.resolve(spec)
    return entry.id, params


def make(game_id: str, **params: Any) -> Game:
    """Build a registered game, e.g. ``make("random-v0", players=4, actions=7, seed=1)``.

    ``game_id`` may also carry parameters in the compact form ``"random-v0:players=4"``;
    keyword parameters override those, and string values are converted to the declared types.

    Raises:
        ValueError: as :func:`parse_spec`; also the builder's own errors, e.g.
            :class:`~robustmas.games.limits.GameTooLargeError`.

    """
    entry, typed = REGISTRY.resolve(game_id, **params)
    return entry.builder(**typed)

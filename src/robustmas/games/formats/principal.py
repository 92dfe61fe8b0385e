"""Treating one player of a game read from a file as the principal.

Formats without a notion of a principal (Gambit ``.nfg``) store it as an ordinary player, player 1
by the convention of :func:`~robustmas.games.formats.nfg_writer.format_nfg`;
:func:`split_principal` turns that player back into the principal.
"""

from __future__ import annotations

import numpy as np

from robustmas.games.normal_form import NormalFormGame, PrincipalGame

__all__ = ["split_principal"]


def split_principal(game: NormalFormGame, principal_player: int) -> NormalFormGame | PrincipalGame:
    """Treat one player of ``game`` as the principal.

    Args:
        game: a game without principal payoff and with at least two players (as
            :func:`read_nfg` returns).
        principal_player: 0-based index of the principal.

    Returns:
        If the principal has exactly one strategy, a :class:`NormalFormGame` of the other players
        whose ``principal_payoff`` is the principal's payoff tensor (its axis dropped); otherwise
        a :class:`PrincipalGame` with the principal's axis moved to the front.  Names carry over
        (the principal's player name becomes ``principal_name``).

    Raises:
        ValueError: bad index, a single-player game, or a game that already has a principal.

    """
    if not isinstance(game, NormalFormGame):
        raise TypeError(f"split_principal: expected a NormalFormGame, got {type(game).__name__}")
    n = game.num_players
    if isinstance(principal_player, bool) or not isinstance(principal_player, int | np.integer):
        raise ValueError(
            f"principal_player: expected a 0-based player index, got {principal_player!r}"
        )
    k = int(principal_player)
    if not 0 <= k < n:
        raise ValueError(
            f"principal_player: 0-based index must be in [0, {n}) for a {n}-player game, got {k}"
        )
    if n < 2:
        raise ValueError(
            "principal_player: the game needs at least one player besides the principal"
        )
    if game.principal_payoff is not None:
        raise ValueError("split_principal: the game already has a principal payoff")
    others = [i for i in range(n) if i != k]
    principal = np.moveaxis(game.payoffs[k], k, 0)
    followers = np.moveaxis(game.payoffs[others], k + 1, 1)
    players = tuple(game.players[i] for i in others)
    actions = tuple(game.actions[i] for i in others)
    if game.num_actions[k] == 1:
        return NormalFormGame(
            followers[:, 0],
            principal[0],
            players=players,
            actions=actions,
            name=game.name,
            principal_name=game.players[k],
        )
    return PrincipalGame(
        principal,
        followers,
        players=players,
        actions=actions,
        principal_actions=game.actions[k],
        name=game.name,
        principal_name=game.players[k],
    )

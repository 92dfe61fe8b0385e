"""Size limits for dense games, checked before any array is allocated.

A dense game stores one payoff per player (and principal) for every joint action, so its size
grows as ``m ** N``: ``random-v0:players=40`` would need about ``1.2e19`` joint actions.  Every
constructor that builds such a tensor calls :func:`check_dense_size` first, so an over-large
request fails at once with :class:`GameTooLargeError` (a ``ValueError``) saying how many joint
actions were asked for and what the limit is, instead of a NumPy "array is too big" or
``MemoryError`` (or the machine running out of memory).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "MAX_DENSE_PLAYERS",
    "MAX_PAYOFF_ENTRIES",
    "GameTooLargeError",
    "check_dense_size",
    "check_num_players",
]

MAX_PAYOFF_ENTRIES = 2**26
"""Most payoff entries (all tensors of one game together) a dense game may hold: 512 MiB in
float64."""

MAX_DENSE_PLAYERS = 63
"""Most players of a dense game: its payoff array has one axis per player plus one, and NumPy
arrays have at most 64 axes."""


class GameTooLargeError(ValueError):
    """A dense game would exceed :data:`MAX_PAYOFF_ENTRIES` or :data:`MAX_DENSE_PLAYERS`."""


def _count(n: int) -> str:
    """``n`` with thousands separators, or in scientific notation when it is very large."""
    if n < 10**12:
        return f"{n:,}"
    exponent = math.floor(math.log10(n))
    mantissa = 10 ** (math.log10(n) - exponent)
    return f"about {mantissa:.2f}e{exponent}"


def _shape(num_actions: Sequence[int]) -> str:
    """``"3**40"`` for equal counts, ``"2 x 3 x 4"`` otherwise."""
    if len(num_actions) > 2 and len(set(num_actions)) == 1:
        return f"{num_actions[0]}**{len(num_actions)}"
    return " x ".join(str(m) for m in num_actions)


def check_num_players(what: str, players: int, fix: str = "use fewer players") -> None:
    """Raise :class:`GameTooLargeError` if a dense game cannot have ``players`` players.

    Args:
        what: the parameter(s) and game the count comes from, e.g. ``"players: random-v0"``;
            starts the message.
        players: the number of players asked for.
        fix: what the caller can change, ends the message.

    Raises:
        GameTooLargeError: ``players > MAX_DENSE_PLAYERS``.

    """
    if players > MAX_DENSE_PLAYERS:
        raise GameTooLargeError(
            f"{what}: {_count(players)} players asked for, but a dense game has at most "
            f"{MAX_DENSE_PLAYERS} (one payoff axis per player, NumPy allows 64 axes); {fix}"
        )


def check_dense_size(
    what: str, num_actions: Sequence[int], tensors: int, fix: str = "use fewer actions"
) -> None:
    """Raise :class:`GameTooLargeError` if a dense game of this shape is too large to build.

    Args:
        what: the parameter(s) and game the shape comes from, e.g.
            ``"players/actions: random-v0 with players=40, actions=3"``; starts the message.
        num_actions: actions per player (including the principal where it has its own axis).
        tensors: payoff tensors stored, one entry per joint action each (players, plus one for
            a principal payoff).
        fix: what the caller can change, ends the message.

    Raises:
        GameTooLargeError: more than :data:`MAX_DENSE_PLAYERS` axes, or
            ``prod(num_actions) * tensors > MAX_PAYOFF_ENTRIES``.

    """
    check_num_players(what, len(num_actions), fix)
    joint = math.prod(int(m) for m in num_actions)
    entries = joint * tensors
    if entries > MAX_PAYOFF_ENTRIES:
        product = f"{_shape(num_actions)} = " if len(num_actions) > 1 else ""
        raise GameTooLargeError(
            f"{what}: {product}{_count(joint)} joint actions asked for, times "
            f"{tensors} payoff tensors = {_count(entries)} payoff entries, above the limit of "
            f"{MAX_PAYOFF_ENTRIES:,} (MAX_PAYOFF_ENTRIES = 2**26); {fix}"
        )

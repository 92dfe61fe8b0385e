"""Writing Gambit ``.nfg`` files (payoff or outcome version).

An ``.nfg`` file has no notion of a principal.  :func:`format_nfg` therefore writes

* a :class:`~robustmas.games.NormalFormGame` **without** principal payoff as an ``N``-player file;
* a :class:`~robustmas.games.NormalFormGame` **with** principal payoff as an ``N+1``-player file
  whose player 1 is the principal (named ``principal_name``) with a single strategy;
* a :class:`~robustmas.games.PrincipalGame` as an ``N+1``-player file whose player 1 is the
  principal with its own actions.

Read such a file back with ``split_principal(read_nfg(path), 0)`` (or
``load_game(path, principal_player=0)``).  Numbers are written exactly (integers without decimals,
other values as ``repr(float)``), so float64 payoffs survive a round trip bit for bit.  The payoff
version stores strategy counts only, so action names survive only the outcome version.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from robustmas.games.congestion import LinearCongestionGame
from robustmas.games.normal_form import NormalFormGame, PrincipalGame

__all__ = ["NfgVariant", "format_nfg", "write_nfg"]

NfgVariant = Literal["payoff", "outcome"]
"""The two bodies of an ``.nfg`` file: a flat payoff list, or outcomes and their indexes."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(x: float) -> str:
    x = float(x)
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def _nfg_table(
    game: NormalFormGame | PrincipalGame,
) -> tuple[list[str], list[tuple[str, ...]], np.ndarray, str]:
    """Players, strategy names, payoff tensor ``(n, *shape)`` and a comment for the file."""
    if isinstance(game, PrincipalGame):
        players = [game.principal_name, *game.players]
        actions = [game.principal_actions, *game.actions]
        tensor = np.concatenate([game.principal_payoff[None], game.payoffs])
        comment = f"Player 1 ({game.principal_name}) is the principal."
    elif isinstance(game, NormalFormGame):
        players = list(game.players)
        actions = list(game.actions)
        tensor = np.asarray(game.payoffs)
        comment = ""
        if game.principal_payoff is not None:
            players.insert(0, game.principal_name)
            actions.insert(0, ("1",))
            followers = game.payoffs[:, None]
            tensor = np.concatenate([game.principal_payoff[None, None], followers])
            comment = f"Player 1 ({game.principal_name}) is the principal, with its action fixed."
    else:
        hint = ""
        if isinstance(game, LinearCongestionGame):
            hint = " (call game.to_normal_form() first)"
        raise TypeError(
            "format_nfg: expected a NormalFormGame or PrincipalGame, got "
            f"{type(game).__name__}{hint}"
        )
    return players, actions, tensor, comment


def format_nfg(game: NormalFormGame | PrincipalGame, variant: NfgVariant = "payoff") -> str:
    """The Gambit ``.nfg`` text of ``game``.

    A principal becomes player 1 of an ``N+1``-player file: with one strategy (named ``"1"``)
    for a :class:`NormalFormGame` with principal payoff, with its own actions for a
    :class:`PrincipalGame`.  Read it back with ``split_principal(read_nfg(...), 0)``.

    Args:
        game: the game to write.
        variant: ``"payoff"`` (flat payoff list, strategy counts only: action names are not
            stored) or ``"outcome"`` (strategy names, one outcome per profile).

    Returns:
        The file text, ending with a newline.

    Raises:
        ValueError: unknown ``variant``.
        TypeError: ``game`` is not a normal-form or principal game.

    """
    if variant not in ("payoff", "outcome"):
        raise ValueError(f"variant: expected 'payoff' or 'outcome', got {variant!r}")
    players, actions, tensor, comment = _nfg_table(game)
    n = len(players)
    # Rows: profiles with the first player's strategy varying fastest; columns: players.
    flat = np.stack([tensor[i].ravel(order="F") for i in range(n)], axis=1)
    head = f"NFG 1 R {_quote(game.name)} {{ {' '.join(_quote(p) for p in players)} }}"
    lines: list[str] = []
    if variant == "payoff":
        counts = " ".join(str(len(a)) for a in actions)
        lines.append(f"{head} {{ {counts} }}")
        lines.append(_quote(comment))
        lines.append("")
        lines.extend(" ".join(_number(v) for v in row) for row in flat)
    else:
        lines.append(head)
        lines.append("")
        lines.append("{")
        lines.extend("{ " + " ".join(_quote(s) for s in names) + " }" for names in actions)
        lines.append("}")
        lines.append(_quote(comment))
        lines.append("")
        lines.append("{")
        lines.extend('{ "" ' + ", ".join(_number(v) for v in row) + " }" for row in flat)
        lines.append("}")
        indexes = [str(k + 1) for k in range(flat.shape[0])]
        lines.extend(" ".join(indexes[k : k + 20]) for k in range(0, len(indexes), 20))
    return "\n".join(lines) + "\n"


def write_nfg(
    game: NormalFormGame | PrincipalGame,
    path: str | os.PathLike[str],
    variant: NfgVariant = "payoff",
) -> None:
    """Write ``game`` to ``path`` as a Gambit ``.nfg`` file (see :func:`format_nfg`).

    Args:
        game: the game to write; a principal becomes player 1.
        path: the file to create or overwrite (UTF-8).
        variant: ``"payoff"`` or ``"outcome"``.

    """
    text = format_nfg(game, variant)
    Path(path).write_text(text, encoding="utf-8")

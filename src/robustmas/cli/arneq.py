"""``robustmas arneq``: a stage-game adversarially robust Nash equilibrium (ARNEQ).

GAME is as for ``cce`` (a ``.nfg``/``.json`` file or a registry id); every player is a
defender and up to ``--k`` of the others may be corrupted.  See
:mod:`robustmas.equilibria.arneq`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import numpy as np
import typer

from robustmas.cli._common import JsonOption, UserError, guard
from robustmas.equilibria.arneq import stage_arneq
from robustmas.games.formats import load_game
from robustmas.games.normal_form import NormalFormGame

__all__ = ["arneq"]


class ArneqMethod(StrEnum):
    """Stage ARNEQ solvers."""

    auto = "auto"
    decoupled = "decoupled"
    iterated = "iterated"


def arneq(
    game: Annotated[
        str, typer.Argument(help="A .nfg/.json file or a registry id (see `games list`).")
    ],
    k: Annotated[int, typer.Option("--k", help="Corrupted players, 0 <= k <= n - 1.")],
    method: Annotated[
        ArneqMethod,
        typer.Option(
            help="decoupled: exact max-min LPs (k = n - 1 only); iterated: damped robust best "
            "responses; auto: the first when it applies."
        ),
    ] = ArneqMethod.auto,
    damping: Annotated[
        float,
        typer.Option(help="Step of the iteration in (0, 1]; 0 for 1/(t+2) (fictitious play)."),
    ] = 0.1,
    max_iter: Annotated[int, typer.Option(help="Most best-response rounds.")] = 500,
    tol: Annotated[float, typer.Option(help="Exploitability at which to stop.")] = 1e-6,
    as_json: JsonOption = False,
) -> None:
    """Each player's robust strategy and value when up to k of the others may be corrupted.

    Prints the strategies, each player's robust value and the robust exploitability (0 at an
    ARNEQ; exact for k = n - 1, else the best profile the iteration found).
    """

    def run() -> None:
        loaded = load_game(game, None)
        if not isinstance(loaded, NormalFormGame):
            to_dense = getattr(loaded, "to_normal_form", None)
            if to_dense is None:
                raise UserError(f"arneq: {type(loaded).__name__} games are not supported")
            loaded = to_dense()
        n = loaded.num_players
        if not 0 <= k <= n - 1:
            raise UserError(f"--k: must lie in [0, {n - 1}] for this {n}-player game, got {k}")
        res = stage_arneq(
            np.asarray(loaded.payoffs),
            k,
            method=method.value,
            damping=damping or None,
            max_iter=max_iter,
            tol=tol,
        )
        if as_json:
            out = {
                "strategies": [x.tolist() for x in res.strategies],
                "values": res.values.tolist(),
                "exploitability": res.exploitability,
                "method": res.method,
                "iterations": res.iterations,
                "converged": res.converged,
                "k": k,
            }
            typer.echo(json.dumps(out))
            return
        typer.echo(f"stage ARNEQ, k = {k} of {n} players ({res.method}, {res.iterations} rounds)")
        for i, x in enumerate(res.strategies):
            probs = ", ".join(f"{a}={p:.4f}" for a, p in zip(loaded.actions[i], x, strict=True))
            typer.echo(f"  player {i + 1}: robust value {res.values[i]:.6g}  [{probs}]")
        verdict = "converged" if res.converged else "not converged"
        typer.echo(f"  robust exploitability {res.exploitability:.3g} ({verdict})")

    guard(run)

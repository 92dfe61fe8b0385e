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
from robustmas.equilibria.robust_markov import robust_value_iteration
from robustmas.games.formats import load_game
from robustmas.games.markov import MARKOV_REGISTRY
from robustmas.games.normal_form import NormalFormGame
from robustmas.robust.robust_nash_q import robust_nash_q

__all__ = ["arneq", "arneq_markov"]


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


def arneq_markov(
    game: Annotated[
        str,
        typer.Argument(help="A Markov game id, e.g. random-markov-v0:players=3,states=3,seed=1."),
    ],
    k: Annotated[int, typer.Option("--k", help="Corrupted players, 0 <= k <= n - 1.")],
    steps: Annotated[
        int,
        typer.Option(help="Also learn by robust Nash-Q (Eq. 2) from this many transitions."),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of robust Nash-Q's behaviour.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Robust values of a tabular Markov game by robust value iteration (the ground truth).

    With --steps, robust Nash Q-learning (uniform behaviour) runs too and the largest gap
    between its values and the ground truth is printed (the paper's guarantee needs k = n - 1).
    """

    def run() -> None:
        try:
            markov = MARKOV_REGISTRY.make(game)
        except ValueError as e:
            raise UserError(str(e)) from e
        n = markov.num_players
        if not 0 <= k <= n - 1:
            raise UserError(f"--k: must lie in [0, {n - 1}] for this {n}-player game, got {k}")
        if steps < 0:
            raise UserError(f"--steps: must be >= 0, got {steps}")
        truth = robust_value_iteration(markov, k)
        out: dict[str, object] = {
            "values": truth.values.tolist(),
            "iterations": truth.iterations,
            "residual": truth.residual,
            "stage_exploitability": truth.stage_exploitability,
            "k": k,
        }
        learned = None
        if steps:
            learned = robust_nash_q(markov, k, steps, seed=seed)
            out["q_learning_values"] = learned.values.tolist()
            out["max_error"] = float(np.abs(learned.values - truth.values).max())
        if as_json:
            typer.echo(json.dumps(out))
            return
        typer.echo(
            f"robust value iteration, k = {k} of {n} players: {truth.iterations} sweeps, "
            f"residual {truth.residual:.2g}, stage exploitability {truth.stage_exploitability:.2g}"
        )
        for s, row in enumerate(truth.values):
            typer.echo(f"  state {s}: " + "  ".join(f"V{i + 1}={v:.6f}" for i, v in enumerate(row)))
        if learned is not None:
            typer.echo(
                f"robust Nash-Q after {steps:,} transitions: largest |V_Q - V_VI| = "
                f"{out['max_error']:.3g}"
            )

    guard(run)

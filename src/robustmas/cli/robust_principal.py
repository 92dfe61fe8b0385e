"""``robustmas robust-principal train``: learn a robust principal strategy (RP Alg. 3 / ERMAS).

GAME is an ``N+1``-player normal-form game: a ``.nfg`` file with ``--principal-player K``, a
``.json`` principal game, or a registry id (``samuelson-v0``, or
``random-v0:players=3,principal=false`` with ``--principal-player K``).  The learned strategy is
scored exactly: its worst-case eps-CCE value (LP) beside the LP's best pure robust action.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from robustmas.cli._common import JsonOption, UserError, guard
from robustmas.games.formats import load_game, split_principal
from robustmas.games.normal_form import NormalFormGame, PrincipalGame

__all__ = ["app", "train"]

app = typer.Typer(no_args_is_help=True, help="Robust principal strategies learned by RL.")


def load_principal_game(spec: str, principal_player: int | None) -> PrincipalGame:
    """The principal game of ``spec``; ``principal_player`` (1-based) splits a plain game."""
    if principal_player is not None and principal_player < 1:
        raise UserError("--principal-player: players are numbered from 1, as in Gambit")
    is_nfg = Path(spec).suffix.lower() == ".nfg" and Path(spec).is_file()
    index = None if principal_player is None else principal_player - 1
    loaded = load_game(spec, index if is_nfg else None)
    if index is not None and not is_nfg:
        if not isinstance(loaded, NormalFormGame):
            raise UserError(f"--principal-player: {spec} is not a plain normal-form game")
        if loaded.has_principal:
            raise UserError(
                f"--principal-player: {spec} already has a passive principal payoff; for "
                "random-v0 add principal=false"
            )
        loaded = split_principal(loaded, index)
    if not isinstance(loaded, PrincipalGame):
        raise UserError(
            f"GAME: {spec} has no principal with actions; give --principal-player K (1-based) "
            "to let player K be the principal"
        )
    return loaded


@app.command("train")
def train(
    game: Annotated[str, typer.Argument(help="A .nfg/.json file or a registry id.")],
    epsilon: Annotated[
        float,
        typer.Option("--epsilon", "-e", help="The followers' regret slack (payoff units)."),
    ],
    principal_player: Annotated[
        int | None,
        typer.Option(help="The principal's player number (1-based) in a plain N+1-player game."),
    ] = None,
    method: Annotated[
        str, typer.Option(help="alg3 (RP Algorithm 3) or ermas (with the meta step).")
    ] = "alg3",
    regret: Annotated[
        str,
        typer.Option(
            help="exact (the stage game's regret of the current profile) or sampled (the "
            "papers' Monte-Carlo regret by unilateral deviation)."
        ),
    ] = "exact",
    seeds: Annotated[int, typer.Option(help="Principals trained side by side.")] = 4,
    seed: Annotated[int, typer.Option(help="Master seed.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Learn the principal's mixed strategy and score it by the exact worst-case eps-CCE LP."""

    def run() -> None:
        from robustmas.robust.robust_principal import train_robust_principal

        if method not in ("alg3", "ermas"):
            raise UserError(f"--method: expected alg3 or ermas, got {method!r}")
        if regret not in ("exact", "sampled"):
            raise UserError(f"--regret: expected exact or sampled, got {regret!r}")
        loaded = load_principal_game(game, principal_player)
        result = train_robust_principal(
            loaded,
            epsilon,
            method="ermas" if method == "ermas" else "alg3",
            seeds=seeds,
            seed=seed,
            regret="exact" if regret == "exact" else "sampled",
        )
        if as_json:
            typer.echo(json.dumps({"game": loaded.name or game, **result.to_json()}))
            return
        names = loaded.principal_actions or tuple(
            str(a) for a in range(loaded.num_principal_actions)
        )
        typer.echo(
            f"{loaded.name or game}: eps = {epsilon:g}, {method}, {regret} regret, {seeds} seeds"
        )
        strategy = ", ".join(
            f"{n} {p:.3f}" for n, p in zip(names, result.principal_strategy, strict=True)
        )
        typer.echo(f"  learned strategy   {strategy}")
        typer.echo(f"  worst-case value   {result.worst_case_value:.6g}   (exact LP)")
        pure = "-" if result.best_pure_action is None else names[result.best_pure_action]
        typer.echo(f"  best pure robust   {result.best_pure_value:.6g}   ({pure})")

    guard(run)

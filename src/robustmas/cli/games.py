"""``robustmas games list|show``: the registry of named games."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from robustmas.cli._common import guard, print_registry

app = typer.Typer(no_args_is_help=True, help="The registry of named games.")


@app.command("list")
def games_list() -> None:
    """List registered games."""
    from robustmas.games.library import REGISTRY

    print_registry(REGISTRY.values())


@app.command("show")
def games_show(
    game_id: Annotated[
        str, typer.Argument(help="Registry id, optionally with parameters: id:key=value,...")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the game as JSON.")] = False,
) -> None:
    """Show a registered game's payoffs."""

    def run() -> None:
        from robustmas.games.congestion import LinearCongestionGame
        from robustmas.games.formats import to_json
        from robustmas.games.library import make
        from robustmas.games.normal_form import NormalFormGame, PrincipalGame

        game = make(game_id)
        if as_json:
            typer.echo(json.dumps(to_json(game)))
            return
        typer.echo(f"{game_id}: {getattr(game, 'name', '')} ({type(game).__name__})")
        if isinstance(game, PrincipalGame):
            typer.echo(f"  principal actions: {', '.join(game.principal_actions)}")
            typer.echo(
                f"  followers: {', '.join(game.players)}; actions {[list(a) for a in game.actions]}"
            )
            for a0, name in enumerate(game.principal_actions):
                typer.echo(
                    f"  principal plays {name}: "
                    f"principal payoff {game.principal_payoff[a0].tolist()}"
                )
                typer.echo(f"    follower payoffs {game.payoffs[:, a0].tolist()}")
        elif isinstance(game, NormalFormGame):
            typer.echo(
                f"  players: {', '.join(game.players)}; actions {[list(a) for a in game.actions]}"
            )
            if game.num_joint_actions <= 64:
                typer.echo(f"  payoffs {game.payoffs.tolist()}")
                if game.principal_payoff is not None:
                    typer.echo(f"  principal {game.principal_payoff.tolist()}")
        elif isinstance(game, LinearCongestionGame):
            typer.echo(
                f"  {game.num_players} players, {game.num_resources} resources, "
                f"strategies {game.num_actions}"
            )

    guard(run)

"""The ``robustmas`` typer application, assembled from one module per command group.

``cce``, ``sweep`` and ``stackelberg`` (:mod:`robustmas.cli.cce`), ``arneq``
(:mod:`robustmas.cli.arneq`), ``games``
(:mod:`robustmas.cli.games`), ``stackelberg-pomdp`` (:mod:`robustmas.cli.stackelberg_pomdp`),
``robust-principal`` (:mod:`robustmas.cli.robust_principal`), ``experiment``
(:mod:`robustmas.cli.experiment`), ``runs``
(:mod:`robustmas.cli.runs`) and ``cache`` (:mod:`robustmas.cli.cache`).  Commands
parse their arguments, call the library and print; bad input exits with status 2 and one line
on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from robustmas.cli import (
    arneq,
    cache,
    cce,
    experiment,
    games,
    robust_principal,
    runs,
    stackelberg_pomdp,
)

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Worst-case equilibria and robust commitments for principals facing strategic agents.",
)
app.command("cce")(cce.cce)
app.command("sweep")(cce.sweep)
app.command("stackelberg")(cce.stackelberg)
app.command("arneq")(arneq.arneq)
app.command("arneq-markov")(arneq.arneq_markov)
app.add_typer(games.app, name="games")
app.add_typer(stackelberg_pomdp.app, name="stackelberg-pomdp")
app.add_typer(robust_principal.app, name="robust-principal")
app.add_typer(experiment.app, name="experiment")
app.add_typer(runs.app, name="runs")
app.add_typer(cache.app, name="cache")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``robustmas`` console script (and of ``python -m robustmas``)."""
    app(args=list(argv) if argv is not None else sys.argv[1:], prog_name="robustmas")


if __name__ == "__main__":
    main()

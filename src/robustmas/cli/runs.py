"""``robustmas runs list|show|plot``: runs recorded in the DuckDB store."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from robustmas.cli._common import DEFAULT_STORE_PATH, StoreOption, UserError, guard

app = typer.Typer(no_args_is_help=True, help="Runs recorded in the DuckDB store.")


def _unknown_run(exc: KeyError) -> UserError:
    return UserError(str(exc).strip("'\""))


@app.command("list")
def runs_list(store: StoreOption = DEFAULT_STORE_PATH) -> None:
    """List stored runs, newest first."""

    def run() -> None:
        from robustmas.experiments.store import RunStore

        with RunStore(store) as db:
            for r in db.list_runs():
                final = r["final"] or {}
                reward = final.get("final_reward")
                shown = f"{reward:.4f}" if isinstance(reward, float) else "-"
                typer.echo(
                    f"{r['id']}  {r['created'][:19]}  {r['kind']:<18} {r['setting']:<18} "
                    f"{r['status']:<9} final {shown}"
                )

    guard(run)


@app.command("show")
def runs_show(run_id: str, store: StoreOption = DEFAULT_STORE_PATH) -> None:
    """Print one run (config, seeds, final metrics) as JSON."""

    def run() -> None:
        from robustmas.experiments.store import RunStore

        with RunStore(store) as db:
            try:
                typer.echo(json.dumps(db.get_run(run_id), indent=2))
            except KeyError as exc:
                raise _unknown_run(exc) from None

    guard(run)


@app.command("plot")
def runs_plot(
    run_ids: Annotated[list[str], typer.Argument(help="Runs to draw on one figure.")],
    out: Annotated[str, typer.Option(help="PNG path.")] = "runs/curves.png",
    store: StoreOption = DEFAULT_STORE_PATH,
) -> None:
    """Training curves (mean and standard error over seeds) of stored runs."""

    def run() -> None:
        from robustmas.experiments.report import plot_runs

        try:
            path = plot_runs(store, run_ids, out)
        except KeyError as exc:
            raise _unknown_run(exc) from None
        typer.echo(f"wrote {path}")

    guard(run)

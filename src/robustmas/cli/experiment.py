"""``robustmas experiment list|run|status|report``: paper figures as presets, run and reported.

``run`` takes a shipped preset id (``robustmas experiment list``) or a TOML file of the same
format (:mod:`robustmas.experiments.preset`).  Running the same command again continues the
same run: finished cells are skipped and a killed cell resumes from its last checkpoint.
Progress (overall and per cell) goes to stderr: live bars on a terminal, plain timestamped
lines otherwise (a log file, CI), so a long run under ``nohup`` shows where it is; the table
goes to stdout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import IO, Annotated, Any

import typer

from robustmas.cli._common import DEFAULT_STORE_PATH, JsonOption, StoreOption, UserError, guard

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Paper figures as presets: run, follow, report.")


def _budgets(preset: object) -> str:
    from robustmas.experiments.preset import Preset

    assert isinstance(preset, Preset)
    return ", ".join(
        f"{b}: {len(preset.cells(b))} cells x {preset.budget_seeds(b)} seeds"
        for b in preset.budgets
    )


class LineProgress:
    """Progress as plain lines, for a stream that is not a terminal (a log file, CI).

    One line when a cell starts, finishes or is skipped, and at most one per ``every`` seconds
    while it runs, each stamped with the time since the run began.
    """

    def __init__(
        self,
        stream: IO[str],
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.every = every
        self.clock = clock
        self.began = clock()
        self.cell_began = self.began
        self.last = self.began
        self.cells_done = 0

    def _line(self, text: str) -> None:
        elapsed = int(self.clock() - self.began)
        stamp = f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        self.stream.write(f"[{stamp}] {text}\n")
        self.stream.flush()

    def __call__(self, event: Any) -> None:
        """Take one :class:`~robustmas.experiments.runner.ExperimentProgress` event."""
        now = self.clock()
        of = f"{event.cells_total} cells"
        if event.event == "skip":
            self.cells_done += 1
            self._line(f"{event.cell}: finished earlier, skipped ({self.cells_done} of {of})")
        elif event.event == "start":
            self.cell_began = self.last = now
            self._line(f"{event.cell}: started")
        elif event.event == "finish":
            self.cells_done += 1
            took = now - self.cell_began
            self._line(f"{event.cell}: finished in {took:.0f} s ({self.cells_done} of {of} done)")
        elif now - self.last >= self.every and event.total:
            self.last = now
            share = 100.0 * event.done / event.total
            self._line(f"{event.cell}: {event.done}/{event.total} ({share:.0f}%)")


@app.command("list")
def experiment_list() -> None:
    """List the shipped presets: id, kind, budgets and the figure each reproduces."""

    def run() -> None:
        from robustmas.experiments.preset import list_presets

        for preset in list_presets():
            typer.echo(f"{preset.id:<18} {preset.kind:<18} {preset.title}")
            typer.echo(f"{'':<18} {preset.paper}")
            typer.echo(f"{'':<18} {_budgets(preset)}")

    guard(run)


@app.command("run")
def experiment_run(
    preset: Annotated[str, typer.Argument(help="Shipped preset id or a .toml file.")],
    budget: Annotated[str, typer.Option(help="smoke (minutes) or full (the paper's).")] = "smoke",
    backend: Annotated[str, typer.Option(help="local (this process) or ray.")] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster address (with --backend ray; default: a local Ray)."),
    ] = None,
    seeds: Annotated[
        int | None, typer.Option(help="Seeds per cell (default: the budget's).")
    ] = None,
    report: Annotated[
        str | None, typer.Option(help="Also write the HTML report into this folder.")
    ] = None,
    tensorboard: Annotated[
        str | None,
        typer.Option(help="Also write curves as TensorBoard event files into this folder."),
    ] = None,
    wandb: Annotated[
        str | None,
        typer.Option(help="Also log curves to Weights & Biases, its files in this folder."),
    ] = None,
    wandb_project: Annotated[str, typer.Option(help="W&B project (with --wandb).")] = "robustmas",
    wandb_mode: Annotated[
        str,
        typer.Option(help="W&B mode (with --wandb): offline (sync later), online or disabled."),
    ] = "offline",
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
    store: StoreOption = DEFAULT_STORE_PATH,
) -> None:
    """Run (or continue) an experiment; prints its run id and table."""

    def run() -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskID,
            TimeElapsedColumn,
        )

        from robustmas.experiments.preset import load_preset
        from robustmas.experiments.runner import (
            ExperimentProgress,
            experiment_table,
            run_experiment,
        )

        loaded = load_preset(preset)
        if seeds is not None and seeds < 1:
            raise UserError(f"--seeds: must be >= 1, got {seeds}")
        console = Console(stderr=True)
        lines = None if quiet or console.is_terminal else LineProgress(console.file)
        bars = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet or lines is not None,
        )
        overall = bars.add_task("cells", total=None)
        current: dict[str, TaskID] = {}

        def on_progress(event: ExperimentProgress) -> None:
            if lines is not None:
                lines(event)
            bars.update(overall, total=event.cells_total)
            if event.event == "skip":
                bars.advance(overall)
            elif event.event == "start":
                current["task"] = bars.add_task(f"  {event.cell}", total=None)
            elif event.event == "finish":
                bars.advance(overall)
                if "task" in current:
                    bars.remove_task(current.pop("task"))
            elif "task" in current:
                bars.update(current["task"], completed=event.done, total=event.total)

        from robustmas.experiments.sinks import MetricSink, TensorBoardSink, WandbSink

        sinks: list[MetricSink] = [] if tensorboard is None else [TensorBoardSink(tensorboard)]
        if wandb is not None:
            sinks.append(WandbSink(wandb, project=wandb_project, mode=wandb_mode))
        try:
            with bars:
                run_id = run_experiment(
                    loaded,
                    budget=budget,
                    seeds=seeds,
                    backend=backend,
                    store=store,
                    progress=on_progress,
                    sinks=sinks,
                    ray_address=ray_address,
                )
        finally:
            for sink in sinks:
                sink.close()
        table = experiment_table(store, run_id)
        typer.echo(f"run {run_id} ({loaded.id}, budget {budget}, {table.seeds} seeds)")
        typer.echo(table.markdown())
        if report is not None:
            _write(store, run_id, report)

    guard(run)


def _write(store: str, run_id: str, out: str) -> None:
    from robustmas.experiments.report import write_report
    from robustmas.experiments.runner import curves, experiment_table

    index = write_report(experiment_table(store, run_id), curves(store, run_id), out)
    typer.echo(f"report: {index}")


@app.command("status")
def experiment_status(
    run_id: Annotated[str, typer.Argument(help="Run id (printed by `experiment run`).")],
    store: StoreOption = DEFAULT_STORE_PATH,
    as_json: JsonOption = False,
) -> None:
    """Which cells of a run are finished, and how long each took."""

    def run() -> None:
        from robustmas.experiments.store import RunStore

        with RunStore(store) as db:
            try:
                record = db.get_run(run_id)
            except KeyError as exc:
                raise UserError(str(exc).strip("'\"")) from None
            cells = db.cells(run_id)
        if record["kind"] != "experiment":
            raise UserError(
                f"{run_id}: a {record['kind']} run, not an experiment; see `robustmas runs show`"
            )
        planned = record["config"].get("cells", [])
        status = {
            "run_id": run_id,
            "status": record["status"],
            "budget": record["config"].get("budget"),
            "cells": [
                {
                    "cell": name,
                    "finished": name in cells,
                    "seconds": cells[name]["seconds"] if name in cells else None,
                }
                for name in planned
            ],
        }
        if as_json:
            typer.echo(json.dumps(status, indent=2))
            return
        done = sum(c["finished"] for c in status["cells"])
        typer.echo(f"{run_id}: {record['status']}, {done} of {len(planned)} cells finished")
        for c in status["cells"]:
            took = f"{c['seconds']:.1f} s" if c["seconds"] is not None else "-"
            typer.echo(f"  {'done' if c['finished'] else 'todo':<5} {c['cell']:<40} {took}")

    guard(run)


@app.command("report")
def experiment_report(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    out: Annotated[str, typer.Option(help="Folder for index.html, table.md, results.json.")],
    store: StoreOption = DEFAULT_STORE_PATH,
) -> None:
    """Write a run's static, self-contained HTML report (and its table as Markdown and JSON)."""

    def run() -> None:
        try:
            _write(store, run_id, out)
        except KeyError as exc:
            raise UserError(str(exc).strip("'\"")) from None

    guard(run)

"""``robustmas stackelberg-pomdp list|train|reproduce``: learn a leader against no-regret followers.

``train`` parses a :class:`~robustmas.experiments.run.RunSpec` (or a run id to resume) and
hands it to :func:`~robustmas.experiments.run.run_job`, showing a progress bar on a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from robustmas.cli._common import (
    DEFAULT_STORE_PATH,
    JsonOption,
    StoreOption,
    UserError,
    guard,
    print_registry,
)

if TYPE_CHECKING:
    from robustmas.experiments.run import ProgressFn

app = typer.Typer(no_args_is_help=True, help="Learn a leader against no-regret followers.")

_FLAGS = {
    "setting": "SETTING",
    "params": "--param",
    "critic": "--critic",
    "seeds": "--seeds",
    "seed": "--seed",
    "steps": "--steps",
    "resume": "--resume",
}
"""Run-spec fields -> the flags that set them (errors name the flag)."""


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[ProgressFn | None]:
    """A rich progress bar on a terminal's stderr (updates per seed); ``None`` otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("training", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


@app.command("list")
def spomdp_list() -> None:
    """List Stackelberg POMDP settings."""
    from robustmas.envs.stackelberg.settings import SETTINGS

    print_registry(SETTINGS.values())


@app.command("train")
def spomdp_train(
    setting: Annotated[
        str | None, typer.Argument(help="Preset id (see `list`) or a two-player .nfg.")
    ] = None,
    randomized: Annotated[bool, typer.Option(help="Leader commits to a mixed strategy.")] = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Setting parameter KEY=VALUE (repeat).")
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds trained side by side.")] = 10,
    seed: Annotated[int, typer.Option(help="Master seed.")] = 0,
    steps: Annotated[int | None, typer.Option(help="Environment steps per seed.")] = None,
    critic: Annotated[str, typer.Option(help="full (MAPPO) or none (PPO).")] = "full",
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run from its checkpoint.")
    ] = None,
    store: StoreOption = DEFAULT_STORE_PATH,
    plot: Annotated[str | None, typer.Option(help="Write the training curve PNG here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Train the leader; prints the greedy leader's final reward (mean over seeds).

    The run is checkpointed every 50 updates next to the store (``checkpoints/RUN.msgpack``);
    ``--resume RUN`` continues a crashed run with the same numbers an uninterrupted run gives.
    """

    def run() -> None:
        from robustmas.compilation.program_cache import default_cache_dir
        from robustmas.compilation.xla import enable_compilation_cache
        from robustmas.experiments.run import (
            ATTAINMENT_SHORTFALL,
            RunSpec,
            RunSpecError,
            attainment,
            run_job,
        )
        from robustmas.games.registry import parse_assignments

        try:
            spec = None
            if resume is None:
                if setting is None:
                    raise UserError("SETTING: give a preset id or a .nfg path (or --resume RUN)")
                raw = parse_assignments(param or [], "--param")  # typed by start_run
                spec = RunSpec(
                    setting,
                    tuple(raw.items()),
                    randomized=randomized,
                    critic=critic,
                    seeds=seeds,
                    seed=seed,
                    steps=steps,
                    store=store,
                )
            elif setting is not None:
                raise UserError("SETTING: give a setting or --resume RUN, not both")
            enable_compilation_cache()
            with _progress_bar(not as_json) as progress:
                result = run_job(
                    spec,
                    resume=resume,
                    store=store,
                    progress=progress,
                    program_cache=default_cache_dir(),
                    plot=plot,
                )
        except RunSpecError as exc:
            raise UserError(f"{_FLAGS.get(exc.field, exc.field)}: {exc.reason}") from None
        final = result.final_metrics()
        name, optimum = result.run.spec.setting, result.optimum
        reach = attainment(result)
        extra = reach.to_json() if reach is not None else {"attainable": None}
        if reach is not None and reach.short:
            typer.echo(
                f"warning: the greedy leaders' maps earn {reach.greedy_value:.4f}, more than "
                f"{ATTAINMENT_SHORTFALL:.0%} below the attainable {reach.attainable.value:.4f} "
                "(the best any map earns under this setting's follower dynamics); train longer "
                "or with more seeds",
                err=True,
            )
        if as_json:
            typer.echo(json.dumps({**final, **extra, "run_id": result.run_id, "setting": name}))
            return
        typer.echo(
            f"{name}: greedy leader reward {result.final_reward:.4f} over "
            f"{result.run.spec.seeds} seeds"
            + (f" (optimum {optimum:g})" if optimum is not None else "")
        )
        typer.echo("  per seed: " + ", ".join(f"{v:.4f}" for v in result.leader.per_seed))
        if reach is not None:
            kind = "" if reach.attainable.exact else f", {reach.attainable.bound.replace('_', ' ')}"
            typer.echo(
                f"  attainable under the follower dynamics {reach.attainable.value:.4f}{kind}; "
                f"greedy maps' exact value {reach.greedy_value:.4f}"
            )
        typer.echo(f"  run {result.run_id} stored in {store}")

    guard(run)


@app.command("reproduce")
def spomdp_reproduce(
    out: Annotated[str, typer.Option(help="Folder for table.md, results.json and plots.")] = (
        "runs/reproduce-stackelberg"
    ),
    seeds: Annotated[int, typer.Option(help="Seeds per setting.")] = 10,
) -> None:
    """Reproduce the paper's table (every setting, MAPPO and PPO); takes about 10-20 minutes."""

    def run() -> None:
        from robustmas.compilation.xla import enable_compilation_cache
        from robustmas.experiments.reproduce import reproduce_stackelberg

        if seeds < 2:
            raise UserError("--seeds: need at least 2 for standard errors")
        enable_compilation_cache()
        reproduce_stackelberg(out, seeds=seeds)
        typer.echo(Path(out, "table.md").read_text())
        typer.echo(f"plots and results.json in {out}")

    guard(run)

"""The experiment runner: a preset at a budget, expanded into cells, run, stored, tabulated.

:func:`run_experiment` expands a :class:`~robustmas.experiments.preset.Preset` into its cells,
runs the ones the store does not hold yet (each cell's seeds in one vmapped call, by its
:class:`~robustmas.experiments.cells.CellKind`), and records every finished cell in the DuckDB
:class:`~robustmas.experiments.store.RunStore` (table ``cells``).  The run's id is a digest of
the preset's text, the budget and the seeds, so running the same command again continues the
same run: finished cells are skipped and a cell killed half-way resumes from its last
checkpoint (kept in ``<store folder>/experiments/<run id>/<cell>/``).  Backends: ``local``
(default: cells one after another in this process) and ``ray`` (cells as Ray tasks; the
optional ``ray`` extra; the driver alone writes the store).

:func:`experiment_table` turns a run's cells into rows (mean and standard error over seeds per
metric, the cell's exact references and the paper's numbers) and evaluates the preset's checks.
The library prints nothing: progress goes to a callback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustmas.experiments.cells import get_kind
from robustmas.experiments.preset import Cell, Check, Preset, PresetError, parse_preset
from robustmas.experiments.report import mean_and_stderr
from robustmas.experiments.sinks import MetricSink
from robustmas.experiments.store import DEFAULT_STORE, RunStore

__all__ = [
    "BACKENDS",
    "KIND",
    "RAY_STORE",
    "CheckResult",
    "ExperimentProgress",
    "ExperimentTable",
    "Row",
    "cell_folder",
    "cell_workdir",
    "curves",
    "evaluate_check",
    "experiment_run_id",
    "experiment_table",
    "load_run_preset",
    "run_experiment",
]

KIND = "experiment"
"""The ``kind`` under which experiment runs are recorded in the store's ``runs`` table."""

BACKENDS = ("local", "ray")
"""Where cells run."""

RAY_STORE = 200 * 1024 * 1024
"""Object-store bytes of a local Ray instance started by the runner (cells return small JSON
results, so the default of 30% of memory is not needed)."""


@dataclass(frozen=True)
class ExperimentProgress:
    """One progress event: which cell, how far it is, how many cells are done."""

    cell: str
    """Cell name."""
    cell_index: int
    """Position of the cell among those this call runs (0-based)."""
    cells_to_run: int
    """Cells this call runs (finished ones are skipped)."""
    cells_total: int
    """Cells of the experiment."""
    done: int
    """Units of the cell done (rounds, updates)."""
    total: int
    """Units of the cell."""
    event: str = "progress"
    """``start``, ``progress``, ``finish`` or ``skip``."""


ProgressFn = Callable[[ExperimentProgress], None]


def experiment_run_id(preset: Preset, budget: str, seeds: int) -> str:
    """``<preset id>-<budget>-<digest>`` of the preset text, the budget and the seeds.

    The same three give the same id, so rerunning a command continues its run.
    """
    digest = hashlib.sha256(f"{preset.text}\0{budget}\0{seeds}".encode()).hexdigest()[:8]
    return f"{preset.id}-{budget}-{digest}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)[:120]


def cell_workdir(store: str | Path, run_id: str, cell: str) -> Path:
    """Checkpoint folder of one cell of a run (beside the store file)."""
    return cell_folder(Path(store).parent / "experiments" / run_id, cell)


def cell_folder(run_dir: str | Path, cell: str) -> Path:
    """Checkpoint folder of the cell named ``cell`` in a run's folder ``run_dir``."""
    return Path(run_dir) / _slug(cell)


def _run_cell(
    preset_text: str, source: str, cell_name: str, budget: str, seeds: int, workdir: str
) -> tuple[dict[str, Any], float]:
    """Run one cell from plain arguments (what a Ray task receives)."""
    preset = parse_preset(preset_text, source)
    cell = next(c for c in preset.cells(budget) if c.name == cell_name)
    start = time.perf_counter()
    result = get_kind(preset.kind).run(
        cell.settings, seeds, preset.seed, Path(workdir), lambda done, total: None
    )
    return result, time.perf_counter() - start


def run_experiment(
    preset: Preset,
    *,
    budget: str = "smoke",
    seeds: int | None = None,
    backend: str = "local",
    store: str | Path = DEFAULT_STORE,
    progress: ProgressFn | None = None,
    sinks: Sequence[MetricSink] = (),
    ray_address: str | None = None,
) -> str:
    """Run (or continue) ``preset`` at ``budget``; returns the run id.

    Args:
        preset: the experiment.
        budget: a budget the preset defines (``smoke``, ``full``).
        seeds: seeds per cell (``None``: the budget's, else the preset's).
        backend: ``local`` or ``ray``.
        store: DuckDB file; cell checkpoints go beside it.
        progress: called with :class:`ExperimentProgress` events.
        sinks: also receive every cell this call finishes (e.g.
            :class:`~robustmas.experiments.sinks.TensorBoardSink`).
        ray_address: the Ray cluster to connect to (``backend="ray"``; ``None``: start a
            local instance unless Ray is already initialised).  Cell checkpoints then live on
            the workers' file system under the store's folder, which must be shared storage
            for a killed cell to resume on another machine.

    Raises:
        PresetError: an unknown budget; ValueError: an unknown backend or ``seeds < 1``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if ray_address is not None and backend != "ray":
        raise ValueError("ray_address: only with backend 'ray'")
    if budget not in preset.budgets:
        raise PresetError(
            f"budget: {budget!r} is not defined by {preset.id}; defined: "
            f"{', '.join(preset.budgets)}"
        )
    n_seeds = preset.budget_seeds(budget) if seeds is None else seeds
    if isinstance(n_seeds, bool) or n_seeds < 1:
        raise ValueError(f"seeds: must be >= 1, got {n_seeds}")
    cells = preset.cells(budget)
    run_id = experiment_run_id(preset, budget, n_seeds)
    report = progress or (lambda event: None)
    with RunStore(store) as db:
        if db.has_run(run_id):
            db.set_status(run_id, "running")
        else:
            config = {
                "preset": preset.text,
                "source": preset.source,
                "budget": budget,
                "backend": backend,
                "cells": [c.name for c in cells],
            }
            db.create_run(KIND, preset.id, config, list(range(n_seeds)), run_id=run_id)
        finished = db.cells(run_id)
    todo = [c for c in cells if c.name not in finished]
    for c in cells:
        if c.name in finished:
            report(ExperimentProgress(c.name, -1, len(todo), len(cells), 1, 1, "skip"))
    if backend == "ray":
        _run_ray(
            preset, budget, n_seeds, todo, len(cells), store, run_id, report, sinks, ray_address
        )
    else:
        kind = get_kind(preset.kind)
        for index, cell in enumerate(todo):

            def cell_progress(done: int, total: int, cell: Cell = cell, index: int = index) -> None:
                report(ExperimentProgress(cell.name, index, len(todo), len(cells), done, total))

            report(ExperimentProgress(cell.name, index, len(todo), len(cells), 0, 1, "start"))
            start = time.perf_counter()
            workdir = cell_workdir(store, run_id, cell.name)
            result = kind.run(cell.settings, n_seeds, preset.seed, workdir, cell_progress)
            seconds = time.perf_counter() - start
            with RunStore(store) as db:
                db.put_cell(run_id, cell.name, dict(cell.point), result, seconds)
            for sink in sinks:
                sink.write_cell(run_id, cell.name, result)
            report(ExperimentProgress(cell.name, index, len(todo), len(cells), 1, 1, "finish"))
    with RunStore(store) as db:
        db.finish(run_id, {"cells": len(cells)}, status="finished")
    return run_id


def _run_ray(
    preset: Preset,
    budget: str,
    seeds: int,
    todo: Sequence[Cell],
    total: int,
    store: str | Path,
    run_id: str,
    report: ProgressFn,
    sinks: Sequence[MetricSink],
    address: str | None,
) -> None:
    try:
        import ray  # pyright: ignore[reportMissingImports]
    except ImportError:
        raise ValueError(
            "backend: 'ray' needs the ray extra: pip install 'robustmas[ray]'"
        ) from None
    if address is not None:
        ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
    elif not ray.is_initialized():  # a local instance
        ray.init(include_dashboard=False, log_to_driver=False, object_store_memory=RAY_STORE)
    task = ray.remote(_run_cell)
    pending = {
        task.remote(
            preset.text,
            preset.source,
            c.name,
            budget,
            seeds,
            str(cell_workdir(store, run_id, c.name).resolve()),
        ): (i, c)
        for i, c in enumerate(todo)
    }
    for i, c in pending.values():
        report(ExperimentProgress(c.name, i, len(todo), total, 0, 1, "start"))
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        i, c = pending.pop(ready[0])
        result, seconds = ray.get(ready[0])
        with RunStore(store) as db:
            db.put_cell(run_id, c.name, dict(c.point), result, seconds)
        for sink in sinks:
            sink.write_cell(run_id, c.name, result)
        report(ExperimentProgress(c.name, i, len(todo), total, 1, 1, "finish"))


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Row:
    """One cell of the table."""

    cell: str
    """Cell name."""
    point: Mapping[str, Any]
    """Grid fields and values (and the row's label and fields)."""
    settings: Mapping[str, Any]
    """Every field of the cell's settings (checks' ``where`` and references read them too)."""
    mean: Mapping[str, float]
    """Metric -> mean over seeds."""
    stderr: Mapping[str, float]
    """Metric -> standard error over seeds (0 with one seed)."""
    per_seed: Mapping[str, Sequence[float]]
    """Metric -> value per seed."""
    reference: Mapping[str, float]
    """Exact yardsticks of the cell."""
    paper: Mapping[str, float]
    """The paper's numbers for this cell, by metric."""
    seconds: float | None
    """Wall time of the cell (not part of the table's text)."""


@dataclass(frozen=True)
class CheckResult:
    """A check evaluated on a table."""

    check: Check
    """The preset's check."""
    passed: bool
    """Whether it holds."""
    detail: str
    """The numbers behind the verdict."""


@dataclass(frozen=True)
class ExperimentTable:
    """A run's table: rows in the preset's cell order, metrics, checks."""

    run_id: str
    """The run."""
    preset: Preset
    """Its preset."""
    budget: str
    """Its budget."""
    seeds: int
    """Seeds per cell."""
    metrics: Mapping[str, str]
    """Metric -> description (the kind's)."""
    rows: tuple[Row, ...]
    """Finished cells."""
    missing: tuple[str, ...]
    """Cells not finished yet."""
    checks: tuple[CheckResult, ...] = field(default=())
    """The preset's checks (only evaluated when no cell is missing)."""
    compare_columns: bool = False
    """A cross table (rows: methods, columns: test types, higher is better): cells within one
    s.e. of their column's best are marked (:meth:`near_best`)."""

    def near_best(self) -> set[tuple[str, str]]:
        """``(cell, metric)`` pairs whose mean plus one s.e. reaches the column's best mean.

        Empty unless :attr:`compare_columns`.  RP Fig. 3's text marks the cells "within
        standard error" of the column's top-1 this way.
        """
        if not self.compare_columns:
            return set()
        out = set()
        for m in self.metrics:
            rows = [r for r in self.rows if m in r.mean]
            if not rows:
                continue
            best = max(r.mean[m] for r in rows)
            out |= {(r.cell, m) for r in rows if r.mean[m] + r.stderr[m] >= best}
        return out

    def layout(self) -> tuple[list[str], list[list[tuple[str, float | None]]]]:
        """Column names and, per row, each cell's text with the paper's number (or ``None``).

        Columns: the cell's fields (:attr:`~robustmas.experiments.preset.Preset.point_fields`),
        the metrics as mean ± s.e. (`` *`` where within one s.e. of the column's best, for
        cross tables), then the references.
        """
        fields = self.preset.point_fields
        metrics = [m for m in self.metrics if any(m in r.mean for r in self.rows)]
        refs = sorted({k for r in self.rows for k in r.reference})
        near = self.near_best()
        rows = []
        for r in self.rows:
            row: list[tuple[str, float | None]] = [
                (f"{r.point[g]:g}" if isinstance(r.point[g], float) else str(r.point[g]), None)
                for g in fields
            ]
            row += [
                (
                    f"{r.mean[m]:.3f} ± {r.stderr[m]:.3f}{' *' if (r.cell, m) in near else ''}"
                    if m in r.mean
                    else "-",
                    r.paper.get(m),
                )
                for m in metrics
            ]
            row += [(f"{r.reference[k]:.3f}" if k in r.reference else "-", None) for k in refs]
            rows.append(row)
        return [*fields, *metrics, *refs], rows

    def markdown(self) -> str:
        """The table as Markdown (mean ± s.e. over seeds).

        No timings, so two runs with the same seeds give the same text.
        """
        head, rows = self.layout()
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in rows:
            cells = [text if paper is None else f"{text} (paper {paper:g})" for text, paper in row]
            lines.append("| " + " | ".join(cells) + " |")
        for name in self.missing:
            lines.append(f"| {name} (not finished) |" + " |" * (len(head) - 1))
        out = "\n".join(lines) + "\n"
        if self.compare_columns:
            out += "\n`*`: within one standard error of the column's best mean.\n"
        if self.checks:
            out += (
                "\n"
                + "\n".join(
                    f"- [{'x' if c.passed else ' '}] {c.check.name}: {c.detail}"
                    for c in self.checks
                )
                + "\n"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """Per-seed values, means, s.e., references and check verdicts (no timings)."""
        return {
            "run_id": self.run_id,
            "preset": self.preset.id,
            "budget": self.budget,
            "seeds": self.seeds,
            "rows": [
                {
                    "cell": r.cell,
                    "point": dict(r.point),
                    "mean": dict(r.mean),
                    "stderr": dict(r.stderr),
                    "per_seed": {k: list(v) for k, v in r.per_seed.items()},
                    "reference": dict(r.reference),
                    "paper": dict(r.paper),
                }
                for r in self.rows
            ],
            "missing": list(self.missing),
            "checks": [
                {"name": c.check.name, "passed": c.passed, "detail": c.detail} for c in self.checks
            ],
        }


_ROUNDING = 1e-9
"""Slack for bounds a statistic can meet exactly (e.g. a rank correlation of 0.9 with 5 cells)."""


def _matches(row: Row, where: Sequence[tuple[str, Any]]) -> bool:
    return all(row.point.get(k, row.settings.get(k)) == v for k, v in where)


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    rho = spearmanr(x, y).statistic  # type: ignore[attr-defined]
    return float(rho) if np.isfinite(rho) else float("nan")


def _value(row: Row, name: str) -> float | None:
    """A metric's mean, else a reference, else a numeric field of the cell's settings."""
    if name in row.mean:
        return row.mean[name]
    if name in row.reference:
        return row.reference[name]
    value = row.point.get(name, row.settings.get(name))
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _unmatched(check: Check, rows: Sequence[Row], targets: Sequence[Row]) -> CheckResult:
    if not targets:
        return CheckResult(check, False, "no cell matches its 'against'")
    if any(check.y not in r.mean or check.reference not in r.mean for r in [*rows, *targets]):
        return CheckResult(check, False, f"metric {check.y!r} or {check.reference!r} missing")
    best = min(targets, key=lambda r: r.mean[check.y])
    y0, ref0 = best.mean[check.y], best.mean[check.reference]
    # A cell is clearly apart from the target when its y is higher by more than one standard
    # error or its reference (regret) is. The spec's rule allows no error on y; this is stricter.
    reached = [
        r.cell
        for r in rows
        if r.mean[check.y] <= y0 + r.stderr[check.y]
        and r.mean[check.reference] <= ref0 + r.stderr[check.reference]
    ]
    detail = (
        f"{best.cell}: {check.y} {y0:.3f} at {check.reference} {ref0:.3f}; "
        f"{len(rows) - len(reached)} of {len(rows)} cells do not reach it"
    )
    if reached:
        detail += "; reached by: " + "; ".join(reached[:4])
    return CheckResult(check, not reached, detail)


def _rank_rows(check: Check, rows: Sequence[Row]) -> CheckResult:
    """``best_worst_column`` / ``best_mean_rank`` of the row matching ``where``."""
    missing = [f"{r.cell}: {c}" for r in rows for c in check.columns if c not in r.mean]
    if missing:
        return CheckResult(check, False, "missing: " + "; ".join(missing[:4]))
    mine = [r for r in rows if _matches(r, check.where)]
    if len(mine) != 1:
        return CheckResult(check, False, f"{len(mine)} rows match its 'where' (need one)")
    row = mine[0]
    others = [r for r in rows if r is not row]
    if check.test == "best_worst_column":
        worst = {r.cell: min(r.mean[c] for c in check.columns) for r in rows}
        rival = max(others, key=lambda r: worst[r.cell]) if others else row
        slack = check.tolerance + _ROUNDING
        ok = all(worst[row.cell] >= worst[r.cell] - slack for r in others)
        detail = (
            f"{row.cell}: worst column {worst[row.cell]:.3f}; best other row {rival.cell}: "
            f"{worst[rival.cell]:.3f}"
        )
        return CheckResult(check, ok, detail)
    from scipy.stats import rankdata

    means = np.array([[r.mean[c] for c in check.columns] for r in rows])
    ranks = np.stack([rankdata(-means[:, j]) for j in range(len(check.columns))], 1).mean(1)
    index = rows.index(row)
    order = np.argsort(ranks, kind="stable")
    ok = all(ranks[index] <= ranks[j] + _ROUNDING for j in range(len(rows)))
    detail = "mean ranks: " + "; ".join(f"{rows[j].cell} {ranks[j]:.2f}" for j in order[:4])
    if index not in order[:4]:
        detail += f"; {row.cell} {ranks[index]:.2f}"
    return CheckResult(check, ok, detail)


def _compare_rows(check: Check, rows: Sequence[Row]) -> CheckResult:
    """``row_at_least`` / ``row_at_most``: the ``where`` row against the ``against`` row."""
    mine = [r for r in rows if _matches(r, check.where)]
    theirs = [r for r in rows if _matches(r, check.against)]
    if len(mine) != 1 or len(theirs) != 1:
        return CheckResult(check, False, "its 'where' and 'against' must each match one row")
    a, b = mine[0], theirs[0]
    failures = []
    for c in check.columns:
        if c not in a.mean or c not in b.mean:
            failures.append(f"{c} missing")
            continue
        f = check.factor
        slack = check.stderrs * float(np.hypot(a.stderr[c], f * b.stderr[c])) + check.tolerance
        gap = a.mean[c] - f * b.mean[c]
        if (check.test == "row_at_least" and gap < -slack) or (
            check.test == "row_at_most" and gap > slack
        ):
            scaled = f"{f:g} x {b.mean[c]:.3f}" if f != 1 else f"{b.mean[c]:.3f}"
            failures.append(f"{c}: {a.mean[c]:.3f} vs {scaled} (slack {slack:.3f})")
    detail = f"{a.cell} against {b.cell}: {len(check.columns) - len(failures)} of "
    detail += f"{len(check.columns)} columns hold"
    if failures:
        detail += "; fails: " + "; ".join(failures[:4])
    return CheckResult(check, not failures, detail)


def evaluate_check(check: Check, rows: Sequence[Row]) -> CheckResult:
    """One check on finished rows (see :class:`~robustmas.experiments.preset.Check`)."""
    if check.test in ("best_worst_column", "best_mean_rank"):
        return _rank_rows(check, rows)
    if check.test in ("row_at_least", "row_at_most"):
        return _compare_rows(check, rows)
    all_rows = rows
    rows = [
        r
        for r in rows
        if _matches(r, check.where)
        and (check.x_max is None or float(r.point[check.x]) <= check.x_max)
    ]
    if not rows:
        return CheckResult(check, False, "no cell matches its 'where'")
    if check.test == "unmatched":
        return _unmatched(check, rows, [r for r in all_rows if _matches(r, check.against)])
    if check.test in ("increasing", "decreasing"):
        xs = [float(r.point[check.x]) for r in rows]
        ys = [_value(r, check.y) for r in rows]
        if any(y is None for y in ys):
            return CheckResult(check, False, f"metric {check.y!r} missing")
        rho = _spearman(xs, [float(y) for y in ys if y is not None])
        if check.test == "increasing":
            ok, need = bool(rho >= check.value - _ROUNDING), f">= {check.value:g}"
        else:
            ok, need = bool(rho <= -check.value + _ROUNDING), f"<= {-check.value:g}"
        return CheckResult(check, ok, f"rank correlation {rho:.3f} (need {need})")
    failures, worst = [], 0.0
    for r in rows:
        y = _value(r, check.y)
        ref = _value(r, check.reference) if check.reference else check.value
        if y is None or ref is None:
            failures.append(f"{r.cell}: {check.y!r} or {check.reference!r} missing")
            continue
        if check.test == "within":
            gap = abs(y - ref)
            worst = max(worst, gap)
            if gap > check.tolerance:
                failures.append(f"{r.cell}: {y:.3f} vs {ref:.3f}")
        elif check.test == "at_most" and y > ref + check.tolerance:
            failures.append(f"{r.cell}: {y:.3f} > {ref:.3f}")
        elif check.test == "at_least" and y < ref - check.tolerance:
            failures.append(f"{r.cell}: {y:.3f} < {ref:.3f}")
    if check.test == "within":
        detail = f"largest gap {worst:.3f} (tolerance {check.tolerance:g})"
    else:
        detail = f"{len(rows) - len(failures)} of {len(rows)} cells hold"
    if failures:
        detail += "; fails: " + "; ".join(failures[:4])
    return CheckResult(check, not failures, detail)


def load_run_preset(record: Mapping[str, Any]) -> Preset:
    """The preset a stored run was started from (its text is stored with the run)."""
    return parse_preset(record["config"]["preset"], record["config"]["source"])


def experiment_table(store: str | Path, run_id: str) -> ExperimentTable:
    """The table of a stored run (finished cells; checks once every cell is finished).

    Raises:
        KeyError: unknown run id; ValueError: the run is not an experiment.
    """
    with RunStore(store) as db:
        record = db.get_run(run_id)
        cells = db.cells(run_id)
    if record["kind"] != KIND:
        raise ValueError(f"run {run_id}: a {record['kind']} run, not an experiment")
    preset = load_run_preset(record)
    budget = record["config"]["budget"]
    kind = get_kind(preset.kind)
    rows, missing = [], []
    for cell in preset.cells(budget):
        if cell.name not in cells:
            missing.append(cell.name)
            continue
        result = cells[cell.name]["result"]
        per_seed = {k: [float(v) for v in vals] for k, vals in result["per_seed"].items()}
        settings = dataclasses.asdict(cell.settings)
        paper = {
            p.metric: p.value
            for p in preset.paper_values
            if all(dict(cell.point).get(k, settings.get(k)) == v for k, v in p.where)
        }
        rows.append(
            Row(
                cell=cell.name,
                point=dict(cell.point),
                settings=settings,
                mean={k: float(np.mean(v)) for k, v in per_seed.items()},
                stderr={
                    k: float(mean_and_stderr(np.asarray(v)[:, None])[1][0])
                    for k, v in per_seed.items()
                },
                per_seed=per_seed,
                reference={k: float(v) for k, v in result.get("reference", {}).items()},
                paper=paper,
                seconds=cells[cell.name]["seconds"],
            )
        )
    checks = () if missing else tuple(evaluate_check(c, rows) for c in preset.checks)
    return ExperimentTable(
        run_id=run_id,
        preset=preset,
        budget=budget,
        seeds=len(record["seeds"]),
        metrics=_metrics(kind, rows),
        rows=tuple(rows),
        missing=tuple(missing),
        checks=checks,
        compare_columns=bool(getattr(kind, "compare_columns", False)),
    )


def _metrics(kind: Any, rows: Sequence[Row]) -> dict[str, str]:
    """Metric -> description: the cells' metrics beyond the kind's own, then the kind's.

    Extra metrics are e.g. a cross table's test types, described by the kind's
    ``metric_description`` where it has one.
    """
    extra: dict[str, str] = {}
    describe = getattr(kind, "metric_description", None)
    for r in rows:
        for m in r.mean:
            if m not in kind.metrics and m not in extra:
                extra[m] = describe(m) if describe else m
    return {**extra, **kind.metrics}


def curves(store: str | Path, run_id: str) -> dict[str, dict[str, Any]]:
    """Cell -> the kind's training curves (``{metric: {"x", "per_seed"}}``) of a stored run."""
    with RunStore(store) as db:
        cells = db.cells(run_id)
    return {name: c["result"].get("curves", {}) for name, c in cells.items()}

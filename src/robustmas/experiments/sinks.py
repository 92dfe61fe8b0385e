"""Metric sinks: where an experiment's finished cells are also written (besides the store).

:class:`TensorBoardSink` writes each finished cell's training curves (mean over seeds per
round, tag ``<cell>/<metric>``) and its final per-seed metrics (tag ``<cell>/final/<metric>``,
step = seed) as TensorBoard event files (tags keep letters, digits, ``_ . / -``; anything else,
e.g. the ``=`` of ``eps_per_step=0.1``, becomes ``_``: :func:`tag`), through
``tensorboardX`` (the optional ``tensorboard`` extra; no network, no TensorFlow).  A sink
receives cells as they finish, so a resumed run adds the cells it finishes to the same folder.

:class:`WandbSink` logs the same values under the same tags to Weights & Biases (the optional
``wandb`` extra): one W&B run per experiment run and sink (named and grouped by the run id, so
a resumed run's cells land in a second W&B run of the same group), curves against a logged
``step`` (the curve's x: a round or an environment step) and finals against a logged ``seed``
(``define_metric``), since W&B's own ``_step`` must only grow.  Offline by default: the run is
written under ``<dir>/wandb/offline-run-*`` and sent later, if ever, with ``wandb sync``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

__all__ = ["WANDB_MODES", "MetricSink", "TensorBoardSink", "WandbSink", "tag"]


def tag(*parts: str) -> str:
    """A TensorBoard tag from a cell name and metric names (see the module docstring)."""
    return re.sub(r"[^A-Za-z0-9_./-]", "_", "/".join(parts))


class MetricSink(Protocol):
    """Receives every cell of an experiment run when it finishes."""

    def write_cell(self, run_id: str, cell: str, result: Mapping[str, Any]) -> None:
        """Record one finished cell (its result as a cell kind returns it)."""
        ...

    def close(self) -> None:
        """Flush and release files."""
        ...


def _curve_means(curve: Mapping[str, Any]) -> list[tuple[int, float]]:
    """(step, mean over the seeds with a finite value) for each step of a curve that has one."""
    out = []
    for j, step in enumerate(curve["x"]):
        values = [row[j] for row in curve["per_seed"] if row[j] is not None]
        values = [v for v in values if math.isfinite(v)]
        if values:
            out.append((int(step), sum(values) / len(values)))
    return out


class TensorBoardSink:
    """TensorBoard event files under ``log_dir/<run id>`` (see the module docstring)."""

    def __init__(self, log_dir: str | Path):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ValueError(
                "tensorboard: needs the tensorboard extra: pip install 'robustmas[tensorboard]'"
            ) from None
        self._writer_type = SummaryWriter
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}

    def _writer(self, run_id: str) -> Any:
        if run_id not in self._writers:
            self._writers[run_id] = self._writer_type(str(self.log_dir / run_id))
        return self._writers[run_id]

    def write_cell(self, run_id: str, cell: str, result: Mapping[str, Any]) -> None:
        """Write the cell's curves (mean over seeds) and final per-seed values."""
        writer = self._writer(run_id)
        for metric, curve in result.get("curves", {}).items():
            for step, mean in _curve_means(curve):
                writer.add_scalar(tag(cell, metric), mean, step)
        for metric, values in result.get("per_seed", {}).items():
            for seed, value in enumerate(values):
                writer.add_scalar(tag(cell, "final", metric), float(value), seed)
        writer.flush()

    def close(self) -> None:
        """Close every event file."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


WANDB_MODES = ("offline", "online", "disabled")


class WandbSink:
    """Weights & Biases runs under ``wandb_dir`` (see the module docstring)."""

    def __init__(self, wandb_dir: str | Path, project: str = "robustmas", mode: str = "offline"):
        if mode not in WANDB_MODES:
            raise ValueError(
                f"mode (--wandb-mode): must be one of {', '.join(WANDB_MODES)}, got {mode!r}"
            )
        if mode == "offline":
            # Read when wandb starts its service process: no login, no error reports, no banner.
            os.environ.setdefault("WANDB_MODE", "offline")
            os.environ.setdefault("WANDB_SILENT", "true")
            os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        try:
            import wandb
        except ImportError:
            raise ValueError(
                "wandb: needs the wandb extra: pip install 'robustmas[wandb]'"
            ) from None
        self._wandb: Any = wandb
        self.wandb_dir = Path(wandb_dir)
        self.project = project
        self.mode = mode
        self._runs: dict[str, Any] = {}
        self._defined: dict[str, set[str]] = {}

    def _run(self, run_id: str) -> Any:
        if run_id not in self._runs:
            self.wandb_dir.mkdir(parents=True, exist_ok=True)
            run = self._wandb.init(
                project=self.project,
                dir=str(self.wandb_dir.resolve()),
                name=run_id,
                group=run_id,
                config={"run_id": run_id},
                mode=self.mode,
                reinit="create_new",
                settings=self._wandb.Settings(console="off"),
            )
            run.define_metric("step")
            run.define_metric("seed")
            self._runs[run_id] = run
            self._defined[run_id] = set()
        return self._runs[run_id]

    def _define(self, run_id: str, key: str, step_metric: str) -> None:
        """Plot ``key`` against ``step_metric`` (once per run)."""
        if key not in self._defined[run_id]:
            self._runs[run_id].define_metric(key, step_metric=step_metric)
            self._defined[run_id].add(key)

    def write_cell(self, run_id: str, cell: str, result: Mapping[str, Any]) -> None:
        """Log the cell's curves (mean over seeds, by step) and final per-seed values."""
        run = self._run(run_id)
        rows: dict[int, dict[str, float]] = {}
        for metric, curve in result.get("curves", {}).items():
            key = tag(cell, metric)
            self._define(run_id, key, "step")
            for step, mean in _curve_means(curve):
                rows.setdefault(step, {})[key] = mean
        for step in sorted(rows):
            run.log({"step": step, **rows[step]})
        finals: dict[int, dict[str, float]] = {}
        for metric, values in result.get("per_seed", {}).items():
            key = tag(cell, "final", metric)
            self._define(run_id, key, "seed")
            for seed, value in enumerate(values):
                finals.setdefault(seed, {})[key] = float(value)
        for seed in sorted(finals):
            run.log({"seed": seed, **finals[seed]})

    def close(self) -> None:
        """Finish every run (its service writes and closes the run's files)."""
        for run in self._runs.values():
            run.finish()
        self._runs.clear()
        self._defined.clear()

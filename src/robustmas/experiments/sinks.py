"""Metric sinks: where an experiment's finished cells are also written (besides the store).

:class:`TensorBoardSink` writes each finished cell's training curves (mean over seeds per
round, tag ``<cell>/<metric>``) and its final per-seed metrics (tag ``<cell>/final/<metric>``,
step = seed) as TensorBoard event files (tags keep letters, digits, ``_ . / -``; anything else,
e.g. the ``=`` of ``eps_per_step=0.1``, becomes ``_``: :func:`tag`), through
``tensorboardX`` (the optional ``tensorboard`` extra; no network, no TensorFlow).  A sink
receives cells as they finish, so a resumed run adds the cells it finishes to the same folder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

__all__ = ["MetricSink", "TensorBoardSink", "tag"]


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
            per_seed = curve["per_seed"]
            for j, step in enumerate(curve["x"]):
                values = [row[j] for row in per_seed if row[j] is not None]
                values = [v for v in values if math.isfinite(v)]
                if values:
                    writer.add_scalar(tag(cell, metric), sum(values) / len(values), int(step))
        for metric, values in result.get("per_seed", {}).items():
            for seed, value in enumerate(values):
                writer.add_scalar(tag(cell, "final", metric), float(value), seed)
        writer.flush()

    def close(self) -> None:
        """Close every event file."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

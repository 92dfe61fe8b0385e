"""Runs as data: a DuckDB file with every run's config, seeds, metric time series and results.

Default location ``runs/robustmas.duckdb``.  Tables::

    runs(id, kind, setting, created, status, config JSON, seeds JSON, final JSON, checkpoint)
    metrics(run_id, seed, step, name, value)
    cells(run_id, cell, settings JSON, result JSON, seconds)   -- an experiment's finished cells

Nothing is pickled: configs and results are JSON, checkpoints are msgpack files referenced by
path.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_STORE", "LOCK_WAIT_SECONDS", "RunStore"]

DEFAULT_STORE = Path("runs") / "robustmas.duckdb"

LOCK_WAIT_SECONDS = 30.0
"""How long opening a store waits for another process's lock on the file."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    setting VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    config VARCHAR NOT NULL,
    seeds VARCHAR NOT NULL,
    final VARCHAR,
    checkpoint VARCHAR
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id VARCHAR NOT NULL,
    seed INTEGER NOT NULL,
    step BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    value DOUBLE
);
CREATE TABLE IF NOT EXISTS cells (
    run_id VARCHAR NOT NULL,
    cell VARCHAR NOT NULL,
    settings VARCHAR NOT NULL,
    result VARCHAR NOT NULL,
    seconds DOUBLE,
    PRIMARY KEY (run_id, cell)
);
"""


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class RunStore:
    """A DuckDB-backed store of runs; open it with a path (parent folders are created)."""

    def __init__(self, path: str | Path = DEFAULT_STORE):
        import duckdb

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One process at a time holds a DuckDB file; writers keep it for milliseconds (a cell's
        # record), so another command (e.g. `experiment status` during a run) waits its turn.
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                self._con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._con.execute(_SCHEMA)

    def close(self) -> None:
        """Close the database file."""
        self._con.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_run(
        self,
        kind: str,
        setting: str,
        config: Mapping[str, Any],
        seeds: Sequence[int],
        run_id: str | None = None,
        checkpoint: str | None = None,
    ) -> str:
        """Register a run (status ``running``); returns its id (a short uuid unless given)."""
        run_id = run_id or uuid.uuid4().hex[:12]
        self._con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, 'running', ?, ?, NULL, ?)",
            [
                run_id,
                kind,
                setting,
                datetime.now(UTC).replace(tzinfo=None),
                json.dumps(_jsonable(config)),
                json.dumps([int(s) for s in seeds]),
                checkpoint,
            ],
        )
        return run_id

    def log_series(
        self, run_id: str, seeds: Sequence[int], steps: np.ndarray, series: Mapping[str, np.ndarray]
    ) -> None:
        """Append metric time series.

        Args:
            run_id: the run.
            seeds: seed of each row of the series, length ``S``.
            steps: environment steps, shape ``(T,)``.
            series: name -> array of shape ``(S, T)``.
        """
        steps = np.asarray(steps).reshape(-1)
        rows = []
        for name, values in series.items():
            values = np.asarray(values, dtype=np.float64).reshape(len(seeds), steps.size)
            for s, seed in enumerate(seeds):
                rows.extend(
                    (run_id, int(seed), int(step), name, float(v))
                    for step, v in zip(steps, values[s], strict=True)
                )
        if rows:
            self._con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)

    def finish(
        self,
        run_id: str,
        final: Mapping[str, Any],
        status: str = "finished",
        checkpoint: str | None = None,
    ) -> None:
        """Record final metrics and the status of a run (``checkpoint`` kept unless given)."""
        self._con.execute(
            "UPDATE runs SET final = ?, status = ?, checkpoint = coalesce(?, checkpoint) "
            "WHERE id = ?",
            [json.dumps(_jsonable(final)), status, checkpoint, run_id],
        )

    def clear_metrics(self, run_id: str) -> None:
        """Drop a run's metric series (before re-logging a resumed run's full series)."""
        self._con.execute("DELETE FROM metrics WHERE run_id = ?", [run_id])

    def has_run(self, run_id: str) -> bool:
        """Whether a run with this id is recorded."""
        row = self._con.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchone()
        return row is not None

    def put_cell(
        self,
        run_id: str,
        cell: str,
        settings: Mapping[str, Any],
        result: Mapping[str, Any],
        seconds: float | None = None,
    ) -> None:
        """Record one finished cell of an experiment run (replacing an earlier record)."""
        self._con.execute("DELETE FROM cells WHERE run_id = ? AND cell = ?", [run_id, cell])
        self._con.execute(
            "INSERT INTO cells VALUES (?, ?, ?, ?, ?)",
            [
                run_id,
                cell,
                json.dumps(_jsonable(settings)),
                json.dumps(_jsonable(result)),
                seconds,
            ],
        )

    def cells(self, run_id: str) -> dict[str, dict[str, Any]]:
        """An experiment run's finished cells: name -> ``{settings, result, seconds}``."""
        rows = self._con.execute(
            "SELECT cell, settings, result, seconds FROM cells WHERE run_id = ? ORDER BY cell",
            [run_id],
        ).fetchall()
        return {
            r[0]: {"settings": json.loads(r[1]), "result": json.loads(r[2]), "seconds": r[3]}
            for r in rows
        }

    def set_status(self, run_id: str, status: str) -> None:
        """Change a run's status (e.g. back to ``running`` when it is resumed)."""
        self._con.execute("UPDATE runs SET status = ? WHERE id = ?", [status, run_id])

    def list_runs(self) -> list[dict[str, Any]]:
        """All runs, newest first, without their metric series."""
        rows = self._con.execute(
            "SELECT id, kind, setting, created, status, final FROM runs ORDER BY created DESC"
        ).fetchall()
        return [
            {
                "id": r[0],
                "kind": r[1],
                "setting": r[2],
                "created": r[3].isoformat(),
                "status": r[4],
                "final": json.loads(r[5]) if r[5] else None,
            }
            for r in rows
        ]

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run with its config, seeds and final metrics; ``KeyError`` if unknown."""
        row = self._con.execute("SELECT * FROM runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            raise KeyError(f"run {run_id!r} not found in {self.path}")
        return {
            "id": row[0],
            "kind": row[1],
            "setting": row[2],
            "created": row[3].isoformat(),
            "status": row[4],
            "config": json.loads(row[5]),
            "seeds": json.loads(row[6]),
            "final": json.loads(row[7]) if row[7] else None,
            "checkpoint": row[8],
        }

    def metrics(self, run_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Name -> ``(steps (T,), values (S, T))`` ordered by seed then step."""
        rows = self._con.execute(
            "SELECT name, seed, step, value FROM metrics WHERE run_id = ? "
            "ORDER BY name, seed, step",
            [run_id],
        ).fetchall()
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        names = sorted({r[0] for r in rows})
        for name in names:
            sub = [r for r in rows if r[0] == name]
            seeds = sorted({r[1] for r in sub})
            steps = np.array(sorted({r[2] for r in sub}))
            values = np.full((len(seeds), steps.size), np.nan)
            col = {int(s): j for j, s in enumerate(steps)}
            row_of = {s: i for i, s in enumerate(seeds)}
            for _, seed, step, value in sub:
                values[row_of[seed], col[int(step)]] = value
            out[name] = (steps, values)
        return out

"""Chunked, resumable training of one experiment cell (shared by the cell kinds).

A cell trains all its seeds in one vmapped program, in chunks; after each chunk the state goes
to a msgpack checkpoint and the per-chunk metrics to an ``.npz`` (no pickle), so a killed cell
resumes from its last chunk and, the programs being deterministic, ends with the same bits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import jax
import numpy as np

from robustmas.experiments.cells import CellProgress
from robustmas.rl.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["ChunkedProgram", "run_chunked", "updates_done"]

S = TypeVar("S")


class ChunkedProgram:
    """An algorithm's compiled, vmapped ``init`` and ``n``-step chunk programs (one per ``n``).

    Args:
        init: the algorithm's ``init`` for one seed.
        run: ``run(state, n)``: ``n`` steps (static) for one seed, returning the state and the
            per-step metrics.
        in_axes: ``vmap`` axes of ``init``'s arguments (e.g. ``(0, None)``: keys batched, the
            environment parameters shared).
    """

    def __init__(
        self,
        init: Callable[..., Any],
        run: Callable[[Any, int], tuple[Any, Mapping[str, Any]]],
        in_axes: int | Sequence[int | None] = 0,
    ) -> None:
        self.init = jax.jit(jax.vmap(init, in_axes=in_axes))
        self._run = run
        self._chunks: dict[int, Any] = {}

    def chunk(self, n: int) -> Callable[[Any], tuple[Any, Mapping[str, Any]]]:
        """The compiled ``n``-step program over the seed axis (compiled once per ``n``)."""
        if n not in self._chunks:
            self._chunks[n] = jax.jit(jax.vmap(lambda state: self._run(state, n)))
        return self._chunks[n]


def updates_done(runner: Any) -> int:
    """PPO updates done by a vmapped runner (the same for every seed).

    ``run_chunked``'s ``count`` for PPO programs.
    """
    return int(np.asarray(runner.update_step).reshape(-1)[0])


def _save(
    workdir: Path, name: str, state: Any, history: Mapping[str, np.ndarray], config: Any
) -> None:
    # Metrics first, state second: a crash between the two leaves metrics ahead of the state,
    # which the loader truncates to the state's count.
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / f"{name}.metrics.tmp.npz"
    np.savez(tmp, **history)  # pyright: ignore[reportArgumentType]
    tmp.replace(workdir / f"{name}.metrics.npz")
    save_checkpoint(workdir / f"{name}.msgpack", state, config)


def _load(
    workdir: Path, name: str, target: Any, count: Callable[[Any], int]
) -> tuple[Any, dict[str, np.ndarray]] | None:
    path = workdir / f"{name}.msgpack"
    metrics = workdir / f"{name}.metrics.npz"
    if not metrics.exists() and (workdir / "metrics.npz").exists():
        metrics = workdir / "metrics.npz"  # a grid-sampling checkpoint of 2026-12-03 or before
    if not path.exists() or not metrics.exists():
        return None
    state = load_checkpoint(path, target)
    done = count(state)
    with np.load(metrics, allow_pickle=False) as data:
        history = {k: data[k][:, :done] for k in data.files}
    return state, history


def run_chunked(
    workdir: Path,
    name: str,
    init: Callable[[], S],
    chunk: Callable[[int], Callable[[S], tuple[S, Mapping[str, Any]]]],
    *,
    total: int,
    every: int,
    count: Callable[[S], int],
    keep: Sequence[str],
    config: Any,
    progress: CellProgress,
) -> tuple[S, dict[str, np.ndarray]]:
    """Run ``total`` steps of a vmapped program in chunks of ``every``, resuming from ``workdir``.

    Args:
        workdir: the cell's folder (``<name>.msgpack`` and ``<name>.metrics.npz`` live there).
        name: file stem, so one cell may hold several phases.
        init: the fresh, vmapped state (called only when there is no checkpoint).
        chunk: ``chunk(n)`` is the compiled program running ``n`` steps, returning the new
            state and metrics with axes ``(seeds, n, ...)``.
        total: steps in all.
        every: steps per chunk (a checkpoint after each).
        count: steps done in a state (the same for every seed).
        keep: metric names kept in the history.
        config: the cell's settings (stored beside the checkpoint).
        progress: ``progress(done, total)``.

    Returns:
        The final state and the kept metrics concatenated along the step axis.
    """
    target = jax.eval_shape(init)
    loaded = _load(workdir, name, target, count)
    state, history = (init(), {}) if loaded is None else loaded
    done = count(state)
    progress(done, total)
    while done < total:
        n = min(every, total - done)
        state, metrics = chunk(n)(state)
        for key in keep:
            new = np.asarray(metrics[key])
            history[key] = new if key not in history else np.concatenate([history[key], new], 1)
        done += n
        _save(workdir, name, state, history, config)
        progress(done, total)
    return state, history

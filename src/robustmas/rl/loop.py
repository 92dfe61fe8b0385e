"""The training loop around one ``update(state) -> (state, metrics)``: chunks, evaluation, masking.

:func:`run_updates` scans a trainer's update ``num_updates`` times in one program and adds what
the algorithm itself need not know about:

* **evaluation on a global schedule** -- after every update whose global index
  (``state.update_step``) is a multiple of ``eval_every`` the trainer's greedy evaluation fills the
  evaluation metrics (NaN elsewhere), so splitting a run into chunks of any length changes no
  number.  The evaluation is a :func:`~robustmas.compilation.lockstep.lockstep_cond`: under
  ``vmap`` over seeds that move in lockstep it runs only on the updates that need it;
* **masking** -- ``active`` runs only the first ``active`` of the ``num_updates`` updates (a
  traced scalar is fine); the rest leave the state untouched and report padding.  One compiled
  program of ``num_updates`` then serves every chunk of a run, the shorter last one included
  (what :mod:`robustmas.compilation.program_cache` needs to store one program per run);
* **progress** -- a host callback after every update that ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustmas.compilation.lockstep import lockstep_cond

__all__ = ["ProgressFn", "Updater", "run_updates"]

ProgressFn = Callable[[Any, Any], None]
"""Host callback ``progress_fn(update, metrics)`` (1-based update index, that update's metrics as
NumPy values); under ``vmap`` it is called once per batch element."""


class Updater(Protocol):
    """What :func:`run_updates` needs from a trainer (e.g. :class:`~robustmas.rl.ppo.PPO`)."""

    eval_every: int
    """Updates between evaluations (0: never)."""
    metric_names: tuple[str, ...]
    """Keys of the metrics :func:`run_updates` returns, in order."""
    eval_metric_names: tuple[str, ...]
    """The subset of ``metric_names`` filled by :meth:`evaluation_metrics`."""

    def update(self, runner: Any, /) -> tuple[Any, dict[str, jax.Array]]:
        """One update; the state has an ``update_step`` counter that it advances by one."""
        ...

    def evaluation_metrics(self, runner: Any, /) -> dict[str, jax.Array]:
        """The evaluation metrics of the current state."""
        ...

    def metric_padding(self, shape: tuple[int, ...]) -> dict[str, jax.Array]:
        """Every metric as padding (counts 0, floats NaN) with leading ``shape``."""
        ...


def run_updates(
    trainer: Updater,
    state: Any,
    num_updates: int,
    *,
    active: ArrayLike | None = None,
    progress_fn: ProgressFn | None = None,
) -> tuple[Any, dict[str, jax.Array]]:
    """Run ``num_updates`` updates of ``trainer`` from ``state`` (see the module docstring).

    Args:
        trainer: the algorithm.
        state: its state (from its ``init``, a previous chunk or a checkpoint).
        num_updates: updates in this chunk (static under ``jit``).
        active: run only the first ``active`` of them; default all.
        progress_fn: host callback after each update that ran (``None``: none).

    Returns:
        ``(state, metrics)``, every metric with a leading axis of length ``num_updates``.

    Raises:
        ValueError: if ``num_updates`` is negative.
    """
    num_updates = int(num_updates)
    if num_updates < 0:
        raise ValueError(f"num_updates must be >= 0, got {num_updates}")
    if num_updates == 0:
        return state, trainer.metric_padding((0,))
    every = trainer.eval_every
    evaluated = trainer.eval_metric_names

    def no_evaluation(_: Any) -> dict[str, jax.Array]:
        pad = trainer.metric_padding(())
        return {k: pad[k] for k in evaluated}

    def skipped(state: Any) -> tuple[Any, dict[str, jax.Array]]:
        pad = trainer.metric_padding(())
        return state, {k: v for k, v in pad.items() if k not in evaluated}

    def update(state: Any) -> tuple[Any, dict[str, jax.Array]]:
        state, metrics = trainer.update(state)
        if progress_fn is not None:
            jax.debug.callback(progress_fn, state.update_step, metrics)
        return state, metrics

    def body(state: Any, i: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
        runs = None if active is None else i < active
        if runs is None:
            state, metrics = update(state)
        else:
            state, metrics = jax.lax.cond(runs, update, skipped, state)
        if every:
            due = state.update_step % every == 0
            due = due if runs is None else due & runs
            metrics |= lockstep_cond(due, trainer.evaluation_metrics, no_evaluation, state)
        else:
            metrics |= no_evaluation(None)
        return state, metrics

    state, metrics = jax.lax.scan(body, state, jnp.arange(num_updates))
    return state, {k: metrics[k] for k in trainer.metric_names}

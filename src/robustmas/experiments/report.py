"""Training-curve plots: mean and standard error over seeds (as in the papers' figures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["mean_and_stderr", "plot_curves", "plot_runs"]


def mean_and_stderr(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the first axis (seeds) of ``(S, T)``; NaNs ignored."""
    values = np.asarray(values, dtype=np.float64)
    count = np.sum(~np.isnan(values), axis=0)
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else np.zeros_like(mean)
    return mean, np.where(count > 1, std / np.sqrt(np.maximum(count, 1)), 0.0)


def plot_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    title: str = "",
    ylabel: str = "greedy leader reward",
    optimum: float | None = None,
    xlabel: str = "environment steps",
) -> Path:
    """Plot one line per label: ``label -> (steps (T,), values (S, T))``; saves a PNG.

    Returns the written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (steps, values) in curves.items():
        mean, err = mean_and_stderr(values)
        ax.plot(steps, mean, label=f"{label} (n={np.asarray(values).shape[0]})")
        ax.fill_between(steps, mean - err, mean + err, alpha=0.25)
    if optimum is not None:
        ax.axhline(optimum, color="black", linestyle="--", linewidth=1, label="optimum")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_runs(
    store: str | Path,
    run_ids: Sequence[str],
    path: str | Path,
    *,
    metric: str = "greedy_reward",
) -> Path:
    """Plot the training curves of stored runs on one figure; saves a PNG.

    Each line is labelled with the run's setting, learner (MAPPO or PPO) and id; the dashed
    line is the last known optimum among the runs.

    Args:
        store: the DuckDB file of runs (:class:`~robustmas.experiments.store.RunStore`).
        run_ids: the runs to draw.
        path: where the PNG goes.
        metric: the series to draw.

    Returns:
        The written path.

    Raises:
        KeyError: an unknown run id.
        ValueError: a run without the ``metric`` series.
    """
    from robustmas.experiments.store import RunStore

    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    optimum = None
    with RunStore(store) as db:
        for rid in run_ids:
            info = db.get_run(rid)
            series = db.metrics(rid).get(metric)
            if series is None:
                raise ValueError(f"run {rid} has no {metric} series")
            critic = info["config"].get("critic", "full")
            curves[f"{info['setting']} {'MAPPO' if critic == 'full' else 'PPO'} [{rid}]"] = series
            optimum = (info["final"] or {}).get("optimum", optimum)
    return plot_curves(curves, path, optimum=optimum)

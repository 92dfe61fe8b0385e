"""Training-curve plots: mean and standard error over seeds (as in the papers' figures)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["mean_and_stderr", "plot_curves"]


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

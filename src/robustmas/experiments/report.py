"""Reports: training curves and the HTML report of an experiment run.

Training-curve plots show the mean and standard error over seeds, as in the papers' figures;
:func:`write_report` writes the static, self-contained HTML report of an experiment run.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["mean_and_stderr", "plot_curves", "plot_runs", "write_report"]


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


def _png_base64(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _curve_figures(curves: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """One PNG per metric, a line (mean ± s.e. over seeds) per cell: ``(metric, base64)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = sorted({m for per_cell in curves.values() for m in per_cell})
    out = []
    for metric in metrics:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for cell, per_cell in curves.items():
            if metric not in per_cell:
                continue
            x = np.asarray(per_cell[metric]["x"])
            values = np.asarray(per_cell[metric]["per_seed"], dtype=np.float64)  # None -> NaN
            mean, err = mean_and_stderr(values)
            ax.plot(x, mean, label=cell)
            ax.fill_between(x, mean - err, mean + err, alpha=0.2)
        ax.set_xlabel("round")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out.append((metric, _png_base64(fig)))
        plt.close(fig)
    return out


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:right}th{background:#f3f3f3}.pass{color:#176317}.fail{color:#a31515}"
    "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}"
)


def write_report(table: Any, curves: Mapping[str, Mapping[str, Any]], out: str | Path) -> Path:
    """Write an experiment's report into the folder ``out``; returns ``out/index.html``.

    The folder gets ``index.html`` (self-contained: inline CSS and PNGs, no scripts, no
    network), ``table.md`` and ``results.json`` (per-seed values, means, s.e., references,
    the paper's numbers and the checks' verdicts; no timings, so two runs with the same seeds
    write the same files) and ``preset.toml`` (the preset text the run used).

    Args:
        table: an :class:`~robustmas.experiments.runner.ExperimentTable`.
        curves: cell -> metric -> ``{"x", "per_seed"}`` (the run's training curves).
        out: output folder (created).
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    preset = table.preset
    (folder / "table.md").write_text(table.markdown())
    (folder / "results.json").write_text(
        json.dumps(table.to_json(), indent=1, sort_keys=True) + "\n"
    )
    (folder / "preset.toml").write_text(preset.text)
    columns, rows = table.layout()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns)
    body = []
    for row in rows:
        cells = [
            html.escape(text) + ("" if paper is None else f"<br><small>paper {paper:g}</small>")
            for text, paper in row
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    for name in table.missing:
        body.append(f"<tr><td colspan='{len(columns)}'>{html.escape(name)}: not finished</td></tr>")
    legend = "".join(
        f"<li><b>{html.escape(m)}</b>: {html.escape(d)}</li>"
        for m, d in table.metrics.items()
        if m in columns
    )
    top_k = max((int(r.settings.get("top_k") or 0) for r in table.rows), default=0)
    kept = f", the best {top_k} of each row kept (validation type)" if top_k else ""
    over = "the kept seeds" if top_k else "seeds"
    near_best = (
        "<p><code>*</code>: within one standard error of the column's best mean.</p>"
        if getattr(table, "compare_columns", False)
        else ""
    )
    checks = (
        "".join(
            f"<li class='{'pass' if c.passed else 'fail'}'>{'PASS' if c.passed else 'FAIL'}: "
            f"{html.escape(c.check.name)} ({html.escape(c.detail)})</li>"
            for c in table.checks
        )
        or "<li>evaluated once every cell has finished</li>"
    )
    paper = (
        "".join(
            f"<li>{html.escape(p.metric)} at {html.escape(str(dict(p.where)))}: {p.value:g} "
            f"{html.escape(p.note)}</li>"
            for p in preset.paper_values
        )
        or "<li>the paper prints no numbers for this figure; the exact references stand in</li>"
    )
    figures = "".join(
        f"<h3>{html.escape(metric)}</h3><img alt='{html.escape(metric)}' "
        f"src='data:image/png;base64,{data}'>"
        for metric, data in _curve_figures(curves)
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(preset.id)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(preset.title)}</h1>
<p><b>Reproduces</b>: {html.escape(preset.paper)}<br>
<b>Run</b>: {html.escape(table.run_id)}, budget <b>{html.escape(table.budget)}</b>,
{table.seeds} seeds per cell{kept}; mean ± standard error over {over}.</p>
<p>{html.escape(preset.description)}</p>
<h2>Table</h2><table><tr>{head}</tr>{"".join(body)}</table>
<ul>{legend}</ul>{near_best}
<h2>Checks</h2><ul>{checks}</ul>
<h2>The paper's numbers</h2><ul>{paper}</ul>
<h2>Training curves</h2>{figures}
<h2>Preset</h2><pre>{html.escape(preset.text)}</pre>
</body></html>
"""
    index = folder / "index.html"
    index.write_text(page)
    return index

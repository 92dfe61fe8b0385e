"""The Stackelberg POMDP leader on sizes beyond the tuned presets, against the attainable optimum.

Reference: Brero, Eden, Chakrabarti, Gerstgrasser, Li, Parkes, *Stackelberg POMDP: A
Reinforcement Learning Approach for Economic Design*, arXiv:2210.03852, 2023, Sec. 7.

Every cell of :data:`SIZE_SWEEP` trains the preset's default leader (MAPPO, the command line's
``stackelberg-pomdp train`` with no PPO flags, so the training length grows with the map:
:func:`~robustmas.robust.stackelberg_pomdp.size_scale`) for ``seeds`` seeds in one vmapped call
and compares three numbers:

* ``optimum``: the Stackelberg value (exact best-responding followers), where known;
* ``attainable``: the best expected reward of any observation-action map under the
  environment's own follower dynamics (:func:`~robustmas.robust.attainable.attainable`: exact
  for one follower, a sampled estimate of the best map found for two or more);
* ``learned``: the expected reward of each seed's greedy map
  (:func:`~robustmas.robust.attainable.map_values`: exact for one follower, else 4,096
  sampled episodes), mean and standard error over seeds.  The sampled ``final_reward`` of the
  training run's evaluation episodes is stored beside it.

A cell passes when ``learned >= attainable - 2% x scale``
(:data:`~robustmas.experiments.run.ATTAINMENT_SHORTFALL`, the command line's warning), where
the scale is the attainable value when it is positive and the leader's payoff range when the
reward is a loss (muSPM: welfare minus the best value, at most 0), for which "98% of" has no
meaning (:func:`~robustmas.robust.attainable.shortfall_scale`).  The table shows both.
:func:`run_size_sweep` writes ``results.json`` after every cell and skips cells already in it,
so an interrupted sweep continues where it stopped; ``table.md`` is written at the end.
``make sweep-stackelberg-sizes`` runs it into ``docs/results/stackelberg-pomdp-sizes``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustmas.experiments.run import ATTAINMENT_SHORTFALL, RunSpec, run_job

__all__ = ["SIZE_SWEEP", "SizeCell", "run_size_sweep", "size_table"]


@dataclass(frozen=True)
class SizeCell:
    """One setting instance of the sweep."""

    setting: str
    """Preset id."""
    params: tuple[tuple[str, Any], ...]
    """Setting parameters (the POMDP knobs stay at the preset's defaults)."""

    @property
    def name(self) -> str:
        """``setting k=v ...``: the cell's key in ``results.json``."""
        return " ".join([self.setting, *(f"{k}={v}" for k, v in self.params)])


SIZE_SWEEP: tuple[SizeCell, ...] = (
    *(
        SizeCell("allocation-v0", (("items", k), ("messages", m)))
        for k in range(2, 7)
        for m in range(1, k + 1)
    ),
    *(SizeCell("matrix-design-v0", (("max_tau", t),)) for t in (5, 10, 20)),
    *(SizeCell("muspm-v0", (("messages", m),)) for m in (2, 3)),
    SizeCell("muspm-general-v0", (("types", 3), ("messages", 2))),
)
"""Issue 14's sweep: allocation ``k`` in 2..6 with ``m`` in 1..k, matrix design with
``max_tau`` in {5, 10, 20}, muSPM with 2 and 3 messages, generalised muSPM with 3 types."""


def _stderr(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def run_cell(cell: SizeCell, seeds: int = 10) -> dict[str, Any]:
    """Train one cell and score it; returns its row of ``results.json``."""
    from robustmas.robust.attainable import attainable, map_values, shortfall_scale
    from robustmas.robust.stackelberg_pomdp import greedy_map, known_optimum

    start = time.perf_counter()
    result = run_job(RunSpec(cell.setting, cell.params, seeds=seeds, store=None, checkpoints=False))
    train_s = time.perf_counter() - start
    params = result.run.env_params
    start = time.perf_counter()
    maps = greedy_map(result.leader, params)
    # With two or more followers the search is a coordinate ascent: start it from the learned
    # maps too, so the reference is at least as good as every one of them.
    best = attainable(params, initial_maps=None if params.num_followers == 1 else maps)
    values, errors = map_values(maps, params)
    score_s = time.perf_counter() - start
    values = np.asarray(values, np.float64)
    learned = float(values.mean())
    return {
        "cell": cell.name,
        "setting": cell.setting,
        "params": dict(cell.params),
        "followers": int(params.num_followers),
        "observations": params.num_observations,
        "leader_actions": params.num_leader_actions,
        "total_timesteps": result.run.config.total_timesteps,
        "seeds": seeds,
        "optimum": known_optimum(cell.setting, **dict(cell.params)),
        "attainable": best.value,
        "attainable_kind": best.bound,
        "attainable_stderr": best.stderr,
        "attainable_method": best.method,
        "learned": learned,
        "learned_stderr": _stderr(values),
        "learned_per_seed": values.tolist(),
        "learned_per_seed_stderr": np.asarray(errors, np.float64).tolist(),
        "final_reward": float(result.leader.final_reward),
        "shortfall_scale": shortfall_scale(best.value, params),
        "passed": learned
        >= best.value - ATTAINMENT_SHORTFALL * shortfall_scale(best.value, params),
        "train_seconds": round(train_s, 1),
        "score_seconds": round(score_s, 1),
    }


def size_table(rows: list[dict[str, Any]]) -> str:
    """The sweep's Markdown table."""
    lines = [
        "| cell | K x A | steps | optimum | attainable | learned (mean ± s.e.) |"
        " learned / attainable | shortfall (% of scale) | passed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    kinds = {"exact": "", "lower_bound": " (lower bound)", "estimate": " (estimate)"}
    for r in rows:
        optimum = "-" if r["optimum"] is None else f"{r['optimum']:.4f}"
        attain = f"{r['attainable']:.4f}{kinds[r['attainable_kind']]}"
        ratio = f"{r['learned'] / r['attainable']:.3f}" if r["attainable"] > 0 else "n/a (a loss)"
        short = (r["attainable"] - r["learned"]) / r["shortfall_scale"]
        scale = "attainable" if r["attainable"] > 0 else f"range {r['shortfall_scale']:.3g}"
        lines.append(
            f"| {r['cell']} | {r['observations']} x {r['leader_actions']} |"
            f" {r['total_timesteps']:,} | {optimum} | {attain} |"
            f" {r['learned']:.4f} ± {r['learned_stderr']:.4f} | {ratio} |"
            f" {100 * short:.2f}% ({scale}) | {'yes' if r['passed'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def run_size_sweep(
    out_dir: str | Path,
    *,
    seeds: int = 10,
    cells: tuple[SizeCell, ...] = SIZE_SWEEP,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every cell not yet in ``out_dir/results.json``; write the JSON and ``table.md``.

    Rows of a previous run with a different number of seeds are run again.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        done = {r["cell"]: r for r in json.loads(path.read_text()) if r.get("seeds") == seeds}
    for i, cell in enumerate(cells, 1):
        if cell.name in done:
            progress(f"[{i}/{len(cells)}] {cell.name}: done before, skipped")
            continue
        row = run_cell(cell, seeds)
        done[cell.name] = row
        rows = [done[c.name] for c in cells if c.name in done]
        path.write_text(json.dumps(rows, indent=1))
        progress(
            f"[{i}/{len(cells)}] {cell.name}: learned {row['learned']:.4f}, attainable "
            f"{row['attainable']:.4f} ({row['attainable_kind']}), "
            f"{'passed' if row['passed'] else 'SHORT'} ({row['train_seconds']} s training)"
        )
    rows = [done[c.name] for c in cells if c.name in done]
    (out / "table.md").write_text(size_table(rows))
    return rows


if __name__ == "__main__":  # pragma: no cover - ``make sweep-stackelberg-sizes``
    import argparse

    parser = argparse.ArgumentParser(description="Stackelberg POMDP size sweep (issue 14)")
    parser.add_argument("--out", default="docs/results/stackelberg-pomdp-sizes")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    run_size_sweep(args.out, seeds=args.seeds)

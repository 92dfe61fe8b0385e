"""Wall time of a preset at the paper's budget on this machine, projected from measured shares.

Two presets have a ``paper`` budget too long to run whole on 2 cores; this script runs a
measured share of each kind of work at exactly the paper budget's shapes and scales it.

``--preset rp-fig3`` (RP Fig. 3: 500-step episodes, 15,000 steps per update, 83 Alg. 3 rounds,
332 MARL updates, 333 updates per test, 20 seeds per row):

- a MARL row's training: a few chunks of PPO updates (the first chunk holds the compile);
- an Alg. 3 row's training (``Ours eps=50``, the same shape as ``Ours eps=-10``): a few rounds;
- a row's evaluation (every test type and the validation type, 20 principals x 2 agent seeds
  each; exact DP scoring as the budget says, off at ``paper``): once with ``n`` and once with
  ``2n`` updates of the new agents; the difference gives the time per update and the rest is
  the fixed cost (compile, scoring episodes).

The projection is ``5 MARL rows x (training + evaluation) + 2 Alg. 3 rows x (training +
evaluation)``, each compile counted once per row (as a fresh process per row would pay it).
The paper ran the same table on a 95-CPU cluster (RP Table 1); the issue's target is under 6
hours here.

``--preset ermas-fig3`` (ERMAS Fig. 3: 5,000-step episodes, 8,334 rounds, 10 seeds per cell, 4
values of beta): a few rounds of one cell (every cell has the same shapes), scaled to 4 cells.

Run: ``.venv/bin/python benchmarks/bench_paper_budget.py --preset rp-fig3|ermas-fig3
[--rounds 3] [--eval-updates 2] [--json out.json]`` (rp-fig3: about 15 min on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_spread import machine_info
from robustmas.envs.grid_presets import make_grid_game
from robustmas.experiments.cross_table_cells import (
    CrossTableKind,
    CrossTableSettings,
    train_principals,
)
from robustmas.experiments.grid_sampling import GridSamplingSettings, train_sampler
from robustmas.experiments.preset import load_preset


class Clock:
    """Progress callback that records the wall time of every report."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: list[tuple[int, float]] = []

    def __call__(self, done: int, total: int) -> None:
        self.marks.append((done, time.perf_counter() - self.start))

    def steady(self) -> tuple[float, float, float]:
        """(initialisation, first chunk with its compile, mean time per unit after it).

        ``run_chunked`` reports once after initialising and once after every chunk.
        """
        if len(self.marks) < 3:
            raise RuntimeError(f"need at least three progress reports, got {self.marks}")
        (_, t0), (d1, t1), (d2, t2) = self.marks[0], self.marks[1], self.marks[-1]
        return t0, t1 - t0, (t2 - t1) / (d2 - d1)


def time_training(
    s: CrossTableSettings | GridSamplingSettings, seeds: int, units: int, chunk: int
) -> dict[str, Any]:
    """Train ``units`` rounds (Alg. 3, ERMAS) or updates (MARL) in chunks and time them."""
    if isinstance(s, CrossTableSettings) and s.method == "marl":
        s = dataclasses.replace(s, train_updates=units, checkpoint_rounds=chunk)
    else:  # the smoothing window must fit the shortened run
        s = dataclasses.replace(
            s, rounds=units, checkpoint_rounds=chunk, window=min(s.window, units)
        )
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(s, CrossTableSettings):
            principals, _ = train_principals(s, seeds, 0, Path(tmp), clock)
        else:
            train_sampler(s, seeds, 0, Path(tmp), clock)
            principals = None
    init, first, per_unit = clock.steady()
    return {
        "units": units,
        "chunk": chunk,
        "init_s": init,
        "first_chunk_s": first,
        "per_unit_s": per_unit,
        "marks": clock.marks,
        "principals": principals,
    }


TIMES = ("units", "chunk", "init_s", "first_chunk_s", "per_unit_s", "marks")


def time_evaluation(s: CrossTableSettings, principals: Any, updates: int) -> float:
    """Wall time of one row's whole evaluation with ``updates`` PPO updates per new agent."""
    s = dataclasses.replace(s, eval_updates=updates)
    setup = make_grid_game(s.game, episode_length=s.horizon, obs=s.obs)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        # The kind's own evaluation (test types, validation type, exact scoring), uncached.
        CrossTableKind()._evaluate(s, setup, principals, 0, Path(tmp))
        return time.perf_counter() - t0


def rp_fig3(args: argparse.Namespace) -> dict[str, Any]:
    """Measured shares and the projection of ``rp-fig3 --budget paper``."""
    preset = load_preset("rp-fig3")
    cells = preset.cells(args.budget)
    seeds = preset.budget_seeds(args.budget)
    marl = next(c.settings for c in cells if c.settings.method == "marl")
    alg3 = [c.settings for c in cells if c.settings.method == "alg3"]
    rows_marl = sum(c.settings.method == "marl" for c in cells)
    alg3_row = alg3[-1]
    out: dict[str, Any] = {
        "machine": machine_info(),
        "preset": "rp-fig3",
        "budget": args.budget,
        "seeds": seeds,
        "horizon": marl.horizon,
        "batch": marl.num_envs * marl.horizon,
    }
    print(
        f"rp-fig3 --budget {args.budget}: {len(cells)} rows x {seeds} seeds, "
        f"horizon {marl.horizon}, {marl.num_envs * marl.horizon} steps per update",
        flush=True,
    )

    chunk = 4
    m = time_training(marl, seeds, args.marl_chunks * chunk, chunk)
    print(
        f"MARL: first chunk of {chunk} updates {m['first_chunk_s']:.1f} s, then "
        f"{m['per_unit_s']:.2f} s per update",
        flush=True,
    )
    a = time_training(alg3_row, seeds, args.rounds, 1)
    print(
        f"Alg. 3: first round {a['first_chunk_s']:.1f} s, then {a['per_unit_s']:.1f} s per round",
        flush=True,
    )
    n = args.eval_updates
    e1 = time_evaluation(alg3_row, a["principals"], n)
    e2 = time_evaluation(alg3_row, a["principals"], 2 * n)
    per_update = (e2 - e1) / n
    fixed = e1 - n * per_update
    print(
        f"evaluation: {e1:.1f} s with {n} updates, {e2:.1f} s with {2 * n}: "
        f"{per_update:.1f} s per update, {fixed:.1f} s fixed",
        flush=True,
    )

    marl_train = m["init_s"] + m["first_chunk_s"] + (marl.marl_updates - chunk) * m["per_unit_s"]
    alg3_train = a["init_s"] + a["first_chunk_s"] + (alg3_row.rounds - 1) * a["per_unit_s"]
    evaluation = fixed + marl.eval_updates * per_update
    total = rows_marl * (marl_train + evaluation) + len(alg3) * (alg3_train + evaluation)
    out.update(
        marl={k: m[k] for k in TIMES},
        alg3={k: a[k] for k in TIMES},
        evaluation={
            "updates": [n, 2 * n],
            "seconds": [e1, e2],
            "per_update_s": per_update,
            "fixed_s": fixed,
        },
        projection_s={
            "marl_row_training": marl_train,
            "alg3_row_training": alg3_train,
            "row_evaluation": evaluation,
            "total": total,
        },
    )
    print(
        f"projection: MARL row training {marl_train / 60:.1f} min, Alg. 3 row training "
        f"{alg3_train / 3600:.2f} h, a row's evaluation {evaluation / 3600:.2f} h; "
        f"the table ({rows_marl} MARL + {len(alg3)} Alg. 3 rows): {total / 3600:.1f} h "
        "(target < 6 h)",
        flush=True,
    )
    return out


def ermas_fig3(args: argparse.Namespace) -> dict[str, Any]:
    """Measured rounds and the projection of ``ermas-fig3 --budget paper``."""
    preset = load_preset("ermas-fig3")
    cells = preset.cells(args.budget)
    seeds = preset.budget_seeds(args.budget)
    s = cells[-1].settings
    print(
        f"ermas-fig3 --budget {args.budget}: {len(cells)} cells x {seeds} seeds, horizon "
        f"{s.horizon}, {s.num_envs * s.horizon} steps per update, {s.rounds} rounds",
        flush=True,
    )
    a = time_training(s, seeds, args.rounds, 1)
    cell = a["init_s"] + a["first_chunk_s"] + (s.rounds - 1) * a["per_unit_s"]
    total = len(cells) * cell
    print(
        f"ERMAS: first round {a['first_chunk_s']:.1f} s, then {a['per_unit_s']:.2f} s per round; "
        f"projection: a cell {cell / 3600:.1f} h, the figure ({len(cells)} cells) "
        f"{total / 3600:.1f} h",
        flush=True,
    )
    return {
        "machine": machine_info(),
        "preset": "ermas-fig3",
        "budget": args.budget,
        "seeds": seeds,
        "horizon": s.horizon,
        "batch": s.num_envs * s.horizon,
        "rounds": s.rounds,
        "ermas": {k: a[k] for k in TIMES},
        "projection_s": {"cell": cell, "total": total},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=("rp-fig3", "ermas-fig3"), default="rp-fig3")
    parser.add_argument(
        "--rounds", type=int, default=3, help="Alg. 3 / ERMAS rounds to time (>= 2)"
    )
    parser.add_argument("--marl-chunks", type=int, default=3, help="MARL chunks to time (>= 2)")
    parser.add_argument("--eval-updates", type=int, default=2, help="n: evaluations at n and 2n")
    parser.add_argument("--budget", default="paper", help="preset budget (smoke: a quick check)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.rounds < 2 or args.marl_chunks < 2 or args.eval_updates < 1:
        parser.error("--rounds and --marl-chunks: >= 2; --eval-updates: >= 1")
    out = rp_fig3(args) if args.preset == "rp-fig3" else ermas_fig3(args)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

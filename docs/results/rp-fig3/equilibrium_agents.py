"""rp-fig3's principals against test agents at an equilibrium (exact best-response dynamics).

Usage: ``.venv/bin/python docs/results/rp-fig3/equilibrium_agents.py [--run DIR] [--workers 2]``
(the run's checkpoints must exist, or it trains the rows into ``DIR`` first: 41 min).  Output:
``equilibrium_agents.txt``.

The rp-fig3 table scores each frozen principal against fresh PPO agents after 200 updates, and
those agents end 0.33-0.63 per step short of their best responses; ``test_agents.py`` showed
that more PPO training does not bring them closer (independent learners chase each other).  So
the table compares principals against agents that are not at an equilibrium, while the paper's
claims are about equilibria.  This script replaces the PPO agents by an exact computation: for
every kept principal of every row and every test type, the three agents start uniform and
follow damped simultaneous best responses (:func:`~robustmas.equilibria.markov_exact.
best_response_dynamics`, step 0.2, exact DP on the 2,401 cells, the principal's tabulated
policy fixed) until every agent's regret is below ``--tol`` per step.  The cell is then the
principal's exact reward per step at that profile.

This is a yardstick beside the paper's protocol, not the protocol: the dynamics pick one
equilibrium (the one uniform play flows to), the agents' policies may depend on the step (the
PPO agents' cannot), and convergence is not guaranteed (the table reports the largest final
regret).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def solve(
    job: tuple[str, int, str, np.ndarray, int, tuple[int, ...], np.ndarray, float, int],
) -> Any:
    """One (row, seed, type): the dynamics from uniform agents; numpy only (a worker)."""
    from robustmas.equilibria.markov_exact import GridMarkovGame, best_response_dynamics

    row, seed, kind, tables, horizon, moves, principal, tol, iterations = job
    game = GridMarkovGame(tables, horizon=horizon, moves=moves)
    d, a = game.num_movers, game.num_actions
    start = np.full((d, horizon, game.num_states, a), 1.0 / a)
    start[-1] = principal[None]
    found = best_response_dynamics(
        game, start, list(range(d - 1)), step=0.2, iterations=iterations, tol=tol * horizon
    )
    return (
        row,
        seed,
        kind,
        found.values[-1] / horizon,
        float(found.regrets.max()) / horizon,
        found.iterations,
        found.converged,
    )


def main() -> None:
    """Load the run's kept principals, solve every (row, seed, type), print and write."""
    import jax

    from robustmas.experiments import cross_table_cells as ct
    from robustmas.experiments.grid_sampling import sampling_config
    from robustmas.experiments.preset import load_preset
    from robustmas.experiments.runner import cell_folder
    from robustmas.rl.ppo import PPO

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run", type=Path, default=ROOT / "runs" / "experiments" / "rp-fig3-full-afa81795"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tol", type=float, default=0.01, help="regret per step to stop at")
    parser.add_argument("--iterations", type=int, default=40, help="most best-response steps")
    parser.add_argument(
        "--types",
        default="original,adv:0.25,adv:1",
        help="test types, comma-separated (the RiskAv ones do not converge within 100 steps)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "equilibrium_agents.txt")
    args = parser.parse_args()

    preset = load_preset("rp-fig3")
    cells = preset.cells("full")
    base: ct.CrossTableSettings = cells[0].settings
    setup = ct._setup(base.game, base.horizon, base.obs)
    env, params = setup.env, setup.params
    obs = env.cell_observations()
    trainer = PPO(sampling_config(base.sampling).ppo, env)
    types = args.types.split(",")
    if unknown := set(types) - set(base.test_types):
        parser.error(f"--types: {sorted(unknown)} are not rp-fig3 test types {base.test_types}")
    tables = {}
    for t in types:
        game = ct.exact_game(env, ct.agent_type_params(env, params, t, base.adv_mode), base.horizon)
        assert game is not None
        tables[t] = game.rewards

    jobs, kept = [], {}
    for cell in cells:
        folder = cell_folder(args.run, cell.name)
        principals, _ = ct.train_principals(cell.settings, preset.seeds, preset.seed, folder)
        with np.load(folder / "evaluation.npz", allow_pickle=False) as data:
            validation = data["scores"][len(base.test_types)]  # the validation type (D19)
        chosen = np.sort(np.argsort(-validation, kind="stable")[: base.top_k])
        kept[cell.name] = chosen.tolist()
        for j in chosen:
            actor = jax.tree_util.tree_map(lambda x, j=j: x[j], principals.actor)
            table = np.asarray(jax.nn.softmax(trainer.policy(actor, obs).logits, -1), np.float64)  # pyright: ignore
            table /= table.sum(axis=-1, keepdims=True)
            for t in types:
                jobs.append(
                    (
                        cell.name,
                        int(j),
                        t,
                        tables[t],
                        base.horizon,
                        env.moves,
                        table,
                        args.tol,
                        args.iterations,
                    )
                )
    print(f"{len(jobs)} (row, seed, type) jobs on {args.workers} workers", flush=True)
    start = time.time()
    results = []
    # Spawned workers: forking a process that has started JAX's threads can deadlock.
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for n, result in enumerate(pool.map(solve, jobs, chunksize=1), 1):
            results.append(result)
            if n % 25 == 0 or n == len(jobs):
                print(f"  {n}/{len(jobs)} after {time.time() - start:.0f} s", flush=True)

    value = {(r, s, t): v for r, s, t, v, *_ in results}
    regret = {(r, s, t): g for r, s, t, _, g, *_ in results}
    steps = [it for *_, it, _ in results]
    converged = sum(c for *_, c in results)
    lines = [
        "rp-fig3 principals against agents at an equilibrium of exact best-response dynamics",
        f"(run {args.run.name}; kept seeds as the table; step 0.2, tol {args.tol} per step,",
        f"at most {args.iterations} steps; {converged} of {len(results)} converged, "
        f"{min(steps)}-{max(steps)} steps, {time.time() - start:.0f} s on {args.workers} workers)",
        "",
        "Principal's exact reward per step, mean ± s.e. over the 10 kept seeds; the agents'",
        "largest final regret per step in brackets (max over seeds).",
        "",
        "| row | " + " | ".join(types) + " | worst column | mean rank |",
        "|---|" + "---|" * (len(types) + 2),
    ]
    names = [c.name for c in cells]
    means = np.array([[np.mean([value[(r, s, t)] for s in kept[r]]) for t in types] for r in names])
    ranks = (-means).argsort(axis=0).argsort(axis=0) + 1
    for i, r in enumerate(names):
        parts = []
        for t in types:
            v = np.array([value[(r, s, t)] for s in kept[r]])
            g = max(regret[(r, s, t)] for s in kept[r])
            parts.append(f"{v.mean():.3f} ± {v.std(ddof=1) / np.sqrt(len(v)):.3f} ({g:.3f})")
        lines.append(
            f"| {r} | " + " | ".join(parts) + f" | {means[i].min():.3f} | {ranks[i].mean():.1f} |"
        )
    robust, marl = names.index("Ours eps=50"), names.index("MARL")
    adv = [types.index(t) for t in types if t.startswith("adv:")]
    lines += [
        "",
        f"The preset's three checks, read on this table (columns {', '.join(types)} only):",
        f"- the robust principal (eps = 50) has the best worst column: "
        f"{means[robust].min():.3f} against the best other "
        f"{max(means[i].min() for i in range(len(names)) if i != robust):.3f}",
        f"- its mean rank is the best: {ranks[robust].mean():.1f} against the best other "
        f"{min(ranks[i].mean() for i in range(len(names)) if i != robust):.1f}",
        "- MARL is worse than it on the Adv columns: "
        + ", ".join(f"{types[c]} {means[marl, c]:.3f} against {means[robust, c]:.3f}" for c in adv),
    ]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

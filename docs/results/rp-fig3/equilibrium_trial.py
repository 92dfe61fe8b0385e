"""The trial behind equilibrium_agents.py's settings: one principal, 100 best-response steps.

Usage: ``.venv/bin/python docs/results/rp-fig3/equilibrium_trial.py [--run DIR]`` (about 5 min
on 2 cores); output ``equilibrium_trial.txt``.  Principal 0 of 20 (trained, not necessarily a
kept seed) of the MARL and the eps = 50 rows, against agents of the types Original, Adv 1 and
RiskAv 0.2, with up to 100 steps of :func:`equilibrium_agents.solve` (tolerance 0.01 per
step).  It shows where the dynamics level off (Original), that the Adv columns converge, that
the RiskAv ones do not within 100 steps, and how one principal pair compares.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from equilibrium_agents import ROOT, solve  # noqa: E402


def main() -> None:
    """Solve the six (row, type) pairs and write the table."""
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
    args = parser.parse_args()
    preset = load_preset("rp-fig3")
    cells = {c.name: c for c in preset.cells("full")}
    base: ct.CrossTableSettings = cells["MARL"].settings
    setup = ct._setup(base.game, base.horizon, base.obs)
    env, params = setup.env, setup.params
    obs = env.cell_observations()
    trainer = PPO(sampling_config(base.sampling).ppo, env)
    jobs = []
    for row in ("MARL", "Ours eps=50"):
        folder = cell_folder(args.run, row)
        principals, _ = ct.train_principals(cells[row].settings, preset.seeds, preset.seed, folder)
        actor = jax.tree_util.tree_map(lambda x: x[0], principals.actor)
        table = np.asarray(jax.nn.softmax(trainer.policy(actor, obs).logits, -1), np.float64)  # pyright: ignore
        table /= table.sum(axis=-1, keepdims=True)
        for t in ("original", "adv:1", "riskav:0.2"):
            game = ct.exact_game(env, ct.agent_type_params(env, params, t, base.adv_mode), 50)
            assert game is not None
            jobs.append((row, 0, t, game.rewards, base.horizon, env.moves, table, 0.01, 100))
    start = time.time()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        results = list(pool.map(solve, jobs))
    lines = [
        f"Principal 0 of MARL and of Ours eps=50 (run {args.run.name}), agents from uniform,",
        f"damped best responses (step 0.2), at most 100 steps, tol 0.01 per step; "
        f"{time.time() - start:.0f} s",
        "",
        "| row | type | principal per step | agents' largest regret per step | steps | converged |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row, _, t, value, regret, steps, converged in results:
        lines.append(f"| {row} | {t} | {value:.3f} | {regret:.3f} | {steps} | {converged} |")
    text = "\n".join(lines)
    print(text)
    (HERE / "equilibrium_trial.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()

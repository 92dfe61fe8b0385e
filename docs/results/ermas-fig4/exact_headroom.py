"""How much can any planner gain from anticipating adversarial agents in ermas-fig4's game?

Usage: ``.venv/bin/python docs/results/ermas-fig4/exact_headroom.py [--run DIR] [--preset P]
[--out FILE]`` (under a minute on 2 cores when the run's checkpoints exist; without them it
trains the six rows into ``DIR`` first, about 12 min).  Its output is ``exact_headroom.txt``;
``exact_headroom_mlp.txt`` is ``--preset docs/results/ermas-fig4/mlp-planner.toml --run
runs/experiments/ermas-fig4-mlp-full-acc602ec``.

The game (spec D14, the released code's officer dynamics): the planner observes the cell and
its officer count ``o``; the agents observe only the cell and earn ``r_i - Q r_p`` with the
table value ``r_p``.  Nothing the planner does reaches the agents, so the agents' behaviour
is a Markov chain on the 16 cells, ``P_Q(s' | s)``, and the planner faces an MDP on
``(t, s, o)``: it chooses a change of ``o`` before seeing the next cell ``s'`` and earns
``r_p(s') (1 + 3 o'/12) - (o'/12)^2``.  For a given chain this script computes, by backward
induction (exact up to rounding):

* ``best``: the best value of *any* planner, even one that observes ``t`` and knows the
  agents' chain (``V*_Q``);
* ``Q0-opt``: the planner that is optimal against the Q = 0 agents (the target of a
  perfectly trained MARL Q = 0 planner), played against the Q agents;
* ``headroom = best - Q0-opt``: an upper bound, per test Q, on what *any* planner
  (ERMAS, or one that is told Q) can gain over the Q = 0-optimal planner.  ERMAS's Fig. 4
  claims a visible gain for Q > 0.3;
* the exact value of each trained row's planner (its linear softmax policy tabulated on all
  16 x 13 observations) against the same agents, to set beside ``best``.

The agents are the evaluation's own: fresh PPO agents trained for the preset's 300 updates at
each test Q (2 agent seeds) against the MARL Q = 0 planners, with their policies tabulated on
the 16 cells.  Every row's planner meets the same agents (common random numbers).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import jax
import numpy as np

from robustmas.equilibria.markov_exact import cell_chain, regrets
from robustmas.experiments import cross_table_cells as ct
from robustmas.experiments.grid_sampling import sampling_config
from robustmas.experiments.preset import load_preset
from robustmas.experiments.runner import cell_folder
from robustmas.rl.ppo import PPO
from robustmas.robust.evaluation import evaluate_principals, stack_types

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def _mean_se(values: np.ndarray) -> str:
    """Mean and s.e. over planner seeds (axis 0) of per-seed means over the agent seeds."""
    per_seed = values.mean(axis=1)
    return f"{per_seed.mean():.4f} ± {per_seed.std(ddof=1) / np.sqrt(len(per_seed)):.4f}"


def main() -> None:
    """Tabulate the run's planners and test agents; print and write the exact table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run",
        type=Path,
        default=ROOT / "runs" / "experiments" / "ermas-fig4-full-eb178c92",
        help="the run's directory (checkpoints are read from it, or written to it)",
    )
    parser.add_argument(
        "--preset",
        default="ermas-fig4",
        help="the run's preset: id or TOML file (e.g. docs/results/ermas-fig4/mlp-planner.toml)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "exact_headroom.txt",
        help="where to write the table",
    )
    args = parser.parse_args()

    preset = load_preset(args.preset)
    cells = preset.cells("full")
    seeds = preset.seeds
    base: ct.CrossTableSettings = cells[0].settings
    setup = ct._setup(base.game, base.horizon, base.obs)
    env, params = setup.env, setup.params
    mdp = ct._officer_planner(env, params, base.horizon)
    game = mdp.game

    planners = {}
    for c in cells:
        folder = cell_folder(args.run, c.name)
        planners[c.name] = ct.train_principals(c.settings, seeds, preset.seed, folder)[0]
    print(f"ermas-fig4: {len(cells)} rows x {seeds} planners, run {args.run.name}", flush=True)

    # The evaluation's agents, trained against the MARL Q = 0 planners (they never see a planner).
    ppo = sampling_config(base.sampling).ppo
    config = dataclasses.replace(ppo, total_timesteps=base.eval_updates * ppo.batch_size)
    types = list(base.test_types)
    type_params = [ct.agent_type_params(env, params, t, base.adv_mode) for t in types]
    results = evaluate_principals(
        env,
        stack_types(type_params),
        types,
        planners["MARL Q=0"],
        config,
        seeds=base.eval_seeds,
        key=jax.random.fold_in(jax.random.PRNGKey(preset.seed), 1),
        eval_episodes=base.eval_score_episodes,
        keep_agents=True,
    )
    trainer = PPO(config, env)
    agent_obs = env.agent_cell_observations()

    def probs(actor: Any, obs: jax.Array) -> np.ndarray:
        table = np.asarray(jax.nn.softmax(trainer.policy(actor, obs).logits, -1), np.float64)  # pyright: ignore
        return table / table.sum(axis=-1, keepdims=True)

    # chains[q][j][k]: agents of test type q for planner seed j, agent seed k; and their
    # largest exact regret per step in the game they perceive.
    chains, agent_regret = [], np.zeros((len(types), seeds, base.eval_seeds))
    for q in range(len(types)):
        perceived = ct.exact_game(env, type_params[q], base.horizon)
        assert perceived is not None
        per_seed = []
        for j, result in enumerate(results):
            per_agent_seed = []
            for k in range(base.eval_seeds):
                pair = np.stack(
                    [
                        ct._mover_actions(
                            env,
                            probs(
                                jax.tree_util.tree_map(
                                    lambda x, q=q, k=k, i=i: x[q, k, i], result.agents
                                ),
                                agent_obs,
                            ),
                        )
                        for i in range(2)
                    ]
                )
                per_agent_seed.append(cell_chain(game, pair))
                found = regrets(perceived, pair)
                agent_regret[q, j, k] = found.regrets.max() / base.horizon
            per_seed.append(per_agent_seed)
        chains.append(per_seed)

    horizon = base.horizon
    q0_policies = [[mdp.optimal(p).policy for p in row] for row in chains[0]]
    best = np.array([[[mdp.optimal(p).value for p in row] for row in per] for per in chains])
    best /= horizon
    q0_opt = np.array(
        [
            [
                [mdp.evaluate(p, q0_policies[j][k]) / horizon for k, p in enumerate(row)]
                for j, row in enumerate(per)
            ]
            for per in chains
        ]
    )
    # (types, planner seeds, agent seeds); >= 0 by definition, so a negative value is rounding
    head = np.maximum(best - q0_opt, 0.0)

    lines = [
        "Exact planner values per step on ermas-fig4's game: mean over 5 planner seeds x 2 agent",
        "seeds of fresh test agents (the largest of those 10 in brackets for the headroom);",
        "trained rows: mean ± s.e. over the 5 planner seeds.",
        "",
        "| test type | best (any planner) | Q0-opt | headroom (max) | "
        + " | ".join(c.name for c in cells)
        + " | MARL Q=0, Monte-Carlo | agents' regret |",
        "|---|---:|---:|---:|" + "---:|" * (len(cells) + 2),
    ]
    trained = {}
    for name, pl in planners.items():
        values = np.zeros_like(best)
        for j in range(seeds):
            actor = jax.tree_util.tree_map(lambda x, j=j: x[j], pl.actor)
            pol = ct.planner_table(trainer, env, actor)
            for q in range(len(types)):
                for k in range(base.eval_seeds):
                    values[q, j, k] = mdp.evaluate(chains[q][j][k], pol) / horizon
        trained[name] = values
    # The evaluation's own Monte-Carlo score of the MARL Q = 0 planners against these agents.
    mc = np.stack([r.returns.mean(axis=1) for r in results], axis=1) / base.horizon
    for q, t in enumerate(types):
        row = (
            [
                t,
                f"{best[q].mean():.4f}",
                f"{q0_opt[q].mean():.4f}",
                f"{head[q].mean():.5f} ({head[q].max():.5f})",
            ]
            + [_mean_se(trained[c.name][q]) for c in cells]
            + [f"{mc[q].mean():.4f}", f"{agent_regret[q].mean():.3f}"]
        )
        lines.append("| " + " | ".join(row) + " |")
    # Check of the dynamic programming against the environment itself: 8,192 sampled episodes
    # of the MARL Q = 0 planner of seed 0 with its first agent seed, per test type.
    episodes = 8192
    lines += [
        "",
        f"Check, MARL Q=0 planner seed 0, agent seed 0: DP vs {episodes} env episodes",
        "",
    ]
    for q, t in enumerate(types):
        actor = jax.tree_util.tree_map(lambda x, q=q: x[q, 0], results[0].agents)
        ret = trainer.evaluate_returns(
            actor, jax.random.PRNGKey(11), type_params[q], episodes=episodes, greedy=False
        )
        sim = np.asarray(ret, np.float64)[:, -1] / base.horizon
        se = sim.std(ddof=1) / np.sqrt(episodes)
        lines.append(
            f"- {t}: DP {trained['MARL Q=0'][q, 0, 0]:.4f}, episodes {sim.mean():.4f} +- {se:.4f}"
        )
    lines += [
        "",
        "The agents are the run's own evaluation agents: the Monte-Carlo column repeats the",
        "run's MARL Q=0 row (README). Agents' regret: the largest exact regret per step of the",
        "two test agents in the game they perceive, mean over the 10 profiles.",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

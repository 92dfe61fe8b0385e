"""MAPPO (centralised critic) vs PPO on the Stackelberg POMDP, 64 seeds, evaluated every update.

Usage: .venv/bin/python benchmarks/mappo_vs_ppo.py

A finer-grained companion to the reproduction table (10 seeds, an evaluation every 640 steps):
for matrix design (50 no-regret rounds, as in the reproduction) and allocation (k = m = 3) both
learners train 64 seeds (``--seeds``) in one vmapped call each (same seeds, same PPO settings
except the critic's input) for 40 updates of 128 steps, with a greedy evaluation (32 episodes)
after every update.  Printed per learner: the mean and standard error over seeds of the first
step at which the seed's greedy reward reached the target, the number of seeds that never did,
the area under the mean curve (mean greedy reward over all evaluations), and the critic's value
loss (mean over seeds, over the first 10 updates and over all 40), the quantity of the paper's
Appendix F (Figure 6), where the centralised critic fits far better.

``--gamma`` / ``--gae-lambda`` override the presets' values (gamma 1.0; lambda 1.0, or 0.5 on
allocation) for both learners: with ``gae_lambda < 1`` the advantages bootstrap from the
critic, so its input matters more.
"""

from __future__ import annotations

import argparse

import numpy as np

from robustmas.envs.stackelberg.settings import make_setting
from robustmas.robust.stackelberg_pomdp import default_ppo_config, train_leader

SEEDS = 64
CASES = (
    ("matrix-design-v0", {"num_rounds": 50}, 0.99),
    (
        "allocation-v0",
        {"items": 3, "messages": 3, "num_rounds": 300, "num_reward_rounds": 20},
        0.97,
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gamma", type=float, help="override the presets' discount (1.0)")
    parser.add_argument("--gae-lambda", type=float, help="override the presets' GAE lambda")
    parser.add_argument("--seeds", type=int, default=SEEDS, help="runs per learner")
    parser.add_argument("--seed", type=int, default=1, help="master seed of the runs")
    args = parser.parse_args()
    overrides = {
        k: v for k, v in (("gamma", args.gamma), ("gae_lambda", args.gae_lambda)) if v is not None
    }
    if overrides:
        print(f"overrides: {overrides}\n")
    print(
        "| setting | learner | first hit: mean ± s.e. (steps) | seeds missing | area under curve |"
        " value loss, updates 1-10 / all |"
    )
    print("|---|---|---|---|---|---|")
    for setting, kwargs, target in CASES:
        params = make_setting(setting, **kwargs)
        for label, centralized in (("MAPPO", True), ("PPO", False)):
            config = default_ppo_config(
                setting,
                centralized_critic=centralized,
                total_timesteps=128 * 40,
                eval_every=1,
                eval_episodes=32,
                **overrides,
            )
            result = train_leader(params, config, num_seeds=args.seeds, seed=args.seed)
            curves, steps = np.asarray(result.curves), np.asarray(result.steps)
            first = np.array(
                [
                    steps[hit[0]] if (hit := np.flatnonzero(c >= target)).size else np.nan
                    for c in curves
                ]
            )
            se = np.nanstd(first, ddof=1) / np.sqrt(np.isfinite(first).sum())
            value_loss = result.metrics["value_loss"]  # (seeds, updates)
            print(
                f"| {setting} (target {target}) | {label} | {np.nanmean(first):,.0f} ± {se:,.0f} |"
                f" {int(np.isnan(first).sum())} | {np.nanmean(curves):.4f} |"
                f" {value_loss[:, :10].mean():.4f} / {value_loss.mean():.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

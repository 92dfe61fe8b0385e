"""Algorithm 2 (approachability) and Algorithm 1 (Lagrangian) side by side with the exact LP.

Usage: .venv/bin/python benchmarks/bench_samplers.py [--quick]

Prints markdown tables: the worst-case principal value found by each sampler, the LP's exact
worst case, the max regret, and (congestion games) the Corollary 1 ratio nu / nu_LP (>= 0.4).
"""

from __future__ import annotations

import argparse
import time

from robustmas.equilibria import approachability, lagrangian, lp
from robustmas.games import library


def congestion_table(seeds: list[int], epsilons: list[float]) -> None:
    print("\n### Algorithm 2 on linear congestion games (3 players, 4 resources, 3 strategies)\n")
    print("| seed | eps | nu (Alg. 2) | nu (LP max) | ratio | max regret | Alg. 2 time (s) |")
    print("|---|---|---|---|---|---|---|")
    for seed in seeds:
        game = library.random_congestion_game(players=3, resources=4, strategies=3, seed=seed)
        dense = game.to_normal_form()
        for eps in epsilons:
            t = time.perf_counter()
            res = approachability.extreme_cce(game, eps, "worst")
            dt = time.perf_counter() - t
            exact = lp.worst_case_cce(dense, eps)
            assert res.regrets is not None
            print(
                f"| {seed} | {eps} | {-res.value:.4f} | {-exact.value:.4f} | "
                f"{res.value / exact.value:.3f} | {res.regrets.max():.4f} | {dt:.2f} |"
            )


def random_table(seeds: list[int], epsilons: list[float]) -> None:
    print("\n### Random 2-player 3-action games: worst-case principal value (lower is worse)\n")
    print("| seed | eps | LP (exact) | Alg. 2 | Alg. 1 | Alg. 1 max regret |")
    print("|---|---|---|---|---|---|")
    for seed in seeds:
        game = library.random_game(players=2, actions=3, seed=seed)
        sweep = lagrangian.extreme_cce_sweep(game, epsilons)
        for eps, lag in zip(epsilons, sweep, strict=True):
            exact = lp.worst_case_cce(game, eps)
            alg2 = approachability.extreme_cce(game, eps, "worst") if eps > 0 else None
            a2 = f"{alg2.value:.4f}" if alg2 is not None and alg2.ok else "n/a (eps=0)"
            assert lag.regrets is not None
            print(
                f"| {seed} | {eps} | {exact.value:.4f} | {a2} | {lag.value:.4f} | "
                f"{lag.regrets.max():.4f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer seeds")
    args = parser.parse_args()
    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    congestion_table(seeds, [0.05, 0.2])
    random_table(seeds[:3], [0.0, 0.05, 0.1, 0.2])


if __name__ == "__main__":
    main()

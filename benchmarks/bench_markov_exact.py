"""Exact DP on the 7x7x7x7 N-matrix game: the stationary fast path against the general one.

``robustmas.equilibria.markov_exact`` takes a stationary profile ``(d, S, A)`` through one joint
policy and sparse transition matrices for all steps; the same profile repeated over time
``(d, T, S, A)`` takes the general path (a joint policy per step).  Both give the same numbers
(``tests/test_markov_exact.py``); this times them on random stationary policies of the game
``rp-fig3`` scores exactly (2,401 cells, 4 movers, horizon 50).

Run: ``.venv/bin/python benchmarks/bench_markov_exact.py [--horizon 50] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_spread import machine_info
from robustmas.envs.grid_presets import make_grid_game
from robustmas.equilibria.markov_exact import GridMarkovGame, evaluate, regrets


def best_time(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--horizon", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    env = make_grid_game("nmatrix-v0", episode_length=args.horizon, obs="scaled").env
    game = GridMarkovGame(np.asarray(env.payoffs), horizon=args.horizon, moves=env.moves)
    rng = np.random.default_rng(0)
    d, cells, actions = game.num_movers, game.num_states, game.num_actions
    stationary = rng.dirichlet(np.ones(actions), size=(d, cells))
    repeated = np.ascontiguousarray(
        np.broadcast_to(stationary[:, None], (d, args.horizon, cells, actions))
    )
    same = np.allclose(regrets(game, stationary).regrets, regrets(game, repeated).regrets)
    out = {"machine": machine_info(), "horizon": args.horizon, "same_regrets": bool(same)}
    for name, fn in (("evaluate", evaluate), ("regrets", regrets)):
        fast = best_time(lambda fn=fn: fn(game, stationary), args.repeats)
        slow = best_time(lambda fn=fn: fn(game, repeated), args.repeats)
        out[name] = {"stationary_s": fast, "general_s": slow}
        print(f"{name}: stationary {fast:.3f} s, general {slow:.3f} s, {slow / fast:.1f}x")
    print(f"same regrets on both paths: {same}")
    return out


if __name__ == "__main__":
    main()

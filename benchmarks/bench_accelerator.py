"""The JAX paths on an accelerator: env throughput at large batches and a longer economy run.

Usage::

    python benchmarks/bench_accelerator.py --out DIR [--budget-s 420] [--only a,b]

Written for a lent GPU (one H200 here, whose image has JAX but not this project's other
dependencies: see ``benchmarks/RESULTS.md`` for how the run was made); it runs on any JAX
backend, the CPU included (then use small ``--scale``).  Every section has a time share of
``--budget-s`` and is skipped when too little is left; each section's result is appended to
``DIR/accelerator.json`` as soon as it is done, so a run cut short keeps what it measured.

Sections (the reference tools do not run on the accelerator machine, which reaches no
registry; their CPU rates are the ones measured on the 2-core machine in ``RESULTS.md``):

* ``economy_env``: ``GatherTradeBuild`` steps/s, random masked policy, all observations
  (``bench_economy.bench_ours``) at 1,024 and more environments.
* ``economy_learning``: the free-market agents of ``rp-fig4``'s fixed rows (masked PPO, one
  shared actor-critic, ``EconomyTaxesSettings`` with more parallel economies) trained for a
  fixed wall time, evaluated at checkpoints on full episodes against the random policy in the
  same episodes: how far a larger budget moves the agents (swf, houses built, coin).
* ``economy_learning_conv_lstm``: the same with the papers' conv + LSTM agents.
* ``ant_env``: ``MultiAgentAnt`` on MJX (``bench_ant.bench_ours``, default solver settings).
* ``spread_env`` / ``pursuit_env``: Independent Spread and Pursuit steps/s.
* ``economy_training``: PPO env steps/s of the joint agents + planner learners.
* ``grid_alg3``: RP Alg. 3 rounds on the 7^4 game (``bench_rllib_alg3.time_ours``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_spread import _version, machine_info  # noqa: E402


def _n(base: int, scale: float) -> int:
    return max(1, int(base * scale))


def economy_env(scale: float) -> list[dict[str, Any]]:
    from bench_economy import bench_ours

    batches = (_n(1024, scale), _n(4096, scale), _n(16384, scale))
    return [bench_ours(b, 100, 3, 1.0) for b in batches]


def economy_learning(
    seconds: float,
    num_envs: int,
    seeds: int,
    chunk: int,
    evals: int,
    episodes: int,
    network: str = "mlp",
) -> dict[str, Any]:
    """Free-market agents trained for ``seconds``, evaluated ``evals`` times on the way."""
    import dataclasses

    from robustmas.experiments.economy_cells import (
        EconomyTaxesSettings,
        agents_program,
        program_shape,
    )
    from robustmas.experiments.economy_types import ORIGINAL_ALPHA

    batch = num_envs * 250
    s = EconomyTaxesSettings(
        test_types=("Original",),
        num_envs=num_envs,
        total_timesteps=batch * 100_000,
        network=network,
    )
    program = agents_program(program_shape(s), ORIGINAL_ALPHA)
    env_params = jax.tree_util.tree_map(lambda x: jnp.stack([x] * seeds), program.params)
    runner = program.init(jax.random.split(jax.random.PRNGKey(0), seeds), env_params)
    step = program.chunk(chunk)
    evaluate = jax.jit(jax.vmap(partial(program.evaluate, episodes=episodes)))
    eval_keys = jax.random.split(jax.random.PRNGKey(1), seeds)

    def score(updates: int, train_s: float) -> dict[str, Any]:
        ours, base = evaluate(runner.params.actor, env_params, eval_keys)
        row = {k: float(np.asarray(v).mean()) for k, v in ours.items()}
        return dict(row, updates=updates, env_steps=updates * batch, train_s=train_s,
                    random_swf=float(np.asarray(base).mean()),
                    swf_per_seed=np.asarray(ours["swf"]).mean(axis=1).tolist())  # fmt: skip

    t0 = time.perf_counter()
    runner, _ = step(runner)
    jax.block_until_ready(runner)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = [score(chunk, 0.0)]
    first_eval_s = time.perf_counter() - t0
    updates, train_s, returns = chunk, 0.0, []
    marks = [seconds * (j + 1) / evals for j in range(evals)]
    while train_s < seconds:
        t = time.perf_counter()
        runner, metrics = step(runner)
        jax.block_until_ready(runner)
        train_s += time.perf_counter() - t
        updates += chunk
        returns.append(np.nanmean(np.asarray(metrics["episode_return"]), axis=0).tolist())
        if marks and train_s >= marks[0]:
            marks.pop(0)
            rows.append(score(updates, train_s))
    rate = (updates - chunk) * batch * seeds / train_s
    return {"settings": dataclasses.asdict(s), "seeds": seeds, "chunk_updates": chunk,
            "compile_and_first_chunk_s": first_s, "first_eval_s": first_eval_s,
            "env_steps_per_s": rate, "evaluations": rows,
            "episode_return_per_update": returns}  # fmt: skip


def ant_env(scale: float) -> list[dict[str, Any]]:
    from bench_ant import bench_ours

    return [bench_ours(_n(4096, scale), 10, 3, 1.0, "default")]  # one compile: MJX's are long


def spread_env(scale: float) -> list[dict[str, Any]]:
    from bench_spread import bench_ours

    batches = (_n(1024, scale), _n(16384, scale), _n(131072, scale))
    return [bench_ours(b, 100, 3, 0.5) for b in batches]


def pursuit_env(scale: float) -> list[dict[str, Any]]:
    from bench_pursuit import bench_ours

    return [bench_ours(b, 100, 3, 0.5) for b in (_n(1024, scale), _n(16384, scale))]


def economy_training(scale: float) -> list[dict[str, Any]]:
    from bench_economy import bench_training

    return [bench_training("joint", 5, num_envs=n) for n in (16, _n(256, scale))]


def grid_alg3(scale: float) -> dict[str, Any]:
    from bench_rllib_alg3 import bench_settings, time_ours

    return time_ours(bench_settings(), seeds=_n(10, scale), rounds=4, repeats=2)


def _sections(args: argparse.Namespace) -> dict[str, tuple[float, Callable[[], Any]]]:
    """``name: (seconds that must be left to start it, the measurement)``, in run order."""
    learn = (args.learn_s, args.learn_envs, args.learn_seeds)
    return {
        "economy_env": (40, lambda: economy_env(args.scale)),
        "economy_learning": (args.learn_s + 90, lambda: economy_learning(*learn, 10, 4, 8)),
        "economy_learning_conv_lstm": (
            args.learn_s + 90,
            lambda: economy_learning(*learn, 2, 4, 8, network="conv-lstm"),
        ),
        "spread_env": (20, lambda: spread_env(args.scale)),
        "pursuit_env": (20, lambda: pursuit_env(args.scale)),
        "ant_env": (60, lambda: ant_env(args.scale)),
        "economy_training": (60, lambda: economy_training(args.scale)),
        "grid_alg3": (60, lambda: grid_alg3(args.scale)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for accelerator.json")
    parser.add_argument("--budget-s", type=float, default=420.0, help="wall-time budget")
    parser.add_argument("--only", default="", help="comma-separated sections (default: all)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="batch multiplier (a CPU test: 1/64)"
    )
    parser.add_argument("--learn-s", type=float, default=150.0, help="economy training time")
    parser.add_argument("--learn-envs", type=int, default=256, help="economies per seed")
    parser.add_argument("--learn-seeds", type=int, default=2)
    parser.add_argument("--section", default="", help=argparse.SUPPRESS)  # worker mode
    args = parser.parse_args(argv)
    sections = _sections(args)

    if args.section:  # one section in this process, its result to --out/<section>.json
        try:
            result: Any = sections[args.section][1]()
        except Exception as err:  # reported, not raised: the parent keeps the other sections
            result = {"error": repr(err), "traceback": traceback.format_exc()[-3000:]}
        (args.out / f"{args.section}.json").write_text(json.dumps(result))
        return

    start = time.perf_counter()
    wanted = [s for s in args.only.split(",") if s] or list(sections)
    unknown = sorted(set(wanted) - set(sections))
    if unknown:
        parser.error(f"--only: unknown sections {unknown}; choose from {sorted(sections)}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "accelerator.json"
    out: dict[str, Any] = {
        "machine": machine_info(),
        "versions": {d: _version(d) for d in ("jax", "jaxlib", "mujoco-mjx", "flax", "optax")},
        "argv": sys.argv[1:],
        "sections": {},
    }
    with tempfile.TemporaryDirectory() as parts:
        for name in wanted:
            left = args.budget_s - (time.perf_counter() - start)
            if left < sections[name][0]:
                out["sections"][name] = {"skipped": f"{left:.0f} s left"}
                continue
            # Each section in its own process, killed when the budget runs out (a compile that
            # takes too long loses that section only).
            cmd = [
                sys.executable,
                __file__,
                "--section",
                name,
                "--out",
                parts,
                "--scale",
                str(args.scale),
                "--learn-s",
                str(args.learn_s),
                "--learn-envs",
                str(args.learn_envs),
                "--learn-seeds",
                str(args.learn_seeds),
            ]
            t0 = time.perf_counter()
            try:
                subprocess.run(cmd, timeout=left, check=False)
                part = Path(parts) / f"{name}.json"
                result = json.loads(part.read_text()) if part.exists() else {"error": "no output"}
            except subprocess.TimeoutExpired:
                result = {"error": f"killed at the budget's end after {left:.0f} s"}
            out["sections"][name] = {"wall_s": time.perf_counter() - t0, "result": result}
            path.write_text(json.dumps(out, indent=1))
            print(f"[{time.perf_counter() - start:6.1f} s] {name}: "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

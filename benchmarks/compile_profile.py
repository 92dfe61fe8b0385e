"""Where robustmas's setup time goes: trace, lower and XLA compile of ``init`` and ``update_chunk``.

Usage: .venv/bin/python benchmarks/compile_profile.py [--setting allocation-3x3|maintain-mixed]
[--seeds N] [--chunks C]

Uses the exact trainer of ``bench_stackelberg.py`` (``--seeds N``: ``N`` seeds vmapped, as in its
all-seeds protocol).  Each stage is timed separately with JAX's ahead-of-time API
(``jit(f).trace(...)``, ``.lower()``, ``.compile(...)``), in a fresh process and without a
persistent cache, so the numbers are those of a first run.  Compilation uses robustmas's XLA
options (:func:`robustmas.compilation.xla.compiler_options`: set ``ROBUSTMAS_XLA_OPT_LEVEL`` to
compare levels, or pass ``XLA_FLAGS``).  Tracing and lowering are Python work that no compilation
cache removes; they bound the warm-cache setup time from below.  After compiling, the chunk runs
``C`` more times: ``train_steps_per_s`` is the steady-state training throughput over all seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import jax

from bench_stackelberg import cases
from robustmas.compilation.xla import compiler_options
from robustmas.envs.stackelberg.pomdp import StackelbergPOMDP
from robustmas.envs.stackelberg.settings import make_setting
from robustmas.rl.ppo import PPO


def stages(fn: Any, *args: Any, static_argnums: tuple[int, ...] = ()) -> tuple[Any, dict]:
    """Trace, lower and compile ``jit(fn)`` on ``args``; the compiled function and the times."""
    times: dict[str, float] = {}
    t = time.perf_counter()
    traced = jax.jit(fn, static_argnums=static_argnums).trace(*args)
    times["trace_s"] = time.perf_counter() - t
    t = time.perf_counter()
    lowered = traced.lower()
    times["lower_s"] = time.perf_counter() - t
    t = time.perf_counter()
    compiled = lowered.compile(compiler_options() or None)
    times["compile_s"] = time.perf_counter() - t
    return compiled, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    names = [c.name for c in cases(False)]
    parser.add_argument("--setting", choices=names, default="allocation-3x3")
    parser.add_argument("--seeds", type=int, default=1, help="seeds vmapped (default 1: no vmap)")
    parser.add_argument("--chunks", type=int, default=40, help="timed chunk runs after compiling")
    args = parser.parse_args()
    if args.seeds < 1 or args.chunks < 1:
        parser.error("--seeds and --chunks must be >= 1")
    case = next(c for c in cases(False) if c.name == args.setting)
    params = make_setting(case.setting, **case.kwargs)
    trainer = PPO(case.ppo, StackelbergPOMDP(params), params)

    def chunk_fn(state: Any) -> Any:
        return trainer.update_chunk(state, case.chunk_updates)

    init_fn = trainer.init
    key: Any = jax.random.PRNGKey(0)
    if args.seeds > 1:
        init_fn, chunk_fn, key = (
            jax.vmap(init_fn),
            jax.vmap(chunk_fn),
            jax.random.split(key, args.seeds),
        )
    init, init_times = stages(init_fn, key)
    state = jax.block_until_ready(init(key))
    chunk, chunk_times = stages(chunk_fn, state)
    state, _ = jax.block_until_ready(chunk(state))  # first run (allocations)
    t = time.perf_counter()
    for _ in range(args.chunks):
        state, _ = jax.block_until_ready(chunk(state))
    run_s = time.perf_counter() - t
    steps = args.chunks * case.chunk_updates * case.ppo.batch_size * args.seeds
    report = {
        "setting": case.name,
        "seeds": args.seeds,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "compiler_options": compiler_options(),
        "init": init_times,
        "update_chunk": chunk_times,
        "setup_s": sum(init_times.values()) + sum(chunk_times.values()),
        "chunk_updates": case.chunk_updates,
        "chunk_run_s": run_s / args.chunks,
        "train_steps_per_s": steps / run_s,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

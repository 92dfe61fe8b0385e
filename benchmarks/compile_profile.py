"""Where robustmas's setup time goes: trace, lower and XLA compile of ``init`` and ``update_chunk``.

Usage: .venv/bin/python benchmarks/compile_profile.py [--setting allocation-3x3|maintain-mixed]

Uses the exact trainer of ``bench_stackelberg.py``.  Each stage is timed separately with JAX's
ahead-of-time API (``jit(f).trace(...)``, ``.lower()``, ``.compile()``), in a fresh process and
without a persistent cache, so the numbers are those of a first run.  Tracing and lowering are
Python work that no compilation cache removes; they bound the warm-cache setup time from below.
Run it under different ``XLA_FLAGS`` to compare compiler settings; the second chunk run is the
steady-state cost of one chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import jax

from bench_stackelberg import cases
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
    compiled = lowered.compile()
    times["compile_s"] = time.perf_counter() - t
    return compiled, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    names = [c.name for c in cases(False)]
    parser.add_argument("--setting", choices=names, default="allocation-3x3")
    args = parser.parse_args()
    case = next(c for c in cases(False) if c.name == args.setting)
    params = make_setting(case.setting, **case.kwargs)
    trainer = PPO(case.ppo, StackelbergPOMDP(params), params)
    key = jax.random.PRNGKey(0)
    init, init_times = stages(trainer.init, key)
    state = jax.block_until_ready(init(key))
    chunk, chunk_times = stages(
        trainer.update_chunk, state, case.chunk_updates, static_argnums=(1,)
    )
    runs = []
    for _ in range(2):
        t = time.perf_counter()
        state, _ = jax.block_until_ready(chunk(state))
        runs.append(time.perf_counter() - t)
    report = {
        "setting": case.name,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "init": init_times,
        "update_chunk": chunk_times,
        "chunk_updates": case.chunk_updates,
        "chunk_run_s": runs,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""Env steps per second of ``Pursuit`` (pure JAX) against PettingZoo's SISL pursuit.

Usage::

    .venv/bin/python benchmarks/bench_pursuit.py [--envs 1,64,1024] [--steps 100]
        [--repeats 3] [--min-time 0.5] [--pz-steps 1000] [--json OUT]

One *env step* is one cycle of all 8 pursuers in one environment (PettingZoo's parallel
``step``: 8 AEC turns, the capture check, 30 evader moves), so a rollout of ``T`` steps over
``B`` batched environments counts ``B x T`` env steps.  Both sides play uniformly random
``Discrete(5)`` actions with pursuit_v4's defaults (16 x 16 map, 8 pursuers, 30 evaders,
``obs_range`` 7, ``max_cycles`` 500) and start a new episode when one ends; resetting is part of
the measured work.

Sides:

* **ours**: ``robustmas.envs.pursuit.Pursuit``.  One jitted function runs ``jax.lax.scan``
  over ``T`` steps of ``jax.vmap(env.step)`` over the batch; the actions are drawn inside the
  scan with ``jax.random.randint``.  Nothing is stored per step: the observations and rewards
  of every step are folded into one checksum per environment, so XLA cannot drop the work.
  Two ways of starting new episodes:

  - *batch autoreset* (the headline): in a step where some environment of the batch ended, a
    ``lax.cond`` on the batch's ``any(done)`` resets the batch and keeps the new episodes where
    one ended; other steps compute no reset.  With random pursuers every episode lasts 500
    cycles, so as in PettingZoo one reset is paid per 500 steps;
  - *per-env autoreset*: ``jax.vmap(step_autoreset)``, as the PPO trainer steps its
    environments.  A ``vmap`` cannot branch per environment, so a reset (38 sequential spawn
    draws over the 256 cells) is computed for every environment at every step and mostly
    thrown away (``--no-env-autoreset`` skips these rows).

* **pettingzoo**: ``pettingzoo.sisl.pursuit_v5.parallel_env()`` (``pursuit_v4`` where v5 does
  not exist; v5 only added ``state()``), one NumPy environment stepped in a Python loop for
  ``--pz-steps`` steps with ``numpy.random.Generator.integers`` actions, ``reset()`` when no
  agent is left.

Compile time (``jit(...).lower(...).compile()``) is reported separately and not in the
throughput; each timed repeat calls the compiled rollout (continuing from the previous state)
until at least ``--min-time`` seconds have passed.  The table shows the best repeat and the
median; the ratios use the best of each side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # bench_spread's helpers, however this script is run
    sys.path.insert(0, str(HERE))

from bench_spread import _time_compiled, _version, machine_info  # noqa: E402

N_ACTIONS = 5


def bench_ours(batch: int, steps: int, repeats: int, min_time: float, *,
               autoreset: str = "batch", seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Throughput of ``batch`` vmapped environments over jitted ``steps``-step rollouts.

    ``autoreset``: ``"batch"`` resets (and selects) only in steps where some environment of the
    batch ended (``lax.cond`` on the batch's ``any(done)``); ``"env"`` is
    ``vmap(step_autoreset)``, which computes a reset for every environment at every step.
    """
    from robustmas.envs.core import step_autoreset
    from robustmas.envs.pursuit import Pursuit

    env = Pursuit()
    params = env.default_params()
    n = env.num_agents

    def per_env(keys: jax.Array, state: Any, actions: jax.Array) -> tuple[Any, ...]:
        def one(k: jax.Array, s: Any, a: jax.Array) -> tuple[Any, ...]:
            obs, s, reward, _done, _info = step_autoreset(env, k, s, a, params)
            return s, obs, reward

        return jax.vmap(one)(keys, state, actions)

    def per_batch(keys: jax.Array, state: Any, actions: jax.Array) -> tuple[Any, ...]:
        step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
        obs, state, reward, done, _info = step(keys, state, actions, params)

        def fresh(current: tuple[Any, Any]) -> tuple[Any, Any]:
            reset_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
            started = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)

            def pick(new: jax.Array, old: jax.Array) -> jax.Array:
                return jnp.where(done.reshape(done.shape + (1,) * (new.ndim - 1)), new, old)

            return jax.tree_util.tree_map(pick, started, current)

        obs, state = jax.lax.cond(done.any(), fresh, lambda current: current, (obs, state))
        return state, obs, reward

    step_batch = {"batch": per_batch, "env": per_env}[autoreset]

    def rollout(carry: tuple[jax.Array, Any, jax.Array]) -> tuple[jax.Array, Any, jax.Array]:
        def body(c: tuple[jax.Array, Any, jax.Array], _: None) -> tuple[Any, None]:
            key, state, check = c
            key, k_act, k_step = jax.random.split(key, 3)
            actions = jax.random.randint(k_act, (batch, n), 0, N_ACTIONS)
            state, obs, reward = step_batch(jax.random.split(k_step, batch), state, actions)
            folded = obs.reshape(batch, -1).sum(axis=1) + reward.sum(axis=1)
            return (key, state, check + folded), None

        out, _ = jax.lax.scan(body, carry, None, length=steps)
        return out

    key, k_reset = jax.random.split(jax.random.key(seed))
    reset_batch = jax.jit(jax.vmap(lambda k: env.reset(k, params)[1]))
    state = reset_batch(jax.random.split(k_reset, batch))
    carry = (key, state, jnp.zeros((batch,), jnp.float32))
    jax.block_until_ready(carry)

    t0 = time.perf_counter()
    compiled = jax.jit(rollout).lower(carry).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    carry = compiled(carry)  # first call (allocations, thread pools), not timed
    jax.block_until_ready(carry)
    first_call_s = time.perf_counter() - t0
    result = _time_compiled(compiled, carry, batch * steps, repeats, min_time)
    result.update(batch=batch, steps=steps, compile_s=compile_s, first_call_s=first_call_s,
                  autoreset=autoreset)  # fmt: skip
    return result


def _pettingzoo_pursuit() -> tuple[Any, str]:
    try:
        from pettingzoo.sisl import pursuit_v5 as module

        return module, "pursuit_v5"
    except ImportError:
        from pettingzoo.sisl import pursuit_v4 as module

        return module, "pursuit_v4"


def bench_pettingzoo(steps: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    """Steps per second of PettingZoo's pursuit (parallel API, random actions)."""
    module, name = _pettingzoo_pursuit()
    env = module.parallel_env()
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    rates: list[float] = []
    resets = 0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            if not env.agents:
                env.reset()
                resets += 1
            draws = rng.integers(0, N_ACTIONS, size=len(env.agents))
            env.step({a: int(x) for a, x in zip(env.agents, draws, strict=True)})
        rates.append(steps / (time.perf_counter() - start))
    env.close()
    return {
        "env": name,
        "steps": steps,
        "steps_per_s_best": max(rates),
        "steps_per_s_median": statistics.median(rates),
        "steps_per_s_all": rates,
        "resets": resets,
    }


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def report(out: dict[str, Any]) -> str:
    v, m, a = out["versions"], out["machine"], out["args"]
    pz = out["pettingzoo"]
    lines = [
        "## Pursuit throughput (env steps/s; 1 env step = 1 cycle of 8 pursuers, 30 evaders)",
        "",
        f"- versions: python {v['python']}, jax {v['jax']} (jaxlib {v['jaxlib']}), "
        f"pettingzoo {v['pettingzoo']} ({pz['env']}), numpy {v['numpy']}",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {', '.join(m['jax_devices'])}",
        f"- load average (1, 5, 15 min): before {out['load_before']}, after {out['load_after']}",
        f"- T = {a['steps']} steps per rollout, {a['repeats']} repeats of >= {a['min_time']} s "
        f"each; PettingZoo: {a['pz_steps']} steps x {a['repeats']} repeats; wall time "
        f"{out['wall_s']:.1f} s",
        "",
        "| side | envs | steps/s (best) | steps/s (median) | compile (s) | first call (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in out["ours"] + out["ours_env_autoreset"]:
        label = "ours" if r["autoreset"] == "batch" else "ours, per-env autoreset"
        lines.append(
            f"| {label} | {r['batch']:,} | {_fmt_rate(r['steps_per_s_best'])} | "
            f"{_fmt_rate(r['steps_per_s_median'])} | {r['compile_s']:.2f} | "
            f"{r['first_call_s']:.3f} |"
        )
    lines.append(
        f"| pettingzoo | 1 | {_fmt_rate(pz['steps_per_s_best'])} | "
        f"{_fmt_rate(pz['steps_per_s_median'])} | - | - |"
    )
    lines += ["", "| ratio (best / best) | value | target |", "|---|---|---|"]
    for label, value, target in out["ratio_rows"]:
        lines.append(f"| {label} | {value} | {target} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--envs", default="1,64,1024", help="batch sizes, comma-separated")
    parser.add_argument("--steps", type=int, default=100, help="T: steps per jitted rollout")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed repeat")
    parser.add_argument("--pz-steps", type=int, default=1000, help="PettingZoo steps per repeat")
    parser.add_argument("--no-env-autoreset", action="store_true",
                        help="skip the vmap(step_autoreset) rows")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)

    wall0 = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    batches = sorted({int(b) for b in args.envs.split(",") if b})
    ours = [bench_ours(b, args.steps, args.repeats, args.min_time) for b in batches]
    per_env = [] if args.no_env_autoreset else [
        bench_ours(b, args.steps, args.repeats, args.min_time, autoreset="env") for b in batches
    ]  # fmt: skip
    pz = bench_pettingzoo(args.pz_steps, args.repeats)
    load_after = [round(x, 2) for x in os.getloadavg()]

    pz_rate = pz["steps_per_s_best"]
    big = max(batches)
    ratios: dict[str, float] = {}
    ratio_rows: list[tuple[str, str, str]] = []
    for r in ours + per_env:
        batch_reset = r["autoreset"] == "batch"
        tag = "" if batch_reset else " (per-env autoreset)"
        value = r["steps_per_s_best"] / pz_rate
        target = ">= 1,000x" if r["batch"] == big and batch_reset else "-"
        ratio_rows.append((f"ours @ {r['batch']:,} envs{tag} / pettingzoo", f"{value:,.0f}x",
                           target))  # fmt: skip
        key = f"ours_{r['batch']}{'' if batch_reset else '_env_autoreset'}_over_pettingzoo"
        ratios[key] = value

    out: dict[str, Any] = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": _version("jaxlib"),
            "pettingzoo": _version("pettingzoo"),
            "numpy": np.__version__,
        },
        "machine": machine_info(),
        "load_before": load_before,
        "load_after": load_after,
        "ours": ours,
        "ours_env_autoreset": per_env,
        "pettingzoo": pz,
        "ratios": ratios,
        "ratio_rows": ratio_rows,
        "wall_s": time.perf_counter() - wall0,
    }
    print(report(out))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()

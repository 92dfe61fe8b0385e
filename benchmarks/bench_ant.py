"""Env steps per second of the MJX ``MultiAgentAnt`` (4x2) against MaMuJoCo's Ant 4x2.

Usage::

    .venv/bin/python benchmarks/bench_ant.py [--envs 1,64,256] [--steps 10] [--repeats 3]
        [--min-time 1.0] [--configs default,euler] [--mamujoco-steps 2000] [--json OUT]

Needs the ``mjx`` extra (``pip install -c constraints.txt -e '.[mjx]'``: mujoco, mujoco-mjx and
gymnasium-robotics); ``make bench-ant`` installs it and runs this file.

One *env step* is one joint step of the 4 agents in one environment: 5 physics steps of 0.01 s
(RK4 unless said otherwise).  Every side plays uniformly random actions in ``[-1, 1]`` and starts
a new episode when one ends (the Ant terminates when its torso leaves ``z in [0.2, 1.0]``, which
random actions cause within tens of steps); resetting is part of the measured work.

Sides:

* **ours**: ``robustmas.envs.ant.MultiAgentAnt`` (global 27-number observation for every agent,
  the ARNEQ reward).  One jitted function runs ``jax.lax.scan`` over ``T`` steps of
  ``jax.vmap(step_autoreset)`` over the batch (as the PPO trainer steps its environments); the
  actions are drawn inside the scan.  Observations and rewards of every step are folded into a
  checksum per environment, so XLA cannot drop the work.  Physics configurations
  (``--configs``):

  - ``default``: the Gymnasium XML's physics (RK4, Newton solver) with the solver capped at 4
    iterations and 10 line-search steps (the environment's defaults);
  - ``xml``: the XML's own solver settings (100 iterations, 50 line-search steps);
  - ``euler``: the default with the Euler integrator instead of RK4 (a different physics, shown
    only as a speed bound).

* **mamujoco**: ``gymnasium_robotics.mamujoco_v1.parallel_env("Ant", "4x2", ...)``, Gymnasium's
  Ant-v5 on MuJoCo's C engine, one environment stepped in a Python loop with
  ``numpy.random.Generator.uniform`` actions, ``reset()`` when no agent is left.  Two forms:
  ``agent_obsk=1`` (its default; 4 agents with local observations; the headline, since it is
  the multi-agent environment) and ``agent_obsk=None`` (MaMuJoCo then makes one agent with all
  8 actions and Ant-v5's 105-number observation).

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

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "xml": {"solver_iterations": None, "ls_iterations": None},
    "euler": {"integrator": "euler"},
}
"""``MultiAgentAnt`` keyword arguments of each physics configuration."""


def bench_ours(
    batch: int, steps: int, repeats: int, min_time: float, config: str, seed: int = 0
) -> dict[str, Any]:
    """Throughput of ``batch`` vmapped Ants over jitted ``steps``-step rollouts."""
    from robustmas.envs.ant import MultiAgentAnt
    from robustmas.envs.core import step_autoreset

    env = MultiAgentAnt(**CONFIGS[config])
    params = env.default_params()
    n = env.num_agents

    def rollout(carry: tuple[jax.Array, Any, jax.Array, jax.Array]) -> tuple[Any, ...]:
        def body(c: tuple[jax.Array, Any, jax.Array, jax.Array], _: None) -> tuple[Any, None]:
            key, state, check, ends = c
            key, k_act, k_step = jax.random.split(key, 3)
            actions = jax.random.uniform(k_act, (batch, n, 2), minval=-1.0, maxval=1.0)

            def one(k: jax.Array, s: Any, a: jax.Array) -> tuple[Any, ...]:
                obs, s, reward, done, _info = step_autoreset(env, k, s, a, params)
                return s, obs, reward, done

            state, obs, reward, done = jax.vmap(one)(
                jax.random.split(k_step, batch), state, actions
            )
            folded = obs.reshape(batch, -1).sum(axis=1) + reward.sum(axis=1)
            return (key, state, check + folded, ends + done.astype(jnp.int32)), None

        out, _ = jax.lax.scan(body, carry, None, length=steps)
        return out

    key, k_reset = jax.random.split(jax.random.key(seed))
    reset_batch = jax.jit(jax.vmap(lambda k: env.reset(k, params)[1]))
    state = reset_batch(jax.random.split(k_reset, batch))
    zeros = jnp.zeros((batch,), jnp.float32)
    carry = (key, state, zeros, zeros.astype(jnp.int32))
    jax.block_until_ready(carry)

    t0 = time.perf_counter()
    compiled = jax.jit(rollout).lower(carry).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    carry = compiled(carry)  # first call (allocations, thread pools), not timed
    jax.block_until_ready(carry)
    first_call_s = time.perf_counter() - t0
    result = _time_compiled(compiled, carry, batch * steps, repeats, min_time)
    result.update(
        batch=batch, steps=steps, config=config, compile_s=compile_s, first_call_s=first_call_s
    )
    return result


def bench_mamujoco(steps: int, repeats: int, agent_obsk: int | None, seed: int = 0) -> dict:
    """Steps per second of MaMuJoCo's Ant 4x2 (parallel API, random actions)."""
    from gymnasium_robotics import mamujoco_v1

    env = mamujoco_v1.parallel_env("Ant", "4x2", agent_obsk=agent_obsk)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    shapes = {a: env.action_space(a).shape for a in env.possible_agents}
    rates: list[float] = []
    resets = 0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            if not env.agents:
                env.reset()
                resets += 1
            env.step({a: rng.uniform(-1.0, 1.0, size=shapes[a]) for a in env.agents})
        rates.append(steps / (time.perf_counter() - start))
    obs_size = int(env.observation_space(env.possible_agents[0]).shape[0])
    env.close()
    return {
        "agent_obsk": agent_obsk,
        "agents": len(env.possible_agents),
        "obs_size": obs_size,
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
    lines = [
        "## Multi-Agent Ant 4x2 throughput (env steps/s; 1 env step = 4 agents, 5 physics steps)",
        "",
        f"- versions: python {v['python']}, jax {v['jax']} (jaxlib {v['jaxlib']}), mujoco "
        f"{v['mujoco']}, mujoco-mjx {v['mujoco-mjx']}, gymnasium {v['gymnasium']}, "
        f"gymnasium-robotics {v['gymnasium-robotics']}, numpy {v['numpy']}",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {', '.join(m['jax_devices'])}",
        f"- load average (1, 5, 15 min): before {out['load_before']}, after {out['load_after']}",
        f"- T = {a['steps']} steps per rollout, {a['repeats']} repeats of >= {a['min_time']} s "
        f"each; MaMuJoCo: {a['mamujoco_steps']} steps x {a['repeats']} repeats; wall time "
        f"{out['wall_s']:.1f} s",
        "",
        "| side | envs | steps/s (best) | steps/s (median) | compile (s) | first call (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in out["ours"]:
        lines.append(
            f"| ours ({r['config']}) | {r['batch']:,} | {_fmt_rate(r['steps_per_s_best'])} | "
            f"{_fmt_rate(r['steps_per_s_median'])} | {r['compile_s']:.1f} | "
            f"{r['first_call_s']:.2f} |"
        )
    for r in out["mamujoco"]:
        agents = f"{r['agents']} agent" + ("s" if r["agents"] != 1 else "")
        form = f"{agents}, obs {r['obs_size']}, agent_obsk={r['agent_obsk']}"
        lines.append(
            f"| mamujoco ({form}) | 1 | {_fmt_rate(r['steps_per_s_best'])} | "
            f"{_fmt_rate(r['steps_per_s_median'])} | - | - |"
        )
    lines += ["", "| ratio (best / best) | value | target |", "|---|---|---|"]
    for label, value, target in out["ratio_rows"]:
        lines.append(f"| {label} | {value} | {target} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--envs", default="1,64,256", help="batch sizes, comma-separated")
    parser.add_argument("--steps", type=int, default=10, help="T: steps per jitted rollout")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per timed repeat")
    parser.add_argument(
        "--configs",
        default="default,euler",
        help=f"physics configurations of ours, from {sorted(CONFIGS)}",
    )
    parser.add_argument("--mamujoco-steps", type=int, default=2000, help="steps per repeat")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"--configs: unknown {unknown}; choose from {sorted(CONFIGS)}")

    wall0 = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    batches = sorted({int(b) for b in args.envs.split(",") if b})
    mamujoco = [bench_mamujoco(args.mamujoco_steps, args.repeats, k) for k in (1, None)]
    ours = [
        bench_ours(b, args.steps, args.repeats, args.min_time, c) for c in configs for b in batches
    ]
    load_after = [round(x, 2) for x in os.getloadavg()]

    ratios: dict[str, float] = {}
    ratio_rows: list[tuple[str, str, str]] = []
    for ref in mamujoco:
        tag = "4 agents" if ref["agent_obsk"] is not None else "agent_obsk=None"
        for r in ours:
            value = r["steps_per_s_best"] / ref["steps_per_s_best"]
            headline = r["config"] == "default" and ref["agent_obsk"] is not None
            ratio_rows.append(
                (
                    f"ours ({r['config']}) @ {r['batch']:,} envs / mamujoco ({tag})",
                    f"{value:,.2f}x",
                    ">= 5x" if headline else "-",
                )
            )
            key = f"ours_{r['config']}_{r['batch']}_over_mamujoco_obsk_{ref['agent_obsk']}"
            ratios[key] = value

    out: dict[str, Any] = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": _version("jaxlib"),
            "mujoco": _version("mujoco"),
            "mujoco-mjx": _version("mujoco-mjx"),
            "gymnasium": _version("gymnasium"),
            "gymnasium-robotics": _version("gymnasium-robotics"),
            "numpy": np.__version__,
        },
        "machine": machine_info(),
        "load_before": load_before,
        "load_after": load_after,
        "ours": ours,
        "mamujoco": mamujoco,
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

"""Env steps per second of ``IndependentSpread`` against mpe2 and JaxMARL's MPE simple spread.

Usage::

    .venv/bin/python benchmarks/bench_spread.py [--envs 1024] [--steps 100] [--repeats 3]
        [--mpe2-steps 5000] [--json OUT] [--big-batch 4096] [--no-jaxmarl]

One *env step* is one joint step of all three agents in one environment, so a rollout of ``T``
steps over ``B`` batched environments counts ``B x T`` env steps.  Every side plays uniformly
random ``Discrete(5)`` actions (no-op, left, right, down, up) and resets when the episode ends;
the reset is part of the measured work.

Sides:

* **ours**: ``robustmas.envs.spread.IndependentSpread`` (3 agents, ``episode_length`` 25).
  One jitted function runs ``jax.lax.scan`` over ``T`` steps of
  ``jax.vmap(step_autoreset)`` over the batch; the actions are drawn inside the scan with
  ``jax.random.randint``.  Batch sizes 1, ``--envs`` (1,024) and ``--big-batch`` (4,096; 0
  skips it).
* **jaxmarl**: ``jaxmarl.make("MPE_simple_spread_v3")`` (3 agents, 3 landmarks, discrete
  actions, ``max_steps`` 25), run exactly like ours: jitted ``lax.scan`` over
  ``jax.vmap(env.step)`` (JaxMARL's ``step`` auto-resets itself), actions drawn the same way and
  handed over as JaxMARL's ``{agent: actions}`` dict, the same batch sizes and ``T``.
* **mpe2**: ``mpe2.simple_spread_v3.parallel_env(N=3, max_cycles=25,
  continuous_actions=False)``, one NumPy environment stepped in a Python loop for
  ``--mpe2-steps`` steps with ``numpy.random.Generator.integers`` actions, ``reset()`` when every
  agent is truncated or terminated.

Nothing in the scans is stored per step: each rollout folds the rewards and observations of
every step into one checksum per environment (identically on both JAX sides), so XLA cannot drop
the computation and the numbers measure the environment, not the memory traffic of a stored
trajectory.  Compile time (``jit(...).lower(...).compile()``) is reported separately and not in
the throughput; each timed repeat calls the compiled rollout (continuing from the previous
state) until at least ``--min-time`` seconds have passed, then divides env steps by time after
``block_until_ready``; the table shows the best repeat and the median.

How JaxMARL is run.  ``jaxmarl`` 0.2.0 needs ``jaxtyping``, ``gymnax`` and ``safetensors``,
which the main venv does not have, and ``import jaxmarl`` imports every JaxMARL environment, so
importing only the MPE module does not avoid them.  Rather than add packages to the main venv,
JaxMARL lives in its own venv, ``.venv-jaxmarl`` (git-ignored), built with the main venv's
constraints so that jax, jaxlib, flax, numpy and chex are the *same* versions::

    python3 -m venv .venv-jaxmarl
    .venv-jaxmarl/bin/pip install -c constraints.txt jaxmarl==0.2.0

The benchmark runs this very file with that interpreter (``--jaxmarl-worker``), which prints
its results as JSON.  ``--jaxmarl-python`` picks another interpreter; if ``jaxmarl`` imports in
the current interpreter it is used in-process instead; if neither works the table says why.

What each environment computes per step (so the comparison is like-for-like in actions and
physics, not in output):

* ours: MPE's soft agent-agent collisions (landmarks do not take part in the physics), one
  integration step, per-agent rewards ``-||p_i - l_i|| - 10 x collisions_i`` (each agent has
  its own landmark), 8 numbers of observation per agent, episodes of 25 steps.
* JaxMARL: the full MPE world (3 agents *and* 3 landmarks as entities, contact forces among
  all colliding entities, communication channels with noise), MPE's shared coverage reward
  ``sum_l -min_i ||p_i - l||`` mixed with per-agent collision penalties (``local_ratio`` 0.5),
  18 numbers of observation per agent, and dict-valued obs/rewards/dones.  Its ``done`` is
  checked before the step counter is incremented, so its episodes last 26 steps.
* mpe2: the reference MPE in NumPy (same reward as JaxMARL's), 18 numbers of observation per
  agent, the PettingZoo parallel API with Python dicts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_JAXMARL_PYTHON = REPO / ".venv-jaxmarl" / "bin" / "python"
N_AGENTS = 3
N_ACTIONS = 5


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _time_compiled(
    run: Callable[[Any], Any], carry: Any, env_steps_per_call: int, repeats: int, min_time: float
) -> dict[str, Any]:
    """Time ``carry = run(carry)`` (blocking) ``repeats`` times, each for >= ``min_time`` s."""
    rates: list[float] = []
    calls_per_repeat: list[int] = []
    for _ in range(repeats):
        calls = 0
        start = time.perf_counter()
        while True:
            carry = run(carry)
            jax.block_until_ready(carry)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        rates.append(calls * env_steps_per_call / elapsed)
        calls_per_repeat.append(calls)
    return {
        "steps_per_s_best": max(rates),
        "steps_per_s_median": statistics.median(rates),
        "steps_per_s_all": rates,
        "calls_per_repeat": calls_per_repeat,
    }


def _bench_jax_rollout(
    reset_batch: Callable[[jax.Array], Any],
    step_batch: Callable[[jax.Array, Any, jax.Array], tuple[Any, Any, Any]],
    batch: int,
    steps: int,
    repeats: int,
    min_time: float,
    seed: int,
) -> dict[str, Any]:
    """Shared harness of the two JAX sides.

    ``reset_batch(keys) -> state`` and ``step_batch(keys, state, actions) -> (state, obs,
    reward)`` work on ``batch`` environments; ``actions`` is an int32 ``(batch, N_AGENTS)``.
    """

    def rollout(carry: tuple[jax.Array, Any, jax.Array]) -> tuple[jax.Array, Any, jax.Array]:
        def body(c: tuple[jax.Array, Any, jax.Array], _: None):
            key, state, check = c
            key, k_act, k_step = jax.random.split(key, 3)
            actions = jax.random.randint(k_act, (batch, N_AGENTS), 0, N_ACTIONS)
            state, obs, reward = step_batch(jax.random.split(k_step, batch), state, actions)
            leaves = jax.tree_util.tree_leaves((obs, reward))
            folded = sum(jnp.reshape(x, (batch, -1)).sum(axis=1) for x in leaves)
            return (key, state, check + folded), None

        out, _ = jax.lax.scan(body, carry, None, length=steps)
        return out

    key, k_reset = jax.random.split(jax.random.key(seed))
    state = jax.jit(reset_batch)(jax.random.split(k_reset, batch))
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
    result.update(batch=batch, steps=steps, compile_s=compile_s, first_call_s=first_call_s)
    return result


def bench_ours(batch: int, steps: int, repeats: int, min_time: float, seed: int = 0) -> dict:
    from robustmas.envs.core import step_autoreset
    from robustmas.envs.spread import IndependentSpread

    env = IndependentSpread(N_AGENTS)
    params = env.default_params()

    def reset_batch(keys: jax.Array) -> Any:
        return jax.vmap(lambda k: env.reset(k, params)[1])(keys)

    def step_batch(keys: jax.Array, state: Any, actions: jax.Array) -> tuple[Any, Any, Any]:
        def one(k: jax.Array, s: Any, a: jax.Array) -> tuple[Any, Any, Any]:
            obs, s, reward, _done, _info = step_autoreset(env, k, s, a, params)
            return s, obs, reward

        return jax.vmap(one)(keys, state, actions)

    return _bench_jax_rollout(reset_batch, step_batch, batch, steps, repeats, min_time, seed)


def bench_jaxmarl_inprocess(
    batch: int, steps: int, repeats: int, min_time: float, seed: int = 0
) -> dict:
    import jaxmarl  # pyright: ignore[reportMissingImports]

    env = jaxmarl.make("MPE_simple_spread_v3")
    agents = list(env.agents)
    assert len(agents) == N_AGENTS, agents

    def reset_batch(keys: jax.Array) -> Any:
        return jax.vmap(lambda k: env.reset(k)[1])(keys)

    def step_batch(keys: jax.Array, state: Any, actions: jax.Array) -> tuple[Any, Any, Any]:
        act = {a: actions[:, i] for i, a in enumerate(agents)}
        obs, state, reward, _dones, _info = jax.vmap(env.step)(keys, state, act)
        return state, obs, reward

    return _bench_jax_rollout(reset_batch, step_batch, batch, steps, repeats, min_time, seed)


def _jaxmarl_importable() -> bool:
    try:
        import jaxmarl  # noqa: F401  # pyright: ignore[reportMissingImports]
    except ImportError:
        return False
    return True


def jaxmarl_worker(batches: list[int], steps: int, repeats: int, min_time: float) -> dict:
    """All JaxMARL measurements plus its interpreter's versions (runs in the JaxMARL venv)."""
    with contextlib.redirect_stdout(sys.stderr):  # jaxmarl prints on import
        results = [bench_jaxmarl_inprocess(b, steps, repeats, min_time) for b in batches]
    return {
        "results": results,
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": _version("jaxlib"),
            "jaxmarl": _version("jaxmarl"),
            "flax": _version("flax"),
            "numpy": np.__version__,
        },
        "interpreter": sys.executable,
    }


def bench_jaxmarl(
    batches: list[int], steps: int, repeats: int, min_time: float, python: Path
) -> dict:
    """JaxMARL in-process when importable, else in ``python`` as a subprocess."""
    if _jaxmarl_importable():
        out = jaxmarl_worker(batches, steps, repeats, min_time)
        out["mode"] = "in-process"
        return out
    if not python.exists():
        return {"error": f"jaxmarl not importable here and {python} does not exist"}
    cmd = [str(python), str(Path(__file__).resolve()), "--jaxmarl-worker", "--steps", str(steps),
           "--repeats", str(repeats), "--min-time", str(min_time),
           "--worker-batches", ",".join(map(str, batches))]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        return {"error": f"{python} exited {proc.returncode}: " + " | ".join(tail)}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["mode"] = "subprocess"
    return out


def bench_mpe2(steps: int, repeats: int, seed: int = 0) -> dict:
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(N=N_AGENTS, max_cycles=25, continuous_actions=False)
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
        "steps": steps,
        "steps_per_s_best": max(rates),
        "steps_per_s_median": statistics.median(rates),
        "steps_per_s_all": rates,
        "resets": resets,
    }


def machine_info() -> dict:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": affinity or os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "jax_devices": [str(d) for d in jax.devices()],
    }


def _fmt_rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def _fmt_ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:,.2f}x"


def report(out: dict) -> str:
    v, m = out["versions"], out["machine"]
    jm = out["jaxmarl"]
    jm_v = jm.get("versions", {})
    lines = [
        "## Independent Spread throughput (env steps/s; 1 env step = 1 joint step of 3 agents)",
        "",
        f"- versions: python {v['python']}, jax {v['jax']} (jaxlib {v['jaxlib']}), "
        f"mpe2 {v['mpe2']}, jaxmarl {jm_v.get('jaxmarl', 'n/a')} "
        f"(its venv: jax {jm_v.get('jax', 'n/a')}, python {jm_v.get('python', 'n/a')}; "
        f"{jm.get('mode', 'not run')})",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {', '.join(m['jax_devices'])}",
        f"- load average (1, 5, 15 min): before {out['load_before']}, after {out['load_after']}",
        f"- T = {out['args']['steps']} steps per rollout, {out['args']['repeats']} repeats of "
        f">= {out['args']['min_time']} s each; mpe2: {out['args']['mpe2_steps']} steps x "
        f"{out['args']['repeats']} repeats; wall time {out['wall_s']:.1f} s",
        "",
        "| side | envs | steps/s (best) | steps/s (median) | compile (s) | first call (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in (("ours", out["ours"]), ("jaxmarl", jm.get("results", []))):
        for r in rows:
            lines.append(
                f"| {name} | {r['batch']:,} | {_fmt_rate(r['steps_per_s_best'])} | "
                f"{_fmt_rate(r['steps_per_s_median'])} | {r['compile_s']:.2f} | "
                f"{r['first_call_s']:.3f} |"
            )
    mp = out["mpe2"]
    lines.append(
        f"| mpe2 | 1 | {_fmt_rate(mp['steps_per_s_best'])} | "
        f"{_fmt_rate(mp['steps_per_s_median'])} | - | - |"
    )
    if "error" in jm:
        lines += ["", f"JaxMARL not measured: {jm['error']}"]
    lines += ["", "| ratio (best / best) | value | target |", "|---|---|---|"]
    for label, value, target in out["ratio_rows"]:
        lines.append(f"| {label} | {value} | {target} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--envs", type=int, default=1024, help="batch size of the main comparison")
    parser.add_argument("--big-batch", type=int, default=4096, help="extra batch size (0: skip)")
    parser.add_argument("--steps", type=int, default=100, help="T: steps per jitted rollout")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed repeat")
    parser.add_argument("--mpe2-steps", type=int, default=5000, help="mpe2 steps per repeat")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--no-jaxmarl", action="store_true", help="skip JaxMARL")
    parser.add_argument("--jaxmarl-python", type=Path, default=DEFAULT_JAXMARL_PYTHON)
    parser.add_argument("--jaxmarl-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-batches", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.jaxmarl_worker:
        batches = [int(b) for b in args.worker_batches.split(",") if b]
        print(json.dumps(jaxmarl_worker(batches, args.steps, args.repeats, args.min_time)))
        return None

    wall0 = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    batches = sorted({1, args.envs} | ({args.big_batch} if args.big_batch > 0 else set()))

    ours = [bench_ours(b, args.steps, args.repeats, args.min_time) for b in batches]
    if args.no_jaxmarl:
        jm: dict[str, Any] = {"error": "skipped (--no-jaxmarl)"}
    else:
        jm = bench_jaxmarl(batches, args.steps, args.repeats, args.min_time, args.jaxmarl_python)
    mp = bench_mpe2(args.mpe2_steps, args.repeats)
    load_after = [round(x, 2) for x in os.getloadavg()]

    ours_at = {r["batch"]: r["steps_per_s_best"] for r in ours}
    jm_at = {r["batch"]: r["steps_per_s_best"] for r in jm.get("results", [])}
    mpe2_rate = mp["steps_per_s_best"]
    ratios: dict[str, float | None] = {}
    ratio_rows: list[tuple[str, str, str]] = []
    for b in batches:
        target = ">= 1x" if b == args.envs else "-"
        ratio_rows.append((f"ours / jaxmarl @ {b:,} envs", _fmt_ratio(ours_at[b], jm_at.get(b)),
                           target))  # fmt: skip
        jmb = jm_at.get(b)
        ratios[f"ours_over_jaxmarl_{b}"] = None if jmb is None else ours_at[b] / jmb
    for b in batches:
        target = ">= 100x" if b == args.envs else "-"
        ratio_rows.append((f"ours @ {b:,} envs / mpe2", _fmt_ratio(ours_at[b], mpe2_rate), target))
        ratios[f"ours_{b}_over_mpe2"] = ours_at[b] / mpe2_rate
    for b in batches:
        if b in jm_at:
            ratio_rows.append((f"jaxmarl @ {b:,} envs / mpe2", _fmt_ratio(jm_at[b], mpe2_rate),
                               "-"))  # fmt: skip
            ratios[f"jaxmarl_{b}_over_mpe2"] = jm_at[b] / mpe2_rate

    out: dict[str, Any] = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": _version("jaxlib"),
            "mpe2": _version("mpe2"),
            "numpy": np.__version__,
        },
        "machine": machine_info(),
        "load_before": load_before,
        "load_after": load_after,
        "ours": ours,
        "jaxmarl": jm,
        "mpe2": mp,
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

"""Training the economy's agents and planner: our JAX PPO against RLlib on the AI Economist.

Usage: ``.venv/bin/python benchmarks/bench_rllib_economy.py [--json FILE]`` (about 3 min),
after the reference venv is set up (see ``benchmarks/rllib_aie_economy.py``).

Both sides train the AI Economist's learners, in one run on this machine:

* **ours**: :func:`bench_economy.bench_training` with ``learner = "joint"``: PPO on
  ``EconomyJoint`` (the 4 agents and the planner, one masked MLP actor-critic 128 x 128 per
  learner, the AI Economist rows' joint phase), 16 economies x 250 steps per update, 4 epochs
  x 4 minibatches, compile excluded; then the same at 64 economies.
* **RLlib** 2.60 PPO on ``ai-economist`` 1.7.1 (``rllib_aie_economy.py`` in ``.venv-aie``):
  the same batch, epochs, minibatches and network sizes, the agents sharing one policy and the
  planner its own, no action masks.  It runs with one local env runner and one environment
  (the default), and with two remote env runners of 8 environments each, the fastest of the
  layouts tried on 2 cores (``RESULTS.md``).

The ratio is ours over RLlib's faster layout, in env steps per second of training (one env
step: all 4 agents and the planner act).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_economy import AIE_PYTHON, ROOT, bench_training  # noqa: E402
from bench_spread import _version, machine_info  # noqa: E402

RLLIB_LAYOUTS = ((0, 1), (2, 8))
"""RLlib's (remote env runners, environments per runner) layouts."""


def rllib_side(iters: int) -> list[dict[str, Any]]:
    """RLlib's rates in each layout (errors reported, not raised)."""
    rows = []
    for runners, envs in RLLIB_LAYOUTS:
        cmd = [
            str(AIE_PYTHON), str(HERE / "rllib_aie_economy.py"), "--iters", str(iters),
            "--runners", str(runners), "--envs", str(envs),
        ]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode or not lines:
            rows.append({"runners": runners, "envs": envs, "error": out.stderr[-2000:]})
        else:
            rows.append(json.loads(lines[-1]))
        print(json.dumps(rows[-1])[:400], flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--updates", type=int, default=5, help="our PPO updates timed")
    parser.add_argument("--iters", type=int, default=4, help="RLlib iterations (first excluded)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if not AIE_PYTHON.exists():
        raise SystemExit(f"{AIE_PYTHON}: missing; set it up as rllib_aie_economy.py says")
    ours = [bench_training("joint", args.updates, num_envs=n) for n in (16, 64)]
    for row in ours:
        print(json.dumps(row), flush=True)
    rllib = rllib_side(args.iters)
    rates = [r["steps_per_s"] for r in rllib if "steps_per_s" in r]
    best = max(rates) if rates else None
    print("| side | layout | env steps/s | x RLlib (best layout) |")
    print("|---|---|---:|---:|")
    for row in ours:
        ratio = f"{row['steps_per_s'] / best:,.0f}x" if best else "n/a"
        print(f"| robustmas joint PPO | {row['num_envs']} economies | "
              f"{row['steps_per_s']:,.0f} | {ratio} |")  # fmt: skip
    for row in rllib:
        layout = f"{row.get('num_env_runners', row.get('runners'))} runners x " + (
            f"{row.get('num_envs_per_env_runner', row.get('envs'))} envs"
        )
        rate = f"{row['steps_per_s']:,.0f}" if "steps_per_s" in row else "error"
        print(f"| RLlib PPO on ai-economist | {layout} | {rate} | |")
    out = {
        "machine": machine_info(),
        "versions": {"jax": _version("jax"), "robustmas": _version("robustmas")},
        "ours": ours,
        "rllib": rllib,
        "ratio_best": None if best is None else [r["steps_per_s"] / best for r in ours],
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()

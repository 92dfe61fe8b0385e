"""Conv + LSTM PPO on the CPU: where an update's time goes, and the two fixes.

Usage: ``.venv/bin/python benchmarks/bench_recurrent.py [--json FILE] [--only conv,update]``

* ``conv``: the gradient of one 3 x 3 convolution layer (1,000 images 11 x 11 x 9 to 16
  channels, the economy agents' first layer over a minibatch), computed alone and inside a
  ``lax.scan`` of 4 steps (as PPO's epoch and minibatch loops run it), for ``flax.linen.Conv``
  and for :class:`~robustmas.rl.networks.PatchConv` (the torso's convolution since 2026-12-05).
* ``update``: one PPO update of the ``rp-fig4`` free-market agents (the economy, 4 agents with
  one shared actor-critic, 250 steps per environment, 4 epochs x 4 minibatches), for the
  papers' conv + LSTM networks and the MLP, at 4 and 16 environments: the rollout alone and
  the whole update (rollout, GAE, the epochs), compile excluded, best of 3.

The ``update`` section also runs on code from before the fixes (``PatchConv`` missing: the
``conv`` section is skipped there), which is how ``RESULTS.md`` compares the two.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp


def _best(fn: Callable[..., Any], *args: Any, repeats: int = 3) -> float:
    """Seconds of the fastest of ``repeats`` calls after a first (compiling) call."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def conv_section() -> list[dict[str, Any]]:
    """Gradient of one convolution layer, alone and inside a scan: flax's and ours."""
    import flax.linen as nn

    from robustmas.rl.networks import PatchConv

    images = jax.random.normal(jax.random.PRNGKey(0), (1000, 11, 11, 9))
    rows = []
    for name, layer in (
        ("flax.linen.Conv", nn.Conv(16, (3, 3), padding="VALID")),
        ("PatchConv", PatchConv(16)),
    ):
        params = layer.init(jax.random.PRNGKey(1), images[:1])

        def loss(p: Any, layer: Any = layer) -> jax.Array:
            return jnp.sum(jnp.square(layer.apply(p, images)))

        grad = jax.grad(loss)

        def descend(p: Any, grad: Any = grad) -> Any:
            def step(q: Any, _: None) -> tuple[Any, None]:
                return jax.tree_util.tree_map(lambda a, g: a - 1e-6 * g, q, grad(q)), None

            return jax.lax.scan(step, p, None, length=4)[0]

        rows.append({
            "layer": name,
            "forward_ms": 1e3 * _best(jax.jit(loss), params),
            "gradient_ms": 1e3 * _best(jax.jit(grad), params),
            "gradient_in_scan_ms_per_step": 1e3 * _best(jax.jit(descend), params) / 4,
        })  # fmt: skip
    return rows


def update_section(envs: tuple[int, ...]) -> list[dict[str, Any]]:
    """One PPO update of the economy's free-market agents: conv + LSTM and MLP."""
    from robustmas.experiments.economy_cells import (
        EconomyTaxesSettings,
        agents_program,
        program_shape,
    )
    from robustmas.experiments.economy_types import ORIGINAL_ALPHA

    rows = []
    for network in ("conv-lstm", "mlp"):
        for num_envs in envs:
            s = EconomyTaxesSettings(
                test_types=("Original",),
                num_envs=num_envs,
                total_timesteps=num_envs * 250 * 1000,
                network=network,
            )
            trainer = agents_program(program_shape(s), ORIGINAL_ALPHA).trainer
            runner = trainer.init(jax.random.PRNGKey(0), env_params=trainer.env_params)
            rollout = jax.jit(lambda r, t=trainer: t._rollout(r, jax.random.PRNGKey(1)))
            update = jax.jit(trainer.update)
            start = time.perf_counter()
            jax.block_until_ready(update(runner))
            first = time.perf_counter() - start
            update_s = _best(update, runner)
            rows.append({
                "network": network,
                "num_envs": num_envs,
                "env_steps_per_update": num_envs * 250,
                "compile_and_first_s": first,
                "rollout_s": _best(rollout, runner),
                "update_s": update_s,
                "env_steps_per_s": num_envs * 250 / update_s,
            })  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--only", default="conv,update", help="sections, comma-separated")
    parser.add_argument("--envs", default="4,16", help="environments of the update section")
    args = parser.parse_args(argv)
    sections = set(args.only.split(","))
    out: dict[str, Any] = {"jax": jax.__version__, "backend": jax.default_backend()}
    if "conv" in sections:
        try:
            out["conv"] = conv_section()
        except ImportError:  # code from before PatchConv
            out["conv"] = "skipped: no PatchConv in this version"
        print(json.dumps(out["conv"]), flush=True)
    if "update" in sections:
        out["update"] = update_section(tuple(int(n) for n in args.envs.split(",")))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

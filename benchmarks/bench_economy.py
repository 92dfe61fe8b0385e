"""Env steps per second of the JAX gather-trade-build economy against the AI Economist.

Usage::

    .venv/bin/python benchmarks/bench_economy.py [--envs 1,64,256,1024] [--steps 100]
        [--repeats 3] [--min-time 1.0] [--aie-steps 2000] [--json OUT]

One *env step* is one step of the whole economy: four agents and the planner act, the
components run (build, trade, gather, tax), resources regrow, and every observation and mask
of the next step is produced.  Both sides play the same random policy: each agent picks
uniformly among the actions its mask allows, the planner picks per bracket uniformly among its
allowed choices (the papers' setting: Open-Quadrant map, 1000-step episodes, the planner's
taxes).

Sides:

* **ours**: ``robustmas.envs.economy.GatherTradeBuild(tax_model="planner")``.  One jitted
  ``lax.scan`` over ``T`` steps of ``vmap(env.step)`` over the batch, the actions drawn inside
  from the masks (one uniform per choice), observations folded into a checksum so XLA keeps the
  work.  Episodes restart with a *batch autoreset*: a ``lax.cond`` on ``any(done)`` resets the
  batch (every episode lasts 1000 steps, so one reset per 1000 steps, as in the AI Economist).
* **ai-economist**: ``ai-economist`` 1.7.1 in its own venv (``.venv-aie``, see the README),
  one environment stepped in Python with the same policy; ``tests/aie_reference.py speed``
  runs it in a subprocess and prints its rate (best of 3, reset excluded, the policy included).

Compile time is reported separately and not in the throughput; each timed repeat calls the
compiled rollout until ``--min-time`` seconds have passed; the ratio uses the best of each side.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_spread import _time_compiled, _version, machine_info  # noqa: E402

AIE_PYTHON = ROOT / ".venv-aie" / "bin" / "python"


def uniform_allowed(u: jax.Array, mask: jax.Array) -> jax.Array:
    """The ``floor(u * count)``-th allowed choice of each row of ``mask``."""
    count = mask.sum(-1)
    k = jnp.minimum((u * count).astype(jnp.int32), count - 1)
    return jnp.argmax(jnp.cumsum(mask, -1) > k[..., None], axis=-1)


def bench_ours(
    batch: int,
    steps: int,
    repeats: int,
    min_time: float,
    seed: int = 0,
    observe: bool = True,
    market: bool = True,
) -> dict:
    """Throughput of ``batch`` vmapped economies over jitted ``steps``-step rollouts.

    ``observe=False`` folds only the rewards into the checksum, so XLA drops every observation
    but the masks the policy reads: what the simulation costs without rendering observations.
    ``market=False`` also keeps the policy off the market actions (no orders, no matching):
    with ``observe=False`` the difference is the market's share of a step.
    """
    from robustmas.envs.economy import EconomyAction, GatherTradeBuild

    env = GatherTradeBuild(tax_model="planner")
    params = env.default_params()
    n, brackets = env.n_agents, env.num_brackets
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def checksum(obs: Any) -> jax.Array:
        if not observe:
            return jnp.zeros((batch,), jnp.float32)
        leaves = jax.tree_util.tree_leaves(obs)
        return sum(x.reshape(batch, -1).sum(axis=1, dtype=jnp.float32) for x in leaves)

    def body(c: tuple, _: None) -> tuple[tuple, None]:
        key, obs, state, check = c
        key, k_act, k_step, k_reset = jax.random.split(key, 4)
        u = jax.random.uniform(k_act, (batch, n + brackets))
        agent_mask = obs.agent_mask if market else obs.agent_mask.at[..., 2:46].set(False)
        action = EconomyAction(
            agents=uniform_allowed(u[:, :n], agent_mask),
            planner=uniform_allowed(u[:, n:], obs.planner_mask),
        )
        obs, state, reward, done, _ = step(jax.random.split(k_step, batch), state, action, params)
        obs, state = jax.lax.cond(
            done.any(),
            lambda _: reset(jax.random.split(k_reset, batch), params),
            lambda cur: cur,
            (obs, state),
        )
        return (key, obs, state, check + checksum(obs) + reward.sum(axis=1)), None

    def rollout(carry: tuple) -> tuple:
        return jax.lax.scan(body, carry, None, length=steps)[0]

    key, k_reset = jax.random.split(jax.random.key(seed))
    obs, state = jax.jit(reset)(jax.random.split(k_reset, batch), params)
    carry = (key, obs, state, jnp.zeros((batch,), jnp.float32))
    t0 = time.perf_counter()
    compiled = jax.jit(rollout).lower(carry).compile()
    compile_s = time.perf_counter() - t0
    carry = compiled(carry)
    jax.block_until_ready(carry)
    result = _time_compiled(compiled, carry, batch * steps, repeats, min_time)
    result.update(batch=batch, steps=steps, compile_s=compile_s, observe=observe, market=market)
    return result


def bench_training(learner: str, updates: int, seed: int = 0, num_envs: int = 16) -> dict:
    """Env steps/s of PPO training the agents (``EconomyAgents``, free market), the planner
    (``EconomyPlanner``, agents uniform over their allowed actions) or both (``joint``:
    ``EconomyJoint``, one actor-critic per learner, as the learned-planner rows), compile
    excluded.

    The configuration of the ``rp-fig4`` preset: 16 economies (``num_envs``) x 250 steps per
    update, 4 epochs of 4 minibatches, masked MLP actor and critic (128, 128).
    """
    from robustmas.envs.economy import GatherTradeBuild
    from robustmas.envs.economy.agents_view import EconomyAgents
    from robustmas.envs.economy.joint_view import EconomyJoint
    from robustmas.envs.economy.planner_view import EconomyPlanner, PlannerParams
    from robustmas.rl.config import PPOConfig
    from robustmas.rl.ppo import PPO

    sharing = True
    if learner == "agents":
        env: Any = EconomyAgents(GatherTradeBuild(tax_model="fixed"))
        params: Any = env.default_params()
        mask = 50
    elif learner == "joint":  # the AI Economist's joint phase: 4 agents + planner, own weights
        env = EconomyJoint()
        params = env.default_params()
        mask, sharing = env.mask_size, False
    else:
        env = EconomyPlanner()
        params = PlannerParams(economy=env.economy.default_params())
        mask = 154
    config = PPOConfig(
        num_envs=num_envs,
        num_steps=250,
        total_timesteps=num_envs * 250 * updates,
        update_epochs=4,
        num_minibatches=4,
        actor_hidden=(128, 128),
        critic_hidden=(128, 128),
        activation="relu",
        action_mask_size=mask,
        parameter_sharing=sharing,
        eval_every=0,
    )
    trainer = PPO(config, env, params)
    runner = jax.jit(trainer.init)(jax.random.key(seed))
    t0 = time.perf_counter()
    chunk = jax.jit(trainer.update_chunk, static_argnums=1).lower(runner, updates).compile()
    compile_s = time.perf_counter() - t0
    runner, _ = chunk(runner)  # warm
    jax.block_until_ready(runner)
    t0 = time.perf_counter()
    runner, _ = chunk(runner)
    jax.block_until_ready(runner)
    elapsed = time.perf_counter() - t0
    steps = config.batch_size * updates
    return {"learner": learner, "steps_per_s": steps / elapsed, "compile_s": compile_s,
            "updates": updates, "env_steps": steps, "num_envs": num_envs}  # fmt: skip


def bench_alg3_round(rounds: int, seed: int = 0) -> dict:
    """Seconds and env steps of RP Alg. 3 rounds on the economy (``rp-fig4``'s "Ours" row:
    2 main updates, 4 agents x 5 deviation updates, 4 regret episodes of 1,000 steps for the
    snapshot and each deviation), compile excluded; one seed."""
    from robustmas.experiments.economy_cells import EconomyTaxesSettings
    from robustmas.experiments.economy_planners import _robust, _shape

    s = EconomyTaxesSettings(method="alg3")
    program = _robust(_shape(s, 0.025))
    params = jax.tree_util.tree_map(lambda x: jnp.stack([x]), program.params)
    state = program.init(
        jax.random.split(jax.random.key(seed), 1), jnp.full((1,), -30.0), None, params,
        jnp.full((1,), 20.0),
    )  # fmt: skip
    t0 = time.perf_counter()
    chunk = program.chunk(rounds)
    state, _ = chunk(state)  # compile and warm
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, _ = chunk(state)
    jax.block_until_ready(state)
    elapsed = time.perf_counter() - t0
    batch = s.num_envs * s.num_steps
    agents = 4
    per_round = (
        s.main_updates * batch
        + agents * s.deviation_updates * batch
        + (1 + agents) * s.regret_episodes * s.episode_length
    )
    return {"seconds_per_round": elapsed / rounds, "env_steps_per_round": per_round,
            "steps_per_s": per_round * rounds / elapsed, "compile_and_first_s": compile_s,
            "rounds": rounds}  # fmt: skip


def bench_aie(steps: int) -> dict | None:
    """The AI Economist's rate from its own venv, or ``None`` when that venv is missing."""
    if not AIE_PYTHON.exists():
        return None
    script = str(ROOT / "tests" / "aie_reference.py")
    cmd = [str(AIE_PYTHON), script, "speed", "--steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", default="1,64,256,1024", help="batch sizes, comma-separated")
    parser.add_argument("--steps", type=int, default=100, help="steps per compiled rollout")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per timed repeat")
    parser.add_argument("--aie-steps", type=int, default=2000, help="AI Economist steps per repeat")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--training-updates", type=int, default=5, help="PPO updates timed (0: skip training)"
    )
    parser.add_argument("--alg3-rounds", type=int, default=1, help="Alg. 3 rounds timed (0: skip)")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.envs.split(",")]

    aie = bench_aie(args.aie_steps)
    ours = [bench_ours(b, args.steps, args.repeats, args.min_time) for b in batches]
    big = max(batches)
    ours += [bench_ours(big, args.steps, args.repeats, args.min_time, observe=False)]
    ours += [bench_ours(big, args.steps, args.repeats, args.min_time, observe=False, market=False)]
    training = [
        bench_training(who, args.training_updates)
        for who in ("agents", "planner", "joint")
        if args.training_updates
    ]
    alg3 = bench_alg3_round(args.alg3_rounds) if args.alg3_rounds else None
    out = {
        "training": training,
        "alg3": alg3,
        "machine": machine_info(),
        "versions": {"jax": _version("jax"), "robustmas": _version("robustmas")},
        "ai_economist": aie,
        "ours": ours,
    }
    base = None if aie is None else aie["steps_per_s_with_policy"]
    env_only = None if aie is None else aie["env_steps_per_s"]
    if aie is None:
        print("AI Economist: not installed (.venv-aie, see the README)")
    else:
        print(f"AI Economist, 1 env: {_fmt(base)}/s with the policy, {_fmt(env_only)}/s without")
    print("| envs | observations | ours steps/s (best) | median | compile s | x AIE (policy) |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in ours:
        best = r["steps_per_s_best"]
        ratio = f"{best / base:,.0f}x" if base else "n/a"
        seen = "all" if r["observe"] else "masks only"
        if not r["market"]:
            seen += ", no market actions"
        print(
            f"| {r['batch']} | {seen} | {_fmt(best)} | {_fmt(r['steps_per_s_median'])} "
            f"| {r['compile_s']:.1f} | {ratio} |"
        )
    for r in training:
        print(
            f"PPO training the {r['learner']}: {_fmt(r['steps_per_s'])} env steps/s "
            f"({r['updates']} updates, compile {r['compile_s']:.0f} s)"
        )
    if alg3:
        print(
            f"Alg. 3 on the economy: {alg3['seconds_per_round']:.1f} s per round, "
            f"{_fmt(alg3['env_steps_per_round'])} env steps ({_fmt(alg3['steps_per_s'])}/s)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()

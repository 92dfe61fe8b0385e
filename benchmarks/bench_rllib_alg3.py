"""Training env steps/s of Algorithm 3 (robust principal training) against RLlib's multi-agent PPO.

Usage: .venv/bin/python benchmarks/bench_rllib_alg3.py [--seeds N] [--rounds R] [--rllib-iters I]
       [--rllib-envs E] [--json OUT] [--skip-count-check]

Both sides train on the 4-player 7x7x7x7 N-matrix grid game (``nmatrix-v0``: three agents and a
principal that moves the fourth axis; RP Sec. 6, Zhao, Trott, Xiong, Zheng, AAAI 2023,
arXiv:2106.05492) with horizon 50, observations ``scaled`` and 32-unit tanh actor and critic
MLPs (one per player), on this machine, in one run:

* **ours**: :class:`~robustmas.robust.adversarial_sampling.AdversarialSampler` with
  ``train_principal=True`` (RP Alg. 3), configured by
  :func:`~robustmas.experiments.grid_sampling.sampling_config` from the ``rp-fig5`` preset's
  budget (2 main updates, 10 deviation updates, 16 evaluation episodes, 16 envs) with
  ``method="alg3"`` on ``nmatrix-v0``; several seeds in one ``jit(vmap(run_rounds))`` call, as
  the experiment platform runs a cell, and one seed alone.  Its env steps are counted by
  :func:`env_steps_per_round` (main updates, deviations and Monte-Carlo evaluations) and the
  count is checked against the compiled program itself (:func:`counted_env_steps_per_round`).
  Compile time is excluded from the throughput and reported on its own.
* **RLlib**: multi-agent PPO (new API stack), one policy per player (3 agents and the
  principal), on the same game through our PettingZoo ``ParallelEnv`` adapter wrapped in
  ``ParallelPettingZooEnv``; a local env runner (``num_env_runners=0``) with the same number of
  vectorised envs, a local learner, the main learners' PPO settings (batch 16 x 50 env steps,
  2 minibatches, 1 epoch, lr 3e-3, gamma 0.95, GAE lambda 0.9, clip 0.3, entropy 0.01, grad
  norm 10, no KL penalty).  RLlib has no Alg. 3: this side is plain PPO training, the cheapest
  thing RLlib could do on the game.  Throughput is RLlib's ``num_env_steps_sampled_lifetime``
  over the wall time of the iterations after the first; the first iteration and the startup
  (imports, ``ray.init``, ``build_algo``) are reported on their own.

Both sides count **env steps**: one step of one environment in which all four players act (RLlib's
agent steps are four times as many).  The ratio is ours / RLlib in env steps per second of wall
time.  The machine may be shared: the load averages before and after are printed with the table.

RLlib needs ``ray[rllib]``'s extra dependencies (pandas, pyarrow, lz4, ormsgpack), which the
project's ``ray`` extra does not install; the ``rllib`` extra does (``ray[rllib]`` itself would
pin gymnasium 1.2.2, the venv has 1.4.0)::

    .venv/bin/python -m pip install -c constraints.txt -e '.[rllib]'
    .venv/bin/python benchmarks/bench_rllib_alg3.py

Without them the RLlib side reports the import error and no ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.envs.grid_presets import make_grid_game
from robustmas.experiments.grid_sampling import GridSamplingSettings, sampling_config
from robustmas.robust.adversarial_sampling import AdversarialSampler, AdversarialSamplingConfig

GAME = "nmatrix-v0"
HORIZON = 50


def bench_settings(horizon: int = HORIZON) -> GridSamplingSettings:
    """The benchmark's cell: the ``rp-fig5`` preset's budget, Alg. 3 on ``nmatrix-v0``."""
    return GridSamplingSettings(
        game=GAME,
        horizon=horizon,
        obs="scaled",
        method="alg3",
        exact=False,
        actor_hidden=(32,),
        critic_hidden=(32,),
        main_updates=2,
        deviation_updates=10,
        eval_episodes=16,
        eps_per_step=0.04,
        lambda_lr=2.0,
        rounds=1,
        window=1,
        checkpoint_rounds=1,
    )


# --------------------------------------------------------------------------- step counting


def env_steps_per_round(config: AdversarialSamplingConfig, num_agents: int, horizon: int) -> int:
    """Env steps one seed's round of :meth:`AdversarialSampler.round` takes (Monte-Carlo regret).

    Derived from the round's code (``adversarial_sampling.py``):

    * each PPO update (``PPO.update``) rolls out ``num_steps`` steps in ``num_envs`` envs;
    * the main update runs ``main_updates`` of them (all players at once: one rollout);
    * the deviations run ``deviation_updates`` updates for each of the ``num_agents`` agents
      (a ``vmap`` over agents: a rollout each), twice with ``fresh_deviation`` (from the snapshot
      and from a fresh actor); the ``kl_radius`` stop rejects updates after rolling them out, so
      it does not change the count;
    * every Monte-Carlo return (``evaluate_returns``) runs ``eval_episodes`` episodes of the
      fixed horizon (capped at ``eval_max_steps``): one for the snapshot and one per deviation.

    Env resets (``init``, the autoreset of the rollouts) are not counted.  With this file's cell
    (2 main updates, 10 deviation updates, 16 envs x 50 steps, 16 evaluation episodes, 3 agents)
    that is ``1600 + 24000 + 3200 = 28800`` env steps per round and seed.
    """
    dev = config.deviation_config
    copies = 2 if config.fresh_deviation else 1
    main = config.main_updates * config.ppo.num_envs * config.ppo.num_steps
    deviations = copies * num_agents * config.deviation_updates * dev.num_envs * dev.num_steps
    episode = min(horizon, config.ppo.eval_max_steps)
    evaluations = (1 + copies * num_agents) * config.eval_episodes * episode
    return main + deviations + evaluations


class _StepCounter:
    """The wrapped environment, plus a host callback in ``step`` that counts logical steps.

    ``pure_callback(..., vmap_method="broadcast_all")`` receives its arguments broadcast over
    every ``vmap`` axis along which any of them is batched, so ``np.size(done)`` per call is the
    number of env steps that call stands for.  The step's key and actions are passed so that the
    callback is batched wherever the step really differs (``done`` alone depends only on the
    clock, which the deviations' ``vmap`` over agents shares, and would be counted once for all
    agents).  The zero it returns is added to the reward so that the call is not dead code.
    """

    def __init__(self, env: Any) -> None:
        self._env = env
        self.steps = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def _add(self, done: np.ndarray, key: np.ndarray, action: np.ndarray) -> np.ndarray:
        del key, action
        self.steps += int(np.size(done))
        return np.zeros(np.shape(done), np.float32)

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> Any:
        obs, state, reward, done, info = self._env.step(key, state, action, params)
        zero = jax.pure_callback(
            self._add,
            jax.ShapeDtypeStruct(jnp.shape(done), jnp.float32),
            done,
            key,
            action,
            vmap_method="broadcast_all",
        )
        return obs, state, reward + zero, done, info


def counted_env_steps_per_round(s: GridSamplingSettings) -> int:
    """Env steps one round of one seed takes, counted by running it (compiles the round once)."""
    setup = make_grid_game(s.game, episode_length=s.horizon, obs=s.obs)
    counter = _StepCounter(setup.env)
    sampler = AdversarialSampler(sampling_config(s), counter, setup.params)  # pyright: ignore[reportArgumentType]
    state = jax.jit(lambda key: sampler.init(key, 0.0))(jax.random.PRNGKey(0))
    jax.block_until_ready(state)
    counter.steps = 0  # resets only so far, but keep the count to the round
    out = jax.jit(lambda st: sampler.run_rounds(st, 1))(state)
    jax.block_until_ready(out)
    return counter.steps


# --------------------------------------------------------------------------- our side


def time_ours(s: GridSamplingSettings, seeds: int, rounds: int, repeats: int) -> dict[str, Any]:
    """Compile and time ``repeats`` calls of ``rounds`` rounds of ``seeds`` vmapped seeds."""
    setup = make_grid_game(s.game, episode_length=s.horizon, obs=s.obs)
    config = sampling_config(s)
    sampler = AdversarialSampler(config, setup.env, setup.params)
    per_round = env_steps_per_round(config, sampler.num_agents, s.horizon)

    t0 = time.perf_counter()
    init = jax.jit(jax.vmap(lambda key, eps: sampler.init(key, eps)))
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    state = init(keys, jnp.full((seeds,), s.eps_per_step * s.horizon, jnp.float32))
    jax.block_until_ready(state)
    chunk = jax.jit(jax.vmap(lambda st: sampler.run_rounds(st, rounds))).lower(state).compile()
    compile_s = time.perf_counter() - t0

    call_s = []
    for _ in range(repeats):
        t = time.perf_counter()
        state, metrics = chunk(state)
        jax.block_until_ready((state, metrics))
        call_s.append(time.perf_counter() - t)
    steps_per_call = seeds * rounds * per_round
    return {
        "seeds": seeds,
        "rounds_per_call": rounds,
        "calls": repeats,
        "env_steps_per_round_per_seed": per_round,
        "env_steps": steps_per_call * repeats,
        "compile_s": compile_s,
        "call_s": call_s,
        "steps_per_s": steps_per_call * repeats / sum(call_s),
        "steps_per_s_per_call": [steps_per_call / t for t in call_s],
        "final_round": int(np.asarray(state.round).reshape(-1)[0]),
    }


# --------------------------------------------------------------------------- RLlib side


def _policy_of(agent_id: Any, *_: Any, **__: Any) -> str:
    """RLlib's policy mapping: one policy per player, named as the player."""
    return str(agent_id)


def time_rllib(s: GridSamplingSettings, iters: int, num_envs: int) -> dict[str, Any]:
    """Build RLlib's multi-agent PPO on the adapter and time ``iters`` training iterations."""
    t0 = time.perf_counter()
    try:
        import ray
        from ray.rllib.algorithms.ppo import PPOConfig as RLlibPPOConfig
        from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec
        from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
        from ray.tune.registry import register_env
    except ImportError as err:
        return {"error": f"{type(err).__name__}: {err} (cause: {err.__cause__!r})"}
    from robustmas.envs.parallel.adapters import make_parallel_grid_game

    import_s = time.perf_counter() - t0

    def make_env(_: Any) -> Any:
        return ParallelPettingZooEnv(
            make_parallel_grid_game(s.game, episode_length=s.horizon, obs=s.obs)
        )

    agents = list(make_parallel_grid_game(s.game, episode_length=s.horizon).possible_agents)
    batch = s.num_envs * s.horizon  # one of our main PPO updates
    config = (
        RLlibPPOConfig()
        .environment("robustmas-nmatrix")
        .multi_agent(policies=set(agents), policy_mapping_fn=_policy_of)
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(
                rl_module_specs={agent: RLModuleSpec() for agent in agents}
            ),
            model_config=DefaultModelConfig(
                fcnet_hiddens=list(s.actor_hidden),
                fcnet_activation="tanh",
                vf_share_layers=False,
            ),
        )
        .env_runners(
            num_env_runners=0, num_envs_per_env_runner=num_envs, rollout_fragment_length="auto"
        )
        .learners(num_learners=0)
        .training(
            train_batch_size_per_learner=batch,
            minibatch_size=batch // s.num_minibatches,
            num_epochs=s.update_epochs,
            lr=s.lr,
            gamma=s.gamma,
            lambda_=s.gae_lambda,
            clip_param=s.clip_eps,
            entropy_coeff=s.ent_coef,
            vf_loss_coeff=0.5,
            grad_clip=10.0,
            use_kl_loss=False,
        )
    )

    t = time.perf_counter()
    register_env("robustmas-nmatrix", make_env)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING)
    ray_init_s = time.perf_counter() - t
    t = time.perf_counter()
    algo = config.build_algo()
    build_s = time.perf_counter() - t

    iter_s, lifetime = [], []
    timers: dict[str, Any] = {}
    agent_steps: dict[Any, Any] = {}
    try:
        for _ in range(iters):
            t = time.perf_counter()
            result = algo.train()
            iter_s.append(time.perf_counter() - t)
            runners = result["env_runners"]
            lifetime.append(int(runners["num_env_steps_sampled_lifetime"]))
            timers = dict(result.get("timers", {}))
            agent_steps = runners["num_agent_steps_sampled_lifetime"]
    finally:
        algo.stop()
        ray.shutdown()
    steps = np.diff([0, *lifetime])
    later_steps, later_s = int(steps[1:].sum()), float(sum(iter_s[1:]))
    return {
        "api_stack": "new (RLModule/Learner, EnvRunner/ConnectorV2)",
        "num_env_runners": 0,
        "num_envs_per_env_runner": num_envs,
        "train_batch_size_env_steps": batch,
        "startup_s": import_s + ray_init_s + build_s,
        "import_s": import_s,
        "ray_init_s": ray_init_s,
        "build_algo_s": build_s,
        "iter_s": iter_s,
        "env_steps_per_iter": steps.tolist(),
        "env_steps_lifetime": lifetime[-1],
        "agent_steps_lifetime": {str(k): float(v) for k, v in agent_steps.items()},
        "timers_last_iter": timers,  # RLlib's own timers (smoothed means, seconds)
        "first_iter_s": iter_s[0],
        "first_iter_steps_per_s": float(steps[0] / iter_s[0]),
        "steps_per_s": later_steps / later_s if later_s > 0 else float("nan"),
        "steps_per_s_per_iter": [float(n / t) for n, t in zip(steps, iter_s, strict=True)],
    }


# --------------------------------------------------------------------------- report


def time_adapter(s: GridSamplingSettings, steps: int = 3000) -> dict[str, Any]:
    """Env steps/s of the PettingZoo adapter alone, uniform random actions, one env.

    RLlib samples through this adapter (one jitted JAX call per env step from Python), so this
    bounds how much of RLlib's time per step is the environment's.
    """
    from robustmas.envs.parallel.adapters import make_parallel_grid_game

    env = make_parallel_grid_game(s.game, episode_length=s.horizon, obs=s.obs)
    rng = np.random.default_rng(0)

    def run(n: int) -> float:
        env.reset(seed=int(rng.integers(2**31)))
        start = time.perf_counter()
        for _ in range(n):
            if not env.agents:
                env.reset(seed=int(rng.integers(2**31)))
            env.step({a: int(rng.integers(env.action_space(a).n)) for a in env.agents})  # type: ignore[attr-defined]
        return n / (time.perf_counter() - start)

    run(2 * s.horizon)  # compile
    return {"steps": steps, "steps_per_s": run(steps)}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def machine_info() -> dict[str, Any]:
    """Versions, CPU model, core count and the current load average."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "ray": _version("ray"),
        "torch": _version("torch"),
        "gymnasium": _version("gymnasium"),
        "pettingzoo": _version("pettingzoo"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "jax_devices": [str(d) for d in jax.devices()],
    }


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def print_table(out: dict[str, Any]) -> None:
    m, s = out["machine"], out["settings"]
    many, one, rl = out["ours"], out["ours_1_seed"], out["rllib"]
    ok = "error" not in rl
    rl_rate = rl["steps_per_s"] if ok else float("nan")

    def ratio(x: float) -> str:
        return f"{x / rl_rate:.0f}x" if ok else "n/a (RLlib did not run)"

    print(f"\n### Alg. 3 vs RLlib multi-agent PPO on {s['game']} (horizon {s['horizon']})\n")
    print("| item | value |")
    print("|---|---|")
    rows = [
        ("python / jax / jaxlib", f"{m['python']} / {m['jax']} / {m['jaxlib']}"),
        ("ray / torch / gymnasium", f"{m['ray']} / {m['torch']} / {m['gymnasium']}"),
        ("machine", f"{m['nproc']} cores, {m['cpu']}, JAX on {', '.join(m['jax_devices'])}"),
        ("load average (1/5/15 min) before / after", f"{out['load_before']} ; {out['load_after']}"),
        ("env steps per round and seed (ours)", _count_row(out)),
        (
            f"ours, {many['seeds']} seeds vmapped (env steps/s)",
            f"{many['steps_per_s']:,.0f} ({many['calls']} x {many['rounds_per_call']} rounds)",
        ),
        (
            "ours, 1 seed (env steps/s)",
            f"{one['steps_per_s']:,.0f} ({one['calls']} x {one['rounds_per_call']} rounds)",
        ),
        (
            f"ours compile ({many['seeds']} seeds / 1 seed)",
            f"{many['compile_s']:.1f} s / {one['compile_s']:.1f} s",
        ),
    ]
    if ok:
        rows += [
            (
                "RLlib PPO (env steps/s, iterations 2..)",
                f"{rl['steps_per_s']:,.0f} ({len(rl['iter_s']) - 1} iterations x "
                f"{rl['train_batch_size_env_steps']} env steps, "
                f"{rl['num_envs_per_env_runner']} envs)",
            ),
            (
                "RLlib first iteration",
                f"{rl['first_iter_s']:.1f} s ({rl['first_iter_steps_per_s']:,.0f} env steps/s)",
            ),
            (
                "RLlib startup (import + ray.init + build_algo)",
                f"{rl['startup_s']:.1f} s ({rl['import_s']:.1f} + {rl['ray_init_s']:.1f} + "
                f"{rl['build_algo_s']:.1f})",
            ),
        ]
    else:
        rows.append(("RLlib", f"did not run: {rl['error']}"))
    if "adapter" in out:
        rows.append(
            (
                "the PettingZoo adapter alone, random actions (env steps/s)",
                f"{out['adapter']['steps_per_s']:,.0f}",
            )
        )
    rows += [
        (f"ratio ours ({many['seeds']} seeds) / RLlib", ratio(many["steps_per_s"])),
        ("ratio ours (1 seed) / RLlib", ratio(one["steps_per_s"])),
        ("issue target", "ratio >= 50x"),
    ]
    for name, value in rows:
        print(f"| {name} | {value} |")


def _count_row(out: dict[str, Any]) -> str:
    formula = out["ours"]["env_steps_per_round_per_seed"]
    counted = out.get("counted_env_steps_per_round")
    if counted is None:
        return f"{formula:,} (formula; count check skipped)"
    verdict = "matches" if counted == formula else "DIFFERS from"
    return f"{formula:,} (formula; the traced count {counted:,} {verdict} it)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10, help="vmapped seeds (default 10)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per timed call (default 4)")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls (default 2)")
    parser.add_argument(
        "--rllib-iters", type=int, default=10, help="RLlib training iterations (default 10)"
    )
    parser.add_argument(
        "--rllib-envs",
        type=int,
        default=16,
        help="RLlib envs per env runner (default 16, our num_envs); the batch stays 16 x horizon",
    )
    parser.add_argument("--horizon", type=int, default=HORIZON, help="episode length (50)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--skip-count-check", action="store_true", help="skip the traced env-step count"
    )
    args = parser.parse_args()
    if min(args.seeds, args.rounds, args.repeats, args.horizon, args.rllib_envs) < 1:
        parser.error("--seeds/--rounds/--repeats/--horizon/--rllib-envs must be >= 1")
    if args.rllib_iters < 2:
        parser.error("--rllib-iters must be >= 2 (the first iteration is reported apart)")

    s = bench_settings(args.horizon)
    t_start = time.perf_counter()
    out: dict[str, Any] = {
        "machine": machine_info(),
        "settings": dataclasses.asdict(s),
        "load_before": _load(),
    }
    if not args.skip_count_check:
        out["counted_env_steps_per_round"] = counted_env_steps_per_round(s)
    # Ours first: RLlib's Ray processes would otherwise share the cores with it.
    out["ours"] = time_ours(s, args.seeds, args.rounds, args.repeats)
    out["ours_1_seed"] = time_ours(s, 1, args.rounds, args.repeats)
    out["adapter"] = time_adapter(s)
    out["rllib"] = time_rllib(s, args.rllib_iters, args.rllib_envs)
    out["load_after"] = _load()
    out["wall_s"] = time.perf_counter() - t_start
    if "error" not in out["rllib"]:
        rate = out["rllib"]["steps_per_s"]
        out["ratio"] = out["ours"]["steps_per_s"] / rate
        out["ratio_1_seed"] = out["ours_1_seed"]["steps_per_s"] / rate
    print_table(out)
    print(f"\nwall time of the benchmark: {out['wall_s']:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()

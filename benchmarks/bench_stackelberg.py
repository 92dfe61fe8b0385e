"""Stackelberg POMDP: robustmas PPO (JAX, jitted) against Stable-Baselines3 PPO (Gymnasium).

Usage: .venv/bin/python benchmarks/bench_stackelberg.py [--quick] [--out PATH]

Two settings, measured in the same run:

* ``maintain-mixed``: ``make_setting("maintain-v0", randomized=True)`` (row weights in
  ``Box(0, 1, (3,))``, clipped and normalised by the environment), optimum 27.5;
* ``allocation-3x3``: ``make_setting("allocation-v0", items=3, messages=3, num_rounds=300,
  num_reward_rounds=20)``, optimum 1.0.

For each: wall-clock time and environment steps until the greedy policy first reaches 99% of the
optimum (robustmas with and without compilation, SB3 under a step/time cap), raw environment
throughput (jitted vmapped JAX over 1,024 environments; Python loop over the Gymnasium adapter),
training throughput, and the ratios robustmas / SB3.

Evaluation is identical for both learners: after every ``eval_every_steps`` environment steps the
greedy action for each of the ``K`` leader observations is read off the policy (robustmas: argmax
or Gaussian mean, clipped; SB3: ``predict(..., deterministic=True)``), and that observation-action
map is played for ``eval_episodes`` episodes of the JAX environment (one jitted call, fresh keys
per evaluation).  The "greedy reward" is the mean episode reward (the environment's sampled
reward sub-episodes); the expected leader payoff under the followers' final strategies is
recorded alongside it.  Evaluation time is excluded from every training time.

Timing.  robustmas: "train" is the sum of the jitted ``update_chunk`` calls up to the evaluation
that first met the target; "incl. compile" adds trainer construction, the jitted ``init`` (compile
and run) and the ahead-of-time compilation of ``update_chunk``.  SB3: "train" is the time inside
``learn`` minus evaluations; "incl. setup" adds ``gymnasium.make``, the adapter's jit compilation
(one reset and one step) and building the model.  robustmas always runs its whole (fixed,
lr-annealed) schedule; SB3 (one environment, ``torch.set_num_threads(1)``) stops once both
targets have been met and ``sb3_min_steps`` are done, or at its step/time cap.

Warm cache.  Before training, each setting's robustmas setup (the same construction, ``init`` and
compilation) is also timed in fresh processes with the CLI's persistent compilation cache: once
with an empty cache and twice with the cache it filled (``--no-warm-cache`` skips this).  The
"warm cache" ratios replace the in-run setup time by the median warm one: what a user pays on
the second and later runs of a configuration.  Then the same with robustmas's on-disk program
cache (:mod:`robustmas.compilation.program_cache`, ``train_leader(program_cache=...)``) as
well: once to fill it and twice warm, which also skips tracing and lowering ("warm caches +
programs").

The main run uses ``--seed``; ``--spread N`` repeats both learners on the next ``N`` seeds (SB3
capped at ``--spread-sb3-seconds`` of training, no minimum) for a seed-spread table, because a
single seed's first hit is partly luck (see the notes in ``benchmarks/RESULTS.md``).

Target 1 ("greedy reward"): the mean sampled reward over the evaluation episodes reaches 99% of
the optimum.  Target 2 ("expected payoff"): the expected leader payoff of the greedy map reaches
99% of the best payoff any map attains under the POMDP's finite no-regret dynamics (computed
here; 27.136 rather than 27.5 for Maintain, see :func:`attainable`).

Writes JSON to ``benchmarks/out/stackelberg.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.compilation.program_cache import default_cache_dir
from robustmas.envs.core import Box, Discrete, step_autoreset
from robustmas.envs.stackelberg.pomdp import StackelbergPOMDP, expected_reward
from robustmas.envs.stackelberg.settings import make_setting
from robustmas.rl.networks import env_action, greedy_action
from robustmas.rl.ppo import PPO, PPOConfig
from robustmas.robust.stackelberg_pomdp import leader_compiler

OUT = Path(__file__).resolve().parent / "out" / "stackelberg.json"
TARGET_FRACTION = 0.99
SPEEDUP_TARGET = 20.0


@dataclass(frozen=True)
class Case:
    """One setting with the fixed hyperparameters of both learners."""

    name: str
    setting: str
    kwargs: dict[str, Any]
    optimum: float
    ppo: PPOConfig
    chunk_updates: int
    """robustmas updates per jitted chunk (one greedy evaluation after each chunk)."""
    sb3: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``stable_baselines3.PPO``."""
    sb3_max_steps: int = 200_000
    sb3_max_seconds: float = 300.0
    sb3_min_steps: int = 10_240
    """SB3 keeps training after a hit up to this many steps (for its throughput figure)."""

    @property
    def target(self) -> float:
        return TARGET_FRACTION * self.optimum

    @property
    def eval_every_steps(self) -> int:
        return self.chunk_updates * self.ppo.batch_size


def _ppo(lr: float, total_timesteps: int) -> PPOConfig:
    return PPOConfig(
        lr=lr,
        num_envs=16,
        num_steps=8,
        total_timesteps=total_timesteps,
        update_epochs=4,
        num_minibatches=2,
        gamma=1.0,
        gae_lambda=1.0,
        ent_coef=0.01,
        centralized_critic=True,
        actor_hidden=(32,),
        critic_hidden=(32,),
        eval_every=0,  # evaluated outside the jitted chunks, identically for both learners
    )


def _sb3(lr: float) -> dict[str, Any]:
    return {
        "n_steps": 128,
        "batch_size": 64,
        "n_epochs": 4,
        "learning_rate": lr,
        "gamma": 1.0,
        "gae_lambda": 1.0,
        "ent_coef": 0.01,
        "policy_kwargs": {"net_arch": [32]},
    }


def cases(quick: bool) -> list[Case]:
    maintain_steps = 40_960 if quick else 204_800
    return [
        Case(
            name="maintain-mixed",
            setting="maintain-v0",
            kwargs={"randomized": True},
            optimum=27.5,
            ppo=_ppo(0.01, maintain_steps),
            chunk_updates=5,
            sb3=_sb3(0.01),
            sb3_max_steps=20_000 if quick else 400_000,
            sb3_max_seconds=30.0 if quick else 300.0,
            sb3_min_steps=2_560 if quick else 10_240,
        ),
        Case(
            name="allocation-3x3",
            setting="allocation-v0",
            kwargs={"items": 3, "messages": 3, "num_rounds": 300, "num_reward_rounds": 20},
            optimum=1.0,
            ppo=_ppo(3e-3, 10_240 if quick else 30_720),
            chunk_updates=2,
            sb3=_sb3(3e-3),
            sb3_max_steps=10_000 if quick else 100_000,
            sb3_max_seconds=30.0 if quick else 120.0,
            sb3_min_steps=2_560 if quick else 10_240,
        ),
    ]


# ------------------------------------------------------------------------------------------------
# Shared greedy evaluation
# ------------------------------------------------------------------------------------------------


def make_evaluator(env: StackelbergPOMDP, params: Any, episodes: int) -> Any:
    """``evaluate(actions, key) -> (mean reward, mean expected payoff)`` for a greedy map.

    ``actions[k]`` is the environment action at observation ``k`` (queried in index order).
    """
    num_obs = env.observation_space(params).shape[0]

    def episode(actions: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        key_reset, key_steps = jax.random.split(key)
        _, state = env.reset(key_reset, params)

        def body(carry: tuple[Any, jax.Array], inp: tuple[jax.Array, jax.Array]) -> Any:
            state, total = carry
            action, key = inp
            _, state, reward, _, _ = env.step(key, state, action, params)
            return (state, total + reward), None

        (state, total), _ = jax.lax.scan(
            body, (state, jnp.zeros(())), (actions, jax.random.split(key_steps, num_obs))
        )
        return total, expected_reward(state.table, state.logits, params)

    @jax.jit
    def evaluate(actions: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        keys = jax.random.split(key, episodes)
        rewards, expected = jax.vmap(episode, in_axes=(None, 0))(actions, keys)
        return rewards.mean(), expected.mean()

    return evaluate


def attainable(case: Case, env: StackelbergPOMDP, params: Any) -> dict[str, Any]:
    """Best expected leader payoff any observation-action map earns under these dynamics.

    The library's :func:`robustmas.robust.attainable.attainable` (exact for one follower; for
    randomised Maintain a lower bound found by a simplex grid and gradient ascent, 27.136).
    """
    del case, env
    from robustmas.robust.attainable import attainable as library_attainable

    best = library_attainable(params)
    return {"value": float(best.value), "map": np.asarray(best.best_map).round(4).tolist(),
            "kind": best.bound}  # fmt: skip


class Curve:
    """Greedy-evaluation history of one training run, with first-hit bookkeeping."""

    def __init__(self, target: float, expected_target: float) -> None:
        self.target = target
        self.expected_target = expected_target
        self.points: list[dict[str, float]] = []
        self.hit: dict[str, float] | None = None
        self.expected_hit: dict[str, float] | None = None

    def add(
        self, steps: int, train_s: float, total_s: float, reward: float, expected: float
    ) -> None:
        point = {
            "steps": steps,
            "train_s": train_s,
            "total_s": total_s,
            "greedy_reward": reward,
            "expected_payoff": expected,
        }
        self.points.append(point)
        if self.hit is None and reward >= self.target:
            self.hit = point
        if self.expected_hit is None and expected >= self.expected_target:
            self.expected_hit = point

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_hit": self.hit,
            "first_expected_hit": self.expected_hit,
            "final": self.points[-1] if self.points else None,
            "curve": self.points,
        }


def eval_key(steps: int) -> jax.Array:
    """The same evaluation keys for both learners at the same step count."""
    return jax.random.fold_in(jax.random.PRNGKey(12345), steps)


# ------------------------------------------------------------------------------------------------
# robustmas PPO
# ------------------------------------------------------------------------------------------------


def leader_map_fn(trainer: PPO, env: StackelbergPOMDP, params: Any) -> Any:
    """``actor params -> greedy env action at each of the K leader observations`` (one seed)."""
    num_obs = env.observation_space(params).shape[0]

    def greedy_map(actor: Any) -> jax.Array:
        action = greedy_action(trainer.policy(actor, jnp.eye(num_obs)), trainer.action_space)
        return jax.vmap(env_action, in_axes=(0, None))(action, trainer.action_space)

    return greedy_map


def setup_single(
    case: Case, env: StackelbergPOMDP, params: Any, seed: int, cache_dir: Path | None = None
) -> tuple[Any, Any, Any, dict[str, float]]:
    """Build the trainer, run the compiled ``init`` and compile ``update_chunk`` for one seed.

    Returns ``(greedy_map, state, chunk, timings)``; everything timed here counts as setup.
    ``cache_dir``: the on-disk program cache (:mod:`robustmas.compilation.program_cache`), or none.
    """
    start = time.perf_counter()
    trainer = PPO(case.ppo, env, params)
    compiled = leader_compiler(case.ppo, params, cache_dir)
    greedy_map = jax.jit(leader_map_fn(trainer, env, params))
    key = jax.random.PRNGKey(seed)
    state = jax.block_until_ready(compiled(trainer.init, (key,), "bench-init")(key))
    init_s = time.perf_counter() - start
    t = time.perf_counter()
    chunk_fn = functools.partial(trainer.update_chunk, num_updates=case.chunk_updates)
    chunk = compiled(chunk_fn, (state,), f"bench-chunk{case.chunk_updates}")
    compile_s = time.perf_counter() - t
    setup_s = time.perf_counter() - start  # construction + init (compiled and run) + compile
    return greedy_map, state, chunk, {"init_s": init_s, "compile_s": compile_s, "setup_s": setup_s}


def setup_seeds(
    case: Case,
    env: StackelbergPOMDP,
    params: Any,
    seeds: list[int],
    cache_dir: Path | None = None,
) -> tuple[Any, Any, Any, float]:
    """:func:`setup_single` for all ``seeds`` in one vmapped program; returns its setup time."""
    start = time.perf_counter()
    trainer = PPO(case.ppo, env, params)
    compiled = leader_compiler(case.ppo, params, cache_dir)
    greedy_maps = jax.jit(jax.vmap(leader_map_fn(trainer, env, params)))
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    state = jax.block_until_ready(compiled(jax.vmap(trainer.init), (keys,), "bench-init")(keys))
    chunk_fn = functools.partial(trainer.update_chunk, num_updates=case.chunk_updates)
    chunk = compiled(jax.vmap(chunk_fn), (state,), f"bench-chunk{case.chunk_updates}")
    return greedy_maps, state, chunk, time.perf_counter() - start


def probe_setup(case: Case, seeds: list[int]) -> float:
    """Setup time of :func:`setup_single` (one seed) or :func:`setup_seeds` in this process.

    Run in a fresh subprocess by :func:`warm_cache_setup`, with the CLI's persistent
    compilation cache enabled (``ROBUSTMAS_JAX_CACHE`` points at the cache directory) and the
    program cache where ``ROBUSTMAS_PROGRAM_CACHE`` points (``off``: none).
    """
    from robustmas.compilation.xla import enable_compilation_cache

    enable_compilation_cache()
    cache_dir = default_cache_dir()
    params = make_setting(case.setting, **case.kwargs)
    env = StackelbergPOMDP(params)
    if len(seeds) == 1:
        return setup_single(case, env, params, seeds[0], cache_dir)[3]["setup_s"]
    return setup_seeds(case, env, params, seeds, cache_dir)[3]


def warm_cache_setup(case: Case, seeds: list[int], quick: bool, repeats: int = 2) -> dict[str, Any]:
    """Setup time with the persistent caches, cold (empty) and warm (``repeats`` runs each).

    Each measurement is a fresh Python process (imports excluded from the time, as in the main
    run), so nothing is shared with this process's in-memory jit caches.  Two warm figures:
    XLA's compilation cache alone (``warm_s``: the CLI's default), and with the on-disk program
    cache too (``warm_programs_s``: tracing and lowering skipped as well; its first run,
    ``programs_first_s``, exports the programs).  The warm times are what a user pays on the
    second and later runs of the same configuration.
    """
    import subprocess
    import sys
    import tempfile

    def once(xla: str, programs: str) -> float:
        cmd = [sys.executable, __file__, "--probe-setup", case.name, "--probe-seeds"]
        cmd += [",".join(map(str, seeds))] + (["--quick"] if quick else [])
        env = {**os.environ, "ROBUSTMAS_JAX_CACHE": xla, "ROBUSTMAS_PROGRAM_CACHE": programs}
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        return float(json.loads(out.strip().splitlines()[-1])["setup_s"])

    with tempfile.TemporaryDirectory(prefix="robustmas-bench-cache-") as tmp:
        xla, programs = f"{tmp}/xla", f"{tmp}/programs"
        cold = once(xla, "off")
        warm = [once(xla, "off") for _ in range(repeats)]
        programs_first = once(xla, programs)
        warm_programs = [once(xla, programs) for _ in range(repeats)]
    return {
        "seeds": seeds,
        "cold_s": cold,
        "warm_s": warm,
        "warm_median_s": float(np.median(warm)),
        "programs_first_s": programs_first,
        "warm_programs_s": warm_programs,
        "warm_programs_median_s": float(np.median(warm_programs)),
    }


def run_robustmas(
    case: Case, env: StackelbergPOMDP, params: Any, evaluate: Any, expected_target: float, seed: int
) -> dict[str, Any]:
    cfg = case.ppo
    greedy_map, state, chunk, timings = setup_single(case, env, params, seed)
    setup_s = timings["setup_s"]
    curve = Curve(case.target, expected_target)
    train_s, steps = 0.0, 0
    num_chunks = cfg.num_updates // case.chunk_updates
    for _ in range(num_chunks):
        t = time.perf_counter()
        state, _ = chunk(state)
        jax.block_until_ready(state)
        train_s += time.perf_counter() - t
        steps += case.chunk_updates * cfg.batch_size
        reward, expected = evaluate(greedy_map(state.params.actor), eval_key(steps))
        curve.add(steps, train_s, setup_s + train_s, float(reward), float(expected))
    final_map = np.asarray(greedy_map(state.params.actor)).tolist()
    return {
        "config": cfg.to_dict(),
        "seed": seed,
        "chunk_updates": case.chunk_updates,
        **timings,
        "train_s": train_s,
        "steps": steps,
        "train_steps_per_s": steps / train_s,
        "final_greedy_map": final_map,
        **curve.to_dict(),
    }


def run_robustmas_seeds(
    case: Case,
    env: StackelbergPOMDP,
    params: Any,
    evaluate: Any,
    expected_target: float,
    seeds: list[int],
) -> dict[str, Any]:
    """All ``seeds`` trained in one vmapped call (one compilation), as a user would run them.

    After every chunk each seed's greedy map is evaluated exactly as in :func:`run_robustmas`;
    a seed's first hit is recorded with the elapsed time of the *whole batch* (every seed pays
    for the others' compute).  ``all_hit`` = the time at which the last seed first hit.
    """
    cfg = case.ppo
    greedy_maps, state, chunk, setup_s = setup_seeds(case, env, params, seeds)
    curves = [Curve(case.target, expected_target) for _ in seeds]
    train_s, steps = 0.0, 0
    for _ in range(cfg.num_updates // case.chunk_updates):
        t = time.perf_counter()
        state, _ = chunk(state)
        jax.block_until_ready(state)
        train_s += time.perf_counter() - t
        steps += case.chunk_updates * cfg.batch_size
        maps = greedy_maps(state.params.actor)
        for i, curve in enumerate(curves):
            reward, expected = evaluate(maps[i], eval_key(steps))
            curve.add(steps, train_s, setup_s + train_s, float(reward), float(expected))
    per_seed = [
        {"seed": s, **{k: v for k, v in c.to_dict().items() if k != "curve"}}
        for s, c in zip(seeds, curves, strict=True)
    ]

    def last_hit(key: str) -> dict[str, Any] | None:
        hits = [row[key] for row in per_seed]
        if any(h is None for h in hits):
            return None
        return max(hits, key=lambda h: h["steps"])

    return {
        "seeds": seeds,
        "setup_s": setup_s,
        "train_s": train_s,
        "steps_per_seed": steps,
        "train_steps_per_s": steps * len(seeds) / train_s,
        "all_hit": last_hit("first_hit"),
        "all_expected_hit": last_hit("first_expected_hit"),
        "per_seed": per_seed,
    }


def sb3_sequential(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """SB3 time for the same seeds run one after another: the sum of per-seed times to target.

    A seed that missed the target contributes its whole capped run, so the sum is then a lower
    bound.
    """
    total, train, exact = 0.0, 0.0, True
    for sb in rows:
        if sb[key] is not None:
            total += sb[key]["total_s"]
            train += sb[key]["train_s"]
        else:
            total += sb["setup_s"] + sb["train_s"]
            train += sb["train_s"]
            exact = False
    return {"total_s": total, "train_s": train, "exact": exact}


# ------------------------------------------------------------------------------------------------
# Stable-Baselines3 PPO on the Gymnasium adapter
# ------------------------------------------------------------------------------------------------


def run_sb3(case: Case, evaluate: Any, expected_target: float, seed: int) -> dict[str, Any]:
    import gymnasium
    import stable_baselines3 as sb3
    from stable_baselines3.common.callbacks import BaseCallback

    import robustmas.envs.adapters as adapters

    start = time.perf_counter()
    env = gymnasium.make(adapters.STACKELBERG_ENV_ID, setting=case.setting, **case.kwargs)
    env.action_space.seed(seed)
    env.reset(seed=seed)  # compiles the adapter's jitted reset; one step compiles its step
    env.step(env.action_space.sample())
    model = sb3.PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **case.sb3)
    setup_s = time.perf_counter() - start
    obs_shape = env.observation_space.shape
    assert obs_shape is not None
    num_obs = obs_shape[0]
    obs_eye = np.eye(num_obs, dtype=np.float32)
    discrete = isinstance(env.action_space, gymnasium.spaces.Discrete)
    curve = Curve(case.target, expected_target)

    class GreedyEval(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval = case.eval_every_steps
            self.eval_s = 0.0
            self.learn_start = 0.0
            self.stop_reason = "step cap"

        def _on_training_start(self) -> None:
            self.learn_start = time.perf_counter()

        def train_s(self) -> float:
            return time.perf_counter() - self.learn_start - self.eval_s

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return True
            self.next_eval += case.eval_every_steps
            train_s = self.train_s()
            t = time.perf_counter()
            actions, _ = self.model.predict(obs_eye, deterministic=True)
            actions = jnp.asarray(actions, jnp.int32 if discrete else jnp.float32)
            reward, expected = evaluate(actions, eval_key(self.num_timesteps))
            curve.add(
                self.num_timesteps, train_s, setup_s + train_s, float(reward), float(expected)
            )
            self.eval_s += time.perf_counter() - t
            hits = curve.hit is not None and curve.expected_hit is not None
            if hits and self.num_timesteps >= case.sb3_min_steps:
                self.stop_reason = "both targets reached (and min steps done)"
                return False
            if train_s > case.sb3_max_seconds:
                self.stop_reason = "time cap"
                return False
            return True

    callback = GreedyEval()
    model.learn(total_timesteps=case.sb3_max_steps, callback=callback)
    train_s = callback.train_s()
    steps = int(model.num_timesteps)
    final_map = np.asarray(model.predict(obs_eye, deterministic=True)[0]).tolist()
    return {
        "config": {
            **case.sb3,
            "policy": "MlpPolicy",
            "n_envs": 1,
            "max_steps": case.sb3_max_steps,
            "max_train_seconds": case.sb3_max_seconds,
        },
        "seed": seed,
        "setup_s": setup_s,
        "train_s": train_s,
        "eval_s": callback.eval_s,
        "steps": steps,
        "train_steps_per_s": steps / train_s,
        "stop_reason": callback.stop_reason,
        "final_greedy_map": final_map,
        **curve.to_dict(),
    }


# ------------------------------------------------------------------------------------------------
# Raw environment throughput
# ------------------------------------------------------------------------------------------------


def random_action(key: jax.Array, space: Any) -> jax.Array:
    if isinstance(space, Discrete):
        return jax.random.randint(key, (), 0, space.n)
    assert isinstance(space, Box)
    return jax.random.uniform(key, space.shape, minval=space.low, maxval=space.high)


def jax_throughput(env: StackelbergPOMDP, params: Any, num_envs: int, iters: int) -> dict[str, Any]:
    """Random-action steps/s of ``num_envs`` vmapped environments (with autoreset)."""
    space = env.action_space(params)

    def one(key: jax.Array, state: Any) -> Any:
        key_act, key_step = jax.random.split(key)
        action = random_action(key_act, space)
        _, state, reward, _, _ = step_autoreset(env, key_step, state, action, params)
        return state, reward

    @jax.jit
    def reset(key: jax.Array) -> Any:
        return jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)[1]

    @jax.jit
    def step(key: jax.Array, state: Any) -> Any:
        return jax.vmap(one)(jax.random.split(key, num_envs), state)

    @jax.jit
    def scan_steps(key: jax.Array, state: Any) -> Any:
        def body(state: Any, key: jax.Array) -> Any:
            state, reward = step(key, state)
            return state, reward.mean()

        return jax.lax.scan(body, state, jax.random.split(key, iters))

    key = jax.random.PRNGKey(0)
    t = time.perf_counter()
    state = jax.block_until_ready(reset(key))
    state, _ = jax.block_until_ready(step(key, state))
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(iters):
        state, _ = step(jax.random.fold_in(key, i), state)
    jax.block_until_ready(state)
    loop_s = time.perf_counter() - t
    jax.block_until_ready(scan_steps(key, state))  # compile
    t = time.perf_counter()
    jax.block_until_ready(scan_steps(jax.random.PRNGKey(1), state))
    scan_s = time.perf_counter() - t
    total = num_envs * iters
    return {
        "num_envs": num_envs,
        "iters": iters,
        "compile_s": compile_s,
        "loop_steps_per_s": total / loop_s,
        "scan_steps_per_s": total / scan_s,
    }


def gym_throughput(case: Case, min_steps: int, min_seconds: float) -> dict[str, Any]:
    """Random-action steps/s of a Python loop over the Gymnasium adapter's ``step``."""
    import gymnasium

    import robustmas.envs.adapters as adapters

    env = gymnasium.make(adapters.STACKELBERG_ENV_ID, setting=case.setting, **case.kwargs)
    env.action_space.seed(0)
    env.reset(seed=0)
    for _ in range(10):  # compile reset/step
        if env.step(env.action_space.sample())[2]:
            env.reset()
    env.reset()
    steps, t = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - t < min_seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    return {"steps": steps, "steps_per_s": steps / (time.perf_counter() - t)}


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    import gymnasium
    import stable_baselines3
    import torch

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
    }


def _fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def _hit(result: dict[str, Any], key: str = "first_hit") -> tuple[str, str, str]:
    hit = result[key]
    if hit is None:
        return "not reached", "-", "-"
    return f"{hit['steps']:,}", _fmt_s(hit["total_s"]), _fmt_s(hit["train_s"])


def speedup(rm: dict[str, Any], sb: dict[str, Any], key: str, time_key: str) -> dict[str, Any]:
    """SB3 time / robustmas time to the target (a lower bound when SB3 did not reach it)."""
    if rm[key] is None:
        return {"value": None, "bound": "robustmas did not reach the target"}
    mine = rm[key][time_key]
    if sb[key] is not None:
        return {"value": sb[key][time_key] / mine, "bound": "exact"}
    theirs = sb["train_s"] + (sb["setup_s"] if time_key == "total_s" else 0.0)
    return {"value": theirs / mine, "bound": "lower bound (SB3 did not reach the target)"}


def warm_speedup(
    rm: dict[str, Any],
    sb: dict[str, Any],
    cache: dict[str, Any] | None,
    which: str = "warm_median_s",
) -> dict[str, Any]:
    """:func:`speedup` incl. compile, with robustmas's setup as measured with warm caches
    (``which``: ``warm_median_s``, XLA's cache; ``warm_programs_median_s``, plus programs)."""
    if cache is None or rm["first_hit"] is None:
        return {"value": None, "bound": "not measured"}
    mine = cache[which] + rm["first_hit"]["train_s"]
    if sb["first_hit"] is not None:
        return {"value": sb["first_hit"]["total_s"] / mine, "bound": "exact", "robustmas_s": mine}
    theirs = sb["train_s"] + sb["setup_s"]
    return {"value": theirs / mine, "bound": "lower bound (SB3 did not reach the target)"}


def _ratio_str(r: dict[str, Any]) -> str:
    if r["value"] is None:
        return "n/a"
    prefix = ">= " if r["bound"].startswith("lower") else ""
    return f"{prefix}{r['value']:.1f}x"


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("first_hit", "first_expected_hit", "final", "setup_s", "train_s", "steps")
    out = {k: result[k] for k in keys}
    out["stop_reason"] = result.get("stop_reason", "full schedule")
    return out


def print_spread(report: dict[str, Any]) -> None:
    rows = [
        (name, row)
        for name, res in report["settings"].items()
        for row in [{"seed": report["seed"], **res}, *res["spread"]]
    ]
    if len(rows) == len(report["settings"]):
        return
    for key, label in (("first_hit", "greedy reward"), ("first_expected_hit", "expected payoff")):
        print(f"\nSeed spread, {label} target:\n")
        print(
            "| setting | seed | robustmas steps | incl. compile | train | SB3 steps | incl. setup |"
            " train | speed-up incl. / excl. compile |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, row in rows:
            rm, sb = row["robustmas"], row["sb3"]
            total, train = speedup(rm, sb, key, "total_s"), speedup(rm, sb, key, "train_s")
            a, b = _hit(rm, key), _hit(sb, key)
            if sb[key] is None:
                b = (
                    f"not reached in {sb['steps']:,}",
                    f">= {sb['setup_s'] + sb['train_s']:.1f} s",
                    f">= {sb['train_s']:.1f} s",
                )
            print(
                f"| {name} | {row['seed']} | {a[0]} | {a[1]} | {a[2]} | {b[0]} | {b[1]} | {b[2]} |"
                f" {_ratio_str(total)} / {_ratio_str(train)} |"
            )


def print_seeds_vmapped(report: dict[str, Any]) -> None:
    rows = [(n, r["seeds_vmapped"]) for n, r in report["settings"].items() if "seeds_vmapped" in r]
    if not rows:
        return
    print(
        "\nAll seeds: robustmas trains them in one vmapped call; SB3 runs them one after another"
        " (sum of the per-seed times above):\n"
    )
    print(
        "| setting | target | seeds | robustmas: all seeds hit (steps/seed) | incl. compile |"
        " train | SB3 sequential incl. setup | train | speed-up incl. / excl. compile |"
        " incl. compile, warm cache | warm caches + programs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, m in rows:
        for key, hit_key, label in (
            ("first_hit", "all_hit", "greedy reward"),
            ("first_expected_hit", "all_expected_hit", "expected payoff"),
        ):
            sb = m["sb3_sequential"][key]
            hit = m[hit_key]
            bound = "" if sb["exact"] else ">= "
            cache = m.get("cache_setup")
            warm_programs = "-"
            if hit is None:
                mine, ratio, warm = ("not all reached", "-", "-"), "n/a", "n/a"
            else:
                mine = (f"{hit['steps']:,}", _fmt_s(hit["total_s"]), _fmt_s(hit["train_s"]))
                ratio = (
                    f"{bound}{sb['total_s'] / hit['total_s']:.1f}x / "
                    f"{bound}{sb['train_s'] / hit['train_s']:.1f}x"
                )
                warm = "-"
                if cache:
                    warm_s = cache["warm_median_s"] + hit["train_s"]
                    warm = f"{bound}{sb['total_s'] / warm_s:.1f}x ({warm_s:.2f} s)"
                    fast_s = cache["warm_programs_median_s"] + hit["train_s"]
                    warm_programs = f"{bound}{sb['total_s'] / fast_s:.1f}x ({fast_s:.2f} s)"
            print(
                f"| {name} | {label} | {len(m['seeds'])} | {mine[0]} | {mine[1]} | {mine[2]} |"
                f" {bound}{sb['total_s']:.2f} s | {bound}{sb['train_s']:.2f} s | {ratio} | {warm} |"
                f" {warm_programs} |"
            )


def print_report(report: dict[str, Any]) -> None:
    print(
        "\n| setting | learner | steps to target | time incl. setup/compile | train time | "
        "greedy reward at first hit | final greedy reward (steps) | expected payoff (final) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, res in report["settings"].items():
        for learner in ("robustmas", "sb3"):
            r = res[learner]
            steps, total, train = _hit(r)
            at_hit = "-" if r["first_hit"] is None else f"{r['first_hit']['greedy_reward']:.4f}"
            fin = r["final"]
            print(
                f"| {name} (target {res['target']:.4g}) | {learner} | {steps} | {total} | {train} |"
                f" {at_hit} | {fin['greedy_reward']:.4f} ({fin['steps']:,}) |"
                f" {fin['expected_payoff']:.4f} |"
            )
    print(
        "\n| setting | learner | expected payoff >= 99% of attainable: steps | time incl. | "
        "train time |"
    )
    print("|---|---|---|---|---|")
    for name, res in report["settings"].items():
        for learner in ("robustmas", "sb3"):
            steps, total, train = _hit(res[learner], "first_expected_hit")
            print(
                f"| {name} (>= {res['expected_target']:.4g}) | {learner} | {steps} | {total} |"
                f" {train} |"
            )
    print(
        "\n| setting | robustmas raw (1,024 envs, loop / scan) | gym raw (Python loop) | "
        "raw ratio (loop) | robustmas train | SB3 train | train ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, res in report["settings"].items():
        raw, gym, rm, sb = res["raw_jax"], res["raw_gym"], res["robustmas"], res["sb3"]
        print(
            f"| {name} | {raw['loop_steps_per_s']:,.0f} / {raw['scan_steps_per_s']:,.0f} |"
            f" {gym['steps_per_s']:,.0f} | {raw['loop_steps_per_s'] / gym['steps_per_s']:,.0f}x |"
            f" {rm['train_steps_per_s']:,.0f} | {sb['train_steps_per_s']:,.0f} |"
            f" {rm['train_steps_per_s'] / sb['train_steps_per_s']:,.1f}x |"
        )
    print(
        "\n| setting | speed-up to target, incl. compile | incl. compile, warm cache | "
        "warm caches + programs | "
        f"excl. compile (train time) | >= {SPEEDUP_TARGET:.0f}x (incl. compile) |"
    )
    print("|---|---|---|---|---|---|")
    for name, res in report["settings"].items():
        s = res["speedup"]
        print(
            f"| {name} | {_ratio_str(s['total'])} | {_ratio_str(s['warm_cache'])} |"
            f" {_ratio_str(s['warm_programs'])} | {_ratio_str(s['train'])} | {s['verdict']} |"
        )
    caches = [(n, r["cache_setup"]) for n, r in report["settings"].items() if r["cache_setup"]]
    if caches:
        print(
            "\nrobustmas setup (construction + init + compile) in fresh processes with the"
            " persistent compilation cache (XLA), then also with the program cache:\n"
        )
        print(
            "| setting | seeds | empty caches | warm XLA cache (each run) |"
            " + program cache: first run | warm XLA + program caches (each run) |"
        )
        print("|---|---|---|---|---|---|")
        for name, c in caches:
            for v in c.values():
                warm = ", ".join(f"{x:.2f} s" for x in v["warm_s"])
                fast = ", ".join(f"{x:.2f} s" for x in v["warm_programs_s"])
                print(
                    f"| {name} | {len(v['seeds'])} | {v['cold_s']:.2f} s | {warm} |"
                    f" {v['programs_first_s']:.2f} s | {fast} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run (~1 minute)")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=8)
    parser.add_argument(
        "--spread", type=int, default=4, help="extra seeds for the seed-spread table (0: none)"
    )
    parser.add_argument(
        "--spread-sb3-seconds", type=float, default=60.0, help="SB3 train-time cap per extra seed"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch intra-op threads for SB3 (1 was ~5x faster than 2 here)",
    )
    parser.add_argument(
        "--no-warm-cache",
        action="store_true",
        help="skip the setup-time probes with a persistent compilation cache",
    )
    parser.add_argument("--probe-setup", help=argparse.SUPPRESS)  # internal: warm_cache_setup
    parser.add_argument("--probe-seeds", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_setup:
        case = next(c for c in cases(args.quick) if c.name == args.probe_setup)
        seeds = [int(x) for x in args.probe_seeds.split(",")]
        print(json.dumps({"setup_s": probe_setup(case, seeds)}))
        return

    import torch

    torch.set_num_threads(args.torch_threads)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "machine": machine_info(),
        "load_average_start": os.getloadavg(),
        "eval_episodes": args.eval_episodes,
        "seed": args.seed,
        "torch_threads": args.torch_threads,
        "target_fraction": TARGET_FRACTION,
        "settings": {},
    }
    print(json.dumps(report["machine"]))
    for case in cases(args.quick):
        params = make_setting(case.setting, **case.kwargs)
        env = StackelbergPOMDP(params)
        evaluate = make_evaluator(env, params, args.eval_episodes)
        best = attainable(case, env, params)
        expected_target = TARGET_FRACTION * best["value"]
        print(
            f"\n== {case.name}: optimum {case.optimum}, target {case.target:.4f}; attainable "
            f"expected payoff {best['value']:.4f} at {best['map']}",
            flush=True,
        )
        all_seeds = list(range(args.seed, args.seed + 1 + args.spread))
        cache = {}
        if not args.no_warm_cache:
            cache["single"] = warm_cache_setup(case, [args.seed], args.quick)
            if args.spread:
                cache["seeds"] = warm_cache_setup(case, all_seeds, args.quick)
            print(f"persistent-cache setup: {json.dumps(cache)}", flush=True)
        rm = run_robustmas(case, env, params, evaluate, expected_target, args.seed)
        print(
            f"robustmas: first hit {rm['first_hit']}, train {rm['train_steps_per_s']:,.0f} "
            f"steps/s, compile {rm['compile_s']:.2f} s",
            flush=True,
        )
        sb = run_sb3(case, evaluate, expected_target, args.seed)
        print(
            f"sb3: first hit {sb['first_hit']}, {sb['stop_reason']}, final {sb['final']}, "
            f"train {sb['train_steps_per_s']:,.0f} steps/s",
            flush=True,
        )
        raw = jax_throughput(env, params, 1024, 20 if args.quick else 100)
        gym = gym_throughput(case, 500 if args.quick else 2000, 1.0 if args.quick else 5.0)
        total = speedup(rm, sb, "first_hit", "total_s")
        train = speedup(rm, sb, "first_hit", "train_s")
        verdict = (
            "n/a"
            if total["value"] is None
            else ("PASS" if total["value"] >= SPEEDUP_TARGET else "FAIL")
        )
        if verdict == "FAIL" and total["bound"].startswith("lower"):
            verdict = "FAIL (lower bound only)"
        report["settings"][case.name] = {
            "setting": case.setting,
            "kwargs": case.kwargs,
            "optimum": case.optimum,
            "target": case.target,
            "attainable_expected": best,
            "expected_target": expected_target,
            "eval_every_steps": case.eval_every_steps,
            "robustmas": rm,
            "sb3": sb,
            "raw_jax": raw,
            "raw_gym": gym,
            "cache_setup": cache,
            "speedup": {
                "total": total,
                "warm_cache": warm_speedup(rm, sb, cache.get("single")),
                "warm_programs": warm_speedup(
                    rm, sb, cache.get("single"), "warm_programs_median_s"
                ),
                "train": train,
                "expected_total": speedup(rm, sb, "first_expected_hit", "total_s"),
                "expected_train": speedup(rm, sb, "first_expected_hit", "train_s"),
                "verdict": verdict,
            },
            "spread": [],
        }
        spread_case = dataclasses.replace(
            case,
            sb3_min_steps=0,
            sb3_max_seconds=min(case.sb3_max_seconds, args.spread_sb3_seconds),
        )
        for seed in range(args.seed + 1, args.seed + 1 + args.spread):
            rm_s = run_robustmas(case, env, params, evaluate, expected_target, seed)
            sb_s = run_sb3(spread_case, evaluate, expected_target, seed)
            row = {"seed": seed, "robustmas": _summary(rm_s), "sb3": _summary(sb_s)}
            print(f"spread seed {seed}: {json.dumps(row)}", flush=True)
            report["settings"][case.name]["spread"].append(row)
        if args.spread:
            seeds = all_seeds
            multi = run_robustmas_seeds(case, env, params, evaluate, expected_target, seeds)
            multi["cache_setup"] = cache.get("seeds")
            res = report["settings"][case.name]
            sb_rows = [res["sb3"], *(row["sb3"] for row in res["spread"])]
            multi["sb3_sequential"] = {
                "first_hit": sb3_sequential(sb_rows, "first_hit"),
                "first_expected_hit": sb3_sequential(sb_rows, "first_expected_hit"),
            }
            print(f"vmapped seeds {seeds}: all hit {multi['all_hit']}", flush=True)
            res["seeds_vmapped"] = multi
    report["load_average_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - started
    print_report(report)
    print_spread(report)
    print_seeds_vmapped(report)
    print(
        f"\nwall time {report['wall_s']:.0f} s; load average start {report['load_average_start']}"
        f", end {report['load_average_end']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Training a leader in the Stackelberg POMDP with PPO or MAPPO (many seeds in one ``vmap``).

Reference: Brero, Eden, Chakrabarti, Gerstgrasser, Li, Parkes, *Stackelberg POMDP: A
Reinforcement Learning Approach for Economic Design* (first titled *Learning Stackelberg
Equilibria and Applications to Economic Design Games*), arXiv:2210.03852, 2023 (the Stackelberg
POMDP paper), Sec. 6-7: the leader's policy is trained with PPO, and
with MAPPO's centralised critic, which sees the followers' strategies and the observation-action
map that the actor does not.  Evaluation is the greedy leader (argmax / mean action), as in the
paper's evaluation episodes.

:func:`train_leader` returns the greedy leader's final reward per seed in the game's own payoff
units, the evaluation curves and the trained parameters.  Default hyperparameters per setting
live in :data:`PRESET_PPO` (measured: see ``tests/test_stackelberg_pomdp.py`` and
``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from robustmas.compilation.program_cache import cached_program, fingerprint_of
from robustmas.envs.stackelberg.pomdp import StackelbergParams, StackelbergPOMDP
from robustmas.envs.stackelberg.settings import SETTINGS
from robustmas.rl.loop import run_updates
from robustmas.rl.ppo import PPO, PPOConfig

__all__ = [
    "PRESET_PPO",
    "LeaderResult",
    "TrainingInterrupted",
    "default_ppo_config",
    "greedy_map",
    "known_optimum",
    "leader_compiler",
    "size_scale",
    "train_leader",
]

_BASE = PPOConfig(
    lr=3e-3,
    num_envs=16,
    num_steps=8,
    total_timesteps=30_000,
    update_epochs=4,
    num_minibatches=2,
    gamma=1.0,
    gae_lambda=1.0,
    ent_coef=0.01,
    actor_hidden=(32,),
    critic_hidden=(32,),
    centralized_critic=True,
    eval_every=5,
    eval_episodes=16,
)

PRESET_PPO: dict[str, dict[str, Any]] = {
    "maintain-v0": {"total_timesteps": 4_096},
    "maintain-v0/randomized": {"lr": 1e-2, "total_timesteps": 100_000},
    "escape-v0": {"total_timesteps": 4_096},
    "matrix-design-v0": {"total_timesteps": 20_000},
    # GAE lambda 0.5: with the centralised critic the leader learns faster than with lambda 1
    # (64 seeds, k = m = 3: area under the curve 0.911 vs 0.887; PPO without the critic drops
    # to 0.850). `benchmarks/mappo_vs_ppo.py --gae-lambda 0.5`, docs/results/stackelberg-pomdp.
    "allocation-v0": {"total_timesteps": 30_000, "gae_lambda": 0.5},
    "muspm-v0": {"total_timesteps": 100_000},
    "muspm-general-v0": {"total_timesteps": 100_000},
}
"""Overrides of the base PPO settings per preset (``id/randomized`` for a randomising leader)."""


def size_scale(setting: str, env_params: StackelbergParams) -> float:
    """How many times the preset's training length ``env_params`` needs: ``max(1, KA / K0A0)``.

    The presets' ``total_timesteps`` (:data:`PRESET_PPO`) were tuned on each setting's default
    instance, with ``K0`` observations and ``A0`` leader actions.  A larger instance has a map
    of ``K A`` entries to learn, and every entry is queried once per episode of ``K`` steps, so
    the training length grows with ``K A / (K0 A0)``; smaller instances keep the preset's
    (never shorter).  Measured on allocation with ``k = m = 6`` (``K A = 36``, 4x the default
    3x3): 30,000 steps end at 0.485 of the attainable 0.4948, 120,000 at 0.490 with 9 of 10
    seeds on the best map (``docs/results/stackelberg-pomdp-sizes``).  A ``.nfg`` path (no
    default instance) gets 1.
    """
    spec = SETTINGS.get(setting)
    if spec is None:
        return 1.0
    default = spec.builder(**SETTINGS.check(setting, {}))
    reference = default.num_observations * default.num_leader_actions
    size = env_params.num_observations * env_params.num_leader_actions
    return max(1.0, size / reference)


def default_ppo_config(
    setting: str,
    randomized: bool = False,
    env_params: StackelbergParams | None = None,
    **overrides: Any,
) -> PPOConfig:
    """The PPO configuration used for ``setting`` (a preset id or a ``.nfg`` path).

    With ``env_params`` (the instance to be trained) the preset's ``total_timesteps`` is
    multiplied by :func:`size_scale` (rounded up to a whole batch); an explicit
    ``total_timesteps`` in ``overrides`` is used as given.
    """
    key = (
        f"{setting}/randomized" if randomized and f"{setting}/randomized" in PRESET_PPO else setting
    )
    preset = dict(PRESET_PPO.get(key, {"total_timesteps": 100_000 if randomized else 10_000}))
    if env_params is not None:
        scale = size_scale(setting, env_params)
        if scale > 1.0:
            batch = _BASE.num_envs * _BASE.num_steps
            steps = preset.get("total_timesteps", _BASE.total_timesteps) * scale
            preset["total_timesteps"] = int(-(-steps // batch) * batch)
    return dataclasses.replace(_BASE, **{**preset, **overrides})


@dataclass(frozen=True)
class LeaderResult:
    """Outcome of :func:`train_leader`."""

    per_seed: np.ndarray
    """Greedy leader's final reward per seed, shape ``(S,)`` (game units)."""
    steps: np.ndarray
    """Environment steps at each evaluation, shape ``(E,)``."""
    curves: np.ndarray
    """Greedy reward at each evaluation per seed, shape ``(S, E)``."""
    params: Any
    """Trained actor/critic parameters with a leading seed axis."""
    config: PPOConfig
    """The PPO configuration used."""
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-update training metrics (:data:`~robustmas.rl.ppo.METRIC_NAMES`), shape ``(S, U)``
    each; e.g. ``value_loss`` for the critic's fit (the paper's Appendix F, Figure 6)."""

    @property
    def final_reward(self) -> float:
        """Mean over seeds of the greedy leader's final reward."""
        return float(self.per_seed.mean())


def train_leader(
    params: StackelbergParams,
    config: PPOConfig,
    *,
    num_seeds: int = 10,
    seed: int = 0,
    final_episodes: int = 64,
    progress_fn: Callable[[Any, Mapping[str, Any]], None] | None = None,
    checkpoint: str | Path | None = None,
    chunk_updates: int = 50,
    max_chunks: int | None = None,
    program_cache: str | Path | None = None,
    chunk_fn: Callable[[int], None] | None = None,
) -> LeaderResult:
    """Train ``num_seeds`` leaders in one jitted, vmapped call and evaluate them greedily.

    Args:
        params: a Stackelberg setting (:func:`~robustmas.envs.stackelberg.settings.make_setting`).
        config: PPO configuration; ``centralized_critic=True`` is MAPPO.
        num_seeds: independent runs, trained side by side.
        seed: master seed; run ``s`` uses ``fold_in(PRNGKey(seed), s)``.
        final_episodes: greedy episodes per seed for the final reward.
        progress_fn: host callback per update (used when ``config.progress``).
        checkpoint: if given, train in chunks of ``chunk_updates`` updates and save the runner
            state (msgpack) and the metrics so far (``.metrics.npz``) there after every chunk;
            an existing checkpoint is resumed, so a crashed run continues where it stopped and
            ends with the same numbers as an uninterrupted chunked run.
        chunk_updates: updates per chunk (rounded up to a multiple of ``config.eval_every``).
        max_chunks: stop after this many chunks in this call by raising
            :class:`TrainingInterrupted` (as if the process died); for tests of resuming.
        program_cache: directory of the on-disk cache of traced programs
            (:mod:`robustmas.compilation.program_cache`; e.g. ``default_cache_dir()``), which skips
            tracing and lowering on a repeated run; ``None`` (default) traces as usual.  Not
            used with ``config.progress``, whose host callbacks cannot be stored.  The numbers
            are the same either way.
        chunk_fn: host callback after every chunk of a checkpointed run, with the number of
            updates done so far (per seed); e.g. a progress bar that, unlike
            ``config.progress``, leaves the programs cacheable.

    Returns:
        :class:`LeaderResult`.
    """
    if num_seeds < 1:
        raise ValueError(f"num_seeds: must be >= 1, got {num_seeds}")
    if final_episodes < 1:
        raise ValueError(f"final_episodes: must be >= 1, got {final_episodes}")
    if chunk_updates < 1:
        raise ValueError(f"chunk_updates: must be >= 1, got {chunk_updates}")
    env = StackelbergPOMDP(params)
    trainer = PPO(config, env, params, progress_fn=progress_fn)
    master = jax.random.PRNGKey(seed)
    keys = jax.vmap(lambda s: jax.random.fold_in(master, s))(np.arange(num_seeds))
    cache_dir = None if config.progress else program_cache
    compiled = leader_compiler(config, params, cache_dir)

    if checkpoint is None:
        train = compiled(jax.vmap(trainer.train), (keys,), "stackelberg-train")
        # Wait with the GIL released: converting a not-yet-ready array with np.asarray holds the
        # GIL while blocking, which deadlocked under pytest's output capture (seen with muSPM).
        out = jax.block_until_ready(train(keys))
        actor, metrics = out.params.actor, {k: np.asarray(v) for k, v in out.metrics.items()}
        all_params = out.params
    else:
        state, metrics = _train_in_chunks(
            trainer,
            keys,
            Path(checkpoint),
            chunk_updates,
            max_chunks,
            compiled,
            chunk_fn,
        )
        actor, all_params = state.params.actor, state.params
    final_cfg = dataclasses.replace(config, eval_episodes=final_episodes)
    evaluator = PPO(final_cfg, env, params)
    eval_keys = jax.vmap(lambda k: jax.random.fold_in(k, 10**6))(keys)
    evaluate = leader_compiler(final_cfg, params, cache_dir)(
        jax.vmap(evaluator.evaluate), (actor, eval_keys), "stackelberg-evaluate"
    )
    per_seed = np.asarray(jax.block_until_ready(evaluate(actor, eval_keys)))
    evals = metrics["eval_return"]
    mask = ~np.isnan(evals[0])
    steps = (metrics["update"][0][mask] * config.batch_size).astype(np.int64)
    return LeaderResult(per_seed, steps, evals[:, mask], all_params, config, metrics)


Compiler = Callable[[Callable[..., Any], tuple[Any, ...], str], Callable[..., Any]]
"""``(fn, example_args, name) -> compiled fn``."""


def leader_compiler(
    config: PPOConfig, params: StackelbergParams, cache_dir: str | Path | None
) -> Compiler:
    """Compile functions of a Stackelberg PPO trainer through the program cache.

    The returned ``compiled(fn, example_args, name)`` fingerprints what such a trainer closes
    over: its configuration and the setting (the env class is robustmas's own, covered by the
    cache's source digest). ``name`` must name any other closed-over value (e.g. a chunk
    length). ``cache_dir=None`` compiles as usual.
    """
    fingerprint = fingerprint_of(("StackelbergPOMDP", config, params))

    def compiled(fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> Callable[..., Any]:
        return cached_program(
            fn, args, name=name, fingerprint=fingerprint, cache_dir=cache_dir
        ).call

    return compiled


class TrainingInterrupted(RuntimeError):
    """Raised by :func:`train_leader` when ``max_chunks`` stops a checkpointed run early."""


def _train_in_chunks(
    trainer: PPO,
    keys: jax.Array,
    path: Path,
    chunk_updates: int,
    max_chunks: int | None,
    compiled: Compiler,
    chunk_fn: Callable[[int], None] | None = None,
) -> tuple[Any, dict[str, np.ndarray]]:
    from robustmas.rl.checkpoint import load_checkpoint, save_checkpoint

    config = trainer.config
    every = max(config.eval_every, 1)
    # One program for every chunk, the shorter last one included (its tail is masked, see
    # ``run_updates(active=...)``): a second chunk length would mean a second compile.
    chunk = min(-(-chunk_updates // every), -(-config.num_updates // every)) * every
    metrics_path = path.with_suffix(".metrics.npz")
    if path.exists():
        target = jax.eval_shape(jax.vmap(trainer.init), keys)
        state = load_checkpoint(path, target)
        with np.load(metrics_path, allow_pickle=False) as saved:
            metrics = {k: saved[k] for k in saved.files}
    else:
        state = compiled(jax.vmap(trainer.init), (keys,), "stackelberg-init")(keys)
        metrics = {}
    progress = trainer.progress_fn if config.progress else None
    update_fn = jax.vmap(
        lambda s, active: run_updates(trainer, s, chunk, active=active, progress_fn=progress),
        (0, None),
    )
    program: Callable[..., Any] | None = None
    chunks = 0
    while (done := int(np.asarray(state.update_step).reshape(-1)[0])) < config.num_updates:
        n = min(chunk, config.num_updates - done)
        if program is None:
            program = compiled(update_fn, (state, np.int32(n)), f"stackelberg-chunk{chunk}")
        state, new = jax.block_until_ready(program(state, np.int32(n)))
        for k, v in new.items():
            v = np.asarray(v)[:, :n]  # (seeds, updates): drop the masked tail
            metrics[k] = np.concatenate([metrics[k], v], axis=1) if k in metrics else v
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, state, config, metadata={"seeds": int(keys.shape[0])})
        np.savez(metrics_path, **metrics)
        if chunk_fn is not None:
            chunk_fn(done + n)
        chunks += 1
        if max_chunks is not None and chunks >= max_chunks and done + n < config.num_updates:
            raise TrainingInterrupted(f"stopped after {chunks} chunk(s); resume from {path}")
    return state, metrics


def greedy_map(result: LeaderResult, params: StackelbergParams) -> np.ndarray:
    """The greedy leader's observation-action map per seed, shape ``(S, K, A)``.

    Rows are one-hot for a deterministic leader and the normalised mixed strategy for a
    randomising one (what the environment would store).
    """
    from robustmas.rl.networks import env_action, greedy_action

    env = StackelbergPOMDP(params)
    trainer = PPO(result.config, env, params)
    space = env.action_space(params)
    k = int(params.obs_of.max()) + 1
    obs = jax.numpy.eye(k)

    def one(actor_params: Any) -> jax.Array:
        actions = greedy_action(trainer.policy(actor_params, obs), space)
        return jax.vmap(lambda a: env.leader_row(env_action(a, space), params))(actions)

    return np.asarray(jax.vmap(one)(result.params.actor))


def known_optimum(setting: str, randomized: bool = False, **params: Any) -> float | None:
    """The exact optimal leader reward of a preset, where it is known."""
    spec = SETTINGS.get(setting)
    if spec is None or spec.optimum is None:
        return None
    return float(spec.optimum(randomized=randomized, **params))

"""One way to run a training job: start or resume a run, train it, record it.

A :class:`RunSpec` says what to train: a Stackelberg POMDP setting with its parameters, the
PPO configuration (the setting's preset plus overrides), how many seeds, where the run is
recorded.  :func:`start_run` resolves a spec to a new run (a run id, the full PPO
configuration, a row in the :class:`~robustmas.experiments.store.RunStore`) and
:func:`resume_run` resolves the id of an interrupted run to the same thing from the store;
:func:`execute_run` trains it through :func:`~robustmas.robust.stackelberg_pomdp.train_leader`
(checkpointed, so a crash can be resumed), writes the curves and final metrics to the store,
optionally plots the curves, and returns a :class:`RunResult`.  :func:`run_job` does all of it
in one call.  The command line (``robustmas stackelberg-pomdp train``), the reproduction driver
(:mod:`robustmas.experiments.reproduce`) and the tests run jobs through these functions.

The library prints nothing: progress goes to a callback the caller passes.

Example::

    from robustmas.experiments.run import RunSpec, run_job

    result = run_job(RunSpec("maintain-v0", randomized=True, seeds=4, store="runs/r.duckdb"))
    print(result.run_id, result.final_reward)
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustmas.experiments.store import DEFAULT_STORE
from robustmas.rl.ppo import PPOConfig
from robustmas.robust.stackelberg_pomdp import LeaderResult

__all__ = [
    "ATTAINMENT_SHORTFALL",
    "CHECKPOINT_EVERY",
    "CRITICS",
    "KIND",
    "Attainment",
    "ProgressFn",
    "Run",
    "RunResult",
    "RunSpec",
    "RunSpecError",
    "attainment",
    "execute_run",
    "resume_run",
    "run_job",
    "start_run",
]

KIND = "stackelberg-pomdp"
"""The ``kind`` under which these runs are recorded in the store."""

CRITICS = ("full", "none")
"""Values of :attr:`RunSpec.critic`: MAPPO's centralised critic or PPO's own."""

CHECKPOINT_EVERY = 50
"""Updates between checkpoints (``train_leader``'s ``chunk_updates``)."""

ProgressFn = Callable[[int, int], None]
"""``progress(updates_done, updates_total)``, both per seed; called after every checkpoint
(and once at the end of a run without checkpoints)."""


class RunSpecError(ValueError):
    """A field of a run specification (or a run to resume) is not usable.

    ``field`` names the field (``seeds``, ``critic``, ``resume``, ...) so that a front end can
    name its own flag; ``reason`` says what is wrong and how to fix it.
    """

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


_PPO_FIELDS = frozenset(f.name for f in dataclasses.fields(PPOConfig))


@dataclass(frozen=True)
class RunSpec:
    """What to train: a leader in a Stackelberg POMDP setting, and where to record the run."""

    setting: str
    """Preset id (see :data:`robustmas.envs.stackelberg.settings.SETTINGS`) or the path of a
    two-player ``.nfg`` file (player 1 leads)."""
    params: tuple[tuple[str, Any], ...] = ()
    """Setting parameters and POMDP knobs as ``(name, value)`` pairs, e.g.
    ``(("messages", 2),)``; string values (``"2"``, from a command line) are converted to the
    declared types by :func:`start_run`."""
    randomized: bool = False
    """The leader commits to a mixed strategy (otherwise a pure one)."""
    critic: str = "full"
    """``"full"``: MAPPO's centralised critic; ``"none"``: PPO's critic on the actor's
    observation.  Sets the PPO field ``centralized_critic``."""
    ppo: tuple[tuple[str, Any], ...] = ()
    """Overrides of the setting's preset PPO configuration
    (:func:`~robustmas.robust.stackelberg_pomdp.default_ppo_config`) as ``(field, value)``
    pairs, e.g. ``(("lr", 1e-3),)``."""
    seeds: int = 10
    """Seeds trained side by side (one vmapped program)."""
    seed: int = 0
    """Master seed; seed ``s`` of the run uses ``fold_in(PRNGKey(seed), s)``."""
    steps: int | None = None
    """Environment steps per seed (the PPO field ``total_timesteps``); ``None``: the preset's."""
    store: str | Path | None = DEFAULT_STORE
    """DuckDB file the run is recorded in; ``None`` records nothing (the run cannot be
    resumed by id)."""
    checkpoints: bool = True
    """Save the training state every :data:`CHECKPOINT_EVERY` updates, so an interrupted run
    can be resumed; ``False`` trains in one program."""
    checkpoint_dir: str | Path | None = None
    """Folder of the checkpoint files (``RUN.msgpack``); ``None``: ``checkpoints/`` next to the
    store."""
    run_id: str | None = None
    """Id of the new run; ``None``: a fresh 12-hex-digit id."""

    def __post_init__(self) -> None:
        if not isinstance(self.setting, str) or not self.setting:
            raise RunSpecError("setting", "give a preset id or a .nfg path")
        if self.critic not in CRITICS:
            raise RunSpecError("critic", f"expected 'full' or 'none', got {self.critic!r}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise RunSpecError("seeds", f"must be an integer >= 1, got {self.seeds!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise RunSpecError("seed", f"must be an integer, got {self.seed!r}")
        if self.steps is not None and (
            isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1
        ):
            raise RunSpecError("steps", f"must be an integer >= 1 or None, got {self.steps!r}")
        for name, pairs in (("params", self.params), ("ppo", self.ppo)):
            if not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
                raise RunSpecError(name, "give (name, value) pairs, e.g. tuple(d.items())")
        if any(k == "randomized" for k, _ in self.params):
            raise RunSpecError(
                "params", "randomized is a field of its own: use randomized=True (--randomized)"
            )
        unknown = sorted({k for k, _ in self.ppo} - _PPO_FIELDS)
        if unknown:
            raise RunSpecError(
                "ppo", f"unknown PPOConfig field(s) {unknown}; known: {sorted(_PPO_FIELDS)}"
            )
        ppo = dict(self.ppo)
        if ppo.get("recurrent", "none") != "none":
            raise RunSpecError(
                "ppo", "recurrent leaders are not supported (the leader's map is read from an MLP)"
            )
        if ppo.get("centralized_critic", self.critic == "full") != (self.critic == "full"):
            raise RunSpecError(
                "ppo", "centralized_critic contradicts critic=; set critic instead and drop it"
            )
        if self.steps is not None and ppo.get("total_timesteps", self.steps) != self.steps:
            raise RunSpecError("ppo", "total_timesteps contradicts steps=; give one of the two")
        if self.checkpoints and self.store is None and self.checkpoint_dir is None:
            raise RunSpecError(
                "checkpoint_dir",
                "give a folder for the checkpoints when store is None (or checkpoints=False)",
            )

    @property
    def param_dict(self) -> dict[str, Any]:
        """:attr:`params` as a dictionary, in the given order."""
        return dict(self.params)

    def ppo_config(self) -> PPOConfig:
        """The full PPO configuration: the setting's preset, :attr:`ppo`, critic and steps.

        Without ``steps`` the preset's training length grows with the instance's map
        (:func:`~robustmas.robust.stackelberg_pomdp.size_scale`).
        """
        from robustmas.robust.stackelberg_pomdp import default_ppo_config

        overrides: dict[str, Any] = {**dict(self.ppo), "centralized_critic": self.critic == "full"}
        if self.steps is not None:
            overrides["total_timesteps"] = self.steps
        return default_ppo_config(self.setting, self.randomized, _resolve_params(self), **overrides)

    def checkpoint_path(self, run_id: str) -> Path | None:
        """Where run ``run_id`` of this spec keeps its checkpoint (``None`` without)."""
        if not self.checkpoints:
            return None
        if self.checkpoint_dir is not None:
            folder = Path(self.checkpoint_dir)
        else:
            assert self.store is not None  # checked in __post_init__
            folder = Path(self.store).parent / "checkpoints"
        return folder / f"{run_id}.msgpack"


@dataclass(frozen=True)
class Run:
    """A run resolved from a spec (new) or from the store (resumed), ready to train."""

    run_id: str
    """The run's id in the store (and the checkpoint's file name)."""
    spec: RunSpec
    """What is trained; for a resumed run, rebuilt from the store."""
    config: PPOConfig
    """The PPO configuration the run trains with."""
    env_params: Any
    """The setting's parameters (:class:`~robustmas.envs.stackelberg.pomdp.StackelbergParams`)."""
    checkpoint: Path | None
    """The checkpoint file (resumed from when it exists); ``None``: no checkpoints."""
    resumed: bool
    """Whether the run was resolved from the store (:func:`resume_run`)."""


@dataclass(frozen=True)
class RunResult:
    """Outcome of :func:`execute_run`."""

    run: Run
    """The run that was trained."""
    leader: LeaderResult
    """What :func:`~robustmas.robust.stackelberg_pomdp.train_leader` returned (curves, final
    rewards per seed, trained parameters)."""
    optimum: float | None
    """The setting's known optimal leader reward, where it is known."""
    plot: Path | None = None
    """The PNG of the training curve, if one was asked for."""

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.run.run_id

    @property
    def final_reward(self) -> float:
        """Mean over seeds of the greedy leader's final reward."""
        return self.leader.final_reward

    def final_metrics(self) -> dict[str, Any]:
        """The final metrics as recorded in the store: final reward, per seed, optimum."""
        return {
            "final_reward": self.leader.final_reward,
            "per_seed": self.leader.per_seed.tolist(),
            "optimum": self.optimum,
        }


ATTAINMENT_SHORTFALL = 0.02
"""A learned leader more than this fraction below the attainable optimum is reported as short of
it (the CLI warns); the fraction is of the attainable value when it is positive, else of the
leader's payoff range (:func:`~robustmas.robust.attainable.shortfall_scale`)."""


@dataclass(frozen=True)
class Attainment:
    """How a trained leader compares with the best any observation-action map can earn."""

    attainable: Any
    """The :class:`~robustmas.robust.attainable.AttainableResult` of the run's setting."""
    greedy_values: np.ndarray
    """Exact expected reward of each seed's greedy map, shape ``(S,)`` (no sampling noise)."""
    scale: float
    """What :data:`ATTAINMENT_SHORTFALL` is a fraction of
    (:func:`~robustmas.robust.attainable.shortfall_scale`)."""

    @property
    def greedy_value(self) -> float:
        """Mean over seeds of :attr:`greedy_values`."""
        return float(self.greedy_values.mean())

    @property
    def short(self) -> bool:
        """Whether the greedy leaders fall more than :data:`ATTAINMENT_SHORTFALL` short."""
        return self.greedy_value < self.attainable.value - ATTAINMENT_SHORTFALL * self.scale

    def to_json(self) -> dict[str, Any]:
        """``attainable``, its kind (``exact`` / ``lower_bound``), the greedy maps' value."""
        return {
            "attainable": self.attainable.value,
            "attainable_kind": self.attainable.bound,
            "greedy_value": self.greedy_value,
            "greedy_values": self.greedy_values.tolist(),
        }


def attainment(result: RunResult) -> Attainment | None:
    """The attainable optimum of a run's setting and the exact value of its greedy maps.

    Computed where it is exact and quick: settings with one follower, whose expected reward
    per map is a finite sum (:mod:`robustmas.robust.attainable`; a few seconds).  With two or
    more followers only a sampled estimate exists, which takes minutes: ``None`` then (call
    :func:`~robustmas.robust.attainable.attainable` directly).
    """
    from robustmas.robust.attainable import attainable, map_values, shortfall_scale
    from robustmas.robust.stackelberg_pomdp import greedy_map

    params = result.run.env_params
    if int(params.num_followers) != 1:
        return None
    best = attainable(params)
    values, _ = map_values(greedy_map(result.leader, params), params)
    return Attainment(best, np.asarray(values, np.float64), shortfall_scale(best.value, params))


def _resolve_params(spec: RunSpec) -> Any:
    from robustmas.envs.stackelberg.settings import resolve_setting

    return resolve_setting(spec.setting, randomized=spec.randomized, **spec.param_dict)


def start_run(spec: RunSpec) -> Run:
    """Resolve a spec to a new run: validate it, pick the run id, record it in the store.

    The store row (status ``running``) holds the whole configuration, so that
    :func:`resume_run` can continue the run from its checkpoint after a crash.  The returned
    run's spec holds the parameters converted to their declared types.

    Raises:
        RunSpecError: a field of the spec is unusable (its name is in ``field``).
        ValueError: an unknown setting or setting parameter (from ``resolve_setting``).
    """
    from robustmas.envs.stackelberg.settings import setting_params

    # Names and types checked, strings converted, before anything is stored.
    spec = dataclasses.replace(
        spec, params=tuple(setting_params(spec.setting, spec.param_dict).items())
    )
    env_params = _resolve_params(spec)
    config = spec.ppo_config()
    run_id = spec.run_id or uuid.uuid4().hex[:12]
    checkpoint = spec.checkpoint_path(run_id)
    if spec.store is not None:
        from robustmas.experiments.store import RunStore

        with RunStore(spec.store) as db:
            db.create_run(
                KIND,
                spec.setting,
                {
                    "setting": spec.setting,
                    "randomized": spec.randomized,
                    "params": spec.param_dict,
                    "critic": spec.critic,
                    "seed": spec.seed,
                    "ppo": config.to_dict(),
                },
                list(range(spec.seeds)),
                run_id=run_id,
                checkpoint=None if checkpoint is None else str(checkpoint),
            )
    return Run(run_id, spec, config, env_params, checkpoint, resumed=False)


def resume_run(run_id: str, store: str | Path = DEFAULT_STORE) -> Run:
    """Resolve the id of an unfinished run in ``store`` to the run, configured as it started.

    Training continues from the run's checkpoint and ends with the numbers an uninterrupted
    run gives.

    Raises:
        RunSpecError: (field ``resume``) the run is unknown, finished, or not a
            Stackelberg POMDP run.
    """
    from robustmas.experiments.store import RunStore

    with RunStore(store) as db:
        try:
            info = db.get_run(run_id)
        except KeyError:
            raise RunSpecError(
                "resume", f"run {run_id!r} not found in {store}; see `robustmas runs list`"
            ) from None
    if info["kind"] != KIND:
        raise RunSpecError("resume", f"run {run_id} is a {info['kind']!r} run, not {KIND!r}")
    if info["status"] == "finished":
        raise RunSpecError("resume", f"run {run_id} already finished")
    cfg = info["config"]
    config = PPOConfig.from_dict(cfg["ppo"])
    checkpoint = info["checkpoint"]
    spec = RunSpec(
        setting=cfg["setting"],
        params=tuple(cfg["params"].items()),
        randomized=cfg["randomized"],
        critic=cfg["critic"],
        ppo=tuple((f.name, getattr(config, f.name)) for f in dataclasses.fields(config)),
        seeds=len(info["seeds"]),
        seed=cfg["seed"],
        store=store,
        checkpoints=checkpoint is not None,
        checkpoint_dir=None if checkpoint is None else Path(checkpoint).parent,
        run_id=run_id,
    )
    checkpoint_path = None if checkpoint is None else Path(checkpoint)
    return Run(run_id, spec, config, _resolve_params(spec), checkpoint_path, resumed=True)


def execute_run(
    run: Run,
    *,
    progress: ProgressFn | None = None,
    program_cache: str | Path | None = None,
    plot: str | Path | None = None,
) -> RunResult:
    """Train a resolved run, record its curves and final metrics, and return the result.

    Args:
        run: from :func:`start_run` or :func:`resume_run`.
        progress: called with ``(updates done, updates in all)`` per seed after every
            checkpoint (once at the end without checkpoints); it does not change the compiled
            programs, so they stay cacheable.
        program_cache: folder of the on-disk cache of traced programs (e.g.
            :func:`robustmas.compilation.program_cache.default_cache_dir`); ``None``: trace
            as usual.  The numbers are the same either way.
        plot: write a PNG of the training curve (mean and standard error over seeds) here.

    Returns:
        :class:`RunResult`; the store (if any) then holds the run as ``finished`` with its
        ``greedy_reward`` series and :meth:`RunResult.final_metrics`.
    """
    from robustmas.robust.stackelberg_pomdp import known_optimum, train_leader

    spec, config = run.spec, run.config
    total = config.num_updates
    common: dict[str, Any] = {"num_seeds": spec.seeds, "seed": spec.seed}
    if run.checkpoint is not None:
        leader = train_leader(
            run.env_params,
            config,
            program_cache=program_cache,
            checkpoint=run.checkpoint,
            chunk_updates=CHECKPOINT_EVERY,
            chunk_fn=None if progress is None else (lambda done: progress(done, total)),
            **common,
        )
    else:
        leader = train_leader(run.env_params, config, program_cache=program_cache, **common)
        if progress is not None:
            progress(total, total)
    optimum = known_optimum(spec.setting, randomized=spec.randomized, **spec.param_dict)
    result = RunResult(run, leader, optimum)
    if spec.store is not None:
        from robustmas.experiments.store import RunStore

        with RunStore(spec.store) as db:
            db.clear_metrics(run.run_id)
            db.log_series(
                run.run_id, list(range(spec.seeds)), leader.steps, {"greedy_reward": leader.curves}
            )
            db.finish(run.run_id, result.final_metrics())
    if plot is not None:
        from robustmas.experiments.report import plot_curves

        label = "MAPPO" if spec.critic == "full" else "PPO"
        path = plot_curves(
            {label: (leader.steps, leader.curves)}, plot, title=spec.setting, optimum=optimum
        )
        result = dataclasses.replace(result, plot=path)
    return result


def run_job(
    spec: RunSpec | None = None,
    *,
    resume: str | None = None,
    store: str | Path = DEFAULT_STORE,
    progress: ProgressFn | None = None,
    program_cache: str | Path | None = None,
    plot: str | Path | None = None,
) -> RunResult:
    """Start a new run from ``spec`` or resume run ``resume`` from ``store``; train; record.

    Exactly one of ``spec`` and ``resume`` is given (``store`` is only read with
    ``resume``; a spec names its own store).  The other arguments are those of
    :func:`execute_run`.

    Raises:
        RunSpecError: neither or both of ``spec`` and ``resume``, or an unusable field.
    """
    if (spec is None) == (resume is None):
        raise RunSpecError("resume", "give either a run spec or the id of a run to resume")
    run = start_run(spec) if spec is not None else resume_run(str(resume), store)
    return execute_run(run, progress=progress, program_cache=program_cache, plot=plot)

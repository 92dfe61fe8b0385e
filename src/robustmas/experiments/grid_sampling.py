"""The ``grid-sampling`` cell kind: RP Alg. 1 / Alg. 3 and ERMAS on a grid Markov game.

References: Zhao, Trott, Xiong, Zheng, AAAI 2023, arXiv:2106.05492 (RP), Sec. 5 and Figs. 2
and 5; ERMAS (ICLR 2021 submission), Sec. 4.1-4.2.  The algorithm is
:class:`~robustmas.robust.adversarial_sampling.AdversarialSampler`; this module turns a preset
cell (:class:`GridSamplingSettings`) into its configuration, trains all seeds in one vmapped
call in chunks of :attr:`~GridSamplingSettings.checkpoint_rounds` rounds (a msgpack checkpoint
and an ``.npz`` of the round metrics after each, so a killed cell resumes from its last chunk
with the same bits), and scores the final agents:

* **exactly**, where the game is small enough for one-hot cell observations
  (:attr:`~GridSamplingSettings.exact`): every player's value and every agent's regret by
  dynamic programming (:mod:`robustmas.equilibria.markov_exact`), and the stage game's
  worst-case eps-CCE value (the LP of RP Eq. 7) as the reference line (spec D13: a tolerance
  yardstick only);
* by the Monte-Carlo figures the algorithm itself saw, averaged over the last
  :attr:`~GridSamplingSettings.window` rounds (spec D30);
* by the distance of each seed's point (agents' mean reward, principal reward) per step to the
  stage game's worst-case frontier ``{(mean agents' value, principal value) of the worst-case
  e-CCE : e >= 0}`` (for the tragedy tables the segment ``(0.4 + 0.5 e, 1 - 2.5 e)``,
  ``0 <= e <= 0.4``): RP Fig. 2's middle panel compares its points with that line (spec
  Sec. 4, acceptance (d)); like the stage line it is a tolerance yardstick only (D13).

Metrics are per step (episode values divided by the horizon), as RP Fig. 2 reports them.
Cells that differ only in data (eps, lambda) share one compiled program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.envs.grid_presets import GridSetup, make_grid_game
from robustmas.equilibria.markov_exact import GridMarkovGame, regrets, stage_worst_case_cce
from robustmas.experiments.cells import CellProgress, register_kind
from robustmas.experiments.chunks import ChunkedProgram, run_chunked
from robustmas.rl.ppo import PPOConfig
from robustmas.robust.adversarial_sampling import (
    AdversarialSampler,
    AdversarialSamplingConfig,
    SamplerState,
    cell_policies,
)

__all__ = [
    "GRID_SAMPLING",
    "GridSamplingKind",
    "GridSamplingSettings",
    "distance_to_polyline",
    "rise_rounds",
    "sampling_config",
    "stage_frontier",
    "train_sampler",
]

METHODS = ("alg1", "alg3", "ermas")


@dataclass(frozen=True)
class GridSamplingSettings:
    """One cell of a ``grid-sampling`` preset: the game, the algorithm and its budget."""

    game: str = "tragedy-v0"
    """Grid game id with optional parameters (``robustmas games grid`` lists them)."""
    horizon: int = 20
    """Episode length ``T`` (the game's ``episode_length``)."""
    obs: str = "cell"
    """Observation encoding: ``cell`` (one-hot, needed for exact scoring), ``coords``,
    ``scaled`` or ``raw``."""
    method: str = "alg1"
    """``alg1`` (principal frozen, RP Alg. 1 with RL), ``alg3`` (principal trained with a slow
    learning rate, RP Alg. 3) or ``ermas`` (Alg. 3 plus the meta step, ERMAS)."""
    eps_per_step: float = 0.0
    """Regret slack per agent and step; the algorithm's per-episode eps is ``eps_per_step x
    horizon`` (spec: eps in return units); may be negative (D5)."""
    rounds: int = 100
    """Rounds of the outer loop."""
    main_updates: int = 3
    """PPO updates of the main learners per round (``M_s``)."""
    deviation_updates: int = 10
    """PPO updates of each unilateral deviation (``K``)."""
    eval_episodes: int = 32
    """Episodes per Monte-Carlo return."""
    lambda_init: float = 8.0
    """Initial multipliers."""
    lambda_lr: float = 0.5
    """Dual step size (per-episode regret units)."""
    lambda_max: float = 100.0
    """Upper clip of the multipliers."""
    dynamic_lambda: bool = True
    """``False``: lambda stays at ``lambda_init`` (RP Fig. 5's frozen ablation)."""
    lambda_warmup_rounds: int = 0
    """Rounds before the first dual step (D18)."""
    principal_lr_scale: float = 0.2
    """Principal's learning rate relative to the agents' (``alg3`` / ``ermas``)."""
    meta_beta: float = 0.2
    """ERMAS meta-step weight (``ermas`` only; D16)."""
    meta_target: str = "post_update"
    """The meta step's reading: ``post_update`` (the released code) or ``snapshot_delta``
    (Reptile; see :attr:`~robustmas.robust.adversarial_sampling.AdversarialSamplingConfig.
    meta_target`)."""
    meta_deviation_updates: int | None = None
    """Main-learning-rate updates of a separate local deviation for the meta step (unset: the
    meta step uses the regret estimate's deviation; see :attr:`~robustmas.robust.
    adversarial_sampling.AdversarialSamplingConfig.meta_deviation_updates`)."""
    lr: float = 3e-3
    """Main learners' Adam step size."""
    num_envs: int = 16
    """Parallel environments per learner."""
    gamma: float = 0.95
    """Discount of the learners' advantages."""
    gae_lambda: float = 0.9
    """GAE lambda."""
    ent_coef: float = 0.01
    """Entropy bonus of the main learners."""
    clip_eps: float = 0.3
    """PPO clip."""
    update_epochs: int = 1
    """Epochs per PPO update (main learners)."""
    num_minibatches: int = 2
    """Minibatches per epoch."""
    actor_hidden: tuple[int, ...] = ()
    """Actor hidden layers (empty: a linear softmax policy, the released bimatrix code's)."""
    critic_hidden: tuple[int, ...] = (32,)
    """Critic hidden layers."""
    deviation_lr: float = 0.01
    """Deviations' Adam step size (a deviation strong enough to approach a best response)."""
    deviation_epochs: int = 4
    """Epochs per deviation update."""
    deviation_ent_coef: float = 0.0
    """Entropy bonus of the deviations."""
    kl_radius: float | None = None
    """D15's trust-region radius of the deviations (unset: no stop; see
    :attr:`~robustmas.robust.adversarial_sampling.AdversarialSamplingConfig.kl_radius`)."""
    fresh_deviation: bool = False
    """Also deviate from a freshly initialised actor and keep the better deviation (a less
    local regret; see :attr:`~robustmas.robust.adversarial_sampling.AdversarialSamplingConfig.
    fresh_deviation`)."""
    window: int = 10
    """Last rounds averaged for the Monte-Carlo metrics (D30)."""
    exact: bool = True
    """Score the final agents exactly (needs ``obs = "cell"`` and a principal that does not
    move)."""
    checkpoint_rounds: int = 20
    """Rounds between checkpoints (a killed cell resumes from the last one)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {self.method!r}")
        for name in ("horizon", "rounds", "window", "checkpoint_rounds", "num_envs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.window > self.rounds:
            raise ValueError(f"window: {self.window} exceeds rounds = {self.rounds}")
        if self.exact and self.obs != "cell":
            raise ValueError("exact: exact scoring needs obs = 'cell'; set exact = false")


def sampling_config(s: GridSamplingSettings) -> AdversarialSamplingConfig:
    """The sampler's configuration for a cell."""
    ppo = PPOConfig(
        lr=s.lr,
        num_envs=s.num_envs,
        num_steps=s.horizon,
        update_epochs=s.update_epochs,
        num_minibatches=s.num_minibatches,
        gamma=s.gamma,
        gae_lambda=s.gae_lambda,
        ent_coef=s.ent_coef,
        clip_eps=s.clip_eps,
        max_grad_norm=10.0,
        actor_hidden=s.actor_hidden,
        critic_hidden=s.critic_hidden,
        parameter_sharing=False,
        anneal_lr=False,
    )
    deviation = dataclasses.replace(
        ppo, lr=s.deviation_lr, update_epochs=s.deviation_epochs, ent_coef=s.deviation_ent_coef
    )
    return AdversarialSamplingConfig(
        ppo=ppo,
        deviation_ppo=deviation,
        rounds=s.rounds,
        main_updates=s.main_updates,
        deviation_updates=s.deviation_updates,
        eval_episodes=s.eval_episodes,
        lambda_init=s.lambda_init,
        lambda_lr=s.lambda_lr,
        lambda_max=s.lambda_max,
        dynamic_lambda=s.dynamic_lambda,
        lambda_warmup_rounds=s.lambda_warmup_rounds,
        train_principal=s.method != "alg1",
        principal_lr_scale=s.principal_lr_scale,
        meta_beta=s.meta_beta if s.method == "ermas" else 0.0,
        meta_target=s.meta_target,
        meta_deviation_updates=s.meta_deviation_updates,
        fresh_deviation=s.fresh_deviation,
        kl_radius=s.kl_radius,
    )


def stage_frontier(tables: np.ndarray, step: float = 0.005, max_points: int = 400) -> np.ndarray:
    """The stage game's worst-case frontier, shape ``(K, 2)``.

    Rows are ``(agents' mean value, principal value)`` of the worst-case e-CCE for
    ``e = 0, step, 2 step, ...`` until the principal's value reaches its smallest payoff (beyond
    it the LP's optimal distribution is not unique).
    """
    floor = float(tables[-1].min())
    out = []
    for k in range(max_points):
        lp = stage_worst_case_cce(tables, k * step)
        if lp.distribution is None:
            continue
        agents = float(np.mean([(lp.distribution * t).sum() for t in tables[:-1]]))
        out.append((agents, float(lp.value)))
        if lp.value <= floor + 1e-9:
            break
    return np.asarray(out)


def rise_rounds(curve: np.ndarray, window: int, share: float = 0.9) -> int:
    """Rounds until a curve, smoothed over ``window`` rounds, has made ``share`` of its rise.

    The rise runs from the first smoothed value to the mean of the last ``window`` rounds; a
    curve that does not rise counts as its full length.  ERMAS Fig. 3's speed claim ("improved
    agent rewards half an order of magnitude faster" with a larger beta) read as a number
    (spec: the rounds to reach 90% of the final value; the rise from the start is used instead,
    since a reward that starts near its final value reaches 90% of it at once).
    """
    curve = np.asarray(curve, np.float64)
    width = max(1, min(window, len(curve)))
    smooth = np.convolve(curve, np.ones(width) / width, mode="valid")
    start, final = smooth[0], curve[-width:].mean()
    if final <= start:
        return len(curve)
    reached = np.nonzero(smooth - start >= share * (final - start))[0]
    return int(reached[0]) + width if len(reached) else len(curve)


def distance_to_polyline(point: np.ndarray, line: np.ndarray) -> float:
    """Euclidean distance from ``point`` (2,) to the polyline through the rows of ``line``."""
    if len(line) == 1:
        return float(np.linalg.norm(point - line[0]))
    a, b = line[:-1], line[1:]
    d = b - a
    length = np.maximum((d * d).sum(axis=1), 1e-300)
    t = np.clip(((point - a) * d).sum(axis=1) / length, 0.0, 1.0)
    nearest = a + t[:, None] * d
    return float(np.linalg.norm(nearest - point, axis=1).min())


class _Program(ChunkedProgram):
    """A sampler and its compiled, vmapped init and chunk programs for one cell shape."""

    def __init__(self, s: GridSamplingSettings):
        self.setup: GridSetup = make_grid_game(s.game, episode_length=s.horizon, obs=s.obs)
        self.sampler = AdversarialSampler(sampling_config(s), self.setup.env, self.setup.params)
        sampler = self.sampler
        super().__init__(
            lambda key, eps, lam: sampler.init(key, eps, lambda_init=lam), sampler.run_rounds
        )


@lru_cache(maxsize=4)
def _program(shape_key: GridSamplingSettings) -> _Program:
    return _Program(shape_key)


def _shape_key(s: GridSamplingSettings) -> GridSamplingSettings:
    """The settings with the fields the compiled program does not read set to fixed values.

    Eps and the initial multipliers are data in the sampler's state; the chunk length is the
    chunk program's own argument; scoring and checkpointing happen outside the program.
    """
    return dataclasses.replace(
        s, eps_per_step=0.0, lambda_init=0.0, rounds=1, window=1, checkpoint_rounds=1
    )


def train_sampler(
    s: GridSamplingSettings, seeds: int, seed: int, workdir: Path, progress: CellProgress
) -> tuple[_Program, SamplerState, dict[str, np.ndarray]]:
    """Train a cell's seeds in resumable chunks; the program, final state and round metrics."""
    program = _program(_shape_key(s))
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    eps = jnp.full((seeds,), s.eps_per_step * s.horizon, jnp.float32)
    lam0 = jnp.full((seeds,), s.lambda_init, jnp.float32)
    state, history = run_chunked(
        workdir,
        "state",
        lambda: program.init(keys, eps, lam0),
        program.chunk,
        total=s.rounds,
        every=s.checkpoint_rounds,
        count=lambda st: int(np.asarray(st.round).reshape(-1)[0]),
        keep=("lambda", "regret", "principal_return", "returns"),
        config=s,
        progress=progress,
    )
    return program, state, history


class GridSamplingKind:
    """The ``grid-sampling`` kind (see the module docstring)."""

    name = "grid-sampling"
    settings_type = GridSamplingSettings
    metrics: Mapping[str, str] = {
        "principal": "principal reward per step (exact DP)",
        "agents": "agents' mean reward per step (exact DP)",
        "exact_regret": "agents' mean regret per step (exact DP best response)",
        "mc_regret": "agents' mean Monte-Carlo regret per step (last rounds)",
        "mc_principal": "principal reward per step (Monte-Carlo, last rounds)",
        "lambda": "agents' mean multiplier at the end",
        "mc_agents": "agents' mean reward per step (Monte-Carlo, last rounds)",
        "rise_rounds": "rounds until the agents' reward has made 90% of its rise (ERMAS Fig. 3)",
        "line_distance": "distance of (agents, principal) to the stage game's worst-case frontier",
    }

    def run(
        self,
        settings: Any,
        seeds: int,
        seed: int,
        workdir: Path,
        progress: CellProgress,
    ) -> dict[str, Any]:
        """Train one cell's seeds (vmapped, resumable) and score them; see the module docstring."""
        s: GridSamplingSettings = settings
        program, state, history = train_sampler(s, seeds, seed, workdir, progress)
        return self._score(s, program, state, history, seeds)

    def _score(
        self,
        s: GridSamplingSettings,
        program: _Program,
        state: SamplerState,
        history: Mapping[str, np.ndarray],
        seeds: int,
    ) -> dict[str, Any]:
        T = s.horizon
        window = slice(-s.window, None)
        agents = history["returns"][:, :, :-1].mean(axis=2)  # (seeds, rounds)
        per_seed: dict[str, list[float]] = {
            "mc_regret": (history["regret"][:, window].mean(axis=(1, 2)) / T).tolist(),
            "mc_principal": (history["principal_return"][:, window].mean(axis=1) / T).tolist(),
            "lambda": history["lambda"][:, -1].mean(axis=1).tolist(),
            "mc_agents": (agents[:, window].mean(axis=1) / T).tolist(),
            "rise_rounds": [rise_rounds(a, s.window) for a in agents],
        }
        reference: dict[str, float] = {}
        env = program.setup.env
        if s.exact:
            if env.principal != "passive":
                raise ValueError("exact: exact scoring needs a principal that does not move")
            game = GridMarkovGame(env.payoffs, horizon=T, moves=env.moves)
            values, regret = [], []
            for j in range(seeds):
                actor = jax.tree_util.tree_map(lambda x, j=j: x[j], state.runner.params.actor)
                result = regrets(game, cell_policies(program.sampler, actor, T))
                values.append(result.values / T)
                regret.append(float(result.regrets.mean()) / T)
            v = np.asarray(values)
            per_seed["principal"] = v[:, -1].tolist()
            per_seed["agents"] = v[:, :-1].mean(axis=1).tolist()
            per_seed["exact_regret"] = regret
            tables = np.asarray(env.payoffs)
            if s.eps_per_step >= 0:
                lp = stage_worst_case_cce(tables, s.eps_per_step)
                if np.isfinite(lp.value):
                    reference["stage_worst_case"] = float(lp.value)
            frontier = stage_frontier(tables)
            points = np.stack([v[:, :-1].mean(axis=1), v[:, -1]], axis=1)
            per_seed["line_distance"] = [distance_to_polyline(p, frontier) for p in points]
        x = (np.arange(history["regret"].shape[1]) + 1).tolist()
        curves = {
            "mc_principal": {"x": x, "per_seed": (history["principal_return"] / T).tolist()},
            "mc_regret": {"x": x, "per_seed": (history["regret"].mean(axis=2) / T).tolist()},
            "lambda": {"x": x, "per_seed": history["lambda"].mean(axis=2).tolist()},
        }
        return {
            "per_seed": per_seed,
            "reference": reference,
            "curves": curves,
            "info": {"episode_eps": s.eps_per_step * T, "rounds": int(state.round[0])},
        }


GRID_SAMPLING = register_kind(GridSamplingKind())
"""The registered instance."""

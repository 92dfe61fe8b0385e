"""The ``arneq-table`` cell kind: one row of the ARNEQ paper's Table 1.

Reference: Nika, Nöther, Singla, Radanović, TMLR, Sec. 5 and Table 1; spec ``arneq-art.md``
Sec. 6.  One cell is one training method (Naive, Fixed-K(k), ART(k)) on one environment,
trained for all seeds in one vmapped program (:class:`~robustmas.robust.art.ART`), then
attacked (:mod:`robustmas.robust.art_attack`): the benign policies are frozen and fresh
adversaries are trained from scratch, with the training run's hyperparameters and budget,
against every victim.  Columns:

* ``no_adv`` -- every agent's return with nobody corrupted; the cell is the worst agent's
  (Spread), or, where every agent receives the same team reward (Pursuit's shared reward, the
  Ant), their mean: the agents' clean returns are then samples of one quantity, and their
  minimum would be biased low by the evaluation noise;
* ``adv_m`` -- the victims' return under a trained attack by ``m`` agents.  With
  ``attack_subsets = "all"`` (Spread, the paper's "minimum ... over all possible victims and
  their adversaries") every victim is attacked by every subset of ``m`` other agents
  (``C(n-1, m)`` attack runs, each covering all victims in their own worlds) and the cell is the
  minimum over victims and subsets; with ``"cyclic"`` (Pursuit, Ant: a sample of subsets,
  decision 7) victim ``i`` is attacked by agents ``i+1..i+m`` and the cell is the minimum over
  victims (the mean is kept in the cell's info).

Returns are undiscounted episode totals, mean over ``eval_episodes`` episodes with sampled
actions; the table shows mean +- s.e. over seeds.  Every phase (training, each attack) is
chunked and checkpointed in the cell's folder, so a killed cell resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from robustmas.envs.ant import MultiAgentAnt
from robustmas.envs.pursuit import Pursuit
from robustmas.envs.spread import IndependentSpread
from robustmas.experiments.cells import CellProgress, register_kind
from robustmas.experiments.chunks import ChunkedProgram, run_chunked
from robustmas.rl.config import PPOConfig
from robustmas.robust.art import ART, METHODS, ARTConfig, fixed_subsets
from robustmas.robust.art_attack import (
    attack_choices,
    attack_config,
    continuation_config,
    victim_returns,
)

__all__ = ["ARNEQ_TABLE", "ArneqTableKind", "ArneqTableSettings"]

ENVS = ("spread", "pursuit", "ant")
_NUM_AGENTS = {"spread": 3, "pursuit": 8, "ant": 4}
"""Agents of each environment at its default parameters (known without building it: the Ant
needs the ``mjx`` extra and compiles its model)."""
_SUBSET_MODES = ("all", "cyclic")


@dataclass(frozen=True)
class ArneqTableSettings:
    """One row of an ``arneq-table`` preset (defaults: Table 7's Spread column)."""

    env: str = "spread"
    """``spread`` (Independent Spread, 3 agents), ``pursuit`` (SISL pursuit, 8 pursuers) or
    ``ant`` (Multi-Agent Ant 4x2 on MJX, the ``mjx`` extra)."""
    horizon: int = 25
    """Steps per episode (Spread's ``episode_length``, Pursuit's ``max_cycles``, the Ant's
    ``episode_length``, which also ends on an unhealthy step)."""
    method: str = "art"
    """``naive``, ``fixed`` (Fixed-K) or ``art``."""
    k: int = 1
    """Training subset size (ignored by ``naive``)."""
    exact_k: bool = False
    """ART's subsets of exactly ``k`` agents instead of ``1..k``."""
    total_timesteps: int = 800_000
    """Training steps per seed, all worlds together (Table 7: 800K / 10M)."""
    attack_timesteps: int = 0
    """Steps of each attack's training; 0: ``total_timesteps`` (decision 7)."""
    attack_sizes: tuple[int, ...] = (1, 2)
    """Corrupted agents of the attacks (the columns ``adv_m``)."""
    attack_subsets: str = "all"
    """``all`` (every victim x every subset, the worst case) or ``cyclic`` (victim ``i``:
    agents ``i+1..i+m``)."""
    eval_episodes: int = 100
    """Episodes per victim for every reported return (decision 7: 100)."""
    num_envs: int = 162
    """Environments, all worlds together (a multiple of the agents)."""
    num_steps: int = 25
    """Steps per environment per update."""
    update_epochs: int = 30
    """PPO epochs per update."""
    num_minibatches: int = 10
    """Minibatches of one world's batch."""
    lr: float = 3e-4
    """Table 7's alpha: the adversaries' and omega's learning rate."""
    benign_lr_ratio: float = 0.5
    """Benign learning rate over alpha (Sec. 5.2: one half)."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 1.0
    """GAE lambda."""
    clip_eps: float = 0.3
    """PPO clip."""
    ent_coef: float = 0.0
    """Entropy bonus."""
    vf_coef: float = 1.0
    """Value-loss weight."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layers of every actor and critic (rllib's default is [256, 256]; see the
    preset)."""
    omega_estimator: str = "reinforce"
    """ART's omega gradient: ``reinforce`` or ``exact``."""
    omega_episodes: int = 0
    """Extra episodes per omega step (0: ``max(|N_i|, 10)``)."""
    continuation: float = 0.0
    """Fig. 5's convergence check: after each attack size's first attack, continue victim 0's
    benign policy alone, against the fixed adversaries, for this fraction of
    ``total_timesteps`` (the paper: 0.05) and report the gain ``gain_m`` of its return
    (0: no check)."""
    checkpoint_updates: int = 50
    """Updates between checkpoints."""

    def __post_init__(self) -> None:
        if self.env not in ENVS:
            raise ValueError(f"env: expected one of {', '.join(ENVS)}, got {self.env!r}")
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {self.method!r}")
        if self.attack_subsets not in _SUBSET_MODES:
            raise ValueError(
                f"attack_subsets: expected one of {', '.join(_SUBSET_MODES)}, "
                f"got {self.attack_subsets!r}"
            )
        for name in ("horizon", "total_timesteps", "eval_episodes", "checkpoint_updates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.attack_timesteps < 0:
            raise ValueError(f"attack_timesteps: must be >= 0, got {self.attack_timesteps}")
        if any(m < 1 for m in self.attack_sizes):
            raise ValueError(f"attack_sizes: need sizes >= 1, got {list(self.attack_sizes)}")
        if not 0.0 <= self.continuation <= 1.0:
            raise ValueError(f"continuation: a fraction in [0, 1], got {self.continuation}")
        if self.omega_episodes < 0:
            raise ValueError(f"omega_episodes: must be >= 0, got {self.omega_episodes}")
        n = _NUM_AGENTS[self.env]
        if self.num_envs % n:
            raise ValueError(
                f"num_envs: {self.num_envs} must be a multiple of {self.env}'s {n} agents (one "
                "equal slice of environments per victim)"
            )
        if (self.num_envs // n * self.num_steps) % self.num_minibatches:
            raise ValueError(
                f"num_minibatches: {self.num_minibatches} must divide one victim's batch "
                f"num_envs / {n} * num_steps = {self.num_envs // n * self.num_steps}"
            )
        self.art_config()  # PPO and ART validation, with their field names

    @property
    def extra_metrics(self) -> tuple[str, ...]:
        """The attack columns this cell reports, ``adv_m`` per attack size."""
        gains = tuple(f"gain_{m}" for m in self.attack_sizes) if self.continuation else ()
        return tuple(f"adv_{m}" for m in self.attack_sizes) + gains

    def ppo_config(self) -> PPOConfig:
        """The PPO numbers of every learner."""
        return PPOConfig(
            lr=self.lr,
            num_envs=self.num_envs,
            num_steps=self.num_steps,
            total_timesteps=self.total_timesteps,
            update_epochs=self.update_epochs,
            num_minibatches=self.num_minibatches,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            clip_eps=self.clip_eps,
            ent_coef=self.ent_coef,
            vf_coef=self.vf_coef,
            anneal_lr=False,
            eval_every=0,
            eval_max_steps=self.horizon,
            parameter_sharing=False,
            actor_hidden=self.hidden,
            critic_hidden=self.hidden,
        )

    def art_config(self) -> ARTConfig:
        """The training method."""
        return ARTConfig(
            ppo=self.ppo_config(),
            method=self.method,
            k=0 if self.method == "naive" else self.k,
            exact_k=self.exact_k,
            benign_lr_ratio=self.benign_lr_ratio,
            omega_estimator=self.omega_estimator,
            omega_episodes=self.omega_episodes or None,
        )


def make_env(name: str, horizon: int) -> tuple[Any, Any]:
    """The environment ``name`` and its parameters with episodes of ``horizon`` steps."""
    if name == "spread":
        env = IndependentSpread()
        return env, dataclasses.replace(env.default_params(), episode_length=horizon)
    if name == "ant":
        ant = MultiAgentAnt()
        return ant, dataclasses.replace(ant.default_params(), episode_length=horizon)
    env = Pursuit()
    return env, dataclasses.replace(env.default_params(), max_cycles=horizon)


def shared_reward(name: str, params: Any) -> bool:
    """Whether every agent of ``name`` receives the same (team) reward under ``params``."""
    if name == "ant":
        return True
    if name == "pursuit":
        return bool(params.shared_reward)
    return False


def _count(state: Any) -> int:
    return int(np.asarray(state.update_step).reshape(-1)[0])


class ArneqTableKind:
    """The ``arneq-table`` kind (see the module docstring)."""

    name = "arneq-table"
    settings_type = ArneqTableSettings
    metrics: Mapping[str, str] = {
        "no_adv": (
            "episode return with no adversary: the worst agent's, or the team's (the mean over "
            "agents) where the reward is shared"
        ),
    }
    """The attack columns ``adv_m`` are added by the cells."""
    compare_columns = True
    """Mark, per column, the rows within one s.e. of the best."""

    def metric_description(self, name: str) -> str:
        """Description of an attack or continuation column."""
        if name.startswith("gain_"):
            m = name.removeprefix("gain_")
            return (
                f"victim 0's return gain from continuing alone against a fixed attack by {m} "
                "agent(s) (Fig. 5)"
            )
        m = name.removeprefix("adv_")
        return f"victims' episode return under a trained attack by {m} agent(s), worst case"

    def run(
        self, settings: Any, seeds: int, seed: int, workdir: Path, progress: CellProgress
    ) -> dict[str, Any]:
        """Train the row (resumable), attack it, report the columns."""
        s: ArneqTableSettings = settings
        env, params = make_env(s.env, s.horizon)
        n = int(env.num_agents)
        config = s.art_config()
        trainer = ART(config, env, params)
        sizes = [m for m in s.attack_sizes if m <= n - 1]
        if len(sizes) != len(s.attack_sizes):
            raise ValueError(f"attack_sizes: {s.env} has {n} agents, so at most {n - 1}")
        attacks = [
            (m, c, choice)
            for m in sizes
            for c, choice in enumerate(
                attack_choices(n, m) if s.attack_subsets == "all" else [fixed_subsets(n, m)]
            )
        ]
        updates = config.ppo.num_updates
        attack_ts = s.attack_timesteps or s.total_timesteps
        attack_updates = attack_ts // config.ppo.batch_size
        if attack_updates < 1:
            raise ValueError(
                f"attack_timesteps: {attack_ts} is less than one update "
                f"({config.ppo.batch_size} steps)"
            )
        continue_updates = 0
        if s.continuation:
            continue_updates = max(1, round(s.continuation * updates))
        total = updates + (attack_updates + continue_updates) * len(attacks)
        base = jax.random.PRNGKey(seed)
        keys = jax.random.split(jax.random.fold_in(base, 0), seeds)

        program = ChunkedProgram(trainer.init, trainer.update_chunk)
        started = time.perf_counter()
        state, history = run_chunked(
            workdir,
            "train",
            lambda: program.init(keys),
            program.chunk,
            total=updates,
            every=s.checkpoint_updates,
            count=_count,
            keep=("victim_return", "omega"),
            config=s,
            progress=lambda done, _: progress(done, total),
        )
        train_seconds = time.perf_counter() - started
        clean = np.asarray(
            jax.jit(jax.vmap(lambda st, k: trainer.clean_returns(st, k, s.eval_episodes)))(
                state, jax.random.split(jax.random.fold_in(base, 1), seeds)
            )
        )  # (seeds, n)
        no_adv = clean.mean(axis=1) if shared_reward(s.env, params) else clean.min(axis=1)
        per_seed: dict[str, list[float]] = {"no_adv": no_adv.tolist()}
        info: dict[str, Any] = {
            "method": s.method,
            "clean_per_agent": clean.tolist(),
            "train_seconds_this_process": round(train_seconds, 1),
            "omega_final": history["omega"][:, -1].tolist() if s.method == "art" else None,
            "adversary_pairs": [list(p) for p in trainer.pairs],
        }
        done = updates
        under: dict[int, list[np.ndarray]] = {m: [] for m in sizes}
        for m, c, choice in attacks:
            attacker = ART(attack_config(config, m, choice, total_timesteps=attack_ts), env, params)
            a_program = ChunkedProgram(attacker.init, attacker.update_chunk, in_axes=(0, 0))
            a_keys = jax.random.split(jax.random.fold_in(base, 100 + 10 * m + c), seeds)
            offset = done
            a_state, _ = run_chunked(
                workdir,
                f"attack-m{m}-c{c}",
                lambda a_program=a_program, a_keys=a_keys: a_program.init(a_keys, state.benign),
                a_program.chunk,
                total=attack_updates,
                every=s.checkpoint_updates,
                count=_count,
                keep=("victim_return",),
                config=s,
                progress=lambda d, _, offset=offset: progress(offset + d, total),
            )
            done += attack_updates
            eval_keys = jax.random.split(jax.random.fold_in(base, 1000 + 10 * m + c), seeds)
            returns = jax.jit(
                jax.vmap(
                    lambda st, k, attacker=attacker: victim_returns(
                        attacker, st, k, s.eval_episodes
                    )
                )
            )(a_state, eval_keys)
            under[m].append(np.asarray(returns))  # (seeds, n)
            info[f"adv_{m}_choice_{c}"] = {
                "subsets": [list(x) for x in choice],
                "per_victim": np.asarray(returns).tolist(),
            }
            if continue_updates and c == 0:
                per_seed[f"gain_{m}"] = self._continue(
                    s, attacker, a_state, m, continue_updates, base, seeds, workdir,
                    lambda d, _, offset=done: progress(offset + d, total),
                )  # fmt: skip
            done += continue_updates
        for m in sizes:
            stacked = np.stack(under[m], axis=1)  # (seeds, choices, n)
            per_seed[f"adv_{m}"] = stacked.min(axis=(1, 2)).tolist()
            info[f"adv_{m}_mean_over_victims"] = stacked.mean(axis=(1, 2)).tolist()
        progress(total, total)
        curve = np.nanmean(history["victim_return"], axis=2)  # (seeds, updates)
        steps = ((np.arange(curve.shape[1]) + 1) * config.ppo.batch_size).tolist()
        curves = {
            "victim_return_training": {
                "x": steps,
                "per_seed": [[None if np.isnan(v) else float(v) for v in row] for row in curve],
            }
        }
        return {"per_seed": per_seed, "reference": {}, "curves": curves, "info": info}

    def _continue(
        self,
        s: ArneqTableSettings,
        attacker: ART,
        state: Any,
        m: int,
        updates: int,
        base: jax.Array,
        seeds: int,
        workdir: Path,
        progress: CellProgress,
    ) -> list[float]:
        """Fig. 5: victim 0 continues alone for ``updates``; its return gain per seed."""
        config = continuation_config(attacker.config, updates * attacker.steps_per_update)
        cont = ART(config, attacker.env, attacker.env_params)
        only_first = np.zeros(attacker.num_agents, bool)
        only_first[0] = True
        start = dataclasses.replace(
            state, benign_trainable=np.broadcast_to(only_first, (seeds, attacker.num_agents))
        )
        program = ChunkedProgram(cont.init, cont.update_chunk)
        final, _ = run_chunked(
            workdir,
            f"continue-m{m}",
            lambda: start,
            program.chunk,
            total=_count(start) + updates,
            every=s.checkpoint_updates,
            count=_count,
            keep=("victim_return",),
            config=s,
            progress=lambda d, _: progress(d - _count(start), updates),
        )
        keys = jax.random.split(jax.random.fold_in(base, 5000 + m), seeds)
        score = jax.jit(jax.vmap(lambda st, k: victim_returns(cont, st, k, s.eval_episodes)))
        before, after = np.asarray(score(start, keys)), np.asarray(score(final, keys))
        return (after[:, 0] - before[:, 0]).tolist()


ARNEQ_TABLE = register_kind(ArneqTableKind())
"""The registered instance."""

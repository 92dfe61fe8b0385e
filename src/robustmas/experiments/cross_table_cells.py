"""The ``principal-cross-table`` cell kind: train a principal one way, test it on agent types.

References: Zhao, Trott, Xiong, Zheng, AAAI 2023, arXiv:2106.05492 (RP), Sec. 6, Fig. 3 and
App. B; ERMAS (ICLR 2021 submission), Sec. 4.3 "Evaluation Workflow" and Fig. 4; spec
``robust-principal-ermas.md`` Sec. 3 and decisions D19, D20, D24.

One cell is one **row** of the papers' cross tables: a training method, run for all its seeds
in one vmapped program, then every trained principal frozen and scored against every **test
type** (the columns) by training fresh agents under that type
(:func:`~robustmas.robust.evaluation.evaluate_principals`: principals x types x new-agent seeds
in one vmapped program; the principal's parameters are hashed before and after).

Training methods (:attr:`CrossTableSettings.method`):

* ``marl``: plain multi-agent PPO (:class:`~robustmas.robust.marl.JointPPO`) with agents of
  :attr:`~CrossTableSettings.train_type` -- RP Fig. 3's rows "MARL", "Adv (Q)", "RiskAv (eta)";
  ERMAS's DR baseline is the type ``dr:1`` (reward noise ``U[-1, 1]`` redrawn per episode), its
  RR baseline :attr:`~CrossTableSettings.principal_risk_eta` (a concave principal reward);
* ``alg3`` / ``ermas``: RP Alg. 3 / ERMAS (:mod:`robustmas.robust.adversarial_sampling`, the
  ``grid-sampling`` kind's training, original agents as RP Sec. 6 says).

Agent types are strings: ``original``, ``adv:Q`` (``r_i - Q r_0``, or the released code's
convex mix with ``adv_mode = "convex"``), ``riskav:ETA``, ``dr:WIDTH`` and ``alpha:A``
(*noisy* agents, RP Sec. 6 and Fig. 4: the original utility, learned by PPO with entropy weight
``A`` instead of the preset's ``ent_coef``; types with different weights are separate compiled
programs, sharing the new-agent seeds).  Each column's metric
is the type string; values are the principal's undiscounted return **per step** (episode return
divided by the horizon, so different horizons compare; the papers print episode returns over
500 steps).  With :attr:`~CrossTableSettings.top_k`, the best ``top_k`` seeds of the row on the
validation type (not a test column, D19) are kept for every column; all seeds' values stay in
``info``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.envs.grid_game import GridGame, GridParams, with_agent_types
from robustmas.envs.grid_presets import GridSetup, make_grid_game
from robustmas.equilibria.markov_exact import (
    GridMarkovGame,
    OfficerPlanner,
    cell_chain,
    regrets,
)
from robustmas.experiments.cells import CellProgress, register_kind
from robustmas.experiments.chunks import ChunkedProgram, run_chunked, updates_done
from robustmas.experiments.grid_sampling import GridSamplingSettings, sampling_config, train_sampler
from robustmas.games.grid_tables import agent_type_tables
from robustmas.rl.ppo import PPO, PPOConfig
from robustmas.robust.evaluation import TypeEvaluation, evaluate_principals, stack_types
from robustmas.robust.marl import JointPPO

__all__ = [
    "CROSS_TABLE",
    "CrossTableKind",
    "CrossTableSettings",
    "agent_type_params",
    "exact_game",
    "parse_agent_type",
]

CROSS_METHODS = ("marl", "alg3", "ermas")
TYPE_KINDS = ("original", "adv", "riskav", "dr", "alpha")


def parse_agent_type(spec: str) -> tuple[str, float]:
    """``"adv:0.25"`` -> ``("adv", 0.25)``; ``"original"`` -> ``("original", 0.0)``.

    Raises:
        ValueError: an unknown kind, a missing or bad number, or a negative one.
    """
    kind, _, number = spec.partition(":")
    if kind not in TYPE_KINDS:
        raise ValueError(
            f"agent type {spec!r}: expected original, adv:Q, riskav:ETA, dr:WIDTH or alpha:A"
        )
    if kind == "original":
        if number:
            raise ValueError(f"agent type {spec!r}: 'original' takes no number")
        return kind, 0.0
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"agent type {spec!r}: {kind} needs a number, e.g. {kind}:0.25") from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"agent type {spec!r}: the number must be finite and >= 0")
    return kind, value


def agent_entropy(spec: str, default: float) -> float:
    """The PPO entropy weight of agents of type ``spec``: ``A`` for ``alpha:A``, else ``default``.

    Raises:
        ValueError: as :func:`parse_agent_type`.
    """
    kind, value = parse_agent_type(spec)
    return value if kind == "alpha" else default


def agent_type_params(env: GridGame, params: GridParams, spec: str, adv_mode: str) -> GridParams:
    """``params`` with every agent of the type ``spec`` (see the module docstring).

    ``alpha:A`` changes the learner, not the utility, so its params are the original ones.
    """
    kind, value = parse_agent_type(spec)
    if kind == "adv":
        return with_agent_types(env, params, adv_q=value, adv_mode=adv_mode)  # type: ignore[arg-type]
    if kind == "riskav":
        return with_agent_types(env, params, risk_eta=value)
    if kind == "dr":
        return with_agent_types(env, params, noise_width=value, noise_per_episode=True)
    return params


@dataclass(frozen=True)
class CrossTableSettings(GridSamplingSettings):
    """One row of a cross table: the game, the training method, the test types.

    The fields shared with ``grid-sampling`` configure the training (PPO and, for ``alg3`` /
    ``ermas``, the sampler); the new agents of the evaluation use the same PPO settings (with
    the entropy weight ``A`` for a noisy type ``alpha:A``).
    """

    method: str = "marl"
    """``marl`` (plain MARL with agents of :attr:`train_type`), ``alg3`` (RP Alg. 3) or
    ``ermas``."""
    game: str = "nmatrix-v0"
    """Grid game id; the principal must act (``nmatrix-v0`` moves, ``augmented=true`` sets
    officers)."""
    obs: str = "scaled"
    """Observation encoding."""
    exact: bool = False
    """Also score every evaluation exactly: the new agents' and the frozen principal's
    policies tabulated on every cell, then dynamic programming
    (:mod:`robustmas.equilibria.markov_exact`): the principal's exact reward per step
    (``reference["exact[TYPE]"]``, beside the Monte-Carlo column) and the new agents' largest
    exact regret per step under the type (``info["exact_regret"]``: how far from an
    equilibrium the evaluation's agents are).  Needs observations of the cell alone (no time;
    the augmented planner is tabulated on every cell and officer count, the agents' extra
    actions folded into "stay"); DR types get no exact score (NaN)."""
    train_type: str = "original"
    """Agents' type during ``marl`` training (``alg3`` / ``ermas`` train on ``original``)."""
    principal_risk_eta: float = 0.0
    """Risk transform of the principal's own training reward (RR, ERMAS Sec. 4.3; 1 is
    ``log(1 + r)``, 0 off); ``marl`` only."""
    train_updates: int = 0
    """PPO updates of a ``marl`` run (0: ``rounds x main_updates``, the principal's updates in
    ``alg3``, so both rows give the principal the same number of updates)."""
    test_types: tuple[str, ...] = ("original",)
    """The columns: agent types the frozen principal is tested against."""
    adv_mode: str = "paper"
    """``adv:Q`` as ``r_i - Q r_0`` (``paper``, RP Sec. 6) or ``(1 - Q) r_i - Q r_0``
    (``convex``, the released N-matrix code; D11)."""
    validation_type: str = ""
    """Type that chooses the ``top_k`` seeds (not a test column, D19); empty: no selection."""
    top_k: int = 0
    """Seeds kept per row by :attr:`validation_type` (0: all)."""
    eval_updates: int = 100
    """PPO updates of the new agents under each test type."""
    eval_seeds: int = 2
    """New-agent seeds per principal and test type (the score is their mean)."""
    eval_score_episodes: int = 16
    """Episodes of each final score."""

    def __post_init__(self) -> None:
        if self.method not in CROSS_METHODS:
            raise ValueError(
                f"method: expected one of {', '.join(CROSS_METHODS)}, got {self.method!r}"
            )
        for name in ("horizon", "rounds", "checkpoint_rounds", "num_envs", "eval_updates",
                     "eval_seeds", "eval_score_episodes", "window"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not self.test_types:
            raise ValueError("test_types: give at least one test type, e.g. ['original']")
        if len(set(self.test_types)) != len(self.test_types):
            raise ValueError(f"test_types: duplicates in {list(self.test_types)}")
        for spec in (*self.test_types, self.train_type):
            parse_agent_type(spec)
        if self.validation_type:
            parse_agent_type(self.validation_type)
            if self.validation_type in self.test_types:
                raise ValueError(
                    f"validation_type: {self.validation_type!r} is a test column; choose a "
                    "type outside test_types (D19)"
                )
        if self.top_k < 0 or (self.top_k > 0 and not self.validation_type):
            raise ValueError("top_k: must be >= 0, and > 0 needs a validation_type")
        if self.validation_type and self.top_k == 0:
            raise ValueError(
                "validation_type: only chooses seeds; set top_k > 0 (seeds kept per row) or drop it"
            )
        if self.adv_mode not in ("paper", "convex"):
            raise ValueError(f"adv_mode: expected 'paper' or 'convex', got {self.adv_mode!r}")
        if self.train_updates < 0 or self.principal_risk_eta < 0:
            raise ValueError("train_updates and principal_risk_eta: must be >= 0")
        if self.method != "marl" and (
            self.train_type != "original" or self.principal_risk_eta != 0
        ):
            raise ValueError(
                f"train_type / principal_risk_eta: only for method = 'marl' ({self.method} "
                "trains with original agents and the principal's own reward)"
            )

    @property
    def sampling(self) -> GridSamplingSettings:
        """The ``grid-sampling`` settings of the row (a ``marl`` row reads only their PPO)."""
        names = [f.name for f in dataclasses.fields(GridSamplingSettings)]
        fields = {n: getattr(self, n) for n in names}
        fields["method"] = "alg3" if self.method == "marl" else self.method
        fields["window"] = min(self.window, self.rounds)
        fields["exact"] = False  # the row's own exact scoring is of the evaluation, not here
        return GridSamplingSettings(**fields)

    @property
    def scored_types(self) -> tuple[str, ...]:
        """The test types, then the validation type (if any): every type a row is scored on."""
        return self.test_types + ((self.validation_type,) if self.validation_type else ())

    @property
    def marl_updates(self) -> int:
        """PPO updates of a ``marl`` row."""
        return self.train_updates or self.rounds * self.main_updates


@lru_cache(maxsize=4)
def _setup(game: str, horizon: int, obs: str) -> GridSetup:
    return make_grid_game(game, episode_length=horizon, obs=obs)


class _Marl(ChunkedProgram):
    """A :class:`JointPPO` and its compiled, vmapped init and chunk programs for one shape."""

    def __init__(self, s: CrossTableSettings):
        setup = _setup(s.game, s.horizon, s.obs)
        ppo = sampling_config(s.sampling).ppo
        kind, alpha = parse_agent_type(s.train_type)
        if kind == "alpha":  # noisy agents; the principal keeps its own weight
            agents = setup.env.num_agents - 1
            ppo = dataclasses.replace(ppo, learner_ent_coef=(alpha,) * agents + (ppo.ent_coef,))
        self.algo = JointPPO(
            ppo,
            setup.env,
            setup.params,
            principal_lr_scale=s.principal_lr_scale,
        )
        super().__init__(self.algo.init, self.algo.run_updates, in_axes=(0, None))


@lru_cache(maxsize=4)
def _marl(shape: CrossTableSettings) -> _Marl:
    return _Marl(shape)


def _training_params(s: CrossTableSettings, setup: GridSetup) -> GridParams:
    params = agent_type_params(setup.env, setup.params, s.train_type, s.adv_mode)
    if s.principal_risk_eta:
        params = dataclasses.replace(
            params, risk_eta=params.risk_eta.at[-1].set(s.principal_risk_eta)
        )
    return params


class CrossTableKind:
    """The ``principal-cross-table`` kind (see the module docstring)."""

    name = "principal-cross-table"
    settings_type = CrossTableSettings
    metrics: Mapping[str, str] = {
        "mean_over_types": "principal reward per step, mean over the test columns",
    }
    """The test types' columns are added per preset (each type string is a metric)."""
    compare_columns = True
    """Tables of this kind mark, per column, the rows within one s.e. of the best."""

    def metric_description(self, name: str) -> str:
        """Description of a test type's column."""
        return f"principal reward per step against new agents of type {name}"

    def run(
        self, settings: Any, seeds: int, seed: int, workdir: Path, progress: CellProgress
    ) -> dict[str, Any]:
        """Train the row's principals (resumable), evaluate them, select seeds, report."""
        s: CrossTableSettings = settings
        setup = _setup(s.game, s.horizon, s.obs)
        if setup.env.principal not in ("mover", "augmented"):
            raise ValueError(
                f"game: {s.game!r} has a principal that does not act ({setup.env.principal}); "
                "a cross table trains one (use nmatrix-v0 or augmented=true)"
            )
        if s.top_k > seeds:
            raise ValueError(
                f"top_k: keeps {s.top_k} seeds of a run with {seeds}; lower top_k or raise --seeds"
            )
        evaluation = s.eval_updates
        train_total = s.rounds if s.method != "marl" else s.marl_updates
        total = train_total + evaluation

        def train_progress(done: int, _: int) -> None:
            progress(done, total)

        if s.exact:
            check_exact(setup.env)  # names the setting to fix before any training
        curves: dict[str, Any] = {}
        info: dict[str, Any] = {"method": s.method}
        principals, history = train_principals(s, seeds, seed, workdir, train_progress)
        if s.method == "marl":
            train_curve = history["agent_episode_return"][..., -1] / s.horizon
        else:
            train_curve = history["principal_return"] / s.horizon
            info["lambda_final"] = history["lambda"][:, -1].tolist()
            curves["lambda"] = {
                "x": (np.arange(history["lambda"].shape[1]) + 1).tolist(),
                "per_seed": history["lambda"].mean(axis=2).tolist(),
            }
        curves["train_principal"] = {
            "x": (np.arange(train_curve.shape[1]) + 1).tolist(),
            "per_seed": np.nan_to_num(train_curve).tolist(),
        }
        scores, exact, regret = self._evaluate(s, setup, principals, seed, workdir)
        progress(total, total)
        all_seeds = {t: scores[j].tolist() for j, t in enumerate(s.scored_types)}
        chosen = np.arange(seeds)
        if s.top_k:
            validation = scores[len(s.test_types)]
            chosen = np.sort(np.argsort(-validation, kind="stable")[: s.top_k])
        per_seed = {t: scores[j, chosen].tolist() for j, t in enumerate(s.test_types)}
        per_seed["mean_over_types"] = scores[: len(s.test_types), chosen].mean(axis=0).tolist()
        info.update(all_seeds=all_seeds, selected=chosen.tolist())
        reference: dict[str, float] = {}
        if s.exact:
            for j, t in enumerate(s.test_types):
                reference[f"exact[{t}]"] = float(np.mean(exact[j, chosen]))
                reference[f"exact_regret[{t}]"] = float(np.mean(regret[j, chosen]))
            info["exact"] = {t: exact[j].tolist() for j, t in enumerate(s.scored_types)}
            info["exact_regret"] = {t: regret[j].tolist() for j, t in enumerate(s.scored_types)}
        return {"per_seed": per_seed, "reference": reference, "curves": curves, "info": info}

    def _evaluate(
        self,
        s: CrossTableSettings,
        setup: GridSetup,
        principals: Any,
        seed: int,
        workdir: Path,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Principal reward per step ``(types, seeds)``: Monte-Carlo, exact, agents' regret.

        The exact reward and the new agents' largest exact regret per step are NaN without
        :attr:`~CrossTableSettings.exact`; all three are cached in ``workdir/evaluation.npz``.

        The test types share one set of new-agent seeds (common random numbers across columns
        and rows); the validation type gets its own (D19: choosing seeds on it must not pick up
        the test columns' evaluation noise).
        """
        path = workdir / "evaluation.npz"
        types = list(s.scored_types)
        seeds = int(jax.tree_util.tree_leaves(principals)[0].shape[0])
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                fits = list(data["types"]) == types and data["scores"].shape == (len(types), seeds)
                # Whether the cached evaluation was scored exactly (files written before the
                # flag: by any finite exact value; an all-NaN array meant "not scored").
                if "exact_scored" in data.files:
                    scored = bool(data["exact_scored"])
                else:
                    scored = "exact" in data.files and bool(np.isfinite(data["exact"]).any())
                if fits and (not s.exact or scored):
                    nan = np.full_like(data["scores"], np.nan)
                    exact = data["exact"] if "exact" in data.files else nan
                    regret = data["regret"] if "regret" in data.files else nan
                    return data["scores"], exact, regret
        ppo = sampling_config(s.sampling).ppo
        config = dataclasses.replace(ppo, total_timesteps=s.eval_updates * ppo.batch_size)
        base = jax.random.PRNGKey(seed)

        def score(names: list[str], stream: int) -> tuple[np.ndarray, ...]:
            # One program per entropy weight (noisy agents), every one with the same seeds.
            weights = [agent_entropy(t, ppo.ent_coef) for t in names]
            out = [np.empty((len(names), seeds)) for _ in range(3)]
            for weight in dict.fromkeys(weights):
                rows = [j for j, w in enumerate(weights) if w == weight]
                values = score_group([names[j] for j in rows], weight, stream)
                for part, value in zip(out, values, strict=True):
                    part[rows] = value
            return tuple(out)

        def score_group(names: list[str], weight: float, stream: int) -> tuple[np.ndarray, ...]:
            group = dataclasses.replace(config, ent_coef=weight)
            type_params = [agent_type_params(setup.env, setup.params, t, s.adv_mode) for t in names]
            results = evaluate_principals(
                setup.env,
                stack_types(type_params),
                names,
                principals,
                group,
                seeds=s.eval_seeds,
                key=jax.random.fold_in(base, stream),
                eval_episodes=s.eval_score_episodes,
                keep_agents=s.exact,
            )
            mc = np.stack([r.returns.mean(axis=1) for r in results], axis=1) / s.horizon
            if not s.exact:
                return mc, np.full_like(mc, np.nan), np.full_like(mc, np.nan)
            exact, regret = exact_scores(setup.env, group, type_params, results, s.horizon)
            return mc, exact, regret

        parts = [score(list(s.test_types), 1)]
        if s.validation_type:
            parts.append(score([s.validation_type], 2))
        scores, exact, regret = (np.concatenate(p, axis=0) for p in zip(*parts, strict=True))
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = workdir / "evaluation.tmp.npz"
        np.savez(
            tmp,
            scores=scores,
            exact=exact,
            regret=regret,
            types=np.asarray(types),
            exact_scored=np.asarray(s.exact),
        )
        tmp.replace(path)
        return scores, exact, regret


def train_principals(
    s: CrossTableSettings,
    seeds: int,
    seed: int,
    workdir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Any, dict[str, np.ndarray]]:
    """A row's trained principals, stacked on a seed axis, and its training history.

    Resumable: the checkpoints in ``workdir`` are continued, and a finished training is read
    back, not retrained (so scripts can load a run's principals with the run's arguments:
    the preset's ``seeds`` and ``seed``, the cell's folder).
    """
    report = progress if progress is not None else (lambda done, total: None)
    if s.method == "marl":
        setup = _setup(s.game, s.horizon, s.obs)
        program = _marl(_marl_shape(s))
        keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
        params = _training_params(s, setup)
        runner, history = run_chunked(
            workdir,
            "train",
            lambda: program.init(keys, params),
            program.chunk,
            total=s.marl_updates,
            every=s.checkpoint_rounds,
            count=updates_done,
            keep=("agent_episode_return",),
            config=s,
            progress=report,
        )
        return jax.tree_util.tree_map(lambda x: x[:, -1], runner.params), history
    _, state, history = train_sampler(s.sampling, seeds, seed, workdir, report)
    return jax.tree_util.tree_map(lambda x: x[:, -1], state.runner.params), history


def exact_scores(
    env: GridGame,
    config: PPOConfig,
    type_params: list[GridParams],
    results: list[TypeEvaluation],
    horizon: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact principal reward per step and the agents' largest exact regret per step.

    Every (principal, type, agent seed) of ``results`` (kept agents) is tabulated on every
    cell and solved by dynamic programming under the type's perceived tables; values are the
    means over the agent seeds, shape ``(types, principals)``.  An augmented planner (ERMAS
    Sec. 4.3) is tabulated on every (cell, officer count) and scored by
    :class:`~robustmas.equilibria.markov_exact.OfficerPlanner` on the agents' cell chain.  DR
    types (reward noise) get NaN: their rewards are not a table.
    """
    trainer = PPO(config, env)
    players = trainer.num_agents
    agents = players - 1
    augmented = env.principal == "augmented"
    agent_obs = env.agent_cell_observations() if augmented else env.cell_observations()

    def probs(actor: Any) -> jax.Array:
        def one(i: jax.Array) -> jax.Array:
            mine = jax.tree_util.tree_map(lambda x: x[i], actor)
            return jax.nn.softmax(cast(Any, trainer.policy(mine, agent_obs)).logits, axis=-1)

        return jax.vmap(one)(jnp.arange(players))

    tabulate = jax.jit(jax.vmap(jax.vmap(probs)))  # (types, seeds, players, cells, actions)
    games = [exact_game(env, p, horizon) for p in type_params]
    exact = np.full((len(type_params), len(results)), np.nan)
    regret = np.full_like(exact, np.nan)
    planner = _officer_planner(env, type_params[0], horizon) if augmented else None
    for j, result in enumerate(results):
        table = np.asarray(tabulate(result.agents), np.float64)
        table /= table.sum(axis=-1, keepdims=True)
        chief = None
        if planner is not None:  # frozen (digest checked), so any (type, seed) slot holds it
            chief = planner_table(
                trainer, env, jax.tree_util.tree_map(lambda x: x[0, 0, -1], result.agents)
            )
        for t, game in enumerate(games):
            if game is None:
                continue
            if planner is None or chief is None:
                found = [regrets(game, pi) for pi in table[t]]
                exact[t, j] = np.mean([r.values[-1] for r in found]) / horizon
            else:
                movers = [_mover_actions(env, pi[:agents]) for pi in table[t]]
                found = [regrets(game, pi) for pi in movers]
                values = [planner.evaluate(cell_chain(game, pi), chief) for pi in movers]
                exact[t, j] = np.mean(values) / horizon
            regret[t, j] = np.mean([r.regrets[:agents].max() for r in found]) / horizon
    return exact, regret


def planner_table(trainer: PPO, env: GridGame, actor: Any) -> np.ndarray:
    """An augmented planner's probabilities per (cell, officer count, officer change).

    ``actor`` is the planner's own actor parameters; shape ``(cells, M + 1, len(deltas))``,
    its extra actions folded into the change 0, for :class:`OfficerPlanner`.
    """
    view = env.planner_observations()
    logits = cast(Any, trainer.policy(actor, view.reshape(-1, view.shape[-1]))).logits
    table = np.asarray(jax.nn.softmax(logits, axis=-1), np.float64)
    return _officer_actions(env, table.reshape(*view.shape[:2], -1))


def _fold_no_ops(table: np.ndarray, meanings: tuple[int, ...], what: str, fix: str) -> np.ndarray:
    """Probabilities over ``meanings``, the actions past them folded into the one meaning 0.

    The grid game treats a player's actions past its own list as no-ops (when the planner's
    larger action space widens every player's, or the other way round).
    """
    count = len(meanings)
    if table.shape[-1] > count:
        if 0 not in meanings:
            raise ValueError(f"exact: {what} extra actions are no-ops but {fix}")
        folded = table[..., :count].copy()
        folded[..., meanings.index(0)] += table[..., count:].sum(axis=-1)
        table = folded
    return table / table.sum(axis=-1, keepdims=True)


def _mover_actions(env: GridGame, table: np.ndarray) -> np.ndarray:
    """Movers' probabilities over their moves, extra actions folded into "stay"."""
    fix = "their moves have no 'stay'; use allow_stay=True or exact = false"
    return _fold_no_ops(table, env.moves, "the movers'", fix)


def _officer_actions(env: GridGame, table: np.ndarray) -> np.ndarray:
    """The planner's probabilities over its officer changes, extra actions folded into 0."""
    fix = "officer_deltas has no 0; add 0 or use exact = false"
    return _fold_no_ops(table, env.officer_deltas, "the planner's", fix)


def _officer_planner(env: GridGame, params: GridParams, horizon: int) -> OfficerPlanner:
    """The augmented planner's exact problem on the game's raw tables."""
    game = GridMarkovGame(np.asarray(params.payoffs, np.float64), horizon=horizon, moves=env.moves)
    return OfficerPlanner(
        game, env.max_officers, env.officer_deltas, float(np.asarray(params.officer_weight))
    )


def check_exact(env: GridGame) -> None:
    """Raise the error that names the setting to fix when ``env``'s policies cannot be tabulated."""
    if env.principal == "augmented":
        env.agent_cell_observations()
        env.planner_observations()
        _mover_actions(env, np.ones((1, env.num_actions)))
        _officer_actions(env, np.ones((1, env.num_actions)))
    else:
        env.cell_observations()


def exact_game(env: GridGame, params: GridParams, horizon: int) -> GridMarkovGame | None:
    """The game of ``params`` as perceived by its agent types, for dynamic programming.

    ``None`` for DR types (reward noise): their rewards are not a table.
    """
    if float(np.max(np.asarray(params.noise_width))) > 0:
        return None
    tables = agent_type_tables(
        np.asarray(params.payoffs, np.float64),
        scale=np.asarray(params.reward_scale, np.float64),
        principal_weight=np.asarray(params.principal_weight, np.float64),
        offset=np.asarray(params.reward_offset, np.float64),
        risk_eta=np.asarray(params.risk_eta, np.float64),
    )
    return GridMarkovGame(tables, horizon=horizon, moves=env.moves)


def _marl_shape(s: CrossTableSettings) -> CrossTableSettings:
    """The fields a ``marl`` program reads (types and lengths are data or outside it)."""
    alpha = parse_agent_type(s.train_type)[0] == "alpha"  # the entropy weight is not data
    return dataclasses.replace(
        s,
        train_type=s.train_type if alpha else "original",
        principal_risk_eta=0.0,
        test_types=("original",),
        validation_type="",
        top_k=0,
        train_updates=0,
        rounds=1,
        window=1,
        checkpoint_rounds=1,
        eps_per_step=0.0,
        lambda_init=0.0,
        eval_updates=1,
        eval_seeds=1,
        eval_score_episodes=1,
    )


CROSS_TABLE = register_kind(CrossTableKind())
"""The registered instance."""

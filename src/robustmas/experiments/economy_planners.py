"""Learned tax planners for the ``economy-taxes`` kind: the AI Economist and Alg. 3 / ERMAS.

References: Zheng, Trott, Srinivasa et al., "The AI Economist", 2020 (arXiv:2004.13332), the
two-phase training; Zhao et al., robust-principal paper (RP), Sec. 6, Fig. 4 and Table 2;
ERMAS (ICLR 2021 submission) Sec. 4.4; spec ``robust-principal-ermas.md`` Sec. 5 and D21, D24,
D25.  The economy is :class:`~robustmas.envs.economy.joint_view.EconomyJoint` (the four agents
and the planner, planner last), every learner with its own parameters.

One cell is one learned row of RP Fig. 4, all seeds in one vmapped program:

1. **Pretraining** (``pretrain_updates``): the agents learn under the free market (highest rate
   0, so every rate stays 0), the planner frozen -- the AI Economist's first phase.
2. **Joint training** (``joint_updates``): planner and agents learn together, the highest
   allowed rate rising linearly from 0.1 to 1 over ``anneal_updates`` (the AI Economist's tax
   annealing; its released schedule rises by 0.001 per completed episode from 0.1).
3. ``ai-economist`` rows continue the joint training for ``rounds x main_updates`` updates, so
   every row gives its planner the same number of updates after phase 2; ``alg3`` / ``ermas``
   rows run ``rounds`` rounds of RP Alg. 3 / ERMAS
   (:class:`~robustmas.robust.adversarial_sampling.AdversarialSampler`) from the phase-2
   learners, with original agents and the slack ``epsilon`` per episode (D21: -30), as the
   released code fine-tunes Alg. 3 from its AI Economist checkpoint.  With several slacks
   (``epsilons``), each continues the same phase-2 learners in one vmapped program, and the
   row keeps the slack whose planners score best on ``validation_type``
   (:func:`choose_epsilon`; issue 13's "eps chosen on a validation type").  The agents' type
   during training is ``train_type`` (the oracle rows "AI Economist (eta = ...)").
4. **Evaluation** (:func:`~robustmas.robust.evaluation.evaluate_principals`): each planner is
   frozen (parameters hashed before and after); under every test type its own agents are
   fine-tuned for ``eval_updates`` PPO updates (warm start, the released code's evaluation,
   D24; ``warm_start = false``: new agents from scratch), then ``eval_episodes`` full episodes
   are played with the sampled policies.  A column is the planner's return, i.e. the ``swf``
   at the end of an episode.

Deviations, stated:

* MLP actor-critics, the planner without its maps (see
  :class:`~robustmas.envs.economy.joint_view.EconomyJoint`); the papers use convolutional and
  recurrent networks.
* The optimizer state restarts when Alg. 3 takes over from phase 2.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.envs.economy import GatherTradeBuild
from robustmas.envs.economy.joint_view import EconomyJoint
from robustmas.experiments.cells import CellProgress, curve
from robustmas.experiments.chunks import ChunkedProgram, run_chunked, updates_done
from robustmas.experiments.economy_types import ORIGINAL_ALPHA, parse_type, types_by_alpha
from robustmas.rl.ppo import RunnerState
from robustmas.robust.adversarial_sampling import AdversarialSampler, AdversarialSamplingConfig
from robustmas.robust.evaluation import evaluate_principals, stack_types
from robustmas.robust.marl import JointPPO

if TYPE_CHECKING:
    from robustmas.experiments.economy_cells import EconomyTaxesSettings

__all__ = ["PLANNER_METHODS", "choose_epsilon", "run_planner_row"]

PLANNER_METHODS = ("ai-economist", "alg3", "ermas")


def _economy(s: EconomyTaxesSettings) -> tuple[EconomyJoint, Any]:
    economy = GatherTradeBuild(tax_model="planner")
    env = EconomyJoint(economy, planner_maps=s.planner_maps)
    return env, economy.make_params(episode_length=s.episode_length)


def rate_max_at(update: jax.Array, pretrain: int, anneal: int) -> jax.Array:
    """The highest allowed rate at PPO update ``update`` of the pipeline (tax annealing)."""
    u = jnp.asarray(update, jnp.float32)
    rising = 1.0 if anneal == 0 else jnp.minimum(1.0, 0.1 + 0.9 * (u - pretrain) / anneal)
    return jnp.where(u < pretrain, 0.0, rising).astype(jnp.float32)


class _Joint(ChunkedProgram):
    """Phases 1-2 (and the ``ai-economist`` continuation): JointPPO on a rate schedule."""

    def __init__(self, s: EconomyTaxesSettings) -> None:
        self.env, self.params = _economy(s)
        self.algo = JointPPO(
            s.joint_ppo(_train_alpha(s)), self.env, self.params,
            principal_lr_scale=s.planner_lr_scale,
        )  # fmt: skip
        trainer = self.algo.trainer
        pretrain, anneal = s.pretrain_updates, s.anneal_updates

        def scheduled(r: RunnerState) -> RunnerState:
            rate_max = rate_max_at(r.update_step, pretrain, anneal)
            return dataclasses.replace(
                r,
                env_params=dataclasses.replace(r.env_params, rate_max=rate_max),
                trainable=r.trainable.at[-1].set(r.update_step >= pretrain),
            )

        def run(r: RunnerState, n: int) -> tuple[RunnerState, Any]:
            return jax.lax.scan(lambda r, _: trainer.update(scheduled(r)), r, None, length=n)

        super().__init__(self.algo.init, run, in_axes=(0, 0))


class _Robust(ChunkedProgram):
    """Alg. 3 / ERMAS rounds from given learners."""

    def __init__(self, s: EconomyTaxesSettings) -> None:
        self.env, self.params = _economy(s)
        config = AdversarialSamplingConfig(
            ppo=s.joint_ppo(_train_alpha(s)),
            rounds=s.rounds,
            main_updates=s.main_updates,
            deviation_updates=s.deviation_updates,
            eval_episodes=s.regret_episodes,
            lambda_lr=s.lambda_lr,
            train_principal=True,
            principal_lr_scale=s.planner_lr_scale,
            meta_beta=s.meta_beta if s.method == "ermas" else 0.0,
        )
        self.sampler = AdversarialSampler(config, self.env, self.params)
        super().__init__(self.sampler.init, self.sampler.run_rounds, in_axes=(0, 0, 0, 0, 0))


def _train_alpha(s: EconomyTaxesSettings) -> float:
    return parse_type(s.train_type)[1]


@lru_cache(maxsize=4)
def _joint(shape: EconomyTaxesSettings) -> _Joint:
    return _Joint(shape)


@lru_cache(maxsize=4)
def _robust(shape: EconomyTaxesSettings) -> _Robust:
    return _Robust(shape)


def _shape(s: EconomyTaxesSettings, alpha: float) -> EconomyTaxesSettings:
    """The fields the compiled programs read (the rest is data or outside them).

    The training entropy weight ``alpha`` stays: it is a program constant.
    """
    return dataclasses.replace(
        s,
        taxes="free-market",
        test_types=("Original",),
        train_type="Original" if alpha == ORIGINAL_ALPHA else f"alpha={alpha:g}",
        epsilon=0.0,
        epsilons=(),
        validation_type="",
        lambda_init=0.0,
        eval_episodes=1,
        eval_updates=1,
        eval_seeds=1,
        checkpoint_updates=1,
        warm_start=True,
        # A method's programs differ only in the meta step.
        method="ermas" if s.method == "ermas" else "alg3",
        **({} if s.method == "ermas" else {"meta_beta": 0.0}),
    )


def run_planner_row(
    s: EconomyTaxesSettings, seeds: int, seed: int, workdir: Path, progress: CellProgress
) -> dict[str, Any]:
    """Train one learned row's planners (resumable), evaluate them on every test type."""
    eta_train, alpha_train = parse_type(s.train_type)
    shape = _shape(s, alpha_train)
    program = _joint(shape)
    joint_total = s.pretrain_updates + s.joint_updates
    if s.method == "ai-economist":
        joint_total += s.rounds * s.main_updates
    robust_total = 0 if s.method == "ai-economist" else s.rounds
    total = joint_total + robust_total + len(types_by_alpha(s.scored_types))

    def stage(offset: int) -> CellProgress:
        return lambda done, _: progress(offset + done, total)

    train_params = dataclasses.replace(program.params, isoelastic_eta=jnp.float32(eta_train))
    batched = jax.tree_util.tree_map(lambda x: jnp.stack([x] * seeds), train_params)
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    runner, history = run_chunked(
        workdir,
        "joint",
        lambda: program.init(keys, batched),
        program.chunk,
        total=joint_total,
        every=s.checkpoint_updates,
        count=updates_done,
        keep=("agent_episode_return",),
        config=s,
        progress=stage(0),
    )
    returns = history["agent_episode_return"]  # (seeds, updates, players)
    curves = {
        "train_swf": curve(returns[..., -1]),
        "train_agent_utility": curve(returns[..., :-1].mean(axis=-1)),
    }
    info: dict[str, Any] = {"method": s.method, "train_type": s.train_type}
    learners = runner.params
    candidates = s.candidate_epsilons  # one slack unless a robust row lists several
    if robust_total:
        robust = _robust(shape)
        # Every slack continues the same pretrained learners: runs eps-major, (eps, seed).
        runs = len(candidates) * seeds
        learners = jax.tree_util.tree_map(
            lambda x: jnp.concatenate([x] * len(candidates)), learners
        )
        final = dataclasses.replace(train_params, rate_max=jnp.float32(1.0))
        final = jax.tree_util.tree_map(lambda x: jnp.stack([x] * runs), final)
        eps = jnp.repeat(jnp.asarray(candidates, jnp.float32), seeds)
        lam0 = jnp.full((runs,), s.lambda_init, jnp.float32)
        r_keys = jax.random.split(jax.random.PRNGKey(seed + 7919), runs)
        state, rounds = run_chunked(
            workdir,
            "robust",
            lambda: robust.init(r_keys, eps, learners, final, lam0),
            robust.chunk,
            total=robust_total,
            every=max(1, s.checkpoint_updates // max(1, s.main_updates)),
            count=lambda st: int(np.asarray(st.round).reshape(-1)[0]),
            keep=("lambda", "regret", "principal_return"),
            config=s,
            progress=stage(joint_total),
        )
        learners = state.runner.params
        curves["robust_swf"] = curve(rounds["principal_return"])
        curves["lambda"] = curve(rounds["lambda"].mean(axis=-1))
        info["lambda_final"] = rounds["lambda"][:, -1].tolist()
        info["regret_last"] = rounds["regret"][:, -1].tolist()
    scores = _evaluate(s, program, learners, seed, workdir, stage(joint_total + robust_total))
    if len(candidates) > 1:
        chosen, means = choose_epsilon(scores[s.validation_type], len(candidates))
        info["epsilon_validation"] = dict(zip(map(str, candidates), means.tolist(), strict=True))
        info["epsilon_chosen"] = candidates[chosen]
        info["all_seeds"] = {t: scores[t].tolist() for t in s.scored_types}
        scores = {t: v[chosen * seeds : (chosen + 1) * seeds] for t, v in scores.items()}
    per_seed = {label: scores[label].tolist() for label in s.test_types}
    per_seed["mean_over_types"] = np.mean([scores[t] for t in s.test_types], axis=0).tolist()
    progress(total, total)
    return {"per_seed": per_seed, "reference": {}, "curves": curves, "info": info}


def choose_epsilon(validation: np.ndarray, count: int) -> tuple[int, np.ndarray]:
    """The slack to keep: the index of the best mean validation swf, and every slack's mean.

    ``validation`` holds one score per run, eps-major (``count`` slacks x seeds); ties go to
    the first slack.
    """
    means = np.asarray(validation, np.float64).reshape(count, -1).mean(axis=1)
    return int(np.argmax(means)), means


def _evaluate(
    s: EconomyTaxesSettings,
    program: _Joint,
    learners: Any,
    seed: int,
    workdir: Path,
    progress: CellProgress,
) -> dict[str, np.ndarray]:
    """The frozen planners' swf per scored type ``{type: (runs,)}``, cached in the cell folder.

    The scored types are the test columns and the validation type (if any); ``runs`` is the
    learners' leading axis (slacks x seeds).
    """
    path = workdir / "evaluation.npz"
    labels = list(s.scored_types)
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            if list(data["types"]) == labels:
                return {t: data["scores"][j] for j, t in enumerate(labels)}
    groups = types_by_alpha(s.scored_types)
    principals = jax.tree_util.tree_map(lambda x: x[:, -1], learners)
    base = dataclasses.replace(program.params, rate_max=jnp.float32(1.0))
    out: dict[str, np.ndarray] = {}
    for g, (alpha, group) in enumerate(groups):
        ppo = s.joint_ppo(alpha)
        config = dataclasses.replace(ppo, total_timesteps=s.eval_updates * ppo.batch_size)
        types = stack_types(
            [dataclasses.replace(base, isoelastic_eta=jnp.float32(eta)) for _, eta in group]
        )
        results = evaluate_principals(
            program.env,
            types,
            [label for label, _ in group],
            principals,
            config,
            seeds=s.eval_seeds,
            key=jax.random.fold_in(jax.random.PRNGKey(seed), 1),
            eval_episodes=s.eval_episodes,
            own_agents=learners if s.warm_start else None,
        )
        for j, (label, _) in enumerate(group):
            out[label] = np.asarray([r.returns[j].mean() for r in results], np.float64)
        progress(g + 1, len(groups))
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / "evaluation.tmp.npz"
    np.savez(
        tmp,
        scores=np.stack([out[t] for t in labels]),
        types=np.asarray(labels),
    )
    tmp.replace(path)
    return out

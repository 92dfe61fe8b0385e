"""The ``economy-taxes`` cell kind: one row of the robust-principal Fig. 4 table.

Rows with ``method = "fixed"`` (below) are tax models; rows with a learned planner
(``ai-economist``, ``alg3``, ``ermas``) are trained and evaluated by
:mod:`robustmas.experiments.economy_planners`, and share this kind's columns, PPO fields and
report.

Reference: Zhao et al., robust-principal paper, Sec. 6 and Fig. 4 (spec
``robust-principal-ermas.md`` Sec. 4 "RP Fig. 4" and Sec. 5).  A fixed tax model (free market,
the US federal 2018 schedule scaled, Saez's formula) needs no training of its own: what the
paper's row reports is the social welfare the economy reaches when agents of each test type
learn under that tax.  One cell is one tax model; for every test type (``Original``: eta 0.23,
entropy 0.025; ``eta=...`` and ``alpha=...`` variants) it trains the four agents from scratch
with masked PPO (one shared actor-critic, as the AI Economist; the economy's
:class:`~robustmas.envs.economy.agents_view.EconomyAgents` view), all seeds and all utility
curvatures of one entropy weight in one vmapped program, chunked and resumable, then rolls out
``eval_episodes`` full episodes with the trained (sampled) policies and reports their final
``swf`` (the AI Economist's equality x mean coin; D23) as that type's column, with equality,
productivity, tax revenue, houses, trades and labour in the cell's info.

Yardstick: the same episodes under the masked uniform random policy (``random_swf`` in the
reference); ``tests/test_economy.py`` shows that policy's statistics match the AI Economist's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.envs.economy import GatherTradeBuild, social
from robustmas.envs.economy.agents_view import (
    FIXED_TAXES,
    EconomyAgents,
    allowed_uniform,
    fixed_tax_economy,
)
from robustmas.envs.economy.observation import agent_image_shape
from robustmas.experiments.cells import CellProgress, curve, register_kind
from robustmas.experiments.chunks import ChunkedProgram, run_chunked, updates_done
from robustmas.experiments.economy_planners import PLANNER_METHODS, run_planner_row
from robustmas.experiments.economy_types import ORIGINAL_ALPHA, parse_type, types_by_alpha
from robustmas.rl.config import PPOConfig
from robustmas.rl.ppo import PPO

__all__ = ["ECONOMY_TAXES", "EconomyTaxesKind", "EconomyTaxesSettings", "parse_type"]

TAXES = FIXED_TAXES
NETWORKS = ("mlp", "conv-lstm")


def conv_lstm_fields(lstm_size: int) -> dict[str, Any]:
    """PPO fields of the papers' agent networks: conv over the map and index windows, LSTM.

    The image is the economy's (every row here uses the default 11 x 11 window).
    """
    return {
        "conv_image": agent_image_shape(),
        "conv_features": (16, 16),
        "recurrent": "lstm",
        "recurrent_size": lstm_size,
    }


@dataclass(frozen=True)
class EconomyTaxesSettings:
    """One fixed tax model trained against every test type (see the module docstring)."""

    taxes: str = "free-market"
    """``"free-market"``, ``"us-federal"`` or ``"saez"`` (``method = "fixed"`` rows)."""
    test_types: tuple[str, ...] = (
        "Original",
        "eta=0.11",
        "eta=0.19",
        "eta=0.27",
        "alpha=0.25",
        "alpha=2.5",
    )
    """The table's columns (RP Fig. 4): agents' utility curvature and entropy weight."""
    episode_length: int = 1000
    """Steps per episode (the papers' 1000)."""
    total_timesteps: int = 2_000_000
    """Environment steps of PPO per (type, seed)."""
    num_envs: int = 16
    """Parallel economies per run."""
    num_steps: int = 250
    """Rollout length per update."""
    update_epochs: int = 4
    """PPO epochs per update."""
    num_minibatches: int = 4
    """Minibatches per epoch."""
    lr: float = 3e-4
    """Adam learning rate of the agents (constant)."""
    gamma: float = 0.998
    """Discount (the AI Economist's agents)."""
    gae_lambda: float = 0.98
    """GAE lambda (the AI Economist's)."""
    clip_eps: float = 0.2
    """PPO clipping."""
    hidden: tuple[int, ...] = (128, 128)
    """Hidden widths of the agents' actor and critic (the dense layers of either network)."""
    network: str = "mlp"
    """The agents' networks: ``"mlp"`` (dense layers :attr:`hidden` over the flat
    observation) or ``"conv-lstm"``, the papers' (RP Table 2, the AI Economist's agents): two
    3 x 3 convolutions of 16 filters over the 9 x 11 x 11 map and index windows, the dense
    layers :attr:`hidden`, then an LSTM of :attr:`lstm_size`.  ``conv-lstm`` serves the fixed
    tax rows; the learned planners' rows train feed-forward learners (Alg. 3 and ERMAS replay
    single transitions)."""
    lstm_size: int = 128
    """Features of the agents' LSTM with ``network = "conv-lstm"`` (RP Table 2: 128)."""
    eval_episodes: int = 16
    """Full episodes rolled out with the trained policies per (type, seed)."""
    checkpoint_updates: int = 20
    """PPO updates per checkpointed chunk."""
    method: str = "fixed"
    """``fixed`` (the tax model :attr:`taxes`) or a learned planner: ``ai-economist``, ``alg3``
    or ``ermas`` (:mod:`robustmas.experiments.economy_planners`; the fields below)."""
    train_type: str = "Original"
    """Learned planners: the agents' type while the planner trains (``eta=...`` or
    ``alpha=...`` for the AI Economist's oracle rows; ``alg3`` / ``ermas`` train with
    ``Original``)."""
    pretrain_updates: int = 40
    """Learned planners: PPO updates of the agents under the free market, planner frozen."""
    joint_updates: int = 40
    """Learned planners: PPO updates of planner and agents together (tax annealing)."""
    anneal_updates: int = 20
    """Learned planners: updates over which the highest rate rises from 0.1 to 1 (0: none)."""
    rounds: int = 10
    """Learned planners: Alg. 3 / ERMAS rounds after the joint phase (an ``ai-economist`` row
    trains ``rounds x main_updates`` more joint updates instead)."""
    main_updates: int = 2
    """Learned planners: PPO updates of the main learners per Alg. 3 round (RP Table 2: 2)."""
    deviation_updates: int = 5
    """Learned planners: PPO updates of each agent's unilateral deviation per round (RP
    Table 2: 5)."""
    regret_episodes: int = 4
    """Learned planners: full episodes of each Monte-Carlo return of the regret estimate."""
    epsilon: float = -30.0
    """Learned planners: the agents' regret slack per episode, in utility (RP Fig. 4: -30,
    D21)."""
    epsilons: tuple[float, ...] = ()
    """Learned planners (``alg3`` / ``ermas``): slacks to choose from on
    :attr:`validation_type`.  Each trains its own planners from the same pretrained learners,
    all in one vmapped program; the row reports the slack whose planners have the best mean swf
    on the validation type (issue 13: "eps chosen on a validation type").  Empty:
    :attr:`epsilon` alone."""
    validation_type: str = ""
    """Learned planners: the agent type that chooses among :attr:`epsilons`; not a test column
    (as D19 for the N-matrix table).  Needed with two or more slacks."""
    lambda_init: float = 20.0
    """Learned planners: initial multipliers (RP Table 2: 20)."""
    lambda_lr: float = 0.01
    """Learned planners: dual step size (RP Table 2: 0.01)."""
    meta_beta: float = 0.2
    """Learned planners: ERMAS meta-step weight (``ermas`` only)."""
    planner_lr_scale: float = 1 / 3
    """Learned planners: the planner's learning rate relative to the agents' (RP Table 2:
    0.0001 / 0.0003)."""
    planner_ent_coef: float = 0.1
    """Learned planners: the planner's entropy weight (RP Table 2: 0.1; the released code
    0.125; D25)."""
    planner_maps: bool = False
    """Learned planners: give the planner its 25 x 25 maps (MLP input; off by default)."""
    warm_start: bool = True
    """Learned planners: each test type fine-tunes the planner's own agents (D24, the released
    code); ``False``: new agents from scratch."""
    eval_updates: int = 20
    """Learned planners: PPO updates of the agents under each test type."""
    eval_seeds: int = 1
    """Learned planners: agent seeds per planner and test type (the score is their mean)."""

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ValueError(
                f"network: expected one of {', '.join(NETWORKS)}, got {self.network!r}"
            )
        if self.network != "mlp" and self.method != "fixed":
            raise ValueError(
                f"network: {self.network!r} serves the fixed tax rows only; the learned "
                f"planners ({self.method}) train MLP learners: set network = 'mlp'"
            )
        if self.taxes not in TAXES:
            raise ValueError(f"taxes: expected one of {', '.join(TAXES)}, got {self.taxes!r}")
        if self.method not in ("fixed", *PLANNER_METHODS):
            raise ValueError(
                f"method: expected 'fixed' or one of {', '.join(PLANNER_METHODS)}, "
                f"got {self.method!r}"
            )
        parse_type(self.train_type)
        self._check_epsilon_choice()
        if self.method in ("alg3", "ermas") and self.train_type != "Original":
            raise ValueError(f"train_type: {self.method} trains with 'Original' agents")
        for name in ("pretrain_updates", "joint_updates", "anneal_updates", "rounds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected an integer >= 0")
        for name in ("main_updates", "deviation_updates", "regret_episodes", "eval_updates",
                     "eval_seeds"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer")
        for name in ("planner_lr_scale", "planner_ent_coef", "lambda_lr", "meta_beta"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: expected a value >= 0, got {getattr(self, name)}")
        if not self.test_types:
            raise ValueError("test_types: give at least one type, e.g. ['Original']")
        for label in self.test_types:
            parse_type(label)
        if len(set(self.test_types)) != len(self.test_types):
            raise ValueError("test_types: each type once")
        for name in ("episode_length", "eval_episodes", "checkpoint_updates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer")
        self.ppo_config(ORIGINAL_ALPHA)  # PPOConfig checks the rest, naming the field

    def _check_epsilon_choice(self) -> None:
        if self.epsilons and self.method not in ("alg3", "ermas"):
            raise ValueError(
                f"epsilons: only the robust planners (alg3, ermas) have a slack; "
                f"method is {self.method!r}"
            )
        if len(set(self.epsilons)) != len(self.epsilons):
            raise ValueError(f"epsilons: each slack once, got {list(self.epsilons)}")
        if len(self.epsilons) >= 2 and not self.validation_type:
            raise ValueError(
                "validation_type: choosing among epsilons needs a type that is not a test "
                "column, e.g. 'eta=0.15'"
            )
        if self.validation_type:
            if len(self.epsilons) < 2:
                raise ValueError(
                    "validation_type: only chooses among epsilons; give two or more slacks "
                    "(epsilons = [-30.0, 30.0]) or drop it"
                )
            parse_type(self.validation_type)
            if self.validation_type in self.test_types:
                raise ValueError(
                    f"validation_type: {self.validation_type!r} is a test column; choose a "
                    "type outside test_types"
                )

    @property
    def candidate_epsilons(self) -> tuple[float, ...]:
        """The slacks a robust planner row trains: :attr:`epsilons`, else :attr:`epsilon`."""
        return self.epsilons or (self.epsilon,)

    @property
    def scored_types(self) -> tuple[str, ...]:
        """The test types, then the validation type (if any)."""
        return self.test_types + ((self.validation_type,) if self.validation_type else ())

    @property
    def extra_metrics(self) -> tuple[str, ...]:
        """The test types are the table's columns."""
        return self.test_types

    def joint_ppo(self, ent_coef: float = ORIGINAL_ALPHA) -> PPOConfig:
        """PPO of the learned planners' learners (one parameter set each).

        The agents' entropy weight is ``ent_coef``, the planner's :attr:`planner_ent_coef`.
        """
        base = self.ppo_config(ent_coef)
        return dataclasses.replace(
            base,
            total_timesteps=base.batch_size,
            parameter_sharing=False,
            action_mask_size=50 + 7 * 22,
            learner_ent_coef=(ent_coef,) * 4 + (self.planner_ent_coef,),
        )

    def ppo_config(self, ent_coef: float) -> PPOConfig:
        """The agents' PPO for one entropy weight."""
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
            ent_coef=ent_coef,
            anneal_lr=False,
            actor_hidden=self.hidden,
            critic_hidden=self.hidden,
            activation="relu",
            action_mask_size=50,
            eval_every=0,
            **(conv_lstm_fields(self.lstm_size) if self.network == "conv-lstm" else {}),
        )


def final_metrics(economy: GatherTradeBuild, state: Any) -> dict[str, jax.Array]:
    """Welfare and activity of finished episodes (batched states)."""
    coin = jax.vmap(economy.coin)(state)
    return {
        "swf": state.swf,
        "equality": social.equality(coin),
        "productivity": coin.sum(axis=-1),
        "tax_revenue": state.tax_revenue,
        "builds": state.builds.sum(axis=-1),
        "trades": state.trades,
        "labor": state.labor.mean(axis=-1),
        "utility": state.utility.mean(axis=-1),
    }


def rollout_metrics(
    env: EconomyAgents,
    policy: Any,
    key: jax.Array,
    params: Any,
    episodes: int,
    carry: Any = None,
) -> dict[str, jax.Array]:
    """Run ``episodes`` full episodes with ``policy``; their final metrics.

    ``policy(key, obs, carry, first) -> (carry, actions)``: ``carry`` is the policy's state
    (``None`` for a stateless one; the initial one is ``carry``) and ``first`` (per agent) says
    which observations start an episode, where a recurrent policy zeroes its state.

    Under Saez's taxes each economy first plays :func:`saez_warmup_episodes` episodes with the
    same policy, carried over by ``reset_from``, so that the measured episode is taxed by the
    formula on a full income buffer (not by the random rates of an empty one).
    """
    key_reset, key_warm, key_run = jax.random.split(key, 3)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, episodes), params
    )
    first = jnp.ones(obs.shape[:2], bool)

    def play(c: tuple, k: jax.Array) -> tuple[tuple, None]:
        obs, state, carry, first = c
        k_act, k_step = jax.random.split(k)
        carry, action = policy(k_act, obs, carry, first)
        obs, state, _, _, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(k_step, episodes), state, action, params
        )
        return (obs, state, carry, jnp.zeros_like(first)), None

    def episode(c: tuple, k: jax.Array) -> tuple[tuple, None]:
        k_play, k_next = jax.random.split(k)
        (_, state, carry, _), _ = jax.lax.scan(
            play, c, jax.random.split(k_play, params.episode_length)
        )
        obs, state = jax.vmap(env.reset_from, in_axes=(0, 0, None))(
            jax.random.split(k_next, episodes), state, params
        )
        return (obs, state, carry, jnp.ones_like(first)), None

    c = (obs, state, carry, first)
    if env.economy.tax_model == "saez":
        warm = saez_warmup_episodes(env.economy, params.episode_length)
        c, _ = jax.lax.scan(episode, c, jax.random.split(key_warm, warm))
    (_, state, _, _), _ = jax.lax.scan(play, c, jax.random.split(key_run, params.episode_length))
    return final_metrics(env.economy, state)


def saez_warmup_episodes(economy: GatherTradeBuild, episode_length: int, buffer: int = 500) -> int:
    """Episodes that fill Saez's income buffer (one income per agent per tax day)."""
    per_episode = economy.n_agents * (episode_length // economy.period)
    if per_episode == 0:
        raise ValueError(
            f"episode_length: {episode_length} steps hold no tax day (period {economy.period}); "
            "Saez's taxes need longer episodes"
        )
    return -(-buffer // per_episode)


def random_policy(key: jax.Array, obs: jax.Array, carry: Any, first: jax.Array) -> tuple:
    """Uniform over each agent's allowed actions (the mask leads the observation); stateless."""
    return carry, allowed_uniform(key, obs[..., :50] > 0.5)


class AgentsProgram(ChunkedProgram):
    """Masked PPO of one entropy weight, vmapped over (seed, eta) runs."""

    def __init__(self, s: EconomyTaxesSettings, ent_coef: float) -> None:
        economy, self.params = fixed_tax_economy(s.taxes, episode_length=s.episode_length)
        self.env = EconomyAgents(economy)
        self.trainer = PPO(s.ppo_config(ent_coef), self.env, self.params)
        super().__init__(
            lambda key, env_params: self.trainer.init(key, env_params=env_params),
            self.trainer.update_chunk,
            in_axes=(0, 0),
        )

    def evaluate(
        self, actor: Any, params: Any, key: jax.Array, episodes: int
    ) -> tuple[dict[str, jax.Array], jax.Array]:
        """One run's trained (sampled) policy over ``episodes`` full episodes.

        Returns its final metrics (:func:`final_metrics`, one value per episode) and the random
        policy's swf in the same episodes (the yardstick).
        """
        networks = self.trainer.networks

        def trained(k: jax.Array, obs: jax.Array, carry: Any, first: jax.Array) -> tuple:
            carry, action, _ = networks.sample(actor, k, networks.actor_input(obs), carry, first)
            return carry, action

        carry = networks.initial_carry((episodes, self.env.num_agents))
        ours = rollout_metrics(self.env, trained, key, params, episodes, carry)
        base = rollout_metrics(self.env, random_policy, key, params, episodes)
        return ours, base["swf"]


@lru_cache(maxsize=8)
def agents_program(shape: EconomyTaxesSettings, ent_coef: float) -> AgentsProgram:
    """The compiled agents' program of ``shape`` (settings blanked by :func:`program_shape`)."""
    return AgentsProgram(shape, ent_coef)


def program_shape(s: EconomyTaxesSettings) -> EconomyTaxesSettings:
    """Settings with what does not change the compiled programs blanked (cache key)."""
    return dataclasses.replace(s, test_types=("Original",), eval_episodes=1, checkpoint_updates=1)


class EconomyTaxesKind:
    """The ``economy-taxes`` kind (see the module docstring)."""

    name = "economy-taxes"
    settings_type = EconomyTaxesSettings
    metrics: Mapping[str, str] = {
        "mean_over_types": "swf (equality x mean coin) at the end of an episode, mean over types",
    }
    """The test types' columns are added per preset."""
    compare_columns = True
    """Mark, per column, the rows within one s.e. of the best."""

    def metric_description(self, name: str) -> str:
        """Description of a test type's column."""
        return f"swf at the end of an episode with agents of type {name} trained under the tax"

    def run(
        self, settings: Any, seeds: int, seed: int, workdir: Path, progress: CellProgress
    ) -> dict[str, Any]:
        """Train agents of every type under the tax (resumable), roll them out, report."""
        s: EconomyTaxesSettings = settings
        if s.method != "fixed":
            return run_planner_row(s, seeds, seed, workdir, progress)
        by_alpha = types_by_alpha(s.test_types)
        updates = s.ppo_config(ORIGINAL_ALPHA).num_updates
        total = updates * len(by_alpha)
        per_seed: dict[str, list[float]] = {}
        info: dict[str, Any] = {"taxes": s.taxes, "types": {}}
        curves: dict[str, Any] = {}
        reference: dict[str, float] = {}
        for g, (alpha, group) in enumerate(by_alpha):
            program = agents_program(program_shape(s), alpha)
            etas = np.repeat([eta for _, eta in group], seeds)
            env_params = jax.vmap(
                lambda eta, p=program.params: dataclasses.replace(p, isoelastic_eta=eta)
            )(jnp.asarray(etas, jnp.float32))
            keys = jax.random.split(jax.random.PRNGKey(seed), len(group) * seeds)

            def chunk_progress(done: int, _: int, g: int = g) -> None:
                progress(g * updates + done, total)

            runner, history = run_chunked(
                workdir,
                f"train-alpha{alpha:g}",
                lambda keys=keys, env_params=env_params, program=program: program.init(
                    keys, env_params
                ),
                program.chunk,
                total=updates,
                every=s.checkpoint_updates,
                count=updates_done,
                keep=("episode_return",),
                config=s,
                progress=chunk_progress,
            )
            eval_keys = jax.random.split(jax.random.PRNGKey(seed + 1), len(etas))
            evaluate = partial(program.evaluate, episodes=s.eval_episodes)
            ours, base = jax.jit(jax.vmap(evaluate))(runner.params.actor, env_params, eval_keys)
            for j, (label, eta) in enumerate(group):
                rows = slice(j * seeds, (j + 1) * seeds)
                swf = np.asarray(ours["swf"][rows]).mean(axis=1)
                per_seed[label] = swf.tolist()
                reference[f"random_swf[{label}]"] = float(np.asarray(base[rows]).mean())
                info["types"][label] = {
                    "eta": eta,
                    "alpha": alpha,
                    **{k: np.asarray(v[rows]).mean(axis=1).tolist() for k, v in ours.items()},
                }
                ret = history["episode_return"][rows]
                curves[f"return[{label}]"] = curve(ret)
        per_seed["mean_over_types"] = np.mean(
            [per_seed[label] for label in s.test_types], axis=0
        ).tolist()
        progress(total, total)
        return {"per_seed": per_seed, "reference": reference, "curves": curves, "info": info}


ECONOMY_TAXES = register_kind(EconomyTaxesKind())
"""The registered kind."""

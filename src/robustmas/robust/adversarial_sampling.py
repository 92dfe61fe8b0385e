"""Adversarial equilibrium sampling with learned agents: RP Alg. 1 (RL), RP Alg. 3 and ERMAS.

References:
* Zhao, Trott, Xiong, Zheng, "Learning to Play General-Sum Games Against Multiple Boundedly
  Rational Agents", AAAI 2023, arXiv:2106.05492 (RP): Sec. 5 (Algorithm 1 with a "common
  multi-agent implementation of PPO and a Monte-Carlo sampling scheme as our regret
  estimator"), Sec. 6 and App. D (Algorithm 3: the principal trained "with a slow learning
  rate" at the same time), Table 1.
* Anonymous ICLR 2021 submission, "ERMAS: Learning Policies Robust to Reality Gaps in
  Multi-Agent Simulations" (ER), Sec. 2-3: the same dual loop with a first-order meta step
  (Eq. 13) and the lambda warm-up of footnote 4.

The spec ``robust-principal-ermas.md`` Sec. 2 is the operational reading followed here; its
decisions are cited as D*n*.  Agents ``0..N-1`` and the principal (the last index ``N``, as in
:mod:`robustmas.envs.grid_game`) learn with PPO, each with its own parameters.  One **round**:

1. **Snapshot** the learners ``theta~``.
2. **Monte-Carlo regret** (D6, D8): for every agent ``i``, in one ``vmap`` over ``i``, run
   ``K`` PPO updates of agent ``i`` alone on its own reward from the snapshot (the other agents
   and the current principal frozen, a fresh optimizer state by default), then
   ``r_i = J_i(theta'_i, theta~_-i) - J_i(theta~)``: mean undiscounted returns of the sampled
   (stochastic) policies over ``eval_episodes`` episodes on **common random numbers** (the same
   initial states and step keys for both).
3. **Main update**: ``M_s`` PPO updates of everybody from the snapshot, every agent learning
   the shaped reward ``(lambda_i r_i - r_0) / (1 + lambda_i)`` (RP Alg. 1/3; D7: the papers'
   reward-level shaping, not the released code's advantage mixing, so each agent's critic
   learns the shaped return) and the principal its own reward ``r_0`` (Alg. 3; frozen in
   Alg. 1).  The ``lambda`` of round ``j`` is the one left by round ``j - 1`` (D17).
4. **Dual step** (D4: the printed sign is wrong): projected ascent
   ``lambda_i <- clip(lambda_i + alpha (r_i - eps_i), 0, lambda_max)``; ``eps`` is per episode
   in return units and may be negative (D5).  Skipped during ``lambda_warmup_rounds`` (D18) and
   when ``dynamic_lambda`` is off (the frozen-lambda ablation, RP Fig. 5).
5. **Meta step** (ERMAS, D16, ``meta_beta > 0``): every agent's actor moves away from its
   deviation, ``theta_i <- theta_i - min(beta lambda_i, cap) (theta'_i - theta_i)`` with
   ``theta_i`` the post-update parameters (the released code's ``merge_weights``), or
   ``- min(...) (theta'_i - theta~_i)`` (``meta_target = "snapshot_delta"``).  The deviation is
   the regret estimate's, or with ``meta_deviation_updates`` a separate local one (a few
   updates at the main learning rate, the released code's kind): the Reptile reading of ER
   Eq. 13 needs a short path from the snapshot, while the regret estimate needs a deviation
   close to a best response.  Using one strong deviation for both pushes every agent twice a
   best-response step away from its best response each round (measured:
   ``docs/results/ermas-fig3``).

Deviations from the spec's recommendations, and why:

* D9 recommends one shared network with a one-hot agent id.  Here every learner has its own
  parameters (:class:`~robustmas.rl.multiagent.SeparateParameters`): agent ``i``'s deviation is
  then exactly "agent ``i`` plays a fine-tuned copy while the others keep ``theta~``", with no
  leakage through shared weights, and the principal's slow learning rate is a per-learner
  factor (:func:`~robustmas.rl.optim.with_learner_scale`) in the same compiled program.
* D16 takes the meta step's ``theta'_i`` from the regret estimate.  With the strong
  deviations a regret estimate needs (``deviation_ppo``, ``fresh_deviation``) that collapsed
  every ERMAS run to the principal's worst corner, eps = 0 included (docs/results/ermas-fig2);
  ``meta_deviation_updates`` gives the meta step a short deviation of its own (the ERMAS
  presets use 2), which is what the released code's single ``K = 2`` deviation amounts to.
* D16's meta step moves the actor only: the deviation's critic learned the agent's raw return,
  the main critic the shaped one, so mixing them has no meaning.
* D15's trust region is an optional stop (``kl_radius``): a deviation update that would take
  the deviating agent's policy further than ``kl_radius`` (KL from the snapshot policy, mean
  over the snapshot's current observations) is rejected and the deviation stops there.  The
  realised KL is logged every round (``deviation_kl``) with or without the stop.

Everything is data in :class:`SamplerState` (``epsilon`` and ``lambda`` included), so one
compiled :meth:`AdversarialSampler.train` ``vmap``-s over seeds x eps x agent types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.typing import ArrayLike

from robustmas.envs.core import Environment
from robustmas.envs.grid_game import GridGame
from robustmas.rl.optim import ppo_optimizer, scale_by_learner, with_learner_scale
from robustmas.rl.ppo import PPO, PPOConfig, RunnerState, StepData

__all__ = [
    "AdversarialSampler",
    "AdversarialSamplingConfig",
    "RegretEstimate",
    "SamplerState",
    "Shaping",
    "cell_policies",
    "dual_step",
    "meta_step",
    "shaped_reward",
]


_META_STREAM = 0x6D657461
"""``fold_in`` datum of the meta step's deviations' PRNG stream (apart from the estimate's)."""

META_TARGETS = ("post_update", "snapshot_delta")
"""The meta step's two readings (spec Sec. 2.4, D16)."""


@dataclass(frozen=True)
class AdversarialSamplingConfig:
    """Hyperparameters of RP Alg. 1 / Alg. 3 and ERMAS (spec Sec. 2.2-2.5)."""

    ppo: PPOConfig
    """PPO of every learner (needs ``parameter_sharing=False`` and ``anneal_lr=False``: one
    parameter set per learner, no schedule, as the released code)."""
    rounds: int = 100
    """Rounds ``M_tr`` (each: regret estimate, main update, dual step, meta step)."""
    main_updates: int = 3
    """PPO updates of the main learners per round ``M_s`` (released code's
    ``inner_main_iterations``; RP Table 1 ``n_train``)."""
    deviation_updates: int = 2
    """PPO updates of each unilateral deviation ``K`` (``inner_me_iterations``; ``n_test``)."""
    eval_episodes: int = 10
    """Episodes of each Monte-Carlo return ``J_i`` and ``J'_i`` (``n_eval``)."""
    lambda_init: float = 8.0
    """Initial multipliers (RP Table 1 and the released code: 8)."""
    lambda_lr: float = 0.005
    """Dual step size ``alpha`` (released bimatrix code 0.005; RP Table 1 0.01 or 0.001)."""
    lambda_max: float = 100.0
    """Upper clip of the multipliers (released code: 100)."""
    dynamic_lambda: bool = True
    """Update the multipliers; ``False`` keeps ``lambda_init`` (RP Fig. 5's frozen ablation)."""
    lambda_warmup_rounds: int = 0
    """Rounds before the first dual step (ERMAS footnote 4, D18)."""
    train_principal: bool = False
    """Alg. 3 (``True``: the principal learns its own reward) or Alg. 1 (frozen principal)."""
    principal_lr_scale: float = 0.2
    """Principal's learning rate relative to the agents' (RP Table 1: 0.0006 / 0.003)."""
    meta_beta: float = 0.0
    """ERMAS meta-step weight ``beta`` (0: off, RP Alg. 3; the released ERMAS code 0.2)."""
    meta_cap: float = 2.0
    """Largest meta-step factor ``min(beta lambda_i, cap)`` (released code: 2)."""
    meta_target: str = "post_update"
    """What the meta step subtracts: ``post_update`` (``theta_i - e (theta'_i - theta_i)``
    with ``theta_i`` the post-update parameters, the released code's ``merge_weights``) or
    ``snapshot_delta`` (``theta_i - e (theta'_i - theta~_i)``, the cleaner Reptile reading of
    ER Eq. 13; spec Sec. 2.4)."""
    meta_deviation_updates: int | None = None
    """``None``: the meta step moves against the regret estimate's deviation (the released
    code, where both are the same ``K = 2`` updates at the main learning rate).  An integer:
    the meta step gets its own local deviation, this many updates of the main learners' PPO
    from the snapshot (:meth:`AdversarialSampler.meta_deviations`), while the regret estimate
    keeps :attr:`deviation_ppo` and :attr:`deviation_updates`.  A deviation strong enough to
    approach a best response makes ``theta' - theta~`` a long step, not the Reptile gradient
    estimate ER Eq. 13 needs (measured: docs/results/ermas-fig3)."""
    deviation_ppo: PPOConfig | None = None
    """PPO of the deviations (``None``: :attr:`ppo`, the released code's choice).  Its
    networks must equal :attr:`ppo`'s; a larger learning rate, more epochs or no entropy bonus
    bring ``K`` updates closer to a best response (a less local regret)."""
    reset_deviation_optimizer: bool = True
    """Each round's deviations start from a fresh optimizer state (D6); ``False`` continues
    from the main learners' Adam moments."""
    fresh_deviation: bool = False
    """Also train each deviation from a freshly initialised actor and keep, per agent, the one
    with the higher Monte-Carlo return (a deviation from the snapshot alone, D6, is local: PPO's
    clipped steps barely move a near-deterministic policy, so the regret of a saturated profile
    is missed; measured on the tragedy game, see :mod:`robustmas.experiments.grid_sampling`).
    Doubles the deviation cost; the max of two estimates is biased upwards by their noise.  The
    ERMAS meta step still moves against the deviation from the snapshot (a step towards a
    fresh actor would undo the main update)."""
    kl_radius: float | None = None
    """D15's trust-region radius: reject a deviation update that takes the agent's policy
    further than this from the snapshot policy (KL, mean over the snapshot's observations) and
    stop there; ``None``: no stop (the released code's implicit bound: ``K`` clipped updates).
    Excludes :attr:`fresh_deviation` (a fresh actor starts outside any such region)."""

    def __post_init__(self) -> None:
        for name in ("rounds", "main_updates", "deviation_updates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        if isinstance(self.eval_episodes, bool) or self.eval_episodes < 2:
            raise ValueError(f"eval_episodes: need >= 2 episodes, got {self.eval_episodes!r}")
        if self.lambda_warmup_rounds < 0:
            raise ValueError(f"lambda_warmup_rounds: must be >= 0, got {self.lambda_warmup_rounds}")
        if not 0.0 <= self.lambda_init <= self.lambda_max:
            raise ValueError(
                f"lambda_init: must lie in [0, lambda_max={self.lambda_max}], got "
                f"{self.lambda_init}"
            )
        for name in ("lambda_lr", "principal_lr_scale", "meta_beta", "meta_cap"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.meta_target not in META_TARGETS:
            raise ValueError(
                f"meta_target: expected one of {', '.join(META_TARGETS)}, got {self.meta_target!r}"
            )
        k = self.meta_deviation_updates
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"meta_deviation_updates: must be an integer >= 1 or None, got {k!r}")
        if self.kl_radius is not None:
            if not self.kl_radius > 0:
                raise ValueError(f"kl_radius: must be > 0 (or None), got {self.kl_radius}")
            if self.fresh_deviation:
                raise ValueError(
                    "kl_radius: excludes fresh_deviation (a fresh actor starts outside any trust "
                    "region of the snapshot); set one of them"
                )
        if self.ppo.parameter_sharing:
            raise ValueError(
                "ppo.parameter_sharing: must be False (one parameter set per learner; see the "
                "module docstring)"
            )
        if self.ppo.anneal_lr:
            raise ValueError("ppo.anneal_lr: must be False (rounds, not a step budget, end a run)")
        if self.ppo.recurrent != "none":
            raise ValueError("ppo.recurrent: only feed-forward learners are supported here")
        if self.deviation_ppo is not None:
            network = ("actor_hidden", "critic_hidden", "activation", "parameter_sharing",
                       "recurrent", "centralized_critic", "num_envs")  # fmt: skip
            differ = [f for f in network if getattr(self.ppo, f) != getattr(self.deviation_ppo, f)]
            if differ:
                raise ValueError(
                    f"deviation_ppo: {', '.join(differ)} must equal ppo's (the deviations "
                    "fine-tune the main learners' parameters and environments)"
                )
            if self.deviation_ppo.anneal_lr:
                raise ValueError("deviation_ppo.anneal_lr: must be False")

    @property
    def deviation_config(self) -> PPOConfig:
        """:attr:`deviation_ppo`, or :attr:`ppo` when it is ``None``."""
        return self.ppo if self.deviation_ppo is None else self.deviation_ppo


class Shaping(NamedTuple):
    """``reward_params`` of :func:`shaped_reward`."""

    lam: jax.Array
    """Multipliers ``lambda_i`` of the agents, shape ``(N,)``."""
    on: jax.Array
    """Boolean scalar: shape the agents' rewards (main update) or not (deviations)."""


def shaped_reward(step: StepData, shaping: Shaping) -> jax.Array:
    """Learning rewards ``(N + 1,)``: agents ``(lambda_i r_i - r_0) / (1 + lambda_i)``, then r_0.

    ``lambda = 0`` is a pure adversary of the principal (``-r_0``), ``lambda -> inf`` a selfish
    agent (``r_i``); with ``shaping.on`` false every player learns its own reward.
    """
    r = step.reward
    agents, r0 = r[:-1], r[-1]
    shaped = (shaping.lam * agents - r0) / (1.0 + shaping.lam)
    return jnp.concatenate([jnp.where(shaping.on, shaped, agents), r[-1:]])


def dual_step(
    lam: jax.Array, regret: jax.Array, epsilon: jax.Array, lr: float, lam_max: float
) -> jax.Array:
    """Projected ascent ``clip(lambda + lr (regret - eps), 0, lam_max)`` (spec Sec. 2.1, D4).

    A regret above ``eps`` raises ``lambda`` (a more self-interested agent, whose regret then
    falls); below ``eps`` it lowers it (a more adversarial agent).
    """
    return jnp.clip(lam + lr * (regret - epsilon), 0.0, lam_max)


def meta_step(
    actor: Any,
    deviations: Any,
    lam: jax.Array,
    beta: float,
    cap: float,
    snapshot: Any = None,
) -> Any:
    """ERMAS's first-order meta step on separate per-learner actors (spec Sec. 2.4, D16).

    Agent ``i``'s slice moves by ``-min(beta lambda_i, cap) (theta'_i - base_i)``, ``base``
    the current ``actor`` (the released code) or ``snapshot`` when given (the Reptile
    reading); the principal (the last slice) is unchanged.

    Args:
        actor: actor parameters, leaves ``(N + 1, ...)``.
        deviations: each agent's deviation actor, leaves ``(N, N + 1, ...)`` (deviation ``i``
            changed slice ``i`` only).
        lam: multipliers ``(N,)``.
        beta: meta weight.
        cap: largest factor.
        snapshot: the parameters the deviations started from (``None``: measure the deviation
            from ``actor``).
    """
    n = lam.shape[0]
    factor = jnp.minimum(beta * lam, cap)
    base = actor if snapshot is None else snapshot

    def leaf(theta: jax.Array, dev: jax.Array, start: jax.Array) -> jax.Array:
        own = dev[jnp.arange(n), jnp.arange(n)]  # (N, ...): deviation i's slice i
        shape = (n,) + (1,) * (theta.ndim - 1)
        moved = theta[:n] - factor.reshape(shape) * (own - start[:n])
        return theta.at[:n].set(moved)

    return jax.tree_util.tree_map(leaf, actor, deviations, base)


@struct.dataclass
class SamplerState:
    """Everything a run of :class:`AdversarialSampler` needs to continue (a pytree)."""

    runner: RunnerState
    """The main learners (agents and principal) as a PPO runner state."""
    lam: jax.Array
    """Multipliers ``(N,)``."""
    epsilon: jax.Array
    """Regret slack per agent ``(N,)``, per episode (return units)."""
    round: jax.Array
    """Rounds done (int32 scalar)."""


class RegretEstimate(NamedTuple):
    """One round's Monte-Carlo regret estimate (spec D6)."""

    regret: jax.Array
    """``J'_i - J_i`` per agent, ``(N,)``."""
    returns: jax.Array
    """``J``: every player's mean return under the snapshot, ``(N + 1,)``."""
    deviation_returns: jax.Array
    """``J'_i``: agent ``i``'s mean return when it alone plays its deviation, ``(N,)``."""
    regret_stderr: jax.Array
    """Standard error of :attr:`regret` over the paired episodes, ``(N,)``."""
    deviation_actor: Any
    """Each agent's deviation actor, leaves ``(N, N + 1, ...)``."""
    deviation_kl: jax.Array
    """Realised ``KL(snapshot || deviation)`` of each agent's policy, mean over the snapshot's
    current observations, ``(N,)`` (D15; bounded by ``kl_radius`` when it is set)."""


class AdversarialSampler:
    """RP Alg. 1 (RL) / Alg. 3 and ERMAS for an environment whose last player is the principal.

    Args:
        config: hyperparameters.
        env: a multi-agent environment (agents first, the principal last), e.g.
            :class:`~robustmas.envs.grid_game.GridGame`.
        env_params: its parameters (``env.default_params()`` if ``None``).

    ``train(key, epsilon)`` is pure: ``jax.jit(jax.vmap(sampler.train, in_axes=(0, None)))``
    trains many seeds at once, and ``vmap`` over ``epsilon`` sweeps the slack.
    """

    def __init__(
        self,
        config: AdversarialSamplingConfig,
        env: Environment[Any, Any],
        env_params: Any = None,
        *,
        exact_regret: Callable[[RunnerState], jax.Array] | None = None,
    ) -> None:
        self.config = config
        self.exact_regret = exact_regret
        """Optional exact regret ``runner -> (N,)`` used instead of the Monte-Carlo deviations
        (the spec's "exact-regret mode", e.g. the stage-game regret of a one-shot game); the
        meta step then has no deviation to move away from and is skipped, unless
        ``meta_deviation_updates`` gives it one."""

        def learner(ppo: PPOConfig) -> PPO:
            optimizer = ppo_optimizer(ppo, scale_by_learner())
            return PPO(ppo, env, env_params, reward_fn=shaped_reward, optimizer=optimizer)

        self.trainer = learner(config.ppo)
        """The main learners' PPO (shaped rewards, per-learner learning-rate factors)."""
        self.deviation_trainer = learner(config.deviation_config)
        """The deviations' PPO (same networks as :attr:`trainer`)."""
        self.num_players = self.trainer.num_agents
        if self.num_players < 2:
            raise ValueError(
                f"env.num_agents: need at least one agent and the principal, got {self.num_players}"
            )
        self.num_agents = self.num_players - 1
        """Agents ``N`` (the principal excluded)."""
        self.lr_scale = jnp.concatenate(
            [jnp.ones((self.num_agents,)), jnp.array([config.principal_lr_scale])]
        ).astype(jnp.float32)
        """Learning-rate factor per learner (agents 1, the principal ``principal_lr_scale``)."""

    # ------------------------------------------------------------------ state

    def _main_trainable(self) -> jax.Array:
        return jnp.arange(self.num_players) < (
            self.num_players if self.config.train_principal else self.num_agents
        )

    def init(
        self,
        key: jax.Array,
        epsilon: ArrayLike,
        params: Any = None,
        env_params: Any = None,
        lambda_init: ArrayLike | None = None,
    ) -> SamplerState:
        """Fresh learners (or ``params``), initial multipliers and the slack ``epsilon``.

        ``epsilon`` is a scalar (every agent) or ``(N,)``, per episode; it may be negative.
        ``lambda_init`` (scalar or ``(N,)``, data: a sweep over it is one ``vmap``) replaces
        ``config.lambda_init`` when given.
        """
        cfg = self.config
        lam0 = cfg.lambda_init if lambda_init is None else lambda_init
        lam = jnp.broadcast_to(jnp.asarray(lam0, jnp.float32), (self.num_agents,))
        runner = self.trainer.init(
            key,
            params,
            Shaping(lam, jnp.bool_(True)),
            env_params,
            self._main_trainable(),
        )
        runner = dataclasses.replace(
            runner, opt_state=with_learner_scale(runner.opt_state, self.lr_scale)
        )
        eps = jnp.broadcast_to(jnp.asarray(epsilon, jnp.float32), (self.num_agents,))
        return SamplerState(
            runner=runner,
            lam=lam,
            epsilon=eps,
            round=jnp.int32(0),
        )

    # ------------------------------------------------------------------ pieces

    def _updates(
        self, runner: RunnerState, n: int, trainer: PPO | None = None
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        trainer = self.trainer if trainer is None else trainer
        return jax.lax.scan(lambda r, _: trainer.update(r), runner, None, length=n)

    def _policy_kl(self, actor_p: Any, actor_q: Any, obs: jax.Array, i: jax.Array) -> jax.Array:
        """``KL(p_i || q_i)`` of agent ``i``'s policies, mean over ``obs`` ``(E, N + 1, ...)``."""

        def mine(actor: Any) -> Any:
            return jax.tree_util.tree_map(lambda x: x[i], actor)

        p = cast(Any, self.trainer.policy(mine(actor_p), obs[:, i]))
        q = cast(Any, self.trainer.policy(mine(actor_q), obs[:, i]))
        return p.kl_divergence(q).mean()

    def _deviate(
        self,
        runner: RunnerState,
        i: jax.Array,
        key: jax.Array,
        updates: int,
        trainer: PPO,
        start: RunnerState | None = None,
        reset_optimizer: bool = True,
        kl_radius: float | None = None,
    ) -> tuple[Any, jax.Array]:
        """Agent ``i`` alone, ``updates`` PPO updates of its own reward from ``start``.

        The others and the principal stay at ``runner``'s parameters.  Returns the deviation's
        actor (leaves ``(N + 1, ...)``, slice ``i`` changed) and its realised
        ``KL(snapshot || deviation)``; ``kl_radius`` rejects an update that would leave that
        trust region and stops there (D15).
        """
        start = runner if start is None else start
        fresh = trainer.networks.init_optimizer(trainer.optimizer, runner.params)
        alone = dataclasses.replace(
            start,
            trainable=jnp.arange(self.num_players) == i,
            reward_params=Shaping(runner.reward_params.lam, jnp.bool_(False)),
            key=jax.random.fold_in(key, i),
            opt_state=fresh if reset_optimizer else runner.opt_state,
        )
        snapshot = runner.params.actor
        if kl_radius is None:
            alone, _ = self._updates(alone, updates, trainer)
        else:
            radius = kl_radius

            def bounded(r: RunnerState, _: None) -> tuple[RunnerState, None]:
                new = trainer.update(r)[0]
                inside = self._policy_kl(snapshot, new.params.actor, runner.obs, i) <= radius
                kept = jax.tree_util.tree_map(lambda a, b: jnp.where(inside, b, a), r, new)
                return kept, None

            alone, _ = jax.lax.scan(bounded, alone, None, length=updates)
        return alone.params.actor, self._policy_kl(snapshot, alone.params.actor, runner.obs, i)

    def meta_deviations(self, runner: RunnerState, key: jax.Array) -> Any:
        """Each agent's local deviation for the meta step, leaves ``(N, N + 1, ...)``.

        ``config.meta_deviation_updates`` updates of agent ``i`` alone on its own reward, from
        the snapshot, with the main learners' PPO and a fresh optimizer: the released code's
        kind of deviation (``K = 2`` at the main learning rate), whose step is a Reptile
        estimate of the deviation's path gradient (spec Sec. 2.4).
        """
        k = self.config.meta_deviation_updates
        assert k is not None
        return jax.vmap(lambda i: self._deviate(runner, i, key, k, self.trainer)[0])(
            jnp.arange(self.num_agents)
        )

    def returns(self, actor: Any, key: jax.Array, env_params: Any) -> jax.Array:
        """Returns ``(eval_episodes, N + 1)`` of the sampled policies (common random numbers)."""
        return self.trainer.evaluate_returns(
            actor, key, env_params, episodes=self.config.eval_episodes, greedy=False
        )

    def estimate_regret(
        self, runner: RunnerState, key: jax.Array, deviation_updates: int | None = None
    ) -> RegretEstimate:
        """The Monte-Carlo regret of every agent at ``runner``'s parameters (spec D6, D8).

        Args:
            runner: the snapshot (its principal is the current one).
            key: PRNG key of the deviations' training streams and of the evaluation episodes.
            deviation_updates: ``K`` (``config.deviation_updates`` if ``None``; static).
        """
        cfg = self.config
        k = cfg.deviation_updates if deviation_updates is None else deviation_updates
        n = self.num_agents
        key_dev, key_eval = jax.random.split(key)
        dev_trainer = self.deviation_trainer

        def deviate(i: jax.Array, start: RunnerState = runner) -> tuple[Any, jax.Array]:
            return self._deviate(
                runner, i, key_dev, k, dev_trainer, start, cfg.reset_deviation_optimizer,
                cfg.kl_radius,
            )  # fmt: skip

        dev_actor, dev_kl = jax.vmap(deviate)(jnp.arange(n))
        base = self.returns(runner.params.actor, key_eval, runner.env_params)  # (E, N + 1)

        def deviation_return(i: jax.Array, actor: Any) -> jax.Array:
            return self.returns(actor, key_eval, runner.env_params)[:, i]

        dev = jax.vmap(deviation_return, out_axes=1)(jnp.arange(n), dev_actor)  # (E, N)
        if cfg.fresh_deviation:
            key_fresh = jax.random.fold_in(key_dev, self.num_players)
            new = dev_trainer.init(key_fresh, None, runner.reward_params, runner.env_params)
            new_actor = new.params.actor

            def deviate_fresh(i: jax.Array) -> tuple[Any, jax.Array]:
                actor = jax.tree_util.tree_map(
                    lambda mine, init: mine.at[i].set(init[i]), runner.params.actor, new_actor
                )
                start = dataclasses.replace(
                    runner, params=dataclasses.replace(runner.params, actor=actor)
                )
                return deviate(i, start)

            fresh_actor, fresh_kl = jax.vmap(deviate_fresh)(jnp.arange(n))
            fresh_dev = jax.vmap(deviation_return, out_axes=1)(jnp.arange(n), fresh_actor)
            better = fresh_dev.mean(axis=0) > dev.mean(axis=0)  # (N,)
            dev = jnp.where(better[None, :], fresh_dev, dev)
            dev_kl = jnp.where(better, fresh_kl, dev_kl)
        diff = dev - base[:, :n]
        episodes = diff.shape[0]
        return RegretEstimate(
            regret=diff.mean(axis=0),
            returns=base.mean(axis=0),
            deviation_returns=dev.mean(axis=0),
            regret_stderr=diff.std(axis=0, ddof=1) / jnp.sqrt(episodes),
            deviation_actor=dev_actor,
            deviation_kl=dev_kl,
        )

    def _exact_estimate(self, runner: RunnerState, key: jax.Array) -> RegretEstimate:
        assert self.exact_regret is not None
        n = self.num_agents
        returns = self.returns(runner.params.actor, jax.random.split(key)[1], runner.env_params)
        regret = self.exact_regret(runner)
        same = jax.tree_util.tree_map(
            lambda x: jnp.broadcast_to(x, (n, *x.shape)), runner.params.actor
        )
        return RegretEstimate(
            regret=regret,
            returns=returns.mean(axis=0),
            deviation_returns=returns.mean(axis=0)[:n] + regret,
            regret_stderr=jnp.zeros((n,)),
            deviation_actor=same,
            deviation_kl=jnp.zeros((n,)),
        )

    def round(self, state: SamplerState) -> tuple[SamplerState, dict[str, jax.Array]]:
        """One round: regret estimate, main update, dual step, meta step (module docstring)."""
        cfg = self.config
        snap = dataclasses.replace(state.runner, reward_params=Shaping(state.lam, jnp.bool_(True)))
        key = jax.random.fold_in(snap.eval_key, state.round)
        if self.exact_regret is None:
            estimate = self.estimate_regret(snap, key)
        else:
            estimate = self._exact_estimate(snap, key)
        runner, metrics = self._updates(snap, cfg.main_updates)
        dual = cfg.dynamic_lambda & (state.round >= cfg.lambda_warmup_rounds)
        lam = jnp.where(
            dual,
            dual_step(state.lam, estimate.regret, state.epsilon, cfg.lambda_lr, cfg.lambda_max),
            state.lam,
        )
        # The exact-regret mode has no deviation to move away from unless the meta step has its
        # own; its placeholder (the snapshot) would otherwise stretch the main step by 1 + e.
        has_deviation = self.exact_regret is None or cfg.meta_deviation_updates is not None
        if cfg.meta_beta > 0 and has_deviation:
            if cfg.meta_deviation_updates is None:
                deviations = estimate.deviation_actor
            else:
                deviations = self.meta_deviations(snap, jax.random.fold_in(key, _META_STREAM))
            snapshot = snap.params.actor if cfg.meta_target == "snapshot_delta" else None
            actor = meta_step(
                runner.params.actor, deviations, lam, cfg.meta_beta, cfg.meta_cap, snapshot
            )
            runner = dataclasses.replace(
                runner, params=dataclasses.replace(runner.params, actor=actor)
            )
        out = {
            "round": state.round + 1,
            "lambda": lam,
            "regret": estimate.regret,
            "regret_stderr": estimate.regret_stderr,
            "returns": estimate.returns,
            "principal_return": estimate.returns[-1],
            "deviation_returns": estimate.deviation_returns,
            "deviation_kl": estimate.deviation_kl,
            "train_episode_return": metrics["agent_episode_return"].mean(axis=0),
        }
        state = SamplerState(runner=runner, lam=lam, epsilon=state.epsilon, round=state.round + 1)
        return state, out

    def run_rounds(self, state: SamplerState, n: int) -> tuple[SamplerState, dict[str, jax.Array]]:
        """``n`` rounds (static) in one ``lax.scan``; metrics with a leading round axis."""
        return jax.lax.scan(lambda s, _: self.round(s), state, None, length=n)

    def train(
        self, key: jax.Array, epsilon: ArrayLike, params: Any = None, env_params: Any = None
    ) -> tuple[SamplerState, dict[str, jax.Array]]:
        """:meth:`init` then ``config.rounds`` rounds; pure, ``jit`` / ``vmap`` it."""
        state = self.init(key, epsilon, params, env_params)
        return self.run_rounds(state, self.config.rounds)


def cell_policies(sampler: AdversarialSampler, actor: Any, horizon: int) -> np.ndarray:
    """The agents' policies on every cell of a grid game, ``(N, T, cells, A)`` float64.

    For :mod:`robustmas.equilibria.markov_exact`: the env must be a
    :class:`~robustmas.envs.grid_game.GridGame` with one-hot cell observations (``obs="cell"``,
    no time), so each agent's policy is stationary and read off its actor cell by cell.

    Args:
        sampler: the sampler whose networks ``actor`` belongs to.
        actor: actor parameters with the player axis (one run, not a batch).
        horizon: ``T``, the number of copies along the time axis.
    """
    env = cast(GridGame, sampler.trainer.env)
    if env.obs != "cell" or env.observe_time:
        raise ValueError("cell_policies: needs obs='cell' without observe_time")
    cells = jnp.eye(env.num_cells)
    rows = []
    for i in range(sampler.num_agents):
        mine = jax.tree_util.tree_map(lambda x, i=i: x[i], actor)
        logits = cast(Any, sampler.trainer.policy(mine, cells)).logits
        probs = np.asarray(jax.nn.softmax(logits, axis=-1), np.float64)
        probs /= probs.sum(axis=-1, keepdims=True)
        rows.append(np.broadcast_to(probs, (horizon, *probs.shape)))
    return np.stack(rows)

"""A robust principal strategy for a one-shot normal-form game, learned by RP Alg. 3 or ERMAS.

Reference: Zhao, Trott, Xiong, Zheng, "Learning to Play General-Sum Games Against Multiple
Boundedly Rational Agents", AAAI 2023, arXiv:2106.05492 (RP), Sec. 3-6 (the max-min problem of
Eq. 1 and Algorithm 3), and ERMAS (anonymous ICLR 2021 submission, Sec. 2-3).

The game (a :class:`~robustmas.games.normal_form.PrincipalGame`: the principal's action
``a_0`` first, then ``N`` followers) is played once per episode
(:class:`~robustmas.envs.repeated_matrix.RepeatedMatrixGame` with horizon 1, the principal
moved to the **last** player index as in :mod:`robustmas.robust.adversarial_sampling`).
Players with fewer actions than the largest get copies of their last action, which changes
neither the followers' eps-CCE values nor the principal's attainable payoffs; the principal's
learned probabilities on copies are folded back.  The learners' policies are linear on a
constant observation, i.e. one softmax per player -- a mixed strategy.

:func:`train_robust_principal` trains ``seeds`` principals side by side with
:class:`~robustmas.robust.adversarial_sampling.AdversarialSampler` and scores each learned
mixed strategy **exactly**: the worst-case eps-CCE value of the followers' game it induces (the
LP of RP Eq. 7, :func:`~robustmas.equilibria.lp.worst_case_cce`), next to the LP's best pure
robust action (:func:`~robustmas.equilibria.lp.robust_principal_action`).  The result reports the
best seed by that exact value (all seeds are kept).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, cast

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.envs.repeated_matrix import RepeatedMatrixGame
from robustmas.equilibria.lp import robust_principal_action, worst_case_cce
from robustmas.games.normal_form import NormalFormGame, PrincipalGame
from robustmas.rl.ppo import PPOConfig
from robustmas.robust.adversarial_sampling import AdversarialSampler, AdversarialSamplingConfig

__all__ = [
    "ONE_SHOT_PPO",
    "RobustPrincipalResult",
    "one_shot_config",
    "one_shot_env",
    "train_robust_principal",
]

Method = Literal["alg3", "ermas"]

ONE_SHOT_PPO = PPOConfig(
    lr=0.05,
    num_envs=64,
    num_steps=1,
    update_epochs=1,
    num_minibatches=1,
    gamma=0.0,
    gae_lambda=0.0,
    ent_coef=0.01,
    clip_eps=0.3,
    max_grad_norm=10.0,
    actor_hidden=(),
    critic_hidden=(),
    parameter_sharing=False,
    anneal_lr=False,
)
"""PPO of every player in the one-shot game: a softmax per player (linear on a constant input),
64 plays per update, a one-step return (no discounting across episodes), a small entropy
bonus that keeps the followers able to switch when the principal moves."""


def one_shot_config(
    epsilon_scale: float, method: Method = "alg3", rounds: int = 300
) -> AdversarialSamplingConfig:
    """Defaults for a one-shot game whose payoffs span ``epsilon_scale``.

    The dual step size is ``5 / epsilon_scale`` (multipliers move by up to 5 when the regret
    misses eps by the payoff range), the principal learns at 0.2 of the agents' rate (RP Table
    1), and ERMAS adds the meta step with ``beta = 0.2`` (the released code's ``metascale``).
    Measured on Samuelson's game at eps = 2 (4 seeds, 300 rounds): worst-case values
    98.79-98.82 against the best pure 99; a step of ``0.5 / scale`` left the multipliers near
    their start and the principal cycling between T and B (values 51-92).
    """
    if not np.isfinite(epsilon_scale) or epsilon_scale <= 0:
        raise ValueError(f"epsilon_scale: must be a positive payoff range, got {epsilon_scale}")
    return AdversarialSamplingConfig(
        ppo=ONE_SHOT_PPO,
        rounds=rounds,
        main_updates=2,
        deviation_updates=5,
        eval_episodes=64,
        lambda_init=8.0,
        lambda_lr=5.0 / epsilon_scale,
        train_principal=True,
        principal_lr_scale=0.2,
        meta_beta=0.2 if method == "ermas" else 0.0,
    )


def one_shot_env(game: PrincipalGame) -> RepeatedMatrixGame:
    """The game as a horizon-1 environment: followers ``0..N-1``, the principal last.

    Every player gets ``max(m_k)`` actions; the extra ones copy the player's last action.
    """
    sizes = (game.num_principal_actions, *game.num_actions)
    m = max(sizes)
    pick = [np.minimum(np.arange(m), size - 1) for size in sizes]  # copies of the last action
    index = np.ix_(*pick)
    tables = np.concatenate(
        [game.payoffs[(slice(None), *index)], game.principal_payoff[index][None]]
    )  # (N + 1, m_0, m_1, ..., m_N): followers then the principal, axes principal-first
    n = game.num_players
    order = (0, *range(2, n + 2), 1)  # move the principal's action axis last
    payoffs = np.transpose(tables, order)
    return RepeatedMatrixGame(NormalFormGame(payoffs), episode_length=1)


@dataclass(frozen=True)
class RobustPrincipalResult:
    """A learned robust principal strategy with its exact worst-case value."""

    principal_strategy: np.ndarray
    """The best seed's mixed strategy, a probability per principal action ``(m_0,)``."""
    worst_case_value: float
    """Its exact worst-case eps-CCE value (the LP on the game it induces)."""
    best_pure_value: float
    """The LP's best worst-case value over pure principal actions (NaN when none has an
    eps-CCE)."""
    best_pure_action: int | None
    """That pure action."""
    per_seed_strategies: np.ndarray
    """Every seed's learned strategy ``(S, m_0)``."""
    per_seed_values: np.ndarray
    """Every seed's exact worst-case value ``(S,)`` (NaN where no eps-CCE exists)."""
    final_lambda: np.ndarray
    """The followers' multipliers after training ``(S, N)``."""
    epsilon: float
    """The slack the strategies were trained and scored at."""
    method: str
    """``alg3`` or ``ermas``."""
    regret: str = "exact"
    """``exact`` or ``sampled``: how the followers' regret was measured in training."""

    def to_json(self) -> dict[str, Any]:
        """The command line's ``--json`` fields."""
        return {
            "principal_strategy": self.principal_strategy.tolist(),
            "worst_case_value": self.worst_case_value,
            "best_pure_value": self.best_pure_value,
            "best_pure_action": self.best_pure_action,
            "per_seed_strategies": self.per_seed_strategies.tolist(),
            "per_seed_values": [None if np.isnan(v) else float(v) for v in self.per_seed_values],
            "final_lambda": self.final_lambda.tolist(),
            "epsilon": self.epsilon,
            "method": self.method,
            "regret": self.regret,
        }


def _exact_value(game: PrincipalGame, strategy: np.ndarray, epsilon: float) -> float:
    result = worst_case_cce(game.induced(strategy), epsilon)
    return float(result.value) if result.ok else float("nan")


def train_robust_principal(
    game: PrincipalGame,
    epsilon: float,
    *,
    method: Method = "alg3",
    seeds: int = 4,
    seed: int = 0,
    config: AdversarialSamplingConfig | None = None,
    regret: Literal["exact", "sampled"] = "exact",
    starts: Literal["spread", "random"] = "spread",
    checks: int = 6,
) -> RobustPrincipalResult:
    """Learn the principal's mixed strategy by Alg. 3 (or ERMAS) and score it exactly.

    Args:
        game: the principal game (principal first, ``N >= 1`` followers).
        epsilon: the followers' regret slack (payoff units of the one-shot game; may be
            negative, then the LP may have no eps-CCE).
        method: ``alg3`` or ``ermas`` (Alg. 3 plus the meta step).
        seeds: principals trained side by side (one vmapped program).
        seed: master seed.
        config: the sampler's configuration (:func:`one_shot_config` of the payoff range and
            ``method`` if ``None``); ``train_principal`` must be on.
        regret: ``exact`` (default: each follower's stage-game regret of the current mixed
            profile, the spec's exact-regret mode; no deviations, so ERMAS's meta step does
            nothing) or ``sampled`` (the papers' Monte-Carlo regret by unilateral deviation).
            Measured at eps = 0.1 on ``random-v0:players=3,actions=3,principal=false`` seeds
            0-9 with the principal as player 3 (4 training seeds each): exact reaches the best
            pure robust value within 2% of the payoff range on all 10 games (8 of 10 with
            ``starts="random", checks=1``, the final iterate of random starts), and exceeds it
            on 4 (mixed strategies); sampled reached it on 1 of the 3 tried (final iterates of
            random starts): the local Monte-Carlo regret under-estimates the regret, the
            multipliers fall to 0 and the followers act as pure adversaries.
        starts: ``spread`` (default): seed ``s``'s principal starts tilted towards its pure
            action ``s mod m_0`` (logit +3), so the seeds start near every pure action and
            the best by the exact value is reported; ``random``: every seed starts from the
            networks' random initialisation.  Alg. 3's simultaneous dynamics have local optima:
            the followers' (eps-constrained adversarial) play against the current action makes
            every other action look worse to the principal's gradient.  Measured with
            ``random`` starts on the 10 games above: all 4 or 16 seeds of games 4 and 9 end on
            the same action, worth 0.166 and 0.179 against the best pure 0.255 and 0.254.
        checks: the principal's strategy is scored exactly (the LP) after every
            ``1 / checks`` of the rounds and each seed keeps its best iterate: the dynamics
            pass through strategies better than where they end (a one-off measurement on
            game 4, not in the suite: with the principal at 0.05 of the agents' learning rate,
            0.469 after 300 rounds and 0.177 after 1,000).  ``1``: the final iterate only; the
            test shows game 4 then falls short.

    Raises:
        ValueError: an unknown method, ``seeds < 1``, a non-finite ``epsilon`` or a config that
            does not train the principal.
    """
    if method not in ("alg3", "ermas"):
        raise ValueError(f"method: expected 'alg3' or 'ermas', got {method!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds: must be an integer >= 1, got {seeds!r}")
    if not np.isfinite(epsilon):
        raise ValueError(f"epsilon: must be finite, got {epsilon}")
    payoffs = np.concatenate([game.payoffs.ravel(), game.principal_payoff.ravel()])
    spread = float(payoffs.max() - payoffs.min()) or 1.0
    if config is None:
        config = one_shot_config(spread, method)
    if not config.train_principal:
        raise ValueError("config.train_principal: must be True (the principal is what is learned)")
    env = one_shot_env(game)
    obs = jnp.zeros((1, env.players * env.actions), jnp.float32)
    exact_fn: Any = None
    if regret == "exact":
        tables = jnp.asarray(env.game.payoffs, jnp.float32)

        def exact(runner: Any) -> jax.Array:
            probs = jax.vmap(lambda k: strategy_of(runner.params.actor, k))(jnp.arange(env.players))
            out = []
            for i in range(env.players - 1):
                t = tables[i]
                for k in reversed(range(env.players)):
                    if k != i:
                        t = jnp.tensordot(t, probs[k], axes=([k], [0]))
                out.append(t.max() - t @ probs[i])
            return jnp.stack(out)

        exact_fn = exact

    elif regret != "sampled":
        raise ValueError(f"regret: expected 'exact' or 'sampled', got {regret!r}")
    sampler = AdversarialSampler(config, env, exact_regret=exact_fn)

    def strategy_of(actor: Any, k: Any) -> jax.Array:
        mine = jax.tree_util.tree_map(lambda x: x[k], actor)
        return jax.nn.softmax(cast(Any, sampler.trainer.policy(mine, obs)).logits[0])

    if starts not in ("spread", "random"):
        raise ValueError(f"starts: expected 'spread' or 'random', got {starts!r}")
    principal = sampler.num_agents
    m0 = game.num_principal_actions
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    params = jax.vmap(lambda k: sampler.trainer.init(k).params)(keys)
    if starts == "spread":
        tilt = 3.0 * jax.nn.one_hot(jnp.arange(seeds) % m0, env.actions)  # (seeds, actions)
        head = params.actor["params"]["head"]
        bias = head["bias"].at[:, principal].add(tilt)
        actor = {"params": {**params.actor["params"], "head": {**head, "bias": bias}}}
        params = dataclasses.replace(params, actor=actor)
    if isinstance(checks, bool) or not isinstance(checks, int) or checks < 1:
        raise ValueError(f"checks: must be an integer >= 1, got {checks!r}")
    eps = jnp.full((seeds,), epsilon, jnp.float32)
    state = jax.jit(jax.vmap(sampler.init))(keys, eps, params)
    strategies_of = jax.jit(jax.vmap(lambda a: strategy_of(a, principal)))

    def scored(state: Any) -> tuple[np.ndarray, np.ndarray]:
        padded = np.asarray(strategies_of(state.runner.params.actor), np.float64)
        found = padded[:, :m0].copy()
        found[:, -1] += padded[:, m0:].sum(axis=1)  # fold the copies back onto the last action
        found /= found.sum(axis=1, keepdims=True)
        return found, np.array([_exact_value(game, f, epsilon) for f in found])

    # The best iterate per seed by its exact value, scored after every share of the rounds.
    strategies = np.full((seeds, m0), np.nan)
    values = np.full((seeds,), -np.inf)
    done, programs = 0, {}
    for c in range(checks):
        n = config.rounds * (c + 1) // checks - done
        if n:
            if n not in programs:
                programs[n] = jax.jit(jax.vmap(lambda st, n=n: sampler.run_rounds(st, n)))
            state, _ = programs[n](state)
            done += n
        found, now = scored(state)
        better = np.nan_to_num(now, nan=-np.inf) > values
        strategies[better], values[better] = found[better], now[better]
    values[~np.isfinite(values)] = np.nan
    best = int(np.nanargmax(values)) if np.any(np.isfinite(values)) else 0
    pure = robust_principal_action(game, epsilon)
    return RobustPrincipalResult(
        principal_strategy=strategies[best],
        worst_case_value=float(values[best]),
        best_pure_value=pure.value,
        best_pure_action=pure.action,
        per_seed_strategies=strategies,
        per_seed_values=values,
        final_lambda=np.asarray(state.lam, np.float64),
        epsilon=float(epsilon),
        method=method,
        regret=regret,
    )

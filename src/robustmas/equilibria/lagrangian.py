"""Algorithm 1 of the robust-principal paper: decoupled Lagrangian sampling of pessimistic eps-CCE.

Reference (the robust-principal paper, cited in full below): Sec. 5,
Eq. 5 (the Lagrangian dual ``L(eps) = min_x max_lambda u_0(x) - sum_i lambda_i (Reg_i(x) - eps_i)``)
and Algorithm 1.

Each outer step ``j``:

1. the regret of the current play ``x_j`` is measured exactly (``R_i`` = CCE regret);
2. the multipliers take a projected dual *ascent* step
   ``lambda_i <- max(0, lambda_i + alpha (Reg_i(x_j) - eps_i))``;
3. ``M_s`` rounds of Hedge self-play (the black box ``B``) run on the reshaped utilities
   ``u_i' = (lambda_i u_i - u_0) / (1 + lambda_i)`` and their empirical play becomes ``x_{j+1}``
   (payoffs measured in each player's own range; see the comment in ``_run``).

**Sign of the multiplier step.**  The paper prints ``lambda_i <- lambda_i - alpha (r_i - eps)``.
With rewards ``(lambda_i u_i - u_0) / (1 + lambda_i)`` a larger ``lambda_i`` makes agent ``i``
more self-interested (the paper says so in Appendix B), so an agent whose regret exceeds its
budget must get a *larger* multiplier: that is projected dual ascent on the constraint
``Reg_i <= eps_i``.  We follow the meaning, not the printed sign; the tests check that regrets
settle at ``eps`` when the constraint binds.

The whole loop is one ``jax.lax.scan``, so an eps sweep is one ``jax.vmap`` call
(:func:`extreme_cce_sweep`).

:func:`extreme_cce` returns the :class:`~robustmas.equilibria.result.CCEResult` every extreme-CCE
solver returns, with :class:`LagrangianDetails` (multipliers, trace, the paper's estimate).

References:
* Zhao, Trott, Xiong, Zheng, *Learning to Play General-Sum Games Against Multiple Boundedly
  Rational Agents*, AAAI 2023, arXiv:2106.05492 (the robust-principal paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.equilibria.no_regret import cce_regrets_jax, hedge
from robustmas.equilibria.regret import broadcast_epsilon, cce_regrets
from robustmas.equilibria.result import CCEResult, CCEStatus
from robustmas.games.normal_form import NormalFormGame

__all__ = [
    "LagrangianConfig",
    "LagrangianDetails",
    "LagrangianTrace",
    "extreme_cce",
    "extreme_cce_sweep",
]


@dataclass(frozen=True)
class LagrangianConfig:
    """Settings of Algorithm 1 (payoffs are divided by the game's payoff bound first)."""

    outer_iterations: int = 400
    """``M_tr``: multiplier updates."""
    self_play_rounds: int = 200
    """``M_s``: Hedge rounds of self-play per multiplier update."""
    multiplier_lr: float = 0.3
    """``alpha_lambda``, applied to regret divided by the agent's own payoff range."""
    initial_multiplier: float = 1.0
    """Initial ``lambda_i`` for every agent."""
    step_size: float = 4.0
    """Hedge update ``w <- w (1 + step_size)^u`` on scaled payoffs."""
    warm_start: bool = False
    """Continue the self-play learners across outer steps (as RL self-play would)."""
    average_last: float = 0.5
    """The returned distribution averages the iterates ``x_j`` of this final fraction of steps."""

    def __post_init__(self) -> None:
        for name in ("outer_iterations", "self_play_rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("multiplier_lr", "step_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.initial_multiplier < 0:
            raise ValueError(f"initial_multiplier: must be >= 0, got {self.initial_multiplier}")
        if not 0 < self.average_last <= 1:
            raise ValueError(f"average_last: must lie in (0, 1], got {self.average_last}")


class LagrangianTrace(NamedTuple):
    """Per-outer-step history (scaled back to game units)."""

    values: jax.Array
    """Principal payoff ``u_0(x_j)``, shape ``(M_tr,)``."""
    regrets: jax.Array
    """Regrets ``Reg_i(x_j)``, shape ``(M_tr, N)``."""
    multipliers: jax.Array
    """``lambda`` after each update, shape ``(M_tr, N)``."""


def _run(
    payoffs: jax.Array,
    objective: jax.Array,
    eps: jax.Array,
    sign: float,
    cfg: LagrangianConfig,
) -> tuple[jax.Array, LagrangianTrace]:
    """Scaled, traceable Algorithm 1. Returns the averaged joint and the trace."""
    n = payoffs.shape[0]
    shape = payoffs.shape[1:]
    keep = max(1, round(cfg.average_last * cfg.outer_iterations))
    start = cfg.outer_iterations - keep
    bcast = (n,) + (1,) * len(shape)
    # Units.  Each agent's payoff and the principal's are measured in their own ranges before
    # reshaping, u_i' = (lambda_i u_i / r_i - u_0 / r_0) / (1 + lambda_i).  This is only a change of
    # the multiplier's units (lambda_i here = lambda_i^paper * r_i / r_0 up to the positive factor
    # (1 + lambda)), so the family of reshaped games is the paper's; but one step size now suits
    # agents whose stakes differ by orders of magnitude from the principal's (Samuelson: 1 vs 50).
    flat = payoffs.reshape(n, -1)
    ranges = jnp.maximum(flat.max(axis=1) - flat.min(axis=1), 1e-12)
    obj_range = jnp.maximum(objective.max() - objective.min(), 1e-12)
    own_n = payoffs / ranges.reshape(bcast)
    obj_n = objective / obj_range

    def step(carry, j):
        x, lam, logits, acc = carry
        reg = cce_regrets_jax(payoffs, x)
        lam = jnp.maximum(0.0, lam + cfg.multiplier_lr * (reg - eps) / ranges)
        lam_b = lam.reshape(bcast)
        reshaped = (lam_b * own_n - sign * obj_n[None]) / (1.0 + lam_b)
        init = logits if cfg.warm_start else None
        res = hedge(reshaped, cfg.self_play_rounds, cfg.step_size, init_logits=init)
        new_x = res.joint
        acc = acc + jnp.where(j >= start, 1.0, 0.0) * new_x
        out = (jnp.sum(objective * new_x), cce_regrets_jax(payoffs, new_x), lam)
        return (new_x, lam, res.logits, acc), out

    x0 = jnp.full(shape, 1.0 / np.prod(shape), payoffs.dtype)
    lam0 = jnp.full((n,), cfg.initial_multiplier, payoffs.dtype)
    logits0 = tuple(jnp.zeros((m,), payoffs.dtype) for m in shape)
    carry, (values, regrets, lams) = jax.lax.scan(
        step, (x0, lam0, logits0, jnp.zeros(shape, payoffs.dtype)), jnp.arange(cfg.outer_iterations)
    )
    joint = carry[3] / keep
    return joint, LagrangianTrace(values, regrets, lams)


def _scaled(game: NormalFormGame) -> tuple[float, jax.Array, jax.Array]:
    scale = game.payoff_bound()
    return scale, jnp.asarray(game.payoffs / scale), jnp.asarray(game.objective() / scale)


def _sign(sense: str) -> float:
    if sense not in ("worst", "best"):
        raise ValueError(f"sense: expected 'worst' or 'best', got {sense!r}")
    return 1.0 if sense == "worst" else -1.0


@dataclass(frozen=True)
class LagrangianDetails:
    """What Algorithm 1 adds to its :class:`~robustmas.equilibria.result.CCEResult`."""

    paper_estimate: float
    """Algorithm 1's printed output: the mean of ``u_0(x_j)`` over all outer steps."""
    multipliers: np.ndarray
    """Final ``lambda``, shape ``(N,)``."""
    trace: LagrangianTrace
    """Per-step history in game units."""


def _result(
    game: NormalFormGame,
    joint: jax.Array,
    trace: LagrangianTrace,
    eps: np.ndarray,
    sense: str,
    scale: float,
) -> CCEResult[LagrangianDetails]:
    x = np.clip(np.asarray(joint, dtype=np.float64), 0.0, None)
    x /= x.sum()
    value = float(np.sum(game.objective() * x))
    trace = LagrangianTrace(trace.values * scale, trace.regrets * scale, trace.multipliers)
    estimate = float(np.mean(np.asarray(trace.values)))
    details = LagrangianDetails(estimate, np.asarray(trace.multipliers[-1]), trace)
    message = f"{len(trace.values)} multiplier updates; Algorithm 1's estimate {estimate:.6g}"
    regrets = cce_regrets(game, x)
    return CCEResult(
        CCEStatus.OPTIMAL, value, x, regrets, eps, sense, "lagrangian", message, details
    )


def extreme_cce(
    game: NormalFormGame,
    epsilon: float | Sequence[float] | np.ndarray,
    sense: Literal["worst", "best"] = "worst",
    config: LagrangianConfig | None = None,
) -> CCEResult[LagrangianDetails]:
    """Sample a pessimistic (``"worst"``) or optimistic (``"best"``) eps-CCE with Algorithm 1.

    Robust-principal paper, Algorithm 1 (Lagrangian of Eq. 5), with projected dual *ascent* on
    the multipliers (see the module docstring).

    Args:
        game: followers' game with a principal payoff (or welfare as objective).
        epsilon: regret budget, scalar or one per agent.
        sense: ``"worst"`` uses ``(lambda u_i - u_0)/(1+lambda)``; ``"best"`` uses ``+u_0``.
        config: :class:`LagrangianConfig`.

    Returns:
        :class:`~robustmas.equilibria.result.CCEResult` with ``method="lagrangian"`` and
        :class:`LagrangianDetails`.  The status is always ``"optimal"`` (a distribution is always
        returned); its regrets are exact but only *settle near* ``epsilon``: the dual method does
        not certify ``Reg_i <= eps_i`` the way the LP does.
    """
    cfg = config or LagrangianConfig()
    sign = _sign(sense)
    eps = broadcast_epsilon(epsilon, game.num_players)
    scale, payoffs, objective = _scaled(game)
    joint, trace = _run_jit(payoffs, objective, jnp.asarray(eps / scale, payoffs.dtype), sign, cfg)
    return _result(game, joint, trace, eps, sense, scale)


_run_jit = jax.jit(_run, static_argnames=("sign", "cfg"))


@jax.jit(static_argnames=("sign", "cfg"))
def _sweep(payoffs, objective, eps_batch, sign, cfg):
    return jax.vmap(lambda e: _run(payoffs, objective, e, sign, cfg))(eps_batch)


def extreme_cce_sweep(
    game: NormalFormGame,
    epsilons: Sequence[float] | np.ndarray,
    sense: Literal["worst", "best"] = "worst",
    config: LagrangianConfig | None = None,
) -> list[CCEResult[LagrangianDetails]]:
    """Run Algorithm 1 for many (scalar) eps values in one ``vmap``-ed, jitted call.

    Args:
        game: followers' game with a principal payoff (or welfare as objective).
        epsilons: the eps values, one run each.
        sense: ``"worst"`` or ``"best"``.
        config: :class:`LagrangianConfig`.

    Returns:
        One :func:`extreme_cce` result per eps, in order.
    """
    cfg = config or LagrangianConfig()
    sign = _sign(sense)
    eps_list = [broadcast_epsilon(e, game.num_players) for e in epsilons]
    if not eps_list:
        raise ValueError("epsilons: give at least one value")
    scale, payoffs, objective = _scaled(game)
    batch = jnp.asarray(np.stack(eps_list) / scale, payoffs.dtype)
    joints, traces = _sweep(payoffs, objective, batch, sign, cfg)
    return [
        _result(
            game,
            joints[k],
            jax.tree_util.tree_map(lambda a, k=k: a[k], traces),
            eps_list[k],
            sense,
            scale,
        )
        for k in range(len(eps_list))
    ]

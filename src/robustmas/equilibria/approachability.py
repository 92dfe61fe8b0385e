"""Algorithm 2 of the robust-principal paper: Blackwell approachability for extreme eps-CCE.

Reference (the robust-principal paper, cited in full below):
Lemma 1 / Lemma 2 / Theorem 1 (Sec. 4 and Appendix A) and Algorithm 2 (Appendix D).

For a target ``y`` the vector payoff of a joint distribution ``x`` is (Eq. 3)::

    v(x) = ( u_i(j, x_{-i}) - u_i(x)  for every agent i and action j,   y - nu(x) )

with ``nu = -u_0`` for the worst case (``+u_0`` for the best case).  Blackwell's strategy
approaches ``S_eps = {v : v_{ij} <= eps_i, v_last <= 0}``: at step ``t`` it takes the normalised
positive part ``beta`` of ``mean(v) - (eps, 0)`` and asks a *halfspace oracle* for ``x_t`` with
``beta . (v(x_t) - (eps, 0)) <= tolerance``.  The oracle (Lemma 2) runs deterministic Hedge
self-play where agent ``i`` maximises ``||beta_i||_1 u_i + beta_last nu / N`` and returns the
empirical play (a mixture of product distributions).  If the oracle misses the halfspace, ``y`` is
declared too large; a bisection over ``y`` keeps the largest ``y`` that is approached.

Everything the algorithm touches is computed through ``deviation_payoffs`` of *product*
distributions, so it runs on succinct games (:class:`~robustmas.games.LinearCongestionGame`)
without enumerating joint actions.  Guarantee (Theorem 1, Corollary 1): in linear congestion
games the result has ``nu(x) >= 0.4 max_{eps-CCE} nu - tolerance``.

:func:`extreme_cce` returns the :class:`~robustmas.equilibria.result.CCEResult` every extreme-CCE
solver returns, with :class:`ApproachabilityDetails` (the product mixture, the target ``y``, the
oracle calls).

References:
* Zhao, Trott, Xiong, Zheng, *Learning to Play General-Sum Games Against Multiple Boundedly
  Rational Agents*, AAAI 2023, arXiv:2106.05492 (the robust-principal paper).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from robustmas.equilibria.regret import broadcast_epsilon
from robustmas.equilibria.result import CCEResult, CCEStatus

__all__ = [
    "DENSE_LIMIT",
    "ApproachabilityConfig",
    "ApproachabilityDetails",
    "ProductMixture",
    "ProductOracle",
    "extreme_cce",
    "mixture_values",
]

DENSE_LIMIT = 1 << 22
"""Largest number of joint actions for which :func:`extreme_cce` also returns the dense joint
distribution (32 MiB of float64); beyond it only the product mixture is returned."""


class ProductOracle(Protocol):
    """A game whose expected payoffs under product distributions can be queried."""

    @property
    def num_players(self) -> int: ...  # noqa: D102

    @property
    def num_actions(self) -> tuple[int, ...]: ...  # noqa: D102

    def payoff_bound(self) -> float: ...  # noqa: D102

    def deviation_payoffs(  # noqa: D102
        self, factors: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]: ...


@dataclass(frozen=True)
class ProductMixture:
    """A joint distribution given as a weighted mixture of product distributions."""

    weights: np.ndarray
    """Mixture weights, shape ``(K,)``, summing to one."""
    factors: tuple[np.ndarray, ...]
    """Per player, the component strategies, shape ``(K, m_i)``."""

    def dense(self) -> np.ndarray:
        """The joint tensor ``sum_k w_k x_1^k (x) ... (x) x_N^k``, shape ``(m_1, ..., m_N)``."""
        letters = "abcdefghijklmnopqrstuvwxyz"
        n = len(self.factors)
        if n > len(letters) - 1:
            raise ValueError("dense: too many players for a dense joint tensor")
        spec = "z," + ",".join(f"z{letters[i]}" for i in range(n)) + "->" + letters[:n]
        return np.einsum(spec, self.weights, *self.factors)


@dataclass(frozen=True)
class MixtureValues:
    """Exact payoffs of a :class:`ProductMixture`."""

    deviation: list[np.ndarray]
    """``u_i(j, x_{-i})`` per agent, shapes ``(m_i,)``."""
    own: np.ndarray
    """``u_i(x)``, shape ``(N,)``."""
    principal: float
    """``u_0(x)`` (the game's objective)."""

    @property
    def regrets(self) -> np.ndarray:
        """CCE regrets ``max_j u_i(j, x_{-i}) - u_i(x)``, shape ``(N,)``."""
        return np.array([d.max() for d in self.deviation]) - self.own


def mixture_values(game: ProductOracle, mixture: ProductMixture) -> MixtureValues:
    """Exact deviation payoffs, utilities and principal payoff of a mixture of products."""
    n = game.num_players
    dev = [np.zeros(m) for m in game.num_actions]
    own = np.zeros(n)
    principal = 0.0
    for k, w in enumerate(mixture.weights):
        fac = [f[k] for f in mixture.factors]
        d, p = game.deviation_payoffs(fac)
        for i in range(n):
            dev[i] += w * d[i]
            own[i] += w * float(d[i] @ fac[i])
        principal += w * float(p[0] @ fac[0])
    return MixtureValues(dev, own, principal)


@dataclass(frozen=True)
class ApproachabilityConfig:
    """Settings of Algorithm 2."""

    outer_iterations: int = 200
    """Blackwell steps per target ``y`` (the paper's O(1/tolerance^2))."""
    inner_rounds: int = 100
    """Hedge rounds per halfspace-oracle call."""
    bisection_steps: int = 10
    """Bisection steps over ``y``."""
    tolerance: float = 0.02
    """Approachability tolerance, relative to the payoff bound: the oracle may miss the halfspace
    and the objective may miss ``y`` by this much."""
    step_size: float = 2.0
    """Hedge learning rate on payoffs divided by the game's payoff bound.  The oracle's Hedge is
    warm-started across Blackwell steps (one continuing run of no-regret dynamics), which is what
    lets its block averages reach the halfspace; a from-scratch run per call (the literal
    reading of Algorithm 2) needs far more rounds for the same accuracy."""

    def __post_init__(self) -> None:
        for name in ("outer_iterations", "inner_rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.bisection_steps < 0:
            raise ValueError(f"bisection_steps: must be >= 0, got {self.bisection_steps}")
        if not 0 < self.tolerance < 1:
            raise ValueError(f"tolerance: must lie in (0, 1), got {self.tolerance}")
        if self.step_size <= 0:
            raise ValueError(f"step_size: must be positive, got {self.step_size}")


@dataclass(frozen=True)
class ApproachabilityDetails:
    """What Algorithm 2 adds to its :class:`~robustmas.equilibria.result.CCEResult`."""

    mixture: ProductMixture | None
    """The returned eps-CCE as a mixture of product distributions (``None`` if none was found);
    exact even where the dense distribution is too large to form."""
    target: float
    """Largest target ``y`` (in ``nu`` units) that was approached (the lowest one tried when
    none was)."""
    oracle_calls: int
    """Number of product-distribution payoff queries made."""
    history: tuple[tuple[float, bool], ...]
    """``(y, approached)`` for every target tried, in order."""


def _objective_bounds(game: ProductOracle, sign: float) -> tuple[float, float]:
    principal = getattr(game, "objective", None)
    if callable(principal):
        nu = sign * np.asarray(principal())
        return float(nu.min()), float(nu.max())
    bound = game.payoff_bound()
    return -bound, bound


def _halfspace_oracle(
    game: ProductOracle,
    beta_own: list[np.ndarray],
    beta_last: float,
    sign: float,
    scale: float,
    rounds: int,
    step: float,
    logits: list[np.ndarray],
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, int]:
    """Deterministic Hedge on ``w_i = ||beta_i|| u_i + beta_last nu / N``.

    ``logits`` (per-player log-weights) are updated in place so that consecutive oracle calls
    continue one run of no-regret dynamics (a warm start).  Returns the per-player iterates
    ``(rounds, m_i)``, their ``v`` rows without the last component ``(rounds, sum m_i)``, their
    ``nu`` values ``(rounds,)`` and the oracle call count.
    """
    n = game.num_players
    weights = [float(b.sum()) for b in beta_own]
    iterates = [np.empty((rounds, m)) for m in game.num_actions]
    v_rows = np.empty((rounds, sum(game.num_actions)))
    nus = np.empty(rounds)
    for t in range(rounds):
        x = []
        for lg in logits:
            p = np.exp(lg - lg.max())
            x.append(p / p.sum())
        own, prin = game.deviation_payoffs(x)
        col = 0
        for i in range(n):
            iterates[i][t] = x[i]
            u_i = float(own[i] @ x[i])
            v_rows[t, col : col + x[i].size] = own[i] - u_i
            col += x[i].size
            # Agent i's utility in the oracle game is ||beta_i|| u_i + beta_last nu / N (Lemma 2).
            # Dividing by the total weight keeps Hedge's learning rate independent of how beta
            # is spread over agents; an agent with no weight at all plays Hedge on u_i.
            total = weights[i] + beta_last / n
            if total > 0:
                grad = (weights[i] * own[i] + beta_last * sign * prin[i] / n) / total
            else:
                grad = own[i]
            logits[i] += step * grad / scale
            logits[i] -= logits[i].max()
        nus[t] = sign * float(prin[0] @ x[0])
    return iterates, v_rows, nus, rounds


def _approach(
    game: ProductOracle,
    y: float,
    eps: np.ndarray,
    sign: float,
    scale: float,
    cfg: ApproachabilityConfig,
    step: float,
) -> tuple[ProductMixture | None, int]:
    """Blackwell's approachability for one target ``y``; ``None`` when ``y`` is too large."""
    sizes = game.num_actions
    thresh = np.concatenate([np.repeat(eps, sizes), [0.0]])
    tol = cfg.tolerance * scale
    # Hedge's own approximation error after `inner_rounds` rounds (textbook bound, two-sided range).
    oracle_slack = 2 * scale * np.sqrt(np.log(max(sizes) + 1) / (2 * cfg.inner_rounds))
    total_v = np.zeros(thresh.size)
    comps: list[list[np.ndarray]] = [[] for _ in sizes]
    calls = 0
    splits = np.cumsum(sizes)[:-1]
    beta = np.ones(thresh.size) / thresh.size
    logits = [np.zeros(m) for m in sizes]
    for t in range(cfg.outer_iterations):
        if t > 0:
            mean_v = total_v / t
            excess = np.maximum(mean_v - thresh, 0.0)
            done = np.all(mean_v[:-1] <= thresh[:-1]) and mean_v[-1] <= tol
            if done:
                break
            beta = excess / excess.sum() if excess.sum() > 0 else beta
        beta_own = np.split(beta[:-1], splits)
        iterates, v_rows, nus, c = _halfspace_oracle(
            game, beta_own, float(beta[-1]), sign, scale, cfg.inner_rounds, step, logits
        )
        calls += c
        v_t = np.concatenate([v_rows.mean(axis=0), [y - nus.mean()]])
        if t > 0 and beta @ (v_t - thresh) > tol + oracle_slack:
            return None, calls  # the oracle cannot reach the halfspace: y is too large
        total_v += v_t
        for i, it in enumerate(iterates):
            comps[i].append(it)
    else:
        mean_v = total_v / cfg.outer_iterations
        if not (np.all(mean_v[:-1] <= thresh[:-1]) and mean_v[-1] <= tol):
            return None, calls
    factors = tuple(np.concatenate(c, axis=0) for c in comps)
    k = factors[0].shape[0]
    return ProductMixture(np.full(k, 1.0 / k), factors), calls


def extreme_cce(
    game: ProductOracle,
    epsilon: float | Sequence[float] | np.ndarray,
    sense: Literal["worst", "best"] = "worst",
    config: ApproachabilityConfig | None = None,
) -> CCEResult[ApproachabilityDetails]:
    """Sample an extreme eps-CCE with Algorithm 2 (Blackwell approachability + bisection on ``y``).

    Robust-principal paper, Algorithm 2 with the halfspace oracle of Lemma 2 (Theorem 1).

    Args:
        game: a :class:`~robustmas.games.NormalFormGame` or any :class:`ProductOracle`
            (e.g. :class:`~robustmas.games.LinearCongestionGame`).
        epsilon: per-agent slack (scalar or ``(N,)``), must be positive: approachability only
            converges at rate ``1/sqrt(t)``, so an exact CCE (``eps = 0``) is never certified.
        sense: ``"worst"`` (``nu = -u_0``) or ``"best"`` (``nu = u_0``).
        config: :class:`ApproachabilityConfig`.

    Returns:
        :class:`~robustmas.equilibria.result.CCEResult` with ``method="approachability"``:
        status ``"optimal"`` with exact regrets that never exceed ``epsilon``, or ``"failed"``
        when no target was approached.  ``distribution`` is the dense joint tensor when the game
        has at most :data:`DENSE_LIMIT` joint actions (``None`` beyond);
        :class:`ApproachabilityDetails` holds the product mixture, the target and the history.
    """
    cfg = config or ApproachabilityConfig()
    if sense not in ("worst", "best"):
        raise ValueError(f"sense: expected 'worst' or 'best', got {sense!r}")
    eps = broadcast_epsilon(epsilon, game.num_players)
    if np.any(eps <= 0):
        raise ValueError("epsilon: Algorithm 2 needs a positive slack for every agent (try 0.01)")
    sign = -1.0 if sense == "worst" else 1.0
    scale = game.payoff_bound()
    step = cfg.step_size
    lo, hi = _objective_bounds(game, sign)
    calls = 0
    history: list[tuple[float, bool]] = []

    best, calls = _approach(game, lo, eps, sign, scale, cfg, step)
    history.append((lo, best is not None))
    best_y = lo
    if best is None:
        details = ApproachabilityDetails(None, lo, calls, tuple(history))
        message = f"no target approached (lowest y={lo:.6g}), {calls} oracle calls"
        return CCEResult(
            CCEStatus.FAILED, math.nan, None, None, eps, sense, "approachability", message, details
        )
    best_vals = mixture_values(game, best)
    lo = max(lo, sign * best_vals.principal)
    for _ in range(cfg.bisection_steps):
        if hi - lo <= cfg.tolerance * scale:
            break
        y = 0.5 * (lo + hi)
        found, c = _approach(game, y, eps, sign, scale, cfg, step)
        calls += c
        history.append((y, found is not None))
        if found is None:
            hi = y
            continue
        vals = mixture_values(game, found)
        if (
            np.all(vals.regrets <= eps + 1e-12)
            and sign * vals.principal > sign * best_vals.principal
        ):
            best, best_vals, best_y = found, vals, y
        lo = max(y, sign * vals.principal)
    dense = best.dense() if math.prod(game.num_actions) <= DENSE_LIMIT else None
    details = ApproachabilityDetails(best, best_y, calls, tuple(history))
    return CCEResult(
        CCEStatus.OPTIMAL,
        best_vals.principal,
        dense,
        best_vals.regrets,
        eps,
        sense,
        "approachability",
        f"target y={best_y:.6g}, {calls} oracle calls",
        details,
    )

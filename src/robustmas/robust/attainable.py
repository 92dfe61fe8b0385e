"""The best leader reward attainable in the Stackelberg POMDP under its own follower dynamics.

Reference: Brero, Eden, Chakrabarti, Gerstgrasser, Li, Parkes, *Stackelberg POMDP: A
Reinforcement Learning Approach for Economic Design*, arXiv:2210.03852, 2023 (the Stackelberg
POMDP paper), Sec. 6-7 and Appendix D, Algorithms 1-2.

A setting's ``optimum`` (:data:`~robustmas.envs.stackelberg.settings.SETTINGS`) is the
Stackelberg value: followers that best-respond exactly.  The environment's followers instead run
``num_rounds`` rounds of multiplicative weights with step ``mw_step`` from uniform strategies,
and the leader is paid over ``num_reward_rounds`` reward sub-episodes drawn from their final
strategies (:func:`~robustmas.envs.stackelberg.pomdp.run_dynamics`).  With finitely many rounds
the followers do not reach their best responses, so no observation-action map need reach the
optimum (Maintain's mixed commitment: 27.136 under 100 rounds against 27.5 in the limit).
:func:`attainable` computes the best expected reward any map earns under those dynamics:
``max_x E[R(x)]`` over maps ``x`` (rows of ``state.table``).

What is random in an episode, and how each part is evaluated:

* **Reward sub-episodes** draw types and actions from the final strategies; their mean has
  expectation :func:`~robustmas.envs.stackelberg.pomdp.expected_reward` of the final log-weights,
  which is used throughout (no sampling error from them).
* **Equilibrium sub-episodes** draw a type profile and the followers' actions every round
  (:func:`~robustmas.equilibria.no_regret.bayesian_hedge_round`).  With **one follower** the
  update of the drawn type ``t`` adds ``log(1 + mw_step) * u(t, .)`` whatever action was drawn
  (there is no opponent action in the counterfactual), so after the rounds the log-weights of
  type ``t`` are ``N_t log(1 + mw_step) u(t, .)`` with ``N_t ~ Binomial(num_rounds, prior_t)``,
  the number of rounds that drew ``t``.  The expectation is then the finite sum

  ``E[R(x)] = sum_t prior_t sum_n Binom(n; num_rounds, prior_t) sum_a softmax(n rate u_x(t))_a
  leader_x(t, a)``,

  computed **exactly** (:func:`exact_map_values`).  With **two or more followers** a follower's
  update depends on the others' sampled actions and the log-weights follow a genuine random
  walk; :func:`monte_carlo_map_values` estimates the expectation by running the environment's
  own :func:`~robustmas.envs.stackelberg.pomdp.run_dynamics` (the result is labelled an
  estimate, with its standard error).

Maps searched:

* **Deterministic leader** (one-hot rows): all ``A ** K`` maps when there are at most
  :data:`MAX_ENUMERATED_MAPS` (:data:`MAX_MONTE_CARLO_MAPS` for the sampled evaluation) -- the
  exact optimum for one follower; above that, coordinate ascent from several starts, whose
  best map's value is a **lower bound**.
* **Randomising leader** (rows on the simplex): a continuous maximisation.  The best
  deterministic map, a simplex grid when the map has at most :data:`MAX_GRID_DIMENSION` free
  coordinates, and gradient ascent on the exact value from the best of those (one follower
  only) give a map whose exact value is returned as a **lower bound**.  The
  ``upper_bound`` is the payoff ceiling ``sum_t prior_t max_{a,l} leader(t, a, l)``, which no
  map and no follower behaviour can exceed.

Exact batched evaluations run as ``jax.vmap`` without an outer ``jax.jit``: on jaxlib 0.10.2's
CPU backend a jitted broadcast-multiply of a reduction over 65,536 or more elements returned
wrong numbers for this computation, and each primitive compiled alone does not.  The sampled
search drops JAX's caches after each batch (it recompiles the dynamics' scan on every batch,
and long searches otherwise run out of memory).  The best map is evaluated again on its own
and must agree.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.envs.stackelberg.pomdp import (
    StackelbergParams,
    expected_leader_payoff,
    expected_reward,
    induced_payoffs,
    run_dynamics,
)
from robustmas.envs.stackelberg.settings import resolve_setting
from robustmas.equilibria.no_regret import type_strategies

__all__ = [
    "FINAL_EPISODES",
    "MAX_ENUMERATED_MAPS",
    "MAX_GRID_DIMENSION",
    "MAX_MONTE_CARLO_MAPS",
    "MONTE_CARLO_EPISODES",
    "AttainableResult",
    "attainable",
    "attainable_optimum",
    "exact_map_values",
    "map_values",
    "monte_carlo_map_values",
    "payoff_ceiling",
    "payoff_floor",
    "shortfall_scale",
]

MAX_ENUMERATED_MAPS = 2**17
"""Deterministic maps (``A ** K``) evaluated exactly one by one; above, coordinate ascent."""

MAX_MONTE_CARLO_MAPS = 1024
"""Deterministic maps enumerated when each is estimated by sampling (two or more followers)."""

MONTE_CARLO_EPISODES = 256
"""Episodes per map in the sampled search (two or more followers), on common random numbers."""

FINAL_EPISODES = 4096
"""Fresh episodes for the sampled value of the chosen map (two or more followers)."""

MAX_GRID_DIMENSION = 2
"""Randomising leader: free coordinates ``K (A - 1)`` up to which a simplex grid is searched."""

GRID_STEPS = 200
"""Grid resolution ``1 / GRID_STEPS`` per coordinate of the simplex grid."""

_CHUNK = 2048
"""Maps per batched evaluation (bounds the memory of one batch)."""

Bound = Literal["exact", "lower_bound", "estimate"]


@dataclass(frozen=True)
class AttainableResult:
    """The best expected leader reward of any observation-action map under the env's dynamics."""

    value: float
    """Expected leader reward of :attr:`best_map` (game units); see :attr:`bound`."""
    exact: bool
    """True when :attr:`value` is the attainable optimum itself (every map evaluated exactly)."""
    method: str
    """How the value was obtained, in words (evaluation, search, what kind of number it is)."""
    best_map: np.ndarray
    """The best map found, shape ``(K, A)``: one-hot rows, or mixed rows for a randomising one."""
    maps_evaluated: int
    """Maps whose expected reward was computed (or estimated) in the search."""
    bound: Bound = "exact"
    """``exact``; ``lower_bound`` (the exact value of a map found by a search that may miss the
    best one: the attainable optimum is at least this); or ``estimate`` (a sampled estimate of
    the best map's value, two or more followers; :attr:`stderr` is its standard error)."""
    upper_bound: float = math.inf
    """A value no map can exceed: :attr:`value` when exact, else :func:`payoff_ceiling`."""
    stderr: float = 0.0
    """Standard error of :attr:`value` (0 unless :attr:`bound` is ``estimate``)."""


def payoff_ceiling(params: StackelbergParams) -> float:
    """``sum_t prior_t max_{a, l} leader(t, a, l)``: no map and no follower behaviour earns more."""
    n = params.num_followers
    axes = tuple(range(n, params.leader_payoff.ndim))
    best = np.asarray(params.leader_payoff, np.float64).max(axis=axes)
    return float(np.sum(np.asarray(params.prior, np.float64) * best))


def payoff_floor(params: StackelbergParams) -> float:
    """``sum_t prior_t min_{a, l} leader(t, a, l)``: no map and no follower behaviour earns less."""
    n = params.num_followers
    axes = tuple(range(n, params.leader_payoff.ndim))
    worst = np.asarray(params.leader_payoff, np.float64).min(axis=axes)
    return float(np.sum(np.asarray(params.prior, np.float64) * worst))


def shortfall_scale(value: float, params: StackelbergParams) -> float:
    """What a relative shortfall from the attainable ``value`` is measured against.

    ``value`` itself when it is positive ("98% of the attainable optimum").  A reward that is a
    loss (muSPM's ``welfare - max value`` is at most 0) has no meaningful "98% of" it, so there
    the leader's payoff range ``payoff_ceiling - payoff_floor`` is used instead.
    """
    if value > 0:
        return float(value)
    return max(payoff_ceiling(params) - payoff_floor(params), 1e-12)


def _count_weights(params: StackelbergParams) -> np.ndarray:
    """``Binom(n; num_rounds, prior_t)`` for every type ``t`` and count ``n``, ``(T, R + 1)``."""
    rounds = params.num_rounds
    n = np.arange(rounds + 1)
    log_choose = np.array(
        [math.lgamma(rounds + 1) - math.lgamma(i + 1) - math.lgamma(rounds - i + 1) for i in n]
    )
    out = []
    for p in np.asarray(params.prior, np.float64).reshape(-1):
        if p <= 0.0:
            out.append((n == 0).astype(np.float64))
        elif p >= 1.0:
            out.append((n == rounds).astype(np.float64))
        else:
            out.append(np.exp(log_choose + n * math.log(p) + (rounds - n) * math.log1p(-p)))
    return np.stack(out)


def _exact_value(table: jax.Array, weights: jax.Array, params: StackelbergParams) -> jax.Array:
    """Exact expected episode reward of one map, one follower (see the module docstring)."""
    follower, leader = induced_payoffs(table, params)  # (1, T, M), (T, M)
    rate = jnp.log1p(params.mw_step)
    counts = jnp.arange(weights.shape[1], dtype=follower.dtype)
    num_actions = params.obs_of.shape

    def at_count(n: jax.Array, w: jax.Array) -> jax.Array:
        # Every type drawn n times: log-weights n * rate * u(t, .); the leader's payoff of type t
        # is weighted by the probability that t was drawn exactly n times.
        probs = type_strategies(n * rate * follower, num_actions)
        return expected_leader_payoff(probs, leader * w[:, None], params)

    return jax.vmap(at_count)(counts, weights.T).sum()


def _batched(fn: Any, tables: np.ndarray | jax.Array) -> np.ndarray:
    """``fn`` (vmapped, not jitted: see the module docstring) over ``tables`` in chunks."""
    tables = jnp.asarray(tables, jnp.float32)
    out = [np.asarray(jax.vmap(fn)(tables[i : i + _CHUNK])) for i in range(0, len(tables), _CHUNK)]
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def exact_map_values(tables: np.ndarray | jax.Array, params: StackelbergParams) -> np.ndarray:
    """Exact expected episode reward of each map, for a setting with one follower.

    Args:
        tables: maps, shape ``(B, K, A)`` (rows on the simplex; one-hot for a pure leader).
        params: the setting; ``prior`` must have one axis (one follower).

    Returns:
        Shape ``(B,)``: ``E[reward]`` over the equilibrium and reward sub-episodes, float32.

    Raises:
        ValueError: a setting with two or more followers (use :func:`monte_carlo_map_values`),
            or maps of the wrong shape.
    """
    if params.num_followers != 1:
        raise ValueError(
            f"params.prior: exact evaluation needs one follower, got {params.num_followers}; "
            "use monte_carlo_map_values"
        )
    _check_tables(tables, params)
    weights = jnp.asarray(_count_weights(params), jnp.float32)
    return _batched(lambda t: _exact_value(t, weights, params), tables)


def map_values(
    tables: np.ndarray | jax.Array,
    params: StackelbergParams,
    key: jax.Array | None = None,
    episodes: int = FINAL_EPISODES,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected episode reward of each map: exact with one follower, else sampled.

    For scoring learned maps against :func:`attainable` without the noise of sampled evaluation
    episodes, e.g. ``map_values(greedy_map(result, params), params)`` after
    :func:`~robustmas.robust.stackelberg_pomdp.train_leader`.

    Args:
        tables: maps, shape ``(B, K, A)``.
        params: the setting.
        key: PRNG key of the sampled evaluation; ``PRNGKey(0)`` if None.
        episodes: episodes per map for the sampled evaluation.

    Returns:
        ``(values, stderrs)``, each of shape ``(B,)``; the standard errors are 0 when exact.

    Raises:
        ValueError: maps of the wrong shape, or ``episodes < 2`` for a sampled evaluation.
    """
    if params.num_followers == 1:
        values = exact_map_values(tables, params)
        return values, np.zeros_like(values)
    key = jax.random.PRNGKey(0) if key is None else key
    return monte_carlo_map_values(tables, params, key, episodes)


def monte_carlo_map_values(
    tables: np.ndarray | jax.Array,
    params: StackelbergParams,
    key: jax.Array,
    episodes: int = MONTE_CARLO_EPISODES,
) -> tuple[np.ndarray, np.ndarray]:
    """Sampled expected episode reward of each map (any number of followers).

    Every map runs the environment's own
    :func:`~robustmas.envs.stackelberg.pomdp.run_dynamics` on the same ``episodes`` keys (common
    random numbers, so differences between maps have little noise) and is scored by
    :func:`~robustmas.envs.stackelberg.pomdp.expected_reward` of the final log-weights (the
    exact expectation over the reward sub-episodes).

    Args:
        tables: maps, shape ``(B, K, A)``.
        params: the setting.
        key: PRNG key of the episodes.
        episodes: episodes per map.

    Returns:
        ``(means, stderrs)``, each of shape ``(B,)``.

    Raises:
        ValueError: ``episodes < 2`` or maps of the wrong shape.
    """
    if episodes < 2:
        raise ValueError(f"episodes: need >= 2 for a standard error, got {episodes}")
    _check_tables(tables, params)
    keys = jax.random.split(key, episodes)

    def per_map(table: jax.Array) -> jax.Array:
        def episode(k: jax.Array) -> jax.Array:
            logits, _ = run_dynamics(k, table, params)
            return expected_reward(table, logits, params)

        values = jax.vmap(episode)(keys)
        return jnp.stack([values.mean(), values.std(ddof=1) / math.sqrt(episodes)])

    out = _batched(per_map, tables).reshape(-1, 2)
    return out[:, 0], out[:, 1]


def _check_tables(tables: np.ndarray | jax.Array, params: StackelbergParams) -> None:
    shape = (params.num_observations, params.num_leader_actions)
    if np.ndim(tables) != 3 or tuple(np.shape(tables)[1:]) != shape:
        raise ValueError(
            f"tables: expected shape (B, {shape[0]}, {shape[1]}), got {np.shape(tables)}"
        )


class _Evaluator:
    """Scores maps for the search: exact (one follower) or sampled with common random numbers."""

    def __init__(
        self, params: StackelbergParams, key: jax.Array, episodes: int, final_episodes: int
    ):
        self.params = params
        self.exact = params.num_followers == 1
        self.key_search, self.key_final = jax.random.split(key)
        self.episodes = episodes
        self.final_episodes = final_episodes
        self.count = 0

    def __call__(self, tables: np.ndarray) -> np.ndarray:
        self.count += len(tables)
        if self.exact:
            return exact_map_values(tables, self.params).astype(np.float64)
        means, _ = monte_carlo_map_values(tables, self.params, self.key_search, self.episodes)
        # Un-jitted, every batch re-traces the dynamics' lax.scan and compiles it afresh; a long
        # search accumulated thousands of executables until LLVM failed with "Cannot allocate
        # memory" (muSPM with 3 messages, 14 coordinate-ascent starts).  Dropping JAX's caches
        # after each batch frees them.  Jitting the batch instead is not safe: on
        # muspm-general-v0 (3 types) the jitted search valued its best map at -0.0423 where the
        # same map on the same episodes un-jitted is worth -0.0516 (the miscompilation of the
        # module docstring), which :meth:`final` caught.
        jax.clear_caches()
        return means.astype(np.float64)

    def final(self, table: np.ndarray, batched_value: float) -> tuple[float, float]:
        """Value and standard error of the chosen map, evaluated again on its own."""
        if self.exact:
            alone = float(exact_map_values(table[None], self.params)[0])
            if not math.isclose(alone, batched_value, rel_tol=1e-4, abs_tol=1e-5):
                raise RuntimeError(
                    f"attainable: the best map's batched value {batched_value} differs from its "
                    f"value alone {alone} (a miscompiled batch?); report this with the setting"
                )
            return alone, 0.0
        again, _ = monte_carlo_map_values(table[None], self.params, self.key_search, self.episodes)
        if not math.isclose(float(again[0]), batched_value, rel_tol=1e-3, abs_tol=1e-5):
            raise RuntimeError(
                f"attainable: the best map's batched value {batched_value} differs from its "
                f"value alone {float(again[0])} on the same episodes (a miscompiled batch?); "
                "report this with the setting"
            )
        # Fresh episodes: the search's maximum over maps is biased upwards, this is not.
        means, errs = monte_carlo_map_values(
            table[None], self.params, self.key_final, self.final_episodes
        )
        return float(means[0]), float(errs[0])


def _one_hot_maps(indices: np.ndarray, num_actions: int) -> np.ndarray:
    return np.eye(num_actions, dtype=np.float32)[indices]


def _best_deterministic(
    evaluate: _Evaluator,
    k: int,
    a: int,
    max_maps: int,
    sweeps: int,
    starts: int,
    initial: np.ndarray | None = None,
) -> tuple[np.ndarray, float, bool]:
    """Best one-hot map: ``(map, value in the search, whether every map was evaluated)``.

    ``initial`` (action indices ``(B, K)``) are extra coordinate-ascent starts.
    """
    if a**k <= max_maps:
        best_value, best = -math.inf, np.zeros(k, np.int64)
        combos = itertools.product(range(a), repeat=k)
        while chunk := list(itertools.islice(combos, _CHUNK)):
            indices = np.asarray(chunk, np.int64)
            values = evaluate(_one_hot_maps(indices, a))
            i = int(np.argmax(values))
            if values[i] > best_value:
                best_value, best = float(values[i]), indices[i]
        return _one_hot_maps(best, a), best_value, True
    # Coordinate ascent: change one observation's action at a time, keep the best.
    rng = np.random.default_rng(0)
    constant = np.repeat(np.arange(a)[:, None], k, axis=1)
    const_values = evaluate(_one_hot_maps(constant, a))
    inits = [constant[int(np.argmax(const_values))]]
    inits += [np.arange(k) % a] + [rng.integers(0, a, k) for _ in range(max(starts - 2, 0))]
    if initial is not None:
        inits += [np.asarray(row, np.int64) for row in initial]
    best_value, best = -math.inf, inits[0]
    for current in inits:
        current = current.copy()
        value = float(evaluate(_one_hot_maps(current[None], a))[0])
        for _ in range(sweeps):
            improved = False
            for obs in range(k):
                options = np.repeat(current[None], a, axis=0)
                options[:, obs] = np.arange(a)
                values = evaluate(_one_hot_maps(options, a))
                j = int(np.argmax(values))
                if values[j] > value + 1e-9:
                    value, current, improved = float(values[j]), options[j], True
            if not improved:
                break
        if value > best_value:
            best_value, best = value, current
    return _one_hot_maps(best, a), best_value, False


def _simplex_grid(a: int, steps: int) -> np.ndarray:
    """All points of the simplex in ``a`` coordinates with coordinates in multiples of 1/steps."""
    points = [
        (*c, steps - sum(c))
        for c in itertools.product(range(steps + 1), repeat=a - 1)
        if sum(c) <= steps
    ]
    return np.asarray(points, np.float32) / steps


def _gradient_ascent(
    params: StackelbergParams, starts: np.ndarray, steps: int, lr: float
) -> np.ndarray:
    """Adam on the exact value over softmax-parameterised rows, from each start map."""
    weights = jnp.asarray(_count_weights(params), jnp.float32)

    def loss(theta: jax.Array) -> jax.Array:
        return -_exact_value(jax.nn.softmax(theta, axis=-1), weights, params)

    grad = jax.jit(jax.grad(loss))  # one small map at a time; results are re-evaluated eagerly
    out = []
    for start in starts:
        theta = jnp.log(jnp.clip(jnp.asarray(start), 1e-6, None))
        m = v = jnp.zeros_like(theta)
        for t in range(1, steps + 1):
            g = grad(theta)
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            theta = theta - lr * (m / (1 - 0.9**t)) / (jnp.sqrt(v / (1 - 0.999**t)) + 1e-8)
        out.append(np.asarray(jax.nn.softmax(theta, axis=-1)))
    return np.stack(out)


def attainable(
    params: StackelbergParams,
    *,
    key: jax.Array | None = None,
    episodes: int = MONTE_CARLO_EPISODES,
    final_episodes: int = FINAL_EPISODES,
    max_maps: int | None = None,
    sweeps: int = 3,
    starts: int = 4,
    ascent_steps: int = 300,
    initial_maps: np.ndarray | None = None,
) -> AttainableResult:
    """The best expected leader reward of any observation-action map under the env's dynamics.

    See the module docstring for what is exact and what is a bound.  Whether the leader
    randomises is ``params.randomized``.

    Args:
        params: the setting with its POMDP knobs (``num_rounds``, ``mw_step``, ``randomized``).
        key: PRNG key of the sampled evaluation (two or more followers); ``PRNGKey(0)`` if None.
        episodes: episodes per map in the sampled search (common random numbers).
        final_episodes: fresh episodes for the sampled value of the chosen map.
        max_maps: enumerate every deterministic map up to this many; default
            :data:`MAX_ENUMERATED_MAPS` with one follower, :data:`MAX_MONTE_CARLO_MAPS` else.
        sweeps: coordinate-ascent sweeps over the observations when not enumerating.
        starts: coordinate-ascent starting maps (the best constant map, ``o -> o mod A``, random).
        ascent_steps: Adam steps per start of the randomising leader's gradient ascent.
        initial_maps: extra starting maps ``(B, K, A)`` for the coordinate ascent (their
            row-wise argmax), e.g. trained leaders' greedy maps, so that the search's result is
            at least as good as each of them; unused when every map is enumerated.

    Returns:
        :class:`AttainableResult`.

    Raises:
        ValueError: ``episodes`` or ``final_episodes`` below 2, ``max_maps < 1``,
            ``sweeps < 1`` or ``starts < 1``.
    """
    if max_maps is not None and max_maps < 1:
        raise ValueError(f"max_maps: need >= 1, got {max_maps}")
    if sweeps < 1 or starts < 1:
        raise ValueError(f"sweeps/starts: need >= 1 each, got sweeps={sweeps}, starts={starts}")
    for name, n in (("episodes", episodes), ("final_episodes", final_episodes)):
        if n < 2:
            raise ValueError(f"{name}: need >= 2 for a standard error, got {n}")
    key = jax.random.PRNGKey(0) if key is None else key
    evaluate = _Evaluator(params, key, episodes, final_episodes)
    k, a = params.num_observations, params.num_leader_actions
    if max_maps is None:
        max_maps = MAX_ENUMERATED_MAPS if evaluate.exact else MAX_MONTE_CARLO_MAPS
    initial = None
    if initial_maps is not None:
        _check_tables(initial_maps, params)
        initial = np.argmax(np.asarray(initial_maps), axis=-1)
    best, best_value, enumerated = _best_deterministic(
        evaluate, k, a, max_maps, sweeps, starts, initial
    )
    evaluation = (
        "exact expectation over the binomial type counts (one follower)"
        if evaluate.exact
        else (
            f"sampled expectation over the env's run_dynamics ({episodes} episodes per map "
            f"in the search, {final_episodes} fresh ones for the chosen map)"
        )
    )
    search = (
        f"all {a}^{k} deterministic maps"
        if enumerated
        else f"coordinate ascent ({starts} starts"
        + ("" if initial is None else f" and {len(initial)} given maps")
        + f", up to {sweeps} sweeps) over {a}^{k} maps"
    )
    if params.randomized and evaluate.exact:
        candidates = [best]
        if k * (a - 1) <= MAX_GRID_DIMENSION:
            grid = _simplex_grid(a, GRID_STEPS)
            tables = np.stack(
                [np.stack(rows) for rows in itertools.product(grid, repeat=k)]
            ).astype(np.float32)
            values = evaluate(tables)
            order = np.argsort(-values)[:starts]
            candidates += [tables[i] for i in order]
            search += f" and a simplex grid of step 1/{GRID_STEPS}"
        mixed = 0.9 * best + 0.1 / a
        candidates += [mixed, np.full((k, a), 1.0 / a, np.float32)]
        refined = _gradient_ascent(params, np.stack(candidates), ascent_steps, 0.05)
        tables = np.concatenate([np.stack(candidates), refined]).astype(np.float32)
        values = evaluate(tables)
        i = int(np.argmax(values))
        if values[i] > best_value:
            best, best_value = tables[i], float(values[i])
        search += f", then gradient ascent ({ascent_steps} Adam steps) from the best of them"
    elif params.randomized:
        search += " (deterministic maps only: a lower bound for the randomising leader)"
    value, stderr = evaluate.final(np.asarray(best, np.float32), best_value)
    exact = evaluate.exact and enumerated and not params.randomized
    bound: Bound = "exact" if exact else ("lower_bound" if evaluate.exact else "estimate")
    kind = {
        "exact": "exact attainable optimum",
        "lower_bound": "lower bound (the exact value of the best map found)",
        "estimate": f"estimate of the best map's value, standard error {stderr:.2g}",
    }[bound]
    return AttainableResult(
        value=value,
        exact=exact,
        method=f"{kind}; {evaluation}; searched {search}",
        best_map=np.asarray(best, np.float32),
        maps_evaluated=evaluate.count,
        bound=bound,
        upper_bound=value if exact else payoff_ceiling(params),
        stderr=stderr,
    )


def attainable_optimum(
    setting: str | os.PathLike[str],
    randomized: bool = False,
    *,
    key: jax.Array | None = None,
    episodes: int = MONTE_CARLO_EPISODES,
    final_episodes: int = FINAL_EPISODES,
    **params: Any,
) -> AttainableResult:
    """:func:`attainable` for a preset id (or a two-player ``.nfg`` path) and its parameters.

    The one call for a command line: ``params`` are the setting's parameters and POMDP knobs as
    :func:`~robustmas.envs.stackelberg.settings.make_setting` takes them (strings are converted).

    Args:
        setting: a :data:`~robustmas.envs.stackelberg.settings.SETTINGS` id or a ``.nfg`` path.
        randomized: whether the leader commits to mixed strategies.
        key: PRNG key of the sampled evaluation (two or more followers), as :func:`attainable`.
        episodes: episodes per map in the sampled search, as :func:`attainable`.
        final_episodes: fresh episodes for the chosen map's sampled value.
        **params: setting parameters and POMDP knobs.

    Returns:
        :class:`AttainableResult`.

    Raises:
        ValueError: an unknown setting or parameter (see
            :func:`~robustmas.envs.stackelberg.settings.resolve_setting`).
    """
    env_params = resolve_setting(setting, randomized=randomized, **params)
    return attainable(env_params, key=key, episodes=episodes, final_episodes=final_episodes)

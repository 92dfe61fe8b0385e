"""No-regret dynamics in JAX: Hedge, regret matching and Bayesian iterative dynamics.

Every learner runs inside one ``jax.lax.scan`` over rounds, is jitted with the number of
rounds static, and works on JAX arrays, so ``jax.vmap`` runs many games of one shape at once::

    batch = jnp.stack([g.payoffs for g in games])          # (B, N, m_1, ..., m_N)
    results = jax.vmap(lambda p: hedge(p, 500, 0.1))(batch)

Algorithms and sources:

* :func:`hedge` -- multiplicative weights ``w <- w * (1 + eps) ** payoff`` as in Algorithm 2
  ("No Regret Multiplicative Weights") of the Stackelberg POMDP paper (Brero et al.,
  *Learning Stackelberg Equilibria and Applications to Economic Design Games*), i.e. Hedge
  (Freund & Schapire, 1997, *A decision-theoretic generalization of on-line learning*) with
  learning rate ``log(1 + eps)``.  Weights are kept in log space.
* :func:`regret_matching` -- unconditional regret matching: play proportionally to the positive
  part of the cumulative regrets (Hart & Mas-Colell, 2000, *A simple adaptive procedure leading
  to correlated equilibrium*, Econometrica 68(5)).
* :func:`bayesian_hedge` -- Algorithm 1 ("Iterative No Regret Dynamics", after Hartline et al.,
  2015) of the Stackelberg POMDP paper with one Hedge learner per (player, type); its empirical
  distribution converges to a Bayesian coarse correlated equilibrium for any, possibly
  correlated, prior (the paper's Proposition 3.1).  One round of it is the kernel
  :func:`bayesian_hedge_round` (:func:`sample_profile` then :func:`bayesian_hedge_update`), which
  the followers of the Stackelberg POMDP environment
  (:func:`robustmas.envs.stackelberg.pomdp.run_dynamics`) run as well: both are this one code.
  Its learners' log-weights are one padded array ``(n, T_max, M_max)`` (row ``[i, t]`` for
  player ``i`` of type ``t``), and it reads payoffs ``u_i(t, a)`` of the whole type profile, so
  interdependent values (muSPM) and private values (a ``BayesianGame``) go through it alike.

Hedge and regret matching have two modes.  Without a ``key`` (expected mode) every player is
fed the full expected payoff vector ``u_i(., x_{-i})`` against the others' current mixed
strategies and the empirical joint distribution is the average of the product distributions
``x_1 (x) ... (x) x_N``; its CCE regret is then exactly the players' average external regret.
With a ``key`` (sampled mode, exactly Algorithm 2) a joint action ``a`` is sampled each round,
every player is fed ``u_i(., a_{-i})``, and the empirical joint distribution is the frequency of
the sampled profiles.

:func:`hedge_numpy` is a plain NumPy loop of the expected mode, kept as a reference and as the
peer for speed comparisons.

References:
* Brero, Eden, Chakrabarti, Gerstgrasser, Li, Parkes, *Stackelberg POMDP: A Reinforcement
  Learning Approach for Economic Design* (first titled *Learning Stackelberg Equilibria and
  Applications to Economic Design Games*), arXiv:2210.03852, 2023 (the Stackelberg POMDP paper).
* Hartline, Syrgkanis, Tardos, *No-Regret Learning in Bayesian Games*, NeurIPS 2015.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "BayesianNoRegretResult",
    "NoRegretResult",
    "bayesian_hedge",
    "bayesian_hedge_round",
    "bayesian_hedge_update",
    "cce_regrets_jax",
    "hedge",
    "hedge_numpy",
    "hedge_step_size",
    "regret_matching",
    "sample_profile",
    "type_strategies",
]


class NoRegretResult(NamedTuple):
    """Outcome of a run of no-regret dynamics on a normal-form game.

    Attributes:
        joint: empirical joint distribution of play, shape ``(m_1, ..., m_N)``.
        logits: final learner state per player, shape ``(m_i,)`` each: log-weights (shifted so
            that the largest is 0) for Hedge, cumulative regrets for regret matching.
        regrets: CCE regret of ``joint`` per player, shape ``(N,)``:
            ``max_j u_i(j, joint_{-i}) - u_i(joint)``.

    """

    joint: jax.Array
    logits: tuple[jax.Array, ...]
    regrets: jax.Array


class BayesianNoRegretResult(NamedTuple):
    """Outcome of iterative no-regret dynamics on a Bayesian game.

    Attributes:
        joint: empirical distribution of joint actions given each type profile, shape
            ``(T_1, ..., T_N, m_1, ..., m_N)``; uniform over joint actions for type profiles
            that were never drawn.
        counts: how often each type profile was drawn, shape ``(T_1, ..., T_N)``.
        logits: final log-weights per player, shape ``(T_i, m_i)`` each.
        regrets: Bayesian CCE regret of ``joint`` under the prior, per player an array of
            shape ``(T_i,)`` (as :func:`robustmas.equilibria.regret.bayesian_cce_regrets`).

    """

    joint: jax.Array
    counts: jax.Array
    logits: tuple[jax.Array, ...]
    regrets: tuple[jax.Array, ...]


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _as_float(x: ArrayLike) -> jax.Array:
    """``x`` as a floating JAX array (float32 unless x64 is enabled)."""
    arr = jnp.asarray(x)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    return arr


def _check_payoffs(payoffs: jax.Array) -> int:
    """Validate the stacked shape ``(N, m_1, ..., m_N)``; return ``N``."""
    if payoffs.ndim < 2 or payoffs.ndim != payoffs.shape[0] + 1:
        raise ValueError(
            f"payoffs: expected shape (N, m_1, ..., m_N) for N players, got {payoffs.shape}"
        )
    return int(payoffs.shape[0])


def _check_rounds(num_rounds: int) -> int:
    if int(num_rounds) != num_rounds or num_rounds < 1:
        raise ValueError(f"num_rounds: expected a positive integer, got {num_rounds!r}")
    return int(num_rounds)


def _init_state(
    name: str, init: Sequence[ArrayLike] | None, shapes: Sequence[tuple[int, ...]], dtype
) -> tuple[jax.Array, ...]:
    """Per-player initial state (zeros by default), validated against ``shapes``."""
    if init is None:
        return tuple(jnp.zeros(s, dtype) for s in shapes)
    if len(init) != len(shapes):
        raise ValueError(f"{name}: expected {len(shapes)} arrays (one per player), got {len(init)}")
    out = []
    for i, (x, s) in enumerate(zip(init, shapes, strict=True)):
        arr = jnp.asarray(x, dtype)
        if arr.shape != s:
            raise ValueError(f"{name}[{i}]: expected shape {s}, got {arr.shape}")
        out.append(arr)
    return tuple(out)


def _expected_payoff_vector(
    tensor: jax.Array, strategies: Sequence[jax.Array], player: int
) -> jax.Array:
    """``u(j, x_{-i})`` for every own action ``j``; ``tensor`` has shape ``(m_1, ..., m_N)``."""
    out = tensor
    # Contract trailing axes first so that the indices of earlier axes stay valid.
    for k in range(len(strategies) - 1, -1, -1):
        if k != player:
            out = jnp.tensordot(out, strategies[k], axes=([k], [0]))
    return out


def _realized_payoff_vector(
    tensor: jax.Array, actions: Sequence[jax.Array], player: int
) -> jax.Array:
    """``u(j, a_{-i})`` for every own action ``j`` at the (traced) joint action ``actions``."""
    moved = jnp.moveaxis(tensor, player, 0)
    index = (slice(None), *(a for k, a in enumerate(actions) if k != player))
    return moved[index]


def _product(strategies: Sequence[jax.Array]) -> jax.Array:
    """The product distribution ``x_1 (x) ... (x) x_N``, shape ``(m_1, ..., m_N)``."""
    out = strategies[0]
    for x in strategies[1:]:
        out = out[..., None] * x
    return out


def _deviation_values(tensor: jax.Array, joint: jax.Array, player: int) -> jax.Array:
    """``u(j, joint_{-i})`` for every action ``j`` of ``player``; both inputs ``(m_1..m_N)``."""
    others = joint.sum(axis=player)
    moved = jnp.moveaxis(tensor, player, 0)
    return jnp.tensordot(moved, others, axes=others.ndim)


def cce_regrets_jax(payoffs: ArrayLike, joint: ArrayLike) -> jax.Array:
    """CCE regret of every player under a joint distribution (JAX, jit- and vmap-friendly).

    Same quantity as :func:`robustmas.equilibria.regret.cce_regrets`, without validation.

    Args:
        payoffs: stacked payoffs, shape ``(N, m_1, ..., m_N)``.
        joint: joint distribution, shape ``(m_1, ..., m_N)``.

    Returns:
        Shape ``(N,)``: ``max_j u_i(j, joint_{-i}) - u_i(joint)`` for each player ``i``.

    """
    payoffs = _as_float(payoffs)
    joint = jnp.asarray(joint, payoffs.dtype)
    n = _check_payoffs(payoffs)
    if joint.shape != payoffs.shape[1:]:
        raise ValueError(f"joint: expected shape {payoffs.shape[1:]}, got {joint.shape}")
    out = [
        _deviation_values(payoffs[i], joint, i).max() - jnp.sum(payoffs[i] * joint)
        for i in range(n)
    ]
    return jnp.stack(out)


def hedge_step_size(num_actions: int, num_rounds: int, payoff_range: float = 1.0) -> float:
    """Step ``eps`` of ``w <- w (1 + eps)^u`` matching the textbook-optimal Hedge rate.

    The rate ``eta = log(1 + eps)`` is set to ``sqrt(8 ln m / T) / range``, which bounds the
    average regret of each player by ``range * sqrt(ln m / (2 T))`` against any payoff sequence
    with values in an interval of length ``range``.

    Args:
        num_actions: number of actions ``m`` of the learner.
        num_rounds: horizon ``T``.
        payoff_range: length of the payoff interval (max payoff minus min payoff).

    Returns:
        ``expm1(eta)`` (0 when ``m = 1``).

    """
    if num_actions < 1 or num_rounds < 1 or not payoff_range > 0:
        raise ValueError(
            "hedge_step_size: need num_actions >= 1, num_rounds >= 1 and payoff_range > 0, got "
            f"{num_actions}, {num_rounds}, {payoff_range}"
        )
    eta = math.sqrt(8.0 * math.log(num_actions) / num_rounds) / payoff_range
    return math.expm1(eta)


# --------------------------------------------------------------------------------------------
# Hedge and regret matching on normal-form games
# --------------------------------------------------------------------------------------------


def _rm_strategy(regrets: jax.Array) -> jax.Array:
    """Regret matching: proportional to positive regrets, uniform when none is positive."""
    pos = jnp.maximum(regrets, 0.0)
    total = pos.sum()
    uniform = jnp.full_like(regrets, 1.0 / regrets.shape[0])
    return jnp.where(total > 0, pos / jnp.where(total > 0, total, 1.0), uniform)


def _run_dynamics(
    payoffs: jax.Array,
    num_rounds: int,
    rate: jax.Array,
    key: jax.Array | None,
    init: tuple[jax.Array, ...],
    algorithm: str,
) -> NoRegretResult:
    """Scan ``num_rounds`` rounds of Hedge or regret matching (traced inside ``jax.jit``)."""
    n = payoffs.shape[0]
    shape = payoffs.shape[1:]

    def strategies_of(state: tuple[jax.Array, ...]) -> list[jax.Array]:
        if algorithm == "hedge":
            return [jax.nn.softmax(s) for s in state]
        return [_rm_strategy(s) for s in state]

    def update(state: tuple[jax.Array, ...], xs: list[jax.Array], us: list[jax.Array]):
        if algorithm == "hedge":
            new = [s + rate * u for s, u in zip(state, us, strict=True)]
            return tuple(s - s.max() for s in new)
        return tuple(s + u - jnp.dot(x, u) for s, x, u in zip(state, xs, us, strict=True))

    if key is None:

        def expected_step(carry, _):
            state, total = carry
            xs = strategies_of(state)
            us = [_expected_payoff_vector(payoffs[i], xs, i) for i in range(n)]
            return (update(state, xs, us), total + _product(xs)), None

        (state, total), _ = jax.lax.scan(
            expected_step, (init, jnp.zeros(shape, payoffs.dtype)), None, length=num_rounds
        )
    else:
        keys = jax.random.split(key, num_rounds)

        def sampled_step(carry, round_key):
            state, total = carry
            xs = strategies_of(state)
            player_keys = jax.random.split(round_key, n)
            if algorithm == "hedge":
                actions = [jax.random.categorical(player_keys[i], state[i]) for i in range(n)]
            else:
                actions = [jax.random.choice(player_keys[i], shape[i], p=xs[i]) for i in range(n)]
            us = [_realized_payoff_vector(payoffs[i], actions, i) for i in range(n)]
            # Regret matching measures regret against the realised own action.
            played = [
                jax.nn.one_hot(a, shape[i], dtype=payoffs.dtype) for i, a in enumerate(actions)
            ]
            new_state = update(state, played if algorithm != "hedge" else xs, us)
            return (new_state, total.at[tuple(actions)].add(1.0)), None

        (state, total), _ = jax.lax.scan(
            sampled_step, (init, jnp.zeros(shape, payoffs.dtype)), keys
        )
    joint = total / total.sum()
    return NoRegretResult(joint, state, cce_regrets_jax(payoffs, joint))


_run_dynamics_jit = jax.jit(_run_dynamics, static_argnames=("num_rounds", "algorithm"))


def hedge(
    payoffs: ArrayLike,
    num_rounds: int,
    step_size: float | ArrayLike,
    *,
    key: jax.Array | None = None,
    init_logits: Sequence[ArrayLike] | None = None,
) -> NoRegretResult:
    """Hedge / multiplicative weights for every player (Stackelberg POMDP paper, Algorithm 2).

    Each round player ``i`` plays ``x_i = softmax(logits_i)`` and updates
    ``logits_i += log1p(step_size) * payoff_vector``, i.e. ``w_i <- w_i (1 + step_size)^u``.

    Args:
        payoffs: stacked payoffs, shape ``(N, m_1, ..., m_N)`` (a ``NormalFormGame.payoffs``).
        num_rounds: number of rounds ``T`` (static under ``jit``).
        step_size: ``eps > -1`` of the update; see :func:`hedge_step_size`.
        key: ``None`` for the expected mode (full expected payoff vectors, empirical joint =
            average of product strategies); a PRNG key for the sampled mode (sampled joint
            actions, empirical joint = frequency of the sampled profiles).
        init_logits: optional initial log-weights, one array of shape ``(m_i,)`` per player
            (default zeros: uniform).

    Returns:
        :class:`NoRegretResult` with ``joint`` of shape ``(m_1, ..., m_N)``, the final
        log-weights and the CCE regrets of ``joint``.

    """
    payoffs = _as_float(payoffs)
    _check_payoffs(payoffs)
    num_rounds = _check_rounds(num_rounds)
    shapes = [(int(m),) for m in payoffs.shape[1:]]
    init = _init_state("init_logits", init_logits, shapes, payoffs.dtype)
    rate = jnp.log1p(jnp.asarray(step_size, payoffs.dtype))
    return _run_dynamics_jit(payoffs, num_rounds, rate, key, init, "hedge")


def regret_matching(
    payoffs: ArrayLike,
    num_rounds: int,
    *,
    key: jax.Array | None = None,
    init_regrets: Sequence[ArrayLike] | None = None,
) -> NoRegretResult:
    """Regret matching for every player (Hart & Mas-Colell, 2000).

    Each round player ``i`` plays proportionally to the positive part of its cumulative
    regrets ``R_i`` (uniformly when none is positive) and adds ``u_i(j, .) - u_i(played)`` to
    ``R_i[j]`` for every action ``j``.  In expected mode "played" is the own mixed strategy and
    the opponents are their mixed strategies; in sampled mode both are the sampled actions.

    Args:
        payoffs: stacked payoffs, shape ``(N, m_1, ..., m_N)``.
        num_rounds: number of rounds ``T`` (static under ``jit``).
        key: ``None`` for the expected mode, a PRNG key for the sampled mode (see :func:`hedge`).
        init_regrets: optional initial cumulative regrets, one array of shape ``(m_i,)`` per
            player (default zeros).

    Returns:
        :class:`NoRegretResult` whose ``logits`` are the final cumulative regrets.

    """
    payoffs = _as_float(payoffs)
    _check_payoffs(payoffs)
    num_rounds = _check_rounds(num_rounds)
    shapes = [(int(m),) for m in payoffs.shape[1:]]
    init = _init_state("init_regrets", init_regrets, shapes, payoffs.dtype)
    rate = jnp.zeros((), payoffs.dtype)
    return _run_dynamics_jit(payoffs, num_rounds, rate, key, init, "regret_matching")


def hedge_numpy(payoffs: np.ndarray, num_rounds: int, step_size: float) -> np.ndarray:
    """Expected-mode :func:`hedge` as a plain NumPy loop (float64 reference implementation).

    Args:
        payoffs: stacked payoffs, shape ``(N, m_1, ..., m_N)``.
        num_rounds: number of rounds ``T``.
        step_size: ``eps`` of ``w <- w (1 + eps)^u``.

    Returns:
        The empirical joint distribution (average of product strategies), shape
        ``(m_1, ..., m_N)``.

    """
    payoffs = np.asarray(payoffs, dtype=np.float64)
    n = payoffs.shape[0]
    if payoffs.ndim != n + 1:
        raise ValueError(f"payoffs: expected shape (N, m_1, ..., m_N), got {payoffs.shape}")
    rate = math.log1p(step_size)
    logits = [np.zeros(m) for m in payoffs.shape[1:]]
    total = np.zeros(payoffs.shape[1:])
    for _ in range(_check_rounds(num_rounds)):
        xs = []
        for z in logits:
            w = np.exp(z - z.max())
            xs.append(w / w.sum())
        prod = xs[0]
        for x in xs[1:]:
            prod = np.multiply.outer(prod, x)
        total += prod
        for i in range(n):
            u = payoffs[i]
            for k in range(n - 1, -1, -1):
                if k != i:
                    u = np.tensordot(u, xs[k], axes=([k], [0]))
            logits[i] = logits[i] + rate * u
            logits[i] -= logits[i].max()
    return total / num_rounds


# --------------------------------------------------------------------------------------------
# Bayesian games
# --------------------------------------------------------------------------------------------


def _bayesian_regrets(
    payoffs: tuple[jax.Array, ...], prior: jax.Array, joint: jax.Array
) -> tuple[jax.Array, ...]:
    """Bayesian CCE regret per (player, type) of ``joint`` (shape ``(T..., m...)``)."""
    n = len(payoffs)
    out = []
    for i in range(n):
        other_types = tuple(k for k in range(n) if k != i)
        marginal = prior.sum(axis=other_types)  # (T_i,)
        cond = jnp.moveaxis(prior, i, 0) / jnp.where(marginal > 0, marginal, 1.0).reshape(
            (-1,) + (1,) * (n - 1)
        )  # (T_i, T_{-i}...) = P(t_{-i} | t_i)
        sig = jnp.moveaxis(joint, i, 0)  # (T_i, T_{-i}..., m_1..m_N)
        cond_b = cond.reshape(cond.shape + (1,) * n)
        weighted = (cond_b * sig).sum(axis=tuple(range(1, n)))  # (T_i, m_1..m_N)
        pay = payoffs[i]  # (T_i, m_1..m_N)
        u_path = (pay * weighted).sum(axis=tuple(range(1, n + 1)))
        dev = jax.vmap(lambda p, w, i=i: _deviation_values(p, w, i))(pay, weighted)
        out.append(jnp.where(marginal > 0, dev.max(axis=1) - u_path, 0.0))
    return tuple(out)


def type_strategies(logits: jax.Array, num_actions: Sequence[int]) -> jax.Array:
    """Mixed strategy of every (player, type) from padded log-weights.

    Args:
        logits: log-weights, shape ``(n, T_max, M_max)``: row ``logits[i, t]`` belongs to
            player ``i`` of type ``t``; entries past player ``i``'s ``num_actions[i]`` actions
            (and rows past its number of types) are padding.
        num_actions: actions ``(M_1, ..., M_n)`` per player.

    Returns:
        Shape ``(n, T_max, M_max)``: ``softmax`` of each row over the player's own actions,
        0 on padded actions.

    """
    m_max = logits.shape[-1]
    mask = jnp.stack([jnp.arange(m_max) < m for m in num_actions])[:, None, :]
    return jax.nn.softmax(jnp.where(mask, logits, -jnp.inf), axis=-1)


def sample_profile(
    key: jax.Array, logits: jax.Array, log_prior: jax.Array, num_actions: Sequence[int]
) -> tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]:
    """Draw a type profile from the prior and every player's action from its type's strategy.

    One draw of Algorithm 1 of the Stackelberg POMDP paper (Brero et al.): ``t ~ prior``, then
    ``a_i ~ softmax(logits[i, t_i])`` independently.

    Args:
        key: PRNG key (split once for the types and once per player).
        logits: padded log-weights ``(n, T_max, M_max)`` (see :func:`type_strategies`).
        log_prior: log of the joint type prior, shape ``(T_1, ..., T_n)`` (``-inf`` for type
            profiles of probability zero, which are then never drawn).
        num_actions: actions ``(M_1, ..., M_n)`` per player.

    Returns:
        ``(t, a)``: the types ``(t_1, ..., t_n)`` and actions ``(a_1, ..., a_n)``, int scalars.

    """
    n = len(num_actions)
    k_type, k_act = jax.random.split(key)
    t = jnp.unravel_index(jax.random.categorical(k_type, log_prior.reshape(-1)), log_prior.shape)
    probs = type_strategies(logits, num_actions)
    keys = jax.random.split(k_act, n)
    a = tuple(
        jax.random.categorical(
            keys[i], jnp.log(jnp.clip(probs[i, t[i], : num_actions[i]], 1e-30, None))
        )
        for i in range(n)
    )
    return tuple(t), a


def bayesian_hedge_update(
    logits: jax.Array,
    payoffs: Sequence[jax.Array] | jax.Array,
    types: Sequence[jax.Array],
    actions: Sequence[jax.Array],
    rate: ArrayLike,
) -> jax.Array:
    """Multiplicative-weights update of the drawn types' learners (Stackelberg POMDP, Alg. 2).

    Player ``i`` of type ``t_i`` multiplies the weight of every action ``a'_i`` by
    ``exp(rate * u_i(t, (a'_i, a_{-i})))``, i.e. ``(1 + eps)^payoff`` with
    ``rate = log1p(eps)``; its row is then shifted so that its largest log-weight is 0.  Rows of
    types that were not drawn are unchanged.

    Args:
        logits: padded log-weights ``(n, T_max, M_max)``.
        payoffs: ``payoffs[i]`` of shape ``(T_1..T_n, M_1..M_n)``: player ``i``'s payoff for
            every type profile and joint action (a stacked array of shape ``(n, T.., M..)`` or a
            sequence of arrays).
        types: the drawn type profile ``(t_1, ..., t_n)``.
        actions: the drawn joint action ``(a_1, ..., a_n)``.
        rate: learning rate ``log1p(eps)``.

    Returns:
        The updated log-weights, same shape as ``logits``.

    """
    n = len(types)
    m_max = logits.shape[-1]
    for i in range(n):
        m = payoffs[i].shape[n + i]
        idx = (*types, *actions[:i], slice(None), *actions[i + 1 :])
        counterfactual = payoffs[i][idx]  # (M_i,): u_i(t, (a'_i, a_{-i})) for every a'_i
        pad = jnp.zeros(m_max, logits.dtype).at[:m].set(counterfactual)
        logits = logits.at[i, types[i]].add(rate * pad)
        logits = logits.at[i, types[i]].add(-logits[i, types[i], :m].max())
    return logits


def bayesian_hedge_round(
    key: jax.Array,
    logits: jax.Array,
    payoffs: Sequence[jax.Array] | jax.Array,
    log_prior: jax.Array,
    rate: ArrayLike,
) -> tuple[jax.Array, tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]]:
    """One round of iterative no-regret dynamics with one Hedge learner per (player, type).

    The kernel shared by :func:`bayesian_hedge` and the followers of the Stackelberg POMDP
    (:func:`robustmas.envs.stackelberg.pomdp.run_dynamics`): Algorithm 1 of the Stackelberg
    POMDP paper with the multiplicative-weights learner of its Algorithm 2
    (:func:`sample_profile` then :func:`bayesian_hedge_update`).

    Args:
        key: PRNG key of this round.
        logits: padded log-weights ``(n, T_max, M_max)``.
        payoffs: ``payoffs[i]`` of shape ``(T_1..T_n, M_1..M_n)`` (see
            :func:`bayesian_hedge_update`); payoffs may depend on the whole type profile.
        log_prior: log of the joint type prior, shape ``(T_1, ..., T_n)``.
        rate: learning rate ``log1p(eps)``.

    Returns:
        ``(new_logits, (t, a))``: the updated log-weights and the drawn types and actions.

    """
    n = log_prior.ndim
    num_actions = tuple(int(m) for m in payoffs[0].shape[n:])
    t, a = sample_profile(key, logits, log_prior, num_actions)
    return bayesian_hedge_update(logits, payoffs, t, a, rate), (t, a)


def _bayesian_hedge(
    payoffs: tuple[jax.Array, ...],
    prior: jax.Array,
    num_rounds: int,
    rate: jax.Array,
    key: jax.Array,
) -> BayesianNoRegretResult:
    """Traced body of :func:`bayesian_hedge`."""
    n = len(payoffs)
    types = prior.shape
    actions = payoffs[0].shape[1:]
    dtype = payoffs[0].dtype
    # Private values u_i(t_i, a) seen as functions of the whole type profile, as the kernel reads.
    full = tuple(
        jnp.broadcast_to(
            jnp.expand_dims(p, tuple(k for k in range(n) if k != i)), (*types, *actions)
        )
        for i, p in enumerate(payoffs)
    )
    log_prior = jnp.log(prior)

    def step(carry, round_key):
        logits, counts = carry
        logits, (t, a) = bayesian_hedge_round(round_key, logits, full, log_prior, rate)
        counts = counts.at[(*t, *a)].add(1.0)
        return (logits, counts), None

    init = (
        jnp.zeros((n, max(types), max(actions)), dtype),
        jnp.zeros((*types, *actions), dtype),
    )
    (padded, counts), _ = jax.lax.scan(step, init, jax.random.split(key, num_rounds))
    logits = tuple(padded[i, : types[i], : actions[i]] for i in range(n))
    axes = tuple(range(n, 2 * n))
    type_counts = counts.sum(axis=axes)
    denom = jnp.expand_dims(type_counts, axes)
    uniform = 1.0 / math.prod(actions)
    joint = jnp.where(denom > 0, counts / jnp.where(denom > 0, denom, 1.0), uniform)
    regrets = _bayesian_regrets(payoffs, prior.astype(dtype), joint)
    return BayesianNoRegretResult(joint, type_counts, logits, regrets)


_bayesian_hedge_jit = jax.jit(_bayesian_hedge, static_argnames=("num_rounds",))


def bayesian_hedge(
    payoffs: Sequence[ArrayLike],
    prior: ArrayLike,
    num_rounds: int,
    step_size: float | ArrayLike,
    key: jax.Array,
) -> BayesianNoRegretResult:
    """Iterative no-regret dynamics with one Hedge learner per (player, type).

    Algorithm 1 of the Stackelberg POMDP paper with the multiplicative-weights learner of its
    Algorithm 2.  Each round a type profile ``t`` is drawn from ``prior``, each player samples
    an action from the strategy of its type, and each player updates only the row of its drawn
    type with ``log1p(step_size) * u_i(t_i, (a'_i, a_{-i}))`` for all ``a'_i``.

    Args:
        payoffs: one array per player, ``payoffs[i]`` of shape ``(T_i, m_1, ..., m_N)``
            (a ``BayesianGame.payoffs``).
        prior: joint type distribution, shape ``(T_1, ..., T_N)``; may be correlated.
        num_rounds: number of rounds (static under ``jit``).
        step_size: ``eps`` of ``w <- w (1 + eps)^u``.
        key: PRNG key for types and actions.

    Returns:
        :class:`BayesianNoRegretResult`: per-type-profile empirical joint distribution of shape
        ``(T_1, ..., T_N, m_1, ..., m_N)``, type-profile counts, final log-weights of shape
        ``(T_i, m_i)`` and per-(player, type) Bayesian CCE regrets under ``prior``.

    """
    pays = tuple(_as_float(p) for p in payoffs)
    n = len(pays)
    if n == 0:
        raise ValueError("payoffs: need at least one player")
    dtype = jnp.result_type(*pays)
    pays = tuple(p.astype(dtype) for p in pays)
    prior_arr = jnp.asarray(prior, dtype)
    if prior_arr.ndim != n:
        raise ValueError(f"prior: expected {n} axes (one per player), got shape {prior_arr.shape}")
    for i, p in enumerate(pays):
        if p.shape != (prior_arr.shape[i], *pays[0].shape[1:]) or p.ndim != n + 1:
            raise ValueError(
                f"payoffs[{i}]: expected shape (T_{i + 1}={prior_arr.shape[i]}, m_1, ..., m_{n}) "
                f"matching payoffs[0]'s actions {pays[0].shape[1:]}, got {p.shape}"
            )
    rate = jnp.log1p(jnp.asarray(step_size, dtype))
    return _bayesian_hedge_jit(pays, prior_arr, _check_rounds(num_rounds), rate, key)

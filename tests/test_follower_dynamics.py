"""The Stackelberg POMDP's followers and the library's Bayesian Hedge are one algorithm.

The environment's equilibrium sub-episodes (``run_dynamics``) and ``bayesian_hedge`` both call
``bayesian_hedge_round``; these tests pin that down from the outside: on the same payoffs, prior,
step and key they produce the same follower strategies, bit for bit, and the kernel's update
equals a plain NumPy replay of the paper's rule ``w <- w (1 + eps)^u``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.envs.stackelberg import settings as S
from robustmas.envs.stackelberg.pomdp import StackelbergParams, run_dynamics
from robustmas.equilibria import no_regret as nr


def _correlated_two_followers(num_rounds: int) -> StackelbergParams:
    """Two followers with uneven types (2, 3) and actions (3, 2), correlated prior, private values.

    Uneven sizes exercise the padding of the learners' ``(n, T_max, M_max)`` log-weights.
    """
    rng = np.random.default_rng(7)
    types, actions, leader_actions = (2, 3), (3, 2), 2
    prior = rng.uniform(0.2, 1.0, size=types)
    prior /= prior.sum()
    # Private values: follower i's payoff depends on its own type only.
    own = [rng.uniform(-1, 1, size=(types[i], *actions, leader_actions)) for i in range(2)]
    follower = np.stack(
        [
            np.broadcast_to(own[0][:, None], (*types, *actions, leader_actions)),
            np.broadcast_to(own[1][None, :], (*types, *actions, leader_actions)),
        ]
    )
    leader = rng.uniform(size=(*types, *actions, leader_actions))
    return StackelbergParams(
        prior=jnp.asarray(prior, jnp.float32),
        follower_payoff=jnp.asarray(follower, jnp.float32),
        leader_payoff=jnp.asarray(leader, jnp.float32),
        obs_of=jnp.arange(6, dtype=jnp.int32).reshape(actions),
        num_rounds=num_rounds,
        mw_step=0.2,
    )


CASES = {
    "maintain": (lambda: S.make_setting("maintain-v0", num_rounds=200), [1]),
    "allocation": (lambda: S.make_setting("allocation-v0", num_rounds=300), [2, 0, 1]),
    "matrix-design": (lambda: S.make_setting("matrix-design-v0", num_rounds=200), [5]),
    "correlated-two-followers": (lambda: _correlated_two_followers(300), [1, 0, 0, 1, 1, 0]),
}


def _private_payoffs(params: StackelbergParams, table: np.ndarray) -> list[np.ndarray]:
    """Followers' induced payoffs in ``BayesianGame`` form, ``(T_i, M_1..M_n)`` per follower.

    With a one-hot map every induced payoff is one entry of ``follower_payoff`` (no rounding),
    so the library sees exactly the numbers the environment uses.
    """
    rows = table[np.asarray(params.obs_of)]  # (M.., A)
    follower = np.sum(np.asarray(params.follower_payoff) * rows, axis=-1)  # (n, T.., M..)
    n = params.prior.ndim
    out = []
    for i in range(n):
        moved = np.moveaxis(follower[i], i, 0)  # (T_i, T_{-i}.., M..)
        flat = moved.reshape(moved.shape[0], -1, *follower.shape[1 + n :])
        assert np.all(flat == flat[:, :1]), "these settings have private values"
        out.append(flat[:, 0])
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_env_followers_equal_bayesian_hedge(name: str) -> None:
    make, answers = CASES[name]
    params = make()
    table = np.eye(params.num_leader_actions, dtype=np.float32)[answers]
    key = jax.random.PRNGKey(11)
    env_logits, _ = jax.jit(run_dynamics)(key, jnp.asarray(table), params)
    # run_dynamics spends the first half of its key on the equilibrium sub-episodes.
    k_mw, _ = jax.random.split(key)
    lib = nr.bayesian_hedge(
        _private_payoffs(params, table), params.prior, params.num_rounds, params.mw_step, k_mw
    )
    types, actions = params.prior.shape, params.obs_of.shape
    for i in range(params.prior.ndim):
        env_i = np.asarray(env_logits)[i, : types[i], : actions[i]]
        # Same kernel, same inputs, same key: the same float32 operations in the same order.
        np.testing.assert_array_equal(env_i, np.asarray(lib.logits[i]), err_msg=f"follower {i}")
        np.testing.assert_array_equal(
            np.asarray(nr.type_strategies(env_logits, actions))[i, : types[i], : actions[i]],
            np.asarray(jax.nn.softmax(lib.logits[i], axis=-1)),
        )


@pytest.mark.parametrize("setting", ["muspm-v0", "correlated-two-followers"])
def test_kernel_update_matches_numpy_replay(setting: str) -> None:
    """The update equals ``log w += log1p(eps) u_i(t, (., a_{-i}))`` replayed in float64.

    muSPM has interdependent values (a follower's payoff depends on both types), which the
    ``BayesianGame`` form cannot hold; the kernel reads ``u_i(t, a)`` for the whole profile.
    """
    if setting == "muspm-v0":
        params = S.make_setting(setting, num_rounds=150)
        table = np.eye(params.num_leader_actions, dtype=np.float32)[[3, 40, 77, 120]]
    else:
        params = _correlated_two_followers(150)
        table = np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1, 0]]
    rows = jnp.asarray(table)[params.obs_of]
    follower = jnp.sum(params.follower_payoff * rows, axis=-1)
    rate = jnp.log1p(params.mw_step)
    n = params.prior.ndim
    types, actions = params.prior.shape, params.obs_of.shape

    def body(logits, key):
        logits, (t, a) = nr.bayesian_hedge_round(key, logits, follower, jnp.log(params.prior), rate)
        return logits, (jnp.stack(t), jnp.stack(a))

    logits0 = jnp.zeros((n, max(types), max(actions)))
    keys = jax.random.split(jax.random.PRNGKey(5), params.num_rounds)
    final, (ts, as_) = jax.jit(lambda k: jax.lax.scan(body, logits0, k))(keys)

    ref = np.zeros(logits0.shape)
    u = np.asarray(follower, np.float64)
    eta = np.log1p(params.mw_step)
    for t, a in zip(np.asarray(ts), np.asarray(as_), strict=True):
        for i in range(n):
            idx = (i, *t, *a[:i], slice(None), *a[i + 1 :])
            row = ref[i, t[i], : actions[i]] + eta * u[idx]
            ref[i, t[i], : actions[i]] = row - row.max()
    # float32 kernel against a float64 replay of the same draws: rounding only.
    np.testing.assert_allclose(
        np.asarray(final) * _valid(types, actions), ref, rtol=1e-5, atol=1e-5
    )
    # Every type profile with positive prior is drawn, with about its prior frequency.
    counts = np.zeros(types)
    for t in np.asarray(ts):
        counts[tuple(t)] += 1
    np.testing.assert_allclose(counts / params.num_rounds, np.asarray(params.prior), atol=0.15)


def _valid(types: tuple[int, ...], actions: tuple[int, ...]) -> np.ndarray:
    """Mask of the real (not padded) entries of ``(n, T_max, M_max)`` log-weights."""
    mask = np.zeros((len(types), max(types), max(actions)))
    for i, (t, m) in enumerate(zip(types, actions, strict=True)):
        mask[i, :t, :m] = 1.0
    return mask

"""The Stackelberg POMDP as a pure JAX environment.

Reference: the Stackelberg POMDP paper (cited in full below), Sec. 3, 6, 7 and Appendices C,
D.

A *finite Stackelberg setting* has ``n`` followers with finite types ``t_i`` (joint prior
``prior[t_1, ..., t_n]``) and finite actions/messages ``a_i``.  The leader observes
``obs_of[a]`` (one of ``K`` observations, e.g. the follower's message) and answers with one of
``A`` leader actions (a row, a payment, an item, a whole sequential price mechanism).  Payoffs:

* follower ``i``: ``follower_payoff[i][t, a, l]`` (type profile ``t``, joint action ``a``, leader
  action ``l``; stacked into one array, shape ``(n, T_1..T_n, M_1..M_n, A)``, padded settings
  are not needed because every preset has equal sizes per follower);
* leader: ``leader_payoff[t, a, l]``.

One episode of the POMDP:

1. **Decision steps.**  The leader's policy is queried for its action at every observation it
   meets.  The *observation-action map* (Sec. 7) fixes that answer for the rest of the episode,
   so later encounters of the same observation carry no decision: we query each observation once,
   in index order, and store the answer (``state.table``, shape ``(K, A)``: a one-hot row for a
   deterministic leader, a probability row for a randomised one).  In the settings here every
   observation is reached by some follower's counterfactual in the first no-regret round, so this
   is the same map the paper's rollout builds, without the decision-free steps.
2. **Equilibrium sub-episodes** (``num_rounds``): types are drawn from the prior, every follower
   samples an action from the multiplicative-weights strategy of its type, and the payoff of every
   counterfactual action ``(a_i', a_{-i})`` is obtained by querying the leader's map; weights of the
   drawn type are multiplied by ``(1 + mw_step)^payoff`` (kept in log space; Appendix D, Alg. 2).
   This is the library's Bayesian Hedge round,
   :func:`robustmas.equilibria.no_regret.bayesian_hedge_round`, not a copy of it.
3. **Reward sub-episodes** (``num_reward_rounds``): types and actions are drawn from the
   followers' *current* strategies and the leader earns its payoff; the step reward is their mean
   (in the game's own units).

The actor sees only the one-hot observation being queried.  The critic view
(:meth:`StackelbergPOMDP.critic_observation`) adds what the actor must not see: the map filled
so far and the followers' strategies (and, when ``critic_full`` is false, nothing extra).

References:
* Brero, Eden, Chakrabarti, Gerstgrasser, Li, Parkes, *Stackelberg POMDP: A Reinforcement
  Learning Approach for Economic Design* (first titled *Learning Stackelberg Equilibria and
  Applications to Economic Design Games*), arXiv:2210.03852, 2023 (the Stackelberg POMDP paper).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from robustmas.compilation.lockstep import lockstep_cond
from robustmas.envs.core import Box, Discrete, Simplex, Space
from robustmas.equilibria.no_regret import bayesian_hedge_round, sample_profile, type_strategies

__all__ = [
    "StackelbergPOMDP",
    "StackelbergParams",
    "StackelbergState",
    "expected_leader_payoff",
    "expected_reward",
    "induced_payoffs",
    "run_dynamics",
]


@struct.dataclass
class StackelbergParams:
    """Data of a finite Stackelberg setting plus the POMDP's knobs (a frozen pytree)."""

    prior: jax.Array
    """Joint type prior, shape ``(T_1, ..., T_n)``."""
    follower_payoff: jax.Array
    """Shape ``(n, T_1..T_n, M_1..M_n, A)``."""
    leader_payoff: jax.Array
    """Shape ``(T_1..T_n, M_1..M_n, A)``."""
    obs_of: jax.Array
    """Leader observation index of each joint follower action, shape ``(M_1..M_n,)``, ints."""
    num_rounds: int = struct.field(pytree_node=False, default=100)
    """Equilibrium sub-episodes ``T`` (no-regret rounds)."""
    num_reward_rounds: int = struct.field(pytree_node=False, default=10)
    """Reward sub-episodes."""
    mw_step: float = 0.1
    """Multiplicative-weights update ``w <- w (1 + mw_step)^payoff``."""
    randomized: bool = struct.field(pytree_node=False, default=False)
    """Leader actions are probability vectors over ``A`` (a randomised commitment)."""
    simplex_actions: bool = struct.field(pytree_node=False, default=False)
    """With ``randomized``: expose the action space as ``Simplex(A)`` (a Dirichlet policy) instead
    of the paper's non-negative row weights ``Box(0, 1, (A,))`` that the environment clips and
    normalises.  Weights reach the boundary of the simplex exactly (e.g. probability 0 on row C of
    Maintain), which a Dirichlet mean only approaches."""
    critic_full: bool = struct.field(pytree_node=False, default=True)
    """Whether the critic view includes the map and the followers' strategies."""

    @property
    def num_followers(self) -> int:
        """``n``."""
        return self.prior.ndim

    @property
    def num_observations(self) -> int:
        """``K``: rows of the observation-action map (concrete ``obs_of`` only, not under jit)."""
        return int(np.asarray(self.obs_of).max()) + 1

    @property
    def num_leader_actions(self) -> int:
        """``A``."""
        return int(self.leader_payoff.shape[-1])


@struct.dataclass
class StackelbergState:
    """State of one episode."""

    step: jax.Array
    """Index of the observation being queried (``K`` once the episode is over)."""
    table: jax.Array
    """Observation-action map, shape ``(K, A)`` (rows of queried observations are filled)."""
    logits: jax.Array
    """Followers' log-weights per type, shape ``(n, T_max, M_max)`` (after the dynamics)."""


_BranchOperand = tuple[jax.Array, jax.Array, jax.Array, StackelbergParams]
"""(key, filled map, follower log-weights, params): what both branches of the last step read."""


class StackelbergPOMDP:
    """The environment; stateless, all data in :class:`StackelbergParams`.

    Create params with the presets in :mod:`robustmas.envs.stackelberg.settings`.
    """

    num_agents = 1

    def __init__(self, params: StackelbergParams):
        # Only static facts are read here (shapes), so one instance serves every vmapped params.
        self._default = params
        self._k = params.num_observations

    def default_params(self) -> StackelbergParams:
        """The params this environment was built with."""
        return self._default

    def max_episode_steps(self, params: StackelbergParams) -> int:
        """``K``: one decision step per leader observation, the last one ends the episode."""
        return self._k

    # ----------------------------------------------------------------------------------------
    def observation_space(self, params: StackelbergParams) -> Space:
        """One-hot index of the queried observation."""
        return Box(0.0, 1.0, (self._k,))

    def action_space(self, params: StackelbergParams) -> Space:
        """``Discrete(A)``, or for a randomising leader row weights ``Box(0, 1, (A,))``.

        With ``simplex_actions`` the randomising leader gets ``Simplex(A)`` instead.
        """
        a = params.num_leader_actions
        if not params.randomized:
            return Discrete(a)
        return Simplex(a) if params.simplex_actions else Box(0.0, 1.0, (a,))

    def critic_observation_space(self, params: StackelbergParams) -> Space:
        """Box of :meth:`critic_observation`'s size."""
        return Box(-1.0, 1.0, (self._critic_size(params),))

    def _critic_size(self, params: StackelbergParams) -> int:
        if not params.critic_full:
            return self._k
        n = params.prior.ndim
        t_max = max(params.prior.shape)
        m_max = max(params.obs_of.shape)
        return self._k + self._k * (params.num_leader_actions + 1) + n * t_max * m_max

    # ----------------------------------------------------------------------------------------
    def _obs(self, step: jax.Array) -> jax.Array:
        return jax.nn.one_hot(jnp.minimum(step, self._k - 1), self._k)

    def reset(
        self, key: jax.Array, params: StackelbergParams
    ) -> tuple[jax.Array, StackelbergState]:
        """Start an episode: empty map, uniform follower strategies."""
        del key
        n = params.prior.ndim
        t_max = max(params.prior.shape)
        m_max = max(params.obs_of.shape)
        state = StackelbergState(
            step=jnp.zeros((), jnp.int32),
            table=jnp.zeros((self._k, params.num_leader_actions)),
            logits=jnp.zeros((n, t_max, m_max)),
        )
        return self._obs(state.step), state

    def critic_observation(self, state: StackelbergState, params: StackelbergParams) -> jax.Array:
        """Queried observation, plus (``critic_full``) the map with a filled-mask and strategies."""
        obs = self._obs(state.step)
        if not params.critic_full:
            return obs
        filled = (jnp.arange(self._k) < state.step).astype(obs.dtype)
        strategies = jax.nn.softmax(state.logits, axis=-1)
        return jnp.concatenate([obs, state.table.reshape(-1), filled, strategies.reshape(-1)])

    def leader_row(self, action: jax.Array, params: StackelbergParams) -> jax.Array:
        """The row of the observation-action map that ``action`` stores."""
        a = params.num_leader_actions
        if params.randomized:
            w = jnp.clip(action, 0.0, None)
            total = w.sum()
            return jnp.where(total > 0, w / jnp.where(total > 0, total, 1.0), jnp.full(a, 1.0 / a))
        return jax.nn.one_hot(action, a)

    def step(
        self,
        key: jax.Array,
        state: StackelbergState,
        action: jax.Array,
        params: StackelbergParams,
    ) -> tuple[jax.Array, StackelbergState, jax.Array, jax.Array, dict[str, Any]]:
        """Record the answer for the queried observation; after the last one, run the dynamics."""
        table = state.table.at[state.step].set(self.leader_row(action, params))
        step = state.step + 1
        done = step >= self._k

        def finish(ops: _BranchOperand) -> tuple[jax.Array, jax.Array]:
            key, table, _, params = ops
            return run_dynamics(key, table, params)

        def wait(ops: _BranchOperand) -> tuple[jax.Array, jax.Array]:
            return ops[2], jnp.zeros(())

        # Under vmap a plain lax.cond would run the no-regret dynamics on every step; copies that
        # move in lockstep (a PPO rollout) run them only on the steps that end episodes.  The
        # branches read everything through the operand (see lockstep_cond).
        logits, reward = lockstep_cond(done, finish, wait, (key, table, state.logits, params))
        new_state = StackelbergState(step=step, table=table, logits=logits)
        info = {"leader_payoff": reward, "final": done}
        return self._obs(step), new_state, reward, done, info


def induced_payoffs(table: jax.Array, params: StackelbergParams) -> tuple[jax.Array, jax.Array]:
    """Follower and leader payoffs with the leader's answers plugged in.

    Returns ``(follower, leader)`` of shapes ``(n, T.., M..)`` and ``(T.., M..)``.
    """
    rows = table[params.obs_of]  # (M.., A): the leader's (mixed) answer to every joint action
    follower = jnp.sum(params.follower_payoff * rows, axis=-1)
    leader = jnp.sum(params.leader_payoff * rows, axis=-1)
    return follower, leader


def run_dynamics(
    key: jax.Array, table: jax.Array, params: StackelbergParams
) -> tuple[jax.Array, jax.Array]:
    """Equilibrium sub-episodes then reward sub-episodes for a filled observation-action map.

    Every equilibrium sub-episode is one round of the library's Bayesian Hedge
    (:func:`robustmas.equilibria.no_regret.bayesian_hedge_round`) on the followers' payoffs with
    the leader's answers plugged in; a reward sub-episode draws types and actions from the
    followers' final strategies (:func:`~robustmas.equilibria.no_regret.sample_profile`).

    Returns the followers' final log-weights ``(n, T_max, M_max)`` and the mean leader payoff over
    the reward sub-episodes (:func:`expected_reward` gives the expectation instead).
    """
    n = params.prior.ndim
    actions = params.obs_of.shape
    t_max, m_max = max(params.prior.shape), max(actions)
    follower, leader = induced_payoffs(table, params)
    rate = jnp.log1p(params.mw_step)
    log_prior = jnp.log(params.prior)

    def mw_round(logits: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
        logits, _ = bayesian_hedge_round(key, logits, follower, log_prior, rate)
        return logits, None

    k_mw, k_rew = jax.random.split(key)
    logits0 = jnp.zeros((n, t_max, m_max))
    logits, _ = jax.lax.scan(mw_round, logits0, jax.random.split(k_mw, params.num_rounds))

    def reward_round(total: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
        t, a = sample_profile(key, logits, log_prior, actions)
        return total + leader[(*t, *a)], None

    total, _ = jax.lax.scan(
        reward_round, jnp.zeros(()), jax.random.split(k_rew, params.num_reward_rounds)
    )
    return logits, total / params.num_reward_rounds


def expected_reward(table: jax.Array, logits: jax.Array, params: StackelbergParams) -> jax.Array:
    """The leader's expected payoff for a map ``table`` under follower log-weights ``logits``."""
    _, leader = induced_payoffs(table, params)
    return expected_leader_payoff(type_strategies(logits, params.obs_of.shape), leader, params)


def expected_leader_payoff(
    probs: jax.Array, leader: jax.Array, params: StackelbergParams
) -> jax.Array:
    """``E_t E_{a ~ sigma(t)} [leader(t, a)]`` for per-type strategies ``(n, T_max, M_max)``."""
    n = params.prior.ndim
    types = params.prior.shape
    actions = params.obs_of.shape
    out = leader * params.prior.reshape(types + (1,) * n)
    for i in range(n):
        p = probs[i, : types[i], : actions[i]]  # (T_i, M_i)
        shape = [1] * (2 * n)
        shape[i] = types[i]
        shape[n + i] = actions[i]
        out = out * p.reshape(shape)
    return out.sum()

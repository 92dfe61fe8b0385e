"""Tiny bandit environments for testing the learning core against known optima.

* :class:`ContextualBandit` -- each step shows a one-hot context ``c`` (uniform over contexts),
  the agent picks one of ``n`` arms (``Discrete``) and receives
  ``reward_table[c, a] + noise_std * N(0, 1)``.  Episodes last ``episode_length`` steps with a
  fresh context every step.  The optimal expected return per step is
  ``mean_c max_a reward_table[c, a]``.
* :class:`SimplexBandit` -- a one-step game whose action is a mixed strategy ``x`` over ``n``
  arms (``Simplex``); the reward is ``x @ payoffs + noise_std * N(0, 1)``, maximised by putting
  all weight on the best arm.
* :class:`CueMemory` -- a memory task for recurrent policies: a cue ``c`` (uniform over
  ``num_cues``) is shown only at the first of two steps; at the second step the agent is paid 1
  if its action equals ``c`` and 0 otherwise.  A recurrent policy earns 1 per episode; any
  memoryless policy sees the same observation at the second step whatever the cue, so its
  expected return is exactly ``1 / num_cues`` (0.5 for two cues).

All implement :class:`robustmas.envs.core.Environment` with ``num_agents == 1``.  Their
``critic_observation`` appends information the actor does not see (the expected reward row of
the current context, the payoff vector, or the cue), so a centralised critic has a real
advantage.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from robustmas.envs.core import Box, Discrete, Simplex

__all__ = [
    "BanditState",
    "ContextualBandit",
    "ContextualBanditParams",
    "CueMemory",
    "SimplexBandit",
    "SimplexBanditParams",
]


@struct.dataclass
class BanditState:
    """State of a bandit episode."""

    context: jax.Array
    """Index of the current context (int32 scalar)."""
    t: jax.Array
    """Steps taken in the current episode (int32 scalar)."""


@struct.dataclass
class ContextualBanditParams:
    """Parameters of :class:`ContextualBandit`."""

    reward_table: jax.Array
    """Expected reward of each arm in each context, shape ``(num_contexts, num_arms)``."""
    noise_std: jax.Array
    """Standard deviation of the Gaussian reward noise (float scalar)."""
    episode_length: int = struct.field(pytree_node=False, default=1)
    """Steps per episode (static)."""


@struct.dataclass
class SimplexBanditParams:
    """Parameters of :class:`SimplexBandit`."""

    payoffs: jax.Array
    """Expected reward of each arm, shape ``(num_arms,)``."""
    noise_std: jax.Array
    """Standard deviation of the Gaussian reward noise (float scalar)."""


def _new_context(key: jax.Array, num_contexts: int, t: jax.Array) -> BanditState:
    context = jax.random.randint(key, (), 0, num_contexts, dtype=jnp.int32)
    return BanditState(context=context, t=t)


class ContextualBandit:
    """A contextual bandit with one-hot contexts and a reward table in ``params``.

    Args:
        num_contexts: number of contexts.
        num_arms: number of arms (actions).

    """

    def __init__(self, num_contexts: int = 3, num_arms: int = 3) -> None:
        if num_contexts < 1:
            raise ValueError(f"num_contexts must be >= 1, got {num_contexts}")
        if num_arms < 1:
            raise ValueError(f"num_arms must be >= 1, got {num_arms}")
        self.num_contexts = num_contexts
        self.num_arms = num_arms

    @property
    def num_agents(self) -> int:
        """A single learning agent."""
        return 1

    def default_params(self) -> ContextualBanditParams:
        """A table whose best arm differs by context: ``table[c, a] = 1`` if ``a == c % n``.

        Other entries are ``0.1 * a``, the noise std is ``0.1`` and episodes last one step.
        """
        arms = jnp.arange(self.num_arms, dtype=jnp.float32)
        table = jnp.tile(0.1 * arms, (self.num_contexts, 1))
        best = jnp.arange(self.num_contexts) % self.num_arms
        table = table.at[jnp.arange(self.num_contexts), best].set(1.0)
        return ContextualBanditParams(reward_table=table, noise_std=jnp.float32(0.1))

    def optimal_return(self, params: ContextualBanditParams) -> float:
        """Expected return per episode of the best policy (uniform contexts)."""
        best = jnp.max(params.reward_table, axis=1).mean()
        return float(best) * params.episode_length

    def _obs(self, state: BanditState) -> jax.Array:
        return jax.nn.one_hot(state.context, self.num_contexts, dtype=jnp.float32)

    def reset(
        self, key: jax.Array, params: ContextualBanditParams
    ) -> tuple[jax.Array, BanditState]:
        """Draw the first context."""
        state = _new_context(key, self.num_contexts, jnp.int32(0))
        return self._obs(state), state

    def step(
        self,
        key: jax.Array,
        state: BanditState,
        action: jax.Array,
        params: ContextualBanditParams,
    ) -> tuple[jax.Array, BanditState, jax.Array, jax.Array, dict[str, Any]]:
        """Pay the reward of ``action`` in the current context and draw the next context."""
        key_noise, key_context = jax.random.split(key)
        mean = params.reward_table[state.context, action]
        reward = mean + params.noise_std * jax.random.normal(key_noise, dtype=jnp.float32)
        t = state.t + 1
        next_state = _new_context(key_context, self.num_contexts, t)
        done = t >= params.episode_length
        return self._obs(next_state), next_state, reward, done, {"expected_reward": mean}

    def observation_space(self, params: ContextualBanditParams) -> Box:
        """One-hot context."""
        return Box(0.0, 1.0, (self.num_contexts,))

    def action_space(self, params: ContextualBanditParams) -> Discrete:
        """One arm."""
        return Discrete(self.num_arms)

    def critic_observation(self, state: BanditState, params: ContextualBanditParams) -> jax.Array:
        """One-hot context followed by the expected rewards of all arms in that context."""
        return jnp.concatenate([self._obs(state), params.reward_table[state.context]])

    def critic_observation_space(self, params: ContextualBanditParams) -> Box:
        """Space of :meth:`critic_observation` (unbounded, so that it never reads ``params``)."""
        return Box(-float("inf"), float("inf"), (self.num_contexts + self.num_arms,))


class SimplexBandit:
    """A one-step game whose action is a probability vector over arms.

    Args:
        num_arms: number of arms.

    """

    def __init__(self, num_arms: int = 3) -> None:
        if num_arms < 2:
            raise ValueError(f"num_arms must be >= 2, got {num_arms}")
        self.num_arms = num_arms

    @property
    def num_agents(self) -> int:
        """A single learning agent."""
        return 1

    def default_params(self) -> SimplexBanditParams:
        """Payoffs ``[0.2, 1.0, 0.5, 0.5, ...]`` (arm 1 is best) and noise std ``0.1``."""
        payoffs = jnp.full((self.num_arms,), 0.5, dtype=jnp.float32)
        payoffs = payoffs.at[0].set(0.2).at[1].set(1.0)
        return SimplexBanditParams(payoffs=payoffs, noise_std=jnp.float32(0.1))

    def reset(self, key: jax.Array, params: SimplexBanditParams) -> tuple[jax.Array, BanditState]:
        """Start the single-step episode; the observation is the constant ``[1.0]``."""
        state = BanditState(context=jnp.int32(0), t=jnp.int32(0))
        return jnp.ones((1,), jnp.float32), state

    def step(
        self,
        key: jax.Array,
        state: BanditState,
        action: jax.Array,
        params: SimplexBanditParams,
    ) -> tuple[jax.Array, BanditState, jax.Array, jax.Array, dict[str, Any]]:
        """Pay ``action @ payoffs`` plus noise and end the episode."""
        mean = jnp.dot(action, params.payoffs)
        reward = mean + params.noise_std * jax.random.normal(key, dtype=jnp.float32)
        next_state = BanditState(context=state.context, t=state.t + 1)
        done = jnp.bool_(True)
        return jnp.ones((1,), jnp.float32), next_state, reward, done, {"expected_reward": mean}

    def observation_space(self, params: SimplexBanditParams) -> Box:
        """The constant observation ``[1.0]``."""
        return Box(0.0, 1.0, (1,))

    def action_space(self, params: SimplexBanditParams) -> Simplex:
        """Mixed strategies over the arms."""
        return Simplex(self.num_arms)

    def critic_observation(self, state: BanditState, params: SimplexBanditParams) -> jax.Array:
        """The constant observation followed by the payoff vector."""
        return jnp.concatenate([jnp.ones((1,), jnp.float32), params.payoffs])

    def critic_observation_space(self, params: SimplexBanditParams) -> Box:
        """Space of :meth:`critic_observation` (unbounded, so that it never reads ``params``)."""
        return Box(-float("inf"), float("inf"), (1 + self.num_arms,))


class CueMemory:
    """Remember a cue for one step: a two-step episode (see the module docstring).

    Observation ``[one_hot(cue) if t == 0 else 0, t == 1]`` of size ``num_cues + 1``; action one
    of ``num_cues`` arms (ignored at the first step); reward ``1[action == cue]`` at the second
    step and 0 at the first.

    Args:
        num_cues: number of cues (and arms).

    """

    def __init__(self, num_cues: int = 2) -> None:
        if num_cues < 2:
            raise ValueError(f"num_cues must be >= 2, got {num_cues}")
        self.num_cues = num_cues

    @property
    def num_agents(self) -> int:
        """A single learning agent."""
        return 1

    def default_params(self) -> None:
        """No parameters."""
        return None

    def _obs(self, state: BanditState) -> jax.Array:
        cue = jax.nn.one_hot(state.context, self.num_cues, dtype=jnp.float32)
        first = state.t == 0
        return jnp.concatenate([jnp.where(first, cue, 0.0), (~first).astype(jnp.float32)[None]])

    def reset(self, key: jax.Array, params: None) -> tuple[jax.Array, BanditState]:
        """Draw the cue and show it."""
        state = _new_context(key, self.num_cues, jnp.int32(0))
        return self._obs(state), state

    def step(
        self, key: jax.Array, state: BanditState, action: jax.Array, params: None
    ) -> tuple[jax.Array, BanditState, jax.Array, jax.Array, dict[str, Any]]:
        """Pay ``1[action == cue]`` at the second step, which ends the episode."""
        recall = state.t == 1
        reward = jnp.where(recall & (action == state.context), 1.0, 0.0).astype(jnp.float32)
        next_state = BanditState(context=state.context, t=state.t + 1)
        return self._obs(next_state), next_state, reward, recall, {}

    def observation_space(self, params: None) -> Box:
        """Cue one-hot (first step only) and a second-step flag."""
        return Box(0.0, 1.0, (self.num_cues + 1,))

    def action_space(self, params: None) -> Discrete:
        """One arm per cue."""
        return Discrete(self.num_cues)

    def critic_observation(self, state: BanditState, params: None) -> jax.Array:
        """The observation followed by the cue one-hot (at both steps)."""
        cue = jax.nn.one_hot(state.context, self.num_cues, dtype=jnp.float32)
        return jnp.concatenate([self._obs(state), cue])

    def critic_observation_space(self, params: None) -> Box:
        """Space of :meth:`critic_observation`."""
        return Box(0.0, 1.0, (2 * self.num_cues + 1,))

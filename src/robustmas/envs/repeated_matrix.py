"""A repeated ``N``-player normal-form game as a multi-agent JAX environment.

Every episode plays the stage game :class:`~robustmas.games.normal_form.NormalFormGame`
``episode_length`` times.  At each step the ``N`` agents choose actions ``a = (a_1, ..., a_N)``
simultaneously and agent ``i`` receives ``payoffs[i][a]``; the episode ends after
``episode_length`` steps (``done`` is shared).  The game's payoff tensor lives in the
parameters, so one compiled trainer ``vmap``s over games of the same shape (e.g. reward
perturbations or unseen agent types).

Conventions (multi-agent protocol of :mod:`robustmas.envs.core`, homogeneous agents: every
player has the same number ``m`` of actions):

* observation of each agent, shape ``(N, N * m)`` stacked: the one-hot encoding of the
  *previous* joint action (block ``j`` is player ``j``'s action), all zeros at the first step.
  All agents see the same vector; a trainer tells them apart by their position on the agent
  axis (e.g. :class:`~robustmas.rl.ppo.PPO`'s ``agent_id``).
* actions: ``Discrete(m)`` per agent, stacked to shape ``(N,)``.
* rewards: shape ``(N,)``, ``payoffs[:, a_1, ..., a_N]``.
* critic observation: the previous joint action one-hot (``N * m``) followed by the fraction
  ``t / episode_length`` of the episode played, shape ``(N * m + 1,)``.

With ``episode_length == 1`` this is the one-shot game, whose (expected) returns are exactly the
stage payoffs.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from robustmas.envs.core import Box, Discrete
from robustmas.games.normal_form import NormalFormGame

__all__ = ["RepeatedMatrixGame", "RepeatedMatrixParams", "RepeatedMatrixState"]


@struct.dataclass
class RepeatedMatrixParams:
    """Parameters of :class:`RepeatedMatrixGame`."""

    payoffs: jax.Array
    """Stage payoffs, shape ``(N, m, ..., m)``: ``payoffs[i][a]`` for player ``i``."""
    episode_length: int = struct.field(pytree_node=False, default=1)
    """Stages per episode (static)."""


@struct.dataclass
class RepeatedMatrixState:
    """State of an episode."""

    last_action: jax.Array
    """Previous joint action, shape ``(N,)`` int32 (``-1`` before the first stage)."""
    t: jax.Array
    """Stages played in the current episode (int32 scalar)."""


class RepeatedMatrixGame:
    """``N`` agents repeatedly playing a normal-form game; see the module docstring.

    Args:
        game: the stage game (every player needs the same number of actions).
        episode_length: default number of stages per episode (used by :meth:`default_params`).

    """

    def __init__(self, game: NormalFormGame, episode_length: int = 1) -> None:
        actions = game.num_actions
        if len(set(actions)) != 1:
            raise ValueError(
                f"RepeatedMatrixGame needs the same number of actions for every player, got "
                f"{actions}"
            )
        if episode_length < 1:
            raise ValueError(f"episode_length must be >= 1, got {episode_length}")
        self.game = game
        self.players = game.num_players
        self.actions = actions[0]
        self.episode_length = episode_length

    @property
    def num_agents(self) -> int:
        """The game's players."""
        return self.players

    def make_params(
        self, payoffs: np.ndarray | jax.Array, episode_length: int | None = None
    ) -> RepeatedMatrixParams:
        """Parameters with other payoffs of the same shape (and optionally another length)."""
        payoffs = jnp.asarray(payoffs, jnp.float32)
        want = (self.players,) + (self.actions,) * self.players
        if payoffs.shape != want:
            raise ValueError(f"payoffs must have shape {want}, got {payoffs.shape}")
        length = self.episode_length if episode_length is None else int(episode_length)
        if length < 1:
            raise ValueError(f"episode_length must be >= 1, got {length}")
        return RepeatedMatrixParams(payoffs=payoffs, episode_length=length)

    def default_params(self) -> RepeatedMatrixParams:
        """The stage game's payoffs (float32) and the constructor's episode length."""
        return self.make_params(self.game.payoffs)

    def _one_hot(self, joint_action: jax.Array) -> jax.Array:
        # one_hot of -1 is all zeros: the "no previous action" encoding.
        return jax.nn.one_hot(joint_action, self.actions, dtype=jnp.float32).reshape(-1)

    def _obs(self, state: RepeatedMatrixState) -> jax.Array:
        return jnp.broadcast_to(
            self._one_hot(state.last_action), (self.players, self.players * self.actions)
        )

    def reset(
        self, key: jax.Array, params: RepeatedMatrixParams
    ) -> tuple[jax.Array, RepeatedMatrixState]:
        """Start an episode (deterministic: no previous action, ``t = 0``)."""
        state = RepeatedMatrixState(
            last_action=jnp.full((self.players,), -1, jnp.int32), t=jnp.int32(0)
        )
        return self._obs(state), state

    def step(
        self,
        key: jax.Array,
        state: RepeatedMatrixState,
        action: jax.Array,
        params: RepeatedMatrixParams,
    ) -> tuple[jax.Array, RepeatedMatrixState, jax.Array, jax.Array, dict[str, Any]]:
        """Play one stage with the joint action ``action`` (shape ``(N,)``)."""
        action = jnp.asarray(action, jnp.int32).reshape((self.players,))
        reward = params.payoffs[(slice(None), *(action[i] for i in range(self.players)))]
        t = state.t + 1
        next_state = RepeatedMatrixState(last_action=action, t=t)
        done = t >= params.episode_length
        return self._obs(next_state), next_state, reward, done, {"joint_action": action}

    def observation_space(self, params: RepeatedMatrixParams) -> Box:
        """One agent's observation: the previous joint action one-hot."""
        return Box(0.0, 1.0, (self.players * self.actions,))

    def action_space(self, params: RepeatedMatrixParams) -> Discrete:
        """One agent's action."""
        return Discrete(self.actions)

    def critic_observation(
        self, state: RepeatedMatrixState, params: RepeatedMatrixParams
    ) -> jax.Array:
        """Previous joint action one-hot and the fraction of the episode played."""
        frac = state.t.astype(jnp.float32) / params.episode_length
        return jnp.concatenate([self._one_hot(state.last_action), frac[None]])

    def critic_observation_space(self, params: RepeatedMatrixParams) -> Box:
        """Space of :meth:`critic_observation`."""
        return Box(0.0, 1.0, (self.players * self.actions + 1,))

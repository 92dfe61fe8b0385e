"""The economy's agents and its tax planner as one multi-agent environment (planner last).

The AI Economist's joint phase (Zheng et al. 2020, "The AI Economist", arXiv:2004.13332: the
planner and the agents learn at the same time) and the robust-principal papers' algorithms on the
economy (RP Sec. 6, ERMAS Sec. 4.4) train the planner and the agents together.  The library's
joint learners (:class:`~robustmas.robust.marl.JointPPO`,
:class:`~robustmas.robust.adversarial_sampling.AdversarialSampler`) and the evaluation workflow
(:func:`~robustmas.robust.evaluation.evaluate_principals`) take a multi-agent environment whose
players share one observation and one action space, the principal last.  The agents and the
planner do not share them, so :class:`EconomyJoint` pads both, exactly:

* **Actions**: ``MultiDiscrete((50, 22, ..., 22))``, component 0 the agent's action, components
  1-7 a rate choice per bracket.  Each player's mask allows only choice 0 in the components that
  are not its own (an agent's brackets, the planner's agent action), so those components carry
  no probability mass elsewhere: their log-probability and entropy are exactly 0 and each
  player's policy is its own view's policy.
* **Observations**: the joint mask (``50 + 7 x 22 = 204`` entries, what
  ``PPOConfig.action_mask_size`` reads) first, then the player's own features, zero-padded to
  the longer of the two: an agent's 11 x 11 windows and flat features
  (:func:`~robustmas.envs.economy.agents_view.flatten_agents` without its mask), the planner's
  flat features and, with ``planner_maps``, its 25 x 25 maps.

Without ``planner_maps`` (the default) the planner sees its flat features only (inventories,
rates, incomes: 118 numbers) rather than its 8 x 25 x 25 maps: the papers' planner reads the maps
with a convolutional network; an MLP reads 5,000 raw map cells mostly as noise, and padding every
agent to that width would make the agents' networks four times wider.

Rewards: the agents' utility changes, then the planner's ``swf`` change (returns: final utility
and final ``swf``).  Agent types are data in :class:`~robustmas.envs.economy.env.EconomyParams`
(``isoelastic_eta``); tax annealing is its ``rate_max``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from robustmas.envs.core import Box, MultiDiscrete
from robustmas.envs.economy.agents_view import flatten_agents
from robustmas.envs.economy.env import (
    EconomyAction,
    EconomyObs,
    EconomyParams,
    EconomyState,
    GatherTradeBuild,
)

__all__ = ["EconomyJoint"]


class EconomyJoint:
    """The four agents and the planner (the last player) of a :class:`GatherTradeBuild`.

    Args:
        economy: the economy; its ``tax_model`` must be ``"planner"``.
        planner_maps: also give the planner its ``8 x 25 x 25`` maps (pads every observation to
            their width).
    """

    def __init__(self, economy: GatherTradeBuild | None = None, planner_maps: bool = False) -> None:
        economy = economy or GatherTradeBuild(tax_model="planner")
        if economy.tax_model != "planner":
            raise ValueError(
                f"economy: EconomyJoint needs tax_model='planner', got {economy.tax_model!r}"
            )
        self.economy = economy
        self.planner_maps = planner_maps
        self.agent_actions = economy.num_actions
        self.choices = economy.rate_grid.shape[0] + 1
        self.brackets = economy.num_brackets
        self.mask_size = self.agent_actions + self.brackets * self.choices
        """Width of the joint mask that leads every observation."""
        agent_features = math.prod(economy.agent_image_shape) + economy.agent_flat_size
        height, width = economy.layout.shape
        planner_features = economy.planner_flat_size + (8 * height * width if planner_maps else 0)
        self.feature_size = max(agent_features, planner_features)
        """Width of the padded features after the mask."""

    @property
    def num_agents(self) -> int:
        """The agents and the planner."""
        return self.economy.n_agents + 1

    def default_params(self) -> EconomyParams:
        """The papers' economy."""
        return self.economy.default_params()

    def max_episode_steps(self, params: EconomyParams) -> int:
        """The economy's episode length."""
        return params.episode_length

    def observation_space(self, params: EconomyParams) -> Box:
        """One player's padded observation (joint mask first)."""
        return Box(-1e6, 1e6, (self.mask_size + self.feature_size,))

    def action_space(self, params: EconomyParams) -> MultiDiscrete:
        """An agent action and a rate choice per bracket (each player uses its own part)."""
        return MultiDiscrete((self.agent_actions,) + (self.choices,) * self.brackets)

    def critic_observation_space(self, params: EconomyParams) -> Box:
        """The planner's flat features."""
        return Box(-1e6, 1e6, (self.economy.planner_flat_size,))

    def critic_observation(self, state: EconomyState, params: EconomyParams) -> jax.Array:
        """The planner's view without its maps."""
        return self.economy.observe(state, params).planner_flat

    def _pad(self, x: jax.Array) -> jax.Array:
        return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, self.feature_size - x.shape[-1])])

    def flatten(self, obs: EconomyObs) -> jax.Array:
        """Observations ``(N + 1, mask_size + feature_size)``: the agents', then the planner's."""
        n = self.economy.n_agents
        only_first = jnp.zeros((self.brackets, self.choices), jnp.float32).at[:, 0].set(1.0)
        agents = flatten_agents(obs)
        agent_mask = jnp.concatenate(
            [agents[:, : self.agent_actions], jnp.tile(only_first.reshape(1, -1), (n, 1))],
            axis=1,
        )
        planner_mask = jnp.concatenate(
            [
                jnp.zeros((self.agent_actions,), jnp.float32).at[0].set(1.0),
                obs.planner_mask.reshape(-1).astype(jnp.float32),
            ]
        )
        parts = [obs.planner_flat]
        if self.planner_maps:
            parts = [
                obs.planner_map.reshape(-1).astype(jnp.float32),
                obs.planner_idx.reshape(-1).astype(jnp.float32),
                obs.planner_flat,
            ]
        planner = jnp.concatenate([planner_mask, self._pad(jnp.concatenate(parts))])
        agents = jnp.concatenate([agent_mask, self._pad(agents[:, self.agent_actions :])], axis=1)
        return jnp.concatenate([agents, planner[None]], axis=0)

    def reset(self, key: jax.Array, params: EconomyParams) -> tuple[jax.Array, EconomyState]:
        """A new episode."""
        obs, state = self.economy.reset(key, params)
        return self.flatten(obs), state

    def reset_from(
        self, key: jax.Array, state: EconomyState, params: EconomyParams
    ) -> tuple[jax.Array, EconomyState]:
        """A new episode (nothing outlives an episode under a planner)."""
        return self.reset(key, params)

    def step(
        self, key: jax.Array, state: EconomyState, action: jax.Array, params: EconomyParams
    ) -> tuple[jax.Array, EconomyState, jax.Array, jax.Array, dict[str, Any]]:
        """``action``: ``(N + 1, 8)``; the agents' component 0 and the planner's 1-7 are used."""
        n = self.economy.n_agents
        joint = EconomyAction(agents=action[:n, 0], planner=action[n, 1:])
        obs, state, reward, done, info = self.economy.step(key, state, joint, params)
        return self.flatten(obs), state, reward, done, info

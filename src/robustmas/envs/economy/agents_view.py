"""The economy as a robustmas multi-agent environment: four agents under a fixed tax model.

:class:`~robustmas.envs.economy.env.GatherTradeBuild` has heterogeneous players (the agents'
windows, the planner's whole map and multi-discrete rates).  :class:`EconomyAgents` exposes the
four agents alone through the library's protocol (:mod:`robustmas.envs.core`), so every
trainer, checker and adapter works on it: the taxes follow the economy's ``fixed`` or ``saez``
model (free market, US federal, Saez) -- the AI Economist's first phase, agents trained under
a free market, and the fixed-tax rows of the papers' tables.

Each agent's observation is one flat vector: its action mask first (``1`` allowed: what
``PPOConfig.action_mask_size = 50`` reads), its ``7 x 11 x 11`` map window, its ``2 x 11 x 11``
index window and its flat features (the time among them); :meth:`EconomyAgents.layout` gives
the slices.  Actions
are ``Discrete(50)``; a masked-out action is a no-op, as in the AI Economist.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from robustmas.envs.core import Box, Discrete
from robustmas.envs.economy.env import (
    EconomyAction,
    EconomyObs,
    EconomyParams,
    EconomyState,
    GatherTradeBuild,
)
from robustmas.envs.economy.observation import AGENT_INDEX_CHANNELS, AGENT_MAP_CHANNELS

__all__ = ["FIXED_TAXES", "EconomyAgents", "allowed_uniform", "fixed_tax_economy", "flatten_agents"]


FIXED_TAXES = ("free-market", "us-federal", "saez")
"""Tax models that need no planner."""


def fixed_tax_economy(taxes: str, **params: Any) -> tuple[GatherTradeBuild, EconomyParams]:
    """The economy of a fixed tax model and its checked parameters.

    Args:
        taxes: ``"free-market"`` (no taxes), ``"us-federal"`` (the 2018 schedule) or ``"saez"``.
        **params: :meth:`GatherTradeBuild.make_params` arguments but ``fixed_rates``.
    """
    if taxes not in FIXED_TAXES:
        raise ValueError(f"taxes: expected one of {', '.join(FIXED_TAXES)}, got {taxes!r}")
    economy = GatherTradeBuild(tax_model="saez" if taxes == "saez" else "fixed")
    rates = "us-federal" if taxes == "us-federal" else None
    return economy, economy.make_params(fixed_rates=rates, **params)


def flatten_agents(obs: EconomyObs) -> jax.Array:
    """The agents' flat observation vectors ``(N, D)``: mask, map window, index window, features."""
    n = obs.agent_mask.shape[0]
    return jnp.concatenate(
        [
            obs.agent_mask.astype(jnp.float32),
            obs.agent_map.reshape(n, -1).astype(jnp.float32),
            obs.agent_idx.reshape(n, -1).astype(jnp.float32),
            obs.agent_flat,
        ],
        axis=1,
    )


def allowed_uniform(key: jax.Array, mask: jax.Array) -> jax.Array:
    """Uniform choices among the allowed actions of each row of a boolean ``mask``.

    The random policy every comparison with the AI Economist uses (its masks, uniform).
    """
    return jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf)).astype(jnp.int32)


class EconomyAgents:
    """The agents of a :class:`GatherTradeBuild` whose taxes need no planner.

    Args:
        economy: the economy; its ``tax_model`` must be ``"fixed"`` or ``"saez"``.
    """

    def __init__(self, economy: GatherTradeBuild | None = None) -> None:
        economy = economy or GatherTradeBuild(tax_model="fixed")
        if economy.tax_model == "planner":
            raise ValueError(
                "economy: EconomyAgents needs tax_model='fixed' or 'saez' (no planner acts; "
                "EconomyAgentsUnderPlanner takes a planner's policy); got 'planner'"
            )
        self._init_view(economy)

    def _init_view(self, economy: GatherTradeBuild) -> None:
        self.economy = economy
        _, side, _ = economy.agent_image_shape
        self._sizes = {
            "mask": economy.num_actions,
            "map": AGENT_MAP_CHANNELS * side * side,
            "idx": AGENT_INDEX_CHANNELS * side * side,
            "flat": economy.agent_flat_size,
        }

    @property
    def num_agents(self) -> int:
        """The four agents."""
        return self.economy.n_agents

    def layout(self) -> dict[str, slice]:
        """Where each part sits in an observation vector."""
        out, start = {}, 0
        for name, size in self._sizes.items():
            out[name] = slice(start, start + size)
            start += size
        return out

    def default_params(self) -> EconomyParams:
        """The economy's defaults (free market under ``fixed``)."""
        return self.economy.default_params()

    def max_episode_steps(self, params: EconomyParams) -> int:
        """The economy's episode length."""
        return params.episode_length

    def observation_space(self, params: EconomyParams) -> Box:
        """One agent's flat observation."""
        return Box(-1e6, 1e6, (sum(self._sizes.values()),))

    def action_space(self, params: EconomyParams) -> Discrete:
        """The AI Economist's 50 agent actions."""
        return Discrete(self.economy.num_actions)

    def critic_observation_space(self, params: EconomyParams) -> Box:
        """The planner's flat features."""
        return Box(-1e6, 1e6, (self.economy.planner_flat_size,))

    def critic_observation(self, state: EconomyState, params: EconomyParams) -> jax.Array:
        """The planner's view without its maps."""
        return self.economy.observe(state, params).planner_flat

    def flatten(self, obs: EconomyObs) -> jax.Array:
        """The agents' flat observation vectors ``(N, D)`` (:func:`flatten_agents`)."""
        return flatten_agents(obs)

    def reset(self, key: jax.Array, params: EconomyParams) -> tuple[jax.Array, EconomyState]:
        """A new episode."""
        obs, state = self.economy.reset(key, params)
        return self.flatten(obs), state

    def reset_from(
        self, key: jax.Array, state: EconomyState, params: EconomyParams
    ) -> tuple[jax.Array, EconomyState]:
        """A new episode that keeps the cross-episode memory (Saez's income buffer)."""
        obs, state = self.economy.reset_from(key, state, params)
        return self.flatten(obs), state

    def step(
        self, key: jax.Array, state: EconomyState, action: jax.Array, params: EconomyParams
    ) -> tuple[jax.Array, EconomyState, jax.Array, jax.Array, dict[str, Any]]:
        """One step; rewards are the agents' utility changes."""
        planner = jnp.zeros(self.economy.num_brackets, jnp.int32)
        obs, state, reward, done, info = self.economy.step(
            key, state, EconomyAction(agents=action, planner=planner), params
        )
        return self.flatten(obs), state, reward[: self.num_agents], done, info

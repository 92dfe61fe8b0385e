"""The economy's tax planner as a robustmas environment, the agents acting by a given policy.

:class:`EconomyPlanner` exposes the planner of a :class:`GatherTradeBuild` (``tax_model =
"planner"``) through the library's protocol (:mod:`robustmas.envs.core`): one learner whose
action is a rate choice per bracket (``MultiDiscrete``, 22 choices each: 0 keeps the rate,
``k`` picks ``0.05 (k - 1)``) and whose reward is the change of the AI Economist's ``swf``, so its
episode return is the final ``swf``.  The four agents act every step by ``agent_policy``
(``policy(agent_params, key, agent_obs) -> actions``) with ``agent_params`` carried as data in
:class:`PlannerParams` -- frozen agents for the planner phase of the AI Economist's pipeline
(Zheng et al. 2020) and for the robust planners, vmappable over agent populations.  Without a
policy the agents pick uniformly among their allowed actions.

The observation is one flat vector: the planner's mask first (``7 x 22``, what
``PPOConfig.action_mask_size = 154`` reads), its ``6 x 25 x 25`` map, ``2 x 25 x 25`` index
map and flat features.  The agents see :class:`~robustmas.envs.economy.agents_view.EconomyAgents`'
vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from robustmas.envs.core import Box, MultiDiscrete
from robustmas.envs.economy.agents_view import EconomyAgents, allowed_uniform, flatten_agents
from robustmas.envs.economy.env import (
    EconomyAction,
    EconomyObs,
    EconomyParams,
    EconomyState,
    GatherTradeBuild,
)

__all__ = [
    "AgentPolicy",
    "EconomyAgentsUnderPlanner",
    "EconomyPlanner",
    "PlannerParams",
    "PlannerPolicy",
    "TaxedAgentsParams",
    "uniform_agents",
]

AGENT_ACTIONS = 50
"""Actions of an agent (the width of its mask)."""

AgentPolicy = Callable[[Any, jax.Array, jax.Array], jax.Array]
"""``policy(agent_params, key, obs) -> actions``: obs ``(N, D)`` (``EconomyAgents`` vectors),
actions ``(N,)`` int."""


def uniform_agents(agent_params: Any, key: jax.Array, obs: jax.Array) -> jax.Array:
    """Each agent picks uniformly among its allowed actions (the mask leads ``obs``)."""
    del agent_params
    return allowed_uniform(key, obs[:, :AGENT_ACTIONS] > 0.5)


@struct.dataclass
class PlannerParams:
    """The economy's parameters and the agents' (frozen) policy parameters."""

    economy: EconomyParams
    """Parameters of the economy (agent types as data)."""
    agent_params: Any = None
    """Data of ``agent_policy`` (e.g. a trained actor's variables); ``None`` for none."""

    @property
    def episode_length(self) -> int:
        """The economy's episode length (the declared horizon)."""
        return self.economy.episode_length


class EconomyPlanner:
    """The planner of a :class:`GatherTradeBuild` as a one-learner environment.

    Args:
        economy: the economy; its ``tax_model`` must be ``"planner"``.
        agent_policy: how the agents act (:data:`AgentPolicy`); uniform over allowed actions if
            ``None``.
    """

    def __init__(
        self, economy: GatherTradeBuild | None = None, agent_policy: AgentPolicy | None = None
    ) -> None:
        economy = economy or GatherTradeBuild(tax_model="planner")
        if economy.tax_model != "planner":
            raise ValueError(
                f"economy: EconomyPlanner needs tax_model='planner', got {economy.tax_model!r}"
            )
        self.economy = economy
        self.agent_policy = agent_policy or uniform_agents
        height, width = economy.layout.shape
        self.choices = economy.rate_grid.shape[0] + 1
        self._mask = economy.num_brackets * self.choices
        self._size = self._mask + 8 * height * width + economy.planner_flat_size

    @property
    def num_agents(self) -> int:
        """One learner, the planner."""
        return 1

    def default_params(self) -> PlannerParams:
        """The papers' economy, agents acting uniformly."""
        return PlannerParams(economy=self.economy.default_params())

    def max_episode_steps(self, params: PlannerParams) -> int:
        """The economy's episode length."""
        return params.economy.episode_length

    def observation_space(self, params: PlannerParams) -> Box:
        """The planner's flat observation (mask first)."""
        return Box(-1e6, 1e6, (self._size,))

    def action_space(self, params: PlannerParams) -> MultiDiscrete:
        """A choice per bracket."""
        return MultiDiscrete((self.choices,) * self.economy.num_brackets)

    def critic_observation_space(self, params: PlannerParams) -> Box:
        """The planner's own observation."""
        return self.observation_space(params)

    def critic_observation(self, state: EconomyState, params: PlannerParams) -> jax.Array:
        """The planner's observation of ``state``."""
        return self._planner_obs(state, params)

    def _planner_obs(self, state: EconomyState, params: PlannerParams) -> jax.Array:
        return self._vector(self.economy.observe(state, params.economy))

    @staticmethod
    def _vector(obs: EconomyObs) -> jax.Array:
        return jnp.concatenate(
            [
                obs.planner_mask.reshape(-1).astype(jnp.float32),
                obs.planner_map.reshape(-1).astype(jnp.float32),
                obs.planner_idx.reshape(-1).astype(jnp.float32),
                obs.planner_flat,
            ]
        )

    def reset(self, key: jax.Array, params: PlannerParams) -> tuple[jax.Array, EconomyState]:
        """A new episode."""
        _, state = self.economy.reset(key, params.economy)
        return self._planner_obs(state, params), state

    def step(
        self, key: jax.Array, state: EconomyState, action: jax.Array, params: PlannerParams
    ) -> tuple[jax.Array, EconomyState, jax.Array, jax.Array, dict[str, Any]]:
        """The agents act by their policy, the planner by ``action``; reward: the swf change."""
        key_agents, key_step = jax.random.split(key)
        agent_obs = flatten_agents(self.economy.observe(state, params.economy))
        agents = self.agent_policy(params.agent_params, key_agents, agent_obs)
        obs, state, reward, done, info = self.economy.step(
            key_step, state, EconomyAction(agents=agents, planner=action), params.economy
        )
        return self._vector(obs), state, reward[-1], done, info


PlannerPolicy = Callable[[Any, jax.Array, jax.Array], jax.Array]
"""``policy(planner_params, key, obs) -> (7,)`` rate choices; obs: :class:`EconomyPlanner`'s."""


@struct.dataclass
class TaxedAgentsParams:
    """The economy's parameters and the planner's (frozen) policy parameters."""

    economy: EconomyParams
    """Parameters of the economy (agent types as data)."""
    planner_params: Any = None
    """Data of the planner's policy (e.g. a trained actor's variables)."""

    @property
    def episode_length(self) -> int:
        """The economy's episode length (the declared horizon)."""
        return self.economy.episode_length


class EconomyAgentsUnderPlanner(EconomyAgents):
    """The four agents learning while a given planner policy sets the taxes.

    The evaluation workflow of the robust-principal papers (a frozen planner, fresh agents of
    each test type trained against it) and the agents' half of the AI Economist's joint
    training.  Observations, actions and rewards are :class:`EconomyAgents`'; the planner
    acts every step by ``planner_policy`` on :class:`EconomyPlanner`'s observation (its mask
    allows new rates only on a period's first step).

    Args:
        planner_policy: the planner (:data:`PlannerPolicy`).
        economy: the economy; its ``tax_model`` must be ``"planner"``.
    """

    def __init__(
        self, planner_policy: PlannerPolicy, economy: GatherTradeBuild | None = None
    ) -> None:
        economy = economy or GatherTradeBuild(tax_model="planner")
        if economy.tax_model != "planner":
            raise ValueError(
                "economy: EconomyAgentsUnderPlanner needs tax_model='planner', got "
                f"{economy.tax_model!r}"
            )
        self._init_view(economy)
        self.planner_view = EconomyPlanner(economy)
        self.planner_policy = planner_policy

    def default_params(self) -> TaxedAgentsParams:  # type: ignore[override]
        """The papers' economy; the planner's parameters must be filled in."""
        return TaxedAgentsParams(economy=self.economy.default_params())

    def critic_observation(self, state: EconomyState, params: Any) -> jax.Array:
        """The planner's flat features."""
        return self.economy.observe(state, params.economy).planner_flat

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, EconomyState]:
        """A new episode."""
        obs, state = self.economy.reset(key, params.economy)
        return self.flatten(obs), state

    def reset_from(self, key: jax.Array, state: EconomyState, params: Any) -> Any:
        """A new episode (nothing outlives an episode under a planner)."""
        return self.reset(key, params)

    def step(
        self, key: jax.Array, state: EconomyState, action: jax.Array, params: Any
    ) -> tuple[jax.Array, EconomyState, jax.Array, jax.Array, dict[str, Any]]:
        """The planner acts by its policy, the agents by ``action``."""
        if params.planner_params is None:
            raise ValueError(
                "params.planner_params: None; give the planner policy's parameters "
                "(TaxedAgentsParams(economy=..., planner_params=...))"
            )
        key_planner, key_step = jax.random.split(key)
        planner_obs = self.planner_view.critic_observation(
            state, PlannerParams(economy=params.economy)
        )
        rates = self.planner_policy(params.planner_params, key_planner, planner_obs)
        obs, state, reward, done, info = self.economy.step(
            key_step, state, EconomyAction(agents=action, planner=rates), params.economy
        )
        return self.flatten(obs), state, reward[: self.num_agents], done, info

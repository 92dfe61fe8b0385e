"""PettingZoo ``ParallelEnv`` adapter for the multi-agent JAX environments (``pettingzoo`` extra).

:class:`PettingZooParallelEnv` wraps a multi-agent environment of :mod:`robustmas.envs.core`
(stacked observations, actions and rewards, one shared ``done``) with its params as a
:class:`pettingzoo.ParallelEnv`, so PettingZoo-based trainers (and ``parallel_api_test``) can
drive it.  Conventions:

* agents are named ``agent_0 ... agent_{N-1}`` and, for environments with a principal (an
  ``principal_index`` attribute, e.g. :class:`~robustmas.envs.grid_game.GridGame`),
  ``principal`` at that index; other names can be given;
* an environment with ``action_mask(params)`` whose meaningful actions form a prefix gives each
  agent only those (a passive principal gets ``Discrete(1)``, the augmented planner of the grid
  game ``Discrete(5)`` while the movers get ``Discrete(3)``); otherwise every agent gets the
  environment's action space;
* every agent acts every step; when the environment says ``done`` all agents are
  ``terminated`` together (the games have a fixed horizon that is part of the game) and
  :attr:`agents` empties;
* ``state()`` is the environment's ``critic_observation``; ``info[agent]`` holds the agent's
  own value of per-agent ``info`` entries (the grid game's ``raw_reward``) and the shared ones;
* ``reset(seed=s)`` draws the JAX key from a NumPy generator seeded with ``s``: the same seed
  gives the same episode, unseeded resets continue the stream.

:func:`make_parallel_grid_game` builds one from a grid-game preset id (see
:mod:`robustmas.envs.grid_presets`), e.g. for RP Fig. 2 (Zhao, Trott, Xiong, Zheng, "Learning
to Play General-Sum Games Against Multiple Boundedly Rational Agents", AAAI 2023,
arXiv:2106.05492)::

    env = make_parallel_grid_game("tragedy-v0", episode_length=50)
    obs, infos = env.reset(seed=0)

:func:`make_parallel_pursuit` builds :class:`~robustmas.envs.pursuit.Pursuit` with
PettingZoo's agent names (``pursuer_0 ...``), observation and action spaces;
:func:`make_parallel_ant` the MJX :class:`~robustmas.envs.ant.MultiAgentAnt` (``mjx`` extra)
with MaMuJoCo's names (``agent_0 ... agent_3``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from robustmas.envs.adapters import to_gymnasium_space
from robustmas.envs.core import Discrete, Environment, Space
from robustmas.envs.economy.agents_view import EconomyAgents, fixed_tax_economy
from robustmas.envs.grid_presets import make_grid_game
from robustmas.envs.pursuit import Pursuit, PursuitParams

__all__ = [
    "PettingZooParallelEnv",
    "StepResult",
    "make_parallel_ant",
    "make_parallel_economy",
    "make_parallel_grid_game",
    "make_parallel_pursuit",
]

StepResult = tuple[
    dict[str, Any], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
]
"""``(observations, rewards, terminations, truncations, infos)``, each by agent name."""


def _space(space: Space, n: int | None = None) -> spaces.Space[Any]:
    """Gymnasium space of a protocol space (``float32`` boxes); ``n`` overrides a Discrete's."""
    if isinstance(space, Discrete) and n is not None:
        return spaces.Discrete(n)
    return to_gymnasium_space(space)


class PettingZooParallelEnv(ParallelEnv[str, Any, Any]):
    """A multi-agent :mod:`robustmas.envs.core` environment as a PettingZoo ``ParallelEnv``.

    Args:
        env: a multi-agent environment following the protocol (``num_agents > 1``).
        params: its params; ``env.default_params()`` when omitted.
        agent_names: one name per stacked agent (default: see the module docstring).
        per_agent_info: ``info`` entries with one value per agent; ``info[agent]`` gets its own
            value under the name without a trailing ``s`` (``raw_rewards`` -> ``raw_reward``).
            Every other entry is given to every agent as it is.
        render_mode: only ``None`` (nothing to render).

    Raises:
        ValueError: a single-agent environment, names of the wrong number or repeated, or a
            ``render_mode``.

    The environment's ``reset``/``step``/``critic_observation`` are compiled once per adapter.
    """

    metadata: dict[str, Any] = {"name": "robustmas_parallel_v0", "render_modes": []}  # noqa: RUF012 (PettingZoo's convention)

    def __init__(
        self,
        env: Environment[Any, Any],
        params: Any = None,
        *,
        agent_names: Sequence[str] | None = None,
        per_agent_info: Sequence[str] = ("raw_rewards",),
        render_mode: str | None = None,
    ) -> None:
        n = env.num_agents
        if n < 2:
            raise ValueError(f"env: needs a multi-agent environment, got num_agents={n}")
        if render_mode is not None:
            raise ValueError(f"render_mode: this environment renders nothing, got {render_mode!r}")
        self.render_mode = None
        self.per_agent_info = tuple(per_agent_info)
        self.env = env
        self.params = env.default_params() if params is None else params
        if agent_names is None:
            names = [f"agent_{i}" for i in range(n)]
            principal = getattr(env, "principal_index", None)
            if isinstance(principal, int) and 0 <= principal < n:
                names[principal] = "principal"
        else:
            names = [str(name) for name in agent_names]
            if len(names) != n or len(set(names)) != n:
                raise ValueError(
                    f"agent_names: expected {n} distinct names (one per agent), got {names}"
                )
        self.possible_agents: list[str] = names
        self.agents: list[str] = []
        action_space = env.action_space(self.params)
        counts = self._action_counts(action_space, n)
        observation = _space(env.observation_space(self.params))
        self.observation_spaces: dict[str, spaces.Space[Any]] = dict.fromkeys(names, observation)
        self.action_spaces: dict[str, spaces.Space[Any]] = {
            name: _space(action_space, count) for name, count in zip(names, counts, strict=True)
        }
        self.state_space = _space(env.critic_observation_space(self.params))

        def reset(key: jax.Array, params: Any) -> tuple[jax.Array, jax.Array, Any]:
            key, sub = jax.random.split(key)
            obs, state = env.reset(sub, params)
            return key, obs, state

        def step(key: jax.Array, state: Any, action: jax.Array, params: Any) -> tuple[Any, ...]:
            key, sub = jax.random.split(key)
            obs, state, reward, done, info = env.step(sub, state, action, params)
            return key, obs, state, reward, done, info

        def reset_from(key: jax.Array, state: Any, params: Any) -> tuple[jax.Array, jax.Array, Any]:
            key, sub = jax.random.split(key)
            obs, state = env.reset_from(sub, state, params)  # pyright: ignore[reportAttributeAccessIssue]
            return key, obs, state

        self._jit_reset: Callable[..., Any] = jax.jit(reset)
        self._jit_reset_from: Callable[..., Any] | None = (
            jax.jit(reset_from) if callable(getattr(env, "reset_from", None)) else None
        )
        self._jit_step: Callable[..., Any] = jax.jit(step)
        self._jit_critic: Callable[..., Any] = jax.jit(env.critic_observation)
        self._rng = np.random.default_rng()
        self._key: jax.Array | None = None
        self._state: Any = None

    def _action_counts(self, space: Space, n: int) -> list[int | None]:
        """Meaningful actions per agent from ``env.action_mask`` (a prefix), else ``None``."""
        mask_of = getattr(self.env, "action_mask", None)
        if not isinstance(space, Discrete) or not callable(mask_of):
            return [None] * n
        mask = np.asarray(mask_of(self.params), dtype=bool)
        counts: list[int | None] = []
        for row in mask:
            k = int(row.sum())
            counts.append(k if k >= 1 and bool(row[:k].all()) else None)
        return counts

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        """One agent's observation space (the same object on every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        """One agent's action space (the same object on every call)."""
        return self.action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Start an episode; the JAX key comes from a NumPy generator seeded by ``seed``.

        An environment with memory across episodes (``reset_from``, e.g. the economy's Saez
        taxes) keeps it over unseeded resets; a seeded reset starts afresh.
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        key = jax.random.PRNGKey(int(self._rng.integers(0, 2**31 - 1)))
        if seed is None and self._state is not None and self._jit_reset_from is not None:
            self._key, obs, self._state = self._jit_reset_from(key, self._state, self.params)
        else:
            self._key, obs, self._state = self._jit_reset(key, self.params)
        self.agents = list(self.possible_agents)
        return self._observations(obs), {name: {} for name in self.agents}

    def _observations(self, obs: jax.Array) -> dict[str, Any]:
        stacked = np.asarray(obs, dtype=np.float32)
        return {name: stacked[i] for i, name in enumerate(self.possible_agents)}

    def _actions(self, actions: dict[str, Any]) -> jax.Array:
        missing = [name for name in self.agents if name not in actions]
        unknown = [name for name in actions if name not in self.possible_agents]
        if missing or unknown:
            raise ValueError(
                f"actions: need one action for each of {self.agents}; missing {missing}, "
                f"unknown {unknown}"
            )
        values = []
        for name in self.possible_agents:
            space = self.action_spaces[name]
            value = np.asarray(actions[name])
            if isinstance(space, spaces.Discrete):
                if value.size != 1 or not np.issubdtype(value.dtype, np.integer):
                    raise ValueError(f"actions[{name!r}]: expected one integer, got {value!r}")
                if not 0 <= int(value.reshape(())) < int(space.n):
                    raise ValueError(
                        f"actions[{name!r}]: expected an integer in [0, {space.n}), got "
                        f"{int(value.reshape(()))}"
                    )
            values.append(value)
        dtype = jnp.int32 if isinstance(self.env.action_space(self.params), Discrete) else None
        return jnp.asarray(np.stack(values), dtype=dtype)

    def step(self, actions: dict[str, Any]) -> StepResult:
        """Advance one step: ``(obs, rewards, terminations, truncations, infos)`` by agent."""
        if not self.agents or self._key is None:
            raise RuntimeError("step: call reset() first (the episode is over or not started)")
        self._key, obs, self._state, reward, done, info = self._jit_step(
            self._key, self._state, self._actions(actions), self.params
        )
        done = bool(done)
        rewards = np.asarray(reward, dtype=np.float64)
        names = self.possible_agents
        infos: dict[str, dict[str, Any]] = {name: {} for name in names}
        for key, value in info.items():
            array = np.asarray(value)
            if key in self.per_agent_info and array.shape[:1] == (len(names),):
                for i, name in enumerate(names):
                    infos[name][key.removesuffix("s")] = array[i].item()
            else:
                for name in names:
                    infos[name][key] = array.item() if array.ndim == 0 else array.copy()
        out = (
            self._observations(obs),
            {name: float(rewards[i]) for i, name in enumerate(names)},
            dict.fromkeys(names, done),
            dict.fromkeys(names, False),
            infos,
        )
        if done:
            self.agents = []
        return out

    def state(self) -> np.ndarray:
        """The environment's ``critic_observation`` of the current state, ``float32``."""
        if self._state is None:
            raise RuntimeError("state: call reset() first")
        return np.asarray(self._jit_critic(self._state, self.params), dtype=np.float32)

    def render(self) -> None:
        """Nothing to render."""
        return None

    def close(self) -> None:
        """Nothing to release."""


def make_parallel_grid_game(spec: str, **params: Any) -> PettingZooParallelEnv:
    """A grid-game preset (:func:`~robustmas.envs.grid_presets.make_grid_game`) as a ParallelEnv.

    Args:
        spec: a preset id, optionally with parameters (``"tragedy-v0:augmented=true"``).
        **params: more preset parameters.

    """
    setup = make_grid_game(spec, **params)
    return PettingZooParallelEnv(setup.env, setup.params)


_PURSUIT_PARAMS = ("tag_reward", "catch_reward", "urgency_reward", "shared_reward", "max_cycles")


def make_parallel_pursuit(**kwargs: Any) -> PettingZooParallelEnv:
    """:class:`~robustmas.envs.pursuit.Pursuit` as a ParallelEnv named like PettingZoo's.

    Args:
        **kwargs: :class:`~robustmas.envs.pursuit.Pursuit` arguments (``n_pursuers``,
            ``n_evaders``, ``x_size``, ``y_size``, ``obs_range``) and
            :class:`~robustmas.envs.pursuit.PursuitParams` fields (``tag_reward``,
            ``catch_reward``, ``urgency_reward``, ``shared_reward``, ``max_cycles``), as
            PettingZoo's ``pursuit_v4.parallel_env`` names them.

    The agents are ``pursuer_0 ... pursuer_{n-1}``; observations are PettingZoo's
    ``(obs_range, obs_range, 3)`` float32 arrays.  ``state()`` is PettingZoo's ``state()``
    flattened plus ``t / max_cycles``; the end at ``max_cycles`` is reported as a termination.
    """
    params = PursuitParams(**{k: kwargs.pop(k) for k in _PURSUIT_PARAMS if k in kwargs})
    env = Pursuit(**kwargs)
    names = [f"pursuer_{i}" for i in range(env.num_agents)]
    return PettingZooParallelEnv(env, params, agent_names=names)


def make_parallel_ant(episode_length: int | None = None, **kwargs: Any) -> PettingZooParallelEnv:
    """:class:`~robustmas.envs.ant.MultiAgentAnt` (the ``mjx`` extra) as a ParallelEnv.

    Args:
        episode_length: steps per episode (default: the ARNEQ paper's, ``AntParams``).
        **kwargs: :class:`~robustmas.envs.ant.MultiAgentAnt` arguments
            (``include_contact_forces``, ``integrator``, ...).

    The agents are ``agent_0 ... agent_3`` as in MaMuJoCo's Ant 4x2 (agent ``a`` drives
    actuators ``2a`` and ``2a + 1``); each sees the global observation and acts in ``[-1, 1]^2``.

    Raises:
        ImportError: without MuJoCo and MJX.
    """
    from robustmas.envs.ant import MultiAgentAnt  # optional: MuJoCo and MJX

    env = MultiAgentAnt(**kwargs)
    params = env.default_params()
    if episode_length is not None:
        params = dataclasses.replace(params, episode_length=episode_length)
    return PettingZooParallelEnv(env, params)


def make_parallel_economy(taxes: str = "free-market", **params: Any) -> PettingZooParallelEnv:
    """The economy's four agents under a fixed tax model as a ParallelEnv.

    Args:
        taxes: ``"free-market"``, ``"us-federal"`` or ``"saez"`` (Saez's income buffer lives on
            over unseeded resets).
        **params: :meth:`~robustmas.envs.economy.GatherTradeBuild.make_params` arguments
            (``isoelastic_eta``, ``energy_cost``, ``episode_length``, ...) but ``fixed_rates``,
            which ``taxes`` sets.

    The agents are ``"0" ... "3"`` as in the AI Economist; observations are
    :class:`~robustmas.envs.economy.agents_view.EconomyAgents`' flat vectors (the action mask is
    the first 50 entries).
    """
    if "fixed_rates" in params:
        raise ValueError("fixed_rates: set by taxes=...; do not pass it too")
    economy, economy_params = fixed_tax_economy(taxes, **params)
    env = EconomyAgents(economy)
    names = [str(i) for i in range(env.num_agents)]
    return PettingZooParallelEnv(env, economy_params, agent_names=names)

"""The environment protocol: pure functions over frozen pytrees (gymnax / JaxMARL style).

An environment is a stateless object whose methods are pure and jittable::

    obs, state = env.reset(key, params)
    obs, state, reward, done, info = env.step(key, state, action, params)

Game data lives in ``params`` (a frozen ``flax.struct`` dataclass), so one compiled function
``vmap``s over seeds, payoffs or types.  ``critic_observation`` exposes state the actor must not
see (the followers' strategies in the Stackelberg POMDP) for a centralised critic (MAPPO).

Multi-agent environments set ``num_agents = n > 1`` and stack the agents on a leading axis
(homogeneous agents, as in JaxMARL's batched form):

* ``reset`` and ``step`` return observations of shape ``(n, *obs_shape)``, where
  ``observation_space`` is the space of *one* agent's observation;
* ``step`` takes actions of shape ``(n, *action_shape)``, ``action_space`` being one agent's;
* rewards have shape ``(n,)``, one per agent;
* ``done`` is a scalar shared by all agents: episodes start and end together;
* ``critic_observation(state, params)`` is one global state vector shared by all agents (a
  centralised critic adds the agent's identity itself if it needs it).

An environment with memory that outlives an episode (the economy's Saez tax keeps a buffer of
past incomes) may define ``reset_from(key, state, params) -> (obs, state)``: a new episode that
keeps that memory from the finished episode's ``state``.  :func:`step_autoreset` and the
PettingZoo adapter call it in place of ``reset``; wrappers must forward it, or the memory is
lost at every episode end.

An environment whose episodes end after a known number of steps declares it (see
:func:`declared_horizon`): a method ``max_episode_steps(params) -> int``, or else an ``int``
field ``episode_length`` of its params.  :func:`robustmas.envs.check_env` checks an environment
against this protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import jax
import jax.numpy as jnp

__all__ = [
    "Box",
    "Discrete",
    "Environment",
    "MultiDiscrete",
    "Simplex",
    "Space",
    "declared_horizon",
    "step_autoreset",
]

Params = TypeVar("Params")
State = TypeVar("State")


@dataclass(frozen=True)
class Discrete:
    """``n`` actions ``0, ..., n-1``."""

    n: int
    """Number of choices."""

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one element (a scalar index)."""
        return ()


@dataclass(frozen=True)
class Box:
    """Real vectors in ``[low, high]`` of a fixed shape."""

    low: float
    """Lower bound of every entry."""
    high: float
    """Upper bound of every entry."""
    shape: tuple[int, ...]
    """Shape of one element."""


@dataclass(frozen=True)
class Simplex:
    """Probability vectors over ``n`` items (randomised leader strategies)."""

    n: int
    """Number of items."""

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one element."""
        return (self.n,)


@dataclass(frozen=True)
class MultiDiscrete:
    """One choice per component, ``0, ..., nvec[i] - 1`` (the economy's rate per tax bracket)."""

    nvec: tuple[int, ...]
    """Number of choices of each component."""

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one element (one index per component)."""
        return (len(self.nvec),)


Space = Discrete | Box | Simplex | MultiDiscrete


class Environment(Protocol, Generic[Params, State]):
    """A JAX environment; see the module docstring."""

    @property
    def num_agents(self) -> int:
        """Number of learning agents (1 for single-agent environments)."""
        ...

    def default_params(self) -> Params:
        """Parameters with the documented defaults."""
        ...

    def reset(self, key: jax.Array, params: Params) -> tuple[jax.Array, State]:
        """Start an episode; returns ``(obs, state)``."""
        ...

    def step(
        self, key: jax.Array, state: State, action: jax.Array, params: Params
    ) -> tuple[jax.Array, State, jax.Array, jax.Array, dict[str, Any]]:
        """Advance one step; returns ``(obs, state, reward, done, info)``."""
        ...

    def observation_space(self, params: Params) -> Space:
        """The actor's observation space."""
        ...

    def action_space(self, params: Params) -> Space:
        """The action space."""
        ...

    def critic_observation(self, state: State, params: Params) -> jax.Array:
        """Features of the full state for a centralised critic."""
        ...

    def critic_observation_space(self, params: Params) -> Space:
        """Space of :meth:`critic_observation`."""
        ...


def step_autoreset(
    env: Environment[Params, State],
    key: jax.Array,
    state: State,
    action: jax.Array,
    params: Params,
) -> tuple[jax.Array, State, jax.Array, jax.Array, dict[str, Any]]:
    """``env.step`` that starts a new episode when the current one ends.

    The returned observation and state are those of the new episode when ``done``; reward, done
    and info belong to the step that ended the old one.  An environment with memory that
    outlives an episode (the economy's Saez tax keeps a buffer of past incomes) defines
    ``reset_from(key, state, params)``, which is then called instead of ``reset`` with the
    finished episode's state.
    """
    key_step, key_reset = jax.random.split(key)
    obs, new_state, reward, done, info = env.step(key_step, state, action, params)
    reset_from: Callable[..., tuple[Any, State]] | None = getattr(env, "reset_from", None)
    if callable(reset_from):
        reset_obs, reset_state = reset_from(key_reset, new_state, params)
    else:
        reset_obs, reset_state = env.reset(key_reset, params)
    pick = lambda a, b: jnp.where(done, a, b)  # noqa: E731
    state_out = jax.tree_util.tree_map(pick, reset_state, new_state)
    obs_out = jax.tree_util.tree_map(pick, reset_obs, obs)
    return obs_out, state_out, reward, done, info


def declared_horizon(env: Environment[Params, State], params: Params) -> int | None:
    """The most steps an episode of ``env`` lasts under ``params``, if the environment says.

    Read from ``env.max_episode_steps(params)`` when the environment defines that method, else
    from an ``int`` field ``params.episode_length``; ``None`` when neither exists.
    """
    declared: Callable[[Params], int] | None = getattr(env, "max_episode_steps", None)
    if callable(declared):
        return int(declared(params))
    length = getattr(params, "episode_length", None)
    if isinstance(length, int) and not isinstance(length, bool):
        return length
    return None

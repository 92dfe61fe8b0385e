"""Gymnasium adapter for the JAX environments (needs the ``gym`` extra).

:class:`GymnasiumEnv` wraps any single-agent environment of :mod:`robustmas.envs.core` together
with its params as a :class:`gymnasium.Env`, so Stable-Baselines3, CleanRL or RLlib can train on
it.  Spaces map as

* :class:`~robustmas.envs.core.Discrete` -> :class:`gymnasium.spaces.Discrete`;
* :class:`~robustmas.envs.core.Simplex` ``(n)`` -> ``Box(0, 1, (n,))`` (the environment
  normalises the weights; all zeros means uniform);
* :class:`~robustmas.envs.core.Box` -> :class:`gymnasium.spaces.Box` (``float32``).

Observations are ``float32`` numpy arrays (``np.int64`` for a ``Discrete`` observation space);
``info`` values become plain Python ``float``/``int``/``bool`` (numpy arrays if not scalar).
``reset(seed=s)`` makes the whole episode reproducible: a JAX key is drawn from the Gymnasium
generator, so the same seed gives the same episode, and unseeded resets continue the stream.

Importing this module registers ``robustmas/StackelbergPOMDP-v0``::

    import gymnasium
    import robustmas.envs.adapters  # noqa: F401

    env = gymnasium.make("robustmas/StackelbergPOMDP-v0", setting="maintain-v0", randomized=True)

``setting`` is an id of :data:`~robustmas.envs.stackelberg.settings.SETTINGS` or the path of a
two-player Gambit ``.nfg`` file (player 1 leads); other keywords are setting parameters and the
POMDP's knobs (``randomized``, ``num_rounds``, ...).  The core package never imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces

from robustmas.envs.core import Box, Discrete, Environment, MultiDiscrete, Simplex, Space

__all__ = [
    "STACKELBERG_ENV_ID",
    "GymnasiumEnv",
    "make_stackelberg_env",
    "register_envs",
    "stackelberg_params",
    "to_gymnasium_space",
]

STACKELBERG_ENV_ID = "robustmas/StackelbergPOMDP-v0"
"""Gymnasium id of the Stackelberg POMDP."""


def to_gymnasium_space(space: Space) -> spaces.Discrete | spaces.Box | spaces.MultiDiscrete:
    """The Gymnasium space for a :mod:`robustmas.envs.core` space (``float32`` boxes)."""
    if isinstance(space, Discrete):
        return spaces.Discrete(space.n)
    if isinstance(space, MultiDiscrete):
        return spaces.MultiDiscrete(list(space.nvec))
    if isinstance(space, Simplex):
        return spaces.Box(0.0, 1.0, (space.n,), dtype=np.float32)
    if isinstance(space, Box):
        return spaces.Box(space.low, space.high, space.shape, dtype=np.float32)
    raise TypeError(f"space: unsupported space {space!r}")


def _plain(value: Any) -> Any:
    """``info`` value as plain Python (scalars) or a fresh numpy array, recursing into dicts."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    array = np.asarray(value)
    if array.ndim:
        return array.copy()
    if array.dtype == np.bool_:
        return bool(array)
    if np.issubdtype(array.dtype, np.integer):
        return int(array)
    if np.issubdtype(array.dtype, np.number):
        return float(array)
    return value


class GymnasiumEnv(gymnasium.Env[np.ndarray | np.int64, Any]):
    """A :mod:`robustmas.envs.core` environment and its params as a :class:`gymnasium.Env`.

    Args:
        env: a single-agent environment (``num_agents == 1``) following the protocol.
        params: its params; ``env.default_params()`` when omitted.
        render_mode: only ``None`` (nothing to render).

    Raises:
        ValueError: a multi-agent environment, or a ``render_mode``.

    The environment's ``reset``/``step``/``critic_observation`` are compiled once per adapter.
    An episode ends with ``terminated=True`` when the environment says ``done``; it never
    truncates (wrap it in :class:`gymnasium.wrappers.TimeLimit` for that).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's convention)

    def __init__(
        self,
        env: Environment[Any, Any],
        params: Any = None,
        *,
        render_mode: str | None = None,
    ) -> None:
        if env.num_agents != 1:
            raise ValueError(
                f"env: GymnasiumEnv needs a single-agent environment, got num_agents="
                f"{env.num_agents}"
            )
        if render_mode is not None:
            raise ValueError(f"render_mode: this environment renders nothing, got {render_mode!r}")
        self.render_mode = None
        self.env = env
        self.params = env.default_params() if params is None else params
        self._env_action_space = env.action_space(self.params)
        self.observation_space = to_gymnasium_space(env.observation_space(self.params))
        self.action_space = to_gymnasium_space(self._env_action_space)
        self.critic_observation_space = to_gymnasium_space(
            env.critic_observation_space(self.params)
        )

        def reset(key: jax.Array, params: Any) -> tuple[jax.Array, jax.Array, Any]:
            key, sub = jax.random.split(key)
            obs, state = env.reset(sub, params)
            return key, obs, state

        def step(
            key: jax.Array, state: Any, action: jax.Array, params: Any
        ) -> tuple[jax.Array, jax.Array, Any, jax.Array, jax.Array, dict[str, Any]]:
            key, sub = jax.random.split(key)
            obs, state, reward, done, info = env.step(sub, state, action, params)
            return key, obs, state, reward, done, info

        self._jit_reset: Callable[..., Any] = jax.jit(reset)
        self._jit_step: Callable[..., Any] = jax.jit(step)
        self._jit_critic: Callable[..., Any] = jax.jit(env.critic_observation)
        self._key: jax.Array | None = None
        self._state: Any = None
        self._done = True

    # ----------------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray | np.int64, dict[str, Any]]:
        """Start an episode; the JAX key comes from ``self.np_random`` (seeded by ``seed``)."""
        super().reset(seed=seed, options=options)
        key = jax.random.PRNGKey(int(self.np_random.integers(0, 2**31 - 1)))
        self._key, obs, self._state = self._jit_reset(key, self.params)
        self._done = False
        return self._observation(obs), {}

    def _observation(self, obs: jax.Array) -> np.ndarray | np.int64:
        if isinstance(self.observation_space, spaces.Discrete):
            return np.int64(obs)
        return np.asarray(obs, dtype=np.float32)

    def _to_jax_action(self, action: Any) -> jax.Array:
        space = self._env_action_space
        if isinstance(space, Discrete):
            array = np.asarray(action)
            if array.size != 1 or not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"action: expected one integer in [0, {space.n}), got {action!r}")
            index = int(array.reshape(()))
            if not 0 <= index < space.n:
                raise ValueError(f"action: expected an integer in [0, {space.n}), got {index}")
            return jnp.asarray(index, jnp.int32)
        if isinstance(space, MultiDiscrete):
            array = np.asarray(action)
            upper = np.asarray(space.nvec)
            if (
                array.shape != space.shape
                or not np.issubdtype(array.dtype, np.integer)
                or not np.all((array >= 0) & (array < upper))
            ):
                raise ValueError(f"action: expected integers below {space.nvec}, got {action!r}")
            return jnp.asarray(array, jnp.int32)
        array = np.asarray(action, dtype=np.float32)
        if array.shape != space.shape:
            raise ValueError(f"action: expected shape {space.shape}, got {array.shape}")
        return jnp.asarray(array)

    def step(self, action: Any) -> tuple[np.ndarray | np.int64, float, bool, bool, dict[str, Any]]:
        """Advance one step; ``(obs, reward, terminated, truncated=False, info)``."""
        if self._done or self._key is None:
            raise RuntimeError("step: call reset() first (the episode is over or not started)")
        jax_action = self._to_jax_action(action)
        self._key, obs, self._state, reward, done, info = self._jit_step(
            self._key, self._state, jax_action, self.params
        )
        self._done = bool(done)
        return (
            self._observation(obs),
            float(reward),
            self._done,
            False,
            _plain(info),
        )

    def critic_observation(self) -> np.ndarray:
        """The centralised (critic) view of the current state, ``float32`` (e.g. for MAPPO)."""
        if self._state is None:
            raise RuntimeError("critic_observation: call reset() first")
        return np.asarray(self._jit_critic(self._state, self.params), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# The Stackelberg POMDP under Gymnasium's registry
# --------------------------------------------------------------------------------------------


def stackelberg_params(setting: str | os.PathLike[str], **params: Any) -> Any:
    """Params for a settings id or a two-player ``.nfg`` path; see ``settings.resolve_setting``."""
    from robustmas.envs.stackelberg.settings import resolve_setting

    return resolve_setting(setting, **params)


def make_stackelberg_env(
    setting: str | os.PathLike[str] = "maintain-v0",
    render_mode: str | None = None,
    **params: Any,
) -> GymnasiumEnv:
    """Entry point of ``robustmas/StackelbergPOMDP-v0``; see :func:`stackelberg_params`."""
    from robustmas.envs.stackelberg.pomdp import StackelbergPOMDP

    p = stackelberg_params(setting, **params)
    return GymnasiumEnv(StackelbergPOMDP(p), p, render_mode=render_mode)


def register_envs() -> None:
    """Register ``robustmas/StackelbergPOMDP-v0`` with Gymnasium (idempotent)."""
    if STACKELBERG_ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        STACKELBERG_ENV_ID,
        entry_point=f"{__name__}:make_stackelberg_env",
        nondeterministic=False,
    )


register_envs()

"""Conformance check of an environment against robustmas's protocol (:mod:`robustmas.envs.core`).

:func:`check_env` runs an environment through what every trainer in the library relies on and
raises :class:`EnvCheckError` (an ``AssertionError``) at the first breach, naming the
environment, the method and what differed:

* the protocol's surface: ``num_agents``, ``default_params``, ``reset``, ``step``, the three
  spaces and ``critic_observation``;
* shapes and dtypes: observations ``(n, *obs_shape)`` for ``n > 1`` agents (``obs_shape`` for
  one), inside a bounded ``Box``; rewards ``(n,)`` (a scalar for one agent) of a float dtype; a
  scalar boolean ``done``; an ``info`` dict; a state whose structure, shapes and dtypes do not
  change from step to step (so ``lax.scan`` can carry it); the critic view in its space;
* actions sampled from the declared action space are accepted;
* purity: the same key (and state and action) gives the same outputs, the inputs (params,
  state, action) and the environment object itself are left unchanged;
* ``jax.jit`` gives the plain call's values, and ``jax.vmap`` (over keys, states and actions)
  gives per element what ``jax.jit`` gives;
* the same key gives the same trajectory over several steps (with auto-reset, under
  ``lax.scan``);
* an environment with ``reset_from`` (memory across episodes) starts episodes laid out as
  ``reset``'s, purely;
* when the environment declares a horizon (:func:`~robustmas.envs.core.declared_horizon`), no
  episode outlasts it.

The checks follow the ideas of Gymnasium's ``check_env`` and PettingZoo's ``parallel_api_test``
for robustmas's own pure-function protocol.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NoReturn

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.compilation.xla import compiler_options
from robustmas.envs.core import (
    Box,
    Discrete,
    Environment,
    MultiDiscrete,
    Simplex,
    declared_horizon,
    step_autoreset,
)

__all__ = ["EnvCheckError", "check_env"]

_METHODS = (
    "default_params",
    "reset",
    "step",
    "observation_space",
    "action_space",
    "critic_observation",
    "critic_observation_space",
)


class EnvCheckError(AssertionError):
    """An environment breaks the protocol; the message says which, where and how."""


class _Checker:
    """Raises :class:`EnvCheckError` messages prefixed with the environment's name."""

    def __init__(self, name: str, rtol: float, atol: float) -> None:
        self.name = name
        self.rtol = rtol
        self.atol = atol

    def fail(self, method: str, what: str) -> NoReturn:
        raise EnvCheckError(f"check_env({self.name}): {method}: {what}")

    def require(self, ok: bool, method: str, what: str) -> None:
        if not ok:
            self.fail(method, what)

    def same(self, method: str, what: str, a: Any, b: Any, exact: bool) -> None:
        """``a`` and ``b`` have the same pytree structure, shapes, dtypes and values."""
        leaves_a, tree_a = jax.tree_util.tree_flatten_with_path(a)
        leaves_b, tree_b = jax.tree_util.tree_flatten_with_path(b)
        self.require(tree_a == tree_b, method, f"{what}: structure differs ({tree_a} vs {tree_b})")
        for (path, x), (_, y) in zip(leaves_a, leaves_b, strict=True):
            where = f"{what}, leaf {jax.tree_util.keystr(path) or '(root)'}"
            x, y = np.asarray(x), np.asarray(y)
            self.require(
                x.shape == y.shape and x.dtype == y.dtype,
                method,
                f"{where}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}",
            )
            if not np.issubdtype(x.dtype, np.inexact):
                differ = x != y
            elif exact:
                differ = (x != y) & ~(np.isnan(x) & np.isnan(y))
            else:
                differ = ~np.isclose(x, y, rtol=self.rtol, atol=self.atol, equal_nan=True)
            if np.any(differ):
                first = tuple(int(i) for i in np.argwhere(differ)[0])
                self.fail(
                    method,
                    f"{where}: values differ{' (exactly compared)' if exact else ''}, e.g. at "
                    f"{first}: {x[first]!r} vs {y[first]!r}",
                )


def _shaped(space: Any, num_agents: int) -> tuple[int, ...]:
    """Shape of the stacked per-agent elements of ``space``."""
    return (num_agents, *space.shape) if num_agents > 1 else tuple(space.shape)


def _check_space(c: _Checker, method: str, space: Any) -> None:
    c.require(
        isinstance(space, Discrete | Box | Simplex | MultiDiscrete),
        method,
        f"expected a Discrete, MultiDiscrete, Box or Simplex, got {type(space).__name__}",
    )
    shape = space.shape
    c.require(
        isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape),
        method,
        f"shape must be a tuple of non-negative ints, got {shape!r}",
    )
    if isinstance(space, Discrete | Simplex):
        c.require(space.n >= 1, method, f"needs n >= 1, got {space.n}")
    if isinstance(space, MultiDiscrete):
        c.require(
            len(space.nvec) >= 1 and all(n >= 1 for n in space.nvec),
            method,
            f"needs components with n >= 1, got {space.nvec}",
        )
    if isinstance(space, Box):
        c.require(space.low <= space.high, method, f"low {space.low} > high {space.high}")


def _check_element(c: _Checker, method: str, what: str, x: Any, space: Any, shape: tuple) -> None:
    """``x`` is a stacked element of ``space``: shape, dtype and bounds."""
    c.require(
        isinstance(x, jax.Array | np.ndarray), method, f"{what}: not an array ({type(x).__name__})"
    )
    c.require(x.shape == shape, method, f"{what}: shape {tuple(x.shape)}, declared {shape}")
    if isinstance(space, Discrete | MultiDiscrete):
        c.require(
            jnp.issubdtype(x.dtype, jnp.integer), method, f"{what}: dtype {x.dtype}, want an int"
        )
        value = np.asarray(x)
        upper = space.n if isinstance(space, Discrete) else np.asarray(space.nvec)
        c.require(
            bool(np.all((value >= 0) & (value < upper))),
            method,
            f"{what}: values outside {space}",
        )
        return
    c.require(
        jnp.issubdtype(x.dtype, jnp.floating), method, f"{what}: dtype {x.dtype}, want a float"
    )
    value = np.asarray(x, dtype=np.float64)
    c.require(bool(np.all(np.isfinite(value))), method, f"{what}: not finite: {value}")
    low, high = (space.low, space.high) if isinstance(space, Box) else (0.0, 1.0)
    finite = [abs(b) for b in (low, high) if math.isfinite(b)]
    tol = 1e-5 * max([1.0, *finite])
    c.require(
        bool(np.all((value >= low - tol) & (value <= high + tol))),
        method,
        f"{what}: values outside [{low}, {high}]: min {value.min()}, max {value.max()}",
    )


def _sample(key: jax.Array, space: Any, num_agents: int) -> jax.Array:
    """A stacked action drawn from ``space`` (one per agent when ``num_agents > 1``)."""
    lead = (num_agents,) if num_agents > 1 else ()
    if isinstance(space, Discrete):
        return jax.random.randint(key, lead, 0, space.n, dtype=jnp.int32)
    if isinstance(space, MultiDiscrete):
        upper = jnp.asarray(space.nvec, jnp.int32)
        return jax.random.randint(key, (*lead, len(space.nvec)), 0, upper, dtype=jnp.int32)
    if isinstance(space, Simplex):
        # Normalised Exp(1) draws: uniform on the simplex (Dirichlet(1, ..., 1)), cheap to compile.
        weights = jax.random.exponential(key, (*lead, space.n))
        return weights / weights.sum(axis=-1, keepdims=True)
    shape = lead + tuple(space.shape)
    if math.isfinite(space.low) and math.isfinite(space.high):
        return jax.random.uniform(key, shape, minval=space.low, maxval=space.high)
    return jax.random.normal(key, shape)


def _snapshot(tree: Any) -> Any:
    """A copy of the arrays of ``tree`` (to detect in-place mutation of numpy inputs)."""
    return jax.tree_util.tree_map(lambda x: np.array(x, copy=True), tree)


def _env_attributes(env: Any) -> dict[str, tuple[int, Any]]:
    """``name -> (id, copy of array contents)`` of the environment object's attributes."""
    out = {}
    for name, value in getattr(env, "__dict__", {}).items():
        copy = np.array(value, copy=True) if isinstance(value, np.ndarray) else None
        out[name] = (id(value), copy)
    return out


def _check_outputs(
    c: _Checker, method: str, out: Any, spaces: tuple[Any, Any, Any], n: int
) -> tuple[Any, ...]:
    """Shapes and dtypes of a ``step`` result; returns it unpacked."""
    obs_space, _, _ = spaces
    c.require(
        isinstance(out, tuple) and len(out) == 5,
        method,
        "expected (obs, state, reward, done, info)",
    )
    obs, state, reward, done, info = out
    _check_element(c, method, "obs", obs, obs_space, _shaped(obs_space, n))
    for what, x in (("reward", reward), ("done", done)):
        c.require(
            hasattr(x, "shape") and hasattr(x, "dtype"),
            method,
            f"{what}: expected an array, got {type(x).__name__}",
        )
    want = (n,) if n > 1 else ()
    c.require(
        tuple(reward.shape) == want, method, f"reward: shape {tuple(reward.shape)}, want {want}"
    )
    c.require(
        jnp.issubdtype(reward.dtype, jnp.floating),
        method,
        f"reward: dtype {reward.dtype}, want a float",
    )
    c.require(
        bool(np.all(np.isfinite(np.asarray(reward)))), method, f"reward: not finite: {reward}"
    )
    c.require(tuple(done.shape) == (), method, f"done: shape {tuple(done.shape)}, want ()")
    c.require(done.dtype == jnp.bool_, method, f"done: dtype {done.dtype}, want bool")
    c.require(isinstance(info, dict), method, f"info: expected a dict, got {type(info).__name__}")
    return obs, state, reward, done, info


def _same_layout(c: _Checker, method: str, before: Any, after: Any) -> None:
    """The state keeps its structure, shapes and dtypes (a ``lax.scan`` carry)."""
    leaves_a, tree_a = jax.tree_util.tree_flatten(before)
    leaves_b, tree_b = jax.tree_util.tree_flatten(after)
    c.require(tree_a == tree_b, method, f"state structure changed: {tree_a} -> {tree_b}")
    layout = lambda leaves: [(jnp.shape(x), jnp.result_type(x)) for x in leaves]  # noqa: E731
    c.require(
        layout(leaves_a) == layout(leaves_b),
        method,
        f"state shapes/dtypes changed: {layout(leaves_a)} -> {layout(leaves_b)}",
    )


def check_env(
    env: Environment[Any, Any],
    params: Any = None,
    *,
    key: jax.Array | None = None,
    num_steps: int = 8,
    max_episode_steps: int | None = None,
    batch: int = 3,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    name: str | None = None,
) -> None:
    """Check that ``env`` follows robustmas's environment protocol; raise at the first breach.

    Args:
        env: the environment (see :class:`~robustmas.envs.core.Environment`).
        params: its params (default: ``env.default_params()``); keep them small, every check
            compiles ``reset`` and ``step``.
        key: PRNG key of every draw (default ``PRNGKey(0)``).
        num_steps: least number of steps of the determinism rollout (it runs at least two
            declared horizons, so that it crosses episode boundaries).
        max_episode_steps: the horizon to hold the environment to; default: the one it declares
            (:func:`~robustmas.envs.core.declared_horizon`), none if it declares none.
        batch: batch size of the ``vmap`` check.
        rtol: relative tolerance of jitted/vmapped floats against the plain call.
        atol: absolute tolerance of the same comparisons (repeated calls must match exactly).
        name: how messages name the environment (default: its class name).

    Raises:
        EnvCheckError: with a message naming the environment, the method and what differed.

    """
    c = _Checker(name or type(env).__name__, rtol, atol)
    for method in _METHODS:
        c.require(callable(getattr(env, method, None)), method, "missing (not callable)")
    c.require(hasattr(env, "num_agents"), "num_agents", "missing attribute")
    n = env.num_agents
    c.require(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1,
        "num_agents",
        f"expected an int >= 1, got {n!r}",
    )
    params = env.default_params() if params is None else params
    spaces = (
        env.observation_space(params),
        env.action_space(params),
        env.critic_observation_space(params),
    )
    for method, space in zip(
        ("observation_space", "action_space", "critic_observation_space"), spaces, strict=True
    ):
        _check_space(c, method, space)
    obs_space, action_space, critic_space = spaces
    horizon = max_episode_steps if max_episode_steps is not None else declared_horizon(env, params)
    if horizon is not None:
        c.require(horizon >= 1, "max_episode_steps", f"expected >= 1, got {horizon}")
    key = jax.random.PRNGKey(0) if key is None else key
    k_reset, k_action, k_step, k_batch, k_rollout = jax.random.split(key, 5)
    params_copy = _snapshot(params)
    env_copy = _env_attributes(env)

    # reset: shapes, critic view, purity.
    reset_out = env.reset(k_reset, params)
    c.require(
        isinstance(reset_out, tuple) and len(reset_out) == 2, "reset", "expected (obs, state)"
    )
    obs, state = reset_out
    _check_element(c, "reset", "obs", obs, obs_space, _shaped(obs_space, n))
    c.same("reset", "called twice with the same key", reset_out, env.reset(k_reset, params), True)
    critic = env.critic_observation(state, params)
    _check_element(
        c, "critic_observation", "after reset", critic, critic_space, tuple(critic_space.shape)
    )

    # step: a sampled action is accepted; shapes, layout, purity.
    action = _sample(k_action, action_space, n)
    state_copy, action_copy = _snapshot(state), _snapshot(action)
    stepped = _check_outputs(c, "step", env.step(k_step, state, action, params), spaces, n)
    c.same("step", "state passed in (mutated)", state_copy, _snapshot(state), True)
    c.same("step", "action passed in (mutated)", action_copy, _snapshot(action), True)
    c.same("reset/step", "params passed in (mutated)", params_copy, _snapshot(params), True)
    _same_layout(c, "step", state, stepped[1])
    again = env.step(k_step, state, action, params)
    c.same("step", "called twice with the same key, state and action", stepped, again, True)
    _check_element(
        c,
        "critic_observation",
        "after step",
        env.critic_observation(stepped[1], params),
        critic_space,
        tuple(critic_space.shape),
    )

    # reset_from (memory across episodes): an episode start laid out as reset's, pure.
    reset_from: Callable[..., Any] | None = getattr(env, "reset_from", None)
    if callable(reset_from):
        from_out: Any = reset_from(k_reset, stepped[1], params)
        c.require(
            isinstance(from_out, tuple) and len(from_out) == 2,
            "reset_from",
            "expected (obs, state)",
        )
        _check_element(c, "reset_from", "obs", from_out[0], obs_space, _shaped(obs_space, n))
        _same_layout(c, "reset_from", state, from_out[1])
        c.same(
            "reset_from",
            "called twice with the same key and state",
            from_out,
            reset_from(k_reset, stepped[1], params),
            True,
        )

    # jit equals the plain calls above, and vmap (over keys, states and actions) equals jit per
    # element.  One function does reset, critic view and step: one compilation per check.
    def transition(k_reset: jax.Array, k_action: jax.Array, k_step: jax.Array) -> Any:
        obs, state = env.reset(k_reset, params)
        action = _sample(k_action, action_space, n)
        critic = env.critic_observation(state, params)
        return (obs, state), critic, action, env.step(k_step, state, action, params)

    options = compiler_options()  # as robustmas compiles its programs (and faster to compile)
    jitted = jax.jit(transition, compiler_options=options)
    _compare(c, "jax.jit", jitted(k_reset, k_action, k_step), (reset_out, critic, action, stepped))
    keys = jax.random.split(k_batch, 3 * batch)
    keys = keys.reshape(3, batch, *keys.shape[1:])
    batched = jax.jit(jax.vmap(transition), compiler_options=options)(*keys)
    for i in range(batch):
        element = jax.tree_util.tree_map(lambda x, i=i: x[i], batched)
        _compare(c, f"jax.vmap (element {i})", element, jitted(*(k[i] for k in keys)))

    # Several steps with auto-reset under lax.scan: the same key gives the same trajectory, and
    # no episode outlasts the declared horizon.
    length = max(num_steps, 2 * horizon + 1) if horizon is not None else num_steps
    rollout = jax.jit(_rollout(env, params, action_space, n, length), compiler_options=options)
    first, second = rollout(k_rollout), rollout(k_rollout)
    c.same("step", f"{length}-step rollout run twice with the same key", first, second, True)
    dones = np.asarray(first[2])
    for t in range(length):
        _check_element(
            c, "step", f"rollout obs at step {t}", first[0][t], obs_space, _shaped(obs_space, n)
        )
    if horizon is not None:
        run = 0
        for t, done in enumerate(dones):
            run += 1
            c.require(
                run <= horizon,
                "step",
                f"episode not done after {run} steps (rollout step {t}), declared horizon "
                f"{horizon}",
            )
            run = 0 if done else run

    attributes = _env_attributes(env)
    for attr, (ident, copy) in env_copy.items():
        now = attributes.get(attr)
        c.require(
            now is not None and now[0] == ident,
            "reset/step",
            f"environment attribute {attr!r} was replaced or removed (hidden state)",
        )
        if copy is not None and now is not None:
            c.same("reset/step", f"environment attribute {attr!r}", copy, now[1], True)
    c.require(
        set(attributes) == set(env_copy),
        "reset/step",
        f"environment attributes added: {sorted(set(attributes) - set(env_copy))} (hidden state)",
    )


def _compare(c: _Checker, how: str, got: Any, want: Any) -> None:
    """Outputs of ``transition`` under a transformation against the reference call."""
    (reset_got, critic_got, action_got, step_got) = got
    (reset_want, critic_want, action_want, step_want) = want
    against = "jax.jit" if how.startswith("jax.vmap") else "plain call"
    c.same("reset", f"{how} vs {against}", reset_got, reset_want, False)
    c.same("critic_observation", f"{how} vs {against}", critic_got, critic_want, False)
    c.same("step", f"{how} vs {against} (sampled action)", action_got, action_want, False)
    c.same("step", f"{how} vs {against}", step_got, step_want, False)


def _rollout(
    env: Environment[Any, Any], params: Any, action_space: Any, n: int, length: int
) -> Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
    """``key -> (obs, rewards, dones)`` of ``length`` steps with auto-reset and sampled actions."""

    def run(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        k_reset, k_steps = jax.random.split(key)
        _, state = env.reset(k_reset, params)

        def body(state: Any, k: jax.Array) -> tuple[Any, tuple[jax.Array, jax.Array, jax.Array]]:
            k_action, k_step = jax.random.split(k)
            action = _sample(k_action, action_space, n)
            obs, state, reward, done, _ = step_autoreset(env, k_step, state, action, params)
            return state, (obs, reward, done)

        _, (obs, rewards, dones) = jax.lax.scan(body, state, jax.random.split(k_steps, length))
        return obs, rewards, dones

    return run

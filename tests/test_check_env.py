"""check_env: every environment of the library conforms; broken ones are caught and named."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import robustmas.envs
from robustmas.envs import EnvCheckError, check_env
from robustmas.envs.bandit import ContextualBandit, CueMemory, SimplexBandit
from robustmas.envs.core import declared_horizon
from robustmas.envs.grid_presets import make_grid_game
from robustmas.envs.pursuit import Pursuit, PursuitParams
from robustmas.envs.repeated_matrix import RepeatedMatrixGame
from robustmas.envs.spread import IndependentSpread
from robustmas.envs.stackelberg.pomdp import StackelbergPOMDP
from robustmas.envs.stackelberg.settings import SETTINGS, make_setting
from robustmas.games import library

SMALL = {"num_rounds": 5, "num_reward_rounds": 2}
"""Stackelberg knobs that keep compilation cheap (the dynamics are a scan of this length)."""

SETTING_ARGS: dict[str, dict[str, Any]] = {
    "muspm-general-v0": {"types": 2, "messages": 2},
}
"""Smaller-than-default setting parameters, where the default is large."""


def _stackelberg(setting: str, **knobs: Any) -> tuple[Any, Any, dict[str, Any]]:
    params = make_setting(setting, **SETTING_ARGS.get(setting, {}), **SMALL, **knobs)
    return StackelbergPOMDP(params), params, {}


def _bandit(episode_length: int) -> tuple[Any, Any, dict[str, Any]]:
    env = ContextualBandit()
    params = env.default_params().replace(episode_length=episode_length)
    return env, params, {}


def _repeated(game: Any, length: int) -> tuple[Any, Any, dict[str, Any]]:
    env = RepeatedMatrixGame(game, episode_length=length)
    return env, env.default_params(), {}


VARIANTS: dict[str, dict[str, Any]] = {
    "escape-v0": {"randomized": True},  # Box row weights
    "matrix-design-v0": {"randomized": True, "simplex_actions": True},  # Simplex actions
    "allocation-v0": {"critic_full": False},  # the critic sees the actor's observation only
}
"""Knobs per preset, so that each action space and critic view is checked once."""

ENVS: dict[str, Callable[[], tuple[Any, Any, dict[str, Any]]]] = {
    **{
        f"stackelberg:{s}": (lambda s=s: _stackelberg(s, **VARIANTS.get(s, {})))
        for s in sorted(SETTINGS)
    },
    "contextual-bandit:3-steps": lambda: _bandit(3),
    # These two declare no horizon; their documented episode lengths are held to here.
    "simplex-bandit": lambda: (
        SimplexBandit(),
        SimplexBandit().default_params(),
        {"max_episode_steps": 1},
    ),
    "cue-memory": lambda: (CueMemory(), None, {"max_episode_steps": 2}),
    "repeated-matrix:rps": lambda: _repeated(library.rock_paper_scissors(), 3),
    "repeated-matrix:3-players": lambda: _repeated(library.random_game(3, 2, seed=0), 2),
    # Every grid-game preset and variant is checked in tests/test_grid_game.py.
    "grid-game:tragedy-v0": lambda: (lambda s: (s.env, s.params, {}))(
        make_grid_game("tragedy-v0", episode_length=3)
    ),
    # More Spread checks (mpe2 physics, velocity observations) in tests/test_spread.py.
    "spread:3-agents": lambda: (
        IndependentSpread(3),
        IndependentSpread(3).default_params().replace(episode_length=4),
        {},
    ),
    # A small Pursuit; its rules and PettingZoo replays are in tests/test_pursuit.py.
    "pursuit:small": lambda: (
        Pursuit(3, 4, x_size=8, y_size=6, obs_range=3),
        PursuitParams(max_cycles=3),
        {},
    ),
}


CHECKED_ELSEWHERE = {
    # Optional extra (mjx); its check_env compiles MJX for minutes, so it is a slow test there.
    "robustmas.envs.ant.MultiAgentAnt": "tests/test_ant.py::test_conforms_to_the_env_protocol",
    "robustmas.envs.economy.agents_view.EconomyAgents": (
        "tests/test_economy.py::test_agents_view_conforms_to_protocol"
    ),
    "robustmas.envs.economy.planner_view.EconomyPlanner": (
        "tests/test_economy.py::test_planner_view_conforms_and_its_learner_obeys_the_mask"
    ),
    "robustmas.envs.economy.planner_view.EconomyAgentsUnderPlanner": (
        "tests/test_economy.py::test_agents_under_a_frozen_planner"
    ),
    "robustmas.envs.economy.joint_view.EconomyJoint": (
        "tests/test_economy_joint.py::test_joint_view_conforms"
    ),
    # Agents and planner are heterogeneous (dict observations): not a protocol environment;
    # its protocol view is EconomyAgents, above.
    "robustmas.envs.economy.env.GatherTradeBuild": "tests/test_economy.py (AIE replays)",
}
"""Environment classes whose conformance check lives in their own test file."""


@pytest.mark.parametrize("name", sorted(ENVS))
def test_library_env_conforms(name: str) -> None:
    env, params, kwargs = ENVS[name]()
    check_env(env, params, name=name, **kwargs)


def test_every_env_class_is_checked() -> None:
    """Each class under robustmas.envs with reset and step (adapters aside) is in ENVS."""
    found = set()
    for info in pkgutil.walk_packages(robustmas.envs.__path__, "robustmas.envs."):
        if info.name.endswith(".adapters"):  # Gymnasium wrapper of a protocol env, not one
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if getattr(cls, "_is_protocol", False):  # the protocol itself
                continue
            if cls.__module__ == info.name and all(
                inspect.isfunction(getattr(cls, m, None)) for m in ("reset", "step")
            ):
                found.add(cls)
    checked = {type(ENVS[name]()[0]) for name in ENVS}
    found = {c for c in found if f"{c.__module__}.{c.__qualname__}" not in CHECKED_ELSEWHERE}
    assert found, "no environment classes found"
    assert found <= checked, f"not checked: {sorted(c.__name__ for c in found - checked)}"


def test_declared_horizons() -> None:
    params = make_setting("muspm-v0", **SMALL)
    assert declared_horizon(StackelbergPOMDP(params), params) == 4  # one step per observation
    env, params, _ = _bandit(3)
    assert declared_horizon(env, params) == 3
    assert declared_horizon(CueMemory(), None) is None


# ------------------------------------------------------------------------------------------------
# Broken environments: each breach is reported with the env, the method and what differed.
# ------------------------------------------------------------------------------------------------


class _Broken(ContextualBandit):
    """A contextual bandit with one defect switched on."""

    def __init__(self, defect: str) -> None:
        super().__init__()
        self.defect = defect
        self.calls = 0 if defect == "hidden-state" else None

    def reset(self, key, params):
        obs, state = super().reset(key, params)
        if self.defect == "obs-shape":
            obs = obs[:-1]
        if self.defect == "reset-ignores-key-purity":
            obs = obs * np.random.default_rng().uniform(0.5, 1.0)
        return obs, state

    def reset_from(self, key, state, params):
        obs, fresh = self.reset(key, params)
        if self.defect == "reset-from-layout":  # memory carried in the wrong dtype
            fresh = fresh.replace(t=fresh.t.astype(jnp.float32))
        return obs, fresh

    def step(self, key, state, action, params):
        obs, state, reward, done, info = super().step(key, state, action, params)
        if self.defect == "reward-shape":
            reward = jnp.stack([reward, reward])
        if self.defect == "done-dtype":
            done = done.astype(jnp.int32)
        if self.defect == "python-reward":
            reward = 1.0
        if self.defect == "never-done":
            done = jnp.bool_(False)
        if self.defect == "state-layout":
            state = state.replace(t=state.t.astype(jnp.float32))
        if self.defect == "mutates-params":
            params.reward_table[0, 0] += 1.0
        if self.defect == "hidden-state":
            self.calls = (self.calls or 0) + 1
        return obs, state, reward, done, info


@pytest.mark.parametrize(
    ("defect", "method", "what"),
    [
        ("obs-shape", "reset", "obs: shape"),
        ("reset-ignores-key-purity", "reset", "same key"),
        ("reward-shape", "step", "reward: shape"),
        ("done-dtype", "step", "done: dtype"),
        ("python-reward", "step", "reward: expected an array, got float"),
        ("never-done", "step", "declared horizon 1"),
        ("state-layout", "step", "state shapes/dtypes changed"),
        ("mutates-params", "reset/step", "params passed in (mutated)"),
        ("hidden-state", "reset/step", "'calls'"),
        ("reset-from-layout", "reset_from", "state shapes/dtypes changed"),
    ],
)
def test_breaches_are_named(defect: str, method: str, what: str) -> None:
    env = _Broken(defect)
    params = env.default_params()
    if defect == "mutates-params":
        params = params.replace(reward_table=np.array(params.reward_table))
    with pytest.raises(EnvCheckError) as err:
        check_env(env, params, name=f"broken-{defect}")
    message = str(err.value)
    assert message.startswith(f"check_env(broken-{defect}): {method}: "), message
    assert what in message, message


def test_jit_mismatch_is_named() -> None:
    """A step that branches on Python-level tracing differs under jit and is reported."""

    class TraceSensitive(ContextualBandit):
        def step(self, key, state, action, params):
            obs, state, reward, done, info = super().step(key, state, action, params)
            if isinstance(reward, jax.core.Tracer):
                reward = reward + 1.0
            return obs, state, reward, done, info

    with pytest.raises(
        EnvCheckError, match=r"^check_env\(TraceSensitive\): step: jax.jit vs plain"
    ):
        check_env(TraceSensitive())

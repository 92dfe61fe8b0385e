"""The Gymnasium adapter: API conformance, seeding, known rewards, .nfg files, and SB3 PPO."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from robustmas.envs.adapters import (  # noqa: E402
    STACKELBERG_ENV_ID,
    GymnasiumEnv,
    make_stackelberg_env,
    register_envs,
)
from robustmas.envs.stackelberg.pomdp import StackelbergPOMDP  # noqa: E402
from robustmas.envs.stackelberg.settings import SETTINGS, make_setting  # noqa: E402
from robustmas.games import library  # noqa: E402
from robustmas.games.formats import write_nfg  # noqa: E402


def _make(setting: str = "maintain-v0", **params):
    return gymnasium.make(STACKELBERG_ENV_ID, setting=setting, **params)


def _episode(env, seed: int | None, actions=None) -> tuple[list[np.ndarray], list[float]]:
    """Observations and rewards of one episode (actions sampled from a seeded space if None)."""
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    if actions is None:
        env.action_space.seed(0 if seed is None else seed)
    for t in range(10_000):
        action = env.action_space.sample() if actions is None else actions[t]
        obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        assert not truncated
        if terminated:
            return observations, rewards
    raise AssertionError("episode did not end")


CHECKED = [(sid, {}) for sid in SETTINGS] + [("maintain-v0", {"randomized": True})]


@pytest.mark.parametrize(("setting", "extra"), CHECKED, ids=[f"{s}{e}" for s, e in CHECKED])
def test_check_env_every_setting(setting: str, extra: dict) -> None:
    env = _make(setting, num_rounds=20, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(env.unwrapped)
    k = env.observation_space.shape[0]
    assert env.observation_space == gymnasium.spaces.Box(0.0, 1.0, (k,), np.float32)
    inner = env.unwrapped
    assert isinstance(inner, GymnasiumEnv)
    a = inner.params.num_leader_actions
    expected_action = (
        gymnasium.spaces.Box(0.0, 1.0, (a,), np.float32)
        if extra.get("randomized")
        else gymnasium.spaces.Discrete(a)
    )
    assert env.action_space == expected_action
    # A whole episode through gymnasium.make's wrappers (passive checker, order enforcing).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        observations, rewards = _episode(env, seed=1)
    assert len(rewards) == k
    assert all(o.dtype == np.float32 and o in env.observation_space for o in observations)
    critic = inner.critic_observation()
    assert critic.dtype == np.float32 and critic in inner.critic_observation_space


def test_same_seed_same_episode() -> None:
    # muSPM: 4 decision steps, random types; few reward rounds so the sampled reward varies.
    params = {"num_rounds": 20, "num_reward_rounds": 3}
    env, twin = _make("muspm-v0", **params), _make("muspm-v0", **params)
    first = _episode(env, seed=7)
    for other in (_episode(env, seed=7), _episode(twin, seed=7)):
        for a, b in zip(first[0], other[0], strict=True):
            np.testing.assert_array_equal(a, b)
        assert first[1] == other[1]
    # Unseeded resets continue the seeded stream reproducibly.
    _episode(env, seed=3)
    _episode(twin, seed=3)
    assert _episode(env, None, [0] * 4)[1] == _episode(twin, None, [0] * 4)[1]
    # The seed reaches the dynamics: a fixed map earns different sampled rewards across seeds.
    rewards = {_episode(env, seed=s, actions=[5, 5, 60, 60])[1][-1] for s in range(8)}
    assert len(rewards) > 1


def test_maintain_rewards_pure_and_randomised() -> None:
    _, rewards = _episode(_make("maintain-v0"), seed=0, actions=[0])
    assert rewards == [20.0]
    _, rewards = _episode(_make("maintain-v0"), seed=0, actions=[1])
    assert rewards == [pytest.approx(10.0)]
    env = _make("maintain-v0", randomized=True, num_rounds=200)
    weights = np.array([0.28, 0.72, 0.0], np.float32)
    _, rewards = _episode(env, seed=0, actions=[weights])
    assert rewards[0] == pytest.approx(20 * 0.28 + 30 * 0.72, abs=0.2)
    # The environment normalises: scaled weights give the same commitment.
    assert _episode(env, seed=0, actions=[2 * weights])[1] == rewards


def test_nfg_file_setting(tmp_path) -> None:
    path = tmp_path / "m.nfg"
    write_nfg(library.maintain(), path)
    for setting in (str(path), path):
        env = _make(setting, num_rounds=20)
        assert env.action_space == gymnasium.spaces.Discrete(3)
        assert _episode(env, seed=0, actions=[0])[1] == [20.0]
    env = _make(str(path), randomized=True)
    assert isinstance(env.action_space, gymnasium.spaces.Box)


def test_bad_settings_and_actions(tmp_path) -> None:
    with pytest.raises(ValueError, match="no-such-setting-v0"):
        _make("no-such-setting-v0")
    with pytest.raises(ValueError, match=r"missing\.nfg"):
        _make(str(tmp_path / "missing.nfg"))
    with pytest.raises(ValueError, match="colour"):
        _make("allocation-v0", colour=3)
    path = tmp_path / "m.nfg"
    write_nfg(library.maintain(), path)
    with pytest.raises(ValueError, match="items"):
        _make(str(path), items=3)
    env = make_stackelberg_env("maintain-v0")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(3)
    with pytest.raises(ValueError, match="action"):
        env.step(0.5)


def test_wraps_any_protocol_env_and_registers_once() -> None:
    params = make_setting("allocation-v0", items=3, messages=2, num_rounds=50)
    env = GymnasiumEnv(StackelbergPOMDP(params))  # params default to the env's own
    assert env.params is params
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [1.0, 0.0])
    assert info == {}
    _, reward, terminated, truncated, info = env.step(np.int64(0))
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info == {"leader_payoff": 0.0, "final": False}
    assert type(info["leader_payoff"]) is float and type(info["final"]) is bool
    _, _, terminated, _, info = env.step(1)
    assert terminated and info["final"] is True
    register_envs()  # idempotent
    assert STACKELBERG_ENV_ID in gymnasium.registry


def test_core_package_does_not_import_the_adapter() -> None:
    code = (
        "import sys, robustmas, robustmas.envs, robustmas.envs.stackelberg.settings, "
        "robustmas.games.formats\n"
        "assert 'robustmas.envs.adapters' not in sys.modules\n"
        "assert 'gymnasium' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow  # CI time: a learning check
def test_sb3_ppo_learns_maintain_optimum() -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    env = _make("maintain-v0", num_rounds=20)
    model = sb3.PPO(
        "MlpPolicy",
        env,
        n_steps=64,
        batch_size=64,
        learning_rate=3e-3,
        policy_kwargs={"net_arch": [16]},
        seed=0,
        device="cpu",
    )
    model.learn(total_timesteps=3_000)
    obs, _ = env.reset(seed=123)
    action, _ = model.predict(obs, deterministic=True)
    _, reward, terminated, _, _ = env.step(action)
    assert terminated
    assert int(action) == 0  # row A: the best pure commitment
    assert reward >= 20.0 - 1e-6

"""Multi-Agent Ant 4x2 on MJX (ARNEQ paper App. C.2) against MaMuJoCo's Ant 4x2.

The reference numbers in ``tests/data/ant_mamujoco.json`` come from
``gymnasium_robotics.mamujoco_v1`` (Gymnasium Ant-v5 on MuJoCo's C engine), written by::

    .venv/bin/python tests/test_ant.py --write-fixture

(needs the ``mjx`` extra, which brings ``gymnasium-robotics``).  ``test_fixture_is_current``
re-records them when MaMuJoCo is installed.  The default tests do not compile MJX's physics
(the layouts, the actuator map on MuJoCo's C engine, the reward and termination rule, the
reset); the tests that step MJX are slow: one compiled step takes 20-35 s on 2 cores, and they
share it, except the protocol check, which compiles several programs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

FIXTURE = Path(__file__).parent / "data" / "ant_mamujoco.json"
SEED = 0
WARMUP_STEPS = 12  # random steps before the recorded ones: the Ant lands and takes off again
RECORDED_STEPS = 8

LEG_OF_AGENT = [4, 1, 2, 3]  # agent a drives actuators 2a, 2a + 1: hip/ankle of this leg


def record_mamujoco() -> dict[str, Any]:
    """Layouts and a short random-action trajectory of MaMuJoCo's Ant 4x2 (``agent_obsk=None``)."""
    import mujoco
    from gymnasium_robotics import mamujoco_v1

    env = mamujoco_v1.parallel_env("Ant", "4x2", agent_obsk=None)
    base = env.single_agent_env.unwrapped
    model, data = base.model, base.data
    obs, _ = env.reset(seed=SEED)
    (agent,) = env.agents  # agent_obsk=None: one agent with all 8 actions
    out: dict[str, Any] = {
        "generated_by": "tests/test_ant.py --write-fixture",
        "versions": {
            "mujoco": mujoco.__version__,
            "gymnasium_robotics": _version("gymnasium-robotics"),
            "gymnasium": _version("gymnasium"),
        },
        "agents_obsk_none": list(env.agents),
        "observation_size": int(env.observation_space(agent).shape[0]),
        "action_size": int(env.action_space(agent).shape[0]),
        "observation_structure": dict(base.observation_structure),
        "dt": float(base.dt),
        "actuator_joints": [
            mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, int(model.actuator_trnid[i, 0]))
            for i in range(model.nu)
        ],
        "reset_obs": obs[agent].tolist(),
        "steps": [],
    }
    # MaMuJoCo's own 4x2 split (agent_obsk set): which global actuator each agent's entry drives.
    split = mamujoco_v1.parallel_env("Ant", "4x2", agent_obsk=1)
    tagged = {a: np.array([10.0 * i, 10.0 * i + 1]) for i, a in enumerate(split.possible_agents)}
    global_action = split.map_local_actions_to_global_action(tagged)
    out["mamujoco_4x2_actuators"] = [
        [int(np.flatnonzero(global_action == 10.0 * i + j)[0]) for j in range(2)]
        for i in range(len(split.possible_agents))
    ]
    rng = np.random.default_rng(SEED)
    for t in range(WARMUP_STEPS + RECORDED_STEPS):
        before = {
            "qpos": data.qpos.tolist(),
            "qvel": data.qvel.tolist(),
            "qacc_warmstart": data.qacc_warmstart.tolist(),
        }
        action = rng.uniform(-1.0, 1.0, size=8)
        # Replay the step's physics steps on a copy: does a geom come near the floor (within the
        # contact margin, 0.02, plus what an RK4 stage may move)?
        scratch = mujoco.MjData(model)
        scratch.qpos[:], scratch.qvel[:] = data.qpos, data.qvel
        scratch.qacc_warmstart[:], scratch.ctrl[:] = data.qacc_warmstart, action
        gaps = []
        for k in range(base.frame_skip + 1):
            mujoco.mj_forward(model, scratch)
            gaps += [
                mujoco.mj_geomDistance(model, scratch, 0, g, 1.0, None)
                for g in range(1, model.ngeom)
            ]
            if k < base.frame_skip:
                mujoco.mj_step(model, scratch)
        obs, _, term, _, info = env.step({agent: action})
        np.testing.assert_array_equal(scratch.qpos, data.qpos)  # the replay was faithful
        if t < WARMUP_STEPS:
            continue
        step_obs = np.asarray(obs[agent])
        # The layout that the test relies on: qpos[2:], qvel, clip(cfrc_ext[1:], -1, 1).
        np.testing.assert_array_equal(step_obs[:13], data.qpos[2:])
        np.testing.assert_array_equal(step_obs[13:27], data.qvel)
        np.testing.assert_array_equal(step_obs[27:], np.clip(data.cfrc_ext[1:], -1, 1).ravel())
        out["steps"].append(
            {
                "before": before,
                "action": action.tolist(),
                "obs": step_obs.tolist(),
                "qpos": data.qpos.tolist(),
                "qvel": data.qvel.tolist(),
                "contact": bool(min(gaps) < 0.04),
                "x_velocity": float(info[agent]["x_velocity"]),
                "terminated": bool(term[agent]),
            }
        )
    env.close()
    split.close()
    return out


def _version(dist: str) -> str:
    from importlib import metadata

    return metadata.version(dist)


@pytest.fixture(scope="module")
def fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def env() -> Any:
    pytest.importorskip("mujoco.mjx")
    from robustmas.envs.ant import MultiAgentAnt

    return MultiAgentAnt(include_contact_forces=True)


def _state(qpos: Any, qvel: Any, warm: Any = None, t: int = 0) -> Any:
    from robustmas.envs.ant import AntState

    qvel = jnp.asarray(qvel, jnp.float32)
    return AntState(
        qpos=jnp.asarray(qpos, jnp.float32),
        qvel=qvel,
        qacc_warmstart=jnp.zeros_like(qvel) if warm is None else jnp.asarray(warm, jnp.float32),
        contact_forces=jnp.zeros((13, 6)),
        t=jnp.int32(t),
    )


def test_layout_and_actuators_match_mamujoco(env: Any, fixture: dict[str, Any]) -> None:
    from robustmas.envs.ant import MultiAgentAnt

    # MaMuJoCo's global observation: qpos[2:] (13), qvel (14), clipped cfrc_ext[1:] (78).
    assert fixture["observation_structure"] == {
        "skipped_qpos": 2,
        "qpos": 13,
        "qvel": 14,
        "cfrc_ext": 78,
    }
    assert fixture["observation_size"] == 105 and fixture["action_size"] == 8
    assert fixture["agents_obsk_none"] == ["agent_0"]  # MaMuJoCo: one agent when obsk is None
    params = env.default_params()
    assert env.observation_space(params).shape == (105,)
    plain = MultiAgentAnt()
    assert plain.observation_space(params).shape == (27,)
    assert plain.action_space(params).shape == (2,) and plain.num_agents == 4
    assert env.dt == pytest.approx(fixture["dt"]) == pytest.approx(0.05)
    for step in fixture["steps"]:
        state = _state(step["qpos"], step["qvel"])
        np.testing.assert_allclose(plain.observation(state), step["obs"][:27], rtol=1e-6)
        obs = plain._obs(state)
        assert obs.shape == (4, 27) and bool(jnp.all(obs == obs[0]))  # global, same for all
    # Actuators: the same XML; agent a drives actuators 2a, 2a + 1, the hip and ankle of one leg.
    assert list(env.actuator_joints) == fixture["actuator_joints"]
    for a, leg in enumerate(LEG_OF_AGENT):
        assert env.actuator_joints[2 * a : 2 * a + 2] == (f"hip_{leg}", f"ankle_{leg}")
        # MaMuJoCo's 4x2 gives agent a leg a + 1 instead (module docstring).
        assert fixture["mamujoco_4x2_actuators"][a] == [(2 * a + 2) % 8, (2 * a + 3) % 8]
    action = jnp.arange(8.0).reshape(4, 2) / 10 - 0.35
    np.testing.assert_allclose(env.controls(action), np.arange(8.0) / 10 - 0.35, rtol=1e-6)
    np.testing.assert_array_equal(env.controls(jnp.full((4, 2), 3.0)), np.ones(8))


def test_each_agent_torques_only_its_leg(env: Any) -> None:
    """On MuJoCo's C engine with the same XML: agent a's controls reach only its leg's joints."""
    import mujoco

    model = mujoco.MjModel.from_xml_path(str(env.xml_path))
    data = mujoco.MjData(model)
    for a, leg in enumerate(LEG_OF_AGENT):
        data.ctrl[:] = np.asarray(env.controls(jnp.zeros((4, 2)).at[a].set([0.5, -1.0])))
        mujoco.mj_forward(model, data)
        torque = {
            model.joint(int(model.dof_jntid[i])).name: data.qfrc_actuator[i]
            for i in range(model.nv)
        }
        assert torque.pop(f"hip_{leg}") == pytest.approx(0.5 * 150)  # gear 150
        assert torque.pop(f"ankle_{leg}") == pytest.approx(-1.0 * 150)
        assert all(v == 0.0 for v in torque.values()), (a, torque)


def test_reward_and_termination_rule(env: Any) -> None:
    params = env.default_params()
    before = _state(env._qpos0, jnp.zeros(14), t=3)
    after = _state(env._qpos0.at[0].add(0.1).at[2].set(0.5), jnp.ones(14), t=4)
    obs, new, reward, done, info = env.outcome(before, after, params)
    np.testing.assert_allclose(reward, np.full(4, 0.1 / 0.05 + 0.1), rtol=1e-5)
    assert float(info["forward_reward"]) == pytest.approx(2.0, rel=1e-5)
    assert bool(info["healthy"]) and not bool(done) and new is after
    assert obs.shape == (4, 105) and bool(jnp.all(obs == env.observation(after)))
    for z in (0.19, 1.01, float("nan")):  # out of [0.2, 1.0], or not finite: unhealthy, done
        fallen = after.replace(qpos=after.qpos.at[2].set(z))
        _, _, reward, done, info = env.outcome(before, fallen, params)
        assert bool(done) and not bool(info["healthy"]), z
        np.testing.assert_allclose(reward, np.full(4, 2.0), rtol=1e-5)  # no healthy reward
    for z in (0.2, 1.0):  # the bounds are healthy
        assert bool(
            env.outcome(before, after.replace(qpos=after.qpos.at[2].set(z)), params)[4]["healthy"]
        )
    _, _, reward, _, _ = env.outcome(
        before, after.replace(qpos=after.qpos.at[0].set(jnp.inf)), params
    )
    np.testing.assert_array_equal(reward, np.zeros(4))  # a non-finite state scores 0
    horizon = after.replace(t=jnp.int32(params.episode_length))
    assert bool(env.outcome(before, horizon, params)[3])  # the last step of an episode
    assert not bool(env.outcome(before, after, params.replace(episode_length=5))[3])


@pytest.mark.slow
def test_one_agent_moves_only_its_leg(env: Any) -> None:
    params = env.default_params()
    rest = _state(env._qpos0.at[2].set(0.6), jnp.zeros(14))  # in the air, legs flat
    _, idle, *_ = env.step(jax.random.PRNGKey(0), rest, jnp.zeros((4, 2)), params)
    joint = {
        name: 7 + i
        for i, name in enumerate(  # qpos index of each hinge
            ["hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3", "hip_4", "ankle_4"]
        )
    }
    for a, leg in enumerate(LEG_OF_AGENT):
        action = jnp.zeros((4, 2)).at[a].set(1.0)
        _, moved, *_ = env.step(jax.random.PRNGKey(0), rest, action, params)
        change = np.asarray(moved.qpos - idle.qpos)
        mine = [joint[f"hip_{leg}"], joint[f"ankle_{leg}"]]
        others = [i for i in range(7, 15) if i not in mine]
        assert change[mine].min() > 5e-2, (a, change)  # positive torque, positive turn
        # The other legs move only through the torso's recoil (about 1% here).
        assert np.abs(change[others]).max() < 0.05 * change[mine].min(), (a, change)


@pytest.mark.slow
def test_step_against_mamujoco(env: Any, fixture: dict[str, Any]) -> None:
    """One env step from MaMuJoCo's recorded states: MJX (float32) against MuJoCo C (float64).

    In the air they agree to float32 rounding.  When a leg touches the floor they differ (also
    in float64 with the XML's solver settings): MJX's capsule-plane contacts have a fixed
    world-aligned tangent frame, MuJoCo C's follows the capsule, and MuJoCo's pyramidal friction
    cones are not symmetric under that rotation, so the friction forces differ.
    """
    params = env.default_params()
    steps = fixture["steps"]
    assert 0 < sum(s["contact"] for s in steps) < len(steps)  # both kinds of step
    for step in steps:
        before = step["before"]
        state = _state(before["qpos"], before["qvel"], before["qacc_warmstart"])
        action = jnp.asarray(step["action"], jnp.float32).reshape(4, 2)  # same actuator order
        obs, new, reward, done, info = env.step(jax.random.PRNGKey(0), state, action, params)
        if step["contact"]:
            np.testing.assert_allclose(new.qpos, step["qpos"], atol=1e-2)
            np.testing.assert_allclose(new.qvel, step["qvel"], atol=1.5)
            np.testing.assert_allclose(obs[0, :27], step["obs"][:27], atol=1.5)
        else:
            np.testing.assert_allclose(new.qpos, step["qpos"], atol=1e-5)
            np.testing.assert_allclose(new.qvel, step["qvel"], atol=1e-4)
            np.testing.assert_allclose(obs[0], step["obs"], atol=1e-4)  # no contact forces
        forward = (step["qpos"][0] - before["qpos"][0]) / 0.05
        assert float(info["forward_reward"]) == pytest.approx(forward, abs=0.05)
        # Gymnasium's x_velocity reads the torso's xpos (last RK4 stage), not the final qpos.
        assert float(info["forward_reward"]) == pytest.approx(step["x_velocity"], abs=0.1)
        assert bool(done) is step["terminated"] is False
        np.testing.assert_array_equal(reward, np.full(4, reward[0]))


@pytest.mark.slow
def test_reward_and_termination_on_hand_checked_steps(env: Any) -> None:
    params = env.default_params()
    qpos = env._qpos0.at[2].set(0.6)
    qvel = jnp.zeros(14).at[0].set(2.0)  # torso flying forward at 2 m/s
    state = _state(qpos, qvel, t=3)
    obs, new, reward, done, info = env.step(jax.random.PRNGKey(0), state, jnp.zeros((4, 2)), params)
    dx = float(new.qpos[0] - qpos[0])
    assert 0.08 < dx < 0.11  # about 2 m/s x 0.05 s, less the damping of the legs' contacts
    np.testing.assert_allclose(reward, np.full(4, dx / 0.05 + 0.1), rtol=1e-5)
    assert float(info["forward_reward"]) == pytest.approx(dx / 0.05, rel=1e-5)
    assert bool(info["healthy"]) and not bool(done) and int(new.t) == 4
    np.testing.assert_allclose(obs[2], np.asarray(env.observation(new)))
    # The last step of an episode.
    *_, done, _ = env.step(
        jax.random.PRNGKey(0),
        state.replace(t=jnp.int32(params.episode_length - 1)),
        jnp.zeros((4, 2)),
        params,
    )
    assert bool(done)
    # In the air at 0.6: too low for a floor of 0.65, too high at 1.3 > 1.0; no healthy reward.
    for z, floor in ((0.6, 0.65), (1.3, 0.2)):
        low = _state(env._qpos0.at[2].set(z), jnp.zeros(14))
        _, new, reward, done, info = env.step(
            jax.random.PRNGKey(0), low, jnp.zeros((4, 2)), params.replace(healthy_z_min=floor)
        )
        assert bool(done) and not bool(info["healthy"]), z
        forward = float(new.qpos[0] - low.qpos[0]) / 0.05
        np.testing.assert_allclose(reward, np.full(4, forward), rtol=1e-5, atol=1e-6)


def test_reset_noise(env: Any) -> None:
    params = env.default_params()
    keys = jax.random.split(jax.random.PRNGKey(1), 256)
    obs, states = jax.vmap(lambda k: env.reset(k, params))(keys)
    noise = np.asarray(states.qpos - env._qpos0)
    assert np.abs(noise).max() <= 0.1 and np.abs(noise).max() > 0.09  # U[-0.1, 0.1]
    assert 0.07 < np.asarray(states.qvel).std() < 0.13  # 0.1 N(0, 1)
    assert obs.shape == (256, 4, 105) and not np.asarray(states.contact_forces).any()
    assert np.asarray(states.qpos[:, 2]).min() > 0.64  # the Ant starts in the air
    assert bool(jnp.all(jax.vmap(lambda s: env.healthy(s, params))(states)))


def test_fixture_is_current(fixture: dict[str, Any]) -> None:
    pytest.importorskip("gymnasium_robotics")
    fresh = record_mamujoco()
    if fresh["versions"] != fixture["versions"]:
        pytest.skip(f"MaMuJoCo versions differ: {fresh['versions']} vs {fixture['versions']}")
    assert fresh == fixture


@pytest.mark.slow
def test_conforms_to_the_env_protocol() -> None:
    pytest.importorskip("mujoco.mjx")
    from robustmas.envs.ant import MultiAgentAnt
    from robustmas.envs.check import check_env

    env = MultiAgentAnt()
    check_env(env, env.default_params().replace(episode_length=3), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="integrator"):
        MultiAgentAnt(integrator="rk45")  # type: ignore[arg-type]


@pytest.mark.slow
def test_jit_and_vmap_agree_with_single_steps(env: Any) -> None:
    params = env.default_params()
    keys = jax.random.split(jax.random.PRNGKey(2), 3)
    _, states = jax.vmap(lambda k: env.reset(k, params))(keys)
    actions = jax.random.uniform(jax.random.PRNGKey(3), (3, 4, 2), minval=-1, maxval=1)
    batched = jax.jit(jax.vmap(lambda s, a: env.step(keys[0], s, a, params)))(states, actions)
    for i in range(3):
        one = env.step(
            keys[0], jax.tree_util.tree_map(lambda x, i=i: x[i], states), actions[i], params
        )
        np.testing.assert_allclose(batched[0][i], one[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(batched[2][i], one[2], rtol=1e-4, atol=1e-4)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-fixture"]:
        sys.exit("usage: python tests/test_ant.py --write-fixture")
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(record_mamujoco(), indent=1) + "\n")
    print(f"wrote {FIXTURE}")


@pytest.mark.slow  # CI time: three MJX programs compile
def test_pettingzoo_adapter_passes_the_parallel_api_test() -> None:
    pytest.importorskip("mujoco.mjx")
    pytest.importorskip("pettingzoo")
    from pettingzoo.test import parallel_api_test

    from robustmas.envs.parallel.adapters import make_parallel_ant

    env = make_parallel_ant(episode_length=6)
    assert env.possible_agents == [f"agent_{i}" for i in range(4)]
    parallel_api_test(env, num_cycles=14)
    obs, _ = env.reset(seed=0)
    assert obs["agent_0"].shape == (27,)
    for name in env.possible_agents[1:]:  # one global observation, as MaMuJoCo's agent_obsk=None
        np.testing.assert_array_equal(obs[name], obs["agent_0"])
    steps = 0
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        _, rewards, _, _, _ = env.step(actions)
        steps += 1
        assert len(set(rewards.values())) == 1  # the shared forward-progress reward
    assert steps <= 6

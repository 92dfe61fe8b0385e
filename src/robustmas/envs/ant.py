"""Multi-Agent Ant 4x2 on MuJoCo's JAX engine, MJX (``mjx`` extra).

Reference: Nika, Nöther, Singla, Radanović, "Defending Against Unknown Corrupted Agents:
Reinforcement Learning of Adversarially Robust Nash Equilibria", TMLR, App. C.2 (after MaMuJoCo,
Peng et al., "FACMAC", NeurIPS 2021); spec ``arneq-art.md`` Sec. 5.2 and decision 11.

The robot is Gymnasium's Ant (``gymnasium/envs/mujoco/assets/ant.xml``, the XML of Ant-v5,
read from the installed ``gymnasium`` at construction): a torso with four legs, eight hinge
motors (gear 150, control range ``[-1, 1]``), RK4 with a 0.01 s time step, 5 physics steps per
env step (``dt = 0.05``).  Four agents, one leg each ("4x2"): agent ``a`` drives actuators
``2a`` and ``2a + 1`` of the XML, whose order is hip4, ankle4, hip1, ankle1, hip2, ankle2,
hip3, ankle3, so agent 0 moves leg 4, agent 1 leg 1, agent 2 leg 2 and agent 3 leg 3.  Each
agent's action is ``Box[-1, 1]^2`` (hip, ankle); actions outside are clipped.

All agents share one reward (no control or contact cost, spec 5.2)::

    r = (x_after - x_before) / dt + healthy_reward * healthy        (healthy_reward 0.1)

with ``x`` the torso's x position (the free joint's ``qpos[0]``).  The Ant is healthy while
its state is finite and the torso height ``qpos[2]`` lies in ``[0.2, 1.0]``; the episode ends
on the first unhealthy step or after ``episode_length`` steps (1000).  Reset as Gymnasium's
Ant: ``qpos = qpos0 + U[-0.1, 0.1]`` (all 15 entries, the quaternion included and not
renormalised), ``qvel = 0.1 N(0, 1)``.  Every agent sees the same global observation
(decision 11): ``qpos[2:]`` (13: torso height, orientation quaternion, 8 joint angles) and
``qvel`` (14), 27 numbers, exactly the first 27 entries of Gymnasium Ant-v5's observation (and
so of MaMuJoCo's with ``agent_obsk=None``).  ``include_contact_forces=True`` appends Ant-v5's
contact forces, ``clip(cfrc_ext[1:], -1, 1)`` (78 numbers, 105 in all, Ant-v5's full
observation); they are zero at reset, where the Ant is in the air.  The critic sees the
observation and ``t / T``.

How this differs from MaMuJoCo (``gymnasium_robotics.mamujoco_v1``, ``"Ant", "4x2"``, which
steps Gymnasium's Ant-v5 on MuJoCo's C engine):

* physics: MJX's JAX solver in float32 against MuJoCo's C solver in float64, on the same XML
  (RK4, Newton solver, pyramidal friction cones).  While no leg touches the floor one env step
  from the same state agrees to float32 rounding (about 1e-7 in ``qpos``, 1e-6 in ``qvel``).
  With contacts it does not, in float64 and with the XML's solver settings too: MJX gives a
  capsule-plane contact a fixed world-aligned tangent frame, MuJoCo C one aligned with the
  capsule, and the pyramidal friction cone is not symmetric under that rotation, so the
  friction forces differ (one env step with a leg on the floor: up to about 5e-3 in ``qpos``
  and 1 in ``qvel``; the clipped contact forces differ more).  Trajectories therefore diverge
  after the first touchdown; statistics over episodes are what can be compared.  The Newton
  solver stops after ``solver_iterations`` (default 4) iterations with at most
  ``ls_iterations`` (10) line-search steps each, instead of the XML's 100 and 50: MuJoCo C
  converges in 2 iterations on average (at most 5 in a random-action rollout), while in
  float32 the XML's tolerance (1e-8) is never met and MJX would run all 100 under ``vmap``
  (4-5x slower); on 400 states of a random-action rollout the one-step differences to MuJoCo
  C were the same with both settings.  ``integrator="euler"`` is about 4x faster on the
  CPU but a different physics (median one-step ``qvel`` difference 1.2);
* the forward reward: Gymnasium uses the torso body's ``xpos``, which after ``mj_step`` still
  holds the kinematics of the last RK4 stage, not the final ``qpos``; here it is the final
  ``qpos[0]``.  Per step they differ by up to about 0.05 (in units of velocity); over an
  episode both telescope to the distance walked, up to the first and last step.  The ARNEQ
  reward also drops Ant-v5's healthy reward 1.0 (here 0.1), control cost 0.5 and contact cost
  5e-4;
* agents: MaMuJoCo's "4x2" gives agent ``a`` leg ``a + 1`` (actuators ``2a + 2, 2a + 3`` mod
  8; its agent 0 is leg 1), the FACMAC code and the spec give agent ``a`` actuators
  ``2a, 2a + 1`` (agent 0 is leg 4).  Legs 1 and 4 are mirror images under ``y -> -y`` (with
  the hip's sign flipped), so "the adversary controls agent 0" is the same attack up to that
  mirror.  With ``agent_obsk=None`` MaMuJoCo turns the task into one agent with all 8 actions
  and the 105-number observation, so its multi-agent form there is only the observation: every
  agent here sees what that single agent sees (without contact forces by default);
* episodes: Gymnasium's TimeLimit truncates after 1000 steps; here ``done`` covers both, one
  flag (the protocol has no separate truncation).

The environment object holds the MJX model and is otherwise stateless; ``reset`` and ``step``
are pure and jittable, ``vmap`` batches environments.  MJX compiles slowly on the CPU (15-35 s
for a step on 2 cores) and runs far slower there than on a GPU: about 770 env steps/s on 2 CPU
cores, a fifth of MaMuJoCo's speed (``benchmarks/bench_ant.py``, ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import jax
import jax.numpy as jnp
from flax import struct

from robustmas.envs.core import Box

__all__ = ["AntParams", "AntState", "MultiAgentAnt", "gymnasium_ant_xml"]

NUM_AGENTS = 4
"""Legs, one agent each ("4x2")."""
FRAME_SKIP = 5
"""Physics steps per env step (Gymnasium's Ant)."""
_QPOS_SKIPPED = 2
"""The torso's x and y are left out of the observation (Ant-v5's default)."""
_INSTALL_HINT = "pip install 'robustmas[mjx]'"


def _load_mjx() -> tuple[ModuleType, ModuleType]:
    """``(mujoco, mujoco.mjx)``, imported on first use, with a hint naming the extra."""
    try:
        # mujoco.mjx prints "Failed to import warp" when the optional warp-lang is missing.
        with contextlib.redirect_stdout(io.StringIO()):
            import mujoco  # pyright: ignore[reportMissingImports]
            from mujoco import mjx  # pyright: ignore[reportMissingImports]
    except ImportError as err:
        raise ImportError(
            f"MultiAgentAnt needs MuJoCo and MJX (mujoco, mujoco-mjx): {_INSTALL_HINT}"
        ) from err
    return mujoco, mjx


def gymnasium_ant_xml() -> Path:
    """Path of the Ant XML that the installed Gymnasium ships (the one of Ant-v5)."""
    try:
        root = importlib.resources.files("gymnasium")
    except ModuleNotFoundError as err:
        raise ImportError(f"MultiAgentAnt reads Gymnasium's Ant XML: {_INSTALL_HINT}") from err
    path = Path(str(root / "envs" / "mujoco" / "assets" / "ant.xml"))
    if not path.is_file():
        raise FileNotFoundError(f"no Ant XML at {path} (gymnasium >= 1.0 ships it)")
    return path


@struct.dataclass
class AntParams:
    """Reward, termination and reset numbers (data), and the episode length (static)."""

    healthy_reward: float = 0.1
    """Reward per step while healthy (ARNEQ App. C.2: 0.1; Ant-v5: 1.0)."""
    healthy_z_min: float = 0.2
    """Lowest healthy torso height."""
    healthy_z_max: float = 1.0
    """Highest healthy torso height."""
    reset_noise_scale: float = 0.1
    """Half-width of the uniform ``qpos`` noise and scale of the normal ``qvel`` noise."""
    episode_length: int = struct.field(pytree_node=False, default=1000)
    """Most steps per episode (static)."""


@struct.dataclass
class AntState:
    """What carries over between env steps."""

    qpos: jax.Array
    """Joint positions ``(15,)``: torso position and quaternion, then the 8 hinges."""
    qvel: jax.Array
    """Joint velocities ``(14,)``."""
    qacc_warmstart: jax.Array
    """The solver's warm start ``(14,)`` (MuJoCo keeps it in ``mjData`` between steps)."""
    contact_forces: jax.Array
    """``clip(cfrc_ext[1:], -1, 1)`` after the last step, ``(13, 6)`` (zeros unless the
    observation includes them)."""
    t: jax.Array
    """Steps played (int32 scalar)."""


@partial(jax.jit, static_argnames=("mjx", "frame_skip", "contact_forces"))
def _advance(
    model: Any,
    data: Any,
    state: AntState,
    ctrl: jax.Array,
    *,
    mjx: ModuleType,
    frame_skip: int,
    contact_forces: bool,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``frame_skip`` MJX steps from ``state`` under ``ctrl``: ``qpos, qvel, warmstart, cfrc``.

    Jitted so that plain (unjitted) calls of :meth:`MultiAgentAnt.step` compile the physics
    once per process instead of tracing MJX op by op.
    """
    data = data.replace(
        qpos=state.qpos, qvel=state.qvel, qacc_warmstart=state.qacc_warmstart, ctrl=ctrl
    )
    data = jax.lax.fori_loop(0, frame_skip, lambda _, d: mjx.step(model, d), data)
    if contact_forces:
        posted = mjx.rne_postconstraint(model, data)
        # MJX >= 3.3 keeps cfrc_ext in its backend-specific part (``Data.cfrc_ext`` warns).
        cfrc_ext = getattr(posted._impl, "cfrc_ext", None)
        cfrc_ext = posted.cfrc_ext if cfrc_ext is None else cfrc_ext
        cfrc = jnp.clip(cfrc_ext[1:], -1.0, 1.0)
    else:
        cfrc = jnp.zeros_like(state.contact_forces)
    return data.qpos, data.qvel, data.qacc_warmstart, cfrc


class MultiAgentAnt:
    """Four agents, one Ant leg each, sharing a forward-progress reward (see the module doc).

    Args:
        include_contact_forces: append Ant-v5's 78 clipped contact forces to the observation.
        integrator: ``"rk4"`` (the XML's) or ``"euler"`` (faster, a different physics).
        solver_iterations: cap on the Newton solver's iterations (``None``: the XML's 100).
        ls_iterations: cap on its line-search steps (``None``: the XML's 50).
        xml_path: another MuJoCo XML of the same Ant (default: :func:`gymnasium_ant_xml`).

    Raises:
        ImportError: when MuJoCo, MJX or Gymnasium is missing (the ``mjx`` extra).
    """

    def __init__(
        self,
        *,
        include_contact_forces: bool = False,
        integrator: Literal["rk4", "euler"] = "rk4",
        solver_iterations: int | None = 4,
        ls_iterations: int | None = 10,
        xml_path: str | Path | None = None,
    ) -> None:
        mujoco, mjx = _load_mjx()
        integrators = {
            "rk4": mujoco.mjtIntegrator.mjINT_RK4,
            "euler": mujoco.mjtIntegrator.mjINT_EULER,
        }
        if integrator not in integrators:
            raise ValueError(f"integrator: expected 'rk4' or 'euler', got {integrator!r}")
        for name, value in (
            ("solver_iterations", solver_iterations),
            ("ls_iterations", ls_iterations),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}: need an integer >= 1 or None, got {value!r}")
        path = Path(xml_path) if xml_path is not None else gymnasium_ant_xml()
        spec = mujoco.MjModel.from_xml_path(str(path))
        if spec.nu != 2 * NUM_AGENTS or spec.nq != 15 or spec.nv != 14:
            raise ValueError(f"{path}: not the Ant (nu {spec.nu}, nq {spec.nq}, nv {spec.nv})")
        spec.opt.integrator = integrators[integrator]
        if solver_iterations is not None:
            spec.opt.iterations = solver_iterations
        if ls_iterations is not None:
            spec.opt.ls_iterations = ls_iterations
        self.include_contact_forces = bool(include_contact_forces)
        self.integrator = integrator
        self.xml_path = path
        self.dt = float(spec.opt.timestep) * FRAME_SKIP
        """Seconds per env step (0.05)."""
        self.actuator_joints = tuple(
            mujoco.mj_id2name(spec, mujoco.mjtObj.mjOBJ_JOINT, int(spec.actuator_trnid[i, 0]))
            for i in range(spec.nu)
        )
        """Joint of each actuator, in actuator order (agent ``a`` owns ``2a`` and ``2a + 1``)."""
        self._mjx = mjx
        self._model = mjx.put_model(spec)
        self._data = mjx.make_data(self._model)
        self._qpos0 = jnp.asarray(spec.qpos0, jnp.float32)
        self._num_bodies = int(spec.nbody)

    @property
    def num_agents(self) -> int:
        """Agents (4)."""
        return NUM_AGENTS

    def default_params(self) -> AntParams:
        """The ARNEQ paper's numbers (App. C.2, decision 11)."""
        return AntParams()

    def max_episode_steps(self, params: AntParams) -> int:
        """``params.episode_length``."""
        return params.episode_length

    def reset(self, key: jax.Array, params: AntParams) -> tuple[jax.Array, AntState]:
        """Gymnasium's Ant reset noise around ``qpos0`` (torso at height 0.75, legs flat)."""
        k_pos, k_vel = jax.random.split(key)
        scale = params.reset_noise_scale
        qpos = self._qpos0 + jax.random.uniform(
            k_pos, self._qpos0.shape, minval=-scale, maxval=scale
        )
        qvel = scale * jax.random.normal(k_vel, (self._data.qvel.shape[0],))
        state = AntState(
            qpos=qpos,
            qvel=qvel,
            qacc_warmstart=jnp.zeros_like(qvel),
            contact_forces=jnp.zeros((self._num_bodies - 1, 6)),
            t=jnp.int32(0),
        )
        return self._obs(state), state

    def controls(self, action: jax.Array) -> jax.Array:
        """The 8 actuator controls of stacked actions ``(4, 2)``: agent ``a`` -> ``2a, 2a + 1``."""
        return jnp.clip(jnp.asarray(action, jnp.float32).reshape(2 * NUM_AGENTS), -1.0, 1.0)

    def healthy(self, state: AntState, params: AntParams) -> jax.Array:
        """Finite state and torso height in ``[healthy_z_min, healthy_z_max]``."""
        finite = jnp.all(jnp.isfinite(state.qpos)) & jnp.all(jnp.isfinite(state.qvel))
        z = state.qpos[2]
        return finite & (z >= params.healthy_z_min) & (z <= params.healthy_z_max)

    def step(
        self, key: jax.Array, state: AntState, action: jax.Array, params: AntParams
    ) -> tuple[jax.Array, AntState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """Five MJX steps under the agents' torques; shared reward (module docstring)."""
        del key  # the dynamics are deterministic
        qpos, qvel, warm, cfrc = _advance(
            self._model,
            self._data,
            state,
            self.controls(action),
            mjx=self._mjx,
            frame_skip=FRAME_SKIP,
            contact_forces=self.include_contact_forces,
        )
        new = AntState(
            qpos=qpos, qvel=qvel, qacc_warmstart=warm, contact_forces=cfrc, t=state.t + 1
        )
        return self.outcome(state, new, params)

    def outcome(
        self, before: AntState, after: AntState, params: AntParams
    ) -> tuple[jax.Array, AntState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """``step``'s result for the transition ``before -> after`` (``after.t`` already counted).

        Reward ``(x_after - x_before) / dt + healthy_reward * healthy`` for every agent (a
        non-finite forward term counts 0); ``done`` when unhealthy or at the horizon; ``info``
        holds the forward term and the health flag.
        """
        healthy = self.healthy(after, params)
        forward = (after.qpos[0] - before.qpos[0]) / self.dt
        forward = jnp.where(jnp.isfinite(forward), forward, 0.0)
        reward = forward + params.healthy_reward * healthy.astype(jnp.float32)
        done = ~healthy | (after.t >= params.episode_length)
        info = {"forward_reward": forward.astype(jnp.float32), "healthy": healthy}
        rewards = jnp.full((NUM_AGENTS,), reward, dtype=jnp.float32)
        return self._obs(after), after, rewards, done, info

    def observation(self, state: AntState) -> jax.Array:
        """One agent's (global) observation: ``qpos[2:]``, ``qvel`` [, contact forces]."""
        parts = [state.qpos[_QPOS_SKIPPED:], state.qvel]
        if self.include_contact_forces:
            parts.append(state.contact_forces.reshape(-1))
        return jnp.concatenate(parts).astype(jnp.float32)

    def _obs(self, state: AntState) -> jax.Array:
        single = self.observation(state)
        return jnp.broadcast_to(single, (NUM_AGENTS, *single.shape))

    def observation_space(self, params: AntParams) -> Box:
        """One agent's observation: 27 numbers, 105 with contact forces (unbounded)."""
        size = 27 + (6 * (self._num_bodies - 1) if self.include_contact_forces else 0)
        return Box(-jnp.inf, jnp.inf, (size,))

    def action_space(self, params: AntParams) -> Box:
        """Hip and ankle torque of the agent's leg, ``[-1, 1]^2``."""
        return Box(-1.0, 1.0, (2,))

    def critic_observation(self, state: AntState, params: AntParams) -> jax.Array:
        """The global observation and ``t / T``."""
        t = (state.t.astype(jnp.float32) / params.episode_length)[None]
        return jnp.concatenate([self.observation(state), t])

    def critic_observation_space(self, params: AntParams) -> Box:
        """Space of :meth:`critic_observation`."""
        return Box(-jnp.inf, jnp.inf, (self.observation_space(params).shape[0] + 1,))

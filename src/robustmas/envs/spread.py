"""Independent Spread: MPE's particle world with one designated landmark per agent (pure JAX).

Reference: Nika, Nöther, Singla, Radanović, "Defending Against Unknown Corrupted Agents:
Reinforcement Learning of Adversarially Robust Nash Equilibria", TMLR, App. C.1; the particle
physics of the multi-agent particle environments (Lowe et al., NeurIPS 2017) as PettingZoo's
successor package ``mpe2`` 1.1 runs them; spec ``arneq-art.md`` Sec. 5.1 and decisions 9-10.

``n`` agents (3 in the paper) and ``n`` landmarks, all drawn ``U[-1, 1]^2`` at reset, agents at
rest.  Agent ``i`` owns landmark ``i`` and earns::

    r_i = -||p_i - l_i|| - collision_penalty * #{j != i : ||p_i - p_j|| < 2 size}

(no shared term: the agents' utilities are not aligned).  Actions are ``Discrete(5)``: no
action, left, right, down, up, a force of ``accel`` along the axis.  One step of the physics,
in ``mpe2``'s order: agents collide softly with each other (``contact_force`` x the
``logaddexp`` penetration with margin ``contact_margin``; landmarks do not collide), the
positions move by the old velocities times ``dt``, the velocities are damped by ``damping``
and accelerated by the forces (unit mass).  Rewards are read after the step.  The arena is
unbounded.  Observation of agent ``i`` (decision 10): ``[p_i, l_i - p_i, (p_j - p_i)_{j != i}]``
(``4 + 2 (n - 1)`` numbers; ``include_velocity`` prepends ``v_i``).  Episodes last
``episode_length`` steps (PettingZoo's default 25, decision 9).  The critic's view is every
position, velocity and landmark plus ``t / T``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from robustmas.envs.core import Box, Discrete

__all__ = ["IndependentSpread", "SpreadParams", "SpreadState"]

_DIRECTIONS = jnp.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
"""Force direction of each action: none, left, right, down, up (MPE's discrete order)."""


@struct.dataclass
class SpreadParams:
    """Physics and reward numbers (data), and the episode length (static)."""

    collision_penalty: float = 10.0
    """Penalty per other agent in collision (App. C.1: 10)."""
    size: float = 0.15
    """Agent radius (collision at distance < 2 size)."""
    accel: float = 5.0
    """Force of an action (MPE's sensitivity)."""
    dt: float = 0.1
    """Time step."""
    damping: float = 0.25
    """Velocity damping per step."""
    contact_force: float = 100.0
    """Stiffness of the soft collisions."""
    contact_margin: float = 1e-3
    """Softness of the collisions."""
    episode_length: int = struct.field(pytree_node=False, default=25)
    """Steps per episode (static)."""


@struct.dataclass
class SpreadState:
    """Positions and velocities of the agents, the landmarks and the step."""

    pos: jax.Array
    """Agents' positions ``(n, 2)``."""
    vel: jax.Array
    """Agents' velocities ``(n, 2)``."""
    landmarks: jax.Array
    """Landmark ``i`` of agent ``i``, ``(n, 2)``."""
    t: jax.Array
    """Steps played (int32 scalar)."""


class IndependentSpread:
    """``n`` agents, each going to its own landmark and penalised for collisions (see above).

    Args:
        num_agents: ``n >= 2`` (the paper: 3).
        include_velocity: prepend the own velocity to the observation.
    """

    def __init__(self, num_agents: int = 3, *, include_velocity: bool = False) -> None:
        if isinstance(num_agents, bool) or not isinstance(num_agents, int) or num_agents < 2:
            raise ValueError(f"num_agents: need an integer >= 2, got {num_agents!r}")
        self._n = num_agents
        self.include_velocity = bool(include_velocity)

    @property
    def num_agents(self) -> int:
        """Agents ``n``."""
        return self._n

    def default_params(self) -> SpreadParams:
        """The paper's numbers with MPE's physics."""
        return SpreadParams()

    def max_episode_steps(self, params: SpreadParams) -> int:
        """``params.episode_length``."""
        return params.episode_length

    def reset(self, key: jax.Array, params: SpreadParams) -> tuple[jax.Array, SpreadState]:
        """Agents and landmarks ``U[-1, 1]^2``, agents at rest."""
        k_pos, k_land = jax.random.split(key)
        n = self._n
        state = SpreadState(
            pos=jax.random.uniform(k_pos, (n, 2), minval=-1.0, maxval=1.0),
            vel=jnp.zeros((n, 2)),
            landmarks=jax.random.uniform(k_land, (n, 2), minval=-1.0, maxval=1.0),
            t=jnp.int32(0),
        )
        return self._obs(state), state

    def _collision_forces(self, pos: jax.Array, params: SpreadParams) -> jax.Array:
        delta = pos[:, None, :] - pos[None, :, :]  # (n, n, 2): p_a - p_b
        off = ~jnp.eye(self._n, dtype=bool)
        dist = jnp.sqrt(jnp.sum(delta**2, axis=-1))
        safe = jnp.where(off, dist, 1.0)
        k = params.contact_margin
        penetration = jnp.logaddexp(0.0, -(safe - 2.0 * params.size) / k) * k
        force = params.contact_force * delta / safe[..., None] * penetration[..., None]
        return jnp.sum(jnp.where(off[..., None], force, 0.0), axis=1)

    def step(
        self, key: jax.Array, state: SpreadState, action: jax.Array, params: SpreadParams
    ) -> tuple[jax.Array, SpreadState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """Apply the forces, integrate one step, score every agent (module docstring)."""
        del key  # the dynamics are deterministic
        a = jnp.clip(jnp.asarray(action, jnp.int32).reshape((self._n,)), 0, 4)
        force = params.accel * _DIRECTIONS[a] + self._collision_forces(state.pos, params)
        pos = state.pos + state.vel * params.dt
        vel = state.vel * (1.0 - params.damping) + force * params.dt
        t = state.t + 1
        new = SpreadState(pos=pos, vel=vel, landmarks=state.landmarks, t=t)
        distance = jnp.linalg.norm(pos - state.landmarks, axis=-1)
        gaps = jnp.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
        hits = ((gaps < 2.0 * params.size) & ~jnp.eye(self._n, dtype=bool)).sum(axis=1)
        reward = -distance - params.collision_penalty * hits
        done = t >= params.episode_length
        info = {"collisions": hits.astype(jnp.int32), "distance": distance}
        return self._obs(new), new, reward.astype(jnp.float32), done, info

    def _obs(self, state: SpreadState) -> jax.Array:
        n = self._n
        rel = state.pos[None, :, :] - state.pos[:, None, :]  # (i, j): p_j - p_i
        others = jnp.stack([jnp.delete(rel[i], i, axis=0, assume_unique_indices=True)
                            for i in range(n)])  # fmt: skip
        parts = [state.pos, state.landmarks - state.pos, others.reshape(n, -1)]
        if self.include_velocity:
            parts.insert(0, state.vel)
        return jnp.concatenate(parts, axis=1).astype(jnp.float32)

    def observation_space(self, params: SpreadParams) -> Box:
        """One agent's observation (unbounded)."""
        size = 4 + 2 * (self._n - 1) + (2 if self.include_velocity else 0)
        return Box(-jnp.inf, jnp.inf, (size,))

    def action_space(self, params: SpreadParams) -> Discrete:
        """None, left, right, down, up."""
        return Discrete(5)

    def critic_observation(self, state: SpreadState, params: SpreadParams) -> jax.Array:
        """Every position, velocity and landmark, and ``t / T``."""
        t = (state.t.astype(jnp.float32) / params.episode_length)[None]
        flat = [state.pos.reshape(-1), state.vel.reshape(-1), state.landmarks.reshape(-1), t]
        return jnp.concatenate(flat).astype(jnp.float32)

    def critic_observation_space(self, params: SpreadParams) -> Box:
        """Space of :meth:`critic_observation`."""
        return Box(-jnp.inf, jnp.inf, (6 * self._n + 1,))

"""How much can one scripted adversary cost a victim in Independent Spread (our rules)?

Run: ``.venv/bin/python docs/results/arneq-scripted-attack/scripted_attack.py``.  Each agent
picks the discrete force closest to a target direction: the victim (agent 0) heads for its
landmark, agent 2 for its own, and the adversary (agent 1, or agents 1 and 2) follows a script:
``chase`` (towards the victim), ``block`` (towards the victim's landmark), or ``push`` (towards
the point just beyond the victim on the far side from its landmark, so contact pushes it away).
The victim's undiscounted return over the episode is averaged over 2,000 random episodes, at the
paper's 25 steps (decision 9) and at 50 and 100 steps, beside the victim's return when
everybody heads home.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.envs.spread import IndependentSpread, SpreadParams

DIRS = jnp.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])


def towards(pos: jax.Array, target: jax.Array) -> jax.Array:
    """The action whose force points most nearly at ``target`` (no-op when there)."""
    d = target - pos
    score = DIRS @ d
    return jnp.where(jnp.linalg.norm(d) < 1e-3, 0, jnp.argmax(score.at[0].set(-jnp.inf)))


def episode(
    key: jax.Array, env: IndependentSpread, params: SpreadParams, script: str, m: int
) -> jax.Array:
    """The victim's return in one episode with ``m`` adversaries following ``script``."""
    _, state = env.reset(key, params)

    def body(state, k):
        pos, land = state.pos, state.landmarks
        home = jax.vmap(towards)(pos, land)
        victim, goal = pos[0], land[0]
        away = victim + 0.1 * (victim - goal) / (jnp.linalg.norm(victim - goal) + 1e-6)
        target = {"chase": victim, "block": goal, "push": away, "none": None}[script]
        actions = home
        if target is not None:
            for j in range(1, 1 + m):
                actions = actions.at[j].set(towards(pos[j], target))
        _, state, reward, _, _ = env.step(k, state, actions, params)
        return state, reward[0]

    _, rewards = jax.lax.scan(body, state, jax.random.split(key, params.episode_length))
    return rewards.sum()


def main() -> None:
    """Print the table."""
    env = IndependentSpread()
    print("| horizon | script | adversaries | victim return (mean +- s.e.) | per step |")
    print("|---:|---|---:|---:|---:|")
    for horizon in (25, 50, 100):
        params = SpreadParams(episode_length=horizon)
        for script, m in (("none", 0), ("chase", 1), ("block", 1), ("push", 1), ("push", 2)):
            keys = jax.random.split(jax.random.PRNGKey(0), 2000)
            run = jax.jit(jax.vmap(lambda k, p=params, sc=script, n=m: episode(k, env, p, sc, n)))
            r = np.asarray(run(keys))
            se = r.std(ddof=1) / np.sqrt(len(r))
            mean = r.mean()
            print(f"| {horizon} | {script} | {m} | {mean:.1f} +- {se:.1f} | {mean / horizon:.2f} |")


if __name__ == "__main__":
    main()

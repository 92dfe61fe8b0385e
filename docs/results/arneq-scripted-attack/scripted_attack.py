"""How much can one scripted adversary cost a victim in Independent Spread (our rules)?

Run: ``.venv/bin/python docs/results/arneq-scripted-attack/scripted_attack.py``.  Each agent
picks the discrete force closest to a target direction: the victim (agent 0) heads for its
landmark, agent 2 for its own, and the adversary (agent 1, or agents 1 and 2) follows a script:
``chase`` (towards the victim), ``block`` (towards the victim's landmark), or ``push`` (towards
the point just beyond the victim on the far side from its landmark, so contact pushes it away).
The victim's undiscounted return over the episode is averaged over 2,000 random episodes, at the
paper's 25 steps (decision 9) and at 50 and 100 steps, beside the victim's return when
everybody heads home.  A second table varies the collision rule at 25 steps (``RULES``):
without contact forces agents can overlap, so a collision can last several steps.
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


RULES = {
    # name: SpreadParams fields; decision 9 candidates (docs/results/arneq-scripted-attack/NOTE.md)
    "spec": {},
    "no-contact": {"contact_force": 0.0},
    "no-contact, radius x2": {"contact_force": 0.0, "size": 0.3},
}


def returns(params: SpreadParams, script: str, m: int) -> tuple[float, float]:
    """Mean and s.e. of the victim's return over 2,000 episodes."""
    env = IndependentSpread()
    keys = jax.random.split(jax.random.PRNGKey(0), 2000)
    run = jax.jit(jax.vmap(lambda k: episode(k, env, params, script, m)))
    r = np.asarray(run(keys))
    return float(r.mean()), float(r.std(ddof=1) / np.sqrt(len(r)))


SCRIPTS = (("none", 0), ("chase", 1), ("block", 1), ("push", 1), ("push", 2))


def main() -> None:
    """Print the tables: horizons under the spec's rule, then the rules at 25 steps."""
    print("| horizon | script | adversaries | victim return (mean +- s.e.) | per step |")
    print("|---:|---|---:|---:|---:|")
    for horizon in (25, 50, 100):
        params = SpreadParams(episode_length=horizon)
        for script, m in SCRIPTS:
            mean, se = returns(params, script, m)
            print(f"| {horizon} | {script} | {m} | {mean:.1f} +- {se:.1f} | {mean / horizon:.2f} |")
    print()
    print("| rule (25 steps) | script | adversaries | victim return (mean +- s.e.) | per step |")
    print("|---|---|---:|---:|---:|")
    for rule, fields in RULES.items():
        params = SpreadParams(episode_length=25, **fields)
        for script, m in SCRIPTS:
            mean, se = returns(params, script, m)
            print(f"| {rule} | {script} | {m} | {mean:.1f} +- {se:.1f} | {mean / 25:.2f} |")


if __name__ == "__main__":
    main()

"""Does more test-time training bring rp-fig3's fresh agents closer to an equilibrium?

Usage: ``.venv/bin/python docs/results/rp-fig3/test_agents.py`` (about 5 min on 2 cores);
its output is ``test_agents.txt``.  Self-contained: it trains its own principals and does
not read a stored run.

The README's exact yardsticks found the evaluation's fresh agents 0.33-0.44 per step short of
their best responses after 200 PPO updates, and read that as under-training.  This script
tests that reading on the preset's own settings (``rp-fig3``, budget ``full``, the MARL row):

1. Four MARL principals are trained as the row trains them (200 updates, seeds 0-3).
2. **Joint training budget.**  Fresh agents (original type) are trained against each frozen
   principal by the production evaluation (:func:`evaluate_principals`, 2 agent seeds) for
   200, 600 and 1,800 updates, then for 600 updates with one PPO setting changed at a time
   (no entropy bonus, 4 epochs, learning rate 1e-3, 64 environments).  Printed: the agents'
   largest exact regret per step (dynamic programming on the 2,401 cells, as the preset's
   ``exact = true``) and the principal's exact reward per step.
3. **One agent alone.**  After 200 joint updates, the agent with the largest regret keeps
   training for 200 and 1,000 more updates while the others and the principal stay frozen.
   Printed: its exact regret before and after.  This separates "PPO cannot find the best
   response" from "the agents keep moving each other's target".
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.equilibria.markov_exact import regrets
from robustmas.experiments import cross_table_cells as ct
from robustmas.experiments.grid_sampling import sampling_config
from robustmas.experiments.preset import load_preset
from robustmas.rl.ppo import PPO
from robustmas.robust.evaluation import evaluate_principals, stack_types

PRINCIPALS = 4

cell = {c.name: c for c in load_preset("rp-fig3").cells("full")}["MARL"]
s: ct.CrossTableSettings = cell.settings
setup = ct._setup(s.game, s.horizon, s.obs)
env, params = setup.env, setup.params

program = ct._marl(ct._marl_shape(s))
runner = program.init(jax.random.split(jax.random.PRNGKey(0), PRINCIPALS), params)
runner, _ = program.chunk(s.marl_updates)(runner)
principals = jax.tree_util.tree_map(lambda x: x[:, -1], runner.params)
print(f"rp-fig3 MARL row, {PRINCIPALS} principals trained for {s.marl_updates} updates")


def joint(updates: int, **changes: Any) -> dict[str, Any]:
    """The production evaluation at ``updates`` PPO updates, with exact scores."""
    row = dataclasses.replace(s, eval_updates=updates, **changes)
    ppo = sampling_config(row.sampling).ppo
    config = dataclasses.replace(ppo, total_timesteps=updates * ppo.batch_size)
    type_params = [ct.agent_type_params(env, params, "original", row.adv_mode)]
    start = time.time()
    results = evaluate_principals(
        env,
        stack_types(type_params),
        ["original"],
        principals,
        config,
        seeds=row.eval_seeds,
        key=jax.random.PRNGKey(1),
        eval_episodes=row.eval_score_episodes,
        keep_agents=True,
    )
    exact, regret = ct.exact_scores(env, config, type_params, results, row.horizon)
    return {
        "updates": updates,
        "changed": changes,
        "seconds": round(time.time() - start, 1),
        "agents_regret_per_step": regret[0].round(3).tolist(),
        "mean_regret": round(float(regret[0].mean()), 3),
        "principal_exact": exact[0].round(3).tolist(),
    }


print("\n2. Joint training budget (largest agent regret per step, mean of 2 agent seeds)")
for updates, changes in [
    (200, {}),
    (600, {}),
    (1800, {}),
    (600, {"ent_coef": 0.0}),
    (600, {"update_epochs": 4}),
    (600, {"lr": 1e-3}),
    (600, {"num_envs": 64}),
]:
    print(json.dumps(joint(updates, **changes)), flush=True)

print("\n3. One agent alone after 200 joint updates (the others and the principal frozen)")
ppo = sampling_config(s.sampling).ppo
trainer = PPO(ppo, env)
players = trainer.num_agents
obs = env.cell_observations()
game = ct.exact_game(env, params, s.horizon)
assert game is not None


def train_jointly(principal: Any, key: jax.Array) -> Any:
    """Fresh agents trained together for 200 updates against a frozen principal."""
    state = trainer.init(key, None, None, params, jnp.arange(players) < players - 1)
    state = dataclasses.replace(
        state,
        params=jax.tree_util.tree_map(lambda f, m: f.at[-1].set(m), state.params, principal),
    )
    state, _ = jax.lax.scan(lambda r, _: trainer.update(r), state, None, length=200)
    return state


def train_alone(state: Any, who: jax.Array, updates: int) -> Any:
    """Only agent ``who`` keeps training; the others and the principal stay frozen."""
    state = dataclasses.replace(state, trainable=jnp.arange(players) == who)
    state, _ = jax.lax.scan(lambda r, _: trainer.update(r), state, None, length=updates)
    return state


def policy_tables(state: Any) -> np.ndarray:
    """Every player's action probabilities on every cell, ``(principals, players, S, A)``."""

    def per_principal(actor: Any) -> jax.Array:
        def one(i: jax.Array) -> jax.Array:
            mine = jax.tree_util.tree_map(lambda x: x[i], actor)
            return jax.nn.softmax(trainer.policy(mine, obs).logits, axis=-1)  # pyright: ignore

        return jax.vmap(one)(jnp.arange(players))

    table = np.asarray(jax.jit(jax.vmap(per_principal))(state.params.actor), np.float64)
    return table / table.sum(axis=-1, keepdims=True)


states = jax.jit(jax.vmap(train_jointly))(principals, jax.random.split(jax.random.PRNGKey(7), 4))
before = [regrets(game, t) for t in policy_tables(states)]
who = [int(np.argmax(b.regrets[: players - 1])) for b in before]
print(
    json.dumps(
        {
            "joint_updates": 200,
            "agents_regret_per_step": [
                (b.regrets[: players - 1] / s.horizon).round(3).tolist() for b in before
            ],
        }
    )
)
for updates in (200, 1000):
    alone = jax.jit(jax.vmap(lambda st, w, n=updates: train_alone(st, w, n)))(
        states, jnp.asarray(who)
    )
    after = [regrets(game, t) for t in policy_tables(alone)]
    print(
        json.dumps(
            {
                "alone_updates": updates,
                "agent": who,
                "regret_before": [
                    round(float(b.regrets[w]) / s.horizon, 3)
                    for b, w in zip(before, who, strict=True)
                ],
                "regret_after": [
                    round(float(a.regrets[w]) / s.horizon, 3)
                    for a, w in zip(after, who, strict=True)
                ],
                "others_regret_after": [
                    round(float(np.delete(a.regrets[: players - 1], w).max()) / s.horizon, 3)
                    for a, w in zip(after, who, strict=True)
                ],
            }
        ),
        flush=True,
    )

"""The evaluation workflow: a frozen principal, fresh agents per test type, cross tables."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from robustmas.envs.grid_game import with_agent_types
from robustmas.envs.grid_presets import make_grid_game
from robustmas.rl.ppo import PPO, PPOConfig
from robustmas.robust.evaluation import (
    PrincipalChanged,
    TypeEvaluation,
    cross_table,
    evaluate_principal,
    params_digest,
    stack_types,
)

CONFIG = PPOConfig(
    lr=1e-2,
    num_envs=16,
    num_steps=10,
    total_timesteps=16 * 10 * 40,
    update_epochs=2,
    num_minibatches=2,
    gamma=0.9,
    gae_lambda=0.9,
    ent_coef=0.01,
    actor_hidden=(),
    critic_hidden=(16,),
    parameter_sharing=False,
    anneal_lr=False,
)


def test_fresh_agents_per_type_with_a_frozen_principal() -> None:
    setup = make_grid_game("nmatrix-v0:width=3,agents=2,episode_length=10")
    env = setup.env
    config = dataclasses.replace(CONFIG, total_timesteps=16 * 10 * 5)
    trainer = PPO(config, env)
    principal = jax.tree_util.tree_map(lambda x: x[-1], trainer.init(jax.random.PRNGKey(7)).params)
    types = stack_types(
        [
            setup.params,
            with_agent_types(env, setup.params, adv_q=1.0),
            with_agent_types(env, setup.params, risk_eta=0.2),
        ]
    )
    result = evaluate_principal(
        env, types, ["Original", "Adv(1)", "RiskAv(0.2)"], principal, config, seeds=2
    )
    assert result.returns.shape == (3, 2) and result.agent_returns.shape == (3, 2, 2)
    assert result.digest == params_digest(principal)
    assert np.all(np.isfinite(result.returns))
    again = evaluate_principal(
        env, types, ["Original", "Adv(1)", "RiskAv(0.2)"], principal, config, seeds=2
    )
    np.testing.assert_array_equal(result.returns, again.returns)


@pytest.mark.slow  # CI time: a learning check
def test_adversarial_test_agents_hurt_the_principal_of_the_tragedy() -> None:
    # r_0 = (x + y) / 2; Original agents move up (dominant), Adv(Q = 1) agents earn
    # c + (a - 1/2) x - (b + 1/2) y and move down: the principal's return must drop.
    setup = make_grid_game("tragedy-v0:episode_length=10")
    env = setup.env
    principal = jax.tree_util.tree_map(
        lambda x: x[-1], PPO(CONFIG, env).init(jax.random.PRNGKey(0)).params
    )
    types = stack_types([setup.params, with_agent_types(env, setup.params, adv_q=1.0)])
    result = evaluate_principal(env, types, ["Original", "Adv(1)"], principal, CONFIG, seeds=2)
    original, adversarial = result.returns.mean(axis=1)
    assert original > 6.0 > 3.0 > adversarial, result.returns


def test_a_changed_principal_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    setup = make_grid_game("tragedy-v0:episode_length=4")
    config = dataclasses.replace(CONFIG, total_timesteps=16 * 10)
    principal = jax.tree_util.tree_map(
        lambda x: x[-1], PPO(config, setup.env).init(jax.random.PRNGKey(0)).params
    )
    types = stack_types([setup.params])
    # Simulate a bug: a trainer that also updates the frozen principal.
    original_init = PPO.init

    def init_all_trainable(self, key, params=None, reward_params=None, env_params=None,
                           trainable=None):  # fmt: skip
        return original_init(self, key, params, reward_params, env_params, None)

    monkeypatch.setattr(PPO, "init", init_all_trainable)
    with pytest.raises(PrincipalChanged, match="Original"):
        evaluate_principal(setup.env, types, ["Original"], principal, config, seeds=1)


def test_cross_table_mean_stderr_selection_and_markdown() -> None:
    def ev(values: list[float]) -> list[TypeEvaluation]:
        return [
            TypeEvaluation(("A", "B"), np.array([[v], [v + 1.0]]), np.zeros((2, 1, 1)), "x")
            for v in values
        ]

    table = cross_table({"robust": ev([1.0, 2.0, 3.0]), "marl": ev([0.0, 0.0, 9.0])})
    np.testing.assert_allclose(table.mean, [[2.0, 3.0], [3.0, 4.0]])
    np.testing.assert_allclose(table.stderr[0], [1.0 / np.sqrt(3)] * 2)
    # robust's 2 + 0.58 falls short of marl's 3 in A; marl is the best of both columns.
    np.testing.assert_array_equal(table.within_stderr_of_best(), [[False, False], [True, True]])
    picked = cross_table(
        {"robust": ev([1.0, 2.0, 3.0]), "marl": ev([0.0, 0.0, 9.0])},
        validation={"robust": [0.0, 5.0, 4.0], "marl": [1.0, 2.0, 0.0]},
        top_k=2,
    )
    np.testing.assert_array_equal(picked.selected, [[1, 2], [0, 1]])
    np.testing.assert_allclose(picked.mean, [[2.5, 3.5], [0.0, 1.0]])
    text = picked.markdown()
    assert "| robust | **2.5 ± 0.5** | **3.5 ± 0.5** |" in text
    assert "| marl | 0 ± 0 | 1 ± 0 |" in text
    with pytest.raises(ValueError, match="top_k"):
        cross_table({"robust": ev([1.0])}, top_k=1)

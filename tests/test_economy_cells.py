"""The ``economy-taxes`` cell kind (fixed-tax rows of RP Fig. 4) and the ``rp-fig4`` preset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.experiments.economy_cells import ECONOMY_TAXES, EconomyTaxesSettings, parse_type
from robustmas.experiments.preset import load_preset

TINY: dict[str, Any] = dict(
    episode_length=40,
    total_timesteps=640,
    num_envs=4,
    num_steps=40,
    update_epochs=1,
    num_minibatches=2,
    hidden=(16,),
    eval_episodes=2,
    checkpoint_updates=2,
)


def test_types_and_settings_name_the_field_to_fix() -> None:
    assert parse_type("Original") == (0.23, 0.025)
    assert parse_type("eta=0.11") == (0.11, 0.025)
    assert parse_type("alpha=2.5") == (0.23, 2.5)
    with pytest.raises(ValueError, match="test_types"):
        parse_type("gamma=3")
    with pytest.raises(ValueError, match="test_types"):
        parse_type("eta=1.5")
    with pytest.raises(ValueError, match="taxes"):
        EconomyTaxesSettings(taxes="flat")
    with pytest.raises(ValueError, match="num_minibatches"):
        EconomyTaxesSettings(**{**TINY, "num_minibatches": 7})


def test_a_row_trains_every_type_and_resumes(tmp_path: Path) -> None:
    """Two types of one entropy weight share a program; a rerun resumes to the same numbers."""
    s = EconomyTaxesSettings(taxes="us-federal", test_types=("Original", "eta=0.27"), **TINY)
    seen: list[tuple[int, int]] = []
    result = ECONOMY_TAXES.run(s, 2, 0, tmp_path, lambda d, t: seen.append((d, t)))
    assert seen[-1] == (4, 4)  # 640 / 160 = 4 updates
    per_seed = result["per_seed"]
    assert set(per_seed) == {"Original", "eta=0.27", "mean_over_types"}
    assert all(len(v) == 2 for v in per_seed.values())
    assert all(np.isfinite(v).all() for v in per_seed.values())
    info = result["info"]["types"]["eta=0.27"]
    assert info["eta"] == pytest.approx(0.27) and len(info["tax_revenue"]) == 2
    assert np.isfinite(result["reference"]["random_swf[Original]"])
    # eta reaches the economy: utilities of the same coin differ between the types.
    utility = result["info"]["types"]
    assert utility["Original"]["utility"] != utility["eta=0.27"]["utility"]
    again = ECONOMY_TAXES.run(s, 2, 0, tmp_path, lambda d, t: None)
    assert again["per_seed"] == per_seed


@pytest.mark.slow  # 75 s on 2 cores: XLA compiles the convolutions inside the LSTM replay
def test_conv_lstm_agents_read_the_windows_and_train(tmp_path: Path) -> None:
    """``network = "conv-lstm"``: the convolutions' image is exactly the agents' map and index
    windows behind the mask; a row trains, evaluates with its LSTM carried, and reruns the
    same."""
    from robustmas.envs.economy import GatherTradeBuild
    from robustmas.envs.economy.agents_view import EconomyAgents

    s = EconomyTaxesSettings(network="conv-lstm", lstm_size=8, test_types=("Original",), **TINY)
    ppo = s.ppo_config(0.025)
    assert (ppo.recurrent, ppo.recurrent_size, ppo.conv_image) == ("lstm", 8, (9, 11, 11))
    layout = EconomyAgents(GatherTradeBuild(tax_model="fixed")).layout()
    assert layout["map"].start == ppo.action_mask_size == 50
    assert layout["idx"].start == layout["map"].stop
    assert layout["idx"].stop - layout["map"].start == 9 * 11 * 11
    result = ECONOMY_TAXES.run(s, 2, 0, tmp_path, lambda d, t: None)
    swf = result["per_seed"]["Original"]
    assert len(swf) == 2 and np.isfinite(swf).all()
    again = ECONOMY_TAXES.run(s, 2, 0, tmp_path, lambda d, t: None)
    assert again["per_seed"] == result["per_seed"]
    with pytest.raises(ValueError, match="network"):
        EconomyTaxesSettings(network="transformer")
    with pytest.raises(ValueError, match="network"):
        EconomyTaxesSettings(network="conv-lstm", method="alg3")


@pytest.mark.slow  # CI time: trains a Saez row
def test_saez_evaluation_fills_the_buffer_first() -> None:
    """Measured Saez episodes are taxed by the formula: the warm-up fills the buffer."""
    import jax

    from robustmas.experiments import economy_cells as ec

    economy, params = ec.fixed_tax_economy("saez", episode_length=200)
    env = ec.EconomyAgents(economy)
    assert ec.saez_warmup_episodes(env.economy, 200) == 63  # 8 incomes per episode
    metrics = jax.jit(lambda k: ec.rollout_metrics(env, ec.random_policy, k, params, 2))(
        jax.random.PRNGKey(0)
    )
    assert np.isfinite(np.asarray(metrics["swf"])).all()

    # The same warm-up by hand on one economy: after 63 episodes the buffer is full.
    def warm(key):
        _, state = env.reset(key, params)

        def episode(state, k):
            def step(state, kk):
                _, state, _, _, _ = env.step(kk, state, jnp.zeros(4, jnp.int32), params)
                return state, None

            state, _ = jax.lax.scan(step, state, jax.random.split(k, 200))
            return env.reset_from(k, state, params)[1], state.saez.count

        return jax.lax.scan(episode, state, jax.random.split(key, 63))[1]

    counts = np.asarray(jax.jit(warm)(jax.random.PRNGKey(1)))
    assert counts[-1] == 500 and counts[-2] < 500
    with pytest.raises(ValueError, match="episode_length"):
        ec.saez_warmup_episodes(env.economy, 50)


def test_rp_fig4_preset_parses() -> None:
    preset = load_preset("rp-fig4")
    assert preset.kind == "economy-taxes"
    assert [label for label, _ in preset.rows] == [
        "Free Market",
        "Federal",
        "Saez",
        "Ours",
        "AI Economist (Original)",
        "AI Economist (eta=0.11)",
        "AI Economist (eta=0.19)",
        "AI Economist (eta=0.27)",
        "AI Economist (alpha=0.25)",
        "AI Economist (alpha=2.5)",
    ]
    assert {v.metric for v in preset.paper_values} >= {"Original", "eta=0.27", "alpha=2.5"}
    assert len(preset.paper_values) == 10 * 6
    assert {c.test for c in preset.checks} == {
        "best_mean_rank",
        "best_worst_column",
        "row_at_least",
        "row_at_most",
    }


PLANNER_TINY: dict[str, Any] = dict(
    TINY,
    pretrain_updates=2,
    joint_updates=2,
    anneal_updates=1,
    rounds=2,
    main_updates=1,
    deviation_updates=1,
    regret_episodes=2,
    eval_updates=2,
    epsilon=-0.5,
    lambda_lr=0.5,
)


def test_tax_annealing_schedule() -> None:
    from robustmas.experiments.economy_planners import rate_max_at

    rates = [float(rate_max_at(jnp.int32(u), 10, 4)) for u in (0, 9, 10, 12, 14, 99)]
    assert rates == pytest.approx([0.0, 0.0, 0.1, 0.55, 1.0, 1.0])
    assert float(rate_max_at(jnp.int32(10), 10, 0)) == 1.0


def test_planner_settings_name_the_field_to_fix() -> None:
    with pytest.raises(ValueError, match="method"):
        EconomyTaxesSettings(method="marl")
    oracle = EconomyTaxesSettings(method="ai-economist", train_type="alpha=2.5")
    # The agents' entropy weight is the type's, the planner's its own (D25).
    assert oracle.joint_ppo(2.5).learner_ent_coef == (2.5, 2.5, 2.5, 2.5, 0.1)
    with pytest.raises(ValueError, match="planner_ent_coef"):
        EconomyTaxesSettings(method="ai-economist", planner_ent_coef=-1.0)
    with pytest.raises(ValueError, match="train_type"):
        EconomyTaxesSettings(method="alg3", train_type="eta=0.11")
    with pytest.raises(ValueError, match="eval_updates"):
        EconomyTaxesSettings(method="alg3", eval_updates=0)


@pytest.mark.slow  # CI time: the fixed-tax row test covers training, evaluation and resume
def test_a_robust_planner_row_trains_evaluates_and_resumes(tmp_path: Path) -> None:
    """Pretraining, joint training, Alg. 3 rounds and the frozen-planner evaluation of a tiny
    row; the multipliers follow the dual step; a rerun resumes to the same numbers."""
    s = EconomyTaxesSettings(
        method="alg3", test_types=("Original", "eta=0.27", "alpha=2.5"), **PLANNER_TINY
    )
    seen: list[tuple[int, int]] = []
    result = ECONOMY_TAXES.run(s, 2, 0, tmp_path, lambda d, t: seen.append((d, t)))
    assert seen[-1] == (8, 8)  # 4 joint updates, 2 rounds, 2 entropy groups
    per_seed = result["per_seed"]
    assert set(per_seed) == {"Original", "eta=0.27", "alpha=2.5", "mean_over_types"}
    assert all(len(v) == 2 and np.isfinite(v).all() for v in per_seed.values())
    # lambda_{t+1} = clip(lambda_t + alpha (regret - eps)) from 8, eps < 0 <= regret: it rises.
    lam = np.asarray(result["info"]["lambda_final"])
    assert lam.shape == (2, 4) and (lam > 8.0).all()
    assert len(result["curves"]["train_swf"]["per_seed"][0]) == 4
    assert len(result["curves"]["lambda"]["per_seed"][0]) == 2
    again = ECONOMY_TAXES.run(s, 2, 0, tmp_path, lambda d, t: None)
    assert again["per_seed"] == per_seed


def test_ermas_fig5_preset_parses() -> None:
    preset = load_preset("ermas-fig5")
    assert preset.kind == "economy-taxes"
    assert [label for label, _ in preset.rows] == [
        "ERMAS",
        "MARL (AI Economist)",
        "Saez",
        "US Federal",
    ]
    fields = dict(preset.rows)["ERMAS"]
    assert fields["method"] == "ermas" and fields["meta_beta"] == 0.2
    cells = {c.name: c.settings for c in preset.cells("smoke")}
    assert cells["ERMAS"].method == "ermas" and cells["Saez"].method == "fixed"
    assert len(preset.checks) == 2


def test_curves_leave_out_updates_without_a_finished_episode() -> None:
    from robustmas.experiments.cells import curve

    nan = float("nan")
    out = curve([[nan, 1.0, nan, 2.0], [nan, 3.0, nan, nan]])
    assert out["x"] == [2, 4]
    assert out["per_seed"] == [[1.0, 2.0], [3.0, 0.0]]


def test_choose_epsilon_keeps_the_best_mean_validation_swf() -> None:
    """Runs are eps-major (slacks x seeds); the best mean wins, the first on a tie."""
    from robustmas.experiments.economy_planners import choose_epsilon

    chosen, means = choose_epsilon(np.array([1.0, 3.0, 2.0, 2.5, 2.5, 2.5]), 2)
    assert chosen == 1
    np.testing.assert_allclose(means, [2.0, 2.5])
    assert choose_epsilon(np.array([1.0, 2.0, 2.0, 1.0]), 2)[0] == 0


def test_epsilon_choice_settings_name_the_field_to_fix() -> None:
    ok = EconomyTaxesSettings(method="alg3", epsilons=(-30.0, 30.0), validation_type="eta=0.15")
    assert ok.candidate_epsilons == (-30.0, 30.0)
    assert ok.scored_types == (*ok.test_types, "eta=0.15")
    assert EconomyTaxesSettings(method="alg3", epsilon=-5.0).candidate_epsilons == (-5.0,)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"method": "alg3", "epsilons": (-30.0, 30.0)}, "validation_type"),
        ({"method": "alg3", "epsilons": (1.0, 1.0), "validation_type": "eta=0.15"}, "epsilons"),
        ({"method": "ai-economist", "epsilons": (1.0, 2.0)}, "epsilons"),
        ({"method": "alg3", "epsilons": (1.0,), "validation_type": "eta=0.15"}, "validation_type"),
        ({"method": "alg3", "epsilons": (1.0, 2.0), "validation_type": "Original"}, "test column"),
        ({"method": "alg3", "epsilons": (1.0, 2.0), "validation_type": "eta=2"}, "eta"),
    ]
    for fields, match in bad:
        with pytest.raises(ValueError, match=match):
            EconomyTaxesSettings(**fields)


@pytest.mark.slow  # CI time: trains two slacks' planners
def test_a_robust_row_chooses_its_epsilon_on_the_validation_type(tmp_path: Path) -> None:
    """Two slacks train from the same pretrained learners in one program; the row reports the
    seeds of the slack with the best mean validation swf, and every run's scores in ``info``."""
    s = EconomyTaxesSettings(
        method="alg3",
        test_types=("Original", "eta=0.27"),
        epsilons=(-0.5, 50.0),
        validation_type="eta=0.15",
        **{k: v for k, v in PLANNER_TINY.items() if k != "epsilon"},
    )
    result = ECONOMY_TAXES.run(s, 2, 0, tmp_path, lambda d, t: None)
    info = result["info"]
    means = info["epsilon_validation"]
    assert set(means) == {"-0.5", "50.0"}
    best = max(means, key=lambda k: means[k])
    assert info["epsilon_chosen"] == float(best)
    block = list(means).index(best)
    for t in ("Original", "eta=0.27"):
        assert len(info["all_seeds"][t]) == 4  # 2 slacks x 2 seeds, eps-major
        assert result["per_seed"][t] == info["all_seeds"][t][2 * block : 2 * block + 2]
    np.testing.assert_allclose(
        np.mean(info["all_seeds"]["eta=0.15"][2 * block : 2 * block + 2]), means[best]
    )
    # The multipliers follow each slack: eps = 50 > regret lets lambda fall, eps < 0 raises it.
    lam = np.asarray(info["lambda_final"])
    assert lam.shape == (4, 4)
    assert (lam[:2] > lam[2:]).all()

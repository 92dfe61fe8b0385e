"""The arneq-table cell kind: Table 1 rows and Fig. 5's continuation (experiments/arneq_cells)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robustmas.experiments.arneq_cells import (
    _NUM_AGENTS,
    ARNEQ_TABLE,
    ArneqTableSettings,
    make_env,
    shared_reward,
)
from robustmas.experiments.preset import load_preset

TINY: dict[str, Any] = dict(
    num_envs=6, num_steps=25, total_timesteps=300, attack_timesteps=150, update_epochs=1,
    num_minibatches=1, eval_episodes=4, checkpoint_updates=1,
)  # fmt: skip


def test_settings_name_the_field_to_fix() -> None:
    with pytest.raises(ValueError, match="env"):
        ArneqTableSettings(env="hopper")
    with pytest.raises(ValueError, match=r"num_envs.*4 agents"):  # the Ant, without building it
        ArneqTableSettings(env="ant", num_envs=6)
    with pytest.raises(ValueError, match="attack_subsets"):
        ArneqTableSettings(attack_subsets="some")
    with pytest.raises(ValueError, match="continuation"):
        ArneqTableSettings(continuation=2.0)
    with pytest.raises(ValueError, match="num_envs"):  # PPO / ART validation surfaces
        ArneqTableSettings(num_envs=4)
    assert ArneqTableSettings(continuation=0.05).extra_metrics == (
        "adv_1", "adv_2", "gain_1", "gain_2",
    )  # fmt: skip


@pytest.mark.slow  # four programs compiled twice: about 2 min on a quiet 2-core machine
def test_a_row_trains_attacks_every_victim_and_subset_and_resumes(tmp_path: Path) -> None:
    s = ArneqTableSettings(method="art", k=1, attack_sizes=(1, 2), **TINY)
    seen: list[tuple[int, int]] = []
    result = ARNEQ_TABLE.run(s, 2, 0, tmp_path, lambda d, t: seen.append((d, t)))
    # 2 training updates + 3 attacks (m = 1: two subset choices, m = 2: one) of 1 update each.
    assert seen[-1] == (5, 5)
    info, per_seed = result["info"], result["per_seed"]
    assert set(per_seed) == {"no_adv", "adv_1", "adv_2"}
    choices = [info["adv_1_choice_0"], info["adv_1_choice_1"]]
    # Every (victim, subset of one other agent) pair is attacked exactly once.
    pairs = {(i, tuple(c["subsets"][i])) for c in choices for i in range(3)}
    assert pairs == {(i, (j,)) for i in range(3) for j in range(3) if j != i}
    # The cell is the worst victim over all subsets, per seed.
    worst = np.min([np.asarray(c["per_victim"]).min(axis=1) for c in choices], axis=0)
    np.testing.assert_allclose(per_seed["adv_1"], worst)
    np.testing.assert_allclose(per_seed["no_adv"], np.min(info["clean_per_agent"], axis=1))
    assert np.asarray(info["omega_final"]).shape == (2, 3, 2)
    # Killed after training: the checkpoints are read back and the numbers are the same.
    for f in tmp_path.glob("attack-m2-*"):
        f.unlink()
    resumed: list[tuple[int, int]] = []
    again = ARNEQ_TABLE.run(s, 2, 0, tmp_path, lambda d, t: resumed.append((d, t)))
    assert resumed[0] == (2, 5)  # training not redone
    assert again["per_seed"] == per_seed


@pytest.mark.slow  # CI time: trains a victim, its attack and the continuation
def test_fig5_continuation_reports_victim_zero_gain(tmp_path: Path) -> None:
    s = ArneqTableSettings(
        method="naive", attack_sizes=(1,), attack_subsets="cyclic", continuation=0.5, **TINY
    )
    result = ARNEQ_TABLE.run(s, 2, 0, tmp_path, lambda d, t: None)
    gains = result["per_seed"]["gain_1"]
    assert len(gains) == 2 and np.isfinite(gains).all()
    assert result["info"]["adv_1_choice_0"]["subsets"] == [[1], [2], [0]]


def test_agent_counts_known_without_building_match_the_envs() -> None:
    for name in ("spread", "pursuit"):
        env, params = make_env(name, 7)
        assert env.num_agents == _NUM_AGENTS[name]
        assert env.max_episode_steps(params) == 7
    pytest.importorskip("mujoco.mjx", reason="the Ant needs the mjx extra")
    ant, params = make_env("ant", 7)
    assert ant.num_agents == _NUM_AGENTS["ant"]
    assert ant.max_episode_steps(params) == 7


def test_team_reward_envs_report_the_mean_clean_return() -> None:
    _, spread_params = make_env("spread", 5)
    _, pursuit_params = make_env("pursuit", 5)
    assert not shared_reward("spread", spread_params)
    assert shared_reward("pursuit", pursuit_params)
    assert not shared_reward("pursuit", dataclasses.replace(pursuit_params, shared_reward=False))
    assert shared_reward("ant", None)


def test_shipped_presets_parse() -> None:
    for name in ("arneq-table1-spread", "arneq-table1-pursuit", "arneq-fig5"):
        preset = load_preset(name)
        assert preset.kind == "arneq-table"
        assert {label for label, _ in preset.rows} >= {"ART(k=1)", "ART(k=2)"}
    ant = load_preset("arneq-table1-ant")
    assert [label for label, _ in ant.rows] == ["Naive", "Fixed-K(k=1)", "ART(k=1)"]
    full = ant.cells("full")[0].settings
    # Table 7's Ant column: 13M steps in updates of 65,536, minibatches of 4,096.
    assert full.env == "ant" and full.total_timesteps == 13_000_000
    assert full.num_envs * full.num_steps == 65_536
    assert full.num_envs // 4 * full.num_steps // full.num_minibatches == 4_096
    assert (full.lr, full.clip_eps, full.gae_lambda, full.vf_coef) == (5e-5, 0.2, 0.95, 0.5)


@pytest.mark.slow  # CI time: MJX compiles of a training, an attack and two evaluations (~3 min)
def test_an_ant_row_trains_and_is_attacked_by_the_next_leg(tmp_path: Path) -> None:
    pytest.importorskip("mujoco.mjx", reason="the Ant needs the mjx extra")
    s = ArneqTableSettings(
        env="ant", horizon=10, method="fixed", k=1, attack_sizes=(1,), attack_subsets="cyclic",
        num_envs=8, num_steps=10, total_timesteps=80, attack_timesteps=80, update_epochs=1,
        num_minibatches=1, eval_episodes=2, checkpoint_updates=1,
    )  # fmt: skip
    result = ARNEQ_TABLE.run(s, 1, 0, tmp_path, lambda d, t: None)
    info = result["info"]
    assert info["adv_1_choice_0"]["subsets"] == [[1], [2], [3], [0]]
    assert info["adversary_pairs"] == [[0, 1], [1, 2], [2, 3], [3, 0]]
    clean = np.asarray(info["clean_per_agent"])
    # Ten steps of 0.05 s: 0.1 per healthy step plus the distance walked (< 1 m) over dt.
    assert clean.shape == (1, 4) and np.all(np.abs(clean) < 20.0)
    # One team reward: the clean column is the team's return, the mean over the four worlds.
    np.testing.assert_allclose(result["per_seed"]["no_adv"], clean.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(
        result["per_seed"]["adv_1"], np.min(info["adv_1_choice_0"]["per_victim"], axis=1)
    )

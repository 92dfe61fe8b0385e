"""The run API: specs name the bad field, runs are stored as before, resumes equal whole runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robustmas.experiments.reproduce import EXPERIMENTS, experiment_spec
from robustmas.experiments.run import (
    Run,
    RunSpec,
    RunSpecError,
    execute_run,
    resume_run,
    run_job,
    start_run,
)
from robustmas.experiments.store import RunStore
from robustmas.robust.stackelberg_pomdp import TrainingInterrupted, default_ppo_config, train_leader

# A small allocation setting: 128 transitions per update, so 128 * U steps are U updates.
KNOBS = (("messages", 2), ("num_rounds", 50), ("num_reward_rounds", 5))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"seeds": 0}, "seeds"),
        ({"seeds": 2.0}, "seeds"),
        ({"steps": 0}, "steps"),
        ({"critic": "half"}, "critic"),
        ({"ppo": (("learning_rate", 1e-3),)}, "ppo"),
        ({"ppo": (("centralized_critic", False),)}, "ppo"),  # contradicts critic="full"
        ({"ppo": (("total_timesteps", 10),), "steps": 20}, "ppo"),
        ({"store": None}, "checkpoint_dir"),  # checkpoints need a folder
        ({"setting": ""}, "setting"),
        ({"params": (("randomized", True),)}, "params"),  # a field of its own
        ({"ppo": (("recurrent", "gru"),)}, "ppo"),  # the leader's map is read from an MLP
    ],
)
def test_spec_errors_name_the_field(fields: dict, field: str) -> None:
    args = {"setting": "escape-v0", **fields}
    with pytest.raises(RunSpecError) as info:
        RunSpec(**args)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_ppo_config_is_the_preset_with_overrides() -> None:
    spec = RunSpec("allocation-v0", critic="none", steps=1280, ppo=(("lr", 1e-3),))
    assert spec.ppo_config() == default_ppo_config(
        "allocation-v0", False, lr=1e-3, centralized_critic=False, total_timesteps=1280
    )
    assert RunSpec("maintain-v0", randomized=True).ppo_config() == default_ppo_config(
        "maintain-v0", True, centralized_critic=True
    )


def test_reproduce_cells_are_specs_with_the_old_configuration() -> None:
    """The table's cells train the configuration they trained before the run API."""
    for exp in EXPERIMENTS:
        for centralized in (True, False):
            spec = experiment_spec(exp, centralized=centralized, seeds=3, steps=640)
            assert spec.store is None and not spec.checkpoints and spec.seed == 0
            assert spec.seeds == 3 and spec.param_dict == exp.kwargs()
            assert spec.ppo_config() == default_ppo_config(
                exp.setting, exp.randomized, centralized_critic=centralized, total_timesteps=640
            )


def test_start_run_records_the_configuration(tmp_path: Path) -> None:
    store = tmp_path / "runs" / "r.duckdb"
    spec = RunSpec("allocation-v0", KNOBS, seeds=3, seed=7, steps=1280, store=store, run_id="abc")
    run = start_run(spec)
    assert run.run_id == "abc" and not run.resumed
    assert run.checkpoint == tmp_path / "runs" / "checkpoints" / "abc.msgpack"
    with RunStore(store) as db:
        info = db.get_run("abc")
    assert info["kind"] == "stackelberg-pomdp" and info["setting"] == "allocation-v0"
    assert info["status"] == "running" and info["seeds"] == [0, 1, 2]
    assert info["checkpoint"] == str(run.checkpoint)
    assert info["config"] == {
        "setting": "allocation-v0",
        "randomized": False,
        "params": {"messages": 2, "num_rounds": 50, "num_reward_rounds": 5},
        "critic": "full",
        "seed": 7,
        "ppo": json.loads(json.dumps(run.config.to_dict())),
    }
    resumed = resume_run("abc", store)
    assert resumed.resumed and resumed.config == run.config
    assert resumed.spec.ppo_config() == run.config
    assert resumed.checkpoint == run.checkpoint


def test_string_params_are_typed_before_they_are_stored(tmp_path: Path) -> None:
    store = tmp_path / "r.duckdb"
    raw = (("messages", "2"), ("num_rounds", "50"))  # as a command line gives them
    run = start_run(RunSpec("allocation-v0", raw, store=store, run_id="typed"))
    assert run.spec.params == (("messages", 2), ("num_rounds", 50))
    with RunStore(store) as db:
        assert db.get_run("typed")["config"]["params"] == {"messages": 2, "num_rounds": 50}
    with pytest.raises(ValueError, match="messages: expected int, got 'two'"):
        start_run(RunSpec("allocation-v0", (("messages", "two"),), store=store))


def test_unknown_setting_stores_nothing(tmp_path: Path) -> None:
    store = tmp_path / "r.duckdb"
    with pytest.raises(ValueError, match="unknown parameter"):
        start_run(RunSpec("allocation-v0", (("colour", 1),), store=store))
    with RunStore(store) as db:
        assert db.list_runs() == []


def test_run_job_needs_one_of_spec_and_resume(tmp_path: Path) -> None:
    with pytest.raises(RunSpecError, match="either"):
        run_job()
    with pytest.raises(RunSpecError, match="either"):
        run_job(RunSpec("escape-v0", store=tmp_path / "r.duckdb"), resume="abc")
    with pytest.raises(RunSpecError) as info:
        run_job(resume="nope", store=tmp_path / "r.duckdb")
    assert info.value.field == "resume" and "not found" in info.value.reason


def test_progress_and_program_cache(tmp_path: Path) -> None:
    """Progress after every checkpoint leaves the programs cacheable (one chunk program)."""
    calls: list[tuple[int, int]] = []
    spec = RunSpec("allocation-v0", KNOBS, seeds=2, steps=128 * 10, store=tmp_path / "r.duckdb")
    result = run_job(
        spec,
        progress=lambda done, total: calls.append((done, total)),
        program_cache=tmp_path / "programs",
        plot=tmp_path / "curve.png",
    )
    assert calls == [(10, 10)]
    names = sorted(p.name.split("-")[1] for p in (tmp_path / "programs").glob("*.jaxexport"))
    assert names == ["chunk10", "evaluate", "init"]
    assert result.plot is not None and result.plot.stat().st_size > 1000
    assert result.leader.per_seed.shape == (2,)
    with RunStore(spec.store or "") as db:
        info = db.get_run(result.run_id)
        steps, curves = db.metrics(result.run_id)["greedy_reward"]
    assert info["status"] == "finished"
    assert info["final"] == result.final_metrics()
    np.testing.assert_array_equal(steps, result.leader.steps)
    np.testing.assert_array_equal(curves, result.leader.curves)


def test_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    store, programs = tmp_path / "r.duckdb", tmp_path / "programs"  # programs: traced once
    common = {"seeds": 2, "steps": 128 * 55, "store": store}  # 55 updates: chunks of 50 + 5
    whole = run_job(
        RunSpec("allocation-v0", KNOBS, run_id="whole", **common), program_cache=programs
    )

    run = start_run(RunSpec("allocation-v0", KNOBS, run_id="crashed", **common))
    with pytest.raises(TrainingInterrupted):  # the process "dies" after the first checkpoint
        train_leader(
            run.env_params,
            run.config,
            num_seeds=2,
            checkpoint=run.checkpoint,
            max_chunks=1,
            program_cache=programs,
        )
    calls: list[tuple[int, int]] = []
    resumed = run_job(
        resume="crashed", store=store, progress=lambda *a: calls.append(a), program_cache=programs
    )
    assert calls == [(55, 55)]  # only the remaining chunk ran
    np.testing.assert_array_equal(resumed.leader.per_seed, whole.leader.per_seed)
    np.testing.assert_array_equal(resumed.leader.curves, whole.leader.curves)
    with RunStore(store) as db:
        assert db.get_run("crashed")["final"] == db.get_run("whole")["final"]
        np.testing.assert_array_equal(
            db.metrics("crashed")["greedy_reward"][1], db.metrics("whole")["greedy_reward"][1]
        )
    with pytest.raises(RunSpecError, match="already finished"):
        resume_run("crashed", store)


def test_a_run_without_store_or_checkpoints() -> None:
    spec = RunSpec("escape-v0", seeds=1, steps=128 * 5, store=None, checkpoints=False)
    run = start_run(spec)
    assert isinstance(run, Run) and run.checkpoint is None
    calls: list[tuple[int, int]] = []
    result = execute_run(run, progress=lambda *a: calls.append(a))
    assert calls == [(5, 5)]  # once, at the end
    assert result.leader.per_seed.shape == (1,) and result.optimum == 30.0


def test_training_length_grows_with_the_map_and_the_tuned_sizes_keep_theirs() -> None:
    from robustmas.envs.stackelberg.settings import resolve_setting
    from robustmas.robust.stackelberg_pomdp import size_scale

    # The tuned instances (allocation k = 3, m <= 3; the presets' defaults) keep their length.
    for m in (1, 2, 3):
        assert size_scale("allocation-v0", resolve_setting("allocation-v0", messages=m)) == 1.0
    assert size_scale("allocation-v0", resolve_setting("allocation-v0", items=2)) == 1.0
    big = resolve_setting("allocation-v0", items=6, messages=6)
    assert size_scale("allocation-v0", big) == 4.0  # 6 x 6 map against the 3 x 3 default
    spec = RunSpec("allocation-v0", (("items", "6"), ("messages", "6")))
    assert spec.ppo_config().total_timesteps == 120_064  # 4 x 30,000 rounded up to 128-step batches
    assert RunSpec("allocation-v0", (("items", 6),), steps=640).ppo_config().total_timesteps == 640
    for exp in EXPERIMENTS:  # the reproduction's cells train what they trained before
        spec = experiment_spec(exp, centralized=True)
        assert spec.ppo_config() == default_ppo_config(
            exp.setting, exp.randomized, centralized_critic=True
        )

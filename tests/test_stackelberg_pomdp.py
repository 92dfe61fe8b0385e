"""Leader training in the Stackelberg POMDP: fast checks by default, the paper's table as `slow`."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from robustmas.cli import app
from robustmas.envs.stackelberg.settings import make_setting
from robustmas.experiments.reproduce import EXPERIMENTS, Experiment, run_experiment
from robustmas.experiments.store import RunStore
from robustmas.robust.stackelberg_pomdp import (
    LeaderResult,
    default_ppo_config,
    greedy_map,
    train_leader,
)


@pytest.mark.slow  # CI time: a learning check
def test_pure_leaders_find_maintain_and_escape_optima() -> None:
    for setting, optimum, row in (("maintain-v0", 20.0, 0), ("escape-v0", 30.0, 2)):
        params = make_setting(setting)
        result = train_leader(params, default_ppo_config(setting), num_seeds=3)
        np.testing.assert_allclose(result.per_seed, optimum)
        assert np.all(greedy_map(result, params).argmax(-1) == row)
        assert result.curves.shape == (3, result.steps.size)


@pytest.mark.slow  # CI time: the program-cache test compares two runs of one seed too
def test_same_seed_same_result() -> None:
    params = make_setting("allocation-v0", messages=2, num_rounds=50, num_reward_rounds=5)
    config = default_ppo_config("allocation-v0", total_timesteps=1024)
    a = train_leader(params, config, num_seeds=2, seed=7)
    b = train_leader(params, config, num_seeds=2, seed=7)
    c = train_leader(params, config, num_seeds=2, seed=8)
    np.testing.assert_array_equal(a.per_seed, b.per_seed)
    assert a.metrics["value_loss"].shape == (2, config.num_updates)
    assert np.isfinite(a.metrics["value_loss"]).all()
    for name, values in a.metrics.items():
        np.testing.assert_array_equal(values, b.metrics[name])
    for x, y in zip(
        jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    leaves_a = jax.tree_util.tree_leaves(a.params)
    leaves_c = jax.tree_util.tree_leaves(c.params)
    assert any(
        not np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(leaves_a, leaves_c, strict=True)
    )


def _assert_same_result(a: LeaderResult, b: LeaderResult) -> None:
    np.testing.assert_array_equal(a.per_seed, b.per_seed)
    np.testing.assert_array_equal(a.curves, b.curves)
    for name, values in a.metrics.items():
        np.testing.assert_array_equal(values, b.metrics[name])
    for x, y in zip(
        jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize(
    "chunked",
    [pytest.param(False, marks=pytest.mark.slow), True],  # CI time: one is enough
)
def test_program_cache_gives_identical_results(tmp_path: Path, chunked: bool) -> None:
    params = make_setting("allocation-v0", messages=2, num_rounds=50, num_reward_rounds=5)
    config = default_ppo_config("allocation-v0", total_timesteps=128 * 10, eval_every=5)

    def run(cache: Path | None, tag: str) -> LeaderResult:
        checkpoint = tmp_path / f"{tag}.msgpack" if chunked else None
        return train_leader(
            params, config, num_seeds=2, seed=3, checkpoint=checkpoint, program_cache=cache
        )

    plain = run(None, "plain")
    stored = run(tmp_path / "programs", "miss")  # traced, exported and stored
    names = sorted(p.name.split("-")[1] for p in (tmp_path / "programs").glob("*.jaxexport"))
    assert names == (["chunk10", "evaluate", "init"] if chunked else ["evaluate", "train"])
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "programs").iterdir()}
    loaded = run(tmp_path / "programs", "hit")  # deserialised: no tracing
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "programs").iterdir()} == written
    _assert_same_result(plain, stored)
    _assert_same_result(plain, loaded)


def test_run_progress_keeps_programs_cacheable(tmp_path: Path) -> None:
    """A checkpointed run reports progress from the host per chunk, so its programs (init, one
    chunk program, the final evaluation) are all stored in the program cache."""
    from robustmas.experiments.run import RunSpec, execute_run, start_run

    spec = RunSpec(
        "allocation-v0",
        (("messages", 2), ("num_rounds", 50), ("num_reward_rounds", 5)),
        ppo=(("total_timesteps", 128 * 10), ("eval_every", 5)),
        seeds=2,
        store=None,
        checkpoint_dir=tmp_path,
    )
    seen: list[tuple[int, int]] = []
    result = execute_run(
        start_run(spec),
        progress=lambda done, total: seen.append((done, total)),
        program_cache=tmp_path / "programs",
    )
    assert result.leader.per_seed.shape == (2,)
    assert seen == [(10, 10)]
    names = sorted(p.name.split("-")[1] for p in (tmp_path / "programs").glob("*.jaxexport"))
    assert names == ["chunk10", "evaluate", "init"]


def test_cli_train_json_and_store(tmp_path: Path) -> None:
    store = tmp_path / "runs.duckdb"
    result = CliRunner().invoke(
        app,
        [
            "stackelberg-pomdp",
            "train",
            "escape-v0",
            "--seeds",
            "2",
            "--json",
            "--store",
            str(store),
            "--plot",
            str(tmp_path / "c.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["final_reward"] == pytest.approx(30.0) and out["optimum"] == 30.0
    assert out["per_seed"] == [30.0, 30.0]
    with RunStore(store) as db:
        run = db.get_run(out["run_id"])
        assert run["final"]["final_reward"] == pytest.approx(30.0)
        assert "greedy_reward" in db.metrics(out["run_id"])
    assert (tmp_path / "c.png").exists()
    listed = CliRunner().invoke(app, ["runs", "list", "--store", str(store)])
    assert out["run_id"] in listed.stdout


def test_cli_names_a_bad_xla_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBUSTMAS_XLA_OPT_LEVEL", "fast")
    monkeypatch.setenv("ROBUSTMAS_PROGRAM_CACHE", "off")
    result = CliRunner().invoke(
        app,
        ["stackelberg-pomdp", "train", "escape-v0", "--seeds", "1", "--store", str(tmp_path / "r")],
    )
    assert result.exit_code == 2
    assert "ROBUSTMAS_XLA_OPT_LEVEL='fast': expected 0, 1, 2, 3 or 'default'" in result.stderr


@pytest.mark.slow  # CI time: trains through the CLI; test_cli_train_json_and_store stays
def test_cli_train_from_nfg_file(tmp_path: Path) -> None:
    from robustmas.games import library
    from robustmas.games.formats import write_nfg

    path = tmp_path / "maintain.nfg"
    write_nfg(library.maintain(), path)
    result = CliRunner().invoke(
        app,
        [
            "stackelberg-pomdp",
            "train",
            str(path),
            "--seeds",
            "2",
            "--steps",
            "2048",
            "--json",
            "--store",
            str(tmp_path / "r.duckdb"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["final_reward"] == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--critic", "half"], "--critic"),
        (["--param", "colour=1"], "unknown parameter"),
        (["--param", "messages=two"], "expected int"),
        (["--seeds", "0"], "--seeds"),
    ],
)
def test_cli_train_bad_input(args: list[str], needle: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["stackelberg-pomdp", "train", "allocation-v0", "--store", str(tmp_path / "r.db"), *args],
    )
    assert result.exit_code == 2
    assert needle in result.stderr


# ------------------------------------------------------------------------------------------
# The paper's results (10 seeds per setting, one vmapped call each): `make test-slow`.
# ------------------------------------------------------------------------------------------

SLOW = pytest.mark.slow


def _exp(name: str) -> Experiment:
    return next(e for e in EXPERIMENTS if e.name == name)


@SLOW
def test_maintain_randomised_reaches_27() -> None:
    result, maps = run_experiment(_exp("Maintain (randomised)"), centralized=True)
    assert result.final_reward >= 27.0
    # The learned commitment is near the optimum (0.25, 0.75, 0) on the follower's side of A.
    assert np.all(maps[:, 0, 2] < 0.02) and np.all(maps[:, 0, 0] >= 0.25)


@SLOW
@pytest.mark.parametrize("messages", [1, 2, 3])
def test_allocation_reaches_m_over_3(messages: int) -> None:
    result, _ = run_experiment(_exp(f"Allocation k=3, m={messages}"), centralized=True)
    assert abs(result.final_reward - messages / 3) <= 0.03


@SLOW
def test_matrix_design_pays_tau_at_least_4_and_never_pays() -> None:
    from robustmas.envs.stackelberg.pomdp import run_dynamics

    exp = _exp("Matrix design")
    _, maps = run_experiment(exp, centralized=True)
    taus = maps[:, 0].argmax(-1)
    assert np.all(taus >= 4), taus
    params = make_setting(exp.setting)
    keys = jax.random.split(jax.random.PRNGKey(3), 64)
    for tau in set(taus.tolist()):
        table = np.eye(11)[[tau]]
        logits = jax.vmap(lambda k, t=table: run_dynamics(k, t, params)[0])(keys)
        probs = np.asarray(jax.nn.softmax(logits, axis=-1))
        differ = probs[:, 0, 0, 0] * probs[:, 1, 0, 1] + probs[:, 0, 0, 1] * probs[:, 1, 0, 0]
        assert differ.mean() >= 0.95  # followers on different actions
        # payment is made only on (A, A) (row) and (B, B) (column)
        paid = probs[:, 0, 0, 0] * probs[:, 1, 0, 0] + probs[:, 0, 0, 1] * probs[:, 1, 0, 1]
        assert paid.mean() <= 0.05


@SLOW
def test_muspm_messages_beat_every_mechanism_without_messages() -> None:
    from robustmas.envs.stackelberg.settings import muspm_welfare_without_messages

    result, _ = run_experiment(_exp("muSPM (m=2)"), centralized=True)
    full_info = 1.1
    welfare = full_info + result.final_reward  # reward = -(welfare loss)
    assert welfare >= 0.98 * full_info
    assert welfare > muspm_welfare_without_messages()


@SLOW
@pytest.mark.parametrize("name", ["Matrix design", "Allocation k=3, m=3"])
def test_mappo_at_least_as_fast_as_ppo(name: str) -> None:
    exp = _exp(name)
    mappo, _ = run_experiment(exp, centralized=True)
    ppo, _ = run_experiment(exp, centralized=False)
    # Area under the mean greedy-reward curve (same evaluation schedule for both).
    auc_mappo = np.nanmean(mappo.curves)
    auc_ppo = np.nanmean(ppo.curves)
    assert auc_mappo >= auc_ppo - 0.01, (auc_mappo, auc_ppo)


def test_checkpointed_run_resumes_exactly(tmp_path: Path) -> None:
    from robustmas.robust.stackelberg_pomdp import TrainingInterrupted

    params = make_setting("allocation-v0", messages=2, num_rounds=50, num_reward_rounds=5)
    config = default_ppo_config("allocation-v0", total_timesteps=128 * 40, eval_every=5)
    done: list[int] = []
    whole = train_leader(
        params,
        config,
        num_seeds=2,
        checkpoint=tmp_path / "a.msgpack",
        chunk_updates=10,
        chunk_fn=done.append,
    )
    assert done == [10, 20, 30, 40]
    with pytest.raises(TrainingInterrupted):
        train_leader(
            params,
            config,
            num_seeds=2,
            checkpoint=tmp_path / "b.msgpack",
            chunk_updates=10,
            max_chunks=2,
        )
    assert (tmp_path / "b.msgpack").exists()
    resumed = train_leader(
        params, config, num_seeds=2, checkpoint=tmp_path / "b.msgpack", chunk_updates=10
    )
    for x, y in zip(
        jax.tree_util.tree_leaves(whole.params),
        jax.tree_util.tree_leaves(resumed.params),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(whole.curves, resumed.curves)
    np.testing.assert_array_equal(whole.per_seed, resumed.per_seed)
    assert whole.metrics["value_loss"].shape == (2, config.num_updates)
    for name, values in whole.metrics.items():  # metrics saved before the crash line up too
        np.testing.assert_array_equal(values, resumed.metrics[name])


@pytest.mark.slow  # CI time: compiles two chunk programs
def test_last_short_chunk_reuses_the_chunk_program(tmp_path: Path) -> None:
    """23 updates in chunks of 10: one compiled chunk program (its tail masked in the last
    chunk), and the same greedy results as training in one call without checkpoints."""
    params = make_setting("allocation-v0", messages=2, num_rounds=50, num_reward_rounds=5)
    config = default_ppo_config("allocation-v0", total_timesteps=128 * 23, eval_every=5)
    done: list[int] = []
    chunked = train_leader(
        params,
        config,
        num_seeds=2,
        checkpoint=tmp_path / "run.msgpack",
        chunk_updates=10,
        chunk_fn=done.append,
        program_cache=tmp_path / "programs",
    )
    assert done == [10, 20, 23]
    names = sorted(p.name.split("-")[1] for p in (tmp_path / "programs").glob("*.jaxexport"))
    assert names == ["chunk10", "evaluate", "init"]
    assert chunked.metrics["update"].tolist() == [list(range(1, 24))] * 2
    assert chunked.steps.tolist() == [128 * u for u in (5, 10, 15, 20)]
    # One call compiles another XLA program (fused differently), so float32 metrics agree to
    # rounding only; the greedy results are the same. (The masking itself is bit-exact:
    # tests/test_rl_ppo.py::test_chunk_with_remainder_is_one_masked_program.)
    whole = train_leader(params, config, num_seeds=2)
    np.testing.assert_array_equal(chunked.per_seed, whole.per_seed)
    np.testing.assert_array_equal(chunked.curves, whole.curves)
    for name, values in whole.metrics.items():
        np.testing.assert_allclose(chunked.metrics[name], values, rtol=1e-3, atol=1e-6)


@pytest.mark.slow  # CI time: test_checkpointed_run_resumes_exactly covers resume
def test_cli_resume_finishes_an_interrupted_run(tmp_path: Path) -> None:
    from robustmas.robust.stackelberg_pomdp import TrainingInterrupted

    store = tmp_path / "runs.duckdb"
    knobs = {"messages": 2, "num_rounds": 50, "num_reward_rounds": 5}
    config = default_ppo_config("allocation-v0", total_timesteps=128 * 120)
    ckpt = tmp_path / "checkpoints" / "crashed.msgpack"
    with RunStore(store) as db:
        db.create_run(
            "stackelberg-pomdp",
            "allocation-v0",
            {
                "setting": "allocation-v0",
                "randomized": False,
                "params": knobs,
                "critic": "full",
                "seed": 0,
                "ppo": config.to_dict(),
            },
            [0, 1],
            run_id="crashed",
            checkpoint=str(ckpt),
        )
    params = make_setting("allocation-v0", **knobs)
    with pytest.raises(TrainingInterrupted):
        train_leader(params, config, num_seeds=2, checkpoint=ckpt, max_chunks=1)
    result = CliRunner().invoke(
        app, ["stackelberg-pomdp", "train", "--resume", "crashed", "--store", str(store), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    reference = train_leader(params, config, num_seeds=2, checkpoint=tmp_path / "ref.msgpack")
    assert out["per_seed"] == pytest.approx(reference.per_seed.tolist(), abs=0)
    with RunStore(store) as db:
        assert db.get_run("crashed")["status"] == "finished"
    again = CliRunner().invoke(
        app, ["stackelberg-pomdp", "train", "--resume", "crashed", "--store", str(store)]
    )
    assert again.exit_code == 2 and "already finished" in again.stderr

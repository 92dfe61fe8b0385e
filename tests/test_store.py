"""The DuckDB run store and the training-curve report."""

from pathlib import Path

import numpy as np
import pytest

from robustmas.experiments.report import mean_and_stderr, plot_curves
from robustmas.experiments.store import RunStore


def test_round_trip_of_a_run(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs" / "r.duckdb") as store:
        run = store.create_run(
            "stackelberg-pomdp", "maintain-v0", {"lr": 3e-4, "hidden": [64, 64]}, [0, 1]
        )
        steps = np.array([100, 200, 300])
        series = {"greedy_reward": np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]])}
        store.log_series(run, [0, 1], steps, series)
        store.finish(run, {"final_reward": 3.5, "per_seed": np.array([3.0, 4.0])})
        got = store.get_run(run)
        assert got["config"] == {"lr": 3e-4, "hidden": [64, 64]}
        assert got["seeds"] == [0, 1] and got["status"] == "finished"
        assert got["final"] == {"final_reward": 3.5, "per_seed": [3.0, 4.0]}
        got_steps, values = store.metrics(run)["greedy_reward"]
        np.testing.assert_array_equal(got_steps, steps)
        np.testing.assert_array_equal(values, series["greedy_reward"])
        assert [r["id"] for r in store.list_runs()] == [run]
    # The file persists: reopen and read again.
    with RunStore(tmp_path / "runs" / "r.duckdb") as store:
        assert store.get_run(run)["final"]["final_reward"] == 3.5
        with pytest.raises(KeyError, match="not found"):
            store.get_run("nope")


def test_mean_and_stderr_and_plot(tmp_path: Path) -> None:
    values = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    mean, err = mean_and_stderr(values)
    np.testing.assert_allclose(mean, [3.0, 4.0])
    np.testing.assert_allclose(err, [2.0 / np.sqrt(3), 2.0 / np.sqrt(3)])
    out = plot_curves({"PPO": (np.array([1, 2]), values)}, tmp_path / "c.png", optimum=5.0)
    assert out.exists() and out.stat().st_size > 1000


def test_a_second_process_waits_for_the_lock(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "time.sleep(1.5); c.close()", str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with RunStore(path) as db:  # waits for the other process instead of failing
        assert db.list_runs() == []
    assert time.monotonic() - start > 0.5
    holder.wait(timeout=30)

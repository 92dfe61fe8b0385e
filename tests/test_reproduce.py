"""The reproduction driver: table, JSON and plots from a tiny run; steps-to-target bookkeeping."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from robustmas.experiments.reproduce import Experiment, reproduce_stackelberg, steps_to_target


def test_steps_to_target_uses_the_seed_mean() -> None:
    steps = np.array([100, 200, 300])
    curves = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])  # mean 0, 0.5, 1
    assert steps_to_target(steps, curves, 0.5) == 200
    assert steps_to_target(steps, curves, 0.9) == 300
    assert steps_to_target(steps, curves, 1.5) is None
    assert steps_to_target(steps, curves, None) is None
    with_nan = np.array([[np.nan, 1.0, 1.0], [np.nan, 1.0, 1.0]])
    assert steps_to_target(steps, with_nan, 1.0) == 200


@pytest.mark.slow  # CI time: trains every reproduction row
def test_reproduce_writes_table_json_and_plots(tmp_path: Path) -> None:
    # With one message the follower cannot signal: every map earns exactly 1/3.
    exp = Experiment(
        "Allocation k=3, m=1",
        "allocation-v0",
        (("items", 3), ("messages", 1), ("num_rounds", 20), ("num_reward_rounds", 50)),
        target=0.25,  # 1/3 minus ~7 standard deviations of the sampled evaluation reward
    )
    rows = reproduce_stackelberg(tmp_path, seeds=2, experiments=(exp,), steps=1280)
    assert (tmp_path / "allocation-k=3-m=1.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == json.loads(json.dumps(rows))
    for learner in ("MAPPO", "PPO"):
        assert abs(rows[0][learner]["final_reward"] - 1 / 3) < 0.05
        assert rows[0][learner]["steps_to_target"] == 640  # the first evaluation
    table = (tmp_path / "table.md").read_text().splitlines()
    assert table[0].startswith("| experiment | optimum | target |")
    assert re.fullmatch(
        r"\| Allocation k=3, m=1 \| 0\.3333 \| 0\.25 \| 0\.3\d+ ± 0\.\d+ \| 0\.3\d+ ± 0\.\d+ \|"
        r" 640 / 640 \|",
        table[2],
    ), table[2]

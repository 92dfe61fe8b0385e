"""The small-budget RP Fig. 2 experiment: its exact scoring and its table."""

from __future__ import annotations

import numpy as np

from robustmas.experiments.tragedy_sweep import _table, tragedy_eps_sweep


def test_sweep_scores_every_eps_exactly_and_tabulates() -> None:
    result = tragedy_eps_sweep((0.0, 0.4), seeds=2, horizon=6, rounds=2, window=1)
    rows = result["rows"]
    assert [r["eps_per_step"] for r in rows] == [0.0, 0.4]
    for r in rows:
        # Per-step values of a game whose payoffs lie in [0, 1]; regret is never negative.
        assert 0.0 <= r["principal_per_step"]["mean"] <= 1.0
        assert all(x >= -1e-9 for x in r["per_seed_exact_regret"])
        assert len(r["per_seed_principal"]) == 2
    assert rows[0]["stage_line"] == 1.0 and rows[1]["stage_line"] == 0.0
    table = _table(result)
    assert table.count("\n") == 4 and "| 0.4 |" in table
    assert np.isfinite(result["config"]["train_seconds"])

"""Per-victim numbers, training curves and timings of an arneq-table1-ant run (README.md).

Usage: ``.venv/bin/python docs/results/arneq-table1-ant/details.py RUN_ID [STORE]``
(default store ``runs/robustmas.duckdb``, which ``robustmas experiment run`` writes).  Prints,
per row: each seed's clean return in each victim's world, its return under the attack (victim
``i`` attacked by agent ``i + 1``), the training curve's first and last values, the final omega
(ART) and the seconds the cell took.
"""

import json
import sys

import duckdb
import numpy as np

run_id = sys.argv[1]
store = sys.argv[2] if len(sys.argv) > 2 else "runs/robustmas.duckdb"
with duckdb.connect(store, read_only=True) as db:
    rows = db.execute(
        "select cell, result, seconds from cells where run_id = ? order by cell", [run_id]
    ).fetchall()
for cell, raw, seconds in rows:
    result = json.loads(raw)
    info = result["info"]
    curve = np.asarray(result["curves"]["victim_return_training"]["per_seed"], dtype=float)
    print(
        f"{cell} ({seconds:.0f} s in this process; training {info['train_seconds_this_process']} s)"
    )
    print("  clean, per seed and victim world:", np.round(info["clean_per_agent"], 1).tolist())
    print(
        "  attacked, per seed and victim:   ",
        np.round(info["adv_1_choice_0"]["per_victim"], 1).tolist(),
    )
    print(
        "  training return, first two / last three updates (mean, per seed):",
        np.round(curve[:, :2].mean(axis=1), 1).tolist(),
        np.round(curve[:, -3:].mean(axis=1), 1).tolist(),
    )
    if info["omega_final"] is not None:
        print("  final omega, per seed and victim:", np.round(info["omega_final"], 2).tolist())

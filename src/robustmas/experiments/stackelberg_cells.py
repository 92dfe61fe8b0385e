"""The ``stackelberg-pomdp`` cell kind: a Stackelberg POMDP leader trained by MAPPO or PPO.

Reference: Brero, Eden, Chakrabarti, Gerstgrasser, Li, Parkes, *Stackelberg POMDP: A
Reinforcement Learning Approach for Economic Design*, arXiv:2210.03852, 2023.  One cell is one
:class:`~robustmas.experiments.run.RunSpec` (a setting with its parameters, MAPPO or PPO, the
preset's training length unless a budget says otherwise), trained through
:func:`~robustmas.experiments.run.run_job` with its seeds in one vmapped program.  The run is
recorded in a DuckDB file of the cell's own work folder under the fixed id ``cell`` and
checkpointed there, so a killed cell resumes from its last checkpoint
(:func:`~robustmas.experiments.run.resume_run`) with the numbers of an uninterrupted run.

The table reports the greedy leader's final reward per seed beside the setting's known
optimum and the acceptance target of the reproduction (``stackelberg-pomdp`` preset, formerly
``robustmas stackelberg-pomdp reproduce``).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustmas.experiments.cells import CellProgress, register_kind
from robustmas.experiments.reproduce import steps_to_target
from robustmas.experiments.run import CRITICS, RunSpec, run_job
from robustmas.experiments.store import RunStore
from robustmas.robust.stackelberg_pomdp import greedy_map

__all__ = ["STACKELBERG_POMDP", "StackelbergCellKind", "StackelbergSettings"]

_RUN_ID = "cell"


@dataclass(frozen=True)
class StackelbergSettings:
    """One cell of a ``stackelberg-pomdp`` preset."""

    setting: str = "maintain-v0"
    """Setting id (``robustmas stackelberg-pomdp list``)."""
    params: tuple[str, ...] = ()
    """Setting parameters and POMDP knobs as ``"name=value"`` strings, e.g.
    ``["items=3", "messages=2"]`` (typed by the setting's registry entry)."""
    randomized: bool = False
    """The leader commits to a mixed strategy."""
    critic: str = "full"
    """``full`` (MAPPO's centralised critic) or ``none`` (PPO)."""
    steps: int = 0
    """Environment steps per seed; 0: the setting's default (which grows with the map)."""
    target: float | None = None
    """Greedy reward counted as reached (the reproduction's acceptance bound)."""

    def __post_init__(self) -> None:
        if self.critic not in CRITICS:
            raise ValueError(f"critic: expected one of {', '.join(CRITICS)}, got {self.critic!r}")
        if self.steps < 0:
            raise ValueError(f"steps: must be >= 0 (0: the default), got {self.steps}")
        for item in self.params:
            if "=" not in item:
                raise ValueError(f"params: expected 'name=value', got {item!r}")

    def param_pairs(self) -> tuple[tuple[str, str], ...]:
        """:attr:`params` as ``(name, value)`` pairs (values still strings)."""
        return tuple(
            (name.strip(), value.strip())
            for name, value in (item.split("=", 1) for item in self.params)
        )


def _spec(s: StackelbergSettings, seeds: int, seed: int, workdir: Path) -> RunSpec:
    return RunSpec(
        s.setting,
        s.param_pairs(),
        randomized=s.randomized,
        critic=s.critic,
        seeds=seeds,
        seed=seed,
        steps=s.steps or None,
        store=workdir / "cell.duckdb",
        checkpoints=True,
        checkpoint_dir=workdir,
        run_id=_RUN_ID,
    )


class StackelbergCellKind:
    """The ``stackelberg-pomdp`` kind (see the module docstring)."""

    name = "stackelberg-pomdp"
    settings_type = StackelbergSettings
    metrics: Mapping[str, str] = {"final_reward": "greedy leader's final reward"}

    def run(
        self,
        settings: Any,
        seeds: int,
        seed: int,
        workdir: Path,
        progress: CellProgress,
    ) -> dict[str, Any]:
        """Train the cell (resuming an interrupted one) and report its final rewards."""
        s: StackelbergSettings = settings
        store = workdir / "cell.duckdb"
        status = None
        if store.exists():
            with RunStore(store) as db:
                status = db.get_run(_RUN_ID)["status"] if db.has_run(_RUN_ID) else None
        if status == "running":
            result = run_job(resume=_RUN_ID, store=store, progress=progress)
        else:  # nothing yet, or a finished run whose cell was not recorded: train afresh
            if workdir.exists():
                shutil.rmtree(workdir)
            workdir.mkdir(parents=True)
            result = run_job(_spec(s, seeds, seed, workdir), progress=progress)
        leader = result.leader
        reference = {}
        if result.optimum is not None:
            reference["optimum"] = float(result.optimum)
        if s.target is not None:
            reference["target"] = float(s.target)
        steps = np.asarray(leader.steps)
        curves = np.asarray(leader.curves, np.float64)
        reached = steps_to_target(steps, curves, s.target)
        return {
            "per_seed": {"final_reward": [float(v) for v in np.asarray(leader.per_seed)]},
            "reference": reference,
            "curves": {
                "greedy_reward": {
                    "x": steps.tolist(),
                    "per_seed": [
                        [v if math.isfinite(v) else None for v in row] for row in curves.tolist()
                    ],
                }
            },
            "info": {
                "steps_to_target": reached,
                "greedy_map": greedy_map(leader, result.run.env_params).tolist(),
            },
        }


STACKELBERG_POMDP = register_kind(StackelbergCellKind())
"""The registered instance."""

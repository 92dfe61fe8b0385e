"""Cell kinds: how the experiment runner runs one cell of a preset.

A *cell* is one point of a preset's grid (e.g. one eps) trained for all its seeds in one
vmapped call.  A *kind* (:class:`CellKind`) knows how: its settings dataclass (the fields a
preset may set, one docstring each), the metrics it reports, and :meth:`CellKind.run`, which
trains the cell, checkpoints into a work folder so a killed cell resumes where it stopped, and
returns a JSON-able :class:`dict` of this shape::

    {
      "per_seed":   {metric: [value per seed]},        # the table's numbers (mean, s.e.)
      "reference":  {name: value},                     # exact yardsticks for this cell
      "curves":     {metric: {"x": [...], "per_seed": [[...] per seed]}},
      "info":       {...},                             # anything else worth keeping
    }

Kinds register themselves by name (:func:`register_kind`); presets name them in ``kind``.
The kinds shipped: ``grid-sampling`` (:mod:`robustmas.experiments.grid_sampling`: RP Alg. 1
and 3 and ERMAS on the grid Markov games) and ``stackelberg-pomdp``
(:mod:`robustmas.experiments.stackelberg_cells`: a Stackelberg POMDP leader).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

__all__ = ["CellKind", "CellProgress", "curve", "get_kind", "kind_names", "register_kind"]

CellProgress = Callable[[int, int], None]
"""``progress(done, total)`` in the kind's own units (rounds, updates)."""


def curve(values: Any) -> dict[str, Any]:
    """A result's training curve from per-update values ``(seeds, updates)``.

    Updates in which no episode finished (NaN for every seed: e.g. 1000-step episodes and
    250-step rollouts) are left out rather than drawn as 0; ``x`` counts updates from 1.
    """
    import numpy as np

    values = np.asarray(values, np.float64)
    kept = ~np.isnan(values).all(axis=0)
    return {
        "x": (np.nonzero(kept)[0] + 1).tolist(),
        "per_seed": np.nan_to_num(values[:, kept]).tolist(),
    }


class CellKind(Protocol):
    """What the runner needs from a kind of cell."""

    name: str
    """Name presets use in ``kind``."""
    settings_type: type
    """Frozen dataclass of the fields a preset may set (``settings``, ``grid``, budgets)."""
    metrics: Mapping[str, str]
    """Metric -> description, in table order."""

    def run(
        self, settings: Any, seeds: int, seed: int, workdir: Path, progress: CellProgress
    ) -> dict[str, Any]:
        """Train and score one cell (see the module docstring for the result's shape).

        Args:
            settings: an instance of :attr:`settings_type`.
            seeds: seeds, trained in one vmapped call.
            seed: base PRNG seed.
            workdir: the cell's folder for checkpoints; a run that finds one there resumes it.
            progress: called after each chunk of work.
        """
        ...


_KINDS: dict[str, CellKind] = {}
_BUILTIN = {
    "grid-sampling": "robustmas.experiments.grid_sampling",
    "stackelberg-pomdp": "robustmas.experiments.stackelberg_cells",
    "principal-cross-table": "robustmas.experiments.cross_table_cells",
    "arneq-table": "robustmas.experiments.arneq_cells",
    "economy-taxes": "robustmas.experiments.economy_cells",
}


def register_kind(kind: CellKind) -> CellKind:
    """Make ``kind`` available to presets under ``kind.name``; returns it."""
    _KINDS[kind.name] = kind
    return kind


def kind_names() -> list[str]:
    """Registered kind names (built-in ones included), sorted."""
    return sorted(set(_KINDS) | set(_BUILTIN))


def get_kind(name: str) -> CellKind:
    """The kind called ``name`` (built-in kinds are imported on first use).

    Raises:
        KeyError: no such kind.
    """
    if name not in _KINDS and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _KINDS:
        raise KeyError(f"cell kind {name!r} unknown; registered: {', '.join(kind_names())}")
    return _KINDS[name]

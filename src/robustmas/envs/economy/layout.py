"""The world of the gather-trade-build economy: map files, build skills and start locations.

The papers (robust-principal Sec. 6, ERMAS Sec. 4.4; spec ``robust-principal-ermas.md`` Sec. 5)
use the AI Economist's "Open-Quadrant" map ``quadrant_25x25_20each_30clump`` (Zheng et al.,
"The AI Economist", 2020): water walls split a 25 x 25 world into four quadrants, wood and stone
*source tiles* lie in three of them.  The map ships as data (``maps/*.json``, rows of symbols:
``W`` wood source, ``S`` stone source, ``@`` water, blank open land), with its origin.

With ``fixed_four_skill_and_loc`` (the papers' setting) the four agents get the four *average
ranked* Pareto build skills and the corners that go with them (:func:`ranked_build_payments`,
:func:`ranked_corners`); which agent index gets which (skill, corner) pair is a random
permutation drawn at every reset, as the AI Economist does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

__all__ = [
    "STONE",
    "WOOD",
    "Layout",
    "load_layout",
    "ranked_build_payments",
    "ranked_corners",
]

STONE, WOOD = 0, 1
"""Resource indices (the AI Economist's alphabetical order)."""

_SYMBOLS = {"W": "wood", "S": "stone", "@": "water", " ": "open"}


@dataclass(frozen=True)
class Layout:
    """A parsed map; boolean ``(H, W)`` arrays."""

    name: str
    """The map's name (its file stem)."""
    water: np.ndarray
    """Water tiles: nobody may enter them."""
    stone_source: np.ndarray
    """Stone source tiles: stone starts there and regrows there."""
    wood_source: np.ndarray
    """Wood source tiles."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return (int(self.water.shape[0]), int(self.water.shape[1]))


@cache
def load_layout(name: str = "quadrant_25x25_20each_30clump") -> Layout:
    """Read a map shipped in ``robustmas/envs/economy/maps/NAME.json``."""
    folder = resources.files("robustmas.envs.economy") / "maps"
    path = folder / f"{name}.json"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".json") for p in folder.iterdir())
        raise ValueError(f"layout: no map named {name!r}; known maps: {', '.join(known)}")
    rows = json.loads(path.read_text())["rows"]
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError(f"layout {name!r}: rows of unequal length")
    bad = {ch for r in rows for ch in r} - set(_SYMBOLS)
    if bad:
        raise ValueError(f"layout {name!r}: unknown symbols {sorted(bad)}")
    grid = np.array([list(r) for r in rows])
    return Layout(
        name=name,
        water=grid == "@",
        stone_source=grid == "S",
        wood_source=grid == "W",
    )


def ranked_build_payments(
    n_agents: int = 4, payment: float = 10.0, max_skill_multiplier: float = 3.0
) -> np.ndarray:
    """The AI Economist's fixed build payments, lowest skill first.

    It draws 100,000 sorted, clipped Pareto(4) skill vectors from NumPy's legacy generator
    seeded with 1, ``min(m, (m - 1) x + 1)``, averages each rank and multiplies by the base
    payment: about 11.33, 13.27, 16.47, 22.25 coin per house for four agents (spec Sec. 5).
    """
    rng = np.random.RandomState(1)
    samples = rng.pareto(4, size=(100_000, n_agents))
    skills = np.minimum(max_skill_multiplier, (max_skill_multiplier - 1) * samples + 1)
    return np.sort(skills, axis=1).mean(axis=0) * payment


def ranked_corners(height: int, width: int) -> np.ndarray:
    """Start cells by skill rank (lowest first): top right, bottom left, top left, bottom right.

    The AI Economist's choice for four agents (one per group); ``(4, 2)`` ``(row, col)``.
    """
    return np.array([[0, width - 1], [height - 1, 0], [0, 0], [height - 1, width - 1]])

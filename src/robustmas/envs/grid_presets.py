"""The grid Markov games of the robust-principal and ERMAS experiments, by versioned id.

Papers: Zhao, Trott, Xiong, Zheng, "Learning to Play General-Sum Games Against Multiple
Boundedly Rational Agents", AAAI 2023, arXiv:2106.05492 (RP); anonymous ICLR 2021 submission,
"ERMAS: Learning Policies Robust to Reality Gaps in Multi-Agent Simulations" (ER).  Numbers and
decisions: spec ``robust-principal-ermas.md`` Sec. 1.1-1.3 and Sec. 6.

* ``tragedy-v0`` -- the sequential bimatrix game of RP Sec. 5 / Fig. 2 and ER Sec. 4.1 / Fig. 2
  with the spec's designed tables (D1, :func:`~robustmas.games.grid_tables.tragedy_tables`):
  4x4, a unique pure Nash equilibrium at the corner (3, 3), the stage game's worst-case eps-CCE
  line ``E[r_0] = max(0, 1 - 2.5 eps)``; passive principal, 500 steps (D3), one-hot cell
  observations.  ``augmented=true`` gives ER Sec. 4.3's planner with the released code's officer
  dynamics (ER Fig. 4, D14: 12 officers, weight 3, changes -2..+2).
* ``released-code-v0`` -- the same game on the released code's tables (NumPy seed 0, uniform;
  D1), for fidelity checks against that code; ``augmented`` as above.
* ``nmatrix-v0`` -- the 4-player 7x7x7x7 game of RP Sec. 6 / Fig. 3 / Table 1: three agents and
  an active principal that moves the fourth axis; the released code's N(0, 1) tables (NumPy
  seed 0) or JAX ones (``payoffs=jax_normal``); coordinates scaled to [0, 1] (D26), 500 steps.
* ``nmatrix-fixed-v0`` -- the same game with a principal that is not trained (the released
  code's ``coop_bimatrix_3_fixed``, which its README maps to RP Fig. 5; D28): ``frozen`` (it
  still moves, with a policy the trainer must not update; :attr:`GridSetup.principal_trainable`
  is false), ``fixed_uniform`` (it moves at random) or ``fixed_position`` (it stays put).

``make_grid_game("tragedy-v0:episode_length=50")`` returns a :class:`GridSetup`: the environment,
its params and whether the principal is trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import jax
import numpy as np

from robustmas.envs.grid_game import GridGame, GridParams, ObsEncoding, PrincipalMode
from robustmas.games.grid_tables import (
    released_code_bimatrix_tables,
    released_code_nmatrix_tables,
    tragedy_tables,
)
from robustmas.games.limits import check_dense_size
from robustmas.games.registry import Entry, Param, Registry

__all__ = [
    "GRID_GAMES",
    "GridGameSpec",
    "GridSetup",
    "make_grid_game",
    "nmatrix",
    "nmatrix_fixed",
    "released_code",
    "tragedy",
]


@dataclass(frozen=True)
class GridSetup:
    """A grid game ready to run: environment, parameters and what a trainer may update."""

    env: GridGame
    """The environment (shapes and modes)."""
    params: GridParams
    """Its parameters (tables, perturbations, horizon)."""
    principal_trainable: bool
    """Whether the principal (the last stacked player) is a learner; ``False`` for a passive,
    fixed or frozen principal."""


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")


def _bimatrix(
    tables: np.ndarray,
    episode_length: int,
    allow_stay: bool,
    obs: str,
    augmented: bool,
    max_officers: int,
    officer_weight: float,
) -> GridSetup:
    _choice("obs", obs, ("cell", "coords", "scaled", "raw"))
    principal: PrincipalMode = "augmented" if augmented else "passive"
    env = GridGame(
        tables,
        principal=principal,
        obs=cast(ObsEncoding, obs),  # checked above
        episode_length=episode_length,
        allow_stay=allow_stay,
        max_officers=max_officers,
        officer_weight=officer_weight,
    )
    return GridSetup(env, env.default_params(), principal_trainable=augmented)


def tragedy(
    width: int = 4,
    a: float = 0.4,
    b: float = 0.6,
    c: float = 0.6,
    episode_length: int = 500,
    allow_stay: bool = True,
    obs: str = "cell",
    augmented: bool = False,
    max_officers: int = 12,
    officer_weight: float = 3.0,
) -> GridSetup:
    """The designed tragedy-of-the-commons grid game (``tragedy-v0``; see the module docstring).

    Args:
        width: cells per axis.
        a: an agent's gain from its own coordinate.
        b: an agent's loss from the other's coordinate.
        c: the agents' reward at ``(0, 0)``.
        episode_length: steps per episode.
        allow_stay: agents may stay (ER); ``False``: only up/down (RP's wording).
        obs: ``cell``, ``coords``, ``scaled`` or ``raw``.
        augmented: ERMAS's acting planner with officers (ER Fig. 4).
        max_officers: augmented planner's largest officer count.
        officer_weight: augmented planner's officer weight.

    """
    return _bimatrix(
        tragedy_tables(width, a, b, c),
        episode_length,
        allow_stay,
        obs,
        augmented,
        max_officers,
        officer_weight,
    )


def released_code(
    seed: int = 0,
    width: int = 4,
    episode_length: int = 500,
    allow_stay: bool = True,
    obs: str = "cell",
    augmented: bool = False,
    max_officers: int = 12,
    officer_weight: float = 3.0,
) -> GridSetup:
    """The grid game on the released code's uniform tables (``released-code-v0``).

    Args:
        seed: NumPy seed of the tables (0 in every released configuration).
        width: cells per axis.
        episode_length: steps per episode (the released code ran 5000 + 1; D3).
        allow_stay: agents may stay.
        obs: ``cell``, ``coords``, ``scaled`` or ``raw``.
        augmented: ERMAS's acting planner with officers.
        max_officers: augmented planner's largest officer count.
        officer_weight: augmented planner's officer weight.

    """
    return _bimatrix(
        released_code_bimatrix_tables(seed, width),
        episode_length,
        allow_stay,
        obs,
        augmented,
        max_officers,
        officer_weight,
    )


def _nmatrix_tables(payoffs: str, seed: int, width: int, agents: int) -> np.ndarray:
    _choice("payoffs", payoffs, ("released_code", "jax_normal"))
    if payoffs == "released_code":
        return released_code_nmatrix_tables(seed, width, agents)
    if isinstance(agents, bool) or agents < 1 or isinstance(width, bool) or width < 2:
        raise ValueError(f"width/agents: need width >= 2 and agents >= 1, got {width}, {agents}")
    shape = (agents + 1,) + (width,) * (agents + 1)
    check_dense_size(
        f"width/agents: the N-matrix game with width={width}, agents={agents}",
        shape[1:],
        agents + 1,
        fix="use a smaller width or fewer agents",
    )
    return np.asarray(jax.random.normal(jax.random.PRNGKey(seed), shape), dtype=np.float64)


def _nmatrix(
    principal: PrincipalMode,
    trainable: bool,
    seed: int,
    width: int,
    agents: int,
    payoffs: str,
    episode_length: int,
    obs: str,
) -> GridSetup:
    _choice("obs", obs, ("cell", "coords", "scaled", "raw"))
    env = GridGame(
        _nmatrix_tables(payoffs, seed, width, agents),
        principal=principal,
        obs=cast(ObsEncoding, obs),  # checked above
        episode_length=episode_length,
    )
    return GridSetup(env, env.default_params(), principal_trainable=trainable)


def nmatrix(
    seed: int = 0,
    width: int = 7,
    agents: int = 3,
    payoffs: str = "released_code",
    episode_length: int = 500,
    obs: str = "scaled",
) -> GridSetup:
    """The 4-player N-matrix game with an active principal (``nmatrix-v0``; RP Fig. 3).

    Args:
        seed: seed of the tables (NumPy for ``released_code``, JAX for ``jax_normal``).
        width: cells per axis (7).
        agents: agents besides the principal (3).
        payoffs: ``released_code`` (NumPy ``RandomState(seed)``, as the released code) or
            ``jax_normal`` (``jax.random.normal``).
        episode_length: steps per episode (500; the released code ran 501).
        obs: ``scaled`` (D26), ``raw`` (released code), ``coords`` or ``cell``.

    """
    return _nmatrix("mover", True, seed, width, agents, payoffs, episode_length, obs)


def nmatrix_fixed(
    principal: str = "frozen",
    seed: int = 0,
    width: int = 7,
    agents: int = 3,
    payoffs: str = "released_code",
    episode_length: int = 500,
    obs: str = "scaled",
) -> GridSetup:
    """The N-matrix game with an untrained principal (``nmatrix-fixed-v0``; D28).

    Args:
        principal: ``frozen`` (the released code: it moves with a policy that is never
            trained), ``fixed_uniform`` (moves at random) or ``fixed_position`` (stays put).
        seed: seed of the tables.
        width: cells per axis.
        agents: agents besides the principal.
        payoffs: ``released_code`` or ``jax_normal``.
        episode_length: steps per episode.
        obs: ``scaled``, ``raw``, ``coords`` or ``cell``.

    """
    _choice("principal", principal, ("frozen", "fixed_uniform", "fixed_position"))
    mode = cast(PrincipalMode, "mover" if principal == "frozen" else principal)
    return _nmatrix(mode, False, seed, width, agents, payoffs, episode_length, obs)


class GridGameSpec(Entry[GridSetup]):
    """A grid-games registry entry: id, builder, summary, parameters (see :class:`Entry`)."""


_OBS = Param("obs", str, "observation: cell, coords, scaled or raw")
_LENGTH = Param("episode_length", int, "steps per episode")
_AUGMENTED = (
    Param("augmented", bool, "ERMAS's acting planner with officers (ER Fig. 4)"),
    Param("max_officers", int, "augmented planner: most officers"),
    Param("officer_weight", float, "augmented planner: officer weight"),
)
_NMATRIX = (
    Param("seed", int, "seed of the tables"),
    Param("width", int, "cells per axis"),
    Param("agents", int, "agents besides the principal"),
    Param("payoffs", str, "released_code (NumPy seed) or jax_normal"),
    _LENGTH,
    _OBS,
)

GRID_GAMES: Registry[GridGameSpec] = Registry(
    "grid game",
    [
        GridGameSpec(
            "tragedy-v0",
            tragedy,
            "Designed 4x4 tragedy of the commons (RP Fig. 2); unique pure NE, E[r0] = 1-2.5eps",
            (
                Param("width", int, "cells per axis"),
                Param("a", float, "gain from the own coordinate"),
                Param("b", float, "loss from the other's coordinate"),
                Param("c", float, "agents' reward at (0, 0)"),
                _LENGTH,
                Param("allow_stay", bool, "agents may stay (else only up/down)"),
                _OBS,
                *_AUGMENTED,
            ),
        ),
        GridGameSpec(
            "released-code-v0",
            released_code,
            "Released code's uniform 4x4 tables (NumPy seed 0); no pure NE",
            (
                Param("seed", int, "NumPy seed of the tables"),
                Param("width", int, "cells per axis"),
                _LENGTH,
                Param("allow_stay", bool, "agents may stay (else only up/down)"),
                _OBS,
                *_AUGMENTED,
            ),
        ),
        GridGameSpec(
            "nmatrix-v0",
            nmatrix,
            "4-player 7x7x7x7 game with a moving principal (RP Fig. 3)",
            _NMATRIX,
        ),
        GridGameSpec(
            "nmatrix-fixed-v0",
            nmatrix_fixed,
            "N-matrix game with an untrained principal: frozen, fixed_uniform, fixed_position",
            (Param("principal", str, "frozen, fixed_uniform or fixed_position"), *_NMATRIX),
        ),
    ],
)
"""The grid games by versioned id (bump the version when a game's numbers change)."""


def make_grid_game(spec: str, **params: Any) -> GridSetup:
    """Build a registered grid game, e.g. ``make_grid_game("nmatrix-v0", episode_length=50)``.

    ``spec`` may carry parameters (``"tragedy-v0:augmented=true"``); keyword parameters
    override them and string values are converted to the declared types.

    Raises:
        ValueError: an unknown id or parameter (the message lists the allowed ones), a value of
            the wrong type, or the builder's own checks.

    """
    entry, typed = GRID_GAMES.resolve(spec, **params)
    return entry.builder(**typed)

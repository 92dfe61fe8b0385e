"""Stackelberg settings of the Stackelberg POMDP paper (Sec. 4, 7) as data, with versioned ids.

Every setting is a finite Stackelberg setting (:class:`~.pomdp.StackelbergParams`):

* ``normal-form``: any two-player :class:`~robustmas.games.PrincipalGame` (Maintain, Escape, a
  ``.nfg`` file); the leader observes nothing and picks a row (or a distribution over rows).
* ``matrix-design``: Monderer-Tennenholtz; the leader picks the payment ``tau`` in 0..10 and gets 1
  when the two followers choose different actions.
* ``allocation``: one follower wants one of ``k`` items (uniform type), sends one of ``m``
  messages, the leader allocates an item; both get 1 on a match.  Optimum ``min(m, k) / k``.
* ``muspm``: sequential price mechanisms with messages (Sec. 7.4): two agents, one item; the
  leader observes both messages and picks a whole SPM (who is visited first and the two posted
  prices, from a price grid; with one item the order after the first visit is forced, so this is
  every SPM).  An agent buys iff its value is at least the price.  Leader reward = achieved
  welfare minus the full-information welfare (negative welfare loss).

References:
* Brero, Eden, Chakrabarti, Gerstgrasser, Li, Parkes, *Stackelberg POMDP: A Reinforcement
  Learning Approach for Economic Design* (first titled *Learning Stackelberg Equilibria and
  Applications to Economic Design Games*), arXiv:2210.03852, 2023 (the Stackelberg POMDP paper).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from robustmas.envs.stackelberg.pomdp import StackelbergParams
from robustmas.games.limits import check_dense_size
from robustmas.games.normal_form import PrincipalGame
from robustmas.games.registry import Entry, Param, Registry, check_params

__all__ = [
    "POMDP_KNOBS",
    "POMDP_KNOB_PARAMS",
    "SETTINGS",
    "SettingSpec",
    "allocation",
    "make_setting",
    "matrix_design",
    "muspm",
    "muspm_outcome",
    "muspm_welfare_without_messages",
    "normal_form",
    "resolve_setting",
    "setting_params",
]


def _params(
    prior: np.ndarray,
    follower: np.ndarray,
    leader: np.ndarray,
    obs_of: np.ndarray,
    **knobs: Any,
) -> StackelbergParams:
    return StackelbergParams(
        prior=jnp.asarray(prior, jnp.float32),
        follower_payoff=jnp.asarray(follower, jnp.float32),
        leader_payoff=jnp.asarray(leader, jnp.float32),
        obs_of=jnp.asarray(obs_of, jnp.int32),
        **knobs,
    )


def normal_form(game: PrincipalGame, **knobs: Any) -> StackelbergParams:
    """A two-player leader game: row player leads, observes nothing, one follower, one type."""
    if game.num_players != 1:
        raise ValueError(f"game: need one follower, got {game.num_players}")
    lead, fol = game.principal_payoff, game.payoffs[0]  # (A, M)
    m = fol.shape[1]
    follower = fol.T[None, None]  # (n=1, T=1, M, A)
    leader = lead.T[None]  # (T=1, M, A)
    return _params(np.ones(1), follower, leader, np.zeros(m, int), **knobs)


def matrix_design(max_tau: int = 10, **knobs: Any) -> StackelbergParams:
    """Monderer-Tennenholtz matrix design (Table 3): leader picks tau, reward 1[a_1 != a_2]."""
    if max_tau < 0:
        raise ValueError(f"max_tau: must be >= 0, got {max_tau}")
    check_dense_size(
        f"max_tau: the matrix-design setting with max_tau={max_tau}",
        (2, 2, max_tau + 1),
        3,
        fix="use a smaller max_tau",
    )
    taus = np.arange(max_tau + 1, dtype=float)
    row = (
        np.array([[3.0, 6.0], [4.0, 2.0]])[..., None]
        + np.array([[1.0, 0], [0, 0]])[..., None] * taus
    )
    col = (
        np.array([[3.0, 4.0], [6.0, 2.0]])[..., None]
        + np.array([[0, 0], [0, 1.0]])[..., None] * taus
    )
    follower = np.stack([row, col])[:, None, None]  # (2, T1=1, T2=1, 2, 2, A)
    differ = np.array([[0.0, 1.0], [1.0, 0.0]])
    leader = np.broadcast_to(differ[..., None], (2, 2, taus.size))[None, None]
    return _params(np.ones((1, 1)), follower, leader, np.zeros((2, 2), int), **knobs)


def allocation(items: int = 3, messages: int = 3, **knobs: Any) -> StackelbergParams:
    """Simple allocation mechanism (Sec. 4): optimum ``min(messages, items) / items``."""
    if items < 1 or messages < 1:
        raise ValueError(f"items/messages: need >= 1 each, got items={items}, messages={messages}")
    # Follower and leader payoffs per (type, message, item).
    check_dense_size(
        f"items/messages: the allocation setting with items={items}, messages={messages}",
        (items, messages, items),
        2,
        fix="use fewer items or messages",
    )
    match = (np.arange(items)[:, None] == np.arange(items)[None, :]).astype(float)  # (type, item)
    payoff = np.broadcast_to(match[:, None, :], (items, messages, items))  # (T, M, A)
    return _params(np.full(items, 1.0 / items), payoff[None], payoff, np.arange(messages), **knobs)


DEFAULT_PRICES = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5)


def muspm_outcome(
    values: tuple[float, float], mechanism: tuple[int, float, float]
) -> tuple[int, float]:
    """Who gets the item (0, 1, or -1 for nobody) and the price paid, under one SPM.

    ``mechanism = (first, price_first, price_second)``: visit agent ``first`` at its price; if it
    does not buy, visit the other agent at the second price.  An agent buys iff value >= price.
    """
    first, p1, p2 = mechanism
    second = 1 - first
    if values[first] >= p1:
        return first, p1
    if values[second] >= p2:
        return second, p2
    return -1, 0.0


def muspm_welfare_without_messages(
    values: Sequence[Sequence[float]] = ((0.5, 2.5), (0.0, 1.0)),
    probs: Sequence[Sequence[float]] = ((0.8, 0.2), (0.5, 0.5)),
    prices: Sequence[float] = DEFAULT_PRICES,
) -> float:
    """Best expected welfare of any SPM that cannot use messages (exact enumeration).

    The yardstick muSPM must beat (Sec. 7.4): 0.95 for the paper's instance with the default
    prices, against a full-information welfare ``E[max(v_1, v_2)] = 1.1``.
    """
    best = -np.inf
    for first, p1, p2 in itertools.product((0, 1), prices, prices):
        total = 0.0
        for a, b in itertools.product(range(len(values[0])), range(len(values[1]))):
            v = (values[0][a], values[1][b])
            winner, _ = muspm_outcome(v, (first, p1, p2))
            total += probs[0][a] * probs[1][b] * (v[winner] if winner >= 0 else 0.0)
        best = max(best, total)
    return float(best)


def muspm(
    values: Sequence[Sequence[float]] = ((0.5, 2.5), (0.0, 1.0)),
    probs: Sequence[Sequence[float]] = ((0.8, 0.2), (0.5, 0.5)),
    messages: int = 2,
    prices: Sequence[float] = DEFAULT_PRICES,
    **knobs: Any,
) -> StackelbergParams:
    """MuSPM (Sec. 7.4): the paper's instance by default (epsilon = 0.2: values 1/2 and 1/(2 eps)).

    Types are independent; follower utility = value - price when it buys, else 0; leader reward =
    welfare achieved - max(v_1, v_2).
    """
    if len(values) != 2 or len(probs) != 2:
        raise ValueError("values/probs: muSPM here has exactly two agents")
    for i in range(2):
        if len(values[i]) != len(probs[i]) or len(values[i]) == 0:
            raise ValueError(f"values[{i}]/probs[{i}]: need the same non-zero number of types")
        if abs(sum(probs[i]) - 1) > 1e-9 or min(probs[i]) < 0:
            raise ValueError(f"probs[{i}]: must be a probability vector")
    if messages < 1:
        raise ValueError(f"messages: need >= 1, got {messages}")
    t1, t2 = len(values[0]), len(values[1])
    # Two follower payoffs and the leader's per (type 1, type 2, message 1, message 2, SPM).
    check_dense_size(
        f"messages: the muSPM setting with {t1} x {t2} types and messages={messages}",
        (t1, t2, messages, messages, 2 * len(prices) ** 2),
        3,
        fix="use fewer types, messages or prices",
    )
    mechanisms = [(f, p1, p2) for f in (0, 1) for p1 in prices for p2 in prices]
    follower = np.zeros((2, t1, t2, messages, messages, len(mechanisms)))
    leader = np.zeros((t1, t2, messages, messages, len(mechanisms)))
    for a, b in itertools.product(range(t1), range(t2)):
        v = (values[0][a], values[1][b])
        best = max(v)
        for k, mech in enumerate(mechanisms):
            winner, price = muspm_outcome(v, mech)
            welfare = v[winner] if winner >= 0 else 0.0
            if winner >= 0:
                follower[winner, a, b, :, :, k] = v[winner] - price
            leader[a, b, :, :, k] = welfare - best
    prior = np.outer(probs[0], probs[1])
    obs_of = np.arange(messages * messages).reshape(messages, messages)
    return _params(prior, follower, leader, obs_of, **knobs)


def muspm_general(types: int = 3, messages: int = 3, **knobs: Any) -> StackelbergParams:
    """Generalised muSPM: ``types`` equally likely values per agent on [0.5, 2.5] and [0, 1]."""
    if types < 1:
        raise ValueError(f"types: need >= 1, got {types}")
    if messages < 1:
        raise ValueError(f"messages: need >= 1, got {messages}")
    check_dense_size(
        f"types/messages: the general muSPM setting with types={types}, messages={messages}",
        (types, types, messages, messages, 2 * len(DEFAULT_PRICES) ** 2),
        3,
        fix="use fewer types or messages",
    )
    v1 = tuple(float(x) for x in np.linspace(0.5, 2.5, types))
    v2 = tuple(float(x) for x in np.linspace(0.0, 1.0, types))
    p = tuple([1.0 / types] * types)
    return muspm((v1, v2), (p, p), messages, **knobs)


@dataclass(frozen=True)
class SettingSpec(Entry[StackelbergParams]):
    """A Stackelberg POMDP preset: a registry entry with the exact optimum where known."""

    optimum: Callable[..., float] | None = None
    """Exact optimal leader reward for given parameters, where known."""


def _maintain(**knobs: Any) -> StackelbergParams:
    from robustmas.games.library import maintain

    return normal_form(maintain(), **knobs)


def _escape(**knobs: Any) -> StackelbergParams:
    from robustmas.games.library import escape

    return normal_form(escape(), **knobs)


_KNOB_DEFAULTS = {f.name: f.default for f in dataclasses.fields(StackelbergParams)}

POMDP_KNOB_PARAMS: tuple[Param, ...] = tuple(
    Param(name, kind, doc, _KNOB_DEFAULTS[name])
    for name, kind, doc in [
        ("num_rounds", int, "equilibrium sub-episodes (no-regret rounds)"),
        ("num_reward_rounds", int, "reward sub-episodes"),
        ("mw_step", float, "multiplicative-weights step of the followers"),
        ("randomized", bool, "the leader commits to mixed strategies"),
        ("simplex_actions", bool, "with randomized: a Simplex(A) action space"),
        ("critic_full", bool, "the critic sees the map and the followers' strategies"),
    ]
)
"""POMDP knobs (fields of :class:`~.pomdp.StackelbergParams`) that every setting accepts."""

POMDP_KNOBS: dict[str, type] = {p.name: p.kind for p in POMDP_KNOB_PARAMS}
"""Names and types of :data:`POMDP_KNOB_PARAMS`."""

SETTINGS: Registry[SettingSpec] = Registry(
    "setting",
    [
        SettingSpec(
            "maintain-v0",
            _maintain,
            "Maintain; pure optimum 20, randomised 27.5",
            optimum=lambda randomized=False, **_: 27.5 if randomized else 20.0,
        ),
        SettingSpec("escape-v0", _escape, "Escape; optimum 30 (row C)", optimum=lambda **_: 30.0),
        SettingSpec(
            "matrix-design-v0",
            matrix_design,
            "Monderer-Tennenholtz payments tau in 0..max_tau",
            (Param("max_tau", int, "the leader pays tau in 0..max_tau"),),
            optimum=lambda **_: 1.0,
        ),
        SettingSpec(
            "allocation-v0",
            allocation,
            "Allocate one of k items after one of m messages",
            (
                Param("items", int, "items (and follower types)"),
                Param("messages", int, "messages the follower can send"),
            ),
            optimum=lambda items=3, messages=3, **_: min(messages, items) / items,
        ),
        SettingSpec(
            "muspm-v0",
            muspm,
            "Sequential price mechanism with messages (two agents, one item)",
            (Param("messages", int, "messages per agent"),),
            optimum=lambda **_: 0.0,
        ),
        SettingSpec(
            "muspm-general-v0",
            muspm_general,
            "muSPM with t equally likely types per agent",
            (
                Param("types", int, "equally likely values per agent"),
                Param("messages", int, "messages per agent"),
            ),
        ),
    ],
    shared=POMDP_KNOB_PARAMS,
)
"""The Stackelberg POMDP presets by versioned id; each also takes the :data:`POMDP_KNOBS`."""


def make_setting(setting_id: str, **params: Any) -> StackelbergParams:
    """Build a preset by id; ``params`` may mix setting parameters and POMDP knobs.

    String values are converted to the declared types (see
    :func:`~robustmas.games.registry.check_params`).

    Raises:
        ValueError: an unknown id, an unknown parameter (the message lists the allowed ones), a
            value of the wrong type, or the builder's own checks.

    """
    spec = SETTINGS.entry(setting_id)
    return spec.builder(**SETTINGS.check(setting_id, params))


def _nfg_path(setting: str | os.PathLike[str]) -> str:
    """The path of a ``.nfg`` setting, or a ``ValueError`` saying what ``setting`` should be."""
    name = os.fspath(setting)
    if not (name.lower().endswith(".nfg") or os.path.isfile(name)):
        known = ", ".join(sorted(SETTINGS))
        raise ValueError(
            f"setting: unknown setting {name!r}; expected one of {known} or a .nfg file path"
        )
    if not os.path.isfile(name):
        raise ValueError(f"setting: no such .nfg file {name!r}")
    return name


def setting_params(setting: str | os.PathLike[str], params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``params`` for a :data:`SETTINGS` id or a ``.nfg`` path; convert strings.

    A command line can pass ``KEY=VALUE`` items through
    :func:`~robustmas.games.registry.parse_assignments` and then this function.

    Args:
        setting: a preset id, or a two-player ``.nfg`` file (which takes the POMDP knobs only).
        params: parameter values, as strings or typed.

    Returns:
        The typed parameters, in the order given.

    Raises:
        ValueError: an unknown setting or missing file, an unknown parameter (the message names
            the setting and lists the allowed names) or a value of the wrong type.

    """
    if isinstance(setting, str) and setting in SETTINGS:
        return SETTINGS.check(setting, params)
    name = _nfg_path(setting)
    return check_params(f"setting {name!r}", POMDP_KNOB_PARAMS, params)


def resolve_setting(setting: str | os.PathLike[str], **params: Any) -> Any:
    """Params for a :data:`SETTINGS` id or a two-player ``.nfg`` path (player 1 leads).

    Raises:
        ValueError: an unknown setting (naming it), an unknown parameter, or a ``.nfg`` game that
            is not a two-player game with at least two leader actions.
    """
    if isinstance(setting, str) and setting in SETTINGS:
        return make_setting(setting, **params)
    typed = setting_params(setting, params)
    name = os.fspath(setting)
    from robustmas.games.formats import read_nfg, split_principal

    game = read_nfg(name)
    if game.num_players != 2:
        raise ValueError(f"setting {name!r}: need a two-player game, got {game.num_players}")
    lead = split_principal(game, 0)
    if not isinstance(lead, PrincipalGame):
        raise ValueError(f"setting {name!r}: the leader (player 1) needs at least two actions")
    return normal_form(lead, **typed)

"""The versioned JSON format of games: encoding, decoding, saving and loading.

:func:`to_json` / :func:`from_json` map every game type to a plain dict with
``"format": "robustmas-game"``, ``"version": 1`` and ``"type"`` one of ``"normal_form"``,
``"principal"``, ``"bayesian"``, ``"congestion"``; arrays are nested lists.  No pickle, no eval.
Malformed documents raise :class:`~robustmas.games.formats.base.FormatError` naming the field.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robustmas.games.bayesian import BayesianGame
from robustmas.games.congestion import LinearCongestionGame
from robustmas.games.formats.base import AnyGame, FormatError, read_text
from robustmas.games.normal_form import NormalFormGame, PrincipalGame

__all__ = [
    "JSON_FORMAT",
    "JSON_VERSION",
    "MAX_ARRAY_DEPTH",
    "from_json",
    "load_json",
    "save_json",
    "to_json",
]

JSON_FORMAT = "robustmas-game"
"""Value of the ``"format"`` field of a JSON game."""

JSON_VERSION = 1
"""Value of the ``"version"`` field written by :func:`to_json`."""

MAX_ARRAY_DEPTH = 32
"""Deepest nesting of lists accepted for one array (one level per axis; NumPy's limit)."""


def _nested(array: np.ndarray) -> Any:
    return np.asarray(array, dtype=np.float64).tolist()


def to_json(game: AnyGame) -> dict[str, Any]:
    """A JSON-ready dict describing ``game`` (arrays as nested lists of floats).

    Args:
        game: a :class:`NormalFormGame`, :class:`PrincipalGame`, :class:`BayesianGame` or
            :class:`LinearCongestionGame`.

    Returns:
        A dict with ``"format": "robustmas-game"``, ``"version": 1``, ``"type"`` and the game's
        fields; :func:`from_json` inverts it exactly.

    Raises:
        TypeError: ``game`` is of another type.

    """
    head: dict[str, Any] = {"format": JSON_FORMAT, "version": JSON_VERSION}
    if isinstance(game, NormalFormGame):
        return {
            **head,
            "type": "normal_form",
            "name": game.name,
            "players": list(game.players),
            "actions": [list(a) for a in game.actions],
            "payoffs": _nested(game.payoffs),
            "principal_payoff": (
                None if game.principal_payoff is None else _nested(game.principal_payoff)
            ),
            "principal_name": game.principal_name,
        }
    if isinstance(game, PrincipalGame):
        return {
            **head,
            "type": "principal",
            "name": game.name,
            "principal_name": game.principal_name,
            "principal_actions": list(game.principal_actions),
            "players": list(game.players),
            "actions": [list(a) for a in game.actions],
            "principal_payoff": _nested(game.principal_payoff),
            "payoffs": _nested(game.payoffs),
        }
    if isinstance(game, BayesianGame):
        return {
            **head,
            "type": "bayesian",
            "name": game.name,
            "prior": _nested(game.prior),
            "payoffs": [_nested(p) for p in game.payoffs],
        }
    if isinstance(game, LinearCongestionGame):
        return {
            **head,
            "type": "congestion",
            "name": game.name,
            "slopes": _nested(game.slopes),
            "offsets": _nested(game.offsets),
            "strategies": [_nested(s) for s in game.strategies],
        }
    raise TypeError(f"to_json: unsupported game type {type(game).__name__}")


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _numeric_array(value: Any, field: str) -> np.ndarray:
    """A rectangular nested list of JSON numbers (not booleans) as a float64 array."""
    flat: list[float] = []

    def walk(v: Any, where: str, depth: int) -> tuple[int, ...]:
        if isinstance(v, list):
            if depth >= MAX_ARRAY_DEPTH:
                raise FormatError(
                    f"field {field!r}: lists nested more than {MAX_ARRAY_DEPTH} deep at {where}; "
                    "expected an array with one level of lists per axis"
                )
            shapes = [walk(x, f"{where}[{j}]", depth + 1) for j, x in enumerate(v)]
            if not shapes:
                return (0,)
            for j, s in enumerate(shapes):
                if s != shapes[0]:
                    raise FormatError(
                        f"field {field!r}: ragged nested list: {where}[0] has shape {shapes[0]} "
                        f"but {where}[{j}] has shape {s}"
                    )
            return (len(v), *shapes[0])
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise FormatError(
                f"field {field!r}: expected a number at {where}, got {type(v).__name__} {_short(v)}"
            )
        try:
            flat.append(float(v))
        except OverflowError:
            raise FormatError(f"field {field!r}: number at {where} is too large") from None
        return ()

    shape = walk(value, field, 0)
    return np.asarray(flat, dtype=np.float64).reshape(shape)


def _array_list(value: Any, field: str) -> list[np.ndarray]:
    if not isinstance(value, list):
        raise FormatError(
            f"field {field!r}: expected a list of arrays (one per player), got "
            f"{type(value).__name__}"
        )
    return [_numeric_array(v, f"{field}[{i}]") for i, v in enumerate(value)]


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise FormatError(f"field {field!r}: expected a string, got {type(value).__name__}")
    return value


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise FormatError(
            f"field {field!r}: expected a list of strings, got {type(value).__name__}"
        )
    return tuple(_string(v, f"{field}[{i}]") for i, v in enumerate(value))


def _string_lists(value: Any, field: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise FormatError(
            f"field {field!r}: expected a list of lists of strings, got {type(value).__name__}"
        )
    return tuple(_strings(v, f"{field}[{i}]") for i, v in enumerate(value))


_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # type: (required fields, optional fields) besides format/version/type
    "normal_form": (
        {"payoffs"},
        {"name", "players", "actions", "principal_payoff", "principal_name"},
    ),
    "principal": (
        {"principal_payoff", "payoffs"},
        {"name", "players", "actions", "principal_actions", "principal_name"},
    ),
    "bayesian": ({"payoffs", "prior"}, {"name"}),
    "congestion": ({"strategies", "slopes", "offsets"}, {"name"}),
}


def from_json(data: dict[str, Any]) -> AnyGame:
    """Build a game from a dict written by :func:`to_json` (or by hand).

    Optional fields (``name``, names, ``principal_payoff``) fall back to the game defaults.

    Args:
        data: the decoded JSON object.

    Returns:
        The game, of the class that ``data["type"]`` names.

    Raises:
        FormatError: wrong ``format``/``version``/``type``, missing or unknown fields, or values
            of the wrong kind or shape; the message names the field.

    """
    if not isinstance(data, dict):
        raise FormatError(f"expected a JSON object (dict), got {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise FormatError(f"field {_short(key)}: field names must be strings")
    if data.get("format") != JSON_FORMAT:
        raise FormatError(
            f"field 'format': expected {JSON_FORMAT!r}, got {_short(data.get('format'))}"
        )
    version = data.get("version")
    if isinstance(version, bool) or version != JSON_VERSION:
        raise FormatError(
            f"field 'version': this reader supports version {JSON_VERSION}, got {_short(version)}"
        )
    kind = data.get("type")
    # A list or object here is unhashable: test the type before looking it up.
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise FormatError(
            f"field 'type': expected one of {sorted(_FIELDS)} (a string), got {_short(kind)}"
        )
    required, optional = _FIELDS[kind]
    missing = sorted(required - set(data))
    if missing:
        raise FormatError(f"field {missing[0]!r}: missing (required for type {kind!r})")
    unknown = sorted(set(data) - required - optional - {"format", "version", "type"})
    if unknown:
        raise FormatError(
            f"field {unknown[0]!r}: unknown for type {kind!r} (allowed: "
            f"{', '.join(sorted(required | optional))})"
        )
    name = _string(data.get("name", ""), "name")
    build: Callable[[], AnyGame]
    if kind == "normal_form":
        principal = data.get("principal_payoff")

        def build() -> AnyGame:
            return NormalFormGame(
                _numeric_array(data["payoffs"], "payoffs"),
                None if principal is None else _numeric_array(principal, "principal_payoff"),
                players=_strings(data.get("players", []), "players"),
                actions=_string_lists(data.get("actions", []), "actions"),
                name=name,
                principal_name=_string(data.get("principal_name", "Principal"), "principal_name"),
            )
    elif kind == "principal":

        def build() -> AnyGame:
            return PrincipalGame(
                _numeric_array(data["principal_payoff"], "principal_payoff"),
                _numeric_array(data["payoffs"], "payoffs"),
                players=_strings(data.get("players", []), "players"),
                actions=_string_lists(data.get("actions", []), "actions"),
                principal_actions=_strings(data.get("principal_actions", []), "principal_actions"),
                name=name,
                principal_name=_string(data.get("principal_name", "Principal"), "principal_name"),
            )
    elif kind == "bayesian":

        def build() -> AnyGame:
            return BayesianGame(
                tuple(_array_list(data["payoffs"], "payoffs")),
                _numeric_array(data["prior"], "prior"),
                name=name,
            )
    else:

        def build() -> AnyGame:
            return LinearCongestionGame(
                tuple(_array_list(data["strategies"], "strategies")),
                _numeric_array(data["slopes"], "slopes"),
                _numeric_array(data["offsets"], "offsets"),
                name=name,
            )

    try:
        return build()
    except FormatError:
        raise
    except ValueError as exc:
        # The game classes name the offending attribute at the start of their messages.
        raise FormatError(f"{kind} game: field {exc}") from None


def save_json(game: AnyGame, path: str | os.PathLike[str]) -> None:
    """Write ``game`` to ``path`` as JSON (see :func:`to_json`), one top-level field per line.

    Args:
        game: the game to save.
        path: the file to create or overwrite (UTF-8).

    """
    data = to_json(game)
    body = ",\n".join(
        f"  {json.dumps(key)}: {json.dumps(value, allow_nan=False)}" for key, value in data.items()
    )
    Path(path).write_text("{\n" + body + "\n}\n", encoding="utf-8")


def load_json(path: str | os.PathLike[str]) -> AnyGame:
    """Read a game saved by :func:`save_json`.

    Args:
        path: a ``.json`` file.

    Returns:
        The game.

    Raises:
        FormatError: invalid JSON (with its line) or an invalid game (with the field).

    """
    source = os.fspath(path)
    text = read_text(source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg}", line=exc.lineno, source=source) from None
    except ValueError:  # an integer literal beyond Python's digit limit
        raise FormatError(
            f"invalid JSON: an integer with more than {sys.get_int_max_str_digits()} digits; "
            "numbers must be finite float64 values",
            source=source,
        ) from None
    except RecursionError:
        raise FormatError(
            "invalid JSON: lists or objects nested too deeply; expected arrays with one level "
            f"of lists per axis (at most {MAX_ARRAY_DEPTH})",
            source=source,
        ) from None
    try:
        return from_json(data)
    except FormatError as exc:
        raise exc.with_source(source) from None

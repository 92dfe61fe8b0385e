"""Reading and writing games: Gambit ``.nfg`` files and a versioned JSON format.

Gambit ``.nfg`` (both variants of the strategic-form format)
    *Payoff version*: ``NFG 1 R "title" { "P1" "P2" } { 3 2 }``, an optional comment string,
    then one payoff per player for every strategy profile, the **first** player's strategy
    varying fastest.  *Outcome version*: strategy names ``{ { "a" "b" } { "x" "y" } }``, an
    optional comment, a list of outcomes ``{ { "name" 1, 2 } ... }`` and then one 1-based outcome
    index per profile (``0`` is the null outcome, all payoffs zero).  The reader accepts either
    strategy block (counts or names) with either body, ``NFG 1 R`` and ``NFG 1 D`` headers,
    integers, decimals, exponents, rationals such as ``3/2`` and backslash-escaped quotes in
    strings.

    An ``.nfg`` file has no notion of a principal.  :func:`format_nfg` therefore writes

    * a :class:`NormalFormGame` **without** principal payoff as an ``N``-player file;
    * a :class:`NormalFormGame` **with** principal payoff as an ``N+1``-player file whose player 1
      is the principal (named ``principal_name``) with a single strategy;
    * a :class:`PrincipalGame` as an ``N+1``-player file whose player 1 is the principal with its
      own actions.

    :func:`read_nfg` always returns a plain :class:`NormalFormGame`; :func:`split_principal`
    (or ``load_game(path, principal_player=0)``) turns player 1 back into the principal.
    Numbers are written exactly (integers without decimals, other values as ``repr(float)``), so
    float64 payoffs survive a round trip bit for bit.  The payoff version stores strategy
    counts only, so action names survive only the outcome version.

JSON
    :func:`to_json` / :func:`from_json` map every game type to a plain dict with
    ``"format": "robustmas-game"``, ``"version": 1`` and ``"type"`` one of ``"normal_form"``,
    ``"principal"``, ``"bayesian"``, ``"congestion"``; arrays are nested lists.  No pickle, no eval.

:func:`load_game` opens an ``.nfg``/``.json`` file or builds a registry game from its id.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from robustmas.games.bayesian import BayesianGame
from robustmas.games.congestion import LinearCongestionGame
from robustmas.games.normal_form import NormalFormGame, PrincipalGame, default_action_names

__all__ = [
    "JSON_FORMAT",
    "JSON_VERSION",
    "AnyGame",
    "FormatError",
    "format_nfg",
    "from_json",
    "load_game",
    "load_json",
    "parse_nfg",
    "read_nfg",
    "save_json",
    "split_principal",
    "to_json",
    "write_nfg",
]

AnyGame = NormalFormGame | PrincipalGame | BayesianGame | LinearCongestionGame
"""Every game type that :func:`to_json` and :func:`load_game` handle."""

JSON_FORMAT = "robustmas-game"
"""Value of the ``"format"`` field of a JSON game."""

JSON_VERSION = 1
"""Value of the ``"version"`` field written by :func:`to_json`."""

NfgVariant = Literal["payoff", "outcome"]


class FormatError(ValueError):
    """A malformed game file or JSON document.

    Attributes:
        line: 1-based line number of the problem in an ``.nfg`` text, or ``None``.
        source: the file the text came from, or ``None``.
        detail: the message without the ``source: line N:`` prefix.

    """

    def __init__(self, detail: str, *, line: int | None = None, source: str | None = None):
        self.detail = detail
        self.line = line
        self.source = source
        prefix = ""
        if source is not None:
            prefix += f"{source}: "
        if line is not None:
            prefix += f"line {line}: "
        super().__init__(prefix + detail)

    def with_source(self, source: str) -> FormatError:
        """A copy of this error that names the file ``source``."""
        return FormatError(self.detail, line=self.line, source=source)


# ---------------------------------------------------------------------------------------------
# .nfg tokenizer and parser
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: Literal["{", "}", ",", "string", "word"]
    text: str
    line: int

    def describe(self) -> str:
        if self.kind == "string":
            text = self.text if len(self.text) <= 30 else self.text[:27] + "..."
            return f"string {json.dumps(text)}"
        return repr(self.text)


_DELIMITERS = frozenset('{},"')
_PUNCTUATION: dict[str, Literal["{", "}", ","]] = {"{": "{", "}": "}", ",": ","}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    line = 1
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c in _PUNCTUATION:
            tokens.append(_Token(_PUNCTUATION[c], c, line))
            i += 1
        elif c == '"':
            start = line
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise FormatError(
                        "unterminated string: no closing '\"' before the end of the file",
                        line=start,
                    )
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    chars.append(text[i + 1])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                if c == "\n":
                    line += 1
                chars.append(c)
                i += 1
            tokens.append(_Token("string", "".join(chars), start))
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _DELIMITERS:
                j += 1
            tokens.append(_Token("word", text[i:j], line))
            i = j
    return tokens


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RATIONAL = re.compile(r"([+-]?\d+)/(\d+)")
_INTEGER = re.compile(r"[+-]?\d+")


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text.removeprefix("\ufeff"))
        self.pos = 0
        # "End of file" errors point at the last line that holds anything.
        self.last_line = text.rstrip().count("\n") + 1

    # -- primitives ------------------------------------------------------------------------

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def line(self) -> int:
        tok = self.peek()
        return tok.line if tok is not None else self.last_line

    def error(self, detail: str, line: int | None = None) -> FormatError:
        return FormatError(detail, line=self.line() if line is None else line)

    def next(self, expected: str) -> _Token:
        tok = self.peek()
        if tok is None:
            raise self.error(f"expected {expected}, got end of file")
        self.pos += 1
        return tok

    def expect(self, kind: str, expected: str) -> _Token:
        tok = self.next(expected)
        if tok.kind != kind:
            raise self.error(f"expected {expected}, got {tok.describe()}", tok.line)
        return tok

    def number(self, tok: _Token, what: str) -> float:
        if tok.kind != "word":
            raise self.error(f"expected {what} (a number), got {tok.describe()}", tok.line)
        text = tok.text
        if _DECIMAL.fullmatch(text):
            value = float(text)
        elif m := _RATIONAL.fullmatch(text):
            den = int(m.group(2))
            if den == 0:
                raise self.error(f"{what}: zero denominator in rational {text!r}", tok.line)
            try:
                value = float(Fraction(int(m.group(1)), den))
            except OverflowError:
                value = math.inf
        else:
            raise self.error(
                f"expected {what} (a number such as 3, -1.5, 2e-3 or 3/2), got {tok.describe()}",
                tok.line,
            )
        if not math.isfinite(value):
            raise self.error(f"{what}: {text!r} is out of the float64 range", tok.line)
        return value

    def integer(self, tok: _Token, what: str) -> int:
        if tok.kind != "word" or not _INTEGER.fullmatch(tok.text):
            raise self.error(f"expected {what} (an integer), got {tok.describe()}", tok.line)
        return int(tok.text)

    # -- sections --------------------------------------------------------------------------

    def header(self) -> str:
        tok = self.next("header 'NFG 1 R'")
        if tok.kind != "word" or tok.text != "NFG":
            hint = ""
            if tok.text == "EFG":
                hint = " (extensive-form .efg files are not supported)"
            raise self.error(f"expected header 'NFG 1 R', got {tok.describe()}{hint}", tok.line)
        tok = self.next("format version 1 after 'NFG'")
        if tok.kind != "word" or tok.text != "1":
            raise self.error(
                f"expected format version 1 after 'NFG', got {tok.describe()}", tok.line
            )
        tok = self.next("number type 'R' or 'D' after 'NFG 1'")
        if tok.kind != "word" or tok.text not in ("R", "D"):
            raise self.error(
                f"expected number type 'R' or 'D' after 'NFG 1', got {tok.describe()}", tok.line
            )
        return self.expect("string", "the game title as a quoted string").text

    def players(self) -> list[str]:
        self.expect("{", "'{' opening the list of player names")
        names: list[str] = []
        while True:
            tok = self.next("a quoted player name or '}'")
            if tok.kind == "}":
                break
            if tok.kind != "string":
                raise self.error(
                    f"expected a quoted player name or '}}', got {tok.describe()}", tok.line
                )
            names.append(tok.text)
        if not names:
            raise self.error("the game needs at least one player, got '{ }'", tok.line)
        return names

    def strategies(self, num_players: int) -> tuple[list[int], list[tuple[str, ...]] | None]:
        open_tok = self.expect("{", "'{' opening the strategy counts or strategy names")
        first = self.peek()
        counts: list[int] = []
        names: list[tuple[str, ...]] | None = None
        if first is not None and first.kind == "{":
            names = []
            while True:
                tok = self.next("'{' opening a player's strategy names, or '}'")
                if tok.kind == "}":
                    break
                if tok.kind != "{":
                    raise self.error(
                        "expected '{' opening a player's strategy names, or '}', got "
                        f"{tok.describe()}",
                        tok.line,
                    )
                player = len(names) + 1
                labels: list[str] = []
                while True:
                    tok = self.next(f"a quoted strategy name of player {player} or '}}'")
                    if tok.kind == "}":
                        break
                    if tok.kind != "string":
                        raise self.error(
                            f"expected a quoted strategy name of player {player} or '}}', got "
                            f"{tok.describe()}",
                            tok.line,
                        )
                    labels.append(tok.text)
                if not labels:
                    raise self.error(f"player {player} has no strategies", tok.line)
                names.append(tuple(labels))
            counts = [len(labels) for labels in names]
        else:
            while True:
                tok = self.next("a strategy count or '}'")
                if tok.kind == "}":
                    break
                count = self.integer(tok, f"the strategy count of player {len(counts) + 1}")
                if count <= 0:
                    raise self.error(
                        f"strategy count of player {len(counts) + 1} must be a positive "
                        f"integer, got {tok.text}",
                        tok.line,
                    )
                counts.append(count)
        if len(counts) != num_players:
            raise self.error(
                f"expected strategies for {num_players} players, got {len(counts)}",
                open_tok.line,
            )
        return counts, names

    def payoff_body(self, num_players: int, num_profiles: int) -> np.ndarray:
        start = self.line()
        expected = num_profiles * num_players
        values: list[float] = []
        while (tok := self.peek()) is not None:
            self.pos += 1
            profile, player = divmod(len(values), num_players)
            what = f"payoff {len(values) + 1} (profile {profile + 1}, player {player + 1})"
            values.append(self.number(tok, what))
        if len(values) != expected:
            raise self.error(
                f"expected {expected} payoffs for {num_profiles} profiles x {num_players} "
                f"players, got {len(values)}",
                start if len(values) < expected else self.tokens[self.pos - 1].line,
            )
        return np.asarray(values, dtype=np.float64).reshape(num_profiles, num_players)

    def outcome_body(self, num_players: int, num_profiles: int) -> np.ndarray:
        self.expect("{", "'{' opening the list of outcomes")
        outcomes: list[list[float]] = [[0.0] * num_players]  # index 0: the null outcome
        while True:
            tok = self.next("'{' opening an outcome, or '}' closing the list of outcomes")
            if tok.kind == "}":
                break
            if tok.kind != "{":
                raise self.error(
                    "expected '{' opening an outcome, or '}' closing the list of outcomes, got "
                    f"{tok.describe()}",
                    tok.line,
                )
            index = len(outcomes)
            open_line = tok.line
            nxt = self.peek()
            if nxt is not None and nxt.kind == "string":
                self.pos += 1
            payoffs: list[float] = []
            while True:
                tok = self.next(f"a payoff of outcome {index} or '}}'")
                if tok.kind == "}":
                    break
                if tok.kind == ",":
                    continue
                payoffs.append(self.number(tok, f"payoff {len(payoffs) + 1} of outcome {index}"))
            if len(payoffs) != num_players:
                raise self.error(
                    f"outcome {index} has {len(payoffs)} payoffs, expected {num_players} "
                    "(one per player)",
                    open_line,
                )
            outcomes.append(payoffs)
        table = np.asarray(outcomes, dtype=np.float64)
        start = self.line()
        indexes: list[int] = []
        while (tok := self.peek()) is not None:
            self.pos += 1
            k = self.integer(tok, f"outcome index {len(indexes) + 1}")
            if not 0 <= k < len(outcomes):
                raise self.error(
                    f"outcome index {k} out of range: the file defines {len(outcomes) - 1} "
                    "outcomes (1-based; 0 is the null outcome)",
                    tok.line,
                )
            indexes.append(k)
        if len(indexes) != num_profiles:
            raise self.error(
                f"expected {num_profiles} outcome indexes (one per profile), got {len(indexes)}",
                start if len(indexes) < num_profiles else self.tokens[self.pos - 1].line,
            )
        return table[np.asarray(indexes, dtype=np.intp)]

    def game(self) -> NormalFormGame:
        title = self.header()
        players = self.players()
        counts, names = self.strategies(len(players))
        tok = self.peek()
        if tok is not None and tok.kind == "string":  # optional comment
            self.pos += 1
        num_profiles = math.prod(counts)
        tok = self.peek()
        if tok is not None and tok.kind == "{":
            flat = self.outcome_body(len(players), num_profiles)
        else:
            flat = self.payoff_body(len(players), num_profiles)
        # Profiles are listed with the first player's strategy varying fastest: Fortran order.
        payoffs = np.stack([flat[:, i].reshape(counts, order="F") for i in range(len(players))])
        return NormalFormGame(
            payoffs,
            None,
            players=tuple(players),
            actions=tuple(names) if names is not None else default_action_names(counts),
            name=title,
        )


def parse_nfg(text: str) -> NormalFormGame:
    """Parse the text of a Gambit ``.nfg`` file (payoff or outcome version).

    Args:
        text: the file contents.

    Returns:
        A :class:`NormalFormGame` without principal payoff; player names, strategy names (the
        outcome version; ``"1"``, ``"2"``, ... for the payoff version) and the title (as
        ``name``) are kept.  The comment is dropped.

    Raises:
        FormatError: the text is malformed; the message starts with ``line N:``.

    """
    parser = _Parser(text)
    try:
        return parser.game()
    except FormatError:
        raise
    except (IndexError, StopIteration, KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"malformed .nfg data ({exc})", line=parser.line()) from exc


def _read_text(path: str | os.PathLike[str]) -> str:
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_nfg(path_or_text: str | os.PathLike[str]) -> NormalFormGame:
    """Read a Gambit ``.nfg`` game from a file or from its text.

    Args:
        path_or_text: a path (``str`` or path-like) to an existing file, or the ``.nfg`` text
            itself (a string that is not an existing file and starts with ``NFG`` or spans
            several lines).

    Returns:
        The game, as :func:`parse_nfg` returns it.

    Raises:
        FileNotFoundError: a path-like, or a one-line string that is neither a file nor
            ``.nfg`` text, names no file.
        FormatError: the contents are malformed (the message names the file and line).

    """
    if isinstance(path_or_text, str) and not os.path.isfile(path_or_text):
        text = path_or_text
        if text.lstrip("\ufeff \t\r\n").startswith("NFG") or "\n" in text:
            return parse_nfg(text)
        raise FileNotFoundError(f"no such .nfg file (and not .nfg text): {text!r}")
    source = os.fspath(path_or_text)
    text = _read_text(source)
    try:
        return parse_nfg(text)
    except FormatError as exc:
        raise exc.with_source(source) from None


# ---------------------------------------------------------------------------------------------
# .nfg writer
# ---------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(x: float) -> str:
    x = float(x)
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def _nfg_table(
    game: NormalFormGame | PrincipalGame,
) -> tuple[list[str], list[tuple[str, ...]], np.ndarray, str]:
    """Players, strategy names, payoff tensor ``(n, *shape)`` and a comment for the file."""
    if isinstance(game, PrincipalGame):
        players = [game.principal_name, *game.players]
        actions = [game.principal_actions, *game.actions]
        tensor = np.concatenate([game.principal_payoff[None], game.payoffs])
        comment = f"Player 1 ({game.principal_name}) is the principal."
    elif isinstance(game, NormalFormGame):
        players = list(game.players)
        actions = list(game.actions)
        tensor = np.asarray(game.payoffs)
        comment = ""
        if game.principal_payoff is not None:
            players.insert(0, game.principal_name)
            actions.insert(0, ("1",))
            followers = game.payoffs[:, None]
            tensor = np.concatenate([game.principal_payoff[None, None], followers])
            comment = f"Player 1 ({game.principal_name}) is the principal, with its action fixed."
    else:
        hint = ""
        if isinstance(game, LinearCongestionGame):
            hint = " (call game.to_normal_form() first)"
        raise TypeError(
            "format_nfg: expected a NormalFormGame or PrincipalGame, got "
            f"{type(game).__name__}{hint}"
        )
    return players, actions, tensor, comment


def format_nfg(game: NormalFormGame | PrincipalGame, variant: NfgVariant = "payoff") -> str:
    """The Gambit ``.nfg`` text of ``game``.

    A principal becomes player 1 of an ``N+1``-player file: with one strategy (named ``"1"``)
    for a :class:`NormalFormGame` with principal payoff, with its own actions for a
    :class:`PrincipalGame`.  Read it back with ``split_principal(read_nfg(...), 0)``.

    Args:
        game: the game to write.
        variant: ``"payoff"`` (flat payoff list, strategy counts only: action names are not
            stored) or ``"outcome"`` (strategy names, one outcome per profile).

    Returns:
        The file text, ending with a newline.

    Raises:
        ValueError: unknown ``variant``.
        TypeError: ``game`` is not a normal-form or principal game.

    """
    if variant not in ("payoff", "outcome"):
        raise ValueError(f"variant: expected 'payoff' or 'outcome', got {variant!r}")
    players, actions, tensor, comment = _nfg_table(game)
    n = len(players)
    # Rows: profiles with the first player's strategy varying fastest; columns: players.
    flat = np.stack([tensor[i].ravel(order="F") for i in range(n)], axis=1)
    head = f"NFG 1 R {_quote(game.name)} {{ {' '.join(_quote(p) for p in players)} }}"
    lines: list[str] = []
    if variant == "payoff":
        counts = " ".join(str(len(a)) for a in actions)
        lines.append(f"{head} {{ {counts} }}")
        lines.append(_quote(comment))
        lines.append("")
        lines.extend(" ".join(_number(v) for v in row) for row in flat)
    else:
        lines.append(head)
        lines.append("")
        lines.append("{")
        lines.extend("{ " + " ".join(_quote(s) for s in names) + " }" for names in actions)
        lines.append("}")
        lines.append(_quote(comment))
        lines.append("")
        lines.append("{")
        lines.extend('{ "" ' + ", ".join(_number(v) for v in row) + " }" for row in flat)
        lines.append("}")
        indexes = [str(k + 1) for k in range(flat.shape[0])]
        lines.extend(" ".join(indexes[k : k + 20]) for k in range(0, len(indexes), 20))
    return "\n".join(lines) + "\n"


def write_nfg(
    game: NormalFormGame | PrincipalGame,
    path: str | os.PathLike[str],
    variant: NfgVariant = "payoff",
) -> None:
    """Write ``game`` to ``path`` as a Gambit ``.nfg`` file (see :func:`format_nfg`).

    Args:
        game: the game to write; a principal becomes player 1.
        path: the file to create or overwrite (UTF-8).
        variant: ``"payoff"`` or ``"outcome"``.

    """
    text = format_nfg(game, variant)
    Path(path).write_text(text, encoding="utf-8")


def split_principal(game: NormalFormGame, principal_player: int) -> NormalFormGame | PrincipalGame:
    """Treat one player of ``game`` as the principal.

    Args:
        game: a game without principal payoff and with at least two players (as
            :func:`read_nfg` returns).
        principal_player: 0-based index of the principal.

    Returns:
        If the principal has exactly one strategy, a :class:`NormalFormGame` of the other players
        whose ``principal_payoff`` is the principal's payoff tensor (its axis dropped); otherwise
        a :class:`PrincipalGame` with the principal's axis moved to the front.  Names carry over
        (the principal's player name becomes ``principal_name``).

    Raises:
        ValueError: bad index, a single-player game, or a game that already has a principal.

    """
    if not isinstance(game, NormalFormGame):
        raise TypeError(f"split_principal: expected a NormalFormGame, got {type(game).__name__}")
    n = game.num_players
    if isinstance(principal_player, bool) or not isinstance(principal_player, int | np.integer):
        raise ValueError(
            f"principal_player: expected a 0-based player index, got {principal_player!r}"
        )
    k = int(principal_player)
    if not 0 <= k < n:
        raise ValueError(
            f"principal_player: 0-based index must be in [0, {n}) for a {n}-player game, got {k}"
        )
    if n < 2:
        raise ValueError(
            "principal_player: the game needs at least one player besides the principal"
        )
    if game.principal_payoff is not None:
        raise ValueError("split_principal: the game already has a principal payoff")
    others = [i for i in range(n) if i != k]
    principal = np.moveaxis(game.payoffs[k], k, 0)
    followers = np.moveaxis(game.payoffs[others], k + 1, 1)
    players = tuple(game.players[i] for i in others)
    actions = tuple(game.actions[i] for i in others)
    if game.num_actions[k] == 1:
        return NormalFormGame(
            followers[:, 0],
            principal[0],
            players=players,
            actions=actions,
            name=game.name,
            principal_name=game.players[k],
        )
    return PrincipalGame(
        principal,
        followers,
        players=players,
        actions=actions,
        principal_actions=game.actions[k],
        name=game.name,
        principal_name=game.players[k],
    )


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------


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


def _numeric_array(value: Any, field: str) -> np.ndarray:
    """A rectangular nested list of JSON numbers (not booleans) as a float64 array."""
    flat: list[float] = []

    def walk(v: Any, where: str) -> tuple[int, ...]:
        if isinstance(v, list):
            shapes = [walk(x, f"{where}[{j}]") for j, x in enumerate(v)]
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
                f"field {field!r}: expected a number at {where}, got {type(v).__name__} {v!r}"
            )
        try:
            flat.append(float(v))
        except OverflowError:
            raise FormatError(f"field {field!r}: number at {where} is too large") from None
        return ()

    shape = walk(value, field)
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
    if data.get("format") != JSON_FORMAT:
        raise FormatError(f"field 'format': expected {JSON_FORMAT!r}, got {data.get('format')!r}")
    version = data.get("version")
    if isinstance(version, bool) or version != JSON_VERSION:
        raise FormatError(
            f"field 'version': this reader supports version {JSON_VERSION}, got {version!r}"
        )
    kind = data.get("type")
    if kind not in _FIELDS:
        raise FormatError(f"field 'type': expected one of {sorted(_FIELDS)}, got {kind!r}")
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
    text = _read_text(source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg}", line=exc.lineno, source=source) from None
    try:
        return from_json(data)
    except FormatError as exc:
        raise exc.with_source(source) from None


# ---------------------------------------------------------------------------------------------
# One entry point
# ---------------------------------------------------------------------------------------------

_LOADERS: dict[str, str] = {".nfg": "Gambit strategic form", ".json": "robustmas JSON"}


def load_game(spec: str | os.PathLike[str], principal_player: int | None = None) -> AnyGame:
    """Open a game file or build a registry game.

    Args:
        spec: an existing ``.nfg`` or ``.json`` file, or a registry id such as ``"maintain-v0"``
            or ``"random-v0:players=3,seed=1"`` (see :func:`robustmas.games.library.make`).
        principal_player: for ``.nfg`` files only, the 0-based player to treat as the principal
            (see :func:`split_principal`).

    Returns:
        The game.

    Raises:
        ValueError: a missing file (``spec`` contains a path separator or ends with ``.nfg`` /
            ``.json``), an unsupported extension, an unknown registry id, or
            ``principal_player`` given for anything but an ``.nfg`` file.
        FormatError: a malformed file (a ``ValueError`` too).

    """
    text = os.fspath(spec)
    path = Path(text)
    supported = ", ".join(_LOADERS)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".nfg":
            game = read_nfg(path)
            return game if principal_player is None else split_principal(game, principal_player)
        if suffix not in _LOADERS:
            raise ValueError(
                f"unsupported game file extension {suffix!r} ({text}); supported: {supported}"
            )
        if principal_player is not None:
            raise ValueError("principal_player: only applies to .nfg files")
        return load_json(path)
    if path.is_dir():
        raise ValueError(f"expected a game file, got a directory: {text}")
    looks_like_path = (
        not isinstance(spec, str)
        or "/" in text
        or os.sep in text
        or path.suffix.lower() in _LOADERS
    )
    if looks_like_path:
        raise ValueError(f"file not found: {text}")
    if principal_player is not None:
        raise ValueError(
            "principal_player: only applies to .nfg files, not registry id " + repr(text)
        )
    from robustmas.games.library import make

    return make(text)

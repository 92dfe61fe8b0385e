"""Reading Gambit ``.nfg`` files (both variants of the strategic-form format).

*Payoff version*: ``NFG 1 R "title" { "P1" "P2" } { 3 2 }``, an optional comment string, then one
payoff per player for every strategy profile, the **first** player's strategy varying fastest.
*Outcome version*: strategy names ``{ { "a" "b" } { "x" "y" } }``, an optional comment, a list of
outcomes ``{ { "name" 1, 2 } ... }`` and then one 1-based outcome index per profile (``0`` is the
null outcome, all payoffs zero).  The reader accepts either strategy block (counts or names) with
either body, ``NFG 1 R`` and ``NFG 1 D`` headers, integers, decimals, exponents, rationals such as
``3/2`` and backslash-escaped quotes in strings.

An ``.nfg`` file has no notion of a principal: :func:`read_nfg` always returns a plain
:class:`~robustmas.games.NormalFormGame`, and
:func:`~robustmas.games.formats.principal.split_principal` turns one player back into the principal.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

from robustmas.games.formats.base import FormatError, read_text
from robustmas.games.normal_form import NormalFormGame, default_action_names

__all__ = ["parse_nfg", "read_nfg"]


@dataclass(frozen=True)
class _Token:
    kind: Literal["{", "}", ",", "string", "word"]
    text: str
    line: int

    def describe(self) -> str:
        if self.kind == "string":
            return f"string {json.dumps(_shorten(self.text))}"
        return repr(_shorten(self.text))


def _shorten(text: str) -> str:
    """``text`` cut to 30 characters for error messages."""
    return text if len(text) <= 30 else text[:27] + "..."


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
            if max(len(m.group(1)), len(m.group(2))) > sys.get_int_max_str_digits():
                raise self.error(
                    f"{what}: rational {_shorten(text)!r} has more than "
                    f"{sys.get_int_max_str_digits()} digits; write a decimal such as 1.5e300",
                    tok.line,
                )
            den = int(m.group(2))
            if den == 0:
                raise self.error(
                    f"{what}: zero denominator in rational {_shorten(text)!r}", tok.line
                )
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
            raise self.error(f"{what}: {_shorten(text)!r} is out of the float64 range", tok.line)
        return value

    def integer(self, tok: _Token, what: str) -> int:
        if tok.kind != "word" or not _INTEGER.fullmatch(tok.text):
            raise self.error(f"expected {what} (an integer), got {tok.describe()}", tok.line)
        if len(tok.text) > sys.get_int_max_str_digits():
            raise self.error(
                f"{what}: {tok.describe()} has more than {sys.get_int_max_str_digits()} digits",
                tok.line,
            )
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
    text = read_text(source)
    try:
        return parse_nfg(text)
    except FormatError as exc:
        raise exc.with_source(source) from None

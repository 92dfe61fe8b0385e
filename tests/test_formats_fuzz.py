"""Malformed game files: every mutation of a valid file is a game or a FormatError, nothing else.

Mutations of valid ``.nfg`` and JSON files: truncations, deleted / swapped / inserted tokens,
wrong types, nested lists where numbers belong, missing and extra fields, huge numbers, NaN,
infinities and empty strings.  A mutated file must either load as a game or raise
:class:`FormatError` with a message that says where the problem is (a line of an ``.nfg`` file; a
field or the JSON syntax of a JSON file).  The default suite runs a modest number of cases; the
``slow`` suite runs thousands (``make test-slow``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustmas.games import BayesianGame, NormalFormGame, library
from robustmas.games.formats import (
    FormatError,
    format_nfg,
    load_game,
    load_json,
    parse_nfg,
    to_json,
)

QUICK = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
THOROUGH = settings(QUICK, max_examples=3000)


# ---------------------------------------------------------------------------------------------
# Valid files to mutate
# ---------------------------------------------------------------------------------------------


def _games() -> list:
    return [
        library.rock_paper_scissors(),
        library.maintain(),
        library.samuelson(),
        library.matrix_design(tau=3),
        library.matrix_design(max_tau=2),
        library.random_game(players=3, actions=2, seed=1),
        library.random_game(players=2, actions=2, seed=2, principal=False),
    ]


JSON_DOCS: list[dict[str, Any]] = [
    *(to_json(g) for g in _games()),
    to_json(library.random_congestion_game(players=2, resources=3, strategies=2)),
    to_json(
        BayesianGame(
            (np.arange(8.0).reshape(2, 2, 2), np.ones((1, 2, 2))), np.array([[0.5], [0.5]])
        )
    ),
]

HANDWRITTEN_NFG = [
    r"""NFG 1 R "say \"hi\"" { "P\"1" "P2" }
{ { "a" "b" } { "x" "y" } }
"a comment
over two lines"
{
{ "first" 3/2, -1e-3 }
{ "" 2 -1 }
}
1 2 0 1
""",
    'NFG 1 D "pd" { "Alice" "Bob" } { 2 2 }\n\n3 3 5 0\n0 5 1 1\n',
]

NFG_TEXTS: list[str] = [
    *HANDWRITTEN_NFG,
    *(format_nfg(g, variant) for g in _games() for variant in ("payoff", "outcome")),
]

# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------

# Quoted strings, punctuation of either format, runs of other characters, whitespace.
_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"?|[{}\[\],:]|[^\s{}\[\],:"]+|\s+')

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)

NFG_BAD_TOKENS = st.one_of(
    st.sampled_from(
        [
            "",
            '""',
            "{",
            "}",
            ",",
            "{ 1 2 }",
            "{ { 1 } }",
            "1/0",
            "3/2",
            "-7/3",
            "1e400",
            "-1e400",
            "1e-400",
            "nan",
            "NaN",
            "inf",
            "-0",
            "0",
            "-1",
            "1.5",
            ".5",
            "99999999999999999999",
            "9" * 5000,
            "9" * 5000 + "/7",
            "1/" + "9" * 5000,
            "abc",
            '"unterminated',
            '"a\\"b"',
            "\\",
            "\ufeff",
            "\n",
            "NFG",
            "EFG",
            "1",
            "R",
            "D",
        ]
    ),
    _TEXT,
)

JSON_BAD_TOKENS = st.one_of(
    st.sampled_from(
        [
            "",
            "null",
            "true",
            "false",
            "[]",
            "[[]]",
            "{}",
            '""',
            '"x"',
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            "-1e400",
            "9" * 5000,
            "[1, [2]]",
            "[[1.0]]",
            '{"a": 1}',
            ",",
            ":",
            "[",
            "]",
            "{",
            "}",
            '"type"',
            '"format"',
            '"normal_form"',
            '"principal"',
            '"bayesian"',
            '"congestion"',
            "0x10",
            "-",
            "[" * 3000 + "]" * 3000,
        ]
    ),
    _TEXT,
)

# Values put where any field or element was: wrong types, nested lists, huge numbers, NaN, "".
_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "normal_form", "principal", "robustmas-game"]),
    _TEXT,
)
BAD_VALUES = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "name"]), inner)
    ),
    max_leaves=6,
)

_FIELD_NAMES = st.sampled_from(
    ["extra", "name", "type", "version", "format", "payoffs", "prior", "principal_payoff", ""]
)


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """A valid JSON game with one to three structural mutations."""
    doc: Any = copy.deepcopy(draw(st.sampled_from(JSON_DOCS)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        op = draw(st.sampled_from(["replace", "delete", "nest", "extra", "duplicate"]))
        parent: Any = doc
        for key in path[:-1]:
            parent = parent[key]
        if op == "extra" and isinstance(doc, dict):
            doc[draw(_FIELD_NAMES)] = draw(BAD_VALUES)
        elif not path:
            doc = draw(BAD_VALUES) if op == "replace" else [doc]
        elif op == "replace":
            parent[path[-1]] = draw(BAD_VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif op == "nest":  # a list where a number (or anything) belongs
            parent[path[-1]] = [parent[path[-1]]]
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
    return doc


def _mutated_text(draw: st.DrawFn, texts: list[str], bad_tokens: st.SearchStrategy[str]) -> str:
    tokens = _TOKEN.findall(draw(st.sampled_from(texts)))
    for _ in range(draw(st.integers(1, 3))):
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["truncate", "delete", "swap", "replace", "insert"]))
        if op == "truncate":
            tokens = tokens[:i]
        elif op == "delete":
            del tokens[i]
        elif op == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "replace":
            tokens[i] = draw(bad_tokens)
        else:
            tokens.insert(i, draw(bad_tokens))
    text = "".join(tokens)
    if draw(st.booleans()):  # a cut anywhere, even inside a token
        text = text[: draw(st.integers(0, len(text)))]
    return text


@st.composite
def mutated_nfg(draw: st.DrawFn) -> str:
    """A valid ``.nfg`` text with one to three token mutations."""
    return _mutated_text(draw, NFG_TEXTS, NFG_BAD_TOKENS)


@st.composite
def mutated_json_text(draw: st.DrawFn) -> str:
    """The text of a valid JSON game with one to three token mutations."""
    return _mutated_text(draw, [json.dumps(d) for d in JSON_DOCS], JSON_BAD_TOKENS)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


def _check_nfg(text: str, path: Path) -> None:
    try:
        game = parse_nfg(text)
    except FormatError as exc:
        assert exc.detail and str(exc), "empty FormatError message"
        assert exc.line is not None, f"no line number in {exc}"
    else:
        assert isinstance(game, NormalFormGame)
    # The same text through a file (undecodable UTF-8 falls back to Latin-1).
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_game(path)
    except FormatError as exc:
        assert str(exc).startswith(f"{path}: line "), str(exc)


def _check_json(text: str, path: Path) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_json(path)
    except FormatError as exc:
        assert exc.detail and str(exc), "empty FormatError message"
        # Says where: a field, or the JSON syntax, or that the top level is not an object.
        assert re.search(r"field |invalid JSON|JSON object", exc.detail), str(exc)


def _dumps(doc: Any) -> str:
    return json.dumps(doc)  # NaN and infinities become NaN / Infinity, as json.loads reads them


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_the_seeds_are_valid(scratch: Path) -> None:
    for text in NFG_TEXTS:
        assert isinstance(parse_nfg(text), NormalFormGame)
    for doc in JSON_DOCS:
        path = scratch / "seed.json"
        path.write_text(_dumps(doc))
        load_json(path)


@QUICK
@given(text=mutated_nfg())
def test_mutated_nfg_is_a_game_or_a_format_error(scratch: Path, text: str) -> None:
    _check_nfg(text, scratch / "game.nfg")


@QUICK
@given(text=mutated_json_text())
def test_mutated_json_text_is_a_game_or_a_format_error(scratch: Path, text: str) -> None:
    _check_json(text, scratch / "game.json")


@QUICK
@given(doc=mutated_documents())
def test_mutated_json_fields_are_a_game_or_a_format_error(scratch: Path, doc: Any) -> None:
    _check_json(_dumps(doc), scratch / "game.json")


@pytest.mark.slow
@THOROUGH
@given(text=mutated_nfg())
def test_many_mutated_nfg(scratch: Path, text: str) -> None:
    _check_nfg(text, scratch / "game.nfg")


@pytest.mark.slow
@THOROUGH
@given(text=mutated_json_text())
def test_many_mutated_json_texts(scratch: Path, text: str) -> None:
    _check_json(text, scratch / "game.json")


@pytest.mark.slow
@THOROUGH
@given(doc=mutated_documents())
def test_many_mutated_json_documents(scratch: Path, doc: Any) -> None:
    _check_json(_dumps(doc), scratch / "game.json")

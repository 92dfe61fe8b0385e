"""Gambit .nfg and JSON reading/writing, and load_game."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robustmas.games import BayesianGame, LinearCongestionGame, NormalFormGame, PrincipalGame
from robustmas.games.formats import (
    FormatError,
    format_nfg,
    from_json,
    load_game,
    load_json,
    parse_nfg,
    read_nfg,
    save_json,
    split_principal,
    to_json,
    write_nfg,
)
from robustmas.games.library import make

# Prisoner's dilemma, Alice is the row player (player 1).  Profiles in file order (player 1
# fastest): (C,C) -> 3,3; (D,C) -> 5,0; (C,D) -> 0,5; (D,D) -> 1,1.
PD_PAYOFF = """NFG 1 D "Prisoner's dilemma" { "Alice" "Bob" } { 2 2 }

3 3 5 0
0 5 1 1
"""

PD_OUTCOME = r"""NFG 1 R "Prisoner's dilemma" { "Alice" "Bob" }

{ { "C" "D" }
  { "C" "D" }
}
"A comment with \"quotes\"
over two lines"

{
{ "both cooperate" 3, 3 }
{ "sucker" 0 5 }
{ "temptation" 5, 0 }
{ "punish" 1 1 }
}
1 3 2 4
"""


def test_payoff_and_outcome_versions_parse_to_the_same_game() -> None:
    a = parse_nfg(PD_PAYOFF)
    b = parse_nfg(PD_OUTCOME)
    assert a.num_actions == b.num_actions == (2, 2)
    np.testing.assert_array_equal(a.payoffs, b.payoffs)
    # payoffs[i][a_Alice, a_Bob]; action 1 = D, so [1, 0] is (Alice D, Bob C).
    assert a.payoffs[0][1, 0] == 5.0
    assert a.payoffs[1][1, 0] == 0.0
    assert a.payoffs[0][0, 1] == 0.0
    assert a.payoffs[1][0, 1] == 5.0
    assert a.payoffs[0][0, 0] == a.payoffs[1][0, 0] == 3.0
    assert a.payoffs[0][1, 1] == a.payoffs[1][1, 1] == 1.0
    assert a.players == b.players == ("Alice", "Bob")
    assert a.name == b.name == "Prisoner's dilemma"
    assert a.actions == (("1", "2"), ("1", "2"))
    assert b.actions == (("C", "D"), ("C", "D"))
    assert a.principal_payoff is None


def test_null_outcome_and_escaped_strings() -> None:
    text = r"""NFG 1 R "say \"hi\" \\ bye" { "P\"1" "P2" }
{ { "a" "b" } { "x" } }
{ { "" 2 -1 } }
0 1
"""
    g = parse_nfg(text)
    assert g.name == 'say "hi" \\ bye'
    assert g.players == ('P"1', "P2")
    np.testing.assert_array_equal(g.payoffs[0], [[0.0], [2.0]])
    np.testing.assert_array_equal(g.payoffs[1], [[0.0], [-1.0]])


def test_number_forms_and_rationals() -> None:
    text = 'NFG 1 R "" { "only" } { 8 } ""\n3/2 -1/4 +7 .5 -2.50 1e2 2.5E-3 -0/3\n'
    g = parse_nfg(text)
    np.testing.assert_array_equal(g.payoffs[0], [1.5, -0.25, 7.0, 0.5, -2.5, 100.0, 0.0025, 0.0])
    # The optional comment may be omitted.
    g2 = parse_nfg('NFG 1 R "" { "only" } { 2 } 1/3 2/3')
    assert g2.payoffs[0][0] == 1 / 3
    assert g2.payoffs[0][1] == 2 / 3


def _random_game(rng: np.random.Generator, shape: tuple[int, ...]) -> NormalFormGame:
    payoffs = rng.normal(size=(len(shape), *shape)) * 10.0 ** rng.integers(-5, 6)
    # Awkward values: integers, huge and tiny magnitudes, negative zero.
    flat = payoffs.reshape(-1)
    flat[:4] = [3.0, 1e20, -1e-300, -0.0][: flat.size]
    return NormalFormGame(payoffs)


@pytest.mark.parametrize("variant", ["payoff", "outcome"])
@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 2), (1, 4), (2, 1, 2, 2)])
def test_round_trip_random_games(variant: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape) + len(variant))
    for _ in range(3):
        game = _random_game(rng, shape)
        back = parse_nfg(format_nfg(game, variant))  # type: ignore[arg-type]
        assert back.num_actions == shape
        assert np.array_equal(back.payoffs, game.payoffs)
        assert back.players == game.players


def test_round_trip_three_players_with_names() -> None:
    rng = np.random.default_rng(7)
    game = NormalFormGame(
        rng.uniform(-1, 1, size=(3, 2, 3, 2)),
        players=("Ann", 'Bo "B" \\ Smith', "Cy"),
        actions=(("up", "down"), ("l", "m", "r"), ("x", 'y"')),
        name='A "3-player" game',
    )
    back = parse_nfg(format_nfg(game, "outcome"))
    assert np.array_equal(back.payoffs, game.payoffs)
    assert back.players == game.players
    assert back.actions == game.actions
    assert back.name == game.name
    # The payoff version stores counts only: action names become Gambit's "1", "2", ...
    back = parse_nfg(format_nfg(game, "payoff"))
    assert np.array_equal(back.payoffs, game.payoffs)
    assert back.players == game.players
    assert back.actions == (("1", "2"), ("1", "2", "3"), ("1", "2"))


def test_principal_with_one_strategy_splits_off() -> None:
    rng = np.random.default_rng(3)
    principal = rng.uniform(size=(2, 3))
    followers = rng.uniform(size=(2, 2, 3))
    # An N+1-player file: player 1 is the principal with one strategy.
    full = np.concatenate([principal[None, None], followers[:, None]])  # (3, 1, 2, 3)
    text = format_nfg(NormalFormGame(full, players=("Boss", "F1", "F2")), "payoff")
    assert "{ 1 2 3 }" in text.splitlines()[0]
    game = split_principal(parse_nfg(text), 0)
    assert isinstance(game, NormalFormGame)
    assert game.principal_payoff is not None
    assert np.array_equal(game.principal_payoff, principal)
    assert np.array_equal(game.payoffs, followers)
    assert game.players == ("F1", "F2")
    assert game.principal_name == "Boss"

    # Writing a game with principal payoff produces exactly that layout.
    original = NormalFormGame(followers, principal, principal_name="Boss")
    for variant in ("payoff", "outcome"):
        parsed = parse_nfg(format_nfg(original, variant))
        assert parsed.num_actions == (1, 2, 3)
        assert parsed.players[0] == "Boss"
        back = split_principal(parsed, 0)
        assert isinstance(back, NormalFormGame)
        assert back.principal_payoff is not None
        assert np.array_equal(back.principal_payoff, principal)
        assert np.array_equal(back.payoffs, followers)


def test_split_principal_in_the_middle() -> None:
    rng = np.random.default_rng(4)
    payoffs = rng.uniform(size=(3, 2, 1, 3))  # player index 1 has a single strategy
    game = split_principal(NormalFormGame(payoffs, players=("A", "P", "C")), 1)
    assert isinstance(game, NormalFormGame)
    assert game.players == ("A", "C")
    assert game.principal_name == "P"
    assert game.principal_payoff is not None
    assert np.array_equal(game.principal_payoff, payoffs[1][:, 0, :])
    assert np.array_equal(game.payoffs[0], payoffs[0][:, 0, :])
    assert np.array_equal(game.payoffs[1], payoffs[2][:, 0, :])


def test_principal_game_round_trip() -> None:
    original = make("maintain-v0")
    assert isinstance(original, PrincipalGame)
    for variant in ("payoff", "outcome"):
        back = split_principal(parse_nfg(format_nfg(original, variant)), 0)
        assert isinstance(back, PrincipalGame)
        assert np.array_equal(back.principal_payoff, original.principal_payoff)
        assert np.array_equal(back.payoffs, original.payoffs)
        assert back.principal_name == "Leader"
        assert back.players == ("Follower",)
        if variant == "outcome":
            assert back.principal_actions == ("A", "B", "C")
            assert back.actions == (("A", "B", "C"),)
    # Principal in the last position: axis moved to the front.
    rng = np.random.default_rng(5)
    payoffs = rng.uniform(size=(2, 3, 4))
    pg = split_principal(NormalFormGame(payoffs), 1)
    assert isinstance(pg, PrincipalGame)
    assert np.array_equal(pg.principal_payoff, payoffs[1].T)
    assert np.array_equal(pg.payoffs[0], payoffs[0].T)


def test_split_principal_errors() -> None:
    game = parse_nfg(PD_PAYOFF)
    with pytest.raises(ValueError, match=r"principal_player.*\[0, 2\).*got 2"):
        split_principal(game, 2)
    with pytest.raises(ValueError, match="principal_player"):
        split_principal(game, -1)
    with pytest.raises(ValueError, match="besides the principal"):
        split_principal(NormalFormGame(np.zeros((1, 3))), 0)
    with pytest.raises(ValueError, match="already has a principal"):
        split_principal(game.with_principal(np.zeros((2, 2))), 0)


HEAD = 'NFG 1 R "t" { "a" "b" } { 3 2 }\n""\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD + "1 2 3 4 5 6\n7 8 9 10 11\n", r"line 3: expected 12 payoffs for 6 profiles x 2"),
        (HEAD + "1 2 3 4 5 6 7 8 9 10 11 12 13\n", "expected 12 payoffs.*got 13"),
        ('NFG 1 R "t { "a" } { 2 }\n', r"line 1: unterminated string"),
        ('NFG 1 R "t" { "a" } { 2 }\n\n1 "oops\n', r"line 3: unterminated string"),
        ('NFG 1 R "t" { "a" } { 2 }\n1\nx\n', r"line 3: expected payoff 2 .*got 'x'"),
        ('NFG 1 R "t" { "a" } { 2 }\n1 1/0\n', r"line 2: .*zero denominator"),
        ('EFG 2 R "t" { "a" }\n', r"line 1: expected header 'NFG 1 R'.*not supported"),
        ('NFG 2 R "t" { "a" } { 1 } 0', r"line 1: expected format version 1"),
        ('NFG 1 X "t" { "a" } { 1 } 0', r"line 1: expected number type 'R' or 'D'"),
        ('NFG 1 R { "a" } { 1 } 0', r"line 1: expected the game title"),
        ('NFG 1 R "t"\n{ "a" "b" }\n{ 2 0 }\n', r"line 3: strategy count of player 2 must be"),
        ('NFG 1 R "t"\n{ "a" }\n{ -1 }\n', r"line 3: strategy count of player 1 must be"),
        ('NFG 1 R "t"\n{ "a" }\n{ 1.5 }\n', r"line 3: expected the strategy count.*integer"),
        ('NFG 1 R "t" { "a" "b" } { 2 }\n', r"line 1: expected strategies for 2 players, got 1"),
        ('NFG 1 R "t" { } { }\n', r"line 1: the game needs at least one player"),
        ('NFG 1 R "t" { "a" } { { "x" } { } }\n', r"line 1: player 2 has no strategies"),
        ('NFG 1 R "t" { "a" } { { "x" } { "y" } }\n', r"line 1: expected strategies for 1 pl"),
        ('NFG 1 R "t" { "a" } { { } }\n', r"line 1: player 1 has no strategies"),
        ('NFG 1 R "t" { "a" }\n{ { "x" "y" } }\n{ { "" 1 } }\n1\n2\n', r"line 5: outcome index 2"),
        ('NFG 1 R "t" { "a" }\n{ { "x" } }\n{ { "" 1 } }\n-1\n', r"line 4: outcome index -1"),
        ('NFG 1 R "t" { "a" }\n{ { "x" "y" } }\n{ { "" 1 } }\n1\n', r"line 4: expected 2 outcome"),
        ('NFG 1 R "t" { "a" }\n{ { "x" } }\n{ { "" 1, 2 } }\n1\n', r"line 3: outcome 1 has 2"),
        ('NFG 1 R "t" { "a" }\n{ { "x" } }\n{ { "" 1 }\n', r"line 3: expected '\{' opening an"),
        ('NFG 1 R "t" { "a" }\n{ { "x" } }\n{ { "" one } }\n1', r"line 3: expected payoff 1 of"),
        ('NFG 1 R "t" { "a" } { 1 } 1e999', r"line 1: .*out of the float64 range"),
        ('NFG 1 R "t" { "a" } { 1 } ' + "9" * 5000 + "/7", r"line 1: .*has more than \d+ digits"),
        ('NFG 1 R "t" { "a" } { ' + "9" * 5000 + " }", r"line 1: the strategy count.*digits"),
        ('NFG 1 R "t" { "a" } { 1 } ' + "x" * 5000, r"got 'x{27}\.\.\.'$"),
        ("", r"line 1: expected header 'NFG 1 R', got end of file"),
        ('NFG 1 R "t" { "a" }\n{ 2 }\n\n', r"line 2: expected 2 payoffs.*got 0"),
    ],
)
def test_malformed_files_raise_format_error_with_line(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        parse_nfg(text)
    assert "line" in str(info.value)
    assert info.value.line is not None


def test_every_truncation_is_a_format_error_or_a_game() -> None:
    # Cutting a valid file anywhere must never raise anything but FormatError.
    for text in (PD_OUTCOME, PD_PAYOFF):
        for cut in range(len(text)):
            try:
                parse_nfg(text[:cut])
            except FormatError as exc:
                assert "line" in str(exc)


def test_read_and_write_files(tmp_path: Path) -> None:
    game = make("rps-v0")
    assert isinstance(game, NormalFormGame)
    path = tmp_path / "rps.nfg"
    write_nfg(game, path, variant="outcome")
    for source in (path, str(path)):
        back = read_nfg(source)
        assert np.array_equal(back.payoffs, game.payoffs)
        assert back.actions == game.actions
        assert back.name == "Rock-paper-scissors"
    assert np.array_equal(read_nfg(path.read_text()).payoffs, game.payoffs)
    bad = tmp_path / "bad.nfg"
    bad.write_text(HEAD + "1 2 3\n")
    with pytest.raises(FormatError, match=r"bad\.nfg: line 3: expected 12 payoffs"):
        read_nfg(bad)
    with pytest.raises(FileNotFoundError):
        read_nfg(tmp_path / "missing.nfg")
    with pytest.raises(ValueError, match="variant"):
        format_nfg(game, "table")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="to_normal_form"):
        format_nfg(make("congestion-v0"))  # type: ignore[arg-type]


def _bayesian() -> BayesianGame:
    rng = np.random.default_rng(11)
    prior = rng.uniform(size=(2, 3))
    prior /= prior.sum()
    return BayesianGame(
        (rng.normal(size=(2, 2, 3)), rng.normal(size=(3, 2, 3))), prior, name="bayes"
    )


def _games() -> list:
    return [
        make("random-v0:players=3,actions=2,seed=2"),
        make("random-v0:players=2,actions=3,seed=2,principal=false"),
        make("rps-v0"),
        make("maintain-v0"),
        make("matrix-design-v0:max_tau=3"),
        _bayesian(),
        make("congestion-v0:players=3,resources=4,seed=1"),
    ]


def _assert_same(a: object, b: object) -> None:
    assert type(a) is type(b)
    if isinstance(a, NormalFormGame):
        assert isinstance(b, NormalFormGame)
        assert np.array_equal(a.payoffs, b.payoffs)
        if a.principal_payoff is None:
            assert b.principal_payoff is None
        else:
            assert b.principal_payoff is not None
            assert np.array_equal(a.principal_payoff, b.principal_payoff)
        assert (a.players, a.actions, a.name, a.principal_name) == (
            b.players,
            b.actions,
            b.name,
            b.principal_name,
        )
    elif isinstance(a, PrincipalGame):
        assert isinstance(b, PrincipalGame)
        assert np.array_equal(a.payoffs, b.payoffs)
        assert np.array_equal(a.principal_payoff, b.principal_payoff)
        assert (a.players, a.actions, a.principal_actions, a.name, a.principal_name) == (
            b.players,
            b.actions,
            b.principal_actions,
            b.name,
            b.principal_name,
        )
    elif isinstance(a, BayesianGame):
        assert isinstance(b, BayesianGame)
        assert np.array_equal(a.prior, b.prior)
        assert len(a.payoffs) == len(b.payoffs)
        assert all(np.array_equal(p, q) for p, q in zip(a.payoffs, b.payoffs, strict=True))
        assert a.name == b.name
    else:
        assert isinstance(a, LinearCongestionGame)
        assert isinstance(b, LinearCongestionGame)
        assert np.array_equal(a.slopes, b.slopes)
        assert np.array_equal(a.offsets, b.offsets)
        assert all(np.array_equal(p, q) for p, q in zip(a.strategies, b.strategies, strict=True))
        assert a.name == b.name


@pytest.mark.parametrize("index", range(7))
def test_json_round_trip_all_game_types(index: int, tmp_path: Path) -> None:
    game = _games()[index]
    data = to_json(game)
    assert data["format"] == "robustmas-game"
    assert data["version"] == 1
    assert data["type"] in {"normal_form", "principal", "bayesian", "congestion"}
    # Through an actual JSON string: plain lists and floats only.
    _assert_same(game, from_json(json.loads(json.dumps(data))))
    path = tmp_path / "game.json"
    save_json(game, path)
    _assert_same(game, load_json(path))
    _assert_same(game, load_game(str(path)))


def test_json_types() -> None:
    kinds = [to_json(g)["type"] for g in _games()]
    assert kinds == [
        "normal_form",
        "normal_form",
        "normal_form",
        "principal",
        "principal",
        "bayesian",
        "congestion",
    ]


def test_json_minimal_document_uses_defaults() -> None:
    game = from_json(
        {"format": "robustmas-game", "version": 1, "type": "normal_form", "payoffs": [[1, 2]]}
    )
    assert isinstance(game, NormalFormGame)
    assert game.players == ("Player 1",)
    assert game.principal_payoff is None
    np.testing.assert_array_equal(game.payoffs, [[1.0, 2.0]])


def _nest(depth: int) -> list:
    """``[[...[1.0]...]]`` with ``depth`` levels of lists."""
    out: list = [1.0]
    for _ in range(depth - 1):
        out = [out]
    return out


def _doc(**fields: object) -> dict:
    base: dict = {"format": "robustmas-game", "version": 1, "type": "normal_form"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": "other", "version": 1}, r"field 'format'"),
        (_doc(version=2, payoffs=[[1]]), r"field 'version'"),
        (_doc(version=True, payoffs=[[1]]), r"field 'version'"),
        (_doc(type="tree", payoffs=[[1]]), r"field 'type'"),
        # Unhashable values where a name belongs (these once raised TypeError).
        (_doc(type=["normal_form"], payoffs=[[1]]), r"field 'type': expected one of .*got \["),
        (_doc(type={"a": 1}, payoffs=[[1]]), r"field 'type': expected one of .*got \{"),
        ({1: 2, "format": "robustmas-game"}, r"field 1: field names must be strings"),
        (_doc(payoffs=_nest(40)), r"field 'payoffs': lists nested more than 32 deep"),
        (_doc(), r"field 'payoffs': missing"),
        (_doc(payoffs=[[1]], extra=3), r"field 'extra': unknown"),
        (_doc(payoffs=[[1, "2"]]), r"field 'payoffs': expected a number at payoffs\[0\]\[1\]"),
        (_doc(payoffs=[[1, True]]), r"field 'payoffs': expected a number"),
        (_doc(payoffs=[[1, 2], [3]]), r"field 'payoffs': ragged"),
        (_doc(payoffs=[[1, 2]], players="ab"), r"field 'players': expected a list of strings"),
        (_doc(payoffs=[[1, 2]], players=[1]), r"field 'players\[0\]': expected a string"),
        (_doc(payoffs=[[1, 2]], name=5), r"field 'name'"),
        (_doc(payoffs=[[1, 2]], principal_payoff=[1, 2, 3]), r"field principal_payoff"),
        (_doc(payoffs=[1, 2]), r"field payoffs"),
        (_doc(type="bayesian", payoffs=[[[1]]], prior=[0.5]), r"field prior"),
        (_doc(type="bayesian", payoffs=[[[1]]]), r"field 'prior': missing"),
        (_doc(type="bayesian", payoffs=3, prior=[1]), r"field 'payoffs': expected a list"),
        (
            _doc(type="congestion", strategies=[[[1, 0]]], slopes=[1, 1], offsets=[-1, 0]),
            r"field slopes/offsets",
        ),
    ],
)
def test_json_validation_names_the_field(data: dict, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        from_json(data)


def test_load_json_reports_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "format": "robustmas-game",\n  "version": 1,\n}\n')
    with pytest.raises(FormatError, match=r"broken\.json: line 4: invalid JSON"):
        load_json(path)
    path.write_text(json.dumps(_doc(payoffs=[[1, "x"]])))
    with pytest.raises(FormatError, match=r"broken\.json: field 'payoffs'"):
        load_json(path)
    # Beyond what the JSON decoder itself accepts: a huge integer, deep nesting.
    path.write_text('{"format": "robustmas-game", "version": 1, "payoffs": [[' + "9" * 5000 + "]]}")
    with pytest.raises(FormatError, match=r"broken\.json: invalid JSON: an integer with more"):
        load_json(path)
    path.write_text('{"payoffs": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(FormatError, match=r"broken\.json: invalid JSON: .*nested too deeply"):
        load_json(path)


def test_load_game(tmp_path: Path) -> None:
    game = load_game("maintain-v0")
    assert isinstance(game, PrincipalGame)
    rnd = load_game("random-v0:players=3,actions=2,seed=4")
    assert isinstance(rnd, NormalFormGame)
    assert rnd.num_actions == (2, 2, 2)

    nfg = tmp_path / "maintain.nfg"
    write_nfg(game, nfg, "outcome")
    plain = load_game(str(nfg))
    assert isinstance(plain, NormalFormGame)
    assert plain.num_players == 2
    split = load_game(nfg, principal_player=0)
    assert isinstance(split, PrincipalGame)
    assert np.array_equal(split.principal_payoff, game.principal_payoff)
    with pytest.raises(ValueError, match="principal_player"):
        load_game(nfg, principal_player=5)

    js = tmp_path / "rnd.json"
    save_json(rnd, js)
    _assert_same(rnd, load_game(str(js)))
    with pytest.raises(ValueError, match=r"principal_player: only applies to \.nfg"):
        load_game(str(js), principal_player=0)
    with pytest.raises(ValueError, match="principal_player"):
        load_game("maintain-v0", principal_player=0)

    other = tmp_path / "game.txt"
    other.write_text("x")
    with pytest.raises(ValueError, match=r"\.nfg, \.json"):
        load_game(str(other))
    with pytest.raises(ValueError, match="file not found"):
        load_game(str(tmp_path / "nope.nfg"))
    with pytest.raises(ValueError, match="file not found"):
        load_game("games/nope")
    with pytest.raises(ValueError, match="file not found"):
        load_game("nope.json")
    with pytest.raises(ValueError, match="unknown game id"):
        load_game("no-such-game-v0")

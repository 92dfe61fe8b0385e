"""The registry mechanism shared by the games library and the Stackelberg settings."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from robustmas.envs.stackelberg import settings as S
from robustmas.envs.stackelberg.pomdp import StackelbergParams
from robustmas.games import library
from robustmas.games.formats import write_nfg
from robustmas.games.registry import (
    Entry,
    Param,
    Registry,
    check_params,
    convert_value,
    parse_assignments,
    split_spec,
)


def _build(size: int = 2, flag: bool = False, **extra: object) -> tuple:
    return size, flag, extra


def _strict(size: int = 2) -> int:
    return size


REG: Registry[Entry[tuple]] = Registry(
    "widget",
    [Entry("w-v0", _build, "a widget", (Param("size", int, "how big"), Param("flag", bool)))],
    shared=(Param("colour", str, "paint", "red"),),
)


def test_split_spec_and_assignments_keep_strings() -> None:
    assert split_spec("w-v0") == ("w-v0", {})
    assert split_spec("w-v0: size = 3 , flag=yes,") == ("w-v0", {"size": "3", "flag": "yes"})
    assert split_spec("w-v0:size=1,size=2") == ("w-v0", {"size": "2"})  # the last one wins
    with pytest.raises(ValueError, match=r"^w-v0: parameter 'size' must look like key=value$"):
        split_spec("w-v0:size")
    assert parse_assignments(["size=3", "colour=a=b"]) == {"size": "3", "colour": "a=b"}
    with pytest.raises(ValueError, match=r"^--param: expected KEY=VALUE, got '=3'$"):
        parse_assignments(["=3"])


@pytest.mark.parametrize(
    ("value", "kind", "want"),
    [
        ("3", int, 3),
        ("-0.5", float, -0.5),
        ("YES", bool, True),
        ("0", bool, False),
        ("x", str, "x"),
    ],
)
def test_convert_value(value: str, kind: type, want: object) -> None:
    got = convert_value("k", value, kind)
    assert got == want and type(got) is kind


def test_check_params_names_the_parameter_the_id_and_the_allowed_names() -> None:
    declared = REG.parameters("w-v0")
    assert [p.name for p in declared] == ["size", "flag", "colour"]
    assert check_params("w-v0", declared, {"flag": "true", "size": 4}) == {"flag": True, "size": 4}
    with pytest.raises(
        ValueError,
        match=re.escape("w-v0: unknown parameter 'sise' (allowed: size, flag, colour)"),
    ):
        check_params("w-v0", declared, {"sise": "3"})
    with pytest.raises(ValueError, match=re.escape("w-v0: size: expected int, got 'big'")):
        check_params("w-v0", declared, {"size": "big"})
    with pytest.raises(ValueError, match=re.escape("x: unknown parameter 'a' (allowed: none)")):
        check_params("x", (), {"a": 1})


def test_registry_resolves_and_builds() -> None:
    assert len(REG) == 1 and list(REG) == ["w-v0"] and "w-v0" in REG
    entry, params = REG.resolve("w-v0:size=5", flag="no")
    assert entry is REG["w-v0"]
    assert params == {"size": 5, "flag": False}
    assert REG.make("w-v0:size=5", size=6, colour="blue") == (6, False, {"colour": "blue"})
    assert REG.check("w-v0", {"colour": "green"}) == {"colour": "green"}
    with pytest.raises(ValueError, match=r"^unknown widget 'v-v0'; known: w-v0$"):
        REG.make("v-v0:size")  # the id is checked before the items


def test_entries_take_defaults_from_the_builder_and_reject_what_it_cannot_take() -> None:
    entry = REG["w-v0"]
    assert [(p.name, p.default) for p in entry.parameters] == [("size", 2), ("flag", False)]
    assert entry.params == {"size": int, "flag": bool}
    assert REG.shared[0].default == "red"
    with pytest.raises(TypeError, match=r"takes no parameter 'colour'"):
        Entry("s-v0", _strict, "strict", (Param("colour", str),))
    with pytest.raises(ValueError, match=r"declared twice"):
        Entry("s-v0", _strict, "strict", (Param("size", int), Param("size", int)))
    with pytest.raises(TypeError, match=r"kind must be one of bool, int, float, str"):
        Param("size", list)
    with pytest.raises(ValueError, match=r"registered twice"):
        Registry("widget", [REG["w-v0"], REG["w-v0"]])
    with pytest.raises(ValueError, match=r"also shared"):
        Registry("widget", [REG["w-v0"]], shared=(Param("size", int),))


@pytest.mark.parametrize("registry", [library.REGISTRY, S.SETTINGS], ids=["games", "settings"])
def test_library_registries_declare_documented_parameters_with_defaults(registry) -> None:
    assert isinstance(registry, Registry)
    for entry_id, entry in registry.items():
        assert isinstance(entry, Entry) and entry.id == entry_id
        assert re.fullmatch(r"[a-z0-9-]+-v\d+", entry_id)
        assert entry.summary
        signature = inspect.signature(entry.builder)
        for param in entry.parameters:
            assert param.doc, f"{entry_id}: {param.name} has no doc"
            assert param.default == signature.parameters[param.name].default


def test_pomdp_knobs_are_the_params_fields_with_their_defaults() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(StackelbergParams)}
    assert S.SETTINGS.shared == S.POMDP_KNOB_PARAMS
    for param in S.POMDP_KNOB_PARAMS:
        assert param.default == fields[param.name]
        assert isinstance(param.default, param.kind)
    assert S.POMDP_KNOBS == {p.name: p.kind for p in S.POMDP_KNOB_PARAMS}


def test_games_and_settings_report_unknown_parameters_alike() -> None:
    with pytest.raises(ValueError, match=r"^random-v0: unknown parameter 'colour' \(allowed: "):
        library.make("random-v0", colour=1)
    with pytest.raises(ValueError, match=r"^allocation-v0: unknown parameter 'colour' \(allowed: "):
        S.make_setting("allocation-v0", colour=1)
    with pytest.raises(ValueError, match=r"^maintain-v0: num_rounds: expected int, got 'many'$"):
        S.make_setting("maintain-v0", num_rounds="many")


def test_setting_params_for_ids_and_nfg_files(tmp_path: Path) -> None:
    # What a command line does: KEY=VALUE items, then one call that validates and converts.
    raw = parse_assignments(["items=2", "randomized=yes", "mw_step=0.5"])
    assert S.setting_params("allocation-v0", raw) == {
        "items": 2,
        "randomized": True,
        "mw_step": 0.5,
    }
    params = S.make_setting("allocation-v0", **raw)
    assert params.randomized and params.mw_step == 0.5 and params.num_leader_actions == 2
    path = tmp_path / "maintain.nfg"
    write_nfg(library.maintain(), path)
    assert S.setting_params(path, {"num_rounds": "7"}) == {"num_rounds": 7}
    with pytest.raises(ValueError, match=r"^setting '.*maintain\.nfg': unknown parameter 'items'"):
        S.setting_params(path, {"items": "2"})
    assert S.resolve_setting(str(path), num_rounds="7").num_rounds == 7
    with pytest.raises(ValueError, match=r"^setting: unknown setting 'nope-v0'"):
        S.setting_params("nope-v0", {})


def test_setting_optimum_still_reads_the_parameters() -> None:
    allocation = S.SETTINGS["allocation-v0"]
    assert allocation.optimum is not None
    assert allocation.optimum(items=3, messages=2) == pytest.approx(2 / 3)
    assert S.SETTINGS["muspm-general-v0"].optimum is None

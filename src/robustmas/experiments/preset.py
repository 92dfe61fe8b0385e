"""Experiment presets: TOML files that say which cells to run, at which budget, against what.

A preset is data.  The package ships one per paper figure (``robustmas experiment list``); a
user copies one, changes it and runs it (``robustmas experiment run my.toml``).  A preset file
has these top-level keys::

    id = "rp-fig2"                 # letters, digits, '-' and '_'
    title = "..."                  # one line
    paper = "..."                  # the figure it reproduces (free text)
    description = "..."            # optional: what the experiment shows
    kind = "grid-sampling"         # how one cell is run: a registered cell kind
    seeds = 10                     # seeds per cell (one vmapped call)
    seed = 0                       # base PRNG seed (optional, default 0)

    [settings]                     # fields of the kind's settings, for every cell
    [grid]                         # field = [values]: one cell per combination
    [[cells]]                      # optional explicit rows: label = "...", field = value, ...
                                   # (cells = each row x the grid's combinations)
    [budgets.smoke]                # fields (and ``seeds``) a budget overrides
    [budgets.full]
    [[checks]]                     # acceptance checks the report evaluates (optional)
    [[paper_values]]               # the paper's numbers, shown beside the table (optional)

The fields a kind accepts are its settings dataclass (:class:`~robustmas.experiments.cells.
CellKind`); every name and type is checked when the preset is loaded and a bad one is reported
with the file, the section, the field and what is allowed.  Files are read with
:mod:`tomllib` (no code runs).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "BUDGETS",
    "CHECK_TESTS",
    "ROW_TESTS",
    "Cell",
    "Check",
    "PaperValue",
    "Preset",
    "PresetError",
    "build_settings",
    "list_presets",
    "load_preset",
]

BUDGETS = ("smoke", "full")
"""Budgets every shipped preset defines: ``smoke`` (minutes on 2 CPU cores) and ``full``
(the paper's, or the stated smaller one where the paper's does not fit here)."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_TOP = {
    "id",
    "title",
    "paper",
    "description",
    "kind",
    "seeds",
    "seed",
    "settings",
    "grid",
    "cells",
    "budgets",
    "checks",
    "paper_values",
}


CHECK_TESTS = (
    "increasing",
    "decreasing",
    "within",
    "at_most",
    "at_least",
    "unmatched",
    "best_worst_column",
    "best_mean_rank",
    "row_at_least",
    "row_at_most",
)
"""The tests a :class:`Check` may name."""
ROW_TESTS = ("best_worst_column", "best_mean_rank", "row_at_least", "row_at_most")
"""Cross-table tests: they compare rows over :attr:`Check.columns`."""


class PresetError(ValueError):
    """A preset that cannot be used; the message names the file, the field and the fix."""


@dataclass(frozen=True)
class Check:
    """One acceptance check over a finished experiment's table (evaluated by the report)."""

    name: str
    """What it checks, in words."""
    test: str
    """``increasing`` / ``decreasing`` (Spearman rank correlation of ``y`` with the grid field
    ``x`` over the cells at least :attr:`value` / at most ``-value``), ``within``
    (``|y - reference| <= tolerance`` in every cell) or ``at_most`` / ``at_least`` (``y``
    compared with a number or with another metric, in every cell matching ``where``) or
    ``unmatched`` (no cell matching ``where`` reaches the point of the cells matching
    ``against`` with the lowest ``y``: each has a ``y`` or a ``reference`` (e.g. its regret)
    more than one of its standard errors above that point's; RP Fig. 5's frozen-lambda
    ablation, spec Sec. 4, whose rule allows no error on ``y``).  Cross tables (rows:
    training methods, :attr:`columns`: test types, higher is better): ``best_worst_column``
    (the row matching ``where`` has the highest worst column of all rows, within
    ``tolerance``), ``best_mean_rank`` (its mean rank over the columns is the best of all
    rows), ``row_at_least`` / ``row_at_most`` (in every column, the row matching ``where`` is at
    least / at most the row matching ``against``, within ``stderrs`` combined standard errors
    plus ``tolerance``)."""
    y: str = ""
    """Metric (mean over seeds) the check reads (every test but the cross-table ones)."""
    x: str = ""
    """Grid field (``increasing``, ``decreasing``)."""
    reference: str = ""
    """Metric or reference the cell's ``y`` is compared with (``within``, ``at_most``,
    ``at_least``); empty: compare with :attr:`value`."""
    value: float = 0.0
    """Bound (``increasing``/``decreasing``: the least rank correlation in magnitude;
    ``at_most``/``at_least``: the number when :attr:`reference` is empty)."""
    tolerance: float = 0.0
    """Allowed distance (``within``) or slack added to the bound (``at_most``/``at_least``)."""
    where: tuple[tuple[str, Any], ...] = ()
    """Only cells whose grid fields have these values (empty: all)."""
    against: tuple[tuple[str, Any], ...] = ()
    """``unmatched``: the cells whose best (lowest ``y``) point the others must not reach."""
    x_max: float | None = None
    """Only cells whose grid field :attr:`x` is at most this (e.g. the eps range where a
    regret can track eps)."""
    columns: tuple[str, ...] = ()
    """Cross-table tests: the metrics (test types) the rows are compared over."""
    stderrs: float = 0.0
    """``row_at_least`` / ``row_at_most``: slack in combined standard errors
    ``sqrt(se_a^2 + se_b^2)``."""
    factor: float = 1.0
    """``row_at_least`` / ``row_at_most``: the ``against`` row's values are scaled by this
    (e.g. 1.1: "at least 10% above"); its standard errors too."""


@dataclass(frozen=True)
class PaperValue:
    """A number the paper prints, shown beside the measured one."""

    metric: str
    """Metric it corresponds to."""
    value: float
    """The paper's number."""
    where: tuple[tuple[str, Any], ...] = ()
    """The cell (grid fields and values) it belongs to."""
    note: str = ""
    """Where it comes from (figure, table, reading of a plot)."""


@dataclass(frozen=True)
class Cell:
    """One point of a preset's grid at one budget: a settings object and a name."""

    name: str
    """The row's label and ``field=value,...`` over the grid fields (``all`` when there is
    neither)."""
    point: tuple[tuple[str, Any], ...]
    """The row's ``label`` and fields (when the preset has ``[[cells]]``) and the grid fields'
    values."""
    settings: Any
    """The kind's settings dataclass for this cell."""


@dataclass(frozen=True)
class Preset:
    """A validated preset (see the module docstring for the file format)."""

    id: str
    """Identifier (file stem for shipped presets)."""
    title: str
    """One-line title."""
    paper: str
    """The figure or table it reproduces."""
    description: str
    """What it shows (may be empty)."""
    kind: str
    """Registered cell kind that runs one cell."""
    seeds: int
    """Seeds per cell when the budget does not say."""
    seed: int
    """Base PRNG seed."""
    settings: Mapping[str, Any]
    """Fields shared by every cell."""
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    """Grid fields and their values, in file order."""
    rows: tuple[tuple[str, Mapping[str, Any]], ...]
    """Explicit rows (``[[cells]]``): label -> fields; empty: the grid alone."""
    budgets: Mapping[str, Mapping[str, Any]]
    """Budget name -> overrides (``seeds`` included)."""
    checks: tuple[Check, ...]
    """Acceptance checks."""
    paper_values: tuple[PaperValue, ...]
    """The paper's numbers."""
    source: str
    """Where it was read from (file path or ``robustmas:<id>``)."""
    text: str
    """The file's text, stored with every run so it can be rerun exactly."""

    @property
    def point_fields(self) -> list[str]:
        """The fields that name a cell in tables: ``label`` (with rows) and the grid fields."""
        return (["label"] if self.rows else []) + [name for name, _ in self.grid]

    def budget_seeds(self, budget: str) -> int:
        """Seeds per cell at ``budget``."""
        return int(self.budgets[budget].get("seeds", self.seeds))

    def cells(self, budget: str) -> list[Cell]:
        """Every cell at ``budget``: rows in file order, then the grid (last field fastest)."""
        if budget not in self.budgets:
            raise PresetError(
                f"{self.source}: budget {budget!r} not defined; defined: {', '.join(self.budgets)}"
            )
        from robustmas.experiments.cells import get_kind

        kind = get_kind(self.kind)
        overrides = {k: v for k, v in self.budgets[budget].items() if k != "seeds"}
        names = [name for name, _ in self.grid]
        out = []
        for label, fields in self.rows or (("", {}),):
            for values in itertools.product(*(vals for _, vals in self.grid)):
                point = tuple(zip(names, values, strict=True))
                merged = {**self.settings, **fields, **overrides, **dict(point)}
                where = f"{self.source}: cell {label!r}" if label else f"{self.source}: cell"
                settings = build_settings(kind.settings_type, merged, where)
                parts = [label] if label else []
                parts += [f"{k}={v}" for k, v in point]
                labelled = (("label", label), *fields.items(), *point) if label else point
                out.append(Cell(",".join(parts) or "all", labelled, settings))
        return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` checked against the annotation ``tp``.

    TOML's types: int, float, bool, str, arrays; ints are accepted for floats and lists become
    tuples.
    """
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        errors = []
        for option in typing.get_args(tp):
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except PresetError as exc:
                errors.append(str(exc))
        raise PresetError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise PresetError(f"{where}: expected a list, got {value!r}")
        if args and args[-1] is not Ellipsis:  # fixed length, e.g. tuple[str, Any]
            if len(args) != len(value):
                raise PresetError(f"{where}: expected {len(args)} items, got {value!r}")
            return tuple(
                _coerce(v, a, f"{where}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise PresetError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PresetError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PresetError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise PresetError(f"{where}: expected a string, got {value!r}")
        return value
    raise PresetError(f"{where}: unsupported field type {_type_name(tp)}")


def build_settings(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """An instance of the frozen dataclass ``cls`` from ``data``; every key and type checked.

    Raises:
        PresetError: an unknown field (the message lists the known ones), a value of the wrong
            type, or a value the dataclass's own checks refuse.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            raise PresetError(
                f"{where}: unknown field {key!r}; known fields: {', '.join(sorted(known))}"
            )
        kwargs[key] = _coerce(value, hints[key], f"{where}: {key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise PresetError(f"{where}: {exc}") from None


def _where(data: Any, where: str) -> tuple[tuple[str, Any], ...]:
    if not isinstance(data, Mapping):
        raise PresetError(f"{where}: expected a table like {{eps_per_step = 0.1}}")
    return tuple((str(k), v) for k, v in data.items())


def _tables(raw: Any, source: str, key: str) -> list[tuple[str, dict[str, Any]]]:
    """The ``[[key]]`` tables of a preset, each with its error prefix.

    Their ``where`` and ``against`` become ``(field, value)`` pairs.
    """
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise PresetError(f"{source}: {key}: expected [[{key}]] tables")
    out = []
    for i, item in enumerate(raw):
        where = f"{source}: {key}[{i}]"
        item = dict(item)
        for field in ("where", "against"):
            if field in item:
                item[field] = _where(item[field], f"{where}.{field}")
        out.append((where, item))
    return out


def _checks(raw: Any, source: str) -> tuple[Check, ...]:
    out = []
    for where, item in _tables(raw, source, "checks"):
        check = build_settings(Check, item, where)
        if check.test not in CHECK_TESTS:
            raise PresetError(
                f"{where}: test: {check.test!r} unknown; use one of {', '.join(CHECK_TESTS)}"
            )
        if check.test in ("increasing", "decreasing") and not check.x:
            raise PresetError(f"{where}: x: an {check.test} check needs the grid field x")
        if check.test == "unmatched" and not (check.reference and check.against):
            raise PresetError(f"{where}: an unmatched check needs reference and against")
        if check.x_max is not None and not check.x:
            raise PresetError(f"{where}: x: x_max needs the grid field x it bounds")
        if check.test not in ROW_TESTS and not check.y:
            raise PresetError(f"{where}: y: a {check.test} check needs the metric y it reads")
        if check.test in ROW_TESTS and not check.columns:
            raise PresetError(f"{where}: columns: a {check.test} check needs the columns")
        if not 0 < check.factor < float("inf"):
            raise PresetError(f"{where}: factor: must be a positive number, got {check.factor}")
        if check.test in ("row_at_least", "row_at_most") and not (check.where and check.against):
            raise PresetError(f"{where}: a {check.test} check needs where and against")
        if check.test in ("best_worst_column", "best_mean_rank") and not check.where:
            raise PresetError(f"{where}: where: a {check.test} check names its row in where")
        if check.test == "within" and not check.reference:
            raise PresetError(f"{where}: reference: a within check needs a reference metric")
        out.append(check)
    return tuple(out)


def _paper_values(raw: Any, source: str) -> tuple[PaperValue, ...]:
    return tuple(
        build_settings(PaperValue, item, where)
        for where, item in _tables(raw, source, "paper_values")
    )


def _rows(
    raw: Any, fields: set[str], grid: Mapping[str, Any], source: str, kind: str
) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    if not isinstance(raw, list):
        raise PresetError(f"{source}: cells: expected [[cells]] tables")
    out: list[tuple[str, Mapping[str, Any]]] = []
    for i, item in enumerate(raw):
        where = f"{source}: cells[{i}]"
        if not isinstance(item, Mapping):
            raise PresetError(f"{where}: expected a table")
        label = item.get("label")
        if not isinstance(label, str) or not label or "," in label:
            raise PresetError(f"{where}: label: required, a non-empty string without commas")
        if label in {seen for seen, _ in out}:
            raise PresetError(f"{where}: label: {label!r} used twice")
        for key in item:
            if key != "label" and key not in fields:
                raise PresetError(
                    f"{where}.{key}: unknown field of kind {kind!r}; known: "
                    f"{', '.join(sorted(fields))}"
                )
            if key in grid:
                raise PresetError(f"{where}.{key}: also a grid field")
        out.append((label, {k: v for k, v in item.items() if k != "label"}))
    return tuple(out)


def parse_preset(text: str, source: str) -> Preset:
    """Validate a preset's TOML text (``source`` names it in errors)."""
    from robustmas.experiments.cells import get_kind, kind_names

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise PresetError(
            f"{source}: unknown top-level key {unknown[0]!r}; allowed: {', '.join(sorted(_TOP))}"
        )
    for key in ("id", "title", "paper", "kind"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise PresetError(f"{source}: {key}: required, a non-empty string")
    if not _ID.match(data["id"]):
        raise PresetError(f"{source}: id: use letters, digits, '-' and '_', got {data['id']!r}")
    if data["kind"] not in kind_names():
        raise PresetError(
            f"{source}: kind: {data['kind']!r} unknown; registered kinds: {', '.join(kind_names())}"
        )
    kind = get_kind(data["kind"])
    seeds = data.get("seeds", 1)
    seed = data.get("seed", 0)
    for key, value, low in (("seeds", seeds, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise PresetError(f"{source}: {key}: expected an integer >= {low}, got {value!r}")
    settings = data.get("settings", {})
    grid = data.get("grid", {})
    budgets = data.get("budgets", {})
    for key, value in (("settings", settings), ("grid", grid), ("budgets", budgets)):
        if not isinstance(value, Mapping):
            raise PresetError(f"{source}: {key}: expected a table [{key}]")
    fields = {f.name for f in dataclasses.fields(kind.settings_type)}
    for key in settings:
        if key not in fields:
            raise PresetError(
                f"{source}: settings.{key}: unknown field of kind {data['kind']!r}; known: "
                f"{', '.join(sorted(fields))}"
            )
    grid_items = []
    for key, values in grid.items():
        if key not in fields:
            raise PresetError(
                f"{source}: grid.{key}: unknown field of kind {data['kind']!r}; known: "
                f"{', '.join(sorted(fields))}"
            )
        if not isinstance(values, list) or not values:
            raise PresetError(f"{source}: grid.{key}: expected a non-empty list of values")
        grid_items.append((key, tuple(values)))
    rows = _rows(data.get("cells", []), fields, grid, source, data["kind"])
    if not budgets:
        raise PresetError(f"{source}: budgets: define at least one, e.g. [budgets.smoke]")
    for name, overrides in budgets.items():
        if not isinstance(overrides, Mapping):
            raise PresetError(f"{source}: budgets.{name}: expected a table")
        for key, value in overrides.items():
            if key == "seeds":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise PresetError(f"{source}: budgets.{name}.seeds: expected an integer >= 1")
            elif key not in fields:
                raise PresetError(
                    f"{source}: budgets.{name}.{key}: unknown field of kind {data['kind']!r}; "
                    f"known: {', '.join(sorted(fields))}"
                )
            elif key in grid:
                raise PresetError(
                    f"{source}: budgets.{name}.{key}: also a grid field; a budget cannot "
                    "override the grid"
                )
    preset = Preset(
        id=data["id"],
        title=data["title"],
        paper=data["paper"],
        description=str(data.get("description", "")),
        kind=data["kind"],
        seeds=seeds,
        seed=seed,
        settings=dict(settings),
        grid=tuple(grid_items),
        rows=rows,
        budgets={k: dict(v) for k, v in budgets.items()},
        checks=_checks(data.get("checks", []), source),
        paper_values=_paper_values(data.get("paper_values", []), source),
        source=source,
        text=text,
    )
    for budget in preset.budgets:  # every cell must build
        preset.cells(budget)
    grid_names = {name for name, _ in preset.grid}
    cells = preset.cells(next(iter(preset.budgets)))
    for check in preset.checks:
        if check.x and check.x not in grid_names:
            raise PresetError(f"{source}: checks: x = {check.x!r} is not a grid field")
        _check_matches(check, cells, preset.kind, source)
    return preset


def _check_matches(check: Check, cells: list[Cell], kind: str, source: str) -> None:
    """A check's ``where``/``against`` must name cells, and its ``columns`` metrics they report.

    Caught here, a typo costs nothing; caught in the report, it costs the whole run.
    """
    from robustmas.experiments.cells import get_kind

    def matching(where: tuple[tuple[str, Any], ...]) -> list[Cell]:
        return [
            c
            for c in cells
            if all(dict(c.point).get(k, getattr(c.settings, k, None)) == v for k, v in where)
        ]

    one = check.test in ("row_at_least", "row_at_most", "best_worst_column", "best_mean_rank")
    for field_name in ("where", "against"):
        where = getattr(check, field_name)
        if not where:
            continue
        found = matching(where)
        if not found or (one and len(found) != 1):
            need = "exactly one cell" if one else "a cell"
            raise PresetError(
                f"{source}: checks ({check.name!r}): {field_name} = {dict(where)} matches "
                f"{len(found)} cells; it must match {need} (cells: "
                f"{', '.join(c.name for c in cells[:8])})"
            )
    if check.columns:
        metrics = set(get_kind(kind).metrics)
        for c in cells:
            known = metrics | set(getattr(c.settings, "test_types", ()))
            known |= set(getattr(c.settings, "extra_metrics", ()))
            unknown = [m for m in check.columns if m not in known]
            if unknown:
                raise PresetError(
                    f"{source}: checks ({check.name!r}): columns {unknown} are not metrics of "
                    f"cell {c.name!r}; known: {', '.join(sorted(known))}"
                )


def _shipped() -> dict[str, Any]:
    folder = resources.files("robustmas.experiments") / "presets"
    return {p.name[: -len(".toml")]: p for p in folder.iterdir() if p.name.endswith(".toml")}


def list_presets() -> list[Preset]:
    """The presets shipped with the package, sorted by id."""
    return [load_preset(name) for name in sorted(_shipped())]


def load_preset(name_or_path: str | Path) -> Preset:
    """A shipped preset by id (``rp-fig2``) or a TOML file by path (``my.toml``).

    Raises:
        PresetError: unknown id, unreadable file or invalid contents.
    """
    text_name = str(name_or_path)
    shipped = _shipped()
    if text_name in shipped:
        return parse_preset(shipped[text_name].read_text(), f"robustmas:{text_name}")
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise PresetError(f"{path}: no such preset file")
        return parse_preset(path.read_text(), str(path))
    raise PresetError(
        f"{text_name!r}: neither a shipped preset ({', '.join(sorted(shipped))}) nor a .toml file"
    )

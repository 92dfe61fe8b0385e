"""Registries of named builders with versioned ids and typed parameters.

One mechanism serves every registry of the library (the games of
:mod:`robustmas.games.library`, the Stackelberg settings of
:mod:`robustmas.envs.stackelberg.settings`):

* an :class:`Entry` is a versioned id (``maintain-v0``; bump the version when the numbers change),
  a builder, a one-line summary and its declared parameters (:class:`Param`: name, type, default,
  doc); defaults come from the builder's signature, so they are written once;
* a :class:`Registry` maps ids to entries and may add parameters that every entry accepts
  (``shared``, e.g. the POMDP knobs of every setting);
* a spec ``"id:key=value,key=value"`` names an entry with parameters (:func:`split_spec`);
  ``KEY=VALUE`` items from a command line become a dict with :func:`parse_assignments`;
* :func:`check_params` is the one place that validates parameter names and converts string
  values to the declared types; its errors name the parameter, the id and the allowed names.

Usage::

    entry, params = REGISTRY.resolve("random-v0:players=4", seed=1)  # typed, validated
    game = REGISTRY.make("random-v0:players=4", seed=1)
    typed = REGISTRY.check("random-v0", parse_assignments(["players=4"]))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

__all__ = [
    "PARAM_KINDS",
    "Entry",
    "Param",
    "Registry",
    "check_params",
    "convert_value",
    "parse_assignments",
    "split_spec",
]

T = TypeVar("T")
E = TypeVar("E", bound="Entry[Any]")

PARAM_KINDS: tuple[type, ...] = (bool, int, float, str)
"""Types a parameter may declare (what a ``key=value`` string converts to)."""

_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


@dataclass(frozen=True)
class Param:
    """A declared parameter of a registry entry."""

    name: str
    """Keyword the builder takes."""
    kind: type
    """One of :data:`PARAM_KINDS`; string values are converted to it."""
    doc: str = ""
    """One line for listings."""
    default: Any = inspect.Parameter.empty
    """Value when not given; ``inspect.Parameter.empty`` until :class:`Entry` reads it from the
    builder's signature."""

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            names = ", ".join(k.__name__ for k in PARAM_KINDS)
            raise TypeError(f"Param {self.name!r}: kind must be one of {names}, got {self.kind!r}")

    @property
    def has_default(self) -> bool:
        """Whether :attr:`default` is known."""
        return self.default is not inspect.Parameter.empty


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registry entry: versioned id, builder, summary and declared parameters.

    Creating an entry checks that the builder accepts every declared parameter and fills in
    defaults from the builder's signature.
    """

    id: str
    """Versioned id, e.g. ``maintain-v0``."""
    builder: Callable[..., T]
    """Builds the object from keyword parameters."""
    summary: str
    """One line for listings."""
    parameters: tuple[Param, ...] = ()
    """Declared parameters (besides any the registry shares among all entries)."""

    def __post_init__(self) -> None:
        signature = inspect.signature(self.builder)
        open_ended = any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
        )
        seen: set[str] = set()
        filled: list[Param] = []
        for param in self.parameters:
            if param.name in seen:
                raise ValueError(f"{self.id}: parameter {param.name!r} declared twice")
            seen.add(param.name)
            accepted = signature.parameters.get(param.name)
            if accepted is None and not open_ended:
                raise TypeError(
                    f"{self.id}: the builder {getattr(self.builder, '__name__', self.builder)!r} "
                    f"takes no parameter {param.name!r}"
                )
            if not param.has_default and accepted is not None:
                param = replace(param, default=accepted.default)
            filled.append(param)
        object.__setattr__(self, "parameters", tuple(filled))

    @property
    def params(self) -> dict[str, type]:
        """Declared parameter names and their types."""
        return {p.name: p.kind for p in self.parameters}


def convert_value(name: str, value: str, kind: type) -> Any:
    """Convert the string ``value`` of parameter ``name`` to ``kind``.

    Args:
        name: how to name the parameter in an error (e.g. ``"players"`` or ``"--param seed"``).
        value: the text after ``=``.
        kind: one of :data:`PARAM_KINDS`; booleans accept ``1/true/yes`` and ``0/false/no``.

    Returns:
        The converted value.

    Raises:
        ValueError: ``value`` is not a ``kind``; the message starts with ``name``.

    """
    if kind is bool:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ValueError(f"{name}: expected true/false, got {value!r}")
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name}: expected {kind.__name__}, got {value!r}") from None


def check_params(owner: str, declared: Iterable[Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Validate parameter names against ``declared`` and convert string values to their types.

    The one check behind every registry: unknown names and unconvertible strings fail here.
    Values that are not strings are passed through unchanged.

    Args:
        owner: what the parameters belong to, e.g. the id ``"random-v0"``; starts every message.
        declared: the parameters ``owner`` accepts.
        given: parameter values, as strings (from a spec or a command line) or typed.

    Returns:
        The parameters in the order given, strings converted to their declared types.

    Raises:
        ValueError: an unknown name (the message lists the allowed names) or a string that is
            not of the declared type.

    """
    kinds = {p.name: p.kind for p in declared}
    out: dict[str, Any] = {}
    for key, value in given.items():
        kind = kinds.get(key)
        if kind is None:
            allowed = ", ".join(kinds) or "none"
            raise ValueError(f"{owner}: unknown parameter {key!r} (allowed: {allowed})")
        if isinstance(value, str) and kind is not str:
            value = convert_value(f"{owner}: {key}", value, kind)
        out[key] = value
    return out


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``"id:key=value,key=value"`` into the id and the raw (string) parameters.

    Whitespace around items is ignored and a later key overrides an earlier one.

    Args:
        spec: an id, optionally followed by ``:`` and comma-separated ``key=value`` items.

    Returns:
        ``(id, {key: value})`` with values still strings (see :func:`check_params`).

    Raises:
        ValueError: an item without ``=`` or without a key.

    """
    entry_id, _, rest = spec.partition(":")
    raw: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{entry_id}: parameter {item!r} must look like key=value")
        raw[key.strip()] = value.strip()
    return entry_id, raw


def parse_assignments(items: Iterable[str], where: str = "--param") -> dict[str, str]:
    """``["key=value", ...]`` (e.g. repeated command-line options) as a dict of raw strings.

    Args:
        items: ``KEY=VALUE`` strings; a later key overrides an earlier one.
        where: how to name the source in an error, e.g. the option ``"--param"``.

    Returns:
        ``{key: value}`` with values still strings (see :func:`check_params`).

    Raises:
        ValueError: an item without ``=`` or without a key.

    """
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"{where}: expected KEY=VALUE, got {item!r}")
        out[key] = value
    return out


class Registry(Mapping[str, E]):
    """Entries by id, plus parameters that every entry accepts; a read-only mapping.

    Args:
        noun: what an id names, for messages (``"game id"``, ``"setting"``).
        entries: the entries; ids must be unique.
        shared: parameters that every entry accepts besides its own.

    """

    def __init__(self, noun: str, entries: Iterable[E], shared: Iterable[Param] = ()):
        self.noun = noun
        self.shared = tuple(shared)
        self.entries: dict[str, E] = {}
        for entry in entries:
            if entry.id in self.entries:
                raise ValueError(f"{noun} {entry.id!r} registered twice")
            clash = {p.name for p in entry.parameters} & {p.name for p in self.shared}
            if clash:
                raise ValueError(f"{entry.id}: parameter(s) {sorted(clash)} are also shared")
            self.entries[entry.id] = entry

    def __getitem__(self, entry_id: str) -> E:
        return self.entries[entry_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"Registry({self.noun!r}, {list(self.entries)})"

    def entry(self, entry_id: str) -> E:
        """The entry for ``entry_id``.

        Raises:
            ValueError: an unknown id; the message lists the known ones.

        """
        found = self.entries.get(entry_id)
        if found is None:
            known = ", ".join(sorted(self.entries))
            raise ValueError(f"unknown {self.noun} {entry_id!r}; known: {known}")
        return found

    def parameters(self, entry_id: str) -> tuple[Param, ...]:
        """Every parameter ``entry_id`` accepts: its own, then the shared ones."""
        return self.entry(entry_id).parameters + self.shared

    def check(self, entry_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """:func:`check_params` for ``entry_id`` (an id without ``:`` parameters)."""
        return check_params(entry_id, self.parameters(entry_id), params)

    def resolve(self, spec: str, **params: Any) -> tuple[E, dict[str, Any]]:
        """The entry of ``spec`` and its validated, typed parameters.

        Args:
            spec: an id, optionally with parameters: ``"id:key=value,..."``.
            **params: more parameters (strings are converted too); they override ``spec``'s.

        Raises:
            ValueError: unknown id, malformed item, unknown parameter or wrong value.

        """
        entry = self.entry(spec.partition(":")[0])  # an unknown id first, then the items
        _, raw = split_spec(spec)
        return entry, self.check(entry.id, {**raw, **params})

    def make(self, spec: str, **params: Any) -> Any:
        """Build ``spec``'s entry with its parameters (see :meth:`resolve`)."""
        entry, typed = self.resolve(spec, **params)
        return entry.builder(**typed)

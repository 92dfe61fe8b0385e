"""Architecture: robustmas's packages import only downward.

compilation (general JAX machinery, usable from everywhere) -> games -> equilibria -> envs -> rl
-> robust -> experiments -> cli.  ``equilibria`` and ``envs`` are siblings in the design; the
Stackelberg POMDP env runs the library's no-regret dynamics, so ``envs`` may import
``equilibria`` but not the reverse.  Every import is checked, also those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "robustmas"
ORDER = ("compilation", "games", "equilibria", "envs", "rl", "robust", "experiments", "cli")
"""Packages from the bottom up; top-level modules (``__main__``) may import anything."""


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, robustmas package)`` of every robustmas import in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "robustmas" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _package(path: Path) -> str | None:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else None


MODULES = sorted(p for p in SRC.rglob("*.py") if _package(p) is not None)


def test_every_package_has_a_layer() -> None:
    packages = {_package(p) for p in MODULES}
    assert packages <= set(ORDER), f"add {sorted(packages - set(ORDER))} to ORDER"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_go_down(path: Path) -> None:
    level = ORDER.index(str(_package(path)))
    upward = [
        f"line {line}: robustmas.{target}"
        for line, target in _imports(path)
        if target in ORDER and ORDER.index(target) > level
    ]
    assert not upward, f"{path.relative_to(SRC)} ({ORDER[level]}) imports upward: {upward}"

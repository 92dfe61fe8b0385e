"""The ``robustmas`` command line: ``robustmas --help``, or ``python -m robustmas``.

One module per command group (:mod:`~robustmas.cli.cce`, :mod:`~robustmas.cli.games`,
:mod:`~robustmas.cli.stackelberg_pomdp`, :mod:`~robustmas.cli.runs`,
:mod:`~robustmas.cli.cache`), assembled in :mod:`robustmas.cli.app`.
"""

from robustmas.cli.app import app, main

# Kept for tests/test_stackelberg_pomdp.py (deprecated; see its docstring).
from robustmas.cli.stackelberg_pomdp import _train_with_progress as _train_with_progress

__all__ = ["app", "main"]

"""The ``robustmas`` command line: ``robustmas --help``, or ``python -m robustmas``.

One module per command group (:mod:`~robustmas.cli.cce`, :mod:`~robustmas.cli.games`,
:mod:`~robustmas.cli.stackelberg_pomdp`, :mod:`~robustmas.cli.runs`,
:mod:`~robustmas.cli.cache`), assembled in :mod:`robustmas.cli.app`.
"""

from robustmas.cli.app import app, main

__all__ = ["app", "main"]

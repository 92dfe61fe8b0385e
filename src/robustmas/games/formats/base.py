"""What the format modules share: the error type, the game union and reading a text file."""

from __future__ import annotations

import os
from pathlib import Path

from robustmas.games.bayesian import BayesianGame
from robustmas.games.congestion import LinearCongestionGame
from robustmas.games.normal_form import NormalFormGame, PrincipalGame

__all__ = ["AnyGame", "FormatError", "read_text"]

AnyGame = NormalFormGame | PrincipalGame | BayesianGame | LinearCongestionGame
"""Every game type that the JSON codec and :func:`~robustmas.games.formats.load_game` handle."""


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


def read_text(path: str | os.PathLike[str]) -> str:
    """The contents of ``path`` as UTF-8, or as Latin-1 where it is not valid UTF-8."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")

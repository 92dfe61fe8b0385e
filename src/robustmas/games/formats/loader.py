"""One entry point for games: a ``.nfg`` or ``.json`` file, or an id of the games registry."""

from __future__ import annotations

import os
from pathlib import Path

from robustmas.games.formats.base import AnyGame
from robustmas.games.formats.json_codec import load_json
from robustmas.games.formats.nfg_reader import read_nfg
from robustmas.games.formats.principal import split_principal

__all__ = ["load_game"]

_LOADERS: dict[str, str] = {".nfg": "Gambit strategic form", ".json": "robustmas JSON"}


def load_game(spec: str | os.PathLike[str], principal_player: int | None = None) -> AnyGame:
    """Open a game file or build a registry game.

    Args:
        spec: an existing ``.nfg`` or ``.json`` file, or a registry id such as ``"maintain-v0"``
            or ``"random-v0:players=3,seed=1"`` (see :func:`robustmas.games.library.make`).
        principal_player: for ``.nfg`` files only, the 0-based player to treat as the principal
            (see :func:`split_principal`).

    Returns:
        The game.

    Raises:
        ValueError: a missing file (``spec`` contains a path separator or ends with ``.nfg`` /
            ``.json``), an unsupported extension, an unknown registry id, or
            ``principal_player`` given for anything but an ``.nfg`` file.
        FormatError: a malformed file (a ``ValueError`` too).

    """
    text = os.fspath(spec)
    path = Path(text)
    supported = ", ".join(_LOADERS)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".nfg":
            game = read_nfg(path)
            return game if principal_player is None else split_principal(game, principal_player)
        if suffix not in _LOADERS:
            raise ValueError(
                f"unsupported game file extension {suffix!r} ({text}); supported: {supported}"
            )
        if principal_player is not None:
            raise ValueError("principal_player: only applies to .nfg files")
        return load_json(path)
    if path.is_dir():
        raise ValueError(f"expected a game file, got a directory: {text}")
    looks_like_path = (
        not isinstance(spec, str)
        or "/" in text
        or os.sep in text
        or path.suffix.lower() in _LOADERS
    )
    if looks_like_path:
        raise ValueError(f"file not found: {text}")
    if principal_player is not None:
        raise ValueError(
            "principal_player: only applies to .nfg files, not registry id " + repr(text)
        )
    from robustmas.games.library import make

    return make(text)

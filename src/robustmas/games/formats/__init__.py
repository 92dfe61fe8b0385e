"""Reading and writing games: Gambit ``.nfg`` files and a versioned JSON format.

One module per job:

* :mod:`~robustmas.games.formats.nfg_reader` -- :func:`parse_nfg` / :func:`read_nfg` (Gambit
  strategic form, payoff and outcome versions);
* :mod:`~robustmas.games.formats.nfg_writer` -- :func:`format_nfg` / :func:`write_nfg` (a
  principal becomes player 1);
* :mod:`~robustmas.games.formats.principal` -- :func:`split_principal` (player ``k`` back into the
  principal);
* :mod:`~robustmas.games.formats.json_codec` -- :func:`to_json` / :func:`from_json`,
  :func:`save_json` / :func:`load_json`;
* :mod:`~robustmas.games.formats.loader` -- :func:`load_game`: a file, or an id of the games
  registry;
* :mod:`~robustmas.games.formats.base` -- :class:`FormatError`, raised for every malformed input,
  and :data:`AnyGame`.
"""

from robustmas.games.formats.base import AnyGame, FormatError
from robustmas.games.formats.json_codec import (
    JSON_FORMAT,
    JSON_VERSION,
    from_json,
    load_json,
    save_json,
    to_json,
)
from robustmas.games.formats.loader import load_game
from robustmas.games.formats.nfg_reader import parse_nfg, read_nfg
from robustmas.games.formats.nfg_writer import NfgVariant, format_nfg, write_nfg
from robustmas.games.formats.principal import split_principal

__all__ = [
    "JSON_FORMAT",
    "JSON_VERSION",
    "AnyGame",
    "FormatError",
    "NfgVariant",
    "format_nfg",
    "from_json",
    "load_game",
    "load_json",
    "parse_nfg",
    "read_nfg",
    "save_json",
    "split_principal",
    "to_json",
    "write_nfg",
]

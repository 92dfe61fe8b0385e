"""Checkpoints of a training run: msgpack state plus a JSON sidecar, never pickle.

A checkpoint at ``path`` (e.g. ``runs/x/ckpt.msgpack``) is two files:

* ``path`` -- the :class:`~robustmas.rl.ppo.RunnerState` (parameters, optimizer state, env
  state, PRNG keys, update counter, reward and env parameters) as
  ``flax.serialization.to_bytes``;
* ``path.with_suffix(".json")`` -- the sidecar: format tag, the config as a dict, the update
  counter and free-form metadata.

Restoring needs a *target* with the same structure, e.g. ``trainer.init(key)`` or the cheaper
``jax.eval_shape(trainer.init, key)`` (``jax.eval_shape(jax.vmap(trainer.init), keys)`` for a
vmapped run).  Shapes and dtypes are checked against it.  Both files are written atomically
(temporary file + rename), the sidecar last.

Resuming is exact: a run checkpointed between two ``update_chunk`` calls and restored ends with
the same bits as the same run without the interruption (see the caveat on ``vmap`` in
:mod:`robustmas.rl.ppo`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

__all__ = ["FORMAT", "load_checkpoint", "load_sidecar", "save_checkpoint", "sidecar_path"]

FORMAT = "robustmas.rl.checkpoint/2"
"""Format tag written to the sidecar (bumped when the layout changes)."""

T = TypeVar("T")


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Path of the JSON sidecar of the checkpoint at ``path``."""
    return Path(path).with_suffix(".json")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _config_dict(config: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(f"config must be a dataclass instance or a mapping, got {type(config)}")


def _jsonable(x: Any) -> Any:
    arr = np.asarray(x)
    return arr.item() if arr.ndim == 0 else arr.tolist()


def save_checkpoint(
    path: str | os.PathLike[str],
    runner_state: Any,
    config: Any,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``runner_state`` to ``path`` and the config to its JSON sidecar.

    Args:
        path: checkpoint file (its parent directory is created).
        runner_state: the pytree to save (typically a :class:`~robustmas.rl.ppo.RunnerState`,
            possibly with a leading seed axis).
        config: the run's configuration, a dataclass instance or a mapping (JSON-serialisable).
        metadata: extra JSON-serialisable data for the sidecar (seed, run id, ...).

    Returns:
        The checkpoint path.

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    runner_state = jax.device_get(runner_state)
    sidecar = {
        "format": FORMAT,
        "config": _config_dict(config),
        "update_step": _jsonable(getattr(runner_state, "update_step", -1)),
        "metadata": dict(metadata or {}),
    }
    _atomic_write(path, serialization.to_bytes(runner_state))
    _atomic_write(sidecar_path(path), json.dumps(sidecar, indent=2, sort_keys=True).encode())
    return path


def load_sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON sidecar of the checkpoint at ``path`` (``format``, ``config``, ...).

    Raises:
        ValueError: if the sidecar has another format tag.

    """
    sidecar = json.loads(sidecar_path(path).read_text())
    found = sidecar.get("format")
    if found == "robustmas.rl.checkpoint/1":
        raise ValueError(
            f"{sidecar_path(path)}: checkpoint format {found!r} was written before the runner "
            "state gained multi-agent and recurrent fields; it cannot be resumed by this "
            "version; start the run again"
        )
    if found != FORMAT:
        raise ValueError(f"{sidecar_path(path)}: unknown checkpoint format {found!r}")
    return sidecar


def load_checkpoint(path: str | os.PathLike[str], target: T) -> T:
    """Restore the pytree saved at ``path`` into the structure of ``target``.

    Args:
        path: checkpoint file written by :func:`save_checkpoint`.
        target: a pytree of the same structure (arrays or ``jax.ShapeDtypeStruct`` leaves).

    Returns:
        The restored pytree with ``jax.Array`` leaves.

    Raises:
        ValueError: if the saved structure, a shape or a dtype differs from ``target``.

    """
    raw: Any = serialization.msgpack_restore(Path(path).read_bytes())
    try:
        restored = serialization.from_state_dict(target, raw)
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: checkpoint does not match the target structure: {err}") from err
    want, want_def = jax.tree_util.tree_flatten_with_path(target)
    got, got_def = jax.tree_util.tree_flatten(restored)
    if want_def != got_def:
        raise ValueError(f"{path}: checkpoint structure differs from the target")
    for (where, w), g in zip(want, got, strict=True):
        g = np.asarray(g)
        if tuple(w.shape) != g.shape or np.dtype(w.dtype) != g.dtype:
            raise ValueError(
                f"{path}: leaf {jax.tree_util.keystr(where)} has shape {g.shape} {g.dtype}, "
                f"target {tuple(w.shape)} {np.dtype(w.dtype)}"
            )
    return jax.tree_util.tree_map(jnp.asarray, restored)

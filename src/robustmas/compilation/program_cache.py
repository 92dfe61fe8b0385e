"""An on-disk cache of traced and lowered JAX programs (``jax.export``).

XLA's persistent compilation cache (:func:`robustmas.compilation.xla.enable_compilation_cache`)
removes compilation on a second run of the same configuration, but not the Python tracing and
lowering before it.  :func:`cached_program` stores the lowered program (StableHLO, serialised by
:mod:`jax.export`) on the first run and deserialises it on later runs, so that with both caches
warm a repeated run skips tracing, lowering and compilation (timings: ``benchmarks/RESULTS.md``).

Entries are keyed by everything that shapes the program, and the cache is sound only if the
key captures all of it: a digest of robustmas's own source files, the versions of the packages
traced into the program (JAX, jaxlib, flax, optax, distrax, NumPy), the backend and devices,
the argument shapes, dtypes and tree structure, and a caller-given ``fingerprint`` that must
describe every closed-over value (configuration, environment parameters: see
:func:`fingerprint_of`).  Functions that embed host callbacks (e.g. ``PPOConfig.progress``)
cannot be exported; for them, and for any other failure, :func:`cached_program` falls back to
plain ``jax.jit`` and says so in the returned :class:`Program`.

Files are written atomically (mode 0600, in a 0700 directory) and read with
:func:`jax.export.deserialize` (a flatbuffer, never a pickle), after checking that this user owns
them, that nobody else may write them, and that the program's SHA-256 matches its record; pytree
node types named in a cache entry are looked up among the modules already imported, or imported
from an allow-list of packages (robustmas, optax, flax, jax, distrax).  The key includes the JAX
settings that change tracing (x64, PRNG, matmul precision, promotion rules) and the weak type of
every argument.  The source digest is read from disk once per process: code reloaded in a
running session (e.g. IPython's autoreload) needs ``ROBUSTMAS_PROGRAM_CACHE=off``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from robustmas.compilation.xla import compiler_options

__all__ = [
    "Program",
    "cached_program",
    "default_cache_dir",
    "fingerprint_of",
    "is_cache_record",
    "source_digest",
]

_log = logging.getLogger(__name__)

_ALLOWED_MODULES = ("robustmas.", "optax.", "flax.", "jax.", "distrax.")
"""Packages a cache entry may make us import (for its pytree node types) on load."""

_FORMAT = "robustmas-program/1"


@dataclass(frozen=True)
class Program:
    """A compiled program and where it came from."""

    call: Callable[..., Any]
    """The compiled function; call it with arguments shaped like the example arguments."""
    source: str
    """``"hit"`` (deserialised), ``"miss"`` (exported and stored now) or ``"jit"`` (not cached:
    see ``reason``)."""
    reason: str = ""
    """Why the program was not cached (``source == "jit"``)."""


def default_cache_dir() -> Path | None:
    """``$ROBUSTMAS_PROGRAM_CACHE`` or ``~/.cache/robustmas/programs`` (``None`` if ``off``)."""
    where = os.environ.get("ROBUSTMAS_PROGRAM_CACHE") or str(
        Path.home() / ".cache" / "robustmas" / "programs"
    )
    return None if where.lower() == "off" else Path(where)


_SOURCE_DIGEST: str | None = None


def source_digest() -> str:
    """SHA-256 over robustmas's ``.py`` files (path and content), computed once per process."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        root = Path(__file__).resolve().parents[1]  # src/robustmas
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def fingerprint_of(value: Any) -> str:
    """A stable digest of a pytree of arrays, scalars, strings and frozen dataclasses.

    Arrays contribute their dtype, shape and bytes; dataclasses (e.g. a config) their type and
    fields; the tree structure its string form.  Raises ``TypeError`` for a leaf it cannot
    describe (e.g. a function), since the cache must not guess.
    """
    h = hashlib.sha256()

    def visit(x: Any) -> None:
        if dataclasses.is_dataclass(x) and not isinstance(x, type) and not _is_pytree_node(x):
            h.update(f"dc:{type(x).__module__}.{type(x).__qualname__}(".encode())
            for f in dataclasses.fields(x):
                h.update(f"{f.name}=".encode())
                visit(getattr(x, f.name))
            h.update(b")")
            return
        leaves, treedef = jax.tree_util.tree_flatten(x)
        if treedef.num_nodes > 1 or not (len(leaves) == 1 and leaves[0] is x):
            h.update(f"tree:{treedef}[".encode())
            for leaf in leaves:
                visit(leaf)
            h.update(b"]")
            return
        if isinstance(x, (jax.Array, np.ndarray, np.generic)):
            a = np.asarray(x)
            h.update(f"arr:{a.dtype}{a.shape}:".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        elif x is None or isinstance(x, (bool, int, float, str, bytes)):
            h.update(f"{type(x).__name__}:{x!r};".encode())
        elif isinstance(x, (tuple, list)):
            h.update(f"{type(x).__name__}[".encode())
            for item in x:
                visit(item)
            h.update(b"]")
        else:
            raise TypeError(f"fingerprint_of: cannot describe a {type(x).__qualname__} value")

    visit(value)
    return h.hexdigest()


def _is_pytree_node(x: Any) -> bool:
    leaves = jax.tree_util.tree_leaves(x)
    return not (len(leaves) == 1 and leaves[0] is x)


def cached_program(
    fn: Callable[..., Any],
    example_args: Sequence[Any],
    *,
    name: str,
    fingerprint: str,
    cache_dir: str | Path | None,
) -> Program:
    """Compile ``fn`` for arguments shaped like ``example_args``, via the on-disk cache.

    Args:
        fn: a pure function of its (pytree) arguments; every value it closes over must be
            described by ``fingerprint``.
        example_args: arguments (arrays or ``jax.ShapeDtypeStruct`` pytrees) giving the shapes.
        name: a readable label, part of the file name (e.g. ``"ppo-update-chunk"``).
        fingerprint: digest of everything ``fn`` closes over (:func:`fingerprint_of`).
        cache_dir: directory of the cache; ``None`` disables it (plain ``jax.jit``).

    Returns:
        :class:`Program`; its ``call`` gives the same numbers whether the program was
        deserialised, exported now, or jitted (tests check this).
    """
    if cache_dir is None:
        return Program(_compile(fn, example_args), "jit", "cache disabled")
    try:
        from jax import export
    except ImportError as err:  # pragma: no cover - jax < 0.4.30
        return Program(_compile(fn, example_args), "jit", f"jax.export unavailable: {err}")
    key = _key(name, fingerprint, example_args)
    path = Path(cache_dir) / f"{_safe(name)}-{key[:40]}.jaxexport"
    meta_path = path.with_suffix(".json")
    try:
        found = path.exists() and meta_path.exists()
    except OSError:  # e.g. a directory we may not search: treat as empty
        found = False
    if found:
        try:
            _check_trusted(meta_path, path)
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != _FORMAT or meta.get("key") != key:
                raise ValueError("cache entry does not match its key")
            blob = path.read_bytes()
            if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
                raise ValueError("program does not match its recorded digest")
            for node in meta["nodes"]:
                _register(_import_type(node))
            exported = export.deserialize(bytearray(blob))
            return Program(_compile(exported.call, example_args), "hit")
        except Exception as err:  # a damaged or foreign entry: rebuild it
            _log.warning("program cache: ignoring %s (%s)", path, err)
    try:
        exported = export.export(jax.jit(fn))(*example_args)
        nodes = sorted(
            {_register(t) for tree in (exported.in_tree, exported.out_tree) for t in _types(tree)}
        )
        blob = exported.serialize()
        # Run the round-tripped program, as a later hit will: it differs from the in-memory one
        # in small ways (e.g. its outputs are never weakly typed), which must not make the next
        # run's keys differ from this run's.
        exported = export.deserialize(blob)
    except Exception as err:  # e.g. host callbacks, which cannot be serialised
        return Program(_compile(fn, example_args), "jit", f"not exportable: {err}")
    blob = bytes(blob)
    meta = {
        "format": _FORMAT,
        "key": key,
        "name": name,
        "nodes": nodes,
        "sha256": hashlib.sha256(blob).hexdigest(),
    }
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _atomic_write(path, blob)
        _atomic_write(meta_path, json.dumps(meta).encode())
    except OSError as err:  # read-only or full disk: run anyway, uncached
        _log.warning("program cache: cannot write %s (%s)", path, err)
        return Program(_compile(fn, example_args), "jit", f"not stored: {err}")
    return Program(_compile(exported.call, example_args), "miss")


def is_cache_record(path: Path) -> bool:
    """Whether ``path`` is a JSON record written by this cache (used by ``robustmas cache``)."""
    try:
        return json.loads(path.read_text()).get("format") == _FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _check_trusted(*paths: Path) -> None:
    """Refuse entries another user could have written.

    A deserialised program is not checked for unsafe operations the way
    :func:`jax.export.export` checks a new one, so the cache directory must be trusted.
    """
    if not hasattr(os, "getuid"):  # pragma: no cover - Windows: no POSIX ownership
        return
    for path in paths:
        st = path.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            raise PermissionError(f"{path.name}: not owned by this user or writable by others")


def _compile(fn: Callable[..., Any], args: Sequence[Any]) -> Callable[..., Any]:
    return jax.jit(fn).lower(*args).compile(compiler_options() or None)


_TRACE_FLAGS = (
    "jax_enable_x64",
    "jax_threefry_partitionable",
    "jax_default_matmul_precision",
    "jax_default_prng_impl",
    "jax_numpy_dtype_promotion",
    "jax_numpy_rank_promotion",
    "jax_enable_checks",
    "jax_softmax_custom_jvp",
)
"""JAX settings that change what tracing produces (their values are part of the key)."""


def _aval(x: Any) -> tuple[tuple[int, ...], str, bool]:
    """Shape, dtype and weak type of an argument leaf (weak and strong trace differently)."""
    typeof = getattr(jax, "typeof", None)
    if typeof is not None:
        a = typeof(x)
        return tuple(a.shape), str(a.dtype), bool(getattr(a, "weak_type", False))
    weak = bool(getattr(x, "weak_type", isinstance(x, (int, float, complex))))
    return tuple(np.shape(x)), str(jax.numpy.result_type(x)), weak  # pragma: no cover


def _key(name: str, fingerprint: str, args: Sequence[Any]) -> str:
    leaves, treedef = jax.tree_util.tree_flatten(tuple(args))
    parts = {
        "format": _FORMAT,
        "name": name,
        "fingerprint": fingerprint,
        "source": source_digest(),
        "packages": _package_versions(),
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in jax.devices()],
        "tree": str(treedef),
        "avals": [_aval(x) for x in leaves],
        "flags": {f: repr(getattr(jax.config, f, None)) for f in _TRACE_FLAGS},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


_TRACED_PACKAGES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "distrax",
    "tensorflow-probability",
    "chex",
    "numpy",
)
"""Packages whose code is traced into the programs (their versions are part of the key)."""


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _TRACED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60]


def _atomic_write(path: Path, data: bytes) -> None:
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _types(treedef: Any) -> set[type]:
    """Node types of ``treedef`` that :mod:`jax.export` cannot serialise on its own."""
    out: set[type] = set()

    def walk(t: Any) -> None:
        data = t.node_data()
        if data is not None and data[0] not in (tuple, list, dict, type(None)):
            out.add(data[0])
        for child in t.children():
            walk(child)

    walk(treedef)
    return out


def _type_name(t: type) -> str:
    return f"{t.__module__}:{t.__qualname__}"


def _import_type(name: str) -> type:
    module, _, qualname = name.partition(":")
    if module in sys.modules:  # already imported by the caller: nothing runs
        obj: Any = sys.modules[module]
    elif module.startswith(_ALLOWED_MODULES):
        obj = importlib.import_module(module)
    else:
        raise ValueError(f"pytree type {name!r}: module not imported and not an allowed package")
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise ValueError(f"{name!r} is not a type")
    return obj


_REGISTERED: set[type] = set()


def _register(t: type) -> str:
    """Teach :mod:`jax.export` to (de)serialise pytree nodes of type ``t``; returns its name.

    NamedTuples (optax states) use JAX's own support.  Dataclass pytrees (``flax.struct``)
    serialise their static fields as JSON and are rebuilt field by field without running
    ``__init__`` (the node is only used for its tree structure).
    """
    name = _type_name(t)
    if t in _REGISTERED:
        return name
    try:
        _register_new(t, name)
    except ValueError as err:
        if "Duplicate" not in str(err):  # registered before, e.g. by the user: keep theirs
            raise
    _REGISTERED.add(t)
    return name


def _register_new(t: type, name: str) -> None:
    from jax import export

    if issubclass(t, tuple) and hasattr(t, "_fields"):
        export.register_namedtuple_serialization(t, serialized_name=name)
    elif dataclasses.is_dataclass(t):
        # Static fields: flax's ``struct.field(pytree_node=False)`` or JAX's
        # ``field(metadata={"static": True})``.  A class registered with explicit field lists
        # instead fails the round trip checked in :func:`cached_program` and is not cached.
        fields = dataclasses.fields(t)
        meta = [
            f.name
            for f in fields
            if f.metadata.get("static", False) or not f.metadata.get("pytree_node", True)
        ]
        data = [f.name for f in fields if f.name not in meta]

        def from_children(aux_data: Any, children: Any, t: type = t) -> Any:
            obj = object.__new__(t)
            for field_name, value in zip(data, children, strict=True):
                object.__setattr__(obj, field_name, value)
            for field_name, value in zip(meta, aux_data, strict=True):
                object.__setattr__(obj, field_name, value)
            return obj

        export.register_pytree_node_serialization(
            t,
            serialized_name=name,
            serialize_auxdata=lambda aux: json.dumps(list(aux)).encode(),
            deserialize_auxdata=lambda b: _tuples(json.loads(b)),
            from_children=from_children,
        )
    else:
        raise TypeError(f"program cache: cannot serialise pytree nodes of type {name}")


def _tuples(x: Any) -> Any:
    """JSON gives lists where the static fields held tuples; tree structures compare them."""
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x

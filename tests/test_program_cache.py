"""The on-disk cache of exported programs: keys, hits, damaged entries, identical numbers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.compilation.program_cache import (
    cached_program,
    default_cache_dir,
    fingerprint_of,
    source_digest,
)
from robustmas.compilation.xla import compiler_options
from robustmas.rl.ppo import PPOConfig


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _State:
    x: jax.Array
    scale: float = dataclasses.field(metadata={"static": True}, default=2.0)


def _step(state: _State, key: jax.Array) -> tuple[_State, dict[str, jax.Array]]:
    noise = jax.random.normal(key, state.x.shape)
    new = _State(jnp.tanh(state.x * state.scale + noise), state.scale)
    return new, {"mean": new.x.mean()}


def _args() -> tuple[_State, jax.Array]:
    return _State(jnp.arange(6.0).reshape(2, 3) / 6), jax.random.PRNGKey(0)


def _jit(fn, *args):
    """``jax.jit(fn)(*args)`` compiled with robustmas's XLA options, as cached programs are."""
    return jax.jit(fn).lower(*args).compile(compiler_options() or None)(*args)


def test_fingerprint_is_stable_and_sensitive() -> None:
    config = PPOConfig()
    a = fingerprint_of(("env", config, {"table": np.eye(3)}))
    assert a == fingerprint_of(("env", PPOConfig(), {"table": np.eye(3)}))
    assert a != fingerprint_of(("env", dataclasses.replace(config, lr=1e-4), {"table": np.eye(3)}))
    assert a != fingerprint_of(("env", config, {"table": 2 * np.eye(3)}))
    assert a != fingerprint_of(("env", config, {"table": np.eye(3, dtype=np.float32)}))
    assert a != fingerprint_of(("other", config, {"table": np.eye(3)}))
    with pytest.raises(TypeError, match="cannot describe"):
        fingerprint_of(("env", lambda x: x))


def test_miss_then_hit_gives_the_same_numbers_as_jit(tmp_path: Path) -> None:
    args = _args()
    plain = _jit(_step, *args)
    first = cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path)
    second = cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path)
    off = cached_program(_step, args, name="step", fingerprint="f", cache_dir=None)
    assert (first.source, second.source, off.source) == ("miss", "hit", "jit")
    assert len(list(tmp_path.glob("step-*.jaxexport"))) == 1
    for program in (first, second, off):
        out = program.call(*args)
        assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(plain)
        leaves = zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(plain), strict=True)
        for x, y in leaves:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert second.call(*args)[0].scale == 2.0  # static field survives the round trip


def test_key_separates_fingerprints_and_shapes(tmp_path: Path) -> None:
    args = _args()
    cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path)
    other = cached_program(_step, args, name="step", fingerprint="g", cache_dir=tmp_path)
    bigger = (_State(jnp.zeros((4, 3))), args[1])
    resized = cached_program(_step, bigger, name="step", fingerprint="f", cache_dir=tmp_path)
    assert other.source == "miss" and resized.source == "miss"
    assert resized.call(*bigger)[0].x.shape == (4, 3)
    assert len(list(tmp_path.glob("step-*.jaxexport"))) == 3


def test_key_separates_weak_types_and_jax_settings(tmp_path: Path) -> None:
    def mul(a: jax.Array, b: jax.Array) -> jax.Array:
        return a * b

    b = jnp.ones(3, jnp.bfloat16)
    weak = cached_program(
        mul, (jnp.asarray(2.0), b), name="mul", fingerprint="f", cache_dir=tmp_path
    )
    strong_a = jnp.asarray(2.0, jnp.float32)
    strong = cached_program(mul, (strong_a, b), name="mul", fingerprint="f", cache_dir=tmp_path)
    assert (weak.source, strong.source) == ("miss", "miss")  # weak and strong trace differently
    assert strong.call(strong_a, b).dtype == jnp.float32
    args = _args()
    cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path)
    before = jax.config.jax_threefry_partitionable
    try:
        jax.config.update("jax_threefry_partitionable", not before)  # other random bits
        other = cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path)
        assert other.source == "miss"
        expected = _jit(_step, *args)[0].x
        np.testing.assert_array_equal(np.asarray(other.call(*args)[0].x), np.asarray(expected))
    finally:
        jax.config.update("jax_threefry_partitionable", before)


def test_damaged_or_foreign_entries_are_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = _args()
    cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path)
    (blob,) = tmp_path.glob("step-*.jaxexport")
    blob.write_bytes(b"not a program")
    again = cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path)
    assert again.source == "miss"
    assert "ignoring" in caplog.text
    meta_path = blob.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["nodes"] = ["os:system"]  # a cache entry may not make us import arbitrary modules
    meta_path.write_text(json.dumps(meta))
    assert cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path).source == (
        "miss"
    )
    blob.chmod(0o666)  # writable by others: could have been planted
    caplog.clear()
    assert cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path).source == (
        "miss"
    )
    assert "not owned by this user or writable by others" in caplog.text
    assert cached_program(_step, args, name="step", fingerprint="f", cache_dir=tmp_path).source == (
        "hit"  # the rebuilt entry has safe permissions again
    )


def test_host_callbacks_fall_back_to_jit(tmp_path: Path) -> None:
    seen: list[float] = []

    def noisy(x: jax.Array) -> jax.Array:
        jax.debug.callback(lambda v: seen.append(float(v)), x.sum())
        return x * 2

    x = jnp.ones(3)
    program = cached_program(noisy, (x,), name="noisy", fingerprint="f", cache_dir=tmp_path)
    assert program.source == "jit" and "not exportable" in program.reason
    np.testing.assert_array_equal(np.asarray(program.call(jnp.ones(3))), 2 * np.ones(3))
    jax.effects_barrier()
    assert seen == [3.0]


def test_unwritable_cache_still_runs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    args = _args()
    program = cached_program(_step, args, name="step", fingerprint="f", cache_dir=blocker / "c")
    assert program.source == "jit" and "not stored" in program.reason
    assert "cannot write" in caplog.text
    expected = _jit(_step, *args)[0].x
    np.testing.assert_array_equal(np.asarray(program.call(*args)[0].x), np.asarray(expected))


def test_default_cache_dir_and_source_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBUSTMAS_PROGRAM_CACHE", "off")
    assert default_cache_dir() is None
    monkeypatch.setenv("ROBUSTMAS_PROGRAM_CACHE", "/tmp/somewhere")
    assert default_cache_dir() == Path("/tmp/somewhere")
    monkeypatch.setenv("ROBUSTMAS_PROGRAM_CACHE", "")
    assert default_cache_dir() == Path.home() / ".cache" / "robustmas" / "programs"
    assert len(source_digest()) == 64 and source_digest() == source_digest()


def test_cli_cache_info_and_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from robustmas.cli import app

    monkeypatch.setenv("ROBUSTMAS_JAX_CACHE", str(tmp_path / "xla"))
    monkeypatch.setenv("ROBUSTMAS_PROGRAM_CACHE", str(tmp_path / "programs"))
    cached_program(_step, _args(), name="step", fingerprint="f", cache_dir=tmp_path / "programs")
    (tmp_path / "xla").mkdir()
    (tmp_path / "xla" / f"jit_step-{'a' * 64}-cache").write_bytes(b"x" * 10)
    bystander = tmp_path / "programs" / "notes.txt"  # not a cache file: never touched
    bystander.write_text("keep me")
    lookalike = tmp_path / "programs" / f"bench-{'b' * 40}.json"  # right name, not our format
    lookalike.write_text('{"format": "something else"}')
    (tmp_path / "programs" / f".step-{'c' * 40}.json.x1y2.tmp").write_bytes(b"partial")
    runner = CliRunner()
    info = json.loads(runner.invoke(app, ["cache", "info", "--json"]).output)
    assert info["xla"] == {"path": str(tmp_path / "xla"), "files": 1, "bytes": 10}
    assert info["programs"]["files"] == 3 and info["programs"]["bytes"] > 0
    cleared = runner.invoke(app, ["cache", "clear", "programs"])
    assert cleared.exit_code == 0 and "removed 3 files" in cleared.output
    info = json.loads(runner.invoke(app, ["cache", "info", "--json"]).output)
    assert info["programs"]["files"] == 0 and info["xla"]["files"] == 1
    assert bystander.read_text() == "keep me" and lookalike.exists()
    bad = runner.invoke(app, ["cache", "clear", "everything"])
    assert bad.exit_code == 2 and "WHICH" in bad.output
    monkeypatch.setenv("ROBUSTMAS_PROGRAM_CACHE", "off")
    assert json.loads(runner.invoke(app, ["cache", "info", "--json"]).output)["programs"] == {
        "path": None,
        "files": 0,
        "bytes": 0,
    }


def test_compiler_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROBUSTMAS_XLA_OPT_LEVEL", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert compiler_options() == {"xla_backend_optimization_level": 1}  # CI and tests: CPU
    monkeypatch.setenv("ROBUSTMAS_XLA_OPT_LEVEL", "3")
    assert compiler_options() == {"xla_backend_optimization_level": 3}
    monkeypatch.setenv("ROBUSTMAS_XLA_OPT_LEVEL", "Default")
    assert compiler_options() == {}
    monkeypatch.setenv("ROBUSTMAS_XLA_OPT_LEVEL", "fast")
    with pytest.raises(ValueError, match="ROBUSTMAS_XLA_OPT_LEVEL='fast': expected 0, 1, 2, 3"):
        compiler_options()
    monkeypatch.setenv("ROBUSTMAS_XLA_OPT_LEVEL", "2")
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0")  # the user's flag wins
    assert compiler_options() == {}
    monkeypatch.delenv("ROBUSTMAS_XLA_OPT_LEVEL")
    monkeypatch.delenv("XLA_FLAGS")
    # The options reach XLA: an unknown one makes the compile fail.
    import robustmas.compilation.program_cache as program_cache

    monkeypatch.setattr(program_cache, "compiler_options", lambda: {"xla_no_such_option": 1})
    with pytest.raises(Exception, match="xla_no_such_option"):
        cached_program(_step, _args(), name="step", fingerprint="f", cache_dir=None)

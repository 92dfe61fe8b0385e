"""The experiment platform: presets, runner (skip, resume after SIGKILL), tables, report, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from robustmas.cli.app import app
from robustmas.experiments.preset import (
    BUDGETS,
    PresetError,
    list_presets,
    load_preset,
    parse_preset,
)
from robustmas.experiments.report import write_report
from robustmas.experiments.runner import (
    cell_workdir,
    curves,
    experiment_run_id,
    experiment_table,
    run_experiment,
)

TINY = """
id = "tiny"
title = "A tiny tragedy sweep"
paper = "none (a test)"
kind = "grid-sampling"
seeds = 2

[settings]
horizon = 5
num_envs = 4
eval_episodes = 4
deviation_updates = 2
main_updates = 1
lambda_lr = 2.0

[grid]
eps_per_step = [0.0, 0.3]

[budgets.smoke]
rounds = 24
window = 4
checkpoint_rounds = 2

[[checks]]
name = "lambda falls with eps"
test = "decreasing"
x = "eps_per_step"
y = "lambda"
value = 0.9

[[checks]]
name = "at eps 0.3 the principal keeps at least the stage game's worst case"
test = "at_least"
y = "principal"
reference = "stage_worst_case"
where = { eps_per_step = 0.3 }

[[paper_values]]
metric = "principal"
value = 0.5
where = { eps_per_step = 0.0 }
note = "made up for the test"
"""

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("preset") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_file: Path) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("store") / "runs.duckdb"
    run_id = run_experiment(load_preset(tiny_file), store=store)
    return store, run_id


# ----------------------------------------------------------------------------- presets


def test_shipped_presets_load_and_expand() -> None:
    presets = {p.id: p for p in list_presets()}
    assert "rp-fig2" in presets
    fig2 = presets["rp-fig2"]
    assert [c.settings.eps_per_step for c in fig2.cells("full")] == [0.0, 0.05, 0.1, 0.2, 0.4]
    assert fig2.budget_seeds("full") == 10 and fig2.budget_seeds("smoke") == 3
    assert all(c.settings.rounds == 300 for c in fig2.cells("full"))
    for preset in presets.values():
        assert set(preset.budgets) >= set(BUDGETS)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("horizon = 5", "horizont = 5"), "settings.horizont: unknown field"),
        (("horizon = 5", 'horizon = "five"'), "horizon: expected an integer"),
        (('kind = "grid-sampling"', 'kind = "nope"'), "kind: 'nope' unknown"),
        (("rounds = 24", "rounds = 0"), "rounds: must be >= 1"),
        (('test = "decreasing"', 'test = "upwards"'), "test: 'upwards' unknown"),
        (("[grid]", "[grid]\nmethod = []"), "grid.method: expected a non-empty list"),
        (('id = "tiny"', 'id = "tiny"\ncolour = 1'), "unknown top-level key 'colour'"),
        (("rounds = 24", "rounds = 24\neps_per_step = 0.1"), "also a grid field"),
        (('x = "eps_per_step"', 'x = "horizon"'), "x = 'horizon' is not a grid field"),
    ],
)
def test_bad_presets_name_the_field(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(PresetError, match=message.replace("(", r"\(")):
        parse_preset(TINY.replace(*edit, 1), "my.toml")


def test_unknown_preset_and_budget() -> None:
    with pytest.raises(PresetError, match="neither a shipped preset"):
        load_preset("rp-fig99")
    with pytest.raises(PresetError, match="budget 'huge' not defined"):
        parse_preset(TINY, "t").cells("huge")


# ----------------------------------------------------------------------------- runner


def test_run_table_checks_and_paper_values(finished: tuple[Path, str]) -> None:
    store, run_id = finished
    table = experiment_table(store, run_id)
    assert not table.missing and len(table.rows) == 2 and table.seeds == 2
    low, high = table.rows
    for row in table.rows:
        assert len(row.per_seed["principal"]) == 2
        assert np.isclose(row.mean["principal"], np.mean(row.per_seed["principal"]))
        assert 0.0 <= row.mean["exact_regret"] <= 5.0
    # The stage game's worst-case line of the tragedy tables: max(0, 1 - 2.5 eps).
    assert low.reference["stage_worst_case"] == pytest.approx(1.0, abs=1e-6)
    assert high.reference["stage_worst_case"] == pytest.approx(0.25, abs=1e-6)
    assert low.paper == {"principal": 0.5} and high.paper == {}
    # The dual step moves lambda by lambda_lr x (regret - eps): a larger eps, a smaller lambda.
    assert high.mean["lambda"] < low.mean["lambda"]
    assert [c.passed for c in table.checks] == [True, True]
    assert "(paper 0.5)" in table.markdown()


def test_rerun_skips_finished_cells(finished: tuple[Path, str], tiny_file: Path) -> None:
    store, run_id = finished
    events = []
    again = run_experiment(load_preset(tiny_file), store=store, progress=events.append)
    assert again == run_id
    assert [e.event for e in events] == ["skip", "skip"]


def test_same_seeds_same_table(finished: tuple[Path, str], tiny_file: Path, tmp_path: Path) -> None:
    store, run_id = finished
    other = run_experiment(load_preset(tiny_file), store=tmp_path / "other.duckdb")
    assert other == run_id  # the id is a digest of preset, budget and seeds
    first, second = (
        experiment_table(store, run_id),
        experiment_table(tmp_path / "other.duckdb", other),
    )
    assert first.markdown() == second.markdown()
    assert first.to_json() == second.to_json()


def test_other_seed_count_is_another_run(tiny_file: Path) -> None:
    preset = load_preset(tiny_file)
    assert experiment_run_id(preset, "smoke", 2) != experiment_run_id(preset, "smoke", 3)


def test_sigkill_mid_cell_then_restart_gives_the_same_table(
    finished: tuple[Path, str], tiny_file: Path, tmp_path: Path
) -> None:
    store = tmp_path / "killed.duckdb"
    command = [sys.executable, "-m", "robustmas", "experiment", "run", str(tiny_file),
               "--store", str(store), "--quiet"]  # fmt: skip
    run_id = experiment_run_id(load_preset(tiny_file), "smoke", 2)
    first_cell = cell_workdir(store, run_id, "eps_per_step=0.0") / "state.msgpack"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not first_cell.exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with np.load(first_cell.with_name("state.metrics.npz")) as saved:
        rounds_at_kill = saved["lambda"].shape[1]
    assert rounds_at_kill < 24, "the cell finished before the kill; nothing was resumed"
    status = runner.invoke(app, ["experiment", "status", run_id, "--store", str(store), "--json"])
    assert status.exit_code == 0, status.output
    assert not any(c["finished"] for c in json.loads(status.output)["cells"])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    killed = experiment_table(store, run_id)
    uninterrupted = experiment_table(*finished)
    assert killed.markdown() == uninterrupted.markdown()
    assert killed.to_json() == uninterrupted.to_json()


# ----------------------------------------------------------------------------- report, CLI


def test_report_is_self_contained(finished: tuple[Path, str], tmp_path: Path) -> None:
    store, run_id = finished
    index = write_report(experiment_table(store, run_id), curves(store, run_id), tmp_path)
    page = index.read_text()
    assert "<table>" in page and "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "PASS: lambda falls with eps" in page
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["run_id"] == run_id and len(results["rows"]) == 2
    assert (tmp_path / "preset.toml").read_text() == TINY


def test_cli_list_status_report(finished: tuple[Path, str], tmp_path: Path) -> None:
    store, run_id = finished
    listed = runner.invoke(app, ["experiment", "list"])
    assert listed.exit_code == 0 and "rp-fig2" in listed.output
    status = runner.invoke(app, ["experiment", "status", run_id, "--store", str(store)])
    assert status.exit_code == 0 and "2 of 2 cells finished" in status.output
    out = tmp_path / "report"
    made = runner.invoke(
        app, ["experiment", "report", run_id, "--out", str(out), "--store", str(store)]
    )
    assert made.exit_code == 0, made.output
    assert (out / "index.html").exists()


def test_cli_rejects_bad_input(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["experiment", "run", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2 and "no such preset file" in missing.output
    unknown = runner.invoke(
        app, ["experiment", "status", "nope", "--store", str(tmp_path / "s.duckdb")]
    )
    assert unknown.exit_code == 2 and "not found" in unknown.output
    from robustmas.experiments.store import RunStore

    with RunStore(tmp_path / "other.duckdb") as db:
        other = db.create_run("stackelberg-pomdp", "maintain-v0", {}, [0])
    wrong = runner.invoke(
        app, ["experiment", "status", other, "--store", str(tmp_path / "other.duckdb")]
    )
    assert wrong.exit_code == 2 and "not an experiment" in wrong.output
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace("horizon = 5", "horizon = -5"))
    refused = runner.invoke(app, ["experiment", "run", str(bad)])
    assert refused.exit_code == 2 and "horizon: must be >= 1" in refused.output
    local = runner.invoke(app, ["experiment", "run", "rp-fig2", "--ray-address", "auto"])
    assert local.exit_code == 2 and "ray_address: only with backend 'ray'" in local.output


STACKELBERG = """
id = "st"
title = "Maintain, briefly"
paper = "none (a test)"
kind = "stackelberg-pomdp"
seeds = 2

[grid]
critic = ["full"]

[[cells]]
label = "Maintain"
setting = "maintain-v0"
target = 19.8

[budgets.smoke]
steps = 2048

[[checks]]
name = "the leader reaches its target"
test = "at_least"
y = "final_reward"
reference = "target"
"""


def test_stackelberg_cells_run_against_the_optimum(tmp_path: Path) -> None:
    preset = parse_preset(STACKELBERG, "st.toml")
    assert [c.name for c in preset.cells("smoke")] == ["Maintain,critic=full"]
    store = tmp_path / "runs.duckdb"
    run_id = run_experiment(preset, store=store)
    table = experiment_table(store, run_id)
    (row,) = table.rows
    assert row.point == {
        "label": "Maintain",
        "setting": "maintain-v0",
        "target": 19.8,
        "critic": "full",
    }
    assert row.reference == {"optimum": 20.0, "target": 19.8}
    assert len(row.per_seed["final_reward"]) == 2
    assert row.mean["final_reward"] >= 19.8  # Maintain's pure optimum is found in ~640 steps
    assert [c.passed for c in table.checks] == [True]
    assert table.markdown().startswith("| label | critic | final_reward |")


def test_stackelberg_preset_has_every_reproduction_row() -> None:
    from robustmas.experiments.reproduce import EXPERIMENTS

    preset = load_preset("stackelberg-pomdp")
    cells = preset.cells("full")
    assert len(cells) == 2 * len(EXPERIMENTS)
    for exp, cell in zip(EXPERIMENTS, cells[::2], strict=True):
        s = cell.settings
        assert (s.setting, s.randomized, s.critic) == (exp.setting, exp.randomized, "full")
        assert dict(s.param_pairs()) == {k: str(v) for k, v in exp.params}
        assert s.target == pytest.approx(exp.target)


def test_rows_are_validated() -> None:
    bad = STACKELBERG.replace('label = "Maintain"', 'label = "Maintain"\nsettin = "x"')
    with pytest.raises(PresetError, match=r"cells\[0\].settin: unknown field"):
        parse_preset(bad, "st.toml")
    with pytest.raises(PresetError, match="label: required"):
        parse_preset(STACKELBERG.replace('label = "Maintain"\n', ""), "st.toml")
    with pytest.raises(PresetError, match="critic: expected one of"):
        parse_preset(STACKELBERG.replace('critic = ["full"]', 'critic = ["half"]'), "st.toml")


@pytest.mark.slow  # CI time: starts a local Ray instance
def test_ray_backend_gives_the_local_table(
    finished: tuple[Path, str], tiny_file: Path, tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    store = tmp_path / "ray.duckdb"
    try:
        run_id = run_experiment(load_preset(tiny_file), backend="ray", store=store)
    finally:
        ray.shutdown()
    assert experiment_table(store, run_id).to_json() == experiment_table(*finished).to_json()


def _row(name: str, dynamic: bool, principal: float, regret: float, se: float = 0.01):
    from robustmas.experiments.runner import Row

    return Row(
        cell=name,
        point={"label": name},
        settings={"dynamic_lambda": dynamic, "eps_per_step": 0.1},
        mean={"mc_principal": principal, "mc_regret": regret},
        stderr={"mc_principal": 0.0, "mc_regret": se},
        per_seed={},
        reference={},
        paper={},
        seconds=None,
    )


def test_unmatched_check_compares_across_cells() -> None:
    from robustmas.experiments.preset import Check
    from robustmas.experiments.runner import evaluate_check

    check = Check(
        name="frozen never reaches the dynamic point",
        test="unmatched",
        y="mc_principal",
        reference="mc_regret",
        where=(("dynamic_lambda", False),),
        against=(("dynamic_lambda", True),),
    )
    dynamic = [_row("dyn a", True, 0.2, 0.10), _row("dyn b", True, -0.3, 0.09)]
    frozen = [_row("adversary", False, -0.5, 0.40), _row("selfish", False, 0.3, 0.05)]
    result = evaluate_check(check, [*dynamic, *frozen])
    assert result.passed, result.detail
    assert "dyn b" in result.detail  # the target is the lowest principal reward
    # A frozen run as low at a regret within one s.e. of the target's reaches it.
    close = _row("close", False, -0.31, 0.095, se=0.01)
    result = evaluate_check(check, [*dynamic, *frozen, close])
    assert not result.passed and "reached by: close" in result.detail
    # So does one whose principal reward is higher by less than its s.e.
    near = _row("near", False, -0.295, 0.08)
    near.stderr["mc_principal"] = 0.01  # type: ignore[index]
    result = evaluate_check(check, [*dynamic, *frozen, near])
    assert not result.passed and "reached by: near" in result.detail
    # References may be settings fields: regret at most eps (0.1) + 0.02 in the dynamic cells.
    bound = Check(
        name="regret <= eps",
        test="at_most",
        y="mc_regret",
        reference="eps_per_step",
        tolerance=0.02,
        where=(("dynamic_lambda", True),),
    )
    assert evaluate_check(bound, [*dynamic, *frozen]).passed
    assert not evaluate_check(bound, [_row("x", True, 0.0, 0.2)]).passed


def _tensorboard_scalars(folder: Path) -> dict[str, dict[int, float]]:
    """Scalars of the TensorBoard event files under ``folder`` (TFRecord framing, no reader)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    out: dict[str, dict[int, float]] = {}
    for path in folder.rglob("events.out.tfevents.*"):
        data = path.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            event = Event.FromString(data[at + 12 : at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


def test_tensorboard_sink_writes_curves_and_finals(tiny_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    from robustmas.experiments.sinks import TensorBoardSink, tag

    store = tmp_path / "tb.duckdb"
    sink = TensorBoardSink(tmp_path / "tb")
    try:
        run_id = run_experiment(load_preset(tiny_file), store=store, sinks=[sink])
    finally:
        sink.close()
    scalars = _tensorboard_scalars(tmp_path / "tb" / run_id)
    cell = "eps_per_step=0.3"
    curve = curves(store, run_id)[cell]["lambda"]
    assert tag(cell, "lambda") == "eps_per_step_0.3/lambda"
    logged = scalars[tag(cell, "lambda")]
    assert sorted(logged) == curve["x"]
    for j, step in enumerate(curve["x"]):
        mean = np.mean([row[j] for row in curve["per_seed"]])
        assert logged[step] == pytest.approx(mean, rel=1e-6)
    table = experiment_table(store, run_id)
    finals = scalars[tag(cell, "final", "exact_regret")]
    assert [finals[s] for s in (0, 1)] == pytest.approx(table.rows[1].per_seed["exact_regret"])


def _wandb_history(folder: Path) -> list[dict[str, float]]:
    """History rows of the one offline run under ``folder`` (its ``.wandb`` log, no reader).

    The file is a LevelDB-style log: a 7-byte header (``:W&B``, magic, version), then 32 KiB
    blocks of chunks (crc32 u32, length u16, type u8: 1 full, 2 first, 3 middle, 4 last), each
    record a ``wandb_internal.Record``.
    """
    import json
    import struct

    from wandb.proto.wandb_internal_pb2 import Record

    (path,) = folder.glob("wandb/offline-run-*/run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    rows: list[dict[str, float]] = []
    at, block, pending = 7, 32768, b""
    while at + 7 <= len(data):
        if block - at % block < 7:  # a block's tail too short for a header is padding
            at += block - at % block
            continue
        _, length, kind = struct.unpack("<IHB", data[at : at + 7])
        pending += data[at + 7 : at + 7 + length]
        at += 7 + length
        if kind in (1, 4):
            record = Record.FromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                rows.append(
                    {
                        item.key or "/".join(item.nested_key): json.loads(item.value_json)
                        for item in record.history.item
                    }
                )
    return rows


def test_wandb_sink_logs_curves_and_finals_offline(
    finished: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wandb = pytest.importorskip("wandb")
    from robustmas.experiments.sinks import WandbSink, tag
    from robustmas.experiments.store import RunStore

    # What the sink sets in offline mode, set here so that it is undone after the test.
    for name, value in [("MODE", "offline"), ("SILENT", "true"), ("ERROR_REPORTING", "false")]:
        monkeypatch.setenv(f"WANDB_{name}", value)

    args = ["experiment", "run", "rp-fig2", "--wandb", str(tmp_path), "--wandb-mode", "cloud"]
    bad = runner.invoke(app, args)
    assert bad.exit_code == 2 and "(--wandb-mode): must be one of offline" in bad.output
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "wandb", None)  # as if the extra were not installed
        with pytest.raises(ValueError, match=r"pip install 'robustmas\[wandb\]'"):
            WandbSink(tmp_path)

    # The finished run's cells, fed as run_experiment feeds them (it is the TensorBoard test
    # that runs the experiment with a sink; this one saves a second run of it).
    store, run_id = finished
    with RunStore(store) as db:
        cells = db.cells(run_id)
    sink = WandbSink(tmp_path / "wb", project="robustmas-test")
    try:
        for name, cell in cells.items():
            sink.write_cell(run_id, name, cell["result"])
    finally:
        sink.close()
        wandb.teardown()  # ends wandb's service process now rather than at interpreter exit
    rows = _wandb_history(tmp_path / "wb")
    logged: dict[str, dict[int, float]] = {}
    for row in rows:
        x = int(row["step"] if "step" in row else row["seed"])
        for key, value in row.items():
            if "/" in key:
                logged.setdefault(key, {})[x] = value
    cell = "eps_per_step=0.3"
    curve = curves(store, run_id)[cell]["lambda"]
    assert sorted(logged[tag(cell, "lambda")]) == curve["x"]
    for j, step in enumerate(curve["x"]):
        mean = np.mean([row[j] for row in curve["per_seed"]])
        assert logged[tag(cell, "lambda")][step] == pytest.approx(mean, rel=1e-6)
    table = experiment_table(store, run_id)
    finals = logged[tag(cell, "final", "exact_regret")]
    assert [finals[s] for s in (0, 1)] == pytest.approx(table.rows[1].per_seed["exact_regret"])
    assert {
        tag("eps_per_step=0.0", "lambda"),
        tag("eps_per_step=0.0", "final", "principal"),
    } <= set(logged)


def test_progress_lines_when_stderr_is_not_a_terminal() -> None:
    """A log file gets a line per cell start, finish and skip, and one per minute between."""
    import io

    from robustmas.cli.experiment import LineProgress
    from robustmas.experiments.runner import ExperimentProgress

    now = [100.0]
    out = io.StringIO()
    lines = LineProgress(out, every=60.0, clock=lambda: now[0])

    def event(kind: str, done: int = 0, cell: str = "a") -> None:
        lines(ExperimentProgress(cell, 0, 2, 3, done, 300, kind))

    event("skip", cell="old")
    event("start")
    for done, t in ((10, 130.0), (20, 161.0), (30, 170.0), (40, 222.0)):
        now[0] = t
        event("progress", done)
    now[0] = 400.0
    event("finish", 300)
    assert out.getvalue().splitlines() == [
        "[0:00:00] old: finished earlier, skipped (1 of 3 cells)",
        "[0:00:00] a: started",
        "[0:01:01] a: 20/300 (7%)",
        "[0:02:02] a: 40/300 (13%)",
        "[0:05:00] a: finished in 300 s (2 of 3 cells done)",
    ]

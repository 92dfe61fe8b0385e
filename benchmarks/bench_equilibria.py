"""Benchmark: worst-case eps-CCE LP (robustmas vs OpenSpiel) and batched Hedge dynamics.

One run measures, and prints as markdown tables:

1. ``robustmas.equilibria.lp.worst_case_cce`` on ``random_game(players, actions, seed)``: wall
   time (median of 3 repeats, 1 for >= 10^5 joint actions, constraint construction included)
   and peak resident memory, each case measured in a fresh subprocess (``--single`` mode)
   from ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` before and after the solve.
2. The same LP through OpenSpiel's JPSRO CCE constraints + cvxpy/ECOS
   (``benchmarks/openspiel_peer.py``) on the games up to ``--openspiel-max-joint`` joint
   actions: time, peak memory, time ratio and the absolute difference of the optimal values
   (required to be below 1e-5; the script exits with status 1 otherwise).
3. Expected-mode Hedge on a batch of random 3-player 3-action games: ``hedge`` jitted and
   vmapped over the batch (JAX), a batched NumPy Hedge written here (einsum over the batch
   axis), and ``hedge_numpy`` looped game by game (timed on a subset, extrapolated linearly).
4. A machine line (CPU model, cores, library versions).

Usage::

    .venv/bin/python benchmarks/bench_equilibria.py            # full run (`make bench`)
    .venv/bin/python benchmarks/bench_equilibria.py --quick    # smoke run, a few seconds

Results are written as JSON to ``--out`` (default ``benchmarks/out/equilibria.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # so that `openspiel_peer` imports however the script is run
    sys.path.insert(0, str(HERE))

FULL_CASES: list[tuple[int, int]] = [(2, 10), (3, 10), (4, 7), (4, 10), (2, 100), (5, 8), (6, 7)]
QUICK_CASES: list[tuple[int, int]] = [(2, 10), (3, 10), (4, 7)]
VALUE_TOLERANCE = 1e-5
TARGET_4X7_SECONDS = 0.1
TARGET_SPEEDUP = 10.0
SPEEDUP_AT_JOINT = 10_000


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports ru_maxrss in KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes on macOS
        return kib / 2**20
    return kib / 1024


def _vm_hwm_mib() -> float | None:
    """Peak RSS of the current address space from /proc/self/status (VmHWM), MiB.

    Unlike ``ru_maxrss`` this is not inherited from the parent at fork/exec: on Linux a child
    started by ``subprocess`` reports ``ru_maxrss >= the parent's RSS at the time of the
    fork``, which is why the memory subprocesses are started before the parent grows.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for dist in ("numpy", "scipy", "jax", "jaxlib", "open-spiel", "cvxpy", "ecos"):
        info[dist] = _version(dist)
    return info


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"CPU: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable); "
        f"Python {info['python']}; numpy {info['numpy']}, scipy {info['scipy']}, "
        f"jax {info['jax']} (jaxlib {info['jaxlib']}), open-spiel {info['open-spiel']}, "
        f"cvxpy {info['cvxpy']}, ecos {info['ecos']}"
    )


def _fmt_s(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if x < 1e-3:
        return f"{x * 1e6:.0f} us"
    if x < 1.0:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def _fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Worst-case CCE: one solve per route
# --------------------------------------------------------------------------------------------


def _game(players: int, actions: int, seed: int):
    from robustmas.games.library import random_game

    return random_game(players, actions, seed)


def solve_robustmas(game, epsilon: float) -> tuple[float, float]:
    """(value, seconds) of ``worst_case_cce``; the time includes building the constraints."""
    from robustmas.equilibria.lp import worst_case_cce

    start = time.perf_counter()
    res = worst_case_cce(game, epsilon)
    seconds = time.perf_counter() - start
    if res.status != "optimal":
        raise RuntimeError(f"robustmas LP on {game.name}: status {res.status} ({res.message})")
    return res.value, seconds


def solve_openspiel(game, epsilon: float) -> tuple[float, float]:
    """(value, seconds) via OpenSpiel's CCE constraints + cvxpy/ECOS (see openspiel_peer)."""
    from openspiel_peer import openspiel_worst_case_cce

    value, _, seconds = openspiel_worst_case_cce(game.payoffs, game.objective(), epsilon)
    return value, seconds


SOLVERS = {"robustmas": solve_robustmas, "openspiel": solve_openspiel}


def single(route: str, players: int, actions: int, seed: int, epsilon: float) -> dict[str, Any]:
    """One cold solve in this (fresh) process, with the peak RSS before and after it."""
    # Import everything the route needs before the baseline, so the increment is the solve's.
    import robustmas.equilibria.lp  # noqa: F401

    if route == "openspiel":
        from openspiel_peer import _load_jpsro

        _load_jpsro()
    # A warm-up solve of a 2x2 game loads the solver's lazily imported parts and first-call
    # buffers, so the increment below is this game's LP.
    SOLVERS[route](_game(2, 2, seed), epsilon)
    game = _game(players, actions, seed)
    gc.collect()
    baseline, baseline_hwm = _peak_rss_mib(), _vm_hwm_mib()
    value, seconds = SOLVERS[route](game, epsilon)
    peak, peak_hwm = _peak_rss_mib(), _vm_hwm_mib()
    return {
        "route": route,
        "players": players,
        "actions": actions,
        "value": value,
        "cold_seconds": seconds,
        "baseline_mib": baseline,
        "peak_mib": peak,
        "increment_mib": peak - baseline,
        "vmhwm_baseline_mib": baseline_hwm,
        "vmhwm_peak_mib": peak_hwm,
    }


def measure_memory(
    route: str, players: int, actions: int, seed: int, epsilon: float
) -> dict[str, Any]:
    """Run :func:`single` in a fresh interpreter and return its JSON result."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--single",
        route,
        str(players),
        str(actions),
        "--seed",
        str(seed),
        "--epsilon",
        repr(epsilon),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def time_route(
    route: str, game, epsilon: float, repeats: int, budget_s: float = math.inf
) -> dict[str, Any]:
    """Median wall time over ``repeats`` warm solves (fewer if ``budget_s`` runs out)."""
    solve = SOLVERS[route]
    times: list[float] = []
    values: list[float] = []
    spent = 0.0
    for _ in range(repeats):
        gc.collect()
        value, seconds = solve(game, epsilon)
        times.append(seconds)
        values.append(value)
        spent += seconds
        if spent > budget_s:
            break
    return {
        "median_s": statistics.median(times),
        "times_s": times,
        "repeats": len(times),
        "value": values[0],
        "value_spread": max(values) - min(values),
    }


def time_highs_default(game, epsilon: float, repeats: int) -> dict[str, Any]:
    """The same LP with HiGHS's default choice (``method="highs"``, presolve on).

    ``worst_case_cce`` uses dual simplex without presolve; this times the alternative on the
    identical constraint matrix (built with ``robustmas.equilibria.lp.cce_constraints``).
    """
    import scipy.sparse as sp
    from scipy.optimize import linprog

    from robustmas.equilibria.lp import cce_constraints

    times: list[float] = []
    value = math.nan
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        a_ub = cce_constraints(game)
        b_ub = np.full(a_ub.shape[0], float(epsilon))
        n = game.num_joint_actions
        res = linprog(
            game.objective().reshape(-1),
            A_ub=a_ub,
            b_ub=b_ub,
            A_eq=sp.csr_array(np.ones((1, n))),
            b_eq=np.ones(1),
            bounds=(0, None),
            method="highs",
        )
        times.append(time.perf_counter() - start)
        if res.status != 0:
            raise RuntimeError(f"HiGHS default on {game.name}: {res.message}")
        value = float(res.fun)
    return {"median_s": statistics.median(times), "times_s": times, "value": value}


# --------------------------------------------------------------------------------------------
# Hedge: JAX (jit + vmap), batched NumPy, looped reference NumPy
# --------------------------------------------------------------------------------------------


def hedge_numpy_batched(payoffs: np.ndarray, num_rounds: int, step_size: float) -> np.ndarray:
    """Expected-mode Hedge on a batch of games at once (float64, einsum over the batch axis).

    Args:
        payoffs: shape ``(B, N, m_1, ..., m_N)``.
        num_rounds: rounds ``T``.
        step_size: ``eps`` of ``w <- w (1 + eps)^u`` (learning rate ``log1p(eps)``).

    Returns:
        Empirical joint distributions (averages of the product strategies), ``(B, m_1..m_N)``.
    """
    payoffs = np.asarray(payoffs, dtype=np.float64)
    batch, n = payoffs.shape[0], payoffs.shape[1]
    shape = payoffs.shape[2:]
    axes = "abcdefghijklmnopqrstuvwxy"[:n]  # one letter per player, "z" is the batch axis
    # u_i(j, x_{-i}) for all j: contract player i's tensor with every other player's strategy.
    dev_specs = [
        f"z{axes}," + ",".join(f"z{axes[k]}" for k in range(n) if k != i) + f"->z{axes[i]}"
        for i in range(n)
    ]
    prod_spec = ",".join(f"z{c}" for c in axes) + f"->z{axes}"
    rate = math.log1p(step_size)
    logits = [np.zeros((batch, m)) for m in shape]
    total = np.zeros((batch, *shape))
    for _ in range(num_rounds):
        xs = []
        for z in logits:
            w = np.exp(z - z.max(axis=1, keepdims=True))
            xs.append(w / w.sum(axis=1, keepdims=True))
        total += np.einsum(prod_spec, *xs)
        for i in range(n):
            u = np.einsum(dev_specs[i], payoffs[:, i], *(xs[k] for k in range(n) if k != i))
            z = logits[i] + rate * u
            logits[i] = z - z.max(axis=1, keepdims=True)
    return total / num_rounds


def bench_hedge(
    num_games: int, num_rounds: int, loop_subset: int, repeats: int, seed: int
) -> dict[str, Any]:
    import jax

    from robustmas.equilibria.no_regret import hedge, hedge_numpy, hedge_step_size
    from robustmas.games.library import random_game

    players, actions = 3, 3
    payoffs = np.stack(
        [random_game(players, actions, seed + g).payoffs for g in range(num_games)]
    )  # (B, 3, 3, 3, 3)
    step = hedge_step_size(actions, num_rounds)
    game_rounds = num_games * num_rounds

    # JAX: hedge jitted and vmapped over the batch; timed after a warm-up (compile) call.
    run = jax.jit(jax.vmap(lambda p: hedge(p, num_rounds, step)))
    batch = jax.numpy.asarray(payoffs)  # float32 unless x64 is enabled
    start = time.perf_counter()
    jax_out = jax.block_until_ready(run(batch))
    compile_s = time.perf_counter() - start
    jax_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax_out = jax.block_until_ready(run(batch))
        jax_times.append(time.perf_counter() - start)
    jax_s = statistics.median(jax_times)
    jax_joint = np.asarray(jax_out.joint, dtype=np.float64)

    # Batched NumPy (float64): a warm-up on a few rounds, then the full batch.
    hedge_numpy_batched(payoffs[:2], 2, step)
    np_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np_joint = hedge_numpy_batched(payoffs, num_rounds, step)
        np_times.append(time.perf_counter() - start)
    np_s = statistics.median(np_times)

    # Reference NumPy loop, one game at a time, on the first `loop_subset` games.
    hedge_numpy(payoffs[0], 2, step)
    start = time.perf_counter()
    loop_joint = np.stack([hedge_numpy(payoffs[g], num_rounds, step) for g in range(loop_subset)])
    loop_subset_s = time.perf_counter() - start
    loop_s = loop_subset_s * num_games / loop_subset  # linear extrapolation to the whole batch

    return {
        "num_games": num_games,
        "num_rounds": num_rounds,
        "players": players,
        "actions": actions,
        "step_size": step,
        "jax_dtype": str(batch.dtype),
        "jax_compile_s": compile_s,
        "jax_s": jax_s,
        "jax_times_s": jax_times,
        "jax_game_rounds_per_s": game_rounds / jax_s,
        "numpy_batched_s": np_s,
        "numpy_batched_times_s": np_times,
        "numpy_batched_game_rounds_per_s": game_rounds / np_s,
        "loop_subset": loop_subset,
        "loop_subset_s": loop_subset_s,
        "loop_extrapolated_s": loop_s,
        "loop_game_rounds_per_s": game_rounds / loop_s,
        # Agreement: batched NumPy vs the reference loop (both float64), JAX (float32) vs both.
        "max_diff_batched_vs_loop": float(np.abs(np_joint[:loop_subset] - loop_joint).max()),
        "max_diff_jax_vs_batched": float(np.abs(jax_joint - np_joint).max()),
    }


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    quick = args.quick
    cases = QUICK_CASES if quick else FULL_CASES
    info = machine_info()
    started = dt.datetime.now(dt.UTC)
    load_start = os.getloadavg()
    wall_start = time.perf_counter()
    print(f"# bench_equilibria ({'quick' if quick else 'full'}) {started:%Y-%m-%d %H:%M UTC}")
    print(machine_line(info), flush=True)

    # Phase 1, memory: one fresh subprocess per case and route, started while this process is
    # still small (only numpy imported), because a child's ru_maxrss starts at the parent's RSS.
    lp_rows: list[dict[str, Any]] = []
    for players, actions in cases:
        joint = actions**players
        row: dict[str, Any] = {
            "players": players,
            "actions": actions,
            "joint_actions": joint,
            "cce_rows": players * actions,
            "parent_rss_at_spawn_mib": _vm_hwm_mib(),
        }
        row["robustmas_memory"] = measure_memory(
            "robustmas", players, actions, args.seed, args.epsilon
        )
        if joint <= args.openspiel_max_joint and not args.no_openspiel_memory:
            row["openspiel_memory"] = measure_memory(
                "openspiel", players, actions, args.seed, args.epsilon
            )
        lp_rows.append(row)
        print(
            f"  memory {players}x{actions}: robustmas peak "
            f"{row['robustmas_memory']['peak_mib']:.0f} MiB",
            flush=True,
        )

    # Phase 2, time: warm up both routes on a tiny game (lazy imports, first-solve overheads),
    # then repeated solves in this process.
    tiny = _game(2, 3, 0)
    solve_robustmas(tiny, args.epsilon)
    solve_openspiel(tiny, args.epsilon)
    for row in lp_rows:
        players, actions, joint = row["players"], row["actions"], row["joint_actions"]
        game = _game(players, actions, args.seed)
        repeats = 1 if joint >= 100_000 else args.repeats
        row["robustmas"] = time_route("robustmas", game, args.epsilon, repeats)
        if joint >= args.highs_variant_min_joint:
            row["highs_default"] = time_highs_default(game, args.epsilon, repeats)
        if joint <= args.openspiel_max_joint:
            row["openspiel"] = time_route(
                "openspiel", game, args.epsilon, args.repeats, budget_s=args.openspiel_budget
            )
            row["ratio"] = row["openspiel"]["median_s"] / row["robustmas"]["median_s"]
            row["value_diff"] = abs(row["openspiel"]["value"] - row["robustmas"]["value"])
        else:
            row["openspiel"] = None
        print(
            f"  {players}x{actions}: robustmas {_fmt_s(row['robustmas']['median_s'])}"
            + (
                f", openspiel {_fmt_s(row['openspiel']['median_s'])}"
                if row["openspiel"]
                else ", openspiel skipped"
            ),
            flush=True,
        )

    if quick:
        hedge_res = bench_hedge(64, 100, 4, args.repeats, args.seed)
    else:
        hedge_res = bench_hedge(1024, 1000, args.loop_subset, args.repeats, args.seed)

    # Checks and targets.
    failures: list[str] = []
    for r in lp_rows:
        if r["openspiel"] is not None and not r["value_diff"] < VALUE_TOLERANCE:
            failures.append(
                f"{r['players']}x{r['actions']}: |value difference| {r['value_diff']:.3g} "
                f">= {VALUE_TOLERANCE:g}"
            )
    targets: list[dict[str, Any]] = []
    for r in lp_rows:
        if (r["players"], r["actions"]) == (4, 7):
            t = r["robustmas"]["median_s"]
            targets.append(
                {
                    "target": f"4x7 LP (2,401 joint actions) in under {TARGET_4X7_SECONDS} s",
                    "measured": _fmt_s(t),
                    "pass": t < TARGET_4X7_SECONDS,
                }
            )
    for r in lp_rows:
        if r["joint_actions"] == SPEEDUP_AT_JOINT and r["openspiel"] is not None:
            targets.append(
                {
                    "target": f">= {TARGET_SPEEDUP:g}x faster than OpenSpiel at "
                    f"{r['players']}x{r['actions']} ({SPEEDUP_AT_JOINT:,} joint actions)",
                    "measured": f"{r['ratio']:.1f}x",
                    "pass": r["ratio"] >= TARGET_SPEEDUP,
                }
            )
    if not any(r["joint_actions"] == SPEEDUP_AT_JOINT for r in lp_rows):
        targets.append(
            {
                "target": f">= {TARGET_SPEEDUP:g}x faster than OpenSpiel at 10^4 joint actions",
                "measured": "not measured (--quick)",
                "pass": None,
            }
        )

    results = {
        "mode": "quick" if quick else "full",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": started.isoformat(timespec="seconds"),
        "machine": info,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "total_wall_s": time.perf_counter() - wall_start,
        "epsilon": args.epsilon,
        "seed": args.seed,
        "lp": lp_rows,
        "hedge": hedge_res,
        "targets": targets,
        "failures": failures,
    }
    return results, failures


def render(results: dict[str, Any]) -> str:
    eps = results["epsilon"]
    out = [
        f"Machine: {machine_line(results['machine'])}",
        "Load average (1/5/15 min) at start "
        + "/".join(f"{x:.2f}" for x in results["load_average_start"])
        + ", at end "
        + "/".join(f"{x:.2f}" for x in results["load_average_end"])
        + f"; total wall time {results['total_wall_s']:.0f} s.",
        "",
        f"### 1. Worst-case eps-CCE LP (robustmas, HiGHS dual simplex), eps = {eps:g}",
        "",
        "Time: median wall clock of warm solves in one process, constraint matrix construction "
        "included. Memory: a fresh subprocess per case; baseline = peak RSS (ru_maxrss) "
        "after imports, a warm-up solve of a 2x2 game and building the game; "
        "peak = ru_maxrss after one solve.",
        "",
    ]
    rows = []
    for r in results["lp"]:
        lp, mem = r["robustmas"], r["robustmas_memory"]
        rows.append(
            [
                f"{r['players']}x{r['actions']}",
                f"{r['joint_actions']:,}",
                str(r["cce_rows"]),
                f"{_fmt_s(lp['median_s'])} (n={lp['repeats']})",
                f"{mem['baseline_mib']:.0f}",
                f"{mem['peak_mib']:.0f}",
                f"{mem['increment_mib']:.1f}",
                (
                    f"{_fmt_s(r['highs_default']['median_s'])} "
                    f"({r['highs_default']['median_s'] / lp['median_s']:.1f}x)"
                    if r.get("highs_default")
                    else "-"
                ),
                f"{lp['value']:.6g}",
            ]
        )
    out.append(
        _table(
            [
                "players x actions",
                "joint actions",
                "CCE rows",
                "LP time",
                "baseline RSS MiB",
                "peak RSS MiB",
                "LP increment MiB",
                "HiGHS default (presolve) time",
                "worst-case value",
            ],
            rows,
        )
    )
    mems = [r["robustmas_memory"] for r in results["lp"]] + [
        r["openspiel_memory"] for r in results["lp"] if r.get("openspiel_memory")
    ]
    gaps = [
        abs(m["peak_mib"] - m["vmhwm_peak_mib"]) for m in mems if m["vmhwm_peak_mib"] is not None
    ]
    parent = max(r["parent_rss_at_spawn_mib"] or 0.0 for r in results["lp"])
    out += [
        "",
        'HiGHS default = `linprog(method="highs")` with presolve on the same constraint matrix '
        "(time in brackets relative to `worst_case_cce`'s dual simplex without presolve). "
        f"Memory subprocesses were started while the parent's RSS was <= {parent:.0f} MiB "
        "(a child's ru_maxrss starts at its parent's RSS); "
        + (
            f"ru_maxrss and /proc VmHWM peaks differ by at most {max(gaps):.1f} MiB."
            if gaps
            else "VmHWM not available."
        ),
    ]
    out += [
        "",
        "### 2. Same LP via OpenSpiel (jpsro._cce_constraints + jpsro._linear, cvxpy/ECOS)",
        "",
        "OpenSpiel time covers its constraint construction and the cvxpy/ECOS solve (import "
        "excluded); ratio = OpenSpiel time / robustmas time. Peak memory as in table 1 "
        "(baseline includes importing open_spiel, cvxpy).",
        "",
    ]
    rows = []
    for r in results["lp"]:
        name = f"{r['players']}x{r['actions']}"
        lp = r["robustmas"]
        if r["openspiel"] is None:
            rows.append(
                [
                    name,
                    f"{r['joint_actions']:,}",
                    _fmt_s(lp["median_s"]),
                    "skipped (ECOS time)",
                    "-",
                    "-",
                    "-",
                ]
            )
            continue
        osp = r["openspiel"]
        mem = r.get("openspiel_memory")
        rows.append(
            [
                name,
                f"{r['joint_actions']:,}",
                _fmt_s(lp["median_s"]),
                f"{_fmt_s(osp['median_s'])} (n={osp['repeats']})",
                f"{mem['peak_mib']:.0f} (+{mem['increment_mib']:.0f})" if mem else "-",
                f"{r['ratio']:.1f}x",
                f"{r['value_diff']:.1e}",
            ]
        )
    out.append(
        _table(
            [
                "players x actions",
                "joint actions",
                "robustmas",
                "OpenSpiel",
                "OpenSpiel peak RSS MiB (+solve)",
                "ratio",
                "abs value diff",
            ],
            rows,
        )
    )
    h = results["hedge"]
    jax_rate = h["jax_game_rounds_per_s"]
    out += [
        "",
        f"### 3. Hedge (expected mode), {h['num_games']:,} random {h['players']}-player "
        f"{h['actions']}-action games x {h['num_rounds']:,} rounds",
        "",
        f"JAX: `hedge` under `jit(vmap(...))` over the batch, {h['jax_dtype']}, timed after a "
        f"warm-up call (compile + first run {_fmt_s(h['jax_compile_s'])}), block_until_ready. "
        "Batched NumPy: einsum over the batch axis (written in this benchmark), float64. "
        f"Looped `hedge_numpy`: timed on the first {h['loop_subset']} games "
        f"({_fmt_s(h['loop_subset_s'])}) and extrapolated linearly to {h['num_games']:,}.",
        "",
    ]
    rows = [
        [
            "`hedge` (JAX, jit + vmap)",
            _fmt_s(h["jax_s"]),
            _fmt_rate(jax_rate),
            "1.0x",
        ],
        [
            "batched NumPy (einsum over batch)",
            _fmt_s(h["numpy_batched_s"]),
            _fmt_rate(h["numpy_batched_game_rounds_per_s"]),
            f"{jax_rate / h['numpy_batched_game_rounds_per_s']:.1f}x",
        ],
        [
            f"`hedge_numpy` looped (extrapolated from {h['loop_subset']} games)",
            _fmt_s(h["loop_extrapolated_s"]),
            _fmt_rate(h["loop_game_rounds_per_s"]),
            f"{jax_rate / h['loop_game_rounds_per_s']:.0f}x",
        ],
    ]
    out.append(
        _table(["implementation", "time for the batch", "game-rounds / s", "JAX speed-up"], rows)
    )
    out += [
        "",
        f"Agreement of the empirical joint distributions: batched NumPy vs looped "
        f"`hedge_numpy` max |diff| {h['max_diff_batched_vs_loop']:.1e}; JAX ({h['jax_dtype']}) "
        f"vs batched NumPy max |diff| {h['max_diff_jax_vs_batched']:.1e}.",
        "",
        "### Targets",
        "",
    ]
    rows = []
    for t in results["targets"]:
        verdict = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        rows.append([t["target"], t["measured"], verdict])
    out.append(_table(["target", "measured", "result"], rows))
    out += [
        "",
        "Values agree (|robustmas - OpenSpiel| < 1e-5 on every compared game): "
        + ("yes" if not results["failures"] else "NO: " + "; ".join(results["failures"])),
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument(
        "--out", type=Path, default=HERE / "out" / "equilibria.json", help="JSON results file"
    )
    parser.add_argument("--epsilon", type=float, default=0.1, help="CCE slack (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of random_game (default 0)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (default 3)")
    parser.add_argument(
        "--openspiel-max-joint",
        type=int,
        default=20_000,
        help="skip the OpenSpiel route above this many joint actions (default 20,000)",
    )
    parser.add_argument(
        "--openspiel-budget",
        type=float,
        default=150.0,
        help="stop repeating an OpenSpiel solve once this many seconds are spent (default 150)",
    )
    parser.add_argument(
        "--highs-variant-min-joint",
        type=int,
        default=2_000,
        help="also time HiGHS's default method on games with at least this many joint actions",
    )
    parser.add_argument(
        "--no-openspiel-memory",
        action="store_true",
        help="skip the OpenSpiel peak-memory subprocesses",
    )
    parser.add_argument(
        "--loop-subset",
        type=int,
        default=32,
        help="games timed with the looped hedge_numpy before extrapolating (default 32)",
    )
    parser.add_argument(
        "--single",
        nargs=3,
        metavar=("ROUTE", "PLAYERS", "ACTIONS"),
        help="internal: one cold solve (robustmas|openspiel) in this process, JSON to stdout",
    )
    args = parser.parse_args(argv)

    if args.single:
        route, players, actions = args.single[0], int(args.single[1]), int(args.single[2])
        if route not in SOLVERS:
            parser.error(f"--single: route must be one of {sorted(SOLVERS)}, got {route!r}")
        print(json.dumps(single(route, players, actions, args.seed, args.epsilon)))
        return 0

    results, failures = run(args)
    print()
    print(render(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nJSON written to {args.out}")
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

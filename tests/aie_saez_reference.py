"""Reference fixture for the Saez tax model (``robustmas.envs.economy.saez``) from the AI Economist.

NOT a test module (never collected or imported by pytest). It runs only in the separate
ai-economist venv (numpy 1.23, see ``tests/aie_reference.py`` for its setup), from the
repository root:

    .venv-aie/bin/python tests/aie_saez_reference.py --out tests/data/aie_saez.npz

It builds the papers' environment with ``PeriodicBracketTax(tax_model="saez",
saez_fixed_elas=3.0, bracket_spacing="us-federal", usd_scaling=1000, period=100)`` and calls
that component's own methods (no AI Economist code is copied here) on seeded random buffers of
500 ``(income, marginal rate)`` samples, recording inputs and every intermediate.  All inputs
are float32 numbers stored as float64 (the JAX port is float32); outputs are AIE's float64.
The file is plain numeric ``np.savez_compressed`` (load with ``allow_pickle=False``).

Per case (K cases, axis 0):
  ``kind`` (K,) int: how the buffer was drawn (:data:`KINDS` below, by index).
  ``incomes``, ``rates`` (K, 500): the buffer, oldest first.
  ``fixed_elas`` (K,): ``saez_fixed_elas`` (NaN = None: the running estimate is used).
  ``uniform`` (K,) int8: 1 for ``pareto_weight_type="uniform"``, 0 for ``"inverse_income"``.
  ``rate_min``, ``rate_max`` (K,): the component's bounds (``rate_max`` = ``curr_rate_max``).
  ``elas_t_in``, ``elas_tm1_in``, ``log_z0_t_in``, ``log_z0_tm1_in`` (K,), ``running_avg_in``
    (K, 7): the component's trackers before the call.
  ``counts`` (K, 100), ``n_below``, ``n_above`` (K,): ``np.histogram`` over the 101 bin edges
    and the incomes ``< 0`` and ``> 510.3``.
  ``elas_est``, ``log_z0_est`` (K,): ``estimate_uniform_income_elasticity(buffer,
    elas_tm1=elas_t_in, log_z0_tm1=log_z0_t_in)`` (what the method computes).
  ``elas_used`` (K,): the elasticity in the formula (fixed or ``elas_est``).
  ``g``, ``a`` (K, 101): ``get_binned_saez_welfare_weight_and_pareto_params`` (NaN in ``a``
    for empty bins).
  ``taus_raw``, ``taus`` (K, 101): ``get_saez_marginal_rates`` without / with interpolation.
  ``bracket_rates`` (K, 7): ``bracketize_schedule(taus)``.
  ``rates_out`` (K, 7): ``curr_bracket_tax_rates`` after
    ``compute_and_set_new_period_rates_from_saez_formula()`` (= clipped ``bracket_rates``,
    checked here), and ``running_avg_out`` (K, 7), ``elas_t_out``, ``elas_tm1_out``,
    ``log_z0_t_out``, ``log_z0_tm1_out`` (K,): the component's trackers after it.

Elasticity on short buffers (S cases; AIE's ``len(zs) < 10`` rule on the sample count):
  ``short_incomes``, ``short_rates`` (S, 500) zero-padded, ``short_len`` (S,) int,
  ``short_elas_tm1``, ``short_log_z0_tm1`` (S,) inputs, ``short_elas``, ``short_log_z0`` (S,).

Buffer updates (``_update_saez_buffer`` with 4 agents, 130 tax days):
  ``add_incomes``, ``add_rates`` (130, 4); ``add_buffer_100`` (400, 2) and ``add_buffer_130``
  (500, 2): the component's buffer ``[income, rate]`` rows, oldest first, after 100 and 130
  days.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import warnings
from pathlib import Path

import numpy as np

with contextlib.redirect_stdout(io.StringIO()):  # ai-economist prints GPU probes on import
    from ai_economist import foundation  # pyright: ignore[reportMissingImports]

BUFFER = 500
SEED = 20240613

KINDS = (
    "lognormal",  # 0: lognormal, scaled to at most 1000
    "lognormal_wide",  # 1: heavier tail, many above 510.3
    "many_zeros",  # 2: 60% exact zeros
    "negatives",  # 3: 20% negative incomes
    "uniform_0_1000",  # 4: uniform on [0, 1000], ~half above the top cutoff
    "one_bin",  # 5: all incomes inside one estimation bin
    "constant",  # 6: every income equal
    "sparse",  # 7: incomes in a handful of bins, many empty bins in between
    "edges",  # 8: incomes at (the float32 nearest to) bin edges, 0, top and just above top
    "all_above",  # 9: every income above the top cutoff
    "all_below",  # 10: every income negative
    "all_zero",  # 11: every income 0
    "integers",  # 12: integer incomes 0..600
    "tiny",  # 13: incomes around 1e-12 .. 1e-6 and some larger ones
    "elasticity",  # 14: z = z0 (1 - tau)^e * noise (regression path)
    "few_valid",  # 15: fewer than 10 samples with z > 0 and tau < 1
    "exactly_ten",  # 16: exactly 10 samples with z > 0 and tau < 1
    "constant_rates",  # 17: all rates equal (std < 1e-6)
    "negative_slope",  # 18: income rising with the rate (slope < 0, floored at 0)
)

ENV_CONFIG = dict(
    scenario_name="layout_from_file/simple_wood_and_stone",
    components=[
        ("Build", dict(skill_dist="pareto", payment_max_skill_multiplier=3)),
        ("ContinuousDoubleAuction", dict(max_num_orders=5)),
        ("Gather", dict(skill_dist="pareto")),
        (
            "PeriodicBracketTax",
            dict(
                tax_model="saez",
                saez_fixed_elas=3.0,
                bracket_spacing="us-federal",
                usd_scaling=1000,
                period=100,
            ),
        ),
    ],
    env_layout_file="quadrant_25x25_20each_30clump.txt",
    n_agents=4,
    world_size=[25, 25],
    episode_length=1000,
    fixed_four_skill_and_loc=True,
)


def f32(x) -> np.ndarray:
    """Round to float32 and back: every input is a float32 number."""
    return np.asarray(x, np.float32).astype(np.float64)


def make_component():
    with contextlib.redirect_stdout(io.StringIO()):
        env = foundation.make_env_instance(**ENV_CONFIG)
    return env.get_component("PeriodicBracketTax")


# --------------------------------------------------------------------------------------
# Buffers
# --------------------------------------------------------------------------------------


def grid_rates(rng: np.random.Generator, n: int = BUFFER, with_ones: bool = False) -> np.ndarray:
    grid = np.arange(21) * 0.05
    if not with_ones:
        grid = grid[:-1]
    return rng.choice(grid, n)


def draw_incomes(kind: str, rng: np.random.Generator, edges: np.ndarray) -> np.ndarray:
    top = edges[-1]
    n = BUFFER
    if kind == "lognormal":
        z = rng.lognormal(3.0, 1.0, n)
        return z * (1000.0 / max(z.max(), 1000.0))
    if kind == "lognormal_wide":
        z = rng.lognormal(4.5, 1.5, n)
        return z * (1000.0 / z.max())
    if kind == "many_zeros":
        z = rng.lognormal(3.0, 1.2, n)
        z[rng.random(n) < 0.6] = 0.0
        return z
    if kind == "negatives":
        z = rng.lognormal(3.5, 1.0, n)
        neg = rng.random(n) < 0.2
        z[neg] = -rng.uniform(0.0, 100.0, neg.sum())
        return z
    if kind == "uniform_0_1000":
        return rng.uniform(0.0, 1000.0, n)
    if kind == "one_bin":
        k = int(rng.integers(0, 100))
        return edges[k] + rng.uniform(0.05, 0.95, n) * (edges[k + 1] - edges[k])
    if kind == "constant":
        return np.full(n, rng.uniform(0.0, 600.0))
    if kind == "sparse":
        bins = rng.choice(100, size=int(rng.integers(2, 6)), replace=False)
        k = rng.choice(bins, n)
        return edges[k] + rng.uniform(0.0, 1.0, n) * (edges[k + 1] - edges[k])
    if kind == "edges":
        special = np.array([0.0, top, np.nextafter(np.float32(top), np.float32(np.inf))])
        pool = np.concatenate([edges, special])
        return rng.choice(pool, n)
    if kind == "all_above":
        return rng.uniform(top + 0.1, 2000.0, n)
    if kind == "all_below":
        return -rng.uniform(1.0, 50.0, n)
    if kind == "all_zero":
        return np.zeros(n)
    if kind == "integers":
        return rng.integers(0, 601, n).astype(np.float64)
    if kind == "tiny":
        z = 10.0 ** rng.uniform(-12.0, -6.0, n)
        big = rng.random(n) < 0.3
        z[big] = rng.uniform(0.0, 300.0, big.sum())
        return z
    raise ValueError(kind)


def draw_case(kind: str, rng: np.random.Generator, edges: np.ndarray):
    """(incomes, rates) of one buffer."""
    n = BUFFER
    if kind == "elasticity":
        rates = np.where(rng.random(n) < 0.5, grid_rates(rng), rng.uniform(0.0, 0.95, n))
        e = rng.uniform(0.2, 3.0)
        z = np.exp(rng.uniform(2.0, 4.0) + e * np.log(1.0 - rates) + rng.normal(0.0, 0.3, n))
        return z, rates
    if kind == "negative_slope":
        rates = rng.uniform(0.0, 0.9, n)
        z = np.exp(3.0 - 2.0 * np.log(1.0 - rates) + rng.normal(0.0, 0.2, n))
        return z, rates
    if kind == "few_valid":
        z = -rng.uniform(0.0, 50.0, n)
        rates = grid_rates(rng)
        m = int(rng.integers(0, 10))
        z[:m] = rng.uniform(1.0, 400.0, m)
        if rng.random() < 0.5:  # make some positive incomes invalid through tau = 1 instead
            extra = rng.uniform(1.0, 400.0, 20)
            z[m : m + 20] = extra
            rates[m : m + 20] = 1.0
        return z, rates
    if kind == "exactly_ten":
        z = np.zeros(n)
        z[:10] = rng.uniform(1.0, 400.0, 10)
        rates = rng.uniform(0.0, 0.9, n)
        return rng.permutation(z), rates
    if kind == "constant_rates":
        return draw_incomes("lognormal", rng, edges), np.full(n, rng.choice([0.0, 0.1, 0.35]))
    z = draw_incomes(kind, rng, edges)
    r = rng.random()
    if r < 0.45:
        rates = grid_rates(rng, with_ones=rng.random() < 0.3)
    elif r < 0.9:
        rates = rng.uniform(0.0, 1.0, n)
    else:
        rates = rng.uniform(0.0, 0.4, n)
    return z, rates


# --------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------


def run_case(comp, incomes, rates, fixed, uniform, rate_min, rate_max, trackers, running_avg):
    """Call the component's method and its building blocks on one buffer."""
    elas_t_in, elas_tm1_in, log_z0_t_in, log_z0_tm1_in = trackers
    comp._local_saez_buffer = [[float(z), float(t)] for z, t in zip(incomes, rates, strict=True)]
    comp._global_saez_buffer = []
    comp._additions_this_episode = 0
    comp._reached_min_samples = False
    comp._saez_fixed_elas = None if np.isnan(fixed) else float(fixed)
    comp.pareto_weight_type = "uniform" if uniform else "inverse_income"
    comp.rate_min = float(rate_min)
    comp.rate_max = float(rate_max)
    comp.elas_t, comp.elas_tm1 = float(elas_t_in), float(elas_tm1_in)
    comp.log_z0_t, comp.log_z0_tm1 = float(log_z0_t_in), float(log_z0_tm1_in)
    comp.running_avg_tax_rates = np.array(running_avg, np.float64)

    buffer = np.array(comp.saez_buffer, np.float64)
    edges = comp._saez_income_bin_edges
    counts, _ = np.histogram(buffer[:, 0], bins=edges)
    elas_est, log_z0_est = comp.estimate_uniform_income_elasticity(
        buffer, elas_df=0.98, elas_tm1=float(elas_t_in), log_z0_tm1=float(log_z0_t_in)
    )
    elas_used = float(elas_est) if np.isnan(fixed) else float(fixed)
    g, a = comp.get_binned_saez_welfare_weight_and_pareto_params(buffer[:, 0])
    taus_raw = comp.get_saez_marginal_rates(g, a, elas_used, interpolate=False)
    taus = comp.get_saez_marginal_rates(g, a, elas_used)
    bracket_rates = comp.bracketize_schedule(taus, edges, comp._saez_income_bin_sizes)

    comp.compute_and_set_new_period_rates_from_saez_formula()
    rates_out = np.array(comp.curr_bracket_tax_rates, np.float64)
    expected = np.clip(bracket_rates, rate_min, rate_max)
    assert np.array_equal(rates_out, expected), (rates_out, expected)
    assert comp.elas_t == float(elas_est) and comp.elas_tm1 == float(elas_t_in)
    return dict(
        counts=counts,
        n_below=int((buffer[:, 0] < edges[0]).sum()),
        n_above=int((buffer[:, 0] > edges[-1]).sum()),
        elas_est=float(elas_est),
        log_z0_est=float(log_z0_est),
        elas_used=elas_used,
        g=g,
        a=a,
        taus_raw=taus_raw,
        taus=taus,
        bracket_rates=bracket_rates,
        rates_out=rates_out,
        running_avg_out=np.array(comp.running_avg_tax_rates, np.float64),
        elas_t_out=float(comp.elas_t),
        elas_tm1_out=float(comp.elas_tm1),
        log_z0_t_out=float(comp.log_z0_t),
        log_z0_tm1_out=float(comp.log_z0_tm1),
    )


def case_plan(rng: np.random.Generator) -> list[tuple[str, float, bool, float, float]]:
    """(kind, fixed elasticity or NaN, uniform Pareto weights, rate_min, rate_max) per case."""
    plan = []
    fixed_kinds = KINDS[:14]
    for kind in fixed_kinds:  # the papers' setting
        plan.append((kind, 3.0, False, 0.0, 1.0))
    for kind in ("lognormal", "sparse", "edges", "all_above"):  # annealed bounds
        plan.append((kind, 3.0, False, 0.1, float(f32(rng.uniform(0.2, 0.9)))))
    for kind in ("lognormal", "negatives", "one_bin", "all_below", "uniform_0_1000"):
        plan.append((kind, float(rng.choice([3.0, 1.0, 0.5])), True, 0.0, 1.0))
    for kind in ("elasticity", "elasticity", "elasticity", "negative_slope", "few_valid"):
        plan.append((kind, np.nan, False, 0.0, 1.0))
    for kind in ("few_valid", "exactly_ten", "constant_rates", "many_zeros", "one_bin"):
        plan.append((kind, np.nan, False, 0.0, 1.0))
    for kind in ("elasticity", "lognormal_wide", "tiny"):
        plan.append((kind, np.nan, True, 0.0, 1.0))
    for kind in ("elasticity", "exactly_ten", "constant_rates"):  # tracked under fixed 3.0
        plan.append((kind, 3.0, False, 0.0, 1.0))
    return plan


def build(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    comp = make_component()
    edges = comp._saez_income_bin_edges
    assert comp.n_brackets == 7 and len(edges) == 101

    fields: dict[str, list] = {}
    for kind, fixed, uniform, rate_min, rate_max in case_plan(rng):
        incomes, rates = draw_case(kind, rng, edges)
        incomes, rates = f32(incomes), f32(rates)
        trackers = f32(
            [rng.uniform(0.0, 2.0), rng.uniform(0.0, 2.0), rng.normal(0, 2), rng.normal(0, 2)]
        )
        running_avg = f32(rng.uniform(0.0, 1.0, 7))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = run_case(
                comp, incomes, rates, fixed, uniform, rate_min, rate_max, trackers, running_avg
            )
        row = dict(
            kind=KINDS.index(kind),
            incomes=incomes,
            rates=rates,
            fixed_elas=fixed,
            uniform=int(uniform),
            rate_min=rate_min,
            rate_max=rate_max,
            elas_t_in=trackers[0],
            elas_tm1_in=trackers[1],
            log_z0_t_in=trackers[2],
            log_z0_tm1_in=trackers[3],
            running_avg_in=running_avg,
            **res,
        )
        for k, v in row.items():
            fields.setdefault(k, []).append(v)
    arrays = {k: np.asarray(v) for k, v in fields.items()}
    arrays["kind"] = arrays["kind"].astype(np.int16)
    arrays["uniform"] = arrays["uniform"].astype(np.int8)
    arrays["counts"] = arrays["counts"].astype(np.int32)

    # Elasticity on short buffers.
    short = {k: [] for k in ("incomes", "rates", "len", "elas_tm1", "log_z0_tm1", "elas", "log_z0")}
    for length in (0, 1, 5, 9, 10, 11, 50, 10, 12):
        z = f32(np.exp(rng.uniform(1.0, 5.0, length)))
        t = f32(rng.uniform(0.0, 0.9, length))
        elas_tm1, log_z0_tm1 = f32([rng.uniform(0.0, 2.0), rng.normal(0.0, 2.0)])
        buf = np.stack([z, t], axis=1) if length else np.zeros((0, 2))
        elas, log_z0 = comp.estimate_uniform_income_elasticity(
            buf, elas_df=0.98, elas_tm1=float(elas_tm1), log_z0_tm1=float(log_z0_tm1)
        )
        pad = np.zeros(BUFFER - length)
        short["incomes"].append(np.concatenate([z, pad]))
        short["rates"].append(np.concatenate([t, pad]))
        short["len"].append(length)
        short["elas_tm1"].append(elas_tm1)
        short["log_z0_tm1"].append(log_z0_tm1)
        short["elas"].append(float(elas))
        short["log_z0"].append(float(log_z0))
    for k, v in short.items():
        arrays[f"short_{k}"] = np.asarray(v)
    arrays["short_len"] = arrays["short_len"].astype(np.int32)

    # Buffer updates, as enact_taxes feeds them.
    comp.reset_saez_buffers()
    add_incomes = f32(rng.normal(50.0, 40.0, (130, 4)))
    add_rates = f32(grid_rates(rng, 130 * 4).reshape(130, 4))
    for day in range(130):
        tax_info = {
            str(i): dict(income=float(add_incomes[day, i]), marginal_rate=add_rates[day, i])
            for i in range(4)
        }
        comp._update_saez_buffer(tax_info)
        if day == 99:
            arrays["add_buffer_100"] = np.array(comp.saez_buffer, np.float64)
    arrays["add_buffer_130"] = np.array(comp.saez_buffer, np.float64)
    arrays["add_incomes"] = add_incomes
    arrays["add_rates"] = add_rates
    assert arrays["add_buffer_100"].shape == (400, 2)
    assert arrays["add_buffer_130"].shape == (BUFFER, 2)

    for k, v in arrays.items():
        assert v.dtype != object, k
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)  # pyright: ignore[reportArgumentType]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data/aie_saez.npz"))
    args = parser.parse_args()
    build(args.out)


if __name__ == "__main__":
    main()

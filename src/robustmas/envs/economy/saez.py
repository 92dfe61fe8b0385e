r"""Saez's optimal-tax formula as the AI Economist applies it to bracket taxes, pure JAX.

The ``saez`` tax model of the AI Economist's ``PeriodicBracketTax`` (ai-economist 1.7.1,
``foundation/components/redistribution.py``; Zheng et al. 2020, "The AI Economist: Improving
Equality and Productivity with AI-Driven Tax Policies", arXiv:2004.13332) sets each period's
bracket rates with an adaptation of the formula of Saez (2001), "Using Elasticities to Derive
Optimal Income Tax Rates", Review of Economic Studies 68(1) (NBER w7628):

.. math:: \tau(z) = \frac{1 - G(z)}{1 - G(z) + a(z)\, e}

with ``G(z)`` the average (normalised) Pareto weight of earners with income ``>= z``, ``a(z)``
the local Pareto parameter of the income distribution and ``e`` the income elasticity.  The
estimates come from a buffer of the last ``buffer_size`` (500) ``(income, marginal rate)``
samples, four per tax day (one per agent, in index order), which outlives episodes.

One period's rates (:func:`saez_period_rates`, AIE's
``compute_and_set_new_period_rates_from_saez_formula``):

1. while the buffer holds fewer than ``buffer_size`` samples the rates are uniform draws in
   ``[rate_min, rate_max)`` and nothing else changes;
2. otherwise the elasticity trackers shift (``elas_tm1 <- elas_t``, ``log_z0_tm1 <- log_z0_t``)
   and the elasticity is re-estimated by least squares of ``log z`` on ``log(1 - tau)``
   (:func:`estimate_elasticity`) -- always, even when a fixed elasticity is used in the formula;
3. the buffer's incomes are binned into ``n_bins`` (100) equal bins over ``[0, top cutoff]``
   plus one open bin above it, giving ``G`` and ``a`` per bin (:func:`saez_binned_params`);
4. the formula gives a rate per bin, empty bins filled by linear interpolation
   (:func:`saez_marginal_rates`, :func:`fill_rate_gaps`);
5. the bin rates are averaged over each bracket (:func:`bracketize`), clipped to
   ``[rate_min, rate_max]``, and folded into a running average
   (``0.99 * avg + 0.01 * rates``) that a new episode starts from (:func:`saez_reset_rates`).

Everything is float32 (the repository runs with x64 off).  The AI Economist computes in
float64; ``tests/test_economy_saez.py`` measures the difference against its recorded outputs
(final bracket rates within 1.0e-7 on its 39 recorded cases, the tests allowing 1e-6;
histograms and empty bins exact).
Two things keep the float32 error small: the bin edges are held as float64 values split into a
float32 head and tail, so an income is binned exactly as ``np.histogram`` bins it against the
float64 edges (inputs being float32 numbers), and probabilities are built from integer counts.
So ``cutoffs`` must be concrete (a NumPy array, tuple or a non-traced JAX array), best the
float64 :func:`robustmas.envs.economy.tax.bracket_cutoffs`.

Quirks of the AI Economist, reproduced on purpose:

* **Histogram edges.**  ``np.histogram`` against ``linspace(0, top, n_bins + 1)``: bins are
  ``[e_i, e_{i+1})`` except the last, ``[e_{n-1}, top]``, closed on the right.  Incomes
  ``< 0`` are "below" and ``> top`` "above"; an income equal to ``top`` sits in the last bin.
  The pseudo-bin above ``top`` is bin ``n_bins`` of ``G``, ``a`` and the rates.
* **Bin incomes are bin midpoints** for the Pareto weights, while incomes above ``top`` use
  their own values; incomes below 0 all get weight ``1 / max(1, 0) = 1``.
* **The ``+ 1e-9``s**: in the Pareto-weight normaliser, in the ``G`` ratio's denominator, in
  ``a``'s denominator, in ``a`` above the top (``mean / (mean - top + 1e-9)``) and in the
  formula's denominator.  With no income in a tail the ``G`` ratio is ``0 / 1e-9 = 0``.
* **``G`` is interpolated**: bin ``i`` gets the mean of the ratios at its two edges, the top
  pseudo-bin its own.
* **``a``**: ``a_i = z_i p_i / (clip(P(z >= z_i), 0, 1) + 1e-9) / width_i`` with
  ``P(z >= z_i) = 1 - P(z <= z_i) + p_i / 2`` (``P(z <= z_i)`` counts the incomes below 0,
  and is clipped to ``[0, 1]`` step by step, a no-op up to rounding); NaN for an empty bin;
  ``a`` above is 0 when no income is above ``top``.
* **No earner above the top cutoff** gives ``G = 0`` and ``a = 0`` there, so the top rate is
  ``1 / (1 + 1e-9)``: the top bracket is taxed at ``rate_max``.
* **Gaps**: an empty bin's rate is NaN and is filled by linear interpolation between the real
  rates on either side (``np.linspace``), a leading gap starting from a rate of 0.0 at index
  -1; a trailing gap would stay NaN, which cannot happen since the top pseudo-bin always has
  a rate.
* **Bracketing** integrates the piecewise-constant bin rates over each bracket: the cumulative
  tax at each cutoff is floored at 0 (``max(0, .)``) before differencing, and the top bracket
  takes the top pseudo-bin's rate.
* **Elasticity**: only samples with ``z > 0`` and ``tau < 1`` enter; with fewer than 10 of them,
  or with their rates' (population) standard deviation below ``1e-6``, the estimate returns
  ``(elas_tm1, log_z0_tm1)`` unchanged; otherwise the slope is floored at 0 and smoothed,
  ``elas_t = 0.02 max(slope, 0) + 0.98 elas_tm1``, while the intercept ``log_z0`` is returned
  raw (not smoothed).  ``log(max(z, 1e-9))`` and ``log(max(1 - tau, 1e-9))`` are the
  regression's variables (the second floor cannot bind for float32 ``tau < 1``).
* **Running average** is updated only by the formula (not by the random rates) and is what an
  episode reset sets the rates to; AIE then recomputes the rates on the first step anyway, so
  it only shows in the reset observation (see :func:`saez_reset_rates`).
* **Random rates** while the buffer fills come, in AIE, from NumPy's global generator (seven
  ``np.random.uniform`` draws at each period start), which shifts every later draw of the
  episode; here they come from ``key``.  A replay of an AIE episode must account for them.
* **Buffer**: AIE appends to a list and drops the oldest beyond 500; once it has reached 500
  samples it never shrinks, so "has reached 500" (a latch in AIE) is ``count >= buffer_size``.
  AIE's multi-replica global buffer is not modelled (one replica).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.typing import ArrayLike

__all__ = [
    "ELAS_DF",
    "ParetoWeight",
    "SaezState",
    "bracketize",
    "estimate_elasticity",
    "fill_rate_gaps",
    "income_histogram",
    "saez_add",
    "saez_bin_edges",
    "saez_binned_params",
    "saez_init",
    "saez_marginal_rates",
    "saez_period_rates",
    "saez_reset_rates",
    "saez_samples",
]

ParetoWeight = Literal["inverse_income", "uniform"]
"""Pareto (welfare) weight of an income ``z``: ``1 / max(1, z)`` or 1."""

ELAS_DF = 0.98
"""Weight of the previous elasticity estimate in the running estimate (AIE's ``elas_df``)."""

_EPS = 1e-9
_MIN_REGRESSION_SAMPLES = 10
_MIN_RATE_STD = 1e-6


@struct.dataclass
class SaezState:
    """The Saez tax model's memory, which outlives episodes (AIE keeps it on the component)."""

    incomes: jax.Array
    """``(buffer_size,)`` ring buffer of incomes taxed on tax days (float32)."""
    marginal_rates: jax.Array
    """``(buffer_size,)`` the marginal rate each of those incomes was taxed at (float32)."""
    count: jax.Array
    """Samples stored so far, capped at ``buffer_size`` (int32)."""
    head: jax.Array
    """Ring position the next sample is written to (int32); the oldest sample once full."""
    elas_tm1: jax.Array
    """The previous elasticity estimate (AIE's ``elas_tm1``; 0.5 at first)."""
    elas_t: jax.Array
    """The current running elasticity estimate (AIE's ``elas_t``; 0.5 at first)."""
    log_z0_tm1: jax.Array
    """The previous regression intercept (AIE's ``log_z0_tm1``; 0 at first)."""
    log_z0_t: jax.Array
    """The latest regression intercept (AIE's ``log_z0_t``; 0 at first)."""
    running_avg_rates: jax.Array
    """``(n_brackets,)`` running average of the formula's bracket rates (zeros at first)."""


def saez_init(n_brackets: int = 7, buffer_size: int = 500) -> SaezState:
    """An empty buffer and AIE's initial trackers (elasticities 0.5, intercepts 0)."""
    f32 = jnp.float32
    return SaezState(
        incomes=jnp.zeros(buffer_size, f32),
        marginal_rates=jnp.zeros(buffer_size, f32),
        count=jnp.zeros((), jnp.int32),
        head=jnp.zeros((), jnp.int32),
        elas_tm1=jnp.asarray(0.5, f32),
        elas_t=jnp.asarray(0.5, f32),
        log_z0_tm1=jnp.zeros((), f32),
        log_z0_t=jnp.zeros((), f32),
        running_avg_rates=jnp.zeros(n_brackets, f32),
    )


def saez_add(state: SaezState, incomes: ArrayLike, marginal_rates: ArrayLike) -> SaezState:
    """Append one tax day's ``(n,)`` incomes and marginal rates (agents in index order).

    AIE's ``_update_saez_buffer``: sample ``k`` of the day follows sample ``k - 1``; beyond
    ``buffer_size`` samples the oldest are dropped (when ``n > buffer_size`` only the day's last
    ``buffer_size`` samples are kept).
    """
    incomes = jnp.asarray(incomes, jnp.float32).reshape(-1)
    rates = jnp.asarray(marginal_rates, jnp.float32).reshape(-1)
    size = state.incomes.shape[0]
    n = incomes.shape[0]
    keep = min(n, size)  # static: earlier samples of an oversized day would be overwritten
    pos = (state.head + (n - keep) + jnp.arange(keep)) % size
    return dataclasses.replace(
        state,
        incomes=state.incomes.at[pos].set(incomes[n - keep :]),
        marginal_rates=state.marginal_rates.at[pos].set(rates[n - keep :]),
        count=jnp.minimum(state.count + n, size).astype(jnp.int32),
        head=((state.head + n) % size).astype(jnp.int32),
    )


def saez_samples(state: SaezState) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The buffer oldest first: ``(incomes, marginal_rates, valid)``, each ``(buffer_size,)``.

    The first ``count`` entries are AIE's list in its order; ``valid`` marks them.
    """
    size = state.incomes.shape[0]
    order = (state.head - state.count + jnp.arange(size)) % size
    valid = jnp.arange(size) < state.count
    return state.incomes[order], state.marginal_rates[order], valid


def saez_reset_rates(state: SaezState) -> jax.Array:
    """The rates a new episode starts with: the running average (AIE's ``additional_reset_steps``).

    AIE caps them with the current ``rate_max`` when they are used.  Note that AIE computes the
    reset observation's ``curr_rates`` *before* this assignment (so it shows the previous
    episode's last rates), while the per-agent ``marginal_rate`` observations at reset already
    use these; the first step then replaces them by :func:`saez_period_rates`.
    """
    return state.running_avg_rates


# ----------------------------------------------------------------------------------------
# Binning
# ----------------------------------------------------------------------------------------


def saez_bin_edges(cutoffs: ArrayLike, n_bins: int = 100) -> np.ndarray:
    """The ``n_bins + 1`` float64 estimation-bin edges, ``linspace(0, cutoffs[-1], n_bins + 1)``."""
    top = float(np.asarray(cutoffs, np.float64)[-1])
    return np.linspace(0.0, top, n_bins + 1)


def _split(values: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """Float64 ``values`` as float32 ``head + tail`` (``head`` the nearest float32)."""
    head = values.astype(np.float32)
    tail = (values - head.astype(np.float64)).astype(np.float32)
    return jnp.asarray(head), jnp.asarray(tail)


def _geq(x: jax.Array, head: jax.Array, tail: jax.Array) -> jax.Array:
    """``x >= head + tail`` exactly, for float32 ``x`` (the sum taken in exact arithmetic)."""
    return (x > head) | ((x == head) & (tail <= 0))


def _leq(x: jax.Array, head: jax.Array, tail: jax.Array) -> jax.Array:
    """``x <= head + tail`` exactly, for float32 ``x``."""
    return (x < head) | ((x == head) & (tail >= 0))


def income_histogram(
    incomes: ArrayLike, cutoffs: ArrayLike, n_bins: int = 100, valid: ArrayLike | None = None
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``np.histogram`` of ``incomes`` over :func:`saez_bin_edges`, and who is below/above.

    Returns ``(counts, bin_index, below, above)``: ``counts`` ``(n_bins,)`` float32 (integer
    values), ``bin_index`` ``(n,)`` int32 (-1 outside ``[0, top]``), ``below`` (``z < 0``) and
    ``above`` (``z > top``) ``(n,)`` bool.  Bins are ``[e_i, e_{i+1})``, the last closed; NaN
    incomes and those not ``valid`` count nowhere.  Comparisons are exact against the float64
    edges.
    """
    x = jnp.asarray(incomes, jnp.float32)
    ok = jnp.ones(x.shape, bool) if valid is None else jnp.asarray(valid, bool)
    head, tail = _split(saez_bin_edges(cutoffs, n_bins))
    in_range = ok & _geq(x, head[0], tail[0]) & _leq(x, head[-1], tail[-1])
    below = ok & (x < 0)
    above = ok & ((x > head[-1]) | ((x == head[-1]) & (tail[-1] < 0)))
    index = _geq(x[:, None], head[1:-1], tail[1:-1]).sum(axis=1)
    index = jnp.where(in_range, index, -1).astype(jnp.int32)
    counts = (index[:, None] == jnp.arange(n_bins)).sum(axis=0).astype(jnp.float32)
    return counts, index, below, above


def _pareto_weight(z: jax.Array, kind: ParetoWeight) -> jax.Array:
    if kind == "inverse_income":
        return 1.0 / jnp.maximum(1.0, z)
    return jnp.ones_like(z)


def _rev_cumsum(x: jax.Array) -> jax.Array:
    """``out[i] = sum(x[i:])``."""
    return jnp.cumsum(x[::-1])[::-1]


def _binned_stats(
    incomes: ArrayLike,
    cutoffs: ArrayLike,
    pareto_weight: ParetoWeight,
    n_bins: int,
    valid: ArrayLike | None,
) -> tuple[jax.Array, jax.Array]:
    """``(1 - G, a)`` per bin; ``1 - G`` is computed without cancellation (see below)."""
    if pareto_weight not in ("inverse_income", "uniform"):
        raise ValueError(f"saez: pareto_weight {pareto_weight!r} is not inverse_income or uniform")
    x = jnp.asarray(incomes, jnp.float32)
    edges = saez_bin_edges(cutoffs, n_bins)
    mids = jnp.asarray(0.5 * (edges[:-1] + edges[1:]), jnp.float32)
    widths = jnp.asarray(edges[1:] - edges[:-1], jnp.float32)
    top_head, top_tail = _split(edges[-1:])

    counts, _, below, above = income_histogram(x, cutoffs, n_bins, valid)
    n_below = below.sum().astype(jnp.float32)
    n_above = above.sum().astype(jnp.float32)
    counts_ext = jnp.concatenate([counts, n_above[None]])  # the pseudo-bin above the top
    n_total = jnp.maximum(counts.sum() + n_below + n_above, 1.0)  # 1 guards an empty buffer

    # G at the bin edges: D / (P + eps), D the Pareto weight of incomes >= z over the total
    # weight (+ eps), P their share of all incomes.  With C, S the count and weight at or above
    # z and N_<, W_< those below it (incomes below 0 weigh 1 each), N = C + N_<, W = S + W_<:
    #   1 - D / (P + eps) = ((C W_< - S N_< + C eps) / (N (W + eps)) + eps) / (C / N + eps),
    # which keeps 1 - G accurate in float32 where G is close to 1.
    weight_above = jnp.where(above, _pareto_weight(x, pareto_weight), 0.0).sum()
    weight_ext = jnp.concatenate([counts * _pareto_weight(mids, pareto_weight), weight_above[None]])
    count_geq = _rev_cumsum(counts_ext)
    weight_geq = _rev_cumsum(weight_ext)
    count_lt = n_below + jnp.cumsum(counts_ext) - counts_ext
    weight_lt = n_below + jnp.cumsum(weight_ext) - weight_ext
    norm = weight_ext.sum() + n_below + _EPS
    excess = (count_geq * weight_lt - weight_geq * count_lt + count_geq * _EPS) / (n_total * norm)
    one_minus_ratio = (excess + _EPS) / (count_geq / n_total + _EPS)
    one_minus_g = jnp.concatenate(
        [0.5 * (one_minus_ratio[:-1] + one_minus_ratio[1:]), one_minus_ratio[-1:]]
    )

    # a: P(z' >= z_i) = 1 - P(z' <= z_i) + p_i / 2 = (count above bin i + count_i / 2) / N.
    p = counts / n_total
    p_geq = jnp.clip((count_geq[1:] + 0.5 * counts) / n_total, 0.0, 1.0)
    a_bins = jnp.where(counts > 0, mids * p / (p_geq + _EPS) / widths, jnp.nan)
    # Above the top: mean / (mean - top + 1e-9), with mean - top taken without cancellation.
    gap = jnp.where(above, x - top_head[0], 0.0).sum() / jnp.maximum(n_above, 1.0)
    a_above = jnp.where(n_above > 0, (top_head[0] + gap) / (gap - top_tail[0] + _EPS), 0.0)
    return one_minus_g, jnp.concatenate([a_bins, a_above[None]])


def saez_binned_params(
    incomes: ArrayLike,
    cutoffs: ArrayLike,
    pareto_weight: ParetoWeight = "inverse_income",
    n_bins: int = 100,
    valid: ArrayLike | None = None,
) -> tuple[jax.Array, jax.Array]:
    """``G`` and ``a`` per estimation bin, ``(n_bins + 1,)`` each, the last for incomes > top.

    AIE's ``get_binned_saez_welfare_weight_and_pareto_params``.  ``G``: the mean Pareto weight
    of incomes ``>= z`` over the mean of all (weights at bin midpoints, own values above the
    top, 1 below 0), averaged over each bin's two edges.  ``a``: the local Pareto parameter
    ``z p(z) / P(z' >= z)`` per unit of income, NaN for an empty bin (see the module notes).
    Incomes not ``valid`` are left out.
    """
    one_minus_g, a = _binned_stats(incomes, cutoffs, pareto_weight, n_bins, valid)
    return 1.0 - one_minus_g, a


# ----------------------------------------------------------------------------------------
# Rates
# ----------------------------------------------------------------------------------------


def fill_rate_gaps(taus: ArrayLike) -> jax.Array:
    """Fill NaN runs by linear interpolation between the real rates on either side.

    As AIE's loop in ``get_saez_marginal_rates``: a gap between real rates at ``j < k`` gets
    ``tau_j + (tau_k - tau_j) (i - j) / (k - j)``; a leading gap interpolates from 0.0 at index
    -1; a trailing gap stays NaN.
    """
    taus = jnp.asarray(taus, jnp.float32)
    n = taus.shape[0]
    idx = jnp.arange(n)
    real = ~jnp.isnan(taus)
    prev = jax.lax.cummax(jnp.where(real, idx, -1))
    nxt = jax.lax.cummin(jnp.where(real, idx, n), reverse=True)
    prev_rate = jnp.where(prev >= 0, taus[jnp.maximum(prev, 0)], 0.0)
    next_rate = taus[jnp.minimum(nxt, n - 1)]
    frac = (idx - prev) / jnp.maximum(nxt - prev, 1)
    filled = prev_rate + (next_rate - prev_rate) * frac
    return jnp.where(real, taus, jnp.where(nxt < n, filled, jnp.nan))


def saez_marginal_rates(
    g: ArrayLike, a: ArrayLike, elasticity: ArrayLike, interpolate: bool = True
) -> jax.Array:
    """Saez's rate per bin, ``(1 - G) / (1 - G + a e + 1e-9)``, gaps filled if ``interpolate``.

    AIE's ``get_saez_marginal_rates``; the last entry is the top rate.
    """
    return _formula(1.0 - jnp.asarray(g, jnp.float32), a, elasticity, interpolate)


def _formula(
    one_minus_g: jax.Array, a: ArrayLike, elasticity: ArrayLike, interpolate: bool
) -> jax.Array:
    a = jnp.asarray(a, jnp.float32)
    e = jnp.asarray(elasticity, jnp.float32)
    taus = one_minus_g / (one_minus_g + a * e + _EPS)
    return fill_rate_gaps(taus) if interpolate else taus


def bracketize(bin_rates: ArrayLike, cutoffs: ArrayLike, n_bins: int = 100) -> jax.Array:
    """Average the bin rates over each bracket, ``(n_brackets,)`` (AIE's ``bracketize_schedule``).

    Bracket ``b`` gets ``(T(c_{b+1}) - T(c_b)) / (c_{b+1} - c_b)`` with ``T(c)`` the tax due on
    income ``c`` under the bin rates, floored at 0; the top bracket takes the top rate.  When no
    ``T`` is negative this is a weighted mean of the bin rates, computed directly (weights in
    float64) to avoid float32 cancellation.
    """
    tau = jnp.asarray(bin_rates, jnp.float32)
    cut = np.asarray(cutoffs, np.float64)
    edges = saez_bin_edges(cut, n_bins)
    sizes = np.concatenate([edges[1:] - edges[:-1], [np.inf]])
    # lengths[b, j]: income of bin j below the cutoff c_{b+1}.
    lengths = np.minimum(sizes, np.maximum(0.0, cut[1:, None] - edges[None, :]))
    widths = cut[1:] - cut[:-1]
    weights = np.diff(lengths, axis=0, prepend=0.0) / widths[:, None]
    lengths = jnp.asarray(lengths, jnp.float32)
    due = jnp.maximum(0.0, (tau * lengths).sum(axis=1))
    floored = jnp.diff(due, prepend=0.0) / jnp.asarray(widths, jnp.float32)
    raw = (tau * lengths).sum(axis=1)
    direct = (tau * jnp.asarray(weights, jnp.float32)).sum(axis=1)
    rates = jnp.where(jnp.all(raw >= 0), direct, floored)
    return jnp.concatenate([rates, tau[-1:]])


# ----------------------------------------------------------------------------------------
# Elasticity
# ----------------------------------------------------------------------------------------


def estimate_elasticity(
    incomes: ArrayLike,
    marginal_rates: ArrayLike,
    elas_tm1: ArrayLike,
    log_z0_tm1: ArrayLike,
    elas_df: float = ELAS_DF,
    valid: ArrayLike | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Running elasticity and the latest intercept, AIE's ``estimate_uniform_income_elasticity``.

    Least squares of ``log max(z, 1e-9)`` on ``log max(1 - tau, 1e-9)`` and a constant over the
    samples with ``z > 0`` and ``tau < 1`` (and ``valid``).  Returns ``(elas_tm1, log_z0_tm1)``
    when fewer than 10 samples qualify or their rates' standard deviation is below ``1e-6``;
    else ``((1 - elas_df) max(slope, 0) + elas_df elas_tm1, intercept)``.
    """
    z = jnp.asarray(incomes, jnp.float32)
    tau = jnp.asarray(marginal_rates, jnp.float32)
    elas_tm1 = jnp.asarray(elas_tm1, jnp.float32)
    log_z0_tm1 = jnp.asarray(log_z0_tm1, jnp.float32)
    use = (z > 0) & (tau < 1)
    if valid is not None:
        use = use & jnp.asarray(valid, bool)
    n = use.sum()
    n_safe = jnp.maximum(n, 1).astype(jnp.float32)

    def mean(v: jax.Array) -> jax.Array:
        return jnp.where(use, v, 0.0).sum() / n_safe

    tau_used = jnp.where(use, tau, 0.0)
    rate_std = jnp.sqrt(mean((tau_used - mean(tau_used)) ** 2))
    # log(max(1 - tau, 1e-9)) as max(log1p(-tau), log 1e-9); masked first so no NaN leaks.
    x = jnp.maximum(jnp.log1p(-tau_used), np.log(_EPS).astype(np.float32))
    y = jnp.log(jnp.maximum(jnp.where(use, z, 1.0), _EPS))
    dx = x - mean(x)
    dy = y - mean(y)
    var_x = mean(dx * dx)
    slope = mean(dx * dy) / jnp.where(var_x > 0, var_x, 1.0)
    intercept = mean(y) - slope * mean(x)
    elas_t = (1.0 - elas_df) * jnp.maximum(slope, 0.0) + elas_df * elas_tm1
    skip = (n < _MIN_REGRESSION_SAMPLES) | (rate_std < _MIN_RATE_STD)
    return jnp.where(skip, elas_tm1, elas_t), jnp.where(skip, log_z0_tm1, intercept)


# ----------------------------------------------------------------------------------------
# One period
# ----------------------------------------------------------------------------------------


def saez_period_rates(
    key: jax.Array,
    state: SaezState,
    cutoffs: ArrayLike,
    rate_min: ArrayLike,
    rate_max: ArrayLike,
    fixed_elasticity: ArrayLike | None = 3.0,
    pareto_weight: ParetoWeight = "inverse_income",
    n_bins: int = 100,
) -> tuple[jax.Array, SaezState]:
    """This period's bracket rates and the updated state.

    AIE's ``compute_and_set_new_period_rates_from_saez_formula``.

    Args:
        key: draws the uniform rates used while the buffer is not yet full.
        state: the model's memory.
        cutoffs: ``(n_brackets,)`` concrete bracket lower edges in coin, the first 0.
        rate_min: lowest rate.
        rate_max: highest rate (the current, possibly annealed, maximum).
        fixed_elasticity: the elasticity used in the formula (the papers' 3.0), or ``None``
            for the running estimate (which is tracked either way).
        pareto_weight: ``"inverse_income"`` (``1 / max(1, z)``) or ``"uniform"``.
        n_bins: estimation bins over ``[0, cutoffs[-1]]``.

    Returns:
        ``(rates, state)``: rates ``(n_brackets,)`` in ``[rate_min, rate_max]``; a full buffer
        also shifts and updates the elasticity trackers and the running average.
    """
    n_brackets = state.running_avg_rates.shape[0]
    if np.asarray(cutoffs).shape != (n_brackets,):
        raise ValueError(f"saez: {n_brackets} brackets but cutoffs {np.asarray(cutoffs)}")
    rate_min = jnp.asarray(rate_min, jnp.float32)
    rate_max = jnp.asarray(rate_max, jnp.float32)
    random_rates = jax.random.uniform(key, (n_brackets,), jnp.float32, rate_min, rate_max)

    # Ring positions written so far (all once full); the order of samples does not matter below.
    valid = jnp.arange(state.incomes.shape[0]) < state.count
    elas_tm1, log_z0_tm1 = state.elas_t, state.log_z0_t
    elas_t, log_z0_t = estimate_elasticity(
        state.incomes, state.marginal_rates, elas_tm1, log_z0_tm1, valid=valid
    )
    elasticity = elas_t if fixed_elasticity is None else fixed_elasticity
    one_minus_g, a = _binned_stats(state.incomes, cutoffs, pareto_weight, n_bins, valid)
    taus = _formula(one_minus_g, a, elasticity, interpolate=True)
    rates = jnp.clip(bracketize(taus, cutoffs, n_bins), rate_min, rate_max)

    full = state.count >= state.incomes.shape[0]
    updated = dataclasses.replace(
        state,
        elas_tm1=elas_tm1,
        elas_t=elas_t,
        log_z0_tm1=log_z0_tm1,
        log_z0_t=log_z0_t,
        running_avg_rates=0.99 * state.running_avg_rates + 0.01 * rates,
    )
    new_state = jax.tree_util.tree_map(lambda u, s: jnp.where(full, u, s), updated, state)
    return jnp.where(full, rates, random_rates), new_state

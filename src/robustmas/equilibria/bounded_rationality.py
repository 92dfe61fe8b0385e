"""How large an eps covers boundedly rational agents: Proposition 1 of the robust-principal paper.

Zhao, Trott, Xiong, Zheng, *Learning to Play General-Sum Games Against Multiple Boundedly
Rational Agents*, AAAI 2023 (arXiv:2106.05492), Sec. 4, Proposition 1: agents that violate

1. *subjective rationality*: they maximise a utility ``u~_i`` with
   ``||u_i - u~_i||_inf <= gamma_s``;
2. *procedural rationality*: they could gain up to ``gamma_p`` by deviating unilaterally;
3. *myopia / commitment*: they discount the future with ``gamma_m`` in ``(0, 1)``;

play inside the eps-CCE set of the anticipated utilities ``u_i`` for a large enough ``eps_i``.
The paper prints ``eps_i = max{||u_i||_inf / (1 - gamma_m), gamma_s, 2 gamma_p}``.

:func:`prop1_epsilon` returns it as printed (spec D29: "implement it as printed") and, with
``form="derived"``, the bound the proof's middle step gives (an eps-CCE is a CCE under utility
perturbations of up to eps / 2), ``max{2 gamma_m ||u_i||_inf / (1 - gamma_m), 2 gamma_s,
gamma_p}``:

* a CCE of ``u~`` is a ``2 gamma_s``-CCE of ``u`` (``u(x) >= u~(x) - gamma_s >= u~(dev) -
  gamma_s >= u(dev) - 2 gamma_s``), and the factor 2 is tight
  (``tests/test_bounded_rationality.py`` builds the game where the printed ``gamma_s`` falls
  short);
* an agent that gains at most ``gamma_p`` by deviating is a ``gamma_p``-CCE by definition;
* a far-sighted agent maximises ``u_i`` plus a discounted future worth at most ``M = sum_{t >=
  1} gamma_m^t ||u_i||_inf = gamma_m ||u_i||_inf / (1 - gamma_m)``: a perturbation of up to
  ``M``, hence ``2 M`` by the first point.  The printed ``||u_i||_inf / (1 - gamma_m)`` does not
  vanish as ``gamma_m -> 0`` (spec D29 guessed ``M``; the perturbation argument doubles it).

So the printed formula swaps the factor 2 between the subjective and the procedural term (its
closing sentence repeats the printed assignment; its middle step gives the one above). The
maximum covers agents that each violate one assumption, as the paper's maximum does; an agent
that violates several at once needs the sum of its terms (``combine="sum"``).  Use
``form="derived"`` to choose an eps that provably covers such agents; ``printed`` reproduces
the paper's numbers.  The experiments do not call this (D29).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["prop1_epsilon", "utility_sup_norm"]


def utility_sup_norm(payoffs: np.ndarray, player: int) -> float:
    """``||u_i||_inf``: the largest absolute payoff of ``player`` in a payoff tensor.

    Args:
        payoffs: ``(players, m_0, ..., m_{n-1})`` payoff tensor (``payoffs[i]`` is ``u_i``).
        player: index into the first axis.
    """
    u = np.asarray(payoffs, dtype=np.float64)
    if u.ndim < 2 or not 0 <= player < u.shape[0]:
        raise ValueError(
            f"payoffs / player: need a (players, m_0, ...) tensor and 0 <= player < players; got "
            f"shape {u.shape} and player {player}"
        )
    if not np.isfinite(u[player]).all():
        raise ValueError(f"payoffs: player {player}'s payoffs must be finite")
    return float(np.abs(u[player]).max())


def prop1_epsilon(
    u_sup: float | np.ndarray,
    *,
    gamma_s: float | np.ndarray = 0.0,
    gamma_p: float | np.ndarray = 0.0,
    gamma_m: float | np.ndarray | None = None,
    form: Literal["printed", "derived"] = "printed",
    combine: Literal["max", "sum"] = "max",
) -> float | np.ndarray:
    """The eps of Proposition 1 for agents with the given violations (per agent if arrays).

    Args:
        u_sup: ``||u_i||_inf``, the largest absolute anticipated utility (see
            :func:`utility_sup_norm`); >= 0.
        gamma_s: subjective rationality, the largest utility error ``||u_i - u~_i||_inf``; >= 0.
        gamma_p: procedural rationality, the largest unilateral gain left; >= 0.
        gamma_m: myopia / commitment, the agents' discount factor in ``[0, 1)``; ``None`` (the
            default) for myopic agents, which adds no term.
        form: ``printed`` (the paper's ``max{||u||/(1-gamma_m), gamma_s, 2 gamma_p}``) or
            ``derived`` (``max{2 gamma_m ||u||/(1-gamma_m), 2 gamma_s, gamma_p}``; see the
            module docstring).
        combine: ``max`` (the paper's: each agent violates one assumption) or ``sum`` (an agent
            may violate several at once; its regret bounds add up).

    Returns:
        ``eps_i``, a float for scalar arguments, else an array broadcast over them.

    Raises:
        ValueError: a negative or non-finite argument, ``gamma_m`` outside ``[0, 1)`` or an
            unknown ``form`` or ``combine``.
    """
    if form not in ("printed", "derived"):
        raise ValueError(f"form: expected 'printed' or 'derived', got {form!r}")
    if combine not in ("max", "sum"):
        raise ValueError(f"combine: expected 'max' or 'sum', got {combine!r}")
    named = {"u_sup": u_sup, "gamma_s": gamma_s, "gamma_p": gamma_p}
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in named.items()}
    for name, value in arrays.items():
        if not (np.isfinite(value).all() and (value >= 0).all()):
            raise ValueError(f"{name}: must be finite and >= 0, got {named[name]!r}")
    u, gs, gp = arrays["u_sup"], arrays["gamma_s"], arrays["gamma_p"]
    if form == "printed":
        terms = [gs, 2.0 * gp]
    else:
        terms = [2.0 * gs, gp]
    if gamma_m is not None:
        gm = np.asarray(gamma_m, dtype=np.float64)
        if not (np.isfinite(gm).all() and (gm >= 0).all() and (gm < 1).all()):
            raise ValueError(f"gamma_m: must lie in [0, 1) (a discount factor), got {gamma_m!r}")
        terms.append(u / (1.0 - gm) if form == "printed" else 2.0 * gm * u / (1.0 - gm))
    terms = np.broadcast_arrays(*terms, u * 0.0)
    eps = np.maximum.reduce(terms) if combine == "max" else np.add.reduce(terms)
    return float(eps) if eps.ndim == 0 else eps

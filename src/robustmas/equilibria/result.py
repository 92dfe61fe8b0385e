"""The one result type of every extreme eps-CCE solver.

The exact LP (:func:`robustmas.equilibria.lp.extreme_cce`, Eq. 7 of the robust-principal
paper), Algorithm 2 (:func:`robustmas.equilibria.approachability.extreme_cce`, Blackwell
approachability) and Algorithm 1 (:func:`robustmas.equilibria.lagrangian.extreme_cce`, the
Lagrangian sampler) all answer "which eps-CCE is worst (or best) for the principal?" and return a
:class:`CCEResult`, so a caller prints or stores any of them the same way.  What only one
algorithm has (the approachability target and its product mixture, the Lagrangian multipliers
and trace) sits in :attr:`CCEResult.details`.

A result either holds a distribution (``status == "optimal"``, :attr:`CCEResult.ok`) or it does
not (infeasible, unbounded, solver failure): then ``distribution`` and ``regrets`` are ``None``
and ``value`` is NaN, which :class:`CCEResult` enforces on construction, so an infeasible LP can
never pass for a solution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

import numpy as np

__all__ = ["CCEResult", "CCEStatus"]


class CCEStatus(StrEnum):
    """Outcome of an extreme eps-CCE computation (compares equal to its string value)."""

    OPTIMAL = "optimal"
    """A distribution was found: the LP's optimum, or a sampler's answer (a sampler does not
    certify optimality; its regrets are exact)."""
    INFEASIBLE = "infeasible"
    """No eps-CCE exists (possible only with a negative eps)."""
    UNBOUNDED = "unbounded"
    """The LP is unbounded (cannot happen for a proper game; reported, never raised)."""
    ITERATION_LIMIT = "iteration_limit"
    """The LP solver stopped at its iteration limit."""
    NUMERICAL_ERROR = "numerical_error"
    """The LP solver hit numerical trouble."""
    FAILED = "failed"
    """A sampler found no distribution (approachability approached no target)."""


Details = TypeVar("Details", covariant=True)
"""Type of the algorithm-specific :attr:`CCEResult.details` (``None`` for the LP)."""


@dataclass(frozen=True)
class CCEResult(Generic[Details]):
    """Outcome of an extreme eps-CCE computation, whatever solver produced it.

    Construct with ``status`` as a :class:`CCEStatus` or its string value; a result that is not
    ``"optimal"`` must carry no distribution and no regrets (``ValueError`` otherwise).
    """

    status: CCEStatus
    """``"optimal"`` when a distribution was found; otherwise why not."""
    value: float
    """Principal's expected payoff ``u_0(x)`` (NaN unless a distribution was found)."""
    distribution: np.ndarray | None
    """Joint distribution over follower actions, shape ``(m_1, ..., m_N)``; ``None`` without a
    solution, and for approachability on games too large for a dense tensor (the product mixture
    is then in ``details``)."""
    regrets: np.ndarray | None
    """Exact CCE regret of every follower under the distribution, shape ``(N,)``."""
    epsilon: np.ndarray
    """Per-agent slack used, shape ``(N,)``."""
    sense: str
    """``"worst"`` (minimise the principal's payoff) or ``"best"``."""
    method: str = "lp"
    """Which solver produced it: ``"lp"``, ``"approachability"`` or ``"lagrangian"``."""
    message: str = ""
    """Solver message, or a one-line summary of the algorithm's run."""
    details: Details = field(default=cast(Any, None))
    """Algorithm-specific data (:class:`~robustmas.equilibria.approachability.
    ApproachabilityDetails`, :class:`~robustmas.equilibria.lagrangian.LagrangianDetails`);
    ``None`` for the LP."""

    def __post_init__(self) -> None:
        try:
            status = CCEStatus(self.status)
        except ValueError:
            known = ", ".join(s.value for s in CCEStatus)
            raise ValueError(f"status: expected one of {known}, got {self.status!r}") from None
        object.__setattr__(self, "status", status)
        if status is CCEStatus.OPTIMAL:
            if self.regrets is None or not math.isfinite(self.value):
                raise ValueError(
                    "CCEResult: an optimal result needs regrets and a finite value, got "
                    f"regrets={self.regrets!r}, value={self.value!r}"
                )
        elif not (self.distribution is None and self.regrets is None and math.isnan(self.value)):
            raise ValueError(
                f"CCEResult: a {status.value!r} result must carry no distribution, no regrets "
                "and a NaN value"
            )

    @property
    def ok(self) -> bool:
        """Whether an eps-CCE was found (``status == "optimal"``)."""
        return self.status is CCEStatus.OPTIMAL

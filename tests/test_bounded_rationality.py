"""Proposition 1's eps (robust-principal paper): the printed formula and the derived one."""

from __future__ import annotations

import numpy as np
import pytest

from robustmas.equilibria.bounded_rationality import prop1_epsilon, utility_sup_norm
from robustmas.equilibria.lp import worst_case_cce
from robustmas.equilibria.regret import cce_regrets
from robustmas.games.normal_form import NormalFormGame


def test_printed_and_derived_values() -> None:
    assert prop1_epsilon(2.0, gamma_s=0.3, gamma_p=0.1) == pytest.approx(0.3)
    assert prop1_epsilon(2.0, gamma_s=0.3, gamma_p=0.1, form="derived") == pytest.approx(0.6)
    assert prop1_epsilon(2.0, gamma_p=0.4) == pytest.approx(0.8)
    assert prop1_epsilon(2.0, gamma_p=0.4, form="derived") == pytest.approx(0.4)
    # Myopia: the printed term does not vanish as gamma_m -> 0, the derived one does.
    assert prop1_epsilon(2.0, gamma_m=0.5) == pytest.approx(4.0)
    assert prop1_epsilon(2.0, gamma_m=0.5, form="derived") == pytest.approx(4.0)
    # An agent with several violations at once: the bounds add up.
    both = prop1_epsilon(2.0, gamma_s=0.3, gamma_p=0.1, form="derived", combine="sum")
    assert both == pytest.approx(0.7)
    assert prop1_epsilon(2.0, gamma_m=0.0) == pytest.approx(2.0)
    assert prop1_epsilon(2.0, gamma_m=0.0, form="derived") == 0.0
    assert prop1_epsilon(2.0) == 0.0  # a rational, myopic agent: the CCE itself
    per_agent = prop1_epsilon(np.array([1.0, 3.0]), gamma_s=np.array([0.5, 0.0]), form="derived")
    np.testing.assert_allclose(per_agent, [1.0, 0.0])


def test_sup_norm() -> None:
    payoffs = np.array([[[1.0, -4.0], [2.0, 0.5]], [[0.0, 3.0], [-1.0, 1.0]]])
    assert utility_sup_norm(payoffs, 0) == 4.0
    assert utility_sup_norm(payoffs, 1) == 3.0
    with pytest.raises(ValueError, match="player"):
        utility_sup_norm(payoffs, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"u_sup": -1.0}, "u_sup"),
        ({"u_sup": 1.0, "gamma_s": float("nan")}, "gamma_s"),
        ({"u_sup": 1.0, "gamma_p": -0.1}, "gamma_p"),
        ({"u_sup": 1.0, "gamma_m": 1.0}, "gamma_m"),
        ({"u_sup": 1.0, "form": "intended"}, "form"),
        ({"u_sup": 1.0, "combine": "min"}, "combine"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        prop1_epsilon(**kwargs)


def test_subjective_agents_need_twice_gamma_s() -> None:
    """A CCE of a utility within gamma_s of u is a 2 gamma_s-CCE of u, and 2 is needed."""
    rng = np.random.default_rng(0)
    gamma_s = 0.1
    worst = 0.0
    for _ in range(20):
        u = rng.uniform(-1, 1, size=(3, 3, 3, 3))
        principal = rng.uniform(-1, 1, size=(3, 3, 3))
        u_tilde = u + rng.uniform(-gamma_s, gamma_s, size=u.shape)
        x = worst_case_cce(NormalFormGame(u_tilde, principal), 0.0)
        regret = cce_regrets(NormalFormGame(u, principal), x.distribution).max()
        eps = prop1_epsilon(utility_sup_norm(u, 0), gamma_s=gamma_s, form="derived")
        assert regret <= eps + 1e-9
        worst = max(worst, regret)
        # Containment, seen through the LP: u's worst eps-CCE is at most u~'s worst CCE.
        assert worst_case_cce(NormalFormGame(u, principal), eps).value <= x.value + 1e-9
        # Subjective and procedural at once: a gamma_p-CCE of u~ needs the sum of the bounds.
        both = worst_case_cce(NormalFormGame(u_tilde, principal), 0.05)
        summed = prop1_epsilon(1.0, gamma_s=gamma_s, gamma_p=0.05, form="derived", combine="sum")
        assert cce_regrets(NormalFormGame(u, principal), both.distribution).max() <= summed + 1e-9
    assert worst > gamma_s  # random games already exceed the printed gamma_s

    # The tight case: one agent, u = (0, 2 gamma_s), u~ = (gamma_s, gamma_s): playing action 0
    # is a CCE of u~ with regret 2 gamma_s under u, outside the printed gamma_s-CCE set.
    u = np.array([[0.0, 2 * gamma_s]])
    principal = np.array([0.0, 1.0])
    u_tilde = np.array([[gamma_s, gamma_s]])
    x = worst_case_cce(NormalFormGame(u_tilde, principal), 0.0)
    assert x.value == pytest.approx(0.0)
    assert cce_regrets(NormalFormGame(u, principal), x.distribution)[0] == pytest.approx(
        2 * gamma_s
    )
    printed = prop1_epsilon(0.2, gamma_s=gamma_s)
    assert worst_case_cce(NormalFormGame(u, principal), printed).value == pytest.approx(0.5)
    derived = prop1_epsilon(0.2, gamma_s=gamma_s, form="derived")
    assert worst_case_cce(NormalFormGame(u, principal), derived).value == pytest.approx(0.0)

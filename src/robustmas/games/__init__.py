"""Games as immutable data: normal-form, principal, Bayesian and congestion games."""

from robustmas.games.bayesian import BayesianGame
from robustmas.games.congestion import LinearCongestionGame
from robustmas.games.normal_form import NormalFormGame, PrincipalGame

__all__ = ["BayesianGame", "LinearCongestionGame", "NormalFormGame", "PrincipalGame"]

"""The AI Economist's gather-trade-build economy in JAX (issue 13; spec Sec. 5).

:class:`GatherTradeBuild` is the economy with four agents and a tax planner
(:mod:`~robustmas.envs.economy.env`); its parts are the map (:mod:`.layout`), the market
(:mod:`.market`), the taxes (:mod:`.tax`, :mod:`.saez`) and the welfare measures
(:mod:`.social`).
"""

from robustmas.envs.economy.env import (
    AGENT_FEATURES,
    PLANNER_FEATURES,
    EconomyAction,
    EconomyNoise,
    EconomyObs,
    EconomyParams,
    EconomyState,
    GatherTradeBuild,
    TaxModel,
)

__all__ = [
    "AGENT_FEATURES",
    "PLANNER_FEATURES",
    "EconomyAction",
    "EconomyNoise",
    "EconomyObs",
    "EconomyParams",
    "EconomyState",
    "GatherTradeBuild",
    "TaxModel",
]

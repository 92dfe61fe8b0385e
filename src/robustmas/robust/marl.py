"""The papers' MARL baselines: a principal trained by plain multi-agent PPO against one agent type.

References: Zhao, Trott, Xiong, Zheng, AAAI 2023, arXiv:2106.05492 (RP), Sec. 6 and Fig. 3 (the
rows "MARL", "Adv (Q)", "RiskAv (eta)": a principal trained with agents of that type);
ERMAS (ICLR 2021 submission), Sec. 4.3: MARL at a training Q, domain randomisation (DR: the
agents' rewards plus ``U[-1, 1]`` redrawn between episodes) and risk robustness (RR: a concave
principal reward, "e.g. log r_p"); spec ``robust-principal-ermas.md`` Sec. 3.1-3.2.

Every player learns its own reward with PPO at the same time, the agents on their (perturbed)
rewards, the principal on its own (concave for RR) with the slow learning rate of RP Table 1.
Which baseline it is lives entirely in the environment parameters (agent types, noise, the
principal's risk transform are data in :class:`~robustmas.envs.grid_game.GridParams`), so every
baseline is one compiled program that ``vmap``-s over seeds and types.  The robust methods are
:mod:`robustmas.robust.adversarial_sampling` (Alg. 3, ERMAS).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from robustmas.envs.core import Environment
from robustmas.rl.optim import ppo_optimizer, scale_by_learner, with_learner_scale
from robustmas.rl.ppo import PPO, PPOConfig, RunnerState

__all__ = ["JointPPO"]


class JointPPO:
    """Agents and principal (the last player) learning their own rewards with PPO at once.

    Args:
        config: PPO of every learner (``parameter_sharing=False``: one parameter set per player,
            the principal's is a slice).
        env: the game (agents first, the principal last).
        env_params: default environment parameters.
        principal_lr_scale: the principal's learning rate relative to the agents'.

    ``init`` and ``run_updates`` are pure: ``jax.jit(jax.vmap(...))`` them over seeds and
    environment parameters (agent types).
    """

    def __init__(
        self,
        config: PPOConfig,
        env: Environment[Any, Any],
        env_params: Any = None,
        *,
        principal_lr_scale: float = 0.2,
    ) -> None:
        if config.parameter_sharing:
            raise ValueError("config.parameter_sharing: must be False (the principal is a slice)")
        if not principal_lr_scale >= 0:
            raise ValueError(f"principal_lr_scale: must be >= 0, got {principal_lr_scale}")
        optimizer = ppo_optimizer(config, scale_by_learner())
        self.trainer = PPO(config, env, env_params, optimizer=optimizer)
        """The learners' PPO (per-learner learning-rate factors)."""
        players = self.trainer.num_agents
        if players < 2:
            raise ValueError(f"env.num_agents: need an agent and the principal, got {players}")
        self.lr_scale = jnp.ones((players,), jnp.float32).at[-1].set(principal_lr_scale)
        """Learning-rate factor per learner."""

    def init(self, key: jax.Array, env_params: Any = None) -> RunnerState:
        """Fresh learners on ``env_params`` (the constructor's if ``None``)."""
        runner = self.trainer.init(key, None, None, env_params)
        return dataclasses.replace(
            runner, opt_state=with_learner_scale(runner.opt_state, self.lr_scale)
        )

    def run_updates(self, runner: RunnerState, n: int) -> tuple[RunnerState, dict[str, jax.Array]]:
        """``n`` PPO updates (static) in one ``lax.scan``; metrics with a leading update axis."""
        return jax.lax.scan(lambda r, _: self.trainer.update(r), runner, None, length=n)

"""The learning core: networks, GAE, PPO / IPPO / MAPPO trainers and checkpoints.

Main entry points: :class:`~robustmas.rl.ppo.PPOConfig`, :class:`~robustmas.rl.ppo.PPO` (``init``
/ ``update_chunk`` / ``train`` / ``evaluate``), :func:`~robustmas.rl.ppo.make_train`,
:func:`~robustmas.rl.gae.gae` and :func:`~robustmas.rl.checkpoint.save_checkpoint` /
:func:`~robustmas.rl.checkpoint.load_checkpoint`.
"""

from robustmas.rl.checkpoint import load_checkpoint, load_sidecar, save_checkpoint
from robustmas.rl.gae import gae, gae_numpy
from robustmas.rl.networks import (
    Actor,
    Critic,
    RecurrentActor,
    RecurrentCritic,
    env_action,
    greedy_action,
    initial_carry,
    sample_action,
)
from robustmas.rl.ppo import (
    AGENT_METRIC_NAMES,
    METRIC_NAMES,
    PPO,
    ActorCriticParams,
    LossTerms,
    PPOConfig,
    RecurrentCarry,
    RunnerState,
    StepData,
    TrainOutput,
    make_train,
    ppo_loss,
)

__all__ = [
    "AGENT_METRIC_NAMES",
    "METRIC_NAMES",
    "PPO",
    "Actor",
    "ActorCriticParams",
    "Critic",
    "LossTerms",
    "PPOConfig",
    "RecurrentActor",
    "RecurrentCarry",
    "RecurrentCritic",
    "RunnerState",
    "StepData",
    "TrainOutput",
    "env_action",
    "gae",
    "gae_numpy",
    "greedy_action",
    "initial_carry",
    "load_checkpoint",
    "load_sidecar",
    "make_train",
    "ppo_loss",
    "sample_action",
    "save_checkpoint",
]

"""The learning core: networks, GAE, PPO / IPPO / MAPPO trainers and checkpoints.

* :mod:`~robustmas.rl.ppo` -- PPO itself (rollout, GAE, loss, epochs): :class:`PPO` (``init`` /
  ``update`` / ``train`` / ``evaluate``), :func:`make_train`; config in :mod:`~robustmas.rl.config`;
* :mod:`~robustmas.rl.policy` -- the :class:`~robustmas.rl.policy.ActorCritic` protocol PPO acts
  through, and MLP networks; :mod:`~robustmas.rl.recurrent` -- GRU / LSTM networks (sequence
  minibatches, replay); :mod:`~robustmas.rl.multiagent` -- IPPO / MAPPO adaptors (shared or
  separate parameters, frozen agents);
* :mod:`~robustmas.rl.loop` -- :func:`run_updates`: chunks of updates, evaluation every k updates
  on a global schedule, masking;
* :mod:`~robustmas.rl.gae`, :mod:`~robustmas.rl.networks`, :mod:`~robustmas.rl.checkpoint`.
"""

from robustmas.rl.checkpoint import load_checkpoint, load_sidecar, save_checkpoint
from robustmas.rl.gae import gae, gae_numpy
from robustmas.rl.loop import run_updates
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
    "run_updates",
    "sample_action",
    "save_checkpoint",
]

"""Hyperparameters of :class:`~robustmas.rl.ppo.PPO`: a frozen dataclass, a docstring per field."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from robustmas.rl.networks import ACTIVATIONS, RECURRENT_CELLS

__all__ = ["PPOConfig"]


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of :class:`PPO`; defaults follow CleanRL / PureJaxRL."""

    lr: float = 2.5e-4
    """Adam learning rate (initial value when ``anneal_lr``)."""
    num_envs: int = 4
    """Parallel environments per seed."""
    num_steps: int = 128
    """Steps per environment in each rollout."""
    total_timesteps: int = 500_000
    """Environment steps per seed over the whole run (rounded down to whole updates)."""
    update_epochs: int = 4
    """Passes over each rollout batch."""
    num_minibatches: int = 4
    """Minibatches per epoch; must divide ``num_envs * num_steps``."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE mixing parameter."""
    clip_eps: float = 0.2
    """Clipping range of the probability ratio (and of the value update)."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    learner_ent_coef: tuple[float, ...] = ()
    """Entropy weight per agent of a multi-agent environment, overriding :attr:`ent_coef`
    (e.g. the AI Economist's planner at 0.1 beside its agents at 0.025); empty: ``ent_coef``
    for every agent."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0, stepwise once per update."""
    normalize_advantages: bool = True
    """Standardise advantages within each minibatch."""
    clip_value_loss: bool = True
    """Use the clipped value loss ``max((v - R)^2, (v_clip - R)^2)``."""
    actor_hidden: tuple[int, ...] = (64, 64)
    """Hidden-layer widths of the actor."""
    critic_hidden: tuple[int, ...] = (64, 64)
    """Hidden-layer widths of the critic."""
    activation: str = "tanh"
    """Hidden activation: ``"tanh"`` or ``"relu"``."""
    min_concentration: float = 1e-2
    """Floor of the Dirichlet concentrations of ``Simplex`` actions."""
    centralized_critic: bool = False
    """Critic input = ``env.critic_observation(state)`` instead of the actor's observation."""
    eval_every: int = 10
    """Updates between greedy evaluations (0 disables them)."""
    eval_episodes: int = 8
    """Episodes per greedy evaluation, run in parallel."""
    eval_max_steps: int = 1000
    """Step cap of an evaluation episode (returns of unfinished episodes are partial)."""
    progress: bool = False
    """Call the host progress callback after every update."""
    parameter_sharing: bool = True
    """Multi-agent environments only: one actor and one critic shared by all agents (the batch is
    environments x agents) if true, else separate parameters per agent (a leading agent axis on
    every parameter leaf, applied with ``jax.vmap``; each agent then has its own optimizer state,
    gradient clipping and minibatch permutation: independent learners)."""
    agent_id: bool = True
    """With parameter sharing (multi-agent only), append the one-hot agent index to the actor's
    and the critic's inputs so that the shared networks can tell the agents apart."""
    recurrent: str = "none"
    """``"none"`` (MLP actor and critic), ``"gru"`` or ``"lstm"`` (``torso -> cell -> head``
    actor and critic whose hidden state is carried across steps and reset at episode starts)."""
    recurrent_size: int = 64
    """Features of the recurrent cell (unused when ``recurrent == "none"``)."""
    conv_image: tuple[int, ...] = ()
    """``(channels, height, width)`` of an image laid out channel first in every observation
    right after the action mask (e.g. the economy agents' ``9 x 11 x 11`` map and index
    windows): convolution layers (:attr:`conv_features`) read it before the hidden layers, in
    the actor and in a non-centralised critic.  ``()``: plain MLPs."""
    conv_features: tuple[int, ...] = (16, 16)
    """Filters of each 3 x 3 convolution layer over :attr:`conv_image` (valid padding; the AI
    Economist's agents: two layers of 16)."""
    action_mask_size: int = 0
    """``Discrete`` / ``MultiDiscrete`` actions with an action mask: the first
    ``action_mask_size`` entries of every observation are the mask (1 allowed, 0 not: ``n``, or
    ``sum(nvec)`` for the components in order; e.g. the economy's agents and planner) and the
    actor gives masked choices no probability; the critic reads the mask as features.  0: no
    mask."""

    def __post_init__(self) -> None:
        positive_ints = (
            "num_envs",
            "num_steps",
            "total_timesteps",
            "update_epochs",
            "num_minibatches",
            "eval_episodes",
            "eval_max_steps",
            "recurrent_size",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"PPOConfig.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.action_mask_size, int) or self.action_mask_size < 0:
            raise ValueError(
                f"PPOConfig.action_mask_size must be an integer >= 0, got {self.action_mask_size!r}"
            )
        if self.conv_image:
            shape = self.conv_image
            if len(shape) != 3 or any(not isinstance(d, int) or d < 1 for d in shape):
                raise ValueError(
                    "PPOConfig.conv_image must be (channels, height, width) of positive "
                    f"integers or (), got {shape!r}"
                )
            if not self.conv_features or any(f < 1 for f in self.conv_features):
                raise ValueError(
                    "PPOConfig.conv_features: give one positive filter count per convolution "
                    f"layer, got {self.conv_features!r}"
                )
            if min(shape[1:]) <= 2 * len(self.conv_features):
                raise ValueError(
                    f"PPOConfig.conv_image {shape}: {len(self.conv_features)} valid 3 x 3 "
                    "convolutions need height and width above "
                    f"{2 * len(self.conv_features)}; use fewer conv_features"
                )
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ValueError(f"PPOConfig.eval_every must be >= 0, got {self.eval_every!r}")
        for name in ("lr", "clip_eps", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if any(not c >= 0 for c in self.learner_ent_coef):
            raise ValueError(
                "PPOConfig.learner_ent_coef: every weight must be >= 0, got "
                f"{self.learner_ent_coef}"
            )
        for name in ("ent_coef", "vf_coef", "min_concentration"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"PPOConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"PPOConfig.{name} must lie in [0, 1], got {getattr(self, name)!r}"
                )
        for name in ("actor_hidden", "critic_hidden"):
            sizes = getattr(self, name)
            if not isinstance(sizes, tuple) or not all(
                isinstance(s, int) and s >= 1 for s in sizes
            ):
                raise ValueError(
                    f"PPOConfig.{name} must be a tuple of positive integers, got {sizes!r}"
                )
        for name in ("parameter_sharing", "agent_id", "anneal_lr", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"PPOConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.recurrent not in ("none", *RECURRENT_CELLS):
            raise ValueError(
                f"PPOConfig.recurrent must be one of {['none', *RECURRENT_CELLS]}, "
                f"got {self.recurrent!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"PPOConfig.activation must be one of {sorted(ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"PPOConfig.num_minibatches ({self.num_minibatches}) must divide "
                f"num_envs * num_steps ({self.batch_size})"
            )
        if self.total_timesteps < self.batch_size:
            raise ValueError(
                f"PPOConfig.total_timesteps ({self.total_timesteps}) must be at least "
                f"num_envs * num_steps ({self.batch_size})"
            )

    @property
    def batch_size(self) -> int:
        """Transitions per rollout: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in a full run: ``total_timesteps // batch_size``."""
        return self.total_timesteps // self.batch_size

    @property
    def minibatch_size(self) -> int:
        """Transitions per minibatch: ``batch_size // num_minibatches``."""
        return self.batch_size // self.num_minibatches

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary of the fields."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PPOConfig:
        """Inverse of :meth:`to_dict` (lists become tuples); unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown PPOConfig fields: {unknown}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)

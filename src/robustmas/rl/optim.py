"""PPO's optimizer, and per-learner learning-rate factors as data.

:func:`ppo_optimizer` is what :class:`~robustmas.rl.ppo.PPO` uses by default: global-norm
clipping, then Adam with the configured (optionally annealed) learning rate.
:func:`scale_by_learner` appended to it keeps a factor on the updates in the optimizer state;
with separate per-agent parameters (:class:`~robustmas.rl.multiagent.SeparateParameters`) that
state exists once per agent, so :func:`with_learner_scale` sets a learning rate per learner
without recompiling -- e.g. a principal trained "with a slow learning rate" beside its agents
(Zhao, Trott, Xiong, Zheng, AAAI 2023, arXiv:2106.05492, Alg. 3 and Table 1).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from robustmas.rl.config import PPOConfig

__all__ = [
    "LearnerScaleState",
    "learning_rate",
    "ppo_optimizer",
    "scale_by_learner",
    "with_learner_scale",
]


def learning_rate(config: PPOConfig) -> float | optax.Schedule:
    """``config.lr``, or its linear decay to 0 over ``num_updates`` with ``anneal_lr``."""
    if not config.anneal_lr:
        return config.lr
    steps_per_update = config.update_epochs * config.num_minibatches

    def schedule(count: Any) -> Any:
        done_updates = count // steps_per_update
        return config.lr * jnp.maximum(1.0 - done_updates / config.num_updates, 0.0)

    return schedule


def ppo_optimizer(
    config: PPOConfig, *extra: optax.GradientTransformation
) -> optax.GradientTransformation:
    """Global-norm clipping then Adam (:func:`learning_rate`), then ``extra`` transformations."""
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(learning_rate(config), eps=1e-5),
        *extra,
    )


class LearnerScaleState(NamedTuple):
    """State of :func:`scale_by_learner`: the factor on this learner's updates."""

    scale: jax.Array
    """Scalar (one per learner once the state is ``vmap``-ed over separate parameters)."""


def scale_by_learner() -> optax.GradientTransformation:
    """Multiply updates by a factor kept in the optimizer state (1 at init).

    With separate per-agent parameters every agent has its own state, so
    :func:`with_learner_scale` gives each learner its own learning-rate factor as data (e.g. the
    robust-principal paper's slow principal, Table 1: lr 0.0006 against the agents' 0.003).
    """

    def init(params: Any) -> LearnerScaleState:
        del params
        return LearnerScaleState(jnp.float32(1.0))

    def update(updates: Any, state: LearnerScaleState, params: Any = None) -> tuple[Any, Any]:
        del params
        return jax.tree_util.tree_map(lambda u: u * state.scale, updates), state

    return optax.GradientTransformation(init, update)  # pyright: ignore[reportArgumentType]


def with_learner_scale(opt_state: Any, scale: ArrayLike) -> Any:
    """``opt_state`` with every :class:`LearnerScaleState` factor set to ``scale``.

    For separate per-agent parameters ``scale`` has shape ``(num_agents,)``.
    """
    return jax.tree_util.tree_map(
        lambda s: (
            LearnerScaleState(jnp.broadcast_to(jnp.asarray(scale, jnp.float32), s.scale.shape))
            if isinstance(s, LearnerScaleState)
            else s
        ),
        opt_state,
        is_leaf=lambda s: isinstance(s, LearnerScaleState),
    )

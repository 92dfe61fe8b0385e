"""PPO's loss and its minibatch epochs, shared by every PPO-based trainer.

Schulman et al., 2017, *Proximal Policy Optimization Algorithms*, arXiv:1707.06347: the clipped
surrogate (Eq. 7) and the combined actor-critic loss with entropy bonus (Eq. 9).
:func:`ppo_epochs` runs the epochs of minibatch gradient steps on one parameter set;
:class:`~robustmas.rl.ppo.PPO` vmaps it over learners, and so does
:class:`~robustmas.robust.art.ART` over its benign policies and adversaries.
:func:`select_learners` keeps the updates of the learners that may learn.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from robustmas.rl.config import PPOConfig
from robustmas.rl.policy import ActorCritic, ActorCriticParams, Batch

__all__ = ["LossTerms", "expand_flags", "ppo_epochs", "ppo_loss", "select_learners"]


class LossTerms(NamedTuple):
    """Terms of the PPO loss (all scalars)."""

    total: jax.Array
    """``actor + vf_coef * value - ent_coef * entropy``."""
    actor: jax.Array
    """Clipped surrogate loss (to minimise)."""
    value: jax.Array
    """Value loss ``0.5 * mean(squared error)`` (clipped if configured)."""
    entropy: jax.Array
    """Mean policy entropy."""
    approx_kl: jax.Array
    """Estimate ``mean((r - 1) - log r)`` of ``KL(old || new)``."""
    clip_frac: jax.Array
    """Fraction of samples with ``|r - 1| > clip_eps``."""


def ppo_loss(
    log_prob: ArrayLike,
    old_log_prob: ArrayLike,
    advantages: ArrayLike,
    value: ArrayLike,
    old_value: ArrayLike,
    targets: ArrayLike,
    entropy: ArrayLike,
    *,
    clip_eps: float,
    vf_coef: float,
    ent_coef: float | ArrayLike,
    clip_value_loss: bool = True,
    normalize_advantages: bool = True,
    weight: ArrayLike | None = None,
) -> LossTerms:
    """The PPO loss on a minibatch of per-sample quantities.

    Args:
        log_prob: log-probabilities of the taken actions under the current policy, ``(B,)``.
        old_log_prob: the same under the rollout policy, ``(B,)``.
        advantages: advantage estimates, ``(B,)``.
        value: current value estimates, ``(B,)``.
        old_value: value estimates at rollout time, ``(B,)``.
        targets: value targets (returns), ``(B,)``.
        entropy: per-sample policy entropies, ``(B,)``.
        clip_eps: ratio (and value) clipping range.
        vf_coef: value-loss weight.
        ent_coef: entropy-bonus weight, a number or per-sample weights (the bonus is then the
            (weighted) mean of ``ent_coef x entropy``).
        clip_value_loss: clip the value update around ``old_value``.
        normalize_advantages: standardise ``advantages`` (mean 0, std 1, eps 1e-8).
        weight: optional non-negative sample weights, shape ``(B,)``; every mean (including the
            advantage mean and standard deviation) becomes the weighted mean
            ``sum(w x) / sum(w)`` (0 when all weights are 0).  With 0/1 weights the terms equal
            those of the unweighted loss on the selected samples; PPO uses them to drop frozen
            agents' transitions under parameter sharing.

    Any shape works for the per-sample inputs as long as all agree; means run over all entries.

    Returns:
        The :class:`LossTerms`; ``total`` is what is minimised.

    """
    log_prob, old_log_prob, advantages, value, old_value, targets, entropy = (
        jnp.asarray(x)
        for x in (log_prob, old_log_prob, advantages, value, old_value, targets, entropy)
    )
    w = None
    if weight is not None:
        w = jnp.asarray(weight, advantages.dtype)
        w_sum = w.sum()
        w = w / jnp.where(w_sum > 0, w_sum, 1.0)

    def mean(x: jax.Array) -> jax.Array:
        return x.mean() if w is None else jnp.sum(w * x)

    if normalize_advantages:
        if w is None:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        else:
            centred = advantages - mean(advantages)
            advantages = centred / (jnp.sqrt(mean(jnp.square(centred))) + 1e-8)
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    surrogate = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    actor_loss = -mean(jnp.minimum(surrogate, clipped))

    value_err = jnp.square(value - targets)
    if clip_value_loss:
        value_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        value_err = jnp.maximum(value_err, jnp.square(value_clipped - targets))
    value_loss = 0.5 * mean(value_err)

    entropy_mean = mean(entropy)
    if isinstance(ent_coef, float | int):
        bonus = ent_coef * entropy_mean
    else:
        bonus = mean(jnp.asarray(ent_coef, entropy.dtype) * entropy)
    total = actor_loss + vf_coef * value_loss - bonus
    return LossTerms(
        total=total,
        actor=actor_loss,
        value=value_loss,
        entropy=entropy_mean,
        approx_kl=mean((ratio - 1.0) - log_ratio),
        clip_frac=mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)),
    )


def ppo_epochs(
    config: PPOConfig,
    networks: ActorCritic,
    optimizer: optax.GradientTransformation,
    params: Any,
    opt_state: Any,
    batch: Batch,
    carry: Any,
    key: jax.Array,
) -> tuple[Any, Any, LossTerms]:
    """``config.update_epochs`` epochs of minibatch gradient steps on :func:`ppo_loss`.

    One parameter set of ``networks`` (a one-learner actor-critic, or an adaptor's inner
    networks inside its ``vmap``); ``batch`` leaves are ``(T, S, ...)`` for ``S`` parallel
    sequences, ``batch.weight`` optional per-sample weights; ``carry`` holds the recurrent
    carries before the rollout (``None`` for MLPs).  Returns the new parameters and optimizer
    state and the loss terms of every minibatch step, ``(update_epochs, num_minibatches)``.
    """

    def loss(params: ActorCriticParams, minibatch: Any) -> tuple[jax.Array, LossTerms]:
        mb, mb_carry = cast(tuple[Batch, Any], minibatch)
        log_prob, entropy, value = networks.evaluate_actions(params, mb, mb_carry)
        terms = ppo_loss(
            log_prob,
            mb.log_prob,
            mb.advantages,
            value,
            mb.value,
            mb.targets,
            entropy,
            clip_eps=config.clip_eps,
            vf_coef=config.vf_coef,
            ent_coef=config.ent_coef if mb.ent_coef is None else mb.ent_coef,
            clip_value_loss=config.clip_value_loss,
            normalize_advantages=config.normalize_advantages,
            weight=mb.weight,
        )
        return terms.total, terms

    grad_fn = jax.grad(loss, has_aux=True)

    # Optax types its pytrees as ArrayTree, which a flax struct is not: keep them as Any.
    def minibatch_step(c: tuple[Any, Any], mb: Any) -> tuple[tuple[Any, Any], LossTerms]:
        params, opt_state = c
        grads, terms = grad_fn(params, mb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), terms

    def epoch(c: tuple[Any, Any], epoch_key: jax.Array) -> tuple[tuple[Any, Any], LossTerms]:
        minibatches = networks.minibatches(batch, carry, epoch_key, config.num_minibatches)
        return jax.lax.scan(minibatch_step, c, minibatches)

    (params, opt_state), terms = jax.lax.scan(
        epoch, (params, opt_state), jax.random.split(key, config.update_epochs)
    )
    return params, opt_state, terms


def expand_flags(flags: jax.Array, like: jax.Array) -> jax.Array:
    """``flags`` with trailing unit axes so that it broadcasts against ``like``."""
    return jnp.reshape(flags, flags.shape + (1,) * (like.ndim - flags.ndim))


def select_learners(keep: jax.Array, new: Any, old: Any) -> Any:
    """Leafwise ``where(keep, new, old)``; ``keep`` broadcasts along the leading axes."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(expand_flags(keep, a), a, b), new, old)

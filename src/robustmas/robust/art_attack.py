"""Attack-time evaluation of ARNEQ agents: fresh adversaries against frozen benign policies.

Reference: Nika, Nöther, Singla, Radanović, TMLR, Sec. 5.3 (Table 1, Fig. 5); spec
``arneq-art.md`` Sec. 6 and decision 7.  After training, the benign policies are frozen and new
adversaries are trained *from scratch* against them with the same hyperparameters; the table
reports the victims' total (undiscounted) episode reward under the trained attack.

* :func:`attack_config` -- the trainer of one attack: Fixed-K with the given subset per victim,
  only the adversaries learning (``learners="adversaries"``), one independent PPO adversary per
  corrupted agent (decision 7), on ``-r_victim``;
* :func:`attack_choices` -- Spread's worst case runs over *all* victims and subsets: choice
  ``c`` gives every victim ``i`` the ``c``-th size-``m`` subset of the other agents, so
  ``C(n - 1, m)`` attack runs (each covering all ``n`` victims in their own worlds) cover every
  (victim, subset) pair;
* :func:`victim_returns` -- each victim's mean return under its trained attack;
* :func:`continuation_config` -- Fig. 5's convergence check: the adversaries fixed, only the
  chosen victim's benign policy continues to learn.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp

from robustmas.robust.art import ART, ARTConfig, ARTState

__all__ = ["attack_choices", "attack_config", "continuation_config", "victim_returns"]


def attack_choices(n: int, m: int) -> list[tuple[tuple[int, ...], ...]]:
    """Every victim's ``c``-th subset of ``m`` other agents, for ``c`` in ``0..C(n-1, m)-1``.

    Returns one per-victim subset tuple per choice (the ``subsets`` of :func:`attack_config`).
    """
    if not 1 <= m <= n - 1:
        raise ValueError(f"m: an attack corrupts 1..n-1 = 1..{n - 1} agents, got {m}")
    per_victim = [
        list(itertools.combinations([j for j in range(n) if j != i], m)) for i in range(n)
    ]
    return [tuple(per_victim[i][c] for i in range(n)) for c in range(len(per_victim[0]))]


def attack_config(
    config: ARTConfig,
    m: int,
    subsets: tuple[tuple[int, ...], ...],
    *,
    total_timesteps: int | None = None,
) -> ARTConfig:
    """The trainer of an attack by ``m`` agents on every victim (``subsets``: one per victim).

    The PPO numbers are the training run's (Sec. 5.3: "the same hyperparameters"), for
    ``total_timesteps`` steps (default: the training budget, decision 7).
    """
    ppo = config.ppo
    if total_timesteps is not None:
        ppo = dataclasses.replace(ppo, total_timesteps=total_timesteps)
    return dataclasses.replace(
        config,
        ppo=ppo,
        method="fixed",
        k=m,
        exact_k=True,
        subsets=subsets,
        learners="adversaries",
        all_benign_learn=False,
    )


def continuation_config(config: ARTConfig, total_timesteps: int) -> ARTConfig:
    """Fig. 5's continuation: the benign policies learn, the adversaries stay fixed.

    ``total_timesteps`` steps against the attack of ``config`` (an :func:`attack_config`);
    choose the continuing victim with ``ART.init(..., benign_trainable=...)``.
    """
    if config.method != "fixed":
        raise ValueError("continuation_config: expects an attack_config (method 'fixed')")
    ppo = dataclasses.replace(config.ppo, total_timesteps=total_timesteps)
    return dataclasses.replace(config, ppo=ppo, learners="benign")


def victim_returns(
    trainer: ART, state: ARTState, key: jax.Array, episodes: int, *, greedy: bool = False
) -> jax.Array:
    """Every victim's mean undiscounted return under ``state``'s attack, shape ``(n,)``.

    ``trainer`` is an attack's (:func:`attack_config`): victim ``i`` plays ``episodes``
    episodes with its subset's agents played by its trained adversaries.  Actions are sampled
    from the policies (the stochastic policies were trained and are deployed), or ``greedy``.
    """
    if trainer.num_subsets != 1:
        raise ValueError("victim_returns: the trainer must attack one subset per victim")
    masks = jnp.repeat(trainer.subsets, episodes, axis=1)
    returns = trainer.episode_returns(state, key, masks, greedy=greedy, discounted=False)
    return returns.mean(axis=1)

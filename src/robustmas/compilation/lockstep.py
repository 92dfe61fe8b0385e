"""Control flow that stays cheap under ``vmap``.

Under ``jax.vmap`` a ``lax.cond`` whose predicate is batched becomes a ``select``: *both*
branches run for every batch element.  Environments with an expensive, rarely taken branch (the
Stackelberg POMDP runs hundreds of no-regret rounds only on the last step of an episode) then pay
for that branch on every step.

:func:`lockstep_cond` has the semantics of ``lax.cond`` but, when batched, first asks whether
*any* element takes the expensive branch: if none does, only the cheap branch runs; otherwise
both run and are selected per element.  Environments whose copies move in lockstep (fixed
episode length, all reset together, as in a PPO rollout) therefore run the expensive branch only
on the steps where it is needed.  Nested ``vmap`` (seeds x environments) applies the rule again
at every level.  Results are identical to ``lax.cond``.

Restrictions: the branches must not close over traced values (pass them in ``operand``;
``custom_vmap`` rejects batched constants), and the result must not be differentiated
(``custom_vmap`` has no reverse-mode rule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

__all__ = ["lockstep_cond"]

Out = TypeVar("Out")


def lockstep_cond(
    pred: jax.Array,
    rare_fn: Callable[[Any], Out],
    common_fn: Callable[[Any], Out],
    operand: Any,
) -> Out:
    """``lax.cond(pred, rare_fn, common_fn, operand)``; batched, ``rare_fn`` runs only if needed.

    Args:
        pred: boolean scalar (per batch element under ``vmap``).
        rare_fn: the branch for ``pred`` true, assumed expensive.
        common_fn: the branch for ``pred`` false; same output structure, shapes and dtypes.
        operand: pytree handed to the branch.

    Returns:
        The taken branch's output.
    """

    @custom_vmap
    def cond(pred: jax.Array, operand: Any) -> Any:
        return jax.lax.cond(pred, rare_fn, common_fn, operand)

    @cond.def_vmap
    def _rule(
        axis_size: int, in_batched: list[Any], pred: jax.Array, operand: Any
    ) -> tuple[Any, Any]:
        pred_batched, operand_batched = in_batched
        # Unbatched operand leaves stay unbatched (in_axes None) rather than being broadcast:
        # less memory, and an earlier version that broadcast them returned wrong (shifted)
        # results on a 500 x 32 nested batch inside jit(vmap(jit(vmap(scan)))), at every XLA
        # optimisation level; root cause not found (tests/test_batching.py keeps that case).
        axes = jax.tree_util.tree_map(lambda b: 0 if b else None, operand_batched)
        rare = jax.vmap(rare_fn, in_axes=(axes,), axis_size=axis_size)
        common = jax.vmap(common_fn, in_axes=(axes,), axis_size=axis_size)
        if not pred_batched:
            out = jax.lax.cond(pred, rare, common, operand)
        else:
            # A recursive call: under an outer vmap the "any" is itself batched and handled alike.
            # Its branches close over nothing traced (custom_vmap forbids batched constants), so
            # the per-element predicate travels in the operand.
            out = lockstep_cond(
                jnp.any(pred), _select_both(rare, common), _drop_pred(common), (pred, operand)
            )
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return cond(pred, operand)


def _select_both(rare: Callable[[Any], Any], common: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def both(pred_and_operand: tuple[jax.Array, Any]) -> Any:
        pred, operand = pred_and_operand
        taken, other = rare(operand), common(operand)
        return jax.tree_util.tree_map(
            lambda a, b: jnp.where(jnp.reshape(pred, (-1,) + (1,) * (a.ndim - 1)), a, b),
            taken,
            other,
        )

    return both


def _drop_pred(common: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda pred_and_operand: common(pred_and_operand[1])

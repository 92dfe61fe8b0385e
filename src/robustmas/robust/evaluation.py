"""The papers' evaluation workflow: freeze the principal, train fresh agents per test type.

References: ERMAS (anonymous ICLR 2021 submission) Sec. 4.3 "Evaluation Workflow"; Zhao, Trott,
Xiong, Zheng, AAAI 2023, arXiv:2106.05492, Sec. 6 and App. B; spec ``robust-principal-ermas.md``
Sec. 3.2 and decisions D19, D20, D24.

For one trained principal (the last player's slice of separate per-learner parameters, as
:class:`~robustmas.robust.adversarial_sampling.AdversarialSampler` trains them):

1. **Freeze** it: it is never a learner (``trainable`` false) and its parameters are checked
   bit for bit after training (:func:`params_digest` before and after; a change raises).
2. For every **test type** (environment parameters with the agents' rewards perturbed, e.g.
   :func:`~robustmas.envs.grid_game.with_agent_types`) and every seed, train **new agents**
   with plain PPO on their (perturbed) rewards -- from scratch, or warm-started from given
   agent parameters (D24) -- all types x seeds in one ``vmap``.
3. Report the principal's mean undiscounted return over ``eval_episodes`` episodes of the
   **sampled** policies (the frozen principal still samples, as in the released code).

:func:`cross_table` stacks several principals (rows: training methods) against the test types
(columns): mean and standard error over seeds (D20), the per-seed values kept, and an optional
top-k seed selection on a separate validation column (D19).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from robustmas.envs.core import Environment
from robustmas.rl.ppo import PPO, PPOConfig

__all__ = [
    "CrossTable",
    "PrincipalChanged",
    "TypeEvaluation",
    "cross_table",
    "evaluate_principal",
    "evaluate_principals",
    "params_digest",
    "stack_types",
]


class PrincipalChanged(RuntimeError):
    """The frozen principal's parameters changed during evaluation (a bug, never expected)."""


def params_digest(tree: Any) -> str:
    """SHA-256 of a pytree's leaves (shapes, dtypes and bytes), for freeze checks."""
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        a = np.asarray(leaf)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def stack_types(params: Sequence[Any]) -> Any:
    """Environment parameters of several test types stacked on a leading axis."""
    if not params:
        raise ValueError("params: give at least one test type")
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *params)


@dataclass(frozen=True)
class TypeEvaluation:
    """One principal evaluated against every test type."""

    types: tuple[str, ...]
    """Test type names (columns)."""
    returns: np.ndarray
    """Principal's mean return per type and seed ``(types, seeds)``."""
    agent_returns: np.ndarray
    """The new agents' mean returns ``(types, seeds, N)`` (their perturbed rewards)."""
    digest: str
    """:func:`params_digest` of the principal, equal before and after (checked)."""
    agents: Any = None
    """The new agents' final actor parameters, leaves ``(types, seeds, players, ...)`` (the
    principal's slice included), with ``keep_agents``; else ``None``."""


def _principal(params: Any) -> Any:
    return jax.tree_util.tree_map(lambda x: x[-1], params)


def evaluate_principal(
    env: Environment[Any, Any],
    type_params: Any,
    type_names: Sequence[str],
    principal_params: Any,
    config: PPOConfig,
    *,
    seeds: int = 3,
    key: jax.Array | None = None,
    warm_start: Any = None,
    eval_episodes: int = 32,
) -> TypeEvaluation:
    """Freeze ``principal_params``, train new agents under each test type, score the principal.

    Args:
        env: the game (agents first, the principal last).
        type_params: environment parameters of the test types, stacked on a leading axis
            (:func:`stack_types`).
        type_names: a name per test type.
        principal_params: the principal's actor-critic (one slice of separate parameters:
            ``ActorCriticParams`` without the player axis).
        config: PPO of the new agents (``parameter_sharing=False``; ``total_timesteps`` sets
            their training length).
        seeds: new-agent seeds per type.
        key: PRNG key (``PRNGKey(0)`` if ``None``).
        warm_start: full parameters (with the player axis) to start the agents from, or
            ``None`` to train them from scratch (D24).
        eval_episodes: episodes of the final score.

    Raises:
        ValueError: mismatched type names, ``seeds < 1`` or a config that shares parameters.
        PrincipalChanged: the principal's parameters changed (never expected).
    """
    batch = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], principal_params)
    return evaluate_principals(
        env,
        type_params,
        type_names,
        batch,
        config,
        seeds=seeds,
        key=key,
        warm_start=warm_start,
        eval_episodes=eval_episodes,
    )[0]


def evaluate_principals(
    env: Environment[Any, Any],
    type_params: Any,
    type_names: Sequence[str],
    principals: Any,
    config: PPOConfig,
    *,
    seeds: int = 3,
    key: jax.Array | None = None,
    warm_start: Any = None,
    eval_episodes: int = 32,
    own_agents: Any = None,
    keep_agents: bool = False,
) -> list[TypeEvaluation]:
    """:func:`evaluate_principal` for several principals stacked on a leading axis, in one call.

    Principals x test types x seeds are one ``vmap`` (one compiled program); every principal
    meets the same new-agent seeds (common random numbers across rows of a cross table).
    Arguments as :func:`evaluate_principal`, ``principals`` with a leading batch axis, and
    ``own_agents``: full parameters (with the player axis) per principal, on the same leading
    axis, to warm-start each principal's new agents from the agents it was trained with (the
    released AI Economist code's evaluation, D24); excludes ``warm_start``.  With
    ``keep_agents`` every result carries the new agents' actors (e.g. for exact scoring).
    """
    if own_agents is not None and warm_start is not None:
        raise ValueError("warm_start / own_agents: give one of them (own_agents is per principal)")
    if config.parameter_sharing:
        raise ValueError("config.parameter_sharing: must be False (the principal is a slice)")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds: must be an integer >= 1, got {seeds!r}")
    num_types = int(jax.tree_util.tree_leaves(type_params)[0].shape[0])
    if len(type_names) != num_types:
        raise ValueError(f"type_names: {len(type_names)} names for {num_types} stacked test types")
    count = int(jax.tree_util.tree_leaves(principals)[0].shape[0])
    trainer = PPO(config, env)
    players = trainer.num_agents
    trainable = jnp.arange(players) < players - 1
    before = [
        params_digest(jax.tree_util.tree_map(lambda x, p=p: x[p], principals)) for p in range(count)
    ]
    key = jax.random.PRNGKey(0) if key is None else key

    def one(
        principal: Any, agents: Any, env_params: Any, k: jax.Array
    ) -> tuple[Any, jax.Array, Any]:
        k_init, k_eval = jax.random.split(k)
        start = warm_start if agents is None else agents
        runner = trainer.init(k_init, start, None, env_params, trainable)
        params = jax.tree_util.tree_map(
            lambda full, mine: full.at[-1].set(mine), runner.params, principal
        )
        runner = dataclasses.replace(runner, params=params)
        runner, _ = jax.lax.scan(
            lambda r, _: trainer.update(r), runner, None, length=config.num_updates
        )
        returns = trainer.evaluate_returns(
            runner.params.actor, k_eval, env_params, episodes=eval_episodes, greedy=False
        )
        kept = runner.params.actor if keep_agents else None
        return _principal(runner.params), returns.mean(axis=0), kept

    keys = jax.random.split(key, seeds)
    per_seed = jax.vmap(one, in_axes=(None, None, None, 0))
    per_type = jax.vmap(per_seed, in_axes=(None, None, 0, None))
    agents_axis = None if own_agents is None else 0
    run = jax.jit(jax.vmap(per_type, in_axes=(0, agents_axis, None, None)))
    final_principal, returns, actors = run(principals, own_agents, type_params, keys)
    for p in range(count):
        for t in range(num_types):
            for s in range(seeds):
                after = params_digest(
                    jax.tree_util.tree_map(lambda x, p=p, t=t, s=s: x[p, t, s], final_principal)
                )
                if after != before[p]:
                    raise PrincipalChanged(
                        f"the frozen principal {p} changed under test type {type_names[t]!r}, "
                        f"seed {s}"
                    )
    returns = np.asarray(returns, np.float64)
    return [
        TypeEvaluation(
            tuple(type_names),
            returns[p, ..., -1],
            returns[p, ..., :-1],
            before[p],
            None if actors is None else jax.tree_util.tree_map(lambda x, p=p: x[p], actors),
        )
        for p in range(count)
    ]


@dataclass(frozen=True)
class CrossTable:
    """Training methods (rows) against test types (columns): the principal's objective."""

    methods: tuple[str, ...]
    """Row names."""
    types: tuple[str, ...]
    """Column names."""
    per_seed: np.ndarray
    """Values ``(methods, types, seeds)``: a principal per seed of each method, each scored by
    the mean over its evaluation seeds."""
    selected: np.ndarray
    """Seeds kept per method ``(methods, k)`` (all, unless a validation column chose them)."""

    @property
    def mean(self) -> np.ndarray:
        """Mean over the selected seeds ``(methods, types)``."""
        return np.stack([self.per_seed[m][:, self.selected[m]].mean(axis=1)
                         for m in range(len(self.methods))])  # fmt: skip

    @property
    def stderr(self) -> np.ndarray:
        """Standard error over the selected seeds ``(methods, types)`` (0 with one seed)."""
        k = self.selected.shape[1]
        if k < 2:
            return np.zeros((len(self.methods), len(self.types)))
        return np.stack([self.per_seed[m][:, self.selected[m]].std(axis=1, ddof=1) / np.sqrt(k)
                         for m in range(len(self.methods))])  # fmt: skip

    def within_stderr_of_best(self) -> np.ndarray:
        """``(methods, types)`` booleans: mean within one s.e. of the column's best mean."""
        best = self.mean.max(axis=0)
        return self.mean + self.stderr >= best

    def markdown(self, digits: int = 3) -> str:
        """The table as the papers print it: ``mean ± s.e.``; bold where within s.e. of best."""
        close = self.within_stderr_of_best()
        lines = ["| training \\ test | " + " | ".join(self.types) + " |",
                 "|---" * (len(self.types) + 1) + "|"]  # fmt: skip
        for m, name in enumerate(self.methods):
            cells = []
            for t in range(len(self.types)):
                text = f"{self.mean[m, t]:.{digits}g} ± {self.stderr[m, t]:.{digits}g}"
                cells.append(f"**{text}**" if close[m, t] else text)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def cross_table(
    results: Mapping[str, Sequence[TypeEvaluation]],
    *,
    validation: Mapping[str, Sequence[float]] | None = None,
    top_k: int | None = None,
) -> CrossTable:
    """Rows = methods, each a list of :class:`TypeEvaluation` (one per trained principal seed).

    Args:
        results: evaluations per method, all over the same test types.
        validation: a validation score per method and principal seed (a separate environment,
            not a test column, D19); with ``top_k`` the best ``top_k`` seeds of each method are
            kept for every column.
        top_k: seeds kept per method (``None``: all).

    Raises:
        ValueError: no methods, methods with different types or seed counts, or a selection
            that does not fit.
    """
    if not results:
        raise ValueError("results: give at least one method")
    methods = tuple(results)
    types = results[methods[0]][0].types
    seeds = len(results[methods[0]])
    for name in methods:
        if len(results[name]) != seeds or any(r.types != types for r in results[name]):
            raise ValueError(f"results[{name!r}]: every method needs {seeds} seeds over {types}")
    per_seed = np.array(
        [[[r.returns[t].mean() for r in results[m]] for t in range(len(types))] for m in methods]
    )
    if top_k is None:
        selected = np.tile(np.arange(seeds), (len(methods), 1))
    else:
        if validation is None or not 1 <= top_k <= seeds:
            raise ValueError(f"top_k: needs validation scores and 1 <= top_k <= {seeds}")
        selected = np.stack(
            [np.sort(np.argsort(-np.asarray(validation[m], np.float64))[:top_k]) for m in methods]
        )
    return CrossTable(methods, types, per_seed, selected)

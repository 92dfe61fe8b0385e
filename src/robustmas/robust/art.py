"""Adversarially Robust Training (ART) and its baselines Naive and Fixed-K, one compiled trainer.

Reference: Nika, Nöther, Singla, Radanović, "Defending Against Unknown Corrupted Agents:
Reinforcement Learning of Adversarially Robust Nash Equilibria", TMLR: Sec. 4 (the loss and its
gradients), Algorithm 1, Sec. 5.1 (baselines), Sec. 5.2 and App. D (implementation); spec
``arneq-art.md`` Sec. 3-4 and decisions 1-8, 13.

Every player ``i`` is the victim of its own *world*: a slice of the vectorised environments in
which the other agents are either the benign policies of the other players or ``i``'s private
adversaries.  Per player ``i`` the trainer learns

* ``omega_i``, a distribution over the subsets ``N_i`` of ``N - {i}`` with ``1 <= |K| <= k``
  (``exact_k``: ``|K| = k``), softmax logits initialised to 0, by gradient *descent* on the
  victim's value (REINFORCE on extra episodes with a mean baseline, or the exact gradient
  ``<grad omega, V_hat>`` from per-subset estimates), learning rate ``omega_lr``;
* the benign policy ``pi_i`` by PPO on ``r_i`` (ascent), learning rate ``lr * benign_lr_ratio``
  (the paper: half the adversaries', Sec. 5.2);
* the adversaries ``pi_hat^i_j`` (``j != i``) by PPO on ``-r_i`` (descent), learning rate ``lr``;
  an adversary sees exactly the observation of the agent it replaces.

At every reset of an environment of world ``i`` a subset ``K ~ omega_i`` is drawn (one per
episode, Algorithm 1 line 2); agents in ``K`` act with ``i``'s adversaries, the others with
their benign policies.  One update: a rollout in all worlds, one ``omega`` step (with the
policies before the update, Algorithm 1 line 3), then PPO epochs for every benign policy (on its
own world's samples; ``all_benign_learn``: also on its uncorrupted slots in the other worlds)
and every adversary (on the samples where it acted; other samples weigh 0).  All policies of a
kind are stacked and updated under one ``vmap``; shapes never depend on which subsets were drawn.

Baselines (Sec. 5.1, spec Sec. 4): **Naive** (``method="naive"``) is independent PPO with no
adversary, every benign policy learning from its slot in every environment; **Fixed-K**
(``method="fixed"``) is ART with ``omega_i`` frozen to one subset ``K_i`` per victim (by default
the next ``k`` agents cyclically, decision 6).  The attack-time evaluation of Sec. 5.3
(:mod:`robustmas.robust.art_attack`) is Fixed-K with the benign policies given and frozen.

Deviations from rllib's PPO, which the paper used (spec Sec. 3.4): no adaptive KL penalty, the
PPO value clip of :class:`~robustmas.rl.config.PPOConfig` instead of rllib's ``vf_clip`` 10, and
the network sizes of the config (``arneq`` presets: ``[64, 64]``, not rllib's ``[256, 256]``,
see the preset for the measured cost).  An adversary's minibatches are slices of its world's
batch in which the samples it did not act on weigh 0, so its effective minibatch is the
configured one times the fraction of episodes that drew it.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from robustmas.envs.core import Environment, step_autoreset
from robustmas.rl.config import PPOConfig
from robustmas.rl.gae import gae
from robustmas.rl.loop import run_updates
from robustmas.rl.loss import ppo_epochs, select_learners
from robustmas.rl.networks import env_action
from robustmas.rl.optim import ppo_optimizer
from robustmas.rl.policy import ActorCriticParams, Batch, FeedForward

__all__ = [
    "ART",
    "METHODS",
    "SPREAD_PPO",
    "ARTConfig",
    "ARTState",
    "exact_gradient",
    "fixed_subsets",
    "reinforce_gradient",
    "subset_table",
]

METHODS = ("art", "fixed", "naive")
"""Training methods: ART (Alg. 1), Fixed-K and Naive (Sec. 5.1)."""

SPREAD_PPO = PPOConfig(
    lr=3e-4,
    num_envs=162,
    num_steps=25,
    total_timesteps=800_000,
    update_epochs=30,
    num_minibatches=10,
    gamma=0.99,
    gae_lambda=1.0,
    clip_eps=0.3,
    ent_coef=0.0,
    vf_coef=1.0,
    anneal_lr=False,
    eval_every=0,
    parameter_sharing=False,
)
"""Table 7's Spread row: 162 environments x 25 steps = 4,050 steps per update (the paper's
batch: 4,000), 30 epochs, minibatches of 135 (the paper: 128), lr 3e-4 (the adversaries'),
clip 0.3, GAE lambda 1, no entropy bonus, value coefficient 1, no annealing."""

_ESTIMATORS = ("reinforce", "exact")
_LEARNERS = ("all", "adversaries", "benign")


@dataclass(frozen=True)
class ARTConfig:
    """ART, Fixed-K or Naive: the PPO numbers and what the paper adds (spec decisions 1-8)."""

    ppo: PPOConfig = dataclasses.field(default_factory=lambda: SPREAD_PPO)
    """PPO of every learner.  ``lr`` is the paper's alpha (Table 7), the adversaries' and
    omega's rate; ``num_envs`` counts the environments of all worlds together (a multiple of
    the number of agents, one equal slice per victim) and ``total_timesteps`` their steps;
    ``num_minibatches`` splits one world's batch ``num_steps * num_envs / n``.  Default: the
    paper's Spread row of Table 7 (4,050 steps per update, 800K steps)."""
    method: str = "art"
    """``"art"`` (learned omega), ``"fixed"`` (omega = one subset per victim) or ``"naive"``
    (no adversary)."""
    k: int = 1
    """Most agents an adversary controls (the paper's k); ignored by ``"naive"``."""
    exact_k: bool = False
    """Subsets of exactly ``k`` agents instead of ``1 <= |K| <= k`` (decision 1; the stage
    value is the same, spec Sec. 1.2)."""
    subsets: tuple[tuple[int, ...], ...] | None = None
    """``"fixed"`` only: the subset ``K_i`` of every victim ``i`` (agent indices, ``i`` not in
    it, ``k`` of them); ``None``: the next ``k`` agents cyclically (decision 6)."""
    benign_lr_ratio: float = 0.5
    """Benign learning rate over the adversaries' (Sec. 5.2: one half)."""
    omega_lr: float | None = None
    """Step size of the omega logits (``None``: ``ppo.lr``, Sec. 4: the adversaries' rate)."""
    omega_estimator: str = "reinforce"
    """``"reinforce"``: score-function gradient from ``omega_episodes`` extra episodes per
    victim with subsets drawn from omega and the mean return as baseline (Sec. 5.2);
    ``"exact"``: ``omega_episodes`` episodes per subset give ``V_hat(K)`` and the gradient is
    ``omega * (V_hat - <omega, V_hat>)``."""
    omega_episodes: int | None = None
    """Extra episodes per victim (REINFORCE) or per subset (exact) for every omega step, not
    counted in the budget; ``None``: ``max(|N_i|, 10)`` (decision 5)."""
    omega_discounted: bool = True
    """The omega objective is the discounted return (``ppo.gamma``), as ``V^mu`` of Sec. 4;
    false: the undiscounted one."""
    all_benign_learn: bool = False
    """Benign policies also learn in the other players' worlds where they are not corrupted
    (decision 4; false: only in their own world, Algorithm 1)."""
    learners: str = "all"
    """Which policies learn: ``"all"``, ``"adversaries"`` (benign policies frozen: the attacks of
    Sec. 5.3) or ``"benign"`` (adversaries frozen: the continuation of Fig. 5)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"ARTConfig.method must be one of {METHODS}, got {self.method!r}")
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 0:
            raise ValueError(f"ARTConfig.k must be an integer >= 0, got {self.k!r}")
        if self.method != "naive" and self.k < 1:
            raise ValueError(f"ARTConfig.k must be >= 1 for method {self.method!r}, got 0")
        if self.omega_estimator not in _ESTIMATORS:
            raise ValueError(
                f"ARTConfig.omega_estimator must be one of {_ESTIMATORS}, "
                f"got {self.omega_estimator!r}"
            )
        if self.learners not in _LEARNERS:
            raise ValueError(
                f"ARTConfig.learners must be one of {_LEARNERS}, got {self.learners!r}"
            )
        if not self.benign_lr_ratio > 0:
            raise ValueError(f"ARTConfig.benign_lr_ratio must be > 0, got {self.benign_lr_ratio}")
        if self.omega_lr is not None and not self.omega_lr > 0:
            raise ValueError(f"ARTConfig.omega_lr must be > 0 or None, got {self.omega_lr}")
        if self.ppo.learner_ent_coef:
            raise ValueError(
                "ARTConfig.ppo.learner_ent_coef: not used by ART (benign and adversary learners "
                "share ppo.ent_coef); leave it empty"
            )
        if self.omega_episodes is not None and (
            not isinstance(self.omega_episodes, int) or self.omega_episodes < 1
        ):
            raise ValueError(
                f"ARTConfig.omega_episodes must be a positive integer or None, "
                f"got {self.omega_episodes!r}"
            )
        if self.subsets is not None and self.method != "fixed":
            raise ValueError("ARTConfig.subsets: only method 'fixed' takes fixed subsets")
        if self.ppo.parameter_sharing:
            raise ValueError(
                "ARTConfig.ppo.parameter_sharing must be False: every benign policy and every "
                "adversary has its own networks"
            )
        if self.ppo.recurrent != "none":
            raise ValueError("ARTConfig.ppo.recurrent: ART uses MLP policies ('none')")
        if self.ppo.centralized_critic:
            raise ValueError("ARTConfig.ppo.centralized_critic: each critic reads its own view")


def subset_table(n: int, k: int, *, exact_k: bool = False) -> jax.Array:
    """``N_i`` for every player: masks ``(n, S, n)`` of the subsets of ``N - {i}``.

    Subsets of size ``1..k`` (``exact_k``: ``k``), ordered by size then lexicographically over
    the other agents; ``S = sum_m C(n - 1, m)``, the dimension of Sec. 4's value vector.
    """
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must lie in 1..n-1 = 1..{n - 1}, got {k}")
    sizes = [k] if exact_k else list(range(1, k + 1))
    rows = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        masks = []
        for m in sizes:
            for chosen in itertools.combinations(others, m):
                mask = [False] * n
                for j in chosen:
                    mask[j] = True
                masks.append(mask)
        rows.append(masks)
    return jnp.asarray(rows, bool)


def fixed_subsets(n: int, k: int) -> tuple[tuple[int, ...], ...]:
    """Decision 6: victim ``i``'s fixed subset is ``{i + 1, ..., i + k} mod n``."""
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must lie in 1..n-1 = 1..{n - 1}, got {k}")
    return tuple(tuple((i + d) % n for d in range(1, k + 1)) for i in range(n))


def _subsets_for(config: ARTConfig, n: int) -> jax.Array:
    """The subset table of the method: ``(n, S, n)`` masks."""
    if config.method == "naive":
        return jnp.zeros((n, 1, n), bool)
    if config.method == "art":
        return subset_table(n, config.k, exact_k=config.exact_k)
    chosen = fixed_subsets(n, config.k) if config.subsets is None else config.subsets
    if len(chosen) != n:
        raise ValueError(f"ARTConfig.subsets: need one subset per agent ({n}), got {len(chosen)}")
    masks = []
    for i, subset in enumerate(chosen):
        members = sorted(set(subset))
        if len(members) != config.k or len(subset) != config.k:
            raise ValueError(
                f"ARTConfig.subsets[{i}]: need {config.k} distinct agents, got {subset!r}"
            )
        if i in members or not all(0 <= j < n for j in members):
            raise ValueError(
                f"ARTConfig.subsets[{i}]: agents must lie in 0..{n - 1} without the victim {i}, "
                f"got {subset!r}"
            )
        masks.append([[j in members for j in range(n)]])
    return jnp.asarray(masks, bool)


@struct.dataclass
class ARTState:
    """Everything a run carries (a pytree: ``vmap`` it over seeds, checkpoint it)."""

    benign: ActorCriticParams
    """Benign actor-critics, a leading agent axis ``(n, ...)``."""
    benign_opt: Any
    """Their optimizer states."""
    adversary: ActorCriticParams
    """Adversary actor-critics, one per pair ``(victim, slot)`` of :attr:`ART.pairs`."""
    adversary_opt: Any
    """Their optimizer states."""
    omega_logits: jax.Array
    """Logits of ``omega_i`` over ``N_i``, ``(n, S)``."""
    benign_trainable: jax.Array
    """Which benign policies learn, ``(n,)`` bool (data: Fig. 5 continues one victim)."""
    env_state: Any
    """States of all environments (worlds stacked: environment ``e`` is in world
    ``e // (num_envs / n)``)."""
    obs: jax.Array
    """Their observations, ``(num_envs, n, d)``."""
    subset: jax.Array
    """Index into ``N_i`` of every environment's current subset, ``(num_envs,)``."""
    episode_return: jax.Array
    """Env returns of the running episodes, ``(num_envs, n)``."""
    key: jax.Array
    """Key stream of the updates."""
    eval_key: jax.Array
    """Key stream of the evaluations."""
    update_step: jax.Array
    """Updates done."""
    env_params: Any
    """Environment parameters (data)."""


class ART:
    """The trainer: ``init(key) -> state``, ``update(state)``, ``train(key)`` (module docstring).

    Args:
        config: the method and its hyperparameters.
        env: a multi-agent environment of :mod:`robustmas.envs.core` (stacked agents).
        env_params: its parameters (``env.default_params()`` if ``None``).
    """

    def __init__(
        self, config: ARTConfig, env: Environment[Any, Any], env_params: Any = None
    ) -> None:
        n = int(env.num_agents)
        if n < 2:
            raise ValueError(f"ART needs a multi-agent environment, got num_agents={n}")
        cfg = config.ppo
        if cfg.num_envs % n:
            raise ValueError(
                f"ARTConfig.ppo.num_envs ({cfg.num_envs}) must be a multiple of the number of "
                f"agents ({n}): every victim gets an equal slice of the environments"
            )
        if config.method != "naive" and config.k > n - 1:
            raise ValueError(f"ARTConfig.k ({config.k}) must be at most n - 1 = {n - 1}")
        self.config = config
        self.env = env
        self.env_params = env.default_params() if env_params is None else env_params
        self.num_agents = n
        self.world_envs = cfg.num_envs // n
        """Environments per world (victim)."""
        self.action_space = env.action_space(self.env_params)
        self.networks = FeedForward(cfg, self.action_space)
        self.subsets = _subsets_for(config, n)
        """Masks ``(n, S, n)`` of every victim's subsets."""
        # Adversary pairs (victim i, slot j): every j that some subset of N_i contains.
        used = jnp.any(self.subsets, axis=1)
        pairs = [(i, j) for i in range(n) for j in range(n) if bool(used[i, j])]
        self.pairs = tuple(pairs)
        """The adversaries ``(victim, slot)``, in this order in :attr:`ARTState.adversary`."""
        self.pair_victim = jnp.asarray([p[0] for p in pairs], jnp.int32)
        self.pair_slot = jnp.asarray([p[1] for p in pairs], jnp.int32)
        benign_all = config.all_benign_learn or config.method == "naive"
        self.benign_all_worlds = benign_all
        """Whether benign policies learn in every world (else only in their own)."""
        per_world = cfg.num_steps * self.world_envs
        if per_world % cfg.num_minibatches:
            raise ValueError(
                f"ARTConfig.ppo.num_minibatches ({cfg.num_minibatches}) must divide one "
                f"world's batch num_steps * num_envs / n = {per_world}"
            )
        updates = cfg.num_updates
        benign_envs = cfg.num_envs if benign_all else self.world_envs
        self.benign_config = self._group_config(
            cfg.lr * config.benign_lr_ratio, benign_envs, updates
        )
        """PPO numbers of the benign learners (their learning rate and batch)."""
        self.adversary_config = self._group_config(cfg.lr, self.world_envs, updates)
        """PPO numbers of the adversaries."""
        self.benign_optimizer = ppo_optimizer(self.benign_config)
        self.adversary_optimizer = ppo_optimizer(self.adversary_config)
        self.omega_lr = cfg.lr if config.omega_lr is None else config.omega_lr
        num_subsets = int(self.subsets.shape[1])
        self.omega_episodes = (
            max(num_subsets, 10) if config.omega_episodes is None else config.omega_episodes
        )
        self.eval_every = cfg.eval_every
        self.metric_names: tuple[str, ...] = METRIC_NAMES
        self.eval_metric_names: tuple[str, ...] = ("clean_return",)

    def _group_config(self, lr: float, envs: int, updates: int) -> PPOConfig:
        cfg = self.config.ppo
        minibatches = cfg.num_minibatches * envs // self.world_envs
        return dataclasses.replace(
            cfg,
            lr=lr,
            num_envs=envs,
            num_minibatches=minibatches,
            total_timesteps=updates * envs * cfg.num_steps,
        )

    # ------------------------------------------------------------------ policies

    def _flat(self, obs: jax.Array) -> jax.Array:
        """Observations ``(..., n, *shape)`` -> ``(..., n, d)`` float32."""
        lead = obs.shape[: obs.ndim - len(self.env.observation_space(self.env_params).shape)]
        return obs.reshape((*lead, -1)).astype(jnp.float32)

    def _act(
        self,
        state: ARTState,
        key: jax.Array,
        obs: jax.Array,
        mask: jax.Array,
        greedy: bool,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Actions, log-probabilities and values ``(E, n)`` of the acting policies.

        ``obs`` ``(E, n, d)`` for ``E = n * w`` environments in world order (``w`` per world);
        ``mask`` ``(E, n)`` marks the corrupted slots.
        """
        nets, n = self.networks, self.num_agents
        w = obs.shape[0] // n
        key_b, key_a = jax.random.split(key)

        def one(params: ActorCriticParams, k: jax.Array, x: jax.Array) -> tuple[jax.Array, ...]:
            fresh = jnp.zeros(x.shape[:-1], bool)  # MLPs: no carry to reset
            if greedy:
                _, action = nets.greedy(params.actor, x, None, fresh)
                log_prob = jnp.zeros(x.shape[:-1])
            else:
                _, action, log_prob = nets.sample(params.actor, k, x, None, fresh)
            _, value = nets.values(params.critic, x, None, fresh)
            return action, log_prob, value

        b_act, b_logp, b_val = jax.vmap(one, in_axes=(0, 0, 1), out_axes=1)(
            state.benign, jax.random.split(key_b, n), obs
        )
        if not self.pairs:
            return b_act, b_logp, b_val
        worlds = obs.reshape((n, w, n, obs.shape[-1]))
        x = worlds[self.pair_victim, :, self.pair_slot]  # (P, w, d)
        a_act, a_logp, a_val = jax.vmap(one)(
            state.adversary, jax.random.split(key_a, len(self.pairs)), x
        )

        def route(benign: jax.Array, adversary: jax.Array) -> jax.Array:
            full = benign.reshape((n, w, n, *benign.shape[2:]))
            full = full.at[self.pair_victim, :, self.pair_slot].set(adversary)
            scattered = full.reshape(benign.shape)
            return jnp.where(mask.reshape(mask.shape + (1,) * (benign.ndim - 2)), scattered, benign)

        return route(b_act, a_act), route(b_logp, a_logp), route(b_val, a_val)

    def _env_actions(self, action: jax.Array) -> jax.Array:
        return jax.vmap(jax.vmap(lambda a: env_action(a, self.action_space)))(action)

    def _world_of_envs(self, count: int) -> jax.Array:
        """World (victim) of each of ``count = n * m`` environments in world order."""
        return jnp.repeat(jnp.arange(self.num_agents), count // self.num_agents)

    def _draw_subsets(self, key: jax.Array, logits: jax.Array, worlds: jax.Array) -> jax.Array:
        """One subset index per environment, ``K ~ omega_{world}``."""
        return jax.random.categorical(key, logits[worlds], axis=-1)

    # ------------------------------------------------------------------ init

    def _init_opt(self, optimizer: Any, params: ActorCriticParams) -> Any:
        return jax.vmap(lambda p: self.networks.init_optimizer(optimizer, p))(params)

    def init(
        self,
        key: jax.Array,
        benign: ActorCriticParams | None = None,
        env_params: Any = None,
        benign_trainable: jax.Array | None = None,
    ) -> ARTState:
        """Fresh networks (or the given benign ones), reset environments, uniform omega."""
        cfg, n = self.config.ppo, self.num_agents
        env_params = self.env_params if env_params is None else env_params
        keys = jax.random.split(key, 7)
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(
            jax.random.split(keys[0], cfg.num_envs), env_params
        )
        obs = self._flat(obs)
        x = obs[0, 0]

        def fresh(k: jax.Array, count: int) -> ActorCriticParams:
            ka, kc = jax.random.split(k)
            return jax.vmap(self.networks.init, in_axes=(0, 0, None, None))(
                jax.random.split(ka, count), jax.random.split(kc, count), x, x
            )

        if benign is None:
            benign = fresh(keys[1], n)
        adversary = fresh(keys[2], max(len(self.pairs), 1))
        logits = jnp.zeros(self.subsets.shape[:2], jnp.float32)
        worlds = self._world_of_envs(cfg.num_envs)
        trainable = (
            jnp.ones((n,), bool) if benign_trainable is None else jnp.asarray(benign_trainable)
        )
        return ARTState(
            benign=benign,
            benign_opt=self._init_opt(self.benign_optimizer, benign),
            adversary=adversary,
            adversary_opt=self._init_opt(self.adversary_optimizer, adversary),
            omega_logits=logits,
            benign_trainable=trainable,
            env_state=env_state,
            obs=obs,
            subset=self._draw_subsets(keys[3], logits, worlds),
            episode_return=jnp.zeros((cfg.num_envs, n), jnp.float32),
            key=keys[4],
            eval_key=keys[5],
            update_step=jnp.int32(0),
            env_params=env_params,
        )

    # ------------------------------------------------------------------ one update

    def _rollout(self, state: ARTState, key: jax.Array) -> tuple[ARTState, dict[str, Any]]:
        cfg, n = self.config.ppo, self.num_agents
        worlds = self._world_of_envs(cfg.num_envs)
        victim = jax.nn.one_hot(worlds, n, dtype=bool)  # (E, n)

        def step(carry: tuple[Any, ...], k: jax.Array) -> tuple[tuple[Any, ...], dict[str, Any]]:
            env_state, obs, subset, ep_return = carry
            k_act, k_env, k_sub = jax.random.split(k, 3)
            mask = self.subsets[worlds, subset]  # (E, n)
            action, log_prob, value = self._act(state, k_act, obs, mask, greedy=False)
            next_obs, env_state, reward, done, _ = jax.vmap(
                lambda kk, s, a: step_autoreset(self.env, kk, s, a, state.env_params)
            )(jax.random.split(k_env, cfg.num_envs), env_state, self._env_actions(action))
            reward = reward.astype(jnp.float32)
            victim_reward = jnp.sum(jnp.where(victim, reward, 0.0), axis=1, keepdims=True)
            learn = jnp.where(mask, -victim_reward, reward)
            ep_return = ep_return + reward
            finished = jnp.where(done[:, None], ep_return, 0.0)
            ep_return = jnp.where(done[:, None], 0.0, ep_return)
            redrawn = self._draw_subsets(k_sub, state.omega_logits, worlds)
            subset_next = jnp.where(done, redrawn, subset)
            out = {
                "obs": obs,
                "action": action,
                "log_prob": log_prob,
                "value": value,
                "reward": learn,
                "done": done,
                "mask": mask,
                "finished": finished,
            }
            return (env_state, self._flat(next_obs), subset_next, ep_return), out

        carry = (state.env_state, state.obs, state.subset, state.episode_return)
        (env_state, obs, subset, ep_return), traj = jax.lax.scan(
            step, carry, jax.random.split(key, cfg.num_steps)
        )
        state = dataclasses.replace(
            state, env_state=env_state, obs=obs, subset=subset, episode_return=ep_return
        )
        mask = self.subsets[worlds, subset]
        _, _, last_value = self._act(state, key, obs, mask, greedy=False)
        traj["last_value"] = last_value
        return state, traj

    def _batches(self, traj: dict[str, Any]) -> tuple[Batch, Batch | None]:
        """The benign learners' and the adversaries' PPO batches, each ``(L, T, S, ...)``."""
        cfg, n, w = self.config.ppo, self.num_agents, self.world_envs
        t = cfg.num_steps
        done = jnp.broadcast_to(traj["done"][..., None], traj["reward"].shape)
        advantages, targets = gae(
            traj["reward"], traj["value"], done, traj["last_value"], cfg.gamma, cfg.gae_lambda
        )
        full = Batch(
            traj["obs"],
            traj["obs"],
            traj["action"],
            traj["log_prob"],
            traj["value"],
            advantages,
            targets,
            done,
            (~traj["mask"]).astype(jnp.float32),
        )
        agents = jnp.arange(n)

        def by_world(x: jax.Array) -> jax.Array:
            return x.reshape((t, n, w, n, *x.shape[3:]))

        if self.benign_all_worlds:
            benign = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 2, 0), full)
        else:
            # Benign j in its own world's slot j: never corrupted there, so no weights.
            benign = jax.tree_util.tree_map(lambda x: by_world(x)[:, agents, :, agents], full)
            benign = benign._replace(weight=None)
        if not self.pairs:
            return benign, None
        adversary = full._replace(weight=traj["mask"].astype(jnp.float32))
        adversary = jax.tree_util.tree_map(
            lambda x: by_world(x)[:, self.pair_victim, :, self.pair_slot], adversary
        )
        return benign, adversary

    def _omega_step(self, state: ARTState, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One descent step on the omega logits; also returns the victims' estimated values."""
        n, logits = self.num_agents, state.omega_logits
        probs = jax.nn.softmax(logits, axis=-1)
        num_subsets = logits.shape[1]
        m = self.omega_episodes
        if self.config.omega_estimator == "reinforce":
            k_draw, k_run = jax.random.split(key)
            drawn = jax.random.categorical(k_draw, logits[:, None, :], axis=-1, shape=(n, m))
            masks = self.subsets[jnp.arange(n)[:, None], drawn]
            returns = self.episode_returns(state, k_run, masks)
            grad = reinforce_gradient(probs, drawn, returns)
            value = returns.mean(axis=1)
        else:
            masks = jnp.repeat(self.subsets, m, axis=1)  # (n, S * m, n)
            returns = self.episode_returns(state, key, masks)
            v_hat = returns.reshape((n, num_subsets, m)).mean(axis=2)
            value = jnp.sum(probs * v_hat, axis=1)
            grad = exact_gradient(probs, v_hat)
        return logits - self.omega_lr * grad, value

    def update(self, state: ARTState) -> tuple[ARTState, dict[str, jax.Array]]:
        """Rollout, omega step, PPO epochs for the learners (module docstring)."""
        n = self.num_agents
        key, k_roll, k_omega, k_benign, k_adv = jax.random.split(state.key, 5)
        state, traj = self._rollout(state, k_roll)
        metrics: dict[str, jax.Array] = {}
        if self.config.method == "art" and self.config.learners == "all":
            logits, omega_value = self._omega_step(state, k_omega)
        else:
            logits, omega_value = state.omega_logits, jnp.full((n,), jnp.nan)
        benign_batch, adversary_batch = self._batches(traj)
        benign, benign_opt = state.benign, state.benign_opt
        nan = jnp.float32(jnp.nan)
        benign_loss = adversary_loss = nan
        if self.config.learners in ("all", "benign"):

            def learn_benign(p: Any, o: Any, b: Batch, k: jax.Array) -> tuple[Any, Any, Any]:
                return ppo_epochs(
                    self.benign_config, self.networks, self.benign_optimizer, p, o, b, None, k
                )

            new_b, new_o, terms = jax.vmap(learn_benign)(
                benign, benign_opt, benign_batch, jax.random.split(k_benign, n)
            )
            keep = state.benign_trainable
            benign = select_learners(keep, new_b, benign)
            benign_opt = select_learners(keep, new_o, benign_opt)
            benign_loss = terms.total.mean()
        adversary, adversary_opt = state.adversary, state.adversary_opt
        if adversary_batch is not None and self.config.learners in ("all", "adversaries"):

            def learn_adv(p: Any, o: Any, b: Batch, k: jax.Array) -> tuple[Any, Any, Any]:
                return ppo_epochs(
                    self.adversary_config, self.networks, self.adversary_optimizer, p, o, b,
                    None, k,
                )  # fmt: skip

            adversary, adversary_opt, terms = jax.vmap(learn_adv)(
                adversary, adversary_opt, adversary_batch,
                jax.random.split(k_adv, len(self.pairs)),
            )  # fmt: skip
            adversary_loss = terms.total.mean()
        update_step = state.update_step + 1
        state = dataclasses.replace(
            state,
            benign=benign,
            benign_opt=benign_opt,
            adversary=adversary,
            adversary_opt=adversary_opt,
            omega_logits=logits,
            key=key,
            update_step=update_step,
        )
        # Victim i's return over the episodes of world i that ended in this rollout.
        finished = traj["finished"].reshape((-1, n, self.world_envs, n))
        ended = traj["done"].reshape((-1, n, self.world_envs)).sum(axis=(0, 2))
        agents = jnp.arange(n)
        own = finished[:, agents, :, agents].sum(axis=(1, 2))  # (n,): victim i in world i
        victim_return = jnp.where(ended > 0, own / jnp.maximum(ended, 1), jnp.nan)
        metrics |= {
            "update": update_step,
            "victim_return": victim_return,
            "omega": jax.nn.softmax(logits, axis=-1),
            "omega_value": omega_value,
            "benign_loss": benign_loss,
            "adversary_loss": adversary_loss,
        }
        return state, metrics

    # ------------------------------------------------------------------ evaluation

    def episode_returns(
        self,
        state: ARTState,
        key: jax.Array,
        masks: jax.Array,
        *,
        greedy: bool = False,
        discounted: bool | None = None,
    ) -> jax.Array:
        """Victims' returns of whole episodes: ``masks`` ``(n, m, n)`` -> returns ``(n, m)``.

        Episode ``(i, b)`` is played in victim ``i``'s world with the agents of ``masks[i, b]``
        played by ``i``'s adversaries (a slot without an adversary must not be marked) and the
        others by the current benign policies (sampled, or ``greedy``).  The return is the
        victim's, discounted by ``ppo.gamma`` when ``discounted`` (default:
        ``omega_discounted``).  Episodes run until all end or ``ppo.eval_max_steps`` steps.
        """
        discounted = self.config.omega_discounted if discounted is None else discounted
        n, m = masks.shape[0], masks.shape[1]
        count = n * m
        gamma = self.config.ppo.gamma if discounted else 1.0
        mask = masks.reshape((count, n))
        victim = jax.nn.one_hot(self._world_of_envs(count), n, dtype=bool)
        k_reset, k_run = jax.random.split(key)
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, count), state.env_params
        )
        loop = (
            jnp.int32(0),
            self._flat(obs),
            env_state,
            jnp.zeros((count,), jnp.float32),
            jnp.zeros((count,), bool),
            k_run,
        )

        def cond(c: tuple[Any, ...]) -> jax.Array:
            return (c[0] < self.config.ppo.eval_max_steps) & ~jnp.all(c[4])

        def body(c: tuple[Any, ...]) -> tuple[Any, ...]:
            t, obs, env_state, ret, done, k = c
            k, k_act, k_env = jax.random.split(k, 3)
            action, _, _ = self._act(state, k_act, obs, mask, greedy)
            next_obs, next_state, reward, step_done, _ = jax.vmap(
                self.env.step, in_axes=(0, 0, 0, None)
            )(jax.random.split(k_env, count), env_state, self._env_actions(action),
              state.env_params)  # fmt: skip
            r = jnp.sum(jnp.where(victim, reward, 0.0), axis=1)
            ret = ret + jnp.where(done, 0.0, gamma ** t.astype(jnp.float32) * r)
            keep = lambda old, new: jnp.where(  # noqa: E731
                done.reshape(done.shape + (1,) * (new.ndim - 1)), old, new
            )
            obs = keep(obs, self._flat(next_obs))
            env_state = jax.tree_util.tree_map(keep, env_state, next_state)
            return t + 1, obs, env_state, ret, done | step_done, k

        return jax.lax.while_loop(cond, body, loop)[3].reshape((n, m))

    def clean_returns(self, state: ARTState, key: jax.Array, episodes: int) -> jax.Array:
        """Every agent's undiscounted return with no adversary, ``(n,)`` means over episodes."""
        n = self.num_agents
        masks = jnp.zeros((n, episodes, n), bool)
        return self.episode_returns(state, key, masks, discounted=False).mean(axis=1)

    def evaluation_metrics(self, state: ARTState) -> dict[str, jax.Array]:
        """``clean_return``: each agent's return with no adversary (``eval_episodes`` each)."""
        key = jax.random.fold_in(state.eval_key, state.update_step)
        return {"clean_return": self.clean_returns(state, key, self.config.ppo.eval_episodes)}

    def metric_padding(self, shape: tuple[int, ...]) -> dict[str, jax.Array]:
        """Every metric as padding (``update`` 0, the rest NaN)."""
        n, s = self.num_agents, int(self.subsets.shape[1])
        shapes = {
            "update": (),
            "victim_return": (n,),
            "omega": (n, s),
            "omega_value": (n,),
            "benign_loss": (),
            "adversary_loss": (),
            "clean_return": (n,),
        }
        return {
            name: jnp.zeros(shape, jnp.int32)
            if name == "update"
            else jnp.full((*shape, *shapes[name]), jnp.nan, jnp.float32)
            for name in METRIC_NAMES
        }

    # ------------------------------------------------------------------ training

    def update_chunk(self, state: ARTState, num_updates: int) -> tuple[ARTState, dict[str, Any]]:
        """``num_updates`` updates (static under ``jit``) with evaluations every ``eval_every``."""
        return run_updates(self, state, num_updates)

    def train(
        self, key: jax.Array, benign: ActorCriticParams | None = None
    ) -> tuple[ARTState, dict[str, Any]]:
        """:meth:`init` then ``ppo.num_updates`` updates; ``(state, metrics)``."""
        return self.update_chunk(self.init(key, benign), self.config.ppo.num_updates)

    @property
    def num_subsets(self) -> int:
        """``|N_i|`` (the same for every victim)."""
        return int(self.subsets.shape[1])

    @property
    def steps_per_update(self) -> int:
        """Environment steps of one update (all worlds)."""
        return self.config.ppo.num_envs * self.config.ppo.num_steps


METRIC_NAMES = (
    "update",
    "victim_return",
    "omega",
    "omega_value",
    "benign_loss",
    "adversary_loss",
    "clean_return",
)
"""Per update: the counter; every victim's mean return in its world (episodes that ended in the
rollout; NaN if none); omega; omega's value estimate (NaN unless ART); mean PPO losses; the
clean evaluation (NaN except every ``eval_every`` updates)."""


def reinforce_gradient(probs: jax.Array, drawn: jax.Array, returns: jax.Array) -> jax.Array:
    """Score-function estimate of ``grad_theta E_{K ~ softmax(theta)}[G]``, per victim.

    ``probs`` ``(n, S)`` = softmax of the logits, ``drawn`` ``(n, M)`` the sampled subset
    indices, ``returns`` ``(n, M)`` their returns; baseline = the mean of the ``M`` returns:
    ``(1/M) sum_m (onehot(K_m) - probs) (G_m - mean G)``.
    """
    onehot = jax.nn.one_hot(drawn, probs.shape[-1])
    centred = returns - returns.mean(axis=-1, keepdims=True)
    return jnp.mean((onehot - probs[..., None, :]) * centred[..., None], axis=-2)


def exact_gradient(probs: jax.Array, values: jax.Array) -> jax.Array:
    """The exact omega gradient of Sec. 4: ``grad_theta <softmax(theta), V>``.

    It is ``probs * (V - <probs, V>)`` for value estimates ``values`` ``(n, S)`` of every subset.
    """
    return probs * (values - jnp.sum(probs * values, axis=-1, keepdims=True))

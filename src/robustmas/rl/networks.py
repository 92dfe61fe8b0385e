"""Actor and critic networks (flax.linen) with action heads for every space in :mod:`envs.core`.

The actor and the critic are separate networks (no shared torso), as in MAPPO, so the critic
can read a different input (``env.critic_observation``) than the actor.  Hidden layers use
orthogonal initialisation (:func:`orthogonal`, LAPACK-free) with gain ``sqrt(2)`` and zero
biases; the policy head uses gain ``0.01`` (a near-uniform initial policy) and the value head
gain ``1`` (Andrychowicz et al., *What matters in on-policy reinforcement learning? A
large-scale empirical study*, ICLR 2021).

Action heads, chosen from the action space:

* ``Discrete(n)`` -- ``distrax.Categorical`` over ``n`` logits; greedy action = argmax.
* ``MultiDiscrete(nvec)`` -- independent categoricals, one per component
  (:class:`MultiCategorical`: log-probabilities and entropies add); greedy action = argmax of
  each.  With an action mask (``mask_size``), masked choices get no probability.
* ``Simplex(n)`` -- ``distrax.Dirichlet`` with concentrations
  ``softplus(x) + min_concentration`` (randomised leader strategies); greedy action = the mean
  ``alpha / sum(alpha)``, which unlike the mode exists for every ``alpha``.
* ``Box(low, high, shape)`` -- ``distrax.MultivariateNormalDiag`` over the flattened action with
  a state-independent log standard deviation; greedy action = the mean.  Sampled actions are
  stored unclipped (their log-probabilities stay exact) and clipped to ``[low, high]`` only when
  handed to the environment (:func:`env_action`).

Inputs are feature vectors on the last axis; any leading batch axes are kept.

Recurrent variants for partially observed environments: :class:`RecurrentActor` and
:class:`RecurrentCritic` are ``MLP torso -> recurrent cell -> head`` with the same torso and
heads as the MLPs.  The cell is ``flax.linen.GRUCell`` (``"gru"``, carry ``h``) or
``flax.linen.OptimizedLSTMCell`` (``"lstm"``, carry ``(c, h)``), each with ``recurrent_size``
features; with no hidden layers the cell reads the input directly.  They process one time step::

    carry, dist = actor.apply(variables, carry, x, reset)

where ``reset`` (shape = the batch shape of ``x``) marks inputs that start a new episode: their
carry is set to zeros *before* the cell, the convention of PureJaxRL's ``ScannedRNN``, so a
sequence that crosses episode boundaries can be replayed from its first carry and the stored
flags.  :func:`initial_carry` gives the zero carry of a batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from robustmas.envs.core import Box, Discrete, MultiDiscrete, Simplex, Space

__all__ = [
    "ACTIVATIONS",
    "RECURRENT_CELLS",
    "Actor",
    "Critic",
    "MultiCategorical",
    "RecurrentActor",
    "RecurrentCritic",
    "env_action",
    "greedy_action",
    "initial_carry",
    "mask_width",
    "sample_action",
]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"tanh": nn.tanh, "relu": nn.relu}
"""Hidden-layer activations selectable by name."""

_MASKED_LOGIT = -1e9
"""Logit of a masked choice: no probability, yet finite entropies (no ``0 * inf``)."""


class MultiCategorical:
    """Independent categoricals over the components of a ``MultiDiscrete`` action.

    ``logits`` has shape ``(..., components, max_choices)``; components with fewer choices
    carry masked logits in the unused slots.  The methods PPO uses of a distrax distribution:
    ``sample``, ``log_prob``, ``entropy``, ``mode``, ``kl_divergence``.
    """

    def __init__(self, logits: jax.Array) -> None:
        self.parts = distrax.Categorical(logits=logits)

    def sample(self, *, seed: jax.Array) -> jax.Array:
        """One choice per component."""
        return jnp.asarray(self.parts.sample(seed=seed))

    def log_prob(self, value: jax.Array) -> jax.Array:
        """Sum of the components' log-probabilities."""
        return jnp.asarray(self.parts.log_prob(value)).sum(axis=-1)

    def entropy(self) -> jax.Array:
        """Sum of the components' entropies."""
        return jnp.asarray(self.parts.entropy()).sum(axis=-1)

    def mode(self) -> jax.Array:
        """The most likely choice of each component."""
        return jnp.asarray(self.parts.mode())

    def kl_divergence(self, other: MultiCategorical) -> jax.Array:
        """``KL(self || other)``: the sum over the (independent) components."""
        return jnp.asarray(self.parts.kl_divergence(other.parts)).sum(axis=-1)


def mask_width(space: Space) -> int:
    """Entries of an action mask for ``space``: ``n`` or ``sum(nvec)`` (0 for continuous)."""
    if isinstance(space, Discrete):
        return space.n
    if isinstance(space, MultiDiscrete):
        return sum(space.nvec)
    return 0


RECURRENT_CELLS: tuple[str, ...] = ("gru", "lstm")
"""Recurrent cells selectable by name: ``flax.linen.GRUCell``, ``flax.linen.OptimizedLSTMCell``."""

SIMPLEX_ACTION_FLOOR = 1e-6
"""Smallest weight of a sampled ``Simplex`` action (keeps Dirichlet log-probabilities finite)."""


def _activation(name: str) -> Callable[[jax.Array], jax.Array]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}") from None


def _householder_q(a: jax.Array) -> jax.Array:
    """``Q`` of the QR decomposition of ``a`` (``m >= n``), columns signed so that diag(R) > 0.

    Plain JAX (Householder reflections in a ``fori_loop``), no LAPACK call.
    """
    m, n = a.shape
    rows = jnp.arange(m)

    def reflect(j: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        r, q = carry
        x = jnp.where(rows >= j, r[:, j], 0.0)
        x_j = x[j]
        alpha = -jnp.where(x_j >= 0, 1.0, -1.0) * jnp.linalg.norm(x)
        v = x - alpha * (rows == j)
        v = v / jnp.maximum(jnp.linalg.norm(v), jnp.finfo(a.dtype).tiny)
        r = r - 2.0 * jnp.outer(v, v @ r)
        q = q - 2.0 * jnp.outer(q @ v, v)
        return r, q

    r, q = jax.lax.fori_loop(0, n, reflect, (a, jnp.eye(m, dtype=a.dtype)))
    signs = jnp.where(jnp.diagonal(r[:n, :n]) < 0, -1.0, 1.0).astype(a.dtype)
    return q[:, :n] * signs


def orthogonal(scale: float = 1.0) -> Callable[..., jax.Array]:
    """Orthogonal initialiser (Saxe et al., 2014) without LAPACK.

    Same distribution as ``flax.linen.initializers.orthogonal`` (QR of a Gaussian matrix with the
    signs of R's diagonal folded into Q), but the QR is plain JAX.  Reason: under ``vmap`` XLA's
    CPU LAPACK QR splits its batch over the intra-op thread pool and waits for the pieces; on a
    2-core machine two such QRs running at once (e.g. many seeds' networks initialised in one
    jitted call) occupied both pool threads and waited on each other forever (observed with
    jax 0.10.2: a training run hung at 0% CPU in ``lapack_sgeqrf_ffi``).
    """

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"orthogonal init needs at least 2 dimensions, got shape {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        big, small = max(rows, cols), min(rows, cols)
        q = _householder_q(jax.random.normal(key, (big, small), jnp.float32))
        if rows < cols:
            q = q.T
        return (scale * q.reshape(shape)).astype(dtype)

    return init


def _dense(features: int, gain: float, name: str) -> nn.Dense:
    return nn.Dense(
        features,
        kernel_init=orthogonal(gain),
        bias_init=nn.initializers.zeros,
        name=name,
    )


def _action_head(
    module: nn.Module,
    space: Space,
    min_concentration: float,
    h: jax.Array,
    mask: jax.Array | None = None,
) -> distrax.Distribution:
    """The policy head ``head`` (and ``log_std`` for ``Box``) of ``module`` applied to ``h``.

    ``mask`` (``Discrete`` and ``MultiDiscrete``, bool, ``n`` or ``sum(nvec)`` entries)
    removes choices.

    Called from inside ``module``'s compact ``__call__``, so the layers belong to ``module``.
    """
    if isinstance(space, Discrete):
        logits = _dense(space.n, 0.01, "head")(h)
        if mask is not None:
            logits = jnp.where(mask, logits, _MASKED_LOGIT)
        return distrax.Categorical(logits=logits)
    if isinstance(space, MultiDiscrete):
        width = max(space.nvec)
        flat = _dense(sum(space.nvec), 0.01, "head")(h)
        allowed = jnp.ones(flat.shape, bool) if mask is None else mask
        parts, starts = [], [0]
        for n in space.nvec:
            starts.append(starts[-1] + n)
        for i, n in enumerate(space.nvec):
            part = jnp.where(
                allowed[..., starts[i] : starts[i + 1]],
                flat[..., starts[i] : starts[i + 1]],
                _MASKED_LOGIT,
            )
            pad = jnp.full((*part.shape[:-1], width - n), _MASKED_LOGIT, part.dtype)
            parts.append(jnp.concatenate([part, pad], axis=-1))
        return cast(distrax.Distribution, MultiCategorical(jnp.stack(parts, axis=-2)))
    if isinstance(space, Simplex):
        raw = _dense(space.n, 0.01, "head")(h)
        return distrax.Dirichlet(nn.softplus(raw) + min_concentration)
    if isinstance(space, Box):
        size = math.prod(space.shape)
        mean = _dense(size, 0.01, "head")(h)
        log_std = module.param("log_std", nn.initializers.zeros, (size,))
        scale = jnp.broadcast_to(jnp.exp(log_std), mean.shape)
        return distrax.MultivariateNormalDiag(mean, scale)
    raise TypeError(f"unsupported action space {space!r}")


def split_mask(
    x: jax.Array, mask_size: int, action_space: Space
) -> tuple[jax.Array | None, jax.Array]:
    """The action mask that leads the inputs ``x`` and the inputs after it.

    Returns ``(mask, rest)``; ``mask`` is ``None`` when ``mask_size`` is 0.
    """
    if not mask_size:
        return None, x
    if mask_width(action_space) != mask_size:
        raise ValueError(
            f"action_mask_size {mask_size}: expected a Discrete or MultiDiscrete "
            f"action space with as many choices, got {action_space!r}"
        )
    return x[..., :mask_size] > 0.5, x[..., mask_size:]


class PatchConv(nn.Module):
    """3 x 3 convolution with valid padding, computed as one matrix product over image patches.

    The parameters are ``flax.linen.Conv(features, (3, 3), padding="VALID")``'s (``kernel``
    ``(3, 3, C, features)``, ``bias`` ``(features,)``, the same initialisers' shapes) and so is
    the result, up to float rounding.  Why not ``nn.Conv``: XLA's CPU backend differentiates a
    convolution 20-33x slower inside a loop, as in PPO's epoch and minibatch scans, than outside
    one, and about 80x slower than this form does there (``benchmarks/bench_recurrent.py``).
    Here the nine shifted windows are concatenated along the channels and multiplied by the
    reshaped kernel: slices and a dot, whose gradients stay fast inside loops.

    Attributes:
        features: output channels.
        kernel_init: initialiser of the ``(3, 3, C, features)`` kernel.
    """

    features: int
    kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, img: jax.Array) -> jax.Array:
        """``(..., H, W, C) -> (..., H - 2, W - 2, features)``."""
        *_, height, width, channels = img.shape
        kernel = self.param("kernel", self.kernel_init, (3, 3, channels, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        windows = [
            img[..., i : height - 2 + i, j : width - 2 + j, :] for i in range(3) for j in range(3)
        ]
        patches = jnp.concatenate(windows, axis=-1)  # channels ordered (row, column, channel)
        return patches @ kernel.reshape(9 * channels, self.features) + bias


class _Torso(nn.Module):
    """Hidden layers ``hidden_0, hidden_1, ...`` of an MLP, optionally after convolutions.

    With ``image = (C, H, W)`` the inputs ``x[..., offset : offset + C*H*W]`` are an image laid
    out channel first (``offset = image_offset``): the layers ``conv_0, conv_1, ...`` (3 x 3,
    valid padding, ``conv_features`` filters each) read it, and their flattened output replaces
    it among the inputs of the dense layers (the AI Economist's conv + MLP torso).
    """

    hidden_sizes: Sequence[int]
    activation: str
    image: Sequence[int] = ()
    conv_features: Sequence[int] = ()
    image_offset: int = 0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = _activation(self.activation)
        if self.image:
            c, h, w = self.image
            start, end = self.image_offset, self.image_offset + c * h * w
            if x.shape[-1] < end:
                raise ValueError(
                    f"image {tuple(self.image)} at offset {start}: the inputs have only "
                    f"{x.shape[-1]} features"
                )
            img = jnp.moveaxis(x[..., start:end].reshape(*x.shape[:-1], c, h, w), -3, -1)
            for i, features in enumerate(self.conv_features):
                conv = PatchConv(features, orthogonal(math.sqrt(2.0)), name=f"conv_{i}")
                img = act(conv(img))
            flat = img.reshape(*img.shape[:-3], -1)
            x = jnp.concatenate([x[..., :start], flat, x[..., end:]], axis=-1)
        for i, size in enumerate(self.hidden_sizes):
            x = act(_dense(size, math.sqrt(2.0), f"hidden_{i}")(x))
        return x


def _torso_fields(module: Any) -> dict[str, Any]:
    """The :class:`_Torso` fields of a network module (its ``image_offset`` 0 if it has none)."""
    return {
        "hidden_sizes": module.hidden_sizes,
        "activation": module.activation,
        "image": module.image,
        "conv_features": module.conv_features,
        "image_offset": getattr(module, "image_offset", 0),
    }


def _torso(module: Any) -> _Torso:
    """The ``torso`` of a network module (inside its ``__call__``)."""
    return _Torso(**_torso_fields(module), name="torso")


class Actor(nn.Module):
    """MLP policy returning a distrax distribution over actions of ``action_space``.

    Attributes:
        action_space: the environment's action space (selects the head).
        hidden_sizes: widths of the hidden layers.
        activation: ``"tanh"`` or ``"relu"``.
        min_concentration: floor added to the Dirichlet concentrations (``Simplex`` only).
        mask_size: ``Discrete`` / ``MultiDiscrete`` only: the first ``mask_size`` inputs are an
            action mask (1 allowed), read off the inputs rather than fed to the layers (0: none).
        image: ``(C, H, W)`` of an image that leads the inputs after the mask, read by
            convolutions (``()``: none; see ``_Torso``).
        conv_features: filters of each 3 x 3 convolution layer over ``image``.

    """

    action_space: Space
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    min_concentration: float = 1e-2
    mask_size: int = 0
    image: Sequence[int] = ()
    conv_features: Sequence[int] = ()

    @nn.compact
    def __call__(self, x: jax.Array) -> distrax.Distribution:
        """Action distribution for the observations ``x`` of shape ``(..., features)``."""
        mask, x = split_mask(x, self.mask_size, self.action_space)
        h = _torso(self)(x)
        return _action_head(self, self.action_space, self.min_concentration, h, mask)


class Critic(nn.Module):
    """MLP state-value function.

    Attributes:
        hidden_sizes: widths of the hidden layers.
        activation: ``"tanh"`` or ``"relu"``.
        image: ``(C, H, W)`` of an image among the inputs, read by convolutions (``()``: none).
        conv_features: filters of each 3 x 3 convolution layer over ``image``.
        image_offset: where the image starts among the inputs.

    """

    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    image: Sequence[int] = ()
    conv_features: Sequence[int] = ()
    image_offset: int = 0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Values of the inputs ``x`` of shape ``(..., features)``; returns shape ``(...)``."""
        h = _torso(self)(x)
        return _dense(1, 1.0, "head")(h)[..., 0]


Carry = Any
"""A recurrent carry: an array ``(..., recurrent_size)`` (GRU) or a pair ``(c, h)`` (LSTM)."""


def initial_carry(cell: str, size: int, batch_shape: Sequence[int]) -> Carry:
    """Zero carry of ``cell`` (``"gru"`` or ``"lstm"``) for a batch of shape ``batch_shape``."""
    zeros = jnp.zeros((*batch_shape, size), jnp.float32)
    if cell == "gru":
        return zeros
    if cell == "lstm":
        return (zeros, zeros)
    raise ValueError(f"cell must be one of {list(RECURRENT_CELLS)}, got {cell!r}")


class _Recurrent(nn.Module):
    """Torso ``torso`` followed by the cell ``cell``; resets the carry where ``reset``."""

    hidden_sizes: Sequence[int]
    activation: str
    cell: str
    recurrent_size: int
    image: Sequence[int] = ()
    conv_features: Sequence[int] = ()
    image_offset: int = 0

    @nn.compact
    def __call__(
        self, carry: Carry, x: jax.Array, reset: jax.Array, sequence: bool = False
    ) -> tuple[Carry, jax.Array]:
        h = _torso(self)(x)
        if self.cell == "gru":
            cell: nn.RNNCellBase = nn.GRUCell(
                self.recurrent_size, recurrent_kernel_init=orthogonal(), name="cell"
            )
        elif self.cell == "lstm":
            cell = nn.OptimizedLSTMCell(
                self.recurrent_size, recurrent_kernel_init=orthogonal(), name="cell"
            )
        else:
            raise ValueError(f"cell must be one of {list(RECURRENT_CELLS)}, got {self.cell!r}")
        if not sequence:
            return _reset_step(cell, carry, h, reset)
        # The torso above ran on the whole sequence at once (it does not read the carry);
        # only the cell is scanned over time, with the parameters it has in a single step.
        scan = nn.scan(_reset_step, variable_broadcast="params", split_rngs={"params": False})
        return scan(cell, carry, h, reset)


def _reset_step(
    cell: nn.RNNCellBase, carry: Carry, h: jax.Array, reset: jax.Array
) -> tuple[Carry, jax.Array]:
    """One cell step from a carry set to zeros where ``reset``."""
    reset = jnp.asarray(reset, bool)[..., None]
    carry = jax.tree_util.tree_map(lambda c: jnp.where(reset, jnp.zeros_like(c), c), carry)
    return cell(carry, h)


def _core(module: Any) -> _Recurrent:
    """The ``core`` (torso and cell) of a recurrent module (inside its ``__call__``)."""
    return _Recurrent(
        cell=module.cell, recurrent_size=module.recurrent_size, **_torso_fields(module), name="core"
    )


class RecurrentActor(nn.Module):
    """Recurrent policy ``torso -> cell -> head``: one step ``(carry, x, reset) -> (carry, dist)``.

    Attributes:
        action_space: the environment's action space (selects the head).
        hidden_sizes: widths of the torso's hidden layers.
        activation: ``"tanh"`` or ``"relu"``.
        cell: ``"gru"`` or ``"lstm"``.
        recurrent_size: features of the cell (width of ``h``).
        min_concentration: floor added to the Dirichlet concentrations (``Simplex`` only).
        mask_size: leading action-mask inputs, as in :class:`Actor`.
        image: ``(C, H, W)`` image after the mask, read by convolutions (``()``: none).
        conv_features: filters of each 3 x 3 convolution layer over ``image``.

    """

    action_space: Space
    hidden_sizes: Sequence[int] = (64,)
    activation: str = "tanh"
    cell: str = "gru"
    recurrent_size: int = 64
    min_concentration: float = 1e-2
    mask_size: int = 0
    image: Sequence[int] = ()
    conv_features: Sequence[int] = ()

    @nn.compact
    def __call__(
        self, carry: Carry, x: jax.Array, reset: jax.Array, sequence: bool = False
    ) -> tuple[Carry, distrax.Distribution]:
        """Next carry and the action distribution for inputs ``x`` of shape ``(..., features)``.

        ``carry`` has the batch shape of ``x`` (see :func:`initial_carry`); where ``reset`` is
        true it is replaced by zeros before the step.  With ``sequence``, ``x`` and ``reset``
        carry a leading time axis ``T`` (``carry`` does not): the network runs over the whole
        sequence and returns the last carry and the distributions of every step, the same as
        ``T`` single steps but with the torso and head applied to all steps at once.
        """
        mask, x = split_mask(x, self.mask_size, self.action_space)
        carry, h = _core(self)(carry, x, reset, sequence)
        return carry, _action_head(self, self.action_space, self.min_concentration, h, mask)


class RecurrentCritic(nn.Module):
    """Recurrent state-value function: one step ``(carry, x, reset) -> (carry, value)``.

    Attributes:
        hidden_sizes: widths of the torso's hidden layers.
        activation: ``"tanh"`` or ``"relu"``.
        cell: ``"gru"`` or ``"lstm"``.
        recurrent_size: features of the cell.
        image: ``(C, H, W)`` of an image among the inputs, read by convolutions (``()``: none).
        conv_features: filters of each 3 x 3 convolution layer over ``image``.
        image_offset: where the image starts among the inputs.

    """

    hidden_sizes: Sequence[int] = (64,)
    activation: str = "tanh"
    cell: str = "gru"
    recurrent_size: int = 64
    image: Sequence[int] = ()
    conv_features: Sequence[int] = ()
    image_offset: int = 0

    @nn.compact
    def __call__(
        self, carry: Carry, x: jax.Array, reset: jax.Array, sequence: bool = False
    ) -> tuple[Carry, jax.Array]:
        """Next carry and values (shape ``(...)``) of inputs ``x`` of shape ``(..., features)``.

        ``sequence``: ``x`` and ``reset`` have a leading time axis (see :class:`RecurrentActor`).
        """
        carry, h = _core(self)(carry, x, reset, sequence)
        return carry, _dense(1, 1.0, "head")(h)[..., 0]


def sample_action(
    dist: distrax.Distribution, key: jax.Array, space: Space
) -> tuple[jax.Array, jax.Array]:
    """Sample an action and its log-probability under ``dist``.

    ``Simplex`` samples are floored at :data:`SIMPLEX_ACTION_FLOOR` and renormalised before the
    log-probability is taken, so that the stored action and its log-probability agree and stay
    finite even when float32 Dirichlet sampling underflows.

    Args:
        dist: the actor's output.
        key: PRNG key.
        space: the action space the actor was built for.

    Returns:
        ``(action, log_prob)``; the action is in policy coordinates (see :func:`env_action`).

    """
    action = dist.sample(seed=key)
    if isinstance(space, Simplex):
        action = jnp.maximum(jnp.nan_to_num(action), SIMPLEX_ACTION_FLOOR)
        action = action / jnp.sum(action, axis=-1, keepdims=True)
    return jnp.asarray(action), jnp.asarray(dist.log_prob(action))


def greedy_action(dist: distrax.Distribution, space: Space) -> jax.Array:
    """Deterministic action: argmax (``Discrete``, ``MultiDiscrete``), else the mean."""
    if isinstance(space, Discrete | MultiDiscrete):
        return jnp.asarray(dist.mode())
    return jnp.asarray(dist.mean())


def env_action(action: jax.Array, space: Space) -> jax.Array:
    """Map one action in policy coordinates to the environment's action space.

    ``Box`` actions are reshaped to ``space.shape`` and clipped to ``[low, high]``; other spaces
    pass through unchanged.
    """
    if isinstance(space, Box):
        return jnp.clip(action.reshape(space.shape), space.low, space.high)
    return action

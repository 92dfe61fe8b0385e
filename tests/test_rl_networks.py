"""The LAPACK-free orthogonal initialiser."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.rl.networks import orthogonal


@pytest.mark.parametrize("shape", [(5, 5), (7, 3), (3, 7), (2, 3, 4), (64, 64)])
def test_orthogonal_columns_or_rows(shape: tuple[int, ...]) -> None:
    w = np.asarray(orthogonal(2.0)(jax.random.PRNGKey(0), shape), np.float64)
    assert w.shape == shape
    m = w.reshape(-1, shape[-1]) / 2.0
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=2e-5)


def test_matches_lapack_qr_of_the_same_gaussian() -> None:
    """Same Q (signs folded from R's diagonal) as numpy's LAPACK QR of the same matrix."""
    key = jax.random.PRNGKey(3)
    got = np.asarray(orthogonal()(key, (9, 4)), np.float64)
    a = np.asarray(jax.random.normal(key, (9, 4), jnp.float32), np.float64)
    q, r = np.linalg.qr(a)
    np.testing.assert_allclose(got, q * np.sign(np.diag(r)), atol=2e-5)


def test_haar_moments_under_vmap() -> None:
    """Entries of a Haar-orthogonal n x n matrix have mean 0 and variance 1/n."""
    keys = jax.random.split(jax.random.PRNGKey(1), 200)
    w = jax.jit(jax.vmap(lambda k: orthogonal()(k, (8, 8))))(keys)
    assert abs(float(w.var()) - 1 / 8) < 0.01
    assert abs(float(w.mean())) < 0.01


def test_rejects_vectors() -> None:
    with pytest.raises(ValueError, match="2 dimensions"):
        orthogonal()(jax.random.PRNGKey(0), (4,))


def test_actor_action_mask_removes_actions() -> None:
    """With ``mask_size``, the leading inputs are a mask: masked actions get no probability."""
    from robustmas.envs.core import Discrete
    from robustmas.rl.networks import Actor

    actor = Actor(action_space=Discrete(4), mask_size=4)
    mask = jnp.array([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    x = jnp.concatenate([mask, jnp.ones((2, 3))], axis=1)
    params: Any = actor.init(jax.random.PRNGKey(0), x)
    dist: Any = actor.apply(params, x)
    probs = jnp.asarray(dist.probs)
    np.testing.assert_allclose(probs[mask == 0], 0.0, atol=1e-30)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert float(probs[1, 3]) == pytest.approx(1.0)
    assert np.isfinite(np.asarray(dist.entropy())).all()
    # The layers see the features only.
    first_layer = params["params"]["torso"]["hidden_0"]["kernel"]
    assert first_layer.shape[0] == 3
    with pytest.raises(ValueError, match="action_mask_size"):
        Actor(action_space=Discrete(3), mask_size=4).init(jax.random.PRNGKey(0), x)


def test_multidiscrete_head_masks_each_component() -> None:
    """MultiDiscrete actions: one categorical per component, masks per component, sums."""
    from robustmas.envs.core import MultiDiscrete
    from robustmas.rl.networks import Actor

    space = MultiDiscrete((3, 2))
    actor = Actor(action_space=space, mask_size=5)
    mask = jnp.array([[1.0, 0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0, 1.0]])
    x = jnp.concatenate([mask, jnp.ones((2, 4))], axis=1)
    params: Any = actor.init(jax.random.PRNGKey(0), x)
    dist: Any = actor.apply(params, x)
    probs = np.asarray(dist.parts.probs)  # (2, components, 3)
    assert probs.shape == (2, 2, 3)
    np.testing.assert_allclose(probs[0, 0], [1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(probs[1, 1, 2], 0.0, atol=1e-12)  # padding of the 2-choice part
    assert probs[1, 1, 0] == pytest.approx(0.0) and probs[1, 1, 1] == pytest.approx(1.0)
    samples = np.asarray(
        jax.vmap(lambda k: dist.sample(seed=k))(jax.random.split(jax.random.PRNGKey(1), 200))
    )
    assert (samples[:, 0, 0] == 0).all() and set(samples[:, 1, 0]) <= {1, 2}
    assert (samples[:, 1, 1] == 1).all()
    action = jnp.array([[0, 1], [2, 1]])
    expected = np.log(probs[0, 0, 0]) + np.log(probs[0, 1, 1])
    assert float(dist.log_prob(action)[0]) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_array_equal(np.asarray(dist.mode())[0], [0, int(np.argmax(probs[0, 1]))])
    assert np.isfinite(np.asarray(dist.entropy())).all()


def _valid_conv3x3(img: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Plain loops: ``img (H, W, C)``, ``kernel (3, 3, C, F)`` -> ``(H-2, W-2, F)``."""
    h, w = img.shape[0] - 2, img.shape[1] - 2
    out = np.zeros((h, w, kernel.shape[-1]))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.einsum("abc,abcf->f", img[i : i + 3, j : j + 3], kernel) + bias
    return out


def test_conv_torso_reads_a_channel_first_image_after_the_mask() -> None:
    """``image=(C, H, W)``: the inputs after the mask hold a channel-first image that two valid
    3 x 3 convolutions read; their flattened output and the remaining features feed the MLP.
    Checked against the same layers computed with NumPy loops."""
    from robustmas.envs.core import Discrete
    from robustmas.rl.networks import Actor

    c, h, w, rest = 2, 6, 5, 3
    actor = Actor(
        action_space=Discrete(4),
        hidden_sizes=(8,),
        activation="relu",
        mask_size=4,
        image=(c, h, w),
        conv_features=(3, 2),
    )
    rng = np.random.default_rng(0)
    image = rng.normal(size=(c, h, w))
    extra = rng.normal(size=rest)
    mask = np.array([1.0, 1.0, 0.0, 1.0])
    x = jnp.asarray(np.concatenate([mask, image.ravel(), extra])[None], jnp.float32)
    params: Any = actor.init(jax.random.PRNGKey(0), x)
    p = jax.tree_util.tree_map(np.asarray, params["params"])
    torso = p["torso"]
    assert torso["conv_0"]["kernel"].shape == (3, 3, c, 3)
    assert torso["conv_1"]["kernel"].shape == (3, 3, 3, 2)
    assert torso["hidden_0"]["kernel"].shape == ((h - 4) * (w - 4) * 2 + rest, 8)

    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    a = relu(_valid_conv3x3(image.transpose(1, 2, 0), **torso["conv_0"]))
    a = relu(_valid_conv3x3(a, **torso["conv_1"]))
    hidden = relu(np.concatenate([a.ravel(), extra]) @ torso["hidden_0"]["kernel"]
                  + torso["hidden_0"]["bias"])  # fmt: skip
    logits = hidden @ p["head"]["kernel"] + p["head"]["bias"]
    expected = np.exp(logits - logits.max())
    expected[2] = 0.0  # masked
    expected /= expected.sum()
    dist: Any = actor.apply(params, x)
    np.testing.assert_allclose(np.asarray(dist.probs)[0], expected, rtol=1e-4, atol=1e-6)


def test_conv_critic_skips_the_mask_and_rejects_short_inputs() -> None:
    """The critic reads the mask as features: its image starts at ``image_offset``."""
    from robustmas.rl.networks import Critic

    critic = Critic(hidden_sizes=(4,), image=(1, 5, 5), conv_features=(2,), image_offset=3)
    x = jnp.ones((7, 3 + 25 + 2))
    params: Any = critic.init(jax.random.PRNGKey(0), x)
    assert params["params"]["torso"]["hidden_0"]["kernel"].shape == (3 + 9 * 2 + 2, 4)
    assert critic.apply(params, x).shape == (7,)
    with pytest.raises(ValueError, match="only 20 features"):
        critic.init(jax.random.PRNGKey(0), jnp.ones((1, 20)))


def test_recurrent_actor_masks_actions() -> None:
    """A recurrent actor with ``mask_size`` gives masked choices no probability."""
    from robustmas.envs.core import MultiDiscrete
    from robustmas.rl.networks import RecurrentActor, initial_carry

    actor = RecurrentActor(action_space=MultiDiscrete((3, 2)), cell="lstm", recurrent_size=8,
                           mask_size=5, image=(1, 5, 5), conv_features=(2,))  # fmt: skip
    mask = jnp.array([[1.0, 0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0, 1.0]])
    x = jnp.concatenate([mask, jnp.ones((2, 25 + 2))], axis=1)
    carry = initial_carry("lstm", 8, (2,))
    reset = jnp.array([True, False])
    params: Any = actor.init(jax.random.PRNGKey(0), carry, x, reset)
    carry2, dist = actor.apply(params, carry, x, reset)
    probs = np.asarray(dist.parts.probs)
    np.testing.assert_allclose(probs[0, 0, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(probs[1, 0, [0, 2]], 0.0, atol=1e-12)
    np.testing.assert_allclose(probs[0, 1, 0], 0.0, atol=1e-12)
    assert jax.tree_util.tree_structure(carry2) == jax.tree_util.tree_structure(carry)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"conv_image": (9, 11)}, "conv_image must be"),
        ({"conv_image": (9, 11, 0)}, "conv_image must be"),
        ({"conv_image": (1, 5, 5), "conv_features": ()}, "conv_features"),
        ({"conv_image": (1, 4, 9), "conv_features": (8, 8)}, "need height and width above 4"),
    ],
)
def test_ppo_config_checks_the_image(fields: dict[str, Any], match: str) -> None:
    from robustmas.rl.config import PPOConfig

    with pytest.raises(ValueError, match=match):
        PPOConfig(**fields)


def test_patch_conv_is_flax_conv_with_the_same_parameters() -> None:
    """:class:`PatchConv` (the torso's convolution) has ``nn.Conv``'s parameter tree and, for
    the same key, its initial values; applied with the same parameters it gives the same
    outputs, batch axes included, and the same gradients."""
    import flax.linen as nn

    from robustmas.rl.networks import PatchConv

    init = orthogonal(2.0**0.5)
    ours = PatchConv(4, init)
    flax_conv = nn.Conv(4, (3, 3), padding="VALID", kernel_init=init)
    img = jax.random.normal(jax.random.PRNGKey(3), (2, 3, 7, 6, 5))
    p_ours: Any = ours.init(jax.random.PRNGKey(0), img)
    p_flax: Any = flax_conv.init(jax.random.PRNGKey(0), img)
    assert jax.tree_util.tree_structure(p_ours) == jax.tree_util.tree_structure(p_flax)
    for a, b in zip(
        jax.tree_util.tree_leaves(p_ours), jax.tree_util.tree_leaves(p_flax), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    p_rand = jax.tree_util.tree_map(
        lambda x: jax.random.normal(jax.random.PRNGKey(5), x.shape), p_flax
    )
    out = ours.apply(p_rand, img)
    assert out.shape == (2, 3, 5, 4, 4)
    np.testing.assert_allclose(out, flax_conv.apply(p_rand, img), rtol=1e-5, atol=1e-5)

    def loss(conv: Any, p: Any) -> jax.Array:
        return jnp.sum(jnp.tanh(conv.apply(p, img)))

    g_ours = jax.grad(lambda p: loss(ours, p))(p_rand)
    g_flax = jax.grad(lambda p: loss(flax_conv, p))(p_rand)
    for a, b in zip(
        jax.tree_util.tree_leaves(g_ours), jax.tree_util.tree_leaves(g_flax), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_recurrent_networks_over_a_sequence_equal_their_steps(cell: str) -> None:
    """``sequence=True`` (the PPO replay: torso and head over every step at once, the cell
    scanned) gives the distributions, values and last carry of ``T`` single steps, with resets
    in the middle of the sequences and convolutions over an image."""
    from robustmas.envs.core import Discrete
    from robustmas.rl.networks import RecurrentActor, RecurrentCritic, initial_carry

    steps, batch, mask = 9, 3, 4
    features = mask + 25 + 2
    actor = RecurrentActor(action_space=Discrete(4), cell=cell, recurrent_size=6,
                           mask_size=mask, image=(1, 5, 5), conv_features=(2,))  # fmt: skip
    critic = RecurrentCritic(cell=cell, recurrent_size=6, image=(1, 5, 5), conv_features=(2,),
                             image_offset=mask)  # fmt: skip
    x = jax.random.uniform(jax.random.PRNGKey(0), (steps, batch, features))
    x = x.at[..., :mask].set(1.0).at[3, 0, 1].set(0.0)  # one masked action
    # Sequence 2 starts from the given (non-zero) carry; the others reset at step 0 and later.
    reset = jnp.zeros((steps, batch), bool).at[0, :2].set(True).at[4, 1].set(True)
    reset = reset.at[6, 2].set(True)
    carry = jax.tree_util.tree_map(lambda c: c + 0.3, initial_carry(cell, 6, (batch,)))
    one, no = initial_carry(cell, 6, ()), jnp.bool_(False)
    p_actor: Any = actor.init(jax.random.PRNGKey(1), one, x[0, 0], no)
    p_critic: Any = critic.init(jax.random.PRNGKey(2), one, x[0, 0], no)

    def by_steps(net: Any, params: Any) -> tuple[Any, list[Any]]:
        c, outs = carry, []
        for t in range(steps):
            c, out = net.apply(params, c, x[t], reset[t])
            outs.append(out)
        return c, outs

    last, dists = by_steps(actor, p_actor)
    seq_last, seq_dist = actor.apply(p_actor, carry, x, reset, True)
    expected = np.stack([np.asarray(d.probs) for d in dists])
    np.testing.assert_allclose(np.asarray(seq_dist.probs), expected, rtol=1e-5, atol=1e-6)
    assert float(expected[3, 0, 1]) == 0.0
    for a, b in zip(
        jax.tree_util.tree_leaves(seq_last), jax.tree_util.tree_leaves(last), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    last, values = by_steps(critic, p_critic)
    seq_last, seq_values = critic.apply(p_critic, carry, x, reset, True)
    np.testing.assert_allclose(seq_values, np.stack(values), rtol=1e-5, atol=1e-6)
    for a, b in zip(
        jax.tree_util.tree_leaves(seq_last), jax.tree_util.tree_leaves(last), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

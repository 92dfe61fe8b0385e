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

"""The LAPACK-free orthogonal initialiser."""

from __future__ import annotations

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

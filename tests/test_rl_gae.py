"""GAE: the jitted reverse scan equals a plain NumPy loop."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from robustmas.rl.gae import gae, gae_numpy


@pytest.mark.parametrize(("gamma", "lam"), [(0.99, 0.95), (0.9, 1.0), (1.0, 0.0), (0.5, 0.7)])
def test_gae_matches_numpy_with_dones(gamma, lam):
    rng = np.random.default_rng(0)
    t, envs = 17, 5
    rewards = rng.normal(size=(t, envs)).astype(np.float32)
    values = rng.normal(size=(t, envs)).astype(np.float32)
    dones = rng.random((t, envs)) < 0.25
    last_value = rng.normal(size=(envs,)).astype(np.float32)
    adv, targets = jax.jit(gae)(rewards, values, dones, last_value, gamma, lam)
    ref_adv, ref_targets = gae_numpy(rewards, values, dones, last_value, gamma, lam)
    assert adv.shape == targets.shape == (t, envs)
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, ref_targets, rtol=1e-5, atol=1e-5)


def test_gae_known_values():
    # Two steps, episode ends after the first: A_1 = r_1 + g V_last - V_1,
    # A_0 = r_0 - V_0 (no bootstrap across the end).
    rewards = np.array([1.0, 2.0])
    values = np.array([0.5, 0.25])
    dones = np.array([True, False])
    adv, targets = gae(rewards, values, dones, np.float32(4.0), 0.5, 0.9)
    np.testing.assert_allclose(adv, [0.5, 2.0 + 2.0 - 0.25], rtol=1e-6)
    np.testing.assert_allclose(targets, [1.0, 4.0], rtol=1e-6)


def test_gae_monte_carlo_limit():
    # lam = 1, no dones: advantages are discounted returns (bootstrapped) minus values.
    rng = np.random.default_rng(1)
    rewards = rng.normal(size=(6,)).astype(np.float32)
    values = rng.normal(size=(6,)).astype(np.float32)
    gamma, last = 0.9, np.float32(0.3)
    _, targets = gae(rewards, values, np.zeros(6, bool), last, gamma, 1.0)
    returns = [
        sum(gamma**k * rewards[t + k] for k in range(6 - t)) + gamma ** (6 - t) * last
        for t in range(6)
    ]
    np.testing.assert_allclose(targets, returns, rtol=1e-5, atol=1e-6)

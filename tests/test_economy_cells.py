"""The ``economy-taxes`` cell kind (fixed-tax rows of RP Fig. 4) and the ``rp-fig4`` preset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

from robustmas.experiments.economy_cells import ECONOMY_TAXES, EconomyTaxesSettings, parse_type
from robustmas.experiments.preset import load_preset

TINY: dict[str, Any] = dict(
    episode_length=40,
    total_timesteps=640,
    num_envs=4,
    num_steps=40,
    update_epochs=1,
    num_minibatches=2,
    hidden=(16,),
    eval_episodes=2,
    checkpoint_updates=2,
)


def test_types_and_settings_name_the_field_to_fix() -> None:
    assert parse_type("Original") == (0.23, 0.025)
    assert parse_type("eta=0.11") == (0.11, 0.025)
    assert parse_type("alpha=2.5") == (0.23, 2.5)
    with pytest.raises(ValueError, match="test_types"):
        parse_type("gamma=3")
    with pytest.raises(ValueError, match="test_types"):
        parse_type("eta=1.5")
    with pytest.raises(ValueError, match="taxes"):
        EconomyTaxesSettings(taxes="flat")
    with pytest.raises(ValueError, match="num_minibatches"):
        EconomyTaxesSettings(**{**TINY, "num_minibatches": 7})


def test_a_row_trains_every_type_and_resumes(tmp_path: Path) -> None:
    """Two types of one entropy weight share a program; a rerun resumes to the same numbers."""
    s = EconomyTaxesSettings(taxes="us-federal", test_types=("Original", "eta=0.27"), **TINY)
    seen: list[tuple[int, int]] = []
    result = ECONOMY_TAXES.run(s, 2, 0, tmp_path, lambda d, t: seen.append((d, t)))
    assert seen[-1] == (4, 4)  # 640 / 160 = 4 updates
    per_seed = result["per_seed"]
    assert set(per_seed) == {"Original", "eta=0.27", "mean_over_types"}
    assert all(len(v) == 2 for v in per_seed.values())
    assert all(np.isfinite(v).all() for v in per_seed.values())
    info = result["info"]["types"]["eta=0.27"]
    assert info["eta"] == pytest.approx(0.27) and len(info["tax_revenue"]) == 2
    assert np.isfinite(result["reference"]["random_swf[Original]"])
    # eta reaches the economy: utilities of the same coin differ between the types.
    utility = result["info"]["types"]
    assert utility["Original"]["utility"] != utility["eta=0.27"]["utility"]
    again = ECONOMY_TAXES.run(s, 2, 0, tmp_path, lambda d, t: None)
    assert again["per_seed"] == per_seed


def test_saez_evaluation_fills_the_buffer_first() -> None:
    """Measured Saez episodes are taxed by the formula: the warm-up fills the buffer."""
    import jax

    from robustmas.experiments import economy_cells as ec

    economy, params = ec.fixed_tax_economy("saez", episode_length=200)
    env = ec.EconomyAgents(economy)
    assert ec.saez_warmup_episodes(env.economy, 200) == 63  # 8 incomes per episode
    metrics = jax.jit(lambda k: ec.rollout_metrics(env, ec.random_policy, k, params, 2))(
        jax.random.PRNGKey(0)
    )
    assert np.isfinite(np.asarray(metrics["swf"])).all()

    # The same warm-up by hand on one economy: after 63 episodes the buffer is full.
    def warm(key):
        _, state = env.reset(key, params)

        def episode(state, k):
            def step(state, kk):
                _, state, _, _, _ = env.step(kk, state, jnp.zeros(4, jnp.int32), params)
                return state, None

            state, _ = jax.lax.scan(step, state, jax.random.split(k, 200))
            return env.reset_from(k, state, params)[1], state.saez.count

        return jax.lax.scan(episode, state, jax.random.split(key, 63))[1]

    counts = np.asarray(jax.jit(warm)(jax.random.PRNGKey(1)))
    assert counts[-1] == 500 and counts[-2] < 500
    with pytest.raises(ValueError, match="episode_length"):
        ec.saez_warmup_episodes(env.economy, 50)


def test_rp_fig4_preset_parses() -> None:
    preset = load_preset("rp-fig4")
    assert preset.kind == "economy-taxes"
    assert [label for label, _ in preset.rows] == ["Free Market", "Federal", "Saez"]
    assert {v.metric for v in preset.paper_values} >= {"Original", "eta=0.27", "alpha=2.5"}

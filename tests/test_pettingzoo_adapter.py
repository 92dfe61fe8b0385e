"""PettingZoo adapter: the grid games pass ``parallel_api_test`` (skipped without PettingZoo)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from gymnasium.spaces import Discrete  # a dependency of PettingZoo
from pettingzoo.test import parallel_api_test

from robustmas.envs.parallel.adapters import make_parallel_grid_game


@pytest.mark.parametrize("spec", ["tragedy-v0:augmented=true", "nmatrix-v0"])
def test_grid_games_pass_the_parallel_api_test(spec: str) -> None:
    env = make_parallel_grid_game(spec, episode_length=5)
    parallel_api_test(env, num_cycles=12)


def test_agents_spaces_and_seeding() -> None:
    env = make_parallel_grid_game("tragedy-v0:augmented=true", episode_length=3)
    assert env.possible_agents == ["agent_0", "agent_1", "principal"]
    assert [env.action_space(a) for a in env.possible_agents] == [
        Discrete(3),
        Discrete(3),
        Discrete(5),
    ]
    passive = make_parallel_grid_game("tragedy-v0", episode_length=3)
    assert passive.action_space("principal") == Discrete(1)
    first, _ = env.reset(seed=7)
    again, _ = env.reset(seed=7)
    for agent in env.possible_agents:
        np.testing.assert_array_equal(first[agent], again[agent])
    actions = {"agent_0": 1, "agent_1": 2, "principal": 4}
    for t in range(3):
        _, rewards, terminated, truncated, infos = env.step(actions)
        assert set(rewards) == set(env.possible_agents)
        assert infos["principal"]["raw_reward"] == pytest.approx(rewards["principal"])
        assert all(v == (t == 2) for v in terminated.values())
        assert not any(truncated.values())
    assert env.agents == []
    assert env.state().shape == env.state_space.shape
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(actions)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="missing \\['principal'\\]"):
        env.step({"agent_0": 0, "agent_1": 0})
    with pytest.raises(
        ValueError, match="actions\\['agent_0'\\]: expected an integer in \\[0, 3\\)"
    ):
        env.step({"agent_0": 3, "agent_1": 0, "principal": 0})

"""RLlib's PPO training the AI Economist's agents and planner: the reference side of a benchmark.

Runs in the AI Economist's venv (``.venv-aie``, Python 3.11, NumPy 1.23.5) with RLlib added::

    make aie-venv
    .venv-aie/bin/python -m pip install torch==2.13.0 "ray[rllib]==2.60.0" numpy==1.23.5 \\
        pyarrow==18.1.0
    .venv-aie/bin/python benchmarks/rllib_aie_economy.py --iters 4

``benchmarks/bench_rllib_economy.py`` runs it and our side in one run and prints the ratio.

The environment is ``ai-economist`` 1.7.1 in the papers' setting (``tests/aie_reference.py``'s
``ENV_CONFIG``: Open-Quadrant 25 x 25, 4 agents, the planner's 7 tax brackets, 1000-step
episodes).  An RLlib ``MultiAgentEnv`` wrapper flattens each player's observation dict (its
maps, flat features, time and action mask, in the env's key order) into one float vector; agents
``"0"``-``"3"`` share one policy (``Discrete(50)``) and the planner ``"p"`` has its own
(``MultiDiscrete([22] * 7)``), as in the AI Economist.  The planner does not see the 25 x 25
maps unless ``--planner-maps`` (our ``rp-fig4`` planners do not either).  RLlib's PPO (new
API stack, torch, local learner, MLP 128 x 128 relu, separate value network) trains with the
``rp-fig4`` agents' numbers: 4,000 env steps per iteration (16 x 250 on our side), 4 epochs of
minibatches of 1,000, lr 3e-4, gamma 0.998, GAE lambda 0.98, clip 0.2.  It does not apply the
action masks (RLlib's default modules have no masking), so it does a little less work than our
masked policies.  The AI Economist env is not vectorised; RLlib steps ``--envs`` copies
per env runner (``--runners`` remote runners; 0: the local one).

Prints one JSON line: env steps/s over the iterations after the first (RLlib's
``num_env_steps_sampled_lifetime`` over their wall time), the first iteration and the startup
on their own.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import gymnasium as gym  # noqa: E402
from ray.rllib.env.multi_agent_env import MultiAgentEnv  # noqa: E402

import aie_reference  # noqa: E402  (the AI Economist's setting, shared with the tests)

PLAYERS = ("0", "1", "2", "3", "p")


def _flat(obs: dict[str, Any], planner_maps: bool) -> dict[str, np.ndarray]:
    """Each player's observation dict as one float32 vector (the env's key order); the
    planner's 25 x 25 maps only with ``planner_maps`` (off in our ``rp-fig4`` planners)."""
    return {
        k: np.concatenate(
            [
                np.ravel(v).astype(np.float32)
                for name, v in obs[k].items()
                if k != "p" or planner_maps or not name.startswith("world-")
            ]
        )
        for k in PLAYERS
    }


class AIEconomist(MultiAgentEnv):
    """``ai-economist``'s gather-trade-build env as an RLlib multi-agent env."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.env = aie_reference.make_env()
        self.planner_maps = bool((config or {}).get("planner_maps", False))
        raw = self.env.reset()
        first = _flat(raw, self.planner_maps)
        dims = aie_reference.planner_dims(self.env)
        self.agents = self.possible_agents = list(PLAYERS)
        self.observation_spaces = {
            k: gym.spaces.Box(-np.inf, np.inf, first[k].shape, np.float32) for k in PLAYERS
        }
        agent_space = gym.spaces.Discrete(int(np.asarray(raw["0"]["action_mask"]).size))
        self.action_spaces = {k: agent_space for k in PLAYERS[:-1]}
        self.action_spaces["p"] = gym.spaces.MultiDiscrete(dims)
        self.observation_space = gym.spaces.Dict(self.observation_spaces)
        self.action_space = gym.spaces.Dict(self.action_spaces)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """A new episode (AIE draws from NumPy's global RNG, seeded here when asked)."""
        if seed is not None:
            aie_reference.aie_seed(seed)
        with contextlib.redirect_stdout(io.StringIO()):
            return _flat(self.env.reset(), self.planner_maps), {}

    def step(self, action_dict: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """One step of every player; the episode ends by time (truncation)."""
        actions = {k: int(v) for k, v in action_dict.items() if k != "p"}
        actions["p"] = [int(a) for a in np.asarray(action_dict["p"]).ravel()]
        obs, reward, done, _ = self.env.step(actions)
        end = bool(done["__all__"])
        return (
            _flat(obs, self.planner_maps),
            {k: float(reward[k]) for k in PLAYERS},
            {"__all__": False},
            {"__all__": end},
            {},
        )


def _policy_of(agent_id: Any, *_: Any, **__: Any) -> str:
    return "planner" if agent_id == "p" else "agents"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iters", type=int, default=4, help="training iterations (>= 2)")
    parser.add_argument("--batch", type=int, default=4000, help="env steps per iteration")
    parser.add_argument("--runners", type=int, default=0, help="remote env runners (0: local)")
    parser.add_argument("--envs", type=int, default=1, help="environments per env runner")
    parser.add_argument("--planner-maps", action="store_true", help="the planner sees the maps")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    config = (
        PPOConfig()
        .environment("aie-gather-trade-build", env_config={"planner_maps": args.planner_maps})
        .multi_agent(policies={"agents", "planner"}, policy_mapping_fn=_policy_of)
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(
                rl_module_specs={"agents": RLModuleSpec(), "planner": RLModuleSpec()}
            ),
            model_config=DefaultModelConfig(
                fcnet_hiddens=[128, 128], fcnet_activation="relu", vf_share_layers=False
            ),
        )
        .env_runners(
            num_env_runners=args.runners,
            num_envs_per_env_runner=args.envs,
            rollout_fragment_length="auto",
        )
        .learners(num_learners=0)
        .training(
            train_batch_size_per_learner=args.batch,
            minibatch_size=args.batch // 4,
            num_epochs=4,
            lr=3e-4,
            gamma=0.998,
            lambda_=0.98,
            clip_param=0.2,
            entropy_coeff=0.025,
            vf_loss_coeff=0.5,
            grad_clip=10.0,
            use_kl_loss=False,
        )
    )
    register_env("aie-gather-trade-build", AIEconomist)
    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        logging_level=logging.WARNING,
        # remote env runners import the AI Economist's setting from tests/ too
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT / "tests")}},
    )
    with contextlib.redirect_stdout(io.StringIO()):
        algo = config.build_algo()
    startup_s = time.perf_counter() - t0
    iter_s, lifetime = [], []
    try:
        for _ in range(args.iters):
            t = time.perf_counter()
            result = algo.train()
            iter_s.append(time.perf_counter() - t)
            lifetime.append(int(result["env_runners"]["num_env_steps_sampled_lifetime"]))
    finally:
        algo.stop()
        ray.shutdown()
    steps = np.diff([0, *lifetime])
    later_s = float(sum(iter_s[1:]))
    print(json.dumps({
        "rllib": ray.__version__,
        "env": "ai-economist " + aie_reference.versions().get("ai_economist", "?"),
        "batch_env_steps": args.batch,
        "num_env_runners": args.runners,
        "num_envs_per_env_runner": args.envs,
        "planner_maps": args.planner_maps,
        "startup_s": startup_s,
        "iter_s": iter_s,
        "env_steps_per_iter": steps.tolist(),
        "first_iter_steps_per_s": float(steps[0] / iter_s[0]),
        "steps_per_s": float(steps[1:].sum() / later_s) if later_s > 0 else float("nan"),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

"""Reference fixtures from Salesforce's AI Economist (ai-economist 1.7.1) for the JAX port.

This script is NOT a test module (its name does not start with ``test_``) and it is never
imported by the test suite. It runs only in the separate ai-economist venv, which pins
numpy 1.23 (ai-economist uses ``np.int``):

    python3 -m venv .venv-aie
    .venv-aie/bin/pip install --no-deps ai-economist==1.7.1 numpy==1.23.5 scipy==1.10.1 \
        pyyaml lz4 GPUtil pycryptodome

It imports and runs ai-economist (no AI Economist code is copied here) and writes plain
numeric ``.npz`` files (``np.savez_compressed``, no object arrays: load them with
``allow_pickle=False``) and strict ``.json`` files into ``tests/data/``, which the main test
suite (numpy 2, no ai-economist) reads.

Environment: the papers' setting (``ENV_CONFIG`` below): scenario
``layout_from_file/simple_wood_and_stone``, components Build, ContinuousDoubleAuction,
Gather, PeriodicBracketTax in that order, ``quadrant_25x25_20each_30clump.txt``, 4 agents,
``fixed_four_skill_and_loc``, 1000-step episodes, single-action agents (50 actions),
multi-action planner (7 brackets x 22 choices), flattened observations and masks.

Random policy (shared by every subcommand). ``rng = np.random.default_rng(seed)`` (separate
from AIE's global ``np.random``). Per step, agents 0..3 in turn draw
``allowed[rng.integers(len(allowed))]`` with ``allowed = flatnonzero(mask)`` over their
50-long flat mask (0 no-op, 1 build, 2-12 Buy_Stone price 0..10, 13-23 Sell_Stone, 24-34
Buy_Wood, 35-45 Sell_Wood, 46-49 Gather left/right/up/down); then the planner draws, for
each bracket b = 0..6 in turn, among the allowed choices of row b of its mask reshaped
(7, 22) (0 = keep, k = rate index k - 1; only 0 is allowed except on the first day of a
tax period). AIE's global ``np.random.seed(seed)`` is called right before ``env.reset()``.

Commands (from the repository root) and fixtures
================================================

1. ``.venv-aie/bin/python tests/aie_reference.py replay --steps 1000 --seed 0
   --out tests/data/aie_replay.npz``

   Writes ``tests/data/aie_replay.npz`` (taxes by the random planner, 1000 steps),
   ``tests/data/aie_replay_free_market.npz`` (``disable_taxes=True``, 300 steps, same seed,
   ``--free-market-steps``/``--free-market-out``) and the sidecar
   ``tests/data/aie_replay_keys.json`` (``--keys-out``).

   Everything random in AIE is recorded so another implementation can replay the episode
   exactly from the recorded actions. Conventions: resource axis Stone=0, Wood=1
   everywhere; inventory/escrow columns [Coin, Stone, Wood]; agents 0..3; row ``r`` of a
   per-step (T, ...) array is the state right *after* ``env.step`` number ``r + 1``
   (``world.timestep == r + 1``); ``step`` columns in event tables are that row index r.

   Reset (before any step):
     ``reset_order`` (4,) int8: the permutation drawn by the scenario's
       ``additional_reset_steps`` (``world.get_random_order_agents``): the agent
       ``reset_order[i]`` gets ``ranked_locs[i]`` and ``build_payment = avg_ranked_skill[i]``
       (``avg_ranked_skill`` is sorted ascending, so position 3 is the most skilled).
     ``ranked_locs`` (4,2) int16, ``avg_ranked_skill`` (4,) float64: the scenario's fixed
       tables (``_ranked_locs``, ``_avg_ranked_skill``).
     ``loc0`` (4,2) int16; ``build_payment`` (4,) float64 (coin per house);
       ``build_skill_obs`` (4,) float64 (Build's ``sampled_skills``: a fresh Pareto(4) draw
       that agents observe, unrelated to the payment under fixed_four_skill_and_loc);
       ``bonus_gather_prob`` (4,) float64.
     ``maps0`` (6,25,25) float32: ``world.maps.state`` in AIE's key order [Stone, Wood,
       House, Water, StoneSourceBlock, WoodSourceBlock].
     ``obs0_agent_flat`` (4,136) float32, ``obs0_planner_flat`` (86,) float32,
       ``obs0_planner_p`` (4,8) float32 (the planner's per-agent "p0".."p3" flat vectors),
       ``obs0_agent_map`` (4,7,11,11) float32, ``obs0_agent_idx`` (4,2,11,11) int16,
       ``obs0_planner_map`` (6,25,25) float32, ``obs0_planner_idx`` (2,25,25) int16,
       ``mask0_agent`` (4,50) uint8, ``mask0_planner`` (154,) uint8.

   Per step (T rows):
     ``agent_action`` (T,4) int16, ``planner_action`` (T,7) int16 (the actions taken at
       that step, chosen from the previous row's masks / the reset masks).
     ``build_order`` (T,4) int8 and ``gather_order`` (T,4) int8: the permutations returned by
       ``world.get_random_order_agents`` (processing order of agent indices); each step
       calls it exactly twice, first in Build.component_step, then in
       Gather.component_step (checked).
     ``gather_u`` (T,4) float64: the ``numpy.random.rand()`` draw (move.py) used by the
       agent that collected a resource this step, NaN for agents that collected nothing; it
       collected ``1 + (u < bonus_gather_prob)`` units (checked). At most one collection
       per agent per step (checked).
     ``regen_hits`` (K,4) int16 rows (step, resource, row, col): every cell whose regen
       draw is < 0.01. ``scenario_step`` draws ``np.random.rand(25, 25)`` first for Wood,
       then for Stone; resource is stored as Stone=0, Wood=1. A hit respawns the resource
       iff the cell is a source block of that resource (``map = min(map + hit, 1)``), even
       under an agent (checked against the maps).
     ``mask_agent`` (T,4,50) uint8, ``mask_planner`` (T,154) uint8: masks returned with
       that step's observation.
     ``loc`` (T,4,2) int16; ``inventory`` and ``escrow`` (T,4,3) float64 [Coin, Stone,
       Wood]; ``labor`` (T,4) float64; ``reward`` (T,5) float64 (agents 0..3, planner).
     ``res_maps`` (T,2,25,25) uint8 [Stone, Wood]; ``house_owner`` (T,25,25) int8 (-1 none).
     ``tax_rates`` (T,7) float64 (``curr_marginal_rates`` after the step);
       ``tax_paid``, ``income`` (T,4) float64 and ``lump_sum`` (T,) float64: 0 except on
       tax days (rows 99, 199, ...).
     ``bid_hists``, ``ask_hists`` (T,2,4,11) int16 (resource, agent, price 0..10),
       ``n_orders`` (T,2,4) int16, ``price_history`` (T,2,4,11) float64 (CDA state).
     ``trades`` (K,5) int16 rows (step, resource, buyer, seller, price) in execution order,
       with ``trade_bid_ask`` (K,2) int16 (the matched bid and ask prices).
     ``obs_agent_flat`` (T,4,136) float32, ``obs_planner_flat`` (T,86) float32,
       ``obs_planner_p`` (T,4,8) float32, ``obs_time`` (T,) float32 (the separate "time"
       entry, also inside the flat vectors).
     First 30 steps only: ``obs_agent_map`` (30,4,7,11,11) float32, ``obs_agent_idx``
       (30,4,2,11,11) int16, ``obs_planner_map`` (30,6,25,25) float32,
       ``obs_planner_idx`` (30,2,25,25) int16.
     ``seed`` () int64, ``steps`` () int64, ``disable_taxes`` () bool.

   Free market file: same keys, except that with ``disable_taxes=True`` AIE gives the
   planner no tax actions, only its ``PassiveAgentPlaceholder`` subspace, so
   ``planner_action`` is (T,1) (always 0), ``mask_planner`` (T,1) and ``mask0_planner``
   (1,); tax rates are all 0.

   ``aie_replay_keys.json``: the order, length and offset of the keys concatenated into the
   flat agent (136), planner (86) and planner-per-agent "pN" (8) vectors (AIE sorts the
   names of all non-multi-dimensional entries; "time" is in the flat vector and is also
   kept separate), verified by replaying the same episode in a second env with
   ``flatten_observations=False`` and concatenating in that order (bit-exact, float32) for
   the number of steps recorded there; plus the env config and ``env.metrics`` at the end
   of each recorded trajectory.

2. ``.venv-aie/bin/python tests/aie_reference.py stats --episodes 100
   --out tests/data/aie_random_stats.json``

   Random-policy full episodes under ``planner`` (random planner) and ``free_market``
   (``disable_taxes=True``). Episode i uses seed ``--seed + i`` (default 0) for both
   ``np.random.seed`` and the policy Generator, one env per setting reused across
   episodes. Per episode (lists, agent-major where per agent): final coin endowment
   (inventory + escrow), labor, utility (isoelastic_coin_minus_labor as the scenario
   computes it), houses on the map, n_trades, swf (coin_eq_times_productivity), productivity,
   equality, total_collected_taxes, per-agent builds, episode returns of agents and planner.
   A "summary" block holds mean and standard error per scalar metric.

3. ``.venv-aie/bin/python tests/aie_reference.py functions --out tests/data/aie_functions.json``

   AIE's pure functions on seeded random inputs plus edge cases, inputs and outputs:
   PeriodicBracketTax.taxes_due/marginal_rate, enact_taxes (lump-sum redistribution),
   rewards.isoelastic_coin_minus_labor, coin_eq_times_productivity,
   inv_income_weighted_coin_endowments, inv_income_weighted_utility and
   social_metrics.get_gini/get_equality/get_productivity. Non-finite floats are written as
   the strings "nan", "inf", "-inf"; a call that raises is recorded as
   ``{"raises": "<ExceptionName>"}``.

4. ``.venv-aie/bin/python tests/aie_reference.py speed --steps 2000``

   Prints one JSON line: AIE steps/s (one env, random policy, reset excluded, best of 3),
   both env.step alone and with the policy, plus versions and the CPU model. Writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

with contextlib.redirect_stdout(io.StringIO()):  # ai-economist prints GPU probes on import
    import ai_economist
    from ai_economist import foundation
    from ai_economist.foundation.components import move as aie_move
    from ai_economist.foundation.scenarios.utils import rewards, social_metrics

N_AGENTS = 4
RES = ("Stone", "Wood")  # resource axis used in every fixture
INV = ("Coin", "Stone", "Wood")  # inventory/escrow column order
N_OBS_SPATIAL = 30  # steps for which the spatial observations are stored
VERIFY_KEY_STEPS = 250  # lockstep steps used to verify the flat-key layout

ENV_CONFIG = dict(
    scenario_name="layout_from_file/simple_wood_and_stone",
    components=[
        (
            "Build",
            dict(skill_dist="pareto", payment_max_skill_multiplier=3, build_labor=10, payment=10),
        ),
        (
            "ContinuousDoubleAuction",
            dict(max_bid_ask=10, order_labor=0.25, max_num_orders=5, order_duration=50),
        ),
        ("Gather", dict(move_labor=1, collect_labor=1, skill_dist="pareto")),
        (
            "PeriodicBracketTax",
            dict(
                period=100,
                rate_disc=0.05,
                usd_scaling=1000.0,
                bracket_spacing="us-federal",
                tax_model="model_wrapper",
            ),
        ),
    ],
    env_layout_file="quadrant_25x25_20each_30clump.txt",
    starting_agent_coin=0,
    fixed_four_skill_and_loc=True,
    n_agents=N_AGENTS,
    world_size=[25, 25],
    episode_length=1000,
    multi_action_mode_agents=False,
    multi_action_mode_planner=True,
    flatten_observations=True,
    flatten_masks=True,
    isoelastic_eta=0.23,
    energy_cost=0.21,
    energy_warmup_constant=0,
    planner_gets_spatial_info=True,
    full_observability=False,
    mobile_agent_observation_range=5,
    planner_reward_type="coin_eq_times_productivity",
)


def env_config(disable_taxes: bool = False, flatten_observations: bool = True, **tax_kw):
    """A deep-ish copy of ENV_CONFIG with tax options changed."""
    cfg = dict(ENV_CONFIG)
    comps = []
    for name, kw in ENV_CONFIG["components"]:
        kw = dict(kw)
        if name == "PeriodicBracketTax":
            kw.update(tax_kw)
            if disable_taxes:
                kw["disable_taxes"] = True
        comps.append((name, kw))
    cfg["components"] = comps
    cfg["flatten_observations"] = flatten_observations
    return cfg


def quiet_metrics(env) -> dict:
    """env.metrics without the RuntimeWarnings of AIE's means over empty lists (-> NaN)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return env.metrics


# AIE draws every random number from numpy's legacy global RNG, so seeding and
# snapshotting it is the point here (hence the NPY002 waivers).
def aie_seed(seed: int) -> None:
    np.random.seed(seed)  # noqa: NPY002


def aie_rng_state():
    return np.random.get_state()  # noqa: NPY002


def aie_set_rng_state(state) -> None:
    np.random.set_state(state)  # noqa: NPY002


def make_env(**kw):
    with contextlib.redirect_stdout(io.StringIO()):
        return foundation.make_env_instance(**env_config(**kw))


# --------------------------------------------------------------------------------------
# Random policy
# --------------------------------------------------------------------------------------


def sample_actions(rng: np.random.Generator, obs: dict, planner_dims) -> dict:
    """Uniform over allowed actions; agents 0..3 first, then planner brackets in order."""
    actions = {}
    for i in range(N_AGENTS):
        allowed = np.flatnonzero(obs[str(i)]["action_mask"] > 0)
        actions[str(i)] = int(allowed[rng.integers(len(allowed))])
    pmask = obs["p"]["action_mask"]
    pa, off = [], 0
    for d in planner_dims:
        allowed = np.flatnonzero(pmask[off : off + d] > 0)
        pa.append(int(allowed[rng.integers(len(allowed))]))
        off += d
    actions["p"] = pa
    return actions


def planner_dims(env) -> list[int]:
    return [int(d) for d in np.atleast_1d(env.world.planner.action_spaces)]


# --------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------


def jsonable(x):
    """Numpy -> python, non-finite floats -> "nan"/"inf"/"-inf" (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    return x


def write_json(path: str | Path, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(jsonable(obj), f, indent=1, allow_nan=False)
        f.write("\n")


def versions() -> dict:
    return dict(
        ai_economist=getattr(ai_economist, "__version__", "1.7.1"),
        numpy=np.__version__,
        python=platform.python_version(),
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --------------------------------------------------------------------------------------
# replay
# --------------------------------------------------------------------------------------


class Recorder:
    """Monkeypatches one env instance (and move.rand) to record AIE's random draws."""

    def __init__(self, env):
        self.env = env
        self.phase = "reset"
        self.order_calls: list[tuple[str, list[int]]] = []
        self.gather_draws: list[float] = []
        self.regen: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

        world = env.world
        orig_order = world.get_random_order_agents

        def rec_order():
            agents = orig_order()
            self.order_calls.append((self.phase, [int(a.idx) for a in agents]))
            return agents

        world.get_random_order_agents = rec_order

        for comp in env.components:

            def wrapped(orig=comp.component_step, name=comp.name):
                prev, self.phase = self.phase, name
                try:
                    orig()
                finally:
                    self.phase = prev

            comp.component_step = wrapped

        orig_scenario_step = env.scenario_step
        maps = world.maps

        def scenario_step():
            real_rand = np.random.rand
            draws = []

            def rec_rand(*shape):
                u = real_rand(*shape)
                draws.append(np.array(u))
                return u

            before = {r: np.array(maps.get(r)) for r in RES}
            np.random.rand = rec_rand
            try:
                orig_scenario_step()
            finally:
                np.random.rand = real_rand
            assert len(draws) == 2, len(draws)
            for name, u in zip(("Wood", "Stone"), draws, strict=True):  # scenario order
                self.regen.append((name, u, before[name], np.array(maps.get(name))))

        env.scenario_step = scenario_step

        real_gather_rand = aie_move.rand

        def rec_gather_rand(*args):
            u = real_gather_rand(*args)
            self.gather_draws.append(float(u))
            return u

        aie_move.rand = rec_gather_rand
        self._restore_gather_rand = real_gather_rand

    def close(self):
        aie_move.rand = self._restore_gather_rand

    def begin_step(self):
        self.order_calls.clear()
        self.gather_draws.clear()
        self.regen.clear()


def _masks(obs):
    ma = np.stack([obs[str(i)]["action_mask"] for i in range(N_AGENTS)])
    return ma.astype(np.uint8), np.asarray(obs["p"]["action_mask"]).astype(np.uint8)


def _check_mask_binary(obs):
    for k in [*[str(i) for i in range(N_AGENTS)], "p"]:
        m = np.asarray(obs[k]["action_mask"])
        assert np.all((m == 0) | (m == 1)), k


def record_trajectory(steps: int, seed: int, disable_taxes: bool):
    """Run one random-policy trajectory with everything needed to replay it."""
    env = make_env(disable_taxes=disable_taxes)
    rec = Recorder(env)
    pdims = planner_dims(env)
    rng = np.random.default_rng(seed)
    world = env.world
    build = env.get_component("Build")
    gather = env.get_component("Gather")
    cda = env.get_component("ContinuousDoubleAuction")
    tax = env.get_component("PeriodicBracketTax")
    agents = world.agents

    aie_seed(seed)
    obs = env.reset()
    _check_mask_binary(obs)
    assert [p for p, _ in rec.order_calls] == ["reset"], rec.order_calls
    reset_order = rec.order_calls[0][1]

    out: dict[str, np.ndarray] = {}
    out["seed"] = np.int64(seed)
    out["steps"] = np.int64(steps)
    out["disable_taxes"] = np.bool_(disable_taxes)
    out["reset_order"] = np.array(reset_order, np.int8)
    out["ranked_locs"] = np.array(env._ranked_locs, np.int16)
    out["avg_ranked_skill"] = np.array(env._avg_ranked_skill, np.float64)
    out["loc0"] = np.array([a.loc for a in agents], np.int16)
    out["build_payment"] = np.array([a.state["build_payment"] for a in agents], np.float64)
    out["build_skill_obs"] = np.array([build.sampled_skills[a.idx] for a in agents], np.float64)
    out["bonus_gather_prob"] = np.array([a.state["bonus_gather_prob"] for a in agents], np.float64)
    for pos, i in enumerate(reset_order):
        assert tuple(agents[i].loc) == tuple(env._ranked_locs[pos])
        assert agents[i].state["build_payment"] == env._avg_ranked_skill[pos]
    out["maps0"] = world.maps.state.astype(np.float32)
    assert list(world.maps.keys()) == [
        "Stone",
        "Wood",
        "House",
        "Water",
        "StoneSourceBlock",
        "WoodSourceBlock",
    ]
    out["obs0_agent_flat"] = np.stack([obs[str(i)]["flat"] for i in range(N_AGENTS)])
    out["obs0_planner_flat"] = np.array(obs["p"]["flat"], np.float32)
    out["obs0_planner_p"] = np.stack([obs["p"][f"p{i}"] for i in range(N_AGENTS)]).astype(
        np.float32
    )
    out["obs0_agent_map"] = np.stack([obs[str(i)]["world-map"] for i in range(N_AGENTS)]).astype(
        np.float32
    )
    out["obs0_agent_idx"] = np.stack(
        [obs[str(i)]["world-idx_map"] for i in range(N_AGENTS)]
    ).astype(np.int16)
    out["obs0_planner_map"] = np.asarray(obs["p"]["world-map"], np.float32)
    out["obs0_planner_idx"] = np.asarray(obs["p"]["world-idx_map"], np.int16)
    out["mask0_agent"], out["mask0_planner"] = _masks(obs)

    T, n_sp = steps, min(steps, N_OBS_SPATIAL)
    P = len(pdims)
    per = dict(
        agent_action=np.zeros((T, N_AGENTS), np.int16),
        planner_action=np.zeros((T, P), np.int16),
        build_order=np.zeros((T, N_AGENTS), np.int8),
        gather_order=np.zeros((T, N_AGENTS), np.int8),
        gather_u=np.full((T, N_AGENTS), np.nan),
        mask_agent=np.zeros((T, N_AGENTS, 50), np.uint8),
        mask_planner=np.zeros((T, int(sum(pdims))), np.uint8),
        loc=np.zeros((T, N_AGENTS, 2), np.int16),
        inventory=np.zeros((T, N_AGENTS, 3)),
        escrow=np.zeros((T, N_AGENTS, 3)),
        labor=np.zeros((T, N_AGENTS)),
        reward=np.zeros((T, N_AGENTS + 1)),
        res_maps=np.zeros((T, 2, 25, 25), np.uint8),
        house_owner=np.zeros((T, 25, 25), np.int8),
        tax_rates=np.zeros((T, 7)),
        tax_paid=np.zeros((T, N_AGENTS)),
        income=np.zeros((T, N_AGENTS)),
        lump_sum=np.zeros(T),
        bid_hists=np.zeros((T, 2, N_AGENTS, 11), np.int16),
        ask_hists=np.zeros((T, 2, N_AGENTS, 11), np.int16),
        n_orders=np.zeros((T, 2, N_AGENTS), np.int16),
        price_history=np.zeros((T, 2, N_AGENTS, 11)),
        obs_agent_flat=np.zeros((T, N_AGENTS, 136), np.float32),
        obs_planner_flat=np.zeros((T, 86), np.float32),
        obs_planner_p=np.zeros((T, N_AGENTS, 8), np.float32),
        obs_time=np.zeros(T, np.float32),
        obs_agent_map=np.zeros((n_sp, N_AGENTS, 7, 11, 11), np.float32),
        obs_agent_idx=np.zeros((n_sp, N_AGENTS, 2, 11, 11), np.int16),
        obs_planner_map=np.zeros((n_sp, 6, 25, 25), np.float32),
        obs_planner_idx=np.zeros((n_sp, 2, 25, 25), np.int16),
    )
    regen_hits, trades, trade_bid_ask = [], [], []
    action_log = []
    stone_src = world.maps.get("StoneSourceBlock") > 0
    wood_src = world.maps.get("WoodSourceBlock") > 0
    src = {"Stone": stone_src, "Wood": wood_src}

    for t in range(T):
        actions = sample_actions(rng, obs, pdims)
        action_log.append(actions)
        per["agent_action"][t] = [actions[str(i)] for i in range(N_AGENTS)]
        per["planner_action"][t] = actions["p"]
        rec.begin_step()
        obs, rew, done, _ = env.step(actions)
        _check_mask_binary(obs)
        assert done["__all__"] == (t + 1 >= env.episode_length)

        # permutations: Build first, then Gather, exactly once each
        phases = [p for p, _ in rec.order_calls]
        assert phases == ["Build", "Gather"], phases
        per["build_order"][t] = rec.order_calls[0][1]
        per["gather_order"][t] = rec.order_calls[1][1]

        # gather draws <-> this step's gather log (same order)
        glog = gather.gathers[-1]
        assert len(glog) == len(rec.gather_draws), (len(glog), len(rec.gather_draws))
        for u, g in zip(rec.gather_draws, glog, strict=True):
            i = int(g["agent"])
            assert np.isnan(per["gather_u"][t, i]), "agent collected twice in one step"
            per["gather_u"][t, i] = u
            assert g["n"] == 1 + (u < agents[i].state["bonus_gather_prob"])

        # regeneration: keep cells with draw < 0.01, check the map update rule
        for name, u, before, after in rec.regen:
            hit = u < 0.01
            expected = np.minimum(before + (hit & src[name]), 1)
            assert np.array_equal(expected, after), (t, name)
            for r, c in np.argwhere(hit):
                regen_hits.append((t, RES.index(name), r, c))

        for i, a in enumerate(agents):
            per["loc"][t, i] = a.loc
            per["inventory"][t, i] = [a.state["inventory"][k] for k in INV]
            per["escrow"][t, i] = [a.state["escrow"][k] for k in INV]
            per["labor"][t, i] = a.state["endogenous"]["Labor"]
        per["reward"][t] = [rew[str(i)] for i in range(N_AGENTS)] + [rew["p"]]
        for ri, r in enumerate(RES):
            m = world.maps.get(r)
            assert np.all((m == 0) | (m == 1))
            per["res_maps"][t, ri] = m
        per["house_owner"][t] = world.maps.get("House", owner=True)
        per["tax_rates"][t] = tax.curr_marginal_rates
        tx = tax.taxes[-1]
        if tx:
            per["tax_paid"][t] = [tx[str(i)]["tax_paid"] for i in range(N_AGENTS)]
            per["income"][t] = [tx[str(i)]["income"] for i in range(N_AGENTS)]
            per["lump_sum"][t] = tx["0"]["lump_sum"]
        for ri, r in enumerate(RES):
            for i in range(N_AGENTS):
                per["bid_hists"][t, ri, i] = cda.bid_hists[r][i]
                per["ask_hists"][t, ri, i] = cda.ask_hists[r][i]
                per["n_orders"][t, ri, i] = cda.n_orders[r][i]
                per["price_history"][t, ri, i] = cda.price_history[r][i]
        for tr in cda.executed_trades[-1]:
            trades.append((t, RES.index(tr["commodity"]), tr["buyer"], tr["seller"], tr["price"]))
            trade_bid_ask.append((tr["bid"], tr["ask"]))

        per["obs_agent_flat"][t] = np.stack([obs[str(i)]["flat"] for i in range(N_AGENTS)])
        per["obs_planner_flat"][t] = obs["p"]["flat"]
        per["obs_planner_p"][t] = np.stack([obs["p"][f"p{i}"] for i in range(N_AGENTS)])
        per["obs_time"][t] = obs["0"]["time"][0]
        assert all(obs[k]["time"][0] == obs["0"]["time"][0] for k in ("1", "2", "3", "p"))
        ma, mp = _masks(obs)
        per["mask_agent"][t], per["mask_planner"][t] = ma, mp
        if t < n_sp:
            for i in range(N_AGENTS):
                per["obs_agent_map"][t, i] = obs[str(i)]["world-map"]
                per["obs_agent_idx"][t, i] = obs[str(i)]["world-idx_map"]
            per["obs_planner_map"][t] = obs["p"]["world-map"]
            per["obs_planner_idx"][t] = obs["p"]["world-idx_map"]

    # integer-valued stocks really are integers (Stone/Wood, and escrowed coin)
    assert np.all(per["inventory"][..., 1:] == np.round(per["inventory"][..., 1:]))
    assert np.all(per["escrow"] == np.round(per["escrow"]))

    out.update(per)
    out["regen_hits"] = np.array(regen_hits, np.int16).reshape(-1, 4)
    out["trades"] = np.array(trades, np.int16).reshape(-1, 5)
    out["trade_bid_ask"] = np.array(trade_bid_ask, np.int16).reshape(-1, 2)
    metrics = quiet_metrics(env)
    rec.close()
    return out, metrics, action_log, env


def flat_key_layout(seed: int, disable_taxes: bool, action_log: list[dict], flat_env, data):
    """Key order of the flat vectors, verified in lockstep against an unflattened env.

    The flat env here is a fresh, unpatched one: matching the recorded observations also
    shows that the recording hooks do not perturb AIE.
    """
    packagers = flat_env._packagers

    env_a = make_env(disable_taxes=disable_taxes)
    env_b = make_env(disable_taxes=disable_taxes, flatten_observations=False)
    aie_seed(seed)
    obs_a = env_a.reset()
    st_a = aie_rng_state()
    aie_seed(seed)
    obs_b = env_b.reset()
    st_b = aie_rng_state()
    assert np.array_equal(st_a[1], st_b[1]) and st_a[2] == st_b[2]

    layout = {}
    for name, aidx in (("agent", "0"), ("planner", "p"), ("planner_agent", "p0")):
        _keep, flatten, _wrap = packagers[aidx]
        assert list(flatten) == sorted(flatten)
        assert packagers[aidx] == env_a._packagers[aidx]
        layout[name] = flatten

    def concat(d, keys):
        parts = [np.atleast_1d(np.asarray(d[k], np.float64)).ravel() for k in keys]
        return np.concatenate(parts).astype(np.float32)

    def lengths(d, keys):
        return [int(np.atleast_1d(np.asarray(d[k])).size) for k in keys]

    def check(oa, ob):
        for i in range(N_AGENTS):
            assert np.array_equal(concat(ob[str(i)], layout["agent"]), oa[str(i)]["flat"])
            assert np.array_equal(
                concat(ob["p"][f"p{i}"], layout["planner_agent"]), oa["p"][f"p{i}"]
            )
        assert np.array_equal(concat(ob["p"], layout["planner"]), oa["p"]["flat"])

    check(obs_a, obs_b)
    lens = {
        "agent": lengths(obs_b["0"], layout["agent"]),
        "planner": lengths(obs_b["p"], layout["planner"]),
        "planner_agent": lengths(obs_b["p"]["p0"], layout["planner_agent"]),
    }
    kept = {
        "agent": sorted(k for k in obs_a["0"] if k != "flat"),
        "planner": sorted(k for k in obs_a["p"] if k != "flat"),
    }
    n_verified = min(len(action_log), VERIFY_KEY_STEPS)
    for t in range(n_verified):
        s0 = aie_rng_state()
        obs_a, *_ = env_a.step(action_log[t])
        s1 = aie_rng_state()
        aie_set_rng_state(s0)
        obs_b, *_ = env_b.step(action_log[t])
        s2 = aie_rng_state()
        assert np.array_equal(s1[1], s2[1]) and s1[2] == s2[2]
        check(obs_a, obs_b)
        for i in range(N_AGENTS):
            assert np.array_equal(obs_a[str(i)]["flat"], data["obs_agent_flat"][t, i])
            assert np.array_equal(obs_a[str(i)]["action_mask"], data["mask_agent"][t, i])
        assert np.array_equal(obs_a["p"]["flat"], data["obs_planner_flat"][t])

    def table(keys, ls):
        rows, off = [], 0
        for k, n in zip(keys, ls, strict=True):
            rows.append({"key": k, "len": n, "offset": off})
            off += n
        return rows, off

    res = {"verified_steps": n_verified, "kept_separately": kept}
    for name in ("agent", "planner", "planner_agent"):
        rows, total = table(layout[name], lens[name])
        res[f"{name}_flat_keys"] = rows
        res[f"{name}_flat_len"] = total
    return res


def cmd_replay(args) -> None:
    out_path = Path(args.out)
    fm_path = Path(args.free_market_out)
    keys_path = Path(args.keys_out)
    side = {
        "generated_by": "tests/aie_reference.py replay",
        "versions": versions(),
        "env_config": ENV_CONFIG,
        "random_policy": "see tests/aie_reference.py docstring",
    }
    for label, path, steps, disable in (
        ("replay", out_path, args.steps, False),
        ("free_market", fm_path, args.free_market_steps, True),
    ):
        t0 = time.time()
        data, metrics, action_log, env = record_trajectory(steps, args.seed, disable)
        layout = flat_key_layout(args.seed, disable, action_log, env, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **data)
        with np.load(path, allow_pickle=False) as z:
            assert sorted(z.files) == sorted(data)
        side[label] = {
            "file": str(path),
            "seed": args.seed,
            "steps": steps,
            "disable_taxes": disable,
            "metrics_at_end": metrics,
            "n_trades": len(data["trades"]),
            "n_regen_hits": len(data["regen_hits"]),
            "n_houses": int(np.sum(data["house_owner"][-1] >= 0)),
        }
        if label == "replay":
            side.update(layout)
        else:
            for k in ("agent_flat_keys", "planner_flat_keys", "planner_agent_flat_keys"):
                assert layout[k] == side[k], k
            side["free_market"]["verified_steps"] = layout["verified_steps"]
        print(
            f"{label}: {steps} steps -> {path} ({path.stat().st_size / 1e6:.2f} MB, "
            f"{time.time() - t0:.1f} s)",
            flush=True,
        )
    write_json(keys_path, side)
    print(f"keys -> {keys_path}")


# --------------------------------------------------------------------------------------
# stats
# --------------------------------------------------------------------------------------


def run_episode(env, seed: int, pdims) -> dict:
    rng = np.random.default_rng(seed)
    aie_seed(seed)
    obs = env.reset()
    ret = np.zeros(N_AGENTS + 1)
    done = {"__all__": False}
    while not done["__all__"]:
        obs, rew, done, _ = env.step(sample_actions(rng, obs, pdims))
        ret += [rew[str(i)] for i in range(N_AGENTS)] + [rew["p"]]
    agents = env.world.agents
    coin = np.array([a.total_endowment("Coin") for a in agents], np.float64)
    m = quiet_metrics(env)
    tax = env.get_component("PeriodicBracketTax")
    build = env.get_component("Build")
    return dict(
        seed=seed,
        coin=coin.tolist(),
        labor=[float(a.state["endogenous"]["Labor"]) for a in agents],
        utility=[float(env.curr_optimization_metric[a.idx]) for a in agents],
        builds_per_agent=[int(m[f"{build.shorthand}/{a.idx}/n_builds"]) for a in agents],
        total_builds=int(np.sum(env.world.maps.get("House") > 0)),
        n_trades=int(m[f"{env.get_component('ContinuousDoubleAuction').shorthand}/n_trades"]),
        swf=float(m["social_welfare/coin_eq_times_productivity"]),
        productivity=float(m["social/productivity"]),
        equality=float(m["social/equality"]),
        total_collected_taxes=float(tax.total_collected_taxes),
        agent_return=ret[:N_AGENTS].tolist(),
        planner_return=float(ret[N_AGENTS]),
        planner_reward_final_metric=float(env.curr_optimization_metric["p"]),
    )


def _mean_se(x) -> dict:
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    se = x.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(x[0])
    return {"mean": x.mean(axis=0), "se": se, "n": n}


def cmd_stats(args) -> None:
    settings = {"planner": False, "free_market": True}
    res = {
        "generated_by": "tests/aie_reference.py stats",
        "versions": versions(),
        "cpu": cpu_model(),
        "env_config": ENV_CONFIG,
        "settings": {"planner": {"disable_taxes": False}, "free_market": {"disable_taxes": True}},
        "episodes": args.episodes,
        "seeds": [args.seed + i for i in range(args.episodes)],
        "seed_rule": "episode i: np.random.seed(s) before reset and policy default_rng(s), "
        "s = base_seed + i; one env per setting reused across episodes",
        "notes": "coin = inventory + escrow at the end; utility = "
        "isoelastic_coin_minus_labor(coin, labor, 0.23, 0.21); swf = "
        "coin_eq_times_productivity(coin, 1.0); returns are sums of per-step rewards "
        "(agent return = final utility - initial utility, initial utility = -1/0.77)",
        "per_episode": {},
        "summary": {},
        "wall_time_s": {},
    }
    for name, disable in settings.items():
        env = make_env(disable_taxes=disable)
        pdims = planner_dims(env)
        eps = []
        t0 = time.time()
        for i in range(args.episodes):
            eps.append(run_episode(env, args.seed + i, pdims))
            if (i + 1) % 10 == 0:
                print(f"{name}: {i + 1}/{args.episodes} ({time.time() - t0:.0f} s)", flush=True)
        res["wall_time_s"][name] = time.time() - t0
        cols = {k: [e[k] for e in eps] for k in eps[0]}
        res["per_episode"][name] = cols
        summ = {}
        for k, v in cols.items():
            if k == "seed":
                continue
            summ[k] = _mean_se(v)
        summ["coin_total"] = _mean_se([sum(c) for c in cols["coin"]])
        summ["agent_return_mean"] = _mean_se([np.mean(r) for r in cols["agent_return"]])
        res["summary"][name] = summ
        write_json(args.out, res)  # partial results survive an interrupted run
    write_json(args.out, res)
    print(f"stats -> {args.out}")


# --------------------------------------------------------------------------------------
# functions
# --------------------------------------------------------------------------------------


def _call(fn, *a, **kw):
    try:
        with np.errstate(all="ignore"):
            return fn(*a, **kw)
    except Exception as e:  # record which inputs AIE rejects
        return {"raises": type(e).__name__}


def _coin_vectors(rng) -> list[np.ndarray]:
    vecs = [
        np.zeros(4),
        np.array([0.0, 0.0, 0.0, 37.5]),
        np.array([12.0, 12.0, 12.0, 12.0]),
        np.array([0.5, 0.0, 0.25, 0.9]),  # below 1 (inverse-income weights clamp at 1)
        np.array([1.0, 2.0, 3.0, 4.0]),
        np.zeros(30),
        np.zeros(50),
        np.concatenate([np.zeros(29), [100.0]]),
        np.full(31, 7.0),
        np.array([5.0]),
        np.array([0.0]),
        np.array([0.0, 3.0]),
    ]
    for n in (2, 3, 4, 4, 4, 4, 5, 8, 10, 29, 30, 31, 50, 100):
        v = rng.uniform(0, 500, n)
        if rng.random() < 0.3:
            v[rng.integers(n)] = 0.0
        vecs.append(v)
    for _ in range(10):
        vecs.append(rng.exponential(150.0, 4))
    return vecs


def cmd_functions(args) -> None:
    rng = np.random.default_rng(args.seed)
    res: dict = {
        "generated_by": "tests/aie_reference.py functions",
        "versions": versions(),
        "seed": args.seed,
        "encoding": 'non-finite floats are "nan"/"inf"/"-inf"; {"raises": name} = exception',
    }

    # --- PeriodicBracketTax.taxes_due / marginal_rate ---------------------------------
    env_grid = make_env()
    env_grid.reset()
    tax_g = env_grid.get_component("PeriodicBracketTax")
    env_fix = make_env(tax_model="fixed-bracket-rates", fixed_bracket_rates=[0.0] * 7)
    env_fix.reset()
    tax_f = env_fix.get_component("PeriodicBracketTax")
    cutoffs = np.array(tax_g.bracket_cutoffs, np.float64)
    res["bracket_cutoffs"] = cutoffs
    res["disc_rates"] = np.array(tax_g.disc_rates)
    special = [0.0, -0.0, -10.0, -1e-9, 1000.0, 1e-9]
    for c in cutoffs:
        special += [float(c), float(np.nextafter(c, -np.inf)), float(np.nextafter(c, np.inf))]
    incomes = np.concatenate([special, rng.uniform(-10, 1000, 200 - len(special))])
    rng.shuffle(incomes)
    res["tax_incomes"] = incomes

    def set_rates(kind, vec):
        if kind == "grid":
            tax_g.curr_rate_indices = [int(k) for k in vec]
            return tax_g
        tax_f._fixed_bracket_rates = np.array(vec, np.float64)
        return tax_f

    rate_cases = [("grid", [0] * 7), ("grid", [20] * 7), ("grid", list(range(0, 21, 3)))]
    rate_cases += [("grid", rng.integers(0, 21, 7).tolist()) for _ in range(7)]
    rate_cases += [("continuous", [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0])]
    rate_cases += [("continuous", rng.uniform(0, 1, 7).tolist()) for _ in range(9)]
    cases = []
    for kind, vec in rate_cases:
        comp = set_rates(kind, vec)
        rates = np.array(comp.curr_marginal_rates, np.float64)
        cases.append(
            dict(
                kind=kind,
                rate_indices=vec if kind == "grid" else None,
                rates=rates,
                taxes_due=[float(comp.taxes_due(x)) for x in incomes],
                marginal_rate=[float(comp.marginal_rate(x)) for x in incomes],
            )
        )
    res["taxes"] = cases

    # --- enact_taxes (lump-sum redistribution) ----------------------------------------
    enact = []
    for k in range(60):
        kind = "grid" if k % 2 == 0 else "continuous"
        vec = rng.integers(0, 21, 7).tolist() if kind == "grid" else rng.uniform(0, 1, 7).tolist()
        if k == 0:
            vec = [20] * 7
        comp = set_rates(kind, vec)
        env = env_grid if kind == "grid" else env_fix
        inv = rng.uniform(0, 800, 4)
        esc = rng.integers(0, 60, 4).astype(np.float64)
        last = rng.uniform(0, 400, 4)
        if k % 5 == 1:  # taxes exceed inventory coin: capped, escrow untouched
            inv = rng.uniform(0, 5, 4)
            esc = rng.integers(100, 600, 4).astype(np.float64)
            last = np.zeros(4)
        if k % 7 == 3:  # negative incomes
            last = inv + esc + rng.uniform(0, 50, 4)
        if k == 2:
            inv, esc, last = np.zeros(4), np.zeros(4), np.zeros(4)
        for i, a in enumerate(env.world.agents):
            a.state["inventory"]["Coin"] = float(inv[i])
            a.state["escrow"]["Coin"] = float(esc[i])
        comp.last_coin = [float(x) for x in last]
        before_total = comp.total_collected_taxes
        comp.enact_taxes()
        td = comp.taxes[-1]
        enact.append(
            dict(
                kind=kind,
                rate_indices=vec if kind == "grid" else None,
                rates=np.array(comp.curr_marginal_rates, np.float64),
                inventory_coin=inv,
                escrow_coin=esc,
                last_coin=last,
                income=[td[str(i)]["income"] for i in range(N_AGENTS)],
                tax_paid=[td[str(i)]["tax_paid"] for i in range(N_AGENTS)],
                marginal_rate=[float(td[str(i)]["marginal_rate"]) for i in range(N_AGENTS)],
                effective_rate=[td[str(i)]["effective_rate"] for i in range(N_AGENTS)],
                lump_sum=td["0"]["lump_sum"],
                new_inventory_coin=[a.state["inventory"]["Coin"] for a in env.world.agents],
                new_escrow_coin=[a.state["escrow"]["Coin"] for a in env.world.agents],
                new_last_coin=list(comp.last_coin),
                collected=comp.total_collected_taxes - before_total,
            )
        )
    res["enact_taxes"] = enact

    # --- rewards.isoelastic_coin_minus_labor ------------------------------------------
    iso = []
    etas = [0.0, 1.0, 0.23, 0.5, 0.999]
    for k in range(120):
        coin = 0.0 if k % 10 == 0 else float(rng.uniform(0, 2000))
        if k % 10 == 5:
            coin = float(rng.uniform(0, 1))
        labor = 0.0 if k % 13 == 0 else float(rng.uniform(0, 3000))
        eta = etas[k] if k < len(etas) else (etas[k % 3] if k % 4 == 0 else float(rng.random()))
        coef = [0.0, 0.21, float(rng.uniform(0, 1))][k % 3]
        iso.append(
            dict(
                coin=coin,
                labor=labor,
                eta=eta,
                labor_coefficient=coef,
                out=_call(rewards.isoelastic_coin_minus_labor, coin, labor, eta, coef),
            )
        )
    for eta in (1.0, 1.0 - 1e-12):
        iso.append(
            dict(
                coin=10.0,
                labor=1.0,
                eta=eta,
                labor_coefficient=0.21,
                out=_call(rewards.isoelastic_coin_minus_labor, 10.0, 1.0, eta, 0.21),
            )
        )
    iso.append(
        dict(
            coin=-1.0,
            labor=0.0,
            eta=0.23,
            labor_coefficient=0.21,
            out=_call(rewards.isoelastic_coin_minus_labor, -1.0, 0.0, 0.23, 0.21),
        )
    )
    cv, lv = rng.uniform(0, 900, 4), rng.uniform(0, 900, 4)
    iso.append(
        dict(
            coin=cv,
            labor=lv,
            eta=0.23,
            labor_coefficient=0.21,
            out=_call(rewards.isoelastic_coin_minus_labor, cv, lv, 0.23, 0.21),
        )
    )
    res["isoelastic_coin_minus_labor"] = iso

    # --- social metrics and planner rewards on coin vectors ---------------------------
    soc = []
    for v in _coin_vectors(rng):
        util = rng.uniform(-50, 200, len(v))
        w = [1.0, 0.0, 0.5, float(rng.random())][len(soc) % 4]
        soc.append(
            dict(
                coin=v,
                n=len(v),
                gini=_call(social_metrics.get_gini, v),
                equality=_call(social_metrics.get_equality, v),
                productivity=_call(social_metrics.get_productivity, v),
                coin_eq_times_productivity_w1=_call(rewards.coin_eq_times_productivity, v, 1.0),
                equality_weight=w,
                coin_eq_times_productivity_w=_call(rewards.coin_eq_times_productivity, v, w),
                inv_income_weighted_coin_endowments=_call(
                    rewards.inv_income_weighted_coin_endowments, v
                ),
                utilities=util,
                inv_income_weighted_utility=_call(rewards.inv_income_weighted_utility, v, util),
            )
        )
    res["social"] = soc
    write_json(args.out, res)
    print(f"functions -> {args.out}")


# --------------------------------------------------------------------------------------
# speed
# --------------------------------------------------------------------------------------


def cmd_speed(args) -> None:
    env = make_env()
    pdims = planner_dims(env)
    best_env = best_all = 0.0
    for rep in range(3):
        rng = np.random.default_rng(rep)
        aie_seed(rep)
        obs = env.reset()
        t_env = t_all = 0.0
        for _ in range(args.steps):
            t0 = time.perf_counter()
            actions = sample_actions(rng, obs, pdims)
            t1 = time.perf_counter()
            obs, _, done, _ = env.step(actions)
            t2 = time.perf_counter()
            t_env += t2 - t1
            t_all += t2 - t0
            if done["__all__"]:
                obs = env.reset()  # not timed
        best_env = max(best_env, args.steps / t_env)
        best_all = max(best_all, args.steps / t_all)
    print(
        json.dumps(
            dict(
                steps=args.steps,
                repeats=3,
                env_steps_per_s=round(best_env, 1),
                steps_per_s_with_policy=round(best_all, 1),
                cpu=cpu_model(),
                **versions(),
            )
        )
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("replay")
    r.add_argument("--steps", type=int, default=1000)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="tests/data/aie_replay.npz")
    r.add_argument("--free-market-steps", type=int, default=300)
    r.add_argument("--free-market-out", default="tests/data/aie_replay_free_market.npz")
    r.add_argument("--keys-out", default="tests/data/aie_replay_keys.json")
    s = sub.add_parser("stats")
    s.add_argument("--episodes", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="tests/data/aie_random_stats.json")
    f = sub.add_parser("functions")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--out", default="tests/data/aie_functions.json")
    sp = sub.add_parser("speed")
    sp.add_argument("--steps", type=int, default=2000)
    args = p.parse_args(argv)
    {"replay": cmd_replay, "stats": cmd_stats, "functions": cmd_functions, "speed": cmd_speed}[
        args.cmd
    ](args)


if __name__ == "__main__":
    sys.exit(main())

"""The ``robustmas`` command line.

``robustmas cce GAME --epsilon E``, ``robustmas sweep GAME``, ``robustmas stackelberg GAME``,
``robustmas games list|show``.  GAME is a file (``.nfg``/``.json``) or a registry id such as
``maintain-v0`` or ``random-v0:players=4,actions=7,seed=0``.  Bad input exits with status 2 and
one line on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from robustmas.equilibria import lp
from robustmas.equilibria.regret import broadcast_epsilon
from robustmas.games.bayesian import BayesianGame
from robustmas.games.congestion import LinearCongestionGame
from robustmas.games.formats import load_game
from robustmas.games.library import REGISTRY, convert_param, make
from robustmas.games.normal_form import NormalFormGame, PrincipalGame

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Worst-case equilibria and robust commitments for principals facing strategic agents.",
)
games_app = typer.Typer(no_args_is_help=True, help="The registry of named games.")
app.add_typer(games_app, name="games")


class Method(StrEnum):
    """Solvers for extreme eps-CCE."""

    lp = "lp"
    approachability = "approachability"
    lagrangian = "lagrangian"


class UserError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _guard(fn: Callable[[], None]) -> None:
    try:
        fn()
    except (UserError, ValueError, FileNotFoundError, IsADirectoryError, TypeError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _parse_floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise UserError(f"{what}: give at least one number")
    return values


def _epsilon(text: str, num_players: int, allow_negative: bool) -> np.ndarray:
    values = _parse_floats(text, "--epsilon")
    return broadcast_epsilon(
        values[0] if len(values) == 1 else values, num_players, allow_negative=allow_negative
    )


def _load(spec: str, principal_player: int | None) -> Any:
    if principal_player is not None and principal_player < 1:
        raise UserError("--principal-player: players are numbered from 1, as in Gambit")
    return load_game(spec, None if principal_player is None else principal_player - 1)


def _names(game: NormalFormGame, index: tuple[int, ...]) -> str:
    return "(" + ", ".join(game.actions[i][a] for i, a in enumerate(index)) + ")"


def _support(game: NormalFormGame, joint: np.ndarray, top: int = 8) -> list[tuple[str, float]]:
    flat = joint.reshape(-1)
    order = np.argsort(-flat)[:top]
    out = []
    for k in order:
        if flat[k] <= 1e-9:
            break
        out.append(
            (_names(game, tuple(int(i) for i in np.unravel_index(k, joint.shape))), float(flat[k]))
        )
    return out


def _solve(game: NormalFormGame, eps: np.ndarray, sense: str, method: Method) -> lp.CCEResult:
    """One extreme eps-CCE of a followers' game with the chosen method, as a :class:`CCEResult`."""
    if method is Method.lp:
        return lp.extreme_cce(game, eps, "worst" if sense == "worst" else "best")
    if method is Method.approachability:
        from robustmas.equilibria.approachability import approachability_cce

        res = approachability_cce(game, eps, "worst" if sense == "worst" else "best")
        dist = res.distribution()
        return lp.CCEResult(
            res.status,
            res.value,
            dist,
            res.regrets,
            eps,
            sense,
            "approachability",
            f"target y={res.target:.6g}, {res.oracle_calls} oracle calls",
        )
    from robustmas.equilibria.lagrangian import lagrangian_cce

    return lagrangian_cce(game, eps, "worst" if sense == "worst" else "best").cce


def _followers_game(game: Any, method: Method) -> NormalFormGame:
    if isinstance(game, NormalFormGame):
        return game
    if isinstance(game, LinearCongestionGame):
        return game.to_normal_form()
    if isinstance(game, BayesianGame):
        raise UserError(
            "cce: Bayesian games are not supported here; use robustmas.equilibria.regret"
        )
    raise UserError(f"cce: unsupported game type {type(game).__name__}")


def _result_json(game: NormalFormGame, res: lp.CCEResult) -> dict[str, Any]:
    return {
        "status": res.status,
        "value": None if not res.ok else res.value,
        "sense": res.sense,
        "method": res.method,
        "epsilon": res.epsilon.tolist(),
        "regrets": None if res.regrets is None else res.regrets.tolist(),
        "distribution": None if res.distribution is None else res.distribution.tolist(),
        "players": list(game.players),
        "actions": [list(a) for a in game.actions],
        "message": res.message,
    }


def _print_result(game: NormalFormGame, res: lp.CCEResult, title: str) -> None:
    typer.echo(title)
    typer.echo(f"  status   {res.status}")
    if not res.ok or res.distribution is None or res.regrets is None:
        typer.echo(f"  message  {res.message}")
        return
    typer.echo(f"  value    {res.value:.6g}   ({res.sense}-case principal payoff)")
    regrets = ", ".join(f"{p}: {r:.4g}" for p, r in zip(game.players, res.regrets, strict=True))
    typer.echo(f"  regrets  {regrets}   (eps {', '.join(f'{e:g}' for e in res.epsilon)})")
    typer.echo("  support")
    for name, p in _support(game, res.distribution):
        typer.echo(f"    {p:8.4f}  {name}")


@app.command()
def cce(
    game: Annotated[
        str, typer.Argument(help="A .nfg/.json file or a registry id (see `games list`).")
    ],
    epsilon: Annotated[
        str,
        typer.Option(
            "--epsilon", "-e", help="Slack: one number or one per agent, comma-separated."
        ),
    ] = "0",
    worst: Annotated[
        bool, typer.Option("--worst/--best", help="Worst (default) or best case for the principal.")
    ] = True,
    method: Annotated[
        Method,
        typer.Option(help="Exact LP, Algorithm 2 (approachability) or Algorithm 1 (Lagrangian)."),
    ] = Method.lp,
    principal_player: Annotated[
        int | None,
        typer.Option(help="In an N+1-player .nfg, the principal's player number (1-based)."),
    ] = None,
    principal_strategy: Annotated[
        str | None,
        typer.Option(
            help="Principal's mixed strategy, comma-separated, when it has several actions. "
            "Default: report the robust pure action."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Worst-case (or best-case) eps-CCE of the followers for the principal's payoff."""

    def run() -> None:
        loaded = _load(game, principal_player)
        sense = "worst" if worst else "best"
        if isinstance(loaded, PrincipalGame):
            eps = _epsilon(epsilon, loaded.num_players, method is Method.lp)
            if principal_strategy is not None:
                x0 = np.array(_parse_floats(principal_strategy, "--principal-strategy"))
                followers = loaded.induced(x0)
                res = _solve(followers, eps, sense, method)
                _emit(followers, res, as_json, {"principal_strategy": x0.tolist()})
                return
            per_action = [
                _solve(loaded.fixed(a), eps, sense, method)
                for a in range(loaded.num_principal_actions)
            ]
            values = np.array([r.value if r.ok else -np.inf for r in per_action])
            best = int(np.argmax(values))
            extra = {
                "principal_action": loaded.principal_actions[best],
                "per_action": {
                    a: (r.value if r.ok else None)
                    for a, r in zip(loaded.principal_actions, per_action, strict=True)
                },
            }
            if not as_json:
                typer.echo(f"{loaded.name or game}: {sense}-case value of each principal action")
                for a, r in zip(loaded.principal_actions, per_action, strict=True):
                    typer.echo(f"  {a:>10}  {r.value:.6g}" if r.ok else f"  {a:>10}  {r.status}")
                typer.echo(f"robust choice: {loaded.principal_actions[best]}")
            _emit(loaded.fixed(best), per_action[best], as_json, extra)
            return
        followers = _followers_game(loaded, method)
        eps = _epsilon(epsilon, followers.num_players, method is Method.lp)
        if isinstance(loaded, LinearCongestionGame) and method is Method.approachability:
            from robustmas.equilibria.approachability import approachability_cce

            res_a = approachability_cce(loaded, eps, "worst" if worst else "best")
            res = lp.CCEResult(
                res_a.status,
                res_a.value,
                res_a.distribution(),
                res_a.regrets,
                eps,
                sense,
                "approachability",
            )
        else:
            res = _solve(followers, eps, sense, method)
        _emit(
            followers,
            res,
            as_json,
            {"objective": "principal" if followers.has_principal else "welfare"},
        )

    _guard(run)


def _emit(game: NormalFormGame, res: lp.CCEResult, as_json: bool, extra: dict[str, Any]) -> None:
    if as_json:
        typer.echo(json.dumps({**_result_json(game, res), **extra}))
    else:
        _print_result(
            game, res, f"{res.sense}-case eps-CCE ({res.method}) of {game.name or 'game'}"
        )


@app.command()
def sweep(
    game: Annotated[str, typer.Argument(help="A .nfg/.json file or a registry id.")],
    epsilons: Annotated[
        str, typer.Option(help="Comma-separated slack values.")
    ] = "0,0.05,0.1,0.2,0.5",
    principal_player: Annotated[
        int | None, typer.Option(help="Principal's player number in an N+1-player .nfg (1-based).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Table of worst- and best-case eps-CCE values (exact LP) for several eps."""

    def run() -> None:
        loaded = _load(game, principal_player)
        if isinstance(loaded, PrincipalGame):
            raise UserError(
                "sweep: the principal has several actions; fix one with `cce --principal-strategy`"
            )
        followers = _followers_game(loaded, Method.lp)
        rows = []
        for e in _parse_floats(epsilons, "--epsilons"):
            w = lp.worst_case_cce(followers, e)
            b = lp.best_case_cce(followers, e)
            rows.append(
                {
                    "epsilon": e,
                    "worst": w.value,
                    "best": b.value,
                    "worst_max_regret": float(w.regrets.max()) if w.regrets is not None else None,
                }
            )
        if as_json:
            typer.echo(json.dumps({"game": followers.name or game, "rows": rows}))
            return
        typer.echo(
            f"{followers.name or game}: {followers.num_players} agents, "
            f"{followers.num_joint_actions} joint actions"
        )
        typer.echo(f"{'eps':>8} {'worst-case':>12} {'best-case':>12} {'max regret':>12}")
        for r in rows:
            typer.echo(
                f"{r['epsilon']:>8g} {r['worst']:>12.6g} {r['best']:>12.6g} "
                f"{r['worst_max_regret']:>12.4g}"
            )

    _guard(run)


@app.command()
def stackelberg(
    game: Annotated[
        str, typer.Argument(help="A two-player .nfg/.json file (player 1 leads) or a registry id.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The leader's optimal mixed commitment (Conitzer-Sandholm LPs) and best pure commitment."""

    def run() -> None:
        loaded = _load(game, None)
        if isinstance(loaded, NormalFormGame):
            if loaded.num_players != 2:
                raise UserError(
                    f"stackelberg: need a two-player game, got {loaded.num_players} players"
                )
            from robustmas.games.formats import split_principal

            loaded = split_principal(loaded, 0)
        if not isinstance(loaded, PrincipalGame) or loaded.num_players != 1:
            raise UserError("stackelberg: need a two-player game (leader and one follower)")
        res = lp.optimal_commitment(loaded)
        pure = lp.best_pure_commitment(loaded)
        if res.strategy is None or res.follower_action is None:
            raise UserError(f"stackelberg: LP status {res.status}")
        follower_action = loaded.actions[0][res.follower_action]
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "status": res.status,
                        "value": res.value,
                        "commitment": res.strategy.tolist(),
                        "follower_action": follower_action,
                        "leader_actions": list(loaded.principal_actions),
                        "best_pure_action": loaded.principal_actions[pure.action],
                        "best_pure_value": pure.value,
                        "regrets": [0.0],
                    }
                )
            )
            return
        typer.echo(f"{loaded.name or game}: optimal commitment value {res.value:.6g}")
        for a, p in zip(loaded.principal_actions, res.strategy, strict=True):
            typer.echo(f"  {a:>10}  {p:.4f}")
        typer.echo(f"  follower answers {follower_action}")
        typer.echo(
            f"best pure commitment: {loaded.principal_actions[pure.action]} worth {pure.value:.6g}"
        )

    _guard(run)


def _print_registry(specs: Any) -> None:
    for spec in specs:
        params = ", ".join(spec.params) or "-"
        typer.echo(f"{spec.id:<18} {spec.summary}  [params: {params}]")


@games_app.command("list")
def games_list() -> None:
    """List registered games."""
    _print_registry(REGISTRY.values())


@games_app.command("show")
def games_show(
    game_id: Annotated[
        str, typer.Argument(help="Registry id, optionally with parameters: id:key=value,...")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the game as JSON.")] = False,
) -> None:
    """Show a registered game's payoffs."""

    def run() -> None:
        from robustmas.games.formats import to_json

        game = make(game_id)
        if as_json:
            typer.echo(json.dumps(to_json(game)))
            return
        typer.echo(f"{game_id}: {getattr(game, 'name', '')} ({type(game).__name__})")
        if isinstance(game, PrincipalGame):
            typer.echo(f"  principal actions: {', '.join(game.principal_actions)}")
            typer.echo(
                f"  followers: {', '.join(game.players)}; actions {[list(a) for a in game.actions]}"
            )
            for a0, name in enumerate(game.principal_actions):
                typer.echo(
                    f"  principal plays {name}: "
                    f"principal payoff {game.principal_payoff[a0].tolist()}"
                )
                typer.echo(f"    follower payoffs {game.payoffs[:, a0].tolist()}")
        elif isinstance(game, NormalFormGame):
            typer.echo(
                f"  players: {', '.join(game.players)}; actions {[list(a) for a in game.actions]}"
            )
            if game.num_joint_actions <= 64:
                typer.echo(f"  payoffs {game.payoffs.tolist()}")
                if game.principal_payoff is not None:
                    typer.echo(f"  principal {game.principal_payoff.tolist()}")
        elif isinstance(game, LinearCongestionGame):
            typer.echo(
                f"  {game.num_players} players, {game.num_resources} resources, "
                f"strategies {game.num_actions}"
            )

    _guard(run)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``robustmas`` console script."""
    app(args=list(argv) if argv is not None else sys.argv[1:], prog_name="robustmas")


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------------------------------------
# Stackelberg POMDP training and the run store
# ---------------------------------------------------------------------------------------------

spomdp_app = typer.Typer(no_args_is_help=True, help="Learn a leader against no-regret followers.")
runs_app = typer.Typer(no_args_is_help=True, help="Runs recorded in the DuckDB store.")
app.add_typer(spomdp_app, name="stackelberg-pomdp")
app.add_typer(runs_app, name="runs")

StoreOption = Annotated[str, typer.Option("--store", help="DuckDB file of runs.")]
DEFAULT_STORE_PATH = "runs/robustmas.duckdb"


def _parse_params(items: list[str]) -> dict[str, Any]:
    from robustmas.envs.stackelberg.settings import POMDP_KNOBS, SETTINGS

    kinds: dict[str, type] = dict(POMDP_KNOBS)
    for spec in SETTINGS.values():
        kinds.update(spec.params)
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UserError(f"--param: expected KEY=VALUE, got {item!r}")
        kind = kinds.get(key)
        if kind is None:
            raise UserError(
                f"--param: unknown parameter {key!r}; known: {', '.join(sorted(kinds))}"
            )
        out[key] = convert_param(f"--param {key}", value, kind)
    return out


@spomdp_app.command("list")
def spomdp_list() -> None:
    """List Stackelberg POMDP settings."""
    from robustmas.envs.stackelberg.settings import SETTINGS

    _print_registry(SETTINGS.values())


@spomdp_app.command("train")
def spomdp_train(
    setting: Annotated[
        str | None, typer.Argument(help="Preset id (see `list`) or a two-player .nfg.")
    ] = None,
    randomized: Annotated[bool, typer.Option(help="Leader commits to a mixed strategy.")] = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Setting parameter KEY=VALUE (repeat).")
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds trained side by side.")] = 10,
    seed: Annotated[int, typer.Option(help="Master seed.")] = 0,
    steps: Annotated[int | None, typer.Option(help="Environment steps per seed.")] = None,
    critic: Annotated[str, typer.Option(help="full (MAPPO) or none (PPO).")] = "full",
    resume: Annotated[
        str | None, typer.Option(help="Continue an interrupted run from its checkpoint.")
    ] = None,
    store: StoreOption = DEFAULT_STORE_PATH,
    plot: Annotated[str | None, typer.Option(help="Write the training curve PNG here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train the leader; prints the greedy leader's final reward (mean over seeds).

    The run is checkpointed every 50 updates next to the store (``checkpoints/RUN.msgpack``);
    ``--resume RUN`` continues a crashed run with the same numbers an uninterrupted run gives.
    """

    def run() -> None:
        import uuid

        from robustmas.envs.stackelberg.settings import resolve_setting
        from robustmas.experiments.store import RunStore
        from robustmas.rl.ppo import PPOConfig
        from robustmas.robust.stackelberg_pomdp import (
            default_ppo_config,
            known_optimum,
            train_leader,
        )

        with RunStore(store) as db:
            if resume is not None:
                try:
                    info = db.get_run(resume)
                except KeyError as exc:
                    raise UserError(str(exc).strip("'\"")) from None
                if info["status"] == "finished":
                    raise UserError(f"--resume: run {resume} already finished")
                cfg = info["config"]
                name, is_random, params = cfg["setting"], cfg["randomized"], cfg["params"]
                config = PPOConfig.from_dict(cfg["ppo"])
                run_seeds, master, run_id = len(info["seeds"]), cfg["seed"], resume
                ckpt = info["checkpoint"]
                label = cfg["critic"]
            else:
                if setting is None:
                    raise UserError("SETTING: give a preset id or a .nfg path (or --resume RUN)")
                if critic not in ("full", "none"):
                    raise UserError(f"--critic: expected 'full' or 'none', got {critic!r}")
                if seeds < 1:
                    raise UserError("--seeds: must be >= 1")
                if steps is not None and steps < 1:
                    raise UserError("--steps: must be >= 1")
                name, is_random, params = setting, randomized, _parse_params(param or [])
                resolve_setting(name, randomized=is_random, **params)  # validate before storing
                overrides: dict[str, Any] = {"centralized_critic": critic == "full"}
                if steps is not None:
                    overrides["total_timesteps"] = steps
                config = default_ppo_config(name, is_random, **overrides)
                run_seeds, master, label = seeds, seed, critic
                run_id = uuid.uuid4().hex[:12]
                ckpt = str(Path(store).parent / "checkpoints" / f"{run_id}.msgpack")
                db.create_run(
                    "stackelberg-pomdp",
                    name,
                    {
                        "setting": name,
                        "randomized": is_random,
                        "params": params,
                        "critic": critic,
                        "seed": seed,
                        "ppo": config.to_dict(),
                    },
                    list(range(seeds)),
                    run_id=run_id,
                    checkpoint=ckpt,
                )
        env_params = resolve_setting(name, randomized=is_random, **params)
        from robustmas.compilation.xla import enable_compilation_cache

        enable_compilation_cache()
        result = _train_with_progress(
            env_params, config, run_seeds, master, as_json, train_leader, ckpt
        )
        optimum = known_optimum(name, randomized=is_random, **params)
        final = {
            "final_reward": result.final_reward,
            "per_seed": result.per_seed.tolist(),
            "optimum": optimum,
        }
        with RunStore(store) as db:
            db.clear_metrics(run_id)
            db.log_series(
                run_id, list(range(run_seeds)), result.steps, {"greedy_reward": result.curves}
            )
            db.finish(run_id, final)
        if plot is not None:
            from robustmas.experiments.report import plot_curves

            curve_label = "MAPPO" if label == "full" else "PPO"
            plot_curves(
                {curve_label: (result.steps, result.curves)}, plot, title=name, optimum=optimum
            )
        if as_json:
            typer.echo(json.dumps({**final, "run_id": run_id, "setting": name}))
            return
        typer.echo(
            f"{name}: greedy leader reward {result.final_reward:.4f} over {run_seeds} seeds"
            + (f" (optimum {optimum:g})" if optimum is not None else "")
        )
        typer.echo("  per seed: " + ", ".join(f"{v:.4f}" for v in result.per_seed))
        typer.echo(f"  run {run_id} stored in {store}")

    _guard(run)


def _train_with_progress(
    env_params: Any,
    config: Any,
    seeds: int,
    seed: int,
    quiet: bool,
    train_leader: Callable[..., Any],
    checkpoint: str | None = None,
) -> Any:
    """Run ``train_leader`` with a rich progress bar on the terminal (updates x seeds).

    Uses the on-disk program cache
    (:func:`robustmas.compilation.program_cache.default_cache_dir`); with a checkpoint the bar
    advances per chunk from the host, so the programs stay cacheable.
    """
    import dataclasses

    from robustmas.compilation.program_cache import default_cache_dir

    cache = default_cache_dir()
    common: dict[str, Any] = {"num_seeds": seeds, "seed": seed, "checkpoint": checkpoint}
    if quiet or not sys.stderr.isatty():
        return train_leader(env_params, config, program_cache=cache, **common)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("training", total=config.num_updates * seeds)
        if checkpoint is not None:
            return train_leader(
                env_params,
                config,
                program_cache=cache,
                chunk_fn=lambda done: bar.update(task, completed=done * seeds),
                **common,
            )
        cfg = dataclasses.replace(config, progress=True)
        return train_leader(env_params, cfg, progress_fn=lambda *_: bar.advance(task), **common)


cache_app = typer.Typer(
    no_args_is_help=True,
    help="The on-disk caches of compiled (XLA) and traced (program) trainers.",
)
app.add_typer(cache_app, name="cache")


def _caches() -> dict[str, Path | None]:
    from robustmas.compilation.program_cache import default_cache_dir
    from robustmas.compilation.xla import compilation_cache_dir

    return {"xla": compilation_cache_dir(), "programs": default_cache_dir()}


def _cache_files(name: str, where: Path | None) -> list[Path]:
    """The files a cache wrote in ``where`` (``info`` and ``clear`` touch no other file).

    So a cache variable pointing at a wrong directory cannot make ``clear`` delete unrelated
    files. XLA's entries are ``<name>-<64 hex>-cache`` / ``-atime``; the program cache's are JSON
    records of its own format, their ``.jaxexport`` programs and leftover temporary files.
    """
    import re

    if where is None or not where.is_dir():
        return []
    files = [p for p in where.iterdir() if p.is_file()]
    if name == "xla":
        pattern = re.compile(r".+-[0-9a-f]{64}-(cache|atime)$")
        return [p for p in files if pattern.match(p.name)]
    from robustmas.compilation.program_cache import is_cache_record

    entry = re.compile(r".+-[0-9a-f]{40}\.json$")
    leftover = re.compile(r"^\..+-[0-9a-f]{40}\.(jaxexport|json)\..+\.tmp$")
    out = []
    for p in files:
        if entry.match(p.name) and is_cache_record(p):
            out.append(p)
            program = p.with_suffix(".jaxexport")
            if program.is_file():
                out.append(program)
        elif leftover.match(p.name):
            out.append(p)
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # removed meanwhile by another process
        return 0


@cache_app.command("info")
def cache_info(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Where the caches are, how many files and bytes each holds."""
    rows = {}
    for name, where in _caches().items():
        files = _cache_files(name, where)
        rows[name] = {
            "path": None if where is None else str(where),
            "files": len(files),
            "bytes": sum(_size(p) for p in files),
        }
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for name, row in rows.items():
        where = row["path"] or "off"
        typer.echo(f"{name:<9} {where}  {row['files']} files, {row['bytes'] / 2**20:.1f} MiB")


@cache_app.command("clear")
def cache_clear(
    which: Annotated[
        str, typer.Argument(help="xla, programs or all (default)", show_default=False)
    ] = "all",
) -> None:
    """Delete the cached files (they are rebuilt on the next run of each configuration)."""

    def run() -> None:
        caches = _caches()
        if which not in (*caches, "all"):
            raise UserError(f"WHICH: expected one of xla, programs, all; got {which!r}")
        for name, where in caches.items():
            if which not in (name, "all"):
                continue
            files = _cache_files(name, where)
            for path in files:
                path.unlink(missing_ok=True)
            typer.echo(f"{name}: removed {len(files)} files from {where or 'off'}")

    _guard(run)


@runs_app.command("list")
def runs_list(store: StoreOption = DEFAULT_STORE_PATH) -> None:
    """List stored runs, newest first."""

    def run() -> None:
        from robustmas.experiments.store import RunStore

        with RunStore(store) as db:
            for r in db.list_runs():
                final = r["final"] or {}
                reward = final.get("final_reward")
                shown = f"{reward:.4f}" if isinstance(reward, float) else "-"
                typer.echo(
                    f"{r['id']}  {r['created'][:19]}  {r['kind']:<18} {r['setting']:<18} "
                    f"{r['status']:<9} final {shown}"
                )

    _guard(run)


@runs_app.command("show")
def runs_show(run_id: str, store: StoreOption = DEFAULT_STORE_PATH) -> None:
    """Print one run (config, seeds, final metrics) as JSON."""

    def run() -> None:
        from robustmas.experiments.store import RunStore

        with RunStore(store) as db:
            try:
                typer.echo(json.dumps(db.get_run(run_id), indent=2))
            except KeyError as exc:
                raise UserError(str(exc).strip("'\"")) from None

    _guard(run)


@runs_app.command("plot")
def runs_plot(
    run_ids: Annotated[list[str], typer.Argument(help="Runs to draw on one figure.")],
    out: Annotated[str, typer.Option(help="PNG path.")] = "runs/curves.png",
    store: StoreOption = DEFAULT_STORE_PATH,
) -> None:
    """Training curves (mean and standard error over seeds) of stored runs."""

    def run() -> None:
        from robustmas.experiments.report import plot_curves
        from robustmas.experiments.store import RunStore

        curves = {}
        optimum = None
        with RunStore(store) as db:
            for rid in run_ids:
                try:
                    info = db.get_run(rid)
                except KeyError as exc:
                    raise UserError(str(exc).strip("'\"")) from None
                series = db.metrics(rid).get("greedy_reward")
                if series is None:
                    raise UserError(f"run {rid} has no greedy_reward series")
                critic = info["config"].get("critic", "full")
                curves[f"{info['setting']} {'MAPPO' if critic == 'full' else 'PPO'} [{rid}]"] = (
                    series
                )
                optimum = (info["final"] or {}).get("optimum", optimum)
        path = plot_curves(curves, out, optimum=optimum)
        typer.echo(f"wrote {path}")

    _guard(run)


@spomdp_app.command("reproduce")
def spomdp_reproduce(
    out: Annotated[str, typer.Option(help="Folder for table.md, results.json and plots.")] = (
        "runs/reproduce-stackelberg"
    ),
    seeds: Annotated[int, typer.Option(help="Seeds per setting.")] = 10,
) -> None:
    """Reproduce the paper's table (every setting, MAPPO and PPO); takes about 10-20 minutes."""

    def run() -> None:
        from robustmas.experiments.reproduce import reproduce_stackelberg

        if seeds < 2:
            raise UserError("--seeds: need at least 2 for standard errors")
        from robustmas.compilation.xla import enable_compilation_cache

        enable_compilation_cache()
        reproduce_stackelberg(out, seeds=seeds)
        typer.echo(Path(out, "table.md").read_text())
        typer.echo(f"plots and results.json in {out}")

    _guard(run)

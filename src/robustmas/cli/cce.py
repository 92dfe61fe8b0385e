"""``robustmas cce|sweep|stackelberg``: extreme eps-CCE, eps sweeps and optimal commitments.

GAME is a file (``.nfg``/``.json``) or a registry id such as ``maintain-v0`` or
``random-v0:players=4,actions=7,seed=0``.  Bad input exits with status 2 and one line on
stderr; a question without an answer (no eps-CCE exists, e.g. for a negative eps) prints
that and exits with status 1, and never yields a "robust choice".
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

import numpy as np
import typer

from robustmas.cli._common import EXIT_NO_ANSWER, JsonOption, UserError, guard, parse_floats
from robustmas.equilibria import lp
from robustmas.equilibria.regret import broadcast_epsilon
from robustmas.equilibria.result import CCEResult
from robustmas.games.bayesian import BayesianGame
from robustmas.games.congestion import LinearCongestionGame
from robustmas.games.formats import load_game
from robustmas.games.normal_form import NormalFormGame, PrincipalGame

__all__ = ["Method", "cce", "stackelberg", "sweep"]


class Method(StrEnum):
    """Solvers for extreme eps-CCE."""

    lp = "lp"
    approachability = "approachability"
    lagrangian = "lagrangian"


GameArgument = Annotated[
    str, typer.Argument(help="A .nfg/.json file or a registry id (see `games list`).")
]
AllowNegativeOption = Annotated[
    bool,
    typer.Option(
        "--allow-negative-epsilon",
        help="Accept eps < 0: ask for an equilibrium in which every deviation LOSES at least "
        "|eps| (exact LP only; often no such equilibrium exists, then the exit status is 1).",
    ),
]


def _epsilon(
    text: str, flag: str, num_players: int | None, allow_negative: bool, method: Method
) -> np.ndarray:
    """Parse ``--epsilon`` for ``num_players`` agents (``None``: a list of scalars to sweep)."""
    values = parse_floats(text, flag)
    if any(v < 0 for v in values):
        if not allow_negative:
            raise UserError(
                f"{flag}: must be >= 0, got {text}; a negative eps (deviating must lose at "
                "least |eps|) needs --allow-negative-epsilon"
            )
        if method is not Method.lp:
            raise UserError(
                f"{flag}: a negative eps needs --method lp ({method.value} needs eps >= 0)"
            )
    if num_players is None:
        return broadcast_epsilon(values, len(values), allow_negative=True)
    return broadcast_epsilon(
        values[0] if len(values) == 1 else values, num_players, allow_negative=True
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


def _solve(game: NormalFormGame, eps: np.ndarray, sense: str, method: Method) -> CCEResult[Any]:
    """One extreme eps-CCE of a followers' game with the chosen method."""
    side: Literal["worst", "best"] = "worst" if sense == "worst" else "best"
    if method is Method.lp:
        return lp.extreme_cce(game, eps, side)
    if method is Method.approachability:
        from robustmas.equilibria import approachability

        return approachability.extreme_cce(game, eps, side)
    from robustmas.equilibria import lagrangian

    return lagrangian.extreme_cce(game, eps, side)


def _followers_game(game: Any) -> NormalFormGame:
    if isinstance(game, NormalFormGame):
        return game
    if isinstance(game, LinearCongestionGame):
        return game.to_normal_form()
    if isinstance(game, BayesianGame):
        raise UserError(
            "cce: Bayesian games are not supported here; use robustmas.equilibria.regret"
        )
    raise UserError(f"cce: unsupported game type {type(game).__name__}")


def _eps_text(eps: np.ndarray) -> str:
    return ", ".join(f"{e:g}" for e in eps)


def _no_cce(res: CCEResult[Any]) -> str:
    """Why ``res`` holds no distribution, in one line."""
    if res.status == "infeasible":
        return f"no eps-CCE exists at eps {_eps_text(res.epsilon)}"
    return f"no eps-CCE found at eps {_eps_text(res.epsilon)}: solver status {res.status}"


def _result_json(game: NormalFormGame, res: CCEResult[Any]) -> dict[str, Any]:
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


def _print_result(game: NormalFormGame, res: CCEResult[Any], title: str) -> None:
    typer.echo(title)
    typer.echo(f"  status   {res.status}")
    if not res.ok or res.regrets is None:
        typer.echo(f"  {_no_cce(res)}")
        typer.echo(f"  message  {res.message}")
        return
    typer.echo(f"  value    {res.value:.6g}   ({res.sense}-case principal payoff)")
    regrets = ", ".join(f"{p}: {r:.4g}" for p, r in zip(game.players, res.regrets, strict=True))
    typer.echo(f"  regrets  {regrets}   (eps {_eps_text(res.epsilon)})")
    if res.distribution is None:  # e.g. Algorithm 2 on a game too large for a dense tensor
        typer.echo("  support  (not materialised: too many joint actions)")
        return
    typer.echo("  support")
    for name, p in _support(game, res.distribution):
        typer.echo(f"    {p:8.4f}  {name}")


def _emit(game: NormalFormGame, res: CCEResult[Any], as_json: bool, extra: dict[str, Any]) -> None:
    """Print one result; exit with status 1 if it holds no eps-CCE."""
    if as_json:
        typer.echo(json.dumps({**_result_json(game, res), **extra}))
    else:
        _print_result(
            game, res, f"{res.sense}-case eps-CCE ({res.method}) of {game.name or 'game'}"
        )
    if not res.ok:
        raise typer.Exit(EXIT_NO_ANSWER)


def _robust_choice(
    loaded: PrincipalGame, spec: str, eps: np.ndarray, sense: str, method: Method, as_json: bool
) -> None:
    """Extreme eps-CCE for every pure principal action; the best action among those with one.

    Actions without an eps-CCE are excluded from the choice (and named); if no action has one,
    there is no choice: print that and exit with status 1.
    """
    per_action = [
        _solve(loaded.fixed(a), eps, sense, method) for a in range(loaded.num_principal_actions)
    ]
    names = loaded.principal_actions
    excluded = [a for a, r in zip(names, per_action, strict=True) if not r.ok]
    values = {a: (r.value if r.ok else None) for a, r in zip(names, per_action, strict=True)}
    if len(excluded) == len(names):
        infeasible = all(r.status == "infeasible" for r in per_action)
        why = (
            f"no eps-CCE {'exists' if infeasible else 'found'} for any principal action "
            f"at eps {_eps_text(eps)}"
        )
        if as_json:
            status = "infeasible" if infeasible else "failed"
            typer.echo(
                json.dumps(
                    {
                        "status": status,
                        "value": None,
                        "sense": sense,
                        "method": method.value,
                        "epsilon": eps.tolist(),
                        "principal_action": None,
                        "per_action": values,
                        "excluded": excluded,
                        "message": why,
                    }
                )
            )
        else:
            typer.echo(f"{loaded.name or spec}: {sense}-case value of each principal action")
            for a, r in zip(names, per_action, strict=True):
                typer.echo(f"  {a:>10}  {r.status}: {_no_cce(r)}")
            typer.echo(f"no robust choice: {why}")
        raise typer.Exit(EXIT_NO_ANSWER)
    scores = np.array([r.value if r.ok else -np.inf for r in per_action])
    best = int(np.argmax(scores))
    extra = {"principal_action": names[best], "per_action": values, "excluded": excluded}
    if not as_json:
        typer.echo(f"{loaded.name or spec}: {sense}-case value of each principal action")
        for a, r in zip(names, per_action, strict=True):
            typer.echo(
                f"  {a:>10}  {r.value:.6g}" if r.ok else f"  {a:>10}  {r.status}: {_no_cce(r)}"
            )
        note = f" (excluded, no eps-CCE: {', '.join(excluded)})" if excluded else ""
        typer.echo(f"robust choice: {names[best]}{note}")
    _emit(loaded.fixed(best), per_action[best], as_json, extra)


def cce(
    game: GameArgument,
    epsilon: Annotated[
        str,
        typer.Option(
            "--epsilon",
            "-e",
            help="Slack: one number or one per agent, comma-separated; >= 0 unless "
            "--allow-negative-epsilon.",
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
    allow_negative_epsilon: AllowNegativeOption = False,
    as_json: JsonOption = False,
) -> None:
    """Worst-case (or best-case) eps-CCE of the followers for the principal's payoff.

    Exit status 1 when no eps-CCE exists (only possible for a negative eps);
    principal actions without one are left out of the robust choice.
    """

    def run() -> None:
        loaded = _load(game, principal_player)
        sense = "worst" if worst else "best"
        if isinstance(loaded, PrincipalGame):
            eps = _epsilon(epsilon, "--epsilon", loaded.num_players, allow_negative_epsilon, method)
            if principal_strategy is not None:
                x0 = np.array(parse_floats(principal_strategy, "--principal-strategy"))
                followers = loaded.induced(x0)
                res = _solve(followers, eps, sense, method)
                _emit(followers, res, as_json, {"principal_strategy": x0.tolist()})
                return
            _robust_choice(loaded, game, eps, sense, method, as_json)
            return
        followers = _followers_game(loaded)
        eps = _epsilon(epsilon, "--epsilon", followers.num_players, allow_negative_epsilon, method)
        if isinstance(loaded, LinearCongestionGame) and method is Method.approachability:
            from robustmas.equilibria import approachability

            # Algorithm 2 queries the succinct game; the dense one only names the actions.
            res = approachability.extreme_cce(loaded, eps, "worst" if worst else "best")
        else:
            res = _solve(followers, eps, sense, method)
        _emit(
            followers,
            res,
            as_json,
            {"objective": "principal" if followers.has_principal else "welfare"},
        )

    guard(run)


def sweep(
    game: Annotated[str, typer.Argument(help="A .nfg/.json file or a registry id.")],
    epsilons: Annotated[
        str,
        typer.Option(help="Comma-separated slack values; >= 0 unless --allow-negative-epsilon."),
    ] = "0,0.05,0.1,0.2,0.5",
    principal_player: Annotated[
        int | None, typer.Option(help="Principal's player number in an N+1-player .nfg (1-based).")
    ] = None,
    allow_negative_epsilon: AllowNegativeOption = False,
    as_json: JsonOption = False,
) -> None:
    """Table of worst- and best-case eps-CCE values (exact LP) for several eps.

    Rows without an eps-CCE say so; exit status 1 when no row has one.
    """

    def run() -> None:
        loaded = _load(game, principal_player)
        if isinstance(loaded, PrincipalGame):
            raise UserError(
                "sweep: the principal has several actions; fix one with `cce --principal-strategy`"
            )
        followers = _followers_game(loaded)
        values = _epsilon(epsilons, "--epsilons", None, allow_negative_epsilon, Method.lp)
        rows = []
        for e in values.tolist():
            w = lp.worst_case_cce(followers, e)
            b = lp.best_case_cce(followers, e)
            rows.append(
                {
                    "epsilon": e,
                    "status": w.status,
                    "worst": w.value if w.ok else None,
                    "best": b.value if b.ok else None,
                    "worst_max_regret": float(w.regrets.max()) if w.regrets is not None else None,
                }
            )
        if as_json:
            typer.echo(json.dumps({"game": followers.name or game, "rows": rows}))
        else:
            typer.echo(
                f"{followers.name or game}: {followers.num_players} agents, "
                f"{followers.num_joint_actions} joint actions"
            )
            typer.echo(f"{'eps':>8} {'worst-case':>12} {'best-case':>12} {'max regret':>12}")
            for r in rows:
                if r["worst"] is None or r["best"] is None or r["worst_max_regret"] is None:
                    typer.echo(f"{r['epsilon']:>8g}  no eps-CCE ({r['status']})")
                    continue
                typer.echo(
                    f"{r['epsilon']:>8g} {r['worst']:>12.6g} {r['best']:>12.6g} "
                    f"{r['worst_max_regret']:>12.4g}"
                )
        if all(r["worst"] is None for r in rows):
            if not as_json:
                typer.echo(f"no eps-CCE exists at any eps in {_eps_text(values)}")
            raise typer.Exit(EXIT_NO_ANSWER)

    guard(run)


def stackelberg(
    game: Annotated[
        str, typer.Argument(help="A two-player .nfg/.json file (player 1 leads) or a registry id.")
    ],
    as_json: JsonOption = False,
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

    guard(run)

"""The one-shot robust principal (RP Alg. 3 on a normal-form game), scored by the exact LP."""

from __future__ import annotations

import numpy as np
import pytest

from robustmas.games.formats import split_principal
from robustmas.games.library import make, samuelson
from robustmas.games.normal_form import NormalFormGame, PrincipalGame
from robustmas.robust.robust_principal import one_shot_env, train_robust_principal


def test_one_shot_env_puts_the_principal_last_and_pads_with_copies() -> None:
    rng = np.random.default_rng(0)
    game = PrincipalGame(rng.uniform(size=(2, 3)), rng.uniform(size=(1, 2, 3)))
    env = one_shot_env(game)
    assert env.players == 2 and env.actions == 3
    tables = env.game.payoffs  # (players, a_follower, a_principal)
    for a0 in range(3):
        for a1 in range(3):
            p = min(a0, 1)  # the principal's third action copies its second
            assert tables[0, a1, a0] == game.payoffs[0, p, a1]
            assert tables[1, a1, a0] == game.principal_payoff[p, a1]


@pytest.mark.parametrize("regret", ["exact", "sampled"])
def test_samuelson_learns_the_robust_row_and_reports_exact_values(regret: str) -> None:
    result = train_robust_principal(samuelson(), 2.0, seeds=2, regret=regret)  # type: ignore[arg-type]
    # Best pure robust action B (99); T alone is worth 50 against an eps = 2 follower.
    assert result.best_pure_action == 1 and result.best_pure_value == pytest.approx(99.0)
    assert result.principal_strategy[1] > 0.9
    assert result.worst_case_value >= 99.0 - 0.02 * 50.0  # within 2% of the payoff range
    assert np.all(result.per_seed_values <= 99.0 + 1e-6)  # nothing beats B's guarantee here
    assert set(result.to_json()) >= {"principal_strategy", "worst_case_value", "best_pure_value"}


def test_bad_input_is_named() -> None:
    base = make("random-v0", players=3, actions=2, principal=False)
    assert isinstance(base, NormalFormGame)
    game = split_principal(base, 2)
    assert isinstance(game, PrincipalGame)
    with pytest.raises(ValueError, match=r"^method"):
        train_robust_principal(game, 0.1, method="alg9")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^seeds"):
        train_robust_principal(game, 0.1, seeds=0)
    with pytest.raises(ValueError, match=r"^epsilon"):
        train_robust_principal(game, float("nan"))
    with pytest.raises(ValueError, match=r"^starts"):
        train_robust_principal(game, 0.1, starts="pure")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^checks"):
        train_robust_principal(game, 0.1, checks=0)


def test_cli_train_json_and_errors() -> None:
    import json

    from typer.testing import CliRunner

    from robustmas.cli.app import app

    runner = CliRunner()
    spec = "random-v0:players=3,principal=false,actions=2"
    out = runner.invoke(
        app, ["robust-principal", "train", spec, "--principal-player", "3", "-e", "0.1",
              "--seeds", "2", "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert len(data["principal_strategy"]) == 2
    assert abs(sum(data["principal_strategy"]) - 1.0) < 1e-9
    assert data["worst_case_value"] == pytest.approx(max(data["per_seed_values"]))
    bad = runner.invoke(app, ["robust-principal", "train", "random-v0", "-e", "0.1"])
    assert bad.exit_code == 2 and "--principal-player" in bad.output
    bad = runner.invoke(app, ["robust-principal", "train", "samuelson-v0", "-e", "1",
                              "--method", "x"])  # fmt: skip
    assert bad.exit_code == 2 and "--method" in bad.output


@pytest.mark.slow  # CI time: ten games; Samuelson's game stays in the default suite
def test_random_three_player_games_reach_the_best_pure_robust_value() -> None:
    """Issue 11's acceptance on random games: every one of these 10 games passes.

    The learned strategy's exact worst-case value must reach the LP's best pure robust value
    minus 2% of the payoff range (payoffs in [0, 1]).  With the final iterate of random starts
    (``starts="random", checks=1``) games 4 and 9 fall short (0.166 against 0.255, 0.179
    against 0.254): Alg. 3's dynamics settle on a worse action from every start.
    """
    passed, above = [], 0
    for seed in range(10):
        base = make("random-v0", players=3, actions=3, seed=seed, principal=False)
        assert isinstance(base, NormalFormGame)
        game = split_principal(base, 2)
        assert isinstance(game, PrincipalGame)
        result = train_robust_principal(game, 0.1, seeds=4)
        passed.append(result.worst_case_value >= result.best_pure_value - 0.02)
        above += result.worst_case_value > result.best_pure_value + 1e-3
        if seed == 4:
            local = train_robust_principal(game, 0.1, seeds=4, starts="random", checks=1)
            assert local.worst_case_value < local.best_pure_value - 0.05
    assert all(passed), passed
    assert above >= 2  # some learned mixed strategies beat every pure action

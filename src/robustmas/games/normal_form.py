"""Normal-form games as immutable data.

Two shapes cover every use in the robust-principal paper (Sec. 3):

* :class:`NormalFormGame` -- ``N`` followers with payoff tensors ``payoffs[i][a_1, ..., a_N]``
  and an optional principal payoff ``principal_payoff[a_1, ..., a_N]`` (the principal's own
  action is fixed, e.g. a policy already committed to).
* :class:`PrincipalGame` -- a principal with its own actions ``a_0``: ``principal_payoff[a_0, a]``
  and follower payoffs ``payoffs[i][a_0, a]``.  :meth:`PrincipalGame.induced` returns the game
  among the followers induced by a fixed principal mixed strategy ``x_0``.

A two-player Stackelberg game (leader = row player) is a :class:`PrincipalGame` with one follower.

References:
* Zhao, Trott, Xiong, Zheng, *Learning to Play General-Sum Games Against Multiple Boundedly
  Rational Agents*, AAAI 2023, arXiv:2106.05492 (the robust-principal paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "NormalFormGame",
    "PrincipalGame",
    "check_distribution",
    "check_finite",
    "default_action_names",
    "deviation_payoffs",
]


def check_finite(name: str, array: np.ndarray) -> None:
    """Raise ``ValueError`` naming ``name`` if ``array`` holds NaN or infinite values."""
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(
            f"{name}: payoffs must be finite numbers, found {array[tuple(bad)]} at index "
            f"{tuple(int(b) for b in bad)}"
        )


def check_distribution(name: str, p: np.ndarray, atol: float = 1e-6) -> np.ndarray:
    """Validate that ``p`` is a probability vector/tensor; return it as float64.

    Raises ``ValueError`` naming ``name`` when entries are negative, non-finite or do not sum
    to one (within ``atol``).
    """
    p = np.asarray(p, dtype=np.float64)
    if p.size == 0:
        raise ValueError(f"{name}: must not be empty")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name}: probabilities must be finite")
    if np.any(p < -atol):
        raise ValueError(f"{name}: probabilities must be non-negative, found min {p.min():g}")
    total = float(p.sum())
    if abs(total - 1.0) > atol:
        raise ValueError(f"{name}: probabilities must sum to 1, they sum to {total:.10g}")
    return np.clip(p, 0.0, None)


def default_action_names(num_actions: Sequence[int]) -> tuple[tuple[str, ...], ...]:
    """Names ``("1", "2", ...)`` for each player, as Gambit numbers strategies."""
    return tuple(tuple(str(j + 1) for j in range(m)) for m in num_actions)


def _freeze(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


def _check_names(
    what: str, names: Sequence[str], count: int, default: Sequence[str]
) -> tuple[str, ...]:
    if not names:
        return tuple(default)
    if len(names) != count:
        raise ValueError(f"{what}: expected {count} names, got {len(names)}")
    return tuple(str(n) for n in names)


def _check_action_names(
    what: str, actions: Sequence[Sequence[str]], num_actions: Sequence[int]
) -> tuple[tuple[str, ...], ...]:
    if not actions:
        return default_action_names(num_actions)
    if len(actions) != len(num_actions):
        raise ValueError(
            f"{what}: expected names for {len(num_actions)} players, got {len(actions)}"
        )
    out = []
    for i, (names, m) in enumerate(zip(actions, num_actions, strict=True)):
        if len(names) != m:
            raise ValueError(f"{what}[{i}]: expected {m} action names, got {len(names)}")
        out.append(tuple(str(n) for n in names))
    return tuple(out)


def deviation_payoffs(tensor: np.ndarray, factors: Sequence[np.ndarray], player: int) -> np.ndarray:
    """Expected payoff of each own action of ``player`` against the others' mixed strategies.

    Args:
        tensor: payoff tensor of shape ``(m_1, ..., m_N)``.
        factors: one probability vector per player (``factors[player]`` is ignored).
        player: index of the deviating player.

    Returns:
        Array of shape ``(m_player,)``: ``u(j, x_{-i})`` for every action ``j``.
    """
    out = tensor
    # Contract the trailing axes first so that earlier axis indices stay valid.
    for k in range(len(factors) - 1, -1, -1):
        if k == player:
            continue
        out = np.tensordot(out, factors[k], axes=([k], [0]))
    return np.asarray(out)


@dataclass(frozen=True, eq=False)
class NormalFormGame:
    """An ``N``-player normal-form game among followers, with an optional principal payoff.

    Attributes:
        payoffs: follower payoffs, shape ``(N, m_1, ..., m_N)``; ``payoffs[i][a]`` is player
            ``i``'s payoff at joint action ``a``.
        principal_payoff: the principal's payoff at each joint action, shape ``(m_1, ..., m_N)``,
            or ``None`` when the game has no principal.
        players: player names (default ``"Player 1"``, ...).
        actions: per-player action names (default ``"1"``, ``"2"``, ...).
        name: a title for tables and files.
    """

    payoffs: np.ndarray
    principal_payoff: np.ndarray | None = None
    players: tuple[str, ...] = ()
    actions: tuple[tuple[str, ...], ...] = ()
    name: str = ""
    principal_name: str = field(default="Principal")

    def __post_init__(self) -> None:
        payoffs = np.asarray(self.payoffs, dtype=np.float64)
        if payoffs.ndim < 2:
            raise ValueError(
                "payoffs: expected shape (N, m_1, ..., m_N) with N >= 1 players, got shape "
                f"{payoffs.shape}"
            )
        n = payoffs.shape[0]
        if payoffs.ndim != n + 1:
            raise ValueError(
                f"payoffs: first axis says {n} players, so the array needs {n + 1} axes "
                f"(N, m_1, ..., m_N); got shape {payoffs.shape}"
            )
        if any(m == 0 for m in payoffs.shape[1:]):
            raise ValueError(
                f"payoffs: every player needs at least one action, shape {payoffs.shape}"
            )
        check_finite("payoffs", payoffs)
        object.__setattr__(self, "payoffs", _freeze(payoffs))
        if self.principal_payoff is not None:
            principal = np.asarray(self.principal_payoff, dtype=np.float64)
            if principal.shape != payoffs.shape[1:]:
                raise ValueError(
                    f"principal_payoff: expected shape {payoffs.shape[1:]} (one entry per joint "
                    f"action), got {principal.shape}"
                )
            check_finite("principal_payoff", principal)
            object.__setattr__(self, "principal_payoff", _freeze(principal))
        object.__setattr__(
            self,
            "players",
            _check_names("players", self.players, n, [f"Player {i + 1}" for i in range(n)]),
        )
        object.__setattr__(
            self, "actions", _check_action_names("actions", self.actions, self.num_actions)
        )

    @property
    def num_players(self) -> int:
        """Number of followers ``N``."""
        return int(self.payoffs.shape[0])

    @property
    def num_actions(self) -> tuple[int, ...]:
        """Actions per follower ``(m_1, ..., m_N)``."""
        return tuple(int(m) for m in self.payoffs.shape[1:])

    @property
    def num_joint_actions(self) -> int:
        """``prod_i m_i``."""
        return int(np.prod(self.num_actions))

    @property
    def has_principal(self) -> bool:
        """Whether a principal payoff is attached."""
        return self.principal_payoff is not None

    def objective(self) -> np.ndarray:
        """The principal's payoff tensor, or the followers' total welfare when there is none."""
        if self.principal_payoff is not None:
            return self.principal_payoff
        return self.payoffs.sum(axis=0)

    def payoff_bound(self) -> float:
        """``max |u|`` over the followers' payoffs and the objective (at least 1e-12)."""
        return float(max(np.abs(self.payoffs).max(), np.abs(self.objective()).max(), 1e-12))

    def deviation_payoffs(
        self, factors: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``u_i(j, x_{-i})`` and ``u_0(j, x_{-i})`` for each follower ``i`` and action ``j``.

        Args:
            factors: one mixed strategy per follower, shapes ``(m_i,)``.

        Returns:
            ``(own, principal)``: two lists of ``N`` arrays of shape ``(m_i,)``.  ``principal``
            uses :meth:`objective`.
        """
        obj = self.objective()
        own = [deviation_payoffs(self.payoffs[i], factors, i) for i in range(self.num_players)]
        prin = [deviation_payoffs(obj, factors, i) for i in range(self.num_players)]
        return own, prin

    def with_principal(self, principal_payoff: np.ndarray | None) -> NormalFormGame:
        """A copy with another principal payoff (``None`` removes it)."""
        return NormalFormGame(
            self.payoffs,
            principal_payoff,
            self.players,
            self.actions,
            self.name,
            self.principal_name,
        )


@dataclass(frozen=True, eq=False)
class PrincipalGame:
    """A principal with its own actions ``a_0`` and ``N`` followers.

    Attributes:
        principal_payoff: shape ``(m_0, m_1, ..., m_N)``.
        payoffs: follower payoffs, shape ``(N, m_0, m_1, ..., m_N)``.
        players: follower names.
        actions: follower action names.
        principal_actions: names of the principal's actions.
        name: a title.
        principal_name: the principal's name.
    """

    principal_payoff: np.ndarray
    payoffs: np.ndarray
    players: tuple[str, ...] = ()
    actions: tuple[tuple[str, ...], ...] = ()
    principal_actions: tuple[str, ...] = ()
    name: str = ""
    principal_name: str = "Principal"

    def __post_init__(self) -> None:
        principal = np.asarray(self.principal_payoff, dtype=np.float64)
        payoffs = np.asarray(self.payoffs, dtype=np.float64)
        if principal.ndim < 2:
            raise ValueError(
                "principal_payoff: expected shape (m_0, m_1, ..., m_N) with at least one follower, "
                f"got {principal.shape}"
            )
        n = principal.ndim - 1
        if payoffs.shape != (n, *principal.shape):
            raise ValueError(
                f"payoffs: expected shape {(n, *principal.shape)} (followers, m_0, m_1, ..., m_N), "
                f"got {payoffs.shape}"
            )
        if any(m == 0 for m in principal.shape):
            raise ValueError(
                f"principal_payoff: every player needs at least one action, shape {principal.shape}"
            )
        check_finite("principal_payoff", principal)
        check_finite("payoffs", payoffs)
        object.__setattr__(self, "principal_payoff", _freeze(principal))
        object.__setattr__(self, "payoffs", _freeze(payoffs))
        object.__setattr__(
            self,
            "players",
            _check_names("players", self.players, n, [f"Player {i + 1}" for i in range(n)]),
        )
        object.__setattr__(
            self, "actions", _check_action_names("actions", self.actions, self.num_actions)
        )
        object.__setattr__(
            self,
            "principal_actions",
            _check_names(
                "principal_actions",
                self.principal_actions,
                self.num_principal_actions,
                default_action_names([self.num_principal_actions])[0],
            ),
        )

    @property
    def num_players(self) -> int:
        """Number of followers ``N``."""
        return int(self.payoffs.shape[0])

    @property
    def num_principal_actions(self) -> int:
        """``m_0``."""
        return int(self.principal_payoff.shape[0])

    @property
    def num_actions(self) -> tuple[int, ...]:
        """Actions per follower ``(m_1, ..., m_N)``."""
        return tuple(int(m) for m in self.principal_payoff.shape[1:])

    def induced(self, x0: np.ndarray | Sequence[float]) -> NormalFormGame:
        """The followers' game when the principal plays the mixed strategy ``x0``.

        Args:
            x0: the principal's mixed strategy, shape ``(m_0,)``.
        """
        x0 = check_distribution("x0 (principal strategy)", np.asarray(x0, dtype=np.float64))
        if x0.shape != (self.num_principal_actions,):
            raise ValueError(
                f"x0 (principal strategy): expected {self.num_principal_actions} probabilities, "
                f"got shape {x0.shape}"
            )
        payoffs = np.tensordot(x0, self.payoffs, axes=([0], [1]))
        principal = np.tensordot(x0, self.principal_payoff, axes=([0], [0]))
        return NormalFormGame(
            payoffs, principal, self.players, self.actions, self.name, self.principal_name
        )

    def fixed(self, a0: int) -> NormalFormGame:
        """The followers' game when the principal plays pure action ``a0``."""
        if not 0 <= a0 < self.num_principal_actions:
            raise ValueError(
                f"a0: principal action must be in [0, {self.num_principal_actions}), got {a0}"
            )
        return self.induced(np.eye(self.num_principal_actions)[a0])

    @classmethod
    def bimatrix(
        cls,
        leader: np.ndarray | Sequence[Sequence[float]],
        follower: np.ndarray | Sequence[Sequence[float]],
        *,
        leader_actions: Sequence[str] = (),
        follower_actions: Sequence[str] = (),
        name: str = "",
    ) -> PrincipalGame:
        """A two-player Stackelberg game: the row player (leader) commits, the column follows."""
        leader = np.asarray(leader, dtype=np.float64)
        follower = np.asarray(follower, dtype=np.float64)
        if leader.ndim != 2 or follower.shape != leader.shape:
            raise ValueError(
                f"bimatrix: leader and follower payoffs must be matrices of one shape, got "
                f"{leader.shape} and {follower.shape}"
            )
        return cls(
            leader,
            follower[None],
            players=("Follower",),
            actions=(tuple(follower_actions),) if follower_actions else (),
            principal_actions=tuple(leader_actions),
            name=name,
            principal_name="Leader",
        )

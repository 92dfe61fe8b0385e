"""The agent types of the economy's tables (RP Fig. 4 columns and the oracle rows)."""

from __future__ import annotations

__all__ = ["ORIGINAL_ALPHA", "ORIGINAL_ETA", "parse_type", "types_by_alpha"]

ORIGINAL_ETA, ORIGINAL_ALPHA = 0.23, 0.025
"""The papers' original agents: utility curvature eta 0.23, PPO entropy weight 0.025."""


def parse_type(label: str) -> tuple[float, float]:
    """``(eta, entropy weight)`` of a test type: ``Original``, ``eta=0.11`` or ``alpha=2.5``."""
    if label == "Original":
        return ORIGINAL_ETA, ORIGINAL_ALPHA
    name, _, value = label.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if name not in ("eta", "alpha") or number is None:
        raise ValueError(
            f"test_types: {label!r} is not a type; use 'Original', 'eta=<value>' or 'alpha=<value>'"
        )
    if name == "eta":
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"test_types: {label!r}: eta must lie in [0, 1]")
        return number, ORIGINAL_ALPHA
    if number < 0:
        raise ValueError(f"test_types: {label!r}: alpha must be >= 0")
    return ORIGINAL_ETA, number


def types_by_alpha(labels: tuple[str, ...]) -> list[tuple[float, list[tuple[str, float]]]]:
    """Test types grouped by entropy weight (one compiled program each), ascending.

    Returns ``[(alpha, [(label, eta), ...]), ...]`` with the labels in the given order.
    """
    groups: dict[float, list[tuple[str, float]]] = {}
    for label in labels:
        eta, alpha = parse_type(label)
        groups.setdefault(alpha, []).append((label, eta))
    return sorted(groups.items())

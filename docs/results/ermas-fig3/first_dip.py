"""The first dip of an ermas-fig3 run: the figures in README.md's verdict, from its run folder.

Usage: ``.venv/bin/python docs/results/ermas-fig3/first_dip.py runs/experiments/RUN_ID``
(the folder ``robustmas experiment run ermas-fig3 --budget full`` writes; horizon 20).
Prints, per beta, the smallest principal reward per step smoothed over 12 rounds and its
round, and the round at which each seed's agents' reward (smoothed over 5 rounds) first
reaches 0.55 per step, and the principal's reward per step averaged over the last half of
the rounds (mean +- s.e. over seeds; a reading that does not depend on where the lambda cycle
is at the end).
"""

import sys
from pathlib import Path

import numpy as np

HORIZON = 20


def smooth(x: np.ndarray, k: int) -> np.ndarray:
    """Running mean over ``k`` rounds (full windows only)."""
    return np.convolve(x, np.ones(k) / k, "valid")


for cell in sorted(Path(sys.argv[1]).glob("meta_beta=*")):
    m = np.load(cell / "state.metrics.npz")
    principal = m["principal_return"].mean(axis=0) / HORIZON  # (rounds,)
    agents = m["returns"][:, :, :-1].mean(axis=-1) / HORIZON  # (seeds, rounds)
    dip = smooth(principal, 12)
    reach = [int(np.argmax(smooth(a, 5) >= 0.55)) for a in agents]
    half = m["principal_return"][:, m["principal_return"].shape[1] // 2 :].mean(axis=1) / HORIZON
    print(
        f"{cell.name}: smallest smoothed principal {dip.min():.3f} at round "
        f"{int(dip.argmin()) + 12}; agents first reach 0.55 at rounds {reach}; principal over "
        f"the last half {half.mean():.3f} +- {half.std(ddof=1) / np.sqrt(len(half)):.3f}"
    )

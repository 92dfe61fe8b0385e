"""Compare two reproduction results files (``results.json``) number by number.

Usage::

    .venv/bin/robustmas stackelberg-pomdp reproduce --out runs/check
    .venv/bin/python benchmarks/compare_results.py \
        docs/results/stackelberg-pomdp/results.json runs/check/results.json

Prints every leaf that differs (path, both values) and a count; exit status 1 if any differs.
``--tol`` allows an absolute difference (default 0: bit-identical floats as JSON prints them).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def differences(a: Any, b: Any, tol: float, path: str = "") -> list[str]:
    """Paths (with both values) where ``a`` and ``b`` differ by more than ``tol``."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only in one file" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += differences(a[k], b[k], tol, f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} != {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, tol, f"{path}[{i}]")
        return out
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        if math.isnan(a) and math.isnan(b):
            return []
        return [] if abs(a - b) <= tol else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--tol", type=float, default=0.0, help="allowed absolute difference")
    args = parser.parse_args()
    a, b = (json.loads(p.read_text()) for p in (args.reference, args.candidate))
    diffs = differences(a, b, args.tol)
    for line in diffs:
        print(line)

    def leaves(x: Any) -> int:
        if isinstance(x, dict):
            return sum(leaves(v) for v in x.values())
        if isinstance(x, list):
            return sum(leaves(v) for v in x)
        return 1

    print(f"{len(diffs)} of {leaves(a)} values differ (tol {args.tol})")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())

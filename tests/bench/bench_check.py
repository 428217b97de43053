"""Benchmark: one claim at small sizes, all three methods (the exact one included). Target: under 1 s a claim.

Run: ``python tests/bench/bench_check.py``. Prints a table; not a timed test.
"""

from __future__ import annotations

import time

import matcalc

CLAIMS = [
    ("d/dx x^T A x = (A + A^T) x", "A: n x n, x: n"),
    ("d/dx x^T A x = 2 A x", "A: n x n, x: n"),
    ("d/dW ‖W x - y‖^2 = 2 (W x - y) x^T", "W: n x m, x: m, y: n"),
    ("d/dW ‖W x - y‖^2 = 2 x (W x - y)^T", "W: n x m, x: m, y: n"),
    ("grad(C(sigma(z)), z) = C'(sigma(z)) ⊙ sigma'(z)", "C: R^n -> R, sigma: R -> R, z: n"),
    ("d/dx sigma(W x + b) = diag(sigma'(W x + b)) W", "W: n x m, x: m, b: n"),
    ("d/dz logsumexp(z) = softmax(z)", "z: n"),
]


def main() -> None:
    matcalc.check("d/dx x^T y = y", given="x: n, y: n")  # warm the imports once
    print(f"{'claim':<55} {'verdict':<13} {'seconds':>8}")
    worst = 0.0
    for claim, given in CLAIMS:
        t0 = time.perf_counter()
        rep = matcalc.check(claim, given=given)
        dt = time.perf_counter() - t0
        worst = max(worst, dt)
        print(f"{claim:<55} {rep.verdict:<13} {dt:8.3f}")
    print(f"worst: {worst:.3f} s (target < 1 s a claim)")


if __name__ == "__main__":
    main()

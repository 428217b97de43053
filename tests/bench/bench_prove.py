"""Benchmark: `matcalc prove eq2` from a cold start (target < 1.5 s wall) and `matcalc prove all` (target < 10 s).

Run: ``python tests/bench/bench_prove.py``. Each figure is the best of three runs of a fresh process.
"""

from __future__ import annotations

import subprocess
import sys
import time


def wall(*args: str) -> tuple[float, int]:
    best, code = float("inf"), 0
    for _ in range(3):
        t0 = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", "matcalc", *args], capture_output=True).returncode
        best = min(best, time.perf_counter() - t0)
    return best, code


def main() -> None:
    print(f"{'command':<32} {'exit':>4} {'seconds':>8}  target")
    for args, target in ((["--help"], 0.5), (["prove", "eq2"], 1.5), (["prove", "all"], 10.0)):
        t, code = wall(*args)
        print(f"{'matcalc ' + ' '.join(args):<32} {code:>4} {t:8.2f}  < {target} s")


if __name__ == "__main__":
    main()

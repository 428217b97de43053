"""Benchmark: issue 13's slow list — powers, inverses and determinants of one matrix, nested inverses, 20 nested σ.

Run: ``python tests/bench/bench_slow_list.py``. Each claim (true ones, and a false twin of each) is judged in this
process (the verdict's own seconds, ``ClaimResult.seconds``, after one warm-up claim; for a refuted claim these
include the diagnosis — the search for the named mistake and the correct result — so the seconds of the three methods
alone, the decision, are a column of their own) and once through the CLI in a cold process (wall seconds, start-up
included). Goal (issue 13): each decided — verified or refuted, not
inconclusive — in under 2 s. Not a timed test: the figures depend on the machine and its load, printed first.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import child_env, machine_line, module_launcher  # noqa: E402


def _nested_sigma(k: int) -> tuple[str, str, str]:
    inner = "x"
    args = []
    for _ in range(k):
        args.append(inner)
        inner = f"sigma({inner})"
    rhs = " ⊙ ".join(f"sigma'({a})" for a in reversed(args))
    wrong = " ⊙ ".join(f"sigma'({a})" for a in reversed(args[1:]))  # the innermost factor forgotten
    return f"d/dx sum({inner}) = {rhs}", f"d/dx sum({inner}) = {wrong}", "x: n"


A = "A: n x n"
CLAIMS = [
    ("d/dA tr(A^20) = 20 (A^19)^T", "d/dA tr(A^20) = 20 A^19", A),
    ("A^64 = A^32 A^32", "A^64 = A^32 A^31", A),
    ("inv(A^64) = inv(A)^64", "inv(A^64) = inv(A)^63", A),
    ("det(A^20) = det(A)^20", "det(A^20) = 20 det(A)", A),
    ("inv(inv(inv(A))) = inv(A)", "inv(inv(inv(A))) = A", A),
    ("d/dA tr(inv(inv(A)) B) = B^T", "d/dA tr(inv(inv(A)) B) = B", "A: n x n, B: n x n"),
    _nested_sigma(20),
]


def main() -> None:
    import matcalc

    print(machine_line())
    matcalc.check("d/dx x^T x = 2 x", given="x: n")  # warm-up: imports and caches
    from matcalc.lang import read_document
    from matcalc.verify.judge import judge

    print(f"{'claim':58} {'verdict':>12} {'decided s':>9} {'in-process s':>12} {'cold CLI s':>10}")
    worst = worst_decided = 0.0
    for true, false, given in CLAIMS:
        for text in (true, false):
            st = read_document(text, given=given).statements[-1]
            t0 = time.perf_counter()
            decided = judge(st.lhs, st.rhs, text=text, diagnose=False)
            decided_s = time.perf_counter() - t0
            worst_decided = max(worst_decided, decided_s)
            res = matcalc.check(text, given=given).results[0]
            assert decided.verdict == res.verdict, (text, decided.verdict, res.verdict)
            t0 = time.perf_counter()
            subprocess.run([*module_launcher(), "check", text, "--given", given], env=child_env(),
                           capture_output=True, timeout=120)
            cold = time.perf_counter() - t0
            worst = max(worst, res.seconds)
            label = text if len(text) <= 58 else text[:55] + "…"
            print(f"{label:58} {res.verdict:>12} {decided_s:9.2f} {res.seconds:12.2f} {cold:10.2f}", flush=True)
    print(f"slowest decision {worst_decided:.2f} s, slowest verdict with its diagnosis {worst:.2f} s (goal: under 2 s "
          "each, true ones verified, false ones refuted)")


if __name__ == "__main__":
    main()

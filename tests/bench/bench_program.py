"""Benchmark: derivatives of networks as programs (issue 12, Deliver 5). Not a timed test.

Contract: for an L-layer MLP (``let a_l = sigma(W_l a_{l-1} + b_l)``, cost ``sum((W_L a_{L-1} + b_L - y).^2)``) and
a residual network (``let h_l = h_{l-1} + tanh(W_l h_{l-1})``, cost ``sum(h_L.^2)``) at each depth of ``--depths``
(default 1, 4, 16, 64, 256), runs cold processes of this tree's CLI:

* ``matcalc derive FILE --wrt <every weight and bias>``: wall and CPU seconds (user + system of the child), output
  lines, exit status;
* with ``--check``, ``matcalc check`` of the ``derive --format mc`` program: seconds and the verdict line.

Then the growth ratios L=256 / L=16 (goal ≤ 20 for time and lines: linear in L) and whether derive at L = 64 took
under 2 CPU seconds. A depth the reader refuses (a limit) shows its message instead. Exit status 0 whatever the
figures.

    python tests/bench/bench_program.py [--depths 1,4,16,64] [--check]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mlp(L: int) -> tuple[str, str]:
    lines = ["given x: n, y: n", "given " + ", ".join(f"W{l}: n x n, b{l}: n" for l in range(1, L + 1)),
             "let a0 = x"]
    lines += [f"let a{l} = sigma(W{l} a{l - 1} + b{l})" for l in range(1, L)]
    lines.append(f"sum((W{L} a{L - 1} + b{L} - y).^2)")
    return "\n".join(lines) + "\n", ",".join(f"W{l},b{l}" for l in range(1, L + 1))


def res(L: int) -> tuple[str, str]:
    lines = ["given x: n", "given " + ", ".join(f"W{l}: n x n" for l in range(1, L + 1)), "let h0 = x"]
    lines += [f"let h{l} = h{l - 1} + tanh(W{l} h{l - 1})" for l in range(1, L + 1)]
    lines.append(f"sum(h{L}.^2)")
    return "\n".join(lines) + "\n", ",".join(f"W{l}" for l in range(1, L + 1))


def run(argv: list[str]) -> tuple[float, float, int, str, str]:
    """Wall seconds, CPU seconds of the child, exit status, stdout, stderr."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "matcalc", *argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.returncode, p.stdout, p.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depths", default="1,4,16,64,256")
    ap.add_argument("--check", action="store_true", help="also check the --format mc program (slow at depth)")
    args = ap.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    rows: dict[tuple[str, int], tuple[float, int]] = {}
    print(f"{'net':<4} {'L':>4}  {'derive wall':>11} {'cpu':>6} {'lines':>6} {'exit':>4}  check")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, gen in (("mlp", mlp), ("res", res)):
            for L in depths:
                text, wrt = gen(L)
                path = Path(tmp) / f"{kind}{L}.mc"
                path.write_text(text, encoding="utf-8")
                wall, cpu, code, out, err = run(["derive", str(path), "--wrt", wrt])
                if code == 2:
                    print(f"{kind:<4} {L:>4}  refused: {err.strip().splitlines()[0] if err.strip() else '?'}")
                    continue
                lines = len(out.splitlines())
                rows[(kind, L)] = (cpu, lines)
                check = ""
                if args.check:
                    _w, _c, _code, mc, _e = run(["derive", str(path), "--wrt", wrt, "--format", "mc"])
                    doc = Path(tmp) / f"{kind}{L}-grad.mc"
                    doc.write_text(mc, encoding="utf-8")
                    cw, cc, ccode, cout, _ = run(["check", str(doc)])
                    first = cout.strip().splitlines()[0] if cout.strip() else "?"
                    check = f"{cw:.1f} s wall, {cc:.1f} s cpu, exit {ccode}: {first}"
                print(f"{kind:<4} {L:>4}  {wall:>9.2f} s {cpu:>6.2f} {lines:>6} {code:>4}  {check}")
    for kind in ("mlp", "res"):
        if (kind, 16) in rows and (kind, 256) in rows:
            (c16, l16), (c256, l256) = rows[(kind, 16)], rows[(kind, 256)]
            print(f"{kind}: L=256 / L=16: cpu {c256 / c16:.1f}, lines {l256 / l16:.1f} (goal ≤ 20)")
        if (kind, 64) in rows:
            print(f"{kind}: derive at L = 64: {rows[(kind, 64)][0]:.2f} CPU s (goal < 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

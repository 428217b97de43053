"""Benchmark: Hessian derivation time, matcalc against SymPy (issue 13). Not a timed test.

Contract: for each expression of ``CASES`` (the same mathematics on both sides) prints one row: matcalc's time to
derive the Hessian (``differentiate(..., kind="hessian")``: the gradient, then its Jacobian, simplified) and its
result; SymPy's time for ``f.diff(x).diff(x)`` on ``MatrixSymbol`` expressions (what ``sympy.hessian`` does for a
matrix variable) and its result, or why it fails. Times are the median of ``--repeat`` warm runs (imports and the
first call excluded), in milliseconds, and their ratio (SymPy's time over matcalc's) with its geometric mean. Neither
side's result is judged here; ``matcalc check`` verifies matcalc's
(tests/test_second_order.py).

Run: ``python tests/bench/bench_hessian.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _sympy_cases():
    """name → (SymPy expression builder, variable) on MatrixSymbols."""
    import sympy as sp

    n, m, N, d = sp.symbols("n m N d", integer=True, positive=True)
    x, c = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("c", n, 1)
    A, H = sp.MatrixSymbol("A", n, n), sp.MatrixSymbol("H", n, n)
    X, w, y = sp.MatrixSymbol("X", N, d), sp.MatrixSymbol("w", d, 1), sp.MatrixSymbol("y", N, 1)
    W, v = sp.MatrixSymbol("W", n, m), sp.MatrixSymbol("v", m, 1)
    return {
        "quadratic": (lambda: x.T * A * x, x),
        "quadratic model": (lambda: sp.Rational(1, 2) * x.T * H * x + c.T * x, x),
        "least squares": (lambda: (X * w - y).T * (X * w - y), w),
        "weighted norm": (lambda: (W * v).T * A * (W * v), v),
        "trace of Xᵀ A X": (lambda: sp.Trace(X.T * sp.MatrixSymbol("B", N, N) * X), X),
        "logistic loss": (lambda: sp.OneMatrix(1, N) * (X * w).applyfunc(lambda t: sp.log(1 + sp.exp(t)))
                          - y.T * X * w, w),
    }


#: (name, matcalc expression, variable, declarations)
CASES = [
    ("quadratic", "x^T A x", "x", "x: n, A: n x n"),
    ("quadratic model", "1/2 x^T H x + c^T x", "x", "x: n, c: n, H: n x n"),
    ("least squares", "(X w - y)^T (X w - y)", "w", "X: N x d, w: d, y: N"),
    ("weighted norm", "(W v)^T A (W v)", "v", "W: n x m, v: m, A: n x n"),
    ("trace of Xᵀ A X", "tr(X^T B X)", "X", "X: N x d, B: N x N"),
    ("logistic loss", "sum(softplus(X w)) - y^T X w", "w", "X: N x d, w: d, y: N"),
]


def _time(fn, repeat: int) -> tuple[float, float, object]:
    """(first call ms, median of the warm calls ms, result): both sides keep caches, so the first call is the
    honest figure for one derivation and the warm median shows what the caches give."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return first * 1000, statistics.median(ts) * 1000, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from matcalc import ir
    from matcalc.engine import differentiate
    from matcalc.lang import read_document
    from matcalc.printing import to_text

    sym = _sympy_cases()
    print("times in ms: first call / warm median; ratio = SymPy's time / matcalc's (first / warm), > 1: matcalc faster")
    print(f"{'expression':<18} {'matcalc':>13}  {'matcalc Hessian':<36} {'SymPy':>13} {'ratio':>11}  SymPy Hessian")
    ratios: list[tuple[float, float]] = []
    for name, text, var, given in CASES:
        doc = read_document(text, given=given)
        e = doc.statements[-1].expr
        wrt = next(v for v in ir.variables(e) if v.name == var)
        c_mc, t_mc, d = _time(lambda: differentiate(e, wrt, kind="hessian"), args.repeat)
        build, sv = sym[name]
        f = build()
        try:
            c_sp, t_sp, h = _time(lambda: f.diff(sv).diff(sv), args.repeat)
            res = str(h)
        except Exception as exc:  # noqa: BLE001 - a failure is the measurement
            c_sp, t_sp, res = float("nan"), float("nan"), f"fails: {type(exc).__name__}: {str(exc)[:60]}"
        mc, sp_ = f"{c_mc:.1f} / {t_mc:.1f}", f"{c_sp:.1f} / {t_sp:.1f}"
        ratio = "—" if c_sp != c_sp else f"{c_sp / c_mc:.1f} / {t_sp / t_mc:.1f}"
        if c_sp == c_sp:
            ratios.append((c_sp / c_mc, t_sp / t_mc))
        shown = to_text(d.result) + "".join(f", {n.name} = {to_text(n.value)}" for n in d.where)
        print(f"{name:<18} {mc:>13}  {shown:<36} {sp_:>13} {ratio:>11}  {res}")
    if ratios:
        gm = [statistics.geometric_mean(r[i] for r in ratios) for i in (0, 1)]
        print(f"geometric mean ratio over the {len(ratios)} expressions SymPy derives: {gm[0]:.1f}× (first call), "
              f"{gm[1]:.1f}× (warm); SymPy fails on {len(CASES) - len(ratios)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

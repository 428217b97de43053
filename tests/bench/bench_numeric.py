"""Benchmark of the numeric method (matcalc.verify.numeric). Not a timed test; prints two tables.

1. A claimed gradient for a 1000×1000 W (``d/dW ‖W x − y‖² = 2 (W x − y) xᵀ``, fixed sizes), true and false
   variants: the directional probes (≤ 12 function evaluations per point). Target: under 2 s a claim.
2. The finite-difference accuracy reached on the smooth claims of tests/test_numeric.py: the largest relative
   difference between the finite-difference side and the closed form, with the complex step and with central
   differences plus Richardson extrapolation only.
3. Typical claims: the CPU time (time.process_time, robust on a shared machine) of check_equal over every claim and
   step of the theorems in proofs/ (``matcalc prove all`` in one process), the slowest claims, and the statuses.

Run: ``python tests/bench/bench_numeric.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from matcalc import ir  # noqa: E402
from matcalc.verify import numeric as N  # noqa: E402


def big_claims(size: int = 1000) -> list[tuple[str, ir.Expr, ir.Expr]]:
    W = ir.Var("W", (size, size))
    x, y = ir.Var("x", (size, 1)), ir.Var("y", (size, 1))
    r = ir.Add((ir.MatMul((W, x)), ir.Neg(y)))
    f = ir.Power(ir.Norm(r), 2)
    two = ir.Num(2)
    return [
        ("d/dW ‖Wx−y‖² = 2 (Wx−y) xᵀ", ir.Derivative(f, W), ir.Scale(two, ir.MatMul((r, ir.Transpose(x))))),
        ("d/dW ‖Wx−y‖² = (Wx−y) xᵀ", ir.Derivative(f, W), ir.MatMul((r, ir.Transpose(x)))),
        ("d/dW ‖Wx−y‖² = 2 x (Wx−y)ᵀ", ir.Derivative(f, W), ir.Scale(two, ir.MatMul((x, ir.Transpose(r))))),
        ("d/dW ‖σ(Wx)−y‖² (tanh) = 2((σ−y)⊙σ') xᵀ", *_tanh_claim(W, x, y)),
    ]


def _tanh_claim(W: ir.Expr, x: ir.Expr, y: ir.Expr) -> tuple[ir.Expr, ir.Expr]:
    z = ir.MatMul((W, x))
    a = ir.Apply("tanh", z)
    r = ir.Add((a, ir.Neg(y)))
    lhs = ir.Derivative(ir.Power(ir.Norm(r), 2), W)
    rhs = ir.Scale(ir.Num(2), ir.MatMul((ir.Hadamard(r, ir.Apply("tanh", z, 1)), ir.Transpose(x))))
    return lhs, rhs


def smooth_claims() -> list[tuple[str, ir.Expr, ir.Expr, tuple]]:
    import test_numeric as T

    out = [(name, lhs, rhs, ()) for name, lhs, rhs in T.A3_TRUE + T.A4_TRUE + T.A5_TRUE if "max" not in name]
    out += [
        ("d/dx xᵀAx = (A+Aᵀ)x", T.d(T.xAx, T.x), T.mm(T.add(T.A, T.T(T.A)), T.x), ()),
        ("d/dW ‖Wx−y‖² = 2(Wx−y)xᵀ", T.d(T.lsq, T.W), T.sc(2, T.mm(T.res, T.T(T.xm))), ()),
        ("grad C(σ(z)) = C'(σ(z)) ⊙ σ'(z)", T.d(T.C_sig, T.u, kind="grad"),
         T.ir.Hadamard(T.ir.CallVec("C", T.sig_z, 1), T.ap("sigma", T.u, 1, declared=True)), ()),
        ("d/dX logdet X = X⁻ᵀ", T.d(ir.LogDet(T.X), T.X), T.T(ir.Inverse(T.X)), ()),
        ("d/dX tr(AXB) = AᵀBᵀ", T.d(ir.Trace(T.mm(T.A, T.X, T.B)), T.X), T.mm(T.T(T.A), T.T(T.B)), ()),
        ("d/du logsumexp u = softmax u", T.d(ir.LogSumExp(T.u), T.u), ir.Softmax(T.u), ()),
        ("d/du ‖u‖ = u/‖u‖", T.d(ir.Norm(T.u), T.u), ir.Div(T.u, ir.Norm(T.u)), ()),
        ("d/dW[j,k] ½‖Wx−y‖² = x[k] r[j]", T.d(T.sc(0.5, T.lsq), ir.Entry(T.W, (T.j, T.k))),
         T.sc(ir.Entry(T.xm, (T.k,)), ir.Entry(T.res, (T.j,))), (T.j, T.k)),
        ("d/dx sigma(Wx) = diag(σ') W", T.d(T.ap("sigma", T.mm(T.W, T.xm)), T.xm),
         T.mm(T.diag(T.ap("sigma", T.mm(T.W, T.xm), 1)), T.W), ()),
    ]
    return out


def main() -> None:
    print("1. claimed gradients for a 1000×1000 W (directional probes)")
    print(f"{'claim':<46} {'status':<10} {'max rel err':>11} {'points':>6} {'seconds':>8}")
    worst = 0.0
    for name, lhs, rhs in big_claims():
        t0 = time.perf_counter()
        r = N.check_equal(lhs, rhs, seed=0, budget_s=30.0)
        dt = time.perf_counter() - t0
        worst = max(worst, dt)
        print(f"{name:<46} {r.status:<10} {r.max_rel_error:11.1e} {r.points:6d} {dt:8.3f}")
    print(f"worst: {worst:.3f} s (target < 2 s)\n")

    print("2. finite-difference accuracy on the smooth claims of tests/test_numeric.py (3 points each)")
    print(f"{'claim':<40} {'complex step':>12} {'Richardson':>11} {'tol (R)':>9} {'ms':>6}")
    worst_cs = worst_r = 0.0
    for name, lhs, rhs, free in smooth_claims():
        t0 = time.perf_counter()
        rc = N.check_equal(lhs, rhs, free=free, seed=0)
        dt = (time.perf_counter() - t0) * 1e3
        rr = N.check_equal(lhs, rhs, free=free, seed=0, complex_step=False)
        assert rc.status == "equal" and rr.status == "equal", (name, rc.detail, rr.detail)
        worst_cs, worst_r = max(worst_cs, rc.max_rel_error), max(worst_r, rr.max_rel_error)
        print(f"{name[:40]:<40} {rc.max_rel_error:12.1e} {rr.max_rel_error:11.1e} {rr.tolerance:9.1e} {dt:6.1f}")
    print(f"worst: complex step {worst_cs:.1e}, central differences + Richardson {worst_r:.1e} (goal ≤ 1e-10)\n")

    print("3. check_equal on every claim of proofs/ (matcalc prove all, one process; CPU seconds)")
    typical()


def typical() -> None:
    import os
    from collections import Counter

    os.environ["MATCALC_WORKERS"] = "1"
    from matcalc.api import prove_many

    calls: list[tuple[float, str, str]] = []
    check = N.check_equal

    def timed(lhs: ir.Expr, rhs: ir.Expr, **kw: object) -> N.NumericResult:
        t0 = time.process_time()
        r = check(lhs, rhs, **kw)
        calls.append((time.process_time() - t0, r.status, f"{lhs} = {rhs}"))
        return r

    N.check_equal = timed
    try:
        t0 = time.process_time()
        prove_many(["all"])
        total = time.process_time() - t0
    finally:
        N.check_equal = check
    numeric = sum(c[0] for c in calls)
    print(f"{len(calls)} claims: numeric {numeric:.2f} s CPU of {total:.2f} s for the whole run; "
          f"statuses {dict(Counter(c[1] for c in calls))}")
    for dt, status, text in sorted(calls, reverse=True)[:5]:
        print(f"  {dt * 1e3:7.1f} ms  {status:<8} {text[:90]}")


if __name__ == "__main__":
    main()

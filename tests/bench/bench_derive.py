"""Benchmark: the gradient of an L-layer MLP's squared-error cost w.r.t. every weight and bias (issue 3, Speed).

Run: ``python tests/bench/bench_derive.py [--max-layers 64] [--sympy-timeout 20]``. Prints, for L = 1, 2, 4, …, 64, the
time matcalc takes for all 2L gradients (including the simplifier), the result size in distinct IR nodes (shared
subexpressions counted once), and — for small L — SymPy's ``MatrixSymbol.diff`` on the same cost side by side (each
case in a subprocess, skipped beyond the timeout), with the ratio. Not a timed test.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from matcalc import ir  # noqa: E402
from matcalc.engine import differentiate, differentiate_many, node_count  # noqa: E402


def mlp_cost(L: int):
    """``‖a_L − y‖²`` with ``a_l = σ(W_l a_{l−1} + b_l)``, ``a_0 = x``; all layers n wide."""
    x, y = ir.Var("x", ("n", 1)), ir.Var("y", ("n", 1))
    params = []
    a = x
    for l in range(1, L + 1):
        W, b = ir.Var(f"W{l}", ("n", "n")), ir.Var(f"b{l}", ("n", 1))
        params += [W, b]
        a = ir.Apply("sigma", ir.Add((ir.MatMul((W, a)), b)))
    return ir.Power(ir.Norm(ir.Add((a, ir.Neg(y)))), 2), params


def matcalc_case(L: int) -> tuple[float, int, int, float]:
    """All 2L gradients in one pass (``differentiate_many``); also the time of one ``differentiate`` by W1."""
    cost, params = mlp_cost(L)
    t0 = time.perf_counter()
    results = [d.result for d in differentiate_many(cost, params)]
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    differentiate(cost, params[0])
    one = time.perf_counter() - t1
    return dt, node_count(*results), node_count(cost), one


def _sympy_worker(L: int, mode: str, q) -> None:
    """SymPy on the same cost: ``symbolic`` — ``MatrixSymbol.diff`` at generic n; ``explicit`` — matrices of
    symbols at n = 3, differentiated entry by entry (``derive_by_array``)."""
    import sympy as sp

    t = sp.Symbol("t")
    if mode == "symbolic":
        from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

        n = sp.Symbol("n", integer=True, positive=True)
        sig = sp.Lambda(t, 1 / (1 + sp.exp(-t)))
        mat = lambda name, r, c: sp.MatrixSymbol(name, r, c)  # noqa: E731
        act = lambda v: ElementwiseApplyFunction(sig, v)  # noqa: E731
    else:
        n = 3
        mat = lambda name, r, c: sp.MatrixSymbol(name, r, c).as_explicit()  # noqa: E731
        act = lambda v: v.applyfunc(lambda u: 1 / (1 + sp.exp(-u)))  # noqa: E731
    x, y = mat("x", n, 1), mat("y", n, 1)
    a = x
    params = []
    for l in range(1, L + 1):
        W, b = mat(f"W{l}", n, n), mat(f"b{l}", n, 1)
        params += [W, b]
        a = act(W * a + b)
    r = a - y
    cost = r.T * r
    t0 = time.perf_counter()
    failed = 0
    for p in params:
        try:
            if mode == "symbolic":
                cost.diff(p)
            else:
                sp.derive_by_array(cost[0, 0], p)
        except Exception:  # noqa: BLE001 - SymPy's own failures are reported, not hidden
            failed += 1
    q.put((time.perf_counter() - t0, failed))


def sympy_case(L: int, mode: str, timeout: float) -> tuple[float, int] | None:
    q: mp.Queue = mp.Queue()
    proc = mp.Process(target=_sympy_worker, args=(L, mode, q))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return None
    return q.get() if not q.empty() else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-layers", type=int, default=64)
    ap.add_argument("--sympy-max-layers", type=int, default=16)
    ap.add_argument("--sympy-timeout", type=float, default=20.0)
    args = ap.parse_args(argv)
    print("gradient of ‖a_L − y‖², a_l = σ(W_l a_(l−1) + b_l), by all 2L weights and biases")
    print("SymPy A: MatrixSymbol.diff at generic n (parameters it fails on are counted);"
          " SymPy B: explicit 3×3 symbol matrices, derive_by_array")
    print(f"{'L':>3} {'input nodes':>11} {'matcalc s':>10} {'by W1 only s':>12} {'result nodes':>12} "
          f"{'nodes/L':>8} {'SymPy A s':>10} {'A fails':>8} {'SymPy B s':>10} {'B/matcalc':>10}")
    L = 1
    gave_up = {"symbolic": False, "explicit": False}
    while L <= args.max_layers:
        dt, size, inp, one = matcalc_case(L)
        res = {}
        for mode in ("symbolic", "explicit"):
            if L <= args.sympy_max_layers and not gave_up[mode]:
                res[mode] = sympy_case(L, mode, args.sympy_timeout)
                gave_up[mode] = res[mode] is None
        a, b = res.get("symbolic"), res.get("explicit")
        a_txt = f"{a[0]:10.2f} {a[1]:>3} of {2 * L:<2}" if a else (f"{'timeout':>10} {'':>8}" if "symbolic" in res
                                                                 else f"{'—':>10} {'':>8}")
        b_txt = f"{b[0]:10.2f} {b[0] / dt:10.0f}" if b else (f"{'timeout':>10} {'—':>10}" if "explicit" in res
                                                            else f"{'—':>10} {'—':>10}")
        print(f"{L:>3} {inp:>11} {dt:>10.3f} {one:>12.3f} {size:>12} {size / L:>8.1f} {a_txt} {b_txt}", flush=True)
        L *= 2


if __name__ == "__main__":
    main()

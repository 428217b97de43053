"""The rule checker: every rule of the table proved in index notation and checked on its example.

Contract: :func:`verify_rules` (``matcalc rules --verify``) returns ``(rule name, ok, detail)`` for every rule of
:data:`matcalc.engine.rules.RULES`, in the table's order. A rule passes when its index form, where it has one, is
proved by SymPy at generic sizes ``n``, ``m``, and its example, derived by the engine, agrees with SymPy entry by
entry and with central finite differences at two concrete sizes. SymPy and NumPy are imported here, lazily, and
nowhere else in the engine.
"""

from __future__ import annotations

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import (
    Add, Apply, Broadcast, CallVec, Det, Diag, Div, EPower, Expr, HadDiv, Hadamard, Identity, Inverse, Kron,
    LogDet, LogSumExp, MatMul, MaxMin, Neg, Norm, Num, Ones, Power, Scale, Softmax, Sum, Trace, Transpose, Var, Vec,
    Zeros,
)
from matcalc.engine.rules import RULES, Rule, UnsupportedDerivative

__all__ = ["verify_rule", "verify_rules"]



_IDX_SYMBOLS = ("i", "j", "k", "l", "p", "q")


def _index_env(sp) -> dict:
    """The SymPy objects the index-notation proofs are written with (generic symbolic sizes n, m)."""
    env = {"sp": sp, "Sum": sp.Sum, "Max": sp.Max, "Min": sp.Min, "H": sp.Heaviside, "d": sp.KroneckerDelta,
           "f": sp.Function("f")}
    env.update({name: sp.Symbol(name, integer=True) for name in _IDX_SYMBOLS})
    env.update({name: sp.Symbol(name, integer=True, positive=True) for name in ("n", "m")})
    env.update({name: sp.IndexedBase(name, real=True) for name in ("W", "X", "A", "B", "x", "w", "a", "b")})
    env.update({name: sp.Symbol(name, real=True) for name in ("z", "c")})
    return env


def _resolve(sp, e):
    """Index ranges hold by definition (``1 ≤ j ≤ n``) and kinks have measure zero: pick those branches."""
    e = e.replace(lambda t: isinstance(t, sp.DiracDelta), lambda t: sp.Integer(0))
    e = e.replace(lambda t: isinstance(t, sp.sign), lambda t: t.args[0] / sp.Abs(t.args[0]))

    def pick(pw):
        conds = [c for _, c in pw.args]
        for ex, c in pw.args:
            if c is sp.true:
                return ex
            if isinstance(c, (sp.Eq,)):  # an equality (a kink, x = 0): measure zero, skip the branch
                continue
            return ex  # a range condition on indices
        return pw.args[-1][0] if conds else pw

    for _ in range(4):
        new = e.replace(lambda t: isinstance(t, sp.Piecewise), pick)
        if new == e:
            break
        e = new
    return e


def _sym_zero(sp, e) -> bool:
    """Whether a SymPy expression is identically 0 (rational functions by ``cancel``, the rest by ``simplify``)."""
    if e == 0:
        return True
    if not e.atoms(sp.Function):  # a rational function: its numerator over a common denominator expands to 0
        return sp.expand(sp.numer(sp.together(e))) == 0
    e = sp.expand(e)
    return e == 0 or sp.simplify(e) == 0


def _index_proof(rule: Rule) -> tuple[bool | None, str]:
    if rule.index_proof is None:
        return None, "no generic index form (checked exactly at fixed sizes)"
    import sympy as sp

    env = _index_env(sp)
    lhs, var, claimed = rule.index_proof(env)
    got = _resolve(sp, sp.diff(lhs, var).doit())
    diff = sp.simplify(_resolve(sp, sp.expand(got - (claimed.doit() if isinstance(claimed, sp.Basic) else sp.Integer(claimed)))))
    if diff == 0:
        return True, f"index form proved at generic n: {rule.index_form}"
    return False, f"index form not proved: ∂/∂{var} {lhs} = {got}, claimed {claimed}"


class _SymEval:
    """Evaluates the IR with SymPy matrices at concrete sizes (for checking rules only)."""

    def __init__(self, sp, sizes: dict, env: dict, fns: dict) -> None:
        self.sp, self.sizes, self.env, self.fns = sp, sizes, env, fns

    def dim(self, d) -> int:
        from matcalc.shapes import eval_dim

        return eval_dim(d, self.sizes)

    def ev(self, e: Expr, idx: dict | None = None):  # noqa: C901 - one case per node type
        sp = self.sp
        idx = idx or {}
        ev = lambda t: self.ev(t, idx)  # noqa: E731
        M = sp.Matrix
        s1 = lambda v: M([[v]])  # noqa: E731
        match e:
            case Var(name=nm):
                return self.env[nm]
            case Num(value=v):
                return s1(sp.Rational(v.numerator, v.denominator))
            case Identity(n=n):
                return sp.eye(self.dim(n))
            case Zeros(dims=(r, c)):
                return sp.zeros(self.dim(r), self.dim(c))
            case Ones(dims=(r, c)):
                return sp.ones(self.dim(r), self.dim(c))
            case Add(args=args):
                out = ev(args[0])
                for a in args[1:]:
                    out = out + ev(a)
                return out
            case Neg(arg=a):
                return -ev(a)
            case MatMul(args=args):
                out = ev(args[0])
                for a in args[1:]:
                    out = out * ev(a)
                return out
            case Scale(scalar=c, arg=a):
                return ev(c)[0, 0] * ev(a)
            case Div(arg=a, scalar=c):
                return ev(a) / ev(c)[0, 0]
            case Hadamard(a=a, b=b):
                return ev(a).multiply_elementwise(ev(b))
            case HadDiv(a=a, b=b):
                A, B = ev(a), ev(b)
                return M(A.rows, A.cols, lambda r, c: A[r, c] / B[r, c])
            case Kron(a=a, b=b):
                from sympy.physics.quantum import TensorProduct

                return TensorProduct(ev(a), ev(b))
            case MaxMin(op=op, a=a, b=b):
                A, B = ev(a), ev(b)
                f = sp.Max if op == "max" else sp.Min
                return M(A.rows, A.cols, lambda r, c: f(A[r, c], B[r, c]))
            case Transpose(arg=a):
                return ev(a).T
            case Inverse(arg=a):
                return ev(a).inv()
            case Power(base=a, exp=k):
                A = ev(a)
                kk = sp.Rational(k.numerator, k.denominator)
                return s1(A[0, 0] ** kk) if A.shape == (1, 1) else A ** int(k)
            case EPower(base=a, exp=k):
                kk = sp.Rational(k.numerator, k.denominator)
                return ev(a).applyfunc(lambda t: t ** kk)
            case Broadcast(arg=c, dims=(r, cc)):
                return ev(c)[0, 0] * sp.ones(self.dim(r), self.dim(cc))
            case Apply(fn=fn, arg=a, order=o, declared=dec):
                f = self.fns["f"] if dec else self.fns[fn]
                u = sp.Dummy("u", real=True)
                fk = f(u).diff(u, o) if o else f(u)
                return ev(a).applyfunc(lambda t: fk.subs(u, t))
            case CallVec(arg=a, order=o):
                v = ev(a)
                us = [sp.Dummy(f"u{r}", real=True) for r in range(v.rows)]
                val = self.fns["C"](us)
                if o == 0:
                    return s1(val.subs(dict(zip(us, v))))
                return M([val.diff(u).subs(dict(zip(us, v))) for u in us])
            case Sum(arg=a):
                return s1(sum(ev(a)))
            case Trace(arg=a):
                return s1(ev(a).trace())
            case Det(arg=a):
                return s1(ev(a).det())
            case LogDet(arg=a):
                return s1(sp.log(ev(a).det()))
            case Diag(arg=a):
                return sp.diag(*list(ev(a)))
            case Vec(arg=a):
                A = ev(a)
                return M([A[r, c] for c in range(A.cols) for r in range(A.rows)])
            case Norm(arg=a):
                return s1(sp.sqrt(sum(t ** 2 for t in ev(a))))
            case Softmax(arg=a):
                ex = ev(a).applyfunc(sp.exp)
                return ex / sum(ex)
            case LogSumExp(arg=a):
                return s1(sp.log(sum(ev(a).applyfunc(sp.exp))))
            case ir.Named(value=v):
                return ev(v)
            case ir.Entry(arg=a, idx=ix):
                A = ev(a)
                ii = [t if isinstance(t, int) else idx[t.name] for t in ix]
                return s1(A[ii[0] - 1, 0] if len(ii) == 1 else A[ii[0] - 1, ii[1] - 1])
            case ir.Delta(i=i, j=j):
                a_ = i if isinstance(i, int) else idx[i.name]
                b_ = j if isinstance(j, int) else idx[j.name]
                return s1(1 if a_ == b_ else 0)
            case ir.IndexSum(index=k, body=b):
                out = sp.zeros(1, 1)
                for v in range(1, self.dim(k.dim) + 1):
                    out = out + self.ev(b, {**idx, k.name: v})
                return out
        raise UnsupportedDerivative(f"cannot evaluate {type(e).__name__} in the rule checker")


def _sym_functions(sp) -> dict:
    sig = lambda t: 1 / (1 + sp.exp(-t))  # noqa: E731
    return {
        "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh, "sigma": sig,
        "relu": lambda t: sp.Max(0, t), "softplus": lambda t: sp.log(1 + sp.exp(t)), "abs": sp.Abs,
        "step": sp.Heaviside,
        "f": lambda t: sp.sin(t) + t ** 3 / 3,  # a declared f: R -> R, instantiated
        "C": lambda us: sum(u ** 3 for u in us) / 3 + sum(us) ** 2 / 2,  # a declared C: R^n -> R (not separable)
    }


def _sym_vars(sp, e: Expr, sizes: dict, tag: str) -> dict:
    from matcalc.shapes import eval_dim

    env = {}
    for v in sorted(ir.variables(e), key=lambda t: t.name):
        r, c = eval_dim(v.dims[0], sizes), eval_dim(v.dims[1], sizes)
        pos = "positive" in v.props
        env[v.name] = sp.Matrix(r, c, lambda i, j: sp.Symbol(f"{v.name}{tag}_{i}{j}", real=True, positive=pos or None))
    return env


def _sym_derivative(sp, Y, X, scalar_out: bool):
    """The derivative of the SymPy matrix ``Y`` by the matrix of symbols ``X``, in mixed layout (SPEC section 4)."""
    if scalar_out:
        return X.applyfunc(lambda t: Y[0, 0].diff(t))
    if X.shape == (1, 1):
        return Y.applyfunc(lambda t: t.diff(X[0, 0]))
    vy = [Y[r, c] for c in range(Y.cols) for r in range(Y.rows)]
    vx = [X[r, c] for c in range(X.cols) for r in range(X.rows)]
    return sp.Matrix(len(vy), len(vx), lambda a, b: vy[a].diff(vx[b]))


_RULE_SIZES = ({"n": 2, "m": 3, "k": 4}, {"n": 3, "m": 2, "k": 2})


def _example_checks(rule: Rule, *, seed: int) -> tuple[bool, str]:
    """The rule's example derived by the engine against SymPy entry by entry (two sizes) and central differences."""
    import numpy as np
    import sympy as sp

    from matcalc.engine import differentiate

    expr, wrt = rule.example()
    d = differentiate(expr, wrt)
    used = {s.rule for s in d.steps}
    if rule.name not in used and rule.name not in ("entry",):
        return False, f"the example does not use the rule (used: {', '.join(sorted(used))})"
    fns = _sym_functions(sp)
    rng = np.random.default_rng(seed)
    details = []
    for n_size, sizes in enumerate(_RULE_SIZES):
        env = _sym_vars(sp, expr, sizes, chr(ord("a") + n_size))
        ev = _SymEval(sp, sizes, env, fns)
        Y = ev.ev(expr)
        if isinstance(wrt, ir.Entry):
            var = env[wrt.arg.name]
            ii = wrt.idx
            X = sp.Matrix([[var[ii[0] - 1, 0] if len(ii) == 1 else var[ii[0] - 1, ii[1] - 1]]])
        else:
            X = env[wrt.name]
        want = _sym_derivative(sp, Y, X, Y.shape == (1, 1))
        got = ev.ev(d.result)
        if got.shape != want.shape:
            return False, f"shape {got.shape} against SymPy's {want.shape} at {sizes}"
        # exact: every entry of the difference simplifies to 0
        if n_size == 0 or len(got) <= 36:
            for a, b in zip(got, want):
                if not _sym_zero(sp, _resolve(sp, a - b)):
                    return False, f"differs from SymPy at {sizes}: {a} against {b}"
        # numeric: central differences at a random point (square matrices diagonally dominant)
        syms = sorted(set().union(*[m_.free_symbols for m_ in env.values()]), key=lambda t: t.name)
        point = {}
        for nm, m_ in env.items():
            r, c = m_.shape
            vals = rng.uniform(0.5, 1.5, (r, c)) * (1 if any(t.is_positive for t in m_) else
                                                     rng.choice([-1, 1], (r, c)))
            if r == c and r > 1:
                vals = vals + 3 * np.eye(r)
            for (i_, j_), v in np.ndenumerate(vals):
                point[m_[i_, j_]] = float(v)
        fY = sp.lambdify(syms, Y, modules=["numpy", {"Heaviside": lambda t: np.heaviside(t, 0.0)}])
        fG = sp.lambdify(syms, got, modules=["numpy", {"Heaviside": lambda t: np.heaviside(t, 0.0)}])
        args = [point[t] for t in syms]
        G = np.array(fG(*args), dtype=float)
        xs = [t for t in X]
        h = 1e-6
        cols = []
        for t in xs:
            k_ = syms.index(t)
            ap, am = list(args), list(args)
            ap[k_] += h
            am[k_] -= h
            cols.append((np.array(fY(*ap), dtype=float) - np.array(fY(*am), dtype=float)) / (2 * h))
        if Y.shape == (1, 1):
            F = np.array([cc[0, 0] for cc in cols]).reshape(X.shape)  # X entries in row-major order
        elif X.shape == (1, 1):
            F = cols[0]
        else:
            vx_order = [X[r, c] for c in range(X.cols) for r in range(X.rows)]
            by = dict(zip(xs, cols))
            F = np.array([by[t].reshape(-1, order="F") for t in vx_order]).T
        err = float(np.max(np.abs(G - F)) / max(1.0, float(np.max(np.abs(F)))))
        if not err < 1e-6:
            return False, f"finite differences disagree at {sizes}: relative error {err:.1e}"
        details.append(f"{', '.join(f'{k}={v}' for k, v in sizes.items())}: exact ✓, FD {err:.0e}")
    return True, "; ".join(details)


def verify_rule(rule: Rule, *, seed: int = 0) -> tuple[str, bool, str]:
    """One rule's checks: ``(name, ok, detail)``."""
    try:
        idx_ok, idx_detail = _index_proof(rule)
        if rule.example is None:
            return rule.name, False, "no example to check"
        ex_ok, ex_detail = _example_checks(rule, seed=seed)
    except MatcalcError as exc:
        return rule.name, False, f"error: {exc.message}"
    ok = ex_ok and idx_ok is not False
    return rule.name, ok, f"{idx_detail} · {ex_detail}"


def verify_rules(*, seed: int = 0, names: list[str] | None = None) -> list[tuple[str, bool, str]]:
    """Prove every rule: its index form with SymPy at generic n, and its example exactly and by finite differences.

    Returns ``(rule name, ok, detail)`` per rule, in the table's order. SymPy is imported here, lazily.
    """
    return [verify_rule(r, seed=seed) for nm, r in RULES.items() if names is None or nm in names]

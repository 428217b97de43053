"""Tests of the chain-rule composer (matcalc.engine): the issue's expected results, Parr & Howard's tables
(THEOREMS.md A3-A5), layouts, let names, entries; every result also checked against central finite differences of
the original expression with the small numpy evaluator below (independent of the rule engine).
"""
from __future__ import annotations

import numpy as np
from fractions import Fraction

from matcalc import ir
from matcalc.shapes import eval_dim

SIG = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731


def _fn(fn: str, order: int, t, declared: bool):
    if declared:  # a declared f: R -> R is instantiated as sin (derivatives cycle)
        return [np.sin, np.cos, lambda u: -np.sin(u), lambda u: -np.cos(u)][order % 4](t)
    if fn == "sigma":
        s = SIG(t)
        return [s, s * (1 - s), s * (1 - s) * (1 - 2 * s)][order]
    assert order == 0, (fn, order)
    return {
        "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
        "relu": lambda u: np.maximum(u, 0.0), "softplus": lambda u: np.log1p(np.exp(u)), "abs": np.abs,
        "step": lambda u: (u > 0).astype(float),
    }[fn](t)


def _callvec(order: int, u):
    # C(u) = Σ u³/3 + Σ sin(u)  (a smooth R^n -> R)
    if order == 0:
        return np.array([[np.sum(u ** 3) / 3 + np.sum(np.sin(u))]])
    return u ** 2 + np.cos(u)


def evaluate(e: ir.Expr, env: dict, sizes: dict, idx: dict | None = None):
    idx = idx or {}
    ev = lambda x: evaluate(x, env, sizes, idx)  # noqa: E731
    d = lambda k: eval_dim(k, sizes)  # noqa: E731
    match e:
        case ir.Var(name=n):
            return env[n]
        case ir.Num(value=v):
            return np.array([[float(v)]])
        case ir.Identity(n=n):
            return np.eye(d(n))
        case ir.Zeros(dims=(r, c)):
            return np.zeros((d(r), d(c)))
        case ir.Ones(dims=(r, c)):
            return np.ones((d(r), d(c)))
        case ir.Add(args=args):
            return sum(ev(a) for a in args)
        case ir.Neg(arg=a):
            return -ev(a)
        case ir.MatMul(args=args):
            out = ev(args[0])
            for a in args[1:]:
                out = out @ ev(a)
            return out
        case ir.Scale(scalar=s, arg=a):
            return ev(s)[0, 0] * ev(a)
        case ir.Div(arg=a, scalar=s):
            return ev(a) / ev(s)[0, 0]
        case ir.Hadamard(a=a, b=b):
            return ev(a) * ev(b)
        case ir.HadDiv(a=a, b=b):
            return ev(a) / ev(b)
        case ir.Kron(a=a, b=b):
            return np.kron(ev(a), ev(b))
        case ir.MaxMin(op=op, a=a, b=b):
            return (np.maximum if op == "max" else np.minimum)(ev(a), ev(b))
        case ir.Transpose(arg=a):
            return ev(a).T
        case ir.Inverse(arg=a):
            return np.linalg.inv(ev(a))
        case ir.Power(base=a, exp=k):
            v = ev(a)
            if v.shape == (1, 1):
                return v ** float(k)
            return np.linalg.matrix_power(v, int(k))
        case ir.EPower(base=a, exp=k):
            return ev(a) ** float(k)
        case ir.Broadcast(arg=s, dims=(r, c)):
            return np.full((d(r), d(c)), ev(s)[0, 0])
        case ir.Apply(fn=fn, arg=a, order=o, declared=dec):
            return _fn(fn, o, ev(a), dec)
        case ir.CallVec(arg=a, order=o):
            return _callvec(o, ev(a))
        case ir.Sum(arg=a):
            return np.array([[np.sum(ev(a))]])
        case ir.Trace(arg=a):
            return np.array([[np.trace(ev(a))]])
        case ir.Det(arg=a):
            return np.array([[np.linalg.det(ev(a))]])
        case ir.LogDet(arg=a):
            return np.array([[np.log(abs(np.linalg.det(ev(a))))]])
        case ir.Diag(arg=a):
            return np.diag(ev(a)[:, 0])
        case ir.Vec(arg=a):
            return ev(a).reshape(-1, 1, order="F")
        case ir.Norm(arg=a):
            return np.array([[np.linalg.norm(ev(a))]])
        case ir.Softmax(arg=a):
            v = np.exp(ev(a) - np.max(ev(a)))
            return v / v.sum()
        case ir.LogSumExp(arg=a):
            v = ev(a)
            return np.array([[np.log(np.sum(np.exp(v)))]])
        case ir.Named(value=v):
            return ev(v)
        case ir.Entry(arg=a, idx=ix):
            v = ev(a)
            ii = [i if isinstance(i, int) else idx[i.name] for i in ix]
            if len(ii) == 1:
                return np.array([[v[ii[0] - 1, 0]]])
            return np.array([[v[ii[0] - 1, ii[1] - 1]]])
        case ir.Delta(i=i, j=j):
            a = i if isinstance(i, int) else idx[i.name]
            b = j if isinstance(j, int) else idx[j.name]
            return np.array([[1.0 if a == b else 0.0]])
        case ir.IndexSum(index=k, body=b):
            return sum(evaluate(b, env, sizes, {**idx, k.name: v}) for v in range(1, d(k.dim) + 1))
    raise NotImplementedError(type(e).__name__)


def random_env(e: ir.Expr, sizes: dict, rng, *, spd: bool = False) -> dict:
    env = {}
    for v in ir.variables(e):
        r, c = eval_dim(v.dims[0], sizes), eval_dim(v.dims[1], sizes)
        a = rng.uniform(0.5, 1.5, (r, c)) * rng.choice([-1, 1], (r, c))
        if "positive" in v.props:
            a = np.abs(a)
        if "probability" in v.props:
            a = np.abs(a) / np.abs(a).sum()
        if r == c and r > 1 and (spd or "symmetric" in v.props or "spd" in v.props):
            a = a @ a.T + r * np.eye(r) if (spd or "spd" in v.props) else (a + a.T) / 2
        env[v.name] = a
    return env


def fd_derivative(expr: ir.Expr, wrt: ir.Var, env: dict, sizes: dict, *, kind="d", layout="mixed", h=1e-6,
                  idx=None):
    """The derivative of ``expr`` by ``wrt`` from central differences, in the layout of SPEC section 4."""
    x0 = env[wrt.name]
    y0 = evaluate(expr, env, sizes, idx)
    cols = []
    for jj in range(x0.size):
        e = np.zeros(x0.size)
        e[jj] = h
        E = e.reshape(x0.shape, order="F")
        yp = evaluate(expr, {**env, wrt.name: x0 + E}, sizes, idx)
        ym = evaluate(expr, {**env, wrt.name: x0 - E}, sizes, idx)
        cols.append(((yp - ym) / (2 * h)).reshape(-1, order="F"))
    J = np.array(cols).T  # |y| × |x|, numerator layout of vecs
    if kind == "jacobian":
        return J
    if y0.shape == (1, 1):
        G = J.reshape(x0.shape, order="F")
        if kind == "grad":
            return G
        return G.T if layout == "numerator" else G
    if x0.shape == (1, 1):
        T = J.reshape(y0.shape, order="F")
        return T.T if layout == "denominator" else T
    return J.T if layout == "denominator" else J


# ═════════════════════════════ the tests ═════════════════════════════

import pytest  # noqa: E402

from matcalc.engine import differentiate, expand_derivatives, node_count  # noqa: E402
from matcalc.ir import (  # noqa: E402
    Add, Apply, Broadcast, CallVec, Delta, Derivative, Diag, EPower, Entry, HadDiv, Hadamard, Identity, Index,
    IndexSum, Kron, LogSumExp, MatMul, MaxMin, Named, Neg, Norm, Num, Ones, Power, Scale, Softmax, Sum, Trace,
    Transpose, Var,
)
from matcalc.engine.rules import UnsupportedDerivative  # noqa: E402
from matcalc.engine.simplify import simplify  # noqa: E402
from matcalc.printing import to_text  # noqa: E402

SIZES = {"n": 3, "m": 2, "k": 4, "h": 5}
SIZES2 = {"n": 2, "m": 4, "k": 3, "h": 2}


def V(name, r, c=1, *props):
    return Var(name, (r, c), frozenset(props))


W, x, y, b = V("W", "n", "m"), V("x", "m"), V("y", "n"), V("b", "n")
xn, A, z = V("x", "n"), V("A", "n", "n"), V("z", "n")
w, c_ = V("w", "n"), V("z", 1)
T = Transpose


def mm(*a):
    return MatMul(tuple(a))


def numeric_ok(expr, wrt, res, *, kind="d", layout="mixed", seeds=(0, 1), spd=False, idx=None, fd_expr=None,
               fd_wrt=None):
    """The engine's result agrees with central differences of the original expression (two seeds, two sizes)."""
    for seed, sizes in zip(seeds, (SIZES, SIZES2)):
        rng = np.random.default_rng(seed)
        e_fd, w_fd = fd_expr or expr, fd_wrt or wrt
        env = random_env(e_fd, sizes, rng, spd=spd)
        fd = fd_derivative(e_fd, w_fd, env, sizes, kind=kind, layout=layout, idx=idx)
        got = evaluate(res, env, sizes, idx)
        assert got.shape == fd.shape, (got.shape, fd.shape)
        np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-6)


def numeric_differs(expr, wrt, wrong, *, layout="mixed"):
    rng = np.random.default_rng(5)
    env = random_env(expr, SIZES, rng)
    fd = fd_derivative(expr, wrt, env, SIZES, layout=layout)
    got = evaluate(wrong, env, SIZES)
    return got.shape != fd.shape or not np.allclose(got, fd, rtol=1e-4, atol=1e-5)


def same(a, b):
    if a == simplify(b):
        return True
    from matcalc.verify.symbolic import equivalent

    return equivalent(a, b)


def derive_ok(expr, wrt, expected, **kw):
    d = differentiate(expr, wrt, **kw)
    assert d.result.shape == ir.derivative_shape(expr.shape, wrt.shape, kw.get("kind", "d"), kw.get("layout", "mixed"))
    numeric_ok(expr, wrt, d.result, kind=kw.get("kind", "d"), layout=kw.get("layout", "mixed"))
    if expected is not None:
        assert same(d.result, expected), (str(d.result), str(expected))
    return d


# ───────────── the expected results ─────────────

def test_least_squares_sum_of_squares_by_W():
    r = Add((mm(W, x), Neg(y)))
    d = derive_ok(Sum(EPower(r, 2)), W, Scale(Num(2), mm(r, T(x))))
    assert d.result == Scale(Num(2), mm(r, T(x)))
    assert numeric_differs(Sum(EPower(r, 2)), W, mm(r, T(x)))  # the missing 2 is caught


def test_quadratic_form():
    e = mm(T(xn), A, xn)
    d = derive_ok(e, xn, mm(Add((A, T(A))), xn))
    assert d.result == mm(Add((A, T(A))), xn)
    assert numeric_differs(e, xn, Scale(Num(2), mm(A, xn)))  # 2 A x is wrong for a general A


def test_quadratic_form_symmetric():
    S = V("A", "n", "n", "symmetric")
    e = mm(T(V("x", "n")), S, V("x", "n"))
    d = differentiate(e, V("x", "n"))
    assert d.result == Scale(Num(2), mm(S, V("x", "n")))
    assert any(s.rule == "symmetric-convention" for s in differentiate(e, S).steps)
    rng = np.random.default_rng(1)
    env = random_env(e, SIZES, rng)
    np.testing.assert_allclose(evaluate(d.result, env, SIZES), fd_derivative(e, V("x", "n"), env, SIZES), rtol=1e-6)


def test_layer_jacobian():
    zz = Add((mm(W, x), b))
    d = derive_ok(Apply("sigma", zz), x, mm(Diag(Apply("sigma", zz, 1)), W))
    assert d.result == mm(Diag(Apply("sigma", zz, 1)), W)


def test_trace_AXB():
    X, A2, B = V("X", "n", "m"), V("A", "k", "n"), V("B", "m", "k")
    d = derive_ok(Trace(mm(A2, X, B)), X, mm(T(A2), T(B)))
    assert d.result == mm(T(A2), T(B))


def _two_layer():
    W1, b1, W2, b2 = V("W1", "h", "m"), V("b1", "h"), V("W2", "n", "h"), V("b2", "n")
    z1 = Add((mm(W1, x), b1))
    u = Add((mm(W2, Apply("sigma", z1)), b2, Neg(y)))
    return Power(Norm(u), 2), W1, W2, z1, u


def test_two_layer_network_by_W1():
    cost, W1, W2, z1, u = _two_layer()
    want = Scale(Num(2), mm(Hadamard(mm(T(W2), u), Apply("sigma", z1, 1)), T(x)))
    d = derive_ok(cost, W1, want)
    assert d.result == want
    notes = " ".join(s.note for s in d.steps)
    for statement in ("∂‖x‖²/∂x = 2 xᵀ", "∂(A B)/∂B: dY = A dB", "∂σ(x)/∂x = diag(σ'(x))", "Jacobian chain rule"):
        assert statement in notes
    assert len(d.steps) < 10


def test_vec_jacobian_Wx_by_W():
    d = derive_ok(mm(W, x), W, Kron(T(x), Identity("n")))
    assert d.result == Kron(T(x), Identity("n"))


def test_logsumexp_gradient_is_softmax():
    d = derive_ok(LogSumExp(z), z, Softmax(z))
    assert d.result == Softmax(z)


def test_declared_cost_of_declared_activation():
    e = CallVec("C", Apply("sigma", z, 0, True))
    want = Hadamard(CallVec("C", Apply("sigma", z, 0, True), 1), Apply("sigma", z, 1, True))
    d = derive_ok(e, z, want)
    assert d.result == want


# ───────────── Parr & Howard, THEOREMS.md A3 (element-wise binary operators), both operands ─────────────

A3 = [
    ("w+x", lambda: Add((w, xn)), "w", lambda: Identity("n")),
    ("w+x", lambda: Add((w, xn)), "x", lambda: Identity("n")),
    ("w-x", lambda: Add((w, Neg(xn))), "w", lambda: Identity("n")),
    ("w-x", lambda: Add((w, Neg(xn))), "x", lambda: Neg(Identity("n"))),
    ("w.x", lambda: Hadamard(w, xn), "w", lambda: Diag(xn)),
    ("w.x", lambda: Hadamard(w, xn), "x", lambda: Diag(w)),
    ("w/x", lambda: HadDiv(w, xn), "w", lambda: Diag(EPower(xn, -1))),
    ("w/x", lambda: HadDiv(w, xn), "x", lambda: Diag(Neg(HadDiv(w, EPower(xn, 2))))),
    ("max", lambda: MaxMin("max", w, xn), "w", lambda: Diag(Apply("step", Add((w, Neg(xn)))))),
    ("max", lambda: MaxMin("max", w, xn), "x", lambda: Diag(Apply("step", Add((xn, Neg(w)))))),
]


@pytest.mark.parametrize("name,expr,by,want", A3, ids=[f"{a[0]}-d{a[2]}" for a in A3])
def test_parr_howard_elementwise_binary(name, expr, by, want):
    wrt = {"w": w, "x": xn}[by]
    derive_ok(expr(), wrt, want())


def test_parr_howard_elementwise_wrong_variants_fail():
    assert numeric_differs(Hadamard(w, xn), w, Diag(w))  # diag of the wrong operand
    assert numeric_differs(Add((w, Neg(xn))), xn, Identity("n"))  # sign


# ───────────── A4 scalar expansion ─────────────

A4 = [
    ("x+z by x", lambda: Add((xn, Broadcast(c_, ("n", 1)))), xn, lambda: Identity("n")),
    ("x+z by z", lambda: Add((xn, Broadcast(c_, ("n", 1)))), c_, lambda: Ones(("n", 1))),
    ("x z by x", lambda: Scale(c_, xn), xn, lambda: Scale(c_, Identity("n"))),
    ("x z by z", lambda: Scale(c_, xn), c_, lambda: xn),
    ("x-z by z", lambda: Add((xn, Neg(Broadcast(c_, ("n", 1))))), c_, lambda: Neg(Ones(("n", 1)))),
    ("x/z by x", lambda: ir.Div(xn, c_), xn, lambda: ir.Div(Identity("n"), c_)),
    ("x/z by z", lambda: ir.Div(xn, c_), c_, lambda: Neg(ir.Div(xn, Power(c_, 2)))),
]


@pytest.mark.parametrize("name,expr,wrt,want", A4, ids=[a[0] for a in A4])
def test_parr_howard_scalar_expansion(name, expr, wrt, want):
    derive_ok(expr(), wrt, want())


# ───────────── A5 vector sum reduction ─────────────

A5 = [
    ("sum(x)", lambda: Sum(xn), xn, lambda: Ones(("n", 1))),
    ("sum(x z) by x", lambda: Sum(Scale(c_, xn)), xn, lambda: Scale(c_, Ones(("n", 1)))),
    ("sum(x z) by z", lambda: Sum(Scale(c_, xn)), c_, lambda: Sum(xn)),
    ("w.x by w", lambda: mm(T(w), xn), w, lambda: xn),
    ("w.x by x", lambda: mm(T(w), xn), xn, lambda: w),
    ("sum(w.*x) by w", lambda: Sum(Hadamard(w, xn)), w, lambda: xn),
]


@pytest.mark.parametrize("name,expr,wrt,want", A5, ids=[a[0] for a in A5])
def test_parr_howard_sum_reduction(name, expr, wrt, want):
    derive_ok(expr(), wrt, want())


def test_sum_reduction_numerator_is_row():
    d = derive_ok(Sum(xn), xn, T(Ones(("n", 1))), layout="numerator")
    assert d.result.shape == (1, "n")


# ───────────── layouts: the same derivative in all three ─────────────

@pytest.mark.parametrize("layout", ["mixed", "numerator", "denominator"])
def test_layouts_scalar_by_matrix(layout):
    r = Add((mm(W, x), Neg(y)))
    e = Power(Norm(r), 2)
    g = Scale(Num(2), mm(r, T(x)))
    d = derive_ok(e, W, T(g) if layout == "numerator" else g, layout=layout)
    assert d.result.shape == (("m", "n") if layout == "numerator" else ("n", "m"))


@pytest.mark.parametrize("layout", ["mixed", "numerator", "denominator"])
def test_layouts_vector_by_vector(layout):
    zz = Add((mm(W, x), b))
    J = mm(Diag(Apply("sigma", zz, 1)), W)
    d = derive_ok(Apply("sigma", zz), x, T(J) if layout == "denominator" else J, layout=layout)
    assert d.result.shape == (("m", "n") if layout == "denominator" else ("n", "m"))


@pytest.mark.parametrize("layout", ["mixed", "numerator", "denominator"])
def test_layouts_scalar_by_vector(layout):
    e = mm(T(w), xn)
    d = derive_ok(e, xn, T(w) if layout == "numerator" else w, layout=layout)
    assert d.result.shape == ((1, "n") if layout == "numerator" else ("n", 1))


@pytest.mark.parametrize("layout", ["mixed", "numerator", "denominator"])
def test_layouts_vector_by_scalar(layout):
    e = Scale(c_, xn)
    d = derive_ok(e, c_, T(xn) if layout == "denominator" else xn, layout=layout)


def test_kinds_grad_and_jacobian():
    r = Add((mm(W, x), Neg(y)))
    e = Power(Norm(r), 2)
    g = differentiate(e, W, kind="grad", layout="numerator")
    assert g.result.shape == W.shape
    numeric_ok(e, W, g.result, kind="grad")
    j = differentiate(e, W, kind="jacobian")
    assert j.result.shape == (1, "m*n")
    numeric_ok(e, W, j.result, kind="jacobian")
    jw = differentiate(Apply("tanh", mm(W, x)), W, kind="jacobian")
    numeric_ok(Apply("tanh", mm(W, x)), W, jw.result, kind="jacobian")


# ───────────── more rules end to end ─────────────

X = V("X", "n", "n")
MORE = [
    ("inverse", lambda: mm(T(w), ir.Inverse(X), xn), X, True),
    ("det", lambda: ir.Det(X), X, True),
    ("logdet", lambda: ir.LogDet(X), X, True),
    ("power-matrix", lambda: mm(T(w), Power(X, 3), xn), X, False),
    ("power-matrix-neg", lambda: mm(T(w), Power(X, -2), xn), X, True),
    ("softmax-jacobian", lambda: Softmax(z), z, False),
    ("softmax-in-cost", lambda: mm(T(w), Apply("log", Softmax(z))), z, False),
    ("norm", lambda: Norm(Add((mm(W, x), Neg(y)))), x, False),
    ("diag", lambda: mm(T(w), Diag(z), xn), z, False),
    ("diag-jacobian", lambda: mm(Diag(z), xn), z, False),
    ("vec", lambda: mm(T(V("c", "m*n")), ir.Vec(W)), W, False),
    ("kron", lambda: Kron(w, x), w, False),
    ("kron-right", lambda: mm(T(V("c", "m*n")), Kron(w, x)), x, False),
    ("entrywise-chain", lambda: Sum(Apply("exp", Apply("sin", Hadamard(w, xn)))), xn, False),
    ("tanh-softplus", lambda: Sum(Hadamard(Apply("tanh", xn), Apply("softplus", w))), xn, False),
    ("sqrt-log", lambda: Sum(Apply("sqrt", Apply("exp", xn))), xn, False),
    ("cos", lambda: Apply("cos", Scale(c_, xn)), c_, False),
    ("abs", lambda: Sum(Apply("abs", xn)), xn, False),
    ("relu", lambda: Sum(Apply("relu", Hadamard(w, xn))), w, False),
    ("min-scalar", lambda: Sum(MaxMin("min", Broadcast(Num(0), ("n", 1)), xn)), xn, False),
    ("epower", lambda: Sum(EPower(Add((xn, w)), 3)), xn, False),
    ("power-scalar", lambda: Power(mm(T(xn), xn), Num(3).value), xn, False),
    ("sqrt-scalar", lambda: Power(mm(T(xn), xn), ir.Num(1).value / 2), xn, False),
    ("div-scalar", lambda: ir.Div(w, mm(T(xn), xn)), xn, False),
    ("matrix-by-matrix", lambda: Hadamard(mm(W, x), Apply("sin", mm(W, V("v", "m")))), W, False),
    ("transpose-in-scalar", lambda: Trace(mm(T(W), W)), W, False),
    ("sigma-second", lambda: Sum(Apply("sigma", xn, 1)), xn, False),
    ("declared-second", lambda: Sum(Apply("f", xn, 1, True)), xn, False),
    ("shared", lambda: Add((Power(Norm(Add((mm(W, x), Neg(y)))), 2), Sum(Add((mm(W, x), Neg(y)))))), W, False),
]


@pytest.mark.parametrize("name,expr,wrt,spd", MORE, ids=[m[0] for m in MORE])
def test_more_rules_numerically(name, expr, wrt, spd):
    e = expr()
    for layout in ("mixed", "numerator", "denominator"):
        d = differentiate(e, wrt, layout=layout)
        assert d.result.shape == ir.derivative_shape(e.shape, wrt.shape, "d", layout)
        numeric_ok(e, wrt, d.result, layout=layout, spd=spd)


# ───────────── let names, entries, nested derivatives, errors ─────────────

def test_by_let_name_holds_other_paths_fixed():
    zz = Named("z", Add((mm(W, x), b)))
    e = Add((CallVec("C", Apply("sigma", zz, 0, True)), mm(T(x), x)))  # x appears outside z too
    d = differentiate(e, zz)
    want = Hadamard(CallVec("C", Apply("sigma", zz, 0, True), 1), Apply("sigma", zz, 1, True))
    assert d.result == want
    zv = V("z", "n")

    def unname(t):  # the let name as a free variable, for the finite differences
        if isinstance(t, Named):
            return zv
        kids = ir.children(t)
        return ir.rebuild(t, [unname(k) for k in kids]) if kids else t

    rng = np.random.default_rng(0)
    fd_e = unname(e)
    env = random_env(fd_e, SIZES, rng)
    np.testing.assert_allclose(evaluate(unname(d.result), env, SIZES), fd_derivative(fd_e, zv, env, SIZES),
                               rtol=1e-6)
    full = differentiate(e, x)  # by x, both paths count
    numeric_ok(e, x, full.result)


def test_by_entry_of_matrix_bp4():
    a = V("a", "m")
    zz = Add((mm(W, a), b))
    e = CallVec("C", zz)
    j, k = Index("j", "n"), Index("k", "m")
    d = differentiate(e, Entry(W, (j, k)))
    assert d.result.shape == (1, 1)
    want = Scale(Entry(CallVec("C", zz, 1), (j,)), Entry(a, (k,)))
    assert d.result == want, str(d.result)
    rng = np.random.default_rng(3)
    env = random_env(e, SIZES, rng)
    G = fd_derivative(e, W, env, SIZES)
    for jj in range(1, 4):
        for kk in range(1, 3):
            got = evaluate(d.result, env, SIZES, {"j": jj, "k": kk})
            assert abs(got[0, 0] - G[jj - 1, kk - 1]) < 1e-6


def test_by_entry_index_sum_and_delta():
    j, q, kk = Index("j", "n"), Index("q", "m"), Index("k", "m")
    e = IndexSum(kk, MatMul((Entry(W, (j, kk)), Entry(x, (kk,)))))
    d = differentiate(e, Entry(x, (q,)))
    assert d.result == Entry(W, (j, q)), str(d.result)
    i = Index("i", "n")
    d2 = differentiate(Entry(xn, (i,)), Entry(xn, (j,)))
    assert d2.result == Delta(i, j)
    d3 = differentiate(Entry(xn, (i,)), Entry(xn, (i,)))
    assert d3.result == Num(1)


def test_index_to_matrix_form():
    j, kk = Index("j", "n"), Index("k", "m")
    s = simplify(IndexSum(kk, Scale(Entry(W, (j, kk)), Entry(x, (kk,)))))
    assert s == Entry(mm(W, x), (j,))


def test_expand_derivatives_inner_first():
    e = Add((Derivative(mm(T(xn), A, xn), xn), mm(A, xn)))
    out = expand_derivatives(e)
    assert not any(isinstance(n, Derivative) for n in ir.walk(out))
    rng = np.random.default_rng(0)
    env = random_env(out, SIZES, rng)
    want = (env["A"] + env["A"].T) @ env["x"] + env["A"] @ env["x"]
    np.testing.assert_allclose(evaluate(out, env, SIZES), want)
    d = differentiate(Derivative(Sum(EPower(xn, 3)), xn, "grad"), xn)  # the Hessian of Σ x³ is diag(6 x)
    env = random_env(xn, SIZES, rng)
    np.testing.assert_allclose(evaluate(d.result, env, SIZES), np.diag(6 * env["x"][:, 0]))


def test_constant_is_zero_and_missing_rule_is_loud():
    d = differentiate(Sum(y), x)
    assert isinstance(d.result, ir.Zeros)
    # the Jacobian of a matrix transpose (K) and of a declared gradient (C'') are rules since issue 13 (see
    # tests/test_second_order.py); a third derivative of a declared function is not
    with pytest.raises(UnsupportedDerivative, match="third order"):
        differentiate(Sum(CallVec("C", xn, 2)), xn)
    with pytest.raises(UnsupportedDerivative, match="entry"):
        differentiate(Entry(W, (1, 1)), W)


def test_mlp_cost_is_linear_in_depth():
    sizes = []
    for L in (4, 8, 16):
        a = x
        Ws = []
        for l in range(L):
            Wl, bl = V(f"W{l}", "m", "m"), V(f"b{l}", "m")
            Ws.append(Wl)
            a = Apply("sigma", Add((mm(Wl, a), bl)))
        cost = Power(Norm(Add((a, Neg(V("t", "m"))))), 2)
        res = [differentiate(cost, Wl).result for Wl in Ws[:1]]
        sizes.append(node_count(*res))
    assert sizes[2] - sizes[1] <= 2.5 * (sizes[1] - sizes[0]) + 10


def test_differentiate_many_shares_and_repeats():
    from matcalc.engine import differentiate_many

    r = Add((mm(W, x), Neg(y)))
    e = Power(Norm(r), 2)
    ds = differentiate_many(e, [W, x, W, y])
    assert ds[0].result == ds[2].result == differentiate(e, W).result
    for d, v in zip(ds, [W, x, W, y]):
        numeric_ok(e, v, d.result)


# ───────────── through the parser (matcalc.lang.read_expr): the table, both directions ─────────────

PARSED = [
    # (expression, wrt, declarations, expected, a wrong variant)
    ("sum((W x - y).^2)", "W", "W: n x m, x: m, y: n", "2 (W x - y) x^T", "2 x (W x - y)^T"),
    ("x^T A x", "x", "A: n x n, x: n", "(A + A^T) x", "2 A x"),
    ("x^T A x", "x", "A: n x n symmetric, x: n", "2 A x", "A x"),
    ("sigma(W x + b)", "x", "W: n x m, x: m, b: n", "diag(sigma'(W x + b)) W", "W diag(sigma'(x))"),
    ("tr(A X B)", "X", "A: k x n, X: n x m, B: m x k", "A^T B^T", "B A"),
    ("‖W2 sigma(W1 x + b1) + b2 - y‖^2", "W1", "W1: h x m, W2: n x h, x: m, b1: h, b2: n, y: n",
     "2 ((W2^T (W2 sigma(W1 x + b1) + b2 - y)) ⊙ sigma'(W1 x + b1)) x^T",
     "2 ((W2^T (W2 sigma(W1 x + b1) + b2 - y)) ⊙ sigma(W1 x + b1)) x^T"),
    ("W x", "W", "W: n x m, x: m", "kron(x^T, eye(n))", "kron(eye(n), x^T)"),
    ("logsumexp(z)", "z", "z: n", "softmax(z)", "exp(z)"),
    ("C(s(z))", "z", "C: R^n -> R, s: R -> R, z: n", "C'(s(z)) ⊙ s'(z)", "C'(s(z))"),
    ("-y^T log(softmax(z))", "z", "y: n probability, z: n", "softmax(z) - y", "y - softmax(z)"),
    ("-y^T log(softmax(z))", "z", "y: n, z: n", "softmax(z) sum(y) - y", "softmax(z) - y"),
]


@pytest.mark.parametrize("text,wrt,given,want,wrong", PARSED, ids=[p[0] + " by " + p[1] for p in PARSED])
def test_parsed_expected_results(text, wrt, given, want, wrong):
    from matcalc.lang import read_expr
    from matcalc.verify.symbolic import equivalent

    e, env = read_expr(text, given=given)
    v = env.vars[wrt]
    d = differentiate(e, v)
    w_expr, _ = read_expr(want, given=given)
    bad, _ = read_expr(wrong, given=given)
    assert equivalent(d.result, w_expr), (str(d.result), want)
    assert not equivalent(d.result, bad)
    numeric_ok(e, v, d.result, spd=False)
    if bad.shape == d.result.shape:
        assert numeric_differs(e, v, bad) or "probability" in given


@pytest.mark.parametrize("layout", ["mixed", "numerator", "denominator"])
def test_matrix_by_scalar(layout):
    M = V("M", "n", "m")
    e = Add((Scale(c_, M), Scale(Power(c_, 2), W)))  # dY/dc = M + 2 c W, shaped like Y
    d = differentiate(e, c_, layout=layout)
    assert d.result.shape == ir.derivative_shape(e.shape, c_.shape, "d", layout)
    numeric_ok(e, c_, d.result, layout=layout)
    assert differentiate(Scale(c_, M), c_).result == M


# ───────────── the derivation trace reads like the lecture ─────────────

def _derive_text(text, wrt, given, layout="mixed"):
    from matcalc.api import derive_text

    return derive_text(text, wrt=wrt, given=given, layout=layout).items[0].derivation


def _shown(d):
    from matcalc.render.steps import display_steps, equation_text

    return [equation_text(s).strip() for s in display_steps(d.steps)]


def test_trace_least_squares_like_the_lecture():
    d = _derive_text("sum((W x - y).^2)", "W", "W: n x m, x: m, y: n")
    shown = _shown(d)
    assert shown == ["f = sum(u.^2),  u = W x - y", "∂f/∂u = 2 uᵀ", "∇_W f = 2 u xᵀ", "= 2 (W x - y) xᵀ"], shown
    assert len(shown) <= 6 and to_text(d.result) == "2 (W x - y) xᵀ"
    assert not any("⊗" in line for line in shown)  # no Kronecker products on the way
    assert "dW x" in d.steps[-2].note  # the linear inner map, as its differential


def test_trace_softmax_cross_entropy_at_most_8_steps():
    d = _derive_text("-y^T log(softmax(z))", "z", "y: n probability, z: n")
    shown = _shown(d)
    assert len(shown) <= 8, shown
    assert shown[0] == "f = -yᵀ log(p),  p = softmax(z)"
    assert shown[2] == "∂p/∂z = diag(p) - p pᵀ"
    assert to_text(d.result) == "softmax(z) - y"
    # the step that uses Σ y = 1 cites that rule (it used to cite "xᵀ y is a scalar")
    assert any("probability vector" in s.note for s in d.steps)


_SOFTMAX_BY_Z = ["f = -yᵀ log(p),  p = softmax(z)", "∂f/∂p = -(y ⊙ p.^-1)ᵀ", "∂p/∂z = diag(p) - p pᵀ",
                  "∂f/∂z = -(y ⊙ p.^-1)ᵀ (diag(p) - p pᵀ)", "∇_z f = p - y", "= softmax(z) - y"]


def test_trace_softmax_cross_entropy_by_z_unchanged():
    assert _shown(_derive_text("-y^T log(softmax(z))", "z", "y: n probability, z: n")) == _SOFTMAX_BY_Z


def _assert_true_as_written(name, d):
    """Every equation the trace states is equal (numeric method; exact where SymPy can say), and each one with its
    right side doubled is refuted (so the check can fail)."""
    from matcalc.verify.judge import run_exact, run_numeric

    claims = _claims(d)
    assert claims, name
    for (lhs, rhs), s in claims:
        ok, _cx = run_numeric(lhs, rhs, (), 20.0, 0)
        assert ok.status == "equal", f"{name}: step {s.rule} {to_text(rhs)}: {ok.detail}"
        ex, _ = run_exact(lhs, rhs, (), 10.0, 0)
        assert ex.status in ("equal", "unknown"), f"{name}: {to_text(rhs)}: {ex.detail}"
        wrong = Scale(Num(2), rhs) if not isinstance(rhs, Num) or rhs.value != 0 else Num(1)
        bad, _cx = run_numeric(lhs, wrong, (), 5.0, 0)
        assert bad.status == "different", f"{name}: doubling {to_text(rhs)} was not refuted"


def test_trace_softmax_cross_entropy_by_W_through_z():
    """Softmax regression by W reads like the book: the chain through z = W x, ∇_z f = p − y as by z, then
    ∇_W f = (∇_z f) xᵀ — no ∇_(expression) subscripts, every row true as written."""
    d = _derive_text("-y^T log(softmax(W x))", "W", "W: k x d, x: d, y: k probability")
    shown = _shown(d)
    assert shown == ["f = -yᵀ log(p),  p = softmax(z),  z = W x", "∂f/∂p = -(y ⊙ p.^-1)ᵀ",
                     "∂p/∂z = diag(p) - p pᵀ", "∇_z f = p - y", "∇_W f = (p - y) xᵀ", "= (softmax(W x) - y) xᵀ"], shown
    assert len(shown) <= 6 and to_text(d.result) == "(softmax(W x) - y) xᵀ"
    notes = [s.note for s in d.steps]
    assert "∂softmax(z)/∂z = diag(p) − p pᵀ" in notes[2]
    assert "probability vector" in notes[3] and "chain rule" in notes[3]
    assert "dz = dW x" in notes[4] and "(∇_z f) xᵀ" in notes[4]
    _assert_true_as_written("softmax by W", d)


def test_trace_softmax_cross_entropy_with_bias_by_W_and_b():
    from matcalc.api import derive_text

    items = derive_text("-y^T log(softmax(W x + b))", wrt="W,b", given="W: k x d, x: d, b: k, y: k probability",
                        layout="mixed").items
    byW, byb = (it.derivation for it in items)
    assert _shown(byW) == ["f = -yᵀ log(p),  p = softmax(z),  z = W x + b", "∂f/∂p = -(y ⊙ p.^-1)ᵀ",
                           "∂p/∂z = diag(p) - p pᵀ", "∇_z f = p - y", "∇_W f = (p - y) xᵀ",
                           "= (softmax(W x + b) - y) xᵀ"], _shown(byW)
    assert to_text(byW.result) == "(softmax(W x + b) - y) xᵀ"
    shown = _shown(byb)
    assert shown[0] == "f = -yᵀ log(p),  p = softmax(z),  z = W x + b" and shown[-2:] == [
        "∇_b f = p - y", "= softmax(W x + b) - y"], shown
    assert not any("∇_(" in line or "∂(" in line.split(" = ")[0] for line in _shown(byW) + shown)
    assert to_text(byb.result) == "softmax(W x + b) - y"
    _assert_true_as_written("softmax + b by W", byW)
    _assert_true_as_written("softmax + b by b", byb)


def test_trace_through_z_is_general_not_softmax_only():
    """The same presentation for another activation: logistic cross-entropy by W through z = W x + b."""
    d = _derive_text("-(y^T log(sigma(W x + b)) + (1 - y)^T log(1 - sigma(W x + b)))", "W", "W: k x d, x: d, b: k, y: k")
    shown = _shown(d)
    assert shown[0].endswith("a = σ(z),  z = W x + b") and shown[3:] == [
        "∇_z f = a - y", "∇_W f = (a - y) xᵀ", "= (σ(W x + b) - y) xᵀ"], shown
    _assert_true_as_written("logistic by W", d)


def test_trace_binary_cross_entropy_is_a_chain():
    d = _derive_text("-(y^T log(sigma(X w)) + (1 - y)^T log(1 - sigma(X w)))", "w", "X: N x d, w: d, y: N")
    shown = _shown(d)
    assert shown[0] == "f = -(yᵀ log(a) + (ones(N) - y)ᵀ log(ones(N) - a)),  a = σ(z),  z = X w" or \
        shown[0].startswith("f = -(yᵀ log(a)"), shown[0]
    assert [ln.split(" = ")[0] for ln in shown[1:5]] == ["∂f/∂a", "∂a/∂z", "∂z/∂w", "∂f/∂w"]
    assert len(shown) <= 8, shown


def test_trace_bp2_like_nielsen():
    Wm, bm, zz = V("W", "m", "n"), V("b", "m"), V("z", "n")
    a = Named("a", Apply("sigma", zz, 0, True))
    z2 = Named("z2", Add((mm(Wm, a), bm)))
    d = differentiate(CallVec("C", z2), zz)
    shown = _shown(d)
    assert shown[:5] == ["f = C(z2),  z2 = W a + b,  a = sigma(z)", "∂f/∂z2 = C'(z2)ᵀ", "∂z2/∂a = W",
                         "∂a/∂z = diag(sigma'(z))", "∂f/∂z = C'(z2)ᵀ W diag(sigma'(z))"], shown
    assert len(shown) == 6 and shown[5].startswith("∇_z f = ")
    assert "vᵀ diag(u) = (v ⊙ u)ᵀ" in d.steps[-1].note and "(A B)ᵀ = Bᵀ Aᵀ" in d.steps[-1].note
    assert d.result == Hadamard(mm(T(Wm), CallVec("C", z2, 1)), Apply("sigma", zz, 1, True))


def test_trace_repeated_variable_by_occurrences():
    d = _derive_text("x^T A x", "x", "A: n x n, x: n")
    shown = _shown(d)
    assert shown == ["f = xᵀ A x", "through the first x: A x", "through the second x: Aᵀ x",
                     "∇_x f = A x + Aᵀ x", "= (A + Aᵀ) x"], shown
    assert "one occurrence at a time" in d.steps[0].note  # explained once, where it first appears
    # ridge: a sum whose terms share w is differentiated term by term (the sum rule, review 5 #14), each row the
    # whole derivative of its term; ∇_w f names one row only, the sum
    d = _derive_text("sum((X w - y).^2) + lambda w^T w", "w", "X: N x d, w: d, y: N, lambda: scalar")
    shown = _shown(d)
    assert shown == ["f = sum((X w - y).^2) + lambda wᵀ w", "∇_w (sum((X w - y).^2)) = 2 Xᵀ (X w - y)",
                     "∇_w (lambda wᵀ w) = 2 lambda w", "∇_w f = 2 Xᵀ (X w - y) + 2 lambda w",
                     "= 2 (Xᵀ (X w - y) + lambda w)"], shown
    assert "sum rule" in d.steps[0].note and "product rule" not in d.steps[0].note
    assert sum(line.startswith("∇_w f") for line in shown) == 1, shown
    # a term with w twice is one term: xᵀ A x + bᵀ x + c, the constant term named as such
    d = _derive_text("x^T A x + b^T x + c", "x", "A: n x n, x: n, b: n, c: scalar")
    assert _shown(d) == ["f = xᵀ A x + bᵀ x + c", "∇_x (xᵀ A x) = (A + Aᵀ) x", "∇_x (bᵀ x) = b",
                         "∇_x f = (A + Aᵀ) x + b"], _shown(d)
    assert "the term without x has derivative 0" in d.steps[0].note
    # by a matrix through a scalar: ∂f/∂u times the gradient of u, the matrix Xᵀ X inside the link not named
    d = _derive_text("log(det(X^T X))", "X", "X: N x d")
    assert _shown(d) == ["f = log(u),  u = det(Xᵀ X)", "∂f/∂u = u^-1", "∇_X f = u^-1 (2 u X (Xᵀ X)⁻¹)",
                         "= 2 X (Xᵀ X)⁻¹"], _shown(d)
    # a matrix variable too: tr(Xᵀ A X) one occurrence at a time, as the book does
    d = _derive_text("tr(X^T A X)", "X", "X: n x m, A: n x n")
    assert _shown(d) == ["f = tr(Xᵀ A X)", "through the first X: A X", "through the second X: Aᵀ X",
                         "∇_X f = A X + Aᵀ X", "= (A + Aᵀ) X"], _shown(d)


def _traces():
    """(name, derivation, the declarations) of the named traces and of every derivative prove takes."""
    from matcalc.api import _engine_derivations
    from matcalc.lang import read_document
    from matcalc.proofs import list_theorems, load

    out = []
    for text, wrt, given in [("sum((W x - y).^2)", "W", "W: n x m, x: m, y: n"),
                             ("-y^T log(softmax(z))", "z", "y: n probability, z: n"),
                             ("-(y^T log(sigma(X w)) + (1 - y)^T log(1 - sigma(X w)))", "w", "X: N x d, w: d, y: N"),
                             ("x^T A x", "x", "A: n x n, x: n"),
                             ("sum((X w - y).^2) + lambda w^T w", "w", "X: N x d, w: d, y: N, lambda: scalar"),
                             ("‖W2 sigma(W1 x) - y‖^2", "W1", "W1: m x n, W2: k x m, x: n, y: k"),
                             ("log(sum(exp(W x)))", "W", "W: n x m, x: m"),
                             ("tr(X^T A X)", "X", "X: n x m, A: n x n"), ("tr(X B X)", "X", "X: n x n, B: n x n"),
                             ("log(det(X^T X))", "X", "X: N x d"), ("det(X)^2", "X", "X: n x n")]:
        out.append((text, _derive_text(text, wrt, given)))
    for info in list_theorems():
        _i, text = load(info.name)
        for _line, node, d in _engine_derivations(read_document(text)):
            out.append((f"{info.name}: {to_text(node)}", d))
    return out


def test_no_step_changes_nothing_and_no_tautology():
    from matcalc.render.steps import display_steps, equation_text

    for name, d in _traces():
        shown = display_steps(d.steps)
        for prev, s in zip(shown, shown[1:]):
            if s.label[:1] not in (("through",), ("defs",)):  # contributions may agree; definitions are no step
                assert s.after != prev.after, f"{name}: a step that changes nothing: {equation_text(s)}"
                # nor one that only looks different to the engine: the reader sees the same line twice
                assert equation_text(s) != equation_text(prev), f"{name}: the same line twice: {equation_text(s)}"
                if equation_text(s).lstrip().startswith("= "):
                    assert to_text(s.after) != to_text(prev.after), f"{name}: says nothing: {equation_text(s)}"
        for s in shown:
            left, _, right = equation_text(s).partition(" = ")
            assert left.strip() != right.strip(), f"{name}: a tautology: {equation_text(s)}"
            assert not (s.before is not None and s.before == s.after), f"{name}: {equation_text(s)}"


def test_display_drops_only_rows_the_reader_cannot_tell_apart():
    """A rewrite whose two sides print the same ((A B) C and A B C) is no row; one that prints differently is; the
    composer's last chain-rule row restating the row before it is dropped, a different equation kept."""
    from matcalc.engine.compose import Step
    from matcalc.render.steps import display_steps, equation_text

    B, C = V("B", "n", "n"), V("C", "n", "n")
    nested, flat = mm(mm(A, B), C), mm(A, B, C)
    assert to_text(nested) == to_text(flat) and nested != flat
    head = ir.Derivative(mm(T(xn), A, xn), xn, "grad")
    steps = [Step("x", head, nested, "a rule"), Step("simplify", nested, flat, "(A B) C = A B C")]
    assert [equation_text(s) for s in display_steps(steps)] == [equation_text(steps[0])]
    squared = mm(A, A, C)
    steps = [Step("x", head, mm(mm(A, A), C), "a rule"), Step("simplify", mm(mm(A, A), C), squared, "A A")]
    assert len(display_steps(steps)) == 1  # (A A) C → A A C prints the same: dropped; a visible rewrite is kept
    steps.append(Step("simplify", squared, ir.MatMul((ir.Power(A, 2), C)), "A A = A^2"))
    shown = [equation_text(s).strip() for s in display_steps(steps)]
    assert len(shown) == 2 and shown[-1] == "= A^2 C", shown
    again = ir.Derivative(mm(T(xn), A, xn), xn, "grad")
    steps = [Step("x", head, nested, "a rule"), Step("chain-rule", again, flat, "chain rule")]
    assert len(display_steps(steps)) == 1
    other = ir.Derivative(mm(T(xn), xn), xn, "grad")  # a different left side: a different equation, kept
    steps = [Step("x", head, nested, "a rule"), Step("chain-rule", other, flat, "chain rule")]
    assert len(display_steps(steps)) == 2


def test_composer_rows_by_a_variable_are_the_whole_derivative():
    """In the composer's trace, a row written ``∇_x f = …`` (or ``∇_xᵀ f``) is the whole derivative; a contribution
    through one use is labelled as a part, and one through a node whose variable is also used elsewhere (xᵀ in
    xᵀ A x) as such. Each labelled-as-whole row by a variable is checked numerically, and refuted when doubled."""
    from matcalc.lang import read_expr
    from matcalc.render.steps import display_steps, equation_text
    from matcalc.verify.judge import run_numeric

    e, env = read_expr("x^T A x", given="A: n x n, x: n")
    d = differentiate(e, env.vars["x"], lecture=False)
    shown = [equation_text(s) for s in display_steps(d.steps)]
    assert shown[:2] == ["∇_xᵀ (xᵀ A x), the other uses held fixed: (A x)ᵀ",
                         "one use's part of ∇_x (xᵀ A x): (xᵀ A)ᵀ"], shown
    assert "∇_x (xᵀ A x) = A x" not in shown and "∇_x (xᵀ A x) = A x + Aᵀ x" in shown
    checked = 0
    for text, wrt, given in [("x^T A x", "x", "A: n x n, x: n"), ("log(det(X^T X))", "X", "X: n x m"),
                             ("tr(X B X)", "X", "X: n x n, B: n x n"), ("sum((X X).^2)", "X", "X: n x n"),
                             ("sum(exp(W x) .* (W x))", "W", "W: n x m, x: m")]:
        e, env = read_expr(text, given=given)
        v = env.vars[wrt]
        whole = []
        for s in display_steps(differentiate(e, v, lecture=False).steps):
            b = s.before
            if isinstance(b, ir.Derivative) and not s.label and b.expr == e and b.wrt in (v, ir.Transpose(v)):
                whole.append(s)
        assert whole, text
        for s in whole:
            lhs = s.before if isinstance(s.before.wrt, ir.Var) else ir.Transpose(ir.Derivative(e, v, "grad"))
            ok, _ = run_numeric(lhs, s.after, (), 20.0, 0)
            assert ok.status == "equal", (text, equation_text(s), ok.detail)
            bad, _ = run_numeric(lhs, Scale(Num(2), s.after), (), 20.0, 0)
            assert bad.status == "different", (text, equation_text(s))
            checked += 1
    assert checked >= 5
    # a node that holds every use of the variable is a whole derivative (∇ by Xᵀ X in log det(Xᵀ X)): no label
    e, env = read_expr("log(det(X^T X))", given="X: n x m")
    rows = display_steps(differentiate(e, env.vars["X"], lecture=False).steps)
    assert any(isinstance(s.before, ir.Derivative) and s.before.wrt.__class__ is ir.MatMul and not s.label
               for s in rows)
    assert any(s.label[:1] == ("held",) for s in rows)


def test_composer_rows_name_what_they_are():
    """A negated variable of differentiation is bracketed (∂(-u)/∂u); a number rewritten as the same number (1 / 2,
    then 0.5) is no row; a node used once is not 'one use's part' even where a fused rule (‖u‖²) skips the norm."""
    from matcalc.engine.compose import Step
    from matcalc.lang import read_expr
    from matcalc.render.steps import display_steps, equation_text

    u = V("u", "n")
    neg = ir.Neg(u)
    assert equation_text(Step("negation", ir.Derivative(neg, u, "jacobian"), ir.Neg(ir.Identity("n")))) \
        .startswith("∂(-u)/∂u = ")
    assert equation_text(Step("x", ir.Derivative(mm(T(u), u), u, "jacobian"), T(u))).startswith("∂(uᵀ u)/∂u = ")
    head = ir.Derivative(mm(T(u), u), mm(T(u), u), "grad")
    half = ir.Div(Num(1), Num(2))
    steps = [Step("div", head, half, "a rule"), Step("simplify", half, Num(Fraction(1, 2)), "c x / c = x")]
    assert len(display_steps(steps)) == 1
    steps = [Step("div", head, half, "a rule"), Step("simplify", half, Num(Fraction(1, 3)), "a wrong rewrite")]
    assert len(display_steps(steps)) == 2  # a different number is a row (the test would see a wrong one)
    e, env = read_expr("‖A3 - Y‖^2 / 2 + sum(B)", given="A3: n x m, Y: n x m, B: n x m")
    d = differentiate(e, env.vars["A3"], lecture=False)
    assert not any(s.label[:1] == ("part",) for s in d.steps), [equation_text(s) for s in display_steps(d.steps)]
    e, env = read_expr("‖A3 - Y‖^2 / 2 + sum(A3)", given="A3: n x m, Y: n x m")
    d = differentiate(e, env.vars["A3"], lecture=False)
    assert any(s.label[:1] == ("part",) for s in d.steps)  # A3 used twice: its contributions are parts


def test_a_convention_is_a_note_not_an_equation():
    """By a symmetric variable the trace states the convention in a row of its own with no equation (it used to
    print the bare variable, ``S``, as if it were a step); the LaTeX view writes it as a note."""
    from matcalc.render.rows import DerivationView
    from matcalc.render.steps import display_steps, equation_text

    d = _derive_text("tr(B S)", "S", "B: n x n, S: n x n symmetric")
    shown = display_steps(d.steps)
    assert shown[0].rule == "symmetric-convention" and equation_text(shown[0]) == "(convention)"
    assert all(equation_text(s) != "S" for s in shown)
    view = DerivationView(ir.Derivative(d.expr, d.wrt), d)
    assert any("symmetric" in n for n in view.notes) and not any(r.startswith("&= S ") for r in view.rows)


def test_notes_cite_the_clause_that_fired():
    """A sum's rewrite cites what happened to it: a zero term dropped (0 + A = A), like terms collected, a nested sum
    flattened (which prints the same, so a trace does not cite it); the ridge trace's algebra cites no zero term, and
    a trace that collects like terms cites that."""
    from matcalc.engine.simplify import Simplifier, visible

    def whys(e):
        s = Simplifier(record=True)
        s.go(e)
        return [r[3] for r in s.steps if visible(r[1], r[2])]

    zero = ir.Add((xn, ir.Zeros(xn.shape)))
    assert whys(zero) == ["0 + A = A"]
    like = ir.Add((mm(A, xn), mm(A, xn)))
    assert "0 + A = A" not in whys(like) and any("a A + b A" in w for w in whys(like)), whys(like)
    assert not visible(ir.Add((ir.Add((xn, y)), xn)), ir.Add((xn, y, xn)))
    assert visible(zero, xn)
    d = _derive_text("sum((X w - y).^2) + lambda w^T w", "w", "X: N x d, w: d, y: N, lambda: scalar")
    algebra = [s for s in d.steps if s.rule == "algebra"]
    assert algebra and all("0 + A" not in s.note for s in algebra), [s.note for s in algebra]
    # like terms from the sum rule's rows (2 x + 2 x) are collected, and the step says so
    d = _derive_text("sum(x.^2) + x^T x", "x", "x: n")
    algebra = [s for s in d.steps if s.rule == "algebra"]
    assert [s.note for s in algebra] == ["a A + b A = (a + b) A"]


def _claims(d):
    """The equations a lecture trace states, in IR: ``lhs = rhs`` per step (a continuation: the previous right side)."""
    out, prev = [], None
    for s in d.steps:
        if s.claim is not None:
            out.append((s.claim, s))
        elif isinstance(s.before, ir.Derivative):
            out.append(((s.before, s.after), s))
        elif s.label[:1] == ("same",) or s.rule == "algebra":
            out.append(((prev, s.after), s))
        if s.label[:1] != ("defs",):
            prev = s.after
    return out


def test_every_equation_of_a_lecture_trace_is_true_as_written():
    """Each step's equation (∂f/∂u = 2 uᵀ with u = W x − y a let name, the contributions with their occurrence
    renamed, each continuation) is judged by the exact method, or the numeric one where SymPy cannot state it;
    the same equations with the right side doubled are refuted, so the check can fail."""
    from matcalc.verify.judge import run_exact, run_numeric

    checked = 0
    for name, d in _traces():
        if not any(s.label and s.label[0] not in ("part", "held") for s in d.steps):
            continue  # the composer's trace: its steps are rule applications, checked by tests/test_rules.py
        for (lhs, rhs), s in _claims(d):
            ok, _cx = run_numeric(lhs, rhs, (), 20.0, 0)  # a loaded machine: time enough
            assert ok.status == "equal", f"{name}: step {s.rule} {to_text(rhs)}: {ok.detail}"
            if checked % 5 == 0:
                ex, _ = run_exact(lhs, rhs, (), 10.0, 0)
                assert ex.status in ("equal", "unknown"), f"{name}: {to_text(rhs)}: {ex.detail}"
                wrong = Scale(Num(2), rhs) if not isinstance(rhs, Num) or rhs.value != 0 else Num(1)
                bad, _cx = run_numeric(lhs, wrong, (), 5.0, 0)
                assert bad.status == "different", f"{name}: doubling {to_text(rhs)} was not refuted"
            checked += 1
    assert checked > 100


def test_trace_is_linear_in_size():
    sizes = []
    for L in (4, 8, 16):
        a = x
        for l in range(L):
            a = Apply("tanh", Add((mm(V(f"W{l}", "m", "m"), a), V(f"b{l}", "m"))))
        d = differentiate(Power(Norm(Add((a, Neg(V("t", "m"))))), 2), V("W0", "m", "m"))
        sizes.append(len(d.steps))
    assert sizes[2] - sizes[1] <= 2.2 * (sizes[1] - sizes[0]) + 4


# ───────────── random expressions: every derivative agrees with finite differences ─────────────

import random as _random  # noqa: E402

from matcalc.errors import MatcalcError  # noqa: E402

_Rn, _Rm = ("n", 1), ("m", 1)
_um = V("u", "m")
_POOL = {  # names distinct from one another (x here is the n-vector)
    ("n", 1): [xn, y], ("m", 1): [_um], ("n", "n"): [A, V("B", "n", "n"), V("S", "n", "n", "symmetric")],
    ("n", "m"): [W], (1, 1): [c_, Num(2)], (1, "n"): [T(xn)], ("m", "n"): [T(W)], (1, "m"): [T(_um)],
}


def random_expr(shape, depth, rng):
    """A random well-typed expression of ``shape`` over a few variables (for the randomised tests)."""
    r, c = shape
    leaves = _POOL.get(shape, [])
    if depth <= 0 or (leaves and rng.random() < 0.25):
        return rng.choice(leaves) if leaves else ir.Zeros(shape)
    k = rng.randrange(12)
    sub = lambda s: random_expr(s, depth - 1, rng)  # noqa: E731
    try:
        if k == 0:
            return Add((sub(shape), sub(shape)))
        if k == 1:
            return Neg(sub(shape))
        if k == 2:
            return Scale(sub((1, 1)), sub(shape))
        if k == 3:
            inner = rng.choice(["n", "m", 1])
            return MatMul((sub((r, inner)), sub((inner, c))))
        if k == 4:
            return Hadamard(sub(shape), sub(shape))
        if k == 5:
            return T(sub((c, r)))
        if k == 6:
            return Apply(rng.choice(["tanh", "sin", "exp", "sigma"]), sub(shape))
        if k == 7 and shape == (1, 1):
            return Sum(sub(rng.choice([("n", 1), ("n", "n"), ("n", "m")])))
        if k == 8 and shape == (1, 1):
            return Power(Norm(sub(rng.choice([("n", 1), ("n", "m")]))), 2)
        if k == 9 and shape == (1, 1):
            return Trace(sub(("n", "n")))
        if k == 10 and c == 1 and r != 1:
            return MatMul((Diag(sub((r, 1))), sub((r, 1))))
        if k == 11 and shape == (1, 1):
            return LogSumExp(sub(("n", 1)))
    except MatcalcError:
        pass
    return sub(shape)


@pytest.mark.parametrize("seed", range(4))
def test_random_expressions_against_finite_differences(seed):
    rng = _random.Random(seed)
    checked = 0
    for trial in range(80):
        e = random_expr(rng.choice([(1, 1), (1, 1), ("n", 1)]), 3, rng)
        env = random_env(e, SIZES, np.random.default_rng(trial))
        for v in (xn, A, W, c_):
            if v.name not in env:
                continue
            try:
                d = differentiate(e, v)
            except UnsupportedDerivative:
                continue
            fd = fd_derivative(e, v, env, SIZES)
            got = evaluate(d.result, env, SIZES)
            assert got.shape == fd.shape, (str(e), v.name)
            assert np.allclose(got, fd, rtol=1e-4, atol=1e-5), (str(e), v.name, str(d.result))
            checked += 1
    assert checked > 40

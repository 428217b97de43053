"""Tests of the numeric method (matcalc.verify.numeric): evaluation, finite differences, check_equal's verdicts.

The IR is built directly from the constructors of matcalc.ir. True claims must agree to 1e-10 relative or better;
false ones must come back ``different`` and confirmed. Every claim is tested in both directions.
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from matcalc import ir
from matcalc.shapes import ShapeError
from matcalc.verify import numeric as N
from matcalc.verify.numeric import check as numeric_check
from matcalc.verify.numeric import points as numeric_points
from matcalc.verify.numeric.base import _Reject
from matcalc.verify.numeric.compare import _Cmp, _compare_directional, _compare_full
from matcalc.verify.numeric.evaluator import _Evaluator
from matcalc.verify.numeric.structure import _analyse
from matcalc.verify.numeric.taylor import _slope_verdict, _taylor

# ───────────────────────────── builders ─────────────────────────────

n, m = "n", "m"
x = ir.Var("x", (n, 1))
w = ir.Var("w", (n, 1))
y = ir.Var("y", (n, 1))
b = ir.Var("b", (n, 1))
z = ir.Var("z", (1, 1))
A = ir.Var("A", (n, n))
S = ir.Var("S", (n, n), frozenset({"symmetric"}))
X = ir.Var("X", (n, n))
B = ir.Var("B", (n, n))
W = ir.Var("W", (n, m))
xm = ir.Var("x", (m, 1))
u = ir.Var("u", (n, 1))


def T(e):
    return ir.Transpose(e)


def mm(*a):
    return ir.MatMul(tuple(a))


def add(*a):
    return ir.Add(tuple(a))


def sub(a, c):
    return ir.Add((a, ir.Neg(c)))


def sc(k, e):
    return ir.Scale(k if isinstance(k, ir.Expr) else ir.Num(Fraction(k)), e)


def d(e, wrt, layout="mixed", kind="d"):
    return ir.Derivative(e, wrt, kind, layout)


def ap(fn, e, order=0, declared=False):
    return ir.Apply(fn, e, order, declared)


def diag(e):
    return ir.Diag(e)


def I(k=n):
    return ir.Identity(k)


def sq(e):
    return ir.Power(ir.Norm(e), 2)


def check(lhs, rhs, **kw):
    return N.check_equal(lhs, rhs, **kw)


def assert_equal(lhs, rhs, *, smooth=True, **kw):
    r = check(lhs, rhs, **kw)
    assert r.status == "equal", r.detail
    if smooth:
        assert r.max_rel_error <= 1e-10, r.detail
    return r


def assert_different(lhs, rhs, **kw):
    r = check(lhs, rhs, **kw)
    assert r.status == "different", r.detail
    assert r.confirmed
    assert r.counterexample is not None
    return r


# ───────────────────────────── P&H tables (THEOREMS.md A3–A5) ─────────────────────────────

A3_TRUE = [
    ("w+x by w", d(add(w, x), w, "numerator"), I()),
    ("w+x by x", d(add(w, x), x, "numerator"), I()),
    ("w-x by w", d(sub(w, x), w, "numerator"), I()),
    ("w-x by x", d(sub(w, x), x, "numerator"), ir.Neg(I())),
    ("w⊙x by w", d(ir.Hadamard(w, x), w, "numerator"), diag(x)),
    ("w⊙x by x", d(ir.Hadamard(w, x), x, "numerator"), diag(w)),
    ("w⊘x by w", d(ir.HadDiv(w, x), w, "numerator"), diag(ir.HadDiv(ir.Ones((n, 1)), x))),
    ("w⊘x by x", d(ir.HadDiv(w, x), x, "numerator"), diag(ir.Neg(ir.HadDiv(w, ir.EPower(x, 2))))),
    ("max(w,x) by w", d(ir.MaxMin("max", w, x), w, "numerator"), diag(ap("step", sub(w, x)))),
    ("max(w,x) by x", d(ir.MaxMin("max", w, x), x, "numerator"), diag(ap("step", sub(x, w)))),
]

A3_FALSE = [
    ("w+x by w = 2I", d(add(w, x), w, "numerator"), sc(2, I())),
    ("w-x by x = I (sign)", d(sub(w, x), x, "numerator"), I()),
    ("w⊙x by w = diag(w)", d(ir.Hadamard(w, x), w, "numerator"), diag(w)),
    ("w⊙x by x = diag(x)", d(ir.Hadamard(w, x), x, "numerator"), diag(x)),
    ("w⊘x by w = diag(x)", d(ir.HadDiv(w, x), w, "numerator"), diag(x)),
    ("w⊘x by x sign", d(ir.HadDiv(w, x), x, "numerator"), diag(ir.HadDiv(w, ir.EPower(x, 2)))),
    ("max(w,x) by w = diag(step(x-w))", d(ir.MaxMin("max", w, x), w, "numerator"), diag(ap("step", sub(x, w)))),
    ("max(w,x) by x = I", d(ir.MaxMin("max", w, x), x, "numerator"), I()),
]

A4_TRUE = [
    ("x+z by x", d(add(x, ir.Broadcast(z, (n, 1))), x, "numerator"), I()),
    ("x+z by z", d(add(x, ir.Broadcast(z, (n, 1))), z, "numerator"), ir.Ones((n, 1))),
    ("xz by x", d(sc(z, x), x, "numerator"), sc(z, I())),
    ("xz by z", d(sc(z, x), z, "numerator"), x),
    ("x-z by z", d(sub(x, ir.Broadcast(z, (n, 1))), z, "numerator"), ir.Neg(ir.Ones((n, 1)))),
    ("x/z by x", d(ir.Div(x, z), x, "numerator"), ir.Div(I(), z)),
    ("x/z by z", d(ir.Div(x, z), z, "numerator"), ir.Neg(ir.Div(x, ir.Power(z, 2)))),
]

A4_FALSE = [
    ("x+z by z = x", d(add(x, ir.Broadcast(z, (n, 1))), z, "numerator"), x),
    ("xz by x = I", d(sc(z, x), x, "numerator"), I()),
    ("xz by z = z x", d(sc(z, x), z, "numerator"), sc(z, x)),
    ("x/z by z sign", d(ir.Div(x, z), z, "numerator"), ir.Div(x, ir.Power(z, 2))),
    ("x-z by z = 1", d(sub(x, ir.Broadcast(z, (n, 1))), z, "numerator"), ir.Ones((n, 1))),
]

A5_TRUE = [
    ("sum(x) numerator", d(ir.Sum(x), x, "numerator"), ir.Ones((1, n))),
    ("sum(x) mixed", d(ir.Sum(x), x), ir.Ones((n, 1))),
    ("sum(xz) by x", d(ir.Sum(sc(z, x)), x, "numerator"), sc(z, ir.Ones((1, n)))),
    ("sum(xz) by z", d(ir.Sum(sc(z, x)), z, "numerator"), ir.Sum(x)),
    ("w.x by w", d(mm(T(w), x), w, "numerator"), T(x)),
    ("w.x by x", d(mm(T(w), x), x, "numerator"), T(w)),
    ("sum(w⊙x) by w mixed", d(ir.Sum(ir.Hadamard(w, x)), w), x),
    ("1ᵀ diag(x) = xᵀ", d(ir.Sum(ir.Hadamard(w, x)), w, "numerator"), mm(ir.Ones((1, n)), diag(x))),
]

A5_FALSE = [
    ("w.x by w = wᵀ", d(mm(T(w), x), w, "numerator"), T(w)),
    ("w.x by x = xᵀ", d(mm(T(w), x), x, "numerator"), T(x)),
    ("sum(xz) by z = z", d(ir.Sum(sc(z, x)), z, "numerator"), z),
    ("sum(xz) by x = 1ᵀ", d(ir.Sum(sc(z, x)), x, "numerator"), ir.Ones((1, n))),
    ("sum(x) numerator = 2·1ᵀ", d(ir.Sum(x), x, "numerator"), sc(2, ir.Ones((1, n)))),
]


@pytest.mark.parametrize("name,lhs,rhs", A3_TRUE + A4_TRUE + A5_TRUE, ids=lambda v: v if isinstance(v, str) else "")
def test_parr_howard_tables_true(name, lhs, rhs):
    smooth = "max" not in name
    assert_equal(lhs, rhs, smooth=smooth)


@pytest.mark.parametrize("name,lhs,rhs", A3_FALSE + A4_FALSE + A5_FALSE,
                         ids=lambda v: v if isinstance(v, str) else "")
def test_parr_howard_tables_false(name, lhs, rhs):
    assert_different(lhs, rhs)


def test_unconfirmed_mode_says_equal_exactly_when_the_full_check_does():
    # confirm=False (the diagnosis only asks "equal?"): the same "equal" answers as the full check, on the true and
    # the false tables, and a false claim ends at its first differing point, never as "different"
    for _name, lhs, rhs in A3_TRUE + A4_TRUE + A5_TRUE + A3_FALSE + A4_FALSE + A5_FALSE:
        full = N.check_equal(lhs, rhs, seed=3)
        quick = N.check_equal(lhs, rhs, seed=3, confirm=False)
        assert (quick.status == "equal") == (full.status == "equal"), (_name, full, quick)
        if full.status == "different" and lhs.shape == rhs.shape:
            assert quick.status == "unknown" and not quick.confirmed and quick.points < full.points, _name


def test_transposed_sides_are_different():
    # mixed-layout gradient is a column; the P&H row xᵀ has the transposed shape
    r = assert_different(d(mm(T(w), x), w), T(x))
    assert "transposed" in r.detail


# ───────────────────────────── quadratic forms and least squares ─────────────────────────────

xAx = mm(T(x), A, x)


def test_quadratic_form_true_for_general_A():
    assert_equal(d(xAx, x), mm(add(A, T(A)), x))


def test_quadratic_form_2Ax_is_different_for_general_A():
    r = assert_different(d(xAx, x), sc(2, mm(A, x)))
    assert "Taylor" in r.detail
    cx = r.counterexample
    assert cx["entries"] and {"entry", "lhs", "rhs"} <= set(cx["entries"][0])
    assert "A" in cx["values"] and "x" in cx["values"]


def test_quadratic_form_2Ax_holds_for_symmetric_A():
    assert_equal(d(mm(T(x), S, x), x), sc(2, mm(S, x)))


res = sub(mm(W, xm), y)
lsq = sq(res)


def test_least_squares_gradient():
    r = assert_equal(d(lsq, W), sc(2, mm(res, T(xm))))
    assert "complex step" in r.methods


def test_least_squares_wrong_factor_and_transpose():
    assert_different(d(lsq, W), mm(res, T(xm)))
    r = assert_different(d(lsq, W), sc(2, mm(xm, T(res))))  # transposed shapes (n ≠ m)
    assert "transposed" in r.detail
    assert_different(d(lsq, W), sc(-2, mm(res, T(xm))))


def test_least_squares_numerator_layout_is_the_transpose():
    assert_equal(d(lsq, W, "numerator"), sc(2, mm(xm, T(res))))
    assert_equal(d(lsq, W, kind="grad"), sc(2, mm(res, T(xm))))


def test_sizes_are_distinct():
    r = assert_different(d(lsq, W), sc(3, mm(res, T(xm))))
    sizes = r.counterexample["sizes"]
    assert sizes["n"] != sizes["m"]
    assert all(2 <= v <= 6 for v in sizes.values())


# ───────────────────────────── declared functions ─────────────────────────────

sig_z = ap("sigma", u, declared=True)
C_sig = ir.CallVec("C", sig_z)


def test_declared_cost_and_activation_chain_rule():
    rhs = ir.Hadamard(ir.CallVec("C", sig_z, 1), ap("sigma", u, 1, declared=True))
    r = assert_equal(d(C_sig, u, kind="grad"), rhs)
    assert "3 instantiations" in r.detail and "C" in r.detail and "sigma" in r.detail


def test_declared_missing_chain_factor_is_different():
    assert_different(d(C_sig, u, kind="grad"), ir.CallVec("C", sig_z, 1))
    # σ' applied at the wrong place
    assert_different(d(C_sig, u, kind="grad"),
                     ir.Hadamard(ir.CallVec("C", sig_z, 1), ap("sigma", sig_z, 1, declared=True)))


@pytest.mark.parametrize("inst", range(len(N.ENTRY_FAMILY)))
@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_entry_family_derivatives_of_every_order(inst, order):
    """f^(k+1) of each concrete instantiation agrees with finite differences of f^(k)."""
    lhs = d(ap("f", u, order, declared=True), u)
    rhs = diag(ap("f", u, order + 1, declared=True))
    pt = N.make_point([lhs, rhs], seed=inst, instantiation=inst)
    assert pt.functions["f"] == N.ENTRY_FAMILY[inst]
    L, R = N.evaluate(lhs, pt), N.evaluate(rhs, pt)
    np.testing.assert_allclose(L, R, rtol=1e-9, atol=1e-9)
    # and the wrong order is not accepted
    R2 = N.evaluate(diag(ap("f", u, order, declared=True)), pt)
    assert not np.allclose(L, R2, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("inst", range(len(N.VEC_FAMILY)))
def test_vector_family_gradients(inst):
    lhs = d(ir.CallVec("C", u), u, kind="grad")
    rhs = ir.CallVec("C", u, 1)
    pt = N.make_point([lhs, rhs], seed=3, instantiation=inst)
    assert pt.functions["C"] == N.VEC_FAMILY[inst]
    np.testing.assert_allclose(N.evaluate(lhs, pt), N.evaluate(rhs, pt), rtol=1e-10, atol=1e-12)


# ───────────────────────────── built-in functions ─────────────────────────────

BUILTIN_DERIVS = [
    ("exp", ap("exp", u)),
    ("log", ir.HadDiv(ir.Ones((n, 1)), u)),
    ("sqrt", ir.HadDiv(ir.Ones((n, 1)), sc(2, ap("sqrt", u)))),
    ("sin", ap("cos", u)),
    ("cos", ir.Neg(ap("sin", u))),
    ("tanh", sub(ir.Ones((n, 1)), ir.EPower(ap("tanh", u), 2))),
    ("sigma", ir.Hadamard(ap("sigma", u), sub(ir.Ones((n, 1)), ap("sigma", u)))),
    ("softplus", ap("sigma", u)),
    ("relu", ap("step", u)),
    ("abs", ap("abs", u, 1)),
]


@pytest.mark.parametrize("fn,deriv", BUILTIN_DERIVS, ids=[f for f, _ in BUILTIN_DERIVS])
def test_builtin_first_derivatives(fn, deriv):
    smooth = fn not in ("relu", "abs")
    # by finite differences of fn, against the textbook derivative, and against fn' (order 1)
    assert_equal(d(ap(fn, u), u), diag(deriv), smooth=smooth)
    assert_equal(ap(fn, u, 1), deriv, smooth=smooth)
    # a wrong derivative (the function itself, or with the sign flipped) is refuted
    wrong = ap(fn, u) if fn not in ("exp",) else sc(2, ap(fn, u))
    assert_different(d(ap(fn, u), u), diag(wrong))


def test_builtin_second_derivatives():
    one = ir.Ones((n, 1))
    s = ap("sigma", u)
    # σ'' = σ(1−σ)(1−2σ)
    assert_equal(ap("sigma", u, 2), ir.Hadamard(ir.Hadamard(s, sub(one, s)), sub(one, sc(2, s))))
    assert_equal(d(ap("tanh", u, 1), u), diag(ap("tanh", u, 2)))
    assert_equal(d(ap("sqrt", u, 1), u), diag(ap("sqrt", u, 2)))
    assert_equal(d(ap("log", u, 2), u), diag(ap("log", u, 3)))
    assert_equal(ap("relu", u, 2), ir.Zeros((n, 1)), smooth=False)
    assert_equal(ap("abs", u, 1), ir.HadDiv(u, ap("abs", u)), smooth=False)


def test_relu_claims_away_from_kinks():
    pre = add(mm(W, xm), ir.Var("b", (n, 1)))
    lhs = d(ap("relu", pre), xm)
    r = assert_equal(lhs, mm(diag(ap("step", pre)), W), smooth=False)
    assert "central differences with Richardson extrapolation" in r.methods
    assert r.max_rel_error < 1e-9
    assert_different(lhs, W)
    assert_different(lhs, mm(diag(ap("relu", pre)), W))


def test_neuron_activation_pnh_a7():
    wv, xv = ir.Var("w", (n, 1)), ir.Var("x", (n, 1))
    bb = ir.Var("beta", (1, 1))
    zz = add(mm(T(wv), xv), bb)
    act = ir.MaxMin("max", ir.Num(0), zz)
    assert_equal(d(act, wv, "numerator"), sc(ap("step", zz), T(xv)), smooth=False)
    assert_equal(d(act, bb, "numerator"), ap("step", zz), smooth=False)
    # wrong where z > 0 only (zero on both sides where z < 0): found at the points of seed 0
    assert_different(d(act, wv, "numerator"), sc(ap("step", zz), T(wv)))


# ───────────────────────────── layouts ─────────────────────────────

Wx = mm(W, xm)


def test_vector_by_vector_layouts():
    assert_equal(d(Wx, xm), W)
    assert_equal(d(Wx, xm, "numerator"), W)
    assert_equal(d(Wx, xm, "denominator"), T(W))
    assert_equal(d(Wx, xm, kind="jacobian"), W)
    assert_different(d(Wx, xm, "denominator"), W)  # transposed shapes m×n against n×m


def test_matrix_by_matrix_through_vec():
    # ∂ vec(W x)/∂ vec(W) = xᵀ ⊗ I (numerator)
    assert_equal(d(Wx, W), ir.Kron(T(xm), I(n)))
    assert_equal(d(Wx, W, kind="jacobian"), ir.Kron(T(xm), I(n)))
    assert_equal(d(Wx, W, "denominator"), T(ir.Kron(T(xm), I(n))))
    assert_different(d(Wx, W), ir.Kron(I(n), T(xm)))


def test_vector_by_scalar_layouts():
    assert_equal(d(sc(z, x), z), x)
    assert_equal(d(sc(z, x), z, "denominator"), T(x))
    assert_different(d(sc(z, x), z), sc(z, x))


def test_trace_and_inverse_family():
    assert_equal(d(ir.Trace(mm(A, X, B)), X), mm(T(A), T(B)))
    assert_different(d(ir.Trace(mm(A, X, B)), X), mm(B, A))
    # logdet: X⁻ᵀ, not X⁻¹ (X is drawn non-symmetric)
    assert_equal(d(ir.LogDet(X), X), T(ir.Inverse(X)))
    assert_different(d(ir.LogDet(X), X), ir.Inverse(X))
    assert_equal(d(ir.Det(X), X), sc(ir.Det(X), T(ir.Inverse(X))))
    # d tr(X⁻¹ A)/dX = −X⁻ᵀ Aᵀ X⁻ᵀ
    Xi = ir.Inverse(X)
    assert_equal(d(ir.Trace(mm(Xi, A)), X), ir.Neg(mm(T(Xi), T(A), T(Xi))))
    assert_different(d(ir.Trace(mm(Xi, A)), X), ir.Neg(mm(Xi, A, Xi)))


def test_symmetric_argument_convention():
    # entries perturbed independently, then G → (G + Gᵀ)/2
    assert_equal(d(ir.Trace(mm(S, B)), S), ir.Div(add(B, T(B)), ir.Num(2)))
    assert_different(d(ir.Trace(mm(S, B)), S), T(B))


def test_softmax_logsumexp_and_norms():
    assert_equal(d(ir.LogSumExp(u), u), ir.Softmax(u))
    assert_different(d(ir.LogSumExp(u), u), ap("exp", u))
    assert_equal(d(ir.Norm(u), u), ir.Div(u, ir.Norm(u)))
    assert_equal(d(ir.Softmax(u), u), sub(diag(ir.Softmax(u)), mm(ir.Softmax(u), T(ir.Softmax(u)))))
    assert_different(d(ir.Softmax(u), u), diag(ir.Softmax(u)))


def test_cross_entropy_needs_a_probability_target():
    p = ir.Var("p", (n, 1), frozenset({"probability"}))
    q = ir.Var("q", (n, 1))
    ce = lambda t: ir.Neg(mm(T(t), ap("log", ir.Softmax(u))))  # noqa: E731
    assert_equal(d(ce(p), u), sub(ir.Softmax(u), p))
    assert_different(d(ce(q), u), sub(ir.Softmax(u), q))


def test_matrix_power_and_vec():
    assert_equal(ir.Vec(mm(A, X)), mm(ir.Kron(I(n), A), ir.Vec(X)))
    assert_different(ir.Vec(mm(A, X)), mm(ir.Kron(A, I(n)), ir.Vec(X)))
    assert_equal(d(ir.Trace(ir.Power(X, 3)), X), sc(3, T(ir.Power(X, 2))))
    assert_different(d(ir.Trace(ir.Power(X, 3)), X), sc(3, ir.Power(X, 2)))


# ───────────────────────────── let names ─────────────────────────────


def test_named_derivative_goes_through_the_name_alone():
    zN = ir.Named("z", mm(W, xm))
    yy = ir.Var("y", (n, 1))
    f = add(mm(T(zN), yy), mm(T(ir.Named("z", mm(W, xm))), mm(W, xm)))  # the second W x is not marked
    # through z alone: y + W x (the unmarked occurrence keeps its value)
    assert_equal(d(f, zN), add(yy, mm(W, xm)))
    assert_different(d(f, zN), add(yy, sc(2, mm(W, xm))))
    # by x (every path): Wᵀ y + 2 Wᵀ W x
    assert_equal(d(f, xm), add(mm(T(W), yy), sc(2, mm(T(W), W, xm))))


def test_named_delta_backprop_eq1():
    zN = ir.Named("z", add(mm(W, xm), b))
    cost = ir.CallVec("C", ap("sigma", zN, declared=True))
    delta = d(cost, zN, kind="grad")
    rhs = ir.Hadamard(ir.CallVec("C", ap("sigma", zN, declared=True), 1), ap("sigma", zN, 1, declared=True))
    assert_equal(delta, rhs)
    # BP4 in matrix form, BP3
    assert_equal(d(cost, W), mm(rhs, T(xm)))
    assert_equal(d(cost, b), rhs)
    assert_different(d(cost, W), sc(2, mm(rhs, T(xm))))
    assert_different(d(cost, W), mm(xm, T(rhs)))  # transposed shapes


# ───────────────────────────── entries, index sums, free indices ─────────────────────────────

j = ir.Index("j", n)
k = ir.Index("k", m)
i_ = ir.Index("i", n)


def test_componentwise_layer_definition():
    lhs = ir.Entry(add(mm(W, xm), b), (j,))
    body = ir.Hadamard(ir.Entry(W, (j, k)), ir.Entry(xm, (k,)))
    rhs = add(ir.IndexSum(k, body), ir.Entry(b, (j,)))
    r = assert_equal(lhs, rhs, free=(j,))
    assert r.points == 3
    assert_different(lhs, ir.IndexSum(k, body), free=(j,))


def test_bp4_componentwise_every_index_value():
    half = sc(Fraction(1, 2), lsq)
    lhs = d(half, ir.Entry(W, (j, k)))
    rhs = sc(ir.Entry(xm, (k,)), ir.Entry(res, (j,)))
    assert_equal(lhs, rhs, free=(j, k))
    r = assert_different(lhs, sc(2, rhs), free=(j, k))
    assert set(r.counterexample["index"]) == {"j", "k"}


def test_entry_derivative_equals_delta():
    lhs = d(ir.Entry(x, (i_,)), ir.Entry(x, (j,)))
    assert_equal(lhs, ir.Delta(i_, j), free=(i_, j))
    assert_different(lhs, ir.Num(1), free=(i_, j))


def test_integer_indices_are_one_based():
    pt = N.make_point([W], seed=0, sizes={"n": 3, "m": 4})
    Wv = pt.values["W"]
    assert N.evaluate(ir.Entry(W, (2, 3)), pt)[0, 0] == Wv[1, 2]
    assert N.evaluate(ir.Entry(xm, (1,)), N.make_point([xm], seed=1))[0, 0] != 0.0


# ───────────────────────────── evaluation details ─────────────────────────────


def test_evaluate_structure():
    pt = N.make_point([A, X, x, W, xm], seed=5)
    Av, Xv, xv = pt.values["A"], pt.values["X"], pt.values["x"]
    np.testing.assert_array_equal(N.evaluate(ir.Vec(A), pt)[:, 0], Av.T.reshape(-1))  # column stacking
    np.testing.assert_allclose(N.evaluate(ir.Kron(A, X), pt), np.kron(Av, Xv))
    np.testing.assert_allclose(N.evaluate(ir.LogDet(X), pt)[0, 0], np.log(abs(np.linalg.det(Xv))))
    np.testing.assert_allclose(N.evaluate(ir.Power(X, -1), pt), np.linalg.inv(Xv))
    np.testing.assert_allclose(N.evaluate(ir.EPower(x, Fraction(1, 3)), N.make_point(ap("log", x), seed=2)) ** 3,
                               N.make_point(ap("log", x), seed=2).values["x"])
    assert N.evaluate(ir.Norm(A), pt)[0, 0] == pytest.approx(np.linalg.norm(Av))
    assert N.evaluate(ir.Broadcast(ir.Num(3), (n, m)), pt).shape == (pt.sizes["n"], pt.sizes["m"])
    sm = N.evaluate(ir.Softmax(x), pt)
    assert sm.sum() == pytest.approx(1.0) and np.all(sm > 0)


def test_point_properties():
    P = ir.Var("P", (n, n), frozenset({"spd"}))
    pos = ir.Var("p", (n, 1), frozenset({"positive"}))
    prob = ir.Var("q", (n, 1), frozenset({"probability"}))
    pt = N.make_point([P, pos, prob, ir.Inverse(X), ap("log", u)], seed=11)
    assert np.all(np.linalg.eigvalsh(pt.values["P"]) > 0)
    np.testing.assert_allclose(pt.values["P"], pt.values["P"].T)
    assert np.all(pt.values["p"] > 0) and np.all(pt.values["u"] > 0)
    assert pt.values["q"].sum() == pytest.approx(1.0) and np.all(pt.values["q"] >= 0)
    assert np.linalg.cond(pt.values["X"]) < 100
    assert not np.allclose(pt.values["X"], pt.values["X"].T)  # an inverted matrix is not made symmetric


def test_unsupported_input_raises_a_named_error():
    pt = N.make_point([x], seed=0)
    with pytest.raises(N.NumericError, match="nope"):
        N.evaluate(ap("nope", x), pt)
    with pytest.raises(N.NumericError, match="index j"):
        N.evaluate(ir.Entry(x, (j,)), N.Point(sizes={"n": 3}, values={"x": np.ones((3, 1))}))
    with pytest.raises(ShapeError):
        N.check_equal(x, ir.Var("Q", (n, n)))


# ───────────────────────────── the protocol: budget, failures, confirmation ─────────────────────────────


def test_out_of_budget_is_unknown():
    r = check(d(lsq, W), sc(2, mm(res, T(xm))), budget_s=0.0)
    assert r.status == "unknown" and "budget" in r.detail


def test_always_at_a_kink_is_unknown_not_a_crash():
    r = check(ap("relu", sub(x, x)), ir.Zeros((n, 1)))
    assert r.status == "unknown" and "kink" in r.detail


def test_overflow_is_unknown_not_a_crash():
    big = ap("exp", sc(800, add(ir.EPower(x, 2), ir.Ones((n, 1)))))  # exp(≥ 800) overflows everywhere
    r = check(big, big)
    assert r.status == "unknown" and "overflow" in r.detail


def test_a_difference_needs_the_taylor_slope(monkeypatch):
    monkeypatch.setattr(numeric_check, "_taylor", lambda *a, **k: "inconclusive")
    monkeypatch.setattr(numeric_check, "_complex_slope", lambda *a, **k: "inconclusive")
    r = check(d(xAx, x), sc(2, mm(A, x)))
    assert r.status == "unknown" and not r.confirmed and "Taylor" in r.detail


def test_the_complex_step_slope_confirms_where_real_differences_cannot(monkeypatch):
    # the real Taylor slope made blind: the complex step's remainder (a constant, not O(h²)) confirms alone
    monkeypatch.setattr(numeric_check, "_taylor", lambda *a, **k: "inconclusive")
    r = check(d(xAx, x), sc(2, mm(A, x)))
    assert r.status == "different" and r.confirmed and "complex step" in r.detail
    # a true claim is never confirmed as different by it
    r = check(d(xAx, x), add(mm(A, x), mm(ir.Transpose(A), x)))
    assert r.status == "equal"


def test_twenty_nested_sigmas_missing_a_factor_are_refuted():
    # the derivative is ~1e-13 beside a function value ~0.7: real differences cannot resolve it, the complex step can
    inner, args = x, []
    for _ in range(20):
        args.append(inner)
        inner = ap("sigma", inner)
    f = ir.Sum(inner)
    factors = [ir.Apply("sigma", a, 1) for a in reversed(args)]
    right = factors[0]
    for fct in factors[1:]:
        right = ir.Hadamard(right, fct)
    assert check(d(f, x), right).status == "equal"
    wrong = factors[0]
    for fct in factors[1:-1]:  # the innermost σ'(x) forgotten
        wrong = ir.Hadamard(wrong, fct)
    r = check(d(f, x), wrong)
    assert r.status == "different" and r.confirmed, r.detail


def test_a_difference_at_one_point_only_is_not_confirmed(monkeypatch):
    calls = {"n": 0}
    real = _compare_full

    def flaky(*a, **kw):
        c = real(*a, **kw)
        calls["n"] += 1
        if calls["n"] > 1:
            c.differ = False
        return c

    monkeypatch.setattr(numeric_check, "_compare_full", flaky)
    r = check(x, sc(2, x))
    assert r.status == "unknown" and not r.confirmed


def test_taylor_slope_separates_true_and_false_derivatives():
    true_rhs = mm(add(A, T(A)), x)
    for rhs, want in ((true_rhs, "quadratic"), (sc(2, mm(A, x)), "linear")):
        pt = N.make_point([xAx, rhs], seed=4)
        ev = _Evaluator(pt, strict=True)
        L, R = ev.ev(d(xAx, x)), ev.ev(rhs)
        direction = None
        if want == "quadratic":
            direction = np.random.default_rng(0).normal(size=pt.values["x"].shape)
        cmp = _Cmp(True, 1.0, 0.0, L, R, 0.0, {}, ev, direction)
        assert _taylor(d(xAx, x), rhs, pt, cmp, deadline=1e18) == want


def test_directional_mode_for_large_arguments():
    Wb = ir.Var("W", (30, 20))
    xb, yb = ir.Var("x", (20, 1)), ir.Var("y", (30, 1))
    rb = sub(mm(Wb, xb), yb)
    r = assert_equal(d(sq(rb), Wb), sc(2, mm(rb, T(xb))))
    assert any("directional" in mth for mth in r.methods)
    r = assert_different(d(sq(rb), Wb), sc(2, mm(sub(mm(Wb, xb), sc(2, yb)), T(xb))))
    assert any("directional" in mth for mth in r.methods)
    # a vector output: J v for a 600-entry argument
    assert_equal(d(mm(Wb, xb), Wb), ir.Kron(T(xb), I(30)))
    assert_different(d(mm(Wb, xb), Wb), sc(2, ir.Kron(T(xb), I(30))))


def test_directional_mode_with_a_sum_of_terms():
    Wb = ir.Var("W", (25, 25))
    xb = ir.Var("x", (25, 1))
    f = mm(T(xb), Wb, xb)
    lhs = add(d(f, Wb), sc(3, Wb))
    assert_equal(lhs, add(mm(xb, T(xb)), sc(3, Wb)))
    assert_different(lhs, add(mm(xb, T(xb)), sc(2, Wb)))
    assert_equal(T(d(f, Wb)), mm(xb, T(xb)))


def test_reproducible_with_a_seed():
    r1 = check(d(xAx, x), sc(2, mm(A, x)), seed=3)
    r2 = check(d(xAx, x), sc(2, mm(A, x)), seed=3)
    assert r1.counterexample == r2.counterexample


def test_independent_of_the_engine():
    mods = set()
    for path in sorted(Path(N.__file__).parent.glob("*.py")):  # every module of the package
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                mods.add(node.module)
            elif isinstance(node, ast.Import):
                mods.update(a.name for a in node.names)
    assert "matcalc.verify.numeric.evaluator" in mods  # the scan sees the package's own modules
    banned = ("matcalc.engine", "matcalc.rules", "matcalc.simplify", "matcalc.normal", "matcalc.verify.symbolic",
              "matcalc.verify.exact")
    assert not [mname for mname in mods if mname.startswith(banned)]


def test_independent_of_the_engine_transitively():
    """Importing the package loads no module of the engine, the simplifier, the exact method, nor SymPy."""
    code = ("import sys, matcalc.verify.numeric; print(sorted(m for m in sys.modules if m.startswith(('matcalc.engine', "
            "'matcalc.rules', 'matcalc.simplify', 'matcalc.normal', 'matcalc.verify.exact', 'sympy'))))")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_derivative_inside_a_product_bp4_matrix_form():
    zN = ir.Named("z", add(mm(W, xm), b))
    cost = ir.CallVec("C", ap("sigma", zN, declared=True))
    delta = ir.Named("delta", d(cost, zN, kind="grad"))
    assert_equal(d(cost, W), mm(delta, T(xm)))
    r = assert_different(d(cost, W), sc(2, mm(delta, T(xm))))
    assert "Taylor" in r.detail
    assert_different(d(cost, b), ir.Hadamard(delta, ap("sigma", zN, 1, declared=True)))


def test_second_derivative_by_nested_finite_differences():
    hess = d(d(xAx, x), x)
    r = assert_equal(hess, add(A, T(A)), smooth=False)
    assert r.max_rel_error < 1e-7
    assert_different(hess, sc(2, A))


def test_free_indices_with_a_kink_use_propagated_error_estimates():
    pre = add(mm(W, xm), b)
    lhs = d(ir.Entry(ap("relu", pre), (j,)), ir.Entry(W, (j, k)))
    rhs = sc(ir.Entry(ap("step", pre), (j,)), ir.Entry(xm, (k,)))
    r = assert_equal(lhs, rhs, smooth=False)
    assert r.max_rel_error < 1e-9
    assert_different(lhs, ir.Entry(xm, (k,)))


# ───────────────────────────── claims read by the parser ─────────────────────────────

PARSED = [
    ("d/dx x^T A x = (A + A^T) x", "A: n x n, x: n", "equal"),
    ("d/dx x^T A x = 2 A x", "A: n x n, x: n", "different"),
    ("d/dx x^T A x = 2 A x", "A: n x n symmetric, x: n", "equal"),
    ("d/dW ‖W x − y‖^2 = 2 (W x − y) x^T", "W: n x m, x: m, y: n", "equal"),
    ("d/dW ‖W x − y‖^2 = 2 x (W x − y)^T", "W: n x m, x: m, y: n", "different"),
    ("d/dW sum((W x - y).^2) = 2 (W x - y) x^T", "W: n x m, x: m, y: n", "equal"),
    ("grad(C(sigma(z)), z) = C'(sigma(z)) ⊙ sigma'(z)", "C: R^n -> R, sigma: R -> R, z: n", "equal"),
    ("grad(C(sigma(z)), z) = C'(sigma(z))", "C: R^n -> R, sigma: R -> R, z: n", "different"),
    ("let z = W x + b\nz[j] = sum_k W[j, k] x[k] + b[j]", "W: n x m, x: m, b: n", "equal"),
    ("let z = W x + b\nz[j] = sum_k W[k, j] x[k] + b[j]", "W: n x n, x: n, b: n", "different"),
    ("d/dz -y^T log(softmax(z)) = softmax(z) - y", "y: n probability, z: n", "equal"),
    ("d/dz -y^T log(softmax(z)) = softmax(z) - y", "y: n, z: n", "different"),
    ("d/dW[j, k] 1/2 ‖W x − y‖^2 = x[k] (W x - y)[j]", "W: n x m, x: m, y: n", "equal"),
    ("d/dW[j, k] 1/2 ‖W x − y‖^2 = x[j] (W x - y)[k]", "W: n x n, x: n, y: n", "different"),
    ("let z = W a + b\nlet delta = grad(C(sigma(z)), z)\nd/dW C(sigma(z)) = delta a^T",
     "W: n x m, a: m, b: n, C: R^n -> R, sigma: R -> R", "equal"),
    ("let z = W a + b\nlet delta = grad(C(sigma(z)), z)\nd/dW C(sigma(z)) = 2 delta a^T",
     "W: n x m, a: m, b: n, C: R^n -> R, sigma: R -> R", "different"),
    ("d/dx max(x, 0) = diag(step(x))", "x: n", "equal"),
    ("d/dx max(x, 0) = diag(x)", "x: n", "different"),
    ("layout denominator\nd/dx W x = W^T", "W: n x m, x: m", "equal"),
    ("d/dX logdet(X) = X^-T", "X: n x n", "equal"),
    ("d/dX logdet(X) = X^-1", "X: n x n", "different"),
]


@pytest.mark.parametrize("text,given,want", PARSED, ids=[f"{t.splitlines()[-1]} [{g}]" for t, g, _ in PARSED])
def test_parsed_claims(text, given, want):
    from matcalc.document import Claim
    from matcalc.lang import read_document

    doc = read_document(text, given=given)
    claims = [s for s in doc.statements if isinstance(s, Claim)]
    assert len(claims) == 1
    c = claims[0]
    if want == "equal":
        assert_equal(c.lhs, c.rhs, free=c.free, smooth="max" not in text)
    else:
        assert_different(c.lhs, c.rhs, free=c.free)


def test_unsupported_node_in_a_claim_is_unknown_with_its_name():
    r = check(ap("nope", x), x)
    assert r.status == "unknown" and "nope" in r.detail


def test_large_derivative_in_a_nonlinear_position_is_unknown():
    Wb = ir.Var("W", (30, 30))
    xb = ir.Var("x", (30, 1))
    g = d(mm(T(xb), Wb, xb), Wb)
    r = check(ir.Hadamard(g, g), ir.Hadamard(mm(xb, T(xb)), mm(xb, T(xb))))
    assert r.status == "unknown" and "directional" in r.detail


@pytest.mark.parametrize("smooth", [True, False])
def test_directional_probes_use_at_most_12_evaluations_per_point(smooth):
    Wb = ir.Var("W", (40, 40))
    xb = ir.Var("x", (40, 1))
    pre = mm(Wb, xb)
    act = ap("tanh", pre) if smooth else ap("relu", pre)
    lhs = d(ir.Sum(act), Wb)
    rhs = mm(ap("tanh", pre, 1) if smooth else ap("step", pre), T(xb))
    info = _analyse([lhs, rhs])
    for seed in range(6):
        pt = N.make_point([lhs, rhs], seed=seed, _info=info)
        try:
            cmp = _compare_directional(lhs, rhs, info, pt, 1e18, np.random.default_rng(seed))
        except _Reject:
            continue
        assert not cmp.differ
        assert 0 < cmp.ev.fd_evals <= 12
        break
    else:
        pytest.fail("no usable point")


def test_declared_function_properties_of_one_instantiation_do_not_pass():
    zero = ir.Zeros((n, 1))
    fz = ap("f", zero, declared=True)
    assert_different(fz, zero)  # f(0) = 0 holds for tanh, sin and x³/6 + x only
    odd = ap("f", ir.Neg(u), declared=True)
    assert_different(odd, ir.Neg(ap("f", u, declared=True)))  # f odd: not for softplus
    assert_different(ap("f", u, 2, declared=True), ir.Neg(ap("f", u, declared=True)))  # f'' = −f: sin only


@pytest.mark.parametrize("lhs,rhs", [
    (d(xAx, x), mm(add(A, T(A)), x)),
    (d(lsq, W), sc(2, mm(res, T(xm)))),
    (d(C_sig, u, kind="grad"), ir.Hadamard(ir.CallVec("C", sig_z, 1), ap("sigma", u, 1, declared=True))),
    (d(ir.LogDet(X), X), T(ir.Inverse(X))),
    (d(ir.LogSumExp(u), u), ir.Softmax(u)),
], ids=["xAx", "lsq", "C(sigma)", "logdet", "lse"])
def test_central_differences_with_richardson_reach_1e_10(lhs, rhs):
    r = assert_equal(lhs, rhs, complex_step=False)
    assert r.methods == ("central differences with Richardson extrapolation",)
    assert_different(lhs, sc(2, rhs), complex_step=False)


def test_positivity_is_only_forced_on_the_domain_of_log_and_sqrt():
    assert_different(ap("sqrt", ir.Hadamard(u, u)), u)  # = |u|
    assert_equal(ap("sqrt", ir.Hadamard(u, u)), ap("abs", u), smooth=False)
    assert_different(ir.HadDiv(x, w), ir.HadDiv(x, ap("abs", w)))
    assert_equal(ap("log", u), ap("log", ap("abs", u)), smooth=False)  # true on log's domain


# ───────────────────────────── soundness at large intermediate values (deep networks) ─────────────────────────────
# A true claim must never come back "different". Deep compositions of generic functions (a cubic of a cubic of sums,
# sin of that, exp of exp) reach values where sin is ill-conditioned and a fixed finite-difference step no longer
# resolves the function; the old method then reported true backprop claims as confirmed differences.

DEEP_DECL = ("X: n1 x M, x: n1, W2: n2 x n1, W3: n3 x n2, W4: n4 x n3, b2: n2, b3: n3, "
             "sigma: R -> R, ell: R -> R, C: R^n3 -> R\n")
Z3 = "W3 sigma(W2 X)"
DEEP = [  # (true claim, a false variant)
    (f"grad(sum(ell(sigma({Z3}))), W3) = (ell'(sigma({Z3})) ⊙ sigma'({Z3})) sigma(W2 X)^T",
     f"grad(sum(ell(sigma({Z3}))), W3) = ell'(sigma({Z3})) sigma(W2 X)^T"),
    (f"grad(sum(ell(sigma({Z3}))), W2) = ((W3^T (ell'(sigma({Z3})) ⊙ sigma'({Z3}))) ⊙ sigma'(W2 X)) X^T",
     f"grad(sum(ell(sigma({Z3}))), W2) = (W3^T (ell'(sigma({Z3})) ⊙ sigma'({Z3}))) X^T"),
    ("grad(sum(ell(sigma(W3 sigma(W2 x + b2) + b3))), b2) = (W3^T (ell'(sigma(W3 sigma(W2 x + b2) + b3)) ⊙ "
     "sigma'(W3 sigma(W2 x + b2) + b3))) ⊙ sigma'(W2 x + b2)",
     "grad(sum(ell(sigma(W3 sigma(W2 x + b2) + b3))), b2) = W3^T (ell'(sigma(W3 sigma(W2 x + b2) + b3)) ⊙ "
     "sigma'(W3 sigma(W2 x + b2) + b3))"),
    ("grad(C(sigma(W3 sigma(W2 x))), W2) = ((W3^T (C'(sigma(W3 sigma(W2 x))) ⊙ sigma'(W3 sigma(W2 x)))) ⊙ "
     "sigma'(W2 x)) x^T",
     "grad(C(sigma(W3 sigma(W2 x))), W2) = 2 ((W3^T (C'(sigma(W3 sigma(W2 x))) ⊙ sigma'(W3 sigma(W2 x)))) ⊙ "
     "sigma'(W2 x)) x^T"),
    (f"grad(sum(ell(W4 sigma({Z3}))), W3) = ((W4^T ell'(W4 sigma({Z3}))) ⊙ sigma'({Z3})) sigma(W2 X)^T",
     f"grad(sum(ell(W4 sigma({Z3}))), W3) = ((W4^T ell'(W4 sigma({Z3}))) ⊙ sigma'({Z3})) sigma'(W2 X)^T"),
]


def deep_claim(text):
    from matcalc.document import Claim
    from matcalc.lang import read_document

    doc = read_document(DEEP_DECL + text + "\n", where="<test>")
    (c,) = [s for s in doc.statements if isinstance(s, Claim)]
    return c


def unscaled(monkeypatch):
    """Draw weights standard normal (no 1/√fan-in): activations of several hundreds, the hard case."""
    real = _analyse

    def analyse(*a, **kw):
        info = real(*a, **kw)
        info.fanin = {}
        return info

    monkeypatch.setattr(numeric_check, "_analyse", analyse)


def test_reported_deep_claim_with_sin_and_cubic_is_never_different(monkeypatch):
    # the report: ell = sin, sigma = x³/6 + x; every instantiation made exactly that pair
    c = deep_claim(DEEP[0][0])
    monkeypatch.setattr(numeric_points, "ENTRY_FAMILY", ("sin", "cubic"))
    got = [N.check_equal(c.lhs, c.rhs, free=c.free, seed=s).status for s in range(10)]
    assert "different" not in got
    assert got.count("equal") >= 9, got


@pytest.mark.parametrize("cs", [True, False], ids=["complex step", "central differences"])
def test_deep_claim_at_large_activations_is_never_different(monkeypatch, cs):
    c = deep_claim(DEEP[0][0])
    unscaled(monkeypatch)
    monkeypatch.setattr(numeric_points, "ENTRY_FAMILY", ("sin", "cubic", "exp_half"))
    got = [N.check_equal(c.lhs, c.rhs, free=c.free, seed=s, complex_step=cs).status for s in range(10)]
    assert "different" not in got
    assert got.count("equal") >= (8 if cs else 3), got
    # and a false claim at the same values is still refuted
    bad = deep_claim(DEEP[0][1])
    r = N.check_equal(bad.lhs, bad.rhs, free=bad.free, seed=0, complex_step=cs)
    assert r.status == "different" and r.confirmed, r.detail


def test_deep_claim_over_seeds_with_the_default_family():
    c = deep_claim(DEEP[0][0])
    for s in range(10):
        r = N.check_equal(c.lhs, c.rhs, free=c.free, seed=s)
        assert r.status == "equal", (s, r.detail)


@pytest.mark.parametrize("true,false", DEEP, ids=["W3", "W2", "b2", "C(σ)", "4 layers"])
def test_deep_network_claims_with_generic_functions(true, false):
    t, f = deep_claim(true), deep_claim(false)
    for s in range(3):
        r = N.check_equal(t.lhs, t.rhs, free=t.free, seed=s)
        assert r.status == "equal", (s, r.detail)
    r = N.check_equal(f.lhs, f.rhs, free=f.free, seed=0)
    assert r.status == "different" and r.confirmed, r.detail


def test_an_ill_conditioned_point_is_redrawn_not_a_difference():
    # sin(exp(exp(x))) at x ≈ 3.3: the argument of sin is ~5e11, its rounding moves sin' in the 5th digit, so the
    # complex step and the closed form differ far beyond the step's own error estimate — but within the rounding
    # sensitivity of the point, which the Monte Carlo arithmetic probe measures
    ee = ap("exp", ap("exp", u))
    lhs = d(ir.Sum(ap("sin", ee)), u, kind="grad")
    rhs = ir.Hadamard(ir.Hadamard(ap("cos", ee), ee), ap("exp", u))
    info = _analyse([lhs, rhs])
    trust_cs = {id(lhs): True}  # skip the probe (it would reject these points itself): the MCA probe decides
    seen = 0
    for seed in range(6):
        pt = N.make_point([lhs, rhs], seed=seed, _info=info)
        pt.values["u"] = np.random.default_rng(seed).uniform(3.2, 3.4, size=pt.values["u"].shape)
        try:
            cmp = _compare_full(lhs, rhs, info, pt, 1e18, True, dict(trust_cs))
        except _Reject as exc:
            assert "ill-conditioned" in str(exc)
            seen += 1
            continue
        assert not cmp.differ
    assert seen >= 1  # the rounding probe fired on this family of points
    # the same claim with a missing factor at the same points is a significant difference
    pt = N.make_point([lhs, rhs], seed=0, _info=info)
    pt.values["u"] = np.random.default_rng(0).uniform(3.2, 3.4, size=pt.values["u"].shape)
    wrong = ir.Hadamard(ap("cos", ee), ee)
    assert _compare_full(lhs, wrong, _analyse([lhs, wrong]), pt, 1e18, True, dict(trust_cs)).differ


def _steps(delta_of_h, claimed, hs):
    return [(h, np.atleast_2d(delta_of_h(h)), np.atleast_2d(delta_of_h(h) - h * claimed)) for h in hs]


def test_taylor_slope_is_not_fooled_by_an_unresolved_oscillation():
    hs = [0.1 / 2**k for k in range(12)]
    b = 1e9  # F(t) = sin(a + b t): the steps never resolve it; its true slope is b cos a ≈ claimed
    f = lambda h: np.sin(0.3 + b * h) - np.sin(0.3)  # noqa: E731
    claimed = b * np.cos(0.3)
    assert _slope_verdict(_steps(f, claimed, hs), fmag=1.0, fval=1.0, csum=1.0) != "linear"
    # resolved and wrong: linear; resolved and right: quadratic
    g = lambda h: np.sin(0.3 + 2.0 * h) - np.sin(0.3)  # noqa: E731
    assert _slope_verdict(_steps(g, 3.0 * np.cos(0.3), hs), fmag=1.0, fval=1.0, csum=1.0) == "linear"
    assert _slope_verdict(_steps(g, 2.0 * np.cos(0.3), hs), fmag=1.0, fval=1.0, csum=1.0) == "quadratic"
    # F does not move at all and the claim says it does: linear
    z = lambda h: np.zeros((1, 1))  # noqa: E731
    assert _slope_verdict(_steps(z, 1.0, hs), fmag=1.0, fval=1.0, csum=1.0) == "linear"


def test_central_differences_never_return_an_unresolved_step_with_confidence():
    # f(t) = sin(1e6 t): the base step 1e-2 is 10⁴ periods; the step must be cut (or the point given up), never a
    # plateau accepted with a small error estimate
    t = ir.Var("t", (1, 1))
    f = ap("sin", sc(1000000, t))
    pt = N.Point(sizes={}, values={"t": np.array([[0.7]])})
    ev = _Evaluator(pt, strict=True, allow_cs=False)
    key, X0, _, _ = ev.wrt_target(t)
    true = 1e6 * math.cos(0.7e6)
    try:
        val, err = ev.dir_fd(key, X0, np.ones((1, 1)), f, False, levels=4)
    except _Reject:
        return
    assert abs(val[0, 0] - true) <= 10 * err[0, 0] + 1e-6 * abs(true)


def test_weights_are_drawn_at_fan_in_scale_only_in_smooth_claims():
    Wb = ir.Var("W", (n, m))
    e = ap("tanh", mm(Wb, xm))
    pt = N.make_point([e], seed=0, sizes={"n": 5, "m": 400})
    assert np.std(pt.values["W"]) < 0.1  # N(0, 1/400)
    assert np.std(pt.values["x"]) > 0.5  # vectors keep unit scale
    kinked = ap("relu", mm(Wb, xm))
    pt = N.make_point([kinked], seed=0, sizes={"n": 5, "m": 400})
    assert np.std(pt.values["W"]) > 0.5


# ───────────────────────────── stacked complex steps ─────────────────────────────

_kk = ir.Index("k", n)
BATCHED = [
    ("sum(x ⊙ sin x)", ir.Sum(ir.Hadamard(x, ap("sin", x))), x),
    ("W tanh(Wᵀ x)", mm(W, ap("tanh", mm(T(W), x))), x),
    ("tr(A X⁻¹)", ir.Trace(mm(A, ir.Inverse(X))), X),
    ("det X", ir.Det(X), X),
    ("logdet X", ir.LogDet(X), X),
    ("X² and X⁻²", add(ir.Power(X, 2), ir.Power(X, -2)), X),
    ("softmax", ir.Softmax(u), u),
    ("logsumexp", ir.LogSumExp(u), u),
    ("x/‖x‖", ir.Div(x, ir.Norm(x)), x),
    ("sum(x) x ⊘ (x.^2 + 1) − x.^3", sub(sc(ir.Sum(x), ir.HadDiv(x, add(ir.EPower(x, 2), ir.Ones((n, 1))))),
                                          ir.EPower(x, 3)), x),
    ("broadcast sum", ir.Broadcast(ir.Sum(ir.Hadamard(x, x)), (n, m)), x),
    ("declared C and σ", ir.CallVec("C", ap("sigma", mm(W, xm), declared=True)), W),
    ("declared ∇C", ir.CallVec("C", u, 1), u),
    ("entries and an index sum", add(ir.Entry(mm(A, x), (2,)),
                                     ir.IndexSum(_kk, ir.Hadamard(ir.Entry(x, (_kk,)), ir.Entry(mm(A, x), (_kk,))))), x),
    ("let name", mm(ir.Named("r", sub(mm(A, x), y)), T(ir.Named("r", sub(mm(A, x), y)))), x),
]


@pytest.mark.parametrize("name,e,wrt", BATCHED, ids=[t for t, _, _ in BATCHED])
@pytest.mark.parametrize("inst", [0, 1, 2, 3])
def test_stacked_complex_step_equals_column_by_column(name, e, wrt, inst):
    D = d(e, wrt, "numerator", kind="jacobian")
    pt = N.make_point([D], seed=3 + inst, instantiation=inst)
    got = {}
    for batch in (True, False):
        ev = _Evaluator(pt, strict=False)
        ev.batch = batch
        with np.errstate(all="ignore"):
            J, Je, _, _ = ev.jacobian(D)
        got[batch] = (J, Je, ev.fd_evals, ev.batch_ok)
    (Jb, Eb, nb, ok), (Jc, Ec, nc, _) = got[True], got[False]
    assert ok and all(v[0] for v in ok.values())  # the stacked evaluation was taken ...
    assert nb < nc  # ... in fewer evaluations
    scale = max(1.0, float(np.max(np.abs(Jc))))
    np.testing.assert_allclose(Jb, Jc, rtol=0, atol=1e-13 * scale)
    assert np.all(Eb >= Ec * (1 - 1e-12)) and np.all(Eb <= 1e-12 * scale)  # errors: at least the columns' own


def test_paths_through_unstacked_nodes_go_column_by_column():
    D = d(ir.Vec(ir.Kron(x, ap("tanh", x))), x, "numerator", kind="jacobian")
    pt = N.make_point([D], seed=1)
    ev = _Evaluator(pt, strict=False)
    with np.errstate(all="ignore"):
        J, _, _, _ = ev.jacobian(D)
    assert not any(v[0] for v in ev.batch_ok.values())
    assert ev.fd_evals >= x_size(pt)  # one evaluation per column (plus the probe)
    xv = pt.values["x"][:, 0]
    want = np.vstack([np.kron(np.eye(len(xv))[:, [c]], np.tanh(xv)[:, None])
                      + np.kron(xv[:, None], (np.eye(len(xv))[:, c] * (1 - np.tanh(xv) ** 2))[:, None])
                      for c in range(len(xv))]).reshape(len(xv), -1).T
    np.testing.assert_allclose(J, want, rtol=1e-12, atol=1e-12)


def x_size(pt):
    return pt.values["x"].size


@pytest.mark.parametrize("inst", [0, 1, 2])
def test_entry_derivatives_share_one_stacked_jacobian(inst):
    jj, kk = ir.Index("j", n), ir.Index("k", m)
    f = ir.CallVec("C", ap("sigma", mm(W, xm), declared=True))
    D = d(f, ir.Entry(W, (jj, kk)))
    pt = N.make_point([D], seed=7 + inst, instantiation=inst)
    vals = {}
    for batch in (True, False):
        ev = _Evaluator(pt, strict=False)
        ev.batch = batch
        out = {}
        with np.errstate(all="ignore"):
            for a in range(1, pt.sizes["n"] + 1):
                for c in range(1, pt.sizes["m"] + 1):
                    saved = ev.push({("idx", "j"): a, ("idx", "k"): c})
                    out[a, c] = float(ev.ev(D)[0, 0])
                    ev.pop(saved)
        vals[batch] = (out, ev.fd_evals, len(ev.entry_jac))
    (vb, nb, kept), (vc, nc, _) = vals[True], vals[False]
    assert kept == 1 and nb < nc  # one whole Jacobian served every entry
    for key in vc:
        assert vb[key] == pytest.approx(vc[key], rel=1e-13, abs=1e-15)
    # and the entries are the closed form C'(σ(W x)) ⊙ σ'(W x) xᵀ
    closed = N.evaluate(mm(ir.Hadamard(ir.CallVec("C", ap("sigma", mm(W, xm), declared=True), 1),
                                       ap("sigma", mm(W, xm), 1, declared=True)), T(xm)), pt)
    for (a, c), v in vb.items():
        assert v == pytest.approx(closed[a - 1, c - 1], rel=1e-12, abs=1e-14)


def test_entry_derivative_of_an_index_dependent_expression_is_taken_alone():
    jj = ir.Index("j", n)
    D = d(ir.EPower(ir.Entry(x, (jj,)), 3), ir.Entry(x, (jj,)))  # 3 x[j]², the expression depends on j
    pt = N.make_point([D], seed=2)
    ev = _Evaluator(pt, strict=False)
    with np.errstate(all="ignore"):
        for a in range(1, pt.sizes["n"] + 1):
            saved = ev.push({("idx", "j"): a})
            assert ev.ev(D)[0, 0] == pytest.approx(3 * pt.values["x"][a - 1, 0] ** 2, rel=1e-13)
            ev.pop(saved)
    assert not ev.entry_jac


@pytest.mark.parametrize("size,stacked", [(40, True), (150, False)])
def test_a_stack_too_large_to_hold_goes_column_by_column(size, stacked):
    e = ir.Sum(ir.Hadamard(mm(x, T(x)), A))  # xᵀ A x through an n×n intermediate
    D = d(e, x)
    pt = N.make_point([D], seed=4, sizes={"n": size})
    ev = _Evaluator(pt, strict=False)
    with np.errstate(all="ignore"):
        got = ev.ev(D)
    assert (ev.fd_evals < size) == stacked  # 150 members × 150² entries exceed STACK_MAX
    Av, xv = pt.values["A"], pt.values["x"]
    np.testing.assert_allclose(got, (Av + Av.T) @ xv, rtol=1e-12, atol=1e-12)


# ───────────────────────────── an exact zero against a tiny true value ─────────────────────────────


def test_a_written_zero_is_not_a_tiny_gradient():
    # 2e-12 x is far below the rounding floor of xᵀ x, but the right side 0 is exact (no rounding spread): the sharpened
    # comparison applies and the claim "= 0" is not equal (it used to pass the floor, and the diagnosis then told a
    # student that d/dx 1e-12 xᵀx = 0 "holds in denominator layout")
    tiny = ir.Num(Fraction(1, 10**12))
    lhs = d(sc(tiny, mm(T(x), x)), x)
    for seed in range(6):  # the old floor said "equal" at seeds 0, 1 and 5
        for points in (2, 3):
            r = N.check_equal(lhs, sc(0, x), seed=seed, points=points)
            assert r.status != "equal", (seed, points, r.detail)
    assert_equal(lhs, sc(ir.Num(Fraction(2, 10**12)), x))


def test_a_zero_that_is_rounding_noise_keeps_the_floor():
    # (x - x)ᵀ(x - x) has the gradient 0 computed exactly; a side that is rounding noise keeps the rounding floor
    assert_equal(d(mm(T(add(x, ir.Neg(x))), add(x, ir.Neg(x))), x), sc(0, x))


# ───────────────────────────── derivatives of saturated activations ─────────────────────────────


def _mp_derivative(fn: str, order: int, x: float) -> float:
    """The order-th derivative of tanh, σ or softplus at ``x`` in 60-digit arithmetic (mpmath, by its own
    differentiation of the closed form: nothing of the numeric method)."""
    import mpmath as mp

    with mp.workdps(60):
        f = {"tanh": mp.tanh, "sigma": lambda t: 1 / (1 + mp.exp(-t)),
             "softplus": lambda t: mp.log(1 + mp.exp(t))}[fn]
        return float(mp.diff(f, mp.mpf(x), order))


@pytest.mark.parametrize("fn", ["tanh", "sigma", "softplus"])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_activation_derivatives_keep_their_digits_where_they_saturate(fn, order):
    """``tanh'(z)`` written as ``1 − tanh(z)²`` is 0 at z = 20 (truly 1.7e-17) and off by 2e-4 at z = 15, while the
    complex step through tanh keeps every digit: a 256-layer residual network's program (δ ⊙ tanh'(z)) then looked
    wrong by 1e-2 at saturated layers. Every derivative order stays within 1e-12 relative up to |z| = 30."""
    xs = np.array([[-30.0, -17.5, -6.0, -0.3, 0.4, 3.0, 11.0, 20.0, 30.0]])
    got = N.evaluate(ir.Apply(fn, ir.Var("z", (1, 9)), order), N.Point(sizes={}, values={"z": xs}))
    for x, g in zip(xs[0], got[0]):
        want = _mp_derivative(fn, order, float(x))
        assert abs(g - want) <= 1e-12 * abs(want) + 1e-300, (fn, order, x, g, want)


def test_complex_step_through_a_saturated_derivative_is_exact():
    """The imaginary part of tanh'(z + i h) / h is tanh''(z), saturated or not (second-order checks step through
    first derivatives)."""
    xs = np.array([[-18.0, 0.5, 14.0]])
    h = 1e-20
    from matcalc.verify.numeric.scalars import _scalar_fn

    got = _scalar_fn("tanh", 1, xs + 1j * h)
    for x, g in zip(xs[0], got[0]):
        want = _mp_derivative("tanh", 2, float(x))
        assert abs(g.imag / h - want) <= 1e-12 * abs(want), (x, g, want)

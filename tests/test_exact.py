"""Tests of the exact method (matcalc.verify.exact): true claims are "equal", wrong variants "different" with an
exact counterexample; Parr & Howard's tables A3–A5 (THEOREMS.md, numerator layout), the issue's acceptance claims,
layouts, let names, free indices and entry derivatives. Expressions are built with the IR constructors."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
from fractions import Fraction

import pytest
import sympy

from matcalc import ir
from matcalc.ir import (
    Add, Apply, Broadcast, CallVec, Delta, Derivative, Diag, Div, Entry, EPower, HadDiv, Hadamard, Identity, Index,
    IndexSum, Inverse, Kron, LogDet, LogSumExp, MatMul, MaxMin, Named, Neg, Norm, Num, Ones, Power, Scale, Softmax,
    Sum, Trace, Transpose, Var, Vec,
)
from matcalc.verify import exact
from matcalc.verify.exact import ExactEnv, check_equal, choose_sizes, evaluate
from matcalc.verify.exact import check as exact_check  # where check_equal looks up its stages

ROOT = pathlib.Path(__file__).resolve().parents[1]

# ───────────────────────────── fixtures: variables ─────────────────────────────

n, m = "n", "m"
w = Var("w", (n, 1))
x = Var("x", (n, 1))
xm = Var("x", (m, 1))
y = Var("y", (n, 1))
z = Var("z", (n, 1))
a_m = Var("a", (m, 1))
b = Var("b", (n, 1))
c = Var("c", (1, 1))  # a scalar
zs = Var("zeta", (1, 1))
A = Var("A", (n, n))
As = Var("A", (n, n), frozenset({"symmetric"}))
W = Var("W", (n, m))
X = Var("X", (n, m))
Xsq = Var("X", (n, n))
P = Var("P", (n, n), frozenset({"spd"}))
S = Var("S", (n, n), frozenset({"symmetric"}))
Am = Var("A", ("k", n))
Bm = Var("B", (m, "k"))
p_pos = Var("p", (n, 1), frozenset({"positive"}))
yprob = Var("y", (n, 1), frozenset({"probability"}))


def T(e):
    return Transpose(e)


def mm(*args):
    return MatMul(tuple(args))


def add(*args):
    return Add(tuple(args))


def sub(a, b_):
    return Add((a, Neg(b_)))


def num(v):
    return Num(Fraction(v))


def sc(k, e):
    return Scale(num(k), e)


def dnum(e, wrt):
    return Derivative(e, wrt, "d", "numerator")


def dmix(e, wrt):
    return Derivative(e, wrt, "d", "mixed")


def sq_norm(e):
    return Power(Norm(e), Fraction(2))


def f(e, order=0):
    return Apply("f", e, order, True)


def sig(e, order=0, declared=False):
    return Apply("sigma", e, order, declared)


def ones(d):
    return Ones((d, 1))


def bc(s, d):
    return Broadcast(s, (d, 1))


def judge(lhs, rhs, **kw):
    return check_equal(lhs, rhs, budget_s=kw.pop("budget_s", 8.0), **kw)


# ───────────────────────────── the claim tables ─────────────────────────────

# (id, lhs, rhs) that hold
TRUE_CLAIMS = [
    # Parr & Howard A3: element-wise binary operators (numerator layout)
    ("A3 d(w+x)/dw = I", dnum(add(w, x), w), Identity(n)),
    ("A3 d(w+x)/dx = I", dnum(add(w, x), x), Identity(n)),
    ("A3 d(w-x)/dw = I", dnum(sub(w, x), w), Identity(n)),
    ("A3 d(w-x)/dx = -I", dnum(sub(w, x), x), Neg(Identity(n))),
    ("A3 d(w⊙x)/dw = diag(x)", dnum(Hadamard(w, x), w), Diag(x)),
    ("A3 d(w⊙x)/dx = diag(w)", dnum(Hadamard(w, x), x), Diag(w)),
    ("A3 d(w⊘x)/dw = diag(1⊘x)", dnum(HadDiv(w, x), w), Diag(HadDiv(ones(n), x))),
    ("A3 d(w⊘x)/dx = diag(-w⊘x²)", dnum(HadDiv(w, x), x), Neg(Diag(HadDiv(w, EPower(x, Fraction(2)))))),
    ("A3 d max(w,x)/dw = diag(step(w-x))", dnum(MaxMin("max", w, x), w), Diag(Apply("step", sub(w, x)))),
    ("A3 d max(0,x)/dx = diag(step(x))", dnum(MaxMin("max", bc(num(0), n), x), x), Diag(Apply("step", x))),
    # A4: scalar expansion
    ("A4 d(x+z)/dx = I", dnum(add(x, bc(zs, n)), x), Identity(n)),
    ("A4 d(x+z)/dz = 1", dnum(add(x, bc(zs, n)), zs), ones(n)),
    ("A4 d(xz)/dx = I z", dnum(Scale(zs, x), x), Scale(zs, Identity(n))),
    ("A4 d(xz)/dz = x", dnum(Scale(zs, x), zs), x),
    ("A4 d(x-z)/dz = -1", dnum(sub(x, bc(zs, n)), zs), Neg(ones(n))),
    ("A4 d(x/z)/dx = I/z", dnum(Div(x, zs), x), Div(Identity(n), zs)),
    ("A4 d(x/z)/dz = -x/z²", dnum(Div(x, zs), zs), Neg(Div(x, Power(zs, Fraction(2))))),
    # A5: vector sum reduction
    ("A5 d sum(x)/dx = 1ᵀ", dnum(Sum(x), x), T(ones(n))),
    ("A5 d sum(xz)/dx = z 1ᵀ", dnum(Sum(Scale(zs, x)), x), Scale(zs, T(ones(n)))),
    ("A5 d sum(xz)/dz = sum(x)", dnum(Sum(Scale(zs, x)), zs), Sum(x)),
    ("A5 d wᵀx/dw = xᵀ", dnum(mm(T(w), x), w), T(x)),
    ("A5 d wᵀx/dx = wᵀ", dnum(mm(T(w), x), x), T(w)),
    ("A5 d sum(f(x))/dx = 1ᵀ diag(f'(x))", dnum(Sum(f(x)), x), mm(T(ones(n)), Diag(f(x, 1)))),
    # the acceptance claims
    ("xᵀAx, symmetric A", dmix(mm(T(x), As, x), x), sc(2, mm(As, x))),
    ("xᵀAx = (A+Aᵀ)x", dmix(mm(T(x), A, x), x), mm(add(A, T(A)), x)),
    ("‖Wx−y‖² by W", dmix(sq_norm(sub(mm(W, xm), y)), W), sc(2, mm(sub(mm(W, xm), y), T(xm)))),
    ("grad C(σ(z)), generic C and σ",
     Derivative(CallVec("C", sig(z, declared=True)), z, "grad"),
     Hadamard(CallVec("C", sig(z, declared=True), 1), sig(z, 1, declared=True))),
    # built-in functions and their primes
    ("σ' = σ(1−σ)", dmix(Sum(sig(z)), z), Hadamard(sig(z), sub(ones(n), sig(z)))),
    ("builtin σ'(z) prime", sig(z, 1), Hadamard(sig(z), sub(ones(n), sig(z)))),
    ("softplus' = σ", dmix(Sum(Apply("softplus", z)), z), sig(z)),
    ("tanh' = 1 − tanh²", dmix(Sum(Apply("tanh", z)), z), sub(ones(n), EPower(Apply("tanh", z), Fraction(2)))),
    ("relu' = step", dmix(Sum(Apply("relu", z)), z), Apply("step", z)),
    ("abs on positive", Apply("abs", p_pos), p_pos),
    ("d log(p)/dp, p > 0", dmix(Sum(Apply("log", p_pos)), p_pos), HadDiv(ones(n), p_pos)),
    ("d ‖x‖/dx = x/‖x‖", dmix(Norm(x), x), Div(x, Norm(x))),
    ("logsumexp' = softmax", dmix(LogSumExp(z), z), Softmax(z)),
    ("cross-entropy with a probability y",
     dmix(Neg(mm(T(yprob), Apply("log", Softmax(z)))), z), sub(Softmax(z), yprob)),
    # traces, determinants, inverses, Kronecker products
    ("tr(A X B) by X = Aᵀ Bᵀ", dmix(Trace(mm(Am, Var("X", (n, m)), Bm)), Var("X", (n, m))), mm(T(Am), T(Bm))),
    ("logdet X by X = X⁻ᵀ", dmix(LogDet(Xsq), Xsq), T(Inverse(Xsq))),
    ("det X by X = det(X) X⁻ᵀ", dmix(ir.Det(Xsq), Xsq), Scale(ir.Det(Xsq), T(Inverse(Xsq)))),
    ("logdet P, P spd (symmetric convention)", dmix(LogDet(P), P), Inverse(P)),
    ("tr(AS), S symmetric: (A+Aᵀ)/2", dmix(Trace(mm(A, S)), S), Div(add(A, T(A)), num(2))),
    ("vec(W x) by vec W: xᵀ ⊗ I", Derivative(mm(W, xm), W, "jacobian"), Kron(T(xm), Identity(n))),
    ("d(Wx)/dx mixed = W", dmix(mm(W, xm), xm), W),
    ("d(Wx)/dx denominator = Wᵀ", Derivative(mm(W, xm), xm, "d", "denominator"), T(W)),
    ("‖Wx−y‖² by W, numerator", dnum(sq_norm(sub(mm(W, xm), y)), W), sc(2, mm(xm, T(sub(mm(W, xm), y))))),
    ("vec(AXB) = (Bᵀ⊗A) vec X", Vec(mm(Am, Var("X", (n, m)), Bm)), mm(Kron(T(Bm), Am), Vec(Var("X", (n, m))))),
    ("Hessian of xᵀAx", dmix(dmix(mm(T(x), A, x), x), x), add(A, T(A))),
    ("d(A⁻¹)... d/dc (c I + A)⁻¹ scalar", dmix(Trace(Inverse(add(Scale(c, Identity(n)), P))), c),
     Neg(Trace(Power(add(Scale(c, Identity(n)), P), Fraction(-2))))),
]

# (id, lhs, rhs) that fail
FALSE_CLAIMS = [
    ("A3 d(w-x)/dx = I (sign)", dnum(sub(w, x), x), Identity(n)),
    ("A3 d(w⊙x)/dw = diag(w)", dnum(Hadamard(w, x), w), Diag(w)),
    ("A3 d(w⊘x)/dw = diag(x)", dnum(HadDiv(w, x), w), Diag(x)),
    ("A3 d(w⊘x)/dx = diag(w⊘x²) (sign)", dnum(HadDiv(w, x), x), Diag(HadDiv(w, EPower(x, Fraction(2))))),
    ("A3 d max(w,x)/dw = diag(step(x-w))", dnum(MaxMin("max", w, x), w), Diag(Apply("step", sub(x, w)))),
    ("A4 d(xz)/dx = I (missing z)", dnum(Scale(zs, x), x), Identity(n)),
    ("A4 d(x/z)/dz = x/z² (sign)", dnum(Div(x, zs), zs), Div(x, Power(zs, Fraction(2)))),
    ("A4 d(x+z)/dz = 1ᵀ (transposed)", dnum(add(x, bc(zs, n)), zs), T(ones(n))),
    ("A5 d sum(x)/dx = 1 (transposed)", dnum(Sum(x), x), ones(n)),
    ("A5 d sum(xz)/dz = z", dnum(Sum(Scale(zs, x)), zs), zs),
    ("A5 d wᵀx/dw = wᵀ", dnum(mm(T(w), x), w), T(w)),
    ("A5 d sum(f(x))/dx = f(x)ᵀ", dnum(Sum(f(x)), x), T(f(x))),
    ("xᵀAx = 2Ax, general A", dmix(mm(T(x), A, x), x), sc(2, mm(A, x))),
    ("‖Wx−y‖² by W = 2 x rᵀ (transposed)", dmix(sq_norm(sub(mm(W, xm), y)), W), sc(2, mm(xm, T(sub(mm(W, xm), y))))),
    ("‖Wx−y‖² by W, factor 2 missing", dmix(sq_norm(sub(mm(W, xm), y)), W), mm(sub(mm(W, xm), y), T(xm))),
    ("grad C(σ(z)) without σ'",
     Derivative(CallVec("C", sig(z, declared=True)), z, "grad"), CallVec("C", sig(z, declared=True), 1)),
    ("grad C(σ(z)) with σ instead of σ'",
     Derivative(CallVec("C", sig(z, declared=True)), z, "grad"),
     Hadamard(CallVec("C", sig(z, declared=True), 1), sig(z, declared=True))),
    ("σ' = σ(1+σ)", dmix(Sum(sig(z)), z), Hadamard(sig(z), add(ones(n), sig(z)))),
    ("tanh' = 1 + tanh²", dmix(Sum(Apply("tanh", z)), z), add(ones(n), EPower(Apply("tanh", z), Fraction(2)))),
    ("abs on a real vector", Apply("abs", x), x),
    ("cross-entropy without the probability constraint", dmix(Neg(mm(T(y), Apply("log", Softmax(z)))), z),
     sub(Softmax(z), y)),
    ("tr(AXB) by X = Bᵀ Aᵀ (order)", dmix(Trace(mm(A, Xsq, Var("B", (n, n)))), Xsq),
     mm(T(Var("B", (n, n))), T(A))),
    ("logdet X by X = X⁻¹ (missing transpose)", dmix(LogDet(Xsq), Xsq), Inverse(Xsq)),
    ("tr(AS), S symmetric = Aᵀ", dmix(Trace(mm(A, S)), S), T(A)),
    ("vec(W x) by vec W: I ⊗ xᵀ", Derivative(mm(W, xm), W, "jacobian"), Kron(Identity(n), T(xm))),
    ("d(Wx)/dx denominator = W", Derivative(mm(Var("W", (n, n)), x), x, "d", "denominator"), Var("W", (n, n))),
    ("Hessian of xᵀAx = 2A", dmix(dmix(mm(T(x), A, x), x), x), sc(2, A)),
    ("relu' = relu", dmix(Sum(Apply("relu", z)), z), Apply("relu", z)),
]


@pytest.mark.parametrize("name,lhs,rhs", TRUE_CLAIMS, ids=[t[0] for t in TRUE_CLAIMS])
def test_true_claims_are_equal(name, lhs, rhs):
    res = judge(lhs, rhs)
    assert res.status == "equal", (name, res)
    assert res.counterexample is None
    assert res.sizes_tried and "SymPy" in res.detail


@pytest.mark.parametrize("name,lhs,rhs", FALSE_CLAIMS, ids=[t[0] for t in FALSE_CLAIMS])
def test_false_claims_are_different(name, lhs, rhs):
    res = judge(lhs, rhs)
    assert res.status == "different", (name, res)
    cex = res.counterexample
    assert cex is not None and cex["sizes"]
    if cex.get("transposed_shapes"):
        assert "transposed" in cex["note"]
        return
    assert cex["entries"], cex
    for ent in cex["entries"]:
        assert ent["lhs"] != ent["rhs"]
        i, j = ent["entry"]
        assert i >= 1 and j >= 1
    # every symbol has a small exact value
    for v in cex["point"].values():
        q = sympy.Rational(v)
        assert abs(q) <= 8 and q.q <= 64


def test_claim_tables_are_large_enough():
    assert len(TRUE_CLAIMS) >= 20 and len(FALSE_CLAIMS) >= 20


# ───────────────────────────── counterexamples recomputed independently ─────────────────────────────


def _subs_point(expr_matrix, env, point):
    by_display = {info.display: s for s, info in env.symbols.items()}
    return expr_matrix.xreplace({by_display[k]: sympy.Rational(v) for k, v in point.items()})


def test_counterexample_values_are_the_sides_at_the_point():
    lhs = dmix(mm(T(x), A, x), x)
    rhs = sc(2, mm(A, x))
    res = judge(lhs, rhs)
    assert res.status == "different"
    cex = res.counterexample
    env = ExactEnv(sizes=cex["sizes"])
    # recompute both sides by hand: (A + Aᵀ) x and 2 A x at the point
    Am_ = evaluate(A, env=env)
    xv = evaluate(x, env=env)
    true_val = _subs_point((Am_ + Am_.T) * xv, env, cex["point"])
    claimed = _subs_point(2 * Am_ * xv, env, cex["point"])
    for ent in cex["entries"]:
        i, j = ent["entry"]
        assert sympy.Rational(ent["lhs"]) == true_val[i - 1, j - 1]
        assert sympy.Rational(ent["rhs"]) == claimed[i - 1, j - 1]
        assert true_val[i - 1, j - 1] != claimed[i - 1, j - 1]


def test_counterexample_with_generic_functions_lists_their_values():
    lhs = Derivative(CallVec("C", sig(z, declared=True)), z, "grad")
    rhs = CallVec("C", sig(z, declared=True), 1)
    res = judge(lhs, rhs)
    assert res.status == "different"
    funcs = res.counterexample["functions"]
    assert any(k.startswith("sigma'(") for k in funcs), funcs
    assert any(k.startswith("C_") for k in funcs), funcs


def test_shared_environments_keep_every_verdict():
    # one document's claims share the environments (check_equal's ``shared``): a shared subexpression is expanded
    # once, and every claim still gets its own verdict — the tables judged in one shared dict, interleaved true and
    # false, give the statuses they give alone
    claims = [c for pair in zip(TRUE_CLAIMS, FALSE_CLAIMS) for c in zip(pair, ("equal", "different"))]
    claims += [(c, "equal") for c in TRUE_CLAIMS[len(FALSE_CLAIMS):]]
    claims += [(c, "different") for c in FALSE_CLAIMS[len(TRUE_CLAIMS):]]
    documents, declared, shared = 0, {}, None
    for (name, lhs, rhs), want in claims:
        names = {v.name: (v.dims, v.props) for e in (lhs, rhs) for v in ir.walk(e) if isinstance(v, Var)}
        if shared is None or any(declared.get(k, d) != d for k, d in names.items()):
            documents, declared, shared = documents + 1, {}, {}  # a document declares each name once
        declared.update(names)
        assert check_equal(lhs, rhs, shared=shared).status == want, name
    assert documents < len(claims) / 3  # most claims shared their environments with others


def test_shared_counterexample_names_only_the_claims_own_variables():
    shared: dict = {}
    assert check_equal(dmix(mm(T(y), A, x), x), mm(T(A), y), shared=shared).status == "equal"  # A, x, y made
    lhs, rhs = dmix(mm(T(x), A, x), x), sc(2, mm(A, x))
    res = check_equal(lhs, rhs, shared=shared)
    assert res.status == "different"
    cex = res.counterexample
    assert {k.split("[")[0] for k in cex["point"]} == {"A", "x"}, cex["point"]  # not y
    env = ExactEnv(sizes=cex["sizes"])
    Am_, xv = evaluate(A, env=env), evaluate(x, env=env)
    true_val = _subs_point((Am_ + Am_.T) * xv, env, cex["point"])
    claimed = _subs_point(2 * Am_ * xv, env, cex["point"])
    for ent in cex["entries"]:
        i, j = ent["entry"]
        assert sympy.Rational(ent["lhs"]) == true_val[i - 1, j - 1] != claimed[i - 1, j - 1]


# ───────────────────────────── sizes ─────────────────────────────


def test_choose_sizes_distinct_and_permuted():
    e = dmix(sq_norm(sub(mm(W, xm), y)), W)
    sizes = choose_sizes([e])
    assert sizes[0]["n"] != sizes[0]["m"]
    assert sizes[1] == {"n": sizes[0]["m"], "m": sizes[0]["n"]}
    assert all(2 <= v <= 4 for s in sizes for v in s.values())


def test_choose_sizes_products_fixed_and_three_symbols():
    e = Vec(mm(Am, Var("X", (n, m)), Bm))  # symbols k, n, m and the product k*m
    sizes = choose_sizes([e])
    assert len(set(sizes[0].values())) == 3
    assert sorted(sizes[0].values()) == [2, 3, 4]
    fixed = choose_sizes([e], fixed={"k": 2})
    assert all(s["k"] == 2 for s in fixed) and all(s["n"] != s["m"] for s in fixed)
    assert choose_sizes([Var("Q", (3, 2))]) == [{}]


def test_choose_sizes_respects_budget():
    e = Derivative(Kron(Var("A", (n, n)), Var("B", (m, m))), Var("A", (n, n)), "jacobian")
    sizes = choose_sizes([e])
    assert sizes
    for s in sizes:
        var_entries, largest = exact._cost([e], s)
        assert var_entries <= exact.MAX_VAR_ENTRIES and largest <= exact.MAX_NODE_ENTRIES
        assert s["n"] != s["m"]


def test_missing_transpose_is_caught_only_at_distinct_sizes():
    # d/dx (Wx) = W holds, = Wᵀ fails; with W square the shapes agree and only distinct values decide
    Wsq = Var("W", (n, n))
    res = judge(dmix(mm(Wsq, x), x), T(Wsq))
    assert res.status == "different"


# ───────────────────────────── let names, free indices, entries ─────────────────────────────


def test_named_derivative_is_through_the_name_only():
    zn = Named("z", x)
    e = add(sq_norm(zn), Sum(x))  # ‖z‖² + sum(x), z = x
    assert judge(Derivative(e, zn, "grad"), sc(2, zn)).status == "equal"
    assert judge(Derivative(e, zn, "grad"), add(sc(2, zn), ones(n))).status == "different"
    # by the variable itself both paths count
    assert judge(Derivative(e, x, "grad"), add(sc(2, x), ones(n))).status == "equal"


def test_named_delta_of_a_network_layer():
    zn = Named("z", add(mm(W, a_m), b))
    cost = CallVec("C", sig(zn, declared=True))
    delta = Derivative(cost, zn, "grad")
    want = Hadamard(CallVec("C", sig(zn, declared=True), 1), sig(zn, 1, declared=True))
    assert judge(delta, want).status == "equal"
    # BP4 as a matrix: d/dW C = δ aᵀ; and its transposed mistake
    assert judge(dmix(cost, W), mm(delta, T(a_m))).status == "equal"
    assert judge(dmix(cost, W), mm(a_m, T(delta))).status == "different"


J, K, I_ = Index("j", n), Index("k", m), Index("i", n)


def test_free_index_claim_componentwise_layer():
    zn = Named("z", add(mm(W, a_m), b))
    lhs = Entry(zn, (J,))
    rhs = add(IndexSum(K, mm(Entry(W, (J, K)), Entry(a_m, (K,)))), Entry(b, (J,)))
    assert judge(lhs, rhs).status == "equal"
    wrong = add(IndexSum(K, mm(Entry(W, (J, K)), Entry(a_m, (K,)))), Neg(Entry(b, (J,))))
    res = judge(lhs, wrong)
    assert res.status == "different"
    assert "j" in res.counterexample["indices"]


def test_free_index_only_one_value_wrong():
    # x[j] = x[1] holds for j = 1 only: every value of the free index is checked
    res = judge(Entry(x, (J,)), Entry(x, (1,)))
    assert res.status == "different"
    assert res.counterexample["indices"]["j"] >= 2


def test_entry_derivative_bp4():
    zn = Named("z", add(mm(W, a_m), b))
    cost = CallVec("C", sig(zn, declared=True))
    delta = Hadamard(CallVec("C", sig(zn, declared=True), 1), sig(zn, 1, declared=True))
    lhs = dmix(cost, Entry(W, (J, K)))
    assert judge(lhs, mm(Entry(a_m, (K,)), Entry(delta, (J,)))).status == "equal"
    assert judge(lhs, Entry(delta, (J,))).status == "different"
    # BP3: d/db[j] C = δ[j]
    assert judge(dmix(cost, Entry(b, (J,))), Entry(delta, (J,))).status == "equal"


def test_entry_derivative_with_delta():
    lhs = dmix(Entry(mm(W, xm), (I_,)), Entry(W, (J, K)))
    assert judge(lhs, mm(Delta(I_, J), Entry(xm, (K,)))).status == "equal"
    assert judge(lhs, Entry(xm, (K,))).status == "different"


# ───────────────────────────── conventions, soundness, budget ─────────────────────────────


def test_symmetric_conventions():
    lhs = dmix(Trace(mm(A, S)), S)
    cookbook = sub(add(A, T(A)), Hadamard(Identity(n), A))  # G + Gᵀ − G∘I with G = Aᵀ
    assert check_equal(lhs, cookbook, symmetric="cookbook").status == "equal"
    assert check_equal(lhs, cookbook).status == "different"
    assert check_equal(lhs, Div(add(A, T(A)), num(2)), symmetric="cookbook").status == "different"


def test_unsimplifiable_true_claim_is_never_equal_without_symbolic_zero():
    # sqrt(x²) = |x| holds for real x; the exact method may not prove it, but must not call it different
    res = judge(EPower(EPower(x, Fraction(2)), Fraction(1, 2)), Apply("abs", x))
    assert res.status in ("equal", "unknown")
    res2 = judge(EPower(EPower(x, Fraction(2)), Fraction(1, 2)), x)
    assert res2.status == "different"


def test_budget_gives_unknown():
    e = dmix(LogDet(Var("X", (n, n))), Var("X", (n, n)))
    res = check_equal(e, T(Inverse(Var("X", (n, n)))), budget_s=0.0)
    assert res.status == "unknown" and "budget" in res.reason


def test_unsupported_wrt_raises():
    with pytest.raises(exact.ExactError):
        judge(dmix(mm(W, xm), T(W)), T(W))


def test_other_shape_mismatch_is_an_input_error():
    with pytest.raises(exact.ExactError):
        check_equal(x, Var("q", ("k", 1)))


def test_evaluate_structured_variables():
    env = ExactEnv(sizes={"n": 3})
    Sv = evaluate(S, env=env)
    assert Sv == Sv.T
    D = evaluate(Var("D", (n, n), frozenset({"diagonal"})), env=env)
    assert D[0, 1] == 0 and D[0, 0] != 0
    Y = evaluate(yprob, env=env)
    assert sympy.expand(sum(Y)) == 1
    pv = evaluate(p_pos, env=env)
    assert all(s.is_positive for s in pv)


def test_generic_function_family():
    fcls = exact.unary_function("f")
    u = sympy.Symbol("u", real=True)
    assert sympy.diff(fcls(u ** 2), u) == 2 * u * exact.unary_function("f", 1)(u ** 2)
    C = exact.vector_function("C", 2)
    a_, b_ = sympy.symbols("a b", real=True)
    assert sympy.diff(C(a_, b_), a_, b_) == sympy.diff(C(a_, b_), b_, a_)


# ───────────────────────────── independence and start-up ─────────────────────────────


def test_exact_imports_nothing_from_the_engine():
    files = sorted((ROOT / "matcalc" / "verify" / "exact").rglob("*.py"))
    assert files
    banned = ("matcalc.engine", "matcalc.rules", "matcalc.simplify", "matcalc.normal", "matcalc.verify.symbolic")
    for node in (n_ for f in files for n_ in ast.walk(ast.parse(f.read_text()))):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            assert not mod.startswith(banned), mod
            if mod == "matcalc":
                assert not {a.name for a in node.names} & {"derive", "rules", "simplify", "normal"}
        elif isinstance(node, ast.Import):
            for a in node.names:
                assert not a.name.startswith(banned), a.name
    code = ("import sys, matcalc.verify.exact as e; bad = [m for m in sys.modules if m.startswith(('matcalc.engine',"
            "'matcalc.rules','matcalc.simplify','matcalc.normal','matcalc.verify.symbolic'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_verify_package_does_not_import_sympy():
    code = "import sys, matcalc.verify; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ───────────────────────────── piecewise functions and deeper networks ─────────────────────────────

PIECEWISE = [
    ("relu(z) = z ⊙ step(z)", Apply("relu", z), Hadamard(z, Apply("step", z)), "equal"),
    ("relu(z) = z ⊙ step(−z)", Apply("relu", z), Hadamard(z, Apply("step", Neg(z))), "different"),
    ("abs(z) = z ⊙ abs'(z)", Apply("abs", z), Hadamard(z, Apply("abs", z, 1)), "equal"),
    ("max(w, x) = x + relu(w − x)", MaxMin("max", w, x), add(x, Apply("relu", sub(w, x))), "equal"),
    ("max(w, x) = x + relu(x − w)", MaxMin("max", w, x), add(x, Apply("relu", sub(x, w))), "different"),
    ("min(w, x) = −max(−w, −x)", MaxMin("min", w, x), Neg(MaxMin("max", Neg(w), Neg(x))), "equal"),
    ("relu'' = 1 (it is 0 away from 0)", Apply("relu", z, 2), Ones((n, 1)), "different"),
    ("step' = 0 away from 0", Apply("step", z, 1), ir.Zeros((n, 1)), "equal"),
    ("P&H neuron: d relu(wᵀx+b)/dw = step(wᵀx+b) xᵀ",
     dnum(Apply("relu", add(mm(T(w), x), c)), w), Scale(Apply("step", add(mm(T(w), x), c)), T(x)), "equal"),
    ("P&H neuron without the step", dnum(Apply("relu", add(mm(T(w), x), c)), w), T(x), "different"),
]


@pytest.mark.parametrize("name,lhs,rhs,want", PIECEWISE, ids=[t[0] for t in PIECEWISE])
def test_piecewise_claims(name, lhs, rhs, want):
    assert judge(lhs, rhs).status == want


def _mlp():
    W1, b1 = Var("W1", ("h", m)), Var("b1", ("h", 1))
    W2, b2 = Var("W2", (n, "h")), Var("b2", (n, 1))
    z1 = add(mm(W1, xm), b1)
    out = sub(add(mm(W2, sig(z1)), b2), y)
    return W1, W2, b1, b2, z1, out


def test_two_layer_network_gradient():
    W1, W2, _, _, z1, out = _mlp()
    lhs = dmix(sq_norm(out), W1)
    good = sc(2, mm(Hadamard(mm(T(W2), out), sig(z1, 1)), T(xm)))
    bad = sc(2, mm(Hadamard(mm(T(W2), out), sig(z1)), T(xm)))  # σ instead of σ'
    res = judge(lhs, good)
    assert res.status == "equal" and len(res.sizes_tried) == 2
    assert len(set(res.sizes_tried[0].values())) == 3
    assert judge(lhs, bad).status == "different"


def test_backprop_eq2_generic():
    W1, W2, b1, b2, _, _ = _mlp()
    zl = Named("zl", add(mm(W1, xm), b1))
    zn = Named("zn", add(mm(W2, sig(zl, declared=True)), b2))
    cost = CallVec("C", sig(zn, declared=True))
    dl, dn = Derivative(cost, zl, "grad"), Derivative(cost, zn, "grad")
    assert judge(dl, Hadamard(mm(T(W2), dn), sig(zl, 1, declared=True))).status == "equal"
    assert judge(dl, Hadamard(mm(T(W2), dn), sig(zl, 0, declared=True))).status == "different"


def test_symbol_names_never_collide():
    # a scalar named W_1 and the first entry of a vector W are different symbols
    assert judge(Var("W_1", (1, 1)), Entry(Var("W", (n, 1)), (1,))).status == "different"


def test_integer_index_raises_the_size():
    sizes = choose_sizes([Entry(x, (4,))])
    assert sizes == [{"n": 4}]
    assert judge(Entry(x, (4,)), Entry(x, (4,))).status == "equal"
    assert judge(Entry(x, (4,)), Entry(x, (3,))).status == "different"


def test_entry_and_diagonal_derivatives_take_independent_entries():
    Dg = Var("D", (n, n), frozenset({"diagonal"}))
    # d/dD tr(A D) with independent entries is Aᵀ (the numeric method's convention too)
    assert judge(dmix(Trace(mm(A, Dg)), Dg), T(A)).status == "equal"
    assert judge(dmix(Trace(mm(A, Dg)), Dg), Hadamard(Identity(n), A)).status == "different"
    # one entry of a symmetric S: d tr(A S)/dS[1, 2] = A[2, 1]
    assert judge(dmix(Trace(mm(A, S)), Entry(S, (1, 2))), Entry(A, (2, 1))).status == "equal"


def test_counterexample_is_reproducible_across_processes():
    code = (
        "import sys; sys.path.insert(0, 'tests'); from test_exact import *; "
        "r = judge(Derivative(CallVec('C', sig(z, declared=True)), z, 'grad'), CallVec('C', sig(z, declared=True), 1));"
        "print(sorted(r.counterexample['functions'].items()), r.counterexample['entries'])"
    )
    outs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": str(h), "PATH": "/usr/bin:/bin"}).stdout for h in (1, 2)}
    assert len(outs) == 1 and "C_" in outs.pop()


def test_too_many_kinks_is_unknown_never_equal():
    Xv = Var("X", (n, m))
    lhs, rhs = Sum(Apply("relu", Xv)), Sum(Hadamard(Xv, Apply("step", Xv)))
    assert judge(lhs, rhs).status == "equal"  # 6 kinks at (2, 3): every sign branch is 0
    res = check_equal(lhs, rhs, sizes=[{"n": 3, "m": 3}], budget_s=20)  # 9 kinks: beyond the branch limit
    assert res.status == "unknown" and "simplify" in res.reason
    wrong = Sum(Hadamard(Xv, Apply("step", Neg(Xv))))
    assert check_equal(lhs, wrong, sizes=[{"n": 3, "m": 3}]).status == "different"


def test_free_index_by_name_and_unbound_index():
    lhs = Entry(add(x, y), (J,))
    assert judge(lhs, add(Entry(x, (J,)), Entry(y, (J,))), free=("j",)).status == "equal"
    with pytest.raises(exact.ExactError):
        judge(lhs, Entry(x, (J,)), free=("q",))
    with pytest.raises(exact.ExactError):
        evaluate(Entry(x, (J,)), {"n": 2})


def test_evaluate_arranges_layouts():
    env = ExactEnv(sizes={"n": 2, "m": 3})
    Wv, xv = evaluate(W, env=env), evaluate(xm, env=env)
    assert evaluate(dmix(mm(W, xm), xm), env=env) == Wv
    assert evaluate(dnum(mm(W, xm), xm), env=env) == Wv
    assert evaluate(Derivative(mm(W, xm), xm, "d", "denominator"), env=env) == Wv.T
    g = evaluate(dmix(mm(T(y), W, xm), W), env=env)
    assert g.shape == (2, 3) and evaluate(dnum(mm(T(y), W, xm), W), env=env) == g.T
    jac = evaluate(Derivative(mm(W, xm), W, "jacobian"), env=env)
    assert jac.shape == (2, 6)
    # column-stacking: column c of the Jacobian is the entry W[c % 2, c // 2]
    assert jac[1, 3] == xv[1] and jac[0, 3] == 0
    assert evaluate(Derivative(mm(W, xm), W, "d", "denominator"), env=env) == jac.T


def test_limits_give_errors_or_unknown_quickly():
    import time as _t

    big = Var("V", (1000, 1000))
    t0 = _t.perf_counter()
    res = check_equal(Sum(big), Trace(big))
    assert res.status == "unknown" and "too large" in res.reason
    with pytest.raises(exact.ExactError):
        check_equal(EPower(x, Fraction(10 ** 9)), x)
    deep = x
    for _ in range(3000):
        deep = Neg(deep)
    assert check_equal(deep, x).status == "unknown"
    assert _t.perf_counter() - t0 < 10


# ───────────────────────────── claims read by the parser (matcalc.lang) ─────────────────────────────

# Each document's claims end with a comment naming the expected status.
DOCUMENTS = [
    ("A: n x n, x: n", """
        d/dx x^T A x = 2 A x            # different
        d/dx x^T A x = (A + A^T) x      # equal
        d/dx x^T A x = (A^T + A) x      # equal
        d/dx x^T A x = 2 A^T x          # different
    """),
    ("A: n x n symmetric, x: n", """
        d/dx x^T A x = 2 A x            # equal
    """),
    ("W: n x m, x: m, y: n", """
        d/dW ‖W x − y‖^2 = 2 (W x − y) x^T          # equal
        d/dW ‖W x − y‖^2 = 2 * x * (W x − y)^T      # different
        d/dW ‖W x − y‖^2 = -2 (W x − y) x^T         # different
        d/dW sum((W x - y).^2) = 2 (W x - y) x^T    # equal
        jacobian(W x, W) = kron(x^T, eye(n))        # equal
        jacobian(W x, W) = kron(eye(n), x^T)        # different
        layout numerator
        d/dW ‖W x − y‖^2 = 2 * x * (W x − y)^T      # equal
        d/dx (W x) = W                              # equal
        layout denominator
        d/dx (W x) = W^T                            # equal
    """),
    ("C: R^n -> R, sigma: R -> R, z: n", """
        grad(C(sigma(z)), z) = C'(sigma(z)) ⊙ sigma'(z)     # equal
        grad(C(sigma(z)), z) = C'(sigma(z))                 # different
        grad(C(sigma(z)), z) = C'(z) ⊙ sigma'(z)            # different
    """),
    ("C: R^n -> R, sigma: R -> R, W: n x m, a: m, b: n", """
        let z = W a + b
        let delta = grad(C(sigma(z)), z)
        d/dW[j, k] C(sigma(z)) = a[k] delta[j]      # equal
        d/dW[j, k] C(sigma(z)) = delta[j]           # different
        d/db[j] C(sigma(z)) = delta[j]              # equal
        d/dW C(sigma(z)) = delta a^T                # equal
        d/db C(sigma(z)) = delta                    # equal
        d/db C(sigma(z)) = sigma'(z)                # different
        z[j] = sum_k W[j, k] a[k] + b[j]            # equal
        z[j] = sum_k W[j, k] a[k]                   # different
    """),
    ("C: R^n -> R, sigma: R -> R, W1: h x m, b1: h, W2: n x h, b2: n, x: m", """
        let z1 = W1 x + b1
        let z2 = W2 sigma(z1) + b2
        grad(C(sigma(z2)), z1) = (W2^T grad(C(sigma(z2)), z2)) ⊙ sigma'(z1)     # equal
        grad(C(sigma(z2)), z1) = (grad(C(sigma(z2)), z2)^T W2)^T ⊙ sigma'(z1)   # equal
        grad(C(sigma(z2)), z1) = (W2^T grad(C(sigma(z2)), z2)) ⊙ sigma(z1)      # different
        grad(C(sigma(z2)), z1) = W2^T grad(C(sigma(z2)), z2)                    # different
    """),
    ("w: n, x: n, z: scalar", """
        layout numerator
        d/dw (w ⊙ x) = diag(x)      # equal
        d/dw (w ⊙ x) = diag(w)      # different
        d/dx sum(x) = ones(n)^T     # equal
        d/dz (x + z) = ones(n)      # equal
        d/dx (w ./ x) = diag(-w ./ x.^2)    # equal
        d/dx (w ./ x) = diag(w ./ x.^2)     # different
    """),
    ("y: n probability, z: n", """
        d/dz -y^T log(softmax(z)) = softmax(z) - y      # equal
        d/dz -y^T log(softmax(z)) = y - softmax(z)      # different
    """),
    ("X: n x n, P: n x n spd, S: n x n symmetric, A: n x n", """
        d/dX logdet(X) = X^-T       # equal
        d/dX logdet(X) = X^-1       # different
        d/dP logdet(P) = P^-1       # equal
        d/dS tr(A S) = (A + A^T)/2  # equal
        d/dS tr(A S) = A^T          # different
    """),
    ("x: n", """
        d/dx sum(relu(x)) = step(x)         # equal
        max(0, x) = relu(x)                 # equal
        max(0, x) = abs(x)                  # different
        d/dx sum(softplus(x)) = sigma(x)    # equal
        d/dx sum(tanh(x)) = 1 - tanh(x).^2  # equal
        d/dx sum(tanh(x)) = 1 - tanh(x)     # different
    """),
]


def _document_claims():
    from matcalc.document import Claim
    from matcalc.lang import read_document

    out = []
    for given, text in DOCUMENTS:
        text = "\n".join(line.strip() for line in text.strip().splitlines())
        lines = text.splitlines()
        doc = read_document(text, given=given)
        for st in doc.statements:
            if isinstance(st, Claim):
                want = lines[st.line - 1].rsplit("#", 1)[1].strip()
                out.append((f"{lines[st.line - 1].split('#')[0].strip()} [{given}]", st, want))
            else:
                assert type(st).__name__ != "ErrorLine", st
    return out


def test_parsed_claims():
    cases = _document_claims()
    assert sum(w == "equal" for *_, w in cases) >= 20 and sum(w == "different" for *_, w in cases) >= 15
    wrong = []
    for name, st, want in cases:
        res = check_equal(st.lhs, st.rhs, free=st.free, budget_s=8.0)
        if res.status != want:
            wrong.append((name, want, res.status, res.reason))
    assert not wrong, wrong


def test_choose_sizes_separates_every_pair_with_many_symbols():
    names = ["n1", "n2", "n3", "n4", "n5"]
    e = MatMul(tuple(Var(f"W{i}", (names[i], names[i + 1])) for i in range(4)))
    sizes = choose_sizes([e])
    assert len(sizes) == 2
    for p_, q_ in [(a_, b_) for a_ in names for b_ in names if a_ < b_]:
        assert any(s[p_] != s[q_] for s in sizes), (p_, q_, sizes)
    assert all(len(set(s.values())) > 1 for s in sizes)


def test_result_json_and_detail():
    import json

    res = judge(dmix(mm(T(x), A, x), x), sc(2, mm(A, x)))
    data = json.loads(json.dumps(res.to_json()))
    assert data["status"] == "different" and data["counterexample"]["entries"][0]["entry"][0] >= 1
    ok = judge(dmix(sq_norm(sub(mm(W, xm), y)), W), sc(2, mm(sub(mm(W, xm), y), T(xm))))
    assert ok.detail == "entry by entry with SymPy at (m, n) = (3, 2) and (2, 3)"


def test_max_assignments():
    lhs, rhs = dmix(sq_norm(sub(mm(W, xm), y)), W), sc(2, mm(sub(mm(W, xm), y), T(xm)))
    assert len(check_equal(lhs, rhs).sizes_tried) == 2
    one = check_equal(lhs, rhs, max_assignments=1)
    assert one.status == "equal" and one.sizes_tried == [{"n": 2, "m": 3}]


# ───────────────────────────── fast paths: the same answers as the plain SymPy route ─────────────────────────────


def _sym(name, **kw):
    return sympy.Symbol(name, real=True, **kw)


def test_memoized_diff_agrees_with_sympy_diff():
    u, v, t = _sym("u"), _sym("v"), _sym("t")
    fcls, gcls = exact.unary_function("f"), exact.unary_function("g")
    C = exact.vector_function("C", 2)
    inner = fcls(u * v + t)
    cases = [
        u ** 3 * v - 2 * u / v,
        C(inner, gcls(inner * u)) * inner,  # a shared subexpression under two applications
        sympy.exp(-u * t) / (1 + sympy.exp(-u * t)),
        sympy.tanh(u) * sympy.log(v ** 2 + 1) + sympy.sqrt(u ** 2 + 1) + sympy.sin(u) * sympy.cos(t),
        u ** v,  # exponent depends on the variable: handed to sympy.diff
        sympy.Max(u, v) * u,  # not a Function: handed to sympy.diff
        sympy.Abs(u * t) + sympy.Heaviside(u),
        sympy.Abs(fcls(u)) * sympy.sign(u * v),  # classes with their own derivative rule: sympy.diff
    ]
    env = ExactEnv()
    for e in cases:
        for s in (u, v, t):
            mine = exact._drop_deltas(exact._diff(e, s, {}, env))
            ref = exact._drop_deltas(sympy.diff(e, s))
            assert sympy.simplify(mine - ref) == 0, (e, s, mine, ref)
    assert exact._diff(fcls(u), v, {}, env) == 0
    assert exact._diff(fcls(u), u, {}, env) != 0


def test_cheap_zero_test_both_directions():
    u, v = _sym("u"), _sym("v")
    fcls = exact.unary_function("f")
    C = exact.vector_function("C", 2)

    def cz(*pairs):
        return exact._cheap_zeros([(None, a_, b_) for a_, b_ in pairs], ExactEnv())

    # equal: arguments equal after expansion get the same symbol; rational functions are compared exactly
    assert cz((fcls(u * (v + 1)) ** 2, fcls(u * v + u) ** 2),
              (C(u, v) * (u + 1) - u, C(u, v) * u + C(u, v) - u),
              (u / (u + 1) + 1 / (u + 1), sympy.Integer(1)),
              (sympy.sqrt(u ** 2 + 1) * v, v * sympy.sqrt(1 + u ** 2)),
              # exponentials of sums are products of exponentials of monomials: exp's law and tanh's definition
              (sympy.exp(u) * sympy.exp(v), sympy.exp(u + v)),
              (1 / (1 + sympy.exp(-u)), sympy.exp(u) / (sympy.exp(u) + 1)),
              (sympy.exp(2 * u * v) * sympy.exp(-u), (sympy.exp(u * v) ** 2) / sympy.exp(u)),
              (sympy.tanh(u), (sympy.exp(2 * u) - 1) / (sympy.exp(2 * u) + 1))) == [True] * 8
    # different, or not provable this way: never True
    assert cz((fcls(u + v), fcls(u) + fcls(v)),
              (C(u, v), C(v, u)),
              (u / (u + 1), sympy.Integer(1)),
              (sympy.sin(u) ** 2 + sympy.cos(u) ** 2, sympy.Integer(1)),  # true, but left to the full test
              (sympy.exp(u) * sympy.exp(v), sympy.exp(u * v)),
              (sympy.exp(u / 2) ** 2, sympy.exp(u) + 1),
              (sympy.tanh(u), (sympy.exp(u) - 1) / (sympy.exp(u) + 1)),
              (fcls(u) * 2, fcls(u) * sympy.Rational(2, 1) + sympy.Float(1e-30)),
              (sympy.zoo * u, sympy.zoo * u),  # undefined values are never "equal"
              (sympy.nan, sympy.nan),
              (sympy.oo * v, sympy.oo * v)) == [False] * 11


def test_cheap_zero_agrees_with_expand_on_random_polynomials():
    # polynomials in the symbols and in f(polynomial): sympy.expand (which expands inside f too) is the reference
    import random as _random

    rng = _random.Random(5)
    xs = [_sym(f"x{i}") for i in range(3)]
    fcls = exact.unary_function("f")

    def poly():
        return sum(rng.randint(-2, 2) * xs[rng.randrange(3)] ** rng.randint(0, 2) * xs[rng.randrange(3)]
                   for _ in range(3))

    seen = set()
    for _ in range(40):
        p, q = poly(), poly()
        lhs = fcls(p) * (q + 1) + p ** 2
        rhs = fcls(sympy.expand(p)) * sympy.expand(q) + fcls(p) + sympy.expand(p ** 2)
        if rng.random() < 0.5:
            rhs = rhs + (poly() - poly()) * fcls(q)  # usually different, sometimes not
        want = sympy.expand(lhs - rhs) == 0
        got = exact._cheap_zeros([(None, lhs, rhs)], ExactEnv())[0]
        assert got == want, (lhs, rhs)
        seen.add(got)
    assert seen == {True, False}


def test_true_claim_needing_the_full_zero_test_is_still_equal(monkeypatch):
    # sin(x).^2 + cos(x).^2 = ones: the cheap test sees two opaque functions, the full test (trigsimp) shows 0
    calls = []
    full = exact._symbolic_zero
    monkeypatch.setattr(exact_check, "_symbolic_zero", lambda *a_, **k: calls.append(1) or full(*a_, **k))
    lhs = add(EPower(Apply("sin", x), Fraction(2)), EPower(Apply("cos", x), Fraction(2)))
    assert judge(lhs, ones(n)).status == "equal"
    assert calls
    assert judge(lhs, sc(2, ones(n))).status == "different"


def test_exponential_identities_are_settled_by_the_cheap_test(monkeypatch):
    # Σ_ij exp(x_i) exp(a_j) = Σ_ij exp(x_i + a_j): exponentials of sums are products, so the cheap test settles it
    calls = []
    full = exact._symbolic_zero
    monkeypatch.setattr(exact_check, "_symbolic_zero", lambda *a_, **k: calls.append(1) or full(*a_, **k))
    lhs = mm(mm(T(Apply("exp", x)), ones(n)), mm(T(Apply("exp", a_m)), ones(m)))
    rhs = Sum(Apply("exp", add(mm(x, T(ones(m))), mm(ones(n), T(a_m)))))
    assert judge(lhs, rhs).status == "equal"
    assert not calls
    assert judge(lhs, sc(2, rhs)).status == "different"


def test_plain_variable_derivative_equals_sympy_diff_of_the_value():
    # the direct route (differentiate by the variable's own symbols) against sympy.diff of the evaluated expression
    body = CallVec("C", sig(add(mm(W, xm), b), declared=True))
    env = ExactEnv(sizes={"n": 3, "m": 2})
    G = evaluate(dmix(body, W), env=env)
    val = evaluate(body, env=env)[0, 0]
    Wm = evaluate(W, env=env)  # the same symbol matrix the evaluation used
    assert G.shape == (3, 2)
    for i_ in range(3):
        for j_ in range(2):
            assert sympy.expand(G[i_, j_] - sympy.diff(val, Wm[i_, j_])) == 0
    # and the same through a let name standing for the variable (the substitution route)
    Gn = evaluate(dmix(CallVec("C", sig(add(mm(Named("V", W), xm), b), declared=True)), Named("V", W)), env=env)
    assert all(sympy.expand(Gn[i_, j_] - G[i_, j_]) == 0 for i_ in range(3) for j_ in range(2))


def test_index_free_subexpressions_are_shared_across_index_values():
    # d/dW[j, k] of a cost (no free index inside the cost) at every (j, k): right and wrong answers
    zn = Named("z", add(mm(W, a_m), b))
    cost = CallVec("C", sig(zn, declared=True))
    delta = Hadamard(CallVec("C", sig(zn, declared=True), 1), sig(zn, 1, declared=True))
    lhs = dmix(cost, Entry(W, (J, K)))
    assert check_equal(lhs, mm(Entry(a_m, (K,)), Entry(delta, (J,)))).status == "equal"
    res = check_equal(lhs, mm(Entry(a_m, (K,)), Entry(delta, (1,))))
    assert res.status == "different" and res.counterexample["indices"]["j"] >= 2


def test_backprop_claims_are_settled_by_the_cheap_test(monkeypatch):
    # the generic-function backprop identities (BP1-BP4) need neither a random point nor simplify: equal by the
    # cheap zero test alone; the wrong variants still go through the probe and are different
    W1, W2, b1, b2, _, _ = _mlp()
    zl = Named("zl", add(mm(W1, xm), b1))
    zn = Named("zn", add(mm(W2, sig(zl, declared=True)), b2))
    cost = CallVec("C", sig(zn, declared=True))
    delta_n = Hadamard(CallVec("C", sig(zn, declared=True), 1), sig(zn, 1, declared=True))
    delta_l = Hadamard(mm(T(W2), delta_n), sig(zl, 1, declared=True))
    good = [(Derivative(cost, zn, "grad"), delta_n), (Derivative(cost, zl, "grad"), delta_l),
            (Derivative(cost, W1, "grad"), mm(delta_l, T(xm))), (Derivative(cost, b1, "grad"), delta_l)]

    def unexpected(*a_, **k):
        raise AssertionError("the cheap zero test should have settled every entry")

    with monkeypatch.context() as mp:
        mp.setattr(exact_check, "_probe", unexpected)
        mp.setattr(exact_check, "_symbolic_zero", unexpected)
        for lhs, rhs in good:
            assert check_equal(lhs, rhs).status == "equal", (lhs, rhs)
    for lhs, rhs in good:
        wrong = Hadamard(rhs, rhs) if rhs.shape[1] == 1 else sc(2, rhs)
        assert check_equal(lhs, wrong).status == "different", (lhs, wrong)


def test_equal_sizes_forced_by_the_budget_never_give_equal_for_a_dimension_used_as_a_number() -> None:
    """Over budget, choose_sizes falls back to (nearly) all sizes 2; a claim that uses a dimension as a number
    (``N`` in ``1/N``) could then be true only because two dimensions were equal, so "equal" is not reported."""
    from matcalc import ir
    from matcalc.verify.exact.check import _always_tied, _number_dims

    x = ir.Var("x", ("n", 1))
    e = ir.Div(ir.Sum(x), ir.Size("N"))
    assert _number_dims(e, x) == {"N"}
    assert _always_tied([{"n": 2, "N": 2}], {"N"}) == [("n", "N")]
    assert _always_tied([{"n": 2, "N": 2}, {"n": 3, "N": 2}], {"N"}) == []  # told apart by the second assignment
    assert _always_tied([{"n": 2, "m": 2}], set()) == []  # shape-only symbols: the generic typing tells them apart
    assert _always_tied([{"n": 2, "m": 2, "N": 3}], {"N"}) == []


def test_the_sizes_print_in_one_order_whatever_order_a_claim_met_them():
    """Review 5 #18: one theorem printed "at (m, n) = (2, 3)" and "at (n, m) = (2, 3)" on consecutive lines (two
    different assignments that read as one). The names are alphabetical, so the same assignment reads the same."""
    lhs, rhs = mm(W, xm), mm(W, xm)
    one = check_equal(lhs, rhs, sizes=[{"n": 2, "m": 3}], max_assignments=1)
    other = check_equal(lhs, rhs, sizes=[{"m": 3, "n": 2}], max_assignments=1)
    assert one.status == other.status == "equal"
    assert one.detail == other.detail == "entry by entry with SymPy at (m, n) = (3, 2)"
    swapped = check_equal(lhs, rhs, sizes=[{"m": 2, "n": 3}], max_assignments=1)
    assert swapped.detail == "entry by entry with SymPy at (m, n) = (2, 3)"
    wrong = check_equal(lhs, sc(2, mm(W, xm)), sizes=[{"n": 2, "m": 3}], max_assignments=1)
    assert wrong.status == "different" and "at (m, n) = (3, 2): the sides differ" in wrong.detail


@pytest.mark.parametrize("sizes", [{"n": 2}, {"n": 3}, {"n": 4}])
def test_a_probability_vectors_counterexample_shows_every_entry(sizes):
    """Review 5 #18: `y^T y = 1` with y a probability vector was refuted "at y[1]=1/4" (y[2] = 3/4 left out). Every
    entry is shown, they sum to 1, and the point alone gives the left side the counterexample reports."""
    res = check_equal(mm(T(yprob), yprob), Num(1), sizes=[sizes], max_assignments=1)
    assert res.status == "different"
    point = res.counterexample["point"]
    k = sizes["n"]
    assert list(point) == [f"y[{i}]" for i in range(1, k + 1)]
    vals = [Fraction(v) for v in point.values()]
    assert sum(vals) == 1 and all(v > 0 for v in vals)
    assert Fraction(res.counterexample["entries"][0]["lhs"]) == sum(v * v for v in vals)
    assert res.counterexample["entries"][0]["rhs"] == "1"
    # a true claim about the same vector stays equal
    assert check_equal(mm(T(yprob), Ones((n, 1))), Num(1), sizes=[sizes], max_assignments=1).status == "equal"


def test_a_probability_vectors_last_entry_is_shown_in_a_shared_environment():
    """A document's environment holds several claims' symbols; the last entry belongs to the claim that uses the
    vector (and only to it)."""
    shared: dict = {}
    other = check_equal(mm(T(x), x), mm(T(x), x), sizes=[{"n": 2}], shared=shared)
    assert other.status == "equal"
    res = check_equal(mm(T(yprob), yprob), Num(1), sizes=[{"n": 2}], shared=shared, max_assignments=1)
    assert res.status == "different" and list(res.counterexample["point"]) == ["y[1]", "y[2]"]
    mixed = check_equal(mm(T(x), x), sc(2, mm(T(x), x)), sizes=[{"n": 2}], shared=shared, max_assignments=1)
    assert mixed.status == "different" and not any(k.startswith("y") for k in mixed.counterexample["point"])


def test_a_counterexample_names_its_sizes_in_the_exact_methods_order():
    """The counterexample's "sizes" line (every format) and the exact method's detail name the sizes in the same,
    alphabetical order, whatever order the claim met them in."""
    from matcalc.api import check_text
    from matcalc.render.common import counterexample_items

    assert counterexample_items({"sizes": {"n": 2, "m": 3}})[0].startswith("sizes m=3, n=2")
    assert counterexample_items({"sizes": {"N": 3, "n": 2}})[0].startswith("sizes N=3, n=2")
    res = check_text("given W: n x m, x: m, y: n\nd/dx (W x - y)^T (W x - y) = W^T (W x - y)").results[0]
    assert res.verdict == "refuted"
    sizes = counterexample_items(res.counterexample)[0].split(";")[0]
    pairs = [p.split("=") for p in sizes.removeprefix("sizes ").split(", ")]
    assert [k for k, _v in pairs] == ["m", "n"], sizes
    shown = f"at ({', '.join(k for k, _v in pairs)}) = ({', '.join(v for _k, v in pairs)})"
    assert shown in res.methods["exact"].detail, (shown, res.methods["exact"].detail)

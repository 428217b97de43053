"""The symbolic method's normal form (matcalc.verify.symbolic): pairs it must prove equal, pairs it must not, and a few
normal forms written out.

Aimed at the paths the identities of test_simplify leave unchecked: coefficients other than 1 in products, Hadamard
and Kronecker products (a coefficient that is divided instead of multiplied shows only there), matrix powers,
symmetric, spd and diagonal names in the canonical orientation of a scalar (``xᵀ S y = yᵀ S x``), transposes of
entrywise powers, the all-ones vector in Hadamard products, mixed Kronecker products, traces, ``vec``, index sums.
Each expected answer is written out; each pair is also evaluated by the numeric method's evaluator (no engine code)
at random points, so an "equal" pair is equal and a "different" pair is different.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from matcalc import ir
from matcalc.ir import (
    Add, Apply, Broadcast, Delta, Diag, Div, Entry, EPower, HadDiv, Hadamard, Identity, Index, IndexSum, Inverse,
    Kron, MatMul, Neg, Norm, Num, Ones, Power, Scale, Sum, Trace, Transpose, Var, Zeros,
)
from matcalc.verify.numeric import evaluate, make_point
from matcalc.verify.symbolic import Link, Term, VarAtom, equivalent, normal_form

T = Transpose


def V(name, r, c=1, *props):
    return Var(name, (r, c), frozenset(props))


def mm(*a):
    return MatMul(tuple(a))


def k(v):
    return Num(Fraction(v))


A, B, C, C2 = V("A", "n", "m"), V("B", "m", "n"), V("C", "n", "n"), V("E", "n", "n")
S, P, Dg = V("S", "n", "n", "symmetric"), V("P", "n", "n", "spd"), V("D", "n", "n", "diagonal")
Q = V("Q", "n", "n", "positive")
W = V("W", "n", "m")
u, v, x, y = V("u", "n"), V("v", "n"), V("x", "n"), V("y", "n")
w = V("w", "m")
s, t = V("s", 1), V("t", 1)
one_n, one_m = Ones(("n", 1)), Ones(("m", 1))
half = Fraction(1, 2)
i_, j_, k_ = Index("i", "n"), Index("j", "n"), Index("k", "m")

EQUAL = [
    # coefficients multiply in products, Hadamard and Kronecker products
    ("(2 A)(3 w) = 6 A w", mm(Scale(k(2), A), Scale(k(3), w)), Scale(k(6), mm(A, w))),
    ("(2 C + E)(3 x) = 6 C x + 3 E x", mm(Add((Scale(k(2), C), C2)), Scale(k(3), x)),
     Add((Scale(k(6), mm(C, x)), Scale(k(3), mm(C2, x))))),
    ("(2u + x) ⊙ (3v) = 6 u⊙v + 3 x⊙v", Hadamard(Add((Scale(k(2), u), x)), Scale(k(3), v)),
     Add((Scale(k(6), Hadamard(u, v)), Scale(k(3), Hadamard(x, v))))),
    ("(2u + x) ⊗ (3wᵀ)", Kron(Add((Scale(k(2), u), x)), Scale(k(3), T(w))),
     Add((Scale(k(6), Kron(u, T(w))), Scale(k(3), Kron(x, T(w)))))),
    ("(2u + x) ⊙ (3v + y)", Hadamard(Add((Scale(k(2), u), x)), Add((Scale(k(3), v), y))),
     Add((Scale(k(6), Hadamard(u, v)), Scale(k(2), Hadamard(u, y)), Scale(k(3), Hadamard(x, v)), Hadamard(x, y)))),
    ("(2C + E) ⊙ (3C + E)", Hadamard(Add((Scale(k(2), C), C2)), Add((Scale(k(3), C), C2))),
     Add((Scale(k(6), Hadamard(C, C)), Scale(k(5), Hadamard(C, C2)), Hadamard(C2, C2)))),
    ("(2u + x).^2", EPower(Add((Scale(k(2), u), x)), 2),
     Add((Scale(k(4), Hadamard(u, u)), Scale(k(4), Hadamard(u, x)), Hadamard(x, x)))),
    ("(2C + E) ⊗ (3A + W)", Kron(Add((Scale(k(2), C), C2)), Add((Scale(k(3), A), W))),
     Add((Scale(k(6), Kron(C, A)), Scale(k(2), Kron(C, W)), Scale(k(3), Kron(C2, A)), Kron(C2, W)))),
    ("(s A)(t w) = (s t) A w", mm(Scale(s, A), Scale(t, w)), Scale(Scale(s, t), mm(A, w))),
    ("x / 2 = ½ x", Div(x, k(2)), Scale(Num(half), x)),
    ("(s x) / s = x", Div(Scale(s, x), s), x),
    # matrix and scalar powers
    ("C² = C C", Power(C, 2), mm(C, C)),
    ("C³ = C C C", Power(C, 3), mm(C, C, C)),
    ("(C + I)² = C C + 2 C + I", Power(Add((C, Identity("n"))), 2),
     Add((mm(C, C), Scale(k(2), C), Identity("n")))),
    ("C⁻² = C⁻¹ C⁻¹", Power(C, -2), mm(Inverse(C), Inverse(C))),
    ("(s + t)² = s² + 2 s t + t²", Power(Add((s, t)), 2),
     Add((Power(s, 2), Scale(k(2), Scale(s, t)), Power(t, 2)))),
    ("(s²)³ = s⁶", Power(Power(s, 2), 3), Power(s, 6)),
    ("x.^2 = x ⊙ x", EPower(x, 2), Hadamard(x, x)),
    ("x.^3 = x ⊙ x ⊙ x", EPower(x, 3), Hadamard(x, Hadamard(x, x))),
    ("s ⊘ t = s / t", HadDiv(s, t), Div(s, t)),
    # the orientation of a scalar: xᵀ M y = yᵀ Mᵀ x, and Mᵀ = M for symmetric, spd and diagonal names
    ("xᵀ C y = yᵀ Cᵀ x", mm(T(x), C, y), mm(T(y), T(C), x)),
    ("xᵀ S y = yᵀ S x", mm(T(x), S, y), mm(T(y), S, x)),
    ("xᵀ P y = yᵀ P x", mm(T(x), P, y), mm(T(y), P, x)),
    ("xᵀ D y = yᵀ D x", mm(T(x), Dg, y), mm(T(y), Dg, x)),
    ("2 xᵀ S y = xᵀ S y + yᵀ S x", Scale(k(2), mm(T(x), S, y)), Add((mm(T(x), S, y), mm(T(y), S, x)))),
    ("xᵀ Q.^½ y = yᵀ (Q.^½)ᵀ x", mm(T(x), EPower(Q, half), y), mm(T(y), T(EPower(Q, half)), x)),
    # the all-ones vector and Hadamard products
    ("(1 1ᵀ) ⊙ W = W", Hadamard(mm(one_n, T(one_m)), W), W),
    ("1ᵀ (u ⊙ x) = uᵀ x", mm(T(one_n), Hadamard(u, x)), mm(T(u), x)),
    ("(u ⊙ x)ᵀ 1 = xᵀ u", mm(T(Hadamard(u, x)), one_n), mm(T(x), u)),
    ("1ᵀ (u ⊙ x ⊙ v) = sum(u ⊙ x ⊙ v)", mm(T(one_n), Hadamard(Hadamard(u, x), v)), Sum(Hadamard(u, Hadamard(x, v)))),
    ("broadcast s = s 1", Broadcast(s, ("n", 1)), Scale(s, one_n)),
    # diag in products
    ("diag(u) C x = u ⊙ (C x)", mm(Diag(u), C, x), Hadamard(u, mm(C, x))),
    ("C diag(u) x = C (u ⊙ x)", mm(C, Diag(u), x), mm(C, Hadamard(x, u))),
    ("xᵀ diag(u) C = (x ⊙ u)ᵀ C", mm(T(x), Diag(u), C), mm(T(Hadamard(u, x)), C)),
    ("diag(2u) x = 2 u ⊙ x", mm(Diag(Scale(k(2), u)), x), Scale(k(2), Hadamard(x, u))),
    # Kronecker: a row times (row ⊗ M) is the mixed product
    ("xᵀ (wᵀ ⊗ C) = wᵀ ⊗ (xᵀ C)", mm(T(x), Kron(T(w), C)), Kron(T(w), mm(T(x), C))),
    # traces and vec
    ("tr(A B) = tr(B A)", Trace(mm(A, B)), Trace(mm(B, A))),
    ("tr(2 C) = 2 tr(C)", Trace(Scale(k(2), C)), Scale(k(2), Trace(C))),
    ("tr(Cᵀ) = tr(C)", Trace(T(C)), Trace(C)),
    ("tr(C E) = tr(Eᵀ Cᵀ)", Trace(mm(C, C2)), Trace(mm(T(C2), T(C)))),
    ("vec(2 u wᵀ) = 2 w ⊗ u", ir.Vec(Scale(k(2), mm(u, T(w)))), Scale(k(2), Kron(w, u))),
    ("vec(uᵀ) = u", ir.Vec(T(u)), u),
    ("vec(u) = u", ir.Vec(u), u),
    ("sum(2 A) = 2 · 1ᵀ A 1", Sum(Scale(k(2), A)), Scale(k(2), mm(T(one_n), A, one_m))),
    ("−(C − E) = E − C", Neg(Add((C, Neg(C2)))), Add((C2, Neg(C)))),
    ("C + 0 = C", Add((C, Zeros(("n", "n")))), C),
    # max, min and functions
    ("max(u, x) = max(x, u)", ir.MaxMin("max", u, x), ir.MaxMin("max", x, u)),
    ("max(x, 0) = relu(x)", ir.MaxMin("max", x, Zeros(("n", 1))), Apply("relu", x)),
    ("σ(2x) = σ(x + x)", Apply("sigma", Scale(k(2), x)), Apply("sigma", Add((x, x)))),
    # entries and index sums
    ("[i = j] = [j = i]", Scale(Delta(i_, j_), Entry(u, (i_,))), Scale(Delta(j_, i_), Entry(u, (i_,)))),
    ("Σ_i s u[i] = s Σ_i u[i]", IndexSum(i_, Scale(s, Entry(u, (i_,)))), Scale(s, IndexSum(i_, Entry(u, (i_,))))),
    ("sum(W) = Σ_j Σ_k W[j, k]", Sum(W), IndexSum(j_, IndexSum(k_, Entry(W, (j_, k_))))),
    ("(2 W w)[j] = 2 Σ_k W[j, k] w[k]", Entry(mm(Scale(k(2), W), w), (j_,)),
     Scale(k(2), IndexSum(k_, Scale(Entry(W, (j_, k_)), Entry(w, (k_,)))))),
]

# matrix powers, inverses and determinants of one square atom (issue 13's slow list): runs of one base multiply
POWERS_EQUAL = [
    ("A^64 vs A^32 A^32", Power(C, Fraction(64)), mm(Power(C, Fraction(32)), Power(C, Fraction(32)))),
    ("inv(A^8) vs inv(A)^8", Inverse(Power(C, Fraction(8))), Power(Inverse(C), Fraction(8))),
    ("det(A^20) vs det(A)^20", ir.Det(Power(C, Fraction(20))), Power(ir.Det(C), Fraction(20))),
    ("det(A B) vs det(A) det(B)", ir.Det(mm(C, C2)), Scale(ir.Det(C), ir.Det(C2))),
    ("det(A) vs det(Aᵀ)", ir.Det(C), ir.Det(T(C))),
    ("inv(A B) vs inv(B) inv(A)", Inverse(mm(C, C2)), mm(Inverse(C2), Inverse(C))),
    ("A³ inv(A) vs A A", mm(Power(C, Fraction(3)), Inverse(C)), mm(C, C)),
    ("(Aᵀ)^20 vs (A^20)ᵀ", Power(T(C), Fraction(20)), T(Power(C, Fraction(20)))),
    ("(A²)^10 vs A^20", Power(Power(C, Fraction(2)), Fraction(10)), Power(C, Fraction(20))),
    ("inv(2A) vs inv(A)/2", Inverse(Scale(k(2), C)), Div(Inverse(C), k(2))),
    ("tr(A^20 B) vs tr(B A^20)", Trace(mm(Power(C, Fraction(20)), C2)), Trace(mm(C2, Power(C, Fraction(20))))),
]
POWERS_DIFFERENT = [
    ("A^20 vs A^19", Power(C, Fraction(20)), Power(C, Fraction(19))),
    ("inv(A B) vs inv(A) inv(B)", Inverse(mm(C, C2)), mm(Inverse(C), Inverse(C2))),
    ("det(2A) vs 2 det(A)", ir.Det(Scale(k(2), C)), Scale(k(2), ir.Det(C))),
    ("(A B)² vs A² B²", Power(mm(C, C2), Fraction(2)), mm(Power(C, Fraction(2)), Power(C2, Fraction(2)))),
    ("inv(A^8) vs inv(A)^7", Inverse(Power(C, Fraction(8))), Power(Inverse(C), Fraction(7))),
    ("A^20 B vs B A^20", mm(Power(C, Fraction(20)), C2), mm(C2, Power(C, Fraction(20)))),
]


@pytest.mark.parametrize("name,a,b", POWERS_EQUAL, ids=[e[0] for e in POWERS_EQUAL])
def test_powers_of_one_matrix_are_proved_equal(name, a, b) -> None:
    test_equal_pairs_are_proved(name, a, b)


@pytest.mark.parametrize("name,a,b", POWERS_DIFFERENT, ids=[e[0] for e in POWERS_DIFFERENT])
def test_powers_of_one_matrix_are_told_apart(name, a, b) -> None:
    test_different_pairs_are_not_proved(name, a, b)


DIFFERENT = [
    ("6 A w vs 5 A w", mm(Scale(k(2), A), Scale(k(3), w)), Scale(k(5), mm(A, w))),
    ("(2 A)(3 w) vs ⅔ A w", mm(Scale(k(2), A), Scale(k(3), w)), Scale(Num(Fraction(2, 3)), mm(A, w))),
    ("(2u) ⊙ (3v) vs ⅔ u ⊙ v", Hadamard(Add((Scale(k(2), u), x)), Scale(k(3), v)),
     Add((Scale(Num(Fraction(2, 3)), Hadamard(u, v)), Scale(Num(Fraction(1, 3)), Hadamard(x, v))))),
    ("(2u) ⊗ (3wᵀ) vs ⅔ u ⊗ wᵀ", Kron(Scale(k(2), u), Scale(k(3), T(w))), Scale(Num(Fraction(2, 3)), Kron(u, T(w)))),
    ("(2u + x) ⊙ (3v + y) vs ⅔ u⊙v + …", Hadamard(Add((Scale(k(2), u), x)), Add((Scale(k(3), v), y))),
     Add((Scale(Num(Fraction(2, 3)), Hadamard(u, v)), Scale(k(2), Hadamard(u, y)), Scale(Num(Fraction(1, 3)),
                                                                                     Hadamard(x, v)),
          Hadamard(x, y)))),
    ("(2C + E) ⊗ (3A + W) vs ⅔ C ⊗ A + …", Kron(Add((Scale(k(2), C), C2)), Add((Scale(k(3), A), W))),
     Add((Scale(Num(Fraction(2, 3)), Kron(C, A)), Scale(k(2), Kron(C, W)), Scale(Num(Fraction(1, 3)), Kron(C2, A)),
          Kron(C2, W)))),
    ("x / 2 vs 2 x", Div(x, k(2)), Scale(k(2), x)),
    ("C² vs Cᵀ C", Power(C, 2), mm(T(C), C)),
    ("C² vs 0", Power(C, 2), Zeros(("n", "n"))),
    ("C⁻² vs C⁻ᵀ C⁻¹", Power(C, -2), mm(T(Inverse(C)), Inverse(C))),
    ("(s + t)² vs s² + t²", Power(Add((s, t)), 2), Add((Power(s, 2), Power(t, 2)))),
    ("x.^2 vs x.^3", EPower(x, 2), EPower(x, 3)),
    ("xᵀ C y vs yᵀ C x", mm(T(x), C, y), mm(T(y), C, x)),
    ("xᵀ C y vs xᵀ Cᵀ y", mm(T(x), C, y), mm(T(x), T(C), y)),
    ("(1 1ᵀ) ⊙ W vs 2 W", Hadamard(mm(one_n, T(one_m)), W), Scale(k(2), W)),
    ("1ᵀ (u ⊙ x) vs uᵀ v", mm(T(one_n), Hadamard(u, x)), mm(T(u), v)),
    ("xᵀ diag(u) C vs xᵀ C", mm(T(x), Diag(u), C), mm(T(x), C)),
    ("diag(u) C x vs C (u ⊙ x)", mm(Diag(u), C, x), mm(C, Hadamard(u, x))),
    ("tr(C C) vs tr(C Cᵀ)", Trace(mm(C, C)), Trace(mm(C, T(C)))),
    ("tr(C E) vs tr(C) tr(E)", Trace(mm(C, C2)), Scale(Trace(C), Trace(C2))),
    ("vec(C) vs vec(Cᵀ)", ir.Vec(C), ir.Vec(T(C))),
    ("vec(u wᵀ) vs u ⊗ w", ir.Vec(mm(u, T(w))), Kron(u, w)),
    ("max(u, x) vs min(u, x)", ir.MaxMin("max", u, x), ir.MaxMin("min", u, x)),
    ("σ(2x) vs 2 σ(x)", Apply("sigma", Scale(k(2), x)), Scale(k(2), Apply("sigma", x))),
    ("softmax(x) vs softmax(2x)", ir.Softmax(x), ir.Softmax(Scale(k(2), x))),
    ("‖x‖ vs ‖y‖", Norm(x), Norm(y)),
    ("Σ_i u[i] vs u[j]", IndexSum(i_, Entry(u, (i_,))), Entry(u, (j_,))),
    ("1 vs 0", k(1), k(0)),
    ("s vs 1", s, k(1)),
]


# issue 13: determinants and inverses of powers, σ' and tanh' in terms of σ and tanh, the commutation matrix
Cn = V("C", "n", "n")
sig, th = Apply("sigma", x, 0), Apply("tanh", x, 0)
EQUAL += [
    ("det(C^3) = det(C)^3", ir.Det(Power(C, Fraction(3))), Power(ir.Det(C), Fraction(3))),
    ("det(C^20) = det(C)^20", ir.Det(Power(C, Fraction(20))), Power(ir.Det(C), Fraction(20))),
    ("det(C^-2) = det(C)^-2", ir.Det(Power(C, Fraction(-2))), Power(ir.Det(C), Fraction(-2))),
    ("det(C⁻¹) det(C) = 1", mm(ir.Det(Inverse(C)), ir.Det(C)), k(1)),
    ("det(C E) = det(E) det(C)", ir.Det(mm(C, C2)), mm(ir.Det(C2), ir.Det(C))),
    ("det(Cᵀ) = det(C)", ir.Det(T(C)), ir.Det(C)),
    ("det(Aᵀ Aᵀ… ) square only: det(C Cᵀ) = det(C)^2", ir.Det(mm(C, T(C))), Power(ir.Det(C), Fraction(2))),
    ("inv(C^3) = inv(C)^3", Inverse(Power(C, Fraction(3))), Power(Inverse(C), Fraction(3))),
    ("inv(inv(C)) = C", Inverse(Inverse(C)), C),
    ("inv(Cᵀ) = inv(C)ᵀ", Inverse(T(C)), T(Inverse(C))),
    ("σ'(x) = σ(x) ⊙ (1 − σ(x))", Apply("sigma", x, 1), Hadamard(sig, Add((one_n, Neg(sig))))),
    ("σ'(s) = σ(s) (1 − σ(s))", Apply("sigma", s, 1), mm(Apply("sigma", s, 0), Add((k(1), Neg(Apply("sigma", s, 0)))))),
    ("σ''(x) = σ'(x) ⊙ (1 − 2 σ(x))", Apply("sigma", x, 2),
     Hadamard(Apply("sigma", x, 1), Add((one_n, Neg(Scale(k(2), sig)))))),
    ("tanh'(x) = 1 − tanh(x).^2", Apply("tanh", x, 1), Add((one_n, Neg(EPower(th, Fraction(2)))))),
    ("tanh''(x) = −2 tanh(x) ⊙ tanh'(x)", Apply("tanh", x, 2), Neg(Scale(k(2), Hadamard(th, Apply("tanh", x, 1))))),
    ("K(m, n)ᵀ = K(n, m)", T(ir.Commutation("m", "n")), ir.Commutation("n", "m")),
]
DIFFERENT += [
    ("det(C^3) vs det(C)^2", ir.Det(Power(C, Fraction(3))), Power(ir.Det(C), Fraction(2))),
    ("det(C E) vs det(C)", ir.Det(mm(C, C2)), ir.Det(C)),
    ("det(C + E) vs det(C) + det(E)", ir.Det(Add((C, C2))), Add((ir.Det(C), ir.Det(C2)))),
    ("inv(C^3) vs inv(C)^2", Inverse(Power(C, Fraction(3))), Power(Inverse(C), Fraction(2))),
    ("inv(C E) vs inv(C) inv(E)", Inverse(mm(C, C2)), mm(Inverse(C), Inverse(C2))),
    ("σ'(x) vs σ(x) ⊙ (1 + σ(x))", Apply("sigma", x, 1), Hadamard(sig, Add((one_n, sig)))),
    ("σ''(x) vs σ'(x) ⊙ (1 + 2 σ(x))", Apply("sigma", x, 2), Hadamard(Apply("sigma", x, 1), Add((one_n, Scale(k(2), sig))))),
    ("tanh'(x) vs 1 + tanh(x).^2", Apply("tanh", x, 1), Add((one_n, EPower(th, Fraction(2))))),
    ("K(n, n) vs I", ir.Commutation("n", "n"), Identity(ir.dim_mul("n", "n"))),
    ("declared σ: σ'(x) vs σ(x) ⊙ (1 − σ(x))", Apply("sigma", x, 1, True),
     Hadamard(Apply("sigma", x, 0, True), Add((one_n, Neg(Apply("sigma", x, 0, True)))))),
]


def _value(e: ir.Expr, p) -> np.ndarray:
    return np.asarray(evaluate(e, p), dtype=float)


def _close(a: ir.Expr, b: ir.Expr, seed: int) -> bool:
    p = make_point([a, b], seed=seed, index={"i": 2, "j": 1, "k": 2})
    va, vb = _value(a, p), _value(b, p)
    return va.shape == vb.shape and np.allclose(va, vb, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,a,b", EQUAL, ids=[e[0] for e in EQUAL])
def test_equal_pairs_are_proved(name, a, b) -> None:
    assert a.shape == b.shape
    assert all(_close(a, b, seed) for seed in (0, 1)), "the expectation itself is wrong"
    assert equivalent(a, b) is True
    assert equivalent(b, a) is True
    if not any(isinstance(n, (Entry, IndexSum, Delta)) for e in (a, b) for n in ir.walk(e)):
        assert normal_form(a) == normal_form(b)  # index forms may be proved in componentwise form only


@pytest.mark.parametrize("name,a,b", DIFFERENT, ids=[e[0] for e in DIFFERENT])
def test_different_pairs_are_not_proved(name, a, b) -> None:
    assert a.shape != b.shape or not _close(a, b, 0), "the expectation itself is wrong"
    assert equivalent(a, b) is False  # a bool: "not proved"
    assert equivalent(b, a) is False


def test_a_shared_memo_of_normal_forms_changes_no_answer() -> None:
    # one memo for all the pairs (as for the claims of one document): the same answers as without it, both ways
    memo: dict = {}
    for _name, a, b in EQUAL:
        assert equivalent(a, b, memo) is True and equivalent(b, a, memo) is True
    for _name, a, b in DIFFERENT:
        assert equivalent(a, b, memo) is False and equivalent(b, a, memo) is False
    assert len(memo) > len(EQUAL)


def test_different_normal_forms_are_not_a_refutation() -> None:
    """(I + C)⁻¹ C = C (I + C)⁻¹ holds, but the normal form does not prove it: ``equivalent`` says "not proved"
    (False), and the judge reports ``unknown``, never ``different``."""
    from matcalc.verify.judge import run_symbolic

    inv = Inverse(Add((Identity("n"), C)))
    a, b = mm(inv, C), mm(C, inv)
    assert _close(a, b, 0)
    assert not equivalent(a, b)
    assert run_symbolic(a, b).status == "unknown"


def test_literal_normal_forms() -> None:
    one = Fraction(1)
    xl = Link(VarAtom("var", "x", "n", 1, False), "n", 1)
    assert normal_form(k(1)) == (("1", "1"), ((Term((), ()), one),))
    assert normal_form(k(0)) == (("1", "1"), ())
    assert normal_form(Zeros(("n", 1))) == (("n", "1"), ())
    assert normal_form(x) == (("n", "1"), ((Term((), (xl,)), one),))
    assert normal_form(Scale(k(3), x)) == (("n", "1"), ((Term((), (xl,)), Fraction(3)),))
    assert normal_form(Div(x, k(4))) == (("n", "1"), ((Term((), (xl,)), Fraction(1, 4)),))
    assert normal_form(Add((x, Neg(x)))) == (("n", "1"), ())
    # a symmetric name is its own transpose; a plain one is not
    sl = Link(VarAtom("var", "S", "n", "n", True), "n", "n")
    assert normal_form(T(S)) == (("n", "n"), ((Term((), (sl,)), one),))
    cl_t = Link(VarAtom("varT", "C", "n", "n", False), "n", "n")
    assert normal_form(T(C)) == (("n", "n"), ((Term((), (cl_t,)), one),))
    # xᵀ y is a scalar factor, with exponent 2 in (xᵀ y)²
    nf = normal_form(Power(mm(T(x), y), 2))
    assert nf[0] == ("1", "1")
    ((term, coef),) = nf[1]
    assert coef == 1 and term.chain == () and len(term.scalars) == 1 and term.scalars[0][1] == 2


def test_the_hadamard_product_of_scalars_is_their_product() -> None:
    """The simplifier turns ``s ⊙ t`` into ``s t`` before the normal form; the normal form's Hadamard product must
    agree on its own (coefficients multiply)."""
    from matcalc.verify.symbolic import _NF, _had

    a, b = Add((Scale(k(2), s), t)), Add((Scale(k(3), s), t))
    assert _had(_NF().p(a), _NF().p(b)) == _NF().p(mm(a, b))
    assert _had(_NF().p(a), _NF().p(b)) != _NF().p(mm(a, Add((s, t))))

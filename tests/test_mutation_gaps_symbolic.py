"""Pairs the symbolic method's normal form must prove, or must not, chosen where the mutation benchmark
(tests/bench/mutation.py) planted a bug that the rest of the suite let through.

Each pair's truth is settled independently of the code under test: both sides are evaluated by the numeric method's
evaluator (no engine, no normal form) at random points, so an "equal" pair is equal and a "different" pair differs.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from matcalc import ir
from matcalc.ir import Add, Entry, EPower, Hadamard, Index, IndexSum, Kron, MatMul, Num, Power, Scale, Transpose, Var
from matcalc.verify.numeric import evaluate, make_point
from matcalc.verify.symbolic import equivalent


def V(name, r, c=1, *props):
    return Var(name, (r, c), frozenset(props))


x, u = V("x", "n"), V("u", "n")
s, t = V("s", 1), V("t", 1)
i_ = Index("i", "n")


def sum_i(body):
    return IndexSum(i_, body)


u_i = Entry(u, (i_,))
C, D = V("C", "n", "n"), V("D", "p", "q")
z, y = V("z", "n*p"), V("y", "n*q")
T = Transpose

EQUAL = [
    # an entrywise power up to 4 is a Hadamard product of the base (0 < k <= 4: the bound itself included)
    ("x.^4 = x ⊙ x ⊙ x ⊙ x", EPower(x, Fraction(4)), Hadamard(x, Hadamard(x, Hadamard(x, x)))),
    ("x.^4 = x.^3 ⊙ x", EPower(x, Fraction(4)), Hadamard(EPower(x, Fraction(3)), x)),
    # a scalar is its own transpose; a row times C ⊗ D is no mixed product when C is not a row
    ("zᵀ (C ⊗ D) y = yᵀ (Cᵀ ⊗ Dᵀ) z", MatMul((T(z), Kron(C, D), y)), MatMul((T(y), Kron(T(C), T(D)), z))),
    # a factor free of the summation index moves out of the sum (and stays in the term)
    ("Σ_i s u[i] = s Σ_i u[i]", sum_i(Scale(s, u_i)), Scale(s, sum_i(u_i))),
    # the normal form itself splits a term of a sum: s² is free of i (the simplifier cannot see it inside the square)
    ("Σ_i (s u[i])² = s² Σ_i u[i]²", sum_i(Power(Scale(s, u_i), 2)), Scale(Power(s, 2), sum_i(Power(u_i, 2)))),
    ("Σ_i (s + u[i])² = 2 s Σ_i u[i] + Σ_i u[i]² + s² Σ_i 1", sum_i(Power(Add((s, u_i)), 2)),
     Add((Scale(Num(Fraction(2)), Scale(s, sum_i(u_i))), sum_i(Power(u_i, 2)),
          Scale(Power(s, 2), sum_i(Num(Fraction(1))))))),
]

DIFFERENT = [
    ("Σ_i s u[i] vs Σ_i t u[i]", sum_i(Scale(s, u_i)), sum_i(Scale(t, u_i))),
    ("Σ_i s u[i] vs Σ_i u[i]", sum_i(Scale(s, u_i)), sum_i(u_i)),
    ("Σ_i (s u[i])² vs Σ_i (t u[i])²", sum_i(Power(Scale(s, u_i), 2)), sum_i(Power(Scale(t, u_i), 2))),
    ("Σ_i (s + u[i])² vs Σ_i (t + u[i])²", sum_i(Power(Add((s, u_i)), 2)), sum_i(Power(Add((t, u_i)), 2))),
    ("zᵀ (C ⊗ D) y vs yᵀ (C ⊗ D)ᵀ z with D for Dᵀ", MatMul((T(z), Kron(C, D), y)),
     MatMul((T(y), Kron(T(C), V("D2", "q", "p")), z))),
    ("x.^4 vs x.^3 ⊙ x ⊙ x", EPower(x, Fraction(4)), Hadamard(EPower(x, Fraction(3)), Hadamard(x, x))),
]


def _close(a: ir.Expr, b: ir.Expr, seed: int) -> bool:
    p = make_point([a, b], seed=seed, index={"i": 2})
    va, vb = (np.asarray(evaluate(e, p), dtype=float) for e in (a, b))
    return va.shape == vb.shape and np.allclose(va, vb, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,a,b", EQUAL, ids=[e[0] for e in EQUAL])
def test_equal_pairs_are_proved(name, a, b) -> None:
    assert all(_close(a, b, seed) for seed in (0, 1)), "the expectation itself is wrong"
    assert equivalent(a, b) is True
    assert equivalent(b, a) is True


@pytest.mark.parametrize("name,a,b", DIFFERENT, ids=[e[0] for e in DIFFERENT])
def test_different_pairs_are_not_proved(name, a, b) -> None:
    assert not _close(a, b, 0), "the expectation itself is wrong"
    assert equivalent(a, b) is False
    assert equivalent(b, a) is False

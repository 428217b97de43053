"""The simplifier (matcalc.engine.simplify) where the mutation benchmark (tests/bench/mutation.py) planted a bug that
the rest of the suite let through: rewrites that must happen (written out by hand), and the derivation trace's record
of each rewrite (a name and a statement for the reader, and a rewrite that keeps the value).

Each rewrite's soundness is checked by the numeric method's evaluator (no engine code) at a random point.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from matcalc import ir
from matcalc.engine.simplify import GROUPS, all_rules, simplify_steps_and_result
from matcalc.ir import (
    Diag, Div, Hadamard, Identity, Kron, MatMul, Neg, Num, Scale, Transpose, Var, Zeros,
)
from matcalc.verify.numeric import evaluate, make_point

T = Transpose


def V(name, r, c=1, *props):
    return Var(name, (r, c), frozenset(props))


x, y, a, b, r, u, v = (V(n, "n") for n in "xyabruv")
s = V("s", 1)
A, B = V("A", "n", "m"), V("B", "p", "q")
I_n = Identity("n")


def _nodes(e):
    return list(ir.walk(e))


# (name, input, the simplified result written out by hand, the trace's rule name)
REWRITES = [
    ("c x / c = x", Div(Scale(s, x), s), x, "cancel"),
    ("−0 = 0", Neg(Zeros(("n", 1))), Zeros(("n", 1)), "scalar-product"),
    ("(x / s) yᵀ = (x yᵀ) / s", MatMul((Div(x, s), T(y))), Div(MatMul((x, T(y))), s), "scalar-out"),
    ("(aᵀ ⊙ bᵀ)ᵀ = a ⊙ b", T(Hadamard(T(a), T(b))), Hadamard(a, b), "transpose-hadamard"),
    ("(Aᵀ ⊗ B)ᵀ = A ⊗ Bᵀ", T(Kron(T(A), B)), Kron(A, T(B)), "transpose-kronecker"),
    ("rᵀ (aᵀ ⊗ I) = aᵀ ⊗ rᵀ", MatMul((T(r), Kron(T(a), I_n))), Kron(T(a), T(r)), "kronecker-mixed"),
    ("diag(u) diag(v) = diag(u ⊙ v)", MatMul((Diag(u), Diag(v))), Diag(Hadamard(u, v)), "diag-diag"),
    ("s ⊗ A = s A", Kron(s, A), Scale(s, A), "kronecker"),
    ("(2 a) ⊙ b = 2 (a ⊙ b)", Hadamard(Scale(Num(Fraction(2)), a), b), Scale(Num(Fraction(2)), Hadamard(a, b)),
     "scalar-out"),
    ("I I = I", MatMul((I_n, I_n)), I_n, "identity"),
]


def _close(p: ir.Expr, q: ir.Expr, seed: int = 0) -> bool:
    pt = make_point([p, q], seed=seed)
    vp, vq = (np.asarray(evaluate(e, pt), dtype=float) for e in (p, q))
    return vp.shape == vq.shape and np.allclose(vp, vq, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,e,want,rule", REWRITES, ids=[c[0] for c in REWRITES])
def test_the_rewrite_happens_and_is_recorded(name, e, want, rule) -> None:
    assert _close(e, want), "the expectation itself is wrong"
    steps, out = simplify_steps_and_result(e)
    assert out == want
    assert rule in [n for n, *_ in steps]
    for n, before, after, why in steps:  # every recorded rewrite names itself, says why, and keeps the value
        assert n and why, f"an unnamed or unexplained step {n!r}: {why!r}"
        assert _close(before, after)


def test_a_false_rewrite_would_be_noticed() -> None:
    """The soundness check above can fail: c x / c and x / c differ."""
    assert not _close(Div(Scale(s, x), s), Div(x, s))


def test_every_rule_has_a_name_and_a_statement() -> None:
    rules = all_rules()
    assert rules and all(rule.name and rule.statement for rule in rules)
    assert len({rule.name for rule in rules}) == len(rules)
    assert all(GROUPS) and {rule.name for g in GROUPS.values() for rule in g} == {rule.name for rule in rules}
    assert "index-to-matrix" in {rule.name for rule in rules}


def test_the_fuel_counts_rewrites() -> None:
    """``fuel`` is the number of rewrites left: with none the input comes back unchanged (no endless rewriting), with
    one the single rewrite c x / c → x is made."""
    from matcalc.engine.simplify import Simplifier

    e = Div(Scale(s, x), s)
    spent = Simplifier()
    spent.fuel = 0
    assert spent.go(e) is e
    one = Simplifier()
    one.fuel = 1
    assert one.go(e) == x

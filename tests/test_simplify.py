"""Tests of the simplifier (matcalc.engine.simplify): each leftover pattern of issue 3 item 4 is removed, like terms are
collected, scalars gathered, transposes pushed; every rewrite rule, applied at every node of a corpus, keeps the shape
and the value (checked with the numpy evaluator of test_derive, independent of the engine); and nothing is rewritten
that should stay (``diag(u) W`` is already closed form).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from matcalc import ir
from matcalc.engine import differentiate
from matcalc.ir import (
    Add, Apply, Broadcast, Delta, Diag, Div, Entry, EPower, Hadamard, Identity, Index, IndexSum, Kron, MatMul, Neg,
    Norm, Num, Ones, Power, Scale, Sum, Trace, Transpose, Var, Zeros,
)
from matcalc.engine.simplify import GROUPS, all_rules, simplify, simplify_steps
from test_derive import SIZES, evaluate, random_env

T = Transpose


def V(name, r, c=1, *props):
    return Var(name, (r, c), frozenset(props))


def mm(*a):
    return MatMul(tuple(a))


u, v, x, y = V("u", "n"), V("v", "n"), V("x", "n"), V("y", "n")
A, B, W = V("A", "n", "n"), V("B", "n", "n"), V("W", "n", "m")
S = V("S", "n", "n", "symmetric")
c = V("c", 1)
two = Num(2)


def same_value(a, b, *, seed=0, idx=None):
    rng = np.random.default_rng(seed)
    env = random_env(Add((a, b)) if a.shape == b.shape else a, SIZES, rng)
    for nm, val in random_env(b, SIZES, rng).items():
        env.setdefault(nm, val)
    return np.allclose(evaluate(a, env, SIZES, idx), evaluate(b, env, SIZES, idx), rtol=1e-9, atol=1e-12)


# ───────────── the leftovers of issue 3 item 4 ─────────────

CASES = [
    ("diag(u) v", mm(Diag(u), v), Hadamard(u, v)),
    ("vᵀ diag(u)", mm(T(v), Diag(u)), T(Hadamard(v, u))),
    ("1ᵀ diag(u)", mm(T(Ones(("n", 1))), Diag(u)), T(u)),
    ("diag(u) 1", mm(Diag(u), Ones(("n", 1))), u),
    ("I A", mm(Identity("n"), A), A),
    ("A I x", mm(A, Identity("n"), x), mm(A, x)),
    ("(Aᵀ)ᵀ", T(T(A)), A),
    ("0 + A", Add((Zeros(("n", "n")), A)), A),
    ("1 ⊙ A", Hadamard(Ones(("n", "n")), A), A),
    ("A x + Aᵀ x", Add((mm(A, x), mm(T(A), x))), mm(Add((A, T(A))), x)),
    ("xᵀ A + xᵀ B", Add((mm(T(x), A), mm(T(x), B))), mm(T(x), Add((A, B)))),
    ("S x + Sᵀ x", Add((mm(S, x), mm(T(S), x))), Scale(two, mm(S, x))),
    ("A x + A x", Add((mm(A, x), mm(A, x))), Scale(two, mm(A, x))),
    ("A x − A x", Add((mm(A, x), Neg(mm(A, x)))), Zeros(("n", 1))),
    ("A (2 x)", mm(A, Scale(two, x)), Scale(two, mm(A, x))),
    ("(2 u) ⊙ (3 v)", Hadamard(Scale(two, u), Scale(Num(3), v)), Scale(Num(6), Hadamard(u, v))),
    ("−(−A)", Neg(Neg(A)), A),
    ("(−A) x", mm(Neg(A), x), Neg(mm(A, x))),
    ("c ‖x‖ (x / ‖x‖)", Scale(Scale(c, Norm(x)), Div(x, Norm(x))), Scale(c, x)),
    ("(Bᵀ A)ᵀ", T(mm(T(B), A)), mm(T(A), B)),
    ("(c x)ᵀ", T(Scale(c, x)), Scale(c, T(x))),
    ("(xᵀ y)ᵀ", T(mm(T(x), y)), mm(T(x), y)),
    ("Sᵀ", T(S), S),
    ("diag(u)ᵀ", T(Diag(u)), Diag(u)),
    ("diag(u) diag(v)", mm(Diag(u), Diag(v)), Diag(Hadamard(u, v))),
    ("x.^1", EPower(x, 1), x),
    ("A^1", Power(A, 1), A),
    ("broadcast 1 ⊙ x", Hadamard(Broadcast(c, ("n", 1)), x), Scale(c, x)),
    ("sum of a scalar", Sum(c), c),
    ("xᵀ ⊗ I₁", Kron(T(x), Identity(1)), T(x)),
    ("(xᵀ y) z as scalar", mm(mm(T(x), y), T(v)), Scale(mm(T(x), y), T(v))),
    ("2 (3 A)", Scale(two, Scale(Num(3), A)), Scale(Num(6), A)),
    ("A / 2", Div(A, two), Scale(Num(Fraction(1, 2)), A)),
    ("u ⊙ v ⊙ u.^-1", Hadamard(u, Hadamard(v, EPower(u, -1))), v),
    ("uᵀ (v ⊙ u.^-1)", mm(T(u), Hadamard(v, EPower(u, -1))), mm(Ones((1, "n")), v)),
    ("1ᵀ p = 1 (probability)", mm(T(Ones(("n", 1))), V("p", "n", 1, "probability")), Num(1)),
    ("sum(p) = 1 (probability)", Sum(V("p", "n", 1, "probability")), Num(1)),
]


@pytest.mark.parametrize("name,before,after", CASES, ids=[c_[0] for c_ in CASES])
def test_leftover_removed(name, before, after):
    got = simplify(before)
    assert got == after, (str(got), str(after))
    assert got.shape == before.shape
    assert same_value(before, got)


def test_matrix_jacobian_is_left_alone():
    e = mm(Diag(Apply("sigma", mm(W, V("x", "m")), 1)), W)  # diag(σ'(z)) W is closed form already
    assert simplify(e) == e
    e2 = Add((mm(A, x), mm(B, y)))
    assert simplify(e2) == e2  # nothing to collect


def test_steps_name_their_rules():
    steps = simplify_steps(mm(T(v), Diag(u)))
    assert [s[0] for s in steps][:1] == ["vector-diag"]
    steps = simplify_steps(mm(Diag(u), v))
    assert steps[0][0] == "diag-vector" and steps[0][2] == Hadamard(u, v)
    steps = simplify_steps(mm(T(Ones(("n", 1))), Diag(u)))
    assert "ones-diag" in [s[0] for s in steps]


def test_index_rules():
    j, k, q = Index("j", "n"), Index("k", "n"), Index("q", "n")
    assert simplify(Entry(mm(u, T(v)), (j, k))) == Scale(Entry(u, (j,)), Entry(v, (k,)))
    assert simplify(Entry(Identity("n"), (j, k))) == Delta(j, k)
    assert simplify(Delta(j, j)) == Num(1)
    assert simplify(IndexSum(k, Scale(Delta(k, q), Entry(u, (k,))))) == Entry(u, (q,))
    e = Entry(Add((Scale(two, Hadamard(u, v)), Apply("exp", y))), (j,))
    out = simplify(e)
    assert not any(isinstance(n_, Entry) and not isinstance(n_.arg, Var) for n_ in ir.walk(out))
    for jj in (1, 2, 3):
        assert same_value(e, out, idx={"j": jj})


# ───────────── every rule keeps shape and value, at every node of a corpus ─────────────

def _corpus():
    m = V("x", "m")
    r = Add((mm(W, m), Neg(y)))
    exprs = [c_[1] for c_ in CASES]
    for e, w in [
        (Power(Norm(r), 2), W), (mm(T(x), A, x), x), (Apply("sigma", Add((mm(W, m), y))), m),
        (Trace(mm(A, B, T(A))), A), (Sum(Hadamard(Apply("tanh", x), EPower(u, 3))), x),
        (mm(T(u), ir.Inverse(A), v), A), (Norm(Hadamard(u, x)), x), (ir.Softmax(x), x),
        (mm(T(u), Diag(x), v), x), (Kron(u, m), u), (mm(W, m), W),
    ]:
        for layout in ("mixed", "numerator", "denominator"):
            d = differentiate(e, w, layout=layout)
            exprs.append(d.raw)
    return exprs


def test_every_rule_keeps_shape_and_value():
    fired: dict[str, int] = {r.name: 0 for r in all_rules()}
    for e in _corpus():
        for node in ir.walk(e):
            for rule in all_rules():
                out = rule.fn(node)
                if out is None:
                    continue
                fired[rule.name] += 1
                assert out.shape == node.shape, (rule.name, str(node), str(out))
                if not any(isinstance(n_, (Entry, IndexSum, Delta)) for n_ in ir.walk(node)):
                    assert same_value(node, out), (rule.name, str(node), str(out))
    unfired = [n_ for n_, k in fired.items() if k == 0 and n_ not in ("entry", "index-sum", "index-to-matrix")]
    assert not unfired, unfired  # the test exercises every matrix rule


def test_simplify_is_idempotent_and_sound_on_derivatives():
    for e in _corpus():
        s1 = simplify(e)
        assert simplify(s1) == s1, str(s1)
        assert s1.shape == e.shape
        assert same_value(e, s1)


def test_no_leftovers_in_results():
    def bad(n_):
        match n_:
            case MatMul(args=args):
                for a, b in zip(args, args[1:]):
                    if isinstance(a, Diag) and b.shape[1] == 1 or isinstance(b, Diag) and a.shape[0] == 1:
                        return True
                    if isinstance(a, Identity) or isinstance(b, Identity):
                        return True
            case Transpose(arg=Transpose()):
                return True
            case Add(args=args) if any(isinstance(a, Zeros) for a in args):
                return True
            case Hadamard(a=a, b=b) if isinstance(a, Ones) or isinstance(b, Ones):
                return True
        return False

    for e in _corpus():
        s = simplify(e)
        assert not any(bad(n_) for n_ in ir.walk(s)), str(s)


def test_groups_are_named():
    assert set(GROUPS) >= {"transpose", "products", "diag", "sums", "indices"}


# ───────────── the normal form (matcalc.verify.symbolic): sound, and complete on the textbook identities ─────────────

from matcalc.verify.symbolic import equivalent, normal_form  # noqa: E402

m_ = V("x", "m")
r_ = Add((mm(W, m_), Neg(y)))
j_, k_, i_ = Index("j", "n"), Index("k", "m"), Index("i", "n")
EQUAL = [
    ("sum = 1ᵀ x", Sum(x), mm(T(Ones(("n", 1))), x)),
    ("(A + Aᵀ) x", mm(Add((A, T(A))), x), Add((mm(A, x), mm(T(A), x)))),
    ("(A x)ᵀ = xᵀ Aᵀ", T(mm(A, x)), mm(T(x), T(A))),
    ("wᵀ x = xᵀ w", mm(T(u), x), mm(T(x), u)),
    ("S symmetric", Scale(two, mm(S, x)), Add((mm(S, x), mm(T(S), x)))),
    ("diag(u) v = u ⊙ v", mm(Diag(u), v), Hadamard(v, u)),
    ("vᵀ diag(u)", mm(T(v), Diag(u)), T(Hadamard(u, v))),
    ("‖r‖² = rᵀ r", Power(Norm(r_), 2), mm(T(r_), r_)),
    ("‖x‖ x/‖x‖ = x", Scale(Norm(x), Div(x, Norm(x))), x),
    ("tr cyclic", Trace(mm(W, T(W))), Trace(mm(T(W), W))),
    ("tr(x yᵀ) = yᵀ x", Trace(mm(x, T(y))), mm(T(y), x)),
    ("d/dx xᵀ A x", ir.Derivative(mm(T(x), A, x), x), mm(Add((A, T(A))), x)),
    ("d/dW sum of squares", ir.Derivative(Sum(EPower(r_, 2)), W), Scale(two, mm(r_, T(m_)))),
    ("numerator layout", ir.Derivative(Power(Norm(r_), 2), W, "d", "numerator"), Scale(two, mm(m_, T(r_)))),
    ("⊙ commutes", Hadamard(u, x), Hadamard(x, u)),
    ("sum(c x) = c sum(x)", Sum(Scale(c, x)), Scale(c, Sum(x))),
    ("sum(u ⊙ x) = uᵀ x", Sum(Hadamard(u, x)), mm(T(u), x)),
    ("max(0, t) = relu(t)", ir.MaxMin("max", Zeros(("n", 1)), x), Apply("relu", x)),
    ("vec(u vᵀ) = v ⊗ u", ir.Vec(mm(u, T(m_))), Kron(m_, u)),
    ("uᵀ (xᵀ ⊗ I) = vec(u xᵀ)ᵀ", mm(T(u), Kron(T(m_), Identity("n"))), T(ir.Vec(mm(u, T(m_))))),
    ("S u ⊙ (S v)", mm(Diag(u), A, Diag(v), x), Hadamard(u, mm(A, Hadamard(v, x)))),
    ("(W x)[j] = Σ_k W[j, k] x[k]", Entry(mm(W, m_), (j_,)),
     IndexSum(k_, Scale(Entry(W, (j_, k_)), Entry(m_, (k_,))))),
    ("uᵀ x = Σ_i u[i] x[i]", mm(T(u), x), IndexSum(i_, Scale(Entry(u, (i_,)), Entry(x, (i_,))))),
    ("‖W‖² = Σ_j Σ_k W[j, k]² (either order)", Power(Norm(W), 2),
     IndexSum(k_, IndexSum(j_, Power(Entry(W, (j_, k_)), 2)))),
    ("Σ_k [k = q] u[k]", IndexSum(Index("q", "n"), Scale(Delta(Index("q", "n"), j_), Entry(u, (Index("q", "n"),)))),
     Entry(u, (j_,))),
]
DIFFERENT = [
    ("A x vs Aᵀ x", mm(A, x), mm(T(A), x)),
    ("2 A x vs (A + Aᵀ) x", Scale(two, mm(A, x)), Add((mm(A, x), mm(T(A), x)))),
    ("missing 2", ir.Derivative(Power(Norm(r_), 2), W), mm(r_, T(m_))),
    ("transposed", ir.Derivative(Power(Norm(r_), 2), W, "d", "numerator"), Scale(two, mm(r_, T(m_)))),
    ("u ⊙ x vs u ⊙ u", Hadamard(u, x), Hadamard(u, u)),
    ("diag(u) x vs x", mm(Diag(u), x), x),
    ("A B vs B A", mm(A, B), mm(B, A)),
    ("sign", Add((u, Neg(x))), Add((x, Neg(u)))),
    ("σ vs σ'", Apply("sigma", x), Apply("sigma", x, 1)),
    ("a sum vs one term", Entry(mm(W, m_), (j_,)), Scale(Entry(W, (j_, k_)), Entry(m_, (k_,)))),
    ("tr(A B C) vs tr(A C B)", Trace(mm(A, B, S)), Trace(mm(A, S, B))),
    ("‖x‖ vs xᵀ x", Norm(x), mm(T(x), x)),
]


@pytest.mark.parametrize("name,a,b", EQUAL, ids=[e_[0] for e_ in EQUAL])
def test_normal_form_proves_identities(name, a, b):
    assert equivalent(a, b)
    assert equivalent(b, a)
    assert same_value(_expanded(a), _expanded(b), idx={"j": 2})


def _expanded(e):
    from matcalc.engine import expand_derivatives

    return expand_derivatives(e)


@pytest.mark.parametrize("name,a,b", DIFFERENT, ids=[e_[0] for e_ in DIFFERENT])
def test_normal_form_never_equates_different_functions(name, a, b):
    assert not equivalent(a, b)
    assert a.shape != b.shape or not same_value(_expanded(a), _expanded(b), idx={"j": 2, "k": 1})


def test_normal_form_soundness_on_random_pairs():
    """Among many expressions, every pair with equal normal forms is numerically equal (never a false proof)."""
    pool = [c_[1] for c_ in CASES] + [c_[2] for c_ in CASES] + [e_[1] for e_ in EQUAL[:21]] + \
        [e_[2] for e_ in EQUAL[:21]] + [e_[1] for e_ in DIFFERENT] + [e_[2] for e_ in DIFFERENT]
    pool = [_expanded(p) for p in pool]
    forms = [(p, normal_form(p)) for p in pool]
    checked = 0
    for a_, fa in forms:
        for b_, fb in forms:
            if a_ is not b_ and fa == fb:
                checked += 1
                assert same_value(a_, b_), (str(a_), str(b_))
    assert checked > 40


def test_normal_form_has_a_budget():
    """An expansion with 2^28 terms is not attempted: the answer is "not proved", within a second."""
    import time

    factors = [Add((V(f"A{i}", "n", "n"), V(f"B{i}", "n", "n"))) for i in range(14)]
    e = mm(*factors, x)
    t0 = time.perf_counter()
    assert not equivalent(Power(Norm(e), 2), mm(T(e), e))
    assert time.perf_counter() - t0 < 5
    assert equivalent(mm(*factors[:3], x), mm(*factors[:3], x))  # small ones still work


@pytest.mark.parametrize("seed", range(3))
def test_random_expressions_simplify_and_normal_form_are_sound(seed):
    """Random expressions: simplify keeps the value; expressions with equal normal forms have equal values."""
    import random

    from test_derive import random_expr

    rng = random.Random(seed)
    groups: dict = {}
    for trial in range(400):
        e = random_expr(rng.choice([(1, 1), ("n", 1)]), 3, rng)
        env = random_env(e, SIZES, np.random.default_rng(trial))
        assert np.allclose(evaluate(simplify(e), env, SIZES), evaluate(e, env, SIZES), rtol=1e-9, atol=1e-10)
        groups.setdefault(normal_form(e), []).append(e)
    pairs = 0
    for es in groups.values():
        if len(es) < 2:
            continue
        env = random_env(Add(tuple(es)), SIZES, np.random.default_rng(seed))
        first = evaluate(es[0], env, SIZES)
        for e in es[1:]:
            pairs += 1
            assert np.allclose(evaluate(e, env, SIZES), first, rtol=1e-8, atol=1e-10), (str(es[0]), str(e))
    assert pairs > 50

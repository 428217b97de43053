"""Signs and domains: claims that hold only for one sign of a scalar or of a determinant are never verified.

Found by a new-user review: `(s^2)^(1/2)` was rewritten to `s` by the rule engine's simplifier (and so by the symbolic
normal form), well-conditioned square matrices were always drawn with det > 0 by the numeric method, and the exact
method compared sides at points outside their domain (sqrt of a negative number).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import matcalc
from matcalc import ir
from matcalc.verify import numeric as N
from matcalc.verify.exact import check_equal as exact_check
from matcalc.verify.symbolic import normal_form

n = "n"
c = ir.Var("c", (1, 1))
A = ir.Var("A", (n, n))


def P(e, k):
    return ir.Power(e, Fraction(k))


# ─────────────────────────── (b^p)^q = b^(pq) only where it keeps the sign ───────────────────────────

@pytest.mark.parametrize("inner,outer", [(2, "1/2"), (2, "-1/2"), (2, "3/2"), (6, "1/2"), (-2, "1/2"), (4, "1/4")])
def test_an_even_power_under_a_root_is_not_combined(inner, outer):
    # (c²)^(1/2) = |c|: the normal forms of the two sides must not be the same
    lhs = P(P(c, inner), outer)
    rhs = P(c, Fraction(inner) * Fraction(outer))
    assert normal_form(lhs) != normal_form(rhs)


@pytest.mark.parametrize("inner,outer", [("1/2", 2), (3, "1/3"), (2, 3), ("1/2", "1/2"), (-1, "1/2")])
def test_powers_that_keep_the_sign_are_combined(inner, outer):
    lhs = P(P(c, inner), outer)
    rhs = P(c, Fraction(inner) * Fraction(outer))
    assert normal_form(lhs) == normal_form(rhs)


@pytest.mark.parametrize("claim,given,seeds", [
    ("(det(A)^2)^(1/2) = det(A)", "A: 9 x 9", range(4)),
    ("d/dA (det(A)^2)^(1/2) = det(A) inv(A)^T", "A: 9 x 9", range(3)),
    ("d/dW ((a^T W b)^2)^(1/2) = a b^T", "W: 20 x 20, a: 20, b: 20", (1, 5)),
    ("((a^T X b)^2)^(1/2) = a^T X b", "X: 100 x 100, a: 100, b: 100", (3,)),
    ("d/dx ((w^T x)^2)^(1/2) = w", "w: n, x: n", (0,)),
    ("(c^2)^(-1/2) = 1/c", "c: scalar", (0,)),
])
def test_a_claim_true_for_one_sign_only_is_never_verified(claim, given, seeds):
    for seed in seeds:  # these were ✓ verified (every seed for det; seeds 1 and 5, 3 for the others)
        rep = matcalc.check(claim, given=given, seed=seed)
        assert rep.verdict != "verified", str(rep)


def test_the_engine_keeps_the_absolute_value():
    # d/dx ((wᵀx)²)^(1/2) = (wᵀx / |wᵀx|) w: derive's result is right (its own numeric check passes)
    rep = matcalc.derive("((w^T x)^2)^(1/2)", wrt="x", given="w: n, x: n")
    assert rep.items[0].numeric.status == "equal", rep.items[0].numeric.detail


# ─────────────────────────── the numeric method draws both signs of a determinant ───────────────────────────

def test_numeric_sees_a_negative_determinant():
    r = N.check_equal(P(P(ir.Det(A), 2), "1/2"), ir.Det(A), seed=0)
    assert r.status == "different", r.detail


@pytest.mark.parametrize("claim", [
    "d/dX log(det(X)) = inv(X)^T",       # log det needs det > 0: those draws are kept positive
    "d/dX sqrt(det(X)) = 0.5 sqrt(det(X)) inv(X)^T",
    "d/dX logdet(X) = inv(X)^T",          # log |det X|: true for both signs
    "d/dX det(X) = det(X) inv(X)^T",
    "d/dS logdet(S) = inv(S)",
])
def test_determinant_claims_that_hold_stay_verified(claim):
    rep = matcalc.check(claim, given="X: n x n, S: n x n symmetric")
    assert rep.verdict == "verified", str(rep)


def test_a_flipped_draw_keeps_symmetry_and_conditioning():
    from matcalc.verify.numeric.points import _flip_det

    rng = np.random.default_rng(0)
    m = rng.normal(size=(4, 4))
    s = m @ m.T + 0.5 * np.eye(4)
    f = _flip_det(s, True)
    assert np.allclose(f, f.T)
    assert np.linalg.det(f) < 0 < np.linalg.det(s)
    assert np.isclose(np.linalg.cond(f), np.linalg.cond(s))
    g = _flip_det(m, False)
    assert np.isclose(np.linalg.det(g), -np.linalg.det(m))


# ─────────────────────────── the exact method stays inside the domain ───────────────────────────

def test_exact_does_not_refute_outside_the_domain():
    x, y = ir.Var("x", (n, 1)), ir.Var("y", (n, 1))
    sq = lambda e: ir.Apply("sqrt", e)  # noqa: E731
    r = exact_check(sq(ir.Hadamard(x, y)), ir.Hadamard(sq(x), sq(y)))
    assert r.status != "different", r.detail
    r = exact_check(sq(ir.Hadamard(x, x)), x)  # |x| ≠ x: still refuted, at points with x < 0 (sqrt of x ⊙ x ≥ 0)
    assert r.status == "different", r.detail


def test_a_disagreement_is_explained():
    rep = matcalc.check("x^T x = x^T x + 1e-14", given="x: n")
    assert rep.verdict == "inconclusive"
    assert "the methods disagree" in (rep.results[-1].diagnosis or ""), str(rep)


# ─────────────────────────── a side undefined at every real point is never verified ───────────────────────────

@pytest.mark.parametrize("claim", [
    "d/dx sum(log(-exp(x))) = ones(n)",
    "d/dx sum(sqrt(-1 - x.^2)) = -x ./ sqrt(-1 - x.^2)",
    "log(-exp(x)) = log(-exp(x))",
])
def test_a_claim_defined_nowhere_is_not_verified(claim):
    # the exact method's algebra (over ℂ) finds the sides equal; no real point lies in their domain (SPEC section 5)
    rep = matcalc.check(claim, given="x: n")
    assert rep.verdict == "inconclusive", str(rep)
    assert "undefined at every real point" in rep.results[-1].diagnosis


@pytest.mark.parametrize("claim", ["d/dx sum(log(x)) = 1 ./ x", "sqrt(1 - x^T x) = sqrt(1 - x^T x)",
                                   "d/dx sum(log(1 + x.^2)) = 2 x ./ (1 + x.^2)"])
def test_a_claim_with_a_domain_stays_verified(claim):
    assert matcalc.check(claim, given="x: n").verdict == "verified"


def test_the_numeric_draws_give_diagonal_and_gram_determinants_both_signs():
    """review5 finding 9: a diagonal matrix under det was drawn with positive entries only, and every variable inside a
    det under a root kept det > 0 even for det(Aᵀ A) ≥ 0: the numeric method's ✓ on these false claims was systematic."""
    from matcalc.api import check_text

    for claim, given in [("det(D) = abs(det(D))", "D: n x n diagonal"), ("det(D) = abs(det(D))", "D: 30 x 30 diagonal"),
                         ("sqrt(det(A^T A)) = det(A)", "A: 3 x 3"), ("sqrt(det(A^2)) = det(A)", "A: 3 x 3"),
                         ("sqrt(det(A A)) = det(A)", "A: 3 x 3")]:
        (r,) = check_text(claim, given=given).results
        assert r.methods["numeric"].status == "different", (claim, r.methods["numeric"].detail)
        assert r.verdict != "verified"
    (r,) = check_text("d/dD log(abs(det(D))) = inv(D)", given="D: n x n diagonal").results
    assert r.verdict == "verified" and r.methods["numeric"].status == "equal"


def test_the_disagreement_reason_names_roots_and_logs_only_where_the_claim_has_them():
    """review5 finding 8: a tiny constant the exact method sees and float64 cannot was explained by "a root or log of
    a negative number" in a claim with neither."""
    from matcalc.api import check_text
    from matcalc.results import MethodResult
    from matcalc.verify.judge import explain_inconclusive

    (r,) = check_text("x^T x = x^T x + 1e-14", given="x: n").results
    assert r.verdict == "inconclusive" and "invisible to it" in r.diagnosis and "root or log" not in r.diagnosis
    methods = {"exact": MethodResult("different", ""), "numeric": MethodResult("equal", "")}
    assert "root or log" in explain_inconclusive(methods, None, True)
    assert "root or log" not in explain_inconclusive(methods, None, False)

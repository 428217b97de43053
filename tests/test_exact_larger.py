"""A claim only the exact method decides is checked at a larger size too (review5 finding 1, review6 finding 1): sizes
2 and 3 do not show a claim false from 4 on — a factor (n − 2)(n − 3) of a size used as a number, a trace polynomial
that vanishes below 4 (Newton's identity for 24 e₄) — when the numeric method cannot run (points on a kink), cannot
confirm what it sees, or agrees only within a loose tolerance. True claims in that position stay verified."""

from __future__ import annotations

import pytest

from matcalc import ir
from matcalc.api import check_text
from matcalc.verify.exact.sizes import larger_sizes

E4 = "(tr(A)^4 - 6 tr(A)^2 tr(A^2) + 3 tr(A^2)^2 + 8 tr(A) tr(A^3) - 6 tr(A^4))"  # 24 e4(A): 0 for n ≤ 3


@pytest.mark.parametrize("claim, given", [
    ("relu(D) = relu(D) + (n - 2) (n - 3) D", "D: n x n diagonal"),
    ("d/dx log(sum(exp(x / 0.01))) = softmax(x / 0.01) / 0.01 + (n - 2) (n - 3) x", "x: n"),
    (f"d/dA tr(A^4) / 0.01 = 400 (A^3)^T + {E4} eye(n)", "A: n x n"),
    ("x + 1e12 - 1e12 = x + 1e-4 (n - 2) (n - 3) x", "x: n"),
    ("sqrt(x.^2 + 1e20) - 1e10 = x.^2 ./ (sqrt(x.^2 + 1e20) + 1e10) + (n - 2) (n - 3) x.^2", "x: n"),
])
def test_a_claim_false_from_size_4_on_is_not_verified(claim, given):
    (r,) = check_text(claim, given=given).results
    assert r.verdict != "verified", (claim, {k: m.detail for k, m in r.methods.items()})


@pytest.mark.parametrize("claim, given", [
    ("relu(D) = D ⊙ step(D)", "D: n x n diagonal"),
    ("abs(D) = relu(D) + relu(-D)", "D: n x n diagonal"),
    ("sqrt(x.^2 + 1e20) - 1e10 = x.^2 ./ (sqrt(x.^2 + 1e20) + 1e10)", "x: n"),
])
def test_a_true_claim_only_the_exact_method_decides_is_verified(claim, given):
    (r,) = check_text(claim, given=given).results
    assert r.verdict == "verified", {k: m.detail for k, m in r.methods.items()}
    assert "n = 4" in r.methods["exact"].detail


def test_larger_sizes():
    A, B = ir.Var("A", ("n", "m")), ir.Var("B", ("m", "n"))
    e = ir.MatMul((A, B))
    got = larger_sizes([e], [{"n": 2, "m": 3}, {"n": 3, "m": 2}])
    assert got is not None and min(got.values()) >= 4 and len(set(got.values())) == 2
    assert larger_sizes([ir.Var("C", (3, 3))], [{}]) is None  # declared sizes: nothing larger to try

"""Derived results as a student copies them (SPEC section 6): a zero or identity Jacobian by a matrix, a Kronecker
product's Jacobian and a sum of an outer product print in the reader's spelling — a product size written as one
(``zeros(n·n, n)``, ``eye(n·p)``), ``sum(u) ones(n)`` for ``ones(n, m) u`` — and the printed result, pasted back
into ``check``, is verified; a wrong result in the same spelling is refuted. A one-step derivative that is no
chain does not cite the chain rule."""

from __future__ import annotations

import pytest

import matcalc
from matcalc.printing import to_text

CASES = [
    # (expression, by, given, the result as the book writes it)
    ("A", "x", "A: n x n, x: n", "zeros(n·n, n)"),
    ("A", "X", "A: n x n, X: m x p", "zeros(n·n, m·p)"),
    ("v", "c", "v: n, c: scalar", "zeros(n)"),
    ("c", "x", "c: scalar, x: m", "zeros(m)"),
    ("X", "X", "X: n x m", "eye(m·n)"),
    ("sum(x u^T)", "x", "x: n, u: m", "sum(u) ones(n)"),
    ("sum(x u^T)", "u", "x: n, u: m", "sum(x) ones(m)"),
    ("sum(A x u^T)", "x", "x: n, u: m, A: k x n", "sum(u) Aᵀ ones(k)"),
    ("kron(A, X)", "X", "A: k x m, X: n x p", "(eye(m) ⊗ K(p, k) ⊗ eye(n)) (vec(A) ⊗ eye(n·p))"),
]


def _derived(expr: str, wrt: str, given: str):
    return matcalc.derive(expr, wrt, given=given).items[0]


@pytest.mark.parametrize("expr, wrt, given, want", CASES)
def test_the_result_is_the_books_and_checks(expr: str, wrt: str, given: str, want: str) -> None:
    item = _derived(expr, wrt, given)
    text = to_text(item.derivation.result)
    assert text == want
    assert "⊗ ones(" not in text and "⊗ eye(p)" not in text
    r = matcalc.check(f"d/d{wrt} ({expr}) = {text}", given=given)
    assert r.verdict == "verified", str(r)


@pytest.mark.parametrize("expr, wrt, given, wrong", [
    ("A", "x", "A: n x n, x: n", "ones(n·n, n)"),
    ("X", "X", "X: n x m", "2 eye(m·n)"),
    ("sum(x u^T)", "x", "x: n, u: m", "sum(u) ones(n) + ones(n)"),
    ("sum(x u^T)", "x", "x: n, u: m", "sum(x) ones(n)"),
    ("kron(A, X)", "X", "A: k x m, X: n x p", "(eye(m) ⊗ K(k, p) ⊗ eye(n)) (vec(A) ⊗ eye(n·p))"),
])
def test_a_wrong_result_in_the_same_spelling_is_refuted(expr: str, wrt: str, given: str, wrong: str) -> None:
    r = matcalc.check(f"d/d{wrt} ({expr}) = {wrong}", given=given)
    assert r.verdict == "refuted", str(r)


@pytest.mark.parametrize("expr, wrt, given, note", [
    ("A", "x", "A: n x n, x: n", "A does not depend on x"),
    ("v", "c", "v: n, c: scalar", "v does not depend on c"),
    ("c", "x", "c: scalar, x: m", "c does not depend on x"),
    ("X", "X", "X: n x m", "by itself is the identity"),
    ("x", "x", "x: scalar", "by itself is the identity"),
])
def test_a_derivative_without_a_chain_does_not_cite_the_chain_rule(expr: str, wrt: str, given: str,
                                                                   note: str) -> None:
    res = matcalc.derive(expr, wrt, given=given)
    text = str(res)
    assert "chain rule" not in text, text
    assert note in text, text
    latex = res._repr_latex_()  # the LaTeX trace labels its steps by rule name: not "Jacobian chain rule" either
    assert "chain rule" not in latex, latex
    steps = res.to_json()["derivatives"][0]["steps"]
    assert all(st["rule"] != "chain-rule" for st in steps), steps


def test_a_chain_still_cites_the_chain_rule() -> None:
    text = str(matcalc.derive("sin(A x)", "x", given="A: n x n, x: n"))
    assert "chain rule" in text or "outer and inner" in text, text

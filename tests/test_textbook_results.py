"""``derive`` results in the textbook's form (SPEC section 6, third rule; review 5 finding 10), each one pasted back.

For every expression of the review's table that the textbook pass now brings to the book's form: the printed result
is the book's, and the claim ``d/dX expr = <printed result>`` (``hessian(expr, x) = …`` for a second derivative) is
verified by ``matcalc check`` (SPEC section 6, "it reads back" and "every equation shown is true"); the same claim
with the result off by a factor is refuted, so the check is not blind. No square root of a square is taken back to its base.
"""

from __future__ import annotations

import pytest

import matcalc

# (expression, wrt, declarations, order, the book's result as matcalc prints it)
CASES = [
    ("tr(A^5)", "A", "A: n x n", 1, "5 (A^4)ᵀ"),
    ("tr(A^3 A^3)", "A", "A: n x n", 1, "6 (A^5)ᵀ"),
    ("sum(relu(x).^2)", "x", "x: n", 2, "2 diag(step(x))"),
    ("sum(log(x.^2))", "x", "x: n", 1, "2 x.^-1"),
    ("sum(sqrt(x.^2 + 1))", "x", "x: n", 1, "x ⊙ sqrt(x.^2 + 1).^-1"),
]


def _result(expr, wrt, decls, order):
    r = matcalc.derive(expr, wrt, given=decls, order=order)
    from matcalc.printing import to_text

    return to_text(r.items[0].derivation.result)


def _claim(expr, wrt, order, rhs):
    return f"d/d{wrt} ({expr}) = {rhs}" if order == 1 else f"hessian({expr}, {wrt}) = {rhs}"


@pytest.mark.parametrize("expr, wrt, decls, order, book", CASES, ids=[c[0] for c in CASES])
def test_result_is_the_books_and_pastes_back_verified(expr, wrt, decls, order, book):
    got = _result(expr, wrt, decls, order)
    assert got == book
    r = matcalc.check(_claim(expr, wrt, order, got), given=decls)
    assert r.verdict == "verified", r.as_text() if hasattr(r, "as_text") else r


@pytest.mark.parametrize("expr, wrt, decls, order, book", CASES, ids=[c[0] for c in CASES])
def test_the_book_form_off_by_a_factor_is_refuted(expr, wrt, decls, order, book):
    r = matcalc.check(_claim(expr, wrt, order, f"3 ({book})"), given=decls)
    assert r.verdict == "refuted"


def test_no_square_root_of_a_square_is_taken_back_to_its_base():
    got = _result("sum((x.^2).^(1/2))", "x", "x: n", 1)
    assert matcalc.check(f"d/dx sum((x.^2).^(1/2)) = {got}", given="x: n").verdict == "verified"
    assert matcalc.check("d/dx sum((x.^2).^(1/2)) = ones(n)", given="x: n").verdict == "refuted"

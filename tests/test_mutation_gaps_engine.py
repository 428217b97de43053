"""The rule engine where the mutation benchmark (tests/bench/mutation.py, group "engine and rules") planted a bug that
the rest of the suite let through: the textbook's collection of monomials through an entrywise division, the rules a
trace cites (cancellation only where it cancelled, ``diag(u) v = u ⊙ v``, each presentation rewrite once and only
where it was made), and a matrix power at the reader's limit.

Every expected text is written by hand and is true as written (``(x ⊘ y) ⊙ y = x`` entry by entry).
"""

from __future__ import annotations

import pytest

from matcalc.api import derive_text
from matcalc.engine.compose import rewrite_why
from matcalc.engine.differentiation import closed_form
from matcalc.lang.typer import read_expr
from matcalc.printing import to_text

GIVEN = "x: n, y: n, z: n"


def _e(text: str):
    return read_expr(text, given=GIVEN)[0]


@pytest.mark.parametrize("text, expected", [
    ("(x ⊘ y) ⊙ y", "x"),  # x_i / y_i · y_i = x_i
    ("x ⊘ y ⊙ y + z", "x + z"),
    ("(x ⊘ y) ⊙ (y ⊘ x)", "ones(n)"),
    ("x ⊙ z ⊘ y + z ⊙ x ⊘ y", "2 (x ⊙ y.^-1 ⊙ z)"),  # like monomials collected through ⊘
])
def test_the_closed_form_cancels_through_an_entrywise_division(text, expected) -> None:
    assert to_text(closed_form(_e(text))) == expected


def test_a_rewrite_the_cancellation_rule_makes_is_cited_as_that_rule() -> None:
    before = _e("x ⊙ y ⊙ x.^-1")
    assert rewrite_why("scalar-out", before, _e("y"), "xᵀ y is a scalar") == "a ⊙ b ⊙ a.^-1 = b"
    before = _e("x^T (y ⊙ x.^-1)")
    assert rewrite_why("scalar-out", before, _e("ones(n)^T y"), "xᵀ y is a scalar") == "aᵀ (b ⊙ a.^-1) = 1ᵀ b"


@pytest.mark.parametrize("before, after", [
    ("x ⊙ y ⊙ x.^-1", "y ⊙ x ⊙ x.^-1"),  # a reordering of a product the cancellation rule would shorten
    ("x^T (y ⊙ x.^-1)", "(y ⊙ x.^-1)^T x"),
])
def test_a_rewrite_the_cancellation_rule_does_not_make_keeps_its_own_statement(before, after) -> None:
    """Only the rewrite that cancellation itself makes is cited as cancellation: another rule's rewrite of an
    expression that cancellation could also shorten keeps that rule's statement."""
    assert rewrite_why("reorder", _e(before), _e(after), "a ⊙ b = b ⊙ a") == "a ⊙ b = b ⊙ a"


def _notes(text: str, wrt: str, given: str) -> str:
    d = derive_text(text, wrt=wrt, given=given)
    return "\n".join(s.note for item in d.items for s in item.derivation.steps)


def test_the_softmax_cross_entropy_trace_cites_the_diagonal_times_a_vector() -> None:
    """Line 5 of the trace multiplies -(y ⊙ s.^-1)ᵀ by diag(s): the note cites ``diag(u) v = u ⊙ v`` (its statement,
    not an empty clause)."""
    notes = _notes("-y^T log(softmax(z))", "z", "z: n, y: n probability")
    assert "diag(u) v = u ⊙ v" in notes
    assert "; ;" not in notes and ";;" not in notes


def test_a_matrix_power_at_the_input_limit_is_differentiated() -> None:
    """The reader takes exponents up to 64 (|k| <= 64); the engine differentiates every power the reader takes: tr(X^64)
    is derived (63 + 1 terms) and the numeric check confirms it."""
    d = derive_text("tr(X^64)", wrt="X", given="X: n x n")
    assert d.verdict == "verified"
    assert "(X^63)ᵀ" in to_text(d.items[0].derivation.result)


def test_the_last_line_of_a_trace_cites_only_the_rewrites_it_made() -> None:
    """∇ₓ (xᵀ x − 2 yᵀ x) = 2 x + (−2 y) = 2 (x − y) by the sum rule: the common factor taken out, nothing else (no
    like terms are left to collect, and no presentation rewrite such as a + (−c y) = a − c y is made, so none is
    cited)."""
    d = derive_text("x^T x - 2 y^T x", wrt="x", given="x: n, y: n")
    last = d.items[0].derivation.steps[-1]
    assert to_text(last.after) == "2 (x - y)"
    assert to_text(d.items[0].derivation.steps[-2].after) == "2 x + (-2 y)"
    assert last.note == "s a + s b = s (a + b) for a scalar s"


def test_a_presentation_rewrite_is_cited_once() -> None:
    notes = _notes("-(y^T log(sigma(X w)) + (1 - y)^T log(1 - sigma(X w)))", "w", "X: N x d, w: d, y: N")
    for line in notes.splitlines():
        clauses = [c.strip() for c in line.split(";")]
        assert len(clauses) == len(set(clauses)), line
        assert "as the book writes it" not in clauses, line

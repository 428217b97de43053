"""The printers (matcalc/printing.py) where the mutation benchmark (tests/bench/mutation.py, group "printing") planted
a bug that the rest of the suite let through. Every expected text is written by hand: what a reader of the text or
of the typeset LaTeX should see.
"""

from __future__ import annotations

import pytest

from matcalc.lang.typer import read_expr
from matcalc.printing import latex_name, to_latex, to_text


def _e(text: str, given: str):
    return read_expr(text, given=given)[0]


@pytest.mark.parametrize("name, macro", [
    ("ℓ", "\\ell"), ("ϵ", "\\epsilon"), ("ε", "\\varepsilon"), ("ϑ", "\\vartheta"), ("ϕ", "\\phi"),
    ("φ", "\\varphi"), ("ς", "\\varsigma"), ("ϱ", "\\varrho"), ("ϖ", "\\varpi"),
    ("Gamma", "\\Gamma"), ("Γ", "\\Gamma"), ("Xi", "\\Xi"), ("Ξ", "\\Xi"), ("Omega", "\\Omega"),
])
def test_every_greek_variant_is_typeset_as_its_letter(name, macro) -> None:
    assert latex_name(name) == macro
    assert to_latex(_e(f"{name} x", f"{name}: scalar, x: n")) == f"{macro} x"


@pytest.mark.parametrize("text, latex", [
    ("(W x)[k]", "\\left(W x\\right)_{k}"),  # the k-th entry of the product, not W times x_k
    ("(a + b)[k]", "\\left(a + b\\right)_{k}"),
    ("(a ⊙ b)[k]", "\\left(a \\odot b\\right)_{k}"),
    ("(A^T)[j, k]", "\\left(A^{\\top}\\right)_{j,k}"),
    ("W[j, k]", "W_{j,k}"),
    ("a[k]", "a_{k}"),
])
def test_an_entry_of_a_compound_expression_is_typeset_in_brackets(text, latex) -> None:
    assert to_latex(_e(text, "W: n x m, x: m, a: n, b: n, A: n x n")) == latex

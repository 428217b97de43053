"""The printers (matcalc/printing.py) where the mutation benchmark (tests/bench/mutation.py, group "printing") planted
a bug that the rest of the suite let through. Every expected text is written by hand: what a reader of the text or
of the typeset LaTeX should see.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from matcalc import ir
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


def V(name, rows, cols=1):
    return ir.Var(name, (rows, cols), frozenset())


x, u, y, r = V("x", "n"), V("u", "n"), V("y", "n"), V("r", "N")
A, B, X = V("A", "n", "n"), V("B", "n", "n"), V("X", "N", "n")
c, N = V("c", 1), V("N", 1)

PRINTED = [  # (expression, text, LaTeX)
    (ir.Transpose(ir.Identity("n")), "eye(n)", "I_{n}"),  # Iᵀ = I
    (ir.Transpose(c), "cᵀ", "c^{\\top}"),  # a 1×1 name keeps its mark
    (ir.Ones((1, 1)), "1", "1"),
    (ir.Zeros((1, 1)), "0", "0"),
    (ir.Commutation("m", "n"), "K(m, n)", "K_{m,n}"),
    # a division leading a product is bracketed: 1 / N Xᵀ r would read as 1 / (N Xᵀ r)
    (ir.Scale(ir.Div(ir.Num(1), N), ir.MatMul((ir.Transpose(X), r))), "(1 / N) Xᵀ r",
     "\\left(1 / N\\right) X^{\\top} r"),
    # a bracket after a name is not a call when a whole factor of the product precedes it
    (ir.MatMul((ir.Transpose(A), B, ir.Add((x, u)))), "Aᵀ B (x + u)", "A^{\\top} B \\left(x + u\\right)"),
    # two numbers are never juxtaposed, a decimal included
    (ir.Scale(ir.Num(Fraction(5, 2)), ir.Num(3)), "2.5 · 3", "\\frac{5}{2} \\cdot 3"),
    (ir.Scale(ir.Num(3), ir.Num(Fraction(5, 2))), "3 · 2.5", "3 \\cdot \\frac{5}{2}"),
    # a number in front scales the whole product that follows, unless the product starts with a division
    (ir.Scale(ir.Num(2), ir.MatMul((x, ir.Div(ir.Transpose(y), c)))), "2 x (yᵀ / c)",
     "2 x \\left(y^{\\top} / c\\right)"),
    (ir.Scale(ir.Num(2), ir.MatMul((ir.Div(x, c), ir.Transpose(y)))), "2 ((x / c) yᵀ)",
     "2 \\left(\\left(x / c\\right) y^{\\top}\\right)"),
]


@pytest.mark.parametrize("e, text, latex", PRINTED, ids=[t for _, t, _ in PRINTED])
def test_exact_text_and_latex(e, text, latex) -> None:
    assert to_text(e) == text
    assert to_latex(e) == latex


@pytest.mark.parametrize("name, latex", [
    ("W1", "W_{1}"), ("W12", "W_{12}"), ("x", "x"), ("n_l", "n_{l}"),
    ("δx", "{\\delta x}"),  # a Greek letter inside a longer name is its macro
    ("é", "\\mathrm{U{+}00E9}"),  # any other character is coded, never passed through raw
])
def test_latex_names(name, latex) -> None:
    assert latex_name(name) == latex

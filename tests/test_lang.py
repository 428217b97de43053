"""Tests of the matcalc language (SPEC sections 1-3): lexer, parser, typer, documents, errors and limits."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from matcalc import ir
from matcalc.document import Bare, Claim, Declaration, ErrorLine, FuncDecl, LayoutSetting, Step
from matcalc.errors import LimitError, MatcalcError, ParseError, TypeCheckError
from matcalc.ir import (
    Add, Apply, Broadcast, CallVec, Derivative, Diag, Div, Entry, EPower, Hadamard, HadDiv, Identity, Index,
    IndexSum, Inverse, Kron, MatMul, MaxMin, Named, Neg, Norm, Num, Ones, Power, Scale, Softmax, Sum, Trace,
    Transpose, Var, Vec, Zeros,
)
from matcalc.lang import read_document, read_expr, parse_declarations
from matcalc.lang.lexer import tokenize_line
from matcalc.shapes import ShapeError

G = "W: n x m, x: m, y: n, b: n, z: n, A: n x n, B: n x n, c: scalar, alpha: scalar, u: n, v: n"
W = Var("W", ("n", "m"))
X = Var("x", ("m", 1))
Y = Var("y", ("n", 1))
Bv = Var("b", ("n", 1))
Z = Var("z", ("n", 1))
A = Var("A", ("n", "n"))
Bm = Var("B", ("n", "n"))
C = Var("c", (1, 1))
U = Var("u", ("n", 1))
V = Var("v", ("n", 1))


def rx(text: str, given: str | None = G, layout: str = "mixed") -> ir.Expr:
    return read_expr(text, given=given, layout=layout)[0]


def err(text: str, given: str | None = G) -> MatcalcError:
    with pytest.raises(MatcalcError) as info:
        read_document(text, given=given)
    return info.value


# ───────────────────────────── lexer ─────────────────────────────


@pytest.mark.parametrize("text, kinds", [
    ("a − b", ["NAME", "-", "NAME"]),
    ("a .* b ⊙ c ∘ d", ["NAME", "⊙", "NAME", "⊙", "NAME", "⊙", "NAME"]),
    ("a ./ b ⊘ c", ["NAME", "⊘", "NAME", "⊘", "NAME"]),
    ("a ⊗ b", ["NAME", "⊗", "NAME"]),
    ("a @ b * c", ["NAME", "*", "NAME", "*", "NAME"]),
    ("xᵀ x' x.T", ["NAME", "T", "NAME", "'", "NAME", "T"]),
    ("A⁻¹ A⁻ᵀ A²", ["NAME", "POW", "NAME", "INVT", "NAME", "POW"]),
    ("‖x‖ ||x||", ["‖", "NAME", "‖", "‖", "NAME", "‖"]),
    ("d/dW ∂/∂x", ["DERIV", "DERIV"]),
    ("sum_k Σ_j ∑_i Σ_{l}", ["SUMIDX", "SUMIDX", "SUMIDX", "SUMIDX"]),
    ("R -> R ℝ → ℝ", ["NAME", "->", "NAME", "ℝ", "->", "ℝ"]),
    ("n × m", ["NAME", "×", "NAME"]),
    ("0.5 2 .25", ["NUMBER", "NUMBER", "NUMBER"]),
])
def test_lexer_spellings(text: str, kinds: list) -> None:
    toks = tokenize_line(text, 1)
    assert [t.kind for t in toks[:-1]] == kinds
    assert toks[-1].kind == "EOF"


def test_lexer_values_and_positions() -> None:
    toks = tokenize_line("d/dW[j, k]  A⁻¹ Σ_k x²", 3)
    assert toks[0].value == "W" and toks[0].col == 1 and toks[0].line == 3
    pows = [t.value for t in toks if t.kind == "POW"]
    assert pows == [-1, 2]
    assert [t.value for t in toks if t.kind == "SUMIDX"] == ["k"]
    assert toks[-1].col == len("d/dW[j, k]  A⁻¹ Σ_k x²") + 1


def test_lexer_d_is_a_variable_name_when_not_d_slash_d() -> None:
    toks = tokenize_line("d x / d", 1)
    assert [t.kind for t in toks[:-1]] == ["NAME", "NAME", "/", "NAME"]
    assert rx("d x", given="d: scalar, x: n") == Scale(Var("d", (1, 1)), Var("x", ("n", 1)))


@pytest.mark.parametrize("text, col", [("a $ b", 3), ("x | y", 3), ("a . b", 3), ("ok ⁻", 4)])
def test_lexer_errors(text: str, col: int) -> None:
    with pytest.raises(ParseError) as info:
        tokenize_line(text, 1)
    assert info.value.col == col


# ───────────────────────────── SPEC section 3: every operator, both spellings ─────────────────────────────


@pytest.mark.parametrize("texts, expected", [
    (["W x + y", "W @ x + y", "W * x + y"], Add((MatMul((W, X)), Y))),
    (["y - b", "y − b"], Add((Y, Neg(Bv)))),
    (["y .* b", "y ⊙ b", "y ∘ b"], Hadamard(Y, Bv)),
    (["y ./ b", "y ⊘ b"], HadDiv(Y, Bv)),
    (["y ⊗ x", "kron(y, x)"], Kron(Y, X)),
    (["y / c"], Div(Y, C)),
    (["-y"], Neg(Y)),
    (["y^T", "yᵀ", "y'", "y.T", "y^{T}"], Transpose(Y)),
    (["A^-1", "A⁻¹", "inv(A)", "A^{-1}"], Inverse(A)),
    (["A^-T", "A⁻ᵀ", "A^{-T}"], Transpose(Inverse(A))),
    (["A^2", "A²"], Power(A, 2)),
    (["c^0.5", "c^(1/2)", "c^{1/2}"], Power(C, Fraction(1, 2))),
    (["c^-0.5", "c^(-1/2)"], Power(C, Fraction(-1, 2))),
    (["y .^ 2", "y.^2"], EPower(Y, 2)),
    (["‖y‖", "||y||", "norm(y)"], Norm(Y)),
    (["sum(y)"], Sum(Y)),
    (["dot(y, b)"], MatMul((Transpose(Y), Bv))),
    (["tr(A)", "trace(A)"], Trace(A)),
    (["det(A)"], ir.Det(A)),
    (["logdet(A)"], ir.LogDet(A)),
    (["diag(y)"], Diag(Y)),
    (["vec(W)"], Vec(W)),
    (["softmax(z)"], Softmax(Z)),
    (["logsumexp(z)"], ir.LogSumExp(Z)),
    (["max(y, b)"], MaxMin("max", Y, Bv)),
    (["min(y, b)"], MaxMin("min", Y, Bv)),
    (["ones(n)"], Ones(("n", 1))),
    (["ones(n, m)"], Ones(("n", "m"))),
    (["eye(n)"], Identity("n")),
    (["zeros(n, m)"], Zeros(("n", "m"))),
    (["zeros(3)"], Zeros((3, 1))),
])
def test_operator_spellings(texts: list, expected: ir.Expr) -> None:
    for t in texts:
        assert rx(t) == expected, t


@pytest.mark.parametrize("fn", ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigma", "relu", "softplus", "abs", "step"])
def test_entrywise_builtins(fn: str) -> None:
    assert rx(f"{fn}(z)") == Apply(fn, Z, 0)
    assert rx(f"{fn}'(z)") == Apply(fn, Z, 1)


def test_sigma_spellings_and_primes() -> None:
    for t in ("σ(z)", "sigmoid(z)", "sigma(z)"):
        assert rx(t) == Apply("sigma", Z, 0)
    assert rx("σ'(z)") == Apply("sigma", Z, 1)
    assert rx("sigma''(z)") == Apply("sigma", Z, 2)
    assert rx("relu'(z)") == Apply("relu", Z, 1)


def test_declared_functions() -> None:
    g = "f: R -> R, C: R^n -> R, z: n"
    z = Var("z", ("n", 1))
    assert rx("f(z)", g) == Apply("f", z, 0, declared=True)
    assert rx("f'(z)", g) == Apply("f", z, 1, declared=True)
    assert rx("C(z)", g) == CallVec("C", z, 0)
    assert rx("C'(z)", g) == CallVec("C", z, 1)
    assert rx("∇C(z)", g) == CallVec("C", z, 1)
    assert rx("C(z)", g).shape == (1, 1) and rx("∇C(z)", g).shape == ("n", 1)
    for spelled in ("f: ℝ → ℝ", "f: R->R"):
        assert parse_declarations(spelled).funcs["f"] == FuncDecl("f", "entrywise")
    for spelled in ("C: ℝ^n → ℝ", "C: R^{n} -> R", "C: R^(n) -> R"):
        assert parse_declarations(spelled).funcs["C"] == FuncDecl("C", "vector", "n")


def test_declared_name_shadows_builtin() -> None:
    g = "sigma: R -> R, z: n"
    assert rx("sigma(z)", g) == Apply("sigma", Var("z", ("n", 1)), 0, declared=True)
    assert rx("σ'(z)", g) == Apply("sigma", Var("z", ("n", 1)), 1, declared=True)
    # a declared variable called like a function is a factor of a product
    e = rx("exp (z)", "exp: scalar, z: n")
    assert e == Scale(Var("exp", (1, 1)), Var("z", ("n", 1)))


def test_prime_after_non_function_is_transpose() -> None:
    assert rx("y'(b)") == MatMul((Transpose(Y), Bv))
    assert rx("y' b") == MatMul((Transpose(Y), Bv))


def test_grad_and_jacobian() -> None:
    e = rx("grad(c y^T y, y)")
    assert isinstance(e, Derivative) and e.kind == "grad" and e.wrt == Y and e.shape == ("n", 1)
    j = rx("jacobian(W x, x)")
    assert j.kind == "jacobian" and j.shape == ("n", "m")


def test_constants_sized_by_context() -> None:
    assert rx("A + I") == Add((A, Identity("n")))
    assert rx("1ᵀ y") == MatMul((Transpose(Ones(("n", 1))), Y))
    assert rx("y + 1") == Add((Y, Broadcast(Num(1), ("n", 1))))
    assert rx("2 y") == Scale(Num(2), Y)
    d = read_document("d/dX tr(X) = I", given="X: n x n")
    assert d.statements[0].rhs == Identity("n")
    d = read_document("d/dx sum(x) = 1", given="x: n")
    assert d.statements[0].rhs == Ones(("n", 1))
    d = read_document("d/dx c = 0", given="x: n, c: scalar")
    assert d.statements[0].rhs == Zeros(("n", 1))
    d = read_document("d/dc c = 1", given="c: scalar")
    assert d.statements[0].rhs == Num(1)
    # declared names I, 0-free
    assert rx("I x", "I: n x n, x: n") == MatMul((Var("I", ("n", "n")), Var("x", ("n", 1))))


def test_scalar_expansion() -> None:
    assert rx("y + c") == Add((Y, Broadcast(C, ("n", 1))))
    assert rx("c - y") == Add((Broadcast(C, ("n", 1)), Neg(Y)))
    assert rx("y - c") == Add((Y, Neg(Broadcast(C, ("n", 1)))))
    assert rx("c ⊙ y") == Hadamard(Broadcast(C, ("n", 1)), Y)
    assert rx("1 ./ y") == HadDiv(Broadcast(Num(1), ("n", 1)), Y)
    assert rx("max(0, z)") == MaxMin("max", Broadcast(Num(0), ("n", 1)), Z)
    assert rx("min(z, c)") == MaxMin("min", Z, Broadcast(C, ("n", 1)))
    # x^T y is 1×1 and scales
    assert rx("y^T b z") == Scale(MatMul((Transpose(Y), Bv)), Z)
    assert rx("z y^T b") == MatMul((Z, Transpose(Y), Bv))  # left to right: (z yᵀ) b, a valid product


def test_no_other_broadcasting() -> None:
    e = err("δ ⊙ xᵀ", "δ: n, x: m")
    assert isinstance(e, ShapeError) and e.col == 3


def test_nary_flattening() -> None:
    assert rx("A B A") == MatMul((A, Bm, A))
    assert rx("A (B A)") == MatMul((A, Bm, A))
    assert rx("y + b - z + u") == Add((Y, Bv, Neg(Z), U))
    assert rx("y + (b + z)") == Add((Y, Bv, Z))
    assert rx("y - (b + z)") == Add((Y, Neg(Add((Bv, Z)))))


def test_negative_literals_fold() -> None:
    assert rx("-2 y") == Scale(Num(-2), Y)
    assert rx("-c y") == Scale(Neg(C), Y)


# ───────────────────────────── precedence ─────────────────────────────


def test_precedence_cases_of_issue_2() -> None:
    assert rx("W x ⊙ b") == Hadamard(MatMul((W, X)), Bv)
    g = "z: n, W: m x n, δ: m"
    w, d, z = Var("W", ("m", "n")), Var("δ", ("m", 1)), Var("z", ("n", 1))
    assert rx("σ'(z) ⊙ Wᵀ δ", g) == Hadamard(Apply("sigma", z, 1), MatMul((Transpose(w), d)))
    assert rx("Wᵀ δ ⊙ σ'(z)", g) == Hadamard(MatMul((Transpose(w), d)), Apply("sigma", z, 1))
    assert rx("-y^T b") == MatMul((Neg(Transpose(Y)), Bv))
    e = rx("d/dW (W x - y)^T (W x - y) + c")
    r = Add((MatMul((W, X)), Neg(Y)))
    assert e == Add((Derivative(MatMul((Transpose(r), r)), W, "d", "mixed"), Broadcast(C, ("n", "m"))))


def test_entrywise_binds_looser_than_product() -> None:
    assert rx("b ⊙ W x") == Hadamard(Bv, MatMul((W, X)))
    assert rx("y ⊙ b ⊘ z") == HadDiv(Hadamard(Y, Bv), Z)  # left to right


def test_postfix_binds_tighter_than_unary_and_power() -> None:
    assert rx("-c^2") == Neg(Power(C, 2))
    assert rx("(y^T b)^2") == Power(MatMul((Transpose(Y), Bv)), 2)
    assert rx("‖y‖^2") == Power(Norm(Y), 2)
    assert rx("A^T^T") == Transpose(Transpose(A))


def test_derivative_scope() -> None:
    g = "x: n, A: n x n, c: n"
    x, a, cc = Var("x", ("n", 1)), Var("A", ("n", "n")), Var("c", ("n", 1))
    e = rx("d/dx x^T A x + c^T x", g)
    # (the derivative is n×1; the scalar cᵀ x is expanded)
    assert e == Add((Derivative(MatMul((Transpose(x), a, x)), x, "d", "mixed"),
                     Broadcast(MatMul((Transpose(cc), x)), ("n", 1))))
    # a leading minus is part of the body
    e = rx("d/dx -x^T A x", g)
    assert e == Derivative(MatMul((Neg(Transpose(x)), a, x)), x, "d", "mixed")
    # a factor before it multiplies the derivative
    e = rx("alpha d/dx x^T x", "alpha: scalar, x: n")
    assert isinstance(e, Scale) and isinstance(e.arg, Derivative)
    # the body reaches past entrywise operators, stops at a closing bracket
    e = rx("(d/dx x ⊙ x) + A", g)
    assert isinstance(e, Add) and e.args[0] == Derivative(Hadamard(x, x), x, "d", "mixed")
    # ∂ spelling
    assert rx("∂/∂x x^T x", g) == rx("d/dx x^T x", g)


def test_derivative_layouts() -> None:
    for layout, shape in (("mixed", ("n", 1)), ("numerator", (1, "n")), ("denominator", ("n", 1))):
        e = rx("d/dx x^T x", "x: n", layout=layout)
        assert e.layout == layout and e.shape == shape


def test_layout_setting_changes_later_derivatives() -> None:
    d = read_document("x: n\nd/dx x^T x\nlayout numerator\nd/dx x^T x", given=None)
    bares = [s for s in d.statements if isinstance(s, Bare)]
    assert [b.expr.layout for b in bares] == ["mixed", "numerator"]
    assert isinstance(d.statements[2], LayoutSetting) and d.statements[2].layout == "numerator"


def test_derivative_by_let_name_and_entry() -> None:
    d = read_document("let z = W a + b; d/dz sigma(z)", given="W: n x m, a: m, b: n")
    bare = d.statements[-1]
    assert isinstance(bare.expr.wrt, Named) and bare.expr.wrt.name == "z"
    assert bare.expr.expr == Apply("sigma", bare.expr.wrt, 0)
    e = rx("d/dW[j, k] C(W a)", "C: R^n -> R, W: n x m, a: m")
    assert e.wrt == Entry(Var("W", ("n", "m")), (Index("j", "n"), Index("k", "m")))


def test_derivative_by_non_variable_is_an_error() -> None:
    e = err("d/dn x^T x", "x: n")
    assert isinstance(e, TypeCheckError) and "size" in e.message
    e = err("grad(x^T x, 2 x)", "x: n")
    assert isinstance(e, TypeCheckError) and e.col == 13
    e = err("d/df f(x)", "f: R -> R, x: n")
    assert "function" in e.message


# ───────────────────────────── entries and index sums ─────────────────────────────


def test_componentwise_claim_acceptance() -> None:
    d = read_document("z[j] = sum_k W[j, k] x[k] + b[j]", given="W: n x m, x: m, b: n")
    (claim,) = d.statements
    j, k = Index("j", "n"), Index("k", "m")
    assert claim.free == (j,)
    z = Var("z", ("n", 1))
    assert claim.lhs == Entry(z, (j,))
    assert claim.rhs == Add((IndexSum(k, Scale(Entry(W, (j, k)), Entry(X, (k,)))), Entry(Bv, (j,))))
    assert "z: n (inferred)" in d.env.inferred
    other = read_document("z[j] = Σ_k W[j, k] x[k] + b[j]", given="W: n x m, x: m, b: n").statements[0]
    assert (other.lhs, other.rhs, other.free) == (claim.lhs, claim.rhs, claim.free)


def test_entries() -> None:
    assert rx("W[1, 2]") == Entry(W, (1, 2))
    assert rx("(W x)[j]") == Entry(MatMul((W, X)), (Index("j", "n"),))
    assert rx("y^T[2]") == Entry(Transpose(Y), (1, 2))
    d = read_document("d/dW[j, k] C(W a) = a[k] delta[j]", given="C: R^n -> R, W: n x m, a: m, delta: n")
    assert {i.name for i in d.statements[0].free} == {"j", "k"}


def test_index_errors() -> None:
    e = err("sum_k W[k, k]", "W: n x m")
    assert isinstance(e, TypeCheckError) and "two different dimensions" in e.message and e.col == 12
    e = err("W[j]", "W: n x m")
    assert "two indices" in e.message
    e = err("x[4]", "x: 3")
    assert "out of range" in e.message
    e = err("sum_k y[j]", "y: n")
    assert "does not index" in e.message
    e = err("sum_k W[j, k] x", "W: n x m, x: m")
    assert isinstance(e, ShapeError) and "sums scalars" in e.message


# ───────────────────────────── types ─────────────────────────────


@pytest.mark.parametrize("decl, dims, props", [
    ("c: scalar", (1, 1), set()),
    ("c: R", (1, 1), set()),
    ("c: ℝ", (1, 1), set()),
    ("x: n", ("n", 1), set()),
    ("x: R^n", ("n", 1), set()),
    ("x: ℝ^n", ("n", 1), set()),
    ("x: n x 1", ("n", 1), set()),
    ("x: n × 1", ("n", 1), set()),
    ("x: 1 x n", (1, "n"), set()),
    ("x: n x m", ("n", "m"), set()),
    ("x: n×m", ("n", "m"), set()),
    ("x: R^{n x m}", ("n", "m"), set()),
    ("x: ℝ^(n×m)", ("n", "m"), set()),
    ("x: 3 x n", (3, "n"), set()),
    ("x: n_l x n1", ("n_l", "n1"), set()),
    ("x: n x n symmetric", ("n", "n"), {"symmetric"}),
    ("x: n x n positive definite", ("n", "n"), {"spd", "symmetric"}),
    ("x: n x n spd", ("n", "n"), {"spd", "symmetric"}),
    ("x: n x n diagonal", ("n", "n"), {"diagonal"}),
    ("x: n positive", ("n", 1), {"positive"}),
    ("x: n probability", ("n", 1), {"probability"}),
])
def test_type_spellings(decl: str, dims: tuple, props: set) -> None:
    for text in (decl, "given " + decl):
        v = parse_declarations(text).vars["x" if not decl.startswith("c") else "c"]
        assert v.dims == dims and set(v.props) == props


def test_several_names_per_declaration() -> None:
    env = parse_declarations("given W: n x m, x: m, y: n")
    assert env.vars["W"].dims == ("n", "m") and env.vars["x"].dims == ("m", 1) and env.vars["y"].dims == ("n", 1)
    env = parse_declarations("a, b: n, c: scalar")
    assert env.vars["a"].dims == env.vars["b"].dims == ("n", 1)
    d = read_document("W: n x m\nx: m, y: n\nW x - y")
    assert isinstance(d.statements[0], Declaration) and d.statements[0].names == (W,)
    assert d.statements[-1].expr == Add((MatMul((W, X)), Neg(Y)))


def test_redeclaration() -> None:
    d = read_document("x: n\nx: n\nx^T x")
    assert not any(isinstance(s, ErrorLine) for s in d.statements)
    d = read_document("x: n\nx: m\nx^T x")
    assert isinstance(d.statements[1], ErrorLine) and d.statements[1].error.line == 2
    assert "already declared" in d.statements[1].error.message


@pytest.mark.parametrize("decl, frag", [
    ("S: n x m symmetric", "square"),
    ("y: n x m probability", "column"),
])
def test_bad_properties(decl: str, frag: str) -> None:
    with pytest.raises(TypeCheckError, match=frag):
        parse_declarations(decl)


# ───────────────────────────── inference ─────────────────────────────


def test_inference_xtax() -> None:
    e, env = read_expr("x^T A x")
    (r,) = {v.dims[0] for v in ir.walk(e) if isinstance(v, Var)}
    assert env.vars["A"].dims == (r, r) and env.vars["x"].dims == (r, 1)
    assert env.inferred == [f"x: {r} (inferred)", f"A: {r} x {r} (inferred)"]


def test_inference_spelling_kinds() -> None:
    _, env = read_expr("alpha W v + β w")
    assert env.vars["alpha"].dims == (1, 1) and env.vars["β"].dims == (1, 1)
    wr, wc = env.vars["W"].dims
    assert env.vars["v"].dims == (wc, 1) and env.vars["w"].dims == (wr, 1)
    assert wr != wc and "alpha: scalar (inferred)" in env.inferred


def test_inference_avoids_used_names() -> None:
    _, env = read_expr("A x + n^T m x")  # n and m are names here
    dims = {d for v in env.vars.values() for d in v.dims if isinstance(d, str)}
    assert not dims & {"n", "m", "A", "x"}


def test_inference_uses_declared_sizes() -> None:
    _, env = read_expr("W x + y", given="W: n x m")
    assert env.vars["x"].dims == ("m", 1) and env.vars["y"].dims == ("n", 1)
    assert env.inferred == ["x: m (inferred)", "y: n (inferred)"]


def test_inference_ambiguity_asks_for_declaration() -> None:
    e = err("x y", None)  # two columns: no guess that y has one entry
    assert isinstance(e, ShapeError) and "x" in e.message and "y" in e.message
    assert "not declared" in e.message and "declare them" in e.message
    assert isinstance(e, TypeCheckError) and e.col == 3  # a shape conflict, and an ambiguity asking for a declaration
    e = err("diag(A)", None)
    assert isinstance(e, ShapeError) and "A was not declared" in e.message
    e = err("f(x)", "x: n")
    assert "f: R -> R" in e.message
    e = err("W x + y", "W: n x m, x: m, y: k")  # everything declared: no such hint
    assert "declare" not in e.message and not isinstance(e, TypeCheckError)


def test_inference_across_lines() -> None:
    d = read_document("A x\nx^T A")
    ((r, c),) = {d.env.vars["A"].dims}
    assert d.env.vars["x"].dims == (c, 1)


# ───────────────────────────── shape errors point at the operator ─────────────────────────────


@pytest.mark.parametrize("text, given, col, frag", [
    ("W x + y", "W: n x m, x: m, y: k", 5, "cannot add W x (n×1) and y (k×1)"),
    ("W y", "W: n x m, y: n", 3, "cannot multiply W (n×m) and y (n×1)"),
    ("y ⊙ x", "x: m, y: n", 3, "entrywise"),
    ("x^2", "x: n", 2, "x.^2"),
    ("tr(W)", "W: n x m", 1, "square"),
    ("A^-1", "A: n x m", 2, "square"),
    ("x / y", "x: n, y: n", 3, "divisor"),
    ("C(y)", "C: R^m -> R, y: n", 1, "length m"),
    ("a + b + y", "a: n, b: n, y: m", 7, "a + b"),
])
def test_shape_errors(text: str, given: str, col: int, frag: str) -> None:
    e = err(text, given)
    assert isinstance(e, ShapeError), e
    assert e.line == 1 and e.col == col, str(e)
    assert frag in e.message
    lines = str(e).split("\n")
    assert lines[0].startswith(f"<input>:1:{col}: ")
    assert lines[2].index("^") == lines[1].index(text) + col - 1


def test_error_in_given_text() -> None:
    with pytest.raises(MatcalcError) as info:
        read_document("x^T x", given="x: n\nx: m")
    assert info.value.where == "<given>" and info.value.line == 2


# ───────────────────────────── syntax errors ─────────────────────────────


@pytest.mark.parametrize("text, line, col, frag", [
    ("(W x", 1, 5, "expected ')'"),
    ("W x)", 1, 4, "unbalanced ')'"),
    ("x +", 1, 4, "missing operand"),
    ("x ^", 1, 4, "without an exponent"),
    ("x ^ y", 1, 5, "a power by a name is not supported"),
    ("x $", 1, 3, "unknown character"),
    ("‖x", 1, 3, "closing"),
    ("x ⊙", 1, 4, "missing operand"),
    ("f(x,", 1, 5, "expected"),
    ("W[j", 1, 4, "]"),
    ("* x", 1, 1, "missing operand"),
    ("x = ", 1, 4, "right-hand side"),
    ("let = x", 1, 5, "name"),
    ("W: n x", 1, 7, "size"),
    ("W: ", 1, 3, "type"),
    ("layout sideways", 1, 8, "layout"),
    ("x: n\ny +", 2, 4, "missing operand"),
    ("d/dx", 1, 5, "needs an expression"),
    ("()", 1, 2, "empty"),
])
def test_syntax_errors(text: str, line: int, col: int, frag: str) -> None:
    with pytest.raises(ParseError) as info:
        read_document(text, where="hw.mc")
    e = info.value
    assert (e.line, e.col) == (line, col), str(e)
    assert frag in e.message
    out = str(e).split("\n")
    assert out[0].startswith(f"hw.mc:{line}:{col}: ")
    assert out[2].index("^") == col + 1  # two spaces of indent


def test_a_syntax_error_is_that_lines_error_and_the_rest_is_read() -> None:
    # SPEC section 6: a line that cannot be parsed gets its located error; the other lines are still read, and a
    # step after it continues from the last readable line
    doc = read_document("x: n\nx^T x\n= (x\n= ‖x‖^2\n  = x^T x", where="hw.mc")
    errs = [s for s in doc.statements if isinstance(s, ErrorLine)]
    assert [(s.line, type(s.error).__name__) for s in errs] == [(3, "ParseError")]
    assert str(errs[0].error).split("\n")[0] == "hw.mc:3:5: expected ')' to match the '(' at column 3"
    steps = [s for s in doc.statements if isinstance(s, Step)]
    assert [(s.line, s.prev_line) for s in steps] == [(4, 2), (5, 4)]


def test_an_unknown_character_is_that_lines_error() -> None:
    doc = read_document("x: n\nx^T x $\nx^T x = ‖x‖^2")
    errs = [s for s in doc.statements if isinstance(s, ErrorLine)]
    assert [(s.line, s.error.col, s.error.message) for s in errs] == [(2, 7, "unknown character '$' (U+0024)")]
    assert any(isinstance(s, Claim) for s in doc.statements)


def test_a_let_that_cannot_be_parsed_leaves_its_name_broken() -> None:
    doc = read_document("x: n\nlet r = (x\nr^T r = ‖x‖^2\nx^T x = ‖x‖^2")
    errs = [s for s in doc.statements if isinstance(s, ErrorLine)]
    assert [s.line for s in errs] == [2, 3]
    assert "line 2" in errs[1].error.message


def test_nothing_readable_raises_the_first_syntax_error() -> None:
    with pytest.raises(ParseError) as info:
        read_document("x: n\n(x\nx)")
    assert info.value.line == 2


# ───────────────────────────── documents ─────────────────────────────


DOC = """theorem lsq: Least squares
source: a textbook, (3.1)
given W: n x m, x: m, y: n   # the data
let r = W x - y
d/dW ‖r‖^2 = 2 r x^T
  = 2 (W x - y) x^T
  = x + y
  = 2 r x^T; layout numerator
d/dW ‖W x - y‖^2
  = 2 x (W x - y)^T
"""


def test_document_statements() -> None:
    d = read_document(DOC, where="lsq.mc")
    kinds = [type(s).__name__ for s in d.statements]
    assert kinds == ["Header", "Header", "Declaration", "Let", "Claim", "Step", "ErrorLine", "Step",
                     "LayoutSetting", "Bare", "Step"]
    th, src = d.statements[0], d.statements[1]
    assert (th.key, th.name, th.value) == ("theorem", "lsq", "Least squares")
    assert src.key == "source" and src.value == "a textbook, (3.1)"
    assert d.theorem is th and d.source_note == "a textbook, (3.1)"
    let = d.statements[3]
    assert let.name == "r" and let.value == Add((MatMul((W, X)), Neg(Y)))
    claim = d.statements[4]
    r = Named("r", let.value)
    assert claim.lhs == Derivative(Power(Norm(r), 2), W, "d", "mixed")
    assert claim.rhs == Scale(Num(2), MatMul((r, Transpose(X))))  # a scalar in front scales the whole product
    s1, bad, s2 = d.statements[5], d.statements[6], d.statements[7]
    assert s1.prev == claim.rhs and s1.prev_line == 5
    assert isinstance(bad.error, ShapeError) and bad.error.line == 7 and bad.error.col == 7
    assert bad.error.where == "lsq.mc"
    assert s2.prev == s1.expr and s2.prev_line == 6  # judged against the last line that could be typed
    assert d.statements[8].line == 8 and d.statements[8].col == 14
    bare, s3 = d.statements[9], d.statements[10]
    assert bare.expr.layout == "numerator" and s3.prev == bare.expr and s3.prev_line == 9
    assert [s.line for s in d.judged()] == [5, 6, 7, 8, 10]


def test_semicolons_and_comments() -> None:
    d = read_document("x: n; y: n  # two vectors\n# only a comment\nx^T y ; x + y")
    assert [type(s).__name__ for s in d.statements] == ["Declaration", "Declaration", "Bare", "Bare"]
    assert [s.col for s in d.statements] == [1, 7, 1, 9]
    assert d.statements[3].text == "x + y"


def test_claim_chain_on_one_line() -> None:
    d = read_document("d/dx x^T x = x + x = 2 x", given="x: n")
    claim, step = d.statements
    assert isinstance(claim, Claim) and isinstance(step, Step)
    assert step.prev == claim.rhs and step.expr == Scale(Num(2), Var("x", ("n", 1)))


def test_transposed_sides_are_judged_other_differences_are_errors() -> None:
    d = read_document("d/dx x^T x = 2 x^T", given="x: n")
    assert isinstance(d.statements[0], Claim)
    d = read_document("d/dx x^T x = 2 x^T; d/dx x^T x = 2 x", given="x: n, y: m")
    assert isinstance(d.statements[1], Claim)
    e = err("d/dx x^T x = y", "x: n, y: m")
    assert isinstance(e, ShapeError) and e.col == 12 and "different shapes" in e.message


def test_one_line_document_that_cannot_be_typed_raises() -> None:
    e = err("d/dx x^T A x = 2 A x", "A: n x m, x: n")
    assert isinstance(e, ShapeError) and e.line == 1
    # with another claim that can be typed, it is an error line
    d = read_document("x^T x\nd/dx x^T A x = 2 A x", given="A: n x m, x: n")
    assert isinstance(d.statements[1], ErrorLine)


def test_first_step_without_previous_line() -> None:
    d = read_document("x^T x\n", given="x: n")
    assert isinstance(d.statements[0], Bare)
    e = err("= x", "x: n")
    assert isinstance(e, TypeCheckError) and "previous line" in e.message


def test_let_rules() -> None:
    d = read_document("let r = W x - y\nr^T r", given="W: n x m, x: m, y: n")
    assert d.env.lets["r"] == Add((MatMul((W, X)), Neg(Y)))
    e = read_document("let r = W x + x\nx^T x\nr^T r", given="W: n x m, x: m, y: n")
    assert isinstance(e.statements[0], ErrorLine) and isinstance(e.statements[2], ErrorLine)
    assert "could not be typed" in e.statements[2].error.message
    e = read_document("let x = W x\nx^T x", given="W: n x m, x: m")
    assert isinstance(e.statements[0], ErrorLine) and "already" in e.statements[0].error.message


def test_env_contents() -> None:
    d = read_document("f: R -> R\nlet s = f(x)\nA s", given="x: n")
    assert d.env.funcs == {"f": FuncDecl("f", "entrywise")}
    assert set(d.env.vars) == {"x", "A"} and "s" in d.env.lets
    assert d.env.inferred == ["A: k x n (inferred)"] or d.env.inferred[0].endswith("x n (inferred)")


# ───────────────────────────── limits ─────────────────────────────


def test_limit_document_and_line_length() -> None:
    with pytest.raises(LimitError) as info:
        read_document("x + " * 3000 + "x")
    assert info.value.line == 1
    with pytest.raises(LimitError):
        read_document(("x\n" * 60_000))


def test_limit_nesting_depth() -> None:
    for text in ("(" * 5000 + "x" + ")" * 5000, "-" * 5000 + "x", "x" + "'" * 5000, "x" + " ⊙ x" * 500,
                 "‖(" * 3000 + "x" + ")‖" * 3000, "d/dx " * 2000 + "x", "sum_k " * 2000 + "x[k]"):
        with pytest.raises(LimitError):
            read_document(text)
    # a long flat sum or product is fine
    read_document(" + ".join(["x"] * 1000), given="x: n")
    read_document(" ".join(["A"] * 1000), given="A: n x n")


def test_limit_exponents_and_sizes() -> None:
    with pytest.raises(LimitError):
        read_document("A^65", given="A: n x n")
    assert rx("A^64", "A: n x n") == Power(Var("A", ("n", "n")), 64)
    with pytest.raises(LimitError):
        read_document("c^1001", given="c: scalar")
    with pytest.raises(LimitError):
        read_document("x.^(1/1001)", given="x: n")
    with pytest.raises(LimitError):
        read_document("c^(10^10^10)", given="c: scalar")
    with pytest.raises(LimitError):
        read_document("x: 100000")
    with pytest.raises(LimitError):
        read_document("ones(99999)")
    with pytest.raises(LimitError):
        read_document("2" * 40)


def test_let_chain_limits() -> None:
    # a let used twice is one shared node: 2^40 nodes written out, about 120 distinct (tests/test_dag.py has the
    # boundaries of both let limits)
    text = "x: n\nlet a0 = x\n" + "\n".join(f"let a{i + 1} = a{i} + a{i}" for i in range(40)) + "\na40^T a40"
    assert read_document(text).statements[-1].expr.is_scalar
    with pytest.raises(LimitError):
        read_document("x: n\nlet a0 = x\n" + "\n".join(f"let a{i + 1} = (((a{i})))ᵀᵀ" for i in range(3000)))


# ───────────────────────────── round trip with the printer ─────────────────────────────


@pytest.mark.parametrize("text", [
    "W x ⊙ b", "σ'(y) ⊙ A z", "x (W x - y)ᵀ", "-(y^T b)", "d/dW (W x - y)^T (W x - y)", "‖W x - y‖^2", "A⁻¹ B⁻ᵀ", "y + c",
    "c - y", "max(0, z)", "1ᵀ y", "2 (A B)", "y.^2 ⊘ b", "A ⊗ B", "tr(A B) + det(A)", "c^(1/3)", "softmax(z) - y",
    "-2 y", "(y - b)ᵀ A (y - b)",
])
def test_round_trip_through_printer(text: str) -> None:
    from matcalc.printing import to_text

    e = rx(text)
    assert rx(to_text(e)) == e, to_text(e)


# ───────────────────────────── type errors: every path names its position ─────────────────────────────


@pytest.mark.parametrize("text, given, col, frag", [
    ("exp + x", "x: n", 1, "exp is a function"),
    ("f x", "f: R -> R, x: n", 1, "f is a function"),
    ("tr'(A)", "A: n x n", 1, "only entrywise functions take a prime"),
    ("∇f(x)", "f: R -> R, x: n", 1, "∇ needs a function of a vector"),
    ("∇exp(x)", "x: n", 1, "∇ needs a declared function"),
    ("∇y(x)", "x: n, y: n", 1, "∇ needs a declared function"),
    ("C'''(x)", "C: R^n -> R, x: n", 1, "the value, the gradient"),  # C''(x) is the Hessian (issue 13)
    ("exp(x, x)", "x: n", 1, "exp takes one argument, not 2"),
    ("max(x)", "x: n", 1, "max takes 2 arguments"),
    ("ones(x + x)", "x: n", 6, "takes sizes"),
    ("ones(0.5)", None, 6, "positive integers"),
    ("zeros(n / 2, n)", "x: n", 7, "takes sizes"),  # a product of sizes reads; a quotient does not
    ("eye(n * 0.5)", "x: n", 9, "positive integers"),
    ("y (x, x)", "x: n, y: n", 1, "y is not a function"),
    ("d/dn x", "x: n", 4, "cannot differentiate by n: it is a size, not a variable"),
    ("d/dI x", "x: n", 4, "identity"),
    ("let s = r; d/ds[j] s", "r: n", 15, "an entry of a let name"),
    ("x[i] + W[1, 1]", "x: n, W: 2 x 2", 1, None),
    ("c[1]", "c: scalar", 2, "scalar: it has no entries"),
    ("x / 0", "x: n", 3, "division by zero"),
])
def test_type_errors(text: str, given: str | None, col: int, frag: str | None) -> None:
    if frag is None:  # not an error: these read
        read_document(text, given=given)
        return
    e = err(text, given)
    assert isinstance(e, TypeCheckError), repr(e)
    assert (e.line, e.col) == (1, col), str(e)
    assert frag in e.message
    assert str(e).split("\n")[2].index("^") == col + 1


def test_let_errors_have_positions() -> None:
    d = read_document("x: n\nlet x2 = x\nlet x2 = x + x\nlet s = s + x\nx: m\nlet f = x\nf: R -> R\nx^T x")
    errs = [s for s in d.statements if isinstance(s, ErrorLine)]
    assert [(e.line, e.error.col) for e in errs] == [(3, 5), (4, 5), (5, 1), (7, 1)]
    assert "already" in errs[0].error.message and "own definition" in errs[1].error.message
    assert "already declared" in errs[2].error.message and "defined by let" in errs[3].error.message


def test_step_free_indices_include_the_previous_line() -> None:
    d = read_document("delta[j]\n  = sum_k W[k, j] e[k]", given="delta: n, W: m x n, e: m")
    step = d.statements[-1]
    assert step.free == (Index("j", "n"),)


def test_limit_errors_have_positions() -> None:
    with pytest.raises(LimitError) as info:
        read_document("x: n\nA: n x n\nA^100 x", given=None)
    assert (info.value.line, info.value.col) == (3, 2)
    with pytest.raises(LimitError) as info:
        read_document("x\n" + "y" * 10_001)
    assert (info.value.line, info.value.col) == (2, 10_001)
    with pytest.raises(LimitError) as info:
        read_document("x: 3 x 20000")
    assert info.value.col == 8


def test_unknown_layout_is_a_usage_error() -> None:
    from matcalc.errors import UsageError

    with pytest.raises(UsageError):
        read_document("x", layout="sideways")


@pytest.mark.parametrize("expr, layout, shape", [
    # SPEC section 4, row by row: scalar by vector x (n), scalar by matrix X (n×m), vector y (k) by vector x (n),
    # vector y (k) by a scalar
    ("d/dx c x^T x", "mixed", ("n", 1)), ("d/dx c x^T x", "numerator", (1, "n")),
    ("d/dx c x^T x", "denominator", ("n", 1)),
    ("d/dX sum(X)", "mixed", ("n", "m")), ("d/dX sum(X)", "numerator", ("m", "n")),
    ("d/dX sum(X)", "denominator", ("n", "m")),
    ("d/dx B x", "mixed", ("k", "n")), ("d/dx B x", "numerator", ("k", "n")), ("d/dx B x", "denominator", ("n", "k")),
    ("d/dc c y", "mixed", ("k", 1)), ("d/dc c y", "numerator", ("k", 1)), ("d/dc c y", "denominator", (1, "k")),
    ("grad(sum(X), X)", "numerator", ("n", "m")),
    ("jacobian(B x, x)", "denominator", ("k", "n")),
])
def test_layout_table(expr: str, layout: str, shape: tuple) -> None:
    e = rx(expr, "x: n, X: n x m, B: k x n, y: k, c: scalar", layout=layout)
    assert e.shape == shape


def test_kronecker_delta() -> None:
    d = read_document("d/dx[j] x[i] = [i = j]", given="x: n")
    (claim,) = d.statements
    i, j = Index("i", "n"), Index("j", "n")
    assert claim.rhs == ir.Delta(i, j) and set(claim.free) == {i, j}
    assert rx("sum_k W[j, k] [k = 2]") == IndexSum(Index("k", "m"), Scale(Entry(W, (Index("j", "n"), Index("k", "m"))),
                                                                        ir.Delta(Index("k", "m"), 2)))
    # an entry directly after an operand is still an entry
    assert rx("W[j, k]") == Entry(W, (Index("j", "n"), Index("k", "m")))
    e = err("sum_j sum_k W[j, k] [j = k]", "W: n x m")
    assert isinstance(e, TypeCheckError) and "different dimensions" in e.message


def test_long_products_stay_shallow_and_fast() -> None:
    import time

    t0 = time.perf_counter()
    e = rx(" ".join(["A"] * 3000), "A: n x n")
    assert isinstance(e, MatMul) and len(e.args) == 3000
    assert time.perf_counter() - t0 < 5
    with pytest.raises(LimitError):
        read_document("x " + "c " * 60, given="x: n, c: scalar")
    with pytest.raises(LimitError):
        read_document("x" + " / c" * 60, given="x: n, c: scalar")
    assert rx("x " + "c " * 40, "x: n, c: scalar").shape == ("n", 1)


def test_call_with_space_and_primes() -> None:
    assert rx("σ' (z)") == Apply("sigma", Z, 1)
    assert rx("exp (z)") == Apply("exp", Z, 0)
    assert rx("y' (b)") == MatMul((Transpose(Y), Bv))
    # a postfix after the bracket of a non-function belongs to the bracket
    assert rx("y (b)^T") == MatMul((Y, Transpose(Bv)))
    assert rx("sigma(z)^T") == Transpose(Apply("sigma", Z, 0))


def test_negated_constants_sized_by_context() -> None:
    d = read_document("d/dx (-sum(x)) = -1; d/dc (-c) = -1", given="x: n, c: scalar")
    assert d.statements[0].rhs == Neg(Ones(("n", 1)))
    assert d.statements[1].rhs == Num(-1)


def test_identity_sized_through_a_kronecker_product() -> None:
    d = read_document("d/dW W x = xᵀ ⊗ I", given="W: n x m, x: m")
    claim = d.statements[0]
    assert claim.rhs == Kron(Transpose(Var("x", ("m", 1))), Identity("n"))
    assert claim.lhs.shape == claim.rhs.shape == ("n", "m*n")
    d = read_document("jacobian(W x, W) = xᵀ ⊗ I", given="W: 3 x m, x: m")
    assert d.statements[0].rhs.b == Identity(3)


def test_negation_folding_only_on_literals() -> None:
    assert rx("-2") == Num(-2) and rx("-(2)") == Num(-2)
    assert rx("-(-2)") == Neg(Num(-2))  # as written: the printer's "-(-2)" reads back to the same IR
    assert rx("-c") == Neg(C)


def test_power_forms() -> None:
    assert rx("A^(-1)") == Inverse(A) and rx("(y^T b)^-1") == Power(MatMul((Transpose(Y), Bv)), -1)
    assert rx("‖y‖^-1") == Power(Norm(Y), -1)
    assert rx("A^0") == Power(A, 0)
    e = err("A^(1/2)", G)
    assert isinstance(e, ShapeError) and "integer exponent" in e.message and e.col == 2
    e = err("y^0.5", G)
    assert isinstance(e, ShapeError) and "y.^0.5" in e.message


# ───────────────────────────── student spellings (issue 15) ─────────────────────────────


def _claim(text: str, given: str | None = None):
    doc = read_document(text, given=given)
    errs = [s for s in doc.statements if isinstance(s, ErrorLine)]
    assert not errs, str(errs[0].error)
    return next(s for s in doc.statements if isinstance(s, Claim))


@pytest.mark.parametrize("leibniz, prefix", [
    ("d(x^T A x)/dx", "d/dx (x^T A x)"),
    ("∂(x^T A x)/∂x", "d/dx (x^T A x)"),
    ("d(x^T A x) / dx", "d/dx (x^T A x)"),
    ("d(‖A x‖^2)/dx + x", "d/dx ‖A x‖^2 + x"),
    ("2 d(x^T x)/dx", "2 (d/dx x^T x)"),
    ("d(x^T x)/dx^T", "(d/dx x^T x)^T"),
])
def test_leibniz_spelling_reads_as_the_prefix_derivative(leibniz: str, prefix: str) -> None:
    g = "A: n x n, x: n"
    assert read_expr(leibniz, given=g)[0] == read_expr(prefix, given=g)[0]


def test_leibniz_scope_is_the_bracket() -> None:
    e, _ = read_expr("d(x^T x)/dx + x", given="x: n")
    assert isinstance(e, ir.Add) and isinstance(e.args[0], ir.Derivative) and e.args[1] == ir.Var("x", ("n", 1))


def test_a_variable_called_d_still_multiplies() -> None:
    e, _ = read_expr("d (x^T x)", given="d: scalar, x: n")
    assert not any(isinstance(n, ir.Derivative) for n in ir.walk(e))
    e, _ = read_expr("d(x^T x)", given="d: scalar, x: n")
    assert not any(isinstance(n, ir.Derivative) for n in ir.walk(e))


def test_leibniz_with_a_space_after_d_shows_the_accepted_spelling() -> None:
    with pytest.raises(ParseError) as info:
        read_document("x: n\nd(x^T x)/d x = 2 x")
    e = info.value
    assert (e.line, e.col) == (2, 10)
    assert e.message == ("in Leibniz spelling the d and the variable go together: write d(x^T x)/dx, or "
                         "d/dx (x^T x)")


def test_df_dx_of_a_let_name_is_its_derivative() -> None:
    c = _claim("x: n\nlet f = x^T x\ndf/dx = 2 x")
    assert c.lhs == ir.Derivative(ir.Named("f", c.lhs.expr.value), ir.Var("x", ("n", 1)))
    c = _claim("x: n\nlet f = x^T x\n3 df/dx = 6 x")
    assert any(isinstance(n, ir.Derivative) for n in ir.walk(c.lhs))


@pytest.mark.parametrize("text, message", [
    ("W: n x m, x: m\ndC/dW = x", "dC/dW reads as a division of dC by dW (C is not declared, not a let name): for a "
                                  "derivative write d/dW C(…), or d(C(…))/dW, or define let C = … first and then "
                                  "dC/dW"),
    ("x: n\ndx/dx = I", "dx/dx reads as a division of dx by dx (x is a variable, not a let name): for a derivative "
                        "write d/dx x, or d(x)/dx"),
])
def test_near_miss_fractions_show_the_accepted_spelling(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        read_document(text)
    assert (info.value.line, info.value.col, info.value.message) == (2, 1, message)


def test_partial_fraction_of_a_let_name_reads_as_its_derivative() -> None:
    # the lecture's own notation: ∂C/∂W for a let name C is dC/dW
    doc_d = "W: n x m, x: m, y: n\nlet C = sum((W x - y).^2)\n{} = 2 (W x - y) x^T"
    c = _claim(doc_d.format("∂C/∂W"))
    assert c.lhs == _claim(doc_d.format("dC/dW")).lhs
    assert isinstance(c.lhs, ir.Derivative) and c.lhs.wrt == ir.Var("W", ("n", "m"))
    c = _claim(doc_d.format("2 ∂C / ∂W"))
    assert c.lhs == _claim(doc_d.format("2 dC/dW")).lhs
    from matcalc.api import check_text

    rep = check_text(doc_d.format("∂C/∂W") + "\n∂C/∂W = (W x - y) x^T")
    assert [r.verdict for r in rep.results] == ["verified", "refuted"]
    # the declarations reach the lines above them here too: W below is the variable of ∂C/∂W, C a function
    above = _claim("let C = sum((W x - y).^2)\n∂C/∂W = 2 (W x - y) x^T\nW: n x m, x: m, y: n")
    assert above.lhs == _claim(doc_d.format("∂C/∂W")).lhs
    doc = read_document("∂C/∂W = x\nC: R^n -> R, W: n x m, x: m\nx = x")
    assert doc.statements[0].error.message.startswith("∂C/∂W: C is a function, not a let name")


@pytest.mark.parametrize("text, col, message", [
    ("C: R^n -> R, W: n x m, x: m\n∂C/∂W = x",
     1, "∂C/∂W: C is a function, not a let name: for a derivative write ∂/∂W C(…), or ∂(C(…))/∂W"),
    ("W: n x m, x: m\n∂C/∂W = x", 1, "∂C/∂W: C is not declared, not a let name: for a derivative write ∂/∂W "
                                     "C(…), or ∂(C(…))/∂W, or define let C = … first and then ∂C/∂W"),
    ("x: n\n∂x/∂x = I", 1, "∂x/∂x: x is a variable, not a let name: for a derivative write ∂/∂x x, or ∂(x)/∂x"),
    ("x: n\nlet f = x^T x\n∂f/∂x[1] = 2 x", 1, "'∂' starts a derivative: write ∂/∂x e, ∂(e)/∂x, or ∂f/∂x for a "
                                                "let name f"),
])
def test_near_miss_partial_fractions_show_the_accepted_spelling(text: str, col: int, message: str) -> None:
    doc = read_document(text + "\nx = x")  # the last line is typed: the near miss is its line's error
    [err] = [s for s in doc.statements if isinstance(s, ErrorLine)]
    assert (err.error.col, err.error.message) == (col, message)
    assert not [v for v in doc.env.vars if v.startswith("∂")]


def test_names_seen_only_in_lines_in_error_are_not_inferred() -> None:
    doc = read_document("given W: n x m, x: m, y: n\nlet C = sum((W x - y).^2)\ndC/dW = 2 (W x - y) x^T\n"
                        "d^2C/dx^2 = 2 W^T W\ndC/dW^T = 2 x (W x - y)^T\nq^T x = x^T q")
    assert [type(s).__name__ for s in doc.statements].count("ErrorLine") == 1
    assert doc.env.inferred == ["q: m (inferred)"]


@pytest.mark.parametrize("line, col, message", [
    ("d^2C/dx^2 = 2 W^T W", 1, "d^2C/dx^2: a second derivative is written hessian(C, x) (the Hessian, for a scalar C)"),
    ("∂^2C/∂x^2 = 2 W^T W", 1, "a second derivative ∂²f/∂x² is written hessian(f, x)"),
    ("∂²C/∂x² = 2 W^T W", 1, "a second derivative ∂²f/∂x² is written hessian(f, x)"),
])
def test_a_second_derivative_in_leibniz_spelling_says_hessian(line: str, col: int, message: str) -> None:
    doc = read_document(f"given W: n x m, x: m, y: n\nlet C = sum((W x - y).^2)\n{line}\nx = x")
    [err] = [s for s in doc.statements if isinstance(s, ErrorLine)]
    assert (err.line, err.error.col, err.error.message) == (3, col, message)
    assert read_document("given d: scalar, C: scalar, dx: scalar\nd^2 C/dx^2 = C d^2 / dx^2").statements[1].lhs \
        is not None  # a variable called d still multiplies


def test_a_fraction_by_a_transposed_name_is_the_transposed_derivative() -> None:
    # as d(e)/dXᵀ reads (d/dX e)ᵀ: dC/dWᵀ and ∂C/∂Wᵀ for a let name C
    doc = "W: n x m, x: m, y: n\nlet C = sum((W x - y).^2)\n{} = 2 x (W x - y)^T"
    want = _claim(doc.format("(d/dW C)^T")).lhs
    assert _claim(doc.format("dC/dW^T")).lhs == want and _claim(doc.format("∂C/∂Wᵀ")).lhs == want


def test_declared_names_starting_with_d_divide() -> None:
    c = _claim("dy: scalar, dx: scalar\ndy/dx = dy/dx")
    assert not any(isinstance(n, ir.Derivative) for n in ir.walk(c.lhs))


# ───────────────────────────── sizes as numbers, mean ─────────────────────────────


def test_a_declared_size_where_a_scalar_belongs_is_that_size() -> None:
    e, _ = read_expr("1/N sum(X w)", given="X: N x d, w: d")
    assert ir.Size("N") in set(ir.walk(e))
    assert not any(isinstance(n, ir.Var) and n.name == "N" for n in ir.walk(e))
    e, _ = read_expr("K q / sqrt(d)", given="K: n x d, q: d")
    assert isinstance(e, ir.Div) and e.scalar == ir.Apply("sqrt", ir.Size("d"), 0)
    e, _ = read_expr("ones(N)ᵀ X / N", given="X: N x d")
    assert e.shape == (1, "d") and e.scalar == ir.Size("N")


def test_a_size_is_not_a_variable_of_the_derivative() -> None:
    with pytest.raises(TypeCheckError) as info:
        read_expr("d/dN N x", given="x: N")
    assert info.value.message == "cannot differentiate by N: it is a size, not a variable"


def test_mean_divides_the_sum_by_the_number_of_entries() -> None:
    g = "x: n, X: n x m, Y: 3 x 2"
    assert read_expr("mean(x)", given=g)[0] == ir.Div(ir.Sum(ir.Var("x", ("n", 1))), ir.Size("n"))
    assert read_expr("mean(X)", given=g)[0] == read_expr("sum(X) / (n m)", given=g)[0]
    assert read_expr("mean(Y)", given=g)[0] == ir.Div(ir.Sum(ir.Var("Y", (3, 2))), ir.Num(6))


@pytest.mark.parametrize("claim, given, verdict", [
    ("d/dw 1/N sum((X w - y).^2) = (2/N) X^T (X w - y)", "X: N x d, w: d, y: N", "verified"),
    ("d/dw 1/N sum((X w - y).^2) = 2 X^T (X w - y)", "X: N x d, w: d, y: N", "refuted"),
    ("d/dw mean((X w - y).^2) = (2/N) X^T (X w - y)", "X: N x d, w: d, y: N", "verified"),
    ("d/dw mean((X w - y).^2) = (2/d) X^T (X w - y)", "X: N x d, w: d, y: N", "refuted"),
    ("d/dq sum(K q / sqrt(d)) = K^T ones(n) / sqrt(d)", "K: n x d, q: d", "verified"),
    ("d/dq sum(K q / sqrt(d)) = K^T ones(n) / sqrt(n)", "K: n x d, q: d", "refuted"),
    ("d/dw ones(N)^T X w / N = X^T ones(N) / N", "X: N x d, w: d", "verified"),
    ("mean(X) = sum(X) / (n m)", "X: n x m", "verified"),
    ("mean(X) = sum(X) / n", "X: n x m", "refuted"),
])
def test_sizes_as_numbers_are_judged_at_concrete_sizes(claim: str, given: str, verdict: str) -> None:
    from matcalc.api import check_text

    rep = check_text(claim, given=given)
    assert rep.results[0].verdict == verdict, str(rep)
    if verdict == "verified":
        assert rep.results[0].methods["exact"].status == "equal"


def test_a_size_as_a_number_above_its_declaration_is_that_size() -> None:
    # declarations reach every line of a document, for sizes used as numbers as for the shapes of names
    doc = read_document("problem: d/dw (1/N) ‖X w - y‖^2\ngiven X: N x d, w: d, y: N\n"
                        "d/dw (1/N) ‖X w - y‖^2\n  = (2/N) X^T (X w - y)")
    assert not [s for s in doc.statements if isinstance(s, ErrorLine)]
    assert ir.Size("N") in set(ir.walk(doc.problem.expr))
    assert "N" not in doc.env.vars and not doc.env.inferred
    [step] = [s for s in doc.statements if isinstance(s, Step)]
    assert ir.Size("N") in set(ir.walk(step.expr)) and ir.Size("N") in set(ir.walk(step.prev))
    # a size is still not a variable of a derivative above its declaration
    doc = read_document("d/dN sum(x) = 0\nx: N\nsum(x) = sum(x)")
    assert doc.statements[0].error.message == "cannot differentiate by N: it is a size, not a variable"
    # a name declared as a variable somewhere in the document stays that variable, above its declaration too
    doc = read_document("n x = x n\ngiven x: n, n: scalar")
    assert Var("n", (1, 1)) in set(ir.walk(doc.statements[0].lhs))


@pytest.mark.parametrize("text, verdict", [
    ("d/dw (1/N) ‖X w - y‖^2 = (2/N) X^T (X w - y)\ngiven X: N x d, w: d, y: N", "verified"),
    ("d/dw (1/N) ‖X w - y‖^2 = (2/d) X^T (X w - y)\ngiven X: N x d, w: d, y: N", "refuted"),
])
def test_a_claim_above_the_declarations_of_its_sizes_is_judged(text: str, verdict: str) -> None:
    from matcalc.api import check_text

    rep = check_text(text)
    assert [r.verdict for r in rep.results] == [verdict], str(rep)


@pytest.mark.parametrize("claim, given, verdict", [
    ("sqrt(d)^2 = d", "x: d", "verified"),
    ("sqrt(d)^2 = d + 1", "x: d", "refuted"),
    ("d/dx x^T x / n = 2 x / n", "x: n, y: m", "verified"),
    ("d/dx x^T x / n = 2 x / m", "x: n, y: m", "refuted"),
])
def test_a_size_used_only_as_a_number_gets_a_size_in_both_methods(claim: str, given: str, verdict: str) -> None:
    # d (or m) is declared through a variable the claim does not use: the methods take the size from the Size node
    from matcalc.api import check_text

    rep = check_text(claim, given=given)
    res = rep.results[0]
    want = "equal" if verdict == "verified" else "different"
    assert (res.verdict, res.methods["exact"].status, res.methods["numeric"].status) == (verdict, want, want), \
        str(rep)


def test_the_sizes_of_size_nodes_are_chosen() -> None:
    from matcalc.verify.exact.sizes import choose_sizes
    from matcalc.verify.numeric.structure import _analyse

    e = ir.Power(ir.Size("d"), Fraction(1, 2))
    assert [sorted(sz) for sz in choose_sizes([e])] == [["d"], ["d"]]
    assert _analyse([e]).dims == ["d"]


# ───────────────────────────── helpful errors for what students write ─────────────────────────────


@pytest.mark.parametrize("given, col, message", [
    ("A: nxn", 4, "'nxn' is one name, not a matrix size: write n x n (spaces around the x)"),
    ("A: R^{nxm}", 7, "'nxm' is one name, not a matrix size: write n x m (spaces around the x)"),
    ("A: 3x3", 5, "write 3 x 3 (spaces around the x) for a matrix size"),
    ("A: n xm", 6, "write n x m (spaces around the x) for a matrix size"),
])
def test_sizes_written_without_spaces_are_errors_with_the_spelling(given: str, col: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_declarations(given)
    assert (info.value.col, info.value.message) == (col, message)


def test_names_with_an_x_are_still_sizes() -> None:
    env = parse_declarations("x: nx, y: xn, M: max x n_x1")
    assert env.vars["x"].shape == ("nx", 1) and env.vars["y"].shape == ("xn", 1)
    assert env.vars["M"].shape == ("max", "n_x1")


@pytest.mark.parametrize("text, col, message", [
    ("z^L", 3, "'^L': a power by a name is not supported (an exponent is a number such as 2 or -1, T, -T, or a "
               "bracketed constant such as (1/3)); for a layer index write z_L or zL, for an exponential exp(…)"),
    ("(W a)^l", 7, "'^l': a power by a name is not supported (an exponent is a number such as 2 or -1, T, -T, or a "
                   "bracketed constant such as (1/3)); for an exponential exp(…)"),
    ("x.^k", 4, "'.^k': a power by a name is not supported (an exponent is a number such as 2 or -1, or a bracketed "
                "constant such as (1/3)); for a layer index write x_k or xk, for an exponential exp(…)"),
])
def test_a_power_by_a_name_says_what_to_write(text: str, col: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        read_expr(text)
    assert (info.value.col, info.value.message) == (col, message)


def test_repeated_given_adds_declarations(capsys) -> None:
    from matcalc import cli

    assert cli.main(["show", "A x", "--given", "A: n x n", "--given", "x: n"]) == 0
    assert "A  n×n" in capsys.readouterr().out
    # the merged declarations still refuse a second, different type for one name, with its position
    assert cli.main(["show", "A x", "--given", "A: n x n, x: n", "--given", "x: m"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: <given>:2:1: ") and "x" in err


@pytest.mark.parametrize("text", ["1/N sum(X w)", "K w / sqrt(d)", "ones(N)ᵀ X / N", "mean(X)", "mean(X w) + d"])
def test_sizes_as_numbers_read_back(text: str) -> None:
    from matcalc.printing import to_latex, to_text

    g = "X: N x d, w: d, K: n x d"
    e, _ = read_expr(text, given=g)
    printed = to_text(e)
    assert read_expr(printed, given=g)[0] == e, printed
    assert "N" in to_latex(e) or "d" in to_latex(e)


# ───────────── scientific notation (a student's 1e-14 is a number, never 1 · e − 14) ─────────────


@pytest.mark.parametrize("text,value", [("1e-14", Fraction(1, 10**14)), ("2E3", Fraction(2000)),
                                        ("2.5e+2", Fraction(250)), (".5e1", Fraction(5))])
def test_scientific_notation_is_one_number(text: str, value: Fraction) -> None:
    from matcalc.lang.lexer import tokenize_line

    toks = [t for t in tokenize_line(text, 1) if t.kind != "EOF"]
    assert [(t.kind, t.value) for t in toks] == [("NUMBER", value)]


def test_scientific_notation_reads_as_its_value_and_a_spaced_e_stays_a_name() -> None:
    import matcalc

    assert matcalc.check("x + 1e-3 = x + 0.001", given="x: n").verdict == "verified"
    assert matcalc.check("x + 1e-3 = x + 0.01", given="x: n").verdict == "refuted"
    (st,) = read_document("2 e3 = 2 e3", given="e3: n").statements  # with a space: a product with the name e3
    assert isinstance(st.lhs, ir.Scale)


def test_a_huge_power_of_ten_is_a_limit_error() -> None:
    with pytest.raises(LimitError, match="power of ten"):
        read_document("1e99 c = c", given="c: scalar")


@pytest.mark.parametrize("text,words", [
    ("d/dx sum(x**2) = 2 x", "'**' is not a power"),
    ("d/dx x^T x == 2 x", "a claim uses a single '='"),
    ("d/d x x^T x = 2 x", "write d/dx with no space"),
    ("∂/∂ W tr(W) = eye(n)", "write ∂/∂W with no space"),
])
def test_near_miss_spellings_say_what_to_write(text, words):
    import matcalc
    from matcalc.errors import ParseError

    with pytest.raises(ParseError, match=re.escape(words)):
        matcalc.check(text, given="x: n, W: n x n")


def test_a_file_declaration_that_conflicts_with_given_names_given():
    # it said "already declared as n x n (line 1)", line 1 of the --given text, not of the file
    import matcalc

    rep = matcalc.check("given X: N x d, w: d, y: N\nd/dw ‖X w - y‖^2 = 2 X^T (X w - y)", given="X: n x n")
    errors = [r.error for r in rep.results if r.verdict == "error"]
    assert errors and "X is already declared as n x n by --given" in errors[0]


def test_a_sum_over_an_index_its_body_does_not_use_is_an_error():
    # Σ_k Σ_k x[k]: the inner sum binds k, so the outer one sums nothing (it was read as n times, silently)
    import matcalc
    from matcalc.errors import MatcalcError

    with pytest.raises(MatcalcError, match="does not index anything"):
        matcalc.check("sum_k sum_k x[k] = n sum(x)", given="x: n")
    assert matcalc.check("sum_j sum_k W[j, k] = sum(W)", given="W: n x m").verdict == "verified"


@pytest.mark.parametrize("claim, given, verdict", [
    ("sum_k x[k] + sum_k y[k] = sum(x) + sum(y)", "x: n, y: m", "verified"),
    ("sum_k x[k] + sum_k y[k] = sum(x) + 2 sum(y)", "x: n, y: m", "refuted"),
    ("Σ_k x[k] Σ_k W[1, k] = sum(x) (W[1, 1] + W[1, 2])", "x: n, W: 3 x 2", "verified"),
    ("sum_j (sum_k A[j, k]) + sum_k B[k, k] = sum(A) + tr(B)", "A: n x m, B: p x p", "verified"),
])
def test_each_index_sum_binds_its_own_index(claim: str, given: str, verdict: str) -> None:
    # the k of one sum is not the k of another: `sum_k x[k] + sum_k y[k]` over n and m was "the index k is used for
    # two different dimensions"
    import matcalc

    rep = matcalc.check(claim, given=given)
    assert rep.results[0].verdict == verdict, str(rep)
    sums = [n for n in ir.walk(rep.results[0].lhs) if isinstance(n, ir.IndexSum)] if rep.results[0].lhs else []
    assert len({s.index for s in sums}) == len(sums) or len(sums) < 2


def test_one_sum_still_ranges_over_one_dimension() -> None:
    with pytest.raises(TypeCheckError, match="the index k is used for two different dimensions"):
        read_expr("sum_k x[k] y[k]", given="x: n, y: m")


@pytest.mark.parametrize("claim, verdict", [
    ("ones(n)^T ones(n) = n", "verified"),
    ("ones(n)^T ones(n) = 2 n", "refuted"),
    ("eye(p) / p = zeros(p, p) + eye(p) / p", "verified"),
])
def test_a_size_named_in_ones_is_a_size_with_nothing_declared(claim: str, verdict: str) -> None:
    import matcalc

    doc = read_document(claim)
    assert not doc.env.vars and not doc.env.inferred
    rep = matcalc.check(claim)
    assert rep.results[0].verdict == verdict, str(rep)


@pytest.mark.parametrize("text, shape", [
    ("zeros(n*n, n)", ("n*n", "n")),  # what derive prints for ∂A/∂x, A n×n, x n
    ("zeros(n·m, p)", ("m*n", "p")),  # the printer's spelling (· is *), canonical order
    ("ones(2 n)", ("2*n", 1)),
    ("ones(m n)ᵀ", (1, "m*n")),
    ("eye(n p)", ("n*p", "n*p")),
    ("eye(2 * 3)", (6, 6)),
])
def test_constants_take_a_product_of_sizes(text: str, shape: tuple) -> None:
    e = rx(text, given="x: n")
    assert e.shape == shape
    assert rx(text.replace("n*n", "n n"), given="x: n") == e


def test_a_product_size_is_checked_against_the_other_side() -> None:
    # zeros(n·n, n) is n²×n: it adds to a Kronecker product of that shape and not to one of another
    read_document("d/dx A = zeros(n·n, n)", given="A: n x n, x: n")
    e = err("d/dx A = zeros(n·m, n)", "A: n x n, x: n, y: m")
    assert "different shapes" in e.message


@pytest.mark.parametrize("claim, given, what", [
    ("ones(c)^T ones(c) = c", "c: scalar", "c is a declared variable"),
    ("eye(x) = eye(x)", "x: n", "x is a declared variable"),
    ("sum(ones(x)) = sum(x)", "x: n", "x is a declared variable"),
])
def test_a_declared_value_is_not_a_size(claim: str, given: str, what: str) -> None:
    # review6 finding 2: ones(c) with c a declared scalar drew c as a size and as a value independently, and the true
    # ones(c)ᵀ ones(c) = c was refuted ("sizes c=2; at c=1")
    with pytest.raises(TypeCheckError, match=f"takes sizes: {what}"):
        read_document(claim, given=given)


def test_a_let_name_is_not_a_size() -> None:
    import matcalc

    rep = matcalc.check("let n = 3\nones(n)^T ones(n) = n\nx^T x = sum(x.^2)", given="x: m")
    assert [r.verdict for r in rep.results] == ["error", "verified"], str(rep)
    assert "n is defined by a let (line 1), not a size" in rep.results[0].error


def test_a_let_name_used_above_its_definition_says_so() -> None:
    # review6 finding 5: a line using a let defined below it made the let an error "z is already used as a vector
    # (line 1); choose another name", with no word on the order of the lines
    import matcalc

    rep = matcalc.check("sum(z.^2) = z^T z\nlet z = W x\ngiven W: n x m, x: m\nd/dW sum(z.^2) = 2 z x^T")
    (err,) = [r for r in rep.results if r.verdict == "error"]
    assert "z is used on line 1, above its definition here" in err.error and "move line 1 below this one" in err.error


@pytest.mark.parametrize("problem_line", [True, False])
def test_the_problem_sees_the_documents_let_names(problem_line: bool) -> None:
    # review6 finding 5: a teacher's problem: header (or --problem) above `let z = W x` read z as a free vector: the
    # let became an error and the student's correct step was refuted with "the correct result is zeros(n, m)"
    import matcalc

    body = "let z = W x\ngiven W: n x m, x: m\nd/dW sum(z.^2)\n  = 2 z x^T"
    rep = (matcalc.check("problem: d/dW sum(z.^2)\n" + body) if problem_line
           else matcalc.check(body, problem="d/dW sum(z.^2)"))
    assert [r.verdict for r in rep.results] == ["verified", "verified", "verified"], str(rep)
    wrong = (matcalc.check("problem: d/dW sum(z.^2)\n" + body.replace("2 z x^T", "z x^T")) if problem_line
             else matcalc.check(body.replace("2 z x^T", "z x^T"), problem="d/dW sum(z.^2)"))
    assert [r.verdict for r in wrong.results][1] == "refuted"


def test_a_property_word_in_place_of_a_shape_is_an_error() -> None:
    # review6 finding 9: `s: positive` declared a vector of size "positive"
    with pytest.raises(ParseError, match="'positive' says what kind of values, after the shape: write scalar positive"):
        read_document("abs(s)^2 = s^2", given="s: positive")
    import matcalc

    assert matcalc.check("abs(s)^2 = s^2", given="s: scalar positive").verdict == "verified"


def test_a_second_problem_line_is_an_error() -> None:
    # review6 finding 9: the second problem: line silently won
    import matcalc

    rep = matcalc.check("problem: d/dw w^T w\nproblem: d/dw 2 w^T w\ngiven w: n\nd/dw w^T w\n  = 2 w")
    errors = [r for r in rep.results if r.verdict == "error"]
    assert len(errors) == 1 and errors[0].line == 2 and "a second problem: line" in errors[0].error
    start = next(r for r in rep.results if r.kind == "problem")
    assert start.verdict == "verified" and "wᵀ w" in start.text and "2 w" not in start.text

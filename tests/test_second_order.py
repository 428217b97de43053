"""Second order and the commutation matrix (issue 13): ``hessian(e, x)``, ``C''(u)`` / ``∇²C(u)``, ``K(m, n)``, the
Jacobians of ``Xᵀ``, ``A Xᵀ B`` and Kronecker products of matrices, ``derive --order 2``.

True claims must be verified and the realistic mistakes (THEOREMS.md section C) refuted, each by the full pipeline
(symbolic, exact and numeric methods). The expected right-hand sides are the textbook's (Magnus & Neudecker,
Bishop, Nocedal & Wright), written by hand, never computed by the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

import matcalc
from matcalc import ir
from matcalc.cli import main
from matcalc.errors import MatcalcError
from matcalc.lang import read_document
from matcalc.printing import to_text

QUAD = "x: n, A: n x n"
CHAIN = "C: R^n -> R, W: n x m, x: m"
SQUARE_CHAIN = "C: R^n -> R, W: n x n, x: n"
LOGISTIC = "X: N x d, w: d, y: N"
MATS = "A: p x n, X: m x n, B: m x q"
KRON = "A: p x q, X: m x n"
GN = "C: R^k -> R, W: k x m, w: m, b: k"
GN_LET = ("let u = W w + b\nlet g = tanh(u)\nlet J = diag(1 - tanh(u).^2) W\n"
          "let curv = W^T diag(C'(g) ⊙ (-2 tanh(u) ⊙ (1 - tanh(u).^2))) W\n")

TRUE = [
    ("hessian(x^T A x, x) = A + A^T", QUAD),
    ("hessian(x^T A x, x) = jacobian(grad(x^T A x, x), x)", QUAD),
    ("hessian(C(W x), x) = W^T C''(W x) W", CHAIN),
    ("hessian(C(W x), x) = W^T ∇²C(W x) W", CHAIN),
    ("jacobian(C'(W x), x) = C''(W x) W", CHAIN),
    ("hessian(C(W x), W) = kron(x x^T, C''(W x))", CHAIN),
    ("C''(W x) = C''(W x)^T", CHAIN),
    ("hessian(‖X w - y‖^2, w) = 2 X^T X", LOGISTIC),
    ("hessian(sum(softplus(X w)) - y^T X w, w) = X^T diag(sigma(X w) ⊙ (1 - sigma(X w))) X", LOGISTIC),
    ("hessian(-y^T log(softmax(z)), z) = diag(softmax(z)) - softmax(z) softmax(z)^T", "z: n, y: n probability"),
    (GN_LET + "hessian(C(tanh(W w + b)), w) = J^T C''(g) J + curv", GN),
    ("hessian(tr(X^T X), X) = 2 kron(eye(n), eye(m))", "X: m x n"),
    ("hessian(tr(X X), X) = 2 K(n, n)", "X: n x n"),
    # the commutation matrix and the first-order Jacobians it gives (Magnus & Neudecker, ch. 3 and 9)
    ("vec(X^T) = K(m, n) vec(X)", "X: m x n"),
    ("K(m, n)^T = K(n, m)", "X: m x n"),
    ("jacobian(X^T, X) = K(m, n)", "X: m x n"),
    ("jacobian(A X^T B, X) = kron(B^T, A) K(m, n)", MATS),
    ("jacobian(kron(A, X), X) = kron(kron(eye(q), K(n, p)), eye(m)) kron(vec(A), kron(eye(n), eye(m)))", KRON),
    ("jacobian(kron(X, A), X) = kron(kron(eye(n), K(q, m)), eye(p)) kron(kron(eye(n), eye(m)), vec(A))", KRON),
    ("jacobian(kron(X, X), X) = kron(kron(eye(n), K(n, m)), eye(m)) (kron(kron(eye(n), eye(m)), vec(X)) "
     "+ kron(vec(X), kron(eye(n), eye(m))))", "X: m x n"),
    ("d/dX tr(A X^T B) = B A", "A: n x m, X: p x m, B: p x n"),
    # the named forms derive prints (s = σ(X w), p = softmax(z)); ±1 labels in general: y² inside
    ("let s = sigma(X w)\nhessian(sum(softplus(X w)) - y^T X w, w) = X^T diag(s ⊙ (1 - s)) X", LOGISTIC),
    ("let s = sigma(y ⊙ X w)\nhessian(sum(log(1 + exp(-y ⊙ (X w)))), w) = X^T diag(y.^2 ⊙ s ⊙ (1 - s)) X", LOGISTIC),
    ("let p = softmax(z)\nhessian(-y^T log(softmax(z)), z) = diag(p) - p p^T", "z: n, y: n probability"),
    ("let p = softmax(z)\nhessian(-y^T log(softmax(z)), z) = sum(y) (diag(p) - p p^T)", "z: n, y: n"),
    # the second-order chain rule's two terms (Gauss–Newton and curvature), written by hand
    ("hessian(C(sigma(W x)), x) = W^T diag(sigma'(W x)) C''(sigma(W x)) diag(sigma'(W x)) W "
     "+ W^T diag(C'(sigma(W x)) ⊙ sigma''(W x)) W", CHAIN),
    # Hessian-vector products
    ("hessian(sum(softplus(X w)) - y^T X w, w) v = X^T (sigma'(X w) ⊙ (X v))", LOGISTIC + ", v: d"),
    ("hessian(x^T A x, x) v = (A + A^T) v", QUAD + ", v: n"),
    ("hessian(x^T A x, x) x = (A + A^T) x", QUAD),
    # derivatives of vectors by one entry, taken entry by entry
    ("d/dx[i] (A x)[j] = A[j, i]", "A: n x m, x: m"),
    ("d/dW[j, k] (W x)[l] = [l = j] x[k]", "W: n x m, x: m"),
    ("d/dx[i] (x ⊙ x)[j] = 2 [i = j] x[j]", "x: n"),
]

FALSE = [
    # a Hessian not symmetrised: 2 A holds only for a symmetric A
    ("hessian(x^T A x, x) = 2 A", QUAD),
    # the transposes swapped in the chain rule
    ("hessian(C(W x), x) = W C''(W x) W^T", SQUARE_CHAIN),
    # the curvature term of a non-linear g forgotten (Gauss–Newton is not the Hessian)
    (GN_LET + "hessian(C(tanh(W w + b)), w) = J^T C''(g) J", GN),
    # σ for σ ⊙ (1 − σ) in the logistic Hessian
    ("hessian(sum(softplus(X w)) - y^T X w, w) = X^T diag(sigma(X w)) X", LOGISTIC),
    # diag(s) for diag(s ⊙ (1 − s)), with s named
    ("let s = sigma(X w)\nhessian(sum(softplus(X w)) - y^T X w, w) = X^T diag(s) X", LOGISTIC),
    # ±1 labels in general: the y² factor forgotten
    ("let s = sigma(y ⊙ X w)\nhessian(sum(log(1 + exp(-y ⊙ (X w)))), w) = X^T diag(s ⊙ (1 - s)) X", LOGISTIC),
    # the curvature term of a declared C at σ(W x) forgotten: the Gauss–Newton term alone
    ("hessian(C(sigma(W x)), x) = W^T diag(sigma'(W x)) C''(sigma(W x)) diag(sigma'(W x)) W", CHAIN),
    # the sign of p pᵀ
    ("let p = softmax(z)\nhessian(-y^T log(softmax(z)), z) = diag(p) + p p^T", "z: n, y: n probability"),
    ("hessian(-y^T log(softmax(z)), z) = diag(softmax(z)) + softmax(z) softmax(z)^T", "z: n, y: n probability"),
    # the least-squares Hessian without its factor 2
    ("hessian(‖X w - y‖^2, w) = X^T X", LOGISTIC),
    # transposed Kronecker orders and commutation matrices
    ("jacobian(A X^T B, X) = kron(A, B^T) K(m, n)", MATS),
    ("jacobian(A X^T B, X) = kron(B^T, A)", "A: p x n, X: n x n, B: n x q"),
    ("jacobian(X^T, X) = K(n, m)", "X: m x n"),
    ("vec(X^T) = K(n, m) vec(X)", "X: m x n"),
    ("jacobian(kron(A, X), X) = kron(kron(eye(q), K(p, n)), eye(m)) kron(vec(A), kron(eye(n), eye(m)))",
     "A: p x q, X: m x n"),
    ("jacobian(kron(X, X), X) = 2 kron(kron(eye(n), K(n, m)), eye(m)) kron(vec(X), kron(eye(n), eye(m)))",
     "X: m x n"),
    ("hessian(x^T A x, x) v = 2 A v", QUAD + ", v: n"),
    ("hessian(sum(softplus(X w)) - y^T X w, w) v = X^T (sigma(X w) ⊙ (X v))", LOGISTIC + ", v: d"),
    ("d/dx[i] (A x)[j] = A[i, j]", "A: n x n, x: n"),
    ("d/dW[j, k] (W x)[l] = [l = k] x[j]", "W: n x n, x: n"),
]


@pytest.mark.parametrize("claim, given", TRUE)
def test_true_second_order_claim_is_verified(claim: str, given: str) -> None:
    rep = matcalc.check(claim, given=given)
    assert rep.verdict == "verified", str(rep)


@pytest.mark.parametrize("claim, given", FALSE)
def test_realistic_mistake_is_refuted(claim: str, given: str) -> None:
    rep = matcalc.check(claim, given=given)
    assert rep.verdict == "refuted", str(rep)


def test_both_ways_are_covered() -> None:
    assert len(TRUE) >= 20 and len(FALSE) >= 10


# ───────────────────────────── the language ─────────────────────────────


def _last(text: str, given: str) -> ir.Expr:
    doc = read_document(text, given=given)
    return doc.statements[-1].expr


@pytest.mark.parametrize("text", ["C''(W x)", "∇²C(W x)", "hessian(C(W x), W x)"])
def test_declared_hessian_is_a_square_matrix(text: str) -> None:
    given = CHAIN + ", v: n"
    if "hessian" in text:
        text, given = "hessian(C(v), v)", given
    e = _last(text, given)
    assert e.shape == ("n", "n")


def test_hessian_by_a_matrix_is_by_vec() -> None:
    e = _last("hessian(sum(X .^ 3), X)", "X: m x n")
    assert isinstance(e, ir.Derivative) and e.kind == "hessian"
    assert e.shape[0] == e.shape[1] and set(e.shape[0].split("*")) == {"m", "n"}


def test_commutation_matrix_reads_and_k_is_still_a_name() -> None:
    e = _last("K(m, n)", "X: m x n")
    assert isinstance(e, ir.Commutation) and (e.m, e.n) == ("m", "n")
    # a K that is a matrix (attention's keys) is not the commutation matrix
    e = _last("K q", "K: n x d, q: d")
    assert isinstance(e, ir.MatMul)
    e = _last("K(q)", "K: n x d, q: d")
    assert e.shape == ("n", 1)


@pytest.mark.parametrize("text, given", [
    ("hessian(W x, x)", "W: n x m, x: m"),     # not a scalar
    ("hessian(sum(x), x[1])", "x: n"),         # by one entry
    ("C'''(x)", "C: R^n -> R, x: n"),          # third order
])
def test_second_order_input_errors_are_located(text: str, given: str) -> None:
    with pytest.raises(MatcalcError):
        read_document(text, given=given)


@pytest.mark.parametrize("text, given", [
    ("hessian(x^T A x, x)", QUAD), ("C''(W x)", CHAIN), ("∇²C(W x) + eye(n)", "C: R^n -> R, W: n x n, x: n"),
    ("K(n, m) vec(X)", "X: m x n"),
    ("hessian(tr(X^T X), X)", "X: m x n"),
])
def test_new_nodes_read_back(text: str, given: str) -> None:
    e = _last(text, given)
    again = _last(to_text(e), given)
    assert again == e


# ───────────────────────────── the independent methods on their own ─────────────────────────────


def test_exact_method_hessian_of_declared_function_is_symmetric_and_consistent() -> None:
    from matcalc.verify import exact

    u = ir.Var("u", ("n", 1))
    H = ir.CallVec("C", u, 2)
    # C'' is the Jacobian of C' entry by entry (SymPy's own differentiation), and symmetric
    assert exact.check_equal(ir.Derivative(ir.CallVec("C", u, 1), u, "jacobian"), H).status == "equal"
    assert exact.check_equal(H, ir.Transpose(H)).status == "equal"
    assert exact.check_equal(ir.Derivative(ir.CallVec("C", u, 0), u, "hessian"), H).status == "equal"
    # and not the gradient's outer product
    G = ir.CallVec("C", u, 1)
    assert exact.check_equal(H, ir.MatMul((G, ir.Transpose(G)))).status == "different"


def test_numeric_method_confirms_second_derivatives() -> None:
    from matcalc.verify import numeric

    u = ir.Var("u", ("n", 1))
    H = ir.CallVec("C", u, 2)
    assert numeric.check_equal(ir.Derivative(ir.CallVec("C", u, 0), u, "hessian"), H).status == "equal"
    wrong = ir.Scale(ir.Num(2), H)
    assert numeric.check_equal(ir.Derivative(ir.CallVec("C", u, 0), u, "hessian"), wrong).status == "different"


def test_commutation_matrix_values() -> None:
    from matcalc.verify.numeric import evaluate
    from matcalc.verify.numeric.points import Point

    rng = np.random.default_rng(0)
    Xv = rng.standard_normal((2, 3))
    X = ir.Var("X", ("m", "n"))
    pt = Point(values={"X": Xv}, sizes={"m": 2, "n": 3})
    K = evaluate(ir.Commutation("m", "n"), pt)
    assert sorted(K.sum(axis=0)) == [1.0] * 6 and sorted(K.sum(axis=1)) == [1.0] * 6  # a permutation
    np.testing.assert_array_equal(K @ Xv.reshape(-1, 1, order="F"), Xv.T.reshape(-1, 1, order="F"))
    assert evaluate(ir.Vec(ir.Transpose(X)), pt).shape == (6, 1)


def test_exact_sizes_keep_a_tall_matrix_tall() -> None:
    from matcalc.verify.exact.sizes import choose_sizes

    X = ir.Var("X", ("N", "d"))
    e = ir.Inverse(ir.MatMul((ir.Transpose(X), X)))
    for sz in choose_sizes(e):
        assert sz["N"] > sz["d"], sz


# ───────────────────────────── derive --order 2 ─────────────────────────────


def test_derive_order_2_gives_the_hessian(capsys) -> None:
    rc = main(["derive", "x^T A x", "--wrt", "x", "--order", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "result  A + Aᵀ" in out and "numeric check ✓" in out
    # every equation shown is true as written: the gradient part is the lecture's (each occurrence's contribution
    # labelled as such, never under the gradient's name), then the Hessian as the Jacobian of the gradient
    rows = [line.split(" ", 1)[1].strip().split("  ")[0] for line in out.splitlines() if line[:1].isdigit()]
    assert rows == ["f = xᵀ A x", "through the first x: A x", "through the second x: Aᵀ x", "∇_x f = A x + Aᵀ x",
                    "= (A + Aᵀ) x", "∇²_x f = jacobian((A + Aᵀ) x, x)", "= A + Aᵀ"], rows
    assert "∇_x (xᵀ A x) = A x" not in out and "one use's part" not in out
    rc = main(["derive", "x^T A x", "--wrt", "x", "--order", "2", "--format", "latex"])
    tex = capsys.readouterr().out
    assert rc == 0
    hess = "\\nabla^{2}_{x} f &= \\mathrm{J}_{x}\\left(\\left(A + A^{\\top}\\right) x\\right)"
    assert hess + " && \\text{(6)} \\\\\n  &= A + A^{\\top} && \\text{(7)}" in tex, tex
    assert "\\nabla_{x} f &= A x + A^{\\top} x" in tex
    assert "\n  &= \\mathrm{J}_{x}" not in tex  # the Hessian row names its left side, it does not continue ∇_x f's
    assert "\\frac{\\partial}{\\partial x} \\left(x^{\\top} A x\\right) &= A + A^{\\top}" not in tex
    assert "\\frac{\\partial}{\\partial x} x^{\\top} A x" not in tex  # a product after ∂/∂x is bracketed


DEEP = "sum(" + "sin(" * 10 + "x" + ")" * 10 + ")"


def test_hessian_rows_are_true_as_written() -> None:
    """Each equation of a Hessian's trace, judged by the numeric method (a second time with the right side doubled,
    which must be refuted): the lecture's gradient part and the Hessian rows (after the composer's gradient part, whose
    rows are rule applications by intermediate nodes, checked by tests/test_rules.py, only the Hessian rows)."""
    from matcalc.verify.judge import run_numeric

    cases = [("x^T A x", "x", "A: n x n, x: n"), ("sum(softplus(X w)) - y^T X w", "w", "X: N x d, w: d, y: N"),
             ("C(W x)", "x", CHAIN), ("tr(X^T A X)", "X", "X: n x m, A: n x n"),
             ("sum(exp(x)) + sum(exp(2 x))", "x", "x: n"), ("sum(exp(x x^T))", "x", "x: n"),
             ("C(sigma(W x))", "x", CHAIN), ("sum(log(1 + exp(-y .* (X w))))", "w", LOGISTIC),
             ("-y^T log(softmax(z))", "z", "z: n, y: n"),
             (DEEP, "x", "x: n")]  # more links than the lecture names: the composer's trace
    for text, wrt, given in cases:
        d = matcalc.derive(text, wrt, given=given, order=2).items[0].derivation
        claims, prev = [], None
        lecture = any(s.label[:1] not in ((), ("part",), ("held",)) for s in d.steps[:1])
        start = 0 if lecture else next(i for i, s in enumerate(d.steps) if s.rule == "hessian")
        assert lecture == (text != DEEP), text
        for s in d.steps[start:]:
            if s.claim is not None:
                claims.append(s.claim)
            elif isinstance(s.before, ir.Derivative):
                claims.append((s.before, s.after))
            elif s.before is not None or s.label[:1] == ("same",) or s.rule == "algebra":
                claims.append((s.before if s.before is not None else prev, s.after))
            if s.label[:1] != ("defs",):
                prev = s.after
        assert any(isinstance(lhs, ir.Derivative) and lhs.kind == "hessian" for lhs, _ in claims), text
        assert claims[-1][1] == d.result, text
        for lhs, rhs in claims:
            ok, _ = run_numeric(lhs, rhs, (), 30.0, 0)
            assert ok.status == "equal", (text, to_text(lhs), to_text(rhs), ok.detail)
            wrong = (ir.Derivative(ir.Scale(ir.Num(2), rhs.expr), rhs.wrt, rhs.kind, rhs.layout)
                     if isinstance(rhs, ir.Derivative) else ir.Scale(ir.Num(2), rhs))
            bad, _ = run_numeric(lhs, wrong, (), 30.0, 0)
            assert bad.status == "different", (text, to_text(wrong), bad.detail)


def test_derive_order_2_by_a_matrix_and_of_a_declared_function() -> None:
    r = matcalc.derive("C(W x)", "x", given=CHAIN, order=2)
    assert to_text(r.items[0].derivation.result) == "Wᵀ C''(W x) W"
    assert r.items[0].numeric.status == "equal"
    r = matcalc.derive("tr(X X)", "X", given="X: n x n", order=2)
    assert to_text(r.items[0].derivation.result) == "2 K(n, n)"


def test_derive_order_2_of_a_vector_is_a_usage_error(capsys) -> None:
    rc = main(["derive", "W x", "--wrt", "x", "--order", "2", "--given", "W: n x m, x: m"])
    err = capsys.readouterr().err
    assert rc == 2 and "Hessian of a scalar" in err and "Traceback" not in err


@pytest.mark.parametrize("expr, given, piece", [
    ("A X^T B", MATS, "K(m, n)"),
    ("kron(A, X)", KRON, "K(n, p)"),
    ("kron(X, X)", "X: m x n", "K(n, m)"),
])
def test_derive_first_order_kronecker_and_commutation_forms(expr: str, given: str, piece: str) -> None:
    r = matcalc.derive(expr, "X", given=given)
    assert piece in to_text(r.items[0].derivation.result)
    assert r.items[0].numeric.status == "equal"


def test_exact_matrix_powers_by_repeated_squaring() -> None:
    from matcalc.verify import exact

    A = ir.Var("A", ("n", "n"))
    P = lambda k: ir.Power(A, k)  # noqa: E731
    assert exact.check_equal(P(64), ir.MatMul((P(32), P(32))), budget_s=30).status == "equal"
    assert exact.check_equal(P(5), ir.MatMul((P(2), P(3))), budget_s=30).status == "equal"
    assert exact.check_equal(P(5), ir.MatMul((P(2), P(2), P(2))), budget_s=30).status == "different"


def test_vector_by_one_entry_says_how_to_write_it() -> None:
    from matcalc.engine import differentiate

    A, x = ir.Var("A", ("n", "m")), ir.Var("x", ("m", 1))
    with pytest.raises(MatcalcError, match=r"d/dx\[i\] \(A x\)\[j\]"):
        differentiate(ir.MatMul((A, x)), ir.Entry(x, (2,)))


def test_hessian_vector_product_is_derived_without_the_hessian() -> None:
    from matcalc.engine import expand_derivatives

    e = _last("hessian(sum(softplus(X w)) - y^T X w, w) v", LOGISTIC + ", v: d")
    out = expand_derivatives(e)
    assert not any(isinstance(n, ir.Diag) for n in ir.walk(out)), to_text(out)  # no d×d matrix formed
    # by w itself the product is not a Hessian-vector product with a constant vector: the Hessian is formed
    e = _last("hessian(x^T A x, x) x", QUAD)
    assert to_text(expand_derivatives(e)) == "(A + Aᵀ) x"


def _shown(d) -> list[str]:
    from matcalc.render.steps import display_steps, equation_text

    return [equation_text(s).strip() for s in display_steps(d.steps)]


def test_second_order_chain_rule_shows_the_gauss_newton_and_curvature_terms() -> None:
    d = matcalc.derive("C(sigma(W x))", "x", given=CHAIN, order=2).items[0].derivation
    shown = _shown(d)
    assert shown[:5] == [
        "f = C(u),  u = σ(W x)",
        "J = ∂u/∂x = diag(σ'(W x)) W",
        "Gauss–Newton term Jᵀ ∇²C(u) J: Wᵀ diag(σ'(W x)) C''(u) diag(σ'(W x)) W",
        "curvature term Σ_k ∂C/∂u_k ∇²u_k: Wᵀ diag(C'(u) ⊙ σ''(W x)) W",
        "∇²_x f = Wᵀ diag(σ'(W x)) C''(u) diag(σ'(W x)) W + Wᵀ diag(C'(u) ⊙ σ''(W x)) W"], shown
    assert any("second-order chain rule" in s.note and "Nocedal" in s.note for s in d.steps)
    assert to_text(d.result) == "Wᵀ (diag(σ'(W x)) C''(σ(W x)) diag(σ'(W x)) + diag(C'(σ(W x)) ⊙ σ''(W x))) W"
    # a linear inner function: the curvature term is zero, and said to be
    d = matcalc.derive("C(W x)", "x", given=CHAIN, order=2).items[0].derivation
    shown = _shown(d)
    assert "curvature term Σ_k ∂C/∂u_k ∇²u_k: zeros(m, m)" in shown and shown[-1] == "= Wᵀ C''(W x) W", shown


def test_second_order_chain_rule_in_latex(capsys) -> None:
    rc = main(["derive", "C(sigma(W x))", "--wrt", "x", "--order", "2", "--given", CHAIN, "--format", "latex"])
    tex = capsys.readouterr().out
    assert rc == 0
    assert "\\text{Gauss--Newton term } J^{\\top} \\nabla^{2} C\\left(u\\right) J\\text{:}" in tex
    assert "\\text{curvature term } \\sum_{k}" in tex and "Gauss?Newton" not in tex


@pytest.mark.parametrize("fmt", ["text", "latex", "markdown", "json", "mc"])
def test_logistic_hessian_names_s_in_every_format(fmt: str, capsys, tmp_path) -> None:
    rc = main(["derive", "sum(softplus(X w)) - y^T X w", "--wrt", "w", "--order", "2", "--given", LOGISTIC,
               "--format", fmt])
    out = capsys.readouterr().out
    assert rc == 0
    if fmt == "text":
        assert "result  Xᵀ diag(s ⊙ (1 - s)) X,   s = σ(X w)" in out, out
    elif fmt == "latex":
        assert ("X^{\\top} \\operatorname{diag}\\left(s \\odot \\left(1 - s\\right)\\right) X,\\quad s = "
                "\\sigma\\left(X w\\right)}") in out, out
    elif fmt == "markdown":
        assert "**result** `Xᵀ diag(s ⊙ (1 - s)) X, s = σ(X w)`" in out, out
    elif fmt == "json":
        import json

        item = json.loads(out)["derivatives"][0]
        assert item["result"] == "Xᵀ diag(s ⊙ (1 - s)) X"
        assert item["where"] == [{"name": "s", "value": "σ(X w)", "latex": "\\sigma\\left(X w\\right)"}]
    else:  # the document derive writes checks as verified, with s a let
        assert "let s = σ(X w)" in out
        f = tmp_path / "h.mc"
        f.write_text(out)
        assert matcalc.check(f.read_text()).verdict == "verified"


def test_general_labels_keep_y_squared_and_names_avoid_the_documents() -> None:
    d = matcalc.derive("sum(log(1 + exp(-y .* (X w))))", "w", given=LOGISTIC, order=2).items[0].derivation
    assert to_text(d.result) == "Xᵀ diag(y.^2 ⊙ s ⊙ (1 - s)) X"
    assert [(n.name, to_text(n.value)) for n in d.where] == [("s", "σ(y ⊙ (X w))")]
    d = matcalc.derive("sum(softplus(s w)) - y^T s w", "w", given="s: N x d, w: d, y: N", order=2).items[0].derivation
    assert to_text(d.result) == "sᵀ diag(s2 ⊙ (1 - s2)) s"  # s is the data matrix: the name is s2
    d = matcalc.derive("x^T A x", "x", given=QUAD, order=2).items[0].derivation
    assert d.where == () and to_text(d.result) == "A + Aᵀ"  # nothing repeated: nothing named


def test_softmax_hessian_is_diag_p_minus_p_p_transposed() -> None:
    d = matcalc.derive("-y^T log(softmax(z))", "z", given="z: n, y: n probability", order=2).items[0].derivation
    assert to_text(d.result) == "diag(p) - p pᵀ"
    assert [(n.name, to_text(n.value)) for n in d.where] == [("p", "softmax(z)")]
    assert _shown(d)[0] == "f = -yᵀ log(p),  p = softmax(z)"  # the trace's own name for softmax(z): the same p


@pytest.mark.parametrize("expr, given", [
    ("A X^T B", MATS), ("kron(A, X)", KRON), ("kron(X, A)", KRON), ("kron(X, X)", "X: m x n"), ("X^T", "X: m x n"),
])
def test_kronecker_and_commutation_results_check_when_copied_back(expr: str, given: str) -> None:
    # what derive prints, pasted into check as a student would: verified; with the commutation matrix's sizes
    # swapped (the transposed order), refuted
    import re

    r = matcalc.derive(expr, "X", given=given)
    text = to_text(r.items[0].derivation.result)
    rep = matcalc.check(f"jacobian({expr}, X) = {text}", given=given)
    assert rep.verdict == "verified", str(rep)
    swapped = re.sub(r"K\((\w+), (\w+)\)", lambda m: f"K({m.group(2)}, {m.group(1)})", text)
    assert swapped != text
    rep = matcalc.check(f"jacobian({expr}, X) = {swapped}", given=given)
    assert rep.verdict == "refuted", str(rep)


def test_derive_of_a_hessian_vector_product_first_row_has_its_left_side():
    """The first row of ``derive "hessian(f, w) v"`` states what it rewrites — ``hessian(f, w) v = Xᵀ (…)``, not a
    bare ``= …`` — and that equation is true (numeric method), the same with its right side doubled not verified."""
    from matcalc.api import derive_text
    from matcalc.render.steps import display_steps, equation_text
    from matcalc.verify.judge import run_numeric

    d = derive_text("hessian(-(y^T log(sigma(X w)) + (1 - y)^T log(1 - sigma(X w))), w) v", wrt="w",
                    given="X: N x d, w: d, y: N, v: d").items[0].derivation
    first = display_steps(d.steps)[0]
    text = equation_text(first).strip()
    assert text.startswith("hessian(-(yᵀ log(σ(X w))") and ", w) v = Xᵀ " in text, text
    ok, _ = run_numeric(first.before, first.after, (), 20.0, 0)
    assert ok.status == "equal", ok.detail
    bad, _ = run_numeric(first.before, ir.Scale(ir.Num(2), first.after), (), 5.0, 0)
    assert bad.status != "equal", bad.detail  # a difference measured (the Hessian's Taylor test may stay unsure)


def test_gauss_newton_rows_name_the_jacobian_and_index_they_use():
    """review5 finding 11: in `prove gauss-newton` (which has its own `let J` and a dimension k) the rows said
    "Gauss–Newton term Jᵀ ∇²C(u2) J" for the Jacobian named J2, and summed over k, a dimension's name."""
    import io

    from rich.console import Console

    from matcalc.api import prove_one

    t = prove_one("gauss-newton")
    buf = io.StringIO()
    Console(file=buf, width=200).print(t)
    out = buf.getvalue()
    assert "Gauss–Newton term J2ᵀ ∇²C(u2) J2: Aᵀ C''(u2) A" in out
    assert "Gauss–Newton term Jᵀ" not in out and "Σ_k" not in out
    assert "curvature term Σ_i ∂C/∂u2_i ∇²u2_i" in out

"""Fuzzing the language front end with hypothesis: any text either reads or raises a MatcalcError — never another
exception, never a hang (SPEC section 8)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcalc.errors import MatcalcError
from matcalc.lang import read_document, read_expr

TOKENS = [
    "x", "y", "W", "A", "I", "c", "alpha", "δ", "σ", "f", "C", "n", "d", "0", "1", "2", "0.5", "+", "-", "−", "*",
    "@", "/", " ", " ", " ", "(", ")", "[", "]", "{", "}", ",", ";", "\n", "=", "^", "^T", "^-1", ".^", ".*", "./",
    "⊙", "⊘", "⊗", "∘", "ᵀ", "⁻¹", "⁻ᵀ", "²", "'", ".T", "‖", "||", "|", "d/dx", "d/dW", "∂/∂A", "d/dz", "sum_k",
    "Σ_j", "[j, k]", "[i = j]", "[k = 1]", "[k]", "[1]", "exp(", "sigma'(", "σ(", "max(", "tr(", "det(", "inv(", "diag(", "vec(",
    "norm(", "softmax(", "logsumexp(", "dot(", "grad(", "jacobian(", "kron(", "ones(", "eye(", "zeros(", "sum(",
    "C'(", "∇C(", "f'(", "let ", "given ", ":", "x: n", "W: n x m", "A: n x n symmetric", "f: R -> R",
    "C: R^n -> R", "c: scalar", "layout numerator", "theorem t: T\n", "source: s\n", "#", "ℝ", "×", "->", "$",
]

DECLS = "W: n x m, x: m, y: n, A: n x n, c: scalar, f: R -> R, C: R^n -> R, z: n, δ: n"


def _read(text: str, given: str | None) -> None:
    try:
        read_document(text, given=given)
    except MatcalcError as e:
        str(e)  # the message renders
    try:
        read_expr(text, given=given)
    except MatcalcError as e:
        str(e)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=30), st.booleans())
def test_random_token_soup(parts: list, declared: bool) -> None:
    _read("".join(parts), DECLS if declared else None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_random_text(text: str) -> None:
    _read(text, None)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="(‖)x -^'ᵀ⁻¹[]k", max_size=400))
def test_random_nesting(text: str) -> None:
    _read(text, None)


# ───────────────────────────── read → print → read ─────────────────────────────

ROUND_DECLS = "W: n x m, x: m, y: n, A: n x n, B: n x n, c: scalar, alpha: scalar, f: R -> R, C: R^n -> R, z: n"
_LEAVES = ["x", "y", "W", "A", "B", "c", "alpha", "z", "I", "2", "0.5", "1"]
_UNARY = ["({})ᵀ", "-{}", "exp({})", "sigma'({})", "f({})", "({})^2", "({})⁻¹", "‖{}‖", "({}).^2", "sum({})",
          "tr({})", "diag({})", "C({})", "∇C({})", "softmax({})", "d/dx {}", "d/dW {}", "d/dz {}", "({})[1]"]
_BINARY = ["{} + {}", "{} - {}", "{} {}", "{} ⊙ {}", "{} ⊘ {}", "{} / {}", "max({}, {})", "{} ⊗ {}", "({}) ({})"]


def _exprs():
    leaf = st.sampled_from(_LEAVES)

    def extend(inner):
        un = st.tuples(st.sampled_from(_UNARY), inner).map(lambda t: t[0].format(t[1]))
        bi = st.tuples(st.sampled_from(_BINARY), inner, inner).map(lambda t: t[0].format(t[1], t[2]))
        return un | bi

    return st.recursive(leaf, extend, max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_exprs())
def test_read_print_read(text: str) -> None:
    from matcalc.printing import to_text

    try:
        e, _ = read_expr(text, given=ROUND_DECLS)
    except MatcalcError:
        return
    printed = to_text(e)
    again, _ = read_expr(printed, given=ROUND_DECLS)
    assert again == e, f"{text!r} printed as {printed!r} reads back as {to_text(again)!r}"


# ───────────────────────────── document invariants ─────────────────────────────

_LINES = ["x: n", "W: n x m", "y: m", "let r = W y - x", "r^T r", "d/dW ‖r‖^2 = 2 r y^T", "  = 2 (W y - x) y^T",
          "  = y + x", "  = 2 r yᵀ", "x^T x = ‖x‖^2", "layout numerator", "d/dx x^T x", "  = 2 x^T", "W: n x n",
          "theorem t: title", "source: text", "# a comment", "A x", "= I", "d/dx sum(x) = 1", "let r = x", ""]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_LINES), min_size=1, max_size=10))
def test_document_invariants(lines: list) -> None:
    from matcalc.document import Bare, Claim, ErrorLine, Step

    text = "\n".join(lines)
    try:
        doc = read_document(text, where="doc.mc")
    except MatcalcError as e:
        assert e.line is not None and e.where == "doc.mc"
        return
    typed_lines = []
    for s in doc.statements:
        assert 1 <= s.line <= len(lines) and s.col >= 1
        if isinstance(s, ErrorLine):
            assert s.error.line == s.line and s.error.where == "doc.mc" and str(s.error).count("\n") == 2
        elif isinstance(s, Step):
            assert s.prev_line in typed_lines and s.prev is not None
            assert s.expr.shape == s.prev.shape or s.expr.shape == s.prev.shape[::-1]
        elif isinstance(s, Claim):
            assert s.lhs.shape == s.rhs.shape or s.lhs.shape == s.rhs.shape[::-1]
        if isinstance(s, (Bare, Claim, Step)):
            typed_lines.append(s.line)
    if any(isinstance(s, ErrorLine) for s in doc.statements):
        assert typed_lines  # otherwise the first error is raised

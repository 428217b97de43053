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

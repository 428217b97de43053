"""Printers of the IR: Unicode text in the matcalc language, LaTeX, and a fully bracketed reading.

Contract: :func:`to_text` prints an expression in the matcalc language (SPEC section 3) with the fewest brackets that
keep its meaning, so that the reader, with the same declarations, reads the printed text back to the same expression
— same shape, same value (SPEC section 6, "It reads back"; ``tests/test_readback.py`` is the property test):
``Wᵀ δ ⊙ σ'(z)``, ``(W x - y)ᵀ (W x - y)``, ``-(a b)``. So a constant carries its size (``ones(n)``, a row
``ones(n)ᵀ``, ``ones(n, m)``, ``zeros(n, m)``, ``eye(n)``; a size that is a product is written as one,
``zeros(m·n, p)``, ``eye(n·p)``), except an ``I`` among the terms of a sum that another term sizes (``A + I``); two
numbers are never juxtaposed (``2 · 3``); a scalar division leading a product is bracketed (``(1 / N) Xᵀ r``);
a power or postfix mark on a postfix or power is bracketed (``(Xᵀ)^2``, ``(Aᵀ)⁻¹``).
:func:`to_latex` prints the same structure for amsmath math mode (only ``amsmath``, ``amssymb`` and ``bm`` are
needed): every variable is set as a plain italic symbol, vectors and matrices alike (``W x``, as Nielsen prints
them), Greek names (``delta`` or ``δ``) become their macros (``\\delta``), a trailing number or an ``_`` part
becomes a subscript (``W1`` → ``W_{1}``, ``n_l`` → ``n_{l}``); the constants are ``\\mathbf{1}_{n}``,
``\\mathbf{1}_{n}^{\\top}``, ``\\mathbf{0}_{n \\times m}``, ``I_{n}``; an entry of a subscripted name is
``\\left(z_{2}\\right)_{k}`` (never ``z_{2k}``) and a compound ``∇`` subscript is bracketed. No user text reaches
the LaTeX output raw: names go through :func:`latex_name`, which emits only letters, digits, braces, ``_`` and a
fixed set of macros.
:func:`to_bracketed` prints every operation in brackets (``((W x) ⊙ b)``) for ``matcalc show``. This module imports
nothing heavy (no SymPy, numpy or rich).

Precedence, loosest to tightest (SPEC section 3): sum (``+ -``), derivative (``d/dX e`` reaches to the next binary
``+``/``-``), entrywise (``⊙ ⊘ ⊗``, left to right), matrix product (juxtaposition, ``/``; left to right), unary
minus, power (``^k``, ``.^k``), postfix (``ᵀ ⁻¹``), atoms. ``Σ_k e`` takes the product that follows.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from fractions import Fraction

from matcalc import ir
from matcalc.ir import Expr

__all__ = ["to_text", "to_latex", "to_bracketed", "latex_name", "fmt_number", "greek_macro", "GREEK"]

# Precedence levels (larger binds tighter).
SUM, DERIV, ENTRY, PROD, UNARY, POWER, POSTFIX, ATOM = range(1, 9)

# ───────────────────────────── names ─────────────────────────────

_GREEK_WORDS = (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu",
    "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
)
_GREEK_LOWER = "αβγδεζηθικλμνξοπρστυφχψω"
_GREEK_UPPER = "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ"
_UPPER_MACROS = {"Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}
_UPPER_LATIN = {"Alpha": "A", "Beta": "B", "Epsilon": "E", "Zeta": "Z", "Eta": "H", "Iota": "I", "Kappa": "K",
                "Mu": "M", "Nu": "N", "Omicron": "O", "Rho": "P", "Tau": "T", "Chi": "X"}


def greek_macro(word: str) -> str | None:
    """The LaTeX for a Greek letter spelled as a word (``delta``, ``Delta``) or a character (``δ``); else None."""
    if word == "omicron":
        return "o"
    if word in _GREEK_WORDS:
        return "\\" + word
    if word in _UPPER_MACROS:
        return "\\" + word
    if word in _UPPER_LATIN:
        return "\\mathrm{" + _UPPER_LATIN[word] + "}"
    extra = {"ℓ": "\\ell", "ϵ": "\\epsilon", "ε": "\\varepsilon", "ϑ": "\\vartheta", "ϕ": "\\phi", "φ": "\\varphi",
             "ς": "\\varsigma", "ϱ": "\\varrho", "ϖ": "\\varpi"}
    if word in extra:
        return extra[word]
    if len(word) == 1:
        if word in _GREEK_LOWER:
            return greek_macro(_GREEK_WORDS[_GREEK_LOWER.index(word)])
        if word in _GREEK_UPPER:
            return greek_macro(_GREEK_WORDS[_GREEK_UPPER.index(word)].capitalize())
    return None


#: Greek words and characters → LaTeX macros (for reference by other renderers).
GREEK = {w: greek_macro(w) for w in (*_GREEK_WORDS, *_GREEK_LOWER, *_GREEK_UPPER)}


def _latex_chars(s: str) -> str:
    """Each character of ``s`` as safe LaTeX: ASCII letters and digits as they are, Greek as macros, others coded."""
    out = []
    for ch in s:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            g = greek_macro(ch)
            if g is None:
                out.append("\\mathrm{U{+}" + format(ord(ch), "04X") + "}")
            elif g.endswith("}"):
                out.append(g)
            else:
                out.append(g + " ")  # keep a macro apart from a following letter
    return "".join(out).rstrip()


def _latex_base(base: str) -> str:
    if not base:
        return ""
    g = greek_macro(base)
    if g is not None:
        return g
    if base.isascii() and base.isalpha():
        return base if len(base) == 1 else "\\mathit{" + base + "}"
    if len(base) == 1:
        return _latex_chars(base)
    return "{" + _latex_chars(base) + "}"


_SUBSCRIPT_DIGITS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


def _latex_sub(p: str) -> str:
    if p.isascii() and p.isalnum() and p[0].isalpha() and p[-1].isdigit() and not p.isdigit():
        return latex_name(p)  # the subscript names h3: δ_{h_{3}}, as h3 itself is set
    if p.isascii() and p.isalnum():
        return p if len(p) == 1 or p.isdigit() else "\\mathit{" + p + "}"
    return _latex_base(p)


def latex_name(name: str) -> str:
    """An identifier as safe LaTeX for math mode.

    Greek words and letters become macros (``delta``, ``δ`` → ``\\delta``); a trailing number and every ``_`` part
    become a subscript (``W1`` → ``W_{1}``, ``n_l`` → ``n_{l}``, ``alpha_2`` → ``\\alpha_{2}``); a multi-letter
    name is ``\\mathit{…}``. Any character that is not an ASCII letter or digit or Greek is replaced by its code
    point (``\\mathrm{U{+}005C}``), so no user text is passed through raw.
    """
    name = name.translate(_SUBSCRIPT_DIGITS)  # x₁ is x1, set as x_{1}
    parts = name.split("_")
    base, subs = parts[0], [p for p in parts[1:] if p]
    # a trailing number on the base is a subscript: W1 -> W_{1}
    i = len(base)
    while i > 0 and base[i - 1].isascii() and base[i - 1].isdigit():
        i -= 1
    if 0 < i < len(base):
        subs.insert(0, base[i:])
        base = base[:i]
    head = _latex_base(base) if base else "{}"
    if not subs:
        return head
    sub = ",".join(_latex_sub(p) for p in subs)
    return head + "_{" + sub + "}"


# ───────────────────────────── numbers ─────────────────────────────


def _decimal(q: Fraction) -> str | None:
    """``q`` as an exact finite decimal (``0.5``, ``1.25``), or None when it has none (``1/3``)."""
    d = q.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1:
        return None
    places = max(twos, fives)
    scaled = abs(q.numerator) * (10 ** places) // q.denominator
    s = str(scaled).rjust(places + 1, "0")
    text = s[:-places] + "." + s[-places:] if places else s
    return ("-" if q < 0 else "") + text


def fmt_number(q: Fraction) -> str:
    """A constant in the matcalc language: ``2``, ``0.5``, ``-1``, ``1/3`` (the caller brackets the last)."""
    q = Fraction(q)
    if q.denominator == 1:
        return str(q.numerator)
    dec = _decimal(q)
    if dec is not None and len(dec) <= 12:
        return dec
    return f"{q.numerator}/{q.denominator}"


# ───────────────────────────── the shared precedence printer ─────────────────────────────


@dataclass(frozen=True)
class _P:
    """A printed piece: its text, its precedence level, the scope of a prefix operator reaching its end (the
    loosest level it would swallow), whether the text starts with a minus sign, and whether it is a prefix form."""

    s: str
    prec: int
    tail: int | None = None
    neg: bool = False
    prefix: bool = False  # the text is one prefix operator (d/dX, Σ_k) and its operand
    callish: str | None = None  # "name (…)": the spelling "name * (…)" to use under a postfix operator


_FUNC_TEXT = {
    ir.Sum: "sum", ir.Trace: "tr", ir.Det: "det", ir.LogDet: "logdet", ir.Diag: "diag", ir.Vec: "vec",
    ir.Softmax: "softmax", ir.LogSumExp: "logsumexp",
}


def _dim_factors(d: object) -> list:
    """The factors of a dimension (``"2*m*n"`` → ``[2, "m", "n"]``; ``1`` → ``[]``)."""
    if isinstance(d, int):
        return [] if d == 1 else [d]
    return [int(f) if f.isdigit() else f for f in str(d).split("*")]


def _ends_with_number(s: str) -> bool:
    """Whether ``s`` ends with a number token (``2``, ``X^2``; not the name ``z2``)."""
    from matcalc.lang.lexer import is_ident_char

    i = len(s)
    while i > 0 and (s[i - 1].isascii() and s[i - 1].isdigit() or s[i - 1] == "."):
        i -= 1
    return i < len(s) and not (i > 0 and is_ident_char(s[i - 1]))


def _unneg(e: Expr) -> Expr:
    return e.arg if isinstance(e, ir.Neg) else e


def _min(a: int, b: int | None) -> int:
    return a if b is None else min(a, b)


class _Printer:
    """The precedence logic shared by the text and LaTeX printers; subclasses supply the spellings."""

    def __init__(self) -> None:
        self._memo: dict[int, _P] = {}

    # spellings (text defaults)
    def paren(self, s: str) -> str:
        return "(" + s + ")"

    def call(self, fn: str, args: list[str]) -> str:
        return fn + "(" + ", ".join(args) + ")"

    def name(self, n: str) -> str:
        return n

    def index(self, i: object) -> str:
        return i.name if isinstance(i, ir.Index) else str(i)

    # brackets
    def br(self, p: _P) -> _P:
        return _P(self.paren(p.s), ATOM)

    def left(self, p: _P, level: int) -> _P:
        """``p`` as the left operand of a binary operator at ``level``."""
        if p.prec < level or (p.tail is not None and p.tail <= level):
            return self.br(p)
        return p

    def lead(self, e: Expr) -> _P:
        """The scalar ``e`` leading a product: a division is bracketed, ``(1/N) Xᵀ r`` (``1 / N Xᵀ r`` would read
        as 1 / (N Xᵀ r))."""
        q = self.left(self.p(e), PROD)
        return self.br(q) if isinstance(e, ir.Div) and q.prec <= PROD else q

    def right(self, p: _P, level: int) -> _P:
        """``p`` as a right operand of a left-associative binary operator at ``level``.

        A prefix form (``d/dX e``, ``Σ_k e``) needs no brackets here: it starts a new operand, and how far it reaches
        is carried in its ``tail``. A leading minus is bracketed (``a (-b)``: juxtaposition with ``-`` would read as
        a subtraction).
        """
        if p.neg:
            return self.br(p)
        if p.prefix:
            return p
        if p.prec <= level:
            return self.br(p)
        return p

    def top(self, e: Expr) -> str:
        return self.p(e).s

    def arg(self, e: Expr) -> str:
        """An argument inside call brackets (no further brackets needed)."""
        return self.p(e).s

    # the dispatcher
    def p(self, e: Expr) -> _P:
        meth = getattr(self, "p_" + type(e).__name__, None)
        if meth is None:
            raise TypeError(f"no printer for the IR node {type(e).__name__}")
        return meth(e)

    # leaves
    def p_Var(self, e: ir.Var) -> _P:
        return _P(self.name(e.name), ATOM)

    def p_Named(self, e: ir.Named) -> _P:
        return _P(self.name(e.name), ATOM)

    def p_Size(self, e: ir.Size) -> _P:
        return _P(self.dim(e.dim), ATOM)

    # constants: printed with their size (SPEC section 6: "it reads back"); a bare I only where a sum sizes it
    def p_Identity(self, e: ir.Identity) -> _P:
        if e.n == 1:
            return self.p(ir.Num(1))
        return self.constant("eye", _dim_factors(e.n), _dim_factors(e.n))

    def p_Zeros(self, e: ir.Zeros) -> _P:
        return self._filled("zeros", e.dims)

    def p_Ones(self, e: ir.Ones) -> _P:
        return self._filled("ones", e.dims)

    def _filled(self, fn: str, dims: tuple) -> _P:
        rows, cols = dims
        if rows == 1 and cols == 1:
            return self.p(ir.Num(0 if fn == "zeros" else 1))
        return self.constant(fn, _dim_factors(rows), _dim_factors(cols))

    def bare_identity(self) -> _P:
        return _P("I", ATOM)

    def dim(self, d: object) -> str:
        return str(d)

    def size(self, factors: list) -> str:
        """A size that may be a product, as ``ones(…)`` reads it (``[m, n]`` → ``m·n``)."""
        return "·".join(self.dim(f) for f in factors)

    def constant(self, fn: str, rows: list, cols: list) -> _P:
        """``ones``/``zeros``/``eye`` of the size ``rows × cols`` (each a list of factors: ``[m, n]`` is m·n).

        A row is the transpose of a column (``ones(n)ᵀ``); a size that is a product is written as one
        (``zeros(m·n, p)``, ``eye(n·p)``), which the reader reads back.
        """
        if fn == "eye":
            return _P(self.call(self.fname("eye"), [self.size(rows)]), ATOM)
        if not rows:  # a row: the transpose of the column
            col = self.constant(fn, cols, [])
            return _P(col.s + self.transpose_mark(), POSTFIX)
        return _P(self.call(self.fname(fn), [self.size(rows)] + ([self.size(cols)] if cols else [])), ATOM)

    def transpose_mark(self) -> str:
        return "ᵀ"

    def p_Num(self, e: ir.Num) -> _P:
        q = e.value
        s = fmt_number(q)
        if q < 0:
            return _P(s, UNARY, neg=True)
        if "/" in s:
            return _P(self.paren(s), ATOM)
        return _P(s, ATOM)

    def p_Delta(self, e: ir.Delta) -> _P:
        return _P("[" + self.index(e.i) + " = " + self.index(e.j) + "]", ATOM)

    # sums and products
    def p_Add(self, e: ir.Add) -> _P:
        # An I among the terms is sized by the sum when another term has a size the reader knows (A + I).
        sized = any(not isinstance(_unneg(a), (ir.Identity, ir.Broadcast, ir.Ones, ir.Zeros)) for a in e.args)
        if not any(not isinstance(_unneg(a), ir.Broadcast) for a in e.args):
            # only expanded scalars: the first one carries the size (c ones(n) + d), or the sum would be a scalar
            first = self.left(self.p(e.args[0]), SUM)
        else:
            first = self.left(self.term(e.args[0], sized), SUM)
        if isinstance(e.args[0], ir.Broadcast) and first.prec <= SUM:
            first = self.br(first)  # an expanded scalar sum is one term: (c + d) + x
        out = [first.s]
        tail = first.tail
        for a in e.args[1:]:
            if isinstance(a, ir.Neg):
                q = self.right(self.term(a.arg, sized), SUM)
                out.append(self.minus_sign() + q.s)
            else:
                q = self.right(self.term(a, sized), SUM)
                out.append(" + " + q.s)
            tail = q.tail
        return _P("".join(out), SUM, tail, first.neg)

    #: Whether a ones among sized terms is written 1 (text: σ ⊙ (1 - σ), as the books write it; LaTeX keeps 1_n).
    bare_ones = True

    def term(self, e: Expr, sized: bool) -> _P:
        if sized and isinstance(e, ir.Identity) and e.n != 1:
            return self.bare_identity()
        if sized and self.bare_ones and isinstance(e, ir.Ones) and e.dims != (1, 1):
            return _P("1", ATOM)  # the sum's other terms give it its size: 1 - y
        return self.operand(e, expand=True)

    def minus_sign(self) -> str:
        return " - "

    def operand(self, e: Expr, *, expand: bool) -> _P:
        """``e`` as an operand; a :class:`ir.Broadcast` prints as its scalar where the context expands it."""
        if isinstance(e, ir.Broadcast):
            return self.p(e.arg) if expand else self.p_Broadcast(e)
        return self.p(e)

    def p_Broadcast(self, e: ir.Broadcast) -> _P:
        # outside an expanding context: the scalar times the ones of the shape (same value and shape)
        if e.dims == (1, 1):
            return self.p(e.arg)
        if isinstance(e.arg, ir.Num) and e.arg.value in (0, 1):
            return self.p((ir.Ones if e.arg.value == 1 else ir.Zeros)(e.dims))  # ones(n, m), not 1 ones(n, m)
        s = self.lead(e.arg)
        return _P(s.s + " " + self.p_Ones(ir.Ones(e.dims)).s, PROD, None, s.neg)

    def p_Neg(self, e: ir.Neg) -> _P:
        q = self.p(e.arg)
        if q.neg or (q.prec < POWER and not q.prefix):
            q = self.br(q)
        return _P("-" + q.s, UNARY, q.tail, True)

    #: Whether to guard against the reader taking ``name (…)`` for one unit (set for the text printer).
    guard_calls = False

    def _product(self, parts: list[_P], seps: list[str], *, matmul: bool = False) -> _P:
        first = self.left(parts[0], PROD)
        s = first.s
        neg = first.neg
        tail = first.tail
        callish = None
        prev = first.s
        for n, (sep, q) in enumerate(zip(seps, parts[1:])):
            q = self.right(q, PROD)
            if n < len(seps) - 1 and q.tail is not None and q.tail <= PROD:
                q = self.br(q)  # a prefix form followed by more factors would take them: A (d/dy y) y
            if self.guard_calls and sep == " " and q.s.startswith("(") and _ends_with_name(s):
                # The reader takes "name (…)" as one unit, like a call f(x): "c A (x + u)" would read as
                # c (A (x + u)) and "-c (x + u)" as -(c (x + u)). Bracket what comes before the name, unless
                # the grouping cannot matter: a name alone, or a whole factor of a matrix product (flattened).
                if n == 0 and not neg and _is_name(s):
                    callish = s + " * " + q.s
                elif not (matmul and n > 0 and _is_name(prev)):
                    s, neg = self.paren(s), False
            if sep == " " and _ends_with_number(s) and q.s[:1].isdigit():
                sep = self.number_times()  # two numbers are never juxtaposed: 2 · 3, not 2 3
            s += sep + q.s
            prev = q.s
            tail = q.tail
        return _P(s, PROD, tail, neg, callish=callish if len(parts) == 2 else None)

    def p_MatMul(self, e: ir.MatMul) -> _P:
        args = list(e.args)
        for i in range(1, len(args) - 1):
            if args[0].shape[0] == 1 and args[i].shape[1] == 1:
                # a 1×1 value inside the product (yᵀ y xᵀ): read left to right it would scale what follows, so
                # group the rest: yᵀ (y xᵀ)
                args = args[:i] + [ir.MatMul(tuple(args[i:]))]
                break
        parts = [self.p(a) for a in args]
        if isinstance(args[0], (ir.Scale, ir.Div)):
            # "2 W x" reads as 2 (W x): a scaled first factor keeps its brackets, (2 W) x; a quotient too,
            # (1 / s) xᵀ, never 1 / s xᵀ
            parts[0] = self.br(parts[0])
        return self._product(parts, [self.juxt_between(a, b) for a, b in zip(parts, parts[1:])], matmul=True)

    def juxt_between(self, a: _P, b: _P) -> str:
        return " "

    def number_times(self) -> str:
        return " · "

    def p_Scale(self, e: ir.Scale) -> _P:
        a, b = self.lead(e.scalar), self.p(e.arg)
        if isinstance(e.arg, ir.MatMul) and not b.neg and not isinstance(e.arg.args[0], ir.Div):
            # A scalar in front scales the whole product that follows (the reader's rule): 2 (W x - y) xᵀ
            b = _P(b.s, POSTFIX, b.tail, b.neg)
        return self._product([a, b], [self.juxt_between(a, b)])

    def p_Div(self, e: ir.Div) -> _P:
        return self._product([self.p(e.arg), self.p(e.scalar)], [" / "])

    def _entrywise(self, a: Expr, b: Expr, op: str, expand: bool) -> _P:
        pa = self.left(self.operand(a, expand=expand), ENTRY)
        pb = self.right(self.operand(b, expand=expand), ENTRY)
        # a product is an operand as a whole, bracketed as the books write it: (Wᵀ δ) ⊙ σ'(z), 1 ⊘ (2 sqrt(x))
        # (the reader would group it so without the brackets, a student would not be sure)
        pa, pb = (self.br(q) if q.prec == PROD and not q.prefix else q for q in (pa, pb))
        return _P(pa.s + " " + op + " " + pb.s, ENTRY, pb.tail, pa.neg)

    def p_Hadamard(self, e: ir.Hadamard) -> _P:
        return self._entrywise(e.a, e.b, self.sym("⊙"), True)

    def p_HadDiv(self, e: ir.HadDiv) -> _P:
        a = e.a
        if isinstance(a, ir.Ones) and not isinstance(e.b, (ir.Ones, ir.Zeros, ir.Broadcast, ir.Identity)):
            a = ir.Broadcast(ir.Num(1), a.dims)  # 1 ⊘ (2 sqrt(x)): the divisor fixes the size
        return self._entrywise(a, e.b, self.sym("⊘"), True)

    def p_Kron(self, e: ir.Kron) -> _P:
        return self._entrywise(e.a, e.b, self.sym("⊗"), False)

    def sym(self, s: str) -> str:
        return s

    def p_MaxMin(self, e: ir.MaxMin) -> _P:
        a = self.operand(e.a, expand=True).s
        b = self.operand(e.b, expand=True).s
        return _P(self.call(self.fname(e.op), [a, b]), ATOM)

    def fname(self, fn: str) -> str:
        return fn

    # postfix
    def postfix_operand(self, e: Expr) -> _P:
        q = self.p(e)
        if q.callish is not None:  # "(c (x + u))ᵀ" would read as c (x + u)ᵀ
            return _P(self.paren(q.callish), ATOM)
        if q.prec < POSTFIX or q.neg or q.tail is not None:
            return self.br(q)
        return q

    def script_operand(self, e: Expr) -> _P:
        """The operand of a postfix mark or a power, bracketed when it already carries one: ``(Xᵀ)^2``,
        ``(Aᵀ)⁻¹``, ``(X^2)ᵀ`` (``Xᵀ^2`` is hard to read)."""
        q = self.postfix_operand(e)
        if q.prec in (POSTFIX, POWER):
            return self.br(q)
        return q

    def p_Transpose(self, e: ir.Transpose) -> _P:
        a = e.arg
        if isinstance(a, (ir.Ones, ir.Zeros)):
            return self.p(type(a)((a.dims[1], a.dims[0])))  # the transpose of a constant is a constant
        if isinstance(a, ir.Identity):
            return self.p(a)
        if a.shape == (1, 1):
            q = self.p(a)
            if q.s in ("0", "1"):
                return q  # a number is its own transpose; "1ᵀ" would read as a row of ones
        if isinstance(a, ir.Inverse):
            return _P(self.script_operand(a.arg).s + self.inverse_transpose_mark(), POSTFIX)
        return _P(self.script_operand(a).s + self.transpose_mark(), POSTFIX)

    def inverse_transpose_mark(self) -> str:
        return "⁻ᵀ"

    def p_Inverse(self, e: ir.Inverse) -> _P:
        return _P(self.script_operand(e.arg).s + self.inverse_mark(), POSTFIX)

    def inverse_mark(self) -> str:
        return "⁻¹"

    def exponent(self, k: Fraction) -> str:
        """A whole exponent as is (``^2``, ``^-1``), a fraction as the books write it, bracketed: ``^(1/2)``,
        ``.^(-3/2)`` (never ``^0.5``)."""
        k = Fraction(k)
        return str(k.numerator) if k.denominator == 1 else f"({k.numerator}/{k.denominator})"

    def p_Power(self, e: ir.Power) -> _P:
        b = self.script_operand(e.base)
        return _P(b.s + "^" + self.exponent(e.exp), POWER)

    def p_EPower(self, e: ir.EPower) -> _P:
        b = self.script_operand(e.base)
        sep = " " if _ends_with_number(b.s) else ""  # 2 .^2, never 2.^2 (read as 2. ^ 2); h3.^2 is fine
        return _P(b.s + sep + ".^" + self.exponent(e.exp), POWER)

    # functions
    def p_Apply(self, e: ir.Apply) -> _P:
        fn = e.fn
        if fn == "sigma" and not e.declared:
            fn = "σ"
        return _P(self.call(fn + "'" * e.order, [self.arg(e.arg)]), ATOM)

    def p_CallVec(self, e: ir.CallVec) -> _P:
        return _P(self.call(e.fn + "'" * e.order, [self.arg(e.arg)]), ATOM)

    def p_Commutation(self, e: ir.Commutation) -> _P:
        return _P(self.call("K", [self.dim(e.m), self.dim(e.n)]), ATOM)

    def _unary_call(self, e: Expr) -> _P:
        return _P(self.call(self.fname(_FUNC_TEXT[type(e)]), [self.arg(e.arg)]), ATOM)

    p_Sum = p_Trace = p_Det = p_LogDet = p_Diag = p_Vec = p_Softmax = p_LogSumExp = _unary_call

    _in_norm = 0

    def p_Norm(self, e: ir.Norm) -> _P:
        self._in_norm += 1
        try:
            s = "‖" + self.arg(e.arg) + "‖"
        finally:
            self._in_norm -= 1
        if self._in_norm and self.guard_calls:
            s = self.paren(s)  # a ‖ inside a norm could read as its closing bar: ‖(‖x‖) y‖
        return _P(s, ATOM)

    # indices
    def p_Entry(self, e: ir.Entry) -> _P:
        q = self.p(e.arg)
        if q.callish is not None:
            q = _P(self.paren(q.callish), ATOM)
        elif q.prec < ATOM:
            q = self.br(q)
        return _P(q.s + "[" + ", ".join(self.index(i) for i in e.idx) + "]", ATOM)

    def p_IndexSum(self, e: ir.IndexSum) -> _P:
        body = self.p(e.body)
        if body.prec < PROD and not body.prefix:
            body = self.br(body)
        return _P(self.sigma_sum(e.index) + " " + body.s, PROD, _min(PROD, body.tail), prefix=True)

    def sigma_sum(self, i: ir.Index) -> str:
        return "Σ_" + self.index(i)

    # derivatives
    def wrt(self, w: Expr) -> str:
        return self.p(w).s

    def p_Derivative(self, e: ir.Derivative) -> _P:
        if e.kind == "grad":
            return _P(self.call("grad", [self.arg(e.expr), self.wrt(e.wrt)]), ATOM)
        if e.kind in ("jacobian", "hessian"):
            return _P(self.call(e.kind, [self.arg(e.expr), self.wrt(e.wrt)]), ATOM)
        body = self.p(e.expr)
        if body.prec < DERIV and not body.prefix:
            body = self.br(body)
        return _P(self.d_prefix(e.wrt) + body.s, DERIV, DERIV, prefix=True)

    def d_prefix(self, w: Expr) -> str:
        p = self.p(w)  # d/d(a - y), never d/da - y
        return "d/d" + (p.s if p.prec >= POSTFIX else self.paren(p.s)) + " "


class _TextPrinter(_Printer):
    guard_calls = True


def _is_name(s: str) -> bool:
    from matcalc.lang.lexer import is_ident_char, is_ident_start

    return bool(s) and is_ident_start(s[0]) and all(is_ident_char(ch) for ch in s)


def _ends_with_name(s: str) -> bool:
    """Whether ``s`` ends with a name token (``W x`` does; ``xᵀ``, ``σ(x)``, ``2`` and ``x[k]`` do not)."""
    from matcalc.lang.lexer import is_ident_char, is_ident_start

    i = len(s)
    while i > 0 and is_ident_char(s[i - 1]):
        i -= 1
    return i < len(s) and is_ident_start(s[i])


# ───────────────────────────── LaTeX ─────────────────────────────

_LATEX_FUNCS = {
    "exp": "\\exp", "log": "\\log", "sin": "\\sin", "cos": "\\cos", "tanh": "\\tanh", "sigma": "\\sigma",
    "relu": "\\operatorname{relu}", "softplus": "\\operatorname{softplus}", "abs": "\\operatorname{abs}",
    "step": "\\operatorname{step}", "sqrt": "\\operatorname{sqrt}",
    "sum": "\\operatorname{sum}", "tr": "\\operatorname{tr}", "det": "\\det", "logdet": "\\log\\det",
    "diag": "\\operatorname{diag}", "vec": "\\operatorname{vec}", "softmax": "\\operatorname{softmax}",
    "logsumexp": "\\operatorname{logsumexp}", "max": "\\max", "min": "\\min",
}


class _LatexPrinter(_Printer):
    bare_ones = False

    def paren(self, s: str) -> str:
        return "\\left(" + s + "\\right)"

    def wrt(self, w: Expr) -> str:
        p = self.p(w)  # a compound variable is bracketed: \partial (a - y), J_{(W x)}, never \partial a - y
        return p.s if p.prec >= POSTFIX else self.paren(p.s)

    def call(self, fn: str, args: list[str]) -> str:
        return fn + "\\left(" + ", ".join(args) + "\\right)"

    def name(self, n: str) -> str:
        return latex_name(n)

    def index(self, i: object) -> str:
        return latex_name(i.name) if isinstance(i, ir.Index) else str(int(i))  # type: ignore[call-overload]

    def fname(self, fn: str) -> str:
        return _LATEX_FUNCS.get(fn) or "\\operatorname{" + _latex_chars(fn) + "}"

    def sym(self, s: str) -> str:
        return {"⊙": "\\odot", "⊘": "\\oslash", "⊗": "\\otimes"}[s]

    def dim(self, d: object) -> str:
        return " ".join(str(f) if isinstance(f, int) else latex_name(f) for f in _dim_factors(d)) or "1"

    def constant(self, fn: str, rows: list, cols: list) -> _P:
        """``\\mathbf{1}_{n}``, ``\\mathbf{1}_{n}^{\\top}``, ``\\mathbf{0}_{n \\times m}``, ``I_{n}``."""
        size = lambda fs: " ".join(self.dim(f) for f in fs)  # noqa: E731
        if fn == "eye":
            return _P("I_{" + size(rows) + "}", ATOM)
        base = "\\mathbf{1}" if fn == "ones" else "\\mathbf{0}"
        if not rows:
            return _P(base + "_{" + size(cols) + "}^{\\top}", POSTFIX)
        if not cols:
            return _P(base + "_{" + size(rows) + "}", ATOM)
        return _P(base + "_{" + size(rows) + " \\times " + size(cols) + "}", ATOM)

    def p_Num(self, e: ir.Num) -> _P:
        q = e.value
        if q.denominator == 1:
            s = str(abs(q.numerator))
        else:
            s = "\\frac{" + str(abs(q.numerator)) + "}{" + str(q.denominator) + "}"
        if q < 0:
            return _P("-" + s, UNARY, neg=True)
        return _P(s, ATOM)

    def p_Delta(self, e: ir.Delta) -> _P:
        return _P("\\left[" + self.index(e.i) + " = " + self.index(e.j) + "\\right]", ATOM)

    def juxt_between(self, a: _P, b: _P) -> str:
        # "2 3" would typeset as 23: put a visible dot between a number and a following number
        if b.s[:1].isdigit() or b.s.startswith("\\frac"):
            return " \\cdot "
        return " "

    def number_times(self) -> str:
        return " \\cdot "

    def transpose_mark(self) -> str:
        return "^{\\top}"

    def inverse_transpose_mark(self) -> str:
        return "^{-\\top}"

    def inverse_mark(self) -> str:
        return "^{-1}"

    def exponent(self, k: Fraction) -> str:
        if k.denominator == 1:
            return str(k.numerator)
        return ("-" if k < 0 else "") + f"{abs(k.numerator)}/{k.denominator}"

    def p_Power(self, e: ir.Power) -> _P:
        b = self.script_operand(e.base)
        return _P(b.s + "^{" + self.exponent(e.exp) + "}", POWER)

    def p_EPower(self, e: ir.EPower) -> _P:
        b = self.script_operand(e.base)
        return _P(b.s + "^{\\circ " + self.exponent(e.exp) + "}", POWER)

    def p_Apply(self, e: ir.Apply) -> _P:
        primes = "'" * e.order
        if e.declared:
            fn = latex_name(e.fn)
        elif e.fn == "sqrt" and e.order == 0:
            return _P("\\sqrt{" + self.arg(e.arg) + "}", ATOM)
        elif e.fn == "abs" and e.order == 0:
            return _P("\\left\\lvert " + self.arg(e.arg) + " \\right\\rvert", ATOM)
        else:
            fn = self.fname(e.fn)
        return _P(self.call(fn + primes, [self.arg(e.arg)]), ATOM)

    def p_CallVec(self, e: ir.CallVec) -> _P:
        fn = latex_name(e.fn)
        if e.order == 1:
            fn = "\\nabla " + fn
        elif e.order == 2:
            fn = "\\nabla^{2} " + fn
        return _P(self.call(fn, [self.arg(e.arg)]), ATOM)

    def p_Commutation(self, e: ir.Commutation) -> _P:
        return _P("K_{" + self.dim(e.m) + "," + self.dim(e.n) + "}", ATOM)

    def p_Norm(self, e: ir.Norm) -> _P:
        return _P("\\left\\lVert " + self.arg(e.arg) + " \\right\\rVert", ATOM)

    def p_Entry(self, e: ir.Entry) -> _P:
        q = self.p(e.arg)
        if q.prec < ATOM or "_" in q.s or "^" in q.s:
            q = self.br(q)  # an entry of z2 is (z_{2})_{k}: z_{2}_{k} or {z_{2}}_{k} would read as z_{2k}
        return _P(q.s + "_{" + ",".join(self.index(i) for i in e.idx) + "}", ATOM)

    def sigma_sum(self, i: ir.Index) -> str:
        return "\\sum_{" + self.index(i) + "}"

    def minus_sign(self) -> str:
        return " - "

    def p_Derivative(self, e: ir.Derivative) -> _P:
        if e.kind == "jacobian":
            return _P("\\mathrm{J}_{" + self.wrt(e.wrt) + "}\\left(" + self.arg(e.expr) + "\\right)", ATOM)
        if e.kind == "hessian":
            return _P("\\nabla^{2}_{" + self.wrt(e.wrt) + "}\\left(" + self.arg(e.expr) + "\\right)", ATOM)
        body = self.p(e.expr)
        if body.prec < POSTFIX and not body.prefix:
            body = self.br(body)  # typeset for a reader: ∂/∂X (A ⊗ X), ∇_x (xᵀ A x), never ∂/∂X A ⊗ X
        if e.kind == "grad":
            w = self.p(e.wrt)  # a compound subscript is bracketed, as in the text: \nabla_{(x u^{\top})}
            wrt = w.s if w.prec >= POSTFIX else self.paren(w.s)
            return _P("\\nabla_{" + wrt + "} " + body.s, DERIV, DERIV, prefix=True)
        return _P("\\frac{\\partial}{\\partial " + self.wrt(e.wrt) + "} " + body.s, DERIV, DERIV, prefix=True)


# ───────────────────────────── fully bracketed ─────────────────────────────


class _BracketPrinter(_Printer):
    """Every sum, product, entrywise operation, negation, derivative and index sum in brackets."""

    def _wrap(self, p: _P) -> _P:
        return _P(self.paren(p.s), ATOM)

    def p_Add(self, e: ir.Add) -> _P:
        out = [self.p(e.args[0]).s]
        for a in e.args[1:]:
            out.append(" - " + self.p(a.arg).s if isinstance(a, ir.Neg) else " + " + self.p(a).s)
        return self._wrap(_P("".join(out), SUM))

    def p_Broadcast(self, e: ir.Broadcast) -> _P:
        return self.p(e.arg)

    def p_Neg(self, e: ir.Neg) -> _P:
        return self._wrap(_P("-" + self.p(e.arg).s, UNARY))

    def p_MatMul(self, e: ir.MatMul) -> _P:
        return self._wrap(_P(" ".join(self.p(a).s for a in e.args), PROD))

    def p_Scale(self, e: ir.Scale) -> _P:
        return self._wrap(_P(self.p(e.scalar).s + " " + self.p(e.arg).s, PROD))

    def p_Div(self, e: ir.Div) -> _P:
        return self._wrap(_P(self.p(e.arg).s + " / " + self.p(e.scalar).s, PROD))

    def _entrywise(self, a: Expr, b: Expr, op: str, expand: bool) -> _P:
        return self._wrap(_P(self.p(a).s + " " + op + " " + self.p(b).s, ENTRY))

    def p_IndexSum(self, e: ir.IndexSum) -> _P:
        return self._wrap(_P(self.sigma_sum(e.index) + " " + self.p(e.body).s, PROD))

    def p_Derivative(self, e: ir.Derivative) -> _P:
        if e.kind != "d":
            return super().p_Derivative(e)
        return self._wrap(_P(self.d_prefix(e.wrt) + self.p(e.expr).s, DERIV))

    def postfix_operand(self, e: Expr) -> _P:
        q = self.p(e)
        if q.prec < POSTFIX:
            return self.br(q)
        return q


# ───────────────────────────── public API ─────────────────────────────

#: Python frames allowed while printing: each level of nesting costs about three, and derived expressions (a deep
#: network's gradient) nest far deeper than typed input (the parser stops at 100 levels).
_RECURSION = 30_000


#: The most nodes an expression may have written out (a ``let`` name is one node, as it prints) to be printed: a
#: DAG whose shared parts have no name (a derivative through a residual network, each layer used twice) would
#: print to a text exponentially long in its depth.
MAX_PRINTED_NODES = 50_000


def printed_size(e: Expr) -> int:
    """The node count of ``e`` as printed (each ``let`` name one node), up to ``MAX_PRINTED_NODES + 1``; cached
    on the nodes, so printing the parts of an expression one by one stays linear."""
    cap = MAX_PRINTED_NODES + 1

    def known(x: object) -> int | None:
        if type(x) not in ir._CHILD_FIELDS:  # not an IR node: one node (the printer names it in its error)
            return 1
        return x.__dict__.get("_psize")

    stack: list = [(e, False)]
    while stack:
        x, done = stack.pop()
        if known(x) is not None:
            continue
        kids = () if isinstance(x, ir.Named) else ir.children(x)
        if done or not kids:
            x.__dict__["_psize"] = min(cap, 1 + sum(known(k) for k in kids))
        else:
            stack.append((x, True))
            stack.extend((k, False) for k in kids if known(k) is None)
    return known(e)


def _run(printer: _Printer, e: Expr) -> str:
    if printed_size(e) > MAX_PRINTED_NODES:
        from matcalc.errors import LimitError

        raise LimitError(f"the expression is too long to print: more than {MAX_PRINTED_NODES} nodes written out "
                         "(parts of it are used many times; name them with let)")
    old = sys.getrecursionlimit()
    if old < _RECURSION:
        sys.setrecursionlimit(_RECURSION)
    try:
        return printer.top(e)
    finally:
        if old < _RECURSION:
            sys.setrecursionlimit(old)



def to_text(e: Expr) -> str:
    """``e`` in the matcalc language, Unicode, with the fewest brackets that keep its meaning.

    Args:
        e: an IR expression.

    Returns:
        Text that :func:`matcalc.lang.read_expr` reads back to ``e`` (``(Wᵀ δ) ⊙ σ'(z)``).
    """
    return _run(_TextPrinter(), e)


def to_latex(e: Expr) -> str:
    """``e`` as LaTeX for amsmath math mode (``\\left(W^{\\top} \\delta\\right) \\odot \\sigma'\\left(z\\right)``).

    Args:
        e: an IR expression.

    Returns:
        A math-mode fragment needing only amsmath and amssymb; names are escaped by :func:`latex_name`.
    """
    return _run(_LatexPrinter(), e)


def to_bracketed(e: Expr) -> str:
    """``e`` with every operation in brackets, for ``matcalc show`` (``((W x) ⊙ b)``).

    Args:
        e: an IR expression.

    Returns:
        The fully bracketed Unicode reading.
    """
    return _run(_BracketPrinter(), e)

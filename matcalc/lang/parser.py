"""The expression parser of the matcalc language: tokens to a syntax tree with source positions (SPEC sections 1-3).

Contract: :class:`Parser` reads the tokens of an expression into a :class:`~matcalc.lang.syntax.Node` tree
(:meth:`Parser.parse_expression`); :mod:`matcalc.lang.statement` uses it to parse whole statements and declarations,
and the tree's classes live in :mod:`matcalc.lang.syntax` (re-exported here). Each node has the ``line`` and ``col``
of its operator (for a binary operation) or of its first token, so the typer can point a caret at the operator of an
ill-shaped operation. The parser knows no declarations: ``f(x)`` is a :class:`Call` whatever ``f`` is, and the typer
decides whether ``f`` is a function or a factor of a product.

Precedence, loosest to tightest (SPEC section 3): sum (``+ -``, n-ary :class:`Chain` ``"+"``); the derivative
prefix ``d/dX`` (its body reaches to the next binary ``+``/``-``, ``=``, ``,`` or closing bracket, a leading minus
included); entrywise (``⊙ ⊘ ⊗``, left to right); matrix product (juxtaposition, ``*``, ``@``, ``/``; n-ary
:class:`Chain` ``"*"``); unary minus; postfix (``^k``, ``.^k``, ``ᵀ``, ``'``, ``⁻¹``, ``[i, j]``); atoms. ``Σ_k e``
sums the product that follows.

Limits (SPEC section 8): nesting deeper than :data:`MAX_DEPTH` (brackets, prefixes, postfix chains and entrywise
chains all count) raises :class:`~matcalc.errors.LimitError`; the parser checks it explicitly, so Python's recursion
limit is never reached. Exponents are evaluated here as exact fractions; a bracketed constant exponent may use
``+ - * / ^`` and brackets, with every intermediate value's numerator and denominator at most
:data:`MAX_CONST`.
"""

from __future__ import annotations

from fractions import Fraction

from matcalc.errors import ParseError
from matcalc.lang.lexer import Token
from matcalc.lang.limits import (
    MAX_CONST, MAX_DEPTH, MAX_PRIMES, check_constant, check_constant_exponent, check_constant_power, check_depth,
    check_primes,
)
from matcalc.lang.syntax import (
    Binary, Call, Chain, DeclGroup, DeltaN, Deriv, EntryN, IdxSum, Name, Neg, Node, NormN, Num, Pow, SStmt, Transp,
    TypeSpec, walk_nodes,
)

__all__ = [
    "MAX_DEPTH", "MAX_CONST", "MAX_PRIMES", "Node", "Num", "Name", "Call", "Chain", "Binary", "Neg", "Transp",
    "Pow", "NormN", "EntryN", "DeltaN", "IdxSum", "Deriv", "SStmt", "TypeSpec", "DeclGroup", "Parser",
    "walk_nodes",
]


# ───────────────────────────── the parser ─────────────────────────────

_ATOM_START = ("NAME", "NUMBER", "(", "‖", "∇", "DERIV", "SUMIDX", "LDERIV")


class Parser:
    """Recursive descent over one statement's tokens, with an explicit depth check."""

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.norm_open = False

    # helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.toks[self.i]
        if t.kind != "EOF":
            self.i += 1
        return t

    def prev_kind(self) -> str | None:
        return self.toks[self.i - 1].kind if self.i > 0 else None

    def error(self, msg: str, tok: Token | None = None) -> ParseError:
        t = tok or self.tok
        return ParseError(msg, line=t.line, col=t.col, end_col=t.end_col if t.kind != "EOF" else None)

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.error(f"expected {what}, found {self.tok.describe()}")
        return self.next()

    def enter(self) -> None:
        self.depth += 1
        check_depth(self.depth, self.tok.line, self.tok.col)

    def check_depth(self, node: Node) -> Node:
        check_depth(node.depth, node.line, node.col)
        return node

    def can_start_operand(self) -> bool:
        """Whether the token can begin an operand where one is required (after an operator: ``‖`` opens)."""
        return self.tok.kind in _ATOM_START or self.tok.kind == "-" or self.is_delta()

    def starts_atom(self) -> bool:
        """Whether the token begins a juxtaposed factor (inside a norm, ``‖`` closes it instead)."""
        k = self.tok.kind
        if k == "‖":
            return not self.norm_open
        return k in _ATOM_START or self.is_delta()

    def is_delta(self) -> bool:
        """Whether a Kronecker delta ``[i = j]`` starts here."""
        kinds = [self.peek(k).kind for k in range(5)]
        return (kinds[0] == "[" and kinds[1] in ("NAME", "NUMBER") and kinds[2] == "="
                and kinds[3] in ("NAME", "NUMBER") and kinds[4] == "]")

    # levels
    def parse_expression(self) -> Node:
        """A whole expression (the sum level)."""
        first = self.parse_entrywise()
        if self.tok.kind not in ("+", "-"):
            return first
        items = [(None, first.line, first.col, first)]
        start = self.tok
        while self.tok.kind in ("+", "-"):
            op = self.next()
            if not self.can_start_operand():
                raise self.missing_operand(op)
            items.append((op.kind, op.line, op.col, self.parse_entrywise()))
        node = Chain(start, "+", items)
        node.line, node.col = first.line, first.col
        return self.check_depth(node)

    def missing_operand(self, op: Token) -> ParseError:
        if op.kind == "*" and self.tok.kind == "*" and (self.tok.line, self.tok.col) == (op.line, op.col + 1):
            return self.error("'**' is not a power in matcalc: write x^2 for a scalar or square matrix, x.^2 for "
                              "an entrywise power")
        if op.kind == "=" and self.tok.kind == "=":
            return self.error("a claim uses a single '=' (write a = b, not a == b)")
        if self.tok.kind == "EOF":
            return self.error(f"missing operand after {op.text!r} at the end of the input")
        return self.error(f"missing operand after {op.text!r}: found {self.tok.describe()}")

    def parse_entrywise(self) -> Node:
        left = self.parse_product()
        while self.tok.kind in ("⊙", "⊘", "⊗"):
            op = self.next()
            if not self.can_start_operand():
                raise self.missing_operand(op)
            right = self.parse_product()
            left = self.check_depth(Binary(op, op.kind, left, right))
        return left

    def parse_product(self) -> Node:
        first = self.parse_unary()
        items = [(None, first.line, first.col, first)]
        while True:
            if self.tok.kind in ("*", "/"):
                op = self.next()
                if not self.can_start_operand():
                    raise self.missing_operand(op)
                items.append((op.kind, op.line, op.col, self.parse_unary()))
            elif self.starts_atom():
                t = self.tok
                items.append(("juxt", t.line, t.col, self.parse_unary()))
            else:
                break
        if len(items) == 1:
            return first
        node = Chain(self.toks[0], "*", items)
        node.line, node.col = first.line, first.col
        return self.check_depth(node)

    def parse_unary(self) -> Node:
        t = self.tok
        if t.kind == "-":
            self.next()
            self.enter()
            try:
                if not self.can_start_operand():
                    raise self.missing_operand(t)
                return self.check_depth(Neg(t, self.parse_unary()))
            finally:
                self.depth -= 1
        if t.kind == "DERIV":
            self.next()
            idx = None
            if self.tok.kind == "[":
                idx = self.parse_indices()
            if self.tok.kind in ("EOF", "=", ")", ",", "]", "+") or (self.tok.kind == "‖" and self.norm_open):
                raise self.error(f"'{t.text}' needs an expression to differentiate")
            self.enter()
            try:
                body = self.parse_entrywise()
            finally:
                self.depth -= 1
            return self.check_depth(Deriv(t, t.value, idx, body))
        if t.kind == "SUMIDX":
            self.next()
            if not self.can_start_operand():
                raise self.error(f"'{t.text}' needs an expression to sum")
            self.enter()
            try:
                body = self.parse_product()
            finally:
                self.depth -= 1
            return self.check_depth(IdxSum(t, t.value, body))
        if t.kind == "+":
            raise self.error("missing operand before '+'")
        return self.parse_postfix()

    def parse_exponent(self, caret: Token, entrywise: bool, base: str = "") -> object:
        """The exponent after ``^``/``.^``: ``T``, ``-T``, a signed number or a bracketed constant."""
        t = self.tok
        if t.kind == "NAME" and t.value == "T" and not entrywise:
            self.next()
            return "T"
        if t.kind == "-" and self.peek().kind == "NAME" and self.peek().value == "T" and not entrywise:
            self.next()
            self.next()
            return "-T"
        if t.kind in ("(", "{"):
            close = ")" if t.kind == "(" else "}"
            inner, after = self.peek(), self.peek(2)
            if not entrywise and inner.kind == "NAME" and inner.value == "T" and after.kind == close:
                self.next(), self.next(), self.next()
                return "T"
            if (not entrywise and inner.kind == "-" and after.kind == "NAME" and after.value == "T"
                    and self.peek(3).kind == close):
                for _ in range(4):
                    self.next()
                return "-T"
            self.next()
            value = self.const_expr(0)
            self.expect(close, f"'{close}' to close the exponent")
            return value
        sign = 1
        if t.kind in ("-", "+"):
            sign = -1 if t.kind == "-" else 1
            self.next()
        if self.tok.kind == "NUMBER":
            return sign * self.next().value
        if self.tok.kind == "EOF":
            raise self.error(f"'{caret.text}' without an exponent at the end of the input")
        if self.tok.kind == "NAME":
            name = self.tok.value
            layer = f"for a layer index write {base}_{name} or {base}{name}, " if base else ""
            raise self.error(f"'{caret.text}{name}': a power by a name is not supported (an exponent is a number such "
                             f"as 2 or -1, " + ("" if entrywise else "T, -T, ") + "or a bracketed constant such as "
                             f"(1/3)); {layer}for an exponential exp(…)")
        hint = ""
        raise self.error(f"expected an exponent after '{caret.text}' (a number such as 2 or -1, "
                         + ("" if entrywise else "T, -T, ") + "or a bracketed constant such as (1/3)), found "
                         + self.tok.describe() + hint)

    def const_expr(self, level: int) -> Fraction:
        """A bracketed constant: numbers with ``+ - * / ^`` and brackets, evaluated exactly with size limits."""
        self.enter()
        try:
            if level == 0:
                v = self.const_expr(1)
                while self.tok.kind in ("+", "-"):
                    op = self.next()
                    w = self.const_expr(1)
                    v = self.const_check(v + w if op.kind == "+" else v - w, op)
                return v
            if level == 1:
                v = self.const_expr(2)
                while self.tok.kind in ("*", "/"):
                    op = self.next()
                    w = self.const_expr(2)
                    if op.kind == "/":
                        if w == 0:
                            raise self.error("division by zero in a constant", op)
                        v = self.const_check(v / w, op)
                    else:
                        v = self.const_check(v * w, op)
                return v
            t = self.tok
            if t.kind == "-":
                self.next()
                return -self.const_expr(2)
            if t.kind == "NUMBER":
                self.next()
                v = t.value
            elif t.kind == "(":
                self.next()
                v = self.const_expr(0)
                self.expect(")", "')'")
            else:
                raise self.error(f"expected a number in the constant exponent, found {t.describe()}")
            if self.tok.kind == "^":
                op = self.next()
                e = self.const_expr(2)
                check_constant_exponent(e, op.line, op.col)
                if v == 0 and e < 0:
                    raise self.error("division by zero in a constant", op)
                check_constant_power(v, e, op.line, op.col)
                v = self.const_check(v ** int(e), op)
            return v
        finally:
            self.depth -= 1

    def const_check(self, v: Fraction, op: Token) -> Fraction:
        return check_constant(v, op.line, op.col)

    def parse_indices(self) -> list:
        open_tok = self.expect("[", "'['")
        idx = []
        while True:
            t = self.tok
            if t.kind == "NAME":
                self.next()
                idx.append((t.value, t.line, t.col))
            elif t.kind == "NUMBER":
                self.next()
                if t.value.denominator != 1 or t.value < 1:
                    raise self.error("an integer index is 1-based: 1, 2, 3, …", t)
                idx.append((int(t.value), t.line, t.col))
            elif t.kind == "EOF":
                raise self.error("expected ']' to close the index bracket opened at column "
                                 f"{open_tok.col}")
            else:
                raise self.error(f"an index is a name (i, j, k, …) or a positive integer, not {t.describe()}")
            if self.tok.kind == ",":
                self.next()
                continue
            if self.tok.kind == "]":
                self.next()
                break
            if self.tok.kind == "EOF":
                raise self.error(f"expected ']' to close the index bracket opened at column {open_tok.col}")
            raise self.error(f"expected ',' or ']' in the index list, found {self.tok.describe()}")
        if len(idx) > 2:
            raise ParseError("an entry has one or two indices", line=open_tok.line, col=open_tok.col)
        return idx

    def parse_postfix(self) -> Node:
        node = self.parse_atom()
        caret_pow = None  # the last power written with ^ or .^ (a second power right after it is ambiguous)
        while True:
            t = self.tok
            if t.kind in ("T", "'"):
                self.next()
                node = Transp(t, node)
            elif t.kind in ("^", ".^"):
                self.next()
                exp = self.parse_exponent(t, t.kind == ".^", node.name if isinstance(node, Name) else "")
                if exp != "T" and node is caret_pow and isinstance(node.exp, Fraction):
                    # c^2^3 is c^8 in mathematics but (c^2)^3 read left to right: make the writer choose
                    raise self.error(f"'{t.text}' after a power is ambiguous: write brackets, as in (c^2)^3 or "
                                     "c^(2*3)", t)
                node = Transp(t, node) if exp == "T" else Pow(t, node, exp, t.kind == ".^")
                caret_pow = node if exp != "T" else None
            elif t.kind == "POW":
                if node is caret_pow and isinstance(node.exp, Fraction):
                    raise self.error(f"'{t.text}' after a power is ambiguous: write brackets, as in (c^2)^3 or "
                                     "c^(2*3)", t)
                self.next()
                node = Pow(t, node, Fraction(t.value), False)
            elif t.kind == "INVT":
                self.next()
                node = Pow(t, node, "-T", False)
            elif t.kind == "[" and not self.is_delta():
                idx = self.parse_indices()
                node = EntryN(t, node, idx)
            else:
                return node
            self.check_depth(node)

    def parse_args(self, open_tok: Token) -> list:
        args: list[Node] = []
        saved, self.norm_open = self.norm_open, False
        try:
            if self.tok.kind == ")":
                self.next()
                return args
            while True:
                if self.tok.kind == "EOF":
                    raise self.error(f"expected ')' to close the '(' at column {open_tok.col}")
                args.append(self.parse_expression())
                if self.tok.kind == ",":
                    self.next()
                    continue
                if self.tok.kind == ")":
                    self.next()
                    return args
                raise self.error(f"expected ',' or ')' to close the '(' at column {open_tok.col}, found "
                                 f"{self.tok.describe()}")
        finally:
            self.norm_open = saved

    def parse_atom(self) -> Node:
        t = self.tok
        if t.kind == "LDERIV":  # d(e)/dX: the bracket is the scope (the lexer dropped the /dX)
            self.next()
            self.enter()
            try:
                body = self.parse_atom()
            finally:
                self.depth -= 1
            wrt, wrt_col = t.value
            node = Deriv(t, wrt, None, body)
            node.wrt_col = wrt_col
            return self.check_depth(node)
        if t.kind == "NUMBER":
            self.next()
            return Num(t, t.value)
        if self.is_delta():
            self.next()
            i, _eq, j, _close = self.next(), self.next(), self.next(), self.next()
            for q in (i, j):
                if q.kind == "NUMBER" and (q.value.denominator != 1 or q.value < 1):
                    raise self.error("an integer index is 1-based: 1, 2, 3, …", q)
            return DeltaN(t, *((q.value if q.kind == "NAME" else int(q.value), q.line, q.col) for q in (i, j)))
        if t.kind == "NAME":
            self.next()
            primes = 0
            j = self.i
            while self.toks[j].kind == "'":
                j += 1
            if self.toks[j].kind == "(":  # the typer reads x'(y) as xᵀ y when x is not a function
                primes = j - self.i
                check_primes(primes, t.line, t.col)
                self.i = j
                open_tok = self.next()
                self.enter()
                try:
                    args = self.parse_args(open_tok)
                finally:
                    self.depth -= 1
                return Call(t, t.value, primes, args, False, open_tok.col)
            return Name(t, t.value)
        if t.kind == "∇":
            self.next()
            order = 1
            if self.tok.kind == "POW" and self.tok.value == 2:  # ∇²C(u): the Hessian
                self.next()
                order = 2
            name = self.expect("NAME", "a function name after '∇'")
            open_tok = self.expect("(", f"'(' after ∇{name.value}")
            self.enter()
            try:
                args = self.parse_args(open_tok)
            finally:
                self.depth -= 1
            return Call(t, name.value, 0, args, order, open_tok.col)
        if t.kind == "(":
            self.next()
            self.enter()
            saved, self.norm_open = self.norm_open, False
            try:
                if self.tok.kind == ")":
                    raise self.error("empty brackets '()'")
                inner = self.parse_expression()
                if self.tok.kind != ")":
                    if self.tok.kind == "EOF":
                        raise self.error("expected ')'" + self.open_note(t))
                    raise self.error(f"expected ')' to close the '(' at column {t.col}, found "
                                     f"{self.tok.describe()}")
                self.next()
                inner.bracketed = True
                return inner
            finally:
                self.norm_open = saved
                self.depth -= 1
        if t.kind == "‖":
            self.next()
            self.enter()
            saved, self.norm_open = self.norm_open, True
            try:
                inner = self.parse_expression()
                if self.tok.kind != "‖":
                    raise self.error(f"expected a closing '{t.text}'" + self.open_note(t)
                                     + ("" if self.tok.kind == "EOF" else f", found {self.tok.describe()}"))
                self.next()
                return self.check_depth(NormN(t, inner))
            finally:
                self.norm_open = saved
                self.depth -= 1
        # errors
        if t.kind == "EOF":
            raise self.error("expected an expression at the end of the input")
        if t.kind in (")", "]", "}"):
            raise self.error(f"unexpected {t.text!r}: no operand before it")
        if t.kind in ("*", "/", "⊙", "⊘", "⊗", "^", ".^", "T", "'", "POW", "INVT"):
            raise self.error(f"missing operand before {t.text!r}")
        if t.kind == "=" and self.prev_kind() == "=":
            raise self.error("a claim uses a single '=' (write a = b, not a == b)")
        if t.kind == "=":
            raise self.error("missing expression before '='")
        if t.kind in (":", "->", "×", "ℝ"):
            raise self.error(f"{t.text!r} belongs in a declaration (such as W: n x m), not in an expression")
        if t.kind == ",":
            raise self.error("unexpected ',' (commas separate function arguments and declarations)")
        if t.kind == "‖":
            raise self.error("unexpected '‖'")
        raise self.error(f"unexpected {t.describe()}")

    def open_note(self, t: Token) -> str:
        return f" to match the '{t.text}' at column {t.col}"

    def finish(self, what: str = "") -> None:
        t = self.tok
        if t.kind == "EOF":
            return
        if t.kind == ")":
            raise self.error("unbalanced ')': no '(' to close")
        if t.kind == "]":
            raise self.error("unbalanced ']'")
        if t.kind == "‖":
            raise self.error("unbalanced '‖'")
        if t.kind == ":":
            raise self.error("unexpected ':' (a declaration is `name: type`, e.g. W: n x m)")
        raise self.error(f"unexpected {t.describe()}{what}")

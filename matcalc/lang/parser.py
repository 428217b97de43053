"""The parser of the matcalc language: tokens to a syntax tree with source positions (SPEC sections 1-3).

Contract: :func:`parse_statement` reads the tokens of one statement (a segment of a line between ``;``) into a
:class:`SStmt`; :func:`parse_type_decls` reads declaration text. Expressions become :class:`Node` trees; each node
has the ``line`` and ``col`` of its operator (for a binary operation) or of its first token, so the typer can point a
caret at the operator of an ill-shaped operation. The parser knows no declarations: ``f(x)`` is a :class:`Call`
whatever ``f`` is, and the typer decides whether ``f`` is a function or a factor of a product.

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
    check_primes, check_size,
)

__all__ = [
    "MAX_DEPTH", "MAX_CONST", "MAX_PRIMES", "Node", "Num", "Name", "Call", "Chain", "Binary", "Neg", "Transp",
    "Pow", "NormN", "EntryN", "DeltaN", "IdxSum", "Deriv", "SStmt", "TypeSpec", "DeclGroup", "Parser", "parse_statement",
    "parse_type_decls", "LAYOUT_WORDS",
]

LAYOUT_WORDS = ("mixed", "numerator", "denominator")
PROP_WORDS = ("symmetric", "spd", "diagonal", "positive", "probability")


# ───────────────────────────── syntax tree ─────────────────────────────


class Node:
    """A syntax-tree node; ``line``/``col`` point at its operator or first token, ``depth`` is its nesting depth."""

    __slots__ = ("line", "col", "depth", "end_col", "bracketed")

    def __init__(self, tok: Token, depth: int = 1) -> None:
        self.bracketed = False  # the node was written inside its own brackets: (c (x + u))ᵀ
        self.line = tok.line
        self.col = tok.col
        self.end_col = tok.end_col
        self.depth = depth

    def __repr__(self) -> str:  # debugging aid
        fields = {k: getattr(self, k) for k in getattr(self, "__slots__", ()) if k not in ("line", "col", "depth")}
        return f"{type(self).__name__}({fields})"


class Num(Node):
    __slots__ = ("value",)

    def __init__(self, tok: Token, value: Fraction) -> None:
        super().__init__(tok)
        self.value = value


class Name(Node):
    __slots__ = ("name",)

    def __init__(self, tok: Token, name: str) -> None:
        super().__init__(tok)
        self.name = name


class Call(Node):
    """``name'…(args)``, or ``∇name(args)`` (``nabla``); the typer decides whether ``name`` is a function."""

    __slots__ = ("name", "primes", "args", "nabla", "open_col")

    def __init__(self, tok: Token, name: str, primes: int, args: list, nabla: bool, open_col: int) -> None:
        super().__init__(tok, 1 + max((a.depth for a in args), default=0))
        self.name, self.primes, self.args, self.nabla, self.open_col = name, primes, args, nabla, open_col


class Chain(Node):
    """An n-ary chain: ``kind="+"`` with ops ``+``/``-``, or ``kind="*"`` with ops ``juxt``/``*``/``/``.
    ``items`` holds ``(op, op_token_line, op_col, operand)``; the first op is ``None``."""

    __slots__ = ("kind", "items")

    def __init__(self, tok: Token, kind: str, items: list) -> None:
        super().__init__(tok, 1 + max(it[3].depth for it in items))
        self.kind, self.items = kind, items


class Binary(Node):
    """An entrywise operation: ``op`` is ``⊙``, ``⊘`` or ``⊗``; ``line``/``col`` point at the operator."""

    __slots__ = ("op", "a", "b")

    def __init__(self, tok: Token, op: str, a: Node, b: Node) -> None:
        super().__init__(tok, 1 + max(a.depth, b.depth))
        self.op, self.a, self.b = op, a, b


class Neg(Node):
    __slots__ = ("arg",)

    def __init__(self, tok: Token, arg: Node) -> None:
        super().__init__(tok, 1 + arg.depth)
        self.arg = arg


class Transp(Node):
    __slots__ = ("arg",)

    def __init__(self, tok: Token, arg: Node) -> None:
        super().__init__(tok, 1 + arg.depth)
        self.arg = arg


class Pow(Node):
    """``arg^exp`` (``entrywise`` for ``.^``); ``exp`` is a Fraction or ``"-T"`` (inverse transpose)."""

    __slots__ = ("arg", "exp", "entrywise")

    def __init__(self, tok: Token, arg: Node, exp: object, entrywise: bool) -> None:
        super().__init__(tok, 1 + arg.depth)
        self.arg, self.exp, self.entrywise = arg, exp, entrywise


class NormN(Node):
    __slots__ = ("arg",)

    def __init__(self, tok: Token, arg: Node) -> None:
        super().__init__(tok, 1 + arg.depth)
        self.arg = arg


class EntryN(Node):
    """``arg[i, j]``; ``idx`` holds ``(value, line, col)`` with value a name (str) or a 1-based int."""

    __slots__ = ("arg", "idx")

    def __init__(self, tok: Token, arg: Node, idx: list) -> None:
        super().__init__(tok, 1 + arg.depth)
        self.arg, self.idx = arg, idx


class DeltaN(Node):
    """The Kronecker delta ``[i = j]``; ``i`` and ``j`` are ``(value, line, col)`` like entry indices."""

    __slots__ = ("i", "j")

    def __init__(self, tok: Token, i: tuple, j: tuple) -> None:
        super().__init__(tok)
        self.i, self.j = i, j


class IdxSum(Node):
    __slots__ = ("index", "body")

    def __init__(self, tok: Token, index: str, body: Node) -> None:
        super().__init__(tok, 1 + body.depth)
        self.index, self.body = index, body


class Deriv(Node):
    """``d/dX body`` (``wrt`` the name X, ``wrt_idx`` the entry indices of ``d/dX[j, k]`` or None)."""

    __slots__ = ("wrt", "wrt_idx", "body", "wrt_col")

    def __init__(self, tok: Token, wrt: str, wrt_idx: list | None, body: Node) -> None:
        super().__init__(tok, 1 + body.depth)
        self.wrt, self.wrt_idx, self.body = wrt, wrt_idx, body
        self.wrt_col = tok.col + 3


def walk_nodes(node: Node):
    """Every node of a syntax tree, parents first (iterative)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Chain):
            stack.extend(it[3] for it in n.items)
        elif isinstance(n, Binary):
            stack.extend((n.a, n.b))
        elif isinstance(n, Call):
            stack.extend(n.args)
        elif isinstance(n, (Neg, Transp, Pow, NormN, EntryN)):
            stack.append(n.arg)
        elif isinstance(n, (IdxSum, Deriv)):
            stack.append(n.body)


# ───────────────────────────── statements ─────────────────────────────


class TypeSpec:
    """A parsed type: ``kind`` is ``"array"`` (``dims`` a pair of dims, ``props`` a set), ``"func"`` (``R -> R``)
    or ``"vecfunc"`` (``R^n -> R``, ``dims[0]`` the length). A dim is an int or a name."""

    __slots__ = ("kind", "dims", "props", "line", "col")

    def __init__(self, kind: str, dims: tuple, props: frozenset, line: int, col: int) -> None:
        self.kind, self.dims, self.props, self.line, self.col = kind, dims, props, line, col


class DeclGroup:
    """``a, b: type``: the names (with their positions) and their type."""

    __slots__ = ("names", "spec")

    def __init__(self, names: list, spec: TypeSpec) -> None:
        self.names, self.spec = names, spec


class SStmt:
    """A parsed statement: ``kind`` is ``decl``, ``let``, ``claim``, ``bare``, ``step`` or ``layout``.

    ``exprs`` holds the expressions (a claim ``L = R = S`` has three; a step ``= e`` one), ``eq_cols`` the
    columns of the ``=`` signs before ``exprs[1:]`` (for a step, of its leading ``=``)."""

    def __init__(self, kind: str, line: int, col: int, text: str) -> None:
        self.kind, self.line, self.col, self.text = kind, line, col, text
        self.exprs: list[Node] = []
        self.eq_cols: list[int] = []
        self.groups: list[DeclGroup] = []
        self.name = ""
        self.name_col = 0
        self.layout = ""


# ───────────────────────────── the parser ─────────────────────────────

_ATOM_START = ("NAME", "NUMBER", "(", "‖", "∇", "DERIV", "SUMIDX")


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

    def parse_exponent(self, caret: Token, entrywise: bool) -> object:
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
        hint = "; write exp(x) for the exponential" if self.tok.kind == "NAME" else ""
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
                exp = self.parse_exponent(t, t.kind == ".^")
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
            name = self.expect("NAME", "a function name after '∇'")
            open_tok = self.expect("(", f"'(' after ∇{name.value}")
            self.enter()
            try:
                args = self.parse_args(open_tok)
            finally:
                self.depth -= 1
            return Call(t, name.value, 0, args, True, open_tok.col)
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


# ───────────────────────────── types and declarations ─────────────────────────────


def _is_real(t: Token) -> bool:
    return t.kind == "ℝ" or (t.kind == "NAME" and t.value == "R")


class _TypeParser(Parser):

    def dim(self) -> object:
        t = self.tok
        if t.kind == "NAME":
            self.next()
            name = t.value
            while self.tok.kind == "'":  # n' is a dimension name
                self.next()
                name += "'"
            return name
        if t.kind == "NUMBER":
            self.next()
            if t.value.denominator != 1:
                raise self.error("a size is a positive integer or a name", t)
            if t.value < 1:
                raise self.error("a size must be at least 1", t)
            check_size(t.value, t.line, t.col)
            return int(t.value)
        raise self.error(f"expected a size (a name such as n or an integer), found {t.describe()}")

    def is_times(self) -> bool:
        t = self.tok
        return t.kind in ("×", "*") or (t.kind == "NAME" and t.value == "x")

    def dims(self) -> tuple:
        r = self.dim()
        if self.is_times():
            self.next()
            return (r, self.dim())
        return (r, 1)

    def type_spec(self) -> TypeSpec:
        start = self.tok
        if start.kind == "EOF" or start.kind == ",":
            raise self.error("expected a type after ':' (scalar, n, n x m, R -> R, …)")
        if start.kind == "NAME" and start.value == "scalar":
            self.next()
            spec = TypeSpec("array", (1, 1), frozenset(), start.line, start.col)
        elif _is_real(start):
            self.next()
            if self.tok.kind == "->":
                self.next()
                if not _is_real(self.tok):
                    raise self.error("expected R after '->' (functions return scalars: R -> R or R^n -> R)")
                self.next()
                return TypeSpec("func", (1, 1), frozenset(), start.line, start.col)
            if self.tok.kind == "^":
                self.next()
                if self.tok.kind in ("(", "{"):
                    close = ")" if self.tok.kind == "(" else "}"
                    self.next()
                    dims = self.dims()
                    self.expect(close, f"'{close}'")
                else:
                    dims = (self.dim(), 1)
                if self.tok.kind == "->":
                    self.next()
                    if not _is_real(self.tok):
                        raise self.error("expected R after '->' (R^n -> R)")
                    self.next()
                    if dims[1] != 1:
                        raise ParseError("a function R^(n x m) -> R is not supported; use R^n -> R",
                                         line=start.line, col=start.col)
                    return TypeSpec("vecfunc", dims, frozenset(), start.line, start.col)
                spec = TypeSpec("array", dims, frozenset(), start.line, start.col)
            else:
                spec = TypeSpec("array", (1, 1), frozenset(), start.line, start.col)
        else:
            spec = TypeSpec("array", self.dims(), frozenset(), start.line, start.col)
        props = set()
        while self.tok.kind == "NAME" and self.tok.value in PROP_WORDS + ("definite",):
            t = self.next()
            word = t.value
            if word == "positive" and self.tok.kind == "-" and self.peek().kind == "NAME" \
                    and self.peek().value == "definite":
                self.next()
                self.next()
                word = "spd"
            elif word == "positive" and self.tok.kind == "NAME" and self.tok.value == "definite":
                self.next()
                word = "spd"
            elif word == "definite":
                raise self.error("'definite' goes after 'positive' (positive definite)", t)
            props.add(word)
            if word == "spd":
                props.add("symmetric")
        spec.props = frozenset(props)
        return spec

    def decl_groups(self) -> list[DeclGroup]:
        groups = []
        if self.tok.kind == "NAME" and self.tok.value == "given":
            self.next()
        while True:
            names = []
            while True:
                t = self.tok
                if t.kind != "NAME":
                    raise self.error(f"expected a name to declare, found {t.describe()}")
                self.next()
                names.append((t.value, t.line, t.col))
                if self.tok.kind == ",":
                    self.next()
                    continue
                if self.tok.kind == ":":
                    self.next()
                    break
                if self.tok.kind == "'":
                    raise self.error("a declared name cannot contain a prime (it would read as a transpose)")
                raise self.error(f"expected ':' after the name {t.value!r} (as in {t.value}: n x m), found "
                                 f"{self.tok.describe()}")
            spec = self.type_spec()
            groups.append(DeclGroup(names, spec))
            if self.tok.kind == ",":
                self.next()
                continue
            if self.tok.kind == "EOF":
                return groups
            if self.is_times():
                raise self.error("a type has at most two sizes (n x m)")
            raise self.error(f"unexpected {self.tok.describe()} in the declaration (separate declarations with "
                             "commas)")


def parse_type_decls(toks: list[Token]) -> list[DeclGroup]:
    """Declaration groups from the tokens of a declaration (``given W: n x m, x: m``)."""
    return _TypeParser(toks).decl_groups()


def parse_statement(toks: list[Token], text: str) -> SStmt:
    """One statement from its tokens (ending with ``EOF``); ``text`` is its source text."""
    first = toks[0]
    kinds = [t.kind for t in toks]
    if first.kind == "NAME" and first.value == "layout":
        words = [t for t in toks if t.kind != ":"][1:-1]
        if len(words) == 1 and words[0].kind == "NAME" and words[0].value in LAYOUT_WORDS:
            st = SStmt("layout", first.line, first.col, text)
            st.layout = words[0].value
            return st
        if len(words) <= 1:
            raise ParseError("expected a layout: numerator, denominator or mixed", line=toks[-1].line,
                             col=(words[0].col if words else toks[-1].col))
    if (first.kind == "NAME" and first.value == "given") or ":" in kinds:
        st = SStmt("decl", first.line, first.col, text)
        st.groups = parse_type_decls(toks)
        return st
    if first.kind == "NAME" and first.value == "let":
        p = Parser(toks)
        p.next()
        name = p.expect("NAME", "a name after 'let'")
        if p.tok.kind == ":" and p.peek().kind == "=":
            p.next()
        p.expect("=", f"'=' after 'let {name.value}'")
        if p.tok.kind == "EOF":
            raise p.error(f"'let {name.value} =' needs an expression")
        st = SStmt("let", first.line, first.col, text)
        st.name, st.name_col = name.value, name.col
        st.exprs.append(p.parse_expression())
        if p.tok.kind == "=":
            raise p.error("a definition has one '=' (let r = expression)")
        p.finish()
        return st
    p = Parser(toks)
    if first.kind == "=":
        st = SStmt("step", first.line, first.col, text)
        p.next()
        st.eq_cols.append(first.col)
        if p.tok.kind == "EOF":
            raise p.error("'=' needs an expression after it")
    else:
        st = SStmt("bare", first.line, first.col, text)
    st.exprs.append(p.parse_expression())
    while p.tok.kind == "=":
        eq = p.next()
        if p.tok.kind == "EOF":
            raise p.error("missing right-hand side after '='")
        st.eq_cols.append(eq.col)
        st.exprs.append(p.parse_expression())
    p.finish()
    if st.kind == "bare" and len(st.exprs) > 1:
        st.kind = "claim"
    return st

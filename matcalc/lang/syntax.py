"""The syntax tree of the matcalc language: what the parser produces and the typer reads.

Contract: :class:`Node` and its subclasses are expression trees; each node has the ``line`` and ``col`` of its
operator (for a binary operation) or of its first token, and its nesting ``depth``. :class:`SStmt` is one parsed
statement (a layout setting, declarations as :class:`DeclGroup` of :class:`TypeSpec`, a ``let``, a claim, a step or a
bare expression). :func:`walk_nodes` visits a tree without recursion. Nothing here parses or types.
"""

from __future__ import annotations

from fractions import Fraction

from matcalc.lang.lexer import Token

__all__ = [
    "Node", "Num", "Name", "Call", "Chain", "Binary", "Neg", "Transp", "Pow", "NormN", "EntryN", "DeltaN", "IdxSum",
    "Deriv", "walk_nodes", "SStmt", "TypeSpec", "DeclGroup",
]


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

"""The typer: syntax trees to the typed IR of :mod:`matcalc.ir`, and whole documents to :class:`Document`.

Contract: :func:`read_document` reads a document (SPEC section 1) and :func:`read_expr` one expression. Typing runs
in two passes over the document:

1. *inference* walks every statement in order and unifies dimensions: declared names have fixed sizes; an undeclared
   name gets its kind from its spelling (upper-case: matrix, lower-case Latin: column vector, Greek: scalar) and
   fresh size variables, which never unify with the size 1 (``x y`` of two columns is a shape error, not a
   guess); ``I``, ``0``/``1`` standing alone on a side of ``=`` and ``1ᵀ``/``0ᵀ`` get flexible sizes that take
   their value from the context, the other side of ``=`` included. Sizes left open get fresh names (``n``, ``m``,
   ``p``, … avoiding every name in the text) and are listed in ``Env.inferred`` (``"A: n x n (inferred)"``).
2. *building* constructs the IR statement by statement. The IR constructors check shapes; a
   :class:`~matcalc.shapes.ShapeError` is given the position of the operator (``+`` for ``W x + y``).

A statement that cannot be typed becomes an :class:`ErrorLine` (the rest is still read) unless no claim or
expression of the document can be typed; then the first error is raised. A syntax error anywhere raises
:class:`~matcalc.errors.ParseError` before any typing. A shape conflict that involves undeclared names says so and
asks for a declaration.

Readings fixed here (the printer in :mod:`matcalc.printing` follows them, so printed text reads back to the same
IR): products are n-ary :class:`~matcalc.ir.MatMul` (flattened, left to right) and a 1×1 factor on either side makes
a :class:`~matcalc.ir.Scale` whose ``scalar`` is that factor; sums are one flat :class:`~matcalc.ir.Add`, ``a - b``
is ``Add((a, Neg(b)))``, and a scalar operand of ``+ - ⊙ ⊘ max min`` next to an array is a
:class:`~matcalc.ir.Broadcast`; unary minus binds tighter than a product (``-xᵀ y`` is ``MatMul((Neg(xᵀ), y))``)
and folds into a literal number (``-2`` is ``Num(-2)``); ``a/b`` of two numbers is a number; ``^-1`` of a matrix
is :class:`~matcalc.ir.Inverse`, of a scalar ``Power(c, -1)``; ``x[i]`` of a column has one index, of a row
``(1, i)``; a call ``x(y)`` of a name that is not a function is the product ``x y`` (postfix operators after the
bracket belong to the bracket). Lines starting with ``theorem NAME:`` or ``source:`` are headers.

Limits (SPEC section 8; exceeding one raises :class:`~matcalc.errors.LimitError` with a position):
:data:`MAX_DOCUMENT_CHARS` characters per document, :data:`MAX_LINE_CHARS` per line, nesting depth
:data:`matcalc.lang.parser.MAX_DEPTH`, matrix powers ``|k| <=`` :data:`MAX_MATRIX_POWER`, scalar and entrywise
powers ``|k| <=`` :data:`MAX_SCALAR_POWER` (denominator at most :data:`MAX_SCALAR_POWER` too), integer sizes and
indices at most :data:`MAX_SIZE`, at most :data:`MAX_PRODUCT_WRAPS` scalar factors and divisions nested in one
product, a ``let`` chain at most :data:`MAX_LET_DEPTH` deep and at most
:data:`MAX_EXPANDED_NODES` nodes with every ``let`` name expanded.
"""

from __future__ import annotations

import re
from fractions import Fraction

from matcalc import ir
from matcalc.document import (
    Bare, Claim, Declaration, Document, Env, ErrorLine, FuncDecl, Header, Let, LayoutSetting, Statement, Step,
)
from matcalc.errors import LimitError, MatcalcError, ParseError, TypeCheckError, UsageError
from matcalc.lang import parser as P
from matcalc.lang.lexer import Token, tokenize_line
from matcalc.shapes import ShapeError, _factors, dim_mul, fmt_dim, fmt_shape

__all__ = [
    "read_document", "read_expr", "parse_declarations", "AmbiguousShapeError", "MAX_DOCUMENT_CHARS", "MAX_LINE_CHARS", "MAX_MATRIX_POWER",
    "MAX_SCALAR_POWER", "MAX_SIZE", "MAX_LET_DEPTH", "MAX_EXPANDED_NODES", "MAX_PRODUCT_WRAPS",
]

#: The longest document accepted, in characters.
MAX_DOCUMENT_CHARS = 100_000
#: The longest line accepted, in characters.
MAX_LINE_CHARS = 10_000
#: The largest ``|k|`` of a matrix power ``A^k``.
MAX_MATRIX_POWER = 64
#: The largest ``|k|`` (and denominator) of a scalar power ``c^k`` or an entrywise power ``x.^k``.
MAX_SCALAR_POWER = 1000
#: The largest integer size (``W: 3 x n``, ``ones(5)``) and integer index.
MAX_SIZE = 10_000
#: The deepest nesting of ``let`` definitions inside each other, counted in IR levels.
MAX_LET_DEPTH = 150
#: The most levels one product may nest: each scalar factor or division wraps the product before it.
MAX_PRODUCT_WRAPS = 50
#: The most IR nodes an expression may have with every ``let`` name written out.
MAX_EXPANDED_NODES = 20_000

LAYOUTS = ("mixed", "numerator", "denominator")

GREEK_WORDS = (
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
    "omega",
)
SIGMA_ALIASES = ("sigma", "σ", "sigmoid")
#: Built-in functions: name → number of arguments (entrywise ones take a prime).
BUILTINS = {fn: 1 for fn in ir.ENTRYWISE}
BUILTINS.update({
    "σ": 1, "sigmoid": 1, "max": 2, "min": 2, "sum": 1, "dot": 2, "tr": 1, "trace": 1, "det": 1, "logdet": 1,
    "inv": 1, "diag": 1, "vec": 1, "norm": 1, "softmax": 1, "logsumexp": 1, "kron": 2, "grad": 2, "jacobian": 2,
    "ones": (1, 2), "zeros": (1, 2), "eye": 1,
})
_CANDIDATE_DIMS = ("n", "m", "p", "k", "q", "r", "s", "l", "t", "u", "v", "w", "d", "c", "b", "a")
_HEADER_THEOREM = re.compile(r"^\s*theorem\s+([^\s:]+)\s*(?::\s*(.*?))?\s*$")
_HEADER_SOURCE = re.compile(r"^\s*source\s*:\s*(.*?)\s*$")


class AmbiguousShapeError(ShapeError, TypeCheckError):
    """A shape conflict among names whose kinds and sizes were only inferred from their spelling and use: the
    message asks for a declaration. It is a :class:`ShapeError` (it names the operands and their shapes) and a
    :class:`TypeCheckError` (the reading is ambiguous without a declaration)."""


# ───────────────────────────── unification of dimensions ─────────────────────────────


class DVar:
    """A dimension not known yet (a size of an undeclared name, of ``I``, …)."""

    __slots__ = ("id", "origin")

    def __init__(self, ident: int, origin: str) -> None:
        self.id = ident
        self.origin = origin

    def __repr__(self) -> str:
        return f"?{self.id}"


def _concrete(t: object) -> bool:
    return isinstance(t, (int, str))


class Unifier:
    """Union-find over dimension terms (ints, size names, :class:`DVar`, products ``("*", a, b)``) with an undo
    trail. A *rigid* variable (a size of an undeclared name) never unifies with 1."""

    def __init__(self) -> None:
        self.parent: dict[DVar, object] = {}
        self.rigid: set[DVar] = set()
        self.trail: list[tuple] = []
        self.vars: list[DVar] = []

    def new(self, rigid: bool, origin: str = "") -> DVar:
        v = DVar(len(self.vars), origin)
        self.vars.append(v)
        if rigid:
            self.rigid.add(v)
        return v

    def find(self, t: object) -> object:
        while isinstance(t, DVar) and t in self.parent:
            t = self.parent[t]
        return t

    def resolve(self, t: object) -> object:
        t = self.find(t)
        if isinstance(t, tuple):
            a, b = self.resolve(t[1]), self.resolve(t[2])
            if a == 1:
                return b
            if b == 1:
                return a
            if _concrete(a) and _concrete(b):
                return dim_mul(a, b)
            return ("*", a, b)
        return t

    def _flatten(self, t: object, known: list, unknown: list) -> None:
        if isinstance(t, tuple):
            self._flatten(t[1], known, unknown)
            self._flatten(t[2], known, unknown)
        elif isinstance(t, DVar):
            unknown.append(t)
        else:
            known.append(t)

    def _solve_product(self, prod: tuple, c: object) -> bool:
        """Unify a product with one open factor with a known size by division (``m·?`` with ``m*n``: ``? = n``)."""
        known: list = []
        unknown: list = []
        self._flatten(prod, known, unknown)
        if len(unknown) != 1:
            return True  # undecidable here; the IR constructors check once sizes are known
        k: object = 1
        for d in known:
            k = dim_mul(k, d)
        kc, kn = _factors(k)
        cc, cn = _factors(c)
        if kc == 0 or cc % kc:
            return False
        rest = list(cn)
        for name in kn:
            if name not in rest:
                return False
            rest.remove(name)
        q: object = cc // kc
        for name in rest:
            q = dim_mul(q, name)
        return self._bind(unknown[0], q)

    def is_one(self, t: object) -> bool:
        return self.resolve(t) == 1

    def unify(self, a: object, b: object) -> bool:
        a, b = self.resolve(a), self.resolve(b)
        if a == b and type(a) is type(b):
            return True
        if isinstance(a, DVar) and isinstance(b, DVar):
            if a.id < b.id:
                a, b = b, a
            return self._bind(a, b)
        if isinstance(a, DVar):
            return self._bind(a, b)
        if isinstance(b, DVar):
            return self._bind(b, a)
        if isinstance(a, tuple) and _concrete(b):
            return self._solve_product(a, b)
        if isinstance(b, tuple) and _concrete(a):
            return self._solve_product(b, a)
        if isinstance(a, tuple) or isinstance(b, tuple):
            return True  # products with open factors: the IR constructors check them once sizes are known
        return False

    def _occurs(self, v: DVar, t: object) -> bool:
        if isinstance(t, tuple):
            return self._occurs(v, t[1]) or self._occurs(v, t[2])
        return t is v

    def _bind(self, v: DVar, t: object) -> bool:
        if isinstance(t, DVar):
            if v in self.rigid and t not in self.rigid:
                self.rigid.add(t)
                self.trail.append(("rigid", t))
        elif t == 1 and v in self.rigid:
            return False
        elif isinstance(t, tuple) and self._occurs(v, t):
            return True
        self.parent[v] = t
        self.trail.append(("bind", v))
        return True

    def mark(self) -> int:
        return len(self.trail)

    def undo(self, mark: int) -> None:
        while len(self.trail) > mark:
            kind, v = self.trail.pop()
            if kind == "bind":
                del self.parent[v]
            else:
                self.rigid.discard(v)


# ───────────────────────────── symbols ─────────────────────────────


class Sym:
    """A name in force: ``kind`` is ``var``, ``func``, ``let`` or ``broken`` (a ``let`` that could not be typed)."""

    __slots__ = ("name", "kind", "shape", "declared", "props", "func", "line", "value", "depth", "size", "free",
                 "order")

    def __init__(self, name: str, kind: str, line: int, order: int) -> None:
        self.name, self.kind, self.line, self.order = name, kind, line, order
        self.shape: tuple = (1, 1)
        self.declared = False
        self.props: frozenset = frozenset()
        self.func: FuncDecl | None = None
        self.value: ir.Expr | None = None
        self.depth = 0
        self.size = 0
        self.free: tuple = ()


def _spelling_kind(name: str) -> str:
    """``matrix``, ``vector`` or ``scalar`` from a name's spelling (SPEC section 2)."""
    first = name.lstrip("_")[:1] or "x"
    if first.isupper():
        return "matrix"
    m = re.match(r"[A-Za-z]+", name)
    if m and m.group().lower() in GREEK_WORDS and (len(name) == m.end() or not name[m.end()].isalpha()):
        return "scalar"
    if not first.isascii():  # a lower-case Greek (or other non-Latin) letter
        return "scalar"
    return "vector"


# ───────────────────────────── the document reader ─────────────────────────────


class _Segment:
    __slots__ = ("line", "col", "text", "toks", "header")

    def __init__(self, line: int, col: int, text: str, toks: list | None, header: Header | None = None) -> None:
        self.line, self.col, self.text, self.toks, self.header = line, col, text, toks, header


def _check_size(text: str, what: str) -> None:
    lines = text.split("\n")
    if len(text) > MAX_DOCUMENT_CHARS:
        total = 0
        for no, ln in enumerate(lines, 1):
            total += len(ln) + 1
            if total > MAX_DOCUMENT_CHARS:
                raise LimitError(f"{what} is longer than {MAX_DOCUMENT_CHARS} characters", line=no,
                                 col=max(1, len(ln) - (total - MAX_DOCUMENT_CHARS) + 1))
    for no, ln in enumerate(lines, 1):
        if len(ln) > MAX_LINE_CHARS:
            raise LimitError(f"line {no} is longer than {MAX_LINE_CHARS} characters", line=no,
                             col=MAX_LINE_CHARS + 1)


def _segments(text: str, headers: bool) -> list[_Segment]:
    """Split text into statements: lines, then ``;``; headers whole; comments dropped. Raises ParseError."""
    out = []
    for no, raw in enumerate(text.split("\n"), 1):
        hash_at = raw.find("#")
        body = raw if hash_at < 0 else raw[:hash_at]
        if not body.strip():
            continue
        if headers:
            m = _HEADER_THEOREM.match(body)
            if m:
                col = body.index("theorem") + 1
                out.append(_Segment(no, col, body.strip(), None,
                                    Header(no, col, body.strip(), key="theorem", name=m.group(1),
                                           value=m.group(2) or "")))
                continue
            m = _HEADER_SOURCE.match(body)
            if m:
                col = body.index("source") + 1
                out.append(_Segment(no, col, body.strip(), None,
                                    Header(no, col, body.strip(), key="source", value=m.group(1))))
                continue
        toks = tokenize_line(body, no)
        seg: list[Token] = []
        for t in toks:
            if t.kind in (";", "EOF"):
                if seg:
                    start = seg[0].col - 1
                    end = t.col - 1 if t.kind == ";" else len(body.rstrip())
                    out.append(_Segment(no, seg[0].col, body[start:end].strip(), seg + [Token("EOF", "", no, t.col)]))
                seg = []
            else:
                seg.append(t)
    return out


class _Reader:
    """Holds the state of reading one document: symbols, the unifier, the current layout."""

    def __init__(self, source: str, where: str, layout: str, used_names: set[str]) -> None:
        self.source = source
        self.where = where
        self.layout = layout
        self.uf = Unifier()
        self.syms: dict[str, Sym] = {}
        self.sym_order = 0
        self.dim_names: set[str] = set()  # sizes named in declarations
        self.used_names = set(used_names)
        self.flex: dict[int, tuple] = {}  # id(node) -> flexible shape of I / 0 / 1
        self.flex_built: list = []  # (IR node, line, col) of the I / 0 / 1 built with a context size
        self.default_one: list[DVar] = []  # flexible sizes of a lone 0/1 that default to a scalar
        self.rewrites: dict[int, P.Node] = {}  # id(node) -> the product a call of a non-function stands for
        self.called_names: set[str] = set()  # non-functions written as calls: f(x) with f undeclared
        self.call_decisions: dict[int, tuple] = {}  # id(Call node) -> how it reads, decided in pass 1
        self.layouts: dict[int, str] = {}  # id(Deriv node) -> the layout in force
        self.index_vars: dict[str, DVar] = {}  # per statement: index name -> its range
        self.created: list[str] = []  # per statement: names inferred in it
        self.let_refs_depth = 0
        self.let_refs_size = 0
        self.dim_final: dict[DVar, object] = {}
        self.var_cache: dict[str, ir.Var] = {}

    # errors
    def err(self, cls: type, msg: str, line: int, col: int, end_col: int | None = None) -> MatcalcError:
        return cls(msg, line=line, col=col, source=self.source, where=self.where, end_col=end_col)

    def locate(self, e: MatcalcError, line: int, col: int) -> MatcalcError:
        return e.located(line=line, col=col, source=self.source, where=self.where)

    # ─────────── declarations ───────────

    def declare(self, groups: list[P.DeclGroup], line: int) -> tuple:
        declared = []
        for g in groups:
            spec = g.spec
            for d in spec.dims:
                if isinstance(d, str):
                    self.dim_names.add(d)
            if spec.kind == "array" and spec.props:
                r, c = spec.dims
                for p in ("symmetric", "spd", "diagonal"):
                    if p in spec.props and r != c:
                        shown = "positive definite" if p == "spd" else p
                        raise self.err(TypeCheckError, f"'{shown}' needs a square matrix, but the type is "
                                       f"{fmt_dim(r)} x {fmt_dim(c)}", spec.line, spec.col)
                if "probability" in spec.props and c != 1:
                    raise self.err(TypeCheckError, "'probability' needs a column vector (y: n probability)",
                                   spec.line, spec.col)
            for name, nline, ncol in g.names:
                declared.append(self.declare_one(name, spec, nline, ncol, line))
        return tuple(declared)

    def declare_one(self, name: str, spec: P.TypeSpec, nline: int, ncol: int, line: int) -> object:
        old = self.syms.get(name)
        if spec.kind in ("func", "vecfunc"):
            fd = FuncDecl(name, "entrywise") if spec.kind == "func" else FuncDecl(name, "vector", spec.dims[0])
            if old is not None:
                if old.kind == "func" and old.func == fd:
                    return fd
                raise self.err(TypeCheckError, f"{name} is already {self.describe_sym(old)}; it cannot be "
                               f"declared again as a function", nline, ncol)
            s = self.new_sym(name, "func", line)
            s.func = fd
            s.declared = True
            return fd
        dims = tuple(spec.dims)
        if old is not None:
            if old.kind == "var" and old.declared:
                if tuple(self.uf.resolve(d) for d in old.shape) == dims and old.props == spec.props:
                    return ("var", name)
                raise self.err(TypeCheckError, f"{name} is already {self.describe_sym(old)}; a name is declared "
                               "once", nline, ncol)
            if old.kind == "var":  # used before its declaration: the uses must fit
                mark = self.uf.mark()
                if not (self.uf.unify(old.shape[0], dims[0]) and self.uf.unify(old.shape[1], dims[1])):
                    self.uf.undo(mark)
                    raise self.err(TypeCheckError, f"{name} is used before this declaration in a way that does "
                                   f"not fit {self.fmt_spec(dims)}", nline, ncol)
                old.shape = dims
                old.declared = True
                old.props = spec.props
                return ("var", name)
            raise self.err(TypeCheckError, f"{name} is already {self.describe_sym(old)}; it cannot be declared",
                           nline, ncol)
        s = self.new_sym(name, "var", line)
        s.shape = dims
        s.declared = True
        s.props = spec.props
        return ("var", name)

    @staticmethod
    def fmt_spec(dims: tuple) -> str:
        r, c = dims
        if r == 1 and c == 1:
            return "scalar"
        if c == 1:
            return fmt_dim(r)
        return f"{fmt_dim(r)} x {fmt_dim(c)}"

    def describe_sym(self, s: Sym) -> str:
        if s.kind == "func":
            fd = s.func
            what = "R -> R" if fd.kind == "entrywise" else f"R^{fd.dim} -> R"
            return f"declared as {what} (line {s.line})"
        if s.kind in ("let", "broken"):
            return f"defined by let (line {s.line})"
        dims = tuple(self.uf.resolve(d) for d in s.shape)
        shown = self.fmt_spec(dims) if all(_concrete(d) for d in dims) else "a " + _spelling_kind(s.name)
        props = "".join(" " + p for p in sorted(s.props))
        how = "declared" if s.declared else "used"
        return f"{how} as {shown}{props} (line {s.line})"

    def new_sym(self, name: str, kind: str, line: int) -> Sym:
        self.sym_order += 1
        s = Sym(name, kind, line, self.sym_order)
        self.syms[name] = s
        return s

    # ─────────── pass 1: inference ───────────

    def sc(self, s: tuple) -> bool:
        return self.uf.is_one(s[0]) and self.uf.is_one(s[1])

    def lookup(self, name: str, node: P.Node, line: int) -> Sym:
        s = self.syms.get(name)
        if s is not None:
            if s.kind == "func":
                raise self.err(TypeCheckError, f"{name} is a function ({self.describe_sym(s)}): write {name}(…)",
                               node.line, node.col)
            if s.kind == "broken":
                raise self.err(TypeCheckError, f"{name} (defined on line {s.line}) could not be typed", node.line,
                               node.col)
            return s
        if name in BUILTINS:
            raise self.err(TypeCheckError, f"{name} is a function: write {name}(…)", node.line, node.col)
        if name in self.dim_names:
            raise self.err(TypeCheckError, f"{name} is a size in a declaration, not a variable; declare it if it "
                           "is a variable", node.line, node.col)
        s = self.new_sym(name, "var", line)
        kind = _spelling_kind(name)
        if kind == "scalar":
            s.shape = (1, 1)
        elif kind == "vector":
            s.shape = (self.uf.new(True, name), 1)
        else:
            s.shape = (self.uf.new(True, name), self.uf.new(True, name))
        self.created.append(name)
        return s

    def infer(self, node: P.Node) -> tuple:
        if isinstance(node, (P.Transp, P.Pow, P.EntryN)):
            node = self.postfix_product(node)
        meth = getattr(self, "i_" + type(node).__name__)
        return meth(node)

    def postfix_product(self, node: P.Node) -> P.Node:
        """``x (y)ᵀ`` parses as a postfix on the call ``x(y)``; when ``x`` is not a function the postfix belongs
        to the bracket: the node is rewritten to the product ``x (y)ᵀ``."""
        got = self.rewrites.get(id(node))
        if got is not None:
            return got
        stack = []
        base = node
        while isinstance(base, (P.Transp, P.Pow, P.EntryN)):
            stack.append(base)
            base = base.arg
        if not isinstance(base, P.Call) or base.bracketed or base.nabla or self.call_kind(base)[0] != "product":
            return node
        chain = self.as_product(base)
        first, last = chain.items[0], chain.items[1]
        inner = last[3]
        for post in reversed(stack):
            if isinstance(post, P.Transp):
                inner = P.Transp(Token("T", "T", post.line, post.col), inner)
            elif isinstance(post, P.Pow):
                inner = P.Pow(Token("^", "^", post.line, post.col), inner, post.exp, post.entrywise)
            else:
                inner = P.EntryN(Token("[", "[", post.line, post.col), inner, post.idx)
        new = P.Chain(Token("(", "(", chain.line, chain.col), "*", [first, (last[0], last[1], last[2], inner)])
        new.line, new.col = chain.line, chain.col
        self.rewrites[id(node)] = new
        return new

    def i_Num(self, node: P.Num) -> tuple:
        return self.flex.get(id(node), (1, 1))

    def i_Name(self, node: P.Name) -> tuple:
        if node.name == "I" and "I" not in self.syms:
            if id(node) not in self.flex:
                v = self.uf.new(False, "I")
                self.flex[id(node)] = (v, v)
            return self.flex[id(node)]
        s = self.lookup(node.name, node, node.line)
        if s.kind == "let":
            self.let_refs_depth = max(self.let_refs_depth, s.depth)
            self.let_refs_size += s.size
            if self.let_refs_size > MAX_EXPANDED_NODES:
                raise self.err(LimitError, f"the expression has more than {MAX_EXPANDED_NODES} nodes with its let "
                               "names written out", node.line, node.col)
        return s.shape

    def i_Neg(self, node: P.Neg) -> tuple:
        return self.infer(node.arg)

    def i_NormN(self, node: P.NormN) -> tuple:
        self.infer(node.arg)
        return (1, 1)

    def i_Transp(self, node: P.Transp) -> tuple:
        if isinstance(node.arg, P.Num) and node.arg.value in (0, 1) and id(node.arg) not in self.flex:
            self.flex[id(node.arg)] = (self.uf.new(False, "1"), 1)
        r, c = self.infer(node.arg)
        return (c, r)

    def i_Pow(self, node: P.Pow) -> tuple:
        s = self.infer(node.arg)
        if node.entrywise or self.sc(s):
            return s
        self.uf.unify(s[0], s[1])
        if node.exp == "-T":
            return (s[1], s[0])
        return s

    def i_Chain(self, node: P.Chain) -> tuple:
        items = node.items
        acc = self.infer(items[0][3])
        if node.kind == "+":
            for _op, _l, _c, operand in items[1:]:
                acc = self.expand_pair(acc, self.infer(operand))
            return acc
        first = items[0][3]
        if (isinstance(first, P.Num) and first.value == 1 and id(first) not in self.flex and len(items) > 1
                and items[1][0] != "/"):
            s1 = self.infer(items[1][3])
            if self.uf.is_one(s1[0]) and not self.uf.is_one(s1[1]):
                # `1 xᵀ` before a row: the ones column when the context (the other side of `=`) asks for more rows,
                # the number 1 otherwise
                v = self.uf.new(False, "1")
                self.flex[id(first)] = (v, 1)
                self.default_one.append(v)
                acc = (v, 1)
        for op, _l, _c, operand in items[1:]:
            if (op != "/" and isinstance(operand, P.Num) and operand.value == 1 and id(operand) not in self.flex
                    and not self.sc(acc)):
                # `A 1`, `1ᵀ A 1`: a 1 right of an array in a product is the ones vector (a scalar 1 there would
                # change nothing), sized by the product; it is the number 1 when that size is 1 (`x 1` of a column)
                self.flex[id(operand)] = (self.uf.new(False, "1"), 1)
            s = self.infer(operand)
            if op == "/":
                if not self.sc(s):
                    self.uf.unify(s[0], 1)
                    self.uf.unify(s[1], 1)
                continue
            if self.sc(acc):
                acc = s
            elif self.sc(s):
                pass
            else:
                self.uf.unify(acc[1], s[0])
                acc = (acc[0], s[1])
        return acc

    def expand_pair(self, a: tuple, b: tuple) -> tuple:
        """The shape of an entrywise operation with scalar expansion (unifying the shapes otherwise)."""
        if self.sc(a):
            return b
        if self.sc(b):
            return a
        self.uf.unify(a[0], b[0])
        self.uf.unify(a[1], b[1])
        return a

    def i_Binary(self, node: P.Binary) -> tuple:
        a, b = self.infer(node.a), self.infer(node.b)
        if node.op == "⊗":
            return (("*", a[0], b[0]), ("*", a[1], b[1]))
        return self.expand_pair(a, b)

    def index_dim(self, name: str, dim: object, line: int, col: int) -> None:
        v = self.index_vars.get(name)
        if v is None:
            v = self.index_vars[name] = self.uf.new(False, "index " + name)
        before = self.uf.resolve(v)
        if not self.uf.unify(v, dim):
            raise self.err(TypeCheckError, f"the index {name} is used for two different dimensions: "
                           f"{self.show_dim(before)} and {self.show_dim(dim)}", line, col)

    def show_dim(self, d: object) -> str:
        d = self.uf.resolve(d)
        if _concrete(d):
            return fmt_dim(d)
        if isinstance(d, DVar):
            return f"an inferred size (of {d.origin})" if d.origin else "an inferred size"
        return "a product of sizes"

    def entry_dims(self, shape: tuple, n_idx: int, what: str, line: int, col: int) -> list:
        r, c = shape
        if n_idx == 2:
            return [r, c]
        if self.uf.is_one(c) and self.uf.is_one(r):
            raise self.err(TypeCheckError, f"{what} is a scalar: it has no entries to index", line, col)
        if self.uf.is_one(c):
            return [r]
        if self.uf.is_one(r):
            return [c]
        raise self.err(TypeCheckError, f"{what} is a matrix: an entry needs two indices, as in {what}[i, j]",
                       line, col)

    def index_positions(self, idx: list, dims: list) -> None:
        for (val, line, col), dim in zip(idx, dims):
            if isinstance(val, int):
                if val > MAX_SIZE:
                    raise self.err(LimitError, f"an index larger than {MAX_SIZE}", line, col)
                d = self.uf.resolve(dim)
                if isinstance(d, int) and val > d:
                    raise self.err(TypeCheckError, f"the index {val} is out of range 1..{d}", line, col)
            else:
                self.index_dim(val, dim, line, col)

    def i_EntryN(self, node: P.EntryN) -> tuple:
        s = self.infer(node.arg)
        what = node.arg.name if isinstance(node.arg, P.Name) else "the expression"
        dims = self.entry_dims(s, len(node.idx), what, node.line, node.col)
        self.index_positions(node.idx, dims)
        return (1, 1)

    def i_DeltaN(self, node: P.DeltaN) -> tuple:
        names = [q for q in (node.i, node.j) if isinstance(q[0], str)]
        for name, line, col in names:
            if name not in self.index_vars:
                self.index_vars[name] = self.uf.new(False, "index " + name)
        if len(names) == 2:
            a, b = names
            before = self.uf.resolve(self.index_vars[a[0]])
            if not self.uf.unify(self.index_vars[a[0]], self.index_vars[b[0]]):
                raise self.err(TypeCheckError, f"[{a[0]} = {b[0]}] compares indices over different dimensions: "
                               f"{self.show_dim(before)} and {self.show_dim(self.index_vars[b[0]])}", b[1], b[2])
        return (1, 1)

    def b_DeltaN(self, node: P.DeltaN) -> ir.Expr:
        return ir.Delta(self.index(node.i[0]), self.index(node.j[0]))

    def i_IdxSum(self, node: P.IdxSum) -> tuple:
        s = self.infer(node.body)
        if node.index not in self.index_vars:
            raise self.err(TypeCheckError, f"the summation index {node.index} does not index anything in the "
                           "product that follows it", node.line, node.col)
        if not self.sc(s):
            self.uf.unify(s[0], 1)
            self.uf.unify(s[1], 1)
        return (1, 1)

    def wrt_sym(self, name: str, node: P.Node, line: int, col: int) -> Sym:
        if name == "I" and "I" not in self.syms:
            raise self.err(TypeCheckError, "cannot differentiate by the identity matrix I", line, col)
        if name in self.dim_names and name not in self.syms:
            raise self.err(TypeCheckError, f"cannot differentiate by {name}: it is a size, not a variable", line,
                           col)
        s = self.syms.get(name)
        if s is not None and s.kind == "func":
            raise self.err(TypeCheckError, f"cannot differentiate by {name}: it is a function", line, col)
        fake = P.Name(Token("NAME", name, line, col, name), name)
        return self.lookup(name, fake, line)

    def deriv_shape(self, es: tuple, ws: tuple, layout: str) -> tuple:
        if self.sc(es):
            return (ws[1], ws[0]) if layout == "numerator" else ws
        if self.sc(ws):
            return (es[1], es[0]) if layout == "denominator" else es
        num = (self.prod(es), self.prod(ws))
        return (num[1], num[0]) if layout == "denominator" else num

    def prod(self, s: tuple) -> object:
        if self.uf.is_one(s[1]):
            return s[0]
        if self.uf.is_one(s[0]):
            return s[1]
        return ("*", s[0], s[1])

    def i_Deriv(self, node: P.Deriv) -> tuple:
        self.layouts[id(node)] = self.layout
        s = self.wrt_sym(node.wrt, node, node.line, node.wrt_col)
        if node.wrt_idx is not None:
            if s.kind != "var":
                raise self.err(TypeCheckError, f"d/d{node.wrt}[…]: an entry of a let name is not supported; "
                               f"differentiate by an entry of a variable", node.line, node.wrt_col)
            dims = self.entry_dims(s.shape, len(node.wrt_idx), node.wrt, node.line, node.wrt_col)
            self.index_positions(node.wrt_idx, dims)
            ws: tuple = (1, 1)
        else:
            ws = s.shape
        es = self.infer(node.body)
        return self.deriv_shape(es, ws, self.layout)

    def func_of(self, name: str) -> tuple[str, object]:
        """How a call ``name(…)`` reads: ``("declared", FuncDecl)``, ``("builtin", name)`` or ``("product", None)``."""
        s = self.syms.get(name)
        if s is not None:
            return ("declared", s.func) if s.kind == "func" else ("product", None)
        if name in SIGMA_ALIASES:
            for alias in SIGMA_ALIASES:
                a = self.syms.get(alias)
                if a is not None and a.kind == "func" and a.func.kind == "entrywise":
                    return ("declared", a.func)
        if name in BUILTINS:
            return ("builtin", name)
        return ("product", None)

    def as_product(self, node: P.Call) -> P.Node:
        """The product a call of a non-function stands for: ``x'(y)`` is ``xᵀ y``."""
        got = self.rewrites.get(id(node))
        if got is not None:
            return got
        if node.nabla:
            raise self.err(TypeCheckError, f"∇ needs a declared function such as {node.name}: R^n -> R",
                           node.line, node.col)
        if len(node.args) != 1:
            raise self.err(TypeCheckError, f"{node.name} is not a function (declare it, e.g. {node.name}: R -> R)",
                           node.line, node.col)
        self.called_names.add(node.name)
        tok = Token("NAME", node.name, node.line, node.col, node.name)
        left: P.Node = P.Name(tok, node.name)
        for _ in range(node.primes):
            left = P.Transp(tok, left)
        arg = node.args[0]
        arg.bracketed = True  # written inside the call's brackets: c (c (W + W)) keeps its grouping
        jt = Token("(", "(", node.line, node.open_col)
        chain = P.Chain(tok, "*", [(None, node.line, node.col, left), ("juxt", node.line, node.open_col, arg)])
        chain.line, chain.col = jt.line, jt.col
        self.rewrites[id(node)] = chain
        return chain

    def nargs(self, node: P.Call, want: object) -> None:
        n = len(node.args)
        ok = n in want if isinstance(want, tuple) else n == want
        if not ok:
            if isinstance(want, tuple):
                w = " or ".join(str(k) for k in want) + " arguments"
            else:
                w = "one argument" if want == 1 else f"{want} arguments"
            raise self.err(TypeCheckError, f"{node.name} takes {w}, not {n}", node.line, node.col)

    def call_kind(self, node: P.Call) -> tuple[str, object]:
        got = self.call_decisions.get(id(node))
        if got is not None:
            return got
        got = self.call_decisions[id(node)] = self._call_kind(node)
        return got

    def _call_kind(self, node: P.Call) -> tuple[str, object]:
        how, what = self.func_of(node.name)
        if how == "product":
            return how, what
        if how == "declared":
            fd = what
            self.nargs(node, 1)
            if fd.kind == "entrywise":
                if node.nabla:
                    raise self.err(TypeCheckError, f"∇ needs a function of a vector (C: R^n -> R); {node.name} is "
                                   "entrywise (R -> R): write " + node.name + "'(…)", node.line, node.col)
                return how, what
            order = node.primes + (1 if node.nabla else 0)
            if order > 1:
                raise self.err(TypeCheckError, f"{node.name}: only the value and the gradient ({node.name}'(u) or "
                               f"∇{node.name}(u)) of a function R^n -> R are supported", node.line, node.col)
            return how, what
        name = what
        if node.nabla:
            raise self.err(TypeCheckError, f"∇ needs a declared function C: R^n -> R, not the built-in {name}",
                           node.line, node.col)
        if node.primes and not (name in ir.ENTRYWISE or name in SIGMA_ALIASES):
            raise self.err(TypeCheckError, f"only entrywise functions take a prime; {name}' is not defined",
                           node.line, node.col)
        self.nargs(node, BUILTINS[name])
        return how, what

    def dim_arg(self, node: P.Node, fn: str) -> object:
        if isinstance(node, P.Num):
            v = node.value
            if v.denominator != 1 or v < 1:
                raise self.err(TypeCheckError, f"{fn} takes sizes: positive integers or size names", node.line,
                               node.col)
            if v > MAX_SIZE:
                raise self.err(LimitError, f"a size larger than {MAX_SIZE}", node.line, node.col)
            return int(v)
        if isinstance(node, P.Name):
            return node.name
        raise self.err(TypeCheckError, f"{fn} takes sizes (such as n or 3), not an expression", node.line, node.col)

    def i_Call(self, node: P.Call) -> tuple:
        how, what = self.call_kind(node)
        if how == "product":
            return self.infer(self.as_product(node))
        if how == "declared":
            s = self.infer(node.args[0])
            if what.kind == "entrywise":
                return s
            self.uf.unify(s[0], what.dim)
            self.uf.unify(s[1], 1)
            return (1, 1) if node.primes + node.nabla == 0 else s
        fn = what
        args = node.args
        if fn in ("ones", "zeros", "eye"):
            dims = [self.dim_arg(a, fn) for a in args]
            if fn == "eye":
                return (dims[0], dims[0])
            return (dims[0], dims[1] if len(dims) > 1 else 1)
        if fn in ("grad", "jacobian"):
            es = self.infer(args[0])
            ws = self.wrt_of_arg(args[1], fn)
            if fn == "grad":
                if not self.sc(es):
                    self.uf.unify(es[0], 1)
                    self.uf.unify(es[1], 1)
                return ws
            return (self.prod(es), self.prod(ws))
        shapes = [self.infer(a) for a in args]
        s = shapes[0]
        if fn in ("max", "min"):
            return self.expand_pair(shapes[0], shapes[1])
        if fn == "kron":
            a, b = shapes
            return (("*", a[0], b[0]), ("*", a[1], b[1]))
        if fn == "dot":
            a, b = shapes
            self.uf.unify(a[1], 1)
            self.uf.unify(b[1], 1)
            self.uf.unify(a[0], b[0])
            return (1, 1)
        if fn in ("sum", "norm", "logsumexp"):
            return (1, 1)
        if fn in ("tr", "trace", "det", "logdet"):
            self.uf.unify(s[0], s[1])
            return (1, 1)
        if fn == "inv":
            self.uf.unify(s[0], s[1])
            return s
        if fn == "diag":
            self.uf.unify(s[1], 1)
            return (s[0], s[0])
        if fn == "vec":
            return (self.prod(s), 1)
        if fn == "softmax":
            self.uf.unify(s[1], 1)
            return s
        return s  # entrywise

    def wrt_of_arg(self, arg: P.Node, fn: str) -> tuple:
        if isinstance(arg, P.Name):
            return self.wrt_sym(arg.name, arg, arg.line, arg.col).shape
        if isinstance(arg, P.EntryN) and isinstance(arg.arg, P.Name):
            s = self.wrt_sym(arg.arg.name, arg, arg.line, arg.col)
            if s.kind != "var":
                raise self.err(TypeCheckError, f"{fn}: an entry of a let name is not supported", arg.line, arg.col)
            dims = self.entry_dims(s.shape, len(arg.idx), arg.arg.name, arg.line, arg.col)
            self.index_positions(arg.idx, dims)
            return (1, 1)
        raise self.err(TypeCheckError, f"{fn} differentiates by a variable or a let name, not by an expression",
                       arg.line, arg.col)

    def check_anchored(self, exprs: list) -> None:
        """Raise when an ``I``, ``0`` or ``1`` of the line just built took a size that nothing else in the line
        has (``1ᵀ 1``): its value would depend on a size the writer never named (an entry such as ``I[1, 2]`` is
        exempt: its value does not depend on the size)."""
        if not self.flex_built:
            return
        flex_ids = {id(n) for n, _l, _c in self.flex_built}
        anchored: set[str] = set()
        entry_of: set[int] = set()
        for e in exprs:
            for n in ir.walk(e):
                if isinstance(n, ir.Entry):
                    entry_of.add(id(n.arg))
                if isinstance(n, ir.Var) or (isinstance(n, (ir.Ones, ir.Zeros, ir.Identity)) and id(n) not in flex_ids):
                    for d in n.shape:
                        anchored.update(_dim_atoms(d))
        for n, line, col in self.flex_built:
            if id(n) in entry_of:
                continue
            loose = [a for d in n.shape for a in _dim_atoms(d) if a not in anchored]
            if loose:
                what, call = (("I", "eye") if isinstance(n, ir.Identity) else
                              ("0", "zeros") if isinstance(n, ir.Zeros) else ("1", "ones"))
                raise self.err(TypeCheckError, f"the size of this {what} is fixed by nothing else in the line (it "
                               f"would be a new size {loose[0]}, unrelated to the others): write {call}(…) with "
                               "the size you mean", line, col)

    # ─────────── naming what was left open ───────────

    def finalize_dims(self) -> None:
        for v in self.default_one:
            if isinstance(self.uf.resolve(v), DVar):
                self.uf.unify(v, 1)
        taken = set(self.used_names) | set(self.dim_names)
        pool = [c for c in _CANDIDATE_DIMS if c not in taken]
        counter = 0
        for v in self.uf.vars:
            root = self.uf.find(v)
            if isinstance(root, DVar) and root not in self.dim_final:
                if pool:
                    name = pool.pop(0)
                else:
                    counter += 1
                    while f"n{counter}" in taken:
                        counter += 1
                    name = f"n{counter}"
                self.dim_final[root] = name

    def dim(self, t: object) -> object:
        t = self.uf.resolve(t)
        if isinstance(t, DVar):
            return self.dim_final.get(t, "n")
        if isinstance(t, tuple):
            return dim_mul(self.dim(t[1]), self.dim(t[2]))
        return t

    def shape(self, s: tuple) -> tuple:
        return (self.dim(s[0]), self.dim(s[1]))

    def var(self, name: str) -> ir.Var:
        v = self.var_cache.get(name)
        if v is None:
            s = self.syms[name]
            v = self.var_cache[name] = ir.Var(name, self.shape(s.shape), s.props)
        return v

    def add_hint(self, e: ShapeError) -> MatcalcError:
        """Ask for a declaration when a shape conflict involves names whose kinds were only inferred: the error
        becomes an :class:`AmbiguousShapeError` (a ShapeError and a TypeCheckError); otherwise ``e`` itself."""
        names: list[str] = []
        for op in e.operands:
            if not isinstance(op, ir.Expr):
                continue
            stack, seen = [op], 0
            while stack and seen < 10_000:
                node = stack.pop()
                seen += 1
                if isinstance(node, ir.Var):
                    s = self.syms.get(node.name)
                    if s is not None and s.kind == "var" and not s.declared and node.name not in names:
                        names.append(node.name)
                elif not isinstance(node, ir.Named):
                    stack.extend(ir.children(node))
        if not names:
            return e
        called = [n for n in names if n in self.called_names]
        listed = ", ".join(names)
        verb = "was" if len(names) == 1 else "were"
        hint = (f"; {listed} {verb} not declared, so {'its' if len(names) == 1 else 'their'} kind comes from the "
                "spelling (upper-case: matrix, lower-case: column vector, Greek: scalar) — declare "
                + ("it" if len(names) == 1 else "them") + " to say what you mean")
        if called:
            hint += f" (a function: {called[0]}: R -> R or {called[0]}: R^n -> R)"
        return AmbiguousShapeError(e.message + hint, operands=e.operands, line=e.line, col=e.col, source=e.source,
                                   where=e.where, end_col=e.end_col)

    # ─────────── pass 2: building the IR ───────────

    def build(self, node: P.Node) -> ir.Expr:
        if isinstance(node, (P.Transp, P.Pow, P.EntryN)):
            node = self.rewrites.get(id(node), node)
        return getattr(self, "b_" + type(node).__name__)(node)

    def shaped(self, fn, node_line: int, node_col: int):
        try:
            return fn()
        except ShapeError as e:
            raise self.locate(e, node_line, node_col)

    def b_Num(self, node: P.Num) -> ir.Expr:
        fl = self.flex.get(id(node))
        if fl is not None:
            shape = self.shape(fl)
            if shape != (1, 1):
                built = ir.Zeros(shape) if node.value == 0 else ir.Ones(shape)
                self.flex_built.append((built, node.line, node.col))
                return built
        return ir.Num(node.value)

    def b_Name(self, node: P.Name) -> ir.Expr:
        if node.name == "I" and id(node) in self.flex:
            n = self.dim(self.flex[id(node)][0])
            if n == 1:
                return ir.Num(1)
            built = ir.Identity(n)
            self.flex_built.append((built, node.line, node.col))
            return built
        s = self.syms[node.name]
        if s.kind == "let":
            return ir.Named(node.name, s.value)
        if s.kind == "broken":
            raise self.err(TypeCheckError, f"{node.name} (defined on line {s.line}) could not be typed", node.line,
                           node.col)
        return self.var(node.name)

    def b_Neg(self, node: P.Neg) -> ir.Expr:
        a = self.build(node.arg)
        literal = isinstance(node.arg, P.Num) or (isinstance(node.arg, P.Name) and id(node.arg) in self.flex)
        if literal and isinstance(a, ir.Num):  # a negative number (also -I where I is 1×1); -(-2) stays as written
            return ir.Num(-a.value)
        return ir.Neg(a)

    def b_NormN(self, node: P.NormN) -> ir.Expr:
        return ir.Norm(self.build(node.arg))

    def b_Transp(self, node: P.Transp) -> ir.Expr:
        a = self.build(node.arg)
        if isinstance(a, ir.Num) and isinstance(node.arg, (P.Num, P.Name)) and id(node.arg) in self.flex:
            return a  # 1ᵀ, 0ᵀ or Iᵀ whose context makes them 1×1: a number
        return ir.Transpose(a)

    def b_Pow(self, node: P.Pow) -> ir.Expr:
        a = self.build(node.arg)
        k = node.exp
        if node.entrywise:
            self.check_power(k, MAX_SCALAR_POWER, node)
            return ir.EPower(a, k)
        if a.is_scalar:
            if k == "-T":
                return ir.Power(a, -1)
            self.check_power(k, MAX_SCALAR_POWER, node)
            return ir.Power(a, k)
        if k == "-T":
            return self.shaped(lambda: ir.Transpose(ir.Inverse(a)), node.line, node.col)
        if k == -1:
            return self.shaped(lambda: ir.Inverse(a), node.line, node.col)
        if isinstance(k, Fraction) and k.denominator == 1:
            self.check_power(k, MAX_MATRIX_POWER, node)
        return self.shaped(lambda: ir.Power(a, k), node.line, node.col)

    def check_power(self, k: Fraction, limit: int, node: P.Node) -> None:
        if abs(k) > limit or k.denominator > limit:
            raise self.err(LimitError, f"the exponent {k} is beyond the limit (|k| <= {limit})", node.line,
                           node.col)

    def expand(self, a: ir.Expr, b: ir.Expr) -> tuple[ir.Expr, ir.Expr]:
        """Scalar expansion for an entrywise pair: a scalar side becomes a Broadcast to the other's shape."""
        if a.is_scalar and not b.is_scalar:
            return ir.Broadcast(a, b.shape), b
        if b.is_scalar and not a.is_scalar:
            return a, ir.Broadcast(b, a.shape)
        return a, b

    def b_Chain(self, node: P.Chain) -> ir.Expr:
        items = node.items
        if node.kind == "+":
            return self.build_sum(items)
        items = self.splice_products(items)
        # A run of matrix factors is collected and made one n-ary MatMul at its end (linear time); a scalar
        # factor or a division closes the run. Each Scale/Div wraps the product so far, so their number is
        # bounded by MAX_DEPTH (the IR stays shallow for every later stage).
        first = self.build(items[0][3])
        run: list[ir.Expr] = list(first.args) if isinstance(first, ir.MatMul) else [first]
        shape = first.shape
        wraps = 0
        # A scalar in front of matrix factors scales their whole product: 2 (W x - y) xᵀ is
        # Scale(2, MatMul((W x - y, xᵀ))), the form the engine's "scalars in front" produces and prints.
        lead: list[ir.Expr] = []

        def close() -> ir.Expr:
            prod = run[0] if len(run) == 1 else ir.MatMul(tuple(run))
            return ir.Scale(lead[0], prod) if lead else prod

        for op, line, col, operand in items[1:]:
            t = self.build(operand)
            try:
                if op != "/" and shape == (1, 1) and not lead and not t.is_scalar:
                    lead.append(close())
                    run = list(t.args) if isinstance(t, ir.MatMul) else [t]
                    shape = t.shape
                    wraps += 1
                    continue
                if op != "/" and shape != (1, 1) and not t.is_scalar:
                    if shape[1] != t.shape[0]:
                        ir.MatMul((close(), t))  # raises, naming both sides whole
                    run.extend(t.args if isinstance(t, ir.MatMul) else (t,))
                    shape = (shape[0], t.shape[1])
                    continue
                wraps += 1 if len(run) == 1 else 2  # the Scale or Div, and the MatMul it wraps
                acc = self.product(close(), t, op)
            except MatcalcError as e:
                raise self.locate(e, line, col)
            if not isinstance(acc, ir.Num):
                if wraps > MAX_PRODUCT_WRAPS:
                    raise self.err(LimitError, f"a product nested more than {MAX_PRODUCT_WRAPS} levels deep (scalar "
                                   "factors "
                                   "and divisions each add a level)", line, col)
            run, shape = [acc], acc.shape
            lead.clear()
        return close()

    def splice_products(self, items: list) -> list:
        """``c (A + B) y``: a non-function name before a bracket is a factor of the product it stands in, not a unit
        (``c (A + B)`` would otherwise be grouped first); its factors join the surrounding chain, read left to right."""
        out: list = []
        for op, line, col, operand in items:
            new = None
            if operand.bracketed:
                pass
            elif isinstance(operand, (P.Transp, P.Pow, P.EntryN)):
                new = self.postfix_product(operand)
            elif isinstance(operand, P.Call) and not operand.nabla and self.call_kind(operand)[0] == "product":
                new = self.as_product(operand)
            if isinstance(new, P.Chain) and new is not operand and new.kind != "+":
                sub = new.items
                out.append((op, line, col, sub[0][3]))
                out.extend(sub[1:])
            else:
                out.append((op, line, col, operand))
        return out

    def product(self, a: ir.Expr, b: ir.Expr, op: str) -> ir.Expr:
        """``a b`` or ``a / b`` where one side is a scalar (Scale), or a division."""
        if op == "/":
            if isinstance(b, ir.Num) and b.value == 0:
                raise TypeCheckError("division by zero")
            if isinstance(a, ir.Num) and isinstance(b, ir.Num):
                return ir.Num(a.value / b.value)  # a constant such as 1/3
            return ir.Div(a, b)
        if a.is_scalar:
            return ir.Scale(a, b)
        return ir.Scale(b, a)

    def build_sum(self, items: list) -> ir.Expr:
        terms: list[tuple[bool, ir.Expr]] = []  # (negated, expression)

        def make(ts: list) -> ir.Expr:
            parts = [ir.Neg(e) if neg else e for neg, e in ts]
            return parts[0] if len(parts) == 1 else ir.Add(tuple(parts))

        shape = None
        for op, line, col, operand in items:
            e = self.build(operand)
            neg = op == "-"
            if shape is None:
                shape = e.shape
            elif e.is_scalar and shape != (1, 1):
                e = ir.Broadcast(e, shape)
            elif shape == (1, 1) and not e.is_scalar:
                terms = [(n, ir.Broadcast(x, e.shape)) for n, x in terms]
                shape = e.shape
            elif e.shape != shape:
                acc = make(terms)
                other = ir.Neg(e) if neg else e
                self.shaped(lambda: ir.Add((acc, other)), line, col)
                raise self.err(ShapeError, f"cannot add {acc} and {e}", line, col)  # pragma: no cover
            if isinstance(e, ir.Add) and not neg:
                terms.extend((False, a) for a in e.args)
            else:
                terms.append((neg, e))
        first_line, first_col = items[1][1], items[1][2]
        return self.shaped(lambda: make(terms), first_line, first_col)

    def b_Binary(self, node: P.Binary) -> ir.Expr:
        a, b = self.build(node.a), self.build(node.b)
        if node.op == "⊗":
            return ir.Kron(a, b)
        a, b = self.expand(a, b)
        cls = ir.Hadamard if node.op == "⊙" else ir.HadDiv
        return self.shaped(lambda: cls(a, b), node.line, node.col)

    def index(self, val: object) -> object:
        if isinstance(val, int):
            return val
        return ir.Index(val, self.dim(self.index_vars[val]))

    def entry(self, a: ir.Expr, idx: list) -> ir.Expr:
        vals = tuple(self.index(v) for v, _l, _c in idx)
        if len(vals) == 1 and a.shape[1] != 1:
            vals = (1,) + vals  # an entry of a row vector
        return ir.Entry(a, vals)

    def b_EntryN(self, node: P.EntryN) -> ir.Expr:
        return self.entry(self.build(node.arg), node.idx)

    def b_IdxSum(self, node: P.IdxSum) -> ir.Expr:
        body = self.build(node.body)
        if not body.is_scalar:
            raise self.err(ShapeError, f"Σ_{node.index} sums scalars (entries such as W[j, k] x[k]), but {body} "
                           f"is {fmt_shape(body.shape)}", node.line, node.col)
        return ir.IndexSum(self.index(node.index), body)

    def wrt_ir(self, name: str, idx: list | None) -> ir.Expr:
        s = self.syms[name]
        if s.kind == "let":
            return ir.Named(name, s.value)
        if s.kind == "broken":
            raise TypeCheckError(f"{name} (defined on line {s.line}) could not be typed")
        v = self.var(name)
        return v if idx is None else self.entry(v, idx)

    def b_Deriv(self, node: P.Deriv) -> ir.Expr:
        wrt = self.shaped(lambda: self.wrt_ir(node.wrt, node.wrt_idx), node.line, node.wrt_col)
        body = self.build(node.body)
        layout = self.layouts[id(node)]
        return self.shaped(lambda: ir.Derivative(body, wrt, "d", layout), node.line, node.col)

    def b_Call(self, node: P.Call) -> ir.Expr:
        how, what = self.call_kind(node)
        if how == "product":
            return self.build(self.as_product(node))
        line, col = node.line, node.col
        if how == "declared":
            a = self.build(node.args[0])
            if what.kind == "entrywise":
                return ir.Apply(what.name, a, node.primes, declared=True)
            if a.shape != (what.dim, 1):
                raise self.err(ShapeError, f"{what.name} takes a column vector of length {fmt_dim(what.dim)} "
                               f"({what.name}: R^{fmt_dim(what.dim)} -> R), but {a} is {fmt_shape(a.shape)}",
                               line, col)
            return ir.CallVec(what.name, a, node.primes + (1 if node.nabla else 0))
        fn = what
        if fn in ("ones", "zeros", "eye"):
            dims = [self.dim_arg(a, fn) for a in node.args]
            if fn == "eye":
                return ir.Identity(dims[0])
            shape = (dims[0], dims[1] if len(dims) > 1 else 1)
            return ir.Ones(shape) if fn == "ones" else ir.Zeros(shape)
        if fn in ("grad", "jacobian"):
            e = self.build(node.args[0])
            w = node.args[1]
            if isinstance(w, P.Name):
                wrt = self.wrt_ir(w.name, None)
            else:
                wrt = self.wrt_ir(w.arg.name, w.idx)
            return self.shaped(lambda: ir.Derivative(e, wrt, fn), line, col)
        args = [self.build(a) for a in node.args]
        a = args[0]

        def make() -> ir.Expr:
            if fn in ir.ENTRYWISE or fn in SIGMA_ALIASES:
                return ir.Apply("sigma" if fn in SIGMA_ALIASES else fn, a, node.primes)
            if fn in ("max", "min"):
                x, y = self.expand(args[0], args[1])
                return ir.MaxMin(fn, x, y)
            if fn == "kron":
                return ir.Kron(args[0], args[1])
            if fn == "dot":
                x, y = args
                if x.shape[1] != 1 or y.shape[1] != 1 or x.shape[0] != y.shape[0]:
                    raise ShapeError(f"dot takes two column vectors of one length, but {x} is "
                                     f"{fmt_shape(x.shape)} and {y} is {fmt_shape(y.shape)}", operands=(x, y))
                return ir.MatMul((ir.Transpose(x), y))
            if fn == "inv" and a.is_scalar:
                return ir.Power(a, -1)
            simple = {"sum": ir.Sum, "tr": ir.Trace, "trace": ir.Trace, "det": ir.Det, "logdet": ir.LogDet,
                      "inv": ir.Inverse, "diag": ir.Diag, "vec": ir.Vec, "norm": ir.Norm, "softmax": ir.Softmax,
                      "logsumexp": ir.LogSumExp}
            return simple[fn](a)

        return self.shaped(make, line, col)


# ───────────────────────────── free indices ─────────────────────────────


def free_indices(exprs: list, let_free: dict) -> tuple:
    """The indices occurring in ``exprs`` outside any ``Σ`` that binds them, in order of first occurrence."""
    seen: dict[str, ir.Index] = {}
    stack = [(e, frozenset()) for e in reversed(exprs)]
    while stack:
        node, bound = stack.pop()
        if isinstance(node, ir.Named):
            for i in let_free.get(node.name, ()):
                if i.name not in bound:
                    seen.setdefault(i.name, i)
            continue
        if isinstance(node, (ir.Entry, ir.Delta)):
            for i in (node.idx if isinstance(node, ir.Entry) else (node.i, node.j)):
                if isinstance(i, ir.Index) and i.name not in bound:
                    seen.setdefault(i.name, i)
        if isinstance(node, ir.IndexSum):
            stack.append((node.body, bound | {node.index.name}))
            continue
        for ch in reversed(ir.children(node)):
            stack.append((ch, bound))
    return tuple(seen.values())


# ───────────────────────────── entry points ─────────────────────────────


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"[^\W\d]\w*", text))


class _Prepared:
    __slots__ = ("seg", "st", "error", "index_vars")

    def __init__(self, seg: _Segment) -> None:
        self.seg = seg
        self.st: P.SStmt | None = None
        self.error: MatcalcError | None = None
        self.index_vars: dict = {}


def _parse_segments(segs: list[_Segment], source: str, where: str) -> list[_Prepared]:
    out = []
    for seg in segs:
        p = _Prepared(seg)
        if seg.header is None:
            try:
                p.st = P.parse_statement(seg.toks, seg.text)
            except MatcalcError as e:
                raise e.located(line=seg.line, col=seg.col, source=source, where=where)
        out.append(p)
    return out


def _read_given(reader: _Reader, given: str) -> None:
    where = "<given>"
    try:
        _check_size(given, "the declarations")
        segs = _segments(given, headers=False)
        for seg in segs:
            st = P.parse_statement(seg.toks, seg.text)
            if st.kind != "decl":
                raise ParseError("expected declarations such as W: n x m, x: m", line=seg.line, col=seg.col)
            saved = reader.source, reader.where
            reader.source, reader.where = given, where
            try:
                reader.declare(st.groups, seg.line)
            finally:
                reader.source, reader.where = saved
    except MatcalcError as e:
        raise e.located(line=1, col=1, source=given, where=where)


def read_document(text: str, *, given: str | None = None, layout: str = "mixed", where: str = "<input>") -> Document:
    """Parse and type a whole document (SPEC section 1).

    Args:
        text: the document: statements separated by newlines or ``;``, ``#`` comments.
        given: declaration text in force before the document (``"W: n x m, x: m, y: n"``).
        layout: the derivative layout at the start (``mixed``, ``numerator`` or ``denominator``).
        where: the name of the input in error messages (a file name).

    Returns:
        The :class:`Document`; a statement that cannot be typed is an :class:`ErrorLine`.

    Raises:
        ParseError: a syntax error anywhere (with line, column and caret).
        LimitError: the input exceeds a documented limit.
        MatcalcError: no claim or expression of the document can be typed (the first such error).
    """
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r}: use mixed, numerator or denominator")
    try:
        _check_size(text, "the document")
    except MatcalcError as e:
        raise e.located(line=1, col=1, source=text, where=where)
    try:
        segs = _segments(text, headers=True)
    except MatcalcError as e:
        raise e.located(line=1, col=1, source=text, where=where)
    prepared = _parse_segments(segs, text, where)
    used = _names_in(text) | _names_in(given or "")
    reader = _Reader(text, where, layout, used)
    if given:
        _read_given(reader, given)
    given_syms = set(reader.syms)

    # pass 1: inference, statement by statement
    prev_shape = None
    for p in prepared:
        st = p.st
        if st is None:
            continue
        mark = reader.uf.mark()
        nvars = len(reader.uf.vars)
        reader.created = []
        reader.index_vars = {}
        reader.let_refs_depth = 0
        reader.let_refs_size = 0
        try:
            if st.kind == "layout":
                reader.layout = st.layout
            elif st.kind == "decl":
                reader.declare(st.groups, st.line)
            elif st.kind == "let":
                if st.name in reader.syms:
                    old = reader.syms[st.name]
                    raise reader.err(TypeCheckError, f"{st.name} is already {reader.describe_sym(old)}; choose "
                                     "another name", st.line, st.name_col)
                node = st.exprs[0]
                shape = reader.infer(node)
                if st.name in reader.syms:
                    raise reader.err(TypeCheckError, f"{st.name} is used in its own definition", st.line,
                                     st.name_col)
                depth = node.depth + reader.let_refs_depth
                if depth > MAX_LET_DEPTH:
                    raise reader.err(LimitError, f"definitions nested more than {MAX_LET_DEPTH} levels deep",
                                     st.line, st.name_col)
                size = sum(1 for _ in P.walk_nodes(node)) + reader.let_refs_size
                if size > MAX_EXPANDED_NODES:
                    raise reader.err(LimitError, f"a definition with more than {MAX_EXPANDED_NODES} nodes written "
                                     "out", st.line, st.name_col)
                s = reader.new_sym(st.name, "let", st.line)
                s.shape, s.depth, s.size = shape, depth, size
            else:
                sides = st.exprs
                if st.kind == "claim" or (st.kind == "step" and prev_shape is not None):
                    for e in sides:
                        if isinstance(e, P.Neg):  # -1 or -0 on a side
                            e = e.arg
                        if isinstance(e, P.Num) and e.value in (0, 1):
                            a, b = reader.uf.new(False, str(e.value)), reader.uf.new(False, str(e.value))
                            reader.flex[id(e)] = (a, b)
                            reader.default_one.extend((a, b))
                shapes = [reader.infer(e) for e in sides]
                chain = ([prev_shape] if st.kind == "step" and prev_shape is not None else []) + shapes
                for x, y in zip(chain, chain[1:]):
                    m = reader.uf.mark()
                    if not (reader.uf.unify(x[0], y[0]) and reader.uf.unify(x[1], y[1])):
                        reader.uf.undo(m)
                        if not (reader.uf.unify(x[0], y[1]) and reader.uf.unify(x[1], y[0])):
                            reader.uf.undo(m)
                prev_shape = shapes[-1]
            p.index_vars = dict(reader.index_vars)
        except MatcalcError as e:
            reader.uf.undo(mark)
            del reader.uf.vars[nvars:]
            for name in reader.created:
                reader.syms.pop(name, None)
            if st.kind == "let" and st.name not in reader.syms:
                reader.new_sym(st.name, "broken", st.line)
            p.error = reader.locate(e, st.line, st.col)
    reader.finalize_dims()

    # pass 2: building
    statements: list[Statement] = []
    prev: tuple | None = None  # (expr, line)
    typed_any = False
    first_error: MatcalcError | None = None
    reader.layout = layout
    let_free: dict[str, tuple] = {}
    for p in prepared:
        seg, st = p.seg, p.st
        if seg.header is not None:
            statements.append(seg.header)
            continue
        text_, line, col = seg.text, seg.line, seg.col
        if st.kind == "layout":
            reader.layout = st.layout
            statements.append(LayoutSetting(line, col, text_, layout=st.layout))
            continue
        if p.error is None:
            reader.index_vars = p.index_vars
            try:
                if st.kind == "decl":
                    names = []
                    for g in st.groups:
                        for name, _l, _c in g.names:
                            s = reader.syms[name]
                            names.append(s.func if s.kind == "func" else reader.var(name))
                    statements.append(Declaration(line, col, text_, names=tuple(names)))
                    continue
                if st.kind == "let":
                    value = reader.build(st.exprs[0])
                    s = reader.syms[st.name]
                    s.value = value
                    let_free[st.name] = free_indices([value], let_free)
                    statements.append(Let(line, col, text_, name=st.name, value=value))
                    continue
                reader.flex_built = []
                exprs = [reader.build(e) for e in st.exprs]
                chain = ([prev[0]] if st.kind == "step" and prev is not None else []) + exprs
                if st.kind in ("claim", "step"):
                    reader.check_anchored(chain)
                eqs = st.eq_cols
                for k, (x, y) in enumerate(zip(chain, chain[1:])):
                    if x.shape != y.shape and x.shape != (y.shape[1], y.shape[0]):
                        raise ShapeError(f"the two sides of '=' have different shapes: {x} is "
                                         f"{fmt_shape(x.shape)} and {y} is {fmt_shape(y.shape)}",
                                         operands=(x, y)).located(line=line, col=eqs[k], source=reader.source,
                                                                  where=reader.where)
                if st.kind == "step" and prev is None:
                    raise reader.err(TypeCheckError, "a step '= …' needs a previous line to compare with", line,
                                     col)
            except MatcalcError as e:
                if st.kind == "let":
                    reader.syms[st.name].kind = "broken"
                if isinstance(e, ShapeError):
                    e = reader.add_hint(e)
                p.error = reader.locate(e, line, col)
        if p.error is not None:
            first_error = first_error or p.error
            statements.append(ErrorLine(line, col, text_, error=p.error))
            continue
        typed_any = True
        free = free_indices(exprs, let_free)
        if st.kind == "bare":
            statements.append(Bare(line, col, text_, expr=exprs[0]))
            prev = (exprs[0], line)
            continue
        if st.kind == "claim":
            statements.append(Claim(line, col, text_, lhs=exprs[0], rhs=exprs[1], free=free))
            rest = exprs[2:]
            cols = st.eq_cols[1:]
            prev = (exprs[1], line)
        else:
            rest = exprs
            cols = st.eq_cols
        for e, c in zip(rest, cols):
            statements.append(Step(line, c if st.kind == "claim" else col, text_, expr=e, prev=prev[0],
                                   prev_line=prev[1], free=free_indices([prev[0], e], let_free)))
            prev = (e, line)

    if first_error is not None and not typed_any:
        raise first_error

    env = Env()
    for name, s in sorted(reader.syms.items(), key=lambda kv: kv[1].order):
        if s.kind == "var":
            v = reader.var(name)
            env.vars[name] = v
            if not s.declared and name not in given_syms:
                env.inferred.append(f"{name}: {_Reader.fmt_spec(v.dims)} (inferred)")
        elif s.kind == "func":
            env.funcs[name] = s.func
        elif s.kind == "let" and s.value is not None:
            env.lets[name] = s.value
    return Document(statements, env, text, where)


def _dim_atoms(d: object) -> set[str]:
    """The size names in a dimension (``"m*n"`` → {m, n}; an integer has none)."""
    if not isinstance(d, str):
        return set()
    return {a for a in d.split("*") if a and not a.isdigit()}


def read_expr(text: str, *, given: str | None = None, layout: str = "mixed",
              where: str = "<input>") -> tuple[ir.Expr, Env]:
    """One expression (with optional ``let`` lines and declarations before it), typed.

    Returns ``(expr, env)``. Raises the first error of the text; a claim (``L = R``) is a ParseError here —
    claims go through :func:`read_document`.
    """
    doc = read_document(text, given=given, layout=layout, where=where)
    for s in doc.statements:
        if isinstance(s, ErrorLine):
            raise s.error
    exprs = [s for s in doc.statements if isinstance(s, (Bare, Claim, Step))]
    if not exprs:
        raise ParseError("expected an expression", line=1, col=1, source=text, where=where)
    if len(exprs) > 1 or not isinstance(exprs[0], Bare):
        s = exprs[-1] if not isinstance(exprs[0], Bare) else exprs[1]
        raise ParseError("expected one expression, not a claim or several expressions (use a document)",
                         line=s.line, col=s.col, source=text, where=where)
    return exprs[0].expr, doc.env


def parse_declarations(text: str) -> Env:
    """The environment declared by ``text`` (``"W: n x m, x: m"``); raises on any error."""
    reader = _Reader(text, "<given>", "mixed", _names_in(text))
    _read_given(reader, text)
    reader.finalize_dims()
    env = Env()
    for name, s in reader.syms.items():
        if s.kind == "var":
            env.vars[name] = reader.var(name)
        elif s.kind == "func":
            env.funcs[name] = s.func
    return env

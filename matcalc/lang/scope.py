"""The names in force while a document is read: symbols, declarations and the reader's shared state.

Contract: :class:`Scope` holds the state of reading one document (the symbol table of :class:`Sym`, the
:class:`~matcalc.lang.unify.Unifier`, the layout in force and the per-node decisions the inference pass leaves for
the building pass) and reads declarations (``W: n x m``, ``f: R -> R``) into it, checking that a name is declared
once and that its uses so far fit. :func:`spelling_kind` gives an undeclared name's kind from its spelling;
:data:`BUILTINS` lists the built-in functions.
"""

from __future__ import annotations

import re

from matcalc import ir
from matcalc.document import FuncDecl
from matcalc.errors import MatcalcError, TypeCheckError
from matcalc.lang import syntax as P
from matcalc.lang.unify import DVar, Unifier, concrete
from matcalc.shapes import fmt_dim

__all__ = ["Scope", "Sym", "spelling_kind", "BUILTINS", "SIGMA_ALIASES", "GREEK_WORDS"]

GREEK_WORDS = (
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
    "omega",
)
SIGMA_ALIASES = ("sigma", "σ", "sigmoid")
#: Built-in functions: name → number of arguments (entrywise ones take a prime).
BUILTINS = {fn: 1 for fn in ir.ENTRYWISE}
BUILTINS.update({
    "σ": 1, "sigmoid": 1, "max": 2, "min": 2, "sum": 1, "mean": 1, "dot": 2, "tr": 1, "trace": 1, "det": 1, "logdet": 1,
    "inv": 1, "diag": 1, "vec": 1, "norm": 1, "softmax": 1, "logsumexp": 1, "kron": 2, "grad": 2, "jacobian": 2,
    "hessian": 2, "K": 2,
    "ones": (1, 2), "zeros": (1, 2), "eye": 1,
})


class Sym:
    """A name in force: ``kind`` is ``var``, ``func``, ``let`` or ``broken`` (a ``let`` that could not be typed)."""

    __slots__ = ("name", "kind", "shape", "declared", "props", "func", "line", "value", "depth", "size", "free",
                 "order", "mask")

    def __init__(self, name: str, kind: str, line: int, order: int) -> None:
        self.name, self.kind, self.line, self.order = name, kind, line, order
        self.shape: tuple = (1, 1)
        self.declared = False
        self.props: frozenset = frozenset()
        self.func: FuncDecl | None = None
        self.value: ir.Expr | None = None
        self.depth = 0
        self.size = 0  # a let: the distinct nodes of its definition, the definitions it uses included (at most)
        self.mask = 0  # a let: one bit per let its definition uses (its own bit included), see Scope.let_own
        self.free: tuple = ()


def spelling_kind(name: str) -> str:
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


class Scope:
    """Holds the state of reading one document: symbols, the unifier, the current layout."""

    def __init__(self, source: str, where: str, layout: str, used_names: set[str]) -> None:
        self.source = source
        self.where = where
        self.layout = layout
        self.uf = Unifier()
        self.syms: dict[str, Sym] = {}
        self.sym_order = 0
        self.dim_names: set[str] = set()  # sizes named in declarations
        self.declared_below: dict[str, tuple] = {}  # name -> (line, "var" or "func", dims): its declaration
        self.touched: set[str] = set()  # the variables built since it was last emptied (see typer._build_pass)
        self.typed_names: set[str] = set()  # the variables of the lines that could be typed
        self.stmt_line = 0  # the line of the statement being inferred (0: --problem, before the document)
        self.used_names = set(used_names)
        self.flex: dict[int, tuple] = {}  # id(node) -> flexible shape of I / 0 / 1
        self.flex_built: list = []  # (IR node, line, col) of the I / 0 / 1 built with a context size
        self.default_one: list[DVar] = []  # flexible sizes of a lone 0/1 that default to a scalar
        self.rewrites: dict[int, P.Node] = {}  # id(node) -> the product a call of a non-function stands for
        self.called_names: set[str] = set()  # non-functions written as calls: f(x) with f undeclared
        self.call_decisions: dict[int, tuple] = {}  # id(Call node) -> how it reads, decided in pass 1
        self.layouts: dict[int, str] = {}  # id(Deriv node) -> the layout in force
        self.index_vars: dict[str, DVar] = {}  # per statement: index name -> its range
        self.sum_ranges: dict[int, DVar] = {}  # id(IdxSum node) -> the range of the index it binds
        self.created: list[str] = []  # per statement: names inferred in it
        self.let_refs_depth = 0
        self.let_refs_size = 0  # per statement: distinct nodes of the lets it uses (at most)
        self.let_refs_mask = 0  # per statement: the bits of the lets it uses
        self.let_own: list[int] = []  # the syntax nodes of each let's own definition, by its bit
        self.dim_final: dict[DVar, object] = {}
        self.var_cache: dict[str, ir.Var] = {}

    def lets_size(self, mask: int) -> int:
        """The nodes of the lets whose bits ``mask`` holds, each counted once."""
        own = self.let_own
        return sum(own[i] for i, b in enumerate(reversed(bin(mask)[2:])) if b == "1")

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

    def _at(self, s: Sym) -> str:
        """Where a name was declared: its line, or ``by --given`` (the given text's lines are not the document's)."""
        return "by --given" if s.name in getattr(self, "given_names", ()) else f"(line {s.line})"

    def describe_sym(self, s: Sym) -> str:
        if s.kind == "func":
            fd = s.func
            what = "R -> R" if fd.kind == "entrywise" else f"R^{fd.dim} -> R"
            return f"declared as {what} {self._at(s)}"
        if s.kind in ("let", "broken"):
            return f"defined by let (line {s.line})"
        dims = tuple(self.uf.resolve(d) for d in s.shape)
        shown = self.fmt_spec(dims) if all(concrete(d) for d in dims) else "a " + spelling_kind(s.name)
        props = "".join(" " + p for p in sorted(s.props))
        how = "declared" if s.declared else "used"
        return f"{how} as {shown}{props} {self._at(s)}"

    def new_sym(self, name: str, kind: str, line: int) -> Sym:
        self.sym_order += 1
        s = Sym(name, kind, line, self.sym_order)
        self.syms[name] = s
        return s

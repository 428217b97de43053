"""Inference, the typer's first pass: the kinds and sizes of undeclared names, by unifying dimensions.

Contract: :class:`Inferrer` walks a statement's syntax tree (``i_*`` methods, one per node type) and returns its
shape as a pair of dimension terms, unifying sizes as it goes: declared names have fixed sizes; an undeclared name
gets its kind from its spelling and fresh rigid sizes; ``I``, ``0``/``1`` standing alone and ``1ᵀ``/``0ᵀ`` get
flexible sizes that take their value from the context. It also decides, once, how each call reads (a declared
function, a built-in or a product ``x (y)``) and records it for the building pass. :meth:`Inferrer.finalize_dims`
names the sizes left open (``n``, ``m``, ``p``, … avoiding every name in the text).
"""

from __future__ import annotations

from matcalc import ir
from matcalc.errors import ParseError, TypeCheckError
from matcalc.lang import syntax as P
from matcalc.lang.lexer import PARTIAL_HINT, Token
from matcalc.lang.limits import MAX_NODES, check_nodes, check_size
from matcalc.lang.scope import BUILTINS, SIGMA_ALIASES, Scope, Sym, spelling_kind
from matcalc.lang.unify import DVar, concrete
from matcalc.shapes import dim_mul, fmt_dim

__all__ = ["Inferrer"]

_CANDIDATE_DIMS = ("n", "m", "p", "k", "q", "r", "s", "l", "t", "u", "v", "w", "d", "c", "b", "a")


class Inferrer(Scope):
    """Pass 1 of reading a document: shapes of syntax trees, by unification (see the module docstring)."""

    # ─────────── pass 1: inference ───────────

    def sc(self, s: tuple) -> bool:
        return self.uf.is_one(s[0]) and self.uf.is_one(s[1])

    def lookup(self, name: str, node: P.Node, line: int) -> Sym:
        if name[0] == "∂":  # a ∂f / ∂X the Leibniz rewrite did not take (∂f/∂X[1]): not a name
            raise self.err(ParseError, PARTIAL_HINT, node.line, node.col)
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
        if name in self.dim_names:  # a declared size used as a number (SPEC section 3): a scalar constant
            s = Sym(name, "dim", line, -1)
            s.shape = (1, 1)
            return s
        s = self.new_sym(name, "var", line)
        kind = spelling_kind(name)
        below = self.declared_below.get(name)
        if below is not None and below[1] == "var" and self.stmt_line < below[0]:  # used above its declaration:
            s.shape = below[2]  # the declared type, not the spelling's
        elif kind == "scalar":
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
            if not s.mask & ~self.let_refs_mask:  # this let, and every let it uses, is counted already
                return s.shape
            self.let_refs_mask |= s.mask
            self.let_refs_size += s.size
            if self.let_refs_size > MAX_NODES:  # the sum over-counts lets shared by several names: count once
                self.let_refs_size = self.lets_size(self.let_refs_mask)
            check_nodes(self.let_refs_size, node.line, node.col)
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
        if concrete(d):
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
                check_size(val, line, col, "an index")
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

    def i_IdxSum(self, node: P.IdxSum) -> tuple:
        # each sum binds its own index: the k of `sum_k x[k] + sum_k y[k]` ranges over n, then over m
        outer = self.index_vars.pop(node.index, None)
        s = self.infer(node.body)
        if node.index not in self.index_vars or node.index not in _free_index_names(node.body):
            raise self.err(TypeCheckError, f"the summation index {node.index} does not index anything in the "
                           "product that follows it", node.line, node.col)
        self.sum_ranges[id(node)] = self.index_vars.pop(node.index)
        if outer is not None:
            self.index_vars[node.index] = outer
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
            order = node.primes + int(node.nabla)
            if order > 2 or (node.primes and node.nabla):
                raise self.err(TypeCheckError, f"{node.name}: the value, the gradient ({node.name}'(u) or "
                               f"∇{node.name}(u)) and the Hessian ({node.name}''(u) or ∇²{node.name}(u)) of a "
                               "function R^n -> R are supported", node.line, node.col)
            return how, what
        name = what
        if name == "K" and len(node.args) != 2:
            return "product", None
        if node.nabla:
            raise self.err(TypeCheckError, f"∇ needs a declared function C: R^n -> R, not the built-in {name}",
                           node.line, node.col)
        if node.primes and not (name in ir.ENTRYWISE or name in SIGMA_ALIASES):
            raise self.err(TypeCheckError, f"only entrywise functions take a prime; {name}' is not defined",
                           node.line, node.col)
        self.nargs(node, BUILTINS[name])
        return how, what

    def dim_arg(self, node: P.Node, fn: str) -> object:
        """A size argument of ``ones``/``zeros``/``eye``/``K``: a positive integer, a size name, or a product of
        them (``zeros(n*m, p)``, ``eye(n·p)``, ``ones(2 n)``: the size the printer writes for a Jacobian by a
        matrix), in canonical form (``"m*n"``)."""
        if isinstance(node, P.Chain) and node.kind == "*" and all(op in (None, "juxt", "*")
                                                                   for op, _l, _c, _x in node.items):
            d: object = 1
            for _op, _l, _c, factor in node.items:
                d = dim_mul(d, self.dim_arg(factor, fn))
            if isinstance(d, int):
                check_size(d, node.line, node.col)
            return d
        if isinstance(node, P.Num):
            v = node.value
            if v.denominator != 1 or v < 1:
                raise self.err(TypeCheckError, f"{fn} takes sizes: positive integers or size names", node.line,
                               node.col)
            check_size(v, node.line, node.col)
            return int(v)
        if isinstance(node, P.Name):
            s = self.syms.get(node.name)
            if s is not None and s.kind in ("var", "let", "func", "broken") and (s.declared or s.kind != "var"):
                what = {"let": "defined by a let", "func": "a declared function"}.get(s.kind, "a declared variable")
                raise self.err(TypeCheckError, f"{fn} takes sizes: {node.name} is {what} (line {s.line}), not a "
                               f"size; a name is either a size or a value", node.line, node.col)
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
            order = node.primes + int(node.nabla)
            return (1, 1) if order == 0 else (s[0], s[0]) if order == 2 else s
        fn = what
        args = node.args
        if fn in ("ones", "zeros", "eye"):
            dims = [self.dim_arg(a, fn) for a in args]
            if fn == "eye":
                return (dims[0], dims[0])
            return (dims[0], dims[1] if len(dims) > 1 else 1)
        if fn == "K":  # the commutation matrix K(m, n): vec(Xᵀ) = K(m, n) vec(X) for X m×n
            m, n = (self.dim_arg(a, fn) for a in args)
            return (("*", m, n), ("*", m, n))
        if fn in ("grad", "jacobian", "hessian"):
            es = self.infer(args[0])
            ws = self.wrt_of_arg(args[1], fn)
            if fn == "hessian":
                if isinstance(args[1], P.EntryN):
                    raise self.err(TypeCheckError, "hessian differentiates by a vector or a matrix, not by one entry",
                                   args[1].line, args[1].col)
                if not self.sc(es):
                    self.uf.unify(es[0], 1)
                    self.uf.unify(es[1], 1)
                return (self.prod(ws), self.prod(ws))
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
        if fn in ("sum", "mean", "norm", "logsumexp"):
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


def _free_index_names(node) -> set:
    """The index names a syntax tree uses outside the sums that bind them (``Σ_k Σ_k x[k]``: the outer k has none)."""
    out: set = set()
    stack = [(node, frozenset())]
    while stack:
        n, bound = stack.pop()
        if isinstance(n, P.IdxSum):
            stack.append((n.body, bound | {n.index}))
            continue
        if isinstance(n, P.EntryN):
            out.update(v for v, _l, _c in n.idx if isinstance(v, str) and v not in bound)
        elif isinstance(n, P.DeltaN):
            out.update(v for v, _l, _c in (n.i, n.j) if isinstance(v, str) and v not in bound)
        for name in getattr(n, "__slots__", ()):
            if name in ("line", "col", "depth", "end_col", "bracketed"):
                continue
            todo = [getattr(n, name, None)]
            while todo:  # children sit in lists and in (op, line, col, node) tuples too
                val = todo.pop()
                if isinstance(val, P.Node):
                    stack.append((val, bound))
                elif isinstance(val, (list, tuple)):
                    todo.extend(val)
    return out


"""Building, the typer's second pass: the typed IR of :mod:`matcalc.ir` from a syntax tree.

Contract: :class:`Builder` turns a syntax tree into IR (``b_*`` methods, one per node type) with the sizes the
inference pass settled and the readings it decided (calls, products, layouts). The IR constructors check shapes; a
:class:`~matcalc.shapes.ShapeError` is given the position of the operator. :meth:`Builder.add_hint` turns a shape
conflict among undeclared names into an :class:`AmbiguousShapeError` that asks for a declaration;
:meth:`Builder.check_anchored` rejects an ``I``, ``0`` or ``1`` whose size nothing else fixes; :func:`free_indices`
lists the indices a statement leaves free.
"""

from __future__ import annotations

from fractions import Fraction

from matcalc import ir
from matcalc.errors import MatcalcError, TypeCheckError
from matcalc.lang import syntax as P
from matcalc.lang.infer import Inferrer
from matcalc.lang.limits import MAX_MATRIX_POWER, MAX_SCALAR_POWER, check_power, check_product_wraps
from matcalc.lang.scope import SIGMA_ALIASES
from matcalc.lang.unify import DVar
from matcalc.shapes import ShapeError, dim_mul, fmt_dim, fmt_shape

__all__ = ["AmbiguousShapeError", "Builder", "free_indices"]


class AmbiguousShapeError(ShapeError, TypeCheckError):
    """A shape conflict among names whose kinds and sizes were only inferred from their spelling and use: the
    message asks for a declaration. It is a :class:`ShapeError` (it names the operands and their shapes) and a
    :class:`TypeCheckError` (the reading is ambiguous without a declaration)."""


class Builder(Inferrer):
    """Pass 2 of reading a document: the IR of syntax trees (see the module docstring)."""

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
        self.touched.add(name)
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
        if node.name not in self.syms and node.name in self.dim_names:
            return ir.Size(node.name)  # a declared size used as a number
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
            check_power(k, MAX_SCALAR_POWER, node.line, node.col)
            return ir.EPower(a, k)
        if a.is_scalar:
            if k == "-T":
                return ir.Power(a, -1)
            check_power(k, MAX_SCALAR_POWER, node.line, node.col)
            return ir.Power(a, k)
        if k == "-T":
            return self.shaped(lambda: ir.Transpose(ir.Inverse(a)), node.line, node.col)
        if k == -1:
            return self.shaped(lambda: ir.Inverse(a), node.line, node.col)
        if isinstance(k, Fraction) and k.denominator == 1:
            check_power(k, MAX_MATRIX_POWER, node.line, node.col)
        return self.shaped(lambda: ir.Power(a, k), node.line, node.col)

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
                check_product_wraps(wraps, line, col)
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
        outer = self.index_vars
        self.index_vars = {**outer, node.index: self.sum_ranges[id(node)]}  # the range of this sum's own index
        try:
            body = self.build(node.body)
            index = self.index(node.index)
        finally:
            self.index_vars = outer
        if not body.is_scalar:
            raise self.err(ShapeError, f"Σ_{node.index} sums scalars (entries such as W[j, k] x[k]), but {body} "
                           f"is {fmt_shape(body.shape)}", node.line, node.col)
        return ir.IndexSum(index, body)

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
            return ir.CallVec(what.name, a, node.primes + int(node.nabla))
        fn = what
        if fn in ("ones", "zeros", "eye"):
            dims = [self.dim_arg(a, fn) for a in node.args]
            if fn == "eye":
                return ir.Identity(dims[0])
            shape = (dims[0], dims[1] if len(dims) > 1 else 1)
            return ir.Ones(shape) if fn == "ones" else ir.Zeros(shape)
        if fn == "K":
            m, n = (self.dim_arg(a, fn) for a in node.args)
            return ir.Commutation(m, n)
        if fn in ("grad", "jacobian", "hessian"):
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
            if fn == "mean":  # sum(e) / (the number of entries of e): sizes as numbers
                return entry_mean(a)
            simple = {"sum": ir.Sum, "tr": ir.Trace, "trace": ir.Trace, "det": ir.Det, "logdet": ir.LogDet,
                      "inv": ir.Inverse, "diag": ir.Diag, "vec": ir.Vec, "norm": ir.Norm, "softmax": ir.Softmax,
                      "logsumexp": ir.LogSumExp}
            return simple[fn](a)

        return self.shaped(make, line, col)


    def b_DeltaN(self, node: P.DeltaN) -> ir.Expr:
        return ir.Delta(self.index(node.i[0]), self.index(node.j[0]))


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


def _dim_atoms(d: object) -> set[str]:
    """The size names in a dimension (``"m*n"`` → {m, n}; an integer has none)."""
    if not isinstance(d, str):
        return set()
    return {a for a in d.split("*") if a and not a.isdigit()}


def entry_mean(a: ir.Expr) -> ir.Expr:
    """``mean(a)``: ``sum(a)`` divided by the number of entries of ``a`` (an integer, or sizes as numbers)."""
    coef, names = 1, []
    for d in a.shape:
        for f in (str(d).split("*") if isinstance(d, str) else [d]):
            if isinstance(f, int) or f.isdigit():
                coef *= int(f)
            else:
                names.append(f)
    factors: list[ir.Expr] = ([ir.Num(coef)] if coef != 1 or not names else []) + [ir.Size(n) for n in names]
    count = factors[0]
    for f in factors[1:]:
        count = ir.Scale(count, f)
    total = ir.Sum(a) if not a.is_scalar else a
    return total if isinstance(count, ir.Num) and count.value == 1 else ir.Div(total, count)


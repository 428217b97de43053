"""The engine's entry point: what to differentiate by decides the walk, and the result is simplified and checked.

Contract: :func:`differentiate` (and :func:`differentiate_many`, several variables sharing one reverse pass)
expands nested derivatives, hash-conses the expression and picks the walk — reverse mode for a scalar by a variable
or a let name, forward Jacobians for a vector or matrix, index rules for one entry (:mod:`matcalc.engine.entry`) —
then simplifies the result, checks its shape against ``ir.derivative_shape`` and, for a single path, presents the
steps as the lecture does (:mod:`matcalc.engine.lecture`). :func:`expand_derivatives` replaces every ``Derivative``
node by its closed form. A deep expression raises the recursion limit; one too deep is a clear user error.
"""

from __future__ import annotations

from fractions import Fraction

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import Derivative, Entry, Expr, Named, Var, children, rebuild
from matcalc.engine.build import vsize
from matcalc.engine.compose import (
    Derivation, Step, Tracer, forward, intern, layout_jacobian, layout_scalar, matcher, reverse_many,
)
from matcalc.engine.entry import by_entry
from matcalc.engine.lecture import hessian_steps, lecture_steps
from matcalc.engine.second import gauss_newton_steps, name_shared
from matcalc.engine.simplify import simplify
from matcalc.engine.textbook import textbook, textbook_and_rules, textbook_pass, use_names
from matcalc.shapes import is_scalar

__all__ = ["closed_form", "with_lets", "differentiate", "differentiate_many", "expand_derivatives", "RECURSION_LIMIT"]


def _has_derivative(e: Expr) -> bool:
    return any(isinstance(x, Derivative) for x in ir.walk(e))


def differentiate(expr: Expr, wrt: Expr, *, kind: str = "d", layout: str = "mixed", lecture: bool = True,
                  reserved: frozenset = frozenset()) -> Derivation:
    """The derivative of ``expr`` by ``wrt`` in closed matrix form, with its derivation steps.

    Args:
        expr: the expression (nested ``Derivative`` nodes are expanded first, innermost first).
        wrt: an ``ir.Var``, an ``ir.Named`` (a let name) or ``ir.Entry(Var, indices)``.
        kind: ``"d"`` (in ``layout``), ``"grad"`` (shaped like ``wrt``), ``"jacobian"`` (numerator, of ``vec``s) or
            ``"hessian"`` (of a scalar: the Jacobian of its gradient, by ``vec(wrt)`` for a matrix).
        layout: ``"mixed"``, ``"numerator"`` or ``"denominator"`` (SPEC section 4).
        lecture: present the steps as the lecture does (:mod:`matcalc.engine.lecture`) where it can.
        reserved: names the caller's document uses, which the lecture's names for intermediate results avoid.

    Raises:
        UnsupportedDerivative: an operation without a rule (named in the message).
    """
    return differentiate_many(expr, [wrt], kind=kind, layout=layout, lecture=lecture, reserved=reserved)[0]


#: Python recursion allowed while deriving (the walks recurse along the depth of the expression).
RECURSION_LIMIT = 20_000


class _deep:
    """Raise the recursion limit for a deep expression; turn a RecursionError into a clear user error."""

    def __enter__(self):
        import sys

        self.old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(self.old, RECURSION_LIMIT))

    def __exit__(self, tp, exc, tb):
        import sys

        sys.setrecursionlimit(self.old)
        if tp is RecursionError:
            raise MatcalcError("the expression is nested too deeply for the derivative engine") from exc
        return False


def differentiate_many(expr: Expr, wrts: list[Expr], *, kind: str = "d", layout: str = "mixed",
                       lecture: bool = True, reserved: frozenset = frozenset()) -> list[Derivation]:
    """:func:`differentiate` by several variables at once, sharing one reverse pass and one simplifier.

    For a scalar ``expr`` (a cost) this is backpropagation: the gradients by every weight and bias of an L-layer
    network cost O(L) time and O(L) distinct result nodes together. The derivations share their steps.
    """
    with _deep():
        if kind == "hessian":
            return [_hessian(expr, w, layout, reserved) for w in wrts]
        return _differentiate_many(expr, wrts, kind=kind, layout=layout, lecture=lecture, reserved=reserved)


def _hessian(expr: Expr, wrt: Expr, layout: str, reserved: frozenset = frozenset()) -> Derivation:
    """``hessian(f, X) = jacobian(grad(f, X), X)``: the gradient, then its Jacobian (by ``vec(X)`` for a matrix)."""
    if not is_scalar(expr.shape):
        raise MatcalcError("the Hessian needs a scalar function")
    g = _differentiate_many(expr, [wrt], kind="grad", layout=layout)[0]  # the lecture's trace, where it applies
    h = _differentiate_many(g.result, [wrt], kind="jacobian", layout=layout, lecture=False)[0]
    gn = gauss_newton_steps(expr, wrt, layout, h.result, reserved, differentiate)
    steps = gn or hessian_steps(g, h)
    taken = reserved | {x.name for x in ir.distinct(expr) if isinstance(x, (Var, Named))}
    known = tuple(n for s in steps if s.label[:1] == ("defs",) for n in s.defs[1:])
    named, where = (h.result, ()) if gn else name_shared(h.result, taken, known)
    if where:
        shown = ", ".join(f"{n.name} = {n.value}" for n in where)
        steps.append(Step("name", h.result, named, f"where {shown}", label=("same",)))
    return Derivation(expr, wrt, named, steps, "hessian", layout, h.raw, where)


def _differentiate_many(expr: Expr, wrts: list[Expr], *, kind: str = "d", layout: str = "mixed",
                        lecture: bool = True, reserved: frozenset = frozenset()) -> list[Derivation]:
    if kind not in ("d", "grad", "jacobian"):
        raise ValueError(f"unknown derivative kind {kind!r}")
    if layout not in ir.LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    steps: list[Step] = []
    original = expr
    if _has_derivative(expr):
        expr = expand_derivatives(expr)
        steps.append(Step("expand-derivatives", original, expr, "inner derivatives first"))
    expr = intern(expr)
    for wrt in wrts:
        if isinstance(wrt, Var) and ("symmetric" in wrt.props or "spd" in wrt.props):
            if is_scalar(expr.shape):
                steps.append(Step("symmetric-convention", None, wrt, f"{wrt.name} is symmetric: the gradient is the "
                                  "symmetric part (G + Gᵀ)/2 of the unconstrained gradient G (the derivative along "
                                  "symmetric directions); the Matrix Cookbook, sec. 2.8, uses G + Gᵀ − diag(G)"))
            else:
                n = wrt.shape[0]
                steps.append(Step("symmetric-convention", None, wrt, f"{wrt.name} is symmetric: the Jacobian is "
                                  "taken along symmetric directions, J (I + K)/2 with J the Jacobian of independent "
                                  f"entries and K = K({n}, {n}) the commutation matrix (the columns of entries (i, "
                                  "j) and (j, i) averaged, as for the gradient)"))
    tracer = Tracer(steps)
    raws: list[Expr] = []
    notes: list[tuple[str, str]] = []  # (rule, statement) of each result's last step
    plain = [i for i, w in enumerate(wrts) if not isinstance(w, Entry)]
    grads: dict = {}
    if is_scalar(expr.shape) and plain:
        by_var = {(wrts[i].name, wrts[i].dims): i for i in reversed(plain) if isinstance(wrts[i], Var)}
        by_name = {wrts[i].name: i for i in reversed(plain) if isinstance(wrts[i], Named)}
        for i in plain:
            matcher(wrts[i])  # rejects anything else

        def which(x):  # a dictionary lookup: O(1) per node for any number of variables
            if isinstance(x, Var):
                return by_var.get((x.name, x.dims))
            if isinstance(x, Named):
                return by_name.get(x.name)
            return None

        grads = reverse_many(expr, which, steps, tracer)
        for i in plain:  # a variable asked for twice gets the same gradient
            w = wrts[i]
            first = by_var.get((w.name, w.dims)) if isinstance(w, Var) else by_name.get(w.name)
            if first in grads:
                grads[i] = grads[first]
    for i, wrt in enumerate(wrts):
        if isinstance(wrt, Entry):
            raws.append(by_entry(expr, wrt, steps, tracer))
            notes.append(("chain-rule", "derivative by one entry: index rules"))
        elif is_scalar(expr.shape):
            g = grads.get(i)
            trivial = _trivial_note(expr, wrt, g)
            g = ir.Zeros(wrt.shape) if g is None else g
            if isinstance(wrt, Var) and ("symmetric" in wrt.props or "spd" in wrt.props) and g.shape[0] != 1:
                pair = (g.arg, g) if isinstance(g, ir.Transpose) else (g, ir.Transpose(g))  # B + Bᵀ, not Bᵀ + B
                g = ir.Scale(ir.Num(Fraction(1, 2)), ir.Add(pair))
            raws.append(layout_scalar(g, kind, layout))
            notes.append(trivial or ("chain-rule", "Jacobian chain rule, accumulated from the output back "
                                     "(reverse mode: adjoints shaped like each node)"))
        else:
            j = forward(expr, matcher(wrt), vsize(wrt), steps, tracer)
            trivial = _trivial_note(expr, wrt, j)
            j = ir.Zeros((vsize(expr), vsize(wrt))) if j is None else j
            if _symmetric(wrt) and wrt.shape[0] != 1 and j is not None and not isinstance(j, ir.Zeros):
                n = wrt.shape[0]
                j = ir.Scale(ir.Num(Fraction(1, 2)), ir.MatMul((j, ir.Add((ir.Identity(vsize(wrt)),
                                                                            ir.Commutation(n, n))))))
            raws.append(layout_jacobian(j, expr, wrt, kind, layout))
            notes.append(trivial or ("chain-rule", "Jacobian chain rule: the product of the local Jacobians "
                                     "(numerator layout)"))
    out = []
    book_pass = textbook_pass(simplified=True)  # shared by the results: their common parts are rewritten once
    for wrt, raw, (rule, note) in zip(wrts, raws, notes):
        target = ir.derivative_shape(original.shape, wrt.shape, kind, layout)
        st = list(steps)
        st.append(Step(rule, Derivative(original, wrt, kind, layout), raw, note))
        local = Tracer(st)
        local.simp = tracer.simp  # the shared memo: the parts simplified above are not redone
        result = local.simplify(raw)
        book, whys = textbook_and_rules(result, book_pass)
        if book != result:
            # written as an equation of the derivative itself: the trace ends at the result, under its name
            st.append(Step("textbook-form", Derivative(original, wrt, kind, layout), book,
                           "the textbook's form: " + ("; ".join(whys[:6]) or "rewritten")))
            result = book
        if result.shape != target:
            raise MatcalcError(f"internal error: the derivative has shape {result.shape}, expected {target}")
        if kind == "d" and layout != "mixed" and not isinstance(wrt, Entry):
            st.append(Step("layout", None, result, f"{layout} layout"))
        if lecture and len(wrts) == 1 and is_scalar(expr.shape) and not isinstance(wrt, Entry) \
                and not _symmetric(wrt):
            shown = lecture_steps(expr, wrt, result, kind, layout, reserved, derive=_plain_derivative)
            if shown is not None:
                st = [s_ for s_ in steps if s_.rule == "expand-derivatives"] + shown
                if shown[-1].after != result:  # the same derivative; the presentation's closed form is never longer
                    result = intern(shown[-1].after)
        out.append(Derivation(original, wrt, result, st, kind, layout, raw))
    return out


def _trivial_note(expr: Expr, wrt: Expr, d: Expr | None) -> tuple[str, str] | None:
    """The rule (name, statement) of a one-step derivative that is no chain: of an expression free of the variable
    (zero), or of the variable itself (the identity); None otherwise."""
    if d is None:
        return "constant", f"{expr} does not depend on {wrt}: its derivative is zero"
    if expr == wrt:
        return "identity", f"the derivative of a variable by itself is the identity (d{wrt} = d{wrt})"
    return None


def _plain_derivative(e: Expr, by: Expr, kind: str, layout: str) -> Derivation:
    """The engine's derivative without the lecture's presentation (the lecture's links and occurrences)."""
    return differentiate(e, by, kind=kind, layout=layout, lecture=False)


def _symmetric(wrt: Expr) -> bool:
    return isinstance(wrt, Var) and ("symmetric" in wrt.props or "spd" in wrt.props)


def _hessian_vector(x: ir.MatMul, go) -> Expr | None:
    """``hessian(f, x) v`` with v a column free of x, as ``grad(grad(f, x)ᵀ v, x)``: the Hessian-vector product
    without forming the Hessian (Pearlmutter's trick; the Hessian is symmetric). None when no factor is such."""
    args = list(x.args)
    for i, h in enumerate(args[:-1]):
        v = args[i + 1]
        if not (isinstance(h, Derivative) and h.kind == "hessian" and h.wrt.shape[1] == 1 and v.shape[1] == 1):
            continue
        w = h.wrt
        names = {n.name for n in ir.walk(w.value) if isinstance(n, Var)} if isinstance(w, Named) else {w.name}
        if any(isinstance(n, (Var, Named)) and n.name in names for n in ir.walk(v)):
            continue
        g = differentiate(go(h.expr), w, kind="grad").result
        hv = differentiate(ir.MatMul((ir.Transpose(g), go(v))), w, kind="grad").result
        rest = [go(a) for a in args[:i]] + [hv] + [go(a) for a in args[i + 2:]]
        return rest[0] if len(rest) == 1 else ir.MatMul(tuple(rest))
    return None


def closed_form(expr: Expr, names: tuple = ()) -> Expr:
    """``expr`` with its derivatives in closed form, in the textbook's form, written with the ``let`` names and the
    derivatives in ``names`` (``Named`` and ``Derivative`` nodes, e.g. of a claim's right side) where their closed
    values (or their entries ``value[i]``) appear."""
    tp = textbook_pass()  # one pass for the result and every name's value: their shared parts are done once
    memo: dict = {}
    out = textbook_and_rules(expand_derivatives(expr, memo), tp)[0]
    indices = {x.idx for x in ir.walk(out) if isinstance(x, Entry) and len(x.idx) == 1}
    by_value = {}
    for n in names:
        if n == expr or not isinstance(n, (Named, Derivative)):
            continue
        value = textbook_and_rules(expand_derivatives(n.value if isinstance(n, Named) else n, memo), tp)[0]
        by_value.setdefault(value, n)
        if value.shape[1] == 1 and not is_scalar(value.shape):
            for idx in indices:
                by_value.setdefault(simplify(Entry(value, idx)), Entry(n, idx))
    return use_names(out, by_value)


def with_lets(d: Derivation, lets: dict) -> Derivation:
    """``d`` with the document's ``let`` names (name → value) written where their values appear in the result (a
    last step says so); values that are a bare name or number are left alone."""
    names = tuple(Named(k, v) for k, v in lets.items() if not isinstance(v, (Var, ir.Num)))
    if not names:
        return d
    named = closed_form(d.result, names)
    if named == d.result:
        return d
    head = Derivative(d.expr, d.wrt, d.kind, d.layout)
    shown = ", ".join(f"{n.name} = {n.value}" for n in names)
    steps = [*d.steps, Step("let-names", head, named, f"the let names: {shown}")]
    return Derivation(d.expr, d.wrt, named, steps, d.kind, d.layout, d.raw, d.where)


def expand_derivatives(expr: Expr, memo: dict | None = None) -> Expr:
    """``expr`` with every ``Derivative`` node replaced by its closed form (innermost first); ``memo`` (id → the
    node and its closed form) shares the work between several calls."""
    with _deep():
        return _expand_derivatives(expr, {} if memo is None else memo)


def _expand_derivatives(expr: Expr, memo: dict) -> Expr:

    def go(x: Expr) -> Expr:
        got = memo.get(id(x))
        if got is not None and got[0] is x:
            return got[1]
        hv = _hessian_vector(x, go) if isinstance(x, ir.MatMul) else None
        if hv is not None:
            out = hv
        elif isinstance(x, Derivative) and x.kind == "hessian":
            inner = go(x.expr)
            grad = differentiate(inner, x.wrt, kind="grad").result
            out = differentiate(grad, x.wrt, kind="jacobian").result
        elif isinstance(x, Derivative):
            inner = go(x.expr)
            out = differentiate(inner, x.wrt, kind=x.kind, layout=x.layout, lecture=False).result
        else:
            kids = children(x)
            if not kids:
                out = x
            else:
                nk = [go(k) for k in kids]
                out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        memo[id(x)] = (x, out)  # the node is kept: its id is not reused while the memo lives
        return out

    return go(expr)

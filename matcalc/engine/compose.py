"""The chain-rule composer: derivatives of IR expressions in closed matrix form, with the steps that led there.

Contract: :func:`differentiate` takes an expression and what to differentiate by — a :class:`~matcalc.ir.Var`, a
:class:`~matcalc.ir.Named` (a ``let`` name: only the marked occurrences vary, other paths from the variables inside
are held fixed) or an :class:`~matcalc.ir.Entry` of a variable — and returns a :class:`Derivation` whose ``result``
has the shape ``ir.derivative_shape(expr.shape, wrt.shape, kind, layout)`` (SPEC section 4), simplified by
:mod:`matcalc.engine.simplify`, and whose ``steps`` name every rule used. The composer knows nothing about particular
operations: it hash-conses the expression (shared subexpressions become one node), walks it once in topological
order and looks the rules up in :mod:`matcalc.engine.rules`. A scalar output is differentiated in reverse mode (adjoints
shaped like each node, summed at shared nodes: an L-layer network costs O(L)); a vector or matrix output by composing
local Jacobians of ``vec``s (numerator layout, ``∂vec(W x)/∂vec(W) = xᵀ ⊗ I``), then converted to the layout asked
for. Derivatives by one entry (``d/dW[j, k]``) give entries, Kronecker deltas and index sums. A missing rule raises
:class:`~matcalc.engine.rules.UnsupportedDerivative` naming the operation. Derivatives with respect to a symmetric matrix
treat its entries as independent (the unconstrained gradient); the steps say so.
"""

from __future__ import annotations

from fractions import Fraction

import dataclasses
from dataclasses import dataclass, field

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import (
    Add, Apply, Delta, Derivative, Div, Entry, EPower, Expr, Hadamard, Identity, IndexSum, MatMul, Named, Neg, Num,
    Power, Scale, Transpose, Var, children, rebuild,
)
from matcalc.engine.rules import UnsupportedDerivative, col, fprime, fused_operand, mm, rule_for, vsize
from matcalc.shapes import is_scalar

__all__ = ["Step", "Derivation", "differentiate", "differentiate_many", "expand_derivatives", "intern", "node_count"]


@dataclass(frozen=True)
class Step:
    """One step of a derivation: a named rule turned ``before`` into ``after``."""

    rule: str
    before: Expr | None
    after: Expr
    note: str = ""


@dataclass
class Derivation:
    """The derivative of ``expr`` by ``wrt``: ``result`` in closed form, ``raw`` as composed, and the ``steps``."""

    expr: Expr
    wrt: Expr
    result: Expr
    steps: list[Step] = field(default_factory=list)
    kind: str = "d"
    layout: str = "mixed"
    raw: Expr | None = None

    def __str__(self) -> str:
        return str(self.result)


# ───────────────────────────── hash-consing ─────────────────────────────

_NONCHILD: dict[type, tuple[str, ...]] = {}


def _nonchild_fields(t: type) -> tuple[str, ...]:
    if t not in _NONCHILD:
        kids = set(ir._CHILD_FIELDS[t])
        _NONCHILD[t] = tuple(f.name for f in dataclasses.fields(t) if f.name not in kids)
    return _NONCHILD[t]


def intern(e: Expr, table: dict | None = None, memo: dict | None = None) -> Expr:
    """``e`` with structurally equal subexpressions made one object (linear time, no deep hashing)."""
    table = {} if table is None else table
    memo = {} if memo is None else memo

    def go(x: Expr) -> Expr:
        got = memo.get(id(x))
        if got is not None:
            return got[1]
        kids = children(x)
        if not kids:
            key = (type(x), x)
            new = x
        else:
            nk = [go(k) for k in kids]
            key = (type(x), tuple(id(k) for k in nk), tuple(getattr(x, f) for f in _nonchild_fields(type(x))))
            new = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        out = table.setdefault(key, (new, nk if kids else ()))[0]
        memo[id(x)] = (x, out)
        return out

    return go(e)


def node_count(*es: Expr) -> int:
    """The number of distinct IR nodes (by identity) in ``es`` — the size of the DAG."""
    seen: set[int] = set()
    stack = list(es)
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        stack.extend(children(x))
    return len(seen)


def _topo(root: Expr, is_leaf) -> list[Expr]:
    """Nodes of the DAG in post-order (children first), each once."""
    order: list[Expr] = []
    seen: set[int] = set()
    stack: list[tuple[Expr, bool]] = [(root, False)]
    while stack:
        x, done = stack.pop()
        if done:
            order.append(x)
            continue
        if id(x) in seen:
            continue
        seen.add(id(x))
        stack.append((x, True))
        if not is_leaf(x):
            for k in reversed(children(x)):
                if id(k) not in seen:
                    stack.append((k, False))
    return order


# ───────────────────────────── what we differentiate by ─────────────────────────────


def _matcher(wrt: Expr):
    if isinstance(wrt, Var):
        return lambda x: isinstance(x, Var) and x.name == wrt.name and x.dims == wrt.dims
    if isinstance(wrt, Named):
        return lambda x: isinstance(x, Named) and x.name == wrt.name
    raise MatcalcError(f"cannot differentiate by {type(wrt).__name__}: by a variable, a let name or an entry only")


def _has_derivative(e: Expr) -> bool:
    return any(isinstance(x, Derivative) for x in ir.walk(e))


# ───────────────────────────── reverse mode (scalar outputs) ─────────────────────────────


class _Tracer:
    """Simplifies the composer's intermediate results as they are formed and records the steps.

    One memoised simplifier serves a whole derivation (shared nodes are simplified once). For small expressions each
    rewrite is shown on the whole expression (``(A B)ᵀ = Bᵀ Aᵀ``, ``vᵀ diag(u) = (v ⊙ u)ᵀ``); for large ones the
    rewrites are summarised in one step, so the trace stays linear in the size of the expression.
    """

    DETAIL = 60  # tree-size limit for rewrite-by-rewrite display

    def __init__(self, steps: list[Step]) -> None:
        from matcalc.engine.simplify import Simplifier

        self.steps = steps
        self.simp = Simplifier(record=True)

    def simplify(self, e: Expr) -> Expr:
        n0 = len(self.simp.steps)
        out = self.simp.go(e)
        new = self.simp.steps[n0:]
        if out is e or out == e:
            return out
        if _tree_size(e, self.DETAIL) <= self.DETAIL:
            cur = e
            for name, b, a, why in new:
                nxt = _replace(cur, b, a)
                if nxt is not cur:
                    self.steps.append(Step(name, cur, nxt, why))
                    cur = nxt
            if not (cur is out or cur == out):
                self.steps.append(Step("simplify", cur, out, "the same rewrites, on the shared parts"))
        else:
            whys = list(dict.fromkeys(why for _n, _b, _a, why in new))
            self.steps.append(Step("simplify", e, out, "; ".join(whys[:6]) or "simplified"))
        return out


def _tree_size(e: Expr, limit: int) -> int:
    n, stack = 0, [e]
    while stack and n <= limit:
        x = stack.pop()
        n += 1
        stack.extend(children(x))
    return n


def _replace(e: Expr, old: Expr, new: Expr) -> Expr:
    """``e`` with the first occurrences of ``old`` replaced by ``new`` (``e`` itself when there is none)."""
    if e is old or (type(e) is type(old) and e == old):
        return new
    kids = children(e)
    if not kids:
        return e
    nk = [_replace(k, old, new) for k in kids]
    if all(a is b for a, b in zip(nk, kids)):
        return e
    return rebuild(e, nk)


def _reverse(expr: Expr, is_wrt, steps: list[Step], tracer: _Tracer | None = None) -> Expr | None:
    """The gradient of the scalar ``expr`` (shaped like the variable), or None if it does not depend on it."""
    return _reverse_many(expr, lambda x: 0 if is_wrt(x) else None, steps, tracer).get(0)


def _reverse_many(expr: Expr, which, steps: list[Step], tracer: _Tracer | None = None) -> dict:
    """Reverse mode for several variables at once: ``which(node)`` names the variable a leaf is (or None).

    Returns ``{name: gradient}`` for the variables ``expr`` depends on. Each node's adjoint is formed once, as the
    sum of its parents' contributions, and simplified once, so shared subexpressions cost once. Each step shows
    ``∂C/∂(operand)`` (``before``, a ``grad`` node) and the operand's adjoint contribution (``after``).
    """
    tracer = tracer or _Tracer(steps)
    is_leaf = lambda x: which(x) is not None  # noqa: E731
    order = _topo(expr, is_leaf)
    dep: dict[int, bool] = {}
    for x in order:
        dep[id(x)] = is_leaf(x) or any(dep.get(id(k), False) for k in children(x))
    if not dep[id(expr)]:
        return {}
    adj: dict[int, list[Expr]] = {id(expr): [Num(1)]}
    found: dict = {}
    for x in reversed(order):
        contribs = adj.pop(id(x), None)
        if contribs is None:
            continue
        contribs.reverse()  # in the order the operands appear
        g = contribs[0] if len(contribs) == 1 else Add(tuple(contribs))
        if len(contribs) > 1:
            steps.append(Step("shared-subexpression", _grad_of(expr, x), g, "a subexpression used several times: "
                              "its adjoints add up (total-derivative chain rule, P&H A6)"))
            g = tracer.simplify(g)
        key = which(x)
        if key is not None:
            found.setdefault(key, []).append(g)
            continue
        if isinstance(x, Named):
            adj.setdefault(id(x.value), []).append(g)
            continue
        for i, k, rule in _links(x):
            if not dep[id(k)]:
                continue
            if rule.vjp is None:
                raise UnsupportedDerivative(f"no reverse-mode rule for {rule.name}")
            gk = rule.vjp(x, g, i)
            steps.append(Step(rule.name, _grad_of(expr, k), gk, rule.note))
            adj.setdefault(id(k), []).append(tracer.simplify(gk))
    return {k: v[0] if len(v) == 1 else tracer.simplify(Add(tuple(v))) for k, v in found.items()}


def _links(x: Expr):
    """``(operand index, operand, rule)`` for each operand the composer differentiates ``x`` by.

    Usually the children with their rules; a fused rule (``‖u‖²`` by ``u``) replaces the chain through a child.
    """
    fused = fused_operand(x)
    if fused is not None:
        return [(0, fused[0], fused[1])]
    return [(i, k, rule_for(x, i)) for i, k in enumerate(children(x))]


def _grad_of(expr: Expr, x: Expr) -> Expr:
    """``∂expr/∂x`` as a ``grad`` node, the label of a reverse-mode step."""
    return Derivative(expr, x, "grad")


# ───────────────────────────── forward Jacobians (vector and matrix outputs) ─────────────────────────────


def _forward(expr: Expr, is_wrt, size, steps: list[Step], tracer: _Tracer | None = None) -> Expr | None:
    """``∂vec(expr)/∂vec(X)`` (numerator layout, ``|expr| × |X|``), or None if ``expr`` does not depend on X.

    Each step shows a local Jacobian ``∂node/∂operand`` and then the Jacobian chain rule ``∂node/∂X``.
    """
    tracer = tracer or _Tracer(steps)
    order = _topo(expr, is_wrt)
    jac: dict[int, Expr] = {}
    wrt_node = None
    for x in order:
        if is_wrt(x):
            jac[id(x)] = Identity(size)
            wrt_node = x
            continue
        if isinstance(x, Named):
            if id(x.value) in jac:
                jac[id(x)] = jac[id(x.value)]
            continue
        terms = []
        direct = False
        for i, k, rule in _links(x):
            jk = jac.get(id(k))
            if jk is None:
                continue
            if rule.jac is None:
                raise UnsupportedDerivative(f"no Jacobian rule for {rule.name}")
            local = rule.jac(x, i)
            steps.append(Step(rule.name, Derivative(x, k, "jacobian"), local, rule.note))
            local = tracer.simplify(local)
            direct = k is wrt_node
            terms.append(local if direct else mm(local, jk))
        if len(terms) == 1 and direct:
            jac[id(x)] = terms[0]  # the operand is X itself: ∂node/∂X is the local Jacobian
        elif terms:
            j = terms[0] if len(terms) == 1 else Add(tuple(terms))
            steps.append(Step("chain-rule", Derivative(x, wrt_node, "jacobian") if wrt_node is not None else None,
                              j, "Jacobian chain rule: ∂y/∂x = ∂y/∂u ∂u/∂x (P&H A6)"))
            jac[id(x)] = tracer.simplify(j)
    return jac.get(id(expr))


# ───────────────────────────── layouts ─────────────────────────────


def _layout_scalar(g: Expr, kind: str, layout: str) -> Expr:
    """A gradient (shaped like X) in the requested kind and layout."""
    if kind == "grad":
        return g
    if kind == "jacobian":
        return Transpose(col(g))
    return Transpose(g) if layout == "numerator" else g


def _layout_jacobian(j: Expr, expr: Expr, wrt: Expr, kind: str, layout: str) -> Expr:
    """A Jacobian of ``vec``s in the requested kind and layout."""
    if kind == "jacobian":
        return j
    k, l = expr.shape
    if is_scalar(wrt.shape):
        if l == 1:
            return Transpose(j) if layout == "denominator" else j
        if k == 1:
            return j if layout == "denominator" else Transpose(j)
        from matcalc.engine.rules import unvec

        g = unvec(j, expr.shape)  # dY/dc shaped like Y
        return Transpose(g) if layout == "denominator" else g
    return Transpose(j) if layout == "denominator" else j


# ───────────────────────────── the entry point ─────────────────────────────


def differentiate(expr: Expr, wrt: Expr, *, kind: str = "d", layout: str = "mixed") -> Derivation:
    """The derivative of ``expr`` by ``wrt`` in closed matrix form, with its derivation steps.

    Args:
        expr: the expression (nested ``Derivative`` nodes are expanded first, innermost first).
        wrt: an ``ir.Var``, an ``ir.Named`` (a let name) or ``ir.Entry(Var, indices)``.
        kind: ``"d"`` (in ``layout``), ``"grad"`` (shaped like ``wrt``) or ``"jacobian"`` (numerator, of ``vec``s).
        layout: ``"mixed"``, ``"numerator"`` or ``"denominator"`` (SPEC section 4).

    Raises:
        UnsupportedDerivative: an operation without a rule (named in the message).
    """
    return differentiate_many(expr, [wrt], kind=kind, layout=layout)[0]


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


def differentiate_many(expr: Expr, wrts: list[Expr], *, kind: str = "d", layout: str = "mixed") -> list[Derivation]:
    """:func:`differentiate` by several variables at once, sharing one reverse pass and one simplifier.

    For a scalar ``expr`` (a cost) this is backpropagation: the gradients by every weight and bias of an L-layer
    network cost O(L) time and O(L) distinct result nodes together. The derivations share their steps.
    """
    with _deep():
        return _differentiate_many(expr, wrts, kind=kind, layout=layout)


def _differentiate_many(expr: Expr, wrts: list[Expr], *, kind: str = "d", layout: str = "mixed") -> list[Derivation]:
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
                                  "symmetric directions; the Matrix Cookbook, sec. 2.8, uses G + Gᵀ − diag(G))"))
            else:
                steps.append(Step("symmetric-convention", None, wrt, f"{wrt.name} is symmetric: its entries are "
                                  "treated as independent in this Jacobian"))
    tracer = _Tracer(steps)
    raws: list[Expr] = []
    notes: list[str] = []
    plain = [i for i, w in enumerate(wrts) if not isinstance(w, Entry)]
    grads: dict = {}
    if is_scalar(expr.shape) and plain:
        by_var = {(wrts[i].name, wrts[i].dims): i for i in reversed(plain) if isinstance(wrts[i], Var)}
        by_name = {wrts[i].name: i for i in reversed(plain) if isinstance(wrts[i], Named)}
        for i in plain:
            _matcher(wrts[i])  # rejects anything else

        def which(x):  # a dictionary lookup: O(1) per node for any number of variables
            if isinstance(x, Var):
                return by_var.get((x.name, x.dims))
            if isinstance(x, Named):
                return by_name.get(x.name)
            return None

        grads = _reverse_many(expr, which, steps, tracer)
        for i in plain:  # a variable asked for twice gets the same gradient
            w = wrts[i]
            first = by_var.get((w.name, w.dims)) if isinstance(w, Var) else by_name.get(w.name)
            if first in grads:
                grads[i] = grads[first]
    for i, wrt in enumerate(wrts):
        if isinstance(wrt, Entry):
            raws.append(_by_entry(expr, wrt, steps, tracer))
            notes.append("derivative by one entry: index rules")
        elif is_scalar(expr.shape):
            g = grads.get(i)
            g = ir.Zeros(wrt.shape) if g is None else g
            if isinstance(wrt, Var) and ("symmetric" in wrt.props or "spd" in wrt.props) and g.shape[0] != 1:
                g = ir.Scale(ir.Num(Fraction(1, 2)), ir.Add((g, ir.Transpose(g))))
            raws.append(_layout_scalar(g, kind, layout))
            notes.append("Jacobian chain rule, accumulated from the output back (reverse mode: adjoints shaped "
                         "like each node)")
        else:
            j = _forward(expr, _matcher(wrt), vsize(wrt), steps, tracer)
            j = ir.Zeros((vsize(expr), vsize(wrt))) if j is None else j
            raws.append(_layout_jacobian(j, expr, wrt, kind, layout))
            notes.append("Jacobian chain rule: the product of the local Jacobians (numerator layout)")
    out = []
    for wrt, raw, note in zip(wrts, raws, notes):
        target = ir.derivative_shape(original.shape, wrt.shape, kind, layout)
        st = list(steps)
        st.append(Step("chain-rule", Derivative(original, wrt, kind, layout), raw, note))
        local = _Tracer(st)
        local.simp = tracer.simp  # the shared memo: the parts simplified above are not redone
        result = local.simplify(raw)
        if result.shape != target:
            raise MatcalcError(f"internal error: the derivative has shape {result.shape}, expected {target}")
        if kind == "d" and layout != "mixed" and not isinstance(wrt, Entry):
            st.append(Step("layout", None, result, f"{layout} layout (SPEC section 4)"))
        if len(wrts) == 1 and is_scalar(expr.shape) and not isinstance(wrt, Entry):
            lecture = _lecture_steps(expr, wrt, result, kind, layout, tracer.simp)
            if lecture is not None:
                st = [s_ for s_ in steps if s_.rule in ("expand-derivatives", "symmetric-convention")] + lecture
        out.append(Derivation(original, wrt, result, st, kind, layout, raw))
    return out


# ───────────────────────────── the lecture's presentation: Jacobians along one path ─────────────────────────────

_LECTURE_MAX_PATH = 12


def _lecture_steps(expr: Expr, wrt: Expr, result: Expr, kind: str, layout: str, simp) -> list[Step] | None:
    """The derivation as the lecture writes it, when ``wrt`` reaches the scalar ``expr`` along one path.

    Inner and outer functions are named, the Jacobian of each (numerator layout) is given, the Jacobian chain
    rule multiplies them into a row, the simplifier brings the row to closed form (``(A B)ᵀ = Bᵀ Aᵀ``,
    ``vᵀ diag(u) = (v ⊙ u)ᵀ``), and the row becomes the derivative in the layout asked for. Returns None (the
    reverse-mode trace is kept) when there are several paths, the path is long, or anything is unsupported.
    """
    is_wrt = _matcher(wrt)
    try:
        path: list[tuple[Expr, tuple]] = []
        x = expr
        while not is_wrt(x):
            if isinstance(x, Named):
                x = x.value
                continue
            links = [(i, k, r) for i, k, r in _links(x) if _reaches(k, is_wrt)]
            if len(links) != 1 or len(path) >= _LECTURE_MAX_PATH:
                return None
            path.append((x, links[0]))
            x = links[0][1]
        if not path:
            return None
        steps: list[Step] = []
        tracer = _Tracer(steps)
        tracer.simp = simp
        from matcalc.printing import to_text

        inner = path[0][1][1]
        inner_txt = to_text(inner)
        inner_txt = inner_txt if len(inner_txt) <= 60 else inner_txt[:57] + "…"
        steps.append(Step("chain", expr, expr, f"outer and inner functions: the outer function of u = {inner_txt}, "
                          "and so on down to the variable; differentiated link by link (P&H A6)"))
        jacs = []
        for node, (i, u, rule) in path:
            if rule.jac is None:
                return None
            local = rule.jac(node, i)
            steps.append(Step(rule.name, Derivative(node, u, "d", "numerator"), local, f"Jacobian: {rule.statement}"))
            jacs.append(tracer.simplify(local))
        product = MatMul(tuple(jacs)) if len(jacs) > 1 else jacs[0]
        steps.append(Step("chain-rule", Derivative(expr, wrt, "jacobian"), product,
                          "Jacobian chain rule: ∂C/∂x = ∂C/∂u ∂u/∂x, the product of the Jacobians (numerator layout)"))
        row = tracer.simplify(product)
        r, c = wrt.shape
        if c == 1:  # a scalar or a column: the row is the numerator-layout derivative
            if kind == "d" and layout == "numerator":
                final = row
            else:
                final = Transpose(row)
                steps.append(Step("gradient", row, final, "the gradient is the transposed Jacobian (mixed layout: "
                                  "a column, like x)"))
                final = tracer.simplify(final)
        else:
            core = row
            while isinstance(core, (Scale, Neg)):
                core = core.arg
            if not isinstance(core, ir.Kron):
                return None  # no closed row form: the reverse-mode trace reads better
            steps.append(Step("vec-reshape", row, result, "∂C/∂vec(X) = vec(∂C/∂X)ᵀ, with vec(u xᵀ) = x ⊗ u "
                              "(Magnus & Neudecker): the derivative shaped by the layout"))
            final = result
        if not (final is result or final == result):
            return None  # the chain did not reach the closed form: keep the reverse-mode trace
        return steps
    except MatcalcError:
        return None


def _reaches(e: Expr, is_wrt) -> bool:
    stack, seen = [e], set()
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if is_wrt(x):
            return True
        stack.extend(children(x))
    return False


def expand_derivatives(expr: Expr) -> Expr:
    """``expr`` with every ``Derivative`` node replaced by its closed form (innermost first)."""
    with _deep():
        return _expand_derivatives(expr)


def _expand_derivatives(expr: Expr) -> Expr:
    memo: dict[int, Expr] = {}

    def go(x: Expr) -> Expr:
        if id(x) in memo:
            return memo[id(x)]
        if isinstance(x, Derivative):
            inner = go(x.expr)
            out = differentiate(inner, x.wrt, kind=x.kind, layout=x.layout).result
        else:
            kids = children(x)
            if not kids:
                out = x
            else:
                nk = [go(k) for k in kids]
                out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        memo[id(x)] = out
        return out

    return go(expr)


# ───────────────────────────── derivatives by one entry ─────────────────────────────


def _has_index(e: Expr) -> bool:
    return any(isinstance(x, (Entry, IndexSum, Delta)) for x in ir.walk(e))


def _by_entry(expr: Expr, wrt: Entry, steps: list[Step], tracer: _Tracer | None = None) -> Expr:
    """``∂expr/∂X[p, q]`` for a scalar ``expr``: entries of the gradient, or index rules for index expressions."""
    X = wrt.arg
    if not isinstance(X, Var):
        raise MatcalcError("a derivative by an entry needs an entry of a variable, such as W[j, k]")
    if not is_scalar(expr.shape):
        raise UnsupportedDerivative("the derivative of a vector or matrix by one entry (take an entry of it first)")
    is_x = _matcher(X)
    return _dentry(expr, X, wrt.idx, is_x, steps)


def _depends(e: Expr, X: Var) -> bool:
    return any(isinstance(x, Var) and x.name == X.name and x.dims == X.dims for x in ir.walk(e))


def _deltas(idx: tuple, pq: tuple) -> Expr:
    ds = [Delta(a, b) for a, b in zip(idx, pq)]
    out: Expr = ds[0]
    for d in ds[1:]:
        out = Scale(out, d)
    return out


def _entry_of_jacobian(A: Expr, idx: tuple, X: Var, pq: tuple, is_x, steps) -> Expr:
    """``∂A[idx]/∂X[pq]`` for a matrix expression ``A`` without index nodes."""
    if is_scalar(A.shape):
        return _dentry(A, X, pq, is_x, steps)
    if A.shape[1] == 1 and X.shape[1] == 1 and len(idx) == 1:
        j = _forward(A, is_x, vsize(X), steps)
        if j is None:
            return Num(0)
        return Entry(j, (idx[0], pq[0]))
    # in general the entry's gradient needs unit vectors, which the IR does not have
    raise UnsupportedDerivative("the derivative of an entry of a matrix expression by an entry (write it with "
                                "index sums, or differentiate the whole expression)")


def _dentry(e: Expr, X: Var, pq: tuple, is_x, steps: list[Step]) -> Expr:
    """Forward differentiation of a scalar (1×1) expression by the entry ``X[pq]``."""
    if not _depends(e, X):
        return Num(0)
    if not _has_index(e):
        g = _reverse(e, is_x, steps)
        if g is None:
            return Num(0)
        out = Entry(g, pq)
        steps.append(Step("entry", e, out, "∂e/∂X[p, q] = (∂e/∂X)[p, q]: an entry of the gradient"))
        return out
    d = lambda x: _dentry(x, X, pq, is_x, steps)  # noqa: E731
    match e:
        case Entry(arg=A, idx=idx) if is_x(A):
            out = _deltas(idx, pq)
            steps.append(Step("entry", e, out, "∂X[i, j]/∂X[p, q] = [i = p][j = q]"))
            return out
        case Entry(arg=Named(value=v), idx=idx):
            return d(Entry(v, idx))
        case Entry(arg=A, idx=idx):
            if not _has_index(A):
                from matcalc.engine.simplify import _idx2, componentwise

                comp = componentwise(A, *_idx2(A, idx))
                if not (isinstance(comp, Entry) and comp.arg is A):
                    steps.append(Step("componentwise", e, comp, "(A B)[i, j] = Σ_k A[i, k] B[k, j]: the entry in "
                                      "index form"))
                    return d(comp)
            return _entry_of_jacobian(A, idx, X, pq, is_x, steps)
        case IndexSum(index=k, body=b):
            out = IndexSum(k, d(b))
            steps.append(Step("index-sum", e, out, "∂(Σ_k e_k)/∂v = Σ_k ∂e_k/∂v"))
            return out
        case Named(value=v):
            return d(v)
        case Add(args=args):
            return Add(tuple(d(a) for a in args))
        case Neg(arg=a):
            return Neg(d(a))
        case Scale(scalar=a, arg=b) if is_scalar(b.shape):
            return Add((Scale(d(a), b), Scale(a, d(b))))
        case Hadamard(a=a, b=b):
            return Add((Scale(d(a), b), Scale(a, d(b))))
        case MatMul(args=args) if all(is_scalar(a.shape) for a in args):
            terms = []
            for i in range(len(args)):
                parts = [d(a) if j == i else a for j, a in enumerate(args)]
                t = parts[0]
                for p_ in parts[1:]:
                    t = Scale(t, p_)
                terms.append(t)
            return terms[0] if len(terms) == 1 else Add(tuple(terms))
        case Div(arg=a, scalar=c):
            return Add((Div(d(a), c), Neg(Div(Scale(a, d(c)), Power(c, 2)))))
        case ir.HadDiv(a=a, b=c):
            return Add((Div(d(a), c), Neg(Div(Scale(a, d(c)), Power(c, 2)))))
        case Power(base=c, exp=k):
            return Scale(Scale(Num(k), Power(c, k - 1)), d(c))
        case EPower(base=c, exp=k):
            return Scale(Scale(Num(k), Power(c, k - 1)), d(c))
        case Apply(fn=fn, arg=a, order=o, declared=dec):
            return Scale(fprime(fn, a, o, dec), d(a))
        case Transpose(arg=a):
            return d(a)
    raise UnsupportedDerivative(f"the derivative by an entry of {type(e).__name__} over index expressions")


"""The chain-rule composer: the walks that compose derivative rules, and the record of the steps taken.

Contract: the composer knows nothing about particular operations. It hash-conses an expression (:func:`intern`:
shared subexpressions become one node), walks it once in topological order and looks the rules up in
:mod:`matcalc.engine.rules`. A scalar output is differentiated in reverse mode (:func:`reverse_many`: adjoints
shaped like each node, summed at shared nodes, so an L-layer network costs O(L)); a vector or matrix output by
composing local Jacobians of ``vec``s (:func:`forward`: numerator layout, ``∂vec(W x)/∂vec(W) = xᵀ ⊗ I``), then
converted to the layout asked for (:func:`layout_scalar`, :func:`layout_jacobian`). Intermediate results are
simplified as they are formed by :class:`Tracer` (with :mod:`matcalc.engine.simplify`), and every rule used is a
:class:`Step` of the :class:`Derivation`. A missing rule raises :class:`~matcalc.engine.rules.UnsupportedDerivative`
naming the operation. The entry point, :func:`matcalc.engine.differentiate`, lives in
:mod:`matcalc.engine.differentiation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import Add, Derivative, Expr, Identity, Named, Num, Transpose, Var, children, rebuild
from matcalc.engine.build import col, mm, unvec
from matcalc.engine.rules import UnsupportedDerivative, fused_operand, rule_for
from matcalc.engine.simplify import Simplifier, visible
from matcalc.shapes import is_scalar

__all__ = ["Step", "Derivation", "Tracer", "rewrite_why", "intern", "node_count", "matcher", "links", "reverse", "reverse_many", "forward",
           "layout_scalar", "layout_jacobian"]


@dataclass(frozen=True)
class Step:
    """One step of a derivation: a named rule turned ``before`` into ``after``."""

    rule: str
    before: Expr | None
    after: Expr
    note: str = ""
    #: how the lecture's presentation labels the equation (render/steps.py reads it): ``("d", f, u)`` ∂f/∂u,
    #: ``("grad", f, x)`` ∇_x f, ``("through", k, "x")`` the k-th occurrence's contribution, ``("defs",)`` the
    #: definitions in ``defs``; empty for the composer's steps
    label: tuple = ()
    defs: tuple = ()
    #: the equation the step states, ``(lhs, rhs)`` in IR, when it is not ``before = after`` (a contribution)
    claim: tuple | None = None


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
    #: names the result is written with and defines itself (``s = σ(X w)`` in ``Xᵀ diag(s ⊙ (1 − s)) X``)
    where: tuple = ()

    def __str__(self) -> str:
        return str(self.result)


# ───────────────────────────── hash-consing ─────────────────────────────

_NONCHILD: dict[type, tuple[str, ...]] = {}


def _nonchild_fields(t: type) -> tuple[str, ...]:
    if t not in _NONCHILD:
        kids = set(ir._CHILD_FIELDS[t])
        _NONCHILD[t] = tuple(f for f in t._fields if f not in kids)
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


def matcher(wrt: Expr):
    if isinstance(wrt, Var):
        return lambda x: isinstance(x, Var) and x.name == wrt.name and x.dims == wrt.dims
    if isinstance(wrt, Named):
        return lambda x: isinstance(x, Named) and x.name == wrt.name
    raise MatcalcError(f"cannot differentiate by {type(wrt).__name__}: by a variable, a let name or an entry only")



# ───────────────────────────── reverse mode (scalar outputs) ─────────────────────────────


class Tracer:
    """Simplifies the composer's intermediate results as they are formed and records the steps.

    One memoised simplifier serves a whole derivation (shared nodes are simplified once). The rewrites of one
    simplification are one step of algebra whose note lists the rules that fired (``(A B)ᵀ = Bᵀ Aᵀ; vᵀ diag(u) =
    (v ⊙ u)ᵀ``), so the trace stays linear in the size of the expression and no step shows a half-way form.
    """

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.simp = Simplifier(record=True)

    def simplify(self, e: Expr) -> Expr:
        n0 = len(self.simp.steps)
        out = self.simp.go(e)
        new = self.simp.steps[n0:]
        if out is e or out == e:
            return out
        # one grouped step of algebra, listing each rule that fired once (in the order they fired)
        whys = list(dict.fromkeys(rewrite_why(*r) for r in new if visible(r[1], r[2])))
        self.steps.append(Step("simplify", e, out, "; ".join(whys) or "the same rewrites, on the shared parts"))
        return out


def rewrite_why(name: str, before: Expr, after: Expr, why: str) -> str:
    """The statement of one recorded rewrite, corrected where the simplifier names a cancellation by its shape.

    The simplifier describes a rewrite by the shape of the expression it rewrote, so ``1ᵀ y = 1`` (y a probability
    vector) and ``aᵀ (b ⊙ a.^-1) = 1ᵀ b`` would be cited as ``xᵀ y is a scalar``; a rewrite that the cancellation
    rule makes is cited as that rule.
    """
    from matcalc.engine.simplify import r_cancel

    try:
        cancelled = r_cancel(before)
    except Exception:  # noqa: BLE001 - a description must not fail the derivation
        cancelled = None
    if cancelled is None or cancelled != after:
        return why
    if isinstance(after, Num) and after.value == 1:
        return "1ᵀ y = Σᵢ yᵢ = 1 for a probability vector y"
    if isinstance(before, ir.MatMul):
        return "aᵀ (b ⊙ a.^-1) = 1ᵀ b"
    return "a ⊙ b ⊙ a.^-1 = b"


def reverse(expr: Expr, is_wrt, steps: list[Step], tracer: Tracer | None = None) -> Expr | None:
    """The gradient of the scalar ``expr`` (shaped like the variable), or None if it does not depend on it."""
    return reverse_many(expr, lambda x: 0 if is_wrt(x) else None, steps, tracer).get(0)


def reverse_many(expr: Expr, which, steps: list[Step], tracer: Tracer | None = None) -> dict:
    """Reverse mode for several variables at once: ``which(node)`` names the variable a leaf is (or None).

    Returns ``{name: gradient}`` for the variables ``expr`` depends on. Each node's adjoint is formed once, as the
    sum of its parents' contributions, and simplified once, so shared subexpressions cost once. Each step shows
    ``∂C/∂(operand)`` (``before``, a ``grad`` node) and the operand's adjoint contribution (``after``).
    """
    tracer = tracer or Tracer(steps)
    is_leaf = lambda x: which(x) is not None  # noqa: E731
    order = _topo(expr, is_leaf)
    dep: dict[int, bool] = {}
    for x in order:
        dep[id(x)] = is_leaf(x) or any(dep.get(id(k), False) for k in children(x))
    if not dep[id(expr)]:
        return {}
    reach = {id(expr)}  # the nodes the walk visits: a fused rule (‖u‖² by u) skips the nodes inside it
    for x in reversed(order):
        if id(x) in reach and dep[id(x)] and not is_leaf(x):
            reach.update(id(k) for k in ((x.value,) if isinstance(x, Named) else [k for _i, k, _r in links(x)]))
    fan: dict[int, int] = {}  # how many operand slots of dependent nodes each node fills
    for x in order:
        if dep[id(x)] and not is_leaf(x) and id(x) in reach:
            for k in ((x.value,) if isinstance(x, Named) else [k for _i, k, _r in links(x)]):
                fan[id(k)] = fan.get(id(k), 0) + 1
    held = _not_whole(expr, order, dep, which)
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
                              "its adjoints add up (Parr & Howard, \"Single-variable total-derivative chain rule\")"))
            g = tracer.simplify(g)
        key = which(x)
        if key is not None:
            found.setdefault(key, []).append(g)
            continue
        if isinstance(x, Named):
            adj.setdefault(id(x.value), []).append(g)
            continue
        for i, k, rule in links(x):
            if not dep[id(k)]:
                continue
            if rule.vjp is None:
                raise UnsupportedDerivative(f"no reverse-mode rule for {rule.name}")
            gk = rule.vjp(x, g, i)
            # a node used several times gets one contribution per use: labelled as a part, never as the whole
            # (an operand such as xᵀ in xᵀ A x, used once but with x used elsewhere too: the others held fixed)
            label = ("part", expr, k) if fan.get(id(k), 0) > 1 else ("held", expr, k) if id(k) in held else ()
            steps.append(Step(rule.name, _grad_of(expr, k), gk, rule.note, label=label))
            adj.setdefault(id(k), []).append(tracer.simplify(gk))
    return {k: v[0] if len(v) == 1 else tracer.simplify(Add(tuple(v))) for k, v in found.items()}


def _not_whole(expr: Expr, order: list, dep: dict, which) -> set[int]:
    """The dependent nodes ``k`` through which only some of the paths from ``expr`` to a variable pass (``xᵀ`` in
    ``xᵀ A x``): the adjoint of such a node is not the whole derivative by what it contains. A node passes all of
    a variable's paths when (paths from ``expr`` to it) × (its paths to the variable) = all of the variable's paths.
    """
    into: dict[int, int] = {id(expr): 1}  # paths from expr to each node
    for x in reversed(order):
        n = into.get(id(x), 0)
        if not n or which(x) is not None or not dep[id(x)]:
            continue
        for k in ((x.value,) if isinstance(x, Named) else [k for _i, k, _r in links(x)]):
            if dep[id(k)]:
                into[id(k)] = into.get(id(k), 0) + n
    down: dict[int, dict] = {}  # paths from each node to each variable
    for x in order:
        if not dep[id(x)]:
            continue
        key = which(x)
        if key is not None:
            down[id(x)] = {key: 1}
            continue
        acc: dict = {}
        for k in ((x.value,) if isinstance(x, Named) else [k for _i, k, _r in links(x)]):
            for v, c in down.get(id(k), {}).items():
                acc[v] = acc.get(v, 0) + c
        down[id(x)] = acc
    total = down.get(id(expr), {})
    return {i for i, counts in down.items() if i in into and any(into[i] * c != total[v] for v, c in counts.items())}


def links(x: Expr):
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


def forward(expr: Expr, is_wrt, size, steps: list[Step], tracer: Tracer | None = None) -> Expr | None:
    """``∂vec(expr)/∂vec(X)`` (numerator layout, ``|expr| × |X|``), or None if ``expr`` does not depend on X.

    Each step shows a local Jacobian ``∂node/∂operand`` and then the Jacobian chain rule ``∂node/∂X``.
    """
    tracer = tracer or Tracer(steps)
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
        for i, k, rule in links(x):
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
                              j, "Jacobian chain rule: ∂y/∂x = ∂y/∂u ∂u/∂x (Parr & Howard, \"Vector chain rule\")"))
            jac[id(x)] = tracer.simplify(j)
    return jac.get(id(expr))


# ───────────────────────────── layouts ─────────────────────────────


def layout_scalar(g: Expr, kind: str, layout: str) -> Expr:
    """A gradient (shaped like X) in the requested kind and layout."""
    if kind == "grad":
        return g
    if kind == "jacobian":
        return Transpose(col(g))
    return Transpose(g) if layout == "numerator" else g


def layout_jacobian(j: Expr, expr: Expr, wrt: Expr, kind: str, layout: str) -> Expr:
    """A Jacobian of ``vec``s in the requested kind and layout."""
    if kind == "jacobian":
        return j
    k, l = expr.shape
    if is_scalar(wrt.shape):
        if l == 1:
            return Transpose(j) if layout == "denominator" else j
        if k == 1:
            return j if layout == "denominator" else Transpose(j)
        g = unvec(j, expr.shape)  # dY/dc shaped like Y
        return Transpose(g) if layout == "denominator" else g
    return Transpose(j) if layout == "denominator" else j

"""Second order as the textbook writes it: the chain rule's two terms named, and repeated activations named.

Contract: :func:`gauss_newton_steps` presents the Hessian of a declared ``C: R^n -> R`` at an inner function
``u = g(x)`` by the second-order chain rule, ``∇²(C∘g) = Jᵀ ∇²C(u) J + Σ_k ∂C/∂u_k ∇²u_k`` — the Gauss–Newton
term and the curvature term each on its own row (Nocedal & Wright, *Numerical Optimization*, §10.3), computed by
the engine (the curvature term as the Hessian of ``cᵀ g(x)`` with ``c`` held fixed, then ``c = C'(u)``).
:func:`name_shared` writes a Hessian's repeated ``σ(v)`` as ``s`` and ``softmax(z)`` as ``p`` (``Xᵀ diag(s ⊙ (1 −
s)) X, s = σ(X w)``; ``diag(p) − p pᵀ``): the names are ``ir.Named`` nodes, so the result keeps its value.
"""

from __future__ import annotations

from matcalc import ir
from matcalc.engine.compose import Step
from matcalc.ir import Expr, Named
from matcalc.shapes import dim_symbols, is_scalar

__all__ = ["gauss_newton_steps", "name_shared", "SECOND_ORDER_CHAIN"]

def _labels(u: str, j: str = "J", k: str = "k") -> tuple[tuple[str, str], tuple[str, str]]:
    """The Gauss–Newton and curvature rows' labels, text and LaTeX (render/steps.py prints ``("term", text,
    latex)``), for the inner function named ``u``, its Jacobian named ``j`` (J2 where the document has its own J:
    every equation shown is true as written) and the summation index ``k`` (not a dimension's name)."""
    gn = (f"Gauss–Newton term {j}ᵀ ∇²C({u}) {j}:",
          f"\\text{{Gauss--Newton term }} {j}^{{\\top}} \\nabla^{{2}} C\\left({u}\\right) {j}\\text{{:}}")
    curv = (f"curvature term Σ_{k} ∂C/∂{u}_{k} ∇²{u}_{k}:",
            f"\\text{{curvature term }} \\sum_{{{k}}} \\frac{{\\partial C}}{{\\partial {u}_{{{k}}}}} "
            f"\\nabla^{{2}} {u}_{{{k}}}\\text{{:}}")
    return gn, curv


SECOND_ORDER_CHAIN = ("second-order chain rule ∇²(C∘u) = Jᵀ ∇²C(u) J + Σ_k ∂C/∂u_k ∇²u_k: the Gauss–Newton term "
                      "plus the curvature term (Nocedal & Wright, Numerical Optimization, section 10.3)")


def _fresh(base: str, taken: set) -> str:
    if base not in taken:
        return base
    k = 2
    while f"{base}{k}" in taken:
        k += 1
    return f"{base}{k}"


def _names_in(e: Expr) -> set:
    out = set()
    for x in ir.distinct(e):
        if isinstance(x, (ir.Var, Named)):
            out.add(x.name)
        elif isinstance(x, (ir.CallVec, ir.Apply)):
            out.add(x.fn)
    return out


def _substitute(e: Expr, old: Expr, new: Expr) -> Expr:
    memo: dict[int, Expr] = {}

    def go(x: Expr) -> Expr:
        if id(x) in memo:
            return memo[id(x)]
        if x == old:
            out = new
        else:
            kids = ir.children(x)
            nk = [go(k) for k in kids]
            out = x if all(a is b for a, b in zip(nk, kids)) else ir.rebuild(x, nk)
        memo[id(x)] = out
        return out

    return go(e)


def _is_zero(e: Expr) -> bool:
    return isinstance(e, ir.Zeros) or (isinstance(e, ir.Num) and e.value == 0)


def gauss_newton_steps(expr: Expr, wrt: Expr, layout: str, result: Expr, taken: set,
                       differentiate) -> list[Step] | None:
    """The rows of ``∇²_x C(g(x))`` by the second-order chain rule, ending in ``result`` (the engine's closed form),
    or None when ``expr`` is not a declared function of a vector at an inner function of the column ``wrt``.
    ``differentiate``: the engine's entry point (:func:`matcalc.engine.differentiation.differentiate`; passed in,
    as that module calls this one)."""
    from matcalc.engine.textbook import textbook

    if not (isinstance(expr, ir.CallVec) and expr.order == 0 and isinstance(wrt, ir.Var) and wrt.shape[1] == 1
            and not is_scalar(wrt.shape)):
        return None
    g = expr.arg
    if g == wrt or wrt not in set(ir.distinct(g)):
        return None
    taken = set(taken) | _names_in(expr) | {wrt.name}
    u = g if isinstance(g, Named) else Named(_fresh("u", taken), g)
    f = Named(_fresh("f", taken | {u.name}), ir.CallVec(expr.fn, u, 0))
    jac = differentiate(g, wrt, kind="jacobian", layout=layout).result
    J = Named(_fresh("J", taken | {u.name, f.name}), jac)
    gn_form = ir.MatMul((ir.Transpose(J), ir.CallVec(expr.fn, u, 2), J))
    gn = textbook(ir.MatMul((ir.Transpose(jac), ir.CallVec(expr.fn, u, 2), jac)))
    c = ir.Var(_fresh("c", taken | {u.name, f.name, J.name}), g.shape)
    hc = differentiate(ir.MatMul((ir.Transpose(c), g)), wrt, kind="hessian", layout=layout)
    curv_c = hc.result
    for n in hc.where:  # its own names (s = σ(…)) written out again: this row names nothing
        curv_c = _substitute(curv_c, n, n.value)
    curv = textbook(_substitute(curv_c, c, ir.CallVec(expr.fn, u, 1))) if not _is_zero(curv_c) else curv_c
    head = ir.Derivative(expr, wrt, "hessian", layout)
    total = gn if _is_zero(curv) else ir.Add((gn, curv))
    un, x = u.name, wrt.name
    dims = {d for n in ir.distinct(expr) for side in n.shape for d in dim_symbols(side)}
    k = next(i for i in ("k", "i", "j", "l", "q", "r") if i not in taken | dims | {un, x, J.name})
    gn_label, curv_label = _labels(un, J.name, k)
    steps = [
        Step("chain", None, f.value, f"outer and inner functions: a declared C at an inner function {un} of {x}",
             label=("defs",), defs=(f, u)),
        Step("jacobian", ir.Derivative(g, wrt, "jacobian", layout), jac, "the Jacobian of the inner function",
             label=("term", f"{J.name} = ∂{un}/∂{x}", f"{J.name} = \\frac{{\\partial {un}}}{{\\partial {x}}}")),
        Step("gauss-newton", None, gn, f"{J.name} = ∂{un}/∂{x}; ∇²C({un}) = C''({un}), symmetric",
             label=("term", *gn_label), claim=(gn_form, gn)),
        Step("curvature", None, curv,
             f"zero: {un} is linear in {x}" if _is_zero(curv) else
             f"the Hessian of cᵀ {un} by {x} with c held fixed, then c = C'({un}) = ∇C({un})",
             label=("term", *curv_label)),
        Step("second-order-chain", head, total, SECOND_ORDER_CHAIN.replace("(C∘u)", f"(C∘{un})").replace(
            "Jᵀ ∇²C(u) J", f"{J.name}ᵀ ∇²C({un}) {J.name}").replace("Σ_k ∂C/∂u_k ∇²u_k", f"Σ_{k} ∂C/∂{un}_{k} ∇²{un}_{k}"),
             label=("hessian", f, wrt),
             claim=(head, total)),
    ]
    if result != total:
        from matcalc.engine.textbook import use_names

        why = "A X B + A Y B = A (X + Y) B"
        if u is not g:  # the name is this derivation's own: the result is written without it
            why = f"{un} = {g}" if use_names(result, {g: u}) == total else f"{why}; {un} = {g}"
        steps.append(Step("algebra", total, result, why, label=("same",)))
    return steps


#: The activations a Hessian's result names when they occur more than once: σ(v) as s, softmax(z) as p.
_NAMES = {"sigma": "s"}


def _candidate(x: Expr) -> str | None:
    if isinstance(x, ir.Softmax):
        return "p"
    if isinstance(x, ir.Apply) and x.order == 0 and not x.declared and x.fn in _NAMES:
        return _NAMES[x.fn]
    return None


def name_shared(result: Expr, taken: set, known: tuple = ()) -> tuple[Expr, tuple]:
    """``result`` with each activation that occurs more than once written as a name (``s = σ(X w)``, ``p =
    softmax(z)``) and the names' definitions; ``(result, ())`` when there is none. ``taken``: names in use;
    ``known``: names the trace already defined (``Named``), kept for their own value and avoided for any other."""
    uses: dict[Expr, int] = {}
    for x in ir.distinct(result):
        if isinstance(x, Named):
            continue
        for k in ir.children(x):
            if _candidate(k) is not None:
                uses[k] = uses.get(k, 0) + 1
    shared = [k for k, n in uses.items() if n > 1]
    if not shared:
        return result, ()
    taken = set(taken) | _names_in(result) | {n.name for n in known}
    mine = {n.value: n.name for n in known}
    by_value: dict = {}
    defs = []
    for k in shared:
        name = mine.get(k) or _fresh(_candidate(k), taken)
        taken.add(name)
        n = Named(name, k)
        by_value[k] = n
        defs.append(n)
    from matcalc.engine.textbook import use_names

    return _ones_as_one(use_names(result, by_value)), tuple(defs)


def _ones_as_one(e: Expr) -> Expr:
    """``ones(N) - s`` as ``1 - s`` (a scalar expanded by the sum, as the book writes ``1 − s``; it reads back)."""
    memo: dict[int, Expr] = {}

    def go(x: Expr) -> Expr:
        if id(x) in memo:
            return memo[id(x)]
        kids = ir.children(x)
        nk = [go(k) for k in kids]
        if isinstance(x, ir.Add) and any(not isinstance(k, (ir.Ones, ir.Broadcast)) for k in nk):
            nk = [ir.Broadcast(ir.Num(1), k.dims) if isinstance(k, ir.Ones) else k for k in nk]
        out = x if all(a is b for a, b in zip(nk, kids)) else ir.rebuild(x, nk)
        memo[id(x)] = out
        return out

    return go(e)

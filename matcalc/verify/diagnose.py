"""Naming the mistake in a refuted claim: the common errors of matrix calculus tried against the true left side.

Contract: :func:`diagnose` is called only after a claim ``lhs = rhs`` has been refuted. It builds variants of the
claim, each the repair of one common mistake — a transpose (and a layout flip), a constant factor or a sign, the
factors of a product in the wrong order, a Hadamard product where a matrix product belongs or the reverse, a missing
chain factor such as σ'(z), a symmetric assumption (``2 A x`` for ``(A + Aᵀ) x``), a dropped term — and tests each
repaired claim with the numeric method (finite differences of the original function). It returns one sentence naming
the first repair that makes the claim hold, followed by the correct result from the rule engine when that result
itself passes the numeric check; ``None`` when no repair fits. A diagnosis explains a verdict; it never changes one.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable, Iterator

from matcalc import ir
from matcalc.clock import now
from matcalc.errors import MatcalcError
from matcalc.node import replace
from matcalc.shapes import is_square


def _paths(e: ir.Expr, path: tuple = ()) -> Iterator[tuple[tuple, ir.Expr]]:
    yield path, e
    for i, c in enumerate(ir.children(e)):
        yield from _paths(c, path + (i,))


def _replace(e: ir.Expr, path: tuple, new: ir.Expr) -> ir.Expr:
    if not path:
        return new
    kids = list(ir.children(e))
    kids[path[0]] = _replace(kids[path[0]], path[1:], new)
    return ir.rebuild(e, kids)


def _map_nodes(e: ir.Expr, fn: Callable[[ir.Expr], ir.Expr | None]) -> ir.Expr:
    out = fn(e)
    if out is not None:
        return out
    kids = ir.children(e)
    if not kids:
        return e
    return ir.rebuild(e, [_map_nodes(k, fn) for k in kids])


def _holds(lhs: ir.Expr, rhs: ir.Expr, free: tuple, seed: int) -> bool:
    if lhs.shape != rhs.shape:
        return False
    from matcalc.verify import numeric

    try:
        res = numeric.check_equal(lhs, rhs, free=free, seed=seed + 7, budget_s=1.5, points=2, confirm=False)
    except (MatcalcError, ValueError, ArithmeticError):
        return False
    return res.status == "equal"


def _try(make: Callable[[], ir.Expr]) -> ir.Expr | None:
    try:
        return make()
    except (MatcalcError, ValueError):
        return None


def _derivatives(e: ir.Expr) -> list[ir.Derivative]:
    return [n for n in ir.walk(e) if isinstance(n, ir.Derivative)]


def _with_layout(e: ir.Expr, layout: str) -> ir.Expr:
    return _map_nodes(
        e,
        lambda n: replace(n, expr=n.expr, layout=layout)
        if isinstance(n, ir.Derivative) and n.kind == "d"
        else None,
    )


def _symmetrize(e: ir.Expr, name: str) -> ir.Expr:
    return _map_nodes(
        e,
        lambda n: ir.Var(n.name, n.dims, n.props | {"symmetric"}) if isinstance(n, ir.Var) and n.name == name else None,
    )


def _candidates(lhs: ir.Expr, rhs: ir.Expr) -> Iterator[tuple[str, ir.Expr, ir.Expr]]:
    """(message, lhs', rhs') triples: if lhs' = rhs' holds, the message names the mistake."""
    derivs = _derivatives(lhs)
    why_order = " (the chain rule multiplies in the other order)" if derivs else ""
    layouts = {d.layout for d in derivs if d.kind == "d"}
    # Transposed, and the layout in which the claim would hold.
    for layout in ("numerator", "denominator", "mixed"):
        if layouts and layout not in layouts:
            alt = _try(lambda: _with_layout(lhs, layout))
            if alt is not None and alt.shape == rhs.shape:
                now = ", ".join(sorted(layouts))
                yield (f"transposed (a layout flip): this holds in {layout} layout, but the layout in force is {now}", alt, rhs)
    # The Matrix Cookbook's convention for a derivative by a symmetric matrix, G + Gᵀ − G ⊙ I (matcalc's is
    # (G + Gᵀ)/2, the gradient in the space of symmetric matrices): twice matcalc's, less its diagonal.
    sym = [d for d in derivs if isinstance(d.wrt, ir.Var) and {"symmetric", "spd"} & set(d.wrt.props)
           and is_square(d.wrt.shape) and d.wrt.shape != (1, 1)]
    if sym and is_square(lhs.shape) and lhs.shape == sym[0].wrt.shape:
        n = sym[0].wrt.shape[0]
        cook = _try(lambda: ir.Add((ir.Scale(ir.Num(2), lhs), ir.Neg(ir.Hadamard(lhs, ir.Identity(n))))))
        if cook is not None and cook.shape == rhs.shape:
            yield (f"this is the Matrix Cookbook's convention for a symmetric {sym[0].wrt.name}, G + Gᵀ − G ⊙ I; "
                   "matcalc's is the gradient among symmetric matrices, (G + Gᵀ)/2", cook, rhs)
    t = _try(lambda: ir.Transpose(rhs))
    if t is not None and t.shape == lhs.shape:
        yield ("transposed: the right side is the transpose of the correct result", lhs, t)
    # Constant factors and signs.
    for k in (Fraction(-1), Fraction(2), Fraction(1, 2), Fraction(-2), Fraction(-1, 2), Fraction(4), Fraction(1, 4)):
        if k == -1:
            yield ("a sign error: the right side has the wrong sign", lhs, ir.Neg(rhs))
        else:
            yield (f"a constant factor is off: the right side times {k} would be right", lhs,
                   ir.Scale(ir.Num(k), rhs))
    # A symmetric assumption.
    for v in sorted({n for n in ir.walk(lhs) if isinstance(n, ir.Var)}, key=lambda v: v.name):
        if is_square(v.shape) and v.shape != (1, 1) and "symmetric" not in v.props and "diagonal" not in v.props:
            yield (f"holds only for symmetric {v.name}", _symmetrize(lhs, v.name), _symmetrize(rhs, v.name))
    # Missing chain factor f'(u): the innermost function first (the chain stopped one link early is the usual slip).
    seen: set = set()
    for d in derivs:
        for n in reversed(list(ir.walk(d.expr))):
            if isinstance(n, ir.Apply) and n not in seen:
                seen.add(n)
                fp = ir.Apply(n.fn, n.arg, n.order + 1, n.declared)
                c = _try(lambda: ir.Hadamard(rhs, fp))
                if c is not None:
                    yield (f"a chain factor is missing: multiply by {fp} entrywise", lhs, c)
                c = _try(lambda: ir.MatMul((rhs, ir.Diag(fp))))
                if c is not None:
                    yield (f"a chain factor is missing: diag({fp}) on the right", lhs, c)
                c = _try(lambda: ir.MatMul((ir.Diag(fp), rhs)))
                if c is not None:
                    yield (f"a chain factor is missing: diag({fp}) on the left", lhs, c)
    # Structural edits of the right side: product order, Hadamard vs matrix product, a missing/extra transpose,
    # a dropped or extra term.
    for path, node in _paths(rhs):
        if isinstance(node, ir.MatMul):
            rev = _try(lambda: ir.MatMul(tuple(reversed(node.args))))
            if rev is not None and rev.shape == node.shape:
                yield (f"the factors of a product are in the wrong order{why_order}: {rev} rather than {node}", lhs,
                       _replace(rhs, path, rev))
            revt = _try(lambda: ir.MatMul(tuple(ir.Transpose(a) for a in reversed(node.args))))
            if revt is not None and revt.shape == node.shape:
                yield (f"the factors of a product are in the wrong order: {revt} rather than {node}", lhs,
                       _replace(rhs, path, revt))
            if len(node.args) == 2:
                h = _try(lambda: ir.Hadamard(*node.args))
                if h is not None:
                    yield (f"a matrix product where a Hadamard product belongs: {h} rather than {node}", lhs,
                           _replace(rhs, path, h))
        if isinstance(node, ir.Hadamard):
            m = _try(lambda: ir.MatMul((node.a, node.b)))
            if m is not None and m.shape == node.shape:
                yield (f"a Hadamard product where a matrix product belongs: {m} rather than {node}", lhs,
                       _replace(rhs, path, m))
            m = _try(lambda: ir.MatMul((ir.Transpose(node.a), node.b)))
            if m is not None and m.shape == node.shape:
                yield (f"a Hadamard product where a matrix product belongs: {m} rather than {node}", lhs,
                       _replace(rhs, path, m))
        if isinstance(node, ir.Transpose):
            if node.arg.shape == node.shape:
                yield (f"an extra transpose: {node.arg} rather than {node}", lhs, _replace(rhs, path, node.arg))
        elif isinstance(node, ir.Var) and is_square(node.shape) and node.shape != (1, 1):
            yield (f"a transpose is missing: {node.name}ᵀ rather than {node.name}", lhs,
                   _replace(rhs, path, ir.Transpose(node)))
        if isinstance(node, ir.Add):
            for i, term in enumerate(node.args):
                flipped = term.arg if isinstance(term, ir.Neg) else ir.Neg(term)
                signed = ir.Add(node.args[:i] + (flipped,) + node.args[i + 1:])
                yield (f"a sign error in one term: {flipped} rather than {term}", lhs, _replace(rhs, path, signed))
            for i, term in enumerate(node.args):
                rest = node.args[:i] + node.args[i + 1:]
                dropped = rest[0] if len(rest) == 1 else ir.Add(rest)
                yield (f"an extra term: {term} should not be there", lhs, _replace(rhs, path, dropped))


def diagnose(lhs: ir.Expr, rhs: ir.Expr, *, free: tuple = (), seed: int = 0, budget_s: float = 6.0,
             sink: list | None = None) -> str | None:
    """A sentence naming the mistake in the refuted claim ``lhs = rhs``, or ``None`` when none of the repairs fits.

    ``sink``: a list that receives the answer as far as it is known (the correct result, before the search for the
    mistake), so a caller that stops this function at a hard deadline keeps what was found.
    """
    t0 = now()
    found: str | None = None
    correct = _correct_form(lhs, free, seed, rhs)  # first: the search below may run out of time
    if correct and sink is not None:
        sink.append(f"the correct result is {correct}")
    for message, l2, r2 in _candidates(lhs, rhs):
        if now() - t0 > budget_s:
            break
        if _holds(l2, r2, free, seed):
            found = message
            break
    if found and correct:
        return f"{found}; the correct result is {correct}"
    if found:
        return found
    if correct:
        return f"the correct result is {correct}"
    return None


def _correct_form(lhs: ir.Expr, free: tuple, seed: int, rhs: ir.Expr | None = None) -> str | None:
    """The engine's closed form of ``lhs`` when it has a derivative, in the textbook's form and with the claim's
    ``let`` names, shown only if it passes the numeric check."""
    if not _derivatives(lhs):
        return None
    try:
        from matcalc.engine import closed_form

        names = tuple(n for side in (lhs, rhs) if side is not None for n in ir.walk(side)
                      if isinstance(n, ir.Named) or side is rhs and isinstance(n, ir.Derivative))
        closed = closed_form(lhs, names)
    except Exception:  # noqa: BLE001 - a diagnosis is optional; an engine gap must not hide the verdict
        return None
    if closed.shape != lhs.shape or not _holds(lhs, closed, free, seed + 1):
        return None
    from matcalc.printing import to_text

    return to_text(closed)

"""A note for a derivative by a ``let`` name whose value is written out where the name is not used.

Contract: :func:`let_name_note` returns, for a refuted claim (or one whose correct result is zeros) with a
derivative ``d/dz …`` by a let name ``z``, a note when the differentiated expression, or the definition of a let name
it uses, spells out ``z``'s value instead of writing ``z``: a derivative by a let name follows only the uses of the
name (SPEC section 3), so those parts are constants to it. The note says where, and how to write it with the name.
It never changes a verdict.
"""

from __future__ import annotations

from matcalc import ir

_WHY = "a derivative by a let name follows only the uses of the name"


def let_name_note(verdict: str, diagnosis: str | None, exprs: tuple) -> str | None:
    """The note for a claim or step whose sides are ``exprs``, or ``None``."""
    if verdict != "refuted" and "the correct result is zeros(" not in (diagnosis or ""):
        return None
    for e in exprs:
        if e is None:
            continue
        for d in _derivatives_by_let_names(e):
            found = _spelled_out(d.expr, d.wrt)
            if found is not None:
                return _note(d, found)
    return None


def _derivatives_by_let_names(e: ir.Expr) -> list[ir.Derivative]:
    """The derivatives in ``e`` (outside let names' definitions) whose variable is a let name."""
    out, stack, seen = [], [e], set()
    while stack:
        x = stack.pop()
        if id(x) in seen or isinstance(x, ir.Named):
            continue
        seen.add(id(x))
        if isinstance(x, ir.Derivative) and isinstance(x.wrt, ir.Named):
            out.append(x)
        stack.extend(reversed(ir.children(x)))
    return out


def _spelled_out(expr: ir.Expr, z: ir.Named) -> ir.Named | ir.Derivative | None:
    """Where ``expr`` writes ``z``'s value out: the let name whose definition does (the first met), ``expr`` itself
    when it does so outside every let name, or ``None``. Uses of the name ``z`` are not looked into."""
    value, h = z.value, hash(z.value)
    stack: list[tuple[ir.Expr, ir.Named | None]] = [(expr, None)]
    seen: set = set()  # let names entered
    visited: set = set()  # (node, holder) pairs walked: a shared node is walked once, not once per path
    while stack:
        x, holder = stack.pop()
        key = (id(x), None if holder is None else holder.name)
        if key in visited:
            continue
        visited.add(key)
        if isinstance(x, ir.Named):
            if x.name == z.name or x.name in seen:
                continue
            seen.add(x.name)
            stack.append((x.value, x))
            continue
        if hash(x) == h and x == value:
            return holder if holder is not None else expr
        stack.extend((c, holder) for c in reversed(ir.children(x)))
    return None


def _with_name(e: ir.Expr, z: ir.Named, memo: dict) -> ir.Expr:
    """``e`` with ``z``'s value written as ``z`` (let names' definitions are left as they are)."""
    hit = memo.get(id(e))
    if hit is not None:
        return hit
    if isinstance(e, ir.Named):
        out: ir.Expr = e
    elif e == z.value:
        out = z
    else:
        kids = ir.children(e)
        new = [_with_name(k, z, memo) for k in kids]
        out = ir.rebuild(e, new) if any(a is not b for a, b in zip(new, kids)) else e
    memo[id(e)] = out
    return out


def _note(d: ir.Derivative, found: ir.Expr) -> str:
    from matcalc.printing import to_text

    z = d.wrt
    if isinstance(found, ir.Named):
        return (f"{found.name}'s definition does not use the name {z.name}: {_WHY}; write let {found.name} = "
                f"{to_text(_with_name(found.value, z, {}))}")
    written = ir.Derivative(_with_name(d.expr, z, {}), d.wrt, d.kind, d.layout)
    return f"the expression does not use the name {z.name}: {_WHY}; write {to_text(written)}"

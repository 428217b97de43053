"""Leibniz fractions: ``df/dX`` (or ``∂f/∂X``) for a ``let`` name f read as ``d/dX f`` (SPEC section 3).

Contract: :func:`rewrite_fractions` rewrites, in place, the syntax tree of one statement before it is typed: a
product item ``df`` divided by ``dX`` — where ``df`` and ``dX`` are not names in force, ``f`` is a ``let`` name and
``X`` a variable or ``let`` name — becomes the derivative ``d/dX f`` (``(d/dX f)ᵀ`` for ``df/dXᵀ``). The lexer
makes the names ``∂f`` and ``∂X`` only for ``∂f/∂X``, which is always a derivative: where it is not one of a
``let`` name, it is an error that shows the accepted spellings. A near miss (``dC/dW`` where C is not a ``let``
name) raises a :class:`~matcalc.errors.ParseError` that shows the accepted spellings. The bracketed form
``d(e)/dX`` is the lexer's (:mod:`matcalc.lang.lexer`). Nothing else changes.
"""

from __future__ import annotations

from matcalc.errors import ParseError
from matcalc.lang import syntax as P
from matcalc.lang.lexer import Token

__all__ = ["rewrite_fractions"]


def _split(name: str) -> str | None:
    """``f`` for ``df`` or ``∂f`` (None when the name is not d or ∂ followed by a name)."""
    if len(name) > 1 and name[0] in "d∂" and (name[1].isalpha() or name[1] == "_"):
        return name[1:]
    return None


def _fraction(syms: dict, num: P.Node, op: str, den: P.Node) -> P.Node | None:
    """``d/dX f`` for the items ``df`` ``/`` ``dX`` (or ``∂f`` ``/`` ``∂X``; ``(d/dX f)ᵀ`` for ``df/dXᵀ``, as
    ``d(e)/dXᵀ`` reads), None if they are not a Leibniz fraction; raises on a near miss."""
    if op != "/" or not isinstance(num, P.Name) or num.bracketed or den.bracketed:
        return None
    transposed = isinstance(den, P.Transp) and isinstance(den.arg, P.Name) and not den.arg.bracketed
    den_name = den.arg if transposed else den
    if not isinstance(den_name, P.Name):
        return None
    f, x = _split(num.name), _split(den_name.name)
    partial = num.name[0] == "∂"  # the lexer makes ∂-names only as ∂f / ∂X: never a division, always a derivative
    if f is None or x is None or num.name in syms or den_name.name in syms:
        return None
    d = num.name[0]
    sf, sx = syms.get(f), syms.get(x)
    if sx is None or sx.kind not in ("var", "let"):
        if not partial:
            return None  # dX is not a derivative by a name in force: an ordinary division
        what = "not declared" if sx is None else "a function" if sx.kind == "func" else "not a variable"
        raise ParseError(f"{num.name}/{den_name.name}: {x} is {what}: a derivative is by a variable or a let name",
                         line=den_name.line, col=den_name.col)
    if sf is not None and sf.kind == "let":
        tok = Token("DERIV", f"d/d{x}", num.line, num.col, x)
        node: P.Node = P.Deriv(tok, x, None, P.Name(Token("NAME", f, num.line, num.col + 1, f), f))
        node.wrt_col = den_name.col + 1
        if transposed:
            node = P.Transp(Token("T", "T", den.line, den.col), node)
        return node
    if sf is not None and sf.kind == "var":
        hint = f"write {d}/{d}{x} {f}, or {d}({f})/{d}{x}"
    elif sf is not None and sf.kind == "func":
        hint = f"write {d}/{d}{x} {f}(…), or {d}({f}(…))/{d}{x}"
    else:
        hint = (f"write {d}/{d}{x} {f}(…), or {d}({f}(…))/{d}{x}, or define let {f} = … first and then "
                f"{num.name}/{den_name.name}")
    what = "a function" if sf is not None and sf.kind == "func" else "a variable" if sf is not None else \
        "not declared"
    if partial:
        raise ParseError(f"{num.name}/{den_name.name}: {f} is {what}, not a let name: for a derivative {hint}",
                         line=num.line, col=num.col)
    raise ParseError(f"{num.name}/{den_name.name} reads as a division of {num.name} by {den_name.name} ({f} is "
                     f"{what}, not a let name): for a derivative {hint}", line=num.line, col=num.col)


def _second_order(syms: dict, items: list, k: int) -> None:
    """Raise for ``d^2f/dx^2`` at ``items[k]``: a second derivative is written ``hessian(f, x)``."""
    def squared_name(n: P.Node) -> str | None:
        ok = isinstance(n, P.Pow) and not n.entrywise and n.exp == 2 and isinstance(n.arg, P.Name)
        return n.arg.name if ok and not n.arg.bracketed else None

    if k + 2 >= len(items) or squared_name(items[k][3]) != "d" or "d" in syms or items[k + 2][0] != "/":
        return
    f, den = items[k + 1][3], squared_name(items[k + 2][3])
    x = _split(den) if den is not None and den not in syms else None
    if isinstance(f, P.Name) and items[k + 1][0] == "juxt" and x is not None:
        raise ParseError(f"d^2{f.name}/d{x}^2: a second derivative is written hessian({f.name}, {x}) (the Hessian, "
                         f"for a scalar {f.name})", line=items[k][3].arg.line, col=items[k][3].arg.col)


def _rewrite_chain(syms: dict, node: P.Chain) -> P.Node:
    items = list(node.items)
    out: list = []
    k = 0
    while k < len(items):
        _second_order(syms, items, k)
        if k + 1 < len(items):
            d = _fraction(syms, items[k][3], items[k + 1][0], items[k + 1][3])
            if d is not None:
                op, line, col, _n = items[k]
                out.append((op, line, col, d))
                k += 2
                continue
        out.append(items[k])
        k += 1
    if len(out) == len(items):
        return node
    if len(out) == 1:
        only = out[0][3]
        only.bracketed = only.bracketed or node.bracketed
        return only
    node.items = [(None, *out[0][1:])] + out[1:] if out[0][0] is not None else out
    return node


def _rewrite(syms: dict, node: P.Node) -> P.Node:
    stack = [node]
    while stack:
        n = stack.pop()
        for slot in getattr(type(n), "__slots__", ()):
            v = getattr(n, slot, None)
            if isinstance(v, P.Node):
                new = _rewrite_chain(syms, v) if isinstance(v, P.Chain) and v.kind == "*" else v
                setattr(n, slot, new)
                stack.append(new)
            elif isinstance(v, list):
                for i, it in enumerate(v):
                    if isinstance(it, P.Node):
                        new = _rewrite_chain(syms, it) if isinstance(it, P.Chain) and it.kind == "*" else it
                        v[i] = new
                        stack.append(new)
                    elif isinstance(it, tuple) and it and isinstance(it[-1], P.Node):
                        sub = it[-1]
                        new = _rewrite_chain(syms, sub) if isinstance(sub, P.Chain) and sub.kind == "*" else sub
                        v[i] = (*it[:-1], new)
                        stack.append(new)
    return node


def rewrite_fractions(syms: dict, st: P.SStmt) -> None:
    """Rewrite the Leibniz fractions ``df/dX`` of a statement's expressions in place."""
    exprs = getattr(st, "exprs", None)
    if not exprs:
        return
    for i, e in enumerate(exprs):
        if isinstance(e, P.Chain) and e.kind == "*":
            e = _rewrite_chain(syms, e)
        exprs[i] = _rewrite(syms, e)

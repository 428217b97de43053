"""Leibniz fractions: ``df/dX`` for a ``let`` name f read as ``d/dX f`` (SPEC section 3).

Contract: :func:`rewrite_fractions` rewrites, in place, the syntax tree of one statement before it is typed: a
product item ``df`` divided by ``dX`` — where ``df`` and ``dX`` are not names in force, ``f`` is a ``let`` name and
``X`` a variable or ``let`` name — becomes the derivative ``d/dX f``. A near miss (``dC/dW`` where C is not a ``let``
name) raises a :class:`~matcalc.errors.ParseError` that shows the accepted spellings. The bracketed form
``d(e)/dX`` is the lexer's (:mod:`matcalc.lang.lexer`). Nothing else changes.
"""

from __future__ import annotations

from matcalc.errors import ParseError
from matcalc.lang import syntax as P
from matcalc.lang.lexer import Token

__all__ = ["rewrite_fractions"]


def _split(name: str) -> str | None:
    """``f`` for ``df`` (None when the name is not d followed by a name)."""
    if len(name) > 1 and name[0] == "d" and (name[1].isalpha() or name[1] == "_"):
        return name[1:]
    return None


def _fraction(syms: dict, num: P.Node, op: str, den: P.Node) -> P.Node | None:
    """``d/dX f`` for the items ``df`` ``/`` ``dX``, None if they are not a Leibniz fraction; raises on a near miss."""
    if op != "/" or not isinstance(num, P.Name) or not isinstance(den, P.Name) or num.bracketed or den.bracketed:
        return None
    f, x = _split(num.name), _split(den.name)
    if f is None or x is None or num.name in syms or den.name in syms:
        return None
    sf, sx = syms.get(f), syms.get(x)
    if sx is None or sx.kind not in ("var", "let"):
        return None  # dX is not a derivative by a name in force: an ordinary division
    if sf is not None and sf.kind == "let":
        tok = Token("DERIV", f"d/d{x}", num.line, num.col, x)
        node = P.Deriv(tok, x, None, P.Name(Token("NAME", f, num.line, num.col + 1, f), f))
        node.wrt_col = den.col + 1
        return node
    if sf is not None and sf.kind == "var":
        hint = f"write d/d{x} {f}, or d({f})/d{x}"
    else:
        call = f"{f}(…)"
        hint = f"write d/d{x} {call}, or d({call})/d{x}, or define let {f} = … first and then {num.name}/{den.name}"
    what = "a function" if sf is not None and sf.kind == "func" else "a variable" if sf is not None else \
        "not declared"
    raise ParseError(f"{num.name}/{den.name} reads as a division of {num.name} by {den.name} ({f} is {what}, not a "
                     f"let name): for a derivative {hint}", line=num.line, col=num.col)


def _rewrite_chain(syms: dict, node: P.Chain) -> P.Node:
    items = list(node.items)
    out: list = []
    k = 0
    while k < len(items):
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

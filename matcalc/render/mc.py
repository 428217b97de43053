"""``derive --format mc``: a derivation written as a matcalc document that ``matcalc check`` verifies.

Contract: :func:`derive_document` turns a :class:`~matcalc.results.DeriveResult` into document text: the original
declarations (and a declaration for each inferred name), a ``layout`` line when it is not mixed, the ``let``
definitions, and one claim per derivative. For the program form (backpropagation,
:mod:`matcalc.engine.program`) the lets are the forward program (the document's lets rewritten with the new names,
``let a1 = σ(z1)``), then the δ's, each with a comment naming its rule, and each claim is ``d/dW1 cost = δ1 a0ᵀ``;
a δ named by the document (``let delta2 = grad(C, z2)``) keeps the document's definition and gets a claim that it
equals the program's. Every expression is printed by :mod:`matcalc.printing`, which reads back.
"""

from __future__ import annotations

from matcalc import ir
from matcalc.document import Declaration, Let
from matcalc.printing import to_text
from matcalc.shapes import is_scalar


def _declarations(res) -> list[str]:
    doc = res.document
    out, declared = [], set()
    for s in doc.statements if doc is not None else ():
        if isinstance(s, Declaration):
            out.append(s.text.strip())
            declared.update(getattr(v, "name", None) for v in s.names)
    env = doc.env if doc is not None else None
    for name, v in (env.vars.items() if env is not None else ()):
        if name not in declared:
            r, c = v.shape
            shape = "1" if is_scalar(v.shape) else (f"{r}" if c == 1 else f"{r} x {c}")
            props = set(v.props) - ({"symmetric"} if "spd" in v.props else set())  # spd says symmetric
            out.append(f"given {name}: {shape}{''.join(f' {p}' for p in sorted(props))}")
    for name, f in (env.funcs.items() if env is not None else ()):
        if name not in declared:  # a function declared by --given: without it the document reads otherwise
            dom = "R" if f.kind == "entrywise" or f.dim is None else f"R^{f.dim}"
            out.append(f"given {name}: {dom} -> R")
    if res.layout != "mixed":
        out.append(f"layout {res.layout}")
    return out


def _scoped(e: ir.Expr) -> str:
    """``e`` as the scope of ``d/dX``: bracketed when it is a sum (the derivative stops at a binary + or -)."""
    text = to_text(e)
    return f"({text})" if isinstance(e, ir.Add) else text


def _wrt(w: ir.Expr) -> str:
    return to_text(w)


def derive_document(res) -> str:
    lines = ["# written by matcalc derive --format mc: check it with matcalc check", *_declarations(res)]
    doc = res.document
    if res.program is None:
        for s in doc.statements if doc is not None else ():
            if isinstance(s, Let):
                lines.append(s.text.strip())
        for item in res.items:
            d = item.derivation
            for n in getattr(d, "where", ()):
                lines.append(f"let {n.name} = {to_text(n.value)}")
            if d.kind == "hessian":
                lines.append(f"hessian({to_text(res.expr)}, {_wrt(item.wrt)}) = {to_text(d.result)}")
            else:
                lines.append(f"d/d{_wrt(item.wrt)} {_scoped(res.expr)} = {to_text(d.result)}")
        return "\n".join(lines) + "\n"
    prog = res.program
    in_program = {ln.name for ln in prog.forward}
    lines.append("# the forward program")
    for ln in prog.forward:
        note = "   # new name" if ln.kind == "new" else ""
        lines.append(f"let {ln.name} = {to_text(ln.value)}{note}")
    by_doc = set(doc.env.lets) if doc is not None else set()
    rest = [s for s in (doc.statements if doc is not None else ()) if isinstance(s, Let) and s.name not in in_program]
    for s in rest:
        lines.append(s.text.strip())
    if prog.backward:
        lines.append("# the backward program: each δ is the derivative of the cost C by a name")
    checks = []
    for ln in prog.backward:
        why = f"   # {ln.note}: {ln.name} = ∂C/∂{ln.of}"
        if ln.name in by_doc:  # the document's own δ: its definition stays, the program's value is claimed
            checks.append(f"{ln.name} = {to_text(ln.value)}{why}")
        else:
            lines.append(f"let {ln.name} = {to_text(ln.value)}{why}")
    lines += checks
    lines.append("# the gradients")
    for g in prog.gradients:
        note = f"   # {g.note}" if g.note else ""
        lines.append(f"d/d{_wrt(g.wrt)} {_scoped(prog.cost)} = {to_text(g.result)}{note}")
    return "\n".join(lines) + "\n"

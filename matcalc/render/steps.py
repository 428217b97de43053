"""The steps of a derivation as a reader sees them: bookkeeping rewrites merged into the step they complete.

Contract: :func:`display_steps` takes the engine's steps (each with ``rule``, ``before``, ``after``, ``note``) and
returns the list to show. A step whose result holds a double transpose (``(Aᵀ)ᵀ``) is merged with the
``(Aᵀ)ᵀ = A`` step that removes it, and a rewrite that changes nothing is dropped, so that every shown line changes
the expression and no intermediate form like ``C'(z)ᵀᵀ`` is printed. The merged step keeps the first step's rule
and names both. Every renderer (text, LaTeX, Markdown) shows the same steps. Imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

from matcalc import ir

#: Engine rules that only tidy the previous step's result (and their statements, for a grouped algebra step).
TIDY = ("transpose-twice", "identity")
TIDY_NOTES = ("(Aᵀ)ᵀ = A", "I A = A")


def _tidy(step) -> bool:
    if step.rule in TIDY:
        return True
    return step.rule == "simplify" and all(c.strip() in TIDY_NOTES for c in step.note.split(";"))


@dataclass(frozen=True)
class ShownStep:
    rule: str
    before: ir.Expr | None
    after: ir.Expr
    note: str
    label: tuple = ()
    defs: tuple = ()
    cont: bool = False  # the same left side as the step before: shown as a continuation, `= …`


def _has_double_transpose(e: ir.Expr) -> bool:
    return any(isinstance(n, ir.Transpose) and isinstance(n.arg, ir.Transpose) for n in ir.walk(e))


def display_steps(steps, *, drop_repeats: bool = True) -> list[ShownStep]:
    """The steps to show (see the module docstring).

    Args:
        steps: the engine's steps.
        drop_repeats: drop a step whose result equals the previous one (the LaTeX view merges such rows itself).
    """
    out: list[ShownStep] = []
    last_lhs: str | None = None
    texts: dict[int, str] = {}

    def text(e: ir.Expr) -> str:
        from matcalc.printing import to_text

        if id(e) not in texts:
            texts[id(e)] = to_text(e)
        return texts[id(e)]

    for s in steps:
        step = ShownStep(s.rule, s.before, s.after, s.note or s.rule, getattr(s, "label", ()), getattr(s, "defs", ()))
        if out:
            prev = out[-1]
            is_rewrite = not isinstance(step.before, ir.Derivative) and not step.label
            if step.after == prev.after and not step.label and (drop_repeats or is_rewrite):
                continue  # a step that changes nothing (a rewrite with no effect, a chain of one link)
            continues = is_rewrite or step.label[:1] == ("same",) or (step.rule == "algebra" and not step.label)
            if (drop_repeats and continues and step.after is not None and prev.after is not None
                    and prev.label[:1] not in (("defs",), ("through",)) and text(step.after) == text(prev.after)):
                continue  # a rewrite the reader cannot see: it prints as the line before it
            if drop_repeats and continues and _number(step.after) is not None \
                    and _number(step.after) == _number(prev.after):
                continue  # 1 / 2 = 0.5: the same number, written another way
            if (drop_repeats and isinstance(step.before, ir.Derivative) and isinstance(prev.before, ir.Derivative)
                    and not step.label and not prev.label and equation_text(step) == equation_text(prev)):
                continue  # the same equation again (the composer's last chain-rule row restating the one before)
            if (is_rewrite and _tidy(step) and step.before == prev.after
                    and (_has_double_transpose(prev.after) or prev.rule == "chain-rule")):
                first = prev.note.split(";")[0].strip()
                tidy = step.note.split(";")[0].strip()
                out[-1] = ShownStep(prev.rule, prev.before, step.after, f"{first} · {tidy}", prev.label, prev.defs,
                                    prev.cont)  # the merged row keeps what its left side is (one use's part)
                continue
        if out and not step.label and isinstance(step.before, ir.Derivative) and (
                lhs_text(step) == last_lhs or step.before == out[-1].after):  # (… = J_x(g), then J_x(g) = …)
            step = ShownStep(step.rule, step.before, step.after, step.note, cont=True)  # the same left side: `= …`
        if step.label or isinstance(step.before, ir.Derivative):
            last_lhs = lhs_text(step)
        out.append(step)
    return out


def _number(e) -> object:
    """The value of a number or a quotient of numbers (``1 / 2``), else None."""
    if isinstance(e, ir.Num):
        return e.value
    if isinstance(e, ir.Div) and isinstance(e.arg, ir.Num) and isinstance(e.scalar, ir.Num) and e.scalar.value:
        return e.arg.value / e.scalar.value
    return None


def lhs_text(s) -> str | None:
    """The left side of a step's equation as printed (None for a continuation or a contribution)."""
    left, eq, _ = equation_text(s).partition(" = ")
    return left.strip() if eq and left.strip() else None


def _name(e, fmt: str) -> str:
    from matcalc.printing import to_latex, to_text

    if isinstance(e, str):
        return e
    if isinstance(e, (ir.Named, ir.Var)):
        return to_latex(e) if fmt == "latex" else e.name
    s = to_latex(e) if fmt == "latex" else to_text(e)
    if " " in s or s.startswith("-"):  # ∂(-u)/∂u, never ∂-u/∂u
        s = f"\\left({s}\\right)" if fmt == "latex" else f"({s})"
    return s


def label_of(s, fmt: str = "text") -> str | None:
    """The left-hand side of a lecture step (``∂f/∂u``, ``∇_x f``, ``through the first x:``), or None."""
    lab = getattr(s, "label", ()) or ()
    if not lab or lab[0] in ("defs", "same"):
        return None
    tex = fmt == "latex"
    if lab[0] == "d":
        top, by = _name(lab[1], fmt), _name(lab[2], fmt)
        return f"\\frac{{\\partial {top}}}{{\\partial {by}}}" if tex else f"∂{top}/∂{by}"
    if lab[0] == "grad":
        top, by = _name(lab[1], fmt), _name(lab[2], fmt)
        return f"\\nabla_{{{by}}} {top}" if tex else f"∇_{by} {top}"
    if lab[0] == "hessian":
        top, by = _name(lab[1], fmt), _name(lab[2], fmt)
        return f"\\nabla^{{2}}_{{{by}}} {top}" if tex else f"∇²_{by} {top}"
    if lab[0] == "part":  # the composer's reverse mode: one use's contribution to the gradient by a shared node
        top, by = _name(lab[1], fmt), _name(lab[2], fmt)
        if tex:
            return f"\\text{{one use's part of }} \\nabla_{{{by}}} {top}\\text{{:}}"
        return f"one use's part of ∇_{by} {top}:"
    if lab[0] == "held":  # the composer's reverse mode: a node whose variables are also used elsewhere
        top, by = _name(lab[1], fmt), _name(lab[2], fmt)
        if tex:
            return f"\\nabla_{{{by}}} {top}\\text{{, the other uses held fixed:}}"
        return f"∇_{by} {top}, the other uses held fixed:"
    if lab[0] == "term":  # a named term of a sum (the Gauss–Newton and curvature terms of a Hessian)
        return (lab[2] if len(lab) > 2 else f"\\text{{{lab[1]}}}") if tex else lab[1]
    if lab[0] == "through":
        k, name = lab[1], lab[2]
        from matcalc.engine.lecture import ORDINALS

        nth = ORDINALS[k] if k < len(ORDINALS) else f"{k + 1}th"
        if tex:
            from matcalc.printing import to_latex

            return f"\\text{{through the {nth} }} {to_latex(ir.Var(name, (1, 1)))}\\text{{:}}"
        return f"through the {nth} {name}:"
    return None


def json_step(s) -> dict:
    """A step for ``--format json``: its rule and note, ``before`` (the left side as the text prints it when the row
    has one — ``through the first x``, ``one use's part of ∇_xᵀ f`` —, so a part is never named as the whole
    derivative; else the expression the rule was applied to), ``after`` and ``equation`` (the row as printed)."""
    from matcalc.printing import to_text

    lab = getattr(s, "label", ()) or ()
    named = label_of(s)
    if named is not None and lab[0] in ("through", "part", "held"):
        before = named.rstrip(":").rstrip()
    else:
        before = to_text(s.before) if s.before is not None else None
    return {"rule": s.rule, "note": s.note, "before": before, "after": to_text(s.after),
            "equation": equation_text(s).strip()}


def definitions(s, fmt: str = "text") -> str | None:
    """The outer and inner functions of a lecture's first step, ``f = sum(u.^2),  u = W x - y``, or None."""
    lab = getattr(s, "label", ()) or ()
    if not lab or lab[0] != "defs":
        return None
    from matcalc.printing import to_latex, to_text

    if fmt == "latex":
        return ", \\quad ".join(f"{_name(n, fmt)} = {to_latex(n.value)}" for n in s.defs)
    return ",  ".join(f"{n.name} = {to_text(n.value)}" for n in s.defs)


def equation_text(s) -> str:
    """A step as one line of text: ``∂f/∂u = 2 uᵀ``, ``through the first x: A x``, ``  = …`` for a continuation."""
    from matcalc.printing import to_text

    before, after = s.before, s.after
    if getattr(s, "rule", "") == "symmetric-convention" and before is None:
        return "(convention)"  # a statement about the variable, in its note: no equation
    defs = definitions(s)
    if defs is not None:
        return defs
    lhs = label_of(s)
    if lhs is not None:
        return f"{lhs} {to_text(after)}" if lhs.endswith(":") else f"{lhs} = {to_text(after)}"
    if getattr(s, "rule", "") == "algebra" or tuple(getattr(s, "label", ()))[:1] == ("same",) or getattr(s, "cont", 0):
        return f"  = {to_text(after)}"
    if isinstance(before, ir.Derivative) and before.kind == "hessian":
        return f"∇²_{_name(before.wrt, 'text')} {_name(before.expr, 'text')} = {to_text(after)}"
    if isinstance(before, ir.Derivative) and before.kind != "grad":
        return f"∂{_name(before.expr, 'text')}/∂{_name(before.wrt, 'text')} = {to_text(after)}"
    if isinstance(before, ir.Derivative):
        return f"∇_{_name(before.wrt, 'text')} {_name(before.expr, 'text')} = {to_text(after)}"
    if getattr(s, "rule", "") == "expand-derivatives" and before is not None:
        left, right = to_text(before), to_text(after)
        if left != right:  # the first row: the expression, its inner derivatives worked out (not under a let name)
            return f"{left} = {right}"
    if before is not None and before != after and s.rule not in ("chain",):
        return f"  = {to_text(after)}"
    return to_text(after)


def where_text(d, fmt: str = "text") -> str:
    """The names a derivation's result defines itself (``d.where``), as ``,   s = σ(X w)`` to follow the result
    (``,\\quad s = \\sigma(X w)`` in LaTeX); empty when there are none."""
    from matcalc.printing import to_latex, to_text

    defs = getattr(d, "where", ()) or ()
    if not defs:
        return ""
    if fmt == "latex":
        return "".join(f",\\quad {to_latex(n)} = {to_latex(n.value)}" for n in defs)
    return "".join(f",   {n.name} = {to_text(n.value)}" for n in defs)

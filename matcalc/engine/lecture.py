"""The lecture's presentation of a derivation: the Jacobians along one path, multiplied by the chain rule.

Contract: :func:`lecture_steps` rewrites the steps of a derivative of a scalar by a variable it reaches along one
path as the lecture writes them (outer and inner functions, the Jacobian of each link in numerator layout, their
product by the Jacobian chain rule, the closed form, the layout asked for), or returns None so the composer's
reverse-mode trace is kept. It only presents: the result is the composer's.
"""

from __future__ import annotations

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import Derivative, Expr, MatMul, Named, Neg, Scale, Transpose, children
from matcalc.engine.compose import Step, Tracer, links, matcher

__all__ = ["lecture_steps"]


_LECTURE_MAX_PATH = 12


def lecture_steps(expr: Expr, wrt: Expr, result: Expr, kind: str, layout: str, simp) -> list[Step] | None:
    """The derivation as the lecture writes it, when ``wrt`` reaches the scalar ``expr`` along one path.

    Inner and outer functions are named, the Jacobian of each (numerator layout) is given, the Jacobian chain
    rule multiplies them into a row, the simplifier brings the row to closed form (``(A B)ᵀ = Bᵀ Aᵀ``,
    ``vᵀ diag(u) = (v ⊙ u)ᵀ``), and the row becomes the derivative in the layout asked for. Returns None (the
    reverse-mode trace is kept) when there are several paths, the path is long, or anything is unsupported.
    """
    is_wrt = matcher(wrt)
    try:
        path: list[tuple[Expr, tuple]] = []
        x = expr
        while not is_wrt(x):
            if isinstance(x, Named):
                x = x.value
                continue
            onward = [(i, k, r) for i, k, r in links(x) if _reaches(k, is_wrt)]
            if len(onward) != 1 or len(path) >= _LECTURE_MAX_PATH:
                return None
            path.append((x, onward[0]))
            x = onward[0][1]
        if not path:
            return None
        steps: list[Step] = []
        tracer = Tracer(steps)
        tracer.simp = simp
        from matcalc.printing import to_text

        inner = path[0][1][1]
        inner_txt = to_text(inner)
        inner_txt = inner_txt if len(inner_txt) <= 60 else inner_txt[:57] + "…"
        steps.append(Step("chain", expr, expr, f"outer and inner functions: the outer function of u = {inner_txt}, "
                          "and so on down to the variable; differentiated link by link (Parr & Howard, \"Vector chain rule\")"))
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

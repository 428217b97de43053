"""The lecture's presentation of a derivation: the chain-rule skeleton, one grouped algebra step, the result.

Contract: :func:`lecture_steps` presents the derivative of a scalar by a variable as a textbook writes it, or
returns None so the composer's trace is kept. It only presents — every equation it shows is computed by the engine
(the Jacobian of each link, the gradient), each as a :class:`~matcalc.engine.compose.Step` whose ``claim`` is the
equation it states, in IR, true as written (tests/test_derive.py checks each one with the exact and numeric methods).

The skeleton. The nodes every path from the output to the variable passes through (its dominators) split the
expression into links; a link ends after a nonlinear map or at a ``let`` name, and each cut is named (a ``let``
name, or ``u``, ``s``, ``a``, ``z`` … as a :class:`~matcalc.ir.Named` node, so the names read back and the
equations are checkable). The steps: ``f = …, u = …`` (outer and inner functions); ``∂f/∂u = …`` for each link
(numerator layout: a row for a scalar); their product by the Jacobian chain rule; one step of algebra listing the
simplifier's rules that fired; the gradient in the layout asked for, with the names put back. A variable that
occurs several times in a one-link expression (``xᵀ A x``) is differentiated one occurrence at a time, each
contribution labelled "through the first x:" — never with the full derivative's name — and the contributions are
added; in several terms of a sum, term by term (the sum rule), each row the whole derivative of its term. A
matrix variable is reached through a last link linear in it (``u = W x − y``): ``du = dW x``, so
``∇_W f = (∇_u f) xᵀ``. When the algebra that reaches the closed form is the vector's (softmax cross-entropy:
``∇_z f = p − y`` needs ``Σ y = 1``), ``∇_z f`` is shown first, in one step, and ``∇_W f = (∇_z f) xᵀ`` from it.
"""

from __future__ import annotations

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import Derivative, Expr, MatMul, Named, Transpose, Var, children, rebuild
from matcalc.engine.compose import Step, matcher, rewrite_why
from matcalc.engine.rules import fused_operand
from matcalc.engine.simplify import Simplifier, visible
from matcalc.engine.textbook import textbook_and_rules
from matcalc.shapes import is_scalar

__all__ = ["lecture_steps", "hessian_steps", "ORDINALS"]

_MAX_NODES = 400  # larger expressions keep the composer's trace (the skeleton is for a reader)
_MAX_OCCURRENCES = 6
_MAX_LINKS = 8
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")

# maps that are linear in their operand when only one operand depends on the variable
_LINEAR = (ir.Add, ir.Neg, ir.Transpose, ir.Sum, ir.Trace, ir.Vec, ir.Broadcast, ir.Scale, ir.MatMul, ir.Div,
           ir.Hadamard, ir.Named, ir.Diag, ir.Kron)


def lecture_steps(expr: Expr, wrt: Expr, result: Expr, kind: str, layout: str,
                  reserved: frozenset = frozenset(), *, derive) -> list[Step] | None:
    """The derivation as the lecture writes it (see the module docstring), or None to keep the composer's trace.

    ``reserved``: names the reader's document already uses (declared variables and functions, ``let`` names); the
    names the lecture gives its intermediate results avoid them. ``derive(e, by, kind, layout)``: the engine's
    derivative of a link or an occurrence, without a lecture of its own (passed in by the caller, so this module does
    not reach back into :mod:`matcalc.engine.differentiation`).
    """
    try:
        lec = _Lecture(expr, wrt, result, kind, layout)
        lec.derive = derive
        lec.taken |= set(reserved)
        return lec.steps()
    except (MatcalcError, RecursionError):
        return None


def hessian_steps(grad, jac) -> list[Step]:
    """The Hessian's trace: the gradient's steps, ``∇²f = J_x(∇_x f)`` (the Jacobian of the gradient), and that
    Jacobian in one step that lists its rules — each row true as written. ``grad`` is the derivation of the
    gradient, ``jac`` that of its Jacobian (the composer's; its rule applications are summarised, not shown).

    After the lecture's trace of the gradient the Hessian row is named after its ``f`` (``∇²_x f``); after the
    composer's it is the plain equation ``∇²_x (…) = J_x(…)`` and the Jacobian's row continues it.
    """
    head = Derivative(grad.expr, grad.wrt, "hessian")
    of_grad = Derivative(grad.result, grad.wrt, "jacobian")
    steps = list(grad.steps)
    why = "; ".join(_rules_of(jac)) or "the Jacobian"  # its derivative rules: the rewrites between are not shown
    note = "the Hessian is the Jacobian of the gradient"
    defs = next((s.defs for s in steps if s.label[:1] == ("defs",) and s.defs), ())
    if defs:  # the lecture's trace: f is named in its first row
        steps.append(Step("hessian", head, of_grad, note, label=("hessian", defs[0], grad.wrt), claim=(head, of_grad)))
        steps.append(Step("jacobian", of_grad, jac.result, why, label=("same",)))
    else:
        steps.append(Step("hessian", head, of_grad, note))
        steps.append(Step("jacobian", of_grad, jac.result, why))
    return steps


def _kids(x: Expr) -> tuple[Expr, ...]:
    return children(x)


def _reach(expr: Expr, is_wrt) -> dict[int, bool]:
    """For each node of the DAG, whether it depends on the variable."""
    dep: dict[int, bool] = {}
    order, seen, stack = [], set(), [(expr, False)]
    while stack:
        x, done = stack.pop()
        if done:
            order.append(x)
            continue
        if id(x) in seen:
            continue
        seen.add(id(x))
        stack.append((x, True))
        stack.extend((k, False) for k in _kids(x))
    for x in order:
        dep[id(x)] = is_wrt(x) or any(dep.get(id(k), False) for k in _kids(x))
    dep["order"] = order  # type: ignore[index]
    return dep


def _dominators(expr: Expr, is_wrt, dep) -> list[Expr]:
    """The nodes every path from ``expr`` to the variable passes through, from the output down (both ends included)."""
    order = dep["order"]
    dom: dict[int, frozenset] = {id(expr): frozenset([id(expr)])}
    node = {id(x): x for x in order}
    for x in reversed(order):  # parents before children
        if id(x) not in dom or is_wrt(x):
            continue
        for k in _kids(x):
            if not dep[id(k)]:
                continue
            mine = dom[id(x)] | {id(k)}
            dom[id(k)] = mine if id(k) not in dom else (dom[id(k)] & dom[id(x)]) | {id(k)}
    target = next(x for x in order if is_wrt(x))
    chain = [node[i] for i in dom[id(target)]]
    depth = {id(x): i for i, x in enumerate(reversed(order))}
    return sorted(chain, key=lambda x: depth[id(x)])


def _nonlinear(top: Expr, bottom: Expr, dep) -> bool:
    """Whether the map from ``bottom`` to ``top`` (the nodes between them) is not linear."""
    stack, seen = [top], set()
    while stack:
        x = stack.pop()
        if x is bottom or id(x) in seen:
            continue
        seen.add(id(x))
        dk = [k for k in _kids(x) if dep[id(k)]]
        if not isinstance(x, _LINEAR) or (len(dk) > 1 and not isinstance(x, ir.Add)):
            return True
        if isinstance(x, ir.Div) and dep[id(x.scalar)]:
            return True
        stack.extend(dk)
    return False


def _replace_node(e: Expr, old: Expr, new: Expr) -> Expr:
    """``e`` with the node ``old`` (by identity) replaced by ``new`` everywhere."""
    memo: dict[int, Expr] = {}

    def go(x: Expr) -> Expr:
        if x is old:
            return new
        got = memo.get(id(x))
        if got is not None:
            return got
        kids = children(x)
        out = x
        if kids and not isinstance(x, Named):
            nk = [go(k) for k in kids]
            if any(a is not b for a, b in zip(nk, kids)):
                out = rebuild(x, nk)
        memo[id(x)] = out
        return out

    return go(e)


def _names_in(e: Expr) -> set[str]:
    out = set()
    for x in ir.walk(e):
        for attr in ("name", "fn"):
            v = getattr(x, attr, None)
            if isinstance(v, str):
                out.add(v)
    return out


_PREFERRED = {ir.Softmax: "p", ir.Apply: "a", ir.MatMul: "z"}
_FALLBACK = ("u", "v", "r", "q", "h", "g", "p", "t")


#: derivative rules too plain to cite beside another (sums, negation, transposes, scalar factors)
_PLAIN = ("sum", "difference", "negation", "scalar-expansion", "transpose", "scale-arg", "vec")


def _rules_of(derivation) -> list[str]:
    """The derivative rules a derivation used (first clause of each statement), the plain ones only if alone."""
    from matcalc.engine.rules import RULES

    used = list(dict.fromkeys(s.rule for s in derivation.steps if s.rule in RULES))
    main = [r for r in used if r not in _PLAIN] or used
    return [RULES[r].statement.split(";")[0].strip() for r in main]


class _Lecture:
    folds: list = []
    final: Expr | None = None  # the presentation's closed form, when it differs from the engine's (never longer)

    def __init__(self, expr: Expr, wrt: Expr, result: Expr, kind: str, layout: str) -> None:
        self.head = Derivative(expr, wrt, kind, layout)
        self.expr, self.wrt, self.result, self.kind, self.layout = expr, wrt, result, kind, layout
        self.is_wrt = matcher(wrt)
        self.taken = _names_in(expr)

    def fresh(self, node: Expr, first: str | None = None) -> str:
        first = first or _PREFERRED.get(type(node))
        for name in ((first,) if first else ()) + _FALLBACK:
            if name not in self.taken:
                self.taken.add(name)
                return name
        raise MatcalcError("no free name")

    def simplify(self, e: Expr, distribute: bool = False) -> tuple[Expr, list[str]]:
        """``e`` simplified, and the rules that fired (first clause of each statement, each once)."""
        whys: list[str] = []
        s = Simplifier(record=True)
        out = s.go(e)
        best, best_whys = out, len(s.steps)
        for _ in range(4 if distribute else 0):  # multiply out one level, simplify, while it gets shorter
            d = _distribute(out)
            if d is out:
                break
            out = s.go(d)
            if _size(out) < _size(best):
                best, best_whys = out, len(s.steps)
                whys.append(DISTRIBUTE)
        whys += [rewrite_why(*r).split(";")[0].strip() for r in s.steps[:best_whys] if visible(r[1], r[2])]
        book, book_whys = textbook_and_rules(best)  # the textbook's form (never larger), as the result has it
        if book != best:
            best = book
            whys += [w.split(";")[0].strip() for w in book_whys]
        return best, _each_once(whys)

    # ─────────────── the plan ───────────────

    def steps(self) -> list[Step] | None:
        while isinstance(self.expr, Named) and not self.is_wrt(self.expr):
            self.expr = self.expr.value  # a let name for the output: its definition is what is differentiated
        expr, wrt = self.expr, self.wrt
        if not is_scalar(expr.shape):
            return None
        dep = _reach(expr, self.is_wrt)
        if not dep[id(expr)] or len(dep["order"]) > _MAX_NODES:
            return None
        chain = _dominators(expr, self.is_wrt, dep)
        fused = {id(x.base) for x in chain if fused_operand(x) is not None}
        chain = [x for x in chain if id(x) not in fused]  # ‖u‖² is one map of u (its rule skips the norm)
        matrix = wrt.shape[1] != 1
        cuts: list[Expr] = []  # the dominators named, from the output down (the output and the variable excluded)
        top = chain[0]
        for lower in chain[1:]:
            if self.is_wrt(lower):
                break
            if not isinstance(lower, Named) and 1 not in lower.shape:
                continue  # a matrix inside a link is not named (log det(Xᵀ X): u = det(Xᵀ X); X W + 1 bᵀ by b)
            if isinstance(lower, Transpose) and self.is_wrt(lower.arg):
                continue  # bᵀ is b written as a row: not a link of its own
            if isinstance(lower, Named) or _nonlinear(top, lower, dep):
                cuts.append(lower)
                top = lower
        if len(cuts) > _MAX_LINKS:
            return None  # a deep network: the composer's trace, linear in the depth
        if any(c.shape[0] != 1 and c.shape[1] != 1 for c in cuts):
            return None  # a matrix in the middle: Jacobians of vecs do not read like the book
        if matrix and (self.kind not in ("d", "grad") or (self.kind == "d" and self.layout == "numerator")):
            return None
        if not cuts:
            return self.one_link(dep)  # a matrix too: one occurrence at a time (tr(Xᵀ A X))
        if matrix and cuts[-1].shape != (1, 1) and _nonlinear(cuts[-1], self._wrt_node(dep), dep):
            return None  # the last link by a matrix: linear in it (u = W x − y), or a scalar (u = det(X))
        return self.chain(cuts, matrix)

    def _wrt_node(self, dep) -> Expr:
        return next(x for x in dep["order"] if self.is_wrt(x))

    # ─────────────── several links ───────────────

    def chain(self, cuts: list[Expr], matrix: bool) -> list[Step] | None:
        wrt = self.wrt
        # the names, innermost first, so each value is written in terms of the names below it
        # each cut dominates the ones below it: its name replaces it, and its value is written with the next name
        names: list[Named] = [None] * len(cuts)  # type: ignore[list-item]
        for i in range(len(cuts) - 1, -1, -1):
            c = cuts[i]
            v = c.value if isinstance(c, Named) else c
            if i + 1 < len(cuts):
                v = _replace_node(v, cuts[i + 1], names[i + 1])
            # the input of an activation (softmax, σ, …) is the pre-activation z, as a sum too (z = W x + b)
            pre = "z" if isinstance(c, ir.Add) and i > 0 and isinstance(cuts[i - 1], (ir.Softmax, ir.Apply)) else None
            names[i] = Named(c.name if isinstance(c, Named) else self.fresh(c, pre), v)
        f_value = _replace_node(self.expr, cuts[0], names[0])
        self.folds = [(c, n) for c, n in zip(cuts, names) if not isinstance(c, Named)]
        fname = next(n for n in ("f", "L", "E", "F", "J") if n not in self.taken)
        f = Named(fname, f_value)
        steps = [Step("chain", None, f_value, "outer and inner functions (the chain rule multiplies their Jacobians)",
                      label=("defs",), defs=(f, *names))]
        # the Jacobian of each link, numerator layout; the last link by the variable
        tops: list[Expr] = [f_value] + [n.value for n in names]
        bys: list[Expr] = list(names) + [wrt]
        jacs: list[Expr] = []
        links = len(tops) - 1 if matrix else len(tops)
        for i in range(links):
            top_label = f if i == 0 else names[i - 1]
            d = self.derive(tops[i], bys[i], "d", "numerator")
            j = self.fold(d.result)
            why = _rules_of(d)
            note = "; ".join(why) if why else "Jacobian"
            steps.append(Step("jacobian", Derivative(tops[i], bys[i], "d", "numerator"), j, note,
                              label=("d", top_label, bys[i])))
            jacs.append(j)
        row = jacs[0] if len(jacs) == 1 else _product(jacs)
        by = names[-1] if matrix else wrt
        if len(jacs) > 1:
            steps.append(Step("chain-rule", Derivative(f_value, by, "d", "numerator"), row,
                              "Jacobian chain rule: the product of the Jacobians (numerator layout)",
                              label=("d", f, by)))
        if matrix:
            out = self.matrix_end(list(steps), f, names[-1], row)
            if out is None and len(jacs) > 1:  # the algebra belongs to the vector z: ∇_z f first, then ∇_W f
                out = self.through_vector(steps[:-1], f, names, row)
            return out
        return self.vector_end(steps, f, row, names)

    def through_vector(self, steps: list[Step], f: Named, names: list[Named], row: Expr) -> list[Step] | None:
        """By a matrix W through a vector ``z`` linear in it, when the algebra simplifies the gradient by ``z``
        (softmax cross-entropy: ``∇_z f = p − y``): ``∇_z f`` in one step (the chain rule and the algebra), then
        ``∇_W f`` from it as for least squares."""
        z = names[-1]
        if z.shape[1] != 1:
            return None
        g = Transpose(row)
        closed, whys = self._grouped(g, names)
        closed = self.fold(closed)
        if _size(closed) >= _size(g):
            return None
        note = (f"Jacobian chain rule, the gradient is the transposed product of the Jacobians (a column, like "
                f"{z.name})")
        steps.append(Step("gradient", Derivative(f.value, z, "grad"), closed, "; ".join([note] + whys),
                          label=("grad", f, z)))
        return self.matrix_end(steps, f, z, Transpose(closed), via=closed)

    def fold(self, e: Expr) -> Expr:
        """``e`` with each named cut's value written as its name (``softmax(z)`` as ``s``), and ``σ'(z)`` as
        ``a ⊙ (1 − a)`` where ``a = σ(z)`` is named (σ' = σ (1 − σ), so that the algebra can cancel it)."""
        for cut, name in self.folds:
            e = _fold(e, cut, name)
            if name.value != cut:  # the value as the links write it, with the names below (softmax(u) for p)
                e = _fold(e, name.value, name)
            v = name.value
            if isinstance(v, ir.Apply) and v.fn == "sigma" and v.order == 0 and not v.declared:
                one_minus = ir.Hadamard(name, ir.Add((ir.Ones(name.shape), ir.Neg(name))))
                e = _fold(_fold(e, ir.Apply("sigma", v.arg, 1), one_minus), ir.Apply("sigma", cut.arg, 1), one_minus)
        return e

    def _grouped(self, e: Expr, names: list[Named]) -> tuple[Expr, list[str]]:
        """One step of algebra: simplified, multiplied out first when that is what reaches the closed form."""
        out, whys = self.simplify(e)
        fresh = {n.name for n in names if not _is_let(n, self.expr)}
        if self.simplify(_unfold(out, fresh))[0] != self.result:
            out2, whys2 = self.simplify(e, distribute=True)
            if self.simplify(_unfold(out2, fresh))[0] == self.result or _size(out2) < _size(out):
                return out2, whys2
        return out, whys

    def vector_end(self, steps: list[Step], f: Named, row: Expr, names: list[Named]) -> list[Step] | None:
        wrt, kind, layout = self.wrt, self.kind, self.layout
        column = not (kind == "jacobian" or (kind == "d" and layout == "numerator")) and wrt.shape != (1, 1)
        g = Transpose(row) if column else row
        closed, whys = self._grouped(g, names)
        closed = self.fold(closed)
        if column:
            whys = [f"the gradient is the transposed Jacobian (a column, like {getattr(wrt, 'name', 'x')})"] + whys
        head = self.head
        lab = ("grad" if column else "d", f, wrt)
        if closed != g or column:
            cont = not column and len(steps) > 1 and steps[-1].label == lab  # the same ∂f/∂x: continue its line
            steps.append(Step("gradient" if column else "algebra", head, closed, "; ".join(whys) or "the result",
                              label=("same",) if cont else lab))
        return self._finish(steps, f, closed, names, lab)

    def _finish(self, steps, f, g, names, lab) -> list[Step] | None:
        fresh = {n.name for n in names if not _is_let(n, self.expr)}
        unnamed = _unfold(g, fresh)
        final, whys = self.simplify(unnamed)
        if final != self.result:
            if _size(final) > _size(self.result):
                return None  # the presentation did not reach the engine's closed form: keep the composer's trace
            self.final = final  # as short or shorter, and equal: the presentation's form becomes the result
        if unnamed is g and final == g and steps and steps[-1].after == g:
            return steps
        subs = [f"{n.name} = {_txt(n.value)}" for n in names if n.name in fresh and _mentions(g, n.name)]
        head = self.head
        steps.append(Step("result", head, final, "; ".join(subs + whys) or "the result",
                          label=("same",) if steps[-1].label == lab or steps[-1].before == head else lab))
        return steps

    def matrix_end(self, steps: list[Step], f: Named, u: Named, row: Expr, via: Expr | None = None
                   ) -> list[Step] | None:
        """The last link ``u = u(W)`` is linear in W: ``du`` in the note, the gradient by the vjp of that map."""
        W = self.wrt
        dW = Var("d" + W.name, W.dims)
        linear = not _nonlinear(u.value, self._wrt_node(_reach(u.value, self.is_wrt)), _reach(u.value, self.is_wrt))
        # ∇_W f for f = row u(W) with row fixed: the engine's gradient of a linear function of W
        # ∂f/∂u is held fixed: its names by plain variables while the gradient is taken, then put back
        held = {x.name: x for x in ir.walk(row) if isinstance(x, Named)}
        fixed = row
        for name, nm in held.items():
            fixed = _replace_named(fixed, name, Var(name, nm.shape))
        g = self.derive(MatMul((fixed, u.value)) if fixed.shape != (1, 1) else ir.Scale(fixed, u.value), W, "grad",
                        "mixed")
        grad = g.result
        for name, nm in held.items():
            grad = _substitute_var(grad, name, nm)
        if linear:
            du = _differential(u.value, self.is_wrt, dW)
            note = (f"{u.name} = {_txt(u.value)} is linear in {W.name}: d{u.name} = {_txt(du)}, so "
                    f"df = (∂f/∂{u.name}) d{u.name} = tr(Gᵀ d{W.name}) with G the gradient (aᵀ B c = tr(c aᵀ B))")
            if via is not None and isinstance(du, MatMul) and du.args[0] == dW:  # ∇_z f as shown: G = (∇_z f) xᵀ
                rest = du.args[1] if len(du.args) == 2 else MatMul(du.args[1:])
                note = (f"{u.name} = {_txt(u.value)} is linear in {W.name}: d{u.name} = {_txt(du)}, so "
                        f"∇_{W.name} f = (∇_{u.name} f) {_txt(Transpose(rest))}")
        else:  # a scalar u: ∂f/∂u times the gradient of u, each as derived, u written by its name
            gu = self.derive(u.value, W, "grad", "mixed")
            grad = ir.Scale(row, _fold(gu.result, u.value, u))
            note = "; ".join([f"∇_{W.name} f = (∂f/∂{u.name}) ∇_{W.name} {u.name} for the scalar {u.name}"]
                             + _rules_of(gu))
        claim_lhs = Derivative(self.head.expr, W, "grad")
        steps.append(Step("gradient", claim_lhs, grad, note, label=("grad", f, W)))
        return self._finish(steps, f, grad, list(steps[0].defs[1:]), ("grad", f, W))

    # ─────────────── one link: the occurrences of the variable ───────────────

    def one_step(self) -> list[Step]:
        """The variable occurs once and no map is worth naming: one step, its rules listed."""
        head = self.head
        d = self.derive(self.expr, self.wrt, self.kind, self.layout)
        why = _all_rules_of(d)
        column = self.kind != "jacobian" and not (self.kind == "d" and self.layout == "numerator") \
            and self.wrt.shape[1] == 1 and self.wrt.shape != (1, 1)
        if column:
            why.append("the gradient is the transposed Jacobian")
        kind = "grad" if self.kind == "grad" or column or (self.kind == "d" and self.layout == "mixed"
                                                            and self.wrt.shape != (1, 1)) else "d"
        return [Step("result", head, self.result, "; ".join(why) or "the result", label=(kind, self.head.expr, self.wrt))]

    def one_link(self, dep) -> list[Step] | None:
        expr, wrt = self.expr, self.wrt
        count = _count_occurrences(expr, self.is_wrt, _MAX_OCCURRENCES + 1)
        if count > _MAX_OCCURRENCES:
            return None
        if count <= 1:
            return self.one_step()
        name = getattr(wrt, "name", "x")
        fname = next(n for n in ("f", "L", "E", "F", "J") if n not in self.taken)
        f = Named(fname, expr)
        kind = "grad" if self.kind == "grad" or (self.kind == "d" and self.layout != "numerator") else self.kind
        if isinstance(expr, ir.Add):
            terms = [t for t in expr.args if _count_occurrences(t, self.is_wrt, 1)]
            if len(terms) > 1:
                return self.sum_rule(f, terms, kind, len(terms) < len(expr.args))
        steps = [Step("occurrences", None, expr, f"{name} occurs {_times(count)}: differentiate one occurrence at a time, the "
                      "others held fixed, and add the contributions (product rule)", label=("defs",), defs=(f,))]
        contribs = []
        for k in range(count):
            xk = Var(f"{name}__{k + 1}", wrt.dims, getattr(wrt, "props", frozenset()))
            ek = _replace_occurrence(expr, self.is_wrt, k, xk)
            d = self.derive(ek, xk, self.kind, self.layout)
            shown = _substitute_var(d.result, xk.name, wrt)
            why = _rules_of(d)
            steps.append(Step("contribution", None, shown, "; ".join(why) or "one occurrence",
                              label=("through", k, name), claim=(Derivative(ek, xk, self.kind, self.layout), d.result)))
            contribs.append(shown)
        total = ir.Add(tuple(contribs))
        head = self.head
        steps.append(Step("sum-of-contributions", head, total, "the sum of the contributions",
                          label=(kind, f, wrt)))
        return self._closed(steps, total)


    def _closed(self, steps: list[Step], total: ir.Expr) -> list[Step] | None:
        """``steps`` ending in the sum ``total``, with one step of algebra to its simplified form; None where that is
        larger than the engine's own result (the trace would end longer than the answer)."""
        final, whys = self.simplify(total)
        if final != self.result:
            if _size(final) > _size(self.result):
                return None
            self.final = final
        if final != total:
            steps.append(Step("algebra", None, final, "; ".join(whys)))
        return steps

    def sum_rule(self, f: Named, terms: list, kind: str, constants: bool) -> list[Step] | None:
        """The variable occurs in several terms of a sum: each term differentiated on its own and the derivatives
        added (the sum rule, ∇(f + g) = ∇f + ∇g), each row a whole derivative of its term."""
        wrt = self.wrt
        name = getattr(wrt, "name", "x")
        sign = {"grad": "∇(f + g) = ∇f + ∇g"}.get(kind, "∂(f + g)/∂x = ∂f/∂x + ∂g/∂x")
        rest = len(f.value.args) - len(terms)
        note = (f"{name} occurs in {len(terms)} terms of the sum: differentiate term by term and add (sum rule, "
                f"{sign})" + (f"; {'the term' if rest == 1 else 'the terms'} without {name} "
                              f"{'has' if rest == 1 else 'have'} derivative 0" if constants else ""))
        steps = [Step("sum-rule", None, f.value, note, label=("defs",), defs=(f,))]
        parts = []
        for t in terms:
            d = self.derive(t, wrt, self.kind, self.layout)
            steps.append(Step("term", Derivative(t, wrt, self.kind, self.layout), d.result,
                              "; ".join(_rules_of(d)) or "the derivative of the term", label=(kind, t, wrt),
                              claim=(Derivative(t, wrt, self.kind, self.layout), d.result)))
            parts.append(d.result)
        total = ir.Add(tuple(parts))
        steps.append(Step("sum-of-terms", self.head, total, "the sum rule: the sum of the terms' derivatives",
                          label=(kind, f, wrt)))
        return self._closed(steps, total)


DISTRIBUTE = "A (B + C) = A B + A C"


def _each_once(whys: list[str]) -> list[str]:
    """The rules' statements, each identity once: ``(A B)ᵀ = Bᵀ Aᵀ`` is not cited again inside a later group
    ``(A B)ᵀ = Bᵀ Aᵀ, (A + B)ᵀ = Aᵀ + Bᵀ``."""
    seen: set[str] = set()
    out: list[str] = []
    for why in whys:
        pieces = [p for p in why.split(", ") if p.strip() not in seen]
        seen.update(p.strip() for p in why.split(", "))
        if pieces and why not in out:
            out.append(", ".join(pieces))
    return out


def _size(e: Expr) -> int:
    return sum(1 for _ in ir.walk(e))


def _distribute(e: Expr) -> Expr:
    """``e`` with the outermost sums among the factors of its products multiplied out, one level, each factor kept
    whole (``(p − q) ⊙ r = p ⊙ r − q ⊙ r``, ``A (B − C) = A B − A C``, ``−(a − b) = −a + b``)."""
    if isinstance(e, ir.Add):
        args = tuple(_distribute(t) for t in e.args)
        return e if all(x is y for x, y in zip(args, e.args)) else ir.Add(args)
    if isinstance(e, ir.Neg):
        if isinstance(e.arg, ir.Add):
            return ir.Add(tuple(t.arg if isinstance(t, ir.Neg) else ir.Neg(t) for t in e.arg.args))
        inner = _distribute(e.arg)
        return e if inner is e.arg else ir.Neg(inner)
    if isinstance(e, ir.Hadamard):
        for sum_, other in ((e.a, e.b), (e.b, e.a)):
            if isinstance(sum_, ir.Add):
                return ir.Add(tuple(ir.Neg(ir.Hadamard(t.arg, other)) if isinstance(t, ir.Neg)
                                    else ir.Hadamard(t, other) for t in sum_.args))
        a2 = _distribute(e.a)
        if a2 is not e.a:
            return ir.Hadamard(a2, e.b)
        b2 = _distribute(e.b)
        return e if b2 is e.b else ir.Hadamard(e.a, b2)
    if isinstance(e, MatMul):
        for i, a in enumerate(e.args):
            if isinstance(a, ir.Add):
                return ir.Add(tuple(ir.Neg(MatMul(e.args[:i] + (t.arg,) + e.args[i + 1:])) if isinstance(t, ir.Neg)
                                    else MatMul(e.args[:i] + (t,) + e.args[i + 1:]) for t in a.args))
        for i, a in enumerate(e.args):
            t = _distribute(a)
            if t is not a:
                return MatMul(e.args[:i] + (t,) + e.args[i + 1:])
    if isinstance(e, (ir.Scale, Transpose)):
        kids = children(e)
        nk = [_distribute(k) for k in kids]
        return e if all(x is y for x, y in zip(nk, kids)) else rebuild(e, nk)
    return e


def _fold(e: Expr, value: Expr, name: Named) -> Expr:
    if e == value:
        return name
    kids = children(e)
    if not kids or isinstance(e, Named):
        return e
    nk = [_fold(k, value, name) for k in kids]
    return e if all(a is b for a, b in zip(nk, kids)) else rebuild(e, nk)


def _replace_named(e: Expr, name: str, by: Expr) -> Expr:
    if isinstance(e, Named) and e.name == name:
        return by
    kids = children(e)
    if not kids or isinstance(e, Named):
        return e
    nk = [_replace_named(k, name, by) for k in kids]
    return e if all(a is b for a, b in zip(nk, kids)) else rebuild(e, nk)


#: rewrites too plain to cite for a one-step derivative (their intermediate forms are never shown)
_TIDY = ("I A = A", "1 ⊙ A = A", "(A B) C = A B C", "(Aᵀ)ᵀ = A", "expanding 0 or 1", "a 1×1 term", "0 + A = A",
         "(A + B) + C")


def _all_rules_of(derivation) -> list[str]:
    """The derivative rules a derivation used, then the rewrites that fired (first clause of each, each once)."""
    from matcalc.engine.rules import RULES

    out = _rules_of(derivation)
    for s in derivation.steps:
        if s.rule not in RULES and s.rule not in ("chain-rule", "shared-subexpression", "expand-derivatives", "layout"):
            why = (s.note or s.rule).split(";")[0].strip()
            if why and why not in out and not why.startswith("the same rewrites") and not why.startswith(_TIDY):
                out.append(why)
    return out


def _product(jacs: list[Expr]) -> Expr:
    """The Jacobians multiplied, as one flat product with the scalar factors in front (``2 uᵀ W diag(σ'(z))``)."""
    scalars, factors = [], []
    for j in jacs:
        while isinstance(j, ir.Scale) and (not is_scalar(j.arg.shape) or isinstance(j.scalar, ir.Num)):
            scalars.append(j.scalar)
            j = j.arg
        factors.extend(j.args if isinstance(j, MatMul) else (j,))
    factors = [a for a in factors if not isinstance(a, ir.Identity)] or factors[:1]  # I B = B
    if len(factors) == 1:
        out = factors[0]
    else:
        out = MatMul(tuple(factors))
    k = 1
    for c in [c for c in scalars if isinstance(c, ir.Num)]:
        k *= c.value
    rest = [c for c in scalars if not isinstance(c, ir.Num)]
    for c in reversed(rest):
        out = ir.Scale(c, out)
    return out if k == 1 else ir.Scale(ir.Num(k), out)


def _times(k: int) -> str:
    return {2: "twice", 3: "three times"}.get(k, f"{k} times")


def _txt(e: Expr) -> str:
    from matcalc.printing import to_text

    s = to_text(e)
    return s if len(s) <= 60 else s[:57] + "…"


def _is_let(n: Named, expr: Expr) -> bool:
    return any(isinstance(x, Named) and x.name == n.name for x in ir.walk(expr))


def _mentions(e: Expr, name: str) -> bool:
    return any(isinstance(x, Named) and x.name == name for x in ir.walk(e))


def _unfold(e: Expr, names: set[str]) -> Expr:
    """``e`` with the named cuts in ``names`` replaced by their values (the ``let`` names of the input stay)."""
    if isinstance(e, Named) and e.name in names:
        return _unfold(e.value, names)
    kids = children(e)
    if not kids or isinstance(e, Named):
        return e
    nk = [_unfold(k, names) for k in kids]
    return e if all(a is b for a, b in zip(nk, kids)) else rebuild(e, nk)


def _differential(e: Expr, is_wrt, dW: Expr) -> Expr:
    """The differential of ``e``, linear (affine) in the variable: the variable replaced by ``dW``, constants dropped."""
    from matcalc.engine.simplify import simplify

    deps: dict[int, bool] = {}
    done: dict[int, Expr] = {}  # each shared node (a let's definition) once

    def dep(x):
        got = deps.get(id(x))
        if got is None:
            got = deps[id(x)] = is_wrt(x) or any(dep(k) for k in children(x))
        return got

    def go(x: Expr) -> Expr:
        got = done.get(id(x))
        if got is not None:
            return got
        if is_wrt(x):
            out = dW
        elif isinstance(x, ir.Add):
            out = ir.Add(tuple(go(a) for a in x.args if dep(a))) if sum(dep(a) for a in x.args) > 1 else \
                go(next(a for a in x.args if dep(a)))
        elif isinstance(x, Named):
            out = go(x.value)
        else:
            out = rebuild(x, [go(k) if dep(k) else k for k in children(x)])
        done[id(x)] = out
        return out

    return simplify(go(e))


def _count_occurrences(e: Expr, is_wrt, limit: int) -> int:
    n, stack = 0, [e]
    while stack and n < limit:
        x = stack.pop()
        if is_wrt(x):
            n += 1
        elif isinstance(x, Named):
            if any(is_wrt(y) for y in ir.walk(x.value)):
                return limit + 1  # inside a let name: the occurrences are not the reader's to count
        else:
            stack.extend(children(x))
    return n


def _replace_occurrence(e: Expr, is_wrt, k: int, new: Expr) -> Expr:
    """``e`` with the ``k``-th occurrence (0-based, left to right as printed) of the variable replaced by ``new``."""
    seen = [0]

    def go(x: Expr) -> Expr:
        if is_wrt(x):
            i = seen[0]
            seen[0] += 1
            return new if i == k else x
        kids = children(x)
        if not kids or isinstance(x, Named):
            return x
        nk = [go(c) for c in kids]
        return x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)

    return go(e)


def _substitute_var(e: Expr, name: str, by: Expr, memo: dict | None = None) -> Expr:
    if isinstance(e, Var) and e.name == name:
        return by
    memo = {} if memo is None else memo
    got = memo.get(id(e))
    if got is not None:
        return got
    kids = children(e)
    nk = [_substitute_var(k, name, by, memo) for k in kids]
    out = e if all(a is b for a, b in zip(nk, kids)) else rebuild(e, nk)
    memo[id(e)] = out
    return out

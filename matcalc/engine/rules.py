"""The trusted kernel: one table of derivative rules, one entry per operation of SPEC section 3.

Contract: :data:`RULES` maps a rule name to a :class:`Rule`. Each rule names the IR class it handles (``op``), states
itself in matrix form and in index notation, cites its source, and carries the two functions the composer
(:mod:`matcalc.engine.compose`) calls:

* ``vjp(node, G, i)`` — reverse mode: given the adjoint ``G`` of ``node`` (the gradient of a scalar output, shaped like
  ``node``), the contribution to the adjoint of operand ``i`` (shaped like that operand);
* ``jac(node, i)`` — the local Jacobian ``∂vec(node)/∂vec(operand i)`` in numerator layout (``|node| × |operand|``),
  used for vector and matrix outputs.

:func:`rule_for` picks the rule for operand ``i`` of a node (a lookup in :data:`DISPATCH` by node type; the few
operations with several rules pick one by function name or operand position); an operation without a rule raises
:class:`UnsupportedDerivative` naming it — never a silent zero.
Each rule also has an ``example`` (an expression over variables with symbolic sizes and the variable to differentiate
by) and, where SymPy can state it at generic ``n``, an ``index_proof``; :func:`matcalc.engine.rulecheck.verify_rules`
checks every rule with them (SymPy is imported lazily there and only there). Style after HIPS autograd's ``numpy_vjps.py``: one line per
primitive, helpers for the linear/bilinear/entrywise shapes of rules, banner comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import (
    Add, Apply, Broadcast, CallVec, Commutation, Det, Diag, Div, EPower, Expr, HadDiv, Hadamard, Identity, Inverse, Kron,
    LogDet, LogSumExp, MatMul, MaxMin, Neg, Norm, Ones, Power, Scale, Softmax, Sum, Trace, Transpose, Var, Vec,
    Zeros,
)
from matcalc.engine.build import T, col, diagc, inner, mm, num, sc, step_, unvec, vsize
from matcalc.shapes import dim_mul, is_scalar

__all__ = ["Rule", "RULES", "UnsupportedDerivative", "rule_for", "DISPATCH", "fused_operand", "fprime", "MAX_MATRIX_POWER"]

#: Largest |k| for which ``X^k`` is differentiated (the rule expands to k terms).
MAX_MATRIX_POWER = 64


class UnsupportedDerivative(MatcalcError):
    """The engine has no rule for this operation (or this use of it); the message names the operation."""


# ───────────────────────────── derivatives of the entrywise functions ─────────────────────────────


def fprime(fn: str, x: Expr, order: int = 0, declared: bool = False) -> Expr:
    """The derivative of the entrywise function ``fn^(order)`` at ``x`` (P&H, scalar derivative rules)."""
    if declared:
        return Apply(fn, x, order + 1, True)
    if order == 0:
        closed = {
            "exp": lambda: Apply("exp", x),
            "log": lambda: EPower(x, -1),
            "sqrt": lambda: HadDiv(Broadcast(num(1), x.shape), Scale(num(2), Apply("sqrt", x))),
            "sin": lambda: Apply("cos", x),
            "cos": lambda: Neg(Apply("sin", x)),
            "tanh": lambda: Add((Ones(x.shape), Neg(EPower(Apply("tanh", x), 2)))),
            "sigma": lambda: Apply("sigma", x, 1),
            "relu": lambda: Apply("step", x),
            "softplus": lambda: Apply("sigma", x),
            "abs": lambda: HadDiv(x, Apply("abs", x)),
            "step": lambda: Zeros(x.shape),  # step' = 0 away from the kink at 0 (P&H's convention)
        }
        if fn not in closed:
            raise UnsupportedDerivative(f"no derivative rule for the entrywise function {fn}")
        return closed[fn]()
    if fn in ("exp",):
        return Apply("exp", x)
    if fn in ("relu", "step"):  # relu' = step, whose derivative is 0 away from 0
        return Zeros(x.shape)
    if fn == "sigma":
        return Apply(fn, x, order + 1)
    raise UnsupportedDerivative(f"no derivative rule for the derivative {fn}{chr(39) * order} of {fn}")


# ───────────────────────────── the Rule record ─────────────────────────────


@dataclass(frozen=True)
class Rule:
    """One derivative rule: what it differentiates, in matrix and index form, where it comes from, how to apply it."""

    name: str
    op: type
    statement: str
    source: str
    index_form: str
    vjp: Callable | None = None
    jac: Callable | None = None
    note: str = ""
    example: Callable | None = field(default=None, compare=False)  # () -> (expr, wrt)
    index_proof: Callable | None = field(default=None, compare=False)  # (sympy) -> (lhs, var, claimed)

    def __str__(self) -> str:
        return f"{self.name}: {self.statement}"


RULES: dict[str, Rule] = {}


def defrule(name: str, op: type, statement: str, source: str, index_form: str, *, vjp=None, jac=None, note="",
            example=None, index_proof=None) -> Rule:
    r = Rule(name, op, statement, source, index_form, vjp, jac, note or statement, example, index_proof)
    RULES[name] = r
    return r


def def_linear(name: str, op: type, statement: str, source: str, index_form: str, *, vjp, jac, **kw) -> Rule:
    """A rule for a map linear in the operand (``vjp`` does not depend on the operand's value)."""
    return defrule(name, op, statement, source, index_form, vjp=vjp, jac=jac, **kw)


_FN_TEXT = {"sigma": "σ", "declared-f": "f"}


def def_entrywise(fn: str, statement: str, index_form: str, source: str = "Parr & Howard, element-wise "
                  "functions (diagonal Jacobian); scalar derivative rules", **kw) -> Rule:
    """``f(x)`` applied entry by entry: ``Ḡ = G ⊙ f'(x)``, Jacobian ``diag(f'(x))`` (P&H element-wise diagonal case)."""
    return defrule(
        fn, Apply, statement, source, index_form,
        vjp=lambda y, g, i: Hadamard(g, fprime(y.fn, y.arg, y.order, y.declared)),
        jac=lambda y, i: diagc(fprime(y.fn, y.arg, y.order, y.declared)),
        note=f"Jacobian of an entrywise function: diag({_FN_TEXT.get(fn, fn)}'(x)) (Parr & Howard, \"Derivatives of vector element-wise binary operators\")", **kw)


# Symbolic sizes used by the rule examples.
_n, _m, _k = "n", "m", "k"


def _v(name, r, c=1, *props):
    return Var(name, (r, c), frozenset(props))


# ───────────────────────────── sums, negation, scalar expansion ─────────────────────────────

def_linear("sum", Add, "∂(a + b)/∂a = I", "Parr & Howard, element-wise binary operators table (w + x)",
           "∂(w_i + x_i)/∂w_j = δ_ij",
           vjp=lambda y, g, i: g, jac=lambda y, i: Identity(vsize(y)),
           example=lambda: (Add((_v("w", _n), _v("x", _n))), _v("w", _n)),
           index_proof=lambda s: (s["w"][s["i"]] + s["x"][s["i"]], s["w"][s["j"]], s["d"](s["i"], s["j"])))
def_linear("difference", Add, "∂(a − b)/∂b = −I", "Parr & Howard, element-wise binary operators table (w − x)",
           "∂(w_i − x_i)/∂x_j = −δ_ij",
           vjp=lambda y, g, i: g, jac=lambda y, i: Identity(vsize(y)),
           note="the subtrahend enters through negation",
           example=lambda: (Add((_v("w", _n), Neg(_v("x", _n)))), _v("x", _n)),
           index_proof=lambda s: (s["w"][s["i"]] - s["x"][s["i"]], s["x"][s["j"]], -s["d"](s["i"], s["j"])))
def_linear("negation", Neg, "∂(−a)/∂a = −I", "Parr & Howard, scalar derivative rules (c f, c = −1)",
           "∂(−x_i)/∂x_j = −δ_ij",
           vjp=lambda y, g, i: Neg(g), jac=lambda y, i: Neg(Identity(vsize(y))),
           example=lambda: (Neg(_v("x", _n)), _v("x", _n)),
           index_proof=lambda s: (-s["x"][s["i"]], s["x"][s["j"]], -s["d"](s["i"], s["j"])))
def_linear("scalar-expansion", Broadcast, "∂(x + z)/∂z = 1_n", "Parr & Howard, \"Derivatives involving scalar expansion\"",
           "∂(x_i + z)/∂z = 1",
           vjp=lambda y, g, i: g if is_scalar(g.shape) else Sum(g), jac=lambda y, i: Ones((vsize(y), 1)),
           example=lambda: (Add((_v("x", _n), Broadcast(_v("z", 1), (_n, 1)))), _v("z", 1)),
           index_proof=lambda s: (s["x"][s["i"]] + s["z"], s["z"], 1))
defrule("scale-arg", Scale, "∂(x z)/∂x = I z", "Parr & Howard, \"Derivatives involving scalar expansion\"", "∂(x_i z)/∂x_j = z δ_ij",
        vjp=lambda y, g, i: Scale(y.scalar, g), jac=lambda y, i: Scale(y.scalar, Identity(vsize(y))),
        example=lambda: (Scale(_v("z", 1), _v("x", _n)), _v("x", _n)),
        index_proof=lambda s: (s["x"][s["i"]] * s["z"], s["x"][s["j"]], s["z"] * s["d"](s["i"], s["j"])))
defrule("scale-scalar", Scale, "∂(x z)/∂z = x", "Parr & Howard, \"Derivatives involving scalar expansion\"", "∂(x_i z)/∂z = x_i",
        vjp=lambda y, g, i: inner(g, y.arg), jac=lambda y, i: col(y.arg),
        example=lambda: (Scale(_v("z", 1), _v("x", _n)), _v("z", 1)),
        index_proof=lambda s: (s["x"][s["i"]] * s["z"], s["z"], s["x"][s["i"]]))
defrule("div-arg", Div, "∂(x / z)/∂x = I / z", "Parr & Howard, \"Derivatives involving scalar expansion\" (derived)",
        "∂(x_i / z)/∂x_j = δ_ij / z",
        vjp=lambda y, g, i: Div(g, y.scalar), jac=lambda y, i: Div(Identity(vsize(y)), y.scalar),
        example=lambda: (Div(_v("x", _n), _v("z", 1)), _v("x", _n)),
        index_proof=lambda s: (s["x"][s["i"]] / s["z"], s["x"][s["j"]], s["d"](s["i"], s["j"]) / s["z"]))
defrule("div-scalar", Div, "∂(x / z)/∂z = −x / z²", "Parr & Howard, \"Derivatives involving scalar expansion\" (derived)",
        "∂(x_i / z)/∂z = −x_i / z²",
        vjp=lambda y, g, i: Neg(Div(inner(g, y.arg), Power(y.scalar, 2))),
        jac=lambda y, i: Neg(Div(col(y.arg), Power(y.scalar, 2))),
        example=lambda: (Div(_v("x", _n), _v("z", 1)), _v("z", 1)),
        index_proof=lambda s: (s["x"][s["i"]] / s["z"], s["z"], -s["x"][s["i"]] / s["z"] ** 2))


# ───────────────────────────── matrix products ─────────────────────────────


def _left(y: MatMul, i: int) -> Expr | None:
    return mm(*y.args[:i]) if i > 0 else None


def _right(y: MatMul, i: int) -> Expr | None:
    return mm(*y.args[i + 1:]) if i < len(y.args) - 1 else None


def matmul_vjp(y: MatMul, g: Expr, i: int) -> Expr:
    """``Y = L X R``: ``Ḡ_X = Lᵀ G Rᵀ`` (Cookbook (69)-(71); P&H vector chain rule)."""
    L, R = _left(y, i), _right(y, i)
    return mm(T(L) if L is not None else None, g, T(R) if R is not None else None)


def matmul_jac(y: MatMul, i: int) -> Expr:
    """``vec(L dX R) = (Rᵀ ⊗ L) vec(dX)`` (Magnus & Neudecker, ch. 9)."""
    x = y.args[i]
    L, R = _left(y, i), _right(y, i)
    if R is None and x.shape[1] == 1:  # a column: vec(L dx) = L dx
        return L
    if L is None and x.shape[0] == 1:  # a row: vec(dx R) = Rᵀ dxᵀ
        return T(R)
    Rt = T(R) if R is not None else Identity(x.shape[1])
    Lm = L if L is not None else Identity(x.shape[0])
    return Kron(Rt, Lm)


_W, _x = lambda: _v("W", _n, _m), lambda: _v("x", _m)
defrule("matmul-left", MatMul, "∂(A B)/∂A: dY = dA B;  ∂(W x)/∂W = xᵀ ⊗ I, gradient G xᵀ",
        "Matrix Cookbook (69)-(70); Magnus & Neudecker (vec(A B) = (Bᵀ ⊗ I) vec A)",
        "∂(Σ_k W_ik x_k)/∂W_pq = δ_ip x_q",
        vjp=matmul_vjp, jac=matmul_jac,
        example=lambda: (MatMul((_W(), _x())), _W()),
        index_proof=lambda s: (s["Sum"](s["W"][s["i"], s["k"]] * s["x"][s["k"]], (s["k"], 1, s["n"])),
                               s["W"][s["p"], s["q"]], s["d"](s["i"], s["p"]) * s["x"][s["q"]]))
defrule("matmul-right", MatMul, "∂(A B)/∂B: dY = A dB;  ∂(W x)/∂x = W",
        "Parr & Howard (layer Jacobian); Matrix Cookbook (69)",
        "∂(Σ_k W_ik x_k)/∂x_j = W_ij",
        vjp=matmul_vjp, jac=matmul_jac,
        example=lambda: (MatMul((_W(), _x())), _x()),
        index_proof=lambda s: (s["Sum"](s["W"][s["i"], s["k"]] * s["x"][s["k"]], (s["k"], 1, s["n"])),
                               s["x"][s["j"]], s["W"][s["i"], s["j"]]))
defrule("matmul-middle", MatMul, "∂(A X B)/∂X: dY = A dX B;  ∂tr(A X B)/∂X = Aᵀ Bᵀ",
        "Matrix Cookbook (70), (100); Magnus & Neudecker (vec(A X B) = (Bᵀ ⊗ A) vec X)",
        "∂(Σ_kl A_ik X_kl B_lj)/∂X_pq = A_ip B_qj",
        vjp=matmul_vjp, jac=matmul_jac,
        example=lambda: (MatMul((_v("A", _k, _n), _v("X", _n, _m), _v("B", _m, 2))), _v("X", _n, _m)),
        index_proof=lambda s: (s["Sum"](s["A"][s["i"], s["k"]] * s["X"][s["k"], s["l"]] * s["B"][s["l"], s["j"]],
                                        (s["k"], 1, s["n"]), (s["l"], 1, s["m"])),
                               s["X"][s["p"], s["q"]], s["A"][s["i"], s["p"]] * s["B"][s["q"], s["j"]]))
defrule("dot", MatMul, "∂(wᵀ x)/∂w = xᵀ, ∂(wᵀ x)/∂x = wᵀ (gradients x and w)",
        "Parr & Howard, vector sum reduction (dot product)", "∂(Σ_k w_k x_k)/∂x_j = w_j",
        vjp=matmul_vjp, jac=matmul_jac,
        example=lambda: (MatMul((T(_v("w", _n)), _v("x", _n))), _v("x", _n)),
        index_proof=lambda s: (s["Sum"](s["w"][s["k"]] * s["x"][s["k"]], (s["k"], 1, s["n"])), s["x"][s["j"]],
                               s["w"][s["j"]]))


# ───────────────────────────── entrywise binary operators ─────────────────────────────

defrule("hadamard", Hadamard, "∂(w ⊙ x)/∂w = diag(x), ∂(w ⊙ x)/∂x = diag(w)",
        "Parr & Howard, element-wise binary operators table (w ⊗ x, their notation)", "∂(w_i x_i)/∂w_j = x_i δ_ij",
        vjp=lambda y, g, i: Hadamard(g, (y.b, y.a)[i]), jac=lambda y, i: diagc((y.b, y.a)[i]),
        example=lambda: (Hadamard(_v("w", _n), _v("x", _n)), _v("w", _n)),
        index_proof=lambda s: (s["w"][s["i"]] * s["x"][s["i"]], s["w"][s["j"]], s["x"][s["i"]] * s["d"](s["i"], s["j"])))
defrule("hadamard-div-left", HadDiv, "∂(w ⊘ x)/∂w = diag(1 ⊘ x)",
        "Parr & Howard, element-wise binary operators table (w / x)", "∂(w_i / x_i)/∂w_j = δ_ij / x_i",
        vjp=lambda y, g, i: HadDiv(g, y.b), jac=lambda y, i: diagc(EPower(y.b, -1)),
        example=lambda: (HadDiv(_v("w", _n), _v("x", _n)), _v("w", _n)),
        index_proof=lambda s: (s["w"][s["i"]] / s["x"][s["i"]], s["w"][s["j"]], s["d"](s["i"], s["j"]) / s["x"][s["i"]]))
defrule("hadamard-div-right", HadDiv, "∂(w ⊘ x)/∂x = diag(−w ⊘ x.^2)",
        "Parr & Howard, element-wise binary operators table (w / x)", "∂(w_i / x_i)/∂x_j = −w_i δ_ij / x_i²",
        vjp=lambda y, g, i: Neg(HadDiv(Hadamard(g, y.a), EPower(y.b, 2))),
        jac=lambda y, i: diagc(Neg(HadDiv(y.a, EPower(y.b, 2)))),
        example=lambda: (HadDiv(_v("w", _n), _v("x", _n)), _v("x", _n)),
        index_proof=lambda s: (s["w"][s["i"]] / s["x"][s["i"]], s["x"][s["j"]],
                               -s["w"][s["i"]] * s["d"](s["i"], s["j"]) / s["x"][s["i"]] ** 2))


def _maxmin_vjp(y: MaxMin, g: Expr, i: int) -> Expr:
    return Hadamard(g, _maxmin_ind(y, i))


def _maxmin_ind(y: MaxMin, i: int) -> Expr:
    """``[a_i > b_i]`` as ``step(a − b)`` (the subgradient 0 at ties, P&H's ReLU convention)."""
    me, other = (y.a, y.b) if i == 0 else (y.b, y.a)
    if y.op == "min":
        me, other = other, me
    return step_(Add((me, Neg(other))))


defrule("max", MaxMin, "∂max(w, x)/∂w = diag([w > x]), ∂max(w, x)/∂x = diag([x > w])",
        "derived with the element-wise diagonal rule (Parr & Howard, \"Derivatives of vector element-wise binary "
        "operators\", with their ReLU convention from \"The gradient of neuron activation\")",
        "∂max(w_i, x_i)/∂w_j = [w_i > x_i] δ_ij",
        vjp=_maxmin_vjp, jac=lambda y, i: diagc(_maxmin_ind(y, i)),
        example=lambda: (MaxMin("max", _v("w", _n), _v("x", _n)), _v("w", _n)),
        index_proof=lambda s: (s["Max"](s["w"][s["i"]], s["x"][s["i"]]), s["w"][s["j"]],
                               s["H"](s["w"][s["i"]] - s["x"][s["i"]]) * s["d"](s["i"], s["j"])))
defrule("min", MaxMin, "∂min(w, x)/∂w = diag([w < x])",
        "derived with the element-wise diagonal rule (Parr & Howard, \"Derivatives of vector element-wise binary "
        "operators\")",
        "∂min(w_i, x_i)/∂w_j = [w_i < x_i] δ_ij",
        vjp=_maxmin_vjp, jac=lambda y, i: diagc(_maxmin_ind(y, i)),
        example=lambda: (MaxMin("min", _v("w", _n), _v("x", _n)), _v("x", _n)),
        index_proof=lambda s: (s["Min"](s["w"][s["i"]], s["x"][s["i"]]), s["x"][s["j"]],
                               s["H"](s["w"][s["i"]] - s["x"][s["i"]]) * s["d"](s["i"], s["j"])))


def _columns(y: Kron) -> bool:
    return y.a.shape[1] == 1 and y.b.shape[1] == 1


def _kron_parts(g: Expr, y: Kron):
    """``(wrap, P, Q)`` with ``g = wrap(P ⊗ Q)``, P shaped like ``y.a`` and Q like ``y.b`` (scalar factors in
    ``wrap``), when g is visibly a Kronecker product: ``P ⊗ Q``, ``(A ⊗ B)⁻ᵀ = A⁻ᵀ ⊗ B⁻ᵀ``, ``(A ⊗ B)⁻¹``,
    ``(A ⊗ B)ᵀ``, ``I_mp = I_m ⊗ I_p`` for square factors; else None."""
    a, b = y.a, y.b
    match g:
        case ir.Scale(scalar=s, arg=x) if is_scalar(s.shape):
            got = _kron_parts(x, y)
            return None if got is None else (lambda e, w=got[0]: ir.Scale(s, w(e)), got[1], got[2])
        case ir.Div(arg=x, scalar=s):
            got = _kron_parts(x, y)
            return None if got is None else (lambda e, w=got[0]: Div(w(e), s), got[1], got[2])
        case ir.Neg(arg=x):
            got = _kron_parts(x, y)
            return None if got is None else (lambda e, w=got[0]: ir.Neg(w(e)), got[1], got[2])
        case Kron(a=p, b=q):
            pq = (p, q)
        case Transpose(arg=Inverse(arg=Kron(a=p, b=q))):
            pq = (T(Inverse(p)), T(Inverse(q)))
        case Inverse(arg=Kron(a=p, b=q)):
            pq = (Inverse(p), Inverse(q))
        case Transpose(arg=Kron(a=p, b=q)):
            pq = (T(p), T(q))
        case Identity(n=k) if a.shape[0] == a.shape[1] and b.shape[0] == b.shape[1] \
                and k == dim_mul(a.shape[0], b.shape[0]):
            pq = (Identity(a.shape[0]), Identity(b.shape[0]))
        case _:
            return None
    if pq[0].shape != a.shape or pq[1].shape != b.shape:
        return None
    return (lambda e: e), pq[0], pq[1]


def _kron_vjp(y: Kron, g: Expr, i: int) -> Expr:
    if not _columns(y):
        parts = _kron_parts(g, y)
        if parts is not None:  # ∂tr(Gᵀ (A ⊗ B))/∂A for G = P ⊗ Q: the blocks of G contracted with B, sum(Q ⊙ B) P
            wrap, p, q = parts
            return wrap(sc(ir.Sum(Hadamard(q, y.b)), p) if i == 0 else sc(ir.Sum(Hadamard(p, y.a)), q))
        x = y.a if i == 0 else y.b
        return unvec(mm(T(_kron_matrix_jac(y, i)), col(g)), x.shape)
    if i == 0:
        return mm(Kron(Identity(y.a.shape[0]), T(y.b)), g)
    return mm(Kron(T(y.a), Identity(y.b.shape[0])), g)


def _kron_jac(y: Kron, i: int) -> Expr:
    if not _columns(y):
        return _kron_matrix_jac(y, i)
    return Kron(Identity(y.a.shape[0]), y.b) if i == 0 else Kron(y.a, Identity(y.b.shape[0]))


def _kron_matrix_jac(y: Kron, i: int) -> Expr:
    """``vec(A ⊗ B) = (I_n ⊗ K(q, m) ⊗ I_p)(vec A ⊗ vec B)`` for A m×n, B p×q (Magnus & Neudecker, ch. 3,
    Theorem 10), and ``vec A ⊗ vec B = (I_mn ⊗ vec B) vec A = (vec A ⊗ I_pq) vec B``."""
    (m, n), (p, q) = y.a.shape, y.b.shape
    P = Kron(Kron(Identity(n), Commutation(q, m)), Identity(p))
    if i == 0:
        return mm(P, Kron(Identity(dim_mul(m, n)), col(y.b)))
    return mm(P, Kron(col(y.a), Identity(dim_mul(p, q))))


defrule("kronecker", Kron, "∂(a ⊗ b)/∂a = I ⊗ b, ∂(a ⊗ b)/∂b = a ⊗ I (columns)", "Magnus & Neudecker, ch. 3 and 9",
        "∂(a_i b_k)/∂a_j = δ_ij b_k (entry (i−1)p + k)",
        vjp=_kron_vjp, jac=_kron_jac,
        example=lambda: (Kron(_v("a", _n), _v("b", _m)), _v("a", _n)),
        index_proof=lambda s: (s["a"][s["i"]] * s["b"][s["k"]], s["a"][s["j"]], s["d"](s["i"], s["j"]) * s["b"][s["k"]]))
defrule("kronecker-left", Kron, "∂vec(X ⊗ B)/∂vec X = (I_n ⊗ K(q, m) ⊗ I_p)(I_mn ⊗ vec B), X m×n, B p×q",
        "Magnus & Neudecker, Matrix Differential Calculus, ch. 3 (Theorem 3.10) and ch. 9",
        "∂(X_ij B_kl)/∂X_pq = δ_ip δ_jq B_kl",
        vjp=_kron_vjp, jac=_kron_jac,
        example=lambda: (Kron(_v("X", _n, _m), _v("B", _k, 2)), _v("X", _n, _m)),
        index_proof=lambda s: (s["X"][s["i"], s["j"]] * s["B"][s["k"], s["l"]], s["X"][s["p"], s["q"]],
                               s["d"](s["i"], s["p"]) * s["d"](s["j"], s["q"]) * s["B"][s["k"], s["l"]]))
defrule("kronecker-right", Kron, "∂vec(A ⊗ X)/∂vec X = (I_n ⊗ K(q, m) ⊗ I_p)(vec A ⊗ I_pq), A m×n, X p×q",
        "Magnus & Neudecker, Matrix Differential Calculus, ch. 3 (Theorem 3.10) and ch. 9",
        "∂(A_ij X_kl)/∂X_pq = A_ij δ_kp δ_lq",
        vjp=_kron_vjp, jac=_kron_jac,
        example=lambda: (Kron(_v("A", _n, _m), _v("X", _k, 2)), _v("X", _k, 2)),
        index_proof=lambda s: (s["A"][s["i"], s["j"]] * s["X"][s["k"], s["l"]], s["X"][s["p"], s["q"]],
                               s["A"][s["i"], s["j"]] * s["d"](s["k"], s["p"]) * s["d"](s["l"], s["q"])))


# ───────────────────────────── transpose, inverse, powers ─────────────────────────────


def _transpose_jac(y: Transpose, i: int) -> Expr:
    r, c = y.arg.shape
    if r == 1 or c == 1:
        return Identity(vsize(y))
    return Commutation(r, c)  # vec(Xᵀ) = K(m, n) vec(X) for X m×n


defrule("transpose", Transpose, "∂Aᵀ: dY = dAᵀ, gradient Gᵀ", "Matrix Cookbook (4)",
        "∂(X_ji)/∂X_pq = δ_jp δ_iq",
        vjp=lambda y, g, i: T(g), jac=_transpose_jac,
        example=lambda: (MatMul((T(_v("a", _n)), _v("B", _n, _m))), _v("a", _n)),
        index_proof=lambda s: (s["X"][s["j"], s["i"]], s["X"][s["p"], s["q"]],
                               s["d"](s["j"], s["p"]) * s["d"](s["i"], s["q"])))
defrule("commutation", Transpose, "∂Xᵀ: dY = dXᵀ, gradient Gᵀ; vec(dXᵀ) = K(m, n) vec(dX) for X m×n",
        "Magnus & Neudecker, Matrix Differential Calculus, ch. 3 (vec(Xᵀ) = K vec X) and ch. 9",
        "∂(X_ji)/∂X_pq = δ_jp δ_iq",
        vjp=lambda y, g, i: T(g), jac=_transpose_jac,
        example=lambda: (Transpose(_v("X", _n, _m)), _v("X", _n, _m)),
        index_proof=lambda s: (s["X"][s["j"], s["i"]], s["X"][s["p"], s["q"]],
                               s["d"](s["j"], s["p"]) * s["d"](s["i"], s["q"])))
defrule("inverse", Inverse, "∂X⁻¹: dY = −X⁻¹ dX X⁻¹, gradient −X⁻ᵀ G X⁻ᵀ", "Matrix Cookbook (59), (61)",
        "∂(X⁻¹)_ij/∂X_pq = −(X⁻¹)_ip (X⁻¹)_qj",
        vjp=lambda y, g, i: Neg(mm(T(y), g, T(y))), jac=lambda y, i: Neg(Kron(T(y), y)),
        example=lambda: (MatMul((T(_v("a", _n)), Inverse(_v("X", _n, _n)), _v("b", _n))), _v("X", _n, _n)))


def _check_power(k: Fraction, what: str) -> int:
    if k.denominator != 1:
        raise UnsupportedDerivative(f"{what} with a non-integer exponent {k}")
    if abs(k) > MAX_MATRIX_POWER:
        raise UnsupportedDerivative(f"{what} with exponent {k}: beyond the limit ±{MAX_MATRIX_POWER}")
    return int(k)


def _mpow(x: Expr, i: int) -> Expr | None:
    return None if i == 0 else (x if i == 1 else Power(x, i))


def _power_vjp(y: Power, g: Expr, i: int) -> Expr:
    x, k = y.base, y.exp
    if is_scalar(x.shape):
        return Scale(num(k), sc(g, x if k == 2 else Power(x, k - 1))) if k != 1 else g
    ki = _check_power(k, "a matrix power")
    if ki == 0:
        return Zeros(x.shape)
    base = x if ki > 0 else Inverse(x)
    terms = [mm(*(t for t in (_mpow(T(base), j), g, _mpow(T(base), abs(ki) - 1 - j)) if t is not None))
             for j in range(abs(ki))]
    gb = terms[0] if len(terms) == 1 else Add(tuple(terms))
    return gb if ki > 0 else Neg(mm(T(base), gb, T(base)))


def _power_jac(y: Power, i: int) -> Expr:
    x, k = y.base, y.exp
    if is_scalar(x.shape):
        return Scale(num(k), x if k == 2 else Power(x, k - 1)) if k != 1 else num(1)
    ki = _check_power(k, "a matrix power")
    n = x.shape[0]
    if ki == 0:
        return Zeros((vsize(x), vsize(x)))
    base = x if ki > 0 else Inverse(x)
    terms = [Kron(_mpow(T(base), abs(ki) - 1 - j) or Identity(n), _mpow(base, j) or Identity(n))
             for j in range(abs(ki))]
    jb = terms[0] if len(terms) == 1 else Add(tuple(terms))
    return jb if ki > 0 else mm(jb, Neg(Kron(T(base), base)))


defrule("power-scalar", Power, "∂(c^k)/∂c = k c^(k−1)", "Parr & Howard, scalar derivative rules (power rule)",
        "∂(x^k)/∂x = k x^(k−1)", vjp=_power_vjp, jac=_power_jac,
        example=lambda: (Power(MatMul((T(_v("x", _n)), _v("x", _n))), 3), _v("x", _n)),
        index_proof=lambda s: (s["c"] ** 3, s["c"], 3 * s["c"] ** 2))
defrule("power-matrix", Power, "∂X^k: dY = Σ_{i<k} X^i dX X^(k−1−i)", "Matrix Cookbook (90)-(91)",
        "∂(X²)_ij/∂X_pq = δ_ip X_qj + X_ip δ_qj", vjp=_power_vjp, jac=_power_jac,
        example=lambda: (MatMul((T(_v("a", _n)), Power(_v("X", _n, _n), 3), _v("b", _n))), _v("X", _n, _n)),
        index_proof=lambda s: (s["Sum"](s["X"][s["i"], s["k"]] * s["X"][s["k"], s["j"]], (s["k"], 1, s["n"])),
                               s["X"][s["p"], s["q"]],
                               s["d"](s["i"], s["p"]) * s["X"][s["q"], s["j"]] + s["X"][s["i"], s["p"]] * s["d"](s["q"], s["j"])))


def _epow(y: EPower) -> Expr:
    k = y.exp
    if k == 1:
        return Ones(y.shape)
    return Scale(num(k), y.base if k == 2 else EPower(y.base, k - 1))


defrule("power-entrywise", EPower, "∂(x.^k)/∂x = diag(k x.^(k−1))", "Parr & Howard, element-wise functions (power rule)",
        "∂(x_i^k)/∂x_j = k x_i^(k−1) δ_ij",
        vjp=lambda y, g, i: Hadamard(g, _epow(y)), jac=lambda y, i: diagc(_epow(y)),
        example=lambda: (Sum(EPower(_v("x", _n), 3)), _v("x", _n)),
        index_proof=lambda s: (s["x"][s["i"]] ** 3, s["x"][s["j"]], 3 * s["x"][s["i"]] ** 2 * s["d"](s["i"], s["j"])))


# ───────────────────────────── entrywise functions ─────────────────────────────


def _ew_proof(f, fp):
    return lambda s: (f(s, s["x"][s["i"]]), s["x"][s["j"]], fp(s, s["x"][s["i"]]) * s["d"](s["i"], s["j"]))


def _ew_example(fn, *, declared=False, positive=False):
    x = _v("x", _n, 1, "positive") if positive else _v("x", _n)
    return lambda: (Apply(fn, x, 0, declared), x)


def_entrywise("exp", "∂exp(x)/∂x = diag(exp(x))", "∂exp(x_i)/∂x_j = exp(x_i) δ_ij", example=_ew_example("exp"),
              index_proof=_ew_proof(lambda s, t: s["sp"].exp(t), lambda s, t: s["sp"].exp(t)))
def_entrywise("log", "∂log(x)/∂x = diag(1 ⊘ x)", "∂log(x_i)/∂x_j = δ_ij / x_i", example=_ew_example("log", positive=True),
              index_proof=_ew_proof(lambda s, t: s["sp"].log(t), lambda s, t: 1 / t))
def_entrywise("sqrt", "∂sqrt(x)/∂x = diag(1 ⊘ (2 sqrt(x)))", "∂√x_i/∂x_j = δ_ij / (2 √x_i)",
              example=_ew_example("sqrt", positive=True),
              index_proof=_ew_proof(lambda s, t: s["sp"].sqrt(t), lambda s, t: 1 / (2 * s["sp"].sqrt(t))))
def_entrywise("sin", "∂sin(x)/∂x = diag(cos(x))", "∂sin(x_i)/∂x_j = cos(x_i) δ_ij", example=_ew_example("sin"),
              index_proof=_ew_proof(lambda s, t: s["sp"].sin(t), lambda s, t: s["sp"].cos(t)))
def_entrywise("cos", "∂cos(x)/∂x = −diag(sin(x))", "∂cos(x_i)/∂x_j = −sin(x_i) δ_ij", example=_ew_example("cos"),
              index_proof=_ew_proof(lambda s, t: s["sp"].cos(t), lambda s, t: -s["sp"].sin(t)))
def_entrywise("tanh", "∂tanh(x)/∂x = diag(1 − tanh(x).^2)", "∂tanh(x_i)/∂x_j = (1 − tanh²x_i) δ_ij",
              example=_ew_example("tanh"),
              index_proof=_ew_proof(lambda s, t: s["sp"].tanh(t), lambda s, t: 1 - s["sp"].tanh(t) ** 2))
def_entrywise("sigma", "∂σ(x)/∂x = diag(σ'(x)), σ' = σ (1 − σ)", "∂σ(x_i)/∂x_j = σ(x_i)(1 − σ(x_i)) δ_ij",
              example=_ew_example("sigma"),
              index_proof=_ew_proof(lambda s, t: 1 / (1 + s["sp"].exp(-t)),
                                    lambda s, t: 1 / (1 + s["sp"].exp(-t)) * (1 - 1 / (1 + s["sp"].exp(-t)))))
def_entrywise("relu", "∂relu(x)/∂x = diag(step(x))", "∂max(0, x_i)/∂x_j = [x_i > 0] δ_ij",
              example=_ew_example("relu"),
              index_proof=_ew_proof(lambda s, t: s["Max"](0, t), lambda s, t: s["H"](t)))
def_entrywise("softplus", "∂softplus(x)/∂x = diag(σ(x))", "∂log(1 + exp x_i)/∂x_j = σ(x_i) δ_ij",
              example=_ew_example("softplus"),
              index_proof=_ew_proof(lambda s, t: s["sp"].log(1 + s["sp"].exp(t)),
                                    lambda s, t: s["sp"].exp(t) / (1 + s["sp"].exp(t))))
def_entrywise("abs", "∂|x|/∂x = diag(x ⊘ |x|)", "∂|x_i|/∂x_j = sign(x_i) δ_ij (x_i ≠ 0)", example=_ew_example("abs"),
              index_proof=_ew_proof(lambda s, t: s["sp"].Abs(t), lambda s, t: t / s["sp"].Abs(t)))
def_entrywise("step", "∂step(x)/∂x = 0 (x ≠ 0)", "∂[x_i > 0]/∂x_j = 0 (x_i ≠ 0)", example=_ew_example("step"),
              index_proof=_ew_proof(lambda s, t: s["H"](t), lambda s, t: 0))
def_entrywise("declared-f", "∂f(x)/∂x = diag(f'(x)) for a declared f: R → R (f' raises the order)",
              "∂f(x_i)/∂x_j = f'(x_i) δ_ij", source="Parr & Howard, element-wise diagonal case; chain rule",
              example=_ew_example("f", declared=True),
              index_proof=_ew_proof(lambda s, t: s["f"](t), lambda s, t: s["f"](t).diff(t)))


# ───────────────────────────── reductions ─────────────────────────────

defrule("reduce-sum", Sum, "∂sum(x)/∂x = 1ᵀ, gradient G 1", "Parr & Howard, \"Vector sum reduction\"",
        "∂(Σ_k x_k)/∂x_j = 1",
        vjp=lambda y, g, i: g if is_scalar(y.arg.shape) else Broadcast(g, y.arg.shape),
        jac=lambda y, i: Ones((1, vsize(y.arg))),
        example=lambda: (Sum(Scale(_v("z", 1), _v("x", _n))), _v("x", _n)),
        index_proof=lambda s: (s["Sum"](s["x"][s["k"]], (s["k"], 1, s["n"])), s["x"][s["j"]], 1))
defrule("trace", Trace, "∂tr(X)/∂X = I", "Matrix Cookbook (100)", "∂(Σ_k X_kk)/∂X_pq = δ_pq",
        vjp=lambda y, g, i: sc(g, Identity(y.arg.shape[0])), jac=lambda y, i: T(Vec(Identity(y.arg.shape[0]))),
        example=lambda: (Trace(MatMul((_v("A", _m, _n), _v("X", _n, _m)))), _v("X", _n, _m)),
        index_proof=lambda s: (s["Sum"](s["X"][s["k"], s["k"]], (s["k"], 1, s["n"])), s["X"][s["p"], s["q"]],
                               s["d"](s["p"], s["q"])))
defrule("det", Det, "∂det(X)/∂X = det(X) X⁻ᵀ", "Matrix Cookbook (49)", "∂det X/∂X_pq = det(X) (X⁻¹)_qp",
        vjp=lambda y, g, i: sc(g, Scale(y, T(Inverse(y.arg)))),
        jac=lambda y, i: Scale(y, T(Vec(T(Inverse(y.arg))))),
        example=lambda: (Det(_v("X", _n, _n)), _v("X", _n, _n)))
defrule("logdet", LogDet, "∂log det(X)/∂X = X⁻ᵀ", "Matrix Cookbook (57)", "∂log det X/∂X_pq = (X⁻¹)_qp",
        vjp=lambda y, g, i: sc(g, T(Inverse(y.arg))), jac=lambda y, i: T(Vec(T(Inverse(y.arg)))),
        example=lambda: (LogDet(_v("X", _n, _n)), _v("X", _n, _n)))


def _diag_vjp(y: Diag, g: Expr, i: int) -> Expr:
    n = y.arg.shape[0]
    return mm(Hadamard(Identity(n), g), Ones((n, 1)))


def _diag_jac(y: Diag, i: int) -> Expr:
    n = y.arg.shape[0]
    return mm(Diag(Vec(Identity(n))), Kron(Ones((n, 1)), Identity(n)))


defrule("diag", Diag, "∂diag(v): dY = diag(dv), gradient (I ⊙ G) 1", "Matrix Cookbook (sec. 10.7); Magnus & Neudecker",
        "∂(v_i δ_ik)/∂v_j = δ_ij δ_ik", vjp=_diag_vjp, jac=_diag_jac,
        example=lambda: (MatMul((T(_v("a", _n)), Diag(_v("v", _n)), _v("b", _n))), _v("v", _n)),
        index_proof=lambda s: (s["x"][s["i"]] * s["d"](s["i"], s["k"]), s["x"][s["j"]],
                               s["d"](s["i"], s["j"]) * s["d"](s["i"], s["k"])))
defrule("vec", Vec, "∂vec(X)/∂vec(X) = I, gradient unvec(G)", "Magnus & Neudecker, ch. 2",
        "∂X_ij/∂X_pq = δ_ip δ_jq",
        vjp=lambda y, g, i: unvec(g, y.arg.shape), jac=lambda y, i: Identity(vsize(y)),
        example=lambda: (MatMul((T(_v("c", dim_mul(_n, _m))), Vec(_v("X", _n, _m)))), _v("X", _n, _m)),
        index_proof=lambda s: (s["X"][s["i"], s["j"]], s["X"][s["p"], s["q"]],
                               s["d"](s["i"], s["p"]) * s["d"](s["j"], s["q"])))
defrule("norm", Norm, "∂‖x‖/∂x = xᵀ / ‖x‖, gradient G x / ‖x‖", "Matrix Cookbook (129)",
        "∂√(Σ_k x_k²)/∂x_j = x_j / ‖x‖",
        vjp=lambda y, g, i: sc(g, Div(y.arg, y)), jac=lambda y, i: Div(T(col(y.arg)), y),
        example=lambda: (Norm(_v("x", _n)), _v("x", _n)),
        index_proof=lambda s: (s["sp"].sqrt(s["Sum"](s["x"][s["k"]] ** 2, (s["k"], 1, s["n"]))), s["x"][s["j"]],
                               s["x"][s["j"]] / s["sp"].sqrt(s["Sum"](s["x"][s["k"]] ** 2, (s["k"], 1, s["n"])))))


def _norm2_jac(y: Power, i: int) -> Expr:
    u = y.base.arg
    return Scale(num(2), T(col(u)))


defrule("norm-squared", Power, "∂‖x‖²/∂x = 2 xᵀ, gradient 2 G x (‖A‖² = tr(Aᵀ A): gradient 2 G A)",
        "Matrix Cookbook (129), (103)", "∂(Σ_k x_k²)/∂x_j = 2 x_j",
        vjp=lambda y, g, i: sc(g, Scale(num(2), y.base.arg)), jac=_norm2_jac,
        note="∂‖u‖²/∂u = 2 uᵀ: the squared norm in one step",
        example=lambda: (Power(Norm(Add((MatMul((_W(), _x())), Neg(_v("y", _n))))), 2), _W()),
        index_proof=lambda s: (s["Sum"](s["x"][s["k"]] ** 2, (s["k"], 1, s["n"])), s["x"][s["j"]], 2 * s["x"][s["j"]]))


def fused_operand(node: Expr) -> tuple[Expr, Rule] | None:
    """A rule that differentiates ``node`` directly by a grandchild (``‖u‖²`` by ``u``), skipping a link."""
    if type(node) is Power and type(node.base) is Norm and node.exp == 2:
        return node.base.arg, RULES["norm-squared"]
    return None


def _softmax_vjp(y: Softmax, g: Expr, i: int) -> Expr:
    """``Ḡ = p ⊙ G − (pᵀ G) p`` from the Jacobian ``diag(p) − p pᵀ``."""
    return Add((Hadamard(y, g), Neg(Scale(mm(T(y), g), y))))


defrule("softmax", Softmax, "∂softmax(z)/∂z = diag(p) − p pᵀ, p = softmax(z)", "standard (Bishop, PRML (4.106))",
        "∂s_i/∂z_j = s_i (δ_ij − s_j)",
        vjp=_softmax_vjp, jac=lambda y, i: Add((Diag(y), Neg(mm(y, T(y))))),
        example=lambda: (Softmax(_v("z", _n)), _v("z", _n)),
        index_proof=lambda s: (s["sp"].exp(s["x"][s["i"]]) / s["Sum"](s["sp"].exp(s["x"][s["k"]]), (s["k"], 1, s["n"])),
                               s["x"][s["j"]],
                               s["sp"].exp(s["x"][s["i"]]) / s["Sum"](s["sp"].exp(s["x"][s["k"]]), (s["k"], 1, s["n"]))
                               * (s["d"](s["i"], s["j"]) - s["sp"].exp(s["x"][s["j"]])
                                  / s["Sum"](s["sp"].exp(s["x"][s["k"]]), (s["k"], 1, s["n"])))))


def _lse_grad(y: LogSumExp) -> Expr:
    z = y.arg
    if z.shape[1] == 1:
        return Softmax(z)
    return Div(Apply("exp", z), Sum(Apply("exp", z)))


defrule("logsumexp", LogSumExp, "∂logsumexp(z)/∂z = softmax(z)ᵀ, gradient softmax(z)", "standard (softmax as the "
        "gradient of log-sum-exp)", "∂log Σ_k exp z_k/∂z_j = exp z_j / Σ_k exp z_k",
        vjp=lambda y, g, i: sc(g, _lse_grad(y)), jac=lambda y, i: T(col(_lse_grad(y))),
        example=lambda: (LogSumExp(_v("z", _n)), _v("z", _n)),
        index_proof=lambda s: (s["sp"].log(s["Sum"](s["sp"].exp(s["x"][s["k"]]), (s["k"], 1, s["n"]))), s["x"][s["j"]],
                               s["sp"].exp(s["x"][s["j"]]) / s["Sum"](s["sp"].exp(s["x"][s["k"]]), (s["k"], 1, s["n"]))))


def _callvec_check(y: CallVec) -> None:
    if y.order > 1:
        raise UnsupportedDerivative(f"the derivative of the Hessian {y.fn}'' of a declared function (third order)")


def _callvec_vjp(y: CallVec, g: Expr, i: int) -> Expr:
    _callvec_check(y)
    if y.order == 1:  # the adjoint of the gradient C'(u): C''(u)ᵀ G = C''(u) G (the Hessian is symmetric)
        return mm(CallVec(y.fn, y.arg, 2), g)
    return sc(g, CallVec(y.fn, y.arg, 1))


def _callvec_jac(y: CallVec, i: int) -> Expr:
    _callvec_check(y)
    if y.order == 1:
        return CallVec(y.fn, y.arg, 2)
    return T(CallVec(y.fn, y.arg, 1))


defrule("declared-C", CallVec, "∂C(u)/∂u = C'(u)ᵀ, gradient C'(u) = ∇C(u), for a declared C: R^n → R",
        "Parr & Howard, \"Matrix calculus\" (the gradient); Nielsen (BP1a) ∇_a C", "∂C(u)/∂u_j = (∇C(u))_j",
        vjp=_callvec_vjp, jac=_callvec_jac,
        example=lambda: (CallVec("C", Apply("f", _v("z", _n), 0, True)), _v("z", _n)))
defrule("declared-C-hessian", CallVec, "∂C'(u)/∂u = C''(u) = ∇²C(u), the symmetric Hessian of a declared "
        "C: R^n → R", "Magnus & Neudecker, Matrix Differential Calculus, ch. 6 and 10 (the Hessian matrix)",
        "∂(∂C/∂u_i)/∂u_j = ∂²C/∂u_i∂u_j",
        vjp=_callvec_vjp, jac=_callvec_jac,
        example=lambda: (CallVec("C", MatMul((_W(), _x())), 1), _x()))


# ───────────────────────────── entries and index sums (index mode, see engine/entry.py) ─────────────────────────────

defrule("entry", ir.Entry, "∂X[i, j]/∂X[p, q] = [i = p][j = q]", "definition (Kronecker delta)",
        "∂x_i/∂x_j = δ_ij",
        example=lambda: (ir.Entry(_v("x", _n), (2,)), ir.Entry(_v("x", _n), (2,))),
        index_proof=lambda s: (s["x"][s["i"]], s["x"][s["j"]], s["d"](s["i"], s["j"])))
defrule("index-sum", ir.IndexSum, "∂(Σ_k e_k)/∂v = Σ_k ∂e_k/∂v;  Σ_k [k = q] e_k = e_q", "linearity of the sum",
        "∂(Σ_k W_jk x_k)/∂x_q = W_jq",
        example=lambda: (ir.IndexSum(ir.Index("k", _m), MatMul((ir.Entry(_W(), (1, ir.Index("k", _m))),
                                                                ir.Entry(_x(), (ir.Index("k", _m),))))),
                         ir.Entry(_x(), (2,))),
        index_proof=lambda s: (s["Sum"](s["W"][s["i"], s["k"]] * s["x"][s["k"]], (s["k"], 1, s["n"])),
                               s["x"][s["j"]], s["W"][s["i"], s["j"]]))


# ───────────────────────────── dispatch ─────────────────────────────

def _by_position(first: str, second: str) -> Callable[[Expr, int], str]:
    """The rule named ``first`` for operand 0 and ``second`` for operand 1."""
    return lambda node, i: first if i == 0 else second


def _add_rule(node: Add, i: int) -> str:
    return "difference" if isinstance(node.args[i], Neg) else "sum"


def _matmul_rule(node: MatMul, i: int) -> str:
    a = node.args
    if len(a) == 2 and a[0].shape[0] == 1 and a[1].shape[1] == 1 and isinstance(a[0], Transpose):
        return "dot"
    return "matmul-left" if i == 0 else "matmul-right" if i == len(a) - 1 else "matmul-middle"


def _power_rule(node: Power, i: int) -> str:
    return "power-scalar" if is_scalar(node.base.shape) else "power-matrix"


def _apply_rule(node: Apply, i: int) -> str:
    if node.declared:
        return "declared-f"
    if node.fn in ir.ENTRYWISE:
        return node.fn
    raise UnsupportedDerivative(f"no derivative rule for the function {node.fn}")


#: node type -> ``(node, operand index) -> rule name``: the few operations with several rules pick one by operand.
DISPATCH: dict[type, Callable[[Expr, int], str]] = {
    Add: _add_rule,
    MatMul: _matmul_rule,
    Scale: _by_position("scale-scalar", "scale-arg"),
    Div: _by_position("div-arg", "div-scalar"),
    HadDiv: _by_position("hadamard-div-left", "hadamard-div-right"),
    Power: _power_rule,
    MaxMin: lambda node, i: node.op,
    Apply: _apply_rule,
    Transpose: lambda node, i: "transpose" if 1 in node.arg.shape else "commutation",
    Kron: lambda node, i: "kronecker" if _columns(node) else ("kronecker-left" if i == 0 else "kronecker-right"),
    CallVec: lambda node, i: "declared-C-hessian" if node.order == 1 else "declared-C",
}
for _r in RULES.values():  # every other operation: its one rule (the first in the table with a vjp or a Jacobian)
    if _r.vjp is not None or _r.jac is not None:
        DISPATCH.setdefault(_r.op, lambda node, i, name=_r.name: name)
del _r


def rule_for(node: Expr, i: int) -> Rule:
    """The rule that differentiates ``node`` by its operand ``i``; raises :class:`UnsupportedDerivative` if none."""
    pick = DISPATCH.get(type(node))
    if pick is None:
        raise UnsupportedDerivative(f"no derivative rule for {_opname(node)}")
    return RULES[pick(node, i)]


def _opname(node: Expr) -> str:
    names = {ir.Entry: "an entry X[i, j] inside a matrix-form derivative (differentiate by an entry instead)",
             ir.IndexSum: "an index sum inside a matrix-form derivative (differentiate by an entry instead)",
             ir.Delta: "a Kronecker delta", ir.Derivative: "a nested derivative"}
    return names.get(type(node), f"the operation {type(node).__name__}")


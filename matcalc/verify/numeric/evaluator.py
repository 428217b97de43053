"""Evaluation of IR nodes with numpy for the numeric method.

Contract: :class:`_Evaluator` computes any IR expression at a :class:`~matcalc.verify.numeric.points.Point`
(float64; complex128 inside a complex step), one method per node type dispatched by ``type(e)``, memoising
each value in the outermost override frame where it is valid (index values, perturbed arguments), keeping
points away from kinks and singularities (strict mode), tracking magnitudes for the rounding floor, and
perturbing computed values in a rounding probe; derivatives come from the
:class:`~matcalc.verify.numeric.differences._Differences` mixin. :func:`evaluate` is the public entry.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matcalc import ir
from matcalc.clock import now
from matcalc.verify.numeric.arrange import _vec
from matcalc.verify.numeric.base import (
    KINKS, MARGIN, MAX_COND, MCA_REL, OUTSIDE, POLES, NumericError, _DeepRecursion, _OutOfTime, _Reject,
)
from matcalc.verify.numeric.differences import _Differences
from matcalc.verify.numeric.points import Point
from matcalc.verify.numeric.scalars import _lse, _lse_b, _re, _scalar_fn, _softmax, _softmax_b, _sum_b, _vec_fn
from matcalc.verify.numeric.structure import constant_structure, positive_structure


# ───────────────────────────── the evaluator ─────────────────────────────


_LEAVES = (ir.Var, ir.Named, ir.Num, ir.Size, ir.Identity, ir.Zeros, ir.Ones, ir.Transpose, ir.Vec, ir.Commutation)
#: nodes whose value carries no rounding of its own (inputs, constants, rearrangements, finite differences of
#: already perturbed evaluations)
_EXACT = _LEAVES + (ir.Delta, ir.Entry, ir.Derivative)
#: the largest entry of an array as one C call (``ndarray.max`` is the same reduction behind two Python layers; this
#: runs once per computed node)
_MAX = np.maximum.reduce
_ABS = np.abs
_LEAVES_T = frozenset(_LEAVES)  # exact types (dispatch is by type(e); the IR node classes are not subclassed)
_EXACT_T = frozenset(_EXACT)


class _Evaluator(_Differences):
    """Evaluates IR at a point; caches values that do not depend on the active perturbation."""

    def __init__(self, point: Point, *, strict: bool = False, deadline: float | None = None,
                 allow_cs: bool = True, cs_ok: dict | None = None) -> None:
        self.pt = point
        self.strict = strict
        self.deadline = deadline
        self.allow_cs = allow_cs
        self.base: dict[int, np.ndarray] = {}
        self.keep: dict[int, ir.Expr] = {}
        self.depc: dict[int, frozenset] = {}
        self.ov: dict = {}
        self.ovk: frozenset = frozenset()
        self.frames: list[tuple[frozenset, dict]] = []  # (keys overridden by a push, values memoised there)
        self.perturbing = 0
        self.cdepth = 0
        self.kink_ref: dict = {}
        self.mag = 0.0
        self.magi = 0.0
        self.fd_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.nested_cs: dict[tuple, bool] = {}  # (id(D), key) → outer central differences, inner complex step
        self.batch_ok: dict[tuple, tuple[bool, int]] = {}  # (every node on the path stacks, largest entry count)
        self.entry_jac: dict[tuple, Any] = {}  # whole Jacobians serving derivatives by entries (see _entry_column)
        self.batch = True  # complex-step Jacobians in one stacked evaluation where possible (False: by columns)
        self.noise: np.random.Generator | None = None
        self.cs_ok: dict[int, bool] = {} if cs_ok is None else cs_ok  # shared by the points of one check
        self.methods: set[str] = set()
        self.fd_evals = 0
        self.ticks = 0  # evaluations so far: the deadline is looked at every 64th
        self.cond = 1.0
        self.mca: np.random.Generator | None = None  # rounding probe: perturb every computed value (MCA)

    # ── dependencies and caching ──

    def deps(self, e: ir.Expr) -> frozenset:
        """The override keys ``e``'s value can depend on (structural: shared by every evaluator)."""
        k = id(e)
        d = self.depc.get(k)
        if d is not None:
            return d
        d = _deps(e)
        self.depc[k] = d
        self.keep[k] = e  # keeps the id unique while the evaluator lives
        return d

    def ev(self, e: ir.Expr) -> np.ndarray:
        """The value of ``e`` under the active overrides, memoised in the OUTERMOST frame where it is valid: a
        frame (one :meth:`push`) adds overrides, and a node none of whose dependencies a frame overrides has the
        same value there as in the frame below (so a finite-difference perturbation re-evaluates only the path
        from the perturbed variable to the root, an index value only what depends on that index)."""
        self.ticks += 1
        if self.deadline is not None and not self.ticks & 63 and now() > self.deadline:  # the CPU clock costs ~0.6 µs
            raise _OutOfTime()
        k = id(e)
        d = self.depc.get(k)
        if d is None:
            d = self.deps(e)
        frames = self.frames
        i = len(frames) - 1
        while i >= 0 and d.isdisjoint(frames[i][0]):
            i -= 1
        memo = frames[i][1] if i >= 0 else self.base
        v = memo.get(k)
        if v is None:
            v = self._compute(e)
            memo[k] = v
        return v

    def push(self, extra: dict) -> tuple:
        saved = (self.ov, self.ovk, len(self.frames))
        self.ov = {**self.ov, **extra}
        self.ovk = frozenset(self.ov)
        self.frames.append((frozenset(extra), {}))
        return saved

    def pop(self, saved: tuple) -> None:
        self.ov, self.ovk, n = saved
        del self.frames[n:]

    def ev_with(self, extra: dict, e: ir.Expr, *, perturb: bool = True) -> np.ndarray:
        saved = self.push(extra)
        cplx = any(np.iscomplexobj(v) for v in extra.values() if isinstance(v, np.ndarray))
        self.perturbing += perturb
        self.cdepth += cplx
        try:
            return self.ev(e)
        finally:
            self.perturbing -= perturb
            self.cdepth -= cplx
            self.pop(saved)

    # ── checks ──

    def _idx_sig(self) -> tuple:
        return tuple(sorted((k, v) for k, v in self.ov.items() if k[0] == "idx"))

    def _kink(self, e: ir.Expr, arg: np.ndarray, what: str) -> None:
        if not self.strict:
            return
        a = _re(arg)
        if self.noise is not None:
            return
        key = (id(e), self._idx_sig())
        if self.perturbing == 0:
            if a.size and np.min(np.abs(a)) < MARGIN:
                raise _Reject(f"an argument of {what} is within {MARGIN} of its kink")
            self.kink_ref.setdefault(key, a > 0)
        else:
            ref = self.kink_ref.get(key)
            if ref is not None and ref.shape == a.shape and not np.array_equal(ref, a > 0):
                raise _Reject(f"a finite difference crossed the kink of {what}")
            if a.size and np.min(np.abs(a)) < MARGIN / 4:
                raise _Reject(f"a finite difference came near the kink of {what}")

    def _away(self, x: np.ndarray, what: str, node: ir.Expr, *, positive: bool = False) -> None:
        """Reject the point where ``x`` (the value of ``node``) is outside the domain of a pole, or within MARGIN of
        it — unless ``node`` is a constant (no other point moves it) or positive by its structure (a softmax entry
        of 50 classes is ~0.02, and no step brings it to 0); values at 0 itself are rejected by the evaluation."""
        if not self.strict or self.perturbing or self.noise is not None or x.size == 0:
            return
        a = _re(x)
        if positive and np.min(a) < 0:
            raise _Reject(f"{what} is negative: {OUTSIDE}")
        if constant_structure(node) or positive_structure(node):
            return
        bad = np.min(a) < MARGIN if positive else np.min(np.abs(a)) < MARGIN
        if bad:
            raise _Reject(f"{what} is within {MARGIN} of a singularity")

    def _cond(self, m: np.ndarray, what: str) -> None:
        if not self.strict or self.perturbing or self.noise is not None:
            return
        c = np.linalg.cond(_re(m)) if m.size > 1 else (np.inf if m[0, 0] == 0 else 1.0)
        if not np.isfinite(c) or c > MAX_COND:
            raise _Reject(f"the matrix under {what} is ill-conditioned")
        self.cond = max(self.cond, float(c))  # rounding in solves grows with the condition number

    # ── index values ──

    def index_value(self, i: Any) -> int:
        if isinstance(i, ir.Index):
            v = self.ov.get(("idx", i.name))
            if v is None:
                v = self.pt.index.get(i.name)
            if v is None:
                raise NumericError(f"the index {i.name} has no value at this point")
            return int(v)
        if isinstance(i, (int, np.integer)):
            return int(i)
        raise NumericError(f"an index must be a name or an integer, not {i!r}")

    # ── node semantics ──

    def _compute(self, e: ir.Expr) -> np.ndarray:
        t = type(e)
        fn = _DISPATCH.get(t)
        if fn is None:
            raise NumericError(f"the numeric method cannot evaluate {t.__name__}")
        v = fn(self, e)
        if not v.size:
            return v
        if self.mca is not None and t not in _EXACT_T:
            # Monte Carlo arithmetic: every computed value is off by a random relative MCA_REL, as if rounded
            v = v * (1.0 + MCA_REL * self.mca.uniform(-1.0, 1.0, size=v.shape))
        if t not in _LEAVES_T:
            if v.dtype.kind == "c":
                mi = float(_MAX(_ABS(v.imag).ravel()))
                m = max(float(_MAX(_ABS(v.real).ravel())), mi)
                if mi > self.magi:
                    self.magi = mi
            else:
                m = float(_MAX(_ABS(v).ravel()))
            if m > self.mag:
                self.mag = m
        return v

    # one method per node type (see _DISPATCH below the class)

    def _c_var(self, e: ir.Var) -> np.ndarray:
        v = self.ov.get(("var", e.name))
        if v is not None:
            return v
        pt = self.pt
        val = pt.values.get(e.name)
        if val is None:
            raise NumericError(f"the point gives no value for {e.name}")
        want = (pt.dim(e.dims[0]), pt.dim(e.dims[1]))
        if val.shape != want:
            raise NumericError(f"the value of {e.name} is {val.shape}, expected {want}")
        return val

    def _c_num(self, e: ir.Num) -> np.ndarray:
        return np.array([[float(e.value)]])

    def _c_size(self, e: ir.Size) -> np.ndarray:
        return np.array([[float(self.pt.dim(e.dim))]])

    def _c_identity(self, e: ir.Identity) -> np.ndarray:
        return np.eye(self.pt.dim(e.n))

    def _c_zeros(self, e: ir.Zeros) -> np.ndarray:
        return np.zeros((self.pt.dim(e.dims[0]), self.pt.dim(e.dims[1])))

    def _c_ones(self, e: ir.Ones) -> np.ndarray:
        return np.ones((self.pt.dim(e.dims[0]), self.pt.dim(e.dims[1])))

    def _c_add(self, e: ir.Add) -> np.ndarray:
        ev = self.ev
        args = e.args
        out = ev(args[0])
        for a in args[1:]:
            out = out + ev(a)
        return out

    def _c_neg(self, e: ir.Neg) -> np.ndarray:
        return -self.ev(e.arg)

    def _c_matmul(self, e: ir.MatMul) -> np.ndarray:
        ev = self.ev
        args = e.args
        out = ev(args[0])
        for a in args[1:]:
            out = out @ ev(a)
        return out

    def _c_scale(self, e: ir.Scale) -> np.ndarray:
        s = self.ev(e.scalar)
        return (s[0, 0] if s.ndim == 2 else s) * self.ev(e.arg)

    def _c_div(self, e: ir.Div) -> np.ndarray:
        s = self.ev(e.scalar)
        self._away(s, "a divisor", e.scalar)
        return self.ev(e.arg) / (s[0, 0] if s.ndim == 2 else s)

    def _c_hadamard(self, e: ir.Hadamard) -> np.ndarray:
        return self.ev(e.a) * self.ev(e.b)

    def _c_haddiv(self, e: ir.HadDiv) -> np.ndarray:
        b = self.ev(e.b)
        self._away(b, "an entrywise divisor", e.b)
        return self.ev(e.a) / b

    def _c_kron(self, e: ir.Kron) -> np.ndarray:
        return np.kron(self.ev(e.a), self.ev(e.b))

    def _c_maxmin(self, e: ir.MaxMin) -> np.ndarray:
        a, b = self.ev(e.a), self.ev(e.b)
        self._kink(e, a - b, e.op)
        take_a = _re(a) > _re(b) if e.op == "max" else _re(a) < _re(b)
        return np.where(take_a, a, b)

    def _c_transpose(self, e: ir.Transpose) -> np.ndarray:
        a = self.ev(e.arg)
        return a.T if a.ndim == 2 else np.swapaxes(a, -1, -2)

    def _c_inverse(self, e: ir.Inverse) -> np.ndarray:
        a = self.ev(e.arg)
        self._cond(a, "an inverse")
        return np.linalg.inv(a)

    def _c_power(self, e: ir.Power) -> np.ndarray:
        b = self.ev(e.base)
        k = e.exp
        if b.shape[-2:] == (1, 1):
            if k.denominator != 1:
                self._away(b, "a base of a fractional power", e.base, positive=True)
                return b ** float(k)
            if k < 0:
                self._away(b, "a base of a negative power", e.base)
            return b ** int(k) if k >= 0 else 1.0 / b ** int(-k)
        if k.denominator != 1:
            raise NumericError(f"a matrix power needs an integer exponent, not {k}")
        if k < 0:
            self._cond(b, "a negative matrix power")
        return np.linalg.matrix_power(b, int(k))

    def _c_epower(self, e: ir.EPower) -> np.ndarray:
        b = self.ev(e.base)
        k = e.exp
        if k.denominator != 1:
            self._away(b, "a base of a fractional power", e.base, positive=True)
            return b ** float(k)
        if k < 0:
            self._away(b, "a base of a negative power", e.base)
            return 1.0 / b ** int(-k)
        return b ** int(k)

    def _c_broadcast(self, e: ir.Broadcast) -> np.ndarray:
        s = self.ev(e.arg)
        return (s[0, 0] if s.ndim == 2 else s) * np.ones((self.pt.dim(e.dims[0]), self.pt.dim(e.dims[1])))

    def _c_apply(self, e: ir.Apply) -> np.ndarray:
        x = self.ev(e.arg)
        if e.declared:
            name = self.pt.functions.get(e.fn)
            if name is None:
                raise NumericError(f"the point instantiates no function for the declared {e.fn}")
        else:
            name = e.fn
            if name not in ir.ENTRYWISE:
                raise NumericError(f"the numeric method has no entrywise function {name!r}")
            if name in KINKS:
                self._kink(e, x, name)
            elif name in POLES:
                self._away(x, f"an argument of {name}", e.arg, positive=True)
        return _scalar_fn(name, e.order, x)

    def _c_callvec(self, e: ir.CallVec) -> np.ndarray:
        u = self.ev(e.arg)
        name = self.pt.functions.get(e.fn)
        if name is None:
            raise NumericError(f"the point instantiates no function for the declared {e.fn}")
        return _vec_fn(name, e.order, u, self.pt, e.fn)

    def _c_sum(self, e: ir.Sum) -> np.ndarray:
        a = self.ev(e.arg)
        return np.array([[a.sum()]]) if a.ndim == 2 else _sum_b(a)

    def _c_trace(self, e: ir.Trace) -> np.ndarray:
        a = self.ev(e.arg)
        if a.ndim > 2:
            return np.trace(a, axis1=-2, axis2=-1)[..., None, None]
        return np.array([[np.trace(a)]])

    def _c_det(self, e: ir.Det) -> np.ndarray:
        a = self.ev(e.arg)
        self._cond(a, "det")
        if a.ndim > 2:
            return np.linalg.det(a)[..., None, None]
        return np.array([[np.linalg.det(a)]])

    def _c_logdet(self, e: ir.LogDet) -> np.ndarray:
        a = self.ev(e.arg)
        self._cond(a, "logdet")
        if a.ndim > 2:
            d = np.linalg.det(a)[..., None, None]
            return np.log(d * np.sign(d.real)) if np.iscomplexobj(a) else np.log(np.abs(d))
        if np.iscomplexobj(a):
            d = np.linalg.det(a)
            return np.array([[np.log(d * np.sign(d.real))]])
        return np.array([[np.linalg.slogdet(a)[1]]])

    def _c_diag(self, e: ir.Diag) -> np.ndarray:
        return np.diag(self.ev(e.arg)[:, 0])

    def _c_vec(self, e: ir.Vec) -> np.ndarray:
        return _vec(self.ev(e.arg))

    def _c_norm(self, e: ir.Norm) -> np.ndarray:
        a = self.ev(e.arg)
        if a.ndim > 2:
            return np.sqrt(_sum_b(a * a))  # only under a perturbation (never checked there)
        n = np.sqrt(np.sum(a * a))
        self._away(np.array([[n]]), "a norm", e, positive=True)
        return np.array([[n]])

    def _c_softmax(self, e: ir.Softmax) -> np.ndarray:
        a = self.ev(e.arg)
        return _softmax(a) if a.ndim == 2 else _softmax_b(a)

    def _c_logsumexp(self, e: ir.LogSumExp) -> np.ndarray:
        a = self.ev(e.arg)
        return np.array([[_lse(a)]]) if a.ndim == 2 else _lse_b(a)

    def _c_named(self, e: ir.Named) -> np.ndarray:
        v = self.ov.get(("named", e.name))
        if v is not None:
            return v
        return self.ev(e.value)

    def _c_entry(self, e: ir.Entry) -> np.ndarray:
        a = self.ev(e.arg)
        idx = [self.index_value(i) for i in e.idx]
        p, q = a.shape[-2:]
        if len(idx) == 1:
            if q == 1:
                r, c = idx[0], 1
            elif p == 1:
                r, c = 1, idx[0]
            else:
                raise NumericError(f"one index on a {p}×{q} matrix")
        elif len(idx) == 2:
            r, c = idx
        else:
            raise NumericError("an entry takes one or two indices")
        if not (1 <= r <= p and 1 <= c <= q):
            raise NumericError(f"the entry ({r}, {c}) is outside a {p}×{q} array")
        return a[..., r - 1: r, c - 1: c]

    def _c_indexsum(self, e: ir.IndexSum) -> np.ndarray:
        n = self.pt.dim(e.index.dim)
        total = None
        key = ("idx", e.index.name)
        for v in range(1, n + 1):
            val = self.ev_with({key: v}, e.body, perturb=False)
            total = val if total is None else total + val
        return total if total is not None else np.zeros((1, 1))

    def _c_delta(self, e: ir.Delta) -> np.ndarray:
        return np.array([[1.0 if self.index_value(e.i) == self.index_value(e.j) else 0.0]])

    def _c_derivative(self, e: ir.Derivative) -> np.ndarray:
        if e.kind == "hessian":  # jacobian(grad(f, X), X): finite differences of finite differences
            return self.ev(_nested(e))
        return self._derivative(e)

    def _c_commutation(self, e: ir.Commutation) -> np.ndarray:
        m, n = self.pt.dim(e.m), self.pt.dim(e.n)
        K = np.zeros((m * n, m * n))
        for i in range(m):
            for j in range(n):
                K[i * n + j, j * m + i] = 1.0
        return K


_NESTED: dict[int, tuple[ir.Expr, ir.Expr]] = {}


def _nested(e: ir.Derivative) -> ir.Expr:
    """``hessian(f, X)`` as ``jacobian(grad(f, X), X)``, one node per Hessian (the caches are keyed by node id)."""
    got = _NESTED.get(id(e))
    if got is None or got[0] is not e:
        if len(_NESTED) > 10000:
            _NESTED.clear()
        got = _NESTED[id(e)] = (e, ir.nest_hessians(e))
    return got[1]


_DISPATCH: dict[type, Any] = {
    ir.Var: _Evaluator._c_var, ir.Num: _Evaluator._c_num, ir.Size: _Evaluator._c_size, ir.Identity: _Evaluator._c_identity,
    ir.Zeros: _Evaluator._c_zeros, ir.Ones: _Evaluator._c_ones, ir.Add: _Evaluator._c_add, ir.Neg: _Evaluator._c_neg,
    ir.MatMul: _Evaluator._c_matmul, ir.Scale: _Evaluator._c_scale, ir.Div: _Evaluator._c_div,
    ir.Hadamard: _Evaluator._c_hadamard, ir.HadDiv: _Evaluator._c_haddiv, ir.Kron: _Evaluator._c_kron,
    ir.MaxMin: _Evaluator._c_maxmin, ir.Transpose: _Evaluator._c_transpose, ir.Inverse: _Evaluator._c_inverse,
    ir.Power: _Evaluator._c_power, ir.EPower: _Evaluator._c_epower, ir.Broadcast: _Evaluator._c_broadcast,
    ir.Apply: _Evaluator._c_apply, ir.CallVec: _Evaluator._c_callvec, ir.Sum: _Evaluator._c_sum,
    ir.Trace: _Evaluator._c_trace, ir.Det: _Evaluator._c_det, ir.LogDet: _Evaluator._c_logdet,
    ir.Diag: _Evaluator._c_diag, ir.Vec: _Evaluator._c_vec, ir.Norm: _Evaluator._c_norm,
    ir.Softmax: _Evaluator._c_softmax, ir.LogSumExp: _Evaluator._c_logsumexp, ir.Named: _Evaluator._c_named,
    ir.Entry: _Evaluator._c_entry, ir.IndexSum: _Evaluator._c_indexsum, ir.Delta: _Evaluator._c_delta,
    ir.Derivative: _Evaluator._c_derivative, ir.Commutation: _Evaluator._c_commutation,
}


_DEPS: dict[int, tuple[ir.Expr, frozenset]] = {}  # id → (node, dependencies); the entry keeps the node alive


def _deps(e: ir.Expr) -> frozenset:
    """The override keys the value of ``e`` can depend on: ("var", name), ("named", name), ("idx", name) of the
    indices free in ``e``, ("deriv",) for a node holding a derivative."""
    got = _DEPS.get(id(e))
    if got is not None and got[0] is e:
        return got[1]
    s: set = set()
    if isinstance(e, ir.Var):
        s.add(("var", e.name))
    elif isinstance(e, ir.Named):
        s.add(("named", e.name))
        s |= _deps(e.value)
    elif isinstance(e, ir.IndexSum):
        s |= _deps(e.body)
        s.discard(("idx", e.index.name))
    else:
        if isinstance(e, ir.Entry):
            s |= {("idx", i.name) for i in e.idx if isinstance(i, ir.Index)}
        elif isinstance(e, ir.Delta):
            s |= {("idx", i.name) for i in (e.i, e.j) if isinstance(i, ir.Index)}
        elif isinstance(e, ir.Derivative):
            s.add(("deriv",))
        for c in ir.children(e):
            s |= _deps(c)
    fs = frozenset(s)
    if len(_DEPS) > 200000:
        _DEPS.clear()
    _DEPS[id(e)] = (e, fs)
    return fs


# ───────────────────────────── public evaluation ─────────────────────────────


def evaluate(e: ir.Expr, point: Point) -> np.ndarray:
    """The value of ``e`` at ``point`` as a 2-D float64 array (derivatives by finite differences).

    Raises:
        NumericError: a node the method cannot evaluate, a missing value or an unbound index.
    """
    ev = _Evaluator(point, strict=False)
    with np.errstate(all="ignore"), _DeepRecursion():
        v = ev.ev(e)
    return np.real_if_close(v) if np.iscomplexobj(v) else v

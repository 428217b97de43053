"""IR expressions as explicit SymPy matrices: the evaluation of the exact method.

Contract: :func:`evaluate` (and the memoized :func:`_ev`) expand an IR expression at the concrete sizes of an
:class:`ExactEnv` into a SymPy matrix whose entries are expressions in the variables' entry symbols, one case per
node type. A derivative node (:func:`_derivative`) is taken entry by entry with
:func:`matcalc.verify.exact.diff._diff` and arranged per :func:`matcalc.ir.derivative_shape`, with the conventions
for structured variables stated in the package docstring.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable

import sympy

from matcalc import ir
from matcalc.verify.exact.diff import _diff, _xreplace
from matcalc.verify.exact.env import ExactEnv, ExactError, _var_matrix
from matcalc.verify.exact.functions import (
    _U, _basic, _drop_deltas, _has_inf, builtin_form, unary_function, vector_function,
)


# ───────────────────────────── evaluation ─────────────────────────────


def _scalar(m: sympy.Matrix) -> sympy.Expr:
    if m.shape != (1, 1):
        raise ExactError(f"expected a scalar, got a {m.shape[0]}×{m.shape[1]} matrix")
    return m[0, 0]


def _zip(a: sympy.Matrix, b: sympy.Matrix, fn: Callable) -> sympy.Matrix:
    if a.shape != b.shape:
        raise ExactError(f"entrywise operation on {a.shape} and {b.shape}")
    return _mat(a.rows, a.cols, [fn(x, y) for x, y in zip(a, b)])


def _mat(rows: int, cols: int, flat: list) -> sympy.Matrix:
    """A matrix from its entries in row order (SymPy objects), without SymPy's input parsing."""
    return sympy.Matrix._new(rows, cols, [_basic(x) for x in flat], copy=False)


def _times(a: sympy.Expr, b: sympy.Expr, env: ExactEnv) -> sympy.Expr:
    """``a * b``; a product with an exact 0 is 0 at once (SymPy asks whether the other factor is finite, through its
    whole tree), unless the other factor contains an infinity or nan, when SymPy's own product decides."""
    if (a is sympy.S.Zero and not _has_inf(b, env._infs)) or (b is sympy.S.Zero and not _has_inf(a, env._infs)):
        return sympy.S.Zero
    return a * b


def _matmul(A: sympy.Matrix, B: sympy.Matrix, env: ExactEnv) -> sympy.Matrix:
    """The matrix product, entry by entry with :func:`_times` (the same sums of products as ``A * B``)."""
    if A.cols != B.rows:
        raise ExactError(f"internal: product of {A.shape} and {B.shape}")
    a, b = list(A), list(B)
    n, q = A.cols, B.cols
    out = []
    for i in range(A.rows):
        for j in range(q):
            terms = [_times(a[i * n + k], b[k * q + j], env) for k in range(n)]
            out.append(sympy.Add(*[t for t in terms if t is not sympy.S.Zero]))
    return _mat(A.rows, q, out)


def _vec(m: sympy.Matrix) -> list:
    """Column-stacking order."""
    return [m[i, j] for j in range(m.cols) for i in range(m.rows)]


def _index_value(ix: object, env: ExactEnv) -> int:
    if isinstance(ix, bool):
        raise ExactError(f"bad index {ix!r}")
    if isinstance(ix, int):
        return ix
    if isinstance(ix, ir.Index):
        if ix.name not in env.indices:
            raise ExactError(f"the index {ix.name} is not bound (a free index needs a value)")
        return env.indices[ix.name]
    if isinstance(ix, str):
        if ix not in env.indices:
            raise ExactError(f"the index {ix} is not bound")
        return env.indices[ix]
    raise ExactError(f"bad index {ix!r}")


def _entry_position(shape: tuple, idx: tuple, env: ExactEnv) -> tuple[int, int]:
    """0-based (row, col) of ``Entry(.., idx)`` in a matrix of concrete ``shape``."""
    vals = [_index_value(i, env) for i in idx]
    rows, cols = shape
    if len(vals) == 2:
        i, j = vals
    elif len(vals) == 1:
        if cols == 1:
            i, j = vals[0], 1
        elif rows == 1:
            i, j = 1, vals[0]
        else:
            raise ExactError("one index into a matrix; give two")
    elif len(vals) == 0 and rows == cols == 1:
        i, j = 1, 1
    else:
        raise ExactError(f"{len(vals)} indices into a {rows}×{cols} array")
    if not (1 <= i <= rows and 1 <= j <= cols):
        raise ExactError(f"index ({i}, {j}) out of range for a {rows}×{cols} array")
    return i - 1, j - 1


def evaluate(e: ir.Expr, sizes: dict | None = None, env: ExactEnv | None = None) -> sympy.Matrix:
    """The explicit SymPy matrix of ``e`` at concrete ``sizes`` (symbols for the variables' entries).

    Args:
        e: an IR expression.
        sizes: values of the dimension symbols (stored into ``env``).
        env: the shared environment (symbols, free-index values, conventions); a new one when omitted.

    Raises:
        ExactError: on an unsupported node, an unbound index or a derivative by something that is not a variable,
            a ``let`` name or an entry of a variable.
        OutOfBudget: when ``env.deadline`` passes.
    """
    if env is None:
        env = ExactEnv(sizes=dict(sizes or {}))
    elif sizes is not None:
        env.sizes.update(sizes)
    return _ev(e, env)


def _ev(e: ir.Expr, env: ExactEnv) -> sympy.Matrix:
    key = (id(e), env.ctx_of(e))
    hit = env._cache.get(key)
    if hit is not None:
        return hit[1]
    env.check_time()
    m = _ev_node(e, env)
    want = (env.dim(e.shape[0]), env.dim(e.shape[1]))
    if m.shape != want:  # pragma: no cover - an internal inconsistency, never silent
        raise ExactError(f"internal: {type(e).__name__} evaluated to {m.shape}, expected {want}")
    env._cache[key] = (e, m)
    return m


def _ev_node(e: ir.Expr, env: ExactEnv) -> sympy.Matrix:  # noqa: C901 - one case per node type
    S = sympy
    match e:
        case ir.Var(name=name):
            ov = env.overrides.get(("var", name))
            return ov if ov is not None else _var_matrix(e, env)
        case ir.Num(value=v):
            return S.Matrix([[S.Rational(v.numerator, v.denominator)]])
        case ir.Size(dim=d):
            return S.Matrix([[S.Integer(env.dim(d))]])
        case ir.Identity(n=n):
            return S.eye(env.dim(n))
        case ir.Zeros(dims=(r, c)):
            return S.zeros(env.dim(r), env.dim(c))
        case ir.Ones(dims=(r, c)):
            return S.ones(env.dim(r), env.dim(c))
        case ir.Add(args=args):
            out = _ev(args[0], env)
            for a in args[1:]:
                out = out + _ev(a, env)
            return out
        case ir.Neg(arg=a):
            return -_ev(a, env)
        case ir.MatMul(args=args):
            out = _ev(args[0], env)
            for a in args[1:]:
                out = _matmul(out, _ev(a, env), env)
            return out
        case ir.Scale(scalar=s, arg=a):
            c = _scalar(_ev(s, env))
            M = _ev(a, env)
            return _mat(M.rows, M.cols, [_times(c, x, env) for x in M])
        case ir.Div(arg=a, scalar=s):
            c = _scalar(_ev(s, env))
            return _ev(a, env).applyfunc(lambda x: x / c)
        case ir.Hadamard(a=a, b=b):
            return _zip(_ev(a, env), _ev(b, env), lambda x, y: _times(x, y, env))
        case ir.HadDiv(a=a, b=b):
            return _zip(_ev(a, env), _ev(b, env), lambda x, y: x / y)
        case ir.Kron(a=a, b=b):
            return _kron(_ev(a, env), _ev(b, env), env)
        case ir.MaxMin(op=op, a=a, b=b):
            f = S.Max if op == "max" else S.Min
            if op not in ("max", "min"):
                raise ExactError(f"unknown entrywise operation {op!r}")
            return _zip(_ev(a, env), _ev(b, env), lambda x, y: f(x, y))
        case ir.Transpose(arg=a):
            return _ev(a, env).T
        case ir.Inverse(arg=a):
            return _inverse(_ev(a, env))
        case ir.Power(base=b, exp=k):
            _check_exponent(k)
            return _power(_ev(b, env), k, env)
        case ir.EPower(base=b, exp=k):
            _check_exponent(k)
            r = S.Rational(k.numerator, k.denominator)
            return _ev(b, env).applyfunc(lambda x: x ** r)
        case ir.Broadcast(arg=a, dims=(r, c)):
            s = _scalar(_ev(a, env))
            return S.Matrix(env.dim(r), env.dim(c), lambda i, j: s)
        case ir.Apply(fn=fn, arg=a, order=order, declared=declared):
            return _apply(fn, order, declared, _ev(a, env))
        case ir.CallVec(fn=fn, arg=a, order=order):
            return _call_vec(fn, order, list(_ev(a, env)))
        case ir.Sum(arg=a):
            return S.Matrix([[S.Add(*list(_ev(a, env)))]])
        case ir.Trace(arg=a):
            return S.Matrix([[_ev(a, env).trace()]])
        case ir.Det(arg=a):
            return S.Matrix([[_ev(a, env).det(method="berkowitz")]])
        case ir.LogDet(arg=a):
            return S.Matrix([[S.log(_ev(a, env).det(method="berkowitz"))]])
        case ir.Diag(arg=a):
            A = _ev(a, env)
            return S.diag(*list(A)) if A.rows > 1 else S.Matrix([[A[0, 0]]])
        case ir.Vec(arg=a):
            return S.Matrix(_vec(_ev(a, env)))
        case ir.Norm(arg=a):
            return S.Matrix([[S.sqrt(S.Add(*[x ** 2 for x in _ev(a, env)]))]])
        case ir.Softmax(arg=a):
            return _softmax(_ev(a, env))
        case ir.LogSumExp(arg=a):
            return S.Matrix([[S.log(S.Add(*[S.exp(x) for x in _ev(a, env)]))]])
        case ir.Named(name=name, value=v):
            ov = env.overrides.get(("named", name))
            return ov if ov is not None else _ev(v, env)
        case ir.Entry(arg=a, idx=idx):
            A = _ev(a, env)
            i, j = _entry_position(A.shape, idx, env)
            return S.Matrix([[A[i, j]]])
        case ir.IndexSum(index=ix, body=body):
            return _index_sum(ix, body, env)
        case ir.Delta(i=i, j=j):
            return S.Matrix([[S.Integer(1 if _index_value(i, env) == _index_value(j, env) else 0)]])
        case ir.Derivative(kind="hessian"):
            return _ev(ir.nest_hessians(e), env)
        case ir.Derivative():
            return _derivative(e, env)
        case ir.Commutation(m=m, n=n):
            return _commutation(env.dim(m), env.dim(n))
    raise ExactError(f"the exact method cannot evaluate {type(e).__name__}")


def _commutation(m: int, n: int) -> sympy.Matrix:
    """``K(m, n)``: the permutation with ``vec(Xᵀ) = K vec(X)`` for X m×n (entry (i, j) of X is at j·m + i of
    ``vec(X)`` and at i·n + j of ``vec(Xᵀ)``)."""
    K = sympy.zeros(m * n, m * n)
    for i in range(m):
        for j in range(n):
            K[i * n + j, j * m + i] = 1
    return K


def _kron(A: sympy.Matrix, B: sympy.Matrix, env: ExactEnv) -> sympy.Matrix:
    """The Kronecker product, entry by entry with :func:`_times`."""
    return _mat(A.rows * B.rows, A.cols * B.cols,
                [_times(A[i // B.rows, j // B.cols], B[i % B.rows, j % B.cols], env)
                 for i in range(A.rows * B.rows) for j in range(A.cols * B.cols)])


def _power(B: sympy.Matrix, k: Fraction, env: ExactEnv) -> sympy.Matrix:
    """``B**k``: any rational power of a scalar, an integer power of a square matrix (negative: of its inverse)."""
    if B.shape == (1, 1):
        return sympy.Matrix([[B[0, 0] ** sympy.Rational(k.numerator, k.denominator)]])
    if k.denominator != 1:
        raise ExactError("a matrix power needs an integer exponent")
    n = int(k)
    if n < 0:
        B, n = _inverse(B), -n
    if n == 0:
        return sympy.eye(B.rows)
    # by repeated squaring, in plain products (Matrix.__pow__ runs a slow simplification on every step): B^64 is
    # B^32 B^32 entry by entry, the same expressions as the product written out
    out = None
    while True:
        if n & 1:
            out = B if out is None else _matmul(out, B, env)
        n >>= 1
        if not n:
            return out
        env.check_time()
        B = _matmul(B, B, env)


def _apply(fn: str, order: int, declared: bool, A: sympy.Matrix) -> sympy.Matrix:
    """The entrywise function ``fn`` (differentiated ``order`` times): generic when declared, else built in."""
    if declared:
        cls = unary_function(fn, order)
        return A.applyfunc(lambda x: cls(x))
    form = builtin_form(fn, order)
    return A.applyfunc(lambda x: form.xreplace({_U: x}))


def _call_vec(fn: str, order: int, args: list) -> sympy.Matrix:
    """The generic ``fn: R^n -> R`` of the entries ``args`` (order 0), or its gradient (order 1)."""
    n = len(args)
    if order == 0:
        return sympy.Matrix([[vector_function(fn, n)(*args)]])
    if order == 1:
        return sympy.Matrix(n, 1, lambda i, j: vector_function(fn, n, (i + 1,))(*args))
    if order == 2:  # the Hessian: generic second partials, one symbol per unordered pair (symmetric)
        return sympy.Matrix(n, n, lambda i, j: vector_function(fn, n, (i + 1, j + 1))(*args))
    raise ExactError(f"CallVec order {order} is not supported")


def _softmax(A: sympy.Matrix) -> sympy.Matrix:
    ex = [sympy.exp(x) for x in A]
    tot = sympy.Add(*ex)
    return sympy.Matrix(A.rows, 1, [x / tot for x in ex])


def _index_sum(ix: ir.Index, body: ir.Expr, env: ExactEnv) -> sympy.Matrix:
    """``Σ_ix body``: the body evaluated at every value of ``ix``, the enclosing binding of ``ix`` restored."""
    n = env.dim(ix.dim)
    saved = env.indices.get(ix.name, None)
    had = ix.name in env.indices
    total = sympy.Integer(0)
    try:
        for k in range(1, n + 1):
            env.indices[ix.name] = k
            total += _scalar(_ev(body, env))
    finally:
        if had:
            env.indices[ix.name] = saved
        else:
            env.indices.pop(ix.name, None)
    return sympy.Matrix([[total]])


#: Largest exponent (numerator or denominator) the exact method expands.
MAX_EXPONENT = 256


def _check_exponent(k: Fraction) -> None:
    if abs(k.numerator) > MAX_EXPONENT or k.denominator > MAX_EXPONENT:
        raise ExactError(f"the exponent {k} is beyond the exact method's limit ({MAX_EXPONENT})")


def _inverse(m: sympy.Matrix) -> sympy.Matrix:
    if m.rows != m.cols:
        raise ExactError("the inverse of a non-square matrix")
    if m.rows == 1:
        return sympy.Matrix([[1 / m[0, 0]]])
    if m.is_diagonal():  # entry by entry: the determinant's simplification would cost seconds on σ or exp entries
        if any(m[i, i] == 0 for i in range(m.rows)):
            raise ExactError("the inverse of a singular matrix")
        return sympy.diag(*[1 / m[i, i] for i in range(m.rows)])
    from sympy.matrices.utilities import dotprodsimp

    with dotprodsimp(False):  # plain products: the zero tests of the check simplify later, entry by entry
        d = m.det(method="berkowitz")
    if d == 0:
        raise ExactError("the inverse of a singular matrix")
    if not _surely_nonzero(d):
        d = m.det(method="berkowitz")  # with SymPy's simplification: shows a structurally singular matrix
        if d == 0:
            raise ExactError("the inverse of a singular matrix")
    with dotprodsimp(False):
        return m.adjugate(method="berkowitz") / d


def _surely_nonzero(d: sympy.Expr) -> bool:
    """True when ``d`` is far from 0 at a point of its free symbols (so it is not identically 0); False when the
    point cannot tell (a generic function, a value near 0)."""
    syms = sorted(d.free_symbols, key=str)
    vals = {x: sympy.Rational(3 + 2 * k, 7 + k) for k, x in enumerate(syms)}
    try:
        v = d.xreplace(vals).evalf(30)
    except (TypeError, ValueError, ZeroDivisionError):
        return False
    return bool(v.is_number and v.is_finite and abs(v) > 1e-12)


# ───────────────────────────── derivatives ─────────────────────────────


def _with_override(env: ExactEnv, key: tuple, value: sympy.Matrix, fn: Callable[[], sympy.Matrix]) -> sympy.Matrix:
    old = env.overrides.get(key)
    old_token = env._token
    env.overrides[key] = value
    env._token = next(env._counter) + 1_000_000
    try:
        return fn()
    finally:
        if old is None:
            env.overrides.pop(key, None)
        else:
            env.overrides[key] = old
        env._token = old_token


#: Properties that shape a variable's entries (shared, zero or dependent entries): a derivative by such a variable
#: is taken with independent entries (a fresh symbol matrix substituted for it), see the package docstring.
_STRUCTURED = frozenset({"symmetric", "spd", "diagonal", "probability"})


def _derivative(d: ir.Derivative, env: ExactEnv) -> sympy.Matrix:
    wrt = d.wrt
    entry_pos: tuple[int, int] | None = None
    props: frozenset = frozenset()
    if isinstance(wrt, ir.Var):
        key = ("var", wrt.name)
        props = wrt.props
    elif isinstance(wrt, ir.Named):
        key = ("named", wrt.name)
    elif isinstance(wrt, ir.Entry) and isinstance(wrt.arg, ir.Var):
        key = ("var", wrt.arg.name)
        props = wrt.arg.props
    else:
        raise ExactError(f"a derivative by {type(wrt).__name__} (only a variable, a let name or an entry of a variable)")
    base = wrt.arg if isinstance(wrt, ir.Entry) else wrt
    current = _ev(base, env)  # the value to substitute back (the enclosing context's value)
    if isinstance(wrt, ir.Entry):
        entry_pos = _entry_position(current.shape, wrt.idx, env)
    direct = key[0] == "var" and not (set(props) & _STRUCTURED) and key not in env.overrides
    if direct:
        # A plain variable's entries are distinct symbols occurring nowhere else: differentiate by them directly
        # (the same derivative as with a fresh matrix substituted and substituted back, without re-evaluating).
        Z = current
        E = _ev(d.expr, env)
        back: dict | None = None
    else:
        Z = env.fresh_matrix(current.rows, current.cols, positive=("positive" in props))
        E = _with_override(env, key, Z, lambda: _ev(d.expr, env))
        back = {Z[i, j]: current[i, j] for i in range(Z.rows) for j in range(Z.cols)}
    p, q = Z.shape
    k, l = E.shape
    symmetric = bool(props & {"symmetric", "spd"}) and entry_pos is None
    grads: dict[tuple[int, int], sympy.Matrix] = {}

    def raw(a: int, b: int) -> sympy.Matrix:
        if (a, b) not in grads:
            env.check_time()
            sym = Z[a, b]
            memo: dict = {}
            grads[(a, b)] = E.applyfunc(lambda x: _drop_deltas(_diff(_basic(x), sym, memo, env), env._deltas))
        return grads[(a, b)]

    def g(a: int, b: int) -> sympy.Matrix:
        """dE/dX[a, b] within the structure of X (see the package docstring), before substituting back."""
        if symmetric and a != b:
            s = raw(a, b) + raw(b, a)
            return s if env.symmetric == "cookbook" else s / 2
        return raw(a, b)

    positions = [entry_pos] if entry_pos is not None else [(a, b) for b in range(q) for a in range(p)]
    if back is None:
        G = {pos: g(*pos) for pos in positions}
    else:
        sub_memo: dict = {}
        G = {pos: g(*pos).applyfunc(lambda x: _xreplace(_basic(x), back, sub_memo)) for pos in positions}
    if entry_pos is not None:
        p = q = 1
        G = {(0, 0): G[entry_pos]}
    scalar_expr = (k, l) == (1, 1)
    scalar_wrt = (p, q) == (1, 1)
    kind, layout = d.kind, d.layout
    if kind == "grad" or (kind == "d" and scalar_expr and layout != "numerator"):
        if not scalar_expr:
            raise ExactError("grad of a non-scalar")
        out = sympy.Matrix(p, q, lambda a, b: G[(a, b)][0, 0])
    elif kind == "d" and scalar_expr and layout == "numerator":
        out = sympy.Matrix(q, p, lambda b, a: G[(a, b)][0, 0])
    elif kind == "d" and scalar_wrt:
        out = G[(0, 0)] if layout != "denominator" else G[(0, 0)].T
    else:
        # the Jacobian of vec(E) by vec(X): rows in vec order of E, columns in vec order of X
        cols = [(a, b) for b in range(q) for a in range(p)]
        J = sympy.Matrix(k * l, p * q, lambda r, c: G[cols[c]][r % k, r // k])
        out = J.T if (kind == "d" and layout == "denominator") else J
    return out

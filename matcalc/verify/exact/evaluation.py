"""The exact verification method (SPEC section 5, method 2): explicit SymPy matrices, entry by entry.

Contract: :func:`check_equal` judges ``lhs = rhs`` at small, distinct, concrete sizes (:func:`choose_sizes`). Both
sides are expanded by :func:`evaluate` into explicit SymPy matrices whose entries are symbols (``W[1,2]`` is the
symbol ``W_1_2``); every derivative is taken entry by entry by the chain rule on those explicit entries (the rules of
``sympy.diff``, memoized by subexpression) and arranged per :func:`matcalc.ir.derivative_shape`. Declared functions stay generic: ``f: R -> R`` is a SymPy function
class whose derivative is the class ``f'`` (and so on), ``C: R^n -> R`` is a function of n arguments whose partials
are the classes ``C_i``, ``C_ij`` (indices sorted, so ``C_ij = C_ji``). The result is ``"equal"`` only when the
difference of every entry simplifies to the symbol 0 at every size tried; ``"different"`` only when an exact point
(small integers or rationals for every symbol, concrete values for the generic functions' values and derivatives)
gives a clearly nonzero difference, away from kinks (relu, abs, step, max/min) and out-of-domain values; otherwise
``"unknown"`` with the reason. Nothing here imports the rule engine, the simplifier or the normaliser; SymPy is
imported when this module is imported, and nothing imports this module until a check runs.

How an entry's difference is shown to be 0, cheapest first (every test is sound; a later one runs only for the
entries an earlier one did not settle): (1) SymPy already reduced ``lhs − rhs`` to 0 while building it; (2) the
*cheap zero test*: every application that is not a sum, product or integer power (a generic or built-in function,
``Max``, ``sqrt`` …) becomes a symbol, one per function and expanded arguments, and both sides are compared as
elements of one polynomial ring (or fraction field) over ℚ — equal there means equal as rational functions of
independent symbols, hence equal whatever values the applications take; (3) one random exact point, to find a
difference before costly work; (4) ``expand``, ``cancel``, ``simplify`` and the split at kinks (:func:`_symbolic_zero`).
Every stage works on the expression DAG with memos (one evaluation per IR node and free-index values, one derivative
per subexpression and symbol, one conversion per subexpression), since shared subexpressions are the rule here.

Conventions stated here once:

* a derivative by a ``symmetric``/``spd`` variable is the gradient within the symmetric matrices: the gradient
  G taken with independent entries, then ``(G + Gᵀ)/2`` (``symmetric="symmetrized"``, the default, as the numeric
  method does; for a Jacobian, the columns of (i, j) and (j, i) averaged); ``symmetric="cookbook"`` gives the
  Matrix Cookbook's ``G + Gᵀ − G∘I`` instead. A derivative by one entry ``d/dS[i, j]`` and derivatives by
  ``diagonal``, ``positive`` and ``probability`` variables are taken with independent entries (the structure and
  the sum-to-one constraint shape the values, not the derivatives).
* ``logdet(A)`` is ``log det A``; a point where ``det A < 0`` is not used (its value would not be real).
* a ``probability`` vector's last entry is ``1 −`` the others; ``positive`` variables use positive symbols.
* ``relu' = step``, ``step' = 0`` and ``abs' = sign`` away from 0 (the Dirac deltas SymPy produces are dropped).
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import sympy
from sympy.core.function import ArgumentIndexError
from sympy.polys.fields import FracField
from sympy.polys.rings import PolyRing

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.shapes import dim_symbols, eval_dim

__all__ = ["ExactEnv", "ExactResult", "OutOfBudget", "ExactError", "choose_sizes", "evaluate", "check_equal"]


class ExactError(MatcalcError):
    """An expression the exact method cannot evaluate (an unsupported node, an unbound index, a bad ``wrt``)."""


class OutOfBudget(Exception):
    """The time budget ran out during evaluation or simplification."""


# ───────────────────────────── generic functions ─────────────────────────────

_FAMILY: dict[tuple, type] = {}
_FAMILY_CLASSES: set[type] = set()


def unary_function(name: str, order: int = 0) -> type:
    """The generic ``f: R -> R`` differentiated ``order`` times, as a SymPy function class (``fdiff`` gives the next)."""
    key = ("u", name, order)
    cls = _FAMILY.get(key)
    if cls is None:

        def fdiff(self, argindex: int = 1):
            if argindex != 1:
                raise ArgumentIndexError(self, argindex)
            return unary_function(name, order + 1)(self.args[0])

        cls = type(name + "'" * order, (sympy.Function,),
                   {"nargs": 1, "fdiff": fdiff, "_mc_key": key})
        _FAMILY[key] = cls
        _FAMILY_CLASSES.add(cls)
    return cls


def vector_function(name: str, n: int, partials: tuple = ()) -> type:
    """The generic ``C: R^n -> R`` (``partials`` empty) or its partial derivative by the sorted argument indices."""
    partials = tuple(sorted(partials))
    key = ("v", name, n, partials)
    cls = _FAMILY.get(key)
    if cls is None:

        def fdiff(self, argindex: int = 1):
            if not 1 <= argindex <= n:
                raise ArgumentIndexError(self, argindex)
            return vector_function(name, n, partials + (argindex,))(*self.args)

        sep = "," if n >= 10 else ""
        cname = name if not partials else f"{name}_{sep.join(str(i) for i in partials)}"
        cls = type(cname, (sympy.Function,),
                   {"nargs": n, "fdiff": fdiff, "_mc_key": key})
        _FAMILY[key] = cls
        _FAMILY_CLASSES.add(cls)
    return cls


# ───────────────────────────── built-in entrywise functions ─────────────────────────────

_U = sympy.Dummy("u", real=True)


def _builtin_base(fn: str) -> sympy.Expr:
    u = _U
    table = {
        "exp": lambda: sympy.exp(u),
        "log": lambda: sympy.log(u),
        "sqrt": lambda: sympy.sqrt(u),
        "sin": lambda: sympy.sin(u),
        "cos": lambda: sympy.cos(u),
        "tanh": lambda: sympy.tanh(u),
        "sigma": lambda: 1 / (1 + sympy.exp(-u)),
        "relu": lambda: sympy.Max(0, u),
        "softplus": lambda: sympy.log(1 + sympy.exp(u)),
        "abs": lambda: sympy.Abs(u),
        "step": lambda: sympy.Heaviside(u),
    }
    if fn not in table:
        raise ExactError(f"the exact method has no definition of the function {fn!r}")
    return table[fn]()


_BUILTIN_CACHE: dict[tuple[str, int], sympy.Expr] = {}


def builtin_form(fn: str, order: int) -> sympy.Expr:
    """The built-in ``fn`` differentiated ``order`` times, as an expression in the real dummy ``_u``."""
    key = (fn, order)
    if key not in _BUILTIN_CACHE:
        e = _builtin_base(fn)
        for _ in range(order):
            e = _drop_deltas(sympy.diff(e, _U))
        _BUILTIN_CACHE[key] = e
    return _BUILTIN_CACHE[key]


def _basic(e: Any) -> sympy.Basic:
    """A SymPy object for an entry (entries are SymPy objects already; a Python int can appear from ``sum``)."""
    if isinstance(e, sympy.Basic):
        return e
    if isinstance(e, int):
        return sympy.Integer(e)
    raise ExactError(f"internal: unexpected entry {type(e).__name__}")


def _has_delta(e: sympy.Basic, memo: dict) -> bool:
    """``e.has(DiracDelta)``, memoized by subexpression (a shared subexpression is looked at once)."""
    hit = memo.get(e)
    if hit is None:
        hit = memo[e] = isinstance(e, sympy.DiracDelta) or any(_has_delta(a, memo) for a in e.args)
    return hit


def _drop_deltas(e: Any, memo: dict | None = None) -> Any:
    """Dirac deltas (derivatives of step, sign, relu′) are 0 away from the kinks (``memo``: see :func:`_has_delta`)."""
    if not isinstance(e, sympy.Basic):
        return e
    if e.has(sympy.DiracDelta) if memo is None else _has_delta(e, memo):
        e = e.replace(lambda a: isinstance(a, sympy.DiracDelta), lambda a: sympy.S.Zero)
    return e


# ───────────────────────────── the environment ─────────────────────────────


@dataclass
class _SymInfo:
    display: str
    kind: str  # "real", "positive", "spd-diag", "spd-off", "prob"


@dataclass
class ExactEnv:
    """State shared by the evaluations of one check: sizes, the variables' symbol matrices, index bindings.

    Args:
        sizes: values of the dimension symbols.
        indices: values (1-based) of the free indices, by name.
        symmetric: ``"symmetrized"`` (``(G + Gᵀ)/2``) or ``"cookbook"`` (``G + Gᵀ − G∘I``) for derivatives by a
            symmetric variable.
        deadline: a ``time.perf_counter()`` value after which evaluation raises :class:`OutOfBudget`.
    """

    sizes: dict = field(default_factory=dict)
    indices: dict = field(default_factory=dict)
    symmetric: str = "symmetrized"
    deadline: float | None = None
    var_values: dict = field(default_factory=dict)
    symbols: dict = field(default_factory=dict)  # sympy.Symbol -> _SymInfo
    used_names: set = field(default_factory=set)
    overrides: dict = field(default_factory=dict)  # ("var"|"named", name) -> Matrix
    _token: int = 0
    _counter: itertools.count = field(default_factory=itertools.count)
    _cache: dict = field(default_factory=dict)
    _free_ix: dict = field(default_factory=dict)  # id(IR node) -> (node, names of the indices free in it)
    _syms: dict = field(default_factory=dict)  # SymPy expression -> its free symbols (see _free_syms)
    _atomizer: Any = None  # the _Atomizer of this check (created on first use)
    _deltas: dict = field(default_factory=dict)  # SymPy expression -> whether it has a DiracDelta
    _infs: dict = field(default_factory=dict)  # SymPy expression -> whether it has an infinity or nan

    def check_time(self) -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise OutOfBudget("the time budget ran out")

    def dim(self, d: ir.Dim) -> int:
        try:
            return eval_dim(d, self.sizes)
        except KeyError as err:
            raise ExactError(f"no size chosen for the dimension {d!r}") from err

    def ctx(self) -> tuple:
        return (tuple(sorted(self.indices.items())), self._token)

    def ctx_of(self, e: ir.Expr) -> tuple:
        """The part of the context ``e``'s value depends on: the values of the indices free in ``e`` and the
        override state (a node without free indices is evaluated once for all index assignments)."""
        names = _free_index_names(e, self)
        if not names:
            return ((), self._token)
        return (tuple(sorted((k, v) for k, v in self.indices.items() if k in names)), self._token)

    def fresh_matrix(self, rows: int, cols: int, *, positive: bool = False) -> sympy.Matrix:
        k = next(self._counter)
        assumptions = {"positive": True} if positive else {"real": True}
        return sympy.Matrix(rows, cols, lambda i, j: sympy.Dummy(f"Z{k}_{i + 1}_{j + 1}", **assumptions))


def _var_matrix(v: ir.Var, env: ExactEnv) -> sympy.Matrix:
    cached = env.var_values.get(v.name)
    if cached is not None:
        if cached.shape != (env.dim(v.dims[0]), env.dim(v.dims[1])):
            raise ExactError(f"the variable {v.name} occurs with two shapes")
        return cached
    rows, cols = env.dim(v.dims[0]), env.dim(v.dims[1])
    props = set(v.props)
    symmetric = bool(props & {"symmetric", "spd"})
    if symmetric and rows != cols:
        raise ExactError(f"{v.name} is declared symmetric but is not square")
    positive = "positive" in props
    assumptions = {"positive": True} if positive else {"real": True}

    def name(i: int, j: int) -> tuple[str, str]:
        if rows == 1 and cols == 1:
            return v.name, v.name
        if cols == 1:
            return f"{v.name}_{i + 1}", f"{v.name}[{i + 1}]"
        if rows == 1:
            return f"{v.name}_{j + 1}", f"{v.name}[{j + 1}]"
        return f"{v.name}_{i + 1}_{j + 1}", f"{v.name}[{i + 1},{j + 1}]"

    def kind(i: int, j: int) -> str:
        if "spd" in props:
            return "spd-diag" if i == j else "spd-off"
        if "probability" in props:
            return "prob"
        return "positive" if positive else "real"

    m = sympy.zeros(rows, cols)
    for i in range(rows):
        for j in range(cols):
            if "diagonal" in props and i != j:
                continue
            if symmetric and i > j:
                m[i, j] = m[j, i]
                continue
            sname, disp = name(i, j)
            while sname in env.used_names:  # ``W_1`` (a scalar) and ``W[1]`` must stay different symbols
                sname += "_"
            env.used_names.add(sname)
            s = sympy.Symbol(sname, **assumptions)
            env.symbols[s] = _SymInfo(disp, kind(i, j))
            m[i, j] = s
    if "probability" in props:
        n = rows * cols
        if n == 1:
            raise ExactError(f"{v.name} is a probability vector of length 1")
        flat = [m[k % rows, k // rows] for k in range(n)]
        last = 1 - sum(flat[:-1])
        del env.symbols[flat[-1]]
        m[(n - 1) % rows, (n - 1) // rows] = last
    env.var_values[v.name] = m
    return m


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


def _has_inf(e: sympy.Basic, memo: dict) -> bool:
    """Whether ``e`` contains an infinity or nan (memoized by subexpression)."""
    hit = memo.get(e)
    if hit is None:
        hit = memo[e] = e in _NOT_FINITE or any(_has_inf(a, memo) for a in e.args)
    return hit


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


def _free_index_names(e: ir.Expr, env: ExactEnv) -> frozenset:
    """Names of the indices ``e`` uses and does not bind itself (memoized by node identity for one check)."""
    hit = env._free_ix.get(id(e))
    if hit is not None:
        return hit[1]
    out: set = set()
    for c in ir.children(e):
        out |= _free_index_names(c, env)
    if isinstance(e, ir.Entry):
        out.update(ix.name if isinstance(ix, ir.Index) else ix for ix in e.idx if isinstance(ix, (ir.Index, str)))
    elif isinstance(e, ir.Delta):
        out.update(ix.name if isinstance(ix, ir.Index) else ix for ix in (e.i, e.j) if isinstance(ix, (ir.Index, str)))
    elif isinstance(e, ir.IndexSum):
        out.discard(e.index.name)
    names = frozenset(out)
    env._free_ix[id(e)] = (e, names)
    return names


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
            A, B = _ev(a, env), _ev(b, env)
            return _mat(A.rows * B.rows, A.cols * B.cols,
                        [_times(A[i // B.rows, j // B.cols], B[i % B.rows, j % B.cols], env)
                         for i in range(A.rows * B.rows) for j in range(A.cols * B.cols)])
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
            B = _ev(b, env)
            if B.shape == (1, 1):
                return S.Matrix([[B[0, 0] ** S.Rational(k.numerator, k.denominator)]])
            if k.denominator != 1:
                raise ExactError("a matrix power needs an integer exponent")
            n = int(k)
            if n < 0:
                B, n = _inverse(B), -n
            out = S.eye(B.rows)
            for _ in range(n):  # plain products: Matrix.__pow__ runs a slow simplification on every step
                out = _matmul(out, B, env)
            return out
        case ir.EPower(base=b, exp=k):
            _check_exponent(k)
            r = S.Rational(k.numerator, k.denominator)
            return _ev(b, env).applyfunc(lambda x: x ** r)
        case ir.Broadcast(arg=a, dims=(r, c)):
            s = _scalar(_ev(a, env))
            return S.Matrix(env.dim(r), env.dim(c), lambda i, j: s)
        case ir.Apply(fn=fn, arg=a, order=order, declared=declared):
            A = _ev(a, env)
            if declared:
                cls = unary_function(fn, order)
                return A.applyfunc(lambda x: cls(x))
            form = builtin_form(fn, order)
            return A.applyfunc(lambda x: form.xreplace({_U: x}))
        case ir.CallVec(fn=fn, arg=a, order=order):
            A = _ev(a, env)
            args = list(A)
            n = len(args)
            if order == 0:
                return S.Matrix([[vector_function(fn, n)(*args)]])
            if order == 1:
                return S.Matrix(n, 1, lambda i, j: vector_function(fn, n, (i + 1,))(*args))
            raise ExactError(f"CallVec order {order} is not supported")
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
            A = _ev(a, env)
            ex = [S.exp(x) for x in A]
            tot = S.Add(*ex)
            return S.Matrix(A.rows, 1, [x / tot for x in ex])
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
            n = env.dim(ix.dim)
            saved = env.indices.get(ix.name, None)
            had = ix.name in env.indices
            total = S.Integer(0)
            try:
                for k in range(1, n + 1):
                    env.indices[ix.name] = k
                    total += _scalar(_ev(body, env))
            finally:
                if had:
                    env.indices[ix.name] = saved
                else:
                    env.indices.pop(ix.name, None)
            return S.Matrix([[total]])
        case ir.Delta(i=i, j=j):
            return S.Matrix([[S.Integer(1 if _index_value(i, env) == _index_value(j, env) else 0)]])
        case ir.Derivative():
            return _derivative(e, env)
    raise ExactError(f"the exact method cannot evaluate {type(e).__name__}")


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
    d = m.det(method="berkowitz")
    if d == 0:
        raise ExactError("the inverse of a singular matrix")
    return m.adjugate(method="berkowitz") / d


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
#: is taken with independent entries (a fresh symbol matrix substituted for it), see the module docstring.
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
        """dE/dX[a, b] within the structure of X (see the module docstring), before substituting back."""
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


def _free_syms(e: sympy.Basic, env: ExactEnv) -> frozenset:
    """The free symbols of ``e``, memoized for the check (SymPy recomputes them on every call, through every copy
    of a shared subexpression)."""
    hit = env._syms.get(e)
    if hit is not None:
        return hit
    if e.is_Symbol:
        out = frozenset((e,))
    elif not e.args:
        out = frozenset(e.free_symbols)
    elif isinstance(e, (sympy.Add, sympy.Mul, sympy.Pow)) or isinstance(e, sympy.Function):
        acc: set = set()
        for a in e.args:
            acc |= _free_syms(a, env)
        out = frozenset(acc)
    else:  # bound variables (Subs, Derivative, Piecewise conditions …): SymPy's own answer
        out = frozenset(e.free_symbols)
    env._syms[e] = out
    return out


#: SymPy's chain rule for a function application; a class that overrides it (``Abs``, ``sign``, ``Piecewise`` …)
#: is differentiated by ``sympy.diff`` itself.
_FUNCTION_DERIVATIVE = sympy.Function._eval_derivative


def _diff(e: sympy.Expr, s: sympy.Symbol, memo: dict, env: ExactEnv) -> sympy.Expr:
    """``d e / d s`` by the chain rule, memoized by subexpression (``memo`` is for this ``s`` only).

    The same rules as ``sympy.diff`` (sum, product, constant-exponent power, ``fdiff`` of each function argument for
    the classes that use SymPy's own chain rule); every other node is handed to ``sympy.diff``. A subexpression shared by many entries is differentiated once.
    """
    hit = memo.get(e)
    if hit is not None:
        return hit
    if s not in _free_syms(e, env):
        out: sympy.Expr = sympy.S.Zero
    elif e == s:
        out = sympy.S.One
    elif e.is_Add:
        out = sympy.Add(*[_diff(a, s, memo, env) for a in e.args])
    elif e.is_Mul:
        args = e.args
        terms = []
        for i, a in enumerate(args):
            da = _diff(a, s, memo, env)
            if da != 0:
                terms.append(sympy.Mul(*args[:i], da, *args[i + 1:]))
        out = sympy.Add(*terms)
    elif e.is_Pow and s not in _free_syms(e.exp, env):
        b, x = e.args
        out = x * b ** (x - 1) * _diff(b, s, memo, env)
    elif isinstance(e, sympy.Function) and type(e)._eval_derivative is _FUNCTION_DERIVATIVE:
        terms = []
        for i, a in enumerate(e.args):
            da = _diff(a, s, memo, env)
            if da == 0:
                continue
            try:
                df = e.fdiff(i + 1)
            except ArgumentIndexError:
                df = sympy.Function.fdiff(e, i + 1)
            terms.append(df * da)
        out = sympy.Add(*terms)
    else:
        out = sympy.diff(e, s)
    memo[e] = out
    return out


def _xreplace(e: sympy.Basic, repl: dict, memo: dict) -> sympy.Basic:
    """``e.xreplace(repl)`` for symbol keys, memoized by subexpression (shared subtrees are rebuilt once)."""
    hit = memo.get(e)
    if hit is not None:
        return hit
    if e in repl:
        out = repl[e]
    elif not e.args:
        out = e
    else:
        args = [_xreplace(a, repl, memo) for a in e.args]
        out = e.func(*args) if any(x is not y for x, y in zip(args, e.args)) else e
    memo[e] = out
    return out


# ───────────────────────────── sizes ─────────────────────────────


def _dims_of(e: ir.Expr) -> list:
    out: list = []
    for node in ir.walk(e):
        out.extend(node.shape)
        if isinstance(node, ir.Var):
            out.extend(node.dims)
        if isinstance(node, ir.IndexSum):
            out.append(node.index.dim)
        if isinstance(node, ir.Entry):
            out.extend(ix.dim for ix in node.idx if isinstance(ix, ir.Index))
        if isinstance(node, ir.Delta):
            out.extend(ix.dim for ix in (node.i, node.j) if isinstance(ix, ir.Index))
    return out


def _cost(exprs: list, sizes: dict) -> tuple[int, int]:
    """(entries of all variables, largest node) at ``sizes``."""
    var_entries = 0
    largest = 0
    seen: set = set()
    for e in exprs:
        for node in ir.walk(e):
            r, c = eval_dim(node.shape[0], sizes), eval_dim(node.shape[1], sizes)
            largest = max(largest, r * c)
            if isinstance(node, ir.Var) and node.name not in seen:
                seen.add(node.name)
                var_entries += r * c
    return var_entries, largest


def _least_sizes(exprs: list) -> dict[str, int]:
    """Lower bounds on single-symbol dimensions from integer indices (``x[3]`` with ``x: n`` needs n ≥ 3)."""
    least: dict[str, int] = {}
    for e in exprs:
        for node in ir.walk(e):
            if not isinstance(node, ir.Entry):
                continue
            r, c = node.arg.shape
            dims = (r, c) if len(node.idx) == 2 else ((r,) if c == 1 else (c,))
            for d, ix in zip(dims, node.idx):
                if isinstance(ix, int) and isinstance(d, str) and len(dim_symbols(d)) == 1 and d == dim_symbols(d)[0]:
                    least[d] = max(least.get(d, 0), ix)
    return least


#: Limits on one size assignment: symbols for all variables, entries of the largest node.
MAX_VAR_ENTRIES = 72
MAX_NODE_ENTRIES = 144


def choose_sizes(exprs, *, fixed: dict | None = None) -> list[dict[str, int]]:
    """Assignments of small distinct sizes to the dimension symbols of ``exprs``.

    The symbols (in order of first appearance) get 2, 3, 4, 2, 3, … (so no two of the first three are equal); the
    second assignment is the reverse permutation (``{n: 2, m: 3}`` then ``{n: 3, m: 2}``), or, with more than three
    symbols, one in which any two symbols that were equal differ (up to nine symbols). Sizes stay ≤ 4; when an
    assignment exceeds the entry budget (:data:`MAX_VAR_ENTRIES`, :data:`MAX_NODE_ENTRIES`), sizes 2 and 3 are used
    instead, and only the cheapest assignment is kept when even that is over budget.

    Args:
        exprs: an expression or a list of expressions.
        fixed: sizes already decided for some symbols (kept as given).
    """
    if isinstance(exprs, ir.Expr):
        exprs = [exprs]
    exprs = list(exprs)
    fixed = dict(fixed or {})
    names: list[str] = []
    for e in exprs:
        for d in _dims_of(e):
            for s in dim_symbols(d):
                if s not in names and s not in fixed:
                    names.append(s)
    if not names:
        return [dict(fixed)]

    least = _least_sizes(exprs)

    def build(values: list[int]) -> dict[str, int]:
        out = dict(fixed)
        out.update(zip(names, values))
        for sym, lo in least.items():  # ``x[3]`` needs n ≥ 3
            if sym in out and sym not in fixed and out[sym] < lo:
                out[sym] = lo
        return out

    def fits(sz: dict) -> bool:
        v, largest = _cost(exprs, sz)
        return v <= MAX_VAR_ENTRIES and largest <= MAX_NODE_ENTRIES

    k = len(names)
    for cycle in ([2, 3, 4], [2, 3]):
        c = len(cycle)
        first = [cycle[i % c] for i in range(k)]
        if k == 1:
            second = [3 if first[0] == 2 else 2]
        elif k <= c:
            second = list(reversed(first))
        else:
            # two symbols equal in the first assignment differ in the second (up to c² symbols)
            second = [cycle[(i % c + i // c + 1) % c] for i in range(k)]
        cands = [build(first)]
        if second != first:
            cands.append(build(second))
        ok: list[dict] = []
        for cand in cands:
            if fits(cand) and cand not in ok:
                ok.append(cand)
        if ok:
            return ok
    # over budget even at 2/3: the cheapest distinct-ish assignment, then all 2
    cheap = build([2 + (i % 2) for i in range(k)])
    return [cheap] if fits(cheap) else [build([2] * k)]


# ───────────────────────────── free indices ─────────────────────────────


def free_indices(e: ir.Expr) -> list[ir.Index]:
    """The indices used in ``e`` and not bound by an enclosing index sum, in order of appearance."""
    out: list[ir.Index] = []

    def add(ix: object, bound: frozenset) -> None:
        if isinstance(ix, ir.Index) and ix.name not in bound and all(o.name != ix.name for o in out):
            out.append(ix)

    def rec(node: ir.Expr, bound: frozenset) -> None:
        if isinstance(node, ir.IndexSum):
            rec(node.body, bound | {node.index.name})
            return
        if isinstance(node, ir.Entry):
            for ix in node.idx:
                add(ix, bound)
        if isinstance(node, ir.Delta):
            add(node.i, bound)
            add(node.j, bound)
        for c in ir.children(node):
            rec(c, bound)

    rec(e, frozenset())
    return out


# ───────────────────────────── zero tests ─────────────────────────────

_KINKS = (sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Max, sympy.Min, sympy.DiracDelta, sympy.Piecewise)


def _atomize_exp(e: sympy.Expr) -> sympy.Expr:
    """Exponentials to positive symbols: ``exp(Σ c_k m_k) = Π E_k^c_k`` for integer ``c_k`` (an identity), so
    ``cancel`` sees rational functions. ``tanh`` first becomes ``(e^{2x} − 1)/(e^{2x} + 1)``."""
    if e.has(sympy.tanh):
        e = e.replace(lambda a: isinstance(a, sympy.tanh),
                      lambda a: (sympy.exp(2 * a.args[0]) - 1) / (sympy.exp(2 * a.args[0]) + 1))
    atoms = e.atoms(sympy.exp)
    if not atoms:
        return e
    table: dict = {}

    def sym(m: sympy.Expr) -> sympy.Symbol:
        if m not in table:
            table[m] = sympy.Dummy(f"E{len(table)}", positive=True)
        return table[m]

    repl = {}
    for atom in atoms:
        arg = sympy.expand(atom.args[0])
        val = sympy.S.One
        for t in sympy.Add.make_args(arg):
            c, m = t.as_coeff_Mul()
            if c.is_Integer and m != 1:
                val *= sym(m) ** c
            elif m == 1:
                val *= sympy.exp(c)
            else:
                val *= sym(t)
        repl[atom] = val
    return e.xreplace(repl)


class _Atomizer:
    """Opaque function applications to symbols, for the cheap zero test (:func:`_cheap_zeros`).

    Every application (generic or built-in function, ``Max``/``Min``, a power with a non-integer exponent, any node
    that is not a sum, product or integer power) becomes one fresh symbol per function and canonical arguments (the
    arguments are atomized and expanded first). Replacing subterms by independent symbols is sound for a zero test:
    a rational function of independent symbols that is identically 0 stays 0 whatever values the subterms take.
    Memoized by subexpression for the whole check, so a shared subexpression is atomized once.
    """

    def __init__(self) -> None:
        self.memo: dict = {}
        self.table: dict = {}
        self.canon: dict = {}

    def __call__(self, e: sympy.Basic) -> sympy.Basic:
        hit = self.memo.get(e)
        if hit is not None:
            return hit
        if not e.args:
            out = e
        elif e.is_Add or e.is_Mul:
            args = [self(a) for a in e.args]
            out = e.func(*args) if any(x is not y for x, y in zip(args, e.args)) else e
        elif e.is_Pow and e.exp.is_Integer:
            b = self(e.base)
            out = e if b is e.base else b ** e.exp
        else:
            key = (e.func, tuple(self._canonical(a) for a in e.args))
            out = self.table.get(key)
            if out is None:
                out = self.table[key] = sympy.Dummy(f"F{len(self.table)}")
        self.memo[e] = out
        return out

    def _canonical(self, a: sympy.Basic) -> sympy.Basic:
        hit = self.canon.get(a)
        if hit is None:
            t = self(a)
            hit = self.canon[a] = sympy.expand(t) if isinstance(t, sympy.Expr) else t
        return hit


class _NotRational(Exception):
    """An atomized expression that is not a rational function with rational coefficients (a float, an infinity,
    an integer power too large to expand)."""


_NOT_FINITE = frozenset({sympy.zoo, sympy.nan, sympy.oo, -sympy.oo})

#: Largest integer exponent of a sum the cheap zero test expands (``_too_big`` uses the same limit).
_MAX_EXPAND_POWER = 16


def _cheap_zeros(items: list, env: ExactEnv) -> list[bool]:
    """For each ``(…, l, r)`` of ``items``: whether ``l − r`` is 0 as a rational function once opaque applications
    are symbols (see :class:`_Atomizer`). True only when it is; False means "not shown this way".

    Both sides of every entry are converted into one polynomial ring (a fraction field when some denominator occurs)
    over ℚ in all the symbols that occur, with a memo, so a subexpression shared by several entries is expanded once;
    equal elements of the ring or field are equal rational functions.
    """
    if env._atomizer is None:
        env._atomizer = _Atomizer()
    at = env._atomizer
    pairs = []
    for item in items:
        env.check_time()
        pairs.append((at(_basic(item[-2])), at(_basic(item[-1]))))
    gens: set = set()
    seen: set = set()
    bad: set = set()  # infinities and nan: such an entry is never settled here
    fraction = False
    stack = [x for pair in pairs for x in pair]
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if (x.is_Number and not x.is_Rational) or x in _NOT_FINITE:
            bad.add(x)
        elif x.is_Symbol or (not x.args and not x.is_Number):
            gens.add(x)
        elif x.is_Pow and x.exp.is_Integer and x.exp < 0:
            fraction = True
        stack.extend(x.args)
    dom = (FracField if fraction else PolyRing)(sorted(gens, key=sympy.default_sort_key), sympy.QQ)
    index = dict(zip(sorted(gens, key=sympy.default_sort_key), dom.gens))
    memo: dict = {}
    count = [0]

    def conv(x: sympy.Basic):
        hit = memo.get(x)
        if hit is not None:
            return hit
        count[0] += 1
        if count[0] % 256 == 0:
            env.check_time()
        if x.is_Rational:
            out = dom.ground_new(sympy.QQ(int(x.p), int(x.q)))
        elif x in index:
            out = index[x]
        elif x.is_Add:
            out = dom.zero
            for a in x.args:
                out = out + conv(a)
        elif x.is_Mul:
            out = dom.one
            for a in x.args:
                out = out * conv(a)
        elif x.is_Pow and x.exp.is_Integer:
            k = int(x.exp)
            if abs(k) > _MAX_EXPAND_POWER and x.base.is_Add:
                raise _NotRational(str(x))
            base = conv(x.base)
            if k < 0:
                if base == 0:
                    raise _NotRational("division by zero")
                out = (dom.one / base) ** (-k)
            else:
                out = base ** k
        else:  # a float, an infinity, nan
            raise _NotRational(str(x))
        memo[x] = out
        return out

    out = []
    for l, r in pairs:
        if bad and (l.has(*bad) or r.has(*bad)):
            out.append(False)
            continue
        if l == r:
            out.append(True)
            continue
        try:
            out.append(conv(l) == conv(r))
        except _NotRational:
            out.append(False)
    return out


def _symbolic_zero(d: sympy.Expr, env: ExactEnv, allow_simplify: bool = True) -> bool:
    """Whether ``d`` simplifies to the symbol 0 (never True otherwise). Piecewise functions (relu, step, abs, sign,
    max, min) are split by the signs of their arguments: 0 on every branch means 0 away from the kinks."""
    d = _drop_deltas(_basic(d))
    if d == 0:
        return True
    if d.has(sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Max, sympy.Min):
        if _smooth_zero(d, env, allow_simplify=False):
            return True
        return _branch_zero(d, env, depth=0)
    return _smooth_zero(d, env, allow_simplify)


def _too_big(d: sympy.Expr) -> bool:
    """Expansion would explode: a large integer power of a sum."""
    for p in d.atoms(sympy.Pow):
        e = p.exp
        if e.is_Integer and abs(int(e)) > 16 and p.base.is_Add:
            return True
    return False


def _smooth_zero(d: sympy.Expr, env: ExactEnv, allow_simplify: bool = True) -> bool:
    env.check_time()
    if _too_big(d):
        return False
    if sympy.expand(d) == 0:
        return True
    env.check_time()
    a = _atomize_exp(d)
    if sympy.cancel(sympy.together(a)) == 0:
        return True
    env.check_time()
    if not allow_simplify or sympy.count_ops(d) > 400:
        return False
    attempts = (
        lambda: sympy.simplify(d),
        lambda: sympy.simplify(a),
        lambda: sympy.trigsimp(sympy.expand_trig(d)),
    )
    for attempt in attempts:
        try:
            if attempt() == 0:
                return True
        except Exception:  # noqa: BLE001 - a failed simplification only means "not shown"
            pass
        env.check_time()
    return False


_MAX_BRANCH_DEPTH = 8


def _kink_arg(atom: sympy.Expr) -> sympy.Expr | None:
    if isinstance(atom, (sympy.Max, sympy.Min)):
        return atom.args[0] - atom.args[1]
    if isinstance(atom, (sympy.Heaviside, sympy.Abs, sympy.sign)):
        return atom.args[0]
    return None


def _canonical(a: sympy.Expr) -> tuple[sympy.Expr, int]:
    a = sympy.expand(a)
    if a.could_extract_minus_sign():
        return -a, -1
    return a, 1


def _branch_zero(d: sympy.Expr, env: ExactEnv, depth: int) -> bool:
    """Split on the sign of one kink argument (innermost first) and require 0 on both sides."""
    env.check_time()
    atoms = [t for t in d.atoms(sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Max, sympy.Min)
             if not any(arg.has(sympy.Heaviside, sympy.Abs, sympy.sign, sympy.Max, sympy.Min) for arg in t.args)]
    if not atoms:
        return _smooth_zero(d, env)
    if depth >= _MAX_BRANCH_DEPTH:
        return False
    atoms.sort(key=sympy.default_sort_key)
    pivot, _ = _canonical(_kink_arg(atoms[0]))
    for s in (1, -1):
        repl = {}
        for t in atoms:
            c, flip = _canonical(_kink_arg(t))
            if c != pivot:
                continue
            sgn = s * flip  # the sign of the atom's own argument on this branch
            if isinstance(t, sympy.Heaviside):
                repl[t] = sympy.S.One if sgn > 0 else sympy.S.Zero
            elif isinstance(t, sympy.Abs):
                repl[t] = t.args[0] if sgn > 0 else -t.args[0]
            elif isinstance(t, sympy.sign):
                repl[t] = sympy.Integer(sgn)
            else:  # Max/Min: the sign of args[0] - args[1] decides between the first two arguments
                first_wins = (sgn > 0) == isinstance(t, sympy.Max)
                keep = t.args[0] if first_wins else t.args[1]
                rest = t.args[2:]
                repl[t] = type(t)(keep, *rest) if rest else keep
        if not repl:  # pragma: no cover - the pivot comes from these atoms
            return False
        if not _branch_zero(d.xreplace(repl), env, depth + 1):
            return False
    return True


# ───────────────────────────── points ─────────────────────────────

_VALUE_POOL = [sympy.Integer(v) for v in (-3, -2, -1, 1, 2, 3)] + [sympy.Rational(v, 2) for v in (-3, -1, 1, 3)]
_INT_POOL = [sympy.Integer(v) for v in (-3, -2, -1, 1, 2, 3)]
_POS_POOL = [sympy.Integer(v) for v in (1, 2, 3)] + [sympy.Rational(v, 2) for v in (1, 3, 5)]


class _PointMaker:
    """Random exact points (small integers and halves) and generic-function values, reproducible from a seed."""

    def __init__(self, env: ExactEnv, seed: int) -> None:
        self.env = env
        self.rng = random.Random(seed)

    def point(self, attempt: int) -> dict:
        env, rng = self.env, self.rng
        positive_only = attempt % 3 == 2
        pt: dict = {}
        prob_count: dict[str, int] = {}
        for s, info in env.symbols.items():
            if info.kind == "prob":
                base = info.display.split("[")[0]
                prob_count[base] = prob_count.get(base, 0) + 1
        for s, info in env.symbols.items():
            if info.kind == "positive":
                pt[s] = rng.choice(_POS_POOL)
            elif info.kind == "spd-diag":
                pt[s] = sympy.Integer(rng.randint(5, 8))
            elif info.kind == "spd-off":
                pt[s] = sympy.Integer(rng.choice((-1, 0, 1)))
            elif info.kind == "prob":
                n = prob_count[info.display.split("[")[0]] + 1
                pt[s] = sympy.Rational(rng.randint(1, 3), 4 * n)
            elif attempt == 0:  # integers first: the counterexample reads best
                pt[s] = rng.choice(_INT_POOL)
            else:
                pt[s] = rng.choice(_POS_POOL if positive_only else _VALUE_POOL)
        return pt

    def fvalue(self) -> sympy.Rational:
        return self.rng.choice(_INT_POOL)


def _numkey(x: sympy.Expr) -> str | None:
    v = sympy.N(x, 30)
    if not v.is_number:
        return None
    re, im = v.as_real_imag()
    if abs(im) > 1e-25 or not re.is_finite:
        return None
    return f"{float(re):.15e}|{sympy.N(re, 25)}"


class _FVals:
    """Values chosen for generic function applications at one point: by (function, numeric arguments), and a cache
    by the application itself (the same application recurs across entries)."""

    def __init__(self) -> None:
        self.by_key: dict = {}
        self.by_app: dict = {}


class _Invalid(Exception):
    """The point is not usable for a subexpression: at (or not shown away from) a kink, or a value that is not a
    finite real number where one is needed."""


_INVALID = object()


class _PointValues:
    """Exact values of expressions at one point, bottom-up and memoized by subexpression (a subexpression shared by
    several entries, or several times by one entry, is evaluated once).

    Variables take the point's values; a generic function application takes a value drawn once per function,
    derivative order and numeric arguments (kept in ``fvals``: the same application at the same numbers has the same
    value everywhere); every other node is rebuilt from its arguments' values, so SymPy evaluates it exactly. A kink
    (``Max``/``Min``, ``Heaviside``, ``Abs``, ``sign``, ``Piecewise``) whose argument is (numerically) 0 at the point
    makes the point invalid for every expression containing it.
    """

    def __init__(self, pt: dict, fvals: _FVals, maker: _PointMaker) -> None:
        self.pt, self.fvals, self.maker = pt, fvals, maker
        self.memo: dict = {}

    def value(self, e: sympy.Basic) -> sympy.Expr | None:
        """The exact value of an entry, or None when the point is invalid for it or the value is not a finite real."""
        try:
            v = self(_basic(e))
        except _Invalid:
            return None
        if _has_inf(v, {}):
            return None
        n = sympy.N(v, 50)
        if not n.is_number:
            return None
        re, im = n.as_real_imag()
        if abs(im) > 1e-30 or not re.is_finite:
            return None
        return v

    def __call__(self, e: sympy.Basic) -> sympy.Basic:
        hit = self.memo.get(e)
        if hit is not None:
            if hit is _INVALID:
                raise _Invalid()
            return hit
        try:
            v = self._eval(e)
        except _Invalid:
            self.memo[e] = _INVALID
            raise
        self.memo[e] = v
        return v

    def _away_from_zero(self, v: sympy.Basic) -> None:
        n = sympy.N(v, 30)
        if not n.is_number or abs(n) < 1e-20:
            raise _Invalid()

    def _eval(self, e: sympy.Basic) -> sympy.Basic:
        pv = self.pt.get(e)
        if pv is not None:
            return pv
        if not e.args:
            return e
        if isinstance(e, sympy.Piecewise):
            for _, cond in e.args:
                for rel in cond.atoms(sympy.core.relational.Relational):
                    self._away_from_zero(self(rel.lhs - rel.rhs))
        args = [self(a) for a in e.args]
        if isinstance(e, (sympy.Max, sympy.Min)):
            for x, y in itertools.combinations(args, 2):
                self._away_from_zero(x - y)
        elif isinstance(e, (sympy.Heaviside, sympy.Abs, sympy.sign, sympy.DiracDelta)):
            self._away_from_zero(args[0])
        if type(e) in _FAMILY_CLASSES:
            keys = []
            for arg in args:
                k = _numkey(arg)
                if k is None:
                    raise _Invalid()
                keys.append(k)
            key = (type(e)._mc_key, tuple(keys))
            if key not in self.fvals.by_key:
                self.fvals.by_key[key] = (self.maker.fvalue(), type(e)(*args))
            return self.fvals.by_key[key][0]
        if all(x is y for x, y in zip(args, e.args)):
            return e
        try:
            return e.func(*args)
        except Exception as exc:  # noqa: BLE001 - a node SymPy cannot rebuild at these values: not a usable point
            raise _Invalid() from exc


def _differs(lv: sympy.Expr, rv: sympy.Expr) -> bool:
    if lv.is_Rational and rv.is_Rational:
        return lv != rv
    a, b = sympy.N(lv, 50), sympy.N(rv, 50)
    diff = abs(sympy.N(lv - rv, 50))
    scale = max(sympy.Float(1), abs(a), abs(b))
    return bool(diff > sympy.Float("1e-25") * scale)


def _show(v: sympy.Expr) -> str:
    if v.is_Rational:
        return str(v)
    return f"{str(v)} ≈ {sympy.N(v, 12)}" if len(str(v)) <= 60 else str(sympy.N(v, 15))


# ───────────────────────────── the check ─────────────────────────────


@dataclass
class ExactResult:
    """The exact method's verdict on one claim.

    Attributes:
        status: ``"equal"`` (every entry's difference simplified to 0 at every size tried), ``"different"`` (an exact
            point gives different values) or ``"unknown"``.
        sizes_tried: the size assignments examined.
        counterexample: when different: ``sizes``, ``indices`` (free-index values), ``point`` (a value for every
            symbol, by its display name ``W[1,2]``), ``functions`` (the generic functions' values used, e.g.
            ``"f'(2)": "-1"``), ``entries`` (``{"entry": (i, j), "lhs": …, "rhs": …}``, 1-based) and ``note``.
        detail: one line saying what was done.
        reason: why the result is unknown (empty otherwise).
        elapsed: seconds spent.
    """

    status: str
    sizes_tried: list = field(default_factory=list)
    counterexample: dict | None = None
    detail: str = ""
    reason: str = ""
    elapsed: float = 0.0

    def to_json(self) -> dict:
        return {"status": self.status, "sizes_tried": self.sizes_tried, "counterexample": _jsonable(self.counterexample),
                "detail": self.detail, "reason": self.reason, "elapsed": round(self.elapsed, 4)}


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _fmt_sizes(sizes_list: list[dict]) -> str:
    if not sizes_list or not any(sizes_list):
        return "at the declared sizes"
    names = list(sizes_list[0])
    head = names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"
    vals = []
    for s in sizes_list:
        v = [str(s[n]) for n in names]
        vals.append(v[0] if len(v) == 1 else "(" + ", ".join(v) + ")")
    return f"at {head} = " + " and ".join(vals)


class _Different(Exception):
    def __init__(self, cex: dict) -> None:
        super().__init__("different")
        self.cex = cex


def _index_assignments(free: list[ir.Index], env: ExactEnv) -> list[dict[str, int]]:
    ranges = [range(1, env.dim(ix.dim) + 1) for ix in free]
    return [dict(zip([ix.name for ix in free], vals)) for vals in itertools.product(*ranges)]


def _resolve_free(free: tuple, found: list[ir.Index]) -> list[ir.Index]:
    out = list(found)
    for f in free:
        if isinstance(f, ir.Index):
            if all(o.name != f.name for o in out):
                out.append(f)
        elif isinstance(f, str):
            if all(o.name != f for o in out):
                raise ExactError(f"the free index {f} does not occur in the claim")
        else:
            raise ExactError(f"bad free index {f!r}")
    return out


def check_equal(lhs: ir.Expr, rhs: ir.Expr, *, free: tuple = (), budget_s: float = 5.0, seed: int = 0,
                symmetric: str = "symmetrized", sizes: list[dict] | None = None,
                max_assignments: int = 2) -> ExactResult:
    """Judge ``lhs = rhs`` entry by entry with SymPy at small distinct sizes.

    Args:
        lhs, rhs: the two sides (IR; same shape, or transposed shapes, which are judged ``"different"``).
        free: free indices (``ir.Index`` or names); the indices of the claim that no index sum binds are found
            automatically. Every value of them at the chosen sizes is checked.
        budget_s: wall-clock budget; when it runs out the result is ``"unknown"`` (or ``"equal"`` at the sizes
            completed so far, if at least one completed and none disagreed).
        seed: seed for the random points.
        symmetric: the convention for derivatives by a symmetric variable (see the module docstring).
        sizes: size assignments to use instead of :func:`choose_sizes`.
        max_assignments: how many size assignments to try at most (the second only while under 60 % of the
            budget); 1 halves the cost for batch runs such as ``prove all``.

    Raises:
        ExactError: on shapes that differ other than by transposition, or an expression that cannot be evaluated.
    """
    t0 = time.perf_counter()
    try:
        return _check_equal(lhs, rhs, free=free, budget_s=budget_s, seed=seed, symmetric=symmetric, sizes=sizes,
                            max_assignments=max_assignments)
    except RecursionError:
        return ExactResult("unknown", [], None, "the exact method: expression too deep", "expression too deep",
                           time.perf_counter() - t0)


def _check_equal(lhs: ir.Expr, rhs: ir.Expr, *, free: tuple, budget_s: float, seed: int,
                 symmetric: str, sizes: list[dict] | None, max_assignments: int) -> ExactResult:
    """The body of :func:`check_equal`."""
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    sl, sr = lhs.shape, rhs.shape
    transposed = sl != sr and (sl[1], sl[0]) == sr
    if sl != sr and not transposed:
        raise ExactError(f"the sides have different shapes {sl} and {sr} (only transposed shapes are judged)")
    found = free_indices(lhs)
    found += [ix for ix in free_indices(rhs) if ix.name not in {f.name for f in found}]
    free_ix = _resolve_free(tuple(free), found)
    assignments = sizes if sizes is not None else choose_sizes([lhs, rhs, *(ir.Delta(ix, ix) for ix in free_ix)])
    if transposed:
        sz = assignments[0]
        env = ExactEnv(sizes=dict(sz))
        shp = lambda s: f"{env.dim(s[0])}×{env.dim(s[1])}"  # noqa: E731
        note = (f"the sides have transposed shapes: the left side is {shp(sl)}, the right side {shp(sr)} "
                f"(symbolically {sl[0]}×{sl[1]} against {sr[0]}×{sr[1]})")
        return ExactResult("different", [dict(sz)], {"sizes": dict(sz), "indices": {}, "point": {}, "functions": {},
                                                     "entries": [], "note": note, "transposed_shapes": True},
                           f"shapes {shp(sl)} and {shp(sr)} are transposes {_fmt_sizes([sz])}", "",
                           time.perf_counter() - t0)
    tried: list[dict] = []
    done: list[dict] = []
    unknown_reason = ""
    if sizes is None:
        var_entries, largest = _cost([lhs, rhs], assignments[0])
        if var_entries > 4 * MAX_VAR_ENTRIES or largest > 4 * MAX_NODE_ENTRIES:
            why = (f"the sizes are too large for the exact method ({var_entries} variable entries, "
                   f"{largest} entries in the largest subexpression)")
            return ExactResult("unknown", [dict(assignments[0])], None, why, why, time.perf_counter() - t0)
    for n_assign, sz in enumerate(assignments[:max(1, max_assignments)]):
        if n_assign > 0 and time.perf_counter() > t0 + budget_s * 0.6:
            break  # a second assignment only when cheap
        tried.append(dict(sz))
        env = ExactEnv(sizes=dict(sz), symmetric=symmetric, deadline=deadline)
        try:
            status, why = _check_at(lhs, rhs, free_ix, env, seed + 7919 * n_assign)
        except _Different as d:
            return ExactResult("different", tried, d.cex,
                               f"entry by entry with SymPy {_fmt_sizes([sz])}: the sides differ", "",
                               time.perf_counter() - t0)
        except OutOfBudget:
            unknown_reason = f"time budget of {budget_s:g} s ran out {_fmt_sizes([sz])}"
            break
        except (ExactError, MatcalcError):
            raise
        except Exception as exc:  # noqa: BLE001 - a SymPy failure is "unknown", never a verdict

            unknown_reason = f"SymPy failed {_fmt_sizes([sz])}: {type(exc).__name__}: {str(exc)[:120]}"
            break
        if status == "equal":
            done.append(dict(sz))
        else:
            unknown_reason = why
            break
    el = time.perf_counter() - t0
    if done and not unknown_reason:
        return ExactResult("equal", tried, None, f"entry by entry with SymPy {_fmt_sizes(done)}", "", el)
    if done and unknown_reason.startswith("time budget"):
        return ExactResult("equal", done, None,
                           f"entry by entry with SymPy {_fmt_sizes(done)} (larger sizes not tried: budget)", "", el)
    return ExactResult("unknown", tried, None, f"entry by entry with SymPy {_fmt_sizes(tried)}: {unknown_reason}",
                       unknown_reason, el)


def _check_at(lhs: ir.Expr, rhs: ir.Expr, free_ix: list[ir.Index], env: ExactEnv, seed: int) -> tuple[str, str]:
    """Check at the sizes in ``env``: ``("equal", "")``, ``("unknown", why)``, or raise :class:`_Different`."""
    pending: list[tuple[dict, tuple[int, int], sympy.Expr, sympy.Expr]] = []
    for ixs in _index_assignments(free_ix, env):
        env.indices = dict(ixs)
        L = _ev(lhs, env)
        R = _ev(rhs, env)
        for i in range(L.rows):
            for j in range(L.cols):
                pending.append((dict(ixs), (i, j), _drop_deltas(L[i, j], env._deltas), _drop_deltas(R[i, j], env._deltas)))
    maker = _PointMaker(env, seed)
    # 1. entries whose difference SymPy already reduced to 0 while building it are settled, and so are those whose
    #    difference is 0 as a rational function of the variables and the opaque applications (cheap, and sound)
    pending = [item for item in pending if item[2] - item[3] != 0]
    if pending:
        pending = [item for item, zero in zip(pending, _cheap_zeros(pending, env)) if not zero]
    if not pending:
        return "equal", ""
    # 2. a few exact points find most differences before any costly simplification (one point is often not enough:
    #    the generic functions take values from a small pool, so two of them coincide by chance)
    _probe(pending, env, maker, n_points=3, max_attempts=12)
    # 3. symbolic zero entry by entry
    unresolved = []
    for item in pending:
        env.check_time()
        if not _symbolic_zero(item[2] - item[3], env):
            unresolved.append(item)
    if not unresolved:
        return "equal", ""
    # 4. more points for what simplification could not show to be 0
    _probe(unresolved, env, maker, n_points=6, max_attempts=24)
    ents = ", ".join(f"({p[1][0] + 1}, {p[1][1] + 1})" for p in unresolved[:4])
    return "unknown", (f"SymPy could not simplify the difference to 0 at entries {ents}"
                       f"{' …' if len(unresolved) > 4 else ''}, though it vanished at every point tried")


def _probe(items: list, env: ExactEnv, maker: _PointMaker, *, n_points: int, max_attempts: int) -> None:
    """Evaluate the entries at random exact points; raise :class:`_Different` at a point where they differ."""
    if not items:
        return
    valid = 0
    for attempt in range(max_attempts):
        if valid >= n_points:
            return
        env.check_time()
        pt = maker.point(attempt)
        fvals = _FVals()
        at = _PointValues(pt, fvals, maker)
        # the point must be valid for every entry (no kinks, finite real values), else try another
        values = []
        ok = True
        for ixs, pos, l, r in items:
            lv = at.value(l)
            rv = at.value(r) if lv is not None else None
            if lv is None or rv is None:
                ok = False
                break
            values.append((ixs, pos, lv, rv))
        if not ok:
            # fall back: a point valid for some entries is still evidence for those entries
            values = _partial_values(items, at)
            if not values:
                continue
        else:
            valid += 1
        diffs = [(ixs, pos, lv, rv) for ixs, pos, lv, rv in values if _differs(lv, rv)]
        if diffs:
            raise _Different(_counterexample(env, pt, fvals, diffs))


def _partial_values(items: list, at: _PointValues) -> list:
    out = []
    for ixs, pos, l, r in items:
        lv, rv = at.value(l), at.value(r)
        if lv is not None and rv is not None:
            out.append((ixs, pos, lv, rv))
    return out


def _counterexample(env: ExactEnv, pt: dict, fvals: _FVals, diffs: list) -> dict:
    point = {info.display: str(pt[s]) for s, info in env.symbols.items() if s in pt}
    functions = {}
    for (_key, _args), (val, app) in fvals.by_key.items():
        shown = sympy.sstr(app.xreplace(pt))
        functions[shown if len(shown) <= 120 else shown[:117] + "…"] = str(val)
    entries = []
    for ixs, pos, lv, rv in diffs[:6]:
        ent = {"entry": (pos[0] + 1, pos[1] + 1), "lhs": _show(lv), "rhs": _show(rv)}
        if ixs:
            ent["indices"] = dict(ixs)
        entries.append(ent)
    return {"sizes": dict(env.sizes), "indices": dict(diffs[0][0]), "point": point, "functions": functions,
            "entries": entries, "note": f"{len(diffs)} entr{'y differs' if len(diffs) == 1 else 'ies differ'}"}


"""The state of one exact check, and the exact method's errors.

Contract: :class:`ExactEnv` holds what the evaluations of one check share: the chosen sizes, the free-index values,
the convention for symmetric derivatives, the deadline, each variable's matrix of entry symbols
(:func:`_var_matrix`, with the display name and kind of every symbol, for the points and the counterexample) and
the per-check memos (:func:`_free_index_names` among them). :class:`ExactError` and :class:`OutOfBudget` are the
two ways a check stops early. Nothing is evaluated here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import sympy

from matcalc import ir
from matcalc.clock import now
from matcalc.errors import MatcalcError
from matcalc.shapes import eval_dim


class ExactError(MatcalcError):
    """An expression the exact method cannot evaluate (an unsupported node, an unbound index, a bad ``wrt``)."""


class OutOfBudget(Exception):
    """The time budget ran out during evaluation or simplification."""


# ───────────────────────────── the environment ─────────────────────────────


@dataclass
class _SymInfo:
    display: str
    kind: str  # "real", "positive", "spd-diag", "spd-off", "prob", "prob-last"
    value: Any = None  # "prob-last": the entry's value, 1 − the others (the symbol itself occurs in no expression)


@dataclass
class ExactEnv:
    """State shared by the evaluations of one check: sizes, the variables' symbol matrices, index bindings.

    Args:
        sizes: values of the dimension symbols.
        indices: values (1-based) of the free indices, by name.
        symmetric: ``"symmetrized"`` (``(G + Gᵀ)/2``) or ``"cookbook"`` (``G + Gᵀ − G∘I``) for derivatives by a
            symmetric variable.
        deadline: a :func:`matcalc.clock.now` value (CPU seconds) after which evaluation raises :class:`OutOfBudget`.
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
        if self.deadline is not None and now() > self.deadline:
            raise OutOfBudget("the time budget ran out")

    def dim(self, d: ir.Dim) -> int:
        try:
            return eval_dim(d, self.sizes)
        except KeyError as err:
            raise ExactError(f"no size chosen for the dimension {d!r}") from err

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
    cached = env.var_values.get((v.name, v.props))  # by declaration: an environment may serve a whole document
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
        # the last symbol stays only to show the entry in a counterexample (its value is 1 − the others)
        env.symbols[flat[-1]] = _SymInfo(env.symbols[flat[-1]].display, "prob-last", last)
        m[(n - 1) % rows, (n - 1) // rows] = last
    env.var_values[(v.name, v.props)] = m
    return m


# ───────────────────────────── free indices of a node ─────────────────────────────


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

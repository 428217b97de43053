"""Structural facts of a claim for the numeric method.

Contract: read from the IR alone, never evaluated: the free indices of an expression, whether it holds a
derivative and whether it is analytic (no kinks), the shapes of its derivative arguments (memoised by node
identity), and :func:`_analyse`: the variables, dimension symbols, declared functions and what each
variable's draw must respect (positive, well conditioned, nonzero, fan-in of a weight) in a set of sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matcalc import ir
from matcalc.shapes import dim_symbols
from matcalc.verify.numeric.base import KINKS, POLES


# ───────────────────────────── structure analysis ─────────────────────────────


#: Every distinct node once (by identity), parents before children: linear in the DAG.
distinct = ir.distinct


def _free_indices(e: ir.Expr, bound: frozenset = frozenset()) -> dict[str, ir.Index]:
    out: dict[str, ir.Index] = {}
    seen: set[tuple] = set()

    def visit(n: ir.Expr, b: frozenset) -> None:
        if (id(n), b) in seen:  # a shared node under the same bound indices: visited already
            return
        seen.add((id(n), b))
        if isinstance(n, ir.IndexSum):
            visit(n.body, b | {n.index.name})
            return
        if isinstance(n, ir.Entry):
            for i in n.idx:
                if isinstance(i, ir.Index) and i.name not in b:
                    out.setdefault(i.name, i)
        if isinstance(n, ir.Delta):
            for i in (n.i, n.j):
                if isinstance(i, ir.Index) and i.name not in b:
                    out.setdefault(i.name, i)
        for c in ir.children(n):
            visit(c, b)

    visit(e, bound)
    return out


_FACTS: dict[int, tuple[ir.Expr, bool, bool, tuple]] = {}  # id → (node, has a derivative, analytic, wrt shapes)


def _facts(e: ir.Expr) -> tuple[ir.Expr, bool, bool, tuple]:
    """Structural facts of ``e`` (memoised by identity; the entry keeps the node alive so its id stays unique)."""
    f = _FACTS.get(id(e))
    if f is not None and f[0] is e:
        return f
    has_d, analytic, wrts = False, True, []
    for n in distinct(e):
        if isinstance(n, ir.Derivative):
            has_d = True
            if not isinstance(n.wrt, ir.Entry):
                wrts.append(n.wrt.shape)
        elif isinstance(n, ir.MaxMin):
            analytic = False
        elif isinstance(n, ir.Apply) and not n.declared and n.fn in KINKS:
            analytic = False
    if len(_FACTS) > 50000:
        _FACTS.clear()
    f = _FACTS[id(e)] = (e, has_d, analytic, tuple(wrts))
    return f


#: Entrywise functions whose value is positive wherever they are defined.
_POSITIVE_FNS = frozenset({"exp", "sigma", "softplus"})
#: Variables drawn with positive entries (see points.py): their properties.
_POSITIVE_PROPS = frozenset({"positive", "probability", "spd"})
_POS: dict[int, tuple[ir.Expr, bool]] = {}  # id → (node, positive by structure)


def positive_structure(e: ir.Expr) -> bool:
    """Whether every entry of ``e`` is positive at every point by its structure alone (an exp, a σ, a softplus, a
    softmax, a positive or probability variable, ones, a positive constant, and sums, products, quotients, powers,
    transposes and entries of such; a ``spd`` matrix only on its diagonal, so not as a whole). Such a value can be
    small (a softmax entry of 50 classes is ~0.02) but no finite-difference step brings it to 0, so the margin kept
    from a pole does not apply to it (the domain check, > 0, still does). Memoised by identity."""
    memo: dict[int, bool] = {}
    for x, kids in ir.post_order(e, memo):
        got = _POS.get(id(x))
        if got is not None and got[0] is x:
            memo[id(x)] = got[1]
            continue
        pos = all(memo[id(k)] for k in kids)
        t = type(x)
        if t is ir.Apply:
            pos = x.fn in _POSITIVE_FNS and not x.declared and x.order == 0
        elif t is ir.Softmax or t is ir.Ones or t is ir.Size:
            pos = True
        elif t is ir.Var:
            pos = bool(set(x.props) & (_POSITIVE_PROPS - {"spd"}))
        elif t is ir.Num:
            pos = x.value > 0
        elif t in (ir.Add, ir.MatMul, ir.Scale, ir.Div, ir.Hadamard, ir.HadDiv, ir.Kron, ir.Transpose, ir.Sum,
                   ir.Broadcast, ir.Entry, ir.Named, ir.IndexSum):
            pass  # positive when every operand is
        elif t in (ir.Power, ir.EPower):
            pos = memo[id(x.base)] and (t is ir.EPower or x.base.shape == (1, 1))
        else:
            pos = False
        memo[id(x)] = pos
        _POS[id(x)] = (x, pos)
    return memo[id(e)]


_CONST: dict[int, tuple[ir.Expr, bool]] = {}  # id → (node, holds no variable)


def constant_structure(e: ir.Expr) -> bool:
    """Whether ``e`` holds no variable (its value is the same at every point: a constant divisor such as a
    temperature ``0.01`` cannot be moved away from a pole by drawing another point). Memoised by identity."""
    got = _CONST.get(id(e))
    if got is not None and got[0] is e:
        return got[1]
    const = not any(isinstance(n, ir.Var) for n in distinct(e))
    _CONST[id(e)] = (e, const)
    return const


def _gram(e: ir.Expr) -> bool:
    """Whether the determinant of ``e`` is never negative whatever its variables: ``Bᵀ B``, ``B Bᵀ``, ``B B`` and an
    even power ``B^2k`` (det = det(B)², or its k-th power)."""
    while isinstance(e, ir.Named):
        e = e.value
    if isinstance(e, ir.Power):
        return e.exp.denominator == 1 and e.exp.numerator % 2 == 0
    if not isinstance(e, ir.MatMul) or len(e.args) != 2:
        return False
    a, b = e.args
    return a == b or (isinstance(a, ir.Transpose) and a.arg == b) or (isinstance(b, ir.Transpose) and b.arg == a)


def _has_deriv(e: ir.Expr) -> bool:
    return _facts(e)[1]


def _analytic(e: ir.Expr) -> bool:
    return _facts(e)[2]


@dataclass
class _Info:
    vars: dict
    dims: list
    min_size: dict
    entry_fns: list
    vec_fns: list
    positive: set
    wellcond: set
    free: dict
    nonzero: set = field(default_factory=set)
    fanin: dict = field(default_factory=dict)  # variable → axes (0 rows, 1 columns) it is multiplied along
    detpos: set = field(default_factory=set)  # square variables whose determinant is under log, sqrt or a root


def _analyse(exprs: list[ir.Expr], free: tuple = ()) -> _Info:
    vars_: dict[str, ir.Var] = {}
    dims: set[str] = set()
    min_size: dict[str, int] = {}
    entry_fns: set[str] = set()
    vec_fns: set[str] = set()
    positive: set[str] = set()
    wellcond: set[str] = set()
    nonzero: set[str] = set()
    fanin: dict[str, set] = {}
    detpos: set[str] = set()
    smooth = all(_analytic(r) for r in exprs)  # with kinks, small activations only crowd the kinks

    def add_dim(d: ir.Dim) -> None:
        for s in dim_symbols(d) if isinstance(d, str) else ():
            dims.add(s)

    def mark(n: ir.Expr, target: set) -> None:
        """A variable that IS the argument (up to transposes, vec and let names) of log, sqrt or a fractional
        power: its domain is the positive numbers. Nothing deeper is forced positive — ``sqrt(x ⊙ x) = x`` must
        stay false — and denominators are only kept away from 0 (by re-drawing)."""
        if isinstance(n, ir.Var):
            target.add(n.name)
        elif isinstance(n, (ir.Transpose, ir.Named, ir.Vec)):
            mark(ir.children(n)[0], target)

    def mark_det(n: ir.Expr) -> None:
        """The argument of log, sqrt or a fractional power is det(X): X is drawn with a positive determinant (the
        well-conditioned draws otherwise alternate the determinant's sign, so ``(det(A)^2)^(1/2) = det(A)`` is seen
        to be false)."""
        while isinstance(n, (ir.Named, ir.Transpose)):
            n = ir.children(n)[0]
        if isinstance(n, ir.Det) and not _gram(n.arg):  # det(Bᵀ B) ≥ 0 for every B: nothing to keep positive
            for v in distinct(n.arg):
                if isinstance(v, ir.Var):
                    detpos.add(v.name)

    def mark_nonzero(n: ir.Expr) -> None:
        """Variables inside a denominator: drawn away from 0 (random signs, |v| in [0.5, 2])."""
        for v in distinct(n):
            if isinstance(v, ir.Var):
                nonzero.add(v.name)

    def mark_wc(n: ir.Expr) -> None:
        if isinstance(n, ir.Var):
            wellcond.add(n.name)
        elif isinstance(n, (ir.Transpose, ir.Named, ir.Neg)):
            mark_wc(ir.children(n)[0])
        elif isinstance(n, ir.Scale):
            mark_wc(n.arg)
        elif isinstance(n, ir.MatMul):
            for c in n.args:
                mark_wc(c)

    for root in exprs:
        for n in distinct(root):
            if isinstance(n, ir.Var):
                vars_.setdefault(n.name, n)
                add_dim(n.dims[0])
                add_dim(n.dims[1])
            elif isinstance(n, ir.MatMul) and smooth:
                for a in n.args[:-1]:  # a left factor: its columns (its rows, transposed) are summed over
                    if isinstance(a, ir.Var):
                        fanin.setdefault(a.name, set()).add(1)
                    elif isinstance(a, ir.Transpose) and isinstance(a.arg, ir.Var):
                        fanin.setdefault(a.arg.name, set()).add(0)
            elif isinstance(n, ir.Size):  # a size used as a number (sqrt(d)): it needs a value like any other
                add_dim(n.dim)
            elif isinstance(n, (ir.Identity,)):
                add_dim(n.n)
            elif isinstance(n, ir.Commutation):
                add_dim(n.m)
                add_dim(n.n)
            elif isinstance(n, (ir.Zeros, ir.Ones, ir.Broadcast)):
                add_dim(n.dims[0])
                add_dim(n.dims[1])
            elif isinstance(n, ir.Apply):
                if n.declared:
                    entry_fns.add(n.fn)
                elif n.fn in POLES:
                    mark(n.arg, positive)
                    mark_det(n.arg)
            elif isinstance(n, ir.CallVec):
                vec_fns.add(n.fn)
            elif isinstance(n, (ir.Power, ir.EPower)):
                if n.exp.denominator != 1 or n.exp < 0:
                    if n.exp.denominator != 1:
                        mark(n.base, positive)
                        mark_det(n.base)
                    else:
                        mark_nonzero(n.base)
                    if isinstance(n, ir.Power) and not n.base.is_scalar and n.exp < 0:
                        mark_wc(n.base)
            elif isinstance(n, (ir.Inverse, ir.Det, ir.LogDet)):
                mark_wc(n.arg)
            elif isinstance(n, ir.HadDiv):
                mark_nonzero(n.b)
            elif isinstance(n, ir.Div):
                mark_nonzero(n.scalar)
            elif isinstance(n, ir.IndexSum):
                add_dim(n.index.dim)
            elif isinstance(n, ir.Entry):
                for ax, i in enumerate(n.idx):
                    if isinstance(i, ir.Index):
                        add_dim(i.dim)
                    elif isinstance(i, int):
                        shp = n.arg.shape
                        d = shp[ax] if len(n.idx) == 2 else (shp[0] if shp[1] == 1 else shp[1])
                        if isinstance(d, str) and "*" not in d:
                            min_size[d] = max(min_size.get(d, 2), i)
            elif isinstance(n, ir.Delta):
                for i in (n.i, n.j):
                    if isinstance(i, ir.Index):
                        add_dim(i.dim)
    fr: dict[str, ir.Index] = {}
    for root in exprs:
        fr.update(_free_indices(root))
    for i in free:
        fr.setdefault(i.name, i)
        add_dim(i.dim)
    return _Info(vars_, sorted(dims), min_size, sorted(entry_fns), sorted(vec_fns), positive, wellcond, fr,
                 nonzero, fanin, detpos)

"""The small concrete sizes and the free indices of a claim, for the exact method.

Contract: :func:`choose_sizes` gives small distinct sizes to the dimension symbols of a claim, within an entry
budget (:data:`MAX_VAR_ENTRIES`, :data:`MAX_NODE_ENTRIES`, measured by :func:`_cost`); :func:`free_indices` lists
the indices a claim leaves free. Plain IR walks: no SymPy here.
"""

from __future__ import annotations

from matcalc import ir
from matcalc.shapes import dim_symbols, eval_dim


# ───────────────────────────── sizes ─────────────────────────────


#: The nodes in :func:`matcalc.ir.walk`'s order, each node object once (every use below is a set, a maximum or an
#: order of first appearance, which the repeats cannot change).
_distinct_nodes = ir.distinct


def _dims_of(e: ir.Expr) -> list:
    out: list = []
    for node in _distinct_nodes(e):
        out.extend(node.shape)
        if isinstance(node, ir.Var):
            out.extend(node.dims)
        if isinstance(node, ir.Size):  # a size used as a number (sqrt(d)): it needs a value like any other
            out.append(node.dim)
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
    visited: set = set()  # node ids, shared by the expressions (kept alive by ``exprs``)
    for e in exprs:
        for node in _distinct_nodes(e, visited):
            r, c = eval_dim(node.shape[0], sizes), eval_dim(node.shape[1], sizes)
            if not _permutation_like(node):  # 0/1 constants (I, K(m, n) and their ⊗) cost no symbolic work
                largest = max(largest, r * c)
            if isinstance(node, ir.Var) and node.name not in seen:
                seen.add(node.name)
                var_entries += r * c
    return var_entries, largest


def _permutation_like(node: ir.Expr) -> bool:
    if isinstance(node, (ir.Identity, ir.Commutation)):
        return True
    return isinstance(node, ir.Kron) and _permutation_like(node.a) and _permutation_like(node.b)


def _least_sizes(exprs: list) -> dict[str, int]:
    """Lower bounds on single-symbol dimensions from integer indices (``x[3]`` with ``x: n`` needs n ≥ 3)."""
    least: dict[str, int] = {}
    for e in exprs:
        for node in _distinct_nodes(e):
            if not isinstance(node, ir.Entry):
                continue
            r, c = node.arg.shape
            dims = (r, c) if len(node.idx) == 2 else ((r,) if c == 1 else (c,))
            for d, ix in zip(dims, node.idx):
                if isinstance(ix, int) and isinstance(d, str) and len(dim_symbols(d)) == 1 and d == dim_symbols(d)[0]:
                    least[d] = max(least.get(d, 0), ix)
    return least


def _simple(d: object) -> bool:
    return isinstance(d, int) or (isinstance(d, str) and dim_symbols(d) == [d])


def _rank_needs(exprs: list) -> list[tuple]:
    """Pairs (big, small) of dimensions with big ≥ small needed for an inverted product to be invertible: in
    ``inv(Xᵀ X)`` with X N×d the rank is at most N, so N ≥ d (a tall X stays tall). Single symbols only."""
    needs: list[tuple] = []

    def unwrap(x: ir.Expr) -> ir.Expr:
        while isinstance(x, (ir.Transpose, ir.Named, ir.Neg, ir.Scale, ir.Div)):
            x = x.value if isinstance(x, ir.Named) else x.arg
        return x

    for e in exprs:
        for node in ir.walk(e):
            if isinstance(node, (ir.Inverse, ir.LogDet)):
                arg = node.arg
            elif isinstance(node, ir.Power) and node.exp < 0 and not node.base.is_scalar:
                arg = node.base
            else:
                continue
            n = arg.shape[0]
            inner = unwrap(arg)
            if not isinstance(inner, ir.MatMul) or not _simple(n):
                continue
            for f in inner.args:
                for d in f.shape:
                    if d != n and _simple(d) and (d, n) not in needs:
                        needs.append((d, n))
    return needs


def _meet_rank_needs(sz: dict, needs: list[tuple], fixed: dict) -> dict:
    """``sz`` with each symbol that must be at least another one raised above it (tall stays tall)."""
    out = dict(sz)
    for _ in range(3):
        for big, small in needs:
            b = out.get(big, big) if isinstance(big, str) else big
            s = out.get(small, small) if isinstance(small, str) else small
            if isinstance(b, int) and isinstance(s, int) and b < s and isinstance(big, str) and big not in fixed:
                out[big] = s + 1
    return out


def _meets(sz: dict, needs: list[tuple]) -> bool:
    val = lambda d: sz.get(d) if isinstance(d, str) else d  # noqa: E731
    return all(val(b) is None or val(s) is None or val(b) >= val(s) for b, s in needs)


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
    needs = _rank_needs(exprs)
    repaired: list[bool] = []

    def build(values: list[int]) -> dict[str, int]:
        out = dict(fixed)
        out.update(zip(names, values))
        for sym, lo in least.items():  # ``x[3]`` needs n ≥ 3
            if sym in out and sym not in fixed and out[sym] < lo:
                out[sym] = lo
        if _meets(out, needs):
            return out
        repaired.append(True)
        return _meet_rank_needs(out, needs, fixed)

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
        repaired.clear()
        cands = [build(first)]
        first_repaired = bool(repaired)
        if second != first:
            repaired.clear()
            second_sz = build(second)
            # a second assignment that a rank need had to enlarge costs much more (inverting a 3×3 of sums where the
            # first inverts a 2×2): kept only when the first was enlarged too
            if not repaired or first_repaired:
                cands.append(second_sz)
        ok: list[dict] = []
        for cand in cands:
            if fits(cand) and cand not in ok:
                ok.append(cand)
        if ok:
            return ok
    # over budget even at 2/3: the cheapest distinct-ish assignment, then all 2
    cheap = build([2 + (i % 2) for i in range(k)])
    return [cheap] if fits(cheap) else [_commutations_differ(build([2] * k), exprs, fixed)]


#: Larger assignments try at most this many variable entries (the exact method's budget is for sizes 2-4; a claim it
#: alone verifies is checked once more at sizes from 4 up, where the cost allows).
MAX_LARGER_ENTRIES = 4 * MAX_VAR_ENTRIES


def larger_sizes(exprs, tried: list[dict]) -> dict[str, int] | None:
    """One more assignment, every dimension symbol above the sizes ``tried`` (4, 5, 6, … in order of first
    appearance, distinct), for a claim the exact method would verify on its own: sizes 2 and 3 do not show a claim
    false from 4 on (a trace polynomial that vanishes below 4 by Cayley–Hamilton, a factor (n − 2)(n − 3) of a size
    used as a number). None where there is no symbol (declared sizes: a proof there) or the assignment costs more than
    :data:`MAX_LARGER_ENTRIES` variable entries."""
    if isinstance(exprs, ir.Expr):
        exprs = [exprs]
    exprs = list(exprs)
    names: list[str] = []
    for sz in tried:
        for k in sz:
            if k not in names:
                names.append(k)
    if not names:
        return None
    base = max((v for sz in tried for v in sz.values()), default=3)
    out = {k: max(base + 1, 4) + i for i, k in enumerate(names)}
    least = _least_sizes(exprs)
    for sym, lo in least.items():
        if sym in out and out[sym] < lo:
            out[sym] = lo
    out = _meet_rank_needs(out, _rank_needs(exprs), {})
    v, largest = _cost(exprs, out)
    return out if v <= MAX_LARGER_ENTRIES and largest <= 4 * MAX_NODE_ENTRIES else None


def _commutations_differ(sz: dict, exprs: list, fixed: dict) -> dict:
    """``sz`` with the two sizes of every ``K(m, n)`` made different: K(2, 2) is symmetric, so at equal sizes
    K(m, n) and K(n, m) (a transposed Kronecker order) could not be told apart."""
    out = dict(sz)
    for e in exprs:
        for node in ir.walk(e):
            if isinstance(node, ir.Commutation) and node.m != node.n and _simple(node.m) and _simple(node.n):
                m = out.get(node.m, node.m) if isinstance(node.m, str) else node.m
                n = out.get(node.n, node.n) if isinstance(node.n, str) else node.n
                if m == n:
                    for sym in (node.n, node.m):
                        if isinstance(sym, str) and sym not in fixed:
                            out[sym] = m + 1
                            break
    return out


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

"""The small concrete sizes and the free indices of a claim, for the exact method.

Contract: :func:`choose_sizes` gives small distinct sizes to the dimension symbols of a claim, within an entry
budget (:data:`MAX_VAR_ENTRIES`, :data:`MAX_NODE_ENTRIES`, measured by :func:`_cost`); :func:`free_indices` lists
the indices a claim leaves free. Plain IR walks: no SymPy here.
"""

from __future__ import annotations

from matcalc import ir
from matcalc.shapes import dim_symbols, eval_dim


# ───────────────────────────── sizes ─────────────────────────────


def _distinct_nodes(e: ir.Expr, seen: set | None = None):
    """The nodes of ``e`` in :func:`matcalc.ir.walk`'s order, each node object once: a subtree met again (a shared
    ``let`` value, the same subexpression in both sides) is skipped. Every use below is a set, a maximum or an
    order of first appearance, which the repeats cannot change; on a theorem's DAG this saves most of the walk."""
    seen = set() if seen is None else seen
    stack = [e]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(reversed(ir.children(node)))


def _dims_of(e: ir.Expr) -> list:
    out: list = []
    for node in _distinct_nodes(e):
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
    visited: set = set()  # node ids, shared by the expressions (kept alive by ``exprs``)
    for e in exprs:
        for node in _distinct_nodes(e, visited):
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
        for node in _distinct_nodes(e):
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

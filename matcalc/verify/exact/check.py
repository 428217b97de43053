"""The exact method's entry point: :func:`check_equal` and its result.

Contract: :func:`check_equal` judges ``lhs = rhs`` at the sizes of :func:`choose_sizes`, in stages over all the
entries (SymPy's own reduction, the cheap zero test, exact points, the full zero test, more points), and returns an
:class:`ExactResult`: ``"equal"``, ``"different"`` with a counterexample built from the point that showed it
(:func:`_counterexample`), or ``"unknown"`` with the reason.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import sympy

from matcalc import ir
from matcalc.clock import now
from matcalc.errors import MatcalcError
from matcalc.verify.exact.env import ExactEnv, ExactError, OutOfBudget
from matcalc.verify.exact.diff import _free_syms
from matcalc.verify.exact.evaluation import _ev
from matcalc.verify.exact.functions import _drop_deltas
from matcalc.verify.exact.sizes import MAX_NODE_ENTRIES, MAX_VAR_ENTRIES, _cost, choose_sizes, free_indices
from matcalc.verify.exact.points import _FVals, _PointMaker, _PointValues, _differs, _show
from matcalc.verify.exact.zero import _cheap_zeros, _symbolic_zero


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
    """``at (m, n) = (2, 3) and (3, 2)``: the size names in alphabetical order (lower case first), so that every line
    of a document names its sizes in the same order, whatever order an expression met them in."""
    if not sizes_list or not any(sizes_list):
        return "at the declared sizes"
    names = sorted(sizes_list[0], key=lambda k: (str(k).lower(), str(k)))
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
                max_assignments: int = 2, shared: dict | None = None) -> ExactResult:
    """Judge ``lhs = rhs`` entry by entry with SymPy at small distinct sizes.

    Args:
        lhs, rhs: the two sides (IR; same shape, or transposed shapes, which are judged ``"different"``).
        free: free indices (``ir.Index`` or names); the indices of the claim that no index sum binds are found
            automatically. Every value of them at the chosen sizes is checked.
        budget_s: wall-clock budget; when it runs out the result is ``"unknown"`` (or ``"equal"`` at the sizes
            completed so far, if at least one completed and none disagreed).
        seed: seed for the random points.
        symmetric: the convention for derivatives by a symmetric variable (see the package docstring).
        sizes: size assignments to use instead of :func:`choose_sizes`.
        max_assignments: how many size assignments to try at most (the second only while under 60 % of the
            budget); 1 halves the cost for batch runs such as ``prove all``.
        shared: a dict owned by the caller (one per document) in which the environments of the checks are kept by
            sizes and convention: the claims of one document at the same sizes then share the variables' symbol
            matrices and the evaluations of the same subexpressions (the same ``let`` definition, the same
            derivative claimed on several lines is expanded once). The verdict does not depend on it: every claim
            is still judged on all its own entries, and its random points cover the symbols of its own entries only.

    Raises:
        ExactError: on shapes that differ other than by transposition, or an expression that cannot be evaluated.
    """
    t0 = time.perf_counter()
    lhs, rhs = ir.nest_hessians(lhs), ir.nest_hessians(rhs)  # hessian(f, X) = jacobian(grad(f, X), X)
    try:
        return _check_equal(lhs, rhs, free=free, budget_s=budget_s, seed=seed, symmetric=symmetric, sizes=sizes,
                            max_assignments=max_assignments, shared=shared)
    except RecursionError:
        return ExactResult("unknown", [], None, "the exact method: expression too deep", "expression too deep",
                           time.perf_counter() - t0)


def _check_equal(lhs: ir.Expr, rhs: ir.Expr, *, free: tuple, budget_s: float, seed: int,
                 symmetric: str, sizes: list[dict] | None, max_assignments: int,
                 shared: dict | None = None) -> ExactResult:
    """The body of :func:`check_equal`."""
    t0 = time.perf_counter()
    c0 = now()  # the budget is CPU seconds (matcalc.clock); the reported duration is wall-clock
    deadline = c0 + budget_s
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
        if n_assign > 0 and now() > c0 + budget_s * 0.6:
            break  # a second assignment only when cheap
        tried.append(dict(sz))
        env = _environment(sz, symmetric, deadline, shared)
        try:
            status, why = _check_at(lhs, rhs, free_ix, env, seed + 7919 * n_assign, shared is not None)
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
    tied = _always_tied(done, _number_dims(lhs, rhs)) if sizes is None else []
    if done and tied and (not unknown_reason or unknown_reason.startswith("time budget")):
        a, b = tied[0]
        why = (f"only equal sizes {a} = {b} fit the budget {_fmt_sizes(done)}: a claim true only when {a} = {b} would "
               "pass there")
        return ExactResult("unknown", tried, None, f"entry by entry with SymPy {_fmt_sizes(done)}: {why}", why, el)
    if done and not unknown_reason:
        return ExactResult("equal", tried, None, f"entry by entry with SymPy {_fmt_sizes(done)}", "", el)
    if done and unknown_reason.startswith("time budget"):
        return ExactResult("equal", done, None,
                           f"entry by entry with SymPy {_fmt_sizes(done)} (larger sizes not tried: budget)", "", el)
    return ExactResult("unknown", tried, None, f"entry by entry with SymPy {_fmt_sizes(tried)}: {unknown_reason}",
                       unknown_reason, el)


def _environment(sz: dict, symmetric: str, deadline: float, shared: dict | None) -> ExactEnv:
    """A fresh environment, or the document's one for these sizes and convention (see ``shared`` in
    :func:`check_equal`), with this check's deadline and no index bound."""
    if shared is None:
        return ExactEnv(sizes=dict(sz), symmetric=symmetric, deadline=deadline)
    key = (tuple(sorted(sz.items())), symmetric)
    env = shared.get(key)
    if env is None:
        env = shared[key] = ExactEnv(sizes=dict(sz), symmetric=symmetric, deadline=deadline)
    env.deadline = deadline
    env.indices = {}
    return env


def _number_dims(*exprs: ir.Expr) -> set[str]:
    """The dimension symbols written as numbers (``ir.Size``: ``1/N``, ``sqrt(d)``) in ``exprs``."""
    from matcalc.shapes import dim_symbols

    return {s for e in exprs for x in ir.walk(e) if isinstance(x, ir.Size) for s in dim_symbols(x.dim)}


def _always_tied(done: list[dict], numbers: set[str]) -> list[tuple[str, str]]:
    """The pairs of dimension symbols, one of them used as a number, equal in every assignment of ``done``
    (``[("n", "N")]`` when both were always 2): "equal" there does not rule out a claim true only at equal sizes
    (``sum(ones(n)) = N``), so it is not reported as equal. Symbols that only size shapes cannot be confused once the
    claim is typed at generic sizes (``K(m, n)``, the other way, gets different sizes from :func:`choose_sizes`)."""
    if not done or not numbers:
        return []
    names = [k for k in done[0] if all(k in d for d in done)]
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
            if (a in numbers or b in numbers) and all(d[a] == d[b] for d in done)]


def _check_at(lhs: ir.Expr, rhs: ir.Expr, free_ix: list[ir.Index], env: ExactEnv, seed: int,
              shared: bool = False) -> tuple[str, str]:
    """Check at the sizes in ``env``: ``("equal", "")``, ``("unknown", why)``, or raise :class:`_Different`."""
    pending: list[tuple[dict, tuple[int, int], sympy.Expr, sympy.Expr]] = []
    for ixs in _index_assignments(free_ix, env):
        env.indices = dict(ixs)
        L = _ev(lhs, env)
        R = _ev(rhs, env)
        for i in range(L.rows):
            for j in range(L.cols):
                pending.append((dict(ixs), (i, j), _drop_deltas(L[i, j], env._deltas), _drop_deltas(R[i, j], env._deltas)))
    own: set | None = None  # a shared environment holds other claims' symbols too: only this claim's entries'
    if shared:
        own = set()
        for item in pending:
            own |= _free_syms(item[2], env) | _free_syms(item[3], env)
    maker = _PointMaker(env, seed, own)
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
    for ixs, pos, lv, rv in diffs:  # every entry that differs: the renderers shorten the list, JSON keeps it
        ent = {"entry": (pos[0] + 1, pos[1] + 1), "lhs": _show(lv), "rhs": _show(rv)}
        if ixs:
            ent["indices"] = dict(ixs)
        entries.append(ent)
    return {"sizes": dict(env.sizes), "indices": dict(diffs[0][0]), "point": point, "functions": functions,
            "entries": entries, "note": f"{len(diffs)} entr{'y differs' if len(diffs) == 1 else 'ies differ'}"}

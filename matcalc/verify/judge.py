"""Judging one claim: three independent methods, one verdict, a counterexample and a diagnosis.

Contract: :func:`judge` takes two typed sides of an equality and returns a :class:`~matcalc.results.ClaimResult`
whose verdict :func:`combine` reads off the three methods' findings as SPEC section 5 says; ``error`` for sides of
different shapes. The three methods are called here and nowhere else (each under the hard time guard of
:mod:`matcalc.verify.guard`); the exact and numeric methods never see the engine's output (the engine is only used
for the symbolic method and, after a verdict is reached, to name the correct result in a diagnosis).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.results import ClaimResult, MethodResult
from matcalc.shapes import fmt_shape
from matcalc.verify.guard import HardTimeout, guarded, hard_deadline


def run_symbolic(lhs: ir.Expr, rhs: ir.Expr) -> MethodResult:
    try:
        from matcalc.verify.symbolic import equivalent
    except ImportError as exc:  # pragma: no cover - the engine is part of the package
        return MethodResult("unknown", f"normal form unavailable: {exc}")
    try:
        memo = _NF_SHARED
        if equivalent(lhs, rhs) if memo is None else equivalent(lhs, rhs, memo):
            return MethodResult("equal", "same normal form at generic sizes")
        return MethodResult("unknown", "normal forms differ (not a proof of inequality)")
    except MatcalcError as exc:
        return MethodResult("unknown", f"no normal form: {exc.message}")
    except RecursionError:
        return MethodResult("unknown", "no normal form: expression too deep")


def _run_method(call) -> tuple[object | None, MethodResult | None]:
    """Run one checking method; its failure (a user-level limit, memory, a bug) is ``unknown``, never a verdict."""
    try:
        return call(), None
    except MatcalcError as exc:
        return None, MethodResult("unknown", exc.message)
    except MemoryError:
        return None, MethodResult("unknown", "out of memory: the sizes are too large for this method")
    except Exception as exc:  # noqa: BLE001 - a method's failure is "unknown", never a verdict and never a crash
        return None, MethodResult("unknown", f"the method failed: {type(exc).__name__}: {exc}")


#: The exact method's environments shared by the claims of the document being judged (``shared`` of
#: :func:`matcalc.verify.exact.check_equal`), and the normal forms computed for them (``memo`` of
#: :func:`matcalc.verify.symbolic.equivalent`); None outside :func:`document_scope`.
_EXACT_SHARED: dict | None = None
_NF_SHARED: dict | None = None


@contextmanager
def document_scope() -> Iterator[None]:
    """Judge the claims of one document inside: the exact method expands a subexpression the claims share (a ``let``
    definition, the same derivative on several lines) once per size assignment, and the symbolic method takes the
    normal form of a line once; on leaving, all of it is dropped."""
    global _EXACT_SHARED, _NF_SHARED
    saved = _EXACT_SHARED, _NF_SHARED
    _EXACT_SHARED, _NF_SHARED = {}, {}
    try:
        yield
    finally:
        _EXACT_SHARED, _NF_SHARED = saved


def run_exact(lhs: ir.Expr, rhs: ir.Expr, free: tuple, budget_s: float, seed: int,
              max_assignments: int = 2, sizes: list | None = None) -> tuple[MethodResult, dict | None]:
    from matcalc.verify import exact

    shared = _EXACT_SHARED
    res, failed = _run_method(lambda: exact.check_equal(lhs, rhs, free=free, budget_s=budget_s, seed=seed,
                                                        shared=shared, max_assignments=max_assignments,
                                                        sizes=sizes))
    if failed is not None:
        return failed, None
    return MethodResult(res.status, res.detail), getattr(res, "counterexample", None)


def _import_exact() -> None:
    try:
        from matcalc.verify import exact  # noqa: F401
    except ImportError:  # pragma: no cover - reported by run_exact as the method's failure
        pass


def run_numeric(lhs: ir.Expr, rhs: ir.Expr, free: tuple, budget_s: float,
                seed: int) -> tuple[MethodResult, dict | None]:
    from matcalc.verify import numeric

    res, failed = _run_method(lambda: numeric.check_equal(lhs, rhs, free=free, seed=seed, budget_s=budget_s))
    if failed is not None:
        return failed, None
    status = res.status
    if status == "different" and not getattr(res, "confirmed", True):
        status = "unknown"
    loose = status == "equal" and getattr(res, "tolerance", 0.0) > LOOSE_NUMERIC
    return MethodResult(status, res.detail, loose), getattr(res, "counterexample", None)


#: A numeric ``equal`` within a relative tolerance above this (the sides lose 9 of float64's 16 digits)
#: counts as agreement, but not as evidence enough to spare the exact method its check at larger sizes.
LOOSE_NUMERIC = 1e-7


def exact_at_larger_sizes(lhs: ir.Expr, rhs: ir.Expr, free: tuple, budget_s: float, seed: int,
                          found: MethodResult) -> tuple[MethodResult, dict | None]:
    """The exact method's ``found`` equality, when it alone would verify the claim (neither the numeric method — or only
    within a loose tolerance — nor the normal form shows equality), checked once more at larger sizes (:func:`~matcalc.verify.exact.sizes.larger_sizes`:
    4, 5, … for the dimension symbols): sizes 2 and 3 do not show a claim false from 4 on (a trace polynomial that
    vanishes below 4, a factor (n − 2)(n − 3) of a size used as a number) when the numeric method, which visits such
    sizes, cannot run or cannot confirm what it sees. Equal there too: ``found`` with the sizes added; different: that
    finding and its counterexample; neither (too large, out of time): ``unknown``, so the claim is not verified."""
    from matcalc.verify import exact
    from matcalc.verify.exact.sizes import larger_sizes

    tried = exact.choose_sizes([lhs, rhs])
    if not any(tried):
        return found, None  # declared sizes only: the method's equality is a proof there
    big = larger_sizes([lhs, rhs], tried)
    if big is None:
        return MethodResult("unknown", f"{found.detail}; not checked at larger sizes (beyond the method's limit), and no "
                                       "other method shows equality: sizes 2 and 3 alone do not verify a claim"), None
    res, cx = guarded(lambda: run_exact(lhs, rhs, free, budget_s, seed, max_assignments=1, sizes=[big]), budget_s,
                      "exact")
    shown = ", ".join(f"{k} = {v}" for k, v in big.items())
    if res.status == "equal":
        return MethodResult("equal", f"{found.detail}, and at {shown} (no other method decides: a larger size too)"), None
    if res.status == "different":
        return res, cx
    return MethodResult("unknown", f"{found.detail}, but not shown at {shown} ({res.detail}); no other method shows "
                                   "equality: sizes 2 and 3 alone do not verify a claim"), None


#: The methods that share no code with the rule engine (SPEC section 5): only they can verify or refute.
INDEPENDENT = ("exact", "numeric")


def combine(methods: dict[str, MethodResult]) -> str:
    """SPEC section 5's verdict from the methods' findings (``tests/test_verdict.py`` holds it as a table).

    ``verified``: the exact or the numeric method shows equality and no method shows a difference — the symbolic
    method alone never verifies, since for a derivative it is the rule engine checking itself; and the numeric
    method's equality (float64 within a tolerance, at a few points) verifies only together with the exact method or
    the normal form, since a tiny constant difference hides inside its tolerance. ``refuted``: the exact
    or the numeric method (whose differences are confirmed before they get here) shows a difference and no method
    shows equality — the symbolic method's ``different`` alone never refutes. ``inconclusive`` otherwise.
    """
    statuses = {k: m.status for k, m in methods.items()}
    independent = [s for k, s in statuses.items() if k in INDEPENDENT]
    if "equal" in statuses.values() and "different" in statuses.values():
        return "inconclusive"  # the methods disagree: never a guess
    if "different" in independent:
        return "refuted"
    if statuses.get("exact") == "equal" or (statuses.get("numeric") == "equal" and statuses.get("symbolic") == "equal"):
        return "verified"
    return "inconclusive"


#: The exact method's share of the budget when the normal forms and the numeric method already agree (a claim they
#: verify): enough for its cheap stages (a random exact point shows most differences), not for a long proof; and one
#: size assignment, not two (the numeric method has compared the sides at three other assignments of distinct sizes).
QUICK_EXACT = 0.05
#: The exact method's share when the numeric method has confirmed a difference (the verdict is decided): a short
#: run, enough for an exact counterexample (small integers a student can check by hand, shown in preference to the
#: numeric one) where SymPy finds it quickly; where it cannot (A^64, inv(A^64), det(A^20)) the numeric one is shown.
REFUTED_EXACT = 0.1

#: How the exact method says a matrix under an inverse is singular for every value of its (symbolic) entries.
EXACT_SINGULAR = "the inverse of a singular matrix"
#: How the numeric method says it found no point where the claim could be evaluated.
NUMERIC_NO_POINT = "no usable point"
#: How the numeric method says that no point it tried lies in the domain of the sides.
NUMERIC_OUTSIDE = "outside the domain of the sides"


#: Every distinct node of an expression once (by identity): linear in a DAG — a residual network's ``let`` s written
#: out as a tree double with every layer.
distinct_nodes = ir.distinct


def _has_inverse(e: ir.Expr) -> bool:
    return any(isinstance(n, ir.Inverse) or (isinstance(n, ir.Power) and n.exp < 0) for n in distinct_nodes(e))


def _undefined_side(lhs: ir.Expr, rhs: ir.Expr, methods: dict[str, MethodResult], free: tuple, budget_s: float,
                    seed: int) -> str | None:
    """Why a side of the claim is undefined at every point, when the exact method found a matrix under an inverse
    singular whatever its entries (SymPy works with symbolic entries); ``None`` otherwise."""
    exact = methods.get("exact")
    if exact is None or EXACT_SINGULAR not in exact.detail:
        return None
    sides = [(name, e) for name, e in (("left", lhs), ("right", rhs)) if _has_inverse(e)]
    if len(sides) > 1:  # which one: the exact method on each side alone
        sides = [(name, e) for name, e in sides
                 if EXACT_SINGULAR in guarded(lambda e=e: run_exact(e, e, free, budget_s, seed), budget_s,
                                              "exact")[0].detail] or sides
    from matcalc.printing import to_text

    which = " and ".join(f"the {name} side, {to_text(e)}," for name, e in sides) if sides else "a side"
    verb = "are" if len(sides) > 1 else "is"
    why = (f"{which} {verb} undefined at every point: the exact method finds a matrix under an inverse singular "
           f"whatever the values of its entries ({exact.detail})")
    numeric = methods.get("numeric")
    if numeric is not None and numeric.detail.startswith(NUMERIC_NO_POINT):
        why += f", and the numeric method finds {numeric.detail}"
    return why


def _restricted_domain(*sides: ir.Expr) -> bool:
    """Whether a side takes a root, a log or a fractional power (where the exact method's algebra over ℂ can leave
    the real domain of the claim)."""
    for side in sides:
        for n in ir.distinct(side):
            if isinstance(n, ir.Apply) and n.fn in ("log", "sqrt") and not n.declared:
                return True
            if isinstance(n, (ir.Power, ir.EPower)) and n.exp.denominator != 1:
                return True
            if isinstance(n, ir.LogDet):
                return True
    return False


def explain_inconclusive(methods: dict[str, MethodResult], undefined: str | None = None,
                         domains: bool = True) -> str | None:
    """The sentence that says why a claim the symbolic method alone could decide is not verified (SPEC section 5);
    ``domains``: whether the claim takes a root, log or fractional power (only then is the exact method's expansion
    said to be possibly outside its domain)."""
    symbolic = methods.get("symbolic")
    exact, numeric = methods.get("exact"), methods.get("numeric")
    same = [k for k, m in methods.items() if m.status == "equal"]
    differ = [k for k, m in methods.items() if m.status == "different"]
    if undefined is None and same and differ:
        why = ""
        if differ == ["exact"] and same == ["numeric"]:
            why = ": a difference below the numeric method's float64 tolerance is invisible to it" + (
                ", and the exact method's expansion may leave the claim's domain (a root or log of a negative number)"
                if domains else "")
        return (f"the methods disagree — the {' and '.join(same)} method{'s' if len(same) > 1 else ''} "
                f"find{'' if len(same) > 1 else 's'} the sides equal, the {' and '.join(differ)} "
                f"method{'s' if len(differ) > 1 else ''} find{'' if len(differ) > 1 else 's'} them different{why}; "
                "a disagreement is never settled by a guess")
    if (undefined is None and numeric is not None and numeric.status == "equal" and exact is not None
            and exact.status not in ("equal", "different") and (symbolic is None or symbolic.status != "different")):
        return (f"only the numeric method could decide (exact: {exact.detail or exact.status}): agreement in float64 "
                f"within a tolerance is evidence, not a proof, so it verifies only together with the exact method "
                f"or the normal form")
    others = [(k, methods[k]) for k in INDEPENDENT if k in methods]
    if symbolic is None or symbolic.status not in ("equal", "different") or any(
            m.status in ("equal", "different") for _, m in others):
        return undefined
    verb = "verifies" if symbolic.status == "equal" else "refutes"
    alone = (f"the symbolic method alone never {verb} a claim, since for a derivative it is the rule engine checking "
             f"itself")
    if undefined is not None:
        return f"{undefined}; only the symbolic method finds the sides {symbolic.status}, and {alone}"
    reasons = "; ".join(f"{k}: {m.detail or m.status}" for k, m in others) or "no other method ran"
    return f"only the symbolic method could decide ({reasons}): {alone}"


def transposed_shapes(a: ir.Expr, b: ir.Expr) -> bool:
    """Whether the sides have transposed (and different) shapes: 1×n against n×1, m×n against n×m."""
    (p, q), (r, s) = a.shape, b.shape
    return (p, q) != (r, s) and (p, q) == (s, r)


#: the derivatives inside each ``let`` definition met so far (id → (node, derivatives)): a document's claims share
#: its definitions, so each is searched once, not once per claim
_DERIVS_IN_LET: dict[int, tuple[ir.Expr, tuple]] = {}


def _derivatives(e: ir.Expr) -> tuple:
    """The derivative nodes of ``e``; a ``let`` definition is searched once per process (memo by identity;
    iterative, so a 256-layer network's nested definitions need no deep recursion)."""
    local: dict[int, tuple] = {}
    stack: list[tuple[ir.Expr, bool]] = [(e, False)]
    while stack:
        x, done = stack.pop()
        k = id(x)
        if k in local and not done:
            continue
        if isinstance(x, ir.Named):
            got = _DERIVS_IN_LET.get(id(x.value))
            if got is not None and got[0] is x.value:
                local[k] = got[1]
                continue
        kids = ir.children(x)
        if not done and kids:
            stack.append((x, True))
            stack.extend((c, False) for c in reversed(kids) if id(c) not in local)
            continue
        found: dict[int, ir.Expr] = {}  # by identity: a structural hash of a deep node recurses through it
        if isinstance(x, ir.Derivative):
            found[k] = x
        for c in kids:
            found.update((id(d), d) for d in local[id(c)])
        local[k] = tuple(found.values())
        if isinstance(x, ir.Named):
            if len(_DERIVS_IN_LET) > 50000:
                _DERIVS_IN_LET.clear()
            _DERIVS_IN_LET[id(x.value)] = (x.value, local[k])
    return local[id(e)]


def conventions(*sides: ir.Expr) -> list[str]:
    """The conventions a claim's derivatives rely on, to be said in the output (SPEC section 2)."""
    notes: list[str] = []
    for side in sides:
        for n in _derivatives(side):
            if isinstance(n, ir.Derivative) and isinstance(n.wrt, ir.Var) and n.wrt.props & {"symmetric", "spd"}:
                msg = (f"{n.wrt.name} is symmetric: a derivative by {n.wrt.name} is taken along symmetric directions, "
                       f"the symmetric part (G + Gᵀ)/2 of the unconstrained gradient G")
                if msg not in notes:
                    notes.append(msg)
            if (isinstance(n, ir.Derivative) and isinstance(n.wrt, ir.Var) and "diagonal" in n.wrt.props
                    and not n.wrt.props & {"symmetric", "spd"}):
                msg = (f"{n.wrt.name} is diagonal: a derivative by {n.wrt.name} is taken entry by entry as if every "
                       f"entry were free (the unconstrained gradient G), not restricted to diagonal directions "
                       f"(I ⊙ G)")
                if msg not in notes:
                    notes.append(msg)
    return notes


def judge(
    lhs: ir.Expr,
    rhs: ir.Expr,
    *,
    line: int = 1,
    text: str = "",
    free: tuple = (),
    kind: str = "claim",
    seed: int = 0,
    budget_s: float = 8.0,
    diagnose: bool = True,
    known: dict[str, MethodResult] | None = None,
    exact_budget_s: float | None = None,
) -> ClaimResult:
    """Judge ``lhs = rhs`` by the three methods; diagnose a refutation.

    ``known``: findings of methods already run on this claim together with others of its document (the joint
    numeric check and the program match of :mod:`matcalc.verify.document_methods`, or an exact method left out
    by the document's budget); those methods are not run again, and :func:`combine` reads the verdict as always.
    ``exact_budget_s``: a smaller time budget for the exact method (the rest of a document's budget for it).
    """
    known = known or {}
    exact_s = budget_s * 0.6 if exact_budget_s is None else min(budget_s * 0.6, exact_budget_s)
    t0 = time.perf_counter()
    result = ClaimResult(line=line, text=text, verdict="inconclusive", kind=kind, lhs=lhs, rhs=rhs)
    result.notes = conventions(lhs, rhs)
    if lhs.shape != rhs.shape and not transposed_shapes(lhs, rhs):
        result.verdict = "error"
        result.error = (
            f"the sides have different shapes: {lhs} is {fmt_shape(lhs.shape)}, {rhs} is {fmt_shape(rhs.shape)}"
        )
        return result
    if transposed_shapes(lhs, rhs):
        # Transposed shapes can never be equal at generic sizes; the exact method supplies the evidence at concrete
        # sizes, and the diagnosis says in which layout (or for which transpose) the claim would hold.
        result.methods["symbolic"] = MethodResult(
            "different", f"the sides have transposed shapes: {fmt_shape(lhs.shape)} and {fmt_shape(rhs.shape)}"
        )
        exact_res, exact_cx = guarded(lambda: run_exact(lhs, rhs, free, budget_s * 0.6, seed), budget_s * 0.6,
                                      "exact")
        result.methods["exact"] = exact_res
        result.verdict = combine(result.methods)
        result.counterexample = exact_cx or {
            "note": f"the left side is {fmt_shape(lhs.shape)}, the right side {fmt_shape(rhs.shape)}",
        }
    else:
        result.methods["symbolic"] = known.get("symbolic") or guarded(
            lambda: (run_symbolic(lhs, rhs), None), budget_s * 0.25, "symbolic")[0]
        num_res, num_cx = (known["numeric"], None) if "numeric" in known else guarded(
            lambda: run_numeric(lhs, rhs, free, budget_s * 0.4, seed), budget_s * 0.4, "numeric")
        # When the numeric method has already decided with the normal forms (equal and equal: verified) the exact
        # method gets a short run only: its cheap stages (a random exact point) still find a disagreement, which
        # makes the verdict inconclusive; its costly proof of equality would add nothing. Otherwise (a
        # refutation too: its counterexample is the one shown) the full share.
        quick = num_res.status == "equal" and result.methods["symbolic"].status == "equal"
        share = QUICK_EXACT if quick else REFUTED_EXACT if num_res.status == "different" else 0.6
        exact_budget = min(exact_s, budget_s * share)
        if "exact" in known:
            exact_res, exact_cx = known["exact"], None
        else:
            _import_exact()  # outside the time guard: importing SymPy is not the method's time, and an import cut
            # off half-way would leave SymPy broken for the rest of the process
            exact_res, exact_cx = guarded(lambda: run_exact(lhs, rhs, free, exact_budget, seed,
                                                            max_assignments=1 if quick else 2),
                                          exact_budget, "exact", *((0.1,) if quick else ()))
            if quick and exact_res.status == "unknown" and ("time budget" in exact_res.detail
                                                            or "interrupted" in exact_res.detail):
                exact_res = MethodResult("unknown", "not needed: the normal form and the numeric method agree, and a "
                                                    "short run found no difference before it stopped: "
                                                    f"{exact_res.detail}")
        if (exact_res.status == "equal" and (num_res.status != "equal" or num_res.loose) and "exact" not in known
                and result.methods["symbolic"].status != "equal"):
            exact_res, larger_cx = exact_at_larger_sizes(lhs, rhs, free, min(exact_s, budget_s * 0.4), seed, exact_res)
            exact_cx = larger_cx or exact_cx
        result.methods["exact"] = exact_res
        result.methods["numeric"] = num_res
        result.verdict = combine(result.methods)
        if result.verdict == "refuted":
            result.counterexample = exact_cx if exact_res.status == "different" and exact_cx else num_cx
    numeric = result.methods.get("numeric")
    if result.verdict == "verified" and numeric is not None and NUMERIC_OUTSIDE in numeric.detail:
        result.verdict = "inconclusive"  # SPEC section 5: a side undefined at every point is never verified
    if result.verdict == "inconclusive":
        undefined = _undefined_side(lhs, rhs, result.methods, free, budget_s * 0.2, seed)
        if undefined is None and numeric is not None and NUMERIC_OUTSIDE in numeric.detail:
            undefined = (f"a side may be undefined at every real point: the numeric method finds {numeric.detail}; "
                         "the exact method's algebra does not see where a log or a root is defined, so its finding "
                         "does not verify the claim")
        result.diagnosis = explain_inconclusive(result.methods, undefined, _restricted_domain(lhs, rhs))
    if result.verdict == "refuted" and diagnose:
        from matcalc.verify.diagnose import diagnose as _diagnose

        known: list = []  # the diagnosis as far as it got (the correct result) when the deadline stops it
        try:
            with hard_deadline(budget_s * 0.5):
                result.diagnosis = _diagnose(lhs, rhs, free=free, seed=seed, sink=known)
        except (Exception, HardTimeout):  # noqa: BLE001 - a diagnosis explains a verdict; its failure changes nothing
            result.diagnosis = known[-1] if known else None
    result.seconds = time.perf_counter() - t0
    return result

"""Methods run once per document for the claims that differentiate one function (a network's gradients).

Contract: :class:`DocumentMethods` groups a document's claims ``d/dX E = R`` (``X`` a variable, ``E`` scalar and the
same for the group, ``R`` shaped like ``X``, no free index) and, for each group of two or more, runs the numeric
method on all of them at once (:func:`matcalc.verify.numeric.joint.check_jointly`) and the symbolic method as a
program match (:func:`matcalc.verify.program_match.match_program`); :meth:`DocumentMethods.known` gives a claim the
findings that say ``equal`` (the others are left to :func:`matcalc.verify.judge.judge`, which runs the method on
the claim alone, as for any claim). Only ``equal`` findings are handed on: a difference is always found and
confirmed by the per-claim methods. The exact method has a budget per group: once it could not decide one claim
of a group (out of time, or sizes beyond it), it is not run again on the claims the other two methods already show
equal (their verdict is ``verified`` either way unless the exact method disagreed, which it could not show on their
sibling), nor after two such failures on any claim of the group; and on the claims the other two methods settled it
spends at most :data:`GROUP_EXACT_S` seconds in all. So a 256-layer network costs one or two exact time-outs, not
512.
"""

from __future__ import annotations

import time

from matcalc import ir
from matcalc.document import Claim
from matcalc.results import MethodResult

#: Exact time-outs in a group after which the exact method is no longer run on any of its claims.
MAX_EXACT_TIMEOUTS = 2
#: Seconds the exact method may spend on a group's claims that the other two methods already show equal.
GROUP_EXACT_S = 8.0


def _eligible(s: Claim) -> bool:
    d = s.lhs
    if not isinstance(d, ir.Derivative) or not isinstance(d.wrt, ir.Var) or s.free or s.rhs is None:
        return False
    if d.kind not in ("d", "grad") or (d.kind == "d" and d.layout == "numerator"):
        return False
    return d.expr.is_scalar and s.rhs.shape == d.wrt.shape == d.shape


def _key(e: ir.Expr) -> str:
    """The function ``e`` with each ``let`` name as an opaque name bound to its definition node: equal keys, same
    function (the definitions are shared nodes of the document; nothing is written out)."""
    memo: dict[int, ir.Expr] = {}
    for x, kids in ir.post_order(e, memo, leaf=lambda n: isinstance(n, ir.Named)):
        if isinstance(x, ir.Named):
            memo[id(x)] = ir.Var(f"{x.name}#{id(x.value)}", x.shape)
            continue
        nk = [memo[id(k)] for k in kids]
        memo[id(x)] = x if all(a is b for a, b in zip(nk, kids)) else ir.rebuild(x, nk)
    return repr(memo[id(e)])


def _has_let(e: ir.Expr) -> bool:
    return any(isinstance(n, ir.Named) for n in ir.distinct(e))


def _timed_out(m: MethodResult) -> bool:
    """The exact method could not decide (out of time, sizes beyond it): it will not do better on a claim about
    the same function."""
    return m.status == "unknown" and not m.detail.startswith("not run")


def _other(k: int) -> str:
    return "derivative" if k == 1 else f"{k} derivatives"


class _Group:
    def __init__(self, claims: list[Claim]) -> None:
        self.claims = claims
        self.timeouts: list[int] = []  # lines where the exact method could not decide (time, sizes)
        self.exact_s = 0.0  # seconds spent judging claims whose other methods were settled (the exact method's)


class DocumentMethods:
    """The findings of the per-document methods, by claim (module docstring)."""

    def __init__(self, claims: list[Claim], *, seed: int = 0, budget_s: float = 8.0) -> None:
        self.found: dict[int, dict[str, MethodResult]] = {}
        self.group_of: dict[int, _Group] = {}
        by_key: dict[str, list[Claim]] = {}
        for s in claims:
            if isinstance(s, Claim) and s.lhs is not None and _eligible(s):
                by_key.setdefault(_key(s.lhs.expr), []).append(s)
        for members in by_key.values():
            if len({s.lhs.wrt.name for s in members}) < 2 or not _has_let(members[0].lhs.expr):
                continue  # not a program: two claims about one derivative, or no let — each claim on its own
            group = _Group(members)
            for s in members:
                self.group_of[id(s)] = group
                self.found[id(s)] = {}
            self._run(members, seed, budget_s)

    def _run(self, members: list[Claim], seed: int, budget_s: float) -> None:
        from matcalc.printing import to_text
        from matcalc.verify.numeric.joint import check_jointly
        from matcalc.verify.program_match import match_program

        cost = members[0].lhs.expr
        pairs = [(s.lhs.wrt, s.rhs) for s in members]
        lines = f"lines {members[0].line}–{members[-1].line}"
        n = len(members)
        t0 = time.perf_counter()
        numeric = check_jointly(cost, pairs, seed=seed, budget_s=max(budget_s, 10.0 + 0.2 * n))
        t1 = time.perf_counter()
        symbolic = match_program(cost, pairs, budget_s=max(budget_s, 10.0 + 0.2 * n))
        t2 = time.perf_counter()
        what = to_text(cost) if len(to_text(cost)) <= 60 else "the same function"
        for s, num, sym in zip(members, numeric, symbolic):
            if num:
                self.found[id(s)]["numeric"] = MethodResult(
                    "equal", f"checked together with the other {_other(n - 1)} of {what} ({lines}) in "
                    f"{t1 - t0:.1f} s: complex steps through every parameter at once along random directions, "
                    f"each parameter's scaled by 1/‖claimed gradient‖, at 3 points")
            if sym:
                self.found[id(s)]["symbolic"] = MethodResult(
                    "equal", f"matches the rule engine's backpropagation program ({lines}, {t2 - t1:.1f} s): each δ "
                    f"of the document has the normal form of the engine's, and this gradient too")

    def known(self, s: Claim) -> tuple[dict[str, MethodResult], float | None]:
        """The findings to hand to :func:`~matcalc.verify.judge.judge` for ``s`` (and a budget for the exact
        method: ``None`` for the usual)."""
        found = self.found.get(id(s))
        if found is None:
            return {}, None
        known = dict(found)
        group = self.group_of[id(s)]
        settled = "numeric" in found and "symbolic" in found
        if group.timeouts and (settled or len(group.timeouts) >= MAX_EXACT_TIMEOUTS):
            lines = ", ".join(str(x) for x in group.timeouts)
            known["exact"] = MethodResult(
                "unknown", f"not run: it could not decide line {lines}, a derivative of the same function "
                f"(the document's budget for the exact method on this function is spent)")
        elif settled and group.exact_s >= GROUP_EXACT_S:
            known["exact"] = MethodResult(
                "unknown", f"not run: the document's budget for the exact method on this function "
                f"({GROUP_EXACT_S:g} s) is spent")
        elif settled:
            return known, GROUP_EXACT_S - group.exact_s + 0.5
        return known, None

    def judged(self, s: Claim, methods: dict[str, MethodResult], seconds: float) -> None:
        """Record how the exact method fared on ``s`` (its time-outs, and its time on a claim the other methods
        settled, spend the group's budget)."""
        group = self.group_of.get(id(s))
        found = self.found.get(id(s), {})
        if group is not None and "numeric" in found and "symbolic" in found:
            group.exact_s += seconds
        exact = methods.get("exact")
        if group is not None and exact is not None and _timed_out(exact):
            group.timeouts.append(s.line)

"""Judging claims: three independent methods, one verdict per claim or step, counterexamples and diagnoses.

Contract: :func:`judge` takes two typed sides of an equality and returns a :class:`ClaimResult` whose verdict follows
SPEC section 5 exactly: ``verified`` only when the symbolic or the exact method shows equality and no method
disagrees; ``refuted`` when the exact method or a *confirmed* numeric difference shows inequality and no method
shows equality; ``inconclusive`` otherwise (the methods disagree, none decides, the budget ran out); ``error`` for a
line that cannot be typed. :func:`check_document` judges every claim and step of a document, marking derivation
chains like a marked paper. The three methods are called here and nowhere else; this module combines them but the
exact and numeric methods never see the engine's output (the engine is only used for the symbolic method and, after
a verdict is reached, to name the correct result in a diagnosis).
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from matcalc import ir
from matcalc.document import Bare, Claim, Document, ErrorLine, Let, Statement, Step
from matcalc.errors import MatcalcError
from matcalc.shapes import fmt_shape

VERDICTS = ("verified", "refuted", "inconclusive", "error")


@dataclass
class MethodResult:
    """One method's finding: ``status`` is ``equal``, ``different``, ``unknown`` or ``error``."""

    status: str
    detail: str = ""

    def to_json(self) -> dict:
        return {"status": self.status, "detail": self.detail}


@dataclass
class ClaimResult:
    """The verdict on one claim ``lhs = rhs`` (or one step of a chain) with its evidence."""

    line: int
    text: str
    verdict: str
    kind: str = "claim"  # "claim", "step" or "error"
    lhs: ir.Expr | None = None
    rhs: ir.Expr | None = None
    methods: dict[str, MethodResult] = field(default_factory=dict)
    counterexample: dict | None = None
    diagnosis: str | None = None
    error: str | None = None
    against_line: int | None = None  # for a step: the line it was judged against
    notes: list[str] = field(default_factory=list)  # conventions in force (e.g. a symmetric argument)
    after_wrong: int | None = None  # a step that follows from a line that was wrong
    vs_start: str | None = None  # for a step: whether the chain still equals its start
    seconds: float = 0.0

    @property
    def symbol(self) -> str:
        return {"verified": "✓", "refuted": "✗", "inconclusive": "?", "error": "✗"}[self.verdict]

    def to_json(self) -> dict:
        return {
            "line": self.line,
            "text": self.text,
            "kind": self.kind,
            "verdict": self.verdict,
            "methods": {k: v.to_json() for k, v in self.methods.items()},
            "counterexample": self.counterexample,
            "diagnosis": self.diagnosis,
            "error": self.error,
            "notes": self.notes,
            "against_line": self.against_line,
            "after_wrong": self.after_wrong,
            "vs_start": self.vs_start,
        }


def overall(verdicts: list[str]) -> str:
    """The document's verdict: refuted if any claim is refuted or in error, else inconclusive if any is, else verified."""
    if any(v in ("refuted", "error") for v in verdicts):
        return "refuted"
    if any(v == "inconclusive" for v in verdicts):
        return "inconclusive"
    return "verified"


def exit_code(verdict: str) -> int:
    """SPEC section 6: 0 verified, 1 refuted or in error, 3 inconclusive and nothing refuted."""
    return {"verified": 0, "refuted": 1, "error": 1, "inconclusive": 3}[verdict]


# ───────────────────────────── the three methods ─────────────────────────────


class _HardTimeout(BaseException):
    """A method ran past its hard deadline (a BaseException, so no ``except Exception`` inside a method eats it)."""


#: A method may overrun its own budget by this factor (plus :data:`HARD_SLACK_S`) before it is interrupted: the
#: methods check their budgets between steps, but one SymPy expansion (``A^64`` with symbolic entries) can run for
#: minutes, and SPEC section 8 wants an answer within seconds.
HARD_FACTOR = 1.25
HARD_SLACK_S = 0.5


@contextmanager
def hard_deadline(seconds: float):
    """Interrupt the block with :class:`_HardTimeout` after ``seconds`` (SIGALRM, main thread only; elsewhere, or
    when another interval timer is running, the block runs unguarded)."""
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield
        return

    def _alarm(signum, frame):
        raise _HardTimeout()

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, old)


def _guarded(fn, budget_s: float, what: str):
    """Run ``fn()`` (returning a ``(MethodResult, extra)`` pair) under a hard deadline; past it, ``unknown``."""
    try:
        with hard_deadline(budget_s * HARD_FACTOR + HARD_SLACK_S):
            return fn()
    except _HardTimeout:
        return MethodResult("unknown", f"{what}: interrupted after {budget_s * HARD_FACTOR + HARD_SLACK_S:.1f} s "
                                       f"(time budget {budget_s:.1f} s)"), None


def _symbolic(lhs: ir.Expr, rhs: ir.Expr) -> MethodResult:
    try:
        from matcalc.verify.symbolic import equivalent
    except ImportError as exc:  # pragma: no cover - the engine is part of the package
        return MethodResult("unknown", f"normal form unavailable: {exc}")
    try:
        if equivalent(lhs, rhs):
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


def _exact(lhs: ir.Expr, rhs: ir.Expr, free: tuple, budget_s: float, seed: int) -> tuple[MethodResult, dict | None]:
    from matcalc.verify import exact

    res, failed = _run_method(lambda: exact.check_equal(lhs, rhs, free=free, budget_s=budget_s, seed=seed))
    if failed is not None:
        return failed, None
    return MethodResult(res.status, res.detail), getattr(res, "counterexample", None)


def _numeric(lhs: ir.Expr, rhs: ir.Expr, free: tuple, budget_s: float, seed: int) -> tuple[MethodResult, dict | None]:
    from matcalc.verify import numeric

    res, failed = _run_method(lambda: numeric.check_equal(lhs, rhs, free=free, seed=seed, budget_s=budget_s))
    if failed is not None:
        return failed, None
    status = res.status
    if status == "different" and not getattr(res, "confirmed", True):
        status = "unknown"
    return MethodResult(status, res.detail), getattr(res, "counterexample", None)


def combine(methods: dict[str, MethodResult]) -> str:
    """SPEC section 5's verdict from the methods' findings."""
    statuses = {k: m.status for k, m in methods.items()}
    says_equal = [k for k, s in statuses.items() if s == "equal"]
    says_diff = [k for k, s in statuses.items() if s == "different"]
    if says_equal and says_diff:
        return "inconclusive"
    if says_diff and ("exact" in says_diff or "numeric" in says_diff):
        return "refuted"
    if "symbolic" in says_equal or "exact" in says_equal:
        return "verified"
    return "inconclusive"


def transposed_shapes(a: ir.Expr, b: ir.Expr) -> bool:
    """Whether the sides have transposed (and different) shapes: 1×n against n×1, m×n against n×m."""
    (p, q), (r, s) = a.shape, b.shape
    return (p, q) != (r, s) and (p, q) == (s, r)


def conventions(*sides: ir.Expr) -> list[str]:
    """The conventions a claim's derivatives rely on, to be said in the output (SPEC section 2)."""
    notes: list[str] = []
    for side in sides:
        for n in ir.walk(side):
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
) -> ClaimResult:
    """Judge ``lhs = rhs`` by the three methods; diagnose a refutation."""
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
        exact_res, exact_cx = _guarded(lambda: _exact(lhs, rhs, free, budget_s * 0.6, seed), budget_s * 0.6, "exact")
        result.methods["exact"] = exact_res
        result.verdict = combine(result.methods)
        result.counterexample = exact_cx or {
            "note": f"the left side is {fmt_shape(lhs.shape)}, the right side {fmt_shape(rhs.shape)}",
        }
    else:
        result.methods["symbolic"] = _guarded(lambda: (_symbolic(lhs, rhs), None), budget_s * 0.25, "symbolic")[0]
        exact_res, exact_cx = _guarded(lambda: _exact(lhs, rhs, free, budget_s * 0.6, seed), budget_s * 0.6, "exact")
        result.methods["exact"] = exact_res
        num_res, num_cx = _guarded(lambda: _numeric(lhs, rhs, free, budget_s * 0.4, seed), budget_s * 0.4,
                                   "numeric")
        result.methods["numeric"] = num_res
        result.verdict = combine(result.methods)
        if result.verdict == "refuted":
            result.counterexample = exact_cx if exact_res.status == "different" and exact_cx else num_cx
    if result.verdict == "refuted" and diagnose:
        from matcalc.diagnose import diagnose as _diagnose

        try:
            with hard_deadline(budget_s * 0.5):
                result.diagnosis = _diagnose(lhs, rhs, free=free, seed=seed)
        except (Exception, _HardTimeout):  # noqa: BLE001 - a diagnosis explains a verdict; its failure changes nothing
            result.diagnosis = None
    result.seconds = time.perf_counter() - t0
    return result


# ───────────────────────────── documents ─────────────────────────────


class Renderable:
    """Mixin for result objects: plain text (``str``), rich (``__rich__``) and Jupyter (LaTeX, Markdown) renderings
    through :mod:`matcalc.render`, imported only when a rendering is asked for."""

    def __rich__(self):
        from matcalc.render.text import render

        return render(self)

    def __str__(self) -> str:
        from matcalc.render.text import to_plain

        return to_plain(self)

    def _repr_latex_(self) -> str:
        from matcalc.render.latex import fragment

        return fragment(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from matcalc.render.markdown import markdown

        return {"text/plain": str(self), "text/latex": self._repr_latex_(), "text/markdown": markdown(self)}


@dataclass
class CheckReport(Renderable):
    """The verdicts on a whole document, in line order."""

    document: Document | None
    results: list[ClaimResult]
    title: str | None = None
    seconds: float = 0.0
    where: str = "<input>"

    @property
    def verdict(self) -> str:
        return overall([r.verdict for r in self.results])

    @property
    def exit_code(self) -> int:
        return exit_code(self.verdict)

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "claims": [r.to_json() for r in self.results]}



def _stmt_text(s: Statement) -> str:
    return s.text.strip()


#: The time budget of a whole document: a document of many slow claims (a 100 000-character file holds thousands)
#: must not run for hours; claims reached after it ran out are ``inconclusive``, never guessed.
DOCUMENT_BUDGET_S = 180.0


def check_document(doc: Document, *, seed: int = 0, budget_s: float = 8.0, progress=None,
                   document_budget_s: float = DOCUMENT_BUDGET_S) -> CheckReport:
    """Judge every claim and step of ``doc``.

    A step is judged against its predecessor (SPEC section 1). Once a step in a chain is wrong, each later step is
    still judged against its own predecessor, marked as following from a wrong line, and also compared with the
    start of the chain. Claims and steps reached after ``document_budget_s`` seconds are ``inconclusive``.
    """
    t0 = time.perf_counter()
    results: list[ClaimResult] = []
    judged = doc.judged()
    chain_start: ir.Expr | None = None
    chain_start_line: int | None = None
    wrong_in_chain: int | None = None
    line_verdict: dict[int, str] = {}
    for s in doc.statements:
        if isinstance(s, Bare):
            chain_start, chain_start_line, wrong_in_chain = s.expr, s.line, None
            continue
        if isinstance(s, Let):
            continue
        if s not in judged:
            continue
        if progress is not None:
            progress(s)
        if isinstance(s, (Claim, Step)) and time.perf_counter() - t0 > document_budget_s:
            res = ClaimResult(line=s.line, text=_stmt_text(s), verdict="inconclusive",
                              kind="step" if isinstance(s, Step) else "claim")
            res.methods = {k: MethodResult("unknown", f"not judged: the document's time budget of "
                                                      f"{document_budget_s:g} s ran out")
                           for k in ("symbolic", "exact", "numeric")}
            results.append(res)
            line_verdict[s.line] = "inconclusive"
            continue
        if isinstance(s, ErrorLine):
            err = s.error
            res = ClaimResult(line=s.line, text=_stmt_text(s), verdict="error", kind="error",
                              error=err.message if err else "cannot be typed")
            if err is not None:
                res.error = str(err)
            results.append(res)
            line_verdict[s.line] = "error"
            if wrong_in_chain is None:
                wrong_in_chain = s.line
            continue
        if isinstance(s, Claim):
            res = judge(s.lhs, s.rhs, line=s.line, text=_stmt_text(s), free=s.free, seed=seed, budget_s=budget_s)
            chain_start, chain_start_line, wrong_in_chain = s.lhs, s.line, None
            if res.verdict in ("refuted", "error"):
                wrong_in_chain = s.line
            results.append(res)
            line_verdict[s.line] = res.verdict
            continue
        if isinstance(s, Step):
            if s.prev is None:
                res = ClaimResult(line=s.line, text=_stmt_text(s), verdict="error", kind="error",
                                  error="a step needs a previous line to compare with")
                results.append(res)
                continue
            res = judge(s.prev, s.expr, line=s.line, text=_stmt_text(s), free=s.free, kind="step", seed=seed,
                        budget_s=budget_s)
            res.against_line = s.prev_line
            recovered = False
            if (wrong_in_chain is not None and res.verdict == "verified" and s.prev_line is not None
                    and s.prev_line >= wrong_in_chain):
                res.after_wrong = wrong_in_chain
                if chain_start is not None and chain_start.shape != s.expr.shape:
                    res.vs_start = (f"follows from line {s.prev_line}, but the chain no longer equals line "
                                    f"{chain_start_line}: its shape is {fmt_shape(s.expr.shape)}, line "
                                    f"{chain_start_line}'s is {fmt_shape(chain_start.shape)}")
                elif chain_start is not None:
                    start = judge(chain_start, s.expr, line=s.line, free=s.free, kind="step", seed=seed,
                                  budget_s=budget_s / 2, diagnose=False)
                    if start.verdict == "refuted":
                        res.vs_start = (f"follows from line {s.prev_line}, but the chain no longer equals "
                                        f"line {chain_start_line}")
                    elif start.verdict == "verified":
                        res.vs_start = f"equals line {chain_start_line} again"
                        recovered = True
            elif (wrong_in_chain is not None and res.verdict == "verified" and s.prev_line is not None
                    and s.prev_line < wrong_in_chain):
                recovered = True  # judged against a line before the wrong one: the chain goes on from there
            if recovered:
                wrong_in_chain = None
            if res.verdict in ("refuted", "error") and wrong_in_chain is None:
                wrong_in_chain = s.line
            results.append(res)
            line_verdict[s.line] = res.verdict
    report = CheckReport(document=doc, results=results, seconds=time.perf_counter() - t0)
    th = doc.theorem
    if th is not None:
        report.title = th.value
    return report

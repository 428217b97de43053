"""Judging a document like a marked paper: every claim and every step of its derivation chains.

Contract: :func:`check_document` judges each claim and step of a typed :class:`~matcalc.document.Document` with
:func:`matcalc.verify.judge.judge` and returns a :class:`~matcalc.results.CheckReport`. A step is judged against the
line before it; once a chain goes wrong, each later step is still judged against its predecessor, marked as following
from a wrong line, and compared with the chain's start. Claims reached after the document's time budget are
``inconclusive``, never guessed.
"""

from __future__ import annotations

import time

from matcalc import ir
from matcalc.document import Bare, Claim, Document, ErrorLine, Let, Statement, Step
from matcalc.results import CheckReport, ClaimResult, MethodResult
from matcalc.shapes import fmt_shape
from matcalc.verify.judge import judge


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

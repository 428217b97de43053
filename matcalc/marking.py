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
from matcalc.clock import now
from matcalc.errors import MatcalcError
from matcalc.document import Bare, Claim, Document, ErrorLine, Let, Problem, Statement, Step
from matcalc.results import CheckReport, ClaimResult, MethodResult
from matcalc.shapes import fmt_shape
from matcalc.verify.document_methods import DocumentMethods
from matcalc.verify.judge import distinct_nodes, document_scope, judge
from matcalc.verify.let_names import let_name_note


def _stmt_text(s: Statement) -> str:
    return s.text.strip()


def _split_at_equals(text: str) -> list[str]:
    """``text`` cut at each ``=`` outside brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "=" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _part_texts(statements: list[Statement]) -> dict[int, str]:
    """For a chain written on one line (``a = b = c``: a claim and its steps, or several steps, sharing the line's
    text): each statement's own part, ``a = b`` and ``= c`` (by ``id`` of the statement). A line whose parts cannot
    be told apart keeps its text."""
    groups: dict[tuple, list[Statement]] = {}
    for s in statements:
        if isinstance(s, (Claim, Step)):
            groups.setdefault((s.line, s.text), []).append(s)
    out: dict[int, str] = {}
    for (_line, text), group in groups.items():
        if len(group) < 2:
            continue
        parts = _split_at_equals(text)
        if parts and not parts[0]:  # a step line: "= b = c"
            pieces = ["= " + p for p in parts[1:]]
        elif isinstance(group[0], Claim) and len(parts) >= 2:
            pieces = [f"{parts[0]} = {parts[1]}"] + ["= " + p for p in parts[2:]]
        else:
            continue
        if len(pieces) == len(group) and all(p.strip("= ") for p in pieces):
            out.update((id(s), piece) for s, piece in zip(group, pieces))
    return out


#: The time budget of a whole document: a document of many slow claims (a 100 000-character file holds thousands)
#: must not run for hours; claims reached after it ran out are ``inconclusive``, never guessed.
DOCUMENT_BUDGET_S = 180.0


def _add_note(res: ClaimResult, note: str | None) -> None:
    if note is not None:
        res.notes.append(note)


class _Chain:
    """The chain being marked: its start (a bare expression or a claim's left side) and the first wrong line since
    it was last right."""

    def __init__(self) -> None:
        self.start: ir.Expr | None = None
        self.start_line: int | None = None
        self.wrong: int | None = None

    def restart(self, expr: ir.Expr | None, line: int) -> None:
        self.start, self.start_line, self.wrong = expr, line, None


def _budget_out(s: Statement, budget: float) -> ClaimResult:
    res = ClaimResult(line=s.line, text=_stmt_text(s), verdict="inconclusive",
                      kind="step" if isinstance(s, Step) else "claim")
    res.methods = {k: MethodResult("unknown", f"not judged: the document's time budget of {budget:g} s ran out")
                   for k in ("symbolic", "exact", "numeric")}
    return res


def _error_result(s: ErrorLine) -> ClaimResult:
    err = s.error
    res = ClaimResult(line=s.line, text=_stmt_text(s), verdict="error", kind="error",
                      error=err.message if err else "cannot be typed")
    if err is not None:
        res.error = str(err)
    return res


def _vs_start(s: Step, chain: _Chain, seed: int, budget_s: float) -> tuple[str | None, bool]:
    """For a step that follows from a wrong line: whether the chain equals its start again (and the message)."""
    start, n = chain.start, chain.start_line
    if start is None:
        return None, False
    where = f"line {n}" if n != s.line else "the start of this line"  # a chain written on one line (a = b = c)
    if start.shape != s.expr.shape:
        return (f"follows from line {s.prev_line}, but the chain no longer equals {where}: its shape is "
                f"{fmt_shape(s.expr.shape)}, {where}'s is {fmt_shape(start.shape)}"), False
    again = judge(start, s.expr, line=s.line, free=s.free, kind="step", seed=seed, budget_s=budget_s / 2,
                  diagnose=False)
    if again.verdict == "refuted":
        return f"follows from line {s.prev_line}, but the chain no longer equals {where}", False
    if again.verdict == "verified":
        return f"equals {where} again", True
    return None, False


def _back_on_track(s: Step, res: ClaimResult, chain: _Chain, seed: int, budget_s: float) -> ClaimResult | None:
    """A step that does not follow from a wrong line but equals the chain's start again: the marker does not punish
    the same mistake twice — it is judged against the start, and counts as following (README, "Checking
    homework")."""
    start = chain.start
    if start is None or start.shape != s.expr.shape:
        return None
    again = judge(start, s.expr, line=s.line, text=res.text, free=s.free, kind="step", seed=seed,
                  budget_s=budget_s, diagnose=False)
    if again.verdict != "verified":
        return None
    again.against_line = chain.start_line
    again.after_wrong = chain.wrong
    if chain.start_line == s.line:  # a chain written on one line (a = b = c): its parts, not its line numbers
        again.vs_start = ("back on track: equals the start of this line again (it does not follow from the part "
                          "before it, " + ("which was wrong)" if s.prev_line == chain.wrong else
                                           "which came after the wrong part)"))
        return again
    why = "which was wrong" if s.prev_line == chain.wrong else f"which came after the wrong line {chain.wrong}"
    again.vs_start = (f"back on track: equals line {chain.start_line} again (it does not follow from line "
                      f"{s.prev_line}, {why})")
    return again


# ───────────────────────────── notes on how a line was read ─────────────────────────────

_LOGISTIC = ("σ", "sigmoid", "sigma")


def _builtin_note(s: Statement, exprs: tuple, seen: set, walked: set) -> str | None:
    """A note, the first time a line uses an undeclared σ, that it was read as the logistic function. ``walked``
    (ids of the document's nodes already looked through, none of them σ) is shared by the document's lines: a node
    shared by many lines (a network's ``let`` s, used by every gradient) is looked at once, not once per line."""
    if "logistic" in seen:
        return None
    if not any(isinstance(n, ir.Apply) and n.fn == "sigma" and not n.declared for e in exprs if e is not None
               for n in distinct_nodes(e, walked)):
        return None
    seen.add("logistic")
    name = next((a for a in _LOGISTIC if a in s.text), "σ")
    return (f"{name} read as the logistic function 1/(1 + exp(-x)); declare {name}: R -> R for any activation "
            f"(then {name}' is its derivative)")


def _unexpanded(e: ir.Expr) -> ir.Expr:
    """A sum's term as written: scalar expansion (added for the derivative's shape) taken off."""
    if isinstance(e, ir.Neg):
        return ir.Neg(_unexpanded(e.arg))
    return e.arg if isinstance(e, ir.Broadcast) else e


def _scope_parts(lhs: ir.Expr) -> tuple[ir.Derivative, tuple, ir.Derivative] | None:
    """For ``d/dx a + b …``: the derivative, the terms after it, and ``d/dx (a + b …)`` (the sum bracketed)."""
    if not isinstance(lhs, ir.Add) or not isinstance(lhs.args[0], ir.Derivative):
        return None
    d, rest = lhs.args[0], lhs.args[1:]
    if any(isinstance(n, ir.Derivative) for t in rest for n in distinct_nodes(t)):
        return None
    try:
        whole = ir.Derivative(ir.Add((d.expr, *(_unexpanded(t) for t in rest))), d.wrt, d.kind, d.layout)
    except (ValueError, MatcalcError):
        return None
    return d, rest, whole


def _scope_note(res: ClaimResult, lhs: ir.Expr, rhs: ir.Expr, seed: int, budget_s: float) -> None:
    """Tell the reader of ``d/dx a + b = R`` that d/dx covered only its first term (SPEC section 3: the derivative
    stops at the next binary + or -). Refuted, when ``d/dx (a + b) = R`` holds: the diagnosis says the claim holds
    with brackets. Verified, when a scalar term was added to every entry of the derivative (scalar expansion): a
    note says the sum was not differentiated. The verdict stays what the documented precedence gives."""
    from matcalc.printing import to_text

    parts = _scope_parts(lhs)
    if parts is None or res.verdict not in ("refuted", "verified"):
        return
    d, rest, whole = parts
    expanded = [(isinstance(t, ir.Neg), to_text(_unexpanded_sign(t).arg)) for t in rest
                if isinstance(_unexpanded_sign(t), ir.Broadcast)]
    if res.verdict == "verified" and not expanded:
        return
    if res.verdict == "refuted":
        if whole.shape != rhs.shape:
            return
        again = judge(whole, rhs, seed=seed, budget_s=budget_s / 2, diagnose=False)
        if again.verdict != "verified":
            return
    op = to_text(ir.Derivative(ir.Var(to_text(d.wrt), (1, 1)), d.wrt, d.kind, d.layout)).split(" ")[0]
    note = f"{op} covers only the first term, {to_text(d.expr)} (a derivative stops at the next + or -)"
    if expanded:
        signs = {neg for neg, _t in expanded}
        how = ("added to or subtracted from" if len(signs) == 2 else "subtracted from" if True in signs
               else "added to")
        note += (f"; {' and '.join(t for _n, t in expanded)} {'is' if len(expanded) == 1 else 'are'} not "
                 f"differentiated but {how} every entry (scalar expansion)")
    if res.verdict == "refuted":
        res.diagnosis = (f"the step holds when line {res.against_line} is bracketed: {to_text(whole)}"
                         if res.kind == "step" and res.against_line is not None else
                         f"the claim holds with brackets: {to_text(whole)}")
    else:
        note += f"; verified as written: for the derivative of the whole sum, write {to_text(whole)}"
    res.notes.append(note)


def _unexpanded_sign(e: ir.Expr) -> ir.Expr:
    """A sum's term without its sign (``-c`` is ``c``)."""
    return e.arg if isinstance(e, ir.Neg) else e


def _mark_step(s: Step, chain: _Chain, seed: int, budget_s: float) -> ClaimResult:
    """Judge a step against its predecessor and mark it in its chain (the chain's state is updated)."""
    res = judge(s.prev, s.expr, line=s.line, text=_stmt_text(s), free=s.free, kind="step", seed=seed,
                budget_s=budget_s)
    res.against_line = s.prev_line
    wrong = chain.wrong
    if wrong is not None and s.prev_line is not None and s.prev_line >= wrong:
        # the predecessor is the wrong line or came after it
        if res.verdict == "verified":
            res.after_wrong = wrong
            res.vs_start, again = _vs_start(s, chain, seed, budget_s)
            if again:
                chain.wrong = None
            return res
        back = _back_on_track(s, res, chain, seed, budget_s)
        if back is not None:
            chain.wrong = None
            return back
        return res
    if wrong is not None and res.verdict == "verified":
        chain.wrong = None  # judged against a line before the wrong one (that could not be read): on track again
    elif res.verdict in ("refuted", "error"):
        chain.wrong = s.line
    return res


def check_document(doc: Document, *, seed: int = 0, budget_s: float = 8.0, progress=None,
                   document_budget_s: float = DOCUMENT_BUDGET_S) -> CheckReport:
    """Judge every claim and step of ``doc``.

    A step is judged against its predecessor (SPEC section 1). Once a step in a chain is wrong, each later step is
    still judged against its own predecessor, marked as following from a wrong line, and also compared with the
    start of the chain; a step that does not follow from a wrong line but equals the start again is back on track.
    Claims and steps reached after ``document_budget_s`` seconds are ``inconclusive``.
    """
    with document_scope():
        return _check_document(doc, seed=seed, budget_s=budget_s, progress=progress,
                               document_budget_s=document_budget_s)


def _check_document(doc: Document, *, seed: int, budget_s: float, progress, document_budget_s: float) -> CheckReport:
    t0 = time.perf_counter()
    c0 = now()  # the document's budget is CPU seconds (matcalc.clock); its reported duration is wall-clock
    results: list[ClaimResult] = []
    judged = doc.judged()
    shared = DocumentMethods([s for s in doc.statements if isinstance(s, Claim)], seed=seed,
                             budget_s=budget_s)
    chain = _Chain()
    seen: set = set()  # notes given once per document
    walked: set = set()  # ids of the nodes _builtin_note looked through (the document keeps them alive)
    claims: list = []  # (claim, result)
    for s in doc.statements:
        if isinstance(s, Bare):
            chain.restart(s.expr, s.line)
            continue
        if s not in judged:
            continue
        if progress is not None:
            progress(s)
        if isinstance(s, (Claim, Step)) and now() - c0 >= document_budget_s:
            results.append(_budget_out(s, document_budget_s))
            continue
        if isinstance(s, ErrorLine):
            results.append(_error_result(s))
            if chain.wrong is None:
                chain.wrong = s.line
        elif isinstance(s, Claim):
            known, exact_s = shared.known(s)
            res = judge(s.lhs, s.rhs, line=s.line, text=_stmt_text(s), free=s.free, seed=seed, budget_s=budget_s,
                        known=known, exact_budget_s=exact_s)
            shared.judged(s, res.methods, res.seconds)
            _scope_note(res, s.lhs, s.rhs, seed, budget_s)
            _add_note(res, let_name_note(res.verdict, res.diagnosis, (s.lhs, s.rhs)))
            claims.append((s, res))
            _add_note(res, _builtin_note(s, (s.lhs, s.rhs), seen, walked))
            chain.restart(s.lhs, s.line)
            if res.verdict in ("refuted", "error"):
                chain.wrong = s.line
            results.append(res)
        elif isinstance(s, Step):
            if s.prev is None:
                results.append(ClaimResult(line=s.line, text=_stmt_text(s), verdict="error", kind="error",
                                           error="a step needs a previous line to compare with"))
                continue
            res = _mark_step(s, chain, seed, budget_s)
            if s.prev_line == chain.start_line and s.prev is chain.start:
                _scope_note(res, s.prev, s.expr, seed, budget_s)
            _add_note(res, let_name_note(res.verdict, res.diagnosis, (s.prev, s.expr)))
            _add_note(res, _builtin_note(s, (s.prev, s.expr), seen, walked))
            results.append(res)
    _blame_let_lines(doc, claims, seed, budget_s, c0 + document_budget_s - now())
    stmts = [s for s in doc.statements if not isinstance(s, Bare) and s in judged]
    parts = _part_texts(stmts)
    if parts and len(stmts) == len(results):  # one result per statement judged
        for s, r in zip(stmts, results):
            r.text = parts.get(id(s), r.text)
    if doc.problem is not None:
        results = _with_problem_checks(doc, results, seed, budget_s)
    report = CheckReport(document=doc, results=results, seconds=time.perf_counter() - t0)
    th = doc.theorem
    if th is not None:
        report.title = th.value
    return report


def _blame_let_lines(doc: Document, claims: list, seed: int, budget_s: float, left_s: float) -> None:
    """A refuted claim whose mistake is a backward ``let`` line (a δ defined wrongly) names that line in its
    diagnosis (:mod:`matcalc.verify.let_lines`); the claim's own diagnosis stays, as a note."""
    if left_s <= 0 or not any(r.verdict == "refuted" for _s, r in claims) or not any(
            isinstance(s, Let) for s in doc.statements):
        return
    from matcalc.verify.let_lines import blame_lets

    found = blame_lets(doc, claims, seed=seed, budget_s=budget_s, deadline=now() + left_s)
    for s, res in claims:
        got = found.get(s.line)
        if got is None:
            continue
        if res.diagnosis:
            res.notes.append(f"taken with {got[1]} as written: {res.diagnosis}")
        res.diagnosis = got[0]


# ───────────────────────────── the problem (--problem, a problem: line) ─────────────────────────────


def _chains(doc: Document) -> list[tuple[tuple[int, ir.Expr], tuple[int, ir.Expr]]]:
    """The document's derivation chains: (line, expression) of each one's start and of its last readable line."""
    out: list = []
    for s in doc.statements:
        if isinstance(s, (Bare, Claim)):
            start = (s.line, s.expr if isinstance(s, Bare) else s.lhs)
            out.append([start, start if isinstance(s, Bare) else (s.line, s.rhs)])
        elif isinstance(s, Step) and out:
            out[-1][1] = (s.line, s.expr)
    return [(a, b) for a, b in out]


def _first_chain(doc: Document) -> tuple[tuple[int, ir.Expr], tuple[int, ir.Expr]] | None:
    """The derivation of the problem: the first chain that starts from the problem as written, else the first whose
    start has the problem's shape (a line stating an identity first, ``‖r‖² = rᵀ r``, is not the derivation), else
    the first chain; None without any."""
    chains = _chains(doc)
    if not chains:
        return None
    p = doc.problem.expr if doc.problem is not None else None
    if p is not None:
        for chain in chains:
            if chain[0][1] == p:
                return chain
        for chain in chains:
            if chain[0][1].shape == p.shape:
                return chain
    return chains[0]


def _starts_at_problem(problem: Problem, line: int, start: ir.Expr, seed: int, budget_s: float) -> ClaimResult:
    """Whether the chain's first line is the problem: equal as expressions (judged, not compared as text)."""
    from matcalc.printing import to_text

    text = f"starts from the problem {to_text(problem.expr)}"
    p = problem.expr
    if p.shape != start.shape and p.shape != (start.shape[1], start.shape[0]):
        res = ClaimResult(line=line, text=text, verdict="refuted", kind="problem")
        res.diagnosis = (f"off the problem: the derivation starts from line {line}, which is "
                         f"{fmt_shape(start.shape)}; the problem is {fmt_shape(p.shape)}")
        res.lhs, res.rhs = None, None
        return res
    res = judge(p, start, line=line, text=text, kind="problem", seed=seed, budget_s=budget_s, diagnose=False)
    parts = _scope_parts(p)
    if parts is not None and any(isinstance(_unexpanded_sign(t), ir.Broadcast) for t in parts[1]):
        # the problem as written adds a scalar term to every entry of a derivative of its first term only (d/dw
        # stops at the next + or -): almost surely the sum was meant; a start from the bracketed sum is not "off
        # the problem" but the teacher's and the student's readings differ — a human decides
        whole = parts[2]
        note = (f"the problem as written, {to_text(p)}, differentiates only its first term (a derivative stops at "
                f"the next + or -) and adds the rest to every entry; with brackets it is {to_text(whole)}")
        if res.verdict != "verified" and whole.shape == start.shape and judge(
                whole, start, seed=seed, budget_s=budget_s / 2, diagnose=False).verdict == "verified":
            res.verdict = "inconclusive"
            res.counterexample = None
            res.diagnosis = (f"line {line} starts from the bracketed problem {to_text(whole)}; the problem as "
                             "written differentiates only its first term (a derivative stops at the next + or -) and "
                             "adds the rest to every entry: it needs a human look")
            return res
        res.notes.append(note)
    if res.verdict == "verified":
        res.notes.append(f"the derivation starts from the problem: line {line} equals it")
    elif res.verdict == "inconclusive":
        res.diagnosis = f"could not decide whether line {line} equals the problem; it needs a human look"
    else:
        res.verdict = "refuted"
        res.diagnosis = f"off the problem: the derivation starts from line {line}, which does not equal the problem"
    return res


def _ends_in_closed_form(line: int, last: ir.Expr) -> ClaimResult:
    """Whether the chain's last line is an answer: no derivative left in it (``let`` names looked through)."""
    from matcalc.printing import to_text

    left = next((n for n in distinct_nodes(last) if isinstance(n, ir.Derivative)), None)
    res = ClaimResult(line=line, text="ends in a closed form", verdict="verified" if left is None else "refuted",
                      kind="problem")
    if left is None:
        res.notes.append(f"line {line} is a closed form (no derivative left)")
    else:
        res.diagnosis = (f"not a closed form: the derivation stops at line {line}, which still contains "
                         f"{to_text(left)}")
    return res


def _with_problem_checks(doc: Document, results: list[ClaimResult], seed: int,
                         budget_s: float) -> list[ClaimResult]:
    """The results with the problem's two checks in line order: the derivation of the problem (:func:`_first_chain`)
    starts from it, and its last line is a closed form (``kind="problem"``; counted as neither steps nor claims)."""
    problem = doc.problem
    chain = _first_chain(doc)
    if chain is None:
        res = ClaimResult(line=max(problem.line, 1), text=f"starts from the problem {problem.text}",
                          verdict="refuted", kind="problem")
        res.diagnosis = "no derivation: the submission has no expression or claim to start from the problem"
        return [res, *results]
    (l0, start), (l1, last) = chain
    keyed = [((r.line, 1), r) for r in results]
    keyed.append(((l0, 0), _starts_at_problem(problem, l0, start, seed, budget_s)))
    keyed.append(((l1, 2), _ends_in_closed_form(l1, last)))
    return [r for _k, r in sorted(keyed, key=lambda kr: kr[0])]

"""Gradescope autograder output: a ``results.json`` per the Gradescope autograder specification.

Contract: :func:`gradescope_results` turns a :class:`~matcalc.results.CheckReport` into the dict Gradescope reads
from ``/autograder/results/results.json``: top-level ``score`` (the sum of the tests' scores), ``execution_time``
(seconds), ``output`` (Markdown: the overall verdict), ``output_format: "md"``, ``extra_data`` (matcalc's verdict and
version) and ``tests``: one per claim or step, in line order, each with ``name`` (``"line 5: = (d/dw (X w − y))ᵀ …"``),
``number``, ``score`` (1 for a verified line, else 0), ``max_score`` 1, ``status`` (``"passed"``: verified with every
point earned, else ``"failed"``),
``output`` (Markdown: verdict, how a step was judged, diagnosis, counterexample, each method's evidence) and
``output_format: "md"``. A step that follows correctly from a wrong line earns its point (the slip is marked once).
With a problem (``--problem`` or a ``problem:`` line) two more tests say whether the derivation starts from it and
ends in a closed form, and the overall output flags a submission that does not; then only the derivation that starts
from the problem earns points (:class:`_Scope`): a derivation off the problem earns none (its closed form neither),
and lines outside it are shown with ``max_score`` 0.
An inconclusive line earns no point and says it needs a human look. :func:`gradescope_error` gives the results for a
submission that cannot be read at all (score 0 and the error message), so an autograder always writes a file.
Optional ``visibility`` values are the specification's: ``hidden``, ``after_due_date``, ``after_published``,
``visible``.
"""

from __future__ import annotations

import math
from typing import Any

from matcalc.render.markdown import claim_details_md, code_span, md_escape
from matcalc.render.rows import summary_sentence
from matcalc.results import MARK

__all__ = ["gradescope_results", "gradescope_error", "VISIBILITIES", "NAME_LIMIT"]

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
NAME_LIMIT = 200  # long step names are shortened with "…"


def _name(r: Any) -> str:
    from matcalc.printing import to_text

    if r.kind == "problem":
        body = r.text
    elif r.lhs is not None and r.rhs is not None:
        body = ("= " + to_text(r.rhs)) if r.kind == "step" else (to_text(r.lhs) + " = " + to_text(r.rhs))
    else:
        body = " ".join(str(r.text).split())
    name = f"line {r.line}: {body}"
    return name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"


#: The texts of the problem's two checks (matcalc.marking).
_STARTS, _CLOSED = "starts from the problem", "ends in a closed form"


class _Scope:
    """With a problem (``--problem``, a ``problem:`` line), only the derivation that starts from it earns points:
    the lines of the first chain (the one the problem's checks judge, lines ``lo``…``hi``), and only when its start
    is not off the problem (an undecided start earns as usual: it is flagged for a human look). Lines outside it
    are shown with no point to earn. Without a problem (``lo is None and not problem``) every line scores."""

    def __init__(self, results: list) -> None:
        checks = [r for r in results if r.kind == "problem"]
        self.problem = bool(checks)
        start = next((r for r in checks if r.text.startswith(_STARTS)), None)
        end = next((r for r in checks if r.text == _CLOSED), None)
        self.lo = start.line if start is not None and end is not None else None
        self.hi = end.line if end is not None else None
        self.on_problem = start is not None and end is not None and start.verdict != "refuted"
        # a problem: line that cannot be read (a template's header edited): no line is scored, a human decides —
        # falling back to one point per verified line would reward breaking it
        self.broken = next((r for r in results if r.verdict == "error"
                            and (r.text or "").lstrip().lower().startswith("problem:")), None)

    def points(self, r: Any) -> tuple[int, int, str | None]:
        """(score, max score, why the point is withheld) of a line; a step that writes the line before it again
        (the same expression) has no point to earn, so repeating a line does not pay."""
        ok = int(r.verdict == "verified")
        if self.broken is not None:
            return (0, 1, None) if r is self.broken else (
                0, 0, f"the problem line (line {self.broken.line}) cannot be read: no line is scored")
        if r.kind == "step" and r.lhs is not None and r.rhs is not None and r.lhs == r.rhs:
            return 0, 0, "the same expression as the line before it: no point to earn"
        if not self.problem:
            return ok, 1, None
        if r.kind == "problem" and r.text.startswith(_STARTS):
            return ok, 1, None
        inside = self.lo is not None and (r.kind == "problem" or self.lo <= r.line <= self.hi)
        if not inside:
            where = f" (lines {self.lo}–{self.hi})" if self.lo is not None else ""
            return 0, 0, f"not part of the derivation of the problem{where}: no point to earn"
        if not self.on_problem:
            return 0, 1, "the derivation does not start from the problem: no point" if ok else None
        return ok, 1, None


def _test_output(r: Any, withheld: str | None = None) -> str:
    head = f"**{MARK[r.verdict]} {r.verdict}**"
    if r.verdict == "inconclusive":
        head += " — matcalc could not decide this line; it needs a human look"
    elif r.verdict == "verified" and r.after_wrong is not None:
        head += " — this step follows from the line before it (the earlier slip is marked once)"
    lines = [head, ""]
    if withheld:
        lines.extend([f"*{md_escape(withheld)}*", ""])
    if r.text and r.kind != "problem":
        lines.append("as written: " + code_span(r.text))
        lines.append("")
    if r.verdict == "error" and r.error and "\n" in r.error:
        # the located message with its caret, as the terminal shows it
        lines.extend(["**error:**", "", "```", r.error.replace("```", "'''"), "```", ""])
    else:
        lines.extend(claim_details_md(r, full=True))  # a student on Gradescope cannot pass --full
    return "\n".join(lines).rstrip() + "\n"


def _check_visibility(v: str | None) -> None:
    if v is not None and v not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {v!r}")


def gradescope_results(report: Any, *, visibility: str | None = None) -> dict:
    """The ``results.json`` content for a checked submission.

    Args:
        report: the :class:`~matcalc.results.CheckReport` of the student's document.
        visibility: optional Gradescope visibility of the tests (one of :data:`VISIBILITIES`).

    Returns:
        A JSON-serialisable dict following the Gradescope autograder specification.
    """
    from matcalc import __version__

    _check_visibility(visibility)
    tests = []
    scope = _Scope(report.results)
    for i, r in enumerate(report.results, 1):
        score, top, withheld = scope.points(r)
        test = {
            "name": _name(r),
            "number": str(i),
            "score": score,
            "max_score": top,
            "status": "passed" if r.verdict == "verified" and score == top else "failed",
            "output": _test_output(r, withheld),
            "output_format": "md",
        }
        if visibility is not None:
            test["visibility"] = visibility
        tests.append(test)
    v = report.verdict
    summary = f"**{MARK[v]} {v}** — {md_escape(summary_sentence(report))}" if report.results else \
        "**✗** no claim or step was found to check"
    flags = [r for r in report.results if r.kind == "problem" and r.verdict != "verified"]
    for r in flags:  # the teacher's problem: a derivation off it, or one that stops early, is flagged up front
        summary += f"\n\n**flagged** (line {r.line}): {md_escape(r.diagnosis or r.text)}"
    if scope.broken is not None:
        summary += (f"\n\n**flagged** (line {scope.broken.line}): the problem line cannot be read, so the submission "
                    "is not scored; it needs a human look")
    score = sum(t["score"] for t in tests)
    top = sum(t["max_score"] for t in tests)
    rule = ("a step that follows from a wrong line earns its point" + (
        "; only the derivation that starts from the problem earns points" if scope.problem else ""))
    out: dict = {
        "score": score,
        "execution_time": int(math.ceil(max(0.0, float(getattr(report, "seconds", 0.0) or 0.0)))),
        "output": f"matcalc checked {len(tests)} line{'s' if len(tests) != 1 else ''}: {score} of {top} "
                  f"points ({rule}).\n\n{summary}\n",
        "output_format": "md",
        "extra_data": {"verdict": v, "matcalc": __version__, "exit_code": report.exit_code},
        "tests": tests,
    }
    if visibility is not None:
        out["visibility"] = visibility
    return out


def gradescope_error(exc: BaseException, *, visibility: str | None = None) -> dict:
    """``results.json`` for a submission that cannot be read: score 0 and the error (line, column, caret)."""
    from matcalc import __version__

    _check_visibility(visibility)
    msg = str(exc)
    out: dict = {
        "score": 0,
        "output": "matcalc could not read the submission:\n\n```\n" + msg.replace("```", "'''") + "\n```\n",
        "output_format": "md",
        "extra_data": {"verdict": "error", "matcalc": __version__, "exit_code": 2},
        "tests": [],
    }
    if visibility is not None:
        out["visibility"] = visibility
    return out

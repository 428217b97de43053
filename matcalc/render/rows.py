"""The rows of the aligned displays: claims and steps as LaTeX alignment rows, and the engine's steps as rows.

Contract: :func:`chain_rows` turns the :class:`~matcalc.results.ClaimResult` records of a document into ``&=``
alignment rows, one list per chain, with the verdict of each line in an annotation column; :class:`DerivationView`
arranges a :class:`matcalc.engine.Derivation`'s steps as rows with their rules, notes and legend. Both the LaTeX
documents (:mod:`matcalc.render.latex`) and the Markdown ``$$`` blocks (:mod:`matcalc.render.markdown`) use these
rows; expressions are re-printed from the IR by :func:`matcalc.printing.to_latex`, every other string goes through
:func:`matcalc.render.tex.math_text`.
"""

from __future__ import annotations

from typing import Any, Iterable

from matcalc import ir
from matcalc.printing import latex_name, to_latex
from matcalc.render.tex import math_text
from matcalc.results import MARK, METHOD_MARK, tally


#: The marks of :mod:`matcalc.results` as math-mode LaTeX.
MARK_MATH = {"✓": r"\checkmark", "✗": r"\times", "?": r"\text{?}"}
VERDICT_MATH = {v: MARK_MATH[m] for v, m in MARK.items()}
METHOD_MATH = {s: MARK_MATH[m] for s, m in METHOD_MARK.items()}


def index_list(free: Iterable) -> str:
    names = [latex_name(i.name) if isinstance(i, ir.Index) else str(i) for i in free]
    return ", ".join(names)


def claim_math(lhs: ir.Expr, rhs: ir.Expr, free: tuple = ()) -> str:
    s = to_latex(lhs) + " &= " + to_latex(rhs)
    if free:
        s += r" \qquad \text{for all } " + index_list(free)
    return s


def _verdict_tag(r: Any) -> str:
    if r.verdict == "verified" and r.kind == "step" and str(r.vs_start or "").startswith("back on track"):
        # it does not follow from the wrong line before it, but equals the chain's start again
        return VERDICT_MATH[r.verdict] + r"\ " + math_text(f"back on track (line {r.line}): equals line "
                                                          f"{r.against_line} again")
    if r.verdict == "verified" and r.kind == "step" and r.after_wrong is not None:
        # follows from its predecessor, but the chain went wrong at an earlier line (a marked paper shows both)
        return VERDICT_MATH[r.verdict] + r"\ " + math_text(f"follows (line {r.line}), after the error in line "
                                                          f"{r.after_wrong}")
    return VERDICT_MATH[r.verdict] + r"\ " + math_text(f"{r.verdict} (line {r.line})")


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def problem_math(r: Any) -> str:
    """A line's text in math mode; a check of the teacher's problem by its name, as the terminal names it, with
    the problem typeset (``starts from the problem`` and the problem's expression)."""
    prefix = "starts from the problem"
    if r.kind == "problem" and r.text.startswith(prefix) and r.lhs is not None:
        return math_text(prefix + " ") + " " + to_latex(r.lhs)
    return math_text(_shorten(r.text))


def chain_rows(results: list, *, annotate: bool = True, error_messages: bool = True) -> list[list[str]]:
    """The claims and steps as alignment rows, one list of rows per chain (a claim or a start and its steps).

    A line in error shows its text (escaped, shortened) and, with ``error_messages``, its message (documents leave
    the message to the evidence list).
    """
    chains: list[list[str]] = []
    rows: list[str] = []
    last_line: int | None = None
    for r in results:
        tag = (" && " + _verdict_tag(r)) if annotate else ""
        if r.kind in ("error", "problem") or r.lhs is None or r.rhs is None:
            if rows:
                chains.append(rows)
                rows = []
            msg = (r.error or "cannot be typed").split("\n")[0]
            if r.kind == "problem":  # a check of the teacher's problem: its finding, not an error
                msg = r.diagnosis or "; ".join(r.notes)
            rows.append("& " + problem_math(r) + tag)
            if error_messages and msg:
                rows.append(r"& \quad " + math_text(("" if r.kind == "problem" else "error: ") + _shorten(msg, 120)))
            chains.append(rows)
            rows, last_line = [], None
            continue
        if r.kind == "step":
            if last_line is None or r.against_line != last_line or not rows:
                if rows:
                    chains.append(rows)
                again = ", again" if str(r.vs_start or "").startswith("back on track") else ""
                rows = [to_latex(r.lhs) + (" && " + math_text(f"(line {r.against_line}{again})") if annotate else "")]
            rows.append("&= " + to_latex(r.rhs) + tag)
        else:
            if rows:
                chains.append(rows)
            rows = [claim_math(r.lhs, r.rhs) + tag]
        last_line = r.line
    if rows:
        chains.append(rows)
    return chains


def summary_sentence(report: Any) -> str:
    """The document's counts, as every format says them (:func:`matcalc.results.tally`)."""
    return tally(report.results).sentence()


#: Short labels for the engine's step names in the alignment's annotation column.
RULE_LABELS = {
    "chain-rule": "Jacobian chain rule",
    "constant": "a constant",
    "identity": "the identity",
    "shared-subexpression": "shared subexpression: adjoints add",
    "expand-derivatives": "inner derivatives first",
    "symmetric-convention": "symmetric argument",
    "like-terms": "collect like terms",
    "transpose-cancel": "transposes",
    "products": "products",
    "scalars": "scalar factors",
    "layout": "layout",
    "matmul-left": "matrix product (left factor)",
    "matmul-right": "matrix product (right factor)",
    # the lecture's presentation (engine/lecture.py)
    "chain": "outer and inner functions",
    "occurrences": "one occurrence at a time",
    "jacobian": "Jacobian",
    "gradient": "gradient",
    "algebra": "algebra",
    "result": "result",
    "contribution": "one occurrence",
    "sum-of-contributions": "sum of the contributions",
}


def rule_label(rule: str) -> str:
    """A step's rule name as a short label (``chain-rule`` → ``Jacobian chain rule``)."""
    return RULE_LABELS.get(rule, rule.replace("-", " "))


class DerivationView:
    """The engine's steps arranged for typesetting.

    Each step of :class:`matcalc.engine.Derivation` states an equality: a rule's step says what a derivative is
    (``∇_u f = …``, ``J_x(u) = …``: the derivative of the output by an intermediate ``u``, or a local Jacobian), a
    simplification's step rewrites a subexpression, and the last step (the Jacobian chain rule) states the
    derivative asked for. ``rows`` holds one alignment row per step, ``before &= after && rule`` (``&= after`` when a
    step continues from the one before it); the last row ends at the result. ``notes`` holds the steps that state
    no equality (a convention); ``legend`` lists each rule used with its statement.
    """

    def __init__(self, head: ir.Expr, derivation: Any, prefix: str = "") -> None:
        self.notes: list[str] = []
        self.legend: list[tuple[str, str]] = []
        entries: list[list] = []  # [lhs LaTeX or None (continues), rhs LaTeX, [labels]]
        seen: set[str] = set()
        prev_after: ir.Expr | None = None
        last_lhs: ir.Expr | None = None

        def add(lhs: str | None, rhs: str, label: str, same: bool = False) -> None:
            # the same equality again (or the same right side under another name for the same derivative, ∇_x f
            # and ∂f/∂x in mixed layout): one row, both rules
            if entries and entries[-1][1] == rhs and (lhs is None or same or lhs == entries[-1][0]) \
                    and entries[-1][3] == "= ":
                if label not in entries[-1][2]:
                    entries[-1][2].append(label)  # the same equality again: one row, both rules
                return
            entries.append([lhs, rhs, [label], "= "])

        from matcalc.render.steps import definitions, display_steps, label_of

        shown = display_steps(derivation.steps, drop_repeats=False)
        self.lecture = any(s.label and s.label[0] not in ("part", "held") for s in shown)
        for i, s in enumerate(shown, 1):
            if self.lecture:  # the lecture's steps: each row numbered, its rules in the legend under its number
                label = f"({prefix}{i})"  # prefix: "14." when a theorem shows the derivations of several lines
                self.legend.append((f"{label} {rule_label(s.rule)}", s.note or ""))
                defs = definitions(s, "latex")
                lhs = label_of(s, "latex")
                if defs is not None:
                    entries.append([None, defs, [label], ""])
                elif lhs is not None and (s.label[0] == "through" or lhs.endswith("\\text{:}")):
                    entries.append([lhs, to_latex(s.after), [label], "\\quad "])
                elif lhs is not None:
                    add(lhs, to_latex(s.after), label)
                else:
                    add(None, to_latex(s.after), label)
                prev_after, last_lhs = s.after, head
                continue
            label = rule_label(s.rule)
            if s.rule not in seen:
                seen.add(s.rule)
                self.legend.append((label, s.note or ""))
            if s.label and s.label[0] in ("part", "held"):  # one use's contribution: not an equation for the whole gradient
                entries.append([label_of(s, "latex"), to_latex(s.after), [label], "\\quad "])
                prev_after, last_lhs = s.after, None
                continue
            before = s.before
            if before is None:
                if prev_after is not None and s.after.shape == prev_after.shape and s.after != prev_after:
                    add(None, to_latex(s.after), label)
                    prev_after = s.after
                elif s.note:
                    self.notes.append(s.note)
                continue
            try:
                continues = prev_after is not None and (before == prev_after or s.cont)
            except RecursionError:
                continues = False
            if continues:
                add(None, to_latex(s.after), label)
            else:
                same = (isinstance(before, ir.Derivative) and isinstance(last_lhs, ir.Derivative)
                        and before.expr == last_lhs.expr and before.wrt == last_lhs.wrt)
                add(to_latex(before), to_latex(s.after), label, same)
                last_lhs = before
            prev_after = s.after
        try:
            ends = prev_after is not None and prev_after == derivation.result and (last_lhs == head or (
                isinstance(last_lhs, ir.Derivative) and isinstance(head, ir.Derivative) and last_lhs.kind != "hessian"
                and head.kind != "hessian" and last_lhs.expr == head.expr and last_lhs.wrt == head.wrt))
        except RecursionError:
            ends = False
        if not ends:
            add(to_latex(head), to_latex(derivation.result), "result")
        self.rows: list[str] = [
            (lhs + " &" if lhs is not None else "&") + sep + rhs + " && " + math_text(", ".join(labels))
            for lhs, rhs, labels, sep in entries
        ]

    def intro(self) -> str:
        if getattr(self, "lecture", False):
            return ("The derivation as the chain rule gives it: the outer and inner functions, the Jacobian of each "
                    "(numerator layout: a row for a scalar), their product, the algebra, the result; the rules of "
                    "each numbered step are listed below it:")
        return ("The steps of the rule engine, each with the rule that gives it. A nabla with a subscript u is the "
                "derivative of the output by the intermediate u, along the paths taken so far (where u is used "
                "several times, the paths are added up); J is a Jacobian, in numerator layout:")


def derivation_rows(head: ir.Expr, derivation: Any) -> list[str]:
    """The engine's steps as alignment rows (local rules, then the chain of equalities), each with its rule."""
    return DerivationView(head, derivation).rows


def _note_math(note: str) -> str:
    """A backward line's note in math mode, the names it lists set as names: ``BP2; the errors of h_{1} written in
    place``, never the raw ``h1``."""
    head, sep, rest = note.partition("the errors of ")
    names, sep2, tail = rest.partition(" written in place")
    if not (sep and sep2) or not all(n.replace("_", "").isalnum() for n in names.split(", ")):
        return math_text(note)
    return (math_text(head + sep) + " " + ", ".join(latex_name(n) for n in names.split(", "))
            + math_text(sep2 + tail))


def program_rows(prog: Any) -> list[str]:
    """The program form of a derivation (:mod:`matcalc.engine.program`) as alignment rows: the forward program,
    the backward program with each δ's rule, the gradients in terms of the δ's."""
    rows = [r"& " + math_text("forward program")]
    for ln in prog.forward:
        note = r" && " + math_text("new name") if ln.kind == "new" else ""
        rows.append(to_latex(ln.node) + " &= " + to_latex(ln.value) + note)
    if prog.cost_name is None:
        rows.append("C &= " + to_latex(prog.cost) + r" && " + math_text("the cost"))
    if prog.backward:
        rows.append(r"& " + math_text("backward program"))
    for ln in prog.backward:
        rows.append(to_latex(ln.node) + " &= " + to_latex(ln.value) + r" && " + _note_math(ln.note) + r",\ "
                    + to_latex(ln.node) + r" = \partial C / \partial " + latex_name(ln.of))
    rows.append(r"& " + math_text("gradients"))
    for g in prog.gradients:
        rows.append(r"\frac{\partial C}{\partial " + to_latex(g.wrt) + "} &= " + to_latex(g.result)
                    + (r" && " + math_text(g.note) if g.note else ""))
    return rows


def derive_head(res: Any, item: Any) -> ir.Expr:
    try:
        kind = "hessian" if getattr(item.derivation, "kind", "d") == "hessian" else "d"
        return ir.Derivative(res.expr, item.wrt, kind, res.layout)
    except Exception:  # noqa: BLE001 - a heading must not fail the document
        return item.wrt


def aligned(rows: list[str]) -> str:
    return "\\begin{aligned}\n" + " \\\\\n".join("  " + r for r in rows) + "\n\\end{aligned}"

"""The result records of matcalc: what a check, a derivation and a proof return, and how they say their verdict.

Contract: this module owns every result record — :class:`MethodResult` (one method's finding),
:class:`ClaimResult` (the verdict on one claim or step), :class:`CheckReport` (a document), :class:`DeriveResult`
with its :class:`DeriveItem` (a derivation and its numeric check), :class:`TheoremResult` and :class:`ProveResult`
(proofs) — with their ``verdict``, ``exit_code`` and ``to_json()``, :func:`overall`/:func:`exit_code` (SPEC
sections 5 and 6) and :func:`tally`, the one count of steps and claims every format prints. It computes no verdict of a claim (that is :mod:`matcalc.verify.judge`) and renders nothing: the
renderers in :mod:`matcalc.render` dispatch on these records, and the records' ``__str__``/``__rich__``/
``_repr_latex_``/``_repr_mimebundle_`` call them lazily, inside the method (the one designed hook back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matcalc import ir
    from matcalc.document import Document

VERDICTS = ("verified", "refuted", "inconclusive", "error")
STATUSES = ("equal", "different", "unknown", "error")

#: The one table of marks: a verdict's symbol and a method status's symbol, in every output format (the LaTeX
#: renderer maps each symbol to a macro).
MARK = {"verified": "✓", "refuted": "✗", "inconclusive": "?", "error": "✗"}
METHOD_MARK = {"equal": "✓", "different": "✗", "unknown": "?", "error": "✗"}


@dataclass
class MethodResult:
    """One method's finding: ``status`` is ``equal``, ``different``, ``unknown`` or ``error``."""

    status: str
    detail: str = ""
    #: an ``equal`` whose tolerance is far above float64 rounding (the sides lose digits: ``x + 1e12 - 1e12``), which
    #: shows little; the judge then asks more of the exact method (see ``verify/judge.exact_at_larger_sizes``)
    loose: bool = field(default=False, compare=False)

    def __repr__(self) -> str:
        return f"<MethodResult {self.status}>"

    def to_json(self) -> dict:
        return {"status": self.status, "detail": self.detail}


@dataclass(repr=False)
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
        return MARK[self.verdict]

    def __repr__(self) -> str:
        text = " ".join(self.text.split())
        text = text if len(text) <= 60 else text[:59] + "…"
        return f"<ClaimResult line {self.line} {self.verdict}: {text}>"

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


#: The order of badness of a document's verdicts (SPEC section 6): the overall verdict is the first one present.
VERDICT_ORDER = ("refuted", "error", "inconclusive", "verified")


def overall(verdicts: list[str]) -> str:
    """The document's verdict: the worst of its lines in the order refuted, error, inconclusive, verified."""
    for v in VERDICT_ORDER:
        if v in verdicts:
            return v
    return "verified"


def exit_code(verdict: str) -> int:
    """SPEC section 6: 0 verified, 1 refuted or in error, 3 inconclusive and nothing refuted."""
    return {"verified": 0, "refuted": 1, "error": 1, "inconclusive": 3}[verdict]


def is_step(r: ClaimResult) -> bool:
    """Whether a result is a line of a derivation chain: a step, or a line in error that was written as a step."""
    return r.kind == "step" or (r.kind == "error" and str(r.text).lstrip().startswith("="))


@dataclass(frozen=True)
class Tally:
    """The one count of a checked document that every format prints (text, Markdown, LaTeX, Gradescope, JSON).

    A step *follows* when it is verified against the line before it — after a wrong line too (a fair marker marks a
    slip once; ``after_wrong`` of them came after one). A step in ``error`` is a step that does not follow. Every
    other judged line (a claim, a claim in error) is a claim; problem checks (``kind="problem"``) are neither.
    """

    steps: int
    follow: int
    after_wrong: int
    claims: int
    verified: int

    def sentence(self) -> str:
        """``4 of 5 steps follow (2 after a wrong line); 1 of 1 claims verified``."""
        parts = []
        if self.steps:
            s = f"{self.follow} of {self.steps} steps follow"
            if self.after_wrong:
                s += f" ({self.after_wrong} after a wrong line)"
            parts.append(s)
        if self.claims or not self.steps:
            parts.append(f"{self.verified} of {self.claims} claims verified")
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {"steps": self.steps, "steps_follow": self.follow, "after_wrong_line": self.after_wrong,
                "claims": self.claims, "claims_verified": self.verified}


def tally(results: list[ClaimResult]) -> Tally:
    """The counts of :class:`Tally` for a document's results."""
    steps = [r for r in results if is_step(r)]
    claims = [r for r in results if not is_step(r) and r.kind != "problem"]
    follow = [r for r in steps if r.verdict == "verified"]
    return Tally(len(steps), len(follow), sum(r.after_wrong is not None for r in follow), len(claims),
                 sum(r.verdict == "verified" for r in claims))


class Renderable:
    """Mixin for result objects: plain text (``str``), rich (``__rich__``) and Jupyter (LaTeX, Markdown) renderings
    through :mod:`matcalc.render`, imported only when a rendering is asked for. ``__repr__`` stays one short line
    (each record defines its own), so a list of results in a notebook does not dump the records' fields."""

    def __rich__(self):
        from matcalc.render.text import render

        return render(self)

    def __str__(self) -> str:
        from matcalc.render.text import to_plain

        return to_plain(self)

    def as_text(self, *, full: bool = False, width: int = 100) -> str:
        """The plain-text report (``str(result)``); ``full`` shows every value and entry of a counterexample (as
        the command line's ``--full``)."""
        from matcalc.render.text import to_plain

        return to_plain(self, width=width, full=full)

    def _repr_latex_(self) -> str:
        from matcalc.render.latex import fragment

        return fragment(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """One display in a notebook: the text report, its LaTeX and its Markdown (bold titles, no headings, so
        the notebook's outline is not filled with one heading per result)."""
        from matcalc.render.markdown import markdown

        return {"text/plain": str(self), "text/latex": self._repr_latex_(),
                "text/markdown": markdown(self, headings=False)}


def _tally(verdicts: list[str], noun: str) -> str:
    ok = sum(v == "verified" for v in verdicts)
    return f"{ok} of {len(verdicts)} {noun}{'' if len(verdicts) == 1 else 's'} verified"


@dataclass(repr=False)
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

    def __repr__(self) -> str:
        return f"<CheckReport {self.verdict}: {tally(self.results).sentence()}>"

    @property
    def exit_code(self) -> int:
        return exit_code(self.verdict)

    @property
    def tally(self) -> Tally:
        return tally(self.results)

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "claims": [r.to_json() for r in self.results],
                "counts": self.tally.to_json(), "summary": self.tally.sentence()}


# ───────────────────────────── derive ─────────────────────────────


@dataclass(repr=False)
class DeriveItem:
    wrt: ir.Expr
    derivation: Any  # matcalc.engine.Derivation
    numeric: MethodResult

    def __repr__(self) -> str:
        from matcalc.printing import to_text

        return f"<DeriveItem d/d{to_text(self.wrt)}: {self.numeric.status}>"


@dataclass(repr=False)
class DeriveResult(Renderable):
    expr: ir.Expr
    items: list[DeriveItem]
    layout: str
    inferred: list[str] = field(default_factory=list)
    seconds: float = 0.0
    document: Document | None = None
    #: the program form (a :class:`matcalc.engine.program.Program`) when the derivatives are backpropagation
    program: Any = None

    @property
    def verdict(self) -> str:
        if any(i.numeric.status == "different" for i in self.items):
            return "refuted"
        if all(i.numeric.status == "equal" for i in self.items):
            return "verified"
        return "inconclusive"

    def __repr__(self) -> str:
        from matcalc.printing import to_text

        wrt = ", ".join(to_text(i.wrt) for i in self.items)
        return f"<DeriveResult {self.verdict}: d/d({wrt}) of {to_text(self.expr)}>"

    @property
    def exit_code(self) -> int:
        # A derivation that the numeric check contradicts is an engine fault; say so loudly with status 1.
        return {"verified": 0, "refuted": 1, "inconclusive": 3}[self.verdict]

    def to_json(self) -> dict:
        from matcalc.printing import to_latex, to_text
        from matcalc.render.steps import json_step

        return {
            "verdict": self.verdict,
            "expression": to_text(self.expr),
            "layout": self.layout,
            "inferred": self.inferred,
            "derivatives": [
                {
                    "wrt": to_text(i.wrt),
                    "order": 2 if i.derivation.kind == "hessian" else 1,
                    "result": to_text(i.derivation.result),
                    "latex": to_latex(i.derivation.result),
                    "shape": list(map(str, i.derivation.result.shape)),
                    **({"where": [{"name": n.name, "value": to_text(n.value), "latex": to_latex(n.value)}
                                  for n in i.derivation.where]} if getattr(i.derivation, "where", ()) else {}),
                    "steps": [json_step(s) for s in i.derivation.steps],
                    "numeric": i.numeric.to_json(),
                }
                for i in self.items
            ],
            **({"program": program_json(self.program)} if self.program is not None else {}),
        }


def program_json(program) -> list[dict]:
    """The program's lines for ``--format json``: name, value, kind (``let``, ``new``, ``cost``, ``delta``,
    ``gradient``) and note (the rule: BP1…BP4, or what the line is). The names are the text output's
    (:func:`matcalc.render.common.program_rows`): ``C`` for an unnamed cost, ``∂C/∂W1`` for a gradient."""
    from matcalc.printing import to_text

    out = [{"name": ln.name, "value": to_text(ln.value), "kind": ln.kind, "note": line_note(ln, program)}
           for ln in program.forward]
    if program.cost_name is None:
        out.append({"name": "C", "value": to_text(program.cost), "kind": "cost", "note": "the cost"})
    out += [{"name": ln.name, "value": to_text(ln.value), "kind": "delta", "note": line_note(ln, program)}
            for ln in program.backward]
    out += [{"name": f"∂C/∂{g.wrt.name}", "value": to_text(g.result), "kind": "gradient", "note": g.note}
            for g in program.gradients]
    return out


def line_note(ln, program) -> str:
    """What a program line is: a new name, or a δ with its rule and the derivative it is."""
    if ln.kind == "new":
        return "new name"
    if ln.kind == "let" and ln.name == program.cost_name:
        return "the cost"
    if ln.kind == "delta":
        return f"{ln.note}; {ln.name} = ∂C/∂{ln.of}"
    return ""


# ───────────────────────────── prove ─────────────────────────────


@dataclass(repr=False)
class TheoremResult(Renderable):
    name: str
    title: str
    source: str
    part: str
    document: Document
    report: CheckReport
    derivations: list  # (line, Derivative node, Derivation) for each derivative in a claim's left side
    seconds: float

    @property
    def verdict(self) -> str:
        if not self.report.results:
            return "inconclusive"
        return self.report.verdict

    def __repr__(self) -> str:
        return f"<TheoremResult {self.name} {self.verdict}: {tally(self.report.results).sentence()}>"

    def methods_summary(self) -> str:
        """Which methods decided, e.g. ``symbolic ✓ · exact ✓ · numeric ✓``, for the summary table."""
        counts: dict[str, list[str]] = {}
        for r in self.report.results:
            for k, m in r.methods.items():
                counts.setdefault(k, []).append(m.status)
        parts = []
        for k in ("symbolic", "exact", "numeric"):
            sts = counts.get(k, [])
            if not sts:
                continue
            eq = sum(s == "equal" for s in sts)
            status = "equal" if eq == len(sts) else "different" if "different" in sts else "unknown"
            mark = METHOD_MARK[status]
            parts.append(f"{k} {mark} {eq}/{len(sts)}")
        return " · ".join(parts)


@dataclass(repr=False)
class ProveResult(Renderable):
    theorems: list[TheoremResult]
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return overall([t.verdict for t in self.theorems])

    def __repr__(self) -> str:
        return f"<ProveResult {self.verdict}: {_tally([t.verdict for t in self.theorems], 'theorem')}>"

    @property
    def exit_code(self) -> int:
        return exit_code(self.verdict)

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict,
            "theorems": [
                {"name": t.name, "title": t.title, "source": t.source, "verdict": t.verdict,
                 "seconds": round(t.seconds, 3), **t.report.to_json()}
                for t in self.theorems
            ],
        }

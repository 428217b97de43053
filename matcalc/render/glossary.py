"""What a LaTeX document explains once: how to read a derivation, and the glossary of the rules its steps use.

Contract: :class:`Glossary` collects the legends of the derivations of one document (label → the rule's note, the
first note of a label kept, written generically); :func:`reading_guide` is the explanatory paragraph set once at the
top of a document; :meth:`Glossary.latex` the glossary set once at its end, each note's formulas as mathematics
(:func:`matcalc.render.tex.prose_math`). Imports nothing heavy.
"""

from __future__ import annotations

import re

from matcalc.render.tex import escape_text, prose_math

READING_GUIDE = (
    "Each derivation is written as the chain rule gives it: the outer and inner functions, the derivative of each "
    "link (numerator layout: a row for a scalar by a vector), their product, one step of algebra, the result. Where "
    "a variable occurs several times, the contribution through each occurrence is shown, then their sum. The rules "
    "of the numbered steps are listed after the derivations, each rule once."
)
#: said only where such a trace is shown
ENGINE_GUIDE = (
    " In the longer traces of the rule engine, a nabla with a subscript u is the derivative of the output by the "
    "intermediate u along the paths taken so far, and J is a Jacobian, in numerator layout."
)


def engine_traces(derivations) -> bool:
    """Whether any of ``derivations`` is shown as the rule engine's trace (steps without the lecture's labels)
    rather than as a lecture (outer and inner functions, their Jacobians, the product)."""
    return any(not getattr(s, "label", ()) and s.rule != "algebra" for d in derivations for s in d.steps)

#: (LaTeX, not escaped: a fixed text with its formulas set as mathematics)
PROGRAM_GUIDE = (
    "The derivatives are computed as a program, the way backpropagation is taught (Nielsen, chapter 2). The forward "
    "program names each intermediate value; the input of a function that is a product gets a new name $z$. The "
    "backward program gives each named value $v$ its error $\\delta_{v} = \\partial C / \\partial v$, shaped like $v$: "
    "BP1 starts from the cost $C$, BP2 takes a layer's error from the next one's, a value used several times sums "
    "the errors of its consumers, and BP4 gives the gradient by a weight as an error times a transposed input. Each "
    "line is checked against the derivative it stands for."
)

METHODS_GUIDE = (
    "Every claim and every step is judged by three independent methods: symbolic (the two sides reduced to "
    "a normal form at generic sizes), exact (entry by entry with SymPy at concrete sizes) and numeric (finite "
    "differences at random points). A line is verified when the exact method, or the numeric method together with "
    "the normal form, shows the sides equal and no method disagrees; it is refuted, with a counterexample, when the "
    "exact method or a confirmed numeric difference shows that they differ; otherwise it is inconclusive."
)


def reading_guide(*, derivations: bool, evidence: bool, program: bool = False, engine: bool = True) -> str:
    """The explanatory paragraphs, once per document (text mode LaTeX); ``program``: the derivatives are a forward and
    a backward program (backpropagation), not chain-rule traces; ``engine``: a rule engine's trace is shown."""
    out = []
    if derivations:
        out.append(PROGRAM_GUIDE if program else escape_text(READING_GUIDE + (ENGINE_GUIDE if engine else "")))
    if evidence:
        out.append(escape_text(METHODS_GUIDE))
    return "\n\n".join(out) + ("\n\n" if out else "")


#: What a step does, for the steps whose own note only repeats their label.
EXPLAIN = {
    "inner derivatives first": "a derivative inside the expression is worked out first; the outer derivative is then "
                               "taken of the result",
}


def _generic(label: str, note: str) -> str:
    """A legend note as a glossary entry: the rule itself, not the step's bookkeeping or this derivation's names."""
    note = note.split(" · ")[0].strip()  # a merged tidy step ("… · I A = A") has its own entry
    low, lab = note.lower(), label.lower()
    if low.startswith(lab) and len(note) > len(label) and note[len(label)] in ":,":
        note = note[len(label) + 1:].strip()  # the label said twice: "Jacobian chain rule: Jacobian chain rule: …"
    note = re.sub(r"the outer function of u = [^,;]+,", "the outer function of the inner one,", note)
    if note.lower().rstrip(".") == label.lower():
        note = EXPLAIN.get(label, "")  # the label said it all: explain, or say nothing twice
    return note


_NUMBER = re.compile(r"^\((\d+)(?:\.(\d+))?\) ")


def _number_key(label: str) -> tuple:
    """Numbered steps in their order ((14.2) before (14.10)), then the rules named without a number, A to Z."""
    m = _NUMBER.match(label)
    if m:
        return (0, int(m.group(1)), int(m.group(2) or 0), "")
    return (1, 0, 0, label.lower())


class Glossary:
    """The rules used by some derivations, each stated once: the numbered steps that use the same rule share one
    entry (``(14.2) Jacobian; (15.1) result``), a rule named without a number is listed once under its name."""

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}  # the entry's first label → the rule's statement
        self.labels: dict[str, list[str]] = {}  # the entry's first label → every label that uses it

    def add(self, legend: list[tuple[str, str]]) -> None:
        for label, note in legend:
            if label in self.entries:
                continue
            text = _generic(label, note or "")
            same = next((k for k, t in self.entries.items() if text and _NUMBER.match(label) and _NUMBER.match(k)
                         and _same_rule(_stated(k, t), _stated(label, text))), None)
            if same is None:
                self.entries[label] = text
                self.labels[label] = [label]
                continue
            if len(_stated(label, text)) > len(_stated(same, self.entries[same])):
                self.entries[same] = text  # the fuller statement of the same rule
            self.labels[same].append(label)

    def latex(self, *, sectioned: bool = True, title: str = "Rules used.") -> str:
        if not self.entries:
            return ""
        head = ("\\section*{Glossary of rules}\n\\addcontentsline{toc}{section}{Glossary of rules}\n" if sectioned
                else "\\paragraph{" + escape_text(title) + "}\n")
        out = [head, "{\\small\\begin{description}\n"]
        for label in sorted(self.entries, key=_number_key):
            text = _stated(label, self.entries[label])
            also = _also(self.labels[label])
            out.append(r"\item[{" + escape_text(label) + "}] " + prose_math(text)
                       + (escape_text(f" (also {also})") if also else "") + "\n")
        out.append("\\end{description}}\n")
        return "".join(out)


def _name(label: str) -> str:
    return label.split(") ", 1)[1] if label.startswith("(") and ") " in label else label


def _stated(label: str, text: str) -> str:
    """An entry's statement without its label's name said again."""
    name = _name(label)
    if text.startswith(name + " ") or text.startswith(name + ":"):  # not the label twice
        text = text[len(name):].lstrip(" :")
    return text


def _same_rule(a: str, b: str) -> bool:
    """Two statements of one rule: equal, or one the other with more said after a "," or ";"."""
    a, b = a.strip(), b.strip()
    if not a or not b:
        return False
    short, long_ = sorted((a, b), key=len)
    return long_ == short or (long_.startswith(short) and long_[len(short)] in ",;")


def _also(labels: list[str]) -> str:
    """The other steps that use an entry's rule, after its statement (a list that wraps, not a label too wide for
    the page): ``(26.3), (27.3)``, each with its name where the name differs from the first's (``(15.1) result``)."""
    first = _name(labels[0])
    return ", ".join(x if _name(x) != first else x.split(" ", 1)[0] for x in labels[1:])

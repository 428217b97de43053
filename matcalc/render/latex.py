"""LaTeX output: complete documents and Jupyter fragments.

Contract: :func:`document` turns a :class:`~matcalc.results.CheckReport`, a :class:`~matcalc.results.DeriveResult` or
a :class:`~matcalc.results.ProveResult` into a complete LaTeX document (article class; the packages ``amsmath``,
``amssymb``, ``amsthm``, ``bm`` and ``hyperref`` only, all in Debian's ``texlive-latex-base``); :func:`rules_document` does the same
for the rule table. :func:`fragment` gives a ``$$\\begin{aligned} … \\end{aligned}$$`` block for Jupyter's
``_repr_latex_`` that KaTeX and MathJax both accept (no ``align*``, no ``\\DeclareMathOperator``, no ``\\bm``).
The alignment rows come from :mod:`matcalc.render.rows`, the escaping from :mod:`matcalc.render.tex`; compiling a
document to PDF is :mod:`matcalc.render.pdf`.

Safety: every expression is re-printed from the IR by :func:`matcalc.printing.to_latex`; never the user's text. Every
other string (titles, sources, details, diagnoses, file names) goes through :func:`escape_text` (text mode) or
:func:`math_text` (math mode), which escape the LaTeX specials and map Unicode to LaTeX macros, so the documents are
pure ASCII and nothing from the input reaches pdflatex raw (``\\input{/etc/passwd}`` in a title prints as text).
"""

from __future__ import annotations

import re
from typing import Any

from matcalc import ir
from matcalc.document import Claim, Declaration, FuncDecl, LayoutSetting, Let
from matcalc.printing import latex_name, to_latex
from matcalc.render.common import counterexample_items, step_note
from matcalc.render.steps import where_text
from matcalc.render.rows import (
    METHOD_MATH,
    VERDICT_MATH,
    DerivationView,
    aligned,
    claim_math,
    derivation_rows,
    derive_head,
    summary_sentence,
    chain_rows,
)
from matcalc.render.glossary import Glossary, engine_traces, reading_guide
from matcalc.render.tex import ascii_only, escape_text, formula_math, math_text, prose_math
from matcalc.results import CheckReport, ClaimResult, DeriveResult, ProveResult, TheoremResult

__all__ = ["document", "fragment", "rules_document", "escape_text", "math_text", "formula_math", "PART_TITLES"]

#: Sections of ``prove all`` follow the lecture's parts (THEOREMS.md).
PART_TITLES = {
    "1": "Gradients and Jacobians",
    "2": "Neurons and layers",
    "3": "Cost derivatives",
    "4": "Backpropagation",
    "exercises": "Exercises",
    "other": "Further theorems",
}


# ───────────────────────────── small pieces ─────────────────────────────


def _dim(d: Any) -> str:
    if isinstance(d, int):
        return str(d)
    parts = []
    for p in str(d).split("*"):
        parts.append(p if p.isdigit() else latex_name(p))
    return r" \cdot ".join(parts) if len(parts) > 1 and any(p.isdigit() for p in str(d).split("*")) else " ".join(parts)


def _space(shape: tuple) -> str:
    r, c = shape
    if r == 1 and c == 1:
        return r"\mathbb{R}"
    if c == 1:
        return r"\mathbb{R}^{" + _dim(r) + "}"
    return r"\mathbb{R}^{" + _dim(r) + r" \times " + _dim(c) + "}"


def _shape_text(shape: tuple) -> str:
    r, c = shape
    if r == 1 and c == 1:
        return r"\text{scalar}"
    return _dim(r) + r" \times " + _dim(c)


def decl_latex(v: Any) -> str:
    """A declared variable or function as math: ``W \\in \\mathbb{R}^{n \\times m}``, ``\\sigma\\colon …``."""
    if isinstance(v, FuncDecl):
        dom = r"\mathbb{R}" if v.kind == "entrywise" else r"\mathbb{R}^{" + _dim(v.dim) + "}"
        return latex_name(v.name) + r"\colon " + dom + r" \to \mathbb{R}"
    if isinstance(v, ir.Var):
        out = latex_name(v.name) + r" \in " + _space(v.shape)
        if v.props:
            out += r"\ \text{(" + ", ".join(sorted(_PROP_WORDS.get(p, "?") for p in v.props)) + ")}"
        return out
    return math_text(str(v))


_PROP_WORDS = {"symmetric": "symmetric", "spd": "positive definite", "diagonal": "diagonal",
               "positive": "positive entries", "probability": "a probability vector"}


# ───────────────────────────── chains and evidence ─────────────────────────────


_INVISIBLE = re.compile(r"\\(?:left|right|mathit|mathrm|mathbf|operatorname|text|quad|qquad|colon)\b|\\[,;! ]")


def visible_length(tex: str) -> int:
    """A rough count of the glyphs ``tex`` typesets (a macro counts as one), to keep displays on the page."""
    t = _INVISIBLE.sub("", tex)
    t = re.sub(r"\\[a-zA-Z]+", "x", t)
    return len(re.sub(r"[{}\s^_&]", "", t))


_BINARY = re.compile(r"\\(?:odot|otimes|oslash|cdot|times|circ)\b|(?<![{(\[,=&^_])\s*[+-]")
_RELATION = re.compile(r"\\longmapsto\b|\\(?:le|ge|ne|approx|mapsto|to)\b|=")


def display_width(tex: str) -> float:
    """A rough width in points at 11pt of the math ``tex``.

    A linear model of the glyph counts (relations, binary operators, other macros, plain characters, script
    characters, brackets, fractions) fitted by least squares to the widths pdflatex measured for the displays of
    ``matcalc prove all``; it is within 20 % for 95 % of them, hence the margin in :func:`_align`.
    """
    t = _INVISIBLE.sub("", tex)
    n_rel = len(_RELATION.findall(t))
    t = _RELATION.sub(" ", t)
    n_bin = len(_BINARY.findall(t))
    t = _BINARY.sub(" ", t)
    n_br = len(re.findall(r"[()\[\]]", t))
    n_frac = len(re.findall(r"\\frac\b", t))
    n_macro = len(re.findall(r"\\[a-zA-Z]+", t)) - n_frac
    t = re.sub(r"\\[a-zA-Z]+", "", t)
    scripts = sum(len(re.sub(r"[{}\s]", "", m)) for m in re.findall(r"[\^_]\{([^{}]*)\}", t))
    plain = len(re.sub(r"[{}\s^_&()\[\]]", "", t)) - scripts
    return max(0.0, 14.4 * n_rel + 13.7 * n_bin + 9.0 * n_macro + 5.4 * plain + 7.7 * scripts + 5.7 * n_br
               - 8.6 * n_frac)


#: Widths at 11pt: a character of annotation text, the text width (16.5 cm), the gap before the annotation column.
TEXT_PT, LINE_PT, COLUMN_GAP_PT, MATH_MARGIN = 5.0, 468.0, 22.0, 0.88
#: Font sizes for wide displays, with their scale.
FONT_STEPS = ((0.73, "\\scriptsize"), (0.82, "\\footnotesize"), (0.91, "\\small"))


def _split_row(body: str) -> str:
    """``L &= R`` as two rows, ``& L`` then ``&= R``, for a display too wide for one line."""
    left, amp, right = body.partition("&")
    if not amp:
        return "& " + body  # a chain's first line: at the alignment point, the "= …" rows under it
    if not left.strip():
        return body
    return "& " + left.strip() + " \\\\\n    &" + right


def _align(rows: list[str], env: str = "align*") -> str:
    """An ``align*`` block with the annotations in a column (``&& \\text{rule}``).

    When a row and its annotation would not fit the line, the block's annotations become ``\\tag*{…}`` (amsmath
    sets a tag on the next line when the row is too long); when the rows themselves are too wide, each ``L &= R``
    is set as ``L`` on one line and ``= R`` on the next; a block still wider than the line gets a smaller font.
    """
    split = [r.partition(" && ") for r in rows]
    left = [display_width(body.partition("&")[0]) for body, _, _ in split]
    right = [display_width(body.partition("&")[2]) for body, _, _ in split]
    notes = [len(re.sub(r"\\[a-zA-Z]+|[{}\\]", "", ann)) * TEXT_PT if sep else 0.0 for _, sep, ann in split]
    # the math widths are estimates (within 20 % for 95 % of the lecture's rows): count them 12 % wider
    body_width = (max(left, default=0.0) + max(right, default=0.0)) / MATH_MARGIN
    col = body_width + max(notes, default=0.0) + (COLUMN_GAP_PT if any(notes) else 0.0)
    line = LINE_PT
    if col <= line:
        out, widest = rows, col
    elif body_width <= line:
        # a chain's first line (no "&") at the alignment point, the "= …" rows under it: the left column stays
        # narrow, so the annotations keep to the rows' lines
        out = [("& " + body if "&" not in body else body) + (r" \tag*{$" + ann + "$}" if sep else "")
               for body, sep, ann in split]
        widest = body_width
    else:
        out = [_split_row(body) + (r" \tag*{$" + ann + "$}" if sep else "") for body, sep, ann in split]
        widest = max(max(left, default=0.0), max(right, default=0.0)) / MATH_MARGIN + 20.0
    text = "\\begin{" + env + "}\n" + " \\\\\n".join("  " + r for r in out) + "\n\\end{" + env + "}\n"
    if widest > line:
        size = FONT_STEPS[0][1]
        for scale, name in reversed(FONT_STEPS):
            if widest * scale <= line:
                size = name
                break
        return "{" + size + "\n" + text + "}\n"
    return text


def methods_items(methods: dict) -> list[tuple[str, str, str]]:
    """(method name, status macro, detail text) in the order symbolic, exact, numeric."""
    out = []
    for name in ("symbolic", "exact", "numeric"):
        m = methods.get(name)
        if m is not None:
            out.append((name, METHOD_MATH.get(m.status, r"\text{?}"), m.detail or ""))
    return out


def problem_check_latex(r: Any) -> str:
    """A check of the teacher's problem by its name, as the terminal names it: ``ends in a closed form``,
    ``starts from the problem`` and the problem typeset."""
    prefix = "starts from the problem"
    if r.text.startswith(prefix) and r.lhs is not None:
        return escape_text(prefix) + " $" + to_latex(r.lhs) + "$"
    return escape_text(r.text)


_INSTANTIATIONS = re.compile(r"(instantiations? of )\(([A-Za-z][A-Za-z0-9_]*(?:, [A-Za-z][A-Za-z0-9_]*)*)\)")


def detail_latex(detail: str) -> str:
    """A method's evidence as text, the declared functions it names set as the document sets them (``(σ, C)``, not
    ``(sigma, C)``)."""
    out, pos = [], 0
    for m in _INSTANTIATIONS.finditer(detail):
        out.append(escape_text(detail[pos:m.start()]) + escape_text(m.group(1)))
        out.append("$(" + ", ".join(latex_name(n) for n in m.group(2).split(", ")) + ")$")
        pos = m.end()
    out.append(escape_text(detail[pos:]))
    return "".join(out)


def note_latex(note: str) -> str:
    """A note on how a line was read (part of its verdict), as LaTeX text with its formulas set as mathematics."""
    return r"\textbf{Note:} " + prose_math(note)


def _evidence(results: list) -> str:
    if not results:
        return ""
    out = ["{\\small\\begin{description}"]
    for r in results:
        head = f"Line {r.line}" + (", " + problem_check_latex(r) if r.kind == "problem" else "")
        out.append(r"\item[{" + head + r"}] $" + VERDICT_MATH[r.verdict] + "$ " + escape_text(r.verdict))
        lines = []
        if r.verdict == "error" and r.error:
            lines.append(r"\texttt{" + escape_text(str(r.error).split("\n")[0]) + "}")
        note = step_note(r)
        if note:
            lines.append(escape_text(note.capitalize() if not note[:1].isupper() else note) + ".")
        if r.diagnosis:
            lines.append(r"\textbf{Diagnosis:} " + prose_math(r.diagnosis))
        lines.extend(note_latex(n) for n in r.notes)
        cx = counterexample_items(r.counterexample, flag=False)  # a PDF's reader cannot pass --full
        if cx:
            lines.append(r"\textbf{Counterexample:} " + "; ".join(prose_math(c) for c in cx) + ".")
        if lines:
            out.append("\\\\ " + "\\\\\n".join(lines))
        meths = methods_items(r.methods)
        if meths:
            out.append("\\begin{itemize}")
            for name, mark, detail in meths:
                out.append(r"\item \emph{" + name + r"} $" + mark + "$ " + detail_latex(detail))
            out.append("\\end{itemize}")
    out.append("\\end{description}}")
    return "\n".join(out) + "\n"


def claims_together(chains: list[list[str]]) -> list[list[str]]:
    """Consecutive claims (chains of one ``L &= R`` row) in one display, so their ``=`` and verdicts line up."""
    out: list[list[str]] = []
    filling = False  # the last display holds claims only
    for rows in chains:
        single = len(rows) == 1 and " &= " in rows[0] and not rows[0].startswith("&")
        if single and filling:
            out[-1].append(rows[0])
            continue
        out.append(list(rows))
        filling = single
    return out


def _notes_paragraph(results: list) -> str:
    """A handout's notes on how lines were read (it has no evidence section, and a note is part of a verdict)."""
    items = [f"Line {r.line}: " + prose_math(n) for r in results if r.kind != "problem" for n in r.notes]
    if not items:
        return ""
    return r"\paragraph{Notes.} " + "\\\\\n".join(items) + "\n"


def _verdict_paragraph(report: Any) -> str:
    v = report.verdict
    return (r"\paragraph{Verdict.} $" + VERDICT_MATH[v] + "$ \\textbf{" + escape_text(v) + "}: "
            + escape_text(summary_sentence(report)) + ".\n")


# ───────────────────────────── document parts ─────────────────────────────


def _decl_paragraph(doc: Any) -> str:
    if doc is None:
        return ""
    items: list[str] = []
    for s in doc.statements:
        if isinstance(s, Declaration):
            items.extend("$" + decl_latex(v) + "$" for v in s.names)
    out = ""
    if items:
        out += r"\paragraph{Given.} " + ", ".join(items) + ".\n"
    if doc.env.inferred:
        out += r"\paragraph{Inferred.} " + "; ".join(escape_text(x) for x in doc.env.inferred) + ".\n"
    return out


def _let_rows(doc: Any) -> list[str]:
    if doc is None:
        return []
    return [latex_name(s.name) + " &= " + to_latex(s.value) for s in doc.statements
            if isinstance(s, Let) and s.value is not None]


def _layout_settings(doc: Any) -> list[tuple[int, str]]:
    if doc is None:
        return []
    return [(int(s.line), s.layout) for s in doc.statements if isinstance(s, LayoutSetting)]


def _layouts(doc: Any) -> list[str]:
    if doc is None:
        return []
    return [s.layout for s in doc.statements if isinstance(s, LayoutSetting)]


def _derivation_latex(view: DerivationView, glossary: Glossary) -> str:
    """The derivation as an ``align*`` block; its rules go to ``glossary`` (a theorem's "Rules used", or a
    derivative's)."""
    out: list[str] = []
    for n in view.notes:
        out.append(r"\noindent\textit{Note:} " + prose_math(n) + "\n\n")
    out.append(_align(view.rows) + "\n")
    glossary.add(view.legend)
    return "".join(out)


def _theorem_body(t: Any, *, sectioned: bool, handout: bool = False) -> str:
    doc = t.document
    report = t.report
    out: list[str] = []
    title = t.title or t.name
    if sectioned:
        out.append(r"\subsection{" + escape_text(title) + "}\n")
    head = r"\noindent\texttt{" + escape_text(t.name) + "}"
    if t.part:
        head += r" \quad \textit{Lecture part:} " + escape_text(t.part)
    if t.source:
        head += r" \quad \textit{Source:} " + escape_text(t.source)
    layouts = _layout_settings(doc)
    if layouts:
        head += r" \quad \textit{Layout:} mixed" + "".join(
            f"; {escape_text(lay)} from line {line}" for line, lay in layouts)
    out.append(head + ".\n")
    out.append(r"\begin{theorem}[{" + escape_text(title) + r"}]" + "\n")
    decls = []
    if doc is not None:
        for s in doc.statements:
            if isinstance(s, Declaration):
                decls.extend("$" + decl_latex(v) + "$" for v in s.names)
    if decls:
        out.append("Let " + ", ".join(decls) + ".\n")
    lets = _let_rows(doc)
    if lets:
        out.append("Define\n" + _align(lets))
    claims = [s for s in (doc.statements if doc is not None else []) if isinstance(s, Claim)
              and s.lhs is not None and s.rhs is not None]
    if claims:
        out.append(("Then\n" if decls or lets else "") + _align([claim_math(c.lhs, c.rhs, c.free) for c in claims]))
    out.append("\\end{theorem}\n")
    verified = t.verdict == "verified"
    out.append("\\begin{proof}[Proof (checked by matcalc)]\n" if verified else
               "\\paragraph{Attempted proof (not verified).}\n")
    several = len(t.derivations) > 1
    rules = Glossary()  # the rules of this theorem's numbered steps, listed under its derivations
    for line, node, d in t.derivations:  # each distinct derivative once (matcalc.api._engine_derivations)
        out.append(f"The rule engine derives the left-hand side of line {int(line)}:\n")
        out.append(_derivation_latex(DerivationView(node, d, prefix=f"{int(line)}." if several else ""), rules))
    out.append(rules.latex(sectioned=False))
    chains = chain_rows(report.results, error_messages=False)
    if chains:
        out.append("\n\\noindent The claims and the steps of the derivation, each judged by matcalc:\n")
        for rows in claims_together(chains):
            out.append(_align(rows))
    if report.results and not handout:
        out.append("\n\\noindent The evidence for each line, from the three methods:\n")
        out.append(_evidence(report.results))
    elif handout:
        out.append(_notes_paragraph(report.results))
    out.append(_verdict_paragraph(report))
    out.append("\\end{proof}\n" if verified else "")
    return "".join(out)


def _preamble(title: str, *, toc: bool = False, numbered_theorems: str = "") -> str:
    return (
        "% Generated by matcalc. Compile with: pdflatex -interaction=nonstopmode -halt-on-error FILE.tex\n"
        "\\documentclass[11pt]{article}\n"
        "\\usepackage{amsmath}\n"
        "\\usepackage{amssymb}\n"
        "\\usepackage{amsthm}\n"
        "\\usepackage{bm}\n"
        "\\setlength{\\textwidth}{16.5cm}\n"
        "\\setlength{\\oddsidemargin}{0cm}\n"
        "\\setlength{\\evensidemargin}{0cm}\n"
        "\\setlength{\\textheight}{23cm}\n"
        "\\setlength{\\topmargin}{-1.5cm}\n"
        "\\allowdisplaybreaks\n"
        "\\sloppy\n"
        "\\renewcommand{\\labelitemi}{$\\bullet$}\n"  # the default \\textbullet needs a TS1 bitmap font
        f"\\newtheorem{{theorem}}{{Theorem}}{numbered_theorems}\n"
        # links in the table of contents and PDF bookmarks (hyperref is in texlive-latex-base); loaded last
        "\\usepackage[hidelinks,bookmarksnumbered]{hyperref}\n"
        f"\\title{{{title}}}\n"
        "\\author{matcalc}\n"
        "\\date{}\n"
        "\\begin{document}\n"
        "\\maketitle\n"
        + ("\\tableofcontents\n" if toc else "")
    )


_END = "\\end{document}\n"


def _part_key(part: str) -> str:
    p = (part or "").strip().lower()
    if p.startswith("ex"):
        return "exercises"
    m = re.match(r"(\d+)", p)
    if m and m.group(1) in PART_TITLES:
        return m.group(1)
    return "other"


def _summary_table(theorems: list, handout: bool = False) -> str:
    """The table of verdicts (a handout leaves out the methods' counts, which are evidence)."""
    out = ["\\section*{Summary}\n", "\\addcontentsline{toc}{section}{Summary}\n"]
    chunk = 20  # a tabular does not break across pages: several short ones
    spec, head = (("l p{7.5cm} l r", "name & title & verdict & time") if handout else
                  ("l p{4.8cm} l p{4.0cm} r", "name & title & verdict & methods & time"))
    for start in range(0, len(theorems), chunk):
        out.append("\\begin{center}\\small\n\\begin{tabular}{" + spec + "}\n\\hline\n"
                   + head + " \\tabularnewline\n\\hline\n")
        for t in theorems[start:start + chunk]:
            cells = [escape_text(t.name), "\\raggedright " + escape_text(t.title),
                     "$" + VERDICT_MATH[t.verdict] + "$ " + escape_text(t.verdict)]
            if not handout:
                cells.append("\\raggedright " + escape_text(t.methods_summary()))
            cells.append(escape_text(f"{t.seconds:.2f} s"))
            out.append(" & ".join(cells) + " \\tabularnewline\n")
        out.append("\\hline\n\\end{tabular}\n\\end{center}\n")
    counts: dict[str, int] = {}
    for t in theorems:
        counts[t.verdict] = counts.get(t.verdict, 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in counts.items())
    out.append(escape_text(f"{len(theorems)} theorems: {tally}.") + "\n")
    return "".join(out)


def _prove_document(res: Any, handout: bool = False) -> str:
    theorems = list(res.theorems)
    guide = reading_guide(derivations=any(t.derivations for t in theorems), evidence=not handout,
                          engine=engine_traces(d for t in theorems for _line, _node, d in t.derivations))
    if len(theorems) == 1:
        t = theorems[0]
        title = escape_text(t.title or t.name)
        body = _theorem_body(t, sectioned=False, handout=handout)
        return ascii_only(_preamble(title) + "\\noindent " + guide + "\n" + body + _END)
    body: list[str] = ["\\section*{How to read this document}\n",
                       "\\addcontentsline{toc}{section}{How to read this document}\n", guide]
    groups: dict[str, list] = {}
    for t in theorems:
        groups.setdefault(_part_key(t.part), []).append(t)
    order = ["1", "2", "3", "4", "exercises", "other"]
    for key in order:
        if key not in groups:
            continue
        body.append(r"\section{" + escape_text(PART_TITLES[key]) + "}\n")
        for t in groups[key]:
            body.append(_theorem_body(t, sectioned=True, handout=handout))
    body.append(_summary_table(theorems, handout))
    title = "Matrix calculus of neural networks: the theorems, derived and checked"
    return ascii_only(_preamble(escape_text(title), toc=True, numbered_theorems="[section]") + "".join(body) + _END)


def _check_document(report: Any, handout: bool = False) -> str:
    title = report.title or "Checked derivation"
    out: list[str] = []
    where = getattr(report, "where", None)
    if where and where != "<input>":
        out.append(r"\noindent\textit{Input:} \texttt{" + escape_text(where) + "}\n")
    doc = report.document
    out.append(_decl_paragraph(doc))
    layouts = _layouts(doc)
    if layouts:
        out.append(r"\paragraph{Layout.} " + escape_text(", then ".join(layouts)) + ".\n")
    lets = _let_rows(doc)
    if lets:
        out.append(r"\paragraph{Definitions.}" + "\n" + _align(lets))
    out.append(r"\section*{Claims and steps}" + "\n")
    for rows in claims_together(chain_rows(report.results, error_messages=False)):
        out.append(_align(rows))
    if not handout:
        out.append(r"\section*{Evidence}" + "\n" + reading_guide(derivations=False, evidence=True))
        out.append(_evidence(report.results))
    else:
        out.append(_notes_paragraph(report.results))
    out.append(_verdict_paragraph(report))
    return ascii_only(_preamble(escape_text(title)) + "".join(out) + _END)


def _derive_document(res: Any) -> str:
    glossary = Glossary()
    out: list[str] = [reading_guide(derivations=True, evidence=False, program=res.program is not None,
                                    engine=engine_traces(i.derivation for i in res.items))]
    out.append(r"\noindent Derivatives of $" + to_latex(res.expr) + "$ in "
               + escape_text(res.layout) + " layout.\n")
    if res.inferred:
        out.append(r"\paragraph{Inferred.} " + "; ".join(escape_text(x) for x in res.inferred) + ".\n")
    if res.program is not None:
        from matcalc.render.rows import program_rows

        m = res.items[0].numeric
        out.append(r"\section*{Backpropagation}" + "\n" + "\\[\n" + aligned(program_rows(res.program)) + "\n\\]\n")
        out.append(r"\paragraph{Numeric check.} $" + METHOD_MATH.get(m.status, r"\text{?}") + "$ "
                   + escape_text(m.detail or m.status) + "\n")
    for item in res.items if res.program is None else ():
        d = item.derivation
        out.append(r"\section*{With respect to $" + to_latex(item.wrt) + "$}\n")
        out.append("The result is $" + _shape_text(d.result.shape) + "$.\n")
        view = DerivationView(derive_head(res, item), d)
        own = Glossary() if view.lecture and len(res.items) > 1 else glossary  # numbered steps: their own list
        out.append(_derivation_latex(view, own))
        out.append("\\[\n  \\boxed{" + to_latex(derive_head(res, item)) + " = " + to_latex(d.result) + where_text(d, "latex")
                   + "}\n\\]\n")
        m = item.numeric
        out.append(r"\paragraph{Numeric check.} $" + METHOD_MATH.get(m.status, r"\text{?}") + "$ "
                   + escape_text(m.detail or m.status) + "\n")
        if own is not glossary:
            out.append(own.latex(sectioned=False))
    out.append(glossary.latex(sectioned=False))
    title = "Derivative of $" + to_latex(res.expr) + "$"
    return ascii_only(_preamble(title) + "".join(out) + _END)


def document(result: Any, *, handout: bool = False) -> str:
    """A complete LaTeX document for a check report, a derivation or proofs.

    Args:
        result: a :class:`~matcalc.results.CheckReport`, :class:`~matcalc.results.DeriveResult` or
            :class:`~matcalc.results.ProveResult` (a :class:`~matcalc.results.TheoremResult` is taken as one theorem).
        handout: leave out the evidence (each line's methods and their findings): the theorems, derivations and
            verdicts only.

    Returns:
        The document's text: pure ASCII, needing only amsmath, amssymb, amsthm and bm.
    """
    if isinstance(result, ProveResult):
        return _prove_document(result, handout)
    if isinstance(result, TheoremResult):
        return _prove_document(ProveResult(theorems=[result]), handout)
    if isinstance(result, CheckReport):
        return _check_document(result, handout)
    if isinstance(result, DeriveResult):
        return _derive_document(result)
    raise TypeError(f"no LaTeX document for {type(result).__name__}")


def rules_document(rows: list[dict], *, verified: dict[str, tuple[bool, str]] | None = None) -> str:
    """The rule table as a LaTeX document (``matcalc rules --format latex``).

    Args:
        rows: dicts with ``name``, ``statement``, ``source`` (and optionally ``index_form``), plain text.
        verified: for ``--verify``, rule name → (passed, detail).
    """
    out = ["\\section*{The rules of the derivative engine}\n", "\\begin{description}\n"]
    for row in rows:
        name = str(row.get("name", ""))
        mark = ""
        if verified is not None and name in verified:
            mark = " $" + (r"\checkmark" if verified[name][0] else r"\times") + "$"
        out.append(r"\item[{" + escape_text(name) + "}]" + mark + " $" + formula_math(row.get("statement", "")) + "$")
        if row.get("index_form"):
            out.append(r"\\ \textit{index form:} $" + formula_math(row["index_form"]) + "$")
        if row.get("source"):
            out.append(r"\\ \textit{source:} " + escape_text(row["source"]))
        if verified is not None and name in verified and verified[name][1]:
            out.append(r"\\ \textit{check:} " + escape_text(verified[name][1]))
        out.append("\n")
    out.append("\\end{description}\n")
    return ascii_only(_preamble("matcalc rule table") + "".join(out) + _END)


# ───────────────────────────── fragments (Jupyter, Markdown) ─────────────────────────────


def _findings_rows(results: list) -> list[str]:
    """For each refuted line: its diagnosis and counterexample, as text rows under the chains (a notebook shows
    why a claim is wrong, not only that it is)."""
    rows: list[str] = []
    for r in results:
        if r.verdict != "refuted":
            continue
        if r.diagnosis:
            rows.append("& " + math_text(f"line {r.line}: {r.diagnosis}"))
        for i, item in enumerate(counterexample_items(r.counterexample, flag=False)):
            rows.append(r"& \quad " + math_text(("counterexample: " if i == 0 else "") + item))
    return rows


def _notes_rows(results: list) -> list[str]:
    """Each line's notes on how it was read (a problem check's are in its own row already)."""
    return [r"& " + math_text(f"note (line {r.line}): {n}") for r in results if r.kind != "problem" for n in r.notes]


def fragment_rows(result: Any) -> list[str]:
    """The rows of :func:`fragment` (``aligned`` content), for the Markdown renderer too."""
    rows: list[str] = []
    if isinstance(result, CheckReport):
        for chain in chain_rows(result.results):
            rows.extend(chain)
        rows.extend(_findings_rows(result.results))
        rows.extend(_notes_rows(result.results))
        rows.append(r"& " + VERDICT_MATH[result.verdict] + r"\ " + math_text(
            f"{result.verdict}: {summary_sentence(result)}"))
        return rows
    if isinstance(result, ClaimResult):
        for chain in chain_rows([result]):
            rows.extend(chain)
        rows.extend(_findings_rows([result]))
        rows.extend(_notes_rows([result]))
        return rows
    if isinstance(result, DeriveResult) and result.program is not None:
        from matcalc.render.rows import program_rows

        m = result.items[0].numeric
        return program_rows(result.program) + [r"&& " + METHOD_MATH.get(m.status, r"\text{?}") + r"\ " + math_text(
            "numeric check " + (m.detail or m.status))]
    if isinstance(result, DeriveResult):
        for item in result.items:
            rows.extend(derivation_rows(derive_head(result, item), item.derivation))
            m = item.numeric
            rows.append(r"&& " + METHOD_MATH.get(m.status, r"\text{?}") + r"\ " + math_text(
                "numeric check " + (m.detail or m.status)))
        return rows
    if isinstance(result, (ProveResult, TheoremResult)):
        theorems = result.theorems if isinstance(result, ProveResult) else [result]
        for t in theorems:
            rows.append(r"& " + math_text(f"{t.name}: {t.title}") + r" && " + VERDICT_MATH[t.verdict] + r"\ "
                        + math_text(t.verdict))
            for chain in chain_rows(t.report.results):
                rows.extend(chain)
            rows.extend(_findings_rows(t.report.results))
            rows.extend(_notes_rows(t.report.results))
        return rows
    raise TypeError(f"no LaTeX fragment for {type(result).__name__}")


def fragment(result: Any) -> str:
    """``$$\\begin{aligned} … \\end{aligned}$$`` for Jupyter's ``_repr_latex_`` (KaTeX and MathJax safe)."""
    return ascii_only("$$\n" + aligned(fragment_rows(result)) + "\n$$")


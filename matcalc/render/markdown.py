"""Markdown output: headings, verdict lines with ✓/✗/?, evidence, counterexamples, and ``$$`` math blocks.

Contract: :func:`markdown` renders a :class:`~matcalc.results.CheckReport`, :class:`~matcalc.results.DeriveResult` or
:class:`~matcalc.results.ProveResult` as Markdown. Mathematics sits in ``$$ … $$`` blocks holding one
``\\begin{aligned} … \\end{aligned}`` environment (never ``align*`` nor ``\\DeclareMathOperator``), which KaTeX and
MathJax both accept. Expressions are re-printed from the IR (:func:`matcalc.printing.to_latex` in math,
:func:`matcalc.printing.to_text` in code spans); prose such as diagnoses is escaped with :func:`md_escape`, so
user text cannot inject Markdown or HTML.
"""

from __future__ import annotations

import re
from typing import Any

from matcalc.printing import to_text
from matcalc.render.common import counterexample_items, step_note
from matcalc.render.steps import where_text
from matcalc.render.rows import aligned, chain_rows, derivation_rows, derive_head, summary_sentence
from matcalc.results import MARK, METHOD_MARK, CheckReport, DeriveResult, ProveResult, TheoremResult
from matcalc.shapes import fmt_shape

__all__ = ["markdown", "md_escape", "code_span", "MARK", "METHOD_MARK"]


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~$&])")


def md_escape(s: Any) -> str:
    """``s`` as literal Markdown text: the Markdown specials, ``<``/``>`` (HTML) and ``$`` (math) escaped, on one line."""
    text = " ".join(str(s).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def code_span(s: Any) -> str:
    """``s`` in a code span whose backtick fence is longer than any run of backticks inside it."""
    text = " ".join(str(s).split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _math_block(rows: list[str]) -> str:
    return "$$\n" + aligned(rows) + "\n$$\n"


def _shown(r: Any) -> str:
    """A claim or step as the matcalc language re-printed from the IR (the raw text only for a line in error); a check
    of the teacher's problem by its name (``ends in a closed form``), as the terminal shows it."""
    if r.kind == "problem":
        return r.text
    if r.lhs is not None and r.rhs is not None:
        if r.kind == "step":
            return "= " + to_text(r.rhs)
        return to_text(r.lhs) + " = " + to_text(r.rhs)
    return r.text


def methods_md(methods: dict) -> str:
    parts = []
    for name in ("symbolic", "exact", "numeric"):
        m = methods.get(name)
        if m is None:
            continue
        parts.append(f"**{name}** {METHOD_MARK.get(m.status, '?')}" + (f" {md_escape(m.detail)}" if m.detail else ""))
    return " · ".join(parts)


def claim_md(r: Any) -> str:
    """One claim or step as a Markdown list item with its evidence (shared with the Gradescope output)."""
    lines = [f"- **line {r.line}** {MARK[r.verdict]} **{r.verdict}** {code_span(_shown(r))}"]
    lines.extend("  " + ln for ln in claim_details_md(r))
    return "\n".join(lines)


def claim_details_md(r: Any, *, full: bool = False) -> list[str]:
    """The evidence lines of one claim or step: error, how a step was judged, diagnosis, notes (how the line was
    read: part of the verdict), counterexample (every value with ``full``), methods."""
    out: list[str] = []
    if r.verdict == "error" and r.error:
        out.append("- error: " + code_span(str(r.error).split("\n")[0]))
        return out
    note = step_note(r)
    if note:
        out.append("- " + md_escape(note))
    if r.diagnosis:
        out.append("- **diagnosis:** " + md_escape(r.diagnosis))
    out.extend("- **note:** " + md_escape(n) for n in r.notes)
    cx = counterexample_items(r.counterexample, full=full)
    if cx:
        out.append("- **counterexample:** " + "; ".join(md_escape(c) for c in cx))
    m = methods_md(r.methods)
    if m:
        out.append("- " + m)
    return out


def _declarations_md(doc: Any) -> list[str]:
    from matcalc.document import Declaration, FuncDecl, Let

    if doc is None:
        return []
    out: list[str] = []
    names = []
    for s in doc.statements:
        if isinstance(s, Declaration):
            for v in s.names:
                if isinstance(v, FuncDecl):
                    names.append(f"{v.name}: " + ("ℝ → ℝ" if v.kind == "entrywise" else f"ℝ^{v.dim} → ℝ"))
                else:
                    props = (" " + " ".join(sorted(v.props))) if getattr(v, "props", None) else ""
                    names.append(f"{v.name}: {fmt_shape(v.shape)}{props}")
    if names:
        out.append("**given** " + ", ".join(code_span(n) for n in names))
    if doc.env.inferred:
        out.append("**inferred** " + ", ".join(code_span(x) for x in doc.env.inferred))
    lets = [s for s in doc.statements if isinstance(s, Let) and s.value is not None]
    if lets:
        out.append("**let** " + ", ".join(code_span(f"{s.name} = {to_text(s.value)}") for s in lets))
    return out


def _heading(level: int, text: str, headings: bool) -> str:
    """A heading of ``level`` (``## text``), or bold text where headings would fill a notebook's outline."""
    return f"{'#' * level} {text}\n" if headings else f"**{text}**\n"


def _check_md(report: Any, level: int = 1, headings: bool = True) -> str:
    title = report.title or "matcalc check"
    parts = [_heading(level, md_escape(title), headings)]
    where = getattr(report, "where", None)
    if where and where != "<input>":
        parts.append(f"input: {code_span(where)}\n")
    decl = _declarations_md(report.document)
    if decl:
        parts.append("\n\n".join(decl) + "\n")
    rows: list[str] = []
    for chain in chain_rows(report.results):
        rows.extend(chain)
    if rows:
        parts.append(_math_block(rows))
    for r in report.results:
        parts.append(claim_md(r))
    v = report.verdict
    parts.append(f"\n**{MARK[v]} {v}** — {md_escape(summary_sentence(report))}\n")
    return "\n".join(parts)


def _derive_md(res: Any, headings: bool = True) -> str:
    parts = [_heading(1, f"derive {code_span(to_text(res.expr))}", headings), f"layout: {md_escape(res.layout)}\n"]
    if res.inferred:
        parts.append("**inferred** " + ", ".join(code_span(x) for x in res.inferred) + "\n")
    if res.program is not None:
        from matcalc.render.common import program_rows
        from matcalc.render.rows import program_rows as program_tex

        parts.append(_math_block(program_tex(res.program)))
        for title, rows in program_rows(res.program):
            parts.append(_heading(2, title, headings))
            parts.append("| name | definition | rule |\n| --- | --- | --- |\n" + "\n".join(
                f"| {code_span(a)} | {code_span(b)} | {md_escape(c)} |" for a, b, c in rows) + "\n")
        m = res.items[0].numeric
        parts.append(f"numeric check {METHOD_MARK.get(m.status, '?')} {md_escape(m.detail or m.status)}\n")
        return "\n".join(parts)
    for item in res.items:
        d = item.derivation
        head = ("Hessian ∇²_" if d.kind == "hessian" else "∂/∂") + md_escape(to_text(item.wrt))
        parts.append(_heading(2, f"{head} ({md_escape(fmt_shape(d.result.shape))})", headings))
        parts.append(_math_block(derivation_rows(derive_head(res, item), d)))
        steps = ["| # | expression | rule |", "| ---: | --- | --- |"]
        from matcalc.render.steps import display_steps, equation_text

        for i, s in enumerate(display_steps(d.steps), 1):
            steps.append(f"| {i} | {code_span(equation_text(s).strip())} | {md_escape(s.note or s.rule)} |")
        if d.steps:
            parts.append("\n".join(steps) + "\n")
        parts.append(f"**result** {code_span(to_text(d.result) + where_text(d))}\n")
        m = item.numeric
        parts.append(f"numeric check {METHOD_MARK.get(m.status, '?')} {md_escape(m.detail or m.status)}\n")
    return "\n".join(parts)


def _theorem_md(t: Any, level: int, headings: bool = True) -> str:
    parts = [_heading(level, f"{md_escape(t.name)}: {md_escape(t.title)}", headings)]
    if t.source:
        parts.append(f"*source:* {md_escape(t.source)}\n")
    decl = _declarations_md(t.document)
    if decl:
        parts.append("\n\n".join(decl) + "\n")
    for line, node, d in t.derivations:  # each distinct derivative once (matcalc.api._engine_derivations)
        parts.append(f"**derivation of** {code_span(to_text(node))} (line {int(line)}, rule engine)\n")
        parts.append(_math_block(derivation_rows(node, d)))
    parts.append(_check_md(t.report, level + 1, headings))
    return "\n".join(parts)


def _prove_md(res: Any, headings: bool = True) -> str:
    if len(res.theorems) == 1:
        return _theorem_md(res.theorems[0], 1, headings)
    parts = [_heading(1, "matcalc prove", headings), "| part | name | title | verdict | methods | time |",
             "| --- | --- | --- | --- | --- | ---: |"]
    for t in res.theorems:
        parts.append(f"| {md_escape(t.part)} | {md_escape(t.name)} | {md_escape(t.title)} | {MARK[t.verdict]} "
                     f"{t.verdict} | {md_escape(t.methods_summary())} | {t.seconds:.2f} s |")
    parts.append("")
    for t in res.theorems:
        parts.append(_theorem_md(t, 2, headings))
    return "\n".join(parts)


def markdown(result: Any, *, headings: bool = True) -> str:
    """Markdown for a check report, a derivation or proofs.

    Args:
        result: a :class:`~matcalc.results.CheckReport`, :class:`~matcalc.results.DeriveResult`,
            :class:`~matcalc.results.ProveResult` or :class:`~matcalc.results.TheoremResult`.
        headings: ``#`` headings (a document); ``False`` sets the titles in bold (a notebook's output, which
            must not add entries to the notebook's outline).

    Returns:
        Markdown text whose ``$$`` blocks KaTeX and MathJax both render.
    """
    if isinstance(result, CheckReport):
        out = _check_md(result, 1, headings)
    elif isinstance(result, DeriveResult):
        out = _derive_md(result, headings)
    elif isinstance(result, ProveResult):
        out = _prove_md(result, headings)
    elif isinstance(result, TheoremResult):
        out = _theorem_md(result, 1, headings)
    else:
        raise TypeError(f"no Markdown for {type(result).__name__}")
    return out.rstrip("\n") + "\n"

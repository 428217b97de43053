"""Terminal rendering with rich: check reports (a marked paper), derivations, proofs and the `prove all` table.

Contract: :func:`render` turns any result record of :mod:`matcalc.results` into one rich
renderable; :func:`to_plain` renders it to plain text (no colour, width 100) — what ``str(result)`` returns and what
the tests compare. Only this package and the CLI import rich.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from matcalc import ir
from matcalc.document import Declaration, Let
from matcalc.printing import to_text
from matcalc.render.common import counterexample_items, step_note
from matcalc.results import MARK, METHOD_MARK, CheckReport, ClaimResult, DeriveResult, ProveResult, tally
from matcalc.shapes import fmt_shape

STYLE = {"verified": "bold green", "refuted": "bold red", "inconclusive": "bold yellow", "error": "bold red"}


def to_plain(obj: Any, width: int = 100) -> str:
    """``obj`` rendered as plain text (no colour)."""
    buf = io.StringIO()
    Console(file=buf, color_system=None, width=width, highlight=False, soft_wrap=False).print(render(obj))
    return buf.getvalue().rstrip("\n")


def render(obj: Any):
    """The rich renderable of a result object."""
    if isinstance(obj, CheckReport):
        return render_check(obj)
    if isinstance(obj, ClaimResult):
        return Group(*claim_lines(obj))
    if isinstance(obj, DeriveResult):
        return render_derive(obj)
    if isinstance(obj, ProveResult):
        return render_prove(obj)
    raise TypeError(f"cannot render {type(obj).__name__}")


# ───────────────────────────── pieces ─────────────────────────────


def counterexample_lines(cx: Any) -> list[Text]:
    """A counterexample (from the exact or numeric method) as lines: the first labelled, the rest aligned under it."""
    items = counterexample_items(cx)
    return [Text(("  counterexample  " if i == 0 else "                  ") + line) for i, line in enumerate(items)]


def methods_lines(methods: dict) -> list[Text]:
    """One line per method: its name, ✓/✗/? and its evidence."""
    out = []
    for name in ("symbolic", "exact", "numeric"):
        m = methods.get(name)
        if m is None:
            continue
        mark = METHOD_MARK.get(m.status, "?")
        style = {"✓": "green", "✗": "red", "?": "yellow"}[mark]
        t = Text(f"  {name:<9} ", style="bold")
        t.append(mark, style=style)
        if m.detail:
            t.append(f" {m.detail}", style="dim")
        out.append(t)
    return out


def _indented(text: Text, indent: int = 7) -> Padding:
    """A sub-line of a claim: wrapped lines keep the indentation."""
    return Padding(text, (0, 0, 0, indent), expand=False)


def claim_lines(r) -> list:
    """The lines for one claim or step: verdict, text, evidence, counterexample, diagnosis."""
    lines: list = []
    head = Table.grid(padding=(0, 1))
    head.add_column(justify="right", style="dim", width=4)
    head.add_column(no_wrap=True)
    head.add_column(ratio=1)
    head.add_row(str(r.line), Text(f"{MARK[r.verdict]} {r.verdict}", style=STYLE[r.verdict]), Text(r.text))
    lines.append(head)
    if r.verdict == "error" and r.error:
        for i, ln in enumerate(str(r.error).split("\n")):
            lines.append(Text(("       " if i else "       error: ") + ln, style="red" if i == 0 else ""))
        return lines
    if r.kind == "step" and r.against_line is not None:
        lines.append(_indented(Text(step_note(r), style="yellow" if r.after_wrong is not None else "dim")))
    if r.diagnosis:
        lines.append(_indented(Text(r.diagnosis, style="bold")))
    for note in r.notes:
        lines.append(_indented(Text(f"note: {note}", style="cyan")))
    for cl in counterexample_lines(r.counterexample):
        lines.append(_indented(cl, 5))
    for m in methods_lines(r.methods):
        lines.append(_indented(m, 5))
    return lines


def render_check(report) -> Group:
    parts: list = []
    doc = report.document
    title = report.title or getattr(report, "where", None) or ""
    summary = Text()
    if title and title != "<input>":
        summary.append(title, style="bold")
        summary.append("   ")
    summary.append(tally(report.results).sentence(), style="bold")
    parts.append(summary)
    if doc is not None and doc.env.inferred:
        parts.append(Text("inferred  " + ", ".join(doc.env.inferred), style="dim"))
    for r in report.results:
        parts.extend(claim_lines(r))
    v = report.verdict
    parts.append(Text(f"{MARK[v]} {v}", style=STYLE[v]))
    return Group(*parts)


def _steps_table(derivation) -> Table:
    t = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    t.add_column(justify="right", style="dim")
    t.add_column()
    t.add_column(style="cyan")
    from matcalc.render.steps import display_steps

    for i, s in enumerate(display_steps(derivation.steps), 1):
        note = s.note if s.label or s.rule in ("algebra", "simplify") else s.note.split(";")[0].strip()
        t.add_row(str(i), Text(step_text(s)), Text(note))  # Text: a note's [w > x] is not rich markup
    return t


def step_text(s) -> str:
    """A derivation step as it reads in the lecture: ``∂z'/∂a = W`` for a Jacobian, ``= …`` for a rewrite."""
    from matcalc.render.steps import equation_text

    return equation_text(s)


def render_derive(res) -> Group:
    parts: list = []
    parts.append(Text.assemble(("derive  ", "bold"), to_text(res.expr), (f"   layout: {res.layout}", "dim")))
    if res.inferred:
        parts.append(Text("inferred  " + ", ".join(res.inferred), style="dim"))
    for item in res.items:
        d = item.derivation
        parts.append(Text(""))
        head = ("Hessian ∇²_" if d.kind == "hessian" else "∂/∂") + to_text(item.wrt)
        parts.append(Text.assemble((head, "bold"), f"  ({fmt_shape(d.result.shape)})"))
        parts.append(_steps_table(d))
        parts.append(Text.assemble(("result  ", "bold"), (to_text(d.result), "bold green")))
        m = item.numeric
        mark = METHOD_MARK.get(m.status, "?")
        parts.append(Text(f"numeric check {mark} {m.detail}", style="green" if mark == "✓" else "yellow"))
    return Group(*parts)


def _theorem_block(t) -> Group:
    doc = t.document
    head = Text(t.source or "", style="dim")
    parts: list = [Panel(head, title=f"[bold]{t.name}[/bold] · {t.title}", title_align="left", expand=True)]
    decls = [s for s in doc.statements if isinstance(s, Declaration)]
    if decls:
        names = []
        for s in decls:
            for v in s.names:
                if isinstance(v, ir.Var):
                    names.append(f"{v.name}: {fmt_shape(v.shape)}" + (f" {' '.join(sorted(v.props))}" if v.props else ""))
                else:
                    names.append(f"{v.name}: " + ("ℝ → ℝ" if v.kind == "entrywise" else f"ℝ^{v.dim} → ℝ"))
        parts.append(Text.assemble(("given   ", "bold"), "   ".join(names)))
    lets = [s for s in doc.statements if isinstance(s, Let)]
    for i, s in enumerate(lets):
        parts.append(Text.assemble(("let     " if i == 0 else "        ", "bold"), f"{s.name} = {to_text(s.value)}"))
    for line, node, d in t.derivations:
        parts.append(Text(""))
        parts.append(Text.assemble(("derivation of ", "bold"), to_text(node), (f"   (line {line}, rule engine)", "dim")))
        parts.append(_steps_table(d))
    parts.append(Text(""))
    parts.append(render_check(t.report))
    return Group(*parts)


def render_prove(res) -> Group:
    if len(res.theorems) == 1:
        return _theorem_block(res.theorems[0])
    table = Table(title="matcalc prove", show_lines=False, pad_edge=False)
    table.add_column("part", style="dim", no_wrap=True)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("verdict", no_wrap=True)
    for m in ("sym", "exact", "num"):
        table.add_column(m, justify="center", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    for t in res.theorems:
        cells = []
        for m in ("symbolic", "exact", "numeric"):
            sts = [r.methods[m].status for r in t.report.results if m in r.methods]
            if not sts:
                cells.append(Text("—", style="dim"))
                continue
            eq = sum(x == "equal" for x in sts)
            style = "green" if eq == len(sts) else "red" if "different" in sts else "yellow"
            cells.append(Text(f"{eq}/{len(sts)}", style=style))
        table.add_row(t.part, t.name, t.title, Text(f"{MARK[t.verdict]} {t.verdict}", style=STYLE[t.verdict]),
                      *cells, f"{t.seconds:.1f} s")
    counts: dict[str, int] = {}
    for t in res.theorems:
        counts[t.verdict] = counts.get(t.verdict, 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in counts.items())
    last = Text(f"{len(res.theorems)} theorems: {tally} in {res.seconds:.1f} s", style=STYLE[res.verdict])
    failing = [t for t in res.theorems if t.verdict != "verified"]
    extra = []
    for t in failing:
        extra.append(Text(""))
        extra.append(_theorem_block(t))
    return Group(table, *extra, last)

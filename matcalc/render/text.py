"""Terminal rendering with rich: check reports (a marked paper), derivations, proofs and the `prove all` table.

Contract: :func:`render` turns any result record of :mod:`matcalc.results` into one rich
renderable; :func:`to_plain` renders it to plain text (no colour, width 100) — what ``str(result)`` returns and what
the tests compare. Only this package and the CLI import rich.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, ConsoleOptions, Group
from rich.measure import Measurement
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from matcalc import ir
from matcalc.document import Declaration, Let
from matcalc.printing import to_text
from matcalc.render.common import counterexample_items, step_note
from matcalc.render.steps import where_text
from matcalc.results import MARK, METHOD_MARK, CheckReport, ClaimResult, DeriveResult, ProveResult, TheoremResult, tally
from matcalc.shapes import fmt_shape

STYLE = {"verified": "bold green", "refuted": "bold red", "inconclusive": "bold yellow", "error": "bold red"}


def to_plain(obj: Any, width: int = 100, *, full: bool = False) -> str:
    """``obj`` rendered as plain text (no colour, no trailing spaces)."""
    return plain(render(obj, full=full), width)


def plain(renderable: Any, width: int = 100) -> str:
    """Any rich renderable as plain text at ``width`` columns, each line without trailing spaces.

    ``force_jupyter=False``: inside a notebook rich would otherwise display the renderable itself (an HTML block)
    and write nothing to the buffer.
    """
    buf = io.StringIO()
    Console(file=buf, color_system=None, width=width, highlight=False, soft_wrap=False,
            force_jupyter=False, force_terminal=False).print(renderable)
    return "\n".join(ln.rstrip() for ln in buf.getvalue().rstrip("\n").split("\n"))


def render(obj: Any, *, full: bool = False):
    """The rich renderable of a result object; ``full`` shows every value of a counterexample."""
    if isinstance(obj, CheckReport):
        return render_check(obj, full=full)
    if isinstance(obj, ClaimResult):
        return Group(*claim_lines(obj, full=full))
    if isinstance(obj, DeriveResult):
        return render_derive(obj)
    if isinstance(obj, ProveResult):
        return render_prove(obj, full=full)
    if isinstance(obj, TheoremResult):
        return _theorem_block(obj, full=full)
    raise TypeError(f"cannot render {type(obj).__name__}")


# ───────────────────────────── pieces ─────────────────────────────


class Hang:
    """``prefix`` then ``body``, the body's wrapped lines hanging under its first character (not under the prefix).

    Every line is right-stripped, so piped output carries no trailing spaces.
    """

    def __init__(self, prefix: Text | str, body: Text | str) -> None:
        self.prefix = prefix if isinstance(prefix, Text) else Text(prefix)
        self.body = body if isinstance(body, Text) else Text(body)

    def __rich_console__(self, console: Console, options: ConsoleOptions):
        indent = self.prefix.cell_len
        prefix = self.prefix.copy()
        if options.max_width - indent < 16:  # a narrow terminal: the body on its own lines, hanging by 4, not cut
            head = prefix.copy()
            head.rstrip()
            head.no_wrap = True
            yield head
            indent, prefix = 4, Text("    ")
        width = max(8, options.max_width - indent)
        pad = Text(" " * indent)
        for i, line in enumerate(self.body.wrap(console, width, overflow="fold")):
            line.rstrip()
            out = Text.assemble(prefix.copy() if i == 0 else pad.copy(), line)
            out.rstrip()
            out.no_wrap = True
            yield out

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min(options.max_width, self.prefix.cell_len + 24),
                           min(options.max_width, self.prefix.cell_len + self.body.cell_len))


def counterexample_lines(cx: Any, indent: int = 7, *, full: bool = False) -> list[Hang]:
    """A counterexample (from the exact or numeric method): the first line labelled, the rest aligned under it."""
    items = counterexample_items(cx, full=full)
    label = " " * indent + "counterexample  "
    return [Hang(label if i == 0 else " " * len(label), line) for i, line in enumerate(items)]


def methods_lines(methods: dict, indent: int = 7) -> list[Hang]:
    """One line per method: its name, ✓/✗/? and its evidence (wrapped under the evidence)."""
    out = []
    for name in ("symbolic", "exact", "numeric"):
        m = methods.get(name)
        if m is None:
            continue
        mark = METHOD_MARK.get(m.status, "?")
        style = {"✓": "green", "✗": "red", "?": "yellow"}[mark]
        head = Text(" " * indent)
        head.append(f"{name:<9} ", style="bold")
        head.append(mark, style=style)
        head.append(" ")
        out.append(Hang(head, Text(m.detail or "", style="dim")))
    return out


def claim_lines(r, *, full: bool = False) -> list:
    """The lines for one claim or step: verdict, text, evidence, counterexample, diagnosis."""
    lines: list = []
    head = Text(f"{r.line:>4} ", style="dim")
    head.append(f"{MARK[r.verdict]} {r.verdict}", style=STYLE[r.verdict])
    head.append(" ")
    lines.append(Hang(head, Text(r.text)))
    sub = " " * 7
    if r.verdict == "error" and r.error:
        for i, ln in enumerate(str(r.error).split("\n")):
            if i == 0:
                lines.append(Hang(Text(sub + "error: ", style="red"), Text(ln, style="red")))
            else:
                lines.append(Hang(sub, ln))
        return lines
    if r.kind == "step" and r.against_line is not None:
        lines.append(Hang(sub, Text(step_note(r), style="yellow" if r.after_wrong is not None else "dim")))
    if r.diagnosis:
        lines.append(Hang(sub, Text(r.diagnosis, style="bold")))
    for note in r.notes:
        lines.append(Hang(sub + "note: ", Text(note, style="cyan")))
    lines.extend(counterexample_lines(r.counterexample, full=full))
    lines.extend(methods_lines(r.methods))
    return lines


def render_check(report, *, full: bool = False) -> Group:
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
        parts.extend(claim_lines(r, full=full))
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
    if res.program is not None:
        return Group(*parts, *program_parts(res))
    for item in res.items:
        d = item.derivation
        parts.append(Text(""))
        head = ("Hessian ∇²_" if d.kind == "hessian" else "∂/∂") + to_text(item.wrt)
        parts.append(Text.assemble((head, "bold"), f"  ({fmt_shape(d.result.shape)})"))
        parts.append(_steps_table(d))
        parts.append(Text.assemble(("result  ", "bold"), (to_text(d.result), "bold green"), where_text(d)))
        m = item.numeric
        mark = METHOD_MARK.get(m.status, "?")
        parts.append(Text(f"numeric check {mark} {m.detail}", style="green" if mark == "✓" else "yellow"))
    return Group(*parts)


def program_parts(res) -> list:
    """A derivation as the lecture writes backpropagation: the forward program (new names marked), the backward
    program one δ per layer with its rule, each gradient in terms of the δ's, and what the numeric check checked."""
    from matcalc.render.common import program_rows

    prog = res.program
    wrt = ", ".join(to_text(i.wrt) for i in res.items)
    parts: list = [Text(f"by {wrt}: backpropagation, one reverse sweep", style="dim")]
    for title, rows in program_rows(prog):
        parts.append(Text(""))
        parts.append(Text(title, style="bold"))
        t = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
        t.add_column(no_wrap=True)
        t.add_column()
        t.add_column(style="cyan")
        for lhs, rhs, note in rows:
            t.add_row(Text("  " + lhs), Text("= " + rhs), Text(note))
        parts.append(t)
    m = res.items[0].numeric
    mark = METHOD_MARK.get(m.status, "?")
    parts.append(Text(""))
    parts.append(Hang(Text(f"numeric check {mark} ", style="green" if mark == "✓" else "yellow"), Text(m.detail)))
    return parts


def _theorem_block(t, *, full: bool = False) -> Group:
    doc = t.document
    head = Text(t.source or "", style="dim")
    parts: list = [Panel(head, title=f"[bold]{escape(t.name)}[/bold] · {escape(t.title)}", title_align="left",
                         expand=True)]
    decls = [s for s in doc.statements if isinstance(s, Declaration)]
    if decls:
        names = []
        for s in decls:
            for v in s.names:
                if isinstance(v, ir.Var):
                    names.append(f"{v.name}: {fmt_shape(v.shape)}" + (f" {' '.join(sorted(v.props))}" if v.props else ""))
                else:
                    names.append(f"{v.name}: " + ("ℝ → ℝ" if v.kind == "entrywise" else f"ℝ^{v.dim} → ℝ"))
        parts.append(Hang(Text("given   ", style="bold"), "   ".join(names)))
    lets = [s for s in doc.statements if isinstance(s, Let)]
    for i, s in enumerate(lets):
        parts.append(Hang(Text("let     " if i == 0 else "        ", style="bold"), f"{s.name} = {to_text(s.value)}"))
    for line, node, d in t.derivations:
        parts.append(Text(""))
        parts.append(Text.assemble(("derivation of ", "bold"), to_text(node), (f"   (line {line}, rule engine)", "dim")))
        parts.append(_steps_table(d))
    parts.append(Text(""))
    parts.append(render_check(t.report, full=full))
    return Group(*parts)


#: Below this width the `prove all` table leaves out the per-method counts (the JSON, Markdown and a wider terminal
#: show them), so the titles keep room to be read.
NARROW = 100


class ProveTable:
    """The `prove all` summary table, laid out for the width it is printed at."""

    def __init__(self, res) -> None:
        self.res = res

    def table(self, width: int) -> Table:
        narrow = width < NARROW
        table = Table(title="matcalc prove", show_lines=False, pad_edge=False, expand=False)
        table.add_column("part", style="dim", no_wrap=True)
        table.add_column("name", style="bold", no_wrap=True)
        table.add_column("title", ratio=1, min_width=16)
        table.add_column("verdict", no_wrap=True)
        if not narrow:
            for m in ("sym", "exact", "num"):
                table.add_column(m, justify="center", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        for t in self.res.theorems:
            cells = []
            for m in ("symbolic", "exact", "numeric") if not narrow else ():
                sts = [r.methods[m].status for r in t.report.results if m in r.methods]
                if not sts:
                    cells.append(Text("—", style="dim"))
                    continue
                eq = sum(x == "equal" for x in sts)
                style = "green" if eq == len(sts) else "red" if "different" in sts else "yellow"
                cells.append(Text(f"{eq}/{len(sts)}", style=style))
            table.add_row(t.part, t.name, t.title, Text(f"{MARK[t.verdict]} {t.verdict}", style=STYLE[t.verdict]),
                          *cells, f"{t.seconds:.1f} s")
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions):
        yield self.table(options.max_width)


def render_prove(res, *, full: bool = False) -> Group:
    if len(res.theorems) == 1:
        return _theorem_block(res.theorems[0], full=full)
    counts: dict[str, int] = {}
    for t in res.theorems:
        counts[t.verdict] = counts.get(t.verdict, 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in counts.items())
    last = Text(f"{len(res.theorems)} theorems: {tally} in {res.seconds:.1f} s", style=STYLE[res.verdict])
    failing = [t for t in res.theorems if t.verdict != "verified"]
    extra = []
    for t in failing:
        extra.append(Text(""))
        extra.append(_theorem_block(t, full=full))
    return Group(ProveTable(res), *extra, last)

"""LaTeX output: complete documents, Jupyter fragments, and PDF through pdflatex.

Contract: :func:`document` turns a :class:`~matcalc.verify.judge.CheckReport`, a :class:`~matcalc.api.DeriveResult` or a
:class:`~matcalc.api.ProveResult` into a complete LaTeX document (article class; the packages ``amsmath``,
``amssymb``, ``amsthm`` and ``bm`` only, all in Debian's ``texlive-latex-base``); :func:`rules_document` does the same
for the rule table. :func:`fragment` gives a ``$$\\begin{aligned} … \\end{aligned}$$`` block for Jupyter's
``_repr_latex_`` that KaTeX and MathJax both accept (no ``align*``, no ``\\DeclareMathOperator``, no ``\\bm``).
:func:`write_pdf` compiles a document with ``pdflatex -no-shell-escape`` and raises
:class:`~matcalc.errors.UsageError` when pdflatex is missing or fails (with the log's first error).

Safety: every expression is re-printed from the IR by :func:`matcalc.printing.to_latex`; never the user's text. Every
other string (titles, sources, details, diagnoses, file names) goes through :func:`escape_text` (text mode) or
:func:`math_text` (math mode), which escape the LaTeX specials and map Unicode to LaTeX macros, so the documents are
pure ASCII and nothing from the input reaches pdflatex raw (``\\input{/etc/passwd}`` in a title prints as text).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Iterable

from matcalc import ir
from matcalc.document import Claim, Declaration, FuncDecl, LayoutSetting, Let
from matcalc.errors import UsageError
from matcalc.render.common import counterexample_items, fmt_value, step_note
from matcalc.printing import greek_macro, latex_name, to_latex

__all__ = [
    "document", "fragment", "write_pdf", "rules_document", "escape_text", "math_text", "formula_math", "PART_TITLES",
    "PDFLATEX_TIMEOUT_S",
]

PDFLATEX_TIMEOUT_S = 120

#: Sections of ``prove all`` follow the lecture's parts (THEOREMS.md).
PART_TITLES = {
    "1": "Gradients and Jacobians",
    "2": "Neurons and layers",
    "3": "Cost derivatives",
    "4": "Backpropagation",
    "exercises": "Exercises",
    "other": "Further theorems",
}

VERDICT_MATH = {"verified": r"\checkmark", "refuted": r"\times", "inconclusive": r"\text{?}", "error": r"\times"}
METHOD_MATH = {"equal": r"\checkmark", "different": r"\times", "unknown": r"\text{?}", "error": r"\times"}

# ───────────────────────────── escaping ─────────────────────────────

#: Unicode characters in details and diagnoses, as math-mode LaTeX (amssymb at most).
_MATH_CHARS = {
    "×": r"\times", "·": r"\cdot", "⋅": r"\cdot", "∙": r"\cdot", "‖": r"\Vert", "∣": r"\vert", "⊙": r"\odot",
    "∘": r"\circ", "⊘": r"\oslash", "⊗": r"\otimes", "⊕": r"\oplus", "✓": r"\checkmark", "✔": r"\checkmark",
    "✗": r"\times", "✘": r"\times", "−": "-", "→": r"\to", "←": r"\leftarrow", "↔": r"\leftrightarrow",
    "⇒": r"\Rightarrow", "⇔": r"\Leftrightarrow", "↦": r"\mapsto", "≤": r"\le", "≥": r"\ge", "≠": r"\ne",
    "≈": r"\approx", "≡": r"\equiv", "∈": r"\in", "∉": r"\notin", "±": r"\pm", "∞": r"\infty",
    "∂": r"\partial", "∇": r"\nabla", "∑": r"\sum", "∏": r"\prod", "√": r"\surd", "∫": r"\int",
    "ℝ": r"\mathbb{R}", "ℕ": r"\mathbb{N}", "ℤ": r"\mathbb{Z}", "∀": r"\forall", "∃": r"\exists",
    "…": r"\ldots", "⋯": r"\cdots", "⟨": r"\langle", "⟩": r"\rangle", "′": "'", "″": "''", "°": r"^{\circ}",
    "∅": r"\emptyset", "∧": r"\wedge", "∨": r"\vee", "¬": r"\neg", "⊤": r"\top", "⊥": r"\bot", "∝": r"\propto",
    "⌈": r"\lceil", "⌉": r"\rceil", "⌊": r"\lfloor", "⌋": r"\rfloor", "∼": r"\sim", "≪": r"\ll", "≫": r"\gg",
    "÷": r"\div", "∗": "*", "⊂": r"\subset", "⊆": r"\subseteq", "∪": r"\cup", "∩": r"\cap", "□": r"\square",
    "■": r"\blacksquare", "★": r"\star", "†": r"\dagger", "‡": r"\ddagger", "ℓ": r"\ell",
}
#: Text-mode replacements for characters that have a plain ASCII reading.
_TEXT_CHARS = {
    "–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "„": ",,", "\u00a0": "~", "•": r"$\bullet$",
    "«": "<<", "»": ">>",
}
_SUPER = {"ᵀ": r"\top", "⁻": "-", "⁺": "+", "⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6",
          "⁷": "7", "⁸": "8", "⁹": "9", "ⁿ": "n", "ⁱ": "i", "ᵏ": "k", "ʲ": "j", "ᵐ": "m", "⁽": "(", "⁾": ")",
          "˟": r"\times"}
_SUB = {"₀": "0", "₁": "1", "₂": "2", "₃": "3", "₄": "4", "₅": "5", "₆": "6", "₇": "7", "₈": "8", "₉": "9",
        "₊": "+", "₋": "-", "ᵢ": "i", "ⱼ": "j", "ₖ": "k", "ₗ": "l", "ₘ": "m", "ₙ": "n"}

#: ASCII specials in text mode.
_TEXT_SPECIALS = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&",
    "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "|": r"\textbar{}",
}
#: ASCII specials in math mode (outside ``\text``).
_MATH_SPECIALS = {
    "\\": r"\backslash", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&", "_": r"\_",
    "~": r"\sim", "^": r"\wedge", "<": "<", ">": ">", "|": r"\vert",
}
#: Characters that may stand inside ``\text{…}`` as they are, in LaTeX, KaTeX and MathJax alike.
_TEXT_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;()+-=/!?*[]'@\"`")


def _classify(s: str) -> list[tuple[str, str]]:
    """``s`` as pieces ``("t", ascii text)``, ``("m", math-mode LaTeX)``, ``("s", a special ASCII character)``.

    Runs of superscript (subscript) characters merge into one ``^{…}`` (``_{…}``) so ``⁻¹`` is ``^{-1}``.
    """
    out: list[tuple[str, str]] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch in _SUPER or ch in _SUB:
            table, mark = (_SUPER, "^") if ch in _SUPER else (_SUB, "_")
            j, run = i, []
            while j < n and s[j] in table:
                run.append(table[s[j]])
                j += 1
            out.append(("m", "{}" + mark + "{" + " ".join(run) + "}"))  # "{}" base: never a double script
            i = j
            continue
        i += 1
        if ch in ("\n", "\r", "\t", "\f", "\v"):
            out.append(("t", " "))
        elif ch.isascii():
            if ord(ch) < 32 or ord(ch) == 127:
                continue  # control characters are dropped
            if ch in _TEXT_SPECIALS:
                out.append(("s", ch))
            else:
                out.append(("t", ch))
        elif ch in _MATH_CHARS:
            out.append(("m", _MATH_CHARS[ch]))
        elif ch in _TEXT_CHARS:
            out.append(("x", _TEXT_CHARS[ch]))
        else:
            g = greek_macro(ch)
            if g is not None:
                out.append(("m", g))
                continue
            decomposed = unicodedata.normalize("NFKD", ch)
            ascii_part = "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in " .,;:+-=()/"))
            if ascii_part:
                out.append(("t", ascii_part))
            else:
                out.append(("t", "?"))
    return out


def escape_text(s: Any) -> str:
    """``s`` as safe LaTeX for text mode: specials escaped, Unicode mapped to macros, the result pure ASCII.

    ``\\ # $ % & _ { } ~ ^`` (and ``< > |``) print as themselves; ``×``, ``‖``, ``⊙``, ``✓``, ``σ`` … become math
    macros inside ``$…$``; characters with no LaTeX reading become ``?``; control characters are dropped.
    """
    pieces = _classify(str(s))
    out: list[str] = []
    math: list[str] = []

    def flush() -> None:
        if math:
            out.append("$" + " ".join(math) + "$")
            math.clear()

    for kind, val in pieces:
        if kind == "m":
            math.append(val)
            continue
        flush()
        if kind == "s":
            out.append(_TEXT_SPECIALS[val])
        elif kind == "x":
            out.append(val)
        else:
            out.append(val)
    flush()
    return "".join(out)


def math_text(s: Any) -> str:
    """``s`` as safe LaTeX for math mode: plain runs inside ``\\text{…}``, everything else as math macros.

    Accepted by LaTeX (amsmath), KaTeX and MathJax alike; pure ASCII.
    """
    pieces = _classify(str(s))
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.append(r"\text{" + "".join(run) + "}")
            run.clear()

    for kind, val in pieces:
        if kind == "t":
            for c in val:
                if c in _TEXT_SAFE:
                    run.append(c)
                else:
                    flush()
                    out.append(_MATH_SPECIALS.get(c, r"\text{?}"))
        elif kind == "x":
            for c in val:
                if c in _TEXT_SAFE:
                    run.append(c)
                elif c == "~":
                    run.append(" ")
                else:
                    flush()
                    out.append(r"\bullet" if val.startswith("$") else r"\text{?}")
                    break
        elif kind == "s":
            flush()
            out.append(_MATH_SPECIALS[val])
        else:
            flush()
            out.append(val)
    flush()
    # keep a control word apart from a following letter: "\times" + "x" must not become "\timesx"
    return " ".join(out)


_OPERATOR_WORDS = {"diag", "tr", "vec", "sum", "softmax", "logsumexp", "relu", "softplus", "step", "abs", "sigmoid",
                   "grad", "dot", "norm", "inv", "kron", "ones", "eye", "zeros"}
_MATH_FUNCS = {"exp", "log", "sin", "cos", "tanh", "det", "max", "min", "sqrt"}
_FORMULA_TOKEN = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?|\s+|.", re.S)


def formula_math(s: Any) -> str:
    """A formula written in plain text (a rule's statement, ``∂(w_i + x_i)/∂w_j = δ_ij``) as math-mode LaTeX.

    Single letters are math variables, ``_`` parts become subscripts, known function names become operators, other
    words are upright text, Unicode maps to macros; specials are escaped as in :func:`math_text`. Pure ASCII.
    """
    out: list[str] = []
    toks = _FORMULA_TOKEN.findall(str(s))
    i = 0
    while i < len(toks):
        t = toks[i]
        i += 1
        if t.isspace():
            out.append(" ")
            continue
        if t == "_" and i < len(toks) and toks[i].isascii() and toks[i].isalnum():
            sub = toks[i]
            i += 1
            out.append("_{" + (sub if len(sub) == 1 or sub.isdigit() else " ".join(sub)) + "}")
            continue
        if t.isascii() and t.isalpha():
            if len(t) == 1:
                out.append(t)
            elif t in _MATH_FUNCS:
                out.append("\\" + t + " ")
            elif t in _OPERATOR_WORDS:
                out.append("\\operatorname{" + t + "}")
            else:
                g = greek_macro(t)
                out.append(g + " " if g else "\\ \\text{" + t + "}\\ ")
            continue
        if t.isascii() and t[0].isdigit():
            out.append(t)
            continue
        if t in "+-=/()[],.;:!?*'|<>":
            out.append({"|": "\\vert ", ",": ",\\,", ";": ";\\;", ":": "\\colon "}.get(t, t))
            continue
        out.append((math_text(t) if t not in _MATH_SPECIALS else _MATH_SPECIALS[t]) + " ")
    text = "".join(out)
    return re.sub(r" +", " ", text).strip()


def _ascii_only(s: str) -> str:
    """A last guard: any non-ASCII character left (there should be none) becomes ``?``."""
    return s if s.isascii() else "".join(c if c.isascii() else "?" for c in s)


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


def _index_list(free: Iterable) -> str:
    names = [latex_name(i.name) if isinstance(i, ir.Index) else str(i) for i in free]
    return ", ".join(names)


def _claim_math(lhs: ir.Expr, rhs: ir.Expr, free: tuple = ()) -> str:
    s = to_latex(lhs) + " &= " + to_latex(rhs)
    if free:
        s += r" \qquad \text{for all } " + _index_list(free)
    return s


# ───────────────────────────── chains and evidence ─────────────────────────────


def _verdict_tag(r: Any) -> str:
    if r.verdict == "verified" and r.kind == "step" and r.after_wrong is not None:
        # follows from its predecessor, but the chain went wrong at an earlier line (a marked paper shows both)
        return VERDICT_MATH[r.verdict] + r"\ " + math_text(f"follows (line {r.line}), after the error in line "
                                                          f"{r.after_wrong}")
    return VERDICT_MATH[r.verdict] + r"\ " + math_text(f"{r.verdict} (line {r.line})")


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        if r.kind == "error" or r.lhs is None or r.rhs is None:
            if rows:
                chains.append(rows)
                rows = []
            msg = (r.error or "cannot be typed").split("\n")[0]
            rows.append("& " + math_text(_shorten(r.text)) + tag)
            if error_messages:
                rows.append(r"& \quad " + math_text("error: " + _shorten(msg, 120)))
            chains.append(rows)
            rows, last_line = [], None
            continue
        if r.kind == "step":
            if last_line is None or r.against_line != last_line or not rows:
                if rows:
                    chains.append(rows)
                rows = [to_latex(r.lhs) + (" && " + math_text(f"(line {r.against_line})") if annotate else "")]
            rows.append("&= " + to_latex(r.rhs) + tag)
        else:
            if rows:
                chains.append(rows)
            rows = [_claim_math(r.lhs, r.rhs) + tag]
        last_line = r.line
    if rows:
        chains.append(rows)
    return chains


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
    if not amp or not left.strip():
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
        out = [body + (r" \tag*{$" + ann + "$}" if sep else "") for body, sep, ann in split]
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


def _evidence(results: list) -> str:
    if not results:
        return ""
    out = ["{\\small\\begin{description}"]
    for r in results:
        head = f"Line {r.line}"
        out.append(r"\item[{" + head + r"}] $" + VERDICT_MATH[r.verdict] + "$ " + escape_text(r.verdict))
        lines = []
        if r.verdict == "error" and r.error:
            lines.append(r"\texttt{" + escape_text(str(r.error).split("\n")[0]) + "}")
        note = step_note(r)
        if note:
            lines.append(escape_text(note.capitalize() if not note[:1].isupper() else note) + ".")
        if r.diagnosis:
            lines.append(r"\textbf{Diagnosis:} " + escape_text(r.diagnosis))
        cx = counterexample_items(r.counterexample)
        if cx:
            lines.append(r"\textbf{Counterexample:} " + "; ".join(escape_text(c) for c in cx) + ".")
        if lines:
            out.append("\\\\ " + "\\\\\n".join(lines))
        meths = methods_items(r.methods)
        if meths:
            out.append("\\begin{itemize}")
            for name, mark, detail in meths:
                out.append(r"\item \emph{" + name + r"} $" + mark + "$ " + escape_text(detail))
            out.append("\\end{itemize}")
    out.append("\\end{description}}")
    return "\n".join(out) + "\n"


def _summary_sentence(report: Any) -> str:
    steps = [r for r in report.results if r.kind == "step"]
    if steps:
        ok = sum(r.verdict == "verified" and r.after_wrong is None for r in steps)
        s = f"{ok} of {len(steps)} steps follow"
        others = [r for r in report.results if r.kind != "step"]
        if others:
            s += f"; {sum(r.verdict == 'verified' for r in others)} of {len(others)} claims verified"
        return s
    n_ok = sum(r.verdict == "verified" for r in report.results)
    return f"{n_ok} of {len(report.results)} claims verified"


def _verdict_paragraph(report: Any) -> str:
    v = report.verdict
    return (r"\paragraph{Verdict.} $" + VERDICT_MATH[v] + "$ \\textbf{" + escape_text(v) + "}: "
            + escape_text(_summary_sentence(report)) + ".\n")


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


#: Short labels for the engine's step names in the alignment's annotation column.
RULE_LABELS = {
    "chain-rule": "Jacobian chain rule",
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
}


def rule_label(rule: str) -> str:
    """A step's rule name as a short label (``chain-rule`` → ``Jacobian chain rule``)."""
    return RULE_LABELS.get(rule, rule.replace("-", " "))


def _subst(e: ir.Expr, old: ir.Expr, new: ir.Expr) -> tuple[ir.Expr, bool]:
    """``e`` with every occurrence of ``old`` replaced by ``new``, and whether there was one."""
    if e == old:
        return new, True
    kids = ir.children(e)
    if not kids:
        return e, False
    out, found = [], False
    for k in kids:
        k2, f = _subst(k, old, new)
        out.append(k2)
        found = found or f
    if not found:
        return e, False
    return ir.rebuild(e, out), True


class DerivationView:
    """The engine's steps arranged for typesetting.

    Each step of :class:`matcalc.engine.Derivation` states an equality: a rule's step says what a derivative is
    (``∇_u f = …``, ``J_x(u) = …``: the derivative of the output by an intermediate ``u``, or a local Jacobian), a
    simplification's step rewrites a subexpression, and the last step (the Jacobian chain rule) states the
    derivative asked for. ``rows`` holds one alignment row per step, ``before &= after && rule`` (``&= after`` when a
    step continues from the one before it); the last row ends at the result. ``notes`` holds the steps that state
    no equality (a convention); ``legend`` lists each rule used with its statement.
    """

    def __init__(self, head: ir.Expr, derivation: Any) -> None:
        self.notes: list[str] = []
        self.legend: list[tuple[str, str]] = []
        entries: list[list] = []  # [lhs LaTeX or None (continues), rhs LaTeX, [labels]]
        seen: set[str] = set()
        prev_after: ir.Expr | None = None
        last_lhs: ir.Expr | None = None

        def add(lhs: str | None, rhs: str, label: str) -> None:
            if entries and entries[-1][1] == rhs and (lhs is None or lhs == entries[-1][0]):
                if label not in entries[-1][2]:
                    entries[-1][2].append(label)  # the same equality again: one row, both rules
                return
            entries.append([lhs, rhs, [label]])

        from matcalc.render.steps import display_steps

        for s in display_steps(derivation.steps, drop_repeats=False):
            label = rule_label(s.rule)
            if s.rule not in seen:
                seen.add(s.rule)
                self.legend.append((label, s.note or ""))
            before = s.before
            if before is None:
                if prev_after is not None and s.after.shape == prev_after.shape and s.after != prev_after:
                    add(None, to_latex(s.after), label)
                    prev_after = s.after
                elif s.note:
                    self.notes.append(s.note)
                continue
            try:
                continues = prev_after is not None and before == prev_after
            except RecursionError:
                continues = False
            if continues:
                add(None, to_latex(s.after), label)
            else:
                add(to_latex(before), to_latex(s.after), label)
                last_lhs = before
            prev_after = s.after
        try:
            ends = prev_after is not None and prev_after == derivation.result and last_lhs == head
        except RecursionError:
            ends = False
        if not ends:
            add(to_latex(head), to_latex(derivation.result), "result")
        self.rows: list[str] = [
            (lhs + " &= " if lhs is not None else "&= ") + rhs + " && " + math_text(", ".join(labels))
            for lhs, rhs, labels in entries
        ]

    @staticmethod
    def intro() -> str:
        return ("The steps of the rule engine, each with the rule that gives it. A nabla with a subscript u is the "
                "derivative of the output by the intermediate u, along the paths taken so far (where u is used "
                "several times, the paths are added up); J is a Jacobian, in numerator layout:")

    def latex(self) -> str:
        """The derivation as text, an ``align*`` block and a legend, for a document."""
        out: list[str] = []
        for n in self.notes:
            out.append(r"\noindent\textit{Note:} " + escape_text(n) + "\n\n")
        out.append(escape_text(self.intro()) + "\n" + _align(self.rows) + "\n")
        if self.legend:
            out.append("{\\small\\begin{description}\n")
            for label, note in self.legend:
                out.append(r"\item[{" + escape_text(label) + "}] " + escape_text(note) + "\n")
            out.append("\\end{description}}\n")
        return "".join(out)


def _derivation_rows(head: ir.Expr, derivation: Any) -> list[str]:
    """The engine's steps as alignment rows (local rules, then the chain of equalities), each with its rule."""
    return DerivationView(head, derivation).rows


def _theorem_body(t: Any, *, sectioned: bool) -> str:
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
        out.append(("Then\n" if decls or lets else "") + _align([_claim_math(c.lhs, c.rhs, c.free) for c in claims]))
    out.append("\\end{theorem}\n")
    verified = t.verdict == "verified"
    out.append("\\begin{proof}[Proof (checked by matcalc)]\n" if verified else
               "\\paragraph{Attempted proof (not verified).}\n")
    for line, node, d in t.derivations:  # each distinct derivative once (matcalc.api._engine_derivations)
        out.append(f"The rule engine derives the left-hand side of line {int(line)}.\n\n")
        out.append(DerivationView(node, d).latex())
    chains = chain_rows(report.results, error_messages=False)
    if chains:
        out.append("\n\\noindent The claims and the steps of the derivation, each judged by matcalc:\n")
        for rows in chains:
            out.append(_align(rows))
    if report.results:
        out.append("\n\\noindent The evidence for each line (the three methods of SPEC section 5):\n")
    out.append(_evidence(report.results))
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


def _summary_table(theorems: list) -> str:
    out = ["\\section*{Summary}\n", "\\addcontentsline{toc}{section}{Summary}\n"]
    chunk = 20  # a tabular does not break across pages: several short ones
    for start in range(0, len(theorems), chunk):
        out.append("\\begin{center}\\small\n\\begin{tabular}{l p{4.8cm} l p{4.0cm} r}\n\\hline\n"
                   "name & title & verdict & methods & time \\tabularnewline\n\\hline\n")
        for t in theorems[start:start + chunk]:
            out.append(" & ".join([
                escape_text(t.name), "\\raggedright " + escape_text(t.title),
                "$" + VERDICT_MATH[t.verdict] + "$ " + escape_text(t.verdict),
                "\\raggedright " + escape_text(t.methods_summary()), escape_text(f"{t.seconds:.2f} s"),
            ]) + " \\tabularnewline\n")
        out.append("\\hline\n\\end{tabular}\n\\end{center}\n")
    counts: dict[str, int] = {}
    for t in theorems:
        counts[t.verdict] = counts.get(t.verdict, 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in counts.items())
    out.append(escape_text(f"{len(theorems)} theorems: {tally}.") + "\n")
    return "".join(out)


def _prove_document(res: Any) -> str:
    theorems = list(res.theorems)
    if len(theorems) == 1:
        t = theorems[0]
        title = escape_text(t.title or t.name)
        return _ascii_only(_preamble(title) + _theorem_body(t, sectioned=False) + _END)
    body: list[str] = []
    groups: dict[str, list] = {}
    for t in theorems:
        groups.setdefault(_part_key(t.part), []).append(t)
    order = ["1", "2", "3", "4", "exercises", "other"]
    for key in order:
        if key not in groups:
            continue
        body.append(r"\section{" + escape_text(PART_TITLES[key]) + "}\n")
        for t in groups[key]:
            body.append(_theorem_body(t, sectioned=True))
    body.append(_summary_table(theorems))
    title = "Matrix calculus of neural networks: the theorems, derived and checked"
    return _ascii_only(_preamble(escape_text(title), toc=True, numbered_theorems="[section]") + "".join(body) + _END)


def _check_document(report: Any) -> str:
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
    for rows in chain_rows(report.results, error_messages=False):
        out.append(_align(rows))
    out.append(r"\section*{Evidence}" + "\n")
    out.append(_evidence(report.results))
    out.append(_verdict_paragraph(report))
    return _ascii_only(_preamble(escape_text(title)) + "".join(out) + _END)


def _derive_head(res: Any, item: Any) -> ir.Expr:
    try:
        return ir.Derivative(res.expr, item.wrt, "d", res.layout)
    except Exception:  # noqa: BLE001 - a heading must not fail the document
        return item.wrt


def _derive_document(res: Any) -> str:
    out: list[str] = []
    out.append(r"\noindent Derivatives of $" + to_latex(res.expr) + "$ in "
               + escape_text(res.layout) + " layout.\n")
    if res.inferred:
        out.append(r"\paragraph{Inferred.} " + "; ".join(escape_text(x) for x in res.inferred) + ".\n")
    for item in res.items:
        d = item.derivation
        out.append(r"\section*{With respect to $" + to_latex(item.wrt) + "$}\n")
        out.append("The result is $" + _shape_text(d.result.shape) + "$.\n")
        out.append(DerivationView(_derive_head(res, item), d).latex())
        out.append("\\[\n  \\boxed{" + to_latex(_derive_head(res, item)) + " = " + to_latex(d.result) + "}\n\\]\n")
        m = item.numeric
        out.append(r"\paragraph{Numeric check.} $" + METHOD_MATH.get(m.status, r"\text{?}") + "$ "
                   + escape_text(m.detail or m.status) + "\n")
    title = "Derivative of $" + to_latex(res.expr) + "$"
    return _ascii_only(_preamble(title) + "".join(out) + _END)


def document(result: Any) -> str:
    """A complete LaTeX document for a check report, a derivation or proofs.

    Args:
        result: a :class:`~matcalc.verify.judge.CheckReport`, :class:`~matcalc.api.DeriveResult` or
            :class:`~matcalc.api.ProveResult` (a :class:`~matcalc.api.TheoremResult` is taken as one theorem).

    Returns:
        The document's text: pure ASCII, needing only amsmath, amssymb, amsthm and bm.
    """
    from matcalc.api import DeriveResult, ProveResult, TheoremResult
    from matcalc.results import CheckReport

    if isinstance(result, ProveResult):
        return _prove_document(result)
    if isinstance(result, TheoremResult):
        return _prove_document(ProveResult(theorems=[result]))
    if isinstance(result, CheckReport):
        return _check_document(result)
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
    return _ascii_only(_preamble("matcalc rule table") + "".join(out) + _END)


# ───────────────────────────── fragments (Jupyter, Markdown) ─────────────────────────────


def _aligned(rows: list[str]) -> str:
    return "\\begin{aligned}\n" + " \\\\\n".join("  " + r for r in rows) + "\n\\end{aligned}"


def fragment_rows(result: Any) -> list[str]:
    """The rows of :func:`fragment` (``aligned`` content), for the Markdown renderer too."""
    from matcalc.api import DeriveResult, ProveResult, TheoremResult
    from matcalc.results import CheckReport, ClaimResult

    rows: list[str] = []
    if isinstance(result, CheckReport):
        for chain in chain_rows(result.results):
            rows.extend(chain)
        rows.append(r"& " + VERDICT_MATH[result.verdict] + r"\ " + math_text(
            f"{result.verdict}: {_summary_sentence(result)}"))
        return rows
    if isinstance(result, ClaimResult):
        for chain in chain_rows([result]):
            rows.extend(chain)
        return rows
    if isinstance(result, DeriveResult):
        for item in result.items:
            rows.extend(_derivation_rows(_derive_head(result, item), item.derivation))
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
        return rows
    raise TypeError(f"no LaTeX fragment for {type(result).__name__}")


def fragment(result: Any) -> str:
    """``$$\\begin{aligned} … \\end{aligned}$$`` for Jupyter's ``_repr_latex_`` (KaTeX and MathJax safe)."""
    return _ascii_only("$$\n" + _aligned(fragment_rows(result)) + "\n$$")


# ───────────────────────────── PDF ─────────────────────────────


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("!"):
            return "\n".join(lines[i:i + 6]).strip()
    tail = [ln for ln in lines if ln.strip()][-6:]
    return "\n".join(tail).strip() or "(no log)"


def write_pdf(result: Any, out: str | os.PathLike, *, timeout_s: float = PDFLATEX_TIMEOUT_S) -> Path:
    """Write ``result``'s LaTeX document next to ``out`` and compile it to a PDF at ``out`` (with ``.pdf``).

    Runs ``pdflatex -interaction=nonstopmode -halt-on-error -no-shell-escape`` twice (for the table of contents) in a
    temporary directory, with a timeout.

    Raises:
        UsageError: pdflatex is missing, fails (the message holds the log's first error), or times out.
    """
    text = result if isinstance(result, str) else document(result)
    out_path = Path(out)
    if out_path.suffix.lower() in (".pdf", ".tex"):
        pdf_path = out_path.with_suffix(".pdf")
    else:
        pdf_path = out_path.with_name(out_path.name + ".pdf")
    tex_path = pdf_path.with_suffix(".tex")
    exe = shutil.which("pdflatex")
    if exe is None:
        raise UsageError("pdflatex not found: install texlive-latex-base and texlive-latex-recommended "
                         "(Debian/Ubuntu: apt-get install texlive-latex-base texlive-latex-recommended)")
    if pdf_path.parent and not pdf_path.parent.exists():
        raise UsageError(f"cannot write {pdf_path}: the directory {pdf_path.parent} does not exist")
    tex_path.write_text(text, encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="matcalc-latex-") as tmp:
        src = Path(tmp) / "doc.tex"
        src.write_text(text, encoding="utf-8")
        cmd = [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"]
        env = dict(os.environ, openout_any="p", openin_any="p")
        for _ in range(2):
            try:
                proc = subprocess.run(cmd, cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, timeout=timeout_s, env=env)
            except subprocess.TimeoutExpired:
                raise UsageError(f"pdflatex did not finish within {timeout_s:g} s on {tex_path}") from None
            except OSError as exc:
                raise UsageError(f"cannot run pdflatex: {exc}") from None
            if proc.returncode != 0:
                log_file = Path(tmp) / "doc.log"
                log = (log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists()
                       else proc.stdout.decode("utf-8", "replace"))
                raise UsageError(f"pdflatex failed on {tex_path}:\n{_first_error(log)}")
        shutil.copyfile(Path(tmp) / "doc.pdf", pdf_path)
    return pdf_path

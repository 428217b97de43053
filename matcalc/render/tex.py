"""LaTeX escaping: any text as safe, pure-ASCII LaTeX in text mode or in math mode.

Contract: :func:`escape_text` (text mode) and :func:`math_text` (math mode) escape the LaTeX specials and map Unicode
to LaTeX macros (amssymb at most), so nothing from the input reaches pdflatex raw (``\\input{/etc/passwd}`` in a
title prints as text); :func:`formula_math` sets a formula written in plain text (a rule's statement) as math;
``ascii_only`` is the last guard of a whole document. Accepted by LaTeX, KaTeX and MathJax alike.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from matcalc.printing import greek_macro


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


def ascii_only(s: str) -> str:
    """A last guard: any non-ASCII character left (there should be none) becomes ``?``."""
    return s if s.isascii() else "".join(c if c.isascii() else "?" for c in s)

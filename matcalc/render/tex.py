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
    # straight double quotes in pairs as LaTeX's opening and closing quotes ("Vector chain rule")
    pieces = _classify(re.sub(r'"([^"\n]*)"', "\u201c\\1\u201d", str(s)))
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
#: A derivative operator written in matcalc's language, ``d/dw``: one token, set as ``\partial/\partial w``.
_DERIVATIVE_OP = r"d/d[A-Za-z][A-Za-z0-9]*\b"
_FORMULA_TOKEN = re.compile(_DERIVATIVE_OP + r"|[A-Za-z]+|\d+(?:\.\d+)?|\s+|.", re.S)


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
        if t.startswith("d/d") and len(t) > 3:
            name = t[3:]
            out.append(r"\partial/\partial " + (greek_macro(name) or (name if len(name) == 1 else
                                                                     r"\mathit{" + name + "}")) + " ")
            continue
        if t == "^" and i < len(toks) and not toks[i].isspace():
            # a superscript: c^k, c^(k−1) (the brackets only group), x^-1
            if toks[i] == "(":
                depth, j = 0, i
                while j < len(toks):
                    depth += toks[j] == "("
                    depth -= toks[j] == ")"
                    if depth == 0:
                        break
                    j += 1
                inner, i = "".join(toks[i + 1:j]), j + 1
            else:
                sign = ""
                if toks[i] in "-−" and i + 1 < len(toks) and toks[i + 1].isalnum():
                    sign, i = "-", i + 1
                inner, i = sign + toks[i], i + 1
            out.append("^{" + formula_math(inner) + "}")
            continue
        if t == "_" and i < len(toks) and toks[i].isascii() and toks[i].isalnum():
            sub = toks[i]
            i += 1
            out.append("_{" + (sub if len(sub) == 1 or sub.isdigit() else " ".join(sub)) + "}")
            continue
        if t.isascii() and t.isalpha():
            if len(t) == 1:
                out.append(t)
            elif len(t) == 2 and t[0] == "d" and t[1].isupper():
                out.append("\\mathrm{d}" + t[1])  # a differential: dY
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
    text = re.sub(r" +", " ", "".join(out)).strip()
    if re.search(r"(?<!\\)(?:\\\\)*\\$", text):  # a word's "\ " spacing cut to a lone backslash at the end
        text = text[:-1].rstrip()
    return text


def ascii_only(s: str) -> str:
    """A last guard: any non-ASCII character left (there should be none) becomes ``?``."""
    return s if s.isascii() else "".join(c if c.isascii() else "?" for c in s)


#: Words set as mathematics inside prose (function names, differentials), besides single letters.
_MATH_WORDS = _OPERATOR_WORDS | _MATH_FUNCS | {"unvec", "ln", "sigma", "Sigma"}
_PROSE_TOKEN = re.compile(_DERIVATIVE_OP + r"|[A-Za-z]+|\d+(?:\.\d+)?|\s+|.", re.S)


def _is_english(tok: str, nxt: str) -> bool:
    """A word of prose (not a variable, a function applied to an argument or a differential such as ``dY``)."""
    if not (tok.isascii() and tok.isalpha()):
        return False
    if len(tok) == 1:  # "a" as an article: before a word or a number
        return tok == "a" and (nxt[:1].isdigit() or (nxt.isascii() and nxt.isalpha() and len(nxt) > 1
                                                      and not (nxt in _MATH_WORDS)))
    if (tok in _MATH_WORDS and nxt in ("(", "^", "'")) or greek_macro(tok):
        return False
    if len(tok) == 2 and tok[0] == "d" and tok[1].isupper():  # dY, dX: differentials
        return False
    return not any(c.isupper() for c in tok[1:])


def _prose_kinds(toks: list[str]) -> list[str]:
    """Each token's kind: ``e`` prose, ``m`` mathematics, ``n`` neutral (spaces, punctuation)."""
    words = [i for i, t in enumerate(toks) if not t.isspace()]
    kind = ["n"] * len(toks)
    for k, i in enumerate(words):
        t = toks[i]
        nxt = toks[words[k + 1]] if k + 1 < len(words) else ""
        prev_kind = kind[words[k - 1]] if k > 0 else "n"
        if _is_english(t, nxt):
            kind[i] = "e"
        elif t == "-" and 0 < i < len(toks) - 1 and _is_english(toks[i - 1], "") and _is_english(toks[i + 1], ""):
            kind[i] = "e"  # a hyphenated word: total-derivative
        elif t in ",;:.!?\"&\u201c\u201d" or t in "()":
            kind[i] = "n"
        elif t == "'":
            kind[i] = "m" if prev_kind == "m" else "n"
        else:
            kind[i] = "m"
    # brackets: mathematics when they enclose no prose, else prose; unmatched ones are prose
    stack: list[int] = []
    for i, t in enumerate(toks):
        if t == "(":
            stack.append(i)
        elif t == ")":
            if not stack:
                kind[i] = "e"
                continue
            j = stack.pop()
            inner = kind[j + 1:i]
            mk = "e" if "e" in inner or "m" not in inner else "m"
            kind[i] = kind[j] = mk
    for j in stack:
        kind[j] = "e"
    return kind


def prose_math(s: Any) -> str:
    """Text that mixes prose and formulas (a rule's note: ``Jacobian: ∂(x z)/∂x = I z``) as LaTeX text mode: the
    words as text, each formula between them in ``$…$`` set by :func:`formula_math` (so ``R^n`` is
    :math:`\\mathbb{R}^n`, not a caret). Pure ASCII, escaped as :func:`escape_text`.
    """
    text = re.sub(r"\bR\s*->\s*R\b", "ℝ → ℝ", str(s))  # a declaration as matcalc reads it: σ: R -> R
    text = re.sub(r"\bR(?=\^|\s*→)|(?<=→ )R\b", "ℝ", text)
    text = re.sub(r'"([^"\n]*)"', "\u201c\\1\u201d", text)  # quotes in pairs, as LaTeX's opening and closing quotes
    toks = _PROSE_TOKEN.findall(text)
    kind = _prose_kinds(toks)
    out: list[str] = []
    i = 0
    while i < len(toks):
        if kind[i] != "m":
            out.append(escape_text(toks[i]))
            i += 1
            continue
        j = last = i
        while j < len(toks) and kind[j] != "e":
            if kind[j] == "m":
                last = j
            j += 1
        # a formula ends at its last mathematical token; the punctuation and space after it are prose
        out.append("$" + formula_math("".join(toks[i:last + 1])) + "$")
        i = last + 1
    return "".join(out)

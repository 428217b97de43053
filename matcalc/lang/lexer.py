"""The lexer of the matcalc language: one line of text to a list of tokens with 1-based positions.

Contract: :func:`tokenize_line` turns one physical line (comments already removed) into :class:`Token` objects and
ends the list with an ``EOF`` token whose column is just after the last non-blank character (so "expected ')'"
points at the end of the input). Every ASCII and Unicode spelling of SPEC section 3 is folded into one token kind
here (``−`` is ``-``; ``⊙ ∘ .*`` are ``⊙``; ``⊘ ./`` are ``⊘``; ``‖`` and ``||`` are ``‖``; ``ᵀ`` and ``.T`` are
``T``; ``⁻ᵀ`` is ``INVT``; superscript numbers such as ``²`` or ``⁻¹`` are ``POW`` with an integer value;
``→``/``->`` are ``->``; ``@``, ``·`` and ``*`` are ``*``). ``d/dX`` and ``∂/∂X`` lex as one ``DERIV`` token
whose ``value`` is the name ``X``; Leibniz spelling ``d(e)/dX`` and ``∂(e)/∂X`` lexes as an ``LDERIV`` token (value
``(X, column of X)``) followed by the bracket ``(e)``, the ``/dX`` dropped; ``sum_k``, ``Σ_k`` and ``∑_k`` lex as ``SUMIDX`` with ``value`` ``k``.
Anything else raises :class:`~matcalc.errors.ParseError` at the offending column; nothing here evaluates user text.

Limits (SPEC section 8): a number literal has at most :data:`MAX_NUMBER_CHARS` characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from matcalc.errors import ParseError
from matcalc.lang.limits import MAX_NUMBER_CHARS, check_number_exponent, check_number_literal, check_superscript

__all__ = ["Token", "tokenize_line", "MAX_NUMBER_CHARS", "is_ident_start", "is_ident_char"]

_SUPERSCRIPT_DIGITS = {"⁰": 0, "¹": 1, "²": 2, "³": 3, "⁴": 4, "⁵": 5, "⁶": 6, "⁷": 7, "⁸": 8, "⁹": 9}
_SUBSCRIPT_DIGITS = "₀₁₂₃₄₅₆₇₈₉"
# letters that are operators or reserved symbols, not parts of names
_NOT_IDENT = set("ᵀℝⁿ∂∇Σ∑")

_SINGLE = {
    "+": "+", "-": "-", "−": "-", "*": "*", "@": "*", "·": "*", "⋅": "*", "/": "/", "^": "^", "(": "(",
    ")": ")", "[": "[", "]": "]", "{": "{", "}": "}", ",": ",", ":": ":", ";": ";", "=": "=", "'": "'",
    "′": "'", "⊙": "⊙", "∘": "⊙", "⊘": "⊘", "⊗": "⊗", "‖": "‖", "ᵀ": "T", "→": "->", "×": "×", "ℝ": "ℝ",
    "∇": "∇",
}


@dataclass(frozen=True)
class Token:
    """A token: its ``kind`` (``NAME``, ``NUMBER``, ``DERIV``, ``SUMIDX``, ``POW``, ``EOF`` or an operator such as
    ``+``), the ``text`` it was read from, its 1-based ``line`` and ``col``, and a ``value`` (the number, the name
    differentiated by, the summation index or the exponent)."""

    kind: str
    text: str
    line: int
    col: int
    value: object = None

    @property
    def end_col(self) -> int:
        return self.col + max(1, len(self.text))

    def describe(self) -> str:
        if self.kind == "EOF":
            return "the end of the input"
        return repr(self.text)


def is_ident_start(ch: str) -> bool:
    return (ch.isalpha() or ch == "_") and ch not in _NOT_IDENT


def is_ident_char(ch: str) -> bool:
    return is_ident_start(ch) or ch.isdigit() and ch.isascii() or ch in _SUBSCRIPT_DIGITS


def _read_ident(text: str, i: int) -> int:
    j = i
    while j < len(text) and is_ident_char(text[j]):
        j += 1
    return j


def _read_sum(text: str, i: int, line: int) -> tuple[Token, int]:
    """A summation ``Σ_k``, ``∑_{k}`` or ``sum_k`` at ``text[i]`` (a lone ``Σ`` is a name): the token and the
    position after it."""
    n, ch, col = len(text), text[i], i + 1
    start = i + (4 if ch == "s" else 1)
    if ch != "s":
        if start < n and text[start] == "_":
            start += 1
        else:
            if ch == "Σ":  # a capital sigma on its own is a name (a covariance matrix, say)
                j = _read_ident(text, i + 1)
                return Token("NAME", text[i:j], line, col, text[i:j]), j
            raise ParseError("'∑' needs an index: write ∑_k e", line=line, col=col)
    braced = start < n and text[start] == "{"
    k = start + 1 if braced else start
    if k < n and is_ident_start(text[k]):
        j = _read_ident(text, k)
        idx = text[k:j]
        if braced:
            if j < n and text[j] == "}":
                j += 1
            else:
                raise ParseError("expected '}' after the summation index", line=line, col=j + 1)
        return Token("SUMIDX", text[i:j], line, col, idx), j
    if ch == "s":  # "sum_" followed by nothing sensible: read as a name and let the parser complain
        j = _read_ident(text, i)
        return Token("NAME", text[i:j], line, col, text[i:j]), j
    raise ParseError("expected an index name after 'Σ_' (as in Σ_k e)", line=line, col=k + 1)


def _read_number(text: str, i: int, line: int) -> tuple[Token, int]:
    """A number literal at ``text[i]`` (``12``, ``0.5``, ``.5``, ``1e-14``, ``2.5E3``): the token and the position
    after it. An ``e`` right after the digits and followed by digits (with a sign or not) is scientific notation, never
    a product with a name ``e``: ``1e-14`` is 10⁻¹⁴ (exactly, as a fraction)."""
    n, col = len(text), i + 1
    j = i
    while j < n and text[j].isdigit() and text[j].isascii():
        j += 1
    if j < n - 1 and text[j] == "." and text[j + 1].isdigit() and text[j + 1].isascii():
        j += 1
        while j < n and text[j].isdigit() and text[j].isascii():
            j += 1
    k = j + 1 + (j + 1 < n and text[j + 1] in "+-")
    if j < n and text[j] in "eE" and k < n and text[k].isdigit() and text[k].isascii():
        e0 = k
        while k < n and text[k].isdigit() and text[k].isascii():
            k += 1
        check_number_exponent(int(text[e0:k]), line, j + 1)
        j = k
    lit = text[i:j]
    check_number_literal(lit, line, col)
    return Token("NUMBER", lit, line, col, Fraction(lit if not lit.startswith(".") else "0" + lit)), j


def _read_superscript(text: str, i: int, line: int) -> tuple[Token, int]:
    """A superscript exponent at ``text[i]`` (``²``, ``⁻¹``, ``⁻ᵀ``): the token and the position after it."""
    n, ch, col = len(text), text[i], i + 1
    j = i + 1 if ch == "⁻" else i
    if ch == "⁻" and j < n and text[j] == "ᵀ":
        return Token("INVT", text[i:j + 1], line, col), j + 1
    k = j
    while k < n and text[k] in _SUPERSCRIPT_DIGITS:
        k += 1
    if k == j:
        raise ParseError("'⁻' must be followed by a superscript number or ᵀ (as in A⁻¹, A⁻ᵀ)",
                         line=line, col=col)
    check_superscript(k - j, line, col)
    value = 0
    for c in text[j:k]:
        value = value * 10 + _SUPERSCRIPT_DIGITS[c]
    return Token("POW", text[i:k], line, col, -value if ch == "⁻" else value), k


_OPEN_CLOSE = {"(": ")", "[": "]", "{": "}"}


def _matching_close(text: str, i: int) -> int:
    """The index of the bracket that closes the ``(`` at ``text[i]`` on this line, or -1."""
    stack = []
    for j in range(i, len(text)):
        c = text[j]
        if c in _OPEN_CLOSE:
            stack.append(_OPEN_CLOSE[c])
        elif c in ")]}":
            if not stack or stack.pop() != c:
                return -1
            if not stack:
                return j
    return -1


def _leibniz(text: str, i: int, line: int) -> tuple[Token, int, int] | None:
    """Leibniz spelling at ``text[i]``: ``d(e)/dX`` or ``∂(e)/∂X`` (SPEC section 3). Returns the ``LDERIV`` token
    (``value`` is ``(X, column of X)``), where the ``/dX`` part starts and where it ends; None if this is not one.
    ``d(e)/d X`` (a space after the d) is a near miss: an error that shows the accepted spellings."""
    if text[i] not in "d∂" or i + 1 >= len(text) or text[i + 1] != "(":
        return None
    close = _matching_close(text, i + 1)
    if close < 0:
        return None
    j = close + 1
    while j < len(text) and text[j] in " \t":
        j += 1
    if j >= len(text) or text[j] != "/":
        return None
    slash = j
    j += 1
    while j < len(text) and text[j] in " \t":
        j += 1
    if j >= len(text) or text[j] not in "d∂":
        return None
    k = j + 1
    while k < len(text) and text[k] in " \t":
        k += 1
    if k >= len(text) or not is_ident_start(text[k]):
        return None
    end = _read_ident(text, k)
    name = text[k:end]
    if k > j + 1:
        body = text[i + 2:close]
        raise ParseError(f"in Leibniz spelling the {text[j]} and the variable go together: write "
                         f"{text[i]}({body})/{text[j]}{name}, or {text[i]}/{text[j]}{name} ({body})", line=line,
                         col=j + 1)
    return Token("LDERIV", text[i], line, i + 1, (name, k + 1)), slash, end


#: What a ``∂`` that starts no derivative says.
PARTIAL_HINT = "'∂' starts a derivative: write ∂/∂x e, ∂(e)/∂x, or ∂f/∂x for a let name f"


def _partial_fraction(text: str, i: int, line: int) -> tuple[list[Token], int] | None:
    """``∂f/∂X`` at ``text[i]``: the tokens ``∂f`` ``/`` ``∂X`` (two names that start with ``∂``, which
    :mod:`matcalc.lang.leibniz` reads as ``d/dX f``, as it reads ``df/dX``) and where they end; None if this is not
    one."""
    n = len(text)
    if i + 1 >= n or not is_ident_start(text[i + 1]):
        return None
    j = _read_ident(text, i + 1)
    slash = j
    while slash < n and text[slash] in " \t":
        slash += 1
    if slash >= n or text[slash] != "/":
        return None
    k = slash + 1
    while k < n and text[k] in " \t":
        k += 1
    if k + 1 >= n or text[k] != "∂" or not is_ident_start(text[k + 1]):
        return None
    end = _read_ident(text, k + 1)
    return [Token("NAME", text[i:j], line, i + 1, text[i:j]), Token("/", "/", line, slash + 1),
            Token("NAME", text[k:end], line, k + 1, text[k:end])], end


def tokenize_line(text: str, line: int) -> list[Token]:
    """The tokens of one line (without its comment), ending with an ``EOF`` token."""
    toks: list[Token] = []
    i, n = 0, len(text)
    skip: dict[int, int] = {}  # the "/dX" of a Leibniz derivative: where it starts → where it ends
    while i < n:
        ch = text[i]
        col = i + 1
        if i in skip:
            i = skip.pop(i)
            continue
        if ch in " \t\r\u00a0\ufeff":
            i += 1
            continue
        if ch in "d∂" and not (toks and toks[-1].kind == "NAME" and toks[-1].col + len(toks[-1].text) == col):
            found = _leibniz(text, i, line)
            if found is not None:
                tok, slash, end = found
                toks.append(tok)
                skip[slash] = end
                i += 1
                continue
        # derivative operators: d/dX and ∂/∂X (d/d<name> is always a derivative)
        if (text.startswith("d/d", i) or text.startswith("∂/∂", i)) and (i == 0 or not text[i - 1].isalnum()):
            k = i + 3
            while k < n and text[k] in " \t":
                k += 1
            if k > i + 3 and k < n and is_ident_start(text[k]):
                raise ParseError(f"write {text[i:i + 3]}{text[k:_read_ident(text, k)]} with no space: the derivative "
                                 "operator and its variable go together", line=line, col=col)
        if (text.startswith("d/d", i) or text.startswith("∂/∂", i)) and i + 3 < n and is_ident_start(text[i + 3]):
            j = _read_ident(text, i + 3)
            toks.append(Token("DERIV", text[i:j], line, col, text[i + 3:j]))
            i = j
            continue
        if ch in "Σ∑" or text.startswith("sum_", i):
            tok, i = _read_sum(text, i, line)
            toks.append(tok)
            continue
        if is_ident_start(ch):
            j = _read_ident(text, i)
            toks.append(Token("NAME", text[i:j], line, col, text[i:j]))
            i = j
            continue
        if ch.isdigit() and ch.isascii() or (ch == "." and i + 1 < n and text[i + 1].isdigit()
                                            and text[i + 1].isascii()):
            tok, i = _read_number(text, i, line)
            toks.append(tok)
            continue
        if ch == ".":
            nxt = text[i + 1] if i + 1 < n else ""
            if nxt == "*":
                toks.append(Token("⊙", ".*", line, col))
                i += 2
                continue
            if nxt == "/":
                toks.append(Token("⊘", "./", line, col))
                i += 2
                continue
            if nxt == "^":
                toks.append(Token(".^", ".^", line, col))
                i += 2
                continue
            if nxt == "T" and not (i + 2 < n and is_ident_char(text[i + 2])):
                toks.append(Token("T", ".T", line, col))
                i += 2
                continue
            raise ParseError("unexpected '.' (did you mean .* ./ .^ or .T?)", line=line, col=col)
        if ch == "|":
            if i + 1 < n and text[i + 1] == "|":
                toks.append(Token("‖", "||", line, col))
                i += 2
                continue
            raise ParseError("a single '|' is not an operator: write ‖x‖ or ||x|| for a norm, abs(x) for absolute "
                             "values", line=line, col=col)
        if ch == "-" and i + 1 < n and text[i + 1] == ">":
            toks.append(Token("->", "->", line, col))
            i += 2
            continue
        if ch == "⁻" or ch in _SUPERSCRIPT_DIGITS:
            tok, i = _read_superscript(text, i, line)
            toks.append(tok)
            continue
        kind = _SINGLE.get(ch)
        if kind is not None:
            toks.append(Token(kind, ch, line, col))
            i += 1
            continue
        if ch == "∂":
            found = _partial_fraction(text, i, line)
            if found is None and text[i + 1:i + 2] in ("^", "²"):
                raise ParseError("a second derivative ∂²f/∂x² is written hessian(f, x)", line=line, col=col)
            if found is None:
                raise ParseError(PARTIAL_HINT, line=line, col=col)
            toks.extend(found[0])
            i = found[1]
            continue
        name = f"U+{ord(ch):04X}"
        shown = ch if ch.isprintable() and not (0xD800 <= ord(ch) <= 0xDFFF) else "?"
        raise ParseError(f"unknown character {shown!r} ({name})", line=line, col=col)
    end = len(text.rstrip(" \t\r\u00a0\ufeff")) + 1
    toks.append(Token("EOF", "", line, end))
    return toks

"""The limits of the matcalc language (SPEC section 8): every size, depth and length bound in one place.

Contract: the constants here are the only limits the lexer, parser and typer enforce; input beyond any of them raises
:class:`~matcalc.errors.LimitError` with a line and column, never a traceback or a hang. :func:`check_text_size` checks
the length of a whole text and of each of its lines. This module imports nothing from the rest of the language.
"""

from __future__ import annotations

from matcalc.errors import LimitError

__all__ = [
    "MAX_DOCUMENT_CHARS", "MAX_LINE_CHARS", "MAX_MATRIX_POWER", "MAX_SCALAR_POWER", "MAX_SIZE", "MAX_LET_DEPTH",
    "MAX_PRODUCT_WRAPS", "MAX_EXPANDED_NODES", "MAX_DEPTH", "MAX_CONST", "MAX_PRIMES", "MAX_NUMBER_CHARS",
    "check_text_size",
]

#: The longest document accepted, in characters.
MAX_DOCUMENT_CHARS = 100_000
#: The longest line accepted, in characters.
MAX_LINE_CHARS = 10_000
#: The largest ``|k|`` of a matrix power ``A^k``.
MAX_MATRIX_POWER = 64
#: The largest ``|k|`` (and denominator) of a scalar power ``c^k`` or an entrywise power ``x.^k``.
MAX_SCALAR_POWER = 1000
#: The largest integer size (``W: 3 x n``, ``ones(5)``) and integer index.
MAX_SIZE = 10_000
#: The deepest nesting of ``let`` definitions inside each other, counted in IR levels.
MAX_LET_DEPTH = 150
#: The most levels one product may nest: each scalar factor or division wraps the product before it.
MAX_PRODUCT_WRAPS = 50
#: The most IR nodes an expression may have with every ``let`` name written out.
MAX_EXPANDED_NODES = 20_000
#: The deepest nesting accepted (brackets, prefixes, postfix and entrywise chains).
MAX_DEPTH = 100
#: The largest numerator or denominator while evaluating a bracketed constant exponent.
MAX_CONST = 10**12
#: The most primes on a function name (``f''''(x)``).
MAX_PRIMES = 4
#: The longest number literal accepted (digits and the decimal point).
MAX_NUMBER_CHARS = 20


def check_text_size(text: str, what: str) -> None:
    lines = text.split("\n")
    if len(text) > MAX_DOCUMENT_CHARS:
        total = 0
        for no, ln in enumerate(lines, 1):
            total += len(ln) + 1
            if total > MAX_DOCUMENT_CHARS:
                raise LimitError(f"{what} is longer than {MAX_DOCUMENT_CHARS} characters", line=no,
                                 col=max(1, len(ln) - (total - MAX_DOCUMENT_CHARS) + 1))
    for no, ln in enumerate(lines, 1):
        if len(ln) > MAX_LINE_CHARS:
            raise LimitError(f"line {no} is longer than {MAX_LINE_CHARS} characters", line=no,
                             col=MAX_LINE_CHARS + 1)

"""The limits of the matcalc language (SPEC section 8): every size, depth and length bound in one place.

Contract: the constants here are the only limits the lexer, parser and typer enforce, and the ``check_*`` functions
are the only places that raise :class:`~matcalc.errors.LimitError` for them, with a line and column (the reader adds
the source text), never a traceback or a hang. :func:`check_text_size` checks the length of a whole text and of
each of its lines. This module imports nothing from the rest of the language.
"""

from __future__ import annotations

from fractions import Fraction

from matcalc.errors import LimitError

__all__ = [
    "MAX_DOCUMENT_CHARS", "MAX_LINE_CHARS", "MAX_MATRIX_POWER", "MAX_SCALAR_POWER", "MAX_SIZE", "MAX_LET_DEPTH",
    "MAX_PRODUCT_WRAPS", "MAX_NODES", "MAX_DEPTH", "MAX_CONST", "MAX_PRIMES", "MAX_NUMBER_CHARS",
    "MAX_SUPERSCRIPT_DIGITS", "MAX_CONST_EXPONENT", "check_text_size", "check_number_literal", "check_superscript",
    "check_depth", "check_constant", "check_constant_exponent", "check_constant_power", "check_primes", "check_size",
    "check_power", "check_product_wraps", "check_nodes", "check_let_depth", "check_let_size",
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
#: The deepest nesting of ``let`` definitions inside each other, counted in levels of the expression with each
#: ``let`` name standing for its definition (the depth of the DAG): a 512-layer network is about 2 000 levels.
MAX_LET_DEPTH = 8000
#: The most levels one product may nest: each scalar factor or division wraps the product before it.
MAX_PRODUCT_WRAPS = 50
#: The most distinct nodes an expression may have, its ``let`` definitions included, each counted once however
#: often it is used.
MAX_NODES = 50_000
#: The deepest nesting accepted (brackets, prefixes, postfix and entrywise chains).
MAX_DEPTH = 100
#: The largest numerator or denominator while evaluating a bracketed constant exponent.
MAX_CONST = 10**12
#: The most primes on a function name (``f''''(x)``).
MAX_PRIMES = 4
#: The longest number literal accepted (digits and the decimal point).
MAX_NUMBER_CHARS = 20
#: The most digits of a superscript exponent (``A¹²³⁴``).
MAX_SUPERSCRIPT_DIGITS = 4
#: The largest ``|e|`` of a power ``v^e`` inside a bracketed constant exponent.
MAX_CONST_EXPONENT = 64


def check_text_size(text: str, what: str) -> None:
    """``what`` (``"the document"``) within :data:`MAX_DOCUMENT_CHARS` characters, each line within
    :data:`MAX_LINE_CHARS`."""
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


# The checks below raise LimitError at the given line and column; the reader adds the source text.


def check_number_literal(lit: str, line: int, col: int) -> None:
    if len(lit) > MAX_NUMBER_CHARS:
        raise LimitError(f"a number literal longer than {MAX_NUMBER_CHARS} characters", line=line, col=col)


#: The largest power of ten a number literal may carry in scientific notation (``1e-30`` … ``1e30``).
MAX_NUMBER_EXPONENT = 30


def check_number_exponent(exp: int, line: int, col: int) -> None:
    if exp > MAX_NUMBER_EXPONENT:
        raise LimitError(f"a number literal with a power of ten beyond ±{MAX_NUMBER_EXPONENT}", line=line, col=col)


def check_superscript(digits: int, line: int, col: int) -> None:
    if digits > MAX_SUPERSCRIPT_DIGITS:
        raise LimitError(f"a superscript exponent longer than {MAX_SUPERSCRIPT_DIGITS} digits", line=line, col=col)


def check_depth(depth: int, line: int, col: int) -> None:
    if depth > MAX_DEPTH:
        raise LimitError(f"the expression is nested more than {MAX_DEPTH} levels deep", line=line, col=col)


def check_constant(v: Fraction, line: int, col: int) -> Fraction:
    """``v`` itself, when its numerator and denominator are within :data:`MAX_CONST`."""
    if abs(v.numerator) > MAX_CONST or v.denominator > MAX_CONST:
        raise LimitError(f"a constant larger than {MAX_CONST}", line=line, col=col)
    return v


def check_constant_exponent(e: Fraction, line: int, col: int) -> None:
    """The ``e`` of ``v^e`` in a constant exponent: an integer with ``|e| <=`` :data:`MAX_CONST_EXPONENT`."""
    if e.denominator != 1 or abs(e) > MAX_CONST_EXPONENT:
        raise LimitError("a power inside a constant exponent needs an integer exponent of at most "
                         f"{MAX_CONST_EXPONENT}", line=line, col=col)


def check_constant_power(v: Fraction, e: Fraction, line: int, col: int) -> None:
    """``v^e`` in a constant exponent can stay within :data:`MAX_CONST` (checked before computing it)."""
    if abs(v.numerator) > 1 and abs(e) * max(len(str(v.numerator)), len(str(v.denominator))) > 13:
        raise LimitError(f"a constant larger than {MAX_CONST}", line=line, col=col)


def check_primes(primes: int, line: int, col: int) -> None:
    if primes > MAX_PRIMES:
        raise LimitError(f"more than {MAX_PRIMES} primes", line=line, col=col)


def check_size(value: object, line: int, col: int, what: str = "a size") -> None:
    """An integer size (or, with ``what="an index"``, an index) within :data:`MAX_SIZE`."""
    if value > MAX_SIZE:
        raise LimitError(f"{what} larger than {MAX_SIZE}", line=line, col=col)


def check_power(k: Fraction, limit: int, line: int, col: int) -> None:
    """An exponent with ``|k| <= limit`` and denominator at most ``limit`` (:data:`MAX_MATRIX_POWER` or
    :data:`MAX_SCALAR_POWER`)."""
    if abs(k) > limit or k.denominator > limit:
        raise LimitError(f"the exponent {k} is beyond the limit (|k| <= {limit})", line=line, col=col)


def check_product_wraps(wraps: int, line: int, col: int) -> None:
    if wraps > MAX_PRODUCT_WRAPS:
        raise LimitError(f"a product nested more than {MAX_PRODUCT_WRAPS} levels deep (scalar factors and divisions "
                         "each add a level)", line=line, col=col)


def check_nodes(size: int, line: int, col: int) -> None:
    """An expression's distinct nodes (each ``let`` definition counted once), within :data:`MAX_NODES`."""
    if size > MAX_NODES:
        raise LimitError(f"the expression has more than {MAX_NODES} distinct nodes (its let definitions included)",
                         line=line, col=col)


def check_let_depth(depth: int, line: int, col: int) -> None:
    if depth > MAX_LET_DEPTH:
        raise LimitError(f"definitions nested more than {MAX_LET_DEPTH} levels deep", line=line, col=col)


def check_let_size(size: int, line: int, col: int) -> None:
    if size > MAX_NODES:
        raise LimitError(f"a definition with more than {MAX_NODES} distinct nodes (the definitions it uses "
                         "included)", line=line, col=col)

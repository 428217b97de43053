"""The matcalc language: text to the typed IR (SPEC sections 1-3).

Contract (the public API other modules code against):

* :func:`read_document` ``(text, *, given=None, layout="mixed", where="<input>") -> Document`` parses and types a
  whole document; see :mod:`matcalc.lang.typer` for the rules (``ErrorLine`` for a line that cannot be typed,
  ``ParseError`` for any syntax error, the first error raised when nothing can be typed).
* :func:`read_expr` ``(text, *, given=None, layout="mixed") -> (Expr, Env)`` reads one expression.
* :func:`parse_declarations` ``(text) -> Env`` reads declaration text alone.

Modules: :mod:`~matcalc.lang.lexer` (text → tokens), :mod:`~matcalc.lang.syntax` (the syntax tree),
:mod:`~matcalc.lang.parser` (tokens → expression trees with positions), :mod:`~matcalc.lang.statement` (statements
and declarations), :mod:`~matcalc.lang.segment` (a document → parsed statements), :mod:`~matcalc.lang.typer` (the
driver: syntax tree → IR), with :mod:`~matcalc.lang.scope` (names and declarations), :mod:`~matcalc.lang.unify`
(the dimension unifier), :mod:`~matcalc.lang.infer` (inference of undeclared kinds and sizes),
:mod:`~matcalc.lang.build` (IR building) and :mod:`~matcalc.lang.limits` (every limit below). Nothing here passes
user text to eval, exec or SymPy.

Limits (SPEC section 8). Input beyond any of them raises :class:`~matcalc.errors.LimitError` with the line and
column, never a traceback or a hang:

======================  =======================================================================================
``MAX_DOCUMENT_CHARS``   100 000 characters per document (and per ``--given`` text)
``MAX_LINE_CHARS``       10 000 characters per line
``MAX_DEPTH``            100 levels of nesting: brackets, norms, calls, unary minus, ``d/dX``, ``Σ_k``, postfix
                         chains and chains of entrywise operators (flat sums and products may be any length)
``MAX_PRODUCT_WRAPS``    50 scalar factors or divisions nested in one product
``MAX_MATRIX_POWER``     ``|k| <= 64`` in ``A^k`` for a matrix
``MAX_SCALAR_POWER``     ``|k| <= 1000`` (and denominator ``<= 1000``) in ``c^k`` and ``x.^k``
``MAX_SIZE``             10 000 for an integer size (``W: 3 x n``, ``ones(5)``) or an integer index
``MAX_LET_DEPTH``        8 000 levels of ``let`` definitions nested inside each other (the depth of the DAG,
                         each ``let`` name standing for its definition; a 512-layer network is about 2 000)
``MAX_NODES``            50 000 distinct nodes in an expression, its ``let`` definitions included: a ``let``
                         used many times counts once (the later stages share it, they never write it out)
number literals          20 characters; a bracketed constant exponent ``(1/3)`` keeps numerators and
                         denominators at most 10^12
======================  =======================================================================================
"""

from __future__ import annotations

from matcalc.lang.limits import (
    MAX_DEPTH,
    MAX_DOCUMENT_CHARS,
    MAX_LET_DEPTH,
    MAX_LINE_CHARS,
    MAX_MATRIX_POWER,
    MAX_NODES,
    MAX_PRODUCT_WRAPS,
    MAX_SCALAR_POWER,
    MAX_SIZE,
)
from matcalc.lang.typer import (
    parse_declarations,
    read_document,
    read_expr,
)

__all__ = [
    "read_document", "read_expr", "parse_declarations", "MAX_DOCUMENT_CHARS", "MAX_LINE_CHARS", "MAX_DEPTH",
    "MAX_MATRIX_POWER", "MAX_SCALAR_POWER", "MAX_SIZE", "MAX_LET_DEPTH", "MAX_NODES", "MAX_PRODUCT_WRAPS",
]

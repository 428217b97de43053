"""The matcalc language: text to the typed IR (SPEC sections 1-3).

Contract (the public API other modules code against):

* :func:`read_document` ``(text, *, given=None, layout="mixed", where="<input>") -> Document`` parses and types a
  whole document; see :mod:`matcalc.lang.typer` for the rules (``ErrorLine`` for a line that cannot be typed,
  ``ParseError`` for any syntax error, the first error raised when nothing can be typed).
* :func:`read_expr` ``(text, *, given=None, layout="mixed") -> (Expr, Env)`` reads one expression.
* :func:`parse_declarations` ``(text) -> Env`` reads declaration text alone.

Modules: :mod:`~matcalc.lang.lexer` (text → tokens), :mod:`~matcalc.lang.parser` (tokens → syntax tree with
positions), :mod:`~matcalc.lang.typer` (syntax tree → IR, inference of undeclared sizes). The limits of SPEC
section 8 are module constants: ``MAX_DOCUMENT_CHARS``, ``MAX_LINE_CHARS``, ``MAX_DEPTH``, ``MAX_MATRIX_POWER``,
``MAX_SCALAR_POWER``, ``MAX_SIZE``, ``MAX_PRODUCT_WRAPS``, ``MAX_LET_DEPTH``, ``MAX_EXPANDED_NODES`` (re-exported
here). Nothing here passes user text to eval, exec or SymPy.
"""

from __future__ import annotations

from matcalc.lang.parser import MAX_DEPTH
from matcalc.lang.typer import (
    MAX_DOCUMENT_CHARS,
    MAX_EXPANDED_NODES,
    MAX_LET_DEPTH,
    MAX_LINE_CHARS,
    MAX_MATRIX_POWER,
    MAX_PRODUCT_WRAPS,
    MAX_SCALAR_POWER,
    MAX_SIZE,
    parse_declarations,
    read_document,
    read_expr,
)

__all__ = [
    "read_document", "read_expr", "parse_declarations", "MAX_DOCUMENT_CHARS", "MAX_LINE_CHARS", "MAX_DEPTH",
    "MAX_MATRIX_POWER", "MAX_SCALAR_POWER", "MAX_SIZE", "MAX_LET_DEPTH", "MAX_EXPANDED_NODES", "MAX_PRODUCT_WRAPS",
]

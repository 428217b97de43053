"""Errors that reach users: each carries a message and, where known, the position it points at.

Contract: every user-facing failure is a :class:`MatcalcError` (or a subclass); the CLI prints ``str(err)`` — a
``where:line:col: message`` line, the source line and a caret — to stderr and exits with status 2. No user error
ever shows a traceback. Positions are 1-based.
"""

from __future__ import annotations


class MatcalcError(Exception):
    """A user error: bad syntax, a shape conflict, an unknown name, a usage mistake."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        col: int | None = None,
        source: str | None = None,
        where: str = "<input>",
        end_col: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.end_col = end_col
        self.source = source
        self.where = where

    def located(self, *, line: int, col: int, source: str | None = None, where: str | None = None,
                end_col: int | None = None) -> "MatcalcError":
        """Attach a position (only where none is known yet) and return ``self``."""
        if self.line is None:
            self.line, self.col, self.end_col = line, col, end_col
        if self.source is None and source is not None:
            self.source = source
        if where is not None and self.where == "<input>":
            self.where = where
        return self

    def caret_lines(self) -> list[str]:
        """The source line and a caret line under the error's column (empty when the position is unknown)."""
        if self.line is None or self.source is None:
            return []
        lines = self.source.split("\n")
        if not 1 <= self.line <= len(lines):
            return []
        text = lines[self.line - 1]
        col = max(1, self.col or 1)
        width = 1
        if self.end_col is not None and self.end_col > col:
            width = self.end_col - col
        shown = text.replace("\t", " ")
        if len(shown) > 200:  # keep megabyte lines readable: a window around the column
            start = max(0, col - 100)
            shown = ("…" if start else "") + shown[start:start + 200]
            col = col - start + (1 if start else 0)
        return ["  " + shown, "  " + " " * (col - 1) + "^" * min(width, 80)]

    def __str__(self) -> str:
        head = self.message
        if self.line is not None:
            head = f"{self.where}:{self.line}:{self.col}: {self.message}"
        return "\n".join([head, *self.caret_lines()])


class ParseError(MatcalcError):
    """The text is not in the matcalc language."""


class TypeCheckError(MatcalcError):
    """The text parses but cannot be typed (an unknown name, a wrong use of a function, an ambiguity)."""


class UsageError(MatcalcError):
    """A command-line usage mistake (a missing argument, a bad option value)."""


class LimitError(MatcalcError):
    """Input beyond a documented limit (length, nesting depth, exponent, sizes)."""


class ShapeError(MatcalcError):
    """Operands whose shapes do not fit the operation. ``operands`` holds the IR operands involved."""

    def __init__(self, message: str, *, operands: tuple = (), **kw) -> None:
        super().__init__(message, **kw)
        self.operands = operands

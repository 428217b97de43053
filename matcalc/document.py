"""A typed document: the statements of a ``.mc`` file or command-line text, after parsing and typing.

Contract: :func:`matcalc.lang.read_document` turns text into a :class:`Document`. Each statement keeps its 1-based
line, column and source text. A line that parses but cannot be typed becomes an :class:`ErrorLine` carrying the
:class:`~matcalc.errors.MatcalcError`, so the rest of the document is still judged (SPEC section 6).
The environment records every declared, defined and inferred name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matcalc.errors import MatcalcError
from matcalc.ir import Expr, Var
from matcalc.shapes import Dim


@dataclass(frozen=True)
class FuncDecl:
    """A declared function: ``f: R -> R`` (``kind="entrywise"``) or ``C: R^n -> R`` (``kind="vector"``, ``dim=n``)."""

    name: str
    kind: str
    dim: Dim | None = None


@dataclass
class Env:
    """Names in force: variables, declared functions, ``let`` definitions, and what was inferred."""

    vars: dict[str, Var] = field(default_factory=dict)
    funcs: dict[str, FuncDecl] = field(default_factory=dict)
    lets: dict[str, Expr] = field(default_factory=dict)
    inferred: list[str] = field(default_factory=list)  # e.g. "A: n x n (inferred)"


@dataclass
class Statement:
    line: int
    col: int
    text: str


@dataclass
class Header(Statement):
    key: str = ""  # "theorem" or "source"
    name: str = ""  # theorem name (for "theorem")
    value: str = ""  # title, or the source text


@dataclass
class Declaration(Statement):
    names: tuple = ()  # the Var or FuncDecl objects declared


@dataclass
class Let(Statement):
    name: str = ""
    value: Expr | None = None


@dataclass
class Claim(Statement):
    lhs: Expr | None = None
    rhs: Expr | None = None
    free: tuple = ()  # free Index objects (the claim holds for every value of them)


@dataclass
class Bare(Statement):
    expr: Expr | None = None


@dataclass
class Step(Statement):
    """``= e``: claims ``e`` equals the previous line's expression (``prev``, filled in by the reader)."""

    expr: Expr | None = None
    prev: Expr | None = None
    prev_line: int | None = None
    free: tuple = ()


@dataclass
class Problem(Statement):
    """``problem: e`` (or ``--problem``): the expression a derivation must start from, ending in a closed form."""

    expr: Expr | None = None


@dataclass
class LayoutSetting(Statement):
    layout: str = "mixed"


@dataclass
class ErrorLine(Statement):
    error: MatcalcError | None = None


@dataclass
class Document:
    statements: list[Statement]
    env: Env
    source: str
    where: str = "<input>"

    @property
    def theorem(self) -> Header | None:
        return next((s for s in self.statements if isinstance(s, Header) and s.key == "theorem"), None)

    @property
    def source_note(self) -> str | None:
        h = next((s for s in self.statements if isinstance(s, Header) and s.key == "source"), None)
        return h.value if h else None

    @property
    def problem(self) -> Problem | None:
        """``--problem`` (line 0) if given, else the document's last ``problem:`` line."""
        found = [s for s in self.statements if isinstance(s, Problem)]
        return next((s for s in found if s.line == 0), found[-1] if found else None)

    def judged(self) -> list[Statement]:
        """Claims, steps and error lines: what gets a verdict."""
        return [s for s in self.statements if isinstance(s, (Claim, Step, ErrorLine))]

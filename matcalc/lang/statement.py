"""Statements of the matcalc language: a statement's tokens to a :class:`~matcalc.lang.syntax.SStmt`.

Contract: :func:`parse_statement` tells a layout setting, a declaration, a ``let`` line, a claim, a step (``= …``)
and a bare expression apart and parses each (expressions with :class:`~matcalc.lang.parser.Parser`);
:func:`parse_type_decls` reads declaration groups (``W: n x m symmetric``, ``f: R -> R``, ``C: R^n -> R``). Raises
:class:`~matcalc.errors.ParseError` (and :class:`~matcalc.errors.LimitError` for a size beyond the limit).
"""

from __future__ import annotations

import re

from matcalc.errors import ParseError
from matcalc.lang.lexer import Token
from matcalc.lang.limits import check_size
from matcalc.lang.parser import Parser
from matcalc.lang.syntax import DeclGroup, SStmt, TypeSpec

__all__ = ["parse_statement", "parse_type_decls", "LAYOUT_WORDS", "PROP_WORDS"]

LAYOUT_WORDS = ("mixed", "numerator", "denominator")
PROP_WORDS = ("symmetric", "spd", "diagonal", "positive", "probability")


def _is_real(t: Token) -> bool:
    return t.kind == "ℝ" or (t.kind == "NAME" and t.value == "R")


_SIZE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*|[0-9]+")


def _glued_sizes(word: str) -> tuple[str, str] | None:
    """``("n", "m")`` for ``nxm`` (two sizes written without spaces around the x), else None."""
    for i, ch in enumerate(word):
        if ch == "x" and 0 < i < len(word) - 1 and _SIZE_WORD.fullmatch(word[:i]) and \
                _SIZE_WORD.fullmatch(word[i + 1:]):
            return word[:i], word[i + 1:]
    return None


class _TypeParser(Parser):

    def dim(self) -> object:
        t = self.tok
        if t.kind == "NAME":
            glued = _glued_sizes(t.value)
            if glued is not None:
                raise self.error(f"{t.value!r} is one name, not a matrix size: write {glued[0]} x {glued[1]} "
                                 "(spaces around the x)", t)
            self.next()
            name = t.value
            while self.tok.kind == "'":  # n' is a dimension name
                self.next()
                name += "'"
            return name
        if t.kind == "NUMBER":
            self.next()
            if t.value.denominator != 1:
                raise self.error("a size is a positive integer or a name", t)
            if t.value < 1:
                raise self.error("a size must be at least 1", t)
            check_size(t.value, t.line, t.col)
            return int(t.value)
        raise self.error(f"expected a size (a name such as n or an integer), found {t.describe()}")

    def is_times(self) -> bool:
        t = self.tok
        return t.kind in ("×", "*") or (t.kind == "NAME" and t.value == "x")

    def dims(self) -> tuple:
        r = self.dim()
        t = self.tok
        if t.kind == "NAME" and t.value.startswith("x") and _SIZE_WORD.fullmatch(t.value[1:]):
            raise self.error(f"write {r} x {t.value[1:]} (spaces around the x) for a matrix size", t)
        if self.is_times():
            self.next()
            return (r, self.dim())
        return (r, 1)

    def type_spec(self) -> TypeSpec:
        start = self.tok
        if start.kind == "EOF" or start.kind == ",":
            raise self.error("expected a type after ':' (scalar, n, n x m, R -> R, …)")
        if start.kind == "NAME" and start.value == "scalar":
            self.next()
            spec = TypeSpec("array", (1, 1), frozenset(), start.line, start.col)
        elif _is_real(start):
            self.next()
            if self.tok.kind == "->":
                self.next()
                if not _is_real(self.tok):
                    raise self.error("expected R after '->' (functions return scalars: R -> R or R^n -> R)")
                self.next()
                return TypeSpec("func", (1, 1), frozenset(), start.line, start.col)
            if self.tok.kind == "^":
                self.next()
                if self.tok.kind in ("(", "{"):
                    close = ")" if self.tok.kind == "(" else "}"
                    self.next()
                    dims = self.dims()
                    self.expect(close, f"'{close}'")
                else:
                    dims = (self.dim(), 1)
                if self.tok.kind == "->":
                    self.next()
                    if not _is_real(self.tok):
                        raise self.error("expected R after '->' (R^n -> R)")
                    self.next()
                    if dims[1] != 1:
                        raise ParseError("a function R^(n x m) -> R is not supported; use R^n -> R",
                                         line=start.line, col=start.col)
                    return TypeSpec("vecfunc", dims, frozenset(), start.line, start.col)
                spec = TypeSpec("array", dims, frozenset(), start.line, start.col)
            else:
                spec = TypeSpec("array", (1, 1), frozenset(), start.line, start.col)
        else:
            if start.kind == "NAME" and start.value in PROP_WORDS + ("definite",):
                raise self.error(f"'{start.value}' says what kind of values, after the shape: write scalar "
                                 f"{start.value}, n {start.value} or n x n {start.value}", start)
            spec = TypeSpec("array", self.dims(), frozenset(), start.line, start.col)
        props = set()
        while self.tok.kind == "NAME" and self.tok.value in PROP_WORDS + ("definite",):
            t = self.next()
            word = t.value
            if word == "positive" and self.tok.kind == "-" and self.peek().kind == "NAME" \
                    and self.peek().value == "definite":
                self.next()
                self.next()
                word = "spd"
            elif word == "positive" and self.tok.kind == "NAME" and self.tok.value == "definite":
                self.next()
                word = "spd"
            elif word == "definite":
                raise self.error("'definite' goes after 'positive' (positive definite)", t)
            props.add(word)
            if word == "spd":
                props.add("symmetric")
        spec.props = frozenset(props)
        return spec

    def decl_groups(self) -> list[DeclGroup]:
        groups = []
        if self.tok.kind == "NAME" and self.tok.value == "given":
            self.next()
        while True:
            names = []
            while True:
                t = self.tok
                if t.kind != "NAME":
                    raise self.error(f"expected a name to declare, found {t.describe()}")
                self.next()
                names.append((t.value, t.line, t.col))
                if self.tok.kind == ",":
                    self.next()
                    continue
                if self.tok.kind == ":":
                    self.next()
                    break
                if self.tok.kind == "'":
                    raise self.error("a declared name cannot contain a prime (it would read as a transpose)")
                raise self.error(f"expected ':' after the name {t.value!r} (as in {t.value}: n x m), found "
                                 f"{self.tok.describe()}")
            spec = self.type_spec()
            groups.append(DeclGroup(names, spec))
            if self.tok.kind == ",":
                self.next()
                continue
            if self.tok.kind == "EOF":
                return groups
            if self.is_times():
                raise self.error("a type has at most two sizes (n x m)")
            raise self.error(f"unexpected {self.tok.describe()} in the declaration (separate declarations with "
                             "commas)")


def parse_type_decls(toks: list[Token]) -> list[DeclGroup]:
    """Declaration groups from the tokens of a declaration (``given W: n x m, x: m``)."""
    return _TypeParser(toks).decl_groups()


def parse_statement(toks: list[Token], text: str) -> SStmt:
    """One statement from its tokens (ending with ``EOF``); ``text`` is its source text."""
    first = toks[0]
    kinds = [t.kind for t in toks]
    if first.kind == "NAME" and first.value == "layout":
        words = [t for t in toks if t.kind != ":"][1:-1]
        if len(words) == 1 and words[0].kind == "NAME" and words[0].value in LAYOUT_WORDS:
            st = SStmt("layout", first.line, first.col, text)
            st.layout = words[0].value
            return st
        if len(words) <= 1:
            raise ParseError("expected a layout: numerator, denominator or mixed", line=toks[-1].line,
                             col=(words[0].col if words else toks[-1].col))
    if (first.kind == "NAME" and first.value == "given") or ":" in kinds:
        st = SStmt("decl", first.line, first.col, text)
        st.groups = parse_type_decls(toks)
        return st
    if first.kind == "NAME" and first.value == "let":
        p = Parser(toks)
        p.next()
        name = p.expect("NAME", "a name after 'let'")
        if p.tok.kind == ":" and p.peek().kind == "=":
            p.next()
        p.expect("=", f"'=' after 'let {name.value}'")
        if p.tok.kind == "EOF":
            raise p.error(f"'let {name.value} =' needs an expression")
        st = SStmt("let", first.line, first.col, text)
        st.name, st.name_col = name.value, name.col
        st.exprs.append(p.parse_expression())
        if p.tok.kind == "=":
            raise p.error("a definition has one '=' (let r = expression)")
        p.finish()
        return st
    p = Parser(toks)
    if first.kind == "=":
        st = SStmt("step", first.line, first.col, text)
        p.next()
        st.eq_cols.append(first.col)
        if p.tok.kind == "EOF":
            raise p.error("'=' needs an expression after it")
    else:
        st = SStmt("bare", first.line, first.col, text)
    st.exprs.append(p.parse_expression())
    while p.tok.kind == "=":
        eq = p.next()
        if p.tok.kind == "EOF":
            raise p.error("missing right-hand side after '='")
        st.eq_cols.append(eq.col)
        st.exprs.append(p.parse_expression())
    p.finish()
    if st.kind == "bare" and len(st.exprs) > 1:
        st.kind = "claim"
    return st

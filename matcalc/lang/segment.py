"""The document segmenter: a document's text split into statements, before any typing.

Contract: :func:`split_statements` splits text into lines, then at ``;``, drops ``#`` comments and keeps
``theorem NAME:`` and ``source:`` header lines whole (as :class:`~matcalc.document.Header`); :func:`parse_segments`
parses each statement with :func:`matcalc.lang.statement.parse_statement` (layout settings, declarations, ``let``,
claims, steps and bare expressions) and locates a syntax error in the document. Raises
:class:`~matcalc.errors.ParseError`.
"""

from __future__ import annotations

import re

from matcalc.document import Header
from matcalc.errors import MatcalcError, ParseError
from matcalc.lang import syntax as P
from matcalc.lang.lexer import Token, tokenize_line
from matcalc.lang.statement import parse_statement

__all__ = ["Segment", "Prepared", "split_statements", "parse_segments"]

_HEADER_THEOREM = re.compile(r"^\s*theorem\s+([^\s:]+)\s*(?::\s*(.*?))?\s*$")
_HEADER_SOURCE = re.compile(r"^\s*source\s*:\s*(.*?)\s*$")
_HEADER_PROBLEM = re.compile(r"^(\s*problem\s*:)\s*(.*?)\s*$")


class Segment:
    """One statement's place and text: its tokens (ending with ``EOF``), or the header it is."""

    __slots__ = ("line", "col", "text", "toks", "header", "error")

    def __init__(self, line: int, col: int, text: str, toks: list | None, header: Header | None = None,
                 error: MatcalcError | None = None) -> None:
        self.line, self.col, self.text, self.toks, self.header = line, col, text, toks, header
        self.error = error  # a line that cannot be tokenized (kept as that line's error in a document)


def split_statements(text: str, headers: bool, per_line: bool = False) -> list[Segment]:
    """Split text into statements: lines, then ``;``; headers whole; comments dropped. Raises ParseError, or with
    ``per_line`` keeps a line that cannot be tokenized as a segment carrying its error."""
    out = []
    for no, raw in enumerate(text.split("\n"), 1):
        hash_at = raw.find("#")
        body = raw if hash_at < 0 else raw[:hash_at]
        if not body.strip():
            continue
        if headers:
            m = _HEADER_THEOREM.match(body)
            if m:
                col = body.index("theorem") + 1
                out.append(Segment(no, col, body.strip(), None,
                                    Header(no, col, body.strip(), key="theorem", name=m.group(1),
                                           value=m.group(2) or "")))
                continue
            m = _HEADER_SOURCE.match(body)
            if m:
                col = body.index("source") + 1
                out.append(Segment(no, col, body.strip(), None,
                                    Header(no, col, body.strip(), key="source", value=m.group(1))))
                continue
            m = _HEADER_PROBLEM.match(body)
            if m:  # the expression a derivation must start from; its tokens keep their columns
                out.append(problem_segment(" " * len(m.group(1)) + body[m.end(1):], no, body.index("problem") + 1))
                continue
        try:
            toks = tokenize_line(body, no)
        except MatcalcError as e:
            if not per_line:
                raise
            col = len(body) - len(body.lstrip()) + 1
            out.append(Segment(no, col, body.strip(), None, error=e))
            continue
        seg: list[Token] = []
        for t in toks:
            if t.kind in (";", "EOF"):
                if seg:
                    start = seg[0].col - 1
                    end = t.col - 1 if t.kind == ";" else len(body.rstrip())
                    out.append(Segment(no, seg[0].col, body[start:end].strip(), seg + [Token("EOF", "", no, t.col)]))
                seg = []
            else:
                seg.append(t)
    return out


def problem_segment(text: str, line: int, col: int) -> Segment:
    """A ``problem:`` header (or ``--problem``): the expression's tokens, as a header whose ``key`` is ``problem``."""
    toks = tokenize_line(text, line)
    return Segment(line, col, text.strip(), toks, Header(line, col, text.strip(), key="problem", value=text.strip()))


class Prepared:
    """A segment with its syntax tree, and what typing it gave (an error, the ranges of its indices)."""

    __slots__ = ("seg", "st", "error", "index_vars")

    def __init__(self, seg: Segment) -> None:
        self.seg = seg
        self.st: P.SStmt | None = None
        self.error: MatcalcError | None = None
        self.index_vars: dict = {}


def parse_segments(segs: list[Segment], source: str, where: str, per_line: bool = False) -> list[Prepared]:
    """Parse each segment. A syntax error raises, or with ``per_line`` becomes that statement's located error
    (``st`` stays None) so the rest of the document is still read (SPEC section 6)."""
    out = []
    first_problem: int | None = None
    for seg in segs:
        p = Prepared(seg)
        if seg.header is not None and seg.header.key == "problem":
            try:
                if first_problem is not None:
                    raise ParseError(f"a second problem: line; the document's problem is on line {first_problem} "
                                     "(one problem per document)", line=seg.line, col=seg.col)
                first_problem = seg.line
                p.st = parse_statement(seg.toks, seg.text)
                if p.st.kind != "bare":
                    raise ParseError("a problem is one expression, such as problem: d/dw ‖X w - y‖^2",
                                       line=seg.line, col=seg.col)
            except MatcalcError as e:
                located = e.located(line=seg.line, col=seg.col, source=source, where=where)
                if not per_line:
                    raise located
                p.st, p.error = None, located
        elif seg.header is None:
            try:
                if seg.error is not None:
                    raise seg.error
                p.st = parse_statement(seg.toks, seg.text)
            except MatcalcError as e:
                located = e.located(line=seg.line, col=seg.col, source=source, where=where)
                if not per_line:
                    raise located
                p.error = located
        out.append(p)
    return out

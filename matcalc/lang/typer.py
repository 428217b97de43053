"""The typer: syntax trees to the typed IR of :mod:`matcalc.ir`, and whole documents to :class:`Document`.

Contract: :func:`read_document` reads a document (SPEC section 1) and :func:`read_expr` one expression. This module
is the driver: :mod:`~matcalc.lang.segment` splits and parses the statements, :mod:`~matcalc.lang.scope` holds the
names and declarations, :mod:`~matcalc.lang.infer` (with the unifier of :mod:`~matcalc.lang.unify`) and
:mod:`~matcalc.lang.build` do the two passes below, and :mod:`~matcalc.lang.limits` holds every limit. Typing runs
in two passes over the document:

1. *inference* walks every statement in order and unifies dimensions: declared names have fixed sizes; an undeclared
   name gets its kind from its spelling (upper-case: matrix, lower-case Latin: column vector, Greek: scalar) and
   fresh size variables, which never unify with the size 1 (``x y`` of two columns is a shape error, not a
   guess); ``I``, ``0``/``1`` standing alone on a side of ``=`` and ``1ᵀ``/``0ᵀ`` get flexible sizes that take
   their value from the context, the other side of ``=`` included. Sizes left open get fresh names (``n``, ``m``,
   ``p``, … avoiding every name in the text) and are listed in ``Env.inferred`` (``"A: n x n (inferred)"``).
2. *building* constructs the IR statement by statement. The IR constructors check shapes; a
   :class:`~matcalc.shapes.ShapeError` is given the position of the operator (``+`` for ``W x + y``).

A statement that cannot be parsed or typed becomes an :class:`ErrorLine` with its located error (the rest is still
read; a step after it continues from the last line that could be read) unless no claim or expression of the
document can be typed; then the first error is raised (a :class:`~matcalc.errors.ParseError` for a syntax error). A shape conflict that involves undeclared names says so and
asks for a declaration.

Readings fixed here (the printer in :mod:`matcalc.printing` follows them, so printed text reads back to the same
IR): products are n-ary :class:`~matcalc.ir.MatMul` (flattened, left to right) and a 1×1 factor on either side makes
a :class:`~matcalc.ir.Scale` whose ``scalar`` is that factor; sums are one flat :class:`~matcalc.ir.Add`, ``a - b``
is ``Add((a, Neg(b)))``, and a scalar operand of ``+ - ⊙ ⊘ max min`` next to an array is a
:class:`~matcalc.ir.Broadcast`; unary minus binds tighter than a product (``-xᵀ y`` is ``MatMul((Neg(xᵀ), y))``)
and folds into a literal number (``-2`` is ``Num(-2)``); ``a/b`` of two numbers is a number; ``^-1`` of a matrix
is :class:`~matcalc.ir.Inverse`, of a scalar ``Power(c, -1)``; ``x[i]`` of a column has one index, of a row
``(1, i)``; a call ``x(y)`` of a name that is not a function is the product ``x y`` (postfix operators after the
bracket belong to the bracket). Lines starting with ``theorem NAME:`` or ``source:`` are headers.

Limits (SPEC section 8; exceeding one raises :class:`~matcalc.errors.LimitError` with a position):
:data:`MAX_DOCUMENT_CHARS` characters per document, :data:`MAX_LINE_CHARS` per line, nesting depth
:data:`matcalc.lang.limits.MAX_DEPTH`, matrix powers ``|k| <=`` :data:`MAX_MATRIX_POWER`, scalar and entrywise
powers ``|k| <=`` :data:`MAX_SCALAR_POWER` (denominator at most :data:`MAX_SCALAR_POWER` too), integer sizes and
indices at most :data:`MAX_SIZE`, at most :data:`MAX_PRODUCT_WRAPS` scalar factors and divisions nested in one
product, a ``let`` chain at most :data:`MAX_LET_DEPTH` deep and at most :data:`MAX_NODES` distinct nodes in an
expression, its ``let`` definitions included (each counted once, however often it is used).
"""

from __future__ import annotations

import re

from matcalc import ir
from matcalc.document import (
    Bare, Claim, Declaration, Document, Env, ErrorLine, Let, LayoutSetting, Problem, Statement, Step,
)
from matcalc.errors import MatcalcError, ParseError, TypeCheckError, UsageError
from matcalc.lang import syntax as P
from matcalc.lang.build import AmbiguousShapeError, Builder, free_indices
from matcalc.lang.leibniz import rewrite_fractions
from matcalc.lang.scope import Sym
from matcalc.lang.limits import (
    MAX_DOCUMENT_CHARS, MAX_LET_DEPTH, MAX_NODES, MAX_LINE_CHARS, MAX_MATRIX_POWER, MAX_PRODUCT_WRAPS,
    MAX_SCALAR_POWER, MAX_SIZE, check_let_depth, check_let_size, check_text_size,
)
from matcalc.lang.segment import Prepared, Segment, parse_segments, problem_segment, split_statements
from matcalc.lang.statement import parse_statement
from matcalc.shapes import ShapeError, fmt_shape


__all__ = [
    "read_document", "read_expr", "parse_declarations", "AmbiguousShapeError", "MAX_DOCUMENT_CHARS", "MAX_LINE_CHARS",
    "MAX_MATRIX_POWER", "MAX_SCALAR_POWER", "MAX_SIZE", "MAX_LET_DEPTH", "MAX_NODES", "MAX_PRODUCT_WRAPS",
]

LAYOUTS = ("mixed", "numerator", "denominator")


class _Reader(Builder):
    """Holds the state of reading one document: symbols, the unifier, the current layout (both passes)."""


# ───────────────────────────── entry points ─────────────────────────────


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"[^\W\d]\w*", text))


def _read_given(reader: _Reader, given: str) -> None:
    where = "<given>"
    try:
        check_text_size(given, "the declarations")
        segs = split_statements(given, headers=False)
        for seg in segs:
            st = parse_statement(seg.toks, seg.text)
            if st.kind != "decl":
                raise ParseError("expected declarations such as W: n x m, x: m", line=seg.line, col=seg.col)
            saved = reader.source, reader.where
            reader.source, reader.where = given, where
            try:
                reader.declare(st.groups, seg.line)
            finally:
                reader.source, reader.where = saved
    except MatcalcError as e:
        raise e.located(line=1, col=1, source=given, where=where)
    reader.given_names = set(reader.syms)


def read_document(text: str, *, given: str | None = None, layout: str = "mixed", where: str = "<input>",
                  problem: str | None = None) -> Document:
    """Parse and type a whole document (SPEC section 1).

    Args:
        text: the document: statements separated by newlines or ``;``, ``#`` comments.
        given: declaration text in force before the document (``"W: n x m, x: m, y: n"``).
        layout: the derivative layout at the start (``mixed``, ``numerator`` or ``denominator``).
        where: the name of the input in error messages (a file name).
        problem: the expression the document's derivation must start from (``--problem``; it overrides a
            ``problem:`` line of the document).

    Returns:
        The :class:`Document`; a statement that cannot be typed is an :class:`ErrorLine`.

    Raises:
        ParseError: a syntax error anywhere (with line, column and caret).
        LimitError: the input exceeds a documented limit.
        MatcalcError: no claim or expression of the document can be typed (the first such error).
    """
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r}: use mixed, numerator or denominator")
    prepared = _prepare(text, where)
    if problem is not None:
        prepared.insert(0, _prepare_problem(problem))
    prepared = _problem_after_lets(prepared)
    used = _names_in(text) | _names_in(given or "") | _names_in(problem or "")
    reader = _Reader(text, where, layout, used)
    if given:
        _read_given(reader, given)
    given_syms = set(reader.syms)
    _read_ahead(reader, prepared)
    _infer_pass(reader, prepared)
    reader.finalize_dims()
    reader.layout = layout
    statements, typed_any, first_error = _build_pass(reader, prepared)
    if first_error is not None and not typed_any:
        raise first_error
    return Document(statements, _env_of(reader, given_syms), text, where)


def _problem_after_lets(prepared: list[Prepared]) -> list[Prepared]:
    """The problem (a ``problem:`` line, ``--problem``) read just before the first claim or expression: it states
    what the derivation is of and may use the document's ``let`` names, which a teacher's header above them cannot
    otherwise see (a let name stands for its value only below its definition)."""
    probs = [p for p in prepared if p.seg.header is not None and p.seg.header.key == "problem"]
    if not probs:
        return prepared
    rest = [p for p in prepared if p not in probs]
    at = next((i for i, p in enumerate(rest) if p.st is not None and getattr(p.st, "kind", None) in
               ("claim", "step", "bare")), len(rest))
    return rest[:at] + probs + rest[at:]


def _prepare(text: str, where: str) -> list[Prepared]:
    """The document's statements, parsed; raises on a limit or a syntax error anywhere."""
    try:
        check_text_size(text, "the document")
    except MatcalcError as e:
        raise e.located(line=1, col=1, source=text, where=where)
    try:
        segs = split_statements(text, headers=True, per_line=True)
    except MatcalcError as e:
        raise e.located(line=1, col=1, source=text, where=where)
    return parse_segments(segs, text, where, per_line=True)


def _prepare_problem(problem: str) -> Prepared:
    """``--problem``: one expression, read with the document's declarations; errors name ``--problem``."""
    where = "--problem"
    try:
        check_text_size(problem, "the problem")
        if "\n" in problem:
            raise ParseError("a problem is one expression on one line", line=1, col=1)
        seg = problem_segment(problem, 1, 1)
        [p] = parse_segments([seg], problem, where)
    except MatcalcError as e:
        raise e.located(line=1, col=1, source=problem, where=where)
    p.seg.line = p.seg.header.line = 0  # before the document's first line
    return p


# ───────────────────────────── pass 1: inference ─────────────────────────────


def _read_ahead(reader: _Reader, prepared: list[Prepared]) -> None:
    """Declarations reach the lines above them: every size the document's declarations name is known from its
    first line on, so a size used as a number above its declaration (``problem: d/dw (1/N) …`` before ``given X:
    N x d``) is that size; a name the document declares as a variable or function stays that name, and a variable
    used above its declaration has the declared type there (``c x`` before ``c: scalar``), not its spelling's
    (``Scope.declared_below``). A name written as the size of ``ones``/``zeros``/``eye``/``K`` is a size too."""
    sizes: set[str] = set()
    names: set[str] = set(reader.syms)
    exprs: list = []
    for p in prepared:
        if p.st is not None and p.seg.header is None and p.st.kind == "decl":
            for g in p.st.groups:
                sizes.update(d for d in g.spec.dims if isinstance(d, str))
                for name, _l, _c in g.names:
                    names.add(name)
                    if name not in reader.syms:
                        kind = "var" if g.spec.kind == "array" else "func"
                        reader.declared_below.setdefault(name, (p.st.line, kind, tuple(g.spec.dims)))
        elif p.st is not None:
            if p.st.kind == "let":
                names.add(p.st.name)
            exprs.extend(getattr(p.st, "exprs", None) or ())
    sizes |= _sizes_of_constants(exprs, names)
    reader.dim_names |= sizes - names


def _names_for_fractions(reader: _Reader, line: int) -> dict:
    """The names in force for reading ``df/dX`` and ``∂f/∂X`` on ``line``: the symbols so far and the names the
    document declares below it (``∂C/∂W`` above ``W: n x m`` is by the variable W)."""
    later = {name: Sym(name, kind, at, -1) for name, (at, kind, _d) in reader.declared_below.items()
             if at > line and name not in reader.syms}
    return {**later, **reader.syms} if later else reader.syms


def _sizes_of_constants(exprs: list, names: set[str]) -> set[str]:
    """The names written as sizes of ``ones``, ``zeros``, ``eye`` or ``K(m, n)`` (not declared or defined as
    anything else): ``ones(n)ᵀ ones(n) = n`` names the size n with nothing declared."""
    out: set[str] = set()
    for e in exprs:
        for n in P.walk_nodes(e):
            if isinstance(n, P.Call) and n.name in ("ones", "zeros", "eye", "K") and n.name not in names \
                    and not n.primes and not n.nabla and (n.name != "K" or len(n.args) == 2):
                out.update(a.name for a in n.args if isinstance(a, P.Name) and not a.bracketed)
    return out


def _infer_pass(reader: _Reader, prepared: list[Prepared]) -> None:
    """Infer shapes statement by statement; a statement that fails is rolled back and keeps its error."""
    prev_shape = None
    for p in prepared:
        st = p.st
        if st is None:
            if p.error is not None:
                _unparsed_let(reader, p)
            continue
        reader.stmt_line = p.seg.line  # 0 for --problem
        mark = reader.uf.mark()
        nvars = len(reader.uf.vars)
        reader.created = []
        reader.index_vars = {}
        reader.let_refs_depth = 0
        reader.let_refs_size = 0
        reader.let_refs_mask = 0
        try:
            if st.kind in ("let", "claim", "step", "bare"):
                rewrite_fractions(_names_for_fractions(reader, p.seg.line), st)
            if p.seg.header is not None:  # a problem line: its shapes unify with the document's
                reader.infer(st.exprs[0])
            elif st.kind == "layout":
                reader.layout = st.layout
            elif st.kind == "decl":
                reader.declare(st.groups, st.line)
            elif st.kind == "let":
                _infer_let(reader, st)
            else:
                prev_shape = _infer_sides(reader, st, prev_shape)
            p.index_vars = dict(reader.index_vars)
        except MatcalcError as e:
            reader.uf.undo(mark)
            del reader.uf.vars[nvars:]
            for name in reader.created:
                reader.syms.pop(name, None)
            if st.kind == "let" and st.name not in reader.syms:
                reader.new_sym(st.name, "broken", st.line)
            p.error = reader.locate(e, st.line, st.col)


def _unparsed_let(reader: _Reader, p: Prepared) -> None:
    """A ``let NAME = …`` line that cannot be parsed still defines NAME, as broken: later uses say so."""
    toks = p.seg.toks or []
    if len(toks) > 2 and toks[0].kind == "NAME" and toks[0].value == "let" and toks[1].kind == "NAME" \
            and toks[1].value not in reader.syms:
        reader.new_sym(toks[1].value, "broken", p.seg.line)


def _infer_let(reader: _Reader, st: P.SStmt) -> None:
    """``let NAME = e``: the shape of ``e``, and a new symbol within the let limits."""
    if st.name in reader.syms:
        old = reader.syms[st.name]
        if old.kind == "var" and not old.declared and old.line < st.line:  # used above, before this definition
            raise reader.err(TypeCheckError, f"{st.name} is used on line {old.line}, above its definition here: a let "
                             f"name stands for its value only on the lines below it (there {st.name} was read as "
                             f"{re.sub(r' [(]line [0-9]+[)]$', '', reader.describe_sym(old)).removeprefix('used as ')}); move line "
                             f"{old.line} below this "
                             "one, or choose another name", st.line, st.name_col)
        raise reader.err(TypeCheckError, f"{st.name} is already {reader.describe_sym(old)}; choose "
                         "another name", st.line, st.name_col)
    node = st.exprs[0]
    shape = reader.infer(node)
    if st.name in reader.syms:
        raise reader.err(TypeCheckError, f"{st.name} is used in its own definition", st.line,
                         st.name_col)
    depth = node.depth + reader.let_refs_depth
    check_let_depth(depth, st.line, st.name_col)
    own = sum(1 for _ in P.walk_nodes(node))
    size = own + reader.let_refs_size
    if size > MAX_NODES:
        size = own + reader.lets_size(reader.let_refs_mask)
    check_let_size(size, st.line, st.name_col)
    s = reader.new_sym(st.name, "let", st.line)
    s.shape, s.depth, s.size = shape, depth, size
    s.mask = reader.let_refs_mask | (1 << len(reader.let_own))
    reader.let_own.append(own)


def _infer_sides(reader: _Reader, st: P.SStmt, prev_shape: tuple | None) -> tuple:
    """The sides of a claim, step or bare expression: their shapes, unified with each other (transposed when
    that is what fits) and with the previous line for a step; returns the shape of the last side."""
    sides = st.exprs
    if st.kind == "claim" or (st.kind == "step" and prev_shape is not None):
        for e in sides:
            if isinstance(e, P.Neg):  # -1 or -0 on a side
                e = e.arg
            if isinstance(e, P.Num) and e.value in (0, 1):
                a, b = reader.uf.new(False, str(e.value)), reader.uf.new(False, str(e.value))
                reader.flex[id(e)] = (a, b)
                reader.default_one.extend((a, b))
    shapes = [reader.infer(e) for e in sides]
    chain = ([prev_shape] if st.kind == "step" and prev_shape is not None else []) + shapes
    for x, y in zip(chain, chain[1:]):
        m = reader.uf.mark()
        if not (reader.uf.unify(x[0], y[0]) and reader.uf.unify(x[1], y[1])):
            reader.uf.undo(m)
            if not (reader.uf.unify(x[0], y[1]) and reader.uf.unify(x[1], y[0])):
                reader.uf.undo(m)
    return shapes[-1]


# ───────────────────────────── pass 2: building ─────────────────────────────


def _build_pass(reader: _Reader, prepared: list[Prepared]) -> tuple[list[Statement], bool, MatcalcError | None]:
    """Build every statement; returns the statements, whether any claim or expression was typed, and the first
    error."""
    statements: list[Statement] = []
    prev: tuple | None = None  # (expr, line)
    typed_any = False
    first_error: MatcalcError | None = None
    let_free: dict[str, tuple] = {}
    for p in prepared:
        seg, st = p.seg, p.st
        reader.touched = set()
        if seg.header is not None and seg.header.key == "problem":
            problem = _build_problem(reader, p)
            if isinstance(problem, ErrorLine):
                first_error = first_error or problem.error
            else:
                reader.typed_names |= reader.touched
            statements.append(problem)
            continue
        if seg.header is not None:
            statements.append(seg.header)
            continue
        text_, line, col = seg.text, seg.line, seg.col
        if st is None:  # a line that cannot be parsed: its error, and the next step continues from ``prev``
            first_error = first_error or p.error
            statements.append(ErrorLine(line, col, text_, error=p.error))
            continue
        if st.kind == "layout":
            reader.layout = st.layout
            statements.append(LayoutSetting(line, col, text_, layout=st.layout))
            continue
        if p.error is None:
            reader.index_vars = p.index_vars
            try:
                if st.kind in ("decl", "let"):
                    statements.append(_build_definition(reader, st, seg, let_free))
                    reader.typed_names |= reader.touched
                    continue
                exprs = _build_sides(reader, st, seg, prev)
            except MatcalcError as e:
                if st.kind == "let":
                    reader.syms[st.name].kind = "broken"
                if isinstance(e, ShapeError):
                    e = reader.add_hint(e)
                p.error = reader.locate(e, line, col)
        if p.error is not None:
            first_error = first_error or p.error
            statements.append(ErrorLine(line, col, text_, error=p.error))
            continue
        typed_any = True
        reader.typed_names |= reader.touched
        prev = _add_claims(statements, st, seg, exprs, prev, let_free)
    return statements, typed_any, first_error


def _build_problem(reader: _Reader, p: Prepared) -> Problem | ErrorLine:
    """The ``problem:`` expression, built. An error in ``--problem`` is the teacher's and stops the check; a
    ``problem:`` line that cannot be read or typed is that line's error (an :class:`ErrorLine`), and the rest of
    the document is still judged (SPEC section 6)."""
    seg = p.seg
    if p.error is None:
        reader.index_vars = p.index_vars
        reader.flex_built = []
        try:
            expr = reader.build(p.st.exprs[0])
        except MatcalcError as e:
            if isinstance(e, ShapeError):
                e = reader.add_hint(e)
            p.error = reader.locate(e, seg.line, seg.col)
        else:
            return Problem(seg.line, seg.col, seg.text, expr=expr)
    if seg.line == 0:
        raise UsageError(f"--problem {seg.text}: {p.error.message}") from None
    return ErrorLine(seg.line, seg.col, f"problem: {seg.text}", error=p.error)


def _build_definition(reader: _Reader, st: P.SStmt, seg: Segment, let_free: dict) -> Statement:
    """A declaration or a ``let`` line, built."""
    text_, line, col = seg.text, seg.line, seg.col
    if st.kind == "decl":
        names = []
        for g in st.groups:
            for name, _l, _c in g.names:
                s = reader.syms[name]
                names.append(s.func if s.kind == "func" else reader.var(name))
        return Declaration(line, col, text_, names=tuple(names))
    value = reader.build(st.exprs[0])
    s = reader.syms[st.name]
    s.value = value
    let_free[st.name] = free_indices([value], let_free)
    return Let(line, col, text_, name=st.name, value=value)


def _build_sides(reader: _Reader, st: P.SStmt, seg: Segment, prev: tuple | None) -> list[ir.Expr]:
    """The sides of a claim, step or bare expression, built; the sides of each ``=`` (with the previous line's
    last side for a step) must have one shape, or transposed shapes."""
    line, col = seg.line, seg.col
    reader.flex_built = []
    exprs = [reader.build(e) for e in st.exprs]
    chain = ([prev[0]] if st.kind == "step" and prev is not None else []) + exprs
    if st.kind in ("claim", "step"):
        reader.check_anchored(chain)
    eqs = st.eq_cols
    for k, (x, y) in enumerate(zip(chain, chain[1:])):
        if x.shape != y.shape and x.shape != (y.shape[1], y.shape[0]):
            raise ShapeError(f"the two sides of '=' have different shapes: {x} is "
                             f"{fmt_shape(x.shape)} and {y} is {fmt_shape(y.shape)}",
                             operands=(x, y)).located(line=line, col=eqs[k], source=reader.source,
                                                      where=reader.where)
    if st.kind == "step" and prev is None:
        raise reader.err(TypeCheckError, "a step '= …' needs a previous line to compare with", line,
                         col)
    return exprs


def _add_claims(statements: list, st: P.SStmt, seg: Segment, exprs: list, prev: tuple | None,
                let_free: dict) -> tuple:
    """Append the bare expression, claim or steps of one typed line; returns the new ``prev`` (expr, line)."""
    text_, line, col = seg.text, seg.line, seg.col
    free = free_indices(exprs, let_free)
    if st.kind == "bare":
        statements.append(Bare(line, col, text_, expr=exprs[0]))
        return (exprs[0], line)
    if st.kind == "claim":
        statements.append(Claim(line, col, text_, lhs=exprs[0], rhs=exprs[1], free=free))
        rest = exprs[2:]
        cols = st.eq_cols[1:]
        prev = (exprs[1], line)
    else:
        rest = exprs
        cols = st.eq_cols
    for e, c in zip(rest, cols):
        statements.append(Step(line, c if st.kind == "claim" else col, text_, expr=e, prev=prev[0],
                               prev_line=prev[1], free=free_indices([prev[0], e], let_free)))
        prev = (e, line)
    return prev


def _env_of(reader: _Reader, given_syms: set[str]) -> Env:
    """The environment a document leaves: every variable, function and ``let`` in order of appearance, and the
    names whose kinds were inferred (not declared in the document or the given text) from lines that could be
    typed (``d`` and ``dx`` of a line ``d^2C/dx^2`` in error are not the document's variables)."""
    env = Env()
    typed = reader.typed_names
    for name, s in sorted(reader.syms.items(), key=lambda kv: kv[1].order):
        if s.kind == "var":
            v = reader.var(name)
            env.vars[name] = v
            if not s.declared and name not in given_syms and name in typed:
                env.inferred.append(f"{name}: {_Reader.fmt_spec(v.dims)} (inferred)")
        elif s.kind == "func":
            env.funcs[name] = s.func
        elif s.kind == "let" and s.value is not None:
            env.lets[name] = s.value
    return env


# ───────────────────────────── other entry points ─────────────────────────────


def read_expr(text: str, *, given: str | None = None, layout: str = "mixed",
              where: str = "<input>") -> tuple[ir.Expr, Env]:
    """One expression (with optional ``let`` lines and declarations before it), typed.

    Returns ``(expr, env)``. Raises the first error of the text; a claim (``L = R``) is a ParseError here —
    claims go through :func:`read_document`.
    """
    doc = read_document(text, given=given, layout=layout, where=where)
    for s in doc.statements:
        if isinstance(s, ErrorLine):
            raise s.error
    exprs = [s for s in doc.statements if isinstance(s, (Bare, Claim, Step))]
    if not exprs:
        raise ParseError("expected an expression", line=1, col=1, source=text, where=where)
    if len(exprs) > 1 or not isinstance(exprs[0], Bare):
        s = exprs[-1] if not isinstance(exprs[0], Bare) else exprs[1]
        raise ParseError("expected one expression, not a claim or several expressions (use a document)",
                         line=s.line, col=s.col, source=text, where=where)
    return exprs[0].expr, doc.env


def parse_declarations(text: str) -> Env:
    """The environment declared by ``text`` (``"W: n x m, x: m"``); raises on any error."""
    reader = _Reader(text, "<given>", "mixed", _names_in(text))
    _read_given(reader, text)
    reader.finalize_dims()
    env = Env()
    for name, s in reader.syms.items():
        if s.kind == "var":
            env.vars[name] = reader.var(name)
        elif s.kind == "func":
            env.funcs[name] = s.func
    return env

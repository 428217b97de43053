"""The commands as functions: ``check_text``, ``derive_text``, ``prove_many`` and the result objects they return.

Contract: each function takes text (or theorem names), reads it with :mod:`matcalc.lang`, and returns a result object
with ``verdict``, ``exit_code``, ``to_json()``, ``__rich__`` (terminal), ``__str__`` (plain text) and
``_repr_latex_``/``_repr_mimebundle_`` (Jupyter). User errors raise :class:`~matcalc.errors.MatcalcError`. The
engine derives (for display and the symbolic method); the verdicts come from :mod:`matcalc.marking` and
:mod:`matcalc.verify.judge`, the result objects are :mod:`matcalc.results`'.
"""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matcalc import ir
from matcalc.document import Bare, Claim, Document, ErrorLine, Step
from matcalc.errors import MatcalcError, TypeCheckError, UsageError
from matcalc.marking import check_document
from matcalc.shapes import fmt_shape
from matcalc.results import CheckReport, DeriveItem, DeriveResult, ProveResult, TheoremResult


def _need_text(**args) -> None:
    """A clear TypeError for an argument that is not text (``None`` is allowed for ``given`` only)."""
    for name, value in args.items():
        if value is None and name in ("given", "problem"):
            continue
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")


def given_text(given: Any) -> str | None:
    """``given`` as declaration text: a string as it is, or a mapping such as ``{"A": "n x n", "x": "n"}`` (a value
    may also be a pair of dimensions, ``("n", "m")``) joined into ``"A: n x n, x: n"``."""
    if given is None or isinstance(given, str):
        return given
    if isinstance(given, Mapping):
        parts = []
        for name, value in given.items():
            if not isinstance(name, str):
                raise TypeError(f"given: the names must be str, not {type(name).__name__}")
            if isinstance(value, (tuple, list)):
                value = " x ".join(str(v) for v in value)
            elif isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise TypeError(f"given[{name!r}] must be a str such as \"n x m\", not {type(value).__name__}")
            parts.append(f"{name}: {value}")
        return ", ".join(parts)
    raise TypeError(f"given must be a str such as \"A: n x n, x: n\" or a mapping such as "
                    f"{{\"A\": \"n x n\", \"x\": \"n\"}}, not {type(given).__name__}")


def read_source(source: Any) -> tuple[str, str]:
    """The text to check and where it came from: a :class:`pathlib.Path` (or any path object) is read, and so is a
    string naming an existing ``.mc`` file; any other string is the text itself."""
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif isinstance(source, str) and source.strip().endswith(".mc") and "\n" not in source and len(source) < 4096:
        path = Path(source.strip()).expanduser()
        if not path.is_file():
            if "=" in source:  # a claim that happens to end in ".mc" is text
                return source, "<input>"
            raise UsageError(f"no such file: {source.strip()}")
    else:
        return source, "<input>"
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


# ───────────────────────────── check ─────────────────────────────


def check_text(text: str, *, given: str | Mapping | None = None, layout: str = "mixed", where: str = "<input>",
               seed: int = 0, progress=None, problem: str | None = None, cli: bool = False) -> CheckReport:
    """Judge every claim and step of a document (SPEC section 6, ``matcalc check``); with ``problem`` (or a
    ``problem:`` line) the first derivation must start from it and end in a closed form; ``cli`` words the errors
    for the command line (its flags), else for a Python caller (the arguments)."""
    from matcalc.lang import read_document

    given = given_text(given)
    _need_text(text=text, given=given, layout=layout, problem=problem)
    doc = read_document(text, given=given, layout=layout, where=where, problem=problem)
    if not doc.judged() and doc.problem is None:
        how = "`matcalc derive EXPR --wrt X`" if cli else "matcalc.derive(expr, wrt)"
        raise UsageError("nothing to check: the input has no claim (`a = b`) and no step (`= b`); "
                         f"to differentiate an expression use {how}")
    report = check_document(doc, seed=seed, progress=progress)
    report.where = where
    return report


# ───────────────────────────── derive ─────────────────────────────


def _split_wrt(wrt: str) -> list[str]:
    """``--wrt`` split at the commas outside brackets (``W[1, 2]`` stays one item, to be named in the error)."""
    parts, depth, cur = [], 0, ""
    for ch in wrt:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth <= 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def _lookup_wrt(name: str, doc: Document, cli: bool = False) -> ir.Expr:
    env = doc.env
    name = name.strip()
    if name in env.vars:
        return env.vars[name]
    if name in env.lets:
        return ir.Named(name, env.lets[name])
    known = sorted([*env.vars, *env.lets])
    what = f"--wrt {name}" if cli else f"wrt={name!r}"
    base = name.split("[", 1)[0].strip()
    if "[" in name and (base in env.vars or base in env.lets):
        raise UsageError(f"{what}: derive takes whole variables and let names, not one entry: derive by {base} "
                         f"(entry {name[len(base):].strip()} of a scalar's gradient is the derivative by {name}), or "
                         f"check a claim by the entry, `d/d{name} … = …`")
    hint = f"; the names here are {', '.join(known)}" if known else ""
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        hint = f"; did you mean {close[0]}? (the names here are {', '.join(known)})"
    raise UsageError(f"{what}: not a variable of the expression{hint}")


def derive_text(text: str, *, wrt: str, given: str | Mapping | None = None, layout: str = "mixed",
                where: str = "<input>", seed: int = 0, order: int = 1, cli: bool = False) -> DeriveResult:
    """Derive the document's last expression by each name in ``wrt`` and check each result numerically; with
    ``order=2`` the Hessian of a scalar expression (SPEC section 6, ``derive --order 2``); ``cli`` words the errors
    for the command line."""
    from matcalc.engine import differentiate, with_lets
    from matcalc.lang import read_document
    from matcalc.verify.guard import guarded
    from matcalc.verify.judge import run_numeric

    t0 = time.perf_counter()
    if isinstance(wrt, (list, tuple)) and all(isinstance(w, str) for w in wrt):
        wrt = ",".join(wrt)
    given = given_text(given)
    _need_text(text=text, given=given, layout=layout, wrt=wrt)
    doc = read_document(text, given=given, layout=layout, where=where)
    bare = [s for s in doc.statements if isinstance(s, Bare)]
    errors = [s for s in doc.statements if isinstance(s, ErrorLine)]
    if not bare:
        if errors and errors[-1].error is not None:
            raise errors[-1].error
        raise UsageError("nothing to derive: give an expression (the last line of a document), not a claim")
    late = [s for s in errors if s.line > bare[-1].line and s.error is not None]
    if late:  # the last line could not be read: deriving an earlier expression instead would mislead
        raise late[0].error
    expr = bare[-1].expr
    layout_now = getattr(bare[-1], "layout", None) or _layout_at(doc, bare[-1].line, layout)
    if order not in (1, 2):
        raise UsageError("--order is 1 (the derivative) or 2 (the Hessian)")
    if order == 2 and not expr.is_scalar:
        raise UsageError(f"--order 2 gives the Hessian of a scalar, but {expr} is {fmt_shape(expr.shape)}")
    kind = "hessian" if order == 2 else "d"
    names = [name.strip() for name in _split_wrt(wrt) if name.strip()]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"{'--wrt' if cli else 'wrt'}: {', '.join(twice)} given twice; name each variable once")
    xs = [_lookup_wrt(name, doc, cli) for name in names]
    if order == 1 and _as_program(expr, xs, layout_now):
        try:
            return _derive_program(doc, expr, xs, layout_now, seed, t0)
        except UnsupportedProgram:
            pass  # an operation the program form has no name for: the composer's trace below says which
    items = []
    for x in xs:
        if kind == "hessian" and isinstance(x, ir.Entry):
            raise UsageError("--order 2 differentiates by a vector or a matrix, not by one entry")
        d = with_lets(differentiate(expr, x, kind=kind, layout=layout_now, reserved=_names_in_use(doc)), doc.env.lets)
        # the numeric check as the verifier runs it: a hard time limit, and a failure (out of memory) is "unknown"
        num, _cx = guarded(lambda: run_numeric(ir.Derivative(expr, x, kind, layout_now), d.result, (), 5.0, seed),
                           5.0, "numeric")
        items.append(DeriveItem(x, d, num))
    if not items:
        raise UsageError("--wrt needs at least one variable" if cli else "wrt names no variable: give one, e.g. "
                         "wrt=\"x\" (several: \"x, W\")")
    return DeriveResult(expr=expr, items=items, layout=layout_now, inferred=list(doc.env.inferred),
                        seconds=time.perf_counter() - t0, document=doc)


class UnsupportedProgram(Exception):
    """The program form cannot differentiate a definition (a rule is missing): derive falls back to the trace."""


def _as_program(expr: ir.Expr, xs: list, layout: str) -> bool:
    """The program form (backpropagation with named δ's) for a scalar derived by variables, in a layout where its
    derivative is the gradient, when the path from a variable passes through two ``let``s, or several variables are
    asked for and a ``let`` is on the path."""
    from matcalc.engine.program import lets_on_path

    if not (expr.is_scalar and xs and layout != "numerator" and all(isinstance(x, ir.Var) for x in xs)):
        return False
    if ir.Derivative in _types_cheap(expr):  # a derivative inside the cost: the composer expands it first
        return False
    if len(xs) > 1:
        return lets_on_path(expr, xs) > 0
    return lets_on_path(expr, xs) >= 2


def _types_cheap(expr: ir.Expr) -> set:
    """The node types of ``expr`` (its DAG walked once, by identity)."""
    seen, types, stack = set(), set(), [expr]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        types.add(type(x))
        stack.extend(ir.children(x))
    return types


def _derive_program(doc: Document, expr: ir.Expr, xs: list, layout: str, seed: int, t0: float) -> DeriveResult:
    """``derive`` as a program: one reverse sweep, named δ's, each gradient in terms of them, and a numeric check
    of every step and of the gradients together (:mod:`matcalc.engine.program`)."""
    from matcalc.engine import Derivation, Step
    from matcalc.engine.program import backprop

    from matcalc.engine.rules import UnsupportedDerivative

    try:
        prog = backprop(expr, xs, layout=layout, reserved=_names_in_use(doc), lets=doc.env.lets)
    except UnsupportedDerivative as exc:
        raise UnsupportedProgram(str(exc)) from exc
    num = _check_program(prog, _names_in_use(doc), seed)
    # the program's names, as a lecture trace gives its own (the last defined first): what its results are read with
    names = [ln.node for ln in prog.lines() if ln.name not in doc.env.lets or ln.kind != "let"]
    program = Step("program", None, prog.cost, "the forward program (new names), then the backward program (the δ's)",
                   label=("defs",), defs=(ir.Named("C", prog.cost), *reversed(names)))
    items = []
    for g in prog.gradients:
        head = ir.Derivative(expr, g.wrt, "d", layout)
        step = Step(g.note if g.note in ("BP3", "BP4") else "backprop", head, g.result,
                    f"{g.note}: the sum over the definitions that use {g.wrt.name} of their vector–Jacobian products")
        items.append(DeriveItem(g.wrt, Derivation(expr, g.wrt, g.result, [program, step], "d", layout), num))
    return DeriveResult(expr=expr, items=items, layout=layout, inferred=list(doc.env.inferred),
                        seconds=time.perf_counter() - t0, document=doc, program=prog)


#: The largest directional check of the gradients together, in nodes written out (every let name's definition at
#: each use): the numeric method's walks still follow the written-out tree, so a deep residual network's (which
#: doubles with every layer) is left to the local claims, which prove the program by the chain rule on their own.
DIRECTIONAL_LIMIT = 500_000


def _check_program(prog, reserved: frozenset, seed: int):
    """The numeric method on the program, linear in its size: each distinct local claim (a δ or gradient is the
    derivative of the forward steps it stands for; layers alike up to renaming are checked once), and the gradients
    together against finite differences of the cost along a random direction through every parameter at once."""
    from matcalc.engine.program import tree_size
    from matcalc.results import MethodResult
    from matcalc.verify.guard import guarded
    from matcalc.verify.judge import run_numeric

    if not prog.faithful():
        raise MatcalcError("internal error: the forward program is not the cost it was built from")
    distinct = prog.distinct_claims()
    statuses, worst = [], None
    for claim, whats in distinct:
        m, _cx = guarded(lambda: run_numeric(claim.lhs, claim.rhs, (), 5.0, seed), 5.0, "numeric")
        statuses.append(m.status)
        if m.status != "equal" and worst is None:
            worst = (", ".join(whats), m)
    lhs, rhs, count = prog.directional_claim(reserved)
    written_out = tree_size(lhs, rhs)
    if written_out <= DIRECTIONAL_LIMIT:
        whole, _cx = guarded(lambda: run_numeric(lhs, rhs, (), 10.0, seed), 10.0, "numeric")
        statuses.append(whole.status)
    else:  # the numeric method still walks expressions written out: the local claims carry the proof alone
        whole = MethodResult("unknown", f"not run: written out, the cost and the gradients have {written_out:.2g} "
                             f"nodes (more than {DIRECTIONAL_LIMIT:,})")
    n_local = len(prog.local_claims())
    local = (f"each of the {n_local} definitions (δ's and gradients) is the derivative of the forward steps it stands "
             f"for ({len(distinct)} distinct up to renaming)")
    together = (f"the {count} gradients together equal the derivative of the cost along a random direction through "
                f"all {count} variables at once ({whole.detail})" if count != 1 else
                f"the gradient equals the derivative of the cost along a random direction ({whole.detail})")
    if "different" in statuses:
        status = "different"
    elif all(s == "equal" for s in statuses):
        status = "equal"
    else:
        status = "unknown"
    if written_out > DIRECTIONAL_LIMIT:
        together = f"the gradients together against the cost: {whole.detail}"
    if status == "equal":
        detail = f"the forward program is the cost, node for node; finite differences agree: {local}; {together}"
    elif worst is not None:
        detail = f"finite differences of {worst[0]}: {worst[1].detail}"
    else:
        detail = f"the gradients together: {whole.detail}"
    return MethodResult(status, detail)


def _layout_at(doc: Document, line: int, default: str) -> str:
    from matcalc.document import LayoutSetting

    layout = default
    for s in doc.statements:
        if isinstance(s, LayoutSetting) and s.line <= line:
            layout = s.layout
    return layout


# ───────────────────────────── prove ─────────────────────────────


def _names_in_use(doc: Document) -> frozenset:
    """The names a document declares or defines (the derivation's own names for intermediate results avoid them)."""
    return frozenset(doc.env.vars) | frozenset(doc.env.funcs) | frozenset(doc.env.lets)


def _engine_derivations(doc: Document) -> list:
    from matcalc.engine import differentiate

    out = []
    seen: set = set()  # a derivative claimed on several lines is derived (and shown) once, at its first line
    for s in doc.statements:
        if isinstance(s, Claim) and s.lhs is not None:
            for node in ir.walk(s.lhs):
                if isinstance(node, ir.Derivative) and not isinstance(node.wrt, ir.Entry):
                    if node in seen:
                        break
                    seen.add(node)
                    try:
                        d = differentiate(node.expr, node.wrt, kind=node.kind, layout=node.layout,
                                          reserved=_names_in_use(doc))
                    except MatcalcError:
                        continue
                    out.append((s.line, node, d))
                    break
    return out


class Derivations(Sequence):
    """A theorem's engine derivations (:func:`_engine_derivations`), derived on first use: the ``prove all`` table
    and JSON do not show them, a single theorem, a failing one, Markdown and LaTeX do."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.items: list | None = None

    def _get(self) -> list:
        if self.items is None:
            try:
                self.items = _engine_derivations(self.doc)
            except RecursionError:
                self.items = []
        return self.items

    def __getitem__(self, i):  # type: ignore[override]
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self.items) if self.items is not None else "<derivations, not derived yet>"


def prove_one(name: str, *, seed: int = 0, derive: bool = True) -> TheoremResult:
    """Prove one theorem of ``proofs/``; ``derive=False`` leaves its engine derivations to be derived when first
    looked at (see :class:`Derivations`)."""
    from matcalc.lang import read_document
    from matcalc.proofs import load

    t0 = time.perf_counter()
    info, text = load(name)
    doc = read_document(text, where=str(info.path))
    report = check_document(doc, seed=seed)
    derivations = Derivations(doc)
    if derive:
        derivations._get()
    return TheoremResult(name=info.name, title=info.title, source=info.source, part=info.part or "",
                         document=doc, report=report, derivations=derivations, seconds=time.perf_counter() - t0)


def prove_many(names: list[str], *, seed: int = 0, progress: bool = False, derive: bool = True) -> ProveResult:
    """Prove each named theorem (``all`` for every theorem in ``proofs/``); ``derive=False``: the engine derivations
    are derived only when looked at (the ``prove all`` table and the JSON do not show them)."""
    from matcalc.proofs import list_theorems

    t0 = time.perf_counter()
    todo: list[str] = []
    for n in names:
        if n == "all":
            todo.extend(str(t.name) for t in list_theorems())
        else:
            todo.append(n)
    if not todo:
        raise UsageError("no theorems to prove")
    workers = _workers(len(todo))
    results: list[TheoremResult | None] = [None] * len(todo)
    bar = task = None
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("proving {task.fields[current]:<18}"), BarColumn(),
                       TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                       console=Console(stderr=True), transient=True)
        task = bar.add_task("prove", total=len(todo), current=f"{len(todo)} theorems")
        bar.start()
    try:
        if workers > 1:
            _prove_parallel(todo, results, seed, workers, bar, task, derive)
        else:
            for i, n in enumerate(todo):
                if bar is not None:
                    bar.update(task, current=n)
                results[i] = prove_one(n, seed=seed, derive=derive)
                if bar is not None:
                    bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    return ProveResult(theorems=results, seconds=time.perf_counter() - t0)


def _workers(n_theorems: int) -> int:
    """Processes for a batch of theorems: one per core (at most 4), only when there is more than one theorem."""
    import os

    env = os.environ.get("MATCALC_WORKERS")
    if env and env.isdigit():
        return max(1, min(int(env), n_theorems))
    if n_theorems < 3:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4, n_theorems))


def _prove_parallel(todo: list[str], results: list, seed: int, workers: int, bar, task, derive: bool = True) -> None:
    """Prove the theorems in ``todo`` in worker processes, filling ``results`` in order."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # Load the heavy modules once before the workers fork, so each starts warm.
    import matcalc.verify.exact  # noqa: F401
    import matcalc.verify.numeric  # noqa: F401
    import matcalc.engine  # noqa: F401

    try:
        ctx = mp.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = mp.get_context()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        # the catalogue goes from the simple theorems to the advanced ones (backpropagation, Hessians): submitted
        # from the end, the longest run first and the short ones fill the gaps, so no worker is left with a long tail
        futures = {pool.submit(prove_one, todo[i], seed=seed, derive=derive): i for i in reversed(range(len(todo)))}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if bar is not None:
                bar.update(task, current=todo[i])
                bar.advance(task)


__all__ = ["check_text", "derive_text", "prove_many", "prove_one", "DeriveResult", "ProveResult", "TheoremResult",
           "Step", "TypeCheckError"]

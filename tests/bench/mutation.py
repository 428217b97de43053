"""Mutation benchmark: how many small, deliberate bugs in the core modules does the test suite catch?

Run before a release, not in CI: ``python tests/bench/mutation.py [--per-module 40] [--seed 0] [--jobs 2]``.
Needs ``coverage`` (``pip install coverage``). Contract:

1. The repository is copied once into a temporary directory (one copy per job); the working tree is never written.
2. The whole suite runs once in a copy under ``coverage``, with a small pytest plugin that switches the coverage
   context to each test's node id; this maps every executed line to the tests that execute it, and times each test.
   ``--coverage-cache FILE`` keeps that map in FILE and reuses it while no file under ``matcalc/`` or ``tests/``
   (but ``tests/bench/``) has changed (a digest of their contents is stored with it): one group at a time then
   costs one coverage run in all.
3. Mutation sites are found with our own AST walk over the files of each module group (``GROUPS``, glob patterns of
   the current layout; a pattern that matches no file is an error, so a moved module cannot silently drop out).
   Operators: swap operands, flip a comparison, and <-> or, change a constant, delete a statement, negate an
   if-condition, return None, arithmetic operator swap. Sites on lines no test executes are not sampled but counted
   per group ("never executed": automatic survivors). Per group, all sites are shuffled
   with ``random.Random(f"{seed}:{group}")`` and the first ``--per-module N`` on executed lines that compile are
   taken, so the draw depends on the source (and changes only where a line's coverage does).
4. Each mutant is written into a copy and only the tests covering its line run (``pytest -x``; the site's own line,
   else its statement's first line; a line executed only at import runs the whole suite) with PYTHONPATH set to
   that copy; the original file is written back afterwards.
   A test that fails on the unmutated code (a time limit on a loaded machine; at most ``MAX_BASELINE_FAILURES``) is
   named and left out of every mutant's run. ``--exclude GLOB`` leaves test files out the same way: with the new
   tests of a change excluded, the same sample measures the suite before them.
   Exit 0 = survived; a failure, a collection error or a timeout (10x the covering tests' baseline time, at least
   60 s) = killed; exit 4 or 5 (pytest usage error, no tests ran) = error, outside the kill rate.
   ``--only ID`` (repeatable) runs just those mutants (matched like the equivalents list, the line may drift), and
   ``--tests PATH`` (repeatable) runs those tests instead of the covering ones: to check that a new test kills a
   survivor without a new coverage run. ``--also FILE`` (repeatable) names a test file added since the cached map
   was made: it runs with every mutant (after the covering tests) and is left out of the map's digest; a fresh map
   may also sample lines that only the new file executes.
5. Output: a per-group table and every survivor as a unified diff with file:line; ``--json FILE`` writes the same.
   Survivors whose id is listed in ``tests/bench/mutation_equivalent.txt`` (``path:line:operator:hash  # reason``;
   matched on path, operator and hash, so the line number may drift) count as equivalent, outside the kill rate.
"""

from __future__ import annotations

import argparse
import ast
import collections
import concurrent.futures as cf
import glob
import hashlib
import importlib.util
import itertools
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT = Path(__file__).with_name("mutation_equivalent.txt")
MAX_BASELINE_FAILURES = 10  # tests failing on the unmutated code (time limits under load) that are tolerated
RUNNING: set[subprocess.Popen] = set()  # pytest processes of mutants now running, killed on Ctrl-C

GROUPS: dict[str, list[str]] = {  # glob patterns of the layout in the README's "How the code is laid out"
    "engine and rules": ["matcalc/engine/*.py"],
    "simplifier": ["matcalc/engine/simplify.py"],
    "symbolic": ["matcalc/verify/symbolic.py"],
    "exact": ["matcalc/verify/exact/*.py"],
    "numeric": ["matcalc/verify/numeric/*.py"],
    "verdict and marking": ["matcalc/marking.py", "matcalc/results.py", "matcalc/verify/judge.py",
                            "matcalc/verify/__init__.py"],
    "printing": ["matcalc/printing.py"],
}

PLUGIN = '''  # loaded into the coverage run: one coverage context per test (its node id), and each test's time
import json, os, coverage, pytest
_durations = {}
def _switch(name):
    coverage.Coverage.current().switch_context(name)
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _switch(item.nodeid)
    yield
    _switch("")  # lines run between tests (and at import) count as ""
_failed = set()
def pytest_runtest_logreport(report):
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration
    if report.failed:
        _failed.add(report.nodeid)
def pytest_sessionfinish(session):
    with open(os.environ["MUTATION_DURATIONS"], "w") as f:
        json.dump({"durations": _durations, "failed": sorted(_failed)}, f)
'''

ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult}
SWAPPABLE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)
FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
        ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Lt: "<", ast.LtE: "<=",
        ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is",
        ast.IsNot: "is not", ast.And: "and", ast.Or: "or", ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@"}
SIMPLE = (ast.Name, ast.Constant, ast.Attribute, ast.Call, ast.Subscript)
DELETABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Raise, ast.Assert, ast.Break, ast.Continue)


@dataclass
class Mutant:
    path: str
    line: int  # line of the mutated node (shown)
    stmt_line: int  # first line of the enclosing statement (what coverage records)
    operator: str
    start: int  # byte span of the original source that is replaced
    end: int
    new: str
    func: str
    runtime: bool  # inside a function or lambda body: its own line's tests are the ones that run it
    id: str = ""
    tests: list[str] = field(default_factory=list)
    status: str = ""  # killed | timeout | survived | equivalent | error
    seconds: float = 0.0
    diff: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """What an entry of mutation_equivalent.txt is matched on: path, operator, hash (not the line)."""
        return self.path, self.operator, self.id.rsplit(":", 1)[1]


class Sites(ast.NodeVisitor):
    """Collects every mutation site of one file as (operator, node span, replacement text)."""

    def __init__(self, path: str, src: bytes) -> None:
        self.path, self.src, self.out = path, src, []
        self.starts = [0]
        for line in src.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))
        self.stmt, self.func, self.runtime = 0, "<module>", False

    def off(self, line: int, col: int) -> int:
        return self.starts[line - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.off(node.lineno, node.col_offset), self.off(node.end_lineno, node.end_col_offset)

    def text(self, node: ast.AST) -> str:
        return self.src.__getitem__(slice(*self.span(node))).decode()

    def add(self, node: ast.AST, operator: str, new: str, span: tuple[int, int] | None = None) -> None:
        a, b = span or self.span(node)
        self.out.append(Mutant(self.path, node.lineno, self.stmt or node.lineno, operator, a, b, new, self.func,
                               self.runtime))

    def operand(self, node: ast.AST) -> str:
        return self.text(node) if isinstance(node, SIMPLE) else f"({self.text(node)})"

    def gap_swap(self, node: ast.AST, left: ast.AST, right: ast.AST, old: str, new: str, operator: str) -> None:
        """Replace the operator token between two operands, keeping the rest of the text as written."""
        a, b = self.off(left.end_lineno, left.end_col_offset), self.off(right.lineno, right.col_offset)
        gap = self.src[a:b].decode()
        if " ".join(gap.replace("(", " ").replace(")", " ").split()) == old and old in gap:  # nothing but the op
            self.add(node, operator, gap.replace(old, new, 1), (a, b))

    def generic_visit(self, node: ast.AST) -> None:
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "type_comment", "decorator_list"):
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    self.visit(child)

    def visit_body(self, body: list[ast.stmt]) -> None:
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]  # the docstring
        for stmt in body:
            self.visit(stmt)

    def visit_Module(self, node: ast.Module) -> None:
        self.visit_body(node.body)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.ClassDef) -> None:
        outer, self.func = self.func, node.name
        if not isinstance(node, ast.ClassDef):  # defaults yes; decorators, bases and annotations no
            for default in node.args.defaults + [d for d in node.args.kw_defaults if d]:
                self.visit(default)
        outer_rt, self.runtime = self.runtime, self.runtime or not isinstance(node, ast.ClassDef)
        self.visit_body(node.body)
        self.func, self.runtime = outer, outer_rt

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.args)
        outer, self.runtime = self.runtime, True
        self.visit(node.body)
        self.runtime = outer

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt):
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.Pass)):
                return
            if isinstance(node, ast.If) and "TYPE_CHECKING" in self.text(node.test):
                return
            outer, self.stmt = self.stmt, node.lineno
            if isinstance(node, DELETABLE):
                self.add(node, "delete-statement", "pass")
            if isinstance(node, ast.If):
                self.add(node.test, "negate-if", f"not ({self.text(node.test)})")
            if isinstance(node, ast.Return) and node.value is not None and \
                    not (isinstance(node.value, ast.Constant) and node.value.value is None):
                self.add(node.value, "return-none", "None")
            if isinstance(node, ast.AugAssign) and type(node.op) in ARITH:
                self.gap_swap(node, node.target, node.value, TEXT[type(node.op)] + "=",
                              TEXT[ARITH[type(node.op)]] + "=", "arith-swap")
            super().visit(node)
            self.stmt = outer
        elif not isinstance(node, ast.JoinedStr):  # positions inside f-strings are unreliable before 3.12
            super().visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        op = type(node.op)
        if op in ARITH:
            self.gap_swap(node, node.left, node.right, TEXT[op], TEXT[ARITH[op]], "arith-swap")
        if op in SWAPPABLE and self.text(node.left) != self.text(node.right):
            self.add(node, "swap-operands", f"{self.operand(node.right)} {TEXT[op]} {self.operand(node.left)}")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        items = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            if type(op) in FLIP:
                self.gap_swap(node, items[i], items[i + 1], TEXT[type(op)], TEXT[FLIP[type(op)]], "flip-compare")
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
            self.add(node, "swap-operands",
                     f"{self.operand(items[1])} {TEXT[type(node.ops[0])]} {self.operand(items[0])}")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        old = TEXT[type(node.op)]
        for left, right in zip(node.values, node.values[1:]):
            self.gap_swap(node, left, right, old, "or" if old == "and" else "and", "and-or")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        v = node.value
        if isinstance(v, bool):
            self.add(node, "constant", repr(not v))
        elif isinstance(v, int):
            self.add(node, "constant", {0: "1", 1: "0"}.get(v, str(v + 1)))
        elif isinstance(v, float):
            self.add(node, "constant", repr(1.0 if v == 0 else v + 1))
        elif isinstance(v, (str, bytes)) and v:
            self.add(node, "constant", '""' if isinstance(v, str) else 'b""')


def find_sites(path: str) -> list[Mutant]:
    """Every site of one file, with its stable id; not yet checked to compile (see ``usable``)."""
    src = (ROOT / path).read_bytes()
    sites = Sites(path, src)
    sites.visit(ast.parse(src))
    out, seen, twins = [], set(), collections.Counter()
    for m in sites.out:
        old = src[m.start:m.end].decode()
        if old == m.new or (m.start, m.end, m.new) in seen:
            continue
        seen.add((m.start, m.end, m.new))
        what = f"{m.func}\0{m.operator}\0{old}\0{m.new}"
        twins[what] += 1  # the same change twice in one function: the hash counts which one it is
        digest = hashlib.sha1(f"{what}\0{twins[what]}".encode()).hexdigest()[:8]
        m.id = f"{path}:{m.line}:{m.operator}:{digest}"
        out.append(m)
    return out


def usable(m: Mutant) -> bool:
    """Compiles the mutated file and, if it does, fills in the mutant's diff (one line of context)."""
    src = (ROOT / m.path).read_bytes()
    new_src = src[:m.start] + m.new.encode() + src[m.end:]
    try:
        compile(new_src, m.path, "exec")
    except SyntaxError:
        return False
    lines = src.decode().splitlines(keepends=True)
    lo, hi = src.count(b"\n", 0, m.start), src.count(b"\n", 0, max(m.start, m.end - 1))
    first = src.rfind(b"\n", 0, m.start) + 1
    last = src.find(b"\n", m.end) + 1 or len(src)
    changed = (src[first:m.start] + m.new.encode() + src[m.end:last]).decode().splitlines(keepends=True)
    before, after = lines[max(0, lo - 1):lo], lines[hi + 1:hi + 2]
    start = lo + 1 - len(before)
    m.diff = (f"--- a/{m.path}\n+++ b/{m.path}\n@@ -{start},{len(before) + hi - lo + 1 + len(after)} "
              f"+{start},{len(before) + len(changed) + len(after)} @@\n"
              + "".join(" " + x for x in before) + "".join("-" + x for x in lines[lo:hi + 1])
              + "".join("+" + x for x in changed) + "".join(" " + x for x in after))
    return True


def group_files() -> dict[str, list[str]]:
    return {g: sorted({os.path.relpath(p, ROOT) for pat in pats for p in glob.glob(str(ROOT / pat))})
            for g, pats in GROUPS.items()}


def copy_tree(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", ".coverage*", ".pytest_cache", "build")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def copy_env(copy: Path, **extra: str) -> dict[str, str]:
    """The copy's code wins over any installed matcalc; no .pyc, so a rewritten file is always recompiled."""
    return dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1", **extra)


def run_coverage(work: Path, copy: Path) -> tuple[dict[str, dict[int, set[str]]], dict[str, float], list[str]]:
    """Runs the suite once under coverage; returns {path: {line: contexts}}, {node id: seconds} and the node ids of
    the tests that fail on the unmutated code (at most ``MAX_BASELINE_FAILURES``, else it stops)."""
    (work / "plugin").mkdir()
    (work / "plugin" / "_mutation_contexts.py").write_text(PLUGIN)
    data_file, durations = work / "coverage.data", work / "durations.json"
    env = copy_env(copy, MUTATION_DURATIONS=str(durations))
    env["PYTHONPATH"] += os.pathsep + str(work / "plugin")
    cmd = [sys.executable, "-m", "coverage", "run", f"--data-file={data_file}", "--source=matcalc",
           "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_mutation_contexts"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True)
    timing = json.loads(durations.read_text()) if durations.exists() else {"durations": {}, "failed": []}
    failed = timing["failed"]
    if proc.returncode != 0 and not (proc.returncode == 1 and 0 < len(failed) <= MAX_BASELINE_FAILURES):
        sys.exit(f"the suite does not pass on the unmutated code (exit {proc.returncode}):\n{proc.stdout[-3000:]}")
    if failed:  # a test that fails unmutated (a time limit on a loaded machine) cannot tell a mutant: left out
        print(f"{len(failed)} test(s) fail on the unmutated code and are left out of every mutant's run:\n  "
              + "\n  ".join(failed), file=sys.stderr)
    print(f"coverage run of the suite: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    import coverage

    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    lines = {}
    for fname in data.measured_files():
        by_line = data.contexts_by_lineno(fname)
        lines[os.path.relpath(Path(fname).resolve(), copy.resolve())] = {n: set(c) for n, c in by_line.items()}
    return lines, timing["durations"], failed


def tree_digest(leave_out: tuple = ()) -> str:
    """A digest of matcalc/'s Python files and the files of tests/ (not tests/bench/, which pytest does not collect,
    nor the files ``leave_out``): a cached coverage map is valid while it holds."""
    h = hashlib.sha1()
    skip = {(ROOT / p).resolve() for p in leave_out}
    tests = [p for p in ROOT.glob("tests/**/*") if p.is_file() and "__pycache__" not in p.parts
             and not p.is_relative_to(ROOT / "tests" / "bench") and p.resolve() not in skip]
    for path in sorted(ROOT.glob("matcalc/**/*.py")) + sorted(tests):
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def cached_coverage(cache: str | None, work: Path, copy: Path, also: tuple = ()):
    """``run_coverage``, or the map kept in ``cache`` if it was made from the same sources and tests (the test files
    ``also``, run with every mutant, left out of the comparison)."""
    digest = tree_digest(also)
    if cache and Path(cache).exists():
        kept = json.loads(Path(cache).read_text())
        if kept.get("digest") == digest:
            print(f"coverage map reused from {cache}", file=sys.stderr)
            lines = {p: {int(n): set(c) for n, c in by.items()} for p, by in kept["lines"].items()}
            return lines, kept["durations"], kept.get("failed", [])
        print(f"{cache} is stale (sources or tests changed): a new coverage run", file=sys.stderr)
    lines, durations, failed = run_coverage(work, copy)
    if cache:
        Path(cache).write_text(json.dumps({"digest": digest, "durations": durations, "failed": failed, "lines": {
            p: {n: sorted(c) for n, c in by.items()} for p, by in lines.items()}}))
    return lines, durations, failed


def run_mutant(m: Mutant, copy: Path, timeout: float, leave_out: list[str] = ()) -> None:
    target = copy / m.path
    original = target.read_bytes()
    try:
        target.write_bytes(original[:m.start] + m.new.encode() + original[m.end:])
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests]
        if not m.tests:  # the whole suite: without the tests left out
            cmd += [f"--deselect={t}" for t in leave_out if "::" in t] + [f"--ignore={t}" for t in leave_out
                                                                         if "::" not in t]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=copy, env=copy_env(copy), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        RUNNING.add(proc)
        try:
            rc = proc.wait(timeout=timeout)
            m.status = {0: "survived", 4: "error", 5: "error"}.get(rc, "killed")  # 4: usage, 5: no tests
        except subprocess.TimeoutExpired:
            m.status = "timeout"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            RUNNING.discard(proc)
        m.seconds = round(time.perf_counter() - t0, 1)
    finally:
        target.write_bytes(original)


def load_equivalent() -> dict[tuple[str, str, str], str]:
    out = {}
    if EQUIVALENT.exists():
        for raw in EQUIVALENT.read_text().splitlines():
            ident, _, reason = raw.partition("#")
            if ident.strip():
                path, _line, op, digest = ident.strip().rsplit(":", 3)
                out[(path, op, digest)] = reason.strip()
    return out


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-module", type=int, default=40, metavar="N", help="mutants per module group (40)")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (0)")
    ap.add_argument("--jobs", type=int, default=2, help="mutants run in parallel, each in its own copy (2)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--group", action="append", choices=list(GROUPS), help="only these groups (repeatable)")
    ap.add_argument("--coverage-cache", metavar="FILE", help="keep the coverage map in FILE; reuse it while valid")
    ap.add_argument("--only", action="append", metavar="ID", help="only this mutant, path:line:operator:hash")
    ap.add_argument("--tests", action="append", metavar="PATH", help="run these tests instead of the covering ones")
    ap.add_argument("--exclude", action="append", metavar="GLOB",
                    help="leave these test files out of every mutant's run (e.g. to measure before new tests)")
    ap.add_argument("--also", action="append", metavar="PATH",
                    help="a test file added since the cached coverage map: run with every mutant, left out of its digest")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("coverage") is None:
        print("mutation.py needs coverage: pip install coverage", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # clean up (kill running pytest, remove the copies) on kill too
    files = {g: fs for g, fs in group_files().items() if not args.group or g in args.group}
    missing = [g for g, fs in files.items() if not fs]
    if missing:
        print(f"no file matches the patterns of {', '.join(missing)}: update GROUPS", file=sys.stderr)
        return 2
    only = {(p, op, h) for p, _line, op, h in (i.rsplit(":", 3) for i in args.only or [])}
    equivalent = load_equivalent()
    for path in sorted({path for path, _op, _h in equivalent if not (ROOT / path).is_file()}):
        print(f"{EQUIVALENT.name} names {path}, which does not exist: update its entries", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="matcalc-mutation-"))
    try:
        copies = [copy_tree(work / f"copy{i}") for i in range(max(1, args.jobs))]
        if only and args.tests:  # nothing to map: the mutants and their tests are given
            lines, durations, failed = {}, {}, []
        else:
            lines, durations, failed = cached_coverage(args.coverage_cache, work, copies[0], tuple(args.also or ()))
        excluded = sorted({str(p.relative_to(ROOT)) for pat in args.exclude or [] for p in ROOT.glob(pat)})
        leave_out = sorted(set(failed) | set(excluded))

        def kept(test: str) -> bool:
            return test not in failed and test.split("::")[0] not in excluded
        total = sum(durations.values()) or 60.0
        rows, chosen = {}, []
        for group, paths in files.items():
            sites = [m for p in paths for m in find_sites(p)]
            candidate = {(m.path, m.stmt_line) for m in sites}
            ran = {(m.path, m.stmt_line) for m in sites if lines.get(m.path, {}).get(m.stmt_line)}
            order = list(sites)  # shuffle all sites: the draw depends on the source, not on this run's coverage
            random.Random(f"{args.seed}:{group}").shuffle(order)
            if only:
                pick = [m for m in order if m.key in only and usable(m)]
            else:
                pick = list(itertools.islice((m for m in order if (m.path, m.stmt_line) in ran and usable(m)),
                                             args.per_module))
            for m in pick:  # code run by tests: the tests of its own line (a lambda in a table), else its statement's
                by_line = lines.get(m.path, {})
                own = by_line.get(m.line, set()) - {""} if m.runtime else set()
                contexts = set(args.tests) if args.tests else own or (by_line.get(m.stmt_line, set()) - {""})
                m.tests = sorted(filter(kept, contexts), key=lambda t: durations.get(t, 0.0))  # fast tests first
                if contexts and not m.tests:  # only tests left out run this line: nothing left can kill it
                    m.status = "survived"
                if m.tests and args.also:
                    m.tests += args.also
            rows[group] = {"files": paths, "candidate_lines": len(candidate), "never_executed": len(candidate - ran),
                           "mutants": pick}
            chosen += pick
        free: queue.Queue[Path] = queue.Queue()
        list(map(free.put, copies))  # a copy is taken by one job at a time
        done: list[Mutant] = []

        def job(m: Mutant) -> Mutant:
            if not m.status:
                copy = free.get()
                try:
                    base = sum(durations.get(t, 0.0) for t in m.tests) if m.tests else total
                    run_mutant(m, copy, max(60.0, 10 * base), leave_out)
                finally:
                    free.put(copy)
            if m.status == "survived" and m.key in equivalent:
                m.status = "equivalent"
            done.append(m)
            print(f"{len(done):4}/{len(chosen)} [{m.status:>10}] {m.seconds:6.1f}s {len(m.tests) or 'all':>4} tests "
                  f"{m.id}", file=sys.stderr, flush=True)
            return m

        pool = cf.ThreadPoolExecutor(max_workers=len(copies))
        try:
            list(pool.map(job, chosen))
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in list(RUNNING):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        pool.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report(rows, equivalent, args)


def report(rows: dict, equivalent: dict, args: argparse.Namespace) -> int:
    head = f"{'group':<22}{'lines':>7}{'never run':>10}{'mutants':>9}{'killed':>8}{'timeout':>8}" \
           f"{'survived':>9}{'equiv':>6}{'error':>6}{'kill %':>8}"
    print(head + "\n" + "-" * len(head))
    result = {"seed": args.seed, "per_module": args.per_module, "groups": {}, "survivors": []}
    for group, row in rows.items():
        count = {s: sum(m.status == s for m in row["mutants"])
                 for s in ("killed", "timeout", "survived", "equivalent", "error")}
        scored = count["killed"] + count["timeout"] + count["survived"]
        rate = round(100.0 * (count["killed"] + count["timeout"]) / scored, 1) if scored else None
        print(f"{group:<22}{row['candidate_lines']:>7}{row['never_executed']:>10}{len(row['mutants']):>9}"
              f"{count['killed']:>8}{count['timeout']:>8}{count['survived']:>9}{count['equivalent']:>6}"
              f"{count['error']:>6}{'-' if rate is None else f'{rate:.1f}%':>8}")
        result["groups"][group] = {"files": row["files"], "candidate_lines": row["candidate_lines"],
                                   "never_executed": row["never_executed"], "mutants": len(row["mutants"]),
                                   **count, "kill_percent": rate,
                                   "results": [{"id": m.id, "status": m.status, "seconds": m.seconds,
                                                "tests": len(m.tests) or "all"} for m in row["mutants"]]}
    survivors = [m for row in rows.values() for m in row["mutants"] if m.status in ("survived", "equivalent")]
    print("\n'lines' = lines with a mutation site; 'never run' = those no test executes (not sampled).")
    for m in survivors:
        why = f"  (equivalent: {equivalent[m.key]})" if m.status == "equivalent" else ""
        print(f"\n== survivor {m.id}  {m.path}:{m.line} in {m.func}(){why}\n{m.diff}", end="")
        result["survivors"].append({"id": m.id, "file": m.path, "line": m.line, "operator": m.operator,
                                    "function": m.func, "status": m.status, "diff": m.diff})
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Independence by folder (SPEC section 5, DESIGN "Why the three checks must stay independent").

The exact and numeric methods must share no code path with the rule engine: this test builds the transitive closure of
every ``import`` in the packages ``matcalc/verify/exact`` and ``matcalc/verify/numeric`` — imports inside functions
included, and a module's parent packages too, since importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` — and
fails if it reaches the engine, the simplifier or the symbolic method.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "matcalc"

#: What the closure must never reach: the rule engine (with its simplifier and rule table) and the symbolic method.
FORBIDDEN = ("matcalc.engine", "matcalc.verify.symbolic", "matcalc.verify.judge", "matcalc.verify.diagnose")


def _file_of(module: str) -> Path | None:
    rel = Path(*module.split("."))
    for cand in (ROOT / rel / "__init__.py", ROOT / rel.with_suffix(".py")):
        if cand.is_file():
            return cand
    return None


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_in(tree: ast.AST, *, top_level_only: bool) -> list[ast.AST]:
    """The import statements of a module: all of them, or only those that run when it is imported (not inside a
    function body, which runs only when called)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        if top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def _direct_imports(path: Path, *, top_level_only: bool = False) -> tuple[set[str], set[str]]:
    """The matcalc modules ``path`` imports: ``(used, parents)``. A used module's functions may be called, so its
    whole file counts; of a parent package (``matcalc`` in ``from matcalc import errors``) only what runs on import."""
    module = _module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    used: set[str] = set()
    parents: set[str] = set()
    for node in _imports_in(ast.parse(path.read_text(encoding="utf-8")), top_level_only=top_level_only):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            subs = [f"{base}.{a.name}" for a in node.names if _file_of(f"{base}.{a.name}")]
            targets = subs + ([base] if len(subs) < len(node.names) else [])  # names that are not modules: base used
            if subs and len(subs) == len(node.names):
                parents.add(base)
        for name in targets:
            if name == "matcalc" or name.startswith("matcalc."):
                parts = name.split(".")
                parents.update(".".join(parts[:i]) for i in range(1, len(parts)))
                used.add(name)
    keep = {m for m in used | parents if _file_of(m) is not None}
    return used & keep, (parents & keep) - used


def closure(start: list[str]) -> dict[str, str]:
    """The transitive closure of ``start``: each reached module with the module that first imported it."""
    seen: dict[str, str] = {m: "" for m in start}
    scanned: set[tuple[str, bool]] = set()
    todo = [(m, False) for m in start]
    while todo:
        mod, top_only = todo.pop()
        if (mod, top_only) in scanned or (mod, False) in scanned:
            continue
        scanned.add((mod, top_only))
        path = _file_of(mod)
        if path is None:
            continue
        used, parents = _direct_imports(path, top_level_only=top_only)
        for dep, dep_top_only in [(d, False) for d in used] + [(d, True) for d in parents]:
            seen.setdefault(dep, mod)
            todo.append((dep, dep_top_only))
    return seen


def _chain(seen: dict[str, str], mod: str) -> str:
    out = [mod]
    while seen.get(out[-1]):
        out.append(seen[out[-1]])
    return " ← ".join(out)


def _package_modules(name: str) -> list[str]:
    return [_module_of(p) for p in sorted((PKG / "verify" / name).rglob("*.py"))]


@pytest.mark.parametrize("package", ["exact", "numeric"])
def test_checker_closure_never_reaches_the_engine(package: str) -> None:
    start = _package_modules(package)
    assert len(start) > 3, f"matcalc/verify/{package} should be a package of several modules"
    seen = closure(start)
    bad = sorted(m for m in seen if m.startswith(FORBIDDEN))
    assert not bad, "\n".join(_chain(seen, m) for m in bad)


def test_closure_sees_imports_inside_functions(tmp_path: Path, monkeypatch) -> None:
    """The scan is not blind: a lazy import of the engine inside a function is found, through a chain of modules."""
    pkg = tmp_path / "matcalc"
    (pkg / "verify").mkdir(parents=True)
    (pkg / "engine").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "verify" / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("def f():\n    from matcalc.engine import rules\n")
    (pkg / "verify" / "checker.py").write_text("from .. import helper\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    seen = closure(["matcalc.verify.checker"])
    assert "matcalc.engine" in seen and "matcalc.helper" in seen
    assert _chain(seen, "matcalc.engine") == "matcalc.engine ← matcalc.helper ← matcalc.verify.checker"

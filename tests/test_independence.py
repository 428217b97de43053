"""The three checks stay independent (DESIGN.md): the exact and numeric methods import nothing from the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "matcalc"
ENGINE = {"matcalc.engine", "matcalc.rules", "matcalc.simplify", "matcalc.normal", "matcalc.verify.symbolic",
          "matcalc.verify.diagnose",
          "matcalc.verify.judge", "matcalc.marking", "matcalc.api"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _checker_imports(name: str) -> set[str]:
    """The imports of the checker ``matcalc/verify/<name>``: one module file, or every module of a package."""
    path = PKG / "verify" / name
    files = sorted(path.glob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    assert files and all(f.is_file() for f in files), f"{path} is missing"
    out: set[str] = set()
    for f in files:
        out |= _imports(f)
    return out


@pytest.mark.parametrize("module", ["exact", "numeric"])
def test_checkers_do_not_import_the_engine(module: str) -> None:
    bad = {m for m in _checker_imports(module) if any(m == e or m.startswith(e + ".") for e in ENGINE)}
    assert not bad, f"{module} imports the engine: {sorted(bad)}"


def test_exact_and_numeric_do_not_import_each_other() -> None:
    assert not any("numeric" in m for m in _checker_imports("exact"))
    assert not any("exact" in m for m in _checker_imports("numeric"))


def test_scan_catches_an_engine_import(tmp_path: Path) -> None:
    """The scan itself works: a file that imports the engine is caught."""
    f = tmp_path / "bad.py"
    f.write_text("from matcalc.engine import differentiate\nimport matcalc.rules\n")
    found = _imports(f)
    assert "matcalc.engine" in found and "matcalc.rules" in found


def test_core_never_imports_rich() -> None:
    for name in ("ir.py", "shapes.py", "errors.py", "document.py", "results.py", "marking.py", "verify/judge.py",
                 "verify/guard.py", "verify/diagnose.py", "printing.py"):
        path = PKG / name
        if path.is_file():
            assert not any(m.startswith("rich") for m in _imports(path)), name


def test_no_eval_of_user_text() -> None:
    """User text never reaches eval/exec/sympify/parse_expr: none of them is called anywhere in the package.

    (SymPy's ``parse_expr`` cannot even be imported: no module of the package imports sympy.parsing.)
    """
    offenders = []
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(m.startswith("sympy.parsing") for m in _imports(path)):
            offenders.append(f"{path.name} imports sympy.parsing")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func
                if isinstance(fn, ast.Name) and fn.id in {"eval", "exec", "sympify", "parse_expr", "compile"}:
                    offenders.append(f"{path.name}:{node.lineno} {fn.id}")
                if isinstance(fn, ast.Attribute) and fn.attr in {"sympify", "S"}:
                    offenders.append(f"{path.name}:{node.lineno} {fn.attr}")
    assert not offenders, offenders

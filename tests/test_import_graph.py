"""No import circle among matcalc's modules (DESIGN.md: each stage takes the previous stage's value; none reaches back).

The graph is built from the module-level imports only (an import inside a function runs when it is called, and is
how the designed hooks reach back: a result record's ``__str__``/``__rich__``/``_repr_latex_`` calling a renderer,
an expression's ``__str__`` calling the printer). Importing ``a.b.c`` also runs ``a/__init__.py`` and
``a/b/__init__.py``, so those are edges too. ``if TYPE_CHECKING:`` blocks are skipped: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "matcalc"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _top_level_imports(tree: ast.Module, here: str, is_package: bool) -> set[tuple[str, str | None]]:
    """The imports that run when the module is imported (not inside a function, not under ``if TYPE_CHECKING``), as
    ``(module, name)`` pairs: ``import a.b`` is ``("a.b", None)``, ``from a import f`` is ``("a", "f")``."""
    out: set[tuple[str, str | None]] = set()

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, ast.Import):
                out.update((a.name, None) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                out.update((mod, a.name) for a in node.names)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, (ast.With, ast.For, ast.While)):
                visit(node.body)
            elif isinstance(node, ast.ClassDef):
                visit([s for s in node.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))])

    visit(tree.body)
    return out


def import_graph() -> dict[str, set[str]]:
    """matcalc module → the matcalc modules its import runs (directly).

    ``import a.b.c`` runs the packages ``a`` and ``a.b`` first. A module's own ancestor packages are already running
    when it is imported, so an edge to one of them counts only when a *name* is taken from it (``from a import f``
    where ``f`` is not a submodule): that name may not exist yet.
    """
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        parts = name.split(".")
        ancestors = {".".join(parts[:k]) for k in range(1, len(parts))}
        edges: set[str] = set()
        for mod, attr in _top_level_imports(tree, name, is_package):
            if attr is not None and f"{mod}.{attr}" in files:
                target, needs_names = f"{mod}.{attr}", False  # `from a import submodule`
            else:
                target, needs_names = mod, attr is not None
            if target not in files:
                continue
            tparts = target.split(".")
            for k in range(1, len(tparts)):
                prefix = ".".join(tparts[:k])
                if prefix not in ancestors:
                    edges.add(prefix)
            if target not in ancestors or needs_names:
                edges.add(target)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_circle_among_matcalc_modules() -> None:
    graph = import_graph()
    assert "matcalc.results" in graph and "matcalc.render.text" in graph
    assert cycles(graph) == [], cycles(graph)


#: The designed hooks back: a record's (or an expression's) rendering methods call a renderer (the printer) lazily.
HOOKS = {"__str__", "__repr__", "__rich__", "_repr_latex_", "_repr_mimebundle_", "as_text"}
#: The modules of the results / verdict / rendering layer.
RESULTS_LAYER = ("matcalc.results", "matcalc.marking", "matcalc.api", "matcalc.verify.judge", "matcalc.verify.guard",
                 "matcalc.verify.diagnose", "matcalc.render")


def _every_import_but_hooks(tree: ast.Module, here: str, is_package: bool) -> set[tuple[str, str | None]]:
    """Every absolute import, also inside functions, except inside the rendering hooks of :data:`HOOKS`."""
    out: set[tuple[str, str | None]] = set()

    def walk(node: ast.AST) -> None:
        for ch in ast.iter_child_nodes(node):
            if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef)) and ch.name in HOOKS:
                continue
            if isinstance(ch, ast.Import):
                out.update((a.name, None) for a in ch.names)
            elif isinstance(ch, ast.ImportFrom) and ch.module and not ch.level:
                out.update((ch.module, a.name) for a in ch.names)
            walk(ch)

    walk(tree)
    return out


def test_results_layer_reaches_back_only_through_the_rendering_hooks(monkeypatch) -> None:
    """Counting the imports inside functions too, the results, marking, verify and render modules take part in no
    circle; only a record's ``__str__``/``as_text``/``__rich__``/``_repr_latex_``/``_repr_mimebundle_`` calls a
    renderer."""
    import sys

    monkeypatch.setattr(sys.modules[__name__], "_top_level_imports", _every_import_but_hooks)
    bad = [c for c in cycles(import_graph()) if any(m.startswith(RESULTS_LAYER) for m in c)]
    assert bad == [], bad


def test_renderers_dispatch_on_the_result_records() -> None:
    """The renderers import the records at module level; the records import no renderer (only their rendering
    methods do, lazily) and nothing that judges or derives."""
    graph = import_graph()
    for r in ("matcalc.render.text", "matcalc.render.latex", "matcalc.render.markdown"):
        assert "matcalc.results" in graph[r], r
        assert "matcalc.api" not in graph[r], r
    assert not {m for m in graph["matcalc.results"] if m.startswith(("matcalc.render", "matcalc.verify",
                                                                      "matcalc.engine", "matcalc.api"))}


def test_markdown_and_gradescope_import_public_names_only() -> None:
    for name in ("markdown.py", "gradescope.py"):
        tree = ast.parse((PKG / "render" / name).read_text(encoding="utf-8"))
        private = [f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   for a in n.names if a.name.startswith("_") and a.name != "__version__"]
        assert not private, (name, private)


def test_verify_package_init_imports_nothing() -> None:
    """Importing matcalc.verify.exact or .numeric runs matcalc/verify/__init__.py: it must not pull in the engine."""
    tree = ast.parse((PKG / "verify" / "__init__.py").read_text(encoding="utf-8"))
    found = _top_level_imports(tree, "matcalc.verify", True) - {("__future__", "annotations")}
    assert not found, found


def test_the_scan_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# ───────────── every import, inside functions too: only the two designed hooks reach back ─────────────

#: The designed hooks (DESIGN.md): an expression's ``__str__`` calls the printer; a result's rendering methods call
#: the renderers. Every other import, wherever it stands in a file, goes one way only.
DESIGNED_HOOKS = (("matcalc.ir", "matcalc.printing"), ("matcalc.results", "matcalc.render"))


def _all_imports(path: Path, here: str, is_package: bool, modules: set[str]) -> set[str]:
    package = here if is_package else here.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
            out |= subs
            if len(subs) < len(node.names) and base in modules:
                out.add(base)
    out.discard(here)
    out.discard("matcalc")  # the package's API functions import lazily from api; nothing imports them back
    return out


def test_no_circle_even_through_imports_inside_functions() -> None:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    modules = set(files)
    graph = {m: _all_imports(p, m, p.name == "__init__.py", modules) for m, p in files.items()}
    for src, dst in DESIGNED_HOOKS:
        graph[src] = {d for d in graph[src] if not (d == dst or d.startswith(dst + "."))}
    assert cycles(graph) == [], cycles(graph)

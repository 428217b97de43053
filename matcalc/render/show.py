"""The renderings of ``matcalc show``: how matcalc read an expression.

Contract: :func:`show_tree` returns one rich renderable — the fully bracketed reading, the expression's shape, a tree
of every subexpression with its operation, shape and text (``⊙  n×1  Wᵀ δ ⊙ σ'(z)``), and the declarations that were
inferred. :func:`show_json` returns the same content as a JSON-ready ``dict`` (``text``, ``bracketed``, ``latex``,
``shape``, ``tree`` of ``{op, text, shape, children}`` nodes, ``declarations``, ``inferred``). :func:`show_latex`
returns a complete small LaTeX document (article class; amsmath, amssymb and bm only) printed from the IR, never from
the user's text. Shapes print with :func:`matcalc.shapes.fmt_shape`. A ``let`` name's definition is expanded under its
first occurrence only (in a document: on the first line that shows it), and trees are cut at :data:`MAX_NODES` nodes, so the output stays small for any input.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from matcalc import ir
from matcalc.document import Env
from matcalc.ir import Expr
from matcalc.printing import latex_name, to_bracketed, to_latex, to_text
from matcalc.shapes import dim_symbols, fmt_shape, is_scalar

__all__ = ["show_tree", "show_json", "show_latex", "op_label", "op_name", "MAX_NODES"]

#: The most nodes a tree shows; the rest is summarised as one "…" node.
MAX_NODES = 400

_OP_NAMES: dict[type, str] = {
    ir.Var: "var", ir.Num: "num", ir.Size: "size", ir.Identity: "identity", ir.Zeros: "zeros", ir.Ones: "ones", ir.Add: "add",
    ir.Neg: "neg", ir.MatMul: "matmul", ir.Scale: "scale", ir.Div: "div", ir.Hadamard: "hadamard",
    ir.HadDiv: "entrywise-div", ir.Kron: "kron", ir.Transpose: "transpose", ir.Inverse: "inverse",
    ir.Power: "power", ir.EPower: "entrywise-power", ir.Broadcast: "expand", ir.Apply: "apply",
    ir.CallVec: "call", ir.MaxMin: "maxmin", ir.Sum: "sum", ir.Trace: "tr", ir.Det: "det", ir.LogDet: "logdet",
    ir.Diag: "diag", ir.Vec: "vec", ir.Norm: "norm", ir.Softmax: "softmax", ir.LogSumExp: "logsumexp",
    ir.Derivative: "derivative", ir.Named: "let", ir.Entry: "entry", ir.IndexSum: "index-sum", ir.Delta: "delta",
}

_OP_SYMBOLS: dict[type, str] = {
    ir.Add: "+", ir.Neg: "−", ir.MatMul: "product", ir.Scale: "scale", ir.Div: "/", ir.Hadamard: "⊙",
    ir.HadDiv: "⊘", ir.Kron: "⊗", ir.Transpose: "ᵀ", ir.Inverse: "⁻¹", ir.Broadcast: "expand", ir.Sum: "sum",
    ir.Trace: "tr", ir.Det: "det", ir.LogDet: "logdet", ir.Diag: "diag", ir.Vec: "vec", ir.Norm: "‖·‖",
    ir.Softmax: "softmax", ir.LogSumExp: "logsumexp", ir.Identity: "I", ir.Zeros: "0", ir.Ones: "1",
}


def op_name(e: Expr) -> str:
    """A stable machine name of ``e``'s operation (``"hadamard"``, ``"matmul"``, ``"var"``)."""
    if isinstance(e, ir.MaxMin):
        return e.op
    if isinstance(e, ir.Derivative):
        return {"d": "derivative", "grad": "grad", "jacobian": "jacobian"}[e.kind]
    return _OP_NAMES[type(e)]


def op_label(e: Expr) -> str:
    """A short human label of ``e``'s operation for the tree (``⊙``, ``d/dW``, ``σ'``, ``W``)."""
    if isinstance(e, (ir.Var, ir.Num, ir.Size, ir.Delta, ir.Commutation)):
        return to_text(e)
    if isinstance(e, ir.Named):
        return f"let {e.name}"
    if isinstance(e, ir.Apply):
        fn = "σ" if e.fn == "sigma" and not e.declared else e.fn
        return fn + "'" * e.order
    if isinstance(e, ir.CallVec):
        return e.fn + "'" * e.order
    if isinstance(e, ir.MaxMin):
        return e.op
    if isinstance(e, ir.Power):
        return "^" + _exp(e.exp)
    if isinstance(e, ir.EPower):
        return ".^" + _exp(e.exp)
    if isinstance(e, ir.Entry):
        return "entry [" + ", ".join(_idx(i) for i in e.idx) + "]"
    if isinstance(e, ir.IndexSum):
        return f"Σ_{e.index.name}  ({e.index.name} = 1..{e.index.dim})"
    if isinstance(e, ir.Derivative):
        w = to_text(e.wrt)
        if e.kind == "d":
            return f"d/d{w}  ({e.layout} layout)"
        return f"{e.kind} by {w}"
    return _OP_SYMBOLS[type(e)]


def _exp(k: Any) -> str:
    from matcalc.printing import fmt_number

    s = fmt_number(k)
    return f"({s})" if "/" in s else s


def _idx(i: object) -> str:
    return i.name if isinstance(i, ir.Index) else str(i)


def _kids(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, ir.Derivative):
        return (e.expr,)  # the variable is in the label
    return ir.children(e)


class _Budget:
    def __init__(self, seen_lets: set[str] | None = None) -> None:
        self.left = MAX_NODES
        self.seen_lets: set[str] = set() if seen_lets is None else seen_lets


# ───────────────────────────── rich tree ─────────────────────────────


def _label(e: Expr, *, again: bool = False) -> Text:
    t = Text()
    t.append(op_label(e), style="bold")
    t.append("  ")
    t.append(fmt_shape(e.shape), style="cyan")
    if isinstance(e, ir.Named):
        t.append("   ")
        t.append("(defined above)" if again else f"{e.name} = {to_text(e.value)}", style="dim")
    elif not isinstance(e, (ir.Var, ir.Num, ir.Identity, ir.Zeros, ir.Ones, ir.Delta)):
        t.append("   ")
        t.append(_text(e), style="dim")
    return t


def _text(e: Expr) -> str:
    """The text of a node; an expanded scalar shows as the scalar (its shape says how far it is expanded)."""
    return to_text(e.arg) if isinstance(e, ir.Broadcast) else to_text(e)


def _grow(tree: Tree, e: Expr, budget: _Budget) -> None:
    for k in _kids(e):
        if budget.left <= 0:
            tree.add(Text("…", style="dim"))
            return
        budget.left -= 1
        again = isinstance(k, ir.Named) and k.name in budget.seen_lets
        sub = tree.add(_label(k, again=again))
        if again:
            continue
        if isinstance(k, ir.Named):
            budget.seen_lets.add(k.name)
        _grow(sub, k, budget)


def show_tree(e: Expr, env: Env | None = None, seen_lets: set[str] | None = None):
    """How matcalc read ``e``, as one rich renderable.

    Args:
        e: the expression read.
        env: the names in force (declared, defined and inferred); optional.
        seen_lets: the ``let`` names shown already (a document's earlier lines): their definitions are not expanded
            again, and the names expanded here are added.

    Returns:
        A rich ``Group``: the bracketed reading, the shape, the tree of every subexpression with its shape, and the
        inferred declarations.
    """
    head = Text()
    head.append("reading  ", style="bold")
    head.append(to_bracketed(e))
    shape = Text()
    shape.append("shape    ", style="bold")
    shape.append(fmt_shape(e.shape), style="cyan")
    budget = _Budget(seen_lets)
    if isinstance(e, ir.Named):
        budget.seen_lets.add(e.name)
    tree = Tree(_label(e), guide_style="dim")
    _grow(tree, e, budget)
    parts: list[Any] = [head, shape, tree]
    decls = _declarations(env)
    if decls:
        t = Text()
        t.append("given    ", style="bold")
        t.append("   ".join(decls))
        parts.append(t)
    if env is not None and env.inferred:
        t = Text()
        t.append("inferred ", style="bold")
        t.append("   ".join(env.inferred), style="yellow")
        parts.append(t)
    return Group(*parts)


# ───────────────────────────── JSON ─────────────────────────────


def _node(e: Expr, budget: _Budget) -> dict[str, Any]:
    node: dict[str, Any] = {"op": op_name(e), "label": op_label(e), "text": _text(e), "shape": fmt_shape(e.shape)}
    if isinstance(e, ir.Derivative):
        node["wrt"] = to_text(e.wrt)
        node["layout"] = e.layout
    kids: list[dict[str, Any]] = []
    expand = True
    if isinstance(e, ir.Named):
        expand = e.name not in budget.seen_lets
        budget.seen_lets.add(e.name)
    if expand:
        for k in _kids(e):
            if budget.left <= 0:
                node["truncated"] = True
                break
            budget.left -= 1
            kids.append(_node(k, budget))
    node["children"] = kids
    return node


def _declarations(env: Env | None) -> list[str]:
    if env is None:
        return []
    inferred = {item.split(":", 1)[0].strip() for item in env.inferred}
    out = [f"{name}: {_type_text(v)}" for name, v in env.vars.items() if name not in inferred]
    for name, f in env.funcs.items():
        out.append(f"{name}: R -> R" if f.kind == "entrywise" else f"{name}: R^{f.dim} -> R")
    return out


def _type_text(v: ir.Var) -> str:
    r, c = v.dims
    s = "scalar" if is_scalar(v.dims) else (f"{r}" if c == 1 else f"{r} x {c}")
    if v.props:
        s += " " + " ".join(sorted(v.props))
    return s


def show_json(e: Expr, env: Env | None = None, seen_lets: set[str] | None = None) -> dict[str, Any]:
    """How matcalc read ``e``, as a JSON-ready dict.

    Args:
        e: the expression read.
        env: the names in force; optional.
        seen_lets: as for :func:`show_tree`.

    Returns:
        ``{"text", "bracketed", "latex", "shape", "tree", "declarations", "inferred"}`` (``declarations``: the
        names declared, ``inferred``: those whose kind and size were inferred); ``tree`` nodes are
        ``{"op", "label", "text", "shape", "children"}`` (derivatives add ``wrt`` and ``layout``).
    """
    budget = _Budget(seen_lets)
    return {
        "text": to_text(e),
        "bracketed": to_bracketed(e),
        "latex": to_latex(e),
        "shape": fmt_shape(e.shape),
        "tree": _node(e, budget),
        "declarations": _declarations(env),
        "inferred": list(env.inferred) if env is not None else [],
    }


# ───────────────────────────── LaTeX ─────────────────────────────


def _latex_dim(d: Any) -> str:
    if isinstance(d, int):
        return str(d)
    coef = [p for p in str(d).split("*") if p.isdigit()]
    return " \\cdot ".join([*coef, *(latex_name(s) for s in dim_symbols(d))])


def _latex_shape(shape: tuple) -> str:
    if is_scalar(shape):
        return "\\text{scalar}"
    return _latex_dim(shape[0]) + " \\times " + _latex_dim(shape[1])


def _parts(e: Expr, limit: int = 40) -> list[Expr]:
    """The subexpressions of ``e`` that are not names or numbers, outermost first, each once (at most ``limit``)."""
    out: list[Expr] = []
    seen: set = set()
    stack = [e]
    while stack and len(out) < limit:
        x = stack.pop()
        if x in seen or isinstance(x, (ir.Var, ir.Num)):
            continue
        seen.add(x)
        out.append(x)
        stack.extend(reversed(_kids(x)))
    return out


def show_markdown(e: Expr, env: Env | None = None) -> str:
    """How matcalc read ``e`` in Markdown: the bracketed reading, each subexpression with its shape, the names."""
    from matcalc.render.markdown import md_escape

    lines = [f"**reading:** `{to_bracketed(e)}`", "", "$$", to_latex(e), "$$", "", "| subexpression | shape |",
             "| --- | --- |"]
    lines += [f"| `{to_text(x)}` | {md_escape(fmt_shape(x.shape))} |" for x in _parts(e)]
    decl, inferred = _declarations(env), list(env.inferred) if env is not None else []
    if decl:
        lines += ["", "**given** " + md_escape(", ".join(decl))]
    if inferred:
        lines += ["", "**inferred** " + md_escape(", ".join(inferred))]
    return "\n".join(lines) + "\n"


def show_latex(e: Expr, env: Env | None = None) -> str:
    """A complete LaTeX document showing how ``e`` was read: the bracketed reading, each subexpression with its
    shape, the names declared and inferred (article class; amsmath, amssymb, bm only).

    Args:
        e: the expression read.
        env: the names in force; optional.

    Returns:
        The document text; everything in it is printed from the IR.
    """
    from matcalc.render.tex import escape_text

    rows = [f"  {to_latex(x)} & {_latex_shape(x.shape)} \\\\" for x in _parts(e)]
    decl, inferred = _declarations(env), list(env.inferred) if env is not None else []
    names = []
    if decl:
        names.append("\\noindent Given: \\texttt{" + escape_text(", ".join(decl)) + "}.\\par")
    if inferred:
        names.append("\\noindent Inferred: \\texttt{" + escape_text(", ".join(inferred)) + "}.\\par")
    return "\n".join([
        "\\documentclass{article}",
        "\\usepackage{amsmath}",
        "\\usepackage{amssymb}",
        "\\usepackage{bm}",
        "\\begin{document}",
        "\\noindent How matcalc read the expression:",
        "\\[",
        "  " + to_latex(e),
        "\\]",
        "of shape $" + _latex_shape(e.shape) + "$, fully bracketed \\texttt{" + escape_text(to_bracketed(e)) + "}.",
        "\\[",
        "\\begin{array}{ll}",
        "  \\text{subexpression} & \\text{shape} \\\\ \\hline",
        *rows,
        "\\end{array}",
        "\\]",
        *names,
        "\\end{document}",
        "",
    ])

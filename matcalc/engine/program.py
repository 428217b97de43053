"""Derivatives of a document as a program: backpropagation written the way the lecture writes it.

Contract (stable; other modules build on it): :func:`backprop` takes a scalar ``cost`` (IR whose ``Named`` nodes are
the document's ``let`` names), the requested variables ``wrts`` (``ir.Var``), and returns a :class:`Program`:

* ``forward``: :class:`Line` s in topological order — the ``let`` names the cost depends on (``kind == "let"``,
  their definitions rewritten with the new names) and NEW names for the argument of a nonlinear operation (an
  entrywise function, ``.^``, softmax, logsumexp, a declared ``C: R^n -> R``) that depends on a requested variable
  and is not already a name (``kind == "new"``): ``let a1 = sigma(W1 a0 + b1)`` gives ``z1 = W1 a0 + b1`` and
  ``a1 = σ(z1)``; in the cost, the terms that depend on the variables (a subtracted target stays in the cost):
  ``sum((W2 a1 + b2 - y).^2)`` gives ``z2 = W2 a1 + b2`` and the cost ``sum((z2 - y).^2)``. New names are
  ``z`` + the digits of the let's name (``z_s`` for a name without digits; the cost's is one past the largest
  let number) and avoid ``reserved``.
* ``cost``: the cost written with the program's names.
* ``backward``: the named adjoints (``kind == "delta"``, ``of`` the forward name whose adjoint it is, ``note`` the
  rule: ``BP1`` for an error computed from the cost alone, ``BP2`` for one computed from one later error,
  otherwise a sentence naming the sum over the name's consumers), in the order they are computed (from the cost
  back). The adjoint of a name is the sum over its consumers of the vector–Jacobian product of the consumer's
  definition applied to the consumer's adjoint, each computed by the rule engine on the small expression
  ``sum(D ⊙ definition)`` (the other names held as placeholder variables). An adjoint used more than once, or
  one that feeds a requested gradient (a layer's error), or the adjoint of a name inside the argument of a nonlinear
  operation (a z of σ(z): so a chain of layers is one δ per layer whichever variables are asked for), is named: ``δ`` + the digits of the name when no two named
  adjoints share digits (an MLP's δ1, δ2, …), else ``δ_`` + the name for all (a residual network's δ_h2, δ_z2); a
  document ``let`` defined as ``grad(cost, z)`` names the adjoint of z. Any other is written where it is used, so
  ``δ_a1 = W2ᵀ δ2`` disappears into ``δ1 = (W2ᵀ δ2) ⊙ σ'(z1)`` (BP2); the note names the errors so written when
  they are a new name's or a sum (``BP1; the errors of z2, z3 written in place``).
* ``gradients``: one :class:`Gradient` per requested variable, in the order asked, each a sum of vector–Jacobian
  products written with the named adjoints (``δ1 a0ᵀ``); ``note`` is ``BP3``/``BP4`` when it has that form.
* :meth:`Program.local_claims`: for each named adjoint and each gradient, the small claim that its definition is
  the derivative of the forward steps it stands for — ``grad(Φ, v) = definition`` over placeholder variables, with
  the later named adjoints as placeholders. The claims are O(1) in size each and together prove the program by the
  chain rule; a checker verifies them with any method it trusts. :meth:`Program.distinct_claims` groups them up to
  renaming of their variables (an MLP's layers are one claim), :meth:`Program.faithful` compares the forward
  program, names replaced by their definitions, with the cost node for node, and :meth:`Program.directional_claim`
  states all gradients at once against the cost itself: ``d/dt C(θ + t V) = Σᵢ sum(Gᵢ(θ + t V) ⊙ Vᵢ)``.
* :func:`lets_on_path` counts the lets between the variables and the cost (when the program form is worth it);
  :func:`tree_size` is the size of expressions written out (every let's definition at each use).

Every reference is an ``ir.Named(name, value)`` node (forward names, adjoints), so printing shows the names and an
evaluator sees the values; the nodes are shared, never expanded into trees. Cost: linear in the number of lets
(each definition is differentiated once, and a definition equal to an earlier one up to renaming reuses its
derivatives); every walk is iterative or bounded by the size of one definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import Expr, Named, Var, children, rebuild

__all__ = ["Line", "Gradient", "LocalClaim", "Program", "backprop", "lets_on_path", "tree_size", "NONLINEAR", "direct_uses"]

#: The operations whose argument gets a name of its own (the lecture's z).
NONLINEAR = (ir.Apply, ir.EPower, ir.Softmax, ir.LogSumExp, ir.CallVec)


@dataclass(frozen=True)
class Line:
    """One definition of the program: ``node`` is ``Named(name, value)``, the reference other lines use."""

    node: Named
    kind: str  # "let" (the document's), "new" (introduced here), "delta" (a named adjoint)
    note: str = ""
    of: str | None = None  # for a delta: the forward name whose adjoint it is

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def value(self) -> Expr:
        return self.node.value


@dataclass(frozen=True)
class Gradient:
    """``∂cost/∂wrt`` (shaped like ``wrt``) written with the program's names."""

    wrt: Var
    result: Expr
    note: str = ""


@dataclass(frozen=True)
class LocalClaim:
    """``lhs = rhs``: a ``grad`` of a small scalar by a placeholder (or a variable) equals one definition."""

    what: str  # the name of the line or the gradient it justifies
    lhs: Expr
    rhs: Expr


@dataclass
class Program:
    cost: Expr
    original: Expr
    forward: list[Line]
    backward: list[Line]
    gradients: list[Gradient]
    _claims: list[LocalClaim] = field(default_factory=list, repr=False)

    def local_claims(self) -> list[LocalClaim]:
        return list(self._claims)

    def distinct_claims(self) -> list[tuple[LocalClaim, list[str]]]:
        """The local claims up to renaming of their variables (layers alike are one claim), each with the lines
        it stands for: checking these checks every local claim."""
        groups: dict[str, tuple[LocalClaim, list[str]]] = {}
        for c in self._claims:
            vs = _vars(c.lhs)
            vs += [v for v in _vars(c.rhs) if v not in vs]
            canon = {(v.name, v.dims): Var(f"v{i}", v.dims, v.props) for i, v in enumerate(vs)}
            key = repr((_substitute(c.lhs, {}, canon), _substitute(c.rhs, {}, canon)))
            groups.setdefault(key, (c, []))[1].append(c.what)
        return list(groups.values())

    def faithful(self) -> bool:
        """Whether the forward program, every name replaced by its definition, is the cost as given — node for node
        (shared nodes compared once: linear in the program)."""
        from matcalc.engine.compose import intern

        table: dict = {}
        memo: dict = {}
        new = {ln.name for ln in self.forward if ln.kind == "new"}
        return intern(_unnamed(self.cost, memo, new), table) is intern(_unnamed(self.original, memo, new), table)

    def directional_claim(self, reserved) -> tuple[Expr, Expr, int]:
        """The gradients together, against the cost itself: ``d/dt C(θ + t V) = Σᵢ sum(Gᵢ(θ + t V) ⊙ Vᵢ)`` with
        fresh variables t (a scalar) and Vᵢ shaped like each parameter θᵢ — true for every t exactly when the
        gradients are (the chain rule), and one derivative by one scalar however many parameters. Returns (lhs, rhs,
        the number of parameters)."""
        names = _Names(set(reserved) | {ln.name for ln in self.lines()})
        t = Var(names.take(["t"]), (1, 1))
        wrts = list({(g.wrt.name, g.wrt.dims): g.wrt for g in self.gradients}.values())
        vs = {(w.name, w.dims): Var(names.take([f"V_{w.name}"]), w.dims) for w in wrts}
        shift = {k: ir.Add((w, ir.Scale(t, vs[k]))) for k, w in zip(vs, wrts)}
        memo: dict = {}
        lhs = ir.Derivative(_shifted(self.original, shift, memo), t, "d")
        seen, terms = set(), []
        for g in self.gradients:
            key = (g.wrt.name, g.wrt.dims)
            if key not in seen:
                seen.add(key)
                terms.append(ir.Sum(ir.Hadamard(_shifted(g.result, shift, memo), vs[key])))
        rhs = terms[0] if len(terms) == 1 else ir.Add(tuple(terms))
        return lhs, rhs, len(terms)

    @property
    def cost_name(self) -> str | None:
        """The let name the cost is, when the document's last line is one (``C`` after ``let C = …``)."""
        return self.cost.name if isinstance(self.cost, Named) else None

    def lines(self) -> list[Line]:
        return [*self.forward, *self.backward]


# ───────────────────────────── small walks (one definition at a time) ─────────────────────────────


def _nonlinear_arguments(values: list) -> set[str]:
    """The names that stand inside the argument of a nonlinear operation in one of ``values`` (the z's of σ(z) and
    of the cost's (z − y).^2): their adjoints are the layers' errors, named even when used once, so a chain of layers
    reads as one δ per layer (BP2), never as one nested expression."""
    out: set[str] = set()
    for value in values:
        seen, stack = set(), [(value, False)]
        while stack:
            x, inside = stack.pop()
            if (id(x), inside) in seen:
                continue
            seen.add((id(x), inside))
            if isinstance(x, Named):
                if inside:
                    out.add(x.name)
                continue
            now = inside or isinstance(x, NONLINEAR)
            stack.extend((k, now) for k in children(x))
    return out


def direct_uses(value: Expr) -> list[Expr]:
    """The Named nodes and variables ``value`` uses directly — reached without entering a Named node — each node
    object once, in order of first appearance (iterative, linear in the distinct nodes)."""
    out, seen, stack = [], set(), [value]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, (Named, Var)):
            out.append(x)
            continue
        stack.extend(reversed(children(x)))
    return out


def _refs(value: Expr) -> list[Named]:
    """The Named nodes reachable from ``value`` without entering a Named node, in order of first appearance."""
    return [x for x in direct_uses(value) if isinstance(x, Named)]


def _vars(value: Expr) -> list[Var]:
    """The variables of ``value`` outside Named nodes, in order of first appearance (each once)."""
    return list(dict.fromkeys(x for x in direct_uses(value) if isinstance(x, Var)))


def _substitute(e: Expr, named: dict, var: dict, memo: dict | None = None) -> Expr:
    """``e`` with Named nodes replaced by ``named[name]`` and variables by ``var[(name, dims)]`` (where given);
    Named nodes not in ``named`` are kept as they are (not entered)."""
    memo = {} if memo is None else memo

    def go(x: Expr) -> Expr:
        got = memo.get(id(x))
        if got is not None:
            return got[1]
        if isinstance(x, Named):
            out = named.get(x.name, x)
        elif isinstance(x, Var):
            out = var.get((x.name, x.dims), x)
        else:
            kids = children(x)
            nk = [go(k) for k in kids]
            out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        memo[id(x)] = (x, out)
        return out

    return go(e)


def _replace_value(e: Expr, value: Expr, name: Var) -> Expr:
    """The small expression ``e`` with each subexpression equal to ``value`` (a definition, placeholders for its
    names) written as ``name``; a definition that is only a variable or a linear map is left alone."""
    if isinstance(value, (Var, ir.Add, ir.MatMul, ir.Neg, ir.Scale, ir.Div, ir.Transpose)):
        return e
    from matcalc.engine.textbook import use_names

    return use_names(e, {value: name})


def _shifted(e: Expr, var: dict, memo: dict) -> Expr:
    """``e`` with the variables in ``var`` replaced, entering Named nodes (each rebuilt once: linear in the DAG;
    iterative, so a deep program needs no deep recursion)."""
    for x, kids in ir.post_order(e, memo):
        if isinstance(x, Var):
            memo[id(x)] = (x, var.get((x.name, x.dims), x))
            continue
        nk = [memo[id(k)][1] for k in kids]
        memo[id(x)] = (x, x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk))
    return memo[id(e)][1]


def _unnamed(e: Expr, memo: dict, new: set) -> Expr:
    """``e`` with every Named node replaced by its definition, and a sum that a ``new`` name split off the cost put
    back into the sum around it (iterative, each distinct node once; only the new names' sums are flattened, so a
    chain ``a_k = a_{k-1} + a_{k-1}`` is not written out)."""
    for x, kids in ir.post_order(e, memo):
        nk = [memo[id(k)][1] for k in kids]
        if isinstance(x, Named):
            out = nk[0]
        elif isinstance(x, ir.Add):  # the cost's split, z2 = W2 a1 + b2 in (z2 - y): back into one sum
            out = ir.Add(tuple(t for k0, k in zip(kids, nk)
                               for t in (k.args if isinstance(k, ir.Add) and isinstance(k0, Named) and k0.name in new
                                         else (k,))))
            out = x if all(a is b for a, b in zip(out.args, x.args)) and len(out.args) == len(x.args) else out
        else:
            out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        memo[id(x)] = (x, out)
    return memo[id(e)][1]


def tree_size(*es: Expr) -> int:
    """The number of nodes of ``es`` written out as trees, every let name's definition at each use (linear time:
    each distinct node is counted once, with its written-out size memoised)."""
    size: dict[int, int] = {}
    for e in es:
        for x, kids in ir.post_order(e, size):
            size[id(x)] = 1 + sum(size[id(k)] for k in kids)
    return sum(size[id(e)] for e in es)


def _digits(name: str) -> str | None:
    m = re.search(r"(\d+)$", name)
    return m.group(1) if m else None


class _Names:
    """Fresh names: each avoids the reserved names and every name given before."""

    def __init__(self, reserved) -> None:
        self.taken = set(reserved)

    def take(self, candidates: list[str]) -> str:
        for c in candidates:
            if c not in self.taken:
                self.taken.add(c)
                return c
        base, k = candidates[-1], 2
        while f"{base}_{k}" in self.taken:
            k += 1
        self.taken.add(f"{base}_{k}")
        return f"{base}_{k}"


# ───────────────────────────── the forward program ─────────────────────────────


def _topo_lets(cost: Expr) -> list[Named]:
    """One Named node per let name the cost depends on, definitions before their users (iterative DFS)."""
    order: list[Named] = []
    done: set[str] = set()
    first: dict[str, Named] = {}
    stack: list[tuple[Named | None, bool]] = [(None, False)]
    refs_of: dict[str, list[Named]] = {}
    while stack:
        node, expanded = stack.pop()
        key = None if node is None else node.name
        if expanded:
            if key is not None and key not in done:
                done.add(key)
                order.append(first[key])
            continue
        if key is not None:
            if key in done or key in refs_of:
                continue
            first.setdefault(key, node)
        refs = _refs(cost if node is None else node.value)
        if key is not None:
            refs_of[key] = refs
        stack.append((node, True))
        for r in reversed(refs):
            if r.name not in done and r.name not in refs_of:
                first.setdefault(r.name, r)
                stack.append((r, False))
    return order


def lets_on_path(cost: Expr, wrts: list[Var]) -> int:
    """How many of the ``let`` names the cost depends on depend on one of ``wrts`` (linear in the lets)."""
    keys = {(w.name, w.dims) for w in wrts}
    dependent: set[str] = set()
    for n in _topo_lets(cost):
        if _depends(n.value, keys, dependent):
            dependent.add(n.name)
    return len(dependent)


def _depends(value: Expr, wrt_keys: set, dependent: set) -> bool:
    stack, seen = [value], set()
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, Named):
            if x.name in dependent:
                return True
            continue
        if isinstance(x, Var) and (x.name, x.dims) in wrt_keys:
            return True
        stack.extend(children(x))
    return False


def _to_name(value: Expr, is_cost: bool, dep) -> list[tuple[int, Expr]]:
    """``(id of the nonlinear node, the part of its argument to name)`` in post-order (innermost first)."""
    found: list[tuple[int, Expr]] = []
    seen: set[int] = set()
    stack: list[tuple[Expr, bool]] = [(value, False)]
    while stack:
        x, done = stack.pop()
        if done:
            if isinstance(x, NONLINEAR):
                arg = x.base if isinstance(x, ir.EPower) else x.arg
                if not isinstance(arg, (Named, Var)) and dep(arg):
                    part = arg
                    if is_cost and isinstance(arg, ir.Add):
                        keep = [t for t in arg.args if not (isinstance(t, ir.Neg) and not dep(t))]
                        if len(keep) < len(arg.args):
                            part = keep[0] if len(keep) == 1 else ir.Add(tuple(keep))
                    if not isinstance(part, (Named, Var)):
                        found.append((id(x), part))
            continue
        if id(x) in seen or isinstance(x, Named):
            continue
        seen.add(id(x))
        stack.append((x, True))
        stack.extend((k, False) for k in reversed(children(x)))
    return found


def _forward(cost: Expr, wrt_keys: set, names: _Names):
    """The forward program: (lines, the cost rewritten, dependent names, each name's Named node)."""
    lets = _topo_lets(cost)
    dependent: set[str] = set()
    nodes: dict[str, Named] = {}  # the program's Named node of each forward name
    lines: list[Line] = []
    numbers = []
    root = cost.name if isinstance(cost, Named) else None  # the cost is a let: its definition is the cost's
    for n in lets:
        if _depends(n.value, wrt_keys, dependent):
            dependent.add(n.name)
            d = _digits(n.name)
            if n.name != root:
                numbers.append(int(d) if d is not None else None)

    def rewrite(value: Expr, owner: str | None) -> Expr:
        dep = lambda e: _depends(e, wrt_keys, dependent)  # noqa: E731
        as_cost = owner is None or owner == root
        todo = _to_name(value, as_cost, dep) if dep(value) else []
        if as_cost:
            known = [k for k in numbers if k is not None]
            base = [f"z{max(known) + 1}"] if known and len(known) == len(numbers) else []
            candidates = base + ["z", "z_C"]
        else:
            d = _digits(owner)
            candidates = [f"z{d}"] if d is not None else [f"z_{owner}"]
        new_names = {}
        for nid, part in reversed(todo):  # the outermost gets the plain name
            new_names[nid] = names.take(candidates)
        memo: dict[int, tuple] = {}
        parts = {nid: part for nid, part in todo}

        def go(x: Expr) -> Expr:
            got = memo.get(id(x))
            if got is not None:
                return got[1]
            if isinstance(x, Named):
                out = nodes.get(x.name, x)
            else:
                kids = children(x)
                nk = [go(k) for k in kids]
                out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
                if id(x) in parts:
                    out = _name_part(out, go(parts[id(x)]), new_names[id(x)], lines, nodes, dependent)
            memo[id(x)] = (x, out)
            return out

        return go(value)

    for n in lets:
        value = rewrite(n.value, n.name)
        nodes[n.name] = Named(n.name, value)
        lines.append(Line(nodes[n.name], "let"))
    return lines, rewrite(cost, None), dependent, nodes


def _name_part(x: Expr, part: Expr, name: str, lines: list, nodes: dict, dependent: set) -> Expr:
    """The nonlinear node ``x`` (operands rebuilt) with ``part`` of its argument replaced by a new name."""
    node = Named(name, part)
    nodes[name] = node
    dependent.add(name)
    lines.append(Line(node, "new"))
    arg = x.base if isinstance(x, ir.EPower) else x.arg
    if arg is part:
        new_arg = node
    else:  # the cost's split: the named terms, then the rest of the sum
        named_ids = {id(t) for t in (part.args if isinstance(part, ir.Add) else (part,))}
        rest = [t for t in arg.args if id(t) not in named_ids]
        new_arg = ir.Add((node, *rest))
    return rebuild(x, [new_arg] + list(children(x))[1:])


# ───────────────────────────── the reverse sweep ─────────────────────────────


class _VJP:
    """Vector–Jacobian products of small definitions by the rule engine, memoised up to renaming of variables."""

    def __init__(self, layout: str) -> None:
        self.layout = layout
        self.cache: dict[tuple, list] = {}

    def __call__(self, expr: Expr, by: list[Var]) -> list[tuple[Expr, tuple]]:
        from matcalc.engine.differentiation import differentiate_many

        vs = _vars(expr)
        canon = {(v.name, v.dims): Var(f"v{i}", v.dims, v.props) for i, v in enumerate(vs)}
        back = {(c.name, c.dims): v for v, c in zip(vs, canon.values())}
        cexpr = _substitute(expr, {}, canon)
        cby = [canon[(b.name, b.dims)] for b in by]
        key = (repr(cexpr), tuple(c.name for c in cby))
        got = self.cache.get(key)
        if got is None:
            ds = differentiate_many(cexpr, cby, kind="grad", layout=self.layout, lecture=False)
            got = [(_primes(d.result), _rules(d)) for d in ds]
            self.cache[key] = got
        return [(_substitute(r, {}, back), rules) for r, rules in got]


#: Steps that are no rule of their own, or come from the ``sum(D ⊙ …)`` that turns a VJP into a gradient.
_NOT_RULES = {"chain-rule", "constant", "identity", "simplify", "textbook-form", "layout", "shared-subexpression", "expand-derivatives",
              "sum", "reduce-sum", "hadamard"}


def _rules(d) -> tuple:
    return tuple(dict.fromkeys(s.rule for s in d.steps if s.rule not in _NOT_RULES))


def _primes(e: Expr) -> Expr:
    """``1 − tanh(u).^2`` written as the lecture writes it, ``tanh'(u)`` (one small result, walked once)."""
    memo: dict[int, Expr] = {}

    def go(x: Expr) -> Expr:
        if id(x) in memo:
            return memo[id(x)]
        kids = children(x)
        nk = [go(k) for k in kids]
        out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        match out:
            case ir.Add(args=(ir.Ones(), ir.Neg(arg=ir.EPower(base=ir.Apply(fn="tanh", order=0) as t, exp=2)))):
                out = ir.Apply("tanh", t.arg, 1)
        memo[id(x)] = out
        return out

    return go(e)


def backprop(cost: Expr, wrts: list[Var], *, layout: str = "mixed", reserved: frozenset = frozenset(),
             lets: dict | None = None) -> Program:
    """The program of forward definitions, named adjoints and gradients of the scalar ``cost`` (module docstring).

    ``lets`` (the document's name → value) lets a definition ``delta2 = grad(cost, z2)`` name z2's adjoint.
    """
    if not cost.is_scalar:
        raise MatcalcError("the program form needs a scalar cost")
    if not all(isinstance(w, Var) for w in wrts):
        raise MatcalcError("the program form differentiates by variables only")
    wrt_keys = {(w.name, w.dims) for w in wrts}
    names = _Names(set(reserved) | {w.name for w in wrts})
    forward, prog_cost, dependent, nodes = _forward(cost, wrt_keys, names)
    defs = {n: nodes[n].value for n in dependent}
    root = prog_cost.name if isinstance(prog_cost, Named) else None
    order = [ln.name for ln in forward if ln.name in dependent and ln.name != root]
    vjp = _VJP(layout)
    placeholder = {n: Var(n, nodes[n].shape) for n in nodes}
    unplace = {(n, v.dims): nodes[n] for n, v in placeholder.items()}
    d_name = names.take(["D"])

    # each consumer's inputs: the dependent names and requested variables its definition uses
    def inputs(value: Expr) -> list:
        ins = [placeholder[r.name] for r in _refs(value) if r.name in dependent]
        return ins + [v for v in _vars(value) if (v.name, v.dims) in wrt_keys]

    consumers: dict[tuple, list] = {}  # input key -> [(consumer name or None for the cost, vjp, rules)]
    uses: dict[str, int] = {}
    feeds: set[str] = set()  # the names whose definition uses a requested variable: a layer's error feeds its gradient
    sweep = [None] + list(reversed(order))
    ph_defs: dict = {}
    for c in sweep:
        value = (prog_cost if root is None else prog_cost.value) if c is None else defs[c]
        ph = _substitute(value, placeholder, {})
        ph_defs[c] = ph
        ins = inputs(value)
        if c is not None:
            uses[c] = len(ins)
            if any(isinstance(v, Var) and (v.name, v.dims) in wrt_keys for v in ins):
                feeds.add(c)
        if not ins:
            continue
        if c is None:
            expr = ph
        else:
            expr = ir.Sum(ir.Hadamard(Var(d_name, ph.shape), ph))
        for v, (g, rules) in zip(ins, vjp(expr, ins)):
            if c is not None:  # σ(z1) in a VJP of a1 = σ(z1) is a1: the lecture writes the name
                g = _replace_value(g, ph, placeholder[c])
            g = _substitute(g, {}, unplace)  # the placeholders back to the program's names
            consumers.setdefault((v.name, v.dims), []).append((c, g, rules))

    doc_names = _delta_names_from_lets(lets or {}, cost, nodes)
    layer_inputs = _nonlinear_arguments([prog_cost if root is None else prog_cost.value, *defs.values()])
    named = {c for c in order if uses.get(c, 0) > 1 or c in doc_names or c in feeds or c in layer_inputs}
    for c in reversed(order):  # written in place at most one level deep: an adjoint that would hold another one
        # written in place is named instead (a chain a_k = a_{k-1} + a_{k-1} is one δ per name, not 2 (2 (2 …)))
        if c not in named and any(u is not None and u not in named
                                  for u, _g, _r in consumers.get((c, placeholder[c].dims), [])):
            named.add(c)
    delta_name = _delta_names(named, doc_names, names)
    new = {ln.name for ln in forward if ln.kind == "new"}
    adj: dict[str, Expr] = {}  # the adjoint of each dependent name: a Named node or the expression inlined
    backward: list[Line] = []
    how: dict[str, tuple] = {}
    for c in reversed(order):
        value, note = _adjoint(consumers.get((c, placeholder[c].dims), []), adj, d_name, placeholder[c].dims)
        if c in named:
            node = Named(delta_name[c], value)
            adj[c] = node
            shown = [u for u in _in_place(c, consumers, placeholder, named) if u in new or how[u][0] > 1]
            backward.append(Line(node, "delta", _bp_note(value, note, adj, named, shown), of=c))
        else:
            adj[c] = value
        how[c] = note
    gradients = []
    for w in wrts:
        got = consumers.get((w.name, w.dims))
        if not got:
            gradients.append(Gradient(w, ir.Zeros(w.shape), "the cost does not depend on it"))
            continue
        value, note = _adjoint(got, adj, d_name, w.dims)
        gradients.append(Gradient(w, value, _grad_note(value, w, adj, named, note)))
    program = Program(prog_cost, cost, forward, backward, gradients)
    rank = {c: i for i, c in enumerate(order)}
    program._claims = _local_claims(program, consumers, ph_defs, placeholder, named, delta_name, rank)
    return program


def _fold_scales(e: Expr) -> Expr:
    """Constant factors put together where an adjoint written in place brings its own: ``2 (2 δ5)`` is ``4 δ5``
    (``c (d X)`` → ``(c d) X`` for numbers c, d; the let names' definitions are not entered)."""
    memo: dict[int, Expr] = {}

    def go(x: Expr) -> Expr:
        got = memo.get(id(x))
        if got is not None:
            return got
        kids = children(x) if not isinstance(x, Named) else ()
        nk = [go(k) for k in kids]
        out = x if all(a is b for a, b in zip(nk, kids)) else rebuild(x, nk)
        if (isinstance(out, ir.Scale) and isinstance(out.scalar, ir.Num) and isinstance(out.arg, ir.Scale)
                and isinstance(out.arg.scalar, ir.Num)):
            k = out.scalar.value * out.arg.scalar.value
            out = out.arg.arg if k == 1 else ir.Scale(ir.Num(k), out.arg.arg)
        memo[id(x)] = out
        return out

    return go(e)


def _in_place(key_name: str, consumers: dict, placeholder: dict, named: set) -> list[str]:
    """The names whose adjoint is written inline between ``key_name`` and the named adjoints (or the cost)."""
    out: list[str] = []
    stack = [key_name]
    while stack:
        n = stack.pop()
        for c, _g, _r in consumers.get((n, placeholder[n].dims), []):
            if c is not None and c not in named and c not in out:
                out.append(c)
                stack.append(c)
    return out


def _adjoint(contribs: list, adj: dict, d_name: str, dims) -> tuple[Expr, tuple]:
    """The sum of the consumers' vector–Jacobian products with each consumer's adjoint put in for D."""
    terms, rules = [], []
    for c, g, rs in contribs:  # from the cost back: a residual's δ_h2 = δ_h3 + W3ᵀ δ_z3
        if c is not None:
            g = _fold_scales(_substitute(g, {}, {(d_name, adj[c].shape): adj[c]}))
        terms.append(g)
        rules.extend(rs)
    value = terms[0] if len(terms) == 1 else ir.Add(tuple(terms))
    return value, (len(terms), tuple(dict.fromkeys(rules)))


def _delta_names_from_lets(lets: dict, cost: Expr, nodes: dict) -> dict[str, str]:
    """``{z: "delta2"}`` for each document let ``delta2 = grad(cost, z)`` (or ``d/dz cost``) with z a let name."""
    from matcalc.engine.compose import intern

    out: dict[str, str] = {}
    table: dict = {}
    mine = None
    for name, value in lets.items():
        if isinstance(value, ir.Derivative) and isinstance(value.wrt, Named) and value.kind in ("grad", "d") \
                and value.wrt.name in nodes:
            if mine is None:
                mine = intern(cost, table)
            if intern(value.expr, table) is mine:
                out.setdefault(value.wrt.name, name)
    return out


def _delta_names(named: set, doc_names: dict, names: _Names) -> dict[str, str]:
    """``δ`` + the digits of each name when no two named adjoints share them (an MLP's δ1, δ2, …), else ``δ_`` +
    the name for all (a residual network's δ_h2 beside δ_z2); a document's own name first."""
    digits = [_digits(c) for c in named if c not in doc_names]
    plain = all(d is not None for d in digits) and len(set(digits)) == len(digits)
    out = {}
    for c in sorted(named):
        if c in doc_names:
            out[c] = doc_names[c]
            names.taken.add(doc_names[c])
            continue
        out[c] = names.take(([f"δ{_digits(c)}"] if plain else []) + [f"δ_{c}"])
    return out


def _mentions(value: Expr, adj: dict, named: set) -> list[str]:
    """The named adjoints ``value`` refers to."""
    ids = {id(adj[c]): c for c in named if c in adj}
    out, seen, stack = [], set(), [value]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if id(x) in ids:
            out.append(ids[id(x)])
            continue
        if isinstance(x, Named):
            continue
        stack.extend(children(x))
    return out


def _bp_note(value: Expr, note: tuple, adj: dict, named: set, in_place: list[str]) -> str:
    """BP1 (from the cost), BP2 (from one later error) or a sum over consumers; the errors written in place on the
    way (a new name's, or one that is itself a sum) are named, so the note never hides a step."""
    count, _rules = note
    later = _mentions(value, adj, named)
    shown = f"; the errors of {', '.join(in_place)} written in place" if in_place else ""
    if count > 1:
        return "the sum over its consumers (multivariate chain rule)" + shown
    return ("BP2" if later else "BP1") + shown


def _grad_note(value: Expr, w: Var, adj: dict, named: set, note: tuple) -> str:
    ids = {id(adj[c]) for c in named if c in adj}
    if id(value) in ids and w.shape[1] == 1:
        return "BP3"
    if isinstance(value, ir.MatMul) and len(value.args) == 2 and id(value.args[0]) in ids \
            and isinstance(value.args[1], ir.Transpose) and w.shape[1] != 1:
        return "BP4"
    count, rules = note
    return "chain rule: " + "; ".join(_rule_names(rules)) if _rule_names(rules) else "chain rule"


def _rule_names(rules: tuple) -> list[str]:
    """The rules as a student reads them: each rule's statement up to its first ``;`` (``∂(A B)/∂A: dY = dA B``,
    as the lecture's trace names them), never the engine's ids (``matmul-left``)."""
    from matcalc.engine.rules import RULES

    out = [(RULES[r].note or RULES[r].statement).split(";")[0].strip() for r in rules if r in RULES]
    return list(dict.fromkeys(x for x in out if x))


# ───────────────────────────── the local claims ─────────────────────────────


def _local_claims(program: Program, consumers: dict, ph_defs: dict, placeholder: dict, named: set,
                  delta_name: dict, rank: dict) -> list[LocalClaim]:
    """For each named adjoint and gradient: ``grad(Φ, v) = definition`` with the later named adjoints and the
    forward names as placeholder variables, Φ the forward steps from v to the named adjoints (module docstring)."""
    dvar = {c: Var(delta_name[c], placeholder[c].shape) for c in named}
    ph_of_named = {**{delta_name[c]: dvar[c] for c in named}, **placeholder}
    phi_memo: dict[tuple, Expr] = {}

    def psi(c) -> Expr:
        """The scalar whose derivative by c's inputs gives c's contributions."""
        if c is None:
            return ph_defs[None]
        if c in named:
            return ir.Sum(ir.Hadamard(dvar[c], ph_defs[c]))
        inner = phi((c, placeholder[c].dims))
        return _substitute(inner, {}, {(c, placeholder[c].dims): ph_defs[c]})

    def phi(key) -> Expr:
        if key not in phi_memo:
            terms = [psi(c) for c, _g, _r in consumers.get(key, [])]
            phi_memo[key] = terms[0] if len(terms) == 1 else ir.Add(tuple(terms))
        return phi_memo[key]

    def inlined(key) -> list[str]:
        """The names whose adjoint is written inline on the way from ``key`` to the named ones (Φ has their
        definitions put in, so the definition checked against it must have them too), and the named consumers at the
        end of the way (whose names a VJP may use for their definitions)."""
        out: list[str] = []
        for c, _g, _r in consumers.get(key, []):
            if c is not None and c not in named:
                out += [c, *inlined((c, placeholder[c].dims))]
            elif c is not None:  # a named consumer's own name may stand in its VJP (s for softmax(z_s))
                out.append(c)
        return out

    def claim(what: str, key, by: Var, value: Expr) -> LocalClaim:
        rhs = _substitute(value, ph_of_named, {})
        for c in sorted(set(inlined(key)), key=lambda c: -rank[c]):  # the latest first
            rhs = _substitute(rhs, {}, {(c, placeholder[c].dims): ph_defs[c]})
        return LocalClaim(what, ir.Derivative(phi(key), by, "grad"), rhs)

    out = []
    for line in program.backward:
        c = line.of
        out.append(claim(line.name, (c, placeholder[c].dims), placeholder[c], line.value))
    for g in program.gradients:
        key = (g.wrt.name, g.wrt.dims)
        if key in consumers:
            out.append(claim(f"∂/∂{g.wrt.name}", key, g.wrt, g.result))
    return out

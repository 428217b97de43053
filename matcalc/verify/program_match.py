"""The symbolic method for a backpropagation program: the document's δ's matched to the engine's, one line at a time.

Contract: :func:`match_program` takes a scalar function ``E`` (IR whose ``Named`` nodes are the document's forward
``let`` names) and claims ``∂E/∂X_i = R_i`` whose right sides are written with further ``let`` names (the δ's of
backpropagation, defined in terms of each other); it returns for each claim ``True`` when the claim's right side has
the same normal form as the rule engine's gradient (:func:`matcalc.engine.program.backprop`, one reverse sweep),
``None`` when that is not shown (the claim is then judged by :func:`matcalc.verify.symbolic.equivalent` on its own).

How, without ever writing a ``let`` out (linear in the number of lets): the engine's program has the forward names
of ``E`` and its own named adjoints. The document's backward ``let`` s are visited in dependency order (each after
the lets it uses); each is compared with an engine adjoint — the one of the same name, else those that refer to the
same forward names and variables — by normal forms in which the forward names, the variables and the δ's already
matched are opaque atoms (shared names), and an engine adjoint not (yet) matched by a document ``let`` is put in by
its definition (the engine's ``δ_z2 = δ_h2 ⊙ tanh'(z2)``, written inline in the document's ``δ1 = δ2 + W2ᵀ (δ2 ⊙
tanh'(z2))``), as is a document ``let`` that matches none. Equal normal forms of a δ's definition, given equal
atoms, make the δ's equal; by induction over the visiting order every matched pair is equal as functions, and so is a
claim whose right side has the normal form of the engine's gradient in those atoms. This is the rule engine checking
itself (SPEC section 5: never enough to verify alone); comparisons equal up to renaming (the layers of a network) are
decided once.
"""

from __future__ import annotations

from fractions import Fraction

from matcalc import ir
from matcalc.clock import now
from matcalc.errors import MatcalcError
from matcalc.verify.guard import HardTimeout, hard_deadline

#: An expression larger than this written out (unmatched names put in) is not compared (``None``).
MAX_NODES = 4000
#: Seconds one comparison of normal forms may take.
COMPARE_S = 2.0


def _names_from(*roots: ir.Expr) -> dict[str, ir.Named]:
    """Every ``let`` name reachable from ``roots`` (entering definitions), one node each; one walk over the nodes
    of all of them (a network's gradients share every δ: a walk per claim would be quadratic in the depth)."""
    out: dict[str, ir.Named] = {}
    seen: set[int] = set()
    stack = list(reversed(roots))
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, ir.Named):
            out.setdefault(x.name, x)
        stack.extend(ir.children(x))
    return out


def _refs(value: ir.Expr) -> list[ir.Named]:
    """The Named nodes ``value`` uses directly (not inside another Named): the program's own walk."""
    from matcalc.engine.program import direct_uses

    return [x for x in direct_uses(value) if isinstance(x, ir.Named)]


class _Atoms:
    """One side's expressions over the shared atoms: forward names, variables, matched δ's (module docstring)."""

    def __init__(self, forward: set[str], tag: str) -> None:
        self.forward = forward
        self.tag = tag
        self.matched: dict[str, str] = {}  # this side's δ name -> the shared atom name
        self.memo: dict[int, tuple[ir.Expr, ir.Expr]] = {}

    def atom(self, n: ir.Named, name: str) -> ir.Var:
        return ir.Var(name, n.shape)

    def __call__(self, e: ir.Expr) -> ir.Expr:
        """``e`` with each name replaced by its atom, or by its definition where it has none (iterative, memoised
        by node; the memo is cleared when a match changes what a name stands for)."""
        memo = self.memo

        def atomic(x: ir.Expr) -> bool:  # a name with an atom: its definition is not entered
            return isinstance(x, ir.Named) and (x.name in self.forward or x.name in self.matched)

        for x, kids in ir.post_order(e, memo, leaf=atomic):
            if isinstance(x, ir.Named):
                if x.name in self.forward:
                    memo[id(x)] = (x, self.atom(x, f"⟪{x.name}⟫"))
                elif x.name in self.matched:
                    memo[id(x)] = (x, self.atom(x, f"⟪δ:{self.matched[x.name]}⟫"))
                else:
                    memo[id(x)] = (x, memo[id(x.value)][1])
                continue
            if not kids:
                memo[id(x)] = (x, x)
                continue
            nk = [memo[id(k)][1] for k in kids]
            memo[id(x)] = (x, _prime(x if all(a is b for a, b in zip(nk, kids)) else ir.rebuild(x, nk)))
        return memo[id(e)][1]

    def match(self, name: str, shared: str) -> None:
        self.matched[name] = shared
        self.memo.clear()


def _prime(x: ir.Expr) -> ir.Expr:
    """``tanh'(u)`` as ``1 - tanh(u).^2`` and ``σ'(u)`` as ``σ(u) ⊙ (1 - σ(u))`` (the built-in functions' derivatives,
    identities at every point), so that either spelling has one normal form."""
    if not isinstance(x, ir.Apply) or x.declared or x.order != 1 or x.fn not in ("tanh", "sigma"):
        return x
    f = ir.Apply(x.fn, x.arg, 0)
    if x.fn == "tanh":
        return ir.Add((ir.Ones(x.shape), ir.Neg(ir.EPower(f, Fraction(2)))))
    return ir.Hadamard(f, ir.Add((ir.Ones(x.shape), ir.Neg(f))))


def _tree_size(e: ir.Expr) -> int:
    """The size of ``e`` written out as a tree (what a normal form walks), computed on the DAG and capped."""
    memo: dict[int, int] = {}
    for x, kids in ir.post_order(e, memo):
        memo[id(x)] = min(MAX_NODES + 1, 1 + sum(memo[id(k)] for k in kids))
    return memo[id(e)]


def _canonical(a: ir.Expr, b: ir.Expr) -> tuple:
    """The pair with its variables renamed in order of first appearance, as a table of distinct nodes (each
    node's type, own fields and children's numbers): equal for pairs equal up to renaming (the same layer of a
    network at another depth), and linear in the DAG (a ``repr`` would write shared nodes out)."""

    names: dict[tuple, str] = {}
    table: dict[tuple, int] = {}
    memo: dict[int, int] = {}

    def number(root: ir.Expr) -> int:
        for x, kids in ir.post_order(root, memo, left_first=True):
            if isinstance(x, ir.Var):
                key = (x.name, x.dims)
                if key not in names:
                    names[key] = f"v{len(names)}"
                desc: tuple = ("Var", names[key], x.dims, tuple(sorted(x.props)))
            else:
                child_fields = set(ir._CHILD_FIELDS[type(x)])
                own = tuple((f, repr(getattr(x, f))) for f in type(x)._fields if f not in child_fields)
                desc = (type(x).__name__, own, tuple(memo[id(k)] for k in kids))
            memo[id(x)] = table.setdefault(desc, len(table))
        return memo[id(root)]

    ia, ib = number(a), number(b)
    return ia, ib, tuple(table)


class _Matcher:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.cache: dict[str, bool] = {}

    def same(self, a: ir.Expr, b: ir.Expr) -> bool | None:
        """Equal normal forms (True), not shown (False), or not compared (None: too large, out of time)."""
        from matcalc.verify.symbolic import equivalent

        if now() > self.deadline or a.shape != b.shape:
            return None
        if _tree_size(a) > MAX_NODES or _tree_size(b) > MAX_NODES:
            return None
        key = _canonical(a, b)
        got = self.cache.get(key)
        if got is None:
            try:
                with hard_deadline(max(0.05, min(COMPARE_S, self.deadline - now()))):
                    got = bool(equivalent(a, b))
            except (MatcalcError, RecursionError, ValueError, HardTimeout):
                return None
            self.cache[key] = got
        return got


class _Signatures:
    """The forward names and variables a definition depends on, through every other name it uses (memoised by
    name, iterative): equal definitions have equal signatures, so the candidates for a match are looked up by it."""

    def __init__(self, forward: set[str], defs: dict[str, ir.Named]) -> None:
        self.forward, self.defs = forward, defs
        self.memo: dict[str, frozenset] = {}

    def local(self, value: ir.Expr) -> tuple[set[str], list[str]]:
        names: set[str] = set()
        refs: list[str] = []
        for x in _refs_and_vars(value):
            if isinstance(x, ir.Var) or x.name in self.forward:
                names.add(x.name)
            else:
                refs.append(x.name)
        return names, refs

    def of_value(self, value: ir.Expr) -> frozenset:
        names, refs = self.local(value)
        for r in refs:
            self._fill(r)
            names |= self.memo.get(r, frozenset())
        return frozenset(names)

    def _fill(self, root: str) -> None:
        stack = [(root, False)]
        while stack:
            name, done = stack.pop()
            if name in self.memo or name not in self.defs:
                continue
            names, refs = self.local(self.defs[name].value)
            if not done:
                stack.append((name, True))
                stack.extend((r, False) for r in refs if r not in self.memo)
                continue
            for r in refs:
                names |= self.memo.get(r, frozenset())
            self.memo[name] = frozenset(names)


def _refs_and_vars(value: ir.Expr) -> list[ir.Expr]:
    """The Named nodes and variables ``value`` uses directly (not inside another Named)."""
    from matcalc.engine.program import direct_uses

    return direct_uses(value)


def _doc_order(lets: dict[str, ir.Named]) -> list[str]:
    """The document's backward lets, each after the lets it uses (iterative DFS)."""
    order: list[str] = []
    state: dict[str, int] = {}
    for root in lets:
        stack = [(root, False)]
        while stack:
            name, done = stack.pop()
            if done:
                if state.get(name) != 2:
                    state[name] = 2
                    order.append(name)
                continue
            if state.get(name):
                continue
            state[name] = 1
            stack.append((name, True))
            stack.extend((r.name, False) for r in _refs(lets[name].value) if r.name in lets and not state.get(r.name))
    return order


def match_program(cost: ir.Expr, claims: list[tuple[ir.Var, ir.Expr]], *, layout: str = "mixed",
                  budget_s: float = 30.0) -> list[bool | None]:
    """For each claim ``∂cost/∂X_i = R_i``: True when R_i matches the engine's gradient (module docstring)."""
    from matcalc.engine.program import backprop

    out: list[bool | None] = [None] * len(claims)
    wrts = list({(w.name, w.dims): w for w, _ in claims if isinstance(w, ir.Var)}.values())
    if not wrts or not cost.is_scalar:
        return out
    try:
        program = backprop(cost, wrts, layout=layout)
    except (MatcalcError, ValueError, TypeError, RecursionError):
        return out
    deadline = now() + budget_s
    forward = set(_names_from(cost))
    doc_lets = {name: node for name, node in _names_from(*(r for _w, r in claims)).items() if name not in forward}
    eng = {ln.name: ln.node for ln in program.backward}
    eng_defs = {**eng, **{ln.name: ln.node for ln in program.forward}}
    doc_side, eng_side = _Atoms(forward, "doc"), _Atoms(forward, "engine")
    matcher = _Matcher(deadline)
    eng_sigs = _Signatures(forward, {n: v for n, v in eng_defs.items() if n not in forward})
    doc_sigs = _Signatures(forward, doc_lets)
    by_sig: dict[frozenset, list[str]] = {}
    for name, node in eng.items():
        by_sig.setdefault(eng_sigs.of_value(node.value), []).append(name)
    taken: set[str] = set()
    for name in _doc_order(doc_lets):
        node = doc_lets[name]
        mine = doc_side(node.value)
        cands = [name] if name in eng and name not in taken else []
        cands += [c for c in by_sig.get(doc_sigs.of_value(node.value), []) if c not in cands]
        for c in cands[:4]:
            if c in taken or eng[c].shape != node.shape:
                continue
            if matcher.same(mine, eng_side(eng[c].value)):
                doc_side.match(name, c)
                eng_side.match(c, c)
                taken.add(c)
                break
    grads = {(g.wrt.name, g.wrt.dims): g.result for g in program.gradients}
    for i, (w, r) in enumerate(claims):
        g = grads.get((w.name, w.dims)) if isinstance(w, ir.Var) else None
        if g is None or r.shape != g.shape:
            continue
        if matcher.same(doc_side(r), eng_side(g)):
            out[i] = True
    return out

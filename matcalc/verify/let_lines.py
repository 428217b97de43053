"""Which ``let`` line makes refuted gradient claims wrong: the δ of backpropagation defined wrongly.

Contract: :func:`blame_lets` takes a document's claims ``d/dX C = R`` (a scalar ``C``, ``R`` written with backward
``let`` names such as ``δ2``) with their results, and returns, for each refuted claim it can explain, a diagnosis
naming the ``let`` lines that are not what their names say. A backward ``let`` (a name in ``R`` that ``C`` does not
use) *stands for* a derivative of the cost when its name says so: ``δ2``, ``delta2``, ``δ_z2``, ``dC_dz2``, ``dz2``
stand for ``∂C/∂z2`` (``δ_h2``, ``dh2`` for ``∂C/∂h2``; Nielsen's δ is the error of z) when ``z2`` is a ``let``
name of ``C`` of the δ's shape. Its intended value is ``grad(C, z2)``, the derivative through ``z2`` alone (SPEC
section 3).

Every finding is a verdict of :func:`matcalc.verify.judge.judge` (refuted or verified means shown by the exact or
the numeric method, which share no code with the rule engine). A refuted claim names let lines only when:

1. the claim, with every δ it uses standing for what its name says, is *verified* (correcting the lines corrects
   the claim; otherwise its mistake is, at least also, elsewhere, and it keeps its own diagnosis);
2. each δ it uses is decided: its definition, with the other δ's standing for what their names say, is verified
   (right: never named) or refuted (named; so ``δ1 = (W2ᵀ δ2) ⊙ σ'(z1)`` is never named for a wrong ``δ2``);
3. a refuted line is called *the mistake* only when no other reading of its name makes it right: ``δ1 = W2ᵀ δ2``
   is ``∂C/∂a1``, and is named for what it is (``makes δ1 ∂C/∂a1, not ∂C/∂z1``), not called wrong;
4. no claim verified as written would be refuted with the line corrected (then the document's own claims read
   the δ another way, and the line is not named).

The work is bounded (:data:`MAX_LETS` δ's per cost, :data:`MAX_CLAIMS` claims, the document's time budget).
"""

from __future__ import annotations


from matcalc import ir
from matcalc.clock import now
from matcalc.document import Claim, Let
from matcalc.errors import MatcalcError
from matcalc.results import MethodResult

#: The findings on let lines are the normal form's and the numeric method's (verified: both equal; refuted: a
#: difference the numeric method confirmed); the exact method is not run for them (at depth it is the slow one).
_NO_EXACT = {"exact": MethodResult("unknown", "not run: a let line is located by the normal form and the numeric "
                                             "method")}

#: At most this many backward lets are examined per cost, and this many refuted claims.
MAX_LETS = 8
MAX_CLAIMS = 24

#: How a name says it is the cost's derivative by a forward name z2: δ2, delta2, δ_z2, delta_h2 (also by z2
#: itself), dC_dz2; and dz2, d_z2 (only by the forward name written out: d2 says nothing).
_PREFIXES = ("dC_d", "dE_d", "dL_d", "delta_", "Delta_", "δ_", "delta", "Delta", "δ", "d_", "d")


def _target(name: str, forward: dict[str, ir.Named], shape: tuple) -> tuple[ir.Named, str] | None:
    """The forward name the backward let ``name`` stands for the cost's derivative by (``δ2`` → ``z2``, ``δ_h2`` →
    ``h2``, ``dz2`` → ``z2``) and the suffix that names the layer (``2``, ``h2``, ``z2``), or None."""
    for prefix in _PREFIXES:
        rest = name[len(prefix):]
        if not name.startswith(prefix) or not rest:
            continue
        for cand in (rest,) if prefix.startswith("d") and prefix[1:2] in ("", "_") else (rest, "z" + rest, "z_" + rest):
            z = forward.get(cand)
            if z is not None and z.shape == shape:
                return z, rest
    return None


def _families(rest: str, z: ir.Named, forward: dict[str, ir.Named]) -> list[str]:
    """The other readings of a δ's name: ``a`` for ``δ1`` when ``a1`` is a forward name of its shape (``δ1`` could be
    ``∂C/∂a1``), as the prefixes of those names."""
    out = []
    for w, node in forward.items():
        fam = w[:-len(rest)]
        if w != z.name and w.endswith(rest) and fam and fam.rstrip("_").isalpha() and node.shape == z.shape:
            out.append(fam)
    return out


def _names(e: ir.Expr) -> dict[str, ir.Named]:
    return {x.name: x for x in ir.walk(e) if isinstance(x, ir.Named)}


def _substitute(e: ir.Expr, meant: dict[str, ir.Expr], keep: set[str]) -> ir.Expr:
    """``e`` with each ``let`` name in ``meant`` replaced by its intended value, names in ``keep`` (the cost's)
    kept, and any other ``let`` name written out (so a let inside it is replaced too)."""
    memo: dict[int, tuple[ir.Expr, ir.Expr]] = {}

    def stop(x: ir.Expr) -> bool:
        return isinstance(x, ir.Named) and (x.name in meant or x.name in keep)

    for x, kids in ir.post_order(e, memo, leaf=stop):
        if isinstance(x, ir.Named) and x.name in meant:
            out = meant[x.name]
        elif isinstance(x, ir.Named) and x.name in keep or not kids:
            out = x
        elif isinstance(x, ir.Named):
            out = memo[id(x.value)][1]
        else:
            nk = [memo[id(k)][1] for k in kids]
            out = x if all(a is b for a, b in zip(nk, kids)) else ir.rebuild(x, nk)
        memo[id(x)] = (x, out)
    return memo[id(e)][1]


def _deps(value: ir.Expr, targeted: dict) -> set[str]:
    """The δ lets a definition uses, through any other lets."""
    return {x.name for x in ir.distinct(value) if isinstance(x, ir.Named) and x.name in targeted}


class _Cost:
    """The backward lets of one cost, what they stand for, and the findings on their lines (memoised).

    ``finding[name]``: ``"wrong"`` (refuted as what its name says, and under every other reading of its name),
    ``"right"`` (verified as what its name says), ``"reads"`` (refuted as ``∂C/∂z`` but right as the derivative
    by another forward name its name could mean, kept in ``other``), ``"kept"`` (correcting it would break a verified
    claim), or another verdict (undecided)."""

    def __init__(self, cost: ir.Expr, judge, seed: int, budget_s: float) -> None:
        self.cost = cost
        self.forward = _names(cost)
        self.name = cost.name if isinstance(cost, ir.Named) else "C"  # what the messages call the cost
        self.meant: dict[str, ir.Expr] = {}  # backward let name -> grad(C, z)
        self.of: dict[str, ir.Named] = {}  # backward let name -> z
        self.rest: dict[str, str] = {}  # backward let name -> the suffix naming its layer
        self.finding: dict[str, str] = {}
        self.other: dict[str, ir.Named] = {}  # a let right under another reading -> that forward name
        self.right: dict[str, str] = {}  # let name -> what it stands for, as printed
        self.fixed: dict[int, bool] = {}  # claim line -> verified with every δ standing for what its name says
        self.judge, self.seed, self.budget_s = judge, seed, budget_s

    def holds(self, a: ir.Expr, b: ir.Expr, line: int, free: tuple = ()) -> str:
        """The verdict on ``a = b`` by the normal form and the numeric method (:data:`_NO_EXACT`)."""
        return self.judge(a, b, line=line, free=free, seed=self.seed, budget_s=self.budget_s, diagnose=False,
                          known=_NO_EXACT).verdict

    def backward(self, rhs: ir.Expr) -> dict[str, ir.Named]:
        """The δ lets ``rhs`` uses (through other lets too), registered with what they stand for."""
        out = {}
        for name, node in _names(rhs).items():
            if name in self.forward:
                continue
            if name not in self.of:
                got = _target(name, self.forward, node.shape)
                if got is None:
                    continue
                try:
                    meant = ir.Derivative(self.cost, got[0], "grad")
                except (MatcalcError, ValueError):
                    continue
                z, self.rest[name] = got
                self.of[name] = z
                self.meant[name] = meant
            out[name] = node
        return out

    def fixes(self, s: Claim) -> bool:
        """Whether the claim holds with every δ it uses standing for what its name says."""
        if s.line not in self.fixed:
            self.backward(s.rhs)
            fixed = _substitute(s.rhs, self.meant, set(self.forward))
            self.fixed[s.line] = self.holds(s.lhs, fixed, s.line, s.free) == "verified"
        return self.fixed[s.line]

    def find(self, name: str, node: ir.Named, line: int, verified: list) -> None:
        """The finding on the let's line (class docstring)."""
        value = _substitute(node.value, {k: v for k, v in self.meant.items() if k != name}, set(self.forward))
        verdict = self.holds(self.meant[name], value, line)
        if verdict == "refuted":
            w = self._reading(name, node, line)
            verdict = "wrong" if w is None else "reads"
            if w is not None:
                self.other[name] = w
        elif verdict == "verified":
            verdict = "right"
        if verdict in ("wrong", "reads") and not all(self.fixes(v) for v in verified if name in _names(v.rhs)):
            verdict = "kept"  # a claim verified as written would be refuted with the line corrected
        self.finding[name] = verdict

    def _reading(self, name: str, node: ir.Named, line: int) -> ir.Named | None:
        """A forward name of the let's shape its name could also mean (``δ1`` as ``∂C/∂a1``) by which it is the
        cost's derivative, the δ's it uses read the same way where they can be (``δ2`` as ``∂C/∂a2``) and as
        their names say otherwise; None when there is none."""
        deps = _deps(node.value, self.of) - {name}
        for fam in _families(self.rest[name], self.of[name], self.forward):
            other = dict(self.meant)
            for m in deps:
                w = self.forward.get(fam + self.rest[m])
                if w is not None and w.shape == self.of[m].shape:
                    other[m] = ir.Derivative(self.cost, w, "grad")
            other.pop(name, None)
            value = _substitute(node.value, other, set(self.forward))
            w = self.forward[fam + self.rest[name]]
            if self.holds(ir.Derivative(self.cost, w, "grad"), value, line) != "refuted":
                return w  # right (or not shown wrong) under that reading
        return None


def blame_lets(doc, judged: list[tuple[Claim, object]], *, seed: int, budget_s: float,
               deadline: float) -> dict[int, tuple[str, str]]:
    """For a document's claims (statement, result): ``{claim line: (diagnosis, the let lines named)}`` for each
    refuted claim that holds with the δ's it uses standing for what their names say, where some of their lines are
    not (module docstring); other claims are left out."""
    from matcalc.verify.judge import judge

    lines = {s.name: s.line for s in doc.statements if isinstance(s, Let)}
    costs: dict[ir.Expr, _Cost] = {}
    verified: dict[ir.Expr, list[Claim]] = {}
    refuted = []
    for s, res in judged:
        lhs = s.lhs
        if not (isinstance(lhs, ir.Derivative) and lhs.kind in ("d", "grad") and lhs.expr.is_scalar):
            continue
        if res.verdict == "refuted" and isinstance(lhs.wrt, ir.Var) and not s.free:
            refuted.append(s)  # a gradient by a variable (not by one entry, not with free indices)
        elif res.verdict == "verified":
            verified.setdefault(lhs.expr, []).append(s)
    out: dict[int, tuple[str, str]] = {}
    for s in refuted[:MAX_CLAIMS]:
        if now() > deadline:
            break
        c = costs.setdefault(s.lhs.expr, _Cost(s.lhs.expr, judge, seed, budget_s))
        used = {n: node for n, node in c.backward(s.rhs).items() if n in lines}
        if not used or len(c.meant) > MAX_LETS:
            continue
        # first the claim with every δ it uses standing for what its name says: if it does not hold then, its
        # mistake is (also) elsewhere, and no let line is looked at for it
        if not c.fixes(s):
            continue
        for name, node in used.items():
            if name not in c.finding and now() < deadline:
                c.find(name, node, s.line, verified.get(s.lhs.expr, []))
        # every let the claim uses is decided, and some is not what its name says
        if any(c.finding.get(n) not in ("wrong", "reads", "right") for n in used):
            continue
        named = [n for n in used if c.finding[n] in ("wrong", "reads")]
        if named and now() < deadline:
            out[s.line] = _message(c, named, used, lines, s.lhs.wrt, s.line)
    return out


def _helpers(value: ir.Expr, c: _Cost, lines: dict[str, int]) -> list[str]:
    """The other ``let`` lines a definition builds on (not forward names, not δ's): the mistake may be in them."""
    found: dict[str, None] = {}
    stack, seen = [value], set()
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, ir.Named):
            if x.name in c.forward or x.name in c.of:
                continue
            if x.name in lines:
                found[x.name] = None
        stack.extend(ir.children(x))
    return sorted(found, key=lambda n: lines[n])


def _book_value(c: _Cost, name: str, wrt: ir.Expr, used: dict[str, ir.Named]) -> ir.Expr | None:
    """What the let ``name`` should be, as backpropagation writes it: the rule engine's adjoint of its forward name,
    with the engine's other adjoints written as the document's lets for them (``δ1 = (W2ᵀ δ2) ⊙ σ'(z1)``, true
    with each let standing for what its name says); None when the engine's program does not have it in the
    document's names."""
    from matcalc.engine.program import backprop

    if not isinstance(wrt, ir.Var):
        return None
    try:
        program = backprop(c.cost, [wrt])
    except (MatcalcError, ValueError, TypeError, RecursionError):
        return None
    by_z = {ln.of: ln for ln in program.backward}
    line = by_z.get(c.of[name].name)
    if line is None:
        return None
    doc_of = {c.of[k].name: node for k, node in used.items() if k in c.finding}
    rename = {ln.name: doc_of[ln.of] for ln in program.backward if ln.of in doc_of}
    out = _substitute(line.value, rename, set(c.forward))
    for x in ir.walk(out):
        if isinstance(x, ir.Named) and x.name not in c.forward and x not in rename.values():
            return None  # an adjoint or a new name the document does not have
    return out


def _message(c: _Cost, named: list[str], used: dict[str, ir.Named], lines: dict[str, int], wrt: ir.Expr,
             line: int) -> tuple[str, str]:
    """The diagnosis naming the let lines, each with what its name stands for and that value (the book's, checked,
    else the closed form of the derivative); and the lines named."""
    from matcalc.engine.differentiation import closed_form
    from matcalc.printing import to_text

    named = sorted(named, key=lambda n: lines[n])
    names = tuple(c.forward.values()) + tuple(v for k, v in used.items() if c.finding.get(k) == "right")
    wrong, reads = [], []
    for name in named:
        if name not in c.right:
            book = _book_value(c, name, wrt, used)
            # checked with the lets it uses standing for what their names say (corrected where they are not)
            ok = book is not None and c.holds(c.meant[name], _substitute(book, c.meant, set(c.forward)),
                                              line) == "verified"
            try:
                c.right[name] = " = " + to_text(book if ok else closed_form(c.meant[name], names))
            except (MatcalcError, RecursionError, ValueError):
                c.right[name] = ""  # no closed form to show: the line is named with what it stands for
        z, value = c.of[name].name, to_text(used[name].value)
        if c.finding[name] == "reads":
            reads.append(f"line {lines[name]}, let {name} = {value}, makes {name} ∂{c.name}/∂{c.other[name].name}, "
                         f"not ∂{c.name}/∂{z}{c.right[name]}, which its name stands for")
            continue
        helpers = _helpers(used[name].value, c, lines)
        also = f" (or in the let{'s' if len(helpers) > 1 else ''} it uses: " + ", ".join(
            f"{h} on line {lines[h]}" for h in helpers) + ")" if helpers else ""
        wrong.append((name, f"let {name} = {value}{also}, but {name} stands for ∂{c.name}/∂{z}{c.right[name]}"))
    text = ""
    if wrong:
        at = ", ".join(str(lines[n]) for n, _ in wrong)
        text = (f"the mistake is on line {at}: " if len(wrong) == 1 else f"the mistakes are on lines {at}: ") + \
            "; ".join(p for _, p in wrong)
    if reads:
        text += ("; and " if text else "") + "; ".join(reads)
    cost = "" if isinstance(c.cost, ir.Named) else f" (C = {to_text(c.cost)})"
    with_ = f"that {named[0]}" if len(named) == 1 else "those definitions"
    at = ", ".join(str(lines[n]) for n in named)
    return f"{text}{cost}; with {with_} this claim holds", ("line " if len(named) == 1 else "lines ") + at

"""Unification of dimensions: the union-find the typer's inference pass solves sizes with.

Contract: :class:`Unifier` unifies dimension terms (integers, size names, :class:`DVar` unknowns and products
``("*", a, b)``) with an undo trail, so a statement that fails to type can be rolled back. A *rigid* unknown (a size
of an undeclared name) never unifies with 1. It knows nothing of names, syntax trees or the IR.
"""

from __future__ import annotations

from matcalc.shapes import _factors, dim_mul

__all__ = ["DVar", "Unifier", "concrete"]


class DVar:
    """A dimension not known yet (a size of an undeclared name, of ``I``, …)."""

    __slots__ = ("id", "origin")

    def __init__(self, ident: int, origin: str) -> None:
        self.id = ident
        self.origin = origin

    def __repr__(self) -> str:
        return f"?{self.id}"


def concrete(t: object) -> bool:
    return isinstance(t, (int, str))


class Unifier:
    """Union-find over dimension terms (ints, size names, :class:`DVar`, products ``("*", a, b)``) with an undo
    trail. A *rigid* variable (a size of an undeclared name) never unifies with 1."""

    def __init__(self) -> None:
        self.parent: dict[DVar, object] = {}
        self.rigid: set[DVar] = set()
        self.trail: list[tuple] = []
        self.vars: list[DVar] = []

    def new(self, rigid: bool, origin: str = "") -> DVar:
        v = DVar(len(self.vars), origin)
        self.vars.append(v)
        if rigid:
            self.rigid.add(v)
        return v

    def find(self, t: object) -> object:
        while isinstance(t, DVar) and t in self.parent:
            t = self.parent[t]
        return t

    def resolve(self, t: object) -> object:
        t = self.find(t)
        if isinstance(t, tuple):
            a, b = self.resolve(t[1]), self.resolve(t[2])
            if a == 1:
                return b
            if b == 1:
                return a
            if concrete(a) and concrete(b):
                return dim_mul(a, b)
            return ("*", a, b)
        return t

    def _flatten(self, t: object, known: list, unknown: list) -> None:
        if isinstance(t, tuple):
            self._flatten(t[1], known, unknown)
            self._flatten(t[2], known, unknown)
        elif isinstance(t, DVar):
            unknown.append(t)
        else:
            known.append(t)

    def _solve_product(self, prod: tuple, c: object) -> bool:
        """Unify a product with one open factor with a known size by division (``m·?`` with ``m*n``: ``? = n``)."""
        known: list = []
        unknown: list = []
        self._flatten(prod, known, unknown)
        if len(unknown) != 1:
            return True  # undecidable here; the IR constructors check once sizes are known
        k: object = 1
        for d in known:
            k = dim_mul(k, d)
        kc, kn = _factors(k)
        cc, cn = _factors(c)
        if kc == 0 or cc % kc:
            return False
        rest = list(cn)
        for name in kn:
            if name not in rest:
                return False
            rest.remove(name)
        q: object = cc // kc
        for name in rest:
            q = dim_mul(q, name)
        return self._bind(unknown[0], q)

    def is_one(self, t: object) -> bool:
        return self.resolve(t) == 1

    def unify(self, a: object, b: object) -> bool:
        a, b = self.resolve(a), self.resolve(b)
        if a == b and type(a) is type(b):
            return True
        if isinstance(a, DVar) and isinstance(b, DVar):
            if a.id < b.id:
                a, b = b, a
            return self._bind(a, b)
        if isinstance(a, DVar):
            return self._bind(a, b)
        if isinstance(b, DVar):
            return self._bind(b, a)
        if isinstance(a, tuple) and concrete(b):
            return self._solve_product(a, b)
        if isinstance(b, tuple) and concrete(a):
            return self._solve_product(b, a)
        if isinstance(a, tuple) or isinstance(b, tuple):
            return True  # products with open factors: the IR constructors check them once sizes are known
        return False

    def _occurs(self, v: DVar, t: object) -> bool:
        if isinstance(t, tuple):
            return self._occurs(v, t[1]) or self._occurs(v, t[2])
        return t is v

    def _bind(self, v: DVar, t: object) -> bool:
        if isinstance(t, DVar):
            if v in self.rigid and t not in self.rigid:
                self.rigid.add(t)
                self.trail.append(("rigid", t))
        elif t == 1 and v in self.rigid:
            return False
        elif isinstance(t, tuple) and self._occurs(v, t):
            return True
        self.parent[v] = t
        self.trail.append(("bind", v))
        return True

    def mark(self) -> int:
        return len(self.trail)

    def undo(self, mark: int) -> None:
        while len(self.trail) > mark:
            kind, v = self.trail.pop()
            if kind == "bind":
                del self.parent[v]
            else:
                self.rigid.discard(v)

"""Sizes and random points of the numeric method.

Contract: :class:`Point` (sizes of the dimension symbols, a value per variable, the concrete functions standing
in for declared ones, index values), :func:`draw_sizes` (distinct small sizes) and :func:`make_point`, which
draws the values by the "Points" convention of the package docstring (symmetric, SPD, well conditioned,
positive, nonzero, weight matrices) from the structural facts of :mod:`matcalc.verify.numeric.structure`.
The families :data:`ENTRY_FAMILY` and :data:`VEC_FAMILY` live (and are looked up) here.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcalc import ir
from matcalc.shapes import eval_dim
from matcalc.verify.numeric.base import NumericError
from matcalc.verify.numeric.structure import _analyse, _Info


#: Concrete smooth functions standing in for a declared ``f: R -> R``. The order matters: any three consecutive
#: ones include a function that is neither odd nor zero at 0 (softplus, exp(x/2)), so a claim such as
#: ``f(0) = 0`` or ``f(-x) = -f(x)`` cannot pass on the lucky instantiations alone.
ENTRY_FAMILY = ("tanh", "softplus", "sin", "exp_half", "cubic")
#: Concrete smooth functions standing in for a declared ``C: R^n -> R``.
VEC_FAMILY = ("half_sq", "logcosh", "quartic", "lse")


# ───────────────────────────── points ─────────────────────────────


@dataclass
class Point:
    """A concrete point: sizes of the dimension symbols, a value per variable, declared-function instantiations.

    Attributes:
        sizes: dimension symbol → int.
        values: variable name → 2-D float64 array of the variable's shape at ``sizes``.
        functions: declared function name → a member of :data:`ENTRY_FAMILY` or :data:`VEC_FAMILY`.
        index: index name → 1-based value (free indices).
        seed: seeds the parameters of the vector functions (``t`` in ½‖u − t‖², ``c`` in ¼ Σ u⁴ + cᵀu).
    """

    sizes: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    functions: dict = field(default_factory=dict)
    index: dict = field(default_factory=dict)
    seed: int = 0
    params: dict = field(default_factory=dict)

    def param(self, fn: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        key = (fn, n)
        if key not in self.params:
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, zlib.crc32(fn.encode()), n])
            self.params[key] = (rng.normal(size=(n, 1)), rng.normal(size=(n, 1)))
        return self.params[key]

    def dim(self, d: ir.Dim) -> int:
        try:
            return eval_dim(d, self.sizes)
        except KeyError as exc:
            raise NumericError(f"the point gives no size for the dimension {exc.args[0]!r}") from None

    def describe(self) -> dict:
        """The point as plain data (values rounded to 6 significant digits) for a counterexample."""
        return {
            "sizes": dict(self.sizes),
            "values": {k: _rounded(v) if v.size <= 400 else {"shape": list(v.shape), "first": _rounded(v[:3, :3])}
                       for k, v in sorted(self.values.items())},
            "functions": dict(self.functions),
            "index": dict(self.index),
        }


def _rounded(v: np.ndarray) -> Any:
    a = np.asarray(v, dtype=float)
    r = [[float(f"{x:.6g}") for x in row] for row in a]
    if a.shape == (1, 1):
        return r[0][0]
    if a.shape[1] == 1:
        return [row[0] for row in r]
    return r


#: Extended precision (x86's 64-bit mantissa, eps 1.1e-19) where the platform has one; None where ``longdouble``
#: is float64 itself (then the rounding measurements that use it fall back on Monte Carlo arithmetic alone).
EXTENDED = np.longdouble if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps else None


def extended(point: Point) -> Point | None:
    """The same point with its values held in extended precision (the same numbers: float64 → longdouble is
    exact), so that an evaluation there differs from the float64 one by the float64 rounding alone; None where the
    platform has no extended precision."""
    if EXTENDED is None:
        return None
    vals = {k: np.asarray(v, dtype=EXTENDED) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
            for k, v in point.values.items()}
    return Point(dict(point.sizes), vals, dict(point.functions), dict(point.index), point.seed, point.params)


def draw_sizes(symbols: list[str], rng: np.random.Generator, *, min_size: dict | None = None,
               avoid: list[dict] | None = None) -> dict[str, int]:
    """Distinct small sizes (2..6 where possible) for the dimension symbols, preferring an unseen assignment."""
    min_size = min_size or {}
    best: dict[str, int] = {}
    for _ in range(8):
        used: set[int] = set()
        sizes: dict[str, int] = {}
        hi = max(7, 2 + len(symbols) + 1)
        for s in symbols:
            lo = max(2, min_size.get(s, 2))
            cand = [v for v in range(lo, max(hi, lo + len(symbols) + 1)) if v not in used]
            v = int(rng.choice(cand))
            used.add(v)
            sizes[s] = v
        best = sizes
        if not avoid or sizes not in avoid:
            break
    return best


def _flip_det(a: np.ndarray, symmetric: bool) -> np.ndarray:
    """The same well-conditioned matrix with the sign of its determinant reversed (symmetry kept): a draw near
    the identity or positive definite always has det > 0, and a claim true only for det > 0 would pass."""
    if symmetric:
        lam, q = np.linalg.eigh(a)
        return a - 2 * lam[0] * np.outer(q[:, 0], q[:, 0])
    a = a.copy()
    a[0, :] = -a[0, :]
    return a


def _draw_var(v: ir.Var, point: Point, rng: np.random.Generator, info: _Info | None,
              flip_det: bool = False) -> np.ndarray:
    a = _draw_plain(v, point, rng, info)
    r, c = a.shape
    if (flip_det and r == c and r > 1 and info is not None and v.name in info.wellcond
            and v.name not in info.detpos and not {"spd", "positive", "probability"} & set(v.props)
            and v.name not in info.positive):
        return _flip_det(a, "symmetric" in v.props)
    return a


def _draw_plain(v: ir.Var, point: Point, rng: np.random.Generator, info: _Info | None) -> np.ndarray:
    r, c = point.dim(v.dims[0]), point.dim(v.dims[1])
    props = set(v.props)
    positive = "positive" in props or (info is not None and v.name in info.positive)
    wc = info is not None and v.name in info.wellcond and r == c
    if "probability" in props:
        a = rng.dirichlet(np.ones(r * c)).reshape((r, c), order="F")
        return a
    if "spd" in props or (r == c and r > 1 and wc and "symmetric" in props):
        m = rng.normal(size=(r, r)) / math.sqrt(r)
        return m @ m.T + 0.5 * np.eye(r)
    if "diagonal" in props and r == c:
        d = rng.uniform(0.5, 1.5, size=r) * rng.choice([-1.0, 1.0], size=r)
        if positive or wc:
            d = np.abs(d)
        return np.diag(d)
    if positive:
        a = rng.uniform(0.5, 2.0, size=(r, c))
        if "symmetric" in props and r == c:
            a = (a + a.T) / 2
        if wc and r == c:
            a = a / r + np.eye(r)
        return a
    if wc and r == c:
        return np.eye(r) + 0.4 * rng.normal(size=(r, r)) / math.sqrt(r)
    if info is not None and v.name in info.nonzero:
        a = rng.uniform(0.5, 2.0, size=(r, c)) * rng.choice([-1.0, 1.0], size=(r, c))
        if "symmetric" in props and r == c:
            a = np.triu(a) + np.triu(a, 1).T
        return a
    a = rng.normal(size=(r, c))
    if "symmetric" in props and r == c:
        a = (a + a.T) / 2
    axes = info.fanin.get(v.name, set()) if info is not None else set()
    if axes and r > 1 and c > 1:  # a weight matrix: entries N(0, 1/fan-in), activations stay of order 1
        a = a / math.sqrt(max((r, c)[ax] for ax in axes))
    return a


def make_point(exprs: list[ir.Expr] | ir.Expr, *, seed: int = 0, sizes: dict | None = None,
               instantiation: int = 0, index: dict | None = None, _info: _Info | None = None,
               flip_det: bool = False) -> Point:
    """A random point for the variables of ``exprs``.

    Args:
        exprs: the expressions (or one expression) whose variables, sizes and declared functions need values.
        seed: the random seed.
        sizes: fixed sizes for (some) dimension symbols; the others are drawn distinct in 2..6.
        instantiation: which concrete functions stand in for the declared ones (rotates through the families).
        index: values of free indices (1-based); unspecified ones get 1.
        flip_det: well-conditioned square variables (drawn near the identity, or positive definite when symmetric)
            get a negative determinant, unless the claim takes a log or root of their determinant.
    """
    if isinstance(exprs, ir.Expr):
        exprs = [exprs]
    info = _info or _analyse(list(exprs))
    rng = np.random.default_rng(seed)
    sz = dict(sizes or {})
    missing = [s for s in info.dims if s not in sz]
    if missing:
        sz.update(draw_sizes(missing, rng, min_size=info.min_size))
    point = Point(sizes=sz, seed=seed)
    for name in sorted(info.vars):
        point.values[name] = _draw_var(info.vars[name], point, rng, info, flip_det)
    for j, f in enumerate(info.entry_fns):
        point.functions[f] = ENTRY_FAMILY[(instantiation + j) % len(ENTRY_FAMILY)]
    for j, f in enumerate(info.vec_fns):
        point.functions[f] = VEC_FAMILY[(instantiation + j) % len(VEC_FAMILY)]
    for name in info.free:
        point.index[name] = 1
    point.index.update(index or {})
    return point

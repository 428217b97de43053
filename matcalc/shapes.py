"""Dimensions and shapes, and the error raised on a shape conflict.

Contract: a dimension is an ``int`` (a fixed size) or a ``str``: a size symbol (``"n"``, ``"n_l"``) or a canonical
product of symbols and an integer factor (``"m*n"``, ``"2*n"``) that :func:`dim_mul` builds. A shape is the pair
``(rows, cols)``. :class:`ShapeError` (defined in :mod:`matcalc.errors`) names both operands and their shapes; the typer
adds the position.
"""

from __future__ import annotations

from typing import Union

from matcalc.errors import ShapeError  # noqa: F401 - defined with the other errors, raised and imported from here

Dim = Union[int, str]
Shape = tuple


def _factors(d: Dim) -> tuple[int, list[str]]:
    if isinstance(d, int):
        return d, []
    coef, names = 1, []
    for part in d.split("*"):
        if part.isdigit():
            coef *= int(part)
        else:
            names.append(part)
    return coef, names


def dim_mul(a: Dim, b: Dim) -> Dim:
    """The product of two dimensions, in canonical form (``dim_mul("n", "m") == "m*n"``, ``dim_mul(1, d) == d``)."""
    ca, na = _factors(a)
    cb, nb = _factors(b)
    coef, names = ca * cb, sorted(na + nb)
    if not names:
        return coef
    if coef == 1:
        return "*".join(names)
    return "*".join([str(coef), *names])


def same_dim(a: Dim, b: Dim) -> bool:
    """Whether two dimensions are the same size for every value of the symbols."""
    return a == b


def is_scalar(s: Shape) -> bool:
    return s[0] == 1 and s[1] == 1


def is_square(s: Shape) -> bool:
    return s[0] == s[1]


def is_column(s: Shape) -> bool:
    return s[1] == 1


def fmt_dim(d: Dim) -> str:
    return str(d).replace("*", "·")


def fmt_shape(s: Shape) -> str:
    """``"n×m"``; a scalar prints as ``"scalar"``."""
    if is_scalar(s):
        return "scalar"
    return f"{fmt_dim(s[0])}×{fmt_dim(s[1])}"


def dim_symbols(d: Dim) -> list[str]:
    """The size symbols a dimension depends on."""
    return _factors(d)[1]


def eval_dim(d: Dim, sizes: dict[str, int]) -> int:
    """The integer value of a dimension given values for its symbols."""
    coef, names = _factors(d)
    for n in names:
        coef *= sizes[n]
    return coef

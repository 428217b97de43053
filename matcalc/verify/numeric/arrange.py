"""The arrangement of Jacobians (SPEC section 4) for the numeric method.

Contract: a derivative is computed as the numerator ``vec`` Jacobian (columns stacked, Fortran order);
:func:`_arrange` lays it out as :func:`matcalc.ir.derivative_shape` says, :func:`_unarrange` inverts that,
:func:`_vec` stacks columns and :func:`_sym_perm` pairs the entries (i, j) and (j, i) of a square argument.
"""

from __future__ import annotations

import numpy as np


# ───────────────────────────── arrangement of Jacobians (SPEC section 4) ─────────────────────────────


def _vec(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, 1, order="F")


def _arrange(J: np.ndarray, es: tuple, ws: tuple, kind: str, layout: str) -> np.ndarray:
    """The numerator vec Jacobian ``J`` (k·l × p·q) arranged per ``ir.derivative_shape``."""
    (k, l), (p, q) = es, ws
    if kind == "grad":
        return J.reshape((p, q), order="F")
    if kind == "jacobian":
        return J
    if k == 1 and l == 1:
        G = J.reshape((p, q), order="F")
        return G.T if layout == "numerator" else G
    if p == 1 and q == 1:
        D = J.reshape((k, l), order="F")
        return D.T if layout == "denominator" else D
    return J.T if layout == "denominator" else J


def _unarrange(M: np.ndarray, es: tuple, ws: tuple, kind: str, layout: str) -> np.ndarray:
    """The inverse of :func:`_arrange`: the numerator vec Jacobian from an arranged derivative."""
    (k, l), (p, q) = es, ws
    if kind == "grad":
        return M.reshape((1, p * q), order="F")
    if kind == "jacobian":
        return M
    if k == 1 and l == 1:
        G = M.T if layout == "numerator" else M
        return G.reshape((1, p * q), order="F")
    if p == 1 and q == 1:
        D = M.T if layout == "denominator" else M
        return D.reshape((k * l, 1), order="F")
    return M.T if layout == "denominator" else M


def _sym_perm(p: int, q: int) -> np.ndarray:
    """perm[vec index of (i, j)] = vec index of (j, i) for a square p×p argument."""
    idx = np.arange(p * q).reshape((p, q), order="F")
    return idx.T.reshape(-1, order="F")

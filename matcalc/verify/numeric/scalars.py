"""The concrete scalar and vector functions of the numeric method, evaluated with numpy.

Contract: :func:`_scalar_fn` gives any derivative order of the built-in entrywise functions and of the
members of the entry family (tanh, softplus, sin, exp(x/2), x³/6 + x), :func:`_vec_fn` the value and gradient
of the vector family (½‖u − t‖², Σ log cosh u, ¼ Σ u⁴ + cᵀu, logsumexp u), each for one 2-D value or a stack
of values (batch, r, c), real or complex (the complex step), written to stay finite at large arguments.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.polynomial import polynomial as _P

from matcalc.verify.numeric.base import NumericError
from matcalc.verify.numeric.points import Point


# ───────────────────────────── scalar functions ─────────────────────────────


def _re(x: np.ndarray) -> np.ndarray:
    return x.real if np.iscomplexobj(x) else x


@lru_cache(maxsize=None)
def _poly(kind: str, order: int) -> np.ndarray:
    """Coefficients of the order-th derivative of tanh (in t = tanh x) or σ (in s = σ(x)) as a polynomial."""
    p = np.array([0.0, 1.0])
    factor = np.array([1.0, 0.0, -1.0]) if kind == "tanh" else np.array([0.0, 1.0, -1.0])
    for _ in range(order):
        p = _P.polymul(_P.polyder(p), factor)
    return p


@lru_cache(maxsize=None)
def _poly_rest(kind: str, order: int) -> np.ndarray:
    """The order-th derivative's polynomial (order ≥ 1) divided by the first derivative's, ``1 − t²`` (tanh) or
    ``s − s²`` (σ): every derivative has that factor, and it is computed apart (:func:`_tanh_d1`, :func:`_sigma_d1`)
    because ``1 − tanh(x)²`` loses every digit where tanh saturates (at x = 15 it is off by 2e-4 relatively, at
    x = 20 it is 0 instead of 1.7e-17) while the complex step through tanh keeps them all."""
    q, rem = _P.polydiv(_poly(kind, order), _poly(kind, 1))
    assert not np.any(np.abs(rem) > 1e-9 * np.max(np.abs(q))), (kind, order)
    return q


def _even_arg(x: np.ndarray) -> np.ndarray:
    """``x`` with the sign that makes its real part non-negative (for even functions of ``x``)."""
    return np.where(_re(x) >= 0, x, -x)


def _tanh_d1(x: np.ndarray) -> np.ndarray:
    """tanh'(x) = sech²(x) = 4 e^(−2|x|) / (1 + e^(−2|x|))², accurate to a few ulps at any argument (no
    cancellation; it underflows to 0 only where the true value does)."""
    e = np.exp(-2.0 * _even_arg(x))
    return 4.0 * e / (1.0 + e) ** 2


def _sigma_d1(x: np.ndarray) -> np.ndarray:
    """σ'(x) = σ(x) σ(−x) = e^(−|x|) / (1 + e^(−|x|))², accurate at any argument (``σ (1 − σ)`` is not)."""
    e = np.exp(-_even_arg(x))
    return e / (1.0 + e) ** 2


def _sigma(x: np.ndarray) -> np.ndarray:
    pos = _re(x) >= 0
    ex = np.exp(np.where(pos, -x, x))
    return np.where(pos, 1.0 / (1.0 + ex), ex / (1.0 + ex))


def _softplus(x: np.ndarray) -> np.ndarray:
    pos = _re(x) > 0
    return np.where(pos, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))


def _logcosh(x: np.ndarray) -> np.ndarray:
    pos = _re(x) > 0
    return np.where(pos, x + np.log1p(np.exp(-2 * x)), -x + np.log1p(np.exp(2 * x))) - math.log(2.0)


def _softmax(u: np.ndarray) -> np.ndarray:
    e = np.exp(u - np.max(_re(u)))
    return e / np.sum(e)


def _lse(u: np.ndarray) -> Any:
    m = np.max(_re(u))
    return m + np.log(np.sum(np.exp(u - m)))


def _cycle(x: np.ndarray, order: int, start: int) -> np.ndarray:
    k = (order + start) % 4
    return (np.sin(x), np.cos(x), -np.sin(x), -np.cos(x))[k]


def _scalar_fn(name: str, order: int, x: np.ndarray) -> np.ndarray:
    """The ``order``-th derivative of the scalar function ``name`` at every entry of ``x``."""
    if name == "exp":
        return np.exp(x)
    if name == "exp_half":
        return 0.5**order * np.exp(x / 2)
    if name == "log":
        if order == 0:
            return np.log(x)
        return (-1.0) ** (order - 1) * math.factorial(order - 1) * x ** (-float(order))
    if name == "sqrt":
        c = 1.0
        for j in range(order):
            c *= 0.5 - j
        return c * x ** (0.5 - order) if order else np.sqrt(x)
    if name == "sin":
        return _cycle(x, order, 0)
    if name == "cos":
        return _cycle(x, order, 1)
    if name == "tanh":
        if order == 0:
            return np.tanh(x)
        return _tanh_d1(x) * _P.polyval(np.tanh(x), _poly_rest("tanh", order))
    if name == "sigma" or (name == "softplus" and order > 0):
        k = order - (name == "softplus")
        if k == 0:
            return _sigma(x)
        return _sigma_d1(x) * _P.polyval(_sigma(x), _poly_rest("sigma", k))
    if name == "softplus":
        return _softplus(x)
    if name == "cubic":
        return (x**3 / 6 + x, x**2 / 2 + 1, x, np.ones_like(x))[order] if order < 4 else np.zeros_like(x)
    if name == "relu":
        if order == 0:
            return np.where(_re(x) > 0, x, 0.0)
        return np.where(_re(x) > 0, 1.0, 0.0) if order == 1 else np.zeros_like(x)
    if name == "step":
        return np.where(_re(x) > 0, 1.0, 0.0) if order == 0 else np.zeros_like(x)
    if name == "abs":
        if order == 0:
            return np.where(_re(x) >= 0, x, -x)
        return np.sign(_re(x)) + 0.0 * x if order == 1 else np.zeros_like(x)
    raise NumericError(f"the numeric method has no scalar function {name!r}")


def _sum_b(x: np.ndarray) -> np.ndarray:
    """A stack of values (batch, r, c) summed per member: (batch, 1, 1)."""
    return x.sum(axis=(-2, -1), keepdims=True)


def _softmax_b(u: np.ndarray) -> np.ndarray:
    e = np.exp(u - np.max(_re(u), axis=(-2, -1), keepdims=True))
    return e / _sum_b(e)


def _lse_b(u: np.ndarray) -> np.ndarray:
    m = np.max(_re(u), axis=(-2, -1), keepdims=True)
    return m + np.log(_sum_b(np.exp(u - m)))


def _vec_hessian(name: str, u: np.ndarray, point: Point, fn: str) -> np.ndarray:
    """The Hessian of the concrete function ``name`` at ``u`` (n×1, or a stack (batch, n, 1)): (…, n, n)."""
    n = u.shape[-2]
    v = u[..., 0]
    if name == "half_sq":
        d = np.ones_like(v)
    elif name == "logcosh":
        d = _tanh_d1(v)
    elif name == "quartic":
        d = 3.0 * v**2
    elif name == "lse":
        p = _softmax_b(u) if u.ndim > 2 else _softmax(u)
        return (np.eye(n) * p) - p * np.swapaxes(p, -1, -2)  # diag(p) − p pᵀ
    else:
        raise NumericError(f"no vector function {name!r}")
    return d[..., None] * np.eye(n)


def _vec_fn_b(name: str, order: int, u: np.ndarray, point: Point, fn: str) -> np.ndarray:
    """:func:`_vec_fn` for a stack of arguments (batch, n, 1)."""
    n = u.shape[-2]
    if order == 2:
        return _vec_hessian(name, u, point, fn)
    if name == "half_sq":
        t, _ = point.param(fn, n)
        return 0.5 * _sum_b((u - t) ** 2) if order == 0 else u - t
    if name == "logcosh":
        return _sum_b(_logcosh(u)) if order == 0 else np.tanh(u)
    if name == "quartic":
        _, c = point.param(fn, n)
        return 0.25 * _sum_b(u**4) + _sum_b(c * u) if order == 0 else u**3 + c
    if name == "lse":
        return _lse_b(u) if order == 0 else _softmax_b(u)
    raise NumericError(f"no vector function {name!r}")


def _vec_fn(name: str, order: int, u: np.ndarray, point: Point, fn: str) -> np.ndarray:
    if u.ndim > 2:
        return _vec_fn_b(name, order, u, point, fn)
    if order == 2:
        return _vec_hessian(name, u, point, fn)
    n = u.shape[0]
    if name == "half_sq":
        t, _ = point.param(fn, n)
        return np.array([[0.5 * np.sum((u - t) ** 2)]]) if order == 0 else u - t
    if name == "logcosh":
        return np.array([[np.sum(_logcosh(u))]]) if order == 0 else np.tanh(u)
    if name == "quartic":
        _, c = point.param(fn, n)
        return np.array([[0.25 * np.sum(u**4) + np.sum(c * u)]]) if order == 0 else u**3 + c
    if name == "lse":
        return np.array([[_lse(u)]]) if order == 0 else _softmax(u)
    raise NumericError(f"no vector function {name!r}")

"""The exact method's full zero test (matcalc.verify.exact.zero._symbolic_zero): both directions, written out.

A zero test is sound when it never says 0 for a difference that is not 0; it is useful when it says 0 for the
identities the claims need (``expand``, exponentials as symbols for ``cancel``, ``simplify`` for trigonometry, the
split at the kinks of ``max``, ``min``, ``abs``, ``sign`` and the step function). Each case is also checked at random
rational points with SymPy's own substitution, so a "not zero" case is really not zero.
"""

from __future__ import annotations

import random
import time

import pytest
import sympy

from matcalc.clock import now

from matcalc.verify.exact import ExactEnv
from matcalc.verify.exact.env import OutOfBudget
from matcalc.verify.exact.zero import _MAX_EXPAND_POWER, _cheap_zeros, _symbolic_zero

u, v, w = sympy.symbols("u v w", real=True)
H = sympy.Heaviside

ZERO = [
    ("(u + 1)² − u² − 2u − 1", (u + 1) ** 2 - u ** 2 - 2 * u - 1),
    ("e^u e^v − e^(u+v)", sympy.exp(u) * sympy.exp(v) - sympy.exp(u + v)),
    ("e^(2u) − (e^u)²", sympy.exp(2 * u) - sympy.exp(u) ** 2),
    ("tanh u − (e^2u − 1)/(e^2u + 1)", sympy.tanh(u) - (sympy.exp(2 * u) - 1) / (sympy.exp(2 * u) + 1)),
    ("1/(1 + e^−u) − e^u/(1 + e^u)", 1 / (1 + sympy.exp(-u)) - sympy.exp(u) / (1 + sympy.exp(u))),
    ("sin² u + cos² u − 1", sympy.sin(u) ** 2 + sympy.cos(u) ** 2 - 1),
    ("max(u, v) − (u + v + |u − v|)/2", sympy.Max(u, v) - (u + v + sympy.Abs(u - v)) / 2),
    ("min(u, v) − (u + v − |u − v|)/2", sympy.Min(u, v) - (u + v - sympy.Abs(u - v)) / 2),
    ("max(u, v) + min(u, v) − u − v", sympy.Max(u, v) + sympy.Min(u, v) - u - v),
    ("max(u, 0) − u H(u)", sympy.Max(u, 0) - u * H(u)),
    ("|u| − u sign(u)", sympy.Abs(u) - u * sympy.sign(u)),
    ("H(u) + H(−u) − 1", H(u) + H(-u) - 1),
    ("max(u, v, w) − max(max(u, v), w)", sympy.Max(u, v, w) - sympy.Max(sympy.Max(u, v), w)),
    ("|u − v| − |v − u|", sympy.Abs(u - v) - sympy.Abs(v - u)),
]

NOT_ZERO = [
    ("(u + 1)² − u² − 1", (u + 1) ** 2 - u ** 2 - 1),
    ("e^u e^v − e^(u−v)", sympy.exp(u) * sympy.exp(v) - sympy.exp(u - v)),
    ("sin² u − cos² u", sympy.sin(u) ** 2 - sympy.cos(u) ** 2),
    ("max(u, v) − u", sympy.Max(u, v) - u),
    ("max(u, v) − v", sympy.Max(u, v) - v),
    ("min(u, v) − u", sympy.Min(u, v) - u),
    ("max(u, v) − min(u, v)", sympy.Max(u, v) - sympy.Min(u, v)),
    ("max(u, v) − (u + v − |u − v|)/2", sympy.Max(u, v) - (u + v - sympy.Abs(u - v)) / 2),
    ("min(u, v) − (u + v + |u − v|)/2", sympy.Min(u, v) - (u + v + sympy.Abs(u - v)) / 2),
    ("|u| − u", sympy.Abs(u) - u),
    ("|u| + u", sympy.Abs(u) + u),
    ("H(u) − 1", H(u) - 1),
    ("H(u) − H(−u)", H(u) - H(-u)),
    ("sign(u) − 1", sympy.sign(u) - 1),
    ("max(u, 0) − u H(−u)", sympy.Max(u, 0) - u * H(-u)),
    ("max(u, v, w) − max(u, v)", sympy.Max(u, v, w) - sympy.Max(u, v)),
    ("max(u, v, w) − max(u, w)", sympy.Max(u, v, w) - sympy.Max(u, w)),
]


def _values(d: sympy.Expr, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for _ in range(12):
        pt = {s: sympy.Rational(rng.randint(-9, 9), rng.randint(1, 4)) for s in (u, v, w)}
        out.append(sympy.N(d.subs(pt), 30))
    return out


@pytest.mark.parametrize("name,d", ZERO, ids=[z[0] for z in ZERO])
def test_zero_differences_are_shown_zero(name, d) -> None:
    assert all(abs(x) < 1e-20 for x in _values(d, 0)), "the expectation itself is wrong"
    assert _symbolic_zero(d, ExactEnv()) is True


@pytest.mark.parametrize("name,d", NOT_ZERO, ids=[z[0] for z in NOT_ZERO])
def test_nonzero_differences_are_never_shown_zero(name, d) -> None:
    assert any(abs(x) > 1e-6 for x in _values(d, 1)), "the expectation itself is wrong"
    assert _symbolic_zero(d, ExactEnv()) is False


def test_simplify_is_the_last_resort_and_can_be_turned_off() -> None:
    d = sympy.sin(u) ** 2 + sympy.cos(u) ** 2 - 1  # neither expand nor cancel shows it
    assert _symbolic_zero(d, ExactEnv(), allow_simplify=False) is False
    assert _symbolic_zero(d, ExactEnv(), allow_simplify=True) is True


def test_a_huge_power_of_a_sum_is_not_expanded() -> None:
    k = _MAX_EXPAND_POWER + 1
    d = (u + v) ** k - sympy.expand((u + v) ** k)  # zero, but expanding it is what the limit forbids
    t0 = time.perf_counter()
    assert _symbolic_zero(d, ExactEnv(), allow_simplify=False) is False  # "not shown", never a wrong True
    assert time.perf_counter() - t0 < 5
    assert _symbolic_zero((u + v) ** 3 - sympy.expand((u + v) ** 3), ExactEnv()) is True


@pytest.mark.parametrize("d", [(u + 1) ** 2 - u ** 2 - 2 * u - 1, sympy.sin(u) ** 2 + sympy.cos(u) ** 2 - 1,
                               sympy.Max(u, v) - (u + v + sympy.Abs(u - v)) / 2],
                         ids=["polynomial", "trigonometric", "piecewise"])
def test_the_zero_test_honours_the_deadline(d) -> None:
    env = ExactEnv(deadline=now() - 1)
    with pytest.raises(OutOfBudget):
        _symbolic_zero(d, env)


# ───────────── the cheap test on rational functions (factored denominators, no gcd) ─────────────


def _rational(rng: random.Random, xs: list, depth: int) -> sympy.Expr:
    """A random rational expression in ``xs``: sums, products, integer powers (negative ones too) of small parts."""
    if depth == 0:
        return rng.choice(xs) + rng.randint(-2, 2) if rng.random() < 0.7 else sympy.Integer(rng.randint(1, 3))
    a, b = _rational(rng, xs, depth - 1), _rational(rng, xs, depth - 1)
    pick = rng.randrange(4)
    if pick == 0:
        return a + b
    if pick == 1:
        return a * b
    if pick == 2:
        return a / b if sympy.cancel(b) != 0 else a - b
    return a ** rng.choice((2, -1, -2)) if sympy.cancel(a) != 0 else a * b


def test_cheap_zeros_agree_with_cancel_on_random_rational_functions() -> None:
    # SymPy's cancel of the difference is the reference; the right side is the left one rewritten (together,
    # apart-like regrouping) or the left one plus a small rational function that is usually not 0
    rng = random.Random(11)
    xs = list(sympy.symbols("x0 x1 x2", real=True))
    seen = set()
    for _ in range(60):
        lhs = _rational(rng, xs, 3)
        if rng.random() < 0.5:
            rhs = sympy.together(lhs)
            if rng.random() < 0.5:
                rhs = rhs + _rational(rng, xs, 1) / (xs[0] + 5) - _rational(rng, xs, 1) / (xs[0] + 5)
        else:
            rhs = lhs + _rational(rng, xs, 1) / (_rational(rng, xs, 0) + 7) - rng.randint(0, 1) * xs[1]
        want = sympy.cancel(sympy.together(lhs - rhs)) == 0
        got = _cheap_zeros([(None, lhs, rhs)], ExactEnv())[0]
        assert got == want, (lhs, rhs)
        seen.add(got)
    assert seen == {True, False}


def test_cheap_zeros_on_a_symbolic_inverse() -> None:
    # X X^-1 = I and X^-1 X = I entry by entry at n = 3 (adjugate over determinant, as the exact method builds it);
    # one entry of X changed in the product is not the identity, and the transposed inverse is not the inverse
    X = sympy.Matrix(3, 3, lambda i, j: sympy.Symbol(f"X_{i}{j}", real=True))
    inv = X.adjugate(method="berkowitz") / X.det(method="berkowitz")
    eye = sympy.eye(3)
    items = [(None, a, b) for M in (X * inv, inv * X) for a, b in zip(M, eye)]
    assert _cheap_zeros(items, ExactEnv()) == [True] * 18
    Y = X.copy()
    Y[0, 1] = Y[0, 1] + 1
    got = _cheap_zeros([(None, a, b) for a, b in zip(Y * inv, eye)], ExactEnv())
    assert got == [sympy.cancel(a - b) == 0 for a, b in zip(Y * inv, eye)] and got.count(False) == 3
    assert _cheap_zeros([(None, a, b) for a, b in zip(inv.T, inv)], ExactEnv()) == [
        sympy.cancel(a - b) == 0 for a, b in zip(inv.T, inv)]


def test_cheap_zeros_never_divide_by_zero() -> None:
    u = sympy.Symbol("u", real=True)
    zero = sympy.Add(u, -u, evaluate=False)  # a base that is 0 only after expansion
    assert _cheap_zeros([(None, sympy.Pow(zero, -1, evaluate=False), sympy.Integer(0))], ExactEnv()) == [False]


# ───────────── the counterexample a difference comes with ─────────────


def test_a_counterexample_lists_every_entry_and_counts_them_all() -> None:
    """Every differing entry is in the counterexample (the JSON report holds them all; text cuts them unless --full)."""
    from matcalc.lang import read_document
    from matcalc.verify.exact import check_equal

    (st,) = read_document("A + B = A - B", given="A: n x m, B: n x m").statements
    r = check_equal(st.lhs, st.rhs, sizes=[{"n": 3, "m": 4}])
    assert r.status == "different"
    cex = r.counterexample
    assert cex["sizes"] == {"n": 3, "m": 4}
    assert cex["note"] == "12 entries differ"
    assert [e["entry"] for e in cex["entries"]] == [(i, j) for i in (1, 2, 3) for j in (1, 2, 3, 4)]
    for e in cex["entries"]:  # the values are the sides at the point: (A + B) − (A − B) = 2 B, A + B
        i, j = e["entry"]
        a, b = (sympy.Rational(cex["point"][f"{nm}[{i},{j}]"]) for nm in "AB")
        assert (sympy.Rational(e["lhs"]), sympy.Rational(e["rhs"])) == (a + b, a - b)

    (st,) = read_document("A + B = A + 2 B", given="A: n x m, B: n x m").statements
    one = check_equal(st.lhs, st.rhs, sizes=[{"n": 1, "m": 1}])
    assert one.status == "different" and one.counterexample["note"] == "1 entry differs"
